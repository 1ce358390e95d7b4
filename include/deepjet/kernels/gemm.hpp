// deepjet/kernels/gemm.hpp: matrix products over row-major float buffers.
//
// Contract: every function computes C = op(A) * op(B) into C (overwriting), or adds the product
// to C when `accumulate` is true. Matrices are row-major with explicit leading dimensions
// (the distance in floats between two rows). Pointers need no particular alignment. Sizes may be
// anything, including zero; no allocation, no threads. Rows of A may overlap (lda < K): Conv1D
// reads its overlapping input windows as the rows of A without copying them. C must not overlap
// A or B.
//
// How: a micro-kernel keeps an MR x (NV SIMD registers) tile of C in registers and streams a panel
// of B through it, broadcasting one element of A per row and step of K (MR x NV = 6 x 4 registers
// of 16 floats with AVX-512, 6 x 2 of 8 with AVX2: 24 / 12 accumulators, enough independent FMA
// chains to keep both FMA units busy). The tile is written out once, after the whole K loop. The
// last, incomplete register of a row of B and C is read and written with masked loads and stores
// (kernels/simd.hpp), so no column runs through scalar code whatever N is. The tile loops carry
// `#pragma GCC unroll`: at -O2 GCC does not unroll them by itself and would keep the tile in memory.
// gemm_nt reads B^T through a small transposed copy of a panel of B (on the stack, 32 KiB at most).
#pragma once

#include "deepjet/kernels/simd.hpp"

#include <algorithm>
#include <cstddef>

namespace deepjet::kernels {

/// The register tile of the matrix products for an instruction set.
template <class Arch>
struct GemmTile {
  /// Rows of C per tile.
  static constexpr std::size_t rows = 6;
  /// SIMD registers of C per tile row (AVX-512 has 32 registers, AVX2 16).
  static constexpr std::size_t registers = is_avx512<Arch> ? 4 : 2;
  static constexpr std::size_t columns = registers * lanes<Arch>;
};

namespace detail {

// C[MR x (NV registers)] (+)= A_tile * B_panel, where element (i, k) of A is at
// a[i * a_row_stride + k * a_k_stride] and row k of the panel at b + k * ldb. The last register
// of each row has `last_lanes` valid columns (all lanes when it equals the register width).
// Striding A both ways lets the same micro-kernel serve A (row-major) and A transposed.
template <class Arch, std::size_t MR, std::size_t NV>
DEEPJET_ALWAYS_INLINE void gemm_tile(std::size_t K, const float* a, std::size_t a_row_stride,
                                     std::size_t a_k_stride, const float* b, std::size_t ldb,
                                     std::size_t last_lanes, float* c, std::size_t ldc, bool accumulate) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  V acc[MR][NV];
#pragma GCC unroll 8
  for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (std::size_t j = 0; j < NV; ++j) acc[i][j] = V(0.0f);
  const bool partial = last_lanes != W;
  for (std::size_t k = 0; k < K; ++k) {
    const float* bk = b + k * ldb;
    V bv[NV];
#pragma GCC unroll 8
    for (std::size_t j = 0; j + 1 < NV; ++j) bv[j] = V::load_unaligned(bk + j * W);
    bv[NV - 1] = partial ? load_first<Arch>(bk + (NV - 1) * W, last_lanes) : V::load_unaligned(bk + (NV - 1) * W);
    const float* ak = a + k * a_k_stride;
#pragma GCC unroll 8
    for (std::size_t i = 0; i < MR; ++i) {
      const V aik(ak[i * a_row_stride]);
#pragma GCC unroll 8
      for (std::size_t j = 0; j < NV; ++j) acc[i][j] = xsimd::fma(aik, bv[j], acc[i][j]);
    }
  }
#pragma GCC unroll 8
  for (std::size_t i = 0; i < MR; ++i) {
    float* out = c + i * ldc;
#pragma GCC unroll 8
    for (std::size_t j = 0; j + 1 < NV; ++j) {
      if (accumulate) acc[i][j] += V::load_unaligned(out + j * W);
      acc[i][j].store_unaligned(out + j * W);
    }
    float* last = out + (NV - 1) * W;
    if (partial) {
      if (accumulate) acc[i][NV - 1] += load_first<Arch>(last, last_lanes);
      store_first<Arch>(last, acc[i][NV - 1], last_lanes);
    } else {
      if (accumulate) acc[i][NV - 1] += V::load_unaligned(last);
      acc[i][NV - 1].store_unaligned(last);
    }
  }
}

// All rows of C for one column panel of NV registers (the last one `last_lanes` wide).
template <class Arch, std::size_t NV>
inline void gemm_panel(std::size_t M, std::size_t K, const float* a, std::size_t a_row_stride,
                       std::size_t a_k_stride, const float* b, std::size_t ldb, std::size_t last_lanes,
                       float* c, std::size_t ldc, bool accumulate) {
  constexpr std::size_t MR = GemmTile<Arch>::rows;
  std::size_t m = 0;
  for (; m + MR <= M; m += MR)
    gemm_tile<Arch, MR, NV>(K, a + m * a_row_stride, a_row_stride, a_k_stride, b, ldb, last_lanes, c + m * ldc,
                            ldc, accumulate);
  // Leftover rows: two at a time, then one (a single row is the batch-1 case).
  for (; m + 2 <= M; m += 2)
    gemm_tile<Arch, 2, NV>(K, a + m * a_row_stride, a_row_stride, a_k_stride, b, ldb, last_lanes, c + m * ldc,
                           ldc, accumulate);
  if (m < M)
    gemm_tile<Arch, 1, NV>(K, a + m * a_row_stride, a_row_stride, a_k_stride, b, ldb, last_lanes, c + m * ldc,
                           ldc, accumulate);
}

// Columns [n0, n0 + width) with width <= GemmTile::columns: as many registers as needed.
template <class Arch, std::size_t NV = GemmTile<Arch>::registers>
inline void gemm_columns(std::size_t width, std::size_t M, std::size_t K, const float* a,
                         std::size_t a_row_stride, std::size_t a_k_stride, const float* b, std::size_t ldb,
                         float* c, std::size_t ldc, bool accumulate) {
  constexpr std::size_t W = lanes<Arch>;
  if constexpr (NV > 1) {
    if (width <= (NV - 1) * W) {
      gemm_columns<Arch, NV - 1>(width, M, K, a, a_row_stride, a_k_stride, b, ldb, c, ldc, accumulate);
      return;
    }
  }
  gemm_panel<Arch, NV>(M, K, a, a_row_stride, a_k_stride, b, ldb, width - (NV - 1) * W, c, ldc, accumulate);
}

// C (+)= A * B with A element (i, k) at a[i * a_row_stride + k * a_k_stride], K cut in blocks of
// KC rows of B (below).
template <class Arch, std::size_t KC>
inline void gemm_strided_a(std::size_t M, std::size_t N, std::size_t K, const float* a,
                           std::size_t a_row_stride, std::size_t a_k_stride, const float* b,
                           std::size_t ldb, float* c, std::size_t ldc, bool accumulate) {
  if (M == 0 || N == 0) return;
  constexpr std::size_t NR = GemmTile<Arch>::columns;
  // Blocks of K rows of B: a block's panel (KC x NR floats, 64 KiB with AVX-512 at KC = 256)
  // stays in cache while every row tile of C passes over it, however long K is (the weight
  // gradients sum over batch x particles rows).
  if (K == 0) {
    for (std::size_t n = 0; n < N; n += NR)
      gemm_columns<Arch>(std::min(NR, N - n), M, 0, a, a_row_stride, a_k_stride, b + n, ldb, c + n, ldc, accumulate);
    return;
  }
  for (std::size_t k0 = 0; k0 < K; k0 += KC) {
    const std::size_t kc = std::min(KC, K - k0);
    for (std::size_t n = 0; n < N; n += NR)
      gemm_columns<Arch>(std::min(NR, N - n), M, kc, a + k0 * a_k_stride, a_row_stride, a_k_stride, b + k0 * ldb + n,
                         ldb, c + n, ldc, accumulate || k0 > 0);
  }
}

}  // namespace detail

/// C[M x N] (+)= A[M x K] * B[K x N]. KBlock: rows of B per block (see gemm_strided_a); the
/// training backward passes use 128, whose 32 KiB panels stay in the first-level cache, about 4 %
/// faster on DeepJet's LSTM gradient products (docs/performance.md, round 2).
template <class Arch = DefaultArch, std::size_t KBlock = 256>
DEEPJET_KERNEL void gemm_nn(std::size_t M, std::size_t N, std::size_t K, const float* A, std::size_t lda,
                    const float* B, std::size_t ldb, float* C, std::size_t ldc, bool accumulate) {
  detail::gemm_strided_a<Arch, KBlock>(M, N, K, A, lda, 1, B, ldb, C, ldc, accumulate);
}

/// C[M x N] (+)= A[K x M]^T * B[K x N]   (A is stored K rows of M). Used by the weight gradients
/// only (training): blocks of 128 rows of B, as gemm_nn's KBlock = 128.
template <class Arch = DefaultArch>
DEEPJET_KERNEL void gemm_tn(std::size_t M, std::size_t N, std::size_t K, const float* A, std::size_t lda,
                    const float* B, std::size_t ldb, float* C, std::size_t ldc, bool accumulate) {
  detail::gemm_strided_a<Arch, 128>(M, N, K, A, 1, lda, B, ldb, C, ldc, accumulate);
}

/// C[M x N] (+)= A[M x K] * B[N x K]^T   (dot products of rows of A with rows of B).
/// B^T is copied a panel at a time (K_block x panel columns) into a stack buffer, so that the
/// same register-blocked micro-kernel as gemm_nn runs over it.
template <class Arch = DefaultArch>
DEEPJET_KERNEL void gemm_nt(std::size_t M, std::size_t N, std::size_t K, const float* A, std::size_t lda,
                    const float* B, std::size_t ldb, float* C, std::size_t ldc, bool accumulate) {
  if (M == 0 || N == 0) return;
  constexpr std::size_t NR = GemmTile<Arch>::columns;
  constexpr std::size_t KC = 128;  // K_block x NR floats: 32 KiB with AVX-512
  alignas(64) float panel[KC * NR];
  if (K == 0 && !accumulate)
    for (std::size_t m = 0; m < M; ++m) std::fill(C + m * ldc, C + m * ldc + N, 0.0f);
  for (std::size_t k0 = 0; k0 < K; k0 += KC) {
    const std::size_t kc = std::min(KC, K - k0);
    for (std::size_t n0 = 0; n0 < N; n0 += NR) {
      const std::size_t width = std::min(NR, N - n0);
      // panel[k][j] = B[n0 + j][k0 + k]
      for (std::size_t j = 0; j < width; ++j) {
        const float* row = B + (n0 + j) * ldb + k0;
        for (std::size_t k = 0; k < kc; ++k) panel[k * NR + j] = row[k];
      }
      detail::gemm_columns<Arch>(width, M, kc, A + k0, lda, 1, panel, NR, C + n0, ldc, accumulate || k0 > 0);
    }
  }
}

/// out[N] (+)= sum over the M rows of A[M x N]   (the gradient of a bias).
template <class Arch = DefaultArch>
inline void column_sums(std::size_t M, std::size_t N, const float* A, std::size_t lda, float* out,
                        bool accumulate) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  if (!accumulate) std::fill(out, out + N, 0.0f);
  // Chunks of rows that stay in cache while each column register sweeps them.
  constexpr std::size_t rows_per_chunk = 64;
  for (std::size_t m0 = 0; m0 < M; m0 += rows_per_chunk) {
    const std::size_t m_end = std::min(M, m0 + rows_per_chunk);
    for (std::size_t n = 0; n < N; n += W) {
      const std::size_t width = std::min(W, N - n);
      V acc = load_lanes<Arch>(out + n, width);
      for (std::size_t m = m0; m < m_end; ++m) acc += load_lanes<Arch>(A + m * lda + n, width);
      store_lanes<Arch>(out + n, acc, width);
    }
  }
}

/// Add the row vector `row[N]` to every row of C[M x N].
template <class Arch = DefaultArch>
inline void add_row(std::size_t M, std::size_t N, const float* row, float* C, std::size_t ldc) {
  constexpr std::size_t W = lanes<Arch>;
  for (std::size_t m = 0; m < M; ++m) {
    float* c = C + m * ldc;
    for (std::size_t n = 0; n < N; n += W) {
      const std::size_t width = std::min(W, N - n);
      store_lanes<Arch>(c + n, load_lanes<Arch>(c + n, width) + load_lanes<Arch>(row + n, width), width);
    }
  }
}

}  // namespace deepjet::kernels
