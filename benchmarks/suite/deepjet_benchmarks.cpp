// deepjet's performance figures (issue 7, "Benchmark suite"): the machine's FMA peak, DeepJet
// inference and training throughput, and four single layers, printed as a table and written as JSON.
//
//   deepjet_benchmarks [benchmarks.json] [--quick]
//
// benchmarks/run.sh runs this beside benchmarks/suite/torch_benchmarks.py and prints both.
//
// How each figure is measured:
//   - Every figure is timed by wall clock AND by the CPU time of the threads doing the work
//     (CLOCK_THREAD_CPUTIME_ID). A repetition runs the work repeatedly for at least a minimum time;
//     the figure is the best of several repetitions. On a shared machine (other engineers
//     compiling) wall-clock rates fall with the load, CPU-time rates much less: the CPU-time rate is
//     "jets per second of one core's time", the headline figure; the wall-clock one is kept beside.
//   - FMA peak: independent FMA chains (12 accumulators, enough to hide the FMA latency on two FMA
//     ports, and few enough for the 16 registers of an AVX2-only build) on xsimd::batch<float, avx512f> and <float, fma3<avx2>> (xsimd's AVX2 arch with FMA;
//     plain xsimd::avx2 has no FMA instruction), 2 flops per lane per FMA; one thread, and two
//     threads at once (one per core).
//   - Inference: deepjet::zoo::DeepJet through the inference engine, deepjet::Predictor
//     (weights packed once, BatchNorm folded), with a Workspace per caller (allocation-free after
//     warm-up) on random inputs, batches 1, 32 and 1024; "2 threads" are two callers sharing the
//     one read-only Predictor, each with its own workspace and output, the figure is the sum of
//     their rates. The single-jet latency is the time of one predict call at batch 1.
//   - Training: the Trainer's data-parallel step replicated here (training/trainer.hpp's step is
//     private; replicated as of the commit "Simpler state: the trainer copies parameters once per
//     extra thread"): per step the batch of 1024 is cut into T slices, thread t > 0 gets a private
//     copy of the parameters (made before the threads start), each thread runs forward and
//     backward on its own Net object (own layer caches, own dropout stream) into its own gradient
//     buffer, the gradients are summed in thread order and Adam updates the model; the T - 1 helper threads are started per step, as the
//     Trainer does. Categorical cross-entropy against random one-hot targets, no sample weights.
//     The two-thread training figure cannot show the scaling while other processes compete for
//     the two cores, so the CPU time of the step's serial parts (parameter copy for the helper,
//     gradient sum, Adam) is measured too, and "idle-machine est." projects the two-thread rate:
//     serial part + (one-thread step - its serial part) / 2 (an estimate, not a measurement).
//   - Layers: each layer alone as a one-layer Sequential model (Predictor), batch 1 and 1024.
//     The DeepJet LSTM 8->150 uses deepjet::backwards as the model does; the k=3 Conv1D is
//     32 -> 32 channels over 100 particles with 'same' padding (a stride-1 unit of a particle CNN;
//     DeepAK8's symmetric padding is the same at stride 1).
//   - FLOPs: 2 per multiply-add of the matrix products (the weights' shapes times positions/steps),
//     element-wise work (biases, activations, BatchNorm, LSTM cell update) not counted. Training
//     counts 3x the forward (backward = input gradient + weight gradient, one product each).
//     Fractions of peak: one-thread figures against the one-thread AVX-512 peak, two-thread
//     figures against the two-thread AVX-512 peak (CPU-time rates against the CPU-time peak); a
//     build without AVX-512 (deepjet_benchmarks_avx2) measures and uses the AVX2 peak instead.
//   - Built three times (benchmarks/CMakeLists.txt): deepjet_benchmarks (-O2 -march=native),
//     deepjet_benchmarks_o3 (-O3) and deepjet_benchmarks_avx2 (-O2 -mno-avx512f).
#include <deepjet/zoo/deepjet.hpp>

#include <deepjet/deepjet.hpp>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

// The optimisation flags this file is compiled with (benchmarks/CMakeLists.txt): deepjet_benchmarks
// is -O2 -march=native, deepjet_benchmarks_o3 the same at -O3.
#ifndef DEEPJET_BENCHMARK_FLAGS
#define DEEPJET_BENCHMARK_FLAGS "-O2 -march=native"
#endif

namespace {

using Clock = std::chrono::steady_clock;
using Net = deepjet::zoo::DeepJet;
using In = Net::input_shape;
using Out = Net::output_shape;

bool quick = false;

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// A rate measured both ways (units per wall second, units per second of CPU time).
struct Rate {
  double wall = 0, cpu = 0;
  void keep_best(const Rate& r) {
    wall = std::max(wall, r.wall);
    cpu = std::max(cpu, r.cpu);
  }
};

int repetitions() { return quick ? 2 : 5; }
double minimum_seconds() { return quick ? 0.05 : 0.25; }

// One thread: run `call` (worth `units`) until at least `minimum` seconds of wall time and
// `minimum_calls` calls have passed; returns the rates.
template <class Call>
Rate run_for(Call&& call, double units, double minimum, int minimum_calls = 1) {
  const double cpu_start = thread_cpu_seconds();
  const auto start = Clock::now();
  long calls = 0;
  do {
    call();
    ++calls;
  } while (calls < minimum_calls || seconds_since(start) < minimum);
  const double wall = seconds_since(start), cpu = thread_cpu_seconds() - cpu_start;
  return {static_cast<double>(calls) * units / wall, static_cast<double>(calls) * units / cpu};
}

// Best of repetitions on `threads` threads at once: make(t) gives thread t's call (built and
// warmed up on that thread); the rate is the sum over threads.
Rate best_rate(std::size_t threads, const std::function<std::function<void()>(std::size_t)>& make, double units,
               int minimum_calls = 1, int reps = -1) {
  if (reps < 0) reps = repetitions();
  std::vector<Rate> per_thread(threads);
  std::atomic<std::size_t> ready{0};
  std::atomic<int> go{-1};
  std::atomic<std::size_t> done{0};
  Rate best;
  auto worker = [&](std::size_t t) {
    auto call = make(t);
    call();  // warm-up: sizes scratch and caches
    ++ready;
    for (int r = 0; r < reps; ++r) {
      while (go.load() < r) std::this_thread::yield();
      per_thread[t] = run_for(call, units, minimum_seconds(), minimum_calls);
      ++done;
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker, t);
  // Thread 0 is this thread; it also starts each repetition once everybody is ready.
  auto call0 = make(0);
  call0();
  ++ready;
  while (ready.load() < threads) std::this_thread::yield();
  for (int r = 0; r < reps; ++r) {
    done = 0;
    go = r;
    per_thread[0] = run_for(call0, units, minimum_seconds(), minimum_calls);
    ++done;
    while (done.load() < threads) std::this_thread::yield();
    Rate sum;
    for (const auto& p : per_thread) {
      sum.wall += p.wall;
      sum.cpu += p.cpu;
    }
    best.keep_best(sum);
  }
  for (auto& th : pool) th.join();
  return best;
}

// ---- FMA peak -----------------------------------------------------------------------------

volatile float sink = 0;

// Independent FMA chains: enough to hide the 4-cycle FMA latency on two FMA ports (8), few enough
// to stay in registers with the two operands when only the 16 AVX2 registers exist.
constexpr std::size_t fma_chains = 12;

template <class Arch>
std::function<void()> fma_loop() {
  return [] {
    using B = xsimd::batch<float, Arch>;
    constexpr std::size_t chains = fma_chains;
    volatile float va = 0.9999999f, vb = 1e-7f;
    const B a(va), b(vb);
    std::array<B, chains> acc;
    for (std::size_t k = 0; k < chains; ++k) acc[k] = B(static_cast<float>(k));
    for (int i = 0; i < (1 << 16); ++i)
      [&]<std::size_t... K>(std::index_sequence<K...>) { ((acc[K] = xsimd::fma(acc[K], a, b)), ...); }(
          std::make_index_sequence<chains>{});
    B total = acc[0];
    for (std::size_t k = 1; k < chains; ++k) total += acc[k];
    sink = sink + xsimd::hadd(total);
  };
}

template <class Arch>
double fma_flops_per_call() {
  return double(1 << 16) * fma_chains * xsimd::batch<float, Arch>::size * 2;
}

// ---- FLOP counts ----------------------------------------------------------------------------

struct Product {
  const char* what;
  double multiply_adds;  // per jet
};

// DeepJet's matrix products per jet, from the layer shapes in deepjet/zoo/deepjet.hpp.
std::vector<Product> deepjet_products() {
  auto conv = [](double positions, double in, double out) { return positions * in * out; };
  auto lstm = [](double steps, double in, double units) { return 4 * units * (in + units) * steps; };
  return {
      {"charged Conv1D 16-64-32-32-8 x25", conv(25, 16, 64) + conv(25, 64, 32) + conv(25, 32, 32) + conv(25, 32, 8)},
      {"charged LSTM 8->150 x25", lstm(25, 8, 150)},
      {"neutral Conv1D 6-32-16-4 x25", conv(25, 6, 32) + conv(25, 32, 16) + conv(25, 16, 4)},
      {"neutral LSTM 4->50 x25", lstm(25, 4, 50)},
      {"vertex Conv1D 12-64-32-32-8 x4", conv(4, 12, 64) + conv(4, 64, 32) + conv(4, 32, 32) + conv(4, 32, 8)},
      {"vertex LSTM 8->50 x4", lstm(4, 8, 50)},
      {"Dense 265-200-7x100-6", 265.0 * 200 + 200.0 * 100 + 6 * 100.0 * 100 + 100.0 * 6},
  };
}

double deepjet_forward_flops() {
  double macs = 0;
  for (const auto& p : deepjet_products()) macs += p.multiply_adds;
  return 2 * macs;
}

// ---- inputs ---------------------------------------------------------------------------------

template <class S>
deepjet::AlignedFloats random_floats(std::size_t count, std::uint64_t seed) {
  deepjet::AlignedFloats v(S::size * count);
  deepjet::Random random(seed);
  for (float& x : v) x = random.uniform(-1.0f, 1.0f);
  return v;
}

// Inference figure for any model: `threads` callers share one Predictor of `model`.
template <class Net>
Rate inference_rate(const deepjet::Model<Net>& model, std::size_t batch, std::size_t threads) {
  using MIn = typename Net::input_shape;
  using MOut = typename Net::output_shape;
  const deepjet::Predictor<Net> predictor(model);
  const auto inputs = random_floats<MIn>(batch, 7);
  struct Caller {
    typename deepjet::Predictor<Net>::Workspace workspace;
    deepjet::AlignedFloats output;
  };
  std::vector<Caller> callers(threads);
  return best_rate(
      threads,
      [&](std::size_t t) -> std::function<void()> {
        auto& c = callers[t];
        c.output.resize(MOut::size * batch);
        return [&predictor, &inputs, &c, batch] {
          predictor.predict(deepjet::make_view<MIn>(inputs.data(), batch),
                            deepjet::make_view<MOut>(c.output.data(), batch), c.workspace);
        };
      },
      static_cast<double>(batch));
}

// ---- training: the Trainer's T-thread step, replicated ----------------------------------------

struct TrainingRun {
  TrainingRun(std::size_t batch, std::size_t threads)
      : model(1), batch(batch), replicas(threads), contexts(threads), gradients(threads), outputs(threads),
        output_gradients(threads), copies(threads), inputs(random_floats<In>(batch, 11)), truth(Out::size * batch, 0.0f) {
    deepjet::Random random(13);
    for (std::size_t j = 0; j < batch; ++j)
      truth[j * Out::size + static_cast<std::size_t>(random.uniform(0.0f, 5.999f))] = 1.0f;
    for (std::size_t t = 0; t < threads; ++t) {
      contexts[t].random.reseed(1000003ULL + t);
      // As the Trainer: BatchNorm normalises with the whole batch's statistics, the threads
      // exchanging their sums in every BatchNorm's forward and backward pass.
      contexts[t].batch_sums = threads > 1 ? &batch_sums : nullptr;
      contexts[t].slice = t;
    }
  }

  void step() {
    const auto x = deepjet::make_view<In>(static_cast<const float*>(inputs.data()), batch);
    const auto target = deepjet::make_view<Out>(static_cast<const float*>(truth.data()), batch);
    const std::size_t n = batch, threads = replicas.size();
    const auto params = model.parameters();
    // Threads > 0 work on private copies of the parameters, made before any thread starts.
    double serial_start = thread_cpu_seconds();
    for (std::size_t t = 1; t < threads; ++t) copies[t].assign(params.begin(), params.end());
    serial_seconds += thread_cpu_seconds() - serial_start;
    auto work = [&](std::size_t t) {
      const std::size_t first = n * t / threads, count = n * (t + 1) / threads - first;
      auto& grads = gradients[t];
      grads.assign(params.size(), 0.0f);
      float* p = t == 0 ? params.data() : copies[t].data();
      const auto out = deepjet::make_view<Out>(deepjet::ensure_size(outputs[t], Out::size * count), count);
      const auto dout = deepjet::make_view<Out>(deepjet::ensure_size(output_gradients[t], Out::size * count), count);
      const auto xs = deepjet::slice(x, first, count);
      replicas[t].forward(contexts[t], p, xs, out);
      loss.evaluate(deepjet::ConstBatch<Out>(out), deepjet::slice(target, first, count), nullptr, dout);
      const float share = static_cast<float>(count) / static_cast<float>(n);
      for (std::size_t i = 0; i < Out::size * count; ++i) output_gradients[t][i] *= share;
      replicas[t].backward(p, grads.data(), xs, deepjet::ConstBatch<Out>(out), deepjet::ConstBatch<Out>(dout),
                           deepjet::make_view<In>(static_cast<float*>(nullptr), count));
    };
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
    work(0);
    for (auto& th : pool) th.join();
    serial_start = thread_cpu_seconds();
    auto total = model.gradients();
    std::copy(gradients[0].begin(), gradients[0].end(), total.begin());
    for (std::size_t t = 1; t < threads; ++t)
      for (std::size_t i = 0; i < total.size(); ++i) total[i] += gradients[t][i];
    adam.step(model.parameters(), model.gradients(), model.trainable_ranges());
    serial_seconds += thread_cpu_seconds() - serial_start;
    ++steps;
  }

  deepjet::Model<Net> model;
  std::size_t batch;
  std::vector<Net> replicas;
  std::vector<deepjet::TrainingContext> contexts;
  deepjet::training::SharedBatchSums batch_sums{replicas.size(), nullptr};
  std::vector<std::vector<float>> gradients;
  std::vector<deepjet::AlignedFloats> outputs, output_gradients;
  std::vector<std::vector<float>> copies;
  deepjet::AlignedFloats inputs;
  std::vector<float> truth;
  deepjet::CategoricalCrossEntropy loss;
  deepjet::Adam adam;
  // CPU time of the step's serial parts on the calling thread (parameter copy for the helpers,
  // gradient sum, Adam), over `steps` steps.
  double serial_seconds = 0;
  long steps = 0;
};

struct TrainingFigure {
  Rate rate;
  double serial_ms_per_step = 0;  // CPU time of the serial parts
};

// Training rate: wall clock of whole steps; CPU time of all the step's threads (this process's
// CPU time: nothing else runs in it meanwhile), divided by the thread count so that it is "per
// core-second" times the cores used.
TrainingFigure training_rate(std::size_t batch, std::size_t threads) {
  TrainingRun run(batch, threads);
  run.step();  // warm-up
  run.serial_seconds = 0;
  run.steps = 0;
  Rate best;
  const int reps = quick ? 1 : 3;
  for (int r = 0; r < reps; ++r) {
    timespec c0{}, c1{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    const auto start = Clock::now();
    int steps = 0;
    do {
      run.step();
      ++steps;
    } while (steps < 2 || seconds_since(start) < (quick ? 0.2 : 1.0));
    const double wall = seconds_since(start);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    const double cpu = (c1.tv_sec - c0.tv_sec) + 1e-9 * (c1.tv_nsec - c0.tv_nsec);
    const double jets = static_cast<double>(steps) * static_cast<double>(batch);
    best.keep_best({jets / wall, jets / cpu * static_cast<double>(threads)});
  }
  return {best, 1e3 * run.serial_seconds / static_cast<double>(run.steps)};
}

// ---- output ---------------------------------------------------------------------------------

struct Figure {
  std::string key, label, unit;
  Rate value;
  double flops_per_unit = 0;  // 0: no fraction of peak
  std::size_t threads = 1;
};

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path = "benchmarks.json";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0)
      quick = true;
    else
      json_path = argv[i];
  }
  const std::string load_before = load_average();
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t both = std::min<std::size_t>(2, cores);
  std::fprintf(stderr, "deepjet_benchmarks: kernels for %s, load %s, %u cores\n", xsimd::default_arch::name(),
               load_before.c_str(), cores);

  std::vector<Figure> figures;
  auto add = [&](std::string key, std::string label, std::string unit, Rate value, double flops, std::size_t threads) {
    std::fprintf(stderr, "  %-44s %12.1f %s (cpu), %12.1f (wall)\n", label.c_str(), value.cpu, unit.c_str(), value.wall);
    figures.push_back({std::move(key), std::move(label), std::move(unit), value, flops, threads});
  };

  // Peak. A build without AVX-512 (deepjet_benchmarks_avx2) measures the AVX2 peak only, and its
  // fractions of peak are of the AVX2 peak.
  const double gflop2 = fma_flops_per_call<xsimd::fma3<xsimd::avx2>>() * 1e-9;
  Rate peak512, peak512_2;
#if XSIMD_WITH_AVX512F
  constexpr bool has_avx512 = true;
  const double gflop512 = fma_flops_per_call<xsimd::avx512f>() * 1e-9;
  peak512 = best_rate(1, [](std::size_t) { return fma_loop<xsimd::avx512f>(); }, gflop512);
  add("peak_avx512_1t", "FMA peak AVX-512, 1 thread", "GFLOP/s", peak512, 0, 1);
#else
  constexpr bool has_avx512 = false;
#endif
  const Rate peak2 = best_rate(1, [](std::size_t) { return fma_loop<xsimd::fma3<xsimd::avx2>>(); }, gflop2);
  add("peak_avx2_1t", "FMA peak AVX2, 1 thread", "GFLOP/s", peak2, 0, 1);
#if XSIMD_WITH_AVX512F
  peak512_2 = best_rate(both, [](std::size_t) { return fma_loop<xsimd::avx512f>(); }, gflop512);
  add("peak_avx512_2t", "FMA peak AVX-512, 2 threads", "GFLOP/s", peak512_2, 0, both);
#endif
  const Rate peak2_2 = best_rate(both, [](std::size_t) { return fma_loop<xsimd::fma3<xsimd::avx2>>(); }, gflop2);
  add("peak_avx2_2t", "FMA peak AVX2, 2 threads", "GFLOP/s", peak2_2, 0, both);
  const char* peak_name = has_avx512 ? "AVX-512" : "AVX2";

  // DeepJet inference.
  const double forward = deepjet_forward_flops();
  const deepjet::Model<Net> model(1);
  for (std::size_t batch : {1, 32, 1024}) {
    const std::string b = std::to_string(batch);
    add("inference_b" + b + "_1t", "DeepJet inference, batch " + b + ", 1 thread", "jets/s",
        inference_rate(model, batch, 1), forward, 1);
    add("inference_b" + b + "_2t", "DeepJet inference, batch " + b + ", 2 threads", "jets/s",
        inference_rate(model, batch, both), forward, both);
  }
  {
    const Rate r = std::find_if(figures.begin(), figures.end(), [](const Figure& f) { return f.key == "inference_b1_1t"; })
                       ->value;  // batch 1, one thread: jets/s = calls/s
    add("latency_1jet_us", "DeepJet single-jet latency", "us", {1e6 / r.wall, 1e6 / r.cpu}, 0, 1);
  }
  {
    // A CMSSW-like event: its ~30 jets predicted as one batch (issue 17's target: <= 1.3 ms).
    const Rate r = inference_rate(model, 30, 1);
    add("inference_b30_1t", "DeepJet inference, batch 30 (one event), 1 thread", "jets/s", r, forward, 1);
    add("latency_event30_us", "DeepJet event latency (30 jets, one batch)", "us", {30e6 / r.wall, 30e6 / r.cpu}, 0, 1);
  }

  // DeepJet training.
  const TrainingFigure train1 = training_rate(1024, 1), train2 = training_rate(1024, both);
  add("training_b1024_1t", "DeepJet training, batch 1024, 1 thread", "jets/s", train1.rate, 3 * forward, 1);
  add("training_b1024_2t", "DeepJet training, batch 1024, 2 threads", "jets/s", train2.rate, 3 * forward, both);
  // What two threads would give on two otherwise idle cores (Amdahl): the one-thread step's
  // parallel part (its CPU time minus its serial part) split over the threads, plus the two-thread
  // step's serial part. The wall-clock scaling cannot be measured while other processes compete
  // for the two cores.
  const double step1_ms = 1e3 * 1024 / train1.rate.cpu;
  const double projected_ms = train2.serial_ms_per_step + (step1_ms - train1.serial_ms_per_step) / double(both);
  std::fprintf(stderr, "  training step CPU: 1 thread %.1f ms (serial %.2f ms); 2 threads serial %.2f ms\n", step1_ms,
               train1.serial_ms_per_step, train2.serial_ms_per_step);
  add("training_b1024_2t_projected", "DeepJet training, 2 threads, idle-machine est.", "jets/s",
      {1024 / (1e-3 * projected_ms), 1024 / (1e-3 * projected_ms)}, 3 * forward, both);

  // Single layers.
  {
    using DenseNet = deepjet::Sequential<deepjet::Input<265>, deepjet::Dense<200>>;
    using PointwiseNet = deepjet::Sequential<deepjet::Input<25, 16>, deepjet::Conv1D<64>>;
    using LstmNet = deepjet::Sequential<deepjet::Input<25, 8>, deepjet::LSTM<150, deepjet::backwards>>;
    using Conv3Net = deepjet::Sequential<deepjet::Input<100, 32>, deepjet::Conv1D<32, 3, 1, deepjet::same>>;
    const deepjet::Model<DenseNet> dense(1);
    const deepjet::Model<PointwiseNet> pointwise(1);
    const deepjet::Model<LstmNet> lstm(1);
    const deepjet::Model<Conv3Net> conv3(1);
    for (std::size_t batch : {1, 1024}) {
      const std::string b = std::to_string(batch);
      add("dense_265_200_b" + b, "Dense 265->200, batch " + b, "jets/s", inference_rate(dense, batch, 1),
          2.0 * 265 * 200, 1);
      add("conv1x1_16_64_x25_b" + b, "Conv1D 1x1 16->64 x25, batch " + b, "jets/s",
          inference_rate(pointwise, batch, 1), 2.0 * 25 * 16 * 64, 1);
      add("lstm_8_150_x25_b" + b, "LSTM 8->150 x25 (backwards), batch " + b, "jets/s", inference_rate(lstm, batch, 1),
          2.0 * 4 * 150 * (8 + 150) * 25, 1);
      add("conv3_32_32_x100_b" + b, "Conv1D k=3 32->32 x100 (same), batch " + b, "jets/s",
          inference_rate(conv3, batch, 1), 2.0 * 100 * 3 * 32 * 32, 1);
    }
  }
  const std::string load_after = load_average();

  // Table.
  auto peak_for = [&](const Figure& f, bool cpu) {
    const Rate& p = has_avx512 ? (f.threads > 1 ? peak512_2 : peak512) : (f.threads > 1 ? peak2_2 : peak2);
    return cpu ? p.cpu : p.wall;
  };
  std::printf("deepjet benchmarks: kernels for %s (%s), %u cores; load average %s before, %s after\n",
              xsimd::default_arch::name(), DEEPJET_BENCHMARK_FLAGS, cores, load_before.c_str(), load_after.c_str());
  std::printf("Shared machine: figures are the best of %d repetitions; 'cpu' = per second of the working threads'\n"
              "CPU time, 'wall' = per wall-clock second. FLOPs: 2 per multiply-add of the matrix products.\n",
              repetitions());
  std::printf("DeepJet forward: %.3f MFLOP/jet; training counted as 3x = %.3f MFLOP/jet\n", forward * 1e-6,
              3 * forward * 1e-6);
  for (const auto& p : deepjet_products())
    std::printf("  %-36s %9.0f multiply-adds/jet (%4.1f %%)\n", p.what, p.multiply_adds,
                100 * 2 * p.multiply_adds / forward);
  std::printf("\n%-46s %14s %14s %9s %13s\n", "figure", "cpu", "wall", "unit", has_avx512 ? "of AVX-512 pk" : "of AVX2 pk");
  for (const auto& f : figures) {
    std::string fraction = "";
    if (f.flops_per_unit > 0) {
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, "%.1f %%", 100 * f.value.cpu * f.flops_per_unit * 1e-9 / peak_for(f, true));
      fraction = buffer;
    }
    std::printf("%-46s %14.1f %14.1f %9s %13s\n", f.label.c_str(), f.value.cpu, f.value.wall, f.unit.c_str(),
                fraction.c_str());
  }

  // JSON.
  std::ofstream json(json_path);
  json << "{\n \"arch\": \"" << xsimd::default_arch::name() << "\",\n \"flags\": \"" << DEEPJET_BENCHMARK_FLAGS << "\",\n"
       << " \"peak\": \"" << peak_name << "\",\n \"cores\": " << cores << ",\n \"load_before\": \"" << load_before << "\",\n \"load_after\": \"" << load_after
       << "\",\n \"repetitions\": " << repetitions() << ",\n \"deepjet_forward_flops_per_jet\": " << forward
       << ",\n \"flop_breakdown\": {";
  bool first = true;
  for (const auto& p : deepjet_products()) {
    json << (first ? "\n" : ",\n") << "  \"" << json_escape(p.what) << "\": " << 2 * p.multiply_adds;
    first = false;
  }
  json << "\n },\n \"figures\": {";
  first = true;
  for (const auto& f : figures) {
    json << (first ? "\n" : ",\n") << "  \"" << f.key << "\": {\"label\": \"" << json_escape(f.label) << "\", \"unit\": \""
         << f.unit << "\", \"cpu\": " << f.value.cpu << ", \"wall\": " << f.value.wall << ", \"threads\": " << f.threads
         << ", \"flops_per_unit\": " << f.flops_per_unit;
    if (f.flops_per_unit > 0)
      json << ", \"fraction_of_peak_cpu\": " << f.value.cpu * f.flops_per_unit * 1e-9 / peak_for(f, true)
           << ", \"fraction_of_peak_wall\": " << f.value.wall * f.flops_per_unit * 1e-9 / peak_for(f, false);
    json << "}";
    first = false;
  }
  json << "\n }\n}\n";
  if (!json) {
    std::fprintf(stderr, "deepjet_benchmarks: cannot write %s\n", json_path.c_str());
    return 1;
  }
  std::fprintf(stderr, "deepjet_benchmarks: wrote %s\n", json_path.c_str());
  return 0;
}
