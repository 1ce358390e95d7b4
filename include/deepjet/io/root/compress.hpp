// deepjet/io/root/compress.hpp: the writing side of decompress.hpp: ROOT's compressed-block
// framing with the four codecs ROOT writes.
//
// Contract: compress_blocks() turns a record into ROOT's compressed form: blocks of at most
// 0xFFFFFF input bytes, each with the 9-byte header (algorithm "ZL" method 8 / "XZ" 0 / "L4" lz4
// major version / "ZS" 1, 3-byte little-endian compressed and uncompressed sizes) followed by a
// zlib stream, an xz stream, an lz4 block preceded by its big-endian xxhash64 checksum, or a zstd
// frame. It returns an empty vector when the record should be stored as it is, exactly as ROOT
// decides: compression disabled, or the compressed form not smaller than the input.
// compress_blocks_into() does the same into a buffer the caller reuses.
// CompressionSettings::code() is ROOT's fCompress (100 * algorithm + level).
#pragma once

#include <lz4.h>
#include <lz4hc.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "deepjet/core/error.hpp"
#include "deepjet/io/root/byte_writer.hpp"
#include "deepjet/io/root/decompress.hpp"

namespace deepjet::root {

enum class Compression { none, zlib, lzma, lz4, zstd };

struct CompressionSettings {
  Compression algorithm = Compression::zlib;
  int level = 1;  // ROOT's default file compression is zlib at level 1 (fCompress = 101)

  static CompressionSettings none() { return {Compression::none, 0}; }
  static CompressionSettings zlib(int level = 1) { return {Compression::zlib, level}; }
  static CompressionSettings lzma(int level = 7) { return {Compression::lzma, level}; }
  static CompressionSettings lz4(int level = 4) { return {Compression::lz4, level}; }
  static CompressionSettings zstd(int level = 5) { return {Compression::zstd, level}; }

  /// ROOT's fCompress: 100 * algorithm (1 zlib, 2 lzma, 4 lz4, 5 zstd) + level; 0 = none.
  int code() const noexcept {
    switch (algorithm) {
      case Compression::none: return 0;
      case Compression::zlib: return 100 + level;
      case Compression::lzma: return 200 + level;
      case Compression::lz4: return 400 + level;
      case Compression::zstd: return 500 + level;
    }
    return 0;
  }

  bool enabled() const noexcept { return algorithm != Compression::none && level > 0; }

  /// Throws if the level is outside what ROOT and the codec accept (1-9; zstd up to 22).
  void check() const {
    if (algorithm == Compression::none) return;
    const int top = algorithm == Compression::zstd ? 22 : 9;
    if (level < 1 || level > top) {
      throw Error("ROOT writer: compression level " + std::to_string(level) + " is outside 1.." + std::to_string(top));
    }
  }
};

/// Largest input of one compressed block (three bytes hold its size).
inline constexpr std::size_t max_block_input = 0xFFFFFF;

namespace detail {

/// Compresses one block into `out` (after its header); returns the payload size, or 0 if it does
/// not fit in `capacity` bytes (then the record is stored uncompressed).
inline std::size_t compress_one_block(const CompressionSettings& settings, const std::uint8_t* input,
                                      std::size_t size, std::uint8_t* out, std::size_t capacity) {
  switch (settings.algorithm) {
    case Compression::zlib: {
      z_stream stream{};
      if (deflateInit(&stream, settings.level) != Z_OK) throw Error("ROOT writer: cannot initialise zlib");
      stream.next_in = const_cast<Bytef*>(input);
      stream.avail_in = static_cast<uInt>(size);
      stream.next_out = out;
      stream.avail_out = static_cast<uInt>(capacity);
      const int status = deflate(&stream, Z_FINISH);
      const std::size_t produced = capacity - stream.avail_out;
      deflateEnd(&stream);
      return status == Z_STREAM_END ? produced : 0;
    }
    case Compression::lzma: {
      // ROOT writes one xz stream per block with a CRC32 check, from the streaming encoder at
      // the "easy" preset of the level. The streaming encoder leaves the sizes out of the block
      // header, so it is 12 bytes long as in ROOT's files (JSROOT relies on that length). The
      // dictionary never needs to exceed the block: capping it keeps each encoder small (the
      // presets reserve up to 64 MiB, which would dominate the time of every small basket).
      lzma_options_lzma lzma_options;
      if (lzma_lzma_preset(&lzma_options, static_cast<std::uint32_t>(settings.level))) {
        throw Error("ROOT writer: unknown lzma preset " + std::to_string(settings.level));
      }
      lzma_options.dict_size = std::max<std::uint32_t>(
          LZMA_DICT_SIZE_MIN, static_cast<std::uint32_t>(std::min<std::size_t>(lzma_options.dict_size, size)));
      const lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &lzma_options}, {LZMA_VLI_UNKNOWN, nullptr}};
      lzma_stream stream = LZMA_STREAM_INIT;
      if (lzma_stream_encoder(&stream, filters, LZMA_CHECK_CRC32) != LZMA_OK) {
        throw Error("ROOT writer: cannot initialise lzma");
      }
      stream.next_in = input;
      stream.avail_in = size;
      stream.next_out = out;
      stream.avail_out = capacity;
      const lzma_ret status = lzma_code(&stream, LZMA_FINISH);
      const std::size_t produced = capacity - stream.avail_out;
      lzma_end(&stream);
      return status == LZMA_STREAM_END ? produced : 0;
    }
    case Compression::lz4: {
      // An 8-byte big-endian xxhash64 of the compressed bytes precedes them (readers verify it).
      constexpr std::size_t checksum_size = 8;
      if (capacity <= checksum_size) return 0;
      const int room = static_cast<int>(std::min<std::size_t>(capacity - checksum_size, 0x7FFFFFFF));
      const char* source = reinterpret_cast<const char*>(input);
      char* target = reinterpret_cast<char*>(out + checksum_size);
      // Like ROOT: the fast compressor below level 4, the high-compression one from 4 on.
      const int produced = settings.level >= 4
                               ? LZ4_compress_HC(source, target, static_cast<int>(size), room, settings.level)
                               : LZ4_compress_default(source, target, static_cast<int>(size), room);
      if (produced <= 0) return 0;
      store_big_endian(out, xxhash64(out + checksum_size, static_cast<std::size_t>(produced)));
      return checksum_size + static_cast<std::size_t>(produced);
    }
    case Compression::zstd: {
      const std::size_t status = ZSTD_compress(out, capacity, input, size, settings.level);
      return ZSTD_isError(status) ? 0 : status;
    }
    case Compression::none: return 0;
  }
  return 0;
}

}  // namespace detail

/// Compresses [input, input + size) into `out` (resized to the compressed size; its capacity is
/// reused, so a caller compressing many records allocates once). Returns false, leaving `out`
/// empty, when the record should be stored as it is.
inline bool compress_blocks_into(const std::uint8_t* input, std::size_t size, const CompressionSettings& settings,
                                 std::vector<std::uint8_t>& out) {
  out.clear();
  if (!settings.enabled() || size == 0) return false;
  settings.check();
  // The whole result must be smaller than the input; a block that does not shrink ends the attempt.
  out.resize(size);
  std::size_t written = 0;
  for (std::size_t done = 0; done < size;) {
    const std::size_t block = std::min(max_block_input, size - done);
    if (out.size() - written <= compressed_block_header_size) return out.clear(), false;
    const std::size_t capacity = std::min(out.size() - written - compressed_block_header_size, max_block_input);
    std::uint8_t* header = out.data() + written;
    const std::size_t payload =
        detail::compress_one_block(settings, input + done, block, header + compressed_block_header_size, capacity);
    if (payload == 0) return out.clear(), false;
    switch (settings.algorithm) {
      case Compression::zlib: header[0] = 'Z'; header[1] = 'L'; header[2] = Z_DEFLATED; break;
      case Compression::lzma: header[0] = 'X'; header[1] = 'Z'; header[2] = 0; break;
      case Compression::lz4:
        header[0] = 'L'; header[1] = '4';
        header[2] = static_cast<std::uint8_t>(LZ4_versionNumber() / (100 * 100));
        break;
      case Compression::zstd: header[0] = 'Z'; header[1] = 'S'; header[2] = 1; break;
      case Compression::none: return out.clear(), false;
    }
    for (int i = 0; i < 3; ++i) {
      header[3 + i] = static_cast<std::uint8_t>(payload >> (8 * i));
      header[6 + i] = static_cast<std::uint8_t>(block >> (8 * i));
    }
    written += compressed_block_header_size + payload;
    done += block;
  }
  if (written >= size) return out.clear(), false;
  out.resize(written);
  return true;
}

/// The compressed form of [input, input + size), or an empty vector to store it uncompressed.
inline std::vector<std::uint8_t> compress_blocks(const std::uint8_t* input, std::size_t size,
                                                 const CompressionSettings& settings) {
  std::vector<std::uint8_t> out;
  compress_blocks_into(input, size, settings, out);
  return out;
}

}  // namespace deepjet::root
