"""First-call latency in a fresh process: imports plus the first gradient.

What a user waits for when a script starts: ``import`` of the engine, any
compilation (tapegrad's kernels load from numba's on-disk cache; JAX traces
and compiles), and one value-and-gradient.  Each engine is timed in its own
subprocess, from the first statement after the interpreter starts.
"""

import json
import subprocess
import sys

from tapegrad.benchmark.results import record

_CODE = (
    "import time; t0 = time.perf_counter(); "
    "from tapegrad.benchmark.fresh import first_gradient; "
    "first_gradient(t0, {args})"
)


def first_gradient(t0, workload_module, workload_name, peer_module, engine_name, size):
    """In the subprocess: load the workload and engine by name, compute one
    gradient, print the seconds since ``t0`` as JSON."""
    import time

    from tapegrad.benchmark.engine import Tapegrad
    from tapegrad.benchmark.workload import load

    workload = next(w for w in load(workload_module) if w.name == workload_name)
    engines = [Tapegrad()]
    if peer_module:
        engines += __import__(peer_module, fromlist=["PEERS"]).PEERS
    engine = next(e for e in engines if e.name == engine_name)
    x = workload.inputs(size)
    engine.prepare(workload, x)(x)
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def fresh_latencies(workload_module, peer_module, workload, engines, result, timeout=300):
    """Add a ``fresh_first_gradient`` record per available engine, for
    ``workload`` at its smallest quick size."""
    size = min(workload.quick_sizes)
    for engine in engines:
        if engine.unavailable() or engine.supports(workload):
            continue
        args = ", ".join(repr(a) for a in (workload_module, workload.name, peer_module,
                                           engine.name, size))
        done = subprocess.run([sys.executable, "-c", _CODE.format(args=args)],
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            result.skipped.append((workload.name, engine.name, size, f"fresh process: {last}"))
            continue
        seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
        result.records.append(record(workload.name, engine.name, size,
                                     "fresh_first_gradient", seconds, "s"))
