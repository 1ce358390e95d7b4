// libFuzzer target for the ROOT reader's parsers. The first input byte picks what to feed:
//   0: the whole input as a ROOT file (header, directories, keys, streamer infos, TTree metadata,
//      and every supported branch read as doubles / strings);
//   1: the input as one on-disk basket (TKey + TBasket header + compressed record);
//   2: the input as compressed blocks, inflated to a size taken from the next two bytes.
// Any deepjet::Error is an accepted outcome; crashes, leaks and sanitizer reports are not.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "deepjet/io/root.hpp"

namespace {

void read_file(const std::uint8_t* data, std::size_t size) {
  const deepjet::root::File file =
      deepjet::root::File::from_memory(std::vector<std::uint8_t>(data, data + size), "fuzz-input");
  for (const auto& path : file.tree_paths()) {
    const deepjet::root::Tree tree = file.tree(path);
    for (const auto& branch : tree.branches()) {
      if (!branch.supported) continue;
      try {
        if (branch.layout.kind == deepjet::root::ColumnLayout::Kind::Text) {
          tree.read_strings(branch.name);
        } else if (branch.layout.kind == deepjet::root::ColumnLayout::Kind::TextCollection) {
          tree.read_string_lists(branch.name);
        } else if (branch.layout.kind == deepjet::root::ColumnLayout::Kind::NestedCollection) {
          tree.read_nested<double>(branch.name);
        } else {
          tree.read_jagged<double>(branch.name);
        }
      } catch (const deepjet::Error&) {
        // A damaged branch must not stop the others from being exercised.
      }
    }
  }
}

void read_basket(const std::uint8_t* data, std::size_t size) {
  deepjet::root::RawBasket raw{std::vector<std::uint8_t>(data, data + size)};
  deepjet::root::BasketLocation location{0, 1, static_cast<std::int32_t>(size)};
  deepjet::root::decode_basket(raw, location, "fuzz-input", "fuzz basket");
}

void inflate(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return;
  const std::size_t output_size = (std::size_t(data[0]) << 8 | data[1]) * 16;
  std::vector<std::uint8_t> output(output_size);
  deepjet::root::check_compressed_sizes(data + 2, size - 2, output_size, "fuzz-input", "fuzz blocks");
  deepjet::root::decompress_blocks(data + 2, size - 2, output.data(), output_size, "fuzz-input", "fuzz blocks");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  try {
    switch (data[0] % 3) {
      case 0: read_file(data + 1, size - 1); break;
      case 1: read_basket(data + 1, size - 1); break;
      default: inflate(data + 1, size - 1); break;
    }
  } catch (const deepjet::Error&) {
  }
  return 0;
}
