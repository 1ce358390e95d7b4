// The translation unit whose compile cost is measured (benchmarks/compile_cost/measure.py): what a
// user's DeepJet training program instantiates: the full model, training steps with Adam and the
// cross-entropy loss, inference, freezing, and saving/loading a checkpoint.
#include <deepjet/training.hpp>
#include <deepjet/zoo/deepjet.hpp>

#include <cstdio>
#include <filesystem>

int main() {
  using Net = deepjet::zoo::DeepJet;
  deepjet::Model<Net> model(/*seed=*/1);
  constexpr std::size_t batch = 32;
  auto x = deepjet::make_tensors<Net::input_shape>(batch);
  deepjet::Random random(2);
  std::apply([&](auto&... block) { ((std::generate(block.begin(), block.end(), [&] { return random.uniform(-1.0f, 1.0f); })), ...); }, x);
  xt::xtensor<float, 2> target = xt::zeros<float>({batch, std::size_t{6}});
  for (std::size_t i = 0; i < batch; ++i) target(i, i % 6) = 1.0f;
  deepjet::Adam adam{.learning_rate = 1e-3};
  double loss = model.train_step(x, target, nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  model.set_trainable("0.0", false);
  adam.learning_rate = 1e-4;
  loss = model.train_step(x, target, nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  const auto path = std::filesystem::temp_directory_path() / "deepjet-training-unit.h5";
  deepjet::save_model(model, path, &adam);
  deepjet::load_model(model, path, &adam);
  std::filesystem::remove(path);
  const auto p = model.predict(x);
  std::printf("loss %.4f, p(b) of the first jet %.4f\n", loss, static_cast<double>(p(0, 0)));
}
