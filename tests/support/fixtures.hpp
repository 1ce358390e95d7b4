// tests/support/fixtures.hpp: reads the reference tensors written by scripts/make_torch_fixtures.py.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace deepjet::test {

struct Tensor {
  std::vector<std::size_t> shape;
  std::vector<float> values;
};

class Fixtures {
 public:
  explicit Fixtures(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open fixture file " + path);
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      std::string name;
      std::size_t rank = 0;
      fields >> name >> rank;
      Tensor t;
      std::size_t count = 1;
      for (std::size_t i = 0; i < rank; ++i) {
        std::size_t d = 0;
        fields >> d;
        t.shape.push_back(d);
        count *= d;
      }
      t.values.resize(count);
      for (auto& v : t.values) fields >> v;
      if (!fields) throw std::runtime_error("bad fixture line for " + name);
      tensors_[name] = std::move(t);
    }
  }

  const Tensor& operator[](const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) throw std::runtime_error("no fixture tensor " + name);
    return it->second;
  }

 private:
  std::map<std::string, Tensor> tensors_;
};

/// The fixture file tests/fixtures/<name>.txt, read once per test program.
inline const Fixtures& fixtures(const std::string& name) {
  static std::map<std::string, Fixtures> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, Fixtures(std::string(DEEPJET_TEST_FIXTURES) + "/" + name + ".txt")).first;
  return it->second;
}

inline const Fixtures& foundation_fixtures() { return fixtures("foundation"); }

/// Largest |a - b| / max(|b|, floor) over the arrays; reports the worst index on failure.
template <class A, class B>
void expect_close(const A& actual, const B& expected, double relative, double floor, const std::string& what) {
  ASSERT_EQ(std::size(actual), std::size(expected)) << what;
  double worst = 0;
  std::size_t worst_index = 0;
  for (std::size_t i = 0; i < std::size(expected); ++i) {
    const double a = actual[i], b = expected[i];
    const double error = std::abs(a - b) / std::max(std::abs(b), floor);
    if (std::isnan(error)) {  // a NaN anywhere (an unwritten output, say) is the worst; keep it
      worst = error;
      worst_index = i;
      break;
    }
    if (error > worst) {
      worst = error;
      worst_index = i;
    }
  }
  // DEEPJET_TEST_MARGINS=1 prints how much of each bound was used, to compare builds (the
  // PyTorch references are fixed; only deepjet's rounding changes with the instruction set).
  if (std::getenv("DEEPJET_TEST_MARGINS"))
    std::printf("margin %-60s worst %.3g of %.3g (%.1f%%)\n", what.c_str(), worst, relative, 100.0 * worst / relative);
  EXPECT_LE(worst, relative) << what << ": worst at index " << worst_index << ": " << actual[worst_index]
                             << " vs expected " << expected[worst_index];
}

/// gamma_n = n u / (1 - n u), u = 2^-24: the relative bound of n float roundings to nearest
/// (Higham, Accuracy and Stability of Numerical Algorithms, 3.1).
inline double float_gamma(std::size_t n) {
  const double nu = static_cast<double>(n) * 0x1.0p-24;
  return nu / (1.0 - nu);
}

/// For entries that are sums of at most `terms` float terms (products of floats, a bias),
/// computed in float by deepjet and by the reference (PyTorch) each in its own order, with or
/// without FMA: each is within gamma_terms * magnitude[i] of the exact sum (magnitude[i] = the sum
/// of |term|), so the two are within twice that of each other, on any machine.
template <class A, class B>
void expect_within_rounding(const A& actual, const B& expected, const std::vector<double>& magnitude, std::size_t terms,
                            const std::string& what) {
  ASSERT_EQ(std::size(actual), std::size(expected)) << what;
  ASSERT_EQ(magnitude.size(), std::size(expected)) << what;
  const double bound = 2.0 * float_gamma(terms);
  double worst = 0;  // the largest error as a fraction of its bound
  for (std::size_t i = 0; i < std::size(expected); ++i) {
    const double error = std::abs(double(actual[i]) - double(expected[i])), allowed = bound * magnitude[i];
    if (allowed > 0) worst = std::max(worst, error / allowed);
    EXPECT_LE(error, allowed) << what << ": index " << i << ": " << actual[i] << " vs expected " << expected[i];
  }
  if (std::getenv("DEEPJET_TEST_MARGINS"))
    std::printf("margin %-60s worst %.3g of the rounding bound\n", what.c_str(), worst);
}

}  // namespace deepjet::test
