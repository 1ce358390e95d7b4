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
//     thread order: the result depends on T (in the last bits) but not on scheduling. BatchNorm
//     layers normalise with the whole batch's statistics, the slices adding their sums in slice
//     order (training/batch_sums.hpp; as PyTorch's SyncBatchNorm), so T threads train the network
//     one thread trains; a batch with fewer jets than slices uses each slice's own statistics.
//     Thread 0's running statistics are kept (they equal the others').
//   - After every epoch: validation loss and accuracy (inference mode), a history record, the
//     callbacks, and output/checkpoint_last.h5 (model, optimiser, trainer state: epoch, batch,
//     random streams, history, learning rate, callback states, in one atomically written file).
//     checkpoint_every_batches = N also writes it every N batches.
//   - fit() on an output directory holding checkpoint_last.h5 resumes from it: the batches of the
//     interrupted epoch already done are skipped (the loader replays the same order) and, for the
//     same thread count, the final weights equal those of a run that was never interrupted.
//   - Bookkeeping written once per output directory: architecture.txt, format.txt, options.txt
//     (version, seed, threads, stages), data.txt (the training and validation files and ranges).
//   - Distributed (options.communicator, e.g. deepjet::mpi::Communicator; docs/distributed.md):
//     R ranks of T threads train as one process of R*T threads and give bit-identical weights to
//     it. Every batch is cut into R*T slices; rank r takes slices [r*T, r*T + T) (its loader
//     serves only their jets), its thread t uses random stream r*T + t, and the slice gradients
//     are summed over ranks in slice order (Communicator::ordered_sum), as are BatchNorm's sums in
//     forward and backward (Communicator::all_gather). BatchNorm running statistics are rank 0's
//     (slice 0's), sent to all after every step. Rank 0 alone writes
//     checkpoints and bookkeeping and runs the callbacks (except those whose every_rank() is
//     true); its learning rate and stop decisions reach every rank after each callback. The
//     validation batches are dealt round-robin to the ranks and their sums added in batch order.
//     Checkpoints hold all R*T random streams: a run resumes with any R and T of the same
//     product. Every rank must be given the same data, options and callbacks; an error on any
//     rank ends the whole job through Communicator::fail, naming the rank.
#pragma once

#include "deepjet/data/loader.hpp"
#include "deepjet/io/model_file.hpp"
#include "deepjet/losses/losses.hpp"
#include "deepjet/models/model.hpp"
#include "deepjet/models/predictor.hpp"
#include "deepjet/optimisers/optimisers.hpp"
#include "deepjet/training/batch_sums.hpp"
#include "deepjet/training/callbacks.hpp"
#include "deepjet/core/communicator.hpp"

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
  /// Train as one rank of a group (nullptr: this process alone). Not owned; outlives the Trainer.
  Communicator* communicator = nullptr;
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
    if (options_.communicator) {
      rank_ = static_cast<std::size_t>(options_.communicator->rank());
      ranks_ = static_cast<std::size_t>(options_.communicator->size());
    }
    // Thread t of rank r is slice r*T + t of every batch, with that slice's random stream.
    for (std::size_t t = 0; t < contexts_.size(); ++t)
      contexts_[t].random.reseed(options_.seed * 1000003ULL + first_slice() + t);
    streams_.resize(slices());
    for (std::size_t t = 0; t < contexts_.size(); ++t) streams_[first_slice() + t] = contexts_[t].random.state();
    if (distributed()) gather_streams();
    if (slices() > 1) batch_sums_ = std::make_unique<SharedBatchSums>(replicas_.size(), options_.communicator);
  }

  void add(std::unique_ptr<Callback> callback) { callbacks_.push_back(std::move(callback)); }
  Optimiser& optimiser() { return optimiser_; }
  const TrainingState& state() const { return state_; }

  /// Train through all stages (or resume an interrupted run); returns the history.
  std::vector<EpochRecord> fit(data::Loader<Format>& train, data::Loader<Format>* validation = nullptr) {
    if (!distributed()) return fit_here(train, validation);
    try {
      return fit_here(train, validation);
    } catch (const std::exception& e) {
      options_.communicator->fail(e.what());  // ends every rank: the others would wait forever
      throw;                                   // (fail does not return)
    }
  }

  /// This rank's number (0 without a communicator) and the number of ranks.
  std::size_t rank() const { return rank_; }
  std::size_t ranks() const { return ranks_; }

 private:
  std::vector<EpochRecord> fit_here(data::Loader<Format>& train, data::Loader<Format>* validation) {
    namespace fs = std::filesystem;
    if (writer()) {
      fs::create_directories(options_.output);
      write_bookkeeping(train, validation);
    }
    if (distributed()) {
      check_same_data(train, validation);
      train.set_share({first_slice(), first_slice() + replicas_.size(), slices()});
    }
    state_ = {};
    state_.output = options_.output;
    state_.batches_per_epoch = train.batches_per_epoch();
    for (const auto& stage : options_.stages) state_.epochs += stage.epochs;
    state_.learning_rate = options_.stages[0].learning_rate;
    state_.save_checkpoint = [this](const fs::path& path) {
      if (writer()) save_checkpoint(path);
    };
    const fs::path last = options_.output / "checkpoint_last.h5";
    // Rank 0 decides whether this is a resumed run; every rank then reads the same checkpoint.
    std::uint8_t resuming = writer() && fs::exists(last) ? 1 : 0;
    if (distributed()) options_.communicator->broadcast(std::as_writable_bytes(std::span(&resuming, 1)), 0);
    if (resuming) resume(last);

    if (state_.stop_requested) return state_.history;
    notify([&](Callback& c) { c.on_train_begin(state_); });
    for (; state_.epoch < state_.epochs && !state_.stop_requested; ++state_.epoch, state_.batch = 0) {
      begin_stage_if_needed();
      notify([&](Callback& c) { c.on_epoch_begin(state_); });
      const auto start = std::chrono::steady_clock::now();
      train.start_epoch(state_.epoch);
      data::JetBatch<Format> batch;
      for (std::size_t skipped = 0; skipped < state_.batch; ++skipped) train.skip();  // resumed epoch
      double loss_sum = 0, correct = 0, jets = 0;
      while (!state_.stop_requested && train.next(batch)) {
        optimiser_.learning_rate = state_.learning_rate;
        const auto [loss, hits] = step(batch);
        const std::size_t batch_jets = jets_of(batch);
        const auto n = static_cast<double>(batch_jets);
        loss_sum += loss * n;
        correct += hits;
        jets += n;
        ++state_.batch;
        notify([&](Callback& c) { c.on_batch_end(state_, loss, batch_jets); });
        if (writer() && options_.checkpoint_every_batches && state_.batch % options_.checkpoint_every_batches == 0)
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
      notify([&](Callback& c) { c.on_epoch_end(state_); });
      // The checkpoint describes the start of the next epoch (the loop then moves there too).
      ++state_.epoch;
      state_.batch = 0;
      if (writer()) save_checkpoint(last);
      --state_.epoch;
    }
    // (Also a barrier: no rank returns before rank 0 has written its last files.)
    notify([&](Callback& c) { c.on_train_end(state_); });
    return state_.history;
  }

 public:
  /// Loss and accuracy (argmax of prediction = argmax of truth) over a loader's epoch 0, inference
  /// mode. Distributed: every rank calls it; rank r evaluates batches r, r + R, ... and all get the
  /// sums over the batches added in batch order, as one process adds them.
  std::pair<double, double> evaluate(data::Loader<Format>& loader) {
    loader.start_epoch(0);
    data::JetBatch<Format> batch;
    const Predictor<Net> predictor(model_);  // the current weights, packed once for the whole pass
    typename Predictor<Net>::Workspace workspace;
    AlignedFloats output;
    // Per batch this rank evaluated: loss * jets, correct, jets.
    std::vector<std::array<double, 3>> sums;
    for (std::size_t b = 0;; ++b) {
      if (b % ranks_ != rank_) {
        if (!loader.skip()) break;
        continue;
      }
      if (!loader.next(batch)) break;
      const auto x = view_of<typename Format::input_shape>(batch.inputs, "evaluate");
      using Out = typename Net::output_shape;
      const auto y = make_view<Out>(ensure_size(output, Out::size * x.count), x.count);
      predictor.predict(x, y, workspace);
      const ConstBatch<Out> truth = labels(batch);
      const float* weights = batch.weights.size() == x.count ? batch.weights.data() : nullptr;
      sums.push_back({loss_.evaluate(ConstBatch<Out>(y), truth, weights, make_view<Out>(static_cast<float*>(nullptr), x.count)) *
                          static_cast<double>(x.count),
                      hits(ConstBatch<Out>(y), truth), static_cast<double>(x.count)});
    }
    if (distributed()) sums = gather_in_batch_order(sums, loader.batches_per_epoch());
    double loss_sum = 0, correct = 0, jets = 0;
    for (const auto& [l, c, n] : sums) {
      loss_sum += l;
      correct += c;
      jets += n;
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

  // One optimiser step on a batch (this rank's share of it); returns (mean loss, correct
  // predictions) of the whole batch.
  std::pair<double, double> step(const data::JetBatch<Format>& batch) {
    const auto x = view_of<In>(batch.inputs, "train");
    const ConstBatch<Out> truth = labels(batch);
    const std::size_t n = jets_of(batch);  // the whole batch's jets; x.count of them are here
    const data::BatchShare mine{first_slice(), first_slice() + replicas_.size(), slices()};
    const std::size_t begin = data::share_jets(n, mine).first;
    // Slices of the batch this rank works on: threads [0, active).
    const std::size_t total_slices = std::min<std::size_t>(slices(), n);
    const std::size_t active = std::min(total_slices, first_slice() + replicas_.size()) - std::min(total_slices, first_slice());
    std::vector<double> losses(replicas_.size()), correct(replicas_.size());
    const auto params = model_.parameters();
    if (outputs_.size() < replicas_.size()) {
      outputs_.resize(replicas_.size());
      output_gradients_.resize(replicas_.size());
      copies_.resize(replicas_.size());
    }
    // Threads > 0 work on private copies of the parameters, made before any thread starts: their
    // BatchNorm layers update running statistics that only thread 0's copy keeps.
    for (std::size_t t = 1; t < active; ++t) copies_[t].assign(params.begin(), params.end());
    // Whole-batch BatchNorm statistics need every slice of every rank to take part: a batch with
    // fewer jets than slices (every rank knows n) leaves some slices empty, and uses each slice's own.
    for (std::size_t t = 0; t < contexts_.size(); ++t) {
      contexts_[t].batch_sums = n >= slices() ? batch_sums_.get() : nullptr;
      contexts_[t].slice = t;
    }
    auto work = [&](std::size_t t) {
      const auto [first_jet, last_jet] = data::share_jets(n, {first_slice() + t, first_slice() + t + 1, slices()});
      const std::size_t first = first_jet - begin, count = last_jet - first_jet;
      auto& grads = gradients_[t];
      grads.assign(params.size(), 0.0f);
      float* p = t == 0 ? params.data() : copies_[t].data();
      const auto out = make_view<Out>(ensure_size(outputs_[t], Out::size * count), count);
      const auto dout = make_view<Out>(ensure_size(output_gradients_[t], Out::size * count), count);
      const auto xs = slice(x, first, count);
      replicas_[t].forward(contexts_[t], p, xs, out);
      const auto ts = slice(truth, first, count);
      const float* weights = batch.weights.size() == x.count ? batch.weights.data() + first : nullptr;
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
    for (std::size_t t = 1; t < active; ++t) pool.emplace_back(work, t);
    if (active > 0) work(0);
    for (auto& th : pool) th.join();
    // The gradient: the slices' gradients added in slice order, over threads and ranks.
    std::vector<std::span<const float>> parts;
    for (std::size_t t = 0; t < active; ++t) parts.emplace_back(gradients_[t]);
    if (distributed()) options_.communicator->ordered_sum(parts, model_.gradients());
    else add_in_order(parts, model_.gradients(), /*start_from_first=*/true);
    // Loss, hits and random streams of every slice, on every rank.
    std::vector<SliceRecord> records(replicas_.size());
    for (std::size_t t = 0; t < replicas_.size(); ++t)
      records[t] = {t < active ? losses[t] : 0.0, t < active ? correct[t] : 0.0, contexts_[t].random.state()};
    if (distributed()) {
      records = all_gather(records);
      share_buffers();
    }
    double loss = 0, hit = 0;
    for (std::size_t s = 0; s < total_slices; ++s) {
      loss += records[s].loss;
      hit += records[s].correct;
    }
    for (std::size_t s = 0; s < records.size(); ++s) streams_[s] = records[s].stream;
    optimiser_.step(model_.parameters(), model_.gradients(), model_.trainable_ranges());
    return {loss, hit};
  }

  // ---- one rank of many ---------------------------------------------------------------

  struct SliceRecord {
    double loss = 0;
    double correct = 0;
    std::array<std::uint64_t, 4> stream{};
  };

  bool distributed() const { return ranks_ > 1; }
  bool writer() const { return rank_ == 0; }
  std::size_t slices() const { return ranks_ * replicas_.size(); }
  std::size_t first_slice() const { return rank_ * replicas_.size(); }
  static std::size_t jets_of(const data::JetBatch<Format>& batch) {
    return batch.batch_jets ? batch.batch_jets : batch.truth.shape()[0];
  }

  // Every rank's values (the same count on each), in rank order.
  template <class T>
  std::vector<T> all_gather(const std::vector<T>& mine) {
    static_assert(std::is_trivially_copyable_v<T>);
    std::vector<T> all(mine.size() * ranks_);
    options_.communicator->all_gather(std::as_bytes(std::span(mine)), std::as_writable_bytes(std::span(all)));
    return all;
  }

  void gather_streams() {
    std::vector<std::array<std::uint64_t, 4>> mine;
    for (const auto& c : contexts_) mine.push_back(c.random.state());
    streams_ = all_gather(mine);
  }

  // Per-batch sums of an evaluation, dealt round-robin to the ranks, back in batch order.
  std::vector<std::array<double, 3>> gather_in_batch_order(const std::vector<std::array<double, 3>>& mine, std::size_t batches) {
    const std::size_t per_rank = (batches + ranks_ - 1) / ranks_;
    std::vector<std::array<double, 3>> padded(per_rank);
    if (mine.size() > per_rank) throw Error("Trainer: the validation loader served more batches than it plans");
    std::copy(mine.begin(), mine.end(), padded.begin());
    const auto all = all_gather(padded);
    std::vector<std::array<double, 3>> ordered;
    for (std::size_t b = 0; b < batches; ++b) ordered.push_back(all[(b % ranks_) * per_rank + b / ranks_]);
    return ordered;
  }

  // BatchNorm running statistics (the parameters no optimiser changes but forward does) as rank
  // 0 has them: slice 0's, as in one process.
  void share_buffers() {
    const auto& layout = model_.architecture().parameters;
    std::vector<float> buffers;
    const auto params = model_.parameters();
    for (const auto& p : layout)
      if (!p.spec.trainable) buffers.insert(buffers.end(), params.begin() + p.offset, params.begin() + p.offset + p.spec.size());
    if (buffers.empty()) return;
    options_.communicator->broadcast(std::as_writable_bytes(std::span(buffers)), 0);
    std::size_t k = 0;
    for (const auto& p : layout)
      if (!p.spec.trainable)
        for (std::size_t i = 0; i < p.spec.size(); ++i) params[p.offset + i] = buffers[k++];
  }

  // Run a callback hook: on rank 0 (and on every rank for callbacks that ask for it); then rank
  // 0's learning rate and stop decision reach every rank.
  template <class Hook>
  void notify(Hook&& hook) {
    for (auto& c : callbacks_)
      if (writer() || c->every_rank()) hook(*c);
    if (!distributed()) return;
    struct Decision {
      double learning_rate;
      std::uint8_t stop, final;
      char reason[254];
    } d{};
    d.learning_rate = state_.learning_rate;
    d.stop = state_.stop_requested;
    d.final = state_.stop_is_final;
    std::snprintf(d.reason, sizeof d.reason, "%s", state_.stop_reason.c_str());
    options_.communicator->broadcast(std::as_writable_bytes(std::span(&d, 1)), 0);
    state_.learning_rate = d.learning_rate;
    state_.stop_requested = d.stop;
    state_.stop_is_final = d.final;
    state_.stop_reason = d.reason;
  }

  // Every rank must train on the same data: a rank given other files would silently train on
  // other batches.
  void check_same_data(const data::Loader<Format>& train, const data::Loader<Format>* validation) {
    const std::array<std::uint64_t, 4> mine{train.jets(), train.batches_per_epoch(), validation ? validation->jets() : 0,
                                            validation ? validation->batches_per_epoch() : 0};
    const auto all = all_gather(std::vector<std::array<std::uint64_t, 4>>{mine});
    for (std::size_t r = 1; r < all.size(); ++r)
      if (all[r] != all[0])
        throw Error("Trainer: rank " + std::to_string(r) + " has " + std::to_string(all[r][0]) + " training jets in " +
                    std::to_string(all[r][1]) + " batches and " + std::to_string(all[r][2]) +
                    " validation jets, rank 0 has " + std::to_string(all[0][0]) + " in " + std::to_string(all[0][1]) +
                    " and " + std::to_string(all[0][2]) + ": every rank must be given the same data and batch size");
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
    state << lr << " " << (state_.stop_requested && state_.stop_is_final ? 1 : 0) << " " << streams_.size();
    for (const auto& stream : streams_)
      for (auto word : stream) state << " " << word;
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
    if (streams != streams_.size())
      throw FileError(path.string(), "was written by a run with " + std::to_string(streams) +
                                         " threads (ranks x threads per rank); resume it with " + std::to_string(streams) +
                                         " threads in all (this run has " + std::to_string(streams_.size()) + ")");
    for (auto& stream : streams_)
      for (auto& w : stream) state >> w;
    for (std::size_t t = 0; t < contexts_.size(); ++t) contexts_[t].random.set_state(streams_[first_slice() + t]);
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
    options << "deepjet " << version << "\nseed " << options_.seed << "\nthreads " << options_.threads;
    if (distributed()) options << "\nranks " << ranks_;
    options << "\noptimiser " << Optimiser::kind << "\ncheckpoint_every_batches " << options_.checkpoint_every_batches << "\n";
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
  std::unique_ptr<SharedBatchSums> batch_sums_;  // null with one slice per batch
  std::vector<std::vector<float>> gradients_;
  std::vector<AlignedFloats> outputs_, output_gradients_;
  std::vector<std::vector<float>> copies_;
  std::vector<std::unique_ptr<Callback>> callbacks_;
  TrainingState state_;
  std::size_t rank_ = 0, ranks_ = 1;
  // The random stream of every slice (all ranks' threads) as of the last step: what a checkpoint keeps.
  std::vector<std::array<std::uint64_t, 4>> streams_;
};

}  // namespace deepjet::training
