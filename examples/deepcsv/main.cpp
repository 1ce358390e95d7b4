// deepcsv_quickstart: the DeepCSV workflow, CMS's dense b-tagger on 66 flat features per jet, with
// the commands of the DeepJet quick-start.
//
//   deepcsv_quickstart all       [options]   generate, convert, train, predict, evaluate
//   deepcsv_quickstart generate  [options]   DeepCSV ntuples derived from the DeepJet example jets
//                                            (deepcsv_ntuple.hpp): <dir>/sources/train_<i>.root, test.root
//   deepcsv_quickstart convert   [options]   training files and <dir>/converted/collection.h5, with the
//                                            class weighter (every class takes the b spectrum in (pT, eta))
//   deepcsv_quickstart train     [options]   <dir>/training: checkpoints, history, bookkeeping, and
//                                            model.onnx (built with libonnx-dev only)
//   deepcsv_quickstart predict   [options]   <dir>/predictions: the test jets' b, bb, c, udsg probabilities
//   deepcsv_quickstart evaluate  [options]   <dir>/report: ROC curves, AUCs, report.html, results.json
// options: --dir D (deepcsv-quickstart)  --files N (4)  --jets N per file (50000)  --test-jets N (50000)
//          --epochs N (10)  --batch N (1000)  --threads N (2)  --seed N (1)
//
// Every step reads what the one before wrote, so steps can be rerun one at a time. The model is
// CMS's DeepCSV (deepjet/zoo/deepcsv.hpp: five Dense 100 ReLU layers with dropout,
// softmax over b, bb, c, udsg) and the data format DeepCSVData (deepcsv_data.hpp).
#include <deepjet/zoo/deepcsv.hpp>
#include "deepcsv_data.hpp"
#include "deepcsv_ntuple.hpp"

#ifdef DEEPJET_QUICKSTART_ONNX
#include <deepjet/interchange/onnx/writer.hpp>
#endif

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
namespace dd = deepjet::data;
namespace dt = deepjet::training;
namespace de = deepjet::evaluation;
using Data = deepjet::zoo::DeepCSVData;

/// CMS's DeepCSV (the reference type, unchanged) fed by the data format: a format's inputs are a
/// list of blocks (Inputs<Shape<66>>), DeepCSV takes one flat row (Input<66>), and Concatenate
/// turns the one-block list into that row. The compiler checks that the row is DeepCSV's input.
template <class Reference, class FormatInputs>
struct FedByFormat;
template <deepjet::AnyShape In, class... Layers, class FormatInputs>
struct FedByFormat<deepjet::SequentialLayer<In, Layers...>, FormatInputs> {
  using type = deepjet::Sequential<FormatInputs, deepjet::Concatenate, Layers...>;
  static_assert(std::is_same_v<typename deepjet::Sequential<FormatInputs, deepjet::Concatenate>::output_shape, In>,
                "the data format's block is not DeepCSV's input");
};
using Net = FedByFormat<deepjet::zoo::DeepCSV, Data::input_shape>::type;
constexpr const char* table = deepjet::zoo::deepcsv_tree;

struct Options {
  fs::path dir = "deepcsv-quickstart";
  std::uint64_t files = 4;
  std::uint64_t jets = 50000;
  std::uint64_t test_jets = 50000;
  std::uint64_t epochs = 10;
  std::size_t batch = 1000;
  unsigned threads = 2;
  std::uint64_t seed = 1;
};

std::vector<std::string> training_sources(const Options& o) {
  std::vector<std::string> sources;
  for (std::uint64_t i = 0; i < o.files; ++i) sources.push_back((o.dir / "sources" / ("train_" + std::to_string(i) + ".root")).string());
  return sources;
}
std::string test_source(const Options& o) { return (o.dir / "sources" / "test.root").string(); }

void generate(const Options& o) {
  fs::create_directories(o.dir / "sources");
  const auto sources = training_sources(o);
  for (std::uint64_t i = 0; i < o.files; ++i) {
    if (fs::exists(sources[i])) continue;
    deepjet::zoo::write_deepcsv_ntuple(sources[i], {.jets = o.jets, .seed = o.seed * 1000 + i});
  }
  if (!fs::exists(test_source(o)))
    deepjet::zoo::write_deepcsv_ntuple(test_source(o), {.jets = o.test_jets, .seed = o.seed * 1000 + 999});
  std::printf("generate: %llu training files of %llu jets and a test file of %llu jets in %s\n",
              static_cast<unsigned long long>(o.files), static_cast<unsigned long long>(o.jets),
              static_cast<unsigned long long>(o.test_jets), (o.dir / "sources").c_str());
}

void convert(const Options& o) {
  const auto report = dd::convert_sources<Data>(training_sources(o), table, o.dir / "converted", {.threads = o.threads});
  auto collection = dd::Collection<Data>::load(o.dir / "converted" / "collection.h5");
  if (!collection.extras.contains("weighter")) {
    const auto weighter = dd::measure_weighter(collection, o.dir / "converted",
                                               dd::WeighterConfig::for_format<Data>(dd::WeightMode::reference, "b"));
    collection.extras["weighter"] = weighter.to_text();
    collection.save(o.dir / "converted" / "collection.h5");
  }
  std::printf("convert: %zu converted, %zu already done, %zu failed, %llu jets (%.1f s)\n", report.converted,
              report.skipped, report.failed, static_cast<unsigned long long>(report.jets), report.seconds);
  if (report.failed) throw deepjet::Error("convert: some sources failed; see " + (o.dir / "converted" / "collection.h5").string());
}

void train(const Options& o) {
  const auto collection = dd::Collection<Data>::load(o.dir / "converted" / "collection.h5");
  const auto weighter = dd::Weighter::from_text(collection.extras.at("weighter"));
  const auto split = dd::split_by_fraction(collection, o.dir / "converted", 0.15);
  dd::Loader<Data> train_loader(split.train, {.batch_size = o.batch, .seed = o.seed, .weighter = &weighter});
  dd::Loader<Data> validation(split.validation, {.batch_size = 5000, .shuffle = false, .weighter = &weighter});
  deepjet::Model<Net> model(o.seed);
  // Adam at 1e-3, then a tenth of it for the last fifth of the epochs.
  const std::uint64_t late = std::max<std::uint64_t>(1, o.epochs / 5);
  std::vector<dt::Stage> stages{{.epochs = std::max<std::uint64_t>(1, o.epochs - late), .learning_rate = 1e-3}};
  if (o.epochs > 1) stages.push_back({.epochs = late, .learning_rate = 1e-4});
  dt::Trainer<Data, Net> trainer(model, {.output = o.dir / "training", .stages = stages, .threads = o.threads, .seed = o.seed});
  fs::create_directories(o.dir / "training");
  fs::copy_file(o.dir / "converted" / "collection.h5", o.dir / "training" / "collection.h5",
                fs::copy_options::skip_existing);
  trainer.add(std::make_unique<dt::ProgressBar>());
  trainer.add(std::make_unique<dt::HistoryFiles>());
  trainer.add(std::make_unique<dt::BestModelCheckpoint>());
  trainer.add(std::make_unique<dt::EpochCheckpoints>());
  const auto history = trainer.fit(train_loader, &validation);
  std::printf("train: %zu epochs, last validation loss %.4f, accuracy %.4f, model in %s\n", history.size(),
              history.empty() ? 0.0 : history.back().validation_loss, history.empty() ? 0.0 : history.back().validation_accuracy,
              (o.dir / "training" / "checkpoint_best.h5").c_str());
#ifdef DEEPJET_QUICKSTART_ONNX
  // The best model also as ONNX (for ONNX Runtime, CMSSW): the same normalised input blocks, the
  // same class probabilities. Built with libonnx-dev only.
  deepjet::Model<Net> best;
  deepjet::load_model(best, o.dir / "training" / "checkpoint_best.h5");
  deepjet::onnx::export_model(best, o.dir / "training" / "model.onnx",
                              {.input_names = {"deepcsv"}, .output_names = {"probabilities"}});
  std::printf("train: ONNX model in %s\n", (o.dir / "training" / "model.onnx").c_str());
#endif
}

void predict(const Options& o) {
  const auto collection = dd::Collection<Data>::load(o.dir / "converted" / "collection.h5");
  const auto weighter = dd::Weighter::from_text(collection.extras.at("weighter"));
  deepjet::Model<Net> model;
  deepjet::load_model(model, o.dir / "training" / "checkpoint_best.h5");
  fs::create_directories(o.dir / "predictions");
  const auto report = dt::predict_source<Data>(model, collection.normalisation, test_source(o), table,
                                               o.dir / "predictions" / "test.h5", &weighter);
  dt::write_prediction_list(o.dir / "predictions" / "predictions.txt", {report});
  std::printf("predict: %llu jets of %s -> %s\n", static_cast<unsigned long long>(report.jets), report.input.c_str(),
              report.output.c_str());
}

/// CMS's DeepCSV discriminants: BvsAll = p_b + p_bb; CvsL = p_c / (p_c + p_udsg); CvsB = p_c / (p_c + p_b + p_bb).
std::vector<de::Grouping> deepcsv_groupings() {
  return {{"b vs udsg", {"b", "bb"}, {"udsg"}, {"b", "bb"}, {}},
          {"b vs c", {"b", "bb"}, {"c"}, {"b", "bb"}, {}},
          {"c vs udsg", {"c"}, {"udsg"}, {"c"}, {"c", "udsg"}},
          {"c vs b", {"c"}, {"b", "bb"}, {"c"}, {"c", "b", "bb"}}};
}

void evaluate(const Options& o) {
  const auto p = dt::read_predictions(o.dir / "predictions" / "test.h5");
  de::EvaluationSettings settings;
  settings.groupings = deepcsv_groupings();
  settings.cuts = {de::Cut::above("jet_pt", 30), de::Cut::absolute_below("jet_eta", 2.5)};
  settings.efficiency_bins = {{"jet_pt", {30, 50, 70, 100, 150, 200, 300, 500, 1000}}};
  auto results = de::evaluate(p.probabilities, p.truth, p.spectator_values, p.classes, p.spectators, settings);
  results.title = "DeepCSV on example jets";
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
  std::printf("report: %s\n", fs::absolute(o.dir / "report" / "report.html").c_str());
  std::printf("AUC b vs udsg %.4f  b vs c %.4f  c vs udsg %.4f  c vs b %.4f\n", results.groupings[0].auc,
              results.groupings[1].auc, results.groupings[2].auc, results.groupings[3].auc);
}

int usage() {
  std::fprintf(stderr,
               "usage: deepcsv_quickstart all|generate|convert|train|predict|evaluate [--dir D] [--files N] [--jets N]\n"
               "       [--test-jets N] [--epochs N] [--batch N] [--threads N] [--seed N]\n");
  return 2;
}

}  // namespace

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
    else return usage();
  }
  const bool all = command == "all";
  if (!all && command != "generate" && command != "convert" && command != "train" && command != "predict" && command != "evaluate")
    return usage();
  if (all || command == "generate") generate(o);
  if (all || command == "convert") convert(o);
  if (all || command == "train") train(o);
  if (all || command == "predict") predict(o);
  if (all || command == "evaluate") evaluate(o);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "deepcsv_quickstart: %s\n", e.what());
  return 1;
}
