// deepjet/evaluation/roc.hpp: exact ROC curves, their area, and mistag rates at fixed efficiencies.
//
// Contract: roc_curve(scores, signal_weights, background_weights) takes one discriminant value per
// jet and how much of that jet is signal and how much background (truth fractions: a jet may be
// partly both, or neither, which leaves it out). A jet is selected at threshold t when its score
// is >= t. The curve holds one point per distinct score, from the strictest cut (nothing selected,
// (0, 0)) to the loosest (everything selected, (1, 1)); jets with equal scores enter together, so
// ties form one straight step. It is exact: no binning.
//
//   area_under_curve(curve)              trapezoidal area under signal efficiency as a function of
//                                        background efficiency; with unit weights it equals the
//                                        Mann-Whitney probability P(s > b) + 0.5 P(s = b).
//   background_efficiency_at(curve, e)   the mistag rate at signal efficiency e, interpolated
//                                        linearly between the two curve points around e (a random
//                                        mixture of the two thresholds achieves exactly that).
//   working_point_at_signal_efficiency / working_point_at_background_efficiency
//                                        the same with the cut's threshold, from either side (CMS's
//                                        loose/medium/tight working points are at fixed mistag rates).
//   compact(curve, n)                    at most n of the curve's own points for plots and JSON.
//
// Machine independence: the curve keeps the weight sums each cut passes, accumulated in one fixed
// order (highest score first); the totals are the last of those sums, so the loosest point is
// exactly (1, 1). Each efficiency is one division, and the area is computed from the sums as
//   sum_i (B_i - B_{i-1}) (S_i + S_{i-1})  /  (2 S B)
// with every multiply-add an explicit std::fma (correctly rounded on every machine, whatever the
// compiler contracts) and one division at the end. So for the same scores and weights the area and
// the working points are bit-identical on every x86-64 machine. With integer weights (unit-weight
// jets, counts) every sum and product is an integer below 2^53, hence exact: the area is the exact
// ratio of integers rounded once (a tied, unit-weight sample of identical distributions gives 0.5
// exactly). With other weights each addition rounds once (relative 2^-53 each).
//
// Bad input (different lengths, a non-finite score, a negative or non-finite weight, no signal or
// no background weight at all) throws deepjet::Error.
#pragma once

#include "deepjet/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace deepjet::evaluation {

/// One working point: cutting at score >= threshold keeps these fractions of signal and background.
struct RocPoint {
  double threshold = 0.0;  ///< +inf for the first point (nothing selected)
  double signal_efficiency = 0.0;
  double background_efficiency = 0.0;
  double signal_passed = 0.0;      ///< the signal weight this cut keeps (the efficiency's numerator)
  double background_passed = 0.0;  ///< the background weight this cut keeps
};

/// A ROC curve: points in order of loosening threshold, both efficiencies non-decreasing.
struct RocCurve {
  std::vector<RocPoint> points;
  double signal_total = 0.0;      ///< sum of the signal weights (the efficiency denominator)
  double background_total = 0.0;  ///< sum of the background weights
};

/// The exact ROC curve of `scores` for jets weighted `signal_weights` as signal and
/// `background_weights` as background.
inline RocCurve roc_curve(std::span<const double> scores, std::span<const double> signal_weights,
                          std::span<const double> background_weights) {
  if (signal_weights.size() != scores.size() || background_weights.size() != scores.size()) {
    throw Error("deepjet::evaluation::roc_curve: " + std::to_string(scores.size()) + " scores but " +
                std::to_string(signal_weights.size()) + " signal weights and " +
                std::to_string(background_weights.size()) + " background weights; they must match");
  }
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (!std::isfinite(scores[i])) {
      throw Error("deepjet::evaluation::roc_curve: the score of jet " + std::to_string(i) + " is not finite");
    }
    const double s = signal_weights[i];
    const double b = background_weights[i];
    if (!std::isfinite(s) || !std::isfinite(b) || s < 0.0 || b < 0.0) {
      throw Error("deepjet::evaluation::roc_curve: jet " + std::to_string(i) +
                  " has a negative or non-finite signal or background weight");
    }
  }

  // Sort once, highest score first; ties keep their order (irrelevant: they enter together).
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });

  RocCurve curve;
  curve.points.push_back({std::numeric_limits<double>::infinity(), 0.0, 0.0, 0.0, 0.0});
  double signal_passed = 0.0;
  double background_passed = 0.0;
  for (std::size_t k = 0; k < order.size();) {
    const double threshold = scores[order[k]];
    // One step per distinct score: all tied jets pass or fail together.
    for (; k < order.size() && scores[order[k]] == threshold; ++k) {
      signal_passed += signal_weights[order[k]];
      background_passed += background_weights[order[k]];
    }
    // Jets with neither signal nor background weight do not move the curve; skip their points.
    RocPoint& last = curve.points.back();
    if (signal_passed == last.signal_passed && background_passed == last.background_passed) {
      last.threshold = threshold;  // the loosest threshold of a flat run is as good
      continue;
    }
    curve.points.push_back({threshold, 0.0, 0.0, signal_passed, background_passed});
  }
  // The totals are the sums of the loosest cut, in the same order: that point is exactly (1, 1).
  curve.signal_total = signal_passed;
  curve.background_total = background_passed;
  if (!(curve.signal_total > 0.0)) throw Error("deepjet::evaluation::roc_curve: no signal jets (signal weights sum to 0)");
  if (!(curve.background_total > 0.0)) {
    throw Error("deepjet::evaluation::roc_curve: no background jets (background weights sum to 0)");
  }
  for (RocPoint& point : curve.points) {
    point.signal_efficiency = point.signal_passed / curve.signal_total;
    point.background_efficiency = point.background_passed / curve.background_total;
  }
  return curve;
}

/// The area under the curve (signal efficiency over background efficiency), by trapezoids, from
/// the passed weight sums with one division (see "Machine independence" above).
inline double area_under_curve(const RocCurve& curve) {
  double twice_area_times_totals = 0.0;
  for (std::size_t i = 1; i < curve.points.size(); ++i) {
    const RocPoint& a = curve.points[i - 1];
    const RocPoint& b = curve.points[i];
    twice_area_times_totals = std::fma(b.background_passed - a.background_passed, a.signal_passed + b.signal_passed,
                                       twice_area_times_totals);
  }
  return twice_area_times_totals / (2.0 * curve.signal_total * curve.background_total);
}

namespace detail {
/// low + fraction (high - low), rounded the same way on every machine.
inline double interpolate(double low, double high, double fraction) { return std::fma(fraction, high - low, low); }
}  // namespace detail

/// The working point at signal efficiency `signal_efficiency` in [0, 1]. Its background
/// efficiency (mistag rate) is the lowest of the curve where the signal efficiency reaches the
/// target, interpolated linearly between the last point below the target and the first point at
/// or above it; its threshold is that first point's: the tightest cut d >= threshold that keeps
/// at least the target fraction of the signal.
inline RocPoint working_point_at_signal_efficiency(const RocCurve& curve, double signal_efficiency) {
  if (!(signal_efficiency >= 0.0 && signal_efficiency <= 1.0)) {
    throw Error("deepjet::evaluation: the signal efficiency " + std::to_string(signal_efficiency) +
                " is outside [0, 1]");
  }
  if (curve.points.empty()) throw Error("deepjet::evaluation: the ROC curve is empty");
  const auto& points = curve.points;
  const auto above = std::find_if(points.begin(), points.end(), [&](const RocPoint& point) {
    return point.signal_efficiency >= signal_efficiency;
  });
  if (above == points.end()) return points.back();  // unreachable for a full curve
  if (above == points.begin()) return *above;
  const RocPoint& low = *(above - 1);
  const RocPoint& high = *above;
  const double fraction = (signal_efficiency - low.signal_efficiency) / (high.signal_efficiency - low.signal_efficiency);
  return {high.threshold, signal_efficiency,
          detail::interpolate(low.background_efficiency, high.background_efficiency, fraction),
          detail::interpolate(low.signal_passed, high.signal_passed, fraction),
          detail::interpolate(low.background_passed, high.background_passed, fraction)};
}

/// The background efficiency (mistag rate) at signal efficiency `signal_efficiency`, as above.
inline double background_efficiency_at(const RocCurve& curve, double signal_efficiency) {
  return working_point_at_signal_efficiency(curve, signal_efficiency).background_efficiency;
}

/// The working point at background efficiency `background_efficiency` in [0, 1] (CMS defines its
/// loose, medium and tight b-tagging working points at 10 %, 1 % and 0.1 % light mistag rate). Its
/// signal efficiency is the highest of the curve whose background efficiency stays within the
/// target, interpolated linearly between the last point within the target and the next point; its
/// threshold is that last point's: the loosest cut d >= threshold whose mistag rate is within the target.
inline RocPoint working_point_at_background_efficiency(const RocCurve& curve, double background_efficiency) {
  if (!(background_efficiency >= 0.0 && background_efficiency <= 1.0)) {
    throw Error("deepjet::evaluation: the background efficiency " + std::to_string(background_efficiency) +
                " is outside [0, 1]");
  }
  if (curve.points.empty()) throw Error("deepjet::evaluation: the ROC curve is empty");
  const auto& points = curve.points;
  const auto beyond = std::find_if(points.begin(), points.end(), [&](const RocPoint& point) {
    return point.background_efficiency > background_efficiency;
  });
  if (beyond == points.end()) return points.back();
  if (beyond == points.begin()) return *beyond;  // unreachable: the first point selects nothing
  const RocPoint& low = *(beyond - 1);
  const RocPoint& high = *beyond;
  const double fraction =
      (background_efficiency - low.background_efficiency) / (high.background_efficiency - low.background_efficiency);
  return {low.threshold, detail::interpolate(low.signal_efficiency, high.signal_efficiency, fraction),
          background_efficiency, detail::interpolate(low.signal_passed, high.signal_passed, fraction),
          detail::interpolate(low.background_passed, high.background_passed, fraction)};
}

/// At most `max_points` (>= 4) points of the curve, always its first and last, chosen so that a
/// plot with a linear signal axis and a logarithmic background axis looks the same: half are spread
/// evenly in signal efficiency, half evenly in log10(background efficiency).
inline std::vector<RocPoint> compact(const RocCurve& curve, std::size_t max_points = 500) {
  if (max_points < 4) throw Error("deepjet::evaluation::compact: keep at least 4 points");
  const auto& points = curve.points;
  if (points.size() <= max_points) return points;

  const std::size_t by_signal = (max_points - 2) / 2;
  const std::size_t by_background = max_points - 2 - by_signal;
  std::vector<std::size_t> keep{0, points.size() - 1};
  auto first_at_or_above = [&](auto member, double target) {
    const auto it = std::partition_point(points.begin(), points.end(),
                                         [&](const RocPoint& point) { return point.*member < target; });
    return static_cast<std::size_t>(std::min(it, points.end() - 1) - points.begin());
  };
  for (std::size_t k = 0; k < by_signal; ++k) {
    const double target = static_cast<double>(k + 1) / static_cast<double>(by_signal + 1);
    keep.push_back(first_at_or_above(&RocPoint::signal_efficiency, target));
  }
  // The smallest non-zero background efficiency sets the range of the logarithmic targets.
  const auto first_background = std::find_if(points.begin(), points.end(),
                                              [](const RocPoint& point) { return point.background_efficiency > 0.0; });
  const double lowest_log = std::log10(first_background->background_efficiency);
  for (std::size_t k = 0; k < by_background; ++k) {
    const double fraction = static_cast<double>(k) / static_cast<double>(by_background);
    keep.push_back(first_at_or_above(&RocPoint::background_efficiency, std::pow(10.0, lowest_log * (1.0 - fraction))));
  }
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  std::vector<RocPoint> kept;
  kept.reserve(keep.size());
  for (const std::size_t index : keep) kept.push_back(points[index]);
  return kept;
}

}  // namespace deepjet::evaluation
