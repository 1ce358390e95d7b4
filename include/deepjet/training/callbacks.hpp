// deepjet/training/callbacks.hpp: what a training run reports to, and how it can be steered.
//
// A Callback sees the TrainingState at the start and end of the run, of every epoch and after every
// batch. It may stop the run (state.request_stop), change the learning rate (state.learning_rate,
// applied from the next batch) or save a checkpoint (state.save_checkpoint(path)). A callback with
// memory (early stopping's patience) returns it from save_state() and gets it back through
// restore_state() when a run resumes, so a resumed run decides exactly as an uninterrupted one.
//
// Built-ins: ProgressBar, HistoryFiles (CSV, JSON and plots per epoch), EarlyStopping,
// ReduceLearningRateOnPlateau, BestModelCheckpoint, EpochCheckpoints, PeriodicCommand (renewing Kerberos tokens on
// long jobs: a failing command stops the run cleanly, with a checkpoint).
//
// In a distributed training the callbacks run on rank 0 alone (unless every_rank()), which is
// the only rank that writes files; rank 0's learning rate and stop request reach all ranks.
#pragma once

#include "deepjet/core/atomic_file.hpp"
#include "deepjet/evaluation/plots.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace deepjet::training {

/// One line of the training history.
struct EpochRecord {
  std::uint64_t epoch = 0;
  double learning_rate = 0;
  double train_loss = 0;
  double train_accuracy = 0;
  double validation_loss = std::numeric_limits<double>::quiet_NaN();
  double validation_accuracy = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;
  double jets_per_second = 0;
};

inline const char* history_csv_header() {
  return "epoch,learning_rate,train_loss,train_accuracy,validation_loss,validation_accuracy,seconds,jets_per_second";
}

inline std::string to_csv_line(const EpochRecord& r) {
  char line[512];
  std::snprintf(line, sizeof line, "%llu,%.17g,%.17g,%.17g,%.17g,%.17g,%.6g,%.6g", static_cast<unsigned long long>(r.epoch),
                r.learning_rate, r.train_loss, r.train_accuracy, r.validation_loss, r.validation_accuracy, r.seconds,
                r.jets_per_second);
  return line;
}

inline EpochRecord from_csv_line(const std::string& line) {
  EpochRecord r;
  unsigned long long epoch = 0;
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, "%s", line.c_str());
  for (char& c : buffer)
    if (c == ',') c = ' ';
  std::istringstream in(buffer);
  std::string vl, va;
  in >> epoch >> r.learning_rate >> r.train_loss >> r.train_accuracy >> vl >> va >> r.seconds >> r.jets_per_second;
  r.epoch = epoch;
  r.validation_loss = std::strtod(vl.c_str(), nullptr);
  r.validation_accuracy = std::strtod(va.c_str(), nullptr);
  return r;
}

struct TrainingState {
  std::uint64_t epoch = 0;              ///< current epoch (0-based)
  std::uint64_t epochs = 0;             ///< planned in all stages
  std::size_t batch = 0;                ///< batches done in the current epoch
  std::size_t batches_per_epoch = 0;
  double learning_rate = 0;
  std::vector<EpochRecord> history;
  std::filesystem::path output;
  std::function<void(const std::filesystem::path&)> save_checkpoint;

  bool stop_requested = false;
  /// A resumable stop (a failed credentials command) lets a rerun continue; a final one (early
  /// stopping) makes a rerun return at once.
  bool stop_is_final = false;
  std::string stop_reason;
  void request_stop(std::string reason, bool resumable = false) {
    stop_requested = true;
    stop_is_final = !resumable;
    stop_reason = std::move(reason);
  }
};

class Callback {
 public:
  virtual ~Callback() = default;
  /// A short unique name (its saved state is stored under it).
  virtual std::string name() const = 0;
  virtual void on_train_begin(TrainingState&) {}
  virtual void on_epoch_begin(TrainingState&) {}
  virtual void on_batch_end(TrainingState&, double /*loss*/, std::size_t /*jets*/) {}
  virtual void on_epoch_end(TrainingState&) {}
  virtual void on_train_end(TrainingState&) {}
  virtual std::string save_state() const { return {}; }
  virtual void restore_state(const std::string&) {}
  /// In a distributed training (TrainerOptions::communicator) callbacks run on rank 0 only, and
  /// its decisions (learning rate, stop) reach the other ranks. A callback that returns true here
  /// runs on every rank (per-node work); its decisions on other ranks than 0 are ignored.
  virtual bool every_rank() const { return false; }
};

/// A progress line: epoch, batch, running loss, jets/s, time left in the epoch. Updated in place on
/// a terminal; otherwise one plain line per epoch (logs stay readable).
class ProgressBar : public Callback {
 public:
  explicit ProgressBar(std::FILE* out = stderr) : out_(out), terminal_(::isatty(::fileno(out)) == 1) {}
  std::string name() const override { return "progress"; }
  void on_epoch_begin(TrainingState&) override {
    start_ = std::chrono::steady_clock::now();
    loss_sum_ = 0;
    jets_ = 0;
    batches_ = 0;
  }
  void on_batch_end(TrainingState& s, double loss, std::size_t jets) override {
    loss_sum_ += loss;
    jets_ += jets;
    ++batches_;
    if (!terminal_) return;
    const double seconds = elapsed();
    const double left = s.batch ? seconds / static_cast<double>(s.batch) * static_cast<double>(s.batches_per_epoch - s.batch) : 0;
    std::fprintf(out_, "\r\033[Kepoch %llu/%llu  batch %zu/%zu  loss %.4f  %.0f jets/s  ETA %d:%02d",
                 static_cast<unsigned long long>(s.epoch + 1), static_cast<unsigned long long>(s.epochs), s.batch,
                 s.batches_per_epoch, loss_sum_ / static_cast<double>(batches_), static_cast<double>(jets_) / seconds,
                 static_cast<int>(left) / 60, static_cast<int>(left) % 60);
    std::fflush(out_);
  }
  void on_epoch_end(TrainingState& s) override {
    const auto& r = s.history.back();
    std::fprintf(out_, "%sepoch %llu/%llu  loss %.4f  accuracy %.4f  validation loss %.4f  accuracy %.4f  lr %.3g  %.0f jets/s\n",
                 terminal_ ? "\r\033[K" : "", static_cast<unsigned long long>(r.epoch + 1),
                 static_cast<unsigned long long>(s.epochs), r.train_loss, r.train_accuracy, r.validation_loss,
                 r.validation_accuracy, r.learning_rate, r.jets_per_second);
    std::fflush(out_);
  }

 private:
  double elapsed() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  std::FILE* out_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
  double loss_sum_ = 0;
  std::size_t jets_ = 0, batches_ = 0;
};

/// history.csv and history.json, and the plots loss.svg and accuracy.svg, in the output directory,
/// rewritten (atomically) after every epoch.
class HistoryFiles : public Callback {
 public:
  std::string name() const override { return "history"; }
  void on_epoch_end(TrainingState& s) override {
    std::string csv = std::string(history_csv_header()) + "\n";
    std::string json = "[\n";
    for (std::size_t i = 0; i < s.history.size(); ++i) {
      const auto& r = s.history[i];
      csv += to_csv_line(r) + "\n";
      auto number = [](double v) {
        if (!std::isfinite(v)) return std::string("null");
        char b[64];
        std::snprintf(b, sizeof b, "%.10g", v);
        return std::string(b);
      };
      json += "  {\"epoch\": " + std::to_string(r.epoch) + ", \"learning_rate\": " + number(r.learning_rate) +
              ", \"train_loss\": " + number(r.train_loss) + ", \"train_accuracy\": " + number(r.train_accuracy) +
              ", \"validation_loss\": " + number(r.validation_loss) +
              ", \"validation_accuracy\": " + number(r.validation_accuracy) + ", \"seconds\": " + number(r.seconds) +
              ", \"jets_per_second\": " + number(r.jets_per_second) + "}" + (i + 1 < s.history.size() ? "," : "") + "\n";
    }
    json += "]\n";
    write_text_file(s.output / "history.csv", csv);
    write_text_file(s.output / "history.json", json);
    std::vector<double> train_loss, validation_loss, train_accuracy, validation_accuracy;
    for (const auto& r : s.history) {
      train_loss.push_back(r.train_loss);
      train_accuracy.push_back(r.train_accuracy);
      // Without validation data there is no validation curve.
      if (std::isfinite(r.validation_loss)) validation_loss.push_back(r.validation_loss);
      if (std::isfinite(r.validation_accuracy)) validation_accuracy.push_back(r.validation_accuracy);
    }
    namespace ev = deepjet::evaluation;
    write_text_file(s.output / "loss.svg", ev::svg(ev::history_plot("loss", "Loss per epoch", "loss", train_loss, validation_loss)));
    write_text_file(s.output / "accuracy.svg", ev::svg(ev::history_plot("accuracy", "Accuracy per epoch", "accuracy",
                                                                          train_accuracy, validation_accuracy)));
  }
};

/// The validation loss (training loss without validation data) as a callback's yardstick.
inline double monitored_loss(const EpochRecord& r) {
  return std::isfinite(r.validation_loss) ? r.validation_loss : r.train_loss;
}

/// The best loss so far and the epochs since it improved: the memory of the plateau callbacks.
struct Plateau {
  double best = std::numeric_limits<double>::infinity();
  std::size_t waited = 0;

  /// Record an epoch's loss; true if it improved on the best by more than min_delta.
  bool improved(double loss, double min_delta = 0.0) {
    if (loss < best - min_delta) {
      best = loss;
      waited = 0;
      return true;
    }
    ++waited;
    return false;
  }
  std::string save() const {
    char b[64];
    std::snprintf(b, sizeof b, "%.17g %zu", best, waited);
    return b;
  }
  void restore(const std::string& text) {
    std::istringstream in(text);
    std::string word;
    in >> word >> waited;
    best = std::strtod(word.c_str(), nullptr);
  }
};

/// Stop when the monitored loss has not improved by min_delta for `patience` epochs.
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(std::size_t patience = 10, double min_delta = 0.0) : patience_(patience), min_delta_(min_delta) {}
  std::string name() const override { return "early_stopping"; }
  void on_epoch_end(TrainingState& s) override {
    if (!plateau_.improved(monitored_loss(s.history.back()), min_delta_) && plateau_.waited >= patience_)
      s.request_stop("early stopping: no improvement for " + std::to_string(patience_) + " epochs");
  }
  std::string save_state() const override { return plateau_.save(); }
  void restore_state(const std::string& text) override { plateau_.restore(text); }

 private:
  std::size_t patience_;
  double min_delta_;
  Plateau plateau_;
};

/// Multiply the learning rate by `factor` when the monitored loss has not improved for `patience`
/// epochs, never below `minimum`.
class ReduceLearningRateOnPlateau : public Callback {
 public:
  ReduceLearningRateOnPlateau(double factor = 0.5, std::size_t patience = 3, double minimum = 1e-5)
      : factor_(factor), patience_(patience), minimum_(minimum) {}
  std::string name() const override { return "reduce_lr"; }
  void on_epoch_end(TrainingState& s) override {
    if (!plateau_.improved(monitored_loss(s.history.back())) && plateau_.waited >= patience_) {
      s.learning_rate = std::max(minimum_, s.learning_rate * factor_);
      plateau_.waited = 0;
    }
  }
  std::string save_state() const override { return plateau_.save(); }
  void restore_state(const std::string& text) override { plateau_.restore(text); }

 private:
  double factor_;
  std::size_t patience_;
  double minimum_;
  Plateau plateau_;
};

/// checkpoint_best.h5 whenever the monitored loss reaches a new minimum.
class BestModelCheckpoint : public Callback {
 public:
  std::string name() const override { return "best_model"; }
  void on_epoch_end(TrainingState& s) override {
    const double loss = monitored_loss(s.history.back());
    if (loss < best_) {
      best_ = loss;
      s.save_checkpoint(s.output / "checkpoint_best.h5");
    }
  }
  std::string save_state() const override {
    char b[32];
    std::snprintf(b, sizeof b, "%.17g", best_);
    return b;
  }
  void restore_state(const std::string& text) override { best_ = std::strtod(text.c_str(), nullptr); }

 private:
  double best_ = std::numeric_limits<double>::infinity();
};

/// checkpoint_epoch_<n>.h5 after every epoch (n from 1): the model of each epoch kept, as the
/// original framework's periodic checkpoints.
class EpochCheckpoints : public Callback {
 public:
  std::string name() const override { return "epoch_checkpoints"; }
  void on_epoch_end(TrainingState& s) override {
    s.save_checkpoint(s.output / ("checkpoint_epoch_" + std::to_string(s.epoch + 1) + ".h5"));
  }
};

/// Run a shell command every `interval` of wall time (and at the start): for renewing credentials
/// (kinit -R) on long jobs. If it fails, the run stops cleanly after saving a checkpoint.
class PeriodicCommand : public Callback {
 public:
  PeriodicCommand(std::string command, std::chrono::seconds interval) : command_(std::move(command)), interval_(interval) {}
  std::string name() const override { return "periodic_command"; }
  void on_train_begin(TrainingState& s) override { run(s); }
  void on_batch_end(TrainingState& s, double, std::size_t) override {
    if (std::chrono::steady_clock::now() - last_ >= interval_) run(s);
  }

 private:
  void run(TrainingState& s) {
    last_ = std::chrono::steady_clock::now();
    const int status = std::system(command_.c_str());
    if (status != 0) {
      s.save_checkpoint(s.output / "checkpoint_last.h5");
      s.request_stop("the periodic command '" + command_ + "' failed (status " + std::to_string(status) +
                         "); a checkpoint was saved, rerun to resume",
                     /*resumable=*/true);
    }
  }
  std::string command_;
  std::chrono::seconds interval_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace deepjet::training
