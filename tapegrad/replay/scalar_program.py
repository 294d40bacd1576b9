"""Replay of recorded programs of scalar records only: :class:`ScalarProgram`.

When ``f`` made no array record, :func:`~tapegrad.replay.record.record`
keeps its tape as a :class:`ScalarProgram`: the columns without their dead
records (:func:`prune`), replayed by the compiled kernels of
:mod:`tapegrad.kernels.passes`.  Every replay (value, gradient,
Jacobian-vector and vector-Jacobian products, Hessian-vector products,
Hessian, Jacobian) is one kernel call over the columns: no Python runs per
record.

What a replay writes (the ``val`` column, the inputs, the adjoint and
tangent buffers) is each thread's own (:class:`_Work`, made at a thread's
first call), so threads sharing a program never see each other's numbers,
and its kernels, which release the GIL, run side by side.

>>> import numpy as np, tapegrad as tg
>>> rec = tg.record(lambda x: x[0] * x[1] + tg.sin(x[0]), np.array([1.0, 2.0]))
>>> type(rec.program).__name__
'ScalarProgram'
>>> rec.jacobian(np.array([0.0, 3.0]))
array([4., 0.])
"""

import threading

import numba
import numpy as np

from tapegrad.core import debug
from tapegrad.errors import BranchChanged
from tapegrad.kernels import passes
from tapegrad.ops import OPS
from tapegrad.replay.program import ONE, Program, TapeView

_INPUT = OPS["input"].code
_GUARDS = [op.code for op in OPS.values() if op.guard]
_F64 = np.dtype(np.float64)
# A parallel kernel launched from two Python threads at once aborts the
# process under numba's workqueue threading layer (the fallback when neither
# TBB nor OpenMP is installed); batches use every core already, so they
# take turns.
_BATCH = threading.Lock()


def prune(columns, outputs, sites):
    """The recording without its dead records: those that neither an
    output nor a guard depends on (inputs all stay, in order).  Values of the
    records kept are unchanged, so replay is bitwise what it was.  Returns
    ``(columns, outputs, sites)`` renumbered."""
    op = columns["op"]
    live = np.isin(op, [_INPUT, *_GUARDS])
    live[outputs[outputs >= 0]] = True
    passes.mark_live(op, columns["arg0"], columns["arg1"], live, _INPUT)
    if live.all():
        return {name: np.ascontiguousarray(c) for name, c in columns.items()}, outputs, dict(sites)
    renumber = np.cumsum(live) - 1
    kept = {name: np.ascontiguousarray(c[live]) for name, c in columns.items()}
    computed = kept["op"] != _INPUT  # an input's arg0 is its position, not a record
    for name in ("arg0", "arg1"):
        args = kept[name]
        moved = computed & (args >= 0)
        args[moved] = renumber[args[moved]]
    outputs = np.where(outputs >= 0, renumber[np.maximum(outputs, 0)], -1)
    return kept, outputs, {int(renumber[i]): site for i, site in sites.items() if live[i]}


def loaded_branch_changed(error, origin):
    """``error`` (a BranchChanged) as a program read from a file raises it:
    its message says that ``origin`` (the file) holds no ``f`` to record
    again.  A program traced here (``origin`` None) raises ``error`` as is."""
    if origin is None:
        return error
    return BranchChanged(
        f"{error} [this recording was {origin}: it holds no f to record again at this "
        "input; record f here in a process that has its source]",
        record=error.record, site=error.site)


class _Work:
    """One thread's mutable state of a :class:`ScalarProgram`: its ``val``
    column (the recorded values to start with), inputs, and the adjoint and
    tangent buffers of the kernels."""

    __slots__ = ("cols", "val", "inputs", "adj", "tan", "adj_tan", "_tape")

    def __init__(self, program):
        columns = program._columns
        n = len(columns["op"])
        self.val = columns["val"].copy()
        self.cols = (columns["op"], columns["arg0"], columns["arg1"], columns["const"],
                     self.val)
        self.inputs = np.empty(program._n_inputs)
        self.adj, self.tan, self.adj_tan = np.zeros(n), np.zeros(n), np.zeros(n)
        self._tape = None

    def tape(self, columns):
        """A read-only view of the columns with this thread's ``val``."""
        if self._tape is None:
            self._tape = TapeView({**columns, "val": self.val})
        return self._tape


class ScalarProgram(Program):
    """A recording of scalar records, replayed by compiled kernels.

    Made by ``owner`` (the Recorded) from the traced ``tape`` once ``f`` has
    returned: ``outputs`` is :func:`~tapegrad.replay.program.outputs_of` its
    result, ``n_leaves`` the number of traced inputs.
    """

    #: Where a program read from a file came from (None: traced here).
    _origin = None

    def __init__(self, owner, tape, outputs, n_leaves):
        rec = tape._rec
        outputs, constants, scalar = outputs
        columns, outputs, sites = prune(rec.columns(), outputs, rec.sites)
        self._adopt(owner, columns, (outputs, constants, scalar), sites,
                    rec.leaves[n_leaves:], n_leaves)
        tape.release()  # its values are not the user's: free the buffers

    @classmethod
    def from_parts(cls, owner, columns, outputs, sites, extra, n_leaves, origin):
        """A program of ``owner`` from parts read back from a file
        (:mod:`tapegrad.replay.tapefile`), checked there: the ``columns``
        (already pruned), ``outputs`` as :func:`~tapegrad.replay.program.outputs_of`
        gives them, ``sites``, ``extra`` (objects whose ``_v`` is each
        outside leaf's value, fixed) and the number of inputs of ``f``;
        ``origin`` says where it came from, for the changed-branch message."""
        program = cls.__new__(cls)
        program._adopt(owner, columns, outputs, sites, extra, n_leaves)
        program._origin = origin
        return program

    def _adopt(self, owner, columns, outputs, sites, extra, n_leaves):
        self.owner = owner
        self.structure = structure = owner.structure
        outputs, constants, scalar = outputs
        self._columns, self._sites = columns, sites
        self._recorded_val = self._columns["val"]  # never replayed into: see _Work
        self._extra = extra  # leaves from outside f
        self._outputs, self._constants, self.scalar_output = outputs, constants, scalar
        self._input_records = np.flatnonzero(self._columns["op"] == _INPUT)
        self._input_records = self._input_records[:n_leaves].astype(np.int64)
        self._n_inputs = n_leaves + len(self._extra)
        self._local = threading.local()  # .work: the calling thread's _Work
        self._cols = tuple(self._columns[name] for name in ("op", "arg0", "arg1", "const", "val"))
        self._out0 = int(outputs[0]) if scalar else -1
        self._array_input = structure.kind == "array"
        self._recorded_tape = TapeView(self._columns)

    def _branch_changed(self, i):
        return loaded_branch_changed(super()._branch_changed(i), self._origin)

    @property
    def tape(self):
        """The columns, read-only, with the values of this thread's last
        replay (the recorded values before its first)."""
        work = getattr(self._local, "work", None)
        return self._recorded_tape if work is None else work.tape(self._columns)

    def _new_work(self):
        """The calling thread's first call: its own :class:`_Work`."""
        work = self._local.work = _Work(self)
        return work

    # --- replay ---------------------------------------------------------------

    def _load(self, inputs, x):
        """Put ``x`` (and the outside leaves' current values) in ``inputs``."""
        n = self.structure.size
        if (self._array_input and x.__class__ is np.ndarray and x.dtype is _F64
                and x.ndim == 1 and x.shape[0] == n):
            inputs[:n] = x
        elif x.__class__ is float and self.structure.kind == "scalar":
            inputs[0] = x
        else:
            inputs[:n] = self.structure.flatten(x)
        if self._extra:
            for k, leaf in enumerate(self._extra):
                inputs[n + k] = leaf._v
        return inputs

    def _run(self, work, x, kernel, *args):
        """``kernel(columns, inputs, *args)`` on this thread's ``work``; None,
        or the program to hand the call to when a changed branch made the
        owner record ``f`` again (at ``x``, so it takes ``x``'s branches)."""
        inputs = self._load(work.inputs, x)
        changed = kernel(*work.cols, inputs, *args)
        if debug.enabled():
            debug.check_finite(work.tape(self._columns), len(self), adjoints=False)
        if changed < 0:
            return None
        work.val[:] = self._recorded_val  # keep the recorded guards
        if not self.owner.retrace:
            raise self._branch_changed(changed)
        return self.owner._trace_again(inputs[: self.structure.size].copy())

    def _gradient_like(self, flat):
        """A new flat vector, as an argument of the inputs' structure."""
        if self._array_input:
            return flat
        return self.structure.unflatten(flat)

    # Each method takes its thread's _Work inline (try, not a call: the
    # cheapest way on the hot path).

    def __call__(self, x):
        try:
            work = self._local.work
        except AttributeError:
            work = self._new_work()
        fresh = self._run(work, x, passes.evaluate)
        if fresh is not None:
            return fresh(x)
        return self._output_values(work.val)

    def _value_and_vjp(self, x, weights):
        try:
            work = self._local.work
        except AttributeError:
            work = self._new_work()
        grad = np.empty(self.structure.size)
        fresh = self._run(work, x, passes.value_and_vjp, work.adj, self._outputs, weights,
                          self._input_records, grad)
        if fresh is not None:
            return fresh._value_and_vjp(x, weights)
        return self._output_values(work.val), self._gradient_like(grad)

    def jvp(self, x, v):
        try:
            work = self._local.work
        except AttributeError:
            work = self._new_work()
        direction = self._direction(v)
        tan_out = np.empty(self.n_outputs)
        fresh = self._run(work, x, passes.value_and_jvp, work.tan, direction, self._outputs,
                          tan_out)
        if fresh is not None:
            return fresh.jvp(x, v)
        value = self._output_values(work.val)
        return value, (float(tan_out[0]) if self.scalar_output else tan_out)

    def grad_and_hvp(self, x, v):
        self._require_scalar("hvp")
        n = self.structure.size
        grad, hv = np.empty(n), np.empty(n)
        direction = self._direction(v)
        try:
            work = self._local.work
        except AttributeError:
            work = self._new_work()
        fresh = self._run(work, x, passes.value_grad_and_hvp, work.tan, direction, work.adj,
                          work.adj_tan, self._outputs, ONE, self._input_records, grad, hv)
        if fresh is not None:
            return fresh.grad_and_hvp(x, v)
        return self._gradient_like(grad), self._gradient_like(hv)

    def hessian(self, x):
        self._require_scalar("hessian")
        n = self.structure.size
        out, grad = np.empty((n, n)), np.empty(n)
        try:
            work = self._local.work
        except AttributeError:
            work = self._new_work()
        fresh = self._run(work, x, passes.hessian, work.tan, work.adj, work.adj_tan,
                          self._outputs, ONE, self._input_records, grad, out)
        if fresh is not None:
            return fresh.hessian(x)
        return out

    def jacobian(self, x):
        n = self.structure.size
        out = np.empty((self.n_outputs, n))
        try:
            work = self._local.work
        except AttributeError:
            work = self._new_work()
        fresh = self._run(work, x, passes.jacobian, work.adj, self._outputs,
                          self._input_records, out)
        if fresh is not None:
            return fresh.jacobian(x)
        return out[0] if self.scalar_output else out

    def batch_value_and_grad(self, points):
        self._require_scalar("batch_value_and_grad")
        points = self._points(points)
        rows, n = points.shape
        values, grads = np.empty((rows, 1)), np.empty((rows, n))
        changed = np.empty(rows, dtype=np.int64)
        extra = np.array([leaf._v for leaf in self._extra], dtype=np.float64)
        with _BATCH:  # the kernel reads the recorded columns only; each chunk has its own
            passes.batch_value_and_vjp(*self._cols[:4], self._recorded_val, points, extra,
                                        self._outputs, ONE, self._input_records, values,
                                        grads, changed, numba.get_num_threads())
        for row in np.flatnonzero(changed >= 0):
            if not self.owner.retrace:
                raise self._branch_changed(changed[row])
            values[row, 0], grads[row] = self.owner._value_and_grad_afresh(points[row])
        return values[:, 0], grads

    def _direction(self, v):
        direction = np.zeros(self._n_inputs)  # outside leaves stay still
        direction[: self.structure.size] = self._direction_flat(v)
        return direction
