// deepjet/interchange/keras/weights.hpp: the weights of a Keras 2 HDF5 file, layer by layer.
//
// Layout (Keras 2.x, tf.keras 2.x): a model.save() file keeps the weights under the group
// "model_weights"; a model.save_weights() file keeps them at the root. Either group lists its
// layers in the attribute `layer_names`; each layer has a group of its name whose attribute
// `weight_names` lists its datasets in order, as paths inside that group ("pf_gru/kernel:0", or
// "gru/gru_cell/kernel:0" in TF 2). A weight is known by its last path component without the
// ":0" (kernel, recurrent_kernel, bias, gamma, beta, moving_mean, moving_variance).
//
// Contract: KerasWeights::layer(name) reads one layer's weights (float32, any dims); take() hands
// out one weight after checking its dims; finish() refuses weights no one took. Every problem
// (a missing group, dataset or attribute, other dims, an unread weight) throws deepjet::Error naming
// the Keras layer and the weight; HDF5 read errors throw deepjet::FileError naming the file.
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/io/hdf5/hdf5.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace deepjet::keras::import_detail {

inline std::string dims_list(const std::vector<std::size_t>& dims) {
  std::string t = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) t += (i ? ", " : "") + std::to_string(dims[i]);
  return t + "]";
}

/// One layer's weights, handed out by their short names.
class LayerWeights {
 public:
  LayerWeights(std::string layer_text, std::string group) : layer_(std::move(layer_text)), group_(std::move(group)) {}

  void add(const std::string& short_name, const std::string& dataset, hdf5::Array<float> values) {
    if (!arrays_.emplace(short_name, std::move(values)).second)
      throw Error(layer_ + " has two weights named '" + short_name + "' in the file");
    datasets_[short_name] = dataset;
  }
  bool has(const std::string& short_name) const { return arrays_.count(short_name) > 0; }

  /// The weight `short_name`, which must have dims `dims`; `why` says what sets those dims.
  std::vector<float> take(const std::string& short_name, const std::vector<std::size_t>& dims, const std::string& why) {
    auto it = arrays_.find(short_name);
    if (it == arrays_.end()) {
      std::string present;
      for (const auto& [name, array] : arrays_) present += (present.empty() ? "" : ", ") + name;
      throw Error(layer_ + " has no weight dataset '" + short_name + "' in the file (its group '" + group_ + "' holds " +
                  (present.empty() ? std::string("none") : present) + ")");
    }
    if (it->second.shape != dims)
      throw Error(layer_ + ": weight '" + datasets_[short_name] + "' has dims " + dims_list(it->second.shape) + ", " + why +
                  " gives " + dims_list(dims));
    taken_.insert(short_name);
    return it->second.values;
  }

  /// Refuses weights the lowering did not use (deepjet consumes every weight or refuses the file).
  void finish() const {
    for (const auto& [name, array] : arrays_)
      if (!taken_.count(name))
        throw Error(layer_ + " has weight '" + datasets_.at(name) + "' " + dims_list(array.shape) +
                    " that deepjet's layer does not have (the layer's config and weights disagree)");
  }
  std::size_t size() const { return arrays_.size(); }

 private:
  std::string layer_, group_;
  std::map<std::string, hdf5::Array<float>> arrays_;
  std::map<std::string, std::string> datasets_;
  std::set<std::string> taken_;
};

class KerasWeights {
 public:
  explicit KerasWeights(const hdf5::File& file) : file_(file) {
    root_ = file.exists("model_weights") ? "model_weights" : "/";
    if (!file.has_attribute("layer_names", root_))
      throw Error(std::string("holds no Keras weights: no attribute 'layer_names' on ") +
                  (root_ == "/" ? "the root group" : "'model_weights'") + " (not a Keras model.save() or save_weights() file?)");
    for (const auto& name : file.read_string_list_attribute("layer_names", root_)) layer_names_.insert(name);
  }

  /// Whether the file lists layer `name`.
  bool lists(const std::string& name) const { return layer_names_.count(name) > 0; }
  const std::set<std::string>& layer_names() const { return layer_names_; }
  const std::string& root() const { return root_; }

  /// The weights of layer `name` (none if the file lists the layer without weights).
  LayerWeights layer(const std::string& name, const std::string& layer_text) const {
    const std::string group = root_ == "/" ? name : root_ + "/" + name;
    LayerWeights weights(layer_text, group);
    if (!lists(name) || !file_.exists(group)) {
      return weights;
    }
    if (!file_.has_attribute("weight_names", group))
      throw Error(layer_text + ": its group '" + group + "' has no attribute 'weight_names'");
    for (const auto& weight : file_.read_string_list_attribute("weight_names", group)) {
      const std::string dataset = group + "/" + weight;
      if (!file_.exists(dataset))
        throw Error(layer_text + ": weight dataset '" + dataset + "' (listed in its weight_names) is missing from the file");
      std::string short_name = weight.substr(weight.rfind('/') == std::string::npos ? 0 : weight.rfind('/') + 1);
      short_name = short_name.substr(0, short_name.find(':'));
      weights.add(short_name, dataset, file_.read<float>(dataset));
    }
    return weights;
  }

 private:
  const hdf5::File& file_;
  std::string root_;
  std::set<std::string> layer_names_;
};

}  // namespace deepjet::keras::import_detail
