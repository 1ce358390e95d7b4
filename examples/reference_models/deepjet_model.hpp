// The DeepJet (DeepFlavour) tagger of CMS, exactly as described in the reference
// (../shared/reference/deepjet-framework.md), as one type.
//
// Inputs per jet: 15 global features, 25 charged candidates x 16, 25 neutral candidates x 6,
// 4 secondary vertices x 12. Each block is batch-normalised; the three lists go through 1x1
// convolutions (ReLU, BatchNorm, Dropout each, except the last of a branch: ReLU only) and an LSTM run backwards over the list (so that it
// ends on the first, most displaced, candidate) followed by BatchNorm and Dropout; the results are
// concatenated with the global features (15 + 150 + 50 + 50 = 265) and classified by Dense 200
// and seven Dense 100 (ReLU, BatchNorm, Dropout each) into six classes with a softmax.
// 265,252 trainable parameters, 3,006 BatchNorm statistics besides (23 BatchNorms).
//
// DropoutRate is a parameter so that numerical comparisons with another framework can switch the
// random masks off (DeepJetNetwork<0.0f>); the tagger itself uses 0.1.
#pragma once

#include <deepjet/deepjet.hpp>

#include <array>
#include <string_view>

namespace deepjet::reference {

template <float DropoutRate = 0.1f>
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
  using Recurrence = Stack<LSTM<Units, backwards>, BatchNorm<>, Dropout<DropoutRate>>;

  using network = Sequential<
      Inputs<Shape<15>, Shape<25, 16>, Shape<25, 6>, Shape<4, 12>>,
      Branches<BatchNorm<>,                                                                               // global
               Stack<BatchNorm<>, ConvUnit<64>, ConvUnit<32>, ConvUnit<32>, LastConv<8>, Recurrence<150>>,  // charged
               Stack<BatchNorm<>, ConvUnit<32>, ConvUnit<16>, LastConv<4>, Recurrence<50>>,                 // neutral
               Stack<BatchNorm<>, ConvUnit<64>, ConvUnit<32>, ConvUnit<32>, LastConv<8>, Recurrence<50>>>,  // vertices
      Concatenate,
      DenseUnit<200>, DenseUnit<100>, DenseUnit<100>, DenseUnit<100>, DenseUnit<100>, DenseUnit<100>,
      DenseUnit<100>, DenseUnit<100>,
      Dense<6>, Softmax>;
};

template <float DropoutRate = 0.1f>
using DeepJetNetwork = typename DeepJetParts<DropoutRate>::network;
using DeepJet = DeepJetNetwork<0.1f>;

inline constexpr std::array<std::string_view, 4> deepjet_inputs{"global", "cpf", "npf", "sv"};
inline constexpr std::array<std::string_view, 6> deepjet_classes{"b", "bb", "lepb", "c", "uds", "g"};

}  // namespace deepjet::reference
