// deepjet/inference.hpp: running a declared network: Model (parameters), Predictor (thread-safe
// static inference), and deepjet's model files (save and load). No data path, no training loop.
#pragma once

#include "deepjet/io/model_file.hpp"
#include "deepjet/layers.hpp"
#include "deepjet/models/model.hpp"
#include "deepjet/models/predictor.hpp"
#include "deepjet/models/tensors.hpp"
