// deepjet/data/weighter.hpp: class reweighting in (pT, eta), like DeepJetCore's Weighter.
//
// Contract. A Weighter fills one 2D (pT, eta) histogram per truth class over all training jets
// (add(), batch by batch, streaming over every source; merge() joins weighters filled in parallel),
// then finish() turns the histograms into one weight table per class. From then on it is
// read-only: weight(), weights(), keep_probability() and resample() may be called from many
// threads at once, and to_text() / from_text() store it exactly (bit for bit), so the weighter
// measured on the training sources is reused unchanged at prediction time.
//
// Notation: n_c(b) is class c's histogram (summed truth fractions, see below) in bin b,
// N_c = sum_b n_c(b) its jets, p_c(b) = n_c(b) / N_c its normalised spectrum. finish() sets, for every
// bin where class c has jets,
//     W_c(b) = T_c(b) / p_c(b) = N_c * T_c(b) / n_c(b)
// with the target spectrum T_c chosen by the mode:
//   flatten          T_c(b) = 1 / B_c, B_c = the number of bins class c populates: every populated
//                    bin then holds the same weighted number of class-c jets, N_c / B_c.
//   flatten_density  T_c(b) = area(b) / A_c, A_c = the summed (pT x eta) area of those bins: the
//                    weighted density per GeV per unit eta is flat (DeepJetCore's 'flatten', whose
//                    histograms are densities; with DeepJet's unequal pT bins the two differ).
//   reference        T_c(b) = p_ref(b): every class takes the reference class's spectrum; the
//                    reference class itself has weight 1 everywhere.
// Because T_c sums to 1 over the bins class c populates, each class keeps its number of jets
// (sum of its weights = N_c): reweighting changes shapes, never class fractions, and in the
// flatten modes the mean weight over all jets that have a class is exactly 1. (In reference mode a
// class loses the part of the reference spectrum that lies in bins it does not populate.)
//
// Choices (also in docs/weighter.md):
// - Bins are [low, high). Values below the first edge fall in the first bin, values at or above
//   the last edge in the last bin (clamped: a 3 TeV jet counts as 600-2000 GeV). NaN pT or eta is
//   an error.
// - A bin where class c has no jets gets W_c = 0: no training jet needs a weight there, and a jet
//   that lands there later (prediction) has no estimate. A bin where c has jets but the reference
//   class has none gets W_c = 0 too: those jets are dropped, the reference says none belong there.
// - Truth rows need not be one-hot (a class is a sum of flags). A jet with truth row t counts as
//   the fractions f_c = t_c / sum(t) of one jet: it adds f_c to class c's histogram, its weight is
//   sum_c f_c W_c(b) and its keep probability sum_c f_c K_c(b). For a one-hot or summed-to-one row
//   f = t; normalising means a jet whose flags add up to 2 (say isBB and isGBB both set) still
//   counts once. A jet whose row is all zero belongs to no class: it is counted apart, adds
//   nothing, and gets weight 0 and keep probability 0. Negative or non-finite truth is an error.
// - Resampling: K_c(b) = W_c(b) / max_b W_c(b) in [0, 1]; resample() keeps each jet with its
//   keep probability, one Random::uniform() draw per jet (so the draws do not depend on the
//   tables), and the kept jets, unweighted, follow the mode's target spectrum. In reference mode
//   the reference class keeps every jet.
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/core/random.hpp"
#include "deepjet/data/blocks.hpp"

#include <xtensor/xtensor.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace deepjet::data {

/// What finish() makes the classes' (pT, eta) spectra into (see the contract above).
enum class WeightMode { flatten, flatten_density, reference };

inline std::string_view weight_mode_name(WeightMode mode) {
  switch (mode) {
    case WeightMode::flatten: return "flatten";
    case WeightMode::flatten_density: return "flatten_density";
    case WeightMode::reference: return "reference";
  }
  return "?";
}

/// The index of spectator `name` in the spectator block S (the column of JetBatch::spectators).
template <Spectators S>
std::size_t spectator_column(std::string_view name) {
  for (std::size_t i = 0; i < S::branches.size(); ++i)
    if (S::branches[i] == name) return i;
  std::string known;
  for (std::string_view branch : S::branches) known += (known.empty() ? "" : ", ") + std::string(branch);
  throw Error("weighter: no spectator '" + std::string(name) + "' (spectators: " + (known.empty() ? "none" : known) +
              ")");
}

struct WeighterConfig {
  /// Class names, in the truth row's order; no spaces (they are words of the stored text).
  std::vector<std::string> classes;
  WeightMode mode = WeightMode::reference;
  /// The class the others are reshaped to (reference mode only; the weighter clears it in the
  /// other modes, so that it neither matters to merge() nor needs storing).
  std::string reference_class = "b";
  /// DeepJet's bins: pT in GeV, 19 bins finer where most jets are; eta with one central bin
  /// |eta| < 0.5 and bins of 0.5 outside it, as DeepJet's TrainData.
  std::vector<double> pt_edges{10,  25,  30,  35,  40,  45,  50,  60,  75,  100,
                               125, 150, 175, 200, 250, 300, 400, 500, 600, 2000};
  std::vector<double> eta_edges{-2.5, -2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0, 2.5};
  /// Columns of the spectator rows holding pT and eta.
  std::size_t pt_column = 0;
  std::size_t eta_column = 1;

  bool operator==(const WeighterConfig&) const = default;

  /// The classes of Format's truth and the pT / eta columns of its spectators, found by name.
  template <class Format>
  static WeighterConfig for_format(WeightMode mode, std::string reference_class = "b",
                                   std::string_view pt_spectator = "jet_pt",
                                   std::string_view eta_spectator = "jet_eta") {
    WeighterConfig config;
    for (const ClassSpec& c : Format::truth::classes) config.classes.emplace_back(c.name);
    config.mode = mode;
    config.reference_class = std::move(reference_class);
    config.pt_column = spectator_column<typename Format::spectators>(pt_spectator);
    config.eta_column = spectator_column<typename Format::spectators>(eta_spectator);
    return config;
  }
};

class Weighter {
 public:
  explicit Weighter(WeighterConfig config) : config_(std::move(config)) {
    validate(config_);
    if (config_.mode != WeightMode::reference) config_.reference_class.clear();
    const std::size_t bins = bin_count();
    histograms_.assign(config_.classes.size(), std::vector<double>(bins, 0.0));
    if (config_.mode == WeightMode::reference)
      reference_index_ = static_cast<std::size_t>(
          std::find(config_.classes.begin(), config_.classes.end(), config_.reference_class) - config_.classes.begin());
  }

  const WeighterConfig& config() const { return config_; }
  std::size_t class_count() const { return config_.classes.size(); }
  std::size_t pt_bins() const { return config_.pt_edges.size() - 1; }
  std::size_t eta_bins() const { return config_.eta_edges.size() - 1; }
  /// Histograms and tables are pT-major: bin = pt_bin * eta_bins() + eta_bin.
  std::size_t bin_count() const { return pt_bins() * eta_bins(); }
  bool finished() const { return finished_; }

  /// The clamped bin of a value (see the contract).
  std::size_t pt_bin(double pt) const { return clamped_bin(config_.pt_edges, pt, "pT"); }
  std::size_t eta_bin(double eta) const { return clamped_bin(config_.eta_edges, eta, "eta"); }
  std::size_t bin(double pt, double eta) const { return pt_bin(pt) * eta_bins() + eta_bin(eta); }

  /// Jets added, and those among them whose truth row was all zero.
  std::uint64_t jets() const { return jets_; }
  std::uint64_t jets_without_class() const { return jets_without_class_; }
  /// N_c: class c's summed truth fractions.
  double class_jets(std::size_t c) const {
    check_class(c);
    double sum = 0;
    for (double n : histograms_[c]) sum += n;
    return sum;
  }
  /// n_c(b), per bin.
  const std::vector<double>& histogram(std::size_t c) const {
    check_class(c);
    return histograms_[c];
  }
  /// W_c(b), per bin (after finish()).
  const std::vector<double>& weight_table(std::size_t c) const {
    check_finished("weight_table");
    check_class(c);
    return weights_[c];
  }

  // ---- filling ----

  /// Adds a batch: truth (jets, classes) and spectators (jets, S) as in JetBatch.
  void add(const xt::xtensor<float, 2>& truth, const xt::xtensor<float, 2>& spectators) {
    check_batch_shapes(truth.shape(0), truth.shape(1), spectators.shape(0), spectators.shape(1));
    add_rows(std::span<const float>(truth.data(), truth.size()),
             std::span<const float>(spectators.data(), spectators.size()), truth.shape(0), spectators.shape(1));
  }
  /// Adds a batch of row-major values: `jets` truth rows of class_count() values and `jets`
  /// spectator rows of `spectator_count` values (the converter's flat buffers).
  void add(std::span<const float> truth, std::span<const float> spectators, std::size_t jets,
           std::size_t spectator_count) {
    check_flat_sizes(truth.size(), spectators.size(), jets, spectator_count);
    add_rows(truth, spectators, jets, spectator_count);
  }

  /// Adds another weighter's histograms (filled in another thread, on other sources).
  void merge(const Weighter& other) {
    if (finished_ || other.finished_) throw Error("weighter: merge needs two unfinished weighters");
    if (!(other.config_ == config_)) throw Error("weighter: merge of weighters with different configurations");
    for (std::size_t c = 0; c < class_count(); ++c)
      for (std::size_t b = 0; b < bin_count(); ++b) histograms_[c][b] += other.histograms_[c][b];
    jets_ += other.jets_;
    jets_without_class_ += other.jets_without_class_;
  }

  /// Computes the weight tables from the histograms; no add() afterwards.
  void finish() {
    if (finished_) throw Error("weighter: finish() called twice");
    if (config_.mode == WeightMode::reference && class_jets(reference_index_) <= 0)
      throw Error("weighter: the reference class '" + config_.reference_class +
                  "' has no jets; its spectrum cannot be a target");
    weights_.assign(class_count(), std::vector<double>(bin_count(), 0.0));
    const double reference_jets = config_.mode == WeightMode::reference ? class_jets(reference_index_) : 0.0;
    for (std::size_t c = 0; c < class_count(); ++c) {
      const std::vector<double>& n = histograms_[c];
      std::vector<double>& w = weights_[c];
      if (config_.mode == WeightMode::reference && c == reference_index_) {
        std::fill(w.begin(), w.end(), 1.0);  // the reference keeps its jets as they are
        continue;
      }
      const double class_total = class_jets(c);
      double populated_bins = 0, populated_area = 0;
      for (std::size_t b = 0; b < bin_count(); ++b)
        if (n[b] > 0) {
          populated_bins += 1;
          populated_area += bin_area(b);
        }
      for (std::size_t b = 0; b < bin_count(); ++b) {
        if (n[b] <= 0) continue;  // no jet of this class here: nothing to weight
        double target = 0;        // T_c(b)
        switch (config_.mode) {
          case WeightMode::flatten: target = 1.0 / populated_bins; break;
          case WeightMode::flatten_density: target = bin_area(b) / populated_area; break;
          case WeightMode::reference: target = histograms_[reference_index_][b] / reference_jets; break;
        }
        w[b] = class_total * target / n[b];
      }
    }
    compute_largest_weights();
    finished_ = true;
  }

  // ---- using the tables ----

  /// One jet's weight: sum_c f_c W_c(bin); 0 for an all-zero truth row.
  float weight(std::span<const float> truth_row, float pt, float eta) const {
    check_finished("weight");
    check_row_size(truth_row.size());
    return static_cast<float>(combine(weights_, truth_row, bin(pt, eta), single_jet, false));
  }
  /// One jet's keep probability for resampling: sum_c f_c W_c(bin) / max W_c, in [0, 1].
  float keep_probability(std::span<const float> truth_row, float pt, float eta) const {
    check_finished("keep_probability");
    check_row_size(truth_row.size());
    return static_cast<float>(combine(weights_, truth_row, bin(pt, eta), single_jet, true));
  }

  /// Per-jet weights of a batch.
  std::vector<float> weights(const xt::xtensor<float, 2>& truth, const xt::xtensor<float, 2>& spectators) const {
    check_batch_shapes(truth.shape(0), truth.shape(1), spectators.shape(0), spectators.shape(1));
    return per_jet(std::span<const float>(truth.data(), truth.size()),
                   std::span<const float>(spectators.data(), spectators.size()), truth.shape(0), spectators.shape(1),
                   false, "weights");
  }
  std::vector<float> weights(std::span<const float> truth, std::span<const float> spectators, std::size_t jets,
                             std::size_t spectator_count) const {
    check_flat_sizes(truth.size(), spectators.size(), jets, spectator_count);
    return per_jet(truth, spectators, jets, spectator_count, false, "weights");
  }
  /// Per-jet keep probabilities of a batch.
  std::vector<float> keep_probabilities(const xt::xtensor<float, 2>& truth,
                                        const xt::xtensor<float, 2>& spectators) const {
    check_batch_shapes(truth.shape(0), truth.shape(1), spectators.shape(0), spectators.shape(1));
    return per_jet(std::span<const float>(truth.data(), truth.size()),
                   std::span<const float>(spectators.data(), spectators.size()), truth.shape(0), spectators.shape(1),
                   true, "keep_probabilities");
  }
  std::vector<float> keep_probabilities(std::span<const float> truth, std::span<const float> spectators,
                                        std::size_t jets, std::size_t spectator_count) const {
    check_flat_sizes(truth.size(), spectators.size(), jets, spectator_count);
    return per_jet(truth, spectators, jets, spectator_count, true, "keep_probabilities");
  }

  /// The indices (ascending) of the jets of a batch that resampling keeps: jet j is kept when
  /// random.uniform() < its keep probability, drawing exactly once per jet in order.
  std::vector<std::size_t> resample(const xt::xtensor<float, 2>& truth, const xt::xtensor<float, 2>& spectators,
                                    Random& random) const {
    return kept_indices(keep_probabilities(truth, spectators), random);
  }
  std::vector<std::size_t> resample(std::span<const float> truth, std::span<const float> spectators, std::size_t jets,
                                    std::size_t spectator_count, Random& random) const {
    return kept_indices(keep_probabilities(truth, spectators, jets, spectator_count), random);
  }

  // ---- storage ----

  /// Everything, as text: configuration, counts, histograms and (when finished) the weight
  /// tables, doubles with 17 significant digits so from_text() gives them back bit for bit.
  std::string to_text() const {
    std::string text = "deepjet_weighter 1\nmode " + std::string(weight_mode_name(config_.mode));
    if (config_.mode == WeightMode::reference) text += " " + config_.reference_class;
    text += "\npt_column " + std::to_string(config_.pt_column) + "\neta_column " + std::to_string(config_.eta_column) +
            "\n";
    append_values(text, "pt_edges", config_.pt_edges, true);
    append_values(text, "eta_edges", config_.eta_edges, true);
    text += "classes " + std::to_string(class_count());
    for (const std::string& name : config_.classes) text += " " + name;
    text += "\njets " + std::to_string(jets_) + " without_class " + std::to_string(jets_without_class_) + "\n";
    text += std::string("state ") + (finished_ ? "finished" : "filling") + "\n";
    for (std::size_t c = 0; c < class_count(); ++c)
      append_values(text, "histogram " + config_.classes[c], histograms_[c], false);
    if (finished_)
      for (std::size_t c = 0; c < class_count(); ++c)
        append_values(text, "weights " + config_.classes[c], weights_[c], false);
    return text + "end\n";
  }

  /// Parses to_text(); throws deepjet::Error naming what does not fit.
  static Weighter from_text(const std::string& text) {
    std::istringstream in(text);
    expect_word(in, "deepjet_weighter");
    if (read_number<int>(in, "the weighter text version") != 1)
      throw Error("weighter text: unknown version (this deepjet reads 1)");
    WeighterConfig config;
    expect_word(in, "mode");
    const std::string mode = read_word(in, "the mode");
    if (mode == "flatten")
      config.mode = WeightMode::flatten;
    else if (mode == "flatten_density")
      config.mode = WeightMode::flatten_density;
    else if (mode == "reference") {
      config.mode = WeightMode::reference;
      config.reference_class = read_word(in, "the reference class");
    } else
      throw Error("weighter text: unknown mode '" + mode + "'");
    expect_word(in, "pt_column");
    config.pt_column = read_number<std::size_t>(in, "pt_column");
    expect_word(in, "eta_column");
    config.eta_column = read_number<std::size_t>(in, "eta_column");
    expect_word(in, "pt_edges");
    config.pt_edges = read_values(in, read_number<std::size_t>(in, "the number of pT edges"), "pt_edges");
    expect_word(in, "eta_edges");
    config.eta_edges = read_values(in, read_number<std::size_t>(in, "the number of eta edges"), "eta_edges");
    expect_word(in, "classes");
    const std::size_t classes = read_number<std::size_t>(in, "the number of classes");
    if (classes > 4096) throw Error("weighter text: implausible number of classes " + std::to_string(classes));
    for (std::size_t c = 0; c < classes; ++c) config.classes.push_back(read_word(in, "a class name"));
    Weighter weighter(std::move(config));  // validates the configuration
    expect_word(in, "jets");
    weighter.jets_ = read_number<std::uint64_t>(in, "the number of jets");
    expect_word(in, "without_class");
    weighter.jets_without_class_ = read_number<std::uint64_t>(in, "the number of jets without class");
    expect_word(in, "state");
    const std::string state = read_word(in, "the state");
    if (state != "finished" && state != "filling") throw Error("weighter text: unknown state '" + state + "'");
    const std::size_t bins = weighter.bin_count();
    for (std::size_t c = 0; c < classes; ++c) {
      expect_word(in, "histogram");
      expect_word(in, weighter.config_.classes[c]);
      weighter.histograms_[c] = read_values(in, bins, "histogram " + weighter.config_.classes[c]);
      for (double n : weighter.histograms_[c])
        if (!std::isfinite(n) || n < 0)
          throw Error("weighter text: histogram " + weighter.config_.classes[c] + " has a negative or non-finite bin");
    }
    if (state == "finished") {
      weighter.weights_.resize(classes);
      for (std::size_t c = 0; c < classes; ++c) {
        expect_word(in, "weights");
        expect_word(in, weighter.config_.classes[c]);
        weighter.weights_[c] = read_values(in, bins, "weights " + weighter.config_.classes[c]);
        for (double w : weighter.weights_[c])
          if (!std::isfinite(w) || w < 0)
            throw Error("weighter text: weights " + weighter.config_.classes[c] + " has a negative or non-finite bin");
      }
      weighter.compute_largest_weights();
      weighter.finished_ = true;
    }
    expect_word(in, "end");
    std::string rest;
    if (in >> rest) throw Error("weighter text: unexpected '" + rest + "' after 'end'");
    return weighter;
  }

  /// A short summary: the binning, and per class its jets, the range of its weights, its
  /// weighted jets (sum of weights), its effective jets (sum w)^2 / sum w^2 (how many unweighted
  /// jets carry as much statistical power), and the fraction resampling would keep.
  std::string describe() const {
    char line[512];
    std::string text = "weighter " + std::string(weight_mode_name(config_.mode));
    if (config_.mode == WeightMode::reference) text += " to " + config_.reference_class;
    std::snprintf(
        line, sizeof line, ": %zu pT bins [%g, %g] x %zu eta bins [%g, %g] (spectator columns %zu, %zu), %s\n",
        pt_bins(), config_.pt_edges.front(), config_.pt_edges.back(), eta_bins(), config_.eta_edges.front(),
        config_.eta_edges.back(), config_.pt_column, config_.eta_column, finished_ ? "finished" : "not finished");
    text += line;
    text +=
        "jets " + std::to_string(jets_) + ", without class (weight 0) " + std::to_string(jets_without_class_) + "\n";
    std::snprintf(line, sizeof line, "%-12s %12s %6s %11s %11s %14s %14s %8s\n", "class", "jets", "bins", "min weight",
                  "max weight", "weighted jets", "effective jets", "kept");
    text += line;
    for (std::size_t c = 0; c < class_count(); ++c) {
      const double jets = class_jets(c);
      std::size_t populated = 0;
      for (double n : histograms_[c]) populated += n > 0;
      if (!finished_) {
        std::snprintf(line, sizeof line, "%-12s %12.6g %6zu\n", config_.classes[c].c_str(), jets, populated);
        text += line;
        continue;
      }
      double smallest = 0, largest = 0, sum = 0, sum_squares = 0;
      bool first = true;
      for (std::size_t b = 0; b < bin_count(); ++b) {
        const double n = histograms_[c][b], w = weights_[c][b];
        if (n <= 0) continue;
        if (w > 0) {
          smallest = first ? w : std::min(smallest, w);
          largest = std::max(largest, w);
          first = false;
        }
        sum += n * w;
        sum_squares += n * w * w;
      }
      const double effective = sum_squares > 0 ? sum * sum / sum_squares : 0.0;
      const double kept = jets > 0 && largest_[c] > 0 ? sum / largest_[c] / jets : 0.0;
      std::snprintf(line, sizeof line, "%-12s %12.6g %6zu %11.4g %11.4g %14.6g %14.6g %8.4f\n",
                    config_.classes[c].c_str(), jets, populated, smallest, largest, sum, effective, kept);
      text += line;
    }
    return text;
  }

 private:
  static void validate(const WeighterConfig& config) {
    if (config.classes.empty()) throw Error("weighter: no classes");
    for (std::size_t c = 0; c < config.classes.size(); ++c) {
      const std::string& name = config.classes[c];
      if (name.empty() || name.find_first_of(" \t\n\r\v\f") != std::string::npos)
        throw Error("weighter: class name '" + name + "' is empty or contains white space");
      if (std::find(config.classes.begin(), config.classes.begin() + static_cast<std::ptrdiff_t>(c), name) !=
          config.classes.begin() + static_cast<std::ptrdiff_t>(c))
        throw Error("weighter: class '" + name + "' appears twice");
    }
    if (config.mode == WeightMode::reference &&
        std::find(config.classes.begin(), config.classes.end(), config.reference_class) == config.classes.end())
      throw Error("weighter: the reference class '" + config.reference_class + "' is not one of the classes");
    validate_edges(config.pt_edges, "pT");
    validate_edges(config.eta_edges, "eta");
    if (config.pt_edges.size() - 1 > 100000 / (config.eta_edges.size() - 1))
      throw Error("weighter: more than 100000 (pT, eta) bins");
  }
  static void validate_edges(const std::vector<double>& edges, const char* what) {
    if (edges.size() < 2) throw Error(std::string("weighter: the ") + what + " binning needs at least two edges");
    for (std::size_t i = 0; i < edges.size(); ++i) {
      if (!std::isfinite(edges[i])) throw Error(std::string("weighter: a ") + what + " bin edge is not finite");
      if (i > 0 && !(edges[i] > edges[i - 1]))
        throw Error(std::string("weighter: the ") + what + " bin edges are not strictly increasing");
    }
  }

  static std::size_t clamped_bin(const std::vector<double>& edges, double value, const char* what) {
    if (std::isnan(value)) throw Error(std::string("weighter: a jet's ") + what + " is NaN");
    const auto above = std::upper_bound(edges.begin(), edges.end(), value);  // first edge > value
    const std::ptrdiff_t bin = (above - edges.begin()) - 1;
    return static_cast<std::size_t>(std::clamp<std::ptrdiff_t>(bin, 0, static_cast<std::ptrdiff_t>(edges.size()) - 2));
  }
  double bin_area(std::size_t b) const {
    const std::size_t p = b / eta_bins(), e = b % eta_bins();
    return (config_.pt_edges[p + 1] - config_.pt_edges[p]) * (config_.eta_edges[e + 1] - config_.eta_edges[e]);
  }

  void check_class(std::size_t c) const {
    if (c >= class_count())
      throw Error("weighter: class index " + std::to_string(c) + " out of range (" + std::to_string(class_count()) +
                  " classes)");
  }
  void check_finished(const char* what) const {
    if (!finished_) throw Error(std::string("weighter: ") + what + "() needs finish() first");
  }
  void check_row_size(std::size_t size) const {
    if (size != class_count())
      throw Error("weighter: a truth row has " + std::to_string(size) + " values; the weighter has " +
                  std::to_string(class_count()) + " classes");
  }
  void check_spectator_width(std::size_t spectator_count) const {
    if (config_.pt_column >= spectator_count || config_.eta_column >= spectator_count)
      throw Error("weighter: spectator rows have " + std::to_string(spectator_count) + " columns; pT is column " +
                  std::to_string(config_.pt_column) + " and eta column " + std::to_string(config_.eta_column));
  }
  void check_batch_shapes(std::size_t truth_jets, std::size_t truth_columns, std::size_t spectator_jets,
                          std::size_t spectator_columns) const {
    check_row_size(truth_columns);
    if (truth_jets != spectator_jets)
      throw Error("weighter: " + std::to_string(truth_jets) + " truth rows but " + std::to_string(spectator_jets) +
                  " spectator rows");
    check_spectator_width(spectator_columns);
  }
  void check_flat_sizes(std::size_t truth_size, std::size_t spectator_size, std::size_t jets,
                        std::size_t spectator_count) const {
    if (truth_size != jets * class_count())
      throw Error("weighter: " + std::to_string(truth_size) + " truth values for " + std::to_string(jets) +
                  " jets of " + std::to_string(class_count()) + " classes");
    if (spectator_size != jets * spectator_count)
      throw Error("weighter: " + std::to_string(spectator_size) + " spectator values for " + std::to_string(jets) +
                  " jets of " + std::to_string(spectator_count) + " spectators");
    check_spectator_width(spectator_count);
  }

  /// sum(t) of a truth row after checking it; `jet` only names the jet in the message.
  double truth_sum(std::span<const float> row, std::size_t jet) const {
    double sum = 0;
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (!std::isfinite(row[c]) || row[c] < 0)
        throw Error("weighter: " + (jet == single_jet ? std::string("a jet") : "jet " + std::to_string(jet)) +
                    " has truth " + std::to_string(row[c]) + " for class " + config_.classes[c] +
                    "; truth must be finite and not negative");
      sum += row[c];
    }
    return sum;
  }

  void add_rows(std::span<const float> truth, std::span<const float> spectators, std::size_t jets,
                std::size_t spectator_count) {
    if (finished_) throw Error("weighter: add() after finish(); the tables are fixed");
    const std::size_t classes = class_count();
    // Check the whole batch before changing anything, so a bad batch leaves the weighter as it was.
    std::vector<std::size_t> bins(jets);
    std::vector<double> sums(jets);
    for (std::size_t j = 0; j < jets; ++j) {
      sums[j] = truth_sum(truth.subspan(j * classes, classes), j);
      bins[j] = bin(spectators[j * spectator_count + config_.pt_column],
                    spectators[j * spectator_count + config_.eta_column]);
    }
    for (std::size_t j = 0; j < jets; ++j) {
      if (sums[j] == 0) {
        ++jets_without_class_;
        continue;
      }
      for (std::size_t c = 0; c < classes; ++c) {
        const float t = truth[j * classes + c];
        if (t != 0) histograms_[c][bins[j]] += t / sums[j];
      }
    }
    jets_ += jets;
  }

  /// sum_c f_c table_c(b) (divided by max table_c when `keep`).
  double combine(const std::vector<std::vector<double>>& tables, std::span<const float> row, std::size_t b,
                 std::size_t jet, bool keep) const {
    const double sum = truth_sum(row, jet);
    if (sum == 0) return 0.0;  // no class: no weight
    double result = 0;
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (row[c] == 0) continue;
      double value = tables[c][b];
      if (keep) value = largest_[c] > 0 ? value / largest_[c] : 0.0;
      result += row[c] / sum * value;
    }
    return keep ? std::min(result, 1.0) : result;  // min: rounding of the fractions' sum
  }

  std::vector<float> per_jet(std::span<const float> truth, std::span<const float> spectators, std::size_t jets,
                             std::size_t spectator_count, bool keep, const char* what) const {
    check_finished(what);
    const std::size_t classes = class_count();
    std::vector<float> out(jets);
    for (std::size_t j = 0; j < jets; ++j) {
      const std::size_t b = bin(spectators[j * spectator_count + config_.pt_column],
                                spectators[j * spectator_count + config_.eta_column]);
      out[j] = static_cast<float>(combine(weights_, truth.subspan(j * classes, classes), b, j, keep));
    }
    return out;
  }

  static std::vector<std::size_t> kept_indices(const std::vector<float>& keep, Random& random) {
    std::vector<std::size_t> kept;
    for (std::size_t j = 0; j < keep.size(); ++j)
      if (random.uniform() < keep[j]) kept.push_back(j);
    return kept;
  }

  void compute_largest_weights() {
    largest_.assign(class_count(), 0.0);
    for (std::size_t c = 0; c < class_count(); ++c)
      for (double w : weights_[c]) largest_[c] = std::max(largest_[c], w);
  }

  // ---- text helpers ----
  static void append_values(std::string& text, const std::string& label, const std::vector<double>& values,
                            bool with_count) {
    text += label;
    if (with_count) text += " " + std::to_string(values.size());
    char number[32];
    for (double v : values) {
      std::snprintf(number, sizeof number, " %.17g", v);
      text += number;
    }
    text += "\n";
  }
  static std::string read_word(std::istringstream& in, const std::string& what) {
    std::string word;
    if (!(in >> word)) throw Error("weighter text: ends before " + what);
    return word;
  }
  static void expect_word(std::istringstream& in, const std::string& expected) {
    const std::string word = read_word(in, "'" + expected + "'");
    if (word != expected) throw Error("weighter text: expected '" + expected + "', found '" + word + "'");
  }
  /// One word as a number; from_chars reads "%.17g" back to the same double, subnormals too.
  template <class T>
  static T read_number(std::istringstream& in, const std::string& what) {
    const std::string word = read_word(in, what);
    T value{};
    const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), value);
    if (error != std::errc{} || end != word.data() + word.size())
      throw Error("weighter text: '" + word + "' is not a valid value for " + what);
    return value;
  }
  static std::vector<double> read_values(std::istringstream& in, std::size_t count, const std::string& what) {
    if (count > 100000)
      throw Error("weighter text: implausible number of values (" + std::to_string(count) + ") for " + what);
    std::vector<double> values(count);
    for (double& v : values) v = read_number<double>(in, what);
    return values;
  }

  static constexpr std::size_t single_jet = static_cast<std::size_t>(-1);  // names "a jet" in messages

  WeighterConfig config_;
  std::size_t reference_index_ = 0;
  std::vector<std::vector<double>> histograms_;  // n_c(b)
  std::vector<std::vector<double>> weights_;     // W_c(b), after finish()
  std::vector<double> largest_;                  // max_b W_c(b)
  std::uint64_t jets_ = 0;
  std::uint64_t jets_without_class_ = 0;
  bool finished_ = false;
};

}  // namespace deepjet::data
