"""PyTorch's ``torch.nn.functional`` names, over tapegrad's core ops.

Every function here is a re-export or a composition of the ops of
:mod:`tapegrad.array.routines`; none declares a derivative.  Arguments are spelled
as PyTorch spells them (``input``, ``target``, ``dim``, ``reduction``), so
code written against ``torch.nn.functional`` ports by its import.

>>> import numpy as np, tapegrad as tg
>>> import tapegrad.nn.functional as F
>>> x = tg.tensor([[1.0, -2.0, 0.5]], requires_grad=True)
>>> np.round(F.softmax(x, dim=1).value, 4)
array([[0.6037, 0.0301, 0.3662]])
>>> F.mse_loss(F.relu(x), np.zeros((1, 3))).backward(); x.grad
array([[0.66666667, 0.        , 0.33333333]])
"""

import numpy as np

from tapegrad.array import cross_entropy as _cross_entropy
from tapegrad.array import linear as _linear
from tapegrad.array import log_softmax as _log_softmax
from tapegrad.array import softmax as _softmax
from tapegrad.functions import relu, sigmoid, tanh  # tapegrad's own: Tensors, Values, numbers

__all__ = ["linear", "relu", "tanh", "sigmoid", "softmax", "log_softmax", "cross_entropy",
           "mse_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, not {reduction!r}")
    return reduction


def _reduce(losses, reduction):
    _check_reduction(reduction)
    if reduction == "mean":
        return losses.mean()
    return losses.sum() if reduction == "sum" else losses


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``, ``weight`` of shape ``(out, in)``.

    >>> import numpy as np, tapegrad as tg
    >>> w = tg.tensor([[1.0, 2.0], [0.0, 1.0], [1.0, 0.0]])
    >>> linear(np.array([[1.0, 1.0]]), w, np.array([0.0, 0.5, 1.0])).value
    array([[3. , 1.5, 2. ]])
    """
    return _linear(input, weight, bias)


def softmax(input, dim=-1):
    """``exp(x) / sum(exp(x))`` along ``dim`` (NumPy's ``axis``), stably."""
    return _softmax(input, axis=dim)


def log_softmax(input, dim=-1):
    """``x - logsumexp(x)`` along ``dim`` (NumPy's ``axis``), stably."""
    return _log_softmax(input, axis=dim)


def _labels(target, n_rows, n_classes):
    labels = np.asarray(getattr(target, "value", target))
    if labels.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy target must be integer class labels, got dtype "
                        f"{labels.dtype}")
    if labels.shape != (n_rows,):
        raise ValueError(f"cross_entropy takes one label per row: {n_rows} rows, labels of "
                         f"shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"cross_entropy label out of range [0, {n_classes}): "
                         f"{labels.min()}..{labels.max()}")
    return labels


def cross_entropy(input, target, reduction="mean"):
    """``-log softmax(input)[row, target[row]]`` for logits ``(rows,
    classes)`` and integer labels, averaged over rows (``"mean"``, one fused
    record), summed (``"sum"``) or one per row (``"none"``).

    >>> import numpy as np, tapegrad as tg
    >>> logits = tg.tensor([[2.0, 0.0], [0.0, 2.0]], requires_grad=True)
    >>> loss = cross_entropy(logits, np.array([0, 0]))
    >>> round(loss.item(), 6)
    1.126928
    >>> loss.backward(); np.round(logits.grad, 6)
    array([[-0.059601,  0.059601],
           [-0.440399,  0.440399]])
    """
    if _check_reduction(reduction) == "mean":
        return _cross_entropy(input, getattr(target, "value", target))
    shape = np.shape(input)  # metadata: no elements read (np.shape of a Tensor)
    if len(shape) != 2:
        raise ValueError(f"cross_entropy takes logits of shape (rows, classes), not {shape}")
    labels = _labels(target, *shape)
    picked = log_softmax(input, dim=1)[np.arange(shape[0]), labels]
    return _reduce(-picked, reduction)


def mse_loss(input, target, reduction="mean"):
    """``(input - target) ** 2``, averaged (``"mean"``), summed (``"sum"``)
    or not reduced (``"none"``); the shapes must be equal.

    >>> import numpy as np, tapegrad as tg
    >>> mse_loss(tg.tensor([1.0, 2.0]), np.array([0.0, 0.0])).item()
    2.5
    """
    shapes = [np.shape(x) for x in (input, target)]
    if shapes[0] != shapes[1]:
        raise ValueError(f"mse_loss needs input and target of one shape, got {shapes[0]} "
                         f"and {shapes[1]}")
    return _reduce((input - target) ** 2, reduction)

