// A DeepCSV-style tagger: a dense network on 66 flat features (jet, track and vertex variables),
// four hidden layers of 100 ReLU units with dropout 0.1, softmax over b, bb, c, udsg.
#pragma once

#include <deepjet/deepjet.hpp>

#include <array>
#include <string_view>

namespace deepjet::reference {

template <float DropoutRate = 0.1f>
using DeepCSVNetwork = Sequential<Input<66>,
                                  Dense<100>, ReLU, Dropout<DropoutRate>,
                                  Dense<100>, ReLU, Dropout<DropoutRate>,
                                  Dense<100>, ReLU, Dropout<DropoutRate>,
                                  Dense<100>, ReLU, Dropout<DropoutRate>,
                                  Dense<4>, Softmax>;
using DeepCSV = DeepCSVNetwork<0.1f>;

inline constexpr std::array<std::string_view, 4> deepcsv_classes{"b", "bb", "c", "udsg"};

}  // namespace deepjet::reference
