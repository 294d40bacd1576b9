"""The fast path of elementwise array ops: the row layouts.

Most elementwise records combine arrays of one shape, an array and a
number, or a matrix and a row broadcast down it (``x @ w.T + bias``).  For
those, every operand is one of three kinds in an ``(R, C)`` view of the
output: ``"full"`` (an ``(R, C)`` array), ``"row"`` (a ``(C,)`` array) or
``"scalar"`` (a number), and the generated ``*_rows`` kernels of
:mod:`tapegrad.kernels.array_rules` read them with contiguous indexing (see
:mod:`tapegrad.kernels.operands`).  Any other broadcast takes the general path of
:mod:`tapegrad.array.ops`.

The VJP stores each full gradient into a fresh buffer, or adds it into
``into``, a buffer the reverse sweep owns, instead of allocating and adding
afterwards; row and scalar gradients are summed into small zeroed buffers.

>>> import numpy as np
>>> row_layout([(4, 3), (3,)], (4, 3))
(4, 3, ['full', 'row'])
>>> row_layout([(4, 1), (3,)], (4, 3)) is None   # a column: the general path
True
"""

import math

import numpy as np

from tapegrad.core import arena
from tapegrad.kernels import array_rules


def _kernel(name):
    """The generated kernel ``name`` (numba compiles it on its first call)."""
    return getattr(array_rules, name)


def row_layout(shapes, full):
    """``(R, C, kinds)`` when each of ``shapes`` sits in the broadcast shape
    ``full`` as the whole of it, as its trailing axes from one common split
    (a row) or as one element; else None."""
    full = tuple(full)
    size = math.prod(full)
    if size == 0:
        return None
    kinds, split = [], None
    for shape in shapes:
        shape = tuple(shape)
        padded = (1,) * (len(full) - len(shape)) + shape
        if padded == full:
            kinds.append("full")
        elif math.prod(shape) == 1:
            kinds.append("scalar")
        else:
            lead = len(full) - len(shape)
            while lead < len(full) and padded[lead] == 1:
                lead += 1  # (1, C) is a row too
            if padded[lead:] != full[lead:] or split not in (None, lead):
                return None
            split = lead
            kinds.append("row")
    R = math.prod(full[:split]) if split is not None else 1
    return R, size // R, kinds


def _operand(x, kind, R, C, dtype):
    if kind == "scalar":
        return dtype.type(np.asarray(x).reshape(()))
    x = np.ascontiguousarray(x, dtype=dtype)
    return x.reshape(R, C) if kind == "full" else x.reshape(C)


def rows_value(name, args, layout, dtype):
    """The binary op ``name`` on ``args`` laid out as ``layout``, ``(R, C)``."""
    R, C, kinds = layout
    out = arena.empty((R, C), dtype)
    x, y = (_operand(a, kind, R, C, dtype) for a, kind in zip(args, kinds))
    _kernel(f"{name}_each_rows")(x, y, out)
    return out


def usable(buffer, shape, dtype):
    return (buffer is not None and buffer.shape == tuple(shape) and buffer.dtype == dtype
            and buffer.flags.c_contiguous and buffer.flags.writeable)


def rows_vjp(name, g, out, args, layout, wants, into=None, empty=arena.empty):
    """Gradients of the elementwise ``name`` (arity 1 or 2) for the
    arguments in ``wants`` (None for the others).  ``into`` may give, per
    argument, a writable buffer of its shape and dtype to add the gradient
    into (that buffer is returned); ``empty(shape, dtype)`` makes new ones."""
    R, C, kinds = layout
    dtype = out.dtype
    into = into or (None,) * len(args)
    operands, grads, accumulate = [], [], []
    for arg, kind, want, buffer in zip(args, kinds, wants, into):
        operands.append(_operand(arg, kind, R, C, dtype))
        shape = np.shape(arg)
        if not want:
            grads.append(None)
            accumulate.append(False)
        elif usable(buffer, shape, dtype):  # row and scalar kernels always add
            grads.append(buffer)
            accumulate.append(True)
        elif kind == "full":
            grads.append(empty(shape, dtype))
            accumulate.append(False)
        else:
            grads.append(np.zeros(shape, dtype))
            accumulate.append(False)
    flat = [None if gr is None else gr.reshape((R, C) if kind == "full" else
                                               (C,) if kind == "row" else ())
            for gr, kind in zip(grads, kinds)]
    g = np.ascontiguousarray(g, dtype=dtype).reshape(R, C)
    _kernel(f"{name}_vjp_rows")(*operands, out.reshape(R, C), g, *flat, *accumulate)
    return tuple(grads)


_VJP_ROWS = {}  # name -> its generated ``<name>_vjp_rows`` kernel


def common_vjp(name, g, out, args, wants, into=None, empty=arena.empty):
    """:func:`rows_vjp` for the commonest operands, decided without the
    layouts: one or two, each a C-contiguous array of the output's shape
    and dtype or a Python float; the same kernel on the same operands.  None for any
    other operands (the caller takes :func:`rows_vjp`)."""
    shape, dtype = out.shape, out.dtype
    if len(args) > 2 or dtype.kind != "f" or not out.size or not out.flags.c_contiguous \
            or np.shape(g) != shape:
        return None
    into = into or (None,) * len(args)
    size = out.size
    operands, grads, flat, accumulate = [], [], [], []
    for arg, want, buffer in zip(args, wants, into):
        if arg.__class__ is float:
            if want:
                return None
            operands.append(dtype.type(arg))
        elif arg.__class__ is np.ndarray and arg.dtype is dtype and arg.shape == shape \
                and arg.flags.c_contiguous:
            operands.append(arg.reshape(1, size))
        else:
            return None
        if not want:
            grads.append(None)
            flat.append(None)
            accumulate.append(False)
            continue
        add = usable(buffer, shape, dtype)
        grad = buffer if add else empty(shape, dtype)
        grads.append(grad)
        flat.append(grad.reshape(1, size))
        accumulate.append(add)
    kernel = _VJP_ROWS.get(name)
    if kernel is None:
        kernel = _VJP_ROWS[name] = _kernel(f"{name}_vjp_rows")
    g = np.ascontiguousarray(g, dtype=dtype).reshape(1, size)
    kernel(*operands, out.reshape(1, size), g, *flat, *accumulate)
    return tuple(grads)
