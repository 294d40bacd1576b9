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

from tapegrad.scalar.dual import Dual
import numpy as np

from tapegrad.ops import OPS
from tapegrad.array.tensor import Tensor
from tapegrad.scalar.value import Value, _number

# Not "abs": `from tapegrad import *` must not shadow the builtin.
__all__ = ["exp", "log", "tanh", "sigmoid", "sin", "cos", "sqrt", "relu"]


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
        if isinstance(x, (Tensor, np.ndarray)):
            return array_method(x)
        number = _number(x)
        if number is None:
            raise TypeError(f"tapegrad.{op.name}() takes a real number, a Value, a Dual, "
                            f"a Tensor or an array, not {type(x).__name__}")
        return rule(number)

    function.__name__ = function.__qualname__ = op.name
    function.__doc__ = (f"{op.doc[:1].upper()}{op.doc[1:]}, of a Value (recorded), "
                        "a Dual (with its tangent), a Tensor (elementwise) or a number.")
    return function


exp = _function(OPS["exp"])
log = _function(OPS["log"])
tanh = _function(OPS["tanh"])
sigmoid = _function(OPS["sigmoid"])
sin = _function(OPS["sin"])
cos = _function(OPS["cos"])
sqrt = _function(OPS["sqrt"])
abs = _function(OPS["abs"])
relu = _function(OPS["relu"])
