"""The n-dimensional Rosenbrock function, as a scalar Python loop.

``f(x) = sum_{i<n-1} 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2``, the extended
("chained") Rosenbrock function of n variables used throughout the
optimisation literature.  :func:`rosenbrock` is the plain loop, about 8 ops
a term (tapegrad: three squares, sub, mul, reflected sub, two adds), so a
tape holds about ``9 n`` records with the inputs; :func:`vectorized` is the
same sum on a 1-D array with only slicing, ``+ - * **`` and ``xp.sum``, so it
runs on numpy, torch, jax.numpy and autograd.numpy alike.  The reference is
the analytic gradient, written in numpy.  The point is uniform in
[-1.5, 1.5] from ``numpy.random.default_rng(0)``.
"""

import numba
import numpy as np

from tapegrad.benchmark.workload import Workload

SEED = 0
LOW, HIGH = -1.5, 1.5


def rosenbrock(x, m):
    """sum over i of 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2."""
    s = 0.0
    for i in range(len(x) - 1):
        s = s + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def vectorized(x, xp):
    """:func:`rosenbrock` on a 1-D array ``x`` of namespace ``xp``."""
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def reference(x):
    """Value, and the analytic gradient
    ``df/dx_i = -400 x_i (x_{i+1} - x_i^2) - 2 (1 - x_i) + 200 (x_i - x_{i-1}^2)``
    (first term for i < n-1, last for i > 0)."""
    x = np.asarray(x, dtype=np.float64)
    d = x[1:] - x[:-1] ** 2
    value = np.sum(100.0 * d**2 + (1.0 - x[:-1]) ** 2)
    grad = np.zeros_like(x)
    grad[:-1] = -400.0 * x[:-1] * d - 2.0 * (1.0 - x[:-1])
    grad[1:] += 200.0 * d
    return value, grad


@numba.njit(cache=True)
def handwritten(x):
    """Value and gradient in one loop, as one would write them by hand in
    numba (fastmath off): the floor the replays are measured against."""
    n = x.shape[0]
    grad = np.zeros(n)
    value = 0.0
    for i in range(n - 1):
        d = x[i + 1] - x[i] * x[i]
        t = 1.0 - x[i]
        value += 100.0 * d * d + t * t
        grad[i] += -400.0 * x[i] * d - 2.0 * t
        grad[i + 1] += 200.0 * d
    return value, grad


def point(n):
    return np.random.default_rng(SEED).uniform(LOW, HIGH, n)


WORKLOAD = Workload(
    name="rosenbrock",
    function=rosenbrock,
    point=point,
    sizes=(1_000, 10_000, 100_000, 1_000_000),
    quick_sizes=(1_000, 10_000),
    reference=reference,
    vectorized=vectorized,
    handwritten=handwritten,
    description="n-dimensional Rosenbrock, a scalar Python loop (8 ops a term)",
    size_name="n",
    rtol=1e-9,
)
