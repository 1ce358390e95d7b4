// deepjet/layers/lstm/lstm_kernels.hpp: the LSTM's kernels: the fused forward step, and the cell
// gradient of one sample at one step.
//
// Contract:
//   pack_lstm_weights / lstm_step: the fused recurrence step (below): all four gates of a block of
//                       units in one register tile, the cell update applied to the tile in
//                       registers (see LSTMStep for what it reads and writes).
//   lstm_cell_backward: `gates` holds the 4H gate activations of one sample at one step, in the
//                       order i (input), f (forget), g (cell candidate), o (output), each a
//                       contiguous slice of H floats, as lstm_step writes them for training; `dh`
//                       the loss gradient with respect to this step's h, `dc` the gradient with
//                       respect to this step's c that flows back from the later step. On exit
//                       `gates` holds the gradient with respect to the pre-activations z and `dc`
//                       the gradient with respect to c_prev (c_prev may be null: the zero state).
// `Gate` is the activation of i, f and o: SigmoidFunction, or HardSigmoidFunction (below).
// No allocation. SIMD through xsimd, with the activation functions of kernels/elementwise.hpp.
#pragma once

#include "deepjet/kernels/elementwise.hpp"
#include "deepjet/kernels/simd.hpp"

#include <algorithm>
#include <cstddef>

namespace deepjet::kernels {

/// Keras 2's hard_sigmoid, the default recurrent_activation of Keras 2.0-2.2 LSTMs:
/// f(x) = clip(0.2 x + 0.5, 0, 1). (Keras 3 and PyTorch's hardsigmoid use x / 6 + 0.5 instead.)
struct HardSigmoidFunction {
  static constexpr const char* name = "HardSigmoid";
  template <class V> static V value(V x) { return xsimd::min(xsimd::max(V(0.2f) * x + V(0.5f), V(0.0f)), V(1.0f)); }
  // f'(x) = 0.2 where the line is not clipped, 0 where it is (the output is exactly 0 or 1).
  template <class V> static V derivative_from_output(V y) {
    return xsimd::select((y > V(0.0f)) && (y < V(1.0f)), V(0.2f), V(0.0f));
  }
};

template <class Gate = SigmoidFunction, class Arch = DefaultArch>
inline void lstm_cell_backward(std::size_t H, float* gates, const float* tanh_c, const float* c_prev,
                               const float* dh, float* dc) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  float* gi = gates;
  float* gf = gates + H;
  float* gg = gates + 2 * H;
  float* go = gates + 3 * H;
  const V one(1.0f);
  for (std::size_t j = 0; j < H; j += W) {
    const std::size_t n = std::min(W, H - j);
    const V i = load_lanes<Arch>(gi + j, n), f = load_lanes<Arch>(gf + j, n), g = load_lanes<Arch>(gg + j, n),
            o = load_lanes<Arch>(go + j, n), t = load_lanes<Arch>(tanh_c + j, n);
    const V previous = c_prev ? load_lanes<Arch>(c_prev + j, n) : V(0.0f);
    const V dh_j = load_lanes<Arch>(dh + j, n);
    // h = o tanh(c): dL/do = dh tanh(c), and dh reaches c through tanh.
    const V dcell = load_lanes<Arch>(dc + j, n) + dh_j * o * (one - t * t);
    const V d_o = dh_j * t;
    // c = f c_prev + i g.
    store_lanes<Arch>(dc + j, dcell * f, n);
    // Through the activations, from their outputs: sigmoid' = y (1 - y), tanh' = 1 - y^2.
    store_lanes<Arch>(gi + j, dcell * g * Gate::derivative_from_output(i), n);
    store_lanes<Arch>(gf + j, dcell * previous * Gate::derivative_from_output(f), n);
    store_lanes<Arch>(gg + j, dcell * i * (one - g * g), n);
    store_lanes<Arch>(go + j, d_o * Gate::derivative_from_output(o), n);
  }
}

// ---- the fused step ---------------------------------------------------------------------
//
// Layout of the packed weights ("gate-interleaved"): the H units are cut into blocks of one SIMD
// register (W units; the last block is padded with zero weights). Each block has its own
// contiguous panel of F + H + 1 rows of 4W floats: the columns of its four gates i | f | g | o side
// by side, for the F rows of the input kernel, the H rows of the recurrent kernel, then the bias.
// A tile of MR samples x one block then holds z_i, z_f, z_g, z_o of W units in 4 x MR registers,
// and the whole cell update happens there: the gate pre-activations never go through memory.
// Each tile streams one contiguous panel, which the hardware prefetcher follows (one jet's step
// reads all the weights once: at batch 1 the step is bound by the cache bandwidth).
// Padded units stay exactly zero (their z is 0, so c = 0.5 c_prev + 0.5 * 0 stays 0, h = 0) and
// are never stored.

/// Sizes of the packed weights of an LSTM with F inputs and H units for instruction set Arch.
template <class Arch>
struct LSTMStepWeights {
  static constexpr std::size_t block_units = lanes<Arch>;
  static constexpr std::size_t blocks(std::size_t H) { return (H + block_units - 1) / block_units; }
  /// Floats in one row of a block's panel (four gates).
  static constexpr std::size_t row = 4 * block_units;
  /// Floats in one block's panel: F + H weight rows and the bias row.
  static constexpr std::size_t panel(std::size_t F, std::size_t H) { return (F + H + 1) * row; }
  /// Floats of the packed weights.
  static constexpr std::size_t size(std::size_t F, std::size_t H) { return blocks(H) * panel(F, H); }
};

/// Writes kernel (F x 4H), recurrent_kernel (H x 4H) and bias (4H), gates in the order i, f, g, o
/// (Keras's layout), into the packed layout above (LSTMStepWeights<Arch>::size(F, H) floats).
template <class Arch = DefaultArch>
inline void pack_lstm_weights(std::size_t F, std::size_t H, const float* kernel, const float* recurrent_kernel,
                              const float* bias, float* packed) {
  using Sizes = LSTMStepWeights<Arch>;
  constexpr std::size_t W = Sizes::block_units;
  const std::size_t panel = Sizes::panel(F, H);
  std::fill(packed, packed + Sizes::size(F, H), 0.0f);
  // Row k of Keras's layout (4H floats, gate-major) into row k of every block's panel.
  auto pack_row = [&](const float* from, std::size_t k) {
    for (std::size_t gate = 0; gate < 4; ++gate)
      for (std::size_t unit = 0; unit < H; ++unit)
        packed[(unit / W) * panel + k * Sizes::row + gate * W + unit % W] = from[gate * H + unit];
  };
  for (std::size_t k = 0; k < F; ++k) pack_row(kernel + k * 4 * H, k);
  for (std::size_t k = 0; k < H; ++k) pack_row(recurrent_kernel + k * 4 * H, F + k);
  pack_row(bias, F + H);
}

/// One step of the recurrence for `rows` samples. Sample r reads its input at x + r * x_stride
/// (F floats), its previous state at h_prev + r * h_prev_stride and c_prev + r * c_prev_stride
/// (H floats each; null pointers mean the zero state of the first step) and writes its new
/// state to h + r * h_stride and c + r * c_stride. c may equal c_prev (updated in place); h must
/// not overlap h_prev (the other blocks of the step still read it). Training also asks for
/// `gates` (the activations i, f, g, o in Keras's layout, 4H floats per sample) and `tanh_c`;
/// inference leaves them null.
struct LSTMStep {
  std::size_t F = 0, H = 0;
  const float* weights = nullptr;  ///< packed by pack_lstm_weights
  const float* x = nullptr;
  std::size_t x_stride = 0;
  const float* h_prev = nullptr;
  std::size_t h_prev_stride = 0;
  const float* c_prev = nullptr;
  std::size_t c_prev_stride = 0;
  float* h = nullptr;
  std::size_t h_stride = 0;
  float* c = nullptr;
  std::size_t c_stride = 0;
  float* gates = nullptr;
  std::size_t gates_stride = 0;
  float* tanh_c = nullptr;
  std::size_t tanh_c_stride = 0;
};

namespace detail {

// Rows [r0, r0 + MR) and unit blocks [b0, b0 + UB) of one step.
template <class Gate, class Arch, std::size_t MR, std::size_t UB>
DEEPJET_ALWAYS_INLINE void lstm_step_tile(const LSTMStep& s, std::size_t r0, std::size_t b0) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  constexpr std::size_t NV = 4 * UB;
  constexpr std::size_t row = LSTMStepWeights<Arch>::row;
  const std::size_t panel = LSTMStepWeights<Arch>::panel(s.F, s.H);
  // Register j of a tile row: gate j % 4 of block b0 + j / 4.
  const float* weights = s.weights + b0 * panel;
  V acc[MR][NV];
  {
    const float* bias = weights + (s.F + s.H) * row;
#pragma GCC unroll 8
    for (std::size_t j = 0; j < NV; ++j) {
      const V b = V::load_unaligned(bias + (j / 4) * panel + (j % 4) * W);
#pragma GCC unroll 8
      for (std::size_t i = 0; i < MR; ++i) acc[i][j] = b;
    }
  }
  // z += [x, h_prev] [kernel; recurrent_kernel]: the two parts of one product.
  auto multiply = [&](std::size_t K, const float* a, std::size_t a_stride, const float* w) {
    for (std::size_t k = 0; k < K; ++k) {
      V wk[NV];
#pragma GCC unroll 8
      for (std::size_t j = 0; j < NV; ++j) wk[j] = V::load_unaligned(w + (j / 4) * panel + k * row + (j % 4) * W);
#pragma GCC unroll 8
      for (std::size_t i = 0; i < MR; ++i) {
        const V aik(a[i * a_stride + k]);
#pragma GCC unroll 8
        for (std::size_t j = 0; j < NV; ++j) acc[i][j] = xsimd::fma(aik, wk[j], acc[i][j]);
      }
    }
  };
  multiply(s.F, s.x + r0 * s.x_stride, s.x_stride, weights);
  if (s.h_prev) multiply(s.H, s.h_prev + r0 * s.h_prev_stride, s.h_prev_stride, weights + s.F * row);

  // The cell update of each (sample, block) in registers; only the block's real units are stored.
#pragma GCC unroll 8
  for (std::size_t u = 0; u < UB; ++u) {
    const std::size_t unit = (b0 + u) * W;
    const std::size_t n = std::min(W, s.H - unit);
#pragma GCC unroll 8
    for (std::size_t i = 0; i < MR; ++i) {
      const std::size_t r = r0 + i;
      const V in = Gate::value(acc[i][4 * u]);
      const V forget = Gate::value(acc[i][4 * u + 1]);
      const V candidate = TanhFunction::value(acc[i][4 * u + 2]);
      const V out = Gate::value(acc[i][4 * u + 3]);
      const V previous = s.c_prev ? load_lanes<Arch>(s.c_prev + r * s.c_prev_stride + unit, n) : V(0.0f);
      const V cell = xsimd::fma(forget, previous, in * candidate);
      const V tanh_cell = TanhFunction::value(cell);
      store_lanes<Arch>(s.c + r * s.c_stride + unit, cell, n);
      store_lanes<Arch>(s.h + r * s.h_stride + unit, out * tanh_cell, n);
      if (s.gates) {
        float* g = s.gates + r * s.gates_stride + unit;
        store_lanes<Arch>(g, in, n);
        store_lanes<Arch>(g + s.H, forget, n);
        store_lanes<Arch>(g + 2 * s.H, candidate, n);
        store_lanes<Arch>(g + 3 * s.H, out, n);
      }
      if (s.tanh_c) store_lanes<Arch>(s.tanh_c + r * s.tanh_c_stride + unit, tanh_cell, n);
    }
  }
}

}  // namespace detail

/// Rows of the register tile of the batched step (AVX-512: 6 samples x 4 registers = 24
/// accumulators of its 32 registers; AVX2: 2 x 4 = 8 of 16).
template <class Arch>
inline constexpr std::size_t lstm_step_rows = is_avx512<Arch> ? 6 : 2;

/// Runs the step described by `s` for `rows` samples (see LSTMStep).
template <class Gate = SigmoidFunction, class Arch = DefaultArch>
inline void lstm_step(const LSTMStep& s, std::size_t rows) {
  constexpr std::size_t MR = lstm_step_rows<Arch>;
  const std::size_t blocks = LSTMStepWeights<Arch>::blocks(s.H);
  if (rows < MR) {
    // Few samples (one jet in production): two blocks per tile, so that eight independent FMA
    // chains hide the FMA latency.
    for (std::size_t r = 0; r < rows; ++r) {
      std::size_t b = 0;
      for (; b + 2 <= blocks; b += 2) detail::lstm_step_tile<Gate, Arch, 1, 2>(s, r, b);
      if (b < blocks) detail::lstm_step_tile<Gate, Arch, 1, 1>(s, r, b);
    }
    return;
  }
  // Chunks of samples whose inputs and states stay in the first-level cache; within a chunk,
  // block-major, so that each block's weight panel streams through once per chunk.
  constexpr std::size_t chunk = 8 * MR;
  for (std::size_t first = 0; first < rows; first += chunk) {
    const std::size_t end = std::min(rows, first + chunk);
    for (std::size_t b = 0; b < blocks; ++b) {
      std::size_t r = first;
      for (; r + MR <= end; r += MR) detail::lstm_step_tile<Gate, Arch, MR, 1>(s, r, b);
      for (; r < end; ++r) detail::lstm_step_tile<Gate, Arch, 1, 1>(s, r, b);
    }
  }
}

}  // namespace deepjet::kernels
