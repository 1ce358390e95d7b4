// deepjet/layers/reshape/flatten.hpp: a particle list as one flat block.
//
// Spec: Flatten, for any input shape S; gives FlattenLayer<S> with output Shape<S::size>. A list
// Shape<P, F> becomes Shape<P * F> in memory order: particle 0's F features, then particle 1's, ...
// (Keras's Flatten on channels-last (N, P, F); PyTorch's nn.Flatten on the same (N, P, F) tensor;
// on PyTorch's channels-first (N, F, P) the order differs: permute to (N, P, F) first).
// A flat input passes through unchanged. No parameters; forward and backward are copies.
#pragma once

#include "deepjet/layers/layer.hpp"

#include <algorithm>

namespace deepjet {

template <ShapeType S>
struct FlattenLayer : LeafLayer<FlattenLayer<S>> {
  using input_shape = S;
  using output_shape = Shape<S::size>;
  static constexpr std::string_view kind = "Flatten";
  static constexpr std::array<ParameterSpec, 0> parameters{};
  static constexpr std::size_t parameter_count = 0;

  static void infer(const float*, ConstBatch<S> x, Batch<output_shape> y, float*) {
    if (x.data != y.data) std::copy(x.data, x.data + x.size(), y.data);
  }
  void forward(TrainingContext&, float*, ConstBatch<S> x, Batch<output_shape> y) { infer(nullptr, x, y, nullptr); }
  void backward(const float*, float*, ConstBatch<S>, ConstBatch<output_shape>, ConstBatch<output_shape> dy,
                Batch<S> dx) {
    if (dx.data && dx.data != dy.data) std::copy(dy.data, dy.data + dy.size(), dx.data);
  }
};

/// Flatten a sample into one row of features (see the top of this file).
struct Flatten {
  template <ShapeType In>
  using bind = FlattenLayer<In>;
};

}  // namespace deepjet
