// Seeds for the ROOT reader's fuzzer, written by deepjet's own writer at test time (no binary
// seeds in the repository): small files whose trees hold the reader's newer paths (vectors of
// vectors, strings, counted arrays, std::vector, Double32_t / Float16_t leaves in every packing),
// uncompressed and with each codec, in tiny baskets. Each file becomes a mode-0 seed (the whole
// file); its first basket of each kind also becomes a mode-1 seed (one on-disk basket).
//   make_seeds OUTPUT_DIRECTORY
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "deepjet/io/root.hpp"
#include "deepjet/io/root_writer.hpp"

namespace {

namespace root = deepjet::root;

void write_seed(const std::filesystem::path& path, std::uint8_t mode, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.put(static_cast<char>(mode));
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_tree(root::TreeWriter& tree, std::size_t entries) {
  tree.add_branch<float>("x")
      .add_counted_branch<float>("counted", "n")
      .add_vector_branch<std::int16_t>("vector")
      .add_nested_vector_branch<float>("nested")
      .add_string_branch("text")
      .add_double32_branch("d32")
      .add_double32_branch("d32_range", "[-pi,pi,12]", 2)
      .add_counted_double32_branch("d32_mantissa", "n", "[0,0,8]")
      .add_float16_branch("f16")
      .add_counted_float16_branch("f16_range", "n", "[0,10]");
  std::vector<float> x, values;
  std::vector<double> doubles;
  std::vector<std::int16_t> shorts;
  std::vector<std::int64_t> offsets{0}, inner{0}, outer{0};
  std::vector<std::string> text;
  for (std::size_t e = 0; e < entries; ++e) {
    x.push_back(0.5f * static_cast<float>(e));
    offsets.push_back(offsets.back() + static_cast<std::int64_t>(e % 3));
    for (std::size_t j = 0; j < e % 3; ++j) shorts.push_back(static_cast<std::int16_t>(e * 7 + j));
    for (std::size_t j = 0; j < e % 2; ++j) {
      for (std::size_t k = 0; k < j + 1; ++k) values.push_back(static_cast<float>(e + k));
      inner.push_back(static_cast<std::int64_t>(values.size()));
    }
    outer.push_back(static_cast<std::int64_t>(inner.size() - 1));
    text.push_back(std::string(e % 4, static_cast<char>('a' + e % 26)));
  }
  for (std::size_t i = 0; i < 2 * entries; ++i) doubles.push_back(0.37 * static_cast<double>(i) - 2.0);
  std::vector<float> floats(doubles.begin(), doubles.end());
  tree.write<float>("x", x);
  tree.write_jagged<float>("counted", std::span<const float>(floats), offsets);
  tree.write_jagged<std::int16_t>("vector", shorts, offsets);
  tree.write_nested<float>("nested", values, inner, outer);
  tree.write_strings("text", text);
  tree.write<double>("d32", std::span<const double>(doubles.data(), entries));
  tree.write<double>("d32_range", doubles);
  tree.write_jagged<double>("d32_mantissa", std::span<const double>(doubles), offsets);
  tree.write<float>("f16", std::span<const float>(floats.data(), entries));
  tree.write_jagged<float>("f16_range", std::span<const float>(floats), offsets);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUTPUT_DIRECTORY\n");
    return 2;
  }
  const std::filesystem::path directory = argv[1];
  std::filesystem::create_directories(directory);
  const std::pair<const char*, root::CompressionSettings> settings[] = {
      {"none", root::CompressionSettings::none()}, {"zlib", root::CompressionSettings::zlib()},
      {"lz4", root::CompressionSettings::lz4()},   {"zstd", root::CompressionSettings::zstd()},
      {"lzma", root::CompressionSettings::lzma()}};
  for (const auto& [label, compression] : settings) {
    const std::filesystem::path path = directory / (std::string("written-") + label + ".root.tmp");
    root::WriteOptions options;
    options.compression = compression;
    options.basket_bytes = 64;  // many small baskets
    {
      root::FileWriter writer(path, options);
      write_tree(writer.make_tree("events"), 12);
      writer.close();
    }
    std::ifstream in(path, std::ios::binary);
    const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    write_seed(directory / (std::string("seed-written-") + label), 0, bytes);
    // One basket of each branch as a mode-1 seed.
    const root::File file(path.string());
    const root::Tree tree = file.tree("events");
    const auto source = root::FileSource::open(path.string());
    for (const auto& branch : tree.description().branches) {
      if (branch.baskets.empty()) continue;
      const root::RawBasket raw = root::read_raw_basket(*source, branch.baskets.front(), branch.name);
      write_seed(directory / (std::string("seed-basket-") + label + "-" + branch.name), 1, raw.bytes);
    }
    std::filesystem::remove(path);
  }
  return 0;
}
