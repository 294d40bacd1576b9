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
