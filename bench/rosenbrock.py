"""The n-dimensional Rosenbrock function as a scalar Python loop.

:func:`rosenbrock` is written once and runs unchanged on floats, tapegrad
Values, micrograd Values and PyTorch 0-d tensors.  For tapegrad each term is
8 records (two ``square`` for ``** 2`` and the third on the difference,
``sub``, ``mul``, reflected ``sub``, two ``add``), and every input is one
more, so a tape holds ``9 n - 8`` records.

>>> x = point(4)
>>> abs(rosenbrock(x.tolist()) - float(value(x))) < 1e-9
True
"""

import numpy as np

NAME = "Rosenbrock"
DESCRIPTION = "n-dimensional Rosenbrock, a scalar Python loop (8 ops a term)"
SEED = 0
LOW, HIGH = -1.5, 1.5


def rosenbrock(x):
    """sum over i of 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2, for any number type."""
    s = 0.0
    for i in range(len(x) - 1):
        s = s + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def point(n, seed=SEED):
    """The fixed input of size ``n``: uniform in [LOW, HIGH], from ``seed``."""
    return np.random.default_rng(seed).uniform(LOW, HIGH, n)


def value(x):
    """The Rosenbrock function of the float array ``x``, vectorised."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def gradient(x):
    """The analytic gradient of :func:`rosenbrock` at the float array ``x``."""
    d = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * d - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * d
    return g


#: What :mod:`bench.suite` runs on each engine.
function = rosenbrock
