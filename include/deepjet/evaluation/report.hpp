// deepjet/evaluation/report.hpp: the evaluation written out as plots, an HTML page and JSON.
//
// Contract: write_report(directory, results) creates `directory` if needed and writes, each file
// atomically (a reader never sees half a file; an existing report is replaced file by file):
//   roc.svg                      every grouping's ROC curve, logarithmic mistag axis
//   discriminant_<grouping>.svg  per grouping, the discriminant's distribution per truth class
//   efficiency_<grouping>_<spectator>[_abs].svg
//                                per grouping and EvaluationSettings::efficiency_bins entry: signal
//                                and background efficiency per bin at each working point's cut
//   loss.svg, accuracy.svg       per epoch, training and validation (only if results.training has them)
//   results.json                 the numbers (layout below)
//   report.html                  one self-contained page: the selection, a table of AUCs and
//                                mistag rates, a table of working points (signal efficiency and
//                                threshold at fixed mistag rates), and every plot above inlined
// and returns the paths written, in that order. <grouping> is the grouping's name with everything
// but letters and digits replaced by '_' ("b vs udsg" -> "b_vs_udsg").
//
// results.json:
//   { "title", "deepjet_version", "classes": [...], "cuts": [{"spectator", "min", "max",
//     "absolute", "description"}], "selection": "jet_pt > 30 and ...",
//     "jets": {"total", "selected"}, "signal_efficiencies": [...], "background_efficiencies": [...],
//     "groupings": [{"name", "signal_classes", "background_classes", "numerator_classes",
//                    "denominator_classes", "discriminant", "signal_jets", "background_jets",
//                    "auc", "mistag_rates": [{"signal_efficiency", "background_efficiency", "threshold"}],
//                    "working_points": [{"background_efficiency", "signal_efficiency", "threshold"}],
//                    "binned_efficiencies": [{"spectator", "absolute", "edges", "working_point",
//                                             "threshold", "signal_efficiency", "background_efficiency"}],
//                    "roc": {"points_total", "threshold": [...], "signal_efficiency": [...],
//                            "background_efficiency": [...]}}],
//     "training": {"training_loss", "validation_loss", "training_accuracy", "validation_accuracy"} }
// Infinite and NaN values (an open cut limit, the first ROC point's threshold, the efficiency
// of an empty bin) are written as null.
#pragma once

#include "deepjet/core/atomic_file.hpp"
#include "deepjet/core/error.hpp"
#include "deepjet/core/version.hpp"
#include "deepjet/evaluation/evaluate.hpp"
#include "deepjet/evaluation/json_writer.hpp"
#include "deepjet/evaluation/plots.hpp"

#include <cctype>
#include <cmath>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

namespace deepjet::evaluation {

namespace report_detail {

/// "b vs udsg" -> "b_vs_udsg".
inline std::string file_name_part(const std::string& name) {
  std::string part;
  for (const char c : name) part += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return part.empty() ? "grouping" : part;
}

/// A number for the HTML table: fixed decimals, locale-independent.
inline std::string fixed(double value, int decimals) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, decimals);
  return std::string(buffer, result.ptr);
}

/// A mistag rate for the table: three significant digits, scientific below 1 %.
inline std::string rate(double value) {
  char buffer[64];
  const auto result = value >= 0.01 || value == 0.0
                          ? std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, 4)
                          : std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific, 2);
  return std::string(buffer, result.ptr);
}

/// A cut value: four decimals, or the infinity sign (the working point selects nothing).
inline std::string threshold(double value) {
  if (!std::isfinite(value)) return "&infin;";
  return fixed(value, 4);
}

/// 0.85 -> "85 %", 0.625 -> "62.5 %", 0.001 -> "0.1 %".
inline std::string percent(double efficiency) {
  std::string text = fixed(efficiency * 100.0, 4);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text + " %";
}

/// One plot of the report: its file name, title and SVG text.
struct ReportPlot {
  std::string file_name;
  std::string heading;
  std::string svg;
};

inline std::vector<ReportPlot> make_plots(const EvaluationResults& results) {
  std::vector<ReportPlot> plots;
  std::vector<RocSeries> series;
  for (const GroupingResult& g : results.groupings) {
    series.push_back({g.grouping.name + " (AUC " + fixed(g.auc, 4) + ")", g.roc});
  }
  plots.push_back({"roc.svg", "ROC curves", svg(roc_plot("roc", "ROC curves", series, 1e-4, results.signal_efficiencies))});

  std::vector<std::string> used_names;
  for (std::size_t i = 0; i < results.groupings.size(); ++i) {
    const GroupingResult& g = results.groupings[i];
    std::string part = file_name_part(g.grouping.name);
    // Names that differ only in punctuation would share a file: number the later ones.
    if (std::find(used_names.begin(), used_names.end(), part) != used_names.end()) part += "_" + std::to_string(i + 1);
    used_names.push_back(part);
    const std::string title = g.grouping.name + ": " + g.discriminant;
    plots.push_back({"discriminant_" + part + ".svg", "Discriminant of " + g.grouping.name,
                     svg(histogram_plot("discriminant-" + part, title, g.discriminant, "fraction of jets per bin",
                                        g.histograms))});
  }
  // Efficiencies in bins of a spectator: per grouping and binning, one colour per working point,
  // signal solid, background dashed.
  for (std::size_t i = 0; i < results.groupings.size(); ++i) {
    const GroupingResult& g = results.groupings[i];
    // evaluate() stores them per binning, per working point: one plot per binning.
    const std::size_t per_binning = results.background_efficiencies.size();
    for (std::size_t first = 0; per_binning > 0 && first < g.binned_efficiencies.size(); first += per_binning) {
      const SpectatorBins& bins = g.binned_efficiencies[first].bins;
      const std::size_t last = std::min(first + per_binning, g.binned_efficiencies.size());
      const std::string variable = bins.absolute ? "|" + bins.spectator + "|" : bins.spectator;
      LinePlot plot;
      plot.id = "efficiency-" + used_names[i] + "-" + file_name_part(bins.spectator) + "-" + std::to_string(first);
      plot.title = g.grouping.name + ": efficiency vs " + variable;
      plot.x = Axis{variable, Scale::linear, bins.edges.front(), bins.edges.back()};
      plot.y = Axis{"efficiency at the working point's cut", Scale::logarithmic, 1e-4, 1.0};
      double smallest = 1.0;
      for (std::size_t k = first; k < last; ++k) {
        const BinnedEfficiency& e = g.binned_efficiencies[k];
        Curve signal{"signal, WP " + percent(e.working_point), {}, e.signal_efficiency, false, true,
                     static_cast<int>(k - first)};
        Curve background{"mistag, WP " + percent(e.working_point), {}, e.background_efficiency, true, true,
                         static_cast<int>(k - first)};
        for (std::size_t bin = 0; bin + 1 < bins.edges.size(); ++bin) {
          const double centre = 0.5 * (bins.edges[bin] + bins.edges[bin + 1]);
          signal.x.push_back(centre);
          background.x.push_back(centre);
          for (const double v : {e.signal_efficiency[bin], e.background_efficiency[bin]}) {
            if (v > 0.0) smallest = std::min(smallest, v);
          }
        }
        plot.curves.push_back(std::move(signal));
        plot.curves.push_back(std::move(background));
      }
      plot.y.min = std::max(1e-4, std::min(0.1, std::pow(10.0, std::floor(std::log10(smallest) + 1e-9))));
      std::string file = "efficiency_" + used_names[i] + "_" + file_name_part(bins.spectator) +
                         (bins.absolute ? "_abs" : "");
      // The same spectator binned twice: number the later plots.
      const auto taken = [&](const std::string& name) {
        return std::any_of(plots.begin(), plots.end(), [&](const ReportPlot& p) { return p.file_name == name; });
      };
      if (taken(file + ".svg")) file += "_" + std::to_string(first / per_binning + 1);
      plots.push_back({file + ".svg", g.grouping.name + ": efficiency vs " + variable, svg(plot)});
    }
  }

  const TrainingHistory& history = results.training;
  if (!history.training_loss.empty() || !history.validation_loss.empty()) {
    plots.push_back({"loss.svg", "Loss per epoch",
                     svg(history_plot("loss", "Loss per epoch", "loss", history.training_loss, history.validation_loss))});
  }
  if (!history.training_accuracy.empty() || !history.validation_accuracy.empty()) {
    plots.push_back({"accuracy.svg", "Accuracy per epoch",
                     svg(history_plot("accuracy", "Accuracy per epoch", "accuracy", history.training_accuracy,
                                      history.validation_accuracy))});
  }
  return plots;
}

}  // namespace report_detail

/// results.json's text (layout in the contract above).
inline std::string results_json(const EvaluationResults& results) {
  JsonWriter json;
  json.begin_object();
  json.key("title").value(results.title);
  json.key("deepjet_version").value(deepjet::version);
  json.key("classes").strings(results.class_names);
  json.key("cuts").begin_array();
  for (const Cut& cut : results.cuts) {
    json.begin_object();
    json.key("spectator").value(cut.spectator);
    json.key("min").value(cut.min);
    json.key("max").value(cut.max);
    json.key("absolute").value(cut.absolute);
    json.key("description").value(cut.description());
    json.end_object();
  }
  json.end_array();
  json.key("selection").value(describe(results.cuts));
  json.key("jets").begin_object().key("total").value(results.jets_total).key("selected").value(results.jets_selected).end_object();
  json.key("signal_efficiencies").numbers(results.signal_efficiencies);
  json.key("background_efficiencies").numbers(results.background_efficiencies);
  json.key("groupings").begin_array();
  for (const GroupingResult& g : results.groupings) {
    json.begin_object();
    json.key("name").value(g.grouping.name);
    json.key("signal_classes").strings(g.grouping.signal_classes);
    json.key("background_classes").strings(g.grouping.background_classes);
    json.key("numerator_classes").strings(g.grouping.numerator_classes);
    json.key("denominator_classes").strings(g.grouping.denominator_classes);
    json.key("discriminant").value(g.discriminant);
    json.key("signal_jets").value(g.signal_jets);
    json.key("background_jets").value(g.background_jets);
    json.key("auc").value(g.auc);
    json.key("mistag_rates").begin_array();
    for (const MistagRate& m : g.mistag_rates) {
      json.begin_object();
      json.key("signal_efficiency").value(m.signal_efficiency);
      json.key("background_efficiency").value(m.background_efficiency);
      json.key("threshold").value(m.threshold);
      json.end_object();
    }
    json.end_array();
    json.key("working_points").begin_array();
    for (const SignalEfficiency& w : g.working_points) {
      json.begin_object();
      json.key("background_efficiency").value(w.background_efficiency);
      json.key("signal_efficiency").value(w.signal_efficiency);
      json.key("threshold").value(w.threshold);
      json.end_object();
    }
    json.end_array();
    std::vector<double> thresholds, signal, background;
    for (const RocPoint& point : g.roc) {
      thresholds.push_back(point.threshold);
      signal.push_back(point.signal_efficiency);
      background.push_back(point.background_efficiency);
    }
    json.key("binned_efficiencies").begin_array();
    for (const BinnedEfficiency& e : g.binned_efficiencies) {
      json.begin_object();
      json.key("spectator").value(e.bins.spectator);
      json.key("absolute").value(e.bins.absolute);
      json.key("edges").numbers(e.bins.edges);
      json.key("working_point").value(e.working_point);
      json.key("threshold").value(e.threshold);
      json.key("signal_efficiency").numbers(e.signal_efficiency);
      json.key("background_efficiency").numbers(e.background_efficiency);
      json.end_object();
    }
    json.end_array();
    json.key("roc").begin_object();
    json.key("points_total").value(g.roc_points_total);
    json.key("threshold").numbers(thresholds);
    json.key("signal_efficiency").numbers(signal);
    json.key("background_efficiency").numbers(background);
    json.end_object();
    json.end_object();
  }
  json.end_array();
  if (!results.training.empty()) {
    json.key("training").begin_object();
    json.key("training_loss").numbers(results.training.training_loss);
    json.key("validation_loss").numbers(results.training.validation_loss);
    json.key("training_accuracy").numbers(results.training.training_accuracy);
    json.key("validation_accuracy").numbers(results.training.validation_accuracy);
    json.end_object();
  }
  json.end_object();
  return json.finish();
}

/// report.html's text, with the given plots inlined.
inline std::string report_html(const EvaluationResults& results, const std::vector<report_detail::ReportPlot>& plots) {
  using report_detail::fixed;
  const std::string title = escape_xml(results.title);
  std::string html;
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + title + "</title>\n";
  html += "<style>\n"
          "body { font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 780px; color: #222; }\n"
          "table { border-collapse: collapse; margin: 1em 0; }\n"
          "th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }\n"
          "th { background: #f3f3f3; } td.name, th.name { text-align: left; }\n"
          "figure { margin: 1.5em 0; } figcaption { font-weight: bold; margin-bottom: 0.3em; }\n"
          "code { background: #f6f6f6; padding: 0 0.2em; }\n"
          "svg { max-width: 100%; height: auto; }\n"
          "</style>\n</head>\n<body>\n";
  html += "<h1>" + title + "</h1>\n";
  html += "<p>deepjet " + std::string(deepjet::version) + ". Jets: " + std::to_string(results.jets_selected) + " of " +
          std::to_string(results.jets_total) + " pass the selection <code>" + escape_xml(describe(results.cuts)) +
          "</code>.</p>\n";

  html += "<h2>Summary</h2>\n<table>\n<tr><th class=\"name\">grouping</th><th class=\"name\">discriminant</th>"
          "<th>signal jets</th><th>background jets</th><th>AUC</th>";
  for (const double efficiency : results.signal_efficiencies) {
    html += "<th>mistag at " + escape_xml(report_detail::percent(efficiency)) + "</th>";
  }
  html += "</tr>\n";
  for (const GroupingResult& g : results.groupings) {
    html += "<tr><td class=\"name\">" + escape_xml(g.grouping.name) + "</td><td class=\"name\"><code>" +
            escape_xml(g.discriminant) + "</code></td><td>" + fixed(g.signal_jets, 1) + "</td><td>" +
            fixed(g.background_jets, 1) + "</td><td>" + fixed(g.auc, 4) + "</td>";
    for (const MistagRate& m : g.mistag_rates) html += "<td>" + report_detail::rate(m.background_efficiency) + "</td>";
    html += "</tr>\n";
  }
  html += "</table>\n";
  html += "<p>Signal and background jets are sums of truth fractions. The mistag rate is the background "
          "efficiency at the given signal efficiency, interpolated linearly on the exact ROC curve.</p>\n";

  if (!results.background_efficiencies.empty()) {
    html += "<h2>Working points</h2>\n<table>\n<tr><th class=\"name\">grouping</th>";
    for (const double efficiency : results.background_efficiencies) {
      html += "<th>mistag " + escape_xml(report_detail::percent(efficiency)) + "</th>";
    }
    html += "</tr>\n";
    for (const GroupingResult& g : results.groupings) {
      html += "<tr><td class=\"name\">" + escape_xml(g.grouping.name) + "</td>";
      for (const SignalEfficiency& w : g.working_points) {
        html += "<td>" + fixed(w.signal_efficiency, 4) + " <small>(d &ge; " + report_detail::threshold(w.threshold) +
                ")</small></td>";
      }
      html += "</tr>\n";
    }
    html += "</table>\n";
    html += "<p>Signal efficiency at a fixed mistag rate (CMS's loose, medium and tight b-tagging working points "
            "are at 10 %, 1 % and 0.1 % light-jet mistag rate), and the cut on the discriminant d that "
            "reaches it: the loosest whose mistag rate stays within the target.</p>\n";
  }
  html += "<p>All numbers are also in <code>results.json</code>.</p>\n";

  html += "<h2>Plots</h2>\n";
  for (const report_detail::ReportPlot& plot : plots) {
    html += "<figure>\n<figcaption>" + escape_xml(plot.heading) + " <small>(" + escape_xml(plot.file_name) +
            ")</small></figcaption>\n" + plot.svg + "</figure>\n";
  }
  html += "</body>\n</html>\n";
  return html;
}

/// Write the report into `directory` (see the contract at the top); returns the paths written.
inline std::vector<std::filesystem::path> write_report(const std::filesystem::path& directory,
                                                       const EvaluationResults& results) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) throw FileError(directory.string(), "cannot create the report directory: " + error.message());

  const std::vector<report_detail::ReportPlot> plots = report_detail::make_plots(results);
  std::vector<std::filesystem::path> written;
  for (const report_detail::ReportPlot& plot : plots) {
    written.push_back(directory / plot.file_name);
    write_text_file(written.back(), plot.svg);
  }
  written.push_back(directory / "results.json");
  write_text_file(written.back(), results_json(results));
  written.push_back(directory / "report.html");
  write_text_file(written.back(), report_html(results, plots));
  return written;
}

}  // namespace deepjet::evaluation
