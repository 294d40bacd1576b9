"""tapegrad: exact gradients of Python code, swept by compiled kernels.

Ops on :class:`Value` append records to a flat tape of NumPy arrays
(:mod:`tapegrad.core.tape`); ``backward()`` runs one numba kernel over it in
reverse.  Every op is declared once, in :mod:`tapegrad.ops`.  The README's
"How it works" draws the package's floors.

>>> import tapegrad as tg
>>> x = tg.Value(2.0)
>>> y = tg.tanh(x * 3.0 + 1.0) + x ** 2
>>> y.backward()
>>> round(x.grad, 3)   # 3 * tanh'(7) + 2 * x
4.0
"""

from tapegrad import functions
from tapegrad.array import (
    Tensor, concatenate, cross_entropy, linear, log_softmax, logsumexp, matmul, softmax, stack,
    tensor,
)
from tapegrad.check import check_grad
from tapegrad.core.debug import debug_mode, set_debug
from tapegrad.core.tape import FrozenReadWarning, Tape
from tapegrad.errors import (
    BranchChanged, ClosedTapeError, MixedTapeError, NonFiniteError, StaleValueError, TapeError,
    TapeFileError,
)
from tapegrad.functions import *  # noqa: F401,F403  (exp, log, ...: one per op the table marks)
from tapegrad.functions import abs  # noqa: F401  (not in __all__: it would shadow the builtin)
from tapegrad.ops import BY_CODE as OPS_BY_CODE
from tapegrad.ops import OPS
from tapegrad.piecewise import maximum, minimum, where
from tapegrad.primitives import primitive
from tapegrad import numpy as _numpy_api  # noqa: F401  (NumPy's functions on Values and Tensors)
from tapegrad.replay import Recorded, load, record
from tapegrad.scalar import Dual, Value
from tapegrad.transforms import grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp

__version__ = "0.1.0"

__all__ = [
    "Value", "Tape", "OPS", "OPS_BY_CODE", "record", "Recorded", "load",
    "grad", "value_and_grad", "jacobian", "hessian", "jvp", "vjp", "hvp",
    *functions.__all__,  # and tapegrad.abs
    "maximum", "minimum", "where",
    "primitive",
    "tensor", "Tensor", "matmul", "linear", "softmax", "log_softmax", "logsumexp", "cross_entropy",
    "concatenate", "stack",
    "Dual", "check_grad",
    "debug_mode", "set_debug",
    "TapeError", "StaleValueError", "MixedTapeError", "NonFiniteError", "BranchChanged",
    "ClosedTapeError", "TapeFileError", "FrozenReadWarning",
]
