// deepjet/kernels/simd.hpp: the SIMD register type the kernels are written in.
//
// Kernels are templates on an xsimd architecture. The default is the best instruction set the
// translation unit is compiled for (-march=native gives AVX-512 on Skylake-SP, -mavx2 -mfma gives
// AVX2), so a user's build chooses the kernels by its compiler flags alone.
#pragma once

#include <xsimd/xsimd.hpp>

#include <cstddef>

namespace deepjet::kernels {

using DefaultArch = xsimd::default_arch;

template <class Arch>
using Floats = xsimd::batch<float, Arch>;

template <class Arch>
inline constexpr std::size_t lanes = Floats<Arch>::size;

}  // namespace deepjet::kernels
