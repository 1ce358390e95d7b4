// Tests of deepjet/interchange/onnx/writer.hpp: the ONNX file of a model computes in ONNX Runtime
// what deepjet's Predictor computes, for the reference models (DeepJet, the particle CNN, DeepCSV)
// and small models that cover every layer and option; the file passes ONNX's checker and strict
// shape inference, carries the names and metadata asked for, and a failed export leaves nothing.
//
// ONNX Runtime runs through node and scripts/onnxruntime/run.js (npm onnxruntime-node, installed by
// scripts/install-dependencies.sh --onnxruntime, which the test command scripts/test.sh runs). If
// it is missing, the comparisons are skipped, or FAIL when the environment variable CI is set.
//
// Tolerance, 1e-5 absolute on every output: both sides evaluate the same float32 function; they
// differ only in rounding (summation order of the products, BatchNorm folded by deepjet's
// Predictor and by ONNX Runtime's optimiser in different ways) and in their exp/tanh/sigmoid
// approximations (deepjet's within 1.8e-7 relative, kernels/fast_math.hpp; MLAS's of the same
// order). These are relative errors of a few 1e-7 per layer, growing at most linearly through the
// ~20 layers of DeepJet, on activations of order one, so the logits differ by ~1e-5 relative at
// worst, and a softmax probability p moves by at most p(1-p) <= 1/4 times a logit difference. The
// measured differences (printed by each test) are below 1.2e-7. The weights are random
// (deterministic seeds) with BatchNorm statistics and biases far from their defaults; the bound was
// checked to catch deliberate mistakes in the exporter: LSTM gates in the wrong order (1e-4 on
// DeepJet, whose deep head damps it; 2e-2 on the small LSTM model), sigmoid gates instead of
// hard_sigmoid (2e-3), Conv1D padding before and after swapped (0.4).
// deepjet.hpp first: it defines MAP_TYPE (through <sys/mman.h>), which the writer must cope with.
#include <deepjet/deepjet.hpp>

#include "deepjet/interchange/onnx/writer.hpp"

#include <deepjet/zoo/deepcsv.hpp>
#include <deepjet/zoo/deepjet.hpp>
#include <deepjet/zoo/deepak8.hpp>
#include "support/temporary_directory.hpp"

#include <gtest/gtest.h>
#pragma push_macro("MAP_TYPE")
#undef MAP_TYPE
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>
#pragma pop_macro("MAP_TYPE")

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using deepjet::onnx::ExportOptions;

// ---- small models covering every layer and option ------------------------------------------

namespace small {
using namespace deepjet;
// Conv1D kernel 3 stride 2 'same' without bias (10 entries: padding 0 before, 1 after), kernel 3
// stride 2 'valid', kernel 3 stride 1 'same' (padding 1, 1); ELU, Tanh, Linear; Flatten; Sigmoid.
using Convolutions = Sequential<Input<10, 5>, Conv1D<6, 3, 2, same, false>, ELU, Conv1D<4, 3, 2, valid>, Tanh,
                                Conv1D<4, 3, 1, same>, Linear, Flatten, Dense<3>, Sigmoid>;
// LSTM forwards returning the sequence, BatchNorm over it (time major -> channels first), Dropout,
// then backwards with hard_sigmoid gates returning the last state.
using Recurrent = Sequential<Input<7, 5>, LSTM<6, return_sequences>, BatchNorm<>, Dropout<0.5f>,
                             LSTM<5, backwards, hard_sigmoid_gates>, Dense<3>, Softmax>;
// Backwards, hard_sigmoid gates and the sequence, a pointwise convolution over it, then forwards
// to the last state; beside it a flat branch with BatchNorm; Concatenate of flat parts.
using RecurrentBranches =
    Sequential<Inputs<Shape<7, 5>, Shape<4>>,
               Branches<Stack<LSTM<6, backwards, return_sequences, hard_sigmoid_gates>, Conv1D<4>, ReLU, LSTM<5>>,
                        Stack<BatchNorm<>, Dense<5>, Tanh>>,
               Concatenate, Dense<3>, Softmax>;
// Residual blocks (Identity and 1x1-convolution shortcuts), GlobalAveragePooling, and two heads:
// class probabilities and a linear regression.
using ResidualHeads =
    Sequential<Input<8, 4>, Residual<Stack<BatchNorm<>, ReLU, Conv1D<4, 3, 1, same>>>,
               Residual<Stack<Conv1D<6, 3, 1, same>, ELU>, Conv1D<6>>, GlobalAveragePooling, Dense<8>, ReLU,
               Dropout<0.2f>, Heads<Stack<Dense<3>, Softmax>, Stack<Dense<1>>>>;
// Concatenate of lists along the features, and a list output (Softmax per entry).
using ListMerge = Sequential<Inputs<Shape<6, 3>, Shape<6, 2>>,
                             Branches<Conv1D<4>, Stack<BatchNorm<>, Conv1D<3, 3, 1, same>>>, Concatenate, Softmax>;
}  // namespace small

// ---- helpers ------------------------------------------------------------------------------------

/// Gives every BatchNorm non-trivial statistics and every bias non-zero values (deterministic),
/// so the ONNX graph's BatchNormalization and bias placement are really exercised.
template <class Net>
void randomise_statistics_and_biases(deepjet::Model<Net>& model, std::uint64_t seed) {
  deepjet::Random random(seed);
  auto parameters = model.parameters();
  for (const auto& p : model.architecture().parameters) {
    const auto ends_with = [&](const std::string& suffix) {
      return p.path.size() >= suffix.size() && p.path.compare(p.path.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    float low = 0, high = 0;
    if (ends_with(".gamma")) low = 0.7f, high = 1.3f;
    else if (ends_with(".beta")) low = -0.3f, high = 0.3f;
    else if (ends_with(".running_mean")) low = -0.3f, high = 0.3f;
    else if (ends_with(".running_var")) low = 0.5f, high = 2.0f;
    else if (ends_with(".bias")) low = -0.2f, high = 0.2f;
    else continue;
    for (std::size_t i = 0; i < p.spec.size(); ++i) parameters[p.offset + i] = random.uniform(low, high);
  }
}

/// Calls f(i, tensor) for every tensor of a batch container (one tensor or a tuple of them).
template <class Tensors, class F>
void for_each_tensor(Tensors& tensors, F&& f) {
  if constexpr (requires { tensors.shape(); }) {
    f(std::size_t{0}, tensors);
  } else {
    std::size_t i = 0;
    std::apply([&](auto&... t) { (f(i++, t), ...); }, tensors);
  }
}

struct NamedTensor {
  std::string name;
  std::vector<std::uint32_t> dims;
  std::vector<float> values;
};

// The record format of scripts/onnxruntime/run.js (see the top of that file).
void write_tensors(const fs::path& path, const std::vector<NamedTensor>& tensors) {
  std::ofstream out(path, std::ios::binary);
  const auto u32 = [&](std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  for (const auto& t : tensors) {
    u32(static_cast<std::uint32_t>(t.name.size()));
    out.write(t.name.data(), static_cast<std::streamsize>(t.name.size()));
    u32(static_cast<std::uint32_t>(t.dims.size()));
    for (auto d : t.dims) u32(d);
    out.write(reinterpret_cast<const char*>(t.values.data()), static_cast<std::streamsize>(t.values.size() * 4));
  }
  ASSERT_TRUE(out.good()) << path;
}

std::vector<NamedTensor> read_tensors(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<NamedTensor> tensors;
  const auto u32 = [&] {
    std::uint32_t v = 0;
    in.read(reinterpret_cast<char*>(&v), 4);
    return v;
  };
  while (in.peek() != std::char_traits<char>::eof()) {
    NamedTensor t;
    t.name.resize(u32());
    in.read(t.name.data(), static_cast<std::streamsize>(t.name.size()));
    t.dims.resize(u32());
    std::size_t size = 1;
    for (auto& d : t.dims) size *= (d = u32());
    t.values.resize(size);
    in.read(reinterpret_cast<char*>(t.values.data()), static_cast<std::streamsize>(size * 4));
    if (!in) break;
    tensors.push_back(std::move(t));
  }
  return tensors;
}

fs::path source_dir() { return DEEPJET_SOURCE_DIR; }

/// Why ONNX Runtime cannot run here ("" when it can).
std::string onnxruntime_missing() {
  if (std::system("node --version > /dev/null 2>&1") != 0) return "node is not installed";
  if (!fs::exists(source_dir() / "scripts/onnxruntime/node_modules/onnxruntime-node/package.json"))
    return "onnxruntime-node is not installed in scripts/onnxruntime (bash scripts/install-dependencies.sh --onnxruntime)";
  return "";
}

// A missing runtime fails in CI (the test command installs it) and skips elsewhere.
#define REQUIRE_ONNXRUNTIME()                                                       \
  do {                                                                              \
    if (const std::string why = onnxruntime_missing(); !why.empty()) {             \
      if (std::getenv("CI")) FAIL() << "ONNX Runtime is required in CI: " << why;  \
      GTEST_SKIP() << "ONNX Runtime not available: " << why;                       \
    }                                                                               \
  } while (0)

/// Runs `model` in ONNX Runtime on `inputs`; its outputs in the model's order.
std::vector<NamedTensor> run_onnxruntime(const fs::path& model, const std::vector<NamedTensor>& inputs,
                                         const fs::path& directory) {
  const fs::path in = directory / "inputs.bin", out = directory / "outputs.bin";
  write_tensors(in, inputs);
  const std::string command = "node '" + (source_dir() / "scripts/onnxruntime/run.js").string() + "' '" +
                              model.string() + "' '" + in.string() + "' '" + out.string() + "'";
  const int status = std::system(command.c_str());
  EXPECT_EQ(status, 0) << command;
  return status == 0 ? read_tensors(out) : std::vector<NamedTensor>{};
}

/// Exports `model` with `options`, runs it in ONNX Runtime and in deepjet's Predictor on `count`
/// random samples, and returns the largest absolute difference of each output (checking names and
/// shapes on the way).
template <class Net>
std::vector<double> differences_against_onnxruntime(const deepjet::Model<Net>& model, const ExportOptions& options,
                                                    std::size_t count, std::uint64_t seed, const fs::path& directory) {
  const fs::path path = directory / "model.onnx";
  deepjet::onnx::export_model(model, path, options);
  // The names the file has: the given ones, or the exporter's defaults.
  using In = typename Net::input_shape;
  using Out = typename Net::output_shape;
  const auto input_names = deepjet::onnx::detail::names_or_defaults(
      options.input_names, deepjet::onnx::detail::part_count<In>, "input", "input");
  const auto output_names = deepjet::onnx::detail::names_or_defaults(
      options.output_names, deepjet::onnx::detail::part_count<Out>, "output", "output");

  auto x = deepjet::make_tensors<In>(count);
  deepjet::Random random(seed);
  std::vector<NamedTensor> inputs;
  for_each_tensor(x, [&](std::size_t i, auto& tensor) {
    for (auto& v : tensor) v = random.uniform(-2.0f, 2.0f);
    NamedTensor t{input_names.at(i), {}, {tensor.begin(), tensor.end()}};
    for (auto d : tensor.shape()) t.dims.push_back(static_cast<std::uint32_t>(d));
    inputs.push_back(std::move(t));
  });
  const deepjet::Predictor<Net> predictor(model);
  auto expected = predictor.predict(x);

  const auto outputs = run_onnxruntime(path, inputs, directory);
  std::vector<double> differences;
  for_each_tensor(expected, [&](std::size_t i, auto& tensor) {
    if (i >= outputs.size()) {
      ADD_FAILURE() << "ONNX Runtime gave " << outputs.size() << " outputs";
      return;
    }
    const auto& got = outputs[i];
    EXPECT_EQ(got.name, output_names.at(i));
    std::vector<std::uint32_t> dims;
    for (auto d : tensor.shape()) dims.push_back(static_cast<std::uint32_t>(d));
    EXPECT_EQ(got.dims, dims) << got.name;
    double largest = got.values.size() == tensor.size() ? 0.0 : INFINITY;
    std::size_t k = 0;
    for (auto v : tensor) {
      if (k < got.values.size()) largest = std::max(largest, std::abs(static_cast<double>(v) - got.values[k]));
      ++k;
    }
    differences.push_back(largest);
  });
  return differences;
}

void expect_all_within(const std::vector<double>& differences, const char* model, std::size_t outputs) {
  ASSERT_EQ(differences.size(), outputs) << model;
  for (std::size_t i = 0; i < differences.size(); ++i) {
    std::printf("[ onnx     ] %s: output %zu, largest |deepjet - ONNX Runtime| = %.3g\n", model, i, differences[i]);
    EXPECT_LE(differences[i], 1e-5) << model << " output " << i;
  }
}

::onnx::ModelProto read_model(const fs::path& path) {
  ::onnx::ModelProto model;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(model.ParseFromIstream(&in)) << path;
  return model;
}

class OnnxExport : public deepjet::test::TemporaryDirectoryTest {
 protected:
  OnnxExport() : TemporaryDirectoryTest("deepjet-onnx-export") {}
};

const ExportOptions deepjet_options{.input_names = {"global", "cpf", "npf", "sv"}, .output_names = {"probabilities"}};

// ---- ONNX Runtime gives deepjet's outputs --------------------------------------------------------

TEST_F(OnnxExport, DeepJetMatchesOnnxRuntime) {
  REQUIRE_ONNXRUNTIME();
  deepjet::Model<deepjet::zoo::DeepJet> model(11);
  randomise_statistics_and_biases(model, 12);
  expect_all_within(differences_against_onnxruntime(model, deepjet_options, 32, 13, directory_), "DeepJet", 1);
}

// CMS's DeepAK8 (the boosted-jet particle CNN) of the zoo (default names: its input blocks may change).
using ParticleCnn = deepjet::zoo::DeepAK8;

TEST_F(OnnxExport, ParticleCnnMatchesOnnxRuntime) {
  REQUIRE_ONNXRUNTIME();
  deepjet::Model<ParticleCnn> model(21);
  randomise_statistics_and_biases(model, 22);
  expect_all_within(differences_against_onnxruntime(model, {}, 8, 23, directory_), "particle CNN", 1);
}

TEST_F(OnnxExport, DeepCsvMatchesOnnxRuntimeAtOpsets13And17) {
  REQUIRE_ONNXRUNTIME();
  deepjet::Model<deepjet::zoo::DeepCSV> model(31);
  randomise_statistics_and_biases(model, 32);
  for (int opset : {13, 17}) {
    const ExportOptions options{.input_names = {"features"}, .output_names = {"probabilities"}, .opset = opset};
    expect_all_within(differences_against_onnxruntime(model, options, 64, 33, directory_),
                      opset == 13 ? "DeepCSV opset 13" : "DeepCSV opset 17", 1);
    EXPECT_EQ(read_model(directory_ / "model.onnx").opset_import(0).version(), opset);
  }
}

TEST_F(OnnxExport, ConvolutionOptionsMatchOnnxRuntime) {
  REQUIRE_ONNXRUNTIME();
  deepjet::Model<small::Convolutions> model(41);
  randomise_statistics_and_biases(model, 42);
  const ExportOptions options{.input_names = {"x"}, .output_names = {"y"}};
  expect_all_within(differences_against_onnxruntime(model, options, 16, 43, directory_), "Conv1D options", 1);
}

TEST_F(OnnxExport, LstmOptionsMatchOnnxRuntime) {
  REQUIRE_ONNXRUNTIME();
  deepjet::Model<small::Recurrent> model(51);
  randomise_statistics_and_biases(model, 52);
  const ExportOptions options{.input_names = {"x"}, .output_names = {"y"}};
  expect_all_within(differences_against_onnxruntime(model, options, 16, 53, directory_), "LSTM chain", 1);

  deepjet::Model<small::RecurrentBranches> branches(54);
  randomise_statistics_and_biases(branches, 55);
  const ExportOptions branch_options{.input_names = {"list", "flat"}, .output_names = {"y"}};
  expect_all_within(differences_against_onnxruntime(branches, branch_options, 16, 56, directory_), "LSTM branches", 1);
}

TEST_F(OnnxExport, ResidualBlocksAndHeadsMatchOnnxRuntime) {
  REQUIRE_ONNXRUNTIME();
  deepjet::Model<small::ResidualHeads> model(61);
  randomise_statistics_and_biases(model, 62);
  const ExportOptions options{.input_names = {"x"}, .output_names = {"classes", "regression"}};
  expect_all_within(differences_against_onnxruntime(model, options, 16, 63, directory_), "Residual + Heads", 2);
}

TEST_F(OnnxExport, ListConcatenationAndListOutputMatchOnnxRuntime) {
  REQUIRE_ONNXRUNTIME();
  deepjet::Model<small::ListMerge> model(71);
  randomise_statistics_and_biases(model, 72);
  const ExportOptions options{.input_names = {"a", "b"}, .output_names = {"per_entry"}};
  expect_all_within(differences_against_onnxruntime(model, options, 16, 73, directory_), "list Concatenate", 1);
}

// ---- the file itself ------------------------------------------------------------------------------

TEST_F(OnnxExport, FilePassesCheckerAndStrictShapeInferenceWithNamesAndMetadata) {
  deepjet::Model<deepjet::zoo::DeepJet> model(3);
  const fs::path path = file("deepjet.onnx");
  deepjet::onnx::export_model(model, path, deepjet_options);
  EXPECT_EQ(entries(), std::vector<std::string>{"deepjet.onnx"});  // no temporary left over
  EXPECT_NO_THROW(::onnx::checker::check_model(path.string()));

  auto onnx_model = read_model(path);
  ASSERT_EQ(onnx_model.opset_import_size(), 1);
  EXPECT_EQ(onnx_model.opset_import(0).domain(), "");
  EXPECT_EQ(onnx_model.opset_import(0).version(), 13);
  std::map<std::string, std::string> metadata;
  for (const auto& p : onnx_model.metadata_props()) metadata[p.key()] = p.value();
  EXPECT_EQ(metadata["deepjet.architecture"], model.architecture().signature());
  EXPECT_EQ(metadata["deepjet.version"], deepjet::version);

  const auto& graph = onnx_model.graph();
  const std::vector<std::vector<std::int64_t>> input_dims{{15}, {25, 16}, {25, 6}, {4, 12}};
  ASSERT_EQ(graph.input_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(graph.input(i).name(), deepjet_options.input_names[i]);
    const auto& shape = graph.input(i).type().tensor_type().shape();
    ASSERT_EQ(shape.dim_size(), static_cast<int>(input_dims[i].size()) + 1);
    EXPECT_EQ(shape.dim(0).dim_param(), "N");
    for (std::size_t d = 0; d < input_dims[i].size(); ++d) EXPECT_EQ(shape.dim(d + 1).dim_value(), input_dims[i][d]);
  }
  ASSERT_EQ(graph.output_size(), 1);
  EXPECT_EQ(graph.output(0).name(), "probabilities");
  EXPECT_EQ(graph.output(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  EXPECT_EQ(graph.output(0).type().tensor_type().shape().dim(1).dim_value(), 6);

  // Dropout is gone; BatchNorm stays BatchNormalization (23 of them), the LSTMs run reverse.
  std::map<std::string, int> ops;
  for (const auto& node : graph.node()) {
    ++ops[node.op_type()];
    if (node.op_type() == "LSTM") {
      for (const auto& a : node.attribute()) {
        if (a.name() == "direction") {
          EXPECT_EQ(a.s(), "reverse");
        }
      }
    }
  }
  EXPECT_EQ(ops.count("Dropout"), 0u);
  EXPECT_EQ(ops["BatchNormalization"], 23);
  EXPECT_EQ(ops["LSTM"], 3);
  EXPECT_EQ(ops["Conv"], 11);
  EXPECT_EQ(ops["Gemm"], 9);
  EXPECT_EQ(ops["Softmax"], 1);

  // Strict shape inference agrees with the declared output shape [N, 6].
  ::onnx::shape_inference::InferShapes(onnx_model, ::onnx::OpSchemaRegistry::Instance(),
                                       ::onnx::ShapeInferenceOptions(true, 1, false));
  const auto& inferred = onnx_model.graph().output(0).type().tensor_type().shape();
  EXPECT_EQ(inferred.dim(1).dim_value(), 6);
}

TEST_F(OnnxExport, EveryModelPassesTheChecker) {
  const auto check = [&](const auto& model, const ExportOptions& options) {
    const fs::path path = file("model.onnx");
    deepjet::onnx::export_model(model, path, options);
    EXPECT_NO_THROW(::onnx::checker::check_model(path.string()));
    auto onnx_model = read_model(path);
    EXPECT_NO_THROW(::onnx::shape_inference::InferShapes(onnx_model, ::onnx::OpSchemaRegistry::Instance(),
                                                         ::onnx::ShapeInferenceOptions(true, 1, false)));
  };
  check(deepjet::Model<ParticleCnn>(1), {});
  check(deepjet::Model<deepjet::zoo::DeepCSV>(1), {.opset = 17});
  check(deepjet::Model<small::Convolutions>(1), {});
  check(deepjet::Model<small::Recurrent>(1), {});
  check(deepjet::Model<small::RecurrentBranches>(1), {});
  check(deepjet::Model<small::ResidualHeads>(1), {});
  check(deepjet::Model<small::ListMerge>(1), {});
}

TEST_F(OnnxExport, DefaultNamesAndPredictorExportIsTheModelExport) {
  deepjet::Model<small::ResidualHeads> model(5);
  deepjet::onnx::export_model(model, file("from_model.onnx"));
  deepjet::onnx::export_model(deepjet::Predictor<small::ResidualHeads>(model), file("from_predictor.onnx"));
  const auto a = read_model(file("from_model.onnx")), b = read_model(file("from_predictor.onnx"));
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  EXPECT_EQ(a.graph().input(0).name(), "input");
  EXPECT_EQ(a.graph().output(0).name(), "output_0");
  EXPECT_EQ(a.graph().output(1).name(), "output_1");
}

// ---- failures -------------------------------------------------------------------------------------

TEST_F(OnnxExport, UnwritablePathGivesClearErrorAndLeavesNothing) {
  deepjet::Model<deepjet::zoo::DeepCSV> model(1);
  const fs::path missing_directory = file("no/such/directory/model.onnx");
  try {
    deepjet::onnx::export_model(model, missing_directory);
    FAIL() << "no error";
  } catch (const deepjet::FileError& error) {
    EXPECT_NE(std::string(error.what()).find(missing_directory.string()), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("cannot open for writing"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(entries().empty());

  // The destination is a directory: the file is written, then cannot be moved into place.
  fs::create_directory(file("occupied"));
  try {
    deepjet::onnx::export_model(model, file("occupied"));
    FAIL() << "no error";
  } catch (const deepjet::FileError& error) {
    EXPECT_NE(std::string(error.what()).find(file("occupied").string()), std::string::npos) << error.what();
  }
  EXPECT_EQ(entries(), std::vector<std::string>{"occupied"});
  EXPECT_TRUE(fs::is_empty(file("occupied")));
}

TEST_F(OnnxExport, BadOptionsAreRejectedBeforeWriting) {
  deepjet::Model<deepjet::zoo::DeepJet> model(1);
  const auto expect_error = [&](const ExportOptions& options, const std::string& text) {
    try {
      deepjet::onnx::export_model(model, file("model.onnx"), options);
      ADD_FAILURE() << "no error for " << text;
    } catch (const deepjet::Error& error) {
      EXPECT_NE(std::string(error.what()).find(text), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find(file("model.onnx").string()), std::string::npos) << error.what();
    }
    EXPECT_TRUE(entries().empty());
  };
  expect_error({.input_names = {"global", "cpf"}}, "2 input names given, the model has 4");
  expect_error({.output_names = {"a", "b"}}, "2 output names given, the model has 1");
  expect_error({.input_names = {"a", "b", "c", "a"}}, "'a' is not");
  expect_error({.input_names = {"a", "b", "c", "d"}, .output_names = {"d"}}, "'d' is not");
  expect_error({.opset = 12}, "opset 12 is not supported");
  expect_error({.opset = 99}, "opset 99 is not supported");
}

}  // namespace
