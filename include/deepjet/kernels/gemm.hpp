// deepjet/kernels/gemm.hpp: matrix products over row-major float buffers.
//
// Contract: every function computes C = op(A) * op(B) into C (overwriting), or adds the product
// to C when `accumulate` is true. Matrices are row-major with explicit leading dimensions
// (the distance in floats between two rows). Pointers need no particular alignment. Sizes may be
// anything, including zero; no allocation, no threads.
//
// The products are register blocked: a micro-kernel keeps an MR x (NV SIMD registers) tile of C
// in registers and streams a panel of B through it, broadcasting one element of A per row.
#pragma once

#include "deepjet/kernels/simd.hpp"

#include <algorithm>
#include <cstddef>

namespace deepjet::kernels {

namespace detail {

// One MR x (NV * lanes) tile of C += A_tile * B_panel, where element (i, k) of A is at
// a[i * a_row_stride + k * a_k_stride]. Striding A both ways lets the same micro-kernel serve
// A (row-major) and A transposed.
template <class Arch, std::size_t MR, std::size_t NV>
inline void gemm_tile(std::size_t K, const float* a, std::size_t a_row_stride,
                      std::size_t a_k_stride, const float* b, std::size_t ldb, float* c,
                      std::size_t ldc, bool accumulate) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  V acc[MR][NV];
  for (std::size_t i = 0; i < MR; ++i)
    for (std::size_t j = 0; j < NV; ++j) acc[i][j] = V(0.0f);
  for (std::size_t k = 0; k < K; ++k) {
    V bk[NV];
    for (std::size_t j = 0; j < NV; ++j) bk[j] = V::load_unaligned(b + k * ldb + j * W);
    for (std::size_t i = 0; i < MR; ++i) {
      const V aik(a[i * a_row_stride + k * a_k_stride]);
      for (std::size_t j = 0; j < NV; ++j) acc[i][j] = xsimd::fma(aik, bk[j], acc[i][j]);
    }
  }
  for (std::size_t i = 0; i < MR; ++i)
    for (std::size_t j = 0; j < NV; ++j) {
      float* out = c + i * ldc + j * W;
      if (accumulate) acc[i][j] += V::load_unaligned(out);
      acc[i][j].store_unaligned(out);
    }
}

// C (+)= A * B with A element (i, k) at a[i * a_row_stride + k * a_k_stride].
template <class Arch>
inline void gemm_strided_a(std::size_t M, std::size_t N, std::size_t K, const float* a,
                           std::size_t a_row_stride, std::size_t a_k_stride, const float* b,
                           std::size_t ldb, float* c, std::size_t ldc, bool accumulate) {
  constexpr std::size_t W = lanes<Arch>;
  constexpr std::size_t MR = 4;
  std::size_t n0 = 0;
  // Column blocks of two registers, then of one register.
  auto column_block = [&]<std::size_t NV>(std::integral_constant<std::size_t, NV>) {
    for (; n0 + NV * W <= N; n0 += NV * W) {
      std::size_t m0 = 0;
      for (; m0 + MR <= M; m0 += MR)
        gemm_tile<Arch, MR, NV>(K, a + m0 * a_row_stride, a_row_stride, a_k_stride, b + n0, ldb,
                                c + m0 * ldc + n0, ldc, accumulate);
      for (; m0 < M; ++m0)
        gemm_tile<Arch, 1, NV>(K, a + m0 * a_row_stride, a_row_stride, a_k_stride, b + n0, ldb,
                               c + m0 * ldc + n0, ldc, accumulate);
    }
  };
  column_block(std::integral_constant<std::size_t, 2>{});
  column_block(std::integral_constant<std::size_t, 1>{});
  // Remaining columns (fewer than one register): plain loops.
  for (std::size_t m = 0; m < M; ++m)
    for (std::size_t n = n0; n < N; ++n) {
      float sum = 0.0f;
      for (std::size_t k = 0; k < K; ++k) sum += a[m * a_row_stride + k * a_k_stride] * b[k * ldb + n];
      c[m * ldc + n] = accumulate ? c[m * ldc + n] + sum : sum;
    }
}

}  // namespace detail

/// C[M x N] (+)= A[M x K] * B[K x N].
template <class Arch = DefaultArch>
inline void gemm_nn(std::size_t M, std::size_t N, std::size_t K, const float* A, std::size_t lda,
                    const float* B, std::size_t ldb, float* C, std::size_t ldc, bool accumulate) {
  detail::gemm_strided_a<Arch>(M, N, K, A, lda, 1, B, ldb, C, ldc, accumulate);
}

/// C[M x N] (+)= A[K x M]^T * B[K x N]   (A is stored K rows of M).
template <class Arch = DefaultArch>
inline void gemm_tn(std::size_t M, std::size_t N, std::size_t K, const float* A, std::size_t lda,
                    const float* B, std::size_t ldb, float* C, std::size_t ldc, bool accumulate) {
  detail::gemm_strided_a<Arch>(M, N, K, A, 1, lda, B, ldb, C, ldc, accumulate);
}

/// C[M x N] (+)= A[M x K] * B[N x K]^T   (dot products of rows of A with rows of B).
template <class Arch = DefaultArch>
inline void gemm_nt(std::size_t M, std::size_t N, std::size_t K, const float* A, std::size_t lda,
                    const float* B, std::size_t ldb, float* C, std::size_t ldc, bool accumulate) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  constexpr std::size_t NR = 4;  // rows of B sharing each load of A
  const std::size_t k_vector_end = K - K % W;
  for (std::size_t m = 0; m < M; ++m) {
    const float* a = A + m * lda;
    const std::size_t n_blocked_end = N - N % NR;
    for (std::size_t n = 0; n < n_blocked_end; n += NR) {
      V acc[NR];
      for (auto& x : acc) x = V(0.0f);
      for (std::size_t k = 0; k < k_vector_end; k += W) {
        const V ak = V::load_unaligned(a + k);
        for (std::size_t r = 0; r < NR; ++r)
          acc[r] = xsimd::fma(ak, V::load_unaligned(B + (n + r) * ldb + k), acc[r]);
      }
      for (std::size_t r = 0; r < NR; ++r) {
        float sum = xsimd::hadd(acc[r]);
        for (std::size_t k = k_vector_end; k < K; ++k) sum += a[k] * B[(n + r) * ldb + k];
        float& out = C[m * ldc + n + r];
        out = accumulate ? out + sum : sum;
      }
    }
    for (std::size_t n = n_blocked_end; n < N; ++n) {
      V acc(0.0f);
      for (std::size_t k = 0; k < k_vector_end; k += W)
        acc = xsimd::fma(V::load_unaligned(a + k), V::load_unaligned(B + n * ldb + k), acc);
      float sum = xsimd::hadd(acc);
      for (std::size_t k = k_vector_end; k < K; ++k) sum += a[k] * B[n * ldb + k];
      float& out = C[m * ldc + n];
      out = accumulate ? out + sum : sum;
    }
  }
}

/// out[N] (+)= sum over the M rows of A[M x N]   (the gradient of a bias).
template <class Arch = DefaultArch>
inline void column_sums(std::size_t M, std::size_t N, const float* A, std::size_t lda, float* out,
                        bool accumulate) {
  if (!accumulate) std::fill(out, out + N, 0.0f);
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  // Loop bounds computed up front: GCC 12 misreads a shared running index here (a false
  // -Waggressive-loop-optimizations warning), as in gemm_nt.
  const std::size_t vector_end = N - N % W;
  for (std::size_t n = 0; n < vector_end; n += W) {
    V acc = V::load_unaligned(out + n);
    for (std::size_t m = 0; m < M; ++m) acc += V::load_unaligned(A + m * lda + n);
    acc.store_unaligned(out + n);
  }
  for (std::size_t n = vector_end; n < N; ++n) {
    float sum = out[n];
    for (std::size_t m = 0; m < M; ++m) sum += A[m * lda + n];
    out[n] = sum;
  }
}

/// Add the row vector `row[N]` to every row of C[M x N].
template <class Arch = DefaultArch>
inline void add_row(std::size_t M, std::size_t N, const float* row, float* C, std::size_t ldc) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  const std::size_t vector_end = N - N % W;  // bounds up front, as in column_sums (GCC 12 warning)
  for (std::size_t m = 0; m < M; ++m) {
    float* c = C + m * ldc;
    for (std::size_t n = 0; n < vector_end; n += W)
      (V::load_unaligned(c + n) + V::load_unaligned(row + n)).store_unaligned(c + n);
    for (std::size_t n = vector_end; n < N; ++n) c[n] += row[n];
  }
}

}  // namespace deepjet::kernels
