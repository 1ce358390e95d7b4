// deepjet/layers.hpp: what declaring a network needs: every layer, Sequential and Branches.
// Include it (or a zoo header, which includes it) where a model type is declared; add
// deepjet/inference.hpp to run one, deepjet/training.hpp to train one. deepjet/deepjet.hpp has all.
#pragma once

#include "deepjet/core/shape.hpp"
#include "deepjet/layers/activation/activation.hpp"
#include "deepjet/layers/conv1d/conv1d.hpp"
#include "deepjet/layers/dense/dense.hpp"
#include "deepjet/layers/gru/gru.hpp"
#include "deepjet/layers/initialisers.hpp"
#include "deepjet/layers/layer.hpp"
#include "deepjet/layers/lstm/lstm.hpp"
#include "deepjet/layers/merge/merge.hpp"
#include "deepjet/layers/normalization/batch_norm.hpp"
#include "deepjet/layers/pooling/global_average_pooling.hpp"
#include "deepjet/layers/regularization/dropout.hpp"
#include "deepjet/layers/reshape/flatten.hpp"
#include "deepjet/layers/reshape/slice.hpp"
#include "deepjet/models/branches.hpp"
#include "deepjet/models/sequential.hpp"
