"""tapegrad.dask.batch_value_and_grad (issue 17): over a dask array of
points, each chunk of rows one ``rec.batch_value_and_grad`` on a worker,
the results bitwise those of one process.

On Dask's synchronous and threaded schedulers (dask alone; nothing is
pickled), then on a ``distributed.LocalCluster`` of two worker processes
(the recording is pickled to them through its file format: lambdas and
closures too), then the example that sweeps an ODE's parameters on such a
cluster.  Each part skips, saying why, when dask or distributed is not
installed (``pip install -e '.[dask]'``; ``make dask``).
"""

import importlib
import importlib.util
import logging
import os
import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.benchmark.replay_cost import rosenbrock
from tapegrad.errors import BranchChanged

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "ode_sweep.py"


def sin_chain(x):
    """A scalar program: sum_i sin(x_i) x_{i+1} + exp(x_0 / 4)."""
    s = tg.exp(x[0] * 0.25)
    for i in range(len(x) - 1):
        s = s + tg.sin(x[i]) * x[i + 1]
    return s


def sin_chain_grad(P):
    """Its gradient at each row of ``P``, by NumPy (an independent computation)."""
    G = np.zeros_like(P)
    G[:, 0] = 0.25 * np.exp(P[:, 0] * 0.25)
    G[:, :-1] += np.cos(P[:, :-1]) * P[:, 1:]
    G[:, 1:] += np.sin(P[:, :-1])
    return G


def rosenbrock_grad(P):
    G = np.zeros_like(P)
    inner = P[:, 1:] - P[:, :-1] ** 2
    G[:, :-1] = -400.0 * P[:, :-1] * inner - 2.0 * (1.0 - P[:, :-1])
    G[:, 1:] += 200.0 * inner
    return G


def kinked(x):
    """A recorded branch: replays refuse points where x_0 < 0."""
    return x[0] * x[1] if x[0] > 0 else -x[0]


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.fixture(scope="module")
def da():
    return pytest.importorskip("dask.array", reason="dask is not installed: "
                               "pip install -e '.[dask]'")


@pytest.fixture(scope="module")
def tgdask(da):
    import tapegrad.dask

    return tapegrad.dask


@pytest.fixture
def points():
    return np.random.default_rng(17).uniform(-1.5, 1.5, (103, 5))


def compute(values, grads, scheduler="synchronous"):
    import dask

    return dask.compute(values, grads, scheduler=scheduler)


# --- one process: Dask's local schedulers -------------------------------------


@pytest.mark.parametrize("scheduler", ["synchronous", "threads"])
def test_a_scalar_program_chunk_by_chunk_is_one_batch(tgdask, da, points, scheduler):
    rec = tg.record(sin_chain, np.zeros(5))
    values, grads = tgdask.batch_value_and_grad(rec, da.from_array(points, chunks=(10, 5)))
    assert values.shape == (103,) and grads.shape == (103, 5)
    assert values.chunks[0] == grads.chunks[0] == (10,) * 10 + (3,)
    got_values, got_grads = compute(values, grads, scheduler)
    expected_values, expected_grads = rec.batch_value_and_grad(points)
    assert same(got_values, expected_values) and same(got_grads, expected_grads)
    np.testing.assert_allclose(got_grads, sin_chain_grad(points), rtol=1e-12, atol=1e-14)


def test_an_array_program_chunk_by_chunk_is_one_batch(tgdask, da, points):
    rec = tg.record(rosenbrock, tg.tensor(np.zeros(5)))
    assert type(rec.program).__name__ == "ArrayProgram"
    values, grads = tgdask.batch_value_and_grad(rec, da.from_array(points, chunks=(25, 5)))
    got_values, got_grads = compute(values, grads)
    expected_values, expected_grads = rec.batch_value_and_grad(points)
    assert same(got_values, expected_values) and same(got_grads, expected_grads)
    np.testing.assert_allclose(got_grads, rosenbrock_grad(points), rtol=1e-12, atol=1e-12)


def test_inputs_are_rechunked_cast_and_wrapped(tgdask, da, points):
    rec = tg.record(sin_chain, np.zeros(5))
    expected = rec.batch_value_and_grad(points)
    by_columns = da.from_array(points, chunks=(50, 2))  # columns in three chunks
    values, grads = tgdask.batch_value_and_grad(rec, by_columns)
    assert grads.chunks == ((50, 50, 3), (5,))
    assert all(map(same, compute(values, grads), expected))

    values, grads = tgdask.batch_value_and_grad(rec, points, rows_per_chunk=40)  # NumPy
    assert values.chunks == ((40, 40, 23),)
    assert all(map(same, compute(values, grads), expected))

    values, grads = tgdask.batch_value_and_grad(rec, by_columns, rows_per_chunk=7)
    assert len(values.chunks[0]) == 15
    assert all(map(same, compute(values, grads), expected))

    integers = np.arange(15).reshape(3, 5) % 4 - 1
    values, grads = tgdask.batch_value_and_grad(rec, da.from_array(integers, chunks=(2, 5)))
    assert all(map(same, compute(values, grads), rec.batch_value_and_grad(integers * 1.0)))


def test_no_rows_give_empty_results(tgdask, da):
    rec = tg.record(sin_chain, np.zeros(5))
    values, grads = compute(*tgdask.batch_value_and_grad(rec, np.empty((0, 5)),
                                                          rows_per_chunk=4))
    assert values.shape == (0,) and grads.shape == (0, 5)


def test_the_recording_is_one_task_of_the_graph(tgdask, da, points):
    """Sent once per computation: one task holds the Recorded, and every
    chunk's task names that task's key instead of carrying it."""
    from dask.core import get_dependencies

    rec = tg.record(sin_chain, np.zeros(5))
    values, grads = tgdask.batch_value_and_grad(rec, da.from_array(points, chunks=(10, 5)))
    graph = dict(values.__dask_graph__())
    holders = [key for key, task in graph.items()  # a DataNode since dask 2024.12
               if task is rec or getattr(task, "value", None) is rec]
    assert len(holders) == 1, holders
    chunk_tasks = [key for key in graph if key != holders[0]
                   and holders[0] in get_dependencies(graph, key)]
    assert len(chunk_tasks) == values.numblocks[0] == 11
    assert len(pickle.dumps(graph[chunk_tasks[0]])) < 2048  # keys and a function, no tape


@pytest.mark.parametrize("bad, error, words", [
    ("points", TypeError, "dask array"),
    (np.zeros(5), ValueError, "2-D"),
    (np.zeros((4, 3)), ValueError, "3 columns"),
    (np.zeros((4, 5), dtype=complex), TypeError, "real numbers"),
])
def test_bad_points_are_named(tgdask, da, bad, error, words):
    rec = tg.record(sin_chain, np.zeros(5))
    if isinstance(bad, np.ndarray):
        bad = da.from_array(bad)
    with pytest.raises(error, match=words):
        tgdask.batch_value_and_grad(rec, bad)


def test_bad_chunking_and_recordings_are_named(tgdask, da, points):
    rec = tg.record(sin_chain, np.zeros(5))
    with pytest.raises(ValueError, match="rows_per_chunk="):
        tgdask.batch_value_and_grad(rec, points)
    for rows in (0, 2.5, -3):
        with pytest.raises(ValueError, match="positive integer"):
            tgdask.batch_value_and_grad(rec, points, rows_per_chunk=rows)
    with pytest.raises(TypeError, match="tapegrad.Recorded"):
        tgdask.batch_value_and_grad(sin_chain, points, rows_per_chunk=10)
    two_outputs = tg.record(lambda x: [x[0], x[1]], np.zeros(5))
    with pytest.raises(ValueError, match="2 outputs"):
        tgdask.batch_value_and_grad(two_outputs, points, rows_per_chunk=10)


def test_a_changed_branch_raises_at_compute(tgdask, da):
    rec = tg.record(kinked, np.array([1.0, 2.0]))
    values, grads = tgdask.batch_value_and_grad(rec, np.array([[2.0, 1.0], [-1.0, 1.0]]),
                                                rows_per_chunk=1)
    with pytest.raises(BranchChanged, match="another branch"):
        compute(values, grads)


def test_import_tapegrad_never_imports_dask():
    code = ("import sys, tapegrad, tapegrad.replay, tapegrad.benchmark.travel; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_without_dask_the_error_says_how_to_install():
    code = ("import sys; sys.modules['dask'] = None; sys.modules['dask.array'] = None\n"
            "import numpy as np, tapegrad as tg, tapegrad.dask\n"
            "rec = tg.record(lambda x: x[0], np.zeros(1))\n"
            "try:\n    tapegrad.dask.batch_value_and_grad(rec, np.zeros((2, 1)), "
            "rows_per_chunk=1)\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "pip install 'tapegrad[dask]'" in out


# --- two worker processes: distributed.LocalCluster ---------------------------


@pytest.fixture(scope="module")
def client(da):
    distributed = pytest.importorskip("distributed", reason="distributed is not installed: "
                                      "pip install -e '.[dask]'")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_a_cluster_computes_bitwise_what_one_process_does(tgdask, da, client, points):
    from distributed import get_task_stream

    for rec, reference in ((tg.record(sin_chain, np.zeros(5)), sin_chain_grad),
                           (tg.record(rosenbrock, tg.tensor(np.zeros(5))), rosenbrock_grad)):
        values, grads = tgdask.batch_value_and_grad(rec, points, rows_per_chunk=13)
        with get_task_stream(client) as stream:
            got = client.compute([values, grads], sync=True)
        expected = rec.batch_value_and_grad(points)
        assert same(got[0], expected[0]) and same(got[1], expected[1])
        np.testing.assert_allclose(got[1], reference(points), rtol=1e-12, atol=1e-12)
        ran = [task for task in stream.data if "_chunk_value_and_grad" in str(task["key"])]
        assert len(ran) == 8 and {task["worker"] for task in ran} <= set(client.run(os.getpid))


def test_a_lambdas_recording_travels(tgdask, da, client, points):
    """The point of the issue: the workers have neither the lambda nor the
    closure's source; the saved tape is all they get."""
    scale = np.linspace(0.5, 1.5, 5)

    def closure(x):
        return sum(scale[i] * tg.tanh(x[i] * x[(i + 1) % 5]) for i in range(5))

    for rec in (tg.record(lambda x: tg.exp(x[0]) * x[1] - x[2] * x[3] * x[4], np.zeros(5)),
                tg.record(closure, np.zeros(5)),
                tg.record(lambda x: (tg.tensor(scale) * x * x).sum(), tg.tensor(np.zeros(5)))):
        values, grads = tgdask.batch_value_and_grad(rec, points, rows_per_chunk=20)
        got = client.compute([values, grads], sync=True)
        expected = rec.batch_value_and_grad(points)
        assert same(got[0], expected[0]) and same(got[1], expected[1])


def _record_module():
    return importlib.import_module("tapegrad.replay.record")  # not the function record()


_LOADS = {}  # on a worker: the real tapegrad.replay.record.loads, and its calls


def _counting_loads(data):
    """``loads`` on a worker while it counts: pickle finds ``loads`` by name
    in its module at each unpickling (and a worker passing the recording on
    pickles it with this, which the other worker finds here too)."""
    _LOADS["calls"] = _LOADS.get("calls", 0) + 1
    return _LOADS["original"](data)


def _count_unpickled_recordings():
    record = _record_module()
    _LOADS.update(original=_LOADS.get("original", record.loads), calls=0)
    record.loads = _counting_loads


def _unpickled_recordings():
    return _LOADS["calls"]


def _stop_counting():
    _record_module().loads = _LOADS["original"]


def test_the_recording_travels_once_per_worker_not_per_chunk(tgdask, da, client, points):
    rec = tg.record(lambda x: tg.cos(x[0]) * x[1] + x[2] * x[3] - x[4], np.zeros(5))
    client.run(_count_unpickled_recordings)
    try:
        values, grads = tgdask.batch_value_and_grad(rec, points, rows_per_chunk=8)
        assert values.numblocks == (13,)
        got = client.compute([values, grads], sync=True)
        counts = client.run(_unpickled_recordings)
    finally:
        client.run(_stop_counting)
    assert same(got[1], rec.batch_value_and_grad(points)[1])
    assert 1 <= sum(counts.values()) and max(counts.values()) == 1, counts


@pytest.mark.parametrize("retrace", [False, True])
def test_a_changed_branch_on_a_worker_reaches_the_caller(tgdask, da, client, retrace):
    """A worker has no f to record again, even for a retrace=True recording."""
    rec = tg.record(kinked, np.array([1.0, 2.0]), retrace=retrace)
    values, grads = tgdask.batch_value_and_grad(rec, np.array([[2.0, 1.0], [-1.0, 1.0]]),
                                                rows_per_chunk=1)
    with pytest.raises(BranchChanged, match="another branch"):
        client.compute([values, grads], sync=True)


# --- the example ---------------------------------------------------------------


def test_the_ode_sweep_example_runs_on_the_cluster(da, client, capsys):
    spec = importlib.util.spec_from_file_location("ode_sweep", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    sweep = example.main(client=client, n_stiffness=6, n_damping=5, rows_per_chunk=7)
    out = capsys.readouterr().out
    assert "dL/dk" in out and 'Client("tcp://scheduler:8786")' in EXAMPLE.read_text()
    rec, grid = sweep["recording"], sweep["grid"]
    values, grads = rec.batch_value_and_grad(grid)
    assert same(sweep["loss"], values) and same(sweep["grad"], grads)
    k, c = grid[3]
    step = 1e-6
    for j, (dk, dc) in enumerate(((step, 0.0), (0.0, step))):
        fd = (example.loss(k + dk, c + dc, sweep["observed"]) -
              example.loss(k - dk, c - dc, sweep["observed"])) / (2 * step)
        np.testing.assert_allclose(grads[3, j], fd, rtol=1e-5, atol=1e-7)


def test_the_travel_benchmark_times_a_cluster_it_checks(da, client):
    """travel.dask_cluster on a small program (its own LocalCluster): the
    results checked bitwise against this process's, then positive times."""
    from tapegrad.benchmark import travel

    rec = travel.program(records=300)
    seconds, overhead, per_task = travel.dask_cluster(rec, travel.points(301), chunks=3,
                                                      tasks=10)
    assert 0 < seconds < 30 and 0 < overhead < 30 and 0 < per_task < 1
