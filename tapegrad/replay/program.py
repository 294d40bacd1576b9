"""What a replayed program of either kind shares: :class:`Program`.

A :class:`~tapegrad.replay.record.Recorded` holds one program, made when
``f`` is traced: a :class:`~tapegrad.replay.scalar_program.ScalarProgram`
(scalar records only) or an
:class:`~tapegrad.replay.array_program.ArrayProgram` (array records too).
:class:`Program` is their common part: the outputs of ``f`` as records and
constants, the read-only :class:`TapeView` of the columns, the argument
checks, the message of a changed scalar guard, and the public methods that
are the same for both (``vjp``, ``value_and_grad``, ``grad``, ``hvp``).

A program reaches its recording's owner through ``owner``: when a guard
comes out the other way with ``retrace=True``, it asks the owner to record
``f`` again there (:meth:`~tapegrad.replay.record.Recorded._trace_again`)
and hands the call to the new program it gets back, which the owner now
holds too.

>>> import numpy as np, tapegrad as tg
>>> rec = tg.record(lambda x: [x[0] * x[1], 2.0], np.array([1.0, 2.0]))
>>> rec.tape
<recorded tape: 3 records (2 input, 1 mul)>
>>> rec.vjp(np.array([3.0, 4.0]), [1.0, 1.0])
(array([12.,  2.]), array([4., 3.]))
"""

import linecache

import numpy as np

from tapegrad.errors import BranchChanged
from tapegrad.ops import BY_CODE
from tapegrad.replay.structure import real_array
from tapegrad.scalar.value import Value, as_number, index_on



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
            name = BY_CODE[code].name
            counts[name] = counts.get(name, 0) + 1
        ops = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
        return f"<recorded tape: {len(self)} records ({ops})>"


def outputs_of(out, rec):
    """``(record indices, constants, is_scalar)`` of ``f``'s result ``out``
    on the recording ``rec``."""
    scalar = not isinstance(out, (list, tuple, np.ndarray))
    items = [out] if scalar else list(out)
    if isinstance(out, np.ndarray) and out.ndim != 1:
        raise ValueError(f"f must return a number or a 1-D sequence, got shape {out.shape}")
    records, constants = [], []
    for k, item in enumerate(items):
        if item.__class__ is Value:
            records.append(index_on(item, rec))
            constants.append(0.0)
            continue
        number = as_number(item)
        if number is None:
            raise TypeError(f"f returned {type(item).__name__} at output {k}: "
                            "expected Values or numbers")
        records.append(-1)
        constants.append(number)
    return np.array(records, dtype=np.int64), np.array(constants), scalar


class Program:
    """The part of a replayed program that does not depend on its kind.

    A subclass sets, when made: ``owner`` (the Recorded), ``structure``,
    ``scalar_output``, ``_outputs``, ``_constants``, ``_out0``, ``_columns``
    (at least ``op``, ``arg0`` and ``val``: as recorded, never replayed
    into), ``_sites``; and defines ``tape`` (a :class:`TapeView` with the
    calling thread's values) and ``_value_and_vjp(x, weights)``.

    Threads may share a program: what a replay writes is the calling
    thread's own (made at its first call), and what every thread reads
    (the recorded columns, outputs, sites) is not written after the
    program is made.  A changed guard with ``retrace=True`` hands the call
    to the program that the owner records at that input.
    """

    fusion = None  # the fused elementwise groups, for programs that have any
    # value_and_grad(x) for the common call, or None (then the checked way);
    # a program with one sets it when made (ArrayProgram: a dense chain).
    quick = None

    def __len__(self):
        return len(self._columns["op"])

    @property
    def n_outputs(self):
        return len(self._outputs)

    def vjp(self, x, w):
        weights = np.ascontiguousarray(real_array(w, "vjp: the weights w"),
                                       dtype=np.float64).reshape(-1)
        if len(weights) != self.n_outputs:
            raise ValueError(f"vjp: {len(weights)} weights for {self.n_outputs} outputs")
        return self._value_and_vjp(x, weights)

    def value_and_grad(self, x):
        self._require_scalar("value_and_grad")
        return self._value_and_vjp(x, ONE)

    def grad(self, x):
        return self.value_and_grad(x)[1]

    def hvp(self, x, v):
        return self.grad_and_hvp(x, v)[1]

    # --- outputs and changed branches -------------------------------------------

    def _output_values(self, val):
        """The outputs, read off ``val`` (the calling thread's replayed values)."""
        if self.scalar_output:
            o = self._out0
            return val.item(o) if o >= 0 else self._constants.item(0)
        return np.where(self._outputs >= 0, val[self._outputs], self._constants)

    def _branch_changed(self, i):
        condition = self._columns["arg0"][i]
        what = BY_CODE[int(self._columns["op"][condition])].name
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

    # --- argument checks --------------------------------------------------------

    def _require_scalar(self, what):
        if not self.scalar_output:
            raise ValueError(f"{what} needs f to return one number; it returns "
                             f"{self.n_outputs} outputs: use jacobian() or vjp()")

    def _points(self, points):
        """``points`` (rows of flat inputs) as a float64 array of shape (rows, n)."""
        points = np.ascontiguousarray(real_array(points, "batch_value_and_grad: points"),
                                      dtype=np.float64)
        n = self.structure.size
        if points.ndim != 2 or points.shape[1] != n:
            raise ValueError(f"batch_value_and_grad: expected points of shape (rows, {n}), "
                             f"got {points.shape}")
        return points

    def _direction_flat(self, v):
        """``v``, a direction shaped like x, flattened; a clear error if not."""
        try:
            return self.structure.flatten(v, "the direction")
        except (TypeError, ValueError) as error:
            raise type(error)(f"direction v must be shaped like x "
                              f"({self.structure.describe()}): {error}") from None


ONE = np.ones(1)  # the weight of a scalar f's one output
