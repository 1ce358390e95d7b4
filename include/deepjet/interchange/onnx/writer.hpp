// deepjet/interchange/onnx/writer.hpp: write a deepjet model as a standard ONNX file.
//
//   deepjet::onnx::export_model(model, "model.onnx",
//                               {.input_names = {"global", "cpf", "npf", "sv"},
//                                .output_names = {"probabilities"}});
//
// `model` is a Model<Net> or a Predictor<Net>. Needs ONNX's protobuf classes (Debian's libonnx-dev):
// link the CMake target deepjet::onnx.
//
// Contract:
//   - The ONNX graph computes what Predictor<Net>::predict computes, from the same arrays: every
//     input and output keeps deepjet's layout, [N, F] for a flat block and [N, P, F] for a list
//     (channels last), with a dynamic batch axis (dim_param "N"). Inputs are named and ordered as
//     the model's input blocks, outputs as its output heads.
//   - Only standard ai.onnx operators, opset `options.opset` (13 by default; 13 up to the newest
//     opset the linked ONNX library knows). Which operators each layer becomes is in the table at
//     the EmitLayer specialisations below and in docs/interchange-onnx-export.md.
//   - The model's metadata_props hold "deepjet.architecture" (Architecture::signature(), the
//     string model files compare) and "deepjet.version".
//   - The graph is walked at compile time over the model's type: a layer type without an ONNX
//     mapping is a compile error (static_assert in EmitLayer) naming the type.
//   - onnx::checker::check_model runs on the finished model before anything is written; the file
//     is written atomically (core/atomic_file.hpp), so a failure leaves no file and no partial
//     file behind. Errors are deepjet::Error (deepjet::FileError for the file) naming the path.
//   - Parameters are written as they are trained (the training layout, not the Predictor's packed
//     one): BatchNorm stays a BatchNormalization node with its running statistics and epsilon
//     (a per-channel scale and shift to ONNX Runtime, which fuses it into a Conv it follows), so
//     an importer can recover every deepjet tensor from the file.
//
// Layout inside the graph: each intermediate value is tracked with its layout (flat, channels last,
// channels first [N, F, P] as Conv/BatchNormalization/GlobalAveragePool want, or time major
// [P, N, F] as LSTM wants); a Transpose is inserted only where a consumer needs another layout, so
// DeepJet's chains of BatchNorm and convolutions stay channels first between the two transposes at
// their ends.
#pragma once

#include "deepjet/core/atomic_file.hpp"
#include "deepjet/core/error.hpp"
#include "deepjet/core/shape.hpp"
#include "deepjet/core/version.hpp"
#include "deepjet/layers/activation/activation.hpp"
#include "deepjet/layers/conv1d/conv1d.hpp"
#include "deepjet/layers/dense/dense.hpp"
#include "deepjet/layers/layer.hpp"
#include "deepjet/layers/lstm/lstm.hpp"
#include "deepjet/layers/merge/merge.hpp"
#include "deepjet/layers/normalization/batch_norm.hpp"
#include "deepjet/layers/pooling/global_average_pooling.hpp"
#include "deepjet/layers/regularization/dropout.hpp"
#include "deepjet/layers/reshape/flatten.hpp"
#include "deepjet/models/branches.hpp"
#include "deepjet/models/model.hpp"
#include "deepjet/models/predictor.hpp"
#include "deepjet/models/sequential.hpp"

// <sys/mman.h> (pulled in by other headers, e.g. through HDF5) defines MAP_TYPE, a name ONNX's
// parser.h uses as an enumerator: hide the macro while ONNX's headers are read.
#pragma push_macro("MAP_TYPE")
#undef MAP_TYPE
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#pragma pop_macro("MAP_TYPE")

#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace deepjet::onnx {

/// What export_model writes besides the graph.
struct ExportOptions {
  /// One name per input block, in the model's order (DeepJet: global, cpf, npf, sv). Empty: "input"
  /// for a single block, "input_0", "input_1", ... otherwise.
  std::vector<std::string> input_names{};
  /// One name per output (one per head of a model ending in Heads<...>). Empty: "output", or
  /// "output_0", ... for several.
  std::vector<std::string> output_names{};
  /// The ai.onnx opset: 13 (ONNX Runtime 1.8 and newer, CMSSW 12 and newer) or newer.
  int opset = 13;
};

namespace detail {

/// Where each axis of a value sits, as the positions of the canonical axes (batch N = 0,
/// entries P = 1, features F = 2) in the value's dimensions.
enum class Layout { flat, channels_last, channels_first, time_major };

inline std::array<int, 3> canonical_axes(Layout layout) {
  switch (layout) {
    case Layout::channels_first: return {0, 2, 1};  // [N, F, P]
    case Layout::time_major: return {1, 0, 2};      // [P, N, F]
    default: return {0, 1, 2};                      // [N, P, F]
  }
}

/// A value of the graph being built: its name and its layout.
struct Value {
  std::string name;
  Layout layout = Layout::flat;
};
using Values = std::vector<Value>;

/// The ONNX graph under construction: unique names, initializers, nodes, layout conversions.
class GraphBuilder {
 public:
  explicit GraphBuilder(::onnx::GraphProto& graph) : graph_(graph) {}

  /// A name not used before in this graph, derived from `base`.
  std::string unique_name(const std::string& base) {
    std::string name = base;
    for (std::size_t n = 1; !used_names_.insert(name).second; ++n) name = base + "_" + std::to_string(n);
    return name;
  }

  /// A float32 constant (weights), stored as little-endian raw data.
  std::string add_float_initializer(const std::string& base, const std::vector<std::int64_t>& dims,
                                    std::span<const float> values) {
    auto* tensor = graph_.add_initializer();
    const std::string name = unique_name(base);
    tensor->set_name(name);
    tensor->set_data_type(::onnx::TensorProto::FLOAT);
    for (auto d : dims) tensor->add_dims(d);
    tensor->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
    return name;
  }

  /// An int64 constant (axes of Squeeze).
  std::string add_int64_initializer(const std::string& base, const std::vector<std::int64_t>& values) {
    auto* tensor = graph_.add_initializer();
    const std::string name = unique_name(base);
    tensor->set_name(name);
    tensor->set_data_type(::onnx::TensorProto::INT64);
    tensor->add_dims(static_cast<std::int64_t>(values.size()));
    for (auto v : values) tensor->add_int64_data(v);
    return name;
  }

  /// A node `op` reading `inputs` ("" for an omitted optional input) and writing `outputs`.
  ::onnx::NodeProto& add_node(const std::string& op, const std::string& node_name, const std::vector<std::string>& inputs,
                              const std::vector<std::string>& outputs) {
    auto* node = graph_.add_node();
    node->set_op_type(op);
    node->set_name(unique_name(node_name));
    for (const auto& input : inputs) node->add_input(input);
    for (const auto& output : outputs) node->add_output(output);
    return *node;
  }

  /// `value` in layout `target`, through one Transpose unless it is already there (each conversion
  /// of a value is made once, so a value read channels first by two convolutions is transposed once).
  Value in_layout(const Value& value, Layout target, const std::string& path) {
    if (value.layout == target) return value;
    if (value.layout == Layout::flat || target == Layout::flat)
      throw Error("deepjet::onnx::export_model: internal error at layer " + path +
                  ": a flat value cannot change its layout to a list's");
    const auto key = std::make_pair(value.name, target);
    if (auto found = conversions_.find(key); found != conversions_.end()) return {found->second, target};
    // Output axis i holds canonical axis target[i], found at position perm[i] of the input.
    const auto from = canonical_axes(value.layout), to = canonical_axes(target);
    std::vector<std::int64_t> perm(3);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j)
        if (from[j] == to[i]) perm[i] = j;
    static constexpr const char* layout_names[] = {"flat", "channels_last", "channels_first", "time_major"};
    const std::string output = unique_name(value.name + "." + layout_names[static_cast<int>(target)]);
    add_attribute(add_node("Transpose", (path.empty() ? std::string("model") : path) + ".Transpose", {value.name}, {output}), "perm", perm);
    conversions_.emplace(key, output);
    return {output, target};
  }

  static void add_attribute(::onnx::NodeProto& node, const std::string& name, std::int64_t value) {
    auto* a = node.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(value);
  }
  static void add_attribute(::onnx::NodeProto& node, const std::string& name, float value) {
    auto* a = node.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::FLOAT);
    a->set_f(value);
  }
  static void add_attribute(::onnx::NodeProto& node, const std::string& name, const std::string& value) {
    auto* a = node.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::STRING);
    a->set_s(value);
  }
  static void add_attribute(::onnx::NodeProto& node, const std::string& name, const std::vector<std::int64_t>& values) {
    auto* a = node.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INTS);
    for (auto v : values) a->add_ints(v);
  }
  static void add_attribute(::onnx::NodeProto& node, const std::string& name, const std::vector<float>& values) {
    auto* a = node.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::FLOATS);
    for (auto v : values) a->add_floats(v);
  }
  static void add_attribute(::onnx::NodeProto& node, const std::string& name, const std::vector<std::string>& values) {
    auto* a = node.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::STRINGS);
    for (const auto& v : values) a->add_strings(v);
  }

 private:
  ::onnx::GraphProto& graph_;
  std::set<std::string> used_names_;
  std::map<std::pair<std::string, Layout>, std::string> conversions_;
};

/// The name a layer's nodes and tensors carry: its path in the model ("0.1.5.0"), "model" for the
/// whole network when it is a single layer.
inline std::string layer_label(const std::string& path) { return path.empty() ? std::string("model") : path; }
inline std::string child_path(const std::string& path, std::size_t i) {
  return path.empty() ? std::to_string(i) : path + "." + std::to_string(i);
}

/// The single value a leaf layer reads; several where it expects one is an internal error.
inline const Value& single(const Values& in, const std::string& path) {
  if (in.size() != 1)
    throw Error("deepjet::onnx::export_model: internal error at layer " + path + ": expected one input, got " +
                std::to_string(in.size()));
  return in.front();
}

/// Layout of a model input or output of shape S as deepjet stores it.
template <ShapeType S>
constexpr Layout stored_layout() {
  static_assert(S::rank <= 2,
                "deepjet::onnx::export_model writes flat blocks Shape<F> and lists Shape<P, F>; this model "
                "has an input or output of higher rank");
  return S::rank == 1 ? Layout::flat : Layout::channels_last;
}

template <class T>
inline constexpr bool always_false = false;

/// EmitLayer<L>::emit(graph, params, inputs, path) appends the nodes that compute layer L from the
/// values `inputs` with L's parameters `params` (training layout) and returns its output values.
/// Every layer type the exporter knows has a specialisation below; this primary template is the
/// compile error for the others.
template <class L>
struct EmitLayer {
  static_assert(always_false<L>,
                "deepjet::onnx::export_model: this layer type has no ONNX mapping (its type is in the "
                "instantiation below). Known: Sequential/Stack, Branches, Parallel/Heads, Residual, "
                "Concatenate, Add, Identity, Dense, Conv1D, LSTM, BatchNorm, Linear/ReLU/ELU/Tanh/Sigmoid, "
                "Softmax, GlobalAveragePooling, Flatten, Dropout. Add an EmitLayer specialisation in "
                "deepjet/interchange/onnx/writer.hpp.");
  static Values emit(GraphBuilder&, const float*, const Values&, const std::string&) { return {}; }
};

// ---- composites -----------------------------------------------------------------------------

// Sequential / Stack: each layer on the previous one's outputs, paths "<path>.<i>".
template <AnyShape In, class... Specs>
struct EmitLayer<SequentialLayer<In, Specs...>> {
  using L = SequentialLayer<In, Specs...>;
  static Values emit(GraphBuilder& graph, const float* params, const Values& in, const std::string& path) {
    Values values = in;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((values = EmitLayer<typename L::template layer_type<I>>::emit(graph, params + L::parameter_offsets[I], values,
                                                                      child_path(path, I))),
       ...);
    }(std::make_index_sequence<L::depth>{});
    return values;
  }
};

// Parameter offsets of side-by-side children (their parameters follow one another in order).
template <class... Children>
constexpr std::array<std::size_t, sizeof...(Children)> side_by_side_offsets() {
  std::array<std::size_t, sizeof...(Children)> offsets{};
  const std::array<std::size_t, sizeof...(Children)> counts{Children::parameter_count...};
  for (std::size_t i = 1; i < sizeof...(Children); ++i) offsets[i] = offsets[i - 1] + counts[i - 1];
  return offsets;
}

// Branches: child i on input part i.
template <ShapeType... Parts, class... Specs>
struct EmitLayer<BranchesLayer<Shapes<Parts...>, Specs...>> {
  static Values emit(GraphBuilder& graph, const float* params, const Values& in, const std::string& path) {
    if (in.size() != sizeof...(Parts))
      throw Error("deepjet::onnx::export_model: internal error at layer " + path + ": branch count");
    constexpr auto offsets = side_by_side_offsets<bind_t<Specs, Parts>...>();
    Values out;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (append(out, EmitLayer<bind_t<Specs, Parts>>::emit(graph, params + offsets[I], Values{in[I]}, child_path(path, I))),
       ...);
    }(std::make_index_sequence<sizeof...(Parts)>{});
    return out;
  }
  static void append(Values& out, const Values& more) { out.insert(out.end(), more.begin(), more.end()); }
};

// Parallel / Heads (and the two arms of Residual): every child on the same input.
template <ShapeType In, class... Specs>
struct EmitLayer<ParallelLayer<In, Specs...>> {
  static Values emit(GraphBuilder& graph, const float* params, const Values& in, const std::string& path) {
    constexpr auto offsets = side_by_side_offsets<bind_t<Specs, In>...>();
    Values out;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (append(out, EmitLayer<bind_t<Specs, In>>::emit(graph, params + offsets[I], in, child_path(path, I))), ...);
    }(std::make_index_sequence<sizeof...(Specs)>{});
    return out;
  }
  static void append(Values& out, const Values& more) { out.insert(out.end(), more.begin(), more.end()); }
};

// ---- layers without parameters ----------------------------------------------------------------

// Identity (Residual's shortcut) and Dropout (identity at inference): no node.
template <ShapeType S>
struct EmitLayer<IdentityLayer<S>> {
  static Values emit(GraphBuilder&, const float*, const Values& in, const std::string& path) { return {single(in, path)}; }
};
template <ShapeType S, float Rate>
struct EmitLayer<DropoutLayer<S, Rate>> {
  static Values emit(GraphBuilder&, const float*, const Values& in, const std::string& path) { return {single(in, path)}; }
};

// Element-wise activations work in any layout: Relu, Elu(alpha 1), Tanh, Sigmoid; Linear: no node.
template <ShapeType S, class Function>
struct EmitLayer<ActivationLayer<S, Function>> {
  static constexpr const char* op_type() {
    if constexpr (std::is_same_v<Function, kernels::ReluFunction>) return "Relu";
    else if constexpr (std::is_same_v<Function, kernels::EluFunction>) return "Elu";
    else if constexpr (std::is_same_v<Function, kernels::TanhFunction>) return "Tanh";
    else if constexpr (std::is_same_v<Function, kernels::SigmoidFunction>) return "Sigmoid";
    else if constexpr (std::is_same_v<Function, kernels::LinearFunction>) return "";
    else {
      static_assert(always_false<Function>,
                    "deepjet::onnx::export_model: this activation function has no ONNX mapping; add it to "
                    "EmitLayer<ActivationLayer> in deepjet/interchange/onnx/writer.hpp");
      return "";
    }
  }
  static Values emit(GraphBuilder& graph, const float*, const Values& in, const std::string& path) {
    const Value& x = single(in, path);
    constexpr std::string_view op = op_type();
    if constexpr (op.empty()) {
      return {x};
    } else {
      const std::string y = graph.unique_name(layer_label(path) + "." + std::string(op));
      auto& node = graph.add_node(std::string(op), layer_label(path), {x.name}, {y});
      if constexpr (std::is_same_v<Function, kernels::EluFunction>) GraphBuilder::add_attribute(node, "alpha", 1.0f);
      return {{y, x.layout}};
    }
  }
};

// Softmax over the last dimension (the classes; each particle's features for a list): axis -1 of
// the channels-last value (opset 13 Softmax normalises over that one axis).
template <ShapeType S>
struct EmitLayer<SoftmaxLayer<S>> {
  static Values emit(GraphBuilder& graph, const float*, const Values& in, const std::string& path) {
    Value x = single(in, path);
    if (x.layout != Layout::flat) x = graph.in_layout(x, Layout::channels_last, path);
    const std::string y = graph.unique_name(layer_label(path) + ".Softmax");
    GraphBuilder::add_attribute(graph.add_node("Softmax", layer_label(path), {x.name}, {y}), "axis", std::int64_t{-1});
    return {{y, x.layout}};
  }
};

// GlobalAveragePooling: GlobalAveragePool over the entries of the channels-first value [N, F, P]
// gives [N, F, 1]; Flatten(axis 1) makes it the flat [N, F].
template <std::size_t Particles, std::size_t Features>
struct EmitLayer<GlobalAveragePoolingLayer<Particles, Features>> {
  static Values emit(GraphBuilder& graph, const float*, const Values& in, const std::string& path) {
    const Value x = graph.in_layout(single(in, path), Layout::channels_first, path);
    const std::string pooled = graph.unique_name(layer_label(path) + ".GlobalAveragePool");
    graph.add_node("GlobalAveragePool", layer_label(path), {x.name}, {pooled});
    const std::string y = graph.unique_name(layer_label(path) + ".Flatten");
    GraphBuilder::add_attribute(graph.add_node("Flatten", layer_label(path), {pooled}, {y}), "axis", std::int64_t{1});
    return {{y, Layout::flat}};
  }
};

// Flatten: a list becomes one row per sample in deepjet's order (entry-major, channels last), so
// the channels-last value is flattened from axis 1. A flat input is already flat: no node.
template <ShapeType S>
struct EmitLayer<FlattenLayer<S>> {
  static Values emit(GraphBuilder& graph, const float*, const Values& in, const std::string& path) {
    const Value& x = single(in, path);
    if (x.layout == Layout::flat) return {x};
    const Value list = graph.in_layout(x, Layout::channels_last, path);
    const std::string y = graph.unique_name(layer_label(path) + ".Flatten");
    GraphBuilder::add_attribute(graph.add_node("Flatten", layer_label(path), {list.name}, {y}), "axis", std::int64_t{1});
    return {{y, Layout::flat}};
  }
};

// Position of the feature axis of a value in `layout`.
inline std::int64_t feature_axis(Layout layout) {
  if (layout == Layout::flat) return 1;
  const auto axes = canonical_axes(layout);
  for (int i = 0; i < 3; ++i)
    if (axes[i] == 2) return i;
  return 2;
}

// Concatenate: Concat along the features, in the layout of the first part (the others are brought
// to it), so chains that are channels first stay so.
template <ShapeType... Parts>
struct EmitLayer<ConcatenateLayer<Shapes<Parts...>>> {
  static Values emit(GraphBuilder& graph, const float*, const Values& in, const std::string& path) {
    if (in.size() != sizeof...(Parts) || in.empty())
      throw Error("deepjet::onnx::export_model: internal error at layer " + path + ": part count");
    const Layout layout = in.front().layout;
    std::vector<std::string> names;
    for (const auto& part : in) names.push_back(graph.in_layout(part, layout, path).name);
    const std::string y = graph.unique_name(layer_label(path) + ".Concat");
    GraphBuilder::add_attribute(graph.add_node("Concat", layer_label(path), names, {y}), "axis", feature_axis(layout));
    return {{y, layout}};
  }
};

// Add: a chain of Add nodes, left to right as deepjet sums, in the first part's layout.
template <ShapeType S, ShapeType... Rest>
struct EmitLayer<AddLayer<Shapes<S, Rest...>>> {
  static Values emit(GraphBuilder& graph, const float*, const Values& in, const std::string& path) {
    if (in.size() != 1 + sizeof...(Rest))
      throw Error("deepjet::onnx::export_model: internal error at layer " + path + ": part count");
    Value sum = in.front();
    for (std::size_t i = 1; i < in.size(); ++i) {
      const Value term = graph.in_layout(in[i], sum.layout, path);
      const std::string y = graph.unique_name(layer_label(path) + ".Add");
      graph.add_node("Add", layer_label(path), {sum.name, term.name}, {y});
      sum = {y, sum.layout};
    }
    return {sum};
  }
};

// ---- layers with parameters ---------------------------------------------------------------------

// Dense: Gemm(x, W, b) with W as deepjet stores it, (in, out), so transB = 0.
template <std::size_t In, std::size_t Units>
struct EmitLayer<DenseLayer<In, Units>> {
  using L = DenseLayer<In, Units>;
  static Values emit(GraphBuilder& graph, const float* params, const Values& in, const std::string& path) {
    const Value& x = single(in, path);
    const std::string label = layer_label(path);
    const std::string w = graph.add_float_initializer(label + ".weight", {In, Units}, {params + L::weight_offset, In * Units});
    const std::string b = graph.add_float_initializer(label + ".bias", {Units}, {params + L::bias_offset, Units});
    const std::string y = graph.unique_name(label + ".Gemm");
    graph.add_node("Gemm", label, {x.name, w, b}, {y});
    return {{y, Layout::flat}};
  }
};

/// Zero rows a Conv1D layer reads after the last entry: the layer's own padding_after where it
/// states one, otherwise what its output length implies (output row o reads input rows up to
/// o * Stride + KernelSize - 1 - padding_before). Either way ONNX's output length
/// floor((P + before + after - K) / S) + 1 is checked against the layer's at compile time.
template <class L, std::size_t Length, std::size_t KernelSize, std::size_t Stride>
constexpr std::size_t conv_padding_after() {
  if constexpr (requires { L::padding_after; }) {
    return L::padding_after;
  } else {
    const std::size_t reach = (L::output_length - 1) * Stride + KernelSize;
    return reach > Length + L::padding_before ? reach - Length - L::padding_before : 0;
  }
}

// Conv1D: Conv on the channels-first value [N, C, P] with W transposed from deepjet's (K, C, F) to
// ONNX's (F, C, K); the padding is the layer's own numbers before and after, so every padding mode
// of Conv1D (valid, same, and any later one that states padding_before / padding_after) maps.
template <std::size_t Length, std::size_t Channels, std::size_t Filters, std::size_t KernelSize, std::size_t Stride,
          Padding PaddingMode, bool UseBias>
struct EmitLayer<Conv1DLayer<Length, Channels, Filters, KernelSize, Stride, PaddingMode, UseBias>> {
  using L = Conv1DLayer<Length, Channels, Filters, KernelSize, Stride, PaddingMode, UseBias>;
  static constexpr std::size_t pad_before = L::padding_before;
  static constexpr std::size_t pad_after = conv_padding_after<L, Length, KernelSize, Stride>();
  static_assert((Length + pad_before + pad_after - KernelSize) / Stride + 1 == L::output_length,
                "deepjet::onnx::export_model: this Conv1D's output length is not the one ONNX's Conv gives "
                "with its padding; its padding mode needs its own mapping in writer.hpp");

  static Values emit(GraphBuilder& graph, const float* params, const Values& in, const std::string& path) {
    const Value x = graph.in_layout(single(in, path), Layout::channels_first, path);
    const std::string label = layer_label(path);
    std::vector<float> weight(KernelSize * Channels * Filters);
    for (std::size_t k = 0; k < KernelSize; ++k)
      for (std::size_t c = 0; c < Channels; ++c)
        for (std::size_t f = 0; f < Filters; ++f)
          weight[(f * Channels + c) * KernelSize + k] = params[L::weight_offset + (k * Channels + c) * Filters + f];
    std::vector<std::string> inputs{x.name, graph.add_float_initializer(label + ".weight", {Filters, Channels, KernelSize}, weight)};
    if constexpr (UseBias) inputs.push_back(graph.add_float_initializer(label + ".bias", {Filters}, {params + L::bias_offset, Filters}));
    const std::string y = graph.unique_name(label + ".Conv");
    auto& node = graph.add_node("Conv", label, inputs, {y});
    GraphBuilder::add_attribute(node, "kernel_shape", std::vector<std::int64_t>{KernelSize});
    GraphBuilder::add_attribute(node, "strides", std::vector<std::int64_t>{Stride});
    GraphBuilder::add_attribute(node, "pads", std::vector<std::int64_t>{pad_before, pad_after});
    return {{y, Layout::channels_first}};
  }
};

// BatchNorm: BatchNormalization in inference form (running mean and variance, epsilon) on the
// channels-first value (features on axis 1, as ONNX wants), or on a flat [N, F] directly.
template <ShapeType S, float Momentum, float Epsilon>
struct EmitLayer<BatchNormLayer<S, Momentum, Epsilon>> {
  using L = BatchNormLayer<S, Momentum, Epsilon>;
  static Values emit(GraphBuilder& graph, const float* params, const Values& in, const std::string& path) {
    Value x = single(in, path);
    if (x.layout != Layout::flat) x = graph.in_layout(x, Layout::channels_first, path);
    const std::string label = layer_label(path);
    constexpr std::size_t F = L::features;
    const std::vector<std::int64_t> dims{F};
    const std::string gamma = graph.add_float_initializer(label + ".gamma", dims, {params + L::gamma_offset, F});
    const std::string beta = graph.add_float_initializer(label + ".beta", dims, {params + L::beta_offset, F});
    const std::string mean = graph.add_float_initializer(label + ".running_mean", dims, {params + L::running_mean_offset, F});
    const std::string var = graph.add_float_initializer(label + ".running_var", dims, {params + L::running_var_offset, F});
    const std::string y = graph.unique_name(label + ".BatchNormalization");
    GraphBuilder::add_attribute(graph.add_node("BatchNormalization", label, {x.name, gamma, beta, mean, var}, {y}), "epsilon",
                                Epsilon);
    return {{y, x.layout}};
  }
};

// LSTM: ONNX LSTM on the time-major value [P, N, F]. deepjet's kernel (F, 4H) and recurrent kernel
// (H, 4H) have gate blocks i, f, g(c), o (Keras); ONNX's W (1, 4H, F) and R (1, 4H, H) are
// transposed with blocks i, o, f, c. deepjet's single bias goes into ONNX's Wb half, Rb is zero.
// backwards -> direction "reverse" (ONNX stores a reverse direction's Y at the entry it read, as
// deepjet does); hard_sigmoid_gates -> activations HardSigmoid(alpha 0.2, beta 0.5), Tanh, Tanh.
// The layer's output is Y_h squeezed to [N, H], or Y [P, 1, N, H] squeezed to the time-major [P, N, H].
template <std::size_t T, std::size_t F, std::size_t H, Direction direction, bool ReturnSequences,
          GateActivation gate_activation>
struct EmitLayer<LSTMLayer<T, F, H, direction, ReturnSequences, gate_activation>> {
  using L = LSTMLayer<T, F, H, direction, ReturnSequences, gate_activation>;
  static constexpr std::size_t G = 4 * H;
  /// deepjet's gate block for ONNX's gate block g (i, o, f, c).
  static constexpr std::array<std::size_t, 4> deepjet_gate_of_onnx_gate{0, 3, 1, 2};

  static Values emit(GraphBuilder& graph, const float* params, const Values& in, const std::string& path) {
    const Value x = graph.in_layout(single(in, path), Layout::time_major, path);
    const std::string label = layer_label(path);
    std::vector<float> w(G * F), r(G * H), b(2 * G, 0.0f);
    for (std::size_t g = 0; g < 4; ++g) {
      const std::size_t from = deepjet_gate_of_onnx_gate[g] * H;
      for (std::size_t h = 0; h < H; ++h) {
        const std::size_t row = g * H + h;
        for (std::size_t f = 0; f < F; ++f) w[row * F + f] = params[L::kernel_offset + f * G + from + h];
        for (std::size_t k = 0; k < H; ++k) r[row * H + k] = params[L::recurrent_kernel_offset + k * G + from + h];
        b[row] = params[L::bias_offset + from + h];
      }
    }
    const std::string w_name = graph.add_float_initializer(label + ".W", {1, G, F}, w);
    const std::string r_name = graph.add_float_initializer(label + ".R", {1, G, H}, r);
    const std::string b_name = graph.add_float_initializer(label + ".B", {1, 2 * G}, b);
    const std::string y = ReturnSequences ? graph.unique_name(label + ".Y") : std::string();
    const std::string y_h = ReturnSequences ? std::string() : graph.unique_name(label + ".Y_h");
    std::vector<std::string> outputs{y};
    if (!ReturnSequences) outputs.push_back(y_h);
    auto& node = graph.add_node("LSTM", label, {x.name, w_name, r_name, b_name}, outputs);
    GraphBuilder::add_attribute(node, "hidden_size", std::int64_t{H});
    GraphBuilder::add_attribute(node, "direction", std::string(direction == Direction::backwards ? "reverse" : "forward"));
    if constexpr (gate_activation == GateActivation::hard_sigmoid) {
      GraphBuilder::add_attribute(node, "activations", std::vector<std::string>{"HardSigmoid", "Tanh", "Tanh"});
      // Consumed in the order of the activations that take them: only HardSigmoid does.
      GraphBuilder::add_attribute(node, "activation_alpha", std::vector<float>{0.2f});
      GraphBuilder::add_attribute(node, "activation_beta", std::vector<float>{0.5f});
    }
    // Squeeze the num_directions axis (1 of Y, 0 of Y_h); opset 13 takes the axes as an input.
    const std::string axes = graph.add_int64_initializer(label + ".squeeze_axes", {ReturnSequences ? 1 : 0});
    const std::string squeezed = graph.unique_name(label + (ReturnSequences ? ".sequence" : ".state"));
    graph.add_node("Squeeze", label, {ReturnSequences ? y : y_h, axes}, {squeezed});
    return {{squeezed, ReturnSequences ? Layout::time_major : Layout::flat}};
  }
};

// ---- the model --------------------------------------------------------------------------------

template <class S>
struct shape_parts {
  using type = std::tuple<S>;
};
template <class... Parts>
struct shape_parts<Shapes<Parts...>> {
  using type = std::tuple<Parts...>;
};
template <AnyShape S>
inline constexpr std::size_t part_count = std::tuple_size_v<typename shape_parts<S>::type>;

inline std::vector<std::string> names_or_defaults(const std::vector<std::string>& given, std::size_t count,
                                                  const std::string& base, const char* what) {
  if (given.empty()) {
    if (count == 1) return {base};
    std::vector<std::string> names;
    for (std::size_t i = 0; i < count; ++i) names.push_back(base + "_" + std::to_string(i));
    return names;
  }
  if (given.size() != count)
    throw Error(std::string("deepjet::onnx::export_model: ") + std::to_string(given.size()) + " " + what +
                " names given, the model has " + std::to_string(count));
  return given;
}

/// A graph input or output of deepjet shape S: float, [N, dims...] with the batch dynamic.
template <ShapeType S>
void describe_value(::onnx::ValueInfoProto& info, const std::string& name) {
  info.set_name(name);
  auto* tensor = info.mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(::onnx::TensorProto::FLOAT);
  auto* shape = tensor->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (auto d : S::dims) shape->add_dim()->set_dim_value(static_cast<std::int64_t>(d));
}

/// The newest ai.onnx opset the linked ONNX library (its checker) knows.
inline int newest_known_opset() {
  return ::onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map().at(::onnx::ONNX_DOMAIN).second;
}

/// The whole ModelProto for network Net with `parameters` (training layout), checked.
template <Layer Net>
::onnx::ModelProto build_model(std::span<const float> parameters, const ExportOptions& options) {
  using In = typename Net::input_shape;
  using Out = typename Net::output_shape;
  if (parameters.size() != Net::parameter_count)
    throw Error("deepjet::onnx::export_model: " + std::to_string(parameters.size()) + " parameters given, the network has " +
                std::to_string(Net::parameter_count));
  if (options.opset < 13 || options.opset > newest_known_opset())
    throw Error("deepjet::onnx::export_model: opset " + std::to_string(options.opset) + " is not supported: 13 to " +
                std::to_string(newest_known_opset()) + " (the newest the linked ONNX library checks)");
  const auto input_names = names_or_defaults(options.input_names, part_count<In>, "input", "input");
  const auto output_names = names_or_defaults(options.output_names, part_count<Out>, "output", "output");
  {
    std::set<std::string> seen;
    for (const auto* names : {&input_names, &output_names})
      for (const auto& name : *names)
        if (name.empty() || !seen.insert(name).second)
          throw Error("deepjet::onnx::export_model: input and output names must be non-empty and distinct; '" + name +
                      "' is not");
  }

  ::onnx::ModelProto model;
  model.set_ir_version(::onnx::IR_VERSION);
  model.set_producer_name("deepjet");
  model.set_producer_version(deepjet::version);
  model.set_domain("deepjet");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(options.opset);
  Architecture architecture;
  Net::describe(architecture, "", 0);
  auto* signature = model.add_metadata_props();
  signature->set_key("deepjet.architecture");
  signature->set_value(architecture.signature());
  auto* version = model.add_metadata_props();
  version->set_key("deepjet.version");
  version->set_value(deepjet::version);

  auto& graph = *model.mutable_graph();
  graph.set_name("deepjet");
  GraphBuilder builder(graph);
  for (const auto& name : input_names) builder.unique_name(name);
  for (const auto& name : output_names) builder.unique_name(name);

  Values inputs;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((describe_value<std::tuple_element_t<I, typename shape_parts<In>::type>>(*graph.add_input(), input_names[I]),
      inputs.push_back({input_names[I], stored_layout<std::tuple_element_t<I, typename shape_parts<In>::type>>()})),
     ...);
  }(std::make_index_sequence<part_count<In>>{});

  const Values outputs = EmitLayer<Net>::emit(builder, parameters.data(), inputs, "");
  if (outputs.size() != part_count<Out>)
    throw Error("deepjet::onnx::export_model: internal error: the graph has " + std::to_string(outputs.size()) +
                " outputs, the model " + std::to_string(part_count<Out>));

  // Each output in deepjet's layout under the user's name (Identity: ONNX Runtime removes it).
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((describe_value<std::tuple_element_t<I, typename shape_parts<Out>::type>>(*graph.add_output(), output_names[I])), ...);
  }(std::make_index_sequence<part_count<Out>>{});
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    Value y = outputs[i];
    if (y.layout != Layout::flat) y = builder.in_layout(y, Layout::channels_last, "output." + output_names[i]);
    builder.add_node("Identity", "output." + output_names[i], {y.name}, {output_names[i]});
  }
  return model;
}

}  // namespace detail

/// Writes network Net with `parameters` (Model::parameters(), the training layout) as the ONNX
/// file `path` (see the top of this file). Throws deepjet::Error, leaving no file, on failure.
template <Layer Net>
void export_parameters(std::span<const float> parameters, const std::filesystem::path& path,
                       const ExportOptions& options = {}) {
  ::onnx::ModelProto model;
  try {
    model = detail::build_model<Net>(parameters, options);
  } catch (const Error& error) {
    throw Error(path.string() + ": " + error.what());
  }
  try {
    ::onnx::checker::check_model(model);
  } catch (const std::exception& error) {
    throw Error(path.string() + ": deepjet::onnx::export_model: the ONNX checker rejects the graph written (a bug in "
                "the exporter): " + error.what());
  }
  if (model.ByteSizeLong() > static_cast<std::size_t>(INT_MAX))
    throw FileError(path.string(), "deepjet::onnx::export_model: the model exceeds protobuf's 2 GB (external data is "
                                   "not supported)");
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw FileError(path.string(), "deepjet::onnx::export_model: cannot serialise the model");

  AtomicFile file(path);
  {
    std::ofstream out(file.temporary_path(), std::ios::binary | std::ios::trunc);
    if (!out)
      throw FileError(path.string(), "cannot open for writing (temporary file " + file.temporary_path().string() +
                                         "): " + std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) throw FileError(path.string(), "cannot write the ONNX model (is the disk full?)");
  }
  file.commit();
}

/// Writes a trained model as an ONNX file (see the top of this file).
template <Layer Net>
void export_model(const Model<Net>& model, const std::filesystem::path& path, const ExportOptions& options = {}) {
  export_parameters<Net>(model.parameters(), path, options);
}

/// Writes the model a Predictor runs as an ONNX file (see the top of this file).
template <Layer Net>
void export_model(const Predictor<Net>& predictor, const std::filesystem::path& path, const ExportOptions& options = {}) {
  export_parameters<Net>(predictor.parameters(), path, options);
}

}  // namespace deepjet::onnx
