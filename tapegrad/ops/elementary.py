"""The unary ops of the op table: elementary functions and ``relu``/``abs``.

Each op is one block (see :mod:`tapegrad.ops.table` for the rule
signatures); ``NOTE:`` marks a kink whose derivative is PyTorch's choice.
A second partial left out is zero.

>>> from tapegrad.ops import OPS
>>> OPS["relu"].partials[0](0.0, 0.0)   # relu'(0) = 0, as in PyTorch
0.0
"""

import math

from tapegrad.ops.numerics import cos as _cos
from tapegrad.ops.numerics import div as _div
from tapegrad.ops.numerics import exp as _exp
from tapegrad.ops.numerics import log as _log
from tapegrad.ops.numerics import sin as _sin
from tapegrad.ops.numerics import sqrt as _sqrt
from tapegrad.ops.table import declare


# --- unary ops ----------------------------------------------------------


@declare
class neg:
    """-x"""

    arity = 1
    methods = ("__neg__",)
    function = False  # spelled -x
    domain = ((-3.0, 3.0),)

    def value(x):
        return -x

    def d_x(x, out):
        return -1.0



@declare
class square:
    """x ** 2 (``v ** 2`` records this: a multiply, not a pow)"""

    arity = 1
    function = False  # spelled x ** 2
    domain = ((-3.0, 3.0),)

    def value(x):
        return x * x

    def d_x(x, out):
        return 2.0 * x

    def d_xx(x, out):
        return 2.0


@declare
class exp:
    """e ** x"""

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return _exp(x)

    def d_x(x, out):
        return out

    def d_xx(x, out):
        return out


@declare
class log:
    """natural logarithm"""

    arity = 1
    domain = ((0.2, 4.0),)

    def value(x):
        return _log(x)

    def d_x(x, out):
        return _div(1.0, x)

    def d_xx(x, out):
        return -_div(1.0, x * x)


@declare
class tanh:
    """hyperbolic tangent"""

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return math.tanh(x)

    def d_x(x, out):
        return 1.0 - out * out

    def d_xx(x, out):
        return -2.0 * out * (1.0 - out * out)


@declare
class sigmoid:
    """1 / (1 + e ** -x)"""

    arity = 1
    domain = ((-4.0, 4.0),)

    def value(x):
        return _div(1.0, 1.0 + _exp(-x))

    def d_x(x, out):
        return out * (1.0 - out)

    def d_xx(x, out):
        return out * (1.0 - out) * (1.0 - 2.0 * out)


@declare
class sin:
    """sine"""

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return _sin(x)

    def d_x(x, out):
        return _cos(x)

    def d_xx(x, out):
        return -out


@declare
class cos:
    """cosine"""

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return _cos(x)

    def d_x(x, out):
        return -_sin(x)

    def d_xx(x, out):
        return -out


@declare
class sqrt:
    """square root

    NOTE: the slope at 0 is inf, as in PyTorch and NumPy.
    """

    arity = 1
    domain = ((0.2, 4.0),)

    def value(x):
        return _sqrt(x)

    def d_x(x, out):
        return _div(0.5, out)

    def d_xx(x, out):
        return -_div(0.25, out * out * out)


@declare
class abs:
    """absolute value

    NOTE: abs'(0) = 0, as in PyTorch (the sign of x).
    """

    arity = 1
    methods = ("__abs__",)
    domain = ((-3.0, 3.0),)

    def value(x):
        return math.fabs(x)

    def d_x(x, out):
        return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)



@declare
class relu:
    """max(x, 0); nan stays nan

    NOTE: relu'(0) = 0, as in PyTorch.
    """

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return 0.0 if x <= 0.0 else x

    def d_x(x, out):
        return 1.0 if x > 0.0 else 0.0

    def d_xx(x, out):
        return 0.0
