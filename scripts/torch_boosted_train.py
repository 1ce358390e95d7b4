#!/usr/bin/python3
"""DeepAK8 trained with PyTorch on boosted_quickstart's converted files: the boosted template's
"same physics" comparison (run by benchmarks/same_physics.sh with TEMPLATE=boosted).

    /usr/bin/python3 scripts/torch_boosted_train.py DIR [--epochs 3] [--batch 256] [--seed 1] [--threads 2]

DIR is a directory written by `boosted_quickstart convert` (or `all`):
  DIR/converted/collection.h5        the training files (attribute `files`) and the class weighter
                                     (attribute `extra:weighter`: every class flat in (pT, soft-drop mass))
  DIR/converted_test/test.h5         the test jets, converted with the training's normalisation
This script trains PyTorch's DeepAK8 on exactly these inputs with boosted_quickstart's recipe,
predicts the test jets, computes the top, W, Z and H->bb vs QCD AUCs as deepjet::evaluation does,
and writes DIR/torch_results.json (printed too). The top vs QCD AUC is the compared one.

What is the same as `boosted_quickstart train` (examples/boosted/main.cpp):
  - the model: DeepAK8 (include/deepjet/zoo/deepak8.hpp) from scripts/torch_deepak8_model.py, with
    deepjet's (Keras's) initialisation: Glorot-uniform convolution and Dense kernels, zero Dense
    biases, convolutions without bias, BatchNorm gamma 1 beta 0, momentum 0.1, epsilon 1e-3,
    dropout 0.1;
  - the split (last 15 % of every file), the class weights (the stored (pT, soft-drop mass)
    weighter), the loss and the training loop: scripts/torch_same_physics.py;
  - the recipe: Adam (0.9, 0.999, 1e-8) at learning rate 1e-3 for epochs - 1 epochs, then one
    epoch at 1e-4 (with --epochs 1 just one epoch at 1e-3); no layer frozen, no learning-rate
    reduction on plateau; batches of --batch jets reshuffled every epoch; the model of the best
    validation loss is the one evaluated;
  - the evaluation: jets with fj_pt > 300 and |fj_eta| < 2.4; X vs QCD with DeepAK8's discriminant
    p(X) / (p(X) + p(QCD)), QCD = QCD_bb, QCD_cc, QCD_b, QCD_c, QCD_others; top = the four Top_*
    classes, W = W_cq, W_qq, Z = Z_bb, Z_cc, Z_qq, H->bb = H_bb.
Differences that remain: the random numbers (initial weights, dropout masks, shuffling) come from
PyTorch's generator; PyTorch shuffles all training jets in one permutation, deepjet's loader
16384-jet chunks and the jets inside each chunk (both noise); and deepjet trains with --threads
replicas that each see 1/threads of a batch, so its training-mode BatchNorm statistics are taken
over those slices (PyTorch's over the whole batch). For DeepAK8 (24 BatchNorms, batch 256) that
last one is NOT noise: deepjet with 2 threads reaches a worse validation loss than PyTorch, with 1
thread the same (docs/quickstarts.md, "Same physics as PyTorch").

Speed: "jets_per_second" as deepjet's history counts it (training jets of an epoch over the epoch's
wall time including its validation pass), mean over the epochs; torch.set_num_threads(T), with
OMP_WAIT_POLICY=PASSIVE and OPENBLAS_NUM_THREADS=1 unless set in the environment (see
scripts/torch_deepjet_train.py for why).

    /usr/bin/python3 scripts/torch_boosted_train.py DIR --check
checks this script's weighter and the four AUCs against deepjet's on deepjet's own test predictions
(needs `boosted_quickstart predict` and `evaluate` run on DIR): the weights must be equal and every
AUC the same; and the network: deepjet's trained weights loaded into this script's DeepAK8 must give
deepjet's predictions of the converted test jets (to 1e-4), so the architecture and the test
inputs are the same.
"""
import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch_deepak8_model import DeepAK8  # noqa: E402  (scripts/, this directory)
import torch_same_physics as sp  # noqa: E402  (the weighter, split, AUC and training loop)

BLOCKS = ["pfcand", "sv"]
CLASSES = ["Top_bcq", "Top_bqq", "Top_bc", "Top_bq", "W_cq", "W_qq", "Z_bb", "Z_cc", "Z_qq",
           "H_bb", "H_cc", "H_qqqq", "QCD_bb", "QCD_cc", "QCD_b", "QCD_c", "QCD_others"]
SPECTATORS = ["fj_pt", "fj_eta", "fj_sdmass", "fj_tau21", "fj_tau32"]
CUTS = [(SPECTATORS.index("fj_pt"), 300.0, math.inf, False), (SPECTATORS.index("fj_eta"), -math.inf, 2.4, True)]


def versus_qcd(name, signal):
    s = [CLASSES.index(c) for c in signal]
    qcd = [CLASSES.index(c) for c in CLASSES if c.startswith("QCD_")]
    return sp.Grouping(name, signal=s, background=qcd, numerator=s, denominator=s + qcd)


GROUPINGS = [versus_qcd("top vs QCD", ["Top_bcq", "Top_bqq", "Top_bc", "Top_bq"]),
             versus_qcd("W vs QCD", ["W_cq", "W_qq"]),
             versus_qcd("Z vs QCD", ["Z_bb", "Z_cc", "Z_qq"]),
             versus_qcd("H->bb vs QCD", ["H_bb"])]


def evaluate(probabilities, truth, spectators):
    keep = sp.passes_cuts(spectators, CUTS)
    return {g.name: sp.grouping_auc(g, probabilities, truth, keep) for g in GROUPINGS}


def load_deepjet_weights(model, path):
    """Copy a deepjet DeepAK8 checkpoint's parameters (`parameters/<layer path>/<name>`) into the
    PyTorch model: deepjet's layers in path order are the model's Conv1d, BatchNorm1d and Linear
    modules in registration order; Conv1D weights (K, C, F) -> (F, C, K), Dense (In, Out) -> (Out, In)."""
    import h5py
    layers = {}
    with h5py.File(path, "r") as f:
        f["parameters"].visititems(lambda name, o: layers.setdefault(os.path.dirname(name), {}).__setitem__(
            os.path.basename(name), np.asarray(o, dtype=np.float32)) if isinstance(o, h5py.Dataset) else None)
    ordered = [layers[k] for k in sorted(layers, key=lambda k: [int(x) for x in k.split("/")])]
    modules = [m for m in model.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.BatchNorm1d, torch.nn.Linear))]
    if len(ordered) != len(modules):
        raise SystemExit("%s: %d layers with parameters, the PyTorch DeepAK8 has %d" % (path, len(ordered), len(modules)))
    with torch.no_grad():
        for m, p in zip(modules, ordered):
            if isinstance(m, torch.nn.Conv1d):
                values = {"weight": torch.from_numpy(p["weight"]).permute(2, 1, 0)}
            elif isinstance(m, torch.nn.BatchNorm1d):
                values = {"weight": torch.from_numpy(p["gamma"]), "bias": torch.from_numpy(p["beta"]),
                          "running_mean": torch.from_numpy(p["running_mean"]), "running_var": torch.from_numpy(p["running_var"])}
            else:
                values = {"weight": torch.from_numpy(p["weight"]).t(), "bias": torch.from_numpy(p["bias"])}
            for name, v in values.items():
                target = getattr(m, name)
                if tuple(target.shape) != tuple(v.shape):
                    raise SystemExit("%s: a %s's %s is %s, PyTorch's %s" % (path, type(m).__name__, name, tuple(v.shape),
                                                                         tuple(target.shape)))
                target.copy_(v)


def check_model(directory):
    """deepjet's trained DeepAK8 (DIR/training/checkpoint_best.h5) run by this script's PyTorch
    DeepAK8 on the converted test jets must give deepjet's predictions (DIR/predictions/test.h5):
    the same network and the same test inputs. Float rounding differs (summation order), so the
    probabilities must agree to 1e-4, far below anything that moves an AUC at 0.005."""
    import h5py
    model = DeepAK8(0.1)
    load_deepjet_weights(model, os.path.join(directory, "training", "checkpoint_best.h5"))
    inputs, _, _ = sp.read_converted(os.path.join(directory, "converted_test", "test.h5"), BLOCKS)
    ours = sp.predict(model, inputs)
    with h5py.File(os.path.join(directory, "predictions", "test.h5"), "r") as f:
        reference = np.asarray(f["probabilities"], dtype=np.float32)
    difference = float(np.abs(ours - reference).max()) if ours.shape == reference.shape else math.inf
    print(json.dumps({"deepjet_weights_in_pytorch": {"jets": int(ours.shape[0]), "max_abs_probability_difference": difference}},
                     indent=2))
    ok = difference <= 1e-4
    print("check (model): %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--output", default=None, help="default DIR/torch_results.json")
    parser.add_argument("--check", action="store_true",
                        help="check this script's weighter and AUCs against deepjet's outputs (DIR/predictions/test.h5, "
                             "DIR/report/results.json) and stop")
    args = parser.parse_args()
    epochs = max(1, args.epochs)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    files, weighter = sp.load_collection(args.dir)
    if args.check:
        status = sp.check(args.dir, weighter, lambda p, t, s: {k: v["auc"] for k, v in evaluate(p, t, s).items()})
        return check_model(args.dir) or status

    start = time.time()
    train, validation = sp.read_split(args.dir, files, weighter, BLOCKS, args.validation_fraction)
    n_train, n_validation = train[1].shape[0], validation[1].shape[0]
    print("torch: %d training jets, %d validation jets from %d files (%.1f s to read)"
          % (n_train, n_validation, len(files), time.time() - start), flush=True)

    model = DeepAK8(0.1)
    # boosted_quickstart's recipe: 1e-3, then a tenth of it for the last epoch.
    stages = [sp.Stage(max(1, epochs - 1), 1e-3)] + ([sp.Stage(1, 1e-4)] if epochs > 1 else [])
    history, best_epoch, best_loss = sp.fit(model, train, validation, stages, args.batch, args.seed)

    test_inputs, test_truth, test_spec = sp.read_converted(os.path.join(args.dir, "converted_test", "test.h5"), BLOCKS)
    t0 = time.time()
    probabilities = sp.predict(model, test_inputs)
    predict_seconds = time.time() - t0
    evaluation = evaluate(probabilities, test_truth, test_spec)
    top = evaluation["top vs QCD"]
    results = {
        "framework": "pytorch %s" % torch.__version__,
        "auc_top_vs_qcd": top["auc"],
        "aucs": {name: e["auc"] for name, e in evaluation.items()},
        "epochs": epochs,
        "best_epoch": best_epoch,
        "best_validation_loss": best_loss,
        "batch": args.batch,
        "seed": args.seed,
        "threads": args.threads,
        "training_jets": int(n_train),
        "validation_jets": int(n_validation),
        "test_jets": int(test_truth.shape[0]),
        "test_jets_selected": top["jets_selected"],
        "jets_per_second": float(np.mean([h["jets_per_second"] for h in history])),
        "training_jets_per_second": float(np.mean([h["training_jets_per_second"] for h in history])),
        "prediction_jets_per_second": test_truth.shape[0] / predict_seconds,
        "history": history,
    }
    if "auc_sklearn_check" in top:
        results["auc_sklearn_check"] = top["auc_sklearn_check"]
    output = args.output or os.path.join(args.dir, "torch_results.json")
    with open(output, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(json.dumps({k: v for k, v in results.items() if k != "history"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
