"""The tape: a flat Wengert list in struct-of-arrays NumPy buffers.

Record ``i`` is ``op[i](arg(arg0[i]), arg(arg1[i]))`` with value ``val[i]``,
where ``arg(a)`` is ``val[a]`` for ``a >= 0`` and the record's own constant
``const[i]`` for ``a == -1``.  Arguments always point backwards, so the tape
is a complete program of its inputs: the ``input`` records (whose ``arg0`` is
the input's position) plus the constants reproduce every value, and the
numba sweeps in :mod:`tapegrad.kernels.sweeps` read nothing else.

Storage (per record): ``op`` uint8, ``arg0``/``arg1`` int32 (int64 once a
tape outgrows int32), ``const`` and ``val`` float64: 25 bytes.  Buffers grow
by doubling, so appending is amortised O(1) and never reads Python objects
back at sweep time.

Lifetime.  A :class:`Recording` is one run of records.  A :class:`Tape` is the
user's handle on its current recording: ``tape.reset()`` starts a new one
(reusing the buffers) and ``tape.release()`` frees them; values recorded
before either are *stale* and raise :class:`~tapegrad.errors.StaleValueError`
on use.  Code that names no tape records onto an implicit recording that
lives exactly as long as some value recorded on it, and that ``backward()``
closes (as PyTorch frees a graph after ``backward()``): its values stay
readable, their gradients stay, ``backward()`` of another output recorded on
it still works, but a new op on one of its computed values raises
:class:`~tapegrad.errors.ClosedTapeError`, and the next op on leaves starts
a fresh implicit recording.  So a training loop that names no tape
(``loss = f(params); loss.backward()``) records each step on a recording of
its own, even while the previous step's ``loss`` is still alive.

>>> import tapegrad as tg
>>> with tg.Tape() as tape:
...     y = tg.Value(3.0) * 2.0 + 1.0
>>> len(tape), [tg.OPS_BY_CODE[c].name for c in tape.op]
(3, ['input', 'mul', 'add'])
>>> y.backward()
"""

import bisect
import contextvars
import itertools
import math
import warnings
import weakref

import numpy as np

from tapegrad.core import arena, debug
from tapegrad.core.extensions import ARRAYS
from tapegrad.kernels.sweeps import reverse
from tapegrad.errors import ClosedTapeError, StaleValueError
from tapegrad.ops import OPS

INPUT = OPS["input"].code
_COLUMNS = ("op", "arg0", "arg1", "const", "val")
_serials = itertools.count(1)

CLOSED = ("this value's implicit tape was closed by backward(); compute it again "
          "from the leaves, or record inside `with tapegrad.Tape():` to keep a "
          "tape open after backward()")



class Recording:
    """One run of records in growable SoA buffers (see the module docstring).

    The hot path (:meth:`push`) writes through memoryviews, which is the
    cheapest store from Python into a NumPy buffer.
    """

    __slots__ = (
        "n", "cap", "serial", "leaves", "inputs", "adj", "adj_len", "dead", "sites", "warned",
        "implicit", "closed", "pooled",
        "arrays", "params", "array_records", "array_leaves",
        *_COLUMNS, *(c + "_m" for c in _COLUMNS), "__weakref__",
    )

    #: Above this many records the index columns widen from int32 to int64.
    INDEX_LIMIT = 2**31 - 1

    def __init__(self, capacity=256, buffers=None):
        self.n = 0
        self.serial = next(_serials)
        self.leaves = []  # the leaf Value of each input record, in order
        self.inputs = []  # the record index of each leaf
        self.adj = None  # adjoints of the latest backward(), for .grad
        self.adj_len = 0
        self.dead = None  # why this recording can no longer be used
        self.sites = None  # {guard record: (file, line)} while record() traces
        self.warned = False  # whether a frozen read was warned about
        self.implicit = False  # made by current_recording() outside any Tape
        self.closed = False  # an implicit recording after backward(): no new records
        # Array records (made by tapegrad.array, which installs what the tape
        # needs to know of them in tapegrad.core.extensions): their values
        # live in this arena, keyed by record, and their op parameters beside them.
        self.arrays = {}
        self.params = {}
        self.array_records = []
        self.array_leaves = []  # the leaf Tensor of each array input, in order
        self.pooled = False  # whether the arena goes back to core.arena when this dies
        if buffers is None:
            index = np.int32 if capacity <= self.INDEX_LIMIT else np.int64
            dtypes = (np.uint8, index, index, np.float64, np.float64)
            buffers = [np.empty(capacity, dtype) for dtype in dtypes]
        self._adopt(buffers)

    def _adopt(self, buffers):
        self.op, self.arg0, self.arg1, self.const, self.val = buffers
        self.op_m, self.arg0_m, self.arg1_m, self.const_m, self.val_m = map(memoryview, buffers)
        self.cap = len(buffers[0])

    def push(self, code, a0, a1, const, value):
        """Append one record and return its index."""
        i = self.n
        if i == self.cap:
            self._grow()
        self.n = i + 1
        self.op_m[i] = code
        self.arg0_m[i] = a0
        self.arg1_m[i] = a1
        self.const_m[i] = const
        self.val_m[i] = value
        return i

    def _grow(self):
        if self.dead is not None:
            raise StaleValueError(self.dead)
        if self.closed:
            raise ClosedTapeError(CLOSED)
        cap = max(2 * self.cap, 16)
        grown = []
        for name in _COLUMNS:
            old = getattr(self, name)
            dtype = old.dtype
            if name.startswith("arg") and cap > self.INDEX_LIMIT:
                dtype = np.int64
            new = np.empty(cap, dtype)
            new[: self.n] = old[: self.n]
            grown.append(new)
        self._adopt(grown)

    def register(self, leaf):
        """Record ``leaf`` as an input of this recording; return its index."""
        i = self.push(INPUT, len(self.leaves), -1, 0.0, leaf._v)
        self.leaves.append(leaf)
        self.inputs.append(i)
        leaf._serial = self.serial
        leaf._i = i
        return i

    def push_array(self, code, a0, a1, value, params, scalar=False):
        """Append an array record; its value goes to the arena (or, for an
        op with a scalar result, to the ``val`` column)."""
        i = self.push(code, a0, a1, 0.0, value if scalar else math.nan)
        if not scalar:
            if not self.pooled and value.nbytes >= arena.SMALL:  # smaller ones never go back
                self.pooled = True  # when this recording dies, its arena goes back
                weakref.finalize(self, _give_back, self.arrays).atexit = False
            self.arrays[i] = value
        self.params[i] = params
        self.array_records.append(i)
        return i

    def register_array(self, leaf):
        """Record the Tensor ``leaf`` as an array input; return its index."""
        i = self.push_array(ARRAYS.input_code, len(self.array_leaves), -1, leaf._v, None)
        self.array_leaves.append(leaf)
        leaf._serial = self.serial
        leaf._i = i
        return i

    def kill(self, reason):
        """Make every value of this recording stale; return its buffers."""
        self.check_live()
        buffers = [getattr(self, name) for name in _COLUMNS]
        for name in _COLUMNS:
            setattr(self, name, None)
            setattr(self, name + "_m", None)
        self.cap = self.n  # the next push() goes to _grow(), which raises
        self.dead = reason
        self.leaves = []
        self.inputs = []
        self.adj = None
        _give_back(self.arrays)
        self.arrays, self.params, self.array_records, self.array_leaves = {}, {}, [], []
        return buffers

    def check_live(self):
        if self.dead is not None:
            raise StaleValueError(self.dead)

    def check_open(self):
        """Raise what a new record here would: StaleValueError, ClosedTapeError."""
        self.check_live()
        if self.closed:
            raise ClosedTapeError(CLOSED)

    def close(self):
        """Take no more records (values, adjoints and sweeps stay): the next
        push() goes to _grow(), which raises ClosedTapeError, so the hot
        path checks nothing."""
        self.closed = True
        self.cap = self.n

    def columns(self, stop=None):
        """The live part of the SoA columns, as a dict of NumPy views."""
        self.check_live()
        stop = self.n if stop is None else stop
        return {name: getattr(self, name)[:stop] for name in _COLUMNS}

    def backward(self, last, seed):
        """Sweep adjoints from record ``last`` (seeded with ``seed``) to 0 and
        add each input's adjoint to its leaf's ``.grad``.  An implicit
        recording is closed by it (see the module docstring)."""
        self.check_live()
        if self.implicit:
            self.close()
        m = last + 1
        if self.adj is None or len(self.adj) < self.n:
            self.adj = np.zeros(self.cap)
        else:
            self.adj[: max(m, self.adj_len)] = 0.0
        adj = self.adj
        self.adj_len = m
        if self.array_records:  # only tapegrad.array makes them, and it installed this sweep
            ARRAYS.reverse(self, last, seed)
        else:
            adj[last] = seed
            reverse(self.op, self.arg0, self.arg1, self.const, self.val, adj, last)
        if debug.enabled():
            debug.check_finite(self, m)
        reached = bisect.bisect_right(self.inputs, last)  # inputs recorded before `last`
        if reached <= 16:
            item = adj.item
            for leaf, i in zip(self.leaves[:reached], self.inputs):
                leaf._g += item(i)
        else:
            for leaf, g in zip(self.leaves, adj[self.inputs[:reached]].tolist()):
                leaf._g += g

    def adjoint(self, i):
        """d(out)/d(record i) from the latest backward(), 0.0 if none reached it."""
        self.check_live()
        return float(self.adj[i]) if i < self.adj_len else 0.0


def _give_back(arrays):
    """Hand the values of an arena (a dict, emptied here) to :mod:`tapegrad.core.arena`."""
    arena.give_back([arrays.popitem()[1] for _ in range(len(arrays))])


# The tape that `with Tape():` made current, if any.
_CURRENT = contextvars.ContextVar("tapegrad_current_tape", default=None)
# A weak reference to the implicit recording used outside any `with Tape():`.
_IMPLICIT = contextvars.ContextVar("tapegrad_implicit_recording", default=None)


def current_recording():
    """The recording new leaf-only ops go to: the innermost ``with Tape()``,
    else an implicit recording kept alive only by the values recorded on it
    (a fresh one once ``backward()`` has closed the last)."""
    tape = _CURRENT.get()
    if tape is not None:
        return tape._rec
    ref = _IMPLICIT.get()
    rec = ref() if ref is not None else None
    if rec is None or rec.closed:
        rec = Recording()
        rec.implicit = True
        _IMPLICIT.set(weakref.ref(rec))
    return rec


# The recording that tapegrad.record() is tracing, if any.
TRACING = contextvars.ContextVar("tapegrad_tracing", default=None)


class FrozenReadWarning(UserWarning):
    """A number was read off a traced value: every replay will reuse it."""


def frozen_read(value):
    """Warn, once per recording, when ``value.data`` is read while
    :func:`tapegrad.record` traces the recording ``value`` belongs to: the
    number read is a constant to every replay."""
    rec = TRACING.get()
    if rec is None or rec.warned:
        return
    if value._rec is rec or (value._rec is None and value._serial == rec.serial):
        rec.warned = True
        warnings.warn(
            "reading .data of a traced value: every replay of this recording reuses "
            "the number read now; compute with the Value itself to keep it on the tape",
            FrozenReadWarning, stacklevel=3)


class Tape:
    """A recording you hold, usable as a context manager.

    Inside ``with tape:``, ops on fresh leaves record onto ``tape``; a value
    remembers its tape, so ``y.backward()`` works after the block ends.  In a
    loop, either open a new ``Tape()`` per step or ``reset()`` one tape per
    step (which reuses its buffers); both keep memory flat.

    >>> import tapegrad as tg
    >>> w = tg.Value(0.5)
    >>> tape = tg.Tape()
    >>> for step in range(3):
    ...     with tape:
    ...         loss = (w * 3.0 - 1.0) ** 2
    ...     loss.backward()
    ...     w.data -= 0.05 * w.grad
    ...     w.grad = 0.0
    ...     tape.reset()
    >>> round(w.data, 6)   # heading for 1/3
    0.3335
    """

    def __init__(self, capacity=256):
        self._rec = Recording(capacity)
        self._tokens = []

    def __enter__(self):
        self._tokens.append(_CURRENT.set(self))
        return self

    def __exit__(self, *exc):
        _CURRENT.reset(self._tokens.pop())
        return False

    def reset(self):
        """Forget every record, keep the buffers; earlier values go stale."""
        buffers = self._rec.kill("this value's tape was reset after it was recorded")
        self._rec = Recording(buffers=buffers)

    def release(self):
        """Forget every record and free the buffers; earlier values go stale."""
        self._rec.kill("this value's tape was released after it was recorded")
        self._rec = Recording(capacity=16)

    def __len__(self):
        return self._rec.n

    @property
    def nbytes(self):
        """Bytes held by the record buffers (capacity, not just length)."""
        return sum(a.nbytes for a in self._rec.columns(self._rec.cap).values())

    def __getattr__(self, name):
        if name in _COLUMNS:  # tape.op, tape.val, ...: read-only views
            view = self._rec.columns()[name].view()
            view.flags.writeable = False
            return view
        raise AttributeError(name)

    @property
    def inputs(self):
        """The leaf values recorded as this tape's inputs, in input order."""
        return list(self._rec.leaves)

    def __repr__(self):
        return f"<tapegrad.Tape: {len(self)} records, {len(self._rec.leaves)} inputs>"
