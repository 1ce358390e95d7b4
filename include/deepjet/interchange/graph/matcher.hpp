// deepjet/interchange/graph/matcher.hpp: matching a lowered foreign graph to a model type.
//
// Contract: Matcher walks a model type's Outline (outline.hpp) beside a LayerGraph
// (layer_graph.hpp), starting from the graph's input operations in block order: a chain follows
// the data from one layer to the next, Branches sends part i down branch i, Parallel sends the
// whole input to each child, Concatenate must join exactly the branches' outputs in order. Layers
// that are the identity at inference (Dropout, Identity, Linear, Flatten of a flat block) match
// nothing. Each matched layer's parameters are copied into the flat array at the layer's offset.
// The first disagreement (another kind of operation, other shapes, another kernel/stride/padding,
// direction, gate activation, output kind, GRU reset convention, parameter count) throws
// deepjet::Error naming the foreign node or layer (LayerGraph::format and element, its name, type
// and shapes) and the deepjet layer (path and signature); the caller prefixes the file.
// A BatchNorm whose epsilon differs from the layer's is imported exactly by moving the difference
// into running_var (var' = var + eps_file - eps_model; a note says so) when carry_epsilon is set
// and var' stays non-negative; otherwise it is refused.
// check_everything_matched() then refuses operations no layer took.
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/interchange/graph/layer_graph.hpp"
#include "deepjet/interchange/graph/outline.hpp"

#include <algorithm>
#include <span>
#include <string>
#include <vector>

namespace deepjet::interchange {

/// Where a convolution's windows fall: zero rows before the first entry and output length, for a
/// list of `length` entries. Two padding modes with the same geometry compute the same layer
/// (kernel 1 pads nothing in any mode; with stride 1 and an odd kernel 'same' and 'symmetric' pad
/// (K - 1) / 2 rows on each side), so a file may state either.
struct ConvGeometry {
  std::size_t before = 0, output_length = 0;
  friend bool operator==(const ConvGeometry&, const ConvGeometry&) = default;
};
inline ConvGeometry conv_geometry(Padding padding, std::size_t length, std::size_t kernel, std::size_t stride) {
  switch (padding) {
    case Padding::same: {
      const std::size_t out = (length + stride - 1) / stride;
      const std::size_t reach = (out - 1) * stride + kernel;
      return {(reach > length ? reach - length : 0) / 2, out};
    }
    case Padding::symmetric: {
      const std::size_t p = (kernel - 1) / 2;
      return {p, length + 2 * p >= kernel ? (length + 2 * p - kernel) / stride + 1 : 0};
    }
    case Padding::valid: break;
  }
  return {0, length >= kernel ? (length - kernel) / stride + 1 : 0};
}

/// One matched layer, for import reports.
struct MatchedLayer {
  std::string path, signature;  ///< the deepjet layer
  std::string node, op;         ///< the foreign node(s) or layer it came from ("MatMul+Add", "GRU")
  std::string node_shapes;      ///< "[N, 265] -> [N, 200]"
};

class Matcher {
 public:
  /// `parameters` is the model's flat parameter array (written layer by layer as they match: pass a
  /// copy and commit it only when everything matched); `layers` and `notes` receive the report.
  Matcher(LayerGraph& graph, std::span<float> parameters, std::vector<MatchedLayer>& layers,
          std::vector<std::string>& notes, bool carry_epsilon)
      : graph_(graph), parameters_(parameters), layers_(layers), notes_(notes), carry_epsilon_(carry_epsilon),
        claimed_(graph.ops.size(), 0), consumers_(graph.ops.size()) {
    for (std::size_t i = 0; i < graph.ops.size(); ++i)
      for (int in : graph.ops[i].inputs) consumers_[static_cast<std::size_t>(in)].push_back(static_cast<int>(i));
  }

  std::vector<int> match(const Outline& n, const std::vector<int>& in) {
    switch (n.kind) {
      case Outline::Kind::chain: {
        std::vector<int> v = in;
        for (const auto& child : n.children) v = match(child, v);
        return v;
      }
      case Outline::Kind::branches: {
        std::vector<int> out;
        for (std::size_t i = 0; i < n.children.size(); ++i) {
          auto part = match(n.children[i], {in.at(i)});
          out.insert(out.end(), part.begin(), part.end());
        }
        return out;
      }
      case Outline::Kind::parallel: {
        std::vector<int> out;
        for (const auto& child : n.children) {
          auto part = match(child, in);
          out.insert(out.end(), part.begin(), part.end());
        }
        return out;
      }
      case Outline::Kind::leaf: return {match_leaf(n, in)};
    }
    return {};
  }

  std::string describe(int op) const {
    const LayerOp& o = graph_.ops[static_cast<std::size_t>(op)];
    if (o.kind == OpKind::input) return "graph input '" + o.node + "' " + o.node_shapes;
    return graph_.format + " " + graph_.element + " '" + o.node + "' (" + o.node_op + ", " + o.node_shapes + ")";
  }

  // After the model: every operation matched.
  void check_everything_matched() const {
    for (std::size_t i = 0; i < graph_.ops.size(); ++i) {
      const LayerOp& op = graph_.ops[i];
      if (op.kind == OpKind::input || claimed_[i]) continue;
      throw Error(describe(static_cast<int>(i)) + " computes " + kind_name(op.kind) + " (on " +
                  (op.inputs.empty() ? std::string("nothing") : describe(op.inputs[0])) +
                  "), which no layer of the model type does: the model has fewer layers or another structure");
    }
  }

 private:
  [[noreturn]] void disagree(int op, const Outline& layer, const std::string& problem) const {
    throw Error(describe(op) + " does not match deepjet layer " + layer.text() + ": " + problem);
  }

  bool same_inputs(const LayerOp& op, const std::vector<int>& in) const {
    if (op.kind == OpKind::add) {
      auto a = op.inputs, b = in;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      return a == b;
    }
    return op.inputs == in;
  }

  int match_leaf(const Outline& layer, const std::vector<int>& in) {
    // Layers that compute nothing at inference have no node.
    if (layer.identity_at_inference || layer.layer_kind == "Linear" ||
        (layer.layer_kind == "Flatten" && layer.input_shapes.at(0).size() == 1)) {
      if (in.size() != 1) throw Error("deepjet layer " + layer.text() + " takes several parts; cannot import");
      return in[0];
    }
    // The operation reading exactly these inputs, first of the right kind in data-flow order.
    std::vector<int> readers;
    for (int i : in)
      for (int c : consumers_[static_cast<std::size_t>(i)])
        if (!claimed_[static_cast<std::size_t>(c)] && same_inputs(graph_.ops[static_cast<std::size_t>(c)], in) &&
            std::find(readers.begin(), readers.end(), c) == readers.end())
          readers.push_back(c);
    std::sort(readers.begin(), readers.end());
    // Among several of the right kind (parallel heads), the first whose output shape fits.
    int chosen = -1;
    for (int c : readers) {
      const LayerOp& candidate = graph_.ops[static_cast<std::size_t>(c)];
      if (kind_name(candidate.kind) != layer.layer_kind) continue;
      if (chosen < 0) chosen = c;
      if (candidate.shape == layer.output_shapes.at(0)) {
        chosen = c;
        break;
      }
    }
    if (chosen < 0) {
      std::string inputs;
      for (int i : in) inputs += (inputs.empty() ? "" : ", ") + describe(i);
      if (!readers.empty())
        disagree(readers.front(), layer, "the " + graph_.format + " graph computes " + kind_name(graph_.ops[static_cast<std::size_t>(readers.front())].kind) +
                                             " where the model type has " + layer.layer_kind);
      std::string others;
      std::vector<int> told;  // an operation reading several of the inputs is named once
      for (int i : in)
        for (int c : consumers_[static_cast<std::size_t>(i)])
          if (!claimed_[static_cast<std::size_t>(c)] && std::find(told.begin(), told.end(), c) == told.end()) {
            told.push_back(c);
            others += "; it feeds " + describe(c);
          }
      throw Error("deepjet layer " + layer.text() + " has no counterpart in the " + graph_.format + " graph: nothing there computes " +
                  layer.layer_kind + " from " + inputs + (others.empty() ? " (the graph does nothing more with it)" : others));
    }
    LayerOp& op = graph_.ops[static_cast<std::size_t>(chosen)];
    // Shapes.
    std::vector<std::vector<std::size_t>> op_inputs;
    for (int i : op.inputs) op_inputs.push_back(graph_.ops[static_cast<std::size_t>(i)].shape);
    if (op.kind == OpKind::add && op_inputs.size() == layer.input_shapes.size()) op_inputs = layer.input_shapes;  // order-free
    if (op_inputs != layer.input_shapes || op.shape != layer.output_shapes.at(0)) {
      std::string a, b;
      for (const auto& s : op_inputs) a += (a.empty() ? "" : ", ") + shape_text(s);
      for (const auto& s : layer.input_shapes) b += (b.empty() ? "" : ", ") + shape_text(s);
      disagree(chosen, layer, "the " + graph_.format + " " + graph_.element + " maps " + a + " -> " + shape_text(op.shape) + ", the layer " + b + " -> " +
                                  shape_text(layer.output_shapes.at(0)));
    }
    std::vector<float> values = op.parameters;
    switch (op.kind) {
      case OpKind::conv1d:
        // Paddings with the same geometry are the same layer (conv_geometry): e.g. Keras's
        // Conv1D(k=1, padding='same') is exported without pads, and an ONNX file's pads [1, 1] on a
        // stride-1 kernel-3 convolution are both 'same' and 'symmetric'.
        if (op.kernel != layer.kernel || op.stride != layer.stride ||
            (op.padding != layer.padding &&
             conv_geometry(op.padding, layer.input_shapes.at(0).at(0), op.kernel, op.stride) !=
                 conv_geometry(layer.padding, layer.input_shapes.at(0).at(0), layer.kernel, layer.stride)))
          disagree(chosen, layer, "the " + graph_.format + " convolution has kernel " + std::to_string(op.kernel) + ", stride " +
                                      std::to_string(op.stride) + ", " + std::string(padding_name(op.padding)) + " padding");
        if (!layer.use_bias) {
          if (op.has_bias) disagree(chosen, layer, "the " + graph_.format + " convolution has a bias, the layer none");
          values.resize(values.size() - op.shape.back());
        } else if (!op.has_bias) {
          notes_.push_back("layer " + layer.path + ": the " + graph_.format + " convolution '" + op.node + "' has no bias; imported with zeros");
        }
        break;
      case OpKind::lstm:
      case OpKind::gru: {
        const std::string foreign_kind = kind_name(op.kind);
        if (op.returns_sequence < 0) disagree(chosen, layer, "nothing in the graph reads this " + foreign_kind + "'s output");
        if (op.backwards != layer.backwards)
          disagree(chosen, layer, "the " + graph_.format + " " + foreign_kind + " reads the list " + (op.backwards ? "backwards" : "forwards") +
                                      " (" + op.direction_source + "), the layer " +
                                      (layer.backwards ? "backwards" : "forwards"));
        if (op.hard_sigmoid != layer.hard_sigmoid)
          disagree(chosen, layer, "the " + graph_.format + " " + foreign_kind + "'s gates use " + (op.hard_sigmoid ? "HardSigmoid" : "Sigmoid") +
                                      ", the layer's " + (layer.hard_sigmoid ? "hard_sigmoid" : "sigmoid") +
                                      " (declare the layer with" + (op.hard_sigmoid ? "" : "out") + " deepjet::hard_sigmoid_gates)");
        if ((op.returns_sequence == 1) != layer.returns_sequence)
          disagree(chosen, layer, "the graph reads the " + foreign_kind + "'s " + (op.returns_sequence ? "whole sequence" : "final state") +
                                      ", the layer gives its " + (layer.returns_sequence ? "whole sequence" : "final state"));
        if (op.kind == OpKind::gru && op.reset_after != layer.reset_after)
          disagree(chosen, layer, "the " + graph_.format + " GRU has " + op.reset_source +
                                      " (the reset gate multiplies " +
                                      (op.reset_after ? "the recurrent product" : "the state before the product") +
                                      "), the layer is " + (layer.reset_after ? "reset_after" : "reset_before") +
                                      " (declare the layer with deepjet::" + (op.reset_after ? "reset_after" : "reset_before") + ")");
        break;
      }
      case OpKind::batch_norm:
        if (static_cast<float>(op.epsilon) != static_cast<float>(layer.epsilon)) {
          const std::size_t F = op.shape.back();
          if (!carry_epsilon_)
            disagree(chosen, layer, graph_.format + " epsilon " + number_text(op.epsilon) + ", the layer's " + number_text(layer.epsilon));
          for (std::size_t c = 0; c < F; ++c) {
            const double var = static_cast<double>(values[3 * F + c]) + op.epsilon - layer.epsilon;
            if (var < 0)
              disagree(chosen, layer, graph_.format + " epsilon " + number_text(op.epsilon) + " differs from the layer's " +
                                          number_text(layer.epsilon) + " by more than running_var[" + std::to_string(c) +
                                          "]; declare BatchNorm<momentum, " + number_text(op.epsilon) + "f>");
            values[3 * F + c] = static_cast<float>(var);
          }
          notes_.push_back("layer " + layer.path + ": " + graph_.format + " epsilon " + number_text(op.epsilon) + " carried into running_var (layer epsilon " +
                                  number_text(layer.epsilon) + ")");
        }
        break;
      default: break;
    }
    if (values.size() != layer.parameter_count)
      disagree(chosen, layer, std::to_string(values.size()) + " parameters in the " + graph_.format + " " + graph_.element + ", " +
                                  std::to_string(layer.parameter_count) + " in the layer");
    std::copy(values.begin(), values.end(), parameters_.begin() + static_cast<std::ptrdiff_t>(layer.offset));
    claimed_[static_cast<std::size_t>(chosen)] = 1;
    std::string node = op.node;
    for (const auto& f : op.folded) node += " + " + f;
    layers_.push_back({layer.path, layer.signature, node, op.node_op, op.node_shapes});
    return chosen;
  }

  LayerGraph& graph_;
  std::span<float> parameters_;
  std::vector<MatchedLayer>& layers_;
  std::vector<std::string>& notes_;
  bool carry_epsilon_;
  std::vector<char> claimed_;
  std::vector<std::vector<int>> consumers_;
};


}  // namespace deepjet::interchange
