// Peak memory of one process serving DeepJet on several threads (issue 17): one deepjet::Predictor
// shared read-only by THREADS threads, each with its own Workspace, input and output, each calling
// predict() on batches of BATCH jets for SECONDS seconds. Prints one JSON object on stdout:
//
//   serving_memory THREADS BATCH [SECONDS]
//   {"engine": "deepjet", "threads": 8, "batch": 1, "baseline_rss_mb": ..., "model_rss_mb": ...,
//    "peak_rss_mb": ..., "calls": ...}
//
// baseline_rss_mb: the process's resident memory before the model exists (program, libraries);
// model_rss_mb: after the Predictor is built (the training-format Model it was packed from is
// gone by then, as in a server that loads a file); peak_rss_mb: the kernel's high-water mark of
// the process (VmHWM), after every thread has served. The figures that compare with another engine
// are peak - baseline (what serving adds) and peak itself. Weights are random (the memory does not
// depend on their values). benchmarks/suite/serving_memory.py runs this beside ONNX Runtime.
#include <deepjet/inference.hpp>
#include <deepjet/zoo/deepjet.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

// A field of /proc/self/status in MB (VmRSS: now, VmHWM: peak).
double status_mb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::strtod(line.c_str() + key.size(), nullptr) / 1024.0;
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: serving_memory THREADS BATCH [SECONDS]\n");
    return 2;
  }
  const std::size_t threads = std::strtoul(argv[1], nullptr, 10), batch = std::strtoul(argv[2], nullptr, 10);
  const double seconds = argc > 3 ? std::strtod(argv[3], nullptr) : 1.0;
  using Net = deepjet::zoo::DeepJet;
  using In = Net::input_shape;
  using Out = Net::output_shape;
  const double baseline = status_mb("VmRSS");

  std::unique_ptr<const deepjet::Predictor<Net>> predictor;
  {
    const deepjet::Model<Net> model(/*seed=*/1);
    predictor = std::make_unique<const deepjet::Predictor<Net>>(model);
  }
  const double with_model = status_mb("VmRSS");

  std::atomic<long> calls{0};
  auto serve = [&](std::size_t t) {
    typename deepjet::Predictor<Net>::Workspace workspace;
    deepjet::AlignedFloats input(In::size * batch), output(Out::size * batch);
    deepjet::Random random(100 + t);
    for (float& x : input) x = random.uniform(-1.0f, 1.0f);
    const auto start = std::chrono::steady_clock::now();
    long n = 0;
    do {
      predictor->predict(deepjet::make_view<In>(static_cast<const float*>(input.data()), batch),
                         deepjet::make_view<Out>(output.data(), batch), workspace);
      ++n;
    } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds);
    calls += n;
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(serve, t);
  for (auto& th : pool) th.join();
  std::printf("{\"engine\": \"deepjet\", \"threads\": %zu, \"batch\": %zu, \"baseline_rss_mb\": %.1f, "
              "\"model_rss_mb\": %.1f, \"peak_rss_mb\": %.1f, \"calls\": %ld}\n",
              threads, batch, baseline, with_model, status_mb("VmHWM"), calls.load());
}
