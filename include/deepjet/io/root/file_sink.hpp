// deepjet/io/root/file_sink.hpp: the writing side of file_source.hpp and key.hpp: where records go.
//
// Contract: FileSink writes a new file under a temporary name beside the destination (see
// deepjet/core/atomic_file.hpp): allocate() reserves the next bytes, write_at() stores bytes at an
// offset (64-bit offsets; a reserved region never written stays a hole, so gaps cost no disk), and
// commit() flushes and renames the file into place. Until commit() the destination is untouched;
// destroying an uncommitted sink removes the temporary. Every failed write (a full disk, a file
// size limit) throws deepjet::FileError naming the temporary file and what was being written.
// write_key() writes one TKey (always the 64-bit variant, version 1004) with its record,
// compressed as ROOT decides (see compress.hpp).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "deepjet/core/atomic_file.hpp"
#include "deepjet/core/error.hpp"
#include "deepjet/io/root/byte_writer.hpp"
#include "deepjet/io/root/compress.hpp"

namespace deepjet::root {

/// Now as ROOT's TDatime packs it: (year - 1995) << 26 | month << 22 | day << 17 | hour << 12 |
/// minute << 6 | second, local time.
inline std::uint32_t root_datime_now() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  return static_cast<std::uint32_t>(local.tm_year + 1900 - 1995) << 26 | static_cast<std::uint32_t>(local.tm_mon + 1) << 22 |
         static_cast<std::uint32_t>(local.tm_mday) << 17 | static_cast<std::uint32_t>(local.tm_hour) << 12 |
         static_cast<std::uint32_t>(local.tm_min) << 6 | static_cast<std::uint32_t>(local.tm_sec);
}

/// A TKey header (64-bit variant).
struct KeyHeader {
  std::int32_t total_bytes = 0;   // fNbytes: header + stored record
  std::int32_t object_bytes = 0;  // fObjlen: uncompressed record
  std::uint32_t datime = 0;
  std::int16_t key_bytes = 0;     // fKeylen
  std::int16_t cycle = 1;
  std::int64_t seek_key = 0;
  std::int64_t seek_parent = 0;
  std::string class_name;
  std::string name;
  std::string title;
};

inline std::size_t tstring_size(std::string_view text) { return (text.size() < 255 ? 1 : 5) + text.size(); }

/// Length of the header of a key with these names (plus `extra` bytes that belong to the header,
/// such as a TBasket's fields).
inline std::int16_t key_header_size(std::string_view class_name, std::string_view name, std::string_view title,
                                    std::size_t extra = 0) {
  const std::size_t size = 4 + 2 + 4 + 4 + 2 + 2 + 8 + 8 + tstring_size(class_name) + tstring_size(name) +
                           tstring_size(title) + extra;
  if (size > 0x7FFF) throw Error("ROOT writer: names too long for a key header (\"" + std::string(name) + "\")");
  return static_cast<std::int16_t>(size);
}

inline void encode_key_header(ByteWriter& out, const KeyHeader& key) {
  out.put<std::int32_t>(key.total_bytes);
  out.put<std::int16_t>(1004);  // > 1000: 64-bit seeks
  out.put<std::int32_t>(key.object_bytes);
  out.put<std::uint32_t>(key.datime);
  out.put<std::int16_t>(key.key_bytes);
  out.put<std::int16_t>(key.cycle);
  out.put<std::int64_t>(key.seek_key);
  out.put<std::int64_t>(key.seek_parent);
  out.tstring(key.class_name);
  out.tstring(key.name);
  out.tstring(key.title);
}

class FileSink {
 public:
  explicit FileSink(const std::filesystem::path& destination) : file_(destination) {
    fd_ = ::open(file_.temporary_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      throw FileError(file_.temporary_path().string(), std::string("cannot create: ") + std::strerror(errno));
    }
  }
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;
  ~FileSink() {
    if (fd_ >= 0) ::close(fd_);
  }

  const std::filesystem::path& destination() const noexcept { return file_.destination(); }
  std::string temporary_name() const { return file_.temporary_path().string(); }

  /// The offset one past the last reserved byte.
  std::uint64_t end() const noexcept { return end_; }

  /// Reserves `bytes` at the end of the file and returns where they start.
  std::uint64_t allocate(std::uint64_t bytes) {
    const std::uint64_t at = end_;
    end_ += bytes;
    return at;
  }

  void write_at(std::uint64_t offset, const std::uint8_t* data, std::size_t size, std::string_view what) {
    std::size_t done = 0;
    while (done < size) {
      const ::ssize_t written = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(offset + done));
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) {
        const int error = written < 0 ? errno : ENOSPC;
        const bool full = error == ENOSPC || error == EFBIG || error == EDQUOT;
        throw FileError(temporary_name(), "cannot write " + std::string(what) + " (" + std::to_string(size) +
                                              " bytes at offset " + std::to_string(offset) + "): " +
                                              std::strerror(error) + (full ? " (is the disk full?)" : ""));
      }
      done += static_cast<std::size_t>(written);
    }
  }

  /// Makes the file as long as everything reserved (a trailing gap would otherwise be missing).
  void set_length(std::uint64_t length) {
    if (::ftruncate(fd_, static_cast<off_t>(length)) != 0) {
      throw FileError(temporary_name(), std::string("cannot set the file length: ") + std::strerror(errno));
    }
  }

  /// Closes the file, flushes it to disk and renames it to its destination.
  void commit() {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      throw FileError(temporary_name(), std::string("cannot close: ") + std::strerror(errno));
    }
    file_.commit();
  }

  /// Writes a key with `record` (serialized with origin = `key.key_bytes`) at the end of the file,
  /// compressed with `compression` when that makes it smaller; `extra_header` are bytes counted in
  /// fKeylen after the standard header (a TBasket's fields). Returns the header as written.
  KeyHeader write_key(KeyHeader key, const std::vector<std::uint8_t>& record, const CompressionSettings& compression,
                      std::string_view what, const std::vector<std::uint8_t>& extra_header = {}) {
    if (record.size() > static_cast<std::size_t>(0x3FFFFFFF)) {
      throw FileError(temporary_name(), std::string(what) + ": record of " + std::to_string(record.size()) +
                                            " bytes exceeds ROOT's 1 GiB limit");
    }
    const bool compressed = compress_blocks_into(record.data(), record.size(), compression, compressed_);
    const std::vector<std::uint8_t>& stored = compressed ? compressed_ : record;
    key.key_bytes = key_header_size(key.class_name, key.name, key.title, extra_header.size());
    key.object_bytes = static_cast<std::int32_t>(record.size());
    key.total_bytes = static_cast<std::int32_t>(key.key_bytes + stored.size());
    if (key.datime == 0) key.datime = root_datime_now();
    key.seek_key = static_cast<std::int64_t>(allocate(static_cast<std::uint64_t>(key.total_bytes)));
    ByteWriter header;
    encode_key_header(header, key);
    header.put_bytes(extra_header.data(), extra_header.size());
    // Header and record go out as they are (no copy of the record into one buffer).
    write_at(static_cast<std::uint64_t>(key.seek_key), header.bytes().data(), header.size(), what);
    write_at(static_cast<std::uint64_t>(key.seek_key) + header.size(), stored.data(), stored.size(), what);
    return key;
  }

 private:
  AtomicFile file_;
  std::vector<std::uint8_t> compressed_;  // reused by every write_key (one allocation per file)
  int fd_ = -1;
  std::uint64_t end_ = 0;
};

}  // namespace deepjet::root
