// deepjet/models/model.hpp: a network plus its parameters; the object users train and deploy.
//
//   deepjet::Model<Net> model(/*seed=*/42);      // parameters initialised deterministically
//   auto probabilities = model.predict(x);       // xt::xtensor<float, 2> in and out
//   double loss = model.train_step(x, y, weights, deepjet::CategoricalCrossEntropy{}, adam);
//
// Contract:
//   - parameters() is one flat float array; architecture() names every tensor in it.
//   - predict(...) is const and thread-safe: the caller passes (or predict allocates) scratch.
//   - train_step zeroes gradients, runs forward and backward on the batch, and lets the optimiser
//     update the trainable tensors; frozen tensors (set_trainable) and buffers are left alone.
//   - Buffers grow to the largest batch seen and are reused: no allocation per sample.
#pragma once

#include "deepjet/core/aligned.hpp"
#include "deepjet/core/error.hpp"
#include "deepjet/kernels/simd.hpp"
#include "deepjet/layers/initialisers.hpp"
#include "deepjet/layers/layer.hpp"
#include "deepjet/models/tensors.hpp"

#include <xtensor/xtensor.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace deepjet {

/// A contiguous run of trainable parameters; optimisers update only these.
struct ParameterRange {
  std::size_t offset = 0;
  std::size_t count = 0;
};

template <Layer Net>
class Model {
 public:
  using network_type = Net;
  using input_shape = typename Net::input_shape;
  using output_shape = typename Net::output_shape;
  static constexpr std::size_t parameter_count = Net::parameter_count;
  /// xtensor types of a batch of inputs and outputs: the batch is the first dimension; a model
  /// with several input blocks (or output heads) takes (gives) a std::tuple of them.
  using input_tensor = TensorsOf<input_shape>;
  using output_tensor = TensorsOf<output_shape>;

  explicit Model(std::uint64_t seed = 0) : parameters_(parameter_count), gradients_(parameter_count) {
    Net::describe(architecture_, "", 0);
    trainable_.reserve(architecture_.parameters.size());
    for (const auto& p : architecture_.parameters) trainable_.push_back(p.spec.trainable);
    initialise_parameters(seed);
  }

  /// Fill every tensor from its initialiser, drawing from one stream seeded by `seed`; the
  /// training context (dropout) is seeded from the same seed.
  void initialise_parameters(std::uint64_t seed) {
    Random random(seed);
    for (const auto& p : architecture_.parameters)
      initialise(std::span<float>(parameters_.data() + p.offset, p.spec.size()), p.spec, random);
    context_.random.reseed(seed ^ 0x5eed5eed5eed5eedULL);
  }

  const Architecture& architecture() const { return architecture_; }
  std::span<float> parameters() { return {parameters_.data(), parameters_.size()}; }
  std::span<const float> parameters() const { return {parameters_.data(), parameters_.size()}; }
  std::span<float> gradients() { return {gradients_.data(), gradients_.size()}; }
  std::span<const float> gradients() const { return {gradients_.data(), gradients_.size()}; }
  Net& network() { return network_; }
  const Net& network() const { return network_; }
  TrainingContext& training_context() { return context_; }

  /// The values of the tensor named `path` ("0.weight"); throws if there is none.
  std::span<float> parameter(std::string_view path) {
    const auto& info = find_parameter(path);
    return {parameters_.data() + info.offset, info.spec.size()};
  }
  std::span<const float> parameter(std::string_view path) const {
    const auto& info = find_parameter(path);
    return {parameters_.data() + info.offset, info.spec.size()};
  }
  std::span<float> gradient(std::string_view path) {
    const auto& info = find_parameter(path);
    return {gradients_.data() + info.offset, info.spec.size()};
  }

  /// Freeze (false) or unfreeze (true) the layer at `path` and everything inside it:
  /// set_trainable("3", false) freezes layer 3 (and layer "3.1" of a nested stack); "" means the
  /// whole model. Its trainable tensors stop (or resume) being updated, and layers that behave
  /// differently when frozen are told (a frozen BatchNorm normalises with its running
  /// statistics, as in Keras). Returns how many tensors changed. Buffers (BatchNorm's running
  /// statistics) are never trained.
  std::size_t set_trainable(std::string_view path, bool trainable) {
    std::size_t changed = 0;
    for (std::size_t i = 0; i < architecture_.parameters.size(); ++i) {
      const auto& p = architecture_.parameters[i];
      if (!is_under(p.path, path) || !p.spec.trainable || trainable_[i] == trainable) continue;
      trainable_[i] = trainable;
      ++changed;
    }
    visit_layers(network_, "", [&](const std::string& layer_path, auto& layer) {
      if constexpr (requires { layer.set_frozen(true); })
        if (is_under(layer_path, path)) layer.set_frozen(!trainable);
    });
    return changed;
  }

  /// The runs of parameters the optimiser may change (adjacent trainable tensors merged).
  std::vector<ParameterRange> trainable_ranges() const {
    std::vector<ParameterRange> ranges;
    for (std::size_t i = 0; i < architecture_.parameters.size(); ++i) {
      if (!trainable_[i]) continue;
      const auto& p = architecture_.parameters[i];
      if (!ranges.empty() && ranges.back().offset + ranges.back().count == p.offset)
        ranges.back().count += p.spec.size();
      else
        ranges.push_back({p.offset, p.spec.size()});
    }
    return ranges;
  }

  // ---- inference ------------------------------------------------------------------------

  /// Floats of the parameters in the layout the inference kernels read (layers/layer.hpp).
  static constexpr std::size_t inference_parameter_count = inference_parameter_count_of<Net>;
  /// Where the network's scratch starts after the packed parameters in predict's scratch.
  static constexpr std::size_t network_scratch_offset = align_inference_offset(inference_parameter_count);

  /// Floats of scratch predict() needs for a batch of `count`: the packed parameters, then the
  /// network's own scratch.
  static constexpr std::size_t scratch_size(std::size_t count) {
    return network_scratch_offset + Net::scratch_size(count);
  }

  /// Inference on raw batches with caller-owned scratch: allocation-free once scratch is large
  /// enough, and safe to call from many threads at once (each with its own scratch). It packs the
  /// current parameters into the scratch on every call (the model may be training); to deploy,
  /// or to predict many small batches, use a deepjet::Predictor (models/predictor.hpp), which
  /// packs them once.
  void predict(ConstBatch<input_shape> x, Batch<output_shape> y, AlignedFloats& scratch) const {
    // Subnormals as zero while inferring, as Predictor::predict (kernels/simd.hpp): the two agree.
    const kernels::SubnormalsAsZero no_subnormal_assists;
    float* work = ensure_size(scratch, scratch_size(x.count));
    pack_inference_parameters<Net>(parameters_.data(), work);
    Net::infer(work, x, y, work + network_scratch_offset);
  }

  /// Inference on an xtensor batch (first dimension: samples), or a tuple of them.
  output_tensor predict(const input_tensor& x) const {
    const auto in = view_of<input_shape>(x, "predict: input");
    output_tensor y = make_tensors<output_shape>(in.count);
    AlignedFloats scratch;
    predict(in, view_of<output_shape>(y, "predict: output"), scratch);
    return y;
  }

  // ---- training ---------------------------------------------------------------------------

  void zero_gradients() { std::fill(gradients_.begin(), gradients_.end(), 0.0f); }

  /// Training-mode forward pass; the returned view stays valid until the next forward.
  ConstBatch<output_shape> forward(ConstBatch<input_shape> x) {
    const auto out = make_view<output_shape>(ensure_size(output_, output_shape::size * x.count), x.count);
    network_.forward(context_, parameters_.data(), x, out);
    return out;
  }

  /// Backward pass for the batch of the last forward(): adds parameter gradients.
  void backward(ConstBatch<input_shape> x, ConstBatch<output_shape> output_gradient) {
    network_.backward(parameters_.data(), gradients_.data(), x,
                      make_view<output_shape>(static_cast<const float*>(output_.data()), x.count), output_gradient,
                      make_view<input_shape>(static_cast<float*>(nullptr), x.count));
  }

  /// One optimisation step on a batch; returns the (weighted mean) loss before the update.
  /// `target` has the output's shape per sample; `weights` (one per sample) may be null.
  template <class Loss, class Optimiser>
  double train_step(ConstBatch<input_shape> x, ConstBatch<output_shape> target,
                    const float* weights, const Loss& loss, Optimiser& optimiser) {
    zero_gradients();
    const auto output = forward(x);
    const auto output_gradient = make_view<output_shape>(ensure_size(output_gradient_, output.size()), x.count);
    const double value = loss.evaluate(output, target, weights, output_gradient);
    backward(x, output_gradient);
    optimiser.step(parameters(), gradients(), trainable_ranges());
    return value;
  }

  template <class Loss, class Optimiser>
  double train_step(const input_tensor& x, const output_tensor& target,
                    const xt::xtensor<float, 1>* weights, const Loss& loss, Optimiser& optimiser) {
    const auto in = view_of<input_shape>(x, "train_step: input");
    const auto truth = view_of<output_shape>(target, "train_step: target");
    if (truth.count != in.count)
      throw Error("train_step: " + std::to_string(truth.count) + " targets for " + std::to_string(in.count) + " samples");
    if (weights && weights->size() != in.count)
      throw Error("train_step: " + std::to_string(weights->size()) + " weights for " + std::to_string(in.count) +
                  " samples");
    return train_step(in, truth, weights ? weights->data() : nullptr, loss, optimiser);
  }

  /// Mean loss over a batch in inference mode (for validation); no gradients.
  template <class Loss>
  double evaluate(ConstBatch<input_shape> x, ConstBatch<output_shape> target, const float* weights,
                  const Loss& loss, AlignedFloats& scratch) const {
    AlignedFloats output(output_shape::size * x.count);
    const auto out = make_view<output_shape>(output.data(), x.count);
    predict(x, out, scratch);
    return loss.evaluate(ConstBatch<output_shape>(out), target, weights,
                         make_view<output_shape>(static_cast<float*>(nullptr), x.count));
  }

 private:
  // "3.1.weight" and "3.1" are under "3"; everything is under "".
  static bool is_under(std::string_view name, std::string_view path) {
    return path.empty() || (name.starts_with(path) && (name.size() == path.size() || name[path.size()] == '.'));
  }

  const ParameterInfo& find_parameter(std::string_view path) const {
    for (const auto& p : architecture_.parameters)
      if (p.path == path) return p;
    throw Error("the model has no parameter tensor named '" + std::string(path) + "'");
  }

  Architecture architecture_;
  std::vector<char> trainable_;  // per tensor of architecture_.parameters
  AlignedFloats parameters_;
  AlignedFloats gradients_;
  Net network_;
  TrainingContext context_;
  AlignedFloats output_;
  AlignedFloats output_gradient_;
};

}  // namespace deepjet
