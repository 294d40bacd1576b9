"""A bare numba reverse loop: the floor for tapegrad's backward sweep.

:func:`bare_reverse` reads the same struct-of-arrays columns as tapegrad's
sweep (``op``, ``arg0``, ``arg1``, ``val``) from the last record down to the
first and scatters ``g * val[i]`` into the adjoints of each record's
arguments: the memory traffic of a reverse sweep with no opcode dispatch and
no partial derivatives.  Its answer is not a gradient; its time says how
close tapegrad's ``backward()`` gets to what a hand-written loop over the
same tape costs on this machine.
"""

import statistics
from time import perf_counter

import numba
import numpy as np

import tapegrad as tg

INPUT = tg.OPS["input"].code
RUNS = 11


@numba.njit(nogil=True)
def bare_reverse(op, arg0, arg1, val, adj, input_code):
    """Zero ``adj``, seed the last record, sweep adjoints back to record 0."""
    n = len(op)
    adj[:] = 0.0
    adj[n - 1] = 1.0
    for i in range(n - 1, -1, -1):
        if op[i] == input_code:
            continue
        d = adj[i] * val[i]
        a0 = arg0[i]
        a1 = arg1[i]
        if a0 >= 0:
            adj[a0] += d
        if a1 >= 0:
            adj[a1] += d


def sweep_seconds(tape, runs=RUNS):
    """Median seconds of tapegrad's own reverse-sweep kernel alone over
    ``tape`` (no leaf write-back, adjoint buffer already allocated)."""
    from tapegrad._sweeps import reverse

    columns = (tape.op, tape.arg0, tape.arg1, tape.const, tape.val)
    adj = np.zeros(len(tape))
    seconds = []
    for _ in range(runs + 1):
        adj[:] = 0.0
        adj[-1] = 1.0
        start = perf_counter()
        reverse(*columns, adj, len(tape) - 1)
        seconds.append(perf_counter() - start)
    return statistics.median(seconds[1:])


def bare_sweep_seconds(tape, runs=RUNS):
    """Median seconds of :func:`bare_reverse` over ``tape``'s live columns
    (compiled and run once first, untimed)."""
    columns = (tape.op, tape.arg0, tape.arg1, tape.val)
    adj = np.empty(len(tape))
    bare_reverse(*columns, adj, INPUT)
    seconds = []
    for _ in range(runs):
        start = perf_counter()
        bare_reverse(*columns, adj, INPUT)
        seconds.append(perf_counter() - start)
    return statistics.median(seconds)
