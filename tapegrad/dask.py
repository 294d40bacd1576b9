"""A recording's batch of gradients on a Dask cluster: :func:`batch_value_and_grad`.

``batch_value_and_grad(rec, X)`` is :meth:`Recorded.batch_value_and_grad
<tapegrad.replay.record.Recorded.batch_value_and_grad>` over a dask array
of points: each chunk of rows is one ``rec.batch_value_and_grad(chunk)``,
on whichever worker Dask gives it.  The recording travels once per
computation (one task of the graph holds it; each worker fetches it once,
not once per chunk); a worker that has not run the program yet loads its
kernels from numba's disk cache or compiles them once.  What a worker
computes is what this process computes, bit for bit: rows never depend on
one another.

Needs ``dask`` (``pip install 'tapegrad[dask]'``, which brings
``distributed`` for clusters); ``import tapegrad`` never imports it.  The
example runs on Dask's synchronous scheduler (this process, dask alone); on
a cluster, make a ``distributed.Client`` first and ``compute`` uses it.

>>> import pytest; da = pytest.importorskip("dask.array")  # the example needs dask
>>> import dask, numpy as np, tapegrad as tg, tapegrad.dask
>>> rec = tg.record(lambda x: x[0] * x[1] + tg.sin(x[0]), np.array([1.0, 2.0]))
>>> X = da.from_array(np.array([[0.0, 3.0], [1.0, 1.0], [2.0, 0.5]]), chunks=(2, 2))
>>> values, grads = tapegrad.dask.batch_value_and_grad(rec, X)
>>> values.shape, grads.shape, values.chunks
((3,), (3, 2), ((2, 1),))
>>> v, g = dask.compute(values, grads, scheduler="synchronous")
>>> g[0]                                   # [x1 + cos(x0), x0] at (0, 3)
array([4., 0.])
>>> np.array_equal(g, rec.batch_value_and_grad(X.compute())[1])
True
"""

import uuid

import numpy as np

from tapegrad.replay import Recorded

_NEEDS_DASK = ("tapegrad.dask needs dask: pip install 'tapegrad[dask]' "
               "(or 'dask[distributed]')")


def _dask_array():
    try:
        import dask.array as da
    except ImportError as error:
        raise ImportError(_NEEDS_DASK) from error
    return da


def _chunk_value_and_grad(points, rec):
    """One chunk's ``[value, grad...]`` rows: the task each worker runs."""
    values, grads = rec.batch_value_and_grad(points)
    out = np.empty((len(values), 1 + grads.shape[1]))
    out[:, 0] = values
    out[:, 1:] = grads
    return out


def _points(X, n, rows_per_chunk, da):
    """``X`` as a float64 dask array of shape (rows, n), one chunk of columns."""
    if rows_per_chunk is not None:
        if (not isinstance(rows_per_chunk, (int, np.integer)) or isinstance(rows_per_chunk, bool)
                or rows_per_chunk < 1):
            raise ValueError(f"batch_value_and_grad: rows_per_chunk must be a positive "
                             f"integer, got {rows_per_chunk!r}")
        rows_per_chunk = int(rows_per_chunk)
    if isinstance(X, np.ndarray):
        if rows_per_chunk is None:
            raise ValueError("batch_value_and_grad: X is a NumPy array: give rows_per_chunk= "
                             "(rows per task), or pass a dask array chunked by rows")
        X = da.from_array(X, chunks=(rows_per_chunk, -1))
    elif not isinstance(X, da.Array):
        raise TypeError(f"batch_value_and_grad: X must be a dask array (or a NumPy array with "
                        f"rows_per_chunk=) of points, one per row; got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"batch_value_and_grad: X must be 2-D (rows = points, columns = the "
                         f"{n} flat inputs); got {X.ndim}-D, shape {X.shape}")
    if X.shape[1] != n:
        raise ValueError(f"batch_value_and_grad: X has {X.shape[1]} columns; the recording "
                         f"has {n} flat inputs")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"batch_value_and_grad: X must hold real numbers, got dtype {X.dtype}")
    if X.dtype != np.float64:
        X = X.astype(np.float64)
    if rows_per_chunk is not None:
        X = X.rechunk({0: rows_per_chunk, 1: -1})
    elif len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


def batch_value_and_grad(rec, X, *, rows_per_chunk=None):
    """``(values, grads)`` of a scalar recording at each row of ``X``, as
    dask arrays of shapes (rows,) and (rows, n): each chunk of rows is one
    ``rec.batch_value_and_grad(chunk)`` on a worker.

    ``X`` is a dask array of shape (rows, ``rec.n_inputs``) (columns are
    the flat inputs, as ``rec.batch_value_and_grad`` takes them), chunked by
    rows; its columns are made one chunk.  ``rows_per_chunk`` rechunks the
    rows (a task per chunk); a NumPy ``X`` needs it.  Nothing runs until the
    results are computed (``dask.compute(values, grads)`` runs each chunk
    once for both).  ``rec`` goes into the graph as one task, so it is sent
    once per computation, not once per chunk; to other processes it is
    pickled through its file format (:meth:`Recorded.save
    <tapegrad.replay.record.Recorded.save>`), so workers need tapegrad but
    neither ``f`` nor its source: a lambda's recording travels.  A chunk of
    a scalar program runs its rows on all of its worker's numba threads:
    with one single-threaded worker per core, give the workers
    ``NUMBA_NUM_THREADS=1`` (``LocalCluster(env=...)``, or the environment
    of ``dask worker``).  Chunks should each take well over the scheduler's
    few milliseconds per chunk.  A ``retrace=True`` recording travels as its
    current tape: in another process a row that takes another branch raises
    :class:`~tapegrad.BranchChanged` (there is no ``f`` there to record
    again), as any other recording's does.

    >>> import pytest; da = pytest.importorskip("dask.array")  # needs dask
    >>> import numpy as np, tapegrad as tg
    >>> rec = tg.record(lambda x: (x[0] - 1.0) ** 2 + x[1] ** 2, np.zeros(2))
    >>> values, grads = batch_value_and_grad(rec, np.eye(2), rows_per_chunk=1)
    >>> values.compute(scheduler="synchronous"), grads.numblocks
    (array([0., 2.]), (2, 1))
    """
    da = _dask_array()
    if not isinstance(rec, Recorded):
        raise TypeError(f"batch_value_and_grad: rec must be a tapegrad.Recorded "
                        f"(tapegrad.record(f, x0)), got {type(rec).__name__}")
    if not rec.scalar_output:
        raise ValueError(f"batch_value_and_grad needs f to return one number; it returns "
                         f"{rec.n_outputs} outputs")
    n = rec.n_inputs
    X = _points(X, n, rows_per_chunk, da)
    from dask import delayed

    # One task of the graph holds the recording; each chunk's task names its key.
    held = delayed(rec, name=f"tapegrad-recorded-{uuid.uuid4().hex}", traverse=False)
    both = da.map_blocks(_chunk_value_and_grad, X, held, dtype=np.float64,
                         chunks=(X.chunks[0], (n + 1,)), meta=np.empty((0, 0)))
    return both[:, 0], both[:, 1:]
