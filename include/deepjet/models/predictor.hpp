// deepjet/models/predictor.hpp: the inference engine, a trained model ready for production.
//
//   deepjet::Predictor<Net> predictor(model);          // or (parameters), or load_predictor<Net>(file)
//   deepjet::Predictor<Net>::Workspace workspace;      // one per calling thread
//   predictor.predict(inputs, outputs, workspace);     // raw batches; or predictor.predict(x)
//
// Contract:
//   - construction packs the parameters once into the layout the kernels read (an LSTM's four
//     gates interleaved and padded to whole registers, every BatchNorm that precedes a Dense or a
//     Conv1D folded into its weights; layers/layer.hpp) and never changes them afterwards: a
//     Predictor is read-only and any number of threads may call predict() on the same object;
//   - each caller brings its own Workspace, which grows to the largest batch it has seen and is
//     then reused: after the first call with a given batch size, predict() allocates nothing;
//   - it also keeps the parameters as given, in the training layout (parameters()), for what reads
//     that layout: model files, the ONNX exporter;
//   - predict() starts no thread and takes no lock; its outputs equal Model::predict's (the
//     same kernels; BatchNorm folding changes float rounding only, ~1e-6 relative);
//   - while predict() runs, the calling thread treats subnormal floats as zero (FTZ and DAZ,
//     restored on return; kernels/simd.hpp SubnormalsAsZero): values below 1.2e-38 become 0
//     instead of costing a microcode assist each (an LSTM's saturated gates make them).
//
// Reduced precision, opt-in and for inference only: Predictor<Net, Precision::bfloat16> converts
// the packed weights of its Dense and pointwise Conv1D layers to bfloat16 once, at construction,
// and runs those layers' products in bfloat16 with float32 sums; every other layer stays float32
// (layers/precision.hpp). Its outputs differ from float32's by bfloat16 rounding (relative 2^-8
// per value; docs/performance.md gives the measured change of a tagger's AUC). parameters() are
// the float32 parameters as given, whatever the precision.
#pragma once

#include "deepjet/core/aligned.hpp"
#include "deepjet/core/error.hpp"
#include "deepjet/kernels/simd.hpp"
#include "deepjet/layers/layer.hpp"
#include "deepjet/models/model.hpp"
#include "deepjet/models/tensors.hpp"

#include <span>
#include <string>
#include <vector>

namespace deepjet {

template <Layer Net, Precision P = Precision::float32>
class Predictor {
 public:
  using network_type = Net;
  static constexpr Precision precision = P;
  using input_shape = typename Net::input_shape;
  using output_shape = typename Net::output_shape;
  using input_tensor = TensorsOf<input_shape>;
  using output_tensor = TensorsOf<output_shape>;
  static constexpr std::size_t parameter_count = Net::parameter_count;
  static constexpr std::size_t inference_parameter_count = inference_parameter_count_of<Net>;

  /// A caller's scratch memory; give each thread its own.
  class Workspace {
    friend class Predictor;
    AlignedFloats scratch_;
  };

  /// From a model's parameters (Model::parameters(), in its training layout).
  explicit Predictor(std::span<const float> parameters)
      : parameters_(parameters.begin(), parameters.end()), packed_(inference_parameter_count) {
    if (parameters.size() != parameter_count)
      throw Error("deepjet::Predictor: " + std::to_string(parameters.size()) + " parameters given, the network has " +
                  std::to_string(parameter_count));
    pack_inference_parameters<Net>(parameters.data(), packed_.data());
    pack_for_precision<P, Net>(packed_.data());
  }
  explicit Predictor(const Model<Net>& model) : Predictor(model.parameters()) {}

  /// The parameters in their training layout, as given (what model files and the ONNX exporter
  /// write; the kernels read the packed copy).
  std::span<const float> parameters() const { return {parameters_.data(), parameters_.size()}; }

  /// Floats of workspace predict() uses for a batch of `count`.
  static constexpr std::size_t workspace_size(std::size_t count) { return Net::scratch_size(count); }

  /// Inference on raw batches (x.count samples): thread-safe, allocation-free once `workspace`
  /// has served a batch this large.
  void predict(ConstBatch<input_shape> x, Batch<output_shape> y, Workspace& workspace) const {
    const kernels::SubnormalsAsZero no_subnormal_assists;  // restored on return (kernels/simd.hpp)
    infer_at<P, Net>(packed_.data(), x, y, ensure_size(workspace.scratch_, workspace_size(x.count)));
  }

  /// Inference on an xtensor batch (first dimension: samples), or a tuple of them.
  output_tensor predict(const input_tensor& x) const {
    const auto in = view_of<input_shape>(x, "predict: input");
    output_tensor y = make_tensors<output_shape>(in.count);
    Workspace workspace;
    predict(in, view_of<output_shape>(y, "predict: output"), workspace);
    return y;
  }

 private:
  std::vector<float> parameters_;
  AlignedFloats packed_;
};

}  // namespace deepjet
