// deepjet/io/root/byte_writer.hpp: the writing side of ByteCursor and object_buffer.hpp: ROOT's
// big-endian serialization as TBufferFile produces it.
//
// Contract: ByteWriter appends big-endian numbers, TStrings and C strings, and frames objects the
// way ROOT does: class-version headers with a byte count (begin_versioned/end_versioned) and
// polymorphic object pointers (begin_object/end_object) with the class named on first use and
// referred to by tag afterwards. Tags and object references count from the start of the key that
// will hold the record (`origin` = its fKeylen), which is how ROOT numbers them, so the reader's
// ReferenceTable and JSROOT resolve them. A record too large for a byte count (1 GiB) throws.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "deepjet/core/error.hpp"
#include "deepjet/io/root/object_buffer.hpp"

namespace deepjet::root {

/// Stores `value` big-endian at `out` (sizeof(T) bytes).
template <class T>
inline void store_big_endian(std::uint8_t* out, T value) noexcept {
  static_assert(std::is_arithmetic_v<T>);
  using Raw = std::conditional_t<sizeof(T) == 1, std::uint8_t,
              std::conditional_t<sizeof(T) == 2, std::uint16_t,
              std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>>;
  Raw raw;
  std::memcpy(&raw, &value, sizeof(T));
  for (int i = static_cast<int>(sizeof(T)) - 1; i >= 0; --i) {
    out[i] = static_cast<std::uint8_t>(raw & 0xFF);
    if constexpr (sizeof(T) > 1) raw = static_cast<Raw>(raw >> 8);
  }
}

class ByteWriter {
 public:
  /// `origin`: the fKeylen of the key this record goes into (0 for key headers themselves).
  explicit ByteWriter(std::int64_t origin = 0) : origin_(origin) {}

  template <class T>
  void put(T value) {
    const std::size_t at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    store_big_endian(bytes_.data() + at, value);
  }

  void put_bytes(const std::uint8_t* data, std::size_t size) { bytes_.insert(bytes_.end(), data, data + size); }

  /// TString: one length byte, or 255 and a 32-bit length for 255 characters and more.
  void tstring(std::string_view text) {
    if (text.size() < 255) {
      put<std::uint8_t>(static_cast<std::uint8_t>(text.size()));
    } else {
      put<std::uint8_t>(255);
      put<std::int32_t>(static_cast<std::int32_t>(text.size()));
    }
    put_bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  }

  /// A NUL-terminated class name (object headers).
  void cstring(std::string_view text) {
    put_bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    put<std::uint8_t>(0);
  }

  /// A class-version header with a byte count to be filled in by end_versioned().
  std::size_t begin_versioned(std::int16_t version) {
    const std::size_t start = bytes_.size();
    put<std::uint32_t>(0);
    put<std::int16_t>(version);
    return start;
  }
  void end_versioned(std::size_t start) { patch_byte_count(start); }

  /// TObject as ROOT streams it: version 1 without byte count, unique id, status bits.
  void tobject(std::uint32_t bits = 0x03000000) {
    put<std::int16_t>(1);
    put<std::uint32_t>(0);
    put<std::uint32_t>(bits);
  }

  void tnamed(std::string_view name, std::string_view title) {
    const std::size_t start = begin_versioned(1);
    tobject();
    tstring(name);
    tstring(title);
    end_versioned(start);
  }

  /// A null object pointer.
  void null_pointer() { put<std::uint32_t>(0); }

  /// Starts a non-null object pointer to a new object of `class_name`; returns its start, which
  /// end_object() and object_tag() take.
  std::size_t begin_object(const std::string& class_name) {
    const std::size_t start = bytes_.size();
    put<std::uint32_t>(0);  // byte count, patched by end_object
    auto found = class_tags_.find(class_name);
    if (found != class_tags_.end()) {
      put<std::uint32_t>(found->second | kClassMask);
    } else {
      class_tags_[class_name] = tag_at(bytes_.size());
      put<std::uint32_t>(kNewClassTag);
      cstring(class_name);
    }
    return start;
  }
  void end_object(std::size_t start) { patch_byte_count(start); }

  /// The tag by which later pointers refer to the object that begins at `start`.
  std::uint32_t object_tag(std::size_t start) const { return tag_at(start); }
  /// A pointer to an object already written in this record.
  void object_reference(std::uint32_t tag) { put<std::uint32_t>(tag); }

  std::size_t size() const noexcept { return bytes_.size(); }
  const std::vector<std::uint8_t>& bytes() const noexcept { return bytes_; }
  std::vector<std::uint8_t> take() { return std::move(bytes_); }

 private:
  std::uint32_t tag_at(std::size_t position) const {
    return static_cast<std::uint32_t>(static_cast<std::int64_t>(position) + origin_ + kMapOffset);
  }

  void patch_byte_count(std::size_t start) {
    const std::size_t count = bytes_.size() - start - 4;
    if (count >= kByteCountMask) throw Error("ROOT writer: object of " + std::to_string(count) + " bytes exceeds ROOT's 1 GiB limit");
    store_big_endian(bytes_.data() + start, static_cast<std::uint32_t>(count) | kByteCountMask);
  }

  std::int64_t origin_;
  std::vector<std::uint8_t> bytes_;
  std::map<std::string, std::uint32_t> class_tags_;
};

}  // namespace deepjet::root
