// Layers: finite-difference gradient checks, and agreement with PyTorch on the same numbers.
#include "support/fixtures.hpp"
#include "support/gradient_check.hpp"

#include <deepjet/deepjet.hpp>

#include <gtest/gtest.h>

namespace {

using deepjet::test::check_layer_gradients;
using deepjet::test::expect_close;
using deepjet::test::expect_within_rounding;
using deepjet::test::foundation_fixtures;

TEST(GradientCheck, Dense) { check_layer_gradients<deepjet::DenseLayer<7, 5>>(); }
TEST(GradientCheck, DenseWideAndOneSample) {
  check_layer_gradients<deepjet::DenseLayer<33, 20>>({.batch = 1});
}
TEST(GradientCheck, Relu) {
  check_layer_gradients<deepjet::ActivationLayer<deepjet::Shape<4, 5>, deepjet::kernels::ReluFunction>>({.input_gap = 0.05f});
}
TEST(GradientCheck, Elu) {
  check_layer_gradients<deepjet::ActivationLayer<deepjet::Shape<17>, deepjet::kernels::EluFunction>>(
      {.input_scale = 3.0f, .input_gap = 0.05f});
}
TEST(GradientCheck, Tanh) {
  check_layer_gradients<deepjet::ActivationLayer<deepjet::Shape<17>, deepjet::kernels::TanhFunction>>({.input_scale = 2.0f});
}
TEST(GradientCheck, Sigmoid) {
  check_layer_gradients<deepjet::ActivationLayer<deepjet::Shape<17>, deepjet::kernels::SigmoidFunction>>({.input_scale = 3.0f});
}
TEST(GradientCheck, Linear) {
  check_layer_gradients<deepjet::ActivationLayer<deepjet::Shape<5>, deepjet::kernels::LinearFunction>>();
}
TEST(GradientCheck, SoftmaxOverFlatAndListShapes) {
  check_layer_gradients<deepjet::SoftmaxLayer<deepjet::Shape<6>>>({.input_scale = 2.0f});
  check_layer_gradients<deepjet::SoftmaxLayer<deepjet::Shape<3, 4>>>({.input_scale = 2.0f});
}
TEST(GradientCheck, SequentialWithNestedStack) {
  using Net = deepjet::Sequential<deepjet::Input<5>, deepjet::Dense<6>, deepjet::Tanh,
                                  deepjet::Stack<deepjet::Dense<4>, deepjet::Sigmoid>, deepjet::Dense<3>>;
  check_layer_gradients<Net>({.batch = 4});
}

template <deepjet::Layer L>
std::vector<float> run_infer(const std::vector<float>& params, const std::vector<float>& x, std::size_t count) {
  std::vector<float> y(L::output_shape::size * count);
  std::vector<float> scratch(L::scratch_size(count));
  std::vector<float> packed(deepjet::inference_parameter_count_of<L>);  // the layout inference reads
  deepjet::pack_inference_parameters<L>(params.data(), packed.data());
  L::infer(packed.data(), {x.data(), count}, {y.data(), count}, scratch.data());
  return y;
}

TEST(PyTorchAgreement, DenseForwardAndGradients) {
  const auto& f = foundation_fixtures();
  using L = deepjet::DenseLayer<7, 4>;
  std::vector<float> params = f["dense.weight"].values;
  params.insert(params.end(), f["dense.bias"].values.begin(), f["dense.bias"].values.end());
  const auto& x = f["dense.x"].values;
  const auto& dy = f["dense.dy"].values;
  const float* weight = params.data();
  const float* bias = params.data() + 28;
  // Every value is a short sum computed in float by both sides (in their own order, with or
  // without FMA): compare within the rounding bound of each sum (expect_within_rounding), from
  // the sums of |term| here. A relative 1e-5 with a floor of 1e-3 was not enough for every
  // machine: dW[3][1] = -0.00148 is a sum of five terms of total size 1.26, and summed in order
  // without FMA it differs from PyTorch's by 8e-8 (5.6e-5 of the floor).
  std::vector<double> y_magnitude(20), dweight_magnitude(28, 0.0), dbias_magnitude(4, 0.0), dx_magnitude(35, 0.0);
  for (std::size_t n = 0; n < 5; ++n)
    for (std::size_t o = 0; o < 4; ++o) {
      y_magnitude[n * 4 + o] = std::abs(double(bias[o]));
      dbias_magnitude[o] += std::abs(double(dy[n * 4 + o]));
      for (std::size_t i = 0; i < 7; ++i) {
        y_magnitude[n * 4 + o] += std::abs(double(x[n * 7 + i]) * weight[i * 4 + o]);
        dweight_magnitude[i * 4 + o] += std::abs(double(x[n * 7 + i]) * dy[n * 4 + o]);
        dx_magnitude[n * 7 + i] += std::abs(double(dy[n * 4 + o]) * weight[i * 4 + o]);
      }
    }
  // Terms: 7 products and the bias; 5 samples (and the 0 the gradients start from); 4 outputs.
  expect_within_rounding(run_infer<L>(params, x, 5), f["dense.y"].values, y_magnitude, 8, "inference output");

  L layer;
  deepjet::TrainingContext context;
  std::vector<float> y(20), grads(L::parameter_count, 0.0f), dx(35);
  layer.forward(context, params.data(), {x.data(), 5}, {y.data(), 5});
  expect_within_rounding(y, f["dense.y"].values, y_magnitude, 8, "training output");
  layer.backward(params.data(), grads.data(), {x.data(), 5}, {y.data(), 5}, {dy.data(), 5}, {dx.data(), 5});
  expect_within_rounding(std::vector<float>(grads.begin(), grads.begin() + 28), f["dense.dweight"].values,
                         dweight_magnitude, 6, "dW");
  expect_within_rounding(std::vector<float>(grads.begin() + 28, grads.end()), f["dense.dbias"].values, dbias_magnitude,
                         6, "db");
  expect_within_rounding(dx, f["dense.dx"].values, dx_magnitude, 4, "dx");
}

// `absolute` bounds |dx - PyTorch's dx| / |dy| where dx is small: the backward passes compute
// f' from the output y (tanh: 1 - y^2; sigmoid: y (1 - y); elu: y + 1 below 0), so the two
// sides' errors in y reach dx through |d f'/dy| <= 2, and each side rounds three times (y^2 or
// the like, 1 - ..., the product with dy) values of at most |dy|: with fast_math's contract
// (tanh 9.0e-8 absolute; sigmoid 1.6e-7, expm1 1.3e-7 relative, so at most that absolute for
// |y| <= 1), and PyTorch's float32 functions taken to be as accurate (they are within an ulp or
// two), 2 * (1.6e-7 + 1.6e-7) + 6 * 2^-24 = 1.0e-6. A relative 1e-4 with a floor of 1e-4 alone
// allows 1e-8 there: tanh's dx used 64% of it on an x86-64 build without FMA (SSE), 0.4% with.
template <class L>
void check_activation_against_torch(const std::string& name, double absolute = 0.0) {
  const auto& f = foundation_fixtures();
  const auto& x = f[name + ".x"].values;
  expect_close(run_infer<L>({}, x, 6), f[name + ".y"].values, 1e-5, 1e-4, name + " forward");
  L layer;
  deepjet::TrainingContext context;
  std::vector<float> y(60), dx(60);
  const auto& dy = f[name + ".dy"].values;
  layer.forward(context, nullptr, {x.data(), 6}, {y.data(), 6});
  layer.backward(nullptr, nullptr, {x.data(), 6}, {y.data(), 6}, {dy.data(), 6}, {dx.data(), 6});
  if (absolute == 0.0) {
    expect_close(dx, f[name + ".dx"].values, 1e-4, 1e-4, name + " backward");
    return;
  }
  const auto& expected = f[name + ".dx"].values;
  ASSERT_EQ(dx.size(), expected.size());
  for (std::size_t i = 0; i < dx.size(); ++i)
    EXPECT_NEAR(dx[i], expected[i], 1e-4 * std::max<double>(std::abs(expected[i]), 1e-4) + absolute * std::abs(dy[i]))
        << name << " backward, index " << i;
}

TEST(PyTorchAgreement, Activations) {
  using S = deepjet::Shape<10>;
  check_activation_against_torch<deepjet::ActivationLayer<S, deepjet::kernels::ReluFunction>>("relu");
  check_activation_against_torch<deepjet::ActivationLayer<S, deepjet::kernels::EluFunction>>("elu", 1e-6);
  check_activation_against_torch<deepjet::ActivationLayer<S, deepjet::kernels::TanhFunction>>("tanh", 1e-6);
  check_activation_against_torch<deepjet::ActivationLayer<S, deepjet::kernels::SigmoidFunction>>("sigmoid", 1e-6);
  check_activation_against_torch<deepjet::SoftmaxLayer<S>>("softmax");
}

TEST(Layers, SpecsBindToThePreviousOutput) {
  using Net = deepjet::Sequential<deepjet::Input<25, 16>, deepjet::ReLU, deepjet::Softmax>;
  static_assert(std::is_same_v<Net::output_shape, deepjet::Shape<25, 16>>);
  using Mlp = deepjet::Sequential<deepjet::Input<4>, deepjet::Dense<16>, deepjet::ReLU, deepjet::Dense<3>>;
  static_assert(std::is_same_v<Mlp::layer_type<2>, deepjet::DenseLayer<16, 3>>);
  static_assert(Mlp::parameter_count == 4 * 16 + 16 + 16 * 3 + 3);
  static_assert(deepjet::Layer<Mlp>);
  // An already bound layer may be written directly when its input fits.
  using Mixed = deepjet::Sequential<deepjet::Input<4>, deepjet::DenseLayer<4, 2>, deepjet::Sigmoid>;
  static_assert(std::is_same_v<Mixed::output_shape, deepjet::Shape<2>>);
}

}  // namespace
