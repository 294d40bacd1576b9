"""The softmax family of the array op table: ``logsumexp``, ``softmax``,
``log_softmax`` and the fused ``cross_entropy``.

Declared with :func:`tapegrad.array.ops.table.declare`, the last family the
package imports (so their opcodes follow the others).  Each subtracts the
row maximum first, as PyTorch does, so nothing overflows and no digits
cancel; ``cross_entropy`` runs the row kernels of
:mod:`tapegrad.kernels.cross_entropy`.

>>> import numpy as np
>>> from tapegrad.array.ops.table import ARRAY_OPS
>>> float(ARRAY_OPS["logsumexp"].value([np.array([1000.0, 1000.0])], {"axis": -1}).round(6))
1000.693147
"""

import math

import numpy as np

from tapegrad.kernels import cross_entropy as row_kernels
from tapegrad.core import arena
from tapegrad.array.ops.table import declare


def _shifted(x, axis):
    """``(x - top, top, log(sum(exp(x - top))))`` over ``axis`` with keepdims,
    ``top`` the max (0 where it is not finite): the max is subtracted first,
    as PyTorch does, so nothing overflows and no digits cancel."""
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0).astype(np.result_type(x), copy=False)
    shifted = x - top
    return shifted, top, np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


@declare
class logsumexp:
    """log(sum(exp(x))) over ``axis``, without overflow"""

    def value(args, params):
        _, top, logsum = _shifted(args[0], params["axis"])
        return np.squeeze(logsum + top, axis=params["axis"])

    def vjp(g, out, args, params):
        axis = params["axis"]
        return (np.exp(args[0] - np.expand_dims(out, axis)) * np.expand_dims(g, axis),)

    def jvp(tangents, out, args, params):
        axis = params["axis"]
        return np.sum(np.exp(args[0] - np.expand_dims(out, axis)) * tangents[0], axis=axis)

    def vjp_tangent(g, gt, out, out_t, args, tangents, params):
        axis = params["axis"]
        p = np.exp(args[0] - np.expand_dims(out, axis))  # softmax(x), whose tangent
        p_t = p * (tangents[0] - np.expand_dims(out_t, axis))  # is p (dx - d lse)
        g, gt = np.expand_dims(g, axis), np.expand_dims(gt, axis)
        return (p * g,), (p * gt + p_t * g,)


@declare
class softmax:
    """exp(x) / sum(exp(x)) over ``axis``, without overflow"""

    def value(args, params):
        shifted, _, logsum = _shifted(args[0], params["axis"])
        return np.exp(shifted - logsum)

    def vjp(g, out, args, params):
        return (out * (g - np.sum(g * out, axis=params["axis"], keepdims=True)),)

    def jvp(tangents, out, args, params):
        t = tangents[0]
        return out * (t - np.sum(out * t, axis=params["axis"], keepdims=True))

    def vjp_tangent(g, gt, out, out_t, args, tangents, params):
        axis = params["axis"]
        centred = g - np.sum(g * out, axis=axis, keepdims=True)
        centred_t = gt - np.sum(gt * out + g * out_t, axis=axis, keepdims=True)
        return (out * centred,), (out_t * centred + out * centred_t,)


@declare
class log_softmax:
    """x - logsumexp(x) over ``axis``"""

    def value(args, params):
        shifted, _, logsum = _shifted(args[0], params["axis"])
        return shifted - logsum

    def vjp(g, out, args, params):
        total = np.sum(g, axis=params["axis"], keepdims=True)
        return (g - np.exp(out) * total,)

    def jvp(tangents, out, args, params):
        t = tangents[0]
        return t - np.sum(np.exp(out) * t, axis=params["axis"], keepdims=True)

    def vjp_tangent(g, gt, out, out_t, args, tangents, params):
        axis = params["axis"]
        p = np.exp(out)
        total = np.sum(g, axis=axis, keepdims=True)
        total_t = np.sum(gt, axis=axis, keepdims=True)
        return (g - p * total,), (gt - p * (out_t * total + total_t),)


@declare
class cross_entropy:
    """mean over rows of logsumexp(logits) - logits[row, label]: one record"""

    def value(args, params):
        logits = np.ascontiguousarray(args[0])
        params["lse"] = np.empty(len(logits), logits.dtype)  # kept for the VJP: one per row
        mean = row_kernels.cross_entropy_rows(logits, params["labels"], params["lse"])
        return np.asarray(mean, dtype=logits.dtype)

    def vjp(g, out, args, params):
        logits = np.ascontiguousarray(args[0])
        grad = arena.empty(logits.shape, logits.dtype)
        scale = (g / len(logits)).astype(logits.dtype)[()]
        row_kernels.cross_entropy_vjp_rows(logits, params["labels"], params["lse"], scale, grad)
        return (grad,)

    def jvp(tangents, out, args, params):
        logits, labels, t = args[0], params["labels"], tangents[0]
        p = np.exp(logits - params["lse"][:, None])
        picked = t[np.arange(len(labels)), labels]
        return np.asarray(np.mean(np.sum(p * t, axis=1) - picked), dtype=out.dtype)

    def vjp_tangent(g, gt, out, out_t, args, tangents, params):
        logits, labels, t = args[0], params["labels"], tangents[0]
        p = np.exp(logits - params["lse"][:, None])
        p_t = p * (t - np.sum(p * t, axis=1, keepdims=True))
        p[np.arange(len(labels)), labels] -= 1.0  # now d(loss)/d(logits) * rows
        rows = len(labels)
        return (p * (g / rows),), (p * (gt / rows) + p_t * (g / rows),)


def cross_entropy_columns(logits, labels, scale, grad, top, total, logsum):
    """``cross_entropy``'s value and VJP at once, for compiled schedules
    (tapegrad.replay.dense), on logits held transposed, ``(classes, rows)``:
    returns the mean loss, and writes its gradient times ``scale`` into
    ``grad``; ``top``, ``total`` and ``logsum`` are a row's worth of room
    each.  The exponentials and logarithms are NumPy's vectorized passes
    (several times faster than the row kernels' call per element; they may
    differ from the C library's in the last place).  Each column is shifted
    by its largest logit; where that gives no finite loss (an inf or nan
    logit), by the row kernel's rule (0 for a non-finite top), so
    non-finite logits give what the op gives.

    >>> logits, labels = np.array([[0.0, 2.0], [1.0, 0.0]]), np.array([1, 0])
    >>> grad, room = np.empty((2, 2)), np.empty((3, 2))
    >>> mean = cross_entropy_columns(logits, labels, 0.5, grad, *room)
    >>> bool(np.isclose(mean, (np.log1p(np.exp(-1.0)) + np.log1p(np.exp(-2.0))) / 2))
    True
    >>> bool(np.allclose(grad.T, (np.exp(logits.T) / np.exp(logits.T).sum(1, keepdims=True)
    ...                          - np.eye(2)[labels]) * 0.5))
    True
    """
    np.maximum.reduce(logits, axis=0, out=top)
    np.subtract(logits, top, out=grad)
    mean = _columns(logits, labels, scale, grad, top, total, logsum)
    if math.isfinite(mean):
        return mean
    row_kernels.shift_columns(logits, top, grad)
    return _columns(logits, labels, scale, grad, top, total, logsum)


def _columns(logits, labels, scale, grad, top, total, logsum):
    """The rest, ``grad`` holding the shifted logits."""
    np.exp(grad, out=grad)
    np.add.reduce(grad, axis=0, out=total)
    np.log(total, out=logsum)
    return row_kernels.cross_entropy_columns(logits, labels, top, logsum, total, scale, grad)
