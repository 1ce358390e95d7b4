// A file over 4 GiB with nested directories, built at test time as a sparse file: the large-file
// header variant, 64-bit keys and directory records, "dir/sub/tree" paths. The tree record is the
// one from uproot-simple.root, moved beyond 7 GiB; the rest of that file (its baskets) is copied to
// the same offsets it had, so the record's basket table stays valid.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "deepjet/io/root.hpp"
#include "root_test_support.hpp"

namespace {

using deepjet::root::File;
using deepjet::root::testing::file_bytes;
using deepjet::root::testing::shared_root_file;

class Writer {
 public:
  template <class T>
  void put(T value) {
    for (int shift = 8 * (static_cast<int>(sizeof(T)) - 1); shift >= 0; shift -= 8) {
      bytes.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(value) >> shift));
    }
  }
  void put_string(const std::string& text) {
    bytes.push_back(static_cast<std::uint8_t>(text.size()));
    bytes.insert(bytes.end(), text.begin(), text.end());
  }
  std::vector<std::uint8_t> bytes;
};

constexpr std::int64_t GiB = std::int64_t(1) << 30;

/// A 64-bit TKey header (version > 1000). `key_bytes` < 0 means "its real length".
std::vector<std::uint8_t> key_header(const std::string& class_name, const std::string& name, std::int32_t payload,
                                     std::int64_t seek_key, std::int16_t key_bytes = -1,
                                     std::int32_t object_bytes = -1) {
  const std::int16_t real = static_cast<std::int16_t>(4 + 2 + 4 + 4 + 2 + 2 + 8 + 8 + 3 + class_name.size() + name.size());
  const std::int16_t keylen = key_bytes < 0 ? real : key_bytes;
  Writer w;
  w.put<std::int32_t>(keylen + payload);
  w.put<std::int16_t>(1004);
  w.put<std::int32_t>(object_bytes < 0 ? payload : object_bytes);
  w.put<std::uint32_t>(0);
  w.put<std::int16_t>(keylen);
  w.put<std::int16_t>(1);
  w.put<std::int64_t>(seek_key);
  w.put<std::int64_t>(100);
  w.put_string(class_name);
  w.put_string(name);
  w.put_string("");
  return w.bytes;
}

std::vector<std::uint8_t> directory_record(std::int64_t seek_keys) {
  Writer w;
  w.put<std::int16_t>(1005);  // > 1000: 64-bit seeks
  w.put<std::uint32_t>(0);
  w.put<std::uint32_t>(0);
  w.put<std::int32_t>(0);
  w.put<std::int32_t>(0);
  w.put<std::int64_t>(0);
  w.put<std::int64_t>(0);
  w.put<std::int64_t>(seek_keys);
  return w.bytes;
}

/// A key list at `at` holding `entries` (already encoded key headers).
std::vector<std::uint8_t> key_list(std::int64_t at, const std::vector<std::vector<std::uint8_t>>& entries) {
  std::int32_t payload = 4;
  for (const auto& entry : entries) payload += static_cast<std::int32_t>(entry.size());
  Writer w;
  w.bytes = key_header("TDirectory", "keys", payload, at);
  w.put<std::int32_t>(static_cast<std::int32_t>(entries.size()));
  for (const auto& entry : entries) w.bytes.insert(w.bytes.end(), entry.begin(), entry.end());
  return w.bytes;
}

TEST(LargeFile, NestedDirectoriesBeyondFourGigabytes) {
  const std::string simple = shared_root_file("uproot-simple.root");
  const File original(simple);
  deepjet::root::Key tree_key;
  for (const auto& key : original.keys()) {
    if (key.name == "tree") tree_key = key;
  }
  ASSERT_EQ(tree_key.class_name, "TTree");
  const auto original_bytes = file_bytes(simple);
  const std::vector<std::uint8_t> tree_record(original_bytes.begin() + tree_key.seek_key,
                                              original_bytes.begin() + tree_key.seek_key + tree_key.total_bytes);

  const std::int64_t top_keys = 5 * GiB, outer_dir = 5 * GiB + 4096, outer_keys = 6 * GiB,
                     inner_dir = 6 * GiB + 4096, inner_keys = 7 * GiB, tree_at = 7 * GiB + 4096;
  const auto dir_payload = directory_record(0);
  const std::int32_t dir_size = static_cast<std::int32_t>(dir_payload.size());
  std::vector<std::pair<std::int64_t, std::vector<std::uint8_t>>> pieces;
  constexpr std::size_t kept_from = 200;  // our header and top directory record live below this
  pieces.emplace_back(kept_from, std::vector<std::uint8_t>(original_bytes.begin() + kept_from, original_bytes.end()));
  // File header, large variant.
  Writer header;
  for (char c : std::string("root")) header.bytes.push_back(static_cast<std::uint8_t>(c));
  header.put<std::int32_t>(1062206);
  header.put<std::int32_t>(100);               // fBEGIN
  const std::int64_t end = tree_at + tree_key.total_bytes;
  header.put<std::int64_t>(end);               // fEND
  header.put<std::int64_t>(0);                 // fSeekFree
  header.put<std::int32_t>(0);
  header.put<std::int32_t>(0);
  header.put<std::int32_t>(50);                // fNbytesName: top directory record at 150
  header.bytes.push_back(8);
  header.put<std::int32_t>(0);
  header.put<std::int64_t>(0);                 // fSeekInfo: no class descriptions needed
  header.put<std::int32_t>(0);
  pieces.emplace_back(0, header.bytes);
  pieces.emplace_back(150, directory_record(top_keys));
  pieces.emplace_back(top_keys, key_list(top_keys, {key_header("TDirectoryFile", "outer", dir_size, outer_dir)}));
  auto outer = key_header("TDirectoryFile", "outer", dir_size, outer_dir);
  outer.insert(outer.end(), dir_payload.begin(), dir_payload.end());
  auto outer_record = directory_record(outer_keys);
  std::copy(outer_record.begin(), outer_record.end(), outer.end() - dir_size);
  pieces.emplace_back(outer_dir, outer);
  pieces.emplace_back(outer_keys, key_list(outer_keys, {key_header("TDirectoryFile", "inner", dir_size, inner_dir)}));
  auto inner = key_header("TDirectoryFile", "inner", dir_size, inner_dir);
  auto inner_record = directory_record(inner_keys);
  inner.insert(inner.end(), inner_record.begin(), inner_record.end());
  pieces.emplace_back(inner_dir, inner);
  // The tree's list entry keeps the original fKeylen: references inside the record count from it.
  pieces.emplace_back(inner_keys, key_list(inner_keys, {key_header("TTree", "tree",
                                                                   tree_key.total_bytes - tree_key.key_bytes, tree_at,
                                                                   tree_key.key_bytes, tree_key.object_bytes)}));
  pieces.emplace_back(tree_at, tree_record);

  std::random_device device;
  const auto path = std::filesystem::temp_directory_path() / ("deepjet-large-" + std::to_string(device()) + ".root");
  {
    std::ofstream out(path, std::ios::binary);
    for (const auto& [offset, bytes] : pieces) {
      out.seekp(offset);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    ASSERT_TRUE(out.good()) << "cannot write a sparse file in " << path;
  }
  ASSERT_GT(std::filesystem::file_size(path), std::uintmax_t(7) * GiB);
  {
    const File file(path.string());
    EXPECT_GE(file.header().version, 1000000);
    EXPECT_EQ(file.tree_paths(), std::vector<std::string>{"outer/inner/tree"});
    ASSERT_EQ(file.keys("outer").size(), 1u);
    EXPECT_EQ(file.keys("outer")[0].name, "inner");
    EXPECT_EQ(file.keys("outer")[0].seek_key, inner_dir);
    const auto tree = file.tree("outer/inner/tree");
    EXPECT_EQ(tree.read<int>("one"), (std::vector<int>{1, 2, 3, 4}));
    EXPECT_EQ(tree.read<float>("two"), (std::vector<float>{1.1f, 2.2f, 3.3f, 4.4f}));
    EXPECT_EQ(tree.read_strings("three"), original.tree("tree").read_strings("three"));
    EXPECT_THROW(file.tree("outer/tree"), deepjet::FileError);
    EXPECT_THROW(file.tree("outer/missing/tree"), deepjet::FileError);
  }
  std::filesystem::remove(path);
}

}  // namespace
