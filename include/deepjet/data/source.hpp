// deepjet/data/source.hpp: where jets come from, whatever the file format.
//
// A Source is one input file's table of entries (jets): ROOT TTrees through deepjet's own ROOT
// reader, or deepjet source tables in HDF5 (data/source_table.hpp). Both are read by columns over
// entry ranges, so a converter streams any file in bounded memory:
//   entries()                      number of entries
//   has_branch(name)
//   read_flat(name, first, last)   one value per entry, as float
//   read_jagged(name, first, last) values + offsets (offsets relative to `first`, starting at 0)
//   read_flat_typed(name, first, last)  one value per entry in its stored type (to copy it unchanged,
//                                  as prediction trees copy truth and spectators); sources that do
//                                  not know their types give floats
// open_source(path, table) picks the reader from the file's first bytes. Every error is a
// deepjet::FileError naming the file (and the branch).
// Threads: a Source is used by one thread at a time (the ROOT reader keeps the last basket of each
// branch); parallel code opens one Source per thread, as convert_sources does.
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/io/hdf5/hdf5.hpp"
#include "deepjet/io/root.hpp"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace deepjet::data {

/// Values of a variable-length column: entry i is values[offsets[i] .. offsets[i + 1]).
using JaggedColumn = root::JaggedArray<float>;

/// Calls f(std::type_identity<T>{}) with T the C++ type of a numeric ROOT value type (bool for Bool).
template <class F>
decltype(auto) with_value_type(root::ValueType type, F&& f) {
  using V = root::ValueType;
  switch (type) {
    case V::Bool: return f(std::type_identity<bool>{});
    case V::Int8: return f(std::type_identity<std::int8_t>{});
    case V::UInt8: return f(std::type_identity<std::uint8_t>{});
    case V::Int16: return f(std::type_identity<std::int16_t>{});
    case V::UInt16: return f(std::type_identity<std::uint16_t>{});
    case V::Int32: return f(std::type_identity<std::int32_t>{});
    case V::UInt32: return f(std::type_identity<std::uint32_t>{});
    case V::Int64: return f(std::type_identity<std::int64_t>{});
    case V::UInt64: return f(std::type_identity<std::uint64_t>{});
    case V::Float32: return f(std::type_identity<float>{});
    case V::Float64: return f(std::type_identity<double>{});
    case V::String: break;
  }
  throw Error("deepjet::data: a string column has no numeric type");
}

/// One value per entry in the type the file stores (for copying a column unchanged).
/// Holds the values' bytes in native order; a bool is one byte, 0 or 1.
struct TypedColumn {
  root::ValueType type = root::ValueType::Float32;
  std::vector<std::uint8_t> bytes;

  std::size_t size() const { return bytes.size() / root::value_size(type); }

  template <class T>
  static TypedColumn of(root::ValueType type, const std::vector<T>& values) {
    TypedColumn column;
    column.type = type;
    column.bytes.resize(values.size() * sizeof(T));
    if constexpr (std::is_same_v<T, bool>) {
      for (std::size_t i = 0; i < values.size(); ++i) column.bytes[i] = values[i] ? 1 : 0;
    } else {
      if (!values.empty()) std::memcpy(column.bytes.data(), values.data(), column.bytes.size());
    }
    return column;
  }
  /// The values as T, which must be the column's own type (for bool, read the 0/1 bytes:
  /// std::vector<bool> has no contiguous storage).
  template <class T>
  std::vector<T> values() const {
    static_assert(!std::is_same_v<T, bool>, "TypedColumn::values<bool>: read the bytes (0/1)");
    std::vector<T> out(bytes.size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
    return out;
  }
  /// Keep the entries whose index is listed (ascending), in that order.
  void keep(const std::vector<std::size_t>& entries) {
    const std::size_t width = root::value_size(type);
    std::vector<std::uint8_t> kept(entries.size() * width);
    for (std::size_t k = 0; k < entries.size(); ++k)
      std::memcpy(kept.data() + k * width, bytes.data() + entries[k] * width, width);
    bytes = std::move(kept);
  }
};

class Source {
 public:
  virtual ~Source() = default;
  virtual const std::string& path() const = 0;
  virtual std::uint64_t entries() const = 0;
  virtual bool has_branch(const std::string& name) const = 0;
  virtual std::vector<float> read_flat(const std::string& name, std::uint64_t first, std::uint64_t last) const = 0;
  virtual JaggedColumn read_jagged(const std::string& name, std::uint64_t first, std::uint64_t last) const = 0;
  virtual TypedColumn read_flat_typed(const std::string& name, std::uint64_t first, std::uint64_t last) const {
    return TypedColumn::of(root::ValueType::Float32, read_flat(name, first, last));
  }
};

/// A TTree of a ROOT file ("dir/tree" for trees in directories).
class RootSource final : public Source {
 public:
  RootSource(const std::string& path, const std::string& tree) : file_(path), tree_(file_.tree(tree)) {}

  const std::string& path() const override { return file_.path(); }
  std::uint64_t entries() const override { return static_cast<std::uint64_t>(tree_.entries()); }
  bool has_branch(const std::string& name) const override { return tree_.has_branch(name); }
  std::vector<float> read_flat(const std::string& name, std::uint64_t first, std::uint64_t last) const override {
    return tree_.read<float>(name, static_cast<std::int64_t>(first), static_cast<std::int64_t>(last));
  }
  JaggedColumn read_jagged(const std::string& name, std::uint64_t first, std::uint64_t last) const override {
    return tree_.read_jagged<float>(name, static_cast<std::int64_t>(first), static_cast<std::int64_t>(last));
  }
  TypedColumn read_flat_typed(const std::string& name, std::uint64_t first, std::uint64_t last) const override {
    const root::ValueType type = tree_.branch(name).layout.type;
    if (type == root::ValueType::String) throw FileError(path(), "branch '" + name + "' holds strings, not numbers");
    return with_value_type(type, [&]<class T>(std::type_identity<T>) {
      using Read = std::conditional_t<std::is_same_v<T, bool>, std::uint8_t, T>;  // the reader's bool: 0/1 bytes
      return TypedColumn::of(type, tree_.read<Read>(name, static_cast<std::int64_t>(first), static_cast<std::int64_t>(last)));
    });
  }
  const root::Tree& tree() const { return tree_; }

 private:
  root::File file_;
  root::Tree tree_;
};

/// A deepjet source table in an HDF5 file.
class TableSource final : public Source {
 public:
  TableSource(const std::string& path, const std::string& table)
      : path_(path), file_(path, hdf5::File::Mode::read), table_(table) {
    if (!file_.exists(table_)) file_.fail("has no table '" + table_ + "'");
    if (!file_.has_attribute("deepjet_file", table_) ||
        file_.read_string_attribute("deepjet_file", table_) != "source table")
      file_.fail("'" + table_ + "' is not a deepjet source table");
    entries_ = file_.read_integer_attribute("entries", table_);
  }

  const std::string& path() const override { return path_; }
  std::uint64_t entries() const override { return entries_; }
  bool has_branch(const std::string& name) const override { return file_.exists(dataset(name)); }

  std::vector<float> read_flat(const std::string& name, std::uint64_t first, std::uint64_t last) const override {
    require(name);
    if (file_.has_attribute("offsets", dataset(name)))
      file_.fail("branch '" + name + "' has several values per entry; read it as a particle list");
    check_range(name, first, last);
    return file_.read_rows<float>(dataset(name), first, last - first);
  }

  TypedColumn read_flat_typed(const std::string& name, std::uint64_t first, std::uint64_t last) const override {
    require(name);
    if (file_.has_attribute("offsets", dataset(name)))
      file_.fail("branch '" + name + "' has several values per entry; read it as a particle list");
    check_range(name, first, last);
    const auto stored = file_.stored_type(dataset(name));
    if (stored.kind == hdf5::StoredType::Kind::other) file_.fail("branch '" + name + "' does not hold numbers");
    using V = root::ValueType;
    // The types source tables are written in; anything else is widened without loss.
    const V type = stored.kind == hdf5::StoredType::Kind::floating ? (stored.size <= 4 ? V::Float32 : V::Float64)
                   : stored.kind == hdf5::StoredType::Kind::unsigned_integer
                       ? (stored.size == 1 ? V::UInt8 : V::UInt64)
                       : (stored.size <= 4 ? V::Int32 : V::Int64);
    return with_value_type(type, [&]<class T>(std::type_identity<T>) -> TypedColumn {
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, std::uint8_t> ||
                    std::is_same_v<T, std::uint64_t> || std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int64_t>)
        return TypedColumn::of(type, file_.read_rows<T>(dataset(name), first, last - first));
      else
        throw Error("unreachable");
    });
  }

  JaggedColumn read_jagged(const std::string& name, std::uint64_t first, std::uint64_t last) const override {
    require(name);
    check_range(name, first, last);
    JaggedColumn column;
    if (!file_.has_attribute("offsets", dataset(name))) {  // a flat branch is a list of one
      column.values = file_.read_rows<float>(dataset(name), first, last - first);
      column.offsets.resize(column.values.size() + 1);
      for (std::size_t i = 0; i < column.offsets.size(); ++i) column.offsets[i] = static_cast<std::int64_t>(i);
      return column;
    }
    const auto offsets_name = dataset(file_.read_string_attribute("offsets", dataset(name)));
    const auto offsets = file_.read_rows<std::int64_t>(offsets_name, first, last - first + 1);
    const std::int64_t begin = offsets.front(), end = offsets.back();
    if (begin < 0 || end < begin || static_cast<std::uint64_t>(end) > file_.shape(dataset(name))[0])
      file_.fail("branch '" + name + "': its offsets point outside its " +
                 std::to_string(file_.shape(dataset(name))[0]) + " values");
    column.values = file_.read_rows<float>(dataset(name), static_cast<std::size_t>(begin),
                                           static_cast<std::size_t>(end - begin));
    column.offsets.resize(offsets.size());
    for (std::size_t i = 0; i < offsets.size(); ++i) {
      column.offsets[i] = offsets[i] - begin;
      if (i > 0 && column.offsets[i] < column.offsets[i - 1])
        file_.fail("branch '" + name + "': its offsets decrease at entry " + std::to_string(first + i - 1));
    }
    return column;
  }

 private:
  std::string dataset(const std::string& name) const { return table_ + "/" + name; }
  void require(const std::string& name) const {
    if (!has_branch(name)) file_.fail("table '" + table_ + "' has no branch '" + name + "'");
  }
  void check_range(const std::string& name, std::uint64_t first, std::uint64_t last) const {
    if (first > last || last > entries_)
      file_.fail("branch '" + name + "': entries " + std::to_string(first) + " to " + std::to_string(last) +
                 " asked for, the table has " + std::to_string(entries_));
  }

  std::string path_;
  hdf5::File file_;
  std::string table_;
  std::uint64_t entries_ = 0;
};

/// Open `path` as a ROOT file (tree `table`) or an HDF5 source table (group `table`).
inline std::unique_ptr<Source> open_source(const std::string& path, const std::string& table) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot open");
  char magic[8] = {};
  in.read(magic, sizeof magic);
  if (in.gcount() >= 4 && std::string(magic, 4) == "root") return std::make_unique<RootSource>(path, table);
  if (in.gcount() == 8 && std::string(magic, 8) == "\x89HDF\r\n\x1a\n") return std::make_unique<TableSource>(path, table);
  throw FileError(path, "is neither a ROOT file nor an HDF5 file");
}

/// How a converter opens a source by name: open_source by default; a JetSource over NanoAOD
/// events, a filtered source, ... for other layouts.
using SourceOpener = std::function<std::unique_ptr<Source>(const std::string& path, const std::string& table)>;

}  // namespace deepjet::data
