"""The numba kernels: every compiled loop over a tape's records or an array.

Owns the sweeps and kernels that the layers above call with plain NumPy
columns and numbers; it knows no Tape, Value or Tensor.  Imports only the
floor (:mod:`tapegrad.jit`, :mod:`tapegrad.errors`) and :mod:`tapegrad.ops`,
whose rules every kernel calls: no derivative is written in this layer.

Rooms:

* ``sweeps``: generated; the tape sweeps (reverse, forward replay, tangent,
  forward-over-reverse, and their ``_span`` forms), one opcode dispatch each;
* ``array_rules``: generated; each op elementwise over arrays, with its VJP,
  JVP and VJP-with-tangent, and the ``*_rows`` fast paths;
* ``codegen``: the generator of those two files (``make generate``);
* ``operands``: how the ``*_rows`` kernels read an operand and add into its
  gradient;
* ``passes``: whole passes over a recorded tape (value, gradient, jvp,
  hvp, Hessian, Jacobian, batches), one call from Python each, made of the
  sweeps;
* ``cross_entropy``: the fused ``cross_entropy`` kernels, one pass per row;
* ``reference``: the pure-Python interpreter of the tape, the definition
  the compiled sweeps are tested against.

A new sweep over a tape's records goes in ``codegen/dispatch.py``, as a
generator added to ``source()`` there, with its pure-Python definition in
``reference.py`` and a test of one against the other; then ``make
generate`` writes it into ``sweeps.py`` (never edit that file).  A new
elementwise kernel per op goes in ``codegen/array_kernels.py`` the same
way.  A hand-written kernel that drives the sweeps goes in
``passes.py``; one of a single array op gets a module of its own, as
``cross_entropy.py``.  Every kernel is compiled through
:func:`tapegrad.jit.kernel`.
"""
