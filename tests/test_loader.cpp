// The streaming loader: every jet exactly once per epoch, seeded shuffling, read-ahead, splits,
// consistency of the rows it assembles, and a lost file.
#include "support/jet_tables.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace {

namespace fs = std::filesystem;
namespace dd = deepjet::data;
using deepjet::test::TemporaryDirectory;
using deepjet::test::TestData;

// Three sources of 1000, 700 and 333 jets (ids 0.., 100000.., 200000..) converted into `dir/out`.
dd::Collection<TestData> make_collection(const TemporaryDirectory& dir) {
  std::vector<std::string> sources;
  const std::size_t sizes[] = {1000, 700, 333};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto path = dir / ("source" + std::to_string(i) + ".h5");
    deepjet::test::write_jet_table(path, i * 100000, sizes[i], i + 10);
    sources.push_back(path.string());
  }
  dd::convert_sources<TestData>(sources, "tree", dir / "out", {.progress = false});
  return dd::Collection<TestData>::load(dir / "out" / "collection.h5");
}

std::vector<float> epoch_ids(dd::Loader<TestData>& loader, std::uint64_t epoch, std::vector<std::size_t>* sizes = nullptr) {
  loader.start_epoch(epoch);
  std::vector<float> ids;
  dd::JetBatch<TestData> batch;
  while (loader.next(batch)) {
    if (sizes) sizes->push_back(batch.truth.shape()[0]);
    for (std::size_t j = 0; j < batch.spectators.shape()[0]; ++j) ids.push_back(batch.spectators(j, 0));
  }
  return ids;
}

TEST(Loader, EveryJetExactlyOncePerEpoch) {
  TemporaryDirectory dir;
  const auto collection = make_collection(dir);
  const auto split = dd::split_by_file(collection, dir / "out", 0.0);
  dd::Loader<TestData> loader(split.train, {.batch_size = 64, .seed = 3, .chunk_jets = 100});
  EXPECT_EQ(loader.jets(), 2033u);
  EXPECT_EQ(loader.batches_per_epoch(), 32u);
  for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
    std::vector<std::size_t> sizes;
    const auto ids = epoch_ids(loader, epoch, &sizes);
    ASSERT_EQ(ids.size(), 2033u);
    EXPECT_EQ(std::set<float>(ids.begin(), ids.end()).size(), 2033u) << "a jet came twice in epoch " << epoch;
    ASSERT_EQ(sizes.size(), 32u);
    for (std::size_t b = 0; b + 1 < sizes.size(); ++b) EXPECT_EQ(sizes[b], 64u);
    EXPECT_EQ(sizes.back(), 2033u - 31u * 64u);  // the partial last batch
  }
}

// The shares of distributed training: for 3 ranks of 2 threads (6 slices) each rank's loader hands
// out its contiguous part of every batch, and the parts, put side by side in rank order, are the
// whole loader's batches jet for jet; skip() passes a batch as next() would.
TEST(Loader, SharesOfEveryBatchTogetherAreTheBatch) {
  TemporaryDirectory dir;
  const auto collection = make_collection(dir);
  const auto split = dd::split_by_file(collection, dir / "out", 0.0);
  const dd::LoaderOptions options{.batch_size = 64, .seed = 3, .chunk_jets = 100};
  dd::Loader<TestData> whole(split.train, options);
  std::vector<std::unique_ptr<dd::Loader<TestData>>> ranks;
  for (std::size_t r = 0; r < 3; ++r) {
    ranks.push_back(std::make_unique<dd::Loader<TestData>>(split.train, options));
    ranks.back()->set_share({2 * r, 2 * r + 2, 6});
  }
  whole.start_epoch(1);
  for (auto& rank : ranks) rank->start_epoch(1);
  ASSERT_TRUE(ranks[0]->skip());  // the first batch passed over on every rank
  ASSERT_TRUE(ranks[1]->skip());
  ASSERT_TRUE(ranks[2]->skip());
  dd::JetBatch<TestData> all, part;
  ASSERT_TRUE(whole.next(all));
  std::size_t batches = 1;
  while (whole.next(all)) {
    ++batches;
    const std::size_t n = all.truth.shape()[0];
    std::vector<float> ids;
    for (auto& rank : ranks) {
      ASSERT_TRUE(rank->next(part));
      EXPECT_EQ(part.batch_jets, n);
      for (std::size_t j = 0; j < part.spectators.shape()[0]; ++j) ids.push_back(part.spectators(j, 0));
    }
    ASSERT_EQ(ids.size(), n);
    for (std::size_t j = 0; j < n; ++j) EXPECT_EQ(ids[j], all.spectators(j, 0)) << "batch " << batches << " jet " << j;
  }
  for (auto& rank : ranks) EXPECT_FALSE(rank->next(part));
  EXPECT_EQ(batches, 32u);
  // Rank 1 of a 33-jet last batch: slices 2 and 3 of 6 are jets [11, 22).
  EXPECT_EQ(dd::share_jets(33, {2, 4, 6}), (std::pair<std::uint64_t, std::uint64_t>{11, 22}));
  // Fewer jets than slices: slice s holds jet s, and slices past the jets hold none.
  EXPECT_EQ(dd::share_jets(3, {2, 4, 6}), (std::pair<std::uint64_t, std::uint64_t>{2, 3}));
  EXPECT_EQ(dd::share_jets(3, {4, 6, 6}), (std::pair<std::uint64_t, std::uint64_t>{3, 3}));
}

TEST(Loader, ShufflingIsSeededAndReadAheadChangesNothing) {
  TemporaryDirectory dir;
  const auto collection = make_collection(dir);
  const auto segments = dd::split_by_file(collection, dir / "out", 0.0).train;
  dd::Loader<TestData> a(segments, {.batch_size = 50, .seed = 1, .chunk_jets = 128});
  dd::Loader<TestData> b(segments, {.batch_size = 50, .seed = 1, .chunk_jets = 128, .read_ahead = false});
  dd::Loader<TestData> c(segments, {.batch_size = 50, .seed = 2, .chunk_jets = 128});
  const auto epoch0 = epoch_ids(a, 0);
  EXPECT_EQ(epoch0, epoch_ids(b, 0));
  EXPECT_NE(epoch0, epoch_ids(a, 1));
  EXPECT_NE(epoch0, epoch_ids(c, 0));
  EXPECT_EQ(epoch0, epoch_ids(a, 0));  // an epoch can be replayed

  dd::Loader<TestData> in_order(segments, {.batch_size = 50, .shuffle = false});
  const auto ordered = epoch_ids(in_order, 0);
  EXPECT_TRUE(std::is_sorted(ordered.begin(), ordered.end()));
}

TEST(Loader, BatchesCarryConsistentRows) {
  TemporaryDirectory dir;
  const auto collection = make_collection(dir);
  // Every jet as stored, by id.
  std::map<float, std::vector<float>> stored;
  for (const auto& f : collection.files) {
    const auto all = dd::TrainingFile<TestData>(dir / "out" / f.training_file).read(0, f.jets);
    for (std::size_t j = 0; j < f.jets; ++j) {
      std::vector<float> row{all.truth(j, 0), all.truth(j, 1), std::get<0>(all.inputs)(j, 0)};
      for (std::size_t k = 0; k < 6; ++k) row.push_back(std::get<1>(all.inputs).data()[j * 6 + k]);
      stored[all.spectators(j, 0)] = row;
    }
  }
  dd::Loader<TestData> loader(dd::split_by_file(collection, dir / "out", 0.0).train, {.batch_size = 77, .seed = 5, .chunk_jets = 60});
  loader.start_epoch(0);
  dd::JetBatch<TestData> batch;
  std::size_t checked = 0;
  while (loader.next(batch)) {
    for (std::size_t j = 0; j < batch.truth.shape()[0]; ++j, ++checked) {
      std::vector<float> row{batch.truth(j, 0), batch.truth(j, 1), std::get<0>(batch.inputs)(j, 0)};
      for (std::size_t k = 0; k < 6; ++k) row.push_back(std::get<1>(batch.inputs).data()[j * 6 + k]);
      ASSERT_EQ(row, stored.at(batch.spectators(j, 0)));
    }
  }
  EXPECT_EQ(checked, 2033u);
}

TEST(Loader, SplitsAreDisjointAndComplete) {
  TemporaryDirectory dir;
  const auto collection = make_collection(dir);
  for (const auto& split : {dd::split_by_fraction(collection, dir / "out", 0.15), dd::split_by_file(collection, dir / "out", 0.3)}) {
    dd::Loader<TestData> train(split.train, {.batch_size = 100});
    dd::Loader<TestData> validation(split.validation, {.batch_size = 100});
    const auto a = epoch_ids(train, 0), b = epoch_ids(validation, 0);
    std::set<float> all(a.begin(), a.end());
    all.insert(b.begin(), b.end());
    EXPECT_EQ(all.size(), 2033u);
    EXPECT_EQ(a.size() + b.size(), 2033u);
  }
  EXPECT_EQ(dd::split_by_fraction(collection, dir / "out", 0.15).validation.size(), 3u);  // a part of each file
  EXPECT_EQ(dd::split_by_file(collection, dir / "out", 0.3).validation.size(), 1u);       // the last file
  EXPECT_THROW(dd::split_by_file(collection, dir / "out", 1.0), deepjet::Error);
}

TEST(Loader, ALostFileIsNamed) {
  TemporaryDirectory dir;
  const auto collection = make_collection(dir);
  dd::Loader<TestData> loader(dd::split_by_file(collection, dir / "out", 0.0).train, {.batch_size = 100, .shuffle = false});
  fs::remove(dir / "out" / collection.files[1].training_file);
  loader.start_epoch(0);
  dd::JetBatch<TestData> batch;
  try {
    while (loader.next(batch)) {
    }
    FAIL() << "must throw";
  } catch (const deepjet::FileError& e) {
    EXPECT_NE(std::string(e.what()).find(collection.files[1].training_file + ": no such file"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {

TEST(Loader, BatchesCarryTheWeightersWeights) {
  TemporaryDirectory dir;
  auto collection = make_collection(dir);
  auto config = dd::WeighterConfig::for_format<TestData>(dd::WeightMode::reference, "b");
  config.pt_edges = {30, 60, 90, 120, 150, 180, 210, 270};
  config.eta_edges = {-2.5, 0, 2.5};
  const auto weighter = dd::measure_weighter(collection, dir / "out", config);
  collection.extras["weighter"] = weighter.to_text();
  collection.save(dir / "out" / "collection.h5");
  const auto reloaded = dd::Weighter::from_text(dd::Collection<TestData>::load(dir / "out" / "collection.h5").extras.at("weighter"));

  dd::Loader<TestData> loader(dd::split_by_file(collection, dir / "out", 0.0).train, {.batch_size = 100, .weighter = &reloaded});
  loader.start_epoch(0);
  dd::JetBatch<TestData> batch;
  double b_weight = 0, light_weight = 0;
  std::size_t b_jets = 0, light_jets = 0;
  while (loader.next(batch)) {
    ASSERT_EQ(batch.weights.size(), batch.truth.shape()[0]);
    for (std::size_t j = 0; j < batch.weights.size(); ++j) {
      const float expected = weighter.weight(std::span<const float>(&batch.truth(j, 0), 2), batch.spectators(j, 1), batch.spectators(j, 2));
      // Bit-equal: both come from Weighter::combine on a table restored exactly from its text,
      // and for these one-hot truth rows that is 0 + (1 / 1) * table value, exact with or without FMA.
      ASSERT_EQ(batch.weights(j), expected);
      if (batch.truth(j, 0) > 0) {
        b_weight += batch.weights(j);
        ++b_jets;
      } else {
        light_weight += batch.weights(j);
        ++light_jets;
      }
    }
  }
  EXPECT_DOUBLE_EQ(b_weight, static_cast<double>(b_jets));  // the reference class keeps weight 1 (a sum of ones: exact)
  EXPECT_GT(light_weight, 0.0);
}

}  // namespace
