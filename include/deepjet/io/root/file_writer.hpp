// deepjet/io/root/file_writer.hpp: the writing side of file.hpp: a new ROOT file (TFile) with its
// header, directories, key lists, streamer infos and free-segment list.
//
// Contract: FileWriter creates a ROOT file at `path` holding the TTrees made with make_tree()
// ("events" or "dir/sub/events"; directories are created as needed). close() writes the trees'
// last baskets and records, the streamer infos of every class used, each directory's key list,
// the free segments, the TFile key and directory record and the file header, then flushes the file
// and renames it from its temporary name into place. Until close() succeeds nothing exists under
// `path`; a FileWriter destroyed without close() (an exception, an interruption) leaves no file
// behind. Files past 2 GB get ROOT's large-file header and 64-bit directory records; keys are
// always written in their 64-bit form, as ROOT does for baskets. leave_gap() reserves unused bytes
// (recorded as a free segment, a hole on disk). I/O failures throw deepjet::FileError naming the file.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "deepjet/io/root/byte_writer.hpp"
#include "deepjet/io/root/file_sink.hpp"
#include "deepjet/io/root/streamer_info_writer.hpp"
#include "deepjet/io/root/tree_writer.hpp"

namespace deepjet::root {

class FileWriter {
 public:
  explicit FileWriter(const std::filesystem::path& path, WriteOptions options = {})
      : options_(std::move(options)), sink_(std::make_unique<FileSink>(path)) {
    options_.compression.check();
    if (options_.basket_bytes == 0) throw FileError(path.string(), "basket size must be positive");
    file_name_ = path.filename().string();
    created_ = root_datime_now();
    std::random_device random;
    for (auto& byte : uuid_) byte = static_cast<std::uint8_t>(random());
    // The header, then the TFile key with the top directory record; both are written at close().
    sink_->allocate(begin_);
    file_key_bytes_ = key_header_size("TFile", file_name_, options_.title);
    name_bytes_ = static_cast<std::int32_t>(file_key_bytes_ + tstring_size(file_name_) + tstring_size(options_.title));
    sink_->allocate(static_cast<std::uint64_t>(name_bytes_) + directory_record_bytes);
    directories_.push_back(Directory{});  // the top directory
    directories_[0].seek = begin_;
  }

  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;
  FileWriter(FileWriter&&) = default;
  FileWriter& operator=(FileWriter&&) = default;

  const std::filesystem::path& path() const { return sink_->destination(); }
  bool closed() const noexcept { return closed_; }

  /// A new tree at `tree_path`; the reference stays valid until the writer is destroyed.
  TreeWriter& make_tree(std::string_view tree_path, std::string title = "") {
    check_open();
    std::string name(tree_path);
    std::size_t directory = 0;
    for (std::size_t slash; (slash = name.find('/')) != std::string::npos;) {
      const std::string part = name.substr(0, slash);
      name = name.substr(slash + 1);
      if (!part.empty()) directory = subdirectory(directory, part);
    }
    if (name.empty()) throw FileError(path().string(), "tree path \"" + std::string(tree_path) + "\" has no name");
    for (const auto& tree : trees_) {
      if (tree.directory == directory && tree.writer->name() == name) {
        throw FileError(path().string(), "tree \"" + std::string(tree_path) + "\" made twice");
      }
    }
    for (const std::size_t child : directories_[directory].children) {
      if (directories_[child].name == name) {
        throw FileError(path().string(), "\"" + std::string(tree_path) + "\" is already a directory");
      }
    }
    trees_.push_back({directory, std::make_unique<TreeWriter>(*sink_, options_, name, std::move(title),
                                                              directories_[directory].seek)});
    return *trees_.back().writer;
  }

  /// Leaves `bytes` unused at the current end of the file (a free segment, a hole on disk).
  void leave_gap(std::uint64_t bytes) {
    check_open();
    if (bytes == 0) return;
    const std::uint64_t start = sink_->allocate(bytes);
    gaps_.push_back({start, start + bytes - 1});
  }

  /// Completes the file and moves it into place. After a failure the file is abandoned.
  void close() {
    check_open();
    closed_ = true;  // a failure below abandons the file; the temporary goes with the writer
    for (auto& tree : trees_) directories_[tree.directory].keys.push_back(tree.writer->finish());
    write_streamer_infos();
    // Key lists, deepest directories first (a parent lists its children's keys, fixed at creation).
    for (std::size_t i = directories_.size(); i-- > 0;) write_key_list(i);
    write_free_segments();
    const bool large = end_ > kStartBigFile;
    for (std::size_t i = 1; i < directories_.size(); ++i) {
      const Directory& directory = directories_[i];
      ByteWriter record;
      write_directory_record(record, directory, large);
      KeyHeader key = directory.key;
      ByteWriter bytes;
      encode_key_header(bytes, key);
      bytes.put_bytes(record.bytes().data(), record.size());
      sink_->write_at(static_cast<std::uint64_t>(key.seek_key), bytes.bytes().data(), bytes.size(),
                      "directory \"" + directory.name + "\"");
    }
    write_file_key(large);
    write_header(large);
    sink_->set_length(end_);
    sink_->commit();
  }

 private:
  struct Directory {
    std::string name;
    std::int64_t seek = 0;         // fSeekDir: its key (the TFile key at fBEGIN for the top one)
    std::size_t parent = 0;
    KeyHeader key;                 // subdirectories: their key in the parent
    std::vector<std::size_t> children;
    std::vector<KeyHeader> keys;   // trees and subdirectories, listed in its key list
    std::int64_t seek_keys = 0;
    std::int32_t key_list_bytes = 0;
    std::uint32_t created = 0;
  };
  struct TreeEntry {
    std::size_t directory = 0;
    std::unique_ptr<TreeWriter> writer;
  };
  struct Gap {
    std::uint64_t first = 0;
    std::uint64_t last = 0;  // inclusive, as TFree has it
  };

  static constexpr std::int32_t begin_ = 100;  // fBEGIN: the header's reserved length
  static constexpr std::uint64_t directory_record_bytes = 60;  // TDirectory record, either variant
  // ROOT switches to 64-bit file offsets (header, directories, free segments) past 2e9 bytes.
  static constexpr std::uint64_t kStartBigFile = 2000000000;
  static constexpr std::int32_t file_version = 62206;  // the ROOT release whose layout this is

  void check_open() const {
    if (closed_) throw FileError(path().string(), "the ROOT file was already closed (or failed)");
  }

  std::size_t subdirectory(std::size_t parent, const std::string& name) {
    for (const std::size_t child : directories_[parent].children) {
      if (directories_[child].name == name) return child;
    }
    for (const auto& tree : trees_) {
      if (tree.directory == parent && tree.writer->name() == name) {
        throw FileError(path().string(), "\"" + name + "\" is already a tree");
      }
    }
    Directory directory;
    directory.name = name;
    directory.parent = parent;
    directory.created = root_datime_now();
    // The key and its record are reserved now (trees inside point to it) and written at close().
    KeyHeader& key = directory.key;
    key.class_name = "TDirectory";
    key.name = name;
    key.key_bytes = key_header_size(key.class_name, key.name, key.title);
    key.object_bytes = static_cast<std::int32_t>(directory_record_bytes);
    key.total_bytes = key.key_bytes + key.object_bytes;
    key.datime = directory.created;
    key.seek_key = static_cast<std::int64_t>(sink_->allocate(static_cast<std::uint64_t>(key.total_bytes)));
    key.seek_parent = directories_[parent].seek;
    directory.seek = key.seek_key;
    directories_.push_back(std::move(directory));
    const std::size_t index = directories_.size() - 1;
    directories_[parent].children.push_back(index);
    directories_[parent].keys.push_back(directories_[index].key);
    return index;
  }

  void write_streamer_infos() {
    std::vector<ClassDescription> classes;
    std::set<std::string> names;
    for (const auto& tree : trees_) tree.writer->add_class_descriptions(classes, names);
    KeyHeader key;
    key.class_name = "TList";
    key.name = "StreamerInfo";
    key.title = "Doubly linked list";
    key.seek_parent = begin_;
    const std::int16_t key_bytes = key_header_size(key.class_name, key.name, key.title);
    const KeyHeader written = sink_->write_key(key, serialize_streamer_infos(classes, key_bytes), options_.compression,
                                               "streamer infos");
    seek_info_ = written.seek_key;
    info_bytes_ = written.total_bytes;
  }

  void write_key_list(std::size_t index) {
    Directory& directory = directories_[index];
    ByteWriter record;
    record.put<std::int32_t>(static_cast<std::int32_t>(directory.keys.size()));
    for (const KeyHeader& listed : directory.keys) encode_key_header(record, listed);
    KeyHeader key;
    key.class_name = index == 0 ? "TFile" : "TDirectory";
    key.name = index == 0 ? file_name_ : directory.name;
    key.title = index == 0 ? options_.title : "";
    key.seek_parent = directory.seek;
    // Key lists are never compressed (readers take them as they are).
    const KeyHeader written = sink_->write_key(key, record.bytes(), CompressionSettings::none(),
                                               "key list of " + (index == 0 ? std::string("the file") : "\"" + directory.name + "\""));
    directory.seek_keys = written.seek_key;
    directory.key_list_bytes = written.total_bytes;
  }

  void write_free_segments() {
    KeyHeader key;
    key.class_name = "TFile";
    key.name = file_name_;
    key.title = options_.title;
    key.seek_parent = begin_;
    key.key_bytes = key_header_size(key.class_name, key.name, key.title);
    const std::uint64_t seek = sink_->end();
    // The last free segment runs from the end of the file to ROOT's 2e9 mark (1e9 past the end in
    // large files); its encoding (10 or 18 bytes) depends on where the file ends.
    ByteWriter free_list;
    for (const Gap& gap : gaps_) write_free_segment(free_list, gap);
    std::uint64_t end = seek + static_cast<std::uint64_t>(key.key_bytes) + free_list.size() + 10;
    if (end >= kStartBigFile) end += 8;  // the tail segment needs 64-bit offsets
    write_free_segment(free_list, Gap{end, end >= kStartBigFile ? end + 1000000000 : kStartBigFile});
    const std::vector<std::uint8_t> record = free_list.take();
    const KeyHeader written = sink_->write_key(key, record, CompressionSettings::none(), "free segments");
    seek_free_ = written.seek_key;
    free_bytes_ = written.total_bytes;
    free_count_ = static_cast<std::int32_t>(gaps_.size() + 1);
    end_ = sink_->end();
    if (end_ != end) throw FileError(path().string(), "internal error: free segment list misplaced");
  }

  static void write_free_segment(ByteWriter& out, const Gap& gap) {
    if (gap.last > kStartBigFile) {
      out.put<std::int16_t>(1001);
      out.put<std::int64_t>(static_cast<std::int64_t>(gap.first));
      out.put<std::int64_t>(static_cast<std::int64_t>(gap.last));
    } else {
      out.put<std::int16_t>(1);
      out.put<std::int32_t>(static_cast<std::int32_t>(gap.first));
      out.put<std::int32_t>(static_cast<std::int32_t>(gap.last));
    }
  }

  void write_uuid(ByteWriter& out) const {
    out.put<std::int16_t>(1);  // TUUID version
    out.put_bytes(uuid_.data(), uuid_.size());
  }

  void write_directory_record(ByteWriter& out, const Directory& directory, bool large) const {
    const std::int64_t parent = &directory == &directories_[0] ? 0 : directories_[directory.parent].seek;
    const std::int32_t name_bytes = &directory == &directories_[0] ? name_bytes_ : directory.key.key_bytes;
    out.put<std::int16_t>(large ? 1005 : 5);
    out.put<std::uint32_t>(&directory == &directories_[0] ? created_ : directory.created);  // fDatimeC
    out.put<std::uint32_t>(root_datime_now());                                               // fDatimeM
    out.put<std::int32_t>(directory.key_list_bytes);
    out.put<std::int32_t>(name_bytes);
    if (large) {
      out.put<std::int64_t>(directory.seek);
      out.put<std::int64_t>(parent);
      out.put<std::int64_t>(directory.seek_keys);
      write_uuid(out);
    } else {
      out.put<std::int32_t>(static_cast<std::int32_t>(directory.seek));
      out.put<std::int32_t>(static_cast<std::int32_t>(parent));
      out.put<std::int32_t>(static_cast<std::int32_t>(directory.seek_keys));
      write_uuid(out);
      for (int i = 0; i < 3; ++i) out.put<std::int32_t>(0);  // room for 64-bit seeks
    }
  }

  void write_file_key(bool large) {
    KeyHeader key;
    key.class_name = "TFile";
    key.name = file_name_;
    key.title = options_.title;
    key.key_bytes = file_key_bytes_;
    key.object_bytes = static_cast<std::int32_t>(name_bytes_ - file_key_bytes_ + static_cast<std::int32_t>(directory_record_bytes));
    key.total_bytes = name_bytes_ + static_cast<std::int32_t>(directory_record_bytes);
    key.datime = created_;
    key.seek_key = begin_;
    key.seek_parent = 0;
    ByteWriter out;
    encode_key_header(out, key);
    out.tstring(file_name_);
    out.tstring(options_.title);
    write_directory_record(out, directories_[0], large);
    sink_->write_at(begin_, out.bytes().data(), out.size(), "file key");
  }

  void write_header(bool large) {
    ByteWriter out;
    out.put_bytes(reinterpret_cast<const std::uint8_t*>("root"), 4);
    out.put<std::int32_t>(large ? file_version + 1000000 : file_version);
    out.put<std::int32_t>(begin_);
    const auto seek = [&](std::uint64_t value) {
      if (large) out.put<std::int64_t>(static_cast<std::int64_t>(value));
      else out.put<std::int32_t>(static_cast<std::int32_t>(value));
    };
    seek(end_);
    seek(static_cast<std::uint64_t>(seek_free_));
    out.put<std::int32_t>(free_bytes_);
    out.put<std::int32_t>(free_count_);
    out.put<std::int32_t>(name_bytes_);
    out.put<std::uint8_t>(large ? 8 : 4);  // fUnits: bytes per file offset
    out.put<std::int32_t>(options_.compression.code());
    seek(static_cast<std::uint64_t>(seek_info_));
    out.put<std::int32_t>(info_bytes_);
    write_uuid(out);
    std::vector<std::uint8_t> bytes = out.take();
    bytes.resize(begin_, 0);
    sink_->write_at(0, bytes.data(), bytes.size(), "file header");
  }

  WriteOptions options_;
  std::unique_ptr<FileSink> sink_;
  std::string file_name_;
  std::uint32_t created_ = 0;
  std::array<std::uint8_t, 16> uuid_{};
  std::int16_t file_key_bytes_ = 0;
  std::int32_t name_bytes_ = 0;  // fNbytesName: TFile key header + its name and title
  std::vector<Directory> directories_;
  std::vector<TreeEntry> trees_;
  std::vector<Gap> gaps_;
  std::int64_t seek_info_ = 0;
  std::int32_t info_bytes_ = 0;
  std::int64_t seek_free_ = 0;
  std::int32_t free_bytes_ = 0;
  std::int32_t free_count_ = 0;
  std::uint64_t end_ = 0;
  bool closed_ = false;
};

}  // namespace deepjet::root
