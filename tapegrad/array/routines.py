"""The array functions that are not methods of a Tensor: ``linear``, the
softmax family, ``cross_entropy``, ``concatenate`` and ``stack``.

Each checks its arguments' shapes (so a mistake is named here, not deep in
NumPy) and records one array op (:func:`tapegrad.array.tensor.recorder`).
``tensor()`` and ``matmul`` live beside the Tensor class, whose own code
uses them (:mod:`tapegrad.array.tensor`).

>>> import numpy as np, tapegrad as tg
>>> tg.softmax(tg.tensor([0.0, 0.0])).value
array([0.5, 0.5])
"""

import numpy as np

from tapegrad.array.ops import ARRAY_OPS
from tapegrad.array.tensor import Tensor, matmul, recorder


def linear(x, w, b=None):
    """Record ``x @ w.T + b`` (``w`` of shape ``(out, in)``), with a bias as
    one record.

    >>> import tapegrad as tg
    >>> w = tg.tensor([[1.0, 2.0]], requires_grad=True)
    >>> y = tg.linear(tg.tensor([[3.0, 4.0]]), w, tg.tensor([0.5]))
    >>> y.value, y.sum().backward(), w.grad
    (array([[11.5]]), None, array([[3., 4.]]))
    """
    xs, ws = (np.shape(getattr(a, "_v", a)) for a in (x, w))
    if len(ws) != 2 or len(xs) == 0 or xs[-1] != ws[1]:
        raise ValueError(f"linear: input of shape {xs} and weight of shape {ws} do not "
                         "line up (the weight is (out_features, in_features))")
    if b is None:
        return matmul(x, w.T if isinstance(w, Tensor) else np.transpose(w))
    bs, out = np.shape(getattr(b, "_v", b)), xs[:-1] + ws[:1]
    try:
        np.broadcast_shapes(out, bs)
    except ValueError:
        raise ValueError(f"linear: a bias of shape {bs} for an output of shape {out}") from None
    if len(bs) > 1:  # a bias that widens the output: the product and an add
        return matmul(x, w.T if isinstance(w, Tensor) else np.transpose(w)) + b
    return recorder("linear")([x, w, b])


def _along_axis(name):
    record = recorder(name)

    def function(x, axis=-1):
        return record([x], axis=axis)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"Record {ARRAY_OPS[name].doc} (stable)."
    return function


softmax, log_softmax, logsumexp = (_along_axis(n) for n in ("softmax", "log_softmax",
                                                             "logsumexp"))


def cross_entropy(logits, labels):
    """The mean over rows of -log softmax(logits)[row, label], as one fused
    record (PyTorch's ``F.cross_entropy`` with integer class labels).

    >>> import numpy as np, tapegrad as tg
    >>> round(tg.cross_entropy(tg.tensor([[0.0, 0.0]]), np.array([1])).item(), 6)
    0.693147
    """
    labels = np.asarray(getattr(labels, "_v", labels))
    shape = np.shape(getattr(logits, "_v", logits))
    if labels.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy labels must be integers, got dtype {labels.dtype}")
    if len(shape) != 2 or labels.shape != (shape[0],):
        raise ValueError(f"cross_entropy takes logits (rows, classes) and one label per "
                         f"row; got {shape} and {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= shape[1]):
        raise ValueError(f"cross_entropy label out of range [0, {shape[1]}): "
                         f"{labels.min()}..{labels.max()}")
    return recorder("cross_entropy")([logits], labels=labels)


def concatenate(tensors, axis=0):
    """Record the tensors joined along an existing ``axis``.

    >>> import tapegrad as tg
    >>> tg.concatenate([tg.tensor([1.0]), tg.tensor([2.0, 3.0])]).value
    array([1., 2., 3.])
    """
    return recorder("concatenate")(list(tensors), axis=axis)


def stack(items, axis=0):
    """Record the tensors (or scalar Values) joined along a new ``axis``.

    >>> import tapegrad as tg
    >>> a, b = tg.Value(1.0), tg.Value(2.0)
    >>> t = tg.stack([a, b * 3.0])
    >>> t.sum().backward(); (a.grad, b.grad)
    (1.0, 3.0)
    """
    return recorder("stack")(list(items), axis=axis)
