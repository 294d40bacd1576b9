"""One long dependent chain of cheap ops: y <- y + h sin(x_i - y), n steps.

A stress test of depth rather than width, written for this benchmark:
``y_0 = x_0`` and ``y_i = y_{i-1} + h sin(x_i - y_{i-1})`` for
i = 1 .. n-1, with ``h = 1/n``; the output is ``y_{n-1}``.  Every step
depends on the previous one, so the program is one chain of about 4 n ops
(sub, sin, mul, add; 5 n tapegrad records with the inputs) with no
independent work to overlap: a recursive backward pass would be 4 n frames
deep.  Each step also takes one input so that the size n is ``len(x)`` (a
workload is not told its size otherwise); ``h = 1/n`` keeps each step's
derivative ``1 - h cos(x_i - y)`` within 1/n of 1, so the gradient neither
vanishes nor explodes along the chain (entries are about 0.3/n to 1/n,
x_0's about 0.4).  Inputs in [-0.5, 0.5) keep ``|x_i - y| <= 1``, so the
cosines stay above 0.5 and no gradient entry is near zero.  The reference
runs the same recurrence in plain floats, then the chain rule backwards by
hand: ``dy/dx_i = h cos(u_i) prod_{j>i} (1 - h cos(u_j))``,
``u_i = x_i - y_{i-1}``.  The point is uniform in [-0.5, 0.5) from
``numpy.random.default_rng(0)``.
"""

import math

import numpy as np

from tapegrad.benchmark.workload import Workload

SEED = 0


def deep_chain(x, m):
    """y_{n-1} of ``y_i = y_{i-1} + h sin(x_i - y_{i-1})``, ``y_0 = x_0``."""
    h = 1.0 / len(x)
    y = x[0]
    for i in range(1, len(x)):
        y = y + h * m.sin(x[i] - y)
    return y


def reference(x):
    """Forward recurrence in floats, then the reverse chain rule by hand."""
    x = np.asarray(x, dtype=np.float64).tolist()
    n = len(x)
    h = 1.0 / n
    y = x[0]
    cosines = [0.0] * n
    for i in range(1, n):
        u = x[i] - y
        cosines[i] = math.cos(u)
        y = y + h * math.sin(u)
    grad = np.empty(n)
    ybar = 1.0  # d y_{n-1} / d y_i, from i = n-1 down
    for i in range(n - 1, 0, -1):
        grad[i] = ybar * h * cosines[i]
        ybar = ybar * (1.0 - h * cosines[i])
    grad[0] = ybar
    return y, grad


def point(n):
    return np.random.default_rng(SEED).uniform(-0.5, 0.5, n)


WORKLOAD = Workload(
    name="deep_chain",
    function=deep_chain,
    point=point,
    sizes=(10_000, 100_000, 1_000_000),
    quick_sizes=(10_000,),
    reference=reference,
    description="one dependent chain y <- y + h sin(x_i - y), h = 1/n (4 ops a step)",
    size_name="n",
    rtol=1e-9,
)
