// reduced_precision_benchmark: inference speed of Predictor<Net, Precision::bfloat16> beside the
// float32 Predictor of the same weights, at batch 1 and 1024 on one thread (docs/performance.md,
// "Reduced precision").
//
//   reduced_precision_benchmark [--quick]
//
// Models: DeepJet (deepjet/zoo), and alone the two layer kinds that have a bfloat16 path, Dense
// 265->200 and a pointwise Conv1D 16->64 over 25 particles (DeepJet's first layers of each kind).
// The two precisions are timed in alternation, each round at least 0.25 s of back-to-back
// predict() calls, and the best of 5 rounds is kept (2 rounds of 0.05 s with --quick), so a machine
// shared with other work slows both alike; the ratio is the figure to quote. Prints one line per
// model and batch: jets/s of each precision and their ratio. Which kernel ran is printed first,
// and with AVX512-BF16 the issue rate of VDPBF16PS beside VFMADD231PS on 24 independent
// accumulators (what bounds a compute-bound product: each VDPBF16PS does two multiply-adds per
// lane, each FMA one).
#include <deepjet/inference.hpp>
#include <deepjet/zoo/deepjet.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

bool quick = false;

// Best jets/s of `predict` over rounds, alternating with `other`.
template <class F>
double rate_of(F&& predict, std::size_t batch) {
  const double minimum = quick ? 0.05 : 0.25;
  const auto start = std::chrono::steady_clock::now();
  std::size_t calls = 0;
  double seconds = 0;
  do {
    predict();
    ++calls;
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (seconds < minimum);
  return static_cast<double>(calls * batch) / seconds;
}

#if defined(__AVX512BF16__) && defined(__AVX512F__)
// Instructions per second of VFMADD231PS (Bf16 false) or VDPBF16PS (true), 24 chains.
template <bool Bf16>
[[gnu::noinline]] double issue_rate(float seed) {
  constexpr int chains = 24;
  __m512 acc[chains];
  for (int j = 0; j < chains; ++j) acc[j] = _mm512_set1_ps(seed * static_cast<float>(j));
  const __m512 x = _mm512_set1_ps(seed), y = _mm512_set1_ps(seed * 0.5f);
  const long steps = quick ? 2000000 : 20000000;
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < steps; ++i) {
#pragma GCC unroll 32
    for (int j = 0; j < chains; ++j) {
      if constexpr (Bf16) acc[j] = _mm512_dpbf16_ps(acc[j], (__m512bh)x, (__m512bh)y);
      else acc[j] = _mm512_fmadd_ps(x, y, acc[j]);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  float sum = 0;
  for (const auto& a : acc) sum += _mm512_reduce_add_ps(a);
  if (sum == 1.0f) std::printf(" ");  // keeps the sums alive
  return static_cast<double>(steps * chains) / seconds;
}
#endif

template <class Net>
void compare(const char* name, std::size_t batch) {
  using In = typename Net::input_shape;
  using Out = typename Net::output_shape;
  const deepjet::Model<Net> model(1);
  const deepjet::Predictor<Net> float32(model);
  const deepjet::Predictor<Net, deepjet::Precision::bfloat16> bfloat16(model);
  std::vector<float> x(In::size * batch), y(Out::size * batch);
  deepjet::Random random(7);
  for (float& v : x) v = random.normal();
  typename deepjet::Predictor<Net>::Workspace w32;
  typename deepjet::Predictor<Net, deepjet::Precision::bfloat16>::Workspace w16;
  const auto xv = deepjet::make_view<In>(x.data(), batch);
  const auto yv = deepjet::make_view<Out>(y.data(), batch);
  double best32 = 0, best16 = 0;
  for (int round = 0; round < (quick ? 2 : 5); ++round) {
    best32 = std::max(best32, rate_of([&] { float32.predict(xv, yv, w32); }, batch));
    best16 = std::max(best16, rate_of([&] { bfloat16.predict(xv, yv, w16); }, batch));
  }
  std::printf("%-34s batch %5zu   float32 %10.0f jets/s   bfloat16 %10.0f jets/s   bfloat16/float32 %.2f\n", name,
              batch, best32, best16, best16 / best32);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) quick = quick || std::strcmp(argv[i], "--quick") == 0;
  std::printf("bfloat16 kernel: %s\n", deepjet::kernels::has_avx512_bf16
                                           ? "AVX512-BF16 (VDPBF16PS)"
                                           : "fallback (float32 FMA on bfloat16 values; no AVX512-BF16 in this build)");
#if defined(__AVX512BF16__) && defined(__AVX512F__)
  double fma = 0, dot = 0;
  for (int round = 0; round < 3; ++round) {
    fma = std::max(fma, issue_rate<false>(static_cast<float>(argc) * 1e-3f));
    dot = std::max(dot, issue_rate<true>(static_cast<float>(argc) * 1e-3f));
  }
  std::printf("issue rate: VFMADD231PS %.2f G/s, VDPBF16PS %.2f G/s (ratio %.2f; multiply-adds %.2f)\n", fma / 1e9,
              dot / 1e9, dot / fma, 2 * dot / fma);
#endif
  using Dense = deepjet::Sequential<deepjet::Input<265>, deepjet::Dense<200>>;
  using Pointwise = deepjet::Sequential<deepjet::Input<25, 16>, deepjet::Conv1D<64>>;
  for (std::size_t batch : {1, 1024}) {
    compare<deepjet::zoo::DeepJet>("DeepJet", batch);
    compare<Dense>("Dense 265->200", batch);
    compare<Pointwise>("Conv1D 16->64 (kernel 1) x25", batch);
  }
}
