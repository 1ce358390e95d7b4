"""What every "same physics as PyTorch" script shares: reading a quick-start's converted files,
deepjet's class weighter, deepjet's exact ROC area, the weighted loss, and the training loop of
deepjet's Trainer (stages, best-model checkpoint, optional ReduceLROnPlateau) in PyTorch.

Used by scripts/torch_deepjet_train.py (DeepJet, deepjet_quickstart) and
scripts/torch_boosted_train.py (DeepAK8, boosted_quickstart); benchmarks/same_physics.sh runs them.
Each of those scripts owns its model and its recipe (stages, evaluation groupings); this module
owns the parts that must behave as deepjet's library does, whatever the template:

  - Weighter: include/deepjet/data/weighter.hpp, read from Weighter::to_text() (the collection's
    `extra:weighter` attribute); weight(truth, x, y) = sum_c f_c W_c(bin), f = t / sum(t), bins
    [low, high) clamped to the edge bins. x and y are the spectator columns the text names (pT
    and eta for DeepJet, pT and soft-drop mass for the boosted template).
  - the split: the last 15 % of every training file (llround) for validation, split_by_fraction.
  - Grouping / grouping_auc: include/deepjet/evaluation/{discriminants,roc}.hpp: cuts, the
    discriminant sum(p numerator) / sum(p denominator) (0 for a zero denominator), truth-fraction
    signal and background weights, the exact ROC (one point per distinct score) and its
    trapezoidal area.
  - weighted_cce: categorical cross-entropy, p clamped at 1e-7, (1/N) sum_i w_i l_i over a batch.
  - fit: Adam (0.9, 0.999, 1e-8) continuing across stages; each stage sets its learning rate and
    may freeze modules (their BatchNorms then use and keep their running statistics); batches
    reshuffled every epoch (one permutation of all training jets); after each epoch the
    validation loss and accuracy in inference mode; the model of the best validation loss is
    returned. Speed as deepjet's history counts it: training jets of an epoch over the epoch's wall
    time including its validation pass.

Import it after setting any environment variable torch reads at start-up (OMP_WAIT_POLICY, ...).
"""
import copy
import json
import math
import os
import time

import h5py
import numpy as np
import torch


# ---- the weighter (include/deepjet/data/weighter.hpp, text of Weighter::to_text) --------------------

class Weighter:
    def __init__(self, text):
        words = text.split()
        pos = [0]

        def word(expected=None):
            if pos[0] >= len(words):
                raise ValueError("weighter text: ends early")
            w = words[pos[0]]
            pos[0] += 1
            if expected is not None and w != expected:
                raise ValueError("weighter text: expected '%s', found '%s'" % (expected, w))
            return w

        def values(n):
            v = [float(word()) for _ in range(n)]
            return v

        word("deepjet_weighter")
        if word() != "1":
            raise ValueError("weighter text: unknown version")
        word("mode")
        self.mode = word()
        self.reference = word() if self.mode == "reference" else None
        word("pt_column"); self.pt_column = int(word())
        word("eta_column"); self.eta_column = int(word())
        word("pt_edges"); self.pt_edges = values(int(word()))
        word("eta_edges"); self.eta_edges = values(int(word()))
        word("classes"); self.classes = [word() for _ in range(int(word()))]
        word("jets"); self.jets = int(word())
        word("without_class"); int(word())
        word("state")
        if word() != "finished":
            raise ValueError("weighter text: the weighter is not finished")
        bins = (len(self.pt_edges) - 1) * (len(self.eta_edges) - 1)
        self.histograms = {}
        for c in self.classes:
            word("histogram"); word(c)
            self.histograms[c] = values(bins)
        self.tables = np.zeros((len(self.classes), bins), dtype=np.float64)
        for i, c in enumerate(self.classes):
            word("weights"); word(c)
            self.tables[i] = values(bins)
        word("end")

    @staticmethod
    def _bins(edges, values):
        # [low, high): the bin of the last edge <= value; below the first or at/above the last edge
        # the edge bins (std::upper_bound - 1, clamped).
        b = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right") - 1
        return np.clip(b, 0, len(edges) - 2)

    def weights(self, truth, spectators):
        """Per-jet weights, float32, for truth (N, classes) and spectators (N, S) (float32)."""
        truth = np.asarray(truth, dtype=np.float32)
        spectators = np.asarray(spectators, dtype=np.float32)
        if np.isnan(spectators[:, [self.pt_column, self.eta_column]]).any():
            raise ValueError("weighter: NaN in its spectator columns")
        pt = spectators[:, self.pt_column].astype(np.float64)
        eta = spectators[:, self.eta_column].astype(np.float64)
        b = self._bins(self.pt_edges, pt) * (len(self.eta_edges) - 1) + self._bins(self.eta_edges, eta)
        t = truth.astype(np.float64)
        total = t.sum(axis=1)
        per_class = self.tables[:, b].T  # (N, classes)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(total > 0, (t / np.where(total > 0, total, 1.0)[:, None] * per_class).sum(axis=1), 0.0)
        return w.astype(np.float32)


# ---- data --------------------------------------------------------------------------------------------

def read_converted(path, blocks, first=0, last=None):
    """(inputs per block, truth, spectators) of one converted file, float32."""
    with h5py.File(path, "r") as f:
        n = f["truth"].shape[0]
        last = n if last is None else last
        inputs = [np.asarray(f["inputs/" + b][first:last], dtype=np.float32) for b in blocks]
        truth = np.asarray(f["truth"][first:last], dtype=np.float32)
        spectators = np.asarray(f["spectators"][first:last], dtype=np.float32)
    return inputs, truth, spectators


def attribute_text(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return "\n".join(v.decode() if isinstance(v, bytes) else str(v) for v in value.reshape(-1))
    return str(value)


def load_collection(directory):
    """The training files [(jets, name)] of DIR/converted/collection.h5 and its weighter."""
    path = os.path.join(directory, "converted", "collection.h5")
    with h5py.File(path, "r") as f:
        files_text = attribute_text(f.attrs["files"])
        weighter_text = attribute_text(f.attrs["extra:weighter"])
    files = []
    for line in files_text.splitlines():
        if not line.strip():
            continue
        jets, _crc, name, _source = line.split("\t")
        files.append((int(jets), name))
    return files, Weighter(weighter_text)


def concat(parts, blocks):
    inputs = [np.concatenate([p[0][i] for p in parts]) for i in range(len(blocks))]
    return inputs, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


def read_split(directory, files, weighter, blocks, validation_fraction=0.15):
    """(train, validation), each (inputs, truth, weights): the last llround(fraction * jets) jets
    of every file are validation jets, as deepjet's split_by_fraction."""
    train_parts, validation_parts = [], []
    for jets, name in files:
        cut = jets - int(math.floor(validation_fraction * jets + 0.5))  # llround
        inputs, truth, spectators = read_converted(os.path.join(directory, "converted", name), blocks)
        if truth.shape[0] != jets:
            raise SystemExit("%s has %d jets, the collection says %d" % (name, truth.shape[0], jets))
        if cut > 0:
            train_parts.append(([x[:cut] for x in inputs], truth[:cut], spectators[:cut]))
        if cut < jets:
            validation_parts.append(([x[cut:] for x in inputs], truth[cut:], spectators[cut:]))
    train_inputs, train_truth, train_spec = concat(train_parts, blocks)
    val_inputs, val_truth, val_spec = concat(validation_parts, blocks)
    return ((train_inputs, train_truth, weighter.weights(train_truth, train_spec)),
            (val_inputs, val_truth, weighter.weights(val_truth, val_spec)))


# ---- evaluation (include/deepjet/evaluation/{discriminants,roc}.hpp) ---------------------------------

def exact_auc(scores, signal, background):
    """Trapezoidal area under signal efficiency vs background efficiency; one ROC point per
    distinct score (ties enter together), the jets selected at a threshold are those >= it."""
    order = np.argsort(-scores, kind="stable")
    s, sw, bw = scores[order], signal[order], background[order]
    last_of_group = np.append(s[1:] != s[:-1], True)  # where a run of equal scores ends
    tps = np.cumsum(sw)[last_of_group] / sw.sum()
    fps = np.cumsum(bw)[last_of_group] / bw.sum()
    tps = np.concatenate([[0.0], tps])
    fps = np.concatenate([[0.0], fps])
    tps[-1] = fps[-1] = 1.0
    return float(np.sum(np.diff(fps) * 0.5 * (tps[1:] + tps[:-1])))


class Grouping:
    """One ROC: signal and background truth columns, the discriminant's numerator and denominator
    probability columns (no denominator: the numerator alone), as deepjet::evaluation::Grouping."""

    def __init__(self, name, signal, background, numerator, denominator=()):
        self.name, self.signal, self.background = name, list(signal), list(background)
        self.numerator, self.denominator = list(numerator), list(denominator)


def _column_sum(values, columns):
    # Added one column after the other in double, as ResolvedGrouping::sum: the same rounding.
    total = np.zeros(values.shape[0], dtype=np.float64)
    for c in columns:
        total = total + values[:, c].astype(np.float64)
    return total


def passes_cuts(spectators, cuts):
    """cuts: [(column, low, high, absolute)]; a jet passes low < v < high (v = |value| if absolute)."""
    keep = np.ones(spectators.shape[0], dtype=bool)
    for column, low, high, absolute in cuts:
        v = spectators[:, column].astype(np.float64)
        if absolute:
            v = np.abs(v)
        keep &= (v > low) & (v < high)
    return keep


def grouping_auc(grouping, probabilities, truth, keep):
    """The grouping's exact AUC over the jets `keep` selects (and sklearn's as a cross-check)."""
    p, t = probabilities[keep], truth[keep]
    top = _column_sum(p, grouping.numerator)
    if grouping.denominator:
        bottom = _column_sum(p, grouping.denominator)
        score = np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), 0.0)
    else:
        score = top
    signal = _column_sum(t, grouping.signal)
    background = _column_sum(t, grouping.background)
    used = (signal > 0) | (background > 0)
    result = {"auc": exact_auc(score[used], signal[used], background[used]),
              "jets_selected": int(keep.sum()), "signal_jets": float(signal.sum()),
              "background_jets": float(background.sum())}
    try:
        from sklearn.metrics import roc_auc_score
        onehot = used & ((signal == 0) | (background == 0))
        y = (signal[onehot] > 0).astype(int)
        w = np.where(y == 1, signal[onehot], background[onehot])
        result["auc_sklearn_check"] = float(roc_auc_score(y, score[onehot], sample_weight=w))
    except ImportError:
        pass
    return result


# ---- training --------------------------------------------------------------------------------------

def weighted_cce(p, t, w):
    """(1/N) sum_i w_i * (-sum_c t_ic log(max(p_ic, 1e-7)))."""
    l = -(t * torch.log(torch.clamp(p, min=1e-7))).sum(dim=1)
    return (w * l).sum() / p.shape[0]


def batches(n, size, permutation=None):
    idx = permutation if permutation is not None else np.arange(n)
    for start in range(0, n, size):
        yield idx[start:start + size]


def take(data, idx):
    inputs, truth, weights = data
    return [torch.from_numpy(x[idx]) for x in inputs], torch.from_numpy(truth[idx]), torch.from_numpy(weights[idx])


def evaluate_loss(model, data, batch=2000):
    model.eval()
    n = data[1].shape[0]
    loss_sum = correct = 0.0
    with torch.no_grad():
        for idx in batches(n, batch):
            x, t, w = take(data, idx)
            p = model(x)
            loss_sum += weighted_cce(p, t, w).item() * len(idx)
            correct += (p.argmax(1) == t.argmax(1)).sum().item()
    return loss_sum / n, correct / n


def predict(model, inputs, batch=2000):
    model.eval()
    out = []
    with torch.no_grad():
        for idx in batches(inputs[0].shape[0], batch):
            out.append(model([torch.from_numpy(x[idx]) for x in inputs]).numpy())
    return np.concatenate(out)


def set_train_mode(model, frozen):
    model.train()
    for module in frozen:
        module.eval()  # a frozen BatchNorm uses (and keeps) its running statistics


class Stage:
    """epochs at learning_rate; freeze() returns the modules frozen from this stage on (or None)."""

    def __init__(self, epochs, learning_rate, freeze=None):
        self.epochs, self.learning_rate, self.freeze = epochs, learning_rate, freeze


def fit(model, train, validation, stages, batch, seed, plateau=None):
    """Train `model` as deepjet's Trainer does (see the module comment); plateau = (factor,
    patience, minimum) for ReduceLROnPlateau on the validation loss, or None. Leaves the model of
    the best validation loss in `model`; returns (history, best_epoch, best_loss)."""
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=stages[0].learning_rate,
                                 betas=(0.9, 0.999), eps=1e-8)
    epoch_stage = [(stage, i == 0) for stage in stages for i in range(stage.epochs)]
    frozen = []
    lr = stages[0].learning_rate
    best_loss, best_state, best_epoch = math.inf, None, -1
    plateau_best, plateau_waited = math.inf, 0
    history = []
    n_train = train[1].shape[0]
    shuffle = torch.Generator().manual_seed(seed)
    for epoch, (stage, starts) in enumerate(epoch_stage):
        if starts:
            lr = stage.learning_rate
            if stage.freeze is not None and not frozen:
                frozen = stage.freeze()
                for module in frozen:
                    for p in module.parameters():
                        p.requires_grad_(False)
                        p.grad = None
        for group in optimiser.param_groups:
            group["lr"] = lr
        set_train_mode(model, frozen)
        t0 = time.time()
        permutation = torch.randperm(n_train, generator=shuffle).numpy()
        loss_sum = correct = 0.0
        for idx in batches(n_train, batch, permutation):
            x, t, w = take(train, idx)
            optimiser.zero_grad(set_to_none=True)
            p = model(x)
            loss = weighted_cce(p, t, w)
            loss.backward()
            optimiser.step()
            loss_sum += loss.item() * len(idx)
            correct += (p.detach().argmax(1) == t.argmax(1)).sum().item()
        train_seconds = time.time() - t0
        val_loss, val_acc = evaluate_loss(model, validation)
        seconds = time.time() - t0
        record = {"epoch": epoch, "learning_rate": lr, "train_loss": loss_sum / n_train,
                  "train_accuracy": correct / n_train, "validation_loss": val_loss, "validation_accuracy": val_acc,
                  "seconds": seconds, "jets_per_second": n_train / seconds,
                  "training_jets_per_second": n_train / train_seconds}
        history.append(record)
        print("torch: epoch %d lr %.2g loss %.4f acc %.4f val_loss %.4f val_acc %.4f %.1f s (%.0f jets/s)"
              % (epoch, lr, record["train_loss"], record["train_accuracy"], val_loss, val_acc, seconds,
                 record["jets_per_second"]), flush=True)
        if val_loss < best_loss:  # BestModelCheckpoint
            best_loss, best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        if plateau is not None:  # ReduceLearningRateOnPlateau(factor, patience, minimum)
            factor, patience, minimum = plateau
            if val_loss < plateau_best:
                plateau_best, plateau_waited = val_loss, 0
            else:
                plateau_waited += 1
                if plateau_waited >= patience:
                    lr = max(minimum, lr * factor)
                    plateau_waited = 0
    model.load_state_dict(best_state)
    return history, best_epoch, best_loss


# ---- the check: this module against deepjet on deepjet's own predictions ---------------------------

def check(directory, weighter, evaluate):
    """This module's weights and AUCs on deepjet's predictions of the test jets
    (DIR/predictions/test.h5) against deepjet's (its weights there, DIR/report/results.json).
    evaluate(probabilities, truth, spectators) -> {grouping name: AUC}. Returns 0 if all agree."""
    with h5py.File(os.path.join(directory, "predictions", "test.h5"), "r") as f:
        truth = np.asarray(f["truth"], dtype=np.float32)
        spectators = np.asarray(f["spectators"], dtype=np.float32)
        reference = np.asarray(f["weights"], dtype=np.float32)
        probabilities = np.asarray(f["probabilities"], dtype=np.float32)
    ours = weighter.weights(truth, spectators)
    diff = np.abs(ours - reference)
    with open(os.path.join(directory, "report", "results.json")) as f:
        deepjet_aucs = {g["name"]: g["auc"] for g in json.load(f)["groupings"]}
    aucs = evaluate(probabilities, truth, spectators)
    result = {"weights": {"jets": int(len(ours)), "identical": int((diff == 0).sum()),
                          "max_abs_difference": float(diff.max()), "mean_weight": float(ours.mean())},
              "auc_of_deepjet_predictions": {name: {"deepjet": deepjet_aucs.get(name), "this_script": auc}
                                             for name, auc in aucs.items()}}
    print(json.dumps(result, indent=2))
    ok = diff.max() <= 1e-6 * max(1.0, float(np.abs(reference).max()))
    ok = ok and all(name in deepjet_aucs and abs(auc - deepjet_aucs[name]) < 1e-9 for name, auc in aucs.items())
    print("check: %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1
