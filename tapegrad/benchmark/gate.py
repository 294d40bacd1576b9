"""The CI performance gate: a run's figures against a committed baseline,
or two builds measured in the same run (an A/B).

Against the baseline file (:func:`compare`), when the run and the baseline
come from the same machine fingerprint
(:func:`~tapegrad.benchmark.results.fingerprint`):

* deterministic counts (records per workload, bytes per op, kernel
  compilations) must be equal;
* tapegrad's times divided by a calibration loop of the same run, and its
  speed-ups over peers of the same run, may move by ``tolerance`` (relative,
  the same either way: 0.5 fails at 1.5x slower or 1/1.5x the speed-up).
  A speed-up whose calls took under :data:`MIN_GATED_SECONDS` (either
  engine, in the baseline) is reported but not gated: on a shared machine
  such calls measure dispatch jitter more than the engines.

A figure in the baseline that this run did not measure (a peer that is not
installed here) is listed as not measured, never failed.

Between two builds (:func:`compare_builds`), measured round after round on
one machine (:mod:`tapegrad.benchmark.ab`): tapegrad's seconds per call and
its reverse sweep's ns per record, per workload and size; a figure fails
only when the head is slower than the reference by more than the tolerance
with confidence (:func:`ratio_interval`).  Calibration loops do not survive
a change of CPU (recording and sweeping scale differently from them); two
builds timed side by side do.

>>> base = [record("w", "tapegrad", 1, "records", 10, "count"),
...         record("w", "tapegrad", 1, "time_vs_python_loop", 2.0, "ratio")]
>>> now = [record("w", "tapegrad", 1, "records", 10, "count"),
...        record("w", "tapegrad", 1, "time_vs_python_loop", 3.5, "ratio")]
>>> [(f.status, f.metric) for f in compare(base, now, tolerance=0.5)]
[('ok', 'records'), ('REGRESSED', 'time_vs_python_loop')]
"""

from dataclasses import dataclass

import numpy as np

from tapegrad.benchmark.ab import FIGURES
from tapegrad.benchmark.results import gate_kind, key, record  # noqa: F401 (doctest)

MIN_GATED_SECONDS = 1e-3


@dataclass(frozen=True)
class Finding:
    workload: str
    engine: str
    size: int
    metric: str
    baseline: float
    current: object  # float, or None when not measured
    status: str  # "ok", "REGRESSED", "improved", "not measured", "too fast"

    def name(self):
        return f"{self.workload}/{self.engine}/{self.size} {self.metric}"

    def describe(self):
        where = f"{self.workload}/{self.engine}/{self.size} {self.metric}"
        if self.current is None:
            return f"{self.status:>12}  {where}: baseline {self.baseline:.4g}"
        change = ""
        if self.baseline:
            change = f" ({(self.current / self.baseline - 1) * 100:+.1f}%)"
        return (f"{self.status:>12}  {where}: baseline {self.baseline:.4g}, "
                f"now {self.current:.4g}{change}")


def _status(kind, better, base, now, tolerance):
    if kind == "exact":
        return "ok" if now == base else "REGRESSED"
    worse = now > base * (1 + tolerance) if better == "lower" else now < base / (1 + tolerance)
    if worse:
        return "REGRESSED"
    better_now = now < base if better == "lower" else now > base
    return "improved" if better_now and not _close(base, now, tolerance) else "ok"


def _close(base, now, tolerance):
    return max(base, now) <= min(base, now) * (1 + tolerance)


def _too_fast(r, best_time):
    """Whether ``r`` is a speed-up over calls too short to gate."""
    if not r["metric"].startswith("speedup_vs:"):
        return False
    peer = r["metric"].split(":", 1)[1]
    times = [best_time.get((r["workload"], engine, r["size"]), 0.0)
             for engine in (r["engine"], peer)]
    return min(times) < MIN_GATED_SECONDS


def compare(baseline, current, tolerance=0.5):
    """A :class:`Finding` for every gated figure of ``baseline``."""
    now = {key(r): r for r in current}
    best_time = {(r["workload"], r["engine"], r["size"]): r["value"]
                 for r in baseline if r["metric"] == "time_min"}
    findings = []
    for r in baseline:
        kind = gate_kind(r["metric"])
        if kind is None:
            continue
        mine = now.get(key(r))
        if mine is None:
            status, value = "not measured", None
        elif _too_fast(r, best_time):
            status, value = "too fast", mine["value"]
        else:
            value = mine["value"]
            status = _status(kind, r["better"], r["value"], value, tolerance)
        findings.append(Finding(r["workload"], r["engine"], r["size"], r["metric"],
                                r["value"], value, status))
    return findings


def regressions(findings):
    return [f for f in findings if f.status == "REGRESSED"]


# The A/B: the same figures of two builds, measured round by round in one run.

#: Default tolerance of the A/B: fail when the head is, with confidence, more
#: than 25% slower than the commit it is compared with.
AB_TOLERANCE = 0.25
CONFIDENCE = 0.95


def ratio_interval(ref, head, confidence=CONFIDENCE, resamples=4000, seed=0):
    """``(ratio, low, high)``: ``min(head) / min(ref)``, the ratio of each
    build's best round, and a bootstrap ``confidence`` interval of it (each
    build's rounds resampled on their own; fixed seed: reproducible).

    The best round, because on a shared machine noise only ever adds time,
    in bursts that slow a whole run 1.5x or more: most rounds sit on a floor
    a few percent wide, the rest anywhere above it.  The interval is narrow
    when several rounds of each build reach the floor, wide when one did.

    >>> ratio, low, high = ratio_interval([1.0, 1.02, 1.7, 1.01, 1.6, 1.0],
    ...                                   [2.0, 3.4, 2.03, 2.0, 2.05, 3.5])
    >>> f"{ratio:.2f}x [{low:.2f}, {high:.2f}]"  # bursts (1.6, 1.7, 3.4, 3.5) do not count
    '2.00x [1.98, 2.03]'
    """
    ref, head = np.log(np.asarray(ref, dtype=float)), np.log(np.asarray(head, dtype=float))
    rng = np.random.default_rng(seed)
    best_head = head[rng.integers(0, len(head), (resamples, len(head)))].min(axis=1)
    best_ref = ref[rng.integers(0, len(ref), (resamples, len(ref)))].min(axis=1)
    low, high = np.quantile(best_head - best_ref, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(np.exp(head.min() - ref.min())), float(np.exp(low)), float(np.exp(high))


@dataclass(frozen=True)
class Shift:
    """One figure of the head against the reference build: ``ratio`` is
    head / ref (above 1: the head is slower), ``low``-``high`` its interval."""

    workload: str
    engine: str
    size: int
    metric: str
    ratio: float
    low: float
    high: float
    rounds: int
    status: str  # "SLOWER" (fails), "slower?", "ok", "faster", "head only", "ref only"

    def name(self):
        return f"{self.workload}/{self.engine}/{self.size} {self.metric}"

    def describe(self):
        where = f"{self.name()} ({FIGURES.get(self.metric, '')})"
        if self.status in ("head only", "ref only"):
            return f"{self.status:>10}  {where}: measured in one build only, not gated"
        return (f"{self.status:>10}  {where}: head/ref {self.ratio:.3f}x, "
                f"{CONFIDENCE:.0%} CI [{self.low:.3f}, {self.high:.3f}] over {self.rounds} rounds")


def _ab_status(ratio, low, high, tolerance):
    limit = 1 + tolerance
    if low > limit:
        return "SLOWER"
    if ratio > limit:
        return "slower?"
    return "faster" if high < 1 / limit else "ok"


def compare_builds(ref, head, tolerance=AB_TOLERANCE):
    """A :class:`Shift` per figure: ``ref`` and ``head`` map ``(workload,
    engine, size, metric)`` to the figure's value in each round.

    A figure fails (``"SLOWER"``) only when the head is slower than
    ``1 + tolerance`` times the reference *with confidence*: when the whole
    interval of :func:`ratio_interval` lies above it; a ratio past the
    tolerance whose interval is not (too few undisturbed rounds to tell) is
    ``"slower?"``, reported, not failed.

    >>> key = ("w", "tapegrad", 1, "time_min")
    >>> ref = {key: [1.0, 1.02, 1.6, 1.01, 0.99, 1.0]}
    >>> [s.status for s in compare_builds(ref, {key: [1.5, 1.52, 1.49, 2.4, 1.5, 1.53]})]
    ['SLOWER']
    >>> [s.status for s in compare_builds(ref, {key: [1.1, 0.99, 1.0, 1.05, 1.7, 1.0]})]
    ['ok']
    """
    shifts = []
    for key in list(ref) + [k for k in head if k not in ref]:
        if key not in head or key not in ref:
            shifts.append(Shift(*key, float("nan"), float("nan"), float("nan"), 0,
                                "ref only" if key in ref else "head only"))
            continue
        ratio, low, high = ratio_interval(ref[key], head[key])
        shifts.append(Shift(*key, ratio, low, high, min(len(ref[key]), len(head[key])),
                            _ab_status(ratio, low, high, tolerance)))
    return shifts
