"""NumPy's ufuncs on Values and Tensors: each is a row of the scalar op table.

``np.exp(t)`` records the table's ``exp`` elementwise, ``np.add(a, t)`` its
``add``, broadcast: the rules are the table's (:mod:`tapegrad.ops`), so
``Value``, ``Dual``, the replay sweeps and fusion know them all.  A table
row named as NumPy names its ufunc (``arctan2``, ``log1p``, ...) is that
ufunc here by itself; the arithmetic rows, whose names are Python's
(``sub``, ``div``, ``neg``), are listed once below with their NumPy names.
Comparisons behave as the operators do (a Value of 0 or 1, a Tensor's
boolean array or, while :func:`tapegrad.record` traces, a Mask); the ufuncs
that give data with no derivative (``isnan``, ``signbit``, ...) run on the
plain values.

>>> import numpy as np, tapegrad as tg
>>> x = tg.Value(0.5)
>>> y = np.exp(x) * np.sin(x) - 2.0 * np.arctan2(x, 1.0)
>>> y.backward(); round(x.grad, 6)
0.637328
>>> np.hypot(tg.tensor([3.0]), np.array([4.0])).value
array([5.])
"""

import math

import operator

import numpy as np

from tapegrad import functions
from tapegrad.core.numpy_protocol import implements, passthrough
from tapegrad.ops.methods import functions as function_ops
from tapegrad.piecewise import maximum, minimum, where
from tapegrad.scalar import Value
from tapegrad.array import Tensor, array_binary

_FAMILY = "ufuncs"
_TRACED = (Value, Tensor)
_OWN = frozenset({Value, Tensor, float, int})  # operands Python's operators take as they are


def _operator(name, apply):
    """``np.<ufunc>(x, y)`` as the operator ``apply`` (``operator.add``):
    an array on one side and a traced value on the other is one array op."""

    def ufunc(x, y):
        if x.__class__ in _OWN and y.__class__ in _OWN:  # the common case first
            return apply(x, y)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            return array_binary(name, x, y)
        if isinstance(x, np.generic):  # np.float64(2) - v: not back through NumPy
            x = x.item()
        if isinstance(y, np.generic):
            y = y.item()
        return apply(x, y)

    ufunc.__name__ = name
    return ufunc


# The arithmetic rows: NumPy's name -> (the table's row, Python's operator).
_ARITHMETIC = {
    np.add: ("add", operator.add), np.subtract: ("sub", operator.sub),
    np.multiply: ("mul", operator.mul), np.true_divide: ("div", operator.truediv),
    np.power: ("pow", operator.pow), np.float_power: ("pow", operator.pow),
}
for _ufunc, (_name, _apply) in _ARITHMETIC.items():
    implements(_ufunc, family=_FAMILY, note=f"the table's `{_name}`")(_operator(_name, _apply))

# Comparisons: data, as the operators give it (a Mask while record() traces).
_COMPARISONS = {np.less: operator.lt, np.less_equal: operator.le, np.greater: operator.gt,
                np.greater_equal: operator.ge, np.equal: operator.eq,
                np.not_equal: operator.ne}
_SWAPPED = {operator.lt: operator.gt, operator.le: operator.ge, operator.gt: operator.lt,
            operator.ge: operator.le, operator.eq: operator.eq, operator.ne: operator.ne}


def _comparison(compare):
    def ufunc(x, y):
        if isinstance(x, _TRACED):
            return compare(x, y)
        return _SWAPPED[compare](y, x)  # the traced side decides

    return ufunc


for _ufunc, _compare in _COMPARISONS.items():
    implements(_ufunc, family=_FAMILY, note="data: no gradient (a Mask while record() traces)")(
        _comparison(_compare))


@implements(np.negative, family=_FAMILY, note="the table's `neg`")
def negative(x):
    return -x


@implements(np.positive, family=_FAMILY)
def positive(x):
    return +x if isinstance(x, Value) else x * 1.0


@implements(np.square, family=_FAMILY)
def square(x):
    return x.square() if isinstance(x, _TRACED) else np.square(x)


@implements(np.absolute, np.fabs, family=_FAMILY, note="the table's `abs`")
def absolute(x):
    return functions.abs(x)


@implements(np.maximum, family=_FAMILY, note="ties share the gradient, as PyTorch")
def _maximum(x, y):
    return maximum(x, y)


@implements(np.minimum, family=_FAMILY, note="ties share the gradient, as PyTorch")
def _minimum(x, y):
    return minimum(x, y)


@implements(np.deg2rad, np.radians, family=_FAMILY)
def deg2rad(x):
    return x * (math.pi / 180.0)


@implements(np.rad2deg, np.degrees, family=_FAMILY)
def rad2deg(x):
    return x * (180.0 / math.pi)


# Real arrays only: these are the identity, or data with no gradient.
@implements(np.conjugate, np.real, np.real_if_close, family=_FAMILY,
            note="real values: the identity")
def real(x, *args, **kwargs):
    return x


@implements(np.imag, family=_FAMILY, note="real values: zeros")
def imag(x):
    return x * 0.0


@implements(np.angle, family=_FAMILY, note="real values: 0 or pi, no gradient")
def angle(x, deg=False):
    return where(x < 0, 180.0 if deg else math.pi, 0.0)


# Every other row of the table named as a NumPy ufunc is that ufunc (np.sinc, a
# plain function of NumPy's, too).
_PIECEWISE = (np.maximum, np.minimum)  # registered above
for _op in function_ops():
    _ufunc = np.sinc if _op.name == "sinc" else _op.ufunc
    if _ufunc is not None and _ufunc not in _PIECEWISE:
        implements(_ufunc, family=_FAMILY)(getattr(functions, _op.name))

passthrough(np.isnan, np.isinf, np.isfinite, np.signbit, np.logical_and, np.logical_or,
            np.logical_xor, np.logical_not, family=_FAMILY, reads=True,
            note="data: no gradient")

del _ufunc, _name, _apply, _compare, _op
__all__ = []
