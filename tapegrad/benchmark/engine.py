"""How an AD tool runs a workload: the :class:`Engine` interface, and
tapegrad's own engine.

The harness asks an engine for three things: whether it can run here
(:meth:`Engine.unavailable`) and on this workload (:meth:`Engine.supports`),
then :meth:`Engine.prepare`, which does the one-time work (trace, compile,
build a graph: timed apart) and returns ``value_and_grad(x)``, the per-call
function the harness times.  An engine that splits a call into phases (a
tape engine: record, then backward) leaves the seconds of each phase of the
latest call in ``engine.phases``.  The harness times the calls with
:meth:`Engine.time_calls`; an engine whose calls run in another process
(``in_process`` False: PyTensor on another interpreter, in
``bench/side_peer.py``) times them there, with the same code, and reports
the seconds of its one-time work and first call as measured there in
``engine.measured``.

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

from tapegrad.benchmark.timing import time_calls
from tapegrad.benchmark.workload import MATH


class Engine:
    """One AD tool, as the harness sees it.  Subclasses set ``name`` and
    override :meth:`prepare` (and, where it applies, the other methods)."""

    #: Short unique name, used in tables, JSON and baselines.
    name = "engine"
    #: ``"scalar"`` runs ``workload.function``; ``"vectorized"`` runs
    #: ``workload.vectorized``; ``"step"`` runs a
    #: :class:`~tapegrad.benchmark.steps.TrainingStep`.
    form = "scalar"
    #: Largest problem, in tapegrad records of the same program, that the
    #: engine is run on (None: no limit); for peers that would take minutes.
    max_ops = None
    #: False for an engine whose calls run in another process: it times them
    #: there (:meth:`time_calls`), and this process's memory figures
    #: (``peak_memory``, ``step_peak_rss``) would not see them.
    in_process = True

    def __init__(self):
        self.phases = {}
        #: Seconds the engine measured itself, e.g. ``{"one_time": s,
        #: "first_call": s}`` in its own process, without the round trips;
        #: the harness's clock for the figures not here.
        self.measured = {}

    def unavailable(self):
        """Why this engine cannot run on this machine (e.g. "not installed"),
        or None when it can."""
        return None

    def version(self):
        return ""

    @property
    def forms(self):
        """Every form the engine runs (an array engine runs ``"vectorized"``
        and ``"step"``); the one it runs on a workload is the first the
        workload has."""
        return (self.form,)

    def supports(self, workload):
        """Why this engine cannot run ``workload``, or None when it can."""
        if not set(self.forms) & set(workload.forms):
            return f"no {' or '.join(self.forms)} form"
        return None

    def prepare(self, workload, x):
        """Do the one-time work for ``workload`` at inputs like ``x``; return
        ``value_and_grad(x) -> (float, np.ndarray)``."""
        raise NotImplementedError

    def timed_region(self):
        """Context in which the harness times calls (e.g. the GC off)."""
        return contextlib.nullcontext()

    def time_calls(self, call, x, budget_s):
        """:class:`~tapegrad.benchmark.timing.Stats` of ``call(x)`` after a
        warm-up, within ``budget_s`` seconds of calls
        (:func:`~tapegrad.benchmark.timing.time_calls`, in this process)."""
        return time_calls(lambda: call(x), budget_s=budget_s, region=self.timed_region,
                          engine=self)


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
        function = workload.function

        def value_only(x):
            return float(function(x.tolist(), MATH)), None

        return value_only


class HandWritten(Engine):
    """The workload's ``handwritten(x)``: value and gradient by a loop
    written by hand and compiled (numba, fastmath off).  Not an AD tool:
    the floor for the program on this machine, which the issue's figures
    compare the replays against.  Its compile is the one-time cost."""

    name = "handwritten"
    form = "handwritten"

    def version(self):
        import numba

        return numba.__version__

    def prepare(self, workload, x):
        handwritten = workload.handwritten
        handwritten(np.asarray(x, dtype=np.float64))
        return handwritten


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


def _array_namespace(tg):
    """``xp`` for tapegrad's Tensors: the package's functions, with a
    NumPy-like ``sum``."""
    from types import SimpleNamespace

    functions = {n: getattr(tg, n) for n in dir(tg) if not n.startswith("_")}
    functions["sum"] = lambda t, **kw: t.sum(**kw)
    return SimpleNamespace(**functions)


class TapegradVector(Engine):
    """tapegrad's Tensors: one record per array op, swept in reverse.

    On a workload's vectorized form (``vectorized(x, xp)``), ``x`` a leaf
    Tensor; on a :class:`~tapegrad.benchmark.steps.TrainingStep`,
    ``tapegrad.nn.Parameter`` leaves, ``tapegrad.nn.functional`` as ``F`` and
    ``tapegrad.optim.SGD``: what ``examples/simplenet.py`` runs.  Phases:
    ``record`` and ``backward`` seconds of the latest call (and ``update``,
    the optimizer's step).  After a call, ``records`` is its tape's length
    and ``arena_bytes`` the bytes of the arrays the tape held.

    >>> import numpy as np
    >>> from tapegrad.benchmark.workload import Workload
    >>> w = Workload("squares", lambda x, m: sum(v * v for v in x), point=np.arange,
    ...              sizes=(4,), quick_sizes=(4,), vectorized=lambda x, xp: xp.sum(x * x))
    >>> engine = TapegradVector()
    >>> engine.prepare(w, w.point(4))(w.point(4)), engine.records
    ((14.0, array([0., 2., 4., 6.])), 3)
    """

    name = "tapegrad-vector"
    form = "vectorized"
    forms = ("vectorized", "step")

    def __init__(self):
        super().__init__()
        self.records = self.arena_bytes = None

    def version(self):
        import tapegrad

        return tapegrad.__version__

    def _keep(self, tape):
        self.records = len(tape)
        arrays = getattr(tape._rec, "arrays", {})  # the arena (tapegrad.core.tape)
        self.arena_bytes = sum(getattr(a, "nbytes", 0) for a in arrays.values())

    def prepare(self, workload, x):
        import tapegrad as tg

        if "step" in workload.forms:
            return self._step(tg, workload, x)
        xp = _array_namespace(tg)
        vectorized = workload.vectorized

        def value_and_grad(x):
            start = time.perf_counter()
            leaf = tg.tensor(x, requires_grad=True)
            with tg.Tape() as tape:
                out = vectorized(leaf, xp)
            recorded = time.perf_counter()
            out.backward()
            done = time.perf_counter()
            self.phases = {"record": recorded - start, "backward": done - recorded}
            self._keep(tape)
            return out.item(), leaf.grad

        return value_and_grad

    def _step(self, tg, workload, problem):
        from tapegrad import nn, optim
        from tapegrad.nn import functional as F

        params = [nn.Parameter(np.array(a, copy=True)) for a in problem.arrays]
        data = problem.data
        optimizer = optim.SGD(params, lr=workload.lr)
        loss_of = workload.loss

        def step(problem):
            start = time.perf_counter()
            optimizer.zero_grad()
            with tg.Tape() as tape:
                loss = loss_of(params, data, F)
            recorded = time.perf_counter()
            loss.backward()
            backward = time.perf_counter()
            optimizer.step()
            done = time.perf_counter()
            self.phases = {"record": recorded - start, "backward": backward - recorded,
                           "update": done - backward}
            self._keep(tape)
            return loss.item(), [p.grad for p in params]

        return step


class TapegradRecordedStep(Engine):
    """A training step recorded once and replayed: ``tapegrad.nn.record_loss``
    of the workload's loss at its batch (``problem.data``, a pair ``(X, y)``),
    then at every call ``zero_grad``, the replay (gradients into ``.grad``)
    and ``optim.SGD``'s step: the counterpart of ``jax.jit(update)``.

    >>> from tapegrad.benchmark.steps import Problem, TrainingStep
    >>> X, y = np.ones((4, 3)), np.arange(4) % 2
    >>> w = TrainingStep("logistic", lambda p, d, F: F.cross_entropy(F.linear(d[0], *p), d[1]),
    ...                  lambda n: Problem((X, y), (("w", np.zeros((2, 3))), ("b", np.zeros(2)))),
    ...                  reference=None, sizes=(4,), quick_sizes=(4,))
    >>> step = TapegradRecordedStep().prepare(w, w.inputs(4))
    >>> [round(step(w.inputs(4))[0], 6) for _ in range(2)]   # loss before each update
    [0.693147, 0.693147]
    """

    name = "tapegrad-recorded"
    form = "step"
    forms = ("step",)

    def version(self):
        import tapegrad

        return tapegrad.__version__

    def prepare(self, workload, problem):
        from tapegrad import nn, optim
        from tapegrad.nn import functional as F

        if len(problem.data) != 2:
            raise NotImplementedError("tapegrad-recorded steps take a batch (X, y)")
        params = [nn.Parameter(np.array(a, copy=True)) for a in problem.arrays]
        X, y = problem.data
        optimizer = optim.SGD(params, lr=workload.lr)
        loss_of = workload.loss
        recorded = nn.record_loss(lambda X: X, lambda X, y: loss_of(params, (X, y), F), X, y)

        def step(problem):
            optimizer.zero_grad()
            loss = recorded(X, y)
            optimizer.step()
            return float(loss), [p.grad for p in params]

        return step


class TapegradReplayVector(Engine):
    """tapegrad recording the vectorized form once (``tapegrad.record`` of
    ``vectorized(x, xp)`` at a ``tapegrad.tensor``; the one-time cost,
    with the fused kernels' compile in the first call) and replaying it at
    every call: elementwise chains run fused (:mod:`tapegrad.fusion.plan`).
    The counterpart of ``jax.jit``.

    >>> import numpy as np
    >>> from tapegrad.benchmark.workload import Workload
    >>> w = Workload("squares", lambda x, m: sum(v * v for v in x), point=np.arange,
    ...              sizes=(4,), quick_sizes=(4,), vectorized=lambda x, xp: xp.sum(x * x))
    >>> TapegradReplayVector().prepare(w, w.point(4))(w.point(4) + 1.0)
    (30.0, array([2., 4., 6., 8.]))
    """

    name = "tapegrad-replay-vector"
    form = "vectorized"
    forms = ("vectorized",)

    def version(self):
        import tapegrad

        return tapegrad.__version__

    def prepare(self, workload, x):
        import tapegrad as tg

        xp = _array_namespace(tg)
        vectorized = workload.vectorized
        x = np.asarray(x, dtype=np.float64)
        return tg.record(lambda t: vectorized(t, xp), tg.tensor(x)).value_and_grad

