"""Layers, activations and losses shaped like ``torch.nn``'s.

Each ``forward`` is one call into :mod:`tapegrad.nn.functional`, which is
the core's ops: no layer carries a derivative rule of its own.

>>> import numpy as np
>>> from tapegrad import nn
>>> model = nn.Sequential(nn.Linear(5, 25, rng=0), nn.Linear(25, 2, rng=1))
>>> loss = nn.CrossEntropyLoss()(model(np.ones((4, 5))), np.array([0, 1, 1, 0]))
>>> loss.backward()
>>> model[0].weight.grad.shape
(25, 5)
"""

import math

import numpy as np

from tapegrad.nn import functional as F
from tapegrad.nn.module import Module, Parameter

__all__ = ["Linear", "Sequential", "ReLU", "Tanh", "Sigmoid", "CrossEntropyLoss", "MSELoss"]


class Linear(Module):
    """``y = x @ weight.T + bias``, with PyTorch's layout (``weight`` is
    ``(out_features, in_features)``) and PyTorch's default initialisation:
    ``kaiming_uniform_(a=sqrt(5))`` for the weight, which is
    U(-1/sqrt(in_features), 1/sqrt(in_features)), and the same bound for
    the bias.  ``rng`` is a seed or a ``numpy.random.Generator`` (None: a
    fresh one); ``dtype`` is the parameters' dtype.

    >>> import numpy as np
    >>> from tapegrad import nn
    >>> layer = nn.Linear(4, 3, rng=0)
    >>> layer
    Linear(in_features=4, out_features=3, bias=True)
    >>> bool(np.abs(layer.weight.value).max() <= 0.5)   # 1 / sqrt(4)
    True
    >>> layer(np.ones((2, 4))).shape
    (2, 3)
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float64, rng=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        rng = np.random.default_rng(rng)
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        weight = rng.uniform(-bound, bound, (self.out_features, self.in_features))
        self.weight = Parameter(weight.astype(dtype))
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, self.out_features).astype(dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Sequential(Module):
    """Modules applied in order.  ``Sequential(a, b, c)`` names them
    ``"0"``, ``"1"``, ``"2"``; a single dict argument names them by its keys.
    Indexable (an int gives a module, a slice a ``Sequential``), iterable,
    with ``len`` and ``append``.

    >>> from tapegrad import nn
    >>> seq = nn.Sequential(nn.Linear(2, 2, rng=0), nn.Tanh())
    >>> len(seq), seq[-1], [type(m).__name__ for m in seq]
    (2, Tanh(), ['Linear', 'Tanh'])
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            items = modules[0].items()
        else:
            items = ((str(i), module) for i, module in enumerate(modules))
        for name, module in items:
            self.add_module(name, module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(dict(items[index]))
        try:
            return items[index][1]
        except IndexError:
            raise IndexError(f"index {index} is out of range for a Sequential of "
                             f"{len(items)}") from None

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self


class ReLU(Module):
    """``max(x, 0)`` elementwise (derivative 0 at 0, as PyTorch's)."""

    def forward(self, x):
        return F.relu(x)


class Tanh(Module):
    """``tanh(x)`` elementwise."""

    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise."""

    def forward(self, x):
        return F.sigmoid(x)


class CrossEntropyLoss(Module):
    """Cross entropy of logits ``(rows, classes)`` against integer class
    labels: see :func:`tapegrad.nn.functional.cross_entropy`.

    >>> import numpy as np, tapegrad as tg
    >>> from tapegrad import nn
    >>> logits = tg.tensor([[2.0, 0.0], [0.0, 2.0]], requires_grad=True)
    >>> round(nn.CrossEntropyLoss()(logits, np.array([0, 1])).item(), 6)
    0.126928
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = F._check_reduction(reduction)

    def forward(self, input, target):
        return F.cross_entropy(input, target, reduction=self.reduction)


class MSELoss(Module):
    """Mean (or summed) squared error: see
    :func:`tapegrad.nn.functional.mse_loss`."""

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = F._check_reduction(reduction)

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)
