"""Elementwise array ops: a scalar op of :mod:`tapegrad.ops` on every element.

An elementwise array op is a row of the scalar table applied to every
element, through the kernels generated from that row
(:mod:`tapegrad.kernels.array_rules`); its opcode is ``ELEMENTWISE + scalar
code`` (:mod:`tapegrad.array.ops.table`).  Broadcasting, and the sum over
broadcast axes in the VJP, are handled once, here, for all of them: the
common shapes take the row kernels of :mod:`tapegrad.array.rows`, any other
broadcast is split into a 2-D ``(R, C)`` :func:`layout`.

>>> import numpy as np
>>> elementwise("mul", [np.ones((2, 3)), np.arange(3.0)])
array([[0., 1., 2.],
       [0., 1., 2.]])
>>> unbroadcast(np.ones((4, 3)), (3,))
array([4., 4., 4.])
"""

import math

import numpy as np

from tapegrad.core import arena
from tapegrad.kernels import array_rules
from tapegrad.array.rows import common_value, common_vjp, row_layout, rows_value, rows_vjp


_F64, _F32 = np.dtype(np.float64), np.dtype(np.float32)


def each_kernel(name, suffix=""):
    """The generated general-layout kernel ``<name>_<suffix>each`` (numba
    compiles it on its first call)."""
    return getattr(array_rules, f"{name}_{suffix}each")


def result_dtype(*args):
    """NumPy's result type of ``args`` (Python floats weak), at least float."""
    dtype = np.result_type(*args)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _plan(shape, full):
    """How an operand of ``shape`` sits in the broadcast ``full`` shape:
    ``("full" | "scalar", None)``, ``("row", p)`` (varies along axes >= p
    only) or ``("col", p)`` (along axes < p only), else ``("other", None)``."""
    padded = (1,) * (len(full) - len(shape)) + tuple(shape)
    size = math.prod(padded)
    if padded == tuple(full):
        return "full", None
    if size == 1:
        return "scalar", None
    for p in range(1, len(full)):
        if all(s == 1 for s in padded[:p]) and padded[p:] == tuple(full[p:]):
            return "row", p
        if padded[:p] == tuple(full[:p]) and all(s == 1 for s in padded[p:]):
            return "col", p
    return "other", None


def layout(shapes, full):
    """A split of ``full`` into ``(R, C)`` and each operand's 2-D shape and
    axis flags, materialising (broadcasting by copy) operands that fit no
    common split; returns ``(R, C, [(shape2d, xr, xc, copied)])``.

    >>> layout([(2, 3), (3,)], (2, 3))
    (2, 3, [((2, 3), 1, 1, False), ((1, 3), 0, 1, False)])
    """
    plans = [_plan(s, full) for s in shapes]
    splits = {p for kind, p in plans if kind in ("row", "col")}
    split = splits.pop() if len(splits) == 1 else None
    size = math.prod(full)
    if split is None:
        R, C = 1, size
    else:  # (an empty array keeps its row length: (0, 3) splits as 0 rows of 3)
        R, C = math.prod(full[:split]), math.prod(full[split:])
    out = []
    for kind, p in plans:
        if kind == "full" or (kind in ("row", "col") and p != split) or kind == "other":
            out.append(((R, C), 1, 1, kind != "full"))
        elif kind == "scalar":
            out.append(((1, 1), 0, 0, False))
        elif kind == "row":
            out.append(((1, C), 0, 1, False))
        else:
            out.append(((R, 1), 1, 0, False))
    return R, C, out


def operand_2d(x, shape2d, copied, full, dtype):
    """``x`` as the 2-D operand :func:`layout` gave it (broadcast to ``full``
    first when ``copied``), C-contiguous, of ``dtype``."""
    if copied:
        x = np.broadcast_to(x, full)
    return np.ascontiguousarray(x, dtype=dtype).reshape(shape2d)


def broadcast_shape(x, y):
    """The broadcast shape of two operands, or a ValueError naming both."""
    sx, sy = np.shape(x), np.shape(y)
    if sx == sy or not sy:
        return sx
    if not sx:
        return sy
    try:
        return np.broadcast_shapes(sx, sy)
    except ValueError:
        raise ValueError(f"operands could not be broadcast together with shapes "
                         f"{np.shape(x)} and {np.shape(y)}") from None


def elementwise(name, args):
    """The scalar op ``name`` applied to ``args`` elementwise, broadcast."""
    if len(args) == 1:
        x = args[0]
        if x.__class__ is np.ndarray and (x.dtype is _F64 or x.dtype is _F32) \
                and x.flags.c_contiguous:  # the lines below, less their conversions
            out = arena.empty((1, x.size), x.dtype)
            each_kernel(name)(x.reshape(1, -1), out)
            return out.reshape(x.shape)
        x = np.asarray(x)
        dtype = result_dtype(x)
        x2 = np.ascontiguousarray(x, dtype=dtype).reshape(1, -1)
        out = arena.empty(x2.shape, dtype)
        each_kernel(name)(x2, out)
        return out.reshape(x.shape)
    x, y = args
    out = common_value(name, x, y)
    if out is not None:
        return out
    full = broadcast_shape(x, y)
    dtype = result_dtype(x, y)
    rows = row_layout([np.shape(x), np.shape(y)], full)
    if rows is not None:
        return rows_value(name, args, rows, dtype).reshape(full)
    R, C, ((sx, xr, xc, cx), (sy, yr, yc, cy)) = layout([np.shape(x), np.shape(y)], full)
    out = np.empty((R, C), dtype)
    each_kernel(name)(operand_2d(x, sx, cx, full, dtype), operand_2d(y, sy, cy, full, dtype),
                      out, xr, xc, yr, yc)
    return out.reshape(full)


def unbroadcast(g, shape):
    """``g`` summed down to ``shape`` (the VJP of broadcasting).  A sum over
    leading axes only (a bias's gradient) is a product with ones: BLAS runs
    it five times faster than NumPy's strided ``sum(axis=0)``."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(k + lead for k, s in enumerate(shape) if s == 1)
    if axes == tuple(range(len(axes))) and g.dtype.kind == "f" and g.flags.c_contiguous:
        rows = math.prod(g.shape[:len(axes)])
        return (np.ones(rows, g.dtype) @ g.reshape(rows, -1)).reshape(shape)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def elementwise_vjp(name, g, out, args, wants, into=None, empty=arena.empty):
    """Gradients of the elementwise ``name`` for the arguments in ``wants``
    (``into`` and ``empty``: see :func:`tapegrad.array.rows.rows_vjp`)."""
    grads = common_vjp(name, g, out, args, wants, into, empty)
    if grads is not None:
        return grads
    full, dtype = out.shape, out.dtype
    rows = row_layout([np.shape(a) for a in args], full) if out.size else None
    if rows is not None:
        return rows_vjp(name, g, out, args, rows, wants, into, empty)
    if len(args) == 1:
        x = np.asarray(args[0])
        x2 = np.ascontiguousarray(x, dtype=out.dtype).reshape(1, -1)
        gx = np.zeros_like(x2)
        each_kernel(name, "vjp_")(x2, out.reshape(1, -1),
                                  np.ascontiguousarray(g).reshape(1, -1), gx)
        return (gx.reshape(x.shape),)
    x, y = args
    R, C, ((sx, xr, xc, cx), (sy, yr, yc, cy)) = layout([np.shape(x), np.shape(y)], full)
    gx, gy = np.zeros(sx, dtype), np.zeros(sy, dtype)
    each_kernel(name, "vjp_")(operand_2d(x, sx, cx, full, dtype),
                              operand_2d(y, sy, cy, full, dtype),
                              out.reshape(R, C), np.ascontiguousarray(g, dtype=dtype).reshape(R, C),
                              gx, gy, xr, xc, yr, yc, wants[0], wants[1])
    return from_layout(gx, x, cx, full), from_layout(gy, y, cy, full)


def from_layout(grad, arg, copied, full):
    """A gradient from the 2-D layout, back in ``arg``'s shape (summed over
    the broadcast axes when ``arg`` was broadcast by copy)."""
    shape = np.shape(arg)
    return unbroadcast(grad.reshape(full), shape) if copied else grad.reshape(shape)
