// deepjet_mpi_driver: the program tests/mpi/run.cmake starts under mpirun to test distributed
// training (deepjet/parallel/mpi.hpp).
//
//   deepjet_mpi_driver prepare DIR                        two small source tables, converted into DIR/data
//   deepjet_mpi_driver train DIR OUT --threads T [--exit-rank R --exit-after-epoch K]
//                                    [--missing-file-on-rank R] [--stall-rank R]
//       trains a small multi-input model (BatchNorm, Dropout, a freezing stage, callbacks that
//       change the learning rate and stop the run, validation, checkpoints every few batches) as
//       one rank of the MPI job; the fault options make rank R exit after epoch K, read a file
//       that does not exist, or stop answering (sleep) at the end of the first epoch
//   deepjet_mpi_driver compare A.h5 B.h5                  exit 0 if both checkpoints' parameters and
//                                                         optimiser states are bit-identical
//   deepjet_mpi_driver convert DIR OUT                    convert_sources of DIR's four tables and a
//                                                         missing file into OUT (split over the ranks)
//   deepjet_mpi_driver convert-plan DIR OUT | convert-one OUT I | gather OUT
//                                                         the same as batch jobs: plan, one source, gather
//   deepjet_mpi_driver predict DIR MODEL.h5 OUT           predict_sources of the conversion sources
//                                                         (split over the ranks)
//   deepjet_mpi_driver same-predictions A B               exit 0 if two prediction directories list the
//                                                         same files and failures with equal probabilities
//   deepjet_mpi_driver same-collection A B                exit 0 if two collections list the same
//                                                         files, jets, checksums, failures and normalisation
#include "support/jet_tables.hpp"

#include <deepjet/parallel/mpi.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

namespace {

namespace fs = std::filesystem;
namespace dd = deepjet::data;
namespace dt = deepjet::training;
using deepjet::test::TestData;

using Net = deepjet::Sequential<TestData::input_shape,
                                deepjet::Branches<deepjet::BatchNorm<>, deepjet::Stack<deepjet::Flatten, deepjet::Dense<8>, deepjet::Dropout<0.1f>>>,
                                deepjet::Concatenate, deepjet::Dense<8>, deepjet::ReLU, deepjet::Dense<2>, deepjet::Softmax>;

void prepare(const fs::path& dir) {
  std::vector<std::string> sources;
  for (std::size_t i = 0; i < 4; ++i) {
    const auto path = dir / ("source" + std::to_string(i) + ".h5");
    deepjet::test::write_jet_table(path, i * 100000, i < 2 ? 1500 : 700, i + 20);
    if (i < 2) sources.push_back(path.string());
  }
  dd::convert_sources<TestData>(sources, "tree", dir / "data", {.progress = false});
}

// The conversion tests' sources: four tables and one file that does not exist (a failure record).
std::vector<std::string> conversion_sources(const fs::path& dir) {
  std::vector<std::string> sources;
  for (std::size_t i = 0; i < 4; ++i) {
    sources.push_back((dir / ("source" + std::to_string(i) + ".h5")).string());
    if (i == 1) sources.push_back((dir / "missing.h5").string());
  }
  return sources;
}

int same_predictions(const fs::path& a, const fs::path& b) {
  auto read = [](const fs::path& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  // The lists name files in their own directory: compare the names.
  auto names = [&](const fs::path& dir) {
    std::string list = read(dir / "predictions.txt");
    for (std::size_t at = list.find(dir.string()); at != std::string::npos; at = list.find(dir.string()))
      list.erase(at, dir.string().size());
    return list;
  };
  if (names(a) != names(b) || read(a / "failures.txt") != read(b / "failures.txt")) {
    std::printf("deepjet_mpi_driver: the prediction lists differ\n");
    return 1;
  }
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(a)) {
    if (entry.path().extension() != ".h5") continue;
    const auto x = dt::read_predictions(entry.path()), y = dt::read_predictions(b / entry.path().filename());
    if (x.probabilities != y.probabilities || x.truth != y.truth) {
      std::printf("deepjet_mpi_driver: %s differs\n", entry.path().filename().c_str());
      return 1;
    }
    ++files;
  }
  std::printf("deepjet_mpi_driver: the predictions agree: %zu files, failures: %s", files, read(a / "failures.txt").c_str());
  return 0;
}

int same_collection(const fs::path& a, const fs::path& b) {
  const auto x = dd::Collection<TestData>::load(a / "collection.h5"), y = dd::Collection<TestData>::load(b / "collection.h5");
  auto describe = [](const dd::Collection<TestData>& c) {
    std::string text = c.normalisation.to_text() + "\n";
    for (const auto& f : c.files)
      text += f.source + " " + f.training_file + " " + std::to_string(f.jets) + " " + std::to_string(f.source_crc32) + "\n";
    for (const auto& f : c.failures) text += "failed " + f.source + "\n";
    return text;
  };
  if (describe(x) != describe(y)) {
    std::printf("deepjet_mpi_driver: the collections differ:\n%s\n%s\n", describe(x).c_str(), describe(y).c_str());
    return 1;
  }
  std::printf("deepjet_mpi_driver: the collections agree: %zu files, %llu jets, %zu failures\n", x.files.size(),
              static_cast<unsigned long long>(x.jets()), x.failures.size());
  return 0;
}

// Makes one rank exit, as a crashed or killed process would, at the end of an epoch.
struct ExitAfterEpoch : dt::Callback {
  int rank = -1, this_rank = 0;
  std::uint64_t epoch = 0;
  int stall_rank = -1;
  std::string name() const override { return "exit_after_epoch"; }
  bool every_rank() const override { return true; }
  void on_epoch_end(dt::TrainingState& s) override {
    if (this_rank == stall_rank) {
      std::fprintf(stderr, "deepjet_mpi_driver: rank %d stops answering as asked\n", stall_rank);
      std::this_thread::sleep_for(std::chrono::hours(1));
    }
    if (this_rank == rank && s.epoch == epoch) {
      std::fprintf(stderr, "deepjet_mpi_driver: rank %d exits after epoch %llu as asked\n", rank,
                   static_cast<unsigned long long>(epoch + 1));
      std::_Exit(3);
    }
  }
};

// Decisions taken on rank 0 alone (callbacks run there): every rank must follow them, or the
// ranks' weights (and the sum of their gradients) would part from one process's.
struct Steer : dt::Callback {
  std::string name() const override { return "steer"; }
  void on_epoch_end(dt::TrainingState& s) override {
    if (s.epoch == 1) s.learning_rate *= 0.5;
    if (s.epoch == 3) s.request_stop("the driver's planned stop after epoch 4 of 5");
  }
};

void train(deepjet::mpi::Communicator& ranks, const fs::path& dir, const fs::path& output, unsigned threads, int exit_rank,
           std::uint64_t exit_epoch, int missing_file_rank, int stall_rank) {
  auto collection = dd::Collection<TestData>::load(dir / "data" / "collection.h5");
  auto split = dd::split_by_fraction(collection, dir / "data", 0.2);
  if (ranks.rank() == missing_file_rank) split.train[0].file = dir / "data" / "not_on_this_node.h5";
  deepjet::Model<Net> model(/*seed=*/4);
  dd::Loader<TestData> train_loader(split.train, {.batch_size = 64, .seed = 9, .chunk_jets = 256});
  dd::Loader<TestData> validation(split.validation, {.batch_size = 100, .shuffle = false});
  dt::Trainer<TestData, Net> trainer(model, {.output = output,
                                             .stages = {{.epochs = 1, .learning_rate = 3e-3},
                                                        {.epochs = 4, .learning_rate = 1e-3, .freeze = {"0.0"}}},
                                             .threads = threads, .seed = 2, .checkpoint_every_batches = 7,
                                             .communicator = ranks.size() > 1 ? &ranks : nullptr});
  trainer.add(std::make_unique<dt::HistoryFiles>());
  // patience 1 changes the learning rate on rank 0 within these few epochs: every rank must follow.
  trainer.add(std::make_unique<dt::ReduceLearningRateOnPlateau>(0.5, 1, 1e-5));
  trainer.add(std::make_unique<Steer>());
  auto exit = std::make_unique<ExitAfterEpoch>();
  exit->rank = exit_rank;
  exit->this_rank = ranks.rank();
  exit->epoch = exit_epoch;
  exit->stall_rank = stall_rank;
  trainer.add(std::move(exit));
  const auto history = trainer.fit(train_loader, &validation);
  if (ranks.rank() == 0)
    std::printf("deepjet_mpi_driver: %d ranks x %u threads, %zu epochs, last learning rate %g, validation loss %.9g\n",
                ranks.size(), threads, history.size(), history.back().learning_rate, history.back().validation_loss);
}

int compare(const fs::path& a, const fs::path& b) {
  deepjet::Model<Net> first, second;
  deepjet::Adam adam_first, adam_second;
  deepjet::load_model(first, a, &adam_first);
  deepjet::load_model(second, b, &adam_second);
  const auto p = first.parameters(), q = second.parameters();
  for (std::size_t i = 0; i < p.size(); ++i)
    if (std::memcmp(&p[i], &q[i], sizeof(float)) != 0) {
      std::printf("deepjet_mpi_driver: parameter %zu differs: %.9g and %.9g\n", i, p[i], q[i]);
      return 1;
    }
  const auto extras_a = deepjet::load_model_extras(a), extras_b = deepjet::load_model_extras(b);
  if (extras_a.at("trainer") != extras_b.at("trainer")) {
    std::printf("deepjet_mpi_driver: the trainer states differ:\n  %s\n  %s\n", extras_a.at("trainer").c_str(),
                extras_b.at("trainer").c_str());
    return 1;
  }
  std::printf("deepjet_mpi_driver: %zu parameters and the trainer state bit-identical\n", p.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 3 && args[0] == "compare") try {
      return compare(args[1], args[2]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "deepjet_mpi_driver: %s\n", e.what());
      return 1;
    }
  if (args.size() == 2 && args[0] == "prepare") try {
      prepare(args[1]);
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "deepjet_mpi_driver: %s\n", e.what());
      return 1;
    }
  auto guarded = [](auto&& f) {
    try {
      return f();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "deepjet_mpi_driver: %s\n", e.what());
      return 1;
    }
  };
  if (args.size() == 3 && args[0] == "same-predictions") return guarded([&] { return same_predictions(args[1], args[2]); });
  if (args.size() == 4 && args[0] == "predict")
    return deepjet::mpi::run(argc, argv, [&](deepjet::mpi::Communicator& ranks) {
      const auto collection = dd::Collection<TestData>::load(fs::path(args[1]) / "data" / "collection.h5");
      deepjet::Model<Net> model;
      deepjet::load_model(model, args[2]);
      const auto r = dt::predict_sources<TestData>(model, collection.normalisation, conversion_sources(args[1]), "tree", args[3],
                                                   {.communicator = &ranks});
      if (ranks.rank() == 0)
        std::printf("deepjet_mpi_driver: %d ranks: %zu predicted, %zu already there, %zu failed\n", ranks.size(), r.predicted,
                    r.skipped, r.failures.size());
    });
  if (args.size() == 3 && args[0] == "same-collection") return guarded([&] { return same_collection(args[1], args[2]); });
  if (args.size() == 3 && args[0] == "convert-plan")
    return guarded([&] {
      dd::prepare_collection<TestData>(conversion_sources(args[1]), "tree", args[2], {.progress = false});
      return 0;
    });
  if (args.size() == 3 && args[0] == "convert-one")  // a failure is recorded, and the job's status says so
    return guarded([&] {
      dd::convert_listed<TestData>(args[1], std::stoul(args[2]));
      return 0;
    });
  if (args.size() == 2 && args[0] == "gather")
    return guarded([&] {
      const auto r = dd::gather_conversions<TestData>(args[1]);
      std::printf("deepjet_mpi_driver: gathered %zu files and %zu failures\n", r.converted, r.failed);
      return 0;
    });
  if (args.size() == 3 && args[0] == "convert")
    return deepjet::mpi::run(argc, argv, [&](deepjet::mpi::Communicator& ranks) {
      const auto r = dd::convert_sources<TestData>(conversion_sources(args[1]), "tree", args[2],
                                                   {.progress = false, .communicator = &ranks});
      if (ranks.rank() == 0)
        std::printf("deepjet_mpi_driver: %d ranks: %zu converted, %zu already done, %zu failed\n", ranks.size(), r.converted,
                    r.skipped, r.failed);
    });
  if (args.size() < 3 || args[0] != "train") {
    std::fprintf(stderr, "usage: deepjet_mpi_driver prepare DIR | train DIR OUT --threads T [...] | compare A B\n");
    return 2;
  }
  unsigned threads = 1;
  int exit_rank = -1, missing_file_rank = -1, stall_rank = -1;
  std::uint64_t exit_epoch = 0;
  for (std::size_t i = 3; i + 1 < args.size(); i += 2) {
    if (args[i] == "--threads") threads = static_cast<unsigned>(std::stoul(args[i + 1]));
    else if (args[i] == "--exit-rank") exit_rank = std::stoi(args[i + 1]);
    else if (args[i] == "--exit-after-epoch") exit_epoch = std::stoull(args[i + 1]) - 1;
    else if (args[i] == "--missing-file-on-rank") missing_file_rank = std::stoi(args[i + 1]);
    else if (args[i] == "--stall-rank") stall_rank = std::stoi(args[i + 1]);
  }
  return deepjet::mpi::run(argc, argv, [&](deepjet::mpi::Communicator& ranks) {
    train(ranks, args[1], args[2], threads, exit_rank, exit_epoch, missing_file_rank, stall_rank);
  });
}
