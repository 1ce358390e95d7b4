// ROOT's compressed-block framing with all four codecs, several blocks in one record, and a
// synthetic basket whose record is split over blocks of different algorithms.
#include <gtest/gtest.h>

#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "deepjet/io/root.hpp"

namespace {

using deepjet::FileError;
namespace root = deepjet::root;

std::vector<std::uint8_t> sample_bytes(std::size_t size) {
  std::vector<std::uint8_t> bytes(size);
  std::uint32_t state = 7;
  for (std::size_t i = 0; i < size; ++i) {
    state = state * 1103515245u + 12345u;
    bytes[i] = static_cast<std::uint8_t>((i / 64) % 7 + ((state >> 16) & 3));  // compressible
  }
  return bytes;
}

void append_header(std::vector<std::uint8_t>& out, const char* algorithm, std::size_t compressed, std::size_t raw) {
  out.push_back(static_cast<std::uint8_t>(algorithm[0]));
  out.push_back(static_cast<std::uint8_t>(algorithm[1]));
  out.push_back(algorithm[0] == 'Z' && algorithm[1] == 'L' ? 8 : 1);
  for (std::size_t value : {compressed, raw}) {
    out.push_back(static_cast<std::uint8_t>(value));
    out.push_back(static_cast<std::uint8_t>(value >> 8));
    out.push_back(static_cast<std::uint8_t>(value >> 16));
  }
}

/// One ROOT block of `algorithm` ("ZL", "ZS", "L4", "XZ") holding `raw`.
std::vector<std::uint8_t> block(const std::string& algorithm, const std::uint8_t* raw, std::size_t size) {
  std::vector<std::uint8_t> packed(size * 2 + 1024);
  std::size_t length = 0;
  if (algorithm == "ZL") {
    uLongf out = static_cast<uLongf>(packed.size());
    EXPECT_EQ(compress2(packed.data(), &out, raw, static_cast<uLong>(size), 6), Z_OK);
    length = out;
  } else if (algorithm == "ZS") {
    length = ZSTD_compress(packed.data(), packed.size(), raw, size, 5);
    EXPECT_FALSE(ZSTD_isError(length));
  } else if (algorithm == "L4") {
    const int out = LZ4_compress_default(reinterpret_cast<const char*>(raw), reinterpret_cast<char*>(packed.data()),
                                         static_cast<int>(size), static_cast<int>(packed.size()));
    EXPECT_GT(out, 0);
    length = static_cast<std::size_t>(out);
  } else {
    EXPECT_EQ(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr, raw, size, packed.data(), &length, packed.size()),
              LZMA_OK);
  }
  std::vector<std::uint8_t> out;
  if (algorithm == "L4") {
    append_header(out, "L4", length + 8, size);
    const std::uint64_t checksum = root::xxhash64(packed.data(), length);
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(checksum >> shift));
  } else {
    append_header(out, algorithm.c_str(), length, size);
  }
  out.insert(out.end(), packed.begin(), packed.begin() + static_cast<std::ptrdiff_t>(length));
  return out;
}

TEST(Blocks, EveryCodecAndSeveralBlocksInOneRecord) {
  const auto raw = sample_bytes(40000);
  std::vector<std::uint8_t> record;
  const std::vector<std::string> algorithms{"ZL", "ZS", "L4", "XZ"};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto one = block(algorithms[i], raw.data() + i * 10000, 10000);
    record.insert(record.end(), one.begin(), one.end());
    // Each codec alone.
    std::vector<std::uint8_t> out(10000);
    root::decompress_blocks(one.data(), one.size(), out.data(), out.size(), "mem", algorithms[i]);
    EXPECT_TRUE(std::equal(out.begin(), out.end(), raw.begin() + static_cast<std::ptrdiff_t>(i * 10000))) << algorithms[i];
  }
  std::vector<std::uint8_t> out(raw.size());
  root::check_compressed_sizes(record.data(), record.size(), out.size(), "mem", "record");
  root::decompress_blocks(record.data(), record.size(), out.data(), out.size(), "mem", "record");
  EXPECT_EQ(out, raw);
  // Asking for more than the blocks hold, or less, is an error.
  std::vector<std::uint8_t> bigger(raw.size() + 1);
  EXPECT_THROW(root::check_compressed_sizes(record.data(), record.size(), bigger.size(), "mem", "record"), FileError);
  EXPECT_THROW(root::decompress_blocks(record.data(), record.size(), bigger.data(), bigger.size(), "mem", "record"),
               FileError);
  EXPECT_THROW(root::check_compressed_sizes(record.data(), record.size(), raw.size() - 1, "mem", "record"), FileError);
  // Legacy and unknown algorithms are named.
  auto legacy = block("ZL", raw.data(), 100);
  legacy[0] = 'C';
  legacy[1] = 'S';
  try {
    root::decompress_blocks(legacy.data(), legacy.size(), out.data(), 100, "mem", "old basket");
    ADD_FAILURE();
  } catch (const FileError& error) {
    EXPECT_NE(std::string(error.what()).find("\"CS\""), std::string::npos) << error.what();
  }
}

/// A basket key (32-bit seeks) + TBasket header + record of `entries` big-endian floats, split over
/// two blocks (zstd, then lz4).
TEST(Blocks, BasketRecordOverSeveralBlocks) {
  const std::int32_t entries = 5000;
  std::vector<std::uint8_t> values;
  for (std::int32_t i = 0; i < entries; ++i) {
    const float value = static_cast<float>(i) * 0.5f;
    std::uint32_t bits;
    std::memcpy(&bits, &value, 4);
    for (int shift = 24; shift >= 0; shift -= 8) values.push_back(static_cast<std::uint8_t>(bits >> shift));
  }
  std::vector<std::uint8_t> payload = block("ZS", values.data(), 12000);
  const auto second = block("L4", values.data() + 12000, values.size() - 12000);
  payload.insert(payload.end(), second.begin(), second.end());

  const std::string class_name = "TBasket", name = "x", title = "t";
  const std::int16_t key_bytes = static_cast<std::int16_t>(4 + 2 + 4 + 4 + 2 + 2 + 4 + 4 + 3 + class_name.size() +
                                                           name.size() + title.size() + 2 + 4 + 4 + 4 + 4 + 1);
  std::vector<std::uint8_t> basket;
  auto put = [&](auto value) {
    for (int shift = 8 * (static_cast<int>(sizeof(value)) - 1); shift >= 0; shift -= 8) {
      basket.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(value) >> shift));
    }
  };
  auto put_string = [&](const std::string& text) {
    basket.push_back(static_cast<std::uint8_t>(text.size()));
    basket.insert(basket.end(), text.begin(), text.end());
  };
  put(static_cast<std::int32_t>(key_bytes + payload.size()));   // fNbytes
  put(static_cast<std::int16_t>(4));                            // key version: 32-bit seeks
  put(static_cast<std::int32_t>(values.size()));                // fObjlen
  put(static_cast<std::uint32_t>(0));                           // fDatime
  put(key_bytes);
  put(static_cast<std::int16_t>(1));                            // fCycle
  put(static_cast<std::int32_t>(1000));                         // fSeekKey
  put(static_cast<std::int32_t>(100));                          // fSeekPdir
  put_string(class_name);
  put_string(name);
  put_string(title);
  put(static_cast<std::int16_t>(3));                            // TBasket version
  put(static_cast<std::int32_t>(32000));                        // fBufferSize
  put(static_cast<std::int32_t>(4));                            // fNevBufSize
  put(entries);                                                 // fNevBuf
  put(static_cast<std::int32_t>(key_bytes + values.size()));    // fLast: no entry offsets
  basket.push_back(0);
  ASSERT_EQ(basket.size(), static_cast<std::size_t>(key_bytes));
  basket.insert(basket.end(), payload.begin(), payload.end());

  const root::BasketLocation location{0, 1000, static_cast<std::int32_t>(basket.size())};
  const root::LoadedBasket loaded = root::decode_basket(basket.data(), basket.size(), location, "mem", "basket");
  EXPECT_EQ(loaded.entries, entries);
  EXPECT_TRUE(loaded.offsets.empty());
  EXPECT_EQ(loaded.data, values);
  // The wrong size in the basket table is caught.
  const root::BasketLocation wrong{0, 1000, static_cast<std::int32_t>(basket.size()) - 1};
  EXPECT_THROW(root::decode_basket(basket.data(), basket.size() - 1, wrong, "mem", "basket"), FileError);
}

}  // namespace
