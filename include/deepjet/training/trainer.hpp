// deepjet/training/trainer.hpp: training a compile-time model on a data format's loaders.
//
//   deepjet::training::Trainer<MyData, Net> trainer(model, {.output = "run/", .stages = {
//       {.epochs = 1, .learning_rate = 1e-3},                               // DeepJet's recipe:
//       {.epochs = 65, .learning_rate = 1e-4, .freeze = {"0.0", "0.1.0"}}}});  // then freeze inputs' BN
//   trainer.add(std::make_unique<deepjet::training::ProgressBar>());
//   trainer.fit(train_loader, &validation_loader);
//
// Contract:
//   - Stages run one after the other; at the start of a stage its learning rate is set and its
//     `freeze` layers are frozen (Model::set_trainable(path, false)) for the rest of the run.
//   - A format with regression targets trains a model ending in Heads<classifier, regression> with
//     a Losses<...> of one term per head (label_shape); accuracy is the classifier's.
//   - Every batch is one optimiser step on the loss's mean over the batch, weighted by the batch's
//     JetBatch::weights when the loader provides them (a Weighter). With
//     threads = T the batch is cut into T contiguous slices, each thread runs forward and backward
//     on its slice with its own layer objects and dropout stream, and the gradients are summed in
//     thread order: the result depends on T but not on scheduling. BatchNorm layers use their
//     slice's statistics, and thread 0's running statistics are kept (as PyTorch's DataParallel).
//   - After every epoch: validation loss and accuracy (inference mode), a history record, the
//     callbacks, and output/checkpoint_last.h5 (model, optimiser, trainer state: epoch, batch,
//     random streams, history, learning rate, callback states, in one atomically written file).
//     checkpoint_every_batches = N also writes it every N batches.
//   - fit() on an output directory holding checkpoint_last.h5 resumes from it: the batches of the
//     interrupted epoch already done are skipped (the loader replays the same order) and, for the
//     same thread count, the final weights equal those of a run that was never interrupted.
//   - Bookkeeping written once per output directory: architecture.txt, format.txt, options.txt
//     (version, seed, threads, stages), data.txt (the training and validation files and ranges).
#pragma once

#include "deepjet/data/loader.hpp"
#include "deepjet/io/model_file.hpp"
#include "deepjet/losses/losses.hpp"
#include "deepjet/models/model.hpp"
#include "deepjet/models/predictor.hpp"
#include "deepjet/optimisers/optimisers.hpp"
#include "deepjet/training/callbacks.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

namespace deepjet::training {

struct Stage {
  std::uint64_t epochs = 1;
  double learning_rate = 1e-3;
  /// Layer paths frozen from the start of this stage on ("0.0" = the first branch's first layer).
  std::vector<std::string> freeze{};
};

struct TrainerOptions {
  std::filesystem::path output = "training";
  std::vector<Stage> stages{Stage{}};
  unsigned threads = 1;
  std::uint64_t seed = 0;
  std::size_t checkpoint_every_batches = 0;
};

template <class Format, Layer Net, class Loss = CategoricalCrossEntropy, class Optimiser = Adam>
class Trainer {
  static_assert(std::is_same_v<typename Net::input_shape, typename Format::input_shape>,
                "deepjet::training::Trainer: the model's input is not the data format's input_shape");
  static_assert(std::is_same_v<typename Net::output_shape, typename Format::label_shape>,
                "deepjet::training::Trainer: the model's output does not have the shape of the format's labels "
                "(the truth, or the truth and the regression targets side by side for a model with Heads<...>)");

 public:
  Trainer(Model<Net>& model, TrainerOptions options, Loss loss = {}, Optimiser optimiser = {})
      : model_(model), options_(std::move(options)), loss_(loss), optimiser_(optimiser),
        replicas_(std::max(1u, options_.threads)), contexts_(replicas_.size()), gradients_(replicas_.size()) {
    if (options_.stages.empty()) throw Error("Trainer: at least one stage is needed");
    for (std::size_t t = 0; t < contexts_.size(); ++t) contexts_[t].random.reseed(options_.seed * 1000003ULL + t);
  }

  void add(std::unique_ptr<Callback> callback) { callbacks_.push_back(std::move(callback)); }
  Optimiser& optimiser() { return optimiser_; }
  const TrainingState& state() const { return state_; }

  /// Train through all stages (or resume an interrupted run); returns the history.
  std::vector<EpochRecord> fit(data::Loader<Format>& train, data::Loader<Format>* validation = nullptr) {
    namespace fs = std::filesystem;
    fs::create_directories(options_.output);
    write_bookkeeping(train, validation);
    state_ = {};
    state_.output = options_.output;
    state_.batches_per_epoch = train.batches_per_epoch();
    for (const auto& stage : options_.stages) state_.epochs += stage.epochs;
    state_.learning_rate = options_.stages[0].learning_rate;
    state_.save_checkpoint = [this](const fs::path& path) { save_checkpoint(path); };
    const fs::path last = options_.output / "checkpoint_last.h5";
    if (fs::exists(last)) resume(last);

    if (state_.stop_requested) return state_.history;
    for (auto& c : callbacks_) c->on_train_begin(state_);
    for (; state_.epoch < state_.epochs && !state_.stop_requested; ++state_.epoch, state_.batch = 0) {
      begin_stage_if_needed();
      for (auto& c : callbacks_) c->on_epoch_begin(state_);
      const auto start = std::chrono::steady_clock::now();
      train.start_epoch(state_.epoch);
      data::JetBatch<Format> batch;
      for (std::size_t skipped = 0; skipped < state_.batch; ++skipped) train.next(batch);  // resumed epoch
      double loss_sum = 0, correct = 0, jets = 0;
      while (!state_.stop_requested && train.next(batch)) {
        optimiser_.learning_rate = state_.learning_rate;
        const auto [loss, hits] = step(batch);
        const auto n = static_cast<double>(batch.truth.shape()[0]);
        loss_sum += loss * n;
        correct += hits;
        jets += n;
        ++state_.batch;
        for (auto& c : callbacks_) c->on_batch_end(state_, loss, batch.truth.shape()[0]);
        if (options_.checkpoint_every_batches && state_.batch % options_.checkpoint_every_batches == 0)
          save_checkpoint(last);
      }
      if (state_.stop_requested) break;
      // (A resumed epoch's record covers the batches trained since the resume.)
      EpochRecord record;
      record.epoch = state_.epoch;
      record.learning_rate = state_.learning_rate;
      record.train_loss = jets > 0 ? loss_sum / jets : 0;
      record.train_accuracy = jets > 0 ? correct / jets : 0;
      if (validation) std::tie(record.validation_loss, record.validation_accuracy) = evaluate(*validation);
      record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      record.jets_per_second = record.seconds > 0 ? jets / record.seconds : 0;
      state_.history.push_back(record);
      for (auto& c : callbacks_) c->on_epoch_end(state_);
      // The checkpoint describes the start of the next epoch (the loop then moves there too).
      ++state_.epoch;
      state_.batch = 0;
      save_checkpoint(last);
      --state_.epoch;
    }
    for (auto& c : callbacks_) c->on_train_end(state_);
    return state_.history;
  }

  /// Loss and accuracy (argmax of prediction = argmax of truth) over a loader's epoch 0, inference mode.
  std::pair<double, double> evaluate(data::Loader<Format>& loader) {
    loader.start_epoch(0);
    data::JetBatch<Format> batch;
    const Predictor<Net> predictor(model_);  // the current weights, packed once for the whole pass
    typename Predictor<Net>::Workspace workspace;
    AlignedFloats output;
    double loss_sum = 0, correct = 0, jets = 0;
    while (loader.next(batch)) {
      const auto x = view_of<typename Format::input_shape>(batch.inputs, "evaluate");
      using Out = typename Net::output_shape;
      const auto y = make_view<Out>(ensure_size(output, Out::size * x.count), x.count);
      predictor.predict(x, y, workspace);
      const ConstBatch<Out> truth = labels(batch);
      const float* weights = batch.weights.size() == x.count ? batch.weights.data() : nullptr;
      loss_sum += loss_.evaluate(ConstBatch<Out>(y), truth, weights, make_view<Out>(static_cast<float*>(nullptr), x.count)) *
                  static_cast<double>(x.count);
      correct += hits(ConstBatch<Out>(y), truth);
      jets += static_cast<double>(x.count);
    }
    return {jets > 0 ? loss_sum / jets : 0, jets > 0 ? correct / jets : 0};
  }

 private:
  using In = typename Net::input_shape;
  using Out = typename Net::output_shape;

  // The labels of a batch as the model's output shape: the truth, or the truth and the regression
  // targets side by side.
  static ConstBatch<Out> labels(const data::JetBatch<Format>& batch) {
    using Truth = typename Format::truth_shape;
    const std::size_t n = batch.truth.shape()[0];
    if constexpr (Format::target_count == 0) {
      return ConstBatch<Truth>{batch.truth.data(), n};
    } else {
      if (batch.targets.shape()[0] != n) throw Error("Trainer: a batch has truth but no regression targets");
      using Tgt = typename Out::template part<1>;
      return ConstBatch<Out>{{ConstBatch<Truth>{batch.truth.data(), n}, ConstBatch<Tgt>{batch.targets.data(), n}}, n};
    }
  }

  // Correct classifications: argmax of the (first) output = argmax of the truth.
  static double hits(ConstBatch<Out> prediction, ConstBatch<Out> truth) {
    if constexpr (ShapesType<Out>) return class_hits(prediction.template part<0>(), truth.template part<0>());
    else return class_hits(prediction, truth);
  }
  template <class S>
  static double class_hits(ConstBatch<S> prediction, ConstBatch<S> truth) {
    double n = 0;
    for (std::size_t j = 0; j < prediction.count; ++j) {
      const float* p = prediction.sample(j);
      const float* t = truth.sample(j);
      n += std::max_element(p, p + S::size) - p == std::max_element(t, t + S::size) - t;
    }
    return n;
  }

  // One optimiser step on a batch; returns (mean loss, correct predictions).
  std::pair<double, double> step(const data::JetBatch<Format>& batch) {
    const auto x = view_of<In>(batch.inputs, "train");
    const ConstBatch<Out> truth = labels(batch);
    const std::size_t n = x.count, threads = std::min(replicas_.size(), std::max<std::size_t>(1, n));
    std::vector<double> losses(threads), correct(threads);
    const auto params = model_.parameters();
    if (outputs_.size() < threads) {
      outputs_.resize(threads);
      output_gradients_.resize(threads);
      copies_.resize(threads);
    }
    // Threads > 0 work on private copies of the parameters, made before any thread starts: their
    // BatchNorm layers update running statistics that only thread 0's copy keeps.
    for (std::size_t t = 1; t < threads; ++t) copies_[t].assign(params.begin(), params.end());
    auto work = [&](std::size_t t) {
      const std::size_t first = n * t / threads, last = n * (t + 1) / threads, count = last - first;
      auto& grads = gradients_[t];
      grads.assign(params.size(), 0.0f);
      float* p = t == 0 ? params.data() : copies_[t].data();
      const auto out = make_view<Out>(ensure_size(outputs_[t], Out::size * count), count);
      const auto dout = make_view<Out>(ensure_size(output_gradients_[t], Out::size * count), count);
      const auto xs = slice(x, first, count);
      replicas_[t].forward(contexts_[t], p, xs, out);
      const auto ts = slice(truth, first, count);
      const float* weights = batch.weights.size() == n ? batch.weights.data() + first : nullptr;
      losses[t] = loss_.evaluate(ConstBatch<Out>(out), ts, weights, dout);
      correct[t] = hits(ConstBatch<Out>(out), ts);
      // The loss is a mean over the slice; weight it to a mean over the whole batch.
      const float share = static_cast<float>(count) / static_cast<float>(n);
      for (std::size_t i = 0; i < Out::size * count; ++i) output_gradients_[t][i] *= share;
      replicas_[t].backward(p, grads.data(), xs, ConstBatch<Out>(out), ConstBatch<Out>(dout),
                            make_view<In>(static_cast<float*>(nullptr), count));
      losses[t] *= share;
    };
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
    work(0);
    for (auto& th : pool) th.join();
    auto total = model_.gradients();
    std::copy(gradients_[0].begin(), gradients_[0].end(), total.begin());
    for (std::size_t t = 1; t < threads; ++t)
      for (std::size_t i = 0; i < total.size(); ++i) total[i] += gradients_[t][i];
    optimiser_.step(model_.parameters(), model_.gradients(), model_.trainable_ranges());
    double loss = 0, hit = 0;
    for (std::size_t t = 0; t < threads; ++t) {
      loss += losses[t];
      hit += correct[t];
    }
    return {loss, hit};
  }

  // Stage number of an epoch, and whether the epoch starts it.
  std::pair<std::size_t, bool> stage_of(std::uint64_t epoch) const {
    std::uint64_t first = 0;
    for (std::size_t s = 0; s < options_.stages.size(); ++s) {
      if (epoch < first + options_.stages[s].epochs) return {s, epoch == first};
      first += options_.stages[s].epochs;
    }
    return {options_.stages.size() - 1, false};
  }

  void begin_stage_if_needed() {
    const auto [stage, starts] = stage_of(state_.epoch);
    if (!starts || state_.batch != 0) return;
    state_.learning_rate = options_.stages[stage].learning_rate;
    apply_freezing(stage);
  }

  // Freeze everything the stages up to `stage` ask for (idempotent; used when resuming too).
  void apply_freezing(std::size_t stage) {
    for (std::size_t s = 0; s <= stage; ++s)
      for (const auto& path : options_.stages[s].freeze) {
        model_.set_trainable(path, false);
        for (auto& replica : replicas_)
          visit_layers(replica, "", [&](const std::string& layer_path, auto& layer) {
            if constexpr (requires { layer.set_frozen(true); })
              if (layer_path == path || layer_path.starts_with(path + ".")) layer.set_frozen(true);
          });
      }
  }

  void save_checkpoint(const std::filesystem::path& path) {
    ModelFileExtras extras;
    std::ostringstream state;
    state << state_.epoch << " " << state_.batch << " ";
    char lr[32];
    std::snprintf(lr, sizeof lr, "%.17g", state_.learning_rate);
    state << lr << " " << (state_.stop_requested && state_.stop_is_final ? 1 : 0) << " " << contexts_.size();
    for (const auto& c : contexts_)
      for (auto word : c.random.state()) state << " " << word;
    extras["trainer"] = state.str();
    std::string history = std::string(history_csv_header()) + "\n";
    for (const auto& r : state_.history) history += to_csv_line(r) + "\n";
    extras["history"] = history;
    for (const auto& c : callbacks_) extras["callback:" + c->name()] = c->save_state();
    save_model(model_, path, &optimiser_, extras);
  }

  void resume(const std::filesystem::path& path) {
    load_model(model_, path, &optimiser_);
    const auto extras = load_model_extras(path);
    const auto trainer = extras.find("trainer");
    if (trainer == extras.end()) throw FileError(path.string(), "is a model file, not a training checkpoint");
    std::istringstream state(trainer->second);
    std::string lr;
    std::size_t streams = 0;
    int finished = 0;
    state >> state_.epoch >> state_.batch >> lr >> finished >> streams;
    if (finished) state_.request_stop("the run had already stopped for good");
    state_.learning_rate = std::strtod(lr.c_str(), nullptr);
    if (streams != contexts_.size())
      throw FileError(path.string(), "was written by a run with " + std::to_string(streams) + " threads; resume it with " +
                                         std::to_string(streams) + " threads (this run has " +
                                         std::to_string(contexts_.size()) + ")");
    for (auto& c : contexts_) {
      std::array<std::uint64_t, 4> words{};
      for (auto& w : words) state >> w;
      c.random.set_state(words);
    }
    std::istringstream history(extras.at("history"));
    std::string line;
    std::getline(history, line);  // header
    while (std::getline(history, line))
      if (!line.empty()) state_.history.push_back(from_csv_line(line));
    for (auto& c : callbacks_) {
      const auto saved = extras.find("callback:" + c->name());
      if (saved != extras.end()) c->restore_state(saved->second);
    }
    apply_freezing(stage_of(state_.epoch).first);
  }

  void write_bookkeeping(const data::Loader<Format>& train, const data::Loader<Format>* validation) const {
    auto write_once = [&](const std::string& name, const std::string& text) {
      const auto path = options_.output / name;
      if (!std::filesystem::exists(path)) write_text_file(path, text);
    };
    write_once("architecture.txt", model_.architecture().signature());
    write_once("format.txt", Format::describe());
    std::ostringstream options;
    options << "deepjet " << version << "\nseed " << options_.seed << "\nthreads " << options_.threads
            << "\noptimiser " << Optimiser::kind << "\ncheckpoint_every_batches " << options_.checkpoint_every_batches << "\n";
    for (const auto& s : options_.stages) {
      options << "stage epochs " << s.epochs << " learning_rate " << s.learning_rate << " freeze";
      for (const auto& f : s.freeze) options << " " << f;
      options << "\n";
    }
    write_once("options.txt", options.str());
    // The data: every training file and the jets of it each loader reads.
    std::ostringstream data;
    auto list = [&](const char* role, const data::Loader<Format>& loader) {
      for (const auto& s : loader.segments())
        data << role << " " << s.first << " " << s.last << " " << std::filesystem::absolute(s.file).string() << "\n";
    };
    list("train", train);
    if (validation) list("validation", *validation);
    write_once("data.txt", data.str());
  }

  Model<Net>& model_;
  TrainerOptions options_;
  Loss loss_;
  Optimiser optimiser_;
  std::vector<Net> replicas_;
  std::vector<TrainingContext> contexts_;
  std::vector<std::vector<float>> gradients_;
  std::vector<AlignedFloats> outputs_, output_gradients_;
  std::vector<std::vector<float>> copies_;
  std::vector<std::unique_ptr<Callback>> callbacks_;
  TrainingState state_;
};

}  // namespace deepjet::training
