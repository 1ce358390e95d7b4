// deepjet/io/root/file_source.hpp: random access to the bytes of a ROOT file.
//
// Contract: a FileSource reads byte ranges by 64-bit offset, either from a file on disk (memory
// mapped read-only, falling back to POSIX pread where mapping fails; both safe to use from several
// threads at once) or from a buffer in memory (used by the fuzz target and tests). view() gives
// direct access without a copy when the bytes are mapped or in memory. A range outside the file throws deepjet::FileError naming the path and what
// was being read; so does a file that cannot be opened.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "deepjet/core/error.hpp"

namespace deepjet::root {

class FileSource {
 public:
  static std::shared_ptr<FileSource> open(const std::string& path) {
    const int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) throw FileError(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat status {};
    if (::fstat(descriptor, &status) != 0 || !S_ISREG(status.st_mode)) {
      ::close(descriptor);
      throw FileError(path, "not a regular file");
    }
    auto source = std::shared_ptr<FileSource>(new FileSource(path));
    source->descriptor_ = descriptor;
    source->size_ = static_cast<std::uint64_t>(status.st_size);
    if (source->size_ > 0) {
      void* mapped = ::mmap(nullptr, source->size_, PROT_READ, MAP_PRIVATE, descriptor, 0);
      if (mapped != MAP_FAILED) source->mapped_ = static_cast<const std::uint8_t*>(mapped);
    }
    return source;
  }

  static std::shared_ptr<FileSource> from_memory(std::vector<std::uint8_t> bytes,
                                                 std::string name = "<memory>") {
    auto source = std::shared_ptr<FileSource>(new FileSource(std::move(name)));
    source->memory_ = std::move(bytes);
    source->size_ = source->memory_.size();
    return source;
  }

  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  ~FileSource() {
    if (mapped_ != nullptr) ::munmap(const_cast<std::uint8_t*>(mapped_), size_);
    if (descriptor_ >= 0) ::close(descriptor_);
  }

  const std::string& path() const noexcept { return path_; }
  std::uint64_t size() const noexcept { return size_; }

  /// Reads exactly `count` bytes at `offset` into `out`.
  void read(std::uint64_t offset, std::size_t count, std::uint8_t* out, std::string_view what) const {
    if (offset > size_ || count > size_ - offset) {
      throw FileError(path_, "truncated or corrupted file: " + std::string(what) + " at offset " +
                                 std::to_string(offset) + " (+" + std::to_string(count) +
                                 " bytes) lies beyond the end of the file (" +
                                 std::to_string(size_) + " bytes)");
    }
    if (const std::uint8_t* bytes = direct(offset)) {
      if (count != 0) std::memcpy(out, bytes, count);
      return;
    }
    std::size_t done = 0;
    while (done < count) {
      const ssize_t got = ::pread(descriptor_, out + done, count - done,
                                  static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        throw FileError(path_, "read error for " + std::string(what) + ": " +
                                   (got < 0 ? std::strerror(errno) : "unexpected end of file"));
      }
      done += static_cast<std::size_t>(got);
    }
  }

  /// The bytes [offset, offset + count) without copying, or nullptr when the file is read with
  /// pread. Throws like read() for a range outside the file.
  const std::uint8_t* view(std::uint64_t offset, std::size_t count, std::string_view what) const {
    if (offset > size_ || count > size_ - offset) {
      std::uint8_t dummy = 0;
      read(offset, count, &dummy, what);  // throws
    }
    return direct(offset);
  }

  std::vector<std::uint8_t> read(std::uint64_t offset, std::size_t count, std::string_view what) const {
    if (offset > size_ || count > size_ - offset) {
      std::uint8_t dummy = 0;
      read(offset, count, &dummy, what);  // throws the message above
    }
    std::vector<std::uint8_t> bytes(count);
    read(offset, count, bytes.data(), what);
    return bytes;
  }

 private:
  explicit FileSource(std::string path) : path_(std::move(path)) {}

  const std::uint8_t* direct(std::uint64_t offset) const noexcept {
    if (mapped_ != nullptr) return mapped_ + offset;
    if (descriptor_ < 0) return memory_.data() + offset;
    return nullptr;
  }

  std::string path_;
  int descriptor_ = -1;
  std::uint64_t size_ = 0;
  std::vector<std::uint8_t> memory_;
  const std::uint8_t* mapped_ = nullptr;
};

}  // namespace deepjet::root
