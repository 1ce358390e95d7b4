// The DeepJet data format end to end on example jets: generate, measure the normalisation,
// convert, read batches into the DeepJet model type, and train a few steps; the example jets as
// DeepNTuple-like ROOT files, and prediction trees that are friends of the test ntuple (checked
// with deepjet's reader and with JSROOT).
#include "deepjet_data.hpp"
#include <deepjet/zoo/deepjet.hpp>
#include "root/root_writer_test_support.hpp"
#include "support/jet_tables.hpp"

#include <gtest/gtest.h>
#include <xtensor/xview.hpp>

#include <filesystem>
#include <numeric>

namespace {

namespace fs = std::filesystem;
using deepjet::zoo::DeepJetData;

TEST(DeepJetData, TheFormatFitsTheModel) {
  static_assert(std::is_same_v<DeepJetData::input_shape, deepjet::zoo::DeepJet::input_shape>);
  static_assert(std::is_same_v<DeepJetData::truth_shape, deepjet::zoo::DeepJet::output_shape>);
}

TEST(DeepJetData, ExampleJetsConvertAndTrainTheDeepJetModel) {
  const auto directory = fs::temp_directory_path() / ("deepjet-deepjet-data-" + std::to_string(::getpid()));
  fs::remove_all(directory);
  fs::create_directories(directory);
  const auto source = (directory / "jets.h5").string();
  deepjet::data::generate_example_jets(source, {.jets = 3000, .seed = 7});

  const auto normalisation = deepjet::data::measure_normalisation<DeepJetData>({source}, "deepntuplizer/tree");
  EXPECT_EQ(normalisation.jets_used, 3000u);
  const auto report = deepjet::data::convert_file<DeepJetData>(source, "deepntuplizer/tree", directory / "train.h5",
                                                               normalisation, {.chunk_jets = 1000});
  EXPECT_EQ(report.jets, 3000u);  // every example jet has a class
  EXPECT_GT(report.counts.missing_replaced, 0u);  // the ntupler's -999 defaults
  EXPECT_GT(report.counts.entries_cut, 0u);       // jets with more than 25 candidates

  deepjet::data::TrainingFile<DeepJetData> file(directory / "train.h5");
  ASSERT_EQ(file.jets(), 3000u);
  const auto batch = file.read(0, 128);
  // Normalised inputs: the global features are centred and of unit spread over the file.
  const auto all = file.read(0, 3000);
  const auto& global = std::get<0>(all.inputs);
  for (std::size_t f = 0; f < 15; ++f) {
    double mean = 0;
    for (std::size_t j = 0; j < 3000; ++j) mean += global(j, f) / 3000.0;
    EXPECT_NEAR(mean, 0.0, 1e-3) << "global feature " << f;
  }
  for (std::size_t j = 0; j < 128; ++j) EXPECT_FLOAT_EQ(xt::sum(xt::view(batch.truth, j))(), 1.0f);

  deepjet::Model<deepjet::zoo::DeepJet> model(/*seed=*/1);
  deepjet::Adam adam{.learning_rate = 1e-3};
  const deepjet::CategoricalCrossEntropy loss;
  const double first = model.train_step(batch.inputs, batch.truth, nullptr, loss, adam);
  double last = first;
  for (int step = 0; step < 9; ++step) last = model.train_step(batch.inputs, batch.truth, nullptr, loss, adam);
  EXPECT_LT(last, first);
  fs::remove_all(directory);
}

// The ROOT file holds exactly the jets of the HDF5 table of the same seed, laid out as the
// DeepNTuples ntupler writes them; converting either gives the same training inputs.
TEST(DeepJetData, ExampleJetsAsRootFilesReadAsTheirHdf5Twins) {
  deepjet::test::TemporaryDirectory directory;
  const auto root_path = (directory / "jets.root").string(), table_path = (directory / "jets.h5").string();
  deepjet::data::generate_example_jets(root_path, {.jets = 1500, .seed = 3, .chunk_jets = 700});
  deepjet::data::generate_example_jets(table_path, {.jets = 1500, .seed = 3, .chunk_jets = 700});

  const deepjet::root::File file(root_path);
  const auto tree = file.tree("deepntuplizer/tree");
  EXPECT_EQ(tree.entries(), 1500);
  EXPECT_EQ(tree.branch("isB").type, "int32");
  EXPECT_EQ(tree.branch("jet_pt").type, "float32");
  EXPECT_EQ(tree.branch("Cpfcan_BtagPf_trackSip2dSig").type, "float32[n_Cpfcand]");
  EXPECT_EQ(tree.branch("Npfcan_ptrel").type, "float32[n_Npfcand]");
  EXPECT_EQ(tree.branch("sv_d3dsig").type, "float32[n_sv]");

  // Exact: the same generator fills both files, and both store the float bits unchanged.
  const auto from_root = deepjet::data::open_source(root_path, "deepntuplizer/tree");
  const auto from_table = deepjet::data::open_source(table_path, "deepntuplizer/tree");
  ASSERT_EQ(from_root->entries(), from_table->entries());
  for (const char* name : deepjet::data::example_jets_truth_branches)
    EXPECT_EQ(from_root->read_flat(name, 0, 1500), from_table->read_flat(name, 0, 1500)) << name;
  for (const char* name : deepjet::data::example_jets_global_branches)
    EXPECT_EQ(from_root->read_flat(name, 0, 1500), from_table->read_flat(name, 0, 1500)) << name;
  for (const auto& names : {std::vector<const char*>(deepjet::data::example_jets_charged_branches.begin(),
                                                     deepjet::data::example_jets_charged_branches.end()),
                            std::vector<const char*>(deepjet::data::example_jets_sv_branches.begin(),
                                                     deepjet::data::example_jets_sv_branches.end())})
    for (const char* name : names) {
      const auto a = from_root->read_jagged(name, 100, 1400), b = from_table->read_jagged(name, 100, 1400);
      EXPECT_EQ(a.values, b.values) << name;
      EXPECT_EQ(a.offsets, b.offsets) << name;
    }
  EXPECT_EQ(from_root->read_flat_typed("isB", 0, 10).type, deepjet::root::ValueType::Int32);
  EXPECT_EQ(from_table->read_flat_typed("isB", 0, 10).type, deepjet::root::ValueType::Int32);
  EXPECT_EQ(from_table->read_flat_typed("jet_pt", 0, 10).bytes, from_root->read_flat_typed("jet_pt", 0, 10).bytes);

  const auto normalisation = deepjet::data::measure_normalisation<DeepJetData>({root_path}, "deepntuplizer/tree");
  deepjet::data::convert_file<DeepJetData>(root_path, "deepntuplizer/tree", directory / "a.h5", normalisation);
  deepjet::data::convert_file<DeepJetData>(table_path, "deepntuplizer/tree", directory / "b.h5", normalisation);
  const auto a = deepjet::data::TrainingFile<DeepJetData>(directory / "a.h5").read(0, 1500);
  const auto b = deepjet::data::TrainingFile<DeepJetData>(directory / "b.h5").read(0, 1500);
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_EQ(a.truth, b.truth);
}

// predict writes a ROOT tree that is a friend of the test ntuple (same entries, same order, the
// truth and spectators under the source's names and types) and the same values as HDF5; with a
// selection, source_entry says which source entry each jet is.
TEST(DeepJetData, PredictionTreesAreFriendsOfTheTestNtuple) {
  namespace dt = deepjet::training;
  namespace t = deepjet::root::testing;
  deepjet::test::TemporaryDirectory directory;
  const auto source = (directory / "test.root").string();
  constexpr std::size_t jets = 1200;
  deepjet::data::generate_example_jets(source, {.jets = jets, .seed = 5});
  const auto normalisation = deepjet::data::measure_normalisation<DeepJetData>({source}, "deepntuplizer/tree");
  const deepjet::Model<deepjet::zoo::DeepJet> model(/*seed=*/2);
  fs::create_directories(directory / "p");
  const auto reports = dt::predict_source<DeepJetData>(
      model, normalisation, source, "deepntuplizer/tree",
      std::vector<fs::path>{directory / "p" / "test.root", directory / "p" / "test.h5"}, nullptr, {.chunk_jets = 500});
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].jets, jets);

  // deepjet's reader: the prediction tree lines up with the source tree entry by entry.
  const deepjet::root::File source_file(source), prediction_file((directory / "p" / "test.root").string());
  const auto ntuple = source_file.tree("deepntuplizer/tree");
  const auto predictions = prediction_file.tree("tree");
  EXPECT_EQ(predictions.entries(), ntuple.entries());
  for (const char* flag : {"isB", "isBB", "isGBB", "isLeptonicB", "isLeptonicB_C", "isC", "isGCC", "isCC", "isUD", "isS", "isG"}) {
    EXPECT_EQ(predictions.branch(flag).type, "int32") << flag;
    EXPECT_EQ(predictions.read<std::int32_t>(flag), ntuple.read<std::int32_t>(flag)) << flag;
  }
  EXPECT_EQ(predictions.read<float>("jet_pt"), ntuple.read<float>("jet_pt"));
  EXPECT_EQ(predictions.read<float>("jet_eta"), ntuple.read<float>("jet_eta"));
  std::vector<std::int64_t> all(jets);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(predictions.read<std::int64_t>("source_entry"), all);
  EXPECT_EQ(predictions.title(),
            "deepjet predictions; classes b=isB,bb=isBB+isGBB,lepb=isLeptonicB+isLeptonicB_C,c=isC+isGCC+isCC,"
            "uds=isUD+isS,g=isG; spectators jet_pt,jet_eta");

  // read_predictions reads both formats to the same values (the same model outputs, the same sums).
  const auto from_root = dt::read_predictions(directory / "p" / "test.root");
  const auto from_hdf5 = dt::read_predictions(directory / "p" / "test.h5");
  EXPECT_EQ(from_root.classes, (std::vector<std::string>{"b", "bb", "lepb", "c", "uds", "g"}));
  EXPECT_EQ(from_root.classes, from_hdf5.classes);
  EXPECT_EQ(from_root.spectators, from_hdf5.spectators);
  EXPECT_EQ(from_root.probabilities, from_hdf5.probabilities);
  EXPECT_EQ(from_root.truth, from_hdf5.truth);
  EXPECT_EQ(from_root.spectator_values, from_hdf5.spectator_values);
  EXPECT_EQ(from_root.source_entries, all);
  EXPECT_EQ(from_hdf5.source_entries, all);
  for (std::size_t j = 0; j < jets; ++j) EXPECT_FLOAT_EQ(xt::sum(xt::view(from_root.truth, j))(), 1.0f);

  // A selection keeps the jets above 100 GeV; source_entry is the key to join on.
  dt::predict_source<DeepJetData>(model, normalisation, source, "deepntuplizer/tree", directory / "p" / "high.root",
                                  nullptr, {.chunk_jets = 500, .keep = [](auto, std::span<const float> spectators) {
                                              return spectators[0] > 100;
                                            }});
  const auto high = dt::read_predictions(directory / "p" / "high.root");
  const auto pt = ntuple.read<float>("jet_pt");
  std::vector<std::int64_t> expected_entries;
  for (std::size_t j = 0; j < jets; ++j)
    if (pt[j] > 100) expected_entries.push_back(static_cast<std::int64_t>(j));
  ASSERT_GT(expected_entries.size(), 0u);
  ASSERT_LT(expected_entries.size(), jets);
  EXPECT_EQ(high.source_entries, expected_entries);
  for (std::size_t k = 0; k < expected_entries.size(); ++k) {
    const auto j = static_cast<std::size_t>(expected_entries[k]);
    EXPECT_EQ(high.spectator_values(k, 0), pt[j]);
    EXPECT_EQ(high.probabilities(k, 0), from_root.probabilities(j, 0));  // the same model, the same inputs
  }

  EXPECT_THROW(dt::predict_source<DeepJetData>(model, normalisation, source, "deepntuplizer/tree", directory / "p.txt"),
               deepjet::Error);
  EXPECT_FALSE(fs::exists(directory / "p.txt"));

  // JSROOT, the ROOT team's reader, opens both files: the same entry count, the same truth and pT.
  if (t::jsroot_directory().empty()) {
    if (t::running_in_ci()) FAIL() << "JSROOT is missing: run scripts/install-dependencies.sh --test-runtimes";
    GTEST_SKIP() << "JSROOT is not installed (scripts/install-dependencies.sh --test-runtimes)";
  }
  const auto js_ntuple = t::jsroot_dump(source, "deepntuplizer/tree");
  const auto js_predictions = t::jsroot_dump(directory / "p" / "test.root", "tree");
  EXPECT_EQ(js_predictions.at("entries"), js_ntuple.at("entries"));
  EXPECT_EQ(js_predictions.at("entries").get<std::size_t>(), jets);
  for (const char* name : {"isB", "isBB", "isC", "isUD", "isG", "jet_pt", "jet_eta"})
    EXPECT_EQ(js_predictions.at("branches").at(name), js_ntuple.at("branches").at(name)) << name;
  const auto& prob_b = js_predictions.at("branches").at("prob_b");
  ASSERT_EQ(prob_b.size(), jets);
  for (std::size_t j = 0; j < jets; ++j) {
    ASSERT_EQ(prob_b[j].get<float>(), from_hdf5.probabilities(j, 0)) << j;
    ASSERT_EQ(js_predictions.at("branches").at("source_entry")[j].get<std::int64_t>(), static_cast<std::int64_t>(j));
  }
}

}  // namespace
