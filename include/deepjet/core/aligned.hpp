// deepjet/core/aligned.hpp: heap storage aligned for the widest SIMD registers.
#pragma once

#include <xsimd/xsimd.hpp>

#include <vector>

namespace deepjet {

/// A std::vector of floats whose data is 64-byte aligned (one cache line, one AVX-512 register).
using AlignedFloats = std::vector<float, xsimd::aligned_allocator<float, 64>>;

/// Grow `buffer` to at least `size` floats; never shrinks, so a steady batch size allocates once.
inline float* ensure_size(AlignedFloats& buffer, std::size_t size) {
  if (buffer.size() < size) buffer.resize(size);
  return buffer.data();
}

}  // namespace deepjet
