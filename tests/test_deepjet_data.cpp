// The DeepJet data format end to end on example jets: generate, measure the normalisation,
// convert, read batches into the DeepJet model type, and train a few steps.
#include "deepjet_data.hpp"
#include <deepjet/zoo/deepjet.hpp>

#include <gtest/gtest.h>
#include <xtensor/xview.hpp>

#include <filesystem>

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

}  // namespace
