"""Timing with a warm-up, repeats and a time budget.

Each case is called once untimed (the warm-up, which also serves as the
correctness check's run), then timed ``runs`` times, where ``runs`` fits a
time budget between ``min_runs`` and ``max_runs``.  Figures are wall-clock
seconds per call: median, min and max, and the same for each phase an engine
reports (e.g. ``record`` and ``backward``).

>>> stats = time_calls(lambda: sum(range(1000)), budget_s=0.01, min_runs=3)
>>> stats.runs >= 3 and stats.min <= stats.median <= stats.max
True
"""

import statistics
from dataclasses import dataclass, field
from time import perf_counter
from typing import Dict


@dataclass(frozen=True)
class Stats:
    """Seconds per call over ``runs`` timed calls."""

    median: float
    min: float
    max: float
    runs: int
    phases: Dict[str, "Stats"] = field(default_factory=dict)

    @classmethod
    def of(cls, seconds, phases=None):
        return cls(statistics.median(seconds), min(seconds), max(seconds), len(seconds),
                   phases or {})


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
    return Stats.of(seconds, {name: Stats.of(s) for name, s in phases.items()})
