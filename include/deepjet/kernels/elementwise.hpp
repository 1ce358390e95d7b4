// deepjet/kernels/elementwise.hpp: activation functions over float buffers, and their gradients.
//
// Contract: forward(x, y, n) writes f(x[i]) to y[i] (x == y is allowed: in place);
// backward(y, dy, dx, n) writes dx[i] = dy[i] * f'(x[i]), computed from the forward *output* y,
// so a layer needs to keep only its output for the backward pass. dx may alias dy.
// Accuracy: ELU, Tanh, Sigmoid and Softmax are computed with kernels/fast_math.hpp, within 1.8e-7
// relative of the exact functions (1.0e-7 for exp; the bounds for each are stated there); the others
// are exact.
#pragma once

#include "deepjet/kernels/fast_math.hpp"
#include "deepjet/kernels/simd.hpp"

#include <cmath>
#include <cstddef>

namespace deepjet::kernels {

namespace detail {
// Apply a SIMD functor over n floats: full registers, then one padded partial register.
template <class Arch, class Op>
inline void map(std::size_t n, Op op, const float* x, float* y) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) op(V::load_unaligned(x + i)).store_unaligned(y + i);
  if (i < n) {
    alignas(64) float in[W] = {};
    alignas(64) float out[W];
    for (std::size_t j = i; j < n; ++j) in[j - i] = x[j];
    op(V::load_aligned(in)).store_aligned(out);
    for (std::size_t j = i; j < n; ++j) y[j] = out[j - i];
  }
}

template <class Arch, class Op>
inline void map2(std::size_t n, Op op, const float* x, const float* z, float* y) {
  using V = Floats<Arch>;
  constexpr std::size_t W = V::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) op(V::load_unaligned(x + i), V::load_unaligned(z + i)).store_unaligned(y + i);
  if (i < n) {
    alignas(64) float in1[W] = {};
    alignas(64) float in2[W] = {};
    alignas(64) float out[W];
    for (std::size_t j = i; j < n; ++j) {
      in1[j - i] = x[j];
      in2[j - i] = z[j];
    }
    op(V::load_aligned(in1), V::load_aligned(in2)).store_aligned(out);
    for (std::size_t j = i; j < n; ++j) y[j] = out[j - i];
  }
}
}  // namespace detail

// value and derivative_from_output are force-inlined: kernels such as the fused LSTM step call them
// on accumulators held in registers, which a call would spill (every vector register is
// caller-saved), and GCC does not always inline them on its own in such large functions.

/// f(x) = x.
struct LinearFunction {
  static constexpr const char* name = "Linear";
  template <class V> DEEPJET_ALWAYS_INLINE static V value(V x) { return x; }
  template <class V> DEEPJET_ALWAYS_INLINE static V derivative_from_output(V) { return V(1.0f); }
};

/// f(x) = max(x, 0).
struct ReluFunction {
  static constexpr const char* name = "ReLU";
  template <class V> DEEPJET_ALWAYS_INLINE static V value(V x) { return xsimd::max(x, V(0.0f)); }
  template <class V> DEEPJET_ALWAYS_INLINE static V derivative_from_output(V y) {
    return xsimd::select(y > V(0.0f), V(1.0f), V(0.0f));
  }
};

/// f(x) = x for x > 0, exp(x) - 1 otherwise (alpha = 1, as Keras and PyTorch default).
struct EluFunction {
  static constexpr const char* name = "ELU";
  template <class V> DEEPJET_ALWAYS_INLINE static V value(V x) {
    return xsimd::select(x > V(0.0f), x, fast_math::expm1(x));
  }
  // f'(x) = 1 for x > 0, exp(x) = f(x) + 1 otherwise.
  template <class V> DEEPJET_ALWAYS_INLINE static V derivative_from_output(V y) {
    return xsimd::select(y > V(0.0f), V(1.0f), y + V(1.0f));
  }
};

/// f(x) = tanh(x).
struct TanhFunction {
  static constexpr const char* name = "Tanh";
  template <class V> DEEPJET_ALWAYS_INLINE static V value(V x) { return fast_math::tanh(x); }
  template <class V> DEEPJET_ALWAYS_INLINE static V derivative_from_output(V y) { return V(1.0f) - y * y; }
};

/// f(x) = 1 / (1 + exp(-x)).
struct SigmoidFunction {
  static constexpr const char* name = "Sigmoid";
  template <class V> DEEPJET_ALWAYS_INLINE static V value(V x) { return fast_math::sigmoid(x); }
  template <class V> DEEPJET_ALWAYS_INLINE static V derivative_from_output(V y) { return y * (V(1.0f) - y); }
};

template <class Function, class Arch = DefaultArch>
inline void activation_forward(const float* x, float* y, std::size_t n) {
  detail::map<Arch>(n, [](auto v) { return Function::value(v); }, x, y);
}

template <class Function, class Arch = DefaultArch>
inline void activation_backward(const float* y, const float* dy, float* dx, std::size_t n) {
  detail::map2<Arch>(n, [](auto out, auto grad) { return grad * Function::derivative_from_output(out); }, y, dy, dx);
}

/// Softmax over each of `rows` rows of `width` values: y = exp(x - max) / sum.
template <class Arch = DefaultArch>
inline void softmax_forward(const float* x, float* y, std::size_t rows, std::size_t width) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * width;
    float* yr = y + r * width;
    float max_value = xr[0];
    for (std::size_t i = 1; i < width; ++i) max_value = std::max(max_value, xr[i]);
    using V = Floats<Arch>;
    detail::map<Arch>(width, [max_value](auto v) { return fast_math::exp(v - decltype(v)(max_value)); }, xr, yr);
    float sum = 0.0f;
    for (std::size_t i = 0; i < width; ++i) sum += yr[i];
    const float inverse = 1.0f / sum;
    detail::map<Arch>(width, [inverse](auto v) { return v * V(inverse); }, yr, yr);
  }
}

/// Softmax gradient per row: dx = y * (dy - sum(dy * y)).
template <class Arch = DefaultArch>
inline void softmax_backward(const float* y, const float* dy, float* dx, std::size_t rows, std::size_t width) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* yr = y + r * width;
    const float* dyr = dy + r * width;
    float* dxr = dx + r * width;
    float dot = 0.0f;
    for (std::size_t i = 0; i < width; ++i) dot += dyr[i] * yr[i];
    for (std::size_t i = 0; i < width; ++i) dxr[i] = yr[i] * (dyr[i] - dot);
  }
}

}  // namespace deepjet::kernels
