"""A Recorded in a process pool (issue 17): ``ProcessPoolExecutor().map``
over its methods gives, in worker processes, bitwise what this process
gives, point by point and chunk by chunk; and the benchmark's travel
figures measure that pool.

The recording is pickled to the workers through its file format
(``Recorded.save``), so a lambda's or a closure's travels: a worker needs
neither the function nor its source.  The workers are spawned (numba's
workqueue threading layer is not fork-safe).
"""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.benchmark import travel
from tapegrad.benchmark.replay_cost import rosenbrock



def sin_chain(x):
    """A scalar program: sum_i sin(x_i) x_{i+1} + exp(x_0 / 4)."""
    s = tg.exp(x[0] * 0.25)
    for i in range(len(x) - 1):
        s = s + tg.sin(x[i]) * x[i + 1]
    return s


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.fixture(scope="module")
def pool():
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as executor:
        yield executor


@pytest.fixture
def points():
    return np.random.default_rng(170).uniform(-2.0, 2.0, (64, 6))


def recordings():
    """name -> a recording of 6 inputs, of each kind of program."""
    return {"scalar": tg.record(sin_chain, np.zeros(6)),
            "array": tg.record(rosenbrock, tg.tensor(np.zeros(6)))}


@pytest.mark.parametrize("kind", ["scalar", "array"])
def test_point_by_point_in_a_pool_is_this_process(pool, points, kind):
    rec = recordings()[kind]
    here = [rec.value_and_grad(p) for p in points]
    there = list(pool.map(rec.value_and_grad, points, chunksize=16))
    assert all(a == c and same(b, d) for (a, b), (c, d) in zip(here, there))
    hessians = list(pool.map(rec.hessian, points[:4]))
    assert all(same(h, rec.hessian(p)) for h, p in zip(hessians, points))


@pytest.mark.parametrize("kind", ["scalar", "array"])
@pytest.mark.parametrize("chunks", [2, 5])
def test_chunked_batches_in_a_pool_are_one_batch(pool, points, kind, chunks):
    rec = recordings()[kind]
    parts = list(pool.map(rec.batch_value_and_grad, np.array_split(points, chunks)))
    values, grads = rec.batch_value_and_grad(points)
    assert same(np.concatenate([v for v, _ in parts]), values)
    assert same(np.concatenate([g for _, g in parts]), grads)


def test_a_lambdas_and_a_closures_recordings_travel(pool, points):
    weights = np.linspace(-1.0, 1.0, 6)

    def closure(x):
        return sum(weights[i] * tg.exp(-x[i] * x[i]) for i in range(6))

    for rec in (tg.record(lambda x: x[0] * tg.cos(x[1]) + x[2] ** 3 - x[3] * x[4] * x[5],
                          np.zeros(6)),
                tg.record(closure, np.zeros(6)),
                tg.record(lambda x: (x * tg.tensor(weights)).sum() ** 2,
                          tg.tensor(np.zeros(6)))):
        there = list(pool.map(rec.value_and_grad, points, chunksize=16))
        assert all(a == c and same(b, d)
                   for (a, b), (c, d) in zip((rec.value_and_grad(p) for p in points), there))
        parts = list(pool.map(rec.batch_value_and_grad, np.array_split(points, 3)))
        values, grads = rec.batch_value_and_grad(points)
        assert same(np.concatenate([g for _, g in parts]), grads)
        assert same(np.concatenate([v for v, _ in parts]), values)


def test_the_travel_benchmark_times_a_pool_it_checks(points):
    """travel.process_pool on a small program: a positive time, after
    checking the pool's results bitwise against this process's."""
    rec = travel.program(records=300)
    seconds = travel.process_pool(rec, travel.points(200), workers=2, chunks=3)
    assert 0 < seconds < 30
    one = travel.one_process(rec, travel.points(200), threads=1)
    assert 0 < one < 30


def test_the_travel_programs_are_what_they_say():
    rec = travel.program(records=1000)
    assert 1000 <= len(rec) < 1100 and rec.scalar_output
    x = travel.points(3)
    for row in x:
        assert rec(row) == travel.oscillator(row, steps=100)
