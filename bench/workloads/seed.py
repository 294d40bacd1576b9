"""The seed notebook's ``test_grad`` expression, as a workload of its two inputs.

The user's notebook (``shared/seed/000_7eb09020f0259bb7.txt``) builds
``g`` from ``a = -4`` and ``b = 2`` through a dozen adds, multiplies, powers
and two relus, and asserts ``g = 24.7041``, ``dg/da = 138.8338`` and
``dg/db = 645.5773`` to four decimals.  :func:`seed` is that expression,
line for line, over any scalar type; ``m.relu`` stands for the notebook's
``.relu()`` method.  The reference value and gradient come from
:class:`_Dual`, a small forward-mode dual-number type written here in plain
floats (one tangent per input), so they do not go through tapegrad or the
workload function's engine at all.
"""

import numpy as np

from tapegrad.benchmark.workload import Workload

#: The notebook's inputs: a = -4.0, b = 2.0.
POINT = (-4.0, 2.0)


def seed(x, m):
    """The notebook's ``g`` of ``a, b = x``."""
    a, b = x[0], x[1]
    c = a + b
    d = a * b + b**3
    c = c + (c + 1.0)
    c = c + (1.0 + c + (-a))
    d = d + (d * 2.0 + m.relu(b + a))
    d = d + (3.0 * d + m.relu(b - a))
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    return g


class _Dual:
    """A number ``v + t . eps`` with a gradient vector ``t`` (forward mode)."""

    def __init__(self, v, t):
        self.v, self.t = float(v), np.asarray(t, dtype=np.float64)

    @staticmethod
    def _lift(o, like):
        return o if isinstance(o, _Dual) else _Dual(o, np.zeros_like(like.t))

    def __add__(self, o):
        o = self._lift(o, self)
        return _Dual(self.v + o.v, self.t + o.t)

    __radd__ = __add__

    def __neg__(self):
        return _Dual(-self.v, -self.t)

    def __sub__(self, o):
        return self + (-self._lift(o, self))

    def __rsub__(self, o):
        return self._lift(o, self) - self

    def __mul__(self, o):
        o = self._lift(o, self)
        return _Dual(self.v * o.v, self.v * o.t + o.v * self.t)

    __rmul__ = __mul__

    def __pow__(self, k):  # integer k only: d(v^k) = k v^(k-1) dv
        return _Dual(self.v**k, k * self.v ** (k - 1) * self.t)

    def __truediv__(self, o):
        o = self._lift(o, self)
        return _Dual(self.v / o.v, (self.t * o.v - self.v * o.t) / (o.v * o.v))

    def __rtruediv__(self, o):
        return self._lift(o, self) / self


class _DualMath:
    @staticmethod
    def relu(u):
        return _Dual(u.v, u.t) if u.v > 0.0 else _Dual(0.0, np.zeros_like(u.t))


def reference(x):
    """Value and gradient by forward-mode dual numbers."""
    a = _Dual(x[0], [1.0, 0.0])
    b = _Dual(x[1], [0.0, 1.0])
    g = seed([a, b], _DualMath)
    return g.v, g.t


def point(size):
    if size != 2:
        raise ValueError(f"the seed workload has exactly 2 inputs, not {size}")
    return np.array(POINT, dtype=np.float64)


WORKLOAD = Workload(
    name="seed",
    function=seed,
    point=point,
    sizes=(2,),
    quick_sizes=(2,),
    reference=reference,
    description="the seed notebook's test_grad expression of a, b (relu via m.relu)",
    size_name="inputs",
    rtol=1e-12,
)
