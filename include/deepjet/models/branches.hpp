// deepjet/models/branches.hpp: layers side by side.
//
//   Branches<Stack<...>, Stack<...>, ...>   takes Shapes<A, B, ...> (one part per branch) and runs
//                                           each branch on its own part: the per-block branches of a
//                                           multi-input model (DeepJet: global, cpf, npf, sv).
//   Parallel<Stack<...>, Stack<...>, ...>   runs every stack on the same input: parallel heads
//   (alias Heads<...>)                      (a classifier and a regression), or a residual block
//                                           with its shortcut.
// Both give Shapes<outputs...>; Concatenate or Add (layers/merge) join them again, and a model may
// also end with several outputs. Children are named "<path>.<i>", and their parameters follow one
// another in branch order. Parallel's input gradient is the sum of its stacks' input gradients.
#pragma once

#include "deepjet/core/aligned.hpp"
#include "deepjet/layers/layer.hpp"
#include "deepjet/layers/merge/merge.hpp"
#include "deepjet/models/sequential.hpp"

#include <algorithm>
#include <array>
#include <tuple>
#include <utility>

namespace deepjet {

namespace detail {
// Storage, parameter layout, naming and visiting shared by the side-by-side composites.
template <class... Children>
class SideBySide {
 public:
  static constexpr std::size_t width = sizeof...(Children);
  using indices = std::make_index_sequence<width>;
  template <std::size_t I>
  using child_type = std::tuple_element_t<I, std::tuple<Children...>>;

  static constexpr std::array<std::size_t, width + 1> parameter_offsets = [] {
    std::array<std::size_t, width + 1> o{};
    const std::array<std::size_t, width> counts{Children::parameter_count...};
    for (std::size_t i = 0; i < width; ++i) o[i + 1] = o[i] + counts[i];
    return o;
  }();
  static constexpr std::size_t parameter_count = parameter_offsets[width];
  /// Where child I's parameters start in the inference layout (layers/layer.hpp).
  static constexpr std::array<std::size_t, width + 1> inference_offsets = [] {
    std::array<std::size_t, width + 1> o{};
    const std::array<std::size_t, width> counts{inference_parameter_count_of<Children>...};
    for (std::size_t i = 0; i < width; ++i) o[i + 1] = align_inference_offset(o[i] + counts[i]);
    return o;
  }();
  static constexpr std::size_t inference_parameter_count = inference_offsets[width];

  static void pack_for_inference(const float* params, float* packed) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (pack_inference_parameters<child_type<I>>(params + parameter_offsets[I], packed + inference_offsets[I]), ...);
    }(indices{});
  }
  /// bfloat16 packing (layers/precision.hpp): each child converts its own part.
  static void pack_bf16(float* packed) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (pack_for_precision<Precision::bfloat16, child_type<I>>(packed + inference_offsets[I]), ...);
    }(indices{});
  }

  static constexpr std::size_t scratch_size(std::size_t count) {
    return std::max({Children::scratch_size(count)...});
  }

  static void describe(Architecture& architecture, const std::string& path, std::size_t offset) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (child_type<I>::describe(architecture, child_path(path, I), offset + parameter_offsets[I]), ...);
    }(indices{});
  }

  template <class F>
  void for_each_layer(const std::string& path, F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (visit_layers(std::get<I>(children_), child_path(path, I), f), ...);
    }(indices{});
  }

  template <std::size_t I>
  child_type<I>& child() { return std::get<I>(children_); }

 protected:
  static std::string child_path(const std::string& path, std::size_t i) {
    return path.empty() ? std::to_string(i) : path + "." + std::to_string(i);
  }
  std::tuple<Children...> children_;
};
}  // namespace detail

template <ShapesType In, class... Specs>
class BranchesLayer {
  static_assert(In::count == sizeof...(Specs),
                "deepjet::Branches needs exactly one branch per input block (see the counts below)");
};

template <ShapeType... Parts, class... Specs>
  requires(sizeof...(Parts) == sizeof...(Specs))
class BranchesLayer<Shapes<Parts...>, Specs...> : public detail::SideBySide<bind_t<Specs, Parts>...> {
  using Base = detail::SideBySide<bind_t<Specs, Parts>...>;
  using typename Base::indices;
  using Base::parameter_offsets;
  using Base::inference_offsets;
  using Base::children_;

 public:
  using input_shape = Shapes<Parts...>;
  using output_shape = Shapes<typename bind_t<Specs, Parts>::output_shape...>;

  static void infer(const float* packed, ConstBatch<input_shape> in, Batch<output_shape> out, float* scratch) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (Base::template child_type<I>::infer(packed + inference_offsets[I], in.template part<I>(), out.template part<I>(), scratch), ...);
    }(indices{});
  }
  static void infer_bf16(const float* packed, ConstBatch<input_shape> in, Batch<output_shape> out, float* scratch) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (infer_at<Precision::bfloat16, typename Base::template child_type<I>>(
           packed + inference_offsets[I], in.template part<I>(), out.template part<I>(), scratch),
       ...);
    }(indices{});
  }
  void forward(TrainingContext& context, float* params, ConstBatch<input_shape> in, Batch<output_shape> out) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (std::get<I>(children_).forward(context, params + parameter_offsets[I], in.template part<I>(), out.template part<I>()), ...);
    }(indices{});
  }
  void backward(const float* params, float* grads, ConstBatch<input_shape> in, ConstBatch<output_shape> out,
                ConstBatch<output_shape> dout, Batch<input_shape> din) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (std::get<I>(children_).backward(params + parameter_offsets[I], grads + parameter_offsets[I], in.template part<I>(),
                                       out.template part<I>(), dout.template part<I>(), din.template part<I>()),
       ...);
    }(indices{});
  }
};

template <class... Specs>
struct Branches {
  template <class In>
  struct binder {
    static_assert(ShapesType<In>,
                  "deepjet::Branches takes several input blocks, Inputs<...>; this input is a single shape");
    using type = BranchesLayer<In, Specs...>;
  };
  template <class In>
  using bind = typename binder<In>::type;
};

template <ShapeType In, class... Specs>
class ParallelLayer : public detail::SideBySide<bind_t<Specs, In>...> {
  using Base = detail::SideBySide<bind_t<Specs, In>...>;
  using typename Base::indices;
  using Base::parameter_offsets;
  using Base::inference_offsets;
  using Base::children_;

 public:
  using input_shape = In;
  using output_shape = Shapes<typename bind_t<Specs, In>::output_shape...>;

  static void infer(const float* packed, ConstBatch<In> in, Batch<output_shape> out, float* scratch) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (Base::template child_type<I>::infer(packed + inference_offsets[I], in, out.template part<I>(), scratch), ...);
    }(indices{});
  }
  static void infer_bf16(const float* packed, ConstBatch<In> in, Batch<output_shape> out, float* scratch) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (infer_at<Precision::bfloat16, typename Base::template child_type<I>>(packed + inference_offsets[I], in,
                                                                           out.template part<I>(), scratch),
       ...);
    }(indices{});
  }
  void forward(TrainingContext& context, float* params, ConstBatch<In> in, Batch<output_shape> out) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (std::get<I>(children_).forward(context, params + parameter_offsets[I], in, out.template part<I>()), ...);
    }(indices{});
  }
  // The first stack writes the input gradient; the others write into a buffer that is added.
  void backward(const float* params, float* grads, ConstBatch<In> in, ConstBatch<output_shape> out,
                ConstBatch<output_shape> dout, Batch<In> din) {
    float* extra = din.data ? ensure_size(input_gradient_, din.size()) : nullptr;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (backward_child<I>(params, grads, in, out, dout, din, extra), ...);
    }(indices{});
  }

 private:
  template <std::size_t I>
  void backward_child(const float* params, float* grads, ConstBatch<In> in, ConstBatch<output_shape> out,
                      ConstBatch<output_shape> dout, Batch<In> din, float* extra) {
    Batch<In> target{I == 0 ? din.data : extra, din.count};
    std::get<I>(children_).backward(params + parameter_offsets[I], grads + parameter_offsets[I], in,
                                    out.template part<I>(), dout.template part<I>(), target);
    if (I > 0 && din.data)
      for (std::size_t i = 0; i < din.size(); ++i) din.data[i] += extra[i];
  }
  AlignedFloats input_gradient_;
};

template <class... Specs>
struct Parallel {
  template <class In>
  struct binder {
    static_assert(ShapeType<In>, "deepjet::Parallel takes a single input shape; for several inputs use Branches");
    using type = ParallelLayer<In, Specs...>;
  };
  template <class In>
  using bind = typename binder<In>::type;
};

/// Several outputs from one trunk: Heads<Stack<Dense<6>, Softmax>, Stack<Dense<1>>>.
template <class... Specs>
using Heads = Parallel<Specs...>;

/// A residual block, Block(x) + Shortcut(x); Block is a spec, usually a Stack<...>. Give the
/// shortcut a 1x1 convolution when the block changes the width.
template <class Block, class Shortcut = Identity>
using Residual = Stack<Parallel<Block, Shortcut>, Add>;

}  // namespace deepjet
