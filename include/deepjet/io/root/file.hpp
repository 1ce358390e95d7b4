// deepjet/io/root/file.hpp: a ROOT file: header, directories, keys and trees.
//
// Contract: File opens a ROOT file (small- and large-file header variants; every seek is 64-bit),
// lists the keys of the top directory and of nested directories ("dir/sub"), and opens TTrees by
// path ("events", "dir/sub/tree"); for several cycles of a name, the highest wins. The streamer
// infos are read when the first tree is opened. A file that is not ROOT, truncated or damaged
// metadata, and unknown paths throw deepjet::FileError naming the file. File and the Trees it
// returns share the open file; Trees stay valid after the File is destroyed.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "deepjet/io/root/byte_cursor.hpp"
#include "deepjet/io/root/file_source.hpp"
#include "deepjet/io/root/key.hpp"
#include "deepjet/io/root/streamer_info.hpp"
#include "deepjet/io/root/tree.hpp"
#include "deepjet/io/root/tree_metadata.hpp"

namespace deepjet::root {

struct FileHeader {
  std::int32_t version = 0;
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int32_t name_bytes = 0;
  std::int32_t compression = 0;
  std::int64_t seek_info = 0;
  std::int32_t info_bytes = 0;
};

inline FileHeader parse_file_header(const FileSource& source) {
  constexpr std::size_t header_bytes = 4 + 4 + 4 + 8 + 8 + 4 + 4 + 4 + 1 + 4 + 8 + 4;
  if (source.size() < 4) throw FileError(source.path(), "not a ROOT file (too short)");
  std::vector<std::uint8_t> bytes = source.read(0, 4, "file signature");
  if (bytes[0] != 'r' || bytes[1] != 'o' || bytes[2] != 'o' || bytes[3] != 't') {
    throw FileError(source.path(), "not a ROOT file (no \"root\" signature)");
  }
  bytes = source.read(0, std::min<std::uint64_t>(header_bytes, source.size()), "file header");
  ByteCursor cursor(bytes.data(), bytes.size(), source.path());
  cursor.skip(4, "signature");
  FileHeader header;
  header.version = cursor.i32("file version");
  const bool large = header.version >= 1000000;
  header.begin = cursor.i32("fBEGIN");
  header.end = large ? cursor.i64("fEND") : cursor.i32("fEND");
  large ? cursor.i64("fSeekFree") : cursor.i32("fSeekFree");
  cursor.i32("fNbytesFree");
  cursor.i32("nfree");
  header.name_bytes = cursor.i32("fNbytesName");
  cursor.u8("fUnits");
  header.compression = cursor.i32("fCompress");
  header.seek_info = large ? cursor.i64("fSeekInfo") : cursor.i32("fSeekInfo");
  header.info_bytes = cursor.i32("fNbytesInfo");
  if (header.begin <= 0 || header.name_bytes <= 0 || header.seek_info < 0 || header.info_bytes < 0) {
    throw FileError(source.path(), "corrupted file header");
  }
  if (static_cast<std::uint64_t>(header.end) > source.size()) {
    throw FileError(source.path(), "truncated file: header says it ends at byte " +
                                       std::to_string(header.end) + " but it has " +
                                       std::to_string(source.size()) + " bytes");
  }
  return header;
}

/// Where a directory's key list is, from its TDirectory record.
struct DirectoryLocation {
  std::int64_t seek_keys = 0;
  std::int32_t key_list_bytes = 0;  // fNbytesKeys (0 if unknown)
};

inline DirectoryLocation parse_directory_record(ByteCursor& cursor, const std::string& what) {
  const std::int16_t version = cursor.i16("TDirectory version");
  cursor.skip(4 + 4, "TDirectory dates");
  DirectoryLocation location;
  location.key_list_bytes = cursor.i32("TDirectory::fNbytesKeys");
  cursor.i32("TDirectory::fNbytesName");
  if (version > 1000) {  // 64-bit seeks
    cursor.skip(16, "TDirectory seeks");
    location.seek_keys = cursor.i64("TDirectory::fSeekKeys");
  } else {
    cursor.skip(8, "TDirectory seeks");
    location.seek_keys = cursor.i32("TDirectory::fSeekKeys");
  }
  if (location.seek_keys <= 0 || location.key_list_bytes < 0) cursor.fail("corrupted " + what + " (no key list)");
  return location;
}

class File {
 public:
  explicit File(const std::string& path) : File(FileSource::open(path)) {}

  /// A file held in memory (for tests and fuzzing); `name` appears in error messages.
  static File from_memory(std::vector<std::uint8_t> bytes, std::string name = "<memory>") {
    return File(FileSource::from_memory(std::move(bytes), std::move(name)));
  }

  const std::string& path() const noexcept { return source_->path(); }
  const FileHeader& header() const noexcept { return header_; }

  /// Keys of a directory ("" = top), one per name (its highest cycle), in file order.
  std::vector<Key> keys(std::string_view directory = "") const {
    return unique_keys(directory_keys(resolve_directory(directory, 0)));
  }

  /// Paths of every TTree in the file, nested directories included ("dir/sub/tree").
  std::vector<std::string> tree_paths() const {
    std::vector<std::string> paths;
    std::set<std::int64_t> visited;
    collect_trees(top_, "", paths, visited, 0);
    return paths;
  }

  /// Opens the tree at `path` ("events" or "dir/sub/events").
  Tree tree(std::string_view tree_path) const {
    std::string directory;
    std::string name(tree_path);
    const std::size_t slash = name.rfind('/');
    if (slash != std::string::npos) {
      directory = name.substr(0, slash);
      name = name.substr(slash + 1);
    }
    const std::vector<Key> found = unique_keys(directory_keys(resolve_directory(directory, 0)));
    for (const Key& key : found) {
      if (key.name != name) continue;
      if (!is_tree_class(key.class_name)) {
        throw FileError(path(), "\"" + std::string(tree_path) + "\" is a " + key.class_name + ", not a TTree");
      }
      Record record = read_key_payload(*source_, key, "tree \"" + std::string(tree_path) + "\"");
      ByteCursor cursor(record.bytes.data(), record.bytes.size(), path(), record.origin);
      if (key.class_name != "TTree") read_version(cursor, key.class_name);  // TNtuple wraps a TTree
      TreeDescription description = parse_tree(cursor);
      return Tree(source_, streamer_infos(), std::move(description));
    }
    throw FileError(path(), "no tree \"" + std::string(tree_path) + "\" in the file");
  }

  /// The class descriptions stored in the file (read once, on first use).
  std::shared_ptr<const StreamerInfos> streamer_infos() const {
    std::lock_guard<std::mutex> lock(*infos_mutex_);
    if (!*infos_) {
      auto infos = std::make_shared<StreamerInfos>();
      if (header_.seek_info > 0 && header_.info_bytes > 0) {
        const Key key = read_key(*source_, static_cast<std::uint64_t>(header_.seek_info), "streamer info key");
        Record record = read_key_payload(*source_, key, "streamer info");
        ByteCursor cursor(record.bytes.data(), record.bytes.size(), path(), record.origin);
        *infos = parse_streamer_infos(cursor);
      }
      *infos_ = std::move(infos);
    }
    return *infos_;
  }

 private:
  explicit File(std::shared_ptr<FileSource> source)
      : source_(std::move(source)),
        infos_(std::make_shared<std::shared_ptr<const StreamerInfos>>()),
        infos_mutex_(std::make_shared<std::mutex>()) {
    header_ = parse_file_header(*source_);
    top_ = top_directory(static_cast<std::uint64_t>(header_.begin + header_.name_bytes));
  }

  static bool is_tree_class(const std::string& name) {
    return name == "TTree" || name == "TNtuple" || name == "TNtupleD";
  }
  static bool is_directory_class(const std::string& name) {
    return name == "TDirectory" || name == "TDirectoryFile";
  }

  /// Reads the TDirectory record at `offset` (the top directory) and returns its key list.
  DirectoryLocation top_directory(std::uint64_t offset) const {
    constexpr std::size_t record_bytes = 2 + 4 + 4 + 4 + 4 + 8 + 8 + 8;
    const std::size_t available =
        offset < source_->size() ? static_cast<std::size_t>(std::min<std::uint64_t>(record_bytes, source_->size() - offset)) : 0;
    std::vector<std::uint8_t> bytes = source_->read(offset, available, "top directory");
    ByteCursor cursor(bytes.data(), bytes.size(), path());
    return parse_directory_record(cursor, "top directory");
  }

  std::vector<Key> directory_keys(const DirectoryLocation& location) const {
    // The list is a key header, a count and the keys. Its length is the directory's fNbytesKeys
    // (some writers leave the list key's own fNbytes at the header alone).
    const Key list = read_key(*source_, static_cast<std::uint64_t>(location.seek_keys), "key list");
    const std::int64_t total = location.key_list_bytes > list.key_bytes ? location.key_list_bytes : list.total_bytes;
    std::vector<std::uint8_t> bytes = source_->read(static_cast<std::uint64_t>(location.seek_keys) + list.key_bytes,
                                                    static_cast<std::size_t>(total - list.key_bytes), "key list");
    ByteCursor cursor(bytes.data(), bytes.size(), path());
    const std::int32_t count = cursor.i32("number of keys");
    if (count < 0 || static_cast<std::size_t>(count) > bytes.size() / 18) {
      throw FileError(path(), "corrupted key list");
    }
    std::vector<Key> keys;
    keys.reserve(static_cast<std::size_t>(count));
    for (std::int32_t i = 0; i < count; ++i) keys.push_back(parse_key(cursor));
    return keys;
  }

  static std::vector<Key> unique_keys(const std::vector<Key>& keys) {
    std::vector<Key> out;
    for (const Key& key : keys) {
      bool replaced = false;
      for (Key& existing : out) {
        if (existing.name == key.name) {
          if (key.cycle > existing.cycle) existing = key;
          replaced = true;
        }
      }
      if (!replaced) out.push_back(key);
    }
    return out;
  }

  DirectoryLocation subdirectory(const Key& key) const {
    Record record = read_key_payload(*source_, key, "directory \"" + key.name + "\"");
    ByteCursor cursor(record.bytes.data(), record.bytes.size(), path());
    return parse_directory_record(cursor, "directory \"" + key.name + "\"");
  }

  DirectoryLocation resolve_directory(std::string_view directory, int depth) const {
    DirectoryLocation location = top_;
    std::string rest(directory);
    while (!rest.empty()) {
      if (++depth > 64) throw FileError(path(), "directory nesting too deep");
      const std::size_t slash = rest.find('/');
      const std::string part = rest.substr(0, slash);
      rest = slash == std::string::npos ? "" : rest.substr(slash + 1);
      if (part.empty()) continue;
      bool found = false;
      for (const Key& key : unique_keys(directory_keys(location))) {
        if (key.name == part && is_directory_class(key.class_name)) {
          location = subdirectory(key);
          found = true;
          break;
        }
      }
      if (!found) throw FileError(path(), "no directory \"" + std::string(directory) + "\" in the file");
    }
    return location;
  }

  void collect_trees(const DirectoryLocation& location, const std::string& prefix, std::vector<std::string>& out,
                     std::set<std::int64_t>& visited, int depth) const {
    if (depth > 64) throw FileError(path(), "directory nesting too deep");
    // Each directory has its own key list; meeting one twice means the file is damaged (and
    // following it again could loop or blow up exponentially).
    if (!visited.insert(location.seek_keys).second) {
      throw FileError(path(), "corrupted directories (a key list is shared)");
    }
    for (const Key& key : unique_keys(directory_keys(location))) {
      if (is_tree_class(key.class_name)) out.push_back(prefix + key.name);
      if (is_directory_class(key.class_name)) {
        collect_trees(subdirectory(key), prefix + key.name + "/", out, visited, depth + 1);
      }
    }
  }

  std::shared_ptr<FileSource> source_;
  FileHeader header_;
  DirectoryLocation top_;
  std::shared_ptr<std::shared_ptr<const StreamerInfos>> infos_;
  std::shared_ptr<std::mutex> infos_mutex_;
};

}  // namespace deepjet::root
