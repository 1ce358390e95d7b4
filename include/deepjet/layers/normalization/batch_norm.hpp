// deepjet/layers/normalization/batch_norm.hpp: batch normalisation over the features.
//
// Spec: BatchNorm<Momentum = 0.1f, Epsilon = 1e-3f>, for any input shape; gives
// BatchNormLayer<S, Momentum, Epsilon> with the same output shape. The statistics are per feature
// (the last dimension): over the batch for a flat Shape<F>, over the batch AND the particles for a
// list Shape<P, F> (the features are the channels, as PyTorch's BatchNorm1d on (N, C, L) and Keras's
// BatchNormalization(axis=-1) on (N, L, C)). It may be the first layer of a model (DeepJet
// normalises each input block this way).
//
//   y = gamma * (x - mean) / sqrt(var + Epsilon) + beta
//
// Parameters, in this order in the flat array, each of shape (F):
//   "gamma" (ones), "beta" (zeros)                  trained;
//   "running_mean" (zeros), "running_var" (ones)    buffers (trainable = false): saved with the
//                                                   model, never changed by an optimiser.
// Modes:
//   training (forward):  mean and var are the batch statistics (biased variance, divided by N);
//                        when the Trainer cuts the batch into slices (threads, ranks), those of
//                        the whole batch (TrainingContext::batch_sums, as PyTorch's SyncBatchNorm),
//                        so the network trained does not depend on the number of slices;
//                        the running statistics are then updated in the parameter array:
//                          running = (1 - Momentum) * running + Momentum * batch_statistic,
//                        with the UNBIASED batch variance (N / (N - 1) times var) for running_var,
//                        as PyTorch (with a single value per feature, N = 1, the biased one, 0).
//                        An empty batch (no samples) changes nothing.
//   inference (infer):   mean and var are the running statistics.
//   frozen (set_frozen(true), called by Model::set_trainable(path, false)): forward behaves as
//                        inference and leaves the running statistics alone (as a Keras
//                        BatchNormalization with trainable = False); backward is then the
//                        gradient of that fixed affine map. gamma/beta gradients are still
//                        computed; the model's trainable mask keeps the optimiser off them.
// Conventions (Momentum is the weight of the NEW batch, PyTorch's convention):
//   PyTorch nn.BatchNorm1d(momentum=m, eps=e)  ->  BatchNorm<m, e>   (PyTorch's defaults: <0.1f, 1e-5f>)
//   Keras BatchNormalization(momentum=m, epsilon=e)  ->  BatchNorm<1 - m, e>  (Keras's running
//   average keeps m of the old value; Keras's defaults 0.99, 1e-3 are BatchNorm<0.01f, 1e-3f>).
//   The default epsilon 1e-3 is Keras's, which the DeepJet reference models use.
// Memory: the layer object keeps the per-feature mean and 1/sqrt(var + Epsilon) of its last
// forward pass for backward; no allocation, no scratch.
#pragma once

#include "deepjet/layers/layer.hpp"

#include <array>
#include <cmath>
#include <cstddef>

namespace deepjet {

template <ShapeType S, float Momentum, float Epsilon>
struct BatchNormLayer : LeafLayer<BatchNormLayer<S, Momentum, Epsilon>> {
  using input_shape = S;
  using output_shape = S;
  static constexpr std::string_view kind = "BatchNorm";
  static constexpr std::size_t features = S::features;
  /// Rows of `features` values in one sample: 1 for a flat block, the particles of a list.
  static constexpr std::size_t rows_per_sample = S::size / S::features;

  static constexpr std::size_t gamma_offset = 0;
  static constexpr std::size_t beta_offset = features;
  static constexpr std::size_t running_mean_offset = 2 * features;
  static constexpr std::size_t running_var_offset = 3 * features;
  static constexpr std::size_t parameter_count = 4 * features;
  static constexpr std::array<ParameterSpec, 4> parameters{{
      {"gamma", {features}, 1, Initialiser::ones, features, features, true},
      {"beta", {features}, 1, Initialiser::zeros, features, features, true},
      {"running_mean", {features}, 1, Initialiser::zeros, features, features, false},
      {"running_var", {features}, 1, Initialiser::ones, features, features, false},
  }};

  /// What inference computes, y = scale * x + shift per feature, from the running statistics.
  /// A Sequential folds this into the next Dense or Conv1D when there is one (models/sequential.hpp).
  static void inference_scale_shift(const float* params, float* scale, float* shift) {
    for (std::size_t c = 0; c < features; ++c) {
      const float inv_std = 1.0f / std::sqrt(params[running_var_offset + c] + Epsilon);
      scale[c] = params[gamma_offset + c] * inv_std;
      shift[c] = params[beta_offset + c] - params[running_mean_offset + c] * scale[c];
    }
  }

  /// Inference: normalise with the running statistics, folded into one scale and shift per feature.
  static void infer(const float* params, ConstBatch<S> x, Batch<S> y, float*) {
    std::array<float, features> scale, shift;
    inference_scale_shift(params, scale.data(), shift.data());
    apply_scale_shift(x.data, y.data, x.count * rows_per_sample, scale, shift);
  }

  void set_frozen(bool frozen) { frozen_ = frozen; }
  bool frozen() const { return frozen_; }

  void forward(TrainingContext& context, float* params, ConstBatch<S> x, Batch<S> y) {
    const std::size_t n = x.count * rows_per_sample;  // values per feature in this slice
    batch_sums_ = frozen_ ? nullptr : context.batch_sums;
    slice_ = context.slice;
    // An empty batch has no statistics: it must not turn the running ones into NaN. (A slice of a
    // batch shared with others always takes part: the others wait for its sums.)
    used_batch_statistics_ = !frozen_ && (n > 0 || batch_sums_);
    if (!used_batch_statistics_) {
      for (std::size_t c = 0; c < features; ++c) {
        mean_[c] = params[running_mean_offset + c];
        inv_std_[c] = 1.0f / std::sqrt(params[running_var_offset + c] + Epsilon);
      }
    } else {
      // Two passes in double: the variance does not lose precision to a large mean. Shared with
      // the batch's other slices, both passes' sums are the whole batch's.
      std::array<double, features + 1> sum{};  // the count, then the sum of each feature
      sum[0] = static_cast<double>(n);
      for (std::size_t r = 0; r < n; ++r) {
        const float* row = x.data + r * features;
        for (std::size_t c = 0; c < features; ++c) sum[c + 1] += row[c];
      }
      share(sum);
      count_ = sum[0];
      std::array<double, features> mean, squares{};
      for (std::size_t c = 0; c < features; ++c) mean[c] = sum[c + 1] / count_;
      for (std::size_t r = 0; r < n; ++r) {
        const float* row = x.data + r * features;
        for (std::size_t c = 0; c < features; ++c) {
          const double d = row[c] - mean[c];
          squares[c] += d * d;
        }
      }
      share(squares);
      const double unbiased = count_ > 1 ? count_ / (count_ - 1) : 1.0;
      for (std::size_t c = 0; c < features; ++c) {
        const double var = squares[c] / count_;
        mean_[c] = static_cast<float>(mean[c]);
        inv_std_[c] = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(Epsilon)));
        float& running_mean = params[running_mean_offset + c];
        float& running_var = params[running_var_offset + c];
        running_mean = static_cast<float>((1.0 - Momentum) * running_mean + Momentum * mean[c]);
        running_var = static_cast<float>((1.0 - Momentum) * running_var + Momentum * var * unbiased);
      }
    }
    std::array<float, features> scale, shift;
    for (std::size_t c = 0; c < features; ++c) {
      scale[c] = params[gamma_offset + c] * inv_std_[c];
      shift[c] = params[beta_offset + c] - mean_[c] * scale[c];
    }
    apply_scale_shift(x.data, y.data, n, scale, shift);
  }

  void backward(const float* params, float* grads, ConstBatch<S> x, ConstBatch<S>, ConstBatch<S> dy, Batch<S> dx) {
    const std::size_t n = x.count * rows_per_sample;
    // With xhat = (x - mean) * inv_std:  dgamma = sum dy * xhat,  dbeta = sum dy.
    std::array<double, features> sum_dy{}, sum_dy_xhat{};
    for (std::size_t r = 0; r < n; ++r) {
      const float* x_row = x.data + r * features;
      const float* dy_row = dy.data + r * features;
      for (std::size_t c = 0; c < features; ++c) {
        const float xhat = (x_row[c] - mean_[c]) * inv_std_[c];
        sum_dy[c] += dy_row[c];
        sum_dy_xhat[c] += static_cast<double>(dy_row[c]) * xhat;
      }
    }
    for (std::size_t c = 0; c < features; ++c) {
      grads[gamma_offset + c] += static_cast<float>(sum_dy_xhat[c]);
      grads[beta_offset + c] += static_cast<float>(sum_dy[c]);
    }
    if (!dx.data) return;
    // Fixed statistics: dx = gamma * inv_std * dy. Batch statistics also depend on x:
    //   dx = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat)),
    // the means over the whole batch (all slices) whose statistics the forward pass used. The
    // parameter gradients above stay this slice's: the Trainer adds the slices' gradients.
    std::array<float, features> scale, mean_dy{}, mean_dy_xhat{};
    std::array<double, 2 * features> batch_dy{};  // sum dy, then sum dy * xhat, over the batch
    if (used_batch_statistics_) {
      std::copy(sum_dy.begin(), sum_dy.end(), batch_dy.begin());
      std::copy(sum_dy_xhat.begin(), sum_dy_xhat.end(), batch_dy.begin() + features);
      share(batch_dy);
    }
    for (std::size_t c = 0; c < features; ++c) {
      scale[c] = params[gamma_offset + c] * inv_std_[c];
      if (used_batch_statistics_ && count_ > 0) {
        mean_dy[c] = static_cast<float>(batch_dy[c] / count_);
        mean_dy_xhat[c] = static_cast<float>(batch_dy[features + c] / count_);
      }
    }
    for (std::size_t r = 0; r < n; ++r) {
      const float* x_row = x.data + r * features;
      const float* dy_row = dy.data + r * features;
      float* dx_row = dx.data + r * features;
      for (std::size_t c = 0; c < features; ++c) {
        const float xhat = (x_row[c] - mean_[c]) * inv_std_[c];
        dx_row[c] = scale[c] * (dy_row[c] - mean_dy[c] - xhat * mean_dy_xhat[c]);
      }
    }
  }

 private:
  static void apply_scale_shift(const float* x, float* y, std::size_t rows, const std::array<float, features>& scale,
                                const std::array<float, features>& shift) {
    for (std::size_t r = 0; r < rows; ++r) {
      const float* x_row = x + r * features;
      float* y_row = y + r * features;
      for (std::size_t c = 0; c < features; ++c) y_row[c] = x_row[c] * scale[c] + shift[c];
    }
  }

  // Sums over the whole batch: this slice's added to the other slices' when there are others.
  template <std::size_t N>
  void share(std::array<double, N>& values) const {
    if (batch_sums_) batch_sums_->sum(slice_, values);
  }

  bool frozen_ = false;
  bool used_batch_statistics_ = false;  // of the last forward pass
  BatchSums* batch_sums_ = nullptr;     // the batch's other slices, in the last forward pass
  std::size_t slice_ = 0;
  double count_ = 0;                    // values per feature in the whole batch
  std::array<float, features> mean_{};
  std::array<float, features> inv_std_{};
};

/// Batch normalisation over the features (see the top of this file).
template <float Momentum = 0.1f, float Epsilon = 1e-3f>
struct BatchNorm {
  static_assert(Momentum >= 0.0f && Momentum <= 1.0f,
                "deepjet::BatchNorm<Momentum, Epsilon>: Momentum is the weight of the new batch in the "
                "running statistics (PyTorch's convention), between 0 and 1; Keras's momentum m is 1 - m here");
  static_assert(Epsilon > 0.0f, "deepjet::BatchNorm<Momentum, Epsilon>: Epsilon must be positive");
  template <ShapeType In>
  using bind = BatchNormLayer<In, Momentum, Epsilon>;
};

}  // namespace deepjet
