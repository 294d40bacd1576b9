"""Peak memory of a training step, measured the same way for every engine.

``tracemalloc`` sees NumPy's allocations (tapegrad's) but not PyTorch's or
XLA's, so the per-call ``peak_memory`` figure cannot compare engines.  This
module asks the operating system instead, in a fresh process per engine:

1. import the engine's tool, build the data, ``prepare`` the engine (any
   compile happens here) and run two untimed steps (kernels loaded, the
   allocator settled);
2. read the resident set size, reset the kernel's high-water mark
   (``/proc/self/clear_refs``, Linux >= 4.0), run one step, read the
   high-water mark (``VmHWM``);
3. the figure, ``step_peak_rss``, is the high-water mark above the resident
   size before the step (the median over :data:`STEPS` steps): the memory a
   step needs on top of what the process holds between steps (weights,
   data, gradients, the tool itself).  tapegrad's pool of spare arrays
   (:mod:`tapegrad.core.arena`) is emptied before each measured step, so the
   arrays a step takes from it count as the step's.

The child runs with glibc's ``MALLOC_MMAP_THRESHOLD_`` fixed at 64 KiB, so
that every array of 64 KiB or more is its own mapping, returned to the
system when freed (else freed memory stays resident and the next step's
arrays reuse it unseen), and with NumPy's transparent huge pages off
(``NUMPY_MADVISE_HUGEPAGE=0``; 2 MiB pages would round every large array
up).  Small allocations come from the heap, which the high-water mark
counts as well; pages are 4 KiB, far below a SimpleNet step's arrays.

>>> rss_bytes("VmRSS") > 0
True
"""

import gc
import json
import os
import subprocess
import sys

from tapegrad.benchmark.results import record

#: Steps measured in the child (the figure is their median).
STEPS = 5
#: The child's environment on top of this process's.
CHILD_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "NUMPY_MADVISE_HUGEPAGE": "0",
             "OPENBLAS_NUM_THREADS": "1"}

_CODE = "from tapegrad.benchmark.memory import measure_step; measure_step({args})"


def rss_bytes(field):
    """A ``/proc/self/status`` size (``"VmRSS"``, ``"VmHWM"``) in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"no {field} in /proc/self/status")


def _reset_high_water():
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def measure_step(workload_module, workload_name, peer_module, engine_name, size):
    """In the child: print ``{"peak": bytes, "resident": bytes}`` as JSON."""
    from tapegrad.benchmark.engine import TapegradRecordedStep, TapegradVector
    from tapegrad.benchmark.workload import load

    workload = next(w for w in load(workload_module) if w.name == workload_name)
    engines = [TapegradVector(), TapegradRecordedStep()]
    if peer_module:
        engines += __import__(peer_module, fromlist=["PEERS"]).PEERS
    engine = next(e for e in engines if e.name == engine_name)
    problem = workload.inputs(size)
    step = engine.prepare(workload, problem)
    for _ in range(2):
        step(problem)
    peaks, resident = [], []
    from tapegrad.core import arena

    for _ in range(STEPS):
        gc.collect()
        arena.clear()  # tapegrad's spare arrays count as the step's, not as held
        before = rss_bytes("VmRSS")
        _reset_high_water()
        step(problem)
        peaks.append(rss_bytes("VmHWM") - before)
        resident.append(before)
    peaks.sort()
    print(json.dumps({"peak": peaks[len(peaks) // 2], "resident": min(resident)}))


def unavailable():
    """Why the high-water mark cannot be reset here, or None."""
    try:
        _reset_high_water()
        rss_bytes("VmHWM")
    except OSError as error:
        return f"no resettable high-water mark ({error})"
    return None


def step_memory(workload_module, peer_module, workload, size, engines, result, timeout=300):
    """Add a ``step_peak_rss`` record (and ``step_resident``, the process's
    resident size between steps) per available engine that runs
    ``workload``, each measured in a fresh process."""
    why = unavailable()
    for engine in engines:
        if engine.unavailable() or engine.supports(workload):
            continue
        if why is not None:
            result.skipped.append((workload.name, engine.name, size, f"memory: {why}"))
            continue
        args = ", ".join(repr(a) for a in (workload_module, workload.name, peer_module,
                                           engine.name, size))
        done = subprocess.run([sys.executable, "-c", _CODE.format(args=args)],
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **CHILD_ENV})
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            result.skipped.append((workload.name, engine.name, size, f"memory process: {last}"))
            continue
        found = json.loads(done.stdout.strip().splitlines()[-1])
        result.records.append(record(workload.name, engine.name, size, "step_peak_rss",
                                     found["peak"], "bytes"))
        result.records.append(record(workload.name, engine.name, size, "step_resident",
                                     found["resident"], "bytes"))
