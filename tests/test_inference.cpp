// Production inference: after warm-up, predicting (through a deepjet::Predictor, or through
// Model::predict) allocates nothing, starts no thread, and many threads can share one read-only
// model (each with its own workspace); BatchNorm folding changes only rounding.
#include <deepjet/deepjet.hpp>
#include <deepjet/zoo/deepjet.hpp>

#include <gtest/gtest.h>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <string_view>
#include <thread>

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

// Calls predict(out) once to warm up, then ten times more: these allocate nothing, start no
// thread, and give finite outputs.
template <class Predict>
void expect_steady_inference(std::size_t batch, Predict predict) {
  std::vector<float> out(batch * 6);
  const std::size_t at_start = allocations.load();
  predict(out);  // warm-up: sizes the scratch
  EXPECT_GT(allocations.load() - at_start, 0u) << "the counter sees the warm-up's allocation";
  const std::size_t threads_before = thread_count();
  const std::size_t before = allocations.load();
  for (int i = 0; i < 10; ++i) predict(out);
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
  for (std::size_t batch : {std::size_t{1}, std::size_t{32}, std::size_t{300}}) {
    const Jets jets(batch);
    deepjet::Predictor<Net>::Workspace workspace;
    expect_steady_inference(batch, [&](std::vector<float>& out) {
      predictor.predict(jets.view(), {out.data(), batch}, workspace);
    });
  }
}

// Four threads call predict 20 times each on one shared, read-only object, each with its own
// workspace (Workspace: Predictor's or Model's scratch); every result equals `expected`.
template <class Workspace, class Predict>
void expect_threads_agree(const std::vector<float>& expected, Predict predict) {
  std::vector<std::vector<float>> results(4, std::vector<float>(expected.size()));
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      Workspace own;  // per caller
      for (int i = 0; i < 20; ++i) predict(results[t], own);
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
