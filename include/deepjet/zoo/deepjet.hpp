// The DeepJet (DeepFlavour) tagger of CMS as types: the production network and its Run-3 and
// Run-2 variants, each the graph of a CMS production file (../shared/data/models/README.md), so
// that those files' weights can be loaded into them.
//
// DeepJet (CMS's DeepFlavour_HLT_220104.onnx, keras2onnx, the high-level-trigger DeepJet of 2022):
// inputs per jet: 15 global features, 25 charged candidates x 16, 25 neutral candidates x 6,
// 4 secondary vertices x 12. Each block is batch-normalised; the three lists go through 1x1
// convolutions, each ReLU then BatchNorm then Dropout, except the last one of a branch (cpf 8,
// npf 4, sv 8 filters), which is ReLU only and feeds the LSTM directly; each LSTM runs backwards
// over its list (so that it ends on the first, most displaced, candidate; sigmoid gates), followed
// by BatchNorm and Dropout; the results are concatenated with the global features
// (15 + 150 + 50 + 50 = 265) and classified by Dense 200 and seven Dense 100 (ReLU, BatchNorm,
// Dropout each) into six classes with a softmax.
// 265,252 trainable parameters, 3,006 BatchNorm statistics besides (23 BatchNorms), as the file.
// (keras2onnx stored each BatchNorm already folded: mean 0, variance 1, epsilon 1e-6, the scale and
// offset in gamma and beta; these BatchNorms use Keras's epsilon 1e-3, so an import sets the
// variance to 1 - 1e-3 + 1e-6, or scales gamma by sqrt((1 + 1e-3) / (1 + 1e-6)).)
//
// DeepJetRun3 (CMS's DeepJet_Run3_122X.onnx, exported from PyTorch): read off its graph, the
// network is the one above, layer for layer: the same 23 BatchNorms (eps 1e-3), 11 pointwise
// convolutions with the same widths and no BatchNorm after the last of each branch, three LSTMs
// with sigmoid gates (ONNX's default activations) run over each list reversed (a Slice with step
// -1 before a forward LSTM, whose last output is taken: the final state of a backward LSTM), nine
// Dense layers (200, seven of 100, 6; ONNX Gemm) and the softmax; the same parameter counts. Its
// fifth input, jet pT (Shape<1>), is not used by the network: an ONNX Identity copies it unchanged
// to a second output.
// So DeepJetRun3 gives Shapes<Shape<6>, Shape<1>>: the probabilities, and the jet pT as given.
// Same parameters as DeepJet (265,252 + 3,006); PyTorch's two LSTM biases are summed on import.
//
// DeepJetRun2 (the Run-2 production model trained with Keras, DeepJet's model_deepFlavourReference;
// no file in this repository): DeepJet with the LSTMs' Keras-2 recurrent activation hard_sigmoid,
// a fifth input, jet pT (Shape<1>), through its own BatchNorm, and two outputs: the six
// probabilities, and a regression, Dense 2 (linear) on the concatenation of the six probabilities
// and the normalised pT. 265,270 trainable parameters (DeepJet's + 2 for the pT BatchNorm + 16 for
// Dense 2), 3,008 statistics (24 BatchNorms).
// How it is expressed: Branches gives the five blocks side by side, Concatenate joins them into
// 266 features (the classifier's 265, then the normalised pT); Parallel runs the classifier on
// Slice<0, 265> and passes Slice<265, 266> along; Concatenate joins probabilities and pT (7);
// Heads gives the probabilities (Slice<0, 6>) and Dense 2 on all seven. Parallel takes one input
// shape, not several blocks, hence the concatenation and slices (copies of 266 and 7 floats per
// jet); the computation is exactly the Keras graph's.
//
// DropoutRate is a parameter so that numerical comparisons with another framework can switch the
// random masks off (DeepJetNetwork<0.0f>); the tagger itself uses 0.1.
#pragma once

#include "deepjet/layers.hpp"

#include <array>
#include <string_view>

namespace deepjet::zoo {

/// The pieces of DeepJet; LSTMOptions are added to each LSTM's options (hard_sigmoid_gates for
/// the Keras-trained Run-2 model).
template <float DropoutRate = 0.1f, class... LSTMOptions>
struct DeepJetParts {
  template <std::size_t Filters>
  using ConvUnit = Stack<Conv1D<Filters>, ReLU, BatchNorm<>, Dropout<DropoutRate>>;
  // The last convolution of each branch feeds the LSTM directly: ReLU, no BatchNorm, no Dropout
  // (as in CMS's production graphs).
  template <std::size_t Filters>
  using LastConv = Stack<Conv1D<Filters>, ReLU>;
  template <std::size_t Units>
  using DenseUnit = Stack<Dense<Units>, ReLU, BatchNorm<>, Dropout<DropoutRate>>;
  template <std::size_t Units>
  using Recurrence = Stack<LSTM<Units, backwards, LSTMOptions...>, BatchNorm<>, Dropout<DropoutRate>>;

  using Global = BatchNorm<>;
  using Charged = Stack<BatchNorm<>, ConvUnit<64>, ConvUnit<32>, ConvUnit<32>, LastConv<8>, Recurrence<150>>;
  using Neutral = Stack<BatchNorm<>, ConvUnit<32>, ConvUnit<16>, LastConv<4>, Recurrence<50>>;
  using Vertices = Stack<BatchNorm<>, ConvUnit<64>, ConvUnit<32>, ConvUnit<32>, LastConv<8>, Recurrence<50>>;

  /// Everything after the concatenation (265 features): Dense 200, seven Dense 100, softmax over 6.
  using Classifier = Stack<DenseUnit<200>, DenseUnit<100>, DenseUnit<100>, DenseUnit<100>, DenseUnit<100>,
                           DenseUnit<100>, DenseUnit<100>, DenseUnit<100>, Dense<6>, Softmax>;

  using network = Sequential<
      Inputs<Shape<15>, Shape<25, 16>, Shape<25, 6>, Shape<4, 12>>,
      Branches<Global, Charged, Neutral, Vertices>,
      Concatenate,
      // The classifier's layers at the top level (paths "2" ... "11"), as before Classifier existed.
      DenseUnit<200>, DenseUnit<100>, DenseUnit<100>, DenseUnit<100>, DenseUnit<100>, DenseUnit<100>,
      DenseUnit<100>, DenseUnit<100>,
      Dense<6>, Softmax>;

  /// Run 3: the same network; the fifth input (jet pT) is copied to a second output.
  using run3_network = Sequential<
      Inputs<Shape<15>, Shape<25, 16>, Shape<25, 6>, Shape<4, 12>, Shape<1>>,
      Branches<Global, Charged, Neutral, Vertices, Identity>,
      Concatenate,                                         // 265 features, then the jet pT
      Heads<Stack<Slice<0, 265>, Classifier>, Slice<265, 266>>>;

  /// Run 2: jet pT through its own BatchNorm; regression Dense 2 on (probabilities, normalised pT).
  using run2_network = Sequential<
      Inputs<Shape<15>, Shape<25, 16>, Shape<25, 6>, Shape<4, 12>, Shape<1>>,
      Branches<Global, Charged, Neutral, Vertices, BatchNorm<>>,
      Concatenate,                                         // 265 features, then the normalised pT
      Parallel<Stack<Slice<0, 265>, Classifier>, Slice<265, 266>>,
      Concatenate,                                         // six probabilities, then the normalised pT
      Heads<Slice<0, 6>, Dense<2>>>;
};

template <float DropoutRate = 0.1f>
using DeepJetNetwork = typename DeepJetParts<DropoutRate>::network;
using DeepJet = DeepJetNetwork<0.1f>;

template <float DropoutRate = 0.1f>
using DeepJetRun3Network = typename DeepJetParts<DropoutRate>::run3_network;
using DeepJetRun3 = DeepJetRun3Network<0.1f>;

template <float DropoutRate = 0.1f>
using DeepJetRun2Network = typename DeepJetParts<DropoutRate, hard_sigmoid_gates>::run2_network;
using DeepJetRun2 = DeepJetRun2Network<0.1f>;

inline constexpr std::array<std::string_view, 4> deepjet_inputs{"global", "cpf", "npf", "sv"};
/// The Run-3 and Run-2 variants' inputs: DeepJet's, then the jet pT.
inline constexpr std::array<std::string_view, 5> deepjet_pt_inputs{"global", "cpf", "npf", "sv", "jet_pt"};
inline constexpr std::array<std::string_view, 6> deepjet_classes{"b", "bb", "lepb", "c", "uds", "g"};

}  // namespace deepjet::zoo
