// The example fat-jet generator (deepjet/example_data/fat_jets.hpp): determinism, the ntuple's
// layout (read back with deepjet's ROOT reader), and the physics a boosted tagger learns from
// (mass peaks, prong structure, b-hadron vertices). Medians on a few thousand jets are stable to
// well within the margins below (they move by ~1 % between seeds); the margins are wide because
// they test orderings, not tuned values.
#include <gtest/gtest.h>

#include "deepjet/example_data/fat_jets.hpp"
#include "deepjet/io/root.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace ex = deepjet::example_data;

ex::FatJetsChunk generate(std::uint64_t jets, std::uint64_t seed, std::size_t chunk_jets) {
  ex::FatJetOptions options;
  options.jets = jets;
  options.seed = seed;
  options.chunk_jets = chunk_jets;
  ex::FatJetGenerator generator(options);
  ex::FatJetsChunk all, chunk;
  for (std::uint64_t first = 0; first < jets; first += chunk_jets) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_jets, jets - first));
    generator.generate(first, n, chunk);
    for (std::size_t k = 0; k < 17; ++k) all.labels[k].insert(all.labels[k].end(), chunk.labels[k].begin(), chunk.labels[k].end());
    for (std::size_t k = 0; k < 15; ++k) all.jet[k].insert(all.jet[k].end(), chunk.jet[k].begin(), chunk.jet[k].end());
    for (std::size_t k = 0; k < 42; ++k) all.pfcand[k].insert(all.pfcand[k].end(), chunk.pfcand[k].begin(), chunk.pfcand[k].end());
    for (std::size_t k = 0; k < 15; ++k) all.sv[k].insert(all.sv[k].end(), chunk.sv[k].begin(), chunk.sv[k].end());
    for (std::size_t j = 1; j < chunk.pfcand_offsets.size(); ++j) {
      all.pfcand_offsets.push_back(all.pfcand_offsets.back() + chunk.pfcand_offsets[j] - chunk.pfcand_offsets[j - 1]);
      all.sv_offsets.push_back(all.sv_offsets.back() + chunk.sv_offsets[j] - chunk.sv_offsets[j - 1]);
    }
    all.jets += n;
  }
  return all;
}

std::size_t index_of(const char* name) {
  for (std::size_t k = 0; k < ex::fat_jets_jet_branches.size(); ++k)
    if (std::string(ex::fat_jets_jet_branches[k]) == name) return k;
  ADD_FAILURE() << name;
  return 0;
}

double median(std::vector<float> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

int label_of(const ex::FatJetsChunk& c, std::size_t jet) {
  int found = -1;
  for (std::size_t k = 0; k < 17; ++k)
    if (c.labels[k][jet] == 1) {
      EXPECT_EQ(found, -1) << "jet " << jet << " has two labels";
      found = static_cast<int>(k);
    }
  return found;
}

TEST(FatJets, SameJetsWhateverTheChunkSizeAndRunsNest) {
  const auto a = generate(300, 7, 300), b = generate(300, 7, 37), small = generate(120, 7, 50);
  for (std::size_t k = 0; k < 42; ++k) EXPECT_EQ(a.pfcand[k], b.pfcand[k]) << ex::fat_jets_pfcand_branches[k];
  for (std::size_t k = 0; k < 15; ++k) EXPECT_EQ(a.jet[k], b.jet[k]) << ex::fat_jets_jet_branches[k];
  EXPECT_EQ(a.pfcand_offsets, b.pfcand_offsets);
  EXPECT_EQ(a.sv_offsets, b.sv_offsets);
  for (std::size_t k = 0; k < 15; ++k)
    EXPECT_EQ(std::vector<float>(a.jet[k].begin(), a.jet[k].begin() + 120), small.jet[k]) << ex::fat_jets_jet_branches[k];
  const auto other = generate(300, 8, 300);
  EXPECT_NE(a.jet[index_of("fj_pt")], other.jet[index_of("fj_pt")]);
}

TEST(FatJets, LayoutAndRanges) {
  const auto c = generate(2000, 3, 512);
  ASSERT_EQ(c.pfcand_offsets.size(), 2001u);
  for (std::size_t j = 0; j < 2000; ++j) {
    const auto n = c.pfcand_offsets[j + 1] - c.pfcand_offsets[j];
    const auto nsv = c.sv_offsets[j + 1] - c.sv_offsets[j];
    EXPECT_GE(n, 1);
    EXPECT_LE(n, 100);
    EXPECT_LE(nsv, 7);
    EXPECT_EQ(static_cast<float>(n), c.jet[index_of("n_pfcands")][j]);
    EXPECT_EQ(static_cast<float>(nsv), c.jet[index_of("n_sv")][j]);
    EXPECT_GE(label_of(c, j), 0);
    EXPECT_GT(c.jet[index_of("fj_pt")][j], 100.0f);  // a partially merged top keeps only part of its pT
    // Candidates by decreasing PUPPI-weighted pT (pt_log is of the weighted pT): exact, same floats.
    for (auto i = c.pfcand_offsets[j] + 1; i < c.pfcand_offsets[j + 1]; ++i)
      EXPECT_GE(c.pfcand[0][static_cast<std::size_t>(i - 1)], c.pfcand[0][static_cast<std::size_t>(i)]);
  }
  for (std::size_t k = 0; k < 42; ++k)
    for (float v : c.pfcand[k]) ASSERT_TRUE(std::isfinite(v)) << ex::fat_jets_pfcand_branches[k];
  for (std::size_t i = 0; i < c.pfcand[0].size(); ++i) {
    EXPECT_LT(c.pfcand[5][i], 0.8f);  // deltaR inside the jet
    const float types = c.pfcand[12][i] + c.pfcand[13][i] + c.pfcand[14][i] + c.pfcand[15][i] + c.pfcand[16][i];
    EXPECT_EQ(types, 1.0f);  // one particle type each
    if (c.pfcand[11][i] == 0.0f) {
      EXPECT_EQ(c.pfcand[20][i], 999.0f);  // neutral: no track chi2
    }
  }
}

TEST(FatJets, MassPeaksProngsAndVertices) {
  const auto c = generate(6000, 11, 2048);
  std::map<std::string, std::vector<float>> mass, tau21, tau32, nsv;
  for (std::size_t j = 0; j < c.jets; ++j) {
    const std::string label = ex::fat_jets_label_branches[static_cast<std::size_t>(label_of(c, j))] + 6;
    mass[label].push_back(c.jet[index_of("fj_sdmass")][j]);
    tau21[label].push_back(c.jet[index_of("fj_tau21")][j]);
    tau32[label].push_back(c.jet[index_of("fj_tau32")][j]);
    nsv[label].push_back(c.jet[index_of("n_sv")][j]);
  }
  // Soft-drop mass peaks near the resonances (a few GeV high: fragmentation mass), QCD low.
  EXPECT_NEAR(median(mass["W_qq"]), 85, 10);
  EXPECT_NEAR(median(mass["Z_qq"]), 96, 10);
  EXPECT_NEAR(median(mass["H_bb"]), 125, 10);
  EXPECT_NEAR(median(mass["Top_bqq"]), 172, 12);
  EXPECT_LT(median(mass["QCD_others"]), 60);
  // Two prongs: low tau21; three: low tau32; QCD: neither.
  EXPECT_LT(median(tau21["W_qq"]) + 0.2, median(tau21["QCD_others"]));
  EXPECT_LT(median(tau32["Top_bqq"]) + 0.2, median(tau32["QCD_others"]));
  // b hadrons make secondary vertices.
  auto mean = [](const std::vector<float>& v) { double s = 0; for (float x : v) s += x; return s / std::max<std::size_t>(1, v.size()); };
  EXPECT_GT(mean(nsv["H_bb"]), 1.5);
  EXPECT_LT(mean(nsv["QCD_others"]), 0.6);
  EXPECT_GT(mean(nsv["Top_bqq"]), mean(nsv["W_qq"]));
  // Every class of DeepAK8 appears.
  for (const char* name : ex::fat_jets_label_branches) EXPECT_GT(mass[std::string(name + 6)].size(), 5u) << name;
}

TEST(FatJets, RootNtupleReadsBackAsGenerated) {
  const auto path = std::filesystem::temp_directory_path() / ("deepjet_fat_jets_" + std::to_string(::getpid()) + ".root");
  ex::FatJetOptions options;
  options.jets = 500;
  options.seed = 5;
  options.chunk_jets = 128;
  ex::generate_fat_jets(path, options);
  const auto expected = generate(500, 5, 500);
  {
    deepjet::root::File file(path.string());
    const auto tree = file.tree(ex::fat_jets_tree);
    ASSERT_EQ(tree.entries(), 500);
    const auto pt = tree.read<float>("fj_pt", 0, 500);
    EXPECT_EQ(pt, expected.jet[index_of("fj_pt")]);
    const auto sip = tree.read_jagged<float>("pfcand_btagSip3dSig", 0, 500);
    EXPECT_EQ(sip.values, expected.pfcand[40]);
    EXPECT_EQ(sip.offsets, expected.pfcand_offsets);
    const auto mass = tree.read_jagged<float>("sv_mass", 0, 500);
    EXPECT_EQ(mass.values, expected.sv[7]);
    const auto top = tree.read<std::int32_t>("label_Top_bqq", 0, 500);
    EXPECT_EQ(top, expected.labels[1]);
  }
  std::filesystem::remove(path);
}

TEST(FatJets, BadOptionsAreRefused) {
  ex::FatJetOptions options;
  options.min_pt = 50;
  EXPECT_THROW(ex::FatJetGenerator{options}, deepjet::Error);
  options = {};
  options.fractions = {0, 0, 0, 0, 0};
  EXPECT_THROW(ex::FatJetGenerator{options}, deepjet::Error);
  options = {};
  options.chunk_jets = 0;
  EXPECT_THROW(ex::FatJetGenerator{options}, deepjet::Error);
  EXPECT_THROW(ex::generate_fat_jets("/nonexistent-directory/x.root", {.jets = 10}), deepjet::FileError);
}

}  // namespace
