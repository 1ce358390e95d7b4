// deepjet/io/root/decompress.hpp: ROOT's compressed-block framing and the four codecs.
//
// Contract: decompress_blocks() turns the payload of a compressed key or basket (one or more
// blocks, each with ROOT's 9-byte header "ZL"/"XZ"/"L4"/"ZS" + method + 3-byte compressed size +
// 3-byte uncompressed size) into exactly `output_size` bytes. Every size is checked against both
// buffers before a codec runs, the lz4 xxhash64 checksum is verified, and each block must produce
// exactly the size its header announces. Any mismatch, an unknown or legacy ("CS") algorithm, or a
// codec error throws deepjet::FileError naming the file and `what` (e.g. the branch and basket).
#pragma once

#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "deepjet/core/error.hpp"

namespace deepjet::root {

/// xxHash64 (seed 0 by default) as lz4-compressed ROOT blocks use for their checksum. Written
/// here because Debian's liblz4-dev does not install <xxhash.h>.
inline std::uint64_t xxhash64(const std::uint8_t* data, std::size_t size, std::uint64_t seed = 0) {
  constexpr std::uint64_t p1 = 0x9E3779B185EBCA87ULL, p2 = 0xC2B2AE3D27D4EB4FULL,
                          p3 = 0x165667B19E3779F9ULL, p4 = 0x85EBCA77C2B2AE63ULL,
                          p5 = 0x27D4EB2F165667C5ULL;
  auto rotl = [](std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); };
  auto read64 = [](const std::uint8_t* p) {  // xxhash reads little-endian words
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  };
  auto read32 = [](const std::uint8_t* p) {
    return std::uint64_t(p[0]) | std::uint64_t(p[1]) << 8 | std::uint64_t(p[2]) << 16 |
           std::uint64_t(p[3]) << 24;
  };
  auto round = [&](std::uint64_t acc, std::uint64_t input) {
    return rotl(acc + input * p2, 31) * p1;
  };
  const std::uint8_t* p = data;
  const std::uint8_t* end = data + size;
  std::uint64_t h;
  if (size >= 32) {
    std::uint64_t v1 = seed + p1 + p2, v2 = seed + p2, v3 = seed, v4 = seed - p1;
    while (end - p >= 32) {
      v1 = round(v1, read64(p));
      v2 = round(v2, read64(p + 8));
      v3 = round(v3, read64(p + 16));
      v4 = round(v4, read64(p + 24));
      p += 32;
    }
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
    for (std::uint64_t v : {v1, v2, v3, v4}) {
      h ^= round(0, v);
      h = h * p1 + p4;
    }
  } else {
    h = seed + p5;
  }
  h += static_cast<std::uint64_t>(size);
  while (end - p >= 8) {
    h ^= round(0, read64(p));
    h = rotl(h, 27) * p1 + p4;
    p += 8;
  }
  if (end - p >= 4) {
    h ^= read32(p) * p1;
    h = rotl(h, 23) * p2 + p3;
    p += 4;
  }
  while (p < end) {
    h ^= static_cast<std::uint64_t>(*p) * p5;
    h = rotl(h, 11) * p1;
    ++p;
  }
  h ^= h >> 33;
  h *= p2;
  h ^= h >> 29;
  h *= p3;
  h ^= h >> 32;
  return h;
}

namespace detail {

// Decompression contexts are reused per thread: creating one per basket (as ZSTD_decompress and
// zlib's uncompress do) costs about as much as decompressing a small basket.
struct ZstdContext {
  ZSTD_DCtx* context = ZSTD_createDCtx();
  ~ZstdContext() { ZSTD_freeDCtx(context); }
};

struct ZlibContext {
  z_stream stream{};
  bool initialised = false;
  ~ZlibContext() {
    if (initialised) inflateEnd(&stream);
  }
};

/// Inflates one zlib stream; returns the bytes produced, or -1 if the data is not a complete,
/// valid stream that fits in `output_size`.
inline long long inflate_zlib(const std::uint8_t* input, std::size_t input_size, std::uint8_t* output,
                              std::size_t output_size) {
  thread_local ZlibContext zlib;
  if (!zlib.initialised) {
    if (inflateInit(&zlib.stream) != Z_OK) return -1;
    zlib.initialised = true;
  } else if (inflateReset(&zlib.stream) != Z_OK) {
    return -1;
  }
  zlib.stream.next_in = const_cast<Bytef*>(input);
  zlib.stream.avail_in = static_cast<uInt>(input_size);
  zlib.stream.next_out = output;
  zlib.stream.avail_out = static_cast<uInt>(output_size);
  const int status = inflate(&zlib.stream, Z_FINISH);
  if (status != Z_STREAM_END) return -1;
  return static_cast<long long>(output_size - zlib.stream.avail_out);
}

inline ZSTD_DCtx* zstd_context() {
  thread_local ZstdContext zstd;
  return zstd.context;
}

}  // namespace detail

/// Size of ROOT's per-block header.
inline constexpr std::size_t compressed_block_header_size = 9;

/// Decompresses ROOT blocks from [input, input+input_size) into exactly output_size bytes.
inline void decompress_blocks(const std::uint8_t* input, std::size_t input_size,
                              std::uint8_t* output, std::size_t output_size,
                              std::string_view path, std::string_view what) {
  auto fail = [&](const std::string& problem) -> void {
    throw FileError(std::string(path), std::string(what) + ": " + problem);
  };
  std::size_t in = 0;
  std::size_t out = 0;
  while (out < output_size) {
    if (input_size - in < compressed_block_header_size) {
      fail("compressed data ends after " + std::to_string(out) + " of " +
           std::to_string(output_size) + " bytes were produced");
    }
    const std::uint8_t* header = input + in;
    const std::size_t block_in = header[3] | (header[4] << 8) | (std::size_t(header[5]) << 16);
    const std::size_t block_out = header[6] | (header[7] << 8) | (std::size_t(header[8]) << 16);
    const std::string algorithm(reinterpret_cast<const char*>(header), 2);
    in += compressed_block_header_size;
    if (block_in > input_size - in) {
      fail("compressed block of " + std::to_string(block_in) + " bytes overruns its record");
    }
    if (block_out == 0 || block_out > output_size - out) {
      fail("compressed block announces " + std::to_string(block_out) +
           " bytes but the record expects " + std::to_string(output_size - out) + " more");
    }
    const std::uint8_t* source = input + in;
    std::uint8_t* target = output + out;
    std::size_t produced = 0;
    if (algorithm == "ZL") {
      const long long length = detail::inflate_zlib(source, block_in, target, block_out);
      if (length < 0) fail("zlib error (corrupted data)");
      produced = static_cast<std::size_t>(length);
    } else if (algorithm == "XZ") {
      std::uint64_t memory_limit = UINT64_MAX;
      std::size_t in_position = 0;
      std::size_t out_position = 0;
      const lzma_ret status = lzma_stream_buffer_decode(&memory_limit, 0, nullptr, source,
                                                        &in_position, block_in, target,
                                                        &out_position, block_out);
      if (status != LZMA_OK) fail("lzma error " + std::to_string(int(status)) + " (corrupted data)");
      produced = out_position;
    } else if (algorithm == "L4") {
      constexpr std::size_t checksum_size = 8;
      if (block_in < checksum_size) fail("lz4 block too short for its checksum");
      std::uint64_t expected = 0;
      for (std::size_t i = 0; i < checksum_size; ++i) expected = (expected << 8) | source[i];
      const std::uint8_t* payload = source + checksum_size;
      const std::size_t payload_size = block_in - checksum_size;
      if (xxhash64(payload, payload_size) != expected) fail("lz4 block checksum mismatch");
      const int status = LZ4_decompress_safe(reinterpret_cast<const char*>(payload),
                                             reinterpret_cast<char*>(target),
                                             static_cast<int>(payload_size),
                                             static_cast<int>(block_out));
      if (status < 0) fail("lz4 error (corrupted data)");
      produced = static_cast<std::size_t>(status);
    } else if (algorithm == "ZS") {
      ZSTD_DCtx* context = detail::zstd_context();
      if (context == nullptr) fail("cannot create a zstd context");
      const std::size_t status = ZSTD_decompressDCtx(context, target, block_out, source, block_in);
      if (ZSTD_isError(status)) fail(std::string("zstd error: ") + ZSTD_getErrorName(status));
      produced = status;
    } else if (algorithm == "CS") {
      fail("legacy ROOT compression \"CS\" (ROOT < 3) is not supported");
    } else {
      fail("unknown compression algorithm (header bytes 0x" +
           [&] {
             static const char* digits = "0123456789abcdef";
             std::string hex;
             for (int i = 0; i < 2; ++i) {
               hex += digits[header[i] >> 4];
               hex += digits[header[i] & 15];
             }
             return hex;
           }() + ")");
    }
    if (produced != block_out) {
      fail("block decompressed to " + std::to_string(produced) + " bytes, header says " +
           std::to_string(block_out));
    }
    in += block_in;
    out += block_out;
  }
}

}  // namespace deepjet::root
