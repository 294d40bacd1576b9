"""Piecewise functions whose choice stays on the tape.

``if x > y: ... else: ...`` is a branch of Python: the tape holds only the
branch taken, and a replay at an input that would take the other one raises
:class:`~tapegrad.errors.BranchChanged`.  These functions make the choice a
record instead, so a replay chooses anew (as ``relu`` and ``abs`` do):

>>> import tapegrad as tg
>>> rec = tg.record(lambda x: tg.where(x > 0, x * x, -x), 2.0)
>>> rec(3.0), rec(-3.0)   # no BranchChanged: the condition is data
(9.0, 3.0)
>>> tg.maximum(1.0, 2.0), tg.where(False, 1.0, 2.0)   # numbers give numbers
(2.0, 2.0)
"""

import numbers

import numpy as np

from tapegrad.scalar.dual import Dual
from tapegrad.ops import OPS
from tapegrad.scalar.value import Value, as_number
from tapegrad.array.ops import result_dtype
from tapegrad.array.mask import Mask, selecting
from tapegrad.core.tape import TRACING
from tapegrad.array.tensor import Tensor, array_binary, check_real

_TRACED = (Value, Dual, Tensor)
_ARRAYS = (np.ndarray, Tensor, Mask)  # an argument that makes the result a Tensor

__all__ = ["maximum", "minimum", "where"]


def _pair(name, x, y):
    """``name``'s rule on two numbers, or its record (or dual number) when
    either is a Value (or a Dual)."""
    if isinstance(x, _ARRAYS) or isinstance(y, _ARRAYS):
        return array_binary(name, x, y)
    if x.__class__ in _TRACED:
        return getattr(x, "_" + name)(y)
    if y.__class__ in _TRACED:  # both rules are symmetric in their arguments
        return getattr(y, "_" + name)(x)
    xn, yn = as_number(x), as_number(y)
    if xn is None or yn is None:
        bad = x if xn is None else y
        raise TypeError(f"tapegrad.{name}() takes real numbers or Values, "
                        f"not {type(bad).__name__}")
    return OPS[name].value(xn, yn)


def maximum(x, y):
    """The larger of ``x`` and ``y`` (nan if either is), as ``np.maximum``.

    At a tie each argument gets half the slope, as in PyTorch.

    >>> import tapegrad as tg
    >>> a, b = tg.Value(2.0), tg.Value(2.0)
    >>> tg.maximum(a, b).backward(); a.grad, b.grad
    (0.5, 0.5)
    """
    return _pair("maximum", x, y)


def minimum(x, y):
    """The smaller of ``x`` and ``y`` (nan if either is), as ``np.minimum``.

    >>> import tapegrad as tg
    >>> tg.minimum(tg.Value(1.0), 3.0).value
    1.0
    >>> tg.minimum(3.0, tg.Dual(1.0, 2.0))
    Dual(value=1.0, tangent=2.0)
    """
    return _pair("minimum", x, y)


def where(condition, x, y):
    """``x`` where ``condition`` is true (nonzero), else ``y``.

    A Value condition (a comparison such as ``v > 0``) is recorded, so a
    replay selects anew; the branch not taken contributes an exact zero to
    the value and the gradient, even where it is inf or nan.  A plain bool
    or number simply picks ``x`` or ``y``.  When an argument is an array or
    a Tensor the result is a Tensor, everything broadcast: a Value or a
    traced Tensor condition (or the Mask of a traced comparison) is
    recorded, any other condition is a constant.

    >>> import tapegrad as tg
    >>> v = tg.Value(-4.0)
    >>> y = tg.where(v > 0, tg.sqrt(v), 0.0)   # sqrt(-4) is nan, not taken
    >>> y.backward(); y.value, v.grad
    (0.0, 0.0)
    >>> t = tg.tensor([1.0, -2.0], requires_grad=True)
    >>> tg.where(v < 0, t * 3.0, 0.0).value   # a Value condition, Tensor branches
    array([ 3., -6.])
    """
    if any(isinstance(v, _ARRAYS) for v in (condition, x, y)):
        return _where_arrays(condition, x, y)
    if condition.__class__ is not Value:
        if as_number(condition) is None and not isinstance(condition, bool):
            raise TypeError("tapegrad.where() takes a Value or a number as its "
                            f"condition, not {type(condition).__name__}")
        return x if condition else y
    return condition._keep_if(x) + condition._keep_unless(y)


def _array_operand(v):
    """A branch of where() as array ops take it: Values and Tensors as they
    are, real numbers and arrays of them as arrays (a Mask leaves as one)."""
    if v.__class__ is Value or isinstance(v, (Tensor, numbers.Real)):
        return v
    array = np.asarray(v)
    check_real(array, f"where() (given a {type(v).__name__})")
    return array


def _where_arrays(condition, x, y):
    """``keep_if(condition, x) + keep_unless(condition, y)`` elementwise, as
    a Tensor: a Value or Tensor condition as it is (recorded when traced), a
    Mask of the recording being traced as its comparison record (a replay
    recomputes it), any other condition as a constant of the branches' dtype."""
    x, y = _array_operand(x), _array_operand(y)
    if condition.__class__ is not Value and not isinstance(condition, Tensor):
        recorded = selecting(condition, TRACING.get())
        if recorded is not None:
            condition = recorded
        else:
            array = np.asarray(condition)  # a Mask of no recording being traced: used
            check_real(array, "where()'s condition")
            condition = array.astype(result_dtype(*(getattr(v, "_v", v) for v in (x, y))))
    return array_binary("keep_if", condition, x) + array_binary("keep_unless", condition, y)
