// deepjet/losses/losses.hpp: training objectives.
//
// Contract of every loss:
//   double evaluate(ConstBatch<S> prediction, ConstBatch<S> target, const float* weights,
//                   Batch<S> gradient) const
// returns the weighted mean over the batch, (1/N) sum_i w_i l_i, with w_i = 1 when `weights` is
// null (Keras's sample_weight convention: weights rescale samples, they do not renormalise), and,
// unless gradient.data is null, writes d(loss)/d(prediction) into `gradient`.
// Per-sample losses are computed in double and returned in double.
#pragma once

#include "deepjet/core/batch.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <tuple>

namespace deepjet {

/// Cross-entropy of a softmax output against class probabilities (one-hot or not):
/// l = -sum_c t_c log(max(p_c, epsilon)), summed over the last dimension and averaged over any
/// leading ones. Use after a Softmax layer; this is the softmax cross-entropy of multi-class
/// tagging (Keras's categorical_crossentropy). epsilon = 1e-7 as in Keras keeps log finite.
struct CategoricalCrossEntropy {
  float epsilon = 1e-7f;

  template <ShapeType S>
  double evaluate(ConstBatch<S> p, ConstBatch<S> t, const float* weights, Batch<S> gradient) const {
    constexpr std::size_t rows = S::size / S::features;
    const double scale = 1.0 / (static_cast<double>(p.count) * rows);
    double total = 0.0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      const std::size_t sample = i / S::size;
      const double w = weights ? weights[sample] : 1.0;
      const double clamped = std::max(p.data[i], epsilon);
      total += -w * t.data[i] * std::log(clamped);
      if (gradient.data) gradient.data[i] = static_cast<float>(-w * t.data[i] / clamped * scale);
    }
    return total * scale;
  }
};

/// Binary cross-entropy of sigmoid outputs: l = -(t log p + (1 - t) log(1 - p)) with p clamped
/// to [epsilon, 1 - epsilon], averaged over the outputs of a sample (Keras's binary_crossentropy).
struct BinaryCrossEntropy {
  float epsilon = 1e-7f;

  template <ShapeType S>
  double evaluate(ConstBatch<S> p, ConstBatch<S> t, const float* weights, Batch<S> gradient) const {
    const double scale = 1.0 / (static_cast<double>(p.count) * S::size);
    double total = 0.0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      const double w = weights ? weights[i / S::size] : 1.0;
      const double q = std::clamp<double>(p.data[i], epsilon, 1.0 - epsilon);
      const double y = t.data[i];
      total += -w * (y * std::log(q) + (1.0 - y) * std::log(1.0 - q));
      if (gradient.data) gradient.data[i] = static_cast<float>(w * (q - y) / (q * (1.0 - q)) * scale);
    }
    return total * scale;
  }
};

/// Mean squared error, averaged over the outputs of a sample (regression targets).
struct MeanSquaredError {
  template <ShapeType S>
  double evaluate(ConstBatch<S> p, ConstBatch<S> t, const float* weights, Batch<S> gradient) const {
    const double scale = 1.0 / (static_cast<double>(p.count) * S::size);
    double total = 0.0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      const double w = weights ? weights[i / S::size] : 1.0;
      const double difference = static_cast<double>(p.data[i]) - t.data[i];
      total += w * difference * difference;
      if (gradient.data) gradient.data[i] = static_cast<float>(2.0 * w * difference * scale);
    }
    return total * scale;
  }
};

/// Several outputs, one loss each, summed with weights: the objective of a multi-head model,
///   Losses<CategoricalCrossEntropy, MeanSquaredError>{.weights = {1.0, 0.5}}.
/// Every term sees the same per-sample weights. last_terms holds each term's unweighted value from
/// the latest evaluate, for logging.
template <class... Terms>
struct Losses {
  std::tuple<Terms...> terms{};
  std::array<double, sizeof...(Terms)> weights = [] {
    std::array<double, sizeof...(Terms)> ones{};
    ones.fill(1.0);
    return ones;
  }();
  mutable std::array<double, sizeof...(Terms)> last_terms{};

  template <ShapesType S>
  double evaluate(ConstBatch<S> p, ConstBatch<S> t, const float* sample_weights, Batch<S> gradient) const {
    static_assert(S::count == sizeof...(Terms), "deepjet::Losses needs one loss per model output");
    double total = 0.0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((last_terms[I] = std::get<I>(terms).evaluate(p.template part<I>(), t.template part<I>(), sample_weights,
                                                     gradient.template part<I>()),
        total += weights[I] * last_terms[I], scale(gradient.template part<I>(), weights[I])),
       ...);
    }(std::make_index_sequence<sizeof...(Terms)>{});
    return total;
  }

 private:
  template <class View>
  static void scale(const View& gradient, double weight) {
    if (!gradient.data || weight == 1.0) return;
    for (std::size_t i = 0; i < gradient.size(); ++i) gradient.data[i] = static_cast<float>(gradient.data[i] * weight);
  }
};

}  // namespace deepjet
