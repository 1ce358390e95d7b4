// model_summary: print the zoo's models' layers and parameter counts, and time one forward
// pass of each on a batch of zeros through the inference engine (deepjet::Predictor). A starting
// point for declaring your own model.
#include <deepjet/inference.hpp>
#include <deepjet/zoo/deepak8.hpp>
#include <deepjet/zoo/deepcsv.hpp>
#include <deepjet/zoo/deepdoublex.hpp>
#include <deepjet/zoo/deepjet.hpp>
#include <deepjet/zoo/iris.hpp>

#include <chrono>
#include <cstdio>

template <class Net>
void summarise(const char* name) {
  deepjet::Model<Net> model(/*seed=*/1);
  std::size_t trainable = 0, buffers = 0;
  for (const auto& p : model.architecture().parameters) (p.spec.trainable ? trainable : buffers) += p.spec.size();
  std::printf("%s: %zu layers, %zu trainable parameters, %zu buffers\n", name, model.architecture().layers.size(),
              trainable, buffers);
  for (const auto& layer : model.architecture().layers)
    std::printf("  %-8s %s\n", layer.path.c_str(), layer.signature.c_str());
  constexpr std::size_t batch = 64;
  auto x = deepjet::make_tensors<typename Net::input_shape>(batch);
  if constexpr (requires { x.fill(0.0f); }) x.fill(0.0f);
  else std::apply([](auto&... block) { (block.fill(0.0f), ...); }, x);
  // Production inference: weights packed once (BatchNorms folded into the next Dense or Conv1D).
  const deepjet::Predictor<Net> predictor(model);
  std::printf("  inference: %zu floats of packed weights, %zu BatchNorms folded at the top level\n",
              predictor.inference_parameter_count, Net::folded_batch_norms);
  const auto start = std::chrono::steady_clock::now();
  const auto y = predictor.predict(x);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("  forward of %zu jets: %.2f ms\n\n", batch, 1e3 * seconds);
}

int main() {
  summarise<deepjet::zoo::DeepJet>("DeepJet");
  summarise<deepjet::zoo::DeepJetRun3>("DeepJetRun3");
  summarise<deepjet::zoo::DeepJetRun2>("DeepJetRun2");
  summarise<deepjet::zoo::DeepAK8>("DeepAK8");
  summarise<deepjet::zoo::DeepDoubleX>("DeepDoubleX");
  summarise<deepjet::zoo::DeepCSV>("DeepCSV");
  summarise<deepjet::zoo::Iris>("Iris");
}
