"""The array layer: NumPy arrays on the tape (``Tensor``), one record per op.

Owns the :class:`Tensor` and everything recorded about arrays: the array op
table (what each array record computes and its VJP), the sweeps of a tape
that holds array records (reverse, tangent, reverse-tangent), and masks.
It sits above ``tapegrad.scalar`` and may import only from the layers
below it: ``tapegrad.errors``, ``tapegrad.jit``, ``tapegrad.ops``,
``tapegrad.kernels``, ``tapegrad.core`` and ``tapegrad.scalar`` (never
from ``fusion``, ``replay`` or the top modules, and never late, inside a
function).  Every name another layer imports from here is public; names
with a leading underscore stay inside the module that defines them.

Rooms:

* ``ops/``: the array op table, one family a file (``table``, ``elementwise``,
  ``reductions``, ``structural``, ``linear``, ``softmax``; see its docstring);
* ``rows``: the fast path of elementwise ops (row layouts, row kernels);
* ``reverse``: the reverse sweep of a tape with array records;
* ``tangent``: forward mode and forward-over-reverse over array records;
* ``mask``: comparisons of traced Tensors, which a replay recomputes;
* ``tensor``: the ``Tensor`` class, ``tensor()``, ``matmul`` and how an array
  op is recorded (``record_array_op``, ``recorder``);
* ``routines``: the other array functions (``linear``, ``softmax``,
  ``log_softmax``, ``logsumexp``, ``cross_entropy``, ``concatenate``, ``stack``).

A new array op: if it is elementwise, it is a row of the scalar table
(:mod:`tapegrad.ops`) and arrives here by itself.  Otherwise declare it with
:func:`~tapegrad.array.ops.table.declare` as one block (``value`` and ``vjp``
or ``vjp_into``, plus ``jvp`` and ``vjp_tangent`` unless it is ``linear`` or
``bilinear``; ``arity``, ``scalar_output`` when they differ) at the end of
the family file it belongs to, or of ``ops/softmax.py`` when it fits none
(or in a new family file imported last in ``ops/__init__.py``).  Then give it
a method in ``tensor.py`` or a function in ``routines.py`` that checks the
shapes and calls ``recorder(name)``, and export it here.

Importing this package hands the tape what it needs of array records
(:func:`tapegrad.core.extensions.install_arrays`) and makes ``Value op
ndarray`` give a Tensor (:func:`tapegrad.scalar.value.promote_arrays`, called
by ``tensor``).

>>> import numpy as np
>>> from tapegrad.array import tensor
>>> x = tensor([1.0, 2.0], requires_grad=True)
>>> (x * x).sum().backward(); x.grad
array([2., 4.])
"""

from tapegrad.core.extensions import install_arrays
from tapegrad.array.ops import ARRAY_INPUT, op_name
from tapegrad.array.reverse import reverse_mixed
from tapegrad.array.tensor import Tensor, array_binary, matmul, tensor
from tapegrad.array.routines import (
    concatenate, cross_entropy, linear, log_softmax, logsumexp, softmax, stack,
)

install_arrays(input_code=ARRAY_INPUT, reverse=reverse_mixed, name_of=op_name)

__all__ = [
    "Tensor", "tensor", "array_binary", "matmul", "linear", "softmax", "log_softmax", "logsumexp",
    "cross_entropy", "concatenate", "stack",
]
