// deepjet/interchange/keras/lowering.hpp: a Keras 2 model (config + weights) as deepjet layers.
//
// Contract: `Lowering(model, weights).run()` turns the layers of a parsed architecture
// (config.hpp), in data-flow order, into a LayerGraph (interchange/graph/layer_graph.hpp) whose
// input operations are the model's InputLayers in input order. Keras stores its weights in deepjet's
// own layouts, so they are copied unchanged (docs/interchange-keras.md has the table):
//   Dense      kernel (in, units), bias (units)               -> Dense weight, bias
//   Conv1D     kernel (k, in, filters), bias (filters)        -> Conv1D weight, bias
//   LSTM       kernel (in, 4u), recurrent_kernel (u, 4u), bias (4u); gates i, f, c, o = deepjet's i, f, g, o
//   GRU        kernel (in, 3u), recurrent_kernel (u, 3u); gates z, r, h = deepjet's;
//              reset_after=False: bias (3u) -> bias; reset_after=True: bias (2, 3u) -> bias, recurrent_bias
//   BatchNormalization gamma, beta, moving_mean, moving_variance (gamma 1 without scale, beta 0
//              without center) -> BatchNorm gamma, beta, running_mean, running_var, with epsilon
// A layer's `activation=` becomes a following activation operation (none for 'linear'), as deepjet
// declares Dense<100>, ReLU. Dropout and SpatialDropout1D (training only), Activation('linear')
// and Flatten of a flat input make no operation. Weights absent by config (use_bias=False) are zeros.
// Refused with deepjet::Error naming the Keras layer (name, class): other layer classes, options
// deepjet's layers do not compute (dilation, causal padding, stateful, return_state, other
// activations, BatchNormalization on another axis, ...), variable-length inputs, weights missing
// or of other dims, weights left over.
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/interchange/graph/layer_graph.hpp"
#include "deepjet/interchange/keras/config.hpp"
#include "deepjet/interchange/keras/weights.hpp"

#include <initializer_list>
#include <map>
#include <string>
#include <vector>

namespace deepjet::keras::import_detail {

using interchange::LayerGraph;
using interchange::LayerOp;
using interchange::OpKind;

/// "[N, 60, 8]": a per-sample shape with the batch axis, as Keras shows shapes.
inline std::string batch_shape_text(const std::vector<std::size_t>& shape) {
  std::string t = "[N";
  for (auto d : shape) t += ", " + std::to_string(d);
  return t + "]";
}

class Lowering {
 public:
  Lowering(const KerasModel& model, const KerasWeights& weights) : model_(model), weights_(weights) {
    graph_.format = "Keras";
    graph_.element = "layer";
  }

  LayerGraph run() {
    // Inputs first, in the model's input order.
    for (std::size_t i = 0; i < model_.inputs.size(); ++i) {
      const KerasLayer* layer = find(model_.inputs[i]);
      if (!layer || layer->class_name != "InputLayer")
        throw Error("model input '" + model_.inputs[i] + "' is not an InputLayer of the architecture");
      try {
        lower_input(*layer, i);
      } catch (const json::exception& e) {
        throw Error(layer->text() + ": its config is not as Keras 2 writes it: " + e.what());
      }
    }
    for (const auto& layer : model_.layers) {
      if (layer.class_name == "InputLayer") {
        if (!output_of_.count(layer.name))
          throw Error(layer.text() + " is not one of the model's inputs (input_layers)");
        continue;
      }
      try {
        lower_layer(layer);
      } catch (const json::exception& e) {
        throw Error(layer.text() + ": its config is not as Keras 2 writes it: " + e.what());
      }
    }
    for (const auto& name : model_.outputs) {
      if (!output_of_.count(name)) throw Error("model output '" + name + "' is not a layer of the architecture");
      const int op = output_of_.at(name);
      std::vector<std::int64_t> dims{-1};
      for (auto d : graph_.ops[static_cast<std::size_t>(op)].shape) dims.push_back(static_cast<std::int64_t>(d));
      graph_.outputs.push_back({name, op, dims, true});
    }
    // Layers the file has weights for that the architecture does not have.
    for (const auto& name : weights_.layer_names())
      if (!find(name) && weights_.layer(name, "Keras layer '" + name + "'").size() > 0)
        graph_.unused_weights.push_back(name);
    return std::move(graph_);
  }

 private:
  const KerasLayer* find(const std::string& name) const {
    for (const auto& l : model_.layers)
      if (l.name == name) return &l;
    return nullptr;
  }

  // ---- helpers -----------------------------------------------------------------------------
  const LayerOp& op_of(int id) const { return graph_.ops[static_cast<std::size_t>(id)]; }
  std::vector<int> inputs_of(const KerasLayer& layer, std::size_t count) const {
    if (count && layer.inbound.size() != count)
      throw Error(layer.text() + " reads " + std::to_string(layer.inbound.size()) + " layers; deepjet's counterpart reads " +
                  std::to_string(count));
    if (layer.inbound.empty()) throw Error(layer.text() + " reads nothing");
    std::vector<int> ids;
    for (const auto& in : layer.inbound) ids.push_back(output_of_.at(in));
    return ids;
  }
  const std::vector<std::size_t>& shape_of(int id) const { return op_of(id).shape; }
  int add(const KerasLayer& layer, LayerOp op, std::vector<int> inputs, const std::string& node_op = "") {
    op.node = layer.name;
    op.node_op = node_op.empty() ? layer.class_name : node_op;
    std::string in;
    for (int i : inputs) in += (in.empty() ? "" : ", ") + batch_shape_text(shape_of(i));
    op.node_shapes = in + " -> " + batch_shape_text(op.shape);
    op.inputs = std::move(inputs);
    graph_.ops.push_back(std::move(op));
    return static_cast<int>(graph_.ops.size()) - 1;
  }
  static std::string str(const json& config, const char* key, const std::string& fallback) {
    return config.contains(key) && config[key].is_string() ? config[key].get<std::string>() : fallback;
  }
  static bool flag(const json& config, const char* key, bool fallback) {
    return config.contains(key) && config[key].is_boolean() ? config[key].get<bool>() : fallback;
  }
  // A Keras size given as a number or a one-element list (kernel_size, strides, dilation_rate).
  static std::size_t size_option(const KerasLayer& layer, const char* key, std::size_t fallback) {
    if (!layer.config.contains(key)) return fallback;
    const json& v = layer.config[key];
    if (v.is_number()) return size_number(v, layer.text() + ": its " + key);
    if (v.is_array() && v.size() == 1) return size_number(v[0], layer.text() + ": its " + key);
    throw Error(layer.text() + ": its " + key + " " + v.dump() + " is not one size (deepjet's Conv1D is one-dimensional)");
  }
  static void require(const KerasLayer& layer, bool ok, const std::string& problem) {
    if (!ok) throw Error(layer.text() + " " + problem);
  }
  // The activation of a layer's `activation=` (or of an Activation layer), after op `id`.
  int activation(const KerasLayer& layer, const std::string& name, int id, const std::string& node_op) {
    static const std::map<std::string, OpKind> kinds{{"relu", OpKind::relu}, {"elu", OpKind::elu}, {"tanh", OpKind::tanh},
                                                     {"sigmoid", OpKind::sigmoid}, {"softmax", OpKind::softmax}};
    if (name == "linear") return id;
    const auto it = kinds.find(name);
    if (it == kinds.end())
      throw Error(layer.text() + " uses activation '" + name + "'; deepjet imports linear, relu, elu, tanh, sigmoid and softmax");
    LayerOp op;
    op.kind = it->second;
    op.shape = shape_of(id);
    return add(layer, op, {id}, node_op + " " + name);
  }
  std::string activation_name(const KerasLayer& layer) const {
    const json& a = layer.config.at("activation");
    if (!a.is_string()) throw Error(layer.text() + " gives its activation as " + a.dump() + ", not a name; deepjet reads Keras 2's names");
    return a.get<std::string>();
  }
  void refuse_regularisers_that_compute(const KerasLayer& layer) const {
    // Options that change what the layer computes at inference and that deepjet has no equivalent for.
    require(layer, !flag(layer.config, "stateful", false), "is stateful (keeps its state between batches); deepjet's layer starts from zeros");
    require(layer, !flag(layer.config, "return_state", false), "returns its states (return_state=True); deepjet's layer gives one output");
    require(layer, !flag(layer.config, "time_major", false), "is time_major; deepjet reads lists batch first");
  }

  // ---- layers ------------------------------------------------------------------------------
  void lower_input(const KerasLayer& layer, std::size_t index) {
    const json& shape = layer.config.at("batch_input_shape");
    LayerOp op;
    op.kind = OpKind::input;
    op.node = layer.name;
    op.node_op = "graph input";
    op.input_index = index;
    op.graph_input = layer.name;
    require(layer, shape.is_array() && shape.size() >= 2 && shape.size() <= 3, "has batch_input_shape " + shape.dump() + "; deepjet needs a batch axis and 1 or 2 more");
    for (std::size_t i = 1; i < shape.size(); ++i) {
      if (shape[i].is_null())
        throw Error(layer.text() + " has batch_input_shape " + shape.dump() +
                    ": a variable length; deepjet's input blocks have fixed shapes (pad the lists to a fixed length)");
      op.shape.push_back(size_number(shape[i], layer.text() + ": a size of its batch_input_shape " + shape.dump()));
    }
    op.node_shapes = batch_shape_text(op.shape);
    graph_.ops.push_back(op);
    output_of_[layer.name] = static_cast<int>(graph_.ops.size()) - 1;
  }

  void lower_layer(const KerasLayer& layer) {
    const std::string& c = layer.class_name;
    LayerWeights weights = weights_.layer(layer.name, layer.text());
    int out = -1;
    if (c == "Dense") out = dense(layer, weights);
    else if (c == "Conv1D") out = conv1d(layer, weights);
    else if (c == "LSTM" || c == "GRU") out = recurrent(layer, weights);
    else if (c == "BatchNormalization") out = batch_norm(layer, weights);
    else if (c == "Dropout" || c == "SpatialDropout1D") out = inputs_of(layer, 1)[0];  // training only
    else if (c == "Activation") out = activation(layer, activation_name(layer), inputs_of(layer, 1)[0], "Activation");
    else if (c == "Flatten") out = flatten(layer);
    else if (c == "Concatenate") out = concatenate(layer);
    else if (c == "Add") out = add_layer(layer);
    else if (c == "GlobalAveragePooling1D") out = pool(layer);
    else
      throw Error(layer.text() + " is not supported: deepjet imports InputLayer, Dense, Conv1D, LSTM, GRU, BatchNormalization, "
                  "Dropout, SpatialDropout1D, Flatten, Concatenate, Add, GlobalAveragePooling1D and Activation");
    weights.finish();
    output_of_[layer.name] = out;
  }

  int dense(const KerasLayer& layer, LayerWeights& weights) {
    const int x = inputs_of(layer, 1)[0];
    const auto& in = shape_of(x);
    require(layer, in.size() == 1, "reads " + batch_shape_text(in) + "; deepjet's Dense reads a flat block (Flatten first)");
    const std::size_t F = in[0], U = size_number(layer.config.at("units"), layer.text() + ": its units");
    LayerOp op;
    op.kind = OpKind::dense;
    op.shape = {U};
    op.parameters = weights.take("kernel", {F, U}, "its input width " + std::to_string(F) + " and units " + std::to_string(U));
    op.parameters.resize(F * U + U, 0.0f);
    if (flag(layer.config, "use_bias", true)) {
      const auto b = weights.take("bias", {U}, "units " + std::to_string(U));
      std::copy(b.begin(), b.end(), op.parameters.begin() + static_cast<std::ptrdiff_t>(F * U));
    }
    return activation(layer, activation_name(layer), add(layer, op, {x}), "Dense activation");
  }

  int conv1d(const KerasLayer& layer, LayerWeights& weights) {
    const int x = inputs_of(layer, 1)[0];
    const auto& in = shape_of(x);
    require(layer, in.size() == 2, "reads " + batch_shape_text(in) + "; deepjet's Conv1D reads a list (entries, features)");
    require(layer, str(layer.config, "data_format", "channels_last") == "channels_last",
            "is channels_first; deepjet's Conv1D is channels-last, as Keras's default");
    require(layer, size_option(layer, "dilation_rate", 1) == 1, "is dilated; deepjet's Conv1D is not");
    require(layer, !layer.config.contains("groups") || whole_number(layer.config["groups"], layer.text() + ": its groups") == 1, "is grouped; deepjet's Conv1D is not");
    const std::string padding = str(layer.config, "padding", "valid");
    require(layer, padding == "valid" || padding == "same", "has padding '" + padding + "'; deepjet's Conv1D pads 'valid' or 'same'");
    const std::size_t L = in[0], C = in[1], F = size_number(layer.config.at("filters"), layer.text() + ": its filters");
    LayerOp op;
    op.kind = OpKind::conv1d;
    op.kernel = size_option(layer, "kernel_size", 1);
    op.stride = size_option(layer, "strides", 1);
    op.padding = padding == "same" ? Padding::same : Padding::valid;
    require(layer, op.kernel >= 1 && op.stride >= 1 && (op.padding == Padding::same || L >= op.kernel),
            "has kernel " + std::to_string(op.kernel) + " and stride " + std::to_string(op.stride) + " for " + std::to_string(L) + " entries");
    op.shape = {op.padding == Padding::same ? (L + op.stride - 1) / op.stride : (L - op.kernel) / op.stride + 1, F};
    op.parameters = weights.take("kernel", {op.kernel, C, F},
                                 "its kernel_size " + std::to_string(op.kernel) + ", " + std::to_string(C) + " input channels and " +
                                     std::to_string(F) + " filters");
    op.parameters.resize(op.kernel * C * F + F, 0.0f);
    op.has_bias = flag(layer.config, "use_bias", true);
    if (op.has_bias) {
      const auto b = weights.take("bias", {F}, std::to_string(F) + " filters");
      std::copy(b.begin(), b.end(), op.parameters.begin() + static_cast<std::ptrdiff_t>(op.kernel * C * F));
    }
    return activation(layer, activation_name(layer), add(layer, op, {x}), "Conv1D activation");
  }

  int recurrent(const KerasLayer& layer, LayerWeights& weights) {
    const bool gru = layer.class_name == "GRU";
    const int x = inputs_of(layer, 1)[0];
    const auto& in = shape_of(x);
    require(layer, in.size() == 2, "reads " + batch_shape_text(in) + "; deepjet's " + layer.class_name + " reads a list (entries, features)");
    refuse_regularisers_that_compute(layer);
    const std::string act = activation_name(layer);
    require(layer, act == "tanh", "uses activation '" + act + "'; deepjet's " + layer.class_name + " uses tanh");
    const std::string gates = str(layer.config, "recurrent_activation", "hard_sigmoid");
    require(layer, gates == "sigmoid" || gates == "hard_sigmoid",
            "uses recurrent_activation '" + gates + "'; deepjet's gates are sigmoid or hard_sigmoid (Keras 2's, clip(0.2 x + 0.5, 0, 1))");
    const std::size_t T = in[0], F = in[1], U = size_number(layer.config.at("units"), layer.text() + ": its units");
    const std::size_t G = (gru ? 3 : 4) * U;
    LayerOp op;
    op.kind = gru ? OpKind::gru : OpKind::lstm;
    op.hard_sigmoid = gates == "hard_sigmoid";
    op.backwards = flag(layer.config, "go_backwards", false);
    op.direction_source = std::string("go_backwards=") + (op.backwards ? "True" : "False");
    const bool sequences = flag(layer.config, "return_sequences", false);
    // Keras gives a backwards layer's steps in the order it computed them (reversed); deepjet keeps
    // the input's order (lstm.hpp), so the next layer would read another sequence.
    require(layer, !(sequences && op.backwards),
            "has go_backwards=True with return_sequences=True: Keras gives the steps reversed, deepjet's layer in the input's "
            "order; a layer reading them would compute something else");
    op.returns_sequence = sequences ? 1 : 0;
    op.shape = sequences ? std::vector<std::size_t>{T, U} : std::vector<std::size_t>{U};
    op.reset_after = gru && flag(layer.config, "reset_after", false);  // absent before Keras 2.1.3: reset before
    op.reset_source = std::string("reset_after=") + (op.reset_after ? "True" : "False");
    const std::string why = "its " + std::to_string(F) + " input features and units " + std::to_string(U);
    op.parameters = weights.take("kernel", {F, G}, why);
    const auto recurrent_kernel = weights.take("recurrent_kernel", {U, G}, why);
    op.parameters.insert(op.parameters.end(), recurrent_kernel.begin(), recurrent_kernel.end());
    const std::size_t biases = op.reset_after ? 2 * G : G;
    if (flag(layer.config, "use_bias", true)) {
      const auto b = op.reset_after ? weights.take("bias", {2, G}, why + " (reset_after=True: input and recurrent bias)")
                                    : weights.take("bias", {G}, why);
      op.parameters.insert(op.parameters.end(), b.begin(), b.end());
    } else {
      op.parameters.resize(op.parameters.size() + biases, 0.0f);
    }
    return add(layer, op, {x});
  }

  int batch_norm(const KerasLayer& layer, LayerWeights& weights) {
    const int x = inputs_of(layer, 1)[0];
    const auto& in = shape_of(x);
    const json& axis_value = layer.config.at("axis");
    const json& axis = axis_value.is_array() && axis_value.size() == 1 ? axis_value[0] : axis_value;
    const long axis_number = whole_number(axis, layer.text() + ": its axis");
    require(layer, axis_number == -1 || axis_number == static_cast<long>(in.size()),
            "normalises axis " + axis_value.dump() + "; deepjet's BatchNorm normalises the features (the last axis)");
    require(layer, !flag(layer.config, "renorm", false), "uses batch renormalisation; deepjet's BatchNorm does not");
    const std::size_t F = in.back();
    LayerOp op;
    op.kind = OpKind::batch_norm;
    op.shape = in;
    op.epsilon = layer.config.at("epsilon").get<double>();
    const std::string why = std::to_string(F) + " features";
    std::vector<float> gamma(F, 1.0f), beta(F, 0.0f);
    if (flag(layer.config, "scale", true)) gamma = weights.take("gamma", {F}, why);
    if (flag(layer.config, "center", true)) beta = weights.take("beta", {F}, why);
    const auto mean = weights.take("moving_mean", {F}, why);
    const auto variance = weights.take("moving_variance", {F}, why);
    for (const std::vector<float>* part : std::initializer_list<const std::vector<float>*>{&gamma, &beta, &mean, &variance}) op.parameters.insert(op.parameters.end(), part->begin(), part->end());
    return add(layer, op, {x});
  }

  int flatten(const KerasLayer& layer) {
    const int x = inputs_of(layer, 1)[0];
    const auto& in = shape_of(x);
    if (in.size() == 1) return x;
    LayerOp op;
    op.kind = OpKind::flatten;
    op.shape = {in[0] * in[1]};
    return add(layer, op, {x});
  }

  int concatenate(const KerasLayer& layer) {
    const auto xs = inputs_of(layer, 0);
    const auto& first = shape_of(xs[0]);
    const long axis = layer.config.contains("axis") ? whole_number(layer.config["axis"], layer.text() + ": its axis") : -1;
    require(layer, axis == -1 || axis == static_cast<long>(first.size()),
            "joins along axis " + std::to_string(axis) + "; deepjet's Concatenate joins the features (the last axis)");
    LayerOp op;
    op.kind = OpKind::concatenate;
    op.shape = first;
    op.shape.back() = 0;
    for (int x : xs) {
      const auto& s = shape_of(x);
      require(layer, s.size() == first.size() && std::equal(s.begin(), s.end() - 1, first.begin()),
              "joins blocks " + batch_shape_text(first) + " and " + batch_shape_text(s) + " that differ in more than their features");
      op.shape.back() += s.back();
    }
    return add(layer, op, xs);
  }

  int add_layer(const KerasLayer& layer) {
    const auto xs = inputs_of(layer, 0);
    for (int x : xs)
      require(layer, shape_of(x) == shape_of(xs[0]), "adds blocks of different shapes; deepjet's Add does not broadcast");
    LayerOp op;
    op.kind = OpKind::add;
    op.shape = shape_of(xs[0]);
    return add(layer, op, xs);
  }

  int pool(const KerasLayer& layer) {
    const int x = inputs_of(layer, 1)[0];
    const auto& in = shape_of(x);
    require(layer, in.size() == 2 && str(layer.config, "data_format", "channels_last") == "channels_last",
            "pools " + batch_shape_text(in) + "; deepjet's GlobalAveragePooling averages a channels-last list over its entries");
    require(layer, !flag(layer.config, "keepdims", false), "keeps the pooled axis (keepdims=True)");
    LayerOp op;
    op.kind = OpKind::global_average_pooling;
    op.shape = {in[1]};
    return add(layer, op, {x});
  }

  const KerasModel& model_;
  const KerasWeights& weights_;
  LayerGraph graph_;
  std::map<std::string, int> output_of_;  // Keras layer -> the operation giving its output
};

}  // namespace deepjet::keras::import_detail
