// Model files: round trips, resuming an optimiser, and every way a file can be wrong.
#include <deepjet/deepjet.hpp>

#include "support/temporary_directory.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sys/resource.h>

namespace {

namespace fs = std::filesystem;
using Net = deepjet::Sequential<deepjet::Input<6>, deepjet::Dense<8>, deepjet::ReLU, deepjet::Dense<3>, deepjet::Softmax>;
using Other = deepjet::Sequential<deepjet::Input<6>, deepjet::Dense<8>, deepjet::ReLU, deepjet::Dense<4>, deepjet::Softmax>;

class ModelFile : public deepjet::test::TemporaryDirectoryTest {
 protected:
  ModelFile() : TemporaryDirectoryTest("deepjet-model-file") {}

  // A fixed batch to train on.
  static void batch(xt::xtensor<float, 2>& x, xt::xtensor<float, 2>& t) {
    deepjet::Random random(4);
    x = xt::empty<float>({16, 6});
    t = xt::zeros<float>({16, 3});
    for (std::size_t i = 0; i < 16; ++i) {
      for (std::size_t j = 0; j < 6; ++j) x(i, j) = random.uniform(-1.0f, 1.0f);
      t(i, i % 3) = 1.0f;
    }
  }
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const deepjet::FileError& e) {
    return e.what();
  }
  return "(no deepjet::FileError thrown)";
}

TEST_F(ModelFile, RoundTripRestoresEveryParameter) {
  deepjet::Model<Net> saved(1), loaded(2);
  deepjet::save_model(saved, file("model.h5"));
  EXPECT_EQ(entries(), std::vector<std::string>{"model.h5"});  // no temporary left behind
  deepjet::load_model(loaded, file("model.h5"));
  EXPECT_TRUE(std::equal(saved.parameters().begin(), saved.parameters().end(), loaded.parameters().begin()));
}

TEST_F(ModelFile, APredictorLoadsTheFileAndPredictsAsTheModel) {
  xt::xtensor<float, 2> x, t;
  batch(x, t);
  const deepjet::Model<Net> saved(6);
  deepjet::save_model(saved, file("model.h5"));
  const auto predictor = deepjet::load_predictor<Net>(file("model.h5"));
  const xt::xtensor<float, 2> expected = saved.predict(x), actual = predictor.predict(x);
  EXPECT_EQ(actual, expected);
  // A file of another architecture is refused, naming the file.
  deepjet::save_model(deepjet::Model<Other>(1), file("other.h5"));
  const auto message = message_of([&] { deepjet::load_predictor<Net>(file("other.h5")); });
  EXPECT_NE(message.find("other.h5"), std::string::npos) << message;
  EXPECT_NE(message.find("different architecture"), std::string::npos) << message;
}

TEST_F(ModelFile, ResumingFromACheckpointEqualsTrainingWithoutStopping) {
  xt::xtensor<float, 2> x, t;
  batch(x, t);
  const deepjet::CategoricalCrossEntropy loss;

  deepjet::Model<Net> straight(3);
  deepjet::Adam straight_adam;
  for (int i = 0; i < 6; ++i) straight.train_step(x, t, nullptr, loss, straight_adam);

  deepjet::Model<Net> first(3);
  deepjet::Adam first_adam;
  for (int i = 0; i < 3; ++i) first.train_step(x, t, nullptr, loss, first_adam);
  deepjet::save_model(first, file("checkpoint.h5"), &first_adam);

  deepjet::Model<Net> resumed(99);
  deepjet::Adam resumed_adam;
  deepjet::load_model(resumed, file("checkpoint.h5"), &resumed_adam);
  EXPECT_EQ(resumed_adam.steps, 3u);
  for (int i = 0; i < 3; ++i) resumed.train_step(x, t, nullptr, loss, resumed_adam);
  EXPECT_TRUE(std::equal(straight.parameters().begin(), straight.parameters().end(), resumed.parameters().begin()));
}

TEST_F(ModelFile, ADifferentArchitectureNamesTheFirstDifferingLayer) {
  deepjet::Model<Other> other;
  deepjet::save_model(other, file("other.h5"));
  deepjet::Model<Net> model(5);
  const std::vector<float> before(model.parameters().begin(), model.parameters().end());
  const auto message = message_of([&] { deepjet::load_model(model, file("other.h5")); });
  EXPECT_NE(message.find("other.h5"), std::string::npos) << message;
  EXPECT_NE(message.find("different architecture"), std::string::npos) << message;
  EXPECT_NE(message.find("layer 2 is '2 Dense (8) -> (4)' in the file but '2 Dense (8) -> (3)' in this model"),
            std::string::npos)
      << message;
  EXPECT_TRUE(std::equal(before.begin(), before.end(), model.parameters().begin()));  // untouched
}

TEST_F(ModelFile, WrongOptimiserKindOrMissingStateIsAnError) {
  deepjet::Model<Net> model;
  deepjet::save_model(model, file("weights-only.h5"));
  deepjet::Adam adam;
  EXPECT_NE(message_of([&] { deepjet::load_model(model, file("weights-only.h5"), &adam); }).find("no optimiser state"),
            std::string::npos);
  deepjet::SGD sgd{.momentum = 0.9};
  deepjet::save_model(model, file("sgd.h5"), &sgd);
  EXPECT_NE(message_of([&] { deepjet::load_model(model, file("sgd.h5"), &adam); }).find("SGD optimiser, not of Adam"),
            std::string::npos);
}

TEST_F(ModelFile, TruncatedFileIsAClearError) {
  deepjet::Model<Net> model;
  deepjet::save_model(model, file("model.h5"));
  const auto size = fs::file_size(file("model.h5"));
  for (auto keep : {size / 2, size - 100, std::uintmax_t{200}, std::uintmax_t{0}}) {
    fs::copy_file(file("model.h5"), file("cut.h5"), fs::copy_options::overwrite_existing);
    fs::resize_file(file("cut.h5"), keep);
    const auto message = message_of([&] { deepjet::load_model(model, file("cut.h5")); });
    EXPECT_NE(message.find("cut.h5: "), std::string::npos) << "kept " << keep << " bytes: " << message;
  }
}

TEST_F(ModelFile, NonModelFilesAreRejectedByName) {
  deepjet::Model<Net> model;
  std::ofstream(file("text.h5")) << "this is not HDF5\n";
  EXPECT_NE(message_of([&] { deepjet::load_model(model, file("text.h5")); }).find("text.h5: not an HDF5 file"),
            std::string::npos);
  EXPECT_NE(message_of([&] { deepjet::load_model(model, file("absent.h5")); }).find("absent.h5: no such file"),
            std::string::npos);
  {
    deepjet::hdf5::File plain(file("plain.h5"), deepjet::hdf5::File::Mode::create);
    const float one = 1.0f;
    plain.write("x", &one, {1});
    plain.close();
  }
  EXPECT_NE(message_of([&] { deepjet::load_model(model, file("plain.h5")); }).find("not a deepjet model file"),
            std::string::npos);
}

TEST_F(ModelFile, AFailedSaveLeavesTheOldFileIntact) {
  deepjet::Model<Net> old_model(1), new_model(2);
  deepjet::save_model(old_model, file("model.h5"));
  // Simulate a full disk: the process may not write files larger than 4 kB.
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit previous{};
  getrlimit(RLIMIT_FSIZE, &previous);
  rlimit tiny = previous;
  tiny.rlim_cur = 4096;
  setrlimit(RLIMIT_FSIZE, &tiny);
  const auto message = message_of([&] { deepjet::save_model(new_model, file("model.h5")); });
  setrlimit(RLIMIT_FSIZE, &previous);
  EXPECT_NE(message.find("model.h5.tmp-"), std::string::npos) << message;
  EXPECT_NE(message.find("cannot write the file after"), std::string::npos) << message;
  EXPECT_EQ(entries(), std::vector<std::string>{"model.h5"});  // the temporary is gone
  deepjet::Model<Net> check(7);
  deepjet::load_model(check, file("model.h5"));
  EXPECT_TRUE(std::equal(old_model.parameters().begin(), old_model.parameters().end(), check.parameters().begin()));
}

}  // namespace
