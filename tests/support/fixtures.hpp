// tests/support/fixtures.hpp: reads the reference tensors written by scripts/make_torch_fixtures.py.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
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
  EXPECT_LE(worst, relative) << what << ": worst at index " << worst_index << ": " << actual[worst_index]
                             << " vs expected " << expected[worst_index];
}

}  // namespace deepjet::test
