"""NumPy's rounding and remainder ufuncs: ``floor``, ``ceil``, ``trunc``,
``rint`` and the binary ``remainder`` (``np.mod``, Python's ``%``) and
``fmod``, with NumPy's names, signed zeros and inf/nan.

Each op is one block (see :mod:`tapegrad.ops.table` for the rule
signatures).  The rounding ops are steps: their slope is 0 (also at the
jumps, as in PyTorch), and they are recorded anyway so that a replay
recomputes them.  A remainder is ``x - k * y`` for the integer ``k`` its value
was computed with, so its slope in ``y`` is ``-k``: the quotient rounded
down for ``remainder``, toward zero for ``fmod``, read back from the value as
``(x - out) / y`` (which is what Python's ``//`` does).

>>> from tapegrad.ops import OPS
>>> OPS["remainder"].value(-7.0, 2.0), OPS["fmod"].value(-7.0, 2.0)
(1.0, -1.0)
>>> OPS["remainder"].partials[1](-7.0, 2.0, 1.0), OPS["fmod"].partials[1](-7.0, 2.0, -1.0)
(4.0, 3.0)
>>> OPS["ceil"].value(-0.5), OPS["rint"].value(2.5), OPS["floor"].partials[0](1.5, 1.0)
(-0.0, 2.0, 0.0)
"""

import math

from tapegrad.ops.numerics import ceil as _ceil
from tapegrad.ops.numerics import div as _div
from tapegrad.ops.numerics import floor as _floor
from tapegrad.ops.numerics import fmod as _fmod
from tapegrad.ops.numerics import rint as _rint
from tapegrad.ops.numerics import trunc as _trunc
from tapegrad.ops.table import declare


# --- unary ops: steps ---------------------------------------------------


@declare
class floor:
    """the largest integer not above x

    NOTE: slope 0 everywhere, the jumps included, as in PyTorch.
    """

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return _floor(x)

    def d_x(x, out):
        return 0.0


@declare
class ceil:
    """the smallest integer not below x

    NOTE: slope 0 everywhere, the jumps included, as in PyTorch.
    """

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return _ceil(x)

    def d_x(x, out):
        return 0.0


@declare
class trunc:
    """x rounded toward zero

    NOTE: slope 0 everywhere, the jumps included, as in PyTorch.
    """

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return _trunc(x)

    def d_x(x, out):
        return 0.0


@declare
class rint:
    """x rounded to the nearest integer, halves to even

    NOTE: slope 0 everywhere, the jumps included, as in PyTorch.
    """

    arity = 1
    domain = ((-3.0, 3.0),)

    def value(x):
        return _rint(x)

    def d_x(x, out):
        return 0.0


# --- binary ops: remainders ---------------------------------------------


@declare
class remainder:
    """x modulo y with the sign of y, as Python's ``%`` and ``np.remainder``

    NOTE: at a jump the slope in y is that of the piece the value is on.
    """

    arity = 2
    function = True
    methods = ("__mod__", "__rmod__")
    domain = ((-3.0, 3.0), (0.5, 3.0))

    def value(x, y):  # NumPy's npy_remainder, step for step
        mod = _fmod(x, y)
        if y == 0.0:
            return mod
        if mod != 0.0:  # nan included
            if (y < 0.0) != (mod < 0.0):
                mod += y
            return mod
        return math.copysign(0.0, y)

    def d_x(x, y, out):
        return 1.0

    def d_y(x, y, out):
        return -_rint(_div(x - out, y))


@declare
class fmod:
    """x modulo y with the sign of x, as C's ``fmod`` and ``np.fmod``

    NOTE: at a jump the slope in y is that of the piece the value is on.
    """

    arity = 2
    function = True
    domain = ((-3.0, 3.0), (0.5, 3.0))

    def value(x, y):
        return _fmod(x, y)

    def d_x(x, y, out):
        return 1.0

    def d_y(x, y, out):
        return -_rint(_div(x - out, y))
