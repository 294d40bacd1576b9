"""Run workloads on engines: check each case, then time it, into records.

For every workload and size, tapegrad runs first (its tape gives the op
count that every engine's time is divided by, and the storage figures), then
the plain-Python function (the ``f`` of J/f), then tapegrad replaying one
recording (``tapegrad-replay``), then tapegrad's Tensors on the vectorized
form (``tapegrad-vector``), then each peer.  A training step
(:mod:`tapegrad.benchmark.steps`) runs on ``tapegrad-vector`` first, then on
each peer that runs steps; its figures are per step, not per op.  A case is:

1. ``prepare`` (timed: the one-time cost) and a first call (timed);
2. the check: value and gradient (a step: loss and gradients) against
   ``workload.expected`` — a wrong tapegrad gradient stops the run, a wrong
   peer is reported and not timed;
3. timed calls (:meth:`Engine.time_calls
   <tapegrad.benchmark.engine.Engine.time_calls>`: median, quartiles, min,
   max, and the CPU time over the wall time of the timed calls; an engine in
   another process times its calls there);
4. one more call under ``tracemalloc`` for the peak memory (engines in this
   process).

A run that may start processes (``modules`` given) also measures each step
engine's peak memory in a fresh process of its own
(:mod:`tapegrad.benchmark.memory`; an engine in another process, with its
``step_memory`` method, in a fresh one of its kind).

>>> import numpy as np
>>> from tapegrad.benchmark.workload import Workload
>>> w = Workload("cube", lambda x, m: sum(v * v * v for v in x), point=np.arange,
...              sizes=(3,), quick_sizes=(3,))
>>> result = run([w], [], quick=True, budget_s=0.01)
>>> [(r["metric"], r["value"]) for r in result.records if r["metric"] == "records"]
[('records', 12)]
"""

import functools
import gc
import tracemalloc
from dataclasses import dataclass, field
from time import perf_counter

import numpy as np

from tapegrad import caches, jit
from tapegrad.benchmark import calibration, memory, numpy_api, replay_cost, travel
from tapegrad.benchmark.fresh import fresh_latencies
from tapegrad.benchmark.engine import (
    HandWritten, PlainPython, Tapegrad, TapegradRecordedStep, TapegradReplay,
    TapegradReplayVector, TapegradVector,
)
from tapegrad.benchmark.results import record
from tapegrad.benchmark.timing import time_calls


class WrongGradient(AssertionError):
    """tapegrad's value or gradient disagrees with the workload's reference."""


@dataclass
class Result:
    records: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (workload, engine, size, why)
    notes: list = field(default_factory=list)  # lines printed after the tables

    def add(self, *args, **kwargs):
        self.records.append(record(*args, **kwargs))


def _peak_memory(call):
    gc.collect()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _sweep_seconds(tape, repeats=5):
    """Best seconds of the reverse-sweep kernel alone over ``tape``."""
    from tapegrad.kernels.sweeps import reverse

    cols = tape._rec.columns().values()  # writable views: the type backward() compiles for
    adj = np.zeros(len(tape))
    best = float("inf")
    for _ in range(repeats):
        adj[:] = 0.0
        adj[-1] = 1.0
        start = perf_counter()
        reverse(*cols, adj, len(tape) - 1)
        best = min(best, perf_counter() - start)
    return best


def _run_case(engine, workload, size, x, result, budget_s):
    """Check and time one engine on one case; return its Stats, or None
    (with the reason in ``result.skipped``) when it was not timed."""
    name, wname = engine.name, workload.name
    why = engine.unavailable() or engine.supports(workload)
    if why is not None:
        result.skipped.append((wname, name, size, why))
        return None
    try:
        start = perf_counter()
        call = engine.prepare(workload, x)
        one_time = perf_counter() - start
        start = perf_counter()
        value, grad = call(x)
        first_call = perf_counter() - start
    except NotImplementedError as error:
        result.skipped.append((wname, name, size, f"unsupported: {error}"))
        return None
    wrong = workload.mismatch(x, value, grad)
    if wrong is not None:
        if isinstance(engine, (Tapegrad, TapegradVector)):
            raise WrongGradient(f"{wname} at {workload.size_name} = {size}: {wrong}")
        result.skipped.append((wname, name, size, f"WRONG RESULT, not timed: {wrong}"))
        return None
    stats = engine.time_calls(call, x, budget_s)
    measured = getattr(engine, "measured", None) or {}
    add = functools.partial(result.add, wname, name, size)
    add("one_time", measured.get("one_time", one_time), "s")
    add("first_call", measured.get("first_call", first_call), "s")
    for metric in ("median", "min", "max", "p25", "p75"):
        add(f"time_{metric}", getattr(stats, metric), "s")
    if stats.cpu_over_wall is not None:
        add("cpu_over_wall", stats.cpu_over_wall, "ratio")
    if engine.in_process:
        add("peak_memory", _peak_memory(lambda: call(x)), "bytes")
    return stats


def _tapegrad_figures(workload, size, tape, stats, calib, result):
    """What only tapegrad has: its tape's size, its sweep alone, and its
    times against the calibration loops (the figures the gate compares)."""
    ops = len(tape)
    live = sum(getattr(tape, c).nbytes for c in ("op", "arg0", "arg1", "const", "val"))
    sweep = _sweep_seconds(tape)
    add = functools.partial(result.add, workload.name, "tapegrad", size)
    add("records", ops, "count")
    add("bytes_per_op", live / ops, "bytes")
    add("sweep_ns_per_op", sweep / ops * 1e9, "ns")
    add("time_vs_python_loop", stats.min / calib["python_loop"], "ratio")
    add("sweep_vs_numba_loop", sweep / calib["numba_loop"], "ratio")


def _per_op_figures(workload, size, stats_of, ops, result, vectorized=()):
    """ns/op (per tapegrad record of the same program), J/f, and tapegrad's
    speed-up over every peer that ran (best call against best call), and
    ``tapegrad-vector``'s over the ``vectorized`` engines."""
    ours, plain = stats_of["tapegrad"], stats_of.get("python")
    for name, stats in stats_of.items():
        if stats is None:
            continue
        add = functools.partial(result.add, workload.name, name, size)
        add("ns_per_op", stats.median / ops * 1e9, "ns")
        for phase, phase_stats in stats.phases.items():
            add(f"{phase}_ns_per_op", phase_stats.median / ops * 1e9, "ns")
        if name == "python":
            continue
        if plain is not None:
            add("j_over_f", stats.median / plain.median, "ratio")
        if name != "tapegrad":
            result.add(workload.name, "tapegrad", size, f"speedup_vs:{name}",
                       stats.min / ours.min, "ratio", better="higher")  # min: least noise
    for mine in (TapegradVector.name, TapegradReplayVector.name):
        _speedups(workload, size, stats_of, mine, vectorized, result)


def _speedups(workload, size, stats_of, mine, others, result):
    """Engine ``mine``'s speed-up over each of ``others`` that ran."""
    if stats_of.get(mine) is None:
        return
    for name in others:
        stats = stats_of.get(name)
        if name != mine and stats is not None:
            result.add(workload.name, mine, size, f"speedup_vs:{name}",
                       stats.min / stats_of[mine].min, "ratio", better="higher")


def _step_figures(workload, size, vector, stats_of, result):
    """A training step's own figures: tapegrad's tape (records, the bytes of
    its arrays), seconds per phase, and speed-ups over the other engines."""
    stats = stats_of.get(vector.name)
    if stats is None:
        return
    add = functools.partial(result.add, workload.name, vector.name, size)
    add("records", vector.records, "count")
    add("arena_bytes", vector.arena_bytes, "bytes")
    for phase, phase_stats in stats.phases.items():
        add(f"{phase}_time_median", phase_stats.median, "s")
    _speedups(workload, size, stats_of, vector.name, list(stats_of), result)


def _blas_floor(workload, size, problem, result, budget_s):
    """``floor_time_median``: the step's BLAS calls alone
    (``workload.blas``), for the report's ratios to the floor."""
    if workload.blas is None:
        return
    stats = time_calls(workload.blas(problem), budget_s=budget_s)
    result.add(workload.name, "blas-floor", size, "floor_time_median", stats.median, "s")


def run(workloads, peers, *, quick=False, budget_s=0.5, modules=None, progress=None):
    """Every workload at every size on tapegrad, plain Python and ``peers``.

    ``modules``, the names ``(workload_module, peer_module_or_None)`` these
    came from, lets the run time each engine's first gradient in a fresh
    process too.  Returns a :class:`Result`; ``progress(done, total, label)``
    is called before each case.  Raises :class:`WrongGradient` if tapegrad
    is wrong.
    """
    result = Result()
    calib = calibration.calibrate()
    for name, seconds in calib.items():
        result.add("calibration", name, 0, "time_min", seconds, "s")
    ours, vector = Tapegrad(), TapegradVector()
    engines = [ours, PlainPython(), TapegradReplay(), vector, TapegradReplayVector(),
               HandWritten(), *peers]
    step_engines = [vector, TapegradRecordedStep(), *[p for p in peers if "step" in p.forms]]
    vectorized = [e.name for e in engines if {"vectorized", "handwritten"} & set(e.forms)]
    cases = [(w, size) for w in workloads for size in w.sizes_for(quick)]
    total = sum(len(_candidates(w, step_engines, engines)) for w, _ in cases)
    done = 0
    for workload, size in cases:
        x = workload.inputs(size)
        stats_of = {}
        for engine in _candidates(workload, step_engines, engines):
            if progress is not None:
                progress(done, total, f"{workload.name} {workload.size_name}={size} {engine.name}")
            done += 1
            ops = len(ours.tape) if stats_of and not _is_step(workload) else None
            if ops is not None and engine.max_ops is not None and ops > engine.max_ops:
                result.skipped.append((workload.name, engine.name, size,
                                       f"over {engine.max_ops:,} ops"))
                continue
            before = _signatures()
            stats_of[engine.name] = _run_case(engine, workload, size, x, result, budget_s)
            if engine is not ours:
                for signature in _signatures() - before:
                    _COMPILED_BY.setdefault(signature, engine.name)
        if _is_step(workload):
            _step_figures(workload, size, vector, stats_of, result)
            _blas_floor(workload, size, x, result, budget_s)
            continue
        _tapegrad_figures(workload, size, ours.tape, stats_of["tapegrad"], calib, result)
        _per_op_figures(workload, size, stats_of, len(ours.tape), result, vectorized)
        ours.tape = None  # free it before the next case
    if progress is not None:
        progress(total, total, "done")
    if modules is not None:
        scalar = [w for w in workloads if not _is_step(w)]
        if scalar:
            fresh_latencies(*modules, scalar[0], [ours, *peers], result)
        for workload in workloads:
            if _is_step(workload):
                size = min(workload.sizes_for(quick))
                memory.step_memory(*modules, workload, size,
                                   [e for e in step_engines if e.in_process], result)
                _side_step_memory(workload, size, step_engines, result)
    if jit.compilations() is not None:
        _add_compilations(result)
    _add_fused_cache(result)
    if not quick:
        result.notes.extend(replay_cost.figures(result, peers))
        result.notes.extend(travel.figures(result))
        result.notes.extend(numpy_api.figures(result))
    return result


def _side_step_memory(workload, size, engines, result):
    """``step_peak_rss`` of the step engines that run in another process and
    measure it there (``engine.step_memory(workload, size, result)``)."""
    for engine in engines:
        if engine.in_process or not hasattr(engine, "step_memory"):
            continue
        if engine.unavailable() is None and engine.supports(workload) is None:
            engine.step_memory(workload, size, result)


def _add_fused_cache(result):
    """The fused-kernel cache's size on disk after the run (never gated)."""
    fused = caches.info()["fused"]
    result.add("all", "tapegrad", 0, "fused_cache_bytes", fused["bytes"], "bytes")
    result.add("all", "tapegrad", 0, "fused_cache_kernels", fused["kernels"], "count")


def _is_step(workload):
    return "step" in workload.forms


def _candidates(workload, step_engines, engines):
    """The engines that run a form ``workload`` has (others are not listed
    as skipped: a scalar tool on a training step is no news)."""
    return [e for e in (step_engines if _is_step(workload) else engines)
            if set(e.forms) & set(workload.forms)]


#: (kernel, signature) -> the engine other than ``tapegrad`` whose case first
#: compiled (or loaded) it in this process.
_COMPILED_BY = {}


def _signatures():
    return {(id(kernel), signature) for kernel in jit.KERNELS for signature in kernel.signatures}


def _add_compilations(result):
    """``kernel_compilations`` of this process per engine: ``tapegrad`` has
    the harness's and the re-recording engine's; an engine that compiled
    kernels of its own (``tapegrad-replay``) has those, as a figure of its
    own, so that adding an engine adds a figure instead of changing one."""
    counts = {"tapegrad": 0}
    for signature in _signatures():
        engine = _COMPILED_BY.get(signature, "tapegrad")
        counts[engine] = counts.get(engine, 0) + 1
    for engine, n in counts.items():
        result.add("all", engine, 0, "kernel_compilations", n, "count")
