// tests/test_fast_math.cpp: the accuracy and the special values that kernels/fast_math.hpp states,
// for each instruction set this binary can run (AVX2 with FMA, and AVX-512 where compiled for).
//
// The accuracy tests sweep every 64th float bit pattern over the range of each function (both signs;
// that includes zeros, subnormals and every binade) and compare with the C library in double
// precision. The bounds below are the ones stated in the header's contract.
#include "deepjet/kernels/elementwise.hpp"
#include "deepjet/kernels/fast_math.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace {

namespace fast_math = deepjet::kernels::fast_math;

// These maxima were measured, and hold on every machine with FMA because the results do not
// depend on the machine: each lane runs the same instructions, every multiply-add is an explicit
// fma, and the only other products are by powers of two (2^n built in the exponent bits), exact
// unless they underflow, where a fused 1 + p 2^n rounds to the same 1: the compiler's contraction
// (-ffp-contract) cannot change a bit.
// The bounds of the contract in fast_math.hpp, stated for instruction sets with an fma instruction:
// all those tested here when the build has AVX2. A build without AVX2 tests xsimd's default
// architecture, where fma may be a multiply and an add (SSE, AVX); the contract allows exp 1.2e-7
// there (and an ulp more in general).
#if XSIMD_WITH_FMA3_AVX2
constexpr double exp_max_relative_error = 1.0e-7;
#else
constexpr double exp_max_relative_error = 1.2e-7;
#endif
constexpr double expm1_max_relative_error = 1.3e-7;
constexpr double tanh_max_relative_error = 1.8e-7;
constexpr double tanh_max_absolute_error = 9.0e-8;
constexpr double sigmoid_max_relative_error = 1.6e-7;

constexpr std::uint32_t sweep_stride = 64;
constexpr float infinity = std::numeric_limits<float>::infinity();
constexpr float quiet_nan = std::numeric_limits<float>::quiet_NaN();

// The largest error seen in a sweep, and where.
struct WorstError {
  double error = 0.0;
  float at = 0.0f;
  void add(double e, float x) {
    if (e > error) {
      error = e;
      at = x;
    }
  }
};

// Calls check(x, f(x)) for every `stride`-th float bit pattern of magnitude up to max_magnitude,
// each with both signs, evaluating f on registers of Arch.
template <class Arch, class Function, class Check>
void sweep(float max_magnitude, std::uint32_t stride, Function f, Check check) {
  using Floats = xsimd::batch<float, Arch>;
  constexpr std::size_t lanes = Floats::size;
  alignas(64) float in[lanes] = {};
  alignas(64) float out[lanes];
  std::size_t filled = 0;
  auto evaluate = [&] {
    f(Floats::load_aligned(in)).store_aligned(out);
    for (std::size_t j = 0; j < filled; ++j) check(in[j], out[j]);
    filled = 0;
  };
  const std::uint64_t last = std::bit_cast<std::uint32_t>(max_magnitude);
  for (std::uint64_t pattern = 0; pattern <= last; pattern += stride) {
    const float magnitude = std::bit_cast<float>(static_cast<std::uint32_t>(pattern));
    for (const float x : {magnitude, -magnitude}) {
      in[filled++] = x;
      if (filled == lanes) evaluate();
    }
  }
  if (filled > 0) evaluate();
}

// f applied to each value through registers of Arch, the values spread over all lanes.
template <class Arch, class Function>
std::vector<float> apply(const std::vector<float>& values, Function f) {
  using Floats = xsimd::batch<float, Arch>;
  constexpr std::size_t lanes = Floats::size;
  std::vector<float> padded = values;
  padded.resize((values.size() + lanes - 1) / lanes * lanes, 0.0f);
  std::vector<float> result(padded.size());
  for (std::size_t i = 0; i < padded.size(); i += lanes)
    f(Floats::load_unaligned(padded.data() + i)).store_unaligned(result.data() + i);
  result.resize(values.size());
  return result;
}

double sigmoid_reference(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// How many elements of a and b differ in their bits (NaN included).
std::size_t count_differences(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  std::size_t differences = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i])) ++differences;
  return differences;
}

// The instruction sets under test, by name.
struct ArchitectureName {
  template <class Arch>
  static std::string GetName(int) {
    if (std::is_same_v<Arch, xsimd::avx512bw>) return "AVX512";
    if (std::is_same_v<Arch, xsimd::fma3<xsimd::avx2>>) return "AVX2";
    return Arch::name();
  }
};

template <class Arch>
class FastMath : public ::testing::Test {
 public:
  using Floats = xsimd::batch<float, Arch>;
};

using Architectures = ::testing::Types<
#if XSIMD_WITH_AVX512BW
    xsimd::avx512bw,
#endif
#if XSIMD_WITH_FMA3_AVX2
    xsimd::fma3<xsimd::avx2>
#else
    xsimd::default_arch  // a build without AVX2 (DEEPJET_NATIVE=OFF)
#endif
    >;
TYPED_TEST_SUITE(FastMath, Architectures, ArchitectureName);

TYPED_TEST(FastMath, ExpIsWithinItsBoundWhereTheResultIsANormalFloat) {
  using Floats = typename TestFixture::Floats;
  WorstError relative;
  sweep<TypeParam>(90.0f, sweep_stride, [](Floats x) { return fast_math::exp(x); }, [&](float x, float y) {
    const double exact = std::exp(static_cast<double>(x));
    if (exact > FLT_MAX) {
      EXPECT_EQ(y, infinity) << "x = " << x;
    } else if (exact < FLT_MIN) {
      // Flushed to +0; only next to the threshold may a value at most FLT_MIN come out instead.
      EXPECT_TRUE(y == 0.0f || (x > -87.34f && y > 0.0f && y <= FLT_MIN)) << "x = " << x << ", y = " << y;
    } else {
      relative.add(std::abs(y - exact) / exact, x);
    }
  });
  EXPECT_LE(relative.error, exp_max_relative_error) << "at x = " << relative.at;
}

TYPED_TEST(FastMath, Expm1IsWithinItsBoundEverywhereFinite) {
  using Floats = typename TestFixture::Floats;
  WorstError relative;
  sweep<TypeParam>(90.0f, sweep_stride, [](Floats x) { return fast_math::expm1(x); }, [&](float x, float y) {
    const double exact = std::expm1(static_cast<double>(x));
    if (exact > FLT_MAX) {
      EXPECT_EQ(y, infinity) << "x = " << x;
    } else if (std::abs(x) < FLT_MIN) {
      // Subnormal x: e^x - 1 = x, but the last bit may be lost (halved, then doubled).
      EXPECT_LE(std::abs(y - x), std::numeric_limits<float>::denorm_min()) << "x = " << x;
    } else {
      relative.add(std::abs(y - exact) / std::abs(exact), x);
    }
    if (x < -17.4f) {
      EXPECT_EQ(y, -1.0f) << "x = " << x;
    }
  });
  EXPECT_LE(relative.error, expm1_max_relative_error) << "at x = " << relative.at;
}

TYPED_TEST(FastMath, TanhIsWithinItsBoundsOverAllFloats) {
  using Floats = typename TestFixture::Floats;
  WorstError relative;
  WorstError absolute;
  // Every 64th pattern up to |x| = 12 (from 9.1 on the result is +-1 exactly), every 4096th beyond.
  auto check = [&](float x, float y) {
    const double exact = std::tanh(static_cast<double>(x));
    absolute.add(std::abs(y - exact), x);
    if (exact != 0.0) relative.add(std::abs(y - exact) / std::abs(exact), x);
    if (std::abs(x) >= 9.1f) {
      EXPECT_EQ(y, std::copysign(1.0f, x)) << "x = " << x;
    }
  };
  sweep<TypeParam>(12.0f, sweep_stride, [](Floats x) { return fast_math::tanh(x); }, check);
  sweep<TypeParam>(FLT_MAX, 4096, [](Floats x) { return fast_math::tanh(x); }, check);
  EXPECT_LE(relative.error, tanh_max_relative_error) << "at x = " << relative.at;
  EXPECT_LE(absolute.error, tanh_max_absolute_error) << "at x = " << absolute.at;
}

TYPED_TEST(FastMath, SigmoidIsWithinItsBoundWhereTheResultIsANormalFloat) {
  using Floats = typename TestFixture::Floats;
  WorstError relative;
  auto check = [&](float x, float y) {
    const double exact = sigmoid_reference(x);
    if (exact < FLT_MIN) {
      EXPECT_TRUE(y >= 0.0f && y <= FLT_MIN) << "x = " << x << ", y = " << y;
    } else {
      relative.add(std::abs(y - exact) / exact, x);
    }
    if (x > 16.7f) {
      EXPECT_EQ(y, 1.0f) << "x = " << x;
    }
    if (x < -88.73f) {
      EXPECT_EQ(y, 0.0f) << "x = " << x;
    }
  };
  sweep<TypeParam>(100.0f, sweep_stride, [](Floats x) { return fast_math::sigmoid(x); }, check);
  sweep<TypeParam>(FLT_MAX, 4096, [](Floats x) { return fast_math::sigmoid(x); }, check);
  EXPECT_LE(relative.error, sigmoid_max_relative_error) << "at x = " << relative.at;
}

// Each special value below sits in a register beside others, so this also checks that lanes do
// not influence each other.
TYPED_TEST(FastMath, ExpOfSpecialValues) {
  using Floats = typename TestFixture::Floats;
  const std::vector<float> x = {0.0f, -0.0f, infinity, -infinity, 100.0f, -100.0f, FLT_MAX, -FLT_MAX,
                                FLT_MIN, std::numeric_limits<float>::denorm_min(), 1e-30f, 88.72283f, -87.33654f};
  const std::vector<float> y = apply<TypeParam>(x, [](Floats v) { return fast_math::exp(v); });
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 1.0f);
  EXPECT_EQ(y[2], infinity);
  EXPECT_EQ(y[3], 0.0f);
  EXPECT_EQ(y[4], infinity);
  EXPECT_EQ(y[5], 0.0f);
  EXPECT_EQ(y[6], infinity);
  EXPECT_EQ(y[7], 0.0f);
  EXPECT_EQ(y[8], 1.0f);
  EXPECT_EQ(y[9], 1.0f);
  EXPECT_EQ(y[10], 1.0f);
  // The largest argument with a finite result, and about the smallest with a normal one.
  EXPECT_NEAR(y[11] / std::exp(static_cast<double>(x[11])), 1.0, exp_max_relative_error);
  EXPECT_NEAR(y[12] / std::exp(static_cast<double>(x[12])), 1.0, exp_max_relative_error);
  for (const float nan : {quiet_nan, -quiet_nan})
    EXPECT_TRUE(std::isnan(apply<TypeParam>({1.0f, nan, -1.0f}, [](Floats v) { return fast_math::exp(v); })[1]));
}

TYPED_TEST(FastMath, Expm1OfSpecialValues) {
  using Floats = typename TestFixture::Floats;
  const std::vector<float> x = {0.0f, infinity, -infinity, 100.0f, -100.0f, 1e-30f, -1e-30f, 1e-6f, FLT_MIN};
  const std::vector<float> y = apply<TypeParam>(x, [](Floats v) { return fast_math::expm1(v); });
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], infinity);
  EXPECT_EQ(y[2], -1.0f);
  EXPECT_EQ(y[3], infinity);
  EXPECT_EQ(y[4], -1.0f);
  EXPECT_EQ(y[5], 1e-30f);
  EXPECT_EQ(y[6], -1e-30f);
  EXPECT_NEAR(y[7] / std::expm1(1e-6), 1.0, expm1_max_relative_error);
  EXPECT_EQ(y[8], FLT_MIN);
  EXPECT_TRUE(std::isnan(apply<TypeParam>({1.0f, quiet_nan}, [](Floats v) { return fast_math::expm1(v); })[1]));
}

TYPED_TEST(FastMath, TanhOfSpecialValues) {
  using Floats = typename TestFixture::Floats;
  const std::vector<float> x = {0.0f, -0.0f, infinity, -infinity, 20.0f, -20.0f, FLT_MAX, -FLT_MAX,
                                1e-6f, -1e-6f, std::numeric_limits<float>::denorm_min(), -FLT_MIN};
  const std::vector<float> y = apply<TypeParam>(x, [](Floats v) { return fast_math::tanh(v); });
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_FALSE(std::signbit(y[0]));
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_TRUE(std::signbit(y[1]));
  EXPECT_EQ(y[2], 1.0f);
  EXPECT_EQ(y[3], -1.0f);
  EXPECT_EQ(y[4], 1.0f);
  EXPECT_EQ(y[5], -1.0f);
  EXPECT_EQ(y[6], 1.0f);
  EXPECT_EQ(y[7], -1.0f);
  // Near 0, tanh(x) = x - x^3 / 3: relative accuracy, not 0.
  EXPECT_NEAR(y[8] / std::tanh(1e-6), 1.0, tanh_max_relative_error);
  EXPECT_NEAR(y[9] / std::tanh(-1e-6), 1.0, tanh_max_relative_error);
  EXPECT_EQ(y[10], std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(y[11], -FLT_MIN);
  for (const float nan : {quiet_nan, -quiet_nan})
    EXPECT_TRUE(std::isnan(apply<TypeParam>({1.0f, nan}, [](Floats v) { return fast_math::tanh(v); })[1]));
}

TYPED_TEST(FastMath, SigmoidOfSpecialValues) {
  using Floats = typename TestFixture::Floats;
  const std::vector<float> x = {0.0f, -0.0f, infinity, -infinity, 100.0f, -100.0f, FLT_MAX, -FLT_MAX, 1e-30f, -50.0f};
  const std::vector<float> y = apply<TypeParam>(x, [](Floats v) { return fast_math::sigmoid(v); });
  EXPECT_EQ(y[0], 0.5f);
  EXPECT_EQ(y[1], 0.5f);
  EXPECT_EQ(y[2], 1.0f);
  EXPECT_EQ(y[3], 0.0f);
  EXPECT_EQ(y[4], 1.0f);
  EXPECT_EQ(y[5], 0.0f);
  EXPECT_EQ(y[6], 1.0f);
  EXPECT_EQ(y[7], 0.0f);
  EXPECT_EQ(y[8], 0.5f);
  // Far in the lower tail the result is tiny but keeps its relative accuracy.
  EXPECT_NEAR(y[9] / sigmoid_reference(-50.0), 1.0, sigmoid_max_relative_error);
  EXPECT_TRUE(std::isnan(apply<TypeParam>({1.0f, quiet_nan}, [](Floats v) { return fast_math::sigmoid(v); })[1]));
}

// The activation functions the layers call are these (bit for bit), on any register.
TYPED_TEST(FastMath, ActivationFunctionsUseThem) {
  using Floats = typename TestFixture::Floats;
  std::vector<float> x;
  for (float v = -30.0f; v <= 30.0f; v += 0.37f) x.push_back(v);
  using deepjet::kernels::EluFunction;
  using deepjet::kernels::SigmoidFunction;
  using deepjet::kernels::TanhFunction;
  EXPECT_EQ(count_differences(apply<TypeParam>(x, [](Floats v) { return TanhFunction::value(v); }),
                              apply<TypeParam>(x, [](Floats v) { return fast_math::tanh(v); })),
            0u);
  EXPECT_EQ(count_differences(apply<TypeParam>(x, [](Floats v) { return SigmoidFunction::value(v); }),
                              apply<TypeParam>(x, [](Floats v) { return fast_math::sigmoid(v); })),
            0u);
  EXPECT_EQ(count_differences(apply<TypeParam>(x, [](Floats v) { return EluFunction::value(v); }),
                              apply<TypeParam>(x, [](Floats v) {
                                return xsimd::select(v > Floats(0.0f), v, fast_math::expm1(v));
                              })),
            0u);
}

// The same code on both instruction sets: every lane is computed with the same operations, so
// AVX2 and AVX-512 agree bit for bit.
#if XSIMD_WITH_AVX512BW
TEST(FastMathInstructionSets, Avx2AndAvx512GiveTheSameBits) {
  using Wide = xsimd::batch<float, xsimd::avx512bw>;
  using Narrow = xsimd::batch<float, xsimd::fma3<xsimd::avx2>>;
  std::vector<float> x;
  for (std::uint32_t pattern = 0; pattern < 0x7f800000u; pattern += 4093) {
    x.push_back(std::bit_cast<float>(pattern));
    x.push_back(-std::bit_cast<float>(pattern));
  }
  EXPECT_EQ(count_differences(apply<xsimd::avx512bw>(x, [](Wide v) { return fast_math::exp(v); }),
                              apply<xsimd::fma3<xsimd::avx2>>(x, [](Narrow v) { return fast_math::exp(v); })),
            0u);
  EXPECT_EQ(count_differences(apply<xsimd::avx512bw>(x, [](Wide v) { return fast_math::expm1(v); }),
                              apply<xsimd::fma3<xsimd::avx2>>(x, [](Narrow v) { return fast_math::expm1(v); })),
            0u);
  EXPECT_EQ(count_differences(apply<xsimd::avx512bw>(x, [](Wide v) { return fast_math::tanh(v); }),
                              apply<xsimd::fma3<xsimd::avx2>>(x, [](Narrow v) { return fast_math::tanh(v); })),
            0u);
  EXPECT_EQ(count_differences(apply<xsimd::avx512bw>(x, [](Wide v) { return fast_math::sigmoid(v); }),
                              apply<xsimd::fma3<xsimd::avx2>>(x, [](Narrow v) { return fast_math::sigmoid(v); })),
            0u);
}
#endif

}  // namespace
