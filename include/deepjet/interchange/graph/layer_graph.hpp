// deepjet/interchange/graph/layer_graph.hpp: a foreign model rewritten as deepjet-level operations.
//
// Contract: a LayerGraph is what every importer's lowering produces (ONNX: onnx/lowering.hpp;
// Keras: keras/lowering.hpp) and what the Matcher (matcher.hpp) matches to a model type's Outline
// (outline.hpp). Its operations are deepjet layers on deepjet's channels-last layout, their
// parameters already in deepjet's layouts (layers/*/ document them), each naming the foreign
// node or layer it came from for messages. Nothing here knows a file format or reads a file.
#pragma once

#include "deepjet/layers/conv1d/conv1d.hpp"

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace deepjet::interchange {

/// What a deepjet-level operation computes (named as the deepjet layer kinds, layers/*).
enum class OpKind { input, dense, conv1d, batch_norm, lstm, gru, relu, elu, tanh, sigmoid, softmax, concatenate, add,
                    global_average_pooling, flatten };

inline std::string kind_name(OpKind k) {
  switch (k) {
    case OpKind::input: return "Input";
    case OpKind::dense: return "Dense";
    case OpKind::conv1d: return "Conv1D";
    case OpKind::batch_norm: return "BatchNorm";
    case OpKind::lstm: return "LSTM";
    case OpKind::gru: return "GRU";
    case OpKind::relu: return "ReLU";
    case OpKind::elu: return "ELU";
    case OpKind::tanh: return "Tanh";
    case OpKind::sigmoid: return "Sigmoid";
    case OpKind::softmax: return "Softmax";
    case OpKind::concatenate: return "Concatenate";
    case OpKind::add: return "Add";
    case OpKind::global_average_pooling: return "GlobalAveragePooling";
    case OpKind::flatten: return "Flatten";
  }
  return "?";
}

/// One deepjet-level operation. Its parameters are in deepjet's training layout for that layer:
///   dense:      weight (in, out), bias (out)
///   conv1d:     weight (kernel, channels, filters), bias (filters) (zeros when has_bias is false)
///   batch_norm: gamma, beta, running_mean, running_var (features each), with `epsilon`
///   lstm:       kernel (F, 4H), recurrent_kernel (H, 4H), bias (4H), gates i, f, g, o
///   gru:        kernel (F, 3H), recurrent_kernel (H, 3H), bias (3H)[, recurrent_bias (3H) with
///               reset_after], gates z, r, h
struct LayerOp {
  OpKind kind = OpKind::input;
  std::string node;         ///< the ONNX node, Keras layer (or graph input) it came from
  std::string node_op;      ///< its op type or layer class ("Conv", "MatMul+Add", "GRU", "graph input")
  std::string node_shapes;  ///< "[N, 16, 25] -> [N, 64, 25]", for messages
  std::vector<int> inputs;  ///< operations whose outputs it reads, in order
  std::vector<std::size_t> shape;  ///< its output per sample, deepjet's logical shape
  std::vector<float> parameters;
  bool has_bias = true;
  std::size_t kernel = 1, stride = 1;
  Padding padding = Padding::valid;
  double epsilon = 0;
  bool backwards = false, hard_sigmoid = false;
  bool reset_after = false;   ///< GRU: ONNX linear_before_reset = 1, Keras reset_after=True
  std::string direction_source;  ///< LSTM, GRU: what in the file sets the direction, for messages
  std::string reset_source;   ///< GRU: how the file says it ("linear_before_reset = 0"), for messages
  int returns_sequence = -1;  ///< LSTM, GRU: 1 sequence, 0 final state, -1 not decided yet
  std::size_t input_index = 0;  ///< input: the graph input's position
  std::string graph_input;      ///< input: its name
  std::vector<std::string> folded;  ///< other nodes absorbed into it (an ONNX bias Add)
};

/// The lowered graph: operations in data-flow order, and what the graph outputs are.
/// The input operations come first, in the order of the model's input blocks.
struct LayerGraph {
  std::string format = "ONNX";   ///< the file format, for messages ("ONNX", "Keras")
  std::string element = "node";  ///< what the format calls one operation ("node", "layer")
  std::vector<LayerOp> ops;
  struct Output {
    std::string name;
    int op = -1;
    std::vector<std::int64_t> dims;  ///< as the file gives it (batch as -1 or the ONNX stand-in)
    bool canonical = true;  ///< batch first, then the deepjet shape (axes of size 1 aside)
  };
  std::vector<Output> outputs;
  std::vector<std::string> unused_weights;  ///< weights no operation reads (refused by the readers)
};

/// A number as a person writes it: 1e-06, 0.2, 2.
inline std::string number_text(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

/// A deepjet shape per sample: "(25, 16)".
inline std::string shape_text(const std::vector<std::size_t>& s) {
  std::string t = "(";
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + ")";
}

}  // namespace deepjet::interchange
