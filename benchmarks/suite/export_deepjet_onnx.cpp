// The benchmark suite's DeepJet as an ONNX file, for ONNX Runtime's column of the table
// (benchmarks/run.sh): the same network with the same weights as deepjet_benchmarks' inference
// figures (zoo::DeepJet, Model(seed 1)), so both engines compute the same function.
//
//   export_deepjet_onnx OUT.onnx
#include <deepjet/interchange/onnx.hpp>
#include <deepjet/zoo/deepjet.hpp>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: export_deepjet_onnx OUT.onnx\n");
    return 2;
  }
  try {
    const deepjet::Model<deepjet::zoo::DeepJet> model(/*seed=*/1);  // as deepjet_benchmarks.cpp
    deepjet::onnx::export_model(model, argv[1], {.input_names = {"global", "cpf", "npf", "sv"}, .output_names = {"probabilities"}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "export_deepjet_onnx: %s\n", e.what());
    return 1;
  }
}
