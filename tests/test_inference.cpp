// Production inference: after warm-up, predicting (through a deepjet::Predictor, or through
// Model::predict) allocates nothing, starts no thread, and many threads can share one read-only
// model (each with its own workspace); BatchNorm folding changes only rounding.
#include <deepjet/deepjet.hpp>
#include <deepjet/zoo/deepjet.hpp>

#include <gtest/gtest.h>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <limits>
#include <string_view>
#include <thread>
#include <vector>

namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace

#if defined(DEEPJET_SANITIZER)
// Under a sanitizer (ctest portable.* and tsan.*) the sanitizer owns malloc and a program cannot
// interpose it; instead its allocator calls __sanitizer_malloc_hook for every allocation (a weak
// function of the sanitizers' public interface, sanitizer/allocator_interface.h, which a program
// may define). AddressSanitizer calls it; GCC 12's ThreadSanitizer does not, so under it the
// allocation tests are skipped (the native and AddressSanitizer builds run them; the ThreadSanitizer
// build is there for the threads sharing one Predictor).
extern "C" void __sanitizer_malloc_hook(const volatile void*, std::size_t) { ++allocations; }
constexpr bool counts_allocations = std::string_view(DEEPJET_SANITIZER) != "thread";
#else
// Count every allocation of the test program at the C allocator, which operator new, std::vector
// and xsimd's aligned allocator (posix_memalign) all end in: glibc lets a program interpose these.
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void* malloc(std::size_t size) {
  ++allocations;
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) {
  ++allocations;
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) {
  ++allocations;
  return __libc_realloc(p, size);
}
int posix_memalign(void** p, std::size_t alignment, std::size_t size) {
  ++allocations;
  *p = __libc_memalign(alignment, size);
  return *p ? 0 : 12;  // ENOMEM
}
void* aligned_alloc(std::size_t alignment, std::size_t size) {
  ++allocations;
  return __libc_memalign(alignment, size);
}
}
constexpr bool counts_allocations = true;
#endif

namespace {

using Net = deepjet::zoo::DeepJet;

// Repetitions of DeepJet-sized inference. An AddressSanitizer build runs DeepJet's LSTMs a few
// hundred times slower (every SIMD access is checked by a call), so there the loops below repeat
// less and the largest batch is smaller; what they check (no allocation after the first call, equal
// results on every thread) does not depend on how often it is repeated.
#if defined(DEEPJET_SANITIZER)
constexpr int steady_calls = 2;
constexpr int calls_per_thread = 3;
constexpr std::size_t large_batch = 48;
#else
constexpr int steady_calls = 10;
constexpr int calls_per_thread = 20;
constexpr std::size_t large_batch = 300;
#endif

std::size_t thread_count() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

// Inputs for `count` jets in caller-owned buffers, one per block.
struct Jets {
  explicit Jets(std::size_t count) : count(count) {
    deepjet::Random random(5);
    for (auto* block : {&global, &cpf, &npf, &sv}) block->clear();
    global.resize(count * 15);
    cpf.resize(count * 25 * 16);
    npf.resize(count * 25 * 6);
    sv.resize(count * 4 * 12);
    for (auto* block : {&global, &cpf, &npf, &sv})
      for (float& v : *block) v = random.uniform(-1.0f, 1.0f);
  }
  deepjet::ConstBatch<Net::input_shape> view() const {
    return {{deepjet::ConstBatch<deepjet::Shape<15>>{global.data(), count},
             deepjet::ConstBatch<deepjet::Shape<25, 16>>{cpf.data(), count},
             deepjet::ConstBatch<deepjet::Shape<25, 6>>{npf.data(), count},
             deepjet::ConstBatch<deepjet::Shape<4, 12>>{sv.data(), count}},
            count};
  }
  std::size_t count;
  std::vector<float> global, cpf, npf, sv;
};

// Calls predict(out) once to warm up, then steady_calls times more: these allocate nothing,
// start no thread, and give finite outputs.
template <class Predict>
void expect_steady_inference(std::size_t batch, Predict predict) {
  std::vector<float> out(batch * 6);
  const std::size_t at_start = allocations.load();
  predict(out);  // warm-up: sizes the scratch
  EXPECT_GT(allocations.load() - at_start, 0u) << "the counter sees the warm-up's allocation";
  const std::size_t threads_before = thread_count();
  const std::size_t before = allocations.load();
  for (int i = 0; i < steady_calls; ++i) predict(out);
  EXPECT_EQ(allocations.load() - before, 0u) << "allocations per call at batch " << batch;
  EXPECT_EQ(thread_count(), threads_before) << "inference started a thread";
  for (float p : out) EXPECT_TRUE(std::isfinite(p));
}

namespace {

// gamma_n = n u / (1 - n u), u = 2^-24: the relative bound of n float roundings (Higham 3.1).
// The folding tests below bound each output by gamma_n times the sum of the magnitudes of the
// terms it is made of, n counted along the computation; this holds with or without FMA and for
// any order of the sums (AVX-512 or AVX2 kernels).
double gamma_n(int n) {
  const double u = 0x1.0p-24;
  return n * u / (1.0 - n * u);
}

}  // namespace

TEST(Inference, NoAllocationAndNoThreadAfterWarmUp) {
  if (!counts_allocations) GTEST_SKIP() << "this sanitizer gives no allocation hook";
  const deepjet::Model<Net> model(1);
  for (std::size_t batch : {std::size_t{1}, std::size_t{32}}) {
    const Jets jets(batch);
    deepjet::AlignedFloats scratch;
    expect_steady_inference(batch, [&](std::vector<float>& out) {
      model.predict(jets.view(), {out.data(), batch}, scratch);
    });
  }
}

// The deployment path: a Predictor packs the weights once; each caller has its own Workspace.
TEST(Inference, PredictorAllocatesNothingAndStartsNoThreadAfterWarmUp) {
  if (!counts_allocations) GTEST_SKIP() << "this sanitizer gives no allocation hook";
  const deepjet::Model<Net> model(1);
  const deepjet::Predictor<Net> predictor(model);
  for (std::size_t batch : {std::size_t{1}, std::size_t{32}, large_batch}) {
    const Jets jets(batch);
    deepjet::Predictor<Net>::Workspace workspace;
    expect_steady_inference(batch, [&](std::vector<float>& out) {
      predictor.predict(jets.view(), {out.data(), batch}, workspace);
    });
  }
  // The same for bfloat16 (its kernel rounds the inputs into a buffer on the stack).
  const deepjet::Predictor<Net, deepjet::Precision::bfloat16> bfloat16(model);
  for (std::size_t batch : {std::size_t{1}, std::size_t{300}}) {
    const Jets jets(batch);
    deepjet::Predictor<Net, deepjet::Precision::bfloat16>::Workspace workspace;
    expect_steady_inference(batch, [&](std::vector<float>& out) {
      bfloat16.predict(jets.view(), {out.data(), batch}, workspace);
    });
  }
}

// Four threads call predict calls_per_thread times each on one shared, read-only object, each with its own
// workspace (Workspace: Predictor's or Model's scratch); every result equals `expected`.
template <class Workspace, class Predict>
void expect_threads_agree(const std::vector<float>& expected, Predict predict) {
  std::vector<std::vector<float>> results(4, std::vector<float>(expected.size()));
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      Workspace own;  // per caller
      for (int i = 0; i < calls_per_thread; ++i) predict(results[t], own);
    });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r, expected);  // the same packed weights, the same kernels
}

TEST(Inference, ThreadsShareOnePredictorOrModelAndAgree) {
  const deepjet::Model<Net> model(3);
  const deepjet::Predictor<Net> predictor(model);
  const Jets jets(16);
  std::vector<float> expected(16 * 6);
  deepjet::AlignedFloats scratch;
  model.predict(jets.view(), {expected.data(), 16}, scratch);
  expect_threads_agree<deepjet::Predictor<Net>::Workspace>(expected, [&](std::vector<float>& out, auto& own) {
    predictor.predict(jets.view(), {out.data(), 16}, own);
  });
  expect_threads_agree<deepjet::AlignedFloats>(expected, [&](std::vector<float>& out, auto& own) {
    model.predict(jets.view(), {out.data(), 16}, own);
  });
}

#if defined(__SSE__)
// predict() treats subnormals as zero while it runs (kernels/simd.hpp SubnormalsAsZero) and gives
// the caller its floating-point control word back unchanged, whatever it was.
TEST(Inference, PredictRestoresTheCallersFloatingPointControlWord) {
  const deepjet::Model<Net> model(5);
  const deepjet::Predictor<Net> predictor(model);
  const Jets jets(2);
  std::vector<float> out(2 * 6);
  deepjet::Predictor<Net>::Workspace workspace;
  deepjet::AlignedFloats scratch;
  const unsigned original = _mm_getcsr();
  for (const unsigned caller : {original & ~0x8040u, original | 0x8040u}) {
    _mm_setcsr(caller);
    predictor.predict(jets.view(), {out.data(), 2}, workspace);
    EXPECT_EQ(_mm_getcsr(), caller);
    model.predict(jets.view(), {out.data(), 2}, scratch);
    EXPECT_EQ(_mm_getcsr(), caller);
  }
  _mm_setcsr(original);
  // Inside, a subnormal is zero: a kernel-level check of the scope itself.
  volatile float tiny = 1e-39f;  // subnormal
  {
    const deepjet::kernels::SubnormalsAsZero scope;
    EXPECT_EQ(tiny * 1.0f, 0.0f);
  }
  EXPECT_EQ(tiny * 1.0f, 1e-39f);
}
#endif

TEST(Inference, APredictorRefusesParametersOfAnotherSize) {
  const std::vector<float> too_few(deepjet::Model<Net>::parameter_count - 1);
  try {
    deepjet::Predictor<Net> predictor(too_few);
    FAIL() << "no error";
  } catch (const deepjet::Error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(too_few.size()) + " parameters given"), std::string::npos)
        << e.what();
  }
}

// BatchNorm folding changes only rounding: the Predictor (BatchNorms folded into the next Conv1D
// or Dense, Dropout skipped, LSTM weights packed) against the layer-by-layer training forward
// pass of the same model with every BatchNorm frozen (running statistics) and no dropout.
TEST(Inference, FoldedBatchNormGivesTheLayerByLayerResult) {
  using Unfolded = deepjet::zoo::DeepJetNetwork<0.0f>;
  deepjet::Model<Unfolded> model(4);
  deepjet::Random random(6);
  std::size_t statistics = 0;
  for (const auto& p : model.architecture().parameters) {
    auto values = model.parameter(p.path);
    auto fill = [&](float low, float high) {
      for (float& v : values) v = random.uniform(low, high);
    };
    if (p.path.ends_with("running_mean")) fill(-0.5f, 0.5f), ++statistics;
    else if (p.path.ends_with("running_var")) fill(0.3f, 2.0f);
    else if (p.path.ends_with("gamma")) fill(0.5f, 1.5f);
    else if (p.path.ends_with("beta")) fill(-0.3f, 0.3f);
  }
  // 23 BatchNorms: inputs; charged, neutral, vertex convolutions but the last + LSTM; Dense units.
  EXPECT_EQ(statistics, 4u + 4u + 3u + 4u + 8u);
  model.set_trainable("", false);  // frozen BatchNorms normalise with their running statistics
  const Jets jets(40);
  const auto layer_by_layer = model.forward(jets.view());
  const deepjet::Predictor<Unfolded> predictor(model);
  deepjet::Predictor<Unfolded>::Workspace workspace;
  std::vector<float> folded(40 * 6);
  predictor.predict(jets.view(), {folded.data(), 40}, workspace);
  // Not derived (a deep network with LSTMs): 2e-5 on probabilities in [0, 1], against largest
  // differences of 2.1e-7 (-march=native: AVX-512, FMA), 2.4e-7 (-march=x86-64-v3: AVX2, FMA) and
  // 1.8e-7 (-march=native -ffp-contract=off; also x86-64 SSE2, no FMA) measured: the folding's
  // rounding alone, ~100x below.
  double largest = 0;
  for (std::size_t i = 0; i < folded.size(); ++i) {
    largest = std::max(largest, std::abs(double(folded[i]) - layer_by_layer.data[i]));
    EXPECT_NEAR(folded[i], layer_by_layer.data[i], 2e-5) << i;
  }
  std::printf("largest difference folded vs layer by layer: %.2g\n", largest);
  // The head's eight BatchNorms each precede a Dense (through Dropout): all folded. In the
  // branches, the input BatchNorm and those of all convolution units precede a pointwise Conv1D
  // (the last convolution of a branch has no BatchNorm): charged 4 of 5, neutral 3 of 4, vertices
  // 4 of 5 (the other one follows the LSTM).
  EXPECT_EQ(Unfolded::folded_batch_norms, 8u);
  using Parts = deepjet::zoo::DeepJetParts<0.0f>;
  using Charged = deepjet::Sequential<deepjet::Input<25, 16>, deepjet::BatchNorm<>, Parts::ConvUnit<64>, Parts::ConvUnit<32>,
                                      Parts::ConvUnit<32>, Parts::LastConv<8>, Parts::Recurrence<150>>;
  EXPECT_EQ(Charged::folded_batch_norms, 4u);
}

// Conv1D takes a BatchNorm only where folding is exact: no padding read, and a bias.
TEST(Inference, ConvolutionsFoldBatchNormOnlyWhenExact) {
  using Pointwise = deepjet::Sequential<deepjet::Input<10, 3>, deepjet::BatchNorm<>, deepjet::Conv1D<4>>;
  using Valid = deepjet::Sequential<deepjet::Input<10, 3>, deepjet::BatchNorm<>, deepjet::Conv1D<4, 3, 2>>;
  using Same = deepjet::Sequential<deepjet::Input<10, 3>, deepjet::BatchNorm<>, deepjet::Conv1D<4, 3, 1, deepjet::same>>;
  using NoBias = deepjet::Sequential<deepjet::Input<10, 3>, deepjet::BatchNorm<>,
                                     deepjet::Conv1D<4, 1, 1, deepjet::valid, false>>;
  static_assert(Pointwise::folded_batch_norms == 1 && Valid::folded_batch_norms == 1);
  static_assert(Same::folded_batch_norms == 0 && NoBias::folded_batch_norms == 0);
  // The folded valid convolution against the layer-by-layer training pass (frozen BatchNorm).
  deepjet::Model<Valid> model(9);
  deepjet::Random random(10);
  for (const char* name : {"0.gamma", "0.beta", "0.running_mean", "1.bias"})
    for (float& v : model.parameter(name)) v = random.uniform(-1.0f, 1.0f);
  for (float& v : model.parameter("0.running_var")) v = random.uniform(0.2f, 2.0f);
  model.set_trainable("", false);
  std::vector<float> x(6 * 30);
  for (float& v : x) v = random.uniform(-2.0f, 2.0f);
  const auto in = deepjet::make_view<Valid::input_shape>(static_cast<const float*>(x.data()), 6);
  const auto expected = model.forward(in);
  std::vector<float> folded(6 * Valid::output_shape::size);
  deepjet::Predictor<Valid>::Workspace workspace;
  deepjet::Predictor<Valid>(model).predict(in, {folded.data(), 6}, workspace);
  // Both sides use the same scale s = gamma / sqrt(var + eps) (the same float expression, no
  // addition after a product: bit-equal). With S = |bias| + sum over the window of
  // |w| (|x s| + |beta| + |mean s|) for each output, the roundings are: layer by layer,
  // shift t = beta - mean s (2), x s + t (2), 9 products and the bias summed (10); folded, t (2),
  // w s (1), the folded bias rounded to float (1), 9 products and the folded bias summed (10);
  // and 4 for S being written with the exact s rather than the float one (4 roundings away).
  const auto bn_gamma = model.parameter("0.gamma"), beta = model.parameter("0.beta");
  const auto mean = model.parameter("0.running_mean"), var = model.parameter("0.running_var");
  const auto weight = model.parameter("1.weight"), bias = model.parameter("1.bias");
  constexpr std::size_t length = 10, channels = 3, filters = 4, kernel = 3, stride = 2, outputs = 4;
  static_assert(Valid::output_shape::size == outputs * filters);
  for (std::size_t n = 0; n < 6; ++n)
    for (std::size_t o = 0; o < outputs; ++o)
      for (std::size_t f = 0; f < filters; ++f) {
        double magnitude = std::abs(double(bias[f]));
        for (std::size_t j = 0; j < kernel; ++j)
          for (std::size_t c = 0; c < channels; ++c) {
            const double s = double(bn_gamma[c]) / std::sqrt(double(var[c]) + 1e-3);
            const double xv = x[(n * length + o * stride + j) * channels + c];
            magnitude += std::abs(double(weight[(j * channels + c) * filters + f])) *
                         (std::abs(xv * s) + std::abs(double(beta[c])) + std::abs(double(mean[c]) * s));
          }
        const std::size_t i = (n * outputs + o) * filters + f;
        EXPECT_NEAR(folded[i], expected.data[i], gamma_n(14 + 14 + 4) * magnitude) << i;
      }
}

// What the inference plan of a small stack keeps: Dense, ReLU, then the second Dense with the
// BatchNorm folded into it (Dropout skipped); each kept layer starts on a cache line.
TEST(Inference, PlanFoldsBatchNormIntoTheNextDenseAndSkipsDropout) {
  using Small = deepjet::Sequential<deepjet::Input<4>, deepjet::Dense<8>, deepjet::ReLU, deepjet::BatchNorm<>,
                                    deepjet::Dropout<0.5f>, deepjet::Dense<3>>;
  static_assert(Small::folded_batch_norms == 1);
  static_assert(Small::parameter_count == 40 + 32 + 27);
  static_assert(Small::inference_parameter_count == 48 + 27 + 5);  // Dense 4->8 padded to 48, Dense 8->3
  // A BatchNorm with nothing linear after it stays.
  using Last = deepjet::Sequential<deepjet::Input<4>, deepjet::Dense<8>, deepjet::BatchNorm<>>;
  static_assert(Last::folded_batch_norms == 0);
  deepjet::Model<Small> model(7);
  deepjet::Random random(8);
  for (const char* name : {"2.gamma", "2.beta", "2.running_mean"})
    for (float& v : model.parameter(name)) v = random.uniform(-1.0f, 1.0f);
  for (float& v : model.parameter("2.running_var")) v = random.uniform(0.2f, 2.0f);
  xt::xtensor<float, 2> x = xt::empty<float>({5, 4});
  for (float& v : x) v = random.uniform(-2.0f, 2.0f);
  // By hand, in double: Dense, ReLU, BatchNorm with the running statistics, Dense.
  const auto w1 = model.parameter("0.weight"), b1 = model.parameter("0.bias");
  const auto w2 = model.parameter("4.weight"), b2 = model.parameter("4.bias");
  const auto gamma = model.parameter("2.gamma"), beta = model.parameter("2.beta");
  const auto mean = model.parameter("2.running_mean"), var = model.parameter("2.running_var");
  const auto y = deepjet::Predictor<Small>(model).predict(x);
  // The bound: with s = gamma / sqrt(var + eps), |h_j| <= H_j = |b1_j| + sum_i |x_i w1_ij| and
  // S = |b2_k| + sum_j |w2_jk| (|s_j| (H_j + |mean_j|) + |beta_j|), the float path has at most
  // 22 roundings along any term: the first Dense (4 products and the bias: 5), s (var + eps,
  // sqrt, division, product with gamma: 4), w2 s (1), the shift beta - mean s (2), the folded bias
  // rounded to float (1), the second Dense (8 products and the bias: 9). The reference in double
  // is exact to 1e-15 (its eps 1e-3 differs from the layer's 1e-3f by 5e-11, relative to
  // var + eps >= 0.2 about 2e-10, far below one float rounding).
  for (std::size_t n = 0; n < 5; ++n) {
    double hidden[8], hidden_magnitude[8];
    for (std::size_t j = 0; j < 8; ++j) {
      double z = b1[j], magnitude = std::abs(double(b1[j]));
      for (std::size_t i = 0; i < 4; ++i) {
        z += double(x(n, i)) * w1[i * 8 + j];
        magnitude += std::abs(double(x(n, i)) * w1[i * 8 + j]);
      }
      z = std::max(z, 0.0);
      const double s = gamma[j] / std::sqrt(double(var[j]) + 1e-3);
      hidden[j] = (z - mean[j]) * s + beta[j];
      hidden_magnitude[j] = std::abs(s) * (magnitude + std::abs(double(mean[j]))) + std::abs(double(beta[j]));
    }
    for (std::size_t k = 0; k < 3; ++k) {
      double out = b2[k], magnitude = std::abs(double(b2[k]));
      for (std::size_t j = 0; j < 8; ++j) {
        out += hidden[j] * w2[j * 3 + k];
        magnitude += hidden_magnitude[j] * std::abs(double(w2[j * 3 + k]));
      }
      EXPECT_NEAR(y(n, k), out, gamma_n(22) * magnitude) << n << ", " << k;
    }
  }
}

}  // namespace

// ---- bfloat16 inference (Predictor<Net, Precision::bfloat16>, kernels/gemm_bf16.hpp) ----------
//
// Where the bounds come from: bfloat16 keeps 8 significant bits, so rounding a value to it moves
// it by at most 2^-8 of itself (half a unit in the 8th bit). A product of two rounded values is
// then within (1 + 2^-8)^2 - 1 = 2^-7 + 2^-16 of the float32 product, and a sum of K products
// within that times the sum of their magnitudes; the float32 sums themselves add gamma_{K+1}.

namespace {

constexpr double bf16_product_error = 0x1.0p-7 + 0x1.0p-16;

// Checks y = bf16(x) W + b, rows of `x` (rows x In) against the same product in double: within
// float rounding of the product of the bfloat16-rounded values (so the kernel does exactly that),
// and within the bfloat16 bound of the float32 product (so the Predictor's change is bounded).
void expect_bf16_product(std::size_t rows, std::size_t In, std::size_t Out, const float* x, const float* weight,
                         const float* bias, const float* y) {
  using deepjet::kernels::round_to_bf16;
  std::size_t wrong = 0;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t o = 0; o < Out; ++o) {
      double exact_bf16 = bias[o], exact_f32 = bias[o], magnitude = std::abs(bias[o]), magnitude_f32 = 0;
      for (std::size_t k = 0; k < In; ++k) {
        const double rounded = double(round_to_bf16(x[r * In + k])) * round_to_bf16(weight[k * Out + o]);
        exact_bf16 += rounded;
        magnitude += std::abs(rounded);
        exact_f32 += double(x[r * In + k]) * weight[k * Out + o];
        magnitude_f32 += std::abs(double(x[r * In + k]) * weight[k * Out + o]);
      }
      const double got = y[r * Out + o];
      const double float_rounding = gamma_n(int(In) + 1) * magnitude;
      if (std::abs(got - exact_bf16) > float_rounding || std::abs(got - exact_f32) > bf16_product_error * magnitude_f32 + float_rounding)
        ++wrong;
    }
  EXPECT_EQ(wrong, 0u) << "outputs outside the bounds, of " << rows * Out;
}

}  // namespace

TEST(Inference, Bf16RoundsToNearestEven) {
  using deepjet::kernels::to_bf16;
  EXPECT_EQ(to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(to_bf16(-2.0f), 0xc000);
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even neighbour, 1.
  EXPECT_EQ(to_bf16(1.0f + 0x1.0p-8f), 0x3f80);
  // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
  EXPECT_EQ(to_bf16(1.0f + 3 * 0x1.0p-8f), 0x3f82);
  EXPECT_EQ(to_bf16(1.0f + 0x1.0p-8f + 0x1.0p-20f), 0x3f81);  // just above half: up
  EXPECT_EQ(to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(to_bf16(0x1.0p-140f), 0x0000);   // a denormal becomes zero, as the instruction does
  EXPECT_EQ(to_bf16(-0x1.0p-140f), 0x8000);  // keeping its sign
  EXPECT_TRUE(std::isnan(deepjet::kernels::from_bf16(to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  // The largest float rounds up to infinity, as round-to-nearest must.
  EXPECT_EQ(to_bf16(std::numeric_limits<float>::max()), 0x7f80);
}

// The kernel alone, at sizes that cover every tile and block edge (rows 1 .. 13, columns past one
// panel, odd K, K past the 512-deep block, rows of A with a longer leading dimension): both
// implementations compute the product of the rounded values up to float32 summation, and agree
// with each other to within that.
TEST(Inference, Bf16KernelInstructionAndFallbackAgree) {
  deepjet::Random random(11);
  for (std::size_t M : {1, 7, 13})
    for (std::size_t N : {5, 37, 70})
      for (std::size_t K : {1, 2, 45, 600}) {
        const std::size_t lda = K + 3;
        std::vector<float> a(M * lda), b(K * N), bias(N, 0.0f);
        for (float& v : a) v = random.uniform(-1.0f, 1.0f);
        for (float& v : b) v = random.uniform(-1.0f, 1.0f);
        std::vector<float> packed = b;
        deepjet::kernels::pack_bf16_pairs(K, N, packed.data());
        std::vector<float> fallback(M * N), dense_a(M * K);
        for (std::size_t m = 0; m < M; ++m) std::copy_n(a.data() + m * lda, K, dense_a.data() + m * K);
        deepjet::kernels::gemm_nn_bf16<deepjet::kernels::DefaultArch, false>(M, N, K, a.data(), lda, packed.data(),
                                                                             fallback.data(), N, false);
        SCOPED_TRACE("M " + std::to_string(M) + " N " + std::to_string(N) + " K " + std::to_string(K));
        expect_bf16_product(M, K, N, dense_a.data(), b.data(), bias.data(), fallback.data());
#if defined(__AVX512BF16__) && defined(__AVX512F__)
        std::vector<float> instruction(M * N);
        deepjet::kernels::gemm_nn_bf16<deepjet::kernels::DefaultArch, true>(M, N, K, a.data(), lda, packed.data(),
                                                                            instruction.data(), N, false);
        expect_bf16_product(M, K, N, dense_a.data(), b.data(), bias.data(), instruction.data());
        // Same pairs, same order of the float32 sums (a[k+1] b[k+1] first, then a[k] b[k]), and
        // the products are exact: equal to the bit. (No denormals here, which only the
        // instruction flushes.)
        EXPECT_EQ(instruction, fallback);
#endif
      }
#if !(defined(__AVX512BF16__) && defined(__AVX512F__))
  GTEST_SKIP() << "built without AVX512-BF16: the fallback was checked, the instruction not";
#endif
}

// A Dense and a pointwise Conv1D, each alone in a model: the Predictor's bfloat16 outputs against
// the bounds above, for a batch that leaves incomplete row tiles.
TEST(Inference, Bf16PredictorOfOneLayerIsWithinBf16RoundingOfFloat32) {
  constexpr std::size_t In = 45, Out = 37, count = 13;  // odd K; two column registers, the last partial
  deepjet::Random random(12);
  std::vector<float> x(count * 9 * In);
  for (float& v : x) v = random.uniform(-2.0f, 2.0f);
  {
    using Small = deepjet::Sequential<deepjet::Input<In>, deepjet::Dense<Out>>;
    const deepjet::Model<Small> model(6);
    const deepjet::Predictor<Small, deepjet::Precision::bfloat16> predictor(model);
    std::vector<float> y(count * Out);
    typename decltype(predictor)::Workspace workspace;
    predictor.predict({x.data(), count}, {y.data(), count}, workspace);
    const float* p = model.parameters().data();
    expect_bf16_product(count, In, Out, x.data(), p, p + In * Out, y.data());
  }
  {
    using Pointwise = deepjet::Sequential<deepjet::Input<9, In>, deepjet::Conv1D<Out>>;
    const deepjet::Model<Pointwise> model(7);
    const deepjet::Predictor<Pointwise, deepjet::Precision::bfloat16> predictor(model);
    std::vector<float> y(count * 9 * Out);
    typename decltype(predictor)::Workspace workspace;
    predictor.predict({x.data(), count}, {y.data(), count}, workspace);
    const float* p = model.parameters().data();
    expect_bf16_product(count * 9, In, Out, x.data(), p, p + In * Out, y.data());
  }
  {
    // Through Parallel (a residual block): y = x + (bf16(x) W + b), the shortcut in float32.
    using Block = deepjet::Sequential<deepjet::Input<In>, deepjet::Residual<deepjet::Stack<deepjet::Dense<In>>>>;
    const deepjet::Model<Block> model(9);
    const deepjet::Predictor<Block, deepjet::Precision::bfloat16> predictor(model);
    std::vector<float> y(count * In);
    typename decltype(predictor)::Workspace workspace;
    predictor.predict({x.data(), count}, {y.data(), count}, workspace);
    // The shortcut's add rounds once more, by 2^-24 of |y|: far inside the bounds below.
    for (std::size_t i = 0; i < y.size(); ++i) y[i] -= x[i];
    const float* p = model.parameters().data();
    expect_bf16_product(count, In, In, x.data(), p, p + In * In, y.data());
  }
}

// Layers without a bfloat16 path (the recurrent ones, Conv1D with kernel > 1) run their float32
// inference on untouched float32 weights: the same code on the same numbers, equal to the bit.
TEST(Inference, Bf16LeavesLayersWithoutABf16PathInFloat32) {
  using Recurrent = deepjet::Sequential<deepjet::Input<10, 5>, deepjet::LSTM<8>, deepjet::Dropout<0.1f>>;
  using Wide = deepjet::Sequential<deepjet::Input<10, 5>, deepjet::Conv1D<4, 3, 1, deepjet::same>>;
  deepjet::Random random(13);
  std::vector<float> x(6 * 50);
  for (float& v : x) v = random.uniform(-1.0f, 1.0f);
  auto compare = [&]<class Small>(Small*) {
    const deepjet::Model<Small> model(8);
    const deepjet::Predictor<Small> float32(model);
    const deepjet::Predictor<Small, deepjet::Precision::bfloat16> bfloat16(model);
    const std::size_t outputs = Small::output_shape::size * 6;
    std::vector<float> a(outputs), b(outputs);
    typename deepjet::Predictor<Small>::Workspace wa;
    typename deepjet::Predictor<Small, deepjet::Precision::bfloat16>::Workspace wb;
    float32.predict({x.data(), 6}, {a.data(), 6}, wa);
    bfloat16.predict({x.data(), 6}, {b.data(), 6}, wb);
    EXPECT_EQ(a, b);
  };
  compare(static_cast<Recurrent*>(nullptr));
  compare(static_cast<Wide*>(nullptr));
}

// DeepJet (random weights) in bfloat16 against float32. Each of the 13 products on the longest
// path (4 convolutions, the classifier's 9 Dense) perturbs its outputs by at most 2^-7 of the sum
// of its terms' magnitudes (above); with normalised activations (BatchNorm after each) the
// perturbations add up layer after layer, and softmax moves no probability by more than its
// inputs move. So the probabilities agree within 13 x 2^-7 = 0.1; a broken bfloat16 path (pairs
// mixed up, a layer's weights half converted) gives differences of order one. The differences
// must also not all be zero: the bfloat16 path ran.
TEST(Inference, Bf16DeepJetPredictorAgreesWithFloat32) {
  const deepjet::Model<Net> model(3);
  const deepjet::Predictor<Net> float32(model);
  const auto bfloat16 = deepjet::Predictor<Net, deepjet::Precision::bfloat16>(model.parameters());
  for (std::size_t count : {1, 13}) {  // 13: two full row tiles of 6 and one row
    const Jets jets(count);
    std::vector<float> a(count * 6), b(count * 6);
    deepjet::Predictor<Net>::Workspace wa;
    deepjet::Predictor<Net, deepjet::Precision::bfloat16>::Workspace wb;
    float32.predict(jets.view(), {a.data(), count}, wa);
    bfloat16.predict(jets.view(), {b.data(), count}, wb);
    double largest = 0, sum = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      ASSERT_TRUE(std::isfinite(b[i]));
      largest = std::max(largest, double(std::abs(a[i] - b[i])));
      sum += std::abs(a[i] - b[i]);
    }
    EXPECT_LE(largest, 13 * 0x1.0p-7) << "batch " << count;
    EXPECT_GT(sum, 0.0) << "batch " << count << ": the bfloat16 predictor gave float32's outputs exactly";
    std::printf("bfloat16 vs float32 DeepJet, batch %zu: largest |dp| %.2e, mean %.2e\n", count, largest,
                sum / double(a.size()));
  }
}
