// deepjet/training/batch_sums.hpp: the sums a batch's slices share while the Trainer trains them
// side by side, on its threads and across its ranks (the BatchSums of layers/layer.hpp).
//
//   SharedBatchSums sums(threads, communicator);     // communicator may be null: this process alone
//   context[t].batch_sums = &sums; context[t].slice = t;   // then thread t's forward and backward
//
// Contract:
//   - The T threads of this rank are slices 0..T-1 of the rank's share; with a communicator of R
//     ranks the batch has R*T slices, rank r's thread t being slice r*T + t. Every thread of every
//     rank calls sum() for the same layers in the same order (all slices hold at least one jet: the
//     Trainer shares sums only then).
//   - sum() returns when every slice has given its values; each gets the sums over all slices added
//     in slice order, in double: the same bits in every thread and on every rank, the same as one
//     process with R*T threads computes.
//   - The last thread of a rank to arrive does the rank's exchange (one Communicator::all_gather of
//     T x values) while the others wait (spinning up to 2 ms, then asleep); no allocation after the
//     first call of each size.
#pragma once

#include "deepjet/core/communicator.hpp"
#include "deepjet/layers/layer.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

namespace deepjet::training {

class SharedBatchSums final : public BatchSums {
 public:
  SharedBatchSums(std::size_t threads, Communicator* communicator)
      : threads_(threads), communicator_(communicator) {}

  void sum(std::size_t slice, std::span<double> values) override {
    std::unique_lock lock(mutex_);
    // This rank's slices side by side in local_, slice t at t * values.size().
    if (arrived_ == 0) local_.resize(threads_ * values.size());
    std::copy(values.begin(), values.end(), local_.begin() + slice * values.size());
    const std::uint64_t round = round_.load(std::memory_order_relaxed);
    if (++arrived_ < threads_) {
      // The other slices do the same work on other cores and arrive within a fraction of a
      // millisecond: wait for them spinning (yielding now and then, for when there are more
      // threads than cores), then asleep. Sleeping at once cost 10-18 % of a 2-thread DeepJet
      // step (a step passes here three times per BatchNorm; waking takes tens of microseconds
      // on a virtual machine); spinning costs nothing measurable (docs/performance.md).
      lock.unlock();
      spin_until_round_after(round);
      lock.lock();
      ready_.wait(lock, [&] { return round_.load(std::memory_order_relaxed) != round; });
    } else {
      combine(values.size());
      arrived_ = 0;
      round_.store(round + 1, std::memory_order_release);
      ready_.notify_all();
    }
    // The next round cannot overwrite total_ before every thread of this one has read it: it
    // needs all of them to arrive.
    std::copy(total_.begin(), total_.end(), values.begin());
  }

 private:
  // total_ = the values of every slice (this rank's, or all ranks' in rank order), added in order.
  void combine(std::size_t size) {
    const std::vector<double>* all = &local_;
    if (communicator_ && communicator_->size() > 1) {
      gathered_.resize(local_.size() * static_cast<std::size_t>(communicator_->size()));
      communicator_->all_gather(std::as_bytes(std::span(local_)), std::as_writable_bytes(std::span(gathered_)));
      all = &gathered_;
    }
    total_.assign(size, 0.0);
    for (std::size_t s = 0; s < all->size() / size; ++s)
      for (std::size_t i = 0; i < size; ++i) total_[i] += (*all)[s * size + i];
  }

  void spin_until_round_after(std::uint64_t round) const {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
    for (unsigned i = 1; round_.load(std::memory_order_acquire) == round; ++i) {
      if (i % 64 != 0) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
        continue;
      }
      if (std::chrono::steady_clock::now() > give_up) return;
      std::this_thread::yield();
    }
  }

  std::size_t threads_;
  Communicator* communicator_;
  std::vector<double> local_, gathered_, total_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::size_t arrived_ = 0;
  std::atomic<std::uint64_t> round_ = 0;
};

}  // namespace deepjet::training
