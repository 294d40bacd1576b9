"""The arithmetic of the op table: the input leaf and the binary ops.

Each op is one block (see :mod:`tapegrad.ops.table` for the rule
signatures).  A second partial left out is zero.

>>> from tapegrad.ops import OPS
>>> OPS["div"].value(1.0, 4.0), OPS["div"].partials[1](1.0, 4.0, 0.25)
(0.25, -0.0625)
"""

from tapegrad.ops.numerics import div as _div
from tapegrad.ops.numerics import log as _log
from tapegrad.ops.numerics import pow as _pow
from tapegrad.ops.table import declare


# --- leaves -------------------------------------------------------------


@declare
class input:
    """An independent variable; its ``arg0`` is its position among the inputs."""

    arity = 0


# --- binary ops ---------------------------------------------------------


@declare
class add:
    """x + y"""

    arity = 2
    methods = ("__add__", "__radd__")
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        return x + y

    def d_x(x, y, out):
        return 1.0

    def d_y(x, y, out):
        return 1.0





@declare
class sub:
    """x - y (``2 - v`` is sub with a constant x)"""

    arity = 2
    methods = ("__sub__", "__rsub__")
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        return x - y

    def d_x(x, y, out):
        return 1.0

    def d_y(x, y, out):
        return -1.0





@declare
class mul:
    """x * y"""

    arity = 2
    methods = ("__mul__", "__rmul__")
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        return x * y

    def d_x(x, y, out):
        return y

    def d_y(x, y, out):
        return x


    def d_xy(x, y, out):
        return 1.0



@declare
class div:
    """x / y"""

    arity = 2
    methods = ("__truediv__", "__rtruediv__")
    domain = ((-3.0, 3.0), (0.5, 3.0))

    def value(x, y):
        return _div(x, y)

    def d_x(x, y, out):
        return _div(1.0, y)

    def d_y(x, y, out):
        return -_div(out, y)


    def d_xy(x, y, out):
        return -_div(1.0, y * y)

    def d_yy(x, y, out):
        return _div(2.0 * out, y * y)


@declare
class pow:
    """x ** y

    NOTE: as in PyTorch, d/dx is 0 where y == 0 (so 0 ** 0 has slope 0), and
    d/dy is 0 where x == 0 and y >= 0 (instead of 0 * log 0 = nan).
    """

    arity = 2
    methods = ("__pow__", "__rpow__")
    domain = ((0.5, 2.5), (-2.0, 2.0))

    def value(x, y):
        return _pow(x, y)

    def d_x(x, y, out):
        return 0.0 if y == 0.0 else y * _pow(x, y - 1.0)

    def d_y(x, y, out):
        return 0.0 if x == 0.0 and y >= 0.0 else out * _log(x)

    def d_xx(x, y, out):
        return 0.0 if y == 0.0 or y == 1.0 else y * (y - 1.0) * _pow(x, y - 2.0)

    def d_xy(x, y, out):
        return 0.0 if x == 0.0 and y >= 0.0 else _pow(x, y - 1.0) * (1.0 + y * _log(x))

    def d_yy(x, y, out):
        return 0.0 if x == 0.0 and y >= 0.0 else out * _log(x) * _log(x)
