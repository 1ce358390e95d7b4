// deepjet/evaluation/evaluate.hpp: from a tagger's predictions to the numbers of its evaluation.
//
// Contract: evaluate(predictions, truth, spectators, class_names, spectator_names, settings)
// takes one row per jet of class probabilities (predictions) and truth (jets x classes, in the
// order of class_names) and of spectators (jets x spectator_names), keeps the jets that pass every
// cut, and computes for each grouping:
//   - the discriminant of every kept jet, its signal and background weight (truth fractions),
//   - the exact ROC curve over the jets with any signal or background weight, its AUC, the mistag
//     rate at each requested signal efficiency, the signal efficiency at each requested mistag
//     rate (working points, with their thresholds), and a compact copy of the curve (roc.hpp),
//   - one normalised histogram of the discriminant per truth class (a jet adds its truth fraction
//     of that class; every class, not only signal and background, so c jets show up in b vs udsg),
//   - if asked (settings.efficiency_bins), the signal and background efficiency in bins of a
//     spectator such as jet pT, at each working point's cut.
// The results remember the settings they came from. Inputs are checked before anything is
// computed; a problem throws deepjet::Error naming it: mismatched jet or column counts, an unknown
// class or spectator name, a non-finite prediction or truth value, a negative truth value, an
// efficiency outside [0, 1], and a grouping left with no signal or no background jets after the cuts.
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/evaluation/discriminants.hpp"
#include "deepjet/evaluation/jet_table.hpp"
#include "deepjet/evaluation/plots.hpp"
#include "deepjet/evaluation/roc.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace deepjet::evaluation {

/// Bins of a spectator in which to measure efficiencies (e.g. jet pT): a jet whose value (or
/// absolute value) lies in [edges[i], edges[i + 1]) is in bin i; jets outside all bins are not counted.
struct SpectatorBins {
  std::string spectator;
  std::vector<double> edges;  ///< at least two, strictly increasing
  bool absolute = false;      ///< bin |value| (eta)
};

/// What to compute.
struct EvaluationSettings {
  std::vector<Grouping> groupings;  ///< e.g. deepjet_groupings()
  std::vector<Cut> cuts;            ///< e.g. {Cut::above("jet_pt", 30), Cut::absolute_below("jet_eta", 2.5)}
  std::vector<double> signal_efficiencies{0.5, 0.7, 0.85};  ///< where to quote mistag rates
  /// where to quote signal efficiencies: CMS's loose, medium and tight working points
  std::vector<double> background_efficiencies{0.1, 0.01, 0.001};
  std::size_t roc_points = 500;     ///< points kept of each curve for plots and JSON
  std::size_t histogram_bins = 50;  ///< bins of the discriminant histograms
  /// Efficiencies per bin of these spectators at each working point's cut (none by default),
  /// e.g. {{"jet_pt", {30, 50, 70, 100, 150, 200, 300, 500, 1000}}, {"jet_eta", {0, 0.5, 1, 1.5, 2, 2.5}, true}}
  std::vector<SpectatorBins> efficiency_bins;
};

/// Per epoch (1, 2, ...), as a trainer's history records them; empty vectors are not plotted.
struct TrainingHistory {
  std::vector<double> training_loss;
  std::vector<double> validation_loss;
  std::vector<double> training_accuracy;
  std::vector<double> validation_accuracy;

  bool empty() const {
    return training_loss.empty() && validation_loss.empty() && training_accuracy.empty() &&
           validation_accuracy.empty();
  }
};

/// The background efficiency reached at one signal efficiency, and the cut d >= threshold that
/// reaches it (roc.hpp: working_point_at_signal_efficiency).
struct MistagRate {
  double signal_efficiency = 0.0;
  double background_efficiency = 0.0;
  double threshold = 0.0;
};

/// The signal efficiency reached at one background efficiency (a working point), and the cut
/// d >= threshold that reaches it (roc.hpp: working_point_at_background_efficiency).
struct SignalEfficiency {
  double background_efficiency = 0.0;
  double signal_efficiency = 0.0;
  double threshold = 0.0;
};

/// The signal and background efficiency per bin of a spectator at one working point's cut
/// d >= threshold (the cut's efficiencies over all jets are the working point's).
struct BinnedEfficiency {
  SpectatorBins bins;
  double working_point = 0.0;  ///< the working point's background efficiency over all jets
  double threshold = 0.0;
  std::vector<double> signal_efficiency;      ///< per bin; NaN where a bin has no signal
  std::vector<double> background_efficiency;  ///< per bin; NaN where a bin has no background
};

/// Everything computed for one grouping.
struct GroupingResult {
  Grouping grouping;
  std::string discriminant;   ///< the formula, e.g. "p_b + p_bb + p_lepb"
  double signal_jets = 0.0;   ///< sum of the kept jets' signal weights
  double background_jets = 0.0;
  double auc = 0.0;
  std::vector<MistagRate> mistag_rates;  ///< one per requested signal efficiency, in that order
  std::vector<SignalEfficiency> working_points;  ///< one per requested background efficiency
  std::vector<RocPoint> roc;             ///< the compact curve
  std::size_t roc_points_total = 0;      ///< points of the exact curve
  std::vector<Histogram> histograms;     ///< the discriminant per truth class (label: the class)
  /// per settings.efficiency_bins entry, per working point (in that order)
  std::vector<BinnedEfficiency> binned_efficiencies;
};

struct EvaluationResults {
  std::string title = "DeepJet evaluation";
  std::vector<std::string> class_names;
  std::vector<Cut> cuts;
  std::vector<double> signal_efficiencies;
  std::vector<double> background_efficiencies;
  std::size_t jets_total = 0;
  std::size_t jets_selected = 0;  ///< passing all cuts
  std::vector<GroupingResult> groupings;
  TrainingHistory training;  ///< filled by the caller if it has one; plotted by write_report
};

/// "p_b + p_bb + p_lepb", or "p_c / (p_c + p_uds + p_g)".
inline std::string discriminant_formula(const Grouping& grouping) {
  auto sum = [](const std::vector<std::string>& classes) {
    std::string text;
    for (const std::string& name : classes) text += (text.empty() ? "p_" : " + p_") + name;
    return text;
  };
  const std::string top = sum(grouping.numerator_classes);
  if (grouping.denominator_classes.empty()) return top;
  const std::string bottom = sum(grouping.denominator_classes);
  return (grouping.numerator_classes.size() > 1 ? "(" + top + ")" : top) + " / " +
         (grouping.denominator_classes.size() > 1 ? "(" + bottom + ")" : bottom);
}

/// The indices of the jets passing every cut.
inline std::vector<std::size_t> select(const JetTable& spectators, std::span<const std::string> spectator_names,
                                       std::span<const Cut> cuts, std::size_t jets) {
  const std::vector<std::size_t> columns = resolve(cuts, spectator_names);
  std::vector<std::size_t> kept;
  for (std::size_t jet = 0; jet < jets; ++jet) {
    bool passes = true;
    for (std::size_t c = 0; c < cuts.size() && passes; ++c) passes = cuts[c].passes(spectators(jet, columns[c]));
    if (passes) kept.push_back(jet);
  }
  return kept;
}

namespace evaluate_detail {

inline std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

inline void check_inputs(const JetTable& predictions, const JetTable& truth, const JetTable& spectators,
                         std::span<const std::string> class_names, std::span<const std::string> spectator_names,
                         const EvaluationSettings& settings) {
  const std::string where = "deepjet::evaluation::evaluate: ";
  if (class_names.empty()) throw Error(where + "no class names");
  if (predictions.columns() != class_names.size()) {
    throw Error(where + "the predictions have " + std::to_string(predictions.columns()) + " columns for " +
                std::to_string(class_names.size()) + " classes");
  }
  if (truth.columns() != class_names.size()) {
    throw Error(where + "the truth has " + std::to_string(truth.columns()) + " columns for " +
                std::to_string(class_names.size()) + " classes");
  }
  if (truth.rows() != predictions.rows()) {
    throw Error(where + std::to_string(predictions.rows()) + " jets of predictions but " +
                std::to_string(truth.rows()) + " jets of truth");
  }
  if (spectators.columns() != spectator_names.size()) {
    throw Error(where + "the spectators have " + std::to_string(spectators.columns()) + " columns for " +
                std::to_string(spectator_names.size()) + " spectator names");
  }
  if (spectators.columns() > 0 && spectators.rows() != predictions.rows()) {
    throw Error(where + std::to_string(predictions.rows()) + " jets of predictions but " +
                std::to_string(spectators.rows()) + " jets of spectators");
  }
  if (settings.groupings.empty()) throw Error(where + "no groupings to evaluate");
  for (std::size_t i = 0; i < settings.groupings.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (settings.groupings[i].name == settings.groupings[j].name) {
        throw Error(where + "two groupings are named '" + settings.groupings[i].name + "'");
      }
    }
  }
  for (const double efficiency : settings.signal_efficiencies) {
    if (!(efficiency >= 0.0 && efficiency <= 1.0)) {
      throw Error(where + "the signal efficiency " + std::to_string(efficiency) + " is outside [0, 1]");
    }
  }
  for (const double efficiency : settings.background_efficiencies) {
    if (!(efficiency >= 0.0 && efficiency <= 1.0)) {
      throw Error(where + "the background efficiency " + std::to_string(efficiency) + " is outside [0, 1]");
    }
  }
  for (const SpectatorBins& bins : settings.efficiency_bins) {
    if (std::find(spectator_names.begin(), spectator_names.end(), bins.spectator) == spectator_names.end()) {
      throw Error(where + "efficiency bins of unknown spectator '" + bins.spectator + "' (the spectators are: " +
                  (spectator_names.empty() ? std::string("none") : join(std::vector<std::string>(spectator_names.begin(), spectator_names.end()))) + ")");
    }
    bool increasing = bins.edges.size() >= 2;
    for (std::size_t i = 0; i < bins.edges.size() && increasing; ++i) {
      increasing = std::isfinite(bins.edges[i]) && (i == 0 || bins.edges[i] > bins.edges[i - 1]);
    }
    if (!increasing) {
      throw Error(where + "the efficiency bins of '" + bins.spectator +
                  "' need at least two finite, strictly increasing edges");
    }
  }
  if (settings.roc_points < 4) throw Error(where + "roc_points must be at least 4");
  if (settings.histogram_bins == 0) throw Error(where + "histogram_bins must be positive");
}

/// Normalised histograms of `values` per truth class over `bins` equal bins of [0, 1], or of the
/// values' range when some lie outside [0, 1]. Classes without jets get no histogram.
inline std::vector<Histogram> class_histograms(const std::vector<double>& values, const std::vector<std::size_t>& jets,
                                               const JetTable& truth, std::span<const std::string> class_names,
                                               std::size_t bins) {
  double low = 0.0, high = 1.0;
  if (!values.empty()) {
    const auto [smallest, largest] = std::minmax_element(values.begin(), values.end());
    if (*smallest < 0.0 || *largest > 1.0) {
      low = *smallest;
      high = *largest > *smallest ? *largest : *smallest + 1.0;
    }
  }
  std::vector<double> edges(bins + 1);
  for (std::size_t i = 0; i <= bins; ++i) {
    edges[i] = low + (high - low) * static_cast<double>(i) / static_cast<double>(bins);
  }
  std::vector<Histogram> histograms;
  for (std::size_t c = 0; c < class_names.size(); ++c) {
    std::vector<double> contents(bins, 0.0);
    double total = 0.0;
    for (std::size_t k = 0; k < jets.size(); ++k) {
      const double weight = truth(jets[k], c);
      if (weight == 0.0) continue;
      // The last bin includes the upper edge (a discriminant of exactly 1).
      const auto bin = static_cast<std::size_t>(
          std::clamp((values[k] - low) / (high - low) * static_cast<double>(bins), 0.0, static_cast<double>(bins - 1)));
      contents[bin] += weight;
      total += weight;
    }
    if (!(total > 0.0)) continue;
    for (double& content : contents) content /= total;
    // The class's colour is its index, so a class keeps its colour in every plot.
    histograms.push_back({class_names[c], edges, std::move(contents), static_cast<int>(c)});
  }
  return histograms;
}

/// The efficiencies per bin at one working point's cut.
inline BinnedEfficiency binned_efficiency(const SpectatorBins& bins, const SignalEfficiency& point,
                                          const std::vector<double>& scores, const std::vector<double>& signal_weights,
                                          const std::vector<double>& background_weights,
                                          const std::vector<std::size_t>& jets, const JetTable& spectators,
                                          std::size_t column) {
  const std::size_t count = bins.edges.size() - 1;
  std::vector<double> signal_passed(count, 0.0), signal_all(count, 0.0);
  std::vector<double> background_passed(count, 0.0), background_all(count, 0.0);
  for (std::size_t k = 0; k < jets.size(); ++k) {
    double value = spectators(jets[k], column);
    if (bins.absolute) value = std::fabs(value);
    if (!(value >= bins.edges.front() && value < bins.edges.back())) continue;  // also NaN
    const auto bin = static_cast<std::size_t>(std::upper_bound(bins.edges.begin(), bins.edges.end(), value) -
                                              bins.edges.begin()) - 1;
    const bool passes = scores[k] >= point.threshold;
    signal_all[bin] += signal_weights[k];
    background_all[bin] += background_weights[k];
    if (passes) {
      signal_passed[bin] += signal_weights[k];
      background_passed[bin] += background_weights[k];
    }
  }
  BinnedEfficiency efficiency{bins, point.background_efficiency, point.threshold, {}, {}};
  for (std::size_t bin = 0; bin < count; ++bin) {
    efficiency.signal_efficiency.push_back(signal_all[bin] > 0.0 ? signal_passed[bin] / signal_all[bin]
                                                                 : std::numeric_limits<double>::quiet_NaN());
    efficiency.background_efficiency.push_back(
        background_all[bin] > 0.0 ? background_passed[bin] / background_all[bin] : std::numeric_limits<double>::quiet_NaN());
  }
  return efficiency;
}

}  // namespace evaluate_detail

/// Evaluate the predictions (see the contract at the top of this header).
inline EvaluationResults evaluate(const JetTable& predictions, const JetTable& truth, const JetTable& spectators,
                                  std::span<const std::string> class_names,
                                  std::span<const std::string> spectator_names, const EvaluationSettings& settings) {
  evaluate_detail::check_inputs(predictions, truth, spectators, class_names, spectator_names, settings);
  std::vector<ResolvedGrouping> resolved;
  for (const Grouping& grouping : settings.groupings) resolved.push_back(resolve(grouping, class_names));

  EvaluationResults results;
  results.class_names.assign(class_names.begin(), class_names.end());
  results.cuts = settings.cuts;
  results.signal_efficiencies = settings.signal_efficiencies;
  results.background_efficiencies = settings.background_efficiencies;
  results.jets_total = predictions.rows();
  const std::vector<std::size_t> kept = select(spectators, spectator_names, settings.cuts, predictions.rows());
  results.jets_selected = kept.size();

  for (const std::size_t jet : kept) {
    for (std::size_t c = 0; c < class_names.size(); ++c) {
      if (!std::isfinite(predictions(jet, c))) {
        throw Error("deepjet::evaluation::evaluate: the prediction of jet " + std::to_string(jet) + " for class '" +
                    class_names[c] + "' is not finite");
      }
      if (!std::isfinite(truth(jet, c)) || truth(jet, c) < 0.0f) {
        throw Error("deepjet::evaluation::evaluate: the truth of jet " + std::to_string(jet) + " for class '" +
                    class_names[c] + "' is negative or not finite");
      }
    }
  }

  const std::string after_cuts = " among the " + std::to_string(kept.size()) + " of " +
                                 std::to_string(predictions.rows()) + " jets passing the cuts (" +
                                 describe(settings.cuts) + ")";
  for (std::size_t g = 0; g < settings.groupings.size(); ++g) {
    const Grouping& grouping = settings.groupings[g];
    const ResolvedGrouping& classes = resolved[g];
    GroupingResult result;
    result.grouping = grouping;
    result.discriminant = discriminant_formula(grouping);

    std::vector<double> all_values;  // every kept jet, for the per-class histograms
    std::vector<double> scores, signal_weights, background_weights;  // jets in this grouping
    std::vector<std::size_t> grouping_jets;                          // ... and their indices
    all_values.reserve(kept.size());
    for (const std::size_t jet : kept) {
      const double value = classes.discriminant(predictions.row(jet));
      all_values.push_back(value);
      const double signal = classes.signal_weight(truth.row(jet));
      const double background = classes.background_weight(truth.row(jet));
      if (signal == 0.0 && background == 0.0) continue;
      scores.push_back(value);
      grouping_jets.push_back(jet);
      signal_weights.push_back(signal);
      background_weights.push_back(background);
      result.signal_jets += signal;
      result.background_jets += background;
    }
    if (!(result.signal_jets > 0.0)) {
      throw Error("deepjet::evaluation::evaluate: grouping '" + grouping.name + "': no signal jets (classes " +
                  evaluate_detail::join(grouping.signal_classes) + ")" + after_cuts);
    }
    if (!(result.background_jets > 0.0)) {
      throw Error("deepjet::evaluation::evaluate: grouping '" + grouping.name + "': no background jets (classes " +
                  evaluate_detail::join(grouping.background_classes) + ")" + after_cuts);
    }
    const RocCurve curve = roc_curve(scores, signal_weights, background_weights);
    result.auc = area_under_curve(curve);
    for (const double efficiency : settings.signal_efficiencies) {
      const RocPoint point = working_point_at_signal_efficiency(curve, efficiency);
      result.mistag_rates.push_back({efficiency, point.background_efficiency, point.threshold});
    }
    for (const double efficiency : settings.background_efficiencies) {
      const RocPoint point = working_point_at_background_efficiency(curve, efficiency);
      result.working_points.push_back({efficiency, point.signal_efficiency, point.threshold});
    }
    result.roc = compact(curve, settings.roc_points);
    result.roc_points_total = curve.points.size();
    result.histograms =
        evaluate_detail::class_histograms(all_values, kept, truth, class_names, settings.histogram_bins);
    for (const SpectatorBins& bins : settings.efficiency_bins) {
      const auto column = static_cast<std::size_t>(
          std::find(spectator_names.begin(), spectator_names.end(), bins.spectator) - spectator_names.begin());
      for (const SignalEfficiency& point : result.working_points) {
        result.binned_efficiencies.push_back(evaluate_detail::binned_efficiency(
            bins, point, scores, signal_weights, background_weights, grouping_jets, spectators, column));
      }
    }
    results.groupings.push_back(std::move(result));
  }
  return results;
}

}  // namespace deepjet::evaluation
