// deepjet/layers/activation/activation.hpp: activation layers, for any input shape.
//
// Specs: Linear, ReLU, ELU, Tanh, Sigmoid apply element-wise; Softmax normalises over the last
// dimension (the classes of a flat output, or the features of each particle of a list).
// No parameters. The backward pass uses only the layer's output (see kernels/elementwise.hpp).
#pragma once

#include "deepjet/kernels/elementwise.hpp"
#include "deepjet/layers/layer.hpp"

namespace deepjet {

template <ShapeType S, class Function>
struct ActivationLayer : LeafLayer<ActivationLayer<S, Function>> {
  using input_shape = S;
  using output_shape = S;
  static constexpr std::string_view kind = Function::name;
  static constexpr std::array<ParameterSpec, 0> parameters{};
  static constexpr std::size_t parameter_count = 0;

  static void infer(const float*, ConstBatch<S> x, Batch<S> y, float*) {
    kernels::activation_forward<Function>(x.data, y.data, x.size());
  }
  void forward(TrainingContext&, float*, ConstBatch<S> x, Batch<S> y) { infer(nullptr, x, y, nullptr); }
  void backward(const float*, float*, ConstBatch<S>, ConstBatch<S> y, ConstBatch<S> dy, Batch<S> dx) {
    if (dx.data) kernels::activation_backward<Function>(y.data, dy.data, dx.data, y.size());
  }
};

template <ShapeType S>
struct SoftmaxLayer : LeafLayer<SoftmaxLayer<S>> {
  using input_shape = S;
  using output_shape = S;
  static constexpr std::string_view kind = "Softmax";
  static constexpr std::array<ParameterSpec, 0> parameters{};
  static constexpr std::size_t parameter_count = 0;
  static constexpr std::size_t rows_per_sample = S::size / S::features;

  static void infer(const float*, ConstBatch<S> x, Batch<S> y, float*) {
    kernels::softmax_forward(x.data, y.data, x.count * rows_per_sample, S::features);
  }
  void forward(TrainingContext&, float*, ConstBatch<S> x, Batch<S> y) { infer(nullptr, x, y, nullptr); }
  void backward(const float*, float*, ConstBatch<S>, ConstBatch<S> y, ConstBatch<S> dy, Batch<S> dx) {
    if (dx.data) kernels::softmax_backward(y.data, dy.data, dx.data, y.count * rows_per_sample, S::features);
  }
};

template <class Function>
struct Activation {
  template <ShapeType In>
  using bind = ActivationLayer<In, Function>;
};

using Linear = Activation<kernels::LinearFunction>;
using ReLU = Activation<kernels::ReluFunction>;
using ELU = Activation<kernels::EluFunction>;
using Tanh = Activation<kernels::TanhFunction>;
using Sigmoid = Activation<kernels::SigmoidFunction>;

struct Softmax {
  template <ShapeType In>
  using bind = SoftmaxLayer<In>;
};

}  // namespace deepjet
