"""cmpad's llsq_obj: a least-squares polynomial fit objective.

From Brad Bell's cmpad (github.com/bradbell/cmpad, ``xrst/algorithm.xrst``
"llsq_obj" and ``python/cmpad/llsq_obj.py``): with n parameters x and m
points ``t_j = -1 + 2 j / (m - 1)``, ``s_j = sign(t_j)``,
``y(x) = 1/2 sum_j (x_0 + x_1 t_j + ... + x_{n-1} t_j^(n-1) - s_j)^2``, a
polynomial least-squares fit of a step.  cmpad's n_arg is the number of
parameters (default 9) and n_other the number of points; here m = 100
points is fixed and the SIZE is the number of parameters n = len(x) (a
workload's size has to be len(x)), about ``m (2 n + 3)`` ops.  Powers
``t^i`` are accumulated in floats as cmpad does; once ``|t_j^i|`` falls
below 1e-150 the remaining terms of that point are dropped (they cannot
change a float64 sum of O(1) terms, and keeps subnormal and zero constants
out of the program).  The reference evaluates the exact definition in
numpy, with the analytic gradient ``dy/dx_i = sum_j r_j t_j^i``.  The point
is uniform in [0, 1) from ``numpy.random.default_rng(0)``.
"""

import numpy as np

from tapegrad.benchmark.workload import Workload

SEED = 0
N_POINTS = 100
T = np.linspace(-1.0, 1.0, N_POINTS)
S = np.sign(T)
_POINTS = list(zip(T.tolist(), S.tolist()))
TINY = 1e-150


def llsq_obj(x, m):
    """1/2 sum_j (sum_i x_i t_j^i - s_j)^2 over the fixed points (t_j, s_j)."""
    n = len(x)
    total = 0.0
    for t, s in _POINTS:
        model = x[0]
        power = t
        for i in range(1, n):
            if abs(power) < TINY:  # a float constant, not an input
                break
            model = model + x[i] * power
            power = power * t
        total = total + (model - s) ** 2
    return 0.5 * total


def reference(x):
    """Value and gradient ``V^T r`` with ``V[j, i] = t_j^i``, ``r = V x - s``."""
    x = np.asarray(x, dtype=np.float64)
    vander = np.vander(T, len(x), increasing=True)
    residual = vander @ x - S
    return 0.5 * np.dot(residual, residual), vander.T @ residual


def point(n):
    return np.random.default_rng(SEED).uniform(0.0, 1.0, n)


WORKLOAD = Workload(
    name="llsq_obj",
    function=llsq_obj,
    point=point,
    sizes=(9, 100, 1_000, 10_000),
    quick_sizes=(9, 100),
    reference=reference,
    description="cmpad llsq_obj: least-squares polynomial fit, n parameters, 100 points",
    size_name="params",
    rtol=1e-9,
)
