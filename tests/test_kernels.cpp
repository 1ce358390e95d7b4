// Kernels against Eigen's products and the C library's functions, over awkward sizes (tails of
// every register width, single rows and columns).
#include <deepjet/kernels/elementwise.hpp>
#include <deepjet/kernels/gemm.hpp>
#include <deepjet/core/random.hpp>

#include <Eigen/Dense>
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <tuple>
#include <vector>

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

RowMatrix random_matrix(std::size_t rows, std::size_t cols, deepjet::Random& random) {
  RowMatrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = random.uniform(-1.0f, 1.0f);
  return m;
}

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// gamma_n = n u / (1 - n u): the relative bound of n roundings to nearest (Higham, Accuracy and
// Stability of Numerical Algorithms, 3.1), u the unit roundoff.
double gamma(int n, double u) { return n * u / (1.0 - n * u); }
constexpr double float_u = 0x1.0p-24, double_u = 0x1.0p-53;

// Every element within its own rounding bound. A dot product of K terms accumulated in float, in
// any order and any blocking of K, with or without FMA, has |error| <= gamma_K sum_k |a_ik b_kj|;
// accumulating into C adds a rounding, and summing K blocks separately one more: gamma_(K+2) over
// sum|terms| (+ |c_ij|) holds for every instruction set. `exact` is computed in double (products
// of floats are exact there; its sums add gamma_K in double, negligible but counted).
void expect_matrix_near(const RowMatrix& actual, const RowMatrixD& exact, const RowMatrixD& magnitude, int K) {
  ASSERT_EQ(actual.rows(), exact.rows());
  ASSERT_EQ(actual.cols(), exact.cols());
  const double bound = gamma(K + 2, float_u) + gamma(K + 1, double_u);
  for (Eigen::Index i = 0; i < actual.size(); ++i)
    ASSERT_NEAR(actual.data()[i], exact.data()[i], bound * magnitude.data()[i]) << "element " << i;
}

// The register width the kernels were compiled for: 16 floats with AVX-512, 8 with AVX2. The
// AVX2 build of this file (deepjet_test_kernels_avx2) states what it must get.
TEST(Kernels, InstructionSetIsTheOneCompiledFor) {
  std::printf("kernels: %s, %zu floats per register\n", deepjet::kernels::DefaultArch::name(),
              deepjet::kernels::lanes<deepjet::kernels::DefaultArch>);
#ifdef DEEPJET_EXPECTED_FLOAT_LANES
  EXPECT_EQ(deepjet::kernels::lanes<deepjet::kernels::DefaultArch>, std::size_t{DEEPJET_EXPECTED_FLOAT_LANES});
#endif
#if defined(__AVX512F__)
  EXPECT_EQ(deepjet::kernels::lanes<deepjet::kernels::DefaultArch>, 16u);
#endif
}

class GemmSizes : public ::testing::TestWithParam<std::tuple<int, int, int>> {};

TEST_P(GemmSizes, AllThreeProductsMatchEigen) {
  const auto [M, N, K] = GetParam();
  deepjet::Random random(static_cast<std::uint64_t>(M * 10000 + N * 100 + K));
  const RowMatrix A = random_matrix(M, K, random);
  const RowMatrix B = random_matrix(K, N, random);
  const RowMatrix At = A.transpose();
  const RowMatrix Bt = B.transpose();
  const RowMatrix C0 = random_matrix(M, N, random);
  // The exact product (in double; products of floats are exact there) and sum_k |a_ik b_kj|.
  const RowMatrixD Ad = A.cast<double>(), Bd = B.cast<double>(), C0d = C0.cast<double>();
  const RowMatrixD expected = Ad * Bd;
  const RowMatrixD magnitude = Ad.cwiseAbs() * Bd.cwiseAbs();
  const RowMatrixD magnitude_accumulated = magnitude + C0d.cwiseAbs();

  RowMatrix C = C0;
  deepjet::kernels::gemm_nn(M, N, K, A.data(), K, B.data(), N, C.data(), N, false);
  expect_matrix_near(C, expected, magnitude, K);
  C = C0;
  deepjet::kernels::gemm_nn(M, N, K, A.data(), K, B.data(), N, C.data(), N, true);
  expect_matrix_near(C, C0d + expected, magnitude_accumulated, K);

  C = C0;
  deepjet::kernels::gemm_tn(M, N, K, At.data(), M, B.data(), N, C.data(), N, false);
  expect_matrix_near(C, expected, magnitude, K);
  C = C0;
  deepjet::kernels::gemm_tn(M, N, K, At.data(), M, B.data(), N, C.data(), N, true);
  expect_matrix_near(C, C0d + expected, magnitude_accumulated, K);

  C = C0;
  deepjet::kernels::gemm_nt(M, N, K, A.data(), K, Bt.data(), K, C.data(), N, false);
  expect_matrix_near(C, expected, magnitude, K);
  C = C0;
  deepjet::kernels::gemm_nt(M, N, K, A.data(), K, Bt.data(), K, C.data(), N, true);
  expect_matrix_near(C, C0d + expected, magnitude_accumulated, K);
}

INSTANTIATE_TEST_SUITE_P(Kernels, GemmSizes,
                         ::testing::Values(std::make_tuple(1, 1, 1), std::make_tuple(1, 200, 265),
                                           std::make_tuple(7, 3, 5), std::make_tuple(4, 16, 16),
                                           std::make_tuple(5, 17, 9), std::make_tuple(33, 47, 31),
                                           std::make_tuple(64, 64, 64), std::make_tuple(13, 100, 150),
                                           std::make_tuple(3, 0, 4), std::make_tuple(0, 5, 4),
                                           std::make_tuple(6, 8, 0),
                                           // K in several blocks (256 rows; 128 for gemm_nt), odd panels
                                           std::make_tuple(7, 150, 600), std::make_tuple(3, 8, 700),
                                           std::make_tuple(13, 65, 257), std::make_tuple(1, 600, 158)));

// The masked loads and stores of the last register of a row touch exactly the lanes asked for.
TEST(Kernels, PartialLoadsAndStoresTouchOnlyTheirLanes) {
  using Arch = deepjet::kernels::DefaultArch;
  constexpr std::size_t W = deepjet::kernels::lanes<Arch>;
  for (std::size_t n = 1; n <= W; ++n) {
    std::vector<float> source(2 * W), target(2 * W, -7.0f);
    for (std::size_t i = 0; i < source.size(); ++i) source[i] = static_cast<float>(i + 1);
    const auto loaded = deepjet::kernels::load_first<Arch>(source.data() + 1, n);
    alignas(64) float lanes[W];
    loaded.store_aligned(lanes);
    for (std::size_t i = 0; i < W; ++i) EXPECT_EQ(lanes[i], i < n ? source[1 + i] : 0.0f) << n << " lanes, lane " << i;
    deepjet::kernels::store_first<Arch>(target.data() + 1, loaded + deepjet::kernels::Floats<Arch>(1.0f), n);
    for (std::size_t i = 0; i < target.size(); ++i)
      EXPECT_EQ(target[i], i >= 1 && i <= n ? source[i] + 1.0f : -7.0f) << n << " lanes, element " << i;
  }
}

TEST(Kernels, ColumnSumsAndAddRow) {
  deepjet::Random random(3);
  const RowMatrix A = random_matrix(9, 37, random);
  std::vector<float> sums(37, 1.0f);
  // 9 (10 with the 1 accumulated into) float terms summed in any order: |error| <= gamma_9 sum|terms|
  // against the sum in double, which is exact here (floats in [-1, 1] of at most 24 bits).
  const Eigen::MatrixXd Ad = A.cast<double>();
  deepjet::kernels::column_sums(9, 37, A.data(), 37, sums.data(), true);
  for (int n = 0; n < 37; ++n)
    EXPECT_NEAR(sums[n], 1.0 + Ad.col(n).sum(), gamma(9, float_u) * (1.0 + Ad.col(n).cwiseAbs().sum()));
  deepjet::kernels::column_sums(9, 37, A.data(), 37, sums.data(), false);
  for (int n = 0; n < 37; ++n)
    EXPECT_NEAR(sums[n], Ad.col(n).sum(), gamma(8, float_u) * Ad.col(n).cwiseAbs().sum());

  RowMatrix C = A;
  deepjet::kernels::add_row(9, 37, sums.data(), C.data(), 37);
  // One float addition on both sides, correctly rounded by IEEE 754 on every machine: bit-equal.
  for (int m = 0; m < 9; ++m)
    for (int n = 0; n < 37; ++n) EXPECT_EQ(C(m, n), A(m, n) + sums[n]);
}

template <class Function>
void check_activation(double (*reference)(double), double (*derivative)(double)) {
  std::vector<float> x(71), y(71), dy(71), dx(71);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = -9.0f + 0.25f * static_cast<float>(i) + 0.01f;
    dy[i] = 0.5f + 0.01f * static_cast<float>(i);
  }
  deepjet::kernels::activation_forward<Function>(x.data(), y.data(), x.size());
  deepjet::kernels::activation_backward<Function>(y.data(), dy.data(), dx.data(), x.size());
  // The functions of fast_math.hpp are within 1.8e-7 relative (tanh also 9e-8 absolute) of the
  // exact ones, computed by the same instructions on every machine with FMA (test_fast_math);
  // 2e-6 is their contract's bound, not a measurement. dx = dy f'(from y): the error of y (a few
  // 1e-7 of |f'| <= 1), three roundings and |dy| <= 1.2 stay far below 1e-5.
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(y[i], reference(x[i]), 2e-6 * std::max(1.0, std::abs(reference(x[i])))) << Function::name << " at " << x[i];
    EXPECT_NEAR(dx[i], dy[i] * derivative(x[i]), 1e-5) << Function::name << "' at " << x[i];
  }
}

TEST(Kernels, ActivationsMatchTheCLibrary) {
  check_activation<deepjet::kernels::LinearFunction>([](double v) { return v; }, [](double) { return 1.0; });
  check_activation<deepjet::kernels::ReluFunction>([](double v) { return std::max(v, 0.0); },
                                                   [](double v) { return v > 0 ? 1.0 : 0.0; });
  check_activation<deepjet::kernels::EluFunction>([](double v) { return v > 0 ? v : std::expm1(v); },
                                                  [](double v) { return v > 0 ? 1.0 : std::exp(v); });
  check_activation<deepjet::kernels::TanhFunction>([](double v) { return std::tanh(v); },
                                                   [](double v) { return 1.0 - std::tanh(v) * std::tanh(v); });
  check_activation<deepjet::kernels::SigmoidFunction>(
      [](double v) { return 1.0 / (1.0 + std::exp(-v)); },
      [](double v) { const double s = 1.0 / (1.0 + std::exp(-v)); return s * (1.0 - s); });
}

TEST(Kernels, SoftmaxRowsSumToOneAndSurviveLargeInputs) {
  std::vector<float> x = {1000.0f, 1001.0f, 999.0f, -5.0f, 0.0f, 5.0f};
  std::vector<float> y(6);
  deepjet::kernels::softmax_forward(x.data(), y.data(), 2, 3);
  // Each probability is exp (1.0e-7 relative), a sum of three and a division (u = 6e-8 each) away
  // from exact, and the test adds three floats (2 u): the sum is within 5e-7 of 1 on any machine.
  for (int r = 0; r < 2; ++r) {
    EXPECT_NEAR(y[3 * r] + y[3 * r + 1] + y[3 * r + 2], 1.0f, 1e-6f);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(std::isfinite(y[3 * r + i]));
  }
  EXPECT_NEAR(y[1], 1.0 / (1.0 + std::exp(-1.0) + std::exp(-2.0)), 1e-6);
}

}  // namespace
