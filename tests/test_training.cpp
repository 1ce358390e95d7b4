// Losses, a whole network's gradients and optimiser steps, compared with PyTorch; determinism;
// freezing; the xtensor training and prediction API.
#include "support/fixtures.hpp"

#include <deepjet/deepjet.hpp>

#include <gtest/gtest.h>

#include <numeric>

namespace {

using deepjet::test::expect_close;
using deepjet::test::foundation_fixtures;

using Mlp = deepjet::Sequential<deepjet::Input<6>, deepjet::Dense<8>, deepjet::Tanh, deepjet::Dense<5>,
                                deepjet::ELU, deepjet::Dense<3>, deepjet::Softmax>;
constexpr int dense_layers[] = {0, 2, 4};

template <class Loss>
void check_loss(const std::string& name, const Loss& loss) {
  const auto& f = foundation_fixtures();
  using S = deepjet::Shape<5>;
  std::vector<float> gradient(40);
  const double value = loss.evaluate(deepjet::ConstBatch<S>{f[name + ".p"].values.data(), 8},
                                     deepjet::ConstBatch<S>{f[name + ".t"].values.data(), 8},
                                     f[name + ".w"].values.data(), deepjet::Batch<S>{gradient.data(), 8});
  EXPECT_NEAR(value, f[name + ".loss"].values[0], 1e-6 * std::abs(f[name + ".loss"].values[0])) << name;
  expect_close(gradient, f[name + ".dp"].values, 1e-5, 1e-4, name + " gradient");
}

TEST(PyTorchAgreement, Losses) {
  check_loss("cce", deepjet::CategoricalCrossEntropy{});
  check_loss("bce", deepjet::BinaryCrossEntropy{});
  check_loss("mse", deepjet::MeanSquaredError{});
}

void load_torch_weights(deepjet::Model<Mlp>& model, const std::string& prefix) {
  const auto& f = foundation_fixtures();
  for (int i : dense_layers) {
    const auto w = f[prefix + "." + std::to_string(i) + ".weight"].values;
    const auto b = f[prefix + "." + std::to_string(i) + ".bias"].values;
    std::copy(w.begin(), w.end(), model.parameter(std::to_string(i) + ".weight").begin());
    std::copy(b.begin(), b.end(), model.parameter(std::to_string(i) + ".bias").begin());
  }
}

TEST(PyTorchAgreement, NetworkForwardLossAndGradients) {
  const auto& f = foundation_fixtures();
  deepjet::Model<Mlp> model;
  load_torch_weights(model, "mlp");
  using In = Mlp::input_shape;
  using Out = Mlp::output_shape;
  const deepjet::ConstBatch<In> x{f["mlp.x"].values.data(), 10};

  std::vector<float> y(30);
  deepjet::AlignedFloats scratch;
  model.predict(x, {y.data(), 10}, scratch);
  expect_close(y, f["mlp.y"].values, 1e-5, 1e-3, "inference");

  model.zero_gradients();
  const auto out = model.forward(x);
  expect_close(std::vector<float>(out.data, out.data + 30), f["mlp.y"].values, 1e-5, 1e-3, "training forward");
  std::vector<float> dout(30);
  const double loss = deepjet::CategoricalCrossEntropy{}.evaluate(
      out, deepjet::ConstBatch<Out>{f["mlp.t"].values.data(), 10}, f["mlp.w"].values.data(),
      deepjet::Batch<Out>{dout.data(), 10});
  EXPECT_NEAR(loss, f["mlp.loss"].values[0], 1e-5 * f["mlp.loss"].values[0]);
  model.backward(x, {dout.data(), 10});
  for (int i : dense_layers) {
    const auto layer = std::to_string(i);
    expect_close(model.gradient(layer + ".weight"), f["mlp." + layer + ".dweight"].values, 1e-4, 1e-4, "dW" + layer);
    expect_close(model.gradient(layer + ".bias"), f["mlp." + layer + ".dbias"].values, 1e-4, 1e-4, "db" + layer);
  }
}

template <class Optimiser>
void check_optimiser(const std::string& name, Optimiser optimiser) {
  const auto& f = foundation_fixtures();
  for (int steps : {1, 5}) {
    deepjet::Model<Mlp> model;
    load_torch_weights(model, "mlp");
    Optimiser opt = optimiser;
    const std::string prefix = name + std::to_string(steps);
    std::vector<float> losses;
    for (int s = 0; s < steps; ++s)
      losses.push_back(static_cast<float>(model.train_step(
          deepjet::ConstBatch<Mlp::input_shape>{f["mlp.x"].values.data(), 10},
          deepjet::ConstBatch<Mlp::output_shape>{f["mlp.t"].values.data(), 10}, f["mlp.w"].values.data(),
          deepjet::CategoricalCrossEntropy{}, opt)));
    expect_close(losses, f[prefix + ".losses"].values, 1e-5, 1e-3, prefix + " losses");
    for (int i : dense_layers) {
      const auto layer = std::to_string(i);
      expect_close(model.parameter(layer + ".weight"), f[prefix + "." + layer + ".weight"].values, 1e-4, 1e-2,
                   prefix + " weight " + layer);
      expect_close(model.parameter(layer + ".bias"), f[prefix + "." + layer + ".bias"].values, 1e-4, 1e-2,
                   prefix + " bias " + layer);
    }
    EXPECT_EQ(opt.steps, static_cast<std::uint64_t>(steps));
  }
}

TEST(PyTorchAgreement, AdamSteps) { check_optimiser("adam", deepjet::Adam{.learning_rate = 0.01}); }
TEST(PyTorchAgreement, AdamWithL2AndOtherBetas) {
  check_optimiser("adam_l2", deepjet::Adam{.learning_rate = 0.005, .beta1 = 0.8, .beta2 = 0.99, .epsilon = 1e-6,
                                           .weight_decay = 0.01});
}
TEST(PyTorchAgreement, SgdWithMomentum) { check_optimiser("sgd", deepjet::SGD{.learning_rate = 0.1, .momentum = 0.9}); }
TEST(PyTorchAgreement, SgdNesterovWithDecay) {
  check_optimiser("nesterov", deepjet::SGD{.learning_rate = 0.05, .momentum = 0.8, .weight_decay = 0.001, .nesterov = true});
}

TEST(Model, InitialisationIsDeterministicPerSeed) {
  deepjet::Model<Mlp> a(42), b(42), c(43);
  EXPECT_TRUE(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
  EXPECT_FALSE(std::equal(a.parameters().begin(), a.parameters().end(), c.parameters().begin()));
  // Glorot uniform: |w| <= sqrt(6 / (6 + 8)); biases start at zero.
  for (float w : a.parameter("0.weight")) EXPECT_LE(std::abs(w), std::sqrt(6.0f / 14.0f));
  for (float b0 : a.parameter("0.bias")) EXPECT_EQ(b0, 0.0f);
}

TEST(Model, ArchitectureNamesEveryTensor) {
  deepjet::Model<Mlp> model;
  const auto& arch = model.architecture();
  ASSERT_EQ(arch.layers.size(), 6u);
  EXPECT_EQ(arch.layers[0].signature, "Dense (6) -> (8)");
  EXPECT_EQ(arch.layers[5].signature, "Softmax (3) -> (3)");
  ASSERT_EQ(arch.parameters.size(), 6u);
  EXPECT_EQ(arch.parameters[2].path, "2.weight");
  EXPECT_EQ(arch.parameters[2].offset, 6u * 8 + 8);
  EXPECT_EQ(model.parameter("4.bias").size(), 3u);
  EXPECT_THROW(model.parameter("9.weight"), deepjet::Error);
}

TEST(Model, FrozenLayersDoNotMove) {
  const auto& f = foundation_fixtures();
  deepjet::Model<Mlp> model(5);
  EXPECT_EQ(model.set_trainable("0", false), 2u);
  const std::vector<float> before(model.parameter("0.weight").begin(), model.parameter("0.weight").end());
  const std::vector<float> other_before(model.parameter("2.weight").begin(), model.parameter("2.weight").end());
  deepjet::Adam adam;
  model.train_step(deepjet::ConstBatch<Mlp::input_shape>{f["mlp.x"].values.data(), 10},
                   deepjet::ConstBatch<Mlp::output_shape>{f["mlp.t"].values.data(), 10}, nullptr,
                   deepjet::CategoricalCrossEntropy{}, adam);
  EXPECT_TRUE(std::equal(before.begin(), before.end(), model.parameter("0.weight").begin()));
  EXPECT_FALSE(std::equal(other_before.begin(), other_before.end(), model.parameter("2.weight").begin()));
  EXPECT_EQ(model.set_trainable("0", true), 2u);
  ASSERT_EQ(model.trainable_ranges().size(), 1u);
  EXPECT_EQ(model.trainable_ranges()[0].count, Mlp::parameter_count);
}

TEST(Model, XtensorTrainingReducesTheLossAndChecksShapes) {
  deepjet::Model<Mlp> model(11);
  deepjet::Random random(2);
  xt::xtensor<float, 2> x = xt::empty<float>({64, 6});
  xt::xtensor<float, 2> t = xt::zeros<float>({64, 3});
  for (std::size_t i = 0; i < 64; ++i) {
    for (std::size_t j = 0; j < 6; ++j) x(i, j) = random.uniform(-1.0f, 1.0f);
    t(i, x(i, 0) + x(i, 1) > 0 ? 0 : (x(i, 2) > 0 ? 1 : 2)) = 1.0f;
  }
  deepjet::Adam adam{.learning_rate = 0.02};
  const double first = model.train_step(x, t, nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  double last = first;
  for (int i = 0; i < 200; ++i) last = model.train_step(x, t, nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  EXPECT_LT(last, 0.5 * first);

  const auto p = model.predict(x);
  ASSERT_EQ(p.shape()[0], 64u);
  ASSERT_EQ(p.shape()[1], 3u);
  for (std::size_t i = 0; i < 64; ++i) EXPECT_NEAR(p(i, 0) + p(i, 1) + p(i, 2), 1.0f, 1e-5f);

  xt::xtensor<float, 2> wrong = xt::zeros<float>({4, 5});
  try {
    model.predict(wrong);
    FAIL() << "a wrong input shape must throw";
  } catch (const deepjet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("shape (5)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(6)"), std::string::npos) << e.what();
  }
  xt::xtensor<float, 1> weights = xt::ones<float>({3});
  EXPECT_THROW(model.train_step(x, t, &weights, deepjet::CategoricalCrossEntropy{}, adam), deepjet::Error);
}

TEST(Model, TrainingIsReproducible) {
  auto run = [] {
    deepjet::Model<Mlp> model(9);
    const auto& f = foundation_fixtures();
    deepjet::Adam adam;
    for (int i = 0; i < 10; ++i)
      model.train_step(deepjet::ConstBatch<Mlp::input_shape>{f["mlp.x"].values.data(), 10},
                       deepjet::ConstBatch<Mlp::output_shape>{f["mlp.t"].values.data(), 10}, nullptr,
                       deepjet::CategoricalCrossEntropy{}, adam);
    return std::vector<float>(model.parameters().begin(), model.parameters().end());
  };
  EXPECT_EQ(run(), run());
}

}  // namespace

namespace {

// d(loss)/d(prediction) against central differences, with weights and soft targets.
template <class Loss>
void check_loss_gradient(const Loss& loss, bool probabilities) {
  using S = deepjet::Shape<4>;
  deepjet::Random random(6);
  std::vector<float> p(3 * 4), t(3 * 4), w{0.5f, 1.0f, 2.0f}, g(3 * 4);
  for (std::size_t j = 0; j < 3; ++j) {
    float sum = 0;
    for (std::size_t i = 0; i < 4; ++i) {
      p[j * 4 + i] = probabilities ? random.uniform(0.1f, 0.9f) : random.uniform(-2.0f, 2.0f);
      t[j * 4 + i] = random.uniform(0.0f, 1.0f);
      sum += t[j * 4 + i];
    }
    if (probabilities)
      for (std::size_t i = 0; i < 4; ++i) t[j * 4 + i] /= sum;  // soft labels
  }
  auto value = [&](const std::vector<float>& q) {
    return loss.evaluate(deepjet::ConstBatch<S>{q.data(), 3}, deepjet::ConstBatch<S>{t.data(), 3}, w.data(),
                         deepjet::Batch<S>{nullptr, 3});
  };
  loss.evaluate(deepjet::ConstBatch<S>{p.data(), 3}, deepjet::ConstBatch<S>{t.data(), 3}, w.data(), deepjet::Batch<S>{g.data(), 3});
  for (std::size_t i = 0; i < p.size(); ++i) {
    auto q = p;
    const float h = 1e-3f;
    q[i] = p[i] + h;
    const double up = value(q);
    q[i] = p[i] - h;
    const double down = value(q);
    const double numeric = (up - down) / (2.0 * h);
    EXPECT_NEAR(g[i], numeric, 1e-3 * std::max(1.0, std::abs(numeric))) << "element " << i;
  }
}

TEST(GradientCheck, Losses) {
  check_loss_gradient(deepjet::CategoricalCrossEntropy{}, true);
  check_loss_gradient(deepjet::BinaryCrossEntropy{}, true);
  check_loss_gradient(deepjet::MeanSquaredError{}, false);
}

TEST(Initialisers, UniformLimitsAndSpread) {
  deepjet::Random random(3);
  std::vector<float> values(20000);
  auto check = [&](deepjet::Initialiser kind, double limit) {
    const deepjet::ParameterSpec spec{"weight", {100, 200}, 2, kind, 100, 200};
    deepjet::initialise(values, spec, random);
    double sum_squares = 0;
    for (float v : values) {
      ASSERT_LE(std::abs(v), limit);
      sum_squares += static_cast<double>(v) * v;
    }
    // A uniform distribution on [-l, l] has variance l^2 / 3.
    EXPECT_NEAR(sum_squares / static_cast<double>(values.size()), limit * limit / 3.0, 0.03 * limit * limit / 3.0);
  };
  check(deepjet::Initialiser::glorot_uniform, std::sqrt(6.0 / 300.0));
  check(deepjet::Initialiser::he_uniform, std::sqrt(6.0 / 100.0));
  check(deepjet::Initialiser::lecun_uniform, std::sqrt(3.0 / 100.0));
  const deepjet::ParameterSpec ones{"gamma", {7}, 1, deepjet::Initialiser::ones, 7, 7};
  std::vector<float> gamma(7);
  deepjet::initialise(gamma, ones, random);
  EXPECT_EQ(gamma, std::vector<float>(7, 1.0f));
}

}  // namespace
