// deepjet/layers/conv1d/conv1d.hpp: 1D convolution over a particle list, features as channels.
//
// Spec: Conv1D<Filters, KernelSize = 1, Stride = 1, Padding = valid, UseBias = true>, for a list
// input Shape<Length, Channels>; gives Conv1DLayer<Length, Channels, Filters, ...> with output
// Shape<OutputLength, Filters>:
//   Conv1D<64>                          pointwise (1x1), DeepJet's per-particle stacks
//   Conv1D<32, 3, 1, deepjet::same>     kernel 3, output as long as the input (P-CNN)
//   Conv1D<32, 3, 2, deepjet::valid>    kernel 3, stride 2, no padding
//   Conv1D<8, 1, 1, deepjet::valid, false>   without bias
//
// What it computes, for output position o and filter f (i = o * Stride + j - padding_before):
//   y[o][f] = bias[f] + sum_{j < KernelSize} sum_{c < Channels} x[i][c] * weight[j][c][f],
// where input positions outside [0, Length) count as zero (the padding).
//
// Padding (the same conventions as Keras, and PyTorch wherever PyTorch allows the option):
//   valid: no padding; OutputLength = (Length - KernelSize) / Stride + 1 (needs Length >= KernelSize).
//   same:  OutputLength = ceil(Length / Stride); the total padding
//          max((OutputLength - 1) * Stride + KernelSize - Length, 0) is split with the smaller half
//          before the first particle and the larger half after the last. For Stride 1 this is
//          exactly PyTorch's padding='same' (which rejects Stride > 1) and Keras's; for Stride > 1
//          it is Keras's (TensorFlow's) rule.
//
// Parameters:
//   "weight" of shape (KernelSize, Channels, Filters), row-major: weight[j][c][f] multiplies channel c
//            of the particle at kernel offset j into filter f. This is Keras's Conv1D kernel layout.
//            PyTorch's nn.Conv1d.weight is (Filters, Channels, KernelSize): ours is its
//            permute(2, 1, 0). Glorot-uniform with fan_in = KernelSize * Channels and
//            fan_out = KernelSize * Filters, as Keras.
//   "bias"   of shape (Filters), zeros; absent when UseBias is false.
// Layout of data: a sample is (Length, Channels) with the channels of a particle contiguous
// (channels-last, Keras's default). PyTorch's Conv1d takes channels-first (N, Channels, Length):
// our input is its x.permute(0, 2, 1), and likewise for the output.
//
// Cost: with KernelSize 1 and Stride 1 the layer is a Dense applied to every particle, computed as
// ONE matrix product with batch * Length rows (the fast path). Otherwise, per sample, one product
// per kernel offset j between the input rows it reads (strided by Stride) and weight[j]; no im2col
// copy and no scratch memory. Inference is thread-safe; training keeps nothing between passes.
#pragma once

#include "deepjet/kernels/gemm.hpp"
#include "deepjet/layers/layer.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>

namespace deepjet {

/// How Conv1D treats the ends of the particle list (see the top of this file).
enum class Padding { valid, same };
inline constexpr Padding valid = Padding::valid;
inline constexpr Padding same = Padding::same;

template <std::size_t Length, std::size_t Channels, std::size_t Filters, std::size_t KernelSize,
          std::size_t Stride, Padding PaddingMode, bool UseBias>
struct Conv1DLayer : LeafLayer<Conv1DLayer<Length, Channels, Filters, KernelSize, Stride, PaddingMode, UseBias>> {
  static_assert(PaddingMode == Padding::same || Length >= KernelSize,
                "deepjet::Conv1D with valid padding needs at least KernelSize particles in its input; "
                "use deepjet::same padding or a smaller kernel");

  static constexpr std::size_t output_length =
      PaddingMode == Padding::same ? (Length + Stride - 1) / Stride
                                   : (Length >= KernelSize ? (Length - KernelSize) / Stride + 1
                                                           : 1);  // 1: only the assertion above reports it
  /// Zero rows imagined before the first particle ('same' only; the rest go after the last).
  static constexpr std::size_t padding_before = [] {
    if constexpr (PaddingMode == Padding::valid) return std::size_t{0};
    const std::size_t reach = (output_length - 1) * Stride + KernelSize;
    return (reach > Length ? reach - Length : 0) / 2;
  }();

  using input_shape = Shape<Length, Channels>;
  using output_shape = Shape<output_length, Filters>;
  static constexpr std::string_view kind = "Conv1D";

  static constexpr std::size_t weight_size = KernelSize * Channels * Filters;
  static constexpr std::size_t weight_offset = 0;
  static constexpr std::size_t bias_offset = weight_size;
  static constexpr std::size_t parameter_count = weight_size + (UseBias ? Filters : 0);
  static constexpr auto parameters = [] {
    constexpr ParameterSpec weight{"weight", {KernelSize, Channels, Filters}, 3, Initialiser::glorot_uniform,
                                   KernelSize * Channels, KernelSize * Filters};
    constexpr ParameterSpec bias{"bias", {Filters}, 1, Initialiser::zeros, KernelSize * Channels, KernelSize * Filters};
    if constexpr (UseBias)
      return std::array<ParameterSpec, 2>{{weight, bias}};
    else
      return std::array<ParameterSpec, 1>{{weight}};
  }();

  static std::string options() {
    return "kernel " + std::to_string(KernelSize) + ", stride " + std::to_string(Stride) + ", " +
           (PaddingMode == Padding::same ? "same" : "valid") + (UseBias ? "" : ", no bias");
  }

  /// A Dense over every particle: one matrix product for the whole batch.
  static constexpr bool pointwise = KernelSize == 1 && Stride == 1;

  /// For kernel offset j, the output rows [first, end) whose input row lies inside the list.
  struct OffsetRows {
    std::size_t first = 0;
    std::size_t end = 0;
  };
  static constexpr std::array<OffsetRows, KernelSize> offset_rows = [] {
    std::array<OffsetRows, KernelSize> rows{};
    for (std::size_t j = 0; j < KernelSize; ++j) {
      // Input row of output o: o * Stride + j - padding_before; it must lie in [0, Length).
      const std::size_t first = j >= padding_before ? 0 : (padding_before - j + Stride - 1) / Stride;
      const std::size_t last_reachable = Length - 1 + padding_before;  // largest o * Stride + j allowed
      const std::size_t end = last_reachable < j ? 0 : std::min(output_length, (last_reachable - j) / Stride + 1);
      rows[j] = {std::min(first, end), end};
    }
    return rows;
  }();
  /// A kernel offset that reaches every output row (always exists for valid padding), computed first
  /// so that it overwrites the output instead of needing the output zeroed; KernelSize if none.
  static constexpr std::size_t full_offset = [] {
    for (std::size_t j = 0; j < KernelSize; ++j)
      if (offset_rows[j].first == 0 && offset_rows[j].end == output_length) return j;
    return KernelSize;
  }();

  static void infer(const float* params, ConstBatch<input_shape> x, Batch<output_shape> y, float*) {
    const float* weight = params + weight_offset;
    if constexpr (pointwise) {
      kernels::gemm_nn(x.count * Length, Filters, Channels, x.data, Channels, weight, Filters, y.data, Filters, false);
    } else {
      for (std::size_t n = 0; n < x.count; ++n) {
        const float* xs = x.sample(n);
        float* ys = y.sample(n);
        if constexpr (full_offset == KernelSize) std::fill(ys, ys + output_shape::size, 0.0f);
        else add_offset(full_offset, xs, weight, ys, false);
        for (std::size_t j = 0; j < KernelSize; ++j)
          if (j != full_offset) add_offset(j, xs, weight, ys, true);
      }
    }
    if constexpr (UseBias) kernels::add_row(x.count * output_length, Filters, params + bias_offset, y.data, Filters);
  }

  void forward(TrainingContext&, float* params, ConstBatch<input_shape> x, Batch<output_shape> y) {
    infer(params, x, y, nullptr);
  }

  void backward(const float* params, float* grads, ConstBatch<input_shape> x, ConstBatch<output_shape>,
                ConstBatch<output_shape> dy, Batch<input_shape> dx) {
    const float* weight = params + weight_offset;
    float* dweight = grads + weight_offset;
    if constexpr (UseBias)
      kernels::column_sums(dy.count * output_length, Filters, dy.data, Filters, grads + bias_offset, true);
    if constexpr (pointwise) {
      // dW += X^T dY over all particles of all samples;  dX = dY W^T.
      kernels::gemm_tn(Channels, Filters, x.count * Length, x.data, Channels, dy.data, Filters, dweight, Filters, true);
      if (dx.data)
        kernels::gemm_nt(x.count * Length, Channels, Filters, dy.data, Filters, weight, Filters, dx.data, Channels, false);
    } else {
      if (dx.data) std::fill(dx.data, dx.data + dx.size(), 0.0f);  // strides may skip rows
      for (std::size_t n = 0; n < x.count; ++n) {
        const float* xs = x.sample(n);
        const float* dys = dy.sample(n);
        for (std::size_t j = 0; j < KernelSize; ++j) {
          const auto [first, end] = offset_rows[j];
          if (first == end) continue;
          const std::size_t input_row = first * Stride + j - padding_before;
          // dW[j] += X_j^T dY, with X_j the input rows offset j reads (every Stride-th row).
          kernels::gemm_tn(Channels, Filters, end - first, xs + input_row * Channels, Stride * Channels,
                           dys + first * Filters, Filters, dweight + j * Channels * Filters, Filters, true);
          // dX_j += dY W[j]^T.
          if (dx.data)
            kernels::gemm_nt(end - first, Channels, Filters, dys + first * Filters, Filters,
                             weight + j * Channels * Filters, Filters, dx.sample(n) + input_row * Channels,
                             Stride * Channels, true);
        }
      }
    }
  }

 private:
  // ys (+)= X_j W[j] over the output rows kernel offset j reaches.
  static void add_offset(std::size_t j, const float* xs, const float* weight, float* ys, bool accumulate) {
    const auto [first, end] = offset_rows[j];
    if (first == end) return;
    const std::size_t input_row = first * Stride + j - padding_before;
    kernels::gemm_nn(end - first, Filters, Channels, xs + input_row * Channels, Stride * Channels,
                     weight + j * Channels * Filters, Filters, ys + first * Filters, Filters, accumulate);
  }
};

/// 1D convolution over the particles of a list (see the top of this file).
template <std::size_t Filters, std::size_t KernelSize = 1, std::size_t Stride = 1,
          Padding PaddingMode = Padding::valid, bool UseBias = true>
struct Conv1D {
  static_assert(Filters > 0, "deepjet::Conv1D<Filters, ...>: Filters must be positive");
  static_assert(KernelSize > 0, "deepjet::Conv1D<Filters, KernelSize, ...>: KernelSize must be positive");
  static_assert(Stride > 0, "deepjet::Conv1D<Filters, KernelSize, Stride, ...>: Stride must be positive");
  template <class In>
  struct binder {
    static_assert(ListShape<In>,
                  "deepjet::Conv1D takes a particle list, Shape<Particles, Features>, and slides over "
                  "its particles. Its input here is flat, Shape<N>, which has no particle axis: use "
                  "Dense for flat inputs.");
    // (For a flat input the assertion above is the error; the length below only avoids a second one.)
    using type = Conv1DLayer<ListShape<In> ? In::dims[0] : KernelSize, In::features, Filters, KernelSize, Stride,
                             PaddingMode, UseBias>;
  };
  template <class In>
  using bind = typename binder<In>::type;
};

}  // namespace deepjet
