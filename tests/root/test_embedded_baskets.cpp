// Baskets kept inside the TTree record ("embedded": the last basket of a tree saved without
// AutoSave, or baskets recovered from a file that was not closed). None of the shared files has
// one, so the record layout of ROOT's TBasket streamer is built here byte by byte, and the column
// layer is driven with hand-made branch descriptions.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "deepjet/io/root.hpp"

namespace {

namespace root = deepjet::root;

class Bytes {
 public:
  template <class T>
  Bytes& put(T value) {
    std::uint64_t raw = 0;
    std::memcpy(&raw, &value, sizeof(T));
    for (int shift = 8 * (static_cast<int>(sizeof(T)) - 1); shift >= 0; shift -= 8) {
      data.push_back(static_cast<std::uint8_t>(raw >> shift));
    }
    return *this;
  }
  Bytes& put_string(const std::string& text) {
    data.push_back(static_cast<std::uint8_t>(text.size()));
    data.insert(data.end(), text.begin(), text.end());
    return *this;
  }
  std::vector<std::uint8_t> data;
};

constexpr std::int16_t key_bytes = 4 + 2 + 4 + 4 + 2 + 2 + 4 + 4 + 8 + 2 + 1 + 2 + 4 + 4 + 4 + 4 + 1;

/// The body of an embedded TBasket as ROOT's streamer writes it (after the object header):
/// key fields, basket fields, flag, [entry offsets], [buffer: key copy + data].
std::vector<std::uint8_t> embedded_basket(std::uint8_t flag, std::int32_t entries, const std::vector<std::uint8_t>& data,
                                          const std::vector<std::int32_t>& offsets) {
  Bytes b;
  b.put<std::int32_t>(key_bytes + static_cast<std::int32_t>(data.size()));
  b.put<std::int16_t>(4).put<std::int32_t>(static_cast<std::int32_t>(data.size())).put<std::uint32_t>(0);
  b.put<std::int16_t>(key_bytes).put<std::int16_t>(1).put<std::int32_t>(0).put<std::int32_t>(0);
  b.put_string("TBasket").put_string("x").put_string("");
  b.put<std::int16_t>(3).put<std::int32_t>(32000).put<std::int32_t>(offsets.empty() ? 4 : 10);
  b.put<std::int32_t>(entries).put<std::int32_t>(key_bytes + static_cast<std::int32_t>(data.size()));
  b.data.push_back(flag);
  EXPECT_EQ(b.data.size(), static_cast<std::size_t>(key_bytes));
  if (flag % 10 != 2 && entries > 0) {
    b.put<std::int32_t>(entries);
    for (std::int32_t offset : offsets) b.put<std::int32_t>(key_bytes + offset);
  }
  if (flag == 1 || flag > 10) {
    b.data.insert(b.data.end(), static_cast<std::size_t>(key_bytes), std::uint8_t{0xEE});  // the key, again
    b.data.insert(b.data.end(), data.begin(), data.end());
  }
  return b.data;
}

root::BranchDescription parse(const std::vector<std::uint8_t>& body) {
  root::BranchDescription branch;
  branch.name = "x";
  root::ByteCursor cursor(body.data(), body.size(), "synthetic");
  root::ObjectSlot slot;
  slot.kind = root::ObjectSlot::Kind::Object;
  slot.class_name = "TBasket";
  slot.end = body.size();
  root::detail::read_embedded_basket(cursor, branch, 100, slot);
  EXPECT_EQ(cursor.position(), body.size());
  return branch;
}

std::vector<std::uint8_t> big_endian_ints(const std::vector<std::int32_t>& values) {
  Bytes b;
  for (std::int32_t value : values) b.put(value);
  return b.data;
}

TEST(EmbeddedBaskets, StreamerLayoutWithAndWithoutEntryOffsets) {
  // Three entries of a counted int array: [], [7, 8], [9].
  const auto jagged_data = big_endian_ints({7, 8, 9});
  auto branch = parse(embedded_basket(11, 3, jagged_data, {0, 0, 8}));
  ASSERT_EQ(branch.embedded_baskets.size(), 1u);
  EXPECT_EQ(branch.embedded_baskets[0].first_entry, 100);
  EXPECT_EQ(branch.embedded_baskets[0].entries, 3);
  EXPECT_EQ(branch.embedded_baskets[0].offsets, (std::vector<std::int32_t>{0, 0, 8}));
  EXPECT_EQ(branch.embedded_baskets[0].data, jagged_data);
  // Fixed-size entries: no offsets (flag 12).
  const auto flat_data = big_endian_ints({1, 2, 3, 4});
  branch = parse(embedded_basket(12, 4, flat_data, {}));
  ASSERT_EQ(branch.embedded_baskets.size(), 1u);
  EXPECT_TRUE(branch.embedded_baskets[0].offsets.empty());
  EXPECT_EQ(branch.embedded_baskets[0].data, flat_data);
  // Header only (flag 0) and no buffer (flag 2): nothing to read.
  EXPECT_TRUE(parse(embedded_basket(0, 4, flat_data, {})).embedded_baskets.empty());
  EXPECT_TRUE(parse(embedded_basket(2, 4, flat_data, {})).embedded_baskets.empty());
  // Offsets that point outside the buffer are caught when the basket is used.
  branch = parse(embedded_basket(11, 3, jagged_data, {0, 0, 80}));
  EXPECT_THROW(root::embedded_basket(branch.embedded_baskets[0], "synthetic", "basket"), deepjet::FileError);
}

root::LeafDescription leaf(const std::string& name, const std::string& class_name, const std::string& count = "") {
  root::LeafDescription description;
  description.name = name;
  description.class_name = class_name;
  description.length = 1;
  description.count_leaf = count;
  return description;
}

root::EmbeddedBasket basket(std::int64_t first, std::int32_t entries, std::vector<std::uint8_t> data,
                            std::vector<std::int32_t> offsets = {}) {
  root::EmbeddedBasket out;
  out.first_entry = first;
  out.entries = entries;
  out.data = std::move(data);
  out.offsets = std::move(offsets);
  return out;
}

TEST(EmbeddedBaskets, ColumnsReadFromRecoveredBaskets) {
  root::TreeDescription tree;
  tree.name = "recovered";
  tree.entries = 7;
  root::BranchDescription x;  // a flat int branch entirely in two embedded baskets, listed out of order
  x.name = "x";
  x.class_name = "TBranch";
  x.entries = 7;
  x.leaves = {leaf("x", "TLeafI")};
  x.embedded_baskets = {basket(4, 3, big_endian_ints({5, 6, 7})), basket(0, 4, big_endian_ints({1, 2, 3, 4}))};
  root::BranchDescription n;  // counts
  n.name = "n";
  n.class_name = "TBranch";
  n.entries = 7;
  n.leaves = {leaf("n", "TLeafI")};
  n.embedded_baskets = {basket(0, 7, big_endian_ints({0, 2, 1, 0, 0, 3, 1}))};
  root::BranchDescription v;  // v[n]: the first basket with entry offsets, the second without
  v.name = "v";
  v.class_name = "TBranch";
  v.entries = 7;
  v.leaves = {leaf("v", "TLeafI", "n")};
  v.embedded_baskets = {basket(0, 3, big_endian_ints({10, 11, 12}), {0, 0, 8}),
                        basket(3, 4, big_endian_ints({13, 14, 15, 16}))};
  tree.branches = {x, n, v};
  const root::Tree reader(root::FileSource::from_memory({}, "synthetic"), std::make_shared<root::StreamerInfos>(),
                          tree);
  EXPECT_EQ(reader.read<int>("x"), (std::vector<int>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(reader.read<int>("x", 3, 6), (std::vector<int>{4, 5, 6}));
  const auto values = reader.read_jagged<int>("v");
  EXPECT_EQ(values.values, (std::vector<int>{10, 11, 12, 13, 14, 15, 16}));
  EXPECT_EQ(values.offsets, (std::vector<std::int64_t>{0, 0, 2, 3, 3, 3, 6, 7}));
  // A gap in the baskets is an error, not a short read.
  tree.branches[0].embedded_baskets.pop_back();
  const root::Tree gap(root::FileSource::from_memory({}, "synthetic"), std::make_shared<root::StreamerInfos>(), tree);
  EXPECT_THROW(gap.read<int>("x"), deepjet::FileError);
}

}  // namespace
