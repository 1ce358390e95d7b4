// deepjet/data/convert.hpp: one source file -> one training file.
//
// convert_file<Format>(source, table, output, normalisation, options) streams the source in chunks
// of options.chunk_jets jets (memory stays bounded whatever the file's size), prepares every block
// (data/prepare.hpp) with the given normalisation, builds the truth, drops jets that belong to no
// class (unless told not to), and writes a training file (data/training_file.hpp) that appears
// under its name only when complete. The report counts what was replaced, cut and dropped.
// Errors are deepjet::FileError naming the source (a missing branch, a NaN with
// NonFinite::reject, ...) or the output (a full disk); nothing is left under the output's name.
#pragma once

#include "deepjet/data/training_file.hpp"

#include <zlib.h>

#include <chrono>
#include <fstream>

namespace deepjet::data {

struct ConvertOptions {
  std::uint64_t chunk_jets = 10000;
  PrepareOptions prepare;
  /// Keep jets whose truth row is all zero (no class): off, as the original framework.
  bool keep_unlabelled = false;
  int deflate_level = 4;
};

struct ConversionReport {
  std::string source;
  std::string output;
  std::uint64_t source_entries = 0;
  std::uint64_t jets = 0;
  std::uint64_t dropped_unlabelled = 0;
  PrepareCounts counts;
  double seconds = 0;
};

/// CRC-32 of a whole file (provenance of a training file), read in 1 MB blocks.
inline std::uint32_t file_crc32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot open to compute its checksum");
  std::vector<char> buffer(1 << 20);
  uLong crc = crc32(0L, Z_NULL, 0);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = in.gcount();
    if (n > 0) crc = crc32(crc, reinterpret_cast<const Bytef*>(buffer.data()), static_cast<uInt>(n));
  }
  return static_cast<std::uint32_t>(crc);
}

template <class Format>
ConversionReport convert_file(const std::string& source_path, const std::string& table,
                              const std::filesystem::path& output, const Normalisation<Format>& normalisation,
                              const ConvertOptions& options = {}) {
  const auto start = std::chrono::steady_clock::now();
  const auto source = open_source(source_path, table);
  ConversionReport report{source_path, output.string(), source->entries()};
  TrainingFileWriter<Format> writer(output, 1024, options.deflate_level);
  constexpr std::size_t C = Format::truth_shape::size;
  constexpr std::size_t S = Format::spectators::branches.size();
  std::array<std::vector<float>, Format::block_count> inputs;
  std::vector<float> truth, spectators;
  for (std::uint64_t first = 0; first < report.source_entries; first += options.chunk_jets) {
    const std::uint64_t last = std::min(report.source_entries, first + options.chunk_jets);
    const std::size_t n = static_cast<std::size_t>(last - first);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((inputs[I].resize(n * shape_of<std::tuple_element_t<I, typename Format::blocks>>::size),
        read_block<std::tuple_element_t<I, typename Format::blocks>>(*source, first, last, normalisation.blocks[I],
                                                                     inputs[I], options.prepare, report.counts)),
       ...);
    }(std::make_index_sequence<Format::block_count>{});
    truth.resize(n * C);
    read_truth<typename Format::truth>(*source, first, last, truth);
    spectators.resize(n * S);
    read_spectators<typename Format::spectators>(*source, first, last, spectators);

    // Keep labelled jets: compact every array in place.
    std::size_t kept = 0;
    for (std::size_t j = 0; j < n; ++j) {
      bool labelled = false;
      for (std::size_t c = 0; c < C; ++c) labelled = labelled || truth[j * C + c] != 0.0f;
      if (!labelled && !options.keep_unlabelled) {
        ++report.dropped_unlabelled;
        continue;
      }
      if (kept != j) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
          (([&] {
             constexpr std::size_t size = shape_of<std::tuple_element_t<I, typename Format::blocks>>::size;
             std::copy_n(inputs[I].begin() + static_cast<std::ptrdiff_t>(j * size), size,
                         inputs[I].begin() + static_cast<std::ptrdiff_t>(kept * size));
           }()),
           ...);
        }(std::make_index_sequence<Format::block_count>{});
        std::copy_n(truth.begin() + static_cast<std::ptrdiff_t>(j * C), C, truth.begin() + static_cast<std::ptrdiff_t>(kept * C));
        std::copy_n(spectators.begin() + static_cast<std::ptrdiff_t>(j * S), S,
                    spectators.begin() + static_cast<std::ptrdiff_t>(kept * S));
      }
      ++kept;
    }
    writer.append(kept, inputs, truth, spectators);
    report.jets += kept;
  }
  writer.finish(normalisation, {source_path, file_crc32(source_path), report.source_entries, report.jets,
                                report.dropped_unlabelled, report.counts});
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace deepjet::data
