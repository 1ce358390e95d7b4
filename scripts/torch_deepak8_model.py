"""CMS's DeepAK8 in PyTorch, as deepjet builds it (include/deepjet/zoo/deepak8.hpp), with deepjet's
initialisation, for scripts/torch_boosted_train.py (same physics as deepjet).

The layers are those of scripts/make_torch_fixtures_reference.py's deepak8_model (whose forward
pass tests/test_reference_models.cpp checks against deepjet); that copy keeps deepjet's (N, L, C)
tensor order for filling fixtures, this one works in PyTorch's own (N, C, L) order inside each
branch (one transpose per input, none per convolution), which is the same arithmetic done the way
a PyTorch user would write it, so that the speed comparison is fair to PyTorch.

  - every convolution: no bias, padding k // 2 on each side (MXNet's symmetric padding, deepjet's
    `symmetric`), Glorot-uniform weight with fan_in = k * C_in, fan_out = k * C_out (deepjet's and
    torch.nn.init.xavier_uniform_'s for a Conv1d);
  - Dense: Glorot-uniform weight, zero bias; BatchNorm: momentum 0.1 (Keras 0.99), epsilon 1e-3,
    gamma 1, beta 0; global average pooling over all 100 (7) rows, padding included, as deepjet's;
  - Dense 512, ReLU, Dropout 0.1, Dense 17, softmax.

Import it after setting any environment variable torch reads at start-up (OMP_WAIT_POLICY, ...).
"""
import torch


def _bn(channels):
    return torch.nn.BatchNorm1d(channels, momentum=0.1, eps=1e-3)


def _conv(n_in, n_out, kernel=3, stride=1):
    conv = torch.nn.Conv1d(n_in, n_out, kernel, stride=stride, padding=kernel // 2, bias=False)
    torch.nn.init.xavier_uniform_(conv.weight)
    return conv


class FirstUnit(torch.nn.Module):
    """BatchNorm, ReLU, then body + 1x1 shortcut, both on that pre-activation (dim_match=False)."""

    def __init__(self, n_in, n_out, stride):
        super().__init__()
        self.pre = torch.nn.Sequential(_bn(n_in), torch.nn.ReLU())
        self.body = torch.nn.Sequential(_conv(n_in, n_out, 3, stride), _bn(n_out), torch.nn.ReLU(), _conv(n_out, n_out))
        self.shortcut = _conv(n_in, n_out, 1, stride)

    def forward(self, x):
        x = self.pre(x)
        return self.body(x) + self.shortcut(x)


class Unit(torch.nn.Module):
    """x + (BatchNorm, ReLU, Conv, BatchNorm, ReLU, Conv)(x)."""

    def __init__(self, n):
        super().__init__()
        self.body = torch.nn.Sequential(_bn(n), torch.nn.ReLU(), _conv(n, n), _bn(n), torch.nn.ReLU(), _conv(n, n))

    def forward(self, x):
        return x + self.body(x)


class Branch(torch.nn.Module):
    """(N, L, C) in deepjet's order -> (N, C, L) once -> the particle CNN -> (N, channels)."""

    def __init__(self, *layers):
        super().__init__()
        self.layers = torch.nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x.transpose(1, 2)).mean(dim=2)


class DeepAK8(torch.nn.Module):
    def __init__(self, dropout=0.1):
        super().__init__()
        self.pfcand = Branch(_bn(42), _conv(42, 64), FirstUnit(64, 64, 1), Unit(64), FirstUnit(64, 64, 2), Unit(64),
                             FirstUnit(64, 128, 2), Unit(128), _bn(128), torch.nn.ReLU())
        self.sv = Branch(_bn(15), _conv(15, 32), FirstUnit(32, 32, 1), Unit(32), FirstUnit(32, 64, 2), Unit(64),
                         _bn(64), torch.nn.ReLU())
        dense1, dense2 = torch.nn.Linear(192, 512), torch.nn.Linear(512, 17)
        for d in (dense1, dense2):
            torch.nn.init.xavier_uniform_(d.weight)
            torch.nn.init.zeros_(d.bias)
        self.head = torch.nn.Sequential(dense1, torch.nn.ReLU(), torch.nn.Dropout(dropout), dense2, torch.nn.Softmax(dim=1))

    def forward(self, inputs):
        pfcand, sv = inputs
        return self.head(torch.cat([self.pfcand(pfcand), self.sv(sv)], dim=1))


def parameter_count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
