// deepjet/data/convert.hpp: one source file -> one training file.
//
// convert_file<Format>(source, table, output, normalisation, options) streams the source in chunks
// of options.chunk_jets jets (memory stays bounded whatever the file's size), prepares every block
// (data/prepare.hpp) with the given normalisation, builds the truth, drops jets that belong to no
// class (unless told not to), and writes a training file (data/training_file.hpp) that appears
// under its name only when complete. The report counts what was replaced, cut and dropped.
// Errors are deepjet::FileError naming the source (a missing branch, a NaN with
// NonFinite::reject, ...) or the output (a full disk); nothing is left under the output's name.
//
// convert_sources<Format>(sources, table, directory, options) converts a whole dataset: it measures
// the normalisation on the sources (or keeps the collection's), converts the sources on
// options.threads threads, one training file each, and saves <directory>/collection.h5 after every
// finished file. A source that fails is recorded with its reason and the others go on. Run again
// on the same directory (after an interruption, even kill -9), it skips the sources already
// converted, removes the temporaries the interrupted run left, and retries the failed ones.
//
// Many processes (docs/distributed.md):
//   - With options.communicator (an MPI job: mpirun -n R), rank 0 prepares the collection (the
//     normalisation, once), the sources still to convert are dealt round-robin to the ranks, each
//     converts its share with its threads, and rank 0 alone writes the collection, once, when all
//     are done. A rerun after a killed job keeps the training files that were finished.
//   - Without MPI (batch systems): prepare_collection once, then convert_listed(directory, i) for
//     each source i as independent jobs (HTCondor, Slurm arrays: data/batch_jobs.hpp writes their
//     scripts), then gather_conversions(directory) records the finished training files and the
//     failures (<training file>.failed holds the reason) in the collection.
//   Either way the collection ends as one process's convert_sources would leave it: the same
//   files in source order, the same failure records.
#pragma once

#include "deepjet/core/communicator.hpp"

#include "deepjet/data/collection.hpp"
#include "deepjet/data/training_file.hpp"

#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

namespace deepjet::data {

struct ConvertOptions {
  std::uint64_t chunk_jets = 10000;
  PrepareOptions prepare{};
  /// Keep jets whose truth row is all zero (no class): off, as the original framework.
  bool keep_unlabelled = false;
  int deflate_level = 4;
};

/// What convert_file did: the provenance and counts it wrote into the training file, where it
/// wrote it, and how long it took.
struct ConversionReport : TrainingFileInfo {
  std::string output;
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

/// The same from an open source (a JetSource over an event-level tree, ...); its path() is the
/// provenance recorded in the training file.
template <class Format>
ConversionReport convert_file(const Source& source, const std::filesystem::path& output,
                              const Normalisation<Format>& normalisation, const ConvertOptions& options = {}) {
  const auto start = std::chrono::steady_clock::now();
  const std::string& source_path = source.path();
  ConversionReport report;
  report.source = source_path;
  report.output = output.string();
  report.source_entries = source.entries();
  TrainingFileWriter<Format> writer(output, 1024, options.deflate_level);
  constexpr std::size_t C = Format::truth_shape::size;
  constexpr std::size_t S = Format::spectators::branches.size();
  constexpr std::size_t T = Format::target_count;
  std::array<std::vector<float>, Format::block_count> inputs;
  std::vector<float> truth, spectators, targets;
  for (std::uint64_t first = 0; first < report.source_entries; first += options.chunk_jets) {
    const std::uint64_t last = std::min(report.source_entries, first + options.chunk_jets);
    const std::size_t n = static_cast<std::size_t>(last - first);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((inputs[I].resize(n * shape_of<std::tuple_element_t<I, typename Format::blocks>>::size),
        read_block<std::tuple_element_t<I, typename Format::blocks>>(source, first, last, normalisation.blocks[I],
                                                                     inputs[I], options.prepare, report.counts)),
       ...);
    }(std::make_index_sequence<Format::block_count>{});
    truth.resize(n * C);
    read_truth<typename Format::truth>(source, first, last, truth);
    spectators.resize(n * S);
    read_spectators<typename Format::spectators>(source, first, last, spectators);
    targets.resize(n * T);
    read_targets<typename Format::targets>(source, first, last, targets);

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
        std::copy_n(targets.begin() + static_cast<std::ptrdiff_t>(j * T), T,
                    targets.begin() + static_cast<std::ptrdiff_t>(kept * T));
      }
      ++kept;
    }
    writer.append(kept, inputs, truth, spectators, targets);
    report.jets += kept;
  }
  report.source_crc32 = file_crc32(source_path);
  writer.finish(normalisation, report);  // its TrainingFileInfo part
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

template <class Format>
ConversionReport convert_file(const std::string& source_path, const std::string& table,
                              const std::filesystem::path& output, const Normalisation<Format>& normalisation,
                              const ConvertOptions& options = {}) {
  return convert_file<Format>(*open_source(source_path, table), output, normalisation, options);
}

struct ConvertSourcesOptions {
  unsigned threads = 2;
  /// Jets of the sources (in order) the normalisation is measured on.
  std::uint64_t normalisation_jets = 500000;
  ConvertOptions convert{};
  /// Progress on standard error: a line updated in place on a terminal, a line per file otherwise.
  bool progress = true;
  /// How sources are opened (open_source if empty): a JetSource for NanoAOD events, for example.
  SourceOpener opener{};
  /// Convert as one rank of a group (an MPI job); nullptr: this process alone. Not owned.
  Communicator* communicator = nullptr;
};

struct ConvertSourcesReport {
  std::size_t converted = 0;  ///< converted by this run
  std::size_t skipped = 0;    ///< already converted by an earlier run
  std::size_t failed = 0;
  std::uint64_t jets = 0;     ///< in the whole collection
  double seconds = 0;
};

/// Reports files done, jets per second and the estimated time left.
class ConversionProgress {
 public:
  ConversionProgress(std::size_t files, bool enabled)
      : files_(files), enabled_(enabled), terminal_(::isatty(STDERR_FILENO) == 1),
        start_(std::chrono::steady_clock::now()) {}

  void file_done(const std::string& name, std::uint64_t jets, bool ok, const std::string& problem = "") {
    std::lock_guard lock(mutex_);
    ++done_;
    jets_ += jets;
    if (!enabled_) return;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(jets_) / seconds : 0.0;
    const double left = done_ > 0 ? seconds / static_cast<double>(done_) * static_cast<double>(files_ - done_) : 0.0;
    char line[256];
    std::snprintf(line, sizeof line, "[%zu/%zu files] %llu jets, %.0f jets/s, ETA %d:%02d", done_, files_,
                  static_cast<unsigned long long>(jets_), rate, static_cast<int>(left) / 60, static_cast<int>(left) % 60);
    if (!ok) std::fprintf(stderr, "%sfailed: %s: %s\n", terminal_ ? "\r\033[K" : "", name.c_str(), problem.c_str());
    if (terminal_) std::fprintf(stderr, "\r\033[K%s%s", line, done_ == files_ ? "\n" : "");
    else std::fprintf(stderr, "%s (%s)\n", line, name.c_str());
    std::fflush(stderr);
  }

 private:
  std::mutex mutex_;
  std::size_t files_, done_ = 0;
  std::uint64_t jets_ = 0;
  bool enabled_, terminal_;
  std::chrono::steady_clock::time_point start_;
};

/// The training file of source number `index` (in the collection's source list), in the
/// collection's directory.
inline std::string training_file_name(const std::string& source, std::size_t index) {
  return std::filesystem::path(source).stem().string() + "_" + std::to_string(index) + ".h5";
}

/// Where a conversion that failed outside the collection's process leaves its reason.
inline std::filesystem::path failure_record(const std::filesystem::path& training_file) {
  return training_file.string() + ".failed";
}

/// The collection of a conversion in `directory`, made or completed: temporaries of an interrupted
/// run removed, the normalisation measured on the sources (first run) or kept, new sources added
/// to its list. Saved before it returns.
template <class Format>
Collection<Format> prepare_collection(const std::vector<std::string>& sources, const std::string& table,
                                      const std::filesystem::path& directory, const ConvertSourcesOptions& options = {}) {
  namespace fs = std::filesystem;
  fs::create_directories(directory);
  const fs::path collection_path = directory / "collection.h5";
  // Temporaries of an interrupted run (AtomicFile names them "<name>.tmp-<pid>-<n>").
  for (const auto& entry : fs::directory_iterator(directory))
    if (entry.path().filename().string().find(".tmp-") != std::string::npos) fs::remove(entry.path());

  Collection<Format> collection;
  if (fs::exists(collection_path)) {
    collection = Collection<Format>::load(collection_path);
    if (collection.table != table)
      throw FileError(collection_path.string(), "was made from table '" + collection.table + "', not '" + table + "'");
    // A converted file that has gone missing is converted again.
    std::erase_if(collection.files, [&](const auto& f) { return !fs::exists(directory / f.training_file); });
    for (const auto& s : sources)
      if (std::find(collection.sources.begin(), collection.sources.end(), s) == collection.sources.end())
        collection.sources.push_back(s);
  } else {
    collection.table = table;
    collection.sources = sources;
    std::vector<std::pair<std::string, std::string>> unreadable;
    collection.normalisation =
        measure_normalisation<Format>(sources, table, options.normalisation_jets, 20000, &unreadable, options.opener);
    for (const auto& [source, reason] : unreadable) collection.failures.push_back({source, reason});
  }
  collection.save(collection_path);
  return collection;
}

namespace detail {
// Keep the file list in source order, whatever order the conversions finished in.
template <class Format>
void sort_files(Collection<Format>& collection) {
  std::stable_sort(collection.files.begin(), collection.files.end(), [&](const auto& a, const auto& b) {
    const auto position = [&](const std::string& s) {
      return std::find(collection.sources.begin(), collection.sources.end(), s) - collection.sources.begin();
    };
    return position(a.source) < position(b.source);
  });
}
}  // namespace detail

/// One job of a conversion split into jobs: source number `index` of the collection in
/// `directory` (made by prepare_collection) into its training file. The collection is only read.
/// A failure leaves <training file>.failed with the reason, then is rethrown.
template <class Format>
ConversionReport convert_listed(const std::filesystem::path& directory, std::size_t index, const ConvertSourcesOptions& options = {}) {
  const auto collection = Collection<Format>::load(directory / "collection.h5");
  if (index >= collection.sources.size())
    throw FileError((directory / "collection.h5").string(), "lists " + std::to_string(collection.sources.size()) +
                                                                " sources; there is no source number " + std::to_string(index));
  const std::string& source = collection.sources[index];
  const auto output = directory / training_file_name(source, index);
  std::filesystem::remove(failure_record(output));
  try {
    const auto opened = options.opener ? options.opener(source, collection.table) : open_source(source, collection.table);
    return convert_file<Format>(*opened, output, collection.normalisation, options.convert);
  } catch (const std::exception& e) {
    write_text_file(failure_record(output), e.what());
    throw;
  }
}

/// Record in the collection of `directory` what convert_listed jobs left for the sources it does
/// not list yet: each finished training file (made with the collection's normalisation), each
/// failure (its reason; the record file is then removed). Saves the collection once.
/// converted counts the files recorded now, failed the failures, skipped the sources listed before.
template <class Format>
ConvertSourcesReport gather_conversions(const std::filesystem::path& directory) {
  namespace fs = std::filesystem;
  const auto start = std::chrono::steady_clock::now();
  const fs::path collection_path = directory / "collection.h5";
  auto collection = Collection<Format>::load(collection_path);
  const std::string normalisation = collection.normalisation.to_text();
  ConvertSourcesReport report;
  for (std::size_t i = 0; i < collection.sources.size(); ++i) {
    const std::string& source = collection.sources[i];
    if (collection.find(source)) {
      ++report.skipped;
      continue;
    }
    const std::string name = training_file_name(source, i);
    const fs::path file = directory / name, failed = failure_record(file);
    if (fs::exists(file)) {
      const TrainingFile<Format> training(file);  // checks that it is a complete training file of this format
      if (training.file().read_string_attribute("source") != source)
        throw FileError(file.string(), "was converted from '" + training.file().read_string_attribute("source") +
                                           "', but the collection expects it from '" + source + "'");
      if (training.normalisation().to_text() == normalisation) {
        std::erase_if(collection.failures, [&](const auto& f) { return f.source == source; });
        collection.files.push_back({source, name, training.jets(),
                                    static_cast<std::uint32_t>(training.file().read_integer_attribute("source_crc32"))});
        ++report.converted;
        fs::remove(failed);
        continue;
      }
    }
    if (fs::exists(failed)) {
      std::ifstream in(failed);
      const std::string reason((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::erase_if(collection.failures, [&](const auto& f) { return f.source == source; });
      collection.failures.push_back({source, reason});
      ++report.failed;
      fs::remove(failed);
    }
  }
  detail::sort_files(collection);
  collection.save(collection_path);
  report.jets = collection.jets();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

template <class Format>
ConvertSourcesReport convert_sources_on_ranks(const std::vector<std::string>& sources, const std::string& table,
                                              const std::filesystem::path& directory, const ConvertSourcesOptions& options);

template <class Format>
ConvertSourcesReport convert_sources(const std::vector<std::string>& sources, const std::string& table,
                                     const std::filesystem::path& directory, const ConvertSourcesOptions& options = {}) {
  namespace fs = std::filesystem;
  if (options.communicator && options.communicator->size() > 1)
    return convert_sources_on_ranks<Format>(sources, table, directory, options);
  const auto start = std::chrono::steady_clock::now();
  const fs::path collection_path = directory / "collection.h5";
  auto collection = prepare_collection<Format>(sources, table, directory, options);

  std::vector<std::size_t> todo;  // indices into collection.sources
  ConvertSourcesReport report;
  for (std::size_t i = 0; i < collection.sources.size(); ++i) {
    if (collection.find(collection.sources[i])) ++report.skipped;
    else todo.push_back(i);
  }

  std::mutex mutex;  // guards collection and report
  std::atomic<std::size_t> next{0};
  ConversionProgress progress(todo.size(), options.progress);
  auto record = [&](auto update) {
    std::lock_guard lock(mutex);
    update();
    detail::sort_files(collection);
    collection.save(collection_path);
  };
  auto work = [&] {
    for (std::size_t k = next++; k < todo.size(); k = next++) {
      const std::size_t index = todo[k];
      const std::string& source = collection.sources[index];
      const std::string name = training_file_name(source, index);
      try {
        const auto opened = options.opener ? options.opener(source, table) : open_source(source, table);
        const auto r = convert_file<Format>(*opened, directory / name, collection.normalisation, options.convert);
        record([&] {
          std::erase_if(collection.failures, [&](const auto& f) { return f.source == source; });
          collection.files.push_back({source, name, r.jets, r.source_crc32});
          ++report.converted;
        });
        progress.file_done(source, r.jets, true);
      } catch (const std::exception& e) {
        record([&] {
          std::erase_if(collection.failures, [&](const auto& f) { return f.source == source; });
          collection.failures.push_back({source, e.what()});
          ++report.failed;
        });
        progress.file_done(source, 0, false, e.what());
      }
    }
  };
  std::vector<std::thread> threads;
  const unsigned n_threads = std::max(1u, std::min<unsigned>(options.threads, static_cast<unsigned>(todo.size())));
  for (unsigned t = 1; t < n_threads; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  report.jets = collection.jets();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

/// convert_sources as one rank of options.communicator (see the header comment).
template <class Format>
ConvertSourcesReport convert_sources_on_ranks(const std::vector<std::string>& sources, const std::string& table,
                                              const std::filesystem::path& directory, const ConvertSourcesOptions& options) {
  namespace fs = std::filesystem;
  Communicator& ranks = *options.communicator;
  const auto start = std::chrono::steady_clock::now();
  const auto rank = static_cast<std::size_t>(ranks.rank()), size = static_cast<std::size_t>(ranks.size());
  auto rank_zero_done = [&] {
    std::byte done{};
    ranks.broadcast(std::span(&done, 1), 0);
  };
  ConvertSourcesReport report;
  try {
    if (rank == 0) {
      prepare_collection<Format>(sources, table, directory, options);
      gather_conversions<Format>(directory);  // training files an interrupted job finished
    }
    rank_zero_done();
    const auto collection = Collection<Format>::load(directory / "collection.h5");
    std::vector<std::size_t> todo;  // indices into collection.sources
    for (std::size_t i = 0; i < collection.sources.size(); ++i) {
      if (collection.find(collection.sources[i])) ++report.skipped;
      else todo.push_back(i);
    }
    std::vector<std::size_t> mine;
    for (std::size_t k = rank; k < todo.size(); k += size) mine.push_back(todo[k]);
    // This rank's share, on its threads; each conversion leaves a training file or a failure record.
    std::atomic<std::size_t> next{0}, converted{0}, failed{0};
    ConversionProgress progress(mine.size(), options.progress && rank == 0);
    auto work = [&] {
      for (std::size_t k = next++; k < mine.size(); k = next++) {
        const std::string& source = collection.sources[mine[k]];
        const auto output = directory / training_file_name(source, mine[k]);
        try {
          fs::remove(failure_record(output));
          const auto opened = options.opener ? options.opener(source, table) : open_source(source, table);
          const auto r = convert_file<Format>(*opened, output, collection.normalisation, options.convert);
          ++converted;
          progress.file_done(source, r.jets, true);
        } catch (const std::exception& e) {
          write_text_file(failure_record(output), e.what());
          ++failed;
          progress.file_done(source, 0, false, e.what());
        }
      }
    };
    std::vector<std::thread> threads;
    const unsigned n_threads = std::max(1u, std::min<unsigned>(options.threads, static_cast<unsigned>(mine.size())));
    for (unsigned t = 1; t < n_threads; ++t) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
    // Every rank done: rank 0 records them all in the collection, once.
    const std::array<std::uint64_t, 2> counts{converted.load(), failed.load()};
    std::vector<std::array<std::uint64_t, 2>> all(size);
    ranks.all_gather(std::as_bytes(std::span(&counts, 1)), std::as_writable_bytes(std::span(all)));
    for (const auto& c : all) {
      report.converted += c[0];
      report.failed += c[1];
    }
    if (rank == 0) gather_conversions<Format>(directory);
    rank_zero_done();
    report.jets = Collection<Format>::load(directory / "collection.h5").jets();
  } catch (const std::exception& e) {
    ranks.fail(e.what());
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace deepjet::data
