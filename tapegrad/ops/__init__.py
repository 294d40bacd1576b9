"""The scalar op table: every op tapegrad records, each declared once.

The floor of the package above :mod:`tapegrad.jit` and
:mod:`tapegrad.errors`: it imports nothing else of tapegrad, and every layer
above derives its rules from here.

Rooms: ``table`` (:class:`Op`, :func:`declare`, ``OPS``), the families in
code order (``arithmetic``: the input leaf and binary ops; ``elementary``:
unary functions; ``select``: comparisons, the guard, piecewise ops;
``trigonometric``: NumPy's tan, inverse and hyperbolic functions, ``arctan2``
and ``hypot``; ``exponential``: NumPy's ``expm1``, ``log1p``, ``exp2``,
``log2``, ``log10``, ``reciprocal``, ``cbrt``, ``sign``, ``logaddexp`` and
``logaddexp2``; ``rounding``: ``floor``, ``ceil``, ``trunc``, ``rint``,
``remainder`` (``%``) and ``fmod``; ``special``: ``sinc``, ``fmax``,
``fmin``, ``copysign`` and ``heaviside``),
``numerics`` (math with NumPy's inf/nan, in Python and in kernels) and
``methods`` (how rows become methods of Value, Dual and Tensor and module
functions).  A new scalar op is one block in the family it belongs to;
then ``make generate`` rewrites the generated sweeps.  Codes follow the
order of declaration (the families are imported below in a fixed order), so
an op added mid-table renumbers the ones after it: nothing stores a code but
the generated files, which ``make generate`` rewrites and a test keeps
current.

>>> from tapegrad.ops import OPS
>>> OPS["exp"].value(0.0)
1.0
"""

from tapegrad.ops.table import OPS, SECOND_OF, Op, declare
from tapegrad.ops import arithmetic, elementary, select  # noqa: F401  (declare into OPS, in this order)
from tapegrad.ops import trigonometric, exponential  # noqa: F401,E402  (then these, after)
from tapegrad.ops import rounding, special  # noqa: F401,E402  (and these last)

BY_CODE = {op.code: op for op in OPS.values()}

__all__ = ["OPS", "BY_CODE", "SECOND_OF", "Op", "declare"]
