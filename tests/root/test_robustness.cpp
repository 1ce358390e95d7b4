// Damaged and wrong inputs fail with deepjet::FileError naming the problem, never crash (these
// tests always run under AddressSanitizer and UndefinedBehaviorSanitizer).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "deepjet/io/root.hpp"
#include "root_test_support.hpp"

namespace {

using deepjet::FileError;
using deepjet::root::File;
using deepjet::root::Tree;
using deepjet::root::testing::file_bytes;
using deepjet::root::testing::shared_root_file;

class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    std::random_device device;
    path_ = std::filesystem::temp_directory_path() / ("deepjet-root-test-" + std::to_string(device()));
    std::filesystem::create_directories(path_);
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string write(const std::string& name, const std::vector<std::uint8_t>& bytes) const {
    const std::string file = (path_ / name).string();
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return file;
  }

 private:
  std::filesystem::path path_;
};

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const FileError& error) {
    return error.what();
  }
  return "(no error)";
}

/// Opens everything and reads every supported branch; damaged input may throw FileError only.
void read_everything(const File& file) {
  for (const auto& path : file.tree_paths()) {
    const Tree tree = file.tree(path);
    for (const auto& branch : tree.branches()) {
      if (!branch.supported) continue;
      if (branch.layout.kind == deepjet::root::ColumnLayout::Kind::Text) {
        tree.read_strings(branch.name);
      } else if (branch.layout.kind == deepjet::root::ColumnLayout::Kind::TextCollection) {
        tree.read_string_lists(branch.name);
      } else {
        tree.read_jagged<double>(branch.name);
      }
    }
  }
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(Robustness, MissingFile) {
  const std::string message = message_of([] { File("/nonexistent/deepjet/file.root"); });
  EXPECT_TRUE(contains(message, "/nonexistent/deepjet/file.root: cannot open")) << message;
}

TEST(Robustness, NotARootFile) {
  TemporaryDirectory directory;
  const std::string text = directory.write("text.root", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'});
  EXPECT_TRUE(contains(message_of([&] { File{text}; }), "not a ROOT file"));
  const std::string empty = directory.write("empty.root", {});
  EXPECT_TRUE(contains(message_of([&] { File{empty}; }), "not a ROOT file"));
  EXPECT_TRUE(contains(message_of([&] { File{shared_root_file("EXPECTED.json")}; }), "not a ROOT file"));
}

TEST(Robustness, WrongTreeAndBranchNames) {
  const File file(shared_root_file("uproot-HZZ.root"));
  EXPECT_TRUE(contains(message_of([&] { file.tree("evnts"); }), "no tree \"evnts\""));
  EXPECT_TRUE(contains(message_of([&] { file.tree("dir/events"); }), "no directory \"dir\""));
  const Tree tree = file.tree("events");
  const std::string message = message_of([&] { tree.read<float>("Jet_Pxx"); });
  EXPECT_TRUE(contains(message, "tree \"events\" has no branch \"Jet_Pxx\"")) << message;
  EXPECT_TRUE(contains(message_of([&] { tree.read<float>("MET_px", 10, 5000); }), "entry range"));
  EXPECT_TRUE(contains(message_of([&] { tree.read<float>("MET_px", -1, 5); }), "entry range"));
}

TEST(Robustness, UnsupportedTypeNamesBranchAndType) {
  const Tree tree = File(shared_root_file("uproot-stl_containers.root")).tree("tree");
  const std::string message = message_of([&] { tree.read_jagged<int>("map_int32_int16"); });
  EXPECT_TRUE(contains(message, "branch \"map_int32_int16\"")) << message;
  EXPECT_TRUE(contains(message, "map<int,short>")) << message;
  const std::string nested = message_of([&] { tree.read_jagged<int>("vector_vector_int32"); });
  EXPECT_TRUE(contains(nested, "vector<vector<int>")) << nested;
  const Tree split = File(shared_root_file("uproot-small-evnt-tree-fullsplit.root")).tree("tree");
  EXPECT_TRUE(contains(message_of([&] { split.read_jagged<int>("evt"); }), "branch \"evt\""));
}

TEST(Robustness, TruncatedFiles) {
  TemporaryDirectory directory;
  const auto bytes = file_bytes(shared_root_file("uproot-HZZ-zlib.root"));
  for (std::size_t size : {std::size_t{3}, std::size_t{20}, std::size_t{100}, std::size_t{1000},
                           bytes.size() / 2, bytes.size() - 100, bytes.size() - 1}) {
    const std::string path = directory.write("truncated.root",
                                             std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + size));
    const std::string message = message_of([&] { read_everything(File(path)); });
    EXPECT_NE(message, "(no error)") << "size " << size;
    EXPECT_TRUE(contains(message, path)) << message;
  }
}

/// Location of the first on-disk basket of a branch, and its key length.
std::pair<std::int64_t, std::int32_t> first_basket(const std::string& path, const std::string& branch) {
  const Tree tree = File(path).tree("events");
  for (const auto& b : tree.description().branches) {
    if (b.name == branch) return {b.baskets.at(0).seek, b.baskets.at(0).bytes};
  }
  return {0, 0};
}

TEST(Robustness, CorruptedCompressedBasket) {
  TemporaryDirectory directory;
  const std::string original = shared_root_file("uproot-HZZ-zlib.root");
  const auto [seek, bytes] = first_basket(original, "MET_px");
  ASSERT_GT(seek, 0);
  auto data = file_bytes(original);
  const auto key_bytes = deepjet::root::load_big_endian<std::int16_t>(data.data() + seek + 14);
  // Damage the compressed stream (past the 9-byte block header).
  for (int i = 20; i < 60; ++i) data[seek + key_bytes + i] ^= 0x5A;
  const std::string path = directory.write("bad-basket.root", data);
  const Tree tree = File(path).tree("events");
  const std::string message = message_of([&] { tree.read<float>("MET_px"); });
  EXPECT_TRUE(contains(message, "branch \"MET_px\"")) << message;
  EXPECT_TRUE(contains(message, "zlib")) << message;
  // Other branches still read.
  EXPECT_EQ(tree.read<float>("MET_py").size(), 2421u);
}

TEST(Robustness, WrongDecompressedSize) {
  const std::string original = shared_root_file("uproot-HZZ-zstd.root");
  const auto [seek, bytes] = first_basket(original, "Jet_Px");
  auto data = file_bytes(original);
  const auto key_bytes = deepjet::root::load_big_endian<std::int16_t>(data.data() + seek + 14);
  data[seek + key_bytes + 6] ^= 0x01;  // the block's uncompressed size
  const Tree tree = File::from_memory(data, "bad-size.root").tree("events");
  const std::string message = message_of([&] { tree.read_jagged<float>("Jet_Px"); });
  EXPECT_TRUE(contains(message, "bad-size.root: branch \"Jet_Px\"")) << message;
}

TEST(Robustness, Lz4ChecksumMismatch) {
  const std::string original = shared_root_file("uproot-sample-6.20.04-lz4.root");
  auto data = file_bytes(original);
  const Tree good = File(original).tree("sample");
  // Find a basket that lz4 actually compressed (tiny baskets are stored as they are).
  std::string branch;
  std::int64_t payload = 0;
  for (const auto& b : good.description().branches) {
    for (const auto& basket : b.baskets) {
      const auto key_bytes = deepjet::root::load_big_endian<std::int16_t>(data.data() + basket.seek + 14);
      if (branch.empty() && data[basket.seek + key_bytes] == 'L' && data[basket.seek + key_bytes + 1] == '4') {
        branch = b.name;
        payload = basket.seek + key_bytes;
      }
    }
  }
  ASSERT_FALSE(branch.empty());
  data[payload + 9 + 8 + 3] ^= 0xFF;  // a payload byte after the block header and checksum
  const Tree tree = File::from_memory(data, "bad-lz4.root").tree("sample");
  const std::string message = message_of([&] { tree.read_jagged<double>(branch); });
  EXPECT_TRUE(contains(message, "branch \"" + branch + "\"")) << message;
  EXPECT_TRUE(contains(message, "checksum mismatch")) << message;
}

TEST(Robustness, AbsurdEntryCountAllocatesNothing) {
  // In the uncompressed HZZ file the TTree record is stored as is: patch its fEntries (the first
  // 64-bit 2421 in the record) to 2^62.
  const std::string original = shared_root_file("uproot-HZZ-uncompressed.root");
  auto data = file_bytes(original);
  deepjet::root::Key tree_key;
  for (const auto& key : File(original).keys()) {
    if (key.name == "events") tree_key = key;
  }
  ASSERT_FALSE(tree_key.compressed());
  const std::uint8_t entries[8] = {0, 0, 0, 0, 0, 0, 0x09, 0x75};  // 2421
  auto begin = data.begin() + tree_key.seek_key + tree_key.key_bytes;
  auto found = std::search(begin, begin + tree_key.object_bytes, std::begin(entries), std::end(entries));
  ASSERT_NE(found, begin + tree_key.object_bytes);
  *found = 0x40;
  const Tree tree = File::from_memory(data, "huge.root").tree("events");
  EXPECT_EQ(tree.entries(), std::int64_t(1) << 62 | 2421);
  EXPECT_GT(tree.chunks(1000).size(), std::size_t(1) << 50);   // lazily, no allocation
  EXPECT_EQ(tree.read<float>("MET_px").size(), 2421u);         // branches know their own length
  EXPECT_TRUE(contains(message_of([&] { tree.read<float>("MET_px", 0, 5000); }), "entry range"));
  for (const auto& range : tree.chunks(2000)) {
    EXPECT_EQ(range.size(), 2000);
    break;
  }
}

// A small in-process fuzz run: random byte damage anywhere in small files must give FileError or
// a successful read, never a crash, leak or undefined behaviour (sanitizers watch).
TEST(Robustness, RandomDamageNeverCrashes) {
  std::mt19937 random(12345);
  for (const std::string name : {"uproot-sample-6.20.04-zlib.root", "uproot-simple.root",
                                 "uproot-small-evnt-tree-fullsplit.root", "uproot-leaflist.root"}) {
    const auto original = file_bytes(shared_root_file(name));
    for (int trial = 0; trial < 150; ++trial) {
      auto data = original;
      const int flips = 1 + static_cast<int>(random() % 8);
      for (int f = 0; f < flips; ++f) data[random() % data.size()] ^= static_cast<std::uint8_t>(1 + random() % 255);
      try {
        read_everything(File::from_memory(std::move(data), name));
      } catch (const deepjet::Error&) {
      }
    }
  }
}

}  // namespace
