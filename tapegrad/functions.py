"""Module-level math functions that take Values or plain numbers.

``tapegrad.exp(v)`` records onto ``v``'s tape; ``tapegrad.exp(1.0)`` is just
a float, computed by the same op-table rule (so with NumPy's inf/nan).  The
names and semantics are NumPy's (``arcsin``, ``log1p``, ``arctan2``, ...);
the binary ones take a number, Value, Dual, Tensor or array on either side.

>>> import math, tapegrad as tg
>>> tg.exp(0.0), tg.log(0.0)
(1.0, -inf)
>>> x = tg.Value(0.5)
>>> y = tg.sin(x) * tg.cos(x)
>>> y.backward(); round(x.grad, 12) == round(__import__("math").cos(1.0), 12)
True
>>> tg.arctan2(0.0, tg.Dual(-1.0, 1.0)).value == math.pi   # np.arctan2(0.0, -1.0)
True
>>> tg.hypot(3.0, tg.Dual(4.0, 1.0))
Dual(value=5.0, tangent=0.8)
"""

import numpy as np

from tapegrad.array import Tensor
from tapegrad.array.tensor import array_binary
from tapegrad.array.mask import Mask
from tapegrad.ops.methods import functions
from tapegrad.scalar import Dual, Value
from tapegrad.scalar.value import as_number


def _function(op):
    rule = op.value
    method = getattr(Value, op.name)
    dual_method = getattr(Dual, op.name)
    array_method = getattr(Tensor, op.name)

    def function(x):
        if x.__class__ is Value:
            return method(x)
        if x.__class__ is Dual:
            return dual_method(x)
        if isinstance(x, (Tensor, np.ndarray, Mask)):  # a Mask's data: a guard
            return array_method(x)
        number = as_number(x)
        if number is None:
            raise TypeError(f"tapegrad.{op.name}() takes a real number, a Value, a Dual, "
                            f"a Tensor or an array, not {type(x).__name__}")
        return rule(number)

    function.__name__ = function.__qualname__ = op.name
    function.__module__ = __name__
    function.__doc__ = (f"{op.doc[:1].upper()}{op.doc[1:]}, of a Value (recorded), "
                        "a Dual (with its tangent), a Tensor (elementwise) or a number.")
    return function


_ARRAYS = (Tensor, np.ndarray, Mask)  # an operand that makes the result a Tensor


def _binary_function(op):
    """``tapegrad.<name>(x, y)`` of a binary op: a Tensor if either side is
    an array, else a record if either is a Value, else a Dual if either is
    one, else the rule on two floats."""
    name, rule = op.name, op.value
    private, reflected = "_" + name, "_r" + name

    def function(x, y):
        if isinstance(x, _ARRAYS) or isinstance(y, _ARRAYS):
            return array_binary(name, x, y)
        traced = {x.__class__, y.__class__} & {Value, Dual}
        if len(traced) == 2:
            raise TypeError(f"tapegrad.{name}() cannot combine a Value and a Dual")
        if traced:
            first = x.__class__ in traced
            other = y if first else x
            if other.__class__ not in traced and as_number(other) is None:
                _not_a_number(name, other)
            return getattr(x, private)(y) if first else getattr(y, reflected)(x)
        xn, yn = as_number(x), as_number(y)
        if xn is None or yn is None:
            _not_a_number(name, x if xn is None else y)
        return rule(xn, yn)

    function.__name__ = function.__qualname__ = name
    function.__module__ = __name__
    function.__doc__ = (f"{op.doc[:1].upper()}{op.doc[1:]}, of Values (recorded), Duals (with "
                        "their tangents), Tensors or arrays (elementwise, broadcast) or numbers, "
                        "in any mix.")
    return function


def _not_a_number(name, x):
    raise TypeError(f"tapegrad.{name}() takes real numbers, Values, Duals, Tensors "
                    f"or arrays, not {type(x).__name__}")


# One function per op the table marks as one (tapegrad.ops.methods).
globals().update({op.name: (_function if op.arity == 1 else _binary_function)(op)
                  for op in functions()})

# Not "abs": `from tapegrad import *` must not shadow the builtin.
__all__ = [op.name for op in functions() if op.name != "abs"]
