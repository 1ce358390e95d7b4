// deepjet/evaluation/plots.hpp: small, dependency-free SVG plots.
//
// Contract: svg(plot) draws a LinePlot (curves of x/y points on linear or logarithmic axes, with
// ticks, tick labels, axis labels, a title and a legend right of the plot area) as a complete
// <svg> element, without an XML prologue, so the same text is both a standalone .svg file and
// inline SVG in HTML. The output depends only on the input (numbers are written with
// std::to_chars, which ignores the locale): the same plot gives the same bytes. Every number
// written is finite: non-finite points are skipped, and on a logarithmic axis values <= 0 are
// drawn below the axis, where the plot area's clip path hides them. A plot's `id` prefixes the
// ids inside it; give plots that share an HTML page different ids.
//
// Ready-made plots:
//   roc_plot         signal efficiency (linear x) vs background efficiency (log y), one curve each
//   history_plot     a metric per epoch, training and validation (e.g. loss, accuracy)
//   histogram_plot   normalised histograms drawn as step lines, one per truth class
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/evaluation/roc.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace deepjet::evaluation {

/// Text made safe for XML and HTML content and attribute values.
inline std::string escape_xml(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      case '\'': escaped += "&#39;"; break;
      default: escaped += c;
    }
  }
  return escaped;
}

/// One line of a plot.
struct Curve {
  std::string label;  ///< legend text
  std::vector<double> x;
  std::vector<double> y;
  bool dashed = false;
  bool markers = false;  ///< a dot on every point (few points: epochs)
  int colour = -1;       ///< index into the palette; -1: the curve's position in the plot
};

enum class Scale { linear, logarithmic };

/// One axis. Limits left NaN are taken from the data.
struct Axis {
  std::string label;
  Scale scale = Scale::linear;
  double min = std::numeric_limits<double>::quiet_NaN();
  double max = std::numeric_limits<double>::quiet_NaN();
  bool integer_ticks = false;  ///< linear ticks at whole numbers only (epochs)
};

struct LinePlot {
  std::string id = "plot";  ///< prefix of the ids inside the SVG (letters, digits, '-', '_')
  std::string title;
  Axis x;
  Axis y;
  std::vector<Curve> curves;
  std::vector<double> x_references;  ///< dotted vertical lines (e.g. the quoted working points)
};

namespace plot_detail {

inline constexpr double height = 440;
inline constexpr double left = 78, right = 540, top = 42, bottom = 380;  // the plot area
inline constexpr std::array<std::string_view, 10> palette{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                                           "#8c564b", "#e377c2", "#7f7f7f", "#17becf", "#bcbd22"};

/// A coordinate: fixed, two decimals.
inline std::string coordinate(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, 2);
  return std::string(buffer, result.ptr);
}

/// A tick label: as few decimals as the tick spacing needs.
inline std::string tick_label(double value, double step) {
  int decimals = 0;
  while (decimals < 8 && std::fabs(step * std::pow(10.0, decimals) - std::round(step * std::pow(10.0, decimals))) > 1e-6) {
    ++decimals;
  }
  if (std::fabs(value) < step * 1e-9) value = 0.0;  // no "-0"
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, decimals);
  return std::string(buffer, result.ptr);
}

/// A "nice" tick spacing (1, 2 or 5 times a power of ten): the largest that still gives at least
/// four ticks over `span` (at most about ten).
inline double nice_step(double span) {
  const double power = std::pow(10.0, std::floor(std::log10(span)));
  for (const double step : {power, power / 2, power / 5, power / 10, power / 20}) {
    if (span / step >= 3.999999) return step;
  }
  return power / 50;
}

/// An axis with its limits settled, mapping values to pixels.
struct Mapping {
  Scale scale;
  bool integer_ticks;
  double low, high;            // data limits (positive when logarithmic)
  double pixel_low, pixel_high;

  double transform(double value) const {
    if (scale == Scale::linear) return value;
    // Values <= 0 go three decades below the axis: outside the clip path, still finite.
    return value > 0.0 ? std::log10(value) : std::log10(low) - 3.0;
  }
  double pixel(double value) const {
    const double a = transform(low), b = transform(high);
    double t = (transform(value) - a) / (b - a);
    t = std::clamp(t, -10.0, 11.0);  // far outside values stay finite and clipped
    return pixel_low + t * (pixel_high - pixel_low);
  }
};

/// Settle the limits of one axis from the data when the user left them open.
inline Mapping settle(const Axis& axis, const std::vector<Curve>& curves, bool is_x, double pixel_low,
                      double pixel_high) {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  for (const Curve& curve : curves) {
    for (const double v : is_x ? curve.x : curve.y) {
      if (!std::isfinite(v) || (axis.scale == Scale::logarithmic && v <= 0.0)) continue;
      low = std::min(low, v);
      high = std::max(high, v);
    }
  }
  if (!std::isfinite(low)) {  // no usable data
    low = axis.scale == Scale::logarithmic ? 1e-3 : 0.0;
    high = 1.0;
  }
  if (axis.scale == Scale::logarithmic) {
    // Whole decades.
    low = std::pow(10.0, std::floor(std::log10(low) + 1e-9));
    high = std::pow(10.0, std::ceil(std::log10(high) - 1e-9));
  } else {
    if (high == low) {
      low -= 0.5;
      high += 0.5;
    }
    const double padding = 0.05 * (high - low);
    low -= padding;
    high += padding;
  }
  if (std::isfinite(axis.min)) low = axis.min;
  if (std::isfinite(axis.max)) high = axis.max;
  if (!(high > low) || (axis.scale == Scale::logarithmic && !(low > 0.0))) {
    throw Error("deepjet::evaluation: plot axis '" + axis.label + "' has invalid limits [" + coordinate(low) + ", " +
                coordinate(high) + "]");
  }
  if (axis.scale == Scale::logarithmic && high / low < 10.0) high = low * 10.0;
  return Mapping{axis.scale, axis.integer_ticks, low, high, pixel_low, pixel_high};
}

/// "10" with a raised exponent.
inline std::string power_of_ten_label(int exponent) {
  if (exponent == 0) return "1";
  if (exponent == 1) return "10";
  return "10<tspan dy=\"-6\" font-size=\"9\">" + std::to_string(exponent) + "</tspan>";
}

}  // namespace plot_detail

/// The plot as a complete <svg> element.
inline std::string svg(const LinePlot& plot) {
  using namespace plot_detail;
  for (const Curve& curve : plot.curves) {
    if (curve.x.size() != curve.y.size()) {
      throw Error("deepjet::evaluation: plot '" + plot.title + "': curve '" + curve.label + "' has " +
                  std::to_string(curve.x.size()) + " x values but " + std::to_string(curve.y.size()) + " y values");
    }
  }
  // The canvas grows to the right to fit the legend (about 7 pixels per character at 12 px).
  std::size_t longest_label = 0;
  for (const Curve& curve : plot.curves) longest_label = std::max(longest_label, curve.label.size());
  const double width = std::max(720.0, right + 58.0 + 7.0 * static_cast<double>(longest_label));
  const Mapping mx = settle(plot.x, plot.curves, true, left, right);
  const Mapping my = settle(plot.y, plot.curves, false, bottom, top);
  const std::string clip = escape_xml(plot.id) + "-area";

  std::string out;
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + coordinate(width) + "\" height=\"" +
         coordinate(height) + "\" viewBox=\"0 0 " + coordinate(width) + " " + coordinate(height) +
         "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
  out += "<rect x=\"0\" y=\"0\" width=\"" + coordinate(width) + "\" height=\"" + coordinate(height) +
         "\" fill=\"white\"/>\n";
  out += "<defs><clipPath id=\"" + clip + "\"><rect x=\"" + coordinate(left) + "\" y=\"" + coordinate(top) +
         "\" width=\"" + coordinate(right - left) + "\" height=\"" + coordinate(bottom - top) +
         "\"/></clipPath></defs>\n";
  out += "<text x=\"" + coordinate((left + right) / 2) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" +
         escape_xml(plot.title) + "</text>\n";

  // Grid lines and ticks: x, then y.
  auto vertical = [&](double x, bool major) {
    out += "<line x1=\"" + coordinate(x) + "\" y1=\"" + coordinate(top) + "\" x2=\"" + coordinate(x) + "\" y2=\"" +
           coordinate(bottom) + "\" stroke=\"" + (major ? "#dddddd" : "#f0f0f0") + "\"/>\n";
    out += "<line x1=\"" + coordinate(x) + "\" y1=\"" + coordinate(bottom) + "\" x2=\"" + coordinate(x) + "\" y2=\"" +
           coordinate(bottom + (major ? 6 : 3)) + "\" stroke=\"black\"/>\n";
  };
  auto horizontal = [&](double y, bool major) {
    out += "<line x1=\"" + coordinate(left) + "\" y1=\"" + coordinate(y) + "\" x2=\"" + coordinate(right) + "\" y2=\"" +
           coordinate(y) + "\" stroke=\"" + (major ? "#dddddd" : "#f0f0f0") + "\"/>\n";
    out += "<line x1=\"" + coordinate(left - (major ? 6 : 3)) + "\" y1=\"" + coordinate(y) + "\" x2=\"" +
           coordinate(left) + "\" y2=\"" + coordinate(y) + "\" stroke=\"black\"/>\n";
  };
  auto x_label = [&](double x, const std::string& text) {
    out += "<text x=\"" + coordinate(x) + "\" y=\"" + coordinate(bottom + 20) + "\" text-anchor=\"middle\">" + text +
           "</text>\n";
  };
  auto y_label = [&](double y, const std::string& text) {
    out += "<text x=\"" + coordinate(left - 9) + "\" y=\"" + coordinate(y + 4) + "\" text-anchor=\"end\">" + text +
           "</text>\n";
  };
  auto ticks = [&](const Mapping& m, auto line, auto label) {
    const double tolerance = 1e-9 * (m.high - m.low);
    if (m.scale == Scale::linear) {
      const double step = m.integer_ticks ? std::max(1.0, nice_step(m.high - m.low)) : nice_step(m.high - m.low);
      for (double k = std::ceil(m.low / step - 1e-9); k * step <= m.high + tolerance; k += 1.0) {
        const double value = k * step;
        line(m.pixel(value), true);
        label(m.pixel(value), tick_label(value, step));
      }
    } else {
      const int first = static_cast<int>(std::floor(std::log10(m.low) + 1e-9));
      const int last = static_cast<int>(std::ceil(std::log10(m.high) - 1e-9));
      for (int exponent = first; exponent <= last; ++exponent) {
        const double decade = std::pow(10.0, exponent);
        if (decade >= m.low * (1 - 1e-9) && decade <= m.high * (1 + 1e-9)) {
          line(m.pixel(decade), true);
          label(m.pixel(decade), power_of_ten_label(exponent));
        }
        for (int factor = 2; factor <= 9; ++factor) {
          const double value = factor * decade;
          if (value > m.low && value < m.high) line(m.pixel(value), false);
        }
      }
    }
  };
  ticks(mx, vertical, x_label);
  ticks(my, horizontal, y_label);

  for (const double x : plot.x_references) {
    if (!std::isfinite(x) || x < mx.low || x > mx.high) continue;
    out += "<line x1=\"" + coordinate(mx.pixel(x)) + "\" y1=\"" + coordinate(top) + "\" x2=\"" +
           coordinate(mx.pixel(x)) + "\" y2=\"" + coordinate(bottom) +
           "\" stroke=\"#888888\" stroke-dasharray=\"2,3\"/>\n";
  }

  // The curves, clipped to the plot area.
  out += "<g clip-path=\"url(#" + clip + ")\" fill=\"none\" stroke-width=\"1.8\" stroke-linejoin=\"round\">\n";
  for (std::size_t c = 0; c < plot.curves.size(); ++c) {
    const Curve& curve = plot.curves[c];
    const std::string_view colour = palette[static_cast<std::size_t>(curve.colour >= 0 ? curve.colour : static_cast<int>(c)) % palette.size()];
    std::string points;
    std::string dots;
    for (std::size_t i = 0; i < curve.x.size(); ++i) {
      if (!std::isfinite(curve.x[i]) || !std::isfinite(curve.y[i])) continue;
      const std::string px = coordinate(mx.pixel(curve.x[i]));
      const std::string py = coordinate(my.pixel(curve.y[i]));
      points += (points.empty() ? "" : " ") + px + "," + py;
      if (curve.markers) dots += "<circle cx=\"" + px + "\" cy=\"" + py + "\" r=\"3\" fill=\"" + std::string(colour) + "\"/>\n";
    }
    if (points.empty()) continue;
    out += "<polyline stroke=\"" + std::string(colour) + "\"" +
           (curve.dashed ? " stroke-dasharray=\"6,4\"" : "") + " points=\"" + points + "\"/>\n" + dots;
  }
  out += "</g>\n";

  // Frame and axis labels.
  out += "<rect x=\"" + coordinate(left) + "\" y=\"" + coordinate(top) + "\" width=\"" + coordinate(right - left) +
         "\" height=\"" + coordinate(bottom - top) + "\" fill=\"none\" stroke=\"black\"/>\n";
  out += "<text x=\"" + coordinate((left + right) / 2) + "\" y=\"" + coordinate(bottom + 44) +
         "\" text-anchor=\"middle\" font-size=\"13\">" + escape_xml(plot.x.label) + "</text>\n";
  const std::string y_centre = coordinate((top + bottom) / 2);
  out += "<text x=\"20\" y=\"" + y_centre + "\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 20 " +
         y_centre + ")\">" + escape_xml(plot.y.label) + "</text>\n";

  // Legend, right of the plot area.
  double legend_y = top + 8;
  for (std::size_t c = 0; c < plot.curves.size(); ++c) {
    const Curve& curve = plot.curves[c];
    if (curve.label.empty()) continue;
    const std::string_view colour = palette[static_cast<std::size_t>(curve.colour >= 0 ? curve.colour : static_cast<int>(c)) % palette.size()];
    out += "<line x1=\"" + coordinate(right + 14) + "\" y1=\"" + coordinate(legend_y) + "\" x2=\"" +
           coordinate(right + 40) + "\" y2=\"" + coordinate(legend_y) + "\" stroke=\"" + std::string(colour) +
           "\" stroke-width=\"2.2\"" + (curve.dashed ? " stroke-dasharray=\"6,4\"" : "") + "/>\n";
    out += "<text x=\"" + coordinate(right + 46) + "\" y=\"" + coordinate(legend_y + 4) + "\">" +
           escape_xml(curve.label) + "</text>\n";
    legend_y += 20;
  }
  out += "</svg>\n";
  return out;
}

/// A ROC plot: one curve per (label, compact ROC points). The mistag axis starts at the decade
/// below the smallest non-zero mistag rate, but no lower than `lowest_mistag`; dotted vertical
/// lines mark the signal efficiencies in `working_points`.
struct RocSeries {
  std::string label;
  std::vector<RocPoint> points;
  bool dashed = false;
};
inline LinePlot roc_plot(std::string id, std::string title, const std::vector<RocSeries>& series,
                         double lowest_mistag = 1e-4, std::vector<double> working_points = {}) {
  LinePlot plot;
  plot.x_references = std::move(working_points);
  plot.id = std::move(id);
  plot.title = std::move(title);
  plot.x = Axis{"signal efficiency", Scale::linear, 0.0, 1.0};
  plot.y = Axis{"background efficiency (mistag rate)", Scale::logarithmic};
  double smallest = 1.0;
  for (const RocSeries& s : series) {
    Curve curve{s.label, {}, {}, s.dashed};
    for (const RocPoint& point : s.points) {
      curve.x.push_back(point.signal_efficiency);
      curve.y.push_back(point.background_efficiency);
      if (point.background_efficiency > 0.0) smallest = std::min(smallest, point.background_efficiency);
    }
    plot.curves.push_back(std::move(curve));
  }
  plot.y.min = std::max(lowest_mistag, std::pow(10.0, std::floor(std::log10(smallest) + 1e-9)));
  if (plot.y.min >= 1.0) plot.y.min = 0.1;
  plot.y.max = 1.0;
  return plot;
}

/// A metric per epoch (1, 2, ...): training solid, validation dashed; either may be empty.
inline LinePlot history_plot(std::string id, std::string title, std::string metric,
                             const std::vector<double>& training, const std::vector<double>& validation) {
  LinePlot plot;
  plot.id = std::move(id);
  plot.title = std::move(title);
  plot.x = Axis{"epoch"};
  plot.x.integer_ticks = true;
  plot.y = Axis{std::move(metric)};
  auto add = [&](const std::vector<double>& values, std::string label, bool dashed, int colour) {
    if (values.empty()) return;
    Curve curve{std::move(label), {}, values, dashed, true, colour};
    for (std::size_t i = 0; i < values.size(); ++i) curve.x.push_back(static_cast<double>(i + 1));
    plot.curves.push_back(std::move(curve));
  };
  add(training, "training", false, 0);
  add(validation, "validation", true, 1);
  const std::size_t epochs = std::max(training.size(), validation.size());
  plot.x.min = 1.0 - 0.05 * static_cast<double>(std::max<std::size_t>(epochs, 2) - 1);
  plot.x.max = static_cast<double>(std::max<std::size_t>(epochs, 2)) + 0.05 * static_cast<double>(std::max<std::size_t>(epochs, 2) - 1);
  return plot;
}

/// One histogram: `edges` has one more entry than `contents`.
struct Histogram {
  std::string label;
  std::vector<double> edges;
  std::vector<double> contents;
  int colour = -1;  ///< index into the palette; -1: the histogram's position in the plot
};
/// Histograms as step lines (each outline starts and ends at 0), on a logarithmic y axis when
/// `log_y`; the y axis then starts at the decade of the smallest non-zero content, but no lower
/// than `lowest`.
inline LinePlot histogram_plot(std::string id, std::string title, std::string x_label, std::string y_label,
                               const std::vector<Histogram>& histograms, bool log_y = true, double lowest = 1e-4) {
  LinePlot plot;
  plot.id = std::move(id);
  plot.title = std::move(title);
  plot.x = Axis{std::move(x_label)};
  plot.y = Axis{std::move(y_label), log_y ? Scale::logarithmic : Scale::linear};
  double smallest = std::numeric_limits<double>::infinity();
  double largest = 0.0;
  for (const Histogram& h : histograms) {
    if (h.edges.size() != h.contents.size() + 1) {
      throw Error("deepjet::evaluation: histogram '" + h.label + "' has " + std::to_string(h.edges.size()) +
                  " edges for " + std::to_string(h.contents.size()) + " bins");
    }
    Curve curve;
    curve.label = h.label;
    curve.colour = h.colour;
    for (std::size_t i = 0; i < h.contents.size(); ++i) {
      const double previous = i == 0 ? 0.0 : h.contents[i - 1];
      curve.x.insert(curve.x.end(), {h.edges[i], h.edges[i]});
      curve.y.insert(curve.y.end(), {previous, h.contents[i]});
      if (h.contents[i] > 0.0) smallest = std::min(smallest, h.contents[i]);
      largest = std::max(largest, h.contents[i]);
    }
    if (!h.contents.empty()) {
      curve.x.insert(curve.x.end(), {h.edges.back(), h.edges.back()});
      curve.y.insert(curve.y.end(), {h.contents.back(), 0.0});
      plot.x.min = std::isfinite(plot.x.min) ? std::min(plot.x.min, h.edges.front()) : h.edges.front();
      plot.x.max = std::isfinite(plot.x.max) ? std::max(plot.x.max, h.edges.back()) : h.edges.back();
    }
    plot.curves.push_back(std::move(curve));
  }
  if (log_y && std::isfinite(smallest)) {
    plot.y.min = std::max(lowest, std::pow(10.0, std::floor(std::log10(smallest) + 1e-9)));
    plot.y.max = std::pow(10.0, std::ceil(std::log10(largest) - 1e-9));
    if (plot.y.max <= plot.y.min) plot.y.max = plot.y.min * 10.0;
  } else if (!log_y) {
    plot.y.min = 0.0;
    plot.y.max = largest > 0.0 ? largest * 1.1 : 1.0;
  }
  if (plot.x.min == plot.x.max) plot.x.max = plot.x.min + 1.0;
  return plot;
}

}  // namespace deepjet::evaluation
