// deepjet/interchange/graph/outline.hpp: a model type's structure as data, for the importers.
//
// Contract: `outline<Net>()` gives a tree that mirrors how Net is composed: a Sequential (or
// Stack) is a chain of its children, Branches feeds part i of its input to child i, Parallel feeds
// its whole input to every child; leaves are layers with their path (as in Model::architecture()),
// kind, signature, input and output shapes, where their parameters start in the model's flat
// array, and the options an importer must check against the foreign file (Conv1D kernel, stride,
// padding and bias; LSTM and GRU direction, output and gate activation, GRU reset convention;
// BatchNorm epsilon). Nothing here reads a file and nothing here knows a file format; the Matcher
// (matcher.hpp) walks this tree beside a lowered graph (layer_graph.hpp) of any format.
#pragma once

#include "deepjet/layers/conv1d/conv1d.hpp"
#include "deepjet/layers/gru/gru.hpp"
#include "deepjet/layers/layer.hpp"
#include "deepjet/layers/lstm/lstm.hpp"
#include "deepjet/layers/normalization/batch_norm.hpp"
#include "deepjet/models/branches.hpp"
#include "deepjet/models/sequential.hpp"

#include <string>
#include <utility>
#include <vector>

namespace deepjet::interchange {

struct Outline {
  enum class Kind { chain, branches, parallel, leaf } kind = Kind::leaf;
  std::vector<Outline> children;
  std::string path, layer_kind, signature;
  std::size_t offset = 0, parameter_count = 0;
  std::vector<std::vector<std::size_t>> input_shapes;   ///< one per part (one for a single shape)
  std::vector<std::vector<std::size_t>> output_shapes;  ///< likewise
  bool identity_at_inference = false;                   ///< Dropout, Identity
  // Conv1D
  std::size_t kernel = 1, stride = 1;
  Padding padding = Padding::valid;
  bool use_bias = true;
  // LSTM, GRU
  bool backwards = false, returns_sequence = false, hard_sigmoid = false;
  // GRU: reset_after (ONNX linear_before_reset = 1, Keras reset_after=True) or reset_before
  bool reset_after = false;
  // BatchNorm
  double epsilon = 0;
  /// "0.1.3 Conv1D (25, 16) -> (25, 64) [kernel 1, ...]"
  std::string text() const { return "'" + path + "' " + signature; }
};

template <class S>
struct shape_list {
  static std::vector<std::vector<std::size_t>> get() { return {std::vector<std::size_t>(S::dims.begin(), S::dims.end())}; }
};
template <class... Parts>
struct shape_list<Shapes<Parts...>> {
  static std::vector<std::vector<std::size_t>> get() {
    return {std::vector<std::size_t>(Parts::dims.begin(), Parts::dims.end())...};
  }
};

template <class L>
struct composite_kind {
  static constexpr Outline::Kind value = Outline::Kind::leaf;
};
template <class In, class... Specs>
struct composite_kind<SequentialLayer<In, Specs...>> {
  static constexpr Outline::Kind value = Outline::Kind::chain;
};
template <class In, class... Specs>
struct composite_kind<BranchesLayer<In, Specs...>> {
  static constexpr Outline::Kind value = Outline::Kind::branches;
};
template <class In, class... Specs>
struct composite_kind<ParallelLayer<In, Specs...>> {
  static constexpr Outline::Kind value = Outline::Kind::parallel;
};

// The options of the layers whose foreign counterparts carry them.
template <class L>
struct leaf_traits {
  static void fill(Outline&) {}
};
template <std::size_t Length, std::size_t Channels, std::size_t Filters, std::size_t K, std::size_t S, Padding P, bool B>
struct leaf_traits<Conv1DLayer<Length, Channels, Filters, K, S, P, B>> {
  static void fill(Outline& o) {
    o.kernel = K;
    o.stride = S;
    o.padding = P;
    o.use_bias = B;
  }
};
template <std::size_t T, std::size_t F, std::size_t H, Direction D, bool Seq, GateActivation G>
struct leaf_traits<LSTMLayer<T, F, H, D, Seq, G>> {
  static void fill(Outline& o) {
    o.backwards = D == Direction::backwards;
    o.returns_sequence = Seq;
    o.hard_sigmoid = G == GateActivation::hard_sigmoid;
  }
};
template <std::size_t T, std::size_t F, std::size_t H, GRUReset R, Direction D, bool Seq, GateActivation G>
struct leaf_traits<GRULayer<T, F, H, R, D, Seq, G>> {
  static void fill(Outline& o) {
    o.backwards = D == Direction::backwards;
    o.returns_sequence = Seq;
    o.hard_sigmoid = G == GateActivation::hard_sigmoid;
    o.reset_after = R == GRUReset::after;
  }
};
template <ShapeType S, float M, float E>
struct leaf_traits<BatchNormLayer<S, M, E>> {
  static void fill(Outline& o) { o.epsilon = E; }
};

inline std::string child_path(const std::string& path, std::size_t i) {
  return path.empty() ? std::to_string(i) : path + "." + std::to_string(i);
}

template <class L>
Outline outline(const std::string& path = "", std::size_t offset = 0) {
  Outline o;
  o.kind = composite_kind<L>::value;
  o.path = path;
  o.offset = offset;
  o.parameter_count = L::parameter_count;
  o.input_shapes = shape_list<typename L::input_shape>::get();
  o.output_shapes = shape_list<typename L::output_shape>::get();
  if constexpr (composite_kind<L>::value == Outline::Kind::chain) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (o.children.push_back(outline<typename L::template layer_type<I>>(child_path(path, I), offset + L::parameter_offsets[I])),
       ...);
    }(std::make_index_sequence<L::depth>{});
  } else if constexpr (composite_kind<L>::value != Outline::Kind::leaf) {
    std::size_t child_offset = offset;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((o.children.push_back(outline<typename L::template child_type<I>>(child_path(path, I), child_offset)),
        child_offset += L::template child_type<I>::parameter_count),
       ...);
    }(std::make_index_sequence<L::width>{});
  } else {
    Architecture table;
    L::describe(table, path, offset);
    o.layer_kind = table.layers.at(0).kind;
    o.signature = table.layers.at(0).signature;
    o.identity_at_inference = requires { requires L::identity_at_inference; };
    leaf_traits<L>::fill(o);
  }
  return o;
}

}  // namespace deepjet::interchange
