"""NumPy's exponential, logarithmic and power ufuncs: ``expm1``, ``log1p``,
``exp2``, ``log2``, ``log10``, ``reciprocal``, ``cbrt``, ``sign`` and the
binary ``logaddexp`` and ``logaddexp2``, with NumPy's names and its inf/nan.

Each op is one block (see :mod:`tapegrad.ops.table` for the rule
signatures); ``NOTE:`` marks a point where the derivative is a convention
(PyTorch's).  A second partial left out is zero.

>>> from tapegrad.ops import OPS
>>> OPS["log1p"].value(-1.0), OPS["reciprocal"].value(0.0), OPS["sign"].value(-0.0)
(-inf, inf, 0.0)
>>> OPS["logaddexp"].value(1000.0, 1000.0) == 1000.0 + OPS["log"].value(2.0)
True
"""

import math

from tapegrad.ops.numerics import cbrt as _cbrt
from tapegrad.ops.numerics import div as _div
from tapegrad.ops.numerics import exp as _exp
from tapegrad.ops.numerics import exp2 as _exp2
from tapegrad.ops.numerics import expm1 as _expm1
from tapegrad.ops.numerics import log1p as _log1p
from tapegrad.ops.numerics import log2 as _log2
from tapegrad.ops.numerics import log10 as _log10
from tapegrad.ops.table import declare

LN2 = 0.6931471805599453  # log(2)
LN10 = 2.302585092994046  # log(10)
LOG2E = 1.4426950408889634  # 1 / log(2)


# --- unary ops ----------------------------------------------------------


@declare
class expm1:
    """e ** x - 1, exact near 0"""

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return _expm1(x)

    def d_x(x, out):
        return _exp(x)

    def d_xx(x, out):
        return _exp(x)


@declare
class log1p:
    """log(1 + x), exact near 0"""

    arity = 1
    domain = ((-0.5, 3.0),)

    def value(x):
        return _log1p(x)

    def d_x(x, out):
        return _div(1.0, 1.0 + x)

    def d_xx(x, out):
        return -_div(1.0, (1.0 + x) * (1.0 + x))


@declare
class exp2:
    """2 ** x"""

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return _exp2(x)

    def d_x(x, out):
        return out * LN2

    def d_xx(x, out):
        return out * LN2 * LN2


@declare
class log2:
    """base-2 logarithm"""

    arity = 1
    domain = ((0.2, 4.0),)

    def value(x):
        return _log2(x)

    def d_x(x, out):
        return _div(LOG2E, x)

    def d_xx(x, out):
        return -_div(LOG2E, x * x)


@declare
class log10:
    """base-10 logarithm"""

    arity = 1
    domain = ((0.2, 4.0),)

    def value(x):
        return _log10(x)

    def d_x(x, out):
        return _div(1.0, x * LN10)

    def d_xx(x, out):
        return -_div(1.0, x * x * LN10)


@declare
class reciprocal:
    """1 / x

    NOTE: the slope at 0 is -inf, as in PyTorch.
    """

    arity = 1
    domain = ((0.3, 3.0),)

    def value(x):
        return _div(1.0, x)

    def d_x(x, out):
        return -(out * out)

    def d_xx(x, out):
        return 2.0 * out * out * out


@declare
class cbrt:
    """real cube root

    NOTE: the slope at 0 is inf.
    """

    arity = 1
    domain = ((0.2, 4.0),)

    def value(x):
        return _cbrt(x)

    def d_x(x, out):
        return _div(1.0, 3.0 * out * out)

    def d_xx(x, out):
        return -_div(2.0, 9.0 * out * out * out * out * out)


@declare
class sign:
    """-1, 0 or 1 by the sign of x; nan stays nan

    NOTE: sign' = 0 everywhere, 0 included, as in PyTorch.
    """

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        if x > 0.0:
            return 1.0
        if x < 0.0:
            return -1.0
        return 0.0 if x == 0.0 else x  # +0.0 for -0.0, as NumPy; nan stays

    def d_x(x, out):
        return 0.0


# --- binary ops ---------------------------------------------------------
# Both follow NumPy's npy_logaddexp(2) step for step, so they agree with it
# to the bit: equal arguments (infinities included) first, then the larger
# plus the log of one plus the smaller's share, and a nan difference as is.


@declare
class logaddexp:
    """log(e ** x + e ** y), without overflow"""

    arity = 2
    function = True
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        if x == y:
            return x + LN2
        d = x - y
        if d > 0.0:
            return x + math.log1p(math.exp(-d))
        if d <= 0.0:
            return y + math.log1p(math.exp(d))
        return d

    def d_x(x, y, out):
        return math.exp(x - out)

    def d_y(x, y, out):
        return math.exp(y - out)

    def d_xx(x, y, out):
        return math.exp(x - out) * math.exp(y - out)

    def d_xy(x, y, out):
        return -(math.exp(x - out) * math.exp(y - out))

    def d_yy(x, y, out):
        return math.exp(x - out) * math.exp(y - out)


@declare
class logaddexp2:
    """log2(2 ** x + 2 ** y), without overflow"""

    arity = 2
    function = True
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        if x == y:
            return x + 1.0
        d = x - y
        if d > 0.0:
            return x + LOG2E * math.log1p(_exp2(-d))
        if d <= 0.0:
            return y + LOG2E * math.log1p(_exp2(d))
        return d

    def d_x(x, y, out):
        return _exp2(x - out)

    def d_y(x, y, out):
        return _exp2(y - out)

    def d_xx(x, y, out):
        return LN2 * _exp2(x - out) * _exp2(y - out)

    def d_xy(x, y, out):
        return -(LN2 * _exp2(x - out) * _exp2(y - out))

    def d_yy(x, y, out):
        return LN2 * _exp2(x - out) * _exp2(y - out)
