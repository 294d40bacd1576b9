"""The benchmark's results as flat JSON records, and the machine they came from.

A run is ``{"machine": {...}, "results": [record, ...]}``; each record is
``{workload, engine, size, metric, value, unit, better}`` with ``better``
``"lower"`` or ``"higher"``.  Metrics, by name:

========================  ======  =====  =========================================
metric                    unit    gate   meaning
========================  ======  =====  =========================================
time_median/min/max       s              seconds per call (value and gradient)
time_p25/p75              s              their quartiles (linear interpolation)
cpu_over_wall             ratio          CPU time / wall time of the timed calls [5]_
ns_per_op                 ns             median / tapegrad records of the program
j_over_f                  ratio          median / the plain-Python function's
one_time                  s              prepare: trace, compile, build (once)
first_call                s              first call after prepare, this process
fresh_first_gradient      s              import + first gradient, new process
peak_memory               bytes          tracemalloc peak during one call
step_peak_rss             bytes          a training step's resident peak [2]_
step_resident             bytes          that process's resident size between steps
record_ns_per_op ...      ns             per phase of a tape engine
record_time_median ...    s              per phase of a training step (tapegrad)
arena_bytes               bytes          arrays a training step's tape held
records                   count   exact  tapegrad records of the program
bytes_per_op              bytes   exact  tape bytes per record
kernel_compilations       count   exact  numba signatures compiled, per engine [1]_
fused_cache_bytes         bytes          the fused-kernel cache on disk after the run
fused_cache_kernels       count          the kernels it holds
dispatch_overhead_ns      ns             np.f(t) minus tapegrad's own spelling [4]_
replay_fixed_cost_us      us             value and gradient of a tiny program [4]_
vjp_over_forward          ratio          a linalg op's VJP / NumPy's forward call [4]_
save/load_seconds         s              rec.save / tapegrad.load, 1e6 records [6]_
file_bytes_per_record     bytes          the saved file's bytes per record [6]_
process_pool_speedup      ratio          one process / ProcessPoolExecutor(2) [6]_
dask_speedup              ratio          one process / a 2-worker LocalCluster [6]_
dask_overhead_s           s              that graph with tasks doing nothing [6]_
dask_task_overhead_ms     ms             an empty task on that cluster [6]_
time_vs_python_loop       ratio   tol    tapegrad time_min / python calibration
sweep_vs_numba_loop       ratio   tol    reverse sweep alone / numba calibration
speedup_vs:<engine>       ratio   tol    that engine's time_min / tapegrad's [3]_
========================  ======  =====  =========================================

.. [1] Engine ``tapegrad``: the harness's and the re-recording engine's;
   another engine that compiles tapegrad kernels (``tapegrad-replay``): those
   first compiled in its cases, as a figure of its own, so that adding an
   engine adds a figure instead of changing one.
.. [2] Above the resident size before the step, in a fresh process per
   engine (:mod:`tapegrad.benchmark.memory`); only in runs that start
   processes (not ``--no-fresh``).
.. [3] Of the record's engine: ``tapegrad`` over every engine of a scalar
   workload, ``tapegrad-vector`` over the other vectorized engines and over
   every engine of a training step (whose ``records`` are its tape's).
.. [4] Full runs only (:mod:`tapegrad.benchmark.numpy_api`,
   :mod:`tapegrad.benchmark.replay_cost`).
.. [5] ``time.process_time`` over ``time.perf_counter`` across the timed
   calls, in the process that ran them (an engine in another process, such
   as PyTensor on another interpreter, measures it there; its ``one_time``
   and ``first_call`` too, and it has no ``peak_memory``): every thread of
   that process counts, so a tool that computes on more than one core
   reports more than 1, one that waits less.
.. [6] Full runs only (:mod:`tapegrad.benchmark.travel`).  The size is the
   recording's records (save, load), the points (``dask_overhead_s``), or
   the numba threads of the one-process time a speedup divides: one
   process's ``batch_value_and_grad`` runs its rows on every core already.

>>> r = record("seed", "tapegrad", 2, "records", 40, "count")
>>> r["better"], sorted(r)
('lower', ['better', 'engine', 'metric', 'size', 'unit', 'value', 'workload'])
"""

import json
import os
import platform
import sys
import time

from tapegrad.benchmark import trees

#: Metrics the gate compares exactly, and those it compares with a tolerance.
EXACT = ("records", "bytes_per_op", "kernel_compilations")
RELATIVE = ("time_vs_python_loop", "sweep_vs_numba_loop", "speedup_vs:")
#: What must be equal for two runs' timings to be compared across runs.
FINGERPRINT = ("cpu", "cores", "python", "numpy", "numba")


def record(workload, engine, size, metric, value, unit, better="lower"):
    """One result record (see the module docstring)."""
    assert better in ("lower", "higher"), better
    return {"workload": workload, "engine": engine, "size": size, "metric": metric,
            "value": value, "unit": unit, "better": better}


def gate_kind(metric):
    """``"exact"``, ``"relative"`` or None (reported, never gated)."""
    if metric in EXACT:
        return "exact"
    if metric.startswith(RELATIVE):
        return "relative"
    return None


def key(r):
    """What identifies a figure across runs."""
    return (r["workload"], r["engine"], r["size"], r["metric"])


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(engines=()):
    """CPU, cores, Python and library versions of this run, the commit of
    the working tree it ran in (``dirty``: with uncommitted changes), and
    tapegrad's fused-kernel cache as the run starts (``fused_cache``: its
    directory, kernels and bytes; a cold cache makes first calls compile)."""
    import numba
    import numpy

    import tapegrad
    from tapegrad import caches

    versions = {"numpy": numpy.__version__, "numba": numba.__version__,
                "tapegrad": tapegrad.__version__}
    for engine in engines:
        if engine.unavailable() is None and engine.version():
            versions[engine.name] = engine.version()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "versions": versions,
        "fused_cache": fused_cache(caches.info()),
        **trees.head(),
    }


def fused_cache(info):
    """The fused cache's figures in :func:`machine` from
    :func:`tapegrad.caches.info`.

    >>> fused_cache({"fused": {"path": "/c/fused", "kernels": 3, "files": 9, "bytes": 12345,
    ...                        "max_bytes": 64000000, "max_kernels": 2000}})
    {'path': '/c/fused', 'kernels': 3, 'bytes': 12345}
    """
    return {name: info["fused"][name] for name in ("path", "kernels", "bytes")}


def fingerprint(machine_info):
    """The part of :func:`machine` that timings depend on (:data:`FINGERPRINT`).

    >>> fingerprint({"cpu": "AMD EPYC", "cores": 2, "python": "3.11.7", "date": "today",
    ...              "versions": {"numpy": "2.4.6", "numba": "0.68.1", "tapegrad": "0.1.0"}})
    {'cpu': 'AMD EPYC', 'cores': 2, 'python': '3.11.7', 'numpy': '2.4.6', 'numba': '0.68.1'}
    """
    versions = machine_info.get("versions", {})
    return {name: machine_info.get(name, versions.get(name)) for name in FINGERPRINT}


def save(path, machine_info, records):
    with open(path, "w") as f:
        json.dump({"machine": machine_info, "results": records}, f, indent=1)
        f.write("\n")


def load(path):
    """``(machine, records)`` from a JSON file written by :func:`save`."""
    with open(path) as f:
        data = json.load(f)
    return data["machine"], data["results"]
