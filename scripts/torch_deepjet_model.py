"""The DeepJet model in PyTorch, as deepjet builds it (include/deepjet/zoo/deepjet.hpp),
with deepjet's initialisation (Glorot-uniform kernels, orthogonal recurrent kernels, unit forget
bias, zero biases). Shared by scripts/torch_deepjet_train.py (same physics as deepjet) and
benchmarks/suite/torch_benchmarks.py (speed). scripts/make_torch_fixtures_reference.py keeps its
own copy of these classes: it adds deterministic weight filling and writes fixtures when run.

Import it after setting any environment variable torch reads at start-up (OMP_WAIT_POLICY, ...).
"""
import torch


class BN(torch.nn.Module):
    """BatchNorm over the last dimension of (N, F) or (N, L, F), like deepjet's BatchNorm<>."""

    def __init__(self, features):
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(features, momentum=0.1, eps=1e-3)

    def forward(self, x):
        return self.bn(x) if x.dim() == 2 else self.bn(x.transpose(1, 2)).transpose(1, 2)


class Dense(torch.nn.Module):
    """deepjet Dense, or a 1x1 Conv1D on (N, L, F): a Linear over the last dimension."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.linear = torch.nn.Linear(n_in, n_out)
        torch.nn.init.xavier_uniform_(self.linear.weight)  # Glorot uniform: sqrt(6 / (in + out))
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, x):
        return self.linear(x)


class Conv3(torch.nn.Module):
    """deepjet Conv1D<F, 3, 1, same> on (N, L, C) (PyTorch's default initialisation)."""

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
        with torch.no_grad():
            torch.nn.init.xavier_uniform_(self.lstm.weight_ih_l0)  # Glorot with fan_out 4H, as Keras
            torch.nn.init.orthogonal_(self.lstm.weight_hh_l0)
            self.lstm.bias_ih_l0.zero_()
            self.lstm.bias_ih_l0[units:2 * units] = 1.0  # unit forget bias (gates i, f, g, o)
            self.lstm.bias_hh_l0.zero_()
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
    """(branches, head) of DeepJet: global, charged, neutral and vertex branches, then the head.
    CMS's production graph: the last convolution of each branch is ReLU only (no BatchNorm, no
    Dropout); 23 BatchNorms."""
    def conv_unit(n_in, n_out):
        return Chain(Dense(n_in, n_out), torch.nn.ReLU(), BN(n_out), torch.nn.Dropout(dropout))

    def last_conv(n_in, n_out):
        return Chain(Dense(n_in, n_out), torch.nn.ReLU())

    def dense_unit(n_in, n_out):
        return Chain(Dense(n_in, n_out), torch.nn.ReLU(), BN(n_out), torch.nn.Dropout(dropout))

    def recurrence(n_in, units):
        return Chain(BackwardLSTM(n_in, units), BN(units), torch.nn.Dropout(dropout))

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

    def input_batchnorms(self):
        """The BatchNorms deepjet's recipe freezes: layer paths 0.0, 0.1.0, 0.2.0, 0.3.0."""
        return [self.branches[0]] + [self.branches[i].layers[0] for i in (1, 2, 3)]


def keras_cce(p, t):
    """Keras's categorical cross-entropy, batch mean, probabilities clamped at 1e-7."""
    return (-(t * torch.log(torch.clamp(p, min=1e-7))).sum(dim=1)).mean()
