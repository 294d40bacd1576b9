"""One Recorded shared by threads (issue 14, D4): every method, scalar and
array programs, and ``retrace=True`` from a thread pool give, in every
thread, bitwise what one thread alone gives.

The kernels release the GIL, and a switch interval of a microsecond makes
Python threads interleave between any two bytecodes, so shared work state
shows up in a few hundred calls.  The ``soak`` versions run longer.
"""

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest

import tapegrad as tg

THREADS = 4
# Without the JIT the sweeps are plain Python, a hundred times slower: fewer rounds.
SCALE = 0.1 if numba.config.DISABLE_JIT else 1.0


@pytest.fixture(autouse=True)
def _fast_switching():
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def _same(a, b):
    """Bitwise equality of results: numbers, arrays, tuples of them."""
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(_same, a, b))
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _hammer(calls, points, expected, rounds):
    """Each of THREADS threads cycles through ``calls`` at its own points
    ``rounds`` times; the number of results unlike the serial ``expected``."""
    wrong = [0] * THREADS
    errors = []
    start = threading.Barrier(THREADS)

    def work(k):
        try:
            start.wait()
            for r in range(rounds):
                for name, call in calls.items():
                    j = (k + r) % len(points)
                    wrong[k] += not _same(call(points[j]), expected[name][j])
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(wrong)


def _ros(x):
    return sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
               for i in range(len(x) - 1))


def _run(rec, points, methods, direction, rounds):
    calls = {
        "call": rec,
        "value_and_grad": rec.value_and_grad,
        "grad": rec.grad,
        "vjp": lambda x: rec.vjp(x, np.ones(rec.n_outputs)),
        "jvp": lambda x: rec.jvp(x, direction),
        "hvp": lambda x: rec.hvp(x, direction),
        "grad_and_hvp": lambda x: rec.grad_and_hvp(x, direction),
        "hessian": rec.hessian,
        "jacobian": rec.jacobian,
        "batch_value_and_grad": lambda x: rec.batch_value_and_grad(np.stack([x, 2.0 * x])),
    }
    calls = {name: calls[name] for name in methods}
    expected = {name: [call(p) for p in points] for name, call in calls.items()}
    return _hammer(calls, points, expected, rounds)


def _scalar_case(rounds, n=60):
    rng = np.random.default_rng(0)
    rec = tg.record(_ros, np.zeros(n))
    points = [rng.normal(size=n) for _ in range(THREADS)]
    return _run(rec, points, ["value_and_grad", "hvp"], rng.normal(size=n), rounds)


def _array_f(x):
    y = tg.sin(x) * x + 1.0
    return (y * y).sum() + (x[1:] * x[:-1]).sum() + tg.exp(x[0])


def _array_case(rounds, n=64):
    rng = np.random.default_rng(1)
    rec = tg.record(_array_f, tg.tensor(np.zeros(n)))
    assert type(rec.program).__name__ == "ArrayProgram"
    points = [rng.normal(size=n) for _ in range(THREADS)]
    return _run(rec, points, ["value_and_grad", "hvp"], rng.normal(size=n), rounds)


ALL_METHODS = ["call", "value_and_grad", "grad", "vjp", "jvp", "hvp", "grad_and_hvp",
               "hessian", "jacobian", "batch_value_and_grad"]


def _every_method(array, rounds):
    rng = np.random.default_rng(2)
    n = 6
    if array:
        rec = tg.record(_array_f, tg.tensor(np.zeros(n)))
    else:
        rec = tg.record(lambda x: _ros(x) + tg.sin(x[0] * x[1]), np.zeros(n))
    points = [rng.normal(size=n) for _ in range(THREADS)]
    return _run(rec, points, ALL_METHODS, rng.normal(size=n), rounds)


def _branchy(x):  # a Python branch per element: a guard each
    s = 0.0
    for i in range(len(x)):
        s = s + (x[i] * x[i] if x[i] > 0 else -tg.sin(x[i]))
    return s


def _retrace_case(n_points):
    rng = np.random.default_rng(3)
    points = [rng.normal(size=8) for _ in range(n_points)]
    fresh = [tg.record(_branchy, p).value_and_grad(p) for p in points]
    rec = tg.record(_branchy, points[0], retrace=True)

    def job(j):
        return _same(rec.value_and_grad(points[j]), fresh[j])

    with ThreadPoolExecutor(THREADS) as pool:
        ok = list(pool.map(job, range(n_points)))
    # The pool left one consistent program behind: serial calls still right.
    ok += [_same(rec.value_and_grad(p), f) for p, f in zip(points[:50], fresh)]
    assert rec.retraces >= 1
    return ok.count(False)


def test_scalar_program_threads():
    assert _scalar_case(rounds=int(300 * SCALE)) == 0


def test_array_program_threads():
    assert _array_case(rounds=40) == 0


@pytest.mark.parametrize("array", [False, True], ids=["scalar", "array"])
def test_every_method_threads(array):
    assert _every_method(array, rounds=15) == 0


def test_retrace_from_a_thread_pool():
    assert sum(_retrace_case(400) for _ in range(3)) == 0


def test_a_replaced_program_still_answers_and_a_retrace_answers_from_its_own():
    """A thread that took ``rec.program`` before another thread's retrace
    replaced it finishes on it, correctly; a call that retraces answers
    from the program it recorded (not from whatever ``rec.program`` is by
    then)."""
    up, down = np.full(8, 0.5), np.full(8, -0.5)
    rec = tg.record(_branchy, up, retrace=True)
    old = rec.program
    assert _same(rec.value_and_grad(down), tg.record(_branchy, down).value_and_grad(down))
    assert rec.program is not old and rec.retraces == 1
    assert _same(old.value_and_grad(up * 2), tg.record(_branchy, up).value_and_grad(up * 2))
    made = []
    trace_again = rec._trace_again

    def trace_and_replace(flat):  # another thread retraces right after this one
        program = trace_again(flat)
        made.append(program)
        rec._trace(down)
        return program

    rec._trace_again = trace_and_replace  # rec.program is down's: up retraces
    assert _same(rec.value_and_grad(up), tg.record(_branchy, up).value_and_grad(up))
    assert made and rec.program is not made[0]


def test_retrace_of_an_array_program_from_a_thread_pool():
    def f(x):
        y = x * x
        return y.sum() if x[0] > 0 else tg.sin(y).sum()

    rng = np.random.default_rng(4)
    points = [rng.normal(size=5) for _ in range(120)]
    fresh = [tg.record(f, tg.tensor(p)).value_and_grad(p) for p in points]
    rec = tg.record(f, tg.tensor(points[0]), retrace=True)
    with ThreadPoolExecutor(THREADS) as pool:
        ok = list(pool.map(lambda j: _same(rec.value_and_grad(points[j % len(points)]),
                                           fresh[j % len(points)]),
                           range(3 * len(points))))
    assert ok.count(False) == 0


@pytest.mark.soak
def test_scalar_program_threads_soak():
    assert _scalar_case(rounds=int(20000 * SCALE)) == 0


@pytest.mark.soak
def test_array_program_threads_soak():
    assert _array_case(rounds=600) == 0


@pytest.mark.soak
@pytest.mark.parametrize("array", [False, True], ids=["scalar", "array"])
def test_every_method_threads_soak(array):
    assert _every_method(array, rounds=200) == 0


@pytest.mark.soak
def test_retrace_from_a_thread_pool_soak():
    assert sum(_retrace_case(400) for _ in range(5)) == 0
