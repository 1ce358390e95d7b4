// deepjet/interchange/lwtnn/reader.hpp: lwtnn's JSON network files into a declared deepjet type.
//
//   using Net = deepjet::zoo::DeepCSV;   // Input<66>, 5 x (Dense<100>, ReLU, Dropout), Dense<4>, Softmax
//   auto imported = deepjet::lwtnn::import_predictor<Net>("DeepCSV_PhaseI.json");
//   xt::xtensor<float, 2> probabilities = imported.predict_raw(raw_inputs);   // jets x 66 raw values
//
// lwtnn (a HEP library for deploying Keras-trained networks in C++; CMSSW runs DeepCSV with it)
// stores a "sequential" network as one JSON object:
//   "inputs":   [{"name", "offset", "scale"}, ...]  one per input variable, in input order;
//   "defaults": {name: value, ...}                   values for inputs that are missing;
//   "layers":   [{"architecture": "dense", "activation", "weights", "bias"}, ...];
//   "outputs":  [name, ...]                          one per output of the last layer.
// A dense layer's "weights" are row-major outputs x inputs (W[o][i] multiplies input i into
// output o), the transpose of deepjet's Dense "weight" (inputs x outputs). Activations: "linear",
// "rectified", "sigmoid", "tanh", "softmax", "elu" (alpha 1), as a string or as
// {"function": name}.
//
// Contract:
//   - The JSON is matched against Net's architecture table (layers/layer.hpp) in order: each lwtnn
//     layer must meet a deepjet Dense of the same widths, followed by the deepjet activation of the
//     same function (none for "linear"); Dropout layers of Net are skipped (identity at inference);
//     nothing may be left over on either side, and Net's input and output widths must equal the
//     numbers of inputs and outputs. The first disagreement throws deepjet::FileError naming the
//     file, the lwtnn layer (index, widths, activation) and the deepjet layer (path, signature).
//   - The input transform is returned with the model (InputTransform): lwtnn's preprocessing
//     (x + offset) * scale, with a raw value that is NaN or infinite (a missing input) first
//     replaced by the input's default from "defaults" (an input without a default keeps the NaN,
//     which then shows in the output rather than being silently invented).
//   - lwtnn's "graph" format (several input nodes, sequences, recurrent layers) and layer
//     architectures other than "dense" are refused with a FileError saying so.
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/layers/layer.hpp"
#include "deepjet/models/model.hpp"
#include "deepjet/models/predictor.hpp"

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace deepjet::lwtnn {

/// One input variable of an lwtnn network and its preprocessing.
struct InputVariable {
  std::string name;
  double offset = 0.0;
  double scale = 1.0;
  std::optional<double> default_value;  ///< replaces a missing (non-finite) raw value
};

/// lwtnn's input preprocessing, applied by deepjet to raw inputs: (x + offset) * scale per variable,
/// after replacing a non-finite x by the variable's default.
class InputTransform {
 public:
  InputTransform() = default;
  explicit InputTransform(std::vector<InputVariable> variables) : variables_(std::move(variables)) {}

  const std::vector<InputVariable>& variables() const { return variables_; }
  std::size_t size() const { return variables_.size(); }

  /// Rows of size() raw values in `raw` become rows of transformed values in `out` (same size).
  void apply(std::span<const float> raw, std::span<float> out) const {
    if (variables_.empty() || raw.size() % variables_.size() != 0 || out.size() != raw.size()) {
      throw Error("deepjet::lwtnn::InputTransform: " + std::to_string(raw.size()) + " raw values for " +
                  std::to_string(variables_.size()) + " variables per row, into " + std::to_string(out.size()));
    }
    for (std::size_t k = 0; k < raw.size(); ++k) {
      const InputVariable& variable = variables_[k % variables_.size()];
      double x = raw[k];
      if (!std::isfinite(x) && variable.default_value) x = *variable.default_value;
      out[k] = static_cast<float>((x + variable.offset) * variable.scale);
    }
  }

  /// The same on a jets x variables tensor.
  xt::xtensor<float, 2> operator()(const xt::xtensor<float, 2>& raw) const {
    if (raw.shape()[1] != variables_.size()) {
      throw Error("deepjet::lwtnn::InputTransform: the raw inputs have " + std::to_string(raw.shape()[1]) +
                  " columns, the network has " + std::to_string(variables_.size()) + " input variables");
    }
    xt::xtensor<float, 2> out = xt::empty<float>(raw.shape());
    apply(std::span<const float>(raw.data(), raw.size()), std::span<float>(out.data(), out.size()));
    return out;
  }

 private:
  std::vector<InputVariable> variables_;
};

/// A trainable model read from an lwtnn file, with the preprocessing its inputs need.
template <Layer Net>
struct ImportedModel {
  Model<Net> model;
  InputTransform transform;
  std::vector<std::string> output_names;
};

/// A production predictor read from an lwtnn file, with the preprocessing its inputs need.
template <Layer Net>
struct ImportedPredictor {
  Predictor<Net> predictor;
  InputTransform transform;
  std::vector<std::string> output_names;

  /// Outputs for jets x variables raw inputs (preprocessed here, as lwtnn does).
  auto predict_raw(const xt::xtensor<float, 2>& raw) const { return predictor.predict(transform(raw)); }
};

namespace detail {

template <class S>
constexpr bool is_flat_shape() {
  if constexpr (requires { S::rank; }) return S::rank == 1;
  else return false;  // several blocks (Shapes<...>)
}

/// lwtnn's activation name -> the kind of the deepjet activation layer ("" for linear: none).
inline std::optional<std::string> deepjet_activation_kind(const std::string& lwtnn_name) {
  if (lwtnn_name == "linear") return std::string();
  if (lwtnn_name == "rectified") return std::string("ReLU");
  if (lwtnn_name == "sigmoid") return std::string("Sigmoid");
  if (lwtnn_name == "tanh") return std::string("Tanh");
  if (lwtnn_name == "softmax") return std::string("Softmax");
  if (lwtnn_name == "elu") return std::string("ELU");
  return std::nullopt;
}

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw FileError(path.string(), "cannot open the lwtnn network file");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw FileError(path.string(), std::string("not a valid JSON file: ") + error.what());
  }
}

/// Reads a number (lwtnn writes numbers; a string is a broken file).
inline double number(const nlohmann::json& value, const std::string& file, const std::string& what) {
  if (!value.is_number()) throw FileError(file, what + " is not a number");
  return value.get<double>();
}

/// Reads a weight or a bias, which deepjet keeps as a 32-bit float: a value beyond float's range
/// (1e300 in a damaged file) would become infinite and give silently wrong outputs, so it is refused.
inline float parameter(const nlohmann::json& value, const std::string& file, const std::string& what) {
  const double v = number(value, file, what);
  if (!(std::abs(v) <= static_cast<double>(std::numeric_limits<float>::max())))
    throw FileError(file, what + " " + value.dump() + " does not fit a 32-bit float");
  return static_cast<float>(v);
}

/// Fills `parameters` (laid out as Net's architecture table says) from the lwtnn JSON, checking
/// every layer; returns the input transform and output names.
inline std::pair<InputTransform, std::vector<std::string>> read_network(const nlohmann::json& json,
                                                                        const std::string& file,
                                                                        const Architecture& architecture,
                                                                        std::size_t net_inputs, std::size_t net_outputs,
                                                                        std::span<float> parameters) {
  if (!json.is_object()) throw FileError(file, "not an lwtnn network (the top level is not a JSON object)");
  if (json.contains("input_sequences") || json.contains("nodes")) {
    throw FileError(file, "an lwtnn graph network (with nodes or input sequences): only lwtnn's sequential "
                          "format (inputs, layers, outputs) is supported");
  }
  for (const char* key : {"inputs", "layers", "outputs"}) {
    if (!json.contains(key) || !json[key].is_array()) {
      throw FileError(file, std::string("not an lwtnn sequential network: no \"") + key + "\" array");
    }
  }

  // Inputs and their preprocessing.
  std::vector<InputVariable> variables;
  const nlohmann::json no_defaults = nlohmann::json::object();
  const nlohmann::json& defaults = json.contains("defaults") ? json["defaults"] : no_defaults;
  for (std::size_t i = 0; i < json["inputs"].size(); ++i) {
    const nlohmann::json& input = json["inputs"][i];
    const std::string where = "input " + std::to_string(i);
    if (!input.is_object() || !input.contains("name") || !input["name"].is_string()) {
      throw FileError(file, where + " has no name");
    }
    InputVariable variable;
    variable.name = input["name"].get<std::string>();
    variable.offset = input.contains("offset") ? number(input["offset"], file, where + "'s offset") : 0.0;
    variable.scale = input.contains("scale") ? number(input["scale"], file, where + "'s scale") : 1.0;
    if (defaults.contains(variable.name)) {
      variable.default_value = number(defaults[variable.name], file, "the default of input '" + variable.name + "'");
    }
    variables.push_back(std::move(variable));
  }
  if (variables.size() != net_inputs) {
    throw FileError(file, "the lwtnn network has " + std::to_string(variables.size()) +
                              " inputs; the deepjet model takes " + std::to_string(net_inputs));
  }
  std::vector<std::string> outputs;
  for (const auto& name : json["outputs"]) {
    if (!name.is_string()) throw FileError(file, "an output name is not a string");
    outputs.push_back(name.get<std::string>());
  }

  // The deepjet layers that compute something at inference, in order.
  std::vector<const LayerInfo*> layers;
  for (const LayerInfo& layer : architecture.layers) {
    if (layer.kind != "Dropout") layers.push_back(&layer);
  }
  auto describe_deepjet = [&](std::size_t k) {
    return k < layers.size() ? "deepjet layer " + layers[k]->path + " '" + layers[k]->signature + "'"
                             : std::string("the end of the deepjet model");
  };
  auto parameter_of = [&](const LayerInfo& layer, std::string_view name) -> const ParameterInfo& {
    for (const ParameterInfo& parameter : architecture.parameters) {
      if (parameter.path == layer.path + "." + std::string(name)) return parameter;
    }
    throw Error("deepjet::lwtnn: layer " + layer.path + " has no parameter '" + std::string(name) + "'");
  };

  std::size_t next = 0;
  std::size_t width = variables.size();
  for (std::size_t l = 0; l < json["layers"].size(); ++l) {
    const nlohmann::json& layer = json["layers"][l];
    const std::string architecture_name =
        layer.contains("architecture") && layer["architecture"].is_string() ? layer["architecture"].get<std::string>() : "?";
    if (architecture_name != "dense") {
      throw FileError(file, "lwtnn layer " + std::to_string(l) + " has architecture '" + architecture_name +
                                "': only dense layers are supported");
    }
    std::string activation = "linear";
    if (layer.contains("activation")) {
      const nlohmann::json& a = layer["activation"];
      if (a.is_string()) activation = a.get<std::string>();
      else if (a.is_object() && a.contains("function") && a["function"].is_string()) {
        activation = a["function"].get<std::string>();
        if (a.contains("alpha") && activation == "elu" && number(a["alpha"], file, "the elu alpha") != 1.0) {
          throw FileError(file, "lwtnn layer " + std::to_string(l) + ": ELU with alpha other than 1 is not supported");
        }
      } else throw FileError(file, "lwtnn layer " + std::to_string(l) + " has an unreadable activation");
    }
    const auto activation_kind = deepjet_activation_kind(activation);
    if (!activation_kind) {
      throw FileError(file, "lwtnn layer " + std::to_string(l) + " has activation '" + activation +
                                "', which deepjet does not have");
    }
    if (!layer.contains("weights") || !layer["weights"].is_array() || !layer.contains("bias") ||
        !layer["bias"].is_array()) {
      throw FileError(file, "lwtnn layer " + std::to_string(l) + " has no weights or no bias array");
    }
    const std::size_t units = layer["bias"].size();
    const std::size_t weights = layer["weights"].size();
    const std::string lwtnn_layer = "lwtnn layer " + std::to_string(l) + " (dense " + std::to_string(width) + " -> " +
                                    std::to_string(units) + ", " + activation + ")";
    if (units == 0 || weights != width * units) {
      throw FileError(file, lwtnn_layer + " has " + std::to_string(weights) + " weights; a dense layer of " +
                                std::to_string(width) + " inputs and " + std::to_string(units) + " outputs has " +
                                std::to_string(width * units));
    }
    if (next >= layers.size() || layers[next]->kind != "Dense") {
      throw FileError(file, lwtnn_layer + " meets " + describe_deepjet(next) + ": expected a Dense");
    }
    const LayerInfo& dense = *layers[next];
    const ParameterInfo& weight = parameter_of(dense, "weight");
    const ParameterInfo& bias = parameter_of(dense, "bias");
    if (weight.spec.shape[0] != width || weight.spec.shape[1] != units) {
      throw FileError(file, lwtnn_layer + " does not match " + describe_deepjet(next) + ": its weight is " +
                                std::to_string(weight.spec.shape[0]) + " x " + std::to_string(weight.spec.shape[1]));
    }
    // lwtnn: W[o][i] row-major (outputs x inputs); deepjet: weight[i][o].
    for (std::size_t o = 0; o < units; ++o) {
      for (std::size_t i = 0; i < width; ++i) {
        parameters[weight.offset + i * units + o] = parameter(layer["weights"][o * width + i], file, lwtnn_layer + "'s weight");
      }
      parameters[bias.offset + o] = parameter(layer["bias"][o], file, lwtnn_layer + "'s bias");
    }
    ++next;
    if (!activation_kind->empty()) {
      if (next >= layers.size() || layers[next]->kind != *activation_kind) {
        throw FileError(file, lwtnn_layer + " applies " + activation + " but is followed in deepjet by " +
                                  describe_deepjet(next) + "; expected " + *activation_kind);
      }
      ++next;
    } else if (next < layers.size() && layers[next]->kind == "Linear") {
      ++next;
    }
    width = units;
  }
  if (next != layers.size()) {
    throw FileError(file, "the lwtnn network ends after " + std::to_string(json["layers"].size()) +
                              " layers, but the deepjet model goes on with " + describe_deepjet(next));
  }
  if (width != net_outputs || outputs.size() != net_outputs) {
    throw FileError(file, "the lwtnn network has " + std::to_string(width) + " outputs (" +
                              std::to_string(outputs.size()) + " output names); the deepjet model gives " +
                              std::to_string(net_outputs));
  }
  return {InputTransform(std::move(variables)), std::move(outputs)};
}

}  // namespace detail

/// Reads an lwtnn sequential network file into a trainable Model<Net> (see the contract above).
template <Layer Net>
ImportedModel<Net> import_model(const std::filesystem::path& path) {
  static_assert(detail::is_flat_shape<typename Net::input_shape>() && detail::is_flat_shape<typename Net::output_shape>(),
                "deepjet::lwtnn: lwtnn sequential networks have one flat input and one flat output; "
                "declare the model as Sequential<Input<N>, ...> ending in a flat layer");
  const nlohmann::json json = detail::read_json(path);
  ImportedModel<Net> imported{Model<Net>(0), {}, {}};
  auto [transform, outputs] = detail::read_network(json, path.string(), imported.model.architecture(),
                                                   Net::input_shape::size, Net::output_shape::size,
                                                   imported.model.parameters());
  imported.transform = std::move(transform);
  imported.output_names = std::move(outputs);
  return imported;
}

/// Reads an lwtnn sequential network file into a production Predictor<Net>.
template <Layer Net>
ImportedPredictor<Net> import_predictor(const std::filesystem::path& path) {
  ImportedModel<Net> imported = import_model<Net>(path);
  return {Predictor<Net>(imported.model), std::move(imported.transform), std::move(imported.output_names)};
}

}  // namespace deepjet::lwtnn
