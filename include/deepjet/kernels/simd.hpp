// deepjet/kernels/simd.hpp: the SIMD register type the kernels are written in, and partial
// (masked) loads and stores for the last, incomplete register of a row.
//
// Kernels are templates on an xsimd architecture. The default is the best instruction set the
// translation unit is compiled for (-march=native gives AVX-512 on Skylake-SP, -mavx2 -mfma gives
// AVX2), so a user's build chooses the kernels by its compiler flags alone.
//
// load_first<Arch>(p, n) reads the first n floats at p (0 < n <= lanes) into a register whose
// other lanes are zero, and store_first<Arch>(p, v, n) writes the first n lanes of v to p; neither
// touches memory beyond p[n - 1]. With AVX-512 and AVX they are single masked instructions
// (masked-out lanes cannot fault), so a row of any width runs at full vector speed to its end.
#pragma once

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#if defined(__AVX__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

// Force-inlined helpers: the kernels rely on their register tiles being fully inlined and
// unrolled even at -O2 (CMSSW's optimisation level), where GCC would otherwise keep them in memory.
#if defined(__GNUC__)
#define DEEPJET_ALWAYS_INLINE [[gnu::always_inline]] inline
#else
#define DEEPJET_ALWAYS_INLINE inline
#endif

// The entry points of the large kernels (the matrix products): compiled once per instruction set
// and called, never inlined into a layer nor cloned per constant argument. A call costs nothing
// beside the product, and GCC's per-call-site clones of them were a sixth of the compile time of
// a DeepJet training unit (docs/performance.md, round 2).
#if defined(__clang__)
#define DEEPJET_KERNEL [[gnu::noinline]] inline
#elif defined(__GNUC__)
#define DEEPJET_KERNEL [[gnu::noinline, gnu::noclone]] inline
#else
#define DEEPJET_KERNEL inline
#endif

namespace deepjet::kernels {

using DefaultArch = xsimd::default_arch;

template <class Arch>
using Floats = xsimd::batch<float, Arch>;

template <class Arch>
inline constexpr std::size_t lanes = Floats<Arch>::size;

/// True for xsimd architectures with AVX-512 registers.
template <class Arch>
inline constexpr bool is_avx512 = std::is_base_of_v<xsimd::avx512f, Arch> || std::is_same_v<xsimd::avx512f, Arch>;
/// True for xsimd architectures with 256-bit AVX registers (AVX, AVX2, FMA3 + AVX2).
template <class Arch>
inline constexpr bool is_avx = std::is_base_of_v<xsimd::avx, Arch> || std::is_same_v<xsimd::avx, Arch>;

namespace detail {
// Lane masks for AVX's maskload/maskstore: the 8 ints starting at avx_masks + 8 - n enable lanes [0, n).
alignas(64) inline constexpr std::int32_t avx_masks[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
}  // namespace detail

/// The first n (1 <= n <= lanes) floats at p, zeros in the other lanes.
template <class Arch>
DEEPJET_ALWAYS_INLINE Floats<Arch> load_first(const float* p, std::size_t n) {
#if defined(__AVX512F__)
  if constexpr (is_avx512<Arch>)
    return Floats<Arch>(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p));
#endif
#if defined(__AVX__)
  if constexpr (is_avx<Arch>)
    return Floats<Arch>(_mm256_maskload_ps(
        p, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(detail::avx_masks + 8 - n))));
#endif
  if constexpr (!is_avx512<Arch> && !is_avx<Arch>) {
    alignas(64) float lanes_in[lanes<Arch>] = {};
    for (std::size_t l = 0; l < n; ++l) lanes_in[l] = p[l];
    return Floats<Arch>::load_aligned(lanes_in);
  }
}

/// Writes the first n (1 <= n <= lanes) lanes of v to p[0 .. n-1].
template <class Arch>
DEEPJET_ALWAYS_INLINE void store_first(float* p, Floats<Arch> v, std::size_t n) {
#if defined(__AVX512F__)
  if constexpr (is_avx512<Arch>) {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), v);
    return;
  }
#endif
#if defined(__AVX__)
  if constexpr (is_avx<Arch>) {
    _mm256_maskstore_ps(p, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(detail::avx_masks + 8 - n)), v);
    return;
  }
#endif
  if constexpr (!is_avx512<Arch> && !is_avx<Arch>) {
    alignas(64) float lanes_out[lanes<Arch>];
    v.store_aligned(lanes_out);
    for (std::size_t l = 0; l < n; ++l) p[l] = lanes_out[l];
  }
}

/// A full register from p when `full`, else its first n lanes (zeros after).
template <class Arch>
DEEPJET_ALWAYS_INLINE Floats<Arch> load_lanes(const float* p, std::size_t n) {
  return n == lanes<Arch> ? Floats<Arch>::load_unaligned(p) : load_first<Arch>(p, n);
}

/// Writes the first n lanes of v to p (all of them when n == lanes).
template <class Arch>
DEEPJET_ALWAYS_INLINE void store_lanes(float* p, Floats<Arch> v, std::size_t n) {
  if (n == lanes<Arch>) v.store_unaligned(p);
  else store_first<Arch>(p, v, n);
}

/// While alive, this thread's SSE/AVX arithmetic treats subnormal floats (|x| < 1.18e-38) as zero,
/// inputs (DAZ) and results (FTZ); the previous control word is restored on destruction.
/// Why: x86 cores take a microcode assist, tens to hundreds of cycles, for every instruction that
/// meets a subnormal. An LSTM produces them routinely: a saturated gate, 1 / (1 + e^88), is
/// subnormal, and the cell state and outputs multiply with it. Measured on CMS's HLT DeepJet file
/// (Intel Xeon, batch 1024, random inputs): 18,900 -> 22,900 jets/s. A subnormal is below any
/// tolerance of a float32 prediction (the smallest normal float is 1.18e-38), so this changes no
/// prediction beyond that. Used by Predictor::predict; a no-op where the target has no SSE.
class SubnormalsAsZero {
 public:
#if defined(__SSE__)
  SubnormalsAsZero() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | flush_to_zero | denormals_are_zero); }
  ~SubnormalsAsZero() { _mm_setcsr(saved_); }
#else
  SubnormalsAsZero() {}
#endif
  SubnormalsAsZero(const SubnormalsAsZero&) = delete;
  SubnormalsAsZero& operator=(const SubnormalsAsZero&) = delete;

 private:
#if defined(__SSE__)
  static constexpr unsigned flush_to_zero = 0x8000;       // MXCSR bit 15
  static constexpr unsigned denormals_are_zero = 0x0040;  // MXCSR bit 6
  unsigned saved_;
#endif
};

}  // namespace deepjet::kernels
