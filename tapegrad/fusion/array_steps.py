"""The numba rules of a straight-line kernel's steps that are not
elementwise (:mod:`tapegrad.fusion.straight`): reductions over one axis in
NumPy's order, an extremum's shares, moves (a transpose, a bias added) and
their VJPs.

A reduction is seen as rows ``(P, Q)`` reduced along each row (the last
axis, or all axes: ``P = 1``) or as columns ``(Q, S)`` reduced down each
column (the first axis).  NumPy sums a row pairwise from its identity and a
column row after row, in the array's own precision: :func:`row_sums` and
:func:`column_sums` give ``np.sum``'s bits.

>>> import numpy as np
>>> x = np.linspace(-1.0, 2.0, 12).reshape(3, 4)
>>> rows, columns = np.empty(3), np.empty(4)
>>> row_sums(x, rows, 0.0); column_sums(x, columns, 0.0)
>>> bool((rows == x.sum(axis=1)).all() and (columns == x.sum(axis=0)).all())
True
"""

import numpy as np

from tapegrad.fusion.reduce import pairwise_sum
from tapegrad.jit import rule


@rule
def row_sums(x, out, zero):
    """``out[p]`` the sum of row ``p`` of ``x``, as ``np.sum(x, axis=-1)``."""
    rows, width = x.shape
    flat = x.reshape(rows * width)
    for p in range(rows):
        out[p] = zero + pairwise_sum(flat, p * width, width, zero)


@rule
def column_sums(x, out, zero):
    """``out[s]`` the sum of column ``s`` of ``x``, as ``np.sum(x, axis=0)``."""
    height, width = x.shape
    for s in range(width):
        out[s] = zero
    for q in range(height):
        for s in range(width):
            out[s] += x[q, s]


@rule
def divide_by_count(out, count):
    """``out / count`` in place, as ``np.mean`` divides its sum (in float64,
    rounded to ``out``'s dtype)."""
    for p in range(out.shape[0]):
        out[p] = out[p] / count


@rule
def _beyond(v, m, largest):
    """Whether ``v`` replaces ``m`` as the extremum so far (NaN sticks)."""
    if v != v:
        return m == m
    return v > m if largest else v < m


@rule
def row_extrema(x, out, largest):
    """``out[p]`` the largest (or smallest) of row ``p`` of ``x``; NaN wins."""
    rows, width = x.shape
    for p in range(rows):
        m = x[p, 0]
        for q in range(1, width):
            if _beyond(x[p, q], m, largest):
                m = x[p, q]
        out[p] = m


@rule
def column_extrema(x, out, largest):
    """``out[s]`` the largest (or smallest) of column ``s`` of ``x``; NaN wins."""
    height, width = x.shape
    for s in range(width):
        out[s] = x[0, s]
    for q in range(1, height):
        for s in range(width):
            if _beyond(x[q, s], out[s], largest):
                out[s] = x[q, s]


@rule
def spread_rows(g, gx, divisor):
    """``gx[p, q] += g[p] / divisor``: a row sum's VJP (a mean's, divided
    by its count, in ``gx``'s dtype)."""
    rows, width = gx.shape
    for p in range(rows):
        term = g[p] / divisor
        for q in range(width):
            gx[p, q] += term


@rule
def spread_columns(g, gx, divisor):
    """``gx[q, s] += g[s] / divisor``: a column sum's VJP."""
    height, width = gx.shape
    for q in range(height):
        for s in range(width):
            gx[q, s] += g[s] / divisor


@rule
def _share(hits, nothing):
    """An extremum's share of the gradient and a loser's: ``1 / hits`` and
    0, or NaN for both where nothing equals it (NaN), as ``hit / hit.sum()``."""
    if hits == 0:
        return nothing, nothing
    return 1.0 / hits, 0.0


@rule
def row_extremum_vjp(x, m, g, gx):
    """``gx += share * g`` of row extrema: ties share equally (the op
    table's ``amax`` rule), each share rounded to ``gx``'s dtype first."""
    rows, width = x.shape
    for p in range(rows):
        hits = 0
        for q in range(width):
            if x[p, q] == m[p]:
                hits += 1
        win, lose = _share(hits, np.nan)
        win, lose = gx.dtype.type(win), gx.dtype.type(lose)
        for q in range(width):
            gx[p, q] += (win if x[p, q] == m[p] else lose) * g[p]


@rule
def column_extremum_vjp(x, m, g, gx):
    """:func:`row_extremum_vjp` down the columns."""
    height, width = x.shape
    for s in range(width):
        hits = 0
        for q in range(height):
            if x[q, s] == m[s]:
                hits += 1
        win, lose = _share(hits, np.nan)
        win, lose = gx.dtype.type(win), gx.dtype.type(lose)
        for q in range(height):
            gx[q, s] += (win if x[q, s] == m[s] else lose) * g[s]


@rule
def add_into(target, term):
    """``target += term``, two arrays of one 2-D shape."""
    rows, width = target.shape
    for p in range(rows):
        for q in range(width):
            target[p, q] += term[p, q]


@rule
def transpose_into(x, out):
    """``out = x.T`` of a matrix."""
    rows, width = x.shape
    for p in range(rows):
        for q in range(width):
            out[q, p] = x[p, q]


@rule
def add_transposed(target, g):
    """``target += g.T``: a transpose's VJP."""
    rows, width = target.shape
    for p in range(rows):
        for q in range(width):
            target[p, q] += g[q, p]


@rule
def add_bias(out, b):
    """``out += b`` of a row ``b`` under every row of ``out``."""
    rows, width = out.shape
    for p in range(rows):
        for q in range(width):
            out[p, q] += b[q]


@rule
def add_column_sums(g, target, scratch, zero):
    """``target += g.sum(axis=0)``: a bias's VJP (``scratch``: a row)."""
    column_sums(g, scratch, zero)
    for q in range(scratch.shape[0]):
        target[q] += scratch[q]
