// deepjet/layers/gru/gru_kernels.hpp: the GRU's element-wise kernels, for one sample at one step.
//
// Contract (H units; every array is H floats per gate block, gates in Keras's order z, r, h):
//   gru_step_reset_after:    `gates` holds the input projection x W + b (3H) on entry and the
//                            activations z, r, n on exit; `recurrent` the recurrent product h_prev U
//                            (3H; null at the first step, where h_prev = 0), to which the kernel
//                            adds `recurrent_bias` b_r (3H) itself. Writes the new state h. If
//                            `recurrent_candidate` is not null (training), it receives the h block
//                            of h_prev U + b_r, the term the reset gate multiplies (needed for dr).
//   gru_update_and_reset_gates (reset_before, first half): z, r from the z and r blocks of `gates`
//                            (input projection) plus `recurrent_zr` (h_prev U_zr, 2H; null at the
//                            first step), written over those blocks; writes reset_state = r * h_prev.
//   gru_candidate_and_state  (reset_before, second half): n = tanh(gates_h + recurrent_h)
//                            (recurrent_h = (r * h_prev) U_h, null at the first step), written
//                            over the h block; writes h.
//   gru_backward_reset_after, gru_backward_candidate and gru_backward_reset_gate: the gradient of
//                            one step (see each function). The activations in `gates` are replaced
//                            by the gradients with respect to their pre-activations.
// h_prev may be null everywhere: the zero state before the first step. h = n + z (h_prev - n) is
// z h_prev + (1 - z) n. `Gate` is the activation of z and r: SigmoidFunction or
// HardSigmoidFunction (the latter defined with the LSTM's kernels, which share it).
// No allocation; SIMD through xsimd, the last register of a row masked (kernels/simd.hpp).
#pragma once

#include "deepjet/kernels/elementwise.hpp"
#include "deepjet/kernels/simd.hpp"
#include "deepjet/layers/lstm/lstm_kernels.hpp"  // HardSigmoidFunction

#include <algorithm>
#include <cstddef>

namespace deepjet::kernels {

template <class Gate = SigmoidFunction, class Arch = DefaultArch>
inline void gru_step_reset_after(std::size_t H, float* gates, const float* recurrent, const float* recurrent_bias,
                                 const float* h_prev, float* h, float* recurrent_candidate) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  // The recurrent pre-activation of gate block k at unit j: (h_prev U)[kH + j] + b_r[kH + j].
  auto recurrent_part = [&](std::size_t k, std::size_t j, std::size_t n) {
    const V bias = load_lanes<Arch>(recurrent_bias + k * H + j, n);
    return recurrent ? load_lanes<Arch>(recurrent + k * H + j, n) + bias : bias;
  };
  for (std::size_t j = 0; j < H; j += W) {
    const std::size_t n = std::min(W, H - j);
    const V z = Gate::value(load_lanes<Arch>(gates + j, n) + recurrent_part(0, j, n));
    const V r = Gate::value(load_lanes<Arch>(gates + H + j, n) + recurrent_part(1, j, n));
    const V candidate_recurrent = recurrent_part(2, j, n);
    const V candidate =
        TanhFunction::value(xsimd::fma(r, candidate_recurrent, load_lanes<Arch>(gates + 2 * H + j, n)));
    const V previous = h_prev ? load_lanes<Arch>(h_prev + j, n) : V(0.0f);
    store_lanes<Arch>(gates + j, z, n);
    store_lanes<Arch>(gates + H + j, r, n);
    store_lanes<Arch>(gates + 2 * H + j, candidate, n);
    store_lanes<Arch>(h + j, xsimd::fma(z, previous - candidate, candidate), n);
    if (recurrent_candidate) store_lanes<Arch>(recurrent_candidate + j, candidate_recurrent, n);
  }
}

template <class Gate = SigmoidFunction, class Arch = DefaultArch>
inline void gru_update_and_reset_gates(std::size_t H, float* gates, const float* recurrent_zr, const float* h_prev,
                                       float* reset_state) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  for (std::size_t j = 0; j < H; j += W) {
    const std::size_t n = std::min(W, H - j);
    V z_pre = load_lanes<Arch>(gates + j, n), r_pre = load_lanes<Arch>(gates + H + j, n);
    if (recurrent_zr) {
      z_pre += load_lanes<Arch>(recurrent_zr + j, n);
      r_pre += load_lanes<Arch>(recurrent_zr + H + j, n);
    }
    const V r = Gate::value(r_pre);
    store_lanes<Arch>(gates + j, Gate::value(z_pre), n);
    store_lanes<Arch>(gates + H + j, r, n);
    store_lanes<Arch>(reset_state + j, h_prev ? r * load_lanes<Arch>(h_prev + j, n) : V(0.0f), n);
  }
}

template <class Arch = DefaultArch>
inline void gru_candidate_and_state(std::size_t H, float* gates, const float* recurrent_h, const float* h_prev,
                                    float* h) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  for (std::size_t j = 0; j < H; j += W) {
    const std::size_t n = std::min(W, H - j);
    V pre = load_lanes<Arch>(gates + 2 * H + j, n);
    if (recurrent_h) pre += load_lanes<Arch>(recurrent_h + j, n);
    const V candidate = TanhFunction::value(pre);
    const V z = load_lanes<Arch>(gates + j, n);
    const V previous = h_prev ? load_lanes<Arch>(h_prev + j, n) : V(0.0f);
    store_lanes<Arch>(gates + 2 * H + j, candidate, n);
    store_lanes<Arch>(h + j, xsimd::fma(z, previous - candidate, candidate), n);
  }
}

/// reset_after, one sample at one step. In: `gates` = z, r, n; `recurrent_candidate` = U_h h_prev
/// + b_rh; `dh` = dL/dh of this step. Out: `gates` = dL/d(pre-activations of z, r, n), which is
/// also the gradient of the input projection; `recurrent_candidate` = dL/d(U_h h_prev + b_rh)
/// = dn_pre * r (so the recurrent projection's gradient is [dz_pre, dr_pre, recurrent_candidate]);
/// `dh` = z * dh, the part of dL/dh_prev that does not pass through the recurrent kernel.
template <class Gate = SigmoidFunction, class Arch = DefaultArch>
inline void gru_backward_reset_after(std::size_t H, float* gates, float* recurrent_candidate, const float* h_prev,
                                     float* dh) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  const V one(1.0f);
  for (std::size_t j = 0; j < H; j += W) {
    const std::size_t n = std::min(W, H - j);
    const V z = load_lanes<Arch>(gates + j, n), r = load_lanes<Arch>(gates + H + j, n),
            candidate = load_lanes<Arch>(gates + 2 * H + j, n);
    const V previous = h_prev ? load_lanes<Arch>(h_prev + j, n) : V(0.0f);
    const V dh_j = load_lanes<Arch>(dh + j, n);
    const V candidate_recurrent = load_lanes<Arch>(recurrent_candidate + j, n);
    // h = z h_prev + (1 - z) n;  n = tanh(n_pre), n_pre = x_h + r * candidate_recurrent.
    const V dz_pre = dh_j * (previous - candidate) * Gate::derivative_from_output(z);
    const V dn_pre = dh_j * (one - z) * (one - candidate * candidate);
    const V dr_pre = dn_pre * candidate_recurrent * Gate::derivative_from_output(r);
    store_lanes<Arch>(gates + j, dz_pre, n);
    store_lanes<Arch>(gates + H + j, dr_pre, n);
    store_lanes<Arch>(gates + 2 * H + j, dn_pre, n);
    store_lanes<Arch>(recurrent_candidate + j, dn_pre * r, n);
    store_lanes<Arch>(dh + j, dh_j * z, n);
  }
}

/// reset_before, first half, one sample at one step. In: `gates` = z, r, n; `dh` = dL/dh.
/// Out: the z and h blocks of `gates` = dz_pre, dn_pre (the r block is left for
/// gru_backward_reset_gate, which needs dn_pre U_h^T first); `dh` = z * dh (the direct part of
/// dL/dh_prev).
template <class Gate = SigmoidFunction, class Arch = DefaultArch>
inline void gru_backward_candidate(std::size_t H, float* gates, const float* h_prev, float* dh) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  const V one(1.0f);
  for (std::size_t j = 0; j < H; j += W) {
    const std::size_t n = std::min(W, H - j);
    const V z = load_lanes<Arch>(gates + j, n), candidate = load_lanes<Arch>(gates + 2 * H + j, n);
    const V previous = h_prev ? load_lanes<Arch>(h_prev + j, n) : V(0.0f);
    const V dh_j = load_lanes<Arch>(dh + j, n);
    store_lanes<Arch>(gates + j, dh_j * (previous - candidate) * Gate::derivative_from_output(z), n);
    store_lanes<Arch>(gates + 2 * H + j, dh_j * (one - z) * (one - candidate * candidate), n);
    store_lanes<Arch>(dh + j, dh_j * z, n);
  }
}

/// reset_before, second half. In: the r block of `gates` = r; `d_reset_state` = dL/d(r * h_prev)
/// = dn_pre U_h^T. Out: the r block = dr_pre; dh += d_reset_state * r (the path of h_prev through
/// the reset product). With h_prev null (first step) dr_pre is zero and dh is not touched.
template <class Gate = SigmoidFunction, class Arch = DefaultArch>
inline void gru_backward_reset_gate(std::size_t H, float* gates, const float* d_reset_state, const float* h_prev,
                                    float* dh) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  for (std::size_t j = 0; j < H; j += W) {
    const std::size_t n = std::min(W, H - j);
    if (!h_prev) {
      store_lanes<Arch>(gates + H + j, V(0.0f), n);
      continue;
    }
    const V r = load_lanes<Arch>(gates + H + j, n);
    const V d_state = load_lanes<Arch>(d_reset_state + j, n);
    store_lanes<Arch>(gates + H + j, d_state * load_lanes<Arch>(h_prev + j, n) * Gate::derivative_from_output(r), n);
    store_lanes<Arch>(dh + j, xsimd::fma(d_state, r, load_lanes<Arch>(dh + j, n)), n);
  }
}

}  // namespace deepjet::kernels
