// The trainer: stages and freezing, data-parallel threads, callbacks, checkpoints, and a run
// killed with kill -9 that resumes to exactly the weights of an uninterrupted run.
#include "support/jet_tables.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <sys/wait.h>
#include <thread>

namespace {

namespace fs = std::filesystem;
namespace dd = deepjet::data;
namespace dt = deepjet::training;
using deepjet::test::TemporaryDirectory;
using deepjet::test::TestData;

using Net = deepjet::Sequential<TestData::input_shape,
                                deepjet::Branches<deepjet::BatchNorm<>, deepjet::Stack<deepjet::Flatten, deepjet::Dense<8>, deepjet::Dropout<0.1f>>>,
                                deepjet::Concatenate, deepjet::Dense<8>, deepjet::ReLU, deepjet::Dense<2>, deepjet::Softmax>;

struct Dataset {
  dd::Collection<TestData> collection;
  dd::Split split;
};

Dataset make_dataset(const TemporaryDirectory& dir) {
  std::vector<std::string> sources;
  for (std::size_t i = 0; i < 2; ++i) {
    const auto path = dir / ("source" + std::to_string(i) + ".h5");
    deepjet::test::write_jet_table(path, i * 100000, 1500, i + 20);
    sources.push_back(path.string());
  }
  dd::convert_sources<TestData>(sources, "tree", dir / "data", {.progress = false});
  auto collection = dd::Collection<TestData>::load(dir / "data" / "collection.h5");
  auto split = dd::split_by_fraction(collection, dir / "data", 0.2);
  return {collection, split};
}

std::vector<float> train(const Dataset& data, const fs::path& output, unsigned threads, std::uint64_t epochs = 3,
                         std::size_t checkpoint_every = 0) {
  deepjet::Model<Net> model(/*seed=*/4);
  dd::Loader<TestData> train_loader(data.split.train, {.batch_size = 64, .seed = 9, .chunk_jets = 256});
  dd::Loader<TestData> validation(data.split.validation, {.batch_size = 256, .shuffle = false});
  dt::Trainer<TestData, Net> trainer(model, {.output = output,
                                             .stages = {{.epochs = 1, .learning_rate = 3e-3},
                                                        {.epochs = epochs - 1, .learning_rate = 1e-3, .freeze = {"0.0"}}},
                                             .threads = threads, .seed = 2, .checkpoint_every_batches = checkpoint_every});
  trainer.add(std::make_unique<dt::HistoryFiles>());
  trainer.fit(train_loader, &validation);
  return {model.parameters().begin(), model.parameters().end()};
}

TEST(Trainer, LearnsAndFollowsItsStages) {
  TemporaryDirectory dir;
  const auto data = make_dataset(dir);
  deepjet::Model<Net> model(4);
  dd::Loader<TestData> train_loader(data.split.train, {.batch_size = 64, .seed = 9});
  dd::Loader<TestData> validation(data.split.validation, {.batch_size = 256, .shuffle = false});
  dt::Trainer<TestData, Net> trainer(model, {.output = dir / "run",
                                             .stages = {{.epochs = 1, .learning_rate = 3e-3},
                                                        {.epochs = 3, .learning_rate = 1e-3, .freeze = {"0.0"}}}});
  trainer.add(std::make_unique<dt::HistoryFiles>());
  trainer.add(std::make_unique<dt::EpochCheckpoints>());
  const auto before = trainer.evaluate(validation);
  std::vector<float> frozen_after_stage_1;
  struct Watch : dt::Callback {
    deepjet::Model<Net>* model;
    std::vector<float>* frozen;
    std::string name() const override { return "watch"; }
    void on_epoch_end(dt::TrainingState& s) override {
      if (s.epoch == 0) {
        const auto gamma = model->parameter("0.0.gamma");
        frozen->assign(gamma.begin(), gamma.end());
      }
    }
  };
  auto watch = std::make_unique<Watch>();
  watch->model = &model;
  watch->frozen = &frozen_after_stage_1;
  trainer.add(std::move(watch));
  const auto history = trainer.fit(train_loader, &validation);
  ASSERT_EQ(history.size(), 4u);
  EXPECT_EQ(history[0].learning_rate, 3e-3);
  EXPECT_EQ(history[3].learning_rate, 1e-3);
  EXPECT_LT(history.back().validation_loss, before.first);
  EXPECT_GT(history.back().validation_accuracy, 0.75);
  const auto gamma = model.parameter("0.0.gamma");
  EXPECT_TRUE(std::equal(gamma.begin(), gamma.end(), frozen_after_stage_1.begin())) << "the frozen BatchNorm moved";
  // Bookkeeping and history files.
  for (const char* name : {"architecture.txt", "format.txt", "options.txt", "data.txt", "history.csv", "history.json",
                           "loss.svg", "accuracy.svg", "checkpoint_last.h5", "checkpoint_epoch_1.h5", "checkpoint_epoch_4.h5"})
    EXPECT_TRUE(fs::exists(dir / "run" / name)) << name;
  std::ifstream csv(dir / "run" / "history.csv");
  std::string line;
  std::size_t lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 5u);
  // Rerunning a finished run changes nothing.
  const std::vector<float> final_weights(model.parameters().begin(), model.parameters().end());
  trainer.fit(train_loader, &validation);
  EXPECT_TRUE(std::equal(final_weights.begin(), final_weights.end(), model.parameters().begin()));
}

TEST(Trainer, ThreadedTrainingIsReproducible) {
  TemporaryDirectory dir;
  const auto data = make_dataset(dir);
  const auto a = train(data, dir / "a", 2, 2);
  const auto b = train(data, dir / "b", 2, 2);
  // Bit-equal: each thread has a fixed slice of the batch, and the trainer adds the threads'
  // gradients in thread order (trainer.hpp), so the same binary does the same operations twice.
  EXPECT_EQ(a, b);
  const auto single = train(data, dir / "c", 1, 2);
  EXPECT_NE(a, single);  // BatchNorm and dropout see other slices: a different (equally valid) run
}

// BatchNorm statistics are the whole batch's however many threads share it (SharedBatchSums):
// without dropout, T threads train the network one thread trains, up to float rounding.
TEST(Trainer, ThreadsNormaliseWithTheWholeBatchsStatistics) {
  using Normalised = deepjet::Sequential<TestData::input_shape,
                                         deepjet::Branches<deepjet::BatchNorm<>, deepjet::Stack<deepjet::Flatten, deepjet::Dense<8>>>,
                                         deepjet::Concatenate, deepjet::Dense<8>, deepjet::ReLU, deepjet::BatchNorm<>,
                                         deepjet::Dense<2>, deepjet::Softmax>;
  TemporaryDirectory dir;
  const auto data = make_dataset(dir);
  const deepjet::Model<Normalised> initial(5);
  const std::vector<float> start(initial.parameters().begin(), initial.parameters().end());
  auto train_with = [&](unsigned threads) {
    deepjet::Model<Normalised> model(5);
    dd::Loader<TestData> loader(data.split.train, {.batch_size = 64, .seed = 9});
    dt::Trainer<TestData, Normalised> trainer(
        model, {.output = dir / ("threads" + std::to_string(threads)), .stages = {{.epochs = 1, .learning_rate = 1e-3}},
                .threads = threads, .seed = 2});
    trainer.fit(loader);
    return std::vector<float>(model.parameters().begin(), model.parameters().end());
  };
  const auto one = train_with(1);
  double moved = 0;
  for (std::size_t i = 0; i < one.size(); ++i) moved = std::max(moved, std::abs(static_cast<double>(one[i]) - start[i]));
  ASSERT_GT(moved, 1e-2);  // the comparison below means something
  for (unsigned threads : {2u, 3u}) {
    const auto many = train_with(threads);
    double differs = 0;
    for (std::size_t i = 0; i < one.size(); ++i) differs = std::max(differs, std::abs(static_cast<double>(many[i]) - one[i]));
    // Rounding only (the sums are added in another grouping): far below the distance trained.
    EXPECT_LT(differs, 1e-3 * moved) << threads << " threads; the weights moved " << moved;
  }
}

TEST(Trainer, AKilledRunResumesToTheSameWeights) {
  TemporaryDirectory dir;
  const auto data = make_dataset(dir);
  const auto reference = train(data, dir / "reference", 2, 3, 5);

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    train(data, dir / "run", 2, 3, 5);
    std::_Exit(0);
  }
  // Kill it mid-epoch, once a checkpoint of the second epoch exists.
  for (int i = 0; i < 4000; ++i) {
    int status = 0;
    if (::waitpid(child, &status, WNOHANG) == child) break;
    bool second_epoch = false;
    try {
      if (fs::exists(dir / "run" / "checkpoint_last.h5")) {
        std::istringstream state(deepjet::load_model_extras(dir / "run" / "checkpoint_last.h5").at("trainer"));
        std::uint64_t epoch = 0, batch = 0;
        state >> epoch >> batch;
        second_epoch = epoch >= 1 && batch > 0;
      }
    } catch (const std::exception&) {
    }
    if (second_epoch) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const auto resumed = train(data, dir / "run", 2, 3, 5);
  EXPECT_EQ(resumed, reference);
}

TEST(Trainer, CallbacksStopReduceAndCheckpoint) {
  TemporaryDirectory dir;
  const auto data = make_dataset(dir);
  deepjet::Model<Net> model(4);
  dd::Loader<TestData> train_loader(data.split.train, {.batch_size = 64});
  dd::Loader<TestData> validation(data.split.validation, {.batch_size = 256, .shuffle = false});
  // A learning rate of zero never improves: the plateau halves it, early stopping ends the run.
  dt::Trainer<TestData, Net> trainer(model, {.output = dir / "run", .stages = {{.epochs = 20, .learning_rate = 0.0}}});
  trainer.add(std::make_unique<dt::ReduceLearningRateOnPlateau>(0.5, 1, 0.0));
  trainer.add(std::make_unique<dt::EarlyStopping>(2));
  trainer.add(std::make_unique<dt::BestModelCheckpoint>());
  const auto history = trainer.fit(train_loader, &validation);
  EXPECT_LT(history.size(), 20u);
  EXPECT_TRUE(trainer.state().stop_requested);
  EXPECT_NE(trainer.state().stop_reason.find("early stopping"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "run" / "checkpoint_best.h5"));

  // A failing credentials command stops the run with a checkpoint; a working one lets it go on.
  deepjet::Model<Net> other(4);
  dt::Trainer<TestData, Net> failing(other, {.output = dir / "kerberos", .stages = {{.epochs = 2}}});
  failing.add(std::make_unique<dt::PeriodicCommand>("false", std::chrono::seconds(3600)));
  EXPECT_TRUE(failing.fit(train_loader, &validation).empty());
  EXPECT_NE(failing.state().stop_reason.find("the periodic command 'false' failed"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "kerberos" / "checkpoint_last.h5"));
  dt::Trainer<TestData, Net> working(other, {.output = dir / "kerberos", .stages = {{.epochs = 2}}});
  working.add(std::make_unique<dt::PeriodicCommand>("true", std::chrono::seconds(3600)));
  EXPECT_EQ(working.fit(train_loader, &validation).size(), 2u);
}

TEST(Trainer, ACheckpointOfAnotherThreadCountIsRefused) {
  TemporaryDirectory dir;
  const auto data = make_dataset(dir);
  train(data, dir / "run", 2, 2);
  try {
    train(data, dir / "run", 1, 3);
    FAIL() << "must throw";
  } catch (const deepjet::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("written by a run with 2 threads"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {

TEST(Predict, RawSourcesAndTrainingFilesGiveTheSamePredictions) {
  TemporaryDirectory dir;
  const auto data = make_dataset(dir);
  deepjet::Model<Net> model(4);
  const auto& f = data.collection.files[0];
  const auto from_file = deepjet::training::predict_training_file<TestData>(model, dir / "data" / f.training_file, dir / "a.h5");
  const auto from_source = deepjet::training::predict_source<TestData>(model, data.collection.normalisation, f.source, "tree",
                                                                      dir / "b.h5");
  EXPECT_EQ(from_file.jets, 1500u);
  EXPECT_EQ(from_source.jets, 1500u);
  const auto a = deepjet::training::read_predictions(dir / "a.h5");
  const auto b = deepjet::training::read_predictions(dir / "b.h5");
  EXPECT_EQ(a.classes, (std::vector<std::string>{"b", "light"}));
  EXPECT_EQ(a.spectators, (std::vector<std::string>{"id", "jet_pt", "jet_eta"}));
  EXPECT_EQ(a.probabilities, b.probabilities);  // the same inputs reach the model
  EXPECT_EQ(a.truth, b.truth);
  EXPECT_EQ(a.spectator_values, b.spectator_values);
  EXPECT_NEAR(a.probabilities(7, 0) + a.probabilities(7, 1), 1.0f, 1e-6f);
  deepjet::training::write_prediction_list(dir / "predictions.txt", {from_file, from_source});
  std::ifstream list(dir / "predictions.txt");
  std::string line;
  std::getline(list, line);
  EXPECT_EQ(line, (dir / "a.h5").string());
  EXPECT_THROW(deepjet::training::read_predictions(dir / "data" / "collection.h5"), deepjet::FileError);

  // A training file has no truth flags: its ROOT tree holds truth_<class> floats, read back as the
  // HDF5 file's values.
  const auto both = deepjet::training::predict_training_file<TestData>(
      model, dir / "data" / f.training_file, std::vector<fs::path>{dir / "c.root", dir / "c.h5"});
  ASSERT_EQ(both.size(), 2u);
  const auto c_root = deepjet::training::read_predictions(dir / "c.root");
  const auto c_hdf5 = deepjet::training::read_predictions(dir / "c.h5");
  EXPECT_EQ(c_root.probabilities, a.probabilities);
  EXPECT_EQ(c_root.truth, a.truth);
  EXPECT_EQ(c_root.spectator_values, a.spectator_values);
  EXPECT_EQ(c_root.source_entries, c_hdf5.source_entries);
  const deepjet::root::File file((dir / "c.root").string());
  EXPECT_TRUE(file.tree("tree").has_branch("truth_light"));
}

}  // namespace

namespace {

// Regression targets: the jet pT, learnt by a second head beside the classifier.
struct PtTarget : dd::TargetBlock {
  static constexpr std::array<std::string_view, 1> branches{"jet_pt"};
};
using RegressionData = dd::Format<dd::Blocks<deepjet::test::TestJet, deepjet::test::TestTracks>, deepjet::test::TestTruth,
                                  deepjet::test::TestSpectators, PtTarget>;
static_assert(std::is_same_v<RegressionData::label_shape, deepjet::Shapes<deepjet::Shape<2>, deepjet::Shape<1>>>);
using TwoHeads = deepjet::Sequential<RegressionData::input_shape,
                                     deepjet::Branches<deepjet::BatchNorm<>, deepjet::Stack<deepjet::Flatten, deepjet::Dense<8>>>,
                                     deepjet::Concatenate, deepjet::Dense<16>, deepjet::ReLU,
                                     deepjet::Heads<deepjet::Stack<deepjet::Dense<2>, deepjet::Softmax>, deepjet::Dense<1>>>;

TEST(Trainer, SeveralLossTermsTrainAClassifierAndARegression) {
  TemporaryDirectory dir;
  std::vector<std::string> sources;
  for (std::size_t i = 0; i < 2; ++i) {
    const auto path = dir / ("source" + std::to_string(i) + ".h5");
    deepjet::test::write_jet_table(path, i * 100000, 1500, i + 30);
    sources.push_back(path.string());
  }
  dd::convert_sources<RegressionData>(sources, "tree", dir / "data", {.progress = false});
  const auto collection = dd::Collection<RegressionData>::load(dir / "data" / "collection.h5");
  const auto split = dd::split_by_fraction(collection, dir / "data", 0.2);
  dd::Loader<RegressionData> train_loader(split.train, {.batch_size = 64, .seed = 3});
  dd::Loader<RegressionData> validation(split.validation, {.batch_size = 256, .shuffle = false});

  // The regression's squared error of the validation jets, and their classification accuracy.
  auto measure = [&](const deepjet::Model<TwoHeads>& model) {
    validation.start_epoch(0);
    dd::JetBatch<RegressionData> batch;
    double squared = 0, correct = 0, jets = 0;
    while (validation.next(batch)) {
      const auto [p, pt] = model.predict(batch.inputs);
      for (std::size_t j = 0; j < batch.truth.shape()[0]; ++j, ++jets) {
        squared += std::pow(pt(j, 0) - batch.targets(j, 0), 2);
        correct += (p(j, 0) > p(j, 1)) == (batch.truth(j, 0) > 0.5f);
      }
    }
    return std::pair{squared / jets, correct / jets};
  };
  deepjet::Model<TwoHeads> model(7);
  const auto before = measure(model);
  using Objective = deepjet::Losses<deepjet::CategoricalCrossEntropy, deepjet::MeanSquaredError>;
  dt::Trainer<RegressionData, TwoHeads, Objective> trainer(
      model, {.output = dir / "run", .stages = {{.epochs = 6, .learning_rate = 3e-3}}}, Objective{.weights = {1.0, 1e-3}});
  const auto history = trainer.fit(train_loader, &validation);
  ASSERT_EQ(history.size(), 6u);
  const auto after = measure(model);
  EXPECT_LT(after.first, 0.2 * before.first) << "the pT regression did not learn";
  EXPECT_GT(after.second, 0.75) << "the classifier did not learn";
  EXPECT_GT(history.back().validation_accuracy, 0.75);
}

}  // namespace
