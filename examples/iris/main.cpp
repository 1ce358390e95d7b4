// The smallest deepjet program: classify Iris flowers (Fisher, 1936) with a dense network.
//
//   iris [iris.csv] [model.h5]
//
// Reads the 150 flowers, keeps 20 % of each species aside (a stratified split), standardises the
// four measurements with the training set's mean and standard deviation, trains with Adam, prints
// `accuracy=<value>` on the held-out flowers and, if asked, saves the model. Every random choice
// is seeded, so every run prints the same accuracy.
#include <deepjet/training.hpp>
#include <deepjet/zoo/iris.hpp>

#include <xtensor/xsort.hpp>
#include <xtensor/xview.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

// The network is the zoo's Iris classifier: Dense 16, ReLU, Dense 16, ReLU, Dense 3, Softmax.
using Net = deepjet::zoo::Iris;

constexpr const auto& species = deepjet::zoo::iris_species;

struct Flower {
  float measurements[4];
  std::size_t species;
};

std::vector<Flower> read_flowers(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw deepjet::FileError(path, "cannot open");
  std::vector<Flower> flowers;
  std::string line;
  std::getline(in, line);  // header
  for (std::size_t number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    Flower flower{};
    std::string field;
    for (float& value : flower.measurements) {
      if (!std::getline(fields, field, ',')) throw deepjet::FileError(path, "line " + std::to_string(number) + ": too few columns");
      value = std::stof(field);
    }
    std::getline(fields, field);
    const auto found = std::find(species.begin(), species.end(), field);
    if (found == species.end()) throw deepjet::FileError(path, "line " + std::to_string(number) + ": unknown species '" + field + "'");
    flower.species = static_cast<std::size_t>(found - species.begin());
    flowers.push_back(flower);
  }
  return flowers;
}

// Inputs (standardised) and one-hot targets of a set of flowers.
void to_tensors(const std::vector<Flower>& flowers, const float mean[4], const float std_dev[4],
                xt::xtensor<float, 2>& x, xt::xtensor<float, 2>& y) {
  x = xt::empty<float>({flowers.size(), std::size_t{4}});
  y = xt::zeros<float>({flowers.size(), std::size_t{3}});
  for (std::size_t i = 0; i < flowers.size(); ++i) {
    for (std::size_t j = 0; j < 4; ++j) x(i, j) = (flowers[i].measurements[j] - mean[j]) / std_dev[j];
    y(i, flowers[i].species) = 1.0f;
  }
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string csv = argc > 1 ? argv[1] : DEEPJET_IRIS_CSV;
  const std::vector<Flower> flowers = read_flowers(csv);
  deepjet::Random random(2026);

  // Stratified split: shuffle each species, keep its first 20 % for testing.
  std::vector<Flower> train, test;
  for (std::size_t s = 0; s < species.size(); ++s) {
    std::vector<Flower> of_species;
    for (const auto& f : flowers)
      if (f.species == s) of_species.push_back(f);
    random.shuffle(of_species);
    const std::size_t n_test = of_species.size() / 5;
    test.insert(test.end(), of_species.begin(), of_species.begin() + static_cast<long>(n_test));
    train.insert(train.end(), of_species.begin() + static_cast<long>(n_test), of_species.end());
  }

  float mean[4] = {}, std_dev[4] = {};
  for (std::size_t j = 0; j < 4; ++j) {
    for (const auto& f : train) mean[j] += f.measurements[j] / static_cast<float>(train.size());
    for (const auto& f : train) std_dev[j] += std::pow(f.measurements[j] - mean[j], 2.0f) / static_cast<float>(train.size());
    std_dev[j] = std::sqrt(std_dev[j]);
  }
  xt::xtensor<float, 2> x_train, y_train, x_test, y_test;
  to_tensors(train, mean, std_dev, x_train, y_train);
  to_tensors(test, mean, std_dev, x_test, y_test);

  deepjet::Model<Net> model(/*seed=*/1);
  deepjet::Adam adam{.learning_rate = 0.01};
  const deepjet::CategoricalCrossEntropy loss;
  constexpr std::size_t batch_size = 16;
  std::vector<std::size_t> order(train.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  xt::xtensor<float, 2> x_batch, y_batch;
  for (int epoch = 0; epoch < 100; ++epoch) {
    random.shuffle(order);
    for (std::size_t start = 0; start < order.size(); start += batch_size) {
      const std::size_t n = std::min(batch_size, order.size() - start);
      x_batch = xt::empty<float>({n, std::size_t{4}});
      y_batch = xt::empty<float>({n, std::size_t{3}});
      for (std::size_t i = 0; i < n; ++i) {
        xt::view(x_batch, i) = xt::view(x_train, order[start + i]);
        xt::view(y_batch, i) = xt::view(y_train, order[start + i]);
      }
      model.train_step(x_batch, y_batch, nullptr, loss, adam);
    }
  }

  const auto probabilities = model.predict(x_test);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < test.size(); ++i)
    correct += xt::argmax(xt::view(probabilities, i))() == test[i].species;
  std::printf("accuracy=%.4f\n", static_cast<double>(correct) / static_cast<double>(test.size()));

  if (argc > 2) {
    deepjet::save_model(model, argv[2]);
    std::printf("model saved to %s\n", argv[2]);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "iris: %s\n", e.what());
  return 1;
}
