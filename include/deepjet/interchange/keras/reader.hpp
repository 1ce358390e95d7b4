// deepjet/interchange/keras/reader.hpp: reading a Keras 2 HDF5 file into a model type the user declares.
//
//   using Net = deepjet::zoo::DeepDoubleX;
//   deepjet::keras::ImportReport report;
//   auto model = deepjet::keras::import_model<Net>("DeepDoubleX_V02_CvL.h5", {.report = &report});
//   auto predictor = deepjet::keras::import_predictor<Net>("DeepDoubleX_V02_CvL.h5");
//   // weights-only file (model.save_weights) with the architecture from model.to_json():
//   auto other = deepjet::keras::import_model<Net>("weights.h5", {.architecture_file = "model.json"});
//
// Contract:
//   - The architecture is ImportOptions::architecture_json if given, else the file named by
//     architecture_file, else the file's own `model_config` attribute (model.save()); it is parsed
//     (config.hpp) and, with the file's weights (weights.hpp), lowered to deepjet-level operations
//     (lowering.hpp). The Matcher shared with the ONNX importer (interchange/graph/matcher.hpp)
//     then follows Net's structure from its inputs: input block i is the model's i-th input
//     (Keras's input_layers order), Branches sends part i down branch i, Concatenate must join the
//     branches' outputs in order, and the model's outputs must be Net's outputs in order.
//   - Every computing Keras layer must become a layer of Net, every layer of Net with parameters
//     must come from a Keras layer, every weight in the file must be read. The first disagreement
//     throws deepjet::FileError whose message starts with the file and names the Keras layer (name,
//     class, shapes) and, where one is involved, the deepjet layer (path and signature).
//   - A BatchNormalization epsilon other than Net's is carried into running_var exactly (as for
//     ONNX) unless carry_epsilon is false.
//   - Nothing is written to the model unless the whole import succeeds.
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/interchange/graph/matcher.hpp"
#include "deepjet/interchange/graph/outline.hpp"
#include "deepjet/interchange/keras/config.hpp"
#include "deepjet/interchange/keras/lowering.hpp"
#include "deepjet/interchange/keras/weights.hpp"
#include "deepjet/io/hdf5/hdf5.hpp"
#include "deepjet/models/model.hpp"
#include "deepjet/models/predictor.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace deepjet::keras {

/// What an import matched: which Keras input feeds which block, which Keras layer each deepjet
/// layer came from, and conversions worth knowing.
struct ImportReport {
  std::string file, keras_version, backend;
  std::string architecture;  ///< where the architecture came from
  struct Input {
    std::string name;        ///< the Keras InputLayer
    std::size_t block = 0;   ///< the model's input block it feeds
    std::string shape;       ///< "[N, 60, 8]"
  };
  struct Output {
    std::string name;  ///< the Keras layer giving it
    std::size_t block = 0;
    std::string shape;
  };
  using Layer = interchange::MatchedLayer;
  std::vector<Input> inputs;
  std::vector<Output> outputs;
  std::vector<Layer> layers;
  std::vector<std::string> notes;

  std::string to_string() const {
    std::ostringstream text;
    text << file << ": Keras " << keras_version << " (" << backend << "), architecture from " << architecture << "\n";
    for (const auto& i : inputs) text << "  input block " << i.block << " <- '" << i.name << "' " << i.shape << "\n";
    for (const auto& o : outputs) text << "  output block " << o.block << " -> '" << o.name << "' " << o.shape << "\n";
    for (const auto& l : layers)
      text << "  " << l.path << " " << l.signature << "  <-  " << l.op << " '" << l.node << "' " << l.node_shapes << "\n";
    for (const auto& n : notes) text << "  note: " << n << "\n";
    return text.str();
  }
};

struct ImportOptions {
  /// Filled with what was matched (also when the import fails part-way, up to the failure).
  ImportReport* report = nullptr;
  /// Import a BatchNormalization whose epsilon differs from the model type's by moving the
  /// difference into running_var (exact at inference); if false, such a layer is refused.
  bool carry_epsilon = true;
  /// The architecture (model.to_json()) for a weights-only file, as a file ...
  std::filesystem::path architecture_file{};
  /// ... or as text. Either one replaces a model_config the file may hold.
  std::string architecture_json{};
};

namespace import_detail {

using interchange::Matcher;
using interchange::outline;
using interchange::Outline;
using interchange::shape_list;
using interchange::shape_text;

inline std::string architecture_text(const hdf5::File& file, const ImportOptions& options, std::string& source) {
  if (!options.architecture_json.empty()) {
    source = "the architecture_json given";
    return options.architecture_json;
  }
  if (!options.architecture_file.empty()) {
    source = "architecture file '" + options.architecture_file.string() + "'";
    std::ifstream in(options.architecture_file, std::ios::binary);
    if (!in) throw FileError(options.architecture_file.string(), "cannot be opened for reading (the Keras architecture)");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  if (!file.has_attribute("model_config"))
    throw Error("has no model_config attribute (a weights-only file from model.save_weights()?): give the architecture "
                "(model.to_json()) as ImportOptions::architecture_file or architecture_json");
  source = "its model_config attribute";
  return file.read_string_attribute("model_config");
}

template <class Net>
void import_into(const std::filesystem::path& path, std::span<float> parameters, const ImportOptions& options) {
  ImportReport local;
  ImportReport& report = options.report ? *options.report : local;
  report = ImportReport{};
  report.file = path.string();
  const hdf5::File file(path, hdf5::File::Mode::read);
  try {
    const std::string text = architecture_text(file, options, report.architecture);
    for (const char* where : {"model_weights", "/"}) {
      if (!file.exists(where) && std::string(where) != "/") continue;
      if (report.keras_version.empty() && file.has_attribute("keras_version", where))
        report.keras_version = file.read_string_attribute("keras_version", where);
      if (report.backend.empty() && file.has_attribute("backend", where))
        report.backend = file.read_string_attribute("backend", where);
    }
    const KerasModel model = parse_architecture(text, report.architecture);
    const KerasWeights weights(file);
    LayerGraph lowered = Lowering(model, weights).run();
    if (!lowered.unused_weights.empty()) {
      std::string names;
      for (const auto& n : lowered.unused_weights) names += (names.empty() ? "'" : ", '") + n + "'";
      throw Error("holds weights for layers " + names + " that the architecture does not have; deepjet consumes every weight or "
                  "refuses the file");
    }

    const auto blocks = shape_list<typename Net::input_shape>::get();
    if (model.inputs.size() != blocks.size())
      throw Error("the Keras model has " + std::to_string(model.inputs.size()) + " inputs, the model type " +
                  std::to_string(blocks.size()) + " input blocks");
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      const LayerOp& in = lowered.ops[i];
      if (in.shape != blocks[i])
        throw Error("Keras input '" + in.node + "' " + in.node_shapes + " is input block " + std::to_string(i) +
                    " of the model type, which is " + shape_text(blocks[i]) + " per sample");
      report.inputs.push_back({in.node, i, in.node_shapes});
    }

    std::vector<float> values(parameters.begin(), parameters.end());
    Matcher matcher(lowered, values, report.layers, report.notes, options.carry_epsilon);
    std::vector<int> inputs(blocks.size());
    std::iota(inputs.begin(), inputs.end(), 0);
    const std::vector<int> outputs = matcher.match(outline<Net>(), inputs);
    matcher.check_everything_matched();
    if (lowered.outputs.size() != outputs.size())
      throw Error("the Keras model has " + std::to_string(lowered.outputs.size()) + " outputs, the model type " +
                  std::to_string(outputs.size()));
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      const auto& out = lowered.outputs[i];
      if (out.op != outputs[i])
        throw Error("Keras output '" + out.name + "' is " + matcher.describe(out.op) + ", but the model type's output block " +
                    std::to_string(i) + " is " + matcher.describe(outputs[i]));
      report.outputs.push_back({out.name, i, batch_shape_text(lowered.ops[static_cast<std::size_t>(out.op)].shape)});
    }
    std::copy(values.begin(), values.end(), parameters.begin());
  } catch (const FileError&) {
    throw;
  } catch (const Error& e) {
    throw FileError(path.string(), e.what());
  }
}

}  // namespace import_detail

/// Reads the Keras HDF5 file at `path` into a trainable Model<Net> (to fine-tune or to save as a
/// deepjet model file). Throws deepjet::FileError at the first disagreement (see the top of this file).
template <Layer Net>
Model<Net> import_model(const std::filesystem::path& path, const ImportOptions& options = {}) {
  Model<Net> model;
  import_detail::import_into<Net>(path, model.parameters(), options);
  return model;
}

/// Reads the Keras HDF5 file at `path` into a Predictor<Net>, the production inference engine.
template <Layer Net>
Predictor<Net> import_predictor(const std::filesystem::path& path, const ImportOptions& options = {}) {
  return Predictor<Net>(import_model<Net>(path, options));
}

}  // namespace deepjet::keras
