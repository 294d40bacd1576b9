"""NumPy's own summation order, for kernels that end in a sum.

A program that is one fused group and the sum of its output
(:mod:`tapegrad.replay.schedule`) replays as one generated kernel, which
sums the group's values itself.  To give ``np.sum``'s result to the bit,
it adds them in NumPy's order: :func:`pairwise_sum` is NumPy's
``pairwise_sum`` (``numpy/_core/src/umath/loops_utils.h.src``): blocks of
at most 128 values summed with eight accumulators, halved recursively
above that, in the array's own precision.  ``np.sum`` over all axes of a
C-contiguous float array is ``0 + pairwise_sum`` of its flat values (the
reduction starts from the identity), which is what
:func:`~tapegrad.fusion.whole.whole_source` kernels return.  The tests
check it against ``np.sum`` for float64 and float32 at sizes from 0 to 10**6.

>>> import numpy as np
>>> a = np.linspace(-1.0, 3.0, 1001)
>>> bool(0.0 + pairwise_sum(a, 0, len(a), 0.0) == np.sum(a))
True
"""

import numpy as np

from tapegrad.jit import rule

BLOCK = 128  # NumPy's PW_BLOCKSIZE
STACK = 64  # deeper than any tree: each level halves a size below 2**63


@rule
def _block_sum(a, lo, n, zero):
    """NumPy's sum of one block, ``n <= BLOCK`` values from ``a[lo]``."""
    if n < 8:
        res = zero
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    whole = n - n % 8
    while i < whole:
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@rule
def pairwise_sum(a, lo, n, zero):
    """The sum of ``a[lo:lo + n]`` (a flat array) in NumPy's pairwise order;
    ``zero`` is a zero of ``a``'s dtype (the accumulator's type).  NumPy
    recurses; this walks the same tree with a stack of its own (a cached
    numba kernel that calls a recursive one crashes when loaded)."""
    if n <= BLOCK:
        return _block_sum(a, lo, n, zero)
    starts = np.empty(STACK, np.int64)
    sizes = np.empty(STACK, np.int64)
    phases = np.zeros(STACK, np.int64)  # 0: enter, 1: left summed, 2: both summed
    lefts = np.full(STACK, zero)
    starts[0], sizes[0] = lo, n
    depth, total = 0, zero
    while depth >= 0:
        m = sizes[depth]
        if m <= BLOCK:
            total = _block_sum(a, starts[depth], m, zero)
            depth -= 1
            continue
        half = m // 2
        half -= half % 8
        phase = phases[depth]
        if phase == 0:
            phases[depth] = 1
            depth += 1
            starts[depth], sizes[depth], phases[depth] = starts[depth - 1], half, 0
        elif phase == 1:
            lefts[depth] = total
            phases[depth] = 2
            depth += 1
            starts[depth], sizes[depth], phases[depth] = starts[depth - 1] + half, m - half, 0
        else:
            total = lefts[depth] + total
            depth -= 1
    return total


# Reductions over one axis, in NumPy's order, and their VJPs: the
# straight-line kernels' (:mod:`tapegrad.fusion.straight`).  A reduction
# is seen as rows ``(P, Q)`` reduced along each row (the last axis, or all
# axes: ``P = 1``) or as columns ``(Q, S)`` reduced down each column (the
# first axis).  NumPy sums a row pairwise from its identity and a column
# row after row, in the array's own precision.


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
