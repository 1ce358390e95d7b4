// deepjet/core/random.hpp: a small, fast, portable random generator.
//
// Why our own: std::uniform_real_distribution and friends are implementation-defined, so the same
// seed gives different numbers with another standard library. Everything random in deepjet
// (initial weights, shuffling, dropout masks) draws from Random, which gives the same sequence on
// every platform for a given seed (xoshiro256** seeded through splitmix64).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace deepjet {

class Random {
 public:
  explicit Random(std::uint64_t seed = 0) { reseed(seed); }

  void reseed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& word : state_) word = splitmix64(x);
  }

  /// The generator's whole state, to save in a checkpoint and restore with set_state.
  std::array<std::uint64_t, 4> state() const { return {state_[0], state_[1], state_[2], state_[3]}; }
  void set_state(const std::array<std::uint64_t, 4>& state) {
    for (int i = 0; i < 4; ++i) state_[i] = state[i];
  }

  /// 64 uniformly distributed bits.
  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  /// Uniform in [0, 1) with 24 random bits: exactly representable as float.
  float uniform() { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }
  /// Uniform in [low, high).
  /// Computed in double so that the result has the same bits whether or not the compiler contracts
  /// the multiply and add into an FMA (GCC does by default where the target has FMA): high - low of
  /// two floats of similar size is exact in double, its product with the 24-bit uniform() is exact
  /// (at most 49 significant bits), so only the addition and the final conversion to float round,
  /// and an FMA rounds the same sum the same way.
  float uniform(float low, float high) {
    return static_cast<float>(static_cast<double>(low) + (static_cast<double>(high) - low) * uniform());
  }
  /// Uniform integer in [0, n), without modulo bias (Lemire's method).
  std::uint64_t below(std::uint64_t n) {
    __uint128_t m = static_cast<__uint128_t>(next()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = -n % n;
      while (low < threshold) {
        m = static_cast<__uint128_t>(next()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }
  /// Standard normal (Box-Muller on two uniforms).
  double normal() {
    const double u1 = (static_cast<double>(next() >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(next() >> 11) * 0x1.0p-53;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  /// Fisher-Yates shuffle of a random-access range.
  template <class Range>
  void shuffle(Range& range) {
    const auto n = static_cast<std::uint64_t>(std::size(range));
    for (std::uint64_t i = n; i > 1; --i) {
      using std::swap;
      swap(range[i - 1], range[below(i)]);
    }
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::uint64_t state_[4];
};

}  // namespace deepjet
