// The ONNX importer (deepjet/interchange/onnx.hpp): CMS's production DeepJet graphs imported into
// deepjet::zoo::DeepJet, and CMS's DeepDoubleX (GRUs) into deepjet::zoo::DeepDoubleX,
// reproduce ONNX Runtime's outputs (the .expected.h5 files beside the models, computed by
// onnxruntime-node) to 1e-5 absolute, as a Model and as a Predictor; types that
// disagree with the graph, broken files and unsupported ops are refused with messages naming the
// file, the ONNX node and the deepjet layer. Small graphs for the other exporter idioms are built
// here with ONNX's protobuf classes (no binary fixture), and compared with reference loops.
#include "support/temporary_directory.hpp"

#include <deepjet/zoo/deepdoublex.hpp>
#include <deepjet/zoo/deepjet.hpp>

#include <deepjet/interchange/onnx.hpp>
#include <deepjet/losses/losses.hpp>
#include <deepjet/optimisers/optimisers.hpp>
#include <deepjet/io/hdf5/hdf5.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace {

using deepjet::zoo::DeepJet;

std::string model_path(const std::string& name) { return std::string(DEEPJET_SHARED_DIR) + "/data/models/" + name; }

// Runs `predict` on the expected file's inputs; returns the largest |deepjet - ONNX Runtime|
// over output 0.
template <class Net, class Predict>
double max_difference_on_expected(const std::string& name, std::size_t inputs, Predict&& predict) {
  deepjet::hdf5::File file(model_path(name + ".expected.h5"), deepjet::hdf5::File::Mode::read);
  auto x = deepjet::make_tensors<typename Net::input_shape>(32);
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((void)[&] {
      const auto array = file.read<float>("inputs/" + std::to_string(I));
      EXPECT_EQ(array.values.size(), std::get<I>(x).size()) << "input " << I;
      std::copy(array.values.begin(), array.values.end(), std::get<I>(x).data());
    }(), ...);
  }(std::make_index_sequence<std::tuple_size_v<decltype(x)>>{});
  EXPECT_GE(inputs, std::tuple_size_v<decltype(x)>);
  const auto expected = file.read<float>("outputs/0");
  const auto y = predict(x);
  EXPECT_EQ(expected.values.size(), y.size());
  double worst = 0;
  for (std::size_t i = 0; i < std::min<std::size_t>(expected.values.size(), y.size()); ++i)
    worst = std::isfinite(y.data()[i]) ? std::max(worst, std::abs(static_cast<double>(y.data()[i]) - expected.values[i])) : INFINITY;
  return worst;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const deepjet::Error& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- the real models ------------------------------------------------------------------------

TEST(OnnxImport, HltDeepFlavourAsModelMatchesOnnxRuntime) {
  deepjet::onnx::ImportReport report;
  const auto model = deepjet::onnx::import_model<DeepJet>(model_path("DeepFlavour_HLT_220104.onnx"), {.report = &report});
  const double worst = max_difference_on_expected<DeepJet>("DeepFlavour_HLT_220104", 4,
                                                           [&](const auto& x) { return model.predict(x); });
  std::printf("DeepFlavour_HLT_220104 as Model: max |deepjet - onnxruntime| = %.3g\n", worst);
  EXPECT_LE(worst, 1e-5);
  ASSERT_EQ(report.inputs.size(), 4u);
  EXPECT_EQ(report.inputs[1].name, "input_1");
  EXPECT_EQ(report.outputs.size(), 1u);
  EXPECT_EQ(report.outputs[0].name, "ID_pred");
  EXPECT_TRUE(report.pass_through.empty());
  // 23 BatchNorms, 11 convolutions, 3 LSTMs, 9 dense layers, their activations, Concatenate, Softmax.
  std::size_t batch_norms = 0, lstms = 0;
  for (const auto& l : report.layers) {
    batch_norms += l.signature.starts_with("BatchNorm");
    lstms += l.signature.starts_with("LSTM");
  }
  EXPECT_EQ(batch_norms, 23u);
  EXPECT_EQ(lstms, 3u);
  bool found_lstm = false;
  for (const auto& l : report.layers)
    if (l.path == "0.1.5.0") {
      EXPECT_EQ(l.node, "cpf_lstm");
      found_lstm = true;
    }
  EXPECT_TRUE(found_lstm) << report.to_string();
  // keras2onnx wrote epsilon 1e-6 (BatchNorms folded to mean 0, var 1); the type has Keras's 1e-3.
  ASSERT_EQ(report.notes.size(), 23u) << report.to_string();
  EXPECT_NE(report.notes[0].find("carried into running_var"), std::string::npos) << report.notes[0];
}

TEST(OnnxImport, EpsilonThatDiffersIsRefusedWhenNotCarried) {
  const auto path = model_path("DeepFlavour_HLT_220104.onnx");
  const std::string message = error_of([&] { deepjet::onnx::import_model<DeepJet>(path, {.carry_epsilon = false}); });
  std::printf("%s\n", message.c_str());
  EXPECT_NE(message.find("'globals_input_batchnorm'"), std::string::npos) << message;
  EXPECT_NE(message.find("'0.0' BatchNorm (15) -> (15)"), std::string::npos) << message;
  EXPECT_NE(message.find("epsilon"), std::string::npos) << message;
}

TEST(OnnxImport, HltDeepFlavourAsPredictorMatchesOnnxRuntime) {
  const auto predictor = deepjet::onnx::import_predictor<DeepJet>(model_path("DeepFlavour_HLT_220104.onnx"));
  const double worst = max_difference_on_expected<DeepJet>("DeepFlavour_HLT_220104", 4,
                                                           [&](const auto& x) { return predictor.predict(x); });
  std::printf("DeepFlavour_HLT_220104 as Predictor: max |deepjet - onnxruntime| = %.3g\n", worst);
  EXPECT_LE(worst, 1e-5);
}

TEST(OnnxImport, Run3DeepJetFromPyTorchMatchesOnnxRuntimeAndReportsPassThrough) {
  deepjet::onnx::ImportReport report;
  const auto model = deepjet::onnx::import_model<DeepJet>(model_path("DeepJet_Run3_122X.onnx"), {.report = &report});
  const double worst = max_difference_on_expected<DeepJet>("DeepJet_Run3_122X", 5,
                                                           [&](const auto& x) { return model.predict(x); });
  std::printf("DeepJet_Run3_122X as Model: max |deepjet - onnxruntime| = %.3g\n", worst);
  EXPECT_LE(worst, 1e-5);
  ASSERT_EQ(report.pass_through.size(), 1u) << report.to_string();
  EXPECT_EQ(report.pass_through[0].output, "jet_pt");
  EXPECT_EQ(report.pass_through[0].input, "input_5");
  ASSERT_EQ(report.inputs.size(), 4u);
  EXPECT_EQ(report.inputs[3].name, "input_4");
  // The charged candidates' LSTM: forward over the list reversed by /Slice, final state by /Gather.
  bool found_lstm = false;
  for (const auto& l : report.layers)
    if (l.path == "0.1.5.0") {
      EXPECT_EQ(l.node, "/cpf_lstm/LSTM + /Slice + /Gather") << report.to_string();
      found_lstm = true;
    }
  EXPECT_TRUE(found_lstm) << report.to_string();

  const auto predictor = deepjet::onnx::import_predictor<DeepJet>(model_path("DeepJet_Run3_122X.onnx"));
  const double worst_predictor = max_difference_on_expected<DeepJet>(
      "DeepJet_Run3_122X", 5, [&](const auto& x) { return predictor.predict(x); });
  std::printf("DeepJet_Run3_122X as Predictor: max |deepjet - onnxruntime| = %.3g\n", worst_predictor);
  EXPECT_LE(worst_predictor, 1e-5);

  // The second output of the file is the fifth input, unchanged: what "pass-through" promises.
  deepjet::hdf5::File file(model_path("DeepJet_Run3_122X.expected.h5"), deepjet::hdf5::File::Mode::read);
  EXPECT_EQ(file.read<float>("inputs/4").values, file.read<float>("outputs/1").values);
}

// DeepDoubleX (CvL), keras2onnx 1.6.5: three GRUs (linear_before_reset 0, HardSigmoid gates,
// direction reverse, Y_h) beside a flattened BatchNorm; kernel-1 convolutions without bias.
TEST(OnnxImport, DeepDoubleXWithGrusMatchesOnnxRuntime) {
  using deepjet::zoo::DeepDoubleX;
  // 57,458 trainable parameters and 82 BatchNorm statistics, as Keras counts the .h5.
  EXPECT_EQ(DeepDoubleX::parameter_count, 57458u + 82u);
  EXPECT_EQ((deepjet::GRULayer<60, 32, 50, deepjet::GRUReset::before, deepjet::Direction::backwards, false,
                               deepjet::GateActivation::hard_sigmoid>::parameter_count),
            12450u);
  deepjet::onnx::ImportReport report;
  const auto model = deepjet::onnx::import_model<DeepDoubleX>(model_path("DeepDoubleX_V02_CvL.onnx"), {.report = &report});
  const double worst = max_difference_on_expected<DeepDoubleX>("DeepDoubleX_V02_CvL", 4,
                                                               [&](const auto& x) { return model.predict(x); });
  std::printf("DeepDoubleX_V02_CvL as Model: max |deepjet - onnxruntime| = %.3g\n", worst);
  EXPECT_LE(worst, 1e-5);
  const auto predictor = deepjet::onnx::import_predictor<DeepDoubleX>(model_path("DeepDoubleX_V02_CvL.onnx"));
  const double worst_predictor = max_difference_on_expected<DeepDoubleX>(
      "DeepDoubleX_V02_CvL", 4, [&](const auto& x) { return predictor.predict(x); });
  std::printf("DeepDoubleX_V02_CvL as Predictor: max |deepjet - onnxruntime| = %.3g\n", worst_predictor);
  EXPECT_LE(worst_predictor, 1e-5);

  ASSERT_EQ(report.inputs.size(), 4u) << report.to_string();
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(report.inputs[i].name, "input_" + std::to_string(i + 1));
  ASSERT_EQ(report.outputs.size(), 1u);
  EXPECT_EQ(report.outputs[0].name, "ID_pred");
  std::size_t grus = 0, batch_norms = 0, convolutions = 0;
  bool found_gru = false;
  for (const auto& l : report.layers) {
    grus += l.signature.starts_with("GRU");
    batch_norms += l.signature.starts_with("BatchNorm");
    convolutions += l.signature.starts_with("Conv1D");
    if (l.path == "0.2.3.0") {
      EXPECT_EQ(l.node, "cpf_gru") << report.to_string();
      found_gru = true;
    }
  }
  EXPECT_TRUE(found_gru) << report.to_string();
  EXPECT_EQ(grus, 3u) << report.to_string();
  EXPECT_EQ(batch_norms, 4u);
  EXPECT_EQ(convolutions, 6u);
  // keras2onnx folded the BatchNorms (epsilon 1e-6); the type has Keras's 1e-3.
  EXPECT_EQ(report.notes.size(), 4u) << report.to_string();
  std::printf("%s", report.to_string().c_str());
}

// DeepDoubleX declared with PyTorch's GRU convention: the file's linear_before_reset 0 is refused.
TEST(OnnxImport, DeepDoubleXWithTheOtherResetConventionIsRefused) {
  using P = deepjet::zoo::DeepDoubleXParts<>;
  using AfterList = deepjet::Stack<P::Norm, P::ConvUnit, P::ConvUnit,
                                   deepjet::GRU<50, deepjet::reset_after, deepjet::backwards, deepjet::hard_sigmoid_gates>>;
  using Net = deepjet::Sequential<
      deepjet::Inputs<deepjet::Shape<1, 5>, deepjet::Shape<60, 8>, deepjet::Shape<40, 21>, deepjet::Shape<5, 7>>,
      deepjet::Branches<deepjet::Stack<P::Norm, deepjet::Flatten>, AfterList, AfterList, AfterList>, deepjet::Concatenate,
      deepjet::Dense<100>, deepjet::ReLU, deepjet::Dense<2>, deepjet::Softmax>;
  const auto path = model_path("DeepDoubleX_V02_CvL.onnx");
  const std::string message = error_of([&] { deepjet::onnx::import_model<Net>(path); });
  std::printf("%s\n", message.c_str());
  EXPECT_TRUE(message.starts_with(path + ": ")) << message;
  EXPECT_NE(message.find("'pf_gru' (GRU"), std::string::npos) << message;
  EXPECT_NE(message.find("'0.1.3' GRU (60, 32) -> (50)"), std::string::npos) << message;
  EXPECT_NE(message.find("linear_before_reset = 0"), std::string::npos) << message;
}

TEST(OnnxImport, ImportedModelCanBeFineTuned) {
  // The imported Model trains: a few Adam steps on the 32 jets of the expected file lower the loss.
  auto model = deepjet::onnx::import_model<DeepJet>(model_path("DeepFlavour_HLT_220104.onnx"));
  deepjet::hdf5::File file(model_path("DeepFlavour_HLT_220104.expected.h5"), deepjet::hdf5::File::Mode::read);
  auto x = deepjet::make_tensors<DeepJet::input_shape>(32);
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((void)[&] {
      const auto array = file.read<float>("inputs/" + std::to_string(I));
      std::copy(array.values.begin(), array.values.end(), std::get<I>(x).data());
    }(), ...);
  }(std::make_index_sequence<4>{});
  auto target = deepjet::make_tensors<DeepJet::output_shape>(32);
  std::fill(target.begin(), target.end(), 0.0f);
  for (std::size_t n = 0; n < 32; ++n) target(n, (n * 5) % 6) = 1.0f;
  deepjet::Adam adam;
  adam.learning_rate = 1e-3;
  // Fewer steps under AddressSanitizer, where each DeepJet step is a few hundred times slower; the
  // loss falls from the first step on.
#if defined(DEEPJET_SANITIZER)
  constexpr int steps = 4;
#else
  constexpr int steps = 20;
#endif
  const double first = model.train_step(x, target, nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  double last = first;
  for (int i = 0; i < steps; ++i) last = model.train_step(x, target, nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  std::printf("fine-tuning the imported HLT model on 32 jets: loss %.4f -> %.4f after %d Adam steps\n", first, last,
              steps + 1);
  EXPECT_TRUE(std::isfinite(first));
  EXPECT_LT(last, first);
}

// ---- refusals on the real models ----------------------------------------------------------------

// DeepJet with the charged candidates' first convolution 32 wide instead of 64.
template <float Rate = 0.1f>
struct NarrowParts : deepjet::zoo::DeepJetParts<Rate> {
  using P = deepjet::zoo::DeepJetParts<Rate>;
  using network = deepjet::Sequential<
      deepjet::Inputs<deepjet::Shape<15>, deepjet::Shape<25, 16>, deepjet::Shape<25, 6>, deepjet::Shape<4, 12>>,
      deepjet::Branches<deepjet::BatchNorm<>,
                        deepjet::Stack<deepjet::BatchNorm<>, typename P::template ConvUnit<32>, typename P::template ConvUnit<32>,
                                       typename P::template ConvUnit<32>, typename P::template LastConv<8>,
                                       typename P::template Recurrence<150>>,
                        deepjet::Stack<deepjet::BatchNorm<>, typename P::template ConvUnit<32>, typename P::template ConvUnit<16>,
                                       typename P::template LastConv<4>, typename P::template Recurrence<50>>,
                        deepjet::Stack<deepjet::BatchNorm<>, typename P::template ConvUnit<64>, typename P::template ConvUnit<32>,
                                       typename P::template ConvUnit<32>, typename P::template LastConv<8>,
                                       typename P::template Recurrence<50>>>,
      deepjet::Concatenate, deepjet::Dense<6>, deepjet::Softmax>;
};

TEST(OnnxImport, TypeWithOtherWidthsIsRefusedNamingNodeAndLayer) {
  const auto path = model_path("DeepFlavour_HLT_220104.onnx");
  const std::string message = error_of([&] { deepjet::onnx::import_model<NarrowParts<>::network>(path); });
  std::printf("%s\n", message.c_str());
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("cpf_conv0"), std::string::npos) << message;
  EXPECT_NE(message.find("'0.1.1.0' Conv1D (25, 16) -> (25, 32)"), std::string::npos) << message;
}

// DeepJet whose LSTMs read the lists forwards.
using ForwardDeepJet = deepjet::Sequential<
    deepjet::Inputs<deepjet::Shape<15>, deepjet::Shape<25, 16>, deepjet::Shape<25, 6>, deepjet::Shape<4, 12>>,
    deepjet::Branches<
        deepjet::BatchNorm<>,
        deepjet::Stack<deepjet::BatchNorm<>, deepjet::zoo::DeepJetParts<>::ConvUnit<64>,
                       deepjet::zoo::DeepJetParts<>::ConvUnit<32>, deepjet::zoo::DeepJetParts<>::ConvUnit<32>,
                       deepjet::zoo::DeepJetParts<>::LastConv<8>, deepjet::LSTM<150>, deepjet::BatchNorm<>>,
        deepjet::Stack<deepjet::BatchNorm<>, deepjet::zoo::DeepJetParts<>::ConvUnit<32>,
                       deepjet::zoo::DeepJetParts<>::ConvUnit<16>, deepjet::zoo::DeepJetParts<>::LastConv<4>,
                       deepjet::LSTM<50>, deepjet::BatchNorm<>>,
        deepjet::Stack<deepjet::BatchNorm<>, deepjet::zoo::DeepJetParts<>::ConvUnit<64>,
                       deepjet::zoo::DeepJetParts<>::ConvUnit<32>, deepjet::zoo::DeepJetParts<>::ConvUnit<32>,
                       deepjet::zoo::DeepJetParts<>::LastConv<8>, deepjet::LSTM<50>, deepjet::BatchNorm<>>>,
    deepjet::Concatenate, deepjet::Dense<6>, deepjet::Softmax>;

TEST(OnnxImport, WrongLstmDirectionIsRefusedForBothExporters) {
  for (const char* name : {"DeepFlavour_HLT_220104.onnx", "DeepJet_Run3_122X.onnx"}) {
    const std::string message = error_of([&] { deepjet::onnx::import_model<ForwardDeepJet>(model_path(name)); });
    std::printf("%s\n", message.c_str());
    EXPECT_NE(message.find(model_path(name)), std::string::npos) << message;
    EXPECT_NE(message.find("cpf_lstm"), std::string::npos) << message;
    EXPECT_NE(message.find("'0.1.5' LSTM (25, 8) -> (150) [forwards"), std::string::npos) << message;
    EXPECT_NE(message.find("reads the list backwards"), std::string::npos) << message;
  }
}

TEST(OnnxImport, TooFewLayersIsRefusedNamingTheFirstUnmatchedLayer) {
  // NarrowParts also ends early (Concatenate, Dense 6): with the right widths it would stop at the
  // first dense layer of the head.
  using Short = deepjet::Sequential<
      deepjet::Inputs<deepjet::Shape<15>, deepjet::Shape<25, 16>, deepjet::Shape<25, 6>, deepjet::Shape<4, 12>>,
      deepjet::Branches<deepjet::BatchNorm<>,
                        deepjet::Stack<deepjet::BatchNorm<>, deepjet::zoo::DeepJetParts<>::ConvUnit<64>,
                                       deepjet::zoo::DeepJetParts<>::ConvUnit<32>,
                                       deepjet::zoo::DeepJetParts<>::ConvUnit<32>,
                                       deepjet::zoo::DeepJetParts<>::LastConv<8>,
                                       deepjet::zoo::DeepJetParts<>::Recurrence<150>>,
                        deepjet::Stack<deepjet::BatchNorm<>, deepjet::zoo::DeepJetParts<>::ConvUnit<32>,
                                       deepjet::zoo::DeepJetParts<>::ConvUnit<16>,
                                       deepjet::zoo::DeepJetParts<>::LastConv<4>,
                                       deepjet::zoo::DeepJetParts<>::Recurrence<50>>,
                        deepjet::Stack<deepjet::BatchNorm<>, deepjet::zoo::DeepJetParts<>::ConvUnit<64>,
                                       deepjet::zoo::DeepJetParts<>::ConvUnit<32>,
                                       deepjet::zoo::DeepJetParts<>::ConvUnit<32>,
                                       deepjet::zoo::DeepJetParts<>::LastConv<8>,
                                       deepjet::zoo::DeepJetParts<>::Recurrence<50>>>,
      deepjet::Concatenate, deepjet::Dense<6>, deepjet::Softmax>;
  const std::string message =
      error_of([&] { deepjet::onnx::import_model<Short>(model_path("DeepFlavour_HLT_220104.onnx")); });
  std::printf("%s\n", message.c_str());
  EXPECT_NE(message.find("df_dense0"), std::string::npos) << message;
  EXPECT_NE(message.find("'2' Dense (265) -> (6)"), std::string::npos) << message;
}

class OnnxImportFiles : public deepjet::test::TemporaryDirectoryTest {
 protected:
  OnnxImportFiles() : TemporaryDirectoryTest("deepjet-onnx-import") {}
  std::string bytes_of(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  std::string write(const std::string& name, const std::string& bytes) {
    const auto path = file(name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
};

TEST_F(OnnxImportFiles, TruncatedAndCorruptFilesNameTheFile) {
  const std::string bytes = bytes_of(model_path("DeepFlavour_HLT_220104.onnx"));
  for (std::size_t keep : {bytes.size() / 2, bytes.size() - 3, std::size_t{100}}) {
    const auto path = write("truncated.onnx", bytes.substr(0, keep));
    const std::string message = error_of([&] { deepjet::onnx::import_model<DeepJet>(path); });
    std::printf("%s\n", message.c_str());
    EXPECT_TRUE(message.starts_with(path + ": ")) << message;
  }
  std::string corrupt = bytes;
  for (std::size_t i = 1000; i < corrupt.size(); i += 997) corrupt[i] = static_cast<char>(corrupt[i] ^ 0x5a);
  const auto path = write("corrupt.onnx", corrupt);
  EXPECT_TRUE(error_of([&] { deepjet::onnx::import_model<DeepJet>(path); }).starts_with(path + ": "));
  const auto text = write("text.onnx", "this is not a model\n");
  EXPECT_TRUE(error_of([&] { deepjet::onnx::import_model<DeepJet>(text); }).starts_with(text + ": "));
  const std::string missing = file("missing.onnx").string();
  EXPECT_TRUE(error_of([&] { deepjet::onnx::import_model<DeepJet>(missing); }).starts_with(missing + ": "));
}


// ---- ONNX's own node conformance tests (Debian's libonnx-testdata) ------------------------------
//
// Each test directory holds model.onnx, whose weights are graph inputs, and test_data_set_0 with
// input_<i>.pb and output_<i>.pb. The weights (inputs from `data_inputs` on) become initializers
// here, the model is imported into a declared deepjet type, run on input_<i> for i < data_inputs
// (batch first: the tests used here have a sequence length of 1 where ONNX puts the sequence
// first, so the memory is the same) and compared with output_0.

const std::string conformance_root = "/usr/share/libonnx-testdata/data/node/";

class OnnxConformance : public deepjet::test::TemporaryDirectoryTest {
 protected:
  OnnxConformance() : TemporaryDirectoryTest("deepjet-onnx-conformance") {}

  static ::onnx::TensorProto read_pb(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    ::onnx::TensorProto t;
    EXPECT_TRUE(t.ParseFromString(bytes)) << path;
    return t;
  }

  // The test's model with its weights as initializers, written to a file of ours.
  std::string prepare(const std::string& test, int data_inputs) {
    const std::string dir = conformance_root + test;
    ::onnx::ModelProto model;
    {
      std::ifstream in(dir + "/model.onnx", std::ios::binary);
      EXPECT_TRUE(model.ParseFromIstream(&in)) << test;
    }
    auto* graph = model.mutable_graph();
    for (int i = data_inputs; i < graph->input_size(); ++i) {
      auto t = read_pb(dir + "/test_data_set_0/input_" + std::to_string(i) + ".pb");
      t.set_name(graph->input(i).name());
      *graph->add_initializer() = t;
    }
    graph->mutable_input()->DeleteSubrange(data_inputs, graph->input_size() - data_inputs);
    const std::string path = file(test + ".onnx").string();
    std::ofstream out(path, std::ios::binary);
    model.SerializeToOstream(&out);
    return path;
  }

  // Imports `test` into Net and returns max |deepjet - ONNX's expected output 0|.
  // sequence_first: input 0 is [T, N, F] (ONNX's RNN layout), reordered to deepjet's [N, T, F].
  template <class Net>
  double run(const std::string& test, int data_inputs, bool sequence_first = false) {
    if (!std::filesystem::exists(conformance_root + test)) return -1;
    const std::string path = prepare(test, data_inputs);
    const auto model = deepjet::onnx::import_model<Net>(path);
    const std::string data = conformance_root + test + "/test_data_set_0/";
    using In = typename Net::input_shape;
    std::vector<std::vector<float>> inputs;
    for (int i = 0; i < data_inputs; ++i)
      inputs.push_back(deepjet::onnx::import_detail::read_tensor(read_pb(data + "input_" + std::to_string(i) + ".pb"), test).floats());
    const std::size_t count = inputs[0].size() / [] {
      if constexpr (deepjet::ShapesType<In>) return In::template part<0>::size;
      else return In::size;
    }();
    if constexpr (!deepjet::ShapesType<In>) {
      if (sequence_first) {
        constexpr std::size_t T = In::dims[0], F = In::size / In::dims[0];
        std::vector<float> batch_first(inputs[0].size());
        for (std::size_t t = 0; t < T; ++t)
          for (std::size_t n = 0; n < count; ++n)
            for (std::size_t f = 0; f < F; ++f) batch_first[(n * T + t) * F + f] = inputs[0][(t * count + n) * F + f];
        inputs[0] = batch_first;
      }
    }
    auto x = deepjet::make_tensors<In>(count);
    if constexpr (deepjet::ShapesType<In>) {
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((std::copy(inputs[I].begin(), inputs[I].end(), std::get<I>(x).data())), ...);
      }(std::make_index_sequence<In::count>{});
    } else {
      std::copy(inputs[0].begin(), inputs[0].end(), x.data());
    }
    const auto y = model.predict(x);
    const auto expected = deepjet::onnx::import_detail::read_tensor(read_pb(data + "output_0.pb"), test).floats();
    EXPECT_EQ(expected.size(), y.size()) << test;
    double worst = 0;
    for (std::size_t i = 0; i < std::min(expected.size(), y.size()); ++i)
      worst = std::isfinite(y.data()[i]) ? std::max(worst, std::abs(static_cast<double>(y.data()[i]) - expected[i])) : INFINITY;
    return worst;
  }

  template <class Net>
  void expect_matches(const std::string& test, int data_inputs, double tolerance = 1e-5, bool sequence_first = false) {
    SCOPED_TRACE(test);
    if (!std::filesystem::exists(conformance_root + test)) GTEST_SKIP() << "libonnx-testdata is not installed";
    double worst = -1;
    try {
      worst = run<Net>(test, data_inputs, sequence_first);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      return;
    }
    std::printf("%-45s max |deepjet - expected| = %.3g\n", test.c_str(), worst);
    EXPECT_LE(worst, tolerance);
  }

  template <class Net>
  void expect_refused(const std::string& test, int data_inputs, const std::string& reason) {
    SCOPED_TRACE(test);
    if (!std::filesystem::exists(conformance_root + test)) GTEST_SKIP() << "libonnx-testdata is not installed";
    const std::string path = prepare(test, data_inputs);
    const std::string message = error_of([&] { deepjet::onnx::import_model<Net>(path); });
    std::printf("%-45s refused: %s\n", test.c_str(), message.substr(message.find(": ") + 2).c_str());
    EXPECT_TRUE(message.starts_with(path)) << message;
    EXPECT_NE(message.find(reason), std::string::npos) << message;
  }
};

using deepjet::Input;
using deepjet::Inputs;
using deepjet::Sequential;
using deepjet::Shape;

TEST_F(OnnxConformance, ActivationsAndSoftmax) {
  expect_matches<Sequential<Input<4, 5>, deepjet::ReLU>>("test_relu", 1);
  expect_matches<Sequential<Input<4, 5>, deepjet::Tanh>>("test_tanh", 1);
  expect_matches<Sequential<Input<4, 5>, deepjet::Sigmoid>>("test_sigmoid", 1);
  expect_matches<Sequential<Input<4, 5>, deepjet::ELU>>("test_elu_default", 1);
  expect_matches<Sequential<Input<3>, deepjet::Softmax>>("test_softmax_example", 1);
  expect_matches<Sequential<Input<4>, deepjet::Softmax>>("test_softmax_large_number", 1);
  expect_matches<Sequential<Input<4, 5>, deepjet::Softmax>>("test_softmax_axis_2", 1);
  expect_matches<Sequential<Input<4, 5>, deepjet::Softmax>>("test_softmax_default_axis", 1);
  expect_matches<Sequential<Input<4, 5>, deepjet::Softmax>>("test_softmax_negative_axis", 1);
  expect_matches<Sequential<Input<4, 5>, deepjet::Dropout<0.5f>>>("test_dropout_default", 1);
}

TEST_F(OnnxConformance, GemmAndMatMul) {
  expect_matches<Sequential<Input<7>, deepjet::Dense<4>>>("test_gemm_default_vector_bias", 1);
  expect_matches<Sequential<Input<10>, deepjet::Dense<3>>>("test_gemm_default_no_bias", 1);
  expect_matches<Sequential<Input<3>, deepjet::Dense<4>>>("test_gemm_default_scalar_bias", 1);
  expect_matches<Sequential<Input<7>, deepjet::Dense<3>>>("test_gemm_default_single_elem_vector_bias", 1);
  expect_matches<Sequential<Input<5>, deepjet::Dense<4>>>("test_gemm_default_zero_bias", 1);
  expect_matches<Sequential<Input<5>, deepjet::Dense<4>>>("test_gemm_alpha", 1);
  expect_matches<Sequential<Input<7>, deepjet::Dense<4>>>("test_gemm_beta", 1);
  expect_matches<Sequential<Input<6>, deepjet::Dense<4>>>("test_gemm_transposeB", 1);
  expect_matches<Sequential<Input<4>, deepjet::Dense<3>>>("test_matmul_2d", 1);
}

TEST_F(OnnxConformance, ConcatAndAdd) {
  expect_matches<Sequential<Inputs<Shape<2>, Shape<2>>, deepjet::Concatenate>>("test_concat_2d_axis_1", 2);
  expect_matches<Sequential<Inputs<Shape<2>, Shape<2>>, deepjet::Concatenate>>("test_concat_2d_axis_negative_1", 2);
  expect_matches<Sequential<Inputs<Shape<2, 2>, Shape<2, 2>>, deepjet::Concatenate>>("test_concat_3d_axis_2", 2);
  expect_matches<Sequential<Inputs<Shape<2, 2>, Shape<2, 2>>, deepjet::Concatenate>>("test_concat_3d_axis_negative_1", 2);
  expect_matches<Sequential<Inputs<Shape<4, 5>, Shape<4, 5>>, deepjet::Add>>("test_add", 2);
}

TEST_F(OnnxConformance, Lstm) {
  // X is [sequence 1, batch 3, features]: a list of one entry per sample.
  expect_matches<Sequential<Input<1, 2>, deepjet::LSTM<3>>>("test_lstm_defaults", 1);
  expect_matches<Sequential<Input<1, 3>, deepjet::LSTM<4>>>("test_lstm_with_initial_bias", 1);
}

TEST_F(OnnxConformance, Gru) {
  // ONNX's defaults: Sigmoid, Tanh, linear_before_reset 0 (deepjet::reset_before), forward.
  expect_matches<Sequential<Input<1, 2>, deepjet::GRU<5, deepjet::reset_before>>>("test_gru_defaults", 1);
  expect_matches<Sequential<Input<1, 3>, deepjet::GRU<3, deepjet::reset_before>>>("test_gru_with_initial_bias", 1);
  // X is [sequence 2, batch 3, features 3]: reordered to batch first for deepjet.
  expect_matches<Sequential<Input<2, 3>, deepjet::GRU<5, deepjet::reset_before>>>("test_gru_seq_length", 1, 1e-5, true);
}

TEST_F(OnnxConformance, WhatDeepjetCannotExpressIsRefused) {
  expect_refused<Sequential<Input<1, 2>, deepjet::GRU<6, deepjet::reset_before>>>("test_gru_batchwise", 1,
                                                                                  "both its sequence output Y and its final state");
  expect_refused<Sequential<Input<1, 2>, deepjet::LSTM<7>>>("test_lstm_batchwise", 1, "both its sequence output Y and its final state");
  expect_refused<Sequential<Input<1, 4>, deepjet::LSTM<3>>>("test_lstm_with_peepholes", 1, "sequence_lens");
  expect_refused<Sequential<Input<4, 5>, deepjet::ELU>>("test_elu", 1, "alpha 2");
  expect_refused<Sequential<Input<4, 5>, deepjet::Softmax>>("test_softmax_axis_1", 1, "other than the features");
  expect_refused<Sequential<Input<3>, deepjet::Dense<4>>>("test_gemm_transposeA", 1, "transA");
  expect_refused<Sequential<Input<6>, deepjet::Dense<4>>>("test_gemm_default_matrix_bias", 1, "bias C of shape [3, 4]");
  expect_refused<Sequential<Inputs<Shape<2>, Shape<2>>, deepjet::Concatenate>>("test_concat_2d_axis_0", 2, "other than the features");
  // 2-D convolutions with 3x3 kernels: the input [1, 1, 7, 5] is no deepjet block.
  expect_refused<Sequential<Input<7, 5>, deepjet::Conv1D<1>>>("test_conv_with_strides_padding", 1, "graph input 'x' has shape [1, 1, 7, 5]");
}

// ---- small graphs in the idioms of other exporters, built here ----------------------------------

class OnnxGraphBuilder {
 public:
  explicit OnnxGraphBuilder(int opset) {
    model_.set_ir_version(7);
    model_.set_producer_name("deepjet test");
    auto* o = model_.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    graph_ = model_.mutable_graph();
    graph_->set_name("test");
  }
  // dims: -1 for the batch.
  void input(const std::string& name, const std::vector<std::int64_t>& dims) { value_info(graph_->add_input(), name, dims); }
  void output(const std::string& name, const std::vector<std::int64_t>& dims) { value_info(graph_->add_output(), name, dims); }
  // A float initializer filled by f(i); also listed as a graph input if `as_input` (MXNet does).
  std::vector<float> weight(const std::string& name, const std::vector<std::int64_t>& dims, double scale, double phase,
                            bool as_input = false, double offset = 0.0) {
    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::FLOAT);
    std::size_t n = 1;
    for (auto d : dims) {
      t->add_dims(d);
      n *= static_cast<std::size_t>(d);
    }
    std::vector<float> values(n);
    for (std::size_t i = 0; i < n; ++i) values[i] = static_cast<float>(offset + scale * std::sin(0.37 * static_cast<double>(i) + phase));
    for (float v : values) t->add_float_data(v);
    if (as_input) value_info(graph_->add_input(), name, dims);
    return values;
  }
  void ints(const std::string& name, const std::vector<std::int64_t>& values) {
    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::INT64);
    t->add_dims(static_cast<std::int64_t>(values.size()));
    for (auto v : values) t->add_int64_data(v);
  }
  ::onnx::NodeProto* node(const std::string& op, const std::string& name, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs) {
    auto* n = graph_->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return n;
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, std::int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, const std::string& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, const std::vector<std::int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, const std::vector<float>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::FLOATS);
    for (auto x : v) a->add_floats(x);
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, const std::vector<std::string>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::STRINGS);
    for (const auto& x : v) a->add_strings(x);
  }
  std::string save(const std::string& path) const {
    std::ofstream out(path, std::ios::binary);
    model_.SerializeToOstream(&out);
    return path;
  }

 private:
  static void value_info(::onnx::ValueInfoProto* info, const std::string& name, const std::vector<std::int64_t>& dims) {
    info->set_name(name);
    auto* tensor = info->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(::onnx::TensorProto::FLOAT);
    for (auto d : dims) {
      auto* dim = tensor->mutable_shape()->add_dim();
      if (d < 0) dim->set_dim_param("N");
      else dim->set_dim_value(d);
    }
  }
  ::onnx::ModelProto model_;
  ::onnx::GraphProto* graph_ = nullptr;
};

// Deterministic inputs.
std::vector<float> sample_values(std::size_t n, double phase) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(std::sin(0.731 * static_cast<double>(i) + phase) * 1.5);
  return v;
}

class OnnxExporterIdioms : public deepjet::test::TemporaryDirectoryTest {
 protected:
  OnnxExporterIdioms() : TemporaryDirectoryTest("deepjet-onnx-idioms") {}
};

// MXNet: a channels-first [N, C, P, 1] input, every weight also listed as a graph input, a 2-D
// convolution with a (3, 1) kernel padded (1, 0, 1, 0) = 'same', BatchNormalization, Relu,
// GlobalAveragePool, Flatten, Gemm (transB) and Softmax (opset 9: over the axes from 1 on).
TEST_F(OnnxExporterIdioms, MxnetStyleChannelsFirstConvolution) {
  constexpr std::size_t P = 6, C = 3, F = 4, K = 3, Classes = 2, N = 5;
  constexpr float epsilon = 2e-5f;
  OnnxGraphBuilder b(9);
  b.input("data", {-1, C, P, 1});
  const auto w = b.weight("conv_weight", {F, C, K, 1}, 0.5, 0.1, true);
  const auto bias = b.weight("conv_bias", {F}, 0.2, 0.3, true);
  const auto gamma = b.weight("bn_gamma", {F}, 0.3, 1.0, true, 1.0);
  const auto beta = b.weight("bn_beta", {F}, 0.2, 2.0, true);
  auto mean = b.weight("bn_moving_mean", {F}, 0.1, 3.0, true);
  auto var = b.weight("bn_moving_var", {F}, 0.2, 4.0, true, 1.0);
  const auto fc = b.weight("fc_weight", {Classes, F}, 0.8, 5.0, true);
  const auto fc_bias = b.weight("fc_bias", {Classes}, 0.1, 6.0, true);
  auto* conv = b.node("Conv", "conv0", {"data", "conv_weight", "conv_bias"}, {"conv0_out"});
  OnnxGraphBuilder::attr(conv, "kernel_shape", std::vector<std::int64_t>{3, 1});
  OnnxGraphBuilder::attr(conv, "pads", std::vector<std::int64_t>{1, 0, 1, 0});
  OnnxGraphBuilder::attr(conv, "strides", std::vector<std::int64_t>{1, 1});
  auto* bn = b.node("BatchNormalization", "bn0", {"conv0_out", "bn_gamma", "bn_beta", "bn_moving_mean", "bn_moving_var"}, {"bn0_out"});
  OnnxGraphBuilder::attr(bn, "epsilon", epsilon);
  b.node("Relu", "relu0", {"bn0_out"}, {"relu0_out"});
  b.node("GlobalAveragePool", "pool0", {"relu0_out"}, {"pool0_out"});
  b.node("Flatten", "flatten0", {"pool0_out"}, {"flatten0_out"});
  auto* gemm = b.node("Gemm", "fc0", {"flatten0_out", "fc_weight", "fc_bias"}, {"fc0_out"});
  OnnxGraphBuilder::attr(gemm, "transB", std::int64_t{1});
  b.node("Softmax", "softmax0", {"fc0_out"}, {"softmax0_out"});
  b.output("softmax0_out", {-1, Classes});
  const auto path = b.save(file("mxnet.onnx").string());

  using Net = Sequential<Input<P, C>, deepjet::Conv1D<F, K, 1, deepjet::same>, deepjet::BatchNorm<0.1f, epsilon>, deepjet::ReLU,
                         deepjet::GlobalAveragePooling, deepjet::Dense<Classes>, deepjet::Softmax>;
  deepjet::onnx::ImportReport report;
  const auto model = deepjet::onnx::import_model<Net>(path, {.report = &report});
  EXPECT_NE(report.inputs.at(0).layout.find("channels-first"), std::string::npos) << report.to_string();

  // deepjet takes the list channels-last (P, C): x[n][p][c].
  const auto x_values = sample_values(N * P * C, 0.2);
  auto x = deepjet::make_tensors<Net::input_shape>(N);
  std::copy(x_values.begin(), x_values.end(), x.data());
  const auto y = model.predict(x);
  double worst = 0;
  for (std::size_t n = 0; n < N; ++n) {
    std::vector<double> pooled(F, 0.0);
    for (std::size_t p = 0; p < P; ++p)
      for (std::size_t f = 0; f < F; ++f) {
        double s = bias[f];
        for (std::size_t j = 0; j < K; ++j) {
          const std::ptrdiff_t q = static_cast<std::ptrdiff_t>(p + j) - 1;
          if (q < 0 || q >= static_cast<std::ptrdiff_t>(P)) continue;
          for (std::size_t c = 0; c < C; ++c)
            s += x_values[(n * P + static_cast<std::size_t>(q)) * C + c] * static_cast<double>(w[(f * C + c) * K + j]);
        }
        s = gamma[f] * (s - mean[f]) / std::sqrt(static_cast<double>(var[f]) + epsilon) + beta[f];
        pooled[f] += std::max(s, 0.0) / P;
      }
    std::vector<double> logits(Classes);
    double total = 0;
    for (std::size_t k = 0; k < Classes; ++k) {
      logits[k] = fc_bias[k];
      for (std::size_t f = 0; f < F; ++f) logits[k] += fc[k * F + f] * pooled[f];
    }
    const double top = *std::max_element(logits.begin(), logits.end());
    for (auto& l : logits) total += (l = std::exp(l - top));
    for (std::size_t k = 0; k < Classes; ++k) {
      const double difference = std::abs(y(n, k) - logits[k] / total);
      worst = std::isfinite(difference) ? std::max(worst, difference) : INFINITY;
    }
  }
  std::printf("MXNet-style graph: max |deepjet - reference| = %.3g (first outputs %.6f, %.6f)\n", worst, y(0, 0), y(1, 0));
  EXPECT_LE(worst, 1e-5);
}

// MXNet's stride-2 convolutions as CMS's DeepAK8 file has them: kernel (3, 1), pads (1, 0, 1, 0) =
// one zero row on each side of the list ('symmetric', not 'same'), strides (2, 2), no bias; the
// stride along the axis of size 1 reads its one entry, so it is accepted.
TEST_F(OnnxExporterIdioms, MxnetStrideTwoSymmetricConvolution) {
  constexpr std::size_t P = 7, C = 3, F = 4, K = 3, N = 3, Out = (P + 2 - K) / 2 + 1;
  OnnxGraphBuilder b(9);
  b.input("data", {-1, C, P, 1});
  const auto w = b.weight("conv_weight", {F, C, K, 1}, 0.5, 0.1, true);
  auto* conv = b.node("Conv", "conv0", {"data", "conv_weight"}, {"conv0_out"});
  OnnxGraphBuilder::attr(conv, "kernel_shape", std::vector<std::int64_t>{3, 1});
  OnnxGraphBuilder::attr(conv, "pads", std::vector<std::int64_t>{1, 0, 1, 0});
  OnnxGraphBuilder::attr(conv, "strides", std::vector<std::int64_t>{2, 2});
  b.node("GlobalAveragePool", "pool0", {"conv0_out"}, {"pool0_out"});
  b.node("Flatten", "flatten0", {"pool0_out"}, {"flatten0_out"});
  b.output("flatten0_out", {-1, F});
  const auto path = b.save(file("mxnet_stride2.onnx").string());

  using Net = Sequential<Input<P, C>, deepjet::Conv1D<F, K, 2, deepjet::symmetric, false>, deepjet::GlobalAveragePooling>;
  const auto model = deepjet::onnx::import_model<Net>(path);
  const auto x_values = sample_values(N * P * C, 0.4);
  auto x = deepjet::make_tensors<Net::input_shape>(N);
  std::copy(x_values.begin(), x_values.end(), x.data());
  const auto y = model.predict(x);
  double worst = 0;
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t f = 0; f < F; ++f) {
      double pooled = 0;
      for (std::size_t o = 0; o < Out; ++o)
        for (std::size_t j = 0; j < K; ++j) {
          const std::ptrdiff_t q = static_cast<std::ptrdiff_t>(2 * o + j) - 1;  // one zero row before
          if (q < 0 || q >= static_cast<std::ptrdiff_t>(P)) continue;
          for (std::size_t c = 0; c < C; ++c)
            pooled += x_values[(n * P + static_cast<std::size_t>(q)) * C + c] * static_cast<double>(w[(f * C + c) * K + j]) / Out;
        }
      worst = std::max(worst, std::abs(y(n, f) - pooled));
    }
  // float32 sums of 9 products of values below 1.5 against double: a few ulps.
  EXPECT_LE(worst, 1e-5);
}

// tf2onnx / keras2onnx with Keras 2.2's LSTM: the list transposed to [T, N, F], LSTM with
// direction reverse and HardSigmoid gates, Y_h squeezed, then a residual block (MatMul + Add,
// Relu, Add of the shortcut).
struct LstmGraph {
  static constexpr std::size_t T = 5, F = 3, H = 4, N = 3;
  std::vector<float> W, R, B, dense, dense_bias;
  std::string build(const std::string& path, const std::string& gate = "HardSigmoid", float alpha = 0.2f,
                    bool peepholes = false, bool erf = false) {
    OnnxGraphBuilder b(13);
    b.input("x", {-1, T, F});
    W = b.weight("W", {1, 4 * H, F}, 0.6, 0.1);
    R = b.weight("R", {1, 4 * H, H}, 0.5, 0.7);
    B = b.weight("B", {1, 8 * H}, 0.3, 1.3);
    dense = b.weight("dense/kernel", {H, H}, 0.7, 2.1);
    dense_bias = b.weight("dense/bias", {H}, 0.2, 2.9);
    b.ints("squeeze_axes", {0});
    auto* t = b.node("Transpose", "to_time_major", {"x"}, {"x_t"});
    OnnxGraphBuilder::attr(t, "perm", std::vector<std::int64_t>{1, 0, 2});
    std::vector<std::string> inputs{"x_t", "W", "R", "B", "", "", ""};
    if (peepholes) {
      b.weight("P", {1, 3 * H}, 0.1, 0.5);
      inputs.push_back("P");
    }
    auto* lstm = b.node("LSTM", "lstm", inputs, {"", "Y_h"});
    OnnxGraphBuilder::attr(lstm, "hidden_size", static_cast<std::int64_t>(H));
    OnnxGraphBuilder::attr(lstm, "direction", std::string("reverse"));
    OnnxGraphBuilder::attr(lstm, "activations", std::vector<std::string>{gate, "Tanh", "Tanh"});
    if (gate == "HardSigmoid") {
      OnnxGraphBuilder::attr(lstm, "activation_alpha", std::vector<float>{alpha});
      OnnxGraphBuilder::attr(lstm, "activation_beta", std::vector<float>{0.5f});
    }
    b.node("Squeeze", "squeeze", {"Y_h", "squeeze_axes"}, {"state"});
    b.node("MatMul", "dense", {"state", "dense/kernel"}, {"dense_mm"});
    b.node("Add", "dense_bias_add", {"dense_mm", "dense/bias"}, {"dense_out"});
    b.node("Relu", "relu", {"dense_out"}, {"relu_out"});
    b.node("Add", "residual", {"state", "relu_out"}, {erf ? "sum" : "y"});
    if (erf) b.node("Erf", "gelu_part", {"sum"}, {"y"});
    b.output("y", {-1, H});
    return b.save(path);
  }
  // ONNX's LSTM run by hand (gates i, o, f, c; reverse direction), then the residual block.
  std::vector<double> reference(const std::vector<float>& x, bool hard) const {
    std::vector<double> out;
    auto gate = [&](double z) { return hard ? std::clamp(0.2 * z + 0.5, 0.0, 1.0) : 1.0 / (1.0 + std::exp(-z)); };
    for (std::size_t n = 0; n < N; ++n) {
      std::vector<double> h(H, 0.0), c(H, 0.0);
      for (std::size_t s = 0; s < T; ++s) {
        const std::size_t t = T - 1 - s;
        std::vector<double> z(4 * H);
        for (std::size_t r = 0; r < 4 * H; ++r) {
          z[r] = static_cast<double>(B[r]) + B[4 * H + r];
          for (std::size_t f = 0; f < F; ++f) z[r] += W[r * F + f] * static_cast<double>(x[(n * T + t) * F + f]);
          for (std::size_t k = 0; k < H; ++k) z[r] += R[r * H + k] * h[k];
        }
        for (std::size_t u = 0; u < H; ++u) {
          const double i = gate(z[u]), o = gate(z[H + u]), f = gate(z[2 * H + u]), g = std::tanh(z[3 * H + u]);
          c[u] = f * c[u] + i * g;
          h[u] = o * std::tanh(c[u]);
        }
      }
      for (std::size_t u = 0; u < H; ++u) {
        double d = dense_bias[u];
        for (std::size_t k = 0; k < H; ++k) d += h[k] * dense[k * H + u];
        out.push_back(h[u] + std::max(d, 0.0));
      }
    }
    return out;
  }
};

using HardLstmNet = Sequential<Input<LstmGraph::T, LstmGraph::F>,
                               deepjet::LSTM<LstmGraph::H, deepjet::backwards, deepjet::hard_sigmoid_gates>,
                               deepjet::Residual<deepjet::Stack<deepjet::Dense<LstmGraph::H>, deepjet::ReLU>>>;

TEST_F(OnnxExporterIdioms, KerasStyleReverseHardSigmoidLstmWithResidual) {
  LstmGraph graph;
  const auto path = graph.build(file("keras.onnx").string());
  deepjet::onnx::ImportReport report;
  const auto predictor = deepjet::onnx::import_predictor<HardLstmNet>(path, {.report = &report});
  const auto x_values = sample_values(LstmGraph::N * LstmGraph::T * LstmGraph::F, 0.4);
  auto x = deepjet::make_tensors<HardLstmNet::input_shape>(LstmGraph::N);
  std::copy(x_values.begin(), x_values.end(), x.data());
  const auto y = predictor.predict(x);
  const auto expected = graph.reference(x_values, true);
  double worst = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double difference = std::abs(y.data()[i] - expected[i]);
    worst = std::isfinite(difference) ? std::max(worst, difference) : INFINITY;
  }
  std::printf("Keras-style reverse hard-sigmoid LSTM + residual: max |deepjet - reference| = %.3g\n", worst);
  EXPECT_LE(worst, 1e-5);
  std::printf("%s", report.to_string().c_str());
}

TEST_F(OnnxExporterIdioms, WhatTheGraphComputesDifferentlyIsRefused) {
  LstmGraph graph;
  auto refused = [&](const std::string& name, auto net, const std::string& fragment, auto&&... build_args) {
    const auto path = graph.build(file(name).string(), build_args...);
    const std::string message = error_of([&] { deepjet::onnx::import_model<decltype(net)>(path); });
    std::printf("%s\n", message.c_str());
    EXPECT_TRUE(message.starts_with(path + ": ")) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
  };
  refused("erf.onnx", HardLstmNet{}, "ONNX node 'gelu_part' (Erf", std::string("HardSigmoid"), 0.2f, false, true);
  refused("peepholes.onnx", HardLstmNet{}, "peephole", std::string("HardSigmoid"), 0.2f, true);
  refused("alpha.onnx", HardLstmNet{}, "HardSigmoid(0.3, 0.5)", std::string("HardSigmoid"), 0.3f);
  refused("relu_gates.onnx", HardLstmNet{}, "uses 'Relu' for its gates", std::string("Relu"));
  using SigmoidNet = Sequential<Input<LstmGraph::T, LstmGraph::F>, deepjet::LSTM<LstmGraph::H, deepjet::backwards>,
                                deepjet::Residual<deepjet::Stack<deepjet::Dense<LstmGraph::H>, deepjet::ReLU>>>;
  refused("sigmoid_type.onnx", SigmoidNet{}, "declare the layer with deepjet::hard_sigmoid_gates", std::string("HardSigmoid"));
  using NoResidual = Sequential<Input<LstmGraph::T, LstmGraph::F>,
                                deepjet::LSTM<LstmGraph::H, deepjet::backwards, deepjet::hard_sigmoid_gates>,
                                deepjet::Dense<LstmGraph::H>, deepjet::ReLU>;
  refused("no_residual.onnx", NoResidual{}, "'residual' (Add", std::string("HardSigmoid"));
}

// ONNX GRU, built here in the idioms of keras2onnx (HardSigmoid gates, linear_before_reset 0,
// direction reverse) and PyTorch (Sigmoid gates, linear_before_reset 1, forward; or forward over
// a list reversed by Slice): the list transposed to [T, N, F], the GRU, Y_h squeezed (or Y, the
// whole sequence, back to [N, T, H]). Compared with ONNX's GRU equations run by hand.
struct GruGraph {
  static constexpr std::size_t T = 5, F = 3, H = 4, N = 3;
  std::vector<float> W, R, B;
  struct Options {
    bool linear_before_reset = false;
    const char* direction = "forward";  // or "reverse"
    bool hard_sigmoid = false;
    bool slice_reversed = false;         // a Slice with step -1 reverses the list before the GRU
    bool sequence = false;               // read Y instead of Y_h
    const char* extra_attribute = "";    // "clip", "bidirectional", "relu", "initial_h", "sequence_lens"
  };
  std::string build(const std::string& path, const Options& o) {
    OnnxGraphBuilder b(13);
    b.input("x", {-1, T, F});
    W = b.weight("W", {1, 3 * H, F}, 0.6, 0.1);
    R = b.weight("R", {1, 3 * H, H}, 0.5, 0.7);
    B = b.weight("B", {1, 6 * H}, 0.3, 1.3);
    auto* t = b.node("Transpose", "to_time_major", {"x"}, {"x_t"});
    OnnxGraphBuilder::attr(t, "perm", std::vector<std::int64_t>{1, 0, 2});
    std::string gru_input = "x_t";
    if (o.slice_reversed) {
      b.ints("slice_starts", {-1});
      b.ints("slice_ends", {std::numeric_limits<std::int64_t>::min()});
      b.ints("slice_axes", {0});
      b.ints("slice_steps", {-1});
      b.node("Slice", "reverse_list", {"x_t", "slice_starts", "slice_ends", "slice_axes", "slice_steps"}, {"x_reversed"});
      gru_input = "x_reversed";
    }
    std::vector<std::string> inputs{gru_input, "W", "R", "B"};
    if (std::string(o.extra_attribute) == "sequence_lens") {
      b.ints("lengths", {static_cast<std::int64_t>(T)});
      inputs.push_back("lengths");
    }
    if (std::string(o.extra_attribute) == "initial_h") {
      b.weight("h0", {1, 1, H}, 0.4, 0.2);
      inputs.push_back("");
      inputs.push_back("h0");
    }
    auto* gru = b.node("GRU", "gru", inputs, {o.sequence ? "Y" : "", o.sequence ? "" : "Y_h"});
    OnnxGraphBuilder::attr(gru, "hidden_size", static_cast<std::int64_t>(H));
    OnnxGraphBuilder::attr(gru, "direction", std::string(o.extra_attribute) == "bidirectional" ? std::string("bidirectional") : std::string(o.direction));
    OnnxGraphBuilder::attr(gru, "linear_before_reset", static_cast<std::int64_t>(o.linear_before_reset));
    if (o.hard_sigmoid || std::string(o.extra_attribute) == "relu") {
      OnnxGraphBuilder::attr(gru, "activations", std::vector<std::string>{o.hard_sigmoid ? "HardSigmoid" : "Sigmoid",
                                                                           std::string(o.extra_attribute) == "relu" ? "Relu" : "Tanh"});
      if (o.hard_sigmoid) {
        OnnxGraphBuilder::attr(gru, "activation_alpha", std::vector<float>{0.2f});
        OnnxGraphBuilder::attr(gru, "activation_beta", std::vector<float>{0.5f});
      }
    }
    if (std::string(o.extra_attribute) == "clip") OnnxGraphBuilder::attr(gru, "clip", 3.0f);
    if (o.sequence) {
      b.ints("squeeze_axes", {1});
      b.node("Squeeze", "squeeze", {"Y", "squeeze_axes"}, {"y_tnh"});
      auto* back = b.node("Transpose", "to_batch_major", {"y_tnh"}, {"y"});
      OnnxGraphBuilder::attr(back, "perm", std::vector<std::int64_t>{1, 0, 2});
      b.output("y", {-1, T, H});
    } else {
      b.ints("squeeze_axes", {0});
      b.node("Squeeze", "squeeze", {"Y_h", "squeeze_axes"}, {"y"});
      b.output("y", {-1, H});
    }
    return b.save(path);
  }
  // ONNX's GRU by hand (gates z, r, h; defs of the GRU operator), over the physical order of the
  // list it is given; outputs Y_h, or Y in the list's order. With slice_reversed, the GRU is given
  // the list reversed, and Y (not tested with it) would be too.
  std::vector<double> reference(const std::vector<float>& x, const Options& o) const {
    std::vector<double> out(o.sequence ? N * T * H : N * H);
    auto gate = [&](double v) { return o.hard_sigmoid ? std::clamp(0.2 * v + 0.5, 0.0, 1.0) : 1.0 / (1.0 + std::exp(-v)); };
    const bool reverse = (std::string(o.direction) == "reverse") != o.slice_reversed;
    for (std::size_t n = 0; n < N; ++n) {
      std::vector<double> h(H, 0.0);
      for (std::size_t s = 0; s < T; ++s) {
        const std::size_t t = reverse ? T - 1 - s : s;
        auto input_part = [&](std::size_t row) {
          double v = B[row];
          for (std::size_t f = 0; f < F; ++f) v += W[row * F + f] * static_cast<double>(x[(n * T + t) * F + f]);
          return v;
        };
        auto recurrent_part = [&](std::size_t row, const std::vector<double>& state) {
          double v = 0;
          for (std::size_t k = 0; k < H; ++k) v += R[row * H + k] * state[k];
          return v;
        };
        std::vector<double> z(H), r(H), rh(H), next(H);
        for (std::size_t u = 0; u < H; ++u) {
          z[u] = gate(input_part(u) + recurrent_part(u, h) + B[3 * H + u]);
          r[u] = gate(input_part(H + u) + recurrent_part(H + u, h) + B[3 * H + H + u]);
          rh[u] = r[u] * h[u];
        }
        for (std::size_t u = 0; u < H; ++u) {
          const std::size_t row = 2 * H + u;
          const double candidate =
              o.linear_before_reset ? std::tanh(input_part(row) + r[u] * (recurrent_part(row, h) + B[3 * H + row]))
                                    : std::tanh(input_part(row) + recurrent_part(row, rh) + B[3 * H + row]);
          next[u] = (1 - z[u]) * candidate + z[u] * h[u];
        }
        h = next;
        if (o.sequence)
          for (std::size_t u = 0; u < H; ++u) out[(n * T + t) * H + u] = h[u];
      }
      if (!o.sequence)
        for (std::size_t u = 0; u < H; ++u) out[n * H + u] = h[u];
    }
    return out;
  }
};

template <class Net>
double gru_graph_difference(const std::string& path, GruGraph& graph, const GruGraph::Options& options,
                            deepjet::onnx::ImportReport* report = nullptr) {
  const auto model = deepjet::onnx::import_model<Net>(path, {.report = report});
  const auto predictor = deepjet::onnx::import_predictor<Net>(path);
  const auto x_values = sample_values(GruGraph::N * GruGraph::T * GruGraph::F, 0.4);
  auto x = deepjet::make_tensors<typename Net::input_shape>(GruGraph::N);
  std::copy(x_values.begin(), x_values.end(), x.data());
  const auto expected = graph.reference(x_values, options);
  double worst = 0;
  for (const auto& y : {model.predict(x), predictor.predict(x)}) {
    EXPECT_EQ(y.size(), expected.size());
    for (std::size_t i = 0; i < std::min(expected.size(), y.size()); ++i) {
      const double difference = std::abs(y.data()[i] - expected[i]);
      worst = std::isfinite(difference) ? std::max(worst, difference) : INFINITY;
    }
  }
  return worst;
}

using GruInput = Input<GruGraph::T, GruGraph::F>;

TEST_F(OnnxExporterIdioms, GruBothResetConventionsBothDirectionsMatchOnnxEquations) {
  GruGraph graph;
  auto check = [&](const std::string& name, auto net, GruGraph::Options options) {
    using Net = decltype(net);
    const auto path = graph.build(file(name).string(), options);
    deepjet::onnx::ImportReport report;
    double worst = INFINITY;
    try {
      worst = gru_graph_difference<Net>(path, graph, options, &report);
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ": " << e.what();
      return;
    }
    std::printf("GRU %-28s max |deepjet - ONNX equations| = %.3g\n", name.c_str(), worst);
    EXPECT_LE(worst, 1e-5) << name;
  };
  using deepjet::GRU;
  // keras2onnx with Keras 2.2: linear_before_reset 0, HardSigmoid, reverse.
  check("lbr0_reverse_hard.onnx", Sequential<GruInput, GRU<GruGraph::H, deepjet::reset_before, deepjet::backwards, deepjet::hard_sigmoid_gates>>{},
        {.linear_before_reset = false, .direction = "reverse", .hard_sigmoid = true});
  check("lbr0_forward.onnx", Sequential<GruInput, GRU<GruGraph::H, deepjet::reset_before>>{},
        {.linear_before_reset = false, .direction = "forward"});
  // PyTorch nn.GRU: linear_before_reset 1, Sigmoid.
  check("lbr1_forward.onnx", Sequential<GruInput, GRU<GruGraph::H, deepjet::reset_after>>{},
        {.linear_before_reset = true, .direction = "forward"});
  check("lbr1_reverse.onnx", Sequential<GruInput, GRU<GruGraph::H, deepjet::reset_after, deepjet::backwards>>{},
        {.linear_before_reset = true, .direction = "reverse"});
  // PyTorch's idiom for a backward GRU: the list reversed by Slice, then a forward GRU.
  check("lbr1_slice_reversed.onnx", Sequential<GruInput, GRU<GruGraph::H, deepjet::reset_after, deepjet::backwards>>{},
        {.linear_before_reset = true, .direction = "forward", .slice_reversed = true});
  // The whole sequence Y, in the list's order.
  check("lbr1_reverse_sequence.onnx",
        Sequential<GruInput, GRU<GruGraph::H, deepjet::reset_after, deepjet::backwards, deepjet::return_sequences>>{},
        {.linear_before_reset = true, .direction = "reverse", .sequence = true});
  check("lbr0_forward_sequence_hard.onnx",
        Sequential<GruInput, GRU<GruGraph::H, deepjet::reset_before, deepjet::return_sequences, deepjet::hard_sigmoid_gates>>{},
        {.linear_before_reset = false, .direction = "forward", .hard_sigmoid = true, .sequence = true});
}

TEST_F(OnnxExporterIdioms, GruThatDeepjetCannotExpressOrThatTheTypeContradictsIsRefused) {
  GruGraph graph;
  auto refused = [&](const std::string& name, auto net, const std::string& fragment, GruGraph::Options options) {
    const auto path = graph.build(file(name).string(), options);
    const std::string message = error_of([&] { deepjet::onnx::import_model<decltype(net)>(path); });
    std::printf("%s\n", message.c_str());
    EXPECT_TRUE(message.starts_with(path + ": ")) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
  };
  using deepjet::GRU;
  using Before = Sequential<GruInput, GRU<GruGraph::H, deepjet::reset_before>>;
  using After = Sequential<GruInput, GRU<GruGraph::H, deepjet::reset_after>>;
  refused("clip.onnx", Before{}, "clips its gate inputs (clip)", {.extra_attribute = "clip"});
  refused("bidirectional.onnx", Before{}, "runs in direction 'bidirectional'", {.extra_attribute = "bidirectional"});
  refused("relu.onnx", Before{}, "uses Relu for its candidate; deepjet's GRU uses Tanh", {.extra_attribute = "relu"});
  refused("lengths.onnx", Before{}, "has sequence_lens", {.extra_attribute = "sequence_lens"});
  refused("initial_h.onnx", Before{}, "starts from a non-zero initial state", {.extra_attribute = "initial_h"});
  // The type disagrees with the graph: each names the node and the layer.
  refused("lbr1_into_before.onnx", Before{}, "linear_before_reset = 1", {.linear_before_reset = true});
  refused("lbr0_into_after.onnx", After{}, "declare the layer with deepjet::reset_before", {.linear_before_reset = false});
  refused("reverse_into_forward.onnx", After{}, "the ONNX GRU reads the list backwards",
          {.linear_before_reset = true, .direction = "reverse"});
  refused("hard_into_sigmoid.onnx", Before{}, "declare the layer with deepjet::hard_sigmoid_gates", {.hard_sigmoid = true});
  refused("sequence_into_last.onnx", Before{}, "-> (5, 4), the layer (5, 3) -> (4)", {.sequence = true});
}

// Two heads on one trunk (deepjet::Heads), written by the exporter in the other order.
TEST_F(OnnxExporterIdioms, ParallelHeadsMatchedByShapeInAnyNodeOrder) {
  OnnxGraphBuilder b(14);
  b.input("x", {-1, 4});
  const auto regression = b.weight("regression.weight", {1, 4}, 0.5, 0.2);
  const auto regression_bias = b.weight("regression.bias", {1}, 0.1, 0.4);
  const auto classes = b.weight("classes.weight", {3, 4}, 0.7, 0.9);
  const auto classes_bias = b.weight("classes.bias", {3}, 0.2, 1.7);
  auto* r = b.node("Gemm", "/regression/Gemm", {"x", "regression.weight", "regression.bias"}, {"value"});
  OnnxGraphBuilder::attr(r, "transB", std::int64_t{1});
  auto* c = b.node("Gemm", "/classes/Gemm", {"x", "classes.weight", "classes.bias"}, {"logits"});
  OnnxGraphBuilder::attr(c, "transB", std::int64_t{1});
  auto* s = b.node("Softmax", "/classes/Softmax", {"logits"}, {"probabilities"});
  OnnxGraphBuilder::attr(s, "axis", std::int64_t{1});
  b.output("probabilities", {-1, 3});
  b.output("value", {-1, 1});
  const auto path = b.save(file("heads.onnx").string());
  using Net = Sequential<Input<4>, deepjet::Heads<deepjet::Stack<deepjet::Dense<3>, deepjet::Softmax>, deepjet::Stack<deepjet::Dense<1>>>>;
  const auto model = deepjet::onnx::import_model<Net>(path);
  auto x = deepjet::make_tensors<Net::input_shape>(2);
  const auto x_values = sample_values(8, 0.3);
  std::copy(x_values.begin(), x_values.end(), x.data());
  const auto [p, v] = model.predict(x);
  for (std::size_t n = 0; n < 2; ++n) {
    double value = regression_bias[0], logits[3], total = 0;
    for (std::size_t i = 0; i < 4; ++i) value += regression[i] * static_cast<double>(x_values[n * 4 + i]);
    for (std::size_t k = 0; k < 3; ++k) {
      logits[k] = classes_bias[k];
      for (std::size_t i = 0; i < 4; ++i) logits[k] += classes[k * 4 + i] * static_cast<double>(x_values[n * 4 + i]);
      total += std::exp(logits[k]);
    }
    EXPECT_NEAR(v(n, 0), value, 1e-6);
    for (std::size_t k = 0; k < 3; ++k) EXPECT_NEAR(p(n, k), std::exp(logits[k]) / total, 1e-6);
  }
}

// Found while fuzzing (tests/fuzz_models): absurd dimensions in a file that parses. An initializer
// declared [2^32, 2^32] with no values had its element count wrap around to 0, so "0 values for
// 0" passed the size check; a ConstantOfShape of [10^6, 10^6, 10^6] asked for 8 * 10^18 bytes
// (AddressSanitizer aborted the fuzz target).
// Both now end in an error naming the tensor (ONNX's checker is off, as a hostile file need not
// pass it).
TEST_F(OnnxExporterIdioms, AbsurdDimensionsAreRefusedBeforeAnyAllocation) {
  using Net = Sequential<Input<2>, deepjet::Dense<3>>;
  auto build = [&](const std::string& name, bool huge_weight, bool constant_of_shape) {
    OnnxGraphBuilder b(14);
    b.input("x", {-1, 2});
    b.weight("w", {2, 3}, 0.5, 0.1);
    b.weight("b", {3}, 0.2, 0.3);
    b.node("Gemm", "dense", {"x", "w", "b"}, {"y"});
    if (constant_of_shape) {
      b.ints("absurd_shape", {1000000, 1000000, 1000000});
      b.node("ConstantOfShape", "fill", {"absurd_shape"}, {"filled"});
    }
    b.output("y", {-1, 3});
    const auto path = b.save(file(name).string());
    if (huge_weight) {
      ::onnx::ModelProto model;
      std::ifstream in(path, std::ios::binary);
      ASSERT_TRUE(model.ParseFromIstream(&in));
      auto* w = model.mutable_graph()->mutable_initializer(0);
      w->clear_dims();
      w->add_dims(std::int64_t{1} << 32);
      w->add_dims(std::int64_t{1} << 32);
      w->clear_float_data();
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      model.SerializeToOstream(&out);
    }
  };
  build("valid.onnx", false, false);
  EXPECT_NO_THROW((void)deepjet::onnx::import_model<Net>(file("valid.onnx")));
  build("huge_weight.onnx", true, false);
  std::string message =
      error_of([&] { deepjet::onnx::import_model<Net>(file("huge_weight.onnx"), {.check_model = false}); });
  EXPECT_NE(message.find("[4294967296, 4294967296], more than the 67108864 values"), std::string::npos) << message;
  build("constant_of_shape.onnx", false, true);
  message = error_of([&] { deepjet::onnx::import_model<Net>(file("constant_of_shape.onnx"), {.check_model = false}); });
  EXPECT_NE(message.find("ConstantOfShape node 'fill' has dimensions [1000000, 1000000, 1000000]"), std::string::npos)
      << message;
}

}  // namespace
