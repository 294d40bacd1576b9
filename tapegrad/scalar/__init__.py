"""Scalars: ``Value`` (a handle to one tape record) and ``Dual`` (eager forward mode).

Imports the floor, :mod:`tapegrad.ops` and :mod:`tapegrad.core`; never the
array layer above it.  ``Value op ndarray`` becomes a Tensor op through
:func:`tapegrad.scalar.value.promote_arrays`, which the array layer calls
when it is imported.  Both classes take their operators and methods from
the op table through :func:`tapegrad.ops.methods.install`; neither lists
an op by hand.

Rooms: ``value`` (``Value``, and ``as_number``/``index_on``, the public
helpers other layers use to read a number or place a Value on a tape),
``dual`` (``Dual`` and ``apply``).

>>> from tapegrad.scalar import Dual, Value
>>> (Value(3.0) * 2).data, (Dual(3.0, 1.0) * 2).tangent
(6.0, 2.0)
"""

from tapegrad.scalar.dual import Dual
from tapegrad.scalar.value import Value

__all__ = ["Value", "Dual"]
