// Built with only single_include/ on the include path: the single header stands on its own.
#include <deepjet/deepjet.hpp>

#include <cstdio>
#include <filesystem>

using Net = deepjet::Sequential<deepjet::Input<3>, deepjet::Dense<5>, deepjet::Tanh, deepjet::Dense<2>, deepjet::Softmax>;

int main() {
  deepjet::Model<Net> model(3);
  xt::xtensor<float, 2> x = {{0.1f, 0.2f, 0.3f}, {-1.0f, 0.5f, 2.0f}};
  xt::xtensor<float, 2> y = {{1.0f, 0.0f}, {0.0f, 1.0f}};
  deepjet::Adam adam;
  const double first = model.train_step(x, y, nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  double last = first;
  for (int i = 0; i < 50; ++i) last = model.train_step(x, y, nullptr, deepjet::CategoricalCrossEntropy{}, adam);
  const auto path = std::filesystem::temp_directory_path() / "deepjet-single-include-model.h5";
  deepjet::save_model(model, path);
  deepjet::Model<Net> loaded;
  deepjet::load_model(loaded, path);
  std::filesystem::remove(path);
  const auto p = loaded.predict(x);
  const bool ok = last < first && p(0, 0) > 0.5f && p(1, 1) > 0.5f;
  std::printf("single header: loss %.4f -> %.4f, %s\n", first, last, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
