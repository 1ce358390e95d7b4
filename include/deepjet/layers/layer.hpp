// deepjet/layers/layer.hpp: what every layer is.
//
// A *layer* is a type with compile-time input and output shapes whose parameters live outside it,
// in one flat float array owned by the Model. That split is deliberate:
//   - inference (`infer`) is a static function of (parameters, input) -> output: a trained model is
//     read-only data that any number of threads share, each with its own scratch memory;
//   - training (`forward`, `backward`) runs on a layer *object*, which keeps only what the backward
//     pass needs (dropout masks, batch statistics); copies of it are the per-thread workers;
//   - optimisers, initialisers and model files see parameters as one array plus a table that
//     names every tensor in it.
//
// A *layer spec* is what users write in a model: Dense<64>, ReLU, ... It knows its own options but
// not its input shape; `Spec::bind<InputShape>` gives the layer type for that input, so widths are
// written once and each input size is deduced from the previous output. A spec that cannot take
// an input shape fails in `bind` with a static_assert that says what to do instead.
#pragma once

#include "deepjet/core/batch.hpp"
#include "deepjet/core/random.hpp"
#include "deepjet/core/shape.hpp"
#include "deepjet/layers/precision.hpp"

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace deepjet {

/// How a parameter tensor is filled before training (layers/initialisers.hpp says how exactly).
///   orthogonal:       rows (or columns, whichever are fewer) orthonormal, as Keras's Orthogonal
///   unit_forget_bias: an LSTM bias of 4 gate slices i, f, g, o: ones in the f slice, zeros
///                     elsewhere (Keras's unit_forget_bias=True)
enum class Initialiser { zeros, ones, glorot_uniform, he_uniform, lecun_uniform, orthogonal, unit_forget_bias };

/// One named parameter tensor of a layer, e.g. Dense's "weight" of shape (in, out).
struct ParameterSpec {
  std::string_view name;
  std::array<std::size_t, 4> shape{};
  std::size_t rank = 1;
  Initialiser initialiser = Initialiser::zeros;
  std::size_t fan_in = 1;
  std::size_t fan_out = 1;
  /// false for buffers that are saved with the model but not trained (BatchNorm's running mean).
  bool trainable = true;

  constexpr std::size_t size() const {
    std::size_t n = 1;
    for (std::size_t i = 0; i < rank; ++i) n *= shape[i];
    return n;
  }
};

constexpr std::size_t total_size(std::span<const ParameterSpec> specs) {
  std::size_t n = 0;
  for (const auto& spec : specs) n += spec.size();
  return n;
}

/// Where one parameter tensor sits in the model's flat array, and its full name ("2.weight").
struct ParameterInfo {
  std::string path;
  std::size_t offset = 0;
  ParameterSpec spec;
};

/// One row per layer: its path in the model ("3", or "1.0" inside a nested stack), its
/// signature, and its slice of the parameter array.
struct LayerInfo {
  std::string path;
  std::string kind;
  std::string signature;  ///< "Dense (4) -> (16)": compared when a model file is loaded
  std::size_t parameter_offset = 0;
  std::size_t parameter_count = 0;
};

/// The table of a model's layers and parameter tensors, in parameter-array order.
struct Architecture {
  std::vector<LayerInfo> layers;
  std::vector<ParameterInfo> parameters;

  /// One line per layer, "<path> <signature>"; equal strings mean interchangeable weights.
  std::string signature() const {
    std::string text;
    for (const auto& layer : layers) text += layer.path + " " + layer.signature + "\n";
    return text;
  }
};

/// The slices of one batch trained side by side (the Trainer's threads, and its ranks): a layer
/// that needs statistics of the whole batch (BatchNorm) adds its slice's sums to the others'.
/// Contract: every slice of the batch calls sum() for the same layers, in the same order, with the
/// same number of values; on return `values` holds the sums over all slices, added in slice order,
/// so every slice (on every rank) gets the same bits whatever the threads' timing.
class BatchSums {
 public:
  virtual ~BatchSums() = default;
  /// `slice`: the caller's TrainingContext::slice.
  virtual void sum(std::size_t slice, std::span<double> values) = 0;
};

/// What a training forward pass may draw on besides its input: the random stream for dropout, and
/// the other slices of the batch (null when the batch is one slice: Model::train_step, one thread).
struct TrainingContext {
  Random random{0};
  BatchSums* batch_sums = nullptr;
  std::size_t slice = 0;
};

/// The contract every layer satisfies (see the top of this file).
///   L::infer(packed, in, out, scratch)            inference; thread-safe; scratch has
///                                                 L::scratch_size(batch) floats; `packed` is the
///                                                 layer's parameters in its inference layout
///                                                 (below), written by pack_inference_parameters<L>
///   layer.forward(context, params, in, out)       training forward; may remember what backward needs
///   layer.backward(params, grads, in, out, dout, din)
///                                                 adds parameter gradients into grads; writes the
///                                                 input gradient into din unless din.data is null
///   L::describe(architecture, path, offset)       appends its rows to the model's table
/// Optional:
///   L::inference_parameter_count, L::pack_for_inference(params, packed)
///                                                 the layout the inference kernels read, if it
///                                                 differs from the training layout (an LSTM
///                                                 interleaves its four gates and pads its units to
///                                                 whole registers; a Sequential folds BatchNorm into
///                                                 the next Dense or Conv1D). Without them the
///                                                 packed parameters are a copy of the parameters.
///   layer.set_frozen(bool)                        called when the model freezes the layer (a
///                                                 frozen BatchNorm uses its running statistics)
///   layer.for_each_layer(path, f)                 composites call f(path, child) for every
///                                                 layer inside them, depth first
template <class L>
concept Layer =
    AnyShape<typename L::input_shape> && AnyShape<typename L::output_shape> &&
    std::default_initializable<L> &&
    requires(L layer, const float* const_params, float* params, float* grads, float* scratch,
             std::size_t count, TrainingContext& context, Architecture& architecture,
             ConstBatch<typename L::input_shape> in, Batch<typename L::output_shape> out,
             ConstBatch<typename L::output_shape> const_out, Batch<typename L::input_shape> din) {
      { L::parameter_count } -> std::convertible_to<std::size_t>;
      { L::scratch_size(count) } -> std::convertible_to<std::size_t>;
      L::describe(architecture, std::string{}, count);
      L::infer(const_params, in, out, scratch);
      layer.forward(context, params, in, out);
      layer.backward(const_params, grads, in, const_out, const_out, din);
    };

/// Composites start each child's packed parameters on a cache line (16 floats, 64 bytes): a
/// kernel streaming its weights with unaligned loads that straddle two lines reads at half speed.
inline constexpr std::size_t inference_alignment = 16;
constexpr std::size_t align_inference_offset(std::size_t floats) {
  return (floats + inference_alignment - 1) / inference_alignment * inference_alignment;
}

/// Floats of L's parameters in its inference layout (see the Layer contract above).
template <class L>
inline constexpr std::size_t inference_parameter_count_of = [] {
  if constexpr (requires { L::inference_parameter_count; }) return std::size_t{L::inference_parameter_count};
  else return std::size_t{L::parameter_count};
}();

/// Writes L's parameters (`params`, L::parameter_count floats in the training layout) into its
/// inference layout (`packed`, inference_parameter_count_of<L> floats), once per trained model.
template <class L>
void pack_inference_parameters(const float* params, float* packed) {
  if constexpr (requires { L::pack_for_inference(params, packed); }) L::pack_for_inference(params, packed);
  else std::copy(params, params + L::parameter_count, packed);
}

/// Folds x -> scale * x + shift of the input features into a weight of `rows` x `outputs` and its
/// bias, for layers linear in their input (Dense: one row per feature; Conv1D: one per kernel
/// offset and channel, row r multiplying feature r % features):
///   W'[r][o] = scale[r % features] W[r][o],   b'[o] = b[o] + sum_r shift[r % features] W[r][o].
inline void fold_scale_shift_into_weight(std::size_t rows, std::size_t features, std::size_t outputs, float* weight,
                                         float* bias, const float* scale, const float* shift) {
  for (std::size_t o = 0; o < outputs; ++o) {
    double sum = bias[o];
    for (std::size_t r = 0; r < rows; ++r) sum += static_cast<double>(shift[r % features]) * weight[r * outputs + o];
    bias[o] = static_cast<float>(sum);
  }
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t o = 0; o < outputs; ++o) weight[r * outputs + o] *= scale[r % features];
}

/// A leaf layer's rows of the table: one layer, then its parameter tensors. Not a template: each
/// layer type's describe() only gathers its strings (a model has dozens of layer types).
inline void describe_leaf(Architecture& architecture, const std::string& path, std::size_t offset,
                          std::string_view kind, const std::string& in, const std::string& out,
                          const std::string* options, std::span<const ParameterSpec> parameters) {
  std::string signature = std::string(kind) + " " + in + " -> " + out;
  if (options) signature += " [" + *options + "]";
  architecture.layers.push_back({path, std::string(kind), signature, offset, total_size(parameters)});
  for (const auto& spec : parameters) {
    architecture.parameters.push_back({path + "." + std::string(spec.name), offset, spec});
    offset += spec.size();
  }
}

/// Common parts of layers that hold no sub-layers. Derived provides `kind`, `parameters`
/// (a std::array<ParameterSpec, N>), and optionally `static std::string options()`.
template <class Derived>
struct LeafLayer {
  static constexpr std::size_t scratch_size(std::size_t) { return 0; }

  static void describe(Architecture& architecture, const std::string& path, std::size_t offset) {
    std::string options;
    constexpr bool has_options = requires { Derived::options(); };
    if constexpr (has_options) options = Derived::options();
    describe_leaf(architecture, path, offset, Derived::kind, Derived::input_shape::to_string(),
                  Derived::output_shape::to_string(), has_options ? &options : nullptr, Derived::parameters);
  }
};

/// A spec that can take input of shape In.
template <class Spec, class In>
concept SpecFor = requires { typename Spec::template bind<In>; };

/// Call f(path, layer) for `layer` and, if it is a composite, for every layer inside it.
template <class L, class F>
void visit_layers(L& layer, const std::string& path, F&& f) {
  f(path, layer);
  if constexpr (requires { layer.for_each_layer(path, f); }) layer.for_each_layer(path, f);
}

namespace detail {
template <class Spec, class In>
struct bind_spec {
  static_assert(SpecFor<Spec, In>,
                "deepjet: every entry of a model after its Input must be a layer spec (Dense<64>, "
                "ReLU, Stack<...>, ...) or a layer type; this one is neither");
  using type = typename Spec::template bind<In>;
};
// A layer type written directly (already bound) is used as it is, if its input shape fits.
template <class L, class In>
  requires Layer<L>
struct bind_spec<L, In> {
  static_assert(std::same_as<typename L::input_shape, In>,
                "deepjet: this layer's input shape differs from the output shape of the layer "
                "before it (see the two shapes in the instantiation below)");
  using type = L;
};
}  // namespace detail

/// The layer a spec becomes when it receives input of shape In.
template <class Spec, AnyShape In>
using bind_t = typename detail::bind_spec<Spec, In>::type;

}  // namespace deepjet
