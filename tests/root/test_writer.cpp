// Tests of the ROOT writer: every branch type and compression read back by deepjet's reader and by
// JSROOT (the ROOT team's JavaScript reader), directories, large files, atomic replacement, full
// disks and misuse. Written values are compared exactly (see root_writer_test_support.hpp).
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../support/temporary_directory.hpp"
#include "root_test_support.hpp"
#include "root_writer_test_support.hpp"

namespace {

using deepjet::FileError;
using deepjet::root::CompressionSettings;
using deepjet::root::File;
using deepjet::root::FileWriter;
using deepjet::root::Tree;
using deepjet::root::TreeWriter;
using deepjet::root::WriteOptions;
namespace t = deepjet::root::testing;

template <class F>
std::string message_of(F&& action) {
  try {
    action();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "(no exception)";
}

/// What deepjet's reader gives for the sample tree, in the same form as the expectation.
nlohmann::json read_back(const Tree& tree) {
  nlohmann::json out = nlohmann::json::object();
  t::for_each_basic_type([&]<class Written>(const std::string& tag, int) {
    // The reader reads bool branches into uint8_t (std::vector<bool> has no contiguous storage).
    using T = std::conditional_t<std::is_same_v<Written, bool>, std::uint8_t, Written>;
    nlohmann::json scalars = nlohmann::json::array(), arrays = nlohmann::json::array();
    const auto as_json = [](T value) { return t::json_value<Written>(static_cast<Written>(value)); };
    const auto lists = [&](const deepjet::root::JaggedArray<T>& column) {
      std::vector<Written> values(column.values.begin(), column.values.end());
      return t::json_lists(values, column.offsets);
    };
    for (T value : tree.read<T>("scalar_" + tag)) scalars.push_back(as_json(value));
    const std::vector<T> flat = tree.read<T>("array_" + tag);
    for (std::size_t i = 0; i + 2 < flat.size(); i += 3) {
      arrays.push_back(nlohmann::json::array({as_json(flat[i]), as_json(flat[i + 1]), as_json(flat[i + 2])}));
    }
    out["scalar_" + tag] = scalars;
    out["array_" + tag] = arrays;
    out["counted_" + tag] = lists(tree.read_jagged<T>("counted_" + tag));
    out["vector_" + tag] = lists(tree.read_jagged<T>("vector_" + tag));
    const auto nested = tree.read_nested<T>("nested_" + tag);
    nlohmann::json entries = nlohmann::json::array();
    for (std::size_t e = 0; e < nested.entries(); ++e) {
      nlohmann::json entry = nlohmann::json::array();
      for (std::size_t j = 0; j < nested.lists(e); ++j) {
        nlohmann::json list = nlohmann::json::array();
        for (T value : nested(e, j)) list.push_back(as_json(value));
        entry.push_back(list);
      }
      entries.push_back(entry);
    }
    out["nested_" + tag] = entries;
  });
  out["text"] = tree.read_strings("text");
  out["count"] = tree.read<std::int32_t>("count");
  return out;
}

#define REQUIRE_JSROOT()                                                                                     \
  do {                                                                                                       \
    if (t::jsroot_directory().empty()) {                                                                     \
      if (t::running_in_ci()) FAIL() << "JSROOT is missing: run scripts/install-dependencies.sh --test-runtimes"; \
      GTEST_SKIP() << "JSROOT is not installed (scripts/install-dependencies.sh --test-runtimes)";           \
    }                                                                                                        \
  } while (0)

struct CompressionCase {
  const char* name;
  CompressionSettings settings;
};

class RootWriterCompression : public deepjet::test::TemporaryDirectoryTest,
                              public ::testing::WithParamInterface<CompressionCase> {
 protected:
  RootWriterCompression() : TemporaryDirectoryTest("deepjet-root-writer") {}
};

TEST_P(RootWriterCompression, EveryBranchTypeReadsBackExactlyWithDeepjetAndJsroot) {
  WriteOptions options;
  options.compression = GetParam().settings;
  options.basket_bytes = 128;  // several baskets per branch
  const auto path = file("sample.root");
  t::SampleExpectation expected;
  {
    FileWriter writer(path, options);
    expected = t::write_sample_tree(writer.make_tree("events", "every type"), 157);
    EXPECT_FALSE(std::filesystem::exists(path)) << "the file appears only when complete";
    writer.close();
  }
  EXPECT_EQ(entries(), std::vector<std::string>{"sample.root"});  // no temporary left

  File file(path.string());
  EXPECT_EQ(file.header().compression, options.compression.code());
  Tree tree = file.tree("events");
  EXPECT_EQ(tree.entries(), 157);
  EXPECT_EQ(tree.title(), "every type");
  for (const auto& branch : tree.branches()) EXPECT_TRUE(branch.supported) << branch.name << ": " << branch.unsupported_reason;
  EXPECT_EQ(tree.branch("counted_float32").type, "float32[count]");
  EXPECT_EQ(tree.branch("array_uint16").type, "uint16[3]");
  EXPECT_EQ(tree.branch("vector_int64").type, "vector<Long64_t>");
  EXPECT_EQ(tree.branch("text").type, "string");
  EXPECT_EQ(tree.branch("nested_float64").type, "vector<vector<double>>");
  for (const auto& branch : tree.description().branches) EXPECT_GT(branch.baskets.size(), 1u) << branch.name;
  const nlohmann::json mine = read_back(tree);
  for (const auto& [name, values] : expected.branches.items()) EXPECT_EQ(mine.at(name), values) << name;

  REQUIRE_JSROOT();
  t::expect_jsroot_reads(t::jsroot_dump(path, "events"), expected);
}

INSTANTIATE_TEST_SUITE_P(
    Compressions, RootWriterCompression,
    ::testing::Values(CompressionCase{"none", CompressionSettings::none()},
                      CompressionCase{"zlib", CompressionSettings::zlib()},
                      CompressionCase{"zlib9", CompressionSettings::zlib(9)},
                      CompressionCase{"lz4", CompressionSettings::lz4()},
                      CompressionCase{"lz4fast", CompressionSettings::lz4(1)},
                      CompressionCase{"zstd", CompressionSettings::zstd()},
                      CompressionCase{"lzma", CompressionSettings::lzma()}),
    [](const ::testing::TestParamInfo<CompressionCase>& info) { return std::string(info.param.name); });

class RootWriter : public deepjet::test::TemporaryDirectoryTest {
 protected:
  RootWriter() : TemporaryDirectoryTest("deepjet-root-writer") {}
};

TEST_F(RootWriter, CompressionShrinksTheFileAndEachCodecIsUsed) {
  std::vector<float> values(100000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 100);
  std::uintmax_t sizes[2];
  for (int compressed = 0; compressed < 2; ++compressed) {
    WriteOptions options;
    options.compression = compressed ? CompressionSettings::zlib() : CompressionSettings::none();
    const auto path = file(compressed ? "zlib.root" : "none.root");
    FileWriter writer(path, options);
    writer.make_tree("t").add_branch<float>("x").write<float>("x", values);
    writer.close();
    sizes[compressed] = std::filesystem::file_size(path);
    EXPECT_EQ(File(path.string()).tree("t").read<float>("x"), values);
  }
  EXPECT_GT(sizes[0], 400000u);
  EXPECT_LT(sizes[1] * 4, sizes[0]);
}

TEST_F(RootWriter, DirectoriesSeveralTreesAndEmptyTrees) {
  const auto path = file("dirs.root");
  {
    WriteOptions options;
    options.title = "a file title";
    FileWriter writer(path, options);
    TreeWriter& top = writer.make_tree("top");
    TreeWriter& nested = writer.make_tree("dir/sub/nested", "nested tree");
    TreeWriter& sibling = writer.make_tree("dir/sibling");
    TreeWriter& empty = writer.make_tree("dir/empty");
    writer.make_tree("no_branches");
    top.add_branch<std::int32_t>("i");
    nested.add_vector_branch<double>("v");
    sibling.add_string_branch("s");
    empty.add_branch<float>("x").add_counted_branch<float>("y", "n");
    top.write<std::int32_t>("i", std::vector<std::int32_t>{3, 1, 4});
    nested.write_jagged<double>("v", std::vector<double>{1.5, 2.5}, std::vector<std::int64_t>{0, 0, 2});
    sibling.write_strings("s", std::vector<std::string>{"x"});
    writer.close();
  }
  File file(path.string());
  // Directories are listed where they were created (before the trees, written at close).
  EXPECT_EQ(file.tree_paths(), (std::vector<std::string>{"dir/sub/nested", "dir/sibling", "dir/empty", "top", "no_branches"}));
  EXPECT_EQ(file.tree("top").read<int>("i"), (std::vector<int>{3, 1, 4}));
  EXPECT_EQ(file.tree("dir/sub/nested").read_jagged<double>("v").offsets, (std::vector<std::int64_t>{0, 0, 2}));
  EXPECT_EQ(file.tree("dir/sibling").read_strings("s"), std::vector<std::string>{"x"});
  EXPECT_EQ(file.tree("dir/empty").entries(), 0);
  EXPECT_TRUE(file.tree("dir/empty").read<float>("x").empty());
  EXPECT_EQ(file.tree("no_branches").branches().size(), 0u);

  REQUIRE_JSROOT();
  EXPECT_EQ(t::jsroot_dump(path, "dir/sub/nested").dump(), R"({"branches":{"v":[[],[1.5,2.5]]},"entries":2})");
  EXPECT_EQ(t::jsroot_dump(path, "dir/sibling").dump(), R"({"branches":{"s":["x"]},"entries":1})");
  EXPECT_EQ(t::jsroot_dump(path, "dir/empty").dump(), R"({"branches":{"n":[],"x":[],"y":[]},"entries":0})");
  EXPECT_EQ(t::jsroot_dump(path, "top").dump(), R"({"branches":{"i":[3,1,4]},"entries":3})");
}

TEST_F(RootWriter, FilesBeyondTwoGigabytesUseSixtyFourBitOffsets) {
  // A 3 GiB hole (a free segment, not written to disk) pushes the tree's baskets and records past
  // 2^31 bytes and past 2^32.
  const auto path = file("large.root");
  std::vector<std::int64_t> values;
  for (std::int64_t i = 0; i < 10000; ++i) values.push_back(i * 1000003 - 5000000000);
  {
    WriteOptions options;
    options.basket_bytes = 16000;
    FileWriter writer(path, options);
    writer.make_tree("before").add_branch<float>("x").write<float>("x", std::vector<float>{1, 2});
    writer.leave_gap(std::uint64_t(3) << 30);
    TreeWriter& tree = writer.make_tree("dir/after");
    tree.add_branch<std::int64_t>("big").write<std::int64_t>("big", values);
    writer.close();
  }
  EXPECT_GT(std::filesystem::file_size(path), std::uintmax_t(3) << 30);
  File file(path.string());
  EXPECT_GE(file.header().version, 1000000);  // ROOT's large-file header
  EXPECT_GT(file.header().seek_info, std::int64_t(3) << 30);
  Tree tree = file.tree("dir/after");
  EXPECT_GT(tree.description().branches[0].baskets.front().seek, std::int64_t(3) << 30);
  EXPECT_EQ(tree.read<std::int64_t>("big"), values);
  EXPECT_EQ(file.tree("before").read<float>("x"), (std::vector<float>{1, 2}));

  REQUIRE_JSROOT();
  const nlohmann::json dump = t::jsroot_dump(path, "dir/after");
  ASSERT_EQ(dump.at("branches").at("big").size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    ASSERT_EQ(dump["branches"]["big"][i], t::jsroot_value(values[i])) << i;
  }
}

// The reader's side of std::vector<std::vector<T>>, on a file ROOT wrote (values as JSROOT reads
// them: entry i holds the lists [1], [1, 2] ... [1 .. i + 1]).
TEST(RootReaderNested, ReadsVectorsOfVectorsWrittenByRoot) {
  Tree tree = File(deepjet::root::testing::shared_root_file("uproot-stl_containers.root")).tree("tree");
  EXPECT_EQ(tree.branch("vector_vector_int32").type, "vector<vector<int>>");
  const auto nested = tree.read_nested<std::int32_t>("vector_vector_int32");
  ASSERT_EQ(nested.entries(), 5u);
  for (std::size_t e = 0; e < 5; ++e) {
    ASSERT_EQ(nested.lists(e), e + 1);
    for (std::size_t j = 0; j <= e; ++j) {
      std::vector<std::int32_t> expected(j + 1);
      for (std::size_t k = 0; k <= j; ++k) expected[k] = static_cast<std::int32_t>(k + 1);
      const auto list = nested(e, j);
      EXPECT_EQ(std::vector<std::int32_t>(list.begin(), list.end()), expected) << e << " " << j;
    }
  }
  const auto part = tree.read_nested<double>("vector_vector_int32", 3, 5);
  EXPECT_EQ(part.offsets, (std::vector<std::int64_t>{0, 4, 9}));
  EXPECT_NE(message_of([&] { tree.read_jagged<int>("vector_vector_int32"); }).find("read it with read_nested"),
            std::string::npos);
  EXPECT_NE(message_of([&] { tree.read_nested<int>("vector_int32"); }).find("not a vector of vectors"), std::string::npos);
}

TEST_F(RootWriter, CountersSharedByCountedBranchesAreFilledOnceAndChecked) {
  const auto path = file("shared.root");
  FileWriter writer(path);
  TreeWriter& tree = writer.make_tree("t");
  tree.add_counted_branch<float>("pt", "nJet").add_counted_branch<std::int32_t>("flavour", "nJet");
  tree.write_jagged<float>("pt", std::vector<float>{1, 2, 3}, std::vector<std::int64_t>{0, 2, 2, 3});
  tree.write_jagged<std::int32_t>("flavour", std::vector<std::int32_t>{5, 0}, std::vector<std::int64_t>{0, 2});
  EXPECT_NE(message_of([&] {
              tree.write_jagged<std::int32_t>("flavour", std::vector<std::int32_t>{4, 4}, std::vector<std::int64_t>{0, 1, 2});
            }).find("entry 1 has 1 values but its counter \"nJet\" already says 0"),
            std::string::npos);
  tree.write_jagged<std::int32_t>("flavour", std::vector<std::int32_t>{4}, std::vector<std::int64_t>{0, 0, 1});
  EXPECT_NE(message_of([&] { tree.write<std::int32_t>("nJet", std::vector<std::int32_t>{1}); })
                .find("counts other branches"),
            std::string::npos);
  writer.close();
  Tree read = File(path.string()).tree("t");
  EXPECT_EQ(read.read<int>("nJet"), (std::vector<int>{2, 0, 1}));
  EXPECT_EQ(read.read_jagged<int>("flavour").values, (std::vector<int>{5, 0, 4}));
}

TEST_F(RootWriter, MisuseIsAClearErrorNamingTheFileTreeAndBranch) {
  const auto path = file("misuse.root");
  FileWriter writer(path);
  TreeWriter& tree = writer.make_tree("t");
  tree.add_branch<float>("x").add_array_branch<std::int16_t>("a", 2).add_vector_branch<double>("v");
  const auto expect_message = [&](auto action, const std::string& part) {
    const std::string message = message_of(action);
    EXPECT_NE(message.find(part), std::string::npos) << message;
    EXPECT_NE(message.find("misuse.root"), std::string::npos) << message;
  };
  expect_message([&] { tree.write<double>("x", std::vector<double>{1}); }, "tree \"t\": branch \"x\" holds float32, not float64");
  expect_message([&] { tree.write<float>("nope", std::vector<float>{1}); }, "no branch \"nope\"");
  expect_message([&] { tree.write<std::int16_t>("a", std::vector<std::int16_t>{1, 2, 3}); }, "holds 2 values per entry, but 3");
  expect_message([&] { tree.write<double>("v", std::vector<double>{1}); }, "fill it with write_jagged");
  expect_message([&] { tree.write_jagged<double>("v", std::vector<double>{1}, std::vector<std::int64_t>{0, 2}); },
                 "offsets end at 2 but 1 values were given");
  expect_message([&] { tree.write_jagged<double>("v", std::vector<double>{1}, std::vector<std::int64_t>{1, 0}); },
                 "non-decreasing");
  expect_message([&] { tree.add_branch<float>("x"); }, "declared twice");
  expect_message([&] { tree.add_branch<float>("a/b"); }, "reserves");
  expect_message([&] { writer.make_tree("t"); }, "made twice");
  tree.write<float>("x", std::vector<float>{1, 2});
  expect_message([&] { tree.add_branch<float>("late"); }, "declare every branch before writing");
  // Branches with different entry counts cannot make a tree: close fails and leaves no file.
  expect_message([&] { writer.close(); }, "branch \"x\" has 2 entries but \"a\" has 0");
  expect_message([&] { writer.close(); }, "already closed");
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(RootWriter, AnUnfinishedWriteLeavesTheOldFileAndNoTemporary) {
  const auto path = file("data.root");
  {
    FileWriter writer(path);
    writer.make_tree("old").add_branch<int>("i").write<int>("i", std::vector<int>{7});
    writer.close();
  }
  {
    FileWriter writer(path);
    writer.make_tree("new").add_branch<int>("i").write<int>("i", std::vector<int>(100000, 1));
    // Destroyed without close(), as after an exception or an interruption.
  }
  EXPECT_EQ(entries(), std::vector<std::string>{"data.root"});
  EXPECT_EQ(File(path.string()).tree_paths(), std::vector<std::string>{"old"});
}

TEST_F(RootWriter, AFullDiskIsAClearErrorAndLeavesNoHalfFile) {
  const auto path = file("full.root");
  std::vector<double> values(200000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i) * 1.000001;
  // Simulate a full disk: the process may not write files larger than 64 kB.
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit previous{};
  getrlimit(RLIMIT_FSIZE, &previous);
  rlimit tiny = previous;
  tiny.rlim_cur = 65536;
  setrlimit(RLIMIT_FSIZE, &tiny);
  const std::string message = message_of([&] {
    WriteOptions options;
    options.compression = CompressionSettings::none();
    FileWriter writer(path, options);
    writer.make_tree("t").add_branch<double>("x").write<double>("x", values);
    writer.close();
  });
  setrlimit(RLIMIT_FSIZE, &previous);
  EXPECT_NE(message.find("full.root.tmp-"), std::string::npos) << message;
  EXPECT_NE(message.find("cannot write basket of branch \"x\" in tree \"t\""), std::string::npos) << message;
  EXPECT_NE(message.find("is the disk full?"), std::string::npos) << message;
  EXPECT_TRUE(entries().empty());  // neither the file nor its temporary
}

// Writes the file the root_inspect tests look at (DEEPJET_ROOT_WRITER_SAMPLE), or checks it in a
// temporary directory when run on its own.
TEST_F(RootWriter, InspectSample) {
  const char* requested = std::getenv("DEEPJET_ROOT_WRITER_SAMPLE");
  const std::filesystem::path path = requested ? std::filesystem::path(requested) : file("inspect.root");
  {
    FileWriter writer(path);
    t::write_sample_tree(writer.make_tree("events"), 10);
    writer.close();
  }
  EXPECT_EQ(File(path.string()).tree("events").branches().size(), 5u * 11u + 2u);
}

}  // namespace
