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


_KERNELS = {}  # name -> the generated kernel of that name


def row_kernel(name):
    """The generated kernel ``name`` (``<op>_each_rows``, ``<op>_vjp_rows``;
    numba compiles it on its first call), looked up once."""
    kernel = _KERNELS.get(name)
    if kernel is None:
        kernel = _KERNELS[name] = getattr(array_rules, name)
    return kernel


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
    row_kernel(f"{name}_each_rows")(x, y, out)
    return out


def common_value(name, x, y):
    """The binary op ``name`` on ``x`` and ``y`` for the commonest operands,
    decided without the layouts: two C-contiguous float arrays of one shape
    and dtype, or one and a Python float (weak, as NumPy takes it: the
    array's dtype) or a 0-d array of its dtype.  The row kernel on the same
    operands as :func:`rows_value` gives them (one row, the number as a
    scalar of the dtype); :func:`common_vjp` is its reverse.  None for any
    other operands (the caller takes the layouts)."""
    if x.__class__ is np.ndarray:
        a, b = x, y
    elif y.__class__ is np.ndarray and x.__class__ is float:
        a, b = y, x
    else:
        return None
    dtype = a.dtype
    if dtype.kind != "f" or not a.flags.c_contiguous or not a.size:
        return None
    if b.__class__ is float:
        b = dtype.type(b)
    elif b.__class__ is not np.ndarray or b.dtype is not dtype:
        return None
    elif not b.shape and a.shape:  # a 0-d array of the dtype (a sum): a number
        b = b[()]
    elif b.shape != a.shape or not b.flags.c_contiguous:
        return None
    else:
        b = b.reshape(1, -1)
    kernel = row_kernel(f"{name}_each_rows")
    out = arena.empty((1, a.size), dtype)
    a2 = a.reshape(1, -1)
    if a is x:
        kernel(a2, b, out)
    else:
        kernel(b, a2, out)
    return out.reshape(a.shape)


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
    row_kernel(f"{name}_vjp_rows")(*operands, out.reshape(R, C), g, *flat, *accumulate)
    return tuple(grads)


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
    g = np.ascontiguousarray(g, dtype=dtype).reshape(1, size)
    row_kernel(f"{name}_vjp_rows")(*operands, out.reshape(1, size), g, *flat, *accumulate)
    return tuple(grads)
