// deepjet/layers/initialisers.hpp: filling parameter tensors before training.
//
// Initialisers as defined by Keras (the uniform ones also as torch.nn.init):
//   glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out))
//   he_uniform:     l = sqrt(6 / fan_in)
//   lecun_uniform:  l = sqrt(3 / fan_in)
//   orthogonal:     the tensor seen as a matrix (all dimensions but the last) x (the last), filled
//                   so that its rows, or its columns if there are fewer of them, are orthonormal:
//                   Gram-Schmidt on a standard-normal matrix, i.e. the Q of its QR decomposition
//                   with a positive diagonal in R (what Keras's Orthogonal(gain=1) computes)
//   unit_forget_bias: four equal slices (gates i, f, g, o of an LSTM), the second all ones
// Deterministic: the values depend only on the Random stream passed in.
#pragma once

#include "deepjet/core/random.hpp"
#include "deepjet/layers/layer.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

namespace deepjet {

namespace detail {
// Fill `values` (rows x cols, row-major) with orthonormal rows or columns, whichever are fewer.
inline void fill_orthogonal(std::span<float> values, std::size_t rows, std::size_t cols, Random& random) {
  // Build the short side x long side matrix with orthonormal rows, in double.
  const std::size_t short_side = std::min(rows, cols), long_side = std::max(rows, cols);
  std::vector<double> q(short_side * long_side);
  for (std::size_t r = 0; r < short_side; ++r) {
    double* row = q.data() + r * long_side;
    for (;;) {  // redraw in the (probability zero) case of a dependent row
      for (std::size_t j = 0; j < long_side; ++j) row[j] = random.normal();
      // Modified Gram-Schmidt against the rows already made orthonormal.
      for (std::size_t p = 0; p < r; ++p) {
        const double* done = q.data() + p * long_side;
        double dot = 0;
        for (std::size_t j = 0; j < long_side; ++j) dot += row[j] * done[j];
        for (std::size_t j = 0; j < long_side; ++j) row[j] -= dot * done[j];
      }
      double norm = 0;
      for (std::size_t j = 0; j < long_side; ++j) norm += row[j] * row[j];
      norm = std::sqrt(norm);
      if (norm > 1e-6) {
        for (std::size_t j = 0; j < long_side; ++j) row[j] /= norm;
        break;
      }
    }
  }
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c)
      values[r * cols + c] = static_cast<float>(rows <= cols ? q[r * cols + c] : q[c * rows + r]);
}
}  // namespace detail

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
    case Initialiser::orthogonal: {
      const std::size_t cols = spec.rank ? spec.shape[spec.rank - 1] : 1;
      detail::fill_orthogonal(values, values.size() / cols, cols, random);
      break;
    }
    case Initialiser::unit_forget_bias: {
      const std::size_t slice = values.size() / 4;
      std::fill(values.begin(), values.end(), 0.0f);
      std::fill(values.begin() + static_cast<std::ptrdiff_t>(slice),
                values.begin() + static_cast<std::ptrdiff_t>(2 * slice), 1.0f);
      break;
    }
  }
}

}  // namespace deepjet
