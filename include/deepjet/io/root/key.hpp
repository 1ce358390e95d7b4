// deepjet/io/root/key.hpp: TKey headers and the (possibly compressed) records they describe.
//
// Contract: parse_key() decodes a TKey header (32- or 64-bit seek variant) with every field
// bounds-checked; read_key() reads one at a file offset; read_key_payload() returns the record
// after the header, decompressed to exactly fObjlen bytes. Inconsistent sizes, records outside the
// file and damaged compressed data throw deepjet::FileError naming the file and the record.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "deepjet/io/root/byte_cursor.hpp"
#include "deepjet/io/root/decompress.hpp"
#include "deepjet/io/root/file_source.hpp"

namespace deepjet::root {

struct Key {
  std::int32_t total_bytes = 0;   // fNbytes: header + (compressed) record
  std::int16_t version = 0;
  std::int32_t object_bytes = 0;  // fObjlen: uncompressed record
  std::int16_t key_bytes = 0;     // fKeylen: header length
  std::int16_t cycle = 0;
  std::int64_t seek_key = 0;
  std::int64_t seek_parent = 0;
  std::string class_name;
  std::string name;
  std::string title;

  bool compressed() const noexcept { return object_bytes != total_bytes - key_bytes; }
};

/// Largest uncompressed record accepted; ROOT's own buffers cannot exceed 1 GiB.
inline constexpr std::int64_t max_record_bytes = std::int64_t(1) << 30;

inline Key parse_key(ByteCursor& cursor) {
  Key key;
  key.total_bytes = cursor.i32("TKey::fNbytes");
  key.version = cursor.i16("TKey::fVersion");
  key.object_bytes = cursor.i32("TKey::fObjlen");
  cursor.u32("TKey::fDatime");
  key.key_bytes = cursor.i16("TKey::fKeylen");
  key.cycle = cursor.i16("TKey::fCycle");
  if (key.version > 1000) {
    key.seek_key = cursor.i64("TKey::fSeekKey");
    key.seek_parent = cursor.i64("TKey::fSeekPdir");
  } else {
    key.seek_key = cursor.i32("TKey::fSeekKey");
    key.seek_parent = cursor.i32("TKey::fSeekPdir");
  }
  key.class_name = cursor.tstring("TKey::fClassName");
  key.name = cursor.tstring("TKey::fName");
  key.title = cursor.tstring("TKey::fTitle");
  if (key.key_bytes < 18 || key.total_bytes < key.key_bytes || key.object_bytes < 0 ||
      key.object_bytes > max_record_bytes || key.seek_key < 0) {
    cursor.fail("corrupted key header for \"" + key.name + "\"");
  }
  return key;
}

/// Reads the key header stored at `offset`.
inline Key read_key(const FileSource& source, std::uint64_t offset, std::string_view what) {
  constexpr std::size_t prefix = 18;  // up to and including fKeylen
  std::vector<std::uint8_t> head = source.read(offset, prefix, what);
  const std::int16_t key_bytes = load_big_endian<std::int16_t>(head.data() + 14);
  if (key_bytes < static_cast<std::int16_t>(prefix)) {
    throw FileError(source.path(), "corrupted key header for " + std::string(what));
  }
  head = source.read(offset, static_cast<std::size_t>(key_bytes), what);
  ByteCursor cursor(head.data(), head.size(), source.path());
  return parse_key(cursor);
}

/// Largest credible ratio of uncompressed to compressed size for one block.
inline constexpr std::size_t max_expansion_ratio = 1 << 16;

/// Walks the block headers of a compressed record and checks that they add up to the announced
/// uncompressed size, so a corrupted size never leads to a huge allocation.
inline void check_compressed_sizes(const std::uint8_t* input, std::size_t input_size,
                                   std::size_t output_size, std::string_view path,
                                   std::string_view what) {
  std::size_t in = 0;
  std::size_t out = 0;
  while (out < output_size) {
    if (input_size - in < compressed_block_header_size) break;  // decompress_blocks reports it
    const std::uint8_t* header = input + in;
    const std::size_t block_in = header[3] | (header[4] << 8) | (std::size_t(header[5]) << 16);
    const std::size_t block_out = header[6] | (header[7] << 8) | (std::size_t(header[8]) << 16);
    if (block_out == 0 || block_in > input_size - in - compressed_block_header_size) break;
    // No codec ROOT uses expands a block more than ~30000-fold (zstd on zeros); a larger claim is
    // corruption and must not become a huge allocation.
    if (block_out > (block_in + 1) * max_expansion_ratio) {
      throw FileError(std::string(path), std::string(what) + ": compressed block claims an impossible size");
    }
    in += compressed_block_header_size + block_in;
    out += block_out;
  }
  if (out != output_size) {
    throw FileError(std::string(path), std::string(what) + ": compressed blocks hold " +
                                           std::to_string(out) + " bytes but the record announces " +
                                           std::to_string(output_size));
  }
}

/// The record of a key, uncompressed. `origin` is fKeylen: object references count from the key.
struct Record {
  std::vector<std::uint8_t> bytes;
  std::int64_t origin = 0;
};

inline Record read_key_payload(const FileSource& source, const Key& key, std::string_view what) {
  const std::size_t stored = static_cast<std::size_t>(key.total_bytes - key.key_bytes);
  std::vector<std::uint8_t> raw =
      source.read(static_cast<std::uint64_t>(key.seek_key) + key.key_bytes, stored, what);
  Record record;
  record.origin = key.key_bytes;
  if (!key.compressed()) {
    record.bytes = std::move(raw);
    return record;
  }
  const std::size_t expanded = static_cast<std::size_t>(key.object_bytes);
  check_compressed_sizes(raw.data(), raw.size(), expanded, source.path(), what);
  record.bytes.resize(expanded);
  decompress_blocks(raw.data(), raw.size(), record.bytes.data(), expanded, source.path(), what);
  return record;
}

}  // namespace deepjet::root
