// Double32_t and Float16_t: ROOT's range specifications, the packed bytes the writer produces
// (checked against bytes worked out by hand from ROOT's TBufferFile::WriteDouble32/WriteFloat16),
// and leaves of every form (plain, [xmin,xmax], [xmin,xmax,nbits], [0,0,nbits]; scalars, fixed
// arrays, counted arrays) written by deepjet's writer and read back by deepjet's reader.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "../support/temporary_directory.hpp"
#include "root_test_support.hpp"
#include "root_writer_test_support.hpp"

namespace {

using deepjet::root::RealPacking;
using Form = deepjet::root::RealPacking::Form;
namespace t = deepjet::root::testing;

RealPacking packing_of(const std::string& title, bool float16) {
  RealPacking packing;
  std::string problem;
  EXPECT_TRUE(deepjet::root::real_packing_from_title(title, float16, packing, problem)) << title << ": " << problem;
  return packing;
}

TEST(PackedReals, RangeSpecificationsAreReadAsRootReadsThem) {
  // No range: Double32_t is a float, Float16_t a 12-bit mantissa.
  EXPECT_EQ(packing_of("", false).form, Form::as_float);
  EXPECT_EQ(packing_of("d", false).form, Form::as_float);
  RealPacking f16 = packing_of("", true);
  EXPECT_EQ(f16.form, Form::mantissa);
  EXPECT_EQ(f16.nbits, 12);
  // [xmin,xmax]: 32 bits, factor 0xFFFFFFFF / (xmax - xmin).
  RealPacking range = packing_of("d[0,10]", false);
  EXPECT_EQ(range.form, Form::range);
  EXPECT_EQ(range.factor, 4294967295.0 / 10.0);  // the same IEEE division
  // [xmin,xmax,nbits]: 2^nbits / (xmax - xmin).
  range = packing_of("[-5, 5, 16]", false);
  EXPECT_EQ(range.xmin, -5.0);
  EXPECT_EQ(range.xmax, 5.0);
  EXPECT_EQ(range.factor, 65536.0 / 10.0);
  // pi forms, and a dimension bracket before the range (member comments "[3][0,1,12]").
  range = packing_of("[-pi,pi,12]", true);
  EXPECT_EQ(range.xmin, -3.14159265358979323846);
  EXPECT_EQ(range.xmax, 3.14159265358979323846);
  EXPECT_EQ(packing_of("[0, 2*pi]", false).xmax, 2 * 3.14159265358979323846);
  EXPECT_EQ(packing_of("[-pi/2,pi/4]", false).xmin, -3.14159265358979323846 / 2);
  EXPECT_EQ(packing_of("[fN][0,3,8]", false).factor, 256.0 / 3.0);
  EXPECT_EQ(packing_of("[3][0,1,12]", true).factor, 4096.0);
  // [0,0,nbits]: a truncated mantissa below 15 bits; from 15 bits on, as if no range was given.
  RealPacking mantissa = packing_of("[0,0,10]", false);
  EXPECT_EQ(mantissa.form, Form::mantissa);
  EXPECT_EQ(mantissa.nbits, 10);
  EXPECT_EQ(packing_of("[0,0,20]", false).form, Form::as_float);
  EXPECT_EQ(packing_of("[0,0,20]", true).nbits, 12);
  // ROOT resets an out-of-range number of bits to 32.
  EXPECT_EQ(packing_of("[0,1,40]", false).factor, 4294967295.0);
}

TEST(PackedReals, ImpossibleSpecificationsAreRefused) {
  RealPacking packing;
  std::string problem;
  // Factor 0 and a negative fXmin (version-3 streamer elements store them as they are).
  EXPECT_FALSE(deepjet::root::real_packing_from_values(-5, -10, 0, false, packing, problem));
  EXPECT_NE(problem.find("mantissa bits"), std::string::npos) << problem;
  EXPECT_FALSE(deepjet::root::real_packing_from_values(40.1, 0, 0, true, packing, problem));
  EXPECT_FALSE(deepjet::root::real_packing_from_values(0, 1, std::nan(""), true, packing, problem));
}

/// A member branch of a split object of class "Track" whose streamer element is `element`.
deepjet::root::ColumnLayout member_layout(const deepjet::root::StreamerElement& element, std::int32_t kind = 0,
                                          const std::string& count_leaf = "") {
  deepjet::root::BranchDescription branch;
  branch.name = element.name;
  branch.class_name = "TBranchElement";
  branch.element_class = "Track";
  branch.element_id = 1;
  branch.element_kind = kind;
  deepjet::root::LeafDescription leaf;
  leaf.class_name = "TLeafElement";
  leaf.name = element.name;
  leaf.count_leaf = count_leaf;
  branch.leaves.push_back(leaf);
  deepjet::root::StreamerInfos infos;
  deepjet::root::StreamerElement first;
  first.name = "fN";
  first.type = 3;
  first.type_name = "int";
  infos["Track"] = deepjet::root::StreamerClass{"Track", 1, {first, element}};
  return deepjet::root::describe_column(branch, infos);
}

deepjet::root::StreamerElement element(std::int32_t type, const std::string& type_name, const std::string& title,
                                       bool has_range, std::int32_t array_length = 0) {
  deepjet::root::StreamerElement e;
  e.name = "fX";
  e.type = type;
  e.type_name = type_name;
  e.title = title;
  e.has_range = has_range;
  e.array_length = array_length;
  return e;
}

// Members of split objects (no shared file has them): the layout follows the streamer element.
TEST(PackedReals, MembersOfSplitObjectsTakeTheirPackingFromTheStreamerElement) {
  using Kind = deepjet::root::ColumnLayout::Kind;
  auto layout = member_layout(element(9, "Double32_t", "[0,100,16]", true));
  EXPECT_EQ(layout.kind, Kind::Fixed);
  EXPECT_EQ(layout.packing.form, Form::range);
  EXPECT_EQ(layout.packing.factor, 65536.0 / 100.0);
  EXPECT_EQ(layout.entry_bytes, 4u);
  // Without kHasRange ROOT ignores the comment.
  EXPECT_EQ(member_layout(element(9, "Double32_t", "[0,100,16]", false)).packing.form, Form::as_float);
  layout = member_layout(element(19, "Float16_t", "", false));
  EXPECT_EQ(layout.packing.form, Form::mantissa);
  EXPECT_EQ(layout.packing.nbits, 12);
  EXPECT_EQ(layout.entry_bytes, 3u);
  EXPECT_EQ(layout.type, deepjet::root::ValueType::Float32);
  // Fixed array member: Double32_t fV[3]; //[0,0,10]
  layout = member_layout(element(29, "Double32_t", "[0,0,10]", true, 3));
  EXPECT_EQ(layout.kind, Kind::Fixed);
  EXPECT_EQ(layout.values_per_entry, 3);
  EXPECT_EQ(layout.entry_bytes, 9u);
  EXPECT_EQ(layout.description, "Double32_t(10-bit mantissa)[3]");
  // Counted pointer: Float16_t* fP; //[fN][0,1,8] -- the first bracket is the dimension.
  layout = member_layout(element(59, "Float16_t*", "[fN][0,1,8]", true));
  EXPECT_EQ(layout.kind, Kind::Counted);
  EXPECT_EQ(layout.entry_header_bytes, 1u);
  EXPECT_EQ(layout.packing.factor, 256.0);
  // A member of a split collection of objects: one value per element, counted by the collection.
  layout = member_layout(element(9, "Double32_t", "[-1,1]", true), 41, "tracks_");
  EXPECT_EQ(layout.kind, Kind::Counted);
  EXPECT_EQ(layout.count_leaf, "tracks_");
  EXPECT_EQ(layout.packing.form, Form::range);
  // ROOT 3-era elements (version 3) carry the numbers.
  auto old = element(9, "Double32_t", "", false);
  old.explicit_range = true;
  old.xmin = 0;
  old.xmax = 1;
  old.factor = 1024;
  EXPECT_EQ(member_layout(old).packing.factor, 1024.0);
  // A range ROOT cannot decode makes the member unsupported, with the reason.
  old.factor = 0;
  old.xmin = 40.1;
  layout = member_layout(old);
  EXPECT_EQ(layout.kind, Kind::Unsupported);
  EXPECT_NE(layout.unsupported_reason.find("mantissa bits"), std::string::npos) << layout.unsupported_reason;
}

/// The packed bytes of one value, written by the writer's encoder.
template <class T>
std::vector<std::uint8_t> packed_bytes(T value, const std::string& title) {
  std::vector<std::uint8_t> out;
  const RealPacking packing = packing_of(title, std::is_same_v<T, float>);
  EXPECT_TRUE(deepjet::root::detail::append_packed(out, &value, 1, packing));
  return out;
}

TEST(PackedReals, WriterProducesRootsBytes) {
  using Bytes = std::vector<std::uint8_t>;
  // Plain Double32_t: the big-endian float.
  EXPECT_EQ(packed_bytes(1.0, ""), (Bytes{0x3F, 0x80, 0x00, 0x00}));
  // [0,10] (32 bits): 0.5 + 429496729.5 * 2.5 = 1073741824.25 -> 0x40000000.
  EXPECT_EQ(packed_bytes(2.5, "[0,10]"), (Bytes{0x40, 0x00, 0x00, 0x00}));
  // [0,10,16]: factor 6553.6; 0.5 + 6553.6 * 10 = 65536.5 -> 65536; values are clamped first.
  EXPECT_EQ(packed_bytes(10.0, "[0,10,16]"), (Bytes{0x00, 0x01, 0x00, 0x00}));
  EXPECT_EQ(packed_bytes(99.0, "[0,10,16]"), (Bytes{0x00, 0x01, 0x00, 0x00}));
  EXPECT_EQ(packed_bytes(-3.0, "[0,10,16]"), (Bytes{0x00, 0x00, 0x00, 0x00}));
  // [0,0,10]: -1.5f = 0xBFC00000: exponent byte 0x7F; mantissa bits 22..12 = 0x400, +1 >> 1 =
  // 0x200, sign in bit 11 -> 0x0A00.
  EXPECT_EQ(packed_bytes(-1.5, "[0,0,10]"), (Bytes{0x7F, 0x0A, 0x00}));
  // Rounding that would carry into the exponent saturates: 1.9999999f keeps mantissa 0x3FF.
  EXPECT_EQ(packed_bytes(1.9999999f, "[0,0,10]"), (Bytes{0x7F, 0x03, 0xFF}));
  // Float16_t without range: 12 bits. 3.0f = 0x40400000: exponent 0x80, mantissa 0x800 (13 bits
  // 0x1000 + 1 >> 1 = 0x800).
  EXPECT_EQ(packed_bytes(3.0f, ""), (Bytes{0x80, 0x08, 0x00}));
  // Float16_t with a range packs like Double32_t, from the float's value.
  EXPECT_EQ(packed_bytes(0.25f, "[0,1,8]"), (Bytes{0x00, 0x00, 0x00, 0x40}));
}

class PackedRealsFile : public deepjet::test::TemporaryDirectoryTest {
 protected:
  PackedRealsFile() : TemporaryDirectoryTest("deepjet-root-packed") {}
};

/// Values around and beyond the ranges used below.
std::vector<double> sample_reals(std::size_t count) {
  std::vector<double> values{0.0, 1.0, -1.0, 0.1, 3.14159, -2.5, 99.0, 1e-3, 12345.678, -0.0};
  for (std::size_t i = values.size(); i < count; ++i) values.push_back(std::sin(static_cast<double>(i)) * 12.0);
  values.resize(count);
  return values;
}

/// What ROOT reads back for `x` with `packing`: ROOT's read formulas on the bytes of the encoder
/// (checked byte by byte above), written out here independently of the reader.
double reference(double x, const RealPacking& packing, bool float16) {
  std::vector<std::uint8_t> bytes;
  if (float16) {
    const float value = static_cast<float>(x);
    EXPECT_TRUE(deepjet::root::detail::append_packed(bytes, &value, 1, packing));
  } else {
    EXPECT_TRUE(deepjet::root::detail::append_packed(bytes, &x, 1, packing));
  }
  const auto u32 = [&] { return std::uint32_t(bytes[0]) << 24 | std::uint32_t(bytes[1]) << 16 | std::uint32_t(bytes[2]) << 8 | bytes[3]; };
  double out = 0;
  if (packing.form == Form::as_float) {
    const std::uint32_t raw = u32();
    float value;
    std::memcpy(&value, &raw, 4);
    out = value;
  } else if (packing.form == Form::range) {
    out = u32() / packing.factor + packing.xmin;
  } else {
    const int nbits = packing.nbits;
    const std::uint32_t mantissa = std::uint32_t(bytes[1]) << 8 | bytes[2];
    std::uint32_t raw = std::uint32_t(bytes[0]) << 23;
    raw |= (mantissa & ((1u << (nbits + 1)) - 1)) << (23 - nbits);
    float value;
    std::memcpy(&value, &raw, 4);
    if (mantissa & (1u << (nbits + 1))) value = -value;
    out = value;
  }
  return float16 ? static_cast<double>(static_cast<float>(out)) : out;
}

TEST_F(PackedRealsFile, EveryFormReadsBackAsRootDecodesIt) {
  const std::vector<std::string> ranges{"", "[0,10]", "[-5,5,16]", "[-pi,pi,12]", "[0,0,10]", "[0,0,6]", "[0,0,20]"};
  constexpr std::size_t entries = 157;
  const std::vector<double> doubles = sample_reals(entries * 3);
  const std::vector<float> floats(doubles.begin(), doubles.end());
  std::vector<std::int64_t> offsets{0};
  for (std::size_t e = 0; e < entries; ++e) offsets.push_back(offsets.back() + static_cast<std::int64_t>(e % 4));
  const auto path = file("packed.root");
  {
    deepjet::root::WriteOptions options;
    options.basket_bytes = 200;  // several baskets per branch
    deepjet::root::FileWriter writer(path, options);
    auto& tree = writer.make_tree("events");
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      const std::string n = std::to_string(i);
      tree.add_double32_branch("d32_" + n, ranges[i]).add_double32_branch("d32_array_" + n, ranges[i], 3);
      tree.add_counted_double32_branch("d32_counted_" + n, "count", ranges[i]);
      tree.add_float16_branch("f16_" + n, ranges[i]).add_float16_branch("f16_array_" + n, ranges[i], 3);
      tree.add_counted_float16_branch("f16_counted_" + n, "count", ranges[i]);
    }
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      const std::string n = std::to_string(i);
      // Uneven chunks: 100 entries, then the rest.
      for (const auto& [first, last] : {std::pair<std::size_t, std::size_t>{0, 100}, {100, entries}}) {
        tree.write<double>("d32_" + n, std::span<const double>(doubles.data() + first, last - first));
        tree.write<double>("d32_array_" + n, std::span<const double>(doubles.data() + 3 * first, 3 * (last - first)));
        tree.write<float>("f16_" + n, std::span<const float>(floats.data() + first, last - first));
        tree.write<float>("f16_array_" + n, std::span<const float>(floats.data() + 3 * first, 3 * (last - first)));
        std::vector<std::int64_t> chunk(offsets.begin() + static_cast<std::ptrdiff_t>(first),
                                        offsets.begin() + static_cast<std::ptrdiff_t>(last) + 1);
        tree.write_jagged<double>("d32_counted_" + n, std::span<const double>(doubles), chunk);
        tree.write_jagged<float>("f16_counted_" + n, std::span<const float>(floats), chunk);
      }
    }
    writer.close();
  }
  const deepjet::root::File file(path.string());
  const deepjet::root::Tree tree = file.tree("events");
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const std::string n = std::to_string(i);
    for (const bool float16 : {false, true}) {
      const std::string prefix = float16 ? "f16_" : "d32_";
      const auto& info = tree.branch(prefix + n);
      ASSERT_TRUE(info.supported) << info.unsupported_reason;
      const RealPacking packing = info.layout.packing;
      EXPECT_EQ(packing.form, packing_of(ranges[i], float16).form) << ranges[i];
      EXPECT_EQ(info.layout.type, float16 ? deepjet::root::ValueType::Float32 : deepjet::root::ValueType::Float64);
      EXPECT_EQ(tree.branch(prefix + "array_" + n).layout.values_per_entry, 3);
      EXPECT_EQ(tree.branch(prefix + "counted_" + n).layout.count_leaf, "count");
      EXPECT_GT(tree.description().branches[0].baskets.size(), 1u);
      // Exact equality: reader and reference apply the same IEEE operations to the same bytes.
      const std::vector<double> scalars = tree.read<double>(prefix + n);
      const std::vector<double> arrays = tree.read<double>(prefix + "array_" + n);
      const auto counted = tree.read_jagged<double>(prefix + "counted_" + n);
      ASSERT_EQ(scalars.size(), entries);
      ASSERT_EQ(arrays.size(), 3 * entries);
      EXPECT_EQ(counted.offsets, offsets);
      for (std::size_t e = 0; e < entries; ++e) {
        EXPECT_EQ(scalars[e], reference(doubles[e], packing, float16)) << prefix << n << " entry " << e;
      }
      for (std::size_t k = 0; k < arrays.size(); ++k) {
        EXPECT_EQ(arrays[k], reference(doubles[k], packing, float16)) << prefix << "array_" << n << " value " << k;
      }
      for (std::size_t k = 0; k < counted.values.size(); ++k) {
        EXPECT_EQ(counted.values[k], reference(doubles[k], packing, float16)) << prefix << "counted_" << n;
      }
      // The reader also gives floats (Float16_t's own type) and stays within the packing's precision.
      const std::vector<float> as_float = tree.read<float>(prefix + n);
      for (std::size_t e = 0; e < entries; ++e) EXPECT_EQ(as_float[e], static_cast<float>(scalars[e]));
      if (packing.form == Form::range) {
        for (std::size_t e = 0; e < entries; ++e) {
          const double clamped = std::min(std::max(doubles[e], packing.xmin), packing.xmax);
          // Half a quantisation step, plus the float rounding of Float16_t values.
          const double step = 0.5 / packing.factor + (float16 ? std::abs(clamped) * 1.2e-7 + 1e-30 : 0.0);
          EXPECT_NEAR(scalars[e], clamped, step * 1.000001) << prefix << n << " entry " << e;
        }
      }
    }
  }
  EXPECT_EQ(tree.branch("d32_1").type, "Double32_t(0..10, factor 4.29497e+08)");
  EXPECT_EQ(tree.branch("f16_array_0").type, "Float16_t(12-bit mantissa)[3]");
  EXPECT_EQ(tree.branch("d32_counted_4").type, "Double32_t(10-bit mantissa)[count]");
  EXPECT_EQ(tree.branch("d32_0").type, "Double32_t(as float)");
}

// JSROOT 7.11.2 decodes Double32_t / Float16_t only as members of split objects, not TLeafD32 /
// TLeafF16 leaves ("Not supported branch"); it does decode the tree record with these leaves from
// the file's streamer infos, and reads the file's other branches.
TEST_F(PackedRealsFile, JsrootDecodesTheTreeRecordWithPackedLeaves) {
  if (t::jsroot_directory().empty()) {
    if (t::running_in_ci()) FAIL() << "JSROOT is missing: run scripts/install-dependencies.sh --test-runtimes";
    GTEST_SKIP() << "JSROOT is not installed (scripts/install-dependencies.sh --test-runtimes)";
  }
  const auto path = file("packed.root");
  {
    deepjet::root::FileWriter writer(path);
    auto& tree = writer.make_tree("events");
    tree.add_branch<float>("x").add_double32_branch("d32", "[-pi,pi,12]", 2).add_float16_branch("f16");
    tree.add_counted_double32_branch("d32_counted", "n", "[0,0,8]");
    tree.write<float>("x", std::vector<float>{1.5f, -2.0f});
    tree.write<double>("d32", std::vector<double>{0.1, 0.2, 0.3, 0.4});
    tree.write<float>("f16", std::vector<float>{3.0f, 4.0f});
    tree.write_jagged<double>("d32_counted", std::vector<double>{1.0, 2.0, 3.0}, std::vector<std::int64_t>{0, 1, 3});
    writer.close();
  }
  const nlohmann::json dump = t::jsroot_dump(path, "events", "x,n");
  EXPECT_EQ(dump.at("branches").at("x"), nlohmann::json::parse("[1.5, -2.0]"));
  EXPECT_EQ(dump.at("branches").at("n"), nlohmann::json::parse("[1, 2]"));
  const nlohmann::json& leaves = dump.at("leaves");
  EXPECT_EQ(leaves.at("d32"), nlohmann::json::parse(R"({"class": "TLeafD32", "title": "d[-pi,pi,12]", "length": 2})"));
  EXPECT_EQ(leaves.at("f16"), nlohmann::json::parse(R"({"class": "TLeafF16", "title": "f", "length": 1})"));
  EXPECT_EQ(leaves.at("d32_counted"), nlohmann::json::parse(R"({"class": "TLeafD32", "title": "d[0,0,8]", "length": 1})"));
}

TEST_F(PackedRealsFile, WriterRefusesBadRangesAndNaNInARange) {
  deepjet::root::FileWriter writer(file("bad.root"));
  auto& tree = writer.make_tree("events");
  for (const char* bad : {"0,1", "[0;1]", "[0,1", "[0,1][2,3]", "[-5,-10]"}) {
    EXPECT_THROW(tree.add_double32_branch(std::string("x") + bad, bad), deepjet::FileError) << bad;
  }
  tree.add_double32_branch("ranged", "[0,1,8]").add_double32_branch("plain");
  const std::vector<double> nan{std::numeric_limits<double>::quiet_NaN()};
  EXPECT_THROW(tree.write<double>("ranged", nan), deepjet::FileError);
  tree.write<double>("plain", nan);  // a float NaN, as ROOT stores it
  EXPECT_THROW(tree.write<float>("plain", std::vector<float>{1.0f}), deepjet::FileError);  // Double32_t takes double
}

}  // namespace
