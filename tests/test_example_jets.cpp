// Example jets: the generated source table is complete and consistent, deterministic, and carries
// the flavour physics a tagger has to learn, read back through open_source like any ntuple.
#include <deepjet/example_data/deepjet_jets.hpp>
#include <deepjet/data/source.hpp>

#include "support/temporary_directory.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;
namespace dj = deepjet::data;

class ExampleJets : public deepjet::test::TemporaryDirectoryTest {
 protected:
  ExampleJets() : TemporaryDirectoryTest("deepjet-example-jets") {}
};

std::vector<std::string> all_branches() {
  std::vector<std::string> names;
  for (const char* n : dj::example_jets_truth_branches) names.emplace_back(n);
  for (const char* n : dj::example_jets_global_branches) names.emplace_back(n);
  for (const char* n : dj::example_jets_charged_branches) names.emplace_back(n);
  for (const char* n : dj::example_jets_neutral_branches) names.emplace_back(n);
  for (const char* n : dj::example_jets_sv_branches) names.emplace_back(n);
  return names;
}

/// Everything in a file, read back through the Source interface.
struct Jets {
  std::uint64_t entries = 0;
  std::map<std::string, std::vector<float>> flat;
  std::map<std::string, dj::JaggedColumn> jagged;

  static Jets read(const fs::path& path) {
    const auto source = dj::open_source(path.string(), dj::example_jets_table);
    Jets jets;
    jets.entries = source->entries();
    for (const char* n : dj::example_jets_truth_branches) jets.flat[n] = source->read_flat(n, 0, jets.entries);
    for (const char* n : dj::example_jets_global_branches) jets.flat[n] = source->read_flat(n, 0, jets.entries);
    for (const char* n : dj::example_jets_charged_branches) jets.jagged[n] = source->read_jagged(n, 0, jets.entries);
    for (const char* n : dj::example_jets_neutral_branches) jets.jagged[n] = source->read_jagged(n, 0, jets.entries);
    for (const char* n : dj::example_jets_sv_branches) jets.jagged[n] = source->read_jagged(n, 0, jets.entries);
    return jets;
  }

  const std::vector<float>& f(const std::string& name) const { return flat.at(name); }
  const dj::JaggedColumn& j(const std::string& name) const { return jagged.at(name); }

  /// DeepJet's six classes: 0 b, 1 bb, 2 lepb, 3 c, 4 uds, 5 g.
  int jet_class(std::size_t i) const {
    if (f("isB")[i] > 0) return 0;
    if (f("isBB")[i] > 0 || f("isGBB")[i] > 0) return 1;
    if (f("isLeptonicB")[i] > 0 || f("isLeptonicB_C")[i] > 0) return 2;
    if (f("isC")[i] > 0 || f("isGCC")[i] > 0 || f("isCC")[i] > 0) return 3;
    if (f("isUD")[i] > 0 || f("isS")[i] > 0) return 4;
    return 5;
  }
};

/// Area under the ROC curve: the probability that a signal value exceeds a background value.
double area_under_curve(const std::vector<double>& signal, const std::vector<double>& background) {
  std::vector<std::pair<double, int>> all;
  for (double x : signal) all.emplace_back(x, 1);
  for (double x : background) all.emplace_back(x, 0);
  std::sort(all.begin(), all.end());
  double signal_rank_sum = 0;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t end = i;
    while (end < all.size() && all[end].first == all[i].first) ++end;
    const double mid_rank = (static_cast<double>(i + end) + 1) / 2;  // ties share their ranks
    for (std::size_t k = i; k < end; ++k)
      if (all[k].second) signal_rank_sum += mid_rank;
    i = end;
  }
  const double s = static_cast<double>(signal.size()), b = static_cast<double>(background.size());
  return (signal_rank_sum - s * (s + 1) / 2) / (s * b);
}

TEST_F(ExampleJets, EveryBranchIsPresentWithConsistentLengthsAndOffsets) {
  dj::ExampleJetsOptions options;
  options.jets = 3000;
  options.chunk_jets = 700;  // several chunks, the last one partial
  dj::generate_example_jets(file("jets.h5"), options);
  EXPECT_EQ(entries(), std::vector<std::string>{"jets.h5"});  // no temporary left

  const auto source = dj::open_source(file("jets.h5").string(), "deepntuplizer/tree");
  ASSERT_EQ(source->entries(), 3000u);
  for (const auto& name : all_branches()) EXPECT_TRUE(source->has_branch(name)) << name;
  for (const char* n : {"n_Cpfcand", "n_Npfcand", "n_sv"}) EXPECT_TRUE(source->has_branch(n)) << n;
  EXPECT_EQ(all_branches().size(), 12u + 15u + 16u + 6u + 12u);

  const Jets jets = Jets::read(file("jets.h5"));
  for (const auto& [name, values] : jets.flat) {
    EXPECT_EQ(values.size(), 3000u) << name;
    for (float v : values) ASSERT_TRUE(std::isfinite(v)) << name;
  }
  // Each collection: its branches share one offsets set, and the counts in the globals match it.
  const auto check_collection = [&](const auto& branches, const char* count_name) {
    const auto& first = jets.j(branches[0]);
    ASSERT_EQ(first.offsets.size(), 3001u);
    EXPECT_EQ(first.offsets.front(), 0);
    EXPECT_EQ(static_cast<std::size_t>(first.offsets.back()), first.values.size());
    for (const char* name : branches) {
      const auto& column = jets.j(name);
      EXPECT_EQ(column.offsets, first.offsets) << name;
      EXPECT_EQ(column.values.size(), first.values.size()) << name;
      for (float v : column.values) ASSERT_TRUE(std::isfinite(v)) << name;
    }
    for (std::size_t i = 0; i < 3000; ++i)
      ASSERT_EQ(jets.f(count_name)[i], static_cast<float>(first.offsets[i + 1] - first.offsets[i])) << count_name;
  };
  check_collection(dj::example_jets_charged_branches, "nCpfcand");
  check_collection(dj::example_jets_neutral_branches, "nNpfcand");
  check_collection(dj::example_jets_sv_branches, "nsv");

  // Realistic multiplicities: on average ~10 charged and ~8 neutral candidates, with long tails.
  const auto& charged = jets.j("Cpfcan_BtagPf_trackSip2dSig");
  const auto& neutral = jets.j("Npfcan_ptrel");
  EXPECT_GT(charged.values.size(), 3000u * 7);
  EXPECT_LT(charged.values.size(), 3000u * 20);
  EXPECT_GT(neutral.values.size(), 3000u * 5);
  std::int64_t most_charged = 0;
  for (std::size_t i = 0; i < 3000; ++i) most_charged = std::max(most_charged, charged.offsets[i + 1] - charged.offsets[i]);
  EXPECT_GE(most_charged, 20);

  // Ranges: the jet spectrum, and the ntupler's offset conventions (ptrel - 1, deltaR - 0.6, ...).
  for (std::size_t i = 0; i < 3000; ++i) {
    ASSERT_GE(jets.f("jet_pt")[i], 30.0f);
    ASSERT_LE(jets.f("jet_pt")[i], 1000.0f);
    ASSERT_LT(std::abs(jets.f("jet_eta")[i]), 2.5f);
    ASSERT_GE(jets.f("npv")[i], 1.0f);
    const float category = jets.f("TagVarCSV_vertexCategory")[i];
    ASSERT_TRUE(category == 0 || category == 1 || category == 2);
    ASSERT_EQ(category == 0, jets.f("nsv")[i] > 0);
  }
  for (float v : jets.j("Cpfcan_ptrel").values) ASSERT_TRUE(v >= -1 && v <= 0);
  for (float v : jets.j("Cpfcan_drminsv").values) ASSERT_TRUE(v >= -0.4f && v <= 0);
  for (float v : jets.j("Cpfcan_BtagPf_trackSip2dSig").values) ASSERT_GE(v, -1.0f);
  for (float v : jets.j("Npfcan_deltaR").values) ASSERT_TRUE(v >= -0.6f && v <= -0.2f);
  for (float v : jets.j("Npfcan_isGamma").values) ASSERT_TRUE(v == 0 || v == 1);
  for (float v : jets.j("sv_deltaR").values) ASSERT_TRUE(v >= -0.5f && v <= -0.1f);
  for (float v : jets.j("sv_ntracks").values) ASSERT_GE(v, 2.0f);
  for (float v : jets.j("sv_costhetasvpv").values) ASSERT_TRUE(v >= -1 && v <= 1);
}

TEST_F(ExampleJets, CandidatesComeInTheNtuplersOrder) {
  dj::ExampleJetsOptions options;
  options.jets = 2000;
  dj::generate_example_jets(file("jets.h5"), options);
  const Jets jets = Jets::read(file("jets.h5"));
  const auto& sip = jets.j("Cpfcan_BtagPf_trackSip2dSig");
  const auto& neutral_drminsv = jets.j("Npfcan_drminsv");
  const auto& neutral_ptrel = jets.j("Npfcan_ptrel");
  const auto& dxysig = jets.j("sv_dxysig");
  for (std::size_t i = 0; i < 2000; ++i) {
    // Charged: decreasing signed 2D impact-parameter significance (stored clamped at -1).
    for (auto k = sip.offsets[i] + 1; k < sip.offsets[i + 1]; ++k) ASSERT_LE(sip.values[k], sip.values[k - 1]);
    // Neutral: nearest to a secondary vertex first, then decreasing pT.
    for (auto k = neutral_ptrel.offsets[i] + 1; k < neutral_ptrel.offsets[i + 1]; ++k) {
      ASSERT_GE(neutral_drminsv.values[k], neutral_drminsv.values[k - 1]);
      if (neutral_drminsv.values[k] == neutral_drminsv.values[k - 1]) {
        ASSERT_LE(neutral_ptrel.values[k], neutral_ptrel.values[k - 1]);
      }
    }
    // Secondary vertices: decreasing flight significance.
    for (auto k = dxysig.offsets[i] + 1; k < dxysig.offsets[i + 1]; ++k) ASSERT_LE(dxysig.values[k], dxysig.values[k - 1]);
  }
}

TEST_F(ExampleJets, TruthIsOneHotAndFollowsTheClassFractions) {
  dj::ExampleJetsOptions options;
  options.jets = 4000;
  options.fractions = {0.3, 0.1, 0.1, 0.2, 0.2, 0.1};
  dj::generate_example_jets(file("jets.h5"), options);
  const Jets jets = Jets::read(file("jets.h5"));
  std::vector<double> count(6, 0);
  for (std::size_t i = 0; i < jets.entries; ++i) {
    float sum = 0;
    for (int k = 0; k < 11; ++k) {
      const float flag = jets.f(dj::example_jets_truth_branches[k])[i];
      ASSERT_TRUE(flag == 0 || flag == 1);
      sum += flag;
    }
    ASSERT_EQ(sum, 1.0f) << "jet " << i;
    ASSERT_EQ(jets.f("isUndefined")[i], 0.0f);
    ++count[jets.jet_class(i)];
  }
  const double expected[6] = {0.3, 0.1, 0.1, 0.2, 0.2, 0.1};
  for (int k = 0; k < 6; ++k) {
    const double sigma = std::sqrt(expected[k] * (1 - expected[k]) / 4000.0);
    EXPECT_NEAR(count[k] / 4000.0, expected[k], 4 * sigma) << "class " << k;
  }
  // Sub-flavours exist: gluon splitting into bb, strange jets, ...
  for (const char* flag : {"isBB", "isGBB", "isLeptonicB", "isLeptonicB_C", "isC", "isGCC", "isCC", "isUD", "isS"}) {
    const auto& values = jets.f(flag);
    EXPECT_GT(std::count(values.begin(), values.end(), 1.0f), 20) << flag;
  }

  // A single class on its own.
  options.jets = 500;
  options.fractions = {0, 0, 0, 0, 0, 1};
  dj::generate_example_jets(file("gluons.h5"), options);
  const Jets gluons = Jets::read(file("gluons.h5"));
  for (std::size_t i = 0; i < gluons.entries; ++i) ASSERT_EQ(gluons.jet_class(i), 5);
}

TEST_F(ExampleJets, SameSeedGivesIdenticalJetsWhateverTheChunkingAndOtherSeedsDiffer) {
  dj::ExampleJetsOptions options;
  options.jets = 2500;
  options.seed = 42;
  options.chunk_jets = 1000;
  dj::generate_example_jets(file("a.h5"), options);
  options.chunk_jets = 333;
  dj::generate_example_jets(file("b.h5"), options);
  options.seed = 43;
  dj::generate_example_jets(file("other-seed.h5"), options);
  options.seed = 42;
  options.jets = 1000;
  dj::generate_example_jets(file("prefix.h5"), options);

  const Jets a = Jets::read(file("a.h5")), b = Jets::read(file("b.h5"));
  const Jets other = Jets::read(file("other-seed.h5")), prefix = Jets::read(file("prefix.h5"));
  for (const auto& [name, values] : a.flat) {
    EXPECT_EQ(values, b.f(name)) << name;
    EXPECT_EQ(std::vector<float>(values.begin(), values.begin() + 1000), prefix.f(name)) << name;
  }
  for (const auto& [name, column] : a.jagged) {
    EXPECT_EQ(column.values, b.j(name).values) << name;
    EXPECT_EQ(column.offsets, b.j(name).offsets) << name;
    const auto end = column.offsets[1000];
    EXPECT_EQ(std::vector<float>(column.values.begin(), column.values.begin() + end), prefix.j(name).values) << name;
  }
  EXPECT_NE(a.f("jet_pt"), other.f("jet_pt"));
  EXPECT_NE(a.j("Cpfcan_BtagPf_trackSip2dSig").values, other.j("Cpfcan_BtagPf_trackSip2dSig").values);
  EXPECT_NE(a.f("isB"), other.f("isB"));
}

TEST_F(ExampleJets, CompressionAndTheInMemoryGeneratorGiveTheSameJets) {
  dj::ExampleJetsOptions options;
  options.jets = 1500;
  options.compression_level = 3;
  dj::generate_example_jets(file("deflated.h5"), options);
  options.compression_level = 0;
  dj::generate_example_jets(file("plain.h5"), options);
  EXPECT_LT(fs::file_size(file("deflated.h5")), fs::file_size(file("plain.h5")));
  const Jets deflated = Jets::read(file("deflated.h5")), plain = Jets::read(file("plain.h5"));
  for (const auto& [name, values] : plain.flat) EXPECT_EQ(values, deflated.f(name)) << name;
  for (const auto& [name, column] : plain.jagged) EXPECT_EQ(column.values, deflated.j(name).values) << name;

  // The generator's chunks are the file's columns: jets 1000-1499 as one chunk.
  dj::ExampleJetsGenerator generator(options);
  dj::ExampleJetsChunk chunk;
  generator.generate(1000, 500, chunk);
  ASSERT_EQ(chunk.jets, 500u);
  for (std::size_t k = 0; k < chunk.global.size(); ++k) {
    const auto& column = plain.f(dj::example_jets_global_branches[k]);
    EXPECT_EQ(chunk.global[k], std::vector<float>(column.begin() + 1000, column.end())) << k;
  }
  const auto& sip = plain.j("Cpfcan_BtagPf_trackSip2dSig");
  const auto& chunk_sip = chunk.charged[6];
  ASSERT_EQ(std::string(dj::example_jets_charged_branches[6]), "Cpfcan_BtagPf_trackSip2dSig");
  EXPECT_EQ(chunk_sip, std::vector<float>(sip.values.begin() + sip.offsets[1000], sip.values.end()));
  ASSERT_EQ(chunk.charged_counts.size(), 500u);
  for (std::size_t i = 0; i < 500; ++i)
    ASSERT_EQ(chunk.charged_counts[i], sip.offsets[1001 + i] - sip.offsets[1000 + i]);
}

TEST_F(ExampleJets, FlavoursCarryTheirPhysics) {
  dj::ExampleJetsOptions options;
  options.jets = 12000;
  dj::generate_example_jets(file("jets.h5"), options);
  const Jets jets = Jets::read(file("jets.h5"));
  const auto& sip = jets.j("Cpfcan_BtagPf_trackSip2dSig");
  const auto& ptrel = jets.j("Cpfcan_ptrel");
  const auto& delta_r = jets.j("Cpfcan_BtagPf_trackDeltaR");
  const auto& sv_mass = jets.j("sv_mass");

  // Per class: leading |Sip2dSig|, SV presence, leading SV mass, pT-weighted track dR (width), pT.
  struct Sums { double jets = 0, leading_sip = 0, with_sv = 0, sv_mass = 0, width = 0, pt = 0, charged = 0; };
  Sums sums[6];
  for (std::size_t i = 0; i < jets.entries; ++i) {
    Sums& s = sums[jets.jet_class(i)];
    ++s.jets;
    s.pt += jets.f("jet_pt")[i];
    const auto begin = sip.offsets[i], end = sip.offsets[i + 1];
    s.charged += static_cast<double>(end - begin);
    if (end > begin) s.leading_sip += std::abs(sip.values[begin]);
    double weight = 0, weighted = 0;
    for (auto k = begin; k < end; ++k) {
      weight += ptrel.values[k] + 1;  // Cpfcan_ptrel is stored as pT/jet pT - 1
      weighted += (ptrel.values[k] + 1) * delta_r.values[k];
    }
    if (weight > 0) s.width += weighted / weight;
    if (sv_mass.offsets[i + 1] > sv_mass.offsets[i]) {
      ++s.with_sv;
      s.sv_mass += sv_mass.values[sv_mass.offsets[i]];
    }
  }
  const auto mean = [&](int k, double Sums::*field) { return sums[k].*field / sums[k].jets; };
  const auto sv_mass_mean = [&](int k) { return sums[k].sv_mass / sums[k].with_sv; };
  const int b = 0, c = 3, uds = 4, g = 5;
  for (int k = 0; k < 6; ++k) ASSERT_GT(sums[k].jets, 200) << "class " << k;

  // Lifetime: b hadrons fly furthest, then charm; light jets only have resolution and fakes.
  EXPECT_GT(mean(b, &Sums::leading_sip), 1.5 * mean(c, &Sums::leading_sip));
  EXPECT_GT(mean(c, &Sums::leading_sip), 1.3 * mean(uds, &Sums::leading_sip));
  EXPECT_GT(mean(c, &Sums::leading_sip), 1.3 * mean(g, &Sums::leading_sip));
  EXPECT_GT(mean(b, &Sums::with_sv), 0.55);
  EXPECT_GT(mean(b, &Sums::with_sv), mean(c, &Sums::with_sv) + 0.15);
  EXPECT_GT(mean(c, &Sums::with_sv), mean(uds, &Sums::with_sv) + 0.15);
  EXPECT_LT(mean(uds, &Sums::with_sv), 0.1);
  // Vertex mass: up to ~5 GeV for B hadrons, below ~2 GeV for D hadrons.
  EXPECT_GT(sv_mass_mean(b), sv_mass_mean(c) + 0.5);
  EXPECT_LT(sv_mass_mean(c), 2.0);
  // Gluon jets are broader and have more constituents than light-quark jets.
  EXPECT_GT(mean(g, &Sums::width), 1.1 * mean(uds, &Sums::width));
  EXPECT_GT(mean(g, &Sums::charged), 1.15 * mean(uds, &Sums::charged));
  // Spectra differ: heavy flavour harder than gluons.
  EXPECT_GT(mean(b, &Sums::pt), mean(g, &Sums::pt));
  // SV mass reaches towards the B mass but never beyond it by much (tracks taken as pions).
  const float heaviest = *std::max_element(sv_mass.values.begin(), sv_mass.values.end());
  EXPECT_GT(heaviest, 3.5f);
  EXPECT_LT(heaviest, 7.0f);
}

// The simplest lifetime tagger, a cut on the leading track's 2D IP significance, separates b from
// udsg well but not perfectly. Expected AUC ~0.90: b jets whose B decays early or whose tracks are
// soft look prompt, and light jets have V0 decays and mis-measured tracks. Between 0.80 and 0.94 the
// lifetime signal is clearly there, yet a tagger using the other tracks, the vertices and the
// kinematics has room above it; a handful of those features, combined by hand, already does better.
TEST_F(ExampleJets, LeadingTrackCutSeparatesBFromLightButLeavesRoom) {
  dj::ExampleJetsOptions options;
  options.jets = 12000;
  dj::generate_example_jets(file("jets.h5"), options);
  const Jets jets = Jets::read(file("jets.h5"));
  const auto& sip = jets.j("Cpfcan_BtagPf_trackSip2dSig");
  const auto& sv_mass = jets.j("sv_mass");
  std::vector<double> leading_b, leading_light, combined_b, combined_light;
  for (std::size_t i = 0; i < jets.entries; ++i) {
    const int k = jets.jet_class(i);
    if (k != 0 && k != 4 && k != 5) continue;
    const auto begin = sip.offsets[i], end = sip.offsets[i + 1];
    const double leading = end > begin ? sip.values[begin] : -1.0;
    // Hand-made: the three most significant tracks, and the vertex and its mass.
    double combined = 0;
    for (auto t = begin; t < std::min(end, begin + 3); ++t) combined += std::log1p(std::max(0.0f, sip.values[t]));
    if (sv_mass.offsets[i + 1] > sv_mass.offsets[i]) combined += 1.0 + 0.5 * sv_mass.values[sv_mass.offsets[i]];
    (k == 0 ? leading_b : leading_light).push_back(leading);
    (k == 0 ? combined_b : combined_light).push_back(combined);
  }
  const double leading_auc = area_under_curve(leading_b, leading_light);
  const double combined_auc = area_under_curve(combined_b, combined_light);
  std::cout << "b vs udsg AUC: leading-track Sip2dSig " << leading_auc << ", three tracks + SV " << combined_auc << "\n";
  EXPECT_GT(leading_auc, 0.80);
  EXPECT_LT(leading_auc, 0.94);
  EXPECT_GT(combined_auc, leading_auc + 0.01);
}

TEST_F(ExampleJets, UnwritableDestinationIsAFileErrorNamingItAndLeavesNothing) {
  std::ofstream(file("not-a-directory")) << "x";
  const fs::path destination = file("not-a-directory") / "jets.h5";
  dj::ExampleJetsOptions options;
  options.jets = 100;
  try {
    dj::generate_example_jets(destination, options);
    FAIL() << "no deepjet::FileError";
  } catch (const deepjet::FileError& e) {
    EXPECT_NE(std::string(e.what()).find(destination.string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(entries(), std::vector<std::string>{"not-a-directory"});

  const fs::path missing = file("missing") / "jets.h5";
  EXPECT_THROW(dj::generate_example_jets(missing, options), deepjet::FileError);
  EXPECT_EQ(entries(), std::vector<std::string>{"not-a-directory"});

  // Failing at the very end (the finished file cannot replace a directory) leaves no temporary.
  fs::create_directory(file("taken"));
  try {
    dj::generate_example_jets(file("taken"), options);
    FAIL() << "no deepjet::FileError";
  } catch (const deepjet::FileError& e) {
    EXPECT_NE(std::string(e.what()).find(file("taken").string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(entries(), (std::vector<std::string>{"not-a-directory", "taken"}));
  EXPECT_TRUE(fs::is_empty(file("taken")));
}

TEST_F(ExampleJets, BadOptionsAreRejectedBeforeAnyFileIsMade) {
  const auto rejects = [&](const dj::ExampleJetsOptions& options) {
    EXPECT_THROW(dj::generate_example_jets(file("jets.h5"), options), deepjet::Error);
    EXPECT_TRUE(entries().empty());
  };
  dj::ExampleJetsOptions options;
  options.jets = 10;
  options.fractions = {0, 0, 0, 0, 0, 0};
  rejects(options);
  options.fractions = {0.5, -0.1, 0, 0, 0.6, 0};
  rejects(options);
  options.fractions = {};
  options.chunk_jets = 0;
  rejects(options);
  options.chunk_jets = 100;
  options.min_pt = 50;
  options.max_pt = 40;
  rejects(options);
  options.max_pt = 1000;
  options.compression_level = 12;
  rejects(options);

  // Zero jets is a valid, empty table.
  options.compression_level = 1;
  options.jets = 0;
  dj::generate_example_jets(file("empty.h5"), options);
  EXPECT_EQ(dj::open_source(file("empty.h5").string(), dj::example_jets_table)->entries(), 0u);
}

}  // namespace
