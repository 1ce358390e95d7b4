// The reference models (examples/reference_models): parameter counts, forward outputs and a few
// Adam steps, compared with the same networks built in PyTorch
// (scripts/make_torch_fixtures_reference.py), and a short DeepJet training that learns.
#include "support/fixtures.hpp"

#include "deepcsv.hpp"
#include "deepjet_model.hpp"
#include "particle_cnn.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace {

using deepjet::test::expect_close;
using deepjet::test::fixtures;

// How both sides fill the t-th tensor (reference_value in the script): formulas, and LeCun-uniform
// weights drawn from one deepjet::Random(2026) stream (a well-conditioned network).
double reference_value(const deepjet::ParameterSpec& spec, std::size_t t, std::size_t j, deepjet::Random& random) {
  const double x = static_cast<double>(j), tt = static_cast<double>(t);
  if (spec.name == "gamma") return 1.0 + 0.1 * std::sin(0.5 * x + tt);
  if (spec.name == "beta") return 0.1 * std::sin(0.7 * x + tt);
  if (spec.name == "running_mean") return 0.1 * std::sin(0.3 * x + tt);
  if (spec.name == "running_var") return 1.0 + 0.25 * std::sin(0.9 * x + tt);
  if (spec.name == "bias") return 0.05 * std::sin(1.1 * x + tt);
  double fan_in = 1;
  for (std::size_t d = 0; d + 1 < spec.rank; ++d) fan_in *= static_cast<double>(spec.shape[d]);
  const auto limit = static_cast<float>(std::sqrt(3.0 / fan_in));
  return random.uniform(-limit, limit);
}

template <class Net>
void fill_reference_weights(deepjet::Model<Net>& model) {
  const auto& tensors = model.architecture().parameters;
  deepjet::Random random(2026);
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    auto values = model.parameters().subspan(tensors[t].offset, tensors[t].spec.size());
    for (std::size_t j = 0; j < values.size(); ++j)
      values[j] = static_cast<float>(reference_value(tensors[t].spec, t, j, random));
  }
}

template <class Net>
void expect_counts(const std::string& name) {
  deepjet::Model<Net> model;
  std::size_t trainable = 0, buffers = 0;
  for (const auto& p : model.architecture().parameters) (p.spec.trainable ? trainable : buffers) += p.spec.size();
  const auto& expected = fixtures("reference_models")[name + ".counts"].values;
  EXPECT_EQ(trainable, static_cast<std::size_t>(expected[0])) << name << " trainable parameters";
  EXPECT_EQ(buffers, static_cast<std::size_t>(expected[1])) << name << " buffers";
}

TEST(ReferenceModels, ParameterCountsEqualPyTorchs) {
  expect_counts<deepjet::reference::DeepJet>("deepjet");
  expect_counts<deepjet::reference::ParticleCNN>("pcnn");
  expect_counts<deepjet::reference::DeepCSV>("deepcsv");
  EXPECT_EQ(deepjet::reference::DeepJet::parameter_count, 265292u + 3046u);
}

// Copy fixture tensors into a model's input containers.
template <class Tensors>
void load_inputs(Tensors& x, const std::string& prefix) {
  const auto& f = fixtures("reference_models");
  if constexpr (requires { x.fill(0.0f); }) {
    std::copy(f[prefix].values.begin(), f[prefix].values.end(), x.begin());
  } else {
    std::size_t i = 0;
    std::apply([&](auto&... block) {
      ((std::copy(f[prefix + std::to_string(i)].values.begin(), f[prefix + std::to_string(i)].values.end(), block.begin()), ++i), ...);
    }, x);
  }
}

template <class Net>
void expect_forward(const std::string& name, std::size_t batch, const std::string& input_prefix) {
  deepjet::Model<Net> model;
  fill_reference_weights(model);
  auto x = deepjet::make_tensors<typename Net::input_shape>(batch);
  load_inputs(x, input_prefix);
  const auto y = model.predict(x);
  expect_close(std::vector<float>(y.begin(), y.end()), fixtures("reference_models")[name + ".y"].values, 1e-4, 1e-3,
               name + " inference output");
}

TEST(PyTorchAgreement, DeepJetForward) { expect_forward<deepjet::reference::DeepJet>("deepjet", 4, "deepjet.x"); }
TEST(PyTorchAgreement, ParticleCNNForward) { expect_forward<deepjet::reference::ParticleCNN>("pcnn", 2, "pcnn.x"); }
TEST(PyTorchAgreement, DeepCSVForward) { expect_forward<deepjet::reference::DeepCSV>("deepcsv", 4, "deepcsv.x"); }

TEST(PyTorchAgreement, DeepJetAdamStepsFollowPyTorchsLossCurve) {
  using Net = deepjet::reference::DeepJetNetwork<0.0f>;
  deepjet::Model<Net> model;
  fill_reference_weights(model);
  auto x = deepjet::make_tensors<Net::input_shape>(8);
  load_inputs(x, "deepjet_train.x");
  xt::xtensor<float, 2> target = xt::empty<float>({std::size_t{8}, std::size_t{6}});
  const auto& t = fixtures("reference_models")["deepjet_train.t"].values;
  std::copy(t.begin(), t.end(), target.begin());
  deepjet::Adam adam{.learning_rate = 1e-4};  // DeepJet's second-stage rate
  std::vector<float> losses;
  for (int step = 0; step < 5; ++step) {
    losses.push_back(static_cast<float>(model.train_step(x, target, nullptr, deepjet::CategoricalCrossEntropy{}, adam)));
    if (step > 0) continue;
    // The first step's gradients, every trained tensor (BatchNorm in training mode, all LSTMs),
    // against PyTorch's summaries: a projection on sin(0.1 j + 0.3), sum and max of |g|, and the
    // first 16 values.
    const auto& tensors = model.architecture().parameters;
    for (std::size_t t = 0; t < tensors.size(); ++t) {
      if (!tensors[t].spec.trainable) continue;
      const auto& expected = fixtures("reference_models")["deepjet_train.grad" + std::to_string(t)].values;
      const auto g = model.gradients().subspan(tensors[t].offset, tensors[t].spec.size());
      double projection = 0, sum_abs = 0, max_abs = 0;
      for (std::size_t j = 0; j < g.size(); ++j) {
        projection += g[j] * std::sin(0.1 * static_cast<double>(j) + 0.3);
        sum_abs += std::abs(g[j]);
        max_abs = std::max(max_abs, static_cast<double>(std::abs(g[j])));
      }
      const std::string what = "gradient of " + tensors[t].path;
      EXPECT_NEAR(projection, expected[0], 1e-3 * expected[1]) << what;
      EXPECT_NEAR(sum_abs, expected[1], 1e-3 * expected[1]) << what;
      EXPECT_NEAR(max_abs, expected[2], 1e-3 * expected[2]) << what;
      for (std::size_t j = 0; j + 3 < expected.size(); ++j) EXPECT_NEAR(g[j], expected[j + 3], 1e-3 * expected[2]) << what;
    }
  }
  // The curve may part by a few 1e-4: Adam moves every parameter by about the learning rate
  // whatever the size of its gradient, so a handful of gradients that are zero up to float
  // rounding (their signs differ between any two float32 implementations) move the other way.
  // Measured: given PyTorch's parameters after a step, deepjet's loss agrees to 1e-6.
  expect_close(losses, fixtures("reference_models")["deepjet_train.losses"].values, 1e-3, 1e-3, "loss curve");
}

TEST(ReferenceModels, DeepJetLearnsOnRandomData) {
  using Net = deepjet::reference::DeepJet;
  deepjet::Model<Net> model(/*seed=*/3);
  constexpr std::size_t batch = 64;
  auto x = deepjet::make_tensors<Net::input_shape>(batch);
  deepjet::Random random(12);
  std::apply([&](auto&... block) { ((std::generate(block.begin(), block.end(), [&] { return random.uniform(-1.0f, 1.0f); })), ...); }, x);
  // The class is written into the data: the sign of a global feature and of a charged-candidate one.
  xt::xtensor<float, 2> target = xt::zeros<float>({batch, std::size_t{6}});
  for (std::size_t i = 0; i < batch; ++i)
    target(i, (std::get<0>(x)(i, 0) > 0 ? 1 : 0) + (std::get<1>(x)(i, 0, 6) > 0 ? 2 : 0)) = 1.0f;
  deepjet::Adam adam{.learning_rate = 1e-3};
  const deepjet::CategoricalCrossEntropy loss;
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    last = model.train_step(x, target, nullptr, loss, adam);
    if (step == 0) first = last;
  }
  EXPECT_LT(last, 0.8 * first) << "loss " << first << " -> " << last;
  // Freezing the input BatchNorms, as the DeepJet recipe does after the first epoch.
  EXPECT_EQ(model.set_trainable("0.0", false), 2u);   // the global block's BatchNorm
  EXPECT_EQ(model.set_trainable("0.1.0", false), 2u); // the charged candidates' input BatchNorm
}

}  // namespace
