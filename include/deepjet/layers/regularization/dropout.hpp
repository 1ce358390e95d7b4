// deepjet/layers/regularization/dropout.hpp: dropout and spatial dropout, active in training only.
//
// Spec: Dropout<Rate> with a float Rate in [0, 1), e.g. Dropout<0.1f>, for any input shape; gives
// DropoutLayer<S, Rate> with the same output shape. No parameters.
//
//   inference (infer):  y = x (a copy).
//   training (forward): each value is dropped (set to 0) with probability Rate, independently, and
//                       the kept ones are scaled by 1 / (1 - Rate) ("inverted dropout", as PyTorch
//                       and Keras), so the expected output equals the input and inference needs no
//                       rescaling. backward: dx = dy * mask, the same mask and scale.
// Randomness: the mask is drawn from the TrainingContext's Random stream, one uniform number per
// value in memory order (keep if uniform >= Rate), so a given seed gives the same masks on every
// platform. The mask of the last forward pass is kept in the layer object for backward (grown to
// the largest batch seen, then reused). Freezing a model (set_trainable) does not change dropout,
// as in Keras.
//
// Spec: SpatialDropout<Rate>, for a list Shape<P, F> (Keras's SpatialDropout1D, which DeepDoubleX
// uses after its convolutions): the same, except that what is dropped is a whole feature channel
// of a sample, for all P entries at once (one uniform number per sample and feature, in that
// order). Neighbouring entries of a channel are strongly correlated after a convolution, so
// dropping single values would barely regularise; dropping channels does.
#pragma once

#include "deepjet/core/aligned.hpp"
#include "deepjet/layers/layer.hpp"

#include <algorithm>
#include <cstddef>

namespace deepjet {

template <ShapeType S, float Rate>
struct DropoutLayer : LeafLayer<DropoutLayer<S, Rate>> {
  using input_shape = S;
  using output_shape = S;
  static constexpr std::string_view kind = "Dropout";
  static constexpr std::array<ParameterSpec, 0> parameters{};
  static constexpr std::size_t parameter_count = 0;
  static constexpr float rate = Rate;
  /// The factor applied to kept values in training.
  static constexpr float keep_scale = 1.0f / (1.0f - Rate);
  /// A Sequential skips the layer at inference (models/sequential.hpp).
  static constexpr bool identity_at_inference = true;

  static void infer(const float*, ConstBatch<S> x, Batch<S> y, float*) {
    if (x.data != y.data) std::copy(x.data, x.data + x.size(), y.data);
  }

  void forward(TrainingContext& context, float*, ConstBatch<S> x, Batch<S> y) {
    const std::size_t n = x.size();
    float* mask = ensure_size(mask_, n);
    for (std::size_t i = 0; i < n; ++i) mask[i] = context.random.uniform() >= Rate ? keep_scale : 0.0f;
    for (std::size_t i = 0; i < n; ++i) y.data[i] = x.data[i] * mask[i];
  }

  void backward(const float*, float*, ConstBatch<S>, ConstBatch<S>, ConstBatch<S> dy, Batch<S> dx) {
    if (!dx.data) return;
    for (std::size_t i = 0; i < dy.size(); ++i) dx.data[i] = dy.data[i] * mask_[i];
  }

  /// The mask of the last forward pass: 0 for dropped values, 1 / (1 - Rate) for kept ones.
  const float* mask() const { return mask_.data(); }

 private:
  AlignedFloats mask_;
};

/// Dropout with drop probability Rate (see the top of this file).
template <float Rate>
struct Dropout {
  static_assert(Rate >= 0.0f && Rate < 1.0f,
                "deepjet::Dropout<Rate>: Rate is the probability of dropping a value, in [0, 1)");
  template <ShapeType In>
  using bind = DropoutLayer<In, Rate>;
};

template <ShapeType S, float Rate>
struct SpatialDropoutLayer : LeafLayer<SpatialDropoutLayer<S, Rate>> {
  static_assert(S::rank == 2, "deepjet::SpatialDropout drops feature channels of a list, Shape<P, F>; "
                              "use deepjet::Dropout on flat inputs");
  using input_shape = S;
  using output_shape = S;
  static constexpr std::string_view kind = "SpatialDropout";
  static constexpr std::array<ParameterSpec, 0> parameters{};
  static constexpr std::size_t parameter_count = 0;
  static constexpr float rate = Rate;
  static constexpr float keep_scale = 1.0f / (1.0f - Rate);
  static constexpr std::size_t entries = S::dims[0];
  static constexpr std::size_t features = S::features;
  static constexpr bool identity_at_inference = true;

  static void infer(const float*, ConstBatch<S> x, Batch<S> y, float*) {
    if (x.data != y.data) std::copy(x.data, x.data + x.size(), y.data);
  }

  void forward(TrainingContext& context, float*, ConstBatch<S> x, Batch<S> y) {
    float* mask = ensure_size(mask_, x.count * features);
    for (std::size_t i = 0; i < x.count * features; ++i) mask[i] = context.random.uniform() >= Rate ? keep_scale : 0.0f;
    apply(x.count, x.data, y.data);
  }

  void backward(const float*, float*, ConstBatch<S>, ConstBatch<S>, ConstBatch<S> dy, Batch<S> dx) {
    if (dx.data) apply(dy.count, dy.data, dx.data);
  }

  /// The mask of the last forward pass, one value per sample and feature: 0 or 1 / (1 - Rate).
  const float* mask() const { return mask_.data(); }

 private:
  void apply(std::size_t count, const float* in, float* out) const {
    for (std::size_t b = 0; b < count; ++b)
      for (std::size_t p = 0; p < entries; ++p)
        for (std::size_t f = 0; f < features; ++f) {
          const std::size_t i = (b * entries + p) * features + f;
          out[i] = in[i] * mask_[b * features + f];
        }
  }

  AlignedFloats mask_;
};

/// Spatial dropout with drop probability Rate (see the top of this file).
template <float Rate>
struct SpatialDropout {
  static_assert(Rate >= 0.0f && Rate < 1.0f,
                "deepjet::SpatialDropout<Rate>: Rate is the probability of dropping a channel, in [0, 1)");
  template <ShapeType In>
  using bind = SpatialDropoutLayer<In, Rate>;
};

}  // namespace deepjet
