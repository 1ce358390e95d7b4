// deepjet/data/source_table.hpp: ntuple-like tables in HDF5, the other source format besides ROOT.
//
// Format ("deepjet source table", version 1), inside one HDF5 file:
//   group <table>                      attributes deepjet_file = "source table", format_version = 1,
//                                      entries = number of entries (jets)
//   <table>/<branch>  (flat)           one value per entry: a 1-D dataset of `entries` values
//   <table>/<branch>  (jagged)         all entries' values one after another, 1-D, with a string
//                                      attribute offsets = "<offsets dataset>"
//   <table>/<offsets dataset>          int64, entries + 1 values starting at 0: entry i holds
//                                      values [offsets[i], offsets[i + 1]); jagged branches of one
//                                      collection (all charged candidates) share one offsets set
// Any numeric element type may be stored; readers convert.
//
// SourceTableWriter streams such a table chunk by chunk (bounded memory), to a temporary name, and
// moves it into place when finish() succeeds; an unfinished table never appears under its name.
#pragma once

#include "deepjet/core/atomic_file.hpp"
#include "deepjet/io/hdf5/hdf5.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace deepjet::data {

class SourceTableWriter {
 public:
  /// deflate_level: 0 stores the datasets uncompressed (fastest); 1 to 9 byte-shuffle and deflate them.
  SourceTableWriter(std::filesystem::path path, std::string table = "tree", std::size_t chunk_rows = 16384,
                    int deflate_level = 4)
      : output_(std::move(path)), table_(std::move(table)), chunk_rows_(chunk_rows), deflate_level_(deflate_level) {
    file_.emplace(output_.temporary_path(), hdf5::File::Mode::stream);
    file_->create_group(table_);
  }

  /// Declare a branch with one value per entry.
  template <class T>
  void add_flat(const std::string& branch) {
    file_->create_rows<T>(dataset(branch), {}, chunk_rows_, deflate_level_);
  }

  /// Declare a collection: jagged branches sharing the offsets dataset `offsets_name`.
  template <class T>
  void add_jagged(const std::string& branch, const std::string& offsets_name) {
    if (!collections_.contains(offsets_name)) {
      file_->create_rows<std::int64_t>(dataset(offsets_name), {}, chunk_rows_, deflate_level_);
      const std::int64_t zero = 0;
      file_->append_rows(dataset(offsets_name), &zero, 1);
      collections_[offsets_name] = 0;
    }
    file_->create_rows<T>(dataset(branch), {}, chunk_rows_ * 8, deflate_level_);
    file_->write_attribute("offsets", offsets_name, dataset(branch));
  }

  /// Append the values of a flat branch for the next entries.
  template <class T>
  void append_flat(const std::string& branch, std::span<const T> values) {
    file_->append_rows(dataset(branch), values.data(), values.size());
  }

  /// Append values of a jagged branch (the entries' values one after another).
  template <class T>
  void append_jagged(const std::string& branch, std::span<const T> values) {
    file_->append_rows(dataset(branch), values.data(), values.size());
  }

  /// Append the lengths of the next entries of a collection (its offsets grow by them).
  void append_counts(const std::string& offsets_name, std::span<const std::int64_t> counts) {
    auto& end = collections_.at(offsets_name);
    std::vector<std::int64_t> offsets(counts.size());
    for (std::size_t i = 0; i < counts.size(); ++i) offsets[i] = end += counts[i];
    file_->append_rows(dataset(offsets_name), offsets.data(), offsets.size());
  }

  /// Write the header attributes, close, and move the file into place.
  void finish(std::uint64_t entries) {
    file_->write_attribute("deepjet_file", std::string("source table"), table_);
    file_->write_attribute("format_version", std::uint64_t{1}, table_);
    file_->write_attribute("entries", entries, table_);
    file_->close();
    file_.reset();
    output_.commit();
  }

 private:
  std::string dataset(const std::string& branch) const { return table_ + "/" + branch; }

  AtomicFile output_;
  std::string table_;
  std::size_t chunk_rows_;
  int deflate_level_;
  std::optional<hdf5::File> file_;
  std::map<std::string, std::int64_t> collections_;
};

}  // namespace deepjet::data
