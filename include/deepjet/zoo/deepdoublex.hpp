// CMS's DeepDoubleX (V02, charm vs light: DeepDoubleX_V02_CvL), the double-flavour tagger for
// large-radius jets, as one type: the architecture of the Keras file's model_config
// (../shared/data/models/DeepDoubleX_V02_CvL.h5), layer for layer, so that its ONNX twin
// (DeepDoubleX_V02_CvL.onnx, keras2onnx 1.6.5) imports into it.
//
// Inputs per jet: db, 1 x 5 double-b features (Keras input_1, [1, 5]); pf, 60 particles x 8;
// cpf, 40 charged particles x 21; sv, 5 secondary vertices x 7.
//   db:            BatchNormalization, Flatten (-> 5)
//   pf, cpf, sv:   BatchNormalization, then twice [Conv1D 32, kernel 1, no bias, ReLU;
//                  SpatialDropout1D 0.1], then GRU 50 (tanh; hard_sigmoid gates; reset_after=False,
//                  Keras 2.2's convention = deepjet::reset_before; go_backwards; last state), Dropout 0.1
//   Concatenate (5 + 50 + 50 + 50 = 155), Dense 100 ReLU, Dropout 0.1, Dense 2 softmax over
//   deepdoublex_cvl_classes (probQCD, probHcc: CMSSW's flav_names for CvL).
// Keras's Conv1D(activation='relu') is Conv1D then ReLU here; its padding='same' with kernel 1 pads
// nothing. BatchNormalization(momentum 0.3, epsilon 1e-3) is BatchNorm<0.7f, 1e-3f> (batch_norm.hpp).
// 57,458 trainable parameters (BatchNorm scales and offsets 82; convolutions 4,224; GRUs 3 x 12,450;
// Dense 15,600 and 202) and 82 BatchNorm statistics (4 BatchNorms), as Keras counts the file
// (tests/test_onnx_import.cpp): parameter_count 57,540.
// (keras2onnx stored each BatchNorm already folded: mean 0, variance 1, epsilon 1e-6, the scale and
// offset in gamma and beta; an import carries the epsilon difference into the variance, 1 + 1e-6 -
// 1e-3, which computes the same function: see interchange/onnx/reader.hpp.)
//
// DropoutRate only acts in training; DeepDoubleXNetwork<0.0f> switches the masks off.
#pragma once

#include "deepjet/layers.hpp"

#include <array>
#include <string_view>

namespace deepjet::zoo {

template <float DropoutRate = 0.1f>
struct DeepDoubleXParts {
  /// Keras BatchNormalization(momentum=0.3, epsilon=1e-3).
  using Norm = BatchNorm<0.7f, 1e-3f>;
  /// Keras Conv1D(32, 1, padding='same', use_bias=False, activation='relu'), SpatialDropout1D.
  using ConvUnit = Stack<Conv1D<32, 1, 1, same, false>, ReLU, SpatialDropout<DropoutRate>>;
  /// Keras GRU(50, go_backwards=True, recurrent_activation='hard_sigmoid', reset_after=False), Dropout.
  using Recurrence = Stack<GRU<50, reset_before, backwards, hard_sigmoid_gates>, Dropout<DropoutRate>>;
  using List = Stack<Norm, ConvUnit, ConvUnit, Recurrence>;

  using network = Sequential<
      Inputs<Shape<1, 5>, Shape<60, 8>, Shape<40, 21>, Shape<5, 7>>,
      Branches<Stack<Norm, Flatten>, List, List, List>,
      Concatenate,                                         // 155 features
      Dense<100>, ReLU, Dropout<DropoutRate>,
      Dense<2>, Softmax>;
};

template <float DropoutRate = 0.1f>
using DeepDoubleXNetwork = typename DeepDoubleXParts<DropoutRate>::network;
using DeepDoubleX = DeepDoubleXNetwork<0.1f>;

inline constexpr std::array<std::string_view, 4> deepdoublex_inputs{"db", "pf", "cpf", "sv"};
inline constexpr std::array<std::string_view, 2> deepdoublex_cvl_classes{"probQCD", "probHcc"};

}  // namespace deepjet::zoo
