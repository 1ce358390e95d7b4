// The column API on real files: facts from uproot's tests, identical arrays across compressions,
// split objects, leaf lists, type conversion, chunked and parallel reading.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "deepjet/io/root.hpp"
#include "root_test_support.hpp"

namespace {

using deepjet::root::File;
using deepjet::root::JaggedArray;
using deepjet::root::Tree;
using deepjet::root::testing::expected_values;
using deepjet::root::testing::file_bytes;
using deepjet::root::testing::shared_root_file;

TEST(UprootFacts, ZmumuPx1) {
  const Tree tree = File(shared_root_file("uproot-Zmumu-zlib.root")).tree("events");
  const std::vector<double> px1 = tree.read<double>("px1", 0, 5);
  const std::vector<double> want{-41.1952876442, 35.1180497674, 35.1180497674, 34.1444372454, 22.7835819537};
  ASSERT_EQ(px1.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(px1[i], want[i], 1e-9);
}

TEST(UprootFacts, HzzMuonAndJetPx) {
  for (const std::string name : {"uproot-HZZ.root", "uproot-HZZ-zlib.root", "uproot-HZZ-zstd.root",
                                 "uproot-HZZ-uncompressed.root"}) {
    SCOPED_TRACE(name);
    const Tree tree = File(shared_root_file(name)).tree("events");
    const JaggedArray<float> muon_px = tree.read_jagged<float>("Muon_Px", 0, 2);
    ASSERT_EQ(muon_px.entries(), 2u);
    ASSERT_EQ(muon_px[0].size(), 2u);
    EXPECT_EQ(muon_px[0][0], -52.89945602416992f);
    EXPECT_EQ(muon_px[0][1], 37.7377815246582f);
    const JaggedArray<double> jet_px = tree.read_jagged<double>("Jet_Px", 0, 2);
    EXPECT_TRUE(jet_px[0].empty());
    ASSERT_EQ(jet_px[1].size(), 1u);
    EXPECT_EQ(jet_px[1][0], -38.87471389770508);
    EXPECT_EQ(jet_px.offsets, (std::vector<std::int64_t>{0, 0, 1}));
  }
}

TEST(Compressions, FourSampleFilesGiveIdenticalArrays) {
  const std::vector<std::string> names{"uproot-sample-6.20.04-uncompressed.root", "uproot-sample-6.20.04-zlib.root",
                                       "uproot-sample-6.20.04-lz4.root", "uproot-sample-6.20.04-lzma.root"};
  const Tree reference = File(shared_root_file(names[0])).tree("sample");
  ASSERT_EQ(reference.branches().size(), 35u);
  for (std::size_t k = 1; k < names.size(); ++k) {
    SCOPED_TRACE(names[k]);
    const Tree tree = File(shared_root_file(names[k])).tree("sample");
    for (const auto& branch : reference.branches()) {
      if (branch.layout.kind == deepjet::root::ColumnLayout::Kind::Text) {
        EXPECT_EQ(tree.read_strings(branch.name), reference.read_strings(branch.name)) << branch.name;
        continue;
      }
      const auto a = reference.read_jagged<double>(branch.name);
      const auto b = tree.read_jagged<double>(branch.name);
      EXPECT_EQ(a.offsets, b.offsets) << branch.name;
      EXPECT_EQ(a.values, b.values) << branch.name;
    }
  }
}

TEST(Compressions, HzzZlibZstdAndUncompressedAgree) {
  const Tree plain = File(shared_root_file("uproot-HZZ-uncompressed.root")).tree("events");
  for (const std::string name : {"uproot-HZZ-zlib.root", "uproot-HZZ-zstd.root", "uproot-HZZ.root"}) {
    const Tree tree = File(shared_root_file(name)).tree("events");
    for (const auto& branch : plain.branches()) {
      const auto a = plain.read_jagged<double>(branch.name);
      const auto b = tree.read_jagged<double>(branch.name);
      EXPECT_EQ(a.values, b.values) << name << " " << branch.name;
      EXPECT_EQ(a.offsets, b.offsets) << name << " " << branch.name;
    }
  }
}

TEST(SplitObject, FullsplitSubBranchesMatchTheObjectJsroot) {
  const Tree tree = File(shared_root_file("uproot-small-evnt-tree-fullsplit.root")).tree("tree");
  const auto& first = expected_values()["uproot-small-evnt-tree-fullsplit.root"]["tree"]["branches"]["evt"]["first"];
  const auto vec_f32 = tree.read_jagged<float>("StlVecF32");
  const auto vec_u64 = tree.read_jagged<std::uint64_t>("StlVecU64");
  const auto slice_i32 = tree.read_jagged<std::int32_t>("SliceI32");
  const auto array_f64 = tree.read<double>("ArrayF64[10]");
  const auto i32 = tree.read<std::int32_t>("I32");
  const auto px = tree.read<std::int32_t>("P3.Px");
  const auto str = tree.read_strings("Str");
  const auto std_str = tree.read_strings("StdStr");
  const auto vec_str = tree.read_string_lists("StlVecStr");
  EXPECT_EQ(vec_f32.entries(), 100u);
  EXPECT_EQ(array_f64.size(), 1000u);
  // JSROOT renders numeric arrays either as [..] or as {"0": .., "1": ..}.
  auto values_of = [](const nlohmann::json& node) {
    std::vector<double> out;
    for (const auto& [key, value] : node.items()) out.push_back(value.get<double>());
    return out;
  };
  for (std::size_t i = 0; i < 3; ++i) {
    const auto event = nlohmann::json::parse(first[i][0].get<std::string>());
    EXPECT_EQ(i32[i], event["I32"].get<int>());
    EXPECT_EQ(px[i], event["P3"]["Px"].get<int>());
    EXPECT_EQ(str[i], event["Str"].get<std::string>());
    EXPECT_EQ(std_str[i], event["StdStr"].get<std::string>());
    const auto want_strings = event["StlVecStr"].get<std::vector<std::string>>();
    ASSERT_EQ(vec_str[i].size(), want_strings.size());
    for (std::size_t j = 0; j < want_strings.size(); ++j) EXPECT_EQ(vec_str[i][j], want_strings[j]);
    const auto want_vec = values_of(event["StlVecF32"]);
    ASSERT_EQ(vec_f32[i].size(), want_vec.size());
    for (std::size_t j = 0; j < want_vec.size(); ++j) EXPECT_EQ(vec_f32[i][j], want_vec[j]);
    EXPECT_EQ(vec_u64[i].size(), values_of(event["StlVecU64"]).size());
    EXPECT_EQ(slice_i32[i].size(), values_of(event["SliceI32"]).size());
    const auto want_array = values_of(event["ArrayF64"]);
    for (std::size_t j = 0; j < 10; ++j) EXPECT_EQ(array_f64[i * 10 + j], want_array[j]);
  }
  // Entry i of the vectors holds i values equal to i (as the file's generator wrote them).
  for (std::size_t i = 0; i < vec_f32.entries(); ++i) {
    ASSERT_EQ(vec_f32[i].size(), i % 10);
    for (float value : vec_f32[i]) EXPECT_EQ(value, static_cast<float>(i));
  }
}

TEST(StlContainers, VectorAndSetOfInt) {
  const Tree tree = File(shared_root_file("uproot-stl_containers.root")).tree("tree");
  const auto vector_int = tree.read_jagged<int>("vector_int32");
  const auto set_int = tree.read_jagged<int>("set_int32");
  const std::vector<std::int64_t> offsets{0, 1, 3, 6, 10, 15};
  EXPECT_EQ(vector_int.offsets, offsets);
  EXPECT_EQ(set_int.offsets, offsets);
  EXPECT_EQ(vector_int.values, (std::vector<int>{1, 1, 2, 1, 2, 3, 1, 2, 3, 4, 1, 2, 3, 4, 5}));
  EXPECT_EQ(tree.read_strings("string"), (std::vector<std::string>{"one", "two", "three", "four", "five"}));
  const auto vector_string = tree.read_string_lists("vector_string");
  EXPECT_EQ(vector_string.offsets, offsets);
  EXPECT_EQ(vector_string[4].size(), 5u);
  EXPECT_EQ(vector_string[4][4], "five");
  EXPECT_EQ(tree.read_string_lists("vector_tstring").values, vector_string.values);
  EXPECT_THROW(tree.read_strings("vector_string"), deepjet::FileError);
  EXPECT_THROW(tree.read_jagged<int>("vector_string"), deepjet::FileError);
}

TEST(LeafList, LeavesReadByName) {
  const Tree tree = File(shared_root_file("uproot-leaflist.root")).tree("tree");
  const auto& first = expected_values()["uproot-leaflist.root"]["tree"]["branches"]["leaflist"]["first"];
  const auto x = tree.read<double>("leaflist.x");
  const auto y = tree.read<int>("leaflist.y");
  const auto z = tree.read<int>("leaflist.z");
  ASSERT_EQ(x.size(), 5u);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto entry = nlohmann::json::parse(first[i][0].get<std::string>());
    EXPECT_EQ(x[i], entry["x"].get<double>());
    EXPECT_EQ(y[i], entry["y"].get<int>());
    EXPECT_EQ(z[i], entry["z"].get<int>());
  }
  EXPECT_THROW(tree.read<double>("leaflist"), deepjet::FileError);
}

TEST(Conversion, RequestedTypeConvertsFromStoredType) {
  const Tree tree = File(shared_root_file("uproot-sample-6.20.04-zlib.root")).tree("sample");
  const auto as_int = tree.read<std::int64_t>("i4");
  const auto as_float = tree.read<float>("i4");
  const auto as_double = tree.read<double>("f4");
  const auto bools = tree.read<std::uint8_t>("b");
  ASSERT_EQ(as_int.size(), 30u);
  for (std::size_t i = 0; i < 30; ++i) {
    EXPECT_EQ(as_int[i], static_cast<std::int64_t>(i) - 15);
    EXPECT_EQ(as_float[i], static_cast<float>(as_int[i]));
    EXPECT_EQ(as_double[i], static_cast<double>(static_cast<float>(static_cast<double>(i) - 14.9)));
  }
  EXPECT_EQ(bools[0], 1);
  EXPECT_EQ(bools[1], 0);
  // Fixed arrays flatten row by row.
  const auto ai4 = tree.read<int>("ai4", 0, 2);
  EXPECT_EQ(ai4, (std::vector<int>{-14, -13, -12, -13, -12, -11}));
  EXPECT_THROW(tree.read<float>("Af4"), deepjet::FileError);  // jagged: use read_jagged
}

template <class T>
void expect_chunks_equal_whole(const Tree& tree, const std::string& branch, std::int64_t chunk) {
  const auto whole = tree.read_jagged<T>(branch);
  JaggedArray<T> joined;
  for (const auto& range : tree.chunks(chunk)) {
    const auto part = tree.read_jagged<T>(branch, range.first, range.last);
    EXPECT_EQ(static_cast<std::int64_t>(part.entries()), range.size());
    for (std::size_t e = 0; e < part.entries(); ++e) {
      joined.values.insert(joined.values.end(), part[e].begin(), part[e].end());
      joined.offsets.push_back(static_cast<std::int64_t>(joined.values.size()));
    }
  }
  EXPECT_EQ(joined.values, whole.values) << branch << " chunk " << chunk;
  EXPECT_EQ(joined.offsets, whole.offsets) << branch << " chunk " << chunk;
}

TEST(Chunks, ChunkedReadingEqualsOneShot) {
  Tree hzz = File(shared_root_file("uproot-HZZ-zlib.root")).tree("events");
  Tree pfnano = File(shared_root_file("coffea-pfnano.root")).tree("Events");
  Tree foriter = File(shared_root_file("uproot-foriter.root")).tree("foriter");
  for (std::int64_t chunk : {1, 7, 100, 1000, 5000}) {
    expect_chunks_equal_whole<float>(hzz, "Jet_Px", chunk);
    expect_chunks_equal_whole<float>(hzz, "MET_px", chunk);
    expect_chunks_equal_whole<int>(foriter, "data", chunk);
    expect_chunks_equal_whole<float>(pfnano, "PFCands_pt", chunk);
  }
  const auto ranges = hzz.chunks(1000);
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges.back().first, 2000);
  EXPECT_EQ(ranges.back().last, 2421);
  EXPECT_THROW(hzz.chunks(0), deepjet::Error);
}

TEST(Chunks, ForEachChunkReadsSeveralBranches) {
  const Tree tree = File(shared_root_file("uproot-HZZ-zlib.root")).tree("events");
  const std::vector<std::string> names{"NJet", "Jet_Px", "MET_px"};
  std::vector<JaggedArray<double>> joined(names.size());
  std::int64_t next = 0;
  tree.for_each_chunk<double>(names, 500, [&](const deepjet::root::EntryRange& range,
                                              const std::vector<JaggedArray<double>>& columns) {
    EXPECT_EQ(range.first, next);
    next = range.last;
    ASSERT_EQ(columns.size(), names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      EXPECT_EQ(static_cast<std::int64_t>(columns[i].entries()), range.size());
      joined[i].values.insert(joined[i].values.end(), columns[i].values.begin(), columns[i].values.end());
    }
    // Counts agree with the counted branch, chunk by chunk.
    for (std::size_t e = 0; e < columns[0].entries(); ++e) {
      EXPECT_EQ(columns[0].values[e], static_cast<double>(columns[1][e].size()));
    }
  });
  EXPECT_EQ(next, 2421);
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(joined[i].values, tree.read_jagged<double>(names[i]).values) << names[i];
  }
  EXPECT_THROW(tree.for_each_chunk<double>({"NJet", "nope"}, 10, [](auto&&, auto&&) {}), deepjet::FileError);
}

TEST(Chunks, ReadIntoReusesBuffers) {
  const Tree tree = File(shared_root_file("uproot-HZZ-zstd.root")).tree("events");
  std::vector<float> flat{1.0f, 2.0f};
  JaggedArray<float> jagged;
  jagged.values = {5.0f};
  jagged.offsets = {0, 1};
  std::vector<float> all_flat;
  std::vector<float> all_values;
  for (const auto& range : tree.chunks(300)) {
    tree.read_into("MET_px", range.first, range.last, flat);
    tree.read_jagged_into("Muon_Px", range.first, range.last, jagged);
    EXPECT_EQ(static_cast<std::int64_t>(flat.size()), range.size());
    EXPECT_EQ(static_cast<std::int64_t>(jagged.entries()), range.size());
    all_flat.insert(all_flat.end(), flat.begin(), flat.end());
    all_values.insert(all_values.end(), jagged.values.begin(), jagged.values.end());
  }
  EXPECT_EQ(all_flat, tree.read<float>("MET_px"));
  EXPECT_EQ(all_values, tree.read_jagged<float>("Muon_Px").values);
  EXPECT_THROW(tree.read_into("Muon_Px", 0, 10, flat), deepjet::FileError);
}

TEST(Threads, ParallelDecompressionGivesTheSameArrays) {
  Tree sequential = File(shared_root_file("uproot-HZZ-zstd.root")).tree("events");
  Tree parallel = sequential;
  parallel.set_decompression_threads(2);
  for (const std::string branch : {"Jet_Px", "Muon_E", "MET_px", "NJet"}) {
    EXPECT_EQ(parallel.read_jagged<double>(branch).values, sequential.read_jagged<double>(branch).values);
    EXPECT_EQ(parallel.read_jagged<double>(branch, 17, 1999).offsets,
              sequential.read_jagged<double>(branch, 17, 1999).offsets);
  }
}

TEST(Api, BranchListingAndPaths) {
  const File file(shared_root_file("uproot-HZZ.root"));
  EXPECT_EQ(file.tree_paths(), std::vector<std::string>{"events"});
  const Tree tree = file.tree("events");
  EXPECT_EQ(tree.entries(), 2421);
  EXPECT_EQ(tree.branch("Jet_Px").type, "float32[NJet]");
  EXPECT_EQ(tree.branch("Jet_Px").layout.count_leaf, "NJet");
  EXPECT_EQ(tree.branch("MET_px").type, "float32");
  EXPECT_EQ(tree.branch("triggerIsoMu24").type, "bool");
  const Tree split = File(shared_root_file("uproot-small-evnt-tree-fullsplit.root")).tree("tree");
  EXPECT_EQ(split.branch("evt/StlVecF32").type, "vector<float>");  // path form of a sub-branch
  EXPECT_EQ(split.branch("StlVecF32").depth, 1);
}

TEST(Api, FileInMemoryReadsLikeFileOnDisk) {
  const std::string path = shared_root_file("uproot-sample-6.20.04-lz4.root");
  const Tree disk = File(path).tree("sample");
  const Tree memory = File::from_memory(file_bytes(path), "sample-in-memory").tree("sample");
  EXPECT_EQ(memory.read_jagged<double>("Af8").values, disk.read_jagged<double>("Af8").values);
  EXPECT_EQ(memory.read_strings("str"), disk.read_strings("str"));
}

TEST(Api, TreeOutlivesFile) {
  std::optional<Tree> tree;
  {
    const File file(shared_root_file("uproot-simple.root"));
    tree.emplace(file.tree("tree"));
  }
  EXPECT_EQ(tree->read<int>("one"), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(tree->read_strings("three"), (std::vector<std::string>{"uno", "dos", "tres", "quatro"}));
}

TEST(Xxhash64, KnownValues) {
  EXPECT_EQ(deepjet::root::xxhash64(nullptr, 0), 0xEF46DB3751D8E999ULL);
}

}  // namespace
