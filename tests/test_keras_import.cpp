// The Keras 2 HDF5 importer (deepjet/interchange/keras.hpp): CMS's DeepDoubleX .h5 (Keras 2.2.4)
// imported into deepjet::zoo::DeepDoubleX reproduces ONNX Runtime's outputs on the converted
// model (DeepDoubleX_V02_CvL.expected.h5) to 1e-5 absolute, as a Model and as a Predictor. Small
// Keras-format files are written here (with deepjet's HDF5 wrapper, in Keras's layout: model_config,
// model_weights/<layer>/<layer>/<weight>:0, layer_names, weight_names) for every supported layer kind
// with known weights, and the imported model is compared with the layer computed here by hand from
// Keras's definitions (kernel (in, out), Conv1D (k, in, out), LSTM gates i, f, c, o, GRU z, r, h).
// Refusals (mismatching types, missing weights, unsupported layers, bad JSON, truncated and corrupt
// files) are checked to name the file and the Keras layer.
#include "support/temporary_directory.hpp"

#include <deepjet/zoo/deepdoublex.hpp>

#include <deepjet/interchange/keras.hpp>
#include <deepjet/io/hdf5/hdf5.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

using json = nlohmann::json;
using namespace deepjet;

std::string model_path(const std::string& name) { return std::string(DEEPJET_SHARED_DIR) + "/data/models/" + name; }

// The message of the deepjet::Error `f` throws, printed so that a reader of the test log sees
// what a user would.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const deepjet::Error& e) {
    std::printf("refused: %s\n", e.what());
    return e.what();
  }
  return "(no error)";
}
#define EXPECT_MENTIONS(message, text) EXPECT_NE((message).find(text), std::string::npos) << (message)

std::vector<float> random_values(std::size_t n, unsigned seed, float scale = 0.5f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// ---- writing Keras-format files --------------------------------------------------------------

struct Weight {
  std::string name;  // kernel, bias, ...
  std::vector<std::size_t> dims;
  std::vector<float> values;
};
struct LayerSpec {
  json entry;                   // {"class_name", "name", "config", "inbound_nodes"}
  std::vector<Weight> weights;  // in Keras's order
};

LayerSpec layer(const std::string& class_name, const std::string& name, json config, const std::vector<std::string>& inbound,
                std::vector<Weight> weights = {}) {
  config["name"] = name;
  json nodes = json::array();
  if (!inbound.empty()) {
    json links = json::array();
    for (const auto& in : inbound) links.push_back(json::array({in, 0, 0, json::object()}));
    nodes.push_back(links);
  }
  return {json{{"class_name", class_name}, {"name", name}, {"config", config}, {"inbound_nodes", nodes}}, std::move(weights)};
}
LayerSpec input(const std::string& name, std::vector<std::size_t> shape) {
  json batch = json::array({nullptr});
  for (auto d : shape) batch.push_back(d);
  return layer("InputLayer", name, {{"batch_input_shape", batch}, {"dtype", "float32"}}, {});
}

json functional(const std::vector<LayerSpec>& layers, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs) {
  json config{{"name", "model_1"}, {"layers", json::array()}, {"input_layers", json::array()}, {"output_layers", json::array()}};
  for (const auto& l : layers) config["layers"].push_back(l.entry);
  for (const auto& i : inputs) config["input_layers"].push_back(json::array({i, 0, 0}));
  for (const auto& o : outputs) config["output_layers"].push_back(json::array({o, 0, 0}));
  return json{{"class_name", "Model"}, {"config", config}, {"keras_version", "2.2.4"}, {"backend", "tensorflow"}};
}

// model.save() layout (weights under model_weights, architecture in model_config), or with
// `weights_only` model.save_weights() layout (weights at the root, no architecture).
void write_keras(const std::filesystem::path& path, const json& architecture, const std::vector<LayerSpec>& layers,
                 bool weights_only = false) {
  hdf5::File file(path, hdf5::File::Mode::create);
  const std::string root = weights_only ? "" : "model_weights/";
  if (!weights_only) {
    file.write_attribute("model_config", architecture.dump());
    file.write_attribute("keras_version", std::string("2.2.4"));
    file.write_attribute("backend", std::string("tensorflow"));
    file.create_group("model_weights");
  }
  const std::string where = weights_only ? "." : "model_weights";
  std::vector<std::string> names;
  for (const auto& l : layers) names.push_back(l.entry["name"].get<std::string>());
  file.write_attribute("layer_names", names, where);
  for (const auto& l : layers) {
    const std::string name = l.entry["name"].get<std::string>();
    file.create_group(root + name);
    std::vector<std::string> weight_names;
    for (const auto& w : l.weights) {
      weight_names.push_back(name + "/" + w.name + ":0");
      file.write(root + name + "/" + name + "/" + w.name + ":0", w.values.data(), w.dims);
    }
    file.write_attribute("weight_names", weight_names, root + name);
  }
  file.close();
}

Weight weight(const std::string& name, std::vector<std::size_t> dims, unsigned seed, float scale = 0.5f) {
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  return {name, dims, random_values(n, seed, scale)};
}

// ---- Keras's layers, computed here from Keras's definitions (float64) --------------------------

using Matrix = std::vector<std::vector<double>>;  // [entries][features]

double hard_sigmoid(double x) { return std::clamp(0.2 * x + 0.5, 0.0, 1.0); }
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

std::vector<double> dense(const std::vector<double>& x, const Weight& kernel, const Weight* bias) {
  const std::size_t F = kernel.dims[0], U = kernel.dims[1];
  std::vector<double> y(U, 0.0);
  for (std::size_t u = 0; u < U; ++u) {
    y[u] = bias ? bias->values[u] : 0.0;
    for (std::size_t f = 0; f < F; ++f) y[u] += x[f] * kernel.values[f * U + u];
  }
  return y;
}

// Conv1D, channels last; 'same' pads as TensorFlow: total = max((out-1) s + k - L, 0), half before.
Matrix conv1d(const Matrix& x, const Weight& kernel, const Weight* bias, std::size_t stride, bool same) {
  const std::size_t K = kernel.dims[0], C = kernel.dims[1], F = kernel.dims[2], L = x.size();
  const std::size_t out = same ? (L + stride - 1) / stride : (L - K) / stride + 1;
  const long pad = same ? std::max<long>(static_cast<long>((out - 1) * stride + K) - static_cast<long>(L), 0) / 2 : 0;
  Matrix y(out, std::vector<double>(F, 0.0));
  for (std::size_t t = 0; t < out; ++t)
    for (std::size_t f = 0; f < F; ++f) {
      double s = bias ? bias->values[f] : 0.0;
      for (std::size_t j = 0; j < K; ++j) {
        const long at = static_cast<long>(t * stride + j) - pad;
        if (at < 0 || at >= static_cast<long>(L)) continue;
        for (std::size_t c = 0; c < C; ++c) s += x[static_cast<std::size_t>(at)][c] * kernel.values[(j * C + c) * F + f];
      }
      y[t][f] = s;
    }
  return y;
}

// Keras LSTM, gates i, f, c, o in kernel column blocks; returns the states in computing order.
Matrix lstm(const Matrix& x, const Weight& W, const Weight& U, const Weight& b, bool backwards, bool hard) {
  const std::size_t H = U.dims[0], F = W.dims[0], T = x.size();
  std::vector<double> h(H, 0.0), c(H, 0.0);
  Matrix states;
  auto gate = [&](double v) { return hard ? hard_sigmoid(v) : sigmoid(v); };
  for (std::size_t s = 0; s < T; ++s) {
    const auto& xt = x[backwards ? T - 1 - s : s];
    std::vector<double> z(4 * H);
    for (std::size_t g = 0; g < 4 * H; ++g) {
      z[g] = b.values[g];
      for (std::size_t f = 0; f < F; ++f) z[g] += xt[f] * W.values[f * 4 * H + g];
      for (std::size_t k = 0; k < H; ++k) z[g] += h[k] * U.values[k * 4 * H + g];
    }
    for (std::size_t k = 0; k < H; ++k) {
      c[k] = gate(z[H + k]) * c[k] + gate(z[k]) * std::tanh(z[2 * H + k]);
      h[k] = gate(z[3 * H + k]) * std::tanh(c[k]);
    }
    states.push_back(h);
  }
  return states;
}

// Keras GRU, gates z, r, h; reset_after: bias (2, 3H) = input bias, recurrent bias.
Matrix gru(const Matrix& x, const Weight& W, const Weight& U, const Weight& b, bool reset_after, bool backwards, bool hard) {
  const std::size_t H = U.dims[0], F = W.dims[0], T = x.size(), G = 3 * H;
  std::vector<double> h(H, 0.0);
  Matrix states;
  auto gate = [&](double v) { return hard ? hard_sigmoid(v) : sigmoid(v); };
  for (std::size_t s = 0; s < T; ++s) {
    const auto& xt = x[backwards ? T - 1 - s : s];
    std::vector<double> wx(G), uh(G, 0.0);
    for (std::size_t g = 0; g < G; ++g) {
      wx[g] = b.values[g];
      for (std::size_t f = 0; f < F; ++f) wx[g] += xt[f] * W.values[f * G + g];
      if (reset_after) uh[g] = b.values[G + g];
      for (std::size_t k = 0; k < H; ++k) uh[g] += h[k] * U.values[k * G + g];
    }
    std::vector<double> z(H), r(H), next(H);
    for (std::size_t k = 0; k < H; ++k) {
      z[k] = gate(wx[k] + uh[k]);
      r[k] = gate(wx[H + k] + uh[H + k]);
    }
    for (std::size_t k = 0; k < H; ++k) {
      double candidate = wx[2 * H + k];
      if (reset_after) {
        candidate += r[k] * uh[2 * H + k];
      } else {
        for (std::size_t j = 0; j < H; ++j) candidate += r[j] * h[j] * U.values[j * G + 2 * H + k];
      }
      next[k] = z[k] * h[k] + (1 - z[k]) * std::tanh(candidate);
    }
    h = next;
    states.push_back(h);
  }
  return states;
}

}  // namespace

namespace {

// Runs a single-input model on `count` samples of flat `x`.
template <class Net>
std::vector<float> run(const Model<Net>& model, const std::vector<float>& x, std::size_t count) {
  std::vector<float> y(count * Net::output_shape::size);
  AlignedFloats scratch(Model<Net>::scratch_size(count));
  model.predict({x.data(), count}, {y.data(), count}, scratch);
  return y;
}

Matrix rows(const std::vector<float>& x, std::size_t sample, std::size_t T, std::size_t F) {
  Matrix m(T, std::vector<double>(F));
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t f = 0; f < F; ++f) m[t][f] = x[(sample * T + t) * F + f];
  return m;
}
std::vector<double> flat(const Matrix& m) {
  std::vector<double> v;
  for (const auto& row : m) v.insert(v.end(), row.begin(), row.end());
  return v;
}
std::vector<double> map_values(std::vector<double> v, const std::function<double(double)>& f) {
  for (auto& x : v) x = f(x);
  return v;
}
std::vector<double> softmax(std::vector<double> v) {
  double m = *std::max_element(v.begin(), v.end()), s = 0;
  for (auto& x : v) s += (x = std::exp(x - m));
  for (auto& x : v) x /= s;
  return v;
}
double relu(double x) { return std::max(x, 0.0); }

// deepjet's float32 against the float64 reference: every value here is O(1), a sum of at most ~40
// products of O(0.5) terms, each float32 rounding ~6e-8 relative; 1e-5 absolute is 10x that.
constexpr double tolerance = 1e-5;
void expect_close(const std::vector<float>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  EXPECT_LE(worst, tolerance) << what;
}

class KerasImport : public deepjet::test::TemporaryDirectoryTest {
 protected:
  KerasImport() : TemporaryDirectoryTest("deepjet-keras-import") {}
};

// ---- the real file ----------------------------------------------------------------------------

// Runs `predict` on the expected file's inputs; the largest |deepjet - ONNX Runtime| over output 0.
template <class Net, class Predict>
double max_difference_on_expected(const std::string& name, Predict&& predict) {
  hdf5::File file(model_path(name + ".expected.h5"), hdf5::File::Mode::read);
  auto x = make_tensors<typename Net::input_shape>(32);
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((void)[&] {
      const auto array = file.read<float>("inputs/" + std::to_string(I));
      EXPECT_EQ(array.values.size(), std::get<I>(x).size()) << "input " << I;
      std::copy(array.values.begin(), array.values.end(), std::get<I>(x).data());
    }(), ...);
  }(std::make_index_sequence<std::tuple_size_v<decltype(x)>>{});
  const auto expected = file.read<float>("outputs/0");
  const auto y = predict(x);
  EXPECT_EQ(expected.values.size(), y.size());
  double worst = 0;
  for (std::size_t i = 0; i < std::min<std::size_t>(expected.values.size(), y.size()); ++i)
    worst = std::isfinite(y.data()[i]) ? std::max(worst, std::abs(static_cast<double>(y.data()[i]) - expected.values[i])) : INFINITY;
  return worst;
}

// CMS's DeepDoubleX C-vs-light, Keras 2.2.4: three backward GRUs (hard_sigmoid, reset_after=False).
// The expected outputs are ONNX Runtime's on the keras2onnx conversion of the same weights; 1e-5
// absolute on probabilities, as for the ONNX file.
TEST(KerasImportRealFile, DeepDoubleXMatchesOnnxRuntime) {
  using deepjet::zoo::DeepDoubleX;
  keras::ImportReport report;
  const auto model = keras::import_model<DeepDoubleX>(model_path("DeepDoubleX_V02_CvL.h5"), {.report = &report});
  const double worst = max_difference_on_expected<DeepDoubleX>("DeepDoubleX_V02_CvL", [&](const auto& x) { return model.predict(x); });
  std::printf("DeepDoubleX_V02_CvL.h5 as Model: max |deepjet - onnxruntime| = %.3g\n", worst);
  EXPECT_LE(worst, 1e-5);
  const auto predictor = keras::import_predictor<DeepDoubleX>(model_path("DeepDoubleX_V02_CvL.h5"));
  const double worst_predictor =
      max_difference_on_expected<DeepDoubleX>("DeepDoubleX_V02_CvL", [&](const auto& x) { return predictor.predict(x); });
  std::printf("DeepDoubleX_V02_CvL.h5 as Predictor: max |deepjet - onnxruntime| = %.3g\n", worst_predictor);
  EXPECT_LE(worst_predictor, 1e-5);

  EXPECT_EQ(report.keras_version, "2.2.4");
  ASSERT_EQ(report.inputs.size(), 4u) << report.to_string();
  EXPECT_EQ(report.inputs[0].name, "input_1");  // the config's input_layers order, not the layers' order
  EXPECT_EQ(report.inputs[1].name, "input_2");
  ASSERT_EQ(report.outputs.size(), 1u);
  EXPECT_EQ(report.outputs[0].name, "ID_pred");
  int grus = 0;
  for (const auto& l : report.layers) {
    grus += l.signature.starts_with("GRU");
    if (l.path == "0.1.3.0") {
      EXPECT_EQ(l.node, "pf_gru");
    }
  }
  EXPECT_EQ(grus, 3);
}

// The DeepDoubleX file declared with the other GRU convention: refused naming both layers.
TEST(KerasImportRealFile, DeepDoubleXWithTheOtherResetConventionIsRefused) {
  using P = deepjet::zoo::DeepDoubleXParts<>;
  using Other = Sequential<Inputs<Shape<1, 5>, Shape<60, 8>, Shape<40, 21>, Shape<5, 7>>,
                           Branches<Stack<P::Norm, Flatten>,
                                    Stack<P::Norm, P::ConvUnit, P::ConvUnit, GRU<50, reset_after, backwards, hard_sigmoid_gates>>,
                                    P::List, P::List>,
                           Concatenate, Dense<100>, ReLU, Dense<2>, Softmax>;
  const auto path = model_path("DeepDoubleX_V02_CvL.h5");
  const std::string message = error_of([&] { (void)keras::import_model<Other>(path); });
  EXPECT_MENTIONS(message, path);
  EXPECT_MENTIONS(message, "Keras layer 'pf_gru' (GRU");
  EXPECT_MENTIONS(message, "'0.1.3' GRU (60, 32) -> (50)");
  EXPECT_MENTIONS(message, "reset_after=False");
}

}  // namespace

namespace {

// ---- every layer kind, against Keras's definitions ---------------------------------------------

// Sequential: Dense with relu, Dropout, Dense without bias with tanh, Activation softmax.
json dense_sequential(std::size_t units = 4) {
  json layers = json::array();
  layers.push_back({{"class_name", "Dense"},
                    {"config", {{"name", "d1"}, {"units", units}, {"activation", "relu"}, {"use_bias", true},
                                {"batch_input_shape", {nullptr, 3}}}}});
  layers.push_back({{"class_name", "Dropout"}, {"config", {{"name", "drop"}, {"rate", 0.1}}}});
  layers.push_back({{"class_name", "Dense"}, {"config", {{"name", "d2"}, {"units", 3}, {"activation", "tanh"}, {"use_bias", false}}}});
  layers.push_back({{"class_name", "Activation"}, {"config", {{"name", "act"}, {"activation", "softmax"}}}});
  return json{{"class_name", "Sequential"}, {"config", {{"name", "sequential_1"}, {"layers", layers}}}};
}
std::vector<LayerSpec> dense_weights() {
  auto named = [](const std::string& name, std::vector<Weight> w) {
    LayerSpec l;
    l.entry = {{"name", name}};
    l.weights = std::move(w);
    return l;
  };
  return {named("d1", {weight("kernel", {3, 4}, 1), weight("bias", {4}, 2)}), named("drop", {}),
          named("d2", {weight("kernel", {4, 3}, 3)}), named("act", {})};
}
using DenseNet = Sequential<Input<3>, Dense<4>, ReLU, Dropout<0.1f>, Dense<3>, Tanh, Softmax>;

std::vector<double> dense_reference(const std::vector<LayerSpec>& w, const std::vector<float>& x, std::size_t count) {
  std::vector<double> out;
  for (std::size_t n = 0; n < count; ++n) {
    std::vector<double> v(x.begin() + static_cast<long>(3 * n), x.begin() + static_cast<long>(3 * n + 3));
    v = map_values(dense(v, w[0].weights[0], &w[0].weights[1]), relu);
    v = softmax(map_values(dense(v, w[2].weights[0], nullptr), [](double a) { return std::tanh(a); }));
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

TEST_F(KerasImport, DenseActivationsAndDropoutOfASequentialModel) {
  const auto weights = dense_weights();
  write_keras(file("dense.h5"), dense_sequential(), weights);
  keras::ImportReport report;
  const auto model = keras::import_model<DenseNet>(file("dense.h5"), {.report = &report});
  const auto x = random_values(5 * 3, 10, 1.0f);
  expect_close(run(model, x, 5), dense_reference(weights, x, 5), "Dense/relu/Dropout/Dense(no bias)/tanh/softmax");
  ASSERT_EQ(report.inputs.size(), 1u);
  EXPECT_EQ(report.inputs[0].name, "d1_input");  // Keras's name for a Sequential model's input
}

// Conv1D: kernel 3, stride 2, 'same' with relu; kernel 2 'valid' without bias; Flatten; Dense sigmoid.
TEST_F(KerasImport, Conv1DPaddingStridesAndBias) {
  const std::vector<LayerSpec> layers{
      input("x", {7, 3}),
      layer("Conv1D", "c1", {{"filters", 4}, {"kernel_size", {3}}, {"strides", {2}}, {"padding", "same"}, {"activation", "relu"},
                             {"use_bias", true}, {"dilation_rate", {1}}, {"data_format", "channels_last"}},
            {"x"}, {weight("kernel", {3, 3, 4}, 4), weight("bias", {4}, 5)}),
      layer("Conv1D", "c2", {{"filters", 2}, {"kernel_size", {2}}, {"strides", {1}}, {"padding", "valid"}, {"activation", "linear"},
                             {"use_bias", false}},
            {"c1"}, {weight("kernel", {2, 4, 2}, 6)}),
      layer("Flatten", "f", json::object(), {"c2"}),
      layer("Dense", "d", {{"units", 2}, {"activation", "sigmoid"}}, {"f"}, {weight("kernel", {6, 2}, 7), weight("bias", {2}, 8)})};
  write_keras(file("conv.h5"), functional(layers, {"x"}, {"d"}), layers);
  using Net = Sequential<Input<7, 3>, Conv1D<4, 3, 2, same>, ReLU, Conv1D<2, 2, 1, valid, false>, Flatten, Dense<2>, Sigmoid>;
  const auto model = keras::import_model<Net>(file("conv.h5"));
  const auto x = random_values(4 * 21, 11, 1.0f);
  std::vector<double> want;
  for (std::size_t n = 0; n < 4; ++n) {
    Matrix h = conv1d(rows(x, n, 7, 3), layers[1].weights[0], &layers[1].weights[1], 2, true);
    for (auto& row : h) row = map_values(row, relu);
    h = conv1d(h, layers[2].weights[0], nullptr, 1, false);
    const auto y = map_values(dense(flat(h), layers[4].weights[0], &layers[4].weights[1]), sigmoid);
    want.insert(want.end(), y.begin(), y.end());
  }
  expect_close(run(model, x, 4), want, "Conv1D same/stride 2/relu, Conv1D valid/no bias, Flatten, Dense sigmoid");
}

// LSTM: a forwards sequence with hard_sigmoid gates into a backwards last-state LSTM with sigmoid.
TEST_F(KerasImport, LstmGateOrderDirectionAndGates) {
  const std::vector<LayerSpec> layers{
      input("x", {5, 3}),
      layer("LSTM", "l1", {{"units", 4}, {"activation", "tanh"}, {"recurrent_activation", "hard_sigmoid"}, {"return_sequences", true},
                           {"go_backwards", false}, {"use_bias", true}},
            {"x"}, {weight("kernel", {3, 16}, 12), weight("recurrent_kernel", {4, 16}, 13), weight("bias", {16}, 14)}),
      layer("LSTM", "l2", {{"units", 3}, {"activation", "tanh"}, {"recurrent_activation", "sigmoid"}, {"return_sequences", false},
                           {"go_backwards", true}},
            {"l1"}, {weight("kernel", {4, 12}, 15), weight("recurrent_kernel", {3, 12}, 16), weight("bias", {12}, 17)}),
      layer("Dense", "d", {{"units", 2}, {"activation", "linear"}}, {"l2"}, {weight("kernel", {3, 2}, 18), weight("bias", {2}, 19)})};
  write_keras(file("lstm.h5"), functional(layers, {"x"}, {"d"}), layers);
  using Net = Sequential<Input<5, 3>, LSTM<4, return_sequences, hard_sigmoid_gates>, LSTM<3, backwards>, Dense<2>>;
  const auto model = keras::import_model<Net>(file("lstm.h5"));
  const auto x = random_values(3 * 15, 20, 1.0f);
  std::vector<double> want;
  for (std::size_t n = 0; n < 3; ++n) {
    const auto& w1 = layers[1].weights;
    const auto& w2 = layers[2].weights;
    const Matrix seq = lstm(rows(x, n, 5, 3), w1[0], w1[1], w1[2], false, true);
    const Matrix last = lstm(seq, w2[0], w2[1], w2[2], true, false);
    const auto y = dense(last.back(), layers[3].weights[0], &layers[3].weights[1]);
    want.insert(want.end(), y.begin(), y.end());
  }
  expect_close(run(model, x, 3), want, "LSTM i, f, c, o with hard_sigmoid, then backwards LSTM");
}

// GRU: reset_after=True (bias (2, 3u)) returning the sequence, into Keras 2.2's reset_after=False
// with hard_sigmoid gates read backwards (bias (3u)).
TEST_F(KerasImport, GruBothResetConventionsDirectionAndGates) {
  const std::vector<LayerSpec> layers{
      input("x", {6, 3}),
      layer("GRU", "g1", {{"units", 5}, {"activation", "tanh"}, {"recurrent_activation", "sigmoid"}, {"return_sequences", true},
                          {"reset_after", true}},
            {"x"}, {weight("kernel", {3, 15}, 21), weight("recurrent_kernel", {5, 15}, 22), weight("bias", {2, 15}, 23)}),
      layer("GRU", "g2", {{"units", 4}, {"activation", "tanh"}, {"recurrent_activation", "hard_sigmoid"}, {"go_backwards", true},
                          {"reset_after", false}},
            {"g1"}, {weight("kernel", {5, 12}, 24), weight("recurrent_kernel", {4, 12}, 25), weight("bias", {12}, 26)}),
      layer("Dense", "d", {{"units", 2}, {"activation", "softmax"}}, {"g2"}, {weight("kernel", {4, 2}, 27), weight("bias", {2}, 28)})};
  write_keras(file("gru.h5"), functional(layers, {"x"}, {"d"}), layers);
  using Net = Sequential<Input<6, 3>, GRU<5, reset_after, return_sequences>, GRU<4, reset_before, backwards, hard_sigmoid_gates>,
                         Dense<2>, Softmax>;
  const auto model = keras::import_model<Net>(file("gru.h5"));
  const auto x = random_values(3 * 18, 29, 1.0f);
  std::vector<double> want;
  for (std::size_t n = 0; n < 3; ++n) {
    const auto& w1 = layers[1].weights;
    const auto& w2 = layers[2].weights;
    const Matrix seq = gru(rows(x, n, 6, 3), w1[0], w1[1], w1[2], true, false, false);
    const Matrix last = gru(seq, w2[0], w2[1], w2[2], false, true, true);
    const auto y = softmax(dense(last.back(), layers[3].weights[0], &layers[3].weights[1]));
    want.insert(want.end(), y.begin(), y.end());
  }
  expect_close(run(model, x, 3), want, "GRU reset_after sequence, GRU reset_before backwards hard_sigmoid");
}

// BatchNormalization without center (beta 0), then without scale (gamma 1) and with another
// epsilon than the type's (carried into the variance), at inference.
TEST_F(KerasImport, BatchNormalizationCenterScaleAndEpsilon) {
  auto variance = [](unsigned seed) {
    Weight w = weight("moving_variance", {3}, seed);
    for (auto& v : w.values) v += 1.0f;  // in [0.5, 1.5]
    return w;
  };
  const std::vector<LayerSpec> layers{
      input("x", {4, 3}),
      layer("BatchNormalization", "bn1", {{"axis", -1}, {"epsilon", 0.001}, {"center", false}, {"scale", true}, {"momentum", 0.99}},
            {"x"}, {weight("gamma", {3}, 30), weight("moving_mean", {3}, 31), variance(32)}),
      layer("BatchNormalization", "bn2", {{"axis", 2}, {"epsilon", 0.01}, {"center", true}, {"scale", false}}, {"bn1"},
            {weight("beta", {3}, 33), weight("moving_mean", {3}, 34), variance(35)}),
      layer("Flatten", "f", json::object(), {"bn2"}),
      layer("Dense", "d", {{"units", 2}, {"activation", "linear"}}, {"f"}, {weight("kernel", {12, 2}, 36), weight("bias", {2}, 37)})};
  write_keras(file("bn.h5"), functional(layers, {"x"}, {"d"}), layers);
  using Net = Sequential<Input<4, 3>, BatchNorm<0.01f, 1e-3f>, BatchNorm<0.01f, 1e-3f>, Flatten, Dense<2>>;
  keras::ImportReport report;
  const auto model = keras::import_model<Net>(file("bn.h5"), {.report = &report});
  ASSERT_EQ(report.notes.size(), 1u) << report.to_string();
  EXPECT_MENTIONS(report.notes[0], "carried into running_var");
  const auto x = random_values(3 * 12, 38, 1.0f);
  std::vector<double> want;
  const auto& b1 = layers[1].weights;
  const auto& b2 = layers[2].weights;
  for (std::size_t n = 0; n < 3; ++n) {
    Matrix h = rows(x, n, 4, 3);
    for (auto& row : h)
      for (std::size_t c = 0; c < 3; ++c) {
        row[c] = (row[c] - b1[1].values[c]) / std::sqrt(b1[2].values[c] + 1e-3) * b1[0].values[c];
        row[c] = (row[c] - b2[1].values[c]) / std::sqrt(b2[2].values[c] + 1e-2) + b2[0].values[c];
      }
    const auto y = dense(flat(h), layers[4].weights[0], &layers[4].weights[1]);
    want.insert(want.end(), y.begin(), y.end());
  }
  expect_close(run(model, x, 3), want, "BatchNormalization without center, without scale, epsilon carried");
  EXPECT_THROW((void)keras::import_model<Net>(file("bn.h5"), {.carry_epsilon = false}), FileError);
}

// Two inputs: the config's input_layers (a, b) decide the blocks, not the order the layers are
// listed in (b first); Concatenate joins the branches in order.
std::vector<LayerSpec> two_input_layers(bool swapped_concatenation) {
  return {input("input_b", {4}),
          input("input_a", {3}),
          layer("Dense", "db", {{"units", 3}, {"activation", "relu"}}, {"input_b"}, {weight("kernel", {4, 3}, 40), weight("bias", {3}, 41)}),
          layer("Dense", "da", {{"units", 2}, {"activation", "linear"}}, {"input_a"}, {weight("kernel", {3, 2}, 42), weight("bias", {2}, 43)}),
          layer("Concatenate", "cat", {{"axis", -1}}, swapped_concatenation ? std::vector<std::string>{"db", "da"} : std::vector<std::string>{"da", "db"}),
          layer("Dense", "out", {{"units", 1}, {"activation", "sigmoid"}}, {"cat"}, {weight("kernel", {5, 1}, 44), weight("bias", {1}, 45)})};
}
using TwoInputs = Sequential<Inputs<Shape<3>, Shape<4>>, Branches<Stack<Dense<2>>, Stack<Dense<3>, ReLU>>, Concatenate, Dense<1>, Sigmoid>;

TEST_F(KerasImport, FunctionalModelWithTwoInputsFeedsEachBranchItsInput) {
  const auto layers = two_input_layers(false);
  write_keras(file("two.h5"), functional(layers, {"input_a", "input_b"}, {"out"}), layers);
  keras::ImportReport report;
  const auto model = keras::import_model<TwoInputs>(file("two.h5"), {.report = &report});
  ASSERT_EQ(report.inputs.size(), 2u);
  EXPECT_EQ(report.inputs[0].name, "input_a");
  EXPECT_EQ(report.inputs[1].name, "input_b");
  auto x = make_tensors<TwoInputs::input_shape>(4);
  const auto a = random_values(4 * 3, 46, 1.0f), b = random_values(4 * 4, 47, 1.0f);
  std::copy(a.begin(), a.end(), std::get<0>(x).data());
  std::copy(b.begin(), b.end(), std::get<1>(x).data());
  const auto y = model.predict(x);
  std::vector<double> want;
  for (std::size_t n = 0; n < 4; ++n) {
    auto joined = dense({a.begin() + static_cast<long>(3 * n), a.begin() + static_cast<long>(3 * n + 3)}, layers[3].weights[0], &layers[3].weights[1]);
    const auto hb = map_values(dense({b.begin() + static_cast<long>(4 * n), b.begin() + static_cast<long>(4 * n + 4)}, layers[2].weights[0],
                                &layers[2].weights[1]),
                          relu);
    joined.insert(joined.end(), hb.begin(), hb.end());
    want.push_back(sigmoid(dense(joined, layers[5].weights[0], &layers[5].weights[1])[0]));
  }
  expect_close(std::vector<float>(y.begin(), y.end()), want, "two inputs through their branches");

  // Joined the other way round: another network, refused naming the Keras Concatenate.
  const auto swapped = two_input_layers(true);
  write_keras(file("swapped.h5"), functional(swapped, {"input_a", "input_b"}, {"out"}), swapped);
  const std::string message = error_of([&] { (void)keras::import_model<TwoInputs>(file("swapped.h5")); });
  EXPECT_MENTIONS(message, file("swapped.h5").string());
  EXPECT_MENTIONS(message, "Concatenate");
}

// A Sequential model as TensorFlow 2's Keras writes it (an InputLayer first), a Conv1D with elu,
// GlobalAveragePooling1D and a residual Add, then Activation('sigmoid').
TEST_F(KerasImport, InputLayerFirstSequentialPoolingAndResidualAdd) {
  json sequence = json::array();
  sequence.push_back({{"class_name", "InputLayer"}, {"config", {{"name", "x"}, {"batch_input_shape", {nullptr, 5, 3}}}}});
  sequence.push_back({{"class_name", "Conv1D"},
                      {"config", {{"name", "c"}, {"filters", 3}, {"kernel_size", 1}, {"strides", 1}, {"padding", "valid"},
                                  {"activation", "elu"}, {"use_bias", true}}}});
  sequence.push_back({{"class_name", "GlobalAveragePooling1D"}, {"config", {{"name", "p"}, {"data_format", "channels_last"}}}});
  const json sequential{{"class_name", "Sequential"}, {"config", {{"name", "s"}, {"layers", sequence}}}};
  const std::vector<LayerSpec> pooled{input("x", {5, 3}),
                                      layer("Conv1D", "c", sequence[1]["config"], {"x"}, {weight("kernel", {1, 3, 3}, 60), weight("bias", {3}, 61)}),
                                      layer("GlobalAveragePooling1D", "p", sequence[2]["config"], {"c"})};
  write_keras(file("pooled.h5"), sequential, pooled);
  using Pooled = Sequential<Input<5, 3>, Conv1D<3>, ELU, GlobalAveragePooling>;
  const auto x = random_values(2 * 15, 62, 1.0f);
  std::vector<double> want;
  for (std::size_t n = 0; n < 2; ++n) {
    Matrix h = conv1d(rows(x, n, 5, 3), pooled[1].weights[0], &pooled[1].weights[1], 1, false);
    std::vector<double> mean(3, 0.0);
    for (const auto& row : h)
      for (std::size_t c = 0; c < 3; ++c) mean[c] += (row[c] > 0 ? row[c] : std::expm1(row[c])) / 5.0;
    want.insert(want.end(), mean.begin(), mean.end());
  }
  expect_close(run(keras::import_model<Pooled>(file("pooled.h5")), x, 2), want, "InputLayer-first Sequential, Conv1D elu, pooling");

  // The residual: d = Dense(p); Add([d, p]); Activation('sigmoid').
  auto layers = pooled;
  layers.push_back(layer("Dense", "d", {{"units", 3}, {"activation", "linear"}}, {"p"}, {weight("kernel", {3, 3}, 63), weight("bias", {3}, 64)}));
  layers.push_back(layer("Add", "sum", json::object(), {"d", "p"}));
  layers.push_back(layer("Activation", "out", {{"activation", "sigmoid"}}, {"sum"}));
  write_keras(file("residual.h5"), functional(layers, {"x"}, {"out"}), layers);
  using WithResidual = Sequential<Input<5, 3>, Conv1D<3>, ELU, GlobalAveragePooling, Residual<Dense<3>, Identity>, Sigmoid>;
  std::vector<double> residual;
  for (std::size_t n = 0; n < 2; ++n) {
    const std::vector<double> p(want.begin() + static_cast<long>(3 * n), want.begin() + static_cast<long>(3 * n + 3));
    const auto d = dense(p, layers[3].weights[0], &layers[3].weights[1]);
    for (std::size_t c = 0; c < 3; ++c) residual.push_back(sigmoid(d[c] + p[c]));
  }
  expect_close(run(keras::import_model<WithResidual>(file("residual.h5")), x, 2), residual, "residual Add and Activation");
}

// ---- weights-only files ------------------------------------------------------------------------

TEST_F(KerasImport, WeightsOnlyFileWithTheArchitectureGivenSeparately) {
  const auto weights = dense_weights();
  write_keras(file("weights.h5"), {}, weights, /*weights_only=*/true);
  {
    std::ofstream json_file(file("model.json"));
    json_file << dense_sequential().dump();
  }
  const auto x = random_values(2 * 3, 50, 1.0f);
  const auto want = dense_reference(weights, x, 2);
  expect_close(run(keras::import_model<DenseNet>(file("weights.h5"), {.architecture_file = file("model.json")}), x, 2), want,
               "weights-only file + architecture file");
  expect_close(run(keras::import_model<DenseNet>(file("weights.h5"), {.architecture_json = dense_sequential().dump()}), x, 2), want,
               "weights-only file + architecture text");
  const std::string message = error_of([&] { (void)keras::import_model<DenseNet>(file("weights.h5")); });
  EXPECT_MENTIONS(message, file("weights.h5").string());
  EXPECT_MENTIONS(message, "architecture_file");
}

// ---- refusals ----------------------------------------------------------------------------------

TEST_F(KerasImport, MismatchesAndBrokenFilesAreRefusedNamingTheFileAndTheLayer) {
  // Another width than the type's: the Keras layer and the deepjet layer.
  write_keras(file("units.h5"), dense_sequential(5), [] {
    auto w = dense_weights();
    w[0].weights = {weight("kernel", {3, 5}, 1), weight("bias", {5}, 2)};
    w[2].weights = {weight("kernel", {5, 3}, 3)};
    return w;
  }());
  std::string message = error_of([&] { (void)keras::import_model<DenseNet>(file("units.h5")); });
  EXPECT_MENTIONS(message, file("units.h5").string());
  EXPECT_MENTIONS(message, "Keras layer 'd1' (Dense");
  EXPECT_MENTIONS(message, "deepjet layer '0' Dense (3) -> (4)");

  // A weight dataset missing.
  auto no_bias = dense_weights();
  no_bias[0].weights.pop_back();
  write_keras(file("no_bias.h5"), dense_sequential(), no_bias);
  message = error_of([&] { (void)keras::import_model<DenseNet>(file("no_bias.h5")); });
  EXPECT_MENTIONS(message, file("no_bias.h5").string());
  EXPECT_MENTIONS(message, "Keras layer 'd1' (Dense) has no weight dataset 'bias'");

  // A weight of other dims than the config says.
  auto wide = dense_weights();
  wide[0].weights[0] = weight("kernel", {3, 6}, 1);
  write_keras(file("wide.h5"), dense_sequential(), wide);
  message = error_of([&] { (void)keras::import_model<DenseNet>(file("wide.h5")); });
  EXPECT_MENTIONS(message, "Keras layer 'd1' (Dense)");
  EXPECT_MENTIONS(message, "d1/d1/kernel:0");

  // A layer class deepjet does not import.
  {
    const std::vector<LayerSpec> layers{input("x", {6, 3}), layer("MaxPooling1D", "pool", {{"pool_size", {2}}}, {"x"}),
                                        layer("Flatten", "f", json::object(), {"pool"})};
    write_keras(file("pool.h5"), functional(layers, {"x"}, {"f"}), layers);
    message = error_of([&] { (void)keras::import_model<Sequential<Input<6, 3>, Flatten>>(file("pool.h5")); });
    EXPECT_MENTIONS(message, file("pool.h5").string());
    EXPECT_MENTIONS(message, "Keras layer 'pool' (MaxPooling1D) is not supported");
  }

  // A backwards GRU returning its sequence (Keras reverses it, deepjet does not).
  {
    const std::vector<LayerSpec> layers{
        input("x", {6, 3}),
        layer("GRU", "g", {{"units", 2}, {"activation", "tanh"}, {"recurrent_activation", "sigmoid"}, {"go_backwards", true},
                           {"return_sequences", true}},
              {"x"}, {weight("kernel", {3, 6}, 1), weight("recurrent_kernel", {2, 6}, 2), weight("bias", {6}, 3)})};
    write_keras(file("reversed.h5"), functional(layers, {"x"}, {"g"}), layers);
    message = error_of([&] {
      (void)keras::import_model<Sequential<Input<6, 3>, GRU<2, reset_before, backwards, return_sequences>>>(file("reversed.h5"));
    });
    EXPECT_MENTIONS(message, "Keras layer 'g' (GRU)");
    EXPECT_MENTIONS(message, "go_backwards=True with return_sequences=True");
  }

  // Weights for a layer the architecture does not have.
  auto extra = dense_weights();
  LayerSpec stray;
  stray.entry = {{"name", "stray"}};
  stray.weights = {weight("kernel", {2, 2}, 9)};
  extra.push_back(stray);
  write_keras(file("extra.h5"), dense_sequential(), extra);
  message = error_of([&] { (void)keras::import_model<DenseNet>(file("extra.h5")); });
  EXPECT_MENTIONS(message, "'stray'");

  // Bad JSON.
  write_keras(file("weights.h5"), {}, dense_weights(), true);
  message = error_of([&] { (void)keras::import_model<DenseNet>(file("weights.h5"), {.architecture_json = "{\"class_name\": \"Seq"}); });
  EXPECT_MENTIONS(message, file("weights.h5").string());
  EXPECT_MENTIONS(message, "not valid JSON");

  // Truncated and corrupt files.
  const auto real = model_path("DeepDoubleX_V02_CvL.h5");
  std::filesystem::copy_file(real, file("truncated.h5"));
  std::filesystem::resize_file(file("truncated.h5"), std::filesystem::file_size(real) / 2);
  message = error_of([&] { (void)keras::import_model<deepjet::zoo::DeepDoubleX>(file("truncated.h5")); });
  EXPECT_MENTIONS(message, file("truncated.h5").string());
  {
    std::ofstream garbage(file("corrupt.h5"), std::ios::binary);
    for (int i = 0; i < 4096; ++i) garbage.put(static_cast<char>(i * 37));
  }
  message = error_of([&] { (void)keras::import_model<DenseNet>(file("corrupt.h5")); });
  EXPECT_MENTIONS(message, file("corrupt.h5").string());
  EXPECT_MENTIONS(message, "not an HDF5 file");
}

// Found by fuzzing (tests/fuzz_models): numbers in the config that no Keras writes. A size of 1e300
// was converted to an integer (undefined behaviour, flagged by UBSan); a negative one wrapped to
// 2^64 - 3; a rank-4 batch_input_shape was flattened as if it had rank 3. Each is now refused,
// naming the layer and the value.
TEST_F(KerasImport, ConfigNumbersThatKerasNeverWritesAreRefused) {
  write_keras(file("weights.h5"), {}, dense_weights(), true);
  auto refused = [&](const std::function<void(json&)>& change) {
    json config = dense_sequential();
    change(config["config"]["layers"][0]["config"]);
    return error_of([&] { (void)keras::import_model<DenseNet>(file("weights.h5"), {.architecture_json = config.dump()}); });
  };
  std::string message = refused([](json& d1) { d1["units"] = 1e300; });
  EXPECT_MENTIONS(message, "Keras layer 'd1' (Dense): its units is 1e+300, not a whole number");
  message = refused([](json& d1) { d1["units"] = -3; });
  EXPECT_MENTIONS(message, "its units is -3, a negative size");
  message = refused([](json& d1) { d1["units"] = 1LL << 40; });
  EXPECT_MENTIONS(message, "its units is 1099511627776, beyond the 16777216 deepjet accepts");
  message = refused([](json& d1) { d1["batch_input_shape"] = json::array({nullptr, 2.5}); });
  EXPECT_MENTIONS(message, "a size of its batch_input_shape [null,2.5] is 2.5, not a whole number");
  message = refused([](json& d1) { d1["batch_input_shape"] = json::array({nullptr, 1, 1, 3}); });
  EXPECT_MENTIONS(message, "deepjet needs a batch axis and 1 or 2 more");
  // Links with an index that is not a whole number (functional models).
  json functional_config = functional({input("x", {3}), layer("Dense", "d1", {{"units", 4}, {"activation", "relu"}}, {"x"})}, {"x"}, {"d1"});
  functional_config["config"]["layers"][1]["inbound_nodes"][0][0][1] = 1e300;
  message = error_of([&] { (void)keras::import_model<DenseNet>(file("weights.h5"), {.architecture_json = functional_config.dump()}); });
  EXPECT_MENTIONS(message, "Keras layer 'd1': the call index of its link to 'x' is 1e+300, not a whole number");
}

}  // namespace
