// deepjet/interchange/onnx/lowering.hpp: an ONNX graph rewritten as deepjet layers.
//
// Contract: `lower(graph, opset, inputs)` walks the nodes of an ONNX graph in data-flow order and
// returns a LayerGraph: deepjet-level operations (Dense, Conv1D, BatchNorm, LSTM, GRU, activations,
// Concatenate, Add, GlobalAveragePooling, Flatten) on deepjet's channels-last layout, with their
// parameters already in deepjet's layouts (layers/*/ document them), each naming the ONNX node it
// came from. The reader (reader.hpp) then matches these operations to the layers of a model type.
//
// How: every ONNX value is one of
//   - a constant (initializer, Constant, or anything computed from constants: folded here),
//   - zeros of a batch-dependent shape (PyTorch's ConstantOfShape of [1, N, H] initial LSTM states),
//   - data: the output of a deepjet operation seen through a *layout*: which ONNX axis is the
//     batch, the entries of a list, the features, or an inserted axis of size 1, and whether the
//     entries are in reverse order. Transpose, Squeeze, Unsqueeze, Reshape (that only adds or drops
//     axes of size 1), Identity, Dropout and a full reversing Slice change only the layout; no
//     operation is created for them. Operations that compute (Conv, Gemm, LSTM, ...) require the
//     layout ONNX defines for them (Conv: [N, C, L] or [N, C, L, 1]; LSTM, GRU: [T, N, F]) and give
//     their result in the layout ONNX gives it.
// Never silent: an op that is not listed in docs/interchange-onnx.md, an attribute deepjet cannot
// honour (dilations, groups, peepholes, clip, other activations), a slice or gather that picks
// part of the data, or an output used that deepjet cannot give (an LSTM's cell state) throws
// deepjet::Error naming the ONNX node (name, op, input and output shapes). Initializers not read by
// any operation are reported by the reader.
// Gates: ONNX orders an LSTM's gates i, o, f, c; deepjet's kernel has i, f, g(=c), o (lstm.hpp).
// PyTorch exports nn.LSTM with ONNX's two biases (Wb, Rb); deepjet's bias is their sum.
// GRU: ONNX's gate order z, r, h is deepjet's (gru.hpp). linear_before_reset = 1 is deepjet's
// reset_after (bias = Wb, recurrent_bias = Rb); linear_before_reset = 0 (ONNX's default) is
// reset_before, where ONNX adds every Rb outside the reset product
//   h~ = g(X Wh^T + (r . H) Rh^T + Rbh + Wbh)   (ONNX's GRU operator definition)
// so deepjet's single bias is Wb + Rb.
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/interchange/graph/layer_graph.hpp"
#include "deepjet/interchange/onnx/tensor.hpp"
#include "deepjet/layers/conv1d/conv1d.hpp"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace deepjet::onnx::import_detail {

using interchange::kind_name;
using interchange::LayerGraph;
using interchange::LayerOp;
using interchange::OpKind;

/// A graph input the caller has assigned a deepjet shape (network inputs) or not (pass-through).
struct GraphInputPlan {
  std::string name;
  std::vector<std::int64_t> dims;     ///< ONNX dims, batch as batch_dimension
  std::vector<std::size_t> shape;     ///< deepjet shape per sample
  std::vector<char> axes;             ///< layout, see Axis below
};

enum Axis : char { batch = 'N', entries = 'P', features = 'F', unit = '1' };

/// An ONNX value during lowering.
struct Value {
  enum class Kind { constant, zeros, data, unusable } kind = Kind::unusable;
  Tensor constant;                 // constant
  std::vector<std::int64_t> dims;  // zeros: shape (may hold batch_dimension); fill value 0
  int op = -1;                     // data: the operation producing it
  std::vector<std::size_t> shape;  // data: deepjet shape per sample
  std::vector<char> axes;          // data: meaning of each ONNX axis
  bool reversed = false;           // data: the entries axis runs backwards
  std::vector<std::string> reversed_by;  // data: the Slice nodes that reversed it (for the report)
  int pending_lstm = -1;           // data: an LSTM or GRU output whose kind (sequence or final) is not fixed
  bool lstm_final = false;         // with pending_lstm: this is the final state
  std::string why_unusable;        // unusable: the reason, reported if something reads it

  std::vector<std::int64_t> onnx_dims() const {
    if (kind == Kind::constant) return constant.dims;
    if (kind == Kind::zeros) return dims;
    std::vector<std::int64_t> d;
    for (char a : axes) {
      if (a == batch) d.push_back(batch_dimension);
      else if (a == entries) d.push_back(static_cast<std::int64_t>(shape.front()));
      else if (a == features) d.push_back(static_cast<std::int64_t>(shape.back()));
      else d.push_back(1);
    }
    return d;
  }
  int axis_of(char a) const {
    for (std::size_t i = 0; i < axes.size(); ++i)
      if (axes[i] == a) return static_cast<int>(i);
    return -1;
  }
};

class Lowering {
 public:
  Lowering(const ::onnx::GraphProto& graph, std::int64_t opset, const std::vector<GraphInputPlan>& inputs)
      : graph_(graph), opset_(opset) {
    for (const auto& init : graph.initializer()) {
      Value v;
      v.kind = Value::Kind::constant;
      v.constant = read_tensor(init, "initializer '" + init.name() + "'");
      values_[init.name()] = std::move(v);
      initializers_.insert(init.name());
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto& plan = inputs[i];
      LayerOp op;
      op.kind = OpKind::input;
      op.node = plan.name;
      op.node_op = "graph input";
      op.node_shapes = dims_text(plan.dims);
      op.shape = plan.shape;
      op.input_index = i;
      op.graph_input = plan.name;
      result_.ops.push_back(op);
      Value v;
      v.kind = Value::Kind::data;
      v.op = static_cast<int>(result_.ops.size()) - 1;
      v.shape = plan.shape;
      v.axes = plan.axes;
      values_[plan.name] = std::move(v);
    }
    for (const auto& node : graph.node())
      for (const auto& name : node.input()) ++uses_[name];
    for (const auto& out : graph.output()) ++uses_[out.name()];
  }

  LayerGraph run() {
    for (const auto& node : graph_.node()) lower_node(node);
    for (const auto& out : graph_.output()) {
      const Value& v = value(out.name(), nullptr);
      if (v.kind != Value::Kind::data)
        throw Error("graph output '" + out.name() + "' is " +
                    (v.kind == Value::Kind::constant ? "a constant" : "not computed from the inputs") +
                    "; deepjet models compute every output from their inputs");
      resolve(v, "graph output '" + out.name() + "'");
      LayerGraph::Output o{out.name(), v.op, v.onnx_dims(), true};
      std::vector<char> kept;
      for (char a : v.axes)
        if (a != unit) kept.push_back(a);
      const std::vector<char> want = v.shape.size() == 1 ? std::vector<char>{batch, features}
                                                          : std::vector<char>{batch, entries, features};
      o.canonical = kept == want && !v.reversed;
      result_.outputs.push_back(o);
    }
    for (const auto& name : initializers_)
      if (!read_initializers_.count(name)) result_.unused_weights.push_back(name);
    return std::move(result_);
  }

 private:
  using Node = ::onnx::NodeProto;

  // ---- messages ----------------------------------------------------------------------------
  // A node's name, or for an unnamed node what it gives.
  static std::string name_of(const Node& node) {
    if (!node.name().empty()) return node.name();
    return "(unnamed, giving '" + (node.output_size() ? node.output(0) : std::string()) + "')";
  }
  std::string describe(const Node& node) const {
    std::string text = "ONNX node '" + name_of(node) + "' (" + node.op_type() + ", inputs ";
    auto list = [&](const auto& names) {
      std::string t;
      for (const auto& n : names) {
        if (!t.empty()) t += ", ";
        if (n.empty()) { t += "(none)"; continue; }
        auto it = values_.find(n);
        t += "'" + n + "'";
        if (it != values_.end() && it->second.kind != Value::Kind::unusable) t += " " + dims_text(it->second.onnx_dims());
      }
      return t;
    };
    text += list(node.input()) + " -> outputs " + list(node.output()) + ")";
    return text;
  }
  [[noreturn]] void fail(const Node& node, const std::string& problem) const {
    throw Error(describe(node) + ": " + problem);
  }
  // ---- values ------------------------------------------------------------------------------
  const Value& value(const std::string& name, const Node* node) {
    auto it = values_.find(name);
    if (it == values_.end()) {
      const std::string problem = "reads '" + name + "', which no graph input, initializer or earlier node gives";
      if (node) fail(*node, problem);
      throw Error(problem);
    }
    if (initializers_.count(name)) read_initializers_.insert(name);
    return it->second;
  }
  bool present(const Node& node, int i) const { return i < node.input_size() && !node.input(i).empty(); }
  const Value& input(const Node& node, int i) {
    if (!present(node, i)) fail(node, "input " + std::to_string(i) + " is missing");
    return value(node.input(i), &node);
  }
  const Tensor& constant_input(const Node& node, int i, const char* what) {
    const Value& v = input(node, i);
    if (v.kind != Value::Kind::constant)
      fail(node, std::string(what) + " (input " + std::to_string(i) + ") must be a constant (an initializer or "
                 "computed from constants); here it depends on the data");
    return v.constant;
  }
  const Value& data_input(const Node& node, int i) {
    const Value& v = input(node, i);
    if (v.kind == Value::Kind::unusable) fail(node, v.why_unusable);
    if (v.kind != Value::Kind::data) fail(node, "input " + std::to_string(i) + " must be data computed from the graph inputs");
    return v;
  }
  void set_output(const Node& node, int i, Value v) {
    if (i < node.output_size() && !node.output(i).empty()) values_[node.output(i)] = std::move(v);
  }
  // An output deepjet cannot give: an error if anything reads it.
  void set_unusable(const Node& node, int i, const std::string& why) {
    Value v;
    v.kind = Value::Kind::unusable;
    v.why_unusable = why;
    set_output(node, i, std::move(v));
  }

  // Fixes an LSTM's or GRU's kind (sequence or final state) from what its output is used as.
  void resolve(const Value& v, const std::string& user) {
    if (v.pending_lstm < 0) return;
    LayerOp& op = result_.ops[static_cast<std::size_t>(v.pending_lstm)];
    const int want = v.lstm_final ? 0 : 1;
    if (op.returns_sequence >= 0 && op.returns_sequence != want)
      throw Error("ONNX node '" + op.node + "' (" + kind_name(op.kind) + "): both its sequence output Y and its final state are used (" +
                  user + " reads the " + (want ? "sequence" : "final state") +
                  "); a deepjet " + kind_name(op.kind) + " gives one of them");
    op.returns_sequence = want;
    op.shape = v.shape;
  }
  const Value& computed_input(const Node& node, int i) {
    const Value& v = data_input(node, i);
    resolve(v, describe(node));
    return v;
  }

  int add_op(const Node& node, LayerOp op, std::vector<int> inputs) {
    op.node = name_of(node);
    op.node_op = node.op_type();
    op.inputs = std::move(inputs);
    result_.ops.push_back(std::move(op));
    return static_cast<int>(result_.ops.size()) - 1;
  }
  // The data output of a new operation, in layout `axes` (with the input's order of entries).
  Value data_value(int op, std::vector<std::size_t> shape, std::vector<char> axes, bool reversed = false) {
    Value v;
    v.kind = Value::Kind::data;
    v.op = op;
    v.shape = std::move(shape);
    v.axes = std::move(axes);
    v.reversed = reversed && v.axis_of(entries) >= 0;
    return v;
  }

  // ---- attributes --------------------------------------------------------------------------
  const ::onnx::AttributeProto* attribute(const Node& node, const std::string& name) const {
    for (const auto& a : node.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  std::int64_t int_attribute(const Node& node, const std::string& name, std::int64_t fallback) const {
    const auto* a = attribute(node, name);
    return a ? a->i() : fallback;
  }
  double float_attribute(const Node& node, const std::string& name, double fallback) const {
    const auto* a = attribute(node, name);
    return a ? a->f() : fallback;
  }
  std::string string_attribute(const Node& node, const std::string& name, const std::string& fallback) const {
    const auto* a = attribute(node, name);
    return a ? a->s() : fallback;
  }
  std::vector<std::int64_t> ints_attribute(const Node& node, const std::string& name) const {
    const auto* a = attribute(node, name);
    if (!a) return {};
    return {a->ints().begin(), a->ints().end()};
  }
  // Attributes that change what an op computes and that this importer does not interpret.
  void refuse_attributes(const Node& node, const std::set<std::string>& understood) const {
    for (const auto& a : node.attribute())
      if (!understood.count(a.name()))
        fail(node, "attribute '" + a.name() + "' is not supported by deepjet's importer for " + node.op_type());
  }
  // An axis attribute or input, made non-negative.
  std::size_t normal_axis(const Node& node, std::int64_t axis, std::size_t rank) const {
    const std::int64_t r = static_cast<std::int64_t>(rank);
    if (axis < -r || axis >= r) fail(node, "axis " + std::to_string(axis) + " is outside a tensor of rank " + std::to_string(rank));
    return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
  }
  // Axes given as an attribute (older opsets) or as input `input_position` (newer ones).
  std::optional<std::vector<std::int64_t>> axes_of(const Node& node, int input_position) {
    if (attribute(node, "axes")) return ints_attribute(node, "axes");
    if (present(node, input_position)) {
      const Tensor& t = constant_input(node, input_position, "axes");
      std::vector<std::int64_t> axes;
      for (std::size_t i = 0; i < t.size(); ++i) axes.push_back(t.int_at(i));
      return axes;
    }
    return std::nullopt;
  }

  // ---- dispatch ----------------------------------------------------------------------------
  void lower_node(const Node& node) {
    if (!node.domain().empty() && node.domain() != "ai.onnx")
      fail(node, "operator domain '" + node.domain() + "' is not ONNX's standard one; deepjet reads standard ops only");
    // Whether every data input is a constant: then the node is folded (shape plumbing).
    bool all_constant = true;
    for (int i = 0; i < node.input_size(); ++i) {
      if (node.input(i).empty()) continue;
      const Value& v = value(node.input(i), &node);
      if (v.kind != Value::Kind::constant) all_constant = false;
    }
    const std::string& op = node.op_type();
    static const std::map<std::string, void (Lowering::*)(const Node&)> data_ops{
        {"Conv", &Lowering::lower_conv},
        {"Gemm", &Lowering::lower_gemm},
        {"MatMul", &Lowering::lower_matmul},
        {"BatchNormalization", &Lowering::lower_batch_norm},
        {"LSTM", &Lowering::lower_lstm},
        {"GRU", &Lowering::lower_gru},
        {"Relu", &Lowering::lower_activation},
        {"Elu", &Lowering::lower_activation},
        {"Tanh", &Lowering::lower_activation},
        {"Sigmoid", &Lowering::lower_activation},
        {"Softmax", &Lowering::lower_softmax},
        {"Add", &Lowering::lower_add},
        {"Concat", &Lowering::lower_concat},
        {"GlobalAveragePool", &Lowering::lower_global_average_pool},
        {"ReduceMean", &Lowering::lower_reduce_mean},
        {"Flatten", &Lowering::lower_flatten},
        {"Transpose", &Lowering::lower_transpose},
        {"Squeeze", &Lowering::lower_squeeze},
        {"Unsqueeze", &Lowering::lower_unsqueeze},
        {"Reshape", &Lowering::lower_reshape},
        {"Identity", &Lowering::lower_identity},
        {"Dropout", &Lowering::lower_dropout},
        {"Slice", &Lowering::lower_slice},
        {"Gather", &Lowering::lower_gather},
        {"Shape", &Lowering::lower_shape},
        {"Constant", &Lowering::lower_constant},
        {"ConstantOfShape", &Lowering::lower_constant_of_shape},
        {"Cast", &Lowering::lower_cast},
    };
    static const std::set<std::string> foldable{"Transpose", "Squeeze", "Unsqueeze", "Reshape", "Identity",
                                                "Slice", "Gather", "Shape", "Constant", "ConstantOfShape",
                                                "Cast", "Concat"};
    auto it = data_ops.find(op);
    if (it == data_ops.end())
      fail(node, "deepjet has no layer for the ONNX op '" + op + "' (the ops it imports are listed in "
                 "docs/interchange-onnx.md)");
    if (all_constant && node.input_size() > 0 && !foldable.count(op))
      fail(node, "computes on constants only (" + op + "); deepjet folds only shape plumbing");
    if (all_constant && foldable.count(op) && op != "Constant" && op != "ConstantOfShape" && op != "Shape") {
      fold_constant(node);
      return;
    }
    (this->*(it->second))(node);
  }

  // ---- constant folding (shape plumbing) ---------------------------------------------------
  void fold_constant(const Node& node) {
    const std::string& op = node.op_type();
    const Tensor& x = constant_input(node, 0, "data");
    Tensor y;
    if (op == "Identity" || op == "Cast") {
      y = x;
      if (op == "Cast") {
        const auto to = int_attribute(node, "to", 1);
        const bool to_integer = to == ::onnx::TensorProto::INT64 || to == ::onnx::TensorProto::INT32 ||
                                to == ::onnx::TensorProto::INT8 || to == ::onnx::TensorProto::BOOL;
        if (to_integer && !y.integer) {
          y.integer = true;
          for (double r : y.reals) y.integers.push_back(static_cast<std::int64_t>(r));
          y.reals.clear();
        } else if (!to_integer && y.integer) {
          if (y.has_batch_dimension()) fail(node, "casts the batch size to a real number");
          y.integer = false;
          for (auto v : y.integers) y.reals.push_back(static_cast<double>(v));
          y.integers.clear();
        }
      }
    } else if (op == "Unsqueeze") {
      y = x;
      auto axes = axes_of(node, 1);
      if (!axes) fail(node, "has no axes");
      std::vector<std::size_t> positions;
      const std::size_t rank = x.dims.size() + axes->size();
      for (auto a : *axes) positions.push_back(normal_axis(node, a, rank));
      std::sort(positions.begin(), positions.end());
      for (auto p : positions) y.dims.insert(y.dims.begin() + static_cast<std::ptrdiff_t>(p), 1);
    } else if (op == "Squeeze") {
      y = x;
      auto axes = axes_of(node, 1);
      std::vector<std::int64_t> dims;
      for (std::size_t i = 0; i < x.dims.size(); ++i) {
        bool drop = false;
        if (!axes) drop = x.dims[i] == 1;
        else
          for (auto a : *axes) drop |= normal_axis(node, a, x.dims.size()) == i;
        if (drop && x.dims[i] != 1) fail(node, "squeezes an axis of size " + std::to_string(x.dims[i]));
        if (!drop) dims.push_back(x.dims[i]);
      }
      y.dims = dims;
    } else if (op == "Reshape") {
      y = x;
      const Tensor& target = constant_input(node, 1, "shape");
      y.dims = reshape_dims(node, x.dims, target);
    } else if (op == "Transpose") {
      if (x.dims.size() > 1) {
        auto perm = ints_attribute(node, "perm");
        if (perm.empty()) {
          perm.resize(x.dims.size());
          std::iota(perm.rbegin(), perm.rend(), 0);
        }
        // Row-major strides of x, then gather.
        const std::size_t rank = x.dims.size();
        std::vector<std::size_t> stride(rank, 1);
        for (std::size_t i = rank - 1; i > 0; --i) stride[i - 1] = stride[i] * static_cast<std::size_t>(x.dims[i]);
        y.integer = x.integer;
        for (auto p : perm) y.dims.push_back(x.dims[static_cast<std::size_t>(p)]);
        const std::size_t n = x.size();
        std::vector<std::size_t> index(rank, 0);
        for (std::size_t k = 0; k < n; ++k) {
          std::size_t source = 0;
          for (std::size_t i = 0; i < rank; ++i) source += index[i] * stride[static_cast<std::size_t>(perm[i])];
          if (x.integer) y.integers.push_back(x.integers[source]);
          else y.reals.push_back(x.reals[source]);
          for (std::size_t i = rank; i-- > 0;) {
            if (++index[i] < static_cast<std::size_t>(y.dims[i])) break;
            index[i] = 0;
          }
        }
      } else {
        y = x;
      }
    } else if (op == "Gather") {
      const Tensor& indices = constant_input(node, 1, "indices");
      if (x.dims.size() != 1) fail(node, "gathers from a constant of rank " + std::to_string(x.dims.size()) + "; deepjet folds rank 1 only");
      y.integer = x.integer;
      y.dims = indices.dims;
      for (std::size_t i = 0; i < indices.size(); ++i) {
        std::int64_t k = indices.int_at(i);
        if (k < 0) k += x.dims[0];
        if (k < 0 || k >= x.dims[0]) fail(node, "index " + std::to_string(indices.int_at(i)) + " is out of range");
        if (x.integer) y.integers.push_back(x.integers[static_cast<std::size_t>(k)]);
        else y.reals.push_back(x.reals[static_cast<std::size_t>(k)]);
      }
    } else if (op == "Concat") {
      y.integer = x.integer;
      std::int64_t total = 0;
      for (int i = 0; i < node.input_size(); ++i) {
        const Tensor& part = constant_input(node, i, "part");
        if (part.dims.size() != 1 || part.integer != x.integer)
          fail(node, "concatenates constants of rank other than 1 or of mixed types; deepjet folds 1-D shapes only");
        total += part.dims[0];
        if (x.integer) y.integers.insert(y.integers.end(), part.integers.begin(), part.integers.end());
        else y.reals.insert(y.reals.end(), part.reals.begin(), part.reals.end());
      }
      y.dims = {total};
    } else if (op == "Slice") {
      if (x.dims.size() != 1) fail(node, "slices a constant of rank " + std::to_string(x.dims.size()) + "; deepjet folds rank 1 only");
      const auto spec = slice_spec(node);
      if (spec.size() != 1 || spec[0].axis != 0) fail(node, "slices a 1-D constant along an axis other than 0");
      auto [start, stop, step] = clamp_slice(spec[0], x.dims[0]);
      y.integer = x.integer;
      for (std::int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
        if (x.integer) y.integers.push_back(x.integers[static_cast<std::size_t>(k)]);
        else y.reals.push_back(x.reals[static_cast<std::size_t>(k)]);
      }
      y.dims = {static_cast<std::int64_t>(y.size())};
    } else {
      fail(node, "cannot be folded");
    }
    Value v;
    v.kind = Value::Kind::constant;
    v.constant = std::move(y);
    set_output(node, 0, std::move(v));
  }

  std::vector<std::int64_t> reshape_dims(const Node& node, const std::vector<std::int64_t>& in,
                                         const Tensor& target) const {
    std::vector<std::int64_t> dims;
    int infer = -1;
    std::size_t known_batch = 0;
    for (std::size_t i = 0; i < target.size(); ++i) {
      std::int64_t d = target.int_at(i);
      if (d == 0 && !int_attribute(node, "allowzero", 0)) {
        if (i >= in.size()) fail(node, "copies dimension " + std::to_string(i) + " that the input does not have");
        d = in[i];
      }
      if (d == -1) {
        if (infer >= 0) fail(node, "has two -1 entries");
        infer = static_cast<int>(i);
      }
      if (d == batch_dimension) ++known_batch;
      dims.push_back(d);
    }
    if (infer >= 0) {
      // The element count of the input, batch factored out.
      std::int64_t in_count = 1, out_count = 1;
      std::size_t in_batch = 0;
      for (auto d : in) (d == batch_dimension ? (void)++in_batch : (void)(in_count *= d));
      for (std::size_t i = 0; i < dims.size(); ++i)
        if (static_cast<int>(i) != infer && dims[i] != batch_dimension) out_count *= dims[i];
      if (in_batch == known_batch + 1) {
        if (in_count != out_count) fail(node, "reshapes so that the batch would mix with other axes");
        dims[static_cast<std::size_t>(infer)] = batch_dimension;
      } else if (in_batch == known_batch) {
        if (out_count == 0 || in_count % out_count) fail(node, "has a -1 that does not divide the size");
        dims[static_cast<std::size_t>(infer)] = in_count / out_count;
      } else {
        fail(node, "reshapes the batch axis");
      }
    }
    return dims;
  }

  struct SliceAxis {
    std::size_t axis;
    std::int64_t start, end, step;
  };
  std::vector<SliceAxis> slice_spec(const Node& node) {
    std::vector<std::int64_t> starts, ends, axes, steps;
    auto ints_of = [&](int i, const char* what) {
      std::vector<std::int64_t> v;
      if (!present(node, i)) return v;
      const Tensor& t = constant_input(node, i, what);
      for (std::size_t k = 0; k < t.size(); ++k) v.push_back(t.int_at(k));
      return v;
    };
    if (opset_ < 10) {
      starts = ints_attribute(node, "starts");
      ends = ints_attribute(node, "ends");
      axes = ints_attribute(node, "axes");
    } else {
      starts = ints_of(1, "starts");
      ends = ints_of(2, "ends");
      axes = ints_of(3, "axes");
      steps = ints_of(4, "steps");
    }
    if (starts.size() != ends.size()) fail(node, "has different numbers of starts and ends");
    const std::size_t rank = value(node.input(0), &node).onnx_dims().size();
    std::vector<SliceAxis> spec;
    for (std::size_t i = 0; i < starts.size(); ++i) {
      const std::int64_t axis = axes.empty() ? static_cast<std::int64_t>(i) : axes[i];
      const std::int64_t step = steps.empty() ? 1 : steps[i];
      if (step == 0) fail(node, "has step 0");
      spec.push_back({normal_axis(node, axis, rank), starts[i], ends[i], step});
    }
    return spec;
  }
  // ONNX's clamping of a slice on an axis of length n: first index, end (exclusive), step.
  static std::tuple<std::int64_t, std::int64_t, std::int64_t> clamp_slice(const SliceAxis& s, std::int64_t n) {
    // Saturating: exporters write INT64_MIN / INT64_MAX for "to the end".
    auto shift = [n](std::int64_t v) { return v < 0 ? (v < -n ? -n - 1 : v + n) : v; };
    std::int64_t start = shift(s.start), end = shift(s.end);
    if (s.step > 0) {
      start = std::clamp<std::int64_t>(start, 0, n);
      end = std::clamp<std::int64_t>(end, 0, n);
    } else {
      start = std::clamp<std::int64_t>(start, 0, n - 1);
      end = std::clamp<std::int64_t>(end, -1, n - 1);
    }
    return {start, end, s.step};
  }

  // ---- constants ---------------------------------------------------------------------------
  void lower_constant(const Node& node) {
    Value v;
    v.kind = Value::Kind::constant;
    if (const auto* a = attribute(node, "value")) {
      v.constant = read_tensor(a->t(), "the value of Constant node '" + node.name() + "'");
    } else if (const auto* f = attribute(node, "value_float")) {
      v.constant.reals = {f->f()};
    } else if (const auto* fs = attribute(node, "value_floats")) {
      v.constant.reals.assign(fs->floats().begin(), fs->floats().end());
      v.constant.dims = {static_cast<std::int64_t>(v.constant.reals.size())};
    } else if (const auto* i = attribute(node, "value_int")) {
      v.constant.integer = true;
      v.constant.integers = {i->i()};
    } else if (const auto* is = attribute(node, "value_ints")) {
      v.constant.integer = true;
      v.constant.integers.assign(is->ints().begin(), is->ints().end());
      v.constant.dims = {static_cast<std::int64_t>(v.constant.integers.size())};
    } else {
      fail(node, "has no value deepjet can read (sparse and string constants are not supported)");
    }
    set_output(node, 0, std::move(v));
  }

  void lower_constant_of_shape(const Node& node) {
    const Tensor& shape = constant_input(node, 0, "shape");
    double fill = 0;
    bool integer = false;
    if (const auto* a = attribute(node, "value")) {
      const Tensor t = read_tensor(a->t(), "the value of ConstantOfShape node '" + node.name() + "'");
      if (t.size() != 1) fail(node, "has a fill value that is not a single number");
      fill = t.real(0);
      integer = t.integer;
    }
    std::vector<std::int64_t> dims;
    for (std::size_t i = 0; i < shape.size(); ++i) dims.push_back(shape.int_at(i));
    Value v;
    if (shape.has_batch_dimension()) {
      // Zeros as large as the batch: only usable where deepjet's zeros are implied (an LSTM's
      // initial state).
      if (fill != 0) fail(node, "fills a batch-sized tensor with " + number_text(fill) + "; only zeros are understood");
      v.kind = Value::Kind::zeros;
      v.dims = dims;
    } else {
      v.kind = Value::Kind::constant;
      v.constant.dims = dims;
      v.constant.integer = integer;
      const std::size_t n = element_count(dims, "the output of ConstantOfShape node '" + node.name() + "'");
      if (integer) v.constant.integers.assign(n, static_cast<std::int64_t>(fill));
      else v.constant.reals.assign(n, fill);
    }
    set_output(node, 0, std::move(v));
  }

  void lower_shape(const Node& node) {
    const Value& x = input(node, 0);
    if (x.kind == Value::Kind::unusable) fail(node, x.why_unusable);
    auto dims = x.onnx_dims();
    // Shape-15 start/end attributes select a range of axes.
    std::int64_t start = int_attribute(node, "start", 0), end = int_attribute(node, "end", static_cast<std::int64_t>(dims.size()));
    const std::int64_t r = static_cast<std::int64_t>(dims.size());
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<std::int64_t>(start, 0, r);
    end = std::clamp<std::int64_t>(end, start, r);
    Value v;
    v.kind = Value::Kind::constant;
    v.constant.integer = true;
    v.constant.integers.assign(dims.begin() + start, dims.begin() + end);
    v.constant.dims = {end - start};
    set_output(node, 0, std::move(v));
  }

  // ---- layout-only ops on data -------------------------------------------------------------
  void lower_identity(const Node& node) {
    const Value& x = input(node, 0);
    if (x.kind == Value::Kind::unusable) fail(node, x.why_unusable);
    set_output(node, 0, x);
  }
  void lower_cast(const Node& node) {
    const auto to = int_attribute(node, "to", 1);
    if (to != ::onnx::TensorProto::FLOAT) fail(node, "casts data to ONNX type " + std::to_string(to) + "; deepjet computes in float");
    lower_identity(node);
  }
  void lower_dropout(const Node& node) {
    // Inference: the identity. Its mask output (1) is not something deepjet gives.
    if (!int_attribute(node, "is_test", opset_ < 7 ? 0 : 1)) fail(node, "runs in training mode (is_test = 0)");
    if (opset_ >= 12 && present(node, 2)) {
      const Tensor& training = constant_input(node, 2, "training_mode");
      if (training.size() && training.int_at(0) != 0) fail(node, "runs in training mode");
    }
    lower_identity(node);
    set_unusable(node, 1, "the mask output of Dropout '" + node.name() + "' is used; deepjet's inference has no dropout mask");
  }

  void lower_transpose(const Node& node) {
    Value x = data_input(node, 0);
    auto perm = ints_attribute(node, "perm");
    if (perm.empty()) {
      perm.resize(x.axes.size());
      std::iota(perm.rbegin(), perm.rend(), 0);
    }
    if (perm.size() != x.axes.size()) fail(node, "has a permutation of the wrong length");
    std::vector<char> axes;
    for (auto p : perm) axes.push_back(x.axes[normal_axis(node, p, x.axes.size())]);
    x.axes = axes;
    set_output(node, 0, std::move(x));
  }

  void lower_squeeze(const Node& node) {
    Value x = data_input(node, 0);
    auto axes = axes_of(node, 1);
    if (!axes) {
      // Without axes ONNX drops every axis of size 1, also a list of one entry or a single feature.
      const auto dims = x.onnx_dims();
      for (std::size_t i = 0; i < dims.size(); ++i)
        if (x.axes[i] != unit && dims[i] == 1)
          fail(node, "squeezes every axis of size 1 (no axes given), which would drop axis " + std::to_string(i) +
                     " of the data too; deepjet keeps it");
    }
    std::vector<char> kept;
    for (std::size_t i = 0; i < x.axes.size(); ++i) {
      bool drop = !axes && x.axes[i] == unit;
      if (axes)
        for (auto a : *axes) drop |= normal_axis(node, a, x.axes.size()) == i;
      if (drop && x.axes[i] != unit)
        fail(node, std::string("squeezes the ") + (x.axes[i] == batch ? "batch" : x.axes[i] == entries ? "entries" : "features") +
                   " axis; deepjet keeps it");
      if (!drop) kept.push_back(x.axes[i]);
    }
    x.axes = kept;
    set_output(node, 0, std::move(x));
  }

  void lower_unsqueeze(const Node& node) {
    Value x = data_input(node, 0);
    auto axes = axes_of(node, 1);
    if (!axes) fail(node, "has no axes");
    const std::size_t rank = x.axes.size() + axes->size();
    std::vector<std::size_t> positions;
    for (auto a : *axes) positions.push_back(normal_axis(node, a, rank));
    std::sort(positions.begin(), positions.end());
    for (auto p : positions) x.axes.insert(x.axes.begin() + static_cast<std::ptrdiff_t>(p), unit);
    set_output(node, 0, std::move(x));
  }

  // Reshape that adds or drops axes of size 1 changes only the layout; one that joins a list's
  // entries and features (in that order) is Flatten.
  void lower_reshape(const Node& node) {
    const Value& x = data_input(node, 0);
    const Tensor& target = constant_input(node, 1, "shape");
    const auto in = x.onnx_dims();
    const auto out = reshape_dims(node, in, target);
    std::vector<char> real_axes;
    std::vector<std::int64_t> real_dims;
    for (std::size_t i = 0; i < x.axes.size(); ++i)
      if (x.axes[i] != unit) {
        real_axes.push_back(x.axes[i]);
        real_dims.push_back(in[i]);
      }
    {
      // Same axes in the same order, axes of size 1 added or dropped: only the layout changes.
      std::vector<char> axes;
      std::size_t k = 0;
      bool fits = true;
      for (auto d : out) {
        if (k < real_axes.size() && d == real_dims[k]) axes.push_back(real_axes[k++]);
        else if (d == 1) axes.push_back(unit);
        else fits = false;
      }
      if (fits && k == real_axes.size()) {
        Value y = x;
        y.axes = axes;
        set_output(node, 0, std::move(y));
        return;
      }
    }
    std::vector<std::int64_t> out_real;
    for (auto d : out)
      if (d != 1) out_real.push_back(d);
    if (x.shape.size() == 2 && real_axes == std::vector<char>{batch, entries, features} &&
        out_real == std::vector<std::int64_t>{batch_dimension, static_cast<std::int64_t>(x.shape[0] * x.shape[1])}) {
      flatten_list(node, x);
      return;
    }
    fail(node, "reshapes " + dims_text(in) + " into " + dims_text(out) +
               "; deepjet understands reshapes that add or remove axes of size 1, and [N, P, F] -> [N, P*F] (Flatten)");
  }

  void flatten_list(const Node& node, const Value& x) {
    if (x.reversed) fail(node, "flattens a list whose entries are in reverse order; deepjet's Flatten keeps their order");
    if (x.axis_of(entries) > x.axis_of(features))
      fail(node, "flattens a channels-first list [N, F, P]: the order of the values differs from deepjet's Flatten, "
                 "which takes (P, F) particle by particle");
    resolve(x, describe(node));
    LayerOp op;
    op.kind = OpKind::flatten;
    op.shape = {x.shape[0] * x.shape[1]};
    op.node_shapes = dims_text(x.onnx_dims()) + " -> [N, " + std::to_string(op.shape[0]) + "]";
    const int id = add_op(node, op, {x.op});
    set_output(node, 0, data_value(id, result_.ops[static_cast<std::size_t>(id)].shape, {batch, features}));
  }

  void lower_flatten(const Node& node) {
    const Value& x = data_input(node, 0);
    const std::size_t axis = normal_axis(node, int_attribute(node, "axis", 1), x.axes.size() + 1);
    if (axis != 1 || x.axes.empty() || x.axes[0] != batch) fail(node, "flattens from an axis other than the one after the batch");
    std::vector<char> real_axes;
    for (char a : x.axes)
      if (a != unit) real_axes.push_back(a);
    if (real_axes.size() == 2) {  // only units beside the features: the layout changes
      Value y = x;
      y.axes = {batch, features};
      set_output(node, 0, std::move(y));
      return;
    }
    flatten_list(node, x);
  }

  void lower_slice(const Node& node) {
    Value x = data_input(node, 0);
    const auto dims = x.onnx_dims();
    for (const auto& s : slice_spec(node)) {
      const std::int64_t n = dims[s.axis];
      if (n == batch_dimension) {
        if (s.step == 1 && (s.start == 0 || s.start <= -n) && s.end >= std::numeric_limits<std::int32_t>::max()) continue;
        fail(node, "slices the batch axis");
      }
      auto [start, end, step] = clamp_slice(s, n);
      const bool everything = step == 1 && start == 0 && end == n;
      const bool reversal = step == -1 && start == n - 1 && end == -1;
      if (everything) continue;
      if (reversal && x.axes[s.axis] == entries) {
        x.reversed = !x.reversed;
        x.reversed_by.push_back(name_of(node));
        continue;
      }
      if (reversal && n == 1) continue;
      fail(node, "takes part of axis " + std::to_string(s.axis) + " (start " + std::to_string(s.start) + ", end " +
                 std::to_string(s.end) + ", step " + std::to_string(s.step) +
                 "); deepjet imports slices that keep an axis whole or reverse the entries of a list");
    }
    set_output(node, 0, std::move(x));
  }

  void lower_gather(const Node& node) {
    Value x = data_input(node, 0);
    const Tensor& indices = constant_input(node, 1, "indices");
    const std::size_t axis = normal_axis(node, int_attribute(node, "axis", 0), x.axes.size());
    if (indices.size() != 1) fail(node, "gathers " + std::to_string(indices.size()) + " entries; deepjet imports a single one");
    if (x.axes[axis] == unit) {
      if (indices.int_at(0) != 0 && indices.int_at(0) != -1) fail(node, "index " + std::to_string(indices.int_at(0)) + " is out of range");
      if (indices.dims.empty()) x.axes.erase(x.axes.begin() + static_cast<std::ptrdiff_t>(axis));
      set_output(node, 0, std::move(x));
      return;
    }
    if (x.axes[axis] != entries || x.pending_lstm < 0 || x.lstm_final)
      fail(node, "picks one entry of data; deepjet imports this only for the last state of an LSTM's or GRU's sequence output");
    const LayerOp& lstm = result_.ops[static_cast<std::size_t>(x.pending_lstm)];
    const std::int64_t T = static_cast<std::int64_t>(x.shape[0]);
    std::int64_t k = indices.int_at(0);
    if (k < 0) k += T;
    if (k < 0 || k >= T) fail(node, "index " + std::to_string(indices.int_at(0)) + " is out of range");
    const std::int64_t entry = x.reversed ? T - 1 - k : k;
    const std::int64_t final_entry = lstm.backwards ? 0 : T - 1;
    if (entry != final_entry)
      fail(node, "picks the " + kind_name(lstm.kind) + " state after entry " + std::to_string(entry) + " of " + std::to_string(T) +
                 ", not its final state (entry " + std::to_string(final_entry) + "); deepjet's " + kind_name(lstm.kind) +
                 " gives the final state or the whole sequence");
    if (indices.dims.empty()) x.axes.erase(x.axes.begin() + static_cast<std::ptrdiff_t>(axis));
    else x.axes[axis] = unit;
    result_.ops[static_cast<std::size_t>(x.pending_lstm)].folded.push_back(name_of(node));
    x.shape = {x.shape.back()};
    x.lstm_final = true;
    x.reversed = false;
    set_output(node, 0, std::move(x));
  }

  // ---- computing ops -----------------------------------------------------------------------
  // A constant that broadcasts to one value per feature of `x` (a bias): its values, or nullopt.
  static std::optional<std::vector<float>> per_feature(const Tensor& c, const Value& x) {
    const std::size_t F = x.shape.back();
    const int feature_axis = x.axis_of(features);
    if (c.size() != F) return std::nullopt;
    if (c.dims.size() > x.axes.size()) return std::nullopt;
    const std::size_t offset = x.axes.size() - c.dims.size();
    for (std::size_t i = 0; i < c.dims.size(); ++i) {
      const bool is_feature = static_cast<int>(i + offset) == feature_axis;
      if (c.dims[i] != (is_feature ? static_cast<std::int64_t>(F) : 1)) return std::nullopt;
    }
    if (F > 1 && c.dims.empty()) return std::nullopt;
    return c.floats();
  }

  void lower_activation(const Node& node) {
    const Value& x = computed_input(node, 0);
    LayerOp op;
    const std::string& t = node.op_type();
    if (t == "Relu") op.kind = OpKind::relu;
    else if (t == "Tanh") op.kind = OpKind::tanh;
    else if (t == "Sigmoid") op.kind = OpKind::sigmoid;
    else {
      op.kind = OpKind::elu;
      if (float_attribute(node, "alpha", 1.0) != 1.0)
        fail(node, "has alpha " + number_text(float_attribute(node, "alpha", 1.0)) + "; deepjet's ELU has alpha 1");
    }
    op.shape = x.shape;
    finish_elementwise(node, op, x);
  }
  void finish_elementwise(const Node& node, LayerOp op, const Value& x) {
    op.node_shapes = dims_text(x.onnx_dims()) + " -> " + dims_text(x.onnx_dims());
    const int id = add_op(node, op, {x.op});
    set_output(node, 0, data_value(id, x.shape, x.axes, x.reversed));
  }

  void lower_softmax(const Node& node) {
    const Value& x = computed_input(node, 0);
    const std::size_t axis = normal_axis(node, int_attribute(node, "axis", opset_ >= 13 ? -1 : 1), x.axes.size());
    // Before opset 13 Softmax normalises over all axes from `axis` on; from 13, over `axis`.
    bool over_features = x.axes[axis] == features;
    if (opset_ < 13) {
      over_features = true;
      bool has_features = false;
      for (std::size_t i = axis; i < x.axes.size(); ++i) {
        has_features |= x.axes[i] == features;
        over_features &= x.axes[i] == features || x.axes[i] == unit;
      }
      over_features &= has_features;
    }
    if (!over_features) fail(node, "normalises over an axis other than the features; deepjet's Softmax normalises the features");
    LayerOp op;
    op.kind = OpKind::softmax;
    op.shape = x.shape;
    finish_elementwise(node, op, x);
  }

  // Dense from Gemm: Y = alpha A B' + beta C with B' = B or B^T.
  void lower_gemm(const Node& node) {
    refuse_attributes(node, {"alpha", "beta", "transA", "transB"});
    const Value& a = computed_input(node, 0);
    if (int_attribute(node, "transA", 0)) fail(node, "transposes its data input (transA); deepjet's Dense takes [N, features]");
    if (a.axes != std::vector<char>{batch, features})
      fail(node, "multiplies data of layout " + dims_text(a.onnx_dims()) + "; Gemm needs [N, features]");
    const Tensor& b = constant_input(node, 1, "weight B");
    const bool trans_b = int_attribute(node, "transB", 0) != 0;
    const double alpha = float_attribute(node, "alpha", 1.0), beta = float_attribute(node, "beta", 1.0);
    const std::size_t in = a.shape[0];
    if (b.dims.size() != 2) fail(node, "has a weight of rank " + std::to_string(b.dims.size()));
    const std::size_t rows = static_cast<std::size_t>(b.dims[0]), cols = static_cast<std::size_t>(b.dims[1]);
    const std::size_t out = trans_b ? rows : cols;
    if ((trans_b ? cols : rows) != in)
      fail(node, "has a weight " + dims_text(b.dims) + (trans_b ? " (transposed)" : "") + " for " + std::to_string(in) + " input features");
    LayerOp op;
    op.kind = OpKind::dense;
    op.shape = {out};
    op.parameters.assign(in * out + out, 0.0f);
    for (std::size_t i = 0; i < in; ++i)
      for (std::size_t o = 0; o < out; ++o)
        op.parameters[i * out + o] = static_cast<float>(alpha * b.real(trans_b ? o * cols + i : i * cols + o));
    op.has_bias = present(node, 2);
    if (op.has_bias) {
      const Tensor& c = constant_input(node, 2, "bias C");
      Value y = data_value(-1, {out}, {batch, features});
      const auto bias = per_feature(c, y);
      if (!bias && !(c.size() == 1)) fail(node, "has a bias C of shape " + dims_text(c.dims) + "; deepjet's Dense adds one value per output");
      for (std::size_t o = 0; o < out; ++o)
        op.parameters[in * out + o] = static_cast<float>(beta * (bias ? (*bias)[o] : c.real(0)));
    }
    op.node_shapes = dims_text(a.onnx_dims()) + " -> [N, " + std::to_string(out) + "]";
    const int id = add_op(node, op, {a.op});
    set_output(node, 0, data_value(id, {out}, {batch, features}));
  }

  // MatMul by a constant: Dense on a flat input, a pointwise Conv1D on a list. A following Add of
  // a per-feature constant becomes its bias (see lower_add).
  void lower_matmul(const Node& node) {
    const Value& a = computed_input(node, 0);
    const Tensor& w = constant_input(node, 1, "weight");
    if (a.axes.empty() || a.axes.back() != features)
      fail(node, "multiplies data whose last axis is not its features");
    if (w.dims.size() != 2) fail(node, "has a weight of rank " + std::to_string(w.dims.size()) + "; deepjet imports 2-D weights");
    const std::size_t in = a.shape.back();
    if (static_cast<std::size_t>(w.dims[0]) != in)
      fail(node, "has a weight " + dims_text(w.dims) + " for " + std::to_string(in) + " input features");
    const std::size_t out = static_cast<std::size_t>(w.dims[1]);
    LayerOp op;
    op.kind = a.shape.size() == 1 ? OpKind::dense : OpKind::conv1d;
    if (a.shape.size() == 2 && a.axis_of(entries) > a.axis_of(features)) fail(node, "multiplies a channels-first list");
    op.shape = a.shape;
    op.shape.back() = out;
    op.parameters.assign(in * out + out, 0.0f);
    for (std::size_t i = 0; i < in * out; ++i) op.parameters[i] = static_cast<float>(w.real(i));
    op.has_bias = false;
    auto out_value = data_value(-1, op.shape, a.axes, a.reversed);
    op.node_shapes = dims_text(a.onnx_dims()) + " -> " + dims_text(out_value.onnx_dims());
    const int id = add_op(node, op, {a.op});
    out_value.op = id;
    bias_free_[node.output(0)] = id;
    set_output(node, 0, std::move(out_value));
  }

  void lower_add(const Node& node) {
    if (node.input_size() != 2) fail(node, "needs two inputs");
    const Value& a = value(node.input(0), &node);
    const Value& b = value(node.input(1), &node);
    if (a.kind == Value::Kind::data && b.kind == Value::Kind::data) {
      resolve(a, describe(node));
      resolve(b, describe(node));
      if (a.axes != b.axes || a.shape != b.shape || a.reversed != b.reversed)
        fail(node, "adds data of different shapes or layouts; deepjet's Add sums parts of the same shape");
      LayerOp op;
      op.kind = OpKind::add;
      op.shape = a.shape;
      op.node_shapes = dims_text(a.onnx_dims()) + ", " + dims_text(b.onnx_dims()) + " -> " + dims_text(a.onnx_dims());
      const int id = add_op(node, op, {a.op, b.op});
      set_output(node, 0, data_value(id, a.shape, a.axes, a.reversed));
      return;
    }
    // data + constant: the bias of the MatMul (or bias-free Conv) just before, if it is used only here.
    const bool a_data = a.kind == Value::Kind::data;
    const std::string& data_name = node.input(a_data ? 0 : 1);
    const Value& x = a_data ? a : b;
    const Value& c = a_data ? b : a;
    if (x.kind != Value::Kind::data || c.kind != Value::Kind::constant) fail(node, "adds values deepjet cannot import");
    auto producer = bias_free_.find(data_name);
    if (producer == bias_free_.end() || uses_[data_name] != 1)
      fail(node, "adds a constant to data that is not the output of a bias-free MatMul or Conv used only here; "
                 "deepjet has no layer that adds a constant");
    const auto bias = per_feature(c.constant, x);
    if (!bias) fail(node, "adds a constant of shape " + dims_text(c.constant.dims) + " that is not one value per feature");
    LayerOp& op = result_.ops[static_cast<std::size_t>(producer->second)];
    const std::size_t F = bias->size();
    std::copy(bias->begin(), bias->end(), op.parameters.end() - static_cast<std::ptrdiff_t>(F));
    op.has_bias = true;
    op.node_op += "+Add";
    op.folded.push_back(name_of(node));
    bias_free_.erase(producer);
    set_output(node, 0, x);
  }

  void lower_concat(const Node& node) {
    std::vector<int> ops;
    const Value& first = computed_input(node, 0);
    const std::size_t axis = normal_axis(node, int_attribute(node, "axis", 1), first.axes.size());
    if (first.axes[axis] != features) fail(node, "joins along an axis other than the features; deepjet's Concatenate joins features");
    std::size_t total = 0;
    std::string shapes;
    for (int i = 0; i < node.input_size(); ++i) {
      const Value& x = computed_input(node, i);
      if (x.axes != first.axes || x.reversed != first.reversed || x.shape.size() != first.shape.size() ||
          (x.shape.size() == 2 && x.shape[0] != first.shape[0]))
        fail(node, "joins parts of different layouts or list lengths");
      total += x.shape.back();
      ops.push_back(x.op);
      shapes += (shapes.empty() ? "" : ", ") + dims_text(x.onnx_dims());
    }
    LayerOp op;
    op.kind = OpKind::concatenate;
    op.shape = first.shape;
    op.shape.back() = total;
    const int id = add_op(node, op, ops);
    Value y = data_value(id, result_.ops[static_cast<std::size_t>(id)].shape, first.axes, first.reversed);
    result_.ops[static_cast<std::size_t>(id)].node_shapes = shapes + " -> " + dims_text(y.onnx_dims());
    set_output(node, 0, std::move(y));
  }

  void lower_batch_norm(const Node& node) {
    refuse_attributes(node, {"epsilon", "momentum", "spatial", "training_mode", "is_test", "consumed_inputs"});
    const Value& x = computed_input(node, 0);
    if (int_attribute(node, "training_mode", 0) || !int_attribute(node, "is_test", opset_ < 7 ? 0 : 1)) fail(node, "runs in training mode");
    if (!int_attribute(node, "spatial", 1)) fail(node, "normalises each position separately (spatial = 0)");
    for (int i = 1; i < node.output_size(); ++i)
      set_unusable(node, i, "the running statistics output of BatchNormalization '" + node.name() + "' is used");
    if (x.axes.size() < 2 || x.axes[1] != features)
      fail(node, "normalises axis 1 of " + dims_text(x.onnx_dims()) + ", which is not the features");
    const std::size_t F = x.shape.back();
    LayerOp op;
    op.kind = OpKind::batch_norm;
    op.shape = x.shape;
    const char* names[4] = {"scale", "B", "mean", "var"};
    for (int i = 1; i <= 4; ++i) {
      const Tensor& t = constant_input(node, i, names[i - 1]);
      if (t.size() != F) fail(node, std::string(names[i - 1]) + " has " + std::to_string(t.size()) + " values for " + std::to_string(F) + " features");
      const auto f = t.floats();
      op.parameters.insert(op.parameters.end(), f.begin(), f.end());
    }
    op.epsilon = float_attribute(node, "epsilon", 1e-5);
    finish_elementwise(node, op, x);
  }

  void lower_conv(const Node& node) {
    refuse_attributes(node, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
    const Value& x = computed_input(node, 0);
    const Tensor& w = constant_input(node, 1, "weight");
    // Which spatial axis holds the entries: [N, C, L] or [N, C, L, 1] / [N, C, 1, L].
    if (x.axes.size() < 3 || x.axes[0] != batch || x.axes[1] != features || x.axes.size() > 4)
      fail(node, "convolves data of layout " + dims_text(x.onnx_dims()) + "; deepjet's Conv1D needs [N, C, L] or [N, C, L, 1]");
    const std::size_t spatial = x.axes.size() - 2;
    std::size_t list_axis = 0;  // among the spatial axes
    for (std::size_t s = 0; s < spatial; ++s) {
      if (x.axes[2 + s] == entries) list_axis = s;
      else if (x.axes[2 + s] != unit) fail(node, "convolves over an axis that is not the list's entries");
    }
    if (x.shape.size() != 2) fail(node, "convolves flat data");
    if (group_of(node) != 1) fail(node, "has groups; deepjet's Conv1D is dense over the channels");
    auto per_axis = [&](const char* name, std::int64_t fallback) {
      auto v = ints_attribute(node, name);
      if (v.empty()) v.assign(spatial, fallback);
      if (v.size() != spatial) fail(node, std::string(name) + " has the wrong number of entries");
      return v;
    };
    const auto dilations = per_axis("dilations", 1);
    const auto strides = per_axis("strides", 1);
    const std::size_t C = x.shape[1], L = x.shape[0];
    if (w.dims.size() != 2 + spatial || static_cast<std::size_t>(w.dims[1]) != C)
      fail(node, "has a weight " + dims_text(w.dims) + " for " + std::to_string(C) + " channels");
    const std::size_t F = static_cast<std::size_t>(w.dims[0]);
    auto kernel_shape = ints_attribute(node, "kernel_shape");
    if (kernel_shape.empty()) kernel_shape.assign(w.dims.begin() + 2, w.dims.end());
    for (std::size_t s = 0; s < spatial; ++s) {
      if (dilations[s] != 1) fail(node, "has dilation " + std::to_string(dilations[s]) + "; deepjet's Conv1D has none");
      if (kernel_shape[s] != w.dims[2 + s]) fail(node, "has kernel_shape disagreeing with its weight");
      // Along the axis of size 1 a kernel of 1 without padding (checked below) reads that one
      // entry whatever the stride, and the output keeps size 1: MXNet's DeepAK8 export writes
      // strides [2, 2] for its stride-2 convolutions.
      if (s != list_axis && kernel_shape[s] != 1) fail(node, "has a kernel other than 1 along its axis of size 1");
    }
    const std::size_t K = static_cast<std::size_t>(kernel_shape[list_axis]), S = static_cast<std::size_t>(strides[list_axis]);
    if (x.reversed && K > 1) fail(node, "convolves a list whose entries are in reverse order with a kernel longer than 1");
    // Padding: explicit pads, or auto_pad.
    const std::string auto_pad = string_attribute(node, "auto_pad", "NOTSET");
    std::int64_t before = 0, after = 0;
    const std::size_t same_length = (L + S - 1) / S;
    const std::int64_t same_total = std::max<std::int64_t>(static_cast<std::int64_t>((same_length - 1) * S + K) - static_cast<std::int64_t>(L), 0);
    if (auto_pad == "NOTSET") {
      auto pads = ints_attribute(node, "pads");
      if (pads.empty()) pads.assign(2 * spatial, 0);
      if (pads.size() != 2 * spatial) fail(node, "has pads of the wrong length");
      for (std::size_t s = 0; s < spatial; ++s)
        if (s != list_axis && (pads[s] || pads[s + spatial])) fail(node, "pads its axis of size 1");
      before = pads[list_axis];
      after = pads[list_axis + spatial];
    } else if (auto_pad == "VALID") {
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      before = auto_pad == "SAME_UPPER" ? same_total / 2 : same_total - same_total / 2;
      after = same_total - before;
    } else {
      fail(node, "has auto_pad '" + auto_pad + "'");
    }
    LayerOp op;
    op.kind = OpKind::conv1d;
    op.kernel = K;
    op.stride = S;
    if (before == 0 && after == 0) {
      op.padding = Padding::valid;
      if (L < K) fail(node, "has a kernel longer than its list");
    } else if (before + after == same_total && before == same_total / 2) {
      op.padding = Padding::same;
    } else if (before == after && static_cast<std::size_t>(before) == (K - 1) / 2) {
      op.padding = Padding::symmetric;  // MXNet's pad, PyTorch's padding=K // 2 (CMS's DeepAK8)
    } else {
      fail(node, "pads " + std::to_string(before) + " entries before and " + std::to_string(after) +
                 " after; deepjet's Conv1D pads none ('valid'), as 'same' (" + std::to_string(same_total / 2) +
                 " before, " + std::to_string(same_total - same_total / 2) + " after) or 'symmetric' (" +
                 std::to_string((K - 1) / 2) + " on each side)");
    }
    const std::size_t symmetric_padded = L + 2 * ((K - 1) / 2);
    if (op.padding == Padding::symmetric && symmetric_padded < K) fail(node, "has a kernel longer than its padded list");
    const std::size_t out_length = op.padding == Padding::same        ? same_length
                                   : op.padding == Padding::symmetric ? (symmetric_padded - K) / S + 1
                                                                      : (L - K) / S + 1;
    op.shape = {out_length, F};
    // deepjet weight (K, C, F) from ONNX's (F, C, K[, 1]).
    op.parameters.assign(K * C * F + F, 0.0f);
    for (std::size_t f = 0; f < F; ++f)
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t j = 0; j < K; ++j)
          op.parameters[(j * C + c) * F + f] = static_cast<float>(w.real((f * C + c) * K + j));
    op.has_bias = present(node, 2);
    if (op.has_bias) {
      const Tensor& b = constant_input(node, 2, "bias");
      if (b.size() != F) fail(node, "has " + std::to_string(b.size()) + " biases for " + std::to_string(F) + " filters");
      const auto f = b.floats();
      std::copy(f.begin(), f.end(), op.parameters.begin() + static_cast<std::ptrdiff_t>(K * C * F));
    }
    Value y = data_value(-1, op.shape, x.axes, x.reversed);
    op.node_shapes = dims_text(x.onnx_dims()) + " -> " + dims_text(y.onnx_dims());
    y.op = add_op(node, op, {x.op});
    if (!op.has_bias) bias_free_[node.output(0)] = y.op;
    set_output(node, 0, std::move(y));
  }
  std::int64_t group_of(const Node& node) const { return int_attribute(node, "group", 1); }

  void lower_global_average_pool(const Node& node) {
    const Value& x = computed_input(node, 0);
    if (x.shape.size() != 2 || x.axes.size() < 3 || x.axes[0] != batch || x.axes[1] != features)
      fail(node, "pools data of layout " + dims_text(x.onnx_dims()) + "; deepjet pools a list given as [N, C, L(, 1)]");
    pool(node, x, [&] {
      std::vector<char> axes = x.axes;
      for (std::size_t i = 2; i < axes.size(); ++i) axes[i] = unit;
      return axes;
    }());
  }
  void lower_reduce_mean(const Node& node) {
    const Value& x = computed_input(node, 0);
    auto axes = axes_of(node, 1);
    if (x.shape.size() != 2 || !axes || axes->size() != 1 ||
        x.axes[normal_axis(node, (*axes)[0], x.axes.size())] != entries)
      fail(node, "averages over axes other than the entries of a list; deepjet imports that as GlobalAveragePooling only");
    std::vector<char> out = x.axes;
    const std::size_t axis = normal_axis(node, (*axes)[0], x.axes.size());
    if (int_attribute(node, "keepdims", 1)) out[axis] = unit;
    else out.erase(out.begin() + static_cast<std::ptrdiff_t>(axis));
    pool(node, x, out);
  }
  template <class Axes>
  void pool(const Node& node, const Value& x, Axes out_axes) {
    LayerOp op;
    op.kind = OpKind::global_average_pooling;
    op.shape = {x.shape[1]};
    Value y = data_value(-1, op.shape, out_axes);
    op.node_shapes = dims_text(x.onnx_dims()) + " -> " + dims_text(y.onnx_dims());
    y.op = add_op(node, op, {x.op});
    set_output(node, 0, std::move(y));
  }

  // ---- recurrent layers (LSTM, GRU) --------------------------------------------------------
  // Both read X as [T, N, F] (layout = 0, ONNX's default) or [N, T, F] (layout = 1).
  void require_sequence_layout(const Node& node, const Value& x) {
    const std::int64_t layout = int_attribute(node, "layout", 0);
    const std::vector<char> want = layout ? std::vector<char>{batch, entries, features} : std::vector<char>{entries, batch, features};
    if (x.axes != want)
      fail(node, "reads data of layout " + dims_text(x.onnx_dims()) + " that is not [sequence, batch, features]" +
                 (layout ? " with layout = 1 [batch, sequence, features]" : ""));
  }
  // direction "forward" or "reverse"; whether the list is read backwards, given how it arrives.
  bool reads_backwards(const Node& node, const Value& x, const std::string& layer) {
    const std::string direction = string_attribute(node, "direction", "forward");
    if (direction != "forward" && direction != "reverse")
      fail(node, "runs in direction '" + direction + "'; deepjet's " + layer + " runs one way (import a bidirectional " +
                 layer + " as two layers: not supported yet)");
    // ONNX (forward over the physical order) on entries in reverse order = deepjet backwards.
    return (direction == "reverse") != x.reversed;
  }
  // The activations attribute: `count` functions for one direction, the first for the gates
  // (Sigmoid, or HardSigmoid(0.2, 0.5): true), the others Tanh (`rest` says where they act).
  // Absent, ONNX's defaults: Sigmoid and Tanh.
  bool gates_are_hard_sigmoid(const Node& node, std::size_t count, const std::string& layer, const std::string& rest) {
    const auto* a = attribute(node, "activations");
    if (!a) return false;
    std::vector<std::string> acts(a->strings().begin(), a->strings().end());
    if (acts.size() != count) fail(node, "has " + std::to_string(acts.size()) + " activations for one direction");
    auto lower_case = [](std::string s) {
      for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return s;
    };
    bool hard = false;
    const std::string f = lower_case(acts[0]);
    if (f == "hardsigmoid") {
      hard = true;
      const auto* alpha = attribute(node, "activation_alpha");
      const auto* beta = attribute(node, "activation_beta");
      const float al = alpha && alpha->floats_size() > 0 ? alpha->floats(0) : 0.2f;
      const float be = beta && beta->floats_size() > 0 ? beta->floats(0) : 0.5f;
      if (al != 0.2f || be != 0.5f)
        fail(node, "uses HardSigmoid(" + number_text(al) + ", " + number_text(be) + ") gates; deepjet's hard_sigmoid_gates is (0.2, 0.5)");
      if ((alpha && alpha->floats_size() > 1) || (beta && beta->floats_size() > 1))
        fail(node, "gives parameters for its other activations");
    } else if (f != "sigmoid") {
      fail(node, "uses '" + acts[0] + "' for its gates; deepjet's " + layer + " uses Sigmoid or HardSigmoid(0.2, 0.5)");
    } else if (attribute(node, "activation_alpha") || attribute(node, "activation_beta")) {
      fail(node, "gives activation parameters that deepjet's Sigmoid/Tanh do not take");
    }
    std::string others;
    bool all_tanh = true;
    for (std::size_t i = 1; i < count; ++i) {
      others += (i > 1 ? " / " : "") + acts[i];
      all_tanh &= lower_case(acts[i]) == "tanh";
    }
    if (!all_tanh) fail(node, "uses " + others + " for its " + rest + "; deepjet's " + layer + " uses Tanh");
    return hard;
  }
  // W [1, rows, F], R [1, rows, H] and B [1, 2 rows] (zeros if absent), as doubles for B.
  std::vector<double> recurrent_weights(const Node& node, std::size_t rows, std::size_t F, std::size_t H,
                                        const Tensor*& W, const Tensor*& R) {
    W = &constant_input(node, 1, "W");
    R = &constant_input(node, 2, "R");
    if (W->dims != std::vector<std::int64_t>{1, static_cast<std::int64_t>(rows), static_cast<std::int64_t>(F)})
      fail(node, "has W " + dims_text(W->dims) + "; expected [1, " + std::to_string(rows) + ", " + std::to_string(F) + "]");
    if (R->dims != std::vector<std::int64_t>{1, static_cast<std::int64_t>(rows), static_cast<std::int64_t>(H)})
      fail(node, "has R " + dims_text(R->dims) + "; expected [1, " + std::to_string(rows) + ", " + std::to_string(H) + "]");
    std::vector<double> B(2 * rows, 0.0);
    if (present(node, 3)) {
      const Tensor& b = constant_input(node, 3, "B");
      if (b.size() != 2 * rows) fail(node, "has B " + dims_text(b.dims) + "; expected [1, " + std::to_string(2 * rows) + "]");
      for (std::size_t i = 0; i < 2 * rows; ++i) B[i] = b.real(i);
    }
    return B;
  }
  // Inputs 4 (sequence_lens) and `initial` (initial_h, and initial_c for the LSTM): absent or zeros.
  void refuse_lengths_and_initial_states(const Node& node, std::initializer_list<int> initial, const std::string& layer) {
    if (present(node, 4)) fail(node, "has sequence_lens; deepjet's " + layer + " always reads the whole list");
    for (int i : initial) {
      if (!present(node, i)) continue;
      const Value& init = input(node, i);
      bool zero = init.kind == Value::Kind::zeros;
      if (init.kind == Value::Kind::constant) {
        zero = true;
        for (std::size_t k = 0; k < init.constant.size(); ++k) zero &= init.constant.real(k) == 0.0;
      }
      if (!zero)
        fail(node, std::string("starts from a non-zero initial ") + (i == 5 ? "state" : "cell") + "; deepjet's " + layer +
                   " starts from zeros");
    }
  }
  // Y: [T, 1, N, H] (layout 1: [N, T, 1, H]) and Y_h: [1, N, H] ([N, 1, H]) of recurrent op `id`,
  // both pending until a reader fixes which one the layer gives.
  void set_recurrent_outputs(const Node& node, int id, const Value& x, std::size_t T, std::size_t H) {
    const bool layout = int_attribute(node, "layout", 0) != 0;
    Value y = data_value(id, {T, H}, layout ? std::vector<char>{batch, entries, unit, features}
                                            : std::vector<char>{entries, unit, batch, features}, x.reversed);
    y.pending_lstm = id;
    Value y_h = data_value(id, {H}, layout ? std::vector<char>{batch, unit, features} : std::vector<char>{unit, batch, features});
    y_h.pending_lstm = id;
    y_h.lstm_final = true;
    auto& stored = result_.ops[static_cast<std::size_t>(id)];
    stored.node_shapes = dims_text(x.onnx_dims()) + " -> " + dims_text(y.onnx_dims()) + ", " + dims_text(y_h.onnx_dims());
    set_output(node, 0, std::move(y));
    set_output(node, 1, std::move(y_h));
  }

  void lower_lstm(const Node& node) {
    refuse_attributes(node, {"activations", "activation_alpha", "activation_beta", "direction", "hidden_size",
                             "input_forget", "layout", "clip"});
    const Value& x = computed_input(node, 0);
    require_sequence_layout(node, x);
    if (attribute(node, "clip")) fail(node, "clips its cell state; deepjet's LSTM does not");
    if (int_attribute(node, "input_forget", 0)) fail(node, "couples its input and forget gates (input_forget)");
    const bool backwards = reads_backwards(node, x, "LSTM");
    const std::size_t H = static_cast<std::size_t>(int_attribute(node, "hidden_size", 0));
    const std::size_t T = x.shape[0], F = x.shape[1];
    // Activations f (gates), g (input), h (output): Sigmoid or HardSigmoid(0.2, 0.5), Tanh, Tanh.
    const bool hard = gates_are_hard_sigmoid(node, 3, "LSTM", "cell");
    const std::size_t G = 4 * H;
    const Tensor* W = nullptr;
    const Tensor* R = nullptr;
    const std::vector<double> B = recurrent_weights(node, G, F, H, W, R);
    refuse_lengths_and_initial_states(node, {5, 6}, "LSTM");
    if (present(node, 7)) {
      const Tensor& p = constant_input(node, 7, "P (peepholes)");
      for (std::size_t k = 0; k < p.size(); ++k)
        if (p.real(k) != 0.0) fail(node, "has peephole connections (input P); deepjet's LSTM has none");
    }
    LayerOp op;
    op.kind = OpKind::lstm;
    if (x.reversed) op.folded = x.reversed_by;  // the Slice that reversed its input
    op.hard_sigmoid = hard;
    op.backwards = backwards;
    op.direction_source = "its direction attribute, and whether its input was reversed by a Slice";
    op.shape = {T, H};
    // kernel (F, 4H), recurrent_kernel (H, 4H), bias (4H); deepjet gate k = i, f, g, o is ONNX gate
    // onnx_gate[k] of i, o, f, c.
    constexpr std::size_t onnx_gate[4] = {0, 2, 3, 1};
    op.parameters.assign(F * G + H * G + G, 0.0f);
    float* kernel = op.parameters.data();
    float* recurrent = kernel + F * G;
    float* bias = recurrent + H * G;
    for (std::size_t k = 0; k < 4; ++k)
      for (std::size_t u = 0; u < H; ++u) {
        const std::size_t row = onnx_gate[k] * H + u, column = k * H + u;
        for (std::size_t f = 0; f < F; ++f) kernel[f * G + column] = static_cast<float>(W->real(row * F + f));
        for (std::size_t h = 0; h < H; ++h) recurrent[h * G + column] = static_cast<float>(R->real(row * H + h));
        bias[column] = static_cast<float>(B[row] + B[G + row]);
      }
    const int id = add_op(node, op, {x.op});
    set_recurrent_outputs(node, id, x, T, H);
    set_unusable(node, 2, "the cell state Y_c of LSTM '" + node.name() + "' is used; deepjet's LSTM does not output it");
  }

  // ONNX GRU, one direction: deepjet's GRU (gate order z, r, h in both). See the top of this file
  // for where linear_before_reset puts the recurrent bias.
  void lower_gru(const Node& node) {
    refuse_attributes(node, {"activations", "activation_alpha", "activation_beta", "direction", "hidden_size",
                             "layout", "clip", "linear_before_reset"});
    const Value& x = computed_input(node, 0);
    require_sequence_layout(node, x);
    if (attribute(node, "clip")) fail(node, "clips its gate inputs (clip); deepjet's GRU does not");
    const bool backwards = reads_backwards(node, x, "GRU");
    const std::size_t H = static_cast<std::size_t>(int_attribute(node, "hidden_size", 0));
    const std::size_t T = x.shape[0], F = x.shape[1];
    if (H == 0) fail(node, "has no hidden_size");
    // Activations f (gates z, r), g (candidate): Sigmoid or HardSigmoid(0.2, 0.5), Tanh.
    const bool hard = gates_are_hard_sigmoid(node, 2, "GRU", "candidate");
    const std::size_t G = 3 * H;
    const Tensor* W = nullptr;
    const Tensor* R = nullptr;
    const std::vector<double> B = recurrent_weights(node, G, F, H, W, R);
    refuse_lengths_and_initial_states(node, {5}, "GRU");
    LayerOp op;
    op.kind = OpKind::gru;
    if (x.reversed) op.folded = x.reversed_by;  // the Slice that reversed its input
    op.hard_sigmoid = hard;
    op.backwards = backwards;
    op.direction_source = "its direction attribute, and whether its input was reversed by a Slice";
    op.reset_after = int_attribute(node, "linear_before_reset", 0) != 0;
    op.reset_source = std::string("linear_before_reset = ") + (op.reset_after ? "1" : "0");
    op.shape = {T, H};
    // kernel (F, 3H) = W[0]^T, recurrent_kernel (H, 3H) = R[0]^T, the same gate order; then
    // reset_after: bias = Wb, recurrent_bias = Rb; reset_before: bias = Wb + Rb.
    op.parameters.assign(F * G + H * G + G + (op.reset_after ? G : 0), 0.0f);
    float* kernel = op.parameters.data();
    float* recurrent = kernel + F * G;
    float* bias = recurrent + H * G;
    for (std::size_t row = 0; row < G; ++row) {
      for (std::size_t f = 0; f < F; ++f) kernel[f * G + row] = static_cast<float>(W->real(row * F + f));
      for (std::size_t h = 0; h < H; ++h) recurrent[h * G + row] = static_cast<float>(R->real(row * H + h));
      if (op.reset_after) {
        bias[row] = static_cast<float>(B[row]);
        bias[G + row] = static_cast<float>(B[G + row]);
      } else {
        bias[row] = static_cast<float>(B[row] + B[G + row]);
      }
    }
    const int id = add_op(node, op, {x.op});
    set_recurrent_outputs(node, id, x, T, H);
  }

  const ::onnx::GraphProto& graph_;
  std::int64_t opset_;
  std::map<std::string, Value> values_;
  std::set<std::string> initializers_, read_initializers_;
  std::map<std::string, int> uses_;
  std::map<std::string, int> bias_free_;  // output name -> MatMul/Conv op without a bias yet
  LayerGraph result_;
};

}  // namespace deepjet::onnx::import_detail
