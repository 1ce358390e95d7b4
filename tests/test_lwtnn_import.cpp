// lwtnn JSON import: CMS's DeepCSV (Phase I) file reproduces its reference outputs; every kind of
// disagreement between a file and the declared type, and every broken file, is refused by name.
#include <deepjet/deepjet.hpp>
#include <deepjet/interchange/lwtnn.hpp>
#include <deepjet/io/hdf5/hdf5.hpp>

#include <deepjet/zoo/deepcsv.hpp>
#include "support/temporary_directory.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <string>

namespace {

using deepjet::Dense;
using deepjet::Input;
using deepjet::ReLU;
using deepjet::Sequential;
using deepjet::Softmax;

const std::string models_dir = std::string(DEEPJET_SHARED_DIR) + "/data/models/";
const std::string deepcsv_file = models_dir + "DeepCSV_PhaseI.json";

struct Reference {
  xt::xtensor<float, 2> raw;
  xt::xtensor<float, 2> probabilities;
};

Reference read_reference() {
  deepjet::hdf5::File file(models_dir + "DeepCSV_PhaseI.expected.h5", deepjet::hdf5::File::Mode::read);
  const auto raw = file.read<float>("inputs/0");
  const auto out = file.read<float>("outputs/0");
  Reference reference{xt::empty<float>({raw.shape[0], raw.shape[1]}), xt::empty<float>({out.shape[0], out.shape[1]})};
  std::copy(raw.values.begin(), raw.values.end(), reference.raw.begin());
  std::copy(out.values.begin(), out.values.end(), reference.probabilities.begin());
  return reference;
}

double max_abs_difference(const xt::xtensor<float, 2>& a, const xt::xtensor<float, 2>& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(double(a.data()[i]) - b.data()[i]));
  return worst;
}

// The message of the FileError that `f` throws ("" if it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const deepjet::FileError& error) {
    return error.what();
  }
  return "";
}

class LwtnnImport : public deepjet::test::TemporaryDirectoryTest {
 protected:
  LwtnnImport() : TemporaryDirectoryTest("deepjet-lwtnn") {}

  std::string write(const std::string& name, const std::string& text) {
    const auto path = file(name);
    std::ofstream(path) << text;
    return path.string();
  }
};

// A two-input network: dense 2 -> 3 rectified, dense 3 -> 2 softmax.
nlohmann::json small_network() {
  return nlohmann::json::parse(R"({
    "inputs": [{"name": "a", "offset": 1.0, "scale": 2.0}, {"name": "b", "offset": -0.5, "scale": 0.25}],
    "defaults": {"a": 3.0},
    "layers": [
      {"architecture": "dense", "activation": "rectified", "weights": [1, 2, 3, 4, 5, 6], "bias": [0.1, 0.2, 0.3]},
      {"architecture": "dense", "activation": {"function": "softmax"}, "weights": [1, -1, 0.5, 2, 0, -2], "bias": [0, 1]}
    ],
    "outputs": ["first", "second"]
  })");
}
using Small = Sequential<Input<2>, Dense<3>, ReLU, Dense<2>, Softmax>;

}  // namespace

TEST(LwtnnImportReal, DeepCSVPhaseIReproducesItsReferenceOutputs) {
  const Reference reference = read_reference();
  ASSERT_EQ(reference.raw.shape()[1], 66u);
  // The reference outputs were computed in float64 by numpy with lwtnn's semantics; ours runs six
  // float32 layers (sums of at most 100 products each): 1e-5 absolute on probabilities is far above
  // that rounding (~1e-6) and far below any wrong weight, transpose or activation.
  const auto predictor = deepjet::lwtnn::import_predictor<deepjet::zoo::DeepCSV>(deepcsv_file);
  const double difference = max_abs_difference(predictor.predict_raw(reference.raw), reference.probabilities);
  std::cout << "DeepCSV Phase I, 32 jets: max |deepjet - reference| = " << difference << "\n";
  EXPECT_LT(difference, 1e-5);
  EXPECT_EQ(predictor.output_names, (std::vector<std::string>{"probb", "probbb", "probc", "probudsg"}));
  ASSERT_EQ(predictor.transform.size(), 66u);
  EXPECT_EQ(predictor.transform.variables()[0].name, "jetPt");

  // The same through a trainable Model (to fine-tune): its forward pass gives the same outputs.
  const auto imported = deepjet::lwtnn::import_model<deepjet::zoo::DeepCSV>(deepcsv_file);
  EXPECT_LT(max_abs_difference(imported.model.predict(imported.transform(reference.raw)), reference.probabilities),
            1e-5);
}

TEST_F(LwtnnImport, TransformAndWeightsFollowLwtnnsConventions) {
  const auto path = write("small.json", small_network().dump());
  const auto imported = deepjet::lwtnn::import_model<Small>(path);
  // Weights: lwtnn's W[o][i] (outputs x inputs) -> deepjet's weight[i][o]. These are copies of the
  // JSON's numbers, exact by construction.
  const auto weight = imported.model.parameter("0.weight");
  EXPECT_EQ(weight[0 * 3 + 0], 1.0f);  // W[0][0]
  EXPECT_EQ(weight[1 * 3 + 0], 2.0f);  // W[0][1]
  EXPECT_EQ(weight[0 * 3 + 2], 5.0f);  // W[2][0]
  EXPECT_EQ(imported.model.parameter("2.bias")[1], 1.0f);
  EXPECT_EQ(imported.output_names, (std::vector<std::string>{"first", "second"}));

  // (x + offset) * scale; a missing (NaN) input takes its default; one without a default stays NaN.
  // Dyadic numbers throughout: the transformed values are exact.
  xt::xtensor<float, 2> raw = {{0.5f, 4.5f}, {std::numeric_limits<float>::quiet_NaN(), 0.5f},
                               {1.0f, std::numeric_limits<float>::quiet_NaN()}};
  const auto x = imported.transform(raw);
  EXPECT_EQ(x(0, 0), 3.0f);   // (0.5 + 1) * 2
  EXPECT_EQ(x(0, 1), 1.0f);   // (4.5 - 0.5) * 0.25
  EXPECT_EQ(x(1, 0), 8.0f);   // default 3: (3 + 1) * 2
  EXPECT_TRUE(std::isnan(x(2, 1)));

  // The network itself, by hand for the first row: h = relu(W1 x + b1), y = softmax(W2 h + b2).
  const double h[3] = {1 * 3.0 + 2 * 1.0 + 0.1, 3 * 3.0 + 4 * 1.0 + 0.2, 5 * 3.0 + 6 * 1.0 + 0.3};
  const double z0 = 1 * h[0] - 1 * h[1] + 0.5 * h[2];
  const double z1 = 2 * h[0] + 0 * h[1] - 2 * h[2] + 1.0;
  const double p0 = 1.0 / (1.0 + std::exp(z1 - z0));
  const auto predictor = deepjet::lwtnn::import_predictor<Small>(path);
  const auto y = predictor.predict_raw(raw);
  EXPECT_NEAR(y(0, 0), p0, 1e-6);  // float32 layers on values of order 10: a few ulps of 1
  EXPECT_NEAR(y(0, 1), 1.0 - p0, 1e-6);
}

TEST_F(LwtnnImport, ADisagreeingTypeIsRefusedNamingBothLayers) {
  // The real DeepCSV has five hidden layers; a type with four meets the softmax layer with a 100-wide Dense.
  using FourHidden = Sequential<Input<66>, Dense<100>, ReLU, Dense<100>, ReLU, Dense<100>, ReLU, Dense<100>, ReLU,
                                Dense<4>, Softmax>;
  const std::string four = error_of([] { deepjet::lwtnn::import_model<FourHidden>(deepcsv_file); });
  EXPECT_NE(four.find(deepcsv_file), std::string::npos) << four;
  EXPECT_NE(four.find("lwtnn layer 4 (dense 100 -> 100, rectified)"), std::string::npos) << four;
  EXPECT_NE(four.find("deepjet layer 8 'Dense (100) -> (4)'"), std::string::npos) << four;

  const auto path = write("small.json", small_network().dump());
  // Other widths.
  using Wider = Sequential<Input<2>, Dense<4>, ReLU, Dense<2>, Softmax>;
  const std::string wider = error_of([&] { deepjet::lwtnn::import_model<Wider>(path); });
  EXPECT_NE(wider.find("lwtnn layer 0 (dense 2 -> 3, rectified) does not match deepjet layer 0"), std::string::npos)
      << wider;
  // Another activation.
  using Tanh = Sequential<Input<2>, Dense<3>, deepjet::Tanh, Dense<2>, Softmax>;
  const std::string tanh = error_of([&] { deepjet::lwtnn::import_model<Tanh>(path); });
  EXPECT_NE(tanh.find("applies rectified but is followed in deepjet by deepjet layer 1 'Tanh (3) -> (3)'; expected ReLU"),
            std::string::npos)
      << tanh;
  // Another number of inputs.
  using ThreeInputs = Sequential<Input<3>, Dense<3>, ReLU, Dense<2>, Softmax>;
  EXPECT_NE(error_of([&] { deepjet::lwtnn::import_model<ThreeInputs>(path); }).find("has 2 inputs; the deepjet model takes 3"),
            std::string::npos);
  // A longer deepjet model.
  using Longer = Sequential<Input<2>, Dense<3>, ReLU, Dense<2>, Softmax, Dense<2>>;
  EXPECT_NE(error_of([&] { deepjet::lwtnn::import_model<Longer>(path); }).find("the deepjet model goes on with deepjet layer 4"),
            std::string::npos);
}

TEST_F(LwtnnImport, BrokenAndUnsupportedFilesAreRefusedByName) {
  // Truncated JSON.
  const std::string text = small_network().dump();
  const auto truncated = write("truncated.json", text.substr(0, text.size() / 2));
  const std::string broken = error_of([&] { deepjet::lwtnn::import_model<Small>(truncated); });
  EXPECT_NE(broken.find(truncated + ": not a valid JSON file"), std::string::npos) << broken;
  // Missing file.
  EXPECT_NE(error_of([&] { deepjet::lwtnn::import_model<Small>(file("absent.json")); }).find("cannot open"),
            std::string::npos);
  // Another architecture, another activation, wrong weight count, a graph network.
  auto maxout = small_network();
  maxout["layers"][1]["architecture"] = "maxout";
  EXPECT_NE(error_of([&] { deepjet::lwtnn::import_model<Small>(write("maxout.json", maxout.dump())); })
                .find("lwtnn layer 1 has architecture 'maxout': only dense layers are supported"),
            std::string::npos);
  auto swish = small_network();
  swish["layers"][0]["activation"] = "swish";
  EXPECT_NE(error_of([&] { deepjet::lwtnn::import_model<Small>(write("swish.json", swish.dump())); })
                .find("activation 'swish', which deepjet does not have"),
            std::string::npos);
  auto short_weights = small_network();
  short_weights["layers"][0]["weights"].erase(0);
  EXPECT_NE(error_of([&] { deepjet::lwtnn::import_model<Small>(write("short.json", short_weights.dump())); })
                .find("has 5 weights; a dense layer of 2 inputs and 3 outputs has 6"),
            std::string::npos);
  auto text_weight = small_network();
  text_weight["layers"][0]["bias"][0] = "0.1";
  EXPECT_NE(error_of([&] { deepjet::lwtnn::import_model<Small>(write("text.json", text_weight.dump())); })
                .find("bias is not a number"),
            std::string::npos);
  const auto graph = write("graph.json", R"({"input_sequences": [], "inputs": [], "nodes": [], "layers": [], "outputs": {}})");
  EXPECT_NE(error_of([&] { deepjet::lwtnn::import_model<Small>(graph); }).find("an lwtnn graph network"),
            std::string::npos);
}

// Found while fuzzing (tests/fuzz_models): a weight or bias beyond float's range (1e300, -1e39; a
// double, but no float) became an infinite float parameter and silently wrong outputs; it is now
// refused, naming the layer. (1e400 is refused by the JSON parser itself: number overflow.)
TEST_F(LwtnnImport, WeightsBeyondFloatRangeAreRefused) {
  auto huge = small_network();
  huge["layers"][0]["weights"][4] = 1e300;
  const std::string message = error_of([&] { deepjet::lwtnn::import_model<Small>(write("huge.json", huge.dump())); });
  EXPECT_NE(message.find("lwtnn layer 0 (dense 2 -> 3, rectified)'s weight 1e+300 does not fit a 32-bit float"), std::string::npos)
      << message;
  auto bias = small_network();
  bias["layers"][1]["bias"][1] = -1e39;
  EXPECT_NE(error_of([&] { deepjet::lwtnn::import_model<Small>(write("bias.json", bias.dump())); })
                .find("lwtnn layer 1 (dense 3 -> 2, softmax)'s bias -1e+39 does not fit a 32-bit float"),
            std::string::npos);
}
