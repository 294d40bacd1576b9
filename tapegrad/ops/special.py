"""NumPy's remaining real ufuncs of the op table: ``sinc``, the NaN-ignoring
``fmax`` and ``fmin``, ``copysign`` and ``heaviside``, with NumPy's names and
its inf/nan.

Each op is one block (see :mod:`tapegrad.ops.table` for the rule
signatures); ``NOTE:`` marks a point where the derivative is a convention
(PyTorch's).  A second partial left out is zero.

>>> from tapegrad.ops import OPS
>>> OPS["sinc"].value(0.0), OPS["sinc"].value(0.5) == 2.0 / math.pi
(1.0, True)
>>> OPS["fmax"].value(float("nan"), 1.0), OPS["fmax"].partials[1](float("nan"), 1.0, 1.0)
(1.0, 1.0)
>>> OPS["copysign"].value(2.0, -0.0), OPS["heaviside"].value(0.0, 0.5)
(-2.0, 0.5)
"""

import math

from tapegrad.ops.numerics import cos as _cos
from tapegrad.ops.numerics import sin as _sin
from tapegrad.ops.numerics import sinc as _sinc
from tapegrad.ops.table import declare

PI = math.pi
# sinc's slope and curvature near 0, where cos(t) - sin(t) / t cancels, as
# series in t = pi x (|t| < 1: nine terms are exact to rounding):
# d/dx sinc = pi t sum_k SLOPE_k t^(2k-2), d2/dx2 sinc = pi^2 sum_k CURVATURE_k t^(2k-2)
# for k = 1.., here highest power first, for Horner's rule.
_SLOPE = tuple((-1) ** k * 2 * k / math.factorial(2 * k + 1) for k in range(9, 0, -1))
_CURVATURE = tuple((-1) ** k * 2 * k * (2 * k - 1) / math.factorial(2 * k + 1)
                   for k in range(9, 0, -1))


# --- unary ops ----------------------------------------------------------


@declare
class sinc:
    """the normalised sinc, sin(pi x) / (pi x), 1 at 0, as ``np.sinc``"""

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return _sinc(x)

    def d_x(x, out):
        t = PI * x
        if math.fabs(t) < 1.0:
            s = 0.0
            for c in _SLOPE:
                s = s * (t * t) + c
            return PI * t * s
        return (_cos(t) - _sin(t) / t) / x

    def d_xx(x, out):
        t = PI * x
        if math.fabs(t) < 1.0:
            s = 0.0
            for c in _CURVATURE:
                s = s * (t * t) + c
            return PI * PI * s
        return -PI * PI * (_sin(t) / t) - 2.0 * (_cos(t) - _sin(t) / t) / (x * x)


# --- binary ops ---------------------------------------------------------


@declare
class fmax:
    """the larger of x and y, ignoring a nan, as ``np.fmax`` (nan if both are)

    NOTE: the argument that is not nan gets the slope; at a tie each gets
    half, as ``maximum`` (PyTorch's ``fmax`` gives all of it to x).
    """

    arity = 2
    function = True
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        return x if x >= y or y != y else y

    def d_x(x, y, out):
        return 1.0 if x > y or (y != y and x == x) else (0.5 if x == y else 0.0)

    def d_y(x, y, out):
        return 1.0 if y > x or (x != x and y == y) else (0.5 if x == y else 0.0)


@declare
class fmin:
    """the smaller of x and y, ignoring a nan, as ``np.fmin`` (nan if both are)

    NOTE: the argument that is not nan gets the slope; at a tie each gets
    half, as ``minimum`` (PyTorch's ``fmin`` gives all of it to x).
    """

    arity = 2
    function = True
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        return x if x <= y or y != y else y

    def d_x(x, y, out):
        return 1.0 if x < y or (y != y and x == x) else (0.5 if x == y else 0.0)

    def d_y(x, y, out):
        return 1.0 if y < x or (x != x and y == y) else (0.5 if x == y else 0.0)


@declare
class copysign:
    """the magnitude of x with the sign (bit) of y

    NOTE: the slope in x is 0 at x = 0, as PyTorch's (and as ``abs``), else
    +-1; in y it is 0.
    """

    arity = 2
    function = True
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        return math.copysign(x, y)

    def d_x(x, y, out):
        return 0.0 if x == 0.0 else math.copysign(1.0, x) * math.copysign(1.0, y)

    def d_y(x, y, out):
        return 0.0


@declare
class heaviside:
    """the step: 0 below 0, 1 above, y (NumPy's h0) at 0, nan at nan

    NOTE: the slope in x is 0 (the jump included, as PyTorch's ``sign``);
    in y it is 1 where x = 0 (the value is y there), else 0.
    """

    arity = 2
    function = True
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        if x != x:
            return x
        if x == 0.0:
            return y
        return 0.0 if x < 0.0 else 1.0

    def d_x(x, y, out):
        return 0.0

    def d_y(x, y, out):
        return 1.0 if x == 0.0 else 0.0
