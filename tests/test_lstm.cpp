// LSTM: finite-difference gradient checks, agreement with PyTorch (tests/fixtures/lstm.txt, written
// by scripts/make_torch_fixtures_lstm.py), the spec and its options, and the layer in a model.
#include "support/fixtures.hpp"
#include "support/gradient_check.hpp"

#include <deepjet/deepjet.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <unistd.h>
#include <numeric>
#include <thread>

namespace {

using deepjet::Direction;
using deepjet::GateActivation;
using deepjet::test::check_layer_gradients;
using deepjet::test::expect_close;
using deepjet::test::fixtures;

// ---- finite differences -----------------------------------------------------------------------

TEST(LSTMGradientCheck, ForwardsLastState) { check_layer_gradients<deepjet::LSTMLayer<4, 3, 5>>(); }
TEST(LSTMGradientCheck, BackwardsLastState) {
  check_layer_gradients<deepjet::LSTMLayer<4, 3, 5, Direction::backwards>>();
}
TEST(LSTMGradientCheck, ForwardsSequence) {
  check_layer_gradients<deepjet::LSTMLayer<4, 3, 5, Direction::forwards, true>>();
}
TEST(LSTMGradientCheck, BackwardsSequence) {
  check_layer_gradients<deepjet::LSTMLayer<4, 3, 5, Direction::backwards, true>>();
}
// Widths that fill whole SIMD registers and leave partial ones; one sample; a single entry.
TEST(LSTMGradientCheck, WiderUnitsOneSample) {
  check_layer_gradients<deepjet::LSTMLayer<3, 2, 19, Direction::backwards>>({.batch = 1});
}
// Keras 2's hard_sigmoid on the gates (inputs kept small so that few gates sit at a clip edge).
TEST(LSTMGradientCheck, HardSigmoidGates) {
  check_layer_gradients<deepjet::LSTMLayer<4, 3, 5, Direction::backwards, true, GateActivation::hard_sigmoid>>(
      {.step = 1e-3f});
}
// Longer backpropagation through time, with more samples than one row tile of the products.
TEST(LSTMGradientCheck, LongerListBackwardsSequence) {
  check_layer_gradients<deepjet::LSTMLayer<12, 5, 7, Direction::backwards, true>>({.batch = 6, .step = 5e-3f});
}
// Stacked: a backwards sequence feeding a forwards LSTM, after a 1x1 convolution; gradients flow
// through both recurrences into the convolution and the input.
TEST(LSTMGradientCheck, StackedAfterConvolution) {
  using Net = deepjet::Sequential<deepjet::Input<6, 3>, deepjet::Conv1D<4>, deepjet::Tanh,
                                  deepjet::LSTM<5, deepjet::backwards, deepjet::return_sequences>,
                                  deepjet::LSTM<3>>;
  static_assert(std::is_same_v<Net::output_shape, deepjet::Shape<3>>);
  check_layer_gradients<Net>({.batch = 2});
}
TEST(LSTMGradientCheck, SingleEntry) {
  check_layer_gradients<deepjet::LSTMLayer<1, 4, 3, Direction::backwards, true>>({.batch = 2});
}

// ---- PyTorch agreement ------------------------------------------------------------------------

std::vector<float> concatenated(std::initializer_list<const std::vector<float>*> parts) {
  std::vector<float> all;
  for (const auto* part : parts) all.insert(all.end(), part->begin(), part->end());
  return all;
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

template <Direction direction, bool sequence, GateActivation gates = GateActivation::sigmoid>
void check_small_case_against_torch() {
  constexpr std::size_t B = 3, T = 5, F = 4, H = 6;
  using L = deepjet::LSTMLayer<T, F, H, direction, sequence, gates>;
  const auto& f = fixtures("lstm");
  const std::string prefix = std::string(gates == GateActivation::sigmoid ? "small." : "hard.") +
                             (direction == Direction::forwards ? "forwards" : "backwards");
  const std::string name = prefix + (sequence ? ".sequence" : ".last");
  std::vector<float> params = concatenated(
      {&f[prefix + ".kernel"].values, &f[prefix + ".recurrent_kernel"].values, &f[prefix + ".bias"].values});
  ASSERT_EQ(params.size(), L::parameter_count);
  const auto& x = f[prefix + ".x"].values;
  const auto& expected_y = f[name + ".y"].values;
  constexpr double relative = 1e-4, floor = 1e-3;

  expect_close(run_infer<L>(params, x, B), expected_y, relative, floor, name + " inference output");

  L layer;
  deepjet::TrainingContext context;
  std::vector<float> y(L::output_shape::size * B), grads(L::parameter_count, 0.0f), dx(x.size());
  layer.forward(context, params.data(), {x.data(), B}, {y.data(), B});
  expect_close(y, expected_y, relative, floor, name + " training output");
  layer.backward(params.data(), grads.data(), {x.data(), B}, {y.data(), B}, {f[name + ".dy"].values.data(), B},
                 {dx.data(), B});
  auto slice = [&](std::size_t from, std::size_t to) {
    return std::vector<float>(grads.begin() + static_cast<std::ptrdiff_t>(from),
                              grads.begin() + static_cast<std::ptrdiff_t>(to));
  };
  expect_close(slice(0, L::recurrent_kernel_offset), f[name + ".dkernel"].values, relative, floor, name + " dkernel");
  expect_close(slice(L::recurrent_kernel_offset, L::bias_offset), f[name + ".drecurrent_kernel"].values, relative,
               floor, name + " drecurrent_kernel");
  expect_close(slice(L::bias_offset, L::parameter_count), f[name + ".dbias"].values, relative, floor, name + " dbias");
  expect_close(dx, f[name + ".dx"].values, relative, floor, name + " dx");
}

TEST(LSTMPyTorchAgreement, ForwardsLastState) { check_small_case_against_torch<Direction::forwards, false>(); }
TEST(LSTMPyTorchAgreement, ForwardsSequence) { check_small_case_against_torch<Direction::forwards, true>(); }
TEST(LSTMPyTorchAgreement, BackwardsLastState) { check_small_case_against_torch<Direction::backwards, false>(); }
TEST(LSTMPyTorchAgreement, BackwardsSequence) { check_small_case_against_torch<Direction::backwards, true>(); }
// Keras 2's hard_sigmoid gates, against the recurrence written out in torch.
TEST(LSTMPyTorchAgreement, HardSigmoidGates) {
  check_small_case_against_torch<Direction::forwards, false, GateActivation::hard_sigmoid>();
  check_small_case_against_torch<Direction::forwards, true, GateActivation::hard_sigmoid>();
  check_small_case_against_torch<Direction::backwards, false, GateActivation::hard_sigmoid>();
  check_small_case_against_torch<Direction::backwards, true, GateActivation::hard_sigmoid>();
}

// PyTorch's tensors as nn.LSTM stores them, through parameters_from_pytorch (the documented
// mapping), give PyTorch's outputs.
template <Direction direction>
void check_pytorch_layout(const std::string& name) {
  using L = deepjet::LSTMLayer<5, 4, 6, direction>;
  const auto& f = fixtures("lstm");
  std::vector<float> params(L::parameter_count);
  L::parameters_from_pytorch(f["torch_layout.weight_ih_l0"].values, f["torch_layout.weight_hh_l0"].values,
                             f["torch_layout.bias_ih_l0"].values, f["torch_layout.bias_hh_l0"].values, params);
  expect_close(run_infer<L>(params, f["torch_layout.x"].values, 3), f[name + ".y"].values, 1e-4, 1e-3, name);
}

TEST(LSTMPyTorchAgreement, ParametersFromPyTorchLayout) {
  check_pytorch_layout<Direction::forwards>("torch_layout.forwards");
  check_pytorch_layout<Direction::backwards>("torch_layout.backwards");
}

TEST(LSTMPyTorchAgreement, ParametersFromPyTorchChecksSizesAndAllowsNoBias) {
  using L = deepjet::LSTMLayer<5, 4, 6>;
  const auto& f = fixtures("lstm");
  const auto& weight_ih = f["torch_layout.weight_ih_l0"].values;
  const auto& weight_hh = f["torch_layout.weight_hh_l0"].values;
  std::vector<float> params(L::parameter_count, 7.0f);
  // bias=False: a zero bias.
  L::parameters_from_pytorch(weight_ih, weight_hh, {}, {}, params);
  for (std::size_t j = 0; j < 24; ++j) EXPECT_EQ(params[L::bias_offset + j], 0.0f);
  EXPECT_EQ(params[L::kernel_offset + 1 * 24 + 2], weight_ih[2 * 4 + 1]);  // kernel[f=1][row 2]
  EXPECT_EQ(params[L::recurrent_kernel_offset + 5 * 24 + 23], weight_hh[23 * 6 + 5]);
  // Sizes of another layer: an error that names the tensor, and nothing written.
  std::vector<float> untouched(L::parameter_count, 3.0f);
  using Wider = deepjet::LSTMLayer<5, 4, 7>;
  std::vector<float> wider_ih(4 * 7 * 4), wider_hh(4 * 7 * 7);
  try {
    L::parameters_from_pytorch(wider_ih, wider_hh, {}, {}, untouched);
    ADD_FAILURE() << "no error for a 7-unit LSTM's weights";
  } catch (const deepjet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight_ih has 112 values, this layer needs 96"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::all_of(untouched.begin(), untouched.end(), [](float v) { return v == 3.0f; }));
  static_assert(Wider::parameter_count == 4 * (4 * 7 + 7 * 7 + 7));
}

// The same numbers as hashed_uniform in scripts/make_torch_fixtures_lstm.py: exact integer
// arithmetic, then one rounding to float.
std::vector<float> hashed_uniform(std::size_t count, std::uint32_t seed, double scale) {
  std::vector<float> values(count);
  for (std::size_t k = 0; k < count; ++k) {
    std::uint32_t x = static_cast<std::uint32_t>(k) * 0x9E3779B9u + seed;
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    x ^= x >> 16;
    const double u = static_cast<double>(x >> 8) / static_cast<double>(1u << 24);
    values[k] = static_cast<float>((2.0 * u - 1.0) * scale);
  }
  return values;
}

// DeepJet's charged candidates: 25 entries of 8 features (the Conv1D stack's output), 150 units.
template <Direction direction>
void check_cpf_size_against_torch(const std::string& name) {
  constexpr std::size_t B = 2, T = 25, F = 8, H = 150;
  using L = deepjet::LSTMLayer<T, F, H, direction>;
  const auto& f = fixtures("lstm");
  const auto kernel = hashed_uniform(F * 4 * H, 1, 0.3);
  const auto recurrent_kernel = hashed_uniform(H * 4 * H, 2, 0.1);
  const auto bias = hashed_uniform(4 * H, 3, 0.1);
  const auto x = hashed_uniform(B * T * F, 4, 1.0);
  const std::vector<float> params = concatenated({&kernel, &recurrent_kernel, &bias});
  // The script made the same numbers.
  const double x_sum = std::accumulate(x.begin(), x.end(), 0.0);
  const double parameter_sum = std::accumulate(params.begin(), params.end(), 0.0);
  EXPECT_NEAR(x_sum, f["cpf.x_sum"].values[0], 1e-5);
  EXPECT_NEAR(parameter_sum, f["cpf.parameter_sum"].values[0], 1e-4);

  const auto& expected = f[name + ".y"].values;
  expect_close(run_infer<L>(params, x, B), expected, 1e-4, 1e-3, name + " inference output");
  L layer;
  deepjet::TrainingContext context;
  std::vector<float> y(B * H);
  layer.forward(context, const_cast<float*>(params.data()), {x.data(), B}, {y.data(), B});
  expect_close(y, expected, 1e-4, 1e-3, name + " training output");
}

TEST(LSTMPyTorchAgreement, DeepJetChargedCandidateSizeForwards) {
  check_cpf_size_against_torch<Direction::forwards>("cpf.forwards");
}
TEST(LSTMPyTorchAgreement, DeepJetChargedCandidateSizeBackwards) {
  check_cpf_size_against_torch<Direction::backwards>("cpf.backwards");
}

// ---- behaviour --------------------------------------------------------------------------------

std::vector<float> random_values(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
  deepjet::Random random(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = random.uniform(-scale, scale);
  return v;
}

TEST(LSTM, BackwardsIsForwardsOnTheReversedList) {
  constexpr std::size_t B = 4, T = 6, F = 3, H = 7;
  using Forwards = deepjet::LSTMLayer<T, F, H, Direction::forwards, true>;
  using Backwards = deepjet::LSTMLayer<T, F, H, Direction::backwards, true>;
  const auto params = random_values(Forwards::parameter_count, 1, 0.5f);
  const auto x = random_values(B * T * F, 2);
  std::vector<float> reversed(x.size());
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t < T; ++t)
      std::copy_n(x.begin() + static_cast<std::ptrdiff_t>((b * T + t) * F), F,
                  reversed.begin() + static_cast<std::ptrdiff_t>((b * T + T - 1 - t) * F));
  const auto forwards_on_reversed = run_infer<Forwards>(params, reversed, B);
  const auto backwards = run_infer<Backwards>(params, x, B);
  // backwards[t] (input order) is the state after reading entries T-1..t: forwards on the reversed
  // list at position T-1-t. Bit-equal: the direction only chooses which entry each step reads; the
  // fused step (lstm_step) then does the same operations in the same order on the same values.
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t < T; ++t)
      for (std::size_t j = 0; j < H; ++j)
        EXPECT_EQ(backwards[(b * T + t) * H + j], forwards_on_reversed[(b * T + T - 1 - t) * H + j]);
}

TEST(LSTM, InferenceInBlocksMatchesTrainingForward) {
  // More samples than one inference block: blocks must not interfere.
  using L = deepjet::LSTMLayer<5, 3, 9, Direction::backwards>;
  constexpr std::size_t B = L::inference_block + 37;
  const auto params = random_values(L::parameter_count, 3, 0.5f);
  const auto x = random_values(B * 15, 4);
  EXPECT_EQ(L::scratch_size(B), L::inference_block * 3 * 9);
  EXPECT_EQ(L::scratch_size(10), 10 * 3 * 9);
  const auto inferred = run_infer<L>(params, x, B);
  L layer;
  deepjet::TrainingContext context;
  std::vector<float> y(B * 9);
  auto p = params;
  layer.forward(context, p.data(), {x.data(), B}, {y.data(), B});
  // Bit-equal: training packs the weights as inference does and runs the same fused step; each
  // gate sum starts from the bias and adds the F inputs then the H states in order, whatever the
  // tile of samples (6 or 1 rows, 1 or 2 unit blocks) or block of the batch it falls in.
  for (std::size_t i = 0; i < y.size(); ++i) ASSERT_EQ(inferred[i], y[i]) << i;
}

TEST(LSTM, InferIsThreadSafeWithOwnScratch) {
  using L = deepjet::LSTMLayer<7, 4, 12, Direction::backwards>;
  const auto params = random_values(L::parameter_count, 5, 0.5f);
  const auto x = random_values(16 * 28, 6);
  const auto reference = run_infer<L>(params, x, 16);
  std::vector<std::vector<float>> results(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&, i] { results[i] = run_infer<L>(params, x, 16); });
  for (auto& thread : threads) thread.join();
  for (const auto& result : results) EXPECT_EQ(result, reference);
}

TEST(LSTM, BackwardAccumulatesParameterGradientsAndMayOmitInputGradient) {
  using L = deepjet::LSTMLayer<4, 3, 5, Direction::backwards, true>;
  constexpr std::size_t B = 2;
  auto params = random_values(L::parameter_count, 7, 0.5f);
  const auto x = random_values(B * 12, 8);
  const auto dy = random_values(B * 20, 9);
  std::vector<float> y(B * 20), once(L::parameter_count, 0.0f), twice(L::parameter_count, 0.0f), dx(B * 12);
  L layer;
  deepjet::TrainingContext context;
  layer.forward(context, params.data(), {x.data(), B}, {y.data(), B});
  layer.backward(params.data(), once.data(), {x.data(), B}, {y.data(), B}, {dy.data(), B}, {dx.data(), B});
  for (int pass = 0; pass < 2; ++pass) {
    layer.forward(context, params.data(), {x.data(), B}, {y.data(), B});
    layer.backward(params.data(), twice.data(), {x.data(), B}, {y.data(), B}, {dy.data(), B}, {nullptr, B});
  }
  // Each gradient is one accumulating product (or column sum) over B * T = 8 rows, a single row
  // chunk: the second pass adds the same float to the same float, so twice is 2 * once exactly
  // here; the bound would also cover a split into chunks (a few roundings of |once| ~ 1).
  for (std::size_t i = 0; i < once.size(); ++i) EXPECT_NEAR(twice[i], 2 * once[i], 1e-5 + 1e-5 * std::abs(once[i]));
  // One backward per forward: the cache has been turned into gradients.
  EXPECT_THROW(layer.backward(params.data(), twice.data(), {x.data(), B}, {y.data(), B}, {dy.data(), B}, {nullptr, B}),
               deepjet::Error);
}

TEST(LSTM, TrainingBuffersGrowAndShrinkingBatchesStillAgree) {
  using L = deepjet::LSTMLayer<3, 2, 4>;
  auto params = random_values(L::parameter_count, 10, 0.5f);
  L layer;
  deepjet::TrainingContext context;
  for (std::size_t batch : {5u, 2u, 7u, 1u}) {
    const auto x = random_values(batch * 6, 11 + batch);
    std::vector<float> y(batch * 4);
    layer.forward(context, params.data(), {x.data(), batch}, {y.data(), batch});
    // The same fused step on the same packed weights: bit-equal (see InferenceInBlocksMatchesTrainingForward).
    EXPECT_EQ(y, run_infer<L>(params, x, batch)) << "batch " << batch;
  }
}

// ---- spec, options, parameters ------------------------------------------------------------------

TEST(LSTMSpec, OptionsBindToTheRightLayer) {
  using deepjet::LSTM;
  using In = deepjet::Shape<25, 8>;
  static_assert(std::is_same_v<LSTM<150>::bind<In>, deepjet::LSTMLayer<25, 8, 150>>);
  static_assert(std::is_same_v<LSTM<150, deepjet::backwards>::bind<In>,
                               deepjet::LSTMLayer<25, 8, 150, Direction::backwards, false>>);
  static_assert(std::is_same_v<LSTM<50, deepjet::return_sequences>::bind<In>,
                               deepjet::LSTMLayer<25, 8, 50, Direction::forwards, true>>);
  static_assert(std::is_same_v<LSTM<150, deepjet::backwards, deepjet::hard_sigmoid_gates>::bind<In>,
                               deepjet::LSTMLayer<25, 8, 150, Direction::backwards, false, GateActivation::hard_sigmoid>>);
  // Options in any order.
  static_assert(std::is_same_v<LSTM<50, deepjet::return_sequences, deepjet::backwards>::bind<In>,
                               LSTM<50, deepjet::backwards, deepjet::return_sequences>::bind<In>>);
  static_assert(std::is_same_v<LSTM<150, deepjet::backwards>::bind<In>::output_shape, deepjet::Shape<150>>);
  static_assert(std::is_same_v<LSTM<50, deepjet::return_sequences>::bind<In>::output_shape, deepjet::Shape<25, 50>>);
  static_assert(deepjet::Layer<LSTM<150, deepjet::backwards>::bind<In>>);
  static_assert(deepjet::Layer<LSTM<7, deepjet::return_sequences>::bind<deepjet::Shape<4, 3>>>);
}

TEST(LSTMSpec, ParametersAreKerasLayoutAndDescribed) {
  using L = deepjet::LSTMLayer<25, 8, 150, Direction::backwards>;
  static_assert(L::parameter_count == 4 * (8 * 150 + 150 * 150 + 150));
  deepjet::Architecture architecture;
  L::describe(architecture, "2", 100);
  ASSERT_EQ(architecture.layers.size(), 1u);
  EXPECT_EQ(architecture.layers[0].signature, "LSTM (25, 8) -> (150) [backwards, last state]");
  ASSERT_EQ(architecture.parameters.size(), 3u);
  EXPECT_EQ(architecture.parameters[0].path, "2.kernel");
  EXPECT_EQ(architecture.parameters[0].offset, 100u);
  EXPECT_EQ(architecture.parameters[0].spec.shape[0], 8u);
  EXPECT_EQ(architecture.parameters[0].spec.shape[1], 600u);
  EXPECT_EQ(architecture.parameters[1].path, "2.recurrent_kernel");
  EXPECT_EQ(architecture.parameters[1].offset, 100u + 8 * 600);
  EXPECT_EQ(architecture.parameters[2].path, "2.bias");
  EXPECT_EQ(architecture.parameters[2].offset, 100u + 8 * 600 + 150 * 600);
  using Sequence = deepjet::LSTMLayer<4, 3, 5, Direction::forwards, true>;
  deepjet::Architecture other;
  Sequence::describe(other, "0", 0);
  EXPECT_EQ(other.layers[0].signature, "LSTM (4, 3) -> (4, 5) [forwards, sequence]");
  using Hard = deepjet::LSTMLayer<4, 3, 5, Direction::backwards, false, GateActivation::hard_sigmoid>;
  deepjet::Architecture hard;
  Hard::describe(hard, "0", 0);
  EXPECT_EQ(hard.layers[0].signature, "LSTM (4, 3) -> (5) [backwards, last state, hard_sigmoid gates]");
}

TEST(LSTMSpec, InitialisersAreKeras) {
  using L = deepjet::LSTMLayer<25, 8, 50, Direction::backwards>;
  deepjet::Random random(3);
  // kernel: glorot uniform over (8, 200).
  std::vector<float> kernel(8 * 200);
  deepjet::initialise(kernel, L::parameters[0], random);
  const float limit = std::sqrt(6.0f / (8 + 200));
  for (float v : kernel) EXPECT_LE(std::abs(v), limit);
  // recurrent kernel: orthogonal, so its 50 rows of 200 are orthonormal. Orthonormalised in double
  // (error ~1e-14) then rounded to float (relative 2^-24 per entry): for unit rows r, s the dot
  // product of the floats is within 2^-23 (1.2e-7) of r.s, on any machine; 1e-5 is far above it.
  std::vector<float> recurrent(50 * 200);
  deepjet::initialise(recurrent, L::parameters[1], random);
  for (std::size_t r = 0; r < 50; ++r)
    for (std::size_t s = 0; s <= r; ++s) {
      double dot = 0;
      for (std::size_t j = 0; j < 200; ++j) dot += double(recurrent[r * 200 + j]) * recurrent[s * 200 + j];
      EXPECT_NEAR(dot, r == s ? 1.0 : 0.0, 1e-5) << r << " " << s;
    }
  // bias: ones in the forget slice only.
  std::vector<float> bias(200, 7.0f);
  deepjet::initialise(bias, L::parameters[2], random);
  for (std::size_t j = 0; j < 200; ++j) EXPECT_EQ(bias[j], (j >= 50 && j < 100) ? 1.0f : 0.0f) << j;
}

TEST(LSTMSpec, OrthogonalInitialiserOnTallAndSquareMatrices) {
  // More rows than columns: the columns are orthonormal.
  deepjet::ParameterSpec tall{"w", {30, 7}, 2, deepjet::Initialiser::orthogonal, 30, 7};
  deepjet::Random random(11);
  std::vector<float> w(30 * 7);
  deepjet::initialise(w, tall, random);
  for (std::size_t a = 0; a < 7; ++a)
    for (std::size_t b = 0; b < 7; ++b) {
      double dot = 0;
      for (std::size_t r = 0; r < 30; ++r) dot += double(w[r * 7 + a]) * w[r * 7 + b];
      EXPECT_NEAR(dot, a == b ? 1.0 : 0.0, 1e-5);
    }
  deepjet::ParameterSpec square{"w", {9, 9}, 2, deepjet::Initialiser::orthogonal, 9, 9};
  std::vector<float> q(81);
  deepjet::initialise(q, square, random);
  for (std::size_t a = 0; a < 9; ++a)
    for (std::size_t b = 0; b < 9; ++b) {
      double rows = 0, cols = 0;
      for (std::size_t k = 0; k < 9; ++k) {
        rows += double(q[a * 9 + k]) * q[b * 9 + k];
        cols += double(q[k * 9 + a]) * q[k * 9 + b];
      }
      EXPECT_NEAR(rows, a == b ? 1.0 : 0.0, 1e-5);
      EXPECT_NEAR(cols, a == b ? 1.0 : 0.0, 1e-5);
    }
  // Deterministic for a seed.
  deepjet::Random again(11);
  std::vector<float> w2(30 * 7);
  deepjet::initialise(w2, tall, again);
  EXPECT_EQ(w, w2);
}

// ---- in a model -------------------------------------------------------------------------------

TEST(LSTMInModel, DeepJetChargedBranchTrainsAndCountsLikeKeras) {
  using deepjet::backwards;
  using Net = deepjet::Sequential<deepjet::Input<25, 8>, deepjet::LSTM<150, backwards>, deepjet::Dense<6>,
                                  deepjet::Softmax>;
  static_assert(std::is_same_v<Net::layer_type<0>, deepjet::LSTMLayer<25, 8, 150, Direction::backwards>>);
  // Keras: 4 (F H + H H + H); PyTorch's nn.LSTM has 4H more (two biases) and nn.Linear the same.
  constexpr std::size_t lstm_keras = 4 * (8 * 150 + 150 * 150 + 150);
  constexpr std::size_t lstm_torch = 4 * 150 * 8 + 4 * 150 * 150 + 2 * 4 * 150;
  static_assert(Net::parameter_count == lstm_keras + 150 * 6 + 6);
  static_assert(Net::parameter_count == lstm_torch - 4 * 150 + 150 * 6 + 6);
  EXPECT_EQ(Net::parameter_count, 96306u);

  deepjet::Model<Net> model(42);
  EXPECT_EQ(model.architecture().parameters[0].path, "0.kernel");
  // unit_forget_bias reached the model's parameters.
  const auto bias = model.parameter("0.bias");
  EXPECT_EQ(bias[0], 0.0f);
  EXPECT_EQ(bias[150], 1.0f);
  EXPECT_EQ(bias[299], 1.0f);
  EXPECT_EQ(bias[300], 0.0f);

  // Training steps with Adam on a fixed batch lower the cross-entropy.
  constexpr std::size_t B = 8;
  const auto x = random_values(B * 25 * 8, 12);
  std::vector<float> targets(B * 6, 0.0f);
  for (std::size_t b = 0; b < B; ++b) targets[b * 6 + b % 6] = 1.0f;
  const deepjet::ConstBatch<Net::input_shape> in{x.data(), B};
  const deepjet::ConstBatch<Net::output_shape> truth{targets.data(), B};
  deepjet::Adam adam{.learning_rate = 0.01};
  const double first = model.train_step(in, truth, nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  EXPECT_NEAR(first, std::log(6.0), 0.5);  // near-uniform predictions at the start
  double last = first;
  for (int step = 0; step < 20; ++step)
    last = model.train_step(in, truth, nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  EXPECT_TRUE(std::isfinite(last));
  EXPECT_LT(last, 0.5 * first);
  // The LSTM's parameters received gradients.
  const auto kernel_gradient = model.gradient("0.recurrent_kernel");
  EXPECT_GT(std::inner_product(kernel_gradient.begin(), kernel_gradient.end(), kernel_gradient.begin(), 0.0), 0.0);
}

TEST(LSTMInModel, ModelFileRoundTripAndDirectionIsPartOfTheArchitecture) {
  using Backwards = deepjet::Sequential<deepjet::Input<6, 3>, deepjet::LSTM<7, deepjet::backwards>, deepjet::Dense<2>>;
  using Forwards = deepjet::Sequential<deepjet::Input<6, 3>, deepjet::LSTM<7>, deepjet::Dense<2>>;
  const auto directory = std::filesystem::temp_directory_path() / ("deepjet-lstm-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  const auto path = directory / "lstm.h5";
  deepjet::Model<Backwards> saved(1), loaded(2);
  deepjet::save_model(saved, path);
  deepjet::load_model(loaded, path);
  EXPECT_TRUE(std::equal(saved.parameters().begin(), saved.parameters().end(), loaded.parameters().begin()));
  const auto x = random_values(4 * 18, 13);
  std::vector<float> a(8), b(8);
  deepjet::AlignedFloats scratch(deepjet::Model<Backwards>::scratch_size(4));
  saved.predict({x.data(), 4}, {a.data(), 4}, scratch);
  loaded.predict({x.data(), 4}, {b.data(), 4}, scratch);
  EXPECT_EQ(a, b);
  // Same parameter shapes, other direction: a different network, refused by name.
  deepjet::Model<Forwards> forwards;
  try {
    deepjet::load_model(forwards, path);
    ADD_FAILURE() << "a backwards LSTM's file loaded into a forwards LSTM";
  } catch (const deepjet::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("[backwards, last state]"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(directory);
}

// DeepJet's charged-candidate branch as in the reference: input BatchNorm, the 1x1 Conv1D stack
// 64-32-32-8 (ReLU, BatchNorm, Dropout 0.1 each), the backwards LSTM with 150 units, BatchNorm,
// Dropout; here with a 6-class head so that it trains on its own.
TEST(LSTMInModel, DeepJetChargedCandidateBranchWithConvolutionsTrains) {
  using deepjet::BatchNorm;
  using deepjet::Conv1D;
  using deepjet::Dropout;
  using deepjet::ReLU;
  using Branch = deepjet::Sequential<
      deepjet::Input<25, 16>, BatchNorm<>,                                  //
      Conv1D<64>, ReLU, BatchNorm<>, Dropout<0.1f>, Conv1D<32>, ReLU, BatchNorm<>, Dropout<0.1f>,  //
      Conv1D<32>, ReLU, BatchNorm<>, Dropout<0.1f>, Conv1D<8>, ReLU, BatchNorm<>, Dropout<0.1f>,   //
      deepjet::LSTM<150, deepjet::backwards>, BatchNorm<>, Dropout<0.1f>,  //
      deepjet::Dense<6>, deepjet::Softmax>;
  static_assert(std::is_same_v<Branch::layer_type<17>, deepjet::LSTMLayer<25, 8, 150, Direction::backwards>>);
  deepjet::Model<Branch> model(3);
  constexpr std::size_t B = 32;
  const auto x = random_values(B * 25 * 16, 14, 2.0f);
  std::vector<float> targets(B * 6, 0.0f);
  for (std::size_t b = 0; b < B; ++b) targets[b * 6 + (x[b * 400] > 0 ? 0 : 1 + b % 5)] = 1.0f;
  const deepjet::ConstBatch<Branch::input_shape> in{x.data(), B};
  const deepjet::ConstBatch<Branch::output_shape> truth{targets.data(), B};
  deepjet::Adam adam{.learning_rate = 0.003};
  std::vector<double> losses;
  for (int step = 0; step < 40; ++step)
    losses.push_back(model.train_step(in, truth, nullptr, deepjet::CategoricalCrossEntropy{}, adam));
  const double first = (losses[0] + losses[1] + losses[2]) / 3, last = (losses[37] + losses[38] + losses[39]) / 3;
  EXPECT_TRUE(std::isfinite(last));
  EXPECT_LT(last, 0.5 * first) << "first " << first << ", last " << last;
  // Inference runs the same network with the running statistics and no dropout.
  deepjet::AlignedFloats scratch(deepjet::Model<Branch>::scratch_size(B));
  std::vector<float> p(B * 6);
  model.predict(in, {p.data(), B}, scratch);
  for (std::size_t b = 0; b < B; ++b) EXPECT_NEAR(std::accumulate(p.begin() + b * 6, p.begin() + b * 6 + 6, 0.0), 1.0, 1e-5);
}

}  // namespace
