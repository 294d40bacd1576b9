"""How the generated row kernels read an operand and add into its gradient.

The ``*_rows`` kernels of :mod:`tapegrad.kernels.array_rules` sweep an output of
shape ``(R, C)`` row by row.  Each operand is one of: a C-contiguous
``(R, C)`` array (it varies everywhere), a 1-D ``(C,)`` array (one row,
broadcast down the rows, as a bias is) or a number (broadcast everywhere).
numba compiles one specialisation per combination of operand types, so
each reads its operands with plain contiguous indexing, which LLVM
vectorises: no stride arithmetic in the inner loop.

A gradient buffer has the same three shapes (a 0-d array for a number).
:func:`set_at` stores into a full buffer, :func:`add_at` adds into it; both
add into a row or 0-d buffer, which sums over the broadcast axes.

With ``NUMBA_DISABLE_JIT=1`` the kernels call the plain functions below.

>>> import numpy as np
>>> [float(at(x, 1, 2)) for x in (np.arange(6.0).reshape(2, 3), np.arange(3.0), 4.0)]
[5.0, 2.0, 4.0]
"""

import numpy as np
from numba.core import types
from numba.extending import overload


def at(x, r, c):
    """Element ``(r, c)`` of an operand of the output's ``(R, C)`` sweep."""
    if isinstance(x, np.ndarray):
        return x[r, c] if x.ndim == 2 else x[c]
    return x


def add_at(gx, r, c, v):
    """Add ``v`` into the gradient entry of an operand at ``(r, c)``."""
    if gx.ndim == 2:
        gx[r, c] += v
    elif gx.ndim == 1:
        gx[c] += v
    else:
        gx[()] += v


def set_at(gx, r, c, v):
    """Store ``v`` as the gradient entry at ``(r, c)`` of a full buffer; a
    row or 0-d buffer sums over the broadcast axes, so it adds."""
    if gx.ndim == 2:
        gx[r, c] = v
    else:
        add_at(gx, r, c, v)


@overload(at)
def _at(x, r, c):
    if isinstance(x, types.Array) and x.ndim == 2:
        return lambda x, r, c: x[r, c]
    if isinstance(x, types.Array) and x.ndim == 1:
        return lambda x, r, c: x[c]
    if isinstance(x, (types.Float, types.Integer)):
        return lambda x, r, c: x
    return None


@overload(add_at)
def _add_at(gx, r, c, v):
    if not isinstance(gx, types.Array):
        return None
    if gx.ndim == 2:
        def add_full(gx, r, c, v):
            gx[r, c] += v
        return add_full
    if gx.ndim == 1:
        def add_row(gx, r, c, v):
            gx[c] += v
        return add_row

    def add_scalar(gx, r, c, v):
        gx[()] += v
    return add_scalar


@overload(set_at)
def _set_at(gx, r, c, v):
    if not isinstance(gx, types.Array):
        return None
    if gx.ndim == 2:
        def set_full(gx, r, c, v):
            gx[r, c] = v
        return set_full
    return lambda gx, r, c, v: add_at(gx, r, c, v)
