// deepjet/layers/lstm/lstm_kernels.hpp: one LSTM cell update for one sample, forward and backward.
//
// Contract: `gates` holds the 4H gate values of one sample at one step, in the order
// i (input), f (forget), g (cell candidate), o (output), each a contiguous slice of H floats.
// `Gate` is the activation of i, f and o: SigmoidFunction, or HardSigmoidFunction (below).
//   lstm_cell_forward:  on entry the pre-activations z = x W + h_prev U + b; on exit the
//                       activations i = Gate(z_i), f = Gate(z_f), g = tanh(z_g),
//                       o = Gate(z_o). Writes c = f * c_prev + i * g, h = o * tanh(c), and
//                       tanh(c) if `tanh_c` is non-null. c_prev may be null (zero state) and may
//                       equal c (the cell updated in place); h may equal any h the caller read
//                       before the call.
//   lstm_cell_backward: on entry the activations written by lstm_cell_forward and, in `dh`, the
//                       loss gradient with respect to this step's h, in `dc` the gradient with
//                       respect to this step's c that flows back from the later step; on exit
//                       `gates` holds the gradient with respect to the pre-activations z and `dc`
//                       the gradient with respect to c_prev.
// No allocation. SIMD through xsimd, with the activation functions of kernels/elementwise.hpp.
#pragma once

#include "deepjet/kernels/elementwise.hpp"

#include <cstddef>

namespace deepjet::kernels {

/// Keras 2's hard_sigmoid, the default recurrent_activation of Keras 2.0-2.2 LSTMs:
/// f(x) = clip(0.2 x + 0.5, 0, 1). (Keras 3 and PyTorch's hardsigmoid use x / 6 + 0.5 instead.)
struct HardSigmoidFunction {
  static constexpr const char* name = "HardSigmoid";
  template <class V> static V value(V x) { return xsimd::min(xsimd::max(V(0.2f) * x + V(0.5f), V(0.0f)), V(1.0f)); }
  // f'(x) = 0.2 where the line is not clipped, 0 where it is (the output is exactly 0 or 1);
  // scalar only, as the LSTM backward kernel that uses it.
  static float derivative_from_output(float y) { return (y > 0.0f && y < 1.0f) ? 0.2f : 0.0f; }
};

template <class Gate = SigmoidFunction, class Arch = DefaultArch>
inline void lstm_cell_forward(std::size_t H, float* gates, const float* c_prev, float* c, float* tanh_c, float* h) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  float* zi = gates;
  float* zf = gates + H;
  float* zg = gates + 2 * H;
  float* zo = gates + 3 * H;
  // The update of W consecutive units; `load`/`store` address either the arrays or padded copies.
  auto block = [&](std::size_t j, auto load, auto store) {
    const V i = Gate::value(load(zi, j));
    const V f = Gate::value(load(zf, j));
    const V g = TanhFunction::value(load(zg, j));
    const V o = Gate::value(load(zo, j));
    const V previous = c_prev ? load(c_prev, j) : V(0.0f);
    const V cell = xsimd::fma(f, previous, i * g);
    const V tanh_cell = TanhFunction::value(cell);
    store(zi, j, i);
    store(zf, j, f);
    store(zg, j, g);
    store(zo, j, o);
    store(c, j, cell);
    if (tanh_c) store(tanh_c, j, tanh_cell);
    store(h, j, o * tanh_cell);
  };
  std::size_t j = 0;
  for (; j + W <= H; j += W)
    block(j, [](const float* p, std::size_t k) { return V::load_unaligned(p + k); },
          [](float* p, std::size_t k, V v) { v.store_unaligned(p + k); });
  if (j < H) {
    // The last H - j units: go through zero-padded registers, write back only the real lanes.
    const std::size_t n = H - j;
    auto load_partial = [n](const float* p, std::size_t k) {
      alignas(64) float lanes_in[W] = {};
      for (std::size_t l = 0; l < n; ++l) lanes_in[l] = p[k + l];
      return V::load_aligned(lanes_in);
    };
    auto store_partial = [n](float* p, std::size_t k, V v) {
      alignas(64) float lanes_out[W];
      v.store_aligned(lanes_out);
      for (std::size_t l = 0; l < n; ++l) p[k + l] = lanes_out[l];
    };
    block(j, load_partial, store_partial);
  }
}

template <class Gate = SigmoidFunction>
inline void lstm_cell_backward(std::size_t H, float* gates, const float* tanh_c, const float* c_prev,
                               const float* dh, float* dc) {
  float* __restrict gi = gates;
  float* __restrict gf = gates + H;
  float* __restrict gg = gates + 2 * H;
  float* __restrict go = gates + 3 * H;
  // Plain arithmetic (no transcendental functions): the compiler vectorises this loop.
  for (std::size_t j = 0; j < H; ++j) {
    const float i = gi[j], f = gf[j], g = gg[j], o = go[j], t = tanh_c[j];
    const float previous = c_prev ? c_prev[j] : 0.0f;
    // h = o tanh(c): dL/do = dh tanh(c), and dh reaches c through tanh.
    const float dcell = dc[j] + dh[j] * o * (1.0f - t * t);
    const float d_o = dh[j] * t;
    // c = f c_prev + i g.
    const float d_i = dcell * g;
    const float d_f = dcell * previous;
    const float d_g = dcell * i;
    dc[j] = dcell * f;
    // Through the activations, from their outputs: sigmoid' = y (1 - y), tanh' = 1 - y^2.
    gi[j] = d_i * Gate::derivative_from_output(i);
    gf[j] = d_f * Gate::derivative_from_output(f);
    gg[j] = d_g * (1.0f - g * g);
    go[j] = d_o * Gate::derivative_from_output(o);
  }
}

}  // namespace deepjet::kernels
