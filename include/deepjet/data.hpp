// deepjet/data.hpp: the data path: feature blocks and formats, sources (ROOT, HDF5), conversion into
// training files, the out-of-memory loader, normalisation and sample weighting.
#pragma once

#include "deepjet/data/batch_jobs.hpp"
#include "deepjet/data/blocks.hpp"
#include "deepjet/data/collection.hpp"
#include "deepjet/data/convert.hpp"
#include "deepjet/data/format.hpp"
#include "deepjet/data/jet_source.hpp"
#include "deepjet/data/loader.hpp"
#include "deepjet/data/normalisation.hpp"
#include "deepjet/data/prepare.hpp"
#include "deepjet/data/source.hpp"
#include "deepjet/data/source_table.hpp"
#include "deepjet/data/training_file.hpp"
#include "deepjet/data/weighter.hpp"
#include "deepjet/data/weighting.hpp"
