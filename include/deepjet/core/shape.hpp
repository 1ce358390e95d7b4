// deepjet/core/shape.hpp: compile-time shapes of one sample.
//
// Shape<15> is a flat block of 15 features; Shape<25, 16> is a particle list of 25 particles with
// 16 features each, stored particle-major (the 16 features of a particle are contiguous). The
// batch dimension is never part of a Shape: it is chosen at run time.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>

namespace deepjet {

template <std::size_t... Dims>
struct Shape {
  static_assert(sizeof...(Dims) > 0, "deepjet::Shape needs at least one dimension");
  static_assert(((Dims > 0) && ...), "deepjet::Shape dimensions must all be positive");

  static constexpr std::size_t rank = sizeof...(Dims);
  static constexpr std::size_t size = (Dims * ...);
  static constexpr std::array<std::size_t, rank> dims{Dims...};
  template <std::size_t I>
  static constexpr std::size_t dim = dims[I];
  /// The last dimension: the features of a flat block, the features of each particle of a list.
  static constexpr std::size_t features = dims[rank - 1];

  /// "(25, 16)": used in signatures and error messages.
  static std::string to_string() {
    std::string text = "(";
    for (std::size_t i = 0; i < rank; ++i) {
      if (i) text += ", ";
      text += std::to_string(dims[i]);
    }
    return text + ")";
  }
};

namespace detail {
template <class T>
struct is_shape : std::false_type {};
template <std::size_t... Dims>
struct is_shape<Shape<Dims...>> : std::true_type {};
}  // namespace detail

/// Any deepjet::Shape<...>.
template <class S>
concept ShapeType = detail::is_shape<S>::value;

/// A flat block: one row of features per sample.
template <class S>
concept FlatShape = ShapeType<S> && S::rank == 1;

/// A list of entries (particles, vertices) with the same features each.
template <class S>
concept ListShape = ShapeType<S> && S::rank == 2;

/// Several shapes side by side: the inputs of a multi-input model (one per feature block), the
/// outputs of parallel heads. Shapes<Shape<15>, Shape<25, 16>> is a global block and a list.
template <ShapeType... Parts>
struct Shapes {
  static_assert(sizeof...(Parts) > 0, "deepjet::Shapes needs at least one shape");
  static constexpr std::size_t count = sizeof...(Parts);
  /// Floats per sample over all parts.
  static constexpr std::size_t size = (Parts::size + ...);
  template <std::size_t I>
  using part = std::tuple_element_t<I, std::tuple<Parts...>>;
  /// Where part I starts, in floats per sample, when the parts are stored one after another.
  static constexpr std::array<std::size_t, count + 1> offsets = [] {
    std::array<std::size_t, count + 1> o{};
    const std::array<std::size_t, count> sizes{Parts::size...};
    for (std::size_t i = 0; i < count; ++i) o[i + 1] = o[i] + sizes[i];
    return o;
  }();

  static std::string to_string() {
    std::string text = "[";
    ((text += (text.size() > 1 ? ", " : "") + Parts::to_string()), ...);
    return text + "]";
  }
};

namespace detail {
template <class T>
struct is_shapes : std::false_type {};
template <class... Parts>
struct is_shapes<Shapes<Parts...>> : std::true_type {};
}  // namespace detail

/// Any deepjet::Shapes<...>.
template <class S>
concept ShapesType = detail::is_shapes<S>::value;

/// What a layer can take or give: one shape, or several side by side.
template <class S>
concept AnyShape = ShapeType<S> || ShapesType<S>;

/// The input of a model: deepjet::Input<15> reads as "a sample of 15 features".
template <std::size_t... Dims>
using Input = Shape<Dims...>;

/// The inputs of a multi-input model, one shape per feature block.
template <ShapeType... Parts>
using Inputs = Shapes<Parts...>;

}  // namespace deepjet
