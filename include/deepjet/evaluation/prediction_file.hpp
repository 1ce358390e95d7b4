// deepjet/evaluation/prediction_file.hpp: prediction files read back, ROOT or HDF5.
//
//   const auto p = deepjet::evaluation::read_predictions("predictions/test.root");   // or test.h5
//   evaluate(p.probabilities, p.truth, p.spectator_values, p.classes, p.spectators, settings);
//
// Contract: read_predictions takes a file written by deepjet::training::predict_* (the format is
// told by its first bytes) and returns, per jet, the class probabilities, the truth per class, the
// spectators, the class weights (when written) and the source entry. In a ROOT file it reads the
// TTree "tree" whose title (root_prediction_title) names the classes, the truth branches each
// class sums (any numeric type) and the spectators; the probabilities are the prob_<class>
// branches. Errors: a file that is not a deepjet prediction file, a tree without such a title, a
// missing branch: deepjet::FileError naming the file.
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/io/hdf5/hdf5.hpp"
#include "deepjet/io/root.hpp"

#include <xtensor/xtensor.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace deepjet::evaluation {

/// The name of the tree in ROOT prediction files.
inline constexpr const char* prediction_tree = "tree";

/// The title of a ROOT prediction tree: how its truth branches make the classes, and its spectators.
inline std::string root_prediction_title(const std::vector<std::pair<std::string, std::vector<std::string>>>& classes,
                                         const std::vector<std::string>& spectators) {
  // Appending, not concatenating temporaries: GCC 12 warns falsely on those.
  auto append = [](std::string& list, char separator, std::string_view item) {
    if (!list.empty()) list += separator;
    list.append(item);
  };
  std::string class_text, spectator_text;
  for (const auto& [name, flags] : classes) {
    std::string item(name);
    item += '=';
    std::string sum;
    for (const auto& flag : flags) append(sum, '+', flag);
    item += sum;
    append(class_text, ',', item);
  }
  for (const auto& s : spectators) append(spectator_text, ',', s);
  std::string title = "deepjet predictions; classes ";
  title += class_text;
  title += "; spectators ";
  title += spectator_text;
  return title;
}

/// A prediction file read back (for evaluation).
struct Predictions {
  std::vector<std::string> classes;
  std::vector<std::string> spectators;
  xt::xtensor<float, 2> probabilities;
  xt::xtensor<float, 2> truth;
  xt::xtensor<float, 2> spectator_values;
  xt::xtensor<float, 1> weights;              ///< empty when the file has none
  std::vector<std::int64_t> source_entries;   ///< the source entry of each jet (empty in older files)
};

namespace prediction_file_detail {
inline std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> out;
  std::string word;
  for (char c : text) {
    if (c == separator) {
      out.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) out.push_back(word);
  return out;
}

inline Predictions read_hdf5_predictions(const std::filesystem::path& path) {
  hdf5::File file(path, hdf5::File::Mode::read);
  if (!file.has_attribute("deepjet_file") || file.read_string_attribute("deepjet_file") != "predictions")
    file.fail("is not a deepjet prediction file");
  Predictions p;
  p.classes = split(file.read_string_attribute("classes", "probabilities"), ',');
  p.spectators = split(file.read_string_attribute("spectators", "spectators"), ',');
  auto read2 = [&](const std::string& name, std::size_t columns) {
    const auto a = file.read<float>(name);
    xt::xtensor<float, 2> t = xt::empty<float>({a.shape.empty() ? 0 : a.shape[0], columns});
    std::copy(a.values.begin(), a.values.end(), t.begin());
    return t;
  };
  p.probabilities = read2("probabilities", p.classes.size());
  p.truth = read2("truth", p.classes.size());
  p.spectator_values = read2("spectators", p.spectators.size());
  if (file.exists("weights")) {
    const auto w = file.read<float>("weights");
    p.weights = xt::empty<float>({w.values.size()});
    std::copy(w.values.begin(), w.values.end(), p.weights.begin());
  }
  if (file.exists("source_entries")) p.source_entries = file.read<std::int64_t>("source_entries").values;
  return p;
}

// The tree "tree" with the title root_prediction_title writes.
inline Predictions read_root_predictions(const std::filesystem::path& path) {
  const root::File file(path.string());
  const root::Tree tree = file.tree(prediction_tree);
  const std::string& title = tree.title();
  const std::string prefix = "deepjet predictions; classes ";
  const auto spectators_at = title.find("; spectators ");
  if (title.rfind(prefix, 0) != 0 || spectators_at == std::string::npos)
    throw FileError(path.string(), "tree '" + std::string(prediction_tree) +
                                       "' is not a deepjet prediction tree (its title does not list the classes)");
  Predictions p;
  std::vector<std::vector<std::string>> flags;
  for (const auto& item : split(title.substr(prefix.size(), spectators_at - prefix.size()), ',')) {
    const auto equals = item.find('=');
    if (equals == std::string::npos) throw FileError(path.string(), "bad class in the prediction tree's title: " + item);
    p.classes.push_back(item.substr(0, equals));
    flags.push_back(split(item.substr(equals + 1), '+'));
  }
  p.spectators = split(title.substr(spectators_at + std::string("; spectators ").size()), ',');
  const auto jets = static_cast<std::size_t>(tree.entries());
  const std::size_t C = p.classes.size(), S = p.spectators.size();
  p.probabilities = xt::zeros<float>({jets, C});
  p.truth = xt::zeros<float>({jets, C});
  p.spectator_values = xt::zeros<float>({jets, S});
  for (std::size_t c = 0; c < C; ++c) {
    const auto probability = tree.read<float>("prob_" + p.classes[c]);
    for (std::size_t j = 0; j < jets; ++j) p.probabilities(j, c) = probability[j];
    for (const auto& flag : flags[c]) {  // summed in the order read_truth sums them
      const auto values = tree.read<float>(flag);
      for (std::size_t j = 0; j < jets; ++j) p.truth(j, c) += values[j];
    }
  }
  for (std::size_t s = 0; s < S; ++s) {
    const auto values = tree.read<float>(p.spectators[s]);
    for (std::size_t j = 0; j < jets; ++j) p.spectator_values(j, s) = values[j];
  }
  if (tree.has_branch("weight")) {
    const auto w = tree.read<float>("weight");
    p.weights = xt::empty<float>({jets});
    std::copy(w.begin(), w.end(), p.weights.begin());
  }
  if (tree.has_branch("source_entry")) p.source_entries = tree.read<std::int64_t>("source_entry");
  return p;
}
}  // namespace prediction_file_detail

/// A prediction file, ROOT or HDF5 (told apart by the first bytes).
inline Predictions read_predictions(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path.string(), "cannot open");
  char magic[4] = {};
  in.read(magic, sizeof magic);
  if (in.gcount() == 4 && std::string(magic, 4) == "root") return prediction_file_detail::read_root_predictions(path);
  return prediction_file_detail::read_hdf5_predictions(path);
}

}  // namespace deepjet::evaluation
