// deepjet/core/batch.hpp: a view of a batch of samples of one compile-time shape.
//
// A BatchView<S> is a pointer to `count` samples of shape S stored contiguously, sample after
// sample, each in S's row-major order. It owns nothing; it is how layers and kernels see data, so
// a layer's signature states the shapes it reads and writes and a mismatch does not compile.
//
// For several shapes side by side (Shapes<A, B, ...>), the view holds one view per part; the parts
// need not be adjacent in memory (a model's inputs come from separate arrays). make_view lays the
// parts of a Shapes batch out one after another in one buffer: part I starts at
// base + count * Shapes::offsets[I]. A view whose data is null (a gradient nobody needs) has
// null parts too.
#pragma once

#include "deepjet/core/shape.hpp"

#include <cstddef>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>

namespace deepjet {

template <class S, class T = float>
struct BatchView;

template <ShapeType S, class T>
struct BatchView<S, T> {
  using shape = S;
  static constexpr std::size_t sample_size = S::size;

  T* data = nullptr;
  std::size_t count = 0;  ///< number of samples

  /// A view of read-only data converts from a view of writable data.
  operator BatchView<S, const T>() const
    requires(!std::is_const_v<T>)
  {
    return {data, count};
  }

  T* sample(std::size_t i) const { return data + i * sample_size; }
  std::size_t size() const { return count * sample_size; }
  std::span<T> values() const { return {data, size()}; }
  bool empty() const { return data == nullptr; }
};

template <ShapeType... Parts, class T>
struct BatchView<Shapes<Parts...>, T> {
  using shape = Shapes<Parts...>;
  static constexpr std::size_t sample_size = shape::size;

  std::tuple<BatchView<Parts, T>...> parts;
  std::size_t count = 0;

  template <std::size_t I>
  const auto& part() const { return std::get<I>(parts); }

  operator BatchView<Shapes<Parts...>, const T>() const
    requires(!std::is_const_v<T>)
  {
    return std::apply([&](const auto&... p) {
      return BatchView<Shapes<Parts...>, const T>{{BatchView<Parts, const T>(p)...}, count};
    }, parts);
  }

  std::size_t size() const { return count * sample_size; }
  bool empty() const { return std::get<0>(parts).data == nullptr; }
};

template <AnyShape S>
using Batch = BatchView<S, float>;
template <AnyShape S>
using ConstBatch = BatchView<S, const float>;

/// A view of `count` samples of S in one buffer starting at `base` (parts one after another).
template <AnyShape S, class T>
BatchView<S, T> make_view(T* base, std::size_t count) {
  if constexpr (ShapeType<S>) {
    return {base, count};
  } else {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return BatchView<S, T>{
          {BatchView<typename S::template part<I>, T>{base ? base + count * S::offsets[I] : nullptr, count}...},
          count};
    }(std::make_index_sequence<S::count>{});
  }
}

/// Samples [first, first + count) of a batch view (every part, for several shapes).
template <AnyShape S, class T>
BatchView<S, T> slice(const BatchView<S, T>& view, std::size_t first, std::size_t count) {
  if constexpr (ShapeType<S>) {
    return {view.data ? view.data + first * S::size : nullptr, count};
  } else {
    return std::apply([&](const auto&... part) { return BatchView<S, T>{{slice(part, first, count)...}, count}; },
                      view.parts);
  }
}

}  // namespace deepjet
