// deepjet/optimisers/optimisers.hpp: parameter updates from gradients.
//
// Contract of every optimiser:
//   void step(std::span<float> parameters, std::span<const float> gradients,
//             const std::vector<ParameterRange>& trainable)
// updates only the parameters inside `trainable`; its state (moments) covers the whole array, so
// freezing and unfreezing tensors keeps every tensor's history. `visit_state(f)` calls
// f(name, AlignedFloats&) for each state array and `steps` counts updates: that is everything a
// checkpoint must save to resume exactly. The arithmetic follows torch.optim step for step
// (float32 tensors, hyper-parameters in double), so both give the same numbers.
#pragma once

#include "deepjet/core/aligned.hpp"
#include "deepjet/kernels/simd.hpp"
#include "deepjet/models/model.hpp"

#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace deepjet {

/// Stochastic gradient descent with optional momentum (torch.optim.SGD, dampening 0):
/// g += weight_decay * p; b = momentum * b + g (b = g on the first step);
/// p -= learning_rate * (nesterov ? g + momentum * b : b).
struct SGD {
  static constexpr std::string_view kind = "SGD";
  double learning_rate = 0.01;
  double momentum = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;

  AlignedFloats velocity{};
  std::uint64_t steps = 0;

  template <class F>
  void visit_state(F&& f) {
    f("velocity", velocity);
  }

  void step(std::span<float> parameters, std::span<const float> gradients,
            const std::vector<ParameterRange>& trainable) {
    if (momentum != 0.0 && velocity.size() != parameters.size()) velocity.assign(parameters.size(), 0.0f);
    const auto lr = static_cast<float>(learning_rate);
    const auto mu = static_cast<float>(momentum);
    const auto decay = static_cast<float>(weight_decay);
    for (const auto& range : trainable)
      for (std::size_t i = range.offset; i < range.offset + range.count; ++i) {
        float g = gradients[i];
        if (decay != 0.0f) g += decay * parameters[i];
        if (mu != 0.0f) {
          velocity[i] = steps == 0 ? g : mu * velocity[i] + g;
          g = nesterov ? g + mu * velocity[i] : velocity[i];
        }
        parameters[i] -= lr * g;
      }
    ++steps;
  }
};

/// Adam (torch.optim.Adam, bias-corrected; weight_decay adds decay * p to the gradient):
/// m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
/// p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
struct Adam {
  static constexpr std::string_view kind = "Adam";
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double weight_decay = 0.0;

  AlignedFloats m{};
  AlignedFloats v{};
  std::uint64_t steps = 0;

  template <class F>
  void visit_state(F&& f) {
    f("m", m);
    f("v", v);
  }

  void step(std::span<float> parameters, std::span<const float> gradients,
            const std::vector<ParameterRange>& trainable) {
    if (m.size() != parameters.size()) m.assign(parameters.size(), 0.0f);
    if (v.size() != parameters.size()) v.assign(parameters.size(), 0.0f);
    ++steps;
    const double t = static_cast<double>(steps);
    const auto step_size = static_cast<float>(learning_rate / (1.0 - std::pow(beta1, t)));
    const auto sqrt_bias2 = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, t)));
    const auto b1 = static_cast<float>(beta1), one_minus_b1 = static_cast<float>(1.0 - beta1);
    const auto b2 = static_cast<float>(beta2), one_minus_b2 = static_cast<float>(1.0 - beta2);
    const auto eps = static_cast<float>(epsilon);
    const auto decay = static_cast<float>(weight_decay);

    using V = kernels::Floats<kernels::DefaultArch>;
    constexpr std::size_t W = V::size;
    auto update = [&](auto p, auto g, auto mi, auto vi, auto& p_out, auto& m_out, auto& v_out) {
      using T = decltype(p);
      if (decay != 0.0f) g = g + T(decay) * p;
      mi = mi * T(b1) + g * T(one_minus_b1);
      vi = vi * T(b2) + T(one_minus_b2) * (g * g);
      const T denominator = sqrt_of(vi) / T(sqrt_bias2) + T(eps);
      p_out = p - T(step_size) * (mi / denominator);
      m_out = mi;
      v_out = vi;
    };
    for (const auto& range : trainable) {
      std::size_t i = range.offset;
      const std::size_t end = range.offset + range.count;
      for (; i + W <= end; i += W) {
        V p_out, m_out, v_out;
        update(V::load_unaligned(&parameters[i]), V::load_unaligned(&gradients[i]), V::load_unaligned(&m[i]),
               V::load_unaligned(&v[i]), p_out, m_out, v_out);
        p_out.store_unaligned(&parameters[i]);
        m_out.store_unaligned(&m[i]);
        v_out.store_unaligned(&v[i]);
      }
      for (; i < end; ++i) update(parameters[i], gradients[i], m[i], v[i], parameters[i], m[i], v[i]);
    }
  }

 private:
  static float sqrt_of(float x) { return std::sqrt(x); }
  template <class A>
  static xsimd::batch<float, A> sqrt_of(const xsimd::batch<float, A>& x) { return xsimd::sqrt(x); }
};

}  // namespace deepjet
