"""The scalar op table: every op tapegrad records, each declared once.

The floor of the package above :mod:`tapegrad.jit` and
:mod:`tapegrad.errors`: it imports nothing else of tapegrad, and every layer
above derives its rules from here.

Rooms: ``table`` (:class:`Op`, :func:`declare`, ``OPS``), the families in
code order (``arithmetic``: the input leaf and binary ops; ``elementary``:
unary functions; ``select``: comparisons, the guard, piecewise ops),
``numerics`` (math with NumPy's inf/nan, in Python and in kernels) and
``methods`` (how rows become methods of Value, Dual and Tensor and module
functions).  A new scalar op is one block appended to the last family
(``select``) or to a new family file imported last below; then
``make generate`` rewrites the generated sweeps.

>>> from tapegrad.ops import OPS
>>> OPS["exp"].value(0.0)
1.0
"""

from tapegrad.ops.table import OPS, SECOND_OF, Op, declare
from tapegrad.ops import arithmetic, elementary, select  # noqa: F401  (declare into OPS, in this order)

BY_CODE = {op.code: op for op in OPS.values()}

__all__ = ["OPS", "BY_CODE", "SECOND_OF", "Op", "declare"]
