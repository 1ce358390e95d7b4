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

/// The input of a model: deepjet::Input<15> reads as "a sample of 15 features".
template <std::size_t... Dims>
using Input = Shape<Dims...>;

}  // namespace deepjet
