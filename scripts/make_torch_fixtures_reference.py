#!/usr/bin/env python3
"""Reference outputs of the reference models (DeepJet and its Run-2 variant, DeepAK8, DeepCSV)
built in PyTorch, for tests/test_reference_models.cpp.

    /usr/bin/python3 scripts/make_torch_fixtures_reference.py tests/fixtures/reference_models.txt

Weights are not stored: both sides fill every tensor the same way (reference_value: formulas, and
deepjet's random generator reimplemented here), in deepjet's layout and tensor order; this script then moves each tensor into PyTorch's
layout. Written: trainable and buffer counts, inputs, inference outputs, and the losses of a few
Adam steps of DeepJet without dropout (training-mode BatchNorm). The Run-2 DeepJet's LSTMs use
Keras's hard_sigmoid gates, which torch.nn.LSTM cannot: HardSigmoidBackwardLSTM writes the
recurrence out.
PyTorch's LSTM has two biases where deepjet (and Keras) has one: bias_hh is fixed at zero and not
trained, so both frameworks train the same parameters.
"""
import math
import sys

import torch

torch.set_default_dtype(torch.float32)
out = []


def put(name, tensor):
    t = tensor.detach().contiguous().float()
    out.append("%s %d %s %s" % (name, t.dim(), " ".join(str(d) for d in t.shape),
                                " ".join("%.9g" % v for v in t.reshape(-1).tolist())))


MASK = (1 << 64) - 1


class Random:
    """deepjet::Random (xoshiro256** seeded through splitmix64), so both sides draw the same numbers."""

    def __init__(self, seed):
        x = seed
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            self.s.append(z ^ (z >> 31))

    def next(self):
        s = self.s
        rotl = lambda v, k: ((v << k) | (v >> (64 - k))) & MASK
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self, low, high):
        return low + (high - low) * ((self.next() >> 40) * 2.0 ** -24)


def reference_value(name, shape, t, j, random):
    """The value of element j of the t-th tensor (deepjet order); the tests compute the same.
    Weights are LeCun-uniform draws from one deepjet::Random(2026) stream (a well-conditioned
    network, as after a real initialisation); the other tensors follow smooth formulas."""
    if name == "gamma":
        return 1.0 + 0.1 * math.sin(0.5 * j + t)
    if name == "beta":
        return 0.1 * math.sin(0.7 * j + t)
    if name == "running_mean":
        return 0.1 * math.sin(0.3 * j + t)
    if name == "running_var":
        return 1.0 + 0.25 * math.sin(0.9 * j + t)
    if name == "bias":
        return 0.05 * math.sin(1.1 * j + t)
    fan_in = 1
    for d in shape[:-1]:
        fan_in *= d
    limit = math.sqrt(3.0 / fan_in)
    return random.uniform(-limit, limit)


class Filler:
    """Fills tensors in deepjet's order: each call gets the deepjet name and shape, and a function
    that copies a tensor of that shape into the PyTorch module."""

    def __init__(self):
        self.t = 0
        self.random = Random(2026)
        self.extractors = []  # (deepjet name, function giving the gradient in deepjet's layout)

    def __call__(self, name, shape, assign, extract=None):
        self.extractors.append((name, extract))
        n = 1
        for d in shape:
            n *= d
        values = torch.tensor([reference_value(name, shape, self.t, j, self.random) for j in range(n)]).reshape(shape)
        with torch.no_grad():
            assign(values)
        self.t += 1


class BN(torch.nn.Module):
    """BatchNorm over the last dimension of (N, F) or (N, L, F), like deepjet's BatchNorm<>."""

    def __init__(self, features):
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(features, momentum=0.1, eps=1e-3)

    def forward(self, x):
        return self.bn(x) if x.dim() == 2 else self.bn(x.transpose(1, 2)).transpose(1, 2)

    def fill(self, f):
        f("gamma", [self.bn.num_features], lambda v: self.bn.weight.copy_(v), lambda: self.bn.weight.grad)
        f("beta", [self.bn.num_features], lambda v: self.bn.bias.copy_(v), lambda: self.bn.bias.grad)
        f("running_mean", [self.bn.num_features], lambda v: self.bn.running_mean.copy_(v))
        f("running_var", [self.bn.num_features], lambda v: self.bn.running_var.copy_(v))


class Dense(torch.nn.Module):
    """deepjet Dense (weight (in, out)), or a 1x1 Conv1D (weight (1, in, out)) on (N, L, F)."""

    def __init__(self, n_in, n_out, conv=False):
        super().__init__()
        self.linear = torch.nn.Linear(n_in, n_out)
        self.conv = conv

    def forward(self, x):
        return self.linear(x)

    def fill(self, f):
        n_out, n_in = self.linear.weight.shape
        shape = [1, n_in, n_out] if self.conv else [n_in, n_out]
        f("weight", shape, lambda v: self.linear.weight.copy_(v.reshape(n_in, n_out).t()),
          lambda: self.linear.weight.grad.t().reshape(shape))
        f("bias", [n_out], lambda v: self.linear.bias.copy_(v), lambda: self.linear.bias.grad)


class Conv(torch.nn.Module):
    """deepjet Conv1D<F, K, S, symmetric, false> on (N, L, C): PyTorch's padding=K//2 on each side,
    no bias; weight (K, C, F). DeepAK8's convolutions (K 3) and shortcuts (K 1)."""

    def __init__(self, channels, filters, kernel=3, stride=1):
        super().__init__()
        self.conv = torch.nn.Conv1d(channels, filters, kernel, stride=stride, padding=kernel // 2, bias=False)

    def forward(self, x):
        return self.conv(x.transpose(1, 2)).transpose(1, 2)

    def fill(self, f):
        filters, channels, k = self.conv.weight.shape
        f("weight", [k, channels, filters], lambda v: self.conv.weight.copy_(v.permute(2, 1, 0)))


class BackwardLSTM(torch.nn.Module):
    """deepjet LSTM<H, backwards>: runs over the list from its last entry, returns the final state."""

    def __init__(self, features, units):
        super().__init__()
        self.lstm = torch.nn.LSTM(features, units, batch_first=True)
        self.lstm.bias_hh_l0.requires_grad_(False)

    def forward(self, x):
        y, _ = self.lstm(torch.flip(x, [1]))
        return y[:, -1]

    def fill(self, f):
        h = self.lstm.hidden_size
        fin = self.lstm.input_size
        f("kernel", [fin, 4 * h], lambda v: self.lstm.weight_ih_l0.copy_(v.t()), lambda: self.lstm.weight_ih_l0.grad.t())
        f("recurrent_kernel", [h, 4 * h], lambda v: self.lstm.weight_hh_l0.copy_(v.t()),
          lambda: self.lstm.weight_hh_l0.grad.t())
        f("bias", [4 * h], lambda v: self.lstm.bias_ih_l0.copy_(v), lambda: self.lstm.bias_ih_l0.grad)
        self.lstm.bias_hh_l0.zero_()


class HardSigmoidBackwardLSTM(torch.nn.Module):
    """deepjet LSTM<H, backwards, hard_sigmoid_gates>: gates i, f, o are Keras 2's hard_sigmoid,
    clip(0.2 z + 0.5, 0, 1); g and the output tanh. Parameters in Keras's (and deepjet's) layout."""

    def __init__(self, features, units):
        super().__init__()
        self.units = units
        self.kernel = torch.nn.Parameter(torch.zeros(features, 4 * units))
        self.recurrent_kernel = torch.nn.Parameter(torch.zeros(units, 4 * units))
        self.bias = torch.nn.Parameter(torch.zeros(4 * units))

    def forward(self, x):
        n, steps, _ = x.shape
        h_units = self.units
        h = x.new_zeros(n, h_units)
        c = x.new_zeros(n, h_units)
        hard = lambda z: torch.clamp(0.2 * z + 0.5, 0.0, 1.0)
        for t in reversed(range(steps)):
            z = x[:, t] @ self.kernel + h @ self.recurrent_kernel + self.bias
            i, f, g, o = z.split(h_units, dim=1)
            c = hard(f) * c + hard(i) * torch.tanh(g)
            h = hard(o) * torch.tanh(c)
        return h

    def fill(self, f):
        f("kernel", list(self.kernel.shape), lambda v: self.kernel.copy_(v))
        f("recurrent_kernel", list(self.recurrent_kernel.shape), lambda v: self.recurrent_kernel.copy_(v))
        f("bias", list(self.bias.shape), lambda v: self.bias.copy_(v))


class Chain(torch.nn.Module):
    def __init__(self, *layers):
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def fill(self, f):
        for layer in self.layers:
            if hasattr(layer, "fill"):
                layer.fill(f)


class Residual(torch.nn.Module):
    def __init__(self, body, shortcut):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))

    def fill(self, f):
        self.body.fill(f)
        if self.shortcut is not None:
            self.shortcut.fill(f)


class Mean(torch.nn.Module):
    def forward(self, x):
        return x.mean(dim=1)


def deepjet_model(dropout, lstm=BackwardLSTM):
    """CMS's production DeepJet: the last convolution of each branch is ReLU only (no BatchNorm,
    no Dropout), 23 BatchNorms."""
    def conv_unit(n_in, n_out):
        return Chain(Dense(n_in, n_out, conv=True), torch.nn.ReLU(), BN(n_out), torch.nn.Dropout(dropout))

    def last_conv(n_in, n_out):
        return Chain(Dense(n_in, n_out, conv=True), torch.nn.ReLU())

    def dense_unit(n_in, n_out):
        return Chain(Dense(n_in, n_out), torch.nn.ReLU(), BN(n_out), torch.nn.Dropout(dropout))

    def recurrence(n_in, units):
        return Chain(lstm(n_in, units), BN(units), torch.nn.Dropout(dropout))

    branches = torch.nn.ModuleList([
        BN(15),
        Chain(BN(16), conv_unit(16, 64), conv_unit(64, 32), conv_unit(32, 32), last_conv(32, 8), recurrence(8, 150)),
        Chain(BN(6), conv_unit(6, 32), conv_unit(32, 16), last_conv(16, 4), recurrence(4, 50)),
        Chain(BN(12), conv_unit(12, 64), conv_unit(64, 32), conv_unit(32, 32), last_conv(32, 8), recurrence(8, 50)),
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

    def fill(self, f):
        for b in self.branches:
            b.fill(f)
        self.head.fill(f)


class DeepJetRun2(torch.nn.Module):
    """DeepJet's Run-2 variant (Keras's model_deepFlavourReference): hard_sigmoid LSTM gates; jet pT
    through its own BatchNorm; outputs the six probabilities and Dense 2 on (probabilities,
    normalised pT)."""

    def __init__(self, dropout):
        super().__init__()
        self.branches, self.head = deepjet_model(dropout, lstm=HardSigmoidBackwardLSTM)
        self.pt_bn = BN(1)
        self.regression = Dense(7, 2)

    def forward(self, inputs):
        features = torch.cat([b(x) for b, x in zip(self.branches, inputs[:4])], dim=1)
        pt = self.pt_bn(inputs[4])
        probabilities = self.head(features)
        return probabilities, self.regression(torch.cat([probabilities, pt], dim=1))

    def fill(self, f):  # deepjet's order: the five branches, the classifier, Dense 2
        for b in self.branches:
            b.fill(f)
        self.pt_bn.fill(f)
        self.head.fill(f)
        self.regression.fill(f)


def deepak8_model():
    """CMS's DeepAK8 (DeepBoostedJet V02), in deepjet's tensor order."""
    class FirstUnit(torch.nn.Module):
        # BatchNorm, ReLU, then body + 1x1 shortcut on that pre-activation (MXNet's dim_match=False).
        def __init__(self, n_in, n_out, stride):
            super().__init__()
            self.pre = Chain(BN(n_in), torch.nn.ReLU())
            self.residual = Residual(Chain(Conv(n_in, n_out, 3, stride), BN(n_out), torch.nn.ReLU(), Conv(n_out, n_out)),
                                     Conv(n_in, n_out, 1, stride))

        def forward(self, x):
            return self.residual(self.pre(x))

        def fill(self, f):
            self.pre.fill(f)
            self.residual.fill(f)

    def unit(n):
        return Residual(Chain(BN(n), torch.nn.ReLU(), Conv(n, n), BN(n), torch.nn.ReLU(), Conv(n, n)), None)

    branches = torch.nn.ModuleList([
        Chain(BN(42), Conv(42, 64), FirstUnit(64, 64, 1), unit(64), FirstUnit(64, 64, 2), unit(64),
              FirstUnit(64, 128, 2), unit(128), BN(128), torch.nn.ReLU(), Mean()),
        Chain(BN(15), Conv(15, 32), FirstUnit(32, 32, 1), unit(32), FirstUnit(32, 64, 2), unit(64),
              BN(64), torch.nn.ReLU(), Mean()),
    ])
    head = Chain(Dense(192, 512), torch.nn.ReLU(), torch.nn.Dropout(0.1), Dense(512, 17), torch.nn.Softmax(dim=1))
    return MultiInput(branches, head)


def deepcsv_model():
    """CMS's DeepCSV: 66 inputs, five hidden Dense 100 (ReLU, dropout 0.1), softmax over 4 classes."""
    layers = []
    n_in = 66
    for _ in range(5):
        layers += [Dense(n_in, 100), torch.nn.ReLU(), torch.nn.Dropout(0.1)]
        n_in = 100
    return Chain(*layers, Dense(100, 4), torch.nn.Softmax(dim=1))


def counts(model):
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    buffers = sum(b.numel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked"))
    return torch.tensor([float(trainable), float(buffers)])


def keras_cce(p, t):
    return (-(t * torch.log(torch.clamp(p, min=1e-7))).sum(dim=1)).mean()


torch.manual_seed(5)
# ---- DeepJet ------------------------------------------------------------------------------------
deepjet = MultiInput(*deepjet_model(0.1))
put("deepjet.counts", counts(deepjet))
deepjet.fill(Filler())
deepjet.eval()
shapes = [(15,), (25, 16), (25, 6), (4, 12)]
x = [torch.randn(4, *s) for s in shapes]
for i, xi in enumerate(x):
    put("deepjet.x%d" % i, xi)
put("deepjet.y", deepjet(x))

# A few Adam steps without dropout, BatchNorm in training mode, at learning rate 1e-6: at DeepJet's
# 1e-4 this five-step curve on random data is chaotic (PyTorch itself in float32 and float64 parts
# by 1.5 % at the fourth step; inputs changed by 1e-6 relative, likewise), so no two
# implementations could be held to it. At 1e-6 the loss still falls by about 2 % a step, and
# float64 or inputs perturbed by +-1e-6 stay within 7e-5 of the float32 curve (measured, training
# input seeds 1 to 8).
train_net = MultiInput(*deepjet_model(0.0))
train_filler = Filler()
train_net.fill(train_filler)
train_net.train()
xt_ = [torch.randn(8, *s) for s in shapes]
target = torch.nn.functional.one_hot(torch.arange(8) % 6, 6).float()
for i, xi in enumerate(xt_):
    put("deepjet_train.x%d" % i, xi)
put("deepjet_train.t", target)
opt = torch.optim.Adam([p for p in train_net.parameters() if p.requires_grad], lr=1e-6)
losses = []
for _ in range(5):
    opt.zero_grad()
    loss = keras_cce(train_net(xt_), target)
    loss.backward()
    if not losses:  # the first step's gradients, tensor by tensor in deepjet's order, summarised
        for t, (name, extract) in enumerate(train_filler.extractors):
            if extract is not None:
                g = extract().reshape(-1).double()
                pattern = torch.sin(0.1 * torch.arange(g.numel(), dtype=torch.float64) + 0.3)
                summary = [float((g * pattern).sum()), float(g.abs().sum()), float(g.abs().max())]
                put("deepjet_train.grad%d" % t, torch.tensor(summary + g[:16].tolist()))
    opt.step()
    losses.append(loss.item())
put("deepjet_train.losses", torch.tensor(losses))

# ---- DeepAK8 ----------------------------------------------------------------------------------------
deepak8 = deepak8_model()
put("deepak8.counts", counts(deepak8))
deepak8.fill(Filler())
deepak8.eval()
x = [torch.randn(2, 100, 42), torch.randn(2, 7, 15)]
put("deepak8.x0", x[0]); put("deepak8.x1", x[1])
put("deepak8.y", deepak8(x))

# ---- DeepCSV ------------------------------------------------------------------------------------------
deepcsv = deepcsv_model()
put("deepcsv.counts", counts(deepcsv))
deepcsv.fill(Filler())
deepcsv.eval()
x = torch.randn(4, 66)
put("deepcsv.x", x)
put("deepcsv.y", deepcsv(x))

# ---- DeepJet, Run-2 variant (its own seed: the fixtures above stay as they were) -----------------------
torch.manual_seed(6)
run2 = DeepJetRun2(0.1)
put("deepjet_run2.counts", counts(run2))
run2.fill(Filler())
run2.eval()
x = [torch.randn(4, *s) for s in shapes + [(1,)]]  # the fifth, jet pT, as if already of order one
for i, xi in enumerate(x):
    put("deepjet_run2.x%d" % i, xi)
probabilities, regression = run2(x)
put("deepjet_run2.y0", probabilities)
put("deepjet_run2.y1", regression)

with open(sys.argv[1], "w") as f:
    f.write("# Written by scripts/make_torch_fixtures_reference.py with PyTorch %s; do not edit.\n" % torch.__version__)
    f.write("\n".join(out) + "\n")
