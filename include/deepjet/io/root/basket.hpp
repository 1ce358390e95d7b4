// deepjet/io/root/basket.hpp: loading one basket (the unit of compression of a branch).
//
// Contract: load_basket() reads the TKey + TBasket header of an on-disk basket, decompresses its
// record and splits it into entry data and, for variable-size entries, the entry offsets. It
// checks that the header agrees with the branch's basket table, that the offsets are monotonic and
// inside the data, and that sizes add up; any inconsistency throws deepjet::FileError naming the
// branch and the basket. embedded_basket() wraps a basket already stored in the TTree record.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "deepjet/io/root/byte_cursor.hpp"
#include "deepjet/io/root/decompress.hpp"
#include "deepjet/io/root/file_source.hpp"
#include "deepjet/io/root/key.hpp"
#include "deepjet/io/root/tree_metadata.hpp"

namespace deepjet::root {

/// An uncompressed basket: `entries` entries starting at `first_entry`. `data` holds the entry
/// bytes; `offsets` (entries + 1 values, last == data.size()) where entries vary in size, else
/// empty.
struct LoadedBasket {
  std::int64_t first_entry = 0;
  std::int32_t entries = 0;
  std::vector<std::uint8_t> data;
  std::vector<std::int32_t> offsets;
  std::size_t compressed_bytes = 0;  // bytes read from the file (for throughput figures)
};

namespace detail {

inline void check_offsets(const std::vector<std::int32_t>& offsets, std::size_t data_size,
                          const std::string& path, const std::string& what) {
  std::int64_t previous = 0;
  for (std::int32_t offset : offsets) {
    if (offset < previous || static_cast<std::size_t>(offset) > data_size) {
      throw FileError(path, what + ": corrupted entry offsets");
    }
    previous = offset;
  }
}

}  // namespace detail

/// Raw (still compressed) bytes of an on-disk basket, as read from the file.
struct RawBasket {
  std::vector<std::uint8_t> bytes;
};

inline RawBasket read_raw_basket(const FileSource& source, const BasketLocation& location,
                                 const std::string& what) {
  if (location.bytes <= 0 || location.seek <= 0) {
    throw FileError(source.path(), what + ": invalid basket location");
  }
  return RawBasket{source.read(static_cast<std::uint64_t>(location.seek),
                               static_cast<std::size_t>(location.bytes), what)};
}

/// Decodes a basket from its raw bytes (TKey + TBasket header + record).
inline LoadedBasket decode_basket(const std::uint8_t* raw_bytes, std::size_t raw_size,
                                  const BasketLocation& location, const std::string& path,
                                  const std::string& what) {
  ByteCursor cursor(raw_bytes, raw_size, path);
  const Key key = parse_key(cursor);
  // The TBasket fields (fVersion, fBufferSize, fNevBufSize, fNevBuf, fLast, flag: 19 bytes) end the
  // key header. Some writers leave a stray byte before them, so, like other readers, take fNevBuf
  // and fLast counting back from fKeylen.
  constexpr std::size_t basket_fields = 19;
  if (static_cast<std::size_t>(key.key_bytes) < cursor.position() + basket_fields ||
      static_cast<std::size_t>(key.key_bytes) > raw_size) {
    throw FileError(path, what + ": corrupted basket header");
  }
  cursor.seek(static_cast<std::size_t>(key.key_bytes) - 9, "TBasket::fNevBuf");
  const std::int32_t entries = cursor.i32("TBasket::fNevBuf");
  const std::int32_t last = cursor.i32("TBasket::fLast");
  if (key.total_bytes != location.bytes || key.key_bytes > key.total_bytes || entries < 0 ||
      last < key.key_bytes || last - key.key_bytes > key.object_bytes) {
    throw FileError(path, what + ": corrupted basket header");
  }
  LoadedBasket basket;
  basket.first_entry = location.first_entry;
  basket.entries = entries;
  basket.compressed_bytes = raw_size;
  const std::size_t stored = static_cast<std::size_t>(key.total_bytes - key.key_bytes);
  const std::uint8_t* payload = raw_bytes + key.key_bytes;
  const std::size_t expanded = static_cast<std::size_t>(key.object_bytes);
  std::vector<std::uint8_t> record;
  if (key.compressed()) {
    check_compressed_sizes(payload, stored, expanded, path, what);
    record.resize(expanded);
    decompress_blocks(payload, stored, record.data(), expanded, path, what);
  } else {
    record.assign(payload, payload + stored);
  }
  const std::size_t border = static_cast<std::size_t>(last - key.key_bytes);
  if (border < record.size()) {
    // Entry offsets follow the data: a count (fNevBuf + 1, ROOT writes one spare slot), then one
    // offset per entry, counted from the start of the key.
    ByteCursor offsets(record.data() + border, record.size() - border, path);
    const std::int32_t count = offsets.i32("basket entry offset count");
    if (count != entries && count != entries + 1) {
      throw FileError(path, what + ": corrupted entry offset table");
    }
    offsets.require(4 * static_cast<std::size_t>(entries), "basket entry offsets");
    basket.offsets.resize(static_cast<std::size_t>(entries) + 1);
    const std::uint8_t* table = offsets.here();
    std::int32_t previous = 0;
    bool ordered = true;
    for (std::int32_t i = 0; i < entries; ++i) {
      const std::int32_t offset = load_big_endian<std::int32_t>(table + 4 * static_cast<std::size_t>(i)) - key.key_bytes;
      ordered &= offset >= previous;
      basket.offsets[i] = previous = offset;
    }
    basket.offsets[entries] = static_cast<std::int32_t>(border);
    if (!ordered || previous > static_cast<std::int32_t>(border)) {
      throw FileError(path, what + ": corrupted entry offsets");
    }
  }
  record.resize(border);
  basket.data = std::move(record);
  return basket;
}

inline LoadedBasket decode_basket(const RawBasket& raw, const BasketLocation& location,
                                  const std::string& path, const std::string& what) {
  return decode_basket(raw.bytes.data(), raw.bytes.size(), location, path, what);
}

inline LoadedBasket load_basket(const FileSource& source, const BasketLocation& location,
                                const std::string& what) {
  if (location.bytes > 0 && location.seek > 0) {
    // Mapped or in-memory files are decoded in place, without copying the compressed bytes.
    if (const std::uint8_t* bytes = source.view(static_cast<std::uint64_t>(location.seek),
                                                static_cast<std::size_t>(location.bytes), what)) {
      return decode_basket(bytes, static_cast<std::size_t>(location.bytes), location, source.path(), what);
    }
  }
  return decode_basket(read_raw_basket(source, location, what), location, source.path(), what);
}

inline LoadedBasket embedded_basket(const EmbeddedBasket& embedded, const std::string& path,
                                    const std::string& what) {
  LoadedBasket basket;
  basket.first_entry = embedded.first_entry;
  basket.entries = embedded.entries;
  basket.data = embedded.data;
  if (!embedded.offsets.empty()) {
    basket.offsets = embedded.offsets;
    basket.offsets.push_back(static_cast<std::int32_t>(embedded.data.size()));
    detail::check_offsets(basket.offsets, embedded.data.size(), path, what);
  }
  return basket;
}

}  // namespace deepjet::root
