// Speed of kernels/fast_math.hpp against xsimd's exp, expm1 and tanh and the sigmoid written with
// xsimd::exp, for each instruction set this binary is compiled for. Plain main, no arguments.
//
// How: each function maps 4096 floats (16 kB, in L1) drawn uniformly from [-8, 8] (the range of
// LSTM pre-activations, where xsimd's tanh takes both of its branches; "tanh |x| < 0.5" draws from
// [-0.5, 0.5], where it takes only its cheap polynomial branch) into a second buffer, 200
// times per repetition; the figure is the best of 15 repetitions, in nanoseconds per element of
// this thread's CPU time (CLOCK_THREAD_CPUTIME_ID: on the shared development machine, wall-clock
// figures move with the other processes' load). "LSTM activations" is the activation work of one
// LSTM step per unit: three sigmoid gates, tanh of the candidate and tanh of the new cell.
// The default build (-march=native) measures AVX-512 and AVX2 (in AVX-512's VEX/EVEX encoding);
// fast_math_benchmark_avx2 is compiled with -mno-avx512f, for AVX2 as an AVX2-only machine runs it.
#include "deepjet/kernels/fast_math.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <vector>

namespace {

namespace fast_math = deepjet::kernels::fast_math;

double thread_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// Inputs: a fixed sequence (a 32-bit linear congruential generator), uniform in [-limit, limit].
std::vector<float> make_inputs(std::size_t n, float limit) {
  std::vector<float> values(n);
  std::uint32_t state = 12345u;
  for (float& v : values) {
    state = state * 1664525u + 1013904223u;
    v = limit * (2.0f * static_cast<float>(state >> 8) / 16777216.0f - 1.0f);
  }
  return values;
}

// Best time per element, in ns, of mapping `in` through `step` (which handles one register's
// worth of elements starting at the given index).
template <class Step>
double nanoseconds_per_element(std::size_t n, Step step, std::size_t lanes) {
  constexpr int repetitions = 15;
  constexpr int passes = 200;
  double best = 1e300;
  for (int repetition = 0; repetition < repetitions; ++repetition) {
    const double start = thread_seconds();
    for (int pass = 0; pass < passes; ++pass) {
      for (std::size_t i = 0; i + lanes <= n; i += lanes) step(i);
      asm volatile("" ::: "memory");  // keep every pass
    }
    best = std::min(best, (thread_seconds() - start) / (static_cast<double>(n) * passes));
  }
  return best * 1e9;
}

template <class Arch>
void compare(const char* instruction_set) {
  using Floats = xsimd::batch<float, Arch>;
  constexpr std::size_t n = 4096;
  constexpr std::size_t lanes = Floats::size;
  const std::vector<float> wide = make_inputs(n, 8.0f);
  const std::vector<float> narrow = make_inputs(n, 0.5f);
  const float* x = wide.data();
  std::vector<float> out(n);
  float* y = out.data();

  auto row = [&](const char* what, auto reference, auto fast) {
    const double reference_ns = nanoseconds_per_element(
        n, [&](std::size_t i) { reference(Floats::load_unaligned(x + i)).store_unaligned(y + i); }, lanes);
    const double fast_ns = nanoseconds_per_element(
        n, [&](std::size_t i) { fast(Floats::load_unaligned(x + i)).store_unaligned(y + i); }, lanes);
    std::printf("%-9s %-17s %8.3f %8.3f %8.2fx\n", instruction_set, what, reference_ns, fast_ns, reference_ns / fast_ns);
  };
  row("exp", [](Floats v) { return xsimd::exp(v); }, [](Floats v) { return fast_math::exp(v); });
  row("expm1", [](Floats v) { return xsimd::expm1(v); }, [](Floats v) { return fast_math::expm1(v); });
  row("tanh", [](Floats v) { return xsimd::tanh(v); }, [](Floats v) { return fast_math::tanh(v); });
  // Where all lanes of a register are below 0.625 in magnitude, xsimd's tanh skips its exp branch.
  x = narrow.data();
  row("tanh |x| < 0.5", [](Floats v) { return xsimd::tanh(v); }, [](Floats v) { return fast_math::tanh(v); });
  x = wide.data();
  row("sigmoid", [](Floats v) { return Floats(1.0f) / (Floats(1.0f) + xsimd::exp(-v)); },
      [](Floats v) { return fast_math::sigmoid(v); });
  // One LSTM step's activations for a unit, on the same inputs (c_prev taken as the input too);
  // per element means per unit here.
  row("LSTM activations",
      [](Floats v) {
        auto sigmoid = [](Floats z) { return Floats(1.0f) / (Floats(1.0f) + xsimd::exp(-z)); };
        const Floats cell = xsimd::fma(sigmoid(v * Floats(0.9f)), v, sigmoid(v * Floats(1.1f)) * xsimd::tanh(v));
        return sigmoid(v * Floats(0.7f)) * xsimd::tanh(cell);
      },
      [](Floats v) {
        const Floats cell = xsimd::fma(fast_math::sigmoid(v * Floats(0.9f)), v,
                                       fast_math::sigmoid(v * Floats(1.1f)) * fast_math::tanh(v));
        return fast_math::sigmoid(v * Floats(0.7f)) * fast_math::tanh(cell);
      });
}

}  // namespace

int main() {
  std::printf("ns per element (thread CPU time), best of 15\n");
  std::printf("%-9s %-17s %8s %8s %9s\n", "isa", "function", "xsimd", "fast", "speed-up");
#if XSIMD_WITH_AVX512BW
  compare<xsimd::avx512bw>("AVX-512");
#endif
#if XSIMD_WITH_FMA3_AVX2
  compare<xsimd::fma3<xsimd::avx2>>("AVX2");
#endif
#if !XSIMD_WITH_AVX512BW && !XSIMD_WITH_FMA3_AVX2
  compare<xsimd::default_arch>(xsimd::default_arch::name());
#endif
  return 0;
}
