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
// Inference runs a flat plan of the leaf layers (nested stacks flattened): Dropout is skipped, and
// a BatchNorm followed by a Dense or an unpadded Conv1D is folded into that layer's packed
// weights (pack_for_inference), so it costs nothing at inference.
// Training memory: the outputs of all inner layers for the current batch (kept for backward) and
// two gradient buffers; they grow to the largest batch seen and are then reused, so steady
// training allocates nothing.
#pragma once

#include "deepjet/core/aligned.hpp"
#include "deepjet/layers/layer.hpp"

#include <algorithm>
#include <array>
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

// The inference plan of a Sequential: its leaf layers in order, nested Sequentials (Stack<...>)
// flattened into it, each with the offset of its parameters in the Sequential's parameter slice.
template <class L, std::size_t Offset>
struct PlanStep {
  using layer = L;
  static constexpr std::size_t offset = Offset;
};
template <class... Steps>
struct Plan {
  static constexpr std::size_t size = sizeof...(Steps);
  using steps = std::tuple<Steps...>;
};
template <class P, std::size_t Shift>
struct shifted_plan;
template <class... Steps, std::size_t Shift>
struct shifted_plan<Plan<Steps...>, Shift> {
  using type = Plan<PlanStep<typename Steps::layer, Steps::offset + Shift>...>;
};
template <class L, std::size_t Offset>
struct plan_of {
  using type = Plan<PlanStep<L, Offset>>;
};
template <class L, std::size_t Offset>
  requires requires { typename L::inference_plan; }
struct plan_of<L, Offset> {
  using type = typename shifted_plan<typename L::inference_plan, Offset>::type;
};
template <class... Plans>
struct joined_plans {
  using type = Plan<>;
};
template <class... A>
struct joined_plans<Plan<A...>> {
  using type = Plan<A...>;
};
template <class... A, class... B, class... Rest>
struct joined_plans<Plan<A...>, Plan<B...>, Rest...> {
  using type = typename joined_plans<Plan<A..., B...>, Rest...>::type;
};

// What a plan step may do at inference (each is an optional part of a layer):
//   identity_at_inference            the step is skipped (Dropout)
//   inference_scale_shift(p, s, t)   the step computes y = s * x + t per feature (BatchNorm)
//   fold_input_scale_shift(q, s, t)  the step is linear in its input and can absorb a scale and
//                                    shift of its input features into its packed parameters q
//                                    (Dense; Conv1D without padding effects)
template <class L>
concept IdentityAtInference = requires { requires L::identity_at_inference; };
template <class L>
concept ScaleShiftAtInference = requires(const float* p, float* s) { L::inference_scale_shift(p, s, s); };
template <class L>
concept FoldsInputScaleShift = requires(float* q, const float* s) { L::fold_input_scale_shift(q, s, s); };
// Features per row of a BatchNorm-like step's input (0 for other steps), and of a step that can
// absorb them (0 for others): equal and non-zero means the first can be folded into the second.
template <class L>
constexpr std::size_t scale_shift_features() {
  if constexpr (ScaleShiftAtInference<L>) return L::input_shape::features;
  else return 0;
}
template <class L>
constexpr std::size_t folding_features() {
  if constexpr (FoldsInputScaleShift<L>) return L::input_shape::features;
  else return 0;
}
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

  // ---- inference -------------------------------------------------------------------------
  // Inference runs a flat plan of the leaf layers (nested stacks flattened) in which Dropout is
  // skipped and a BatchNorm followed (possibly through Dropout) by a Dense or a pointwise /
  // unpadded Conv1D is folded into that layer's packed weights: W' = diag(s) W, b' = b + t W,
  // exactly the same function with one pass over the data less.

  template <std::size_t... I>
  static auto plan_of_children(std::index_sequence<I...>) ->
      typename detail::joined_plans<typename detail::plan_of<layer_type<I>, parameter_offsets[I]>::type...>::type;
  /// The leaf layers in order, nested stacks flattened, with their parameter offsets.
  using inference_plan = decltype(plan_of_children(indices{}));

 private:
  static constexpr std::size_t plan_size = inference_plan::size;
  template <std::size_t S>
  using plan_step = std::tuple_element_t<S, typename inference_plan::steps>;
  template <std::size_t S>
  using step_layer = typename plan_step<S>::layer;
  static constexpr std::size_t no_step = static_cast<std::size_t>(-1);

  // The role of each plan step at inference.
  struct StepRole {
    bool kept = true;                     // runs at inference
    std::size_t folded_into = no_step;    // a BatchNorm folded into this later step
    std::size_t inference_offset = 0;     // where a kept step's packed parameters start
  };
  template <std::size_t... S>
  static constexpr std::array<StepRole, plan_size> roles_of(std::index_sequence<S...>) {
    const std::array<bool, plan_size> identity{detail::IdentityAtInference<step_layer<S>>...};
    const std::array<std::size_t, plan_size> scale_shift_features{detail::scale_shift_features<step_layer<S>>()...};
    const std::array<std::size_t, plan_size> fold_features{detail::folding_features<step_layer<S>>()...};
    const std::array<std::size_t, plan_size> packed_counts{inference_parameter_count_of<step_layer<S>>...};
    std::array<StepRole, plan_size> roles{};
    for (std::size_t s = 0; s < plan_size; ++s) {
      if (identity[s]) {
        roles[s].kept = false;
      } else if (scale_shift_features[s] > 0) {
        std::size_t next = s + 1;
        while (next < plan_size && identity[next]) ++next;
        if (next < plan_size && fold_features[next] == scale_shift_features[s]) {
          roles[s].kept = false;
          roles[s].folded_into = next;
        }
      }
    }
    std::size_t offset = 0;
    for (std::size_t s = 0; s < plan_size; ++s) {
      roles[s].inference_offset = offset;
      if (roles[s].kept) offset = align_inference_offset(offset + packed_counts[s]);
    }
    return roles;
  }
  using plan_indices = std::make_index_sequence<plan_size>;
  static constexpr std::array<StepRole, plan_size> roles = roles_of(plan_indices{});
  static constexpr std::size_t kept_count = [] {
    std::size_t n = 0;
    for (const auto& r : roles) n += r.kept;
    return n;
  }();
  /// The plan steps that run at inference, in order.
  static constexpr std::array<std::size_t, kept_count> kept_steps = [] {
    std::array<std::size_t, kept_count> kept{};
    std::size_t k = 0;
    for (std::size_t s = 0; s < plan_size; ++s)
      if (roles[s].kept) kept[k++] = s;
    return kept;
  }();
  template <std::size_t K>
  using kept_layer = step_layer<kept_steps[K]>;
  template <std::size_t... K>
  static constexpr std::size_t widest_kept_inner_of(std::index_sequence<K...>) {
    const std::array<std::size_t, kept_count> sizes{kept_layer<K>::output_shape::size...};
    std::size_t w = 0;
    for (std::size_t k = 0; k + 1 < kept_count; ++k) w = std::max(w, sizes[k]);
    return w;
  }
  template <std::size_t... K>
  static constexpr std::size_t scratch_of_kept([[maybe_unused]] std::size_t count, std::index_sequence<K...>) {
    return std::max({std::size_t{0}, kept_layer<K>::scratch_size(count)...});
  }
  using kept_indices = std::make_index_sequence<kept_count>;
  static constexpr std::size_t widest_kept_inner = widest_kept_inner_of(kept_indices{});

 public:
  /// BatchNorms of this stack (nested stacks included, side-by-side branches not) that inference
  /// folds into the Dense or Conv1D after them.
  static constexpr std::size_t folded_batch_norms = [] {
    std::size_t n = 0;
    for (const auto& r : roles) n += r.folded_into != no_step;
    return n;
  }();

  /// Floats of this stack's parameters in the inference layout (layers/layer.hpp).
  static constexpr std::size_t inference_parameter_count = [] {
    std::size_t total = 0;
    [&]<std::size_t... S>(std::index_sequence<S...>) {
      ((total = roles[S].kept ? align_inference_offset(total + inference_parameter_count_of<step_layer<S>>) : total),
       ...);
    }(plan_indices{});
    return total;
  }();

  /// Packs the kept steps' parameters, then folds each folded BatchNorm into the step after it.
  static void pack_for_inference(const float* params, float* packed) {
    [&]<std::size_t... S>(std::index_sequence<S...>) {
      ((roles[S].kept ? pack_inference_parameters<step_layer<S>>(params + plan_step<S>::offset,
                                                                  packed + roles[S].inference_offset)
                      : void()),
       ...);
      (fold_step<S>(params, packed), ...);
    }(plan_indices{});
  }

  /// Scratch for infer: two ping-pong buffers for inner outputs, then the largest step's need.
  static constexpr std::size_t scratch_size(std::size_t count) {
    return 2 * widest_kept_inner * count + scratch_of_kept(count, kept_indices{});
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

  static void infer(const float* packed, ConstBatch<In> in, Batch<output_shape> out, float* scratch) {
    if constexpr (kept_count == 0) std::copy_n(in.data, in.size(), out.data);  // only Dropout: the identity
    else infer_kept<Precision::float32, 0>(packed, in, out, scratch);
  }

  /// bfloat16 inference (layers/precision.hpp): each kept step converts its own packed
  /// parameters (after the BatchNorm folding, which stays in float32) and runs its bfloat16 path,
  /// or float32 where it has none.
  static void pack_bf16(float* packed) {
    [&]<std::size_t... S>(std::index_sequence<S...>) {
      ((roles[S].kept ? pack_for_precision<Precision::bfloat16, step_layer<S>>(packed + roles[S].inference_offset)
                      : void()),
       ...);
    }(plan_indices{});
  }
  static void infer_bf16(const float* packed, ConstBatch<In> in, Batch<output_shape> out, float* scratch) {
    if constexpr (kept_count == 0) std::copy_n(in.data, in.size(), out.data);
    else infer_kept<Precision::bfloat16, 0>(packed, in, out, scratch);
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

  // Folds plan step S (a BatchNorm) into the later step it was assigned to, if any.
  template <std::size_t S>
  static void fold_step(const float* params, float* packed) {
    if constexpr (detail::ScaleShiftAtInference<step_layer<S>>) {
      constexpr std::size_t target = roles[S].folded_into;
      if constexpr (target != no_step) {
        constexpr std::size_t features = step_layer<S>::input_shape::features;
        std::array<float, features> scale{}, shift{};
        step_layer<S>::inference_scale_shift(params + plan_step<S>::offset, scale.data(), shift.data());
        step_layer<target>::fold_input_scale_shift(packed + roles[target].inference_offset, scale.data(), shift.data());
      }
    }
  }

  // Runs kept step K and the ones after it at precision P; step K writes into ping-pong buffer K % 2, the last
  // one into `out`.
  template <Precision P, std::size_t K>
  static void infer_kept(const float* packed, ConstBatch<typename kept_layer<K>::input_shape> layer_in,
                         Batch<output_shape> out, float* scratch) {
    using L = kept_layer<K>;
    const std::size_t count = layer_in.count;
    float* child_scratch = scratch + 2 * widest_kept_inner * count;
    const float* layer_packed = packed + roles[kept_steps[K]].inference_offset;
    if constexpr (K + 1 == kept_count) {
      infer_at<P, L>(layer_packed, layer_in, out, child_scratch);
    } else {
      auto layer_out = make_view<typename L::output_shape>(scratch + (K % 2) * widest_kept_inner * count, count);
      infer_at<P, L>(layer_packed, layer_in, layer_out, child_scratch);
      infer_kept<P, K + 1>(packed, layer_out, out, scratch);
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
