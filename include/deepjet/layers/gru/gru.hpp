// deepjet/layers/gru/gru.hpp: the gated recurrent unit layer over a list of entries.
//
// Spec: GRU<Units, options...> for a list input Shape<T, F> (T entries of F features); gives
// GRULayer<T, F, Units, reset, direction, returns, gates>. Options, in any order, at most once each:
//   deepjet::reset_after         \  exactly one of the two is required (the conventions of the
//   deepjet::reset_before        /  libraries differ and a wrong one gives wrong outputs; below)
//   deepjet::backwards           read the entries from the last to the first (Keras's go_backwards)
//   deepjet::return_sequences    output every step's state, Shape<T, Units>, in the input's order
//   deepjet::hard_sigmoid_gates  gates z and r use Keras 2's hard_sigmoid, clip(0.2 x + 0.5, 0, 1)
// (backwards, return_sequences and hard_sigmoid_gates are the LSTM's option tags, defined in
// layers/lstm/lstm.hpp, and mean the same thing there; see that file on the output order.)
// Example: GRU<50, deepjet::reset_after, deepjet::backwards> on Shape<60, 16> gives Shape<50>.
//
// Recurrence, for each step s = 0 .. T-1 over entry t(s) = s (forwards) or T-1-s (backwards),
// with h zero before the first step (x_t is 1 x F; W_k, U_k, b_k the column blocks below):
//   z = σ(x_t W_z + h U_z + b_z),   r = σ(x_t W_r + h U_r + b_r)      σ: sigmoid or hard_sigmoid
//   reset_after:  n = tanh(x_t W_h + b_h + r ⊙ (h U_h + b_rh))
//                 (Keras reset_after=True, the default since Keras 2.3 / TF 2; PyTorch nn.GRU;
//                 ONNX GRU with linear_before_reset=1)
//   reset_before: n = tanh(x_t W_h + (r ⊙ h) U_h + b_h)
//                 (Keras reset_after=False, the default up to Keras 2.2; ONNX linear_before_reset=0,
//                 ONNX's default)
//   h' = z ⊙ h + (1 - z) ⊙ n
//
// Parameters (one flat block, in this order), Keras's layout, gate order z, r, h:
//   "kernel"            (F, 3H)  W: column blocks z | r | h, each of width H
//   "recurrent_kernel"  (H, 3H)  U: same blocks
//   "bias"              (3H)     the input bias b (for reset_before the only bias)
//   "recurrent_bias"    (3H)     b_r, only with reset_after (b_rz, b_rr simply add to b_z, b_r)
// From Keras: kernel and recurrent_kernel copy unchanged; reset_after stores bias as (2, 3H),
//   row 0 = "bias", row 1 = "recurrent_bias", which is these two tensors end to end;
//   reset_before stores bias as (3H) = "bias".
// From PyTorch nn.GRU (reset_after; gate order r, z, n!): with blocks k = r, z, n of H rows,
//   kernel[:, z | r | h] = (weight_ih_l0[z rows] | weight_ih_l0[r rows] | weight_ih_l0[n rows])^T
//   (weight_ih_l0 is (3H, F)), recurrent_kernel likewise from weight_hh_l0 (3H, H),
//   bias from bias_ih_l0 and recurrent_bias from bias_hh_l0, same reordering.
//   GRULayer::parameters_from_pytorch does exactly this.
// From ONNX GRU (one direction; gate order z, r, h as ours): W is [1, 3H, F], R [1, 3H, H],
//   B [1, 6H] = Wb (3H) then Rb (3H): kernel = W[0]^T, recurrent_kernel = R[0]^T;
//   linear_before_reset=1: bias = Wb, recurrent_bias = Rb;
//   linear_before_reset=0: bias = Wb + Rb (Rb_h is added outside the reset product there).
//   direction="reverse" is deepjet::backwards; ONNX's Y holds the states in the input's order,
//   as deepjet's sequence output. The activations must be ONNX's defaults (Sigmoid, Tanh), or
//   HardSigmoid with alpha 0.2, beta 0.5 for hard_sigmoid_gates.
// Initialisation as Keras: kernel glorot_uniform, recurrent_kernel orthogonal, biases zeros.
// Trainable parameters: 3 (F H + H H + H), plus 3H with reset_after (as Keras; PyTorch the same).
//
// Cost: multiply-adds per sample 3H (F + H) T. The input projection of all entries of all samples
// is one matrix product (x W + b over batch * T rows); then per step one product of the states
// with the recurrent kernel (reset_after: h U, 3H columns; reset_before: h U_zr, then (r ⊙ h) U_h)
// and a vectorised element-wise kernel (gru_kernels.hpp). Inference reads the parameters as they
// are (no packing); a BatchNorm before the GRU is folded into its kernel and bias
// (fold_input_scale_shift), since the input enters only through x W + b. Backward through time:
// per step the element-wise gradient and one or two products with U^T for dh_prev (reset_before
// one more, for d(r ⊙ h)); then for all steps at once, in chunks of 128 rows (b, t), the
// products for dW, dU, dX and the bias sums: about twice the forward.
//
// Training memory (grown to the largest batch, then reused): batch*T*5H floats (the gates z, r, n,
// the states, and per step the recurrent candidate h U_h + b_rh (reset_after) or r ⊙ h
// (reset_before)), plus batch*5H, U^T (3H*H) and 128 H floats. The backward pass turns the cached
// gates into their gradients in place, so each forward allows one backward; a second throws.
// Inference scratch: min(batch, 32) * (T*3H + 6H) floats (the input projection of a block of 32
// samples, small enough to stay in the second-level cache for lists of 60 entries of 50 units;
// the step's recurrent projection, two states to alternate, r ⊙ h).
#pragma once

#include "deepjet/core/aligned.hpp"
#include "deepjet/core/error.hpp"
#include "deepjet/kernels/gemm.hpp"
#include "deepjet/layers/gru/gru_kernels.hpp"
#include "deepjet/layers/layer.hpp"
#include "deepjet/layers/lstm/lstm.hpp"  // the recurrent option tags, Direction, GateActivation

#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>

namespace deepjet {

/// Where a GRU's reset gate acts on the candidate (see the top of this file).
enum class GRUReset {
  after,   ///< n = tanh(x W_h + b_h + r ⊙ (h U_h + b_rh))   Keras reset_after=True, PyTorch
  before,  ///< n = tanh(x W_h + (r ⊙ h) U_h + b_h)          Keras reset_after=False (Keras <= 2.2)
};

/// GRU option: the reset gate multiplies the recurrent product (Keras reset_after=True, PyTorch).
struct reset_after {};
/// GRU option: the reset gate multiplies the state before the product (Keras reset_after=False).
struct reset_before {};

template <std::size_t T, std::size_t F, std::size_t H, GRUReset reset, Direction direction = Direction::forwards,
          bool ReturnSequences = false, GateActivation gate_activation = GateActivation::sigmoid>
struct GRULayer : LeafLayer<GRULayer<T, F, H, reset, direction, ReturnSequences, gate_activation>> {
  static_assert(T > 0 && F > 0 && H > 0, "deepjet::GRULayer: all sizes must be positive");
  using Gate = std::conditional_t<gate_activation == GateActivation::sigmoid, kernels::SigmoidFunction,
                                  kernels::HardSigmoidFunction>;

  using input_shape = Shape<T, F>;
  using output_shape = std::conditional_t<ReturnSequences, Shape<T, H>, Shape<H>>;
  static constexpr std::string_view kind = "GRU";
  static constexpr bool has_recurrent_bias = reset == GRUReset::after;
  static constexpr std::size_t G = 3 * H;  ///< width of the gate pre-activations
  static constexpr std::size_t kernel_offset = 0;
  static constexpr std::size_t recurrent_kernel_offset = F * G;
  static constexpr std::size_t bias_offset = F * G + H * G;
  static constexpr std::size_t recurrent_bias_offset = bias_offset + G;  ///< only with reset_after
  static constexpr std::size_t parameter_count = F * G + H * G + G + (has_recurrent_bias ? G : 0);
  static constexpr auto parameters = [] {
    constexpr ParameterSpec kernel{"kernel", {F, G}, 2, Initialiser::glorot_uniform, F, G};
    constexpr ParameterSpec recurrent_kernel{"recurrent_kernel", {H, G}, 2, Initialiser::orthogonal, H, G};
    constexpr ParameterSpec bias{"bias", {G}, 1, Initialiser::zeros, F, G};
    constexpr ParameterSpec recurrent_bias{"recurrent_bias", {G}, 1, Initialiser::zeros, H, G};
    if constexpr (has_recurrent_bias) return std::array<ParameterSpec, 4>{kernel, recurrent_kernel, bias, recurrent_bias};
    else return std::array<ParameterSpec, 3>{kernel, recurrent_kernel, bias};
  }();
  /// Samples per block in `infer`, which bounds its scratch memory.
  static constexpr std::size_t inference_block = 32;

  static std::string options() {
    return std::string(direction == Direction::forwards ? "forwards" : "backwards") +
           (ReturnSequences ? ", sequence" : ", last state") +
           (reset == GRUReset::after ? ", reset_after" : ", reset_before") +
           (gate_activation == GateActivation::hard_sigmoid ? ", hard_sigmoid gates" : "");
  }

  /// Writes this layer's parameters (`params`, parameter_count floats) from the tensors of one
  /// PyTorch nn.GRU layer as PyTorch stores them: weight_ih (3H x F), weight_hh (3H x H), bias_ih,
  /// bias_hh (3H each; empty spans for bias=False), gate rows in PyTorch's order r, z, n. Only for
  /// reset_after, PyTorch's convention. Throws deepjet::Error, writing nothing, if a size does not
  /// fit this layer.
  static void parameters_from_pytorch(std::span<const float> weight_ih, std::span<const float> weight_hh,
                                      std::span<const float> bias_ih, std::span<const float> bias_hh,
                                      std::span<float> params)
    requires(reset == GRUReset::after)
  {
    auto check = [](std::size_t size, std::size_t expected, const char* name, bool optional) {
      if (size != expected && !(optional && size == 0))
        throw Error(std::string("deepjet::GRULayer::parameters_from_pytorch: ") + name + " has " +
                    std::to_string(size) + " values, this layer needs " + std::to_string(expected));
    };
    check(weight_ih.size(), G * F, "weight_ih", false);
    check(weight_hh.size(), G * H, "weight_hh", false);
    check(bias_ih.size(), G, "bias_ih", true);
    check(bias_hh.size(), G, "bias_hh", true);
    check(params.size(), parameter_count, "the parameter array", false);
    // Our gate block k (z, r, h) is PyTorch's block torch_block[k] (its order is r, z, n).
    constexpr std::size_t torch_block[3] = {1, 0, 2};
    for (std::size_t gate = 0; gate < 3; ++gate)
      for (std::size_t unit = 0; unit < H; ++unit) {
        const std::size_t column = gate * H + unit, torch_row = torch_block[gate] * H + unit;
        for (std::size_t f = 0; f < F; ++f) params[kernel_offset + f * G + column] = weight_ih[torch_row * F + f];
        for (std::size_t k = 0; k < H; ++k)
          params[recurrent_kernel_offset + k * G + column] = weight_hh[torch_row * H + k];
        params[bias_offset + column] = bias_ih.empty() ? 0.0f : bias_ih[torch_row];
        params[recurrent_bias_offset + column] = bias_hh.empty() ? 0.0f : bias_hh[torch_row];
      }
  }

  /// The entry read at step s.
  static constexpr std::size_t entry_at_step(std::size_t s) {
    return direction == Direction::forwards ? s : T - 1 - s;
  }
  /// The step at which entry t is read (the inverse of entry_at_step).
  static constexpr std::size_t step_of_entry(std::size_t t) { return entry_at_step(t); }

  /// Absorbs x -> scale * x + shift of the input features (a BatchNorm before this layer at
  /// inference) into kernel and bias: the input enters only through x W + b, in both conventions.
  static void fold_input_scale_shift(float* params, const float* scale, const float* shift) {
    fold_scale_shift_into_weight(F, F, G, params + kernel_offset, params + bias_offset, scale, shift);
  }

  static constexpr std::size_t scratch_size(std::size_t count) {
    return std::min(count, inference_block) * (T * G + G + 3 * H);
  }

  static void infer(const float* params, ConstBatch<input_shape> x, Batch<output_shape> y, float* scratch) {
    for (std::size_t first = 0; first < x.count; first += inference_block) {
      const std::size_t count = std::min(inference_block, x.count - first);
      float* input_projection = scratch;                         // count x T x 3H
      float* step_projection = input_projection + count * T * G;  // count x 3H
      float* alternating_hidden[2] = {step_projection + count * G, step_projection + count * G + count * H};
      float* reset_state = alternating_hidden[1] + count * H;  // count x H (reset_before)
      const float* inputs = x.data + first * input_shape::size;
      float* outputs = y.data + first * output_shape::size;
      project_inputs(params, count, inputs, input_projection);
      for (std::size_t step = 0; step < T; ++step) {
        const std::size_t t = entry_at_step(step);
        StepStates states{.h_prev = nullptr, .h_prev_stride = 0, .h = nullptr, .h_stride = 0};
        if constexpr (ReturnSequences) {
          // Every state goes straight to the output, at the entry it was computed on.
          states.h = outputs + t * H;
          states.h_stride = T * H;
          if (step > 0) {
            states.h_prev = outputs + entry_at_step(step - 1) * H;
            states.h_prev_stride = T * H;
          }
        } else {
          // The states alternate between two buffers; the last one goes to the output.
          states.h = step + 1 == T ? outputs : alternating_hidden[step % 2];
          states.h_stride = H;
          if (step > 0) {
            states.h_prev = alternating_hidden[(step - 1) % 2];
            states.h_prev_stride = H;
          }
        }
        // reset_after needs no cache at inference; reset_before needs r ⊙ h for the product.
        recurrence_step(params, count, input_projection + t * G, T * G, states,
                        reset == GRUReset::before ? reset_state : nullptr, H, step_projection);
      }
    }
  }

  void forward(TrainingContext&, float* params, ConstBatch<input_shape> x, Batch<output_shape> y) {
    const std::size_t count = x.count;
    float* gates = ensure_size(gates_, count * T * G);
    float* hidden = ensure_size(hidden_, count * T * H);
    float* recurrent_state = ensure_size(recurrent_state_, count * T * H);
    float* step_projection = ensure_size(step_projection_, count * G);
    // Sample b's values at entry t are row b * T + t of each cache; the gates start as x W + b.
    project_inputs(params, count, x.data, gates);
    for (std::size_t step = 0; step < T; ++step) {
      const std::size_t t = entry_at_step(step);
      StepStates states{.h_prev = nullptr, .h_prev_stride = 0, .h = hidden + t * H, .h_stride = T * H};
      if (step > 0) {
        states.h_prev = hidden + entry_at_step(step - 1) * H;
        states.h_prev_stride = T * H;
      }
      recurrence_step(params, count, gates + t * G, T * G, states, recurrent_state + t * H, T * H, step_projection);
    }
    if constexpr (ReturnSequences) {
      std::memcpy(y.data, hidden, count * T * H * sizeof(float));
    } else {
      constexpr std::size_t last = entry_at_step(T - 1);
      for (std::size_t b = 0; b < count; ++b) std::memcpy(y.data + b * H, hidden + (b * T + last) * H, H * sizeof(float));
    }
    cached_count_ = count;
    has_cache_ = true;
  }

  void backward(const float* params, float* grads, ConstBatch<input_shape> x, ConstBatch<output_shape>,
                ConstBatch<output_shape> dy, Batch<input_shape> dx) {
    const std::size_t count = x.count;
    if (!has_cache_ || cached_count_ != count)
      throw Error("deepjet::GRULayer::backward needs a forward pass on the same batch before it, and "
                  "allows one backward per forward (it turns its cached gates into gradients)");
    has_cache_ = false;
    float* gates = gates_.data();
    const float* hidden = hidden_.data();
    float* recurrent_state = recurrent_state_.data();
    float* dh = ensure_size(dh_, count * H);
    float* d_reset_state = ensure_size(d_reset_state_, count * H);
    // U^T (3H x H), so that dh_prev = dZ U^T runs as gemm_nn; rows [2H, 3H) are U_h^T.
    const float* recurrent_kernel = params + recurrent_kernel_offset;
    float* recurrent_kernel_transposed = ensure_size(recurrent_kernel_transposed_, G * H);
    for (std::size_t r = 0; r < H; ++r)
      for (std::size_t k = 0; k < G; ++k) recurrent_kernel_transposed[k * H + r] = recurrent_kernel[r * G + k];
    const float* candidate_kernel_transposed = recurrent_kernel_transposed + 2 * H * H;

    // dh for the last step read: the output gradient (nothing flows back from later steps).
    if constexpr (!ReturnSequences) std::memcpy(dh, dy.data, count * H * sizeof(float));
    else std::fill(dh, dh + count * H, 0.0f);

    for (std::size_t step = T; step-- > 0;) {
      const std::size_t t = entry_at_step(step);
      if constexpr (ReturnSequences)
        for (std::size_t b = 0; b < count; ++b) {
          const float* from = dy.data + (b * T + t) * H;
          float* to = dh + b * H;
          for (std::size_t j = 0; j < H; ++j) to[j] += from[j];
        }
      auto h_prev_of = [&](std::size_t b) -> const float* {
        return step > 0 ? hidden + (b * T + entry_at_step(step - 1)) * H : nullptr;
      };
      float* step_gates = gates + t * G;                // rows strided by T * G
      float* step_recurrent = recurrent_state + t * H;  // rows strided by T * H
      if constexpr (reset == GRUReset::after) {
        for (std::size_t b = 0; b < count; ++b)
          kernels::gru_backward_reset_after<Gate>(H, step_gates + b * T * G, step_recurrent + b * T * H, h_prev_of(b),
                                                  dh + b * H);
        // dh_prev += [dz_pre, dr_pre] U_zr^T + (dn_pre ⊙ r) U_h^T.
        if (step > 0) {
          kernels::gemm_nn(count, H, 2 * H, step_gates, T * G, recurrent_kernel_transposed, H, dh, H, true);
          kernels::gemm_nn(count, H, H, step_recurrent, T * H, candidate_kernel_transposed, H, dh, H, true);
        }
      } else {
        for (std::size_t b = 0; b < count; ++b)
          kernels::gru_backward_candidate<Gate>(H, step_gates + b * T * G, h_prev_of(b), dh + b * H);
        // d(r ⊙ h_prev) = dn_pre U_h^T, then dr_pre and the path of h_prev through r ⊙ h_prev.
        if (step > 0)
          kernels::gemm_nn(count, H, H, step_gates + 2 * H, T * G, candidate_kernel_transposed, H, d_reset_state, H,
                           false);
        for (std::size_t b = 0; b < count; ++b)
          kernels::gru_backward_reset_gate<Gate>(H, step_gates + b * T * G, d_reset_state + b * H, h_prev_of(b),
                                                 dh + b * H);
        // dh_prev += [dz_pre, dr_pre] U_zr^T.
        if (step > 0) kernels::gemm_nn(count, H, 2 * H, step_gates, T * G, recurrent_kernel_transposed, H, dh, H, true);
      }
    }

    // All steps at once, in chunks of rows (b, t) that stay in cache while the products read
    // them. gates now hold dZ = the gradient of x W + b (3H per row); the recurrent products'
    // gradient is dZ too in the z and r blocks, and in the h block dn_pre ⊙ r (reset_after, in
    // recurrent_state) or dn_pre against the rows r ⊙ h_prev (reset_before).
    constexpr std::size_t rows_per_chunk = 128;
    float* previous_states = ensure_size(previous_states_, rows_per_chunk * H);
    for (std::size_t first = 0; first < count * T; first += rows_per_chunk) {
      const std::size_t rows = std::min(rows_per_chunk, count * T - first);
      for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t b = (first + r) / T, t = (first + r) % T;
        float* to = previous_states + r * H;
        const std::size_t step = step_of_entry(t);
        if (step == 0) std::fill(to, to + H, 0.0f);
        else std::memcpy(to, hidden + (b * T + entry_at_step(step - 1)) * H, H * sizeof(float));
      }
      const float* dz = gates + first * G;
      const float* chunk_recurrent = recurrent_state + first * H;
      kernels::gemm_tn(F, G, rows, x.data + first * F, F, dz, G, grads + kernel_offset, G, true);
      kernels::column_sums(rows, G, dz, G, grads + bias_offset, true);
      kernels::gemm_tn(H, 2 * H, rows, previous_states, H, dz, G, grads + recurrent_kernel_offset, G, true);
      if constexpr (reset == GRUReset::after) {
        kernels::gemm_tn(H, H, rows, previous_states, H, chunk_recurrent, H, grads + recurrent_kernel_offset + 2 * H, G,
                         true);
        kernels::column_sums(rows, 2 * H, dz, G, grads + recurrent_bias_offset, true);
        kernels::column_sums(rows, H, chunk_recurrent, H, grads + recurrent_bias_offset + 2 * H, true);
      } else {
        kernels::gemm_tn(H, H, rows, chunk_recurrent, H, dz + 2 * H, G, grads + recurrent_kernel_offset + 2 * H, G,
                         true);
      }
      if (dx.data) kernels::gemm_nt(rows, F, G, dz, G, params + kernel_offset, G, dx.data + first * F, F, false);
    }
  }

 private:
  /// The states one step reads and writes: sample b's h_prev at h_prev + b * h_prev_stride (null:
  /// the zero state of the first step), its new h at h + b * h_stride.
  struct StepStates {
    const float* h_prev;
    std::size_t h_prev_stride;
    float* h;
    std::size_t h_stride;
  };

  /// projection (count * T rows of 3H) = x W + b for every entry of every sample: one product.
  static void project_inputs(const float* params, std::size_t count, const float* x, float* projection) {
    kernels::gemm_nn(count * T, G, F, x, F, params + kernel_offset, G, projection, G, false);
    kernels::add_row(count * T, G, params + bias_offset, projection, G);
  }

  /// One step for `count` samples. `gates` (rows strided by gates_stride) hold the input
  /// projection of this step's entry and receive z, r, n. `recurrent_state` (rows strided by
  /// recurrent_state_stride): reset_after, h U_h + b_rh if not null (training keeps it for dr);
  /// reset_before, r ⊙ h_prev (required: the product reads it). `step_projection`: count x 3H.
  static void recurrence_step(const float* params, std::size_t count, float* gates, std::size_t gates_stride,
                              const StepStates& s, float* recurrent_state, std::size_t recurrent_state_stride,
                              float* step_projection) {
    const float* recurrent_kernel = params + recurrent_kernel_offset;
    auto h_prev_of = [&](std::size_t b) { return s.h_prev ? s.h_prev + b * s.h_prev_stride : nullptr; };
    if constexpr (reset == GRUReset::after) {
      // h U (the kernel adds b_r); before the first step h = 0, and there is no product.
      if (s.h_prev)
        kernels::gemm_nn(count, G, H, s.h_prev, s.h_prev_stride, recurrent_kernel, G, step_projection, G, false);
      for (std::size_t b = 0; b < count; ++b)
        kernels::gru_step_reset_after<Gate>(H, gates + b * gates_stride, s.h_prev ? step_projection + b * G : nullptr,
                                            params + recurrent_bias_offset, h_prev_of(b), s.h + b * s.h_stride,
                                            recurrent_state ? recurrent_state + b * recurrent_state_stride : nullptr);
    } else {
      // z and r from h U_zr (the first 2H columns of U), then n from (r ⊙ h) U_h.
      if (s.h_prev)
        kernels::gemm_nn(count, 2 * H, H, s.h_prev, s.h_prev_stride, recurrent_kernel, G, step_projection, G, false);
      for (std::size_t b = 0; b < count; ++b)
        kernels::gru_update_and_reset_gates<Gate>(H, gates + b * gates_stride,
                                                  s.h_prev ? step_projection + b * G : nullptr, h_prev_of(b),
                                                  recurrent_state + b * recurrent_state_stride);
      if (s.h_prev)
        kernels::gemm_nn(count, H, H, recurrent_state, recurrent_state_stride, recurrent_kernel + 2 * H, G,
                         step_projection + 2 * H, G, false);
      for (std::size_t b = 0; b < count; ++b)
        kernels::gru_candidate_and_state(H, gates + b * gates_stride,
                                         s.h_prev ? step_projection + b * G + 2 * H : nullptr, h_prev_of(b),
                                         s.h + b * s.h_stride);
    }
  }

  AlignedFloats gates_;            ///< batch x T x 3H: x W + b, then z, r, n, then (in backward) dZ
  AlignedFloats hidden_;           ///< batch x T x H: h after each entry
  AlignedFloats recurrent_state_;  ///< batch x T x H: h U_h + b_rh, then dn_pre ⊙ r (reset_after); r ⊙ h (reset_before)
  AlignedFloats step_projection_;  ///< batch x 3H: the recurrent product of one step
  AlignedFloats recurrent_kernel_transposed_;  ///< 3H x H
  AlignedFloats previous_states_;  ///< rows_per_chunk x H: h_prev rows for the weight gradients
  AlignedFloats dh_;               ///< batch x H
  AlignedFloats d_reset_state_;    ///< batch x H: d(r ⊙ h_prev) of one step (reset_before)
  std::size_t cached_count_ = 0;   ///< samples of the last forward pass
  bool has_cache_ = false;         ///< false before a forward and after the backward that used it
};

namespace detail {
template <class Option>
inline constexpr bool is_gru_option =
    std::is_same_v<Option, reset_after> || std::is_same_v<Option, reset_before> || std::is_same_v<Option, backwards> ||
    std::is_same_v<Option, return_sequences> || std::is_same_v<Option, hard_sigmoid_gates>;
}  // namespace detail

/// GRU layer with `Units` hidden units over a list input (see the top of this file).
template <std::size_t Units, class... Options>
struct GRU {
  static_assert(Units > 0, "deepjet::GRU<Units>: Units must be positive");
  static_assert((detail::is_gru_option<Options> && ...),
                "deepjet::GRU<Units, options...>: the options are deepjet::reset_after or deepjet::reset_before "
                "(one of them is required), deepjet::backwards, deepjet::return_sequences and "
                "deepjet::hard_sigmoid_gates");
  static_assert(detail::count_option<reset_after, Options...> + detail::count_option<reset_before, Options...> == 1,
                "deepjet::GRU<Units, options...>: give exactly one of deepjet::reset_after (Keras "
                "reset_after=True, the default since Keras 2.3; PyTorch nn.GRU; ONNX linear_before_reset=1) and "
                "deepjet::reset_before (Keras reset_after=False, the default up to Keras 2.2; ONNX "
                "linear_before_reset=0). The two compute different candidates from the same weights.");
  static_assert(detail::count_option<backwards, Options...> <= 1 &&
                    detail::count_option<return_sequences, Options...> <= 1 &&
                    detail::count_option<hard_sigmoid_gates, Options...> <= 1,
                "deepjet::GRU<Units, options...>: an option is given twice");
  static constexpr GRUReset reset =
      detail::count_option<reset_after, Options...> ? GRUReset::after : GRUReset::before;
  static constexpr Direction direction =
      detail::count_option<backwards, Options...> ? Direction::backwards : Direction::forwards;
  static constexpr bool returns_sequence = detail::count_option<return_sequences, Options...> > 0;
  static constexpr GateActivation gate_activation = detail::count_option<hard_sigmoid_gates, Options...>
                                                        ? GateActivation::hard_sigmoid
                                                        : GateActivation::sigmoid;

  template <class In>
  struct binder {
    static_assert(ListShape<In>,
                  "deepjet::GRU runs over a list input, Shape<Entries, Features> (particles x "
                  "features). Its input here is not one list: a flat block has nothing to iterate "
                  "over (use Dense instead, or give the model a list Input<N, F>), and several "
                  "blocks side by side need one GRU per branch.");
    using type = GRULayer<detail::list_sizes<In>::entries, detail::list_sizes<In>::features, Units, reset, direction,
                          returns_sequence, gate_activation>;
  };
  template <class In>
  using bind = typename binder<In>::type;
};

}  // namespace deepjet
