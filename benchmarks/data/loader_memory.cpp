// loader_memory: resident memory of the streaming loader against the size of the dataset.
//
//   loader_memory [jets per file]   (default 20000)
//
// Converts example jets with the DeepJet data format into a collection of 4 files, then, each in a
// fresh child process (so peaks do not carry over), streams one epoch of batch 1024 over the first
// file and over all four, and prints the peak resident memory of each. The loader holds one chunk,
// one read-ahead chunk and one batch, so the two peaks should be about equal although the second
// dataset is four times larger (and both several times larger than a chunk).
#include "deepjet_data.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

using Data = deepjet::zoo::DeepJetData;

long peak_resident_kb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// In a child process: one epoch over the first `files` files; writes the peak to the pipe.
long measure(const std::filesystem::path& directory, std::size_t files) {
  int channel[2];
  if (::pipe(channel) != 0) return -1;
  const pid_t child = ::fork();
  if (child == 0) {
    const auto collection = deepjet::data::Collection<Data>::load(directory / "collection.h5");
    auto split = deepjet::data::split_by_file(collection, directory, 0.0);
    split.train.resize(files);
    deepjet::data::Loader<Data> loader(split.train, {.batch_size = 1024, .seed = 1, .chunk_jets = 4096});
    const long before = peak_resident_kb();
    loader.start_epoch(0);
    deepjet::data::JetBatch<Data> batch;
    std::uint64_t jets = 0;
    while (loader.next(batch)) jets += batch.truth.shape()[0];
    const long result[3] = {before, peak_resident_kb(), static_cast<long>(jets)};
    if (::write(channel[1], result, sizeof result) != static_cast<ssize_t>(sizeof result)) std::_Exit(1);
    std::_Exit(0);
  }
  long result[3] = {-1, -1, 0};
  if (::read(channel[0], result, sizeof result) != static_cast<ssize_t>(sizeof result)) return -1;
  ::waitpid(child, nullptr, 0);
  std::printf("  %zu file(s), %ld jets: peak resident memory %.1f MB (%.1f MB before the epoch)\n", files, result[2],
              static_cast<double>(result[1]) / 1024.0, static_cast<double>(result[0]) / 1024.0);
  return result[1];
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t jets = argc > 1 ? std::stoull(argv[1]) : 20000;
  const auto directory = std::filesystem::temp_directory_path() / ("deepjet-loader-memory-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  std::vector<std::string> sources;
  for (int i = 0; i < 4; ++i) {
    sources.push_back((directory / ("jets" + std::to_string(i) + ".h5")).string());
    deepjet::data::generate_example_jets(sources.back(), {.jets = jets, .seed = static_cast<std::uint64_t>(i + 1)});
  }
  deepjet::data::convert_sources<Data>(sources, "deepntuplizer/tree", directory, {.progress = false});
  const double jet_mb = static_cast<double>(Data::input_shape::size + Data::truth_shape::size) * 4.0 / 1e6;
  std::printf("loader memory (DeepJet format, %.1f kB per jet; chunk 4096 jets = %.1f MB, batch 1024):\n",
              jet_mb * 1e3, jet_mb * 4096);
  const long small = measure(directory, 1);
  const long large = measure(directory, 4);
  std::printf("  dataset x4 -> peak memory x%.2f\n", static_cast<double>(large) / static_cast<double>(small));
  std::filesystem::remove_all(directory);
}
