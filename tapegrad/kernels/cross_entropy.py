"""numba kernels of the fused ``cross_entropy`` record, one pass per row.

The op's rules (``value`` and ``vjp`` in :mod:`tapegrad.array.ops`) call
these instead of chaining NumPy passes with temporaries over the logits:
the max-shifted log-sum-exp of each row, the picked logit and the mean, in
one sweep; then the gradient ``(softmax - onehot) * g / rows`` in another.
A non-finite row maximum shifts by 0, as the NumPy form does, so NaN and
inf propagate as in NumPy.

For compiled schedules (:mod:`tapegrad.replay.dense`), the same on logits
held transposed, ``(classes, rows)``: ``shift_columns`` and
``cross_entropy_columns``, the two kernels around NumPy's vectorized exp and
log in :func:`tapegrad.array.ops.softmax.cross_entropy_columns`.
"""

from tapegrad.jit import kernel, rule
from tapegrad.ops.numerics import exp, log


@rule
def _larger(top, v):
    """The running maximum of a row: the larger of ``top`` and ``v``, nan
    winning."""
    return v if v > top or v != v else top


@rule
def _shift(top):
    """What a row whose largest logit is ``top`` is shifted by: ``top``,
    or 0 where that is inf or nan."""
    return top if top - top == 0.0 else 0.0


@kernel
def cross_entropy_rows(logits, labels, lse):
    """The mean over rows of ``logsumexp(row) - row[label]``; ``lse[r]``
    receives each row's log-sum-exp, for the VJP."""
    rows, classes = logits.shape
    total = 0.0
    for r in range(rows):
        top = logits[r, 0]
        for c in range(1, classes):
            top = _larger(top, logits[r, c])
        top = _shift(top)
        s = 0.0
        for c in range(classes):
            s += exp(logits[r, c] - top)
        logsum = log(s)
        lse[r] = logsum + top
        total += logsum - (logits[r, labels[r]] - top)
    return total / rows


@kernel
def cross_entropy_vjp_rows(logits, labels, lse, scale, grad):
    """``grad = (exp(logits - lse) - onehot(labels)) * scale``."""
    rows, classes = logits.shape
    for r in range(rows):
        for c in range(classes):
            p = exp(logits[r, c] - lse[r])
            if c == labels[r]:
                p -= 1.0
            grad[r, c] = p * scale


# The cross entropy of logits held transposed, (classes, rows), in three
# passes whose middle one is NumPy's vectorized exp and log (many times
# faster than a call per element):  shift_columns; exp of the shifted
# logits and log of each column's sum; cross_entropy_columns.


@kernel
def shift_columns(logits, top, shifted):
    """``top[r]``, the largest logit of column ``r`` (0 where that is inf
    or nan, as the rows' kernel shifts), and ``shifted = logits - top``."""
    classes, rows = logits.shape
    for r in range(rows):
        t = logits[0, r]
        for c in range(1, classes):
            t = _larger(t, logits[c, r])
        t = _shift(t)
        top[r] = t
        for c in range(classes):
            shifted[c, r] = logits[c, r] - t


@kernel
def cross_entropy_columns(logits, labels, top, logsum, total, scale, grad):
    """The mean over columns of ``logsumexp - logits[label]`` from each
    column's ``top`` and ``logsum`` (the log of the sum of its exps), and
    in ``grad``, which holds the exps, ``(softmax - onehot) * scale``."""
    classes, rows = logits.shape
    mean = 0.0
    for r in range(rows):
        label = labels[r]
        mean += logsum[r] - (logits[label, r] - top[r])
        share = scale / total[r]
        for c in range(classes):
            grad[c, r] *= share
        grad[label, r] -= scale
    return mean / rows
