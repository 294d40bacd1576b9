"""NumPy's trigonometric and hyperbolic ufuncs: ``tan``, the inverses, the
hyperbolic functions and their inverses, and the binary ``arctan2`` and
``hypot``, with NumPy's names and its inf/nan.

Each op is one block (see :mod:`tapegrad.ops.table` for the rule
signatures); ``NOTE:`` marks a point where the derivative is a convention
(PyTorch's).  A second partial left out is zero.

>>> from tapegrad.ops import OPS
>>> OPS["arctan2"].value(1.0, 1.0) == OPS["arctan"].value(1.0)
True
>>> OPS["arcsin"].value(2.0), OPS["tan"].value(float("inf"))   # NumPy's nan, not ValueError
(nan, nan)
"""

import math

from tapegrad.ops.numerics import arccos as _arccos
from tapegrad.ops.numerics import arccosh as _arccosh
from tapegrad.ops.numerics import arcsin as _arcsin
from tapegrad.ops.numerics import arctanh as _arctanh
from tapegrad.ops.numerics import cosh as _cosh
from tapegrad.ops.numerics import div as _div
from tapegrad.ops.numerics import sinh as _sinh
from tapegrad.ops.numerics import sqrt as _sqrt
from tapegrad.ops.numerics import tan as _tan
from tapegrad.ops.table import declare


# --- unary ops ----------------------------------------------------------


@declare
class tan:
    """tangent"""

    arity = 1
    domain = ((-1.2, 1.2),)

    def value(x):
        return _tan(x)

    def d_x(x, out):
        return 1.0 + out * out

    def d_xx(x, out):
        return 2.0 * out * (1.0 + out * out)


@declare
class arcsin:
    """inverse sine

    NOTE: the slope at +-1 is inf, as in PyTorch.
    """

    arity = 1
    domain = ((-0.9, 0.9),)

    def value(x):
        return _arcsin(x)

    def d_x(x, out):
        return _div(1.0, _sqrt(1.0 - x * x))

    def d_xx(x, out):
        return _div(x, (1.0 - x * x) * _sqrt(1.0 - x * x))


@declare
class arccos:
    """inverse cosine

    NOTE: the slope at +-1 is -inf, as in PyTorch.
    """

    arity = 1
    domain = ((-0.9, 0.9),)

    def value(x):
        return _arccos(x)

    def d_x(x, out):
        return -_div(1.0, _sqrt(1.0 - x * x))

    def d_xx(x, out):
        return -_div(x, (1.0 - x * x) * _sqrt(1.0 - x * x))


@declare
class arctan:
    """inverse tangent"""

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return math.atan(x)

    def d_x(x, out):
        return 1.0 / (1.0 + x * x)

    def d_xx(x, out):
        return -2.0 * x / ((1.0 + x * x) * (1.0 + x * x))


@declare
class sinh:
    """hyperbolic sine"""

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return _sinh(x)

    def d_x(x, out):
        return _cosh(x)

    def d_xx(x, out):
        return out


@declare
class cosh:
    """hyperbolic cosine"""

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return _cosh(x)

    def d_x(x, out):
        return _sinh(x)

    def d_xx(x, out):
        return out


@declare
class arcsinh:
    """inverse hyperbolic sine"""

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return math.asinh(x)

    def d_x(x, out):
        return 1.0 / _sqrt(x * x + 1.0)

    def d_xx(x, out):
        return -_div(x, (x * x + 1.0) * _sqrt(x * x + 1.0))


@declare
class arccosh:
    """inverse hyperbolic cosine

    NOTE: the slope at 1 is inf, as in PyTorch.
    """

    arity = 1
    domain = ((1.2, 4.0),)

    def value(x):
        return _arccosh(x)

    def d_x(x, out):
        return _div(1.0, _sqrt(x * x - 1.0))

    def d_xx(x, out):
        return -_div(x, (x * x - 1.0) * _sqrt(x * x - 1.0))


@declare
class arctanh:
    """inverse hyperbolic tangent

    NOTE: the slope at +-1 is inf, as in PyTorch.
    """

    arity = 1
    domain = ((-0.9, 0.9),)

    def value(x):
        return _arctanh(x)

    def d_x(x, out):
        return _div(1.0, 1.0 - x * x)

    def d_xx(x, out):
        return _div(2.0 * x, (1.0 - x * x) * (1.0 - x * x))


# --- binary ops ---------------------------------------------------------


@declare
class arctan2:
    """the angle of the point (y, x) (``np.arctan2(x, y)``: x over y)

    NOTE: the slopes at (0, 0) are nan, as in PyTorch.
    """

    arity = 2
    function = True
    domain = ((-3.0, 3.0), (0.5, 3.0))  # away from the cut along y < 0

    def value(x, y):
        return math.atan2(x, y)

    # r = hypot(x, y), divided by twice rather than squared: no overflow
    def d_x(x, y, out):
        r = math.hypot(x, y)
        return _div(_div(y, r), r)

    def d_y(x, y, out):
        r = math.hypot(x, y)
        return -_div(_div(x, r), r)

    def d_xx(x, y, out):
        r = math.hypot(x, y)
        return -2.0 * _div(x, r) * _div(y, r) * _div(1.0, r * r)

    def d_xy(x, y, out):
        r = math.hypot(x, y)
        return (_div(x, r) - _div(y, r)) * (_div(x, r) + _div(y, r)) * _div(1.0, r * r)

    def d_yy(x, y, out):
        r = math.hypot(x, y)
        return 2.0 * _div(x, r) * _div(y, r) * _div(1.0, r * r)


@declare
class hypot:
    """sqrt(x ** 2 + y ** 2), without overflow

    NOTE: the slopes at (0, 0) are nan, as in PyTorch.
    """

    arity = 2
    function = True
    domain = ((-3.0, 3.0), (0.5, 3.0))

    def value(x, y):
        return math.hypot(x, y)

    def d_x(x, y, out):
        return _div(x, out)

    def d_y(x, y, out):
        return _div(y, out)

    def d_xx(x, y, out):
        return _div(y, out) * _div(y, out) * _div(1.0, out)

    def d_xy(x, y, out):
        return -_div(x, out) * _div(y, out) * _div(1.0, out)

    def d_yy(x, y, out):
        return _div(x, out) * _div(x, out) * _div(1.0, out)
