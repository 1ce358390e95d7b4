// cms_models: CMS's production taggers run by deepjet, the quick-start for deployment.
//
//   cms_models list
//   cms_models predict MODEL FILE INPUTS.h5 OUTPUTS.h5
//   cms_models benchmark MODEL FILE
//   cms_models compare OUTPUTS.h5 EXPECTED.h5 [TOLERANCE]
//
// MODEL names a production architecture (`cms_models list`); FILE is CMS's file of it (ONNX, a
// Keras 2 HDF5 file (.h5) where CMS ships one, as for DeepDoubleX, or lwtnn JSON for DeepCSV), imported into the architecture's deepjet type, which checks that the
// file is that architecture (a mismatch is an error naming the node and the layer, never garbage).
// INPUTS.h5 / OUTPUTS.h5 have the layout of the reference files in ../shared/data/models: datasets
// /inputs/<i> and /outputs/<i>, each with an attribute `name` (the model's input or output name),
// in the model file's own layout (an ONNX file's channels-first input is given channels-first;
// deepjet transposes it). Inputs are matched to the model's by name, or by position when the
// names differ. `benchmark` prints jets/s at batch 1 and 1024 on one thread (best of 5 runs of at
// least 0.25 s each, per second of this thread's CPU time and of wall clock). `compare` prints the
// largest absolute difference per output and fails above TOLERANCE (default 1e-5).
#include <deepjet/deepjet.hpp>
#include <deepjet/interchange/keras.hpp>
#include <deepjet/interchange/lwtnn.hpp>
#include <deepjet/interchange/onnx.hpp>
#include <deepjet/io/hdf5/hdf5.hpp>

#include <deepjet/zoo/deepak8.hpp>
#include <deepjet/zoo/deepcsv.hpp>
#include <deepjet/zoo/deepdoublex.hpp>
#include <deepjet/zoo/deepjet.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace hdf5 = deepjet::hdf5;

// ---- arrays in files --------------------------------------------------------------------------

/// One input or output array: its name in the model and its values with their dimensions
/// (the first is the number of jets).
struct NamedArray {
  std::string name;
  std::vector<std::size_t> dims;
  std::vector<float> values;
};

std::vector<NamedArray> read_arrays(const std::string& path, const std::string& group) {
  hdf5::File file(path, hdf5::File::Mode::read);
  std::vector<NamedArray> arrays;
  for (std::size_t i = 0;; ++i) {
    const std::string dataset = group + "/" + std::to_string(i);
    if (!file.exists(dataset)) break;
    auto array = file.read<float>(dataset);
    const std::string name = file.has_attribute("name", dataset) ? file.read_string_attribute("name", dataset)
                                                                  : std::to_string(i);
    arrays.push_back({name, std::move(array.shape), std::move(array.values)});
  }
  if (arrays.empty()) throw deepjet::FileError(path, "has no datasets " + group + "/0, " + group + "/1, ...");
  return arrays;
}

void write_arrays(const std::string& path, const std::vector<NamedArray>& outputs, const std::string& model) {
  deepjet::AtomicFile output(path);
  {
    hdf5::File file(output.temporary_path(), hdf5::File::Mode::create);
    file.write_attribute("model", model);
    file.write_attribute("engine", std::string("deepjet ") + std::string(deepjet::version));
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      const std::string dataset = "outputs/" + std::to_string(i);
      file.write(dataset, outputs[i].values.data(), outputs[i].dims);
      file.write_attribute("name", outputs[i].name, dataset);
    }
    file.close();
  }
  output.commit();
}

// ---- deepjet batches from arrays -----------------------------------------------------------

/// Per-sample dimensions of each block of a shape (a single shape is one block).
template <deepjet::AnyShape S>
std::vector<std::vector<std::size_t>> block_dims() {
  if constexpr (deepjet::ShapeType<S>) {
    return {std::vector<std::size_t>(S::dims.begin(), S::dims.end())};
  } else {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      using P = S;
      return std::vector<std::vector<std::size_t>>{std::vector<std::size_t>(
          P::template part<I>::dims.begin(), P::template part<I>::dims.end())...};
    }(std::make_index_sequence<S::count>{});
  }
}

/// A batch view of S over one float vector per block.
template <deepjet::AnyShape S, class T, class Blocks>
deepjet::BatchView<S, T> view_over(Blocks& blocks, std::size_t count) {
  if constexpr (deepjet::ShapeType<S>) {
    return {blocks[0].data(), count};
  } else {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return deepjet::BatchView<S, T>{{deepjet::BatchView<typename S::template part<I>, T>{blocks[I].data(), count}...},
                                      count};
    }(std::make_index_sequence<S::count>{});
  }
}

/// `array` (jets first, then the model file's axes `axes`, e.g. "NFP1" for MXNet's channels-first
/// lists) rearranged into deepjet's layout of a block of per-sample dimensions `dims`: (features)
/// or (entries, features).
std::vector<float> to_deepjet_layout(const NamedArray& array, const std::string& axes,
                                     const std::vector<std::size_t>& dims) {
  const std::size_t jets = array.dims.empty() ? 0 : array.dims[0];
  std::size_t sample = 1;
  for (const std::size_t d : dims) sample *= d;
  if (array.values.size() != jets * sample) {
    std::string got;
    for (const std::size_t d : array.dims) got += (got.empty() ? "" : " x ") + std::to_string(d);
    throw deepjet::Error("input '" + array.name + "' has shape " + got + ", which does not hold " +
                         std::to_string(sample) + " values per jet");
  }
  const std::size_t entries = dims.size() == 2 ? dims[0] : 1;
  const std::size_t features = dims.back();
  // The stride of each deepjet axis (entries, features) in the file's layout.
  std::size_t entries_stride = 0, features_stride = 1, stride = 1;
  for (std::size_t a = axes.size(); a-- > 1;) {  // axis 0 is the batch
    const std::size_t extent = a < array.dims.size() ? array.dims[a] : 1;
    if (axes[a] == 'P') entries_stride = stride;
    if (axes[a] == 'F') features_stride = stride;
    stride *= extent;
  }
  if (axes.empty() || axes == "NPF" || axes == "NF") return array.values;  // already deepjet's layout
  std::vector<float> out(array.values.size());
  for (std::size_t j = 0; j < jets; ++j)
    for (std::size_t p = 0; p < entries; ++p)
      for (std::size_t f = 0; f < features; ++f)
        out[(j * entries + p) * features + f] = array.values[j * sample + p * entries_stride + f * features_stride];
  return out;
}

// ---- one model: import, predict, benchmark -----------------------------------------------------

/// What a command needs of a model, whatever its type and file format.
struct Runner {
  /// Outputs (in the file's order, with their names) for the inputs of INPUTS.h5.
  std::function<std::vector<NamedArray>(const std::vector<NamedArray>&)> predict;
  /// jets/s at batch `batch` on this thread: {per CPU second, per wall second}.
  std::function<std::pair<double, double>(std::size_t batch)> benchmark;
  /// A summary of what was imported.
  std::string report;
};

double thread_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

/// Best of 5 runs of at least 0.25 s of `call` (which computes `batch` jets).
std::pair<double, double> measure(std::size_t batch, const std::function<void()>& call) {
  call();  // warm-up: the workspace grows to this batch
  double best_cpu = 0.0, best_wall = 0.0;
  for (int repetition = 0; repetition < 5; ++repetition) {
    const double cpu0 = thread_seconds();
    const auto wall0 = std::chrono::steady_clock::now();
    std::size_t calls = 0;
    double wall = 0.0;
    do {
      call();
      ++calls;
      wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    } while (wall < 0.25);
    const double cpu = thread_seconds() - cpu0;
    best_cpu = std::max(best_cpu, static_cast<double>(calls * batch) / cpu);
    best_wall = std::max(best_wall, static_cast<double>(calls * batch) / wall);
  }
  return {best_cpu, best_wall};
}

/// Random inputs for `count` jets in deepjet's layout.
template <deepjet::AnyShape S>
std::vector<std::vector<float>> random_blocks(std::size_t count) {
  deepjet::Random random(7);
  std::vector<std::vector<float>> blocks;
  for (const auto& dims : block_dims<S>()) {
    std::size_t size = count;
    for (const std::size_t d : dims) size *= d;
    std::vector<float> values(size);
    for (float& v : values) v = random.uniform(-1.0f, 1.0f);
    blocks.push_back(std::move(values));
  }
  return blocks;
}

/// Runs `predictor` on deepjet-layout blocks of `count` jets; returns the output blocks.
template <class Net>
std::vector<std::vector<float>> run(const deepjet::Predictor<Net>& predictor, typename deepjet::Predictor<Net>::Workspace& workspace,
                                    const std::vector<std::vector<float>>& inputs, std::size_t count) {
  std::vector<std::vector<float>> outputs;
  for (const auto& dims : block_dims<typename Net::output_shape>()) {
    std::size_t size = count;
    for (const std::size_t d : dims) size *= d;
    outputs.emplace_back(size);
  }
  predictor.predict(view_over<typename Net::input_shape, const float>(inputs, count),
                    view_over<typename Net::output_shape, float>(outputs, count), workspace);
  return outputs;
}

/// A model read from an ONNX file into Net.
template <class Net>
Runner onnx_runner(const std::string& file) {
  deepjet::onnx::ImportReport report;
  auto predictor = std::make_shared<deepjet::Predictor<Net>>(deepjet::onnx::import_predictor<Net>(file, {.report = &report}));
  Runner runner;
  runner.report = report.to_string();
  runner.predict = [predictor, report](const std::vector<NamedArray>& arrays) {
    const auto dims = block_dims<typename Net::input_shape>();
    // The array for graph input `name`: by name, else at the same position among the file's inputs.
    auto find = [&](const std::string& name, std::size_t position) -> const NamedArray& {
      for (const auto& array : arrays)
        if (array.name == name) return array;
      if (position < arrays.size()) return arrays[position];
      throw deepjet::Error("the inputs have no array for the model's input '" + name + "'");
    };
    std::vector<std::vector<float>> blocks(dims.size());
    std::size_t count = 0;
    std::map<std::string, const NamedArray*> by_input_name;
    auto position_of = [&](const std::string& name) {
      return static_cast<std::size_t>(std::find(report.graph_inputs.begin(), report.graph_inputs.end(), name) -
                                      report.graph_inputs.begin());
    };
    for (std::size_t k = 0; k < report.inputs.size(); ++k) {
      const auto& input = report.inputs[k];
      const NamedArray& array = find(input.name, position_of(input.name));
      by_input_name[input.name] = &array;
      blocks[input.block] = to_deepjet_layout(array, input.axes, dims[input.block]);
      count = array.dims.at(0);
    }
    for (const auto& p : report.pass_through) by_input_name[p.input] = &find(p.input, position_of(p.input));
    typename deepjet::Predictor<Net>::Workspace workspace;
    const auto computed = run(*predictor, workspace, blocks, count);
    const auto out_dims = block_dims<typename Net::output_shape>();
    std::vector<NamedArray> outputs;
    for (const std::string& name : report.graph_outputs) {
      bool done = false;
      for (const auto& o : report.outputs) {
        if (o.name != name) continue;
        std::vector<std::size_t> shape{count};
        shape.insert(shape.end(), out_dims[o.block].begin(), out_dims[o.block].end());
        outputs.push_back({name, shape, computed[o.block]});
        done = true;
      }
      for (const auto& p : report.pass_through) {
        if (p.output != name) continue;
        NamedArray copy = *by_input_name.at(p.input);
        copy.name = name;
        outputs.push_back(std::move(copy));
        done = true;
      }
      if (!done) throw deepjet::Error("graph output '" + name + "' was neither computed nor passed through");
    }
    return outputs;
  };
  runner.benchmark = [predictor](std::size_t batch) {
    const auto inputs = random_blocks<typename Net::input_shape>(batch);
    typename deepjet::Predictor<Net>::Workspace workspace;
    return measure(batch, [&] { run(*predictor, workspace, inputs, batch); });
  };
  return runner;
}

/// A model read from a Keras 2 HDF5 file into Net: Keras's layout is deepjet's, so the arrays are
/// the blocks (matched to the Keras inputs by name, else by position).
template <class Net>
Runner keras_runner(const std::string& file) {
  deepjet::keras::ImportReport report;
  auto predictor = std::make_shared<deepjet::Predictor<Net>>(deepjet::keras::import_predictor<Net>(file, {.report = &report}));
  Runner runner;
  runner.report = report.to_string();
  runner.predict = [predictor, report](const std::vector<NamedArray>& arrays) {
    const auto dims = block_dims<typename Net::input_shape>();
    std::vector<std::vector<float>> blocks(dims.size());
    std::size_t count = 0;
    for (const auto& input : report.inputs) {
      const NamedArray* array = nullptr;
      for (const auto& a : arrays)
        if (a.name == input.name) array = &a;
      if (!array && input.block < arrays.size()) array = &arrays[input.block];
      if (!array) throw deepjet::Error("the inputs have no array for the model's input '" + input.name + "'");
      std::size_t size = 1;
      for (const std::size_t d : dims[input.block]) size *= d;
      count = array->dims.at(0);
      if (array->values.size() != count * size)
        throw deepjet::Error("input '" + array->name + "' does not hold " + input.shape + " per jet");
      blocks[input.block] = array->values;
    }
    typename deepjet::Predictor<Net>::Workspace workspace;
    auto computed = run(*predictor, workspace, blocks, count);
    const auto out_dims = block_dims<typename Net::output_shape>();
    std::vector<NamedArray> outputs;
    for (const auto& o : report.outputs) {
      std::vector<std::size_t> shape{count};
      shape.insert(shape.end(), out_dims[o.block].begin(), out_dims[o.block].end());
      outputs.push_back({o.name, shape, std::move(computed[o.block])});
    }
    return outputs;
  };
  runner.benchmark = [predictor](std::size_t batch) {
    const auto inputs = random_blocks<typename Net::input_shape>(batch);
    typename deepjet::Predictor<Net>::Workspace workspace;
    return measure(batch, [&] { run(*predictor, workspace, inputs, batch); });
  };
  return runner;
}

/// A model read from an lwtnn JSON file into Net; its inputs are raw (before lwtnn's transform).
template <class Net>
Runner lwtnn_runner(const std::string& file) {
  auto imported = std::make_shared<deepjet::lwtnn::ImportedPredictor<Net>>(deepjet::lwtnn::import_predictor<Net>(file));
  Runner runner;
  std::string outputs;
  for (const auto& name : imported->output_names) outputs += (outputs.empty() ? "" : ", ") + name;
  runner.report = file + ": lwtnn sequential network, " + std::to_string(imported->transform.size()) +
                  " inputs transformed as (x + offset) * scale, outputs " + outputs + "\n";
  runner.predict = [imported](const std::vector<NamedArray>& arrays) {
    const NamedArray& raw = arrays.at(0);
    const std::size_t count = raw.dims.at(0);
    std::vector<std::vector<float>> blocks{std::vector<float>(raw.values.size())};
    imported->transform.apply(raw.values, blocks[0]);
    if (blocks[0].size() != count * Net::input_shape::size)
      throw deepjet::Error("input '" + raw.name + "' does not hold " + std::to_string(Net::input_shape::size) +
                           " raw values per jet");
    typename deepjet::Predictor<Net>::Workspace workspace;
    auto computed = run(imported->predictor, workspace, blocks, count);
    return std::vector<NamedArray>{{"probabilities", {count, Net::output_shape::size}, std::move(computed[0])}};
  };
  runner.benchmark = [imported](std::size_t batch) {
    const auto inputs = random_blocks<typename Net::input_shape>(batch);
    typename deepjet::Predictor<Net>::Workspace workspace;
    return measure(batch, [&] { run(imported->predictor, workspace, inputs, batch); });
  };
  return runner;
}

struct ModelEntry {
  std::string name;
  std::string description;
  std::string cms_file;  ///< the file CMSSW loads (as named in cms-data)
  std::function<Runner(const std::string&)> open;
  std::function<Runner(const std::string&)> open_keras = nullptr;  ///< for a Keras .h5 file, where CMS has one
};

const std::vector<ModelEntry>& models() {
  using namespace deepjet::zoo;
  static const std::vector<ModelEntry> entries{
      {"deepjet-hlt", "DeepJet for the high-level trigger (keras2onnx; inputs global 15, cpf 25x16, npf 25x6, sv 4x12)",
       "DeepFlavourHLT_12x/DeepFlavour_220104.onnx", onnx_runner<DeepJet>},
      {"deepjet-run3", "DeepJet for Run 3 (PyTorch export; a fifth input, jet pT, passes through to a second output)",
       "DeepFlavourV04_12X_training/DeepJet_Run3_122X.onnx", onnx_runner<DeepJet>},
      {"deepjet-run2", "DeepJet, Run-2 production variant (a fifth input, jet pT, through its own BatchNorm; "
                       "probabilities and a 2-output regression head; hard_sigmoid LSTM gates)",
       "(a Run-2 DeepJet ONNX file)", onnx_runner<DeepJetRun2>},
      {"deepak8", "DeepAK8 (DeepBoostedJet V02; MXNet export: pfcand 42 x 100, sv 15 x 7, channels-first; 17 classes)",
       "DeepBoostedJet/V02/full/resnet.onnx", onnx_runner<DeepAK8V02>},
      {"deepdoublex", "DeepDoubleX C vs light (ONNX from keras2onnx, or the Keras 2.2 .h5; db 1x5, pf 60x8, cpf 40x21, "
                      "sv 5x7; three backward GRU branches with hard_sigmoid gates)",
       "DeepDoubleX/102X/V02/CvL.onnx", onnx_runner<DeepDoubleX>, keras_runner<DeepDoubleX>},
      {"deepcsv", "DeepCSV, Phase I (lwtnn JSON; 66 raw inputs, 5 x Dense 100, softmax b, bb, c, udsg)",
       "DeepCSV_PhaseI.json", lwtnn_runner<DeepCSV>},
  };
  return entries;
}

const ModelEntry& find_model(const std::string& name) {
  for (const auto& entry : models())
    if (entry.name == name) return entry;
  std::string names;
  for (const auto& entry : models()) names += " " + entry.name;
  throw deepjet::Error("unknown model '" + name + "'; the models are:" + names);
}

/// Opens `file` as the model's format: a Keras .h5 file where the model has one, else its own format.
Runner open_file(const ModelEntry& entry, const std::string& file) {
  if (std::filesystem::path(file).extension() == ".h5") {
    if (!entry.open_keras) throw deepjet::Error("model '" + entry.name + "' is not read from a Keras .h5 file (" + file + ")");
    return entry.open_keras(file);
  }
  return entry.open(file);
}

int usage() {
  std::cerr << "usage: cms_models list\n"
               "       cms_models predict MODEL FILE INPUTS.h5 OUTPUTS.h5\n"
               "       cms_models benchmark MODEL FILE\n"
               "       cms_models compare OUTPUTS.h5 EXPECTED.h5 [TOLERANCE]\n";
  return 2;
}

int compare(const std::string& outputs_path, const std::string& expected_path, double tolerance) {
  const auto outputs = read_arrays(outputs_path, "outputs");
  const auto expected = read_arrays(expected_path, "outputs");
  if (outputs.size() != expected.size()) {
    std::cerr << "cms_models: " << outputs.size() << " outputs, " << expected.size() << " expected\n";
    return 1;
  }
  bool ok = true;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].dims != expected[i].dims) {
      std::cerr << "cms_models: output " << i << " ('" << outputs[i].name << "') has another shape than expected\n";
      ok = false;
      continue;
    }
    double worst = 0.0;
    for (std::size_t k = 0; k < outputs[i].values.size(); ++k)
      worst = std::max(worst, std::fabs(static_cast<double>(outputs[i].values[k]) - expected[i].values[k]));
    const bool within = worst <= tolerance;
    ok = ok && within;
    std::printf("output %zu '%s': %zu values, max |difference| %.3g %s\n", i, expected[i].name.c_str(),
                outputs[i].values.size(), worst, within ? "(within tolerance)" : "(ABOVE TOLERANCE)");
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage();
  try {
    if (args[0] == "list" && args.size() == 1) {
      for (const auto& entry : models())
        std::printf("%-14s %s\n%-14s CMS file: %s\n", entry.name.c_str(), entry.description.c_str(), "",
                    entry.cms_file.c_str());
      return 0;
    }
    if (args[0] == "predict" && args.size() == 5) {
      const Runner runner = open_file(find_model(args[1]), args[2]);
      std::cerr << runner.report;
      const auto outputs = runner.predict(read_arrays(args[3], "inputs"));
      write_arrays(args[4], outputs, args[1] + " (" + args[2] + ")");
      std::cerr << "cms_models: wrote " << outputs.size() << " output(s) for " << outputs.at(0).dims.at(0)
                << " jets to " << args[4] << "\n";
      return 0;
    }
    if (args[0] == "benchmark" && args.size() == 3) {
      const Runner runner = open_file(find_model(args[1]), args[2]);
      for (const std::size_t batch : {std::size_t{1}, std::size_t{1024}}) {
        const auto [cpu, wall] = runner.benchmark(batch);
        std::printf("%s batch %4zu, 1 thread: %10.0f jets/s per CPU second, %10.0f per wall second\n",
                    args[1].c_str(), batch, cpu, wall);
      }
      return 0;
    }
    if (args[0] == "compare" && (args.size() == 3 || args.size() == 4)) {
      return compare(args[1], args[2], args.size() == 4 ? std::stod(args[3]) : 1e-5);
    }
  } catch (const std::exception& error) {
    std::cerr << "cms_models: " << error.what() << "\n";
    return 1;
  }
  return usage();
}
