// Jet layers (Conv1D, BatchNorm, Dropout, Flatten, GlobalAveragePooling): finite-difference
// gradient checks, agreement with PyTorch (tests/fixtures/jet_layers.txt, written by
// scripts/make_torch_fixtures_jet_layers.py), Conv1D against plain loops, dropout semantics, and a
// DeepJet-style particle branch that trains and freezes its input BatchNorm.
#include "support/fixtures.hpp"
#include "support/gradient_check.hpp"

#include <deepjet/deepjet.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>  // getpid

namespace {

using deepjet::Shape;
using deepjet::test::check_layer_gradients;
using deepjet::test::expect_close;
using deepjet::test::expect_within_rounding;

const deepjet::test::Fixtures& jet_fixtures() { return deepjet::test::fixtures("jet_layers"); }

// ---- shapes and parameter tables -------------------------------------------------------------

TEST(JetLayers, Conv1DShapesFollowPaddingAndStride) {
  using In = Shape<25, 16>;
  static_assert(std::is_same_v<deepjet::bind_t<deepjet::Conv1D<64>, In>::output_shape, Shape<25, 64>>);
  static_assert(std::is_same_v<deepjet::bind_t<deepjet::Conv1D<8, 3>, In>::output_shape, Shape<23, 8>>);
  static_assert(std::is_same_v<deepjet::bind_t<deepjet::Conv1D<8, 3, 1, deepjet::same>, In>::output_shape, Shape<25, 8>>);
  static_assert(std::is_same_v<deepjet::bind_t<deepjet::Conv1D<8, 3, 2>, In>::output_shape, Shape<12, 8>>);
  static_assert(std::is_same_v<deepjet::bind_t<deepjet::Conv1D<8, 4, 2, deepjet::same>, In>::output_shape, Shape<13, 8>>);
  static_assert(deepjet::bind_t<deepjet::Conv1D<64>, In>::parameter_count == 16 * 64 + 64);
  static_assert(deepjet::bind_t<deepjet::Conv1D<8, 3, 1, deepjet::valid, false>, In>::parameter_count == 3 * 16 * 8);
  // Keras's 'same' for stride 2: total padding (13 - 1) * 2 + 4 - 25 = 3, one before and two after.
  static_assert(deepjet::bind_t<deepjet::Conv1D<8, 4, 2, deepjet::same>, In>::padding_before == 1);
  // Symmetric: (K - 1) / 2 on each side, length (L + 2p - K) / S + 1. DeepAK8's lists: 100 -> 50
  // -> 25 particles and 7 -> 4 vertices with kernel 3, stride 2; for 100 'same' also gives 50 but
  // pads nothing before, symmetric one row.
  using Particles = Shape<100, 42>;
  static_assert(std::is_same_v<deepjet::bind_t<deepjet::Conv1D<64, 3, 1, deepjet::symmetric>, Particles>::output_shape,
                               Shape<100, 64>>);
  static_assert(std::is_same_v<deepjet::bind_t<deepjet::Conv1D<64, 3, 2, deepjet::symmetric>, Particles>::output_shape,
                               Shape<50, 64>>);
  static_assert(std::is_same_v<deepjet::bind_t<deepjet::Conv1D<8, 3, 2, deepjet::symmetric>, Shape<50, 4>>::output_shape,
                               Shape<25, 8>>);
  static_assert(std::is_same_v<deepjet::bind_t<deepjet::Conv1D<8, 3, 2, deepjet::symmetric>, Shape<7, 15>>::output_shape,
                               Shape<4, 8>>);
  static_assert(deepjet::bind_t<deepjet::Conv1D<64, 3, 2, deepjet::symmetric>, Particles>::padding_before == 1);
  static_assert(deepjet::bind_t<deepjet::Conv1D<64, 3, 2, deepjet::same>, Particles>::padding_before == 0);
  static_assert(std::is_same_v<deepjet::bind_t<deepjet::Conv1D<8, 5, 2, deepjet::symmetric>, Shape<9, 3>>::output_shape,
                               Shape<5, 8>>);
  static_assert(std::is_same_v<deepjet::bind_t<deepjet::Flatten, In>::output_shape, Shape<400>>);
  static_assert(std::is_same_v<deepjet::bind_t<deepjet::GlobalAveragePooling, In>::output_shape, Shape<16>>);
  static_assert(std::is_same_v<deepjet::bind_t<deepjet::BatchNorm<>, In>::output_shape, In>);
  static_assert(std::is_same_v<deepjet::bind_t<deepjet::Dropout<0.1f>, In>::output_shape, In>);
  static_assert(deepjet::Layer<deepjet::bind_t<deepjet::BatchNorm<>, Shape<15>>>);
}

TEST(JetLayers, ParameterTablesNameEveryTensor) {
  deepjet::Architecture arch;
  deepjet::Conv1DLayer<10, 4, 6, 3, 1, deepjet::same, true>::describe(arch, "1", 100);
  deepjet::BatchNormLayer<Shape<10, 6>, 0.1f, 1e-3f>::describe(arch, "2", 100 + 3 * 4 * 6 + 6);
  ASSERT_EQ(arch.parameters.size(), 6u);
  EXPECT_EQ(arch.parameters[0].path, "1.weight");
  EXPECT_EQ(arch.parameters[0].spec.rank, 3u);
  EXPECT_EQ(arch.parameters[0].spec.size(), 3u * 4 * 6);
  EXPECT_EQ(arch.parameters[0].spec.fan_in, 12u);
  EXPECT_EQ(arch.parameters[0].spec.fan_out, 18u);
  EXPECT_EQ(arch.parameters[1].path, "1.bias");
  EXPECT_EQ(arch.parameters[1].offset, 100u + 72);
  EXPECT_EQ(arch.layers[0].signature, "Conv1D (10, 4) -> (10, 6) [kernel 3, stride 1, same]");
  const char* bn_names[] = {"2.gamma", "2.beta", "2.running_mean", "2.running_var"};
  const bool bn_trainable[] = {true, true, false, false};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(arch.parameters[2 + i].path, bn_names[i]);
    EXPECT_EQ(arch.parameters[2 + i].spec.trainable, bn_trainable[i]) << bn_names[i];
    EXPECT_EQ(arch.parameters[2 + i].spec.size(), 6u);
  }
}

// ---- finite-difference gradient checks ---------------------------------------------------------

TEST(JetGradientCheck, Conv1DPointwise) {
  check_layer_gradients<deepjet::Conv1DLayer<5, 4, 6, 1, 1, deepjet::valid, true>>();
  check_layer_gradients<deepjet::Conv1DLayer<25, 16, 8, 1, 1, deepjet::valid, true>>({.batch = 2});  // DeepJet's cpf
}
TEST(JetGradientCheck, Conv1DKernel3Valid) {
  check_layer_gradients<deepjet::Conv1DLayer<7, 3, 5, 3, 1, deepjet::valid, true>>();
}
TEST(JetGradientCheck, Conv1DKernel3Same) {
  check_layer_gradients<deepjet::Conv1DLayer<6, 3, 4, 3, 1, deepjet::same, true>>();
}
TEST(JetGradientCheck, Conv1DEvenKernelSame) {
  check_layer_gradients<deepjet::Conv1DLayer<6, 3, 4, 4, 1, deepjet::same, true>>();
}
TEST(JetGradientCheck, Conv1DStride2) {
  check_layer_gradients<deepjet::Conv1DLayer<9, 3, 4, 3, 2, deepjet::valid, true>>();
  check_layer_gradients<deepjet::Conv1DLayer<7, 3, 4, 4, 2, deepjet::same, true>>();
  // Stride larger than the kernel: some particles are never read (their gradient is zero).
  check_layer_gradients<deepjet::Conv1DLayer<8, 2, 3, 1, 3, deepjet::valid, false>>();
}
TEST(JetGradientCheck, Conv1DSymmetric) {
  check_layer_gradients<deepjet::Conv1DLayer<6, 3, 4, 3, 1, deepjet::symmetric, true>>();
  check_layer_gradients<deepjet::Conv1DLayer<10, 3, 4, 3, 2, deepjet::symmetric, false>>();
  check_layer_gradients<deepjet::Conv1DLayer<7, 3, 4, 5, 2, deepjet::symmetric, true>>();
}
TEST(JetGradientCheck, Conv1DKernelLongerThanList) {
  check_layer_gradients<deepjet::Conv1DLayer<2, 3, 4, 5, 1, deepjet::same, true>>();
}

TEST(JetGradientCheck, BatchNormTrainingFlat) {
  check_layer_gradients<deepjet::BatchNormLayer<Shape<7>, 0.1f, 1e-3f>>({.batch = 8});
}
TEST(JetGradientCheck, BatchNormTrainingList) {
  check_layer_gradients<deepjet::BatchNormLayer<Shape<4, 5>, 0.1f, 1e-3f>>({.batch = 3});
}

// A frozen BatchNorm for the gradient check, which builds fresh layer objects: frozen from
// construction. Its output depends on the running statistics too; the layer reports no gradient
// for these buffers (they are never trained), so this wrapper adds their analytic derivatives so
// that every entry of the parameter array is checked. The check draws parameters in
// (-0.5, 0.5) and a variance must be positive: the wrapper adds 1 to running_var throughout.
template <class Base>
struct FrozenBatchNorm : Base {
  static constexpr std::size_t C = Base::features;
  FrozenBatchNorm() { this->set_frozen(true); }

  static std::vector<float> shifted(const float* params) {
    std::vector<float> p(params, params + Base::parameter_count);
    for (std::size_t c = 0; c < C; ++c) p[Base::running_var_offset + c] += 1.0f;
    return p;
  }
  void forward(deepjet::TrainingContext& context, float* params, deepjet::ConstBatch<typename Base::input_shape> x,
               deepjet::Batch<typename Base::output_shape> y) {
    auto p = shifted(params);
    Base::forward(context, p.data(), x, y);
    for (std::size_t i = 0; i < p.size(); ++i) EXPECT_EQ(p[i], shifted(params)[i]) << "a frozen layer changed " << i;
  }
  void backward(const float* params, float* grads, deepjet::ConstBatch<typename Base::input_shape> x,
                deepjet::ConstBatch<typename Base::output_shape> y, deepjet::ConstBatch<typename Base::output_shape> dy,
                deepjet::Batch<typename Base::input_shape> dx) {
    const auto p = shifted(params);
    Base::backward(p.data(), grads, x, y, dy, dx);
    // y = gamma * (x - m) * (v + eps)^(-1/2) + beta:
    //   dy/dm = -gamma (v + eps)^(-1/2),  dy/dv = -gamma (x - m) (v + eps)^(-3/2) / 2.
    const std::size_t rows = x.count * Base::rows_per_sample;
    for (std::size_t c = 0; c < C; ++c) {
      const double gamma = p[Base::gamma_offset + c], m = p[Base::running_mean_offset + c];
      const double v = p[Base::running_var_offset + c] + 1e-3;
      double dm = 0, dv = 0;
      for (std::size_t r = 0; r < rows; ++r) {
        const double g = dy.data[r * C + c], xv = x.data[r * C + c];
        dm += -g * gamma / std::sqrt(v);
        dv += -0.5 * g * gamma * (xv - m) / (v * std::sqrt(v));
      }
      grads[Base::running_mean_offset + c] += static_cast<float>(dm);
      grads[Base::running_var_offset + c] += static_cast<float>(dv);
    }
  }
};

TEST(JetGradientCheck, BatchNormFrozenFlatAndList) {
  check_layer_gradients<FrozenBatchNorm<deepjet::BatchNormLayer<Shape<7>, 0.1f, 1e-3f>>>({.batch = 4});
  check_layer_gradients<FrozenBatchNorm<deepjet::BatchNormLayer<Shape<4, 5>, 0.1f, 1e-3f>>>({.batch = 3});
}

TEST(JetGradientCheck, Dropout) {
  // Every objective evaluation uses a fresh context with the same seed: the same mask.
  check_layer_gradients<deepjet::DropoutLayer<Shape<6, 5>, 0.3f>>({.batch = 4});
}
TEST(JetGradientCheck, Flatten) { check_layer_gradients<deepjet::FlattenLayer<Shape<4, 5>>>(); }
TEST(JetGradientCheck, GlobalAveragePooling) { check_layer_gradients<deepjet::GlobalAveragePoolingLayer<6, 5>>(); }

TEST(JetGradientCheck, ParticleCnnBranch) {
  // Pre-activation ResNet unit order (BN -> activation -> Conv), pooled, dropout, a dense head.
  using Net = deepjet::Sequential<deepjet::Input<6, 3>, deepjet::BatchNorm<>, deepjet::Tanh,
                                  deepjet::Conv1D<4, 3, 1, deepjet::same>, deepjet::GlobalAveragePooling,
                                  deepjet::Dropout<0.25f>, deepjet::Dense<2>>;
  check_layer_gradients<Net>({.batch = 4});
}

// ---- agreement with PyTorch ------------------------------------------------------------------

std::vector<float> concat(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> all = a;
  all.insert(all.end(), b.begin(), b.end());
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

constexpr double relative_tolerance = 1e-4;
constexpr double tiny = 1e-3;  // floor of the relative error's denominator

// The definition as loops in double, with the sums of |term| of every entry (further down).
struct ConvReference {
  std::vector<double> y, dweight, dbias, dx;
  // For each entry, sum |term| of the terms it sums (|bias| and |x w| for y, and so on).
  std::vector<double> y_magnitude, dweight_magnitude, dbias_magnitude, dx_magnitude;
};
template <class L, std::size_t Length, std::size_t Channels, std::size_t Filters, std::size_t KernelSize,
          std::size_t Stride, deepjet::Padding PaddingMode, bool UseBias>
ConvReference conv_reference(const std::vector<float>& params, const std::vector<float>& x, const std::vector<float>& dy,
                             std::size_t count);

template <class L>
struct ConvOf;
template <std::size_t Length, std::size_t Channels, std::size_t Filters, std::size_t KernelSize, std::size_t Stride,
          deepjet::Padding PaddingMode, bool UseBias>
struct ConvOf<deepjet::Conv1DLayer<Length, Channels, Filters, KernelSize, Stride, PaddingMode, UseBias>> {
  template <class L>
  static ConvReference reference(const std::vector<float>& params, const std::vector<float>& x,
                                 const std::vector<float>& dy, std::size_t count) {
    return conv_reference<L, Length, Channels, Filters, KernelSize, Stride, PaddingMode, UseBias>(params, x, dy, count);
  }
  static constexpr std::size_t y_terms = KernelSize * Channels + 1, dx_terms = KernelSize * Filters;
};

template <class L>
void check_conv_against_torch(const std::string& name, bool has_bias) {
  const auto& f = jet_fixtures();
  const auto& x = f[name + ".x"];
  const std::size_t count = x.shape[0];
  ASSERT_EQ(x.values.size(), L::input_shape::size * count) << name;
  const auto params = has_bias ? concat(f[name + ".weight"].values, f[name + ".bias"].values) : f[name + ".weight"].values;
  ASSERT_EQ(params.size(), L::parameter_count) << name;
  // Each value is a short sum computed in float by both sides, each in its own order, with or
  // without FMA: within the rounding bound of the sum (expect_within_rounding), from the sums of
  // |term| of the definition. (A relative 1e-4 with a floor of 1e-3 allows 1e-7 for small
  // values, about one rounding of a sum of size 1: not enough on every machine.)
  const auto& dy = f[name + ".dy"].values;
  const ConvReference r = ConvOf<L>::template reference<L>(params, x.values, dy, count);
  const std::size_t y_terms = ConvOf<L>::y_terms, dx_terms = ConvOf<L>::dx_terms,
                    parameter_terms = count * L::output_shape::dims[0] + 1;  // and the 0 they start from
  expect_within_rounding(run_infer<L>(params, x.values, count), f[name + ".y"].values, r.y_magnitude, y_terms,
                         name + " inference");

  L layer;
  deepjet::TrainingContext context;
  std::vector<float> p = params, y(L::output_shape::size * count), grads(L::parameter_count, 0.0f),
                     dx(x.values.size(), 123.0f);
  layer.forward(context, p.data(), {x.values.data(), count}, {y.data(), count});
  expect_within_rounding(y, f[name + ".y"].values, r.y_magnitude, y_terms, name + " training output");
  layer.backward(p.data(), grads.data(), {x.values.data(), count}, {y.data(), count}, {dy.data(), count},
                 {dx.data(), count});
  const std::size_t weight_size = f[name + ".weight"].values.size();
  expect_within_rounding(std::vector<float>(grads.begin(), grads.begin() + weight_size), f[name + ".dweight"].values,
                         r.dweight_magnitude, parameter_terms, name + " dweight");
  if (has_bias)
    expect_within_rounding(std::vector<float>(grads.begin() + weight_size, grads.end()), f[name + ".dbias"].values,
                           r.dbias_magnitude, parameter_terms, name + " dbias");
  expect_within_rounding(dx, f[name + ".dx"].values, r.dx_magnitude, dx_terms, name + " dx");

  // Parameter gradients accumulate; a null din is allowed (first layer of a model). The second
  // sum adds the same terms again onto the first: against 2 * PyTorch's, twice the magnitude
  // and one more rounding.
  layer.backward(p.data(), grads.data(), {x.values.data(), count}, {y.data(), count}, {dy.data(), count},
                 {nullptr, count});
  std::vector<float> twice(f[name + ".dweight"].values);
  for (float& v : twice) v *= 2.0f;
  std::vector<double> twice_magnitude = r.dweight_magnitude;
  for (double& m : twice_magnitude) m *= 2.0;
  expect_within_rounding(std::vector<float>(grads.begin(), grads.begin() + weight_size), twice, twice_magnitude,
                         parameter_terms + 1, name + " dweight accumulated");
}

TEST(JetPyTorchAgreement, Conv1DPointwise) {
  check_conv_against_torch<deepjet::Conv1DLayer<5, 4, 6, 1, 1, deepjet::valid, true>>("conv_k1", true);
}
TEST(JetPyTorchAgreement, Conv1DKernel3Valid) {
  check_conv_against_torch<deepjet::Conv1DLayer<7, 3, 5, 3, 1, deepjet::valid, true>>("conv_k3_valid", true);
}
TEST(JetPyTorchAgreement, Conv1DSamePaddingOddAndEvenKernels) {
  check_conv_against_torch<deepjet::Conv1DLayer<6, 3, 4, 3, 1, deepjet::same, true>>("conv_k3_same", true);
  check_conv_against_torch<deepjet::Conv1DLayer<6, 3, 4, 4, 1, deepjet::same, true>>("conv_k4_same", true);
}
TEST(JetPyTorchAgreement, Conv1DStride2) {
  check_conv_against_torch<deepjet::Conv1DLayer<9, 3, 4, 3, 2, deepjet::valid, true>>("conv_k3_s2_valid", true);
  // PyTorch has no 'same' for stride 2: the fixture pads explicitly with Keras's split.
  check_conv_against_torch<deepjet::Conv1DLayer<7, 3, 4, 4, 2, deepjet::same, true>>("conv_k4_s2_same", true);
  check_conv_against_torch<deepjet::Conv1DLayer<5, 3, 4, 1, 2, deepjet::valid, false>>("conv_k1_s2_nobias", false);
}
// Symmetric padding against PyTorch's padding=k//2 (F.conv1d), forward and gradients: the
// tolerance is the file's (1e-4 relative): sums of at most 5 * 5 float terms of order one.
TEST(JetPyTorchAgreement, Conv1DSymmetricPaddingStride1And2) {
  check_conv_against_torch<deepjet::Conv1DLayer<6, 3, 4, 3, 1, deepjet::symmetric, true>>("conv_k3_s1_symmetric", true);
  check_conv_against_torch<deepjet::Conv1DLayer<10, 3, 4, 3, 2, deepjet::symmetric, true>>("conv_k3_s2_symmetric", true);
  check_conv_against_torch<deepjet::Conv1DLayer<7, 5, 4, 3, 2, deepjet::symmetric, false>>("conv_k3_s2_symmetric_nobias",
                                                                                          false);
  check_conv_against_torch<deepjet::Conv1DLayer<9, 3, 4, 5, 2, deepjet::symmetric, true>>("conv_k5_s2_symmetric", true);
}

// ---- Conv1D against plain loops -------------------------------------------------------------------
// Conv1D with KernelSize > 1 computes the rows whose window lies inside the list as one product
// over overlapping input windows (per sample, or per block of samples read as one list for
// Stride 1 'same'), each edge row (window partly in the padding) as one product over the samples
// of a block, and its Stride-1 input gradient with the flipped kernel. These tests compare all of
// that with the definition at the top of conv1d.hpp, written as loops in double precision, for
// shapes where those pieces meet their limits: no interior rows, a list as long as the kernel,
// strides longer than the kernel, even kernels, one sample and several blocks of samples.


// The definition, with Keras's padding rule (and the symmetric one) restated here rather than
// taken from the layer.
template <class L, std::size_t Length, std::size_t Channels, std::size_t Filters, std::size_t KernelSize,
          std::size_t Stride, deepjet::Padding PaddingMode, bool UseBias>
ConvReference conv_reference(const std::vector<float>& params, const std::vector<float>& x, const std::vector<float>& dy,
                             std::size_t count) {
  constexpr bool Same = PaddingMode == deepjet::same;
  const std::size_t each_side = PaddingMode == deepjet::symmetric ? (KernelSize - 1) / 2 : 0;
  const std::size_t out_length =
      Same ? (Length + Stride - 1) / Stride : (Length + 2 * each_side - KernelSize) / Stride + 1;
  const std::size_t reach = (out_length - 1) * Stride + KernelSize;
  const long before = Same ? static_cast<long>(reach > Length ? reach - Length : 0) / 2 : static_cast<long>(each_side);
  EXPECT_EQ(out_length, L::output_shape::dims[0]);
  const float* weight = params.data();
  const float* bias = params.data() + KernelSize * Channels * Filters;
  ConvReference r;
  r.y.assign(count * out_length * Filters, 0.0);
  r.dweight.assign(KernelSize * Channels * Filters, 0.0);
  r.dbias.assign(Filters, 0.0);
  r.dx.assign(count * Length * Channels, 0.0);
  r.y_magnitude = r.y;
  r.dweight_magnitude = r.dweight;
  r.dbias_magnitude = r.dbias;
  r.dx_magnitude = r.dx;
  for (std::size_t n = 0; n < count; ++n)
    for (std::size_t o = 0; o < out_length; ++o)
      for (std::size_t f = 0; f < Filters; ++f) {
        const std::size_t yi = (n * out_length + o) * Filters + f;
        double sum = UseBias ? bias[f] : 0.0;
        r.y_magnitude[yi] = std::abs(sum);
        const double g = dy[yi];
        if (UseBias) r.dbias[f] += g;
        if (UseBias) r.dbias_magnitude[f] += std::abs(g);
        for (std::size_t j = 0; j < KernelSize; ++j) {
          const long i = static_cast<long>(o * Stride + j) - before;
          if (i < 0 || i >= static_cast<long>(Length)) continue;  // padding
          for (std::size_t c = 0; c < Channels; ++c) {
            const std::size_t xi = (n * Length + static_cast<std::size_t>(i)) * Channels + c;
            const std::size_t wi = (j * Channels + c) * Filters + f;
            sum += double(x[xi]) * weight[wi];
            r.dweight[wi] += double(x[xi]) * g;
            r.dx[xi] += double(weight[wi]) * g;
            r.y_magnitude[yi] += std::abs(double(x[xi]) * weight[wi]);
            r.dweight_magnitude[wi] += std::abs(double(x[xi]) * g);
            r.dx_magnitude[xi] += std::abs(double(weight[wi]) * g);
          }
        }
        r.y[yi] = sum;
      }
  return r;
}

// Every entry within the rounding bound of its sum: `terms` products (and a bias, or the 0.5 the
// gradients are accumulated onto) summed in float in any order, with or without FMA, have
// |error| <= gamma_terms * sum |term| (Higham 3.1; gamma_n = n u / (1 - n u), u = 2^-24); the
// reference's own sums in double add gamma_terms in double. An entry the layer left unwritten is
// NaN here (see check_conv_against_loops) and fails.
template <class A>
void expect_near_reference(const A& actual, const std::vector<double>& expected, const std::vector<double>& magnitude,
                           std::size_t terms, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  const double n = static_cast<double>(terms);
  const double bound = n * 0x1.0p-24 / (1.0 - n * 0x1.0p-24) + n * 0x1.0p-53 / (1.0 - n * 0x1.0p-53);
  std::size_t bad = 0, first_bad = 0;
  double worst = 0;  // the largest error as a fraction of its bound
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double error = std::abs(actual[i] - expected[i]), allowed = bound * magnitude[i];
    if (allowed > 0) worst = std::max(worst, error / allowed);
    if (!(error <= allowed) && bad++ == 0) first_bad = i;
  }
  if (std::getenv("DEEPJET_TEST_MARGINS"))
    std::printf("margin %-60s worst %.3g of the rounding bound\n", what.c_str(), worst);
  EXPECT_EQ(bad, 0u) << what << ": first at index " << first_bad << ": " << actual[first_bad] << " vs expected "
                     << expected[first_bad] << ", allowed " << bound * magnitude[first_bad];
}

template <std::size_t Length, std::size_t Channels, std::size_t Filters, std::size_t KernelSize, std::size_t Stride,
          deepjet::Padding PaddingMode, bool UseBias = true>
void check_conv_against_loops(std::size_t count) {
  using L = deepjet::Conv1DLayer<Length, Channels, Filters, KernelSize, Stride, PaddingMode, UseBias>;
  const std::string what = L::options() + ", " + L::input_shape::to_string() + ", batch " + std::to_string(count);
  deepjet::Random random(1000 + count);
  auto draw = [&](std::size_t size) {
    std::vector<float> v(size);
    for (float& e : v) e = random.uniform(-1.0f, 1.0f);
    return v;
  };
  const auto params = draw(L::parameter_count);
  const auto x = draw(L::input_shape::size * count);
  const auto dy = draw(L::output_shape::size * count);
  auto expected =
      conv_reference<L, Length, Channels, Filters, KernelSize, Stride, PaddingMode, UseBias>(params, x, dy, count);
  const float not_written = std::numeric_limits<float>::quiet_NaN();  // any row left unwritten fails

  std::vector<float> y(L::output_shape::size * count, not_written), scratch(L::scratch_size(count), not_written);
  std::vector<float> packed(deepjet::inference_parameter_count_of<L>);  // the layout inference reads
  deepjet::pack_inference_parameters<L>(params.data(), packed.data());
  L::infer(packed.data(), {x.data(), count}, {y.data(), count}, scratch.data());
  // Terms of each sum: y, the window's products and the bias; dx, at most KernelSize * Filters
  // products; the parameter gradients, one product (or dy) per output row, plus the 0.5 they are
  // accumulated onto and the float subtraction of it below.
  const std::size_t y_terms = KernelSize * Channels + 1, dx_terms = KernelSize * Filters,
                    parameter_terms = count * L::output_shape::dims[0] + 2;
  expect_near_reference(y, expected.y, expected.y_magnitude, y_terms, what + ": inference");

  L layer;
  deepjet::TrainingContext context;
  std::vector<float> p = params, dx(x.size(), not_written), grads(L::parameter_count, 0.5f);
  std::fill(y.begin(), y.end(), not_written);
  layer.forward(context, p.data(), {x.data(), count}, {y.data(), count});
  expect_near_reference(y, expected.y, expected.y_magnitude, y_terms, what + ": training output");
  layer.backward(p.data(), grads.data(), {x.data(), count}, {y.data(), count}, {dy.data(), count}, {dx.data(), count});
  expect_near_reference(dx, expected.dx, expected.dx_magnitude, dx_terms, what + ": dx");
  // Parameter gradients are added to what the array held (0.5 here).
  std::vector<float> dweight(grads.begin(), grads.begin() + KernelSize * Channels * Filters);
  for (float& v : dweight) v -= 0.5f;
  for (double& m : expected.dweight_magnitude) m += 0.5;
  expect_near_reference(dweight, expected.dweight, expected.dweight_magnitude, parameter_terms, what + ": dweight");
  if constexpr (UseBias) {
    std::vector<float> dbias(grads.begin() + KernelSize * Channels * Filters, grads.end());
    for (float& v : dbias) v -= 0.5f;
    for (double& m : expected.dbias_magnitude) m += 0.5;
    expect_near_reference(dbias, expected.dbias, expected.dbias_magnitude, parameter_terms, what + ": dbias");
  }
  // Without an input gradient (first layer of a model) the parameter gradients are the same.
  std::vector<float> grads_without_dx(L::parameter_count, 0.5f);
  layer.backward(p.data(), grads_without_dx.data(), {x.data(), count}, {y.data(), count}, {dy.data(), count},
                 {nullptr, count});
  EXPECT_EQ(grads_without_dx, grads) << what;
}

TEST(JetConv1DAgainstLoops, PCnnShape) {
  // The benchmark's (and the particle CNN's) shape; batch of one and several.
  check_conv_against_loops<100, 32, 32, 3, 1, deepjet::same>(1);
  check_conv_against_loops<100, 32, 32, 3, 1, deepjet::same>(5);
  check_conv_against_loops<100, 32, 32, 3, 1, deepjet::valid>(3);
}
TEST(JetConv1DAgainstLoops, WidthsThatAreNotWholeRegisters) {
  check_conv_against_loops<20, 17, 33, 3, 1, deepjet::same>(7);
  check_conv_against_loops<20, 17, 33, 3, 1, deepjet::valid, false>(7);
  check_conv_against_loops<13, 5, 3, 5, 1, deepjet::same>(9);
}
TEST(JetConv1DAgainstLoops, ManySamples) {
  check_conv_against_loops<12, 4, 6, 3, 1, deepjet::same>(64);
  check_conv_against_loops<12, 4, 6, 3, 2, deepjet::same>(64);
  check_conv_against_loops<12, 4, 6, 4, 1, deepjet::valid>(64);
  // Several blocks of samples (about 1024 output rows each), the last one partial.
  using Long = deepjet::Conv1DLayer<100, 4, 5, 3, 1, deepjet::same, true>;
  static_assert(Long::samples_per_block == 10);
  check_conv_against_loops<100, 4, 5, 3, 1, deepjet::same>(25);
  check_conv_against_loops<100, 4, 5, 3, 1, deepjet::valid>(25);
  check_conv_against_loops<100, 4, 5, 3, 2, deepjet::same>(45);
}
TEST(JetConv1DAgainstLoops, Symmetric) {
  // DeepAK8's shapes: 100 particles at stride 1 and 2 (no bias), 50 -> 25, vertices 7 -> 4; several
  // blocks of samples; an even kernel (p = (4 - 1) / 2 = 1 each side, one row shorter); kernel 5.
  check_conv_against_loops<100, 42, 64, 3, 1, deepjet::symmetric, false>(3);
  check_conv_against_loops<100, 64, 64, 3, 2, deepjet::symmetric, false>(3);
  check_conv_against_loops<50, 17, 33, 3, 2, deepjet::symmetric, false>(45);
  check_conv_against_loops<7, 15, 32, 3, 2, deepjet::symmetric, false>(5);
  check_conv_against_loops<100, 4, 5, 3, 1, deepjet::symmetric>(25);
  check_conv_against_loops<10, 3, 5, 4, 1, deepjet::symmetric>(4);
  check_conv_against_loops<10, 3, 5, 4, 2, deepjet::symmetric>(4);
  check_conv_against_loops<13, 5, 3, 5, 3, deepjet::symmetric>(9);
}
TEST(JetConv1DAgainstLoops, SameWithEvenKernels) {
  // Padding split with the smaller half before: 0 before for kernel 2, 2 before and 3 after for 6.
  check_conv_against_loops<10, 3, 5, 2, 1, deepjet::same>(1);
  check_conv_against_loops<10, 3, 5, 2, 1, deepjet::same>(6);
  check_conv_against_loops<10, 3, 5, 6, 1, deepjet::same>(1);
  check_conv_against_loops<10, 3, 5, 6, 1, deepjet::same>(6);
  check_conv_against_loops<11, 3, 5, 4, 2, deepjet::same>(4);
}
TEST(JetConv1DAgainstLoops, ListAsLongAsTheKernel) {
  // valid: one output row, its window the whole list; same: every row but the middle is an edge row.
  check_conv_against_loops<3, 4, 5, 3, 1, deepjet::valid>(1);
  check_conv_against_loops<3, 4, 5, 3, 1, deepjet::valid>(8);
  check_conv_against_loops<3, 4, 5, 3, 1, deepjet::same>(1);
  check_conv_against_loops<3, 4, 5, 3, 1, deepjet::same>(8);
  check_conv_against_loops<4, 2, 3, 4, 1, deepjet::same>(5);
}
TEST(JetConv1DAgainstLoops, OnlyEdgeRows) {
  // The kernel is longer than the list: no window lies inside it.
  check_conv_against_loops<2, 3, 4, 5, 1, deepjet::same>(1);
  check_conv_against_loops<2, 3, 4, 5, 1, deepjet::same>(7);
  check_conv_against_loops<1, 3, 4, 3, 1, deepjet::same>(3);
  check_conv_against_loops<3, 2, 4, 8, 1, deepjet::same>(3);
  check_conv_against_loops<3, 2, 4, 7, 2, deepjet::same>(3);
}
TEST(JetConv1DAgainstLoops, StrideLargerThanKernel) {
  // Some particles are read by no window: their gradient is zero.
  check_conv_against_loops<11, 4, 6, 2, 5, deepjet::valid>(1);
  check_conv_against_loops<11, 4, 6, 2, 5, deepjet::valid>(6);
  check_conv_against_loops<11, 4, 6, 3, 4, deepjet::same>(6);
  check_conv_against_loops<10, 3, 2, 1, 3, deepjet::valid, false>(6);
  check_conv_against_loops<10, 3, 2, 1, 3, deepjet::same>(6);
  check_conv_against_loops<9, 3, 4, 5, 3, deepjet::same>(6);
}

template <class L>
void check_batch_norm_against_torch(const std::string& name) {
  const auto& f = jet_fixtures();
  const std::size_t count = f[name + ".x"].shape[0];
  const std::size_t C = L::features;
  auto params = concat(concat(f[name + ".gamma"].values, f[name + ".beta"].values),
                       concat(f[name + ".running_mean"].values, f[name + ".running_var"].values));
  ASSERT_EQ(params.size(), L::parameter_count);
  auto slice = [&](const std::vector<float>& v, std::size_t offset) {
    return std::vector<float>(v.begin() + offset, v.begin() + offset + C);
  };

  // Training: batch statistics; the running statistics are updated in the parameter array.
  L layer;
  deepjet::TrainingContext context;
  const auto& x = f[name + ".x"].values;
  std::vector<float> y(x.size()), grads(L::parameter_count, 0.0f), dx(x.size());
  layer.forward(context, params.data(), {x.data(), count}, {y.data(), count});
  expect_close(y, f[name + ".y"].values, relative_tolerance, tiny, name + " training output");
  expect_close(slice(params, L::running_mean_offset), f[name + ".running_mean_after"].values, relative_tolerance, tiny,
               name + " running mean after one step");
  expect_close(slice(params, L::running_var_offset), f[name + ".running_var_after"].values, relative_tolerance, tiny,
               name + " running variance after one step");
  layer.backward(params.data(), grads.data(), {x.data(), count}, {y.data(), count},
                 {f[name + ".dy"].values.data(), count}, {dx.data(), count});
  expect_close(dx, f[name + ".dx"].values, relative_tolerance, tiny, name + " dx");
  expect_close(slice(grads, L::gamma_offset), f[name + ".dgamma"].values, relative_tolerance, tiny, name + " dgamma");
  expect_close(slice(grads, L::beta_offset), f[name + ".dbeta"].values, relative_tolerance, tiny, name + " dbeta");
  EXPECT_EQ(slice(grads, L::running_mean_offset), std::vector<float>(C, 0.0f)) << "buffers get no gradient";
  EXPECT_EQ(slice(grads, L::running_var_offset), std::vector<float>(C, 0.0f)) << "buffers get no gradient";

  // Inference with the updated running statistics.
  const auto& eval_x = f[name + ".eval_x"].values;
  expect_close(run_infer<L>(params, eval_x, count), f[name + ".eval_y"].values, relative_tolerance, tiny,
               name + " inference output");

  // Frozen: forward as inference, running statistics untouched; backward of that affine map.
  L frozen;
  frozen.set_frozen(true);
  const std::vector<float> before = params;
  std::fill(grads.begin(), grads.end(), 0.0f);
  frozen.forward(context, params.data(), {eval_x.data(), count}, {y.data(), count});
  EXPECT_EQ(params, before) << name << ": a frozen BatchNorm must not change its running statistics";
  expect_close(y, f[name + ".eval_y"].values, relative_tolerance, tiny, name + " frozen output");
  frozen.backward(params.data(), grads.data(), {eval_x.data(), count}, {y.data(), count},
                  {f[name + ".eval_dy"].values.data(), count}, {dx.data(), count});
  expect_close(dx, f[name + ".eval_dx"].values, relative_tolerance, tiny, name + " frozen dx");
  expect_close(slice(grads, L::gamma_offset), f[name + ".eval_dgamma"].values, relative_tolerance, tiny,
               name + " frozen dgamma");
  expect_close(slice(grads, L::beta_offset), f[name + ".eval_dbeta"].values, relative_tolerance, tiny,
               name + " frozen dbeta");

  // Unfrozen again: batch statistics once more.
  frozen.set_frozen(false);
  frozen.forward(context, params.data(), {eval_x.data(), count}, {y.data(), count});
  EXPECT_NE(params, before);
}

TEST(JetLayers, BatchNormIgnoresAnEmptyBatch) {
  using L = deepjet::BatchNormLayer<Shape<3, 2>, 0.1f, 1e-3f>;
  std::vector<float> params{1, 1, 0, 0, 0.5f, -0.5f, 2, 3};
  const auto before = params;
  L layer;
  deepjet::TrainingContext context;
  layer.forward(context, params.data(), {nullptr, 0}, {nullptr, 0});
  EXPECT_EQ(params, before);
}

TEST(JetPyTorchAgreement, BatchNormFlat) {
  check_batch_norm_against_torch<deepjet::BatchNormLayer<Shape<7>, 0.1f, 1e-3f>>("bn_flat");
}
TEST(JetPyTorchAgreement, BatchNormOverParticlesAndBatch) {
  check_batch_norm_against_torch<deepjet::BatchNormLayer<Shape<4, 5>, 0.3f, 1e-5f>>("bn_list");
}

template <class L>
void check_parameterless_against_torch(const std::string& name) {
  const auto& f = jet_fixtures();
  const auto& x = f[name + ".x"].values;
  const std::size_t count = f[name + ".x"].shape[0];
  expect_close(run_infer<L>({}, x, count), f[name + ".y"].values, relative_tolerance, tiny, name + " inference");
  L layer;
  deepjet::TrainingContext context;
  std::vector<float> y(L::output_shape::size * count), dx(x.size());
  layer.forward(context, nullptr, {x.data(), count}, {y.data(), count});
  expect_close(y, f[name + ".y"].values, relative_tolerance, tiny, name + " training output");
  layer.backward(nullptr, nullptr, {x.data(), count}, {y.data(), count}, {f[name + ".dy"].values.data(), count},
                 {dx.data(), count});
  expect_close(dx, f[name + ".dx"].values, relative_tolerance, tiny, name + " dx");
}

TEST(JetPyTorchAgreement, FlattenAndGlobalAveragePooling) {
  check_parameterless_against_torch<deepjet::FlattenLayer<Shape<4, 5>>>("flatten");
  check_parameterless_against_torch<deepjet::GlobalAveragePoolingLayer<4, 5>>("gap");
}

// A small particle CNN (the boosted tagger's pattern): stem convolution, one pre-activation
// residual unit (BN -> ReLU -> Conv, twice) with a 1x1 convolution shortcut, global average
// pooling and a dense softmax head. The convolution that feeds a BatchNorm has no bias: its
// gradient would be zero up to rounding, which Adam turns into full-size steps of either sign, so
// it could not be compared (and it is the usual design). PyTorch's parameters arrive in deepjet's flat order.
using ParticleCnn = deepjet::Sequential<
    deepjet::Input<10, 4>, deepjet::Conv1D<6, 3, 1, deepjet::same>,
    deepjet::Residual<deepjet::Stack<deepjet::BatchNorm<0.1f, 1e-5f>, deepjet::ReLU,
                                     deepjet::Conv1D<8, 3, 1, deepjet::same, false>,  // a BatchNorm follows
                                     deepjet::BatchNorm<0.1f, 1e-5f>, deepjet::ReLU, deepjet::Conv1D<8, 3, 1, deepjet::same>>,
                      deepjet::Conv1D<8>>,
    deepjet::GlobalAveragePooling, deepjet::Dense<5>, deepjet::Softmax>;

deepjet::Model<ParticleCnn> particle_cnn_with_torch_weights() {
  deepjet::Model<ParticleCnn> model;
  const auto& params = jet_fixtures()["pcnn.params"].values;
  EXPECT_EQ(params.size(), ParticleCnn::parameter_count);
  std::copy(params.begin(), params.end(), model.parameters().begin());
  return model;
}

TEST(JetPyTorchAgreement, ParticleCnnTrainingAndInference) {
  const auto& f = jet_fixtures();
  auto model = particle_cnn_with_torch_weights();
  const char* expected_order[] = {"0.weight", "0.bias", "1.0.0.0.gamma", "1.0.0.0.beta", "1.0.0.0.running_mean",
                                  "1.0.0.0.running_var", "1.0.0.2.weight", "1.0.0.3.gamma",
                                  "1.0.0.3.beta", "1.0.0.3.running_mean", "1.0.0.3.running_var", "1.0.0.5.weight",
                                  "1.0.0.5.bias", "1.0.1.weight", "1.0.1.bias", "3.weight", "3.bias"};
  ASSERT_EQ(model.architecture().parameters.size(), std::size(expected_order));
  for (std::size_t i = 0; i < std::size(expected_order); ++i)
    EXPECT_EQ(model.architecture().parameters[i].path, expected_order[i]);

  const auto& x = f["pcnn.x"].values;
  const auto y = model.forward({x.data(), 4});
  expect_close(y.values(), f["pcnn.y"].values, relative_tolerance, tiny, "P-CNN training output");
  model.zero_gradients();
  model.backward({x.data(), 4}, {f["pcnn.dy"].values.data(), 4});
  expect_close(model.gradients(), f["pcnn.grads"].values, relative_tolerance, tiny, "P-CNN parameter gradients");
  expect_close(model.parameters(), f["pcnn.params_after"].values, relative_tolerance, tiny,
               "P-CNN parameters after one training pass (running statistics)");

  const auto& eval_x = f["pcnn.eval_x"].values;
  std::vector<float> eval_y(5 * 3);
  deepjet::AlignedFloats scratch;
  model.predict({eval_x.data(), 3}, {eval_y.data(), 3}, scratch);
  expect_close(eval_y, f["pcnn.eval_y"].values, relative_tolerance, tiny, "P-CNN inference output");
}

TEST(JetPyTorchAgreement, ParticleCnnFollowsPyTorchAdamSteps) {
  const auto& f = jet_fixtures();
  auto model = particle_cnn_with_torch_weights();
  deepjet::Adam adam{.learning_rate = 0.01};
  std::vector<float> losses;
  for (int step = 0; step < 5; ++step)
    losses.push_back(static_cast<float>(model.train_step(deepjet::ConstBatch<ParticleCnn::input_shape>{f["pcnn.x"].values.data(), 4},
                                                         deepjet::ConstBatch<ParticleCnn::output_shape>{f["pcnn.t"].values.data(), 4},
                                                         nullptr, deepjet::CategoricalCrossEntropy{}, adam)));
  expect_close(losses, f["pcnn.adam_losses"].values, relative_tolerance, tiny, "P-CNN Adam losses");
  expect_close(model.parameters(), f["pcnn.adam_params"].values, 1e-4, 1e-2, "P-CNN parameters after 5 Adam steps");
}

// ---- dropout semantics ---------------------------------------------------------------------------

using WideDropout = deepjet::DropoutLayer<Shape<1000>, 0.3f>;

std::vector<float> dropout_input(std::size_t n) {
  deepjet::Random random(4);
  std::vector<float> x(n);
  for (float& v : x) v = random.uniform(0.5f, 1.5f);  // never zero: a zero output means dropped
  return x;
}

TEST(Dropout, InferenceIsTheIdentity) {
  const auto x = dropout_input(2000);
  EXPECT_EQ(run_infer<WideDropout>({}, x, 2), x);
}

TEST(Dropout, TrainingDropsAboutRateAndScalesTheRest) {
  const std::size_t count = 20;
  const auto x = dropout_input(1000 * count);
  WideDropout layer;
  deepjet::TrainingContext context;
  context.random.reseed(17);
  std::vector<float> y(x.size()), dy(x.size(), 1.0f), dx(x.size());
  for (std::size_t i = 0; i < dy.size(); ++i) dy[i] = 0.5f + static_cast<float>(i % 7);
  layer.forward(context, nullptr, {x.data(), count}, {y.data(), count});
  layer.backward(nullptr, nullptr, {x.data(), count}, {y.data(), count}, {dy.data(), count}, {dx.data(), count});
  std::size_t dropped = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (y[i] == 0.0f) {
      ++dropped;
      EXPECT_EQ(dx[i], 0.0f) << i;
    } else {
      // x * keep_scale, keep_scale = 1 / 0.7f rounded: two roundings against the one of x / 0.7f,
      // at most 2 ulps apart (within FLOAT_EQ's 4), with no addition to fuse on any machine.
      EXPECT_FLOAT_EQ(y[i], x[i] / 0.7f) << i;
      EXPECT_FLOAT_EQ(dx[i], dy[i] / 0.7f) << i;
    }
  }
  // 20000 values, p = 0.3: standard deviation of the fraction 0.0032; allow 5 of them.
  EXPECT_NEAR(static_cast<double>(dropped) / x.size(), 0.3, 0.016);
}

TEST(Dropout, TheSameSeedGivesTheSameMask) {
  const auto x = dropout_input(3000);
  auto run = [&](std::uint64_t seed, int passes) {
    WideDropout layer;
    deepjet::TrainingContext context;
    context.random.reseed(seed);
    std::vector<float> y(x.size());
    for (int i = 0; i < passes; ++i) layer.forward(context, nullptr, {x.data(), 3}, {y.data(), 3});
    return y;
  };
  EXPECT_EQ(run(5, 1), run(5, 1));
  EXPECT_NE(run(5, 1), run(6, 1));
  EXPECT_NE(run(5, 1), run(5, 2)) << "consecutive batches draw new masks";
}

TEST(Dropout, RateZeroKeepsEverything) {
  const auto x = dropout_input(50);
  deepjet::DropoutLayer<Shape<10>, 0.0f> layer;
  deepjet::TrainingContext context;
  std::vector<float> y(x.size());
  layer.forward(context, nullptr, {x.data(), 5}, {y.data(), 5});
  EXPECT_EQ(y, x);
}

// ---- a DeepJet-style particle branch in a Model --------------------------------------------------

using ParticleBranch =
    deepjet::Sequential<deepjet::Input<25, 16>, deepjet::BatchNorm<>, deepjet::Conv1D<64>, deepjet::ReLU,
                        deepjet::BatchNorm<>, deepjet::Dropout<0.1f>, deepjet::Conv1D<32>, deepjet::ReLU,
                        deepjet::Flatten, deepjet::Dense<6>, deepjet::Softmax>;
static_assert(ParticleBranch::parameter_count ==
              4 * 16 + (16 * 64 + 64) + 4 * 64 + (64 * 32 + 32) + (25 * 32 * 6 + 6));

struct ParticleData {
  static constexpr std::size_t count = 64;
  std::vector<float> x = std::vector<float>(count * 25 * 16);
  std::vector<float> t = std::vector<float>(count * 6, 0.0f);
  ParticleData() {
    deepjet::Random random(8);
    // Features far from zero mean and unit scale: the input BatchNorm has work to do.
    for (float& v : x) v = 5.0f + 3.0f * random.uniform(-1.0f, 1.0f);
    for (std::size_t n = 0; n < count; ++n) {
      const float* sample = x.data() + n * 25 * 16;
      const std::size_t label = (sample[0] > 5.0f ? 1 : 0) + (sample[17] > 5.0f ? 2 : 0) + (sample[34] > 5.0f ? 2 : 0);
      t[n * 6 + label] = 1.0f;
    }
  }
  deepjet::ConstBatch<Shape<25, 16>> inputs() const { return {x.data(), count}; }
  deepjet::ConstBatch<Shape<6>> targets() const { return {t.data(), count}; }
};

std::vector<float> copy_of(std::span<const float> values) { return {values.begin(), values.end()}; }

TEST(JetModel, ParticleBranchTrainsAndPredicts) {
  const ParticleData data;
  deepjet::Model<ParticleBranch> model(3);
  EXPECT_EQ(model.parameter("1.weight").size(), 16u * 64);
  deepjet::Adam adam{.learning_rate = 1e-3};
  const double first = model.train_step(data.inputs(), data.targets(), nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  double last = first;
  for (int i = 0; i < 30; ++i)
    last = model.train_step(data.inputs(), data.targets(), nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  EXPECT_LT(last, 0.7 * first) << "first loss " << first;

  // Inference uses the running statistics and no dropout: deterministic, and a distribution.
  deepjet::AlignedFloats scratch;
  std::vector<float> p(6 * data.count), q(6 * data.count);
  model.predict(data.inputs(), {p.data(), data.count}, scratch);
  model.predict(data.inputs(), {q.data(), data.count}, scratch);
  EXPECT_EQ(p, q);
  // Softmax: each probability within exp's 1.0e-7 and 7 roundings (sum of 6, division) of exact,
  // and the test's 5 float additions: |sum - 1| < 1e-6 on any machine.
  for (std::size_t n = 0; n < data.count; ++n) {
    float sum = 0;
    for (std::size_t k = 0; k < 6; ++k) sum += p[n * 6 + k];
    EXPECT_NEAR(sum, 1.0f, 1e-5f);
  }
}

TEST(JetModel, FreezingTheInputBatchNormStopsItsParametersAndStatistics) {
  const ParticleData data;
  deepjet::Model<ParticleBranch> model(3);
  deepjet::Adam adam{.learning_rate = 1e-2};
  auto step = [&] {
    return model.train_step(data.inputs(), data.targets(), nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  };
  const auto mean_before = copy_of(model.parameter("0.running_mean"));
  step();  // the first epoch: the input BatchNorm learns, its statistics move
  EXPECT_NE(copy_of(model.parameter("0.running_mean")), mean_before);

  EXPECT_EQ(model.set_trainable("0", false), 2u) << "gamma and beta; the statistics are buffers anyway";
  EXPECT_TRUE(model.network().layer<0>().frozen());
  EXPECT_FALSE(model.network().layer<3>().frozen());
  const char* frozen_tensors[] = {"0.gamma", "0.beta", "0.running_mean", "0.running_var"};
  std::vector<std::vector<float>> frozen_before;
  for (const char* name : frozen_tensors) frozen_before.push_back(copy_of(model.parameter(name)));
  const auto other_mean = copy_of(model.parameter("3.running_mean"));
  const auto other_gamma = copy_of(model.parameter("3.gamma"));
  for (int i = 0; i < 3; ++i) step();
  for (std::size_t i = 0; i < 4; ++i)
    EXPECT_EQ(copy_of(model.parameter(frozen_tensors[i])), frozen_before[i]) << frozen_tensors[i];
  EXPECT_NE(copy_of(model.parameter("3.running_mean")), other_mean);
  EXPECT_NE(copy_of(model.parameter("3.gamma")), other_gamma);

  // Unfreezing restores training mode.
  EXPECT_EQ(model.set_trainable("0", true), 2u);
  EXPECT_FALSE(model.network().layer<0>().frozen());
  step();
  EXPECT_NE(copy_of(model.parameter("0.running_mean")), frozen_before[2]);
  EXPECT_NE(copy_of(model.parameter("0.gamma")), frozen_before[0]);
}

TEST(JetModel, ModelFilesKeepTheRunningStatistics) {
  const ParticleData data;
  deepjet::Model<ParticleBranch> trained(3);
  deepjet::Adam adam;
  for (int i = 0; i < 3; ++i)
    trained.train_step(data.inputs(), data.targets(), nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  // One file per process: other build directories may run this test at the same time.
  const auto path = std::filesystem::temp_directory_path() / ("deepjet_test_jet_layers_" + std::to_string(::getpid()) + ".h5");
  deepjet::save_model(trained, path);
  deepjet::Model<ParticleBranch> loaded(99);
  deepjet::load_model(loaded, path);
  std::filesystem::remove(path);
  EXPECT_EQ(copy_of(loaded.parameter("3.running_var")), copy_of(trained.parameter("3.running_var")));
  EXPECT_NE(copy_of(loaded.parameter("3.running_var")), std::vector<float>(64, 1.0f));
  deepjet::AlignedFloats scratch;
  std::vector<float> p(6 * data.count), q(6 * data.count);
  trained.predict(data.inputs(), {p.data(), data.count}, scratch);
  loaded.predict(data.inputs(), {q.data(), data.count}, scratch);
  EXPECT_EQ(p, q);
}

TEST(JetModel, InferenceIsSharedByThreads) {
  // One trained model, read by several threads at once, each with its own scratch.
  const ParticleData data;
  deepjet::Model<ParticleBranch> model(3);
  deepjet::Adam adam;
  model.train_step(data.inputs(), data.targets(), nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  deepjet::AlignedFloats scratch;
  std::vector<float> expected(6 * data.count);
  model.predict(data.inputs(), {expected.data(), data.count}, scratch);
  std::vector<std::vector<float>> results(4, std::vector<float>(6 * data.count));
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&, i] {
      deepjet::AlignedFloats own_scratch;
      for (int repeat = 0; repeat < 20; ++repeat)
        model.predict(data.inputs(), {results[i].data(), data.count}, own_scratch);
    });
  for (auto& thread : threads) thread.join();
  for (const auto& result : results) EXPECT_EQ(result, expected);
}

}  // namespace
