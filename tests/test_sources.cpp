// Sources: HDF5 source tables written and read back, ROOT trees through the same interface, and
// every way a source can be wrong.
#include <deepjet/data/source.hpp>
#include <deepjet/data/source_table.hpp>

#include "support/temporary_directory.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace {

namespace fs = std::filesystem;
using deepjet::data::open_source;

class Sources : public deepjet::test::TemporaryDirectoryTest {
 protected:
  Sources() : TemporaryDirectoryTest("deepjet-sources") {}

  // Three jets: pt 10/20/30, candidates {1,2}, {}, {3,4,5} written in two chunks.
  fs::path write_table() {
    const auto path = directory_ / "jets.h5";
    deepjet::data::SourceTableWriter writer(path, "deepntuplizer/tree", 2);
    writer.add_flat<float>("jet_pt");
    writer.add_flat<std::int32_t>("isB");
    writer.add_jagged<float>("Cpfcan_ptrel", "n_Cpfcand");
    writer.add_jagged<double>("Cpfcan_puppiw", "n_Cpfcand");
    const float pt1[] = {10, 20}, pt2[] = {30};
    const std::int32_t b1[] = {1, 0}, b2[] = {1};
    const std::int64_t c1[] = {2, 0}, c2[] = {3};
    const float v1[] = {1, 2}, v2[] = {3, 4, 5};
    const double w1[] = {0.5, 0.25}, w2[] = {1, 1, 0};
    writer.append_flat<float>("jet_pt", pt1);
    writer.append_flat<std::int32_t>("isB", b1);
    writer.append_counts("n_Cpfcand", c1);
    writer.append_jagged<float>("Cpfcan_ptrel", v1);
    writer.append_jagged<double>("Cpfcan_puppiw", w1);
    EXPECT_FALSE(fs::exists(path)) << "an unfinished table must not appear under its name";
    writer.append_flat<float>("jet_pt", pt2);
    writer.append_flat<std::int32_t>("isB", b2);
    writer.append_counts("n_Cpfcand", c2);
    writer.append_jagged<float>("Cpfcan_ptrel", v2);
    writer.append_jagged<double>("Cpfcan_puppiw", w2);
    writer.finish(3);
    return path;
  }
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const deepjet::FileError& e) {
    return e.what();
  }
  return "(no deepjet::FileError)";
}

TEST_F(Sources, TableRoundTrip) {
  const auto path = write_table();
  const auto source = open_source(path, "deepntuplizer/tree");
  EXPECT_EQ(source->entries(), 3u);
  EXPECT_EQ(source->read_flat("jet_pt", 0, 3), (std::vector<float>{10, 20, 30}));
  EXPECT_EQ(source->read_flat("isB", 1, 3), (std::vector<float>{0, 1}));
  const auto all = source->read_jagged("Cpfcan_ptrel", 0, 3);
  EXPECT_EQ(all.values, (std::vector<float>{1, 2, 3, 4, 5}));
  EXPECT_EQ(all.offsets, (std::vector<std::int64_t>{0, 2, 2, 5}));
  const auto tail = source->read_jagged("Cpfcan_puppiw", 1, 3);
  EXPECT_EQ(tail.values, (std::vector<float>{1, 1, 0}));
  EXPECT_EQ(tail.offsets, (std::vector<std::int64_t>{0, 0, 3}));
  const auto flat_as_list = source->read_jagged("jet_pt", 2, 3);
  EXPECT_EQ(flat_as_list.values, (std::vector<float>{30}));
  EXPECT_EQ(source->read_jagged("Cpfcan_ptrel", 1, 1).offsets, (std::vector<std::int64_t>{0}));
  EXPECT_TRUE(source->has_branch("Cpfcan_ptrel"));
  EXPECT_FALSE(source->has_branch("Cpfcan_nothing"));
}

TEST_F(Sources, TableErrorsNameTheFileAndBranch) {
  const auto path = write_table();
  const auto source = open_source(path, "deepntuplizer/tree");
  EXPECT_NE(message_of([&] { source->read_flat("jet_phi", 0, 1); }).find("jets.h5: table 'deepntuplizer/tree' has no branch 'jet_phi'"),
            std::string::npos);
  EXPECT_NE(message_of([&] { source->read_flat("Cpfcan_ptrel", 0, 1); }).find("several values per entry"), std::string::npos);
  EXPECT_NE(message_of([&] { source->read_flat("jet_pt", 2, 4); }).find("entries 2 to 4"), std::string::npos);
  EXPECT_NE(message_of([&] { open_source(path, "other/tree"); }).find("has no table 'other/tree'"), std::string::npos);
  std::ofstream(directory_ / "text.txt") << "hello, not a data file";
  EXPECT_NE(message_of([&] { open_source((directory_ / "text.txt").string(), "t"); }).find("neither a ROOT file nor an HDF5 file"),
            std::string::npos);
  EXPECT_NE(message_of([&] { open_source((directory_ / "absent.root").string(), "t"); }).find("cannot open"),
            std::string::npos);
}

TEST_F(Sources, RootTreesReadThroughTheSameInterface) {
  const std::string path = DEEPJET_SHARED_DIR "/data/root/uproot-HZZ.root";
  const auto source = open_source(path, "events");
  EXPECT_EQ(source->entries(), 2421u);
  const auto jets = source->read_jagged("Jet_Px", 0, 2);  // entry 0 has no jet, entry 1 one
  ASSERT_EQ(jets.offsets, (std::vector<std::int64_t>{0, 0, 1}));
  EXPECT_FLOAT_EQ(jets.values[0], -38.87471389770508f);
  const auto muons = source->read_jagged("Muon_Px", 0, 1);
  ASSERT_EQ(muons.values.size(), 2u);
  EXPECT_FLOAT_EQ(muons.values[0], -52.89945602416992f);
  EXPECT_EQ(source->read_flat("NJet", 0, 2), (std::vector<float>{0, 1}));
  EXPECT_NE(message_of([&] { source->read_flat("Jet_Nothing", 0, 1); }).find("uproot-HZZ.root"), std::string::npos);
}

}  // namespace
