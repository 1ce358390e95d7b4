// deepjet/data/training_file.hpp: converted jets, ready for a model, one HDF5 file per source.
//
// Layout (format version 1):
//   inputs/<block name>   float32 (jets, dims of the block...), chunked and compressed
//   truth                 float32 (jets, classes)
//   spectators            float32 (jets, spectators)          when the format has spectators
//   targets               float32 (jets, targets)             when the format has regression targets
//   attributes            deepjet_file = "training data", format_version = 1, library_version,
//                         format = Format::describe(), normalisation = Normalisation::to_text(),
//                         source, source_crc32, source_entries, jets, the conversion's counts
//
// TrainingFileWriter appends chunks to a temporary file and renames it into place in finish(), so a
// file under its final name is always complete. TrainingFile reads any range of jets into the
// model's tensors, after checking the file was written for the same Format (a file of another
// format is refused with the first differing line of the description).
#pragma once

#include "deepjet/core/atomic_file.hpp"
#include "deepjet/core/version.hpp"
#include "deepjet/data/normalisation.hpp"
#include "deepjet/io/hdf5/hdf5.hpp"
#include "deepjet/models/tensors.hpp"

#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace deepjet::data {

/// Provenance and counts written with a training file.
struct TrainingFileInfo {
  std::string source;
  std::uint32_t source_crc32 = 0;
  std::uint64_t source_entries = 0;
  std::uint64_t jets = 0;
  std::uint64_t dropped_unlabelled = 0;
  PrepareCounts counts;
};

namespace detail {
template <ShapeType S>
std::vector<std::size_t> row_shape() {
  return {S::dims.begin(), S::dims.end()};
}
}  // namespace detail

template <class Format>
class TrainingFileWriter {
 public:
  TrainingFileWriter(const std::filesystem::path& path, std::size_t chunk_jets = 1024, int deflate_level = 4)
      : output_(path) {
    file_.emplace(output_.temporary_path(), hdf5::File::Mode::stream);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((file_->template create_rows<float>("inputs/" + std::string(block<I>::name), detail::row_shape<shape_of<block<I>>>(),
                                           chunk_jets, deflate_level)),
       ...);
    }(std::make_index_sequence<Format::block_count>{});
    file_->template create_rows<float>("truth", {Format::truth_shape::size}, chunk_jets, deflate_level);
    if constexpr (spectator_count > 0)
      file_->template create_rows<float>("spectators", {spectator_count}, chunk_jets, deflate_level);
    if constexpr (Format::target_count > 0)
      file_->template create_rows<float>("targets", {Format::target_count}, chunk_jets, deflate_level);
  }

  /// Append `jets` jets: one array per input block, the truth, spectator and target rows.
  void append(std::size_t jets, const std::array<std::vector<float>, Format::block_count>& inputs,
              const std::vector<float>& truth, const std::vector<float>& spectators,
              const std::vector<float>& targets = {}) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((file_->append_rows("inputs/" + std::string(block<I>::name), inputs[I].data(), jets)), ...);
    }(std::make_index_sequence<Format::block_count>{});
    file_->append_rows("truth", truth.data(), jets);
    if constexpr (spectator_count > 0) file_->append_rows("spectators", spectators.data(), jets);
    if constexpr (Format::target_count > 0) file_->append_rows("targets", targets.data(), jets);
    jets_ += jets;
  }

  /// Write the metadata, close, and move the file into place.
  void finish(const Normalisation<Format>& normalisation, TrainingFileInfo info) {
    info.jets = jets_;
    file_->write_attribute("deepjet_file", std::string("training data"));
    file_->write_attribute("format_version", std::uint64_t{1});
    file_->write_attribute("library_version", std::string(version));
    file_->write_attribute("format", Format::describe());
    file_->write_attribute("normalisation", normalisation.to_text());
    file_->write_attribute("source", info.source);
    file_->write_attribute("source_crc32", std::uint64_t{info.source_crc32});
    file_->write_attribute("source_entries", info.source_entries);
    file_->write_attribute("jets", info.jets);
    file_->write_attribute("dropped_unlabelled", info.dropped_unlabelled);
    file_->write_attribute("non_finite_replaced", info.counts.non_finite_replaced);
    file_->write_attribute("missing_replaced", info.counts.missing_replaced);
    file_->write_attribute("entries_cut", info.counts.entries_cut);
    file_->close();
    file_.reset();
    output_.commit();
  }

 private:
  template <std::size_t I>
  using block = std::tuple_element_t<I, typename Format::blocks>;
  static constexpr std::size_t spectator_count = Format::spectators::branches.size();

  AtomicFile output_;
  std::optional<hdf5::File> file_;
  std::uint64_t jets_ = 0;
};

/// A range of jets from a training file, in the tensors a model takes.
template <class Format>
struct JetBatch {
  TensorsOf<typename Format::input_shape> inputs;
  xt::xtensor<float, 2> truth;
  xt::xtensor<float, 2> spectators;
  /// Per-jet training weights (from a Weighter, filled by the Loader); empty means all 1.
  xt::xtensor<float, 1> weights;
  /// Regression targets (jets, targets) when the format has them.
  xt::xtensor<float, 2> targets;
  /// Jets of the whole batch when a Loader serves a share of it (these rows are one contiguous
  /// part); equal to the rows here otherwise. 0 for jets not from a Loader.
  std::uint64_t batch_jets = 0;
};

template <class Format>
class TrainingFile {
 public:
  explicit TrainingFile(const std::filesystem::path& path) : file_(path, hdf5::File::Mode::read) {
    if (!file_.has_attribute("deepjet_file") || file_.read_string_attribute("deepjet_file") != "training data")
      file_.fail("is not a deepjet training file");
    if (file_.read_integer_attribute("format_version") != 1)
      file_.fail("has training-file format version " + std::to_string(file_.read_integer_attribute("format_version")) +
                 "; this deepjet reads version 1");
    const std::string stored = file_.read_string_attribute("format");
    const std::string expected = Format::describe();
    if (stored != expected) file_.fail("was written for another data format: " + first_difference(stored, expected));
    jets_ = file_.read_integer_attribute("jets");
  }

  std::uint64_t jets() const { return jets_; }
  const hdf5::File& file() const { return file_; }
  Normalisation<Format> normalisation() const {
    return Normalisation<Format>::from_text(file_.read_string_attribute("normalisation"));
  }

  /// Jets [first, first + count).
  JetBatch<Format> read(std::uint64_t first, std::uint64_t count) const {
    JetBatch<Format> batch = read_labels(first, count);
    batch.inputs = make_tensors<typename Format::input_shape>(count);
    auto fill = [&]<std::size_t I>(std::integral_constant<std::size_t, I>, auto& tensor) {
      using B = std::tuple_element_t<I, typename Format::blocks>;
      const auto values = file_.read_rows<float>("inputs/" + std::string(B::name), first, count);
      std::copy(values.begin(), values.end(), tensor.begin());
    };
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (fill(std::integral_constant<std::size_t, I>{}, tensor_part<I>(batch.inputs)), ...);
    }(std::make_index_sequence<Format::block_count>{});
    return batch;
  }

  /// The truth and spectators of jets [first, first + count), without the inputs (for weighters
  /// and evaluation).
  JetBatch<Format> read_labels(std::uint64_t first, std::uint64_t count) const {
    if (first + count > jets_)
      file_.fail("has " + std::to_string(jets_) + " jets; jets " + std::to_string(first) + " to " +
                 std::to_string(first + count) + " were asked for");
    JetBatch<Format> batch;
    batch.truth = xt::empty<float>({static_cast<std::size_t>(count), Format::truth_shape::size});
    const auto truth = file_.read_rows<float>("truth", first, count);
    std::copy(truth.begin(), truth.end(), batch.truth.begin());
    constexpr std::size_t S = Format::spectators::branches.size();
    batch.spectators = xt::empty<float>({static_cast<std::size_t>(count), S});
    if constexpr (S > 0) {
      const auto spectators = file_.read_rows<float>("spectators", first, count);
      std::copy(spectators.begin(), spectators.end(), batch.spectators.begin());
    }
    constexpr std::size_t T = Format::target_count;
    batch.targets = xt::empty<float>({static_cast<std::size_t>(count), T});
    if constexpr (T > 0) {
      const auto targets = file_.read_rows<float>("targets", first, count);
      std::copy(targets.begin(), targets.end(), batch.targets.begin());
    }
    return batch;
  }

 private:
  static std::string first_difference(const std::string& stored, const std::string& expected) {
    std::istringstream a(stored), b(expected);
    std::string line_a, line_b;
    while (true) {
      const bool more_a = static_cast<bool>(std::getline(a, line_a));
      const bool more_b = static_cast<bool>(std::getline(b, line_b));
      if (!more_a && !more_b) return "(no difference found)";
      if (!more_a) line_a = "(nothing)";
      if (!more_b) line_b = "(nothing)";
      if (line_a != line_b) return "the file has '" + line_a + "' where this program's format has '" + line_b + "'";
    }
  }

  hdf5::File file_;
  std::uint64_t jets_ = 0;
};

}  // namespace deepjet::data
