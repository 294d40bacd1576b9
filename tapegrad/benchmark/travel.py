"""Tapes that travel (issue 17): what saving a recording, loading it, and
replaying it in other processes costs.  Full runs only; reported, never
gated (timings of several processes on a machine others share).

* ``save_seconds``, ``load_seconds``, ``file_bytes_per_record``:
  ``rec.save(path)`` and ``tapegrad.load(path)`` of a scalar recording of
  1,000,000 records, best of three (targets: under 0.2 s each, at most 30
  bytes a record); the loaded recording's gradient checked.
* ``process_pool_speedup``: one process's ``rec.batch_value_and_grad`` over
  10,000 points of a scalar program of about 10,000 records, over
  ``ProcessPoolExecutor(2).map(rec.batch_value_and_grad, chunks)`` (four
  chunks; the recording pickled with each; workers warmed by a first call,
  one numba thread each).  One process's batch already runs its rows on
  every core (numba ``prange``), so there are two figures: against one
  process with numba's threads as they are (size = that many threads), and
  with one thread (size 1).  Target: >= 1.6x.
* ``dask_speedup``: the same work by :func:`tapegrad.dask.batch_value_and_grad`
  on a ``distributed.LocalCluster`` of 2 single-threaded worker processes
  (target >= 1.5x); ``dask_overhead_s``: the same graph whose tasks return
  at once (scheduling, the recording and the points out, the results back);
  ``dask_task_overhead_ms``: seconds per task of 200 empty tasks.

>>> rec = program(records=200)
>>> 200 <= len(rec) < 230, rec.n_inputs
(True, 4)
>>> points(5).shape
(5, 4)
"""

import functools
import logging
import multiprocessing
import os
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor

import numba
import numpy as np

import tapegrad as tg

POINTS = 10_000
WORKERS = 2
CHUNKS = 4
_REPEATS = 3
_PER_STEP = 10  # records of one step of the oscillator


def oscillator(x, steps):
    """A damped pendulum by ``steps`` symplectic Euler steps, summing ``y**2``:
    ``x = (y, v, k, c)``; about 10 scalar records a step."""
    y, v, k, c = x[0], x[1], x[2], x[3]
    h, total = 0.01, 0.0
    for _ in range(steps):
        v = v - h * (k * tg.sin(y) + c * v)
        y = y + h * v
        total = total + y * y
    return total


def program(records=10_000):
    """A scalar recording of :func:`oscillator` with about ``records`` records."""
    steps = max(1, records // _PER_STEP)
    return tg.record(functools.partial(oscillator, steps=steps), np.array([0.5, 0.0, 1.0, 0.1]))


def points(rows=POINTS):
    """``rows`` points (y, v, k, c), the same every run."""
    rng = np.random.default_rng(17)
    low, high = np.array([-1.0, -1.0, 0.5, 0.0]), np.array([1.0, 1.0, 2.0, 0.5])
    return rng.uniform(low, high, (rows, 4))


def _best(call, repeats=_REPEATS):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


# --- save and load --------------------------------------------------------------


def save_load(rec):
    """``(save s, load s, file bytes)`` of ``rec``, best of three each; the
    loaded recording's value and gradient checked against ``rec``'s."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "tape.tapegrad")
        save = _best(lambda: rec.save(path))
        size = os.path.getsize(path)
        load = _best(lambda: tg.load(path))
        x = points(1)[0]
        if not np.array_equal(tg.load(path).grad(x), rec.grad(x)):
            raise AssertionError("tapegrad.load: the loaded recording's gradient differs")
    return save, load, size


# --- one process and a process pool ---------------------------------------------


def one_process(rec, P, threads=None):
    """Best seconds of ``rec.batch_value_and_grad(P)`` here, with ``threads``
    numba threads (None: as they are)."""
    before = numba.get_num_threads()
    numba.set_num_threads(threads or before)
    try:
        rec.batch_value_and_grad(P[:2])
        return _best(lambda: rec.batch_value_and_grad(P))
    finally:
        numba.set_num_threads(before)


def _warm_worker(rec):
    """A pool worker's initializer: one numba thread, and its first call."""
    numba.set_num_threads(1)
    rec.batch_value_and_grad(points(2))


def _pid_after_a_pause(_):
    time.sleep(0.2)  # long enough that every worker gets one
    return os.getpid()


def process_pool(rec, P, workers=WORKERS, chunks=CHUNKS):
    """Best seconds of ``ex.map(rec.batch_value_and_grad, chunks of P)`` on
    ``workers`` warm spawned processes; the results checked against this
    process's, bit for bit."""
    parts = np.array_split(P, chunks)
    context = multiprocessing.get_context("spawn")  # numba's workqueue is not fork-safe
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_warm_worker,
                             initargs=(rec,)) as pool:
        started, deadline = set(), time.monotonic() + 120
        while len(started) < workers:  # each past its initializer: warm
            if time.monotonic() > deadline:
                raise RuntimeError(f"process pool: {len(started)} of {workers} workers "
                                   "started in 120 s")
            started |= set(pool.map(_pid_after_a_pause, range(2 * workers)))
        seconds = _best(lambda: list(pool.map(rec.batch_value_and_grad, parts)))
        results = list(pool.map(rec.batch_value_and_grad, parts))
    _check_same(np.concatenate([v for v, _ in results]),
                np.concatenate([g for _, g in results]), rec, P, "process pool")
    return seconds


def _check_same(values, grads, rec, P, where):
    expected = rec.batch_value_and_grad(P)
    if not (np.array_equal(values, expected[0]) and np.array_equal(grads, expected[1])):
        raise AssertionError(f"{where}: results differ from one process's")


# --- a Dask LocalCluster ---------------------------------------------------------


def _nothing(block, rec):
    return np.zeros((len(block), rec.n_inputs + 1))


def _empty_task(i):
    return i


def dask_cluster(rec, P, workers=WORKERS, chunks=CHUNKS, tasks=200):
    """``(seconds, overhead s, s per empty task)`` on a LocalCluster of
    ``workers`` single-threaded processes: best of three computations of
    :func:`tapegrad.dask.batch_value_and_grad` (after a first, which warms
    the workers), of the same graph doing nothing, and of ``tasks`` empty
    tasks."""
    import dask.array as da
    from dask import delayed
    from distributed import Client, LocalCluster

    import tapegrad.dask

    rows = -(-len(P) // chunks)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR,
                      env={"NUMBA_NUM_THREADS": "1"}) as cluster, Client(cluster) as client:
        def work():
            values, grads = tapegrad.dask.batch_value_and_grad(rec, P, rows_per_chunk=rows)
            return client.compute([values, grads], sync=True)

        def no_work():
            held = delayed(rec, name=f"tapegrad-recorded-{uuid.uuid4().hex}")
            X = da.from_array(P, chunks=(rows, -1))
            both = da.map_blocks(_nothing, X, held, dtype=np.float64, meta=np.empty((0, 0)),
                                 chunks=(X.chunks[0], (rec.n_inputs + 1,)))
            return client.compute([both[:, 0], both[:, 1:]], sync=True)

        def empty_tasks():
            client.gather(client.map(_empty_task, range(tasks), pure=False))

        _check_same(*work(), rec, P, "dask")
        seconds = _best(work)
        overhead = _best(no_work)
        per_task = _best(empty_tasks) / tasks
    return seconds, overhead, per_task


# --- the figures -------------------------------------------------------------------


def figures(result, records=1_000_000, rows=POINTS):
    """Add the module docstring's records to ``result``; returns the lines
    to print."""
    busy = os.getloadavg()[0]  # other work on the machine as this starts
    lines = ["", "Tapes that travel (issue 17; reported, never gated; "
                 f"{os.cpu_count()} cores, load average {busy:.2f} at the start)"]
    big = program(records)
    save, load, size = save_load(big)
    per_record = size / len(big)
    for metric, value, unit in (("save_seconds", save, "s"), ("load_seconds", load, "s"),
                                ("file_bytes_per_record", per_record, "bytes")):
        result.add("travel_scalar", "tapegrad", len(big), metric, value, unit)
    lines.append(f"  save + load, {len(big):,} records: save {save:.3f} s, load {load:.3f} s, "
                 f"{per_record:.1f} bytes a record (targets < 0.2 s, <= 30)")
    del big

    rec, P = program(), points(rows)
    threads = numba.get_num_threads()
    alone = {threads: one_process(rec, P), 1: one_process(rec, P, threads=1)}
    lines.append(f"  one process, {rows:,} points of a {len(rec):,}-record scalar program: "
                 f"{alone[threads]:.3f} s ({threads} numba threads), {alone[1]:.3f} s (1 thread)")
    try:
        pool = process_pool(rec, P)
    except (OSError, RuntimeError) as error:  # no processes here: say so, run the rest
        lines.append(f"  process pool: could not run: {type(error).__name__}: {error}")
    else:
        lines.append(_speedup_line(result, "process_pool_speedup",
                                   f"process pool, {WORKERS} workers", pool, alone, 1.6))
    lines.extend(_dask_lines(result, rec, P, alone))
    return lines


def _dask_lines(result, rec, P, alone):
    try:
        import distributed  # noqa: F401  (LocalCluster)
    except ImportError:
        return ["  dask: not installed (pip install -e '.[dask]'; make dask)"]
    try:
        seconds, overhead, per_task = dask_cluster(rec, P)
    except (OSError, RuntimeError) as error:
        return [f"  dask: could not run: {type(error).__name__}: {error}"]
    result.add("travel_oscillator", "tapegrad", len(P), "dask_overhead_s", overhead, "s")
    result.add("travel_oscillator", "tapegrad", 0, "dask_task_overhead_ms", per_task * 1e3, "ms")
    return [_speedup_line(result, "dask_speedup", f"dask LocalCluster, {WORKERS} workers",
                          seconds, alone, 1.5),
            f"    its scheduler: the same graph doing nothing {overhead:.3f} s "
            f"({CHUNKS} chunks); {per_task * 1e3:.2f} ms a task (200 empty tasks)"]


def _speedup_line(result, metric, what, seconds, alone, target):
    """Record ``metric`` against each one-process time in ``alone``
    (threads -> seconds; size = threads) and say it in one line."""
    ratios = []
    for threads, one in sorted(alone.items(), reverse=True):
        result.add("travel_oscillator", "tapegrad", threads, metric, one / seconds, "ratio",
                   better="higher")
        ratios.append(f"{one / seconds:.2f}x vs {threads} thread{'s' * (threads > 1)}")
    return f"  {what}: {seconds:.3f} s: " + ", ".join(ratios) + f" (target >= {target}x)"


class _Lines:
    """What :func:`figures` needs of a benchmark result, to run this alone."""

    def __init__(self):
        self.records = []

    def add(self, *args, **kwargs):
        from tapegrad.benchmark.results import record

        self.records.append(record(*args, **kwargs))


if __name__ == "__main__":  # python -m tapegrad.benchmark.travel
    print("\n".join(figures(_Lines())))
