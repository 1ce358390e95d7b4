// Exporting a model with a layer type the ONNX writer has no mapping for must not compile, and the
// error must say which layers it knows and where to add one.
#include <deepjet/interchange/onnx/writer.hpp>

// A valid deepjet layer (it doubles its input) that the exporter does not know.
template <deepjet::ShapeType S>
struct DoubleLayer : deepjet::LeafLayer<DoubleLayer<S>> {
  using input_shape = S;
  using output_shape = S;
  static constexpr std::string_view kind = "Double";
  static constexpr std::array<deepjet::ParameterSpec, 0> parameters{};
  static constexpr std::size_t parameter_count = 0;
  static void infer(const float*, deepjet::ConstBatch<S> x, deepjet::Batch<S> y, float*) {
    for (std::size_t i = 0; i < x.size(); ++i) y.data[i] = 2 * x.data[i];
  }
  void forward(deepjet::TrainingContext&, float*, deepjet::ConstBatch<S> x, deepjet::Batch<S> y) { infer(nullptr, x, y, nullptr); }
  void backward(const float*, float*, deepjet::ConstBatch<S>, deepjet::ConstBatch<S>, deepjet::ConstBatch<S> dy,
                deepjet::Batch<S> dx) {
    if (dx.data)
      for (std::size_t i = 0; i < dy.size(); ++i) dx.data[i] = 2 * dy.data[i];
  }
};

int main() {
  deepjet::Model<deepjet::Sequential<deepjet::Input<4>, deepjet::Dense<3>, DoubleLayer<deepjet::Shape<3>>>> model;
  deepjet::onnx::export_model(model, "model.onnx");
}
