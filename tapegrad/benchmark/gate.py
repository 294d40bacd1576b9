"""The CI performance gate: this run's figures against a committed baseline.

Only figures that survive a change of machine are compared:

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

>>> base = [record("w", "tapegrad", 1, "records", 10, "count"),
...         record("w", "tapegrad", 1, "time_vs_python_loop", 2.0, "ratio")]
>>> now = [record("w", "tapegrad", 1, "records", 10, "count"),
...        record("w", "tapegrad", 1, "time_vs_python_loop", 3.5, "ratio")]
>>> [(f.status, f.metric) for f in compare(base, now, tolerance=0.5)]
[('ok', 'records'), ('REGRESSED', 'time_vs_python_loop')]
"""

from dataclasses import dataclass

from tapegrad.benchmark.records import gate_kind, key, record  # noqa: F401 (doctest)

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
