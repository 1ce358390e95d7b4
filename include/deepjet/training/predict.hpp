// deepjet/training/predict.hpp: a trained model's outputs for whole files.
//
//   predict_source<Format>(model, normalisation, "test.root", "tree", "predictions/test.h5", weighter?)
//   predict_training_file<Format>(model, "converted/x.h5", "predictions/x.h5", weighter?)
//
// A prediction file (HDF5) holds, per jet:
//   probabilities (jets, classes)   the model's outputs; attribute classes = "b,bb,..."
//   truth (jets, classes), spectators (jets, S) with attribute spectators = "jet_pt,jet_eta,..."
//   weights (jets)                  when a weighter is given (the training's class weights)
// and attributes deepjet_file = "predictions", format_version, library_version, source,
// architecture (the model's signature), format. A raw source is converted on the fly, chunk by
// chunk, with the normalisation the training used (the collection's): the inputs the model sees
// are exactly those it would see from a training file. Jets of no class are kept (prediction does
// not drop data). Files appear under their name only when complete.
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
#include "deepjet/io/hdf5/hdf5.hpp"
#include "deepjet/models/model.hpp"
#include "deepjet/models/predictor.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace deepjet::training {

struct PredictionReport {
  std::string input;
  std::string output;
  std::uint64_t jets = 0;
};

namespace detail {
// "a,b,c" (appending, not concatenating temporaries: GCC 12 warns falsely on those).
inline void append_name(std::string& names, std::string_view name) {
  if (!names.empty()) names += ',';
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

// Streams predictions into a new file.
template <class Format, Layer Net>
class PredictionWriter {
  static_assert(ShapeType<typename Net::output_shape>,
                "deepjet::training prediction files hold class probabilities: a model with several outputs "
                "(Heads<...>) is not supported by predict_* yet");

 public:
  PredictionWriter(const std::filesystem::path& path, const Model<Net>& model, const std::string& input,
                   const data::Weighter* weighter)
      : output_(path), weighter_(weighter) {
    file_.emplace(output_.temporary_path(), hdf5::File::Mode::stream);
    constexpr std::size_t C = Format::truth_shape::size, S = Format::spectators::branches.size();
    file_->template create_rows<float>("probabilities", {C}, 4096);
    file_->template create_rows<float>("truth", {C}, 4096);
    file_->template create_rows<float>("spectators", {S}, 4096);
    if (weighter_) file_->template create_rows<float>("weights", {}, 4096);
    file_->write_attribute("classes", class_names<Format>(), "probabilities");
    file_->write_attribute("classes", class_names<Format>(), "truth");
    file_->write_attribute("spectators", spectator_names<Format>(), "spectators");
    file_->write_attribute("deepjet_file", std::string("predictions"));
    file_->write_attribute("format_version", std::uint64_t{1});
    file_->write_attribute("library_version", std::string(version));
    file_->write_attribute("source", input);
    file_->write_attribute("architecture", model.architecture().signature());
    file_->write_attribute("weights_fingerprint", weights_fingerprint(model));
    file_->write_attribute("format", Format::describe());
  }

  void append(const std::vector<float>& probabilities, const xt::xtensor<float, 2>& truth,
              const xt::xtensor<float, 2>& spectators) {
    const std::size_t n = truth.shape()[0];
    file_->append_rows("probabilities", probabilities.data(), n);
    file_->append_rows("truth", truth.data(), n);
    file_->append_rows("spectators", spectators.data(), n);
    if (weighter_) {
      const auto w = weighter_->weights(truth, spectators);
      file_->append_rows("weights", w.data(), n);
    }
    jets_ += n;
  }

  std::uint64_t finish() {
    file_->write_attribute("jets", jets_);
    file_->close();
    file_.reset();
    output_.commit();
    return jets_;
  }

 private:
  AtomicFile output_;
  std::optional<hdf5::File> file_;
  const data::Weighter* weighter_;
  std::uint64_t jets_ = 0;
};

template <class Format, Layer Net>
std::vector<float> run_model(const Predictor<Net>& predictor, const data::JetBatch<Format>& batch,
                             typename Predictor<Net>::Workspace& workspace) {
  const auto x = view_of<typename Net::input_shape>(batch.inputs, "predict");
  std::vector<float> out(Net::output_shape::size * x.count);
  predictor.predict(x, make_view<typename Net::output_shape>(out.data(), x.count), workspace);
  return out;
}
}  // namespace detail

/// Predictions for every jet of a training file.
template <class Format, Layer Net>
PredictionReport predict_training_file(const Model<Net>& model, const std::filesystem::path& training_file,
                                       const std::filesystem::path& output, const data::Weighter* weighter = nullptr,
                                       std::uint64_t chunk_jets = 8192) {
  const data::TrainingFile<Format> file(training_file);
  detail::PredictionWriter<Format, Net> writer(output, model, training_file.string(), weighter);
  const Predictor<Net> predictor(model);  // the weights packed once for the whole file
  typename Predictor<Net>::Workspace workspace;
  for (std::uint64_t first = 0; first < file.jets(); first += chunk_jets) {
    const auto batch = file.read(first, std::min(chunk_jets, file.jets() - first));
    writer.append(detail::run_model(predictor, batch, workspace), batch.truth, batch.spectators);
  }
  return {training_file.string(), output.string(), writer.finish()};
}

/// Predictions for every jet of a raw source (ROOT tree or source table), converted on the fly with
/// `normalisation` (the collection's).
template <class Format, Layer Net>
PredictionReport predict_source(const Model<Net>& model, const data::Normalisation<Format>& normalisation,
                                const std::string& source_path, const std::string& table,
                                const std::filesystem::path& output, const data::Weighter* weighter = nullptr,
                                std::uint64_t chunk_jets = 8192) {
  static_assert(std::is_same_v<typename Net::input_shape, typename Format::input_shape>,
                "predict_source: the model's input is not the data format's input_shape");
  const auto source = data::open_source(source_path, table);
  detail::PredictionWriter<Format, Net> writer(output, model, source_path, weighter);
  const Predictor<Net> predictor(model);  // the weights packed once for the whole file
  typename Predictor<Net>::Workspace workspace;
  data::PrepareCounts counts;
  constexpr std::size_t C = Format::truth_shape::size, S = Format::spectators::branches.size();
  for (std::uint64_t first = 0; first < source->entries(); first += chunk_jets) {
    const std::uint64_t last = std::min(source->entries(), first + chunk_jets);
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
    writer.append(detail::run_model(predictor, batch, workspace), batch.truth, batch.spectators);
  }
  return {source_path, output.string(), writer.finish()};
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
        predict_source<Format>(model, normalisation, sources[i], table, output_of(i), options.weighter, options.chunk_jets);
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

/// A prediction file read back (for evaluation).
struct Predictions {
  std::vector<std::string> classes;
  std::vector<std::string> spectators;
  xt::xtensor<float, 2> probabilities;
  xt::xtensor<float, 2> truth;
  xt::xtensor<float, 2> spectator_values;
  xt::xtensor<float, 1> weights;  ///< empty when the file has none
};

inline Predictions read_predictions(const std::filesystem::path& path) {
  hdf5::File file(path, hdf5::File::Mode::read);
  if (!file.has_attribute("deepjet_file") || file.read_string_attribute("deepjet_file") != "predictions")
    file.fail("is not a deepjet prediction file");
  auto split = [](const std::string& text) {
    std::vector<std::string> out;
    std::string word;
    for (char c : text) {
      if (c == ',') {
        out.push_back(word);
        word.clear();
      } else {
        word += c;
      }
    }
    if (!word.empty()) out.push_back(word);
    return out;
  };
  Predictions p;
  p.classes = split(file.read_string_attribute("classes", "probabilities"));
  p.spectators = split(file.read_string_attribute("spectators", "spectators"));
  auto read2 = [&](const std::string& name, std::size_t columns) {
    const auto a = file.read<float>(name);
    xt::xtensor<float, 2> t = xt::empty<float>({a.shape.empty() ? 0 : a.shape[0], columns});
    std::copy(a.values.begin(), a.values.end(), t.begin());
    return t;
  };
  p.probabilities = read2("probabilities", p.classes.size());
  p.truth = read2("truth", p.classes.size());
  p.spectator_values = read2("spectators", p.spectators.size());
  if (file.exists("weights")) {
    const auto w = file.read<float>("weights");
    p.weights = xt::empty<float>({w.values.size()});
    std::copy(w.values.begin(), w.values.end(), p.weights.begin());
  }
  return p;
}

}  // namespace deepjet::training
