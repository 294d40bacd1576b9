"""The benchmark's peer engines (bench/peers.py): each available one agrees
with an analytic gradient; a missing tool is reported, not a crash."""

import gc
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.peers import PEERS, Micrograd, MicrogradNoGC
from tapegrad.benchmark.workload import Workload

PEER_RTOL = 1e-9
ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("micrograd", "torch", "jax", "autograd", "casadi")


def tanh_chain(x, m):
    return sum(m.tanh(x[i]) * x[i + 1] for i in range(len(x) - 1))


def tanh_chain_vectorized(x, xp):
    return xp.sum(xp.tanh(x[:-1]) * x[1:])


def tanh_chain_reference(x):
    t = np.tanh(x)
    grad = np.zeros_like(x)
    grad[:-1] += (1.0 - t[:-1] ** 2) * x[1:]
    grad[1:] += t[:-1]
    return np.sum(t[:-1] * x[1:]), grad


def rational(x, m):
    """Only what micrograd has: + - * / ** and relu, constants on both sides."""
    return sum(
        m.relu(a) * b - a**2 / (1.0 + b * b) + 2.0 * (0.5 - a) for a, b in zip(x[:-1], x[1:])
    )


def rational_reference(x):
    a, b = x[:-1], x[1:]
    value = np.sum(np.maximum(a, 0.0) * b - a**2 / (1.0 + b * b) + 2.0 * (0.5 - a))
    grad = np.zeros_like(x)
    grad[:-1] += (a > 0) * b - 2.0 * a / (1.0 + b * b) - 2.0
    grad[1:] += np.maximum(a, 0.0) + 2.0 * a**2 * b / (1.0 + b * b) ** 2
    return value, grad


def point(n):
    return np.linspace(-1.5, 2.0, n)  # no element at relu's kink, 0


TANH = Workload(
    "tanh_chain", tanh_chain, point=point, sizes=(7,), quick_sizes=(7,),
    reference=tanh_chain_reference, vectorized=tanh_chain_vectorized,
)
RATIONAL = Workload(
    "rational", rational, point=point, sizes=(7,), quick_sizes=(7,),
    reference=rational_reference,
)


def available(engine):
    reason = engine.unavailable()
    if reason is not None:
        pytest.skip(f"{engine.name}: {reason}")
    return engine


def test_names_and_order():
    assert [e.name for e in PEERS] == [
        "micrograd", "micrograd-nogc", "torch-scalar", "autograd", "jax", "jax-jit",
        "casadi", "torch-vector", "jax-jit-vector", "autograd-vector",
        "pytensor-vector", "pytensor-nofastmath-vector",
    ]
    for engine in PEERS:
        if engine.form == "scalar":
            assert isinstance(engine.max_ops, int) and engine.max_ops > 0, engine.name


@pytest.mark.parametrize("workload", [TANH, RATIONAL], ids=lambda w: w.name)
@pytest.mark.parametrize("engine", PEERS, ids=lambda e: e.name)
def test_value_and_gradient(engine, workload):
    available(engine)
    reason = engine.supports(workload)
    if reason is not None:
        if engine.form == "vectorized":
            assert workload.vectorized is None
        else:
            assert isinstance(engine, Micrograd) and "tanh" in reason
        pytest.skip(reason)
    assert isinstance(engine.version(), str) and engine.version()
    x = workload.point(7)
    value_and_grad = engine.prepare(workload, x)
    for inputs in (x, 0.5 * x + 0.1):  # a second point: no stale trace or graph
        with engine.timed_region():
            value, grad = value_and_grad(inputs)
        expected_value, expected_grad = workload.expected(inputs)
        assert isinstance(value, float)
        assert isinstance(grad, np.ndarray) and grad.dtype == np.float64
        np.testing.assert_allclose(value, expected_value, rtol=PEER_RTOL)
        np.testing.assert_allclose(grad, expected_grad, rtol=PEER_RTOL)


def branchy(x, m):
    return x[0] * x[1] if x[0] > 0.0 else x[1]


BRANCHY = Workload(
    "branchy", branchy, point=point, sizes=(2,), quick_sizes=(2,),
    reference=lambda x: (x[0] * x[1], np.array([x[1], x[0]])),
)


@pytest.mark.parametrize("engine", [e for e in PEERS if e.form == "scalar"], ids=lambda e: e.name)
def test_branch_on_a_value(engine):
    """A branch on a scalar's value needs comparisons (micrograd has none) and
    concrete values (not a traced or symbolic graph): ``prepare`` refuses."""
    available(engine)
    x = np.array([0.5, 2.0])
    if engine.name in ("micrograd", "micrograd-nogc", "jax-jit", "casadi"):
        with pytest.raises(NotImplementedError, match=engine.name):
            engine.prepare(BRANCHY, x)
    else:
        value, grad = engine.prepare(BRANCHY, x)(x)
        np.testing.assert_allclose(grad, BRANCHY.expected(x)[1], rtol=PEER_RTOL)


def test_micrograd_prepare_refuses_missing_function():
    engine = available(Micrograd())
    with pytest.raises(NotImplementedError, match="tanh"):
        engine.prepare(TANH, TANH.point(7))


def test_micrograd_nogc_times_with_gc_off():
    engine = available(MicrogradNoGC())
    assert gc.isenabled()
    with engine.timed_region():
        assert not gc.isenabled()
    assert gc.isenabled()
    with Micrograd().timed_region():
        assert gc.isenabled()


@pytest.mark.parametrize("engine", PEERS, ids=lambda e: e.name)
def test_missing_tool_is_reported(engine, monkeypatch):
    monkeypatch.setitem(sys.modules, engine.module, None)  # import raises ImportError
    monkeypatch.setenv("TAPEGRAD_PYTENSOR_PYTHON", "/nonexistent/python")  # side-process peers
    assert engine.unavailable() == "not installed"


def test_import_loads_no_tool():
    code = (
        "import sys, bench.peers; "
        f"print(sorted(t for t in {TOOLS!r} if t in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "[]"
