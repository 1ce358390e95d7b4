// tests/support/jet_tables.hpp: small source tables of jets with a unique id each, and a data
// format for them, for the conversion and loader tests.
#pragma once

#include <deepjet/deepjet.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace deepjet::test {

namespace dd = deepjet::data;

struct TestJet : dd::FlatBlock {
  static constexpr std::string_view name = "jet";
  static constexpr std::array features{dd::feature("jet_pt").log(), dd::feature("jet_eta")};
};
struct TestTracks : dd::ListBlock<3> {
  static constexpr std::string_view name = "tracks";
  static constexpr std::array features{dd::feature("trk_ptrel"), dd::feature("trk_sip")};
  static constexpr dd::SortKey sort{"trk_sip", dd::descending, true};
};
struct TestTruth : dd::ClassLabels {
  static constexpr std::array classes{dd::label("b", "isB"), dd::label("light", "isUDS")};
};
struct TestSpectators : dd::SpectatorBlock {
  static constexpr std::array<std::string_view, 3> branches{"id", "jet_pt", "jet_eta"};
};
using TestData = dd::Format<dd::Blocks<TestJet, TestTracks>, TestTruth, TestSpectators>;

/// Writes `jets` jets with ids first_id, first_id + 1, ...; b jets have harder, more displaced tracks.
inline void write_jet_table(const std::filesystem::path& path, std::uint64_t first_id, std::size_t jets,
                            std::uint64_t seed) {
  Random random(seed);
  std::vector<float> id(jets), pt(jets), eta(jets), b(jets), light(jets), ptrel, sip;
  std::vector<std::int64_t> counts(jets);
  for (std::size_t j = 0; j < jets; ++j) {
    id[j] = static_cast<float>(first_id + j);
    const bool is_b = random.uniform() < 0.4f;
    b[j] = is_b ? 1.0f : 0.0f;
    light[j] = is_b ? 0.0f : 1.0f;
    pt[j] = 30.0f + 200.0f * random.uniform() * (is_b ? 1.2f : 1.0f);
    eta[j] = random.uniform(-2.4f, 2.4f);
    counts[j] = static_cast<std::int64_t>(random.below(6));
    for (std::int64_t k = 0; k < counts[j]; ++k) {
      ptrel.push_back(random.uniform(0.0f, is_b ? 2.0f : 1.0f));
      sip.push_back(static_cast<float>(random.normal()) * (is_b ? 8.0f : 1.5f));
    }
  }
  dd::SourceTableWriter writer(path, "tree");
  for (const char* name : {"id", "jet_pt", "jet_eta", "isB", "isUDS"}) writer.add_flat<float>(name);
  writer.add_jagged<float>("trk_ptrel", "n_trk");
  writer.add_jagged<float>("trk_sip", "n_trk");
  writer.append_flat<float>("id", id);
  writer.append_flat<float>("jet_pt", pt);
  writer.append_flat<float>("jet_eta", eta);
  writer.append_flat<float>("isB", b);
  writer.append_flat<float>("isUDS", light);
  writer.append_counts("n_trk", counts);
  writer.append_jagged<float>("trk_ptrel", ptrel);
  writer.append_jagged<float>("trk_sip", sip);
  writer.finish(jets);
}

/// A fresh temporary directory named after the running test, removed by the destructor.
class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    path_ = std::filesystem::temp_directory_path() /
            ("deepjet-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TemporaryDirectory() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace deepjet::test
