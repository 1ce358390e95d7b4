// deepjet/layers/lstm/lstm.hpp: the long short-term memory layer over a list of entries.
//
// Spec: LSTM<Units, options...> for a list input Shape<T, F> (T entries of F features, e.g. the
// charged candidates of a jet); gives LSTMLayer<T, F, Units, direction, returns, gates>.
// Options, in any order, at most once each:
//   deepjet::backwards           run over the entries from the last (T - 1) to the first (0), as
//                                Keras's go_backwards=True; DeepJet's LSTMs run backwards, so the
//                                entry that influences the final state most directly is entry 0
//                                (the leading particle of a list sorted by decreasing importance)
//   deepjet::return_sequences    output every step's state, Shape<T, Units>, instead of the final
//                                state, Shape<Units>
//   deepjet::hard_sigmoid_gates  gates i, f, o use Keras 2's hard_sigmoid, clip(0.2 z + 0.5, 0, 1),
//                                instead of the sigmoid: the default recurrent_activation of Keras
//                                up to 2.2, so of LSTMs trained with it (DeepJet's original ones)
// Example: LSTM<150, deepjet::backwards> on Shape<25, 8> gives Shape<150>.
//
// Recurrence, for each step s = 0 .. T-1 over entry t(s) = s (forwards) or T-1-s (backwards),
// with h and c zero before the first step:
//   z = x_t W + h_prev U + b                       (1 x 4H, gates in the order i, f, g, o)
//   i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o)   (or hard_sigmoid)
//   c = f * c_prev + i * g,   h = o * tanh(c)
// These are PyTorch's nn.LSTM semantics and Keras's LSTM with its current defaults. Keras 1.x and
// 2.0-2.2 (and tf.keras of TensorFlow 1.x; DeepJet was first trained with them) defaulted to
// recurrent_activation='hard_sigmoid'; weights trained that way need the option
// hard_sigmoid_gates to give the same outputs.
//
// Parameters (one flat block, in this order), exactly Keras's LSTM layout:
//   "kernel"            (F, 4H)  W: column block k of width H belongs to gate k of i, f, g, o
//   "recurrent_kernel"  (H, 4H)  U: same column blocks
//   "bias"              (4H)     b: same slices
// From PyTorch's nn.LSTM (one layer, batch_first or not; same gate order i, f, g, o):
//   kernel = weight_ih_l0^T  (weight_ih_l0 is (4H, F)),
//   recurrent_kernel = weight_hh_l0^T  (weight_hh_l0 is (4H, H)),
//   bias = bias_ih_l0 + bias_hh_l0  (PyTorch's two biases only ever appear as a sum).
// LSTMLayer::parameters_from_pytorch does exactly this.
// From Keras: kernel, recurrent_kernel, bias copy over unchanged (Keras also orders i, f, c, o).
// Initialisation as Keras: kernel glorot_uniform, recurrent_kernel orthogonal, bias zeros except
// ones in the forget-gate slice (unit_forget_bias). Trainable parameters: 4 (F H + H H + H), as
// Keras; PyTorch counts 4H more because of its second bias.
//
// Output order with return_sequences: step outputs are stored at the entry they were computed
// on, in the input's order: output[t] = the state just after reading entry t. Forwards that state
// summarises entries 0..t; backwards it summarises entries t..T-1 (as the reverse half of
// PyTorch's bidirectional LSTM). Keras with go_backwards=True returns the same states in the
// order they were computed, i.e. reversed: Keras's output[k] is our output[T-1-k].
//
// Cost: each step is one fused kernel (lstm_kernels.hpp, lstm_step): for a tile of samples and a
// block of units, [x_t, h_prev] times the packed [kernel; recurrent_kernel] gives all four gates
// in registers, and the cell update runs on them there. Multiply-adds per sample: 4H (F + H) T,
// e.g. 4*150*(8+150)*25 = 2.37 M for DeepJet's charged candidates. Inference reads the weights
// packed once (pack_for_inference: gates interleaved per register block of units, units padded
// to whole registers); training packs them at every forward pass (a copy of the parameters,
// negligible beside the products). Backward through time: per step the fused cell gradient and
// one product (dh_prev = dz U^T), then for all steps at once one product each for dU, dW and dX
// (over batch*T rows, in row chunks that stay in cache) and the bias sums: about twice the forward.
//
// Training memory (grown to the largest batch, then reused): the gates, cells, tanh(cells) and
// states of every step of every sample, batch*T*7H floats, plus 2 batch*H, U^T (4H*H), the
// packed weights and 256 (F + H) floats of rows for the weight gradients. The backward pass
// turns the cached gates into their gradients in place, so each forward allows one backward; a
// second one throws deepjet::Error.
// Inference scratch: min(batch, 256) * 3H floats (two states h to alternate between steps and the
// cell state c; samples are processed in blocks of 256 so that scratch stays bounded).
#pragma once

#include "deepjet/core/aligned.hpp"
#include "deepjet/core/error.hpp"
#include "deepjet/kernels/gemm.hpp"
#include "deepjet/layers/layer.hpp"
#include "deepjet/layers/lstm/lstm_kernels.hpp"

#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>

namespace deepjet {

/// The order in which an LSTM reads the entries of its input list.
enum class Direction { forwards, backwards };

/// LSTM option: read the entries from the last to the first (Keras's go_backwards=True).
struct backwards {};
/// LSTM option: output the state after every entry, Shape<T, Units>, in the input's order.
struct return_sequences {};
/// LSTM option: gates i, f, o use Keras 2's hard_sigmoid (see the top of this file).
struct hard_sigmoid_gates {};

/// The activation of an LSTM's gates i, f, o.
enum class GateActivation { sigmoid, hard_sigmoid };

template <std::size_t T, std::size_t F, std::size_t H, Direction direction = Direction::forwards,
          bool ReturnSequences = false, GateActivation gate_activation = GateActivation::sigmoid>
struct LSTMLayer : LeafLayer<LSTMLayer<T, F, H, direction, ReturnSequences, gate_activation>> {
  static_assert(T > 0 && F > 0 && H > 0, "deepjet::LSTMLayer: all sizes must be positive");
  using Gate = std::conditional_t<gate_activation == GateActivation::sigmoid, kernels::SigmoidFunction,
                                  kernels::HardSigmoidFunction>;

  using input_shape = Shape<T, F>;
  using output_shape = std::conditional_t<ReturnSequences, Shape<T, H>, Shape<H>>;
  static constexpr std::string_view kind = "LSTM";
  static constexpr std::size_t G = 4 * H;  ///< width of the gate pre-activations
  static constexpr std::array<ParameterSpec, 3> parameters{{
      {"kernel", {F, G}, 2, Initialiser::glorot_uniform, F, G},
      {"recurrent_kernel", {H, G}, 2, Initialiser::orthogonal, H, G},
      {"bias", {G}, 1, Initialiser::unit_forget_bias, F, G},
  }};
  static constexpr std::size_t kernel_offset = 0;
  static constexpr std::size_t recurrent_kernel_offset = F * G;
  static constexpr std::size_t bias_offset = F * G + H * G;
  static constexpr std::size_t parameter_count = F * G + H * G + G;
  /// Samples per block in `infer`, which bounds its scratch memory.
  static constexpr std::size_t inference_block = 256;

  static std::string options() {
    return std::string(direction == Direction::forwards ? "forwards" : "backwards") +
           (ReturnSequences ? ", sequence" : ", last state") +
           (gate_activation == GateActivation::hard_sigmoid ? ", hard_sigmoid gates" : "");
  }

  /// Writes this layer's parameters (`params`, parameter_count floats) from the tensors of one
  /// PyTorch nn.LSTM layer, as PyTorch stores them: weight_ih (4H x F), weight_hh (4H x H), and
  /// bias_ih, bias_hh (4H each; pass empty spans for an LSTM built with bias=False). The same
  /// holds for the reverse half of a bidirectional LSTM (weight_ih_l0_reverse, ...). Throws
  /// deepjet::Error, writing nothing, if a size does not fit this layer.
  static void parameters_from_pytorch(std::span<const float> weight_ih, std::span<const float> weight_hh,
                                      std::span<const float> bias_ih, std::span<const float> bias_hh,
                                      std::span<float> params) {
    auto check = [](std::span<const float> tensor, std::size_t expected, const char* name, bool optional) {
      if (tensor.size() != expected && !(optional && tensor.empty()))
        throw Error(std::string("deepjet::LSTMLayer::parameters_from_pytorch: ") + name + " has " +
                    std::to_string(tensor.size()) + " values, this layer needs " + std::to_string(expected));
    };
    check(weight_ih, G * F, "weight_ih", false);
    check(weight_hh, G * H, "weight_hh", false);
    check(bias_ih, G, "bias_ih", true);
    check(bias_hh, G, "bias_hh", true);
    check(params, parameter_count, "the parameter array", false);
    // kernel = weight_ih^T, recurrent_kernel = weight_hh^T (same gate order), bias = the sum.
    for (std::size_t gate_row = 0; gate_row < G; ++gate_row) {
      for (std::size_t f = 0; f < F; ++f) params[kernel_offset + f * G + gate_row] = weight_ih[gate_row * F + f];
      for (std::size_t h = 0; h < H; ++h)
        params[recurrent_kernel_offset + h * G + gate_row] = weight_hh[gate_row * H + h];
      params[bias_offset + gate_row] = (bias_ih.empty() ? 0.0f : bias_ih[gate_row]) + (bias_hh.empty() ? 0.0f : bias_hh[gate_row]);
    }
  }

  /// The entry read at step s.
  static constexpr std::size_t entry_at_step(std::size_t s) {
    return direction == Direction::forwards ? s : T - 1 - s;
  }
  /// The step at which entry t is read (the inverse of entry_at_step).
  static constexpr std::size_t step_of_entry(std::size_t t) { return entry_at_step(t); }

  /// Floats of the packed weights inference reads (lstm_kernels.hpp, pack_lstm_weights).
  static constexpr std::size_t inference_parameter_count = kernels::LSTMStepWeights<kernels::DefaultArch>::size(F, H);

  static void pack_for_inference(const float* params, float* packed) {
    kernels::pack_lstm_weights(F, H, params + kernel_offset, params + recurrent_kernel_offset, params + bias_offset,
                               packed);
  }

  static constexpr std::size_t scratch_size(std::size_t count) { return std::min(count, inference_block) * 3 * H; }

  static void infer(const float* packed, ConstBatch<input_shape> x, Batch<output_shape> y, float* scratch) {
    for (std::size_t first = 0; first < x.count; first += inference_block) {
      const std::size_t count = std::min(inference_block, x.count - first);
      float* alternating_hidden[2] = {scratch, scratch + count * H};
      float* cells = scratch + 2 * count * H;
      const float* inputs = x.data + first * input_shape::size;
      float* outputs = y.data + first * output_shape::size;
      for (std::size_t step = 0; step < T; ++step) {
        const std::size_t t = entry_at_step(step);
        kernels::LSTMStep s{.F = F, .H = H, .weights = packed, .x = inputs + t * F, .x_stride = T * F};
        s.c = cells;
        s.c_stride = H;
        if (step > 0) {
          s.c_prev = cells;
          s.c_prev_stride = H;
        }
        if constexpr (ReturnSequences) {
          // Every state goes straight to the output, at the entry it was computed on.
          s.h = outputs + t * H;
          s.h_stride = T * H;
          if (step > 0) {
            s.h_prev = outputs + entry_at_step(step - 1) * H;
            s.h_prev_stride = T * H;
          }
        } else {
          // The states alternate between two buffers; the last one goes to the output.
          s.h = step + 1 == T ? outputs : alternating_hidden[step % 2];
          s.h_stride = H;
          if (step > 0) {
            s.h_prev = alternating_hidden[(step - 1) % 2];
            s.h_prev_stride = H;
          }
        }
        kernels::lstm_step<Gate>(s, count);
      }
    }
  }

  void forward(TrainingContext&, float* params, ConstBatch<input_shape> x, Batch<output_shape> y) {
    const std::size_t count = x.count;
    ensure_size(gates_, count * T * G);
    ensure_size(hidden_, count * T * H);
    ensure_size(cells_, count * T * H);
    ensure_size(tanh_cells_, count * T * H);
    float* packed = ensure_size(packed_weights_, inference_parameter_count);
    pack_for_inference(params, packed);
    // Entry-major caches: sample b's values at entry t are row t * count + b of each cache, so that
    // one step reads and writes contiguous rows (the step's states, gates and, in backward, their
    // gradients form dense count x H / count x 4H matrices).
    for (std::size_t step = 0; step < T; ++step) {
      const std::size_t t = entry_at_step(step);
      kernels::LSTMStep s{.F = F, .H = H, .weights = packed, .x = x.data + t * F, .x_stride = T * F};
      s.h = hidden_.data() + t * count * H;
      s.h_stride = H;
      s.c = cells_.data() + t * count * H;
      s.c_stride = H;
      s.gates = gates_.data() + t * count * G;
      s.gates_stride = G;
      s.tanh_c = tanh_cells_.data() + t * count * H;
      s.tanh_c_stride = H;
      if (step > 0) {
        const std::size_t t_prev = entry_at_step(step - 1);
        s.h_prev = hidden_.data() + t_prev * count * H;
        s.h_prev_stride = H;
        s.c_prev = cells_.data() + t_prev * count * H;
        s.c_prev_stride = H;
      }
      kernels::lstm_step<Gate>(s, count);
    }
    if constexpr (ReturnSequences) {
      for (std::size_t b = 0; b < count; ++b)
        for (std::size_t t = 0; t < T; ++t)
          std::memcpy(y.data + (b * T + t) * H, hidden_.data() + (t * count + b) * H, H * sizeof(float));
    } else {
      constexpr std::size_t last = entry_at_step(T - 1);
      std::memcpy(y.data, hidden_.data() + last * count * H, count * H * sizeof(float));
    }
    cached_count_ = count;
    has_cache_ = true;
  }

  void backward(const float* params, float* grads, ConstBatch<input_shape> x, ConstBatch<output_shape>,
                ConstBatch<output_shape> dy, Batch<input_shape> dx) {
    const std::size_t count = x.count;
    if (!has_cache_ || cached_count_ != count)
      throw Error("deepjet::LSTMLayer::backward needs a forward pass on the same batch before it, and "
                  "allows one backward per forward (it turns its cached gates into gradients)");
    has_cache_ = false;
    ensure_size(dh_, count * H);
    ensure_size(dc_, count * H);
    std::fill(dc_.begin(), dc_.begin() + static_cast<std::ptrdiff_t>(count * H), 0.0f);
    // U^T (4H x H), so that dh_prev = dz U^T runs as a register-blocked gemm_nn.
    const float* recurrent_kernel = params + recurrent_kernel_offset;
    float* recurrent_kernel_transposed = ensure_size(recurrent_kernel_transposed_, G * H);
    for (std::size_t r = 0; r < H; ++r)
      for (std::size_t k = 0; k < G; ++k) recurrent_kernel_transposed[k * H + r] = recurrent_kernel[r * G + k];
    float* gates = gates_.data();

    // dh for the last step read: the output gradient (the recurrent part is zero there).
    if constexpr (!ReturnSequences) std::memcpy(dh_.data(), dy.data, count * H * sizeof(float));
    else std::fill(dh_.begin(), dh_.begin() + static_cast<std::ptrdiff_t>(count * H), 0.0f);

    for (std::size_t step = T; step-- > 0;) {
      const std::size_t t = entry_at_step(step);
      if constexpr (ReturnSequences)
        for (std::size_t b = 0; b < count; ++b) {
          const float* from = dy.data + (b * T + t) * H;
          float* to = dh_.data() + b * H;
          for (std::size_t j = 0; j < H; ++j) to[j] += from[j];
        }
      float* dz = gates + t * count * G;  // this step's gates, rows of G floats
      const float* c_prev = step > 0 ? cells_.data() + entry_at_step(step - 1) * count * H : nullptr;
      for (std::size_t b = 0; b < count; ++b)
        kernels::lstm_cell_backward<Gate>(H, dz + b * G, tanh_cells_.data() + (t * count + b) * H,
                                          c_prev ? c_prev + b * H : nullptr, dh_.data() + b * H, dc_.data() + b * H);
      // The step's gates now hold dz (count x G, contiguous). dh_prev = dz U^T (blocks of 128 rows
      // of U^T: see gemm_nn's KBlock).
      if (step > 0)
        kernels::gemm_nn<kernels::DefaultArch, 128>(count, H, G, dz, G, recurrent_kernel_transposed, H, dh_.data(), H,
                                                    false);
    }
    // All steps at once, in chunks of rows (t, b) of one entry that stay in cache while the four
    // products read them: [dW; dU] += [X, H_prev]^T dZ (kernel and recurrent_kernel are adjacent
    // in the parameters, so one product with F + H columns of A gives both; H_prev is the state
    // before entry t was read, zero for the first entry read), db += column sums of dZ,
    // dX = dZ W^T.
    constexpr std::size_t rows_per_chunk = 256;
    float* inputs_and_states = ensure_size(inputs_and_states_, rows_per_chunk * (F + H));
    for (std::size_t t = 0; t < T; ++t) {
      const std::size_t step = step_of_entry(t);
      const float* h_prev = step > 0 ? hidden_.data() + entry_at_step(step - 1) * count * H : nullptr;
      for (std::size_t first = 0; first < count; first += rows_per_chunk) {
        const std::size_t rows = std::min(rows_per_chunk, count - first);
        for (std::size_t r = 0; r < rows; ++r) {
          const std::size_t b = first + r;
          float* to = inputs_and_states + r * (F + H);
          std::memcpy(to, x.data + (b * T + t) * F, F * sizeof(float));
          if (h_prev) std::memcpy(to + F, h_prev + b * H, H * sizeof(float));
          else std::fill(to + F, to + F + H, 0.0f);
        }
        const float* dz = gates + (t * count + first) * G;
        kernels::gemm_tn(F + H, G, rows, inputs_and_states, F + H, dz, G, grads + kernel_offset, G, true);
        kernels::column_sums(rows, G, dz, G, grads + bias_offset, true);
        if (dx.data)
          kernels::gemm_nt(rows, F, G, dz, G, params + kernel_offset, G, dx.data + (first * T + t) * F, T * F, false);
      }
    }
  }

 private:
  // The per-step caches are entry-major: row t * batch + b holds sample b at entry t.
  AlignedFloats gates_;       ///< T x batch x 4H: gate activations, then (in backward) their gradients
  AlignedFloats hidden_;      ///< T x batch x H: h after each entry
  AlignedFloats cells_;       ///< T x batch x H: c after each entry
  AlignedFloats tanh_cells_;  ///< T x batch x H: tanh(c)
  AlignedFloats recurrent_kernel_transposed_;  ///< 4H x H
  AlignedFloats packed_weights_;  ///< the parameters packed for the fused step (pack_for_inference)
  AlignedFloats inputs_and_states_;  ///< 256 x (F + H): [x_t, h_prev] rows for the weight gradients
  AlignedFloats dh_;          ///< batch x H
  AlignedFloats dc_;          ///< batch x H
  std::size_t cached_count_ = 0;  ///< samples of the last forward pass
  bool has_cache_ = false;        ///< false before a forward and after the backward that used it
};

namespace detail {
template <class Option>
inline constexpr bool is_lstm_option = std::is_same_v<Option, backwards> || std::is_same_v<Option, return_sequences> ||
                                       std::is_same_v<Option, hard_sigmoid_gates>;
// The sizes of a list shape; placeholders for anything else, so that after the static_assert in
// LSTM::binder the compiler has nothing more to complain about.
template <class In>
struct list_sizes {
  static constexpr std::size_t entries = 1, features = 1;
};
template <ListShape In>
struct list_sizes<In> {
  static constexpr std::size_t entries = In::template dim<0>, features = In::features;
};
template <class Option, class... Options>
inline constexpr std::size_t count_option = (std::size_t{0} + ... + std::size_t{std::is_same_v<Option, Options>});
}  // namespace detail

/// LSTM layer with `Units` hidden units over a list input (see the top of this file).
template <std::size_t Units, class... Options>
struct LSTM {
  static_assert(Units > 0, "deepjet::LSTM<Units>: Units must be positive");
  static_assert((detail::is_lstm_option<Options> && ...),
                "deepjet::LSTM<Units, options...>: the options are deepjet::backwards, "
                "deepjet::return_sequences and deepjet::hard_sigmoid_gates");
  static_assert(detail::count_option<backwards, Options...> <= 1 &&
                    detail::count_option<return_sequences, Options...> <= 1 &&
                    detail::count_option<hard_sigmoid_gates, Options...> <= 1,
                "deepjet::LSTM<Units, options...>: an option is given twice");
  static constexpr Direction direction =
      detail::count_option<backwards, Options...> ? Direction::backwards : Direction::forwards;
  static constexpr bool returns_sequence = detail::count_option<return_sequences, Options...> > 0;
  static constexpr GateActivation gate_activation = detail::count_option<hard_sigmoid_gates, Options...>
                                                        ? GateActivation::hard_sigmoid
                                                        : GateActivation::sigmoid;

  template <class In>
  struct binder {
    static_assert(ListShape<In>,
                  "deepjet::LSTM runs over a list input, Shape<Entries, Features> (particles x "
                  "features). Its input here is not one list: a flat block has nothing to iterate "
                  "over (use Dense instead, or give the model a list Input<N, F>), and several "
                  "blocks side by side need one LSTM per branch.");
    using type = LSTMLayer<detail::list_sizes<In>::entries, detail::list_sizes<In>::features, Units, direction,
                           returns_sequence, gate_activation>;
  };
  template <class In>
  using bind = typename binder<In>::type;
};

}  // namespace deepjet
