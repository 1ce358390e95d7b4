// Throughput of the native ROOT reader against the limit set by decompression alone.
//
// For each case (a file and a set of branches) it times
//   reader:  Tree::read<T> (flat) or read_jagged<T> in the stored type (file access +
//            decompression + decoding into arrays),
//   limit:   decompressing the same baskets from memory (no file access, no decoding),
// and prints values/s, MB/s of decompressed data, and the ratio reader/limit (target >= 70 %).
// Usage: root_read_benchmark [SHARED_DIR] [--threads N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "deepjet/io/root.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace root = deepjet::root;

struct Case {
  std::string label;
  std::string file;
  std::string tree;
  std::vector<std::string> branches;  // empty: every supported numeric top-level branch
};

const root::BranchDescription* find_branch(const std::vector<root::BranchDescription>& branches,
                                           const std::string& name) {
  for (const auto& branch : branches) {
    if (branch.name == name) return &branch;
    if (const auto* child = find_branch(branch.children, name)) return child;
  }
  return nullptr;
}

/// Best time of repeated runs of `work`, repeating for at least `budget` seconds.
double best_seconds(const std::function<void()>& work, double budget = 0.6) {
  double best = 1e30;
  const auto start = Clock::now();
  int runs = 0;
  while (runs < 3 || std::chrono::duration<double>(Clock::now() - start).count() < budget) {
    const auto t0 = Clock::now();
    work();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    ++runs;
  }
  return best;
}

// Flat branches are read as plain arrays, the others as values + offsets.
template <class T>
std::size_t read_column(const root::Tree& tree, const std::string& name) {
  if (tree.branch(name).layout.kind == root::ColumnLayout::Kind::Fixed) return tree.read<T>(name).size();
  return tree.read_jagged<T>(name).values.size();
}

std::size_t read_native(const root::Tree& tree, const std::string& name) {
  switch (tree.branch(name).layout.type) {
    case root::ValueType::Bool: case root::ValueType::UInt8: return read_column<std::uint8_t>(tree, name);
    case root::ValueType::Int8: return read_column<std::int8_t>(tree, name);
    case root::ValueType::Int16: return read_column<std::int16_t>(tree, name);
    case root::ValueType::UInt16: return read_column<std::uint16_t>(tree, name);
    case root::ValueType::Int32: return read_column<std::int32_t>(tree, name);
    case root::ValueType::UInt32: return read_column<std::uint32_t>(tree, name);
    case root::ValueType::Int64: return read_column<std::int64_t>(tree, name);
    case root::ValueType::UInt64: return read_column<std::uint64_t>(tree, name);
    case root::ValueType::Float32: return read_column<float>(tree, name);
    case root::ValueType::Float64: return read_column<double>(tree, name);
    case root::ValueType::String: return 0;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string shared = DEEPJET_SHARED_DIR;
  unsigned threads = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = static_cast<unsigned>(std::atoi(argv[++i]));
    } else {
      shared = argv[i];
    }
  }
  const std::string data = shared + "/data/root/";
  const std::vector<std::string> hzz_jagged{"Jet_Px", "Jet_Py", "Jet_Pz", "Jet_E", "Muon_Px", "Muon_Py",
                                            "Muon_Pz", "Muon_E", "Photon_Px", "Electron_Px"};
  const std::vector<std::string> hzz_flat{"NJet", "NMuon", "MET_px", "MET_py", "EventWeight", "NPrimaryVertices"};
  const std::vector<Case> cases{
      {"HZZ zlib jagged", "uproot-HZZ-zlib.root", "events", hzz_jagged},
      {"HZZ zlib flat", "uproot-HZZ-zlib.root", "events", hzz_flat},
      {"HZZ zstd jagged", "uproot-HZZ-zstd.root", "events", hzz_jagged},
      {"HZZ zstd flat", "uproot-HZZ-zstd.root", "events", hzz_flat},
      {"pfnano lzma PFCands", "coffea-pfnano.root", "Events",
       {"PFCands_pt", "PFCands_eta", "PFCands_phi", "PFCands_mass", "PFCands_d0", "PFCands_dz",
        "PFCands_charge", "PFCands_pdgId", "PFCands_puppiWeight"}},
      {"pfnano lzma all", "coffea-pfnano.root", "Events", {}},
      {"Zmumu zlib flat", "uproot-Zmumu-zlib.root", "events", {}},
  };

  std::printf("%-22s %9s %10s %12s %12s %12s %7s\n", "case", "values", "MB", "values/s", "reader MB/s",
              "limit MB/s", "ratio");
  for (const Case& c : cases) {
    const root::File file(data + c.file);
    const root::Tree probe = file.tree(c.tree);
    std::vector<std::string> branches = c.branches;
    if (branches.empty()) {
      for (const auto& info : probe.branches()) {
        if (info.supported && info.depth == 0 && info.layout.type != root::ValueType::String) {
          branches.push_back(info.name);
        }
      }
    }
    // The same baskets, raw, in memory: the decompression limit.
    std::vector<root::RawBasket> raws;
    std::vector<std::size_t> expanded;
    std::size_t decompressed_bytes = 0;
    const auto source_owner = root::FileSource::open(data + c.file);
    const root::FileSource& source = *source_owner;
    for (const auto& name : branches) {
      const auto* branch = find_branch(probe.description().branches, name);
      for (const auto& location : branch->baskets) {
        raws.push_back(root::read_raw_basket(source, location, name));
        root::ByteCursor cursor(raws.back().bytes.data(), raws.back().bytes.size(), c.file);
        const root::Key key = root::parse_key(cursor);
        expanded.push_back(static_cast<std::size_t>(key.object_bytes));
        decompressed_bytes += static_cast<std::size_t>(key.object_bytes);
      }
      for (const auto& embedded : branch->embedded_baskets) decompressed_bytes += embedded.data.size();
    }
    std::vector<std::uint8_t> scratch(expanded.empty() ? 1 : *std::max_element(expanded.begin(), expanded.end()));
    const double limit = best_seconds([&] {
      for (std::size_t i = 0; i < raws.size(); ++i) {
        root::ByteCursor cursor(raws[i].bytes.data(), raws[i].bytes.size(), c.file);
        const root::Key key = root::parse_key(cursor);
        const std::uint8_t* payload = raws[i].bytes.data() + key.key_bytes;
        const std::size_t stored = static_cast<std::size_t>(key.total_bytes - key.key_bytes);
        if (key.compressed()) {
          root::decompress_blocks(payload, stored, scratch.data(), expanded[i], c.file, "benchmark");
        } else {
          std::memcpy(scratch.data(), payload, stored);
        }
      }
    });
    std::size_t values = 0;
    root::Tree tree = file.tree(c.tree);
    tree.set_decompression_threads(threads);
    const double reader = best_seconds([&] {
      tree.drop_cached_baskets();  // every run decompresses every basket again
      values = 0;
      for (const auto& name : branches) values += read_native(tree, name);
    });
    const double mb = static_cast<double>(decompressed_bytes) / 1e6;
    std::printf("%-22s %9zu %10.3f %12.3g %12.1f %12.1f %6.0f%%\n", c.label.c_str(), values, mb,
                static_cast<double>(values) / reader, mb / reader, mb / limit, 100.0 * limit / reader);
  }
  std::printf("(decompression threads for the reader: %u)\n", threads);
  return 0;
}
