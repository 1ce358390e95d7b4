#!/usr/bin/env python3
"""Write the reference values the GRU tests (tests/test_gru.cpp) compare against.

Run with Debian's Python, which has PyTorch and numpy (apt-get install python3-torch):
    /usr/bin/python3 scripts/make_torch_fixtures_gru.py tests/fixtures/gru.txt

Output format, one tensor per line:  name rank d0 .. d{rank-1} v0 v1 ...  (values as %.9g),
as scripts/make_torch_fixtures.py. Weights are written in deepjet's (Keras's) layout, gate order
z, r, h: kernel (F, 3H), recurrent_kernel (H, 3H), bias (3H), recurrent_bias (3H, reset_after only).
A backwards GRU reads the entries from the last to the first; its sequence output is in the
input's order (output[t] = the state just after reading entry t), as deepjet's.

All inputs and weights are float32 numbers; every reference is computed in float64 from them, so
a comparison measures deepjet's float32 error alone. Sizes: batch 3, T=5, F=4, H=6 (H not a
multiple of a SIMD register, so the masked last register is exercised).

Cases:
  torch.*              PyTorch's nn.GRU (reset_after, sigmoid) with its own initialisation (both
                       biases non-zero). Its tensors as PyTorch stores them (weight_ih_l0 (3H, F)
                       and weight_hh_l0 (3H, H) in gate order r, z, n; bias_ih_l0, bias_hh_l0) and
                       an input x; then for each direction and output kind (last, sequence): y, an
                       output gradient dy, and the gradients of sum(dy * y): dx, and dkernel,
                       drecurrent_kernel, dbias, drecurrent_bias converted to deepjet's layout here
                       (independently of GRULayer::parameters_from_pytorch, which the test uses).
  ref.<reset>.<gates>.<direction>.*
                       reset in (after, before), gates in (sigmoid, hard): the recurrence written
                       out in numpy straight from the equations (gru_numpy below), deepjet-layout
                       weights, outputs y for both kinds. The gradients dx, dkernel, ... come from
                       the same equations written in torch and differentiated by autograd
                       (gru_torch_stepwise); its outputs are checked against numpy's first. The
                       numpy recurrence itself is checked against nn.GRU on the torch.* case.
                       hard = Keras 2's hard_sigmoid, clip(0.2 x + 0.5, 0, 1), on z and r; its
                       weights are larger, so that some gates are clipped, and are redrawn until
                       no gate pre-activation lies within 0.01 of a clip edge (there the
                       derivative jumps between 0.2 and 0, and float32 rounding could pick the
                       other side).
"""
import sys

import numpy as np
import torch

torch.manual_seed(20261202)
out = []
B, T, F, H = 3, 5, 4, 6


def put(name, tensor):
    if isinstance(tensor, np.ndarray):
        tensor = torch.from_numpy(tensor)
    t = tensor.detach().to(torch.float64).contiguous()
    values = " ".join("%.9g" % v for v in t.reshape(-1).tolist())
    out.append("%s %d %s %s" % (name, t.dim(), " ".join(str(d) for d in t.shape), values))


# ---- the equations, in numpy ------------------------------------------------------------------
def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def keras2_hard_sigmoid(v):
    return np.clip(0.2 * v + 0.5, 0.0, 1.0)


def gru_numpy(x, kernel, recurrent_kernel, bias, recurrent_bias, reset, gate, backwards, pre_activations=None):
    """(sequence in input order, last state), float64. x (batch, T, F); deepjet-layout weights.
    If pre_activations is a list, the z and r pre-activations of every step are appended to it."""
    batch, length, _ = x.shape
    units = recurrent_kernel.shape[0]
    W_z, W_r, W_h = np.split(kernel, 3, axis=1)
    U_z, U_r, U_h = np.split(recurrent_kernel, 3, axis=1)
    b_z, b_r, b_h = np.split(bias, 3)
    h = np.zeros((batch, units))
    states = [None] * length
    for step in range(length):
        t = length - 1 - step if backwards else step
        x_t = x[:, t, :]
        z_pre = x_t @ W_z + h @ U_z + b_z
        r_pre = x_t @ W_r + h @ U_r + b_r
        if reset == "after":
            rb_z, rb_r, rb_h = np.split(recurrent_bias, 3)
            z_pre = z_pre + rb_z
            r_pre = r_pre + rb_r
            r = gate(r_pre)
            n = np.tanh(x_t @ W_h + b_h + r * (h @ U_h + rb_h))
        else:
            r = gate(r_pre)
            n = np.tanh(x_t @ W_h + (r * h) @ U_h + b_h)
        z = gate(z_pre)
        if pre_activations is not None:
            pre_activations.extend([z_pre, r_pre])
        h = z * h + (1.0 - z) * n
        states[t] = h
    return np.stack(states, axis=1), h


# ---- the same equations in torch, for autograd ------------------------------------------------
def gru_torch_stepwise(x, kernel, recurrent_kernel, bias, recurrent_bias, reset, gate, backwards):
    batch, length, _ = x.shape
    units = recurrent_kernel.shape[0]
    W_z, W_r, W_h = kernel.split(units, dim=1)
    U_z, U_r, U_h = recurrent_kernel.split(units, dim=1)
    b_z, b_r, b_h = bias.split(units)
    h = torch.zeros(batch, units, dtype=x.dtype)
    states = [None] * length
    for step in range(length):
        t = length - 1 - step if backwards else step
        x_t = x[:, t, :]
        z_pre = x_t @ W_z + h @ U_z + b_z
        r_pre = x_t @ W_r + h @ U_r + b_r
        if reset == "after":
            rb_z, rb_r, rb_h = recurrent_bias.split(units)
            z = gate(z_pre + rb_z)
            r = gate(r_pre + rb_r)
            n = torch.tanh(x_t @ W_h + b_h + r * (h @ U_h + rb_h))
        else:
            z = gate(z_pre)
            r = gate(r_pre)
            n = torch.tanh(x_t @ W_h + (r * h) @ U_h + b_h)
        h = z * h + (1.0 - z) * n
        states[t] = h
    return torch.stack(states, dim=1), h


def torch_hard_sigmoid(v):
    return torch.clamp(0.2 * v + 0.5, 0.0, 1.0)


# ---- PyTorch's layout -> deepjet's ------------------------------------------------------------
def torch_rows_to_deepjet(weight):
    """(3H, K) in PyTorch's gate order r, z, n -> (K, 3H) in deepjet's z | r | h."""
    r, z, n = weight.split(H, dim=0)
    return torch.cat([z, r, n], dim=0).t()


def torch_bias_to_deepjet(bias):
    r, z, n = bias.split(H)
    return torch.cat([z, r, n])


# ---- torch: nn.GRU ------------------------------------------------------------------------------
gru = torch.nn.GRU(F, H, batch_first=True)
x32 = torch.randn(B, T, F)
for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
    put("torch." + name, getattr(gru, name))
put("torch.x", x32)
reference = gru.double()
deepjet_weights = [torch_rows_to_deepjet(reference.weight_ih_l0.detach()), torch_rows_to_deepjet(reference.weight_hh_l0.detach()),
                   torch_bias_to_deepjet(reference.bias_ih_l0.detach()), torch_bias_to_deepjet(reference.bias_hh_l0.detach())]
for direction in ("forwards", "backwards"):
    backwards = direction == "backwards"
    for kind in ("last", "sequence"):
        reference.zero_grad()
        x = x32.double().requires_grad_(True)
        seq, h_n = reference(x.flip(1) if backwards else x)
        if backwards:
            seq = seq.flip(1)
        y = h_n[0] if kind == "last" else seq
        # The numpy recurrence, on the converted weights, gives nn.GRU's outputs.
        np_seq, np_last = gru_numpy(x32.double().numpy(), *[w.numpy() for w in deepjet_weights], "after", sigmoid,
                                    backwards)
        assert np.allclose(np_seq, seq.detach().numpy(), atol=1e-12, rtol=0), "numpy GRU differs from nn.GRU"
        assert np.allclose(np_last, h_n[0].detach().numpy(), atol=1e-12, rtol=0)
        dy = torch.randn(y.shape).double()  # float32 values, exact in float64
        y.backward(dy)
        name = "torch.%s.%s" % (direction, kind)
        put(name + ".y", y)
        put(name + ".dy", dy)
        put(name + ".dx", x.grad)
        put(name + ".dkernel", torch_rows_to_deepjet(reference.weight_ih_l0.grad))
        put(name + ".drecurrent_kernel", torch_rows_to_deepjet(reference.weight_hh_l0.grad))
        put(name + ".dbias", torch_bias_to_deepjet(reference.bias_ih_l0.grad))
        put(name + ".drecurrent_bias", torch_bias_to_deepjet(reference.bias_hh_l0.grad))

# ---- ref: numpy forward, torch-autograd gradients, both conventions and gate activations -------
gate_functions = {"sigmoid": (sigmoid, torch.sigmoid), "hard": (keras2_hard_sigmoid, torch_hard_sigmoid)}
for reset in ("after", "before"):
    for gates in ("sigmoid", "hard"):
        numpy_gate, torch_gate = gate_functions[gates]
        for direction in ("forwards", "backwards"):
            backwards = direction == "backwards"
            prefix = "ref.%s.%s.%s" % (reset, gates, direction)
            scale = 2.0 if gates == "hard" else 1.0
            for attempt in range(100):
                kernel = scale * (torch.rand(F, 3 * H) - 0.5)
                recurrent_kernel = scale * (torch.rand(H, 3 * H) - 0.5)
                bias = scale * (torch.rand(3 * H) - 0.5)
                recurrent_bias = scale * (torch.rand(3 * H) - 0.5) if reset == "after" else None
                x32 = torch.randn(B, T, F)
                weights = [kernel, recurrent_kernel, bias] + ([recurrent_bias] if reset == "after" else [])
                np_weights = [w.double().numpy() for w in weights] + ([] if reset == "after" else [None])
                pre = []
                gru_numpy(x32.double().numpy(), *np_weights, reset, numpy_gate, backwards, pre)
                pre = np.concatenate([p.reshape(-1) for p in pre])
                edge_distance = np.min(np.minimum(np.abs(pre - 2.5), np.abs(pre + 2.5)))
                if gates == "sigmoid" or edge_distance > 0.01:
                    break
            else:
                raise RuntimeError("no draw kept the hard_sigmoid gates away from their clip edges")
            if gates == "hard":
                clipped = np.mean(np.abs(pre) >= 2.5)
                print("%s: %.0f%% of the gates are clipped; nearest pre-activation to an edge: %.3f"
                      % (prefix, 100 * clipped, edge_distance))
            put(prefix + ".kernel", kernel)
            put(prefix + ".recurrent_kernel", recurrent_kernel)
            put(prefix + ".bias", bias)
            if reset == "after":
                put(prefix + ".recurrent_bias", recurrent_bias)
            put(prefix + ".x", x32)
            np_seq, np_last = gru_numpy(x32.double().numpy(), *np_weights, reset, numpy_gate, backwards)
            for kind in ("last", "sequence"):
                leaves = [w.double().requires_grad_(True) for w in weights]
                x = x32.double().requires_grad_(True)
                seq, last = gru_torch_stepwise(x, *leaves, *([] if reset == "after" else [None]), reset, torch_gate,
                                               backwards)
                assert np.allclose(seq.detach().numpy(), np_seq, atol=1e-12, rtol=0), prefix + ": torch != numpy"
                y = last if kind == "last" else seq
                expected = np_last if kind == "last" else np_seq
                dy = torch.randn(y.shape).double()
                y.backward(dy)
                name = prefix + "." + kind
                put(name + ".y", expected)
                put(name + ".dy", dy)
                put(name + ".dx", x.grad)
                put(name + ".dkernel", leaves[0].grad)
                put(name + ".drecurrent_kernel", leaves[1].grad)
                put(name + ".dbias", leaves[2].grad)
                if reset == "after":
                    put(name + ".drecurrent_bias", leaves[3].grad)

path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/gru.txt"
with open(path, "w") as f:
    f.write("# Written by scripts/make_torch_fixtures_gru.py with torch %s, numpy %s; do not edit.\n"
            % (torch.__version__, np.__version__))
    f.write("\n".join(out) + "\n")
print("wrote %d tensors to %s" % (len(out), path))
