// deepjet/kernels/gemm_bf16.hpp: matrix products with bfloat16 inputs and float32 accumulation,
// for reduced-precision inference (models/predictor.hpp, Precision::bfloat16).
//
// bfloat16 is float32 with its mantissa cut from 23 to 7 stored bits (8 significant bits with the
// implicit one): the same range, a relative rounding error of at most 2^-8 per value (half a
// unit in the 8th significant bit).
//
// Contract of gemm_nn_bf16: C[M x N] (+)= bf16(A)[M x K] * B[K x N] where
//   - A is row-major float32 with leading dimension lda (rows may overlap, as in gemm_nn); each
//     element is rounded to bfloat16 (round to nearest even) as it is read;
//   - B was converted once by pack_bf16_pairs: bfloat16 values, two consecutive rows of B
//     interleaved per column, (K + 1) / 2 rows of N 32-bit words, held in float storage;
//   - the products of bfloat16 values are exact in float32 and are summed in float32, two k at a
//     time in the order of VDPBF16PS: C += a[k+1] b[k+1], then C += a[k] b[k], each sum rounded;
//   - sizes may be anything, including zero; no allocation, no threads; C must not overlap A or B.
// Two implementations give the same sums: with AVX512-BF16 (compiled with __AVX512BF16__, e.g.
// -march=native on Intel Sapphire Rapids / Cooper Lake or AMD Zen 4 / Zen 5) the instructions
// VCVTNE2PS2BF16 and VDPBF16PS; elsewhere (AVX2, AVX-512 without BF16) xsimd fused multiply-adds on
// the bfloat16 values widened to float32, which are exact for these products and so round the
// same way. The one difference: the instruction flushes denormal inputs and results (below
// 1.2e-38) to zero, the fallback keeps them.
#pragma once

#include "deepjet/kernels/simd.hpp"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace deepjet::kernels {

/// True when this translation unit can use the AVX512-BF16 instructions.
#if defined(__AVX512BF16__) && defined(__AVX512F__)
inline constexpr bool has_avx512_bf16 = true;
#else
inline constexpr bool has_avx512_bf16 = false;
#endif

/// x rounded to bfloat16 (the upper 16 bits of a float32): round to nearest, ties to even;
/// denormals become a zero of the same sign and NaNs stay (quiet) NaNs, as VCVTNE2PS2BF16 does.
inline std::uint16_t to_bf16(float x) {
  std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  if ((bits & 0x7f800000u) == 0) return static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(bits >> 16);
}

/// The float32 value of a bfloat16 (exact).
inline float from_bf16(std::uint16_t h) { return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16); }

/// x rounded to the nearest bfloat16, as a float32.
inline float round_to_bf16(float x) { return from_bf16(to_bf16(x)); }

/// 32-bit words of B once packed by pack_bf16_pairs: (K + 1) / 2 rows of N.
constexpr std::size_t bf16_pair_words(std::size_t K, std::size_t N) { return (K + 1) / 2 * N; }

/// Converts B[K x N] (row-major, leading dimension N) at `b` IN PLACE into bfloat16 pairs: word
/// (p, n) holds bf16(B[2p][n]) in its low half and bf16(B[2p+1][n]) in its high half (zero for an
/// odd K's last row). The words fill the first bf16_pair_words(K, N) floats of the region (never
/// more than K * N); the rest of the region is zeroed. Allocates a copy of B (once per model).
inline void pack_bf16_pairs(std::size_t K, std::size_t N, float* b) {
  const std::vector<float> source(b, b + K * N);
  std::fill(b, b + K * N, 0.0f);
  auto* bytes = reinterpret_cast<unsigned char*>(b);
  for (std::size_t p = 0; p < (K + 1) / 2; ++p)
    for (std::size_t n = 0; n < N; ++n) {
      const std::uint32_t low = to_bf16(source[2 * p * N + n]);
      const std::uint32_t high = 2 * p + 1 < K ? to_bf16(source[(2 * p + 1) * N + n]) : 0u;
      const std::uint32_t word = low | (high << 16);
      std::memcpy(bytes + (p * N + n) * sizeof(float), &word, sizeof word);
    }
}

namespace detail {

// The implementation: the instruction, or xsimd fused multiply-adds on widened values.
template <class Arch, bool Instruction>
struct Bf16Gemm {
  static constexpr bool instruction = Instruction;
  static constexpr std::size_t width = Instruction ? 16 : lanes<Arch>;
  static constexpr std::size_t registers = Instruction || is_avx512<Arch> ? 4 : 2;
  static constexpr std::size_t columns = registers * width;
  static constexpr std::size_t rows = 6;
  // K per block: the panel of B (KC / 2 x columns words) stays in the second-level cache, the
  // rounded rows of A (rows x KC / 2 words) on the stack.
  static constexpr std::size_t KC = 512;
};

// Rounds rows [0, rows) x columns [0, kc) of A into pairs: out[i * KC/2 + p] = bf16 pair of
// A[i][2p], A[i][2p+1] (zero high half past kc).
template <class G>
DEEPJET_ALWAYS_INLINE void round_rows(std::size_t rows, std::size_t kc, const float* a, std::size_t lda,
                                      std::uint32_t* out) {
  constexpr std::size_t stride = G::KC / 2;
  for (std::size_t i = 0; i < rows; ++i) {
    const float* row = a + i * lda;
    std::uint32_t* pairs = out + i * stride;
    std::size_t k = 0;
#if defined(__AVX512BF16__) && defined(__AVX512F__)
    if constexpr (G::instruction) {
      for (; k + 32 <= kc; k += 32) {
        const __m512bh packed = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + k + 16), _mm512_loadu_ps(row + k));
        _mm512_storeu_si512(pairs + k / 2, (__m512i)packed);
      }
      if (k < kc) {
        const std::size_t rest = kc - k;  // 1 .. 31
        const __mmask16 low_mask = static_cast<__mmask16>(rest >= 16 ? 0xffffu : (1u << rest) - 1u);
        const __mmask16 high_mask = static_cast<__mmask16>(rest > 16 ? (1u << (rest - 16)) - 1u : 0u);
        const __m512bh packed = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(high_mask, row + k + 16),
                                                   _mm512_maskz_loadu_ps(low_mask, row + k));
        const __mmask16 word_mask = static_cast<__mmask16>((1u << ((rest + 1) / 2)) - 1u);
        _mm512_mask_storeu_epi32(pairs + k / 2, word_mask, (__m512i)packed);
      }
      continue;
    }
#endif
    for (; k < kc; k += 2) {
      const std::uint32_t low = to_bf16(row[k]);
      const std::uint32_t high = k + 1 < kc ? to_bf16(row[k + 1]) : 0u;
      pairs[k / 2] = low | (high << 16);
    }
  }
}

// C[MR x NV registers] (+)= rounded A rows (pairs at a, row stride KC/2) * pair rows of B (row p
// at b + p * ldb words); the last register has last_lanes valid columns.
template <class Arch, class G, std::size_t MR, std::size_t NV>
DEEPJET_ALWAYS_INLINE void bf16_tile(std::size_t pairs, const std::uint32_t* a, const float* b, std::size_t ldb,
                                     std::size_t last_lanes, float* c, std::size_t ldc, bool accumulate) {
  constexpr std::size_t stride = G::KC / 2;
  constexpr std::size_t W = G::width;
  const bool partial = last_lanes != W;
#if defined(__AVX512BF16__) && defined(__AVX512F__)
  if constexpr (G::instruction) {
    const __mmask16 last_mask = static_cast<__mmask16>(partial ? (1u << last_lanes) - 1u : 0xffffu);
    __m512 acc[MR][NV];
#pragma GCC unroll 8
    for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (std::size_t j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_ps();
    for (std::size_t p = 0; p < pairs; ++p) {
      const float* bp = b + p * ldb;
      __m512bh bv[NV];
#pragma GCC unroll 8
      for (std::size_t j = 0; j + 1 < NV; ++j) {
        bv[j] = (__m512bh)_mm512_loadu_ps(bp + j * W);
      }
      bv[NV - 1] = (__m512bh)_mm512_maskz_loadu_ps(last_mask, bp + (NV - 1) * W);
#pragma GCC unroll 8
      for (std::size_t i = 0; i < MR; ++i) {
        const __m512bh aib = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[i * stride + p]));
#pragma GCC unroll 8
        for (std::size_t j = 0; j < NV; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], aib, bv[j]);
      }
    }
#pragma GCC unroll 8
    for (std::size_t i = 0; i < MR; ++i) {
      float* out = c + i * ldc;
#pragma GCC unroll 8
      for (std::size_t j = 0; j + 1 < NV; ++j) {
        if (accumulate) acc[i][j] = _mm512_add_ps(acc[i][j], _mm512_loadu_ps(out + j * W));
        _mm512_storeu_ps(out + j * W, acc[i][j]);
      }
      float* last = out + (NV - 1) * W;
      if (accumulate) acc[i][NV - 1] = _mm512_add_ps(acc[i][NV - 1], _mm512_maskz_loadu_ps(last_mask, last));
      _mm512_mask_storeu_ps(last, last_mask, acc[i][NV - 1]);
    }
    return;
  }
#endif
  if constexpr (!G::instruction) {
    using V = Floats<Arch>;
    using U = xsimd::batch<std::uint32_t, Arch>;
    const V high_half = xsimd::bitwise_cast<V>(U(0xffff0000u));
    V acc[MR][NV];
#pragma GCC unroll 8
    for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (std::size_t j = 0; j < NV; ++j) acc[i][j] = V(0.0f);
    for (std::size_t p = 0; p < pairs; ++p) {
      const float* bp = b + p * ldb;
      V even[NV], odd[NV];
#pragma GCC unroll 8
      for (std::size_t j = 0; j < NV; ++j) {
        const V w = j + 1 < NV || !partial ? V::load_unaligned(bp + j * W) : load_first<Arch>(bp + j * W, last_lanes);
        even[j] = xsimd::bitwise_cast<V>(xsimd::bitwise_cast<U>(w) << 16);
        odd[j] = w & high_half;
      }
#pragma GCC unroll 8
      for (std::size_t i = 0; i < MR; ++i) {
        const std::uint32_t word = a[i * stride + p];
        const V a_even(std::bit_cast<float>(word << 16));
        const V a_odd(std::bit_cast<float>(word & 0xffff0000u));
#pragma GCC unroll 8
        for (std::size_t j = 0; j < NV; ++j) {
          acc[i][j] = xsimd::fma(a_odd, odd[j], acc[i][j]);
          acc[i][j] = xsimd::fma(a_even, even[j], acc[i][j]);
        }
      }
    }
#pragma GCC unroll 8
    for (std::size_t i = 0; i < MR; ++i) {
      float* out = c + i * ldc;
#pragma GCC unroll 8
      for (std::size_t j = 0; j < NV; ++j) {
        const std::size_t n = j + 1 < NV ? W : last_lanes;
        if (accumulate) acc[i][j] += load_lanes<Arch>(out + j * W, n);
        store_lanes<Arch>(out + j * W, acc[i][j], n);
      }
    }
  }
}

// All rounded rows (at most G::rows) for a panel of `width` <= G::columns columns.
template <class Arch, class G, std::size_t NV = G::registers>
inline void bf16_columns(std::size_t width, std::size_t rows, std::size_t pairs, const std::uint32_t* a,
                         const float* b, std::size_t ldb, float* c, std::size_t ldc, bool accumulate) {
  constexpr std::size_t W = G::width;
  if constexpr (NV > 1) {
    if (width <= (NV - 1) * W) {
      bf16_columns<Arch, G, NV - 1>(width, rows, pairs, a, b, ldb, c, ldc, accumulate);
      return;
    }
  }
  const std::size_t last_lanes = width - (NV - 1) * W;
  constexpr std::size_t stride = G::KC / 2;
  std::size_t i = 0;
  if (rows == G::rows) {
    bf16_tile<Arch, G, G::rows, NV>(pairs, a, b, ldb, last_lanes, c, ldc, accumulate);
    return;
  }
  for (; i + 2 <= rows; i += 2)
    bf16_tile<Arch, G, 2, NV>(pairs, a + i * stride, b, ldb, last_lanes, c + i * ldc, ldc, accumulate);
  if (i < rows) bf16_tile<Arch, G, 1, NV>(pairs, a + i * stride, b, ldb, last_lanes, c + i * ldc, ldc, accumulate);
}

}  // namespace detail

/// C[M x N] (+)= bf16(A)[M x K] * B, B packed by pack_bf16_pairs(K, N, ...) (see the top of this
/// file). Instruction: use AVX512-BF16 (only where has_avx512_bf16; the default there).
template <class Arch = DefaultArch, bool Instruction = has_avx512_bf16>
inline void gemm_nn_bf16(std::size_t M, std::size_t N, std::size_t K, const float* A, std::size_t lda,
                         const float* B_pairs, float* C, std::size_t ldc, bool accumulate) {
  static_assert(!Instruction || has_avx512_bf16, "deepjet: the AVX512-BF16 kernel needs a build with -mavx512bf16");
  using G = detail::Bf16Gemm<Arch, Instruction>;
  if (M == 0 || N == 0) return;
  if (K == 0) {
    if (!accumulate)
      for (std::size_t m = 0; m < M; ++m) std::fill(C + m * ldc, C + m * ldc + N, 0.0f);
    return;
  }
  alignas(64) std::uint32_t rounded[G::rows * (G::KC / 2)];
  for (std::size_t k0 = 0; k0 < K; k0 += G::KC) {
    const std::size_t kc = std::min(G::KC, K - k0);
    const std::size_t pairs = (kc + 1) / 2;
    const float* b = B_pairs + (k0 / 2) * N;
    // Column panels outside, row tiles inside: a panel of B (with K = 265, 133 pairs x 64 columns,
    // 34 KiB) stays in the first-level cache while every row tile passes over it. The rows of A
    // are rounded again for each panel, which costs a few per cent of the products.
    for (std::size_t n = 0; n < N; n += G::columns)
      for (std::size_t m = 0; m < M; m += G::rows) {
        const std::size_t rows = std::min(G::rows, M - m);
        detail::round_rows<G>(rows, kc, A + m * lda + k0, lda, rounded);
        detail::bf16_columns<Arch, G>(std::min(G::columns, N - n), rows, pairs, rounded, b + n, N, C + m * ldc + n,
                                      ldc, accumulate || k0 > 0);
      }
  }
}

}  // namespace deepjet::kernels
