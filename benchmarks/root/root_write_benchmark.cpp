// Throughput of the native ROOT writer against the limit set by compression alone.
//
// The example jets (data/example_jets.hpp: 12 int32 truth flags, 15 float globals, 34 candidate
// features as std::vector<float>, the branches the quick-start's ntuples hold) are generated into
// memory once; then, for each compression setting, it times
//   writer: FileWriter + TreeWriter writing every branch in chunks of 4096 jets and close()
//           (serialization, basket framing, compression, the file writes and the final fsync);
//   limit:  compress_blocks_into() on the very same uncompressed basket records (taken back from an
//           uncompressed file the writer made), from memory; for "none", writing those bytes to a
//           file with one pwrite per basket and an fsync;
//   +write: the limit plus writing its output to a file (pwrite per basket, fsync): the work any
//           writer has to do;
// and prints MB/s of uncompressed basket bytes for each and the ratios writer/limit (target >= 70 %)
// and writer/(limit + write).
// Times are the process's CPU time (user + system, the best of several runs): on a machine shared
// with other jobs, wall-clock rates measure the neighbours more than the writer. The wall-clock
// rates (which add waiting for the disk in fsync) are printed beside them.
// Usage: root_write_benchmark [JETS] [--directory DIR] [--only SETTING] (default 50000 jets, files
// in /tmp, every setting; --only "lz4 1" runs one, e.g. under a profiler)
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "deepjet/data/example_jets.hpp"
#include "deepjet/io/root.hpp"
#include "deepjet/io/root_writer.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace root = deepjet::root;
namespace data = deepjet::data;

double cpu_seconds() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

struct Timing {
  double cpu = 1e30;   // best CPU time of a run
  double wall = 1e30;  // best wall-clock time of a run
};

/// Best times of repeated runs of `work`, repeating for at least `budget` seconds (3 runs minimum).
Timing best_seconds(const std::function<void()>& work, double budget = 1.0) {
  Timing best;
  const auto start = Clock::now();
  int runs = 0;
  while (runs < 3 || std::chrono::duration<double>(Clock::now() - start).count() < budget) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    work();
    best.cpu = std::min(best.cpu, cpu_seconds() - c0);
    best.wall = std::min(best.wall, std::chrono::duration<double>(Clock::now() - t0).count());
    ++runs;
  }
  return best;
}

/// Every generated jet, column by column, as the writer takes them.
struct Jets {
  std::size_t count = 0;
  std::vector<std::vector<std::int32_t>> truth;
  std::vector<std::vector<float>> global;
  struct Group {
    std::vector<std::vector<float>> columns;
    std::vector<std::int64_t> offsets{0};
    const char* const* names = nullptr;
  };
  Group charged, neutral, sv;
};

Jets generate(std::size_t count) {
  data::ExampleJetsOptions options;
  options.jets = count;
  data::ExampleJetsGenerator generator(options);
  data::ExampleJetsChunk chunk;
  generator.generate(0, count, chunk);
  Jets jets;
  jets.count = count;
  jets.truth.assign(chunk.truth.begin(), chunk.truth.end());
  jets.global.assign(chunk.global.begin(), chunk.global.end());
  const auto group = [](Jets::Group& out, auto& columns, const std::vector<std::int64_t>& counts, const char* const* names) {
    out.columns.assign(columns.begin(), columns.end());
    for (std::int64_t n : counts) out.offsets.push_back(out.offsets.back() + n);
    out.names = names;
  };
  group(jets.charged, chunk.charged, chunk.charged_counts, data::example_jets_charged_branches.data());
  group(jets.neutral, chunk.neutral, chunk.neutral_counts, data::example_jets_neutral_branches.data());
  group(jets.sv, chunk.sv, chunk.sv_counts, data::example_jets_sv_branches.data());
  return jets;
}

/// Writes the jets as the quick-start's ntuples hold them, 4096 jets at a time.
void write_jets(const std::filesystem::path& path, const Jets& jets, const root::CompressionSettings& compression) {
  root::WriteOptions options;
  options.compression = compression;
  root::FileWriter file(path, options);
  root::TreeWriter& tree = file.make_tree(data::example_jets_table);
  for (const char* name : data::example_jets_truth_branches) tree.add_branch<std::int32_t>(name);
  for (const char* name : data::example_jets_global_branches) tree.add_branch<float>(name);
  for (const Jets::Group* group : {&jets.charged, &jets.neutral, &jets.sv}) {
    for (std::size_t k = 0; k < group->columns.size(); ++k) tree.add_vector_branch<float>(group->names[k]);
  }
  constexpr std::size_t chunk = 4096;
  std::vector<std::int64_t> offsets;
  for (std::size_t first = 0; first < jets.count; first += chunk) {
    const std::size_t n = std::min(chunk, jets.count - first);
    for (std::size_t k = 0; k < jets.truth.size(); ++k) {
      tree.write<std::int32_t>(data::example_jets_truth_branches[k], std::span<const std::int32_t>(jets.truth[k].data() + first, n));
    }
    for (std::size_t k = 0; k < jets.global.size(); ++k) {
      tree.write<float>(data::example_jets_global_branches[k], std::span<const float>(jets.global[k].data() + first, n));
    }
    for (const Jets::Group* group : {&jets.charged, &jets.neutral, &jets.sv}) {
      offsets.assign(group->offsets.begin() + static_cast<std::ptrdiff_t>(first),
                     group->offsets.begin() + static_cast<std::ptrdiff_t>(first + n) + 1);
      for (std::size_t k = 0; k < group->columns.size(); ++k) {
        tree.write_jagged<float>(group->names[k], std::span<const float>(group->columns[k]), offsets);
      }
    }
  }
  file.close();
}

/// The uncompressed basket records of a file written without compression.
std::vector<std::vector<std::uint8_t>> basket_records(const std::filesystem::path& path) {
  const root::File file(path.string());
  const root::Tree tree = file.tree(data::example_jets_table);
  const auto source = root::FileSource::open(path.string());
  std::vector<std::vector<std::uint8_t>> records;
  for (const auto& branch : tree.description().branches) {
    for (const auto& location : branch.baskets) {
      const root::RawBasket raw = root::read_raw_basket(*source, location, branch.name);
      root::ByteCursor cursor(raw.bytes.data(), raw.bytes.size(), path.string());
      const root::Key key = root::parse_key(cursor);
      if (key.compressed()) throw deepjet::Error("expected an uncompressed basket");
      records.emplace_back(raw.bytes.begin() + key.key_bytes, raw.bytes.end());
    }
  }
  return records;
}

struct Setting {
  const char* label;
  root::CompressionSettings compression;
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 50000;
  std::filesystem::path directory = std::filesystem::temp_directory_path();
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--directory") == 0 && i + 1 < argc) {
      directory = argv[++i];
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      count = static_cast<std::size_t>(std::atoll(argv[i]));
    }
  }
  const Jets jets = generate(count);
  const std::filesystem::path path = directory / ("deepjet-root-write-benchmark-" + std::to_string(::getpid()) + ".root");
  write_jets(path, jets, root::CompressionSettings::none());
  const std::vector<std::vector<std::uint8_t>> records = basket_records(path);
  std::size_t record_bytes = 0;
  std::size_t largest = 0;
  for (const auto& record : records) {
    record_bytes += record.size();
    largest = std::max(largest, record.size());
  }
  const double mb = static_cast<double>(record_bytes) / 1e6;
  std::printf("%zu jets, %zu branches, %zu baskets, %.1f MB of uncompressed basket records\n", count,
              std::size_t(12 + 15 + 16 + 6 + 12), records.size(), mb);
  std::printf("%-8s %7s %11s %11s %7s %13s %7s  %9s %9s\n", "setting", "file MB", "writer MB/s", "limit MB/s",
              "ratio", "+write MB/s", "ratio", "wall wr.", "wall lim.");
  const std::vector<Setting> settings{
      {"none", root::CompressionSettings::none()},      {"zlib 1", root::CompressionSettings::zlib(1)},
      {"zlib 4", root::CompressionSettings::zlib(4)},   {"lz4 1", root::CompressionSettings::lz4(1)},
      {"lz4 4", root::CompressionSettings::lz4(4)},     {"zstd 5", root::CompressionSettings::zstd(5)},
      {"lzma 1", root::CompressionSettings::lzma(1)},
  };
  const std::filesystem::path raw = path.string() + ".raw";
  for (const Setting& setting : settings) {
    if (!only.empty() && only != setting.label) continue;
    // Limit 1: compressing the records from memory (for "none": nothing to do, so the file write).
    // Limit 2: compressing them and writing the result to a file (one pwrite per basket, fsync),
    // the work no writer can avoid.
    std::vector<std::uint8_t> compressed;  // reused, as the writer reuses its buffer
    const auto compress_all = [&](int fd) {
      std::size_t offset = 0;
      for (const auto& record : records) {
        const bool shrunk = root::compress_blocks_into(record.data(), record.size(), setting.compression, compressed);
        const std::vector<std::uint8_t>& stored = shrunk ? compressed : record;
        if (fd >= 0) {
          if (::pwrite(fd, stored.data(), stored.size(), static_cast<off_t>(offset)) != static_cast<ssize_t>(stored.size())) {
            std::abort();
          }
          offset += stored.size();
        }
      }
    };
    const auto compress_and_write = [&] {
      const int fd = ::open(raw.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      compress_all(fd);
      ::fsync(fd);
      ::close(fd);
    };
    const Timing limit = setting.compression.enabled() ? best_seconds([&] { compress_all(-1); }) : best_seconds(compress_and_write);
    const Timing limit_written = best_seconds(compress_and_write);
    const Timing writer = best_seconds([&] { write_jets(path, jets, setting.compression); });
    const double file_mb = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
    std::printf("%-8s %7.1f %11.1f %11.1f %6.0f%% %13.1f %6.0f%%  %9.1f %9.1f\n", setting.label, file_mb,
                mb / writer.cpu, mb / limit.cpu, 100.0 * limit.cpu / writer.cpu, mb / limit_written.cpu,
                100.0 * limit_written.cpu / writer.cpu, mb / writer.wall, mb / limit.wall);
    std::fflush(stdout);
  }
  std::filesystem::remove(raw);
  std::filesystem::remove(path);
  return 0;
}
