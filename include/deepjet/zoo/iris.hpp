// deepjet/zoo/iris.hpp: the zoo's smallest classifier, for Fisher's Iris flowers (1936): the four
// measurements (sepal length, sepal width, petal length, petal width, in cm; standardised by the
// caller), two hidden layers of 16 ReLU units, softmax over the three species in iris_species.
// 403 trainable parameters. Not a CMS network: the library's first program (examples/iris) trains it,
// and it is here so that a first program declares nothing.
#pragma once

#include "deepjet/layers.hpp"

#include <array>
#include <string_view>

namespace deepjet::zoo {

using Iris = Sequential<Input<4>, Dense<16>, ReLU, Dense<16>, ReLU, Dense<3>, Softmax>;

inline constexpr std::array<std::string_view, 4> iris_inputs{"sepal_length", "sepal_width", "petal_length",
                                                             "petal_width"};
inline constexpr std::array<std::string_view, 3> iris_species{"Iris-setosa", "Iris-versicolor", "Iris-virginica"};

}  // namespace deepjet::zoo
