#!/usr/bin/env python3
"""Write the PyTorch reference values the LSTM tests (tests/test_lstm.cpp) compare against.

Run with Debian's PyTorch (apt-get install python3-torch):
    /usr/bin/python3 scripts/make_torch_fixtures_lstm.py tests/fixtures/lstm.txt

Output format, one tensor per line:  name rank d0 .. d{rank-1} v0 v1 ...  (values as %.9g),
as scripts/make_torch_fixtures.py. Weights are written in deepjet's (Keras's) layout:
    kernel = weight_ih_l0^T (F, 4H),  recurrent_kernel = weight_hh_l0^T (H, 4H),
    bias = bias_ih_l0 + bias_hh_l0 (4H); gate order i, f, g, o in both libraries.
A backwards LSTM is torch's LSTM on the input flipped along the entries; its sequence output is
flipped back, so that output[t] is the state just after reading entry t (deepjet's order).

The inputs and weights are float32 numbers; the references are computed in float64 from them, so
the comparison measures deepjet's float32 error alone.

Cases:
  small.<direction>.*  batch 3, T=5, F=4, H=6, forwards and backwards; weights, input, and for
                       each output kind (last, sequence): y, an output gradient dy, and the
                       gradients dx, dkernel, drecurrent_kernel, dbias of sum(dy * y).
  hard.<direction>.*   as small.*, with Keras 2's hard_sigmoid, clip(0.2 z + 0.5, 0, 1), on the
                       gates i, f, o (deepjet::hard_sigmoid_gates). torch's nn.LSTM has no such
                       option, so this runs the recurrence step by step with autograd; that loop
                       is first checked against nn.LSTM with the ordinary sigmoid.
  torch_layout.*       an nn.LSTM with PyTorch's own initialisation (both biases non-zero), its
                       tensors as PyTorch stores them (weight_ih_l0 (4H, F), weight_hh_l0 (4H, H),
                       bias_ih_l0, bias_hh_l0), an input, and the last state forwards and
                       backwards: tests LSTMLayer::parameters_from_pytorch, the documented mapping.
  cpf.<direction>.y    DeepJet's charged-candidate size, batch 2, T=25, F=8, H=150, forward only,
                       last state. To keep the file small its weights and input are not stored:
                       both sides compute them with `hashed_uniform` (below; the test has the same
                       function), which is exact integer arithmetic.
"""
import sys

import torch

torch.manual_seed(20261123)
out = []


def put(name, tensor):
    t = tensor.detach().to(torch.float64).contiguous()
    values = " ".join("%.9g" % v for v in t.reshape(-1).tolist())
    out.append("%s %d %s %s" % (name, t.dim(), " ".join(str(d) for d in t.shape), values))


def hashed_uniform(count, seed, scale):
    """count float32 values in [-scale, scale): the murmur3 finaliser of (k * golden + seed)."""
    values = []
    mask = 0xFFFFFFFF
    for k in range(count):
        x = (k * 0x9E3779B9 + seed) & mask
        x ^= x >> 16
        x = (x * 0x85EBCA6B) & mask
        x ^= x >> 13
        x = (x * 0xC2B2AE35) & mask
        x ^= x >> 16
        u = (x >> 8) / float(1 << 24)  # exact: 24 bits
        values.append((2.0 * u - 1.0) * scale)
    # Round once to float32 (as static_cast<float>(double) in C++).
    return torch.tensor(values, dtype=torch.float64).to(torch.float32)


def make_lstm(F, H, kernel, recurrent_kernel, bias):
    """A float64 torch LSTM holding the given deepjet-layout weights (bias all in bias_ih)."""
    lstm = torch.nn.LSTM(F, H, batch_first=True).double()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(kernel.t().double())
        lstm.weight_hh_l0.copy_(recurrent_kernel.t().double())
        lstm.bias_ih_l0.copy_(bias.double())
        lstm.bias_hh_l0.zero_()
    return lstm


def run(lstm, x, backwards):
    """(sequence in input order, last state) of the LSTM over x (batch, T, F)."""
    seq, (h_n, _) = lstm(x.flip(1) if backwards else x)
    if backwards:
        seq = seq.flip(1)
    return seq, h_n[0]


# ---- small: batch 3, T=5, F=4, H=6 ---------------------------------------------------------
B, T, F, H = 3, 5, 4, 6
for direction in ("forwards", "backwards"):
    backwards = direction == "backwards"
    prefix = "small." + direction
    kernel = torch.rand(F, 4 * H) - 0.5
    recurrent_kernel = torch.rand(H, 4 * H) - 0.5
    bias = torch.rand(4 * H) - 0.5
    x32 = torch.randn(B, T, F)
    put(prefix + ".kernel", kernel)
    put(prefix + ".recurrent_kernel", recurrent_kernel)
    put(prefix + ".bias", bias)
    put(prefix + ".x", x32)
    for kind in ("last", "sequence"):
        lstm = make_lstm(F, H, kernel, recurrent_kernel, bias)
        x = x32.double().requires_grad_(True)
        seq, last = run(lstm, x, backwards)
        y = last if kind == "last" else seq
        dy = torch.randn(y.shape).double()  # float32 values, exact in float64
        dy = dy.float().double()
        y.backward(dy)
        name = prefix + "." + kind
        put(name + ".y", y)
        put(name + ".dy", dy)
        put(name + ".dx", x.grad)
        put(name + ".dkernel", lstm.weight_ih_l0.grad.t())
        put(name + ".drecurrent_kernel", lstm.weight_hh_l0.grad.t())
        put(name + ".dbias", lstm.bias_ih_l0.grad)

# ---- hard: the same sizes, gates with Keras 2's hard_sigmoid ------------------------------------
def keras2_hard_sigmoid(z):
    return torch.clamp(0.2 * z + 0.5, 0.0, 1.0)


def stepwise_lstm(x, kernel, recurrent_kernel, bias, gate, backwards):
    """(sequence in input order, last state): the recurrence written out, deepjet-layout weights."""
    batch, length, _ = x.shape
    units = recurrent_kernel.shape[0]
    h = torch.zeros(batch, units, dtype=x.dtype)
    c = torch.zeros(batch, units, dtype=x.dtype)
    states = [None] * length
    for step in range(length):
        t = length - 1 - step if backwards else step
        z = x[:, t, :] @ kernel + h @ recurrent_kernel + bias
        zi, zf, zg, zo = z.split(units, dim=1)
        c = gate(zf) * c + gate(zi) * torch.tanh(zg)
        h = gate(zo) * torch.tanh(c)
        states[t] = h
    return torch.stack(states, dim=1), h


# The step-by-step loop with the sigmoid must reproduce nn.LSTM (in both directions).
for backwards in (False, True):
    kernel, recurrent_kernel, bias = (torch.rand(F, 4 * H) - 0.5, torch.rand(H, 4 * H) - 0.5, torch.rand(4 * H) - 0.5)
    x = torch.randn(B, T, F).double()
    seq_ref, last_ref = run(make_lstm(F, H, kernel, recurrent_kernel, bias), x, backwards)
    seq, last = stepwise_lstm(x, kernel.double(), recurrent_kernel.double(), bias.double(), torch.sigmoid, backwards)
    assert torch.allclose(seq, seq_ref, atol=1e-12) and torch.allclose(last, last_ref, atol=1e-12)

for direction in ("forwards", "backwards"):
    backwards = direction == "backwards"
    prefix = "hard." + direction
    # Larger weights than above, so that some gates are clipped at 0 or 1.
    kernel = 2.0 * torch.rand(F, 4 * H) - 1.0
    recurrent_kernel = 2.0 * torch.rand(H, 4 * H) - 1.0
    bias = 2.0 * torch.rand(4 * H) - 1.0
    x32 = torch.randn(B, T, F)
    put(prefix + ".kernel", kernel)
    put(prefix + ".recurrent_kernel", recurrent_kernel)
    put(prefix + ".bias", bias)
    put(prefix + ".x", x32)
    for kind in ("last", "sequence"):
        weights = [w.double().requires_grad_(True) for w in (kernel, recurrent_kernel, bias)]
        x = x32.double().requires_grad_(True)
        seq, last = stepwise_lstm(x, *weights, keras2_hard_sigmoid, backwards)
        y = last if kind == "last" else seq
        dy = torch.randn(y.shape).double()
        y.backward(dy)
        name = prefix + "." + kind
        put(name + ".y", y)
        put(name + ".dy", dy)
        put(name + ".dx", x.grad)
        put(name + ".dkernel", weights[0].grad)
        put(name + ".drecurrent_kernel", weights[1].grad)
        put(name + ".dbias", weights[2].grad)
    # How many gate values are clipped (the test's inputs exercise both regions).
    with torch.no_grad():
        z = x32.double().reshape(-1, F) @ kernel.double() + bias.double()
        clipped = ((0.2 * z + 0.5 <= 0) | (0.2 * z + 0.5 >= 1)).double().mean().item()
    print("%s: %.0f%% of the input projections alone are in the clipped region" % (prefix, 100 * clipped))

# ---- torch_layout: PyTorch's tensors as they are ----------------------------------------------
lstm = torch.nn.LSTM(F, H, batch_first=True)
x32 = torch.randn(B, T, F)
for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
    put("torch_layout." + name, getattr(lstm, name))
put("torch_layout.x", x32)
with torch.no_grad():
    reference = lstm.double()
    for direction in ("forwards", "backwards"):
        _, last = run(reference, x32.double(), direction == "backwards")
        put("torch_layout." + direction + ".y", last)

# ---- cpf: batch 2, T=25, F=8, H=150, weights from hashed_uniform ----------------------------
B, T, F, H = 2, 25, 8, 150
kernel = hashed_uniform(F * 4 * H, 1, 0.3).reshape(F, 4 * H)
recurrent_kernel = hashed_uniform(H * 4 * H, 2, 0.1).reshape(H, 4 * H)
bias = hashed_uniform(4 * H, 3, 0.1)
x = hashed_uniform(B * T * F, 4, 1.0).reshape(B, T, F).double()
with torch.no_grad():
    for direction in ("forwards", "backwards"):
        lstm = make_lstm(F, H, kernel, recurrent_kernel, bias)
        _, last = run(lstm, x, direction == "backwards")
        put("cpf." + direction + ".y", last)
# Sums of the hashed tensors, computed in float64: the test checks that it made the same numbers.
put("cpf.x_sum", x.sum().reshape(1))
put("cpf.parameter_sum", (kernel.double().sum() + recurrent_kernel.double().sum() + bias.double().sum()).reshape(1))

path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/lstm.txt"
with open(path, "w") as f:
    f.write("# Written by scripts/make_torch_fixtures_lstm.py with torch %s; do not edit.\n" % torch.__version__)
    f.write("\n".join(out) + "\n")
print("wrote %d tensors to %s" % (len(out), path))
