// deepjet/interchange/keras.hpp: Keras 2 HDF5 import (needs nlohmann-json; link deepjet::keras).
//
//   deepjet::keras::import_model<Net>(path[, options])      -> Model<Net>      (keras/reader.hpp)
//   deepjet::keras::import_predictor<Net>(path[, options])  -> Predictor<Net>
// docs/interchange-keras.md describes the layer mapping, the weight layouts and what is refused.
#pragma once

#include "deepjet/interchange/keras/reader.hpp"
