// deepjet/layers/dense/dense.hpp: the fully connected layer, y = x W + b.
//
// Spec: Dense<Units>, for a flat input Shape<In>; gives DenseLayer<In, Units>.
// Parameters: "weight" of shape (In, Units), stored row-major: W[i][o] multiplies input i into
// output o (Keras's kernel layout; PyTorch's nn.Linear.weight is its transpose, (Units, In)),
// and "bias" of shape (Units). Glorot-uniform weights and zero bias, as Keras.
#pragma once

#include "deepjet/kernels/gemm.hpp"
#include "deepjet/kernels/gemm_bf16.hpp"
#include "deepjet/layers/layer.hpp"

namespace deepjet {

template <std::size_t In, std::size_t Units>
struct DenseLayer : LeafLayer<DenseLayer<In, Units>> {
  using input_shape = Shape<In>;
  using output_shape = Shape<Units>;
  static constexpr std::string_view kind = "Dense";
  static constexpr std::array<ParameterSpec, 2> parameters{{
      {"weight", {In, Units}, 2, Initialiser::glorot_uniform, In, Units},
      {"bias", {Units}, 1, Initialiser::zeros, In, Units},
  }};
  static constexpr std::size_t parameter_count = In * Units + Units;
  static constexpr std::size_t weight_offset = 0;
  static constexpr std::size_t bias_offset = In * Units;

  static void infer(const float* params, ConstBatch<input_shape> x, Batch<output_shape> y, float*) {
    kernels::gemm_nn(x.count, Units, In, x.data, In, params + weight_offset, Units, y.data, Units, false);
    kernels::add_row(x.count, Units, params + bias_offset, y.data, Units);
  }

  /// bfloat16 inference (layers/precision.hpp): the weight becomes bfloat16 pairs in place (after
  /// any BatchNorm folding), the bias stays float32.
  static void pack_bf16(float* packed) { kernels::pack_bf16_pairs(In, Units, packed + weight_offset); }
  static void infer_bf16(const float* packed, ConstBatch<input_shape> x, Batch<output_shape> y, float*) {
    kernels::gemm_nn_bf16(x.count, Units, In, x.data, In, packed + weight_offset, y.data, Units, false);
    kernels::add_row(x.count, Units, packed + bias_offset, y.data, Units);
  }

  /// Absorbs x -> scale * x + shift of the input features (a BatchNorm before this layer at
  /// inference) into the weights: W'[i][u] = scale[i] W[i][u], b'[u] = b[u] + sum_i shift[i] W[i][u].
  static void fold_input_scale_shift(float* params, const float* scale, const float* shift) {
    fold_scale_shift_into_weight(In, In, Units, params + weight_offset, params + bias_offset, scale, shift);
  }

  void forward(TrainingContext&, float* params, ConstBatch<input_shape> x, Batch<output_shape> y) {
    // The inference layout is the training layout here (no pack_for_inference), so the training
    // forward pass is inference on the parameters as they are.
    infer(params, x, y, nullptr);
  }

  void backward(const float* params, float* grads, ConstBatch<input_shape> x,
                ConstBatch<output_shape>, ConstBatch<output_shape> dy, Batch<input_shape> dx) {
    // dW += x^T dy,  db += column sums of dy,  dx = dy W^T.
    kernels::gemm_tn(In, Units, x.count, x.data, In, dy.data, Units, grads + weight_offset, Units, true);
    kernels::column_sums(dy.count, Units, dy.data, Units, grads + bias_offset, true);
    if (dx.data) kernels::gemm_nt(x.count, In, Units, dy.data, Units, params + weight_offset, Units, dx.data, In, false);
  }
};

/// Fully connected layer with `Units` outputs (see the top of this file).
template <std::size_t Units>
struct Dense {
  static_assert(Units > 0, "deepjet::Dense<Units>: Units must be positive");
  template <class In>
  struct binder {
    static_assert(FlatShape<In>,
                  "deepjet::Dense takes a flat input, Shape<N>. Its input here is a list "
                  "(particles x features): apply a per-particle layer (Conv1D with kernel 1), an "
                  "LSTM, or Flatten before it.");
    using type = DenseLayer<In::size, Units>;
  };
  template <class In>
  using bind = typename binder<In>::type;
};

}  // namespace deepjet
