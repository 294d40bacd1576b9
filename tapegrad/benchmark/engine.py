"""How an AD tool runs a workload: the :class:`Engine` interface, and
tapegrad's own engine.

The harness asks an engine for three things: whether it can run here
(:meth:`Engine.unavailable`) and on this workload (:meth:`Engine.supports`),
then :meth:`Engine.prepare`, which does the one-time work (trace, compile,
build a graph: timed apart) and returns ``value_and_grad(x)``, the per-call
function the harness times.  An engine that splits a call into phases (a
tape engine: record, then backward) leaves the seconds of each phase of the
latest call in ``engine.phases``.

Peer adapters (micrograd, PyTorch, JAX, ...) live in the repository's
``bench/peers.py``; a project benchmarking its own code needs only
:class:`Tapegrad`.

>>> import math, numpy as np
>>> from tapegrad.benchmark.workload import Workload
>>> w = Workload("square_sum", lambda x, m: sum(v * v for v in x), point=np.arange,
...              sizes=(10,), quick_sizes=(10,))
>>> value_and_grad = Tapegrad().prepare(w, w.point(4))
>>> value_and_grad(w.point(4))
(14.0, array([0., 2., 4., 6.]))
"""

import contextlib
import time

import numpy as np


class Engine:
    """One AD tool, as the harness sees it.  Subclasses set ``name`` and
    override :meth:`prepare` (and, where it applies, the other methods)."""

    #: Short unique name, used in tables, JSON and baselines.
    name = "engine"
    #: ``"scalar"`` runs ``workload.function``; ``"vectorized"`` runs
    #: ``workload.vectorized``.
    form = "scalar"
    #: Largest problem, in tapegrad records of the same program, that the
    #: engine is run on (None: no limit); for peers that would take minutes.
    max_ops = None

    def __init__(self):
        self.phases = {}

    def unavailable(self):
        """Why this engine cannot run on this machine (e.g. "not installed"),
        or None when it can."""
        return None

    def version(self):
        return ""

    def supports(self, workload):
        """Why this engine cannot run ``workload``, or None when it can."""
        if self.form == "vectorized" and workload.vectorized is None:
            return "no vectorized form"
        return None

    def prepare(self, workload, x):
        """Do the one-time work for ``workload`` at inputs like ``x``; return
        ``value_and_grad(x) -> (float, np.ndarray)``."""
        raise NotImplementedError

    def timed_region(self):
        """Context in which the harness times calls (e.g. the GC off)."""
        return contextlib.nullcontext()


class Tapegrad(Engine):
    """tapegrad recording the workload on a fresh tape at every call, then
    one reverse sweep: what ``Value`` code in a training loop does.
    Phases: ``record`` and ``backward`` seconds of the latest call."""

    name = "tapegrad"

    def version(self):
        import tapegrad

        return tapegrad.__version__

    def prepare(self, workload, x):
        import tapegrad as tg

        function = workload.function

        def value_and_grad(x):
            leaves = [tg.Value(v) for v in x.tolist()]
            start = time.perf_counter()
            tape = tg.Tape()
            with tape:
                out = function(leaves, tg)
            recorded = time.perf_counter()
            out.backward()
            done = time.perf_counter()
            self.phases = {"record": recorded - start, "backward": done - recorded}
            self.tape = tape
            return out.value, np.array([leaf.grad for leaf in leaves])

        return value_and_grad


class PlainPython(Engine):
    """The workload's function on floats (:data:`~tapegrad.benchmark.workload.MATH`): no gradient.  Its
    time is the ``f`` of J/f, the standard AD metric (ADBench, cmpad)."""

    name = "python"

    def prepare(self, workload, x):
        from tapegrad.benchmark.workload import MATH

        function = workload.function

        def value_only(x):
            return float(function(x.tolist(), MATH)), None

        return value_only


class TapegradReplay(Engine):
    """tapegrad recording the workload once (``tapegrad.record``, the
    one-time cost) and replaying the tape in numba at every call: what an
    optimiser calling ``value_and_grad`` many times does."""

    name = "tapegrad-replay"

    def version(self):
        import tapegrad

        return tapegrad.__version__

    def prepare(self, workload, x):
        import tapegrad as tg

        function = workload.function
        rec = tg.record(lambda leaves: function(leaves, tg), np.asarray(x, dtype=np.float64))
        return rec.value_and_grad
