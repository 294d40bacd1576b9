"""``linear``: ``x @ w.T + b`` as one array record (``nn.Linear``'s layer).

Declared with :func:`tapegrad.array.ops.declare` after the softmax family.
One record instead of a transpose, a product and a bias add: the bias is
added into the product's own buffer, so the tape keeps one array per layer
(half the memory of a step of ``nn.Linear`` layers) and the reverse sweep
runs one VJP: ``g @ w``, ``g.T @ x`` and the bias's sum over rows.

>>> import numpy as np
>>> from tapegrad.array.ops import ARRAY_OPS
>>> x, w, b = np.ones((2, 3)), np.arange(6.0).reshape(2, 3), np.array([0.5, -1.0])
>>> ARRAY_OPS["linear"].value([x, w, b], {})
array([[ 3.5, 11. ],
       [ 3.5, 11. ]])
"""

import numpy as np

from tapegrad.array.ops import _matmul, _unbroadcast, _wanted, declare


def _rows(a, width):
    """``a`` as a matrix of rows of ``width`` (1-D and batched alike)."""
    return np.reshape(a, (-1, width))


def _product_grads(g, x, w, params):
    """The gradients of ``x @ w.T`` for ``x`` and ``w`` (None if unwanted)."""
    gx = _matmul(g, w).reshape(np.shape(x)) if _wanted(params, 0) else None
    gw = None
    if _wanted(params, 1):
        gw = _matmul(_rows(g, w.shape[0]).T, _rows(x, w.shape[1]))
    return gx, gw


@declare
class linear:
    """x @ w.T + b, ``w`` of shape (out, in) as PyTorch's ``F.linear``"""

    arity = 0  # x, w, b are listed in params["args"]

    def value(args, params):
        x, w, b = (np.asarray(a) for a in args)
        out = _matmul(x, w.T)
        if out.flags.writeable and np.result_type(out, b) == out.dtype:
            np.add(out, b, out=out)
            return out
        return out + b

    def vjp(g, out, args, params):
        x, w, b = (np.asarray(a) for a in args)
        gx, gw = _product_grads(g, x, w, params)
        gb = _unbroadcast(g, np.shape(b)) if _wanted(params, 2) else None
        return gx, gw, gb

    def jvp(tangents, out, args, params):
        (x, w, _), (tx, tw, tb) = args, tangents
        return _matmul(tx, np.asarray(w).T) + _matmul(x, np.asarray(tw).T) + tb

    def vjp_tangent(g, gt, out, out_t, args, tangents, params):
        x, w, b = (np.asarray(a) for a in args)
        tx, tw = (np.asarray(t) for t in tangents[:2])
        gx, gw, gb = linear.vjp(g, out, args, params)
        gx_t, gw_t = _product_grads(gt, x, w, params)  # the incoming gradient moves,
        turned_x, turned_w = _product_grads(g, tx, tw, params)  # and so do x and w
        gx_t = None if gx_t is None else gx_t + turned_x
        gw_t = None if gw_t is None else gw_t + turned_w
        gb_t = _unbroadcast(gt, np.shape(b)) if gb is not None else None
        return (gx, gw, gb), (gx_t, gw_t, gb_t)
