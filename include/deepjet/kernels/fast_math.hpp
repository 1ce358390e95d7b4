// deepjet/kernels/fast_math.hpp: exp, expm1, tanh and sigmoid on SIMD registers, without branches.
//
// Contract: fast_math::exp, expm1, tanh and sigmoid take and return xsimd::batch<float, Arch> for
// any xsimd architecture. Each lane is computed on its own by the same instructions (no branch, no
// table), so all instruction sets with FMA give the same bits (AVX2 and AVX-512 are checked; where
// xsimd emulates fma by a multiply and an add, as on SSE and AVX, exp's error grows to 1.2e-7 and
// the others stay within their bounds, every 64th float checked). Error against the exact function
// (std::exp, std::expm1, std::tanh in double), measured over EVERY float in the range, AVX2 and
// AVX-512 alike (tests/test_fast_math.cpp asserts these bounds over every 64th float):
//
//   function  range of x                         max relative error     max absolute error
//   exp       [-87.336, 88.722] (normal results)  1.0e-7  (1.6 ulp)
//   expm1     [-90, 88.722], |x| >= FLT_MIN       1.3e-7  (1.6 ulp)
//   tanh      all floats                          1.8e-7  (2.5 ulp)      9.0e-8
//   sigmoid   [-87.336, +inf) (normal results)    1.6e-7  (2.7 ulp)
//
// For comparison, xsimd 8.1's exp, expm1, tanh and 1 / (1 + exp(-x)): 1.3e-7, 1.2e-7, 1.4e-7
// (absolute 7.9e-8) and 1.8e-7 (every 16th float). Limits and special values:
//   exp:     +0 where e^x is below FLT_MIN (x < -87.336, and -inf): no subnormal results, which are
//            slow to compute with on x86; +inf where it overflows (x > 88.7228, and +inf);
//            exp(+-0) = 1 exactly.
//   expm1:   -1 for x < -17.4 (where e^x - 1 rounds to -1, and -inf); +inf where e^x overflows;
//            expm1(+-0) = +0; for subnormal x the last bit may be lost.
//   tanh:    exactly +-1 for |x| >= 9.1 (and +-inf); odd, tanh(-0) = -0; relative accuracy near 0
//            (tanh(1e-6) = 1e-6, subnormals come back unchanged).
//   sigmoid: exactly 1 for x > 16.7; 0.5 at +-0; subnormal for x in [-88.72, -87.34], +0 below
//            (and at -inf), never NaN.
//   NaN in, NaN out, for all four.
// Speed, ns per element (one core of this Skylake-SP, thread CPU time, 4096 inputs
// uniform in [-8, 8]; benchmarks/kernels/fast_math_benchmark.cpp, AVX2 from its -mno-avx512f build):
//                       AVX-512: xsimd   here              AVX2: xsimd   here
//   exp                          0.22    0.18  (1.2x)            0.33    0.27  (1.2x)
//   expm1                        0.37    0.19  (2.0x)            0.52    0.26  (2.0x)
//   tanh                         0.43    0.27  (1.6x)            0.57    0.34  (1.7x)
//   sigmoid                      0.30    0.26  (1.2x)            0.36    0.30  (1.2x)
//   tanh, inputs in [-0.5, 0.5]  0.13    0.31  (0.4x)            0.19    0.36  (0.5x)
// (the last row: where every lane of a register is below 0.625, xsimd's tanh branches to a short
// polynomial; here the cost does not depend on the values).
//
// How: x = n ln2 + r with n an integer (rounded by adding a large constant, which leaves n in the
// low mantissa bits) and r small (Cody-Waite: ln2 in two parts, so that n ln2 is subtracted
// without error); e^r or e^r - 1 from a polynomial; 2^n built directly in a float's exponent bits.
// The polynomials are minimax fits for relative error (Remez exchange in double precision), their
// coefficients rounded to float. tanh and sigmoid are built on these with one division each: on
// AVX-512 a division is 3 micro-ops, fewer than a reciprocal estimate and its refinement.
#pragma once

#include "deepjet/kernels/simd.hpp"  // xsimd, DEEPJET_ALWAYS_INLINE

#include <cstdint>

// Every function is force-inlined: the kernels call them on registers inside register-blocked
// loops, which must stay in registers at -O2.
namespace deepjet::kernels::fast_math {

namespace detail {

inline constexpr float log2_of_e = 1.44269504088896341f;
// ln 2 = ln2_high + ln2_low. ln2_high has only 15 significant bits, so n * ln2_high is exact for
// |n| < 512 even where xsimd emulates fma with a multiply and an add (SSE, AVX without FMA).
inline constexpr float ln2_high = 0.693145751953125f;
inline constexpr float ln2_low = 1.42860682030941723212e-6f;

// x clamped to [low, high], NaN kept. x86's min/max return their *second* operand when either is
// NaN (and ARM's propagate NaN), so x goes second.
template <class Arch>
DEEPJET_ALWAYS_INLINE xsimd::batch<float, Arch> clamp_keeping_nan(xsimd::batch<float, Arch> x, float low, float high) {
  using Floats = xsimd::batch<float, Arch>;
  return xsimd::min(Floats(high), xsimd::max(Floats(low), x));
}

// Rounding by the shift trick: for |v| < 2^21 and bias in [0, 2^21), the float sum
// v + 1.5 * 2^23 + bias lies in [2^23, 2^24), where floats are the integers, so it is
// round(v) + 1.5 * 2^23 + bias and its low mantissa bits hold round(v) + bias. Subtracting the
// constant again gives round(v) as a float; shifting those bits up into the exponent field gives
// the power of two 2^(round(v) + bias - 127).
template <int Bias>
inline constexpr float rounding_shift = 0x1.8p23f + static_cast<float>(Bias);

// 2^(n + bias - 127) from v + rounding_shift<bias> = n + rounding_shift<bias>, for
// n + bias in [0, 255]: 0 gives +0 (exponent field 0, mantissa 0) and 255 gives +inf.
template <class Arch>
DEEPJET_ALWAYS_INLINE xsimd::batch<float, Arch> power_of_two_from_shifted(xsimd::batch<float, Arch> shifted) {
  using Ints = xsimd::batch<std::int32_t, Arch>;
  return xsimd::bitwise_cast<xsimd::batch<float, Arch>>(xsimd::bitwise_cast<Ints>(shifted) << 23);
}

// e^r for r in [0, ln 2] (a little outside is fine): c0 + c1 r + ... + c6 r^6, relative error
// 1.1e-8 with these float coefficients (minimax; c0 rounds to exactly 1, so exp(0) = 1).
template <class Arch>
DEEPJET_ALWAYS_INLINE xsimd::batch<float, Arch> exp_of_reduced(xsimd::batch<float, Arch> r) {
  using Floats = xsimd::batch<float, Arch>;
  Floats p(0x1.007c2cp-9f);
  p = xsimd::fma(p, r, Floats(0x1.fd8562p-8f));
  p = xsimd::fma(p, r, Floats(0x1.577ce8p-5f));
  p = xsimd::fma(p, r, Floats(0x1.5534a4p-3f));
  p = xsimd::fma(p, r, Floats(0x1.0000e8p-1f));
  p = xsimd::fma(p, r, Floats(0x1.fffff6p-1f));
  return xsimd::fma(p, r, Floats(1.0f));
}

// e^r - 1 for |r| <= ln2 / 2 as r + r^2 q(r), q a minimax fit of (e^r - 1 - r) / r^2 (relative
// error 1.3e-7 in q, hence at most 2.3e-8 in e^r - 1). Exact for r = 0 and relative near it.
template <class Arch>
DEEPJET_ALWAYS_INLINE xsimd::batch<float, Arch> expm1_of_reduced(xsimd::batch<float, Arch> r) {
  using Floats = xsimd::batch<float, Arch>;
  Floats q(0x1.6c69f2p-10f);
  q = xsimd::fma(q, r, Floats(0x1.120b1cp-7f));
  q = xsimd::fma(q, r, Floats(0x1.5555bap-5f));
  q = xsimd::fma(q, r, Floats(0x1.5554dep-3f));
  q = xsimd::fma(q, r, Floats(0.5f));
  return xsimd::fma(r * r, q, r);
}

// x - n ln2, accurate to a rounding of the result (see ln2_high).
template <class Arch>
DEEPJET_ALWAYS_INLINE xsimd::batch<float, Arch> reduce(xsimd::batch<float, Arch> x, xsimd::batch<float, Arch> n) {
  using Floats = xsimd::batch<float, Arch>;
  // fma with negated constants rather than fnma: xsimd's AVX-512 fnma negates n with an extra
  // instruction.
  const Floats r = xsimd::fma(n, Floats(-ln2_high), x);
  return xsimd::fma(n, Floats(-ln2_low), r);
}

// e^x - 1 for x in [-87, 87]: n = round(x / ln2) in [-126, 126] keeps 2^n a normal float, and
// 2^n (e^r - 1) + (2^n - 1) has no cancellation for n = 0, where the result is small.
template <class Arch>
DEEPJET_ALWAYS_INLINE xsimd::batch<float, Arch> expm1_of_moderate(xsimd::batch<float, Arch> x) {
  using Floats = xsimd::batch<float, Arch>;
  const Floats shifted = xsimd::fma(x, Floats(log2_of_e), Floats(rounding_shift<127>));
  const Floats n = shifted - Floats(rounding_shift<127>);
  const Floats scale = power_of_two_from_shifted(shifted);
  return xsimd::fma(scale, expm1_of_reduced(reduce(x, n)), scale - Floats(1.0f));
}

}  // namespace detail

/// e^x.
template <class Arch>
DEEPJET_ALWAYS_INLINE xsimd::batch<float, Arch> exp(xsimd::batch<float, Arch> x) {
  using Floats = xsimd::batch<float, Arch>;
  // In [-88, 89], n = floor(x / ln2) is in [-127, 128], and 2^n is +0 below e^x = FLT_MIN
  // (n = -127) and +inf above FLT_MAX (n = 128), with no further test. floor(v) is taken as
  // round(v - 1/2): where v - 1/2 is a tie, n is one less than floor(v) and r = ln2, still fine.
  x = detail::clamp_keeping_nan(x, -88.0f, 89.0f);
  const Floats shifted =
      xsimd::fma(x, Floats(detail::log2_of_e), Floats(-0.5f)) + Floats(detail::rounding_shift<127>);
  const Floats n = shifted - Floats(detail::rounding_shift<127>);
  return detail::exp_of_reduced(detail::reduce(x, n)) * detail::power_of_two_from_shifted(shifted);
}

/// e^x - 1, accurate in relative terms for small x too.
template <class Arch>
DEEPJET_ALWAYS_INLINE xsimd::batch<float, Arch> expm1(xsimd::batch<float, Arch> x) {
  using Floats = xsimd::batch<float, Arch>;
  // Below -17.4 the result rounds to -1 (clamping at -20 changes nothing). Up to 89,
  // n = round(x / ln2) is at most 128; 2^(n - 1) is then still a float, and the result is
  // 2 (2^(n-1) (e^r - 1) + 2^(n-1) - 1/2), which overflows to +inf in the last doubling exactly
  // when e^x does.
  x = detail::clamp_keeping_nan(x, -20.0f, 89.0f);
  const Floats shifted = xsimd::fma(x, Floats(detail::log2_of_e), Floats(detail::rounding_shift<126>));
  const Floats n = shifted - Floats(detail::rounding_shift<126>);
  const Floats half_scale = detail::power_of_two_from_shifted(shifted);
  const Floats em1 =
      xsimd::fma(half_scale, detail::expm1_of_reduced(detail::reduce(x, n)), half_scale - Floats(0.5f));
  return em1 + em1;
}

/// tanh(x) = (e^2x - 1) / (e^2x + 1), written with m = e^2x - 1 as m / (m + 2), which keeps its
/// relative accuracy near 0 (m is computed without cancellation there).
template <class Arch>
DEEPJET_ALWAYS_INLINE xsimd::batch<float, Arch> tanh(xsimd::batch<float, Arch> x) {
  using Floats = xsimd::batch<float, Arch>;
  // The quotient is computed for |x| and given the sign of x: m / (m + 2) for m >= 0 is the more
  // accurate side (no cancellation in m + 2), and tanh(-0) = -0 comes out right.
  // Clamping at 10, where m + 2 rounds to m = e^20 - 1, gives exactly 1 beyond, where tanh rounds
  // to 1 anyway (from 9.01 on). min keeps NaN (see clamp_keeping_nan).
  const Floats magnitude = xsimd::min(Floats(10.0f), xsimd::abs(x));
  const Floats m = detail::expm1_of_moderate(magnitude + magnitude);
  return xsimd::copysign(m / (m + Floats(2.0f)), x);
}

/// 1 / (1 + e^-x).
template <class Arch>
DEEPJET_ALWAYS_INLINE xsimd::batch<float, Arch> sigmoid(xsimd::batch<float, Arch> x) {
  using Floats = xsimd::batch<float, Arch>;
  // exp(-x) is +inf for x < -88.72, and 1 / inf = +0; for x > 87.3, exp(-x) = 0 and the result is
  // exactly 1 (it is from 16.7 on, where 1 + e^-x rounds to 1).
  return Floats(1.0f) / (Floats(1.0f) + fast_math::exp(-x));
}

}  // namespace deepjet::kernels::fast_math
