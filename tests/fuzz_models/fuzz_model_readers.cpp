// libFuzzer target for the readers of untrusted model files (one executable, to keep CI's compile
// cost to one translation unit). The first input byte picks the reader and the declared type; the
// rest is the file's content:
//   0: lwtnn JSON            -> deepjet::zoo::DeepCSV
//   1: lwtnn JSON            -> SmallDense (Input<2>, Dense<3>, ReLU, Dense<2>, Softmax)
//   2: Keras model_config    -> deepjet::zoo::DeepDoubleX, weights from the shared DeepDoubleX .h5
//   3: Keras model_config    -> KerasDense, weights from a small valid Keras file written at start
//   4: ONNX ModelProto bytes -> deepjet::zoo::DeepDoubleX
//   5: ONNX ModelProto bytes -> SmallDense
// For ONNX, bit 3 of the first byte (value 8) turns ONNX's own checker off, so that graphs which
// parse but lie (dangling inputs, cycles, mis-shaped initializers) reach deepjet's lowering.
// Keras: the JSON architecture is fuzzed against fixed, valid weights (ImportOptions::
// architecture_json); the HDF5 bytes themselves are not fuzzed, because libhdf5 is not robust to
// arbitrary bytes (see docs/testing.md, "Fuzzing").
// Every input must end in a model or a deepjet::Error: crashes, hangs, huge allocations and
// sanitizer reports are bugs.
//
// Environment: DEEPJET_SHARED_DIR (default: the compiled-in path) locates the shared models;
// DEEPJET_FUZZ_SEED_DIR, when set, receives one seed per mode (written at start-up, then the
// fuzzer reads that directory as its corpus); DEEPJET_FUZZ_ONLY=<0..5> skips every input of
// another mode (to give one reader a long run of its own).
#include <deepjet/interchange/keras.hpp>
#include <deepjet/interchange/lwtnn.hpp>
#include <deepjet/interchange/onnx.hpp>
#include <deepjet/io/hdf5/hdf5.hpp>
#include <deepjet/zoo/deepcsv.hpp>
#include <deepjet/zoo/deepdoublex.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <unistd.h>
#include <vector>

#ifndef DEEPJET_SHARED_DIR
#define DEEPJET_SHARED_DIR "/work/shared"
#endif

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using SmallDense = deepjet::Sequential<deepjet::Input<2>, deepjet::Dense<3>, deepjet::ReLU, deepjet::Dense<2>, deepjet::Softmax>;
using KerasDense = deepjet::Sequential<deepjet::Input<3>, deepjet::Dense<4>, deepjet::ReLU, deepjet::Dropout<0.1f>,
                                       deepjet::Dense<3>, deepjet::Tanh, deepjet::Softmax>;

fs::path shared_models() {
  const char* shared = std::getenv("DEEPJET_SHARED_DIR");
  return fs::path(shared ? shared : DEEPJET_SHARED_DIR) / "data" / "models";
}

// Per-process scratch files (the readers take paths), removed when the fuzzer exits.
fs::path scratch_path() { return fs::temp_directory_path() / ("deepjet-fuzz-models-" + std::to_string(::getpid())); }
fs::path scratch_dir() {
  static const fs::path dir = [] {
    fs::create_directories(scratch_path());
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(scratch_path(), ignored);
    });
    return scratch_path();
  }();
  return dir;
}

void write_file(const fs::path& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}
void write_file(const fs::path& path, const std::string& text) {
  write_file(path, reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}
std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A valid lwtnn network for SmallDense (2 inputs, 3 hidden, 2 outputs).
json small_lwtnn() {
  return json{{"inputs", {{{"name", "a"}, {"offset", 0.5}, {"scale", 2.0}}, {{"name", "b"}, {"offset", 0.0}, {"scale", 1.0}}}},
              {"defaults", {{"a", 1.0}}},
              {"layers",
               {{{"architecture", "dense"}, {"activation", "rectified"}, {"weights", {1, 2, 3, 4, 5, 6}}, {"bias", {0.1, 0.2, 0.3}}},
                {{"architecture", "dense"}, {"activation", {{"function", "softmax"}}}, {"weights", {1, 0, -1, 2, 1, 0}},
                 {"bias", {0, 0}}}}},
              {"outputs", {"p0", "p1"}}};
}

// The Keras Sequential config of KerasDense (names d1, drop, d2, act) and a valid file holding it.
json keras_dense_config() {
  json layers = json::array();
  layers.push_back({{"class_name", "Dense"},
                    {"config", {{"name", "d1"}, {"units", 4}, {"activation", "relu"}, {"use_bias", true},
                                {"batch_input_shape", {nullptr, 3}}}}});
  layers.push_back({{"class_name", "Dropout"}, {"config", {{"name", "drop"}, {"rate", 0.1}}}});
  layers.push_back({{"class_name", "Dense"}, {"config", {{"name", "d2"}, {"units", 3}, {"activation", "tanh"}, {"use_bias", false}}}});
  layers.push_back({{"class_name", "Activation"}, {"config", {{"name", "act"}, {"activation", "softmax"}}}});
  return json{{"class_name", "Sequential"}, {"config", {{"name", "sequential_1"}, {"layers", layers}}}};
}

fs::path keras_dense_file() {
  static const fs::path path = [] {
    const fs::path p = scratch_dir() / "keras-dense.h5";
    deepjet::hdf5::File file(p, deepjet::hdf5::File::Mode::create);
    file.write_attribute("model_config", keras_dense_config().dump());
    file.write_attribute("keras_version", std::string("2.2.4"));
    file.write_attribute("backend", std::string("tensorflow"));
    file.create_group("model_weights");
    file.write_attribute("layer_names", std::vector<std::string>{"d1", "drop", "d2", "act"}, "model_weights");
    const std::vector<float> k1(12, 0.25f), b1(4, 0.5f), k2(12, -0.25f);
    for (const char* name : {"d1", "drop", "d2", "act"}) file.create_group(std::string("model_weights/") + name);
    file.write("model_weights/d1/d1/kernel:0", k1.data(), std::vector<std::size_t>{3, 4});
    file.write("model_weights/d1/d1/bias:0", b1.data(), std::vector<std::size_t>{4});
    file.write("model_weights/d2/d2/kernel:0", k2.data(), std::vector<std::size_t>{4, 3});
    file.write_attribute("weight_names", std::vector<std::string>{"d1/kernel:0", "d1/bias:0"}, "model_weights/d1");
    file.write_attribute("weight_names", std::vector<std::string>{}, "model_weights/drop");
    file.write_attribute("weight_names", std::vector<std::string>{"d2/kernel:0"}, "model_weights/d2");
    file.write_attribute("weight_names", std::vector<std::string>{}, "model_weights/act");
    file.close();
    return p;
  }();
  return path;
}

// Graphs that parse but lie, made from the small exported model (unchecked: ONNX's checker would
// stop most of them before deepjet's lowering sees them).
void write_onnx_lies(const fs::path& dir, const std::string& valid);

void write_seed(const fs::path& dir, const std::string& name, std::uint8_t mode, const std::string& content) {
  std::string bytes(1, static_cast<char>(mode));
  bytes += content;
  write_file(dir / name, bytes);
}

// One seed per mode, from the shared files and from deepjet itself (never committed).
void write_seeds(const fs::path& dir) {
  fs::create_directories(dir);
  const fs::path models = shared_models();
  write_seed(dir, "seed-lwtnn-deepcsv", 0, read_text(models / "DeepCSV_PhaseI.json"));
  write_seed(dir, "seed-lwtnn-small", 1, small_lwtnn().dump());
  {
    deepjet::hdf5::File file(models / "DeepDoubleX_V02_CvL.h5", deepjet::hdf5::File::Mode::read);
    write_seed(dir, "seed-keras-deepdoublex", 2, file.read_string_attribute("model_config"));
  }
  write_seed(dir, "seed-keras-dense", 3, keras_dense_config().dump());
  // Numbers no writer produces, which the readers once let through (docs/testing.md, "Fuzzing").
  json float_units = keras_dense_config();
  float_units["config"]["layers"][0]["config"]["units"] = 1e300;
  write_seed(dir, "seed-keras-dense-float-units", 3, float_units.dump());
  json huge_weight = small_lwtnn();
  huge_weight["layers"][0]["weights"][0] = 1e300;
  write_seed(dir, "seed-lwtnn-small-huge-weight", 1, huge_weight.dump());
  const std::string onnx_ddx = read_text(models / "DeepDoubleX_V02_CvL.onnx");
  write_seed(dir, "seed-onnx-deepdoublex", 4, onnx_ddx);
  write_seed(dir, "seed-onnx-deepdoublex-unchecked", 4 + 8, onnx_ddx);
  const fs::path small_onnx = scratch_dir() / "small-seed.onnx";
  deepjet::onnx::export_model(deepjet::Model<SmallDense>(7), small_onnx);
  write_seed(dir, "seed-onnx-small", 5, read_text(small_onnx));
  write_seed(dir, "seed-onnx-small-unchecked", 5 + 8, read_text(small_onnx));
  write_onnx_lies(dir, read_text(small_onnx));
}

void write_onnx_lies(const fs::path& dir, const std::string& valid) {
  auto lie = [&](const std::string& name, auto&& change) {
    ::onnx::ModelProto model;
    model.ParseFromString(valid);
    change(*model.mutable_graph());
    write_seed(dir, "seed-onnx-lie-" + name, 5 + 8, model.SerializeAsString());
  };
  lie("huge-dims", [](::onnx::GraphProto& g) {
    auto* t = g.mutable_initializer(0);
    t->clear_dims();
    t->add_dims(std::int64_t{1} << 32);
    t->add_dims(std::int64_t{1} << 32);
    t->clear_float_data();
    t->clear_raw_data();
  });
  lie("negative-dims", [](::onnx::GraphProto& g) { g.mutable_initializer(0)->set_dims(0, -3); });
  lie("misshaped-initializer", [](::onnx::GraphProto& g) {
    auto* t = g.mutable_initializer(0);
    t->clear_dims();
    t->add_dims(1);
    t->add_dims(static_cast<std::int64_t>(t->float_data_size() + t->raw_data().size() / 4));
  });
  lie("missing-initializer", [](::onnx::GraphProto& g) { g.mutable_initializer()->RemoveLast(); });
  lie("dangling-input", [](::onnx::GraphProto& g) { g.mutable_node(0)->set_input(0, "nowhere"); });
  lie("cycle", [](::onnx::GraphProto& g) { g.mutable_node(0)->set_input(0, g.node(g.node_size() - 1).output(0)); });
  lie("unknown-op", [](::onnx::GraphProto& g) { g.mutable_node(0)->set_op_type("FancyOp"); });
  lie("huge-input-dims", [](::onnx::GraphProto& g) {
    g.mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(std::int64_t{1} << 40);
  });
  lie("constant-of-shape", [](::onnx::GraphProto& g) {
    auto* shape = g.add_initializer();
    shape->set_name("absurd_shape");
    shape->set_data_type(::onnx::TensorProto::INT64);
    shape->add_dims(3);
    for (int i = 0; i < 3; ++i) shape->add_int64_data(1000000);
    auto* node = g.add_node();
    node->set_op_type("ConstantOfShape");
    node->set_name("fill");
    node->add_input("absurd_shape");
    node->add_output("filled");
  });
}

void lwtnn_mode(bool deepcsv, const std::uint8_t* data, std::size_t size) {
  const fs::path path = scratch_dir() / "input.json";
  write_file(path, data, size);
  if (deepcsv) (void)deepjet::lwtnn::import_model<deepjet::zoo::DeepCSV>(path);
  else (void)deepjet::lwtnn::import_model<SmallDense>(path);
}

void keras_mode(bool deepdoublex, const std::uint8_t* data, std::size_t size) {
  deepjet::keras::ImportOptions options;
  options.architecture_json.assign(reinterpret_cast<const char*>(data), size);
  if (options.architecture_json.empty()) return;  // empty means "use the file's model_config"
  if (deepdoublex) {
    static const fs::path weights = shared_models() / "DeepDoubleX_V02_CvL.h5";
    (void)deepjet::keras::import_model<deepjet::zoo::DeepDoubleX>(weights, options);
  } else {
    (void)deepjet::keras::import_model<KerasDense>(keras_dense_file(), options);
  }
}

void onnx_mode(bool deepdoublex, bool check, const std::uint8_t* data, std::size_t size) {
  const fs::path path = scratch_dir() / "input.onnx";
  write_file(path, data, size);
  deepjet::onnx::ImportOptions options;
  options.check_model = check;
  if (deepdoublex) (void)deepjet::onnx::import_model<deepjet::zoo::DeepDoubleX>(path, options);
  else (void)deepjet::onnx::import_model<SmallDense>(path, options);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seeds = std::getenv("DEEPJET_FUZZ_SEED_DIR")) write_seeds(seeds);
  (void)keras_dense_file();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  static const char* only = std::getenv("DEEPJET_FUZZ_ONLY");
  if (only && (selector & 7) % 6 != std::atoi(only)) return 0;
  ++data;
  --size;
  try {
    switch ((selector & 7) % 6) {  // bit 3 is the ONNX checker switch
      case 0: lwtnn_mode(true, data, size); break;
      case 1: lwtnn_mode(false, data, size); break;
      case 2: keras_mode(true, data, size); break;
      case 3: keras_mode(false, data, size); break;
      case 4: onnx_mode(true, (selector & 8) == 0, data, size); break;
      default: onnx_mode(false, (selector & 8) == 0, data, size); break;
    }
  } catch (const deepjet::Error&) {
  }
  return 0;
}
