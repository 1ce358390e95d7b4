// deepjet/training.hpp: training a declared network on the data path: losses, optimisers, the
// trainer and its callbacks, and prediction over training files (includes inference and data).
#pragma once

#include "deepjet/data.hpp"
#include "deepjet/inference.hpp"
#include "deepjet/losses/losses.hpp"
#include "deepjet/optimisers/optimisers.hpp"
#include "deepjet/training/batch_sums.hpp"
#include "deepjet/training/callbacks.hpp"
#include "deepjet/training/predict.hpp"
#include "deepjet/training/trainer.hpp"
