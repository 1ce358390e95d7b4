// deepjet/interchange/onnx/reader.hpp: reading an ONNX file into a model type the user declares.
//
//   using Net = deepjet::zoo::DeepJet;
//   deepjet::onnx::ImportReport report;
//   auto model = deepjet::onnx::import_model<Net>("DeepFlavour.onnx", {.report = &report});
//   auto predictor = deepjet::onnx::import_predictor<Net>("DeepFlavour.onnx");
//
// Contract:
//   - The file is parsed and checked (onnx::checker), its graph lowered to deepjet-level operations
//     in deepjet's layouts (lowering.hpp), and those operations are matched to the layers of Net
//     by following Net's own structure from its inputs: input block i is the i-th graph input that
//     the computation reads; a Sequential follows the data from one layer to the next, Branches
//     sends part i down branch i, Concatenate must join exactly the branches' outputs in order.
//     Layers that are the identity at inference (Dropout, Identity) match nothing.
//   The lowered graph and the matching are format-neutral (interchange/graph/); the Keras reader
//   (interchange/keras/) shares them.
//   - Every computing ONNX node must become a layer of Net, every layer with parameters must come
//     from a node, every initializer must be read, and the graph's outputs must be Net's outputs in
//     order. The first disagreement throws deepjet::FileError whose message starts with the file,
//     names the ONNX node (name, op, shapes) and the deepjet layer (path and signature).
//   - Graph inputs that reach a graph output unchanged (through Identity only) are pass-through:
//     they are not model inputs, and the report lists them (output name, input name).
//   - A BatchNorm whose ONNX epsilon differs from the model type's is imported exactly by moving
//     the difference into running_var (var' = var + eps_onnx - eps_model; noted in the report),
//     unless options.carry_epsilon is false or var' would be negative.
//   - Nothing is written to the model unless the whole import succeeds.
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/interchange/graph/matcher.hpp"
#include "deepjet/interchange/graph/outline.hpp"
#include "deepjet/interchange/onnx/lowering.hpp"
#include "deepjet/models/model.hpp"
#include "deepjet/models/predictor.hpp"

// <sys/mman.h> (included by deepjet's memory-mapped readers) defines MAP_TYPE, a name ONNX's
// parser header uses as an enumerator: hide the macro while the checker's headers are read.
#pragma push_macro("MAP_TYPE")
#undef MAP_TYPE
#include <onnx/checker.h>
#pragma pop_macro("MAP_TYPE")
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace deepjet::onnx {

/// What an import matched: which graph input feeds which model input block, which ONNX node
/// each layer came from, and which outputs merely pass an input through.
struct ImportReport {
  std::string file, producer;
  std::int64_t opset = 0;
  struct Input {
    std::string name;         ///< the graph input
    std::size_t block = 0;    ///< the model's input block it feeds
    std::string onnx_shape;   ///< "[N, 25, 16]"
    std::string layout;       ///< "channels-last (as deepjet)" or how the ONNX layout differs
    /// The meaning of each ONNX axis: 'N' batch, 'P' entries, 'F' features, '1' a unit axis
    /// ("NPF" is deepjet's own layout; MXNet's channels-first lists are "NFP1").
    std::string axes;
  };
  struct Output {
    std::string name;
    std::size_t block = 0;
    std::string onnx_shape;
  };
  using Layer = interchange::MatchedLayer;  ///< a deepjet layer and the ONNX node(s) it came from
  struct PassThrough {
    std::string output, input;  ///< graph output `output` is graph input `input`, unchanged
  };
  std::vector<Input> inputs;
  std::vector<Output> outputs;
  std::vector<Layer> layers;
  std::vector<PassThrough> pass_through;
  std::vector<std::string> unused_inputs;  ///< graph inputs read by nothing
  std::vector<std::string> graph_inputs;   ///< the graph's inputs (initializers aside), in order
  std::vector<std::string> graph_outputs;  ///< the graph's outputs, in order
  std::vector<std::string> notes;          ///< conversions worth knowing (epsilon carried, ...)

  std::string to_string() const {
    std::ostringstream text;
    text << file << ": " << producer << ", ONNX opset " << opset << "\n";
    for (const auto& i : inputs)
      text << "  input block " << i.block << " <- '" << i.name << "' " << i.onnx_shape << " (" << i.layout << ")\n";
    for (const auto& o : outputs) text << "  output block " << o.block << " -> '" << o.name << "' " << o.onnx_shape << "\n";
    for (const auto& p : pass_through) text << "  pass-through output '" << p.output << "' = input '" << p.input << "'\n";
    for (const auto& u : unused_inputs) text << "  unused input '" << u << "'\n";
    for (const auto& l : layers)
      text << "  " << l.path << " " << l.signature << "  <-  " << l.op << " '" << l.node << "' " << l.node_shapes << "\n";
    for (const auto& n : notes) text << "  note: " << n << "\n";
    return text.str();
  }
};

struct ImportOptions {
  /// Filled with what was matched (also when the import fails part-way, up to the failure).
  ImportReport* report = nullptr;
  /// Import a BatchNorm whose epsilon differs from the model type's by moving the difference
  /// into running_var (exact at inference); if false, such a BatchNorm is refused.
  bool carry_epsilon = true;
  /// Run ONNX's own model checker on the file before importing.
  bool check_model = true;
};

namespace import_detail {

using interchange::Matcher;
using interchange::outline;
using interchange::Outline;
using interchange::shape_list;
using interchange::shape_text;

inline ::onnx::ModelProto read_model_proto(const std::filesystem::path& path, bool check) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw FileError(path.string(), "cannot be opened for reading");
  const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (bytes.empty()) throw FileError(path.string(), "is empty, not an ONNX model");
  ::onnx::ModelProto model;
  if (!model.ParseFromString(bytes))
    throw FileError(path.string(), "is not an ONNX model: its protobuf encoding is broken (truncated or corrupt "
                                   "file?), " + std::to_string(bytes.size()) + " bytes");
  if (!model.has_graph() || model.graph().node_size() == 0)
    throw FileError(path.string(), "holds no ONNX graph (truncated or not an ONNX model?)");
  if (check) {
    try {
      ::onnx::checker::check_model(model);
    } catch (const std::exception& e) {
      throw FileError(path.string(), std::string("fails ONNX's model checker: ") + e.what());
    }
  }
  return model;
}

// Whether graph input `name` reaches only graph outputs, through Identity nodes.
inline bool passes_through(const ::onnx::GraphProto& graph, const std::string& name, bool& used) {
  std::set<std::string> same{name};
  bool other_use = false;
  for (const auto& node : graph.node()) {
    for (const auto& in : node.input()) {
      if (!same.count(in)) continue;
      if (node.op_type() == "Identity") same.insert(node.output(0));
      else other_use = true;
    }
  }
  bool reaches_output = false;
  for (const auto& out : graph.output()) reaches_output |= same.count(out.name()) > 0;
  used = other_use || reaches_output;
  return !other_use && reaches_output;
}

// The dims of a graph input; unknown ones (named or missing) as -1.
inline std::vector<std::int64_t> input_dims(const ::onnx::ValueInfoProto& info) {
  std::vector<std::int64_t> dims;
  const auto& shape = info.type().tensor_type().shape();
  for (int i = 0; i < shape.dim_size(); ++i) {
    const auto& d = shape.dim(i);
    dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
  }
  return dims;
}

// The layout of a graph input feeding a block of deepjet shape `shape`: channels-last
// [N, (P,) F]; channels-first [N, F, P] (with an axis of size 1 after or before P: MXNet);
// sequence-first [P, N, F] (ONNX's LSTM, PyTorch's nn.LSTM without batch_first).
inline GraphInputPlan plan_network_input(const ::onnx::ValueInfoProto& info, const std::vector<std::size_t>& shape,
                                         std::size_t block, std::string& layout) {
  GraphInputPlan plan{info.name(), input_dims(info), shape, {}};
  auto& dims = plan.dims;
  auto fits = [&](const std::vector<char>& axes) {
    if (axes.size() != dims.size()) return false;
    for (std::size_t i = 0; i < axes.size(); ++i) {
      if (axes[i] == batch) continue;
      const std::int64_t want = axes[i] == entries ? static_cast<std::int64_t>(shape.front())
                                : axes[i] == features ? static_cast<std::int64_t>(shape.back()) : 1;
      if (dims[i] != want && dims[i] != -1) return false;
    }
    return true;
  };
  std::vector<std::vector<char>> candidates;
  if (shape.size() == 1) {
    candidates = {{batch, features}, {batch, features, unit}, {batch, features, unit, unit}};
  } else {
    candidates = {{batch, entries, features}, {batch, features, entries}, {batch, features, entries, unit},
                  {batch, features, unit, entries}, {batch, entries, features, unit}, {entries, batch, features}};
  }
  const std::string original = dims_text(dims);
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    if (!fits(candidates[c])) continue;
    plan.axes = candidates[c];
    for (std::size_t i = 0; i < dims.size(); ++i)
      if (plan.axes[i] == batch) dims[i] = batch_dimension;
    const std::string onnx = dims_text(dims);
    if (c == 0) layout = "channels-last, as deepjet";
    else if (shape.size() == 1) layout = "flat features with axes of size 1, read as deepjet's flat block";
    else if (plan.axes[0] == entries)
      layout = "sequence-first " + onnx + " in the ONNX file; deepjet's block is " + shape_text(shape) +
               " per sample, batch first: give the model the transposed data";
    else
      layout = "channels-first " + onnx + " in the ONNX file; deepjet's block is " + shape_text(shape) +
               " (entries, features): give the model the transposed data";
    return plan;
  }
  throw Error("graph input '" + info.name() + "' has shape " + original + ", which is not input block " +
              std::to_string(block) + " of the model, " + shape_text(shape) + " (channels-last [N, " +
              (shape.size() == 2 ? "P, F" : "F") + "], channels-first or sequence-first)");
}

inline GraphInputPlan plan_pass_through_input(const ::onnx::ValueInfoProto& info) {
  GraphInputPlan plan{info.name(), input_dims(info), {}, {}};
  const auto& dims = plan.dims;
  if (!dims.empty()) plan.dims[0] = batch_dimension;
  plan.axes.push_back(batch);
  if (dims.size() == 3) {
    plan.shape = {static_cast<std::size_t>(std::max<std::int64_t>(dims[1], 1)), static_cast<std::size_t>(std::max<std::int64_t>(dims[2], 1))};
    plan.axes.push_back(entries);
    plan.axes.push_back(features);
  } else {
    plan.shape = {static_cast<std::size_t>(dims.size() > 1 ? std::max<std::int64_t>(dims[1], 1) : 1)};
    if (dims.size() > 1) plan.axes.push_back(features);
    for (std::size_t i = 2; i < dims.size(); ++i) plan.axes.push_back(unit);
  }
  return plan;
}

template <class Net>
void import_into(const std::filesystem::path& path, std::span<float> parameters, const ImportOptions& options) {
  ImportReport local;
  ImportReport& report = options.report ? *options.report : local;
  report = ImportReport{};
  report.file = path.string();
  const auto model = read_model_proto(path, options.check_model);
  try {
    report.producer = model.producer_name() + " " + model.producer_version();
    for (const auto& o : model.opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx") report.opset = o.version();
    if (report.opset < 6 || report.opset > 18)
      throw Error("uses ONNX opset " + std::to_string(report.opset) + "; deepjet imports opsets 6 to 18");
    const auto& graph = model.graph();
    const Outline net = outline<Net>();
    const auto blocks = shape_list<typename Net::input_shape>::get();

    // Graph inputs: initializers (listed as inputs by old exporters) aside, pass-through ones
    // aside, the rest feed the model's blocks in order.
    std::set<std::string> initializers;
    for (const auto& t : graph.initializer()) initializers.insert(t.name());
    std::vector<GraphInputPlan> plans, pass_plans;
    std::vector<std::string> pass_names;
    for (const auto& info : graph.input())
      if (!initializers.count(info.name())) report.graph_inputs.push_back(info.name());
    for (const auto& info : graph.output()) report.graph_outputs.push_back(info.name());
    for (const auto& info : graph.input()) {
      if (initializers.count(info.name())) continue;
      bool used = false;
      if (passes_through(graph, info.name(), used)) {
        pass_plans.push_back(plan_pass_through_input(info));
        pass_names.push_back(info.name());
        continue;
      }
      if (!used) {
        report.unused_inputs.push_back(info.name());
        continue;
      }
      if (plans.size() == blocks.size())
        throw Error("the graph reads more inputs than the model type's " + std::to_string(blocks.size()) +
                    " input blocks (input '" + info.name() + "' has no block)");
      std::string layout;
      plans.push_back(plan_network_input(info, blocks[plans.size()], plans.size(), layout));
      report.inputs.push_back({info.name(), plans.size() - 1, dims_text(plans.back().dims), layout,
                               std::string(plans.back().axes.begin(), plans.back().axes.end())});
    }
    if (plans.size() != blocks.size())
      throw Error("the graph reads " + std::to_string(plans.size()) + " inputs, the model type takes " +
                  std::to_string(blocks.size()) + " input blocks");
    const std::size_t network_inputs = plans.size();
    plans.insert(plans.end(), pass_plans.begin(), pass_plans.end());

    LayerGraph lowered = Lowering(graph, report.opset, plans).run();
    if (!lowered.unused_weights.empty()) {
      std::string names;
      for (const auto& n : lowered.unused_weights) names += (names.empty() ? "'" : ", '") + n + "'";
      throw Error("initializers " + names + " are read by no node; deepjet consumes every weight or refuses the file");
    }

    std::vector<float> values(parameters.begin(), parameters.end());
    Matcher matcher(lowered, values, report.layers, report.notes, options.carry_epsilon);
    std::vector<int> inputs(network_inputs);
    std::iota(inputs.begin(), inputs.end(), 0);
    const std::vector<int> outputs = matcher.match(net, inputs);
    matcher.check_everything_matched();

    std::size_t next = 0;
    for (const auto& out : lowered.outputs) {
      const LayerOp& op = lowered.ops[static_cast<std::size_t>(out.op)];
      if (op.kind == OpKind::input && op.input_index >= network_inputs) {
        report.pass_through.push_back({out.name, op.graph_input});
        continue;
      }
      if (next >= outputs.size())
        throw Error("graph output '" + out.name + "' (" + matcher.describe(out.op) + ") is not an output of the model type, "
                    "which has " + std::to_string(outputs.size()));
      if (out.op != outputs[next])
        throw Error("graph output '" + out.name + "' is " + matcher.describe(out.op) + ", but the model type's output block " +
                    std::to_string(next) + " is " + matcher.describe(outputs[next]));
      if (!out.canonical)
        throw Error("graph output '" + out.name + "' " + dims_text(out.dims) +
                    " is laid out differently from deepjet's channels-last output; deepjet does not reorder outputs");
      report.outputs.push_back({out.name, next, dims_text(out.dims)});
      ++next;
    }
    if (next != outputs.size())
      throw Error("the model type's output block " + std::to_string(next) + " (" + matcher.describe(outputs[next]) +
                  ") is not a graph output");
    std::copy(values.begin(), values.end(), parameters.begin());
  } catch (const FileError&) {
    throw;
  } catch (const Error& e) {
    throw FileError(path.string(), e.what());
  }
}

}  // namespace import_detail

/// Reads the ONNX file at `path` into a trainable Model<Net> (to fine-tune or to save as a deepjet
/// model file). Throws deepjet::FileError at the first disagreement (see the top of this file).
template <Layer Net>
Model<Net> import_model(const std::filesystem::path& path, const ImportOptions& options = {}) {
  Model<Net> model;
  import_detail::import_into<Net>(path, model.parameters(), options);
  return model;
}

/// Reads the ONNX file at `path` into a Predictor<Net>, the production inference engine.
template <Layer Net>
Predictor<Net> import_predictor(const std::filesystem::path& path, const ImportOptions& options = {}) {
  return Predictor<Net>(import_model<Net>(path, options));
}

}  // namespace deepjet::onnx
