// deepjet/layers/conv1d/conv1d.hpp: 1D convolution over a particle list, features as channels.
//
// Spec: Conv1D<Filters, KernelSize = 1, Stride = 1, Padding = valid, UseBias = true>, for a list
// input Shape<Length, Channels>; gives Conv1DLayer<Length, Channels, Filters, ...> with output
// Shape<OutputLength, Filters>:
//   Conv1D<64>                          pointwise (1x1), DeepJet's per-particle stacks
//   Conv1D<32, 3, 1, deepjet::same>     kernel 3, output as long as the input (P-CNN)
//   Conv1D<32, 3, 2, deepjet::valid>    kernel 3, stride 2, no padding
//   Conv1D<64, 3, 2, deepjet::symmetric, false>   kernel 3, stride 2, one zero row on each side,
//                                       no bias: CMS's DeepAK8 (MXNet), 100 -> 50 particles
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
//   symmetric: p = (KernelSize - 1) / 2 zero rows before the first particle AND p after the last,
//          whatever the stride; OutputLength = (Length + 2p - KernelSize) / Stride + 1. This is
//          PyTorch's Conv1d(padding=KernelSize // 2) for odd kernels and MXNet's Convolution(pad=p),
//          as CMS's DeepAK8 uses it. For Stride 1 and an odd kernel it equals 'same'; for Stride 2
//          it can differ: kernel 3 on 100 particles gives 50 rows either way, but 'same' pads
//          nothing before and one row after (TensorFlow puts the odd padding after), symmetric one
//          row before and one after (the last one unread), so every window is shifted by a row.
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
// ONE matrix product with batch * Length rows (the fast path). Otherwise, channels last, the
// KernelSize input rows an output row reads are contiguous and the weight is one
// (KernelSize * Channels) x Filters matrix: all output rows whose window lies inside the list are
// ONE product with K = KernelSize * Channels whose rows of A are overlapping windows of the input
// (no im2col copy), per sample, or per block of samples for Stride 1 'same' (the block read as one
// long list). Each edge row (window partly in the padding: KernelSize - 1 rows per sample for
// Stride 1 'same') is one product over the samples of a block, with the offsets inside the list.
// Blocks of about 1024 output rows keep the bias and the edge rows in cache. Backward in the same
// pattern: dW += windows^T dy; for Stride 1, dX is dy's windows times the kernel flipped (copied
// once per backward pass into the layer object); for Stride > 1, one product per kernel offset and
// sample. Inference needs no scratch memory and is thread-safe; training keeps nothing between
// passes (the flipped weight is rewritten by every backward).
#pragma once

#include "deepjet/core/aligned.hpp"
#include "deepjet/kernels/gemm.hpp"
#include "deepjet/kernels/gemm_bf16.hpp"
#include "deepjet/layers/layer.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace deepjet {

/// How Conv1D treats the ends of the particle list (see the top of this file).
enum class Padding { valid, same, symmetric };
inline constexpr Padding valid = Padding::valid;
inline constexpr Padding same = Padding::same;
inline constexpr Padding symmetric = Padding::symmetric;

/// Padding names as options() writes them.
constexpr std::string_view padding_name(Padding padding) {
  return padding == Padding::valid ? "valid" : padding == Padding::same ? "same" : "symmetric";
}

template <std::size_t Length, std::size_t Channels, std::size_t Filters, std::size_t KernelSize,
          std::size_t Stride, Padding PaddingMode, bool UseBias>
struct Conv1DLayer : LeafLayer<Conv1DLayer<Length, Channels, Filters, KernelSize, Stride, PaddingMode, UseBias>> {
  /// Zero rows on each side for symmetric padding (0 otherwise).
  static constexpr std::size_t symmetric_padding = PaddingMode == Padding::symmetric ? (KernelSize - 1) / 2 : 0;
  static_assert(PaddingMode != Padding::valid || Length >= KernelSize,
                "deepjet::Conv1D with valid padding needs at least KernelSize particles in its input; "
                "use deepjet::same padding or a smaller kernel");
  static_assert(PaddingMode != Padding::symmetric || Length + 2 * symmetric_padding >= KernelSize,
                "deepjet::Conv1D with symmetric padding needs at least KernelSize particles, padding "
                "included, in its input; use deepjet::same padding or a smaller kernel");

  static constexpr std::size_t output_length = [] {
    if constexpr (PaddingMode == Padding::same) return (Length + Stride - 1) / Stride;
    const std::size_t padded = Length + 2 * symmetric_padding;
    return padded >= KernelSize ? (padded - KernelSize) / Stride + 1 : 1;  // 1: only the assertion above reports it
  }();
  /// Zero rows imagined before the first particle (the rest of the padding goes after the last;
  /// the code below only needs this and output_length).
  static constexpr std::size_t padding_before = [] {
    if constexpr (PaddingMode == Padding::valid) return std::size_t{0};
    if constexpr (PaddingMode == Padding::symmetric) return symmetric_padding;
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
           std::string(padding_name(PaddingMode)) + (UseBias ? "" : ", no bias");
  }

  /// A Dense over every particle: one matrix product for the whole batch.
  static constexpr bool pointwise = KernelSize == 1 && Stride == 1;

  // ---- Geometry of the products (kernel size > 1 or stride > 1) ----------------------------------
  //
  // Channels last, the KernelSize input rows an output row o reads are contiguous in memory:
  // `window` floats from x + (o * Stride - padding_before) * Channels. The weight (KernelSize,
  // Channels, Filters) is the (window x Filters) matrix in the same order. So the output rows whose
  // window lies inside the list are one matrix product whose rows of A are windows Stride * Channels
  // floats apart (overlapping when Stride < KernelSize, i.e. lda < K; no im2col copy). The other
  // rows, whose window reaches into the padding ("edge rows"), are computed one row at a time over
  // the samples, with only the kernel offsets that fall inside the list: these are contiguous too,
  // so that is again one product, whose rows of A are one window per sample.

  /// Floats of input under one window.
  static constexpr std::size_t window = KernelSize * Channels;

  /// Output rows [interior_first, interior_end) of a sample have their whole window inside the list:
  /// o * Stride >= padding_before and o * Stride - padding_before + KernelSize <= Length.
  static constexpr std::size_t interior_first = std::min((padding_before + Stride - 1) / Stride, output_length);
  static constexpr std::size_t interior_end = [] {
    if (Length + padding_before < KernelSize) return interior_first;
    return std::max(interior_first, std::min(output_length, (Length + padding_before - KernelSize) / Stride + 1));
  }();

  /// A range [first, end) of kernel offsets.
  struct OffsetRange {
    std::size_t first = 0;
    std::size_t end = 0;
  };
  /// The kernel offsets j of output row o whose input row o * Stride + j - padding_before lies in
  /// [0, Length).
  static constexpr OffsetRange offsets_inside(std::size_t o) {
    const std::size_t start = o * Stride;
    const std::size_t first = start >= padding_before ? 0 : padding_before - start;
    const std::size_t end = start >= Length + padding_before ? 0 : std::min(KernelSize, Length + padding_before - start);
    return {std::min(first, end), end};
  }

  /// With Stride 1 and 'same' padding the output is as long as the input, and a block of samples
  /// can be read as one long list: window r, starting at input row r of the block, gives output
  /// row r + padding_before of the block. The windows that straddle two samples land exactly on
  /// edge rows, which are computed afterwards over them; so the interior rows of the whole block
  /// are ONE product instead of one per sample.
  static constexpr bool block_as_one_list = Stride == 1 && output_length == Length && Length >= KernelSize;

  /// With Stride 1 the input gradient is a convolution too, of dy with the kernel flipped:
  ///   dx[i] = sum_j dy[i + padding_before - j] W[j]^T
  ///         = sum_{j'} dy[i + padding_before - (KernelSize - 1) + j'] Wf[j'],   Wf[j'] = W[K - 1 - j']^T,
  /// so dx rows are products of dy windows (KernelSize * Filters floats) with the flipped weight
  /// Wf (KernelSize, Filters, Channels), interior and edge rows as above.
  static constexpr std::size_t dy_window = KernelSize * Filters;
  /// Input rows [input_interior_first, input_interior_end) have their whole dy window inside the output.
  static constexpr std::size_t input_interior_first = std::min(KernelSize - 1 - padding_before, Length);
  static constexpr std::size_t input_interior_end =
      output_length > padding_before ? std::max(input_interior_first, std::min(Length, output_length - padding_before))
                                     : input_interior_first;
  /// The flipped offsets j' of input row i (Stride 1) whose dy row i + padding_before - (K - 1) + j'
  /// lies in [0, output_length); never empty with Stride 1 (every particle is read).
  static constexpr OffsetRange flipped_offsets_inside(std::size_t i) {
    const std::size_t shifted = i + padding_before;  // the dy row of j' = KernelSize - 1
    const std::size_t first = shifted >= KernelSize - 1 ? 0 : KernelSize - 1 - shifted;
    const std::size_t end = std::min(KernelSize, output_length + KernelSize - 1 - shifted);
    return {first, end};
  }

  /// Samples computed together: about 1024 output rows, so that a block's output (and in backward
  /// its dy and dx) is still in cache when its edge rows, bias and gradient products run.
  static constexpr std::size_t samples_per_block = std::max<std::size_t>(1, 1024 / output_length);

  /// True when no output row reads the padding (valid padding, or kernel 1): a scale and shift of
  /// the input then pass exactly through the convolution.
  static constexpr bool reads_no_padding = interior_first == 0 && interior_end == output_length;

  /// Absorbs x -> scale * x + shift of the input channels (a BatchNorm before this layer at
  /// inference; models/sequential.hpp) into the weights: W'[j][c][f] = scale[c] W[j][c][f],
  /// b'[f] = b[f] + sum over j, c of shift[c] W[j][c][f]. Offered only where that is exact: no
  /// padding read (a padded zero would become shift) and a bias to take the shift.
  static void fold_input_scale_shift(float* params, const float* scale, const float* shift)
    requires(reads_no_padding && UseBias)
  {
    fold_scale_shift_into_weight(KernelSize * Channels, Channels, Filters, params + weight_offset, params + bias_offset,
                                 scale, shift);
  }

  static void infer(const float* params, ConstBatch<input_shape> x, Batch<output_shape> y, float*) {
    if constexpr (pointwise) {
      kernels::gemm_nn(x.count * Length, Filters, Channels, x.data, Channels, params + weight_offset, Filters, y.data,
                       Filters, false);
      if constexpr (UseBias) kernels::add_row(x.count * Length, Filters, params + bias_offset, y.data, Filters);
    } else {
      for (std::size_t first = 0; first < x.count; first += samples_per_block) {
        const std::size_t count = std::min(samples_per_block, x.count - first);
        infer_block(params, slice(x, first, count), slice(y, first, count));
      }
    }
  }

  /// bfloat16 inference (layers/precision.hpp), for the pointwise convolution only (kernel 1,
  /// a Dense on every particle: DeepJet's and DeepDoubleX's); wider kernels run in float32.
  static void pack_bf16(float* packed)
    requires pointwise
  {
    kernels::pack_bf16_pairs(Channels, Filters, packed + weight_offset);
  }
  static void infer_bf16(const float* packed, ConstBatch<input_shape> x, Batch<output_shape> y, float*)
    requires pointwise
  {
    kernels::gemm_nn_bf16(x.count * Length, Filters, Channels, x.data, Channels, packed + weight_offset, y.data,
                          Filters, false);
    if constexpr (UseBias) kernels::add_row(x.count * Length, Filters, packed + bias_offset, y.data, Filters);
  }

  void forward(TrainingContext&, float* params, ConstBatch<input_shape> x, Batch<output_shape> y) {
    // The inference layout is the training layout here (no pack_for_inference), so the training
    // forward pass is inference on the parameters as they are.
    infer(params, x, y, nullptr);
  }

  void backward(const float* params, float* grads, ConstBatch<input_shape> x, ConstBatch<output_shape>,
                ConstBatch<output_shape> dy, Batch<input_shape> dx) {
    if constexpr (pointwise) {
      if constexpr (UseBias)
        kernels::column_sums(dy.count * Length, Filters, dy.data, Filters, grads + bias_offset, true);
      // dW += X^T dY over all particles of all samples;  dX = dY W^T.
      kernels::gemm_tn(Channels, Filters, x.count * Length, x.data, Channels, dy.data, Filters, grads + weight_offset,
                       Filters, true);
      if (dx.data)
        kernels::gemm_nt(x.count * Length, Channels, Filters, dy.data, Filters, params + weight_offset, Filters,
                         dx.data, Channels, false);
    } else {
      if constexpr (Stride == 1)
        if (dx.data) flip_weight(params + weight_offset);
      for (std::size_t first = 0; first < x.count; first += samples_per_block) {
        const std::size_t count = std::min(samples_per_block, x.count - first);
        backward_block(params, grads, slice(x, first, count), slice(dy, first, count), slice(dx, first, count));
      }
    }
  }

 private:
  static void infer_block(const float* params, ConstBatch<input_shape> x, Batch<output_shape> y) {
    const float* weight = params + weight_offset;
    if constexpr (block_as_one_list) {
      kernels::gemm_nn(x.count * Length - KernelSize + 1, Filters, window, x.data, Channels, weight, Filters,
                       y.data + padding_before * Filters, Filters, false);
    } else if constexpr (interior_first < interior_end) {
      for (std::size_t n = 0; n < x.count; ++n)
        kernels::gemm_nn(interior_end - interior_first, Filters, window,
                         x.sample(n) + (interior_first * Stride - padding_before) * Channels, Stride * Channels, weight,
                         Filters, y.sample(n) + interior_first * Filters, Filters, false);
    }
    for (std::size_t o = 0; o < interior_first; ++o) edge_row_forward(o, x, weight, y);
    for (std::size_t o = interior_end; o < output_length; ++o) edge_row_forward(o, x, weight, y);
    if constexpr (UseBias) kernels::add_row(x.count * output_length, Filters, params + bias_offset, y.data, Filters);
  }

  void backward_block(const float* params, float* grads, ConstBatch<input_shape> x, ConstBatch<output_shape> dy,
                      Batch<input_shape> dx) const {
    if constexpr (UseBias)
      kernels::column_sums(dy.count * output_length, Filters, dy.data, Filters, grads + bias_offset, true);
    // dW += windows^T dY: per sample over its interior rows (here windows straddling two samples
    // must not contribute), then edge rows over the samples.
    float* dweight = grads + weight_offset;
    if constexpr (interior_first < interior_end)
      for (std::size_t n = 0; n < x.count; ++n)
        kernels::gemm_tn(window, Filters, interior_end - interior_first,
                         x.sample(n) + (interior_first * Stride - padding_before) * Channels, Stride * Channels,
                         dy.sample(n) + interior_first * Filters, Filters, dweight, Filters, true);
    for (std::size_t o = 0; o < interior_first; ++o) edge_row_weight_gradient(o, x, dy, dweight);
    for (std::size_t o = interior_end; o < output_length; ++o) edge_row_weight_gradient(o, x, dy, dweight);

    if (!dx.data) return;
    if constexpr (Stride == 1) {
      // dX = dy windows times the flipped weight, laid out as infer's products.
      const float* flipped = flipped_weight_.data();
      if constexpr (block_as_one_list) {
        // dy window r, starting at output row r of the block, gives input row r + K - 1 - padding_before.
        kernels::gemm_nn(dx.count * output_length - KernelSize + 1, Channels, dy_window, dy.data, Filters, flipped,
                         Channels, dx.data + (KernelSize - 1 - padding_before) * Channels, Channels, false);
      } else if constexpr (input_interior_first < input_interior_end) {
        for (std::size_t n = 0; n < dx.count; ++n)
          kernels::gemm_nn(input_interior_end - input_interior_first, Channels, dy_window,
                           dy.sample(n) + (input_interior_first + padding_before - (KernelSize - 1)) * Filters, Filters,
                           flipped, Channels, dx.sample(n) + input_interior_first * Channels, Channels, false);
      }
      for (std::size_t i = 0; i < input_interior_first; ++i) edge_row_input_gradient(i, dy, flipped, dx);
      for (std::size_t i = input_interior_end; i < Length; ++i) edge_row_input_gradient(i, dy, flipped, dx);
    } else {
      // Stride > 1: dX += dY W[j]^T per kernel offset j and sample, into every Stride-th input row
      // (rows no window reads keep their zero).
      const float* weight = params + weight_offset;
      std::fill(dx.data, dx.data + dx.size(), 0.0f);
      for (std::size_t n = 0; n < x.count; ++n)
        for (std::size_t j = 0; j < KernelSize; ++j) {
          const auto [first, end] = offset_rows[j];
          if (first == end) continue;
          const std::size_t input_row = first * Stride + j - padding_before;
          kernels::gemm_nt(end - first, Channels, Filters, dy.sample(n) + first * Filters, Filters,
                           weight + j * Channels * Filters, Filters, dx.sample(n) + input_row * Channels,
                           Stride * Channels, true);
        }
    }
  }

  /// Stride > 1 backward: for kernel offset j, the output rows [first, end) whose input row lies
  /// inside the list.
  static constexpr std::array<OffsetRange, KernelSize> offset_rows = [] {
    std::array<OffsetRange, KernelSize> rows{};
    for (std::size_t j = 0; j < KernelSize; ++j) {
      // Input row of output o: o * Stride + j - padding_before; it must lie in [0, Length).
      const std::size_t first = j >= padding_before ? 0 : (padding_before - j + Stride - 1) / Stride;
      const std::size_t last_reachable = Length - 1 + padding_before;  // largest o * Stride + j allowed
      const std::size_t end = last_reachable < j ? 0 : std::min(output_length, (last_reachable - j) / Stride + 1);
      rows[j] = {std::min(first, end), end};
    }
    return rows;
  }();

  // Edge output row o of every sample of the block: y[o] = window(o) W over the offsets inside.
  static void edge_row_forward(std::size_t o, ConstBatch<input_shape> x, const float* weight, Batch<output_shape> y) {
    // Every window covers at least one particle ('same' pads less than a kernel in total,
    // symmetric less than a kernel on each side), so this product has K > 0 and overwrites its
    // output row.
    static_assert(PaddingMode == Padding::valid || [] {
      for (std::size_t row = 0; row < output_length; ++row)
        if (offsets_inside(row).first == offsets_inside(row).end) return false;
      return true;
    }());
    const auto [first, end] = offsets_inside(o);
    kernels::gemm_nn(x.count, Filters, (end - first) * Channels,
                     x.data + (o * Stride + first - padding_before) * Channels, input_shape::size,
                     weight + first * Channels * Filters, Filters, y.data + o * Filters, output_shape::size, false);
  }

  // Edge output row o: dW[first, end) += window(o)^T dy[o], summed over the samples of the block.
  static void edge_row_weight_gradient(std::size_t o, ConstBatch<input_shape> x, ConstBatch<output_shape> dy,
                                       float* dweight) {
    const auto [first, end] = offsets_inside(o);
    kernels::gemm_tn((end - first) * Channels, Filters, x.count,
                     x.data + (o * Stride + first - padding_before) * Channels, input_shape::size,
                     dy.data + o * Filters, output_shape::size, dweight + first * Channels * Filters, Filters, true);
  }

  // Edge input row i (Stride 1) of every sample of the block: dx[i] = dy window(i) Wf over the
  // flipped offsets inside the output.
  static void edge_row_input_gradient(std::size_t i, ConstBatch<output_shape> dy, const float* flipped,
                                      Batch<input_shape> dx) {
    // With Stride 1 every particle is read by some window, so this product has K > 0.
    static_assert(Stride == 1 && [] {
      for (std::size_t row = 0; row < Length; ++row)
        if (flipped_offsets_inside(row).first >= flipped_offsets_inside(row).end) return false;
      return true;
    }());
    const auto [first, end] = flipped_offsets_inside(i);
    kernels::gemm_nn(dx.count, Channels, (end - first) * Filters,
                     dy.data + (i + padding_before + first - (KernelSize - 1)) * Filters, output_shape::size,
                     flipped + first * Filters * Channels, Channels, dx.data + i * Channels, input_shape::size, false);
  }

  // flipped_weight_ = Wf: Wf[K - 1 - j][f][c] = weight[j][c][f]. Once per backward pass (the
  // parameters change between passes); its cost is one pass over the weight.
  void flip_weight(const float* weight) {
    float* flipped = ensure_size(flipped_weight_, window * Filters);
    for (std::size_t j = 0; j < KernelSize; ++j)
      for (std::size_t c = 0; c < Channels; ++c)
        for (std::size_t f = 0; f < Filters; ++f)
          flipped[((KernelSize - 1 - j) * Filters + f) * Channels + c] = weight[(j * Channels + c) * Filters + f];
  }

  AlignedFloats flipped_weight_;  ///< Stride 1 backward: the flipped weight Wf (see dy_window)
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
