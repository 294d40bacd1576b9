"""numba kernels of the fused ``cross_entropy`` record, one pass per row.

The op's rules (``value`` and ``vjp`` in :mod:`tapegrad.array.ops`) call
these instead of chaining NumPy passes with temporaries over the logits:
the max-shifted log-sum-exp of each row, the picked logit and the mean, in
one sweep; then the gradient ``(softmax - onehot) * g / rows`` in another.
A non-finite row maximum shifts by 0, as the NumPy form does, so NaN and
inf propagate as in NumPy.
"""

from tapegrad.jit import kernel
from tapegrad.ops.numerics import exp, log


@kernel
def cross_entropy_rows(logits, labels, lse):
    """The mean over rows of ``logsumexp(row) - row[label]``; ``lse[r]``
    receives each row's log-sum-exp, for the VJP."""
    rows, classes = logits.shape
    total = 0.0
    for r in range(rows):
        top = logits[r, 0]
        for c in range(1, classes):
            v = logits[r, c]
            if v > top or v != v:
                top = v
        if not (top - top == 0.0):  # inf or nan: shift by 0
            top = 0.0
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
