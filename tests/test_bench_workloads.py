"""The benchmark workloads (bench/workloads): references against central
differences, tapegrad against the references, the seed notebook's numbers."""

import numpy as np
import pytest

from bench.workloads import WORKLOADS
from tapegrad.benchmark.engine import Tapegrad
from tapegrad.benchmark.workload import FD_STEP, load

BY_NAME = {w.name: w for w in WORKLOADS}
#: The scalar programs (the training steps are tests/test_bench_arrays.py's).
SCALAR = [w for w in WORKLOADS if "scalar" in w.forms]
#: Gradient entries checked by central differences at most (a fixed sample beyond).
MAX_FD_ENTRIES = 40


def smallest_quick(w):
    n = min(w.quick_sizes)
    return n, w.point(n)


def test_order_and_names():
    assert [w.name for w in WORKLOADS] == [
        "seed", "rosenbrock", "det_by_minor", "an_ode", "llsq_obj", "gmm", "deep_chain",
        "simplenet_f64", "simplenet_f32",
    ]
    assert [w.name for w in load("bench.workloads")] == list(BY_NAME)


@pytest.mark.parametrize("w", SCALAR, ids=lambda w: w.name)
def test_points_are_float_vectors(w):
    for n in sorted(set(w.quick_sizes) | set(w.sizes))[:2]:
        x = w.point(n)
        assert x.dtype == np.float64 and x.ndim == 1
        assert w.reference is not None and w.description


@pytest.mark.parametrize("w", SCALAR, ids=lambda w: w.name)
def test_reference_matches_central_differences(w):
    n, x = smallest_quick(w)
    value, grad = w.expected(x)
    assert grad.shape == x.shape
    assert np.isclose(value, w.evaluate(x), rtol=1e-12, atol=0.0)
    entries = range(len(x))
    if len(x) > MAX_FD_ENTRIES:
        entries = np.random.default_rng(0).choice(len(x), MAX_FD_ENTRIES, replace=False)
    scale = np.max(np.abs(grad))
    for k in entries:
        up, down = x.copy(), x.copy()
        up[k] += FD_STEP
        down[k] -= FD_STEP
        fd = (w.evaluate(up) - w.evaluate(down)) / (2 * FD_STEP)
        assert fd == pytest.approx(grad[k], rel=1e-5, abs=1e-6 * scale), (w.name, n, k)


@pytest.mark.parametrize("w", SCALAR, ids=lambda w: w.name)
def test_tapegrad_matches_reference(w):
    n, x = smallest_quick(w)
    engine = Tapegrad()
    value, grad = engine.prepare(w, x)(x)
    want_value, want_grad = w.expected(x)
    assert np.isclose(value, want_value, rtol=w.rtol, atol=0.0)
    np.testing.assert_allclose(grad, want_grad, rtol=w.rtol, atol=0.0)
    assert len(engine.tape) > len(x)


def test_seed_matches_the_notebook():
    w = BY_NAME["seed"]
    x = w.point(2)
    assert x.tolist() == [-4.0, 2.0]
    value, grad = w.expected(x)
    assert round(value, 4) == 24.7041
    assert [round(g, 4) for g in grad] == [138.8338, 645.5773]
    got_value, got_grad = Tapegrad().prepare(w, x)(x)
    assert round(got_value, 4) == 24.7041
    assert [round(g, 4) for g in got_grad] == [138.8338, 645.5773]


@pytest.mark.parametrize("n", [2, 1000])
def test_rosenbrock_vectorized_equals_scalar(n):
    w = BY_NAME["rosenbrock"]
    x = w.point(n)
    assert np.isclose(w.vectorized(x, np), w.evaluate(x), rtol=1e-13, atol=0.0)


def test_an_ode_is_exact_for_the_first_components():
    """RK4 has no truncation error for y_i, i < 4: y_i(2) = 2^(i+1)/(i+1)! prod x_j."""
    from bench.workloads.an_ode import solve

    x = BY_NAME["an_ode"].point(10)
    y = solve(x.tolist())
    factorial = 1.0
    for i in range(4):
        factorial *= i + 1
        assert y[i] == pytest.approx(2.0 ** (i + 1) / factorial * np.prod(x[: i + 1]), rel=1e-13)


def test_det_by_minor_of_a_known_matrix():
    w = BY_NAME["det_by_minor"]
    a = np.array([[2.0, 0.0, 1.0], [1.0, 3.0, 0.0], [0.0, 1.0, 4.0]])
    assert w.evaluate(a.ravel()) == pytest.approx(25.0)
