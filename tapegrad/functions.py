"""Module-level math functions that take Values or plain numbers.

``tapegrad.exp(v)`` records onto ``v``'s tape; ``tapegrad.exp(1.0)`` is just
a float, computed by the same op-table rule (so with NumPy's inf/nan).

>>> import tapegrad as tg
>>> tg.exp(0.0), tg.log(0.0)
(1.0, -inf)
>>> x = tg.Value(0.5)
>>> y = tg.sin(x) * tg.cos(x)
>>> y.backward(); round(x.grad, 12) == round(__import__("math").cos(1.0), 12)
True
"""

import numpy as np

from tapegrad.array import Tensor
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


# One function per op the table marks as one (tapegrad.ops.methods).
globals().update({op.name: _function(op) for op in functions()})

# Not "abs": `from tapegrad import *` must not shadow the builtin.
__all__ = [op.name for op in functions() if op.name != "abs"]
