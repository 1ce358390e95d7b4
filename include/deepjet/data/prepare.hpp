// deepjet/data/prepare.hpp: from a Source's columns to model-ready arrays, one chunk of jets at a time.
//
// read_block<B>(source, first, last, normalisation, out, options, counts) fills `out` with
// (last - first) jets of block B, laid out as shape_of<B> per jet: every value prepared as
// blocks.hpp describes (missing -> default, clip, log, normalise), list entries sorted, cut and
// padded. read_truth and read_spectators do the same for the truth rows and spectator values.
// A non-finite source value is replaced by the feature's default and counted, or, with
// NonFinite::reject, is an error naming the file, branch and entry. Entries of one list must share
// their lengths (one collection); a branch of another collection is an error naming both.
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/data/blocks.hpp"
#include "deepjet/data/source.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace deepjet::data {

enum class NonFinite { replace, reject };

struct PrepareOptions {
  NonFinite non_finite = NonFinite::replace;
};

/// What preparation changed, for the conversion report.
struct PrepareCounts {
  std::uint64_t non_finite_replaced = 0;
  std::uint64_t missing_replaced = 0;
  std::uint64_t entries_cut = 0;  ///< list entries beyond a block's length
  PrepareCounts& operator+=(const PrepareCounts& other) {
    non_finite_replaced += other.non_finite_replaced;
    missing_replaced += other.missing_replaced;
    entries_cut += other.entries_cut;
    return *this;
  }
};

/// Mean and standard deviation of one feature after preprocessing (identity: 0 and 1).
struct FeatureStatistics {
  double mean = 0.0;
  double std_dev = 1.0;
};

/// One value through missing/clip/log (not normalisation).
inline float prepare_value(float x, const FeatureSpec& f, PrepareCounts& counts) {
  if (!std::isfinite(x)) {
    ++counts.non_finite_replaced;
    return f.default_value;
  }
  if (x < f.missing_threshold) {
    ++counts.missing_replaced;
    return f.default_value;
  }
  x = std::clamp(x, f.clip_low, f.clip_high);
  if (f.take_log) x = x > 0.0f ? std::log(x) : f.default_value;
  return x;
}

namespace detail {
inline void check_finite(const Source& source, std::string_view branch, const std::vector<float>& values,
                         std::uint64_t first, const std::vector<std::int64_t>* offsets, NonFinite policy) {
  if (policy != NonFinite::reject) return;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i])) continue;
    std::uint64_t entry = first + i;
    if (offsets) entry = first + static_cast<std::uint64_t>(std::upper_bound(offsets->begin(), offsets->end(),
                                                                              static_cast<std::int64_t>(i)) -
                                                             offsets->begin() - 1);
    throw FileError(source.path(), "branch '" + std::string(branch) + "' has a non-finite value (" +
                                       std::to_string(values[i]) + ") in entry " + std::to_string(entry));
  }
}

inline float normalised(float x, const FeatureSpec& f, const FeatureStatistics& s) {
  return f.normalise ? static_cast<float>((x - s.mean) / s.std_dev) : x;
}
}  // namespace detail

template <InputBlock B>
constexpr float list_padding() {
  if constexpr (B::is_list) return B::padding;
  else return 0.0f;
}

/// Jets [first, last) of block B into out (size (last - first) * shape_of<B>::size).
/// `statistics` holds one entry per feature (empty: no normalisation).
/// `padding` fills the entries a list does not have (the block's own padding by default; the
/// normalisation measurement passes NaN to tell padding from values).
template <InputBlock B>
void read_block(const Source& source, std::uint64_t first, std::uint64_t last,
                std::span<const FeatureStatistics> statistics, std::span<float> out, const PrepareOptions& options,
                PrepareCounts& counts, float padding = list_padding<B>()) {
  constexpr std::size_t F = B::features.size();
  const std::size_t jets = static_cast<std::size_t>(last - first);
  if (out.size() != jets * shape_of<B>::size) throw Error("read_block: output has the wrong size");
  const FeatureStatistics identity{};
  auto stats = [&](std::size_t i) -> const FeatureStatistics& { return statistics.empty() ? identity : statistics[i]; };

  if constexpr (!B::is_list) {
    for (std::size_t i = 0; i < F; ++i) {
      const FeatureSpec& f = B::features[i];
      const auto column = source.read_flat(std::string(f.branch), first, last);
      detail::check_finite(source, f.branch, column, first, nullptr, options.non_finite);
      for (std::size_t j = 0; j < jets; ++j)
        out[j * F + i] = detail::normalised(prepare_value(column[j], f, counts), f, stats(i));
    }
  } else {
    constexpr std::size_t P = B::entries;
    std::fill(out.begin(), out.end(), padding);
    // Which source entries each jet keeps, in order (sorted and cut).
    std::vector<std::int64_t> offsets;
    std::vector<std::uint32_t> chosen;  // per jet, up to P indices into that jet's entries
    std::vector<std::size_t> chosen_count(jets, 0);
    auto choose = [&](const JaggedColumn& key, bool sort, Order order, bool absolute) {
      offsets = key.offsets;
      chosen.assign(jets * P, 0);
      std::vector<std::uint32_t> order_of;
      for (std::size_t j = 0; j < jets; ++j) {
        const std::int64_t begin = offsets[j], n = offsets[j + 1] - begin;
        order_of.resize(static_cast<std::size_t>(n));
        std::iota(order_of.begin(), order_of.end(), 0u);
        if (sort) {
          auto value = [&](std::uint32_t k) {
            const float v = key.values[static_cast<std::size_t>(begin + k)];
            return std::isfinite(v) ? (absolute ? std::abs(v) : v) : -std::numeric_limits<float>::infinity();
          };
          std::stable_sort(order_of.begin(), order_of.end(), [&](std::uint32_t a, std::uint32_t b) {
            return order == Order::descending ? value(a) > value(b) : value(a) < value(b);
          });
        }
        chosen_count[j] = std::min<std::size_t>(P, static_cast<std::size_t>(n));
        counts.entries_cut += static_cast<std::size_t>(n) - chosen_count[j];
        std::copy_n(order_of.begin(), chosen_count[j], chosen.begin() + static_cast<std::ptrdiff_t>(j * P));
      }
    };
    // The branch whose list lengths the others must share: the sort key, or the first feature.
    std::string_view reference = B::features[0].branch;
    if constexpr (SortedList<B>) {
      reference = B::sort.branch;
      choose(source.read_jagged(std::string(B::sort.branch), first, last), true, B::sort.order, B::sort.absolute);
    } else {
      choose(source.read_jagged(std::string(B::features[0].branch), first, last), false, Order::descending, false);
    }
    for (std::size_t i = 0; i < F; ++i) {
      const FeatureSpec& f = B::features[i];
      const auto column = source.read_jagged(std::string(f.branch), first, last);
      if (column.offsets != offsets)
        throw FileError(source.path(), "block '" + std::string(B::name) + "': branch '" + std::string(f.branch) +
                                           "' has other list lengths than '" + std::string(reference) +
                                           "' (all of a block's branches must come from one collection)");
      detail::check_finite(source, f.branch, column.values, first, &column.offsets, options.non_finite);
      for (std::size_t j = 0; j < jets; ++j)
        for (std::size_t p = 0; p < chosen_count[j]; ++p) {
          const float x = column.values[static_cast<std::size_t>(offsets[j]) + chosen[j * P + p]];
          out[(j * P + p) * F + i] = detail::normalised(prepare_value(x, f, counts), f, stats(i));
        }
    }
  }
}

/// Truth rows of jets [first, last): class c = the sum of its flags (not forced to be one-hot).
template <TruthBlock T>
void read_truth(const Source& source, std::uint64_t first, std::uint64_t last, std::span<float> out) {
  constexpr std::size_t C = T::classes.size();
  const std::size_t jets = static_cast<std::size_t>(last - first);
  std::fill(out.begin(), out.end(), 0.0f);
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t k = 0; k < T::classes[c].flag_count; ++k) {
      const auto flag = std::string(T::classes[c].flags[k]);
      const auto column = source.read_flat(flag, first, last);
      for (std::size_t j = 0; j < jets; ++j) {
        if (!std::isfinite(column[j]))
          throw FileError(source.path(), "truth branch '" + flag + "' is not finite in entry " + std::to_string(first + j));
        out[j * C + c] += column[j];
      }
    }
}

/// Values of `branches` for jets [first, last), one row per jet, unprepared.
template <std::size_t N>
void read_rows(const Source& source, const std::array<std::string_view, N>& branches, std::uint64_t first,
               std::uint64_t last, std::span<float> out) {
  const std::size_t jets = static_cast<std::size_t>(last - first);
  for (std::size_t s = 0; s < N; ++s) {
    const auto column = source.read_flat(std::string(branches[s]), first, last);
    for (std::size_t j = 0; j < jets; ++j) out[j * N + s] = column[j];
  }
}

/// Spectator values of jets [first, last), one row of Spec::branches per jet, unprepared.
template <Spectators Spec>
void read_spectators(const Source& source, std::uint64_t first, std::uint64_t last, std::span<float> out) {
  read_rows(source, Spec::branches, first, last, out);
}

/// Regression targets of jets [first, last), one row of T::branches per jet, unprepared.
template <Targets T>
void read_targets(const Source& source, std::uint64_t first, std::uint64_t last, std::span<float> out) {
  read_rows(source, T::branches, first, last, out);
}

}  // namespace deepjet::data
