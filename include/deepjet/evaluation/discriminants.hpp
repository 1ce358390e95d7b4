// deepjet/evaluation/discriminants.hpp: which classes are signal and background, how the tagger's
// class probabilities become one discriminant, and which jets are evaluated at all.
//
// Contract:
//   Grouping     names the signal and background classes and the discriminant
//                   d = sum(p of numerator classes) / sum(p of denominator classes)
//                (an empty denominator means 1). A jet's signal weight is the sum of its truth over
//                the signal classes, its background weight the sum over the background classes:
//                truth rows are sums of flags, so a jet can be partly one and partly the other, and
//                a jet of neither (a c jet in b vs udsg) is left out of that grouping.
//   resolve()    turns the class names into column indices and throws deepjet::Error for an
//                unknown class name, an empty signal, background or numerator, or a class that is
//                both signal and background.
//   Cut          keeps jets with min < value < max for one spectator (or |value| if `absolute`);
//                NaN never passes. describe() puts cuts in words; resolve(cuts, names) finds their
//                spectator columns (evaluate.hpp's select() applies them).
//
// The DeepJet conventions (classes b, bb, lepb, c, uds, g), as in CMS: the b discriminant is
// p_b + p_bb + p_lepb, used for both b vs udsg and b vs c; the charm discriminants are
// CvsL = p_c / (p_c + p_uds + p_g) and CvsB = p_c / (p_c + p_b + p_bb + p_lepb).
#pragma once

#include "deepjet/core/error.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace deepjet::evaluation {

/// A signal-versus-background question and the discriminant that answers it.
struct Grouping {
  std::string name;                              ///< e.g. "b vs udsg"; names the curve
  std::vector<std::string> signal_classes;       ///< truth classes counted as signal
  std::vector<std::string> background_classes;   ///< truth classes counted as background
  std::vector<std::string> numerator_classes;    ///< predicted probabilities summed on top
  std::vector<std::string> denominator_classes;  ///< summed below; empty: no division
};

/// DeepJet b vs udsg with the b discriminant p_b + p_bb + p_lepb.
inline Grouping deepjet_b_vs_udsg() {
  return {"b vs udsg", {"b", "bb", "lepb"}, {"uds", "g"}, {"b", "bb", "lepb"}, {}};
}
/// DeepJet b vs c with the same b discriminant.
inline Grouping deepjet_b_vs_c() { return {"b vs c", {"b", "bb", "lepb"}, {"c"}, {"b", "bb", "lepb"}, {}}; }
/// DeepJet c vs udsg with CvsL = p_c / (p_c + p_uds + p_g).
inline Grouping deepjet_c_vs_udsg() { return {"c vs udsg", {"c"}, {"uds", "g"}, {"c"}, {"c", "uds", "g"}}; }
/// DeepJet c vs b with CvsB = p_c / (p_c + p_b + p_bb + p_lepb).
inline Grouping deepjet_c_vs_b() {
  return {"c vs b", {"c"}, {"b", "bb", "lepb"}, {"c"}, {"c", "b", "bb", "lepb"}};
}
/// The four above, in that order.
inline std::vector<Grouping> deepjet_groupings() {
  return {deepjet_b_vs_udsg(), deepjet_b_vs_c(), deepjet_c_vs_udsg(), deepjet_c_vs_b()};
}

/// A grouping with its class names replaced by column indices.
struct ResolvedGrouping {
  std::vector<std::size_t> signal;
  std::vector<std::size_t> background;
  std::vector<std::size_t> numerator;
  std::vector<std::size_t> denominator;

  /// The discriminant of one jet's class probabilities. A zero denominator (no probability at all
  /// in its classes) gives 0: nothing speaks for the numerator.
  double discriminant(std::span<const float> probabilities) const {
    const double top = sum(probabilities, numerator);
    if (denominator.empty()) return top;
    const double bottom = sum(probabilities, denominator);
    return bottom > 0.0 ? top / bottom : 0.0;
  }
  double signal_weight(std::span<const float> truth) const { return sum(truth, signal); }
  double background_weight(std::span<const float> truth) const { return sum(truth, background); }

 private:
  static double sum(std::span<const float> values, const std::vector<std::size_t>& columns) {
    double total = 0.0;
    for (const std::size_t column : columns) total += static_cast<double>(values[column]);
    return total;
  }
};

/// Look up the grouping's class names among `class_names`.
inline ResolvedGrouping resolve(const Grouping& grouping, std::span<const std::string> class_names) {
  auto indices = [&](const std::vector<std::string>& names, std::string_view role) {
    std::vector<std::size_t> result;
    for (const std::string& name : names) {
      const auto it = std::find(class_names.begin(), class_names.end(), name);
      if (it == class_names.end()) {
        std::string known;
        for (const std::string& class_name : class_names) known += (known.empty() ? "" : ", ") + class_name;
        throw Error("deepjet::evaluation: grouping '" + grouping.name + "': unknown " + std::string(role) +
                    " class '" + name + "' (the classes are: " + known + ")");
      }
      const auto index = static_cast<std::size_t>(it - class_names.begin());
      if (std::find(result.begin(), result.end(), index) == result.end()) result.push_back(index);
    }
    return result;
  };
  ResolvedGrouping resolved{indices(grouping.signal_classes, "signal"),
                            indices(grouping.background_classes, "background"),
                            indices(grouping.numerator_classes, "numerator"),
                            indices(grouping.denominator_classes, "denominator")};
  auto require = [&](bool condition, const std::string& problem) {
    if (!condition) throw Error("deepjet::evaluation: grouping '" + grouping.name + "': " + problem);
  };
  require(!resolved.signal.empty(), "no signal classes");
  require(!resolved.background.empty(), "no background classes");
  require(!resolved.numerator.empty(), "no numerator classes for the discriminant");
  for (const std::size_t index : resolved.signal) {
    require(std::find(resolved.background.begin(), resolved.background.end(), index) == resolved.background.end(),
            "class '" + class_names[index] + "' is both signal and background");
  }
  return resolved;
}

/// Keep jets whose spectator lies strictly between min and max (of its absolute value if
/// `absolute`): {"jet_pt", 30} is jet_pt > 30, {"jet_eta", -inf, 2.5, true} is |jet_eta| < 2.5.
struct Cut {
  std::string spectator;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool absolute = false;

  /// spectator > value
  static Cut above(std::string spectator, double value) { return {std::move(spectator), value}; }
  /// spectator < value
  static Cut below(std::string spectator, double value) {
    return {std::move(spectator), -std::numeric_limits<double>::infinity(), value};
  }
  /// |spectator| < value
  static Cut absolute_below(std::string spectator, double value) {
    return {std::move(spectator), -std::numeric_limits<double>::infinity(), value, true};
  }

  bool passes(double value) const {
    const double v = absolute ? std::fabs(value) : value;
    return v > min && v < max;  // false for NaN
  }

  /// Human-readable: "jet_pt > 30", "|jet_eta| < 2.5", "20 < jet_pt < 1000".
  std::string description() const {
    const std::string variable = absolute ? "|" + spectator + "|" : spectator;
    const bool has_min = min > -std::numeric_limits<double>::infinity();
    const bool has_max = max < std::numeric_limits<double>::infinity();
    if (has_min && has_max) return number(min) + " < " + variable + " < " + number(max);
    if (has_min) return variable + " > " + number(min);
    if (has_max) return variable + " < " + number(max);
    return variable + " (no limit)";
  }

 private:
  // The shortest text that reads back as the same value, without an exponent in the usual range
  // ("1000000", not "1e+06"); independent of the locale.
  static std::string number(double value) {
    char buffer[400];
    const double magnitude = std::fabs(value);
    const auto format = magnitude == 0.0 || (magnitude >= 1e-4 && magnitude < 1e15) ? std::chars_format::fixed
                                                                                    : std::chars_format::general;
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, format);
    return std::string(buffer, result.ptr);
  }
};

/// "jet_pt > 30 and |jet_eta| < 2.5", or "none".
inline std::string describe(std::span<const Cut> cuts) {
  if (cuts.empty()) return "none";
  std::string text;
  for (const Cut& cut : cuts) text += (text.empty() ? "" : " and ") + cut.description();
  return text;
}

/// The column of each cut's spectator among `spectator_names`; throws deepjet::Error naming an
/// unknown spectator.
inline std::vector<std::size_t> resolve(std::span<const Cut> cuts, std::span<const std::string> spectator_names) {
  std::vector<std::size_t> columns;
  for (const Cut& cut : cuts) {
    const auto it = std::find(spectator_names.begin(), spectator_names.end(), cut.spectator);
    if (it == spectator_names.end()) {
      std::string known;
      for (const std::string& name : spectator_names) known += (known.empty() ? "" : ", ") + name;
      throw Error("deepjet::evaluation: cut '" + cut.description() + "': unknown spectator '" + cut.spectator +
                  "' (the spectators are: " + (known.empty() ? "none" : known) + ")");
    }
    columns.push_back(static_cast<std::size_t>(it - spectator_names.begin()));
  }
  return columns;
}

}  // namespace deepjet::evaluation
