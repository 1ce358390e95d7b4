// deepjet_quickstart: the DeepJet workflow on example jets, the commands of the original framework.
//
//   deepjet_quickstart all       [options]   generate, convert, train, predict, evaluate
//   deepjet_quickstart generate  [options]   example jets as DeepNTuples-like ROOT files:
//                                            <dir>/sources/train_<i>.root, <dir>/sources/test.root
//   deepjet_quickstart convert   [options]   training files and <dir>/converted/collection.h5 (with the
//                                            class weighter); the test jets in <dir>/converted_test
//   deepjet_quickstart train     [options]   <dir>/training: checkpoints, history, bookkeeping, and
//                                            model.onnx (the best model for ONNX Runtime / CMSSW;
//                                            built with libonnx-dev only)
//   deepjet_quickstart predict   [options]   <dir>/predictions: per test source a ROOT tree (test.root,
//                                            a friend of the source's deepntuplizer/tree) and the
//                                            same as HDF5 (test.h5); the list of files
//   deepjet_quickstart evaluate  [options]   <dir>/report from predictions/test.root: ROC curves, AUCs,
//                                            report.html, results.json
// convert as independent batch jobs (HTCondor, Slurm; docs/distributed.md), instead of convert:
//   deepjet_quickstart convert-plan    [options]   <dir>/converted/collection.h5 (normalisation) and
//                                                  <dir>/batch/convert.sub, convert.slurm
//   deepjet_quickstart convert-one --index I [options]   one job: training source I
//   deepjet_quickstart convert-gather  [options]   the jobs' results into the collection, then what
//                                                  convert does after converting
// options: --dir D (deepjet-quickstart)  --files N (4)  --jets N per file (25000)  --test-jets N (25000)
//          --epochs N (4)  --batch N (500)  --threads N (2)  --seed N (1)  --sources root|h5 (root)
//          --precision float32|bfloat16 (float32): predict's number format (docs/performance.md)
//
// Every step reads what the one before wrote, so steps can be rerun one at a time; convert and
// train resume where an interrupted run stopped.
//
// Built with MPI (DEEPJET_QUICKSTART_MPI, on where MPI is found), `mpirun -n R deepjet_quickstart
// train --threads T` trains as R ranks of T threads and gives the weights of `train --threads R*T`
// bit for bit (docs/distributed.md); train prints a fingerprint of the final weights to compare.
// convert and predict split their source files over the ranks; generate and evaluate run on
// rank 0 while the other ranks wait. The model is the DeepJet reference model
// (deepjet/zoo/deepjet.hpp) and the data format DeepJetData (deepjet_data.hpp); the training
// follows DeepJet's recipe: one epoch at learning rate 1e-3, then the input BatchNorms are frozen
// and training goes on at 1e-4, with class weights that give every class the b spectrum in
// (pT, eta).
#include "deepjet_data.hpp"
#include <deepjet/zoo/deepjet.hpp>

#ifdef DEEPJET_QUICKSTART_ONNX
#include <deepjet/interchange/onnx/writer.hpp>
#endif
#ifdef DEEPJET_QUICKSTART_MPI
#include <deepjet/parallel/mpi.hpp>
#endif

#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace dd = deepjet::data;
namespace dt = deepjet::training;
using Data = deepjet::zoo::DeepJetData;
using Net = deepjet::zoo::DeepJet;
constexpr const char* table = "deepntuplizer/tree";

struct Options {
  fs::path dir = "deepjet-quickstart";
  std::uint64_t files = 4;
  std::uint64_t jets = 25000;
  std::uint64_t test_jets = 25000;
  std::uint64_t epochs = 4;
  std::size_t batch = 500;
  unsigned threads = 2;
  std::uint64_t seed = 1;
  std::string sources = "root";  ///< the example files' format: "root" (as the ntupler) or "h5" (source tables)
  std::size_t index = 0;  ///< convert-one's source number
  deepjet::Precision precision = deepjet::Precision::float32;  ///< predict's number format
  /// The other ranks of an MPI job (nullptr: this process alone).
  deepjet::Communicator* ranks = nullptr;
  bool lead() const { return !ranks || ranks->rank() == 0; }
};

std::vector<std::string> training_sources(const Options& o) {
  std::vector<std::string> sources;
  for (std::uint64_t i = 0; i < o.files; ++i) sources.push_back((o.dir / "sources" / ("train_" + std::to_string(i) + "." + o.sources)).string());
  return sources;
}
std::string test_source(const Options& o) { return (o.dir / "sources" / ("test." + o.sources)).string(); }

void generate(const Options& o) {
  fs::create_directories(o.dir / "sources");
  // The files one per thread (zlib's deflate, not the simulation, takes most of the time).
  struct Job {
    std::string path;
    std::uint64_t jets, seed;
  };
  std::vector<Job> jobs;
  const auto sources = training_sources(o);
  for (std::uint64_t i = 0; i < o.files; ++i) jobs.push_back({sources[i], o.jets, o.seed * 1000 + i});
  jobs.push_back({test_source(o), o.test_jets, o.seed * 1000 + 999});
  std::atomic<std::size_t> next{0};
  std::vector<std::exception_ptr> errors(jobs.size());
  auto work = [&] {
    for (std::size_t k; (k = next++) < jobs.size();) {
      if (fs::exists(jobs[k].path)) continue;
      try {
        dd::generate_example_jets(jobs[k].path, {.jets = jobs[k].jets, .seed = jobs[k].seed});
      } catch (...) {
        errors[k] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < std::max(1u, o.threads); ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  std::printf("generate: %llu training files of %llu jets and a test file of %llu jets in %s\n",
              static_cast<unsigned long long>(o.files), static_cast<unsigned long long>(o.jets),
              static_cast<unsigned long long>(o.test_jets), (o.dir / "sources").c_str());
}

// After the training sources are converted: the class weighter and the test jets (rank 0).
void finish_conversion(const Options& o, const dd::ConvertSourcesReport& report) {
  auto collection = dd::Collection<Data>::load(o.dir / "converted" / "collection.h5");
  if (!collection.extras.contains("weighter")) {
    const auto weighter = dd::measure_weighter(collection, o.dir / "converted",
                                               dd::WeighterConfig::for_format<Data>(dd::WeightMode::reference, "b"));
    collection.extras["weighter"] = weighter.to_text();
    collection.save(o.dir / "converted" / "collection.h5");
  }
  // The test jets too, with the training's normalisation: what another framework (the PyTorch
  // comparison in benchmarks/) reads to evaluate on exactly the same inputs.
  const auto test_file = o.dir / "converted_test" / "test.h5";
  if (!fs::exists(test_file)) {
    fs::create_directories(test_file.parent_path());
    dd::convert_file<Data>(test_source(o), table, test_file, collection.normalisation);
  }
  std::printf("convert: %zu converted, %zu already done, %zu failed, %llu jets (%.1f s)\n", report.converted,
              report.skipped, report.failed, static_cast<unsigned long long>(report.jets), report.seconds);
  if (report.failed) throw deepjet::Error("convert: some sources failed; see " + (o.dir / "converted" / "collection.h5").string());
}

void convert(const Options& o) {
  const auto report = dd::convert_sources<Data>(training_sources(o), table, o.dir / "converted",
                                                {.threads = o.threads, .communicator = o.ranks});
  if (o.lead()) finish_conversion(o, report);
}

// This program's path for the job scripts (argv[0] may be a bare name found through PATH).
fs::path this_program(const char* argv0) {
  std::error_code error;
  const auto self = fs::read_symlink("/proc/self/exe", error);
  return error ? fs::absolute(argv0) : self;
}

// The batch-system way: the collection and its normalisation first, and the job scripts.
void convert_plan(const Options& o, const char* program) {
  const auto collection = dd::prepare_collection<Data>(training_sources(o), table, o.dir / "converted");
  const auto batch = fs::absolute(o.dir / "batch");
  fs::create_directories(batch / "logs");
  const dd::BatchJobs jobs{.name = "convert",
                           .executable = this_program(program).string(),
                           .arguments = {"convert-one", "--dir", fs::absolute(o.dir).string(), "--index", "{index}"},
                           .jobs = collection.sources.size(),
                           .logs = batch / "logs"};
  deepjet::write_text_file(batch / "convert.sub", dd::htcondor_submit(jobs));
  deepjet::write_text_file(batch / "convert.slurm", dd::slurm_array(jobs));
  std::printf("convert-plan: %zu jobs: condor_submit %s  or  sbatch %s; then convert-gather\n", jobs.jobs,
              (batch / "convert.sub").c_str(), (batch / "convert.slurm").c_str());
}

void convert_one(const Options& o) {
  const auto r = dd::convert_listed<Data>(o.dir / "converted", o.index);
  std::printf("convert-one: %s -> %s, %llu jets (%.1f s)\n", r.source.c_str(), r.output.c_str(),
              static_cast<unsigned long long>(r.jets), r.seconds);
}

void convert_gather(const Options& o) {
  const auto report = dd::gather_conversions<Data>(o.dir / "converted");
  finish_conversion(o, report);
}

void train(const Options& o) {
  const auto collection = dd::Collection<Data>::load(o.dir / "converted" / "collection.h5");
  const auto weighter = dd::Weighter::from_text(collection.extras.at("weighter"));
  const auto split = dd::split_by_fraction(collection, o.dir / "converted", 0.15);
  dd::Loader<Data> train_loader(split.train, {.batch_size = o.batch, .seed = o.seed, .weighter = &weighter});
  dd::Loader<Data> validation(split.validation, {.batch_size = 2000, .shuffle = false, .weighter = &weighter});
  deepjet::Model<Net> model(o.seed);
  // DeepJet's recipe: the input BatchNorms of the four blocks are frozen after the first epoch.
  dt::Trainer<Data, Net> trainer(model, {.output = o.dir / "training",
                                         .stages = {{.epochs = 1, .learning_rate = 1e-3},
                                                    {.epochs = o.epochs - 1, .learning_rate = 1e-4,
                                                     .freeze = {"0.0", "0.1.0", "0.2.0", "0.3.0"}}},
                                         .threads = o.threads,
                                         .seed = o.seed,
                                         .checkpoint_every_batches = 200,
                                         .communicator = o.ranks});
  // Bookkeeping: the data collection trained on (files, normalisation, weighter) beside the model.
  if (o.lead()) {
    fs::create_directories(o.dir / "training");
    fs::copy_file(o.dir / "converted" / "collection.h5", o.dir / "training" / "collection.h5",
                  fs::copy_options::skip_existing);
  }
  trainer.add(std::make_unique<dt::ProgressBar>());
  trainer.add(std::make_unique<dt::HistoryFiles>());
  trainer.add(std::make_unique<dt::BestModelCheckpoint>());
  trainer.add(std::make_unique<dt::EpochCheckpoints>());
  trainer.add(std::make_unique<dt::ReduceLearningRateOnPlateau>(0.5, 2, 1e-5));
  const auto history = trainer.fit(train_loader, &validation);
  if (!o.lead()) return;  // rank 0 reports and exports
  // FNV-1a of the final parameters' bytes: two runs print the same value iff their weights agree
  // bit for bit (e.g. mpirun -n 2 train --threads 1 and train --threads 2).
  std::uint64_t fingerprint = 0xcbf29ce484222325ULL;
  for (const float value : model.parameters()) {
    unsigned char bytes[sizeof(float)];
    std::memcpy(bytes, &value, sizeof value);
    for (const unsigned char b : bytes) fingerprint = (fingerprint ^ b) * 0x100000001b3ULL;
  }
  std::printf("train: weights fingerprint %016llx (%zu ranks x %u threads)\n", static_cast<unsigned long long>(fingerprint),
              o.ranks ? static_cast<std::size_t>(o.ranks->size()) : std::size_t{1}, o.threads);
  std::printf("train: %zu epochs, last validation loss %.4f, accuracy %.4f, model in %s\n", history.size(),
              history.empty() ? 0.0 : history.back().validation_loss, history.empty() ? 0.0 : history.back().validation_accuracy,
              (o.dir / "training" / "checkpoint_best.h5").c_str());
#ifdef DEEPJET_QUICKSTART_ONNX
  // The best model also as ONNX, for ONNX Runtime (CMSSW): the same normalised input blocks, the
  // same class probabilities.
  deepjet::Model<Net> best;
  deepjet::load_model(best, o.dir / "training" / "checkpoint_best.h5");
  deepjet::onnx::export_model(best, o.dir / "training" / "model.onnx",
                              {.input_names = {"global", "cpf", "npf", "sv"}, .output_names = {"probabilities"}});
  std::printf("train: ONNX model in %s\n", (o.dir / "training" / "model.onnx").c_str());
#endif
}

void predict(const Options& o) {
  const auto collection = dd::Collection<Data>::load(o.dir / "converted" / "collection.h5");
  const auto weighter = dd::Weighter::from_text(collection.extras.at("weighter"));
  deepjet::Model<Net> model;
  deepjet::load_model(model, o.dir / "training" / "checkpoint_best.h5");
  if (o.ranks) {
    // Under mpirun the test sources are split over the ranks (one here), as HDF5 prediction files.
    const auto report = dt::predict_sources<Data>(model, collection.normalisation, {test_source(o)}, table, o.dir / "predictions",
                                                  {.weighter = &weighter, .communicator = o.ranks, .precision = o.precision});
    if (!report.failures.empty()) throw deepjet::FileError(report.failures[0].first, report.failures[0].second);
    if (o.lead())
      std::printf("predict: %zu predicted, %zu already there -> %s\n", report.predicted, report.skipped,
                  (o.dir / "predictions" / "predictions.txt").c_str());
    return;
  }
  fs::create_directories(o.dir / "predictions");
  // One pass of the model, two files: a ROOT tree to add as a friend of the test ntuple, and HDF5.
  const auto reports = dt::predict_source<Data>(model, collection.normalisation, test_source(o), table,
                                                std::vector<fs::path>{o.dir / "predictions" / "test.root",
                                                                      o.dir / "predictions" / "test.h5"},
                                                &weighter, {.precision = o.precision});
  dt::write_prediction_list(o.dir / "predictions" / "predictions.txt", reports);
  for (const auto& report : reports)
    std::printf("predict: %llu jets of %s -> %s\n", static_cast<unsigned long long>(report.jets), report.input.c_str(),
                report.output.c_str());
}

int usage() {
  std::fprintf(stderr,
               "usage: deepjet_quickstart all|generate|convert|train|predict|evaluate [--dir D] [--files N] [--jets N]\n"
               "       [--test-jets N] [--epochs N] [--batch N] [--threads N] [--seed N] [--sources root|h5]\n"
               "       [--precision float32|bfloat16]\n"
               "       deepjet_quickstart convert-plan|convert-one --index I|convert-gather [options]  (batch jobs)\n");
  return 2;
}

}  // namespace

void evaluate(const Options& o) {
  namespace de = deepjet::evaluation;
  std::ifstream list(o.dir / "predictions" / "predictions.txt");
  std::string first;
  if (!std::getline(list, first)) throw deepjet::FileError((o.dir / "predictions" / "predictions.txt").string(), "lists no prediction file");
  const auto p = dt::read_predictions(first);  // test.root (or test.h5 under mpirun): the same values
  de::EvaluationSettings settings;
  settings.groupings = de::deepjet_groupings();
  settings.cuts = {de::Cut::above("jet_pt", 30), de::Cut::absolute_below("jet_eta", 2.5)};
  settings.efficiency_bins = {{"jet_pt", {30, 50, 70, 100, 150, 200, 300, 500, 1000}}};
  auto results = de::evaluate(p.probabilities, p.truth, p.spectator_values, p.classes, p.spectators, settings);
  results.title = "DeepJet on example jets";
  // The training curves, from the trainer's history.
  std::ifstream history(o.dir / "training" / "history.csv");
  std::string line;
  std::getline(history, line);
  while (std::getline(history, line)) {
    if (line.empty()) continue;
    const auto r = dt::from_csv_line(line);
    results.training.training_loss.push_back(r.train_loss);
    results.training.validation_loss.push_back(r.validation_loss);
    results.training.training_accuracy.push_back(r.train_accuracy);
    results.training.validation_accuracy.push_back(r.validation_accuracy);
  }
  de::write_report(o.dir / "report", results);
  for (const auto& g : results.groupings) std::printf("evaluate: %s AUC = %.4f\n", g.grouping.name.c_str(), g.auc);
  std::printf("b vs udsg AUC: %.4f\nreport: %s\n", results.groupings.at(0).auc,
              fs::absolute(o.dir / "report" / "report.html").c_str());
}

// The commands asked for; under mpirun convert, train and predict run on every rank (each splits
// its work), generate and evaluate on rank 0 while the other ranks wait for it.
void run_commands(const std::string& command, const Options& o) {
  const bool all = command == "all";
  // Every rank waits here until rank 0 has finished the step (its files are complete).
  auto rank_zero_done = [&] {
    if (!o.ranks) return;
    std::byte done{};
    o.ranks->broadcast(std::span(&done, 1), 0);
  };
  if (all || command == "generate") {
    if (o.lead()) generate(o);
    rank_zero_done();
  }
  if (all || command == "convert") {
    convert(o);
    rank_zero_done();
  }
  if (all || command == "train") {
    train(o);
    rank_zero_done();
  }
  if (all || command == "predict") {
    predict(o);
    rank_zero_done();
  }
  if (all || command == "evaluate") {
    if (o.lead()) evaluate(o);
    rank_zero_done();
  }
}

int main(int argc, char** argv) try {
  if (argc < 2) return usage();
  const std::string command = argv[1];
  Options o;
  for (int i = 2; i < argc; i += 2) {
    if (i + 1 >= argc) return usage();
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--dir") o.dir = value;
    else if (key == "--files") o.files = std::stoull(value);
    else if (key == "--jets") o.jets = std::stoull(value);
    else if (key == "--test-jets") o.test_jets = std::stoull(value);
    else if (key == "--epochs") o.epochs = std::max<std::uint64_t>(1, std::stoull(value));
    else if (key == "--batch") o.batch = std::stoull(value);
    else if (key == "--threads") o.threads = static_cast<unsigned>(std::stoul(value));
    else if (key == "--seed") o.seed = std::stoull(value);
    else if (key == "--sources" && (value == "root" || value == "h5")) o.sources = value;
    else if (key == "--index") o.index = std::stoull(value);
    else if (key == "--precision" && (value == "float32" || value == "bfloat16"))
      o.precision = value == "bfloat16" ? deepjet::Precision::bfloat16 : deepjet::Precision::float32;
    else return usage();
  }
  if (o.epochs < 2) o.epochs = 2;  // the recipe has two stages
  const bool all = command == "all";
  // The batch-job commands run alone (one process, no MPI).
  if (command == "convert-plan") return convert_plan(o, argv[0]), 0;
  if (command == "convert-one") return convert_one(o), 0;
  if (command == "convert-gather") return convert_gather(o), 0;
  if (!all && command != "generate" && command != "convert" && command != "train" && command != "predict" && command != "evaluate")
    return usage();
#ifdef DEEPJET_QUICKSTART_MPI
  // One rank of an MPI job (a single rank when started without mpirun); an error on any rank ends
  // the job with the rank's message.
  return deepjet::mpi::run(argc, argv, [&](deepjet::mpi::Communicator& ranks) {
    if (ranks.size() > 1) o.ranks = &ranks;
    run_commands(command, o);
  });
#else
  run_commands(command, o);
  return 0;
#endif
} catch (const std::exception& e) {
  std::fprintf(stderr, "deepjet_quickstart: %s\n", e.what());
  return 1;
}
