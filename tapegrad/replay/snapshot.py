"""A recording's columns and arena, kept for replay: :class:`Snapshot`.

An :class:`~tapegrad.replay.array_program.ArrayProgram` keeps what its
tape recorded as a snapshot that replays only read; each thread replays
into a :meth:`~Snapshot.fork` of its own, with values, adjoints and
gradient sinks (:class:`Sink`) of its own.  A program read back from a file
(:mod:`tapegrad.replay.tapefile`) is made from a snapshot of the file's
parts (:meth:`Snapshot.from_parts`).

>>> import numpy as np, tapegrad as tg
>>> rec = tg.record(lambda t: (t * t).sum(), tg.tensor(np.ones(2)))
>>> prog = rec.program._program
>>> fork = prog.fork()
>>> fork.op is prog.op, fork.val is prog.val
(True, False)
"""

import numpy as np

from tapegrad.replay.program import TapeView


class Snapshot:
    """A recording's columns and arena, kept for replay: what the mixed
    sweeps read (``op``, ``arg0``, ``arg1``, ``const``, ``val``, ``adj``,
    ``arrays``, ``params``, ``array_records``, ``array_leaves``)."""

    def __init__(self, rec):
        columns = rec.columns()
        # Copies: a dying recording hands its own arena's arrays to tapegrad.core.arena.
        self._adopt({name: columns[name].copy() for name in ("op", "arg0", "arg1", "const", "val")},
                    dict(rec.arrays), dict(rec.params), list(rec.array_records),
                    len(rec.array_leaves), len(rec.leaves))

    @classmethod
    def from_parts(cls, columns, arrays, params, array_records, n_array_leaves, n_leaves):
        """A snapshot of parts read back from a file: the five columns, the
        arena, the array records' params and indices, and how many array
        and scalar leaves the recording has."""
        prog = cls.__new__(cls)
        prog._adopt(columns, arrays, params, array_records, n_array_leaves, n_leaves)
        return prog

    def _adopt(self, columns, arrays, params, array_records, n_array_leaves, n_leaves):
        self.op, self.arg0, self.arg1, self.const, self.val = (
            columns[name] for name in ("op", "arg0", "arg1", "const", "val"))
        self.arrays, self.params = arrays, params
        self.array_records = array_records
        self.adj = np.zeros(len(self.op))
        self.array_leaves = [Sink() for _ in range(n_array_leaves)]
        self.inputs = np.empty(n_leaves)
        self._tape = None

    def fork(self):
        """A snapshot to replay into: the same program (``op``, ``arg0``,
        ``arg1``, ``const``, ``params``, ``array_records``, shared and never
        written), with values, adjoints, inputs and gradient sinks of its
        own.  Its arena starts as this one's arrays, which a replay replaces
        (never writes into), and which the arena never takes back while this
        snapshot holds them."""
        fork = object.__new__(Snapshot)
        fork.__dict__.update(self.__dict__)
        fork.val = self.val.copy()
        fork.arrays = dict(self.arrays)
        # Its own parameter dicts: an op may keep a value for its VJP there
        # (cross_entropy's per-row log-sum-exp).
        fork.params = {i: dict(p) if p is not None else p for i, p in self.params.items()}
        fork.adj = np.zeros(len(self.op))
        fork.array_leaves = [Sink() for _ in self.array_leaves]
        fork.inputs = np.empty(len(self.inputs))
        fork._tape = None
        return fork

    def tape(self):
        """A read-only :class:`TapeView` of this snapshot's columns and arena."""
        if self._tape is None:
            self._tape = TapeView({name: getattr(self, name)
                                   for name in ("op", "arg0", "arg1", "const", "val")})
            self._tape.arrays, self._tape.params = self.arrays, self.params
        return self._tape


class Sink:
    """Where the reverse sweep puts an array leaf's gradient."""

    __slots__ = ("grad",)

    def __init__(self):
        self.grad = None

    def _accumulate(self, g, owned=False):
        if self.grad is None:
            self.grad = g if owned else np.array(g)
        else:
            self.grad = self.grad + g
