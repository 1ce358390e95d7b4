// deepjet/io/root/tree_writer.hpp: the writing side of tree.hpp and tree_metadata.hpp: one TTree,
// filled column by column, with its TBranch/TBranchElement and TLeaf records.
//
// Contract: a TreeWriter declares branches, then takes chunks of entries per branch:
//   add_branch<T>(name)                 one T per entry                   TBranch + TLeaf{O,B,S,I,L,F,D}
//   add_array_branch<T>(name, n)        T[n] per entry                    same, fLen = n
//   add_counted_branch<T>(name, count)  T[count] (count: an int32 branch  same, fLeafCount -> counter;
//                                       created on first use and filled   the counter's leaf is a range
//                                       from the offsets)
//   add_vector_branch<T>(name)          std::vector<T> per entry          TBranchElement + TLeafElement
//   add_nested_vector_branch<T>(name)   std::vector<std::vector<T>>       TBranchElement + TLeafElement
//   add_string_branch(name)             one string per entry              TBranch + TLeafC
//   add_double32_branch(name, range, n) Double32_t[n] (filled with double) TBranch + TLeafD32, title
//   add_float16_branch(name, range, n)  Float16_t[n] (filled with float)  "d[range]" / "f[range]"
//   add_counted_{double32,float16}_branch(name, count, range)            counted forms of the two
//   write<T>(name, values)                      fixed-size branches (entries * n values)
//   write_jagged<T>(name, values, offsets)      counted and vector branches (offsets: entries + 1
//                                               indexes into values, as JaggedArray holds them)
//   write_nested<T>(name, values, inner_offsets, offsets)   vector-of-vector branches (entry i holds
//                                               the lists offsets[i] .. offsets[i + 1], list j the
//                                               values inner_offsets[j] .. inner_offsets[j + 1])
//   write_strings(name, strings)
// T is the branch's own type (bool, int8..uint64, float, double): values are stored exactly, so a
// reader gets back exactly what was written, except in Double32_t / Float16_t branches, which pack
// them as ROOT does (see RealPacking in column_layout.hpp). A branch's entries go into a basket that is
// compressed and written to the file as soon as it holds `basket_bytes` bytes, so memory stays at
// one basket per branch. Branches can be filled in any order and chunk sizes; when the file is
// closed every branch must hold the same number of entries. Counted branches sharing a counter
// must agree on the counts. Misuse (unknown branch, wrong type, inconsistent sizes) throws
// deepjet::FileError naming the file, tree and branch.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "deepjet/io/root/byte_writer.hpp"
#include "deepjet/io/root/column_layout.hpp"
#include "deepjet/io/root/compress.hpp"
#include "deepjet/io/root/file_sink.hpp"
#include "deepjet/io/root/streamer_info_writer.hpp"
#include "deepjet/io/root/tree.hpp"

namespace deepjet::root {

/// What every tree of a file is written with.
struct WriteOptions {
  CompressionSettings compression{};  // ROOT's default: zlib, level 1
  std::size_t basket_bytes = 32000;   // a basket is written once it holds this many bytes (ROOT's default)
  std::string title;                  // the file's title
};

namespace detail {

/// The ValueType a C++ type is stored as.
template <class T>
constexpr ValueType value_type_of() {
  static_assert(std::is_arithmetic_v<T>, "ROOT branches hold bool, integers, float or double");
  if constexpr (std::is_same_v<T, bool>) return ValueType::Bool;
  else if constexpr (std::is_same_v<T, float>) return ValueType::Float32;
  else if constexpr (std::is_same_v<T, double>) return ValueType::Float64;
  else {
    static_assert(std::is_integral_v<T> && (sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8),
                  "unsupported branch type");
    constexpr bool is_signed = std::is_signed_v<T>;
    if constexpr (sizeof(T) == 1) return is_signed ? ValueType::Int8 : ValueType::UInt8;
    else if constexpr (sizeof(T) == 2) return is_signed ? ValueType::Int16 : ValueType::UInt16;
    else if constexpr (sizeof(T) == 4) return is_signed ? ValueType::Int32 : ValueType::UInt32;
    else return is_signed ? ValueType::Int64 : ValueType::UInt64;
  }
}

/// How ROOT names and codes a basic type: leaf class, leaf-list letter, EReadWrite code, the
/// element name in "vector<...>".
struct BasicTypeNames {
  const char* leaf_class;
  char letter;
  std::int32_t code;
  const char* cpp;
};

inline BasicTypeNames basic_type_names(ValueType type) {
  switch (type) {
    case ValueType::Bool: return {"TLeafO", 'O', 18, "bool"};
    case ValueType::Int8: return {"TLeafB", 'B', 1, "char"};
    case ValueType::UInt8: return {"TLeafB", 'b', 11, "unsigned char"};
    case ValueType::Int16: return {"TLeafS", 'S', 2, "short"};
    case ValueType::UInt16: return {"TLeafS", 's', 12, "unsigned short"};
    case ValueType::Int32: return {"TLeafI", 'I', 3, "int"};
    case ValueType::UInt32: return {"TLeafI", 'i', 13, "unsigned int"};
    case ValueType::Int64: return {"TLeafL", 'L', 16, "Long64_t"};
    case ValueType::UInt64: return {"TLeafL", 'l', 17, "ULong64_t"};
    case ValueType::Float32: return {"TLeafF", 'F', 5, "float"};
    case ValueType::Float64: return {"TLeafD", 'D', 8, "double"};
    case ValueType::String: break;
  }
  return {"TLeafC", 'C', 7, "char*"};
}

inline bool is_unsigned_type(ValueType type) {
  return type == ValueType::UInt8 || type == ValueType::UInt16 || type == ValueType::UInt32 || type == ValueType::UInt64;
}

/// Stores `count` values big-endian at `target` (bool as one byte 0/1). Byte swaps of whole words,
/// which the compiler turns into vector shuffles: this loop is most of the writer's own time.
template <class T>
inline void store_big_endian_run(std::uint8_t* target, const T* values, std::size_t count) {
  if constexpr (std::is_same_v<T, bool>) {
    for (std::size_t i = 0; i < count; ++i) target[i] = values[i] ? 1 : 0;
  } else if constexpr (sizeof(T) == 1) {
    if (count > 0) std::memcpy(target, values, count);  // (empty inputs may be null pointers)
  } else {
    using Word = std::conditional_t<sizeof(T) == 2, std::uint16_t, std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>;
    for (std::size_t i = 0; i < count; ++i) {
      Word word;
      std::memcpy(&word, values + i, sizeof(T));
      if constexpr (sizeof(T) == 2) word = __builtin_bswap16(word);
      else if constexpr (sizeof(T) == 4) word = __builtin_bswap32(word);
      else word = __builtin_bswap64(word);
      std::memcpy(target + i * sizeof(T), &word, sizeof(T));
    }
  }
}

template <class T>
inline void append_big_endian(std::vector<std::uint8_t>& out, const T* values, std::size_t count) {
  const std::size_t at = out.size();
  out.resize(at + count * sizeof(T));
  store_big_endian_run(out.data() + at, values, count);
}

/// Appends `count` values packed as ROOT's TBufferFile::WriteDouble32 or WriteFloat16 pack them (see RealPacking). Returns false, having appended nothing, if a value is
/// NaN and the packing has a range (ROOT would store an undefined integer).
template <class T>
inline bool append_packed(std::vector<std::uint8_t>& out, const T* values, std::size_t count,
                          const RealPacking& packing) {
  const std::size_t at = out.size();
  out.resize(at + count * packing.stored_size());
  std::uint8_t* target = out.data() + at;
  for (std::size_t i = 0; i < count; ++i) {
    switch (packing.form) {
      case RealPacking::Form::as_float:
        store_big_endian(target + 4 * i, static_cast<float>(values[i]));
        break;
      case RealPacking::Form::range: {
        double x = static_cast<double>(values[i]);
        if (std::isnan(x)) {
          out.resize(at);
          return false;
        }
        x = std::min(std::max(x, packing.xmin), packing.xmax);
        store_big_endian(target + 4 * i, static_cast<std::uint32_t>(0.5 + packing.factor * (x - packing.xmin)));
        break;
      }
      case RealPacking::Form::mantissa: {
        // The float's exponent, then its mantissa rounded to nbits bits (saturating rather than
        // carrying into the exponent) with the sign above it.
        const float value = static_cast<float>(values[i]);
        const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
        const int nbits = packing.nbits;
        const std::uint8_t exponent = static_cast<std::uint8_t>((bits << 1) >> 24);
        std::uint32_t mantissa = ((1u << (nbits + 1)) - 1) & (bits >> (23 - nbits - 1));
        mantissa = (mantissa + 1) >> 1;
        if (mantissa & (1u << nbits)) mantissa = (1u << nbits) - 1;
        if (value < 0) mantissa |= 1u << (nbits + 1);
        target[3 * i] = exponent;
        store_big_endian(target + 3 * i + 1, static_cast<std::uint16_t>(mantissa));
        break;
      }
      case RealPacking::Form::none:
        break;
    }
  }
  return true;
}

/// Largest basket record accepted: ROOT's buffers stop at 1 GiB.
inline constexpr std::size_t max_basket_record = std::size_t(1) << 30;

/// ROOT's default length of the entry-offset table, written into variable-size branches.
inline constexpr std::int32_t default_entry_offset_length = 1000;

}  // namespace detail

class TreeWriter {
 public:
  TreeWriter(FileSink& sink, const WriteOptions& options, std::string name, std::string title,
             std::int64_t directory_seek)
      : sink_(&sink), options_(options), name_(std::move(name)), title_(std::move(title)),
        directory_seek_(directory_seek) {
    if (options_.basket_bytes == 0) fail("basket size must be positive");
    options_.compression.check();
  }

  const std::string& name() const noexcept { return name_; }
  const std::string& title() const noexcept { return title_; }

  template <class T>
  TreeWriter& add_branch(const std::string& name) {
    Branch& branch = declare(name, Kind::fixed, detail::value_type_of<T>());
    (void)branch;
    return *this;
  }

  template <class T>
  TreeWriter& add_array_branch(const std::string& name, std::int32_t size) {
    if (size < 1) fail("branch \"" + name + "\": array size must be at least 1");
    Branch& branch = declare(name, Kind::fixed, detail::value_type_of<T>());
    branch.length = size;
    return *this;
  }

  /// A counted array; `counter` is the int32 branch holding the counts, created if it does not
  /// exist. It is filled by write_jagged on the counted branches, never directly.
  template <class T>
  TreeWriter& add_counted_branch(const std::string& name, const std::string& counter) {
    declare_counted(name, counter, detail::value_type_of<T>());
    return *this;
  }

 private:
  struct Branch;
  Branch& declare_counted(const std::string& name, const std::string& counter, ValueType type) {
    if (counter == name) fail("branch \"" + name + "\" cannot count itself");
    std::size_t counter_index = find_index(counter);
    if (counter_index == npos) {
      declare(counter, Kind::fixed, ValueType::Int32);
      counter_index = branches_.size() - 1;
      branches_[counter_index].is_counter = true;
    }
    Branch& count = branches_[counter_index];
    if (!count.is_counter) {
      if (count.kind != Kind::fixed || count.type != ValueType::Int32 || count.length != 1) {
        fail("branch \"" + counter + "\" cannot count \"" + name + "\": a counter is a single int32");
      }
      count.is_counter = true;
    }
    Branch& branch = declare(name, Kind::counted, type);
    branch.counter = counter_index;
    branches_[counter_index].dependents.push_back(branches_.size() - 1);
    return branch;
  }

  TreeWriter& add_packed(const std::string& name, ValueType type, const std::string& range, std::int32_t size) {
    if (size < 1) fail("branch \"" + name + "\": array size must be at least 1");
    const RealPacking packing = parse_packing(name, type, range);
    Branch& branch = declare(name, Kind::fixed, type);
    branch.length = size;
    branch.packing = packing;
    return *this;
  }

  /// Double32_t (type Float64) or Float16_t (Float32) packing from ROOT's range specification.
  RealPacking parse_packing(const std::string& name, ValueType type, const std::string& range) const {
    const bool well_formed = range.empty() || (range.front() == '[' && range.back() == ']' &&
                                               range.find(',') != std::string::npos &&
                                               range.find_first_of("[]", 1) == range.size() - 1);
    std::string problem = "expected \"\", \"[xmin,xmax]\" or \"[xmin,xmax,nbits]\"";
    RealPacking packing;
    if (!well_formed || !real_packing_from_title(range, type == ValueType::Float32, packing, problem)) {
      fail("branch \"" + name + "\": range \"" + range + "\" is not usable: " + problem);
    }
    packing.specification = range;
    return packing;
  }

 public:

  /// Double32_t leaves (filled with write<double> / write_jagged<double>) and Float16_t leaves
  /// (filled with float), packed as ROOT packs them (see RealPacking in column_layout.hpp).
  /// `range` is ROOT's specification, as in a leaf list "x/d[0,100,16]": "" (Double32_t: stored
  /// as float; Float16_t: 12-bit mantissa), "[xmin,xmax]" (32 bits), "[xmin,xmax,nbits]" or
  /// "[0,0,nbits]" (nbits < 15: float with an nbits mantissa). `size` > 1 makes a fixed array.
  TreeWriter& add_double32_branch(const std::string& name, const std::string& range = "", std::int32_t size = 1) {
    return add_packed(name, ValueType::Float64, range, size);
  }
  TreeWriter& add_float16_branch(const std::string& name, const std::string& range = "", std::int32_t size = 1) {
    return add_packed(name, ValueType::Float32, range, size);
  }
  /// Counted arrays of Double32_t / Float16_t (see add_counted_branch).
  TreeWriter& add_counted_double32_branch(const std::string& name, const std::string& counter,
                                          const std::string& range = "") {
    const RealPacking packing = parse_packing(name, ValueType::Float64, range);
    declare_counted(name, counter, ValueType::Float64).packing = packing;
    return *this;
  }
  TreeWriter& add_counted_float16_branch(const std::string& name, const std::string& counter,
                                         const std::string& range = "") {
    const RealPacking packing = parse_packing(name, ValueType::Float32, range);
    declare_counted(name, counter, ValueType::Float32).packing = packing;
    return *this;
  }

  template <class T>
  TreeWriter& add_vector_branch(const std::string& name) {
    declare(name, Kind::vector, detail::value_type_of<T>());
    return *this;
  }

  template <class T>
  TreeWriter& add_nested_vector_branch(const std::string& name) {
    declare(name, Kind::nested_vector, detail::value_type_of<T>());
    return *this;
  }

  TreeWriter& add_string_branch(const std::string& name) {
    declare(name, Kind::string, ValueType::String);
    return *this;
  }

  /// Appends entries to a scalar or fixed-array branch: values.size() / n entries.
  template <class T>
  void write(std::string_view name, std::span<const T> values) {
    Branch& branch = writable(name, detail::value_type_of<T>());
    if (branch.kind != Kind::fixed) {
      fail("branch \"" + branch.name + "\" has variable-size entries; fill it with " + filler(branch.kind));
    }
    if (branch.is_counter) {
      fail("branch \"" + branch.name + "\" counts other branches; it is filled by write_jagged on them");
    }
    const std::size_t per_entry = static_cast<std::size_t>(branch.length);
    if (values.size() % per_entry != 0) {
      fail("branch \"" + branch.name + "\" holds " + std::to_string(per_entry) + " values per entry, but " +
           std::to_string(values.size()) + " values were given");
    }
    append_fixed(branch, values);
  }
  template <class T>
  void write(std::string_view name, const std::vector<T>& values) {
    if constexpr (std::is_same_v<T, bool>) {
      const std::unique_ptr<bool[]> copy(new bool[values.size()]);
      std::copy(values.begin(), values.end(), copy.get());
      write<bool>(name, std::span<const bool>(copy.get(), values.size()));
    } else {
      write<T>(name, std::span<const T>(values));
    }
  }

  /// Appends offsets.size() - 1 entries to a counted or vector branch: entry i holds
  /// values[offsets[i] .. offsets[i + 1]).
  template <class T>
  void write_jagged(std::string_view name, std::span<const T> values, std::span<const std::int64_t> offsets) {
    Branch& branch = writable(name, detail::value_type_of<T>());
    if (branch.kind != Kind::counted && branch.kind != Kind::vector) {
      fail("branch \"" + branch.name + "\" is not a counted array or a vector; fill it with " + filler(branch.kind));
    }
    check_offsets(branch, values.size(), offsets);
    const std::size_t entries = offsets.size() - 1;
    if (branch.kind == Kind::counted) fill_counter(branch, offsets);
    if (!branch.packing.packed()) return append_variable(branch, values.data(), offsets);
    for (std::size_t e = 0; e < entries; ++e) {
      const std::size_t count = static_cast<std::size_t>(offsets[e + 1] - offsets[e]);
      const T* first = values.data() + offsets[e];
      branch.starts.push_back(static_cast<std::int32_t>(branch.data.size()));
      if (branch.kind == Kind::vector) {
        // std::vector streamed alone: byte count, class version, size, then the values.
        const std::size_t bytes = 2 + 4 + count * sizeof(T);
        if (bytes >= kByteCountMask) fail("branch \"" + branch.name + "\": entry too large");
        append_collection_header(branch.data, bytes, count);
      }
      append_values(branch, first, count);
      end_variable_entry(branch);
    }
  }
  template <class T>
  void write_jagged(std::string_view name, const std::vector<T>& values, const std::vector<std::int64_t>& offsets) {
    if constexpr (std::is_same_v<T, bool>) {
      const std::unique_ptr<bool[]> copy(new bool[values.size()]);
      std::copy(values.begin(), values.end(), copy.get());
      write_jagged<bool>(name, std::span<const bool>(copy.get(), values.size()), offsets);
    } else {
      write_jagged<T>(name, std::span<const T>(values), std::span<const std::int64_t>(offsets));
    }
  }
  template <class T>
  void write_jagged(std::string_view name, const JaggedArray<T>& column) {
    write_jagged<T>(name, column.values, column.offsets);
  }

  /// Appends offsets.size() - 1 entries to a std::vector<std::vector<T>> branch.
  template <class T>
  void write_nested(std::string_view name, std::span<const T> values, std::span<const std::int64_t> inner_offsets,
                    std::span<const std::int64_t> offsets) {
    Branch& branch = writable(name, detail::value_type_of<T>());
    if (branch.kind != Kind::nested_vector) fail("branch \"" + branch.name + "\" is not a vector of vectors");
    check_offsets(branch, values.size(), inner_offsets);
    check_offsets(branch, inner_offsets.size() - 1, offsets);
    for (std::size_t e = 0; e + 1 < offsets.size(); ++e) {
      // The outer vector streamed alone (byte count, version, size), then per inner vector its
      // size and values.
      std::size_t bytes = 2 + 4;
      for (std::int64_t j = offsets[e]; j < offsets[e + 1]; ++j) {
        bytes += 4 + static_cast<std::size_t>(inner_offsets[j + 1] - inner_offsets[j]) * sizeof(T);
      }
      if (bytes >= kByteCountMask) fail("branch \"" + branch.name + "\": entry too large");
      branch.starts.push_back(static_cast<std::int32_t>(branch.data.size()));
      append_collection_header(branch.data, bytes, static_cast<std::size_t>(offsets[e + 1] - offsets[e]));
      for (std::int64_t j = offsets[e]; j < offsets[e + 1]; ++j) {
        const std::size_t count = static_cast<std::size_t>(inner_offsets[j + 1] - inner_offsets[j]);
        const std::int32_t size = static_cast<std::int32_t>(count);
        detail::append_big_endian(branch.data, &size, 1);
        detail::append_big_endian(branch.data, values.data() + inner_offsets[j], count);
      }
      end_variable_entry(branch);
    }
  }
  template <class T>
  void write_nested(std::string_view name, const std::vector<T>& values, const std::vector<std::int64_t>& inner_offsets,
                    const std::vector<std::int64_t>& offsets) {
    if constexpr (std::is_same_v<T, bool>) {
      const std::unique_ptr<bool[]> copy(new bool[values.size()]);
      std::copy(values.begin(), values.end(), copy.get());
      write_nested<bool>(name, std::span<const bool>(copy.get(), values.size()), inner_offsets, offsets);
    } else {
      write_nested<T>(name, std::span<const T>(values), std::span<const std::int64_t>(inner_offsets),
                      std::span<const std::int64_t>(offsets));
    }
  }
  template <class T>
  void write_nested(std::string_view name, const NestedJaggedArray<T>& column) {
    write_nested<T>(name, column.values, column.inner_offsets, column.offsets);
  }

  /// Appends one entry per string to a string branch.
  void write_strings(std::string_view name, std::span<const std::string> strings) {
    Branch& branch = writable(name, ValueType::String);
    for (const std::string& text : strings) {
      if (text.find('\0') != std::string::npos) {
        fail("branch \"" + branch.name + "\": a char* leaf cannot hold a NUL character");
      }
      if (text.size() > 0x3FFFFFFF) fail("branch \"" + branch.name + "\": string too long");
      branch.starts.push_back(static_cast<std::int32_t>(branch.data.size()));
      ByteWriter encoded;
      encoded.tstring(text);
      branch.data.insert(branch.data.end(), encoded.bytes().begin(), encoded.bytes().end());
      branch.maximum = std::max<std::int64_t>(branch.maximum, static_cast<std::int64_t>(text.size()) + 1);
      end_variable_entry(branch);
    }
  }
  void write_strings(std::string_view name, const std::vector<std::string>& strings) {
    write_strings(name, std::span<const std::string>(strings));
  }

  /// Entries written so far to a branch.
  std::int64_t entries(std::string_view name) const {
    const std::size_t index = find_index(name);
    if (index == npos) fail("no branch \"" + std::string(name) + "\"");
    return branches_[index].entries;
  }

  /// Writes the last baskets and the TTree record; returns the key, for the directory's key list.
  /// Called by FileWriter::close().
  KeyHeader finish() {
    if (finished_) fail("tree written twice");
    finished_ = true;
    std::int64_t entries = branches_.empty() ? 0 : branches_.front().entries;
    for (const Branch& branch : branches_) {
      if (branch.entries != entries) {
        fail("branch \"" + branches_.front().name + "\" has " + std::to_string(entries) + " entries but \"" +
             branch.name + "\" has " + std::to_string(branch.entries) + "; every branch needs the same number");
      }
    }
    for (Branch& branch : branches_) {
      if (branch.basket_entries > 0) flush(branch);
    }
    KeyHeader key;
    key.class_name = "TTree";
    key.name = name_;
    key.title = title_;
    key.seek_parent = directory_seek_;
    const std::int16_t key_bytes = key_header_size(key.class_name, key.name, key.title);
    const std::vector<std::uint8_t> record = serialize(entries, key_bytes);
    return sink_->write_key(key, record, options_.compression, "tree \"" + name_ + "\"");
  }

  /// The class descriptions this tree's records need.
  void add_class_descriptions(std::vector<ClassDescription>& classes, std::set<std::string>& names) const {
    const auto add = [&](const std::string& name) {
      if (names.insert(name).second) classes.push_back(writer_class_description(name));
    };
    for (const char* name : {"TObject", "TNamed", "TAttLine", "TAttFill", "TAttMarker", "ROOT::TIOFeatures", "TTree",
                             "TBranch", "TLeaf"}) {
      add(name);
    }
    for (const Branch& branch : branches_) {
      if (branch.kind == Kind::vector || branch.kind == Kind::nested_vector) {
        add("TBranchElement");
        add("TLeafElement");
        const std::string vector = vector_class_name(branch.type);
        if (names.insert(vector).second) {
          classes.push_back(vector_class_description(vector, detail::basic_type_names(branch.type).code));
        }
        const std::string nested = element_class_name(branch);
        if (branch.kind == Kind::nested_vector && names.insert(nested).second) {
          classes.push_back(vector_class_description(nested, 61));  // elements are objects (kObject)
        }
      } else {
        add(packed_leaf_class(branch) ? packed_leaf_class(branch) : detail::basic_type_names(branch.type).leaf_class);
      }
    }
  }

 private:
  enum class Kind { fixed, counted, vector, nested_vector, string };

  struct BasketLocation {
    std::int64_t first_entry = 0;
    std::int64_t seek = 0;
    std::int32_t bytes = 0;
  };

  struct Branch {
    std::string name;
    Kind kind = Kind::fixed;
    ValueType type = ValueType::Int32;
    std::int32_t length = 1;  // values per entry of fixed arrays
    std::size_t counter = static_cast<std::size_t>(-1);
    bool is_counter = false;
    std::vector<std::size_t> dependents;
    // The basket being filled.
    std::vector<std::uint8_t> data;
    std::vector<std::int32_t> starts;  // entry starts in `data` (variable-size entries)
    std::int64_t basket_entries = 0;
    // Written so far.
    std::int64_t entries = 0;
    std::vector<BasketLocation> baskets;
    std::int64_t total_bytes = 0;
    std::int64_t zipped_bytes = 0;
    std::int64_t maximum = 0;  // largest count (counters) or string length + 1 (char* leaves)
    RealPacking packing;       // Double32_t / Float16_t leaves
    // Counters: the counts of entries [recent_first, entries) that some counted branch has not
    // written yet, to check that the branches sharing the counter agree.
    std::deque<std::int32_t> recent_counts;
    std::int64_t recent_first = 0;
  };

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  [[noreturn]] void fail(const std::string& problem) const {
    throw FileError(sink_->destination().string(), "tree \"" + name_ + "\": " + problem);
  }

  std::size_t find_index(std::string_view name) const {
    for (std::size_t i = 0; i < branches_.size(); ++i) {
      if (branches_[i].name == name) return i;
    }
    return npos;
  }

  Branch& declare(const std::string& name, Kind kind, ValueType type) {
    if (finished_) fail("cannot add branch \"" + name + "\" after the tree was written");
    if (name.empty()) fail("a branch needs a name");
    if (name.find_first_of("/[]") != std::string::npos) {
      fail("branch name \"" + name + "\" contains a character ROOT reserves for leaf lists ('/', '[', ']')");
    }
    if (find_index(name) != npos) fail("branch \"" + name + "\" declared twice");
    for (const Branch& branch : branches_) {
      if (branch.entries > 0) fail("declare every branch before writing entries (\"" + name + "\" comes late)");
    }
    Branch branch;
    branch.name = name;
    branch.kind = kind;
    branch.type = type;
    branches_.push_back(std::move(branch));
    return branches_.back();
  }

  Branch& writable(std::string_view name, ValueType type) {
    if (finished_) fail("the tree was already written");
    const std::size_t index = find_index(name);
    if (index == npos) fail("no branch \"" + std::string(name) + "\"");
    Branch& branch = branches_[index];
    if (branch.type != type) {
      fail("branch \"" + branch.name + "\" holds " + value_type_name(branch.type) + ", not " + value_type_name(type));
    }
    return branch;
  }

  void check_offsets(const Branch& branch, std::size_t value_count, std::span<const std::int64_t> offsets) const {
    if (offsets.empty()) fail("branch \"" + branch.name + "\": offsets need at least one element");
    for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
      if (offsets[i] < 0 || offsets[i + 1] < offsets[i]) {
        fail("branch \"" + branch.name + "\": offsets must be non-negative and non-decreasing (at " +
             std::to_string(i) + ")");
      }
      if (offsets[i + 1] - offsets[i] > 0x3FFFFFFF) fail("branch \"" + branch.name + "\": entry too large");
    }
    if (offsets.back() < 0 || static_cast<std::uint64_t>(offsets.back()) > value_count) {
      fail("branch \"" + branch.name + "\": offsets end at " + std::to_string(offsets.back()) + " but " +
           std::to_string(value_count) + " values were given");
    }
  }

  /// Appends the counts of a counted branch's new entries to its counter, or checks them against
  /// the counts another branch already wrote there.
  void fill_counter(Branch& branch, std::span<const std::int64_t> offsets) {
    Branch& counter = branches_[branch.counter];
    const std::int64_t first = branch.entries;
    std::vector<std::int32_t> fresh;
    for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
      const std::int64_t entry = first + static_cast<std::int64_t>(i);
      const std::int32_t count = static_cast<std::int32_t>(offsets[i + 1] - offsets[i]);
      if (entry < counter.entries) {
        const std::int32_t known = counter.recent_counts[static_cast<std::size_t>(entry - counter.recent_first)];
        if (known != count) {
          fail("branch \"" + branch.name + "\": entry " + std::to_string(entry) + " has " + std::to_string(count) +
               " values but its counter \"" + counter.name + "\" already says " + std::to_string(known));
        }
      } else {
        fresh.push_back(count);
      }
    }
    for (std::int32_t count : fresh) {
      counter.recent_counts.push_back(count);
      counter.maximum = std::max<std::int64_t>(counter.maximum, count);
    }
    append_fixed(counter, std::span<const std::int32_t>(fresh));
    // Forget the counts every dependent has passed (this branch's entries grow after this call).
    std::int64_t oldest = first + static_cast<std::int64_t>(offsets.size() - 1);
    for (std::size_t dependent : counter.dependents) {
      if (&branches_[dependent] != &branch) oldest = std::min(oldest, branches_[dependent].entries);
    }
    while (counter.recent_first < oldest && !counter.recent_counts.empty()) {
      counter.recent_counts.pop_front();
      ++counter.recent_first;
    }
  }

  /// Appends whole entries of a fixed-size branch, writing baskets as they fill.
  template <class T>
  void append_fixed(Branch& branch, std::span<const T> values) {
    const std::size_t per_entry = static_cast<std::size_t>(branch.length);
    const std::size_t entries = values.size() / per_entry;
    const std::size_t entry_bytes = per_entry * (branch.packing.packed() ? branch.packing.stored_size() : sizeof(T));
    for (std::size_t e = 0; e < entries;) {
      // As many whole entries as fit before the basket reaches its size, at least one.
      const std::size_t room = branch.data.size() < options_.basket_bytes ? options_.basket_bytes - branch.data.size() : 0;
      const std::size_t take = std::min(entries - e, std::max<std::size_t>(1, (room + entry_bytes - 1) / entry_bytes));
      append_values(branch, values.data() + e * per_entry, take * per_entry);
      branch.basket_entries += static_cast<std::int64_t>(take);
      branch.entries += static_cast<std::int64_t>(take);
      e += take;
      if (branch.data.size() >= options_.basket_bytes) flush(branch);
    }
  }

  /// Appends the entries of a counted or vector branch of basic values, a basket's worth at a
  /// time: the entries up to the one that fills the basket are sized first, so the buffer grows
  /// once per run instead of once per entry (the same baskets as appending entry by entry).
  template <class T>
  void append_variable(Branch& branch, const T* values, std::span<const std::int64_t> offsets) {
    const std::size_t entries = offsets.size() - 1;
    const bool vector = branch.kind == Kind::vector;
    const std::size_t header = vector ? 10 : 0;
    for (std::size_t e = 0; e < entries;) {
      std::size_t bytes = 0;
      std::size_t end = e;
      while (end < entries) {
        const std::size_t count = static_cast<std::size_t>(offsets[end + 1] - offsets[end]);
        if (vector && 2 + 4 + count * sizeof(T) >= kByteCountMask) fail("branch \"" + branch.name + "\": entry too large");
        bytes += header + count * sizeof(T);
        ++end;
        if (branch.data.size() + bytes >= options_.basket_bytes) break;
      }
      if (branch.data.size() + bytes > detail::max_basket_record) {
        fail("branch \"" + branch.name + "\": one basket would exceed ROOT's 1 GiB buffer limit");
      }
      std::size_t at = branch.data.size();
      branch.data.resize(at + bytes);
      std::uint8_t* out = branch.data.data();
      for (std::size_t k = e; k < end; ++k) {
        const std::size_t count = static_cast<std::size_t>(offsets[k + 1] - offsets[k]);
        branch.starts.push_back(static_cast<std::int32_t>(at));
        if (vector) {
          // std::vector streamed alone: byte count, class version, size, then the values.
          store_big_endian(out + at, static_cast<std::uint32_t>(2 + 4 + count * sizeof(T)) | kByteCountMask);
          store_big_endian(out + at + 4, static_cast<std::int16_t>(9));
          store_big_endian(out + at + 6, static_cast<std::int32_t>(count));
          at += header;
        }
        detail::store_big_endian_run(out + at, values + offsets[k], count);
        at += count * sizeof(T);
      }
      branch.basket_entries += static_cast<std::int64_t>(end - e);
      branch.entries += static_cast<std::int64_t>(end - e);
      e = end;
      if (branch.data.size() >= options_.basket_bytes) flush(branch);
    }
  }

  /// A std::vector streamed alone: byte count (of what follows it), class version 9, size.
  static void append_collection_header(std::vector<std::uint8_t>& out, std::size_t bytes, std::size_t count) {
    const std::size_t at = out.size();
    out.resize(at + 10);
    store_big_endian(out.data() + at, static_cast<std::uint32_t>(bytes) | kByteCountMask);
    store_big_endian(out.data() + at + 4, static_cast<std::int16_t>(9));
    store_big_endian(out.data() + at + 6, static_cast<std::int32_t>(count));
  }

  /// Appends values in the branch's stored form (big-endian, or packed for Double32_t / Float16_t).
  template <class T>
  void append_values(Branch& branch, const T* values, std::size_t count) {
    if (!branch.packing.packed()) return detail::append_big_endian(branch.data, values, count);
    if constexpr (std::is_floating_point_v<T>) {
      if (!detail::append_packed(branch.data, values, count, branch.packing)) {
        fail("branch \"" + branch.name + "\": NaN cannot be stored in a " +
             (branch.type == ValueType::Float64 ? "Double32_t" : "Float16_t") + " with the range " +
             branch.packing.specification);
      }
    }
  }

  void end_variable_entry(Branch& branch) {
    if (branch.data.size() > detail::max_basket_record) {
      fail("branch \"" + branch.name + "\": one basket would exceed ROOT's 1 GiB buffer limit");
    }
    ++branch.basket_entries;
    ++branch.entries;
    if (branch.data.size() >= options_.basket_bytes) flush(branch);
  }

  /// Compresses the basket being filled and writes it to the file.
  void flush(Branch& branch) {
    constexpr std::size_t basket_fields = 2 + 4 + 4 + 4 + 4 + 1;
    const std::int16_t key_bytes = key_header_size("TBasket", branch.name, name_, basket_fields);
    const bool variable = branch.kind != Kind::fixed;
    // The record is the basket's own buffer (its capacity is kept for the next basket).
    std::vector<std::uint8_t>& record = branch.data;
    const std::int32_t last = static_cast<std::int32_t>(key_bytes + record.size());
    if (variable) {
      // Entry offsets after the data, counted from the start of the key, plus ROOT's spare slot.
      const std::int32_t count = static_cast<std::int32_t>(branch.starts.size() + 1);
      detail::append_big_endian(record, &count, 1);
      for (std::int32_t& start : branch.starts) start += key_bytes;
      detail::append_big_endian(record, branch.starts.data(), branch.starts.size());
      const std::int32_t spare = 0;
      detail::append_big_endian(record, &spare, 1);
    }
    ByteWriter fields;
    fields.put<std::int16_t>(3);  // TBasket class version
    fields.put<std::int32_t>(static_cast<std::int32_t>(std::min<std::size_t>(options_.basket_bytes, 0x7FFFFFFF)));
    fields.put<std::int32_t>(variable ? detail::default_entry_offset_length : entry_bytes(branch));  // fNevBufSize
    fields.put<std::int32_t>(static_cast<std::int32_t>(branch.basket_entries));
    fields.put<std::int32_t>(last);
    fields.put<std::uint8_t>(0);
    KeyHeader key;
    key.class_name = "TBasket";
    key.name = branch.name;
    key.title = name_;
    key.seek_parent = directory_seek_;
    const KeyHeader written = sink_->write_key(key, record, options_.compression,
                                               "basket of branch \"" + branch.name + "\" in tree \"" + name_ + "\"",
                                               fields.bytes());
    branch.baskets.push_back({branch.entries - branch.basket_entries, written.seek_key, written.total_bytes});
    branch.total_bytes += written.object_bytes + written.key_bytes;
    branch.zipped_bytes += written.total_bytes;
    branch.data.clear();
    branch.starts.clear();
    branch.basket_entries = 0;
  }

  /// TLeafD32 / TLeafF16 for Double32_t / Float16_t branches, else nullptr.
  static const char* packed_leaf_class(const Branch& branch) {
    if (!branch.packing.packed()) return nullptr;
    return branch.type == ValueType::Float64 ? "TLeafD32" : "TLeafF16";
  }

  /// The leaf-list type letter: 'd' Double32_t, 'f' Float16_t, else the basic type's.
  static std::string leaf_letter(const Branch& branch) {
    if (branch.packing.packed()) return branch.type == ValueType::Float64 ? "d" : "f";
    return std::string(1, detail::basic_type_names(branch.type).letter);
  }

  static const char* filler(Kind kind) {
    switch (kind) {
      case Kind::fixed: return "write";
      case Kind::counted: case Kind::vector: return "write_jagged";
      case Kind::nested_vector: return "write_nested";
      case Kind::string: return "write_strings";
    }
    return "write";
  }

  static std::int32_t entry_bytes(const Branch& branch) {
    const std::size_t size = branch.packing.packed() ? branch.packing.stored_size() : value_size(branch.type);
    return static_cast<std::int32_t>(branch.length * static_cast<std::int32_t>(size));
  }

  static std::string vector_class_name(ValueType type) {
    return std::string("vector<") + detail::basic_type_names(type).cpp + ">";
  }

  /// The class of a TBranchElement, spelled as ROOT normalizes it ("vector<vector<float> >").
  static std::string element_class_name(const Branch& branch) {
    const std::string inner = vector_class_name(branch.type);
    return branch.kind == Kind::nested_vector ? "vector<" + inner + " >" : inner;
  }

  // ---- the TTree record -------------------------------------------------------------------

  static void begin_object_array(ByteWriter& out, std::size_t& header, std::int32_t count) {
    header = out.begin_versioned(3);  // TObjArray
    out.tobject(0x02000000);
    out.tstring("");
    out.put<std::int32_t>(count);
    out.put<std::int32_t>(0);  // lower bound
  }

  static void write_io_features(ByteWriter& out) {
    const std::size_t features = out.begin_versioned(1);  // ROOT::TIOFeatures
    out.put<std::uint8_t>(0);
    out.end_versioned(features);
  }

  /// Writes the leaf object of `branch`; returns its tag for fLeaves and fLeafCount references.
  std::uint32_t write_leaf(ByteWriter& out, const Branch& branch, const std::vector<std::uint32_t>& leaf_tags) const {
    const detail::BasicTypeNames names = detail::basic_type_names(branch.type);
    const bool element = branch.kind == Kind::vector || branch.kind == Kind::nested_vector;
    const char* leaf_class = element ? "TLeafElement" : packed_leaf_class(branch) ? packed_leaf_class(branch) : names.leaf_class;
    const std::size_t object = out.begin_object(leaf_class);
    const std::size_t derived = out.begin_versioned(1);
    const std::size_t leaf = out.begin_versioned(2);  // TLeaf
    std::string title = branch.name;
    std::int32_t length = 1;
    std::int32_t length_type = static_cast<std::int32_t>(value_size(branch.type));
    if (branch.kind == Kind::fixed && branch.length > 1) {
      title += "[" + std::to_string(branch.length) + "]";
      length = branch.length;
    }
    if (branch.kind == Kind::counted) title += "[" + branches_[branch.counter].name + "]";
    // ROOT titles a Double32_t / Float16_t leaf with its type and range ("d[0,1,20]"): readers
    // take the range from there.
    if (branch.packing.packed()) title = leaf_letter(branch) + branch.packing.specification;
    if (branch.kind == Kind::string) length = static_cast<std::int32_t>(std::max<std::int64_t>(1, branch.maximum));
    if (element) length_type = 0;
    out.tnamed(branch.name, title);
    out.put<std::int32_t>(length);
    out.put<std::int32_t>(length_type);
    out.put<std::int32_t>(0);                                     // fOffset
    out.put<std::uint8_t>(branch.is_counter ? 1 : 0);             // fIsRange: counters are ranges
    out.put<std::uint8_t>(detail::is_unsigned_type(branch.type) ? 1 : 0);
    if (branch.kind == Kind::counted) {
      out.object_reference(leaf_tags[branch.counter]);  // the counter's leaf, written before
    } else {
      out.null_pointer();
    }
    out.end_versioned(leaf);
    if (element) {
      out.put<std::int32_t>(-1);  // fID
      out.put<std::int32_t>(-1);  // fType
    } else if (branch.packing.packed()) {
      // fMinimum, fMaximum: a Double32_t without range (a float) or a Float16_t with a 12-bit
      // mantissa (3 bytes); zero either way.
      const std::size_t bytes = branch.type == ValueType::Float64 ? 4 : 3;
      for (std::size_t i = 0; i < 2 * bytes; ++i) out.put<std::uint8_t>(0);
    } else {
      // fMinimum, fMaximum in the leaf's own type: the largest count for counters, the longest
      // string for char* leaves (ROOT sizes its read buffers with them), else 0.
      const std::int64_t maximum = branch.is_counter || branch.kind == Kind::string ? branch.maximum : 0;
      switch (branch.kind == Kind::string ? ValueType::Int32 : branch.type) {
        case ValueType::Bool: case ValueType::Int8: case ValueType::UInt8:
          out.put<std::uint8_t>(0); out.put<std::uint8_t>(static_cast<std::uint8_t>(maximum)); break;
        case ValueType::Int16: case ValueType::UInt16:
          out.put<std::int16_t>(0); out.put<std::int16_t>(static_cast<std::int16_t>(maximum)); break;
        case ValueType::Int32: case ValueType::UInt32: case ValueType::String:
          out.put<std::int32_t>(0); out.put<std::int32_t>(static_cast<std::int32_t>(maximum)); break;
        case ValueType::Int64: case ValueType::UInt64:
          out.put<std::int64_t>(0); out.put<std::int64_t>(maximum); break;
        case ValueType::Float32: out.put<float>(0); out.put<float>(0); break;
        case ValueType::Float64: out.put<double>(0); out.put<double>(0); break;
      }
    }
    out.end_versioned(derived);
    out.end_object(object);
    return out.object_tag(object);
  }

  void write_tbranch(ByteWriter& out, const Branch& branch, std::vector<std::uint32_t>& leaf_tags,
                     std::size_t index) const {
    const std::size_t header = out.begin_versioned(13);  // TBranch
    std::string title = branch.name;
    if (branch.kind != Kind::vector && branch.kind != Kind::nested_vector) {
      if (branch.kind == Kind::fixed && branch.length > 1) title += "[" + std::to_string(branch.length) + "]";
      if (branch.kind == Kind::counted) title += "[" + branches_[branch.counter].name + "]";
      title += "/" + leaf_letter(branch) + branch.packing.specification;
    }
    out.tnamed(branch.name, title);
    const std::size_t fill = out.begin_versioned(2);  // TAttFill
    out.put<std::int16_t>(0);
    out.put<std::int16_t>(1001);
    out.end_versioned(fill);
    const std::int32_t basket_count = static_cast<std::int32_t>(branch.baskets.size());
    const std::int32_t max_baskets = std::max<std::int32_t>(10, basket_count + 1);
    out.put<std::int32_t>(options_.compression.code());                                         // fCompress
    out.put<std::int32_t>(static_cast<std::int32_t>(std::min<std::size_t>(options_.basket_bytes, 0x7FFFFFFF)));
    out.put<std::int32_t>(branch.kind == Kind::fixed ? 0 : detail::default_entry_offset_length);  // fEntryOffsetLen
    out.put<std::int32_t>(basket_count);                                                        // fWriteBasket
    out.put<std::int64_t>(branch.entries);                                                      // fEntryNumber
    write_io_features(out);
    out.put<std::int32_t>(0);  // fOffset
    out.put<std::int32_t>(max_baskets);
    out.put<std::int32_t>(branch.kind == Kind::vector || branch.kind == Kind::nested_vector ? 99 : 0);  // fSplitLevel (ROOT's default for objects)
    out.put<std::int64_t>(branch.entries);
    out.put<std::int64_t>(0);  // fFirstEntry
    out.put<std::int64_t>(branch.total_bytes);
    out.put<std::int64_t>(branch.zipped_bytes);
    std::size_t array = 0;
    begin_object_array(out, array, 0);  // fBranches
    out.end_versioned(array);
    begin_object_array(out, array, 1);  // fLeaves
    leaf_tags[index] = write_leaf(out, branch, leaf_tags);
    out.end_versioned(array);
    // fBaskets: one empty slot per basket-table entry (all baskets are on disk, none in memory).
    begin_object_array(out, array, max_baskets);
    for (std::int32_t i = 0; i < max_baskets; ++i) out.null_pointer();
    out.end_versioned(array);
    out.put<std::uint8_t>(1);  // fBasketBytes[fMaxBaskets]
    for (std::int32_t i = 0; i < max_baskets; ++i) out.put<std::int32_t>(i < basket_count ? branch.baskets[i].bytes : 0);
    out.put<std::uint8_t>(1);  // fBasketEntry[fMaxBaskets]: first entries, then the entry count
    for (std::int32_t i = 0; i < max_baskets; ++i) {
      out.put<std::int64_t>(i < basket_count ? branch.baskets[i].first_entry : i == basket_count ? branch.entries : 0);
    }
    out.put<std::uint8_t>(1);  // fBasketSeek[fMaxBaskets]
    for (std::int32_t i = 0; i < max_baskets; ++i) out.put<std::int64_t>(i < basket_count ? branch.baskets[i].seek : 0);
    out.tstring("");  // fFileName: baskets are in this file
    out.end_versioned(header);
  }

  void write_branch(ByteWriter& out, const Branch& branch, std::vector<std::uint32_t>& leaf_tags,
                    std::size_t index) const {
    if (branch.kind != Kind::vector && branch.kind != Kind::nested_vector) {
      const std::size_t object = out.begin_object("TBranch");
      write_tbranch(out, branch, leaf_tags, index);
      out.end_object(object);
      return;
    }
    const std::string class_name = element_class_name(branch);
    const std::size_t object = out.begin_object("TBranchElement");
    const std::size_t header = out.begin_versioned(10);
    write_tbranch(out, branch, leaf_tags, index);
    out.tstring(class_name);  // fClassName
    out.tstring("");          // fParentName
    out.tstring("");          // fClonesName
    out.put<std::uint32_t>(class_name_checksum(class_name));
    out.put<std::int16_t>(6);   // fClassVersion of std::vector
    out.put<std::int32_t>(-1);  // fID: the whole object
    out.put<std::int32_t>(0);   // fType: top-level branch
    out.put<std::int32_t>(-1);  // fStreamerType
    out.put<std::int32_t>(0);   // fMaximum
    out.null_pointer();         // fBranchCount
    out.null_pointer();         // fBranchCount2
    out.end_versioned(header);
    out.end_object(object);
  }

  std::vector<std::uint8_t> serialize(std::int64_t entries, std::int16_t key_bytes) const {
    ByteWriter out(key_bytes);
    std::int64_t total_bytes = 0;
    std::int64_t zipped_bytes = 0;
    for (const Branch& branch : branches_) {
      total_bytes += branch.total_bytes;
      zipped_bytes += branch.zipped_bytes;
    }
    const std::size_t tree = out.begin_versioned(20);
    out.tnamed(name_, title_);
    const std::size_t line = out.begin_versioned(2);  // TAttLine: ROOT's defaults for trees
    out.put<std::int16_t>(602);
    out.put<std::int16_t>(1);
    out.put<std::int16_t>(1);
    out.end_versioned(line);
    const std::size_t fill = out.begin_versioned(2);  // TAttFill
    out.put<std::int16_t>(0);
    out.put<std::int16_t>(1001);
    out.end_versioned(fill);
    const std::size_t marker = out.begin_versioned(2);  // TAttMarker
    out.put<std::int16_t>(1);
    out.put<std::int16_t>(1);
    out.put<float>(1.0f);
    out.end_versioned(marker);
    out.put<std::int64_t>(entries);
    out.put<std::int64_t>(total_bytes);
    out.put<std::int64_t>(zipped_bytes);
    out.put<std::int64_t>(0);  // fSavedBytes
    out.put<std::int64_t>(0);  // fFlushedBytes
    out.put<double>(1.0);      // fWeight
    out.put<std::int32_t>(0);  // fTimerInterval
    out.put<std::int32_t>(25);  // fScanField
    out.put<std::int32_t>(0);  // fUpdate
    out.put<std::int32_t>(detail::default_entry_offset_length);
    out.put<std::int32_t>(0);  // fNClusterRange
    out.put<std::int64_t>(1000000000000);  // fMaxEntries
    out.put<std::int64_t>(1000000000000);  // fMaxEntryLoop
    out.put<std::int64_t>(0);              // fMaxVirtualSize
    out.put<std::int64_t>(-300000000);     // fAutoSave
    out.put<std::int64_t>(-30000000);      // fAutoFlush
    out.put<std::int64_t>(1000000);        // fEstimate
    out.put<std::uint8_t>(0);  // fClusterRangeEnd[fNClusterRange = 0]
    out.put<std::uint8_t>(0);  // fClusterSize[fNClusterRange = 0]
    write_io_features(out);
    std::vector<std::uint32_t> leaf_tags(branches_.size(), 0);
    std::size_t array = 0;
    begin_object_array(out, array, static_cast<std::int32_t>(branches_.size()));  // fBranches
    for (std::size_t i = 0; i < branches_.size(); ++i) write_branch(out, branches_[i], leaf_tags, i);
    out.end_versioned(array);
    begin_object_array(out, array, static_cast<std::int32_t>(branches_.size()));  // fLeaves: references
    for (std::uint32_t tag : leaf_tags) out.object_reference(tag);
    out.end_versioned(array);
    out.null_pointer();        // fAliases
    out.put<std::int32_t>(0);  // fIndexValues (empty TArrayD)
    out.put<std::int32_t>(0);  // fIndex (empty TArrayI)
    out.null_pointer();        // fTreeIndex
    out.null_pointer();        // fFriends
    out.null_pointer();        // fUserInfo
    out.null_pointer();        // fBranchRef
    out.end_versioned(tree);
    return out.take();
  }

  FileSink* sink_;
  WriteOptions options_;
  std::string name_;
  std::string title_;
  std::int64_t directory_seek_;
  std::vector<Branch> branches_;
  bool finished_ = false;
};

}  // namespace deepjet::root
