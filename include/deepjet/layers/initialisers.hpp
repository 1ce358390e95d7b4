// deepjet/layers/initialisers.hpp: filling parameter tensors before training.
//
// Uniform variance-scaling initialisers as defined by Keras (and torch.nn.init):
//   glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out))
//   he_uniform:     l = sqrt(6 / fan_in)
//   lecun_uniform:  l = sqrt(3 / fan_in)
// Deterministic: the values depend only on the Random stream passed in.
#pragma once

#include "deepjet/core/random.hpp"
#include "deepjet/layers/layer.hpp"

#include <algorithm>
#include <cmath>
#include <span>

namespace deepjet {

inline void initialise(std::span<float> values, const ParameterSpec& spec, Random& random) {
  const auto fan_in = static_cast<double>(spec.fan_in);
  const auto fan_out = static_cast<double>(spec.fan_out);
  auto fill_uniform = [&](double limit) {
    for (float& v : values) v = random.uniform(static_cast<float>(-limit), static_cast<float>(limit));
  };
  switch (spec.initialiser) {
    case Initialiser::zeros: std::fill(values.begin(), values.end(), 0.0f); break;
    case Initialiser::ones: std::fill(values.begin(), values.end(), 1.0f); break;
    case Initialiser::glorot_uniform: fill_uniform(std::sqrt(6.0 / (fan_in + fan_out))); break;
    case Initialiser::he_uniform: fill_uniform(std::sqrt(6.0 / fan_in)); break;
    case Initialiser::lecun_uniform: fill_uniform(std::sqrt(3.0 / fan_in)); break;
  }
}

}  // namespace deepjet
