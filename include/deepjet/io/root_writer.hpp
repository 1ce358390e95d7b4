// deepjet/io/root_writer.hpp: writing TTrees to ROOT files without ROOT (umbrella header).
//
//   deepjet::root::FileWriter file("out.root");                  // zlib level 1, 32000-byte baskets
//   deepjet::root::TreeWriter& tree = file.make_tree("Events");
//   tree.add_branch<float>("MET_pt").add_counted_branch<float>("Jet_pt", "nJet");
//   tree.write<float>("MET_pt", met);                            // a chunk of entries
//   tree.write_jagged<float>("Jet_pt", jet_pt.values, jet_pt.offsets);  // fills nJet too
//   file.close();                                                // written to a temporary, then renamed
//
// See docs/root-writer.md for what is written. Every failure throws deepjet::FileError.
#pragma once

#include "deepjet/io/root/byte_writer.hpp"
#include "deepjet/io/root/compress.hpp"
#include "deepjet/io/root/file_sink.hpp"
#include "deepjet/io/root/file_writer.hpp"
#include "deepjet/io/root/streamer_info_writer.hpp"
#include "deepjet/io/root/tree_writer.hpp"
