// boosted_quickstart: the boosted-jet (DeepAK8) workflow on example fat jets, with the commands of
// the DeepJet quick-start.
//
//   boosted_quickstart all       [options]   generate, convert, train, predict, evaluate
//   boosted_quickstart generate  [options]   example fat jets as ROOT ntuples: <dir>/sources/train_<i>.root,
//                                            <dir>/sources/test.root (deepjet/example_data/fat_jets.hpp)
//   boosted_quickstart convert   [options]   training files and <dir>/converted/collection.h5, with the
//                                            class weighter that flattens every class in (pT, soft-drop mass);
//                                            the test jets in <dir>/converted_test
//   boosted_quickstart train     [options]   <dir>/training: checkpoints, history, bookkeeping, and
//                                            model.onnx (built with libonnx-dev only)
//   boosted_quickstart predict   [options]   <dir>/predictions: the test jets' 17 class probabilities
//   boosted_quickstart evaluate  [options]   <dir>/report: top/W/Z/H->bb vs QCD ROC curves and AUCs,
//                                            the QCD mass before and after each discriminant's cuts
//                                            (mass sculpting), report.html, results.json
// options: --dir D (boosted-quickstart)  --files N (3)  --jets N per file (10000)  --test-jets N (10000)
//          --epochs N (3)  --batch N (256)  --threads N (2)  --seed N (1)
//          --weighting pt-mass|pt (pt-mass): flatten every class in (pT, soft-drop mass), or in pT only
//          (then the network may learn the mass, and the evaluation shows the sculpting it causes)
//
// Every step reads what the one before wrote, so steps can be rerun one at a time; convert and
// train resume where an interrupted run stopped. The model is CMS's DeepAK8 (examples/
// reference_models/deepak8.hpp: a particle CNN over 100 candidates and 7 vertices, 17 classes) and
// the data format BoostedData (boosted_data.hpp). The weighter makes every class flat in (pT,
// soft-drop mass), as CMS's mass-decorrelated DeepAK8 does, so that the network cannot learn the
// mass from the spectrum alone; the evaluation shows how much mass it still sculpts.
#include "boosted_data.hpp"
#include <deepjet/zoo/deepak8.hpp>

#include <deepjet/example_data/fat_jets.hpp>

#include <cmath>
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
using Data = deepjet::zoo::BoostedData;
using Net = deepjet::zoo::DeepAK8;
constexpr const char* table = deepjet::example_data::fat_jets_tree;

struct Options {
  fs::path dir = "boosted-quickstart";
  std::uint64_t files = 3;
  std::uint64_t jets = 10000;
  std::uint64_t test_jets = 10000;
  std::uint64_t epochs = 3;
  bool mass_weighting = true;  ///< flatten in (pT, mass); false: in pT only
  std::size_t batch = 256;
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
    deepjet::example_data::generate_fat_jets(sources[i], {.jets = o.jets, .seed = o.seed * 1000 + i});
  }
  if (!fs::exists(test_source(o)))
    deepjet::example_data::generate_fat_jets(test_source(o), {.jets = o.test_jets, .seed = o.seed * 1000 + 999});
  std::printf("generate: %llu training files of %llu fat jets and a test file of %llu in %s\n",
              static_cast<unsigned long long>(o.files), static_cast<unsigned long long>(o.jets),
              static_cast<unsigned long long>(o.test_jets), (o.dir / "sources").c_str());
}

/// Flat in (pT, soft-drop mass) for every class: pT bins over the generated 300-2000 GeV, mass
/// bins of 20 GeV up to 300 GeV (heavier jets share the last bin). Or flat in pT only: the
/// weighter's second variable is then |eta| in a single bin.
dd::WeighterConfig weighter_config(const Options& o) {
  auto config = dd::WeighterConfig::for_format<Data>(dd::WeightMode::flatten, "QCD_others", "fj_pt",
                                                     o.mass_weighting ? "fj_sdmass" : "fj_eta");
  config.pt_edges = {300, 400, 500, 650, 800, 1000, 1300, 2000};
  if (o.mass_weighting) config.eta_edges = {0, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200, 220, 240, 300};
  else config.eta_edges = {-2.4, 2.4};
  return config;
}

void convert(const Options& o) {
  const auto report = dd::convert_sources<Data>(training_sources(o), table, o.dir / "converted", {.threads = o.threads});
  auto collection = dd::Collection<Data>::load(o.dir / "converted" / "collection.h5");
  if (!collection.extras.contains("weighter")) {
    const auto weighter = dd::measure_weighter(collection, o.dir / "converted", weighter_config(o));
    collection.extras["weighter"] = weighter.to_text();
    collection.save(o.dir / "converted" / "collection.h5");
  }
  // The test jets too, with the training's normalisation: what another framework (the PyTorch
  // comparison, benchmarks/same_physics.sh) reads to evaluate on exactly the same inputs.
  const auto test_file = o.dir / "converted_test" / "test.h5";
  if (!fs::exists(test_file)) {
    fs::create_directories(test_file.parent_path());
    dd::convert_file<Data>(test_source(o), table, test_file, collection.normalisation);
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
  dd::Loader<Data> validation(split.validation, {.batch_size = 1000, .shuffle = false, .weighter = &weighter});
  deepjet::Model<Net> model(o.seed);
  // DeepAK8's recipe (Adam): learning rate 1e-3, then a tenth of it for the last epoch.
  std::vector<dt::Stage> stages{{.epochs = std::max<std::uint64_t>(1, o.epochs - 1), .learning_rate = 1e-3}};
  if (o.epochs > 1) stages.push_back({.epochs = 1, .learning_rate = 1e-4});
  dt::Trainer<Data, Net> trainer(model, {.output = o.dir / "training",
                                         .stages = stages,
                                         .threads = o.threads,
                                         .seed = o.seed,
                                         .checkpoint_every_batches = 100});
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
                              {.input_names = {"pfcand", "sv"}, .output_names = {"probabilities"}});
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

// ---- evaluation ---------------------------------------------------------------------------------

const std::vector<std::string> qcd_classes{"QCD_bb", "QCD_cc", "QCD_b", "QCD_c", "QCD_others"};

/// "X vs QCD" with DeepAK8's discriminant p(X) / (p(X) + p(QCD)), X a set of classes.
de::Grouping versus_qcd(std::string name, std::vector<std::string> signal) {
  std::vector<std::string> denominator = signal;
  denominator.insert(denominator.end(), qcd_classes.begin(), qcd_classes.end());
  return {std::move(name), signal, qcd_classes, signal, denominator};
}

std::vector<de::Grouping> boosted_groupings() {
  return {versus_qcd("top vs QCD", {"Top_bcq", "Top_bqq", "Top_bc", "Top_bq"}), versus_qcd("W vs QCD", {"W_cq", "W_qq"}),
          versus_qcd("Z vs QCD", {"Z_bb", "Z_cc", "Z_qq"}), versus_qcd("H->bb vs QCD", {"H_bb"})};
}

/// The QCD jets' soft-drop mass, normalised to unit area: all of them and those passing the
/// discriminant's cut at each working point (QCD efficiency 10 %, 1 %).
struct Sculpting {
  std::vector<de::Histogram> histograms;
  double divergence_tight = 0;  ///< Jensen-Shannon divergence (bits) of the tightest cut's shape from the inclusive one
};

Sculpting mass_sculpting(const dt::Predictions& p, const de::GroupingResult& result, std::size_t mass_column) {
  const auto resolved = de::resolve(result.grouping, p.classes);
  const std::size_t bins = 30;
  const double low = 0, high = 300;
  std::vector<double> edges;
  for (std::size_t b = 0; b <= bins; ++b) edges.push_back(low + (high - low) * static_cast<double>(b) / bins);
  Sculpting out;
  out.histograms.push_back({"all QCD jets", edges, std::vector<double>(bins, 0.0)});
  for (const auto& wp : result.working_points)
    out.histograms.push_back({"QCD jets passing the " + std::to_string(wp.background_efficiency * 100).substr(0, 4) +
                                  " % working point",
                              edges, std::vector<double>(bins, 0.0)});
  const std::size_t jets = p.probabilities.shape()[0], classes = p.probabilities.shape()[1];
  for (std::size_t j = 0; j < jets; ++j) {
    const std::span<const float> truth(&p.truth(j, 0), classes);
    const double weight = resolved.background_weight(truth);
    if (weight <= 0) continue;
    const double mass = p.spectator_values(j, mass_column);
    const auto bin = static_cast<std::size_t>(std::clamp((mass - low) / (high - low) * bins, 0.0, bins - 1.0));
    const double d = resolved.discriminant(std::span<const float>(&p.probabilities(j, 0), classes));
    out.histograms[0].contents[bin] += weight;
    for (std::size_t w = 0; w < result.working_points.size(); ++w)
      if (d > result.working_points[w].threshold) out.histograms[w + 1].contents[bin] += weight;
  }
  for (auto& h : out.histograms) {
    double sum = 0;
    for (double c : h.contents) sum += c;
    if (sum > 0)
      for (double& c : h.contents) c /= sum;
  }
  // Jensen-Shannon divergence between the inclusive shape and the tightest cut's: 0 for no
  // sculpting, 1 bit for disjoint shapes.
  const auto& a = out.histograms.front().contents;
  const auto& b = out.histograms.back().contents;
  for (std::size_t i = 0; i < bins; ++i) {
    const double m = 0.5 * (a[i] + b[i]);
    if (a[i] > 0) out.divergence_tight += 0.5 * a[i] * std::log2(a[i] / m);
    if (b[i] > 0) out.divergence_tight += 0.5 * b[i] * std::log2(b[i] / m);
  }
  return out;
}

void evaluate(const Options& o) {
  const auto p = dt::read_predictions(o.dir / "predictions" / "test.h5");
  de::EvaluationSettings settings;
  settings.groupings = boosted_groupings();
  settings.cuts = {de::Cut::above("fj_pt", 300), de::Cut::absolute_below("fj_eta", 2.4)};
  settings.background_efficiencies = {0.1, 0.01};
  settings.efficiency_bins = {{"fj_pt", {300, 400, 500, 650, 800, 1000, 1300, 2000}}};
  auto results = de::evaluate(p.probabilities, p.truth, p.spectator_values, p.classes, p.spectators, settings);
  results.title = "DeepAK8 on example fat jets";
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
  // The report's plots, then per grouping the QCD mass before and after its cuts.
  std::size_t mass_column = p.spectators.size();
  for (std::size_t s = 0; s < p.spectators.size(); ++s)
    if (p.spectators[s] == "fj_sdmass") mass_column = s;
  if (mass_column == p.spectators.size()) throw deepjet::Error("evaluate: the predictions carry no fj_sdmass spectator");
  auto plots = de::report_detail::make_plots(results);
  std::vector<double> divergences;
  for (const auto& g : results.groupings) {
    const auto sculpting = mass_sculpting(p, g, mass_column);
    divergences.push_back(sculpting.divergence_tight);
    const std::string id = "mass_" + de::report_detail::file_name_part(g.grouping.name);
    const auto plot = de::histogram_plot(id, "QCD soft-drop mass, " + g.grouping.name + " cuts", "soft-drop mass [GeV]",
                                         "fraction of jets", sculpting.histograms, false);
    plots.push_back({id + ".svg", "Mass sculpting: QCD soft-drop mass before and after " + g.grouping.name + " cuts",
                     de::svg(plot)});
  }
  fs::create_directories(o.dir / "report");
  for (const auto& plot : plots) deepjet::write_text_file(o.dir / "report" / plot.file_name, plot.svg);
  deepjet::write_text_file(o.dir / "report" / "results.json", de::results_json(results));
  deepjet::write_text_file(o.dir / "report" / "report.html", de::report_html(results, plots));

  for (std::size_t g = 0; g < results.groupings.size(); ++g) {
    const auto& r = results.groupings[g];
    std::printf("evaluate: %-13s AUC = %.4f, QCD mistag at 50 %% signal efficiency %.4f, mass sculpting at 1 %% QCD: JSD %.3f bits\n",
                r.grouping.name.c_str(), r.auc, r.mistag_rates.empty() ? 0.0 : r.mistag_rates.front().background_efficiency,
                divergences[g]);
  }
  std::printf("report: %s\n", fs::absolute(o.dir / "report" / "report.html").c_str());
  std::printf("AUC top vs QCD %.4f  W vs QCD %.4f  Z vs QCD %.4f  H->bb vs QCD %.4f\n", results.groupings[0].auc,
              results.groupings[1].auc, results.groupings[2].auc, results.groupings[3].auc);
}

int usage() {
  std::fprintf(stderr,
               "usage: boosted_quickstart all|generate|convert|train|predict|evaluate [--dir D] [--files N] [--jets N]\n"
               "       [--test-jets N] [--epochs N] [--batch N] [--threads N] [--seed N] [--weighting pt-mass|pt]\n");
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
    else if (key == "--weighting" && (value == "pt-mass" || value == "pt")) o.mass_weighting = value == "pt-mass";
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
  std::fprintf(stderr, "boosted_quickstart: %s\n", e.what());
  return 1;
}
