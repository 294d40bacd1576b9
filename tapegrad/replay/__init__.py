"""Record once, replay many: ``record(f, x0)`` and the :class:`Recorded` it returns.

The layer owns tracing a Python function into a tape and replaying that
tape at new inputs, with its derivatives (gradient, Jacobian-vector and
vector-Jacobian products, Hessian-vector products, Hessian, Jacobian),
without running ``f`` again unless a guard comes out the other way with
``retrace=True``.  It also owns the shapes of the arguments that ``record``
and the functional API (:mod:`tapegrad.transforms`) accept.

Imports everything below it: the floor (:mod:`tapegrad.errors`,
:mod:`tapegrad.jit`), :mod:`tapegrad.ops`, :mod:`tapegrad.kernels`,
:mod:`tapegrad.core`, :mod:`tapegrad.scalar`, :mod:`tapegrad.array` and
:mod:`tapegrad.fusion`; nothing above it (transforms, functions, piecewise,
check, nn, optim, benchmark).  Inside, the rooms import each other in one
direction only: ``record`` -> ``tapefile`` -> ``scalar_program``,
``array_program`` -> ``program`` -> ``structure`` -> nothing of replay.

One :class:`Recorded` may be shared by threads: each thread replays into
state of its own (see :class:`Recorded`).

Rooms:

* ``record``: :func:`record` and :class:`Recorded` (tracing ``f``, retracing
  it, and handing every call to the program it holds);
* ``program``: ``Program``, what both kinds of program share (outputs,
  ``TapeView``, argument checks, the changed-guard message);
* ``scalar_program``: ``ScalarProgram``, scalar records replayed by one
  compiled kernel per call (:mod:`tapegrad.kernels.passes`);
* ``array_program``: ``ArrayProgram``, array records replayed op by op with
  fused elementwise chains and the mixed sweeps of :mod:`tapegrad.array`;
* ``schedule``: a program that is one fused group summed or averaged, and
  ops on that one number (the vectorized Rosenbrock), replayed by one
  generated kernel a call, value and gradient;
* ``dense``: a chain of dense layers under a cross entropy (SimpleNet),
  replayed as one generated kernel a call, or a schedule of BLAS calls,
  into buffers made once;
* ``array_gradients``: the reverse-mode methods of ``ArrayProgram``
  (gradients, vector-Jacobian products, ``value_and_backward``);
* ``array_tangents``: the forward-mode and second-order methods of
  ``ArrayProgram``;
* ``snapshot``: ``Snapshot``, an array program's columns and arena as
  recorded, and each thread's fork of them to replay into;
* ``structure``: ``Structure``, the shape of an argument (numbers, 1-D
  arrays, Tensors, tuples and lists): flatten, unflatten, traced leaves;
* ``tapefile``: recordings as files (``Recorded.save``, :func:`load`,
  :func:`loads`, pickling): the versioned format, checked when read.

>>> from tapegrad.replay import record
>>> rec = record(lambda x: x * x, 3.0)
>>> rec.value_and_grad(2.0)
(4.0, 4.0)
"""

from tapegrad.replay.record import Recorded, load, loads, record

__all__ = ["record", "Recorded", "load", "loads"]
