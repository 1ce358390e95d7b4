// deepjet/io/model_file.hpp: saving and loading a model's weights (and an optimiser's state).
//
// File layout (HDF5):
//   attributes  deepjet_file = "model", format_version = 1, library_version,
//               architecture = Architecture::signature() of the saved model
//   parameters/<tensor path>    one float32 dataset per tensor, e.g. parameters/0/weight (in, out)
//   optimiser/<state name>      optional: the optimiser's state arrays, attributes
//                               optimiser_kind and optimiser_steps
//
// Contract: save_model writes to a temporary file beside the destination and renames it into place,
// so an existing file is never half overwritten. load_model first compares the architecture
// stored in the file with the compiled model's and throws deepjet::FileError naming the first
// layer that differs; the model is left unchanged by a failed load.
#pragma once

#include "deepjet/core/atomic_file.hpp"
#include "deepjet/core/version.hpp"
#include "deepjet/io/hdf5/hdf5.hpp"
#include "deepjet/models/model.hpp"
#include "deepjet/models/predictor.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace deepjet {

namespace detail {
inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

inline std::string dataset_name(const std::string& tensor_path) {
  std::string name = "parameters/" + tensor_path;
  std::replace(name.begin() + 11, name.end(), '.', '/');
  return name;
}

// Throws naming the first layer where the file's architecture and the model's differ.
inline void check_architecture(const hdf5::File& file, const std::string& expected) {
  const auto stored = detail::split_lines(file.read_string_attribute("architecture"));
  const auto wanted = detail::split_lines(expected);
  for (std::size_t i = 0; i < std::max(stored.size(), wanted.size()); ++i) {
    const std::string in_file = i < stored.size() ? stored[i] : "(no such layer)";
    const std::string in_model = i < wanted.size() ? wanted[i] : "(no such layer)";
    if (in_file != in_model)
      file.fail("was saved from a different architecture: layer " + std::to_string(i) + " is '" + in_file +
                "' in the file but '" + in_model + "' in this model (" + std::to_string(stored.size()) +
                " layers in the file, " + std::to_string(wanted.size()) + " in the model)");
  }
}
}  // namespace detail

/// Text saved beside a model (a trainer's state in a checkpoint), attribute "extra:<name>".
using ModelFileExtras = std::map<std::string, std::string>;

/// Write the model's parameters, the optimiser's state if one is given, and `extras`, to `path`.
template <Layer Net, class Optimiser = void>
void save_model(const Model<Net>& model, const std::filesystem::path& path, Optimiser* optimiser = nullptr,
                const ModelFileExtras& extras = {}) {
  AtomicFile output(path);
  {
    hdf5::File file(output.temporary_path(), hdf5::File::Mode::create);
    file.write_attribute("deepjet_file", std::string("model"));
    file.write_attribute("format_version", std::uint64_t{1});
    file.write_attribute("library_version", std::string(version));
    file.write_attribute("architecture", model.architecture().signature());
    const auto values = model.parameters();
    for (const auto& p : model.architecture().parameters) {
      std::vector<std::size_t> shape(p.spec.shape.begin(), p.spec.shape.begin() + p.spec.rank);
      file.write(detail::dataset_name(p.path), values.data() + p.offset, shape);
    }
    if constexpr (!std::is_void_v<Optimiser>) {
      if (optimiser) {
        file.write_attribute("optimiser_kind", std::string(Optimiser::kind));
        file.write_attribute("optimiser_steps", std::uint64_t{optimiser->steps});
        optimiser->visit_state([&](const char* name, const AlignedFloats& state) {
          file.write("optimiser/" + std::string(name), state.data(), {state.size()});
        });
      }
    }
    std::string names;
    for (const auto& [name, value] : extras) {
      file.write_attribute("extra:" + name, value);
      names += name + "\n";
    }
    file.write_attribute("extras", names);
    file.close();
  }
  output.commit();
}

/// The extras saved with a model (empty for files without any).
inline ModelFileExtras load_model_extras(const std::filesystem::path& path) {
  hdf5::File file(path, hdf5::File::Mode::read);
  ModelFileExtras extras;
  if (!file.has_attribute("extras")) return extras;
  for (const auto& name : detail::split_lines(file.read_string_attribute("extras")))
    extras[name] = file.read_string_attribute("extra:" + name);
  return extras;
}

/// Read parameters (and the optimiser's state, if one is given) saved by save_model.
template <Layer Net, class Optimiser = void>
void load_model(Model<Net>& model, const std::filesystem::path& path, Optimiser* optimiser = nullptr) {
  hdf5::File file(path, hdf5::File::Mode::read);
  if (!file.has_attribute("deepjet_file") || file.read_string_attribute("deepjet_file") != "model")
    file.fail("is an HDF5 file but not a deepjet model file");
  if (file.read_integer_attribute("format_version") != 1)
    file.fail("has model format version " + std::to_string(file.read_integer_attribute("format_version")) +
              "; this deepjet reads version 1");
  detail::check_architecture(file, model.architecture().signature());

  // Read everything first, so a failure part-way leaves the model as it was.
  std::vector<float> values(model.parameters().begin(), model.parameters().end());
  for (const auto& p : model.architecture().parameters) {
    const auto array = file.read<float>(detail::dataset_name(p.path));
    if (array.values.size() != p.spec.size())
      file.fail("tensor '" + p.path + "' has " + std::to_string(array.values.size()) + " values, expected " +
                std::to_string(p.spec.size()));
    std::copy(array.values.begin(), array.values.end(), values.begin() + static_cast<std::ptrdiff_t>(p.offset));
  }
  if constexpr (!std::is_void_v<Optimiser>) {
    if (optimiser) {
      if (!file.has_attribute("optimiser_kind")) file.fail("holds no optimiser state to resume from");
      const auto kind = file.read_string_attribute("optimiser_kind");
      if (kind != Optimiser::kind)
        file.fail("holds the state of a " + kind + " optimiser, not of " + std::string(Optimiser::kind));
      Optimiser restored = *optimiser;
      restored.steps = file.read_integer_attribute("optimiser_steps");
      restored.visit_state([&](const char* name, AlignedFloats& state) {
        const auto array = file.read<float>("optimiser/" + std::string(name));
        if (!array.values.empty() && array.values.size() != model.parameters().size())
          file.fail("optimiser state '" + std::string(name) + "' has " + std::to_string(array.values.size()) +
                    " values for " + std::to_string(model.parameters().size()) + " parameters");
        state.assign(array.values.begin(), array.values.end());
      });
      *optimiser = std::move(restored);
    }
  }
  std::copy(values.begin(), values.end(), model.parameters().begin());
}

/// The inference engine of the model saved at `path` (models/predictor.hpp); the file is checked
/// as by load_model. load_predictor<Net, Precision::bfloat16>(path) gives the bfloat16 one.
template <Layer Net, Precision P = Precision::float32>
Predictor<Net, P> load_predictor(const std::filesystem::path& path) {
  Model<Net> model;
  load_model(model, path);
  return Predictor<Net, P>(model);
}

}  // namespace deepjet
