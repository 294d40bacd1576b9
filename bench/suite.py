"""One workload at one size on every engine: check, then time.

Each engine first makes a warm-up run, whose value and gradient must match
the workload's analytic ones (else :class:`GradientMismatch` stops the
benchmark); the timed runs follow.  The first engine must record a tapegrad
tape: its record count is the op count every engine's time is divided by,
so per-op figures compare the same program, and its tape also gives the
storage figures and the bare-loop calibration.
"""

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from bench.calibrate import bare_sweep_seconds, sweep_seconds
from bench.timing import Timing, median_timing, timed_run

#: Relative tolerance of the value and gradient checks.
RTOL = 1e-9
_COLUMNS = ("op", "arg0", "arg1", "const", "val")


class GradientMismatch(AssertionError):
    """An engine's value or gradient disagrees with the analytic one."""


@dataclass(frozen=True)
class TapeStats:
    """A tapegrad tape: its records, the bytes their live part takes, and the
    bytes its buffers hold (capacity, including the slack left by doubling)."""

    records: int
    live_bytes: int
    held_bytes: int

    @classmethod
    def of(cls, tape):
        live = sum(getattr(tape, column).nbytes for column in _COLUMNS)
        return cls(len(tape), live, tape.nbytes)


@dataclass
class Row:
    """One engine's line in a size's table: a timing, or why there is none."""

    engine: str
    timing: Optional[Timing] = None
    skipped: Optional[str] = None


@dataclass
class SizeResult:
    """Every engine at one input size ``n``, timed per ``ops`` tape records."""

    n: int
    ops: int
    tape: TapeStats
    sweep_s: float  # tapegrad's reverse kernel alone
    bare_sweep_s: float
    rows: List[Row] = field(default_factory=list)

    def timing(self, engine_name):
        """The named engine's timing, or None if it was skipped or not run."""
        for row in self.rows:
            if row.engine == engine_name:
                return row.timing
        return None


def check(engine, workload, xs, run):
    """Raise :class:`GradientMismatch` unless ``run`` has the analytic value
    and gradient of ``workload`` at ``xs`` to :data:`RTOL`."""
    want_value, want_grad = float(workload.value(xs)), workload.gradient(xs)
    got_value, got_grad = engine.output(run.graph), engine.gradient(run.leaves)
    where = f"{engine.name}, {workload.NAME} at n = {len(xs):,}"
    if not np.isclose(got_value, want_value, rtol=RTOL, atol=0.0):
        raise GradientMismatch(f"{where}: value {got_value!r}, analytic {want_value!r}")
    if got_grad.shape != want_grad.shape:
        raise GradientMismatch(f"{where}: gradient shape {got_grad.shape}, not {want_grad.shape}")
    if not np.allclose(got_grad, want_grad, rtol=RTOL, atol=0.0):
        error = np.abs(got_grad - want_grad) / np.abs(want_grad)
        worst = int(np.argmax(error))
        raise GradientMismatch(
            f"{where}: gradient off by up to {error[worst]:.2e} relative "
            f"(component {worst}: {float(got_grad[worst])!r}, analytic {float(want_grad[worst])!r})"
        )


def measure_size(workload, engines, n, plan, progress=None):
    """Check and time every engine on ``workload`` at size ``n``.

    ``plan`` is a :class:`~bench.timing.RepeatPlan`; ``progress``, if given,
    is called with a short message before each engine runs.
    """
    xs = workload.point(n)
    first = engines[0]
    if first.unavailable() is not None or first.max_n is not None:
        raise ValueError(f"the first engine, {first.name}, must run at every size")
    result = None
    for engine in engines:
        reason = engine.unavailable()
        if reason is not None:
            result.rows.append(Row(engine.name, skipped=f"skipped ({reason})"))
            continue
        if engine.max_n is not None and n > engine.max_n:
            result.rows.append(Row(engine.name, skipped=f"skipped ({engine.cap_reason})"))
            continue
        if progress is not None:
            progress(f"{engine.name}, n = {n:,}")
        warmup = timed_run(engine, workload.function, xs)
        check(engine, workload, xs, warmup)
        if result is None:
            tape = engine.tape(warmup.graph)
            if tape is None:
                raise ValueError(f"the first engine, {engine.name}, must record a tapegrad tape")
            stats = TapeStats.of(tape)
            result = SizeResult(n, stats.records, stats, sweep_seconds(tape), bare_sweep_seconds(tape))
        runs = plan.runs_for(n, warmup.record_s + warmup.backward_s)
        del warmup  # free its graph before the timed runs build theirs
        result.rows.append(Row(engine.name, median_timing(engine, workload.function, xs, runs)))
    return result
