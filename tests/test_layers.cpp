// Layers: finite-difference gradient checks, and agreement with PyTorch on the same numbers.
#include "support/fixtures.hpp"
#include "support/gradient_check.hpp"

#include <deepjet/deepjet.hpp>

#include <gtest/gtest.h>

namespace {

using deepjet::test::check_layer_gradients;
using deepjet::test::expect_close;
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
  expect_close(run_infer<L>(params, x, 5), f["dense.y"].values, 1e-5, 1e-3, "inference output");

  L layer;
  deepjet::TrainingContext context;
  std::vector<float> y(20), grads(L::parameter_count, 0.0f), dx(35);
  layer.forward(context, params.data(), {x.data(), 5}, {y.data(), 5});
  expect_close(y, f["dense.y"].values, 1e-5, 1e-3, "training output");
  layer.backward(params.data(), grads.data(), {x.data(), 5}, {y.data(), 5}, {f["dense.dy"].values.data(), 5},
                 {dx.data(), 5});
  expect_close(std::vector<float>(grads.begin(), grads.begin() + 28), f["dense.dweight"].values, 1e-5, 1e-3, "dW");
  expect_close(std::vector<float>(grads.begin() + 28, grads.end()), f["dense.dbias"].values, 1e-5, 1e-3, "db");
  expect_close(dx, f["dense.dx"].values, 1e-5, 1e-3, "dx");
}

template <class L>
void check_activation_against_torch(const std::string& name) {
  const auto& f = foundation_fixtures();
  const auto& x = f[name + ".x"].values;
  expect_close(run_infer<L>({}, x, 6), f[name + ".y"].values, 1e-5, 1e-4, name + " forward");
  L layer;
  deepjet::TrainingContext context;
  std::vector<float> y(60), dx(60);
  layer.forward(context, nullptr, {x.data(), 6}, {y.data(), 6});
  layer.backward(nullptr, nullptr, {x.data(), 6}, {y.data(), 6}, {f[name + ".dy"].values.data(), 6}, {dx.data(), 6});
  expect_close(dx, f[name + ".dx"].values, 1e-4, 1e-4, name + " backward");
}

TEST(PyTorchAgreement, Activations) {
  using S = deepjet::Shape<10>;
  check_activation_against_torch<deepjet::ActivationLayer<S, deepjet::kernels::ReluFunction>>("relu");
  check_activation_against_torch<deepjet::ActivationLayer<S, deepjet::kernels::EluFunction>>("elu");
  check_activation_against_torch<deepjet::ActivationLayer<S, deepjet::kernels::TanhFunction>>("tanh");
  check_activation_against_torch<deepjet::ActivationLayer<S, deepjet::kernels::SigmoidFunction>>("sigmoid");
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
