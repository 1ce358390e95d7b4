// The data path on a hand-made source table whose every value is known: preprocessing, sorting,
// cutting and padding lists, truth from flags, normalisation, training files, and bad inputs;
// then a model fed from a training file, and a real ROOT file converted.
#include <deepjet/deepjet.hpp>

#include "support/temporary_directory.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

namespace {

namespace fs = std::filesystem;
namespace dd = deepjet::data;

struct Jet : dd::FlatBlock {
  static constexpr std::string_view name = "jet";
  static constexpr std::array features{dd::feature("jet_pt").log(), dd::feature("jet_sv_mass").missing_below(-998).with_default(-1).raw()};
};
struct Tracks : dd::ListBlock<2> {
  static constexpr std::string_view name = "tracks";
  static constexpr std::array features{dd::feature("trk_ptrel").clip(0, 8), dd::feature("trk_sip")};
  static constexpr dd::SortKey sort{"trk_sip", dd::descending, /*absolute=*/true};
  static constexpr float padding = 0.0f;
};
struct Truth : dd::ClassLabels {
  static constexpr std::array classes{dd::label("b", "isB"), dd::label("c", "isC", "isGCC")};
};
struct Kinematics : dd::SpectatorBlock {
  static constexpr std::array<std::string_view, 1> branches{"jet_pt"};
};
using Data = dd::Format<dd::Blocks<Jet, Tracks>, Truth, Kinematics>;
static_assert(std::is_same_v<Data::input_shape, deepjet::Inputs<deepjet::Shape<2>, deepjet::Shape<2, 2>>>);

// Another format: a block of the same name with other features.
struct OtherJet : dd::FlatBlock {
  static constexpr std::string_view name = "jet";
  static constexpr std::array features{dd::feature("jet_eta")};
};
using OtherData = dd::Format<dd::Blocks<OtherJet>, Truth>;

constexpr float nan = std::numeric_limits<float>::quiet_NaN();

class DataPath : public deepjet::test::TemporaryDirectoryTest {
 protected:
  DataPath() : TemporaryDirectoryTest("deepjet-data") {}

  // Four jets; jet 2 has no class and a NaN pT; jet 3 has four tracks.
  std::string write_source(float trk_value_for_nan = 9.0f) {
    const auto path = directory_ / "source.h5";
    dd::SourceTableWriter w(path, "tree");
    w.add_flat<float>("jet_pt");
    w.add_flat<float>("jet_sv_mass");
    w.add_flat<float>("isB");
    w.add_flat<float>("isC");
    w.add_flat<float>("isGCC");
    w.add_jagged<float>("trk_ptrel", "n_trk");
    w.add_jagged<float>("trk_sip", "n_trk");
    const float pt[] = {10, 20, nan, 40}, mass[] = {1.5f, -999, 2, 0}, b[] = {1, 0, 0, 1}, c[] = {0, 1, 0, 0},
                gcc[] = {0, 0, 0, 0};
    const std::int64_t counts[] = {3, 0, 1, 4};
    const float ptrel[] = {3, 1, 12, 5, 7, 8, trk_value_for_nan, 10};
    const float sip[] = {0.1f, -5, 2, 1, 4, 3, -6, 1};
    w.append_flat<float>("jet_pt", pt);
    w.append_flat<float>("jet_sv_mass", mass);
    w.append_flat<float>("isB", b);
    w.append_flat<float>("isC", c);
    w.append_flat<float>("isGCC", gcc);
    w.append_counts("n_trk", counts);
    w.append_jagged<float>("trk_ptrel", ptrel);
    w.append_jagged<float>("trk_sip", sip);
    w.finish(4);
    return path.string();
  }
};

TEST_F(DataPath, BlocksArePreparedSortedCutAndPadded) {
  const auto source = dd::open_source(write_source(), "tree");
  dd::PrepareCounts counts;
  std::vector<float> jet(4 * 2), tracks(4 * 4), truth(4 * 2), spectators(4);
  dd::read_block<Jet>(*source, 0, 4, {}, jet, {}, counts);
  dd::read_block<Tracks>(*source, 0, 4, {}, tracks, {}, counts);
  dd::read_truth<Truth>(*source, 0, 4, truth);
  dd::read_spectators<Kinematics>(*source, 0, 4, spectators);
  // jet: log(pt) (NaN -> default 0), sv mass (-999 -> default -1)
  const std::vector<float> expected_jet = {std::log(10.0f), 1.5f, std::log(20.0f), -1, 0, 2, std::log(40.0f), 0};
  for (std::size_t i = 0; i < jet.size(); ++i) EXPECT_FLOAT_EQ(jet[i], expected_jet[i]) << i;
  // tracks by |sip| descending, two kept, ptrel clipped to 8: jet 0 -> (1,-5), (8,2); jet 1 padded;
  // jet 2 -> (5,1), pad; jet 3 (|sip| 6,4,3,1) -> (9->8,-6), (7,4)
  const std::vector<float> expected_tracks = {1, -5, 8, 2, 0, 0, 0, 0, 5, 1, 0, 0, 8, -6, 7, 4};
  EXPECT_EQ(tracks, expected_tracks);
  EXPECT_EQ(truth, (std::vector<float>{1, 0, 0, 1, 0, 0, 1, 0}));
  EXPECT_TRUE(std::isnan(spectators[2]));
  EXPECT_EQ(counts.non_finite_replaced, 1u);
  EXPECT_EQ(counts.missing_replaced, 1u);
  EXPECT_EQ(counts.entries_cut, 3u);  // one of jet 0, two of jet 3
}

TEST_F(DataPath, NormalisationUsesRealEntriesOnly) {
  const auto n = dd::measure_normalisation<Data>({write_source()}, "tree");
  EXPECT_EQ(n.jets_used, 4u);
  // tracks' ptrel over the 5 kept entries: 1, 8, 5, 8, 7 -> mean 5.8
  EXPECT_NEAR(n.blocks[1][0].mean, 5.8, 1e-9);
  EXPECT_NEAR(n.blocks[1][0].std_dev, std::sqrt((4.8 * 4.8 + 2.2 * 2.2 + 0.8 * 0.8 + 2.2 * 2.2 + 1.2 * 1.2) / 5), 1e-6);
  EXPECT_EQ(dd::Normalisation<Data>::from_text(n.to_text()).to_text(), n.to_text());
  EXPECT_THROW(dd::Normalisation<Data>::from_text("jets 4\njet jet_eta 0 1\n"), deepjet::Error);
}

TEST_F(DataPath, ConvertedFileHoldsNormalisedLabelledJets) {
  const auto source = write_source();
  const auto normalisation = dd::measure_normalisation<Data>({source}, "tree");
  const auto output = directory_ / "train.h5";
  const auto report = dd::convert_file<Data>(source, "tree", output, normalisation, {.chunk_jets = 3});
  EXPECT_EQ(report.source_entries, 4u);
  EXPECT_EQ(report.jets, 3u);
  EXPECT_EQ(report.dropped_unlabelled, 1u);
  EXPECT_EQ(report.counts.non_finite_replaced, 1u);  // counted when read, though its jet is then dropped
  dd::TrainingFile<Data> file(output);
  ASSERT_EQ(file.jets(), 3u);
  const auto batch = file.read(0, 3);
  const auto& [jet, tracks] = batch.inputs;
  const auto& stats = normalisation.blocks[0][0];
  EXPECT_NEAR(jet(2, 0), (std::log(40.0) - stats.mean) / stats.std_dev, 1e-5);
  EXPECT_FLOAT_EQ(jet(1, 1), -1.0f);  // a raw feature is not normalised
  EXPECT_FLOAT_EQ(tracks(1, 0, 0), 0.0f);  // padding stays padding
  EXPECT_NEAR(tracks(0, 0, 0), (1 - 5.8) / normalisation.blocks[1][0].std_dev, 1e-5);
  EXPECT_EQ(std::vector<float>(batch.truth.begin(), batch.truth.end()), (std::vector<float>{1, 0, 0, 1, 1, 0}));
  EXPECT_FLOAT_EQ(batch.spectators(2, 0), 40.0f);
  EXPECT_EQ(file.normalisation().to_text(), normalisation.to_text());
  EXPECT_EQ(file.file().read_string_attribute("source"), source);
  EXPECT_EQ(file.file().read_integer_attribute("source_crc32"), dd::file_crc32(source));
}

TEST_F(DataPath, BadInputsAreNamed) {
  const auto source = write_source(nan);
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const deepjet::Error& e) {
      return std::string(e.what());
    }
    return std::string("(nothing thrown)");
  };
  const auto output = directory_ / "train.h5";
  const auto identity = dd::Normalisation<Data>::identity();
  const auto rejected = message([&] {
    dd::convert_file<Data>(source, "tree", output, identity, {.prepare = {.non_finite = dd::NonFinite::reject}});
  });
  EXPECT_NE(rejected.find("source.h5: branch 'jet_pt' has a non-finite value"), std::string::npos) << rejected;
  EXPECT_FALSE(fs::exists(output));
  const auto replaced = dd::convert_file<Data>(source, "tree", output, identity);
  EXPECT_EQ(replaced.counts.non_finite_replaced, 2u);  // jet_pt of jet 2, a track of jet 3

  const auto missing = message([&] {
    dd::convert_file<OtherData>(source, "tree", directory_ / "other.h5", dd::Normalisation<OtherData>::identity());
  });
  EXPECT_NE(missing.find("source.h5: table 'tree' has no branch 'jet_eta'"), std::string::npos) << missing;
  EXPECT_FALSE(fs::exists(directory_ / "other.h5"));
  const auto wrong_format = message([&] { dd::TrainingFile<OtherData> file(output); });
  EXPECT_NE(wrong_format.find("train.h5: was written for another data format: the file has 'block jet (2)"),
            std::string::npos)
      << wrong_format;
  const auto out_of_range = message([&] { dd::TrainingFile<Data>(output).read(2, 5); });
  EXPECT_NE(out_of_range.find("has 3 jets"), std::string::npos) << out_of_range;
}

TEST_F(DataPath, AModelTrainsOnATrainingFile) {
  const auto source = write_source();
  const auto output = directory_ / "train.h5";
  dd::convert_file<Data>(source, "tree", output, dd::measure_normalisation<Data>({source}, "tree"));
  using Net = deepjet::Sequential<Data::input_shape,
                                  deepjet::Branches<deepjet::Dense<4>, deepjet::Stack<deepjet::Flatten, deepjet::Dense<4>>>,
                                  deepjet::Concatenate, deepjet::Tanh, deepjet::Dense<Data::truth_shape::size>,
                                  deepjet::Softmax>;
  deepjet::Model<Net> model(1);
  const auto batch = dd::TrainingFile<Data>(output).read(0, 3);
  deepjet::Adam adam{.learning_rate = 0.05};
  const double first = model.train_step(batch.inputs, batch.truth, nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  double last = first;
  for (int i = 0; i < 50; ++i) last = model.train_step(batch.inputs, batch.truth, nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  EXPECT_LT(last, 0.2 * first);
}

// A real ROOT file: events as "jets", their jets as a list sorted by energy.
struct Met : dd::FlatBlock {
  static constexpr std::string_view name = "met";
  static constexpr std::array features{dd::feature("MET_px"), dd::feature("MET_py")};
};
struct Jets : dd::ListBlock<3> {
  static constexpr std::string_view name = "jets";
  static constexpr std::array features{dd::feature("Jet_Px"), dd::feature("Jet_Py"), dd::feature("Jet_E")};
  static constexpr dd::SortKey sort{"Jet_E", dd::descending};
};
struct Trigger : dd::ClassLabels {
  static constexpr std::array classes{dd::label("triggered", "triggerIsoMu24")};
};
using EventData = dd::Format<dd::Blocks<Met, Jets>, Trigger>;

TEST_F(DataPath, ARootFileConverts) {
  const std::string path = DEEPJET_SHARED_DIR "/data/root/uproot-HZZ-zlib.root";
  const auto output = directory_ / "hzz.h5";
  const auto report = dd::convert_file<EventData>(path, "events", output, dd::Normalisation<EventData>::identity(),
                                                  {.chunk_jets = 500, .keep_unlabelled = true});
  EXPECT_EQ(report.jets, 2421u);
  dd::TrainingFile<EventData> file(output);
  const auto batch = file.read(0, 2421);
  const auto source = dd::open_source(path, "events");
  const auto px = source->read_flat("MET_px", 0, 2421);
  const auto energies = source->read_jagged("Jet_E", 0, 2421);
  const auto& [met, jets] = batch.inputs;
  double triggered = 0;
  for (float v : source->read_flat("triggerIsoMu24", 0, 2421)) triggered += v;
  EXPECT_EQ(xt::sum(batch.truth)(), triggered);
  for (std::size_t e = 0; e < 2421; ++e) {
    ASSERT_EQ(met(e, 0), px[e]);
    // The leading jet is the most energetic one; events without jets are padded.
    const auto span = energies[e];
    const float highest = span.empty() ? 0.0f : *std::max_element(span.begin(), span.end());
    ASSERT_EQ(jets(e, 0, 2), highest) << "event " << e;
  }
}

}  // namespace
