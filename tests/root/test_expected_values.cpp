// Every shared ROOT file, every tree, every top-level branch in EXPECTED.json (values read by
// JSROOT, an independent reader): entries, element count, sum and the first three entries.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "deepjet/io/root.hpp"
#include "root_test_support.hpp"

namespace {

using deepjet::root::ColumnLayout;
using deepjet::root::File;
using deepjet::root::Tree;
using deepjet::root::testing::expected_values;
using deepjet::root::testing::shared_root_file;
using nlohmann::json;

// `null` in EXPECTED.json stands for NaN.
void expect_number(const json& expected, double got, const std::string& where) {
  if (expected.is_null()) {
    EXPECT_TRUE(std::isnan(got)) << where;
    return;
  }
  const double want = expected.get<double>();
  EXPECT_NEAR(got, want, 1e-9 * std::max(1.0, std::abs(want))) << where;
}

// JSROOT shows a char array (e.g. ai1[3]/B) as a string; compare its characters as bytes.
std::vector<double> codepoints_as_int8(const std::string& utf8) {
  std::vector<double> out;
  for (std::size_t i = 0; i < utf8.size();) {
    unsigned char c = static_cast<unsigned char>(utf8[i]);
    unsigned code = c;
    std::size_t length = 1;
    if (c >= 0xC0) {
      length = 2;
      code = ((c & 0x1F) << 6) | (static_cast<unsigned char>(utf8[i + 1]) & 0x3F);
    }
    out.push_back(static_cast<double>(static_cast<std::int8_t>(code & 0xFF)));
    i += length;
  }
  return out;
}

bool is_object_rendering(const json& first) {
  for (const auto& entry : first) {
    for (const auto& value : entry) {
      if (value.is_string()) {
        const std::string text = value.get<std::string>();
        if (!text.empty() && (text[0] == '{' || text[0] == '[')) return true;
      }
    }
    if (entry.size() > 1 && entry[0].is_string()) return true;  // collection of strings
  }
  return false;
}

struct Counts {
  int numeric = 0;
  int strings = 0;
  int unsupported = 0;
};

void check_tree(const File& file, const std::string& tree_name, const json& expected_tree, Counts& counts) {
  const Tree tree = file.tree(tree_name);
  EXPECT_EQ(tree.entries(), expected_tree["entries"].get<std::int64_t>()) << tree_name;
  for (const auto& [name, expected] : expected_tree["branches"].items()) {
    const std::string where = file.path() + " " + tree_name + "/" + name;
    SCOPED_TRACE(where);
    ASSERT_TRUE(tree.has_branch(name));
    if (expected.contains("error")) {
      // JSROOT cannot read branches of a tree without entries; we read them as empty.
      EXPECT_EQ(tree.entries(), 0);
      const auto& info = tree.branch(name);
      if (info.layout.kind == ColumnLayout::Kind::Text) {
        EXPECT_TRUE(tree.read_strings(name).empty());
      } else if (info.layout.kind == ColumnLayout::Kind::TextCollection) {
        EXPECT_EQ(tree.read_string_lists(name).entries(), 0u);
      } else {
        EXPECT_EQ(tree.read_jagged<double>(name).entries(), 0u);
      }
      ++counts.numeric;
      continue;
    }
    const auto& info = tree.branch(name);
    const json& first = expected["first"];
    if (!info.supported) {
      // Only object-valued branches (rendered by JSROOT as JSON) may be unsupported, and reading
      // them must fail with a message naming the branch.
      EXPECT_TRUE(is_object_rendering(first)) << "unsupported but looks basic: " << info.type;
      try {
        tree.read_jagged<double>(name);
        ADD_FAILURE() << "reading an unsupported branch did not throw";
      } catch (const deepjet::FileError& error) {
        EXPECT_NE(std::string(error.what()).find("\"" + name + "\""), std::string::npos) << error.what();
      }
      ++counts.unsupported;
      continue;
    }
    const std::int64_t entries = expected["entries"].get<std::int64_t>();
    if (info.layout.kind == ColumnLayout::Kind::TextCollection) {
      const auto lists = tree.read_string_lists(name);
      ASSERT_EQ(static_cast<std::int64_t>(lists.entries()), entries);
      for (std::size_t i = 0; i < first.size(); ++i) {
        const auto entry = lists[i];
        ASSERT_EQ(entry.size(), first[i].size()) << "entry " << i;
        for (std::size_t j = 0; j < entry.size(); ++j) EXPECT_EQ(entry[j], first[i][j].get<std::string>());
      }
      ++counts.strings;
      continue;
    }
    if (info.layout.kind == ColumnLayout::Kind::NestedCollection) {
      // std::vector<std::vector<T>>: JSROOT rendered each inner vector as JSON text, an array or
      // an object {"0": v0, "1": v1 ...}; EXPECTED.json counts no elements for them.
      const auto nested = tree.read_nested<double>(name);
      ASSERT_EQ(static_cast<std::int64_t>(nested.entries()), entries);
      for (std::size_t i = 0; i < first.size(); ++i) {
        ASSERT_EQ(nested.lists(i), first[i].size()) << "entry " << i;
        for (std::size_t j = 0; j < first[i].size(); ++j) {
          const json inner = json::parse(first[i][j].get<std::string>());
          std::vector<double> values;
          for (const auto& [key, value] : inner.items()) values.push_back(value.get<double>());
          const auto list = nested(i, j);
          EXPECT_EQ(std::vector<double>(list.begin(), list.end()), values) << "entry " << i << " list " << j;
        }
      }
      ++counts.numeric;
      continue;
    }
    if (info.layout.kind == ColumnLayout::Kind::Text) {
      const auto strings = tree.read_strings(name);
      ASSERT_EQ(static_cast<std::int64_t>(strings.size()), entries);
      for (std::size_t i = 0; i < first.size(); ++i) {
        ASSERT_EQ(first[i].size(), 1u);
        EXPECT_EQ(strings[i], first[i][0].get<std::string>()) << "entry " << i;
      }
      ++counts.strings;
      continue;
    }
    const auto column = tree.read_jagged<double>(name);
    ASSERT_EQ(static_cast<std::int64_t>(column.entries()), entries);
    double sum = 0;
    for (double value : column.values) sum += value;
    const bool char_array = !first.empty() && !first[0].empty() && first[0][0].is_string();
    if (!char_array) {
      EXPECT_EQ(static_cast<std::int64_t>(column.values.size()), expected["elements"].get<std::int64_t>());
      expect_number(expected["sum"], sum, where + " sum");
    }
    for (std::size_t i = 0; i < first.size(); ++i) {
      const auto entry = column[i];
      if (char_array) {
        const auto bytes = codepoints_as_int8(first[i][0].get<std::string>());
        ASSERT_EQ(entry.size(), bytes.size()) << "entry " << i;
        for (std::size_t j = 0; j < bytes.size(); ++j) EXPECT_EQ(entry[j], bytes[j]);
        continue;
      }
      ASSERT_EQ(entry.size(), first[i].size()) << "entry " << i;
      for (std::size_t j = 0; j < entry.size(); ++j) {
        expect_number(first[i][j], entry[j], where + " entry " + std::to_string(i));
      }
    }
    ++counts.numeric;
  }
}

class ExpectedValues : public ::testing::TestWithParam<std::string> {};

TEST_P(ExpectedValues, EveryTreeAndBranchMatchesJsroot) {
  const std::string name = GetParam();
  const json& expected_file = expected_values().at(name);
  const File file(shared_root_file(name));
  auto trees = file.tree_paths();
  std::vector<std::string> expected_trees;
  for (const auto& [tree_name, unused] : expected_file.items()) expected_trees.push_back(tree_name);
  std::sort(trees.begin(), trees.end());
  std::sort(expected_trees.begin(), expected_trees.end());
  EXPECT_EQ(trees, expected_trees);
  Counts total;
  for (const auto& [tree_name, expected_tree] : expected_file.items()) {
    check_tree(file, tree_name, expected_tree, total);
  }
  RecordProperty("numeric_branches", total.numeric);
  RecordProperty("string_branches", total.strings);
  RecordProperty("unsupported_branches", total.unsupported);
  // Every file has readable basic branches, except those whose only branch is an object (their
  // members are checked in test_columns.cpp).
  if (name != "uproot-small-evnt-tree-fullsplit.root" && name != "uproot-leaflist.root") {
    EXPECT_GT(total.numeric + total.strings, 0);
  }
}

std::vector<std::string> shared_files() {
  std::vector<std::string> names;
  for (const auto& [name, unused] : expected_values().items()) names.push_back(name);
  return names;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name;
  for (char c : info.param) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(SharedFiles, ExpectedValues, ::testing::ValuesIn(shared_files()), test_name);

// Only basic-type and string branches of these files are expected to be unsupported-free.
TEST(ExpectedValues, BasicBranchesAreAllSupported) {
  for (const std::string name : {"uproot-HZZ.root", "uproot-sample-6.20.04-lz4.root",
                                 "uproot-small-flat-tree.root", "uproot-Zmumu-zlib.root"}) {
    const File file(shared_root_file(name));
    for (const auto& tree_path : file.tree_paths()) {
      const Tree tree = file.tree(tree_path);
      for (const auto& branch : tree.branches()) {
        EXPECT_TRUE(branch.supported) << name << " " << branch.name << ": " << branch.unsupported_reason;
      }
    }
  }
}

}  // namespace
