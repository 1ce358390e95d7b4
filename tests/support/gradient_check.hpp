// tests/support/gradient_check.hpp: finite-difference checks of a layer's backward pass.
//
// For random parameters, input and output gradient dy, the scalar f = sum(dy * forward(x)) has
// df/dparam = the accumulated parameter gradient and df/dx = the input gradient. Each is compared
// with a central difference (f(v + h) - f(v - h)) / 2h evaluated in training mode with a fresh
// layer object, so that caches cannot leak between evaluations.
#pragma once

#include "support/fixtures.hpp"

#include <deepjet/deepjet.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <vector>

namespace deepjet::test {

struct GradientCheckOptions {
  std::size_t batch = 3;
  float step = 1e-2f;
  double tolerance = 2e-2;  ///< relative, against max(|numeric|, floor)
  double floor = 1e-2;
  float input_scale = 1.0f;
  std::uint64_t seed = 1;
  /// Keep inputs this far from zero (kinks of ReLU and ELU).
  float input_gap = 0.0f;
};

template <Layer L>
void check_layer_gradients(const GradientCheckOptions& options = {}) {
  using In = typename L::input_shape;
  using Out = typename L::output_shape;
  Random random(options.seed);
  std::vector<float> params(L::parameter_count);
  for (auto& p : params) p = random.uniform(-0.5f, 0.5f);
  std::vector<float> x(In::size * options.batch);
  for (auto& v : x) {
    v = random.uniform(-options.input_scale, options.input_scale);
    if (std::abs(v) < options.input_gap) v += v < 0 ? -options.input_gap : options.input_gap;
  }
  std::vector<float> dy(Out::size * options.batch);
  for (auto& v : dy) v = random.uniform(-1.0f, 1.0f);

  auto objective = [&](const std::vector<float>& p, const std::vector<float>& input) {
    L layer;
    TrainingContext context;
    std::vector<float> y(Out::size * options.batch);
    std::vector<float> p_copy = p;
    layer.forward(context, p_copy.data(), make_view<In>(input.data(), options.batch),
                  make_view<Out>(y.data(), options.batch));
    double f = 0;
    for (std::size_t i = 0; i < y.size(); ++i) f += static_cast<double>(dy[i]) * y[i];
    return f;
  };

  L layer;
  TrainingContext context;
  std::vector<float> y(Out::size * options.batch);
  std::vector<float> grads(L::parameter_count, 0.0f);
  std::vector<float> dx(In::size * options.batch);
  std::vector<float> p_copy = params;
  layer.forward(context, p_copy.data(), make_view<In>(x.data(), options.batch), make_view<Out>(y.data(), options.batch));
  layer.backward(params.data(), grads.data(), make_view<In>(static_cast<const float*>(x.data()), options.batch),
                 make_view<Out>(static_cast<const float*>(y.data()), options.batch),
                 make_view<Out>(static_cast<const float*>(dy.data()), options.batch),
                 make_view<In>(dx.data(), options.batch));

  auto numeric = [&](std::vector<float>& values, std::size_t i, bool is_param) {
    const float saved = values[i];
    values[i] = saved + options.step;
    const double up = is_param ? objective(values, x) : objective(params, values);
    values[i] = saved - options.step;
    const double down = is_param ? objective(values, x) : objective(params, values);
    values[i] = saved;
    return (up - down) / (2.0 * options.step);
  };
  for (std::size_t i = 0; i < params.size(); ++i) {
    const double expected = numeric(params, i, true);
    EXPECT_NEAR(grads[i], expected, options.tolerance * std::max(std::abs(expected), options.floor))
        << "parameter " << i;
  }
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double expected = numeric(x, i, false);
    EXPECT_NEAR(dx[i], expected, options.tolerance * std::max(std::abs(expected), options.floor)) << "input " << i;
  }
}

}  // namespace deepjet::test
