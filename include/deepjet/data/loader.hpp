// deepjet/data/loader.hpp: batches for training, streamed from a collection's training files.
//
//   auto split = deepjet::data::split_by_fraction(collection, directory, 0.15);  // or split_by_file
//   deepjet::data::Loader<Format> loader(split.train, {.batch_size = 1024, .seed = 42});
//   for (std::uint64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     deepjet::data::JetBatch<Format> batch;
//     while (loader.next(batch)) model.train_step(batch.inputs, batch.truth, ...);
//   }
//
// Contract:
//   - An epoch yields every jet of the loader's segments exactly once: full batches, then one
//     smaller batch with what is left (no jet is dropped, none repeated).
//   - Order: the segments are cut into chunks of `chunk_jets` consecutive jets; each epoch shuffles
//     the chunks (across files) and the jets inside each chunk, from (seed, epoch) only. The same
//     seed and epoch give the same batches; shuffle = false reads everything in order.
//   - Memory: one chunk being consumed, one read ahead, one batch: independent of the dataset's size.
//   - Read-ahead: the next chunk is read on a background thread while the current one is used
//     (read_ahead = false reads on the caller's thread). Read errors surface from next() as the
//     deepjet::FileError of the file that failed.
//   - Weights: with options.weighter, JetBatch::weights holds each jet's class weight
//     (data/weighting.hpp measures one over a collection); without, it is left empty.
//   - Shares (set_share): the batches are planned as without a share (same jets, same order), but
//     next() fills the JetBatch with only the share's contiguous slice of each batch
//     (JetBatch::batch_jets still counts the whole batch). The ranks of a distributed training
//     each take their share, so that together they see every batch exactly once. Every loader
//     still reads whole chunks: the jets of a share are spread over every chunk by the shuffle.
//   - skip() passes over the next batch without copying it (a rank's validation batches that
//     another rank evaluates).
#pragma once

#include "deepjet/core/random.hpp"
#include "deepjet/data/collection.hpp"
#include "deepjet/data/training_file.hpp"
#include "deepjet/data/weighter.hpp"

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

namespace deepjet::data {

/// Jets [first, last) of one training file.
struct Segment {
  std::filesystem::path file;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t jets() const { return last - first; }
};

struct Split {
  std::vector<Segment> train;
  std::vector<Segment> validation;
};

/// The last ceil(fraction * files) training files (in collection order) for validation.
template <class Format>
Split split_by_file(const Collection<Format>& collection, const std::filesystem::path& directory, double fraction) {
  if (fraction < 0.0 || fraction >= 1.0) throw Error("split_by_file: the validation fraction must be in [0, 1)");
  const std::size_t n = collection.files.size();
  const auto n_validation = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(n)));
  Split split;
  for (std::size_t i = 0; i < n; ++i)
    (i + n_validation < n ? split.train : split.validation)
        .push_back({directory / collection.files[i].training_file, 0, collection.files[i].jets});
  return split;
}

/// The last `fraction` of the jets of every training file for validation (the 85/15 split of the
/// original framework when fraction = 0.15).
template <class Format>
Split split_by_fraction(const Collection<Format>& collection, const std::filesystem::path& directory, double fraction) {
  if (fraction < 0.0 || fraction >= 1.0) throw Error("split_by_fraction: the validation fraction must be in [0, 1)");
  Split split;
  for (const auto& f : collection.files) {
    const auto cut = f.jets - static_cast<std::uint64_t>(std::llround(fraction * static_cast<double>(f.jets)));
    if (cut > 0) split.train.push_back({directory / f.training_file, 0, cut});
    if (cut < f.jets) split.validation.push_back({directory / f.training_file, cut, f.jets});
  }
  return split;
}

/// A batch of n jets cut into S = min(slices, n) contiguous slices, slice s holding jets
/// [n*s/S, n*(s+1)/S) (slices from S on hold none). A share is the slices [first, last): the
/// trainer's threads each take one slice, and each rank of a distributed training T of them.
struct BatchShare {
  std::size_t first = 0;
  std::size_t last = 1;
  std::size_t slices = 1;
};

/// The jets [begin, end) of a batch of n jets that the slices [first, last) of `slices` hold.
inline std::pair<std::uint64_t, std::uint64_t> share_jets(std::uint64_t n, const BatchShare& share) {
  const std::uint64_t s = std::min<std::uint64_t>(share.slices, n);
  if (s == 0) return {0, 0};
  return {n * std::min<std::uint64_t>(share.first, s) / s, n * std::min<std::uint64_t>(share.last, s) / s};
}

struct LoaderOptions {
  std::size_t batch_size = 1024;
  std::uint64_t seed = 0;
  std::size_t chunk_jets = 16384;
  bool shuffle = true;
  bool read_ahead = true;
  /// With a (finished) weighter, every batch carries its jets' weights in JetBatch::weights.
  const Weighter* weighter = nullptr;
};

template <class Format>
class Loader {
 public:
  Loader(std::vector<Segment> segments, LoaderOptions options) : segments_(std::move(segments)), options_(options) {
    if (options_.batch_size == 0 || options_.chunk_jets == 0) throw Error("Loader: batch and chunk sizes must be positive");
    for (const auto& s : segments_) {
      if (s.last < s.first) throw Error("Loader: a segment of " + s.file.string() + " ends before it starts");
      jets_ += s.jets();
    }
  }

  // The background read refers to this object: it stays where it was made.
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  std::uint64_t jets() const { return jets_; }
  const std::vector<Segment>& segments() const { return segments_; }
  std::size_t batches_per_epoch() const {
    return static_cast<std::size_t>((jets_ + options_.batch_size - 1) / options_.batch_size);
  }

  /// From now on next() serves only this share of every batch (see BatchShare).
  void set_share(BatchShare share) {
    if (share.slices == 0 || share.first >= share.last || share.last > share.slices)
      throw Error("Loader: a batch share must be slices [first, last) of slices, first < last <= slices");
    share_ = share;
  }
  const BatchShare& share() const { return share_; }

  /// Plan the chunks of epoch `epoch`; the next next() returns its first batch.
  void start_epoch(std::uint64_t epoch) {
    if (pending_.valid()) pending_.wait();  // a read of the previous epoch still running
    pending_ = {};
    chunks_.clear();
    for (std::size_t s = 0; s < segments_.size(); ++s)
      for (std::uint64_t first = segments_[s].first; first < segments_[s].last; first += options_.chunk_jets)
        chunks_.push_back({s, first, std::min(segments_[s].last, first + options_.chunk_jets)});
    random_.reseed(options_.seed * 0x9e3779b97f4a7c15ULL + epoch);
    if (options_.shuffle) random_.shuffle(chunks_);
    next_chunk_ = 0;
    current_ = {};
    position_ = 0;
    served_ = 0;
    started_ = true;
    if (options_.read_ahead) request_next_chunk();
  }

  /// The next batch of this epoch (this loader's share of it) into `batch`; false when the epoch is over.
  bool next(JetBatch<Format>& batch) {
    const std::uint64_t n = std::min<std::uint64_t>(options_.batch_size, remaining());
    if (n == 0 || !started_) return false;
    const auto [begin, end] = share_jets(n, share_);
    allocate(batch, end - begin);
    batch.batch_jets = n;
    pass(n, [&](std::uint64_t jet, std::size_t take) {
      // The part of these `take` jets (batch jets [jet, jet + take)) that falls in the share.
      const std::uint64_t lo = std::max(jet, begin), hi = std::min(jet + take, end);
      if (lo < hi) copy_rows(batch, lo - begin, position_ + (lo - jet), hi - lo);
    });
    if (options_.weighter) {
      const auto weights = options_.weighter->weights(batch.truth, batch.spectators);
      batch.weights = xt::empty<float>({weights.size()});
      std::copy(weights.begin(), weights.end(), batch.weights.begin());
    }
    return true;
  }

  /// Pass over the next batch without copying it; false when the epoch is over.
  bool skip() {
    const std::uint64_t n = std::min<std::uint64_t>(options_.batch_size, remaining());
    if (n == 0 || !started_) return false;
    pass(n, [](std::uint64_t, std::size_t) {});
    return true;
  }

 private:
  struct Chunk {
    std::size_t segment;
    std::uint64_t first, last;
  };
  struct LoadedChunk {
    JetBatch<Format> jets;
    std::vector<std::uint32_t> order;  // jets of the chunk in the order they are served
    std::uint64_t size = 0;
  };

  std::uint64_t remaining() const { return jets_ - served_; }

  // Move over the next n jets of the epoch, chunk by chunk, calling use(jets of the batch before
  // these, how many) while position_ points at them in the current chunk.
  template <class Use>
  void pass(std::uint64_t n, Use&& use) {
    std::uint64_t done = 0;
    while (done < n) {
      if (position_ == current_.order.size() && !advance())
        throw Error("Loader: the training files hold fewer jets than their segments promise");
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(n - done, current_.order.size() - position_));
      use(done, take);
      done += take;
      position_ += take;
      served_ += take;
    }
  }

  // Read a chunk from its file; the file handle is opened per read (reads are rare and large).
  LoadedChunk load(const Chunk& chunk, std::uint64_t shuffle_seed) const {
    LoadedChunk loaded;
    loaded.jets = TrainingFile<Format>(segments_[chunk.segment].file).read(chunk.first, chunk.last - chunk.first);
    loaded.size = chunk.last - chunk.first;
    loaded.order.resize(loaded.size);
    std::iota(loaded.order.begin(), loaded.order.end(), 0u);
    if (options_.shuffle) {
      Random random(shuffle_seed);
      random.shuffle(loaded.order);
    }
    return loaded;
  }

  void request_next_chunk() {
    if (next_chunk_ >= chunks_.size()) return;
    const Chunk chunk = chunks_[next_chunk_++];
    const std::uint64_t seed = random_.next();
    pending_ = std::async(std::launch::async, [this, chunk, seed] { return load(chunk, seed); });
  }

  // Make the next chunk current; false when none is left.
  bool advance() {
    if (options_.read_ahead) {
      if (!pending_.valid()) return false;
      current_ = pending_.get();  // rethrows a read error
      request_next_chunk();
    } else {
      if (next_chunk_ >= chunks_.size()) return false;
      const Chunk chunk = chunks_[next_chunk_++];
      current_ = load(chunk, random_.next());
    }
    position_ = 0;
    return true;
  }

  void allocate(JetBatch<Format>& batch, std::uint64_t count) {
    const auto n = static_cast<std::size_t>(count);
    const bool same = sample_count(batch.inputs) == n && batch.truth.shape()[0] == n;
    if (!same) {
      batch.inputs = make_tensors<typename Format::input_shape>(n);
      batch.truth = xt::empty<float>({n, Format::truth_shape::size});
      batch.spectators = xt::empty<float>({n, Format::spectators::branches.size()});
      batch.targets = xt::empty<float>({n, Format::target_count});
    }
  }

  // Copy the jets at positions [from_position, + take) of the current chunk's order to rows
  // [filled, + take) of the batch.
  void copy_rows(JetBatch<Format>& batch, std::size_t filled, std::size_t from_position, std::size_t take) {
    auto copy = [&](auto& to, const auto& from) {
      const std::size_t row = from.size() / current_.size;
      for (std::size_t k = 0; k < take; ++k)
        std::copy_n(from.data() + current_.order[from_position + k] * row, row, to.data() + (filled + k) * row);
    };
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (copy(tensor_part<I>(batch.inputs), tensor_part<I>(current_.jets.inputs)), ...);
    }(std::make_index_sequence<Format::block_count>{});
    copy(batch.truth, current_.jets.truth);
    if (Format::spectators::branches.size() > 0) copy(batch.spectators, current_.jets.spectators);
    if (Format::target_count > 0) copy(batch.targets, current_.jets.targets);
  }

  std::vector<Segment> segments_;
  LoaderOptions options_;
  std::uint64_t jets_ = 0;
  std::vector<Chunk> chunks_;
  std::size_t next_chunk_ = 0;
  Random random_{0};
  LoadedChunk current_;
  std::size_t position_ = 0;
  std::future<LoadedChunk> pending_;
  std::uint64_t served_ = 0;  // jets handed out this epoch
  bool started_ = false;      // start_epoch() was called
  BatchShare share_{};
};

}  // namespace deepjet::data
