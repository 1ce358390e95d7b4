// deepjet/root.hpp: ROOT files without ROOT: the TTree reader and writer.
#pragma once

#include "deepjet/io/root.hpp"
#include "deepjet/io/root_writer.hpp"
