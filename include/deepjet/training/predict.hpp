// deepjet/training/predict.hpp: a trained model's outputs for whole files.
//
//   predict_source<Format>(model, normalisation, "test.root", "tree", "predictions/test.root", weighter?, options?)
//   predict_source<Format>(model, normalisation, "test.root", "tree",
//                          std::vector<std::filesystem::path>{"p/test.root", "p/test.h5"}, ...)
//   predict_training_file<Format>(model, "converted/x.h5", "predictions/x.h5", weighter?, options?)
//
// The output's extension chooses the format (one pass of the model may feed several outputs):
//
// ".root": a ROOT file with a TTree "tree" that is a friend of the source tree: one entry per
//   source entry, in the source's order (unless options.keep drops jets), holding
//     prob_<class>   float, the model's output per class (DeepJetCore's naming)
//     the truth flags of Format's classes (isB, isBB, ...) and the spectators (jet_pt, ...),
//                    under the source's names and in the source's types, copied unchanged;
//                    from a training file (no flags): truth_<class>, float
//     weight         float, the training's class weight (when a weighter is given)
//     source_entry   Long64_t, the entry of the source tree (the key to join on when jets are dropped)
//   Its title, "deepjet predictions; classes b=isB,bb=isBB+isGBB,...; spectators jet_pt,jet_eta",
//   says how the truth branches make the classes: read_predictions (evaluation/prediction_file.hpp)
//   reads it back.
// ".h5": an HDF5 file holding, per jet:
//     probabilities (jets, classes)   attribute classes = "b,bb,..."
//     truth (jets, classes), spectators (jets, S) with attribute spectators = "jet_pt,jet_eta,..."
//     weights (jets)                  when a weighter is given (the training's class weights)
//     source_entries (jets)           int64, the entry of the source
//   and attributes deepjet_file = "predictions", format_version, library_version, source,
//   architecture (the model's signature), format.
// A raw source is converted on the fly, chunk by chunk, with the normalisation the training used
// (the collection's): the inputs the model sees are exactly those it would see from a training
// file. Every jet is kept, jets of no class included, unless options.keep (a selection on the
// truth and spectator rows) drops some. Files appear under their name only when complete (a
// temporary name, then a rename): an error leaves no half file (an output already completed stays).
// Errors: chunk_jets 0, an output with another extension, a source without a truth or spectator branch, a bad
// file: deepjet::Error / FileError naming it.
// write_prediction_list writes the list of prediction files, one per line.
//
// predict_sources<Format>(model, normalisation, sources, table, directory, options) predicts many
// sources: <directory>/<stem>.h5 for each (<stem>_<i>.h5 for source i where stems repeat), then
// <directory>/predictions.txt (the files in source order) and <directory>/failures.txt
// ("source<TAB>reason" per source that failed; the others go on). A rerun skips the sources whose prediction file the same weights made (resume)
// and retries the failed ones. With options.communicator (an MPI job) the sources are dealt round-robin to the
// ranks; rank 0 alone writes the two lists, once, when every rank is done (a failure's reason
// travels through <output>.failed beside it).
#pragma once

#include "deepjet/core/communicator.hpp"

#include "deepjet/core/atomic_file.hpp"
#include "deepjet/data/prepare.hpp"
#include "deepjet/data/training_file.hpp"
#include "deepjet/data/weighter.hpp"
#include "deepjet/evaluation/prediction_file.hpp"
#include "deepjet/io/hdf5/hdf5.hpp"
#include "deepjet/io/root_writer.hpp"
#include "deepjet/models/model.hpp"
#include "deepjet/models/predictor.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace deepjet::training {

// The reading side (and the ROOT tree's name and title) lives with evaluation.
using evaluation::Predictions;
using evaluation::read_predictions;
using evaluation::prediction_tree;

struct PredictionReport {
  std::string input;
  std::string output;
  std::uint64_t jets = 0;
};

/// Which jets a prediction file keeps: keep(truth row, spectator row) (the truth per class, the
/// spectators unprepared, in Format's order). Empty: every jet.
using JetSelection = std::function<bool(std::span<const float> truth, std::span<const float> spectators)>;

struct PredictOptions {
  std::uint64_t chunk_jets = 8192;  ///< jets read and predicted at a time (bounds memory)
  JetSelection keep{};
  /// The model's number format (layers/precision.hpp): bfloat16 is opt-in (docs/performance.md
  /// gives its change of the AUC).
  Precision precision = Precision::float32;
};

enum class PredictionFormat { hdf5, root };

/// The format an output path asks for: ".root" or ".h5"/".hdf5".
inline PredictionFormat prediction_format(const std::filesystem::path& output) {
  const auto extension = output.extension().string();
  if (extension == ".root") return PredictionFormat::root;
  if (extension == ".h5" || extension == ".hdf5") return PredictionFormat::hdf5;
  throw Error("predict: cannot tell the format of '" + output.string() +
              "': name prediction files *.root (a ROOT tree) or *.h5 (HDF5)");
}

namespace detail {
// "a,b,c" (appending, not concatenating temporaries: GCC 12 warns falsely on those).
inline void append_name(std::string& names, std::string_view name, char separator = ',') {
  if (!names.empty()) names += separator;
  names.append(name);
}
template <class Format>
std::string class_names() {
  std::string names;
  for (const auto& c : Format::truth::classes) append_name(names, c.name);
  return names;
}
template <class Format>
std::string spectator_names() {
  std::string names;
  for (std::string_view s : Format::spectators::branches) append_name(names, s);
  return names;
}

// FNV-1a of the parameters' bytes: which weights made a prediction file (a rerun of
// predict_sources keeps a file only if the same weights made it).
template <Layer Net>
std::uint64_t weights_fingerprint(const Model<Net>& model) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const float value : model.parameters()) {
    unsigned char bytes[sizeof(float)];
    std::memcpy(bytes, &value, sizeof value);
    for (const unsigned char b : bytes) hash = (hash ^ b) * 0x100000001b3ULL;
  }
  return hash;
}

/// One chunk of predicted jets, as every output format needs them.
struct PredictionChunk {
  std::vector<float> probabilities;              // jets x classes
  xt::xtensor<float, 2> truth, spectators;       // jets x classes, jets x spectators
  std::vector<std::int64_t> source_entries;      // jets
  std::vector<data::TypedColumn> copied;         // ROOT outputs: the source columns (see RootPredictionSink)
  std::size_t jets() const { return source_entries.size(); }

  /// Keep the listed jets (ascending indices).
  void keep(const std::vector<std::size_t>& rows) {
    const std::size_t C = truth.shape()[1], S = spectators.shape()[1];
    std::vector<float> probabilities_kept(rows.size() * C);
    xt::xtensor<float, 2> truth_kept = xt::empty<float>({rows.size(), C});
    xt::xtensor<float, 2> spectators_kept = xt::empty<float>({rows.size(), S});
    std::vector<std::int64_t> entries_kept(rows.size());
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const std::size_t r = rows[k];
      for (std::size_t c = 0; c < C; ++c) {
        probabilities_kept[k * C + c] = probabilities[r * C + c];
        truth_kept(k, c) = truth(r, c);
      }
      for (std::size_t s = 0; s < S; ++s) spectators_kept(k, s) = spectators(r, s);
      entries_kept[k] = source_entries[r];
    }
    probabilities = std::move(probabilities_kept);
    truth = std::move(truth_kept);
    spectators = std::move(spectators_kept);
    source_entries = std::move(entries_kept);
    for (auto& column : copied) column.keep(rows);
  }
};

/// Where a prediction chunk goes: one output file.
class PredictionSink {
 public:
  virtual ~PredictionSink() = default;
  virtual void append(const PredictionChunk& chunk, std::span<const float> weights) = 0;
  /// Completes the file (it appears under its name).
  virtual void finish(std::uint64_t jets) = 0;
};

class Hdf5PredictionSink final : public PredictionSink {
 public:
  Hdf5PredictionSink(const std::filesystem::path& path, const std::string& classes, const std::string& spectators,
                     std::size_t C, std::size_t S, bool weights, const std::string& input,
                     const std::string& architecture, const std::string& format, std::uint64_t fingerprint)
      : output_(path), weights_(weights) {
    file_.emplace(output_.temporary_path(), hdf5::File::Mode::stream);
    file_->create_rows<float>("probabilities", {C}, 4096);
    file_->create_rows<float>("truth", {C}, 4096);
    file_->create_rows<float>("spectators", {S}, 4096);
    file_->create_rows<std::int64_t>("source_entries", {}, 4096);
    if (weights_) file_->create_rows<float>("weights", {}, 4096);
    file_->write_attribute("classes", classes, "probabilities");
    file_->write_attribute("classes", classes, "truth");
    file_->write_attribute("spectators", spectators, "spectators");
    file_->write_attribute("deepjet_file", std::string("predictions"));
    file_->write_attribute("format_version", std::uint64_t{1});
    file_->write_attribute("library_version", std::string(version));
    file_->write_attribute("source", input);
    file_->write_attribute("architecture", architecture);
    file_->write_attribute("weights_fingerprint", fingerprint);
    file_->write_attribute("format", format);
  }

  void append(const PredictionChunk& chunk, std::span<const float> weights) override {
    const std::size_t n = chunk.jets();
    file_->append_rows("probabilities", chunk.probabilities.data(), n);
    file_->append_rows("truth", chunk.truth.data(), n);
    file_->append_rows("spectators", chunk.spectators.data(), n);
    file_->append_rows("source_entries", chunk.source_entries.data(), n);
    if (weights_) file_->append_rows("weights", weights.data(), n);
  }

  void finish(std::uint64_t jets) override {
    file_->write_attribute("jets", jets);
    file_->close();
    file_.reset();
    output_.commit();
  }

 private:
  AtomicFile output_;
  std::optional<hdf5::File> file_;
  bool weights_;
};

/// A ROOT prediction tree (see the contract at the top). `copied` names the source columns and
/// their types (truth branches first, then spectators), given again with each chunk.
class RootPredictionSink final : public PredictionSink {
 public:
  struct Column {
    std::string name;
    root::ValueType type;
  };

  RootPredictionSink(const std::filesystem::path& path, const std::vector<std::string>& classes,
                     std::vector<Column> copied, bool weights, const std::string& title)
      : file_(path), classes_(classes), copied_(std::move(copied)), weights_(weights) {
    tree_ = &file_.make_tree(prediction_tree, title);
    for (const auto& c : classes_) tree_->add_branch<float>("prob_" + c);
    for (const auto& column : copied_)
      data::with_value_type(column.type, [&]<class T>(std::type_identity<T>) { tree_->add_branch<T>(column.name); });
    if (weights_) tree_->add_branch<float>("weight");
    tree_->add_branch<std::int64_t>("source_entry");
  }

  void append(const PredictionChunk& chunk, std::span<const float> weights) override {
    const std::size_t n = chunk.jets(), C = classes_.size();
    std::vector<float> column(n);
    for (std::size_t c = 0; c < C; ++c) {
      for (std::size_t j = 0; j < n; ++j) column[j] = chunk.probabilities[j * C + c];
      tree_->write<float>("prob_" + classes_[c], column);
    }
    for (std::size_t k = 0; k < copied_.size(); ++k) {
      const data::TypedColumn& values = chunk.copied.at(k);
      data::with_value_type(values.type, [&]<class T>(std::type_identity<T>) {
        if constexpr (std::is_same_v<T, bool>) {
          const auto flags = std::make_unique<bool[]>(n);
          for (std::size_t j = 0; j < n; ++j) flags[j] = values.bytes[j] != 0;
          tree_->write<bool>(copied_[k].name, std::span<const bool>(flags.get(), n));
        } else {
          tree_->write<T>(copied_[k].name, values.values<T>());
        }
      });
    }
    if (weights_) tree_->write<float>("weight", weights);
    tree_->write<std::int64_t>("source_entry", chunk.source_entries);
  }

  void finish(std::uint64_t) override { file_.close(); }

 private:
  root::FileWriter file_;
  root::TreeWriter* tree_ = nullptr;
  std::vector<std::string> classes_;
  std::vector<Column> copied_;
  bool weights_;
};

/// Streams predictions into one or several files (see the contract at the top).
/// `source` is the raw source (its truth flags and spectators are copied into ROOT outputs in their
/// own types), or null for a training file (truth_<class> and spectators as float).
template <class Format, Layer Net>
class PredictionWriter {
  static_assert(ShapeType<typename Net::output_shape>,
                "deepjet::training prediction files hold class probabilities: a model with several outputs "
                "(Heads<...>) is not supported by predict_* yet");
  static constexpr std::size_t C = Format::truth_shape::size, S = Format::spectators::branches.size();

 public:
  PredictionWriter(const std::vector<std::filesystem::path>& outputs, const Model<Net>& model, const std::string& input,
                   const data::Source* source, const data::Weighter* weighter, JetSelection keep)
      : source_(source), weighter_(weighter), keep_(std::move(keep)) {
    if (outputs.empty()) throw Error("predict: no output file given for " + input);
    std::vector<std::string> classes, spectators;
    for (const auto& c : Format::truth::classes) classes.emplace_back(c.name);
    for (std::string_view s : Format::spectators::branches) spectators.emplace_back(s);
    for (const auto& path : outputs) {
      if (prediction_format(path) == PredictionFormat::hdf5) {
        sinks_.push_back(std::make_unique<Hdf5PredictionSink>(path, class_names<Format>(), spectator_names<Format>(), C, S,
                                                              weighter_ != nullptr, input,
                                                              model.architecture().signature(), Format::describe(),
                                                              weights_fingerprint(model)));
        continue;
      }
      // ROOT: the columns copied from the source, with their types; a training file gives floats.
      std::vector<std::pair<std::string, std::vector<std::string>>> class_branches;
      std::vector<RootPredictionSink::Column> copied;
      auto add_copied = [&](const std::string& name) {
        for (const auto& column : copied)
          if (column.name == name) return;  // a flag of two classes, or a spectator that is a flag
        const auto type = source_ ? source_->read_flat_typed(name, 0, 0).type : root::ValueType::Float32;
        copied.push_back({name, type});
      };
      for (const auto& c : Format::truth::classes) {
        std::vector<std::string> flags;
        if (source_) {
          for (std::size_t k = 0; k < c.flag_count; ++k) flags.emplace_back(c.flags[k]);
        } else {
          flags.push_back("truth_" + std::string(c.name));
        }
        for (const auto& flag : flags) add_copied(flag);
        class_branches.emplace_back(std::string(c.name), flags);
      }
      for (const auto& s : spectators) add_copied(s);
      if (copied_.empty()) copied_ = copied;  // the same for every ROOT output
      sinks_.push_back(std::make_unique<RootPredictionSink>(path, classes, copied, weighter_ != nullptr,
                                                            evaluation::root_prediction_title(class_branches, spectators)));
    }
  }

  /// Predictions of source entries [first, first + jets).
  void append(std::uint64_t first, std::vector<float> probabilities, xt::xtensor<float, 2> truth,
              xt::xtensor<float, 2> spectators) {
    PredictionChunk chunk;
    const std::size_t n = truth.shape()[0];
    chunk.probabilities = std::move(probabilities);
    chunk.truth = std::move(truth);
    chunk.spectators = std::move(spectators);
    chunk.source_entries.resize(n);
    for (std::size_t j = 0; j < n; ++j) chunk.source_entries[j] = static_cast<std::int64_t>(first + j);
    for (const auto& column : copied_) chunk.copied.push_back(copied_column(column.name, first, n, chunk));
    if (keep_) {
      std::vector<std::size_t> rows;
      for (std::size_t j = 0; j < n; ++j)
        if (keep_(std::span<const float>(chunk.truth.data() + j * C, C),
                  std::span<const float>(chunk.spectators.data() + j * S, S)))
          rows.push_back(j);
      if (rows.size() != n) chunk.keep(rows);
    }
    std::vector<float> weights;
    if (weighter_) {
      const auto w = weighter_->weights(chunk.truth, chunk.spectators);
      weights.assign(w.begin(), w.end());
    }
    for (auto& sink : sinks_) sink->append(chunk, weights);
    jets_ += chunk.jets();
  }

  std::uint64_t finish() {
    for (auto& sink : sinks_) sink->finish(jets_);
    return jets_;
  }

 private:
  // A copied column of entries [first, first + n): from the source in its own type, or (training
  // file) the chunk's float truth / spectators.
  data::TypedColumn copied_column(const std::string& name, std::uint64_t first, std::size_t n,
                                  const PredictionChunk& chunk) const {
    if (source_) return source_->read_flat_typed(name, first, first + n);
    std::vector<float> values(n);
    for (std::size_t c = 0; c < C; ++c)
      if (name == "truth_" + std::string(Format::truth::classes[c].name)) {
        for (std::size_t j = 0; j < n; ++j) values[j] = chunk.truth(j, c);
        return data::TypedColumn::of(root::ValueType::Float32, values);
      }
    for (std::size_t s = 0; s < S; ++s)
      if (name == Format::spectators::branches[s]) {
        for (std::size_t j = 0; j < n; ++j) values[j] = chunk.spectators(j, s);
        return data::TypedColumn::of(root::ValueType::Float32, values);
      }
    throw Error("predict: no column '" + name + "'");
  }

  const data::Source* source_;
  const data::Weighter* weighter_;
  JetSelection keep_;
  std::vector<std::unique_ptr<PredictionSink>> sinks_;
  std::vector<RootPredictionSink::Column> copied_;
  std::uint64_t jets_ = 0;
};

// The model packed once for a whole file, at the precision asked for, with its workspace.
template <Layer Net>
class FilePredictor {
 public:
  FilePredictor(const Model<Net>& model, Precision precision) {
    if (precision == Precision::bfloat16) bfloat16_.emplace(model);
    else float32_.emplace(model);
  }
  void predict(ConstBatch<typename Net::input_shape> x, Batch<typename Net::output_shape> y) {
    if (bfloat16_) bfloat16_->predict(x, y, bfloat16_workspace_);
    else float32_->predict(x, y, float32_workspace_);
  }

 private:
  std::optional<Predictor<Net>> float32_;
  typename Predictor<Net>::Workspace float32_workspace_;
  std::optional<Predictor<Net, Precision::bfloat16>> bfloat16_;
  typename Predictor<Net, Precision::bfloat16>::Workspace bfloat16_workspace_;
};

template <class Format, Layer Net>
std::vector<float> run_model(FilePredictor<Net>& predictor, const data::JetBatch<Format>& batch) {
  const auto x = view_of<typename Net::input_shape>(batch.inputs, "predict");
  std::vector<float> out(Net::output_shape::size * x.count);
  predictor.predict(x, make_view<typename Net::output_shape>(out.data(), x.count));
  return out;
}
}  // namespace detail

/// Predictions for every jet of a training file, into one or several outputs (one report each).
template <class Format, Layer Net>
std::vector<PredictionReport> predict_training_file(const Model<Net>& model, const std::filesystem::path& training_file,
                                                    const std::vector<std::filesystem::path>& outputs,
                                                    const data::Weighter* weighter = nullptr, PredictOptions options = {}) {
  if (options.chunk_jets == 0) throw Error("predict: chunk_jets must be positive");
  const data::TrainingFile<Format> file(training_file);
  detail::PredictionWriter<Format, Net> writer(outputs, model, training_file.string(), nullptr, weighter,
                                               std::move(options.keep));
  detail::FilePredictor<Net> predictor(model, options.precision);  // packed once for the whole file
  for (std::uint64_t first = 0; first < file.jets(); first += options.chunk_jets) {
    auto batch = file.read(first, std::min(options.chunk_jets, file.jets() - first));
    auto probabilities = detail::run_model(predictor, batch);
    writer.append(first, std::move(probabilities), std::move(batch.truth), std::move(batch.spectators));
  }
  const auto jets = writer.finish();
  std::vector<PredictionReport> reports;
  for (const auto& output : outputs) reports.push_back({training_file.string(), output.string(), jets});
  return reports;
}

template <class Format, Layer Net>
PredictionReport predict_training_file(const Model<Net>& model, const std::filesystem::path& training_file,
                                       const std::filesystem::path& output, const data::Weighter* weighter = nullptr,
                                       PredictOptions options = {}) {
  return predict_training_file<Format>(model, training_file, std::vector<std::filesystem::path>{output}, weighter,
                                       std::move(options))
      .front();
}

/// Predictions for every jet of a raw source (ROOT tree or source table), converted on the fly with
/// `normalisation` (the collection's), into one or several outputs (one report each).
template <class Format, Layer Net>
std::vector<PredictionReport> predict_source(const Model<Net>& model, const data::Normalisation<Format>& normalisation,
                                             const std::string& source_path, const std::string& table,
                                             const std::vector<std::filesystem::path>& outputs,
                                             const data::Weighter* weighter = nullptr, PredictOptions options = {}) {
  static_assert(std::is_same_v<typename Net::input_shape, typename Format::input_shape>,
                "predict_source: the model's input is not the data format's input_shape");
  if (options.chunk_jets == 0) throw Error("predict: chunk_jets must be positive");
  const auto source = data::open_source(source_path, table);
  detail::PredictionWriter<Format, Net> writer(outputs, model, source_path, source.get(), weighter,
                                               std::move(options.keep));
  detail::FilePredictor<Net> predictor(model, options.precision);  // packed once for the whole file
  data::PrepareCounts counts;
  constexpr std::size_t C = Format::truth_shape::size, S = Format::spectators::branches.size();
  for (std::uint64_t first = 0; first < source->entries(); first += options.chunk_jets) {
    const std::uint64_t last = std::min(source->entries(), first + options.chunk_jets);
    const std::size_t n = static_cast<std::size_t>(last - first);
    data::JetBatch<Format> batch;
    batch.inputs = make_tensors<typename Format::input_shape>(n);
    auto fill = [&]<std::size_t I>(std::integral_constant<std::size_t, I>, auto& tensor) {
      using B = std::tuple_element_t<I, typename Format::blocks>;
      data::read_block<B>(*source, first, last, normalisation.blocks[I], std::span<float>(tensor.data(), tensor.size()),
                          {}, counts);
    };
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (fill(std::integral_constant<std::size_t, I>{}, tensor_part<I>(batch.inputs)), ...);
    }(std::make_index_sequence<Format::block_count>{});
    batch.truth = xt::empty<float>({n, C});
    data::read_truth<typename Format::truth>(*source, first, last, std::span<float>(batch.truth.data(), batch.truth.size()));
    batch.spectators = xt::empty<float>({n, S});
    data::read_spectators<typename Format::spectators>(*source, first, last,
                                                       std::span<float>(batch.spectators.data(), batch.spectators.size()));
    auto probabilities = detail::run_model(predictor, batch);
    writer.append(first, std::move(probabilities), std::move(batch.truth), std::move(batch.spectators));
  }
  const auto jets = writer.finish();
  std::vector<PredictionReport> reports;
  for (const auto& output : outputs) reports.push_back({source_path, output.string(), jets});
  return reports;
}

template <class Format, Layer Net>
PredictionReport predict_source(const Model<Net>& model, const data::Normalisation<Format>& normalisation,
                                const std::string& source_path, const std::string& table,
                                const std::filesystem::path& output, const data::Weighter* weighter = nullptr,
                                PredictOptions options = {}) {
  return predict_source<Format>(model, normalisation, source_path, table, std::vector<std::filesystem::path>{output},
                                weighter, std::move(options))
      .front();
}

/// The list of prediction files, one path per line (written atomically).
inline void write_prediction_list(const std::filesystem::path& path, const std::vector<PredictionReport>& reports) {
  std::string text;
  for (const auto& r : reports) text += r.output + "\n";
  write_text_file(path, text);
}

struct PredictSourcesOptions {
  const data::Weighter* weighter = nullptr;
  std::uint64_t chunk_jets = 8192;
  /// Predict as one rank of a group (an MPI job); nullptr: this process alone. Not owned.
  Communicator* communicator = nullptr;
  Precision precision = Precision::float32;  ///< as PredictOptions::precision
};

struct PredictSourcesReport {
  std::vector<PredictionReport> files;  ///< every prediction file, in source order
  std::size_t predicted = 0;            ///< by this run (all ranks)
  std::size_t skipped = 0;              ///< already there
  std::vector<std::pair<std::string, std::string>> failures;  ///< source, reason
};

template <class Format, Layer Net>
PredictSourcesReport predict_sources(const Model<Net>& model, const data::Normalisation<Format>& normalisation,
                                     const std::vector<std::string>& sources, const std::string& table,
                                     const std::filesystem::path& directory, const PredictSourcesOptions& options = {}) {
  namespace fs = std::filesystem;
  Communicator* ranks = options.communicator && options.communicator->size() > 1 ? options.communicator : nullptr;
  const std::size_t rank = ranks ? static_cast<std::size_t>(ranks->rank()) : 0;
  const std::size_t size = ranks ? static_cast<std::size_t>(ranks->size()) : 1;
  // <stem>.h5, or <stem>_<i>.h5 where sources share a stem.
  auto output_of = [&](std::size_t i) {
    const std::string stem = fs::path(sources[i]).stem().string();
    const bool shared = std::count_if(sources.begin(), sources.end(), [&](const auto& s) { return fs::path(s).stem() == stem; }) > 1;
    return directory / (shared ? stem + "_" + std::to_string(i) + ".h5" : stem + ".h5");
  };
  auto failed_of = [&](std::size_t i) { return fs::path(output_of(i).string() + ".failed"); };
  auto body = [&] {
    PredictSourcesReport report;
    if (rank == 0) fs::create_directories(directory);
    if (ranks) {
      std::byte ready{};
      ranks->broadcast(std::span(&ready, 1), 0);
    }
    // Which sources are already done (by these weights) is decided before anyone writes: every
    // rank sees the same.
    const std::uint64_t fingerprint = detail::weights_fingerprint(model);
    auto done = [&](std::size_t i) {
      if (!fs::exists(output_of(i))) return false;
      const hdf5::File file(output_of(i), hdf5::File::Mode::read);
      return file.has_attribute("weights_fingerprint") && file.read_integer_attribute("weights_fingerprint") == fingerprint;
    };
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < sources.size(); ++i) {
      if (done(i)) ++report.skipped;
      else todo.push_back(i);
    }
    std::uint64_t predicted = 0;
    for (std::size_t k = rank; k < todo.size(); k += size) {
      const std::size_t i = todo[k];
      try {
        fs::remove(failed_of(i));
        predict_source<Format>(model, normalisation, sources[i], table, output_of(i), options.weighter,
                               PredictOptions{.chunk_jets = options.chunk_jets, .precision = options.precision});
        ++predicted;
      } catch (const std::exception& e) {
        write_text_file(failed_of(i), e.what());
      }
    }
    report.predicted = predicted;
    if (ranks) {
      std::vector<std::uint64_t> all(size);
      ranks->all_gather(std::as_bytes(std::span(&predicted, 1)), std::as_writable_bytes(std::span(all)));
      report.predicted = 0;
      for (auto n : all) report.predicted += n;
    }
    // Every rank done: the lists, from what is on disk, in source order (rank 0 writes them).
    std::string failures;
    for (std::size_t i = 0; i < sources.size(); ++i) {
      if (fs::exists(output_of(i))) {
        report.files.push_back({sources[i], output_of(i).string(), 0});
      } else if (fs::exists(failed_of(i))) {
        std::ifstream in(failed_of(i));
        std::string reason((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::replace(reason.begin(), reason.end(), '\n', ' ');
        report.failures.push_back({sources[i], reason});
        failures += sources[i] + "\t" + reason + "\n";
      }
    }
    if (rank == 0) {
      write_prediction_list(directory / "predictions.txt", report.files);
      write_text_file(directory / "failures.txt", failures);
    }
    if (ranks) {
      std::byte written{};
      ranks->broadcast(std::span(&written, 1), 0);
    }
    return report;
  };
  if (!ranks) return body();
  try {
    return body();
  } catch (const std::exception& e) {
    ranks->fail(e.what());
    throw;
  }
}

}  // namespace deepjet::training
