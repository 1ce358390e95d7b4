// deepjet/interchange/keras/config.hpp: a Keras 2 architecture (model.to_json(), or the
// `model_config` attribute of a model.save() file) read into a list of layers and their links.
//
// Contract: `parse_architecture(text)` takes the JSON text and returns a KerasModel: the layers in
// an order where every layer comes after the layers it reads, each with its class, its config and
// the names of the layers whose outputs it reads (in order), plus the input layers in the model's
// input order and the output layers in its output order.
//   - "Model" / "Functional": the links come from each layer's `inbound_nodes`
//     ([[["name", node_index, tensor_index, {kwargs}], ...]]); the inputs and outputs from the
//     config's `input_layers` and `output_layers`.
//   - "Sequential": each layer reads the one before; the first is an InputLayer or carries
//     `batch_input_shape`, from which an InputLayer named "<first layer>_input" is made (as Keras
//     names it).
// Refused with deepjet::Error (the caller prefixes the file): text that is not JSON; another top
// class; a layer called more than once (shared layers: one deepjet layer has its own weights);
// a layer that reads the second output of another (return_state); links to unknown layers or in a
// cycle; Keras 3's configs (another inbound_nodes form). Layer configs are read later
// (lowering.hpp).
#pragma once

#include "deepjet/core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace deepjet::keras::import_detail {

using json = nlohmann::json;

struct KerasLayer {
  std::string name, class_name;
  json config;                        ///< the layer's "config" object
  std::vector<std::string> inbound;   ///< layers whose outputs it reads, in order
  /// "Keras layer 'pf_gru' (GRU)", for messages.
  std::string text() const { return "Keras layer '" + name + "' (" + class_name + ")"; }
};

struct KerasModel {
  std::string class_name;            ///< "Model", "Functional" or "Sequential"
  std::vector<KerasLayer> layers;    ///< every layer after the layers it reads
  std::vector<std::string> inputs;   ///< InputLayer names, in the model's input order
  std::vector<std::string> outputs;  ///< output layer names, in the model's output order
};

/// The largest size or index deepjet reads from a Keras config: 2^24, far beyond any jet network's
/// widths and lengths, small enough that products of sizes cannot wrap around.
inline constexpr long max_config_number = 1L << 24;

/// A whole number of a Keras config (a size, an axis, a link index), `what` naming it for the
/// message. Keras writes integers; a fraction, a string or a number beyond +-max_config_number is
/// a damaged file, refused here before converting it to an integer type (undefined for 1e300).
inline long whole_number(const json& value, const std::string& what) {
  if (!value.is_number_integer()) throw Error(what + " is " + value.dump() + ", not a whole number");
  const bool too_large = value.is_number_unsigned() ? value.get<std::uint64_t>() > static_cast<std::uint64_t>(max_config_number)
                                                    : value.get<std::int64_t>() < -max_config_number ||
                                                          value.get<std::int64_t>() > max_config_number;
  if (too_large)
    throw Error(what + " is " + value.dump() + ", beyond the " + std::to_string(max_config_number) + " deepjet accepts (a damaged file?)");
  return static_cast<long>(value.get<std::int64_t>());
}

/// The same for a size, which must not be negative.
inline std::size_t size_number(const json& value, const std::string& what) {
  const long n = whole_number(value, what);
  if (n < 0) throw Error(what + " is " + value.dump() + ", a negative size");
  return static_cast<std::size_t>(n);
}

namespace config_detail {

// [name, node_index, tensor_index(, kwargs)] -> name, refusing what deepjet cannot follow.
inline std::string link_name(const json& link, const std::string& reader) {
  if (!link.is_array() || link.size() < 3 || !link[0].is_string())
    throw Error("Keras layer '" + reader + "' has links (inbound_nodes) not in Keras 2's form "
                "[name, node, tensor, kwargs]; deepjet reads Keras 2.x files (Keras 3 files are refused)");
  const std::string name = link[0].get<std::string>();
  const long call = whole_number(link[1], "Keras layer '" + reader + "': the call index of its link to '" + name + "'");
  const long output = whole_number(link[2], "Keras layer '" + reader + "': the output index of its link to '" + name + "'");
  if (call != 0)
    throw Error("Keras layer '" + reader + "' reads call " + std::to_string(call) + " of layer '" + name +
                "', which is called several times (a shared layer); deepjet layers each have their own weights");
  if (output != 0)
    throw Error("Keras layer '" + reader + "' reads output " + std::to_string(output) + " of layer '" + name +
                "' (a layer with several outputs, e.g. return_state=True); deepjet layers give one output");
  return name;
}

inline std::vector<KerasLayer> ordered(std::vector<KerasLayer> layers) {
  std::set<std::string> known, done;
  for (const auto& l : layers)
    if (!known.insert(l.name).second) throw Error("the architecture has two layers named '" + l.name + "'");
  for (const auto& l : layers)
    for (const auto& in : l.inbound)
      if (!known.count(in)) throw Error("Keras layer '" + l.name + "' reads layer '" + in + "', which the architecture does not have");
  std::vector<KerasLayer> result;
  while (!layers.empty()) {
    bool progress = false;
    for (auto it = layers.begin(); it != layers.end();) {
      bool ready = true;
      for (const auto& in : it->inbound) ready &= done.count(in) > 0;
      if (!ready) {
        ++it;
        continue;
      }
      done.insert(it->name);
      result.push_back(std::move(*it));
      it = layers.erase(it);
      progress = true;
    }
    if (!progress) throw Error("the layers of the architecture read each other in a cycle (at '" + layers.front().name + "')");
  }
  return result;
}

inline KerasModel functional(const json& config, const std::string& class_name) {
  KerasModel model;
  model.class_name = class_name;
  for (const auto& entry : config.at("layers")) {
    KerasLayer layer;
    layer.class_name = entry.at("class_name").get<std::string>();
    layer.config = entry.at("config");
    layer.name = entry.contains("name") ? entry["name"].get<std::string>() : layer.config.at("name").get<std::string>();
    const json& nodes = entry.at("inbound_nodes");
    if (!nodes.is_array())
      throw Error("Keras layer '" + layer.name + "' has inbound_nodes not in Keras 2's form; deepjet reads Keras 2.x files");
    if (nodes.size() > 1)
      throw Error("Keras layer '" + layer.name + "' (" + layer.class_name + ") is called " + std::to_string(nodes.size()) +
                  " times (a shared layer); deepjet layers each have their own weights");
    if (nodes.size() == 1) {
      if (!nodes[0].is_array())
        throw Error("Keras layer '" + layer.name + "' has inbound_nodes not in Keras 2's form; deepjet reads Keras 2.x files");
      for (const auto& link : nodes[0]) layer.inbound.push_back(link_name(link, layer.name));
    }
    model.layers.push_back(std::move(layer));
  }
  for (const auto& link : config.at("input_layers")) model.inputs.push_back(link_name(link, "(model inputs)"));
  const json& outputs = config.at("output_layers");
  // A model with one output may list it as one link rather than a list of links.
  if (!outputs.empty() && outputs[0].is_string()) model.outputs.push_back(link_name(outputs, "(model outputs)"));
  else
    for (const auto& link : outputs) model.outputs.push_back(link_name(link, "(model outputs)"));
  model.layers = ordered(std::move(model.layers));
  return model;
}

inline KerasModel sequential(const json& config) {
  KerasModel model;
  model.class_name = "Sequential";
  const json& entries = config.is_array() ? config : config.at("layers");  // Keras 2.0-2.1 wrote a bare list
  if (entries.empty()) throw Error("the Sequential architecture has no layers");
  std::string previous;
  for (const auto& entry : entries) {
    KerasLayer layer;
    layer.class_name = entry.at("class_name").get<std::string>();
    layer.config = entry.at("config");
    layer.name = layer.config.at("name").get<std::string>();
    if (previous.empty() && layer.class_name != "InputLayer") {
      if (!layer.config.contains("batch_input_shape"))
        throw Error("the Sequential model's first layer '" + layer.name + "' gives no batch_input_shape: the input shape is unknown");
      KerasLayer input;
      input.name = layer.name + "_input";
      input.class_name = "InputLayer";
      input.config = json{{"name", input.name}, {"batch_input_shape", layer.config["batch_input_shape"]}};
      model.inputs.push_back(input.name);
      previous = input.name;
      model.layers.push_back(std::move(input));
    } else if (previous.empty()) {
      model.inputs.push_back(layer.name);
    }
    if (!previous.empty()) layer.inbound.push_back(previous);
    previous = layer.name;
    model.layers.push_back(std::move(layer));
  }
  model.outputs.push_back(previous);
  model.layers = ordered(std::move(model.layers));
  return model;
}

}  // namespace config_detail

/// `source` says where the text came from ("its model_config attribute", "architecture file x").
inline KerasModel parse_architecture(const std::string& text, const std::string& source) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    throw Error("the architecture (" + source + ") is not valid JSON: " + e.what());
  }
  try {
    if (!root.is_object() || !root.contains("class_name") || !root.contains("config"))
      throw Error("the architecture (" + source + ") is not a Keras model config (no class_name and config)");
    const std::string class_name = root["class_name"].get<std::string>();
    if (class_name == "Model" || class_name == "Functional") return config_detail::functional(root["config"], class_name);
    if (class_name == "Sequential") return config_detail::sequential(root["config"]);
    throw Error("the architecture (" + source + ") is a Keras '" + class_name +
                "'; deepjet imports Keras 2 'Model' (functional) and 'Sequential' models");
  } catch (const json::exception& e) {
    throw Error("the architecture (" + source + ") is not a Keras 2 model config as Keras writes it: " + e.what());
  }
}

}  // namespace deepjet::keras::import_detail
