#!/usr/bin/env python3
"""Write the PyTorch reference values the foundation tests compare against.

Run with Debian's PyTorch (apt-get install python3-torch):
    /usr/bin/python3 scripts/make_torch_fixtures.py tests/fixtures/foundation.txt

Output format, one tensor per line:  name rank d0 .. d{rank-1} v0 v1 ...  (values as %.9g).
Weights are written in deepjet's layout: a Dense weight is (in, out), the transpose of
torch.nn.Linear.weight. The tests need no Python; this script only regenerates the file.
"""
import sys

import torch

torch.manual_seed(20261122)
torch.set_default_dtype(torch.float32)
out = []


def put(name, tensor):
    t = tensor.detach().contiguous()
    values = " ".join("%.9g" % v for v in t.reshape(-1).tolist())
    out.append("%s %d %s %s" % (name, t.dim(), " ".join(str(d) for d in t.shape), values))


def keras_cce(p, t, w):
    """deepjet's CategoricalCrossEntropy: mean over samples of -w * sum(t * log(max(p, 1e-7)))."""
    return (-(t * torch.log(torch.clamp(p, min=1e-7))).sum(dim=1) * w).mean()


# ---- Dense 7 -> 4 ------------------------------------------------------------------------
dense = torch.nn.Linear(7, 4)
x = torch.randn(5, 7, requires_grad=True)
y = dense(x)
dy = torch.randn(5, 4)
y.backward(dy)
put("dense.weight", dense.weight.t())
put("dense.bias", dense.bias)
put("dense.x", x)
put("dense.y", y)
put("dense.dy", dy)
put("dense.dweight", dense.weight.grad.t())
put("dense.dbias", dense.bias.grad)
put("dense.dx", x.grad)

# ---- activations on (6, 10) -----------------------------------------------------------------
activations = {
    "relu": torch.relu,
    "elu": torch.nn.functional.elu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softmax": lambda v: torch.softmax(v, dim=1),
}
for name, f in activations.items():
    x = (3.0 * torch.randn(6, 10)).requires_grad_(True)
    y = f(x)
    dy = torch.randn(6, 10)
    y.backward(dy)
    put(name + ".x", x)
    put(name + ".y", y)
    put(name + ".dy", dy)
    put(name + ".dx", x.grad)

# ---- losses on (8, 5) -------------------------------------------------------------------------
p = torch.softmax(torch.randn(8, 5), dim=1).requires_grad_(True)
t = torch.softmax(2.0 * torch.randn(8, 5), dim=1)  # soft labels: truth need not be one-hot
w = torch.rand(8) + 0.5
loss = keras_cce(p, t, w)
loss.backward()
put("cce.p", p); put("cce.t", t); put("cce.w", w); put("cce.loss", loss.reshape(1)); put("cce.dp", p.grad)

p = torch.sigmoid(torch.randn(8, 5)).requires_grad_(True)
t = (torch.rand(8, 5) > 0.5).float()
bce = (torch.nn.functional.binary_cross_entropy(p, t, reduction="none").mean(dim=1) * w).mean()
bce.backward()
put("bce.p", p); put("bce.t", t); put("bce.w", w); put("bce.loss", bce.reshape(1)); put("bce.dp", p.grad)

p = torch.randn(8, 5, requires_grad=True)
t = torch.randn(8, 5)
mse = (((p - t) ** 2).mean(dim=1) * w).mean()
mse.backward()
put("mse.p", p); put("mse.t", t); put("mse.w", w); put("mse.loss", mse.reshape(1)); put("mse.dp", p.grad)

# ---- a small network: forward, gradients, Adam and SGD steps ------------------------------------
def make_mlp():
    torch.manual_seed(7)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 5), torch.nn.ELU(),
        torch.nn.Linear(5, 3), torch.nn.Softmax(dim=1))


linear_indices = [0, 2, 4]  # deepjet layer paths of the Dense layers: same positions
mlp = make_mlp()
x = torch.randn(10, 6)
t = torch.nn.functional.one_hot(torch.randint(0, 3, (10,)), 3).float()
t[0] = torch.tensor([0.2, 0.3, 0.5])  # one soft label
w = torch.rand(10) + 0.5
put("mlp.x", x); put("mlp.t", t); put("mlp.w", w)
for i in linear_indices:
    put("mlp.%d.weight" % i, mlp[i].weight.t())
    put("mlp.%d.bias" % i, mlp[i].bias)
p = mlp(x)
loss = keras_cce(p, t, w)
loss.backward()
put("mlp.y", p)
put("mlp.loss", loss.reshape(1))
for i in linear_indices:
    put("mlp.%d.dweight" % i, mlp[i].weight.grad.t())
    put("mlp.%d.dbias" % i, mlp[i].bias.grad)


def train(optimiser_factory, steps):
    net = make_mlp()
    opt = optimiser_factory(net.parameters())
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        value = keras_cce(net(x), t, w)
        value.backward()
        opt.step()
        losses.append(value.item())
    return net, losses


for name, factory in {
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.01),
    "adam_l2": lambda ps: torch.optim.Adam(ps, lr=0.005, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01),
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    "nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.001),
}.items():
    for steps in (1, 5):
        net, losses = train(factory, steps)
        put("%s%d.losses" % (name, steps), torch.tensor(losses))
        for i in linear_indices:
            put("%s%d.%d.weight" % (name, steps, i), net[i].weight.t())
            put("%s%d.%d.bias" % (name, steps, i), net[i].bias)

# ---- two inputs, two heads: branches, concatenation, a residual block, weighted losses ----------
# global block (3) -> Dense 4 -> tanh;  second block (8) unchanged;  concatenated (12) -> Dense 5
# -> tanh -> residual (Dense 5 plus the identity) -> two heads: Dense 3 + softmax (classes) and
# Dense 1 (regression); loss = cross-entropy + 0.5 * mean squared error, per-sample weights.
torch.manual_seed(11)
g_dense = torch.nn.Linear(3, 4)
trunk = torch.nn.Linear(12, 5)
res = torch.nn.Linear(5, 5)
cls = torch.nn.Linear(5, 3)
reg = torch.nn.Linear(5, 1)
xg = torch.randn(6, 3)
xl = torch.randn(6, 8)
t_cls = torch.nn.functional.one_hot(torch.randint(0, 3, (6,)), 3).float()
t_reg = torch.randn(6, 1)
w = torch.rand(6) + 0.5
for name, m in {"g": g_dense, "trunk": trunk, "res": res, "cls": cls, "reg": reg}.items():
    put("two.%s.weight" % name, m.weight.t())
    put("two.%s.bias" % name, m.bias)
put("two.xg", xg); put("two.xl", xl); put("two.t_cls", t_cls); put("two.t_reg", t_reg); put("two.w", w)
h = torch.cat([torch.tanh(g_dense(xg)), xl], dim=1)
h = torch.tanh(trunk(h))
h = res(h) + h
p_cls = torch.softmax(cls(h), dim=1)
p_reg = reg(h)
loss = keras_cce(p_cls, t_cls, w) + 0.5 * (((p_reg - t_reg) ** 2).mean(dim=1) * w).mean()
loss.backward()
put("two.p_cls", p_cls); put("two.p_reg", p_reg); put("two.loss", loss.reshape(1))
for name, m in {"g": g_dense, "trunk": trunk, "res": res, "cls": cls, "reg": reg}.items():
    put("two.%s.dweight" % name, m.weight.grad.t())
    put("two.%s.dbias" % name, m.bias.grad)

with open(sys.argv[1], "w") as f:
    f.write("# Written by scripts/make_torch_fixtures.py with PyTorch %s; do not edit.\n" % torch.__version__)
    f.write("\n".join(out) + "\n")
