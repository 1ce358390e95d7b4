// GRU: finite-difference gradient checks, agreement with PyTorch's nn.GRU and with a float64
// reference of both reset conventions and both gate activations (tests/fixtures/gru.txt, written
// by scripts/make_torch_fixtures_gru.py), the spec and its options, inference against training,
// and the layer in models (composites, BatchNorm folding, model files, training).
//
// Tolerances. Every comparison of computed floats uses a bound, never exact equality, and the
// bounds hold whatever the instruction set (AVX2 or AVX-512) and whether or not the compiler
// contracts multiply-adds: those change the rounding of each float32 operation, not its size.
#include "support/fixtures.hpp"
#include "support/gradient_check.hpp"

#include <deepjet/deepjet.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <numeric>
#include <thread>
#include <unistd.h>

namespace {

using deepjet::Direction;
using deepjet::GateActivation;
using deepjet::GRULayer;
using deepjet::GRUReset;
using deepjet::test::check_layer_gradients;
using deepjet::test::expect_close;
using deepjet::test::fixtures;

// ---- finite differences -------------------------------------------------------------------------
// check_layer_gradients: central differences of step 1e-2 on f = sum(dy * y) (summed in double),
// within 2e-2 max(|numeric|, 1e-2). Two errors enter the numeric derivative: truncation,
// O(step^2 f''') and the same on every machine, and float32 rounding of y (~1e-7 per output,
// some 60 - 300 outputs of random sign), divided by 2 step: ~3e-5 absolute, which is what
// changes with the instruction set and FMA contraction; the bound is at least 2e-4 absolute.
// Measured: every check here still passes with the tolerance 5e-3 (4x tighter), all but the
// 12-step list with 2e-3. The hard_sigmoid checks use the same step: the function is exactly
// linear between its clip edges, and the parameters (within 0.5) and inputs (within 1) keep the
// gate pre-activations inside |x| < 2.5 but rarely near it (a step of 1e-3, as the LSTM's test
// uses, leaves only a 2x margin over the rounding noise: measured).
template <GRUReset reset, GateActivation gates = GateActivation::sigmoid>
void check_all_directions_and_outputs(const deepjet::test::GradientCheckOptions& options = {}) {
  check_layer_gradients<GRULayer<4, 3, 5, reset, Direction::forwards, false, gates>>(options);
  check_layer_gradients<GRULayer<4, 3, 5, reset, Direction::backwards, false, gates>>(options);
  check_layer_gradients<GRULayer<4, 3, 5, reset, Direction::forwards, true, gates>>(options);
  check_layer_gradients<GRULayer<4, 3, 5, reset, Direction::backwards, true, gates>>(options);
}

TEST(GRUGradientCheck, ResetAfterSigmoid) { check_all_directions_and_outputs<GRUReset::after>(); }
TEST(GRUGradientCheck, ResetBeforeSigmoid) { check_all_directions_and_outputs<GRUReset::before>(); }
TEST(GRUGradientCheck, ResetAfterHardSigmoid) {
  check_all_directions_and_outputs<GRUReset::after, GateActivation::hard_sigmoid>();
}
TEST(GRUGradientCheck, ResetBeforeHardSigmoid) {
  check_all_directions_and_outputs<GRUReset::before, GateActivation::hard_sigmoid>();
}
// Widths that fill whole SIMD registers and leave a partial one; one sample.
TEST(GRUGradientCheck, WiderUnitsOneSample) {
  check_layer_gradients<GRULayer<3, 2, 19, GRUReset::after, Direction::backwards>>({.batch = 1});
  check_layer_gradients<GRULayer<3, 2, 19, GRUReset::before, Direction::forwards, true>>({.batch = 1});
}
// Longer backpropagation through time, more samples than one row tile of the products.
TEST(GRUGradientCheck, LongerList) {
  check_layer_gradients<GRULayer<12, 5, 7, GRUReset::before, Direction::backwards, true>>({.batch = 7});
  check_layer_gradients<GRULayer<12, 5, 7, GRUReset::after, Direction::forwards, true>>({.batch = 7});
}
TEST(GRUGradientCheck, SingleEntry) {
  check_layer_gradients<GRULayer<1, 4, 3, GRUReset::after, Direction::backwards, true>>({.batch = 2});
  check_layer_gradients<GRULayer<1, 4, 3, GRUReset::before>>({.batch = 2});
}
// Stacked: a backwards reset_before sequence feeding a forwards reset_after GRU with hard gates;
// gradients flow through both recurrences into the input.
TEST(GRUGradientCheck, StackedInSequential) {
  using Net = deepjet::Sequential<deepjet::Input<6, 3>,
                                  deepjet::GRU<5, deepjet::reset_before, deepjet::backwards, deepjet::return_sequences>,
                                  deepjet::GRU<3, deepjet::reset_after, deepjet::hard_sigmoid_gates>>;
  static_assert(std::is_same_v<Net::output_shape, deepjet::Shape<3>>);
  check_layer_gradients<Net>({.batch = 2});
}
// Two list inputs, each through its own GRU (Branches of Stacks), concatenated, a dense head.
using TwoLists = deepjet::Sequential<
    deepjet::Inputs<deepjet::Shape<5, 3>, deepjet::Shape<4, 2>>,
    deepjet::Branches<deepjet::Stack<deepjet::GRU<4, deepjet::reset_after>>,
                      deepjet::Stack<deepjet::GRU<3, deepjet::reset_before, deepjet::backwards>, deepjet::Tanh>>,
    deepjet::Concatenate, deepjet::Dense<2>>;
TEST(GRUGradientCheck, BranchesOfStacks) { check_layer_gradients<TwoLists>({.batch = 2}); }

// ---- agreement with PyTorch and with the float64 reference ------------------------------------
// |deepjet - reference| <= 1e-4 max(|expected|, 1e-2). The references are float64 computations on
// the same float32 inputs, so this measures deepjet's float32 error alone. That error is absolute
// at the scale of the terms, not of the result: states, gates and their gradients are O(0.1 - 1),
// a gradient is a sum of ~15 such products per weight, and float32 rounds each to ~6e-8, so a
// small result (a gradient of 3e-4 from terms of 0.1) carries ~1e-7 absolute error. Hence the
// floor 1e-2, which makes the bound at least 1e-6 absolute. Observed worst: 1.2e-5 of the bound's
// scale (1.5e-7 absolute), 8x inside it; another instruction set or FMA contraction changes how
// each operation rounds, not the size of the rounding.
constexpr double agreement_relative = 1e-4, agreement_floor = 1e-2;

std::vector<float> concatenated(std::initializer_list<const std::vector<float>*> parts) {
  std::vector<float> all;
  for (const auto* part : parts) all.insert(all.end(), part->begin(), part->end());
  return all;
}

template <deepjet::Layer L>
std::vector<float> run_infer(const std::vector<float>& params, const std::vector<float>& x, std::size_t count) {
  std::vector<float> y(L::output_shape::size * count);
  std::vector<float> scratch(L::scratch_size(count));
  std::vector<float> packed(deepjet::inference_parameter_count_of<L>);
  deepjet::pack_inference_parameters<L>(params.data(), packed.data());
  L::infer(packed.data(), {x.data(), count}, {y.data(), count}, scratch.data());
  return y;
}

std::vector<float> slice(const std::vector<float>& v, std::size_t from, std::size_t to) {
  return {v.begin() + static_cast<std::ptrdiff_t>(from), v.begin() + static_cast<std::ptrdiff_t>(to)};
}

// Inference and training outputs, then input and parameter gradients of sum(dy * y), against
// the fixture tensors `name`.y, .dy, .dx, .dkernel, .drecurrent_kernel, .dbias (.drecurrent_bias).
template <deepjet::Layer L>
void check_against_fixture(const std::vector<float>& params, const std::vector<float>& x, const std::string& name) {
  constexpr std::size_t B = 3;
  const auto& f = fixtures("gru");
  const auto& expected_y = f[name + ".y"].values;
  expect_close(run_infer<L>(params, x, B), expected_y, agreement_relative, agreement_floor, name + " inference output");

  L layer;
  deepjet::TrainingContext context;
  std::vector<float> y(L::output_shape::size * B), grads(L::parameter_count, 0.0f), dx(x.size());
  auto p = params;
  layer.forward(context, p.data(), {x.data(), B}, {y.data(), B});
  expect_close(y, expected_y, agreement_relative, agreement_floor, name + " training output");
  layer.backward(params.data(), grads.data(), {x.data(), B}, {y.data(), B}, {f[name + ".dy"].values.data(), B},
                 {dx.data(), B});
  expect_close(dx, f[name + ".dx"].values, agreement_relative, agreement_floor, name + " dx");
  expect_close(slice(grads, L::kernel_offset, L::recurrent_kernel_offset), f[name + ".dkernel"].values,
               agreement_relative, agreement_floor, name + " dkernel");
  expect_close(slice(grads, L::recurrent_kernel_offset, L::bias_offset), f[name + ".drecurrent_kernel"].values,
               agreement_relative, agreement_floor, name + " drecurrent_kernel");
  expect_close(slice(grads, L::bias_offset, L::bias_offset + L::G), f[name + ".dbias"].values, agreement_relative,
               agreement_floor, name + " dbias");
  if constexpr (L::has_recurrent_bias)
    expect_close(slice(grads, L::recurrent_bias_offset, L::parameter_count), f[name + ".drecurrent_bias"].values,
                 agreement_relative, agreement_floor, name + " drecurrent_bias");
}

// nn.GRU's own tensors through parameters_from_pytorch (the documented mapping, gate order r, z, n
// to z, r, h); the script converted the gradients to deepjet's layout on its own.
template <Direction direction, bool sequence>
void check_against_pytorch() {
  using L = GRULayer<5, 4, 6, GRUReset::after, direction, sequence>;
  const auto& f = fixtures("gru");
  std::vector<float> params(L::parameter_count);
  L::parameters_from_pytorch(f["torch.weight_ih_l0"].values, f["torch.weight_hh_l0"].values,
                             f["torch.bias_ih_l0"].values, f["torch.bias_hh_l0"].values, params);
  const std::string name = std::string("torch.") + (direction == Direction::forwards ? "forwards" : "backwards") +
                           (sequence ? ".sequence" : ".last");
  check_against_fixture<L>(params, f["torch.x"].values, name);
}

TEST(GRUPyTorchAgreement, ForwardsLastState) { check_against_pytorch<Direction::forwards, false>(); }
TEST(GRUPyTorchAgreement, ForwardsSequence) { check_against_pytorch<Direction::forwards, true>(); }
TEST(GRUPyTorchAgreement, BackwardsLastState) { check_against_pytorch<Direction::backwards, false>(); }
TEST(GRUPyTorchAgreement, BackwardsSequence) { check_against_pytorch<Direction::backwards, true>(); }

// Both conventions and both gate activations against the recurrence written out in float64 numpy
// (forward) and differentiated by torch autograd (gradients), deepjet-layout weights.
template <GRUReset reset, GateActivation gates>
void check_against_reference() {
  const auto& f = fixtures("gru");
  for (Direction direction : {Direction::forwards, Direction::backwards}) {
    const std::string prefix = std::string("ref.") + (reset == GRUReset::after ? "after" : "before") +
                               (gates == GateActivation::sigmoid ? ".sigmoid" : ".hard") +
                               (direction == Direction::forwards ? ".forwards" : ".backwards");
    std::vector<float> params =
        concatenated({&f[prefix + ".kernel"].values, &f[prefix + ".recurrent_kernel"].values, &f[prefix + ".bias"].values});
    if (reset == GRUReset::after) params = concatenated({&params, &f[prefix + ".recurrent_bias"].values});
    const auto& x = f[prefix + ".x"].values;
    auto run = [&]<Direction d, bool sequence>() {
      using L = GRULayer<5, 4, 6, reset, d, sequence, gates>;
      ASSERT_EQ(params.size(), L::parameter_count);
      check_against_fixture<L>(params, x, prefix + (sequence ? ".sequence" : ".last"));
    };
    if (direction == Direction::forwards) {
      run.template operator()<Direction::forwards, false>();
      run.template operator()<Direction::forwards, true>();
    } else {
      run.template operator()<Direction::backwards, false>();
      run.template operator()<Direction::backwards, true>();
    }
  }
}

TEST(GRUReferenceAgreement, ResetAfterSigmoid) { check_against_reference<GRUReset::after, GateActivation::sigmoid>(); }
TEST(GRUReferenceAgreement, ResetAfterHardSigmoid) {
  check_against_reference<GRUReset::after, GateActivation::hard_sigmoid>();
}
TEST(GRUReferenceAgreement, ResetBeforeSigmoid) { check_against_reference<GRUReset::before, GateActivation::sigmoid>(); }
TEST(GRUReferenceAgreement, ResetBeforeHardSigmoid) {
  check_against_reference<GRUReset::before, GateActivation::hard_sigmoid>();
}

template <class L>
concept HasPyTorchMapping = requires(std::span<const float> tensor, std::span<float> params) {
  L::parameters_from_pytorch(tensor, tensor, tensor, tensor, params);
};

TEST(GRUPyTorchAgreement, ParametersFromPyTorchChecksSizesAndAllowsNoBias) {
  using L = GRULayer<5, 4, 6, GRUReset::after>;
  const auto& f = fixtures("gru");
  const auto& weight_ih = f["torch.weight_ih_l0"].values;
  const auto& weight_hh = f["torch.weight_hh_l0"].values;
  std::vector<float> params(L::parameter_count, 7.0f);
  L::parameters_from_pytorch(weight_ih, weight_hh, {}, {}, params);  // bias=False: zero biases
  for (std::size_t j = 0; j < 18; ++j) {
    EXPECT_EQ(params[L::bias_offset + j], 0.0f);
    EXPECT_EQ(params[L::recurrent_bias_offset + j], 0.0f);
  }
  // Copies, not computations: exact. kernel[f=1][z unit 2] is PyTorch's row H + 2 (z is its
  // second block), kernel[f=3][r unit 0] its row 0, recurrent_kernel[5][h unit 5] its row 2H + 5.
  EXPECT_EQ(params[L::kernel_offset + 1 * 18 + 2], weight_ih[(6 + 2) * 4 + 1]);
  EXPECT_EQ(params[L::kernel_offset + 3 * 18 + 6], weight_ih[0 * 4 + 3]);
  EXPECT_EQ(params[L::recurrent_kernel_offset + 5 * 18 + 17], weight_hh[17 * 6 + 5]);
  std::vector<float> untouched(L::parameter_count, 3.0f);
  std::vector<float> wider_ih(3 * 7 * 4), wider_hh(3 * 7 * 7);
  try {
    L::parameters_from_pytorch(wider_ih, wider_hh, {}, {}, untouched);
    ADD_FAILURE() << "no error for a 7-unit GRU's weights";
  } catch (const deepjet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight_ih has 84 values, this layer needs 72"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::all_of(untouched.begin(), untouched.end(), [](float v) { return v == 3.0f; }));
  // reset_before has no PyTorch counterpart, hence no parameters_from_pytorch.
  static_assert(HasPyTorchMapping<L> && !HasPyTorchMapping<GRULayer<5, 4, 6, GRUReset::before>>);
}

// ---- inference against training ----------------------------------------------------------------

std::vector<float> random_values(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
  deepjet::Random random(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = random.uniform(-scale, scale);
  return v;
}

// Inference and the training forward pass evaluate the same recurrence in float32 through the
// same kernels, but in different groupings (blocks of 64 samples against the whole batch, so
// other tiles of the products). Each differs from the exact value by at most about
// T (F + H) eps |terms| ~ 5 * 16 * 6e-8 = 5e-6 (states are bounded by 1, weights by 0.5), so
// their difference is below 1e-5 absolute; tanh keeps the errors from growing along the steps.
constexpr double inference_bound = 1e-5;

template <GRUReset reset>
void check_blocked_inference() {
  using L = GRULayer<5, 3, 9, reset, Direction::backwards>;
  constexpr std::size_t B = L::inference_block + 37;
  const auto params = random_values(L::parameter_count, 3, 0.5f);
  const auto x = random_values(B * 15, 4);
  static_assert(L::scratch_size(B) == L::inference_block * (5 * 27 + 27 + 27));
  static_assert(L::scratch_size(10) == 10 * (5 * 27 + 27 + 27));
  const auto inferred = run_infer<L>(params, x, B);  // two blocks: they must not interfere
  L layer;
  deepjet::TrainingContext context;
  std::vector<float> y(B * 9);
  auto p = params;
  layer.forward(context, p.data(), {x.data(), B}, {y.data(), B});
  expect_close(inferred, y, inference_bound, 1.0, "inference against training forward");
}

TEST(GRU, InferenceInBlocksMatchesTrainingForward) {
  check_blocked_inference<GRUReset::after>();
  check_blocked_inference<GRUReset::before>();
}

TEST(GRU, BackwardsIsForwardsOnTheReversedList) {
  constexpr std::size_t B = 4, T = 6, F = 3, H = 7;
  using Forwards = GRULayer<T, F, H, GRUReset::before, Direction::forwards, true>;
  using Backwards = GRULayer<T, F, H, GRUReset::before, Direction::backwards, true>;
  const auto params = random_values(Forwards::parameter_count, 1, 0.5f);
  const auto x = random_values(B * T * F, 2);
  std::vector<float> reversed(x.size());
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t < T; ++t)
      std::copy_n(x.begin() + static_cast<std::ptrdiff_t>((b * T + t) * F), F,
                  reversed.begin() + static_cast<std::ptrdiff_t>((b * T + T - 1 - t) * F));
  const auto on_reversed = run_infer<Forwards>(params, reversed, B);
  const auto backwards = run_infer<Backwards>(params, x, B);
  // The same operations on the same numbers in another order of memory: the same rounding in
  // practice; the bound only allows for a compiler that schedules the two differently.
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t < T; ++t)
      for (std::size_t j = 0; j < H; ++j)
        EXPECT_NEAR(backwards[(b * T + t) * H + j], on_reversed[(b * T + T - 1 - t) * H + j], 1e-6);
}

TEST(GRU, InferIsThreadSafeWithOwnScratch) {
  using L = GRULayer<7, 4, 12, GRUReset::after, Direction::backwards>;
  const auto params = random_values(L::parameter_count, 5, 0.5f);
  const auto x = random_values(16 * 28, 6);
  const auto reference = run_infer<L>(params, x, 16);
  std::vector<std::vector<float>> results(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&, i] { results[i] = run_infer<L>(params, x, 16); });
  for (auto& thread : threads) thread.join();
  // The same function on the same inputs: a thread that shared state with another would give a
  // different (or garbage) result, far outside this bound.
  for (const auto& result : results) expect_close(result, reference, 1e-6, 1.0, "a thread's output");
}

TEST(GRU, BackwardAccumulatesParameterGradientsAndMayOmitInputGradient) {
  using L = GRULayer<4, 3, 5, GRUReset::after, Direction::backwards, true>;
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
  // Two float32 additions of the same value: within one rounding of 2 * once.
  for (std::size_t i = 0; i < once.size(); ++i) EXPECT_NEAR(twice[i], 2 * once[i], 1e-6 + 1e-6 * std::abs(once[i]));
  EXPECT_THROW(layer.backward(params.data(), twice.data(), {x.data(), B}, {y.data(), B}, {dy.data(), B}, {nullptr, B}),
               deepjet::Error);
}

// Data-parallel training as the Trainer does it: copies of a layer object are the per-thread
// workers, each on its slice of the batch, with its own gradient array; summed in thread order
// they give the whole batch's gradient. The sums differ only in how the same float32 terms are
// grouped (each is a sum of ~100 products of size <= 1, rounded to ~1e-7): within 1e-4 of
// max(|g|, 1e-2), i.e. at least 1e-6 absolute.
TEST(GRU, LayerCopiesAreIndependentWorkersOnSlicesOfTheBatch) {
  using L = GRULayer<6, 3, 10, GRUReset::before, Direction::backwards, true, GateActivation::hard_sigmoid>;
  constexpr std::size_t B = 8, half = B / 2, in_size = 6 * 3, out_size = 6 * 10;
  auto params = random_values(L::parameter_count, 40, 0.5f);
  const auto x = random_values(B * in_size, 41);
  const auto dy = random_values(B * out_size, 42);
  L whole;
  deepjet::TrainingContext context;
  std::vector<float> y(B * out_size), expected(L::parameter_count, 0.0f), expected_dx(B * in_size);
  whole.forward(context, params.data(), {x.data(), B}, {y.data(), B});
  whole.backward(params.data(), expected.data(), {x.data(), B}, {y.data(), B}, {dy.data(), B}, {expected_dx.data(), B});

  std::vector<L> workers(2, whole);  // copies of a used layer object, as the Trainer makes them
  std::vector<std::vector<float>> gradients(2, std::vector<float>(L::parameter_count, 0.0f));
  std::vector<float> dx(B * in_size);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      deepjet::TrainingContext own_context;
      std::vector<float> slice_y(half * out_size);
      const float* slice_x = x.data() + t * half * in_size;
      workers[t].forward(own_context, params.data(), {slice_x, half}, {slice_y.data(), half});
      workers[t].backward(params.data(), gradients[t].data(), {slice_x, half}, {slice_y.data(), half},
                          {dy.data() + t * half * out_size, half}, {dx.data() + t * half * in_size, half});
    });
  for (auto& thread : threads) thread.join();
  std::vector<float> summed(L::parameter_count);
  for (std::size_t i = 0; i < summed.size(); ++i) summed[i] = gradients[0][i] + gradients[1][i];
  expect_close(summed, expected, 1e-4, 1e-2, "summed gradients of two workers");
  expect_close(dx, expected_dx, 1e-4, 1e-2, "input gradients of two workers");
}

TEST(GRU, TrainingBuffersGrowAndShrinkingBatchesStillAgree) {
  using L = GRULayer<3, 2, 4, GRUReset::before>;
  auto params = random_values(L::parameter_count, 10, 0.5f);
  L layer;
  deepjet::TrainingContext context;
  for (std::size_t batch : {5u, 2u, 7u, 1u}) {
    const auto x = random_values(batch * 6, 11 + batch);
    std::vector<float> y(batch * 4);
    layer.forward(context, params.data(), {x.data(), batch}, {y.data(), batch});
    expect_close(y, run_infer<L>(params, x, batch), inference_bound, 1.0, "batch " + std::to_string(batch));
  }
}

// ---- spec, options, parameters ------------------------------------------------------------------

TEST(GRUSpec, OptionsBindToTheRightLayer) {
  using deepjet::GRU;
  using deepjet::reset_after;
  using deepjet::reset_before;
  using In = deepjet::Shape<60, 16>;
  static_assert(std::is_same_v<GRU<50, reset_after>::bind<In>, GRULayer<60, 16, 50, GRUReset::after>>);
  static_assert(std::is_same_v<GRU<50, reset_before, deepjet::backwards>::bind<In>,
                               GRULayer<60, 16, 50, GRUReset::before, Direction::backwards>>);
  static_assert(std::is_same_v<GRU<50, deepjet::return_sequences, reset_after>::bind<In>,
                               GRULayer<60, 16, 50, GRUReset::after, Direction::forwards, true>>);
  static_assert(std::is_same_v<GRU<50, deepjet::hard_sigmoid_gates, deepjet::backwards, reset_before>::bind<In>,
                               GRULayer<60, 16, 50, GRUReset::before, Direction::backwards, false,
                                        GateActivation::hard_sigmoid>>);
  static_assert(std::is_same_v<GRU<50, reset_after>::bind<In>::output_shape, deepjet::Shape<50>>);
  static_assert(std::is_same_v<GRU<50, reset_after, deepjet::return_sequences>::bind<In>::output_shape,
                               deepjet::Shape<60, 50>>);
  static_assert(deepjet::Layer<GRU<50, reset_after>::bind<In>>);
  static_assert(deepjet::Layer<GRU<7, reset_before, deepjet::return_sequences>::bind<deepjet::Shape<4, 3>>>);
}

TEST(GRUSpec, ParametersAreKerasLayoutAndDescribed) {
  // Keras: 3 (F H + H H + H) with reset_after=False; 3H more with reset_after=True (bias (2, 3H)).
  using After = GRULayer<60, 16, 50, GRUReset::after, Direction::backwards>;
  using Before = GRULayer<60, 16, 50, GRUReset::before>;
  static_assert(Before::parameter_count == 3 * (16 * 50 + 50 * 50 + 50));
  static_assert(After::parameter_count == 3 * (16 * 50 + 50 * 50 + 50) + 3 * 50);
  deepjet::Architecture architecture;
  After::describe(architecture, "2", 100);
  ASSERT_EQ(architecture.layers.size(), 1u);
  EXPECT_EQ(architecture.layers[0].signature, "GRU (60, 16) -> (50) [backwards, last state, reset_after]");
  ASSERT_EQ(architecture.parameters.size(), 4u);
  const char* names[] = {"2.kernel", "2.recurrent_kernel", "2.bias", "2.recurrent_bias"};
  const std::size_t offsets[] = {100, 100 + 16 * 150, 100 + 16 * 150 + 50 * 150, 100 + 16 * 150 + 50 * 150 + 150};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(architecture.parameters[i].path, names[i]);
    EXPECT_EQ(architecture.parameters[i].offset, offsets[i]);
  }
  EXPECT_EQ(architecture.parameters[0].spec.shape[0], 16u);
  EXPECT_EQ(architecture.parameters[0].spec.shape[1], 150u);
  EXPECT_EQ(architecture.parameters[1].spec.shape[0], 50u);
  EXPECT_EQ(architecture.parameters[3].spec.shape[0], 150u);
  deepjet::Architecture before;
  GRULayer<4, 3, 5, GRUReset::before, Direction::forwards, true, GateActivation::hard_sigmoid>::describe(before, "0", 0);
  EXPECT_EQ(before.layers[0].signature, "GRU (4, 3) -> (4, 5) [forwards, sequence, reset_before, hard_sigmoid gates]");
  ASSERT_EQ(before.parameters.size(), 3u);
  EXPECT_EQ(before.parameters[2].path, "0.bias");
}

TEST(GRUSpec, InitialisersAreKeras) {
  using L = GRULayer<25, 8, 50, GRUReset::after>;
  deepjet::Random random(3);
  std::vector<float> kernel(8 * 150);
  deepjet::initialise(kernel, L::parameters[0], random);
  const float limit = std::sqrt(6.0f / (8 + 150));  // glorot uniform over (8, 150)
  for (float v : kernel) EXPECT_LE(std::abs(v), limit);
  std::vector<float> recurrent(50 * 150);  // orthogonal: its 50 rows of 150 are orthonormal
  deepjet::initialise(recurrent, L::parameters[1], random);
  for (std::size_t r = 0; r < 50; r += 7)
    for (std::size_t s = 0; s <= r; s += 3) {
      double dot = 0;
      for (std::size_t j = 0; j < 150; ++j) dot += double(recurrent[r * 150 + j]) * recurrent[s * 150 + j];
      EXPECT_NEAR(dot, r == s ? 1.0 : 0.0, 1e-5) << r << " " << s;
    }
  for (std::size_t i : {2u, 3u}) {
    std::vector<float> bias(150, 7.0f);
    deepjet::initialise(bias, L::parameters[i], random);
    for (float v : bias) EXPECT_EQ(v, 0.0f);
  }
}

// ---- in a model ------------------------------------------------------------------------------

// A BatchNorm before the GRU is folded into its kernel and bias at inference. With the BatchNorm
// frozen (running statistics) the training forward pass computes the same function unfolded;
// folding changes the rounding of x W + b only (one more product per weight, a sum of F terms in
// the bias), which the recurrence carries to the output within the bound derived above.
template <class Gru>
void check_folded_batch_norm() {
  using Net = deepjet::Sequential<deepjet::Input<6, 4>, deepjet::BatchNorm<>, Gru, deepjet::Dense<3>>;
  deepjet::Model<Net> model(21);
  const float mean[] = {0.5f, -1.0f, 0.25f, 2.0f}, variance[] = {0.5f, 2.0f, 1.5f, 0.25f};
  const float gamma[] = {1.5f, 0.5f, -0.75f, 1.0f}, beta[] = {0.1f, -0.2f, 0.3f, 0.0f};
  std::copy_n(mean, 4, model.parameter("0.running_mean").begin());
  std::copy_n(variance, 4, model.parameter("0.running_var").begin());
  std::copy_n(gamma, 4, model.parameter("0.gamma").begin());
  std::copy_n(beta, 4, model.parameter("0.beta").begin());
  model.set_trainable("0", false);
  static_assert(Net::folded_batch_norms == 1);
  constexpr std::size_t B = 5;
  const auto x = random_values(B * 24, 22, 2.0f);
  const deepjet::ConstBatch<typename Net::input_shape> in{x.data(), B};
  const auto trained = model.forward(in);
  const std::vector<float> unfolded(trained.data, trained.data + B * 3);
  deepjet::Predictor<Net> predictor(model);
  typename deepjet::Predictor<Net>::Workspace workspace;
  std::vector<float> folded(B * 3);
  predictor.predict(in, {folded.data(), B}, workspace);
  expect_close(folded, unfolded, inference_bound, 1.0, "BatchNorm folded into the GRU");
}

TEST(GRUInModel, BatchNormBeforeIsFoldedAtInference) {
  check_folded_batch_norm<deepjet::GRU<7, deepjet::reset_after, deepjet::backwards>>();
  check_folded_batch_norm<deepjet::GRU<7, deepjet::reset_before, deepjet::hard_sigmoid_gates>>();
}

TEST(GRUInModel, BranchesPredictorMatchesTrainingForward) {
  deepjet::Model<TwoLists> model(4);
  constexpr std::size_t B = 3;
  const auto a = random_values(B * 15, 30), b = random_values(B * 8, 31);
  deepjet::ConstBatch<TwoLists::input_shape> in;
  in.count = B;
  std::get<0>(in.parts) = {a.data(), B};
  std::get<1>(in.parts) = {b.data(), B};
  const auto trained = model.forward(in);
  const std::vector<float> expected(trained.data, trained.data + B * 2);
  deepjet::Predictor<TwoLists> predictor(model);
  deepjet::Predictor<TwoLists>::Workspace workspace;
  std::vector<float> predicted(B * 2);
  predictor.predict(in, {predicted.data(), B}, workspace);
  expect_close(predicted, expected, inference_bound, 1.0, "two GRU branches");
}

template <class Gru>
void check_training_lowers_the_loss() {
  using Net = deepjet::Sequential<deepjet::Input<10, 4>, Gru, deepjet::Dense<3>, deepjet::Softmax>;
  deepjet::Model<Net> model(42);
  constexpr std::size_t B = 12;
  const auto x = random_values(B * 40, 12);
  std::vector<float> targets(B * 3, 0.0f);
  for (std::size_t b = 0; b < B; ++b) targets[b * 3 + b % 3] = 1.0f;
  const deepjet::ConstBatch<typename Net::input_shape> in{x.data(), B};
  const deepjet::ConstBatch<typename Net::output_shape> truth{targets.data(), B};
  deepjet::Adam adam{.learning_rate = 0.01};
  const double first = model.train_step(in, truth, nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  EXPECT_NEAR(first, std::log(3.0), 0.5);  // near-uniform predictions at the start
  double last = first;
  for (int step = 0; step < 30; ++step) last = model.train_step(in, truth, nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  EXPECT_TRUE(std::isfinite(last));
  EXPECT_LT(last, 0.5 * first) << "first " << first << ", last " << last;
  const auto gradient = model.gradient("0.recurrent_kernel");
  EXPECT_GT(std::inner_product(gradient.begin(), gradient.end(), gradient.begin(), 0.0), 0.0);
}

TEST(GRUInModel, ShortTrainingLowersTheLoss) {
  check_training_lowers_the_loss<deepjet::GRU<16, deepjet::reset_after, deepjet::backwards>>();
  check_training_lowers_the_loss<deepjet::GRU<16, deepjet::reset_before, deepjet::hard_sigmoid_gates>>();
}

TEST(GRUInModel, ModelFileRoundTripAndOptionsArePartOfTheArchitecture) {
  using Saved = deepjet::Sequential<deepjet::Input<6, 3>, deepjet::GRU<7, deepjet::reset_before, deepjet::backwards>,
                                    deepjet::Dense<2>>;
  const auto directory = std::filesystem::temp_directory_path() / ("deepjet-gru-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  const auto path = directory / "gru.h5";
  deepjet::Model<Saved> saved(1), loaded(2);
  deepjet::save_model(saved, path);
  deepjet::load_model(loaded, path);
  // Stored and read back, not computed: exactly the same floats.
  EXPECT_TRUE(std::equal(saved.parameters().begin(), saved.parameters().end(), loaded.parameters().begin()));
  const auto x = random_values(4 * 18, 13);
  std::vector<float> a(8), b(8);
  deepjet::AlignedFloats scratch(deepjet::Model<Saved>::scratch_size(4));
  saved.predict({x.data(), 4}, {a.data(), 4}, scratch);
  loaded.predict({x.data(), 4}, {b.data(), 4}, scratch);
  expect_close(b, a, 1e-6, 1.0, "the loaded model's predictions");  // same parameters, same code
  // Same parameter shapes, other gate activation or direction: a different network, refused by name.
  auto expect_refused = [&]<class Other>(const std::string& expected_text) {
    deepjet::Model<Other> other;
    try {
      deepjet::load_model(other, path);
      ADD_FAILURE() << "loaded into a GRU with other options";
    } catch (const deepjet::FileError& e) {
      EXPECT_NE(std::string(e.what()).find(expected_text), std::string::npos) << e.what();
    }
  };
  using Hard = deepjet::Sequential<deepjet::Input<6, 3>,
                                   deepjet::GRU<7, deepjet::reset_before, deepjet::backwards, deepjet::hard_sigmoid_gates>,
                                   deepjet::Dense<2>>;
  using ResetAfter = deepjet::Sequential<deepjet::Input<6, 3>, deepjet::GRU<7, deepjet::reset_after, deepjet::backwards>,
                                         deepjet::Dense<2>>;
  expect_refused.template operator()<Hard>("[backwards, last state, reset_before]");
  expect_refused.template operator()<ResetAfter>("reset_");
  std::filesystem::remove_all(directory);
}

}  // namespace
