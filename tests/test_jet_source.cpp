// JetSource: the jets of an event-level tree with their candidates through index maps. First on a
// hand-made event table whose every value is known (map order, selection, per-event branches,
// range reads, bad maps), then on the real PFNano file, checked against its raw columns read
// directly with the ROOT reader and against EXPECTED.json, and finally the examples/pfnano
// conversion.
#include "pfnano_data.hpp"

#include "support/temporary_directory.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>

namespace {

namespace fs = std::filesystem;
namespace dd = deepjet::data;

const std::string pfnano_file = DEEPJET_SHARED_DIR "/data/root/coffea-pfnano.root";

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const deepjet::Error& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

// An event-level table: per event, jets, candidates and the jet-candidate map.
struct Events {
  std::vector<std::vector<float>> jet_pt, candidate_pt, candidate_charge, map_value;
  std::vector<std::vector<std::int32_t>> map_jet, map_candidate;
  std::vector<float> npv;
};

// Three events. Event 0: jets pt 100, 50; candidates pt 1..4, charge +1, 0, -1, 0; the map's
// entries interleave the jets: (jet, candidate) = (1,0) (0,2) (0,1) (1,3) (0,3), values 10..14.
// Event 1: no jets, one candidate. Event 2: one jet, candidates pt 6, 7, map (0,1) (0,0).
Events good_events() {
  Events e;
  e.jet_pt = {{100, 50}, {}, {30}};
  e.candidate_pt = {{1, 2, 3, 4}, {5}, {6, 7}};
  e.candidate_charge = {{1, 0, -1, 0}, {1}, {1, 1}};
  e.map_jet = {{1, 0, 0, 1, 0}, {}, {0, 0}};
  e.map_candidate = {{0, 2, 1, 3, 3}, {}, {1, 0}};
  e.map_value = {{10, 11, 12, 13, 14}, {}, {20, 21}};
  e.npv = {7, 8, 9};
  return e;
}

class JetSourceTable : public deepjet::test::TemporaryDirectoryTest {
 protected:
  JetSourceTable() : TemporaryDirectoryTest("deepjet-jet-source") {}

  std::string write(const Events& e) {
    const auto path = directory_ / "events.h5";
    dd::SourceTableWriter w(path, "Events");
    w.add_jagged<float>("Jet_pt", "offsets_Jet");
    w.add_jagged<float>("PFCands_pt", "offsets_PFCands");
    w.add_jagged<float>("PFCands_charge", "offsets_PFCands");
    w.add_jagged<std::int32_t>("JetPFCands_jetIdx", "offsets_JetPFCands");
    w.add_jagged<std::int32_t>("JetPFCands_pFCandsIdx", "offsets_JetPFCands");
    w.add_jagged<float>("JetPFCands_value", "offsets_JetPFCands");
    w.add_jagged<float>("Muon_pt", "offsets_Muon");
    w.add_flat<float>("PV_npvs");
    for (std::size_t i = 0; i < e.jet_pt.size(); ++i) {
      const std::int64_t jets[] = {static_cast<std::int64_t>(e.jet_pt[i].size())};
      const std::int64_t candidates[] = {static_cast<std::int64_t>(e.candidate_pt[i].size())};
      const std::int64_t map[] = {static_cast<std::int64_t>(e.map_jet[i].size())};
      const std::int64_t muons[] = {2};
      const float muon_pt[] = {1, 2};
      w.append_counts("offsets_Jet", jets);
      w.append_jagged<float>("Jet_pt", e.jet_pt[i]);
      w.append_counts("offsets_PFCands", candidates);
      w.append_jagged<float>("PFCands_pt", e.candidate_pt[i]);
      w.append_jagged<float>("PFCands_charge", e.candidate_charge[i]);
      w.append_counts("offsets_JetPFCands", map);
      w.append_jagged<std::int32_t>("JetPFCands_jetIdx", e.map_jet[i]);
      w.append_jagged<std::int32_t>("JetPFCands_pFCandsIdx", e.map_candidate[i]);
      w.append_jagged<float>("JetPFCands_value", e.map_value[i]);
      w.append_counts("offsets_Muon", muons);
      w.append_jagged<float>("Muon_pt", muon_pt);
      w.append_flat<float>("PV_npvs", std::span<const float>(&e.npv[i], 1));
    }
    w.finish(e.jet_pt.size());
    return path.string();
  }

  static dd::LinkedCollection candidates(std::string name = "PFCands") {
    return {.name = std::move(name), .collection = "PFCands", .map = "JetPFCands", .entry_index = "pFCandsIdx"};
  }
};

std::vector<std::vector<float>> lists(const dd::JaggedColumn& column) {
  std::vector<std::vector<float>> out;
  for (std::size_t j = 0; j < column.entries(); ++j) out.emplace_back(column[j].begin(), column[j].end());
  return out;
}

TEST_F(JetSourceTable, JetsHoldTheirCandidatesInMapOrder) {
  dd::JetSource jets(dd::open_source(write(good_events()), "Events"));
  jets.link(candidates());
  ASSERT_EQ(jets.entries(), 3u);
  EXPECT_EQ(jets.events(), 3u);
  EXPECT_EQ(jets.first_jet(2), 2u);
  EXPECT_EQ(jets.event_of(2), 2u);
  EXPECT_EQ(jets.read_flat("Jet_pt", 0, 3), (std::vector<float>{100, 50, 30}));
  // Per-event values repeat for each jet of the event; the event without jets has none.
  EXPECT_EQ(jets.read_flat("PV_npvs", 0, 3), (std::vector<float>{7, 7, 9}));
  using Lists = std::vector<std::vector<float>>;
  EXPECT_EQ(lists(jets.read_jagged("PFCands_pt", 0, 3)), (Lists{{3, 2, 4}, {1, 4}, {7, 6}}));
  EXPECT_EQ(lists(jets.read_jagged("PFCands.PFCands_pt", 0, 3)), (Lists{{3, 2, 4}, {1, 4}, {7, 6}}));
  EXPECT_EQ(lists(jets.read_jagged("JetPFCands_value", 0, 3)), (Lists{{11, 12, 14}, {10, 13}, {20, 21}}));
  EXPECT_EQ(jets.read_flat("PFCands.size", 0, 3), (std::vector<float>{3, 2, 2}));
  EXPECT_EQ(jets.read_flat("Jet.index", 0, 3), (std::vector<float>{0, 1, 0}));
  EXPECT_EQ(jets.read_flat("Jet.entry", 1, 3), (std::vector<float>{0, 2}));
  EXPECT_TRUE(jets.has_branch("Jet.entry"));
  // A per-jet branch read as a list is a list of one.
  EXPECT_EQ(lists(jets.read_jagged("Jet_pt", 1, 3)), (Lists{{50}, {30}}));
  EXPECT_TRUE(jets.has_branch("Jet_pt"));
  EXPECT_TRUE(jets.has_branch("PFCands_charge"));
  EXPECT_TRUE(jets.has_branch("PFCands.size"));
  EXPECT_FALSE(jets.has_branch("PFCands_eta"));
  EXPECT_FALSE(jets.has_branch("PFCands.Jet_pt"));
}

TEST_F(JetSourceTable, SelectedListsAndDerivedBranches) {
  dd::JetSource jets(dd::open_source(write(good_events()), "Events"));
  auto charged = candidates("charged"), neutral = candidates("neutral");
  charged.select_branch = neutral.select_branch = "PFCands_charge";
  charged.select = [](float q) { return q != 0; };
  neutral.select = [](float q) { return q == 0; };
  jets.link(charged).link(neutral);
  jets.add_derived("isHard", "Jet_pt", [](float pt) { return pt > 60 ? 1.0f : 0.0f; });
  jets.add_derived("hardCharged", {"isHard", "charged.size"}, [](std::span<const float> v) { return v[0] * v[1]; });
  using Lists = std::vector<std::vector<float>>;
  EXPECT_EQ(lists(jets.read_jagged("charged.PFCands_pt", 0, 3)), (Lists{{3}, {1}, {7, 6}}));
  EXPECT_EQ(lists(jets.read_jagged("neutral.PFCands_pt", 0, 3)), (Lists{{2, 4}, {4}, {}}));
  EXPECT_EQ(lists(jets.read_jagged("neutral.JetPFCands_value", 0, 3)), (Lists{{12, 14}, {13}, {}}));
  EXPECT_EQ(jets.read_flat("isHard", 0, 3), (std::vector<float>{1, 0, 0}));
  EXPECT_EQ(jets.read_flat("hardCharged", 0, 3), (std::vector<float>{1, 0, 0}));
  // Two lists over PFCands: an unqualified name is ambiguous and says which names to use.
  const auto ambiguous = message_of([&] { jets.read_jagged("PFCands_pt", 0, 3); });
  EXPECT_NE(ambiguous.find("'PFCands_pt' belongs to several linked lists; name one: charged.PFCands_pt neutral.PFCands_pt"),
            std::string::npos)
      << ambiguous;
  EXPECT_FALSE(jets.has_branch("PFCands_pt"));
}

TEST_F(JetSourceTable, DerivedListBranchesSeeTheEntryAndItsJet) {
  dd::JetSource jets(dd::open_source(write(good_events()), "Events"));
  jets.link(candidates());
  jets.add_derived_to_list("PFCands", "dpt", {"PFCands.PFCands_pt", "Jet_pt"},
                           [](std::span<const float> v) { return v[0] - v[1]; });
  jets.add_derived_to_list("PFCands", "mix", {"JetPFCands_value", "PV_npvs"},
                           [](std::span<const float> v) { return v[0] * 10 + v[1]; });
  using Lists = std::vector<std::vector<float>>;
  EXPECT_EQ(lists(jets.read_jagged("PFCands.dpt", 0, 3)), (Lists{{-97, -98, -96}, {-49, -46}, {-23, -24}}));
  EXPECT_EQ(lists(jets.read_jagged("PFCands.mix", 0, 3)), (Lists{{117, 127, 147}, {107, 137}, {209, 219}}));
  EXPECT_EQ(lists(jets.read_jagged("PFCands.mix", 1, 3)), (Lists{{107, 137}, {209, 219}}));
  EXPECT_EQ(jets.read_jagged("PFCands.mix", 1, 1).values.size(), 0u);
  EXPECT_TRUE(jets.has_branch("PFCands.dpt"));
  const auto unknown = message_of([&] { jets.add_derived_to_list("cpf", "x", {"PFCands_pt"}, {}); });
  EXPECT_NE(unknown.find("derived branch 'x': no linked list 'cpf'"), std::string::npos) << unknown;
  const auto hiding = message_of([&] { jets.add_derived_to_list("PFCands", "size", {"PFCands_pt"}, {}); });
  EXPECT_NE(hiding.find("would hide a branch of the list"), std::string::npos) << hiding;
  const auto missing = message_of([&] { jets.add_derived_to_list("PFCands", "y", {"PFCands_eta"}, {}); });
  EXPECT_NE(missing.find("has no branch 'PFCands_eta' (an input of derived branch 'PFCands.y')"), std::string::npos)
      << missing;
  const auto flat = message_of([&] { jets.read_flat("PFCands.dpt", 0, 3); });
  EXPECT_NE(flat.find("read it as a particle list"), std::string::npos) << flat;
}

TEST_F(JetSourceTable, RangeReadsAgreeWithAFullRead) {
  dd::JetSource jets(dd::open_source(write(good_events()), "Events"));
  jets.link(candidates());
  const auto all_pt = jets.read_jagged("PFCands_pt", 0, 3);
  const auto all_npv = jets.read_flat("PV_npvs", 0, 3);
  for (std::uint64_t first = 0; first <= 3; ++first)
    for (std::uint64_t last = first; last <= 3; ++last) {
      const auto part = jets.read_jagged("PFCands_pt", first, last);
      ASSERT_EQ(part.entries(), last - first);
      EXPECT_EQ(part.offsets.front(), 0);
      for (std::uint64_t j = first; j < last; ++j) {
        const auto a = part[j - first], b = all_pt[j];
        EXPECT_EQ(std::vector<float>(a.begin(), a.end()), std::vector<float>(b.begin(), b.end())) << first << " " << last;
      }
      EXPECT_EQ(jets.read_flat("PV_npvs", first, last),
                std::vector<float>(all_npv.begin() + static_cast<std::ptrdiff_t>(first),
                                   all_npv.begin() + static_cast<std::ptrdiff_t>(last)));
    }
}

TEST_F(JetSourceTable, BadMapsAreNamedWithTheirEvent) {
  auto candidate_out_of_range = good_events();
  candidate_out_of_range.map_candidate[2] = {1, 2};  // event 2 has 2 candidates
  auto jet_out_of_range = good_events();
  jet_out_of_range.map_jet[0][3] = 2;  // event 0 has 2 jets
  auto unmatched = good_events();
  unmatched.map_candidate[0][1] = -1;

  {
    dd::JetSource jets(dd::open_source(write(candidate_out_of_range), "Events"));
    jets.link(candidates());
    const auto message = message_of([&] { jets.read_jagged("PFCands_pt", 0, 3); });
    EXPECT_NE(message.find("events.h5: branch 'JetPFCands_pFCandsIdx' points to PFCands entry 2 in event 2, which has 2 "
                           "(map entry 1)"),
              std::string::npos)
        << message;
    // Only the events holding the jets asked for are read: event 0's jets are fine.
    EXPECT_EQ(jets.read_jagged("PFCands_pt", 0, 2).values.size(), 5u);
  }
  {
    dd::JetSource jets(dd::open_source(write(jet_out_of_range), "Events"));
    jets.link(candidates());
    const auto message = message_of([&] { jets.read_flat("PFCands.size", 0, 1); });
    EXPECT_NE(message.find("branch 'JetPFCands_jetIdx' points to jet 2 in event 0, which has 2 jets (map entry 3)"),
              std::string::npos)
        << message;
  }
  {
    // A negative index: an error by default, kept (collection values NaN) or dropped if asked.
    const auto path = write(unmatched);
    dd::JetSource jets(dd::open_source(path, "Events"));
    auto kept = candidates("kept"), dropped = candidates("dropped");
    kept.unmatched = dd::Unmatched::keep;
    dropped.unmatched = dd::Unmatched::drop;
    jets.link(candidates("strict")).link(kept).link(dropped);
    const auto message = message_of([&] { jets.read_jagged("strict.PFCands_pt", 0, 3); });
    EXPECT_NE(message.find("points to PFCands entry -1 in event 0"), std::string::npos) << message;
    const auto with_nan = jets.read_jagged("kept.PFCands_pt", 0, 1);
    ASSERT_EQ(with_nan.values.size(), 3u);
    EXPECT_TRUE(std::isnan(with_nan.values[0]));
    EXPECT_EQ(jets.read_jagged("kept.JetPFCands_value", 0, 1).values, (std::vector<float>{11, 12, 14}));
    EXPECT_EQ(jets.read_jagged("dropped.PFCands_pt", 0, 1).values, (std::vector<float>{2, 4}));
  }
  {
    dd::JetSource jets(dd::open_source(write(good_events()), "Events"));
    jets.link(candidates());
    const auto missing = message_of([&] { jets.read_jagged("PFCands_eta", 0, 3); });
    EXPECT_NE(missing.find("events.h5: has no branch 'PFCands_eta'"), std::string::npos) << missing;
    const auto other_collection = message_of([&] { jets.read_flat("Muon_pt", 0, 3); });
    EXPECT_NE(other_collection.find("branch 'Muon_pt' has 2 values in event 0"), std::string::npos) << other_collection;
    const auto list_as_flat = message_of([&] { jets.read_flat("PFCands_pt", 0, 3); });
    EXPECT_NE(list_as_flat.find("read it as a particle list"), std::string::npos) << list_as_flat;
    const auto out_of_range = message_of([&] { jets.read_flat("Jet_pt", 2, 4); });
    EXPECT_NE(out_of_range.find("the source has 3"), std::string::npos) << out_of_range;
    const auto bad_map = message_of([&] {
      jets.link({.name = "bad", .collection = "PFCands", .map = "JetPFCand", .entry_index = "pFCandsIdx"});
    });
    EXPECT_NE(bad_map.find("has no branch 'JetPFCand_jetIdx' (the jet index of map 'JetPFCand')"), std::string::npos)
        << bad_map;
  }
}

// Forwards to a source and records every read: which branch, which entries.
class RecordingSource final : public dd::Source {
 public:
  struct Read {
    std::string branch;
    std::uint64_t first, last;
  };
  explicit RecordingSource(std::unique_ptr<dd::Source> inner, std::vector<Read>& reads)
      : inner_(std::move(inner)), reads_(reads) {}
  const std::string& path() const override { return inner_->path(); }
  std::uint64_t entries() const override { return inner_->entries(); }
  bool has_branch(const std::string& name) const override { return inner_->has_branch(name); }
  std::vector<float> read_flat(const std::string& name, std::uint64_t first, std::uint64_t last) const override {
    reads_.push_back({name, first, last});
    return inner_->read_flat(name, first, last);
  }
  dd::JaggedColumn read_jagged(const std::string& name, std::uint64_t first, std::uint64_t last) const override {
    reads_.push_back({name, first, last});
    return inner_->read_jagged(name, first, last);
  }

 private:
  std::unique_ptr<dd::Source> inner_;
  std::vector<Read>& reads_;
};

TEST(JetSourceReads, OnlyTheEventsHoldingTheJetsAndTheMapOncePerRange) {
  std::vector<RecordingSource::Read> reads;
  dd::JetSource jets(std::make_unique<RecordingSource>(dd::open_source(pfnano_file, "Events"), reads));
  jets.link({.name = "PFCands", .collection = "PFCands", .map = "JetPFCands", .entry_index = "pFCandsIdx"});
  // Opening reads one jet branch over all events (10 events: one chunk).
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0].branch, "Jet_pt");
  EXPECT_EQ(reads[0].last, 10u);
  reads.clear();
  // Jets 9-11 are in event 1 (jets 8-14): every read is of event 1 alone.
  jets.read_jagged("PFCands_pt", 9, 12);
  jets.read_jagged("PFCands_eta", 9, 12);
  jets.read_jagged("JetPFCands_btagEtaRel", 9, 12);
  jets.read_flat("Jet_eta", 9, 12);
  jets.read_flat("PV_npvs", 9, 12);
  std::map<std::string, int> count;
  for (const auto& read : reads) {
    EXPECT_EQ(read.first, 1u) << read.branch;
    EXPECT_EQ(read.last, 2u) << read.branch;
    ++count[read.branch];
  }
  // The map's indices and the collection's sizes are read once for the three list branches.
  EXPECT_EQ(count["JetPFCands_jetIdx"], 1);
  EXPECT_EQ(count["JetPFCands_pFCandsIdx"], 1);
  EXPECT_EQ(count["PFCands_pt"], 2);  // the size branch, then the values asked for
  EXPECT_EQ(count["PFCands_eta"], 1);
  EXPECT_EQ(reads.size(), 8u);
  // Jets 7-8 straddle events 0 and 1.
  reads.clear();
  jets.read_flat("Jet_eta", 7, 9);
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0].first, 0u);
  EXPECT_EQ(reads[0].last, 2u);
}

// The real PFNano file, against its raw columns.
class JetSourcePFNano : public ::testing::Test {
 protected:
  JetSourcePFNano() : file_(pfnano_file), tree_(file_.tree("Events")) {}

  std::vector<std::int64_t> counts(const std::string& branch) const { return tree_.read<std::int64_t>(branch); }
  deepjet::root::JaggedArray<std::int64_t> indices(const std::string& branch) const {
    return tree_.read_jagged<std::int64_t>(branch);
  }

  deepjet::root::File file_;
  deepjet::root::Tree tree_;
};

TEST_F(JetSourcePFNano, JetAndCandidateCountsMatchTheRawMap) {
  const auto jets = pfnano::open_pfnano_jets(pfnano_file);
  const auto n_jet = counts("nJet");
  const auto jet_index = indices("JetPFCands_jetIdx"), candidate_index = indices("JetPFCands_pFCandsIdx");
  const auto charge = tree_.read_jagged<float>("PFCands_charge");
  const auto sv_jet_index = indices("JetSVs_jetIdx");
  // Per jet, from the raw columns: map entries, charged and neutral ones, vertices.
  std::vector<float> all, charged, neutral, vertices;
  std::uint64_t total_jets = 0;
  for (std::size_t e = 0; e < n_jet.size(); ++e) {
    std::vector<float> a(static_cast<std::size_t>(n_jet[e])), c(a.size()), n(a.size()), v(a.size());
    for (std::size_t k = 0; k < jet_index[e].size(); ++k) {
      const auto jet = static_cast<std::size_t>(jet_index[e][k]);
      ASSERT_LT(jet, a.size());
      a[jet] += 1;
      (charge[e][static_cast<std::size_t>(candidate_index[e][k])] != 0 ? c : n)[jet] += 1;
    }
    for (std::int64_t jet : sv_jet_index[e]) v.at(static_cast<std::size_t>(jet)) += 1;
    all.insert(all.end(), a.begin(), a.end());
    charged.insert(charged.end(), c.begin(), c.end());
    neutral.insert(neutral.end(), n.begin(), n.end());
    vertices.insert(vertices.end(), v.begin(), v.end());
    total_jets += static_cast<std::uint64_t>(n_jet[e]);
  }
  // EXPECTED.json (JSROOT): nJet sums to 64 over 10 events, JetPFCands has 1801 entries, JetSVs 45.
  EXPECT_EQ(total_jets, 64u);
  ASSERT_EQ(jets->entries(), 64u);
  EXPECT_EQ(jets->events(), 10u);
  EXPECT_EQ(jets->read_flat("cpf.size", 0, 64), charged);
  EXPECT_EQ(jets->read_flat("npf.size", 0, 64), neutral);
  EXPECT_EQ(jets->read_flat("sv.size", 0, 64), vertices);
  double pairs = 0, charged_pairs = 0, vertex_pairs = 0;
  for (std::size_t j = 0; j < 64; ++j) {
    EXPECT_EQ(charged[j] + neutral[j], all[j]) << "jet " << j;
    pairs += all[j];
    charged_pairs += charged[j];
    vertex_pairs += vertices[j];
  }
  EXPECT_EQ(pairs, 1801);
  EXPECT_EQ(vertex_pairs, 45);
  EXPECT_EQ(charged_pairs, 915);  // the rest, 886, are neutral
  // Every jet's map entries are its constituents (Jet_nConstituents, which also sums to 1801).
  EXPECT_EQ(jets->read_flat("Jet_nConstituents", 0, 64), all);
}

TEST_F(JetSourcePFNano, CandidateValuesAreTheRawValuesAtTheMappedIndices) {
  dd::JetSource jets(dd::open_source(pfnano_file, "Events"));
  jets.link({.name = "PFCands", .collection = "PFCands", .map = "JetPFCands", .entry_index = "pFCandsIdx"});
  const auto n_jet = counts("nJet");
  const auto jet_index = indices("JetPFCands_jetIdx"), candidate_index = indices("JetPFCands_pFCandsIdx");
  const auto pt = tree_.read_jagged<float>("PFCands_pt"), d0 = tree_.read_jagged<float>("PFCands_d0");
  const auto eta_rel = tree_.read_jagged<float>("JetPFCands_btagEtaRel");
  const auto npvs = tree_.read<float>("PV_npvs");
  const auto list_pt = jets.read_jagged("PFCands_pt", 0, 64), list_d0 = jets.read_jagged("PFCands_d0", 0, 64);
  const auto list_eta_rel = jets.read_jagged("JetPFCands_btagEtaRel", 0, 64);
  const auto jet_npvs = jets.read_flat("PV_npvs", 0, 64);
  std::size_t jet = 0, checked = 0;
  for (std::size_t e = 0; e < n_jet.size(); ++e)
    for (std::int64_t j = 0; j < n_jet[e]; ++j, ++jet) {
      std::vector<float> expected_pt, expected_d0, expected_eta_rel;
      for (std::size_t k = 0; k < jet_index[e].size(); ++k) {
        if (jet_index[e][k] != j) continue;
        const auto c = static_cast<std::size_t>(candidate_index[e][k]);
        expected_pt.push_back(pt[e][c]);
        expected_d0.push_back(d0[e][c]);
        expected_eta_rel.push_back(eta_rel[e][k]);
      }
      const auto a = list_pt[jet], b = list_d0[jet], c = list_eta_rel[jet];
      ASSERT_EQ(std::vector<float>(a.begin(), a.end()), expected_pt) << "jet " << jet;
      ASSERT_EQ(std::vector<float>(b.begin(), b.end()), expected_d0) << "jet " << jet;
      ASSERT_EQ(std::vector<float>(c.begin(), c.end()), expected_eta_rel) << "jet " << jet;
      ASSERT_EQ(jet_npvs[jet], npvs[e]) << "jet " << jet;
      checked += expected_pt.size();
    }
  EXPECT_EQ(checked, 1801u);
  // Derived per-candidate branches: DeepJet's deltaR to the jet axis, equal to the value computed
  // from the raw columns. Seen from the other side, the map is physical: the constituents of these
  // AK4 jets (R = 0.4) lie within 0.4 of the final axis but for 23 of 1801, all within 0.6.
  jets.add_derived_to_list("PFCands", "deltaR", {"PFCands_eta", "PFCands_phi", "Jet_eta", "Jet_phi"},
                           [](std::span<const float> v) { return pfnano::delta_r(v[0], v[1], v[2], v[3]); });
  const auto delta_r = jets.read_jagged("PFCands.deltaR", 0, 64);
  const auto eta = tree_.read_jagged<float>("PFCands_eta"), phi = tree_.read_jagged<float>("PFCands_phi");
  const auto jet_eta = tree_.read_jagged<float>("Jet_eta"), jet_phi = tree_.read_jagged<float>("Jet_phi");
  ASSERT_EQ(delta_r.values.size(), 1801u);
  std::size_t k_all = 0;
  for (std::size_t e = 0; e < n_jet.size(); ++e)
    for (std::int64_t j = 0; j < n_jet[e]; ++j)
      for (std::size_t k = 0; k < jet_index[e].size(); ++k) {
        if (jet_index[e][k] != j) continue;
        const auto c = static_cast<std::size_t>(candidate_index[e][k]);
        const float expected = pfnano::delta_r(eta[e][c], phi[e][c], jet_eta[e][static_cast<std::size_t>(j)],
                                               jet_phi[e][static_cast<std::size_t>(j)]);
        ASSERT_EQ(delta_r.values[k_all++], expected);
      }
  const auto beyond = std::count_if(delta_r.values.begin(), delta_r.values.end(), [](float d) { return d > 0.4f; });
  EXPECT_LT(*std::max_element(delta_r.values.begin(), delta_r.values.end()), 0.6f);
  EXPECT_EQ(beyond, 23);  // 1.3 %: soft constituents merged before the axis moved
  // The map's own pT copy is the candidate's pT.
  EXPECT_EQ(jets.read_jagged("JetPFCands_pt", 0, 64).values, list_pt.values);
  // EXPECTED.json: PFCands_pt of event 0 starts 0.5146484375, 0.9111328125; the first jet's first
  // map entry is candidate 1.
  EXPECT_EQ(list_pt.values[0], 0.9111328125f);
}

TEST_F(JetSourcePFNano, RangeReadsInsideAndAcrossEvents) {
  const auto jets = pfnano::open_pfnano_jets(pfnano_file);
  const auto full = jets->read_jagged("cpf.PFCands_pt", 0, 64);
  const auto full_sv = jets->read_jagged("sv.JetSVs_mass", 0, 64);
  const auto full_event = jets->read_flat("event", 0, 64);
  // Event 0 holds jets 0-7, event 1 jets 8-14: ranges inside one event, across one boundary, across many.
  const std::pair<std::uint64_t, std::uint64_t> ranges[] = {{0, 8}, {2, 5}, {6, 10}, {7, 8}, {8, 15}, {5, 40}, {30, 64}, {63, 64}, {20, 20}};
  ASSERT_EQ(jets->first_jet(1), 8u);
  for (const auto& [first, last] : ranges) {
    const auto part = jets->read_jagged("cpf.PFCands_pt", first, last);
    const auto part_sv = jets->read_jagged("sv.JetSVs_mass", first, last);
    const auto part_event = jets->read_flat("event", first, last);
    ASSERT_EQ(part.entries(), last - first);
    for (std::uint64_t j = first; j < last; ++j) {
      ASSERT_EQ(std::vector<float>(part[j - first].begin(), part[j - first].end()),
                std::vector<float>(full[j].begin(), full[j].end()))
          << "jet " << j << " of " << first << ".." << last;
      ASSERT_EQ(std::vector<float>(part_sv[j - first].begin(), part_sv[j - first].end()),
                std::vector<float>(full_sv[j].begin(), full_sv[j].end()));
      ASSERT_EQ(part_event[j - first], full_event[j]);
    }
  }
  // EXPECTED.json: the first events are 1735802 (8 jets) and 1735801 (7 jets).
  EXPECT_EQ(full_event[7], 1735802.0f);
  EXPECT_EQ(full_event[8], 1735801.0f);
}

TEST_F(JetSourcePFNano, VerticesOutsideTheSVTableAreNamed) {
  // JetSVs_sVIdx is -1 for vertices not in the SV table (EXPECTED.json, event 1).
  dd::JetSource jets(dd::open_source(pfnano_file, "Events"));
  jets.link({.name = "sv", .collection = "SV", .map = "JetSVs", .entry_index = "sVIdx"});
  const auto message = message_of([&] { jets.read_jagged("sv.JetSVs_mass", 0, 64); });
  EXPECT_NE(message.find("coffea-pfnano.root: branch 'JetSVs_sVIdx' points to SV entry -1 in event 1"), std::string::npos)
      << message;
  // Kept, their SV_* values are NaN and the others are the SV table's.
  dd::JetSource kept(dd::open_source(pfnano_file, "Events"));
  kept.link({.name = "sv", .collection = "SV", .map = "JetSVs", .entry_index = "sVIdx", .unmatched = dd::Unmatched::keep});
  const auto sv_mass = kept.read_jagged("sv.SV_mass", 0, 64), map_mass = kept.read_jagged("sv.JetSVs_mass", 0, 64);
  ASSERT_EQ(sv_mass.values.size(), 45u);
  std::size_t matched = 0;
  for (std::size_t k = 0; k < 45; ++k)
    if (!std::isnan(sv_mass.values[k])) {
      EXPECT_EQ(sv_mass.values[k], map_mass.values[k]) << k;
      ++matched;
    }
  const auto sv_index = indices("JetSVs_sVIdx");
  std::size_t non_negative = 0;
  for (std::size_t e = 0; e < sv_index.entries(); ++e)
    for (auto i : sv_index[e]) non_negative += i >= 0;
  EXPECT_EQ(matched, non_negative);
}

TEST_F(JetSourcePFNano, AnyJetCollection) {
  // The AK8 jets of the same file, with their own maps (EXPECTED.json: nFatJet sums to 24,
  // FatJetPFCands has 1076 entries, FatJetSVs 44).
  dd::JetSource fat_jets(dd::open_source(pfnano_file, "Events"), "FatJet");
  fat_jets.link({.name = "pf", .collection = "PFCands", .map = "FatJetPFCands", .entry_index = "pFCandsIdx"});
  fat_jets.link({.name = "sv", .collection = "SV", .map = "FatJetSVs", .entry_index = "sVIdx", .unmatched = dd::Unmatched::drop});
  ASSERT_EQ(fat_jets.entries(), 24u);
  EXPECT_EQ(fat_jets.read_jagged("pf.PFCands_pt", 0, 24).values.size(), 1076u);
  // Vertices outside the SV table dropped: the map's 44 entries less its negative indices.
  const auto sv_index = indices("FatJetSVs_sVIdx");
  ASSERT_EQ(sv_index.values.size(), 44u);
  const auto matched = std::count_if(sv_index.values.begin(), sv_index.values.end(), [](std::int64_t i) { return i >= 0; });
  EXPECT_EQ(fat_jets.read_jagged("sv.FatJetSVs_mass", 0, 24).values.size(), static_cast<std::size_t>(matched));
  EXPECT_EQ(fat_jets.read_jagged("sv.SV_mass", 0, 24).values.size(), static_cast<std::size_t>(matched));
}

TEST(JetSourceNanoAOD, PlainNanoAODJetsWithPerEventValues) {
  // Plain NanoAOD (no PF candidates): 40 events, 188 jets, hadron flavours summing to 36.
  const std::string path = DEEPJET_SHARED_DIR "/data/root/coffea-nano_dy.root";
  dd::JetSource jets(dd::open_source(path, "Events"));
  jets.add_derived("isC", "Jet_hadronFlavour", [](float f) { return f == 4 ? 1.0f : 0.0f; });
  ASSERT_EQ(jets.entries(), 188u);
  deepjet::root::File file(path);
  const auto tree = file.tree("Events");
  const auto n_jet = tree.read<std::int64_t>("nJet");
  const auto npvs = tree.read<float>("PV_npvs");
  const auto flavour = tree.read_jagged<float>("Jet_hadronFlavour");
  const auto jet_npvs = jets.read_flat("PV_npvs", 0, 188);
  const auto is_c = jets.read_flat("isC", 0, 188);
  double flavour_sum = 0, c_jets = 0;
  std::size_t jet = 0;
  for (std::size_t e = 0; e < n_jet.size(); ++e)
    for (std::int64_t j = 0; j < n_jet[e]; ++j, ++jet) {
      ASSERT_EQ(jet_npvs[jet], npvs[e]);
      ASSERT_EQ(jets.event_of(jet), e);
      flavour_sum += flavour.values[jet];
      c_jets += flavour.values[jet] == 4;
    }
  EXPECT_EQ(jet, 188u);
  EXPECT_EQ(flavour_sum, 36);
  double is_c_sum = 0;
  for (float v : is_c) is_c_sum += v;
  EXPECT_EQ(is_c_sum, c_jets);
}

TEST(PFNanoExample, ConvertsEveryJetWithItsHadronFlavour) {
  const auto directory = fs::temp_directory_path() / ("deepjet-pfnano-" + std::to_string(::getpid()));
  fs::remove_all(directory);
  fs::create_directories(directory);
  const auto output = directory / "pfnano.h5";
  const auto jets = pfnano::open_pfnano_jets(pfnano_file);
  dd::ConvertOptions options;
  options.chunk_jets = 10;  // several chunks, whose ranges cut through events
  const auto report =
      dd::convert_file<pfnano::PFNanoData>(*jets, output, dd::Normalisation<pfnano::PFNanoData>::identity(), options);
  EXPECT_EQ(report.source, pfnano_file);
  EXPECT_EQ(report.jets, 64u);
  EXPECT_EQ(report.dropped_unlabelled, 0u);
  const dd::TrainingFile<pfnano::PFNanoData> file(output);
  ASSERT_EQ(file.jets(), 64u);
  const auto batch = file.read(0, 64);

  // Truth per class against the raw hadron flavours (EXPECTED.json: they sum to 12).
  deepjet::root::File root(pfnano_file);
  const auto flavour = root.tree("Events").read_jagged<std::int64_t>("Jet_hadronFlavour");
  std::map<std::int64_t, double> per_flavour;
  double flavour_sum = 0;
  for (auto f : flavour.values) {
    per_flavour[f] += 1;
    flavour_sum += static_cast<double>(f);
  }
  EXPECT_EQ(flavour_sum, 12);
  double b = 0, c = 0, udsg = 0;
  for (std::size_t j = 0; j < 64; ++j) {
    b += batch.truth(j, 0);
    c += batch.truth(j, 1);
    udsg += batch.truth(j, 2);
    EXPECT_EQ(batch.truth(j, 0) + batch.truth(j, 1) + batch.truth(j, 2), 1.0f) << "jet " << j;
    EXPECT_EQ(batch.spectators(j, 2), static_cast<float>(flavour.values[j]));
  }
  EXPECT_EQ(b, per_flavour[5]);
  EXPECT_EQ(c, per_flavour[4]);
  EXPECT_EQ(udsg, per_flavour[0]);
  EXPECT_EQ(b + c + udsg, 64);
  // The spectators event and Jet.index find each jet back in the file.
  const auto event_number = root.tree("Events").read<float>("event");
  const auto n_jet = root.tree("Events").read<std::int64_t>("nJet");
  std::size_t jet = 0;
  for (std::size_t e = 0; e < n_jet.size(); ++e)
    for (std::int64_t i = 0; i < n_jet[e]; ++i, ++jet) {
      ASSERT_EQ(batch.spectators(jet, 4), event_number[e]);
      ASSERT_EQ(batch.spectators(jet, 5), static_cast<float>(i));
    }

  // The blocks hold each jet's lists, cut at the blocks' lengths and padded with 0: the number of
  // non-padded rows equals min(list size, block length). The candidates' ptrel (charged feature
  // 6) and the vertices' log pT (feature 0) are never exactly 0 here.
  const auto& [global, cpf, npf, sv] = batch.inputs;
  const auto charged = jets->read_flat("cpf.size", 0, 64), vertices = jets->read_flat("sv.size", 0, 64);
  for (std::size_t j = 0; j < 64; ++j) {
    EXPECT_EQ(global(j, 3), charged[j]) << "jet " << j;
    std::size_t rows = 0, sv_rows = 0;
    for (std::size_t p = 0; p < 25; ++p) rows += cpf(j, p, 6) != 0.0f;
    for (std::size_t p = 0; p < 4; ++p) sv_rows += sv(j, p, 0) != 0.0f;
    EXPECT_EQ(rows, std::min<std::size_t>(25, static_cast<std::size_t>(charged[j]))) << "jet " << j;
    EXPECT_EQ(sv_rows, std::min<std::size_t>(4, static_cast<std::size_t>(vertices[j]))) << "jet " << j;
  }
  fs::remove_all(directory);
}

}  // namespace
