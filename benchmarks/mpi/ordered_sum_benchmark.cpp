// ordered_sum_benchmark: the time of one training step's gradient exchange across ranks
// (deepjet::mpi::Communicator::ordered_sum: the rank-ordered chain sum and its broadcast) for a
// gradient of N floats, beside MPI_Allreduce (which adds in an unspecified order) on the same data.
//
//   mpirun -n 2 ordered_sum_benchmark [floats (250000)] [repetitions (200)]
//
// Prints, on rank 0, the median microseconds per call and the bytes of gradient per call.
#include <deepjet/parallel/mpi.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  return deepjet::mpi::run(argc, argv, [&](deepjet::mpi::Communicator& ranks) {
    const std::size_t floats = argc > 1 ? std::stoul(argv[1]) : 250000;
    const int repetitions = argc > 2 ? std::stoi(argv[2]) : 200;
    std::vector<float> part(floats, 1.0f + static_cast<float>(ranks.rank())), total(floats);
    const std::vector<std::span<const float>> parts{part};
    auto median_us = [&](auto&& call) {
      std::vector<double> times;
      for (int i = 0; i < repetitions; ++i) {
        ranks.barrier();
        const auto start = std::chrono::steady_clock::now();
        call();
        times.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
      }
      std::sort(times.begin(), times.end());
      return times[times.size() / 2];
    };
    const double ordered = median_us([&] { ranks.ordered_sum(parts, total); });
    const double allreduce = median_us([&] {
      MPI_Allreduce(part.data(), total.data(), static_cast<int>(floats), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    });
    if (ranks.rank() == 0)
      std::printf("ranks %d  gradient %zu floats (%.2f MB)  ordered_sum %.1f us  MPI_Allreduce %.1f us  (median of %d)\n",
                  ranks.size(), floats, static_cast<double>(floats) * 4e-6, ordered, allreduce, repetitions);
  });
}
