// Tests of deepjet/evaluation: ROC curves, AUC and mistag rates against known answers, groupings,
// cuts, the SVG plots, and the report's HTML and JSON.
#include <deepjet/core/random.hpp>
#include <deepjet/evaluation/evaluate.hpp>
#include <deepjet/evaluation/json_writer.hpp>
#include <deepjet/evaluation/prediction_file.hpp>
#include <deepjet/io/root_writer.hpp>
#include <deepjet/evaluation/report.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace ev = deepjet::evaluation;

namespace {

const std::vector<std::string> deepjet_classes{"b", "bb", "lepb", "c", "uds", "g"};

/// The weighted Mann-Whitney statistic by brute force over all pairs: P(s > b) + 0.5 P(s = b).
double mann_whitney(const std::vector<double>& scores, const std::vector<double>& signal,
                    const std::vector<double>& background) {
  double sum = 0.0, signal_total = 0.0, background_total = 0.0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    signal_total += signal[i];
    background_total += background[i];
    for (std::size_t j = 0; j < scores.size(); ++j) {
      const double pair = signal[i] * background[j];
      if (scores[i] > scores[j]) sum += pair;
      if (scores[i] == scores[j]) sum += 0.5 * pair;
    }
  }
  return sum / (signal_total * background_total);
}

/// The standard normal cumulative distribution.
double phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

std::string read_text(const std::filesystem::path& path) {
  std::ifstream stream(path, std::ios::binary);
  std::ostringstream content;
  content << stream.rdbuf();
  return content.str();
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const deepjet::Error& error) {
    return error.what();
  }
  return "(no deepjet::Error thrown)";
}

/// A fake six-class tagger: each jet's logits are its true class times `separation` plus noise.
struct FakeTagger {
  std::vector<float> predictions, truth, spectators;
  std::size_t jets = 0;
};
FakeTagger fake_tagger(std::size_t jets, double separation, std::uint64_t seed) {
  deepjet::Random random(seed);
  FakeTagger fake;
  fake.jets = jets;
  const std::size_t classes = deepjet_classes.size();
  for (std::size_t jet = 0; jet < jets; ++jet) {
    const std::size_t true_class = random.below(classes);
    std::vector<double> logits(classes);
    double norm = 0.0;
    for (std::size_t c = 0; c < classes; ++c) {
      logits[c] = (c == true_class ? separation : 0.0) + random.normal();
      // b-like classes resemble each other, as do the light ones.
      if (true_class < 3 && c < 3) logits[c] += 0.5 * separation;
      if (true_class >= 4 && c >= 4) logits[c] += 0.5 * separation;
      logits[c] = std::exp(logits[c]);
      norm += logits[c];
    }
    for (std::size_t c = 0; c < classes; ++c) {
      fake.predictions.push_back(static_cast<float>(logits[c] / norm));
      fake.truth.push_back(c == true_class ? 1.0f : 0.0f);
    }
    fake.spectators.push_back(static_cast<float>(20.0 + 200.0 * random.uniform()));  // jet_pt
    fake.spectators.push_back(random.uniform(-3.0f, 3.0f));                          // jet_eta
  }
  return fake;
}

}  // namespace

// ---------------------------------------------------------------- ROC, AUC, mistag rates

TEST(Roc, PerfectSeparationHasAreaOne) {
  const std::vector<double> scores{0.9, 0.8, 0.7, 0.3, 0.2, 0.1};
  const std::vector<double> signal{1, 1, 1, 0, 0, 0};
  const std::vector<double> background{0, 0, 0, 1, 1, 1};
  const auto curve = ev::roc_curve(scores, signal, background);
  // Exact by construction (roc.hpp): unit weights make every sum and product an integer, and the
  // area is their ratio rounded once; so are the interpolated mistag rates at 0 background.
  EXPECT_EQ(ev::area_under_curve(curve), 1.0);
  EXPECT_EQ(ev::background_efficiency_at(curve, 0.5), 0.0);
  EXPECT_EQ(ev::background_efficiency_at(curve, 1.0), 0.0);
  // Reversed: area 0.
  const std::vector<double> reversed{0.1, 0.2, 0.3, 0.7, 0.8, 0.9};
  EXPECT_EQ(ev::area_under_curve(ev::roc_curve(reversed, signal, background)), 0.0);
}

TEST(Roc, IdenticalDistributionsHaveAreaExactlyOneHalf) {
  // Exact equality on purpose: with unit weights the area is computed from integer weight sums
  // (exact in double) and one final division of integers, S B / (2 S B), with every multiply-add an
  // explicit fma: 0.5 exactly on every machine, whatever the compiler contracts (roc.hpp).
  // All scores equal: one diagonal step.
  const std::vector<double> same(10, 0.3);
  std::vector<double> signal(10, 0.0), background(10, 0.0);
  for (std::size_t i = 0; i < 10; ++i) (i % 2 ? signal : background)[i] = 1.0;
  const auto flat = ev::roc_curve(same, signal, background);
  ASSERT_EQ(flat.points.size(), 2u);
  EXPECT_EQ(ev::area_under_curve(flat), 0.5);

  // The same discrete distribution for signal and background, full of ties.
  std::vector<double> scores;
  signal.clear();
  background.clear();
  for (int repeat = 0; repeat < 2; ++repeat) {
    for (const double value : {0.1, 0.2, 0.2, 0.5, 0.5, 0.5, 0.9}) {
      scores.push_back(value);
      signal.push_back(repeat == 0 ? 1.0 : 0.0);
      background.push_back(repeat == 0 ? 0.0 : 1.0);
    }
  }
  EXPECT_EQ(ev::area_under_curve(ev::roc_curve(scores, signal, background)), 0.5);
}

TEST(Roc, UnitWeightAreaIsTheExactPairRatio) {
  // 2000 unit-weight jets with scores on 13 levels (many ties). The exact AUC is the rational
  // (2 wins + ties) / (2 S B), counted here in integers; roc.hpp rounds the same rational once, so
  // the two are the same double on every machine.
  deepjet::Random random(17);
  std::vector<double> scores, signal, background;
  for (int i = 0; i < 2000; ++i) {
    const bool is_signal = random.uniform() < 0.4;
    const int level = static_cast<int>(random.uniform() * 10.0) + (is_signal ? 3 : 0);
    scores.push_back(level / 13.0);
    signal.push_back(is_signal ? 1.0 : 0.0);
    background.push_back(is_signal ? 0.0 : 1.0);
  }
  std::int64_t twice_won = 0, signal_jets = 0, background_jets = 0;
  for (std::size_t s = 0; s < scores.size(); ++s) {
    if (signal[s] == 0.0) continue;
    ++signal_jets;
    for (std::size_t b = 0; b < scores.size(); ++b) {
      if (background[b] == 0.0) continue;
      twice_won += scores[s] > scores[b] ? 2 : scores[s] == scores[b] ? 1 : 0;
    }
  }
  for (const double b : background) background_jets += b != 0.0;
  const double exact = static_cast<double>(twice_won) / static_cast<double>(2 * signal_jets * background_jets);
  EXPECT_EQ(ev::area_under_curve(ev::roc_curve(scores, signal, background)), exact);
}

TEST(Roc, HandComputedCaseWithTiesAndWeights) {
  // Jet 1 is half signal, half background, tied with a background jet.
  const std::vector<double> scores{0.9, 0.7, 0.7, 0.3};
  const std::vector<double> signal{1.0, 0.5, 1.0, 0.0};
  const std::vector<double> background{0.0, 0.5, 1.0, 2.0};
  const auto curve = ev::roc_curve(scores, signal, background);
  EXPECT_EQ(curve.signal_total, 2.5);
  EXPECT_EQ(curve.background_total, 3.5);
  ASSERT_EQ(curve.points.size(), 4u);
  EXPECT_TRUE(std::isinf(curve.points[0].threshold));
  EXPECT_EQ(curve.points[0].signal_efficiency, 0.0);
  EXPECT_EQ(curve.points[1].threshold, 0.9);
  EXPECT_DOUBLE_EQ(curve.points[1].signal_efficiency, 0.4);
  EXPECT_EQ(curve.points[1].background_efficiency, 0.0);
  EXPECT_EQ(curve.points[2].threshold, 0.7);  // both tied jets enter at once
  EXPECT_DOUBLE_EQ(curve.points[2].signal_efficiency, 1.0);
  EXPECT_DOUBLE_EQ(curve.points[2].background_efficiency, 1.5 / 3.5);
  EXPECT_EQ(curve.points[3].signal_efficiency, 1.0);
  EXPECT_EQ(curve.points[3].background_efficiency, 1.0);
  // By hand: pairs (signal weight x background weight) won count 1, tied ones 1/2:
  // 1 x 3.5 + 0.5 x (0.5/2 + 1/2 + 2) + 1 x (0.5/2 + 1/2 + 2) = 7.625, over 2.5 x 3.5.
  EXPECT_NEAR(ev::area_under_curve(curve), 7.625 / 8.75, 1e-15);
  EXPECT_NEAR(ev::area_under_curve(curve), mann_whitney(scores, signal, background), 1e-15);
  // 50 %: a sixth of the way from (0.4, 0) to (1, 1.5/3.5); the cut that gets there is d >= 0.7.
  EXPECT_NEAR(ev::background_efficiency_at(curve, 0.5), (1.5 / 3.5) / 6.0, 1e-15);
  const auto at_half = ev::working_point_at_signal_efficiency(curve, 0.5);
  EXPECT_EQ(at_half.threshold, 0.7);
  EXPECT_EQ(at_half.signal_efficiency, 0.5);
  // The other way round: at 10 % mistag, 0.1 / (1.5/3.5) of the way from (0.4, 0) to (1, 1.5/3.5),
  // with the loosest cut still within 10 %: d >= 0.9.
  const auto at_ten_percent = ev::working_point_at_background_efficiency(curve, 0.1);
  EXPECT_NEAR(at_ten_percent.signal_efficiency, 0.4 + 0.6 * 0.1 / (1.5 / 3.5), 1e-15);
  EXPECT_EQ(at_ten_percent.threshold, 0.9);
  EXPECT_EQ(at_ten_percent.background_efficiency, 0.1);
  EXPECT_EQ(ev::working_point_at_background_efficiency(curve, 0.0).signal_efficiency, 0.4);
  EXPECT_EQ(ev::working_point_at_background_efficiency(curve, 1.0).threshold, 0.3);
  EXPECT_THROW(ev::working_point_at_background_efficiency(curve, -0.1), deepjet::Error);
}

TEST(Roc, MatchesBruteForceMannWhitneyWithManyTies) {
  deepjet::Random random(7);
  std::vector<double> scores, signal, background;
  for (int i = 0; i < 400; ++i) {
    scores.push_back(std::round(random.uniform() * 20.0) / 20.0);  // 21 distinct values
    const double fraction = random.uniform() < 0.8 ? std::round(random.uniform()) : random.uniform();
    const double weight = 0.5 + random.uniform();
    signal.push_back(weight * fraction);
    background.push_back(weight * (1.0 - fraction));
  }
  const auto curve = ev::roc_curve(scores, signal, background);
  EXPECT_LE(curve.points.size(), 22u);
  EXPECT_NEAR(ev::area_under_curve(curve), mann_whitney(scores, signal, background), 1e-12);
  for (std::size_t i = 1; i < curve.points.size(); ++i) {
    EXPECT_GE(curve.points[i].signal_efficiency, curve.points[i - 1].signal_efficiency);
    EXPECT_GE(curve.points[i].background_efficiency, curve.points[i - 1].background_efficiency);
    EXPECT_LT(curve.points[i].threshold, curve.points[i - 1].threshold);
  }
}

TEST(Roc, AreaOfTwoGaussiansApproachesPhiOfHalfTheSeparation) {
  // For s ~ N(d, 1) and b ~ N(0, 1): P(s > b) = Phi(d / sqrt(2)).
  for (const double d : {0.5, 1.0, 2.0}) {
    deepjet::Random random(42);
    const std::size_t n = 100000;
    std::vector<double> scores, signal, background;
    for (std::size_t i = 0; i < n; ++i) {
      scores.push_back(d + random.normal());
      signal.push_back(1.0);
      background.push_back(0.0);
      scores.push_back(random.normal());
      signal.push_back(0.0);
      background.push_back(1.0);
    }
    const double expected = phi(d / std::sqrt(2.0));
    // Hanley & McNeil's standard error of an AUC estimate with n signal and n background.
    const double a = expected;
    const double q1 = a / (2 - a), q2 = 2 * a * a / (1 + a);
    const double standard_error = std::sqrt((a * (1 - a) + (n - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (double(n) * n));
    const double auc = ev::area_under_curve(ev::roc_curve(scores, signal, background));
    EXPECT_NEAR(auc, expected, 4 * standard_error) << "d = " << d << ", standard error " << standard_error;
  }
}

TEST(Roc, MistagAtFixedSignalEfficiencyOfAKnownCase) {
  // Signal at 0.1, 0.2, ..., 1.0; background at 0.05, 0.15, ..., 0.95.
  std::vector<double> scores, signal, background;
  for (int i = 1; i <= 10; ++i) {
    scores.push_back(i / 10.0);
    signal.push_back(1);
    background.push_back(0);
    scores.push_back(i / 10.0 - 0.05);
    signal.push_back(0);
    background.push_back(1);
  }
  const auto curve = ev::roc_curve(scores, signal, background);
  // Cutting at 0.6 keeps 5 of 10 signal jets and 0.65, 0.75, 0.85, 0.95: 4 of 10 background.
  EXPECT_DOUBLE_EQ(ev::background_efficiency_at(curve, 0.5), 0.4);
  EXPECT_DOUBLE_EQ(ev::background_efficiency_at(curve, 0.7), 0.6);
  EXPECT_DOUBLE_EQ(ev::background_efficiency_at(curve, 0.1), 0.0);
  EXPECT_DOUBLE_EQ(ev::background_efficiency_at(curve, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(ev::background_efficiency_at(curve, 1.0), 0.9);
  // Between points: linear (0.45 lies between (0.4, 0.3) and (0.5, 0.4) via the point (0.4, 0.4)).
  EXPECT_DOUBLE_EQ(ev::background_efficiency_at(curve, 0.45), 0.4);
  // The exact AUC: signal i beats backgrounds 1..i: sum i / 100 = 0.55.
  EXPECT_NEAR(ev::area_under_curve(curve), 0.55, 1e-15);
  EXPECT_THROW(ev::background_efficiency_at(curve, 1.5), deepjet::Error);
}

TEST(Roc, JetsOfNeitherClassDoNotMoveTheCurve) {
  const std::vector<double> with_neutral{0.9, 0.8, 0.5, 0.2};
  const std::vector<double> signal{1, 0, 0, 0};
  const std::vector<double> background{0, 0, 1, 1};
  const auto curve = ev::roc_curve(with_neutral, signal, background);
  EXPECT_EQ(curve.points.size(), 4u);  // (0,0), 0.9 (+ the neutral 0.8), 0.5, 0.2
  EXPECT_EQ(ev::area_under_curve(curve), 1.0);
}

TEST(Roc, CompactKeepsEndsAndAtMostTheRequestedPoints) {
  deepjet::Random random(3);
  std::vector<double> scores, signal, background;
  for (int i = 0; i < 20000; ++i) {
    const bool is_signal = i % 2 == 0;
    scores.push_back((is_signal ? 1.5 : 0.0) + random.normal());
    signal.push_back(is_signal ? 1.0 : 0.0);
    background.push_back(is_signal ? 0.0 : 1.0);
  }
  const auto curve = ev::roc_curve(scores, signal, background);
  ASSERT_GT(curve.points.size(), 10000u);
  const auto small = ev::compact(curve, 200);
  EXPECT_LE(small.size(), 200u);
  EXPECT_GT(small.size(), 150u);
  EXPECT_EQ(small.front().signal_efficiency, 0.0);
  EXPECT_EQ(small.back().signal_efficiency, 1.0);
  EXPECT_EQ(small.back().background_efficiency, 1.0);
  ev::RocCurve compacted{small, curve.signal_total, curve.background_total};
  EXPECT_NEAR(ev::area_under_curve(compacted), ev::area_under_curve(curve), 2e-3);
  EXPECT_NEAR(ev::background_efficiency_at(compacted, 0.5), ev::background_efficiency_at(curve, 0.5), 2e-3);
  // A short curve comes back whole.
  EXPECT_EQ(ev::compact(curve, curve.points.size()).size(), curve.points.size());
  EXPECT_THROW(ev::compact(curve, 3), deepjet::Error);
}

TEST(Roc, BadInputsThrowWithClearMessages) {
  const std::vector<double> two{0.1, 0.2}, three{1, 0, 1};
  EXPECT_NE(error_message([&] { ev::roc_curve(two, three, three); }).find("must match"), std::string::npos);
  const std::vector<double> nan_score{0.1, std::nan("")}, s{1, 0}, b{0, 1};
  EXPECT_NE(error_message([&] { ev::roc_curve(nan_score, s, b); }).find("not finite"), std::string::npos);
  const std::vector<double> negative{-1, 0};
  EXPECT_NE(error_message([&] { ev::roc_curve(two, negative, b); }).find("negative"), std::string::npos);
  const std::vector<double> zeros{0, 0};
  EXPECT_NE(error_message([&] { ev::roc_curve(two, zeros, b); }).find("no signal"), std::string::npos);
  EXPECT_NE(error_message([&] { ev::roc_curve(two, s, zeros); }).find("no background"), std::string::npos);
}

// ---------------------------------------------------------------- groupings and cuts

TEST(Discriminants, DeepJetGroupingsOnHandMadeProbabilities) {
  const std::vector<float> p{0.10f, 0.20f, 0.05f, 0.30f, 0.25f, 0.10f};  // b bb lepb c uds g
  const auto b_udsg = ev::resolve(ev::deepjet_b_vs_udsg(), deepjet_classes);
  EXPECT_NEAR(b_udsg.discriminant(p), 0.35, 1e-7);
  const auto b_c = ev::resolve(ev::deepjet_b_vs_c(), deepjet_classes);
  EXPECT_NEAR(b_c.discriminant(p), 0.35, 1e-7);
  const auto c_l = ev::resolve(ev::deepjet_c_vs_udsg(), deepjet_classes);
  EXPECT_NEAR(c_l.discriminant(p), 0.30 / 0.65, 1e-7);
  const auto c_b = ev::resolve(ev::deepjet_c_vs_b(), deepjet_classes);
  EXPECT_NEAR(c_b.discriminant(p), 0.30 / 0.65, 1e-7);
  // b / (b + c) with a custom grouping.
  const ev::Grouping b_over_bc{"b vs c (ratio)", {"b"}, {"c"}, {"b"}, {"b", "c"}};
  EXPECT_NEAR(ev::resolve(b_over_bc, deepjet_classes).discriminant(p), 0.10 / 0.40, 1e-7);
  // No probability in the denominator: 0.
  const std::vector<float> only_b{1, 0, 0, 0, 0, 0};
  EXPECT_EQ(c_l.discriminant(only_b), 0.0);
  // Truth fractions: a jet that is half bb, half c.
  const std::vector<float> truth{0, 0.5f, 0, 0.5f, 0, 0};
  EXPECT_EQ(b_c.signal_weight(truth), 0.5);
  EXPECT_EQ(b_c.background_weight(truth), 0.5);
  EXPECT_EQ(b_udsg.background_weight(truth), 0.0);
  EXPECT_EQ(ev::discriminant_formula(ev::deepjet_b_vs_udsg()), "p_b + p_bb + p_lepb");
  EXPECT_EQ(ev::discriminant_formula(ev::deepjet_c_vs_udsg()), "p_c / (p_c + p_uds + p_g)");
  EXPECT_EQ(ev::deepjet_groupings().size(), 4u);
}

TEST(Discriminants, UnknownOrConflictingClassesThrow) {
  const ev::Grouping unknown{"b vs light", {"b"}, {"light"}, {"b"}, {}};
  const std::string message = error_message([&] { ev::resolve(unknown, deepjet_classes); });
  EXPECT_NE(message.find("b vs light"), std::string::npos) << message;
  EXPECT_NE(message.find("'light'"), std::string::npos) << message;
  EXPECT_NE(message.find("b, bb, lepb, c, uds, g"), std::string::npos) << message;
  const ev::Grouping overlap{"overlap", {"b", "c"}, {"c"}, {"b"}, {}};
  EXPECT_NE(error_message([&] { ev::resolve(overlap, deepjet_classes); }).find("both signal and background"),
            std::string::npos);
  const ev::Grouping no_background{"nothing", {"b"}, {}, {"b"}, {}};
  EXPECT_NE(error_message([&] { ev::resolve(no_background, deepjet_classes); }).find("no background"),
            std::string::npos);
  const ev::Grouping no_numerator{"nothing", {"b"}, {"c"}, {}, {}};
  EXPECT_NE(error_message([&] { ev::resolve(no_numerator, deepjet_classes); }).find("numerator"), std::string::npos);
}

TEST(Cuts, PassDescribeAndSelect) {
  const auto pt = ev::Cut::above("jet_pt", 30);
  const auto eta = ev::Cut::absolute_below("jet_eta", 2.5);
  const ev::Cut window{"jet_pt", 20, 1000};
  EXPECT_TRUE(pt.passes(30.5));
  EXPECT_FALSE(pt.passes(30.0));  // strictly above
  EXPECT_FALSE(pt.passes(std::nan("")));
  EXPECT_TRUE(eta.passes(-2.4));
  EXPECT_FALSE(eta.passes(-2.6));
  EXPECT_FALSE(window.passes(1000));
  EXPECT_EQ(pt.description(), "jet_pt > 30");
  EXPECT_EQ(eta.description(), "|jet_eta| < 2.5");
  EXPECT_EQ(window.description(), "20 < jet_pt < 1000");
  EXPECT_EQ(ev::Cut::below("jet_pt", 1e3).description(), "jet_pt < 1000");
  const std::vector<ev::Cut> cuts{pt, eta};
  EXPECT_EQ(ev::describe(cuts), "jet_pt > 30 and |jet_eta| < 2.5");
  EXPECT_EQ(ev::describe(std::vector<ev::Cut>{}), "none");

  const std::vector<std::string> names{"jet_pt", "jet_eta"};
  const std::vector<float> spectators{25, 0.0f, 35, 1.0f, 50, -2.7f, 100, -2.0f};  // 4 jets
  const ev::JetTable table(spectators, 2);
  EXPECT_EQ(ev::select(table, names, cuts, 4), (std::vector<std::size_t>{1, 3}));
  const std::vector<ev::Cut> unknown{ev::Cut::above("jet_mass", 10)};
  const std::string message = error_message([&] { ev::select(table, names, unknown, 4); });
  EXPECT_NE(message.find("unknown spectator 'jet_mass'"), std::string::npos) << message;
  EXPECT_NE(message.find("jet_pt, jet_eta"), std::string::npos) << message;
}

TEST(JetTables, FromVectorsAndTensors) {
  const std::vector<float> values{1, 2, 3, 4, 5, 6};
  const ev::JetTable table(values, 3);
  EXPECT_EQ(table.rows(), 2u);
  EXPECT_EQ(table(1, 0), 4.0f);
  xt::xtensor<float, 2> tensor = {{1, 2}, {3, 4}, {5, 6}};
  const ev::JetTable from_tensor(tensor);
  EXPECT_EQ(from_tensor.rows(), 3u);
  EXPECT_EQ(from_tensor.columns(), 2u);
  EXPECT_EQ(from_tensor(2, 1), 6.0f);
  EXPECT_THROW(ev::JetTable(std::span<const float>(values), 4, 2), deepjet::Error);
}

// ---------------------------------------------------------------- evaluate

TEST(Evaluate, PerfectTaggerWithCutsAndFractionalTruth) {
  // Five jets: b, bb, uds, g, c; the tagger's b discriminant is perfect. Jet 5 (half b, half
  // uds) has pT 10 and fails the cut.
  const std::vector<float> predictions{0.9f, 0.05f, 0, 0, 0.05f, 0,  //
                                       0.1f, 0.7f, 0, 0.1f, 0.1f, 0,  //
                                       0, 0, 0, 0.1f, 0.8f, 0.1f,     //
                                       0, 0, 0.1f, 0, 0.2f, 0.7f,     //
                                       0.2f, 0, 0, 0.8f, 0, 0,        //
                                       0.0f, 0, 0, 0, 1, 0};
  const std::vector<float> truth{1, 0, 0, 0, 0, 0,  //
                                 0, 1, 0, 0, 0, 0,  //
                                 0, 0, 0, 0, 1, 0,  //
                                 0, 0, 0, 0, 0, 1,  //
                                 0, 0, 0, 1, 0, 0,  //
                                 0.5f, 0, 0, 0, 0.5f, 0};
  const std::vector<float> spectators{100, 0, 50, 1, 40, -1, 35, 2, 60, 0, 10, 0};
  const std::vector<std::string> spectator_names{"jet_pt", "jet_eta"};
  ev::EvaluationSettings settings;
  settings.groupings = {ev::deepjet_b_vs_udsg(), ev::deepjet_b_vs_c()};
  settings.cuts = {ev::Cut::above("jet_pt", 30)};
  const auto results = ev::evaluate(ev::JetTable(predictions, 6), ev::JetTable(truth, 6),
                                    ev::JetTable(spectators, 2), deepjet_classes, spectator_names, settings);
  EXPECT_EQ(results.jets_total, 6u);
  EXPECT_EQ(results.jets_selected, 5u);
  ASSERT_EQ(results.groupings.size(), 2u);
  const auto& b_udsg = results.groupings[0];
  // Exact by construction: the truth weights here (0, 0.5, 1) are dyadic, so every weight sum and
  // product in the area is exact and the area is one division (roc.hpp); the same for 0.5 below.
  EXPECT_EQ(b_udsg.auc, 1.0);
  EXPECT_EQ(b_udsg.signal_jets, 2.0);
  EXPECT_EQ(b_udsg.background_jets, 2.0);
  ASSERT_EQ(b_udsg.mistag_rates.size(), 3u);
  EXPECT_EQ(b_udsg.mistag_rates[1].signal_efficiency, 0.7);
  EXPECT_EQ(b_udsg.mistag_rates[1].background_efficiency, 0.0);
  // b vs c: the c jet's b discriminant 0.2 is below both b jets'.
  EXPECT_EQ(results.groupings[1].auc, 1.0);
  EXPECT_EQ(results.groupings[1].background_jets, 1.0);
  // Histograms: one per class with jets (lepb has none), each normalised.
  EXPECT_EQ(b_udsg.histograms.size(), 5u);
  for (const auto& histogram : b_udsg.histograms) {
    double sum = 0.0;
    for (const double content : histogram.contents) sum += content;
    EXPECT_NEAR(sum, 1.0, 1e-12) << histogram.label;
    EXPECT_EQ(histogram.edges.front(), 0.0);
    EXPECT_EQ(histogram.edges.back(), 1.0);
  }

  // A discriminant outside [0, 1], (p_b + p_bb) / p_c: jet 0 has p_c = 0, so 0; jet 1 0.8 / 0.1;
  // the c jet 0.2 / 0.8. The histograms span [0, 8]; the b jet now loses to the c jet: AUC 1/2.
  auto ratio = settings;
  ratio.groupings = {ev::Grouping{"b over c", {"b", "bb"}, {"c"}, {"b", "bb"}, {"c"}}};
  const auto wide = ev::evaluate(ev::JetTable(predictions, 6), ev::JetTable(truth, 6), ev::JetTable(spectators, 2),
                                 deepjet_classes, spectator_names, ratio);
  EXPECT_EQ(wide.groupings[0].histograms.front().edges.front(), 0.0);
  EXPECT_NEAR(wide.groupings[0].histograms.front().edges.back(), 8.0, 1e-5);
  EXPECT_EQ(wide.groupings[0].auc, 0.5);

  // Without the cut, the half-b half-uds jet (b discriminant 0) counts: signal 2.5.
  settings.cuts.clear();
  const auto all = ev::evaluate(ev::JetTable(predictions, 6), ev::JetTable(truth, 6), ev::JetTable(spectators, 2),
                                deepjet_classes, spectator_names, settings);
  EXPECT_EQ(all.groupings[0].signal_jets, 2.5);
  EXPECT_EQ(all.groupings[0].background_jets, 2.5);
  // The two b jets beat all 2.5 background; the half-signal at 0 ties with the uds jet (1) and with
  // its own background half (0.5), each pair counting 1/2, and loses to the g jet.
  EXPECT_NEAR(all.groupings[0].auc, (2.0 * 2.5 + 0.5 * 0.5 * 1.0 + 0.5 * 0.5 * 0.5) / (2.5 * 2.5), 1e-12);
}

TEST(Evaluate, TakesXtensorsAndNoSpectators) {
  // The prediction file's layout: jets x classes tensors; no spectators, no cuts.
  const auto fake = fake_tagger(3000, 1.0, 9);
  xt::xtensor<float, 2> predictions = xt::empty<float>({fake.jets, std::size_t{6}});
  xt::xtensor<float, 2> truth = xt::empty<float>({fake.jets, std::size_t{6}});
  std::copy(fake.predictions.begin(), fake.predictions.end(), predictions.begin());
  std::copy(fake.truth.begin(), fake.truth.end(), truth.begin());
  const xt::xtensor<float, 2> no_spectators = xt::empty<float>({fake.jets, std::size_t{0}});
  ev::EvaluationSettings settings;
  settings.groupings = {ev::deepjet_b_vs_udsg()};
  const auto from_tensors = ev::evaluate(predictions, truth, no_spectators, deepjet_classes, {}, settings);
  const auto from_vectors = ev::evaluate(ev::JetTable(fake.predictions, 6), ev::JetTable(fake.truth, 6),
                                         ev::JetTable(std::span<const float>(), 0, 0), deepjet_classes, {}, settings);
  EXPECT_EQ(from_tensors.jets_selected, 3000u);
  EXPECT_EQ(from_tensors.groupings[0].auc, from_vectors.groupings[0].auc);  // the same numbers, the same code
  EXPECT_GT(from_tensors.groupings[0].auc, 0.7);
  // The AUC equals the brute-force pair count over the b and udsg jets.
  std::vector<double> scores, signal, background;
  const auto grouping = ev::resolve(ev::deepjet_b_vs_udsg(), deepjet_classes);
  for (std::size_t jet = 0; jet < fake.jets; ++jet) {
    const std::span<const float> p(fake.predictions.data() + 6 * jet, 6), t(fake.truth.data() + 6 * jet, 6);
    scores.push_back(grouping.discriminant(p));
    signal.push_back(grouping.signal_weight(t));
    background.push_back(grouping.background_weight(t));
  }
  EXPECT_NEAR(from_tensors.groupings[0].auc, mann_whitney(scores, signal, background), 1e-12);
}

// A ROOT prediction tree as another tool could write it: truth flags as bool and uint8 (any
// numeric type), a double spectator, the classes and their flags named by the title.
// read_predictions gives the values written, and so the same AUC as the tensors themselves.
TEST(PredictionFile, RootTreesOfAnyNumericTypesEvaluateAsTheirValues) {
  const auto fake = fake_tagger(2000, 1.0, 11);
  const auto directory = std::filesystem::temp_directory_path() / ("deepjet_prediction_file_" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  const auto path = directory / "predictions.root";
  std::vector<std::pair<std::string, std::vector<std::string>>> classes;
  {
    for (std::size_t c = 0; c < 5; ++c) classes.push_back({deepjet_classes[c], {"is_" + deepjet_classes[c]}});
    classes.push_back({deepjet_classes[5], {"isG"}});
    deepjet::root::FileWriter file(path);
    auto& tree = file.make_tree(ev::prediction_tree, ev::root_prediction_title(classes, {"jet_pt"}));
    for (const auto& c : deepjet_classes) tree.add_branch<float>("prob_" + c);
    for (std::size_t c = 0; c < 5; ++c) tree.add_branch<bool>(classes[c].second[0]);
    tree.add_branch<std::uint8_t>("isG").add_branch<double>("jet_pt");
    for (std::size_t c = 0; c < 6; ++c) {
      std::vector<float> column(fake.jets);
      for (std::size_t jet = 0; jet < fake.jets; ++jet) column[jet] = fake.predictions[jet * 6 + c];
      tree.write<float>("prob_" + deepjet_classes[c], column);
    }
    const auto flags = std::make_unique<bool[]>(fake.jets);  // not std::vector<bool>: not contiguous
    for (std::size_t c = 0; c < 5; ++c) {
      for (std::size_t jet = 0; jet < fake.jets; ++jet) flags[jet] = fake.truth[jet * 6 + c] > 0;
      tree.write<bool>(classes[c].second[0], std::span<const bool>(flags.get(), fake.jets));
    }
    std::vector<std::uint8_t> is_g(fake.jets);
    std::vector<double> jet_pt(fake.jets);
    for (std::size_t jet = 0; jet < fake.jets; ++jet) {
      is_g[jet] = fake.truth[jet * 6 + 5] > 0 ? 1 : 0;
      jet_pt[jet] = fake.spectators[jet * 2];
    }
    tree.write<std::uint8_t>("isG", is_g);
    tree.write<double>("jet_pt", jet_pt);
    file.close();
  }
  const auto p = ev::read_predictions(path);
  EXPECT_EQ(p.classes, deepjet_classes);
  EXPECT_EQ(p.spectators, std::vector<std::string>{"jet_pt"});
  ASSERT_EQ(p.probabilities.shape()[0], fake.jets);
  EXPECT_TRUE(p.source_entries.empty());  // not written by this tool
  EXPECT_EQ(p.weights.size(), 0u);
  for (std::size_t jet = 0; jet < fake.jets; ++jet) {
    for (std::size_t c = 0; c < 6; ++c) {
      ASSERT_EQ(p.probabilities(jet, c), fake.predictions[jet * 6 + c]);
      ASSERT_EQ(p.truth(jet, c), fake.truth[jet * 6 + c]);
    }
    ASSERT_EQ(p.spectator_values(jet, 0), fake.spectators[jet * 2]);  // a float stored as double: exact
  }
  ev::EvaluationSettings settings;
  settings.groupings = ev::deepjet_groupings();
  settings.cuts = {ev::Cut::above("jet_pt", 50)};
  const auto from_file = ev::evaluate(p.probabilities, p.truth, p.spectator_values, p.classes, p.spectators, settings);
  std::vector<float> pt_only;
  for (std::size_t jet = 0; jet < fake.jets; ++jet) pt_only.push_back(fake.spectators[jet * 2]);
  const auto direct = ev::evaluate(ev::JetTable(fake.predictions, 6), ev::JetTable(fake.truth, 6), ev::JetTable(pt_only, 1),
                                   deepjet_classes, std::vector<std::string>{"jet_pt"}, settings);
  ASSERT_EQ(from_file.groupings.size(), direct.groupings.size());
  for (std::size_t g = 0; g < direct.groupings.size(); ++g) EXPECT_EQ(from_file.groupings[g].auc, direct.groupings[g].auc);

  // A tree that is not a prediction tree, and a file that is neither ROOT nor HDF5, are refused by name.
  {
    deepjet::root::FileWriter file(directory / "other.root");
    file.make_tree("tree", "jets").add_branch<float>("x").write<float>("x", std::vector<float>{1});
    file.close();
  }
  EXPECT_NE(error_message([&] { ev::read_predictions(directory / "other.root"); }).find("not a deepjet prediction tree"),
            std::string::npos);
  std::ofstream(directory / "text.h5") << "not a prediction file";
  EXPECT_NE(error_message([&] { ev::read_predictions(directory / "text.h5"); }).find("text.h5"), std::string::npos);
  std::filesystem::remove_all(directory);
}

TEST(Evaluate, BadInputsThrowWithClearMessages) {
  const auto fake = fake_tagger(100, 2.0, 1);
  const std::vector<std::string> spectator_names{"jet_pt", "jet_eta"};
  ev::EvaluationSettings settings;
  settings.groupings = {ev::deepjet_b_vs_udsg()};
  const ev::JetTable predictions(fake.predictions, 6), truth(fake.truth, 6), spectators(fake.spectators, 2);

  const std::vector<float> short_truth(fake.truth.begin(), fake.truth.end() - 6);
  std::string message = error_message(
      [&] { ev::evaluate(predictions, ev::JetTable(short_truth, 6), spectators, deepjet_classes, spectator_names, settings); });
  EXPECT_NE(message.find("100 jets of predictions but 99 jets of truth"), std::string::npos) << message;

  const std::vector<std::string> five_classes(deepjet_classes.begin(), deepjet_classes.end() - 1);
  message = error_message([&] { ev::evaluate(predictions, truth, spectators, five_classes, spectator_names, settings); });
  EXPECT_NE(message.find("6 columns for 5 classes"), std::string::npos) << message;

  auto unknown = settings;
  unknown.groupings = {ev::Grouping{"b vs light", {"b"}, {"light"}, {"b"}, {}}};
  message = error_message([&] { ev::evaluate(predictions, truth, spectators, deepjet_classes, spectator_names, unknown); });
  EXPECT_NE(message.find("unknown background class 'light'"), std::string::npos) << message;

  auto too_tight = settings;
  too_tight.cuts = {ev::Cut::above("jet_pt", 1e6)};
  message = error_message([&] { ev::evaluate(predictions, truth, spectators, deepjet_classes, spectator_names, too_tight); });
  EXPECT_NE(message.find("grouping 'b vs udsg': no signal jets"), std::string::npos) << message;
  EXPECT_NE(message.find("jet_pt > 1000000"), std::string::npos) << message;

  // No background: every jet is a b jet.
  std::vector<float> all_b(fake.truth.size(), 0.0f);
  for (std::size_t jet = 0; jet < fake.jets; ++jet) all_b[jet * 6] = 1.0f;
  message = error_message(
      [&] { ev::evaluate(predictions, ev::JetTable(all_b, 6), spectators, deepjet_classes, spectator_names, settings); });
  EXPECT_NE(message.find("no background jets (classes uds, g)"), std::string::npos) << message;

  auto bad_efficiency = settings;
  bad_efficiency.signal_efficiencies = {0.5, 85};
  EXPECT_THROW(ev::evaluate(predictions, truth, spectators, deepjet_classes, spectator_names, bad_efficiency),
               deepjet::Error);
  bad_efficiency = settings;
  bad_efficiency.background_efficiencies = {-0.01};
  message = error_message(
      [&] { ev::evaluate(predictions, truth, spectators, deepjet_classes, spectator_names, bad_efficiency); });
  EXPECT_NE(message.find("background efficiency -0.01"), std::string::npos) << message;

  std::vector<float> nan_prediction = fake.predictions;
  nan_prediction[13] = std::nanf("");
  message = error_message([&] {
    ev::evaluate(ev::JetTable(nan_prediction, 6), truth, spectators, deepjet_classes, spectator_names, settings);
  });
  EXPECT_NE(message.find("prediction of jet 2 for class 'bb' is not finite"), std::string::npos) << message;

  auto bad_bins = settings;
  bad_bins.efficiency_bins = {{"jet_mass", {0, 10}}};
  message = error_message([&] { ev::evaluate(predictions, truth, spectators, deepjet_classes, spectator_names, bad_bins); });
  EXPECT_NE(message.find("unknown spectator 'jet_mass'"), std::string::npos) << message;
  bad_bins.efficiency_bins = {{"jet_pt", {30, 30, 50}}};
  message = error_message([&] { ev::evaluate(predictions, truth, spectators, deepjet_classes, spectator_names, bad_bins); });
  EXPECT_NE(message.find("strictly increasing"), std::string::npos) << message;

  const std::vector<std::string> one_name{"jet_pt"};
  EXPECT_THROW(ev::evaluate(predictions, truth, spectators, deepjet_classes, one_name, settings), deepjet::Error);
}

// ---------------------------------------------------------------- plots

TEST(Plots, SvgIsWellFormedFiniteAndDeterministic) {
  std::vector<ev::RocPoint> points{{INFINITY, 0, 0}, {0.9, 0.3, 0.0}, {0.5, 0.5, 0.001}, {0.2, 0.8, 0.05}, {0.0, 1, 1}};
  const auto plot = ev::roc_plot("roc", "b <tagging> & friends", {{"b vs udsg", points}, {"b vs c", points, true}});
  const std::string text = ev::svg(plot);
  EXPECT_EQ(text.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_EQ(text.substr(text.size() - 7), "</svg>\n");
  EXPECT_EQ(count(text, "<svg"), 1u);
  EXPECT_EQ(count(text, "<text"), count(text, "</text>"));
  EXPECT_EQ(count(text, "<polyline"), 2u);
  EXPECT_NE(text.find("b &lt;tagging&gt; &amp; friends"), std::string::npos);
  EXPECT_EQ(text.find("nan"), std::string::npos);
  EXPECT_EQ(text.find("inf"), std::string::npos);
  EXPECT_NE(text.find("stroke-dasharray"), std::string::npos);
  EXPECT_NE(text.find("10<tspan"), std::string::npos);  // decades on the mistag axis
  EXPECT_EQ(text, ev::svg(ev::roc_plot("roc", "b <tagging> & friends", {{"b vs udsg", points}, {"b vs c", points, true}})));

  const std::string history = ev::svg(ev::history_plot("loss", "Loss", "loss", {1.2, 0.8, 0.7, NAN}, {1.3, 0.9, 0.85}));
  EXPECT_EQ(count(history, "<polyline"), 2u);
  EXPECT_EQ(count(history, "<circle"), 6u);  // the NaN point is skipped
  EXPECT_EQ(history.find("nan"), std::string::npos);
  const std::string single_epoch = ev::svg(ev::history_plot("acc", "Accuracy", "accuracy", {0.5}, {0.6}));
  EXPECT_EQ(count(single_epoch, "<circle"), 2u);
  // Epochs are whole numbers; the y axis gets at least four labelled ticks.
  const std::string two_epochs = ev::svg(ev::history_plot("acc", "Accuracy", "accuracy", {0.21, 0.27}, {0.33, 0.32}));
  EXPECT_NE(two_epochs.find(">1</text>"), std::string::npos);
  EXPECT_NE(two_epochs.find(">2</text>"), std::string::npos);
  EXPECT_EQ(two_epochs.find(">1.2</text>"), std::string::npos);
  EXPECT_EQ(two_epochs.find(">1.5</text>"), std::string::npos);
  for (const char* tick : {">0.22</text>", ">0.24</text>", ">0.26</text>", ">0.28</text>", ">0.30</text>", ">0.32</text>"}) {
    EXPECT_NE(two_epochs.find(tick), std::string::npos) << tick;
  }

  const ev::Histogram h{"b", {0, 0.5, 1}, {0.25, 0.75}};
  const ev::Histogram empty_bin{"uds", {0, 0.5, 1}, {1.0, 0.0}};
  for (const bool log_y : {true, false}) {
    const std::string histograms = ev::svg(ev::histogram_plot("h", "Distribution", "d", "fraction", {h, empty_bin}, log_y));
    EXPECT_EQ(histograms.find("nan"), std::string::npos);
    EXPECT_EQ(histograms.find("inf"), std::string::npos);
    EXPECT_EQ(count(histograms, "<polyline"), 2u);
  }
  EXPECT_THROW(ev::svg(ev::histogram_plot("h", "t", "x", "y", {ev::Histogram{"bad", {0, 1}, {1, 2}}})), deepjet::Error);
}

// ---------------------------------------------------------------- JSON and the report

TEST(Json, WriterOutputParses) {
  ev::JsonWriter json;
  json.begin_object();
  json.key("text").value("quote \" backslash \\ newline \n tab \t bell \x07");
  json.key("numbers").numbers(std::vector<double>{0.1, 1e-300, INFINITY, NAN, -2.5});
  json.key("empty").begin_array().end_array();
  json.key("nested").begin_array().begin_object().key("n").value(std::size_t{3}).end_object().value(true).end_array();
  json.end_object();
  const auto parsed = nlohmann::json::parse(json.finish());
  EXPECT_EQ(parsed["text"], "quote \" backslash \\ newline \n tab \t bell \x07");
  EXPECT_EQ(parsed["numbers"][0].get<double>(), 0.1);
  EXPECT_EQ(parsed["numbers"][1].get<double>(), 1e-300);
  EXPECT_TRUE(parsed["numbers"][2].is_null());
  EXPECT_TRUE(parsed["numbers"][3].is_null());
  EXPECT_TRUE(parsed["empty"].empty());
  EXPECT_EQ(parsed["nested"][0]["n"], 3);
  EXPECT_EQ(parsed["nested"][1], true);
}

TEST(Report, WritesSelfContainedHtmlParsableJsonAndSvgs) {
  const auto fake = fake_tagger(20000, 1.5, 11);
  const std::vector<std::string> spectator_names{"jet_pt", "jet_eta"};
  ev::EvaluationSettings settings;
  settings.groupings = ev::deepjet_groupings();
  settings.cuts = {ev::Cut::above("jet_pt", 30), ev::Cut::absolute_below("jet_eta", 2.5)};
  settings.efficiency_bins = {{"jet_pt", {30, 60, 100, 150, 220}}, {"jet_eta", {0, 0.5, 1, 1.5, 2, 2.5}, true}};
  auto results = ev::evaluate(ev::JetTable(fake.predictions, 6), ev::JetTable(fake.truth, 6),
                              ev::JetTable(fake.spectators, 2), deepjet_classes, spectator_names, settings);
  results.title = "DeepJet evaluation (test tagger)";
  results.training = {{1.60, 1.10, 0.95, 0.90, 0.88}, {1.30, 1.00, 0.93, 0.91, 0.90},
                      {0.35, 0.52, 0.58, 0.60, 0.61}, {0.45, 0.55, 0.59, 0.60, 0.60}};
  // Sensible numbers: b vs udsg separates better than b vs c, and mistag grows with efficiency.
  const auto& b_udsg = results.groupings[0];
  EXPECT_GT(b_udsg.auc, 0.8);
  EXPECT_GT(b_udsg.auc, results.groupings[1].auc);
  EXPECT_LT(b_udsg.mistag_rates[0].background_efficiency, b_udsg.mistag_rates[2].background_efficiency);
  EXPECT_LE(b_udsg.roc.size(), 500u);
  EXPECT_GT(results.jets_selected, 10000u);
  EXPECT_LT(results.jets_selected, 20000u);

  // The report stays (in the temporary directory) so it can be looked at.
  const std::filesystem::path directory = std::filesystem::temp_directory_path() / "deepjet_evaluation_report_example";
  std::filesystem::remove_all(directory);
  const auto written = ev::write_report(directory, results);
  // roc, 4 discriminants, 4 x 2 efficiency plots, loss, accuracy, json, html
  ASSERT_EQ(written.size(), 1u + 4u + 8u + 2u + 2u);
  for (const auto& path : written) EXPECT_TRUE(std::filesystem::exists(path)) << path;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
  }
  EXPECT_TRUE(std::filesystem::exists(directory / "discriminant_b_vs_udsg.svg"));
  EXPECT_TRUE(std::filesystem::exists(directory / "efficiency_b_vs_udsg_jet_pt.svg"));
  EXPECT_TRUE(std::filesystem::exists(directory / "efficiency_c_vs_b_jet_eta_abs.svg"));

  const std::string html = read_text(directory / "report.html");
  EXPECT_EQ(count(html, "<svg"), 15u);  // every plot inlined
  EXPECT_EQ(count(html, "</svg>"), 15u);
  EXPECT_EQ(html.find("src="), std::string::npos);  // nothing external
  EXPECT_EQ(html.find("href="), std::string::npos);
  EXPECT_NE(html.find(read_text(directory / "roc.svg")), std::string::npos);
  EXPECT_NE(html.find("jet_pt &gt; 30 and |jet_eta| &lt; 2.5"), std::string::npos);
  EXPECT_NE(html.find("mistag at 85 %"), std::string::npos);
  char auc_text[16];
  std::snprintf(auc_text, sizeof auc_text, "%.4f", b_udsg.auc);
  EXPECT_NE(html.find(auc_text), std::string::npos);

  const auto json = nlohmann::json::parse(read_text(directory / "results.json"));
  EXPECT_EQ(json["jets"]["total"], 20000);
  EXPECT_EQ(json["jets"]["selected"], results.jets_selected);
  EXPECT_EQ(json["selection"], "jet_pt > 30 and |jet_eta| < 2.5");
  EXPECT_TRUE(json["cuts"][0]["max"].is_null());
  ASSERT_EQ(json["groupings"].size(), 4u);
  EXPECT_EQ(json["groupings"][0]["name"], "b vs udsg");
  EXPECT_EQ(json["groupings"][0]["auc"].get<double>(), b_udsg.auc);  // shortest round-trip text
  EXPECT_EQ(json["groupings"][0]["mistag_rates"][0]["signal_efficiency"].get<double>(), 0.5);
  EXPECT_EQ(json["groupings"][0]["mistag_rates"][2]["background_efficiency"].get<double>(),
            b_udsg.mistag_rates[2].background_efficiency);
  EXPECT_EQ(json["groupings"][0]["roc"]["signal_efficiency"].size(), b_udsg.roc.size());
  EXPECT_TRUE(json["groupings"][0]["roc"]["threshold"][0].is_null());
  EXPECT_EQ(json["training"]["validation_loss"].size(), 5u);
  // Working points at 10, 1 and 0.1 % mistag: signal efficiency falls with the mistag rate, the cut tightens.
  const auto& points = json["groupings"][0]["working_points"];
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[1]["background_efficiency"].get<double>(), 0.01);
  EXPECT_EQ(points[1]["signal_efficiency"].get<double>(), b_udsg.working_points[1].signal_efficiency);
  EXPECT_GT(points[0]["signal_efficiency"].get<double>(), points[1]["signal_efficiency"].get<double>());
  EXPECT_GT(points[1]["signal_efficiency"].get<double>(), points[2]["signal_efficiency"].get<double>());
  EXPECT_LT(points[0]["threshold"].get<double>(), points[2]["threshold"].get<double>());
  EXPECT_EQ(json["groupings"][0]["mistag_rates"][1]["threshold"].get<double>(), b_udsg.mistag_rates[1].threshold);
  EXPECT_NE(html.find("Working points"), std::string::npos);
  // Efficiencies per jet pT bin: 2 binnings x 3 working points per grouping, checked by hand for
  // b vs udsg at the 1 % working point.
  ASSERT_EQ(b_udsg.binned_efficiencies.size(), 6u);
  const auto& pt_medium = b_udsg.binned_efficiencies[1];
  EXPECT_EQ(pt_medium.bins.spectator, "jet_pt");
  EXPECT_EQ(pt_medium.working_point, 0.01);
  EXPECT_EQ(pt_medium.threshold, b_udsg.working_points[1].threshold);
  const auto grouping = ev::resolve(ev::deepjet_b_vs_udsg(), deepjet_classes);
  for (std::size_t bin = 0; bin < 4; ++bin) {
    double signal_all = 0, signal_passed = 0, background_all = 0, background_passed = 0;
    for (std::size_t jet = 0; jet < fake.jets; ++jet) {
      const double pt = fake.spectators[2 * jet], eta = fake.spectators[2 * jet + 1];
      if (!(pt > 30 && std::fabs(eta) < 2.5 && pt >= pt_medium.bins.edges[bin] && pt < pt_medium.bins.edges[bin + 1])) continue;
      const std::span<const float> p(fake.predictions.data() + 6 * jet, 6), t(fake.truth.data() + 6 * jet, 6);
      const bool passes = grouping.discriminant(p) >= pt_medium.threshold;
      signal_all += grouping.signal_weight(t);
      background_all += grouping.background_weight(t);
      signal_passed += passes ? grouping.signal_weight(t) : 0.0;
      background_passed += passes ? grouping.background_weight(t) : 0.0;
    }
    EXPECT_DOUBLE_EQ(pt_medium.signal_efficiency[bin], signal_passed / signal_all) << bin;
    EXPECT_DOUBLE_EQ(pt_medium.background_efficiency[bin], background_passed / background_all) << bin;
  }
  EXPECT_EQ(json["groupings"][0]["binned_efficiencies"].size(), 6u);
  EXPECT_EQ(json["groupings"][0]["binned_efficiencies"][3]["absolute"], true);
  EXPECT_EQ(json["groupings"][0]["binned_efficiencies"][1]["signal_efficiency"][2].get<double>(),
            pt_medium.signal_efficiency[2]);
  EXPECT_NE(html.find("<th>mistag 0.1 %</th>"), std::string::npos);

  // Writing the same results again gives the same bytes.
  const std::string first_html = html, first_json = read_text(directory / "results.json");
  ev::write_report(directory, results);
  EXPECT_EQ(read_text(directory / "report.html"), first_html);
  EXPECT_EQ(read_text(directory / "results.json"), first_json);
}

TEST(Report, WithoutTrainingHistoryHasNoTrainingPlots) {
  const auto fake = fake_tagger(2000, 1.0, 5);
  ev::EvaluationSettings settings;
  settings.groupings = {ev::deepjet_b_vs_udsg()};
  const std::vector<std::string> spectator_names{"jet_pt", "jet_eta"};
  const auto results = ev::evaluate(ev::JetTable(fake.predictions, 6), ev::JetTable(fake.truth, 6),
                                    ev::JetTable(fake.spectators, 2), deepjet_classes, spectator_names, settings);
  const auto directory = std::filesystem::temp_directory_path() / ("deepjet_report_" + std::to_string(::getpid()));
  const auto written = ev::write_report(directory, results);
  EXPECT_EQ(written.size(), 4u);  // roc, one discriminant, json, html
  EXPECT_FALSE(std::filesystem::exists(directory / "loss.svg"));
  const auto json = nlohmann::json::parse(read_text(directory / "results.json"));
  EXPECT_FALSE(json.contains("training"));
  EXPECT_EQ(json["selection"], "none");
  std::filesystem::remove_all(directory);
}
