// The class weighter: known answers on hand-made populations for every mode, resampling
// statistics, non-one-hot truth, clamping, jets without class, the exact text round trip, errors.
#include "deepjet/data/weighter.hpp"

#include "deepjet/example_data/deepjet_jets.hpp"
#include "deepjet/data/prepare.hpp"
#include "deepjet/data/source.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using deepjet::Random;
using deepjet::data::Weighter;
using deepjet::data::WeighterConfig;
using deepjet::data::WeightMode;

/// A batch being built jet by jet: truth rows and (pt, eta) spectator rows.
struct Jets {
  std::size_t classes;
  std::vector<float> truth, spectators;

  void add(std::vector<float> row, float pt, float eta) {
    truth.insert(truth.end(), row.begin(), row.end());
    spectators.push_back(pt);
    spectators.push_back(eta);
  }
  std::size_t size() const { return spectators.size() / 2; }
  xt::xtensor<float, 2> truth_tensor() const {
    xt::xtensor<float, 2> t = xt::zeros<float>({size(), classes});
    std::copy(truth.begin(), truth.end(), t.begin());
    return t;
  }
  xt::xtensor<float, 2> spectator_tensor() const {
    xt::xtensor<float, 2> s = xt::zeros<float>({size(), std::size_t{2}});
    std::copy(spectators.begin(), spectators.end(), s.begin());
    return s;
  }
};

/// The test's own binning (a linear search, independent of the weighter's): clamped [low, high).
std::size_t bin_of(const std::vector<double>& edges, double value) {
  std::size_t bin = 0;
  while (bin + 2 < edges.size() && value >= edges[bin + 1]) ++bin;
  return bin;
}

/// b jets with a harder pT spectrum than c jets, and a narrower eta spread: two classes whose
/// (pT, eta) histograms clearly differ, with c jets in bins where b has none. A few jets are put
/// outside the bins on purpose.
Jets two_spectra(std::size_t jets_per_class, std::uint64_t seed) {
  Jets jets{2, {}, {}};
  Random random(seed);
  for (std::size_t j = 0; j < jets_per_class; ++j) {
    const float b_pt = 10.0f + static_cast<float>(-120.0 * std::log(1.0 - random.uniform()));
    jets.add({1, 0}, b_pt, random.uniform(-2.0f, 2.0f));  // b never beyond |eta| 2
    const float c_pt = 10.0f + static_cast<float>(-50.0 * std::log(1.0 - random.uniform()));
    jets.add({0, 1}, c_pt, static_cast<float>(1.2 * random.normal()));
  }
  jets.add({1, 0}, 3000.0f, 0.1f);  // beyond the last pT edge
  jets.add({0, 1}, 5.0f, -3.0f);    // below the first pT edge, below the first eta edge
  return jets;
}

/// Per class, per bin: the sum of the weights of the jets of that class (one-hot jets only).
std::vector<std::vector<double>> weighted_histograms(const Jets& jets, const std::vector<float>& weights,
                                                     const WeighterConfig& config) {
  const std::size_t eta_bins = config.eta_edges.size() - 1;
  std::vector<std::vector<double>> histograms(jets.classes,
                                              std::vector<double>((config.pt_edges.size() - 1) * eta_bins, 0.0));
  for (std::size_t j = 0; j < jets.size(); ++j)
    for (std::size_t c = 0; c < jets.classes; ++c)
      if (jets.truth[j * jets.classes + c] == 1.0f)
        histograms[c][bin_of(config.pt_edges, jets.spectators[2 * j]) * eta_bins +
                      bin_of(config.eta_edges, jets.spectators[2 * j + 1])] += weights[j];
  return histograms;
}

std::vector<double> unweighted_counts(const Jets& jets, std::size_t c, const WeighterConfig& config) {
  return weighted_histograms(jets, std::vector<float>(jets.size(), 1.0f), config)[c];
}

/// Fills in batches of about 1000 jets, as from several training files.
Weighter filled(const WeighterConfig& config, const Jets& jets) {
  Weighter weighter(config);
  for (std::size_t first = 0; first < jets.size(); first += 1000) {
    const std::size_t count = std::min<std::size_t>(1000, jets.size() - first);
    weighter.add(std::span(jets.truth).subspan(first * jets.classes, count * jets.classes),
                 std::span(jets.spectators).subspan(first * 2, count * 2), count, 2);
  }
  weighter.finish();
  return weighter;
}

WeighterConfig two_classes(WeightMode mode) { return WeighterConfig{.classes = {"b", "c"}, .mode = mode}; }

TEST(Weighter, DefaultBinsAreDeepJets) {
  const WeighterConfig config;
  EXPECT_EQ(config.pt_edges, (std::vector<double>{10,  25,  30,  35,  40,  45,  50,  60,  75,  100,
                                                  125, 150, 175, 200, 250, 300, 400, 500, 600, 2000}));
  EXPECT_EQ(config.eta_edges, (std::vector<double>{-2.5, -2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0, 2.5}));
  const Weighter weighter(two_classes(WeightMode::flatten));
  EXPECT_EQ(weighter.bin_count(), 19u * 9u);
}

TEST(Weighter, FlattenMakesEveryClassFlatAndKeepsItsJets) {
  const Jets jets = two_spectra(20000, 1);
  const WeighterConfig config = two_classes(WeightMode::flatten);
  const Weighter weighter = filled(config, jets);
  const std::vector<float> weights = weighter.weights(jets.truth_tensor(), jets.spectator_tensor());
  const auto histograms = weighted_histograms(jets, weights, config);
  double sum_all = 0;
  for (float w : weights) sum_all += w;
  // The weights are doubles rounded to float (relative 2^-24 = 6e-8 each) and summed in double:
  // the mean and the weighted histograms below are within 6e-8 (relative) of their exact values
  // on any machine; the bounds 1e-6 and 1e-5 are far above it.
  EXPECT_NEAR(sum_all / static_cast<double>(jets.size()), 1.0, 1e-6);  // mean weight 1
  for (std::size_t c = 0; c < 2; ++c) {
    const std::vector<double> counts = unweighted_counts(jets, c, config);
    std::size_t populated = 0;
    double class_jets = 0, weighted_jets = 0;
    for (std::size_t b = 0; b < counts.size(); ++b) {
      populated += counts[b] > 0;
      class_jets += counts[b];
      weighted_jets += histograms[c][b];
    }
    ASSERT_GT(populated, 100u) << "the population covers most bins";
    EXPECT_NEAR(weighted_jets, class_jets, 1e-6 * class_jets) << "flattening keeps the class's jets";
    for (std::size_t b = 0; b < counts.size(); ++b) {
      if (counts[b] == 0) continue;
      EXPECT_NEAR(histograms[c][b], class_jets / static_cast<double>(populated),
                  1e-5 * class_jets / static_cast<double>(populated))
          << "class " << c << " bin " << b;
    }
    EXPECT_DOUBLE_EQ(weighter.class_jets(c), class_jets);
  }
}

TEST(Weighter, FlattenDensityMakesTheDensityPerUnitAreaFlat) {
  const Jets jets = two_spectra(20000, 2);
  const WeighterConfig config = two_classes(WeightMode::flatten_density);
  const Weighter weighter = filled(config, jets);
  const auto histograms =
      weighted_histograms(jets, weighter.weights(jets.truth_tensor(), jets.spectator_tensor()), config);
  const std::size_t eta_bins = config.eta_edges.size() - 1;
  for (std::size_t c = 0; c < 2; ++c) {
    const std::vector<double> counts = unweighted_counts(jets, c, config);
    double class_jets = 0, area = 0;
    for (std::size_t b = 0; b < counts.size(); ++b) {
      if (counts[b] == 0) continue;
      class_jets += counts[b];
      area += (config.pt_edges[b / eta_bins + 1] - config.pt_edges[b / eta_bins]) *
              (config.eta_edges[b % eta_bins + 1] - config.eta_edges[b % eta_bins]);
    }
    for (std::size_t b = 0; b < counts.size(); ++b) {
      if (counts[b] == 0) continue;
      const double bin_area = (config.pt_edges[b / eta_bins + 1] - config.pt_edges[b / eta_bins]) *
                              (config.eta_edges[b % eta_bins + 1] - config.eta_edges[b % eta_bins]);
      EXPECT_NEAR(histograms[c][b] / bin_area, class_jets / area, 1e-5 * class_jets / area)
          << "class " << c << " bin " << b;
    }
  }
}

TEST(Weighter, ReferenceGivesEveryClassTheReferenceSpectrum) {
  const Jets jets = two_spectra(20000, 3);
  const WeighterConfig config = two_classes(WeightMode::reference);
  const Weighter weighter = filled(config, jets);
  const std::vector<float> weights = weighter.weights(jets.truth_tensor(), jets.spectator_tensor());
  const auto histograms = weighted_histograms(jets, weights, config);
  const std::vector<double> b_counts = unweighted_counts(jets, 0, config),
                            c_counts = unweighted_counts(jets, 1, config);
  double b_jets = 0, c_jets = 0;
  for (std::size_t b = 0; b < b_counts.size(); ++b) {
    b_jets += b_counts[b];
    c_jets += c_counts[b];
  }
  for (std::size_t j = 0; j < jets.size(); ++j)
    if (jets.truth[2 * j] == 1.0f) {
      ASSERT_EQ(weights[j], 1.0f) << "the reference class keeps weight 1";
    }
  std::size_t dropped_bins = 0;
  for (std::size_t b = 0; b < b_counts.size(); ++b) {
    if (c_counts[b] == 0) continue;  // no c jet to weight
    if (b_counts[b] == 0) ++dropped_bins;
    // Normalised by the class's jets, the weighted c histogram is the b histogram normalised.
    EXPECT_NEAR(histograms[1][b] / c_jets, b_counts[b] / b_jets, 1e-6 * b_counts[b] / b_jets + 1e-12) << "bin " << b;
  }
  EXPECT_GT(dropped_bins, 0u) << "c jets where b has none get weight 0 (the population has such bins)";
}

// n_b = (2, 6, 0), n_c = (4, 4, 2) over three pT bins: by hand, p_b = (1/4, 3/4, 0), N_c = 10, so
// W_c = N_c p_b / n_c = (0.625, 1.875, 0) and K_c = W_c / 1.875 = (1/3, 1, 0).
Jets three_bins() {
  Jets jets{2, {}, {}};
  for (int i = 0; i < 2; ++i) jets.add({1, 0}, 5, 0);
  for (int i = 0; i < 6; ++i) jets.add({1, 0}, 15, 0);
  for (int i = 0; i < 4; ++i) jets.add({0, 1}, 5, 0);
  for (int i = 0; i < 4; ++i) jets.add({0, 1}, 15, 0);
  for (int i = 0; i < 2; ++i) jets.add({0, 1}, 25, 0);
  return jets;
}
WeighterConfig three_bin_config(WeightMode mode) {
  return WeighterConfig{.classes = {"b", "c"}, .mode = mode, .pt_edges = {0, 10, 20, 30}, .eta_edges = {-1, 1}};
}

TEST(Weighter, KnownAnswerReferenceAndFlatten) {
  const Weighter reference = filled(three_bin_config(WeightMode::reference), three_bins());
  EXPECT_EQ(reference.weight_table(1), (std::vector<double>{0.625, 1.875, 0.0}));
  EXPECT_EQ(reference.weight_table(0), (std::vector<double>{1, 1, 1}));
  EXPECT_FLOAT_EQ(reference.weight(std::vector<float>{0, 1}, 5, 0), 0.625f);
  EXPECT_FLOAT_EQ(reference.weight(std::vector<float>{0, 1}, 25, 0), 0.0f) << "b has no jet there: dropped";
  EXPECT_FLOAT_EQ(reference.keep_probability(std::vector<float>{0, 1}, 5, 0), 1.0f / 3.0f);
  EXPECT_FLOAT_EQ(reference.keep_probability(std::vector<float>{0, 1}, 15, 0), 1.0f);
  EXPECT_FLOAT_EQ(reference.keep_probability(std::vector<float>{1, 0}, 25, 0), 1.0f);

  // flatten: W_b = N_b / (B_b n_b) = 8 / (2 * (2, 6)) = (2, 2/3, 0); W_c = 10 / (3 * (4, 4, 2)).
  const Weighter flatten = filled(three_bin_config(WeightMode::flatten), three_bins());
  EXPECT_DOUBLE_EQ(flatten.weight_table(0)[0], 2.0);
  EXPECT_DOUBLE_EQ(flatten.weight_table(0)[1], 2.0 / 3.0);
  EXPECT_EQ(flatten.weight_table(0)[2], 0.0) << "no b jet there: no weight needed";
  EXPECT_DOUBLE_EQ(flatten.weight_table(1)[0], 10.0 / 12.0);
  EXPECT_DOUBLE_EQ(flatten.weight_table(1)[2], 10.0 / 6.0);
}

TEST(Weighter, ResamplingKeepsTheExpectedFractions) {
  // 30000 b and 30000 c jets in each of two bins, b's spectrum 1:3 in those bins and c's flat,
  // so c keeps 1/3 of its jets in the first bin and all in the second.
  Jets jets{2, {}, {}};
  for (int i = 0; i < 10000; ++i) jets.add({1, 0}, 5, 0);
  for (int i = 0; i < 30000; ++i) jets.add({1, 0}, 15, 0);
  for (int i = 0; i < 30000; ++i) jets.add({0, 1}, 5, 0);
  for (int i = 0; i < 30000; ++i) jets.add({0, 1}, 15, 0);
  const Weighter weighter = filled(three_bin_config(WeightMode::reference), jets);
  Random random(42);
  const std::vector<std::size_t> kept = weighter.resample(jets.truth_tensor(), jets.spectator_tensor(), random);
  std::size_t b_kept = 0, c_low = 0, c_high = 0;
  for (std::size_t j : kept) {
    if (jets.truth[2 * j] == 1.0f)
      ++b_kept;
    else if (jets.spectators[2 * j] < 10)
      ++c_low;
    else
      ++c_high;
  }
  EXPECT_EQ(b_kept, 40000u) << "the reference keeps every jet";
  EXPECT_EQ(c_high, 30000u) << "keep probability 1";
  // Binomial(30000, 1/3): mean 10000, sigma sqrt(30000 * 1/3 * 2/3) = 81.6; allow 5 sigma.
  EXPECT_NEAR(static_cast<double>(c_low), 10000.0, 5 * 81.65);
  // So the kept c jets have b's spectrum (1:3) within the same statistical error.
  EXPECT_NEAR(static_cast<double>(c_low) / static_cast<double>(c_high), 1.0 / 3.0, 5 * 81.65 / 30000.0);
  for (std::size_t i = 1; i < kept.size(); ++i) ASSERT_LT(kept[i - 1], kept[i]);

  Random same(42);
  EXPECT_EQ(weighter.resample(jets.truth_tensor(), jets.spectator_tensor(), same), kept)
      << "deterministic given the Random";
  Random flat(42);
  EXPECT_EQ(weighter.resample(jets.truth, jets.spectators, jets.size(), 2, flat), kept) << "the flat-buffer overload";
  Random other(43);
  EXPECT_NE(weighter.resample(jets.truth_tensor(), jets.spectator_tensor(), other), kept);
}

TEST(Weighter, NonOneHotTruthCountsAsFractionsOfOneJet) {
  Jets jets = three_bins();
  jets.add({0.5f, 0.5f}, 5, 0);  // half b, half c
  jets.add({2, 0}, 15, 0);       // two b flags set: still one b jet
  jets.add({1, 1}, 15, 0);       // both classes flagged: half of each
  Weighter weighter(three_bin_config(WeightMode::reference));
  weighter.add(jets.truth_tensor(), jets.spectator_tensor());
  // Sums of halves and ones: dyadic, exact in double. The weights below are quotients and products
  // of a few such numbers (no sum of products to fuse): within DOUBLE_EQ / FLOAT_EQ's 4 ulps.
  EXPECT_EQ(weighter.histogram(0), (std::vector<double>{2.5, 7.5, 0}));
  EXPECT_EQ(weighter.histogram(1), (std::vector<double>{4.5, 4.5, 2}));
  EXPECT_EQ(weighter.jets(), 21u);
  weighter.finish();
  const double w_c0 = weighter.weight_table(1)[0], w_c1 = weighter.weight_table(1)[1];
  EXPECT_DOUBLE_EQ(w_c0, 11.0 * (2.5 / 10.0) / 4.5);  // N_c p_b / n_c
  EXPECT_FLOAT_EQ(weighter.weight(std::vector<float>{0.5f, 0.5f}, 5, 0), static_cast<float>(0.5 * 1.0 + 0.5 * w_c0));
  EXPECT_FLOAT_EQ(weighter.weight(std::vector<float>{1, 1}, 15, 0), static_cast<float>(0.5 * 1.0 + 0.5 * w_c1));
  EXPECT_FLOAT_EQ(weighter.weight(std::vector<float>{2, 0}, 15, 0), 1.0f);
  const double largest_c = std::max(w_c0, w_c1);
  EXPECT_FLOAT_EQ(weighter.keep_probability(std::vector<float>{0.5f, 0.5f}, 5, 0),
                  static_cast<float>(0.5 * 1.0 + 0.5 * w_c0 / largest_c));
}

TEST(Weighter, ValuesOutsideTheBinsAreClamped) {
  const Weighter weighter(WeighterConfig{.classes = {"b"}, .mode = WeightMode::flatten});
  EXPECT_EQ(weighter.pt_bin(5.0), 0u);
  EXPECT_EQ(weighter.pt_bin(10.0), 0u);
  EXPECT_EQ(weighter.pt_bin(25.0), 1u) << "bins are [low, high)";
  EXPECT_EQ(weighter.pt_bin(1999.0), 18u);
  EXPECT_EQ(weighter.pt_bin(2000.0), 18u);
  EXPECT_EQ(weighter.pt_bin(1e6), 18u);
  EXPECT_EQ(weighter.pt_bin(INFINITY), 18u);
  EXPECT_EQ(weighter.pt_bin(-INFINITY), 0u);
  EXPECT_EQ(weighter.eta_bin(-3.0), 0u);
  EXPECT_EQ(weighter.eta_bin(0.0), 4u) << "|eta| < 0.5 is DeepJet's central bin";
  EXPECT_EQ(weighter.eta_bin(3.0), 8u);
  EXPECT_THROW(weighter.pt_bin(NAN), deepjet::Error);

  // Clamped jets fill and read the edge bins.
  Jets jets{1, {}, {}};
  jets.add({1}, 3000, 3);
  jets.add({1}, 1000, 2.4f);
  jets.add({1}, 5, -9);
  Weighter filling(WeighterConfig{.classes = {"b"}, .mode = WeightMode::flatten});
  filling.add(jets.truth_tensor(), jets.spectator_tensor());
  EXPECT_EQ(filling.histogram(0)[18 * 9 + 8], 2.0);
  EXPECT_EQ(filling.histogram(0)[0], 1.0);
  filling.finish();
  EXPECT_FLOAT_EQ(filling.weight(std::vector<float>{1}, 1e5f, 10), filling.weight(std::vector<float>{1}, 700, 2.2f));
}

TEST(Weighter, JetsWithoutClassAddNothingAndWeighNothing) {
  Jets jets = three_bins();
  jets.add({0, 0}, 5, 0);
  jets.add({0, 0}, 25, 0);
  Weighter weighter(three_bin_config(WeightMode::flatten));
  weighter.add(jets.truth_tensor(), jets.spectator_tensor());
  EXPECT_EQ(weighter.jets(), 20u);
  EXPECT_EQ(weighter.jets_without_class(), 2u);
  EXPECT_EQ(weighter.class_jets(0) + weighter.class_jets(1), 18.0);
  weighter.finish();
  const std::vector<float> weights = weighter.weights(jets.truth_tensor(), jets.spectator_tensor());
  EXPECT_EQ(weights[18], 0.0f);
  EXPECT_EQ(weights[19], 0.0f);
  EXPECT_EQ(weighter.keep_probability(std::vector<float>{0, 0}, 5, 0), 0.0f);
  double sum = 0;
  for (std::size_t j = 0; j < 18; ++j) sum += weights[j];
  EXPECT_NEAR(sum / 18.0, 1.0, 1e-6) << "mean weight 1 over the jets that have a class";
}

TEST(Weighter, TextRoundTripIsExact) {
  Jets jets = two_spectra(3000, 4);
  jets.add({1.0f / 3.0f, 2.0f / 3.0f}, 47, 0.3f);  // fractions that are not short decimals
  for (WeightMode mode : {WeightMode::flatten, WeightMode::flatten_density, WeightMode::reference}) {
    Weighter weighter(two_classes(mode));
    weighter.add(jets.truth_tensor(), jets.spectator_tensor());
    const std::string filling = weighter.to_text();
    EXPECT_EQ(Weighter::from_text(filling).to_text(), filling) << "an unfinished weighter stores too";
    weighter.finish();
    const std::string text = weighter.to_text();
    const Weighter restored = Weighter::from_text(text);
    EXPECT_EQ(restored.to_text(), text);
    EXPECT_TRUE(restored.finished());
    EXPECT_EQ(restored.config(), weighter.config());
    for (std::size_t c = 0; c < 2; ++c) {
      EXPECT_EQ(restored.histogram(c), weighter.histogram(c));  // bit for bit
      EXPECT_EQ(restored.weight_table(c), weighter.weight_table(c));
    }
    EXPECT_EQ(restored.weights(jets.truth_tensor(), jets.spectator_tensor()),
              weighter.weights(jets.truth_tensor(), jets.spectator_tensor()));
    EXPECT_EQ(restored.keep_probabilities(jets.truth_tensor(), jets.spectator_tensor()),
              weighter.keep_probabilities(jets.truth_tensor(), jets.spectator_tensor()));
    EXPECT_EQ(restored.describe(), weighter.describe());
    EXPECT_EQ(restored.config().reference_class, mode == WeightMode::reference ? "b" : "")
        << "cleared outside reference mode";
  }
}

TEST(Weighter, MergingHalvesEqualsFillingAll) {
  const Jets jets = two_spectra(2000, 5);
  const std::size_t half = jets.size() / 2;
  Weighter all(two_classes(WeightMode::reference)), first(two_classes(WeightMode::reference)),
      second(two_classes(WeightMode::reference));
  all.add(jets.truth, jets.spectators, jets.size(), 2);
  first.add(std::span(jets.truth).first(half * 2), std::span(jets.spectators).first(half * 2), half, 2);
  second.add(std::span(jets.truth).subspan(half * 2), std::span(jets.spectators).subspan(half * 2), jets.size() - half,
             2);
  first.merge(second);
  // Bit-equal: with one-hot truth every histogram entry is a count of jets, an integer that
  // double holds exactly in any order of additions.
  EXPECT_EQ(first.to_text(), all.to_text());
  EXPECT_THROW(first.merge(Weighter(two_classes(WeightMode::flatten))), deepjet::Error);
  all.finish();
  EXPECT_THROW(first.merge(all), deepjet::Error);
}

struct TestTruth : deepjet::data::ClassLabels {
  static constexpr std::array classes{deepjet::data::label("b", "isB"), deepjet::data::label("c", "isC", "isGCC"),
                                      deepjet::data::label("light", "isUD", "isS", "isG")};
};
struct TestSpectators : deepjet::data::SpectatorBlock {
  static constexpr std::array<std::string_view, 3> branches{"npv", "jet_eta", "jet_pt"};
};
struct TestFormat {  // for_format reads only the truth and the spectators
  using truth = TestTruth;
  using spectators = TestSpectators;
};

TEST(Weighter, ConfigurationFromAFormat) {
  const WeighterConfig config = WeighterConfig::for_format<TestFormat>(WeightMode::reference, "light");
  EXPECT_EQ(config.classes, (std::vector<std::string>{"b", "c", "light"}));
  EXPECT_EQ(config.pt_column, 2u);
  EXPECT_EQ(config.eta_column, 1u);
  EXPECT_EQ(config.reference_class, "light");
  EXPECT_THROW(deepjet::data::spectator_column<TestSpectators>("jet_phi"), deepjet::Error);
  EXPECT_THROW(Weighter(WeighterConfig::for_format<TestFormat>(WeightMode::reference, "bb")), deepjet::Error);
}

TEST(Weighter, DescribeSummarisesTheClasses) {
  const Weighter weighter = filled(three_bin_config(WeightMode::reference), three_bins());
  const std::string text = weighter.describe();
  EXPECT_NE(text.find("reference to b"), std::string::npos) << text;
  EXPECT_NE(text.find("3 pT bins"), std::string::npos) << text;
  EXPECT_NE(text.find("effective jets"), std::string::npos) << text;
  // c: 10 jets, weighted 2.5 + 7.5 = 10 minus the dropped bin's 0 -> 10; kept (4/3 + 4 + 0) / 10.
  EXPECT_NE(text.find("0.5333"), std::string::npos) << text;
}

struct DeepJetClasses : deepjet::data::ClassLabels {  // DeepJet's six classes, sums of the ntupler's flags
  static constexpr std::array classes{deepjet::data::label("b", "isB"), deepjet::data::label("bb", "isBB", "isGBB"),
                                      deepjet::data::label("lepb", "isLeptonicB", "isLeptonicB_C"),
                                      deepjet::data::label("c", "isC", "isGCC", "isCC"),
                                      deepjet::data::label("uds", "isUD", "isS"), deepjet::data::label("g", "isG")};
};
struct PtEta : deepjet::data::SpectatorBlock {
  static constexpr std::array<std::string_view, 2> branches{"jet_pt", "jet_eta"};
};
struct ExampleFormat {
  using truth = DeepJetClasses;
  using spectators = PtEta;
};

TEST(Weighter, ExampleJetsStreamedFromASourceTakeTheBSpectrum) {
  namespace fs = std::filesystem;
  const fs::path path = fs::temp_directory_path() / ("deepjet-weighter-" + std::to_string(::getpid()) + ".h5");
  deepjet::data::generate_example_jets(path.string(), {.jets = 20000, .seed = 3});
  const auto source = deepjet::data::open_source(path.string(), deepjet::data::example_jets_table);
  const std::size_t n = source->entries();
  std::vector<float> truth(n * 6), spectators(n * 2);
  deepjet::data::read_truth<DeepJetClasses>(*source, 0, n, truth);
  deepjet::data::read_spectators<PtEta>(*source, 0, n, spectators);
  fs::remove(path);
  // Coarser bins than DeepJet's, for 20000 jets: every class populates every bin (the example jets
  // have 30 < pT < 1000 GeV), so the test measures the method, not empty bins.
  WeighterConfig config = WeighterConfig::for_format<ExampleFormat>(WeightMode::reference);
  config.pt_edges = {30, 40, 50, 60, 75, 100, 150, 250, 1000};
  config.eta_edges = {-2.5, -0.8, 0.8, 2.5};
  Weighter weighter(config);
  for (std::size_t first = 0; first < n; first += 4096) {  // streamed, as over many files
    const std::size_t count = std::min<std::size_t>(4096, n - first);
    weighter.add(std::span(truth).subspan(first * 6, count * 6), std::span(spectators).subspan(first * 2, count * 2),
                 count, 2);
  }
  weighter.finish();
  EXPECT_EQ(weighter.jets(), n);
  for (std::size_t c = 0; c < 6; ++c)
    for (std::size_t b = 0; b < weighter.bin_count(); ++b) ASSERT_GT(weighter.histogram(c)[b], 0) << c << " " << b;

  const std::vector<float> weights = weighter.weights(truth, spectators, n, 2);
  std::vector<double> jets(6), weighted(6), pt_sum(6), weighted_pt_sum(6);
  for (std::size_t j = 0; j < n; ++j)
    for (std::size_t c = 0; c < 6; ++c)
      if (truth[j * 6 + c] > 0) {
        jets[c] += 1;
        weighted[c] += weights[j];
        pt_sum[c] += spectators[2 * j];
        weighted_pt_sum[c] += weights[j] * spectators[2 * j];
      }
  // Light and gluon jets are softer than b jets (by 16 and 21 % with this seed); weighted, every
  // class has b's mean pT to within what the bins resolve (the spectra still differ inside a
  // bin: about 3 % for gluons, mostly in the wide 250-1000 GeV bin).
  const double b_mean = pt_sum[0] / jets[0];
  for (const std::size_t c : {std::size_t{4}, std::size_t{5}}) {
    const double unweighted_mean = pt_sum[c] / jets[c], weighted_mean = weighted_pt_sum[c] / weighted[c];
    EXPECT_LT(unweighted_mean, 0.9 * b_mean);
    EXPECT_LT(std::abs(weighted_mean - b_mean), 0.25 * std::abs(unweighted_mean - b_mean)) << "class " << c;
  }
  for (std::size_t c = 0; c < 6; ++c) {
    EXPECT_NEAR(weighted_pt_sum[c] / weighted[c], b_mean, 0.05 * b_mean) << "class " << c;
    EXPECT_NEAR(weighted[c], jets[c], 1e-4 * jets[c]) << "each class keeps its jets";
  }
  EXPECT_EQ(Weighter::from_text(weighter.to_text()).weights(truth, spectators, n, 2), weights);
}

/// The message of the deepjet::Error `action` throws.
template <class Action>
std::string error_of(Action action) {
  try {
    action();
  } catch (const deepjet::Error& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(Weighter, ErrorsNameTheProblem) {
  auto contains = [](const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; };
  // Configuration.
  EXPECT_TRUE(contains(error_of([] { Weighter w(WeighterConfig{.classes = {}}); }), "no classes"));
  EXPECT_TRUE(contains(error_of([] { Weighter w(WeighterConfig{.classes = {"b", "b"}}); }), "twice"));
  EXPECT_TRUE(contains(error_of([] { Weighter w(WeighterConfig{.classes = {"b c"}}); }), "white space"));
  EXPECT_TRUE(contains(error_of([] { Weighter w(WeighterConfig{.classes = {"c"}}); }), "reference class 'b'"));
  EXPECT_TRUE(contains(error_of([] { Weighter w(WeighterConfig{.classes = {"b"}, .pt_edges = {10}}); }), "two edges"));
  EXPECT_TRUE(contains(error_of([] {
                         Weighter w(WeighterConfig{.classes = {"b"}, .eta_edges = {0, 1, 1}});
                       }),
                       "strictly increasing"));
  EXPECT_TRUE(contains(error_of([] {
                         Weighter w(WeighterConfig{.classes = {"b"}, .pt_edges = {0, NAN}});
                       }),
                       "not finite"));

  // Sizes.
  Weighter weighter(three_bin_config(WeightMode::reference));
  const Jets jets = three_bins();
  xt::xtensor<float, 2> three_columns = xt::zeros<float>({jets.size(), std::size_t{3}});
  EXPECT_TRUE(contains(error_of([&] { weighter.add(three_columns, jets.spectator_tensor()); }), "3 values"));
  xt::xtensor<float, 2> short_spectators = xt::zeros<float>({std::size_t{2}, std::size_t{2}});
  EXPECT_TRUE(contains(error_of([&] { weighter.add(jets.truth_tensor(), short_spectators); }), "18 truth rows but 2"));
  xt::xtensor<float, 2> one_column = xt::zeros<float>({jets.size(), std::size_t{1}});
  EXPECT_TRUE(contains(error_of([&] { weighter.add(jets.truth_tensor(), one_column); }), "eta column 1"));
  EXPECT_TRUE(
      contains(error_of([&] { weighter.add(jets.truth, jets.spectators, 17, 2); }), "truth values for 17 jets"));
  // Bad values: the batch is refused whole.
  Jets bad = three_bins();
  bad.add({-1, 0}, 5, 0);
  EXPECT_TRUE(contains(error_of([&] { weighter.add(bad.truth_tensor(), bad.spectator_tensor()); }), "jet 18"));
  EXPECT_EQ(weighter.jets(), 0u);
  Jets nan_pt = three_bins();
  nan_pt.add({1, 0}, NAN, 0);
  EXPECT_TRUE(contains(error_of([&] { weighter.add(nan_pt.truth_tensor(), nan_pt.spectator_tensor()); }), "NaN"));
  Jets nan_truth = three_bins();
  nan_truth.add({NAN, 0}, 5, 0);
  EXPECT_TRUE(
      contains(error_of([&] { weighter.add(nan_truth.truth_tensor(), nan_truth.spectator_tensor()); }), "finite"));

  // Order of use.
  EXPECT_TRUE(contains(error_of([&] { (void)weighter.weight(std::vector<float>{1, 0}, 5, 0); }), "finish() first"));
  EXPECT_TRUE(contains(error_of([&] { (void)weighter.weights(jets.truth_tensor(), jets.spectator_tensor()); }),
                       "finish() first"));
  Random random(1);
  EXPECT_TRUE(contains(error_of([&] { (void)weighter.resample(jets.truth_tensor(), jets.spectator_tensor(), random); }),
                       "finish() first"));
  Weighter no_reference(three_bin_config(WeightMode::reference));
  Jets only_c{2, {}, {}};
  only_c.add({0, 1}, 5, 0);
  no_reference.add(only_c.truth_tensor(), only_c.spectator_tensor());
  EXPECT_TRUE(contains(error_of([&] { no_reference.finish(); }), "'b' has no jets"));
  weighter.add(jets.truth_tensor(), jets.spectator_tensor());
  weighter.finish();
  EXPECT_TRUE(
      contains(error_of([&] { weighter.add(jets.truth_tensor(), jets.spectator_tensor()); }), "after finish()"));
  EXPECT_TRUE(contains(error_of([&] { weighter.finish(); }), "twice"));
  EXPECT_TRUE(contains(error_of([&] { (void)weighter.weight(std::vector<float>{1, 0, 0}, 5, 0); }), "3 values"));
  EXPECT_TRUE(contains(error_of([&] { (void)weighter.histogram(2); }), "out of range"));
}

TEST(Weighter, BadTextIsRefused) {
  const std::string good = filled(three_bin_config(WeightMode::reference), three_bins()).to_text();
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  auto contains = [](const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; };
  EXPECT_NO_THROW(Weighter::from_text(good));
  EXPECT_TRUE(contains(error_of([] { (void)Weighter::from_text(""); }), "ends before"));
  EXPECT_TRUE(contains(error_of([] { (void)Weighter::from_text("hello"); }), "expected 'deepjet_weighter'"));
  EXPECT_TRUE(contains(error_of([&] { (void)Weighter::from_text(good.substr(0, good.size() / 2)); }), "weighter text"));
  EXPECT_TRUE(contains(
      error_of([&] { (void)Weighter::from_text(replaced("deepjet_weighter 1", "deepjet_weighter 2")); }), "version"));
  EXPECT_TRUE(
      contains(error_of([&] { (void)Weighter::from_text(replaced("mode reference", "mode sideways")); }), "sideways"));
  EXPECT_TRUE(contains(error_of([&] { (void)Weighter::from_text(replaced("pt_edges 4 0", "pt_edges 4 zero")); }),
                       "'zero' is not a valid value"));
  EXPECT_TRUE(
      contains(error_of([&] { (void)Weighter::from_text(replaced("pt_column 0", "pt_column -1")); }), "pt_column"));
  EXPECT_TRUE(contains(error_of([&] { (void)Weighter::from_text(replaced("pt_edges 4 0 10", "pt_edges 4 10 0")); }),
                       "strictly increasing"));
  EXPECT_TRUE(
      contains(error_of([&] { (void)Weighter::from_text(replaced("histogram c", "histogram d")); }), "expected 'c'"));
  EXPECT_TRUE(
      contains(error_of([&] { (void)Weighter::from_text(replaced("histogram c 4", "histogram c -4")); }), "negative"));
  EXPECT_TRUE(contains(error_of([&] { (void)Weighter::from_text(good + "more"); }), "after 'end'"));
  EXPECT_TRUE(contains(error_of([&] { (void)Weighter::from_text(replaced("state finished", "state done")); }), "done"));
}

}  // namespace
