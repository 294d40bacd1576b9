"""cmpad's an_ode: an RK4 solve of a chain ODE; the output is the SUM of y(2).

From Brad Bell's cmpad (github.com/bradbell/cmpad, ``xrst/algorithm.xrst``
"an_ode", ``xrst/rk4_step.xrst``, ``python/cmpad/an_ode.py`` and
``runge_kutta.py``): for parameters x of length n, ``y_0' = x_0`` and
``y_i' = x_i y_{i-1}`` for i > 0 (as cmpad's code and its analytic solution
have it), ``y(0) = 0``, solved to t = 2 by ``ns`` classic RK4 steps
(k1 = f(y), k2 = f(y + h/2 k1), k3 = f(y + h/2 k2), k4 = f(y + h k3),
y += h/6 (k1 + 2 k2 + 2 k3 + k4)).  The exact solution is
``y_i(t) = t^(i+1)/(i+1)! prod_{j<=i} x_j``, which RK4 reproduces exactly
for i < 4.  cmpad returns the vector y(2) and differentiates one component
of it; this workload returns ONE scalar, the sum of the components of y(2)
(the last component alone is exactly 0 whenever ns < n/4: each RK4 step
reaches four components further).  cmpad sets ns by a separate option
(``n_other``); here, as in the issue that asked for this workload, n = 100
and ns = 9 (about 17 n ns records).  The
reference is a numpy forward solve and a hand-written reverse (adjoint)
sweep of the RK4 steps.  The point is uniform in [0, 1) from
``numpy.random.default_rng(0)``.
"""

import numpy as np

from tapegrad.benchmark.workload import Workload

SEED = 0
T_FINAL = 2.0
STEPS = 9


def _f(x, y):
    """The ODE's right-hand side: ``[x_0, x_1 y_0, x_2 y_1, ...]``."""
    return [x[0]] + [x[i] * y[i - 1] for i in range(1, len(x))]


def solve(x):
    """y(2) as a list, by :data:`STEPS` RK4 steps from y(0) = 0."""
    n = len(x)
    h = T_FINAL / STEPS
    half_h, sixth_h = 0.5 * h, h / 6.0
    y = [0.0] * n
    for _ in range(STEPS):
        k1 = _f(x, y)
        k2 = _f(x, [y[i] + half_h * k1[i] for i in range(n)])
        k3 = _f(x, [y[i] + half_h * k2[i] for i in range(n)])
        k4 = _f(x, [y[i] + h * k3[i] for i in range(n)])
        y = [y[i] + sixth_h * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]) for i in range(n)]
    return y


def an_ode(x, m):
    """The sum of the components of y(2)."""
    y = solve(x)
    s = y[0]
    for i in range(1, len(y)):
        s = s + y[i]
    return s


def _f_np(x, y):
    k = np.empty_like(y)
    k[0] = x[0]
    k[1:] = x[1:] * y[:-1]
    return k


def _f_adjoint(x, u, kbar, xbar):
    """Add to ``xbar`` and return ``ubar`` for ``k = f(x, u)`` with adjoint ``kbar``."""
    xbar[0] += kbar[0]
    xbar[1:] += kbar[1:] * u[:-1]
    ubar = np.zeros_like(u)
    ubar[:-1] = kbar[1:] * x[1:]
    return ubar


def reference(x):
    """Value by a numpy RK4 solve; gradient by the adjoint of each RK4 step."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    h = T_FINAL / STEPS
    y = np.zeros(n)
    stages = []
    for _ in range(STEPS):
        k1 = _f_np(x, y)
        u2 = y + 0.5 * h * k1
        k2 = _f_np(x, u2)
        u3 = y + 0.5 * h * k2
        k3 = _f_np(x, u3)
        u4 = y + h * k3
        k4 = _f_np(x, u4)
        stages.append((y, u2, u3, u4))
        y = y + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    value = y.sum()
    xbar = np.zeros(n)
    ybar = np.ones(n)  # d(sum)/dy(2)
    for y0, u2, u3, u4 in reversed(stages):
        k1bar, k2bar = h / 6.0 * ybar, h / 3.0 * ybar
        k3bar, k4bar = h / 3.0 * ybar, h / 6.0 * ybar
        ybar = ybar.copy()
        u4bar = _f_adjoint(x, u4, k4bar, xbar)
        ybar += u4bar
        k3bar = k3bar + h * u4bar
        u3bar = _f_adjoint(x, u3, k3bar, xbar)
        ybar += u3bar
        k2bar = k2bar + 0.5 * h * u3bar
        u2bar = _f_adjoint(x, u2, k2bar, xbar)
        ybar += u2bar
        k1bar = k1bar + 0.5 * h * u2bar
        ybar += _f_adjoint(x, y0, k1bar, xbar)
    return value, xbar


def point(n):
    return np.random.default_rng(SEED).uniform(0.0, 1.0, n)


WORKLOAD = Workload(
    name="an_ode",
    function=an_ode,
    point=point,
    sizes=(100,),
    quick_sizes=(100,),
    reference=reference,
    description="cmpad an_ode: 9 RK4 steps of y_i' = x_i y_{i-1}, output sum(y(2))",
    size_name="n",
    rtol=1e-9,
)
