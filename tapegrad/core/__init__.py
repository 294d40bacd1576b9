"""The tape: where records are stored, how long they live, and what checks them.

Imports only the floor (:mod:`tapegrad.errors`, :mod:`tapegrad.jit`),
:mod:`tapegrad.ops` and :mod:`tapegrad.kernels`; it knows no Value, Tensor
or array op.  The array layer above installs what a tape with array records
needs (their reverse sweep, their names for debug messages) when it is
imported; a scalar tape never pays for it.

Rooms:

* ``tape``: ``Recording`` (the struct-of-arrays columns ``op``, ``arg0``,
  ``arg1``, ``const``, ``val`` and their growth), ``Tape`` (the context
  manager), the implicit recording and ``TRACING`` (what ``record()``
  traces), both context variables;
* ``arena``: the pool of NumPy arrays that array records' values live in;
* ``debug``: ``debug_mode()``, which names the first record that produced a
  non-finite value or adjoint;
* ``extensions``: ``ARRAYS``, the hooks the array layer fills in at import
  (its input opcode, its reverse sweep, its op names).

>>> from tapegrad.core import Tape
>>> with Tape() as tape:
...     pass
>>> len(tape)
0
"""

from tapegrad.core.tape import Tape

__all__ = ["Tape"]
