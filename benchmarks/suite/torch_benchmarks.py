#!/usr/bin/python3
"""PyTorch's side of the benchmark suite (issue 7): the figures of deepjet_benchmarks for the same
DeepJet model, batches and thread counts, printed as JSON on stdout (progress on stderr).

    /usr/bin/python3 benchmarks/suite/torch_benchmarks.py [--quick]

Run with Debian's python3-torch (1.13). The model is the PyTorch DeepJet of
scripts/torch_deepjet_model.py (the one scripts/torch_deepjet_train.py trains; the same layers and
semantics as the fixtures' model in scripts/make_torch_fixtures_reference.py), with deepjet's
initialisation: the speed does not depend on the weights.

How each figure is measured (as deepjet_benchmarks does):
  - T = 1 and 2 threads: torch.set_num_threads(T) (intra-op parallelism of one call: PyTorch's way
    of using both cores for one model), and OpenBLAS's own thread pool set to T too (Debian's
    PyTorch does its GEMMs in the system OpenBLAS, which otherwise runs them on every core even
    after torch.set_num_threads(1)); and, for inference, two independent processes with one thread
    each ("2 processes", keys inference_b*_2p: the PyTorch counterpart of deepjet's two callers
    sharing one model), the sum of their rates;
  - inference: model.eval(), torch.no_grad(), random inputs, batches 1, 32, 1024;
  - training: model.train() (dropout 0.1, BatchNorm batch statistics), softmax output, Keras's
    categorical cross-entropy (clamped log), backward, torch.optim.Adam step, batch 1024;
  - layers: the same modules the model uses: Dense = nn.Linear(265, 200); the pointwise Conv1D =
    nn.Linear(16, 64) on (N, 25, 16) (as the reference model writes it); the LSTM = nn.LSTM(8, 150)
    on the flipped list (BackwardLSTM), final state; the k=3 Conv1D = nn.Conv1d(32, 32, 3,
    padding=1) between two transposes (channels-last in and out, as deepjet's);
  - each repetition runs the call repeatedly for at least 0.25 s; the figure is the best of 5
    repetitions, both per wall-clock second and per second of this process's CPU time (divided by
    T), so that a busy shared machine hurts the figure less.
"""
import ctypes
import json
import multiprocessing
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from torch_deepjet_model import BackwardLSTM, Conv3, MultiInput, deepjet_model, keras_cce  # noqa: E402

torch.set_default_dtype(torch.float32)
QUICK = "--quick" in sys.argv
REPS = 2 if QUICK else 5
MIN_SECONDS = 0.05 if QUICK else 0.25


# ---- threads ------------------------------------------------------------------------------------
def openblas():
    """The OpenBLAS this PyTorch runs its GEMMs in (Debian's python3-torch links the system BLAS), if any."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "libopenblas" in path:
                try:
                    library = ctypes.CDLL(path)
                    library.openblas_set_num_threads
                    return path, library
                except (OSError, AttributeError):
                    continue
    return None, None


BLAS_PATH, BLAS = openblas()


def set_threads(n):
    """torch.set_num_threads(n), and OpenBLAS's own pthread pool to n threads as well: left alone,
    Debian's OpenBLAS runs every GEMM on all cores whatever torch.set_num_threads says."""
    torch.set_num_threads(n)
    if BLAS is not None:
        BLAS.openblas_set_num_threads(n)


# ---- timing ---------------------------------------------------------------------------------------
def best_rate(call, units, threads, reps=REPS, min_seconds=MIN_SECONDS, min_calls=1):
    """Best of `reps` repetitions of `call` (worth `units`): per wall second and per CPU second / threads."""
    call()  # warm-up
    best_wall = best_cpu = 0.0
    for _ in range(reps):
        c0, w0 = time.process_time(), time.perf_counter()
        calls = 0
        while True:
            call()
            calls += 1
            wall = time.perf_counter() - w0
            if calls >= min_calls and wall >= min_seconds:
                break
        cpu = time.process_time() - c0
        best_wall = max(best_wall, calls * units / wall)
        best_cpu = max(best_cpu, calls * units / cpu * threads if cpu > 0 else 0.0)
    return {"wall": best_wall, "cpu": best_cpu}


SHAPES = [(15,), (25, 16), (25, 6), (4, 12)]
figures = {}


def note(key, value):
    figures[key] = value
    print("  %-26s cpu %12.1f  wall %12.1f" % (key, value["cpu"], value["wall"]), file=sys.stderr)


def process_worker(batch, start, results):
    """One of two independent PyTorch processes, one thread each (deepjet's two callers, PyTorch-style)."""
    set_threads(1)
    torch.manual_seed(7)
    net = MultiInput(*deepjet_model(0.1))
    net.eval()
    x = [torch.randn(batch, *s) for s in SHAPES]
    with torch.no_grad():
        net(x)
        start.wait()
        results.put(best_rate(lambda: net(x), batch, 1))


def two_processes(batch):
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    results = context.Queue()
    workers = [context.Process(target=process_worker, args=(batch, start, results)) for _ in range(2)]
    for w in workers:
        w.start()
    rates = [results.get() for _ in workers]
    for w in workers:
        w.join()
    return {"wall": sum(r["wall"] for r in rates), "cpu": sum(r["cpu"] for r in rates)}


def main():
    torch.manual_seed(7)
    model = MultiInput(*deepjet_model(0.1))
    model.eval()
    for threads in (1, 2):
        set_threads(threads)
        for batch in (1, 32, 1024):
            x = [torch.randn(batch, *s) for s in SHAPES]
            with torch.no_grad():
                note("inference_b%d_%dt" % (batch, threads), best_rate(lambda: model(x), batch, threads))
    r = figures["inference_b1_1t"]
    figures["latency_1jet_us"] = {"wall": 1e6 / r["wall"], "cpu": 1e6 / r["cpu"]}
    # Both cores as two independent one-thread processes (the PyTorch counterpart of deepjet's two
    # callers sharing one model): the sum of their rates.
    for batch in (1, 32, 1024):
        note("inference_b%d_2p" % batch, two_processes(batch))

    # Training: a fresh model, Adam, batch 1024.
    for threads in (1, 2):
        set_threads(threads)
        torch.manual_seed(11)
        net = MultiInput(*deepjet_model(0.1))
        net.train()
        optimiser = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-4)
        x = [torch.randn(1024, *s) for s in SHAPES]
        target = torch.nn.functional.one_hot(torch.randint(0, 6, (1024,)), 6).float()

        def step():
            optimiser.zero_grad()
            loss = keras_cce(net(x), target)
            loss.backward()
            optimiser.step()

        note("training_b1024_%dt" % threads,
             best_rate(step, 1024, threads, reps=1 if QUICK else 3, min_seconds=0.2 if QUICK else 1.0, min_calls=2))

    # Single layers, one thread.
    set_threads(1)
    layers = {
        "dense_265_200": (torch.nn.Linear(265, 200), (265,)),
        "conv1x1_16_64_x25": (torch.nn.Linear(16, 64), (25, 16)),
        "lstm_8_150_x25": (BackwardLSTM(8, 150), (25, 8)),
        "conv3_32_32_x100": (Conv3(32, 32), (100, 32)),
    }
    for batch in (1, 1024):
        for name, (layer, shape) in layers.items():
            layer.eval()
            x = torch.randn(batch, *shape)
            with torch.no_grad():
                note("%s_b%d" % (name, batch), best_rate(lambda: layer(x), batch, 1))

    print(json.dumps({"torch_version": torch.__version__,
                      "config": torch.__config__.parallel_info().splitlines()[:6],
                      "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""), "openblas": BLAS_PATH, "repetitions": REPS,
                      "figures": figures}, indent=1))


if __name__ == "__main__":
    main()
