// DeepCSV, CMS's dense b-tagger, exactly as CMSSW runs it (DeepCSV_PhaseI.json in lwtnn's format):
// 66 flat features (jet, track and vertex variables), five hidden layers of 100 ReLU units with
// dropout 0.1 in training, softmax over b, bb, c, udsg. 47,504 parameters.
//
// The features enter preprocessed: lwtnn's files carry an offset and scale per input, applied as
// (x + offset) * scale (deepjet::lwtnn::InputTransform), and defaults for missing inputs.
#pragma once

#include "deepjet/layers.hpp"

#include <array>
#include <string_view>

namespace deepjet::zoo {

template <float DropoutRate = 0.1f>
using DeepCSVNetwork = Sequential<Input<66>,
                                  Dense<100>, ReLU, Dropout<DropoutRate>,
                                  Dense<100>, ReLU, Dropout<DropoutRate>,
                                  Dense<100>, ReLU, Dropout<DropoutRate>,
                                  Dense<100>, ReLU, Dropout<DropoutRate>,
                                  Dense<100>, ReLU, Dropout<DropoutRate>,
                                  Dense<4>, Softmax>;
using DeepCSV = DeepCSVNetwork<0.1f>;

inline constexpr std::array<std::string_view, 4> deepcsv_classes{"b", "bb", "c", "udsg"};

}  // namespace deepjet::zoo
