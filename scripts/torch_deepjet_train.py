#!/usr/bin/python3
"""DeepJet trained with PyTorch on deepjet's converted files: the "same physics" comparison.

    /usr/bin/python3 scripts/torch_deepjet_train.py DIR [--epochs 4] [--batch 500] [--seed 1] [--threads 2]

DIR is a directory written by `deepjet_quickstart convert` (or `all`):
  DIR/converted/collection.h5        the training files (attribute `files`) and the class weighter
                                     (attribute `extra:weighter`, Weighter::to_text())
  DIR/converted_test/test.h5         the test jets, converted with the training's normalisation
This script trains PyTorch's DeepJet on exactly these inputs with deepjet_quickstart's recipe, predicts
the test jets, computes the b vs udsg AUC as deepjet::evaluation does, and writes
DIR/torch_results.json (printed too).

What is the same as `deepjet_quickstart train` (examples/deepjet/main.cpp):
  - the model: DeepJet (include/deepjet/zoo/deepjet.hpp), from
    scripts/torch_deepjet_model.py: the same PyTorch modules as
    scripts/make_torch_fixtures_reference.py (whose forward pass, gradients and Adam
    steps tests/test_reference_models.cpp checks against deepjet), dropout 0.1, BatchNorm momentum
    0.1 (Keras 0.99) and epsilon 1e-3, the LSTMs run backwards returning their last state, PyTorch's
    second LSTM bias fixed at zero;
  - the initialisation: deepjet's (Keras's) - Glorot-uniform Dense / 1x1-Conv / LSTM input kernels,
    zero biases, orthogonal LSTM recurrent kernels, LSTM forget-gate bias 1, BatchNorm gamma 1 beta 0;
  - the split: the last 15 % of every training file (llround) for validation, split_by_fraction;
  - the class weights: the stored weighter's weight(truth, pT, eta) = sum_c f_c W_c(bin) with
    f = t / sum(t), bins [low, high) clamped to the edge bins (include/deepjet/data/weighter.hpp);
  - the loss: categorical cross-entropy with p clamped at 1e-7, (1/N) sum_i w_i l_i over a batch of N;
  - the recipe: stage 1, 1 epoch of Adam (beta 0.9 / 0.999, epsilon 1e-8) at learning rate 1e-3;
    stage 2, epochs - 1 at 1e-4 with the four input BatchNorms frozen (running statistics, gamma
    and beta not trained); the same Adam continues across the stages; batches of --batch jets
    (the last one smaller), reshuffled every epoch; after each epoch the validation loss and
    accuracy (inference mode, weighted like the training loss); ReduceLROnPlateau(factor 0.5,
    patience 2, minimum 1e-5) on the validation loss; the model of the best validation loss is the
    one evaluated;
  - the evaluation: jets with jet_pt > 30 and |jet_eta| < 2.5; discriminant p_b + p_bb + p_lepb;
    each jet is t_b + t_bb + t_lepb signal and t_uds + t_g background (truth fractions); the exact
    ROC curve (one point per distinct score, ties together) and its trapezoidal area
    (include/deepjet/evaluation/roc.hpp). When python3-sklearn is installed its roc_auc_score with
    sample weights is computed on the one-hot jets as a cross-check (`auc_sklearn_check`).
Differences that remain (they are noise, not physics): the random numbers (initial weights, dropout
masks, shuffling) come from PyTorch's generator, not deepjet's; the shuffle is one permutation of
all training jets per epoch where deepjet's loader shuffles 16384-jet chunks and the jets inside
each chunk; deepjet trains with --threads replicas that each see 1/threads of a batch, so its
training-mode BatchNorm statistics are taken over those slices (PyTorch's over the whole batch).

Speed: "jets_per_second" is measured as deepjet's history does (training jets of an epoch divided
by the epoch's wall time including its validation pass), mean over the epochs; torch.set_num_threads(T),
with OMP_WAIT_POLICY=PASSIVE and OPENBLAS_NUM_THREADS=1 unless set in the environment (see below).

    /usr/bin/python3 scripts/torch_deepjet_train.py DIR --check
checks this script's weighter and AUC against deepjet's on deepjet's own test predictions (needs
`deepjet_quickstart predict` and `evaluate` run on DIR): the weights must be equal and the AUC the same.
"""
import argparse
import copy
import json
import math
import os
import sys
import time

# Before torch starts its thread pools: on a shared machine (more runnable threads than cores),
# OpenMP's default spin-waiting at every barrier costs PyTorch up to 10x with 2 threads; waiting
# passively does not slow it down when the cores are free. OpenBLAS gets no threads of its own
# (PyTorch parallelises around it), so --threads is the number of threads computing.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch_deepjet_model import MultiInput, deepjet_model  # noqa: E402  (scripts/, this directory)

BLOCKS = ["global", "cpf", "npf", "sv"]
CLASSES = ["b", "bb", "lepb", "c", "uds", "g"]


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
            raise ValueError("weighter: NaN pT or eta")
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

def read_training_file(path, first=0, last=None):
    with h5py.File(path, "r") as f:
        n = f["truth"].shape[0]
        last = n if last is None else last
        inputs = [np.asarray(f["inputs/" + b][first:last], dtype=np.float32) for b in BLOCKS]
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


def concat(parts):
    inputs = [np.concatenate([p[0][i] for p in parts]) for i in range(len(BLOCKS))]
    return inputs, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


# ---- evaluation (include/deepjet/evaluation/roc.hpp) ------------------------------------------------

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


def b_vs_udsg_auc(probabilities, truth, spectators):
    keep = (spectators[:, 0] > 30) & (np.abs(spectators[:, 1]) < 2.5)
    p = probabilities[keep].astype(np.float64)
    t = truth[keep].astype(np.float64)
    score = p[:, 0] + p[:, 1] + p[:, 2]
    signal = t[:, 0] + t[:, 1] + t[:, 2]
    background = t[:, 4] + t[:, 5]
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
    for bn in frozen:
        bn.eval()  # a frozen BatchNorm uses (and keeps) its running statistics


def check(directory, weighter):
    """This script's weights and AUC on deepjet's own predictions of the test jets, against deepjet's."""
    with h5py.File(os.path.join(directory, "predictions", "test.h5"), "r") as f:
        truth = np.asarray(f["truth"], dtype=np.float32)
        spectators = np.asarray(f["spectators"], dtype=np.float32)
        reference = np.asarray(f["weights"], dtype=np.float32)
        probabilities = np.asarray(f["probabilities"], dtype=np.float32)
    ours = weighter.weights(truth, spectators)
    diff = np.abs(ours - reference)
    with open(os.path.join(directory, "report", "results.json")) as f:
        deepjet_auc = json.load(f)["groupings"][0]["auc"]
    auc = b_vs_udsg_auc(probabilities, truth, spectators)
    result = {"weights": {"jets": int(len(ours)), "identical": int((diff == 0).sum()),
                          "max_abs_difference": float(diff.max()), "mean_weight": float(ours.mean())},
              "auc_of_deepjet_predictions": {"deepjet": deepjet_auc, "this_script": auc["auc"],
                                             "sklearn": auc.get("auc_sklearn_check")}}
    print(json.dumps(result, indent=2))
    ok = diff.max() <= 1e-6 * max(1.0, float(np.abs(reference).max())) and abs(auc["auc"] - deepjet_auc) < 1e-9
    print("check: %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--output", default=None, help="default DIR/torch_results.json")
    parser.add_argument("--check", action="store_true",
                        help="check this script's weighter and AUC against deepjet's outputs (DIR/predictions/test.h5, "
                             "DIR/report/results.json) and stop")
    args = parser.parse_args()
    epochs = max(2, args.epochs)  # the recipe has two stages, as deepjet_quickstart
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    files, weighter = load_collection(args.dir)
    if args.check:
        return check(args.dir, weighter)

    start = time.time()
    train_parts, validation_parts = [], []
    for jets, name in files:
        cut = jets - int(math.floor(args.validation_fraction * jets + 0.5))  # llround
        inputs, truth, spectators = read_training_file(os.path.join(args.dir, "converted", name))
        if truth.shape[0] != jets:
            raise SystemExit("%s has %d jets, the collection says %d" % (name, truth.shape[0], jets))
        if cut > 0:
            train_parts.append(([x[:cut] for x in inputs], truth[:cut], spectators[:cut]))
        if cut < jets:
            validation_parts.append(([x[cut:] for x in inputs], truth[cut:], spectators[cut:]))
    train_inputs, train_truth, train_spec = concat(train_parts)
    val_inputs, val_truth, val_spec = concat(validation_parts)
    train = (train_inputs, train_truth, weighter.weights(train_truth, train_spec))
    validation = (val_inputs, val_truth, weighter.weights(val_truth, val_spec))
    n_train = train_truth.shape[0]
    print("torch: %d training jets, %d validation jets from %d files (%.1f s to read)"
          % (n_train, val_truth.shape[0], len(files), time.time() - start), flush=True)

    model = MultiInput(*deepjet_model(0.1))
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3,
                                 betas=(0.9, 0.999), eps=1e-8)
    stages = [(1, 1e-3, False), (epochs - 1, 1e-4, True)]
    stage_of = []
    for s, (n, lr, freeze) in enumerate(stages):
        stage_of += [(s, lr, freeze, i == 0) for i in range(n)]
    frozen = []
    lr = stages[0][1]
    best_loss, best_state, best_epoch = math.inf, None, -1
    plateau_best, plateau_waited = math.inf, 0
    history = []
    shuffle = torch.Generator().manual_seed(args.seed)
    for epoch in range(epochs):
        _, stage_lr, freeze, starts = stage_of[epoch]
        if starts:
            lr = stage_lr
            if freeze and not frozen:
                frozen = model.input_batchnorms()
                for bn in frozen:
                    for p in bn.parameters():
                        p.requires_grad_(False)
                        p.grad = None
        for group in optimiser.param_groups:
            group["lr"] = lr
        set_train_mode(model, frozen)
        t0 = time.time()
        permutation = torch.randperm(n_train, generator=shuffle).numpy()
        loss_sum = correct = 0.0
        for idx in batches(n_train, args.batch, permutation):
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
        if val_loss < plateau_best:  # ReduceLearningRateOnPlateau(0.5, 2, 1e-5)
            plateau_best, plateau_waited = val_loss, 0
        else:
            plateau_waited += 1
            if plateau_waited >= 2:
                lr = max(1e-5, lr * 0.5)
                plateau_waited = 0

    model.load_state_dict(best_state)
    test_inputs, test_truth, test_spec = read_training_file(os.path.join(args.dir, "converted_test", "test.h5"))
    t0 = time.time()
    probabilities = predict(model, test_inputs)
    predict_seconds = time.time() - t0
    evaluation = b_vs_udsg_auc(probabilities, test_truth, test_spec)
    results = {
        "framework": "pytorch %s" % torch.__version__,
        "auc_b_vs_udsg": evaluation["auc"],
        "epochs": epochs,
        "best_epoch": best_epoch,
        "best_validation_loss": best_loss,
        "batch": args.batch,
        "seed": args.seed,
        "threads": args.threads,
        "training_jets": int(n_train),
        "validation_jets": int(val_truth.shape[0]),
        "test_jets": int(test_truth.shape[0]),
        "test_jets_selected": evaluation["jets_selected"],
        "jets_per_second": float(np.mean([h["jets_per_second"] for h in history])),
        "training_jets_per_second": float(np.mean([h["training_jets_per_second"] for h in history])),
        "prediction_jets_per_second": test_truth.shape[0] / predict_seconds,
        "history": history,
    }
    if "auc_sklearn_check" in evaluation:
        results["auc_sklearn_check"] = evaluation["auc_sklearn_check"]
    output = args.output or os.path.join(args.dir, "torch_results.json")
    with open(output, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(json.dumps({k: v for k, v in results.items() if k != "history"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
