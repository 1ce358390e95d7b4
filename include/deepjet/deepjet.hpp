// deepjet/deepjet.hpp: everything in one include. Lighter entry headers, for a faster compile:
//   deepjet/layers.hpp      declaring a network (every layer, Sequential, Branches)
//   deepjet/inference.hpp   running one: Model, Predictor, model files
//   deepjet/data.hpp        the data path: blocks, sources, conversion, loader, weighting
//   deepjet/training.hpp    training: losses, optimisers, trainer, callbacks, prediction
//   deepjet/evaluation.hpp  ROC curves, AUCs, plots, reports
//   deepjet/root.hpp        the ROOT reader and writer
//   deepjet/zoo/*.hpp       CMS's reference architectures as types
//   deepjet/example_data/*  generators of example jets for the quick-starts
//   deepjet/interchange/{onnx,keras,lwtnn}.hpp  foreign model files (optional dependencies)
//   deepjet/parallel/mpi.hpp  training, conversion, prediction as the ranks of an MPI job (optional)
#pragma once

#include "deepjet/core/aligned.hpp"
#include "deepjet/core/communicator.hpp"
#include "deepjet/core/atomic_file.hpp"
#include "deepjet/core/batch.hpp"
#include "deepjet/core/error.hpp"
#include "deepjet/core/random.hpp"
#include "deepjet/core/shape.hpp"
#include "deepjet/core/version.hpp"
#include "deepjet/data.hpp"
#include "deepjet/evaluation.hpp"
#include "deepjet/example_data/deepjet_jets.hpp"
#include "deepjet/example_data/fat_jets.hpp"
#include "deepjet/inference.hpp"
#include "deepjet/io/hdf5/hdf5.hpp"
#include "deepjet/kernels/elementwise.hpp"
#include "deepjet/kernels/gemm.hpp"
#include "deepjet/kernels/simd.hpp"
#include "deepjet/layers.hpp"
#include "deepjet/root.hpp"
#include "deepjet/training.hpp"
#include "deepjet/zoo/deepak8.hpp"
#include "deepjet/zoo/deepcsv.hpp"
#include "deepjet/zoo/deepdoublex.hpp"
#include "deepjet/zoo/deepjet.hpp"
#include "deepjet/zoo/iris.hpp"
