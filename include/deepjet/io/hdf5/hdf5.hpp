// deepjet/io/hdf5/hdf5.hpp: the small part of HDF5 deepjet uses, with errors that name the file.
//
// Contract: File opens or creates one HDF5 file and closes it exactly once. Every failure throws
// deepjet::FileError carrying the file's path and what was being done; HDF5's own error stack
// printing is switched off while deepjet calls into HDF5, so users see one clear message.
// Datasets are float32/int64/uint64 arrays with any number of dimensions; attributes are strings
// or 64-bit integers; paths like "parameters/0/weight" create intermediate groups.
//
// Mode::create builds the file in memory (HDF5's core driver) and close() writes it to disk with
// plain POSIX writes. Why: when HDF5 itself hits a write error (a full disk), it keeps the file
// half-open and crashes at program exit; writing the finished image ourselves turns a full disk
// into an ordinary exception. Files written this way must fit in memory (model files do).
// Mode::stream writes to disk as it goes, for files larger than memory (training data): datasets
// made by create_rows grow by append_rows in compressed chunks; read_rows reads any row range.
// Attributes may sit on the file (object ".") or on any group or dataset.
#pragma once

#include "deepjet/core/error.hpp"

#include <hdf5.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace deepjet::hdf5 {

/// Asks HDF5, before its first use, not to run its clean-up at program exit. Why: after a write
/// error (a full disk) HDF5 keeps the failed file in its tables and its exit handler crashes on it
/// (a segmentation fault after the program has finished). deepjet closes every file it opens, so
/// nothing is lost; a program that used HDF5 before deepjet keeps HDF5's own behaviour.
inline void skip_hdf5_exit_handler() {
  static const bool done = [] {
    H5dont_atexit();
    return true;
  }();
  (void)done;
}

/// Switches HDF5's automatic error printing off for its lifetime (restores it afterwards).
class QuietErrors {
 public:
  QuietErrors() {
    skip_hdf5_exit_handler();
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
    QuietErrors quiet;
    const bool ok = closer_(id_) >= 0;
    id_ = -1;
    return ok;
  }

 private:
  void reset() {
    if (id_ >= 0) {
      QuietErrors quiet;  // closing after a failed write reports errors nobody can act on
      closer_(id_);
    }
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

/// What a dataset stores per value: its kind and size in bytes.
struct StoredType {
  enum class Kind { signed_integer, unsigned_integer, floating, other };
  Kind kind = Kind::other;
  std::size_t size = 0;
};

/// An array read from a dataset: its dimensions and values in row-major order.
template <class T>
struct Array {
  std::vector<std::size_t> shape;
  std::vector<T> values;
};

class File {
 public:
  enum class Mode { read, create, stream };

  File(std::filesystem::path path, Mode mode) : path_(std::move(path)) {
    QuietErrors quiet;
    if (mode == Mode::create) {
      Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
      H5Pset_fapl_core(access.get(), std::size_t{1} << 20, /*backing_store=*/0);
      file_ = Handle(H5Fcreate(path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get()), H5Fclose);
      if (!file_.valid()) fail("cannot create the file in memory");
      in_memory_ = true;
    } else if (mode == Mode::stream) {
      file_ = Handle(H5Fcreate(path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
      if (!file_.valid()) fail("cannot create the file (is the directory writable?)");
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
      if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0 || !file_.close())
        fail("cannot finish writing the file (is the disk full?)");
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

  void write_attribute(const std::string& name, const std::string& value, const std::string& object = ".") {
    QuietErrors quiet;
    Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), value.empty() ? 1 : value.size());
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    Handle attribute(H5Acreate_by_name(file_.get(), object.c_str(), name.c_str(), type.get(), space.get(),
                                       H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                     H5Aclose);
    if (!attribute.valid() || H5Awrite(attribute.get(), type.get(), value.empty() ? "" : value.data()) < 0)
      fail("cannot write attribute '" + name + "'");
  }

  void write_attribute(const std::string& name, std::uint64_t value, const std::string& object = ".") {
    QuietErrors quiet;
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    Handle attribute(H5Acreate_by_name(file_.get(), object.c_str(), name.c_str(), H5T_NATIVE_UINT64, space.get(),
                                       H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                     H5Aclose);
    if (!attribute.valid() || H5Awrite(attribute.get(), H5T_NATIVE_UINT64, &value) < 0)
      fail("cannot write attribute '" + name + "'");
  }

  bool has_attribute(const std::string& name, const std::string& object = ".") const {
    QuietErrors quiet;
    return H5Aexists_by_name(file_.get(), object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
  }

  std::string read_string_attribute(const std::string& name, const std::string& object = ".") const {
    QuietErrors quiet;
    Handle attribute(H5Aopen_by_name(file_.get(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!attribute.valid()) fail("has no attribute '" + name + "' on '" + object + "'");
    Handle type(H5Aget_type(attribute.get()), H5Tclose);
    if (H5Tget_class(type.get()) != H5T_STRING) fail("attribute '" + name + "' is not a string");
    if (H5Tis_variable_str(type.get()) > 0) {
      // h5py and Keras write variable-length strings: HDF5 allocates the copy, we free it.
      Handle space(H5Aget_space(attribute.get()), H5Sclose);
      if (H5Sget_simple_extent_npoints(space.get()) != 1) fail("attribute '" + name + "' is not a single string");
      char* text = nullptr;
      if (H5Aread(attribute.get(), type.get(), &text) < 0) fail("cannot read attribute '" + name + "'");
      std::string value = text ? text : "";
      H5free_memory(text);
      return value;
    }
    std::string value(H5Tget_size(type.get()), '\0');
    if (H5Aread(attribute.get(), type.get(), value.data()) < 0) fail("cannot read attribute '" + name + "'");
    while (!value.empty() && value.back() == '\0') value.pop_back();
    return value;
  }

  /// A one-dimensional array of strings (fixed-length, as h5py stores lists of names, or
  /// variable-length); an empty array of any type (h5py's empty list) gives no strings.
  std::vector<std::string> read_string_list_attribute(const std::string& name, const std::string& object = ".") const {
    QuietErrors quiet;
    Handle attribute(H5Aopen_by_name(file_.get(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!attribute.valid()) fail("has no attribute '" + name + "' on '" + object + "'");
    Handle type(H5Aget_type(attribute.get()), H5Tclose);
    Handle space(H5Aget_space(attribute.get()), H5Sclose);
    const hssize_t count = H5Sget_simple_extent_npoints(space.get());
    if (count < 0) fail("cannot read attribute '" + name + "' on '" + object + "'");
    std::vector<std::string> values;
    if (count == 0) return values;
    if (H5Tget_class(type.get()) != H5T_STRING) fail("attribute '" + name + "' on '" + object + "' is not a list of strings");
    const auto n = static_cast<std::size_t>(count);
    if (H5Tis_variable_str(type.get()) > 0) {
      std::vector<char*> texts(n, nullptr);
      if (H5Aread(attribute.get(), type.get(), texts.data()) < 0) fail("cannot read attribute '" + name + "' on '" + object + "'");
      for (char* text : texts) {
        values.emplace_back(text ? text : "");
        H5free_memory(text);
      }
      return values;
    }
    const std::size_t size = H5Tget_size(type.get());
    std::vector<char> bytes(n * size);
    if (H5Aread(attribute.get(), type.get(), bytes.data()) < 0) fail("cannot read attribute '" + name + "' on '" + object + "'");
    for (std::size_t i = 0; i < n; ++i) {
      std::string value(bytes.data() + i * size, size);
      value.resize(std::min(value.find('\0'), value.size()));
      values.push_back(value);
    }
    return values;
  }

  /// Writes a list of strings as h5py does: fixed-length strings, one-dimensional (an empty list
  /// is an empty array).
  void write_attribute(const std::string& name, const std::vector<std::string>& values, const std::string& object = ".") {
    QuietErrors quiet;
    std::size_t size = 1;
    for (const auto& v : values) size = std::max(size, v.size());
    std::vector<char> bytes(values.size() * size, '\0');
    for (std::size_t i = 0; i < values.size(); ++i) std::copy(values[i].begin(), values[i].end(), bytes.begin() + static_cast<std::ptrdiff_t>(i * size));
    Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), size);
    H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
    const hsize_t count = values.size();
    Handle space(H5Screate_simple(1, &count, nullptr), H5Sclose);
    Handle attribute(H5Acreate_by_name(file_.get(), object.c_str(), name.c_str(), type.get(), space.get(),
                                       H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                     H5Aclose);
    if (!attribute.valid() || (count > 0 && H5Awrite(attribute.get(), type.get(), bytes.data()) < 0))
      fail("cannot write attribute '" + name + "'");
  }

  std::uint64_t read_integer_attribute(const std::string& name, const std::string& object = ".") const {
    QuietErrors quiet;
    Handle attribute(H5Aopen_by_name(file_.get(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!attribute.valid()) fail("has no attribute '" + name + "' on '" + object + "'");
    std::uint64_t value = 0;
    if (H5Aread(attribute.get(), H5T_NATIVE_UINT64, &value) < 0) fail("cannot read attribute '" + name + "'");
    return value;
  }

  /// Create a group (and any missing parents); an existing group is fine.
  void create_group(const std::string& name) {
    QuietErrors quiet;
    if (exists(name)) return;
    Handle links(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    H5Pset_create_intermediate_group(links.get(), 1);
    Handle group(H5Gcreate2(file_.get(), name.c_str(), links.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!group.valid()) fail("cannot create group '" + name + "'");
  }

  // ---- datasets that grow by rows (Mode::stream) ---------------------------------------------

  /// Create an empty dataset of rows of `row_shape` (empty for scalars) that append_rows extends;
  /// stored in chunks of `chunk_rows` rows, byte-shuffled and deflated at `deflate_level` (0: off).
  template <class T>
  void create_rows(const std::string& name, const std::vector<std::size_t>& row_shape, std::size_t chunk_rows,
                   int deflate_level = 4) {
    QuietErrors quiet;
    std::vector<hsize_t> dims{0}, max_dims{H5S_UNLIMITED}, chunk{std::max<hsize_t>(1, chunk_rows)};
    for (auto d : row_shape) {
      dims.push_back(d);
      max_dims.push_back(d);
      chunk.push_back(std::max<std::size_t>(1, d));
    }
    Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), max_dims.data()), H5Sclose);
    Handle properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(properties.get(), static_cast<int>(chunk.size()), chunk.data());
    if (deflate_level > 0) {
      H5Pset_shuffle(properties.get());
      H5Pset_deflate(properties.get(), static_cast<unsigned>(deflate_level));
    }
    Handle links(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    H5Pset_create_intermediate_group(links.get(), 1);
    Handle dataset(H5Dcreate2(file_.get(), name.c_str(), native_type<T>(), space.get(), links.get(),
                              properties.get(), H5P_DEFAULT),
                   H5Dclose);
    if (!dataset.valid()) fail("cannot create dataset '" + name + "'");
  }

  /// Append `rows` rows (row-major values) to a dataset made by create_rows.
  template <class T>
  void append_rows(const std::string& name, const T* values, std::size_t rows) {
    if (rows == 0) return;
    QuietErrors quiet;
    Handle dataset(H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!dataset.valid()) fail("has no dataset '" + name + "'");
    std::vector<hsize_t> dims = dimensions(dataset.get());
    const hsize_t first = dims[0];
    dims[0] += rows;
    if (H5Dset_extent(dataset.get(), dims.data()) < 0) fail("cannot grow dataset '" + name + "'");
    Handle file_space(H5Dget_space(dataset.get()), H5Sclose);
    std::vector<hsize_t> start(dims.size(), 0), count = dims;
    start[0] = first;
    count[0] = rows;
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
    Handle memory_space(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
    if (H5Dwrite(dataset.get(), native_type<T>(), memory_space.get(), file_space.get(), H5P_DEFAULT, values) < 0)
      fail("cannot write to dataset '" + name + "' (is the disk full?)");
  }

  /// The dimensions of a dataset (the first counts rows).
  std::vector<std::size_t> shape(const std::string& name) const {
    QuietErrors quiet;
    Handle dataset(H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!dataset.valid()) fail("has no dataset '" + name + "'");
    const auto dims = dimensions(dataset.get());
    return {dims.begin(), dims.end()};
  }

  /// The stored value type of a dataset.
  StoredType stored_type(const std::string& name) const {
    QuietErrors quiet;
    Handle dataset(H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!dataset.valid()) fail("has no dataset '" + name + "'");
    Handle type(H5Dget_type(dataset.get()), H5Tclose);
    StoredType stored;
    stored.size = H5Tget_size(type.get());
    switch (H5Tget_class(type.get())) {
      case H5T_INTEGER:
        stored.kind = H5Tget_sign(type.get()) == H5T_SGN_NONE ? StoredType::Kind::unsigned_integer
                                                             : StoredType::Kind::signed_integer;
        break;
      case H5T_FLOAT: stored.kind = StoredType::Kind::floating; break;
      default: break;
    }
    return stored;
  }

  /// Rows [first, first + rows) of a dataset, converted to T; values row-major.
  template <class T>
  std::vector<T> read_rows(const std::string& name, std::size_t first, std::size_t rows) const {
    QuietErrors quiet;
    Handle dataset(H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!dataset.valid()) fail("has no dataset '" + name + "'");
    const std::vector<hsize_t> dims = dimensions(dataset.get());
    if (dims.empty() || first + rows > dims[0])
      fail("dataset '" + name + "' has " + std::to_string(dims.empty() ? 0 : dims[0]) + " rows; rows " +
           std::to_string(first) + " to " + std::to_string(first + rows) + " were asked for");
    std::size_t row_size = 1;
    for (std::size_t i = 1; i < dims.size(); ++i) row_size *= dims[i];
    std::vector<T> values(rows * row_size);
    if (rows == 0) return values;
    Handle file_space(H5Dget_space(dataset.get()), H5Sclose);
    std::vector<hsize_t> start(dims.size(), 0), count = dims;
    start[0] = first;
    count[0] = rows;
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
    Handle memory_space(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
    if (H5Dread(dataset.get(), native_type<T>(), memory_space.get(), file_space.get(), H5P_DEFAULT, values.data()) < 0)
      fail("cannot read dataset '" + name + "': the file is damaged or truncated");
    return values;
  }

  /// Names of the links (datasets and groups) directly inside a group, in name order.
  std::vector<std::string> list(const std::string& group) const {
    QuietErrors quiet;
    std::vector<std::string> names;
    auto collect = [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
      static_cast<std::vector<std::string>*>(out)->emplace_back(name);
      return 0;
    };
    if (H5Literate_by_name(file_.get(), group.c_str(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect, &names,
                            H5P_DEFAULT) < 0)
      fail("has no group '" + group + "'");
    return names;
  }

 private:
  static std::vector<hsize_t> dimensions(hid_t dataset) {
    Handle space(H5Dget_space(dataset), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    return dims;
  }

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
