"""Calibration: two fixed loops timed in the same run as the workloads.

Machines differ and shared machines are noisy, so the CI gate never compares
absolute times between runs.  It compares tapegrad's times *divided by* these
loops, measured minutes apart in the same process: recording is Python work
(compared with :func:`python_loop`), the reverse sweep is compiled array
work (compared with :func:`numba_loop`).

>>> c = calibrate(repeats=2)
>>> sorted(c), all(s > 0 for s in c.values())
(['numba_loop', 'python_loop'], True)
"""

from time import perf_counter

import numpy as np

from tapegrad.jit import kernel

_N_PYTHON = 20_000
_N_NUMBA = 1_000_000


class _Node:
    __slots__ = ("value", "index")


def python_loop(n=_N_PYTHON):
    """Create an object and do a little float work per step: the kind of
    work a recording op does, without tapegrad."""
    buffer = [0.0] * n
    total = 0.0
    for i in range(n):
        node = _Node()
        node.value = total * 0.5 + i
        node.index = i
        buffer[i] = node.value
        total += node.value * 1e-9
    return total


@kernel
def _scatter_reverse(arg, val, adj):
    for i in range(len(arg) - 1, 0, -1):
        adj[arg[i]] += adj[i] * val[i]


def numba_loop(n=_N_NUMBA):
    """A reverse scatter over SoA arrays: the memory traffic of a sweep."""
    arg = np.maximum(np.arange(n, dtype=np.int32) - 1, 0)
    val = np.full(n, 0.999999)
    adj = np.zeros(n)
    adj[-1] = 1.0
    start = perf_counter()
    _scatter_reverse(arg, val, adj)
    return perf_counter() - start


def _best(seconds_of, repeats):
    return min(seconds_of() for _ in range(repeats))


def calibrate(repeats=5):
    """Best-of-``repeats`` seconds of each loop: ``{"python_loop": s,
    "numba_loop": s}``."""
    numba_loop(1000)  # compile (or load from cache) before timing

    def python_seconds():
        start = perf_counter()
        python_loop()
        return perf_counter() - start

    return {"python_loop": _best(python_seconds, repeats), "numba_loop": _best(numba_loop, repeats)}
