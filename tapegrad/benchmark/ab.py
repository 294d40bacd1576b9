"""A/B runs: two source trees measured on this machine, in the same run.

Each build is a source tree (the working tree, or a commit exported by
:mod:`tapegrad.benchmark.trees`).  Every measurement is that tree's own
quick run (``run --quick --no-fresh --peers ''``) in a fresh process whose
working directory and ``PYTHONPATH`` are the tree, under this interpreter,
so each build imports its own ``tapegrad``; the child reports where it
imported each module from, and a child that imported a module from outside
its tree (e.g. through an editable install) stops the A/B.  Each tree runs
once untimed first (numba compiles its kernel cache per tree), then the
builds alternate round by round, the order swapped every other round
(A B, B A, A B, ...) so that neither build always goes first.

>>> order(4, ["ref", "head"])
[['ref', 'head'], ['head', 'ref'], ['ref', 'head'], ['head', 'ref']]
>>> from tapegrad.benchmark.results import record
>>> rounds = [[record("w", "tapegrad", 1, "time_min", s, "s")] for s in (2.0, 2.2)]
>>> figures(rounds)
{('w', 'tapegrad', 1, 'time_min'): [2.0, 2.2]}
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tapegrad.benchmark import results, trees

#: Interleaved rounds of an A/B by default (each round runs both builds once),
#: and seconds of timed calls per case in each run: on a shared machine more,
#: shorter rounds beat fewer, longer ones (noise comes in bursts per process).
ROUNDS = 10
BUDGET = 0.2

#: The timed figures an A/B compares, per workload and size, and what each times:
#: for the engine ``tapegrad`` a call records the tape and sweeps it; for
#: ``tapegrad-replay`` (in builds that have it) it replays one recording; for
#: ``tapegrad-vector`` (in builds that have it) it records and sweeps array
#: ops (a vectorized form, or a training step); ``tapegrad-replay-vector``
#: replays one recording of the vectorized form, fused.  A figure that only one
#: build measured is reported, not gated.
FIGURES = {
    "time_min": "best call, value and gradient",
    "sweep_ns_per_op": "the reverse sweep alone",
}
ENGINES = ("tapegrad", "tapegrad-replay", "tapegrad-vector", "tapegrad-replay-vector")

_CHILD = """\
import importlib.util, json, runpy, sys
sys.argv = {argv!r}
origins = {{}}
for name in {modules!r}:
    try:
        origins[name] = importlib.util.find_spec(name).origin
    except (ImportError, AttributeError):
        origins[name] = None
print("ab-origins " + json.dumps(origins), flush=True)
runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
"""


class RunError(RuntimeError):
    """A build's run failed, or did not measure its own tree."""


@dataclass(frozen=True)
class Build:
    """A source tree to measure, by label (``"ref"``, ``"head"``)."""

    label: str
    tree: Path


@dataclass(frozen=True)
class Options:
    """What each run measures: ``module`` is the tree's benchmark CLI run
    with ``python -m`` (``bench`` in tapegrad's repository), ``workloads``
    the module of workloads, ``only`` a comma-separated subset or None,
    ``budget`` seconds of timed calls per case."""

    module: str = "bench"
    workloads: str = "bench.workloads"
    only: str = None
    budget: float = BUDGET
    timeout: float = 900.0


def order(rounds, labels):
    """The order of the builds in each round: swapped every other round."""
    return [list(labels) if r % 2 == 0 else list(reversed(labels)) for r in range(rounds)]


def _inside(path, tree):
    try:
        Path(path).resolve().relative_to(Path(tree).resolve())
        return True
    except ValueError:
        return False


def check_origins(origins, tree):
    """Raise :class:`RunError` if a module the tree contains was imported
    from elsewhere.  ``origins`` maps module names to the files imported.

    >>> repository = Path(__file__).parents[2]  # holds tapegrad/
    >>> check_origins({"tapegrad": str(repository / "tapegrad" / "__init__.py")}, repository)
    >>> check_origins({"tapegrad": "/elsewhere/tapegrad/__init__.py"}, repository)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    tapegrad.benchmark.ab.RunError: the run of ... imported tapegrad from /elsewhere/tapegrad/__init__.py, ...
    """
    for name, origin in origins.items():
        top = Path(tree, name.split(".")[0])
        if not (top.is_dir() or top.with_suffix(".py").is_file()):
            continue  # not part of this tree: nothing to check
        if origin is None or not _inside(origin, tree):
            raise RunError(f"the run of {tree} imported {name} from {origin}, not from that "
                           "tree: its figures would be another build's")


def run_once(build, out, options, budget=None):
    r"""One quick run of ``build`` in a fresh process; its records (also
    written to ``out``).  A tree of one's own, measured with ``tapegrad-bench``:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tree:
    ...     _ = Path(tree, "squares.py").write_text(
    ...         "import numpy as np\n"
    ...         "from tapegrad.benchmark import Workload\n"
    ...         "W = Workload('squares', lambda x, m: sum(v * v for v in x),\n"
    ...         "             point=np.arange, sizes=(50,), quick_sizes=(50,))\n")
    ...     options = Options(module="tapegrad.benchmark", workloads="squares", budget=0.01)
    ...     rs = run_once(Build("demo", Path(tree)), Path(tree, "run.json"), options)
    >>> [r["value"] for r in rs if r["metric"] == "records" and r["engine"] == "tapegrad"]
    [150]
    """
    argv = [options.module, "run", options.workloads, "--quick", "--no-fresh", "--peers", "",
            "--budget", str(options.budget if budget is None else budget), "--json", str(out)]
    if options.only:
        argv += ["--only", options.only]
    modules = ["tapegrad", options.module, options.workloads]
    code = _CHILD.format(argv=argv, modules=modules, module=options.module)
    env = {**os.environ, "PYTHONPATH": str(build.tree)}
    try:
        done = subprocess.run([sys.executable, "-c", code], cwd=build.tree, env=env,
                              capture_output=True, text=True, timeout=options.timeout)
    except subprocess.TimeoutExpired:
        raise RunError(f"the {build.label} run took over {options.timeout:g} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise RunError(f"the {build.label} run ({build.tree}) failed:\n{tail}")
    line = next((x for x in done.stdout.splitlines() if x.startswith("ab-origins ")), None)
    if line is None:
        raise RunError(f"the {build.label} run did not report what it imported")
    check_origins(json.loads(line.split(" ", 1)[1]), build.tree)
    return results.load(out)[1]


def measure(builds, rounds, options, workdir, log=print):
    """Warm each build once untimed, then ``rounds`` interleaved rounds.
    Returns ``{label: [records of round 0, round 1, ...]}``."""
    by_label = {b.label: b for b in builds}
    for build in builds:
        start = time.perf_counter()
        run_once(build, Path(workdir, f"warm-{build.label}.json"), options, budget=0.01)
        log(f"ab: warmed {build.label} ({build.tree}) in {time.perf_counter() - start:.0f} s")
    runs = {b.label: [] for b in builds}
    for r, labels in enumerate(order(rounds, by_label)):
        took = []
        for label in labels:
            start = time.perf_counter()
            out = Path(workdir, f"round{r}-{label}.json")
            runs[label].append(run_once(by_label[label], out, options))
            took.append(f"{label} {time.perf_counter() - start:.0f} s")
        log(f"ab: round {r + 1}/{rounds}: {', '.join(took)}")
    return runs


def figures(rounds):
    """``{(workload, engine, size, metric): [value per round]}`` of the
    :data:`FIGURES` of the :data:`ENGINES`, from each round's records."""
    found = {}
    for records_of_round in rounds:
        for r in records_of_round:
            if r["engine"] in ENGINES and r["metric"] in FIGURES:
                found.setdefault(results.key(r), []).append(r["value"])
    return found


def against(ref, rounds, options, log=print, repo="."):
    """Measure commit ``ref`` (exported to a temporary directory) and the
    working tree of ``repo`` in ``rounds`` interleaved rounds.  Returns
    ``(commit id, head tree, {"ref": rounds, "head": rounds})``; raises
    :class:`~tapegrad.benchmark.trees.TreeError` or :class:`RunError`."""
    head = trees.toplevel(repo)
    with tempfile.TemporaryDirectory(prefix="tapegrad-ab-") as workdir:
        commit = trees.export(ref, head, Path(workdir, "ref"))
        log(f"ab: ref = {ref} = commit {commit[:12]} (exported to {workdir}/ref), "
            f"head = the working tree {head}")
        builds = [Build("ref", Path(workdir, "ref")), Build("head", head)]
        return commit, head, measure(builds, rounds, options, workdir, log)
