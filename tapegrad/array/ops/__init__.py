"""The array op table: what an array record computes and its VJP.

Rooms, one family a file, imported below in this fixed order (the declared
ops' opcodes follow it, so it never changes; a new family goes last):

* ``table``: :class:`ArrayOp`, :func:`declare`, ``ARRAY_OPS``, the opcode
  ranges (``ELEMENTWISE``, ``ARRAY_INPUT``, ``STRUCTURAL``) and the rule
  helpers the families share;
* ``elementwise``: every scalar op of :mod:`tapegrad.ops` on arrays,
  broadcast (no declarations: its opcodes are ``ELEMENTWISE + scalar code``);
* ``reductions``: ``sum``, ``mean``, ``amax``, ``amin``;
* ``structural``: ``reshape``, ``transpose``, ``getitem``, ``item``,
  ``concatenate``, ``stack``, ``astype``;
* ``linear``: ``matmul`` and ``linear``;
* ``softmax``: ``logsumexp``, ``softmax``, ``log_softmax``, ``cross_entropy``;
* ``statistics``: ``prod``, ``cumsum``, ``cumprod`` (and running extrema);
* ``shaping``: ``broadcast_to``, ``flip``, ``roll``, ``repeat``, ``diagonal``,
  ``diag``, ``triangle``, ``pad``, ``sort``, ``clip``, ``nan_to_num``;
* ``contraction``: ``einsum`` (two operands) and ``einsum1`` (one);
* ``linalg``: ``solve``, ``inv``, ``det``, ``slogdet``, ``cholesky``, ``pinv``;
* ``decompositions``: ``eigh``, ``eigvalsh``, ``svd``, ``svdvals``, ``qr``;
* ``primitive``: ``primitive`` and ``primitive_scalar``, which record every
  user-declared op (:func:`tapegrad.primitive`).

The NumPy functions that record these ops are registered in
:mod:`tapegrad.numpy`.

Here the table is indexed by opcode: ``ARRAY_BY_CODE`` (declared ops) and
``ELEMENTWISE_BY_CODE`` (opcode -> the scalar :class:`~tapegrad.ops.Op`).

>>> import numpy as np
>>> ARRAY_BY_CODE[ARRAY_OPS["sum"].code].value([np.ones((2, 3))], {"axis": 0, "keepdims": False})
array([2., 2., 2.])
>>> ELEMENTWISE_BY_CODE[ELEMENTWISE + OPS["mul"].code].name
'mul'
"""

from tapegrad.ops import OPS
from tapegrad.array.ops.table import (
    ARRAY_INPUT, ARRAY_OPS, ELEMENTWISE, STRUCTURAL, ArrayOp, declare,
)
from tapegrad.array.ops.elementwise import (
    broadcast_shape, each_kernel, elementwise, elementwise_vjp, from_layout, layout, operand_2d,
    result_dtype, unbroadcast,
)
# The families declare their ops into ARRAY_OPS, in this order (their opcodes).
from tapegrad.array.ops import reductions, structural, linear, softmax  # noqa: F401,E402
from tapegrad.array.ops import statistics, shaping, contraction, linalg  # noqa: F401,E402
from tapegrad.array.ops import decompositions  # noqa: F401,E402
from tapegrad.array.ops import primitive  # noqa: F401,E402  (last: @tapegrad.primitive)

ARRAY_BY_CODE = {op.code: op for op in ARRAY_OPS.values()}
ELEMENTWISE_BY_CODE = {ELEMENTWISE + op.code: op for op in OPS.values()
                       if op.arity > 0 and not op.guard}
assert max(ELEMENTWISE_BY_CODE) < ARRAY_INPUT < STRUCTURAL


def op_name(code):
    """How debug messages name array opcode ``code``: ``"array <op>"``."""
    if code == ARRAY_INPUT:
        return "array input"
    return f"array {(ELEMENTWISE_BY_CODE.get(code) or ARRAY_BY_CODE[code]).name}"


__all__ = [
    "ARRAY_BY_CODE", "ARRAY_INPUT", "ARRAY_OPS", "ELEMENTWISE", "ELEMENTWISE_BY_CODE",
    "STRUCTURAL", "ArrayOp", "declare", "op_name",
    "broadcast_shape", "each_kernel", "elementwise", "elementwise_vjp", "from_layout", "layout",
    "operand_2d", "result_dtype", "unbroadcast",
]
