// deepjet/io/root/tree_metadata.hpp: decoding a TTree record into branch and leaf descriptions.
//
// Contract: parse_tree() reads a TTree (class versions 16-20, i.e. ROOT 5.26 onwards) with its
// TBranch (versions 10-13), TBranchElement (8-10), TBranchObject and TLeaf* objects, and returns
// plain descriptions: names, leaf classes and type codes, count leaves, and per branch where its
// baskets are (on-disk baskets by seek/size/first entry, and baskets embedded in the TTree record
// with their bytes copied out). It interprets nothing: the column layer decides what it can read.
// Malformed or unsupported records throw deepjet::FileError.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "deepjet/io/root/byte_cursor.hpp"
#include "deepjet/io/root/object_buffer.hpp"

namespace deepjet::root {

struct LeafDescription {
  std::string name;
  std::string title;
  std::string class_name;    // TLeafF, TLeafI, TLeafElement ...
  std::int32_t length = 1;   // fLen: values per entry for fixed arrays (1 for scalars)
  std::int32_t length_type = 0;  // fLenType: bytes per value
  bool is_unsigned = false;
  std::string count_leaf;    // name of the leaf holding the per-entry count ("" if none)
  std::int32_t element_type = -1;  // TLeafElement::fType (ROOT type code), else -1
};

/// An on-disk basket: a TKey at `seek` of `bytes` bytes holding entries from `first_entry`.
struct BasketLocation {
  std::int64_t first_entry = 0;
  std::int64_t seek = 0;
  std::int32_t bytes = 0;
};

/// A basket stored inside the TTree record (written when the tree was saved with an unfilled
/// basket, or recovered). Already uncompressed.
struct EmbeddedBasket {
  std::int64_t first_entry = 0;
  std::int32_t entries = 0;
  std::int32_t key_bytes = 0;
  std::vector<std::uint8_t> data;        // entry data (up to fLast - fKeylen)
  std::vector<std::int32_t> offsets;     // entry start offsets into `data`, empty if fixed-size
};

struct BranchDescription {
  std::string name;
  std::string title;
  std::string class_name;          // TBranch, TBranchElement, TBranchObject ...
  std::string element_class;       // TBranchElement::fClassName ("vector<int>", "Event" ...)
  std::string parent_class;        // TBranchElement::fParentName
  std::int32_t element_id = -1;    // TBranchElement::fID
  std::int32_t element_kind = 0;   // TBranchElement::fType
  std::int32_t streamer_type = -1; // TBranchElement::fStreamerType
  std::int64_t entries = 0;
  std::int32_t entry_offset_length = 0;
  std::string external_file;       // fFileName: baskets in another file (unsupported)
  std::vector<LeafDescription> leaves;
  std::vector<BasketLocation> baskets;
  std::vector<EmbeddedBasket> embedded_baskets;
  std::vector<BranchDescription> children;
};

struct TreeDescription {
  std::string name;
  std::string title;
  std::int64_t entries = 0;
  std::vector<BranchDescription> branches;
};

namespace detail {

/// Reads the header of a TObjArray member and returns its element count.
inline std::int32_t begin_object_array(ByteCursor& cursor, VersionHeader& header) {
  header = read_version(cursor, "TObjArray");
  skip_tobject(cursor);
  cursor.tstring("TObjArray::fName");
  const std::int32_t count = cursor.i32("TObjArray size");
  cursor.i32("TObjArray lower bound");
  if (count < 0 || static_cast<std::size_t>(count) > cursor.remaining() / 4) {
    cursor.fail("corrupted TObjArray size " + std::to_string(count));
  }
  return count;
}

inline LeafDescription read_leaf(ByteCursor& cursor, ReferenceTable& references,
                                 const ObjectSlot& slot, int depth = 0);

/// Nesting limits: real files nest branches a few levels and count leaves once; deeper nesting
/// only comes from damaged data and must not exhaust the stack.
inline constexpr int max_branch_depth = 64;
inline constexpr int max_leaf_depth = 4;

/// Resolves a TLeaf::fLeafCount pointer to the counted leaf's name.
inline std::string read_leaf_pointer(ByteCursor& cursor, ReferenceTable& references, int depth) {
  ObjectSlot slot = begin_object(cursor, references);
  if (slot.kind == ObjectSlot::Kind::Null) return {};
  if (slot.kind == ObjectSlot::Kind::Reference) {
    if (slot.object_name.empty()) cursor.fail("leaf count refers to an unknown object");
    return slot.object_name;
  }
  if (depth >= max_leaf_depth) cursor.fail("leaf counts nested too deeply");
  LeafDescription counted = read_leaf(cursor, references, slot, depth + 1);
  return counted.name;
}

inline LeafDescription read_leaf(ByteCursor& cursor, ReferenceTable& references,
                                 const ObjectSlot& slot, int depth) {
  LeafDescription leaf;
  leaf.class_name = slot.class_name;
  if (leaf.class_name.rfind("TLeaf", 0) != 0) {
    cursor.fail("unexpected object of class " + leaf.class_name + " among leaves");
  }
  read_version(cursor, "leaf");
  const VersionHeader base = read_version(cursor, "TLeaf");
  const Named named = read_tnamed(cursor);
  leaf.name = named.name;
  leaf.title = named.title;
  references[slot.map_key].object_name = leaf.name;  // later fLeafCount pointers name it
  leaf.length = cursor.i32("TLeaf::fLen");
  leaf.length_type = cursor.i32("TLeaf::fLenType");
  cursor.i32("TLeaf::fOffset");
  cursor.u8("TLeaf::fIsRange");
  leaf.is_unsigned = cursor.u8("TLeaf::fIsUnsigned") != 0;
  leaf.count_leaf = read_leaf_pointer(cursor, references, depth);
  if (base.has_byte_count) cursor.seek(base.end, "TLeaf");
  if (leaf.class_name == "TLeafElement") {
    cursor.i32("TLeafElement::fID");
    leaf.element_type = cursor.i32("TLeafElement::fType");
  }
  cursor.seek(slot.end, "leaf");
  return leaf;
}

inline void read_embedded_basket(ByteCursor& cursor, BranchDescription& branch,
                                 std::int64_t first_entry, const ObjectSlot& slot) {
  // A TBasket streams its TKey header first (no version header of its own).
  cursor.i32("TBasket fNbytes");
  const std::int16_t key_version = cursor.i16("TBasket key version");
  cursor.i32("TBasket fObjlen");
  cursor.u32("TBasket fDatime");
  const std::int16_t key_bytes = cursor.i16("TBasket fKeylen");
  cursor.i16("TBasket fCycle");
  cursor.skip(key_version > 1000 ? 16 : 8, "TBasket seeks");
  cursor.tstring("TBasket class name");
  cursor.tstring("TBasket name");
  cursor.tstring("TBasket title");
  const std::int16_t basket_version = cursor.i16("TBasket fVersion");
  cursor.i32("TBasket fBufferSize");
  cursor.i32("TBasket fNevBufSize");
  const std::int32_t entries = cursor.i32("TBasket fNevBuf");
  const std::int32_t last = cursor.i32("TBasket fLast");
  // The flag says what follows: 0 nothing; units digit 2 = no entry offsets (else offsets);
  // 1 or > 10 = the buffer follows; > 40 = a displacement table follows the offsets; 21-39 =
  // offsets carry displacement bits in their top byte.
  const std::uint8_t flag = cursor.u8("TBasket flag");
  const bool has_buffer = flag == 1 || flag > 10;
  if (flag == 0 || entries <= 0 || !has_buffer) {
    cursor.seek(slot.end, "TBasket");
    return;
  }
  if (key_bytes < 0 || last < key_bytes) cursor.fail("corrupted embedded basket in " + branch.name);
  EmbeddedBasket basket;
  basket.first_entry = first_entry;
  basket.entries = entries;
  basket.key_bytes = key_bytes;
  if (flag % 10 != 2) {
    const std::int32_t count = cursor.i32("TBasket entry offset count");
    if (count < entries) cursor.fail("corrupted entry offsets in embedded basket of " + branch.name);
    cursor.require(4 * static_cast<std::size_t>(count), "TBasket entry offsets");
    basket.offsets.resize(static_cast<std::size_t>(entries));
    for (std::int32_t i = 0; i < count; ++i) {
      std::int32_t offset = cursor.i32("TBasket entry offset");
      if (flag > 20 && flag < 40) offset &= 0x00FFFFFF;  // drop the displacement bits
      if (i < entries) basket.offsets[static_cast<std::size_t>(i)] = offset - key_bytes;
    }
    if (flag > 40) {
      const std::int32_t displacements = cursor.i32("TBasket displacement count");
      if (displacements < 0) cursor.fail("corrupted displacements in embedded basket of " + branch.name);
      cursor.skip(4 * static_cast<std::size_t>(displacements), "TBasket displacements");
    }
  }
  // The buffer (with a count in front for TBasket version 1) starts with a copy of the key header.
  if (basket_version <= 1) cursor.i32("TBasket buffer size");
  cursor.skip(static_cast<std::size_t>(key_bytes), "TBasket buffer header");
  const std::size_t data_bytes = static_cast<std::size_t>(last - key_bytes);
  cursor.require(data_bytes, "TBasket buffer");
  basket.data.assign(cursor.here(), cursor.here() + data_bytes);
  cursor.seek(slot.end, "TBasket");
  branch.embedded_baskets.push_back(std::move(basket));
}

/// Reads a fixed-size array written as "[fMaxBaskets]": one marker byte, then the values if the
/// marker is non-zero.
template <class T>
inline std::vector<T> read_counted_array(ByteCursor& cursor, std::int32_t count, std::string_view what) {
  std::vector<T> values;
  const std::uint8_t marker = cursor.u8(what);
  if (marker == 0) return values;
  cursor.require(sizeof(T) * static_cast<std::size_t>(count), what);
  values.resize(static_cast<std::size_t>(count));
  for (auto& value : values) value = cursor.read<T>(what);
  return values;
}

inline BranchDescription read_branch(ByteCursor& cursor, ReferenceTable& references,
                                     const ObjectSlot& slot, int depth);

inline void read_tbranch_base(ByteCursor& cursor, ReferenceTable& references,
                              BranchDescription& branch, int depth) {
  const VersionHeader header = read_version(cursor, "TBranch");
  if (header.version < 10) {
    cursor.fail("TBranch class version " + std::to_string(header.version) +
                " (ROOT < 5.10) is not supported");
  }
  const Named named = read_tnamed(cursor);
  branch.name = named.name;
  branch.title = named.title;
  skip_versioned(cursor, "TAttFill");
  cursor.i32("TBranch::fCompress");
  cursor.i32("TBranch::fBasketSize");
  branch.entry_offset_length = cursor.i32("TBranch::fEntryOffsetLen");
  const std::int32_t write_basket = cursor.i32("TBranch::fWriteBasket");
  cursor.i64("TBranch::fEntryNumber");
  if (header.version >= 13) skip_versioned(cursor, "TIOFeatures");
  cursor.i32("TBranch::fOffset");
  const std::int32_t max_baskets = cursor.i32("TBranch::fMaxBaskets");
  cursor.i32("TBranch::fSplitLevel");
  branch.entries = cursor.i64("TBranch::fEntries");
  if (header.version >= 11) cursor.i64("TBranch::fFirstEntry");
  cursor.i64("TBranch::fTotBytes");
  cursor.i64("TBranch::fZipBytes");
  if (max_baskets < 0 || write_basket < 0 || write_basket > max_baskets || branch.entries < 0) {
    cursor.fail("corrupted basket table in branch " + branch.name);
  }

  VersionHeader array_header;
  const std::int32_t child_count = begin_object_array(cursor, array_header);
  for (std::int32_t i = 0; i < child_count; ++i) {
    ObjectSlot child = begin_object(cursor, references);
    if (child.kind == ObjectSlot::Kind::Object) {
      if (depth >= max_branch_depth) cursor.fail("branches nested too deeply");
      branch.children.push_back(read_branch(cursor, references, child, depth + 1));
    }
  }
  skip_to_end(cursor, array_header, "TBranch::fBranches");

  const std::int32_t leaf_count = begin_object_array(cursor, array_header);
  for (std::int32_t i = 0; i < leaf_count; ++i) {
    ObjectSlot leaf = begin_object(cursor, references);
    if (leaf.kind == ObjectSlot::Kind::Object) {
      branch.leaves.push_back(read_leaf(cursor, references, leaf));
    }
  }
  skip_to_end(cursor, array_header, "TBranch::fLeaves");

  // Embedded baskets sit at their basket index; their first entry comes from fBasketEntry, which
  // follows, so remember them first.
  std::vector<std::pair<std::int32_t, std::size_t>> embedded_positions;
  std::vector<ObjectSlot> embedded_slots;
  const std::int32_t basket_count = begin_object_array(cursor, array_header);
  for (std::int32_t i = 0; i < basket_count; ++i) {
    ObjectSlot basket = begin_object(cursor, references);
    if (basket.kind != ObjectSlot::Kind::Object) continue;
    if (basket.class_name != "TBasket") cursor.fail("unexpected " + basket.class_name + " among baskets");
    embedded_positions.emplace_back(i, cursor.position());
    embedded_slots.push_back(basket);
    cursor.seek(basket.end, "TBasket");
  }
  skip_to_end(cursor, array_header, "TBranch::fBaskets");

  const auto basket_bytes = read_counted_array<std::int32_t>(cursor, max_baskets, "TBranch::fBasketBytes");
  const auto basket_entry = read_counted_array<std::int64_t>(cursor, max_baskets, "TBranch::fBasketEntry");
  const auto basket_seek = read_counted_array<std::int64_t>(cursor, max_baskets, "TBranch::fBasketSeek");
  branch.external_file = cursor.tstring("TBranch::fFileName");
  if (header.has_byte_count) skip_to_end(cursor, header, "TBranch");

  if (write_basket > 0 && (basket_bytes.size() < std::size_t(write_basket) ||
                           basket_entry.size() < std::size_t(write_basket) ||
                           basket_seek.size() < std::size_t(write_basket))) {
    cursor.fail("missing basket table in branch " + branch.name);
  }
  const std::size_t resume = cursor.position();
  std::vector<std::int32_t> embedded_indexes;
  for (std::size_t k = 0; k < embedded_slots.size(); ++k) {
    const std::int32_t index = embedded_positions[k].first;
    if (std::size_t(index) >= basket_entry.size()) {
      cursor.fail("embedded basket " + std::to_string(index) + " of branch " + branch.name +
                  " has no entry in the basket table");
    }
    const std::int64_t first_entry = basket_entry[static_cast<std::size_t>(index)];
    cursor.seek(embedded_positions[k].second, "TBasket");
    const std::size_t before = branch.embedded_baskets.size();
    read_embedded_basket(cursor, branch, first_entry, embedded_slots[k]);
    if (branch.embedded_baskets.size() > before) embedded_indexes.push_back(index);
  }
  // A basket still held in the record (with its data) supersedes its slot in the table: recovered
  // files list baskets that never reached the disk, with seek 0. Unwritten slots are skipped; the
  // column layer reports any entries left without a basket.
  for (std::int32_t i = 0; i < write_basket; ++i) {
    bool embedded = false;
    for (std::int32_t index : embedded_indexes) embedded |= index == i;
    if (embedded || basket_seek[i] <= 0 || basket_bytes[i] <= 0) continue;
    branch.baskets.push_back(BasketLocation{basket_entry[i], basket_seek[i], basket_bytes[i]});
  }
  cursor.seek(resume, "TBranch");
}

inline BranchDescription read_branch(ByteCursor& cursor, ReferenceTable& references,
                                     const ObjectSlot& slot, int depth) {
  BranchDescription branch;
  branch.class_name = slot.class_name;
  if (branch.class_name == "TBranch") {
    read_tbranch_base(cursor, references, branch, depth);
  } else if (branch.class_name == "TBranchElement") {
    const VersionHeader header = read_version(cursor, "TBranchElement");
    read_tbranch_base(cursor, references, branch, depth);
    branch.element_class = cursor.tstring("TBranchElement::fClassName");
    branch.parent_class = cursor.tstring("TBranchElement::fParentName");
    cursor.tstring("TBranchElement::fClonesName");
    cursor.u32("TBranchElement::fCheckSum");
    if (header.version >= 10) {
      cursor.i16("TBranchElement::fClassVersion");
    } else {
      cursor.i32("TBranchElement::fClassVersion");
    }
    branch.element_id = cursor.i32("TBranchElement::fID");
    branch.element_kind = cursor.i32("TBranchElement::fType");
    branch.streamer_type = cursor.i32("TBranchElement::fStreamerType");
  } else if (branch.class_name.rfind("TBranch", 0) == 0) {
    // TBranchObject, TBranchRef, TBranchSTL...: all start with a TBranch; enough to list them.
    read_version(cursor, branch.class_name);
    read_tbranch_base(cursor, references, branch, depth);
  } else {
    cursor.fail("unexpected object of class " + branch.class_name + " among branches");
  }
  cursor.seek(slot.end, "branch");
  return branch;
}

}  // namespace detail

/// Decodes a TTree record (the uncompressed payload of its key).
inline TreeDescription parse_tree(ByteCursor& cursor) {
  TreeDescription tree;
  ReferenceTable references;
  const VersionHeader header = read_version(cursor, "TTree");
  if (header.version < 16 || header.version > 20) {
    cursor.fail("TTree class version " + std::to_string(header.version) +
                " is not supported (versions 16-20: ROOT 5.26 to 6.x)");
  }
  const Named named = read_tnamed(cursor);
  tree.name = named.name;
  tree.title = named.title;
  skip_versioned(cursor, "TAttLine");
  skip_versioned(cursor, "TAttFill");
  skip_versioned(cursor, "TAttMarker");
  tree.entries = cursor.i64("TTree::fEntries");
  if (tree.entries < 0) cursor.fail("corrupted entry count in tree " + tree.name);
  // fTotBytes, fZipBytes, fSavedBytes, [fFlushedBytes], fWeight, fTimerInterval, fScanField,
  // fUpdate, [fDefaultEntryOffsetLen], [fNClusterRange], fMaxEntries, fMaxEntryLoop,
  // fMaxVirtualSize, fAutoSave, [fAutoFlush], fEstimate.
  cursor.skip(8 * 3, "TTree sizes");
  if (header.version >= 18) cursor.skip(8, "TTree::fFlushedBytes");
  cursor.skip(8 + 4 * 3, "TTree weights");
  if (header.version >= 17) cursor.skip(4, "TTree::fDefaultEntryOffsetLen");
  std::int32_t cluster_ranges = 0;
  if (header.version >= 19) cluster_ranges = cursor.i32("TTree::fNClusterRange");
  cursor.skip(8 * 4, "TTree limits");
  if (header.version >= 18) cursor.skip(8, "TTree::fAutoFlush");
  cursor.skip(8, "TTree::fEstimate");
  if (header.version >= 19) {
    if (cluster_ranges < 0) cursor.fail("corrupted cluster ranges in tree " + tree.name);
    detail::read_counted_array<std::int64_t>(cursor, cluster_ranges, "TTree::fClusterRangeEnd");
    detail::read_counted_array<std::int64_t>(cursor, cluster_ranges, "TTree::fClusterSize");
  }
  if (header.version >= 20) skip_versioned(cursor, "TIOFeatures");
  VersionHeader array_header;
  const std::int32_t count = detail::begin_object_array(cursor, array_header);
  for (std::int32_t i = 0; i < count; ++i) {
    ObjectSlot slot = begin_object(cursor, references);
    if (slot.kind == ObjectSlot::Kind::Object) {
      tree.branches.push_back(detail::read_branch(cursor, references, slot, 0));
    }
  }
  return tree;
}

}  // namespace deepjet::root
