"""A parameter sweep of a recorded ODE's gradient over a Dask cluster.

A damped oscillator ``y'' + c y' + k y = 0``, ``y(0) = 1``, ``y'(0) = 0``,
integrated to t = 10 by 200 fixed RK4 steps in a plain Python loop; the loss
is the squared distance of ``y`` at 20 times from observations made at
(k, c) = (4, 0.3).  The loss is recorded once (a lambda over the
observations: about 8,400 records), then ``tapegrad.dask.batch_value_and_grad``
replays its value and gradient at every point of a (k, c) grid, a chunk of
rows per task.  What travels to the workers is the recording (pickled
through tapegrad's saved format: a few hundred KB); the lambda and this
file do not (a worker needs tapegrad, nothing else).  Kernels never travel:
a worker loads them from numba's disk cache or compiles them at its first
chunk.

Run it here (a LocalCluster of two worker processes on this machine)::

    python examples/ode_sweep.py

or on a real cluster, giving its scheduler's address (tapegrad and dask on
every worker: ``pip install 'tapegrad[dask]'``)::

    python examples/ode_sweep.py tcp://scheduler:8786

The same code runs both ways: only the ``Client`` differs (see ``main``).
"""

import logging
import pickle
import sys
import time

import numpy as np

import tapegrad as tg

T_END, STEPS, OBSERVE_EVERY = 10.0, 200, 10
TRUE_K, TRUE_C = 4.0, 0.3


def trajectory(k, c):
    """``y`` every OBSERVE_EVERY RK4 steps; ``k`` and ``c`` are floats or
    traced Values (the same code records the tape and makes the data)."""
    h = T_END / STEPS

    def rhs(y, v):
        return v, -c * v - k * y

    y, v, seen = 1.0, 0.0, []
    for step in range(1, STEPS + 1):
        k1y, k1v = rhs(y, v)
        k2y, k2v = rhs(y + 0.5 * h * k1y, v + 0.5 * h * k1v)
        k3y, k3v = rhs(y + 0.5 * h * k2y, v + 0.5 * h * k2v)
        k4y, k4v = rhs(y + h * k3y, v + h * k3v)
        y = y + h / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)
        v = v + h / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
        if step % OBSERVE_EVERY == 0:
            seen.append(y)
    return seen


def loss(k, c, observed):
    """Sum of squared misfits of the trajectory at (k, c) to ``observed``."""
    total = 0.0
    for y, y_seen in zip(trajectory(k, c), observed):
        total = total + (y - y_seen) ** 2
    return total


def connect(address=None):
    """``(client, cluster)``: the scheduler at ``address`` (cluster None), or
    a LocalCluster of two single-threaded worker processes here."""
    from distributed import Client, LocalCluster

    if address is not None:
        # A real cluster, e.g. Client("tcp://scheduler:8786"): a scheduler started
        # by `dask scheduler` there, and `dask worker tcp://scheduler:8786` on each
        # machine, each with tapegrad installed (NUMBA_NUM_THREADS=1 in a worker's
        # environment when it runs one single-threaded worker per core).
        return Client(address), None
    # One numba thread per worker: the workers are the parallelism.
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR,
                           env={"NUMBA_NUM_THREADS": "1"})
    return Client(cluster), cluster


def main(address=None, client=None, n_stiffness=40, n_damping=25, rows_per_chunk=125):
    """Sweep an ``n_stiffness`` x ``n_damping`` grid of (k, c) on ``client``
    (or on a cluster that :func:`connect` makes from ``address``); print the
    best points and return ``{recording, grid, loss, grad, observed}``."""
    import tapegrad.dask

    observed = np.array(trajectory(TRUE_K, TRUE_C))
    rec = tg.record(lambda p: loss(p[0], p[1], observed), np.array([TRUE_K, TRUE_C]))
    k, c = np.meshgrid(np.linspace(1.0, 9.0, n_stiffness), np.linspace(0.05, 1.0, n_damping))
    grid = np.column_stack([k.ravel(), c.ravel()])

    made = None
    if client is None:
        client, made = connect(address)
    try:
        values, grads = tapegrad.dask.batch_value_and_grad(rec, grid,
                                                           rows_per_chunk=rows_per_chunk)
        start = time.perf_counter()
        values, grads = client.compute([values, grads], sync=True)
        seconds = time.perf_counter() - start
    finally:
        if made is not None:
            client.close()
            made.close()

    chunks = -(-len(grid) // rows_per_chunk)
    print(f"{len(rec):,} records, {len(pickle.dumps(rec)):,} bytes pickled; "
          f"{len(grid):,} points in {chunks} chunks: {seconds:.2f} s")
    print(f"{'k':>7} {'c':>7} {'loss':>12} {'dL/dk':>12} {'dL/dc':>12}")
    for i in np.argsort(values)[:5]:
        print(f"{grid[i, 0]:7.3f} {grid[i, 1]:7.3f} {values[i]:12.5g} "
              f"{grads[i, 0]:12.5g} {grads[i, 1]:12.5g}")
    return {"recording": rec, "grid": grid, "loss": values, "grad": grads,
            "observed": observed}


if __name__ == "__main__":  # the guard keeps worker processes from running it
    main(sys.argv[1] if len(sys.argv) > 1 else None)
