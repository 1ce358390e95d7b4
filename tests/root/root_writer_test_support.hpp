// Helpers of the ROOT writer tests: deterministic sample columns of every branch type, a writer
// of the full sample tree, and JSROOT (tests/root/jsroot_dump.mjs) run on a written file.
// Values written and read back are compared exactly: the writer stores the bits it is given and
// both readers decode them without arithmetic, so anything but equality is a bug.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "deepjet/io/root.hpp"
#include "deepjet/io/root_writer.hpp"

namespace deepjet::root::testing {

/// Values of type T for `count` entries: the type's extremes first, then varied ordinary values.
template <class T>
std::vector<T> sample_values(std::size_t count, int seed) {
  std::vector<T> out;
  out.reserve(count);
  using limits = std::numeric_limits<T>;
  std::vector<T> special;
  if constexpr (std::is_same_v<T, bool>) {
    special = {true, false};
  } else if constexpr (std::is_floating_point_v<T>) {
    special = {T(0), T(1), limits::max(), limits::lowest(), limits::min(), limits::denorm_min(), T(-2.5), T(0.1)};
  } else {
    special = {T(0), T(1), limits::max(), limits::min()};
    if constexpr (std::is_signed_v<T>) special.push_back(T(-1));
  }
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t k = i + static_cast<std::size_t>(seed);
    if (i < special.size()) {
      out.push_back(special[(i + static_cast<std::size_t>(seed)) % special.size()]);
    } else if constexpr (std::is_same_v<T, bool>) {
      out.push_back(k % 3 == 0);
    } else if constexpr (std::is_floating_point_v<T>) {
      out.push_back(static_cast<T>((static_cast<double>(k) - 7.0) * 0.37));
    } else if constexpr (std::is_signed_v<T>) {
      out.push_back(static_cast<T>((k * 37) % 101) - T(50));
    } else {
      out.push_back(static_cast<T>((k * 37) % 201));
    }
  }
  return out;
}

/// How JSROOT reports a value: 64-bit integers beyond 2^53 as decimal strings (it gives BigInt).
template <class T>
nlohmann::json json_value(T value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value;
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<double>(value);
  } else if constexpr (sizeof(T) == 8) {
    constexpr T limit = T(1) << 53;
    if constexpr (std::is_signed_v<T>) {
      if (value >= -limit && value < limit) return value;
    } else {
      if (value < limit) return value;
    }
    return std::to_string(value);
  } else {
    return value;
  }
}

/// How JSROOT 7.11.2 reports a value it reads. The same as json_value except for negative 64-bit
/// integers whose low 32-bit word is below 2^31: JSROOT's TBuffer::ntoi8 complements that word as a
/// signed 32-bit number and reports value + 2^32 (a bug of JSROOT's, with ROOT's own files too).
/// Applying the same formula keeps the check exact: every bit written is still compared.
template <class T>
nlohmann::json jsroot_value(T value) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T> && sizeof(T) == 8) {
    const std::uint64_t bits = static_cast<std::uint64_t>(value);
    if (value < 0 && (bits & 0xFFFFFFFFu) < 0x80000000u) {
      const std::int64_t high_complement = static_cast<std::int64_t>(~(bits >> 32) & 0xFFFFFFFFu);
      const std::int64_t low_complement = static_cast<std::int32_t>(~static_cast<std::uint32_t>(bits));
      const std::int64_t reported = -1 - (high_complement * (std::int64_t(1) << 32) + low_complement);
      return json_value<std::int64_t>(reported);
    }
  }
  return json_value<T>(value);
}

/// JSROOT turns strings' bytes into characters one by one (Latin-1), not as UTF-8.
inline std::string latin1_to_utf8(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

/// Booleans as JSROOT reports them inside arrays (0 and 1); used on both sides of a comparison.
inline nlohmann::json booleans_as_numbers(const nlohmann::json& value) {
  if (value.is_boolean()) return value.get<bool>() ? 1 : 0;
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& element : value) out.push_back(booleans_as_numbers(element));
    return out;
  }
  return value;
}

/// One entry per element of `offsets` (minus one), each the list of its values rendered by `render`.
template <class T, class Render>
nlohmann::json json_lists(const std::vector<T>& values, const std::vector<std::int64_t>& offsets, Render render) {
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t e = 0; e + 1 < offsets.size(); ++e) {
    nlohmann::json entry = nlohmann::json::array();
    for (std::int64_t i = offsets[e]; i < offsets[e + 1]; ++i) entry.push_back(render(values[static_cast<std::size_t>(i)]));
    out.push_back(entry);
  }
  return out;
}
template <class T>
nlohmann::json json_lists(const std::vector<T>& values, const std::vector<std::int64_t>& offsets) {
  return json_lists(values, offsets, [](T value) { return json_value<T>(value); });
}

/// What the sample tree holds, branch by branch, as JSROOT should report it.
struct SampleExpectation {
  std::int64_t entries = 0;
  nlohmann::json branches = nlohmann::json::object();  // the values, as deepjet's reader gives them
  nlohmann::json jsroot = nlohmann::json::object();    // the same bytes as JSROOT reports them
};

inline std::vector<std::int64_t> offsets_from_counts(std::size_t entries, std::size_t modulus) {
  std::vector<std::int64_t> offsets{0};
  for (std::size_t e = 0; e < entries; ++e) offsets.push_back(offsets.back() + static_cast<std::int64_t>(e % modulus));
  return offsets;
}

inline std::vector<std::string> sample_strings(std::size_t entries) {
  std::vector<std::string> out;
  for (std::size_t e = 0; e < entries; ++e) {
    switch (e % 5) {
      case 0: out.push_back(""); break;
      case 1: out.push_back("jet " + std::to_string(e)); break;
      case 2: out.push_back(std::string(300 + e, static_cast<char>('a' + e % 26))); break;  // long form
      case 3: out.push_back("b\xC3\xA9ta \"quoted\" \\ tab\t"); break;
      default: out.push_back(std::string(1, static_cast<char>('A' + e % 26))); break;
    }
  }
  return out;
}

/// Adds, for type T named `tag`, a scalar, a 3-value array, a counted array (shared counter
/// "count") and a std::vector branch, and writes `entries` entries in uneven chunks.
template <class T>
void write_type_branches(TreeWriter& tree, const std::string& tag, std::size_t entries, int seed,
                         SampleExpectation& expected, bool declare) {
  const std::string scalar = "scalar_" + tag, array = "array_" + tag, counted = "counted_" + tag, vector = "vector_" + tag;
  const std::string nested = "nested_" + tag;
  if (declare) {
    tree.add_branch<T>(scalar);
    tree.add_array_branch<T>(array, 3);
    tree.add_counted_branch<T>(counted, "count");
    tree.add_vector_branch<T>(vector);
    tree.add_nested_vector_branch<T>(nested);
    return;
  }
  // std::vector<std::vector<T>>: entry e holds e % 3 lists, list j holds j % 4 values.
  const std::vector<std::int64_t> list_offsets = offsets_from_counts(entries, 3);
  const std::vector<std::int64_t> inner_offsets = offsets_from_counts(static_cast<std::size_t>(list_offsets.back()), 4);
  const std::vector<T> nested_values = sample_values<T>(static_cast<std::size_t>(inner_offsets.back()), seed + 4);
  const std::vector<T> scalars = sample_values<T>(entries, seed);
  const std::vector<T> arrays = sample_values<T>(3 * entries, seed + 1);
  const std::vector<std::int64_t> counted_offsets = offsets_from_counts(entries, 5);
  const std::vector<T> counted_values = sample_values<T>(static_cast<std::size_t>(counted_offsets.back()), seed + 2);
  const std::vector<std::int64_t> vector_offsets = offsets_from_counts(entries, 4);
  const std::vector<T> vector_values = sample_values<T>(static_cast<std::size_t>(vector_offsets.back()), seed + 3);
  // Chunks of 1, 7, 13, ... entries: baskets and chunks end at unrelated places.
  std::size_t first = 0;
  for (std::size_t size = 1; first < entries; size += 6) {
    const std::size_t last = std::min(entries, first + size);
    std::vector<T> s(scalars.begin() + first, scalars.begin() + last);
    std::vector<T> a(arrays.begin() + 3 * first, arrays.begin() + 3 * last);
    tree.write<T>(scalar, s);
    tree.write<T>(array, a);
    const auto slice = [&](const std::vector<T>& values, const std::vector<std::int64_t>& offsets) {
      std::vector<std::int64_t> part;
      for (std::size_t e = first; e <= last; ++e) part.push_back(offsets[e] - offsets[first]);
      std::vector<T> chunk(values.begin() + offsets[first], values.begin() + offsets[last]);
      return std::make_pair(chunk, part);
    };
    const auto [cv, co] = slice(counted_values, counted_offsets);
    tree.write_jagged<T>(counted, cv, co);
    const auto [vv, vo] = slice(vector_values, vector_offsets);
    tree.write_jagged<T>(vector, vv, vo);
    {
      const std::int64_t list_first = list_offsets[first], list_last = list_offsets[last];
      std::vector<std::int64_t> outer, inner;
      for (std::size_t e = first; e <= last; ++e) outer.push_back(list_offsets[e] - list_first);
      for (std::int64_t j = list_first; j <= list_last; ++j) inner.push_back(inner_offsets[j] - inner_offsets[list_first]);
      std::vector<T> chunk(nested_values.begin() + inner_offsets[list_first], nested_values.begin() + inner_offsets[list_last]);
      tree.write_nested<T>(nested, chunk, inner, outer);
    }
    first = last;
  }
  nlohmann::json s = nlohmann::json::array(), a = nlohmann::json::array();
  nlohmann::json js = nlohmann::json::array(), ja = nlohmann::json::array();
  for (std::size_t e = 0; e < entries; ++e) {
    s.push_back(json_value<T>(scalars[e]));
    js.push_back(jsroot_value<T>(scalars[e]));
    a.push_back(nlohmann::json::array({json_value<T>(arrays[3 * e]), json_value<T>(arrays[3 * e + 1]),
                                        json_value<T>(arrays[3 * e + 2])}));
    if constexpr (std::is_same_v<T, std::int8_t>) {
      // JSROOT reads a fixed array of (signed) char as a C string: the bytes up to the first NUL.
      std::string text;
      for (std::size_t i = 3 * e; i < 3 * e + 3 && arrays[i] != 0; ++i) text += static_cast<char>(arrays[i]);
      ja.push_back(latin1_to_utf8(text));
    } else {
      ja.push_back(nlohmann::json::array({jsroot_value<T>(arrays[3 * e]), jsroot_value<T>(arrays[3 * e + 1]),
                                          jsroot_value<T>(arrays[3 * e + 2])}));
    }
  }
  expected.branches[scalar] = s;
  expected.branches[array] = a;
  expected.branches[counted] = json_lists(counted_values, counted_offsets);
  expected.branches[vector] = json_lists(vector_values, vector_offsets);
  expected.jsroot[scalar] = js;
  expected.jsroot[array] = ja;
  const auto jsroot_render = [](T value) { return jsroot_value<T>(value); };
  expected.jsroot[counted] = json_lists(counted_values, counted_offsets, jsroot_render);
  expected.jsroot[vector] = json_lists(vector_values, vector_offsets, jsroot_render);
  nlohmann::json nested_expected = nlohmann::json::array(), nested_jsroot = nlohmann::json::array();
  for (std::size_t e = 0; e < entries; ++e) {
    nlohmann::json lists = nlohmann::json::array(), jsroot_lists = nlohmann::json::array();
    for (std::int64_t j = list_offsets[e]; j < list_offsets[e + 1]; ++j) {
      nlohmann::json list = nlohmann::json::array(), jsroot_list = nlohmann::json::array();
      for (std::int64_t i = inner_offsets[j]; i < inner_offsets[j + 1]; ++i) {
        list.push_back(json_value<T>(nested_values[static_cast<std::size_t>(i)]));
        jsroot_list.push_back(jsroot_value<T>(nested_values[static_cast<std::size_t>(i)]));
      }
      lists.push_back(list);
      jsroot_lists.push_back(jsroot_list);
    }
    nested_expected.push_back(lists);
    nested_jsroot.push_back(jsroot_lists);
  }
  expected.branches[nested] = nested_expected;
  expected.jsroot[nested] = nested_jsroot;
}

/// Calls f.template operator()<T>(tag, seed) for every basic type.
template <class F>
void for_each_basic_type(F&& f) {
  f.template operator()<bool>("bool", 0);
  f.template operator()<std::int8_t>("int8", 1);
  f.template operator()<std::uint8_t>("uint8", 2);
  f.template operator()<std::int16_t>("int16", 3);
  f.template operator()<std::uint16_t>("uint16", 4);
  f.template operator()<std::int32_t>("int32", 5);
  f.template operator()<std::uint32_t>("uint32", 6);
  f.template operator()<std::int64_t>("int64", 7);
  f.template operator()<std::uint64_t>("uint64", 8);
  f.template operator()<float>("float32", 9);
  f.template operator()<double>("float64", 10);
}

/// Writes the sample tree (every branch kind of every type, and strings) into `tree`.
inline SampleExpectation write_sample_tree(TreeWriter& tree, std::size_t entries) {
  SampleExpectation expected;
  expected.entries = static_cast<std::int64_t>(entries);
  for (const bool declare : {true, false}) {
    for_each_basic_type([&]<class T>(const std::string& tag, int seed) {
      write_type_branches<T>(tree, tag, entries, seed, expected, declare);
    });
    if (declare) tree.add_string_branch("text");
  }
  const std::vector<std::string> strings = sample_strings(entries);
  tree.write_strings("text", strings);
  expected.branches["text"] = strings;
  for (const std::string& text : strings) expected.jsroot["text"].push_back(latin1_to_utf8(text));
  nlohmann::json counts = nlohmann::json::array();
  for (std::size_t e = 0; e < entries; ++e) counts.push_back(static_cast<int>(e % 5));
  expected.branches["count"] = counts;
  expected.jsroot["count"] = counts;
  return expected;
}

inline std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// Where JSROOT is, or "" (then the caller skips, or fails under CI).
inline std::string jsroot_directory() {
  const std::string node = DEEPJET_NODE_EXECUTABLE;
  const std::string jsroot = std::string(DEEPJET_SOURCE_DIR) + "/scripts/jsroot/node_modules/jsroot";
  if (node.empty() || !std::filesystem::exists(node) || !std::filesystem::exists(jsroot + "/package.json")) return "";
  return jsroot;
}

inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && *ci != '\0' && std::string(ci) != "0" && std::string(ci) != "false";
}

/// JSROOT's dump of a tree ({"entries", "branches", "leaves"}), of every top-level branch or only
/// those in `only` (comma-separated); fails the test if JSROOT cannot read it.
inline nlohmann::json jsroot_dump(const std::filesystem::path& file, const std::string& tree,
                                  const std::string& only = "") {
  const std::filesystem::path errors = file.string() + ".jsroot-stderr";
  const std::string command = shell_quote(DEEPJET_NODE_EXECUTABLE) + " " +
                              shell_quote(std::string(DEEPJET_SOURCE_DIR) + "/tests/root/jsroot_dump.mjs") + " " +
                              shell_quote(jsroot_directory()) + " " + shell_quote(file.string()) + " " +
                              shell_quote(tree) + (only.empty() ? "" : " " + shell_quote(only)) + " 2>" +
                              shell_quote(errors.string());
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
  std::string output;
  char buffer[65536];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) output.append(buffer, n);
  const int status = ::pclose(pipe);
  std::ifstream error_stream(errors);
  std::stringstream error_text;
  error_text << error_stream.rdbuf();
  std::filesystem::remove(errors);
  if (status != 0) throw std::runtime_error("JSROOT could not read " + file.string() + ": " + error_text.str());
  return nlohmann::json::parse(output);
}

/// Compares JSROOT's dump with what was written, entry by entry, reporting the first difference.
inline void expect_jsroot_reads(const nlohmann::json& dump, const SampleExpectation& expected) {
  EXPECT_EQ(dump.at("entries").get<std::int64_t>(), expected.entries);
  const nlohmann::json& branches = dump.at("branches");
  EXPECT_EQ(branches.size(), expected.jsroot.size());
  for (const auto& [name, written] : expected.jsroot.items()) {
    ASSERT_TRUE(branches.contains(name)) << "JSROOT does not list branch " << name;
    const nlohmann::json got = booleans_as_numbers(branches.at(name));
    const nlohmann::json values = booleans_as_numbers(written);
    ASSERT_EQ(got.size(), values.size()) << name;
    for (std::size_t e = 0; e < values.size(); ++e) {
      if (got[e] != values[e]) {
        ADD_FAILURE() << "branch " << name << " entry " << e << ": JSROOT reads " << got[e].dump() << ", written "
                      << values[e].dump();
        break;
      }
    }
  }
}

}  // namespace deepjet::root::testing
