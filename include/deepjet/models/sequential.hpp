// deepjet/models/sequential.hpp: layers applied one after the other, composed at compile time.
//
//   using Net = deepjet::Sequential<deepjet::Input<4>, deepjet::Dense<16>, deepjet::ReLU,
//                                   deepjet::Dense<3>, deepjet::Softmax>;
//
// Each spec is bound to the output shape of the one before it (layers/layer.hpp), so widths are
// written once. The result is itself a Layer: a Sequential can be a branch of a bigger model, and
// Stack<Specs...> is the same chain as a spec, for nesting without repeating the input shape.
// Its parameters are its layers' parameters one after the other; its layers are named by their
// position ("0", "1", ... and "2.0" inside a nested stack).
//
// Training memory: the outputs of all inner layers for the current batch (kept for backward) and
// two gradient buffers; they grow to the largest batch seen and are then reused, so steady
// training allocates nothing.
#pragma once

#include "deepjet/core/aligned.hpp"
#include "deepjet/layers/layer.hpp"

#include <algorithm>
#include <tuple>
#include <utility>

namespace deepjet {

namespace detail {
template <class In, class... Specs>
struct bind_chain;
template <class In>
struct bind_chain<In> {
  using type = std::tuple<>;
};
template <class In, class Spec, class... Rest>
struct bind_chain<In, Spec, Rest...> {
  using first = bind_t<Spec, In>;
  static_assert(Layer<first>, "deepjet: a spec's bind<> did not produce a deepjet::Layer");
  using rest = typename bind_chain<typename first::output_shape, Rest...>::type;
  using type = decltype(std::tuple_cat(std::declval<std::tuple<first>>(), std::declval<rest>()));
};
}  // namespace detail

template <AnyShape In, class... Specs>
class SequentialLayer {
  static_assert(sizeof...(Specs) > 0, "deepjet::Sequential needs at least one layer after its Input");

 public:
  using layers_tuple = typename detail::bind_chain<In, Specs...>::type;
  static constexpr std::size_t depth = sizeof...(Specs);
  template <std::size_t I>
  using layer_type = std::tuple_element_t<I, layers_tuple>;

  using input_shape = In;
  using output_shape = typename layer_type<depth - 1>::output_shape;

 private:
  template <std::size_t... I>
  static constexpr auto offsets_of(std::index_sequence<I...>) {
    std::array<std::size_t, depth + 1> offsets{};
    const std::array<std::size_t, depth> counts{layer_type<I>::parameter_count...};
    for (std::size_t i = 0; i < depth; ++i) offsets[i + 1] = offsets[i] + counts[i];
    return offsets;
  }
  template <std::size_t... I>
  static constexpr std::array<std::size_t, depth> output_sizes(std::index_sequence<I...>) {
    return {layer_type<I>::output_shape::size...};
  }
  using indices = std::make_index_sequence<depth>;

 public:
  /// Where layer I's parameters start in this stack's parameter slice.
  static constexpr std::array<std::size_t, depth + 1> parameter_offsets = offsets_of(indices{});
  static constexpr std::size_t parameter_count = parameter_offsets[depth];
  static constexpr std::array<std::size_t, depth> layer_output_sizes = output_sizes(indices{});
  /// Floats per sample of the outputs of all layers but the last (kept for the backward pass).
  static constexpr std::size_t inner_activation_size = [] {
    std::size_t total = 0;
    for (std::size_t i = 0; i + 1 < depth; ++i) total += layer_output_sizes[i];
    return total;
  }();
  /// The largest per-sample size of any layer's input or output (for gradient buffers).
  static constexpr std::size_t widest = [] {
    std::size_t w = In::size;
    for (auto s : layer_output_sizes) w = std::max(w, s);
    return w;
  }();
  static constexpr std::size_t widest_inner = [] {
    std::size_t w = 0;
    for (std::size_t i = 0; i + 1 < depth; ++i) w = std::max(w, layer_output_sizes[i]);
    return w;
  }();

  /// Scratch for infer: two ping-pong buffers for inner outputs, then the largest inner need.
  static constexpr std::size_t scratch_size(std::size_t count) {
    return 2 * widest_inner * count + scratch_of_children(count, indices{});
  }

  template <std::size_t I>
  layer_type<I>& layer() { return std::get<I>(layers_); }
  template <std::size_t I>
  const layer_type<I>& layer() const { return std::get<I>(layers_); }

  static void describe(Architecture& architecture, const std::string& path, std::size_t offset) {
    describe_children(architecture, path, offset, indices{});
  }

  template <class F>
  void for_each_layer(const std::string& path, F&& f) {
    for_each_child(path, f, indices{});
  }

  static void infer(const float* params, ConstBatch<In> in, Batch<output_shape> out, float* scratch) {
    infer_from<0>(params, in, out, scratch);
  }

  void forward(TrainingContext& context, float* params, ConstBatch<In> in, Batch<output_shape> out) {
    ensure_size(activations_, inner_activation_size * in.count);
    forward_from<0>(context, params, in, out);
  }

  void backward(const float* params, float* grads, ConstBatch<In> in, ConstBatch<output_shape> out,
                ConstBatch<output_shape> dout, Batch<In> din) {
    ensure_size(gradients_[0], widest * in.count);
    ensure_size(gradients_[1], widest * in.count);
    backward_from<depth - 1>(params, grads, in, out, dout, din);
  }

 private:
  template <std::size_t... I>
  static constexpr std::size_t scratch_of_children(std::size_t count, std::index_sequence<I...>) {
    return std::max({layer_type<I>::scratch_size(count)...});
  }

  static std::string child_path(const std::string& path, std::size_t i) {
    return path.empty() ? std::to_string(i) : path + "." + std::to_string(i);
  }

  template <class F, std::size_t... I>
  void for_each_child(const std::string& path, F& f, std::index_sequence<I...>) {
    (visit_layers(std::get<I>(layers_), child_path(path, I), f), ...);
  }

  template <std::size_t... I>
  static void describe_children(Architecture& architecture, const std::string& path,
                                std::size_t offset, std::index_sequence<I...>) {
    (layer_type<I>::describe(architecture, child_path(path, I), offset + parameter_offsets[I]), ...);
  }

  // Where layer I's output is kept during training: the inner outputs one after the other.
  template <std::size_t I>
  Batch<typename layer_type<I>::output_shape> activation(std::size_t count) {
    std::size_t offset = 0;
    for (std::size_t j = 0; j < I; ++j) offset += layer_output_sizes[j];
    return make_view<typename layer_type<I>::output_shape>(activations_.data() + offset * count, count);
  }

  template <std::size_t I>
  static void infer_from(const float* params, ConstBatch<typename layer_type<I>::input_shape> layer_in,
                         Batch<output_shape> out, float* scratch) {
    using L = layer_type<I>;
    const std::size_t count = layer_in.count;
    float* child_scratch = scratch + 2 * widest_inner * count;
    if constexpr (I + 1 == depth) {
      L::infer(params + parameter_offsets[I], layer_in, out, child_scratch);
    } else {
      auto layer_out = make_view<typename L::output_shape>(scratch + (I % 2) * widest_inner * count, count);
      L::infer(params + parameter_offsets[I], layer_in, layer_out, child_scratch);
      infer_from<I + 1>(params, layer_out, out, scratch);
    }
  }

  template <std::size_t I>
  void forward_from(TrainingContext& context, float* params, ConstBatch<typename layer_type<I>::input_shape> layer_in,
                    Batch<output_shape> out) {
    if constexpr (I + 1 == depth) {
      std::get<I>(layers_).forward(context, params + parameter_offsets[I], layer_in, out);
    } else {
      const auto layer_out = activation<I>(layer_in.count);
      std::get<I>(layers_).forward(context, params + parameter_offsets[I], layer_in, layer_out);
      forward_from<I + 1>(context, params, layer_out, out);
    }
  }

  // Layer I reads its output gradient from `dout` and writes its input gradient into the
  // ping-pong buffer I % 2 (or into the caller's din for the first layer).
  template <std::size_t I>
  void backward_from(const float* params, float* grads, ConstBatch<In> in, ConstBatch<output_shape> out,
                     ConstBatch<typename layer_type<I>::output_shape> dout, Batch<In> din) {
    using L = layer_type<I>;
    using LayerIn = typename L::input_shape;
    const std::size_t count = in.count;
    const auto layer_in = [&] {
      if constexpr (I == 0) return in;
      else return ConstBatch<LayerIn>(activation<I - 1>(count));
    }();
    const auto layer_out = [&] {
      if constexpr (I + 1 == depth) return out;
      else return ConstBatch<typename L::output_shape>(activation<I>(count));
    }();
    const auto layer_din = [&] {
      if constexpr (I == 0) return din;
      else return make_view<LayerIn>(gradients_[I % 2].data(), count);
    }();
    std::get<I>(layers_).backward(params + parameter_offsets[I], grads + parameter_offsets[I], layer_in,
                                  layer_out, dout, layer_din);
    if constexpr (I > 0) backward_from<I - 1>(params, grads, in, out, layer_din, din);
  }

  layers_tuple layers_;
  AlignedFloats activations_;
  AlignedFloats gradients_[2];
};

/// A model's layers in order, starting with its input shape: Sequential<Input<4>, Dense<8>, ...>.
template <AnyShape In, class... Specs>
using Sequential = SequentialLayer<In, Specs...>;

/// The same chain as a spec, to nest inside another Sequential without restating its input.
template <class... Specs>
struct Stack {
  template <AnyShape In>
  using bind = SequentialLayer<In, Specs...>;
};

}  // namespace deepjet
