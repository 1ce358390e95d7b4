// deepjet/data/source.hpp: where jets come from, whatever the file format.
//
// A Source is one input file's table of entries (jets): ROOT TTrees through deepjet's own ROOT
// reader, or deepjet source tables in HDF5 (data/source_table.hpp). Both are read by columns over
// entry ranges, so a converter streams any file in bounded memory:
//   entries()                      number of entries
//   has_branch(name)
//   read_flat(name, first, last)   one value per entry, as float
//   read_jagged(name, first, last) values + offsets (offsets relative to `first`, starting at 0)
// open_source(path, table) picks the reader from the file's first bytes. Every error is a
// deepjet::FileError naming the file (and the branch).
// Threads: a Source is used by one thread at a time (the ROOT reader keeps the last basket of each
// branch); parallel code opens one Source per thread, as convert_sources does.
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/io/hdf5/hdf5.hpp"
#include "deepjet/io/root.hpp"

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace deepjet::data {

/// Values of a variable-length column: entry i is values[offsets[i] .. offsets[i + 1]).
using JaggedColumn = root::JaggedArray<float>;

class Source {
 public:
  virtual ~Source() = default;
  virtual const std::string& path() const = 0;
  virtual std::uint64_t entries() const = 0;
  virtual bool has_branch(const std::string& name) const = 0;
  virtual std::vector<float> read_flat(const std::string& name, std::uint64_t first, std::uint64_t last) const = 0;
  virtual JaggedColumn read_jagged(const std::string& name, std::uint64_t first, std::uint64_t last) const = 0;
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
