"""Timed runs: one forward (recording) and one backward pass, apart.

A run builds the engine's leaves and collects garbage *before* the clock
starts, so no run pays for the previous one's graph; the engine's
:meth:`~bench.engines.Engine.timed_region` then sets the conditions of the
timed part (e.g. the garbage collector off).  Every figure is the median of
several runs after a warm-up run, with fewer runs for large sizes and slow
engines so that the whole benchmark stays within a few minutes.
"""

import contextlib
import gc
import statistics
from dataclasses import dataclass
from time import perf_counter


@dataclass
class Run:
    """One timed run: seconds recording and seconds in backward, plus the
    engine's graph and leaves, kept for checking and inspection."""

    record_s: float
    backward_s: float
    graph: object
    leaves: list


@dataclass
class Timing:
    """Median seconds of ``runs`` timed runs."""

    record_s: float
    backward_s: float
    runs: int

    @property
    def total_s(self):
        return self.record_s + self.backward_s


@contextlib.contextmanager
def gc_disabled():
    """The garbage collector off inside the block (restored after)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def timed_run(engine, fn, xs):
    """Record ``fn`` on leaves made from the floats ``xs``, then backward."""
    leaves = engine.leaves(xs)
    gc.collect()
    with engine.timed_region():
        start = perf_counter()
        graph = engine.record(fn, leaves)
        recorded = perf_counter()
        engine.backward(graph)
        done = perf_counter()
    return Run(recorded - start, done - recorded, graph, leaves)


def median_timing(engine, fn, xs, runs):
    """Median record and backward seconds over ``runs`` timed runs."""
    record_s, backward_s = [], []
    for _ in range(runs):
        run = timed_run(engine, fn, xs)
        record_s.append(run.record_s)
        backward_s.append(run.backward_s)
        del run  # free this graph before the next run builds one
    return Timing(statistics.median(record_s), statistics.median(backward_s), runs)


@dataclass(frozen=True)
class RepeatPlan:
    """How many timed runs to make after the warm-up.

    ``runs_for(n, warmup_s)`` is the planned count for size ``n``, cut down
    so that the runs of one engine at one size take about ``budget_s``
    seconds (judged from the warm-up), but never below ``min_runs``.
    """

    small: int  # n <= 2,000
    medium: int  # n <= 20,000
    large: int
    budget_s: float
    min_runs: int

    def runs_for(self, n, warmup_s):
        planned = self.small if n <= 2_000 else self.medium if n <= 20_000 else self.large
        affordable = int(self.budget_s / max(warmup_s, 1e-9))
        return max(self.min_runs, min(planned, affordable))


FULL = RepeatPlan(small=9, medium=5, large=3, budget_s=10.0, min_runs=3)
QUICK = RepeatPlan(small=3, medium=2, large=1, budget_s=3.0, min_runs=1)
