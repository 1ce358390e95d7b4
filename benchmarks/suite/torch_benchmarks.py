#!/usr/bin/python3
"""PyTorch's side of the benchmark suite (issue 7): the figures of deepjet_benchmarks for the same
DeepJet model, batches and thread counts, printed as JSON on stdout (progress on stderr).

    /usr/bin/python3 benchmarks/suite/torch_benchmarks.py [--quick]

Run with Debian's python3-torch (1.13). The model is the PyTorch DeepJet of
scripts/make_torch_fixtures_reference.py (same layers, same semantics; its classes are copied here
without the weight-filling code, because that script computes fixtures when imported). Weights are
PyTorch's default initialisation: the speed does not depend on them.

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

torch.set_default_dtype(torch.float32)
QUICK = "--quick" in sys.argv
REPS = 2 if QUICK else 5
MIN_SECONDS = 0.05 if QUICK else 0.25


# ---- the PyTorch DeepJet of scripts/make_torch_fixtures_reference.py (classes copied, no fill) ----
class BN(torch.nn.Module):
    """BatchNorm over the last dimension of (N, F) or (N, L, F), like deepjet's BatchNorm<>."""

    def __init__(self, features):
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(features, momentum=0.1, eps=1e-3)

    def forward(self, x):
        return self.bn(x) if x.dim() == 2 else self.bn(x.transpose(1, 2)).transpose(1, 2)


class Dense(torch.nn.Module):
    """deepjet Dense (weight (in, out)), or a 1x1 Conv1D on (N, L, F)."""

    def __init__(self, n_in, n_out, conv=False):
        super().__init__()
        self.linear = torch.nn.Linear(n_in, n_out)
        self.conv = conv

    def forward(self, x):
        return self.linear(x)


class Conv3(torch.nn.Module):
    """deepjet Conv1D<F, 3, 1, same> on (N, L, C)."""

    def __init__(self, channels, filters):
        super().__init__()
        self.conv = torch.nn.Conv1d(channels, filters, 3, padding=1)

    def forward(self, x):
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


class BackwardLSTM(torch.nn.Module):
    """deepjet LSTM<H, backwards>: runs over the list from its last entry, returns the final state."""

    def __init__(self, features, units):
        super().__init__()
        self.lstm = torch.nn.LSTM(features, units, batch_first=True)
        self.lstm.bias_hh_l0.requires_grad_(False)

    def forward(self, x):
        y, _ = self.lstm(torch.flip(x, [1]))
        return y[:, -1]


class Chain(torch.nn.Module):
    def __init__(self, *layers):
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def deepjet_model(dropout):
    def conv_unit(n_in, n_out):
        return Chain(Dense(n_in, n_out, conv=True), torch.nn.ReLU(), BN(n_out), torch.nn.Dropout(dropout))

    def dense_unit(n_in, n_out):
        return Chain(Dense(n_in, n_out), torch.nn.ReLU(), BN(n_out), torch.nn.Dropout(dropout))

    def recurrence(n_in, units):
        return Chain(BackwardLSTM(n_in, units), BN(units), torch.nn.Dropout(dropout))

    branches = torch.nn.ModuleList([
        BN(15),
        Chain(BN(16), conv_unit(16, 64), conv_unit(64, 32), conv_unit(32, 32), conv_unit(32, 8), recurrence(8, 150)),
        Chain(BN(6), conv_unit(6, 32), conv_unit(32, 16), conv_unit(16, 4), recurrence(4, 50)),
        Chain(BN(12), conv_unit(12, 64), conv_unit(64, 32), conv_unit(32, 32), conv_unit(32, 8), recurrence(8, 50)),
    ])
    head = Chain(dense_unit(265, 200), *[dense_unit(200 if i == 0 else 100, 100) for i in range(7)],
                 Dense(100, 6), torch.nn.Softmax(dim=1))
    return branches, head


class MultiInput(torch.nn.Module):
    def __init__(self, branches, head):
        super().__init__()
        self.branches = branches
        self.head = head

    def forward(self, inputs):
        return self.head(torch.cat([b(x) for b, x in zip(self.branches, inputs)], dim=1))


def keras_cce(p, t):
    return (-(t * torch.log(torch.clamp(p, min=1e-7))).sum(dim=1)).mean()


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
