"""Showing results: the terminal tables, a progress bar, and the plot.

Everything here reads the flat records (:mod:`tapegrad.benchmark.results`),
so a JSON file from any run can be shown the same way.
"""

import sys
from collections import defaultdict

#: The terminal table's columns: (heading, metric, width, scale); the
#: engine's name comes first, as wide as the longest.  ``cpu/wall`` is the
#: CPU time over the wall time of the timed calls (all the threads of the
#: process that ran them).
_COLUMNS = (
    ("median ms", "time_median", 10, 1e3),
    ("min ms", "time_min", 9, 1e3),
    ("max ms", "time_max", 9, 1e3),
    ("ns/op", "ns_per_op", 9, 1.0),
    ("J/f", "j_over_f", 7, 1.0),
    ("cpu/wall", "cpu_over_wall", 8, 1.0),
    ("once s", "one_time", 8, 1.0),
    ("1st call s", "first_call", 10, 1.0),
    ("peak MB", "peak_memory", 8, 1e-6),
)
#: A training step's: per step, with the quartiles (no ns/op, no J/f).
_STEP_COLUMNS = (
    ("median ms", "time_median", 10, 1e3),
    ("p25 ms", "time_p25", 9, 1e3),
    ("p75 ms", "time_p75", 9, 1e3),
    ("min ms", "time_min", 9, 1e3),
    ("max ms", "time_max", 9, 1e3),
    ("cpu/wall", "cpu_over_wall", 8, 1.0),
    ("once s", "one_time", 8, 1.0),
    ("1st call s", "first_call", 10, 1.0),
    ("peak MB", "peak_memory", 8, 1e-6),
)


def _index(records):
    """{(workload, size): {engine: {metric: value}}} in first-seen order."""
    table = defaultdict(lambda: defaultdict(dict))
    for r in records:
        table[(r["workload"], r["size"])][r["engine"]][r["metric"]] = r["value"]
    return table


def _cell(value, width, scale):
    if value is None:
        return "-".rjust(width)
    number = value * scale
    text = f"{number:,.0f}" if abs(number) >= 1000 else f"{number:.3g}"
    return text.rjust(width)


def _table(engines, columns):
    """The heading and one line per timed engine."""
    timed = {e: f for e, f in engines.items() if "time_median" in f}
    width = max([16, *map(len, timed)])
    lines = ["  " + " ".join(["engine".ljust(width)]
                             + [name.rjust(w) for name, _, w, _ in columns])]
    for engine, figures in timed.items():
        lines.append("  " + " ".join([engine.ljust(width)] + [
            _cell(figures.get(metric), w, scale) for _, metric, w, scale in columns]))
    return lines


def tables(records, skipped=(), workloads=None):
    """The lines of one table per (workload, size), plus tapegrad's ratios.

    >>> from tapegrad.benchmark.results import record
    >>> rs = [record("step", e, 10, m, v, "s") for e in ("tapegrad-vector", "pytensor-vector")
    ...       for m, v in (("time_median", 2e-3), ("time_p25", 1.9e-3), ("time_p75", 2.2e-3),
    ...                    ("cpu_over_wall", 1.0))]
    >>> print("\\n".join(tables(rs + [record("step", "tapegrad-vector", 10, "arena_bytes", 0, "B")])))
    <BLANKLINE>
    step  size = 10
      engine            median ms    p25 ms    p75 ms    min ms    max ms cpu/wall   once s 1st call s  peak MB
      tapegrad-vector           2       1.9       2.2         -         -        1        -          -        -
      pytensor-vector           2       1.9       2.2         -         -        1        -          -        -
    """
    lines = []
    described = {w.name: w for w in workloads or ()}
    why_not = defaultdict(list)
    for workload, engine, size, why in skipped:
        why_not[(workload, size)].append(f"{engine} ({why})")
    for (workload, size), engines in _index(records).items():
        if workload in ("calibration", "all") or not any(
                "time_median" in f for f in engines.values()):
            continue  # run-wide figures, or figures without timed calls (notes)
        ours = engines.get("tapegrad", {})
        vector = engines.get("tapegrad-vector", {})
        w = described.get(workload)
        size_name = w.size_name if w else "size"
        head = f"{workload}  {size_name} = {size:,}"
        if "records" in ours:
            head += f"  ({ours['records']:,} tapegrad records, {ours['bytes_per_op']:.1f} B each)"
        elif "records" in vector:
            head += (f"  (a training step: {vector['records']:,} tapegrad-vector records, "
                     f"{vector.get('arena_bytes', 0) / 1e6:.2f} MB of arrays on the tape)")
        step = "step" in w.forms if w else "arena_bytes" in vector
        lines += ["", head, *_table(engines, _STEP_COLUMNS if step else _COLUMNS)]
        if "sweep_ns_per_op" in ours:
            phases = ", ".join(f"{m[:-10]} {v:.1f}" for m, v in ours.items()
                               if m.endswith("_ns_per_op") and m != "ns_per_op")
            lines.append(f"  tapegrad ns/op by phase: {phases} (sweep = the kernel alone)")
        phases = [(m[:-12], v) for m, v in vector.items() if m.endswith("_time_median")]
        if phases:
            lines.append("  tapegrad-vector ms by phase: "
                         + ", ".join(f"{p} {v * 1e3:.2f}" for p, v in phases))
        for engine in ("tapegrad", "tapegrad-vector", "tapegrad-replay-vector"):
            lines += _speedup_line(engine, engines.get(engine, {}))
        lines += _floor_line(engines)
        rss = [(e, f["step_peak_rss"], f.get("step_resident")) for e, f in engines.items()
               if "step_peak_rss" in f]
        if rss:
            lines.append("  peak memory of a step above the process between steps (fresh "
                         "process each): " + ", ".join(f"{e} {v / 1e6:.1f} MB" for e, v, _ in rss))
        if why_not[(workload, size)]:
            lines.append("  not timed: " + "; ".join(why_not[(workload, size)]))
    return lines


def _floor_line(engines):
    """Each timed engine's median over the step's BLAS calls alone."""
    floor = engines.get("blas-floor", {}).get("floor_time_median")
    if not floor:
        return []
    ratios = ", ".join(f"{e} {f['time_median'] / floor:.2f}x" for e, f in engines.items()
                       if "time_median" in f)
    return [f"  the step's BLAS calls alone (the floor): {floor * 1e3:.3g} ms; "
            f"median over it: {ratios}"]


def _speedup_line(engine, figures):
    speedups = [(m.split(":", 1)[1], v) for m, v in figures.items() if m.startswith("speedup_vs:")]
    if not speedups:
        return []
    return [f"  {engine} is " + ", ".join(f"{v:.1f}x faster than {e}" if v >= 1
                                          else f"{1 / v:.1f}x slower than {e}"
                                          for e, v in speedups)]


def summary(records):
    """Run-wide figures: calibration, fresh-process latency, compilations,
    the fused-kernel cache's size.

    >>> summary([{"workload": "all", "engine": "tapegrad", "size": 0, "metric": m, "value": v}
    ...          for m, v in (("fused_cache_bytes", 2.5e6), ("fused_cache_kernels", 12))])[1:]
    ['fused-kernel cache on disk: 12 kernels, 2.5 MB (python -m tapegrad cache info)']
    """
    lines = [""]
    calib = {r["engine"]: r["value"] for r in records if r["workload"] == "calibration"}
    if calib:
        lines.append("calibration: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in calib.items()))
    fresh = [r for r in records if r["metric"] == "fresh_first_gradient"]
    if fresh:
        lines.append("first gradient in a fresh process (imports included): " + ", ".join(
            f"{r['engine']} {r['value']:.2f} s" for r in fresh))
    compiled = [f"{r['engine']} {r['value']}" for r in records
                if r["metric"] == "kernel_compilations"]
    if compiled:
        lines.append("numba kernel signatures compiled or loaded this run: " + ", ".join(compiled))
    cache = {r["metric"]: r["value"] for r in records
             if r["metric"] in ("fused_cache_bytes", "fused_cache_kernels")}
    if cache:
        lines.append(f"fused-kernel cache on disk: {cache.get('fused_cache_kernels', 0)} kernels, "
                     f"{cache.get('fused_cache_bytes', 0) / 1e6:.1f} MB "
                     "(python -m tapegrad cache info)")
    return lines


def header(machine):
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    return [f"tapegrad benchmark, {machine['date']}",
            f"machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}",
            f"versions: {versions}"]


class Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, stream=sys.stderr, width=24):
        self.stream, self.width = stream, width
        self.active = stream.isatty()

    def __call__(self, done, total, label):
        if not self.active:
            return
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {label[:50]:<50}")
        if done >= total:
            self.stream.write("\r" + " " * (self.width + 70) + "\r")
        self.stream.flush()


def plot(records, path):
    """A PNG of ns/op against problem size: one panel per workload, one line
    per engine.  Needs matplotlib; raises ImportError with a clear message."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("--plot needs matplotlib: pip install matplotlib") from error
    series = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r["metric"] == "ns_per_op":
            series[r["workload"]][r["engine"]].append((r["size"], r["value"]))
    engines = list(dict.fromkeys(e for by_engine in series.values() for e in by_engine))
    colour = dict(zip(engines, plt.get_cmap("tab20").colors))
    cols = min(3, len(series))
    rows = -(-len(series) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows + 0.8), squeeze=False)
    for ax, (workload, by_engine) in zip(axes.flat, series.items()):
        for engine, points in by_engine.items():
            ax.plot(*zip(*sorted(points)), marker="o", color=colour[engine], label=engine)
        ax.set(title=workload, xlabel="size", ylabel="ns per op", xscale="log", yscale="log")
    for ax in axes.flat[len(series):]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=colour[e], marker="o") for e in engines]
    fig.legend(handles, engines, loc="lower center", ncol=min(len(engines), 6))
    fig.tight_layout(rect=(0, 0.08 if rows > 1 else 0.15, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(records, machine):
    """A Markdown table of ns per op (per tapegrad record of the same
    program) for every workload, size and engine, with tapegrad's J/f."""
    index = _index(records)
    engines = []
    for (workload, _), by_engine in index.items():
        for engine, figures in by_engine.items():
            if "ns_per_op" in figures and engine not in engines:
                engines.append(engine)
    lines = [
        f"ns per op, median (measured {machine['date']} on {machine['cpu']}, "
        f"{machine['cores']} cores, Python {machine['python']}); "
        "`-`: not run (not supported, or over the peer's size cap)",
        "",
        "| workload | size | records | tapegrad J/f | " + " | ".join(engines) + " |",
        "|---|---:|---:|---:|" + "---:|" * len(engines),
    ]
    for (workload, size), by_engine in index.items():
        ours = by_engine.get("tapegrad", {})
        if "records" not in ours:
            continue
        cells = [f"{by_engine.get(e, {}).get('ns_per_op', 0):,.0f}"
                 if "ns_per_op" in by_engine.get(e, {}) else "-" for e in engines]
        lines.append(f"| {workload} | {size:,} | {ours['records']:,} | {ours['j_over_f']:.1f} | "
                     + " | ".join(cells) + " |")
    return (lines + _markdown_vectorized(index) + _markdown_steps(index)
            + _markdown_fixed_cost(index))


#: The engines that run a workload's vectorized form, in table order.
_VECTOR_ENGINES = ("tapegrad-vector", "tapegrad-replay-vector", "torch-vector",
                   "jax-jit-vector", "autograd-vector", "pytensor-vector",
                   "pytensor-nofastmath-vector", "handwritten")


def _markdown_vectorized(index):
    """The vectorized forms' table: ms per value and gradient (median) per
    array engine, where ns per scalar record rounds to nothing."""
    cases = {case: by_engine for case, by_engine in index.items()
             if "records" in by_engine.get("tapegrad", {})
             and any("time_median" in by_engine.get(e, {}) for e in _VECTOR_ENGINES)}
    engines = [e for e in _VECTOR_ENGINES
               if any("time_median" in by_engine.get(e, {}) for by_engine in cases.values())]
    if not cases:
        return []
    lines = ["", "Vectorized forms: ms per value and gradient, median", "",
             "| workload | size | " + " | ".join(engines) + " |",
             "|---|---:|" + "---:|" * len(engines)]
    for (workload, size), by_engine in cases.items():
        cells = [f"{by_engine[e]['time_median'] * 1e3:.3g}" if "time_median" in by_engine.get(e, {})
                 else "-" for e in engines]
        lines.append(f"| {workload} | {size:,} | " + " | ".join(cells) + " |")
    return lines


def _markdown_steps(index):
    """The training steps' table, one row per engine: ms per step (median,
    and its quartiles), CPU time over wall time of the timed steps, and the
    peak memory of a step (fresh process) where measured, and the median
    over the step's BLAS calls timed alone (the floor) where measured.

    >>> from tapegrad.benchmark.results import record
    >>> figures = (("time_median", 2e-3), ("time_p25", 1.9e-3), ("time_p75", 2.25e-3),
    ...            ("cpu_over_wall", 1.004), ("arena_bytes", 5e6), ("step_peak_rss", 5.8e6))
    >>> print("\\n".join(_markdown_steps(_index([record("simplenet_f64", "tapegrad-vector",
    ...                                                10_000, m, v, "s") for m, v in figures]))))
    <BLANKLINE>
    Training steps: ms per step, median and quartiles; CPU time over wall time of the timed steps; peak MB of a step above the process between steps, in a fresh process; median over the step's BLAS calls timed alone
    <BLANKLINE>
    | workload | size | engine | median ms | p25-p75 ms | CPU/wall | peak MB | x BLAS floor |
    |---|---:|---|---:|---:|---:|---:|---:|
    | simplenet_f64 | 10,000 | tapegrad-vector | 2.00 | 1.90-2.25 | 1.00 | 5.8 | - |
    """
    steps = {case: by_engine for case, by_engine in index.items()
             if "arena_bytes" in by_engine.get("tapegrad-vector", {})}
    if not steps:
        return []
    lines = ["", "Training steps: ms per step, median and quartiles; CPU time over wall time "
             "of the timed steps; peak MB of a step above the process between steps, in a "
             "fresh process; median over the step's BLAS calls timed alone", "",
             "| workload | size | engine | median ms | p25-p75 ms | CPU/wall | peak MB "
             "| x BLAS floor |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for (workload, size), by_engine in steps.items():
        floor = by_engine.get("blas-floor", {}).get("floor_time_median")
        if floor:
            lines.append(f"| {workload} | {size:,} | the BLAS calls alone | {floor * 1e3:.2f} "
                         f"| - | - | - | 1.00 |")
        for engine, f in by_engine.items():
            if "time_median" not in f:
                continue
            quartiles = (f"{f['time_p25'] * 1e3:.2f}-{f['time_p75'] * 1e3:.2f}"
                         if "time_p25" in f and "time_p75" in f else "-")
            cpu = f"{f['cpu_over_wall']:.2f}" if "cpu_over_wall" in f else "-"
            peak = f"{f['step_peak_rss'] / 1e6:.1f}" if "step_peak_rss" in f else "-"
            over = f"{f['time_median'] / floor:.2f}" if floor else "-"
            lines.append(f"| {workload} | {size:,} | {engine} | {f['time_median'] * 1e3:.2f} | "
                         f"{quartiles} | {cpu} | {peak} | {over} |")
    return lines


def _markdown_fixed_cost(index):
    """The replay fixed cost's table (:mod:`tapegrad.benchmark.replay_cost`):
    us per value and gradient of each tiny program, one column per engine.

    >>> from tapegrad.benchmark.results import record
    >>> rows = [record("rms", e, 10, "replay_fixed_cost_us", v, "us")
    ...         for e, v in (("tapegrad", 1.9), ("pytensor-vector", 2.3))]
    >>> print("\\n".join(_markdown_fixed_cost(_index(rows))))
    <BLANKLINE>
    Replay fixed cost: us per value and gradient of a tiny program, best of batches of calls
    <BLANKLINE>
    | program | size | tapegrad | pytensor-vector |
    |---|---:|---:|---:|
    | rms | 10 | 1.90 | 2.30 |
    """
    cases = {case: by_engine for case, by_engine in index.items()
             if any("replay_fixed_cost_us" in f for f in by_engine.values())}
    engines = []
    for by_engine in cases.values():
        engines += [e for e, f in by_engine.items()
                    if "replay_fixed_cost_us" in f and e not in engines]
    if not cases:
        return []
    lines = ["", "Replay fixed cost: us per value and gradient of a tiny program, best of "
             "batches of calls", "",
             "| program | size | " + " | ".join(engines) + " |",
             "|---|---:|" + "---:|" * len(engines)]
    for (program, size), by_engine in cases.items():
        cells = [f"{by_engine[e]['replay_fixed_cost_us']:.2f}"
                 if "replay_fixed_cost_us" in by_engine.get(e, {}) else "-" for e in engines]
        lines.append(f"| {program} | {size:,} | " + " | ".join(cells) + " |")
    return lines
