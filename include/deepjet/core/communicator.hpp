// deepjet/core/communicator.hpp: what deepjet needs from a group of processes working as one.
//
// The Trainer (TrainerOptions::communicator) and the converter (ConvertSourcesOptions::communicator)
// run in one process unless given a Communicator; then each process is one rank of a group that
// trains one model, or converts one dataset, together. This header names the few collective
// operations they use and has no dependency: the MPI implementation (deepjet/parallel/mpi.hpp, CMake
// target deepjet::mpi) is compiled only by programs that link MPI.
//
// Contract of every implementation:
//   - rank() in [0, size()); size() >= 1. Every rank calls the collectives in the same order.
//   - ordered_sum(parts, total): `total` becomes, element by element, the left fold in float
//     arithmetic of rank 0's parts in order, then rank 1's parts in order, ... exactly as
//     add_in_order() computes it in one process over all the parts. Every rank gets the same total.
//     (A tree or ring allreduce would add in another order and change the last bits.)
//   - all_gather(mine, all): every rank contributes mine.size() bytes (the same size on every
//     rank); `all` receives them in rank order on every rank.
//   - broadcast(bytes, root): root's bytes reach every rank.
//   - A collective that cannot complete (a rank died, or stopped answering for longer than the
//     implementation's timeout) never returns normally: the implementation ends the whole job with
//     a message naming the operation and the rank.
//   - fail(message) ends the whole job, all ranks, with the message (used for errors on one rank).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace deepjet {

/// total[i] = ((parts[0][i] + parts[1][i]) + parts[2][i]) + ... in float arithmetic: the order in
/// which the trainer sums gradients, in one process and across ranks alike.
inline void add_in_order(std::span<const std::span<const float>> parts, std::span<float> total, bool start_from_first) {
  std::size_t first = 0;
  if (start_from_first && !parts.empty()) {
    for (std::size_t i = 0; i < total.size(); ++i) total[i] = parts[0][i];
    first = 1;
  }
  for (std::size_t t = first; t < parts.size(); ++t)
    for (std::size_t i = 0; i < total.size(); ++i) total[i] += parts[t][i];
}

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual void ordered_sum(std::span<const std::span<const float>> parts, std::span<float> total) = 0;
  virtual void all_gather(std::span<const std::byte> mine, std::span<std::byte> all) = 0;
  virtual void broadcast(std::span<std::byte> bytes, int root) = 0;
  [[noreturn]] virtual void fail(const std::string& message) = 0;
};

}  // namespace deepjet
