"""Timing with a warm-up, repeats and a time budget.

Each case is called once untimed (the warm-up, which also serves as the
correctness check's run), then timed ``runs`` times, where ``runs`` fits a
time budget between ``min_runs`` and ``max_runs``.  Figures are wall-clock
seconds per call: median, quartiles (p25, p75), min and max, and the same
for each phase an engine reports (e.g. ``record`` and ``backward``); and
``cpu_over_wall``, the process's CPU time over the wall time of the timed
calls (all its threads: above 1 when a tool computes on more than one core,
below 1 when the call waits).

This module imports only the standard library: an engine that runs in
another interpreter (``bench/pytensor_side.py``) loads this very file there,
so that its calls are timed by the same code.

>>> stats = time_calls(lambda: sum(range(1000)), budget_s=0.01, min_runs=3)
>>> stats.runs >= 3 and stats.min <= stats.p25 <= stats.median <= stats.p75 <= stats.max
True
>>> 0.0 < stats.cpu_over_wall < 1.5
True
>>> Stats.from_dict(stats.as_dict()) == stats
True
"""

import dataclasses
import statistics
from dataclasses import dataclass, field
from time import perf_counter, process_time
from typing import Dict, Optional


@dataclass(frozen=True)
class Stats:
    """Seconds per call over ``runs`` timed calls; ``cpu_over_wall`` (None
    for a phase) as in the module docstring."""

    median: float
    min: float
    max: float
    runs: int
    phases: Dict[str, "Stats"] = field(default_factory=dict)
    p25: Optional[float] = None
    p75: Optional[float] = None
    cpu_over_wall: Optional[float] = None

    @classmethod
    def of(cls, seconds, phases=None, cpu_over_wall=None):
        """Figures of a list of seconds; quartiles as NumPy's default
        (linear between the order statistics).

        >>> s = Stats.of([4.0, 1.0, 3.0, 2.0])
        >>> s.median, s.p25, s.p75, s.min, s.max
        (2.5, 1.75, 3.25, 1.0, 4.0)
        """
        if len(seconds) > 1:
            p25, _, p75 = statistics.quantiles(seconds, n=4, method="inclusive")
        else:
            p25 = p75 = seconds[0]
        return cls(statistics.median(seconds), min(seconds), max(seconds), len(seconds),
                   phases or {}, p25, p75, cpu_over_wall)

    def as_dict(self):
        """Plain data (JSON), phases included."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        """The inverse of :meth:`as_dict`."""
        phases = {name: cls.from_dict(p) for name, p in data.get("phases", {}).items()}
        return cls(**{**data, "phases": phases})


def time_calls(call, *, budget_s=0.5, min_runs=3, max_runs=50, region=None, engine=None):
    """Time ``call()`` repeatedly after one untimed warm-up call.

    ``region`` is a context manager factory entered around each timed call
    (e.g. the garbage collector off); ``engine``, if it reports ``phases``
    after each call, has them collected too.
    """
    start = perf_counter()
    call()
    first = perf_counter() - start
    runs = max(min_runs, min(max_runs, int(budget_s / max(first, 1e-9))))
    seconds, phases = [], {}
    cpu_start, wall_start = process_time(), perf_counter()
    for _ in range(runs):
        if region is not None:
            with region():
                start = perf_counter()
                call()
                seconds.append(perf_counter() - start)
        else:
            start = perf_counter()
            call()
            seconds.append(perf_counter() - start)
        for name, s in (getattr(engine, "phases", None) or {}).items():
            phases.setdefault(name, []).append(s)
    cpu, wall = process_time() - cpu_start, perf_counter() - wall_start
    return Stats.of(seconds, {name: Stats.of(s) for name, s in phases.items()},
                    cpu_over_wall=cpu / wall if wall > 0 else None)


def best_of_batches(call, *, calls=500, batches=9):
    """Seconds per ``call()`` for calls of a few microseconds, where one
    timer read per call would weigh: after one untimed call, the best of
    ``batches`` batches of ``calls`` calls, each batch's mean.

    >>> 0.0 < best_of_batches(lambda: None, calls=10, batches=2) < 1e-3
    True
    """
    call()
    best = float("inf")
    for _ in range(batches):
        start = perf_counter()
        for _ in range(calls):
            call()
        best = min(best, (perf_counter() - start) / calls)
    return best
