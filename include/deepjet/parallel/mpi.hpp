// deepjet/parallel/mpi.hpp: deepjet's programs as the ranks of an MPI job (Open MPI, MPICH, ...).
//
//   int main(int argc, char** argv) {
//     return deepjet::mpi::run(argc, argv, [&](deepjet::mpi::Communicator& ranks) {
//       deepjet::training::Trainer<Data, Net> trainer(model, {..., .threads = 4, .communicator = &ranks});
//       trainer.fit(train, &validation);   // mpirun -n R: R ranks of 4 threads, as 4R threads in one process
//     });
//   }
//
// Link the CMake target deepjet::mpi (MPI's C bindings); nothing else in deepjet needs MPI.
//
// Contract:
//   - Communicator implements deepjet::Communicator over MPI_COMM_WORLD (or a given
//     communicator). Its collectives run on the thread that made it. ordered_sum passes the running
//     sum from rank to rank (0 -> 1 -> ... -> R-1) in blocks, each rank adding its parts in order,
//     then the last rank broadcasts it: the same float additions in the same order as one process,
//     at the bandwidth cost of a pipelined chain (about two transfers of the gradient per step).
//   - No wait is unbounded: every collective polls its request and, after `timeout` seconds
//     without completion (default 1800, environment variable DEEPJET_MPI_TIMEOUT), ends the job
//     with "rank r of R: waited N s for <operation>". A rank that exits or is killed is noticed by
//     the MPI runtime (mpirun ends the job); either way no rank hangs.
//   - fail(message) prints "deepjet: rank r of R: <message>" to stderr and calls MPI_Abort, which
//     ends every rank of the job with a non-zero status.
//   - run(argc, argv, body) initialises MPI, calls body(communicator), finalises MPI and returns
//     0; an exception from body on any rank ends the whole job through fail(), naming that rank
//     and the exception's message (a deepjet::FileError names the file).
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/core/communicator.hpp"

#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <vector>

namespace deepjet::mpi {

/// MPI_Init on construction (if not yet initialised), MPI_Finalize on destruction (if it initialised).
class Session {
 public:
  Session(int& argc, char**& argv) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised) return;
    int provided = 0;
    // Only the thread that made the Communicator calls MPI (the trainer's worker threads never do).
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw Error("deepjet::mpi: MPI_Init_thread failed");
    owns_ = true;
  }
  ~Session() {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (owns_ && !finalised) MPI_Finalize();
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

 private:
  bool owns_ = false;
};

/// Seconds a rank waits for the others before it ends the job: DEEPJET_MPI_TIMEOUT, else 1800.
inline double default_timeout() {
  const char* text = std::getenv("DEEPJET_MPI_TIMEOUT");
  if (!text || !*text) return 1800.0;
  const double seconds = std::strtod(text, nullptr);
  return seconds > 0 ? seconds : 1800.0;
}

class Communicator final : public deepjet::Communicator {
 public:
  explicit Communicator(MPI_Comm communicator = MPI_COMM_WORLD, double timeout_seconds = default_timeout())
      : comm_(communicator), timeout_(timeout_seconds) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    // Errors inside MPI calls come back as codes (reported by check()) instead of MPI's own abort.
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void ordered_sum(std::span<const std::span<const float>> parts, std::span<float> total) override {
    if (rank_ == 0 && parts.empty()) fail("ordered_sum: rank 0 must hold the first part");
    for (const auto& p : parts)
      if (p.size() != total.size()) fail("ordered_sum: a part's size differs from the total's");
    // Blocks of 256 KiB: rank r + 1 adds block k while rank r works on block k + 1.
    constexpr std::size_t block = 65536;
    std::vector<MPI_Request> sends;
    std::vector<std::span<const float>> pieces(parts.size());
    for (std::size_t offset = 0; offset < total.size(); offset += block) {
      const std::size_t count = std::min(block, total.size() - offset);
      const auto piece = total.subspan(offset, count);
      if (rank_ > 0) {
        MPI_Request request;
        check(MPI_Irecv(piece.data(), static_cast<int>(count), MPI_FLOAT, rank_ - 1, tag_sum, comm_, &request), "MPI_Irecv");
        wait(request, "the running gradient sum from rank " + std::to_string(rank_ - 1));
      }
      for (std::size_t t = 0; t < parts.size(); ++t) pieces[t] = parts[t].subspan(offset, count);
      add_in_order(pieces, piece, /*start_from_first=*/rank_ == 0);
      if (rank_ + 1 < size_) {
        sends.emplace_back();
        check(MPI_Isend(piece.data(), static_cast<int>(count), MPI_FLOAT, rank_ + 1, tag_sum, comm_, &sends.back()),
              "MPI_Isend");
      }
    }
    for (auto& request : sends) wait(request, "rank " + std::to_string(rank_ + 1) + " to take the running gradient sum");
    broadcast(std::as_writable_bytes(total), size_ - 1);
  }

  void all_gather(std::span<const std::byte> mine, std::span<std::byte> all) override {
    if (all.size() != mine.size() * static_cast<std::size_t>(size_)) fail("all_gather: the receive buffer has the wrong size");
    MPI_Request request;
    check(MPI_Iallgather(mine.data(), static_cast<int>(mine.size()), MPI_BYTE, all.data(), static_cast<int>(mine.size()),
                         MPI_BYTE, comm_, &request),
          "MPI_Iallgather");
    wait(request, "an all-gather of " + std::to_string(mine.size()) + " bytes from every rank");
  }

  void broadcast(std::span<std::byte> bytes, int root) override {
    // MPI counts are int: large buffers go in pieces.
    constexpr std::size_t piece = std::size_t{1} << 30;
    std::size_t offset = 0;
    do {
      const std::size_t count = std::min(piece, bytes.size() - offset);
      MPI_Request request;
      check(MPI_Ibcast(bytes.data() + offset, static_cast<int>(count), MPI_BYTE, root, comm_, &request), "MPI_Ibcast");
      wait(request, "a broadcast from rank " + std::to_string(root));
      offset += count;
    } while (offset < bytes.size());
  }

  [[noreturn]] void fail(const std::string& message) override {
    std::fprintf(stderr, "deepjet: rank %d of %d: %s\n", rank_, size_, message.c_str());
    std::fflush(stderr);
    MPI_Abort(comm_, 1);
    std::_Exit(1);  // MPI_Abort does not return; should an implementation return, still end
  }

  /// Wait for the other ranks here (a barrier with the same timeout as every collective).
  void barrier() {
    MPI_Request request;
    check(MPI_Ibarrier(comm_, &request), "MPI_Ibarrier");
    wait(request, "a barrier");
  }

 private:
  static constexpr int tag_sum = 7101;

  void check(int code, const char* call) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    fail(std::string(call) + " failed: " + std::string(text, static_cast<std::size_t>(length)));
  }

  // Poll until the request completes; the first millisecond spins (a step's exchange is usually
  // that quick), then the rank sleeps between polls so that a waiting rank leaves the core to
  // one that computes (ranks may share cores).
  void wait(MPI_Request& request, const std::string& what) {
    const auto start = std::chrono::steady_clock::now();
    for (unsigned polls = 0;; ++polls) {
      int done = 0;
      check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (done) return;
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > timeout_)
        fail("waited " + std::to_string(static_cast<long>(waited)) + " s for " + what +
             " (DEEPJET_MPI_TIMEOUT); another rank is stuck or gone");
      if (waited > 1e-3) std::this_thread::sleep_for(std::chrono::microseconds(polls < 2000 ? 50 : 500));
    }
  }

  MPI_Comm comm_;
  double timeout_;
  int rank_ = 0;
  int size_ = 1;
};

/// Run body(communicator) as one rank of an MPI job (see the contract above); returns 0.
template <class Body>
int run(int& argc, char**& argv, Body&& body) {
  Session session(argc, argv);
  Communicator communicator;
  try {
    body(communicator);
  } catch (const std::exception& e) {
    communicator.fail(e.what());
  } catch (...) {
    communicator.fail("an unknown exception");
  }
  return 0;
}

}  // namespace deepjet::mpi
