// deepjet/io/hdf5/hdf5.hpp: the small part of HDF5 deepjet uses, with errors that name the file.
//
// Contract: File opens or creates one HDF5 file and closes it exactly once. Every failure throws
// deepjet::FileError carrying the file's path and what was being done; HDF5's own error stack
// printing is switched off while deepjet calls into HDF5, so users see one clear message.
// Datasets are float32/int64/uint64 arrays with any number of dimensions; attributes are strings
// or 64-bit integers; paths like "parameters/0/weight" create intermediate groups.
//
// A created file is built in memory (HDF5's core driver) and written to disk by close() with
// plain POSIX writes. Why: when HDF5 itself hits a write error (a full disk), it keeps the file
// half-open and crashes at program exit; writing the finished image ourselves turns a full disk
// into an ordinary exception. Files written this way must fit in memory (model files do).
#pragma once

#include "deepjet/core/error.hpp"

#include <hdf5.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace deepjet::hdf5 {

/// Switches HDF5's automatic error printing off for its lifetime (restores it afterwards).
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &function_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, function_, data_); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t function_ = nullptr;
  void* data_ = nullptr;
};

/// Owns one HDF5 identifier and closes it with the matching H5*close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, -1)), closer_(other.closer_) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, -1);
      closer_ = other.closer_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  /// Close now and report whether HDF5 managed to (a failed close can mean unwritten data).
  bool close() {
    if (id_ < 0) return true;
    const bool ok = closer_(id_) >= 0;
    id_ = -1;
    return ok;
  }

 private:
  void reset() {
    if (id_ >= 0) closer_(id_);
    id_ = -1;
  }
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

template <class T>
hid_t native_type();
template <> inline hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <> inline hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <> inline hid_t native_type<std::int64_t>() { return H5T_NATIVE_INT64; }
template <> inline hid_t native_type<std::uint64_t>() { return H5T_NATIVE_UINT64; }
template <> inline hid_t native_type<std::int32_t>() { return H5T_NATIVE_INT32; }
template <> inline hid_t native_type<std::uint8_t>() { return H5T_NATIVE_UINT8; }

/// An array read from a dataset: its dimensions and values in row-major order.
template <class T>
struct Array {
  std::vector<std::size_t> shape;
  std::vector<T> values;
};

class File {
 public:
  enum class Mode { read, create };

  File(std::filesystem::path path, Mode mode) : path_(std::move(path)) {
    QuietErrors quiet;
    if (mode == Mode::create) {
      Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
      H5Pset_fapl_core(access.get(), std::size_t{1} << 20, /*backing_store=*/0);
      file_ = Handle(H5Fcreate(path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get()), H5Fclose);
      if (!file_.valid()) fail("cannot create the file in memory");
      in_memory_ = true;
    } else {
      if (!std::filesystem::exists(path_)) fail("no such file");
      if (H5Fis_hdf5(path_.c_str()) <= 0) fail("not an HDF5 file (or its header is damaged)");
      file_ = Handle(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
      if (!file_.valid()) fail("cannot open the HDF5 file: it is truncated or damaged");
    }
  }

  const std::filesystem::path& path() const { return path_; }
  hid_t id() const { return file_.get(); }

  /// Finish the file: a created file is written to disk now (throws if that fails, e.g. on a
  /// full disk, leaving a partial file for the caller to remove); a read file is closed.
  void close() {
    QuietErrors quiet;
    if (!in_memory_) {
      file_.close();
      return;
    }
    if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0) fail("cannot finish the file in memory");
    const ssize_t size = H5Fget_file_image(file_.get(), nullptr, 0);
    if (size < 0) fail("cannot finish the file in memory");
    std::vector<char> image(static_cast<std::size_t>(size));
    if (H5Fget_file_image(file_.get(), image.data(), image.size()) != size) fail("cannot finish the file in memory");
    file_.close();
    write_bytes(image);
  }

  [[noreturn]] void fail(const std::string& problem) const { throw FileError(path_.string(), problem); }

  bool exists(const std::string& object_path) const {
    QuietErrors quiet;
    std::size_t position = 0;
    while (true) {
      position = object_path.find('/', position + 1);
      const std::string prefix = object_path.substr(0, position);
      if (H5Lexists(file_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
      if (position == std::string::npos) return true;
    }
  }

  template <class T>
  void write(const std::string& name, const T* values, const std::vector<std::size_t>& shape) {
    QuietErrors quiet;
    std::vector<hsize_t> dims(shape.begin(), shape.end());
    Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
    Handle links(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    H5Pset_create_intermediate_group(links.get(), 1);
    Handle dataset(H5Dcreate2(file_.get(), name.c_str(), native_type<T>(), space.get(), links.get(),
                              H5P_DEFAULT, H5P_DEFAULT),
                   H5Dclose);
    if (!dataset.valid()) fail("cannot create dataset '" + name + "'");
    if (H5Dwrite(dataset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0)
      fail("cannot write dataset '" + name + "' (is the disk full?)");
  }

  template <class T>
  Array<T> read(const std::string& name) const {
    QuietErrors quiet;
    Handle dataset(H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!dataset.valid()) fail("has no dataset '" + name + "'");
    Handle space(H5Dget_space(dataset.get()), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) fail("cannot read the shape of dataset '" + name + "'");
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    Array<T> array;
    std::size_t count = 1;
    for (auto d : dims) {
      array.shape.push_back(static_cast<std::size_t>(d));
      count *= static_cast<std::size_t>(d);
    }
    array.values.resize(count);
    if (count > 0 && H5Dread(dataset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                             array.values.data()) < 0)
      fail("cannot read dataset '" + name + "': the file is damaged or truncated");
    return array;
  }

  void write_attribute(const std::string& name, const std::string& value) {
    QuietErrors quiet;
    Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), value.empty() ? 1 : value.size());
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    Handle attribute(H5Acreate2(file_.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                     H5Aclose);
    if (!attribute.valid() || H5Awrite(attribute.get(), type.get(), value.empty() ? "" : value.data()) < 0)
      fail("cannot write attribute '" + name + "'");
  }

  void write_attribute(const std::string& name, std::uint64_t value) {
    QuietErrors quiet;
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    Handle attribute(H5Acreate2(file_.get(), name.c_str(), H5T_NATIVE_UINT64, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                     H5Aclose);
    if (!attribute.valid() || H5Awrite(attribute.get(), H5T_NATIVE_UINT64, &value) < 0)
      fail("cannot write attribute '" + name + "'");
  }

  bool has_attribute(const std::string& name) const {
    QuietErrors quiet;
    return H5Aexists(file_.get(), name.c_str()) > 0;
  }

  std::string read_string_attribute(const std::string& name) const {
    QuietErrors quiet;
    Handle attribute(H5Aopen(file_.get(), name.c_str(), H5P_DEFAULT), H5Aclose);
    if (!attribute.valid()) fail("has no attribute '" + name + "'");
    Handle type(H5Aget_type(attribute.get()), H5Tclose);
    if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) > 0)
      fail("attribute '" + name + "' is not a fixed-length string");
    std::string value(H5Tget_size(type.get()), '\0');
    if (H5Aread(attribute.get(), type.get(), value.data()) < 0) fail("cannot read attribute '" + name + "'");
    while (!value.empty() && value.back() == '\0') value.pop_back();
    return value;
  }

  std::uint64_t read_integer_attribute(const std::string& name) const {
    QuietErrors quiet;
    Handle attribute(H5Aopen(file_.get(), name.c_str(), H5P_DEFAULT), H5Aclose);
    if (!attribute.valid()) fail("has no attribute '" + name + "'");
    std::uint64_t value = 0;
    if (H5Aread(attribute.get(), H5T_NATIVE_UINT64, &value) < 0) fail("cannot read attribute '" + name + "'");
    return value;
  }

 private:
  void write_bytes(const std::vector<char>& bytes) const {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail(std::string("cannot create the file: ") + std::strerror(errno));
    std::size_t written = 0;
    while (written < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int error = n < 0 ? errno : ENOSPC;
        ::close(fd);
        fail("cannot write the file after " + std::to_string(written) + " of " + std::to_string(bytes.size()) +
             " bytes: " + std::strerror(error));
      }
      written += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0) fail(std::string("cannot finish writing the file: ") + std::strerror(errno));
  }

  std::filesystem::path path_;
  Handle file_;
  bool in_memory_ = false;
};

}  // namespace deepjet::hdf5
