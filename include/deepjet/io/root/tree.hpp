// deepjet/io/root/tree.hpp: the column API over one TTree.
//
// Contract: a Tree lists its branches with their types and reads a branch over an entry range
// [first, last) into typed arrays, converting from the stored type to the requested one
// (Double32_t and Float16_t are unpacked as ROOT unpacks them, to double / float, then converted):
//   read<T>         fixed-size entries (scalars, fixed arrays, leaves of a leaf list) -> values
//   read_jagged<T>  any numeric branch (counted arrays, std::vector<T>, fixed arrays) -> values +
//                   offsets (offsets.size() == entries + 1)
//   read_nested<T>  std::vector<std::vector<T>> -> values + inner offsets + entry offsets
//   read_strings    char* leaves, std::string and TString branches
//   read_string_lists  std::vector<std::string> (or set, or of TString) -> strings + offsets
// Baskets are decompressed lazily, one at a time; the last basket of each branch is kept so that
// reading consecutive chunks (chunks(), for_each_chunk()) never decompresses a basket twice, and
// memory stays at one basket per branch plus the output. With set_decompression_threads(n > 1)
// the baskets one read needs are decompressed concurrently first. A Tree is not safe for
// concurrent use; copies share the file and the metadata, and each has its own basket cache.
// Errors (unknown branch, unsupported type, bad range, damaged data) throw deepjet::FileError.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "deepjet/io/root/basket.hpp"
#include "deepjet/io/root/column_layout.hpp"
#include "deepjet/io/root/file_source.hpp"
#include "deepjet/io/root/streamer_info.hpp"
#include "deepjet/io/root/tree_metadata.hpp"

namespace deepjet::root {

struct EntryRange {
  std::int64_t first = 0;
  std::int64_t last = 0;  // one past the final entry
  std::int64_t size() const noexcept { return last - first; }
};

/// The chunks [0, n), [n, 2n) ... of `total` entries, as a lazy random-access range.
class EntryChunks {
 public:
  class iterator {
   public:
    using value_type = EntryRange;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(std::int64_t first, std::int64_t total, std::int64_t step) : first_(first), total_(total), step_(step) {}
    EntryRange operator*() const { return {first_, first_ + std::min(step_, total_ - first_)}; }
    iterator& operator++() {
      first_ += std::min(step_, total_ - first_);
      return *this;
    }
    iterator operator++(int) {
      iterator copy = *this;
      ++*this;
      return copy;
    }
    bool operator==(const iterator& other) const { return first_ == other.first_; }

   private:
    std::int64_t first_ = 0;
    std::int64_t total_ = 0;
    std::int64_t step_ = 1;
  };

  EntryChunks(std::int64_t total, std::int64_t step) : total_(total), step_(step) {}
  iterator begin() const { return iterator(0, total_, step_); }
  iterator end() const { return iterator(total_, total_, step_); }
  std::size_t size() const { return static_cast<std::size_t>((total_ + step_ - 1) / step_); }
  bool empty() const { return total_ == 0; }
  EntryRange operator[](std::size_t i) const {
    const std::int64_t first = static_cast<std::int64_t>(i) * step_;
    return {first, std::min(total_, first + step_)};
  }
  EntryRange back() const { return (*this)[size() - 1]; }

 private:
  std::int64_t total_;
  std::int64_t step_;
};

/// Values of a variable-length branch: entry i is values[offsets[i] .. offsets[i+1]).
template <class T>
struct JaggedArray {
  std::vector<T> values;
  std::vector<std::int64_t> offsets{0};

  std::size_t entries() const noexcept { return offsets.size() - 1; }
  std::span<const T> operator[](std::size_t entry) const {
    return std::span<const T>(values.data() + offsets[entry],
                              static_cast<std::size_t>(offsets[entry + 1] - offsets[entry]));
  }
};

/// Values of a branch with two levels of lists (std::vector<std::vector<T>>): entry i holds the
/// lists offsets[i] .. offsets[i+1]; list j holds values[inner_offsets[j] .. inner_offsets[j+1]).
template <class T>
struct NestedJaggedArray {
  std::vector<T> values;
  std::vector<std::int64_t> inner_offsets{0};
  std::vector<std::int64_t> offsets{0};

  std::size_t entries() const noexcept { return offsets.size() - 1; }
  /// The number of lists of an entry.
  std::size_t lists(std::size_t entry) const noexcept {
    return static_cast<std::size_t>(offsets[entry + 1] - offsets[entry]);
  }
  /// List `list` of entry `entry`.
  std::span<const T> operator()(std::size_t entry, std::size_t list) const {
    const std::size_t j = static_cast<std::size_t>(offsets[entry]) + list;
    return std::span<const T>(values.data() + inner_offsets[j],
                              static_cast<std::size_t>(inner_offsets[j + 1] - inner_offsets[j]));
  }
};

/// One readable column as listed by Tree::branches().
struct BranchInfo {
  std::string name;         // what read() accepts: the branch name, or "branch.leaf" in leaf lists
  std::string class_name;   // TBranch, TBranchElement ...
  std::string type;         // e.g. "float", "int32[3]", "float[NJet]", "vector<float>", "string"
  std::int64_t entries = 0;
  int depth = 0;            // 0 for top-level branches, 1 for their sub-branches ...
  bool supported = false;
  std::string unsupported_reason;
  ColumnLayout layout;
};

namespace detail {

template <class T, class Stored>
inline void convert_run(const std::uint8_t* source, std::size_t count, T* out) {
  for (std::size_t i = 0; i < count; ++i) {
    const Stored value = load_big_endian<Stored>(source + i * sizeof(Stored));
    if constexpr (std::is_same_v<T, bool>) {
      out[i] = value != Stored(0);
    } else {
      out[i] = static_cast<T>(value);
    }
  }
}

template <class T>
inline void convert_values(ValueType stored, const std::uint8_t* source, std::size_t count, T* out) {
  switch (stored) {
    case ValueType::Bool: {
      for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<T>(source[i] != 0);
      return;
    }
    case ValueType::Int8: return convert_run<T, std::int8_t>(source, count, out);
    case ValueType::UInt8: return convert_run<T, std::uint8_t>(source, count, out);
    case ValueType::Int16: return convert_run<T, std::int16_t>(source, count, out);
    case ValueType::UInt16: return convert_run<T, std::uint16_t>(source, count, out);
    case ValueType::Int32: return convert_run<T, std::int32_t>(source, count, out);
    case ValueType::UInt32: return convert_run<T, std::uint32_t>(source, count, out);
    case ValueType::Int64: return convert_run<T, std::int64_t>(source, count, out);
    case ValueType::UInt64: return convert_run<T, std::uint64_t>(source, count, out);
    case ValueType::Float32: return convert_run<T, float>(source, count, out);
    case ValueType::Float64: return convert_run<T, double>(source, count, out);
    case ValueType::String: break;
  }
}

/// ROOT's unpacking of one truncated-mantissa value (TBufferFile::ReadWithNbits): the exponent
/// byte, then the mantissa's top `nbits` bits with the sign in bit nbits + 1.
inline float unpack_mantissa(const std::uint8_t* source, int nbits) noexcept {
  const std::uint32_t exponent = source[0];
  const std::uint32_t mantissa = load_big_endian<std::uint16_t>(source + 1);
  const std::uint32_t bits = exponent << 23 | (mantissa & ((1u << (nbits + 1)) - 1)) << (23 - nbits);
  const float value = std::bit_cast<float>(bits);
  return (mantissa & (1u << (nbits + 1))) ? -value : value;
}

/// Decodes `count` stored values of `layout` (any basic type, or packed Double32_t / Float16_t)
/// into `out`.
template <class T>
inline void decode_values(const ColumnLayout& layout, const std::uint8_t* source, std::size_t count, T* out) {
  const RealPacking& packing = layout.packing;
  if (!packing.packed()) return convert_values(layout.type, source, count, out);
  const bool float16 = layout.type == ValueType::Float32;
  // Double32_t values are doubles, Float16_t values floats, as ROOT hands them out.
  const auto put = [&](std::size_t i, double value) {
    if constexpr (std::is_same_v<T, bool>) {
      out[i] = float16 ? static_cast<float>(value) != 0.0f : value != 0.0;
    } else if (float16) {
      out[i] = static_cast<T>(static_cast<float>(value));
    } else {
      out[i] = static_cast<T>(value);
    }
  };
  switch (packing.form) {
    case RealPacking::Form::as_float:
      for (std::size_t i = 0; i < count; ++i) put(i, load_big_endian<float>(source + 4 * i));
      return;
    case RealPacking::Form::range:
      for (std::size_t i = 0; i < count; ++i) {
        put(i, load_big_endian<std::uint32_t>(source + 4 * i) / packing.factor + packing.xmin);
      }
      return;
    case RealPacking::Form::mantissa:
      for (std::size_t i = 0; i < count; ++i) put(i, unpack_mantissa(source + 3 * i, packing.nbits));
      return;
    case RealPacking::Form::none: break;
  }
}

}  // namespace detail

class Tree {
 public:
  Tree(std::shared_ptr<const FileSource> source, std::shared_ptr<const StreamerInfos> infos,
       TreeDescription description)
      : source_(std::move(source)),
        infos_(std::move(infos)),
        description_(std::make_shared<const TreeDescription>(std::move(description))) {
    // Columns point into *description_, which copies of this Tree share and never modify.
    for (const BranchDescription& branch : description_->branches) index(branch, "", 0);
  }

  const std::string& name() const noexcept { return description_->name; }
  const std::string& title() const noexcept { return description_->title; }
  std::int64_t entries() const noexcept { return description_->entries; }
  const TreeDescription& description() const noexcept { return *description_; }
  const std::string& path() const noexcept { return source_->path(); }

  /// Every branch, depth first, with leaf-list leaves listed as "branch.leaf".
  const std::vector<BranchInfo>& branches() const noexcept { return infos_list_; }

  bool has_branch(std::string_view name) const { return find(name) != nullptr; }

  /// Information on one branch; throws if it does not exist.
  const BranchInfo& branch(std::string_view name) const {
    const Column* col = find(name);
    if (col == nullptr) {
      throw FileError(path(), "tree \"" + name_or_path() + "\" has no branch \"" + std::string(name) + "\"");
    }
    return col->info;
  }

  /// Releases the baskets kept from the last reads (one per branch).
  void drop_cached_baskets() const { caches_.clear(); }

  /// Decompress the baskets of one read on `threads` threads (1 = sequential, the default).
  void set_decompression_threads(unsigned threads) { threads_ = std::max(1u, threads); }

  /// Consecutive entry ranges of at most `entries_per_chunk` entries covering the tree (computed
  /// on the fly: nothing is allocated, whatever the number of entries).
  EntryChunks chunks(std::int64_t entries_per_chunk) const {
    if (entries_per_chunk <= 0) throw FileError(path(), "chunk size must be positive");
    return EntryChunks(entries(), entries_per_chunk);
  }

  /// Reads `branches` chunk by chunk (at most `entries_per_chunk` entries each) and calls
  /// visit(range, columns), columns[i] holding branches[i] for that range. Only one chunk of
  /// output and one basket per branch are in memory at a time, whatever the file size.
  template <class T, class Visit>
  void for_each_chunk(const std::vector<std::string>& branch_names, std::int64_t entries_per_chunk,
                      Visit&& visit) const {
    for (const auto& name : branch_names) column(name);  // fail before reading anything
    for (const EntryRange& range : chunks(entries_per_chunk)) {
      std::vector<JaggedArray<T>> columns;
      columns.reserve(branch_names.size());
      for (const auto& name : branch_names) columns.push_back(read_jagged<T>(name, range.first, range.last));
      visit(range, columns);
    }
  }

  /// Fixed-size entries: (last - first) * values_per_entry values.
  template <class T>
  std::vector<T> read(std::string_view name, std::int64_t first = 0, std::int64_t last = -1) const {
    const Column& col = column(name);
    const EntryRange range = checked_range(col, first, last);
    if (col.info.layout.kind != ColumnLayout::Kind::Fixed) {
      throw FileError(path(), "branch \"" + col.info.name + "\" has variable-size entries (" +
                                  col.info.type + "); read it with read_jagged or read_strings");
    }
    std::vector<T> out;  // grows basket by basket: sizes from the file are trusted only once checked
    read_numeric(col, range, out, nullptr);
    return out;
  }

  /// Any numeric branch as values + offsets.
  template <class T>
  JaggedArray<T> read_jagged(std::string_view name, std::int64_t first = 0, std::int64_t last = -1) const {
    const Column& col = column(name);
    const EntryRange range = checked_range(col, first, last);
    reject_nested(col);
    if (col.info.layout.type == ValueType::String) {
      throw FileError(path(), "branch \"" + col.info.name + "\" holds strings; read it with read_strings or read_string_lists");
    }
    JaggedArray<T> out;
    read_numeric(col, range, out.values, &out.offsets);
    return out;
  }

  /// read() into `out`, reusing its capacity (for loops over chunks).
  template <class T>
  void read_into(std::string_view name, std::int64_t first, std::int64_t last, std::vector<T>& out) const {
    const Column& col = column(name);
    const EntryRange range = checked_range(col, first, last);
    if (col.info.layout.kind != ColumnLayout::Kind::Fixed) {
      throw FileError(path(), "branch \"" + col.info.name + "\" has variable-size entries (" +
                                  col.info.type + "); read it with read_jagged_into");
    }
    out.clear();
    read_numeric(col, range, out, nullptr);
  }

  /// read_jagged() into `out`, reusing its capacity.
  template <class T>
  void read_jagged_into(std::string_view name, std::int64_t first, std::int64_t last, JaggedArray<T>& out) const {
    const Column& col = column(name);
    const EntryRange range = checked_range(col, first, last);
    if (col.info.layout.type == ValueType::String) {
      throw FileError(path(), "branch \"" + col.info.name + "\" holds strings; read it with read_strings or read_string_lists");
    }
    reject_nested(col);
    out.values.clear();
    out.offsets.assign(1, 0);
    read_numeric(col, range, out.values, &out.offsets);
  }

  /// std::vector<std::vector<T>> branches: values, offsets of the inner lists, offsets of entries.
  template <class T>
  NestedJaggedArray<T> read_nested(std::string_view name, std::int64_t first = 0, std::int64_t last = -1) const {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>,
                  "read numeric branches into an arithmetic type; for bool use std::uint8_t");
    const Column& col = column(name);
    const EntryRange range = checked_range(col, first, last);
    if (col.info.layout.kind != ColumnLayout::Kind::NestedCollection) {
      throw FileError(path(), "branch \"" + col.info.name + "\" is " + col.info.type +
                                  ", not a vector of vectors; read it with read_jagged");
    }
    const ColumnLayout& layout = col.info.layout;
    const std::size_t size = stored_value_size(layout);
    NestedJaggedArray<T> out;
    for_each_basket(col, range, [&](const LoadedBasket& basket, std::int64_t a, std::int64_t b) {
      const std::string what = basket_what(col, basket);
      if (basket.offsets.empty()) throw FileError(path(), what + ": vector basket without entry offsets");
      for (std::int64_t e = a; e < b; ++e) {
        const std::size_t begin = static_cast<std::size_t>(basket.offsets[e]);
        const std::size_t end = static_cast<std::size_t>(basket.offsets[e + 1]);
        ByteCursor cursor(basket.data.data() + begin, end - begin, path());
        cursor.skip(layout.entry_header_bytes - 4, "collection header");
        const std::int32_t lists = cursor.i32("number of inner vectors");
        // Every inner vector takes at least its 4-byte size.
        if (lists < 0 || static_cast<std::size_t>(lists) > cursor.remaining() / 4) {
          throw FileError(path(), what + ": corrupted number of inner vectors " + std::to_string(lists));
        }
        for (std::int32_t j = 0; j < lists; ++j) {
          const std::int32_t count = cursor.i32("inner vector size");
          if (count < 0 || static_cast<std::size_t>(count) > cursor.remaining() / size) {
            throw FileError(path(), what + ": corrupted inner vector size " + std::to_string(count));
          }
          const std::size_t at = out.values.size();
          out.values.resize(at + static_cast<std::size_t>(count));
          detail::decode_values(layout, cursor.here(), static_cast<std::size_t>(count), out.values.data() + at);
          cursor.skip(static_cast<std::size_t>(count) * size, "inner vector values");
          out.inner_offsets.push_back(static_cast<std::int64_t>(out.values.size()));
        }
        if (cursor.remaining() != 0) throw FileError(path(), what + ": vector of vectors longer than its values");
        out.offsets.push_back(static_cast<std::int64_t>(out.inner_offsets.size() - 1));
      }
    });
    return out;
  }

  /// Collections of strings (std::vector<std::string>, std::set<TString> ...), one per entry.
  JaggedArray<std::string> read_string_lists(std::string_view name, std::int64_t first = 0,
                                             std::int64_t last = -1) const {
    const Column& col = column(name);
    const EntryRange range = checked_range(col, first, last);
    if (col.info.layout.kind != ColumnLayout::Kind::TextCollection) {
      throw FileError(path(), "branch \"" + col.info.name + "\" is " + col.info.type +
                                  ", not a collection of strings");
    }
    JaggedArray<std::string> out;
    const std::size_t header = col.info.layout.entry_header_bytes;
    for_each_basket(col, range, [&](const LoadedBasket& basket, std::int64_t a, std::int64_t b) {
      const std::string what = basket_what(col, basket);
      if (basket.offsets.empty()) throw FileError(path(), what + ": string basket without entry offsets");
      for (std::int64_t e = a; e < b; ++e) {
        const std::size_t begin = static_cast<std::size_t>(basket.offsets[e]);
        const std::size_t end = static_cast<std::size_t>(basket.offsets[e + 1]);
        ByteCursor cursor(basket.data.data() + begin, end - begin, path());
        cursor.skip(header - 4, "collection header");
        const std::int32_t count = cursor.i32("collection size");
        // Every string takes at least its length byte.
        if (count < 0 || static_cast<std::size_t>(count) > cursor.remaining()) {
          throw FileError(path(), what + ": corrupted collection size " + std::to_string(count));
        }
        for (std::int32_t i = 0; i < count; ++i) out.values.push_back(cursor.tstring(what));
        if (cursor.remaining() != 0) throw FileError(path(), what + ": collection longer than its strings");
        out.offsets.push_back(static_cast<std::int64_t>(out.values.size()));
      }
    });
    return out;
  }

  /// One string per entry.
  std::vector<std::string> read_strings(std::string_view name, std::int64_t first = 0,
                                        std::int64_t last = -1) const {
    const Column& col = column(name);
    const EntryRange range = checked_range(col, first, last);
    if (col.info.layout.kind != ColumnLayout::Kind::Text) {
      throw FileError(path(), "branch \"" + col.info.name + "\" is " + col.info.type +
                                  ", not a string branch");
    }
    std::vector<std::string> out;
    const std::size_t header = col.info.layout.entry_header_bytes;
    for_each_basket(col, range, [&](const LoadedBasket& basket, std::int64_t a, std::int64_t b) {
      const std::string what = basket_what(col, basket);
      std::vector<std::int32_t> scanned;
      const std::vector<std::int32_t>& offsets =
          basket.offsets.empty() ? (scanned = string_offsets(basket, header, what)) : basket.offsets;
      for (std::int64_t e = a; e < b; ++e) {
        const std::size_t begin = static_cast<std::size_t>(offsets[e]);
        const std::size_t end = static_cast<std::size_t>(offsets[e + 1]);
        ByteCursor cursor(basket.data.data() + begin, end - begin, path());
        cursor.skip(header, "string header");
        out.push_back(cursor.tstring(what));
      }
    });
    return out;
  }

 private:
  /// One basket of a column, on disk or embedded in the tree record, in entry order.
  struct BasketRef {
    std::int64_t first = 0;
    std::int64_t end = 0;   // entry after its last one
    bool embedded = false;
    std::size_t index = 0;  // into BranchDescription::baskets or ::embedded_baskets
  };

  struct Column {
    const BranchDescription* branch = nullptr;
    BranchInfo info;
    std::vector<BasketRef> baskets;
  };

  struct BasketCache {
    std::size_t index = static_cast<std::size_t>(-1);
    std::shared_ptr<const LoadedBasket> basket;
  };

  /// Registers a branch (and its sub-branches) under its own name; a name already taken by an
  /// earlier branch is registered under its full path ("parent/child") instead. The full path
  /// always works as an alias.
  void index(const BranchDescription& branch, const std::string& prefix, int depth) {
    const std::string full = prefix.empty() ? branch.name : prefix + "/" + branch.name;
    const std::string base = columns_.count(branch.name) ? full : branch.name;
    const bool leaf_list = branch.class_name == "TBranch" && branch.leaves.size() > 1;
    auto register_column = [&](Column col, const std::string& alias) {
      infos_list_.push_back(col.info);
      if (alias != col.info.name) aliases_.emplace(alias, col.info.name);
      columns_.emplace(col.info.name, std::move(col));
    };
    auto make_column = [&](const std::string& name, std::size_t leaf_index) {
      Column col;
      col.branch = &branch;
      col.info.name = name;
      col.info.class_name = branch.class_name;
      col.info.entries = branch.entries;
      col.info.depth = depth;
      col.info.layout = describe_column(branch, *infos_, leaf_index);
      col.info.type = col.info.layout.description;
      col.info.supported = col.info.layout.kind != ColumnLayout::Kind::Unsupported;
      col.info.unsupported_reason = col.info.layout.unsupported_reason;
      // In entry order, basket i covers [first(i), first(i + 1)); the last one ends at fEntries.
      for (std::size_t i = 0; i < branch.baskets.size(); ++i) {
        col.baskets.push_back(BasketRef{branch.baskets[i].first_entry, 0, false, i});
      }
      for (std::size_t i = 0; i < branch.embedded_baskets.size(); ++i) {
        col.baskets.push_back(BasketRef{branch.embedded_baskets[i].first_entry, 0, true, i});
      }
      std::stable_sort(col.baskets.begin(), col.baskets.end(),
                       [](const BasketRef& x, const BasketRef& y) { return x.first < y.first; });
      for (std::size_t i = 0; i < col.baskets.size(); ++i) {
        col.baskets[i].end = i + 1 < col.baskets.size() ? col.baskets[i + 1].first : branch.entries;
      }
      return col;
    };
    if (leaf_list) {
      Column whole;
      whole.branch = &branch;
      whole.info.name = base;
      whole.info.class_name = branch.class_name;
      whole.info.entries = branch.entries;
      whole.info.depth = depth;
      whole.info.type = "leaf list";
      whole.info.unsupported_reason = "branch \"" + branch.name + "\" is a leaf list; read its leaves as \"" +
                                      base + "." + branch.leaves[0].name + "\" ...";
      whole.info.layout.description = whole.info.type;
      whole.info.layout.unsupported_reason = whole.info.unsupported_reason;
      register_column(std::move(whole), full);
      for (std::size_t i = 0; i < branch.leaves.size(); ++i) {
        const std::string suffix = "." + branch.leaves[i].name;
        register_column(make_column(base + suffix, i), full + suffix);
      }
    } else {
      register_column(make_column(base, 0), full);
    }
    for (const BranchDescription& child : branch.children) index(child, full, depth + 1);
  }

  /// read_jagged gives one level of offsets; two levels need read_nested.
  void reject_nested(const Column& col) const {
    if (col.info.layout.kind == ColumnLayout::Kind::NestedCollection) {
      throw FileError(path(), "branch \"" + col.info.name + "\" is " + col.info.type +
                                  " (two levels of lists); read it with read_nested");
    }
  }

  const Column* find(std::string_view name) const {
    auto found = columns_.find(std::string(name));
    if (found != columns_.end()) return &found->second;
    auto alias = aliases_.find(std::string(name));
    if (alias != aliases_.end()) {
      found = columns_.find(alias->second);
      if (found != columns_.end()) return &found->second;
    }
    return nullptr;
  }

  const Column& column(std::string_view name) const {
    const Column* col = find(name);
    if (col == nullptr) {
      throw FileError(path(), "tree \"" + name_or_path() + "\" has no branch \"" + std::string(name) + "\"");
    }
    if (!col->info.supported) throw FileError(path(), col->info.unsupported_reason);
    return *col;
  }

  std::string name_or_path() const { return description_->name; }

  EntryRange checked_range(const Column& col, std::int64_t first, std::int64_t last) const {
    const std::int64_t available = std::min(entries(), col.branch->entries);
    if (last < 0) last = available;
    if (first < 0 || first > last || last > available) {
      throw FileError(path(), "entry range [" + std::to_string(first) + ", " + std::to_string(last) +
                                  ") is outside branch \"" + col.info.name + "\" with " +
                                  std::to_string(available) + " entries");
    }
    return {first, last};
  }

  std::string basket_what(const Column& col, const LoadedBasket& basket) const {
    return "branch \"" + col.info.name + "\" basket at entry " + std::to_string(basket.first_entry);
  }

  std::shared_ptr<const LoadedBasket> load(const Column& col, std::size_t i) const {
    const BasketRef& ref = col.baskets[i];
    const std::string what = "branch \"" + col.info.name + "\" basket " + std::to_string(i);
    LoadedBasket basket = ref.embedded
                              ? embedded_basket(col.branch->embedded_baskets[ref.index], path(), what)
                              : load_basket(*source_, col.branch->baskets[ref.index], what);
    const std::int64_t expected = ref.end - ref.first;
    if (basket.entries != expected) {
      throw FileError(path(), what + ": holds " + std::to_string(basket.entries) +
                                  " entries but the branch's basket table says " +
                                  std::to_string(expected));
    }
    return std::make_shared<const LoadedBasket>(std::move(basket));
  }

  /// Calls visit(basket, first_local, last_local) for each basket overlapping `range`, in order.
  template <class Visit>
  void for_each_basket(const Column& col, EntryRange range, Visit&& visit) const {
    if (range.size() == 0) return;
    std::vector<std::size_t> needed;
    for (std::size_t i = 0; i < col.baskets.size(); ++i) {
      const std::int64_t begin = col.baskets[i].first;
      const std::int64_t end = col.baskets[i].end;
      if (begin < 0 || end < begin) throw FileError(path(), "branch \"" + col.info.name + "\": corrupted basket table");
      if (end > range.first && begin < range.last) needed.push_back(i);
    }
    // The baskets must cover the range without gaps.
    std::int64_t covered = range.first;
    for (std::size_t i : needed) {
      if (col.baskets[i].first > covered) break;
      covered = std::max(covered, col.baskets[i].end);
    }
    if (covered < range.last) {
      throw FileError(path(), "branch \"" + col.info.name + "\": no basket holds entry " + std::to_string(covered));
    }
    BasketCache& cache = caches_[col.branch];
    std::vector<std::shared_ptr<const LoadedBasket>> preloaded(needed.size());
    if (threads_ > 1 && needed.size() > 1) preload(col, needed, cache, preloaded);
    for (std::size_t k = 0; k < needed.size(); ++k) {
      const std::size_t i = needed[k];
      std::shared_ptr<const LoadedBasket> basket = preloaded[k];
      if (!basket) basket = cache.index == i ? cache.basket : load(col, i);
      cache.index = i;
      cache.basket = basket;
      const std::int64_t begin = col.baskets[i].first;
      const std::int64_t a = std::max(range.first, begin) - begin;
      const std::int64_t b = std::min(range.last, col.baskets[i].end) - begin;
      visit(*basket, a, b);
    }
  }

  void preload(const Column& col, const std::vector<std::size_t>& needed, const BasketCache& cache,
               std::vector<std::shared_ptr<const LoadedBasket>>& out) const {
    std::atomic<std::size_t> next{0};
    std::vector<std::exception_ptr> errors(needed.size());
    auto work = [&] {
      for (std::size_t k = next++; k < needed.size(); k = next++) {
        if (cache.index == needed[k]) {
          out[k] = cache.basket;
          continue;
        }
        try {
          out[k] = load(col, needed[k]);
        } catch (...) {
          errors[k] = std::current_exception();
        }
      }
    };
    std::vector<std::thread> workers;
    const unsigned count = static_cast<unsigned>(std::min<std::size_t>(threads_, needed.size()));
    for (unsigned t = 1; t < count; ++t) workers.emplace_back(work);
    work();
    for (auto& worker : workers) worker.join();
    for (auto& error : errors) {
      if (error) std::rethrow_exception(error);
    }
  }

  /// Entry offsets of a string basket stored without them: each entry is `header` bytes, then a
  /// length byte (255: a 4-byte length follows) and the characters.
  std::vector<std::int32_t> string_offsets(const LoadedBasket& basket, std::size_t header,
                                           const std::string& what) const {
    std::vector<std::int32_t> offsets;
    offsets.reserve(static_cast<std::size_t>(basket.entries) + 1);
    ByteCursor cursor(basket.data.data(), basket.data.size(), path());
    for (std::int32_t e = 0; e < basket.entries; ++e) {
      offsets.push_back(static_cast<std::int32_t>(cursor.position()));
      cursor.skip(header, what);
      std::size_t length = cursor.u8(what);
      if (length == 255) length = cursor.u32(what);
      cursor.skip(length, what);
    }
    offsets.push_back(static_cast<std::int32_t>(cursor.position()));
    return offsets;
  }

  /// Entry offsets of a counted-array basket stored without them, from the count branch.
  std::vector<std::int32_t> offsets_from_counts(const Column& col, const LoadedBasket& basket) const {
    const ColumnLayout& layout = col.info.layout;
    const Column* counter = nullptr;
    for (const auto& [name, candidate] : columns_) {
      if (candidate.info.supported && candidate.info.layout.kind == ColumnLayout::Kind::Fixed &&
          candidate.info.layout.values_per_entry == 1 && candidate.branch->leaves.size() == 1 &&
          candidate.branch->leaves[0].name == layout.count_leaf) {
        counter = &candidate;
        break;
      }
    }
    if (counter == nullptr) {
      throw FileError(path(), basket_what(col, basket) + ": no entry offsets and no count branch \"" +
                                  layout.count_leaf + "\"");
    }
    const std::vector<std::int64_t> counts =
        read<std::int64_t>(counter->info.name, basket.first_entry, basket.first_entry + basket.entries);
    const std::int64_t bytes_per_count = layout.values_per_entry * static_cast<std::int64_t>(stored_value_size(layout));
    std::vector<std::int32_t> offsets(1, 0);
    offsets.reserve(counts.size() + 1);
    std::int64_t position = 0;
    for (std::int64_t count : counts) {
      position += count * bytes_per_count;
      if (count < 0 || position > static_cast<std::int64_t>(basket.data.size())) {
        throw FileError(path(), basket_what(col, basket) + ": counts from \"" + counter->info.name +
                                    "\" do not fit the basket");
      }
      offsets.push_back(static_cast<std::int32_t>(position));
    }
    if (position != static_cast<std::int64_t>(basket.data.size())) {
      throw FileError(path(), basket_what(col, basket) + ": counts from \"" + counter->info.name +
                                  "\" do not match the basket's size");
    }
    return offsets;
  }

  template <class T>
  void read_numeric(const Column& col, EntryRange range, std::vector<T>& values,
                    std::vector<std::int64_t>* offsets) const {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>,
                  "read numeric branches into an arithmetic type; for bool use std::uint8_t "
                  "(std::vector<bool> has no contiguous storage)");
    const ColumnLayout& layout = col.info.layout;
    const std::size_t size = stored_value_size(layout);
    for_each_basket(col, range, [&](const LoadedBasket& basket, std::int64_t a, std::int64_t b) {
      const std::uint8_t* data = basket.data.data();
      if (layout.kind == ColumnLayout::Kind::Fixed) {
        const std::size_t per_entry = static_cast<std::size_t>(layout.values_per_entry);
        const std::size_t value_bytes = per_entry * size;
        const bool contiguous = basket.offsets.empty() && layout.entry_bytes == value_bytes;
        // Sizes are compared by division: a corrupted length must not overflow into a pass.
        const bool too_short =
            basket.offsets.empty()
                ? layout.entry_bytes != 0 && static_cast<std::size_t>(basket.entries) > basket.data.size() / layout.entry_bytes
                : value_bytes != 0 && static_cast<std::size_t>(b - a) > basket.data.size() / value_bytes;
        if (too_short) {
          throw FileError(path(), basket_what(col, basket) + ": holds " + std::to_string(basket.data.size()) +
                                      " bytes, too few for " + std::to_string(basket.entries) + " entries");
        }
        const std::size_t start = values.size();
        values.resize(start + static_cast<std::size_t>(b - a) * per_entry);
        if (contiguous) {
          detail::decode_values(layout, data + static_cast<std::size_t>(a) * value_bytes,
                                 static_cast<std::size_t>(b - a) * per_entry, values.data() + start);
        } else {
          for (std::int64_t e = a; e < b; ++e) {
            std::size_t begin = basket.offsets.empty() ? static_cast<std::size_t>(e) * layout.entry_bytes
                                                       : static_cast<std::size_t>(basket.offsets[e]);
            begin += layout.leaf_offset;
            const std::size_t end = basket.offsets.empty() ? basket.data.size()
                                                           : static_cast<std::size_t>(basket.offsets[e + 1]);
            // With entry offsets, a fixed-size entry must be exactly its size: anything else means
            // the layout is not what the metadata says, and reading on would produce garbage.
            const bool wrong_size = basket.offsets.empty()
                                        ? begin + value_bytes > end
                                        : end - static_cast<std::size_t>(basket.offsets[e]) != layout.entry_bytes;
            if (wrong_size) {
              throw FileError(path(), basket_what(col, basket) + ": entry " +
                                          std::to_string(basket.first_entry + e) + " does not have the size of " +
                                          col.info.type);
            }
            detail::decode_values(layout, data + begin, per_entry,
                                   values.data() + start + static_cast<std::size_t>(e - a) * per_entry);
          }
        }
        if (offsets) {
          std::int64_t running = offsets->back();
          const std::size_t base = offsets->size();
          offsets->resize(base + static_cast<std::size_t>(b - a));
          for (std::size_t k = base; k < offsets->size(); ++k) {
            running += static_cast<std::int64_t>(per_entry);
            (*offsets)[k] = running;
          }
        }
        return;
      }
      const std::size_t header = layout.entry_header_bytes;
      // Baskets written without entry offsets (fEntryOffsetLen = 0) are sized by the count branch.
      std::vector<std::int32_t> derived;
      if (basket.offsets.empty()) {
        if (layout.kind != ColumnLayout::Kind::Counted || layout.count_leaf.empty() || header != 0) {
          throw FileError(path(), basket_what(col, basket) + ": variable-size basket without entry offsets");
        }
        derived = offsets_from_counts(col, basket);
      }
      const std::vector<std::int32_t>& entry_offsets = basket.offsets.empty() ? derived : basket.offsets;
      // First pass: validate every entry and count its values, so the output grows once. Value
      // sizes are powers of two, so counting is a shift, except for 3-byte packed Float16_t /
      // Double32_t values.
      const bool power_of_two = std::has_single_bit(size);
      const unsigned shift = static_cast<unsigned>(std::countr_zero(size));
      const std::size_t mask = size - 1;
      std::size_t total = 0;
      std::int64_t* offset_out = nullptr;
      std::int64_t running = 0;
      if (offsets) {
        running = offsets->back();
        offsets->resize(offsets->size() + static_cast<std::size_t>(b - a));
        offset_out = offsets->data() + offsets->size() - static_cast<std::size_t>(b - a);
      }
      for (std::int64_t e = a; e < b; ++e) {
        const std::size_t begin = static_cast<std::size_t>(entry_offsets[e]);
        const std::size_t length = static_cast<std::size_t>(entry_offsets[e + 1]) - begin;
        if (length < header || (power_of_two ? ((length - header) & mask) != 0 : (length - header) % size != 0)) {
          throw FileError(path(), basket_what(col, basket) + ": entry " +
                                      std::to_string(basket.first_entry + e) + " has " +
                                      std::to_string(length) + " bytes, not a whole number of " +
                                      value_type_name(layout.type) + " values");
        }
        const std::size_t count = power_of_two ? (length - header) >> shift : (length - header) / size;
        if (layout.kind == ColumnLayout::Kind::Collection) {
          const std::int32_t stored = load_big_endian<std::int32_t>(data + begin + header - 4);
          if (stored < 0 || static_cast<std::size_t>(stored) != count) {
            throw FileError(path(), basket_what(col, basket) + ": collection size " + std::to_string(stored) +
                                        " disagrees with the entry's " + std::to_string(count) + " values");
          }
        }
        total += count;
        if (offset_out) {
          running += static_cast<std::int64_t>(count);
          *offset_out++ = running;
        }
      }
      const std::size_t start = values.size();
      values.resize(start + total);
      if (header == 0) {
        // Counted arrays (Jet_Px[NJet]) store the entries back to back: decode them in one run.
        detail::decode_values(layout, data + entry_offsets[a], total, values.data() + start);
      } else {
        std::size_t at = start;
        for (std::int64_t e = a; e < b; ++e) {
          const std::size_t begin = static_cast<std::size_t>(entry_offsets[e]) + header;
          const std::size_t count = (static_cast<std::size_t>(entry_offsets[e + 1]) - begin) / size;
          detail::decode_values(layout, data + begin, count, values.data() + at);
          at += count;
        }
      }
    });
  }

  std::shared_ptr<const FileSource> source_;
  std::shared_ptr<const StreamerInfos> infos_;
  std::shared_ptr<const TreeDescription> description_;
  std::vector<BranchInfo> infos_list_;
  std::map<std::string, Column, std::less<>> columns_;
  std::map<std::string, std::string, std::less<>> aliases_;
  mutable std::map<const BranchDescription*, BasketCache> caches_;
  unsigned threads_ = 1;
};

}  // namespace deepjet::root
