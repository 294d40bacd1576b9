"""tapegrad: exact gradients of Python code, swept by compiled kernels.

Ops on :class:`Value` append records to a flat tape of NumPy arrays
(:mod:`tapegrad.core.tape`); ``backward()`` runs one numba kernel over it in
reverse.  Every op is declared once, in :mod:`tapegrad.ops`.

>>> import tapegrad as tg
>>> x = tg.Value(2.0)
>>> y = tg.tanh(x * 3.0 + 1.0) + x ** 2
>>> y.backward()
>>> round(x.grad, 3)   # 3 * tanh'(7) + 2 * x
4.0
"""

from tapegrad.check import check_grad
from tapegrad.core.debug import debug_mode, set_debug
from tapegrad.scalar.dual import Dual
from tapegrad.errors import (
    BranchChanged, MixedTapeError, NonFiniteError, StaleValueError, TapeError,
)
from tapegrad.transforms import grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from tapegrad.functions import abs, cos, exp, log, relu, sigmoid, sin, sqrt, tanh
from tapegrad.ops import OPS
from tapegrad.piecewise import maximum, minimum, where
from tapegrad.replay.record import Recorded, record
from tapegrad.scalar.value import Value
from tapegrad.core.tape import FrozenReadWarning, Tape
from tapegrad.array import (
    Tensor, concatenate, cross_entropy, linear, log_softmax, logsumexp, matmul, softmax, stack,
    tensor,
)

OPS_BY_CODE = {op.code: op for op in OPS.values()}

__version__ = "0.1.0"

__all__ = [
    "Value", "Tape", "OPS", "OPS_BY_CODE", "record", "Recorded",
    "grad", "value_and_grad", "jacobian", "hessian", "jvp", "vjp", "hvp",
    "exp", "log", "tanh", "sigmoid", "sin", "cos", "sqrt", "relu",  # and tapegrad.abs
    "maximum", "minimum", "where",
    "tensor", "Tensor", "matmul", "linear", "softmax", "log_softmax", "logsumexp", "cross_entropy",
    "concatenate", "stack",
    "Dual", "check_grad",
    "debug_mode", "set_debug",
    "TapeError", "StaleValueError", "MixedTapeError", "NonFiniteError", "BranchChanged",
    "FrozenReadWarning",
]
