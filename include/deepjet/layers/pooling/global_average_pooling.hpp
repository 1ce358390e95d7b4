// deepjet/layers/pooling/global_average_pooling.hpp: the mean over the particles of a list.
//
// Spec: GlobalAveragePooling, for a list Shape<P, F>; gives GlobalAveragePoolingLayer<P, F> with
// output Shape<F>: y[f] = (1 / P) * sum_p x[p][f], over all P entries (no masking of padded
// particles). Keras's GlobalAveragePooling1D on channels-last (N, P, F); PyTorch's
// AdaptiveAvgPool1d(1) on channels-first (N, F, P), or x.mean(dim=1) on (N, P, F).
// backward: dx[p][f] = dy[f] / P. No parameters.
#pragma once

#include "deepjet/layers/layer.hpp"

#include <algorithm>

namespace deepjet {

template <std::size_t Particles, std::size_t Features>
struct GlobalAveragePoolingLayer : LeafLayer<GlobalAveragePoolingLayer<Particles, Features>> {
  using input_shape = Shape<Particles, Features>;
  using output_shape = Shape<Features>;
  static constexpr std::string_view kind = "GlobalAveragePooling";
  static constexpr std::array<ParameterSpec, 0> parameters{};
  static constexpr std::size_t parameter_count = 0;

  static void infer(const float*, ConstBatch<input_shape> x, Batch<output_shape> y, float*) {
    constexpr float inv_particles = 1.0f / static_cast<float>(Particles);
    for (std::size_t n = 0; n < x.count; ++n) {
      const float* xs = x.sample(n);
      float* ys = y.sample(n);
      std::copy(xs, xs + Features, ys);
      for (std::size_t p = 1; p < Particles; ++p)
        for (std::size_t f = 0; f < Features; ++f) ys[f] += xs[p * Features + f];
      for (std::size_t f = 0; f < Features; ++f) ys[f] *= inv_particles;
    }
  }
  void forward(TrainingContext&, float*, ConstBatch<input_shape> x, Batch<output_shape> y) {
    infer(nullptr, x, y, nullptr);
  }
  void backward(const float*, float*, ConstBatch<input_shape>, ConstBatch<output_shape>,
                ConstBatch<output_shape> dy, Batch<input_shape> dx) {
    if (!dx.data) return;
    constexpr float inv_particles = 1.0f / static_cast<float>(Particles);
    for (std::size_t n = 0; n < dy.count; ++n) {
      const float* dys = dy.sample(n);
      float* dxs = dx.sample(n);
      for (std::size_t p = 0; p < Particles; ++p)
        for (std::size_t f = 0; f < Features; ++f) dxs[p * Features + f] = dys[f] * inv_particles;
    }
  }
};

/// Average over the particles of a list (see the top of this file).
struct GlobalAveragePooling {
  template <class In>
  struct binder {
    static_assert(ListShape<In>,
                  "deepjet::GlobalAveragePooling averages over the particles of a list, "
                  "Shape<Particles, Features>; its input here is flat, Shape<N>, which has no particle axis");
    using type = GlobalAveragePoolingLayer<In::dims[0], In::features>;
  };
  template <class In>
  using bind = typename binder<In>::type;
};

}  // namespace deepjet
