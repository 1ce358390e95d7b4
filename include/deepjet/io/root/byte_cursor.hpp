// deepjet/io/root/byte_cursor.hpp: bounds-checked reading of ROOT's big-endian serialisation.
//
// Contract: a ByteCursor walks a byte range it does not own. Every read checks that the bytes
// exist first; reading past the end throws deepjet::FileError("<path>: truncated ... while
// reading <what>") and never touches memory outside the range. Values are decoded from
// big-endian (ROOT's on-disk order) with memcpy, so unaligned data is fine.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "deepjet/core/error.hpp"

namespace deepjet::root {

/// Decodes one big-endian value of an arithmetic type from `bytes` (which must hold sizeof(T)).
template <class T>
inline T load_big_endian(const std::uint8_t* bytes) noexcept {
  static_assert(std::is_arithmetic_v<T>);
  if constexpr (sizeof(T) == 1) {
    T value;
    std::memcpy(&value, bytes, 1);
    return value;
  } else {
    using Raw = std::conditional_t<sizeof(T) == 2, std::uint16_t,
                                   std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>;
    Raw raw;
    std::memcpy(&raw, bytes, sizeof(T));
    if constexpr (std::endian::native == std::endian::little) {
      if constexpr (sizeof(T) == 2) raw = __builtin_bswap16(raw);
      if constexpr (sizeof(T) == 4) raw = __builtin_bswap32(raw);
      if constexpr (sizeof(T) == 8) raw = __builtin_bswap64(raw);
    }
    T value;
    std::memcpy(&value, &raw, sizeof(T));
    return value;
  }
}

class ByteCursor {
 public:
  /// `origin_offset` is what ROOT calls the displacement of the first byte: object references
  /// inside a key's payload count from the start of the key, so the payload starts at fKeylen.
  ByteCursor(const std::uint8_t* begin, std::size_t size, std::string_view path,
             std::int64_t origin_offset = 0) noexcept
      : begin_(begin), size_(size), position_(0), origin_offset_(origin_offset), path_(path) {}

  std::size_t position() const noexcept { return position_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t remaining() const noexcept { return size_ - position_; }
  const std::uint8_t* data() const noexcept { return begin_; }
  const std::uint8_t* here() const noexcept { return begin_ + position_; }
  std::string_view path() const noexcept { return path_; }
  /// Position as ROOT's object-reference tables count it.
  std::int64_t displacement() const noexcept {
    return origin_offset_ + static_cast<std::int64_t>(position_);
  }

  [[noreturn]] void fail(const std::string& problem) const {
    throw FileError(std::string(path_), problem);
  }

  void require(std::size_t count, std::string_view what) const {
    if (count > remaining()) {
      fail("truncated data: needed " + std::to_string(count) + " bytes for " + std::string(what) +
           " but only " + std::to_string(remaining()) + " remain");
    }
  }

  void seek(std::size_t position, std::string_view what) {
    if (position > size_) {
      fail("invalid position " + std::to_string(position) + " for " + std::string(what) +
           " (record has " + std::to_string(size_) + " bytes)");
    }
    position_ = position;
  }

  void skip(std::size_t count, std::string_view what) {
    require(count, what);
    position_ += count;
  }

  template <class T>
  T read(std::string_view what) {
    require(sizeof(T), what);
    T value = load_big_endian<T>(begin_ + position_);
    position_ += sizeof(T);
    return value;
  }

  std::int8_t i8(std::string_view what) { return read<std::int8_t>(what); }
  std::uint8_t u8(std::string_view what) { return read<std::uint8_t>(what); }
  std::int16_t i16(std::string_view what) { return read<std::int16_t>(what); }
  std::uint16_t u16(std::string_view what) { return read<std::uint16_t>(what); }
  std::int32_t i32(std::string_view what) { return read<std::int32_t>(what); }
  std::uint32_t u32(std::string_view what) { return read<std::uint32_t>(what); }
  std::int64_t i64(std::string_view what) { return read<std::int64_t>(what); }
  double f64(std::string_view what) { return read<double>(what); }

  /// ROOT's TString: one length byte, or 255 followed by a 4-byte length.
  std::string tstring(std::string_view what) {
    std::size_t length = u8(what);
    if (length == 255) length = u32(what);
    require(length, what);
    std::string value(reinterpret_cast<const char*>(here()), length);
    position_ += length;
    return value;
  }

  /// A NUL-terminated string (class names in object headers).
  std::string cstring(std::string_view what) {
    const void* end = std::memchr(here(), 0, remaining());
    if (end == nullptr) fail("unterminated string while reading " + std::string(what));
    std::size_t length = static_cast<const std::uint8_t*>(end) - here();
    std::string value(reinterpret_cast<const char*>(here()), length);
    position_ += length + 1;
    return value;
  }

 private:
  const std::uint8_t* begin_;
  std::size_t size_;
  std::size_t position_;
  std::int64_t origin_offset_;
  std::string_view path_;
};

}  // namespace deepjet::root
