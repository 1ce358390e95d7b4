#!/usr/bin/env python3
"""Write the PyTorch reference values for the jet layers (Conv1D, BatchNorm, Flatten,
GlobalAveragePooling), and for a small particle CNN built from them, that
tests/test_jet_layers.cpp compares against.

Run with Debian's PyTorch (apt-get install python3-torch):
    /usr/bin/python3 scripts/make_torch_fixtures_jet_layers.py tests/fixtures/jet_layers.txt

Output format, one tensor per line:  name rank d0 .. d{rank-1} v0 v1 ...  (values as %.9g), as
scripts/make_torch_fixtures.py. Everything is written in deepjet's layouts:
  - lists are channels-last (N, Length, Channels): PyTorch's (N, C, L) tensors are permuted;
  - a Conv1D weight is (KernelSize, Channels, Filters): nn.Conv1d.weight.permute(2, 1, 0).
Dropout is not here: PyTorch's random stream differs from deepjet's, so its masks cannot agree;
its semantics (inverted scaling, identity at inference) are tested directly.
"""
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(20261122)
torch.set_default_dtype(torch.float32)
out = []


def put(name, tensor):
    t = tensor.detach().contiguous()
    values = " ".join("%.9g" % v for v in t.reshape(-1).tolist())
    out.append("%s %d %s %s" % (name, t.dim(), " ".join(str(d) for d in t.shape), values))


def channels_last(t):
    """(N, C, L) -> deepjet's (N, L, C)."""
    return t.permute(0, 2, 1)


# ---- Conv1D ---------------------------------------------------------------------------------
def same_padding(length, kernel, stride):
    """Keras/TensorFlow 'same': (before, after), the larger half after."""
    out_length = (length + stride - 1) // stride
    total = max((out_length - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


def conv_case(name, batch, length, channels, filters, kernel, stride, padding, bias=True):
    conv = torch.nn.Conv1d(channels, filters, kernel, stride=stride, bias=bias)
    x = torch.randn(batch, channels, length, requires_grad=True)
    if padding == "same" and stride == 1:
        # PyTorch's own 'same' (stride 1 only) checks our split of the padding.
        y = F.conv1d(x, conv.weight, conv.bias, stride=1, padding="same")
    elif padding == "same":
        before, after = same_padding(length, kernel, stride)
        y = conv(F.pad(x, (before, after)))
    elif padding == "symmetric":
        # PyTorch's own padding=k//2 (MXNet's pad, CMS's DeepAK8): k//2 zeros on each side.
        y = F.conv1d(x, conv.weight, conv.bias, stride=stride, padding=kernel // 2)
    else:
        y = conv(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    put(name + ".x", channels_last(x))
    put(name + ".weight", conv.weight.permute(2, 1, 0))
    if bias:
        put(name + ".bias", conv.bias)
        put(name + ".dbias", conv.bias.grad)
    put(name + ".y", channels_last(y))
    put(name + ".dy", channels_last(dy))
    put(name + ".dweight", conv.weight.grad.permute(2, 1, 0))
    put(name + ".dx", channels_last(x.grad))


conv_case("conv_k1", batch=3, length=5, channels=4, filters=6, kernel=1, stride=1, padding="valid")
conv_case("conv_k3_valid", batch=2, length=7, channels=3, filters=5, kernel=3, stride=1, padding="valid")
conv_case("conv_k3_same", batch=2, length=6, channels=3, filters=4, kernel=3, stride=1, padding="same")
conv_case("conv_k4_same", batch=2, length=6, channels=3, filters=4, kernel=4, stride=1, padding="same")
conv_case("conv_k3_s2_valid", batch=2, length=9, channels=3, filters=4, kernel=3, stride=2, padding="valid")
conv_case("conv_k4_s2_same", batch=2, length=7, channels=3, filters=4, kernel=4, stride=2, padding="same")
conv_case("conv_k1_s2_nobias", batch=2, length=5, channels=3, filters=4, kernel=1, stride=2, padding="valid",
          bias=False)


# ---- BatchNorm ------------------------------------------------------------------------------
def batch_norm_case(name, batch, channels, length, momentum, eps):
    """length None: a flat (N, C) input; otherwise a list, PyTorch (N, C, L), deepjet (N, L, C)."""
    bn = torch.nn.BatchNorm1d(channels, momentum=momentum, eps=eps)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(channels) + 0.5)
        bn.bias.copy_(torch.randn(channels))
        bn.running_mean.copy_(torch.randn(channels))
        bn.running_var.copy_(torch.rand(channels) + 0.5)
    layout = (lambda t: t) if length is None else channels_last
    shape = (batch, channels) if length is None else (batch, channels, length)
    put(name + ".gamma", bn.weight)
    put(name + ".beta", bn.bias)
    put(name + ".running_mean", bn.running_mean)
    put(name + ".running_var", bn.running_var)

    # Training: batch statistics, running statistics updated once.
    bn.train()
    x = (2.0 * torch.randn(*shape) + 1.0).requires_grad_(True)
    y = bn(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    put(name + ".x", layout(x))
    put(name + ".y", layout(y))
    put(name + ".dy", layout(dy))
    put(name + ".dx", layout(x.grad))
    put(name + ".dgamma", bn.weight.grad)
    put(name + ".dbeta", bn.bias.grad)
    put(name + ".running_mean_after", bn.running_mean)
    put(name + ".running_var_after", bn.running_var)

    # Inference (and a frozen layer): the updated running statistics, gradients of that affine map.
    bn.eval()
    bn.weight.grad = None
    bn.bias.grad = None
    x = (2.0 * torch.randn(*shape) + 1.0).requires_grad_(True)
    y = bn(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    put(name + ".eval_x", layout(x))
    put(name + ".eval_y", layout(y))
    put(name + ".eval_dy", layout(dy))
    put(name + ".eval_dx", layout(x.grad))
    put(name + ".eval_dgamma", bn.weight.grad)
    put(name + ".eval_dbeta", bn.bias.grad)


batch_norm_case("bn_flat", batch=6, channels=7, length=None, momentum=0.1, eps=1e-3)
batch_norm_case("bn_list", batch=3, channels=5, length=4, momentum=0.3, eps=1e-5)


# ---- Flatten and GlobalAveragePooling on (N, P, F) ---------------------------------------------
for name, f in {"flatten": torch.nn.Flatten(), "gap": lambda t: t.mean(dim=1)}.items():
    x = torch.randn(3, 4, 5, requires_grad=True)
    y = f(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    put(name + ".x", x)
    put(name + ".y", y)
    put(name + ".dy", dy)
    put(name + ".dx", x.grad)


# ---- a small particle CNN: stem, one pre-activation residual unit, pooling, dense head ----------
# deepjet: Sequential<Input<10, 4>, Conv1D<6, 3, 1, same>,
#                     Residual<Stack<BatchNorm<0.1f, 1e-5f>, ReLU, Conv1D<8, 3, 1, same, false>,
#                                    BatchNorm<0.1f, 1e-5f>, ReLU, Conv1D<8, 3, 1, same>>, Conv1D<8>>,
#                     GlobalAveragePooling, Dense<5>, Softmax>
class ParticleCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv1d(4, 6, 3, padding="same")
        self.bn1 = torch.nn.BatchNorm1d(6)
        self.conv1 = torch.nn.Conv1d(6, 8, 3, padding="same", bias=False)  # a BatchNorm follows
        self.bn2 = torch.nn.BatchNorm1d(8)
        self.conv2 = torch.nn.Conv1d(8, 8, 3, padding="same")
        self.shortcut = torch.nn.Conv1d(6, 8, 1)
        self.dense = torch.nn.Linear(8, 5)
        with torch.no_grad():
            for bn in (self.bn1, self.bn2):
                bn.weight.copy_(torch.rand(bn.num_features) + 0.5)
                bn.bias.copy_(0.3 * torch.randn(bn.num_features))
                bn.running_mean.copy_(0.3 * torch.randn(bn.num_features))
                bn.running_var.copy_(torch.rand(bn.num_features) + 0.5)

    def forward(self, x):  # x: deepjet's (N, L, C)
        h = self.stem(x.permute(0, 2, 1))
        block = self.conv2(torch.relu(self.bn2(self.conv1(torch.relu(self.bn1(h))))))
        h = block + self.shortcut(h)
        return torch.softmax(self.dense(h.mean(dim=2)), dim=1)

    def deepjet_tensors(self, grads=False):
        """Parameters (or their gradients; zeros for buffers) in deepjet's flat order."""
        def conv(c):
            weight = [c.weight.grad.permute(2, 1, 0) if grads else c.weight.permute(2, 1, 0)]
            if c.bias is None:
                return weight
            return weight + [c.bias.grad if grads else c.bias]

        def bn(b):
            if grads:
                return [b.weight.grad, b.bias.grad, torch.zeros_like(b.running_mean), torch.zeros_like(b.running_var)]
            return [b.weight, b.bias, b.running_mean, b.running_var]
        dense = [self.dense.weight.grad.t(), self.dense.bias.grad] if grads else [self.dense.weight.t(), self.dense.bias]
        tensors = conv(self.stem) + bn(self.bn1) + conv(self.conv1) + bn(self.bn2) + conv(self.conv2) + \
            conv(self.shortcut) + dense
        return torch.cat([t.detach().contiguous().reshape(-1) for t in tensors])


def make_cnn():
    torch.manual_seed(11)
    return ParticleCnn()


cnn = make_cnn()
x = torch.randn(4, 10, 4)
put("pcnn.params", cnn.deepjet_tensors())
put("pcnn.x", x)
y = cnn(x)  # training mode: batch statistics
dy = torch.randn_like(y)
y.backward(dy)
put("pcnn.y", y)
put("pcnn.dy", dy)
put("pcnn.grads", cnn.deepjet_tensors(grads=True))
put("pcnn.params_after", cnn.deepjet_tensors())  # running statistics updated once
cnn.eval()
x2 = torch.randn(3, 10, 4)
put("pcnn.eval_x", x2)
put("pcnn.eval_y", cnn(x2))

# Five Adam steps (lr 0.01) on categorical cross-entropy, training mode throughout.
cnn = make_cnn()
t = torch.nn.functional.one_hot(torch.randint(0, 5, (4,)), 5).float()
opt = torch.optim.Adam(cnn.parameters(), lr=0.01)
losses = []
for _ in range(5):
    opt.zero_grad()
    loss = (-(t * torch.log(torch.clamp(cnn(x), min=1e-7))).sum(dim=1)).mean()
    loss.backward()
    opt.step()
    losses.append(loss.item())
put("pcnn.t", t)
put("pcnn.adam_losses", torch.tensor(losses))
put("pcnn.adam_params", cnn.deepjet_tensors())

# ---- Conv1D with symmetric padding (k//2 on each side), stride 1 and 2 --------------------------
# Its own seed, after everything above, so that adding these cases left the other fixtures as they were.
torch.manual_seed(20261202)
conv_case("conv_k3_s1_symmetric", batch=2, length=6, channels=3, filters=4, kernel=3, stride=1, padding="symmetric")
# Even length: 'same' would pad 0 before and 1 after; symmetric pads 1 and 1 (the last one unread).
conv_case("conv_k3_s2_symmetric", batch=2, length=10, channels=3, filters=4, kernel=3, stride=2, padding="symmetric")
# Odd length, DeepAK8's secondary vertices 7 -> 4, without bias as in DeepAK8.
conv_case("conv_k3_s2_symmetric_nobias", batch=3, length=7, channels=5, filters=4, kernel=3, stride=2,
          padding="symmetric", bias=False)
conv_case("conv_k5_s2_symmetric", batch=2, length=9, channels=3, filters=4, kernel=5, stride=2, padding="symmetric")

with open(sys.argv[1], "w") as f:
    f.write("# Written by scripts/make_torch_fixtures_jet_layers.py with PyTorch %s; do not edit.\n"
            % torch.__version__)
    f.write("\n".join(out) + "\n")
