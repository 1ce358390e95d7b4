// deepjet/core/atomic_file.hpp: write a file so that readers see the old content or the new one,
// never half of it.
//
// Contract: AtomicFile names a temporary path beside the destination ("<dest>.tmp-<pid>-<n>");
// the caller writes the whole file there, then calls commit(), which flushes it to disk and
// renames it over the destination. If commit() is never reached (an exception, a full disk), the
// destructor removes the temporary and the destination is untouched.
#pragma once

#include "deepjet/core/error.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <fcntl.h>
#include <unistd.h>

namespace deepjet {

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path destination)
      : destination_(std::move(destination)), temporary_(make_temporary_name(destination_)) {}

  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  ~AtomicFile() {
    if (!committed_) {
      std::error_code ignored;
      std::filesystem::remove(temporary_, ignored);
    }
  }

  /// Where to write the content.
  const std::filesystem::path& temporary_path() const noexcept { return temporary_; }
  const std::filesystem::path& destination() const noexcept { return destination_; }

  /// Flush the finished temporary file to disk and move it over the destination.
  void commit() {
    sync_file(temporary_);
    std::error_code error;
    std::filesystem::rename(temporary_, destination_, error);
    if (error) {
      throw FileError(destination_.string(), "cannot move the finished temporary file " +
                                                 temporary_.string() + " into place: " +
                                                 error.message());
    }
    committed_ = true;
  }

 private:
  static std::filesystem::path make_temporary_name(const std::filesystem::path& destination) {
    static std::atomic<unsigned> counter{0};
    return std::filesystem::path(destination.string() + ".tmp-" + std::to_string(::getpid()) +
                                 "-" + std::to_string(counter++));
  }

  static void sync_file(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) {
      throw FileError(path.string(), std::string("cannot reopen to flush: ") + std::strerror(errno));
    }
    const int status = ::fsync(fd);
    const int saved_errno = errno;
    ::close(fd);
    if (status != 0) {
      throw FileError(path.string(), std::string("cannot flush to disk: ") + std::strerror(saved_errno));
    }
  }

  std::filesystem::path destination_;
  std::filesystem::path temporary_;
  bool committed_ = false;
};

/// Write `text` to `path` atomically (a reader sees the old file or the whole new one).
inline void write_text_file(const std::filesystem::path& path, const std::string& text) {
  AtomicFile file(path);
  {
    std::ofstream out(file.temporary_path(), std::ios::binary | std::ios::trunc);
    if (!out) throw FileError(file.temporary_path().string(), "cannot open for writing");
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out.flush()) throw FileError(path.string(), "cannot write (is the disk full?)");
  }
  file.commit();
}

}  // namespace deepjet
