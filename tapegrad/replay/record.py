"""Record once, replay many: :func:`record`.

``record(f, x0)`` runs ``f`` once on traced values and keeps its tape.  The
returned :class:`Recorded` evaluates the same program at any new input of
the same structure, with its gradient, Jacobian-vector and vector-Jacobian
products, Hessian-vector products and Hessian, each as one compiled kernel
over the tape: no Python runs per record.

>>> import tapegrad as tg
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
"""

import linecache

import numba
import numpy as np

from tapegrad.kernels import scalar_replay as _replay
from tapegrad.core import debug
from tapegrad.errors import BranchChanged
from tapegrad.ops import OPS
from tapegrad.scalar.value import Value, _index, _number
from tapegrad.replay.structure import Structure
from tapegrad.core.tape import _TRACING, Tape

_BY_CODE = {op.code: op for op in OPS.values()}


class TapeView:
    """A read-only look at a recorded program's columns."""

    arrays = params = {}  # a replayed tape holds no array records

    def __init__(self, columns):
        for name, column in columns.items():
            view = column.view()
            view.flags.writeable = False
            setattr(self, name, view)

    def __len__(self):
        return len(self.op)

    def __repr__(self):
        counts = {}
        for code in self.op.tolist():
            name = _BY_CODE[code].name
            counts[name] = counts.get(name, 0) + 1
        ops = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
        return f"<recorded tape: {len(self)} records ({ops})>"


def _outputs(out, rec):
    """``(record indices, constants, is_scalar)`` of ``f``'s result."""
    scalar = not isinstance(out, (list, tuple, np.ndarray))
    items = [out] if scalar else list(out)
    if isinstance(out, np.ndarray) and out.ndim != 1:
        raise ValueError(f"f must return a number or a 1-D sequence, got shape {out.shape}")
    records, constants = [], []
    for k, item in enumerate(items):
        if item.__class__ is Value:
            records.append(_index(item, rec))
            constants.append(0.0)
            continue
        number = _number(item)
        if number is None:
            raise TypeError(f"f returned {type(item).__name__} at output {k}: "
                            "expected Values or numbers")
        records.append(-1)
        constants.append(number)
    return np.array(records, dtype=np.int64), np.array(constants), scalar


_INPUT = OPS["input"].code
_GUARDS = [op.code for op in OPS.values() if op.guard]


def _prune(columns, outputs, sites):
    """The recording without its dead records: those that neither an
    output nor a guard depends on (inputs all stay, in order).  Values of the
    records kept are unchanged, so replay is bitwise what it was.  Returns
    ``(columns, outputs, sites)`` renumbered."""
    op = columns["op"]
    live = np.isin(op, [_INPUT, *_GUARDS])
    live[outputs[outputs >= 0]] = True
    _replay.mark_live(op, columns["arg0"], columns["arg1"], live, _INPUT)
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


class Recorded:
    """A recorded program of ``f``: call it, or ask for derivatives, at any
    input shaped like the one it was recorded at (see :func:`record`).

    Not thread-safe: calls reuse work buffers.  Results are new arrays.
    """

    def __init__(self, f, x0, retrace=False, fuse=True):
        self._f = f
        self.retrace = retrace
        self.fuse = fuse  # array programs: fuse elementwise chains (tapegrad.fusion.plan)
        self.retraces = 0  # how many times a changed branch made it record again
        self.structure = Structure.of(x0)
        self._trace(self.structure.flatten(x0))

    # --- recording ----------------------------------------------------------

    def _trace(self, flat):
        tape = Tape()
        rec = tape._rec
        rec.sites = {}
        argument, leaves = self.structure.leaves(flat)
        for leaf in leaves:  # inputs first, in order
            if leaf.__class__ is Value:
                rec.register(leaf)
            else:
                rec.register_array(leaf)
        token = _TRACING.set(rec)
        try:
            with tape:
                out = self._f(argument)
                if rec.array_records:
                    from tapegrad.replay.array_program import ArrayRecorded

                    self.__class__ = ArrayRecorded
                    self._adopt(tape, out)
                    return
                outputs, constants, scalar = _outputs(out, rec)
        finally:
            _TRACING.reset(token)
        self.__class__ = Recorded  # a retrace may have left array code behind
        self._columns, outputs, self._sites = _prune(rec.columns(), outputs, rec.sites)
        n = len(self._columns["op"])
        self._recorded_val = self._columns["val"].copy()
        self._extra = rec.leaves[len(leaves):]  # leaves from outside f
        self._outputs, self._constants, self.scalar_output = outputs, constants, scalar
        self._input_records = np.flatnonzero(self._columns["op"] == OPS["input"].code)
        self._input_records = self._input_records[: len(leaves)].astype(np.int64)
        self._inputs = np.empty(len(leaves) + len(self._extra))
        self._work = [np.zeros(n) for _ in range(3)]  # adj, tan, adj_tan
        self._cols = tuple(self._columns[name] for name in ("op", "arg0", "arg1", "const", "val"))
        self._out0 = int(outputs[0]) if scalar else -1
        self._array_input = self.structure.kind == "array"
        tape.release()  # its values are not the user's: free the buffers
        self.tape = TapeView(self._columns)

    def __len__(self):
        return len(self.tape)

    @property
    def n_inputs(self):
        return self.structure.size

    @property
    def n_outputs(self):
        return len(self._outputs)

    def __repr__(self):
        kind = "scalar" if self.scalar_output else f"{self.n_outputs} outputs"
        return (f"<tapegrad.Recorded: {len(self)} records, {self.n_inputs} inputs, "
                f"{kind}, retraced {self.retraces} times>")

    # --- replay ---------------------------------------------------------------

    def _load(self, x):
        """Put ``x`` (and the outside leaves' current values) in the inputs."""
        inputs = self._inputs
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

    def _run(self, x, kernel, *args):
        """``kernel(columns, inputs, *args)``, handling a changed branch."""
        inputs = self._load(x)
        changed = kernel(*self._cols, inputs, *args)
        if debug.enabled():
            debug.check_finite(self.tape, len(self), adjoints=False)
        if changed < 0:
            return inputs
        self._columns["val"][:] = self._recorded_val  # keep the recorded guards
        if not self.retrace:
            raise self._branch_changed(changed)
        self.retraces += 1
        self._trace(inputs[: self.structure.size].copy())
        return None  # the caller runs again on the new tape

    def _branch_changed(self, i):
        condition = self._columns["arg0"][i]
        what = _BY_CODE[int(self._columns["op"][condition])].name
        site = self._sites.get(i)
        where = ""
        if site is not None:
            line = linecache.getline(site[0], site[1]).strip()
            where = f" made at {site[0]}:{site[1]}" + (f" ({line})" if line else "")
        return BranchChanged(
            f"replay would take another branch: the guard at record {i} (on the "
            f"{what} at record {condition}){where} comes out the other way at this "
            "input; record f again here, or use record(f, x0, retrace=True), or "
            "tapegrad.where/maximum/minimum to keep the choice on the tape",
            record=int(i), site=site)

    def _output_values(self):
        val = self._columns["val"]
        if self.scalar_output:
            o = self._out0
            return val.item(o) if o >= 0 else self._constants.item(0)
        return np.where(self._outputs >= 0, val[self._outputs], self._constants)

    def _gradient_like(self, flat):
        """A new flat vector, as an argument of the inputs' structure."""
        if self._array_input:
            return flat
        return self.structure.unflatten(flat)

    def __call__(self, x):
        """The value of ``f`` at ``x``."""
        while self._run(x, _replay.evaluate) is None:
            pass
        return self._output_values()

    def vjp(self, x, w):
        """``(f(x), w . df/dx)``; ``w`` has one weight per output."""
        weights = np.ascontiguousarray(w, dtype=np.float64).reshape(-1)
        if len(weights) != self.n_outputs:
            raise ValueError(f"vjp: {len(weights)} weights for {self.n_outputs} outputs")
        return self._value_and_vjp(x, weights)

    def _value_and_vjp(self, x, weights):
        grad = np.empty(self.structure.size)
        while self._run(x, _replay.value_and_vjp, self._work[0], self._outputs, weights,
                        self._input_records, grad) is None:
            pass
        return self._output_values(), self._gradient_like(grad)

    def value_and_grad(self, x):
        """``(f(x), df/dx)`` for a scalar ``f``; the gradient has ``x``'s structure."""
        self._require_scalar("value_and_grad")
        return self._value_and_vjp(x, _ONE)

    def grad(self, x):
        """``df/dx`` for a scalar ``f``, with ``x``'s structure."""
        return self.value_and_grad(x)[1]

    def jvp(self, x, v):
        """``(f(x), df/dx . v)``; ``v`` has ``x``'s structure."""
        direction = self._direction(v)
        tan_out = np.empty(self.n_outputs)
        while self._run(x, _replay.value_and_jvp, self._work[1], direction, self._outputs,
                        tan_out) is None:
            direction = self._direction(v)
        value = self._output_values()
        return value, (float(tan_out[0]) if self.scalar_output else tan_out)

    def hvp(self, x, v):
        """The Hessian of a scalar ``f`` at ``x`` times ``v`` (forward over reverse)."""
        return self.grad_and_hvp(x, v)[1]

    def grad_and_hvp(self, x, v):
        """``(df/dx, d2f/dx2 . v)``, both with ``x``'s structure."""
        self._require_scalar("hvp")
        n = self.structure.size
        grad, hv = np.empty(n), np.empty(n)
        while True:
            direction = self._direction(v)
            adj, tan, adj_tan = self._work
            if self._run(x, _replay.value_grad_and_hvp, tan, direction, adj, adj_tan,
                         self._outputs, _ONE, self._input_records, grad, hv) is not None:
                return self._gradient_like(grad), self._gradient_like(hv)

    def hessian(self, x):
        """The Hessian of a scalar ``f`` at ``x``, shape (n, n) over the
        flattened inputs."""
        self._require_scalar("hessian")
        n = self.structure.size
        out, grad = np.empty((n, n)), np.empty(n)
        while True:
            adj, tan, adj_tan = self._work
            if self._run(x, _replay.hessian, tan, adj, adj_tan, self._outputs, _ONE,
                         self._input_records, grad, out) is not None:
                return out

    def jacobian(self, x):
        """d(outputs)/d(inputs) at ``x``: shape (n,) for a scalar ``f``, else
        (m, n) over the flattened inputs; by reverse or forward sweeps,
        whichever are fewer."""
        n = self.structure.size
        out = np.empty((self.n_outputs, n))
        while self._run(x, _replay.jacobian, self._work[0], self._outputs,
                        self._input_records, out) is None:
            out = np.empty((self.n_outputs, n))
        return out[0] if self.scalar_output else out

    def batch_value_and_grad(self, points):
        """``(values, grads)`` at each row of the 2-D array ``points``, rows
        in parallel (numba ``prange``); for a scalar ``f`` with flat inputs."""
        self._require_scalar("batch_value_and_grad")
        points = np.ascontiguousarray(points, dtype=np.float64)
        n = self.structure.size
        if points.ndim != 2 or points.shape[1] != n:
            raise ValueError(f"batch_value_and_grad: expected points of shape (rows, {n}), "
                             f"got {points.shape}")
        rows = len(points)
        values, grads = np.empty((rows, 1)), np.empty((rows, n))
        changed = np.empty(rows, dtype=np.int64)
        extra = np.array([leaf._v for leaf in self._extra], dtype=np.float64)
        _replay.batch_value_and_vjp(*self._cols[:4], self._recorded_val, points, extra, self._outputs, _ONE,
                                    self._input_records, values, grads, changed,
                                    numba.get_num_threads())
        for row in np.flatnonzero(changed >= 0):
            if not self.retrace:
                raise self._branch_changed(changed[row])
            values[row, 0], grads[row] = self._fresh_value_and_grad(points[row])
        return values[:, 0], grads

    def _fresh_value_and_grad(self, flat):
        """A row whose branch differs, in retrace mode: its own recording."""
        self.retraces += 1
        fresh = Recorded(self._f, self.structure.unflatten(flat))
        value, grad = fresh.value_and_grad(self.structure.unflatten(flat))
        return value, fresh.structure.flatten(grad)

    # --- argument checks --------------------------------------------------------

    def _require_scalar(self, what):
        if not self.scalar_output:
            raise ValueError(f"{what} needs f to return one number; it returns "
                             f"{self.n_outputs} outputs: use jacobian() or vjp()")

    def _direction_flat(self, v):
        """``v``, a direction shaped like x, flattened; a clear error if not."""
        try:
            return self.structure.flatten(v, "the direction")
        except (TypeError, ValueError) as error:
            raise type(error)(f"direction v must be shaped like x "
                              f"({self.structure.describe()}): {error}") from None

    def _direction(self, v):
        direction = np.zeros(len(self._inputs))  # outside leaves stay still
        direction[: self.structure.size] = self._direction_flat(v)
        return direction


_ONE = np.ones(1)
_F64 = np.dtype(np.float64)


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
