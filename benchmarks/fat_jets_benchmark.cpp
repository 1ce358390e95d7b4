// Speed of the example fat-jet generator (include/deepjet/example_data/fat_jets.hpp): generation
// alone (in memory), and generation plus writing the ROOT ntuple (uncompressed, the default).
// Prints jets/s per wall-clock second and per CPU second of this process (the one-core rate,
// whatever else the machine runs), and per class the mean candidate and vertex counts and the
// soft-drop mass and tau21 / tau32 medians, so the physics can be checked at a glance.
// Usage: fat_jets_benchmark [JETS] [OUTPUT_DIRECTORY]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "deepjet/example_data/fat_jets.hpp"

namespace {

namespace ex = deepjet::example_data;
using Clock = std::chrono::steady_clock;

struct Timing {
  double wall = 0, cpu = 0;
};

template <class Work>
Timing measure(Work&& work) {
  const auto wall_start = Clock::now();
  const std::clock_t cpu_start = std::clock();
  work();
  return {std::chrono::duration<double>(Clock::now() - wall_start).count(),
          static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC};
}

double median(std::vector<float> values) {
  if (values.empty()) return 0;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t jets = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 50000;
  const std::filesystem::path directory = argc > 2 ? argv[2] : std::filesystem::temp_directory_path();
  ex::FatJetOptions options;
  options.jets = jets;

  // Generation alone, and the per-class summary from the same jets.
  ex::FatJetGenerator generator(options);
  ex::FatJetsChunk chunk;
  std::array<std::vector<float>, 17> sdmass, tau21, tau32;
  std::array<double, 17> candidates{}, vertices{}, count{};
  const Timing generation = measure([&] {
    for (std::uint64_t first = 0; first < jets; first += options.chunk_jets) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(options.chunk_jets, jets - first));
      generator.generate(first, n, chunk);
      for (std::size_t j = 0; j < n; ++j) {
        std::size_t label = 0;
        while (label < 17 && chunk.labels[label][j] == 0) ++label;
        sdmass[label].push_back(chunk.jet[3][j]);
        tau21[label].push_back(chunk.jet[7][j]);
        tau32[label].push_back(chunk.jet[8][j]);
        candidates[label] += chunk.jet[10][j];
        vertices[label] += chunk.jet[11][j];
        count[label] += 1;
      }
    }
  });
  std::printf("generation only: %llu jets in %.2f s wall, %.2f s CPU: %.0f jets/s per CPU second\n",
              static_cast<unsigned long long>(jets), generation.wall, generation.cpu, jets / generation.cpu);

  const auto path = directory / "fat_jets_benchmark.root";
  const Timing writing = measure([&] { ex::generate_fat_jets(path, options); });
  const double megabytes = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
  std::printf("generation + ROOT file (uncompressed): %.2f s wall, %.2f s CPU: %.0f jets/s per CPU second, %.1f MB (%.1f kB/jet)\n",
              writing.wall, writing.cpu, jets / writing.cpu, megabytes, megabytes * 1e3 / static_cast<double>(jets));
  std::filesystem::remove(path);

  std::printf("%-18s %7s %8s %6s %10s %8s %8s\n", "class", "jets", "<ncand>", "<nsv>", "sdmass_med", "tau21", "tau32");
  for (std::size_t k = 0; k < 17; ++k) {
    if (count[k] == 0) continue;
    std::printf("%-18s %7.0f %8.1f %6.2f %10.1f %8.3f %8.3f\n", ex::fat_jets_label_branches[k] + 6, count[k],
                candidates[k] / count[k], vertices[k] / count[k], median(sdmass[k]), median(tau21[k]), median(tau32[k]));
  }
  return 0;
}
