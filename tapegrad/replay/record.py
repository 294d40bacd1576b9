"""Record once, replay many: :func:`record`.

``record(f, x0)`` runs ``f`` once on traced values and keeps its tape.  The
returned :class:`Recorded` evaluates the same program at any new input of
the same structure, with its gradient, Jacobian-vector and vector-Jacobian
products, Hessian-vector products and Hessian, each as one compiled kernel
over the tape: no Python runs per record.

>>> import numpy as np, tapegrad as tg
>>> rec = tg.record(lambda x: x[0] * x[1] + tg.sin(x[0]), np.array([1.0, 2.0]))
>>> rec.grad(np.array([0.0, 3.0]))       # [x1 + cos(x0), x0] at (0, 3)
array([4., 0.])
>>> rec.hvp(np.array([0.0, 3.0]), np.array([1.0, 0.0]))
array([0., 1.])

The tape is a program of ``f``'s inputs only if ``f``'s control flow is:
every ``if`` on a traced value is recorded as a guard, and a replay whose
guard would come out the other way raises :class:`~tapegrad.BranchChanged`
(or, with ``retrace=True``, records ``f`` again at the new input).  Numbers
read off traced values (``v.data``) are constants to every replay: that
warns once.  Leaves ``f`` uses from outside (parameters in a closure) are
read afresh at every call.

Nested differentiation (``tg.grad(tg.grad(f))``, or ``f`` calling
``record`` on its own traced values) raises TypeError naming
:func:`tapegrad.hessian` and :func:`tapegrad.hvp`: the sweeps that compute a
derivative record nothing, so a derivative of one would be silently wrong.
"""

import contextvars
import itertools
import threading

import numpy as np

from tapegrad.array.tensor import Tensor
from tapegrad.core.tape import TRACING, Tape, current_recording
from tapegrad.replay.array_program import ArrayProgram
from tapegrad.replay.program import outputs_of
from tapegrad.replay.scalar_program import ScalarProgram
from tapegrad.replay.structure import Structure
from tapegrad.scalar.value import Value

NESTED = (
    "{what}: {found}: differentiating a derivative (tapegrad.grad of tapegrad.grad, or "
    "record() on values an enclosing trace or tape follows) is not supported: the sweeps "
    "that compute derivatives record nothing, so the result would be silently wrong.  For "
    "second derivatives use tapegrad.hessian(f)(x) or tapegrad.hvp(f, x, v) (forward over "
    "reverse; record(f, x).hessian, .hvp or .grad_and_hvp to replay them); for the number "
    "alone, pass plain values (v.data, t.value)")

# The input leaves of the recording record() is tracing, as (recording, ids):
# a record() inside f must not read them.
_INPUTS = contextvars.ContextVar("tapegrad_traced_inputs", default=None)
_PLAIN = (float, int, np.ndarray, np.float64)


def _traced(x, tracing):
    """What in the argument ``x`` is traced on a tape ("a Value", ...), or None."""
    if x.__class__ in _PLAIN:
        return None
    if isinstance(x, Value):
        return "a Value, not a plain number"
    if isinstance(x, Tensor):
        if x._rec is not None:
            return "a Tensor computed on a tape"
        if tracing is not None and x.requires_grad and x._serial == tracing.serial:
            return "a Tensor input of the enclosing trace"
        return None
    if isinstance(x, (tuple, list)):
        for item in x:
            found = _traced(item, tracing)
            if found is not None:
                return found
    return None


def refuse_traced(x, what="tapegrad.record(f, x)"):
    """TypeError (naming tapegrad.hessian and hvp) when the argument ``x``
    holds values traced on a tape: differentiating a derivative."""
    if x.__class__ in _PLAIN:
        return
    found = _traced(x, TRACING.get())
    if found is not None:
        raise TypeError(NESTED.format(what=what, found=f"x holds {found}"))



def _forwarded(name, doc):
    """A read-only property of :class:`Recorded` that is its program's."""
    return property(lambda self: getattr(self.program, name), doc=doc)


class Recorded:
    """A recorded program of ``f``: call it, or ask for derivatives, at any
    input shaped like the one it was recorded at (see :func:`record`).

    It traces ``f`` and keeps the result as its ``program``: a
    :class:`~tapegrad.replay.scalar_program.ScalarProgram`, or an
    :class:`~tapegrad.replay.array_program.ArrayProgram` when ``f`` made
    array records; a retrace replaces it.  Each method below hands its call
    to the program.

    Thread-safe: threads may share one Recorded and call any method at
    once; each gets, bitwise, what it would get alone.  What a replay writes
    (values, adjoints, tangents, an array program's arrays) is each
    thread's own, made at its first call (so the compiled kernels, which
    release the GIL, run in parallel); results are new arrays.  With
    ``retrace=True``, recordings of ``f`` take turns (a lock: ``f`` never
    runs in two threads at once for one Recorded); a call that records
    ``f`` again finishes on the program it recorded, and one already
    running on the program a retrace replaced finishes on that program.
    ``program`` is then the latest recording, and ``retraces`` counts them
    all.  Leaves from outside ``f`` (parameters in a closure) are read at
    each call: changing them while another thread replays is the caller's
    race.
    """

    def __init__(self, f, x0, retrace=False, fuse=True):
        refuse_traced(x0)
        self._f = f
        self.retrace = retrace
        self.fuse = fuse  # array programs: fuse elementwise chains (tapegrad.fusion.plan)
        self.retraces = 0  # how many times a changed branch made it record again
        self.structure = Structure.of(x0)
        self.program = None
        self._tracing = threading.RLock()  # one recording of f at a time
        self._trace(self.structure.flatten(x0))

    # --- recording ----------------------------------------------------------

    def _trace(self, flat):
        """Run ``f`` on traced leaves at the flat input ``flat``; keep its
        tape as the program of its kind, and return that program."""
        tape = Tape()
        rec = tape._rec
        rec.sites = {}
        argument, leaves = self.structure.leaves(flat)
        for leaf in leaves:  # inputs first, in order
            if leaf.__class__ is Value:
                rec.register(leaf)
            else:
                rec.register_array(leaf)
        around = _Around(TRACING.get())
        token = TRACING.set(rec)
        inputs = _INPUTS.set((rec, {id(leaf) for leaf in leaves}))
        try:
            with tape:
                try:
                    out = self._f(argument)
                except Exception as error:
                    around.check(rec, error)
                    raise
                around.check(rec)
                if rec.array_records:
                    program = ArrayProgram(self, tape, out)
                else:
                    program = None
                    outputs = outputs_of(out, rec)
        finally:
            _INPUTS.reset(inputs)
            TRACING.reset(token)
        if program is None:
            program = ScalarProgram(self, tape, outputs, len(leaves))
        self.program = program  # whole, in one store: a reader sees the old or the new
        return program

    def _trace_again(self, flat):
        """A guard came out the other way at ``flat`` with ``retrace=True``:
        record ``f`` there and return the new program, for the program that
        asked to hand its call to (at ``flat`` it takes ``flat``'s branches,
        whatever another thread has recorded since)."""
        with self._tracing:
            self.retraces += 1
            return self._trace(flat)

    def _value_and_grad_afresh(self, flat):
        """A batch row whose branch differs, in retrace mode: its own recording."""
        with self._tracing:
            self.retraces += 1
            fresh = Recorded(self._f, self.structure.unflatten(flat))
        value, grad = fresh.value_and_grad(self.structure.unflatten(flat))
        return value, fresh.structure.flatten(grad)

    # --- what was recorded ------------------------------------------------------

    tape = _forwarded("tape", "The recorded program's columns, read-only.")
    fusion = _forwarded("fusion", "The fused elementwise groups of an array program "
                                  "(None if none).")
    scalar_output = _forwarded("scalar_output", "Whether ``f`` returns one number.")
    n_outputs = _forwarded("n_outputs", "How many numbers ``f`` returns.")

    @property
    def n_inputs(self):
        return self.structure.size

    def __len__(self):
        return len(self.program)

    def __repr__(self):
        kind = "scalar" if self.scalar_output else f"{self.n_outputs} outputs"
        return (f"<tapegrad.Recorded: {len(self)} records, {self.n_inputs} inputs, "
                f"{kind}, retraced {self.retraces} times>")

    # --- replay ---------------------------------------------------------------
    # A traced argument (a Value, a computed Tensor) is nested differentiation:
    # refuse_traced says so (plain floats and arrays pass at the first test).

    def __call__(self, x):
        """The value of ``f`` at ``x``."""
        refuse_traced(x, "Recorded(x)")
        return self.program(x)

    def vjp(self, x, w):
        """``(f(x), w . df/dx)``; ``w`` has one weight per output."""
        refuse_traced(x, "Recorded.vjp(x, w)")
        return self.program.vjp(x, w)

    def value_and_grad(self, x):
        """``(f(x), df/dx)`` for a scalar ``f``; the gradient has ``x``'s structure."""
        refuse_traced(x, "Recorded.value_and_grad(x)")
        return self.program.value_and_grad(x)

    def grad(self, x):
        """``df/dx`` for a scalar ``f``, with ``x``'s structure."""
        refuse_traced(x, "Recorded.grad(x)")
        return self.program.grad(x)

    def jvp(self, x, v):
        """``(f(x), df/dx . v)``; ``v`` has ``x``'s structure."""
        refuse_traced(x, "Recorded.jvp(x, v)")
        return self.program.jvp(x, v)

    def hvp(self, x, v):
        """The Hessian of a scalar ``f`` at ``x`` times ``v`` (forward over reverse)."""
        refuse_traced(x, "Recorded.hvp(x, v)")
        return self.program.hvp(x, v)

    def grad_and_hvp(self, x, v):
        """``(df/dx, d2f/dx2 . v)``, both with ``x``'s structure."""
        refuse_traced(x, "Recorded.grad_and_hvp(x, v)")
        return self.program.grad_and_hvp(x, v)

    def hessian(self, x):
        """The Hessian of a scalar ``f`` at ``x``, shape (n, n) over the
        flattened inputs."""
        refuse_traced(x, "Recorded.hessian(x)")
        return self.program.hessian(x)

    def jacobian(self, x):
        """d(outputs)/d(inputs) at ``x``: shape (n,) for a scalar ``f``, else
        (m, n) over the flattened inputs; by reverse or forward sweeps,
        whichever are fewer."""
        refuse_traced(x, "Recorded.jacobian(x)")
        return self.program.jacobian(x)

    def batch_value_and_grad(self, points):
        """``(values, grads)`` at each row of the 2-D array ``points``, for a
        scalar ``f``: rows in parallel (numba ``prange``) for a scalar
        program, one replay per row for an array program."""
        return self.program.batch_value_and_grad(points)


class _Around:
    """What surrounds one trace of ``f``: the recording an enclosing
    record() traces (and its input leaves) and the current recording, with
    their lengths, to tell whether ``f`` read the enclosing trace's values."""

    def __init__(self, tracing):
        outer = _INPUTS.get()
        self.inputs = outer[1] if outer is not None and outer[0] is tracing else set()
        self.recordings = [r for r in {tracing, current_recording()} if r is not None]
        self.lengths = [r.n for r in self.recordings]

    def check(self, rec, error=None):
        """Raise the nested-differentiation TypeError if ``f``, traced on
        ``rec``, recorded onto an enclosing recording or read one of the
        enclosing trace's inputs (from ``error``, if ``f`` raised)."""
        grew = any(r.n != n for r, n in zip(self.recordings, self.lengths))
        read = self.inputs and any(id(leaf) in self.inputs
                                   for leaf in itertools.chain(rec.leaves, rec.array_leaves))
        if grew or read:
            found = ("f records onto an enclosing recording (it computes with a value "
                     "traced there)" if grew else
                     "f reads an input of the enclosing trace (from a closure)")
            raise TypeError(NESTED.format(what="tapegrad.record(f, x)", found=found)) from error


def record(f, x0, *, retrace=False, fuse=True):
    """Record ``f`` at ``x0`` once, to evaluate and differentiate it anywhere.

    ``x0`` is a number, a 1-D float array, or a tuple or list of them; ``f``
    gets traced Values in the same structure (an array as a list of Values)
    and returns a Value, a number, or a sequence of them.  See
    :class:`Recorded` for what the recording does.  With array code, chains
    of elementwise ops are fused (:mod:`tapegrad.fusion.plan`) unless ``fuse`` is
    False: their kernels compile at the first call, once per machine.

    >>> import tapegrad as tg
    >>> def f(x):
    ...     return x * x if x > 0 else -x
    >>> rec = tg.record(f, 3.0)
    >>> rec.value_and_grad(5.0)
    (25.0, 10.0)
    >>> rec(-1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    tapegrad.errors.BranchChanged: replay would take another branch: ...
    >>> rec = tg.record(f, 3.0, retrace=True)
    >>> rec.value_and_grad(-1.0), rec.retraces
    ((1.0, -1.0), 1)
    """
    return Recorded(f, x0, retrace=retrace, fuse=fuse)
