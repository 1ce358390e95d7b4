// deepjet/core/batch.hpp: a view of a batch of samples of one compile-time shape.
//
// A BatchView<S> is a pointer to `count` samples of shape S stored contiguously, sample after
// sample, each in S's row-major order. It owns nothing; it is how layers and kernels see data, so
// a layer's signature states the shapes it reads and writes and a mismatch does not compile.
#pragma once

#include "deepjet/core/shape.hpp"

#include <cstddef>
#include <span>
#include <type_traits>

namespace deepjet {

template <ShapeType S, class T = float>
struct BatchView {
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

template <ShapeType S>
using Batch = BatchView<S, float>;
template <ShapeType S>
using ConstBatch = BatchView<S, const float>;

}  // namespace deepjet
