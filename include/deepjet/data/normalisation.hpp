// deepjet/data/normalisation.hpp: the mean and standard deviation of every input feature.
//
// measure_normalisation reads up to `max_jets` jets from the training sources, in order, chunk by
// chunk, and computes each feature's mean and standard deviation after preprocessing (missing ->
// default, clip, log), over real list entries only (padding is not data). A feature whose spread
// is below 1e-6 (a constant) keeps std 1, so it is centred but not blown up. The result is stored
// as text in every training file and reused unchanged at prediction time.
#pragma once

#include "deepjet/data/format.hpp"
#include "deepjet/data/prepare.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace deepjet::data {

template <class Format>
struct Normalisation {
  /// Per input block (in the format's order), per feature.
  std::array<std::vector<FeatureStatistics>, Format::block_count> blocks;
  std::uint64_t jets_used = 0;

  /// The identity (mean 0, std 1 everywhere): values are prepared but not normalised.
  static Normalisation identity() {
    Normalisation n;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((n.blocks[I].assign(std::tuple_element_t<I, typename Format::blocks>::features.size(), FeatureStatistics{})), ...);
    }(std::make_index_sequence<Format::block_count>{});
    return n;
  }

  /// "block feature mean std" lines, exact to the last bit of a double.
  std::string to_text() const {
    std::string text = "jets " + std::to_string(jets_used) + "\n";
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (append_block<std::tuple_element_t<I, typename Format::blocks>>(text, blocks[I]), ...);
    }(std::make_index_sequence<Format::block_count>{});
    return text;
  }

  /// Parse to_text(); throws deepjet::Error if it does not fit the format.
  static Normalisation from_text(const std::string& text) {
    Normalisation n = identity();
    std::istringstream in(text);
    std::string word;
    in >> word >> n.jets_used;
    if (word != "jets") throw Error("normalisation text does not start with 'jets'");
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (read_block<std::tuple_element_t<I, typename Format::blocks>>(in, n.blocks[I]), ...);
    }(std::make_index_sequence<Format::block_count>{});
    return n;
  }

 private:
  template <class B>
  static void append_block(std::string& text, const std::vector<FeatureStatistics>& stats) {
    for (std::size_t i = 0; i < stats.size(); ++i) {
      char line[512];
      std::snprintf(line, sizeof line, "%s %s %.17g %.17g\n", std::string(B::name).c_str(),
                    std::string(B::features[i].branch).c_str(), stats[i].mean, stats[i].std_dev);
      text += line;
    }
  }
  template <class B>
  static void read_block(std::istringstream& in, std::vector<FeatureStatistics>& stats) {
    for (std::size_t i = 0; i < stats.size(); ++i) {
      std::string block, feature;
      in >> block >> feature >> stats[i].mean >> stats[i].std_dev;
      if (!in || block != B::name || feature != B::features[i].branch)
        throw Error("normalisation text: expected feature " + std::string(B::features[i].branch) + " of block " +
                    std::string(B::name) + ", found '" + block + " " + feature + "'");
    }
  }
};

/// Statistics of the prepared features over up to `max_jets` jets of `sources` (tree or table `table`).
/// With `unreadable`, a source that fails is skipped (its partial sums dropped) and recorded there
/// with the reason; without, the failure is thrown. `opener` opens each source (open_source if empty).
template <class Format>
Normalisation<Format> measure_normalisation(const std::vector<std::string>& sources, const std::string& table,
                                            std::uint64_t max_jets = 500000, std::uint64_t chunk_jets = 20000,
                                            std::vector<std::pair<std::string, std::string>>* unreadable = nullptr,
                                            const SourceOpener& opener = {}) {
  Normalisation<Format> result = Normalisation<Format>::identity();
  using Sums = std::array<std::vector<double>, Format::block_count>;
  Sums sum, sum_squares, count;
  for (std::size_t b = 0; b < Format::block_count; ++b) {
    sum[b].assign(result.blocks[b].size(), 0.0);
    sum_squares[b].assign(result.blocks[b].size(), 0.0);
    count[b].assign(result.blocks[b].size(), 0.0);
  }
  PrepareCounts ignored;
  std::vector<float> values;
  // Adds one source's prepared values (up to the jets still wanted) to the sums.
  auto accumulate = [&](const std::string& path) {
    const auto source = opener ? opener(path, table) : open_source(path, table);
    const std::uint64_t available = std::min(source->entries(), max_jets - result.jets_used);
    for (std::uint64_t first = 0; first < available; first += chunk_jets) {
      const std::uint64_t last = std::min(available, first + chunk_jets);
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (([&] {
           using B = std::tuple_element_t<I, typename Format::blocks>;
           constexpr std::size_t F = B::features.size();
           values.resize((last - first) * shape_of<B>::size);
           read_block<B>(*source, first, last, {}, values, PrepareOptions{}, ignored,
                         std::numeric_limits<float>::quiet_NaN());
           for (std::size_t k = 0; k < values.size(); ++k) {
             if (std::isnan(values[k])) continue;  // padding
             const std::size_t f = k % F;
             sum[I][f] += values[k];
             sum_squares[I][f] += static_cast<double>(values[k]) * values[k];
             count[I][f] += 1.0;
           }
         }()),
         ...);
      }(std::make_index_sequence<Format::block_count>{});
      result.jets_used += last - first;
    }
  };
  for (const auto& path : sources) {
    if (result.jets_used >= max_jets) break;
    const Sums saved_sum = sum, saved_squares = sum_squares, saved_count = count;
    const std::uint64_t saved_jets = result.jets_used;
    try {
      accumulate(path);
    } catch (const std::exception& e) {
      if (!unreadable) throw;
      unreadable->emplace_back(path, e.what());
      sum = saved_sum;
      sum_squares = saved_squares;
      count = saved_count;
      result.jets_used = saved_jets;
    }
  }
  for (std::size_t b = 0; b < Format::block_count; ++b)
    for (std::size_t f = 0; f < result.blocks[b].size(); ++f) {
      if (count[b][f] == 0) continue;
      const double mean = sum[b][f] / count[b][f];
      const double variance = std::max(0.0, sum_squares[b][f] / count[b][f] - mean * mean);
      const double std_dev = std::sqrt(variance);
      result.blocks[b][f] = {mean, std_dev > 1e-6 ? std_dev : 1.0};
    }
  return result;
}

}  // namespace deepjet::data
