// Speed of the example-jet generator: generation alone (in memory), and generation plus writing
// an HDF5 source table or a ROOT file, uncompressed and deflated (zlib level 1). Prints jets/s and MB/s per wall-clock
// second and per CPU second of this process (the one-core rate, whatever else the machine runs),
// and the peak resident memory, which stays at a chunk's worth whatever the number of jets.
// Usage: example_jets_benchmark [JETS] [OUTPUT_DIRECTORY]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>

#include <sys/resource.h>
#include <unistd.h>

#include "deepjet/example_data/deepjet_jets.hpp"

namespace {

namespace dj = deepjet::data;
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

std::size_t chunk_bytes(const dj::ExampleJetsChunk& chunk) {
  std::size_t bytes = 0;
  for (const auto& c : chunk.truth) bytes += c.size() * sizeof(std::int32_t);
  for (const auto& c : chunk.global) bytes += c.size() * sizeof(float);
  for (const auto& c : chunk.charged) bytes += c.size() * sizeof(float);
  for (const auto& c : chunk.neutral) bytes += c.size() * sizeof(float);
  for (const auto& c : chunk.sv) bytes += c.size() * sizeof(float);
  bytes += (chunk.charged_counts.size() + chunk.neutral_counts.size() + chunk.sv_counts.size()) * sizeof(std::int64_t);
  return bytes;
}

void print(const char* label, std::uint64_t jets, double megabytes, const Timing& t) {
  std::printf("%-30s %9.0f jets/s %7.1f MB/s   (per CPU second: %9.0f jets/s %7.1f MB/s)\n", label,
              static_cast<double>(jets) / t.wall, megabytes / t.wall, static_cast<double>(jets) / t.cpu,
              megabytes / t.cpu);
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t jets = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  const std::filesystem::path directory = argc > 2 ? argv[2] : std::filesystem::temp_directory_path();
  dj::ExampleJetsOptions options;
  options.jets = jets;
  std::printf("example jets: %llu jets, chunks of %zu\n", static_cast<unsigned long long>(jets), options.chunk_jets);

  // Generation alone: the arrays a chunk holds.
  dj::ExampleJetsGenerator generator(options);
  dj::ExampleJetsChunk chunk;
  std::size_t bytes = 0;
  const Timing generation = measure([&] {
    for (std::uint64_t first = 0; first < jets; first += options.chunk_jets) {
      const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(options.chunk_jets, jets - first));
      generator.generate(first, count, chunk);
      bytes += chunk_bytes(chunk);
    }
  });
  print("generate (in memory)", jets, static_cast<double>(bytes) / 1e6, generation);

  // Generation and writing, HDF5 source tables and ROOT files (as the ntupler's); MB/s counts the
  // file's bytes.
  for (const char* extension : {".h5", ".root"}) {
    for (int level : {0, 1}) {
      options.compression_level = level;
      const auto path = directory / ("deepjet-example-jets-benchmark-" + std::to_string(::getpid()) + extension);
      const Timing writing = measure([&] { dj::generate_example_jets(path, options); });
      const double megabytes = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
      std::filesystem::remove(path);
      std::string label = "generate + write ";  // appended: GCC 12 warns falsely on concatenated temporaries
      label += extension + 1;
      label += ", deflate ";
      label += std::to_string(level);
      print(label.c_str(), jets, megabytes, writing);
      std::printf("%-30s %9.1f MB file, %.0f bytes/jet\n", "", megabytes, megabytes * 1e6 / static_cast<double>(jets));
    }
  }
  // Bounded memory: one chunk at a time, whatever the number of jets.
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  std::printf("peak resident memory of this process: %.1f MB\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}
