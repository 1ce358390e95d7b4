// deepjet/io/root.hpp: reading TTrees from ROOT files without ROOT (umbrella header).
//
//   deepjet::root::File file("events.root");
//   deepjet::root::Tree tree = file.tree("Events");
//   std::vector<float> met = tree.read<float>("MET_pt");
//   deepjet::root::JaggedArray<float> jet_pt = tree.read_jagged<float>("Jet_pt", 0, 1000);
//
// See docs/root-reader.md for what is supported. Every failure throws deepjet::FileError.
// Writing ROOT files: deepjet/io/root_writer.hpp (docs/root-writer.md).
#pragma once

#include "deepjet/io/root/basket.hpp"
#include "deepjet/io/root/byte_cursor.hpp"
#include "deepjet/io/root/column_layout.hpp"
#include "deepjet/io/root/decompress.hpp"
#include "deepjet/io/root/file.hpp"
#include "deepjet/io/root/file_source.hpp"
#include "deepjet/io/root/key.hpp"
#include "deepjet/io/root/object_buffer.hpp"
#include "deepjet/io/root/streamer_info.hpp"
#include "deepjet/io/root/tree.hpp"
#include "deepjet/io/root/tree_metadata.hpp"
