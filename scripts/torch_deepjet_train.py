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

What is the same as `deepjet_quickstart train` (examples/deepjet/main.cpp); the weighter, split,
loss, training loop and AUC are scripts/torch_same_physics.py's, shared with the boosted template's
scripts/torch_boosted_train.py:
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

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch_deepjet_model import MultiInput, deepjet_model  # noqa: E402  (scripts/, this directory)
import torch_same_physics as sp  # noqa: E402  (the weighter, split, AUC and training loop)

BLOCKS = ["global", "cpf", "npf", "sv"]
CLASSES = ["b", "bb", "lepb", "c", "uds", "g"]
# b vs udsg: jet_pt > 30 and |jet_eta| < 2.5 (spectators 0, 1); discriminant p_b + p_bb + p_lepb.
CUTS = [(0, 30.0, math.inf, False), (1, -math.inf, 2.5, True)]
B_VS_UDSG = sp.Grouping("b vs udsg", signal=[0, 1, 2], background=[4, 5], numerator=[0, 1, 2])


def b_vs_udsg_auc(probabilities, truth, spectators):
    return sp.grouping_auc(B_VS_UDSG, probabilities, truth, sp.passes_cuts(spectators, CUTS))


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

    files, weighter = sp.load_collection(args.dir)
    if args.check:
        return sp.check(args.dir, weighter, lambda p, t, s: {B_VS_UDSG.name: b_vs_udsg_auc(p, t, s)["auc"]})

    start = time.time()
    train, validation = sp.read_split(args.dir, files, weighter, BLOCKS, args.validation_fraction)
    n_train, val_truth = train[1].shape[0], validation[1]
    print("torch: %d training jets, %d validation jets from %d files (%.1f s to read)"
          % (n_train, val_truth.shape[0], len(files), time.time() - start), flush=True)

    model = MultiInput(*deepjet_model(0.1))
    # Stage 1: one epoch at 1e-3; stage 2: the rest at 1e-4 with the four input BatchNorms frozen.
    stages = [sp.Stage(1, 1e-3), sp.Stage(epochs - 1, 1e-4, freeze=model.input_batchnorms)]
    history, best_epoch, best_loss = sp.fit(model, train, validation, stages, args.batch, args.seed,
                                            plateau=(0.5, 2, 1e-5))

    test_inputs, test_truth, test_spec = sp.read_converted(os.path.join(args.dir, "converted_test", "test.h5"), BLOCKS)
    t0 = time.time()
    probabilities = sp.predict(model, test_inputs)
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
