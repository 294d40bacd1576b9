"""What ``python -m bench`` prints.

A header (date, machine, versions, how figures are taken), then for each size
a table of every engine and the ratios of tapegrad to each peer, and at the
end tapegrad's targets, each PASS or FAIL with the figures it was judged on.
Times are per op, where an op is one tapegrad tape record; peers run the same
program and are divided by the same count.
"""

import datetime
import os
import platform

import numba
import numpy

from bench.suite import RTOL

# The targets (this 2-core machine).
RECORD_NS_PER_OP = 1000.0
BACKWARD_NS_PER_RECORD = 5.0
SPEEDUP_N = 10_000
SPEEDUP_OVER = (("micrograd (GC off)", 4.0), ("torch scalars", 5.0))
TAPE_BYTES_PER_OP = 40.0
BARE_LOOP_RATIO = 1.5

_COLUMNS = ("engine", "runs", "record ns/op", "backward ns/op", "total ns/op", "bytes/op")
_WIDTHS = (20, 5, 13, 15, 13, 10)


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (else what platform says)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def header(workload, engines):
    """Lines naming the run: what, when, where, which versions, how."""
    now = datetime.datetime.now().astimezone()
    lines = [
        f"tapegrad benchmark: {workload.DESCRIPTION}",
        f"date:     {now:%Y-%m-%d %H:%M %Z}",
        f"machine:  {cpu_model()}, {os.cpu_count()} cores",
        f"software: Python {platform.python_version()}, numpy {numpy.__version__}, "
        f"numba {numba.__version__}",
        "engines:",
    ]
    for engine in engines:
        reason = engine.unavailable()
        about = f"skipped ({reason})" if reason else engine.version()
        lines.append(f"  {engine.name:<20} {about}")
    lines += [
        "ops:      tapegrad tape records (8 a term + 1 per input); every engine's time",
        "          is divided by that count, so ratios compare the same program.",
        "figures:  median of timed runs after a warm-up run whose value and gradient",
        f"          matched the analytic ones to rtol {RTOL:g}.",
    ]
    return lines


def _row(cells):
    first, *rest = cells
    return f"{first:<{_WIDTHS[0]}}" + "".join(f"{c:>{w + 2}}" for c, w in zip(rest, _WIDTHS[1:]))


def _ns(seconds, ops):
    return f"{seconds / ops * 1e9:,.1f}"


def _faster(ratio):
    """A time ratio (theirs / ours) as 'N.N× faster' or 'N.N× slower'."""
    return f"{ratio:.1f}× faster" if ratio >= 1 else f"{1 / ratio:.1f}× slower"


def size_table(result):
    """The table and ratio lines of one :class:`~bench.suite.SizeResult`."""
    ops = result.ops
    lines = [f"n = {result.n:,}: {ops:,} tape records", _row(_COLUMNS)]
    for row in result.rows:
        if row.timing is None:
            lines.append(f"{row.engine:<{_WIDTHS[0]}}  {row.skipped}")
            continue
        t = row.timing
        size = f"{_live_bytes(result):.1f}" if row.engine == "tapegrad" else "-"
        lines.append(_row((row.engine, str(t.runs), _ns(t.record_s, ops),
                           _ns(t.backward_s, ops), _ns(t.total_s, ops), size)))
    lines += [
        f"tapegrad tape: {_live_bytes(result):.1f} B/op live records, "
        f"{_held_bytes(result):.1f} B/op held (buffer capacity); backward: +8 B/record adjoints",
        f"tapegrad reverse sweep alone (the kernel, no leaf write-back): "
        f"{_ns(result.sweep_s, ops)} ns/record",
        f"bare numba reverse loop over the same tape: {_ns(result.bare_sweep_s, ops)} ns/record",
    ]
    ours = result.timing("tapegrad")
    for row in result.rows:
        if row.timing is None or row.engine == "tapegrad":
            continue
        peer = row.timing
        lines.append(
            f"tapegrad vs {row.engine}: forward+backward {_faster(peer.total_s / ours.total_s)} "
            f"(record {peer.record_s / ours.record_s:.1f}×, "
            f"backward {peer.backward_s / ours.backward_s:.1f}×)"
        )
    ratio = _over_bare_loop(result)
    lines.append(f"tapegrad reverse sweep vs the bare numba loop: {ratio:.1f}× its time")
    return lines


def _record_ns(result):
    return result.timing("tapegrad").record_s / result.ops * 1e9


def _sweep_ns(result):
    return result.sweep_s / result.ops * 1e9


def _live_bytes(result):
    return result.tape.live_bytes / result.ops


def _held_bytes(result):
    return result.tape.held_bytes / result.ops


def _over_bare_loop(result):
    return result.sweep_s / result.bare_sweep_s


#: Targets judged at every size: (what, figure of a SizeResult, unit, limit).
PER_SIZE_TARGETS = (
    (f"recording ≤ {RECORD_NS_PER_OP:,.0f} ns/op", _record_ns, " ns/op", RECORD_NS_PER_OP),
    (f"backward sweep ≤ {BACKWARD_NS_PER_RECORD:g} ns/record", _sweep_ns, " ns/record",
     BACKWARD_NS_PER_RECORD),
    (f"tape ≤ {TAPE_BYTES_PER_OP:g} B/op, live records", _live_bytes, " B/op",
     TAPE_BYTES_PER_OP),
    (f"reverse sweep ≤ {BARE_LOOP_RATIO:g}× a bare numba loop", _over_bare_loop, "×",
     BARE_LOOP_RATIO),
)


def _verdict(passed, text):
    return f"  {'PASS' if passed else 'FAIL'}  {text}"


def targets(results):
    """The targets, each PASS or FAIL on this run's figures."""
    lines = ["targets (this machine):"]
    for what, figure, unit, limit in PER_SIZE_TARGETS:
        values = [(r.n, figure(r)) for r in results]
        shown = ", ".join(f"{v:,.1f}{unit} (n = {n:,})" for n, v in values)
        lines.append(_verdict(all(v <= limit for _, v in values), f"{what}: {shown}"))
    at_n = next((r for r in results if r.n == SPEEDUP_N), None)
    for peer, factor in SPEEDUP_OVER:
        what = f"forward+backward ≥ {factor:g}× faster than {peer} at n = {SPEEDUP_N:,}"
        theirs = at_n.timing(peer) if at_n is not None else None
        if theirs is None:
            why = f"n = {SPEEDUP_N:,} not run" if at_n is None else f"{peer} not run"
            lines.append(f"  ----  {what}: not measured ({why})")
            continue
        ratio = theirs.total_s / at_n.timing("tapegrad").total_s
        lines.append(_verdict(ratio >= factor, f"{what}: {ratio:.1f}×"))
    return lines
