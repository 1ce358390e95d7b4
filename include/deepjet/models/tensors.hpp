// deepjet/models/tensors.hpp: between xtensor containers and deepjet's batch views.
//
// A batch of one shape S is an xt::xtensor<float, rank + 1> whose first dimension counts samples;
// a batch of several shapes (a multi-input model's inputs, a multi-head model's outputs) is a
// std::tuple of those, one per part, all with the same number of samples. view_of checks the
// shapes at run time (the batch size is only known then) and throws deepjet::Error saying which
// part and which dimension is wrong.
#pragma once

#include "deepjet/core/batch.hpp"
#include "deepjet/core/error.hpp"

#include <xtensor/xtensor.hpp>

#include <array>
#include <string>
#include <tuple>

namespace deepjet {

namespace detail {
template <class S>
struct tensors_of;
template <ShapeType S>
struct tensors_of<S> {
  using type = xt::xtensor<float, S::rank + 1>;
};
template <ShapeType... Parts>
struct tensors_of<Shapes<Parts...>> {
  using type = std::tuple<xt::xtensor<float, Parts::rank + 1>...>;
};
}  // namespace detail

/// The xtensor container(s) holding a batch of S.
template <AnyShape S>
using TensorsOf = typename detail::tensors_of<S>::type;

/// The shape of an xtensor holding `count` samples of S.
template <ShapeType S>
std::array<std::size_t, S::rank + 1> batch_shape(std::size_t count) {
  std::array<std::size_t, S::rank + 1> shape{};
  shape[0] = count;
  for (std::size_t i = 0; i < S::rank; ++i) shape[i + 1] = S::dims[i];
  return shape;
}

/// Allocate uninitialised containers for `count` samples of S.
template <AnyShape S>
TensorsOf<S> make_tensors(std::size_t count) {
  if constexpr (ShapeType<S>) {
    return xt::empty<float>(batch_shape<S>(count));
  } else {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return TensorsOf<S>{xt::empty<float>(batch_shape<typename S::template part<I>>(count))...};
    }(std::make_index_sequence<S::count>{});
  }
}

namespace detail {
template <ShapeType S, class Tensor>
void check_tensor(const Tensor& t, const std::string& what) {
  bool ok = true;
  for (std::size_t i = 0; i < S::rank; ++i) ok = ok && t.shape()[i + 1] == S::dims[i];
  if (!ok) {
    std::string got = "(";
    for (std::size_t i = 1; i < t.dimension(); ++i) got += (i > 1 ? ", " : "") + std::to_string(t.shape()[i]);
    throw Error(what + ": each sample has shape " + got + ") but the model expects " + S::to_string());
  }
}
}  // namespace detail

/// A view of the samples in `tensors` (checked against S; `what` starts the error message).
template <AnyShape S, class Tensors>
auto view_of(Tensors& tensors, const std::string& what) {
  using T = std::conditional_t<std::is_const_v<Tensors>, const float, float>;
  if constexpr (ShapeType<S>) {
    detail::check_tensor<S>(tensors, what);
    return BatchView<S, T>{tensors.data(), tensors.shape()[0]};
  } else {
    const std::size_t count = std::get<0>(tensors).shape()[0];
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      auto part = [&]<std::size_t J>(std::integral_constant<std::size_t, J>) {
        using P = typename S::template part<J>;
        const auto& t = std::get<J>(tensors);
        const std::string label = what + " (block " + std::to_string(J) + " of " + std::to_string(S::count) + ")";
        if (t.shape()[0] != count)
          throw Error(label + ": " + std::to_string(t.shape()[0]) + " samples, but block 0 has " + std::to_string(count));
        detail::check_tensor<P>(t, label);
        return BatchView<P, T>{std::get<J>(tensors).data(), count};
      };
      return BatchView<S, T>{{part(std::integral_constant<std::size_t, I>{})...}, count};
    }(std::make_index_sequence<S::count>{});
  }
}

/// Block I of a batch container: the container itself for a single block (I = 0), else the I-th
/// tensor of the tuple.
template <std::size_t I, class Tensors>
decltype(auto) tensor_part(Tensors& tensors) {
  if constexpr (requires { tensors.shape(); }) {
    static_assert(I == 0, "deepjet::tensor_part: a single tensor has only block 0");
    return (tensors);
  } else {
    return (std::get<I>(tensors));
  }
}

/// The number of samples in a batch container (or tuple of them).
template <class Tensors>
std::size_t sample_count(const Tensors& tensors) {
  if constexpr (requires { tensors.shape(); }) return tensors.shape()[0];
  else return std::get<0>(tensors).shape()[0];
}

}  // namespace deepjet
