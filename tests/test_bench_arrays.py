"""The benchmark's array workloads and engines: the SimpleNet training step
(bench/workloads/simplenet.py) and the vectorized forms on tapegrad's
Tensors (``tapegrad-vector``) and on each installed array peer."""

import dataclasses
import importlib.util
import json
import pathlib

import numpy as np
import pytest

from bench.peers import PEERS, AutogradVector, JaxJitVector, PyTensorVector, TorchVector
from bench.workloads import WORKLOADS, rosenbrock, simplenet
from conftest import JIT_DISABLED
from tapegrad.benchmark import cli, gate, memory, results, runner
from tapegrad.benchmark.engine import TapegradRecordedStep, TapegradVector
from tapegrad.benchmark.steps import flatten

ROOT = pathlib.Path(__file__).resolve().parents[1]
STEPS = [simplenet.SIMPLENET_F64, simplenet.SIMPLENET_F32]
ARRAY_PEERS = [TorchVector(), JaxJitVector(), AutogradVector(), PyTensorVector()]
#: Samples of the problems checked here (the benchmark's are 10,000).
SMALL = 300
#: Losses of three successive steps, tapegrad against each peer.
TRAJECTORY_RTOL = {"simplenet_f64": 1e-12, "simplenet_f32": 2e-6}


def available(engine):
    reason = engine.unavailable()
    if reason is not None:
        pytest.skip(f"{engine.name}: {reason}")
    return engine


def load_example():
    spec = importlib.util.spec_from_file_location("simplenet_example",
                                                  ROOT / "examples" / "simplenet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_array_peers_run_steps_and_the_scalar_ones_do_not():
    assert [e.name for e in PEERS if "step" in e.forms] == [e.name for e in ARRAY_PEERS]
    assert [w.name for w in WORKLOADS if "step" in w.forms] == ["simplenet_f64", "simplenet_f32"]
    for engine in PEERS:
        if "step" not in engine.forms:
            assert engine.supports(simplenet.SIMPLENET_F64) is not None


@pytest.mark.parametrize("w", STEPS, ids=lambda w: w.name)
def test_problem_is_the_examples_data_and_weights(w):
    """The seed's blobs and SimpleNet(5, dtype, rng=0)'s initial weights."""
    example = load_example()
    dtype = np.float64 if w.name.endswith("64") else np.float32
    problem = w.inputs(SMALL)
    X, y = example.make_blobs(SMALL, 5, 2, seed=0)
    np.testing.assert_array_equal(problem.data[0], X.astype(dtype))
    np.testing.assert_array_equal(problem.data[1], y)
    net = example.SimpleNet(5, dtype=dtype, rng=0)
    state = net.state_dict()
    assert problem.names == list(state)
    for name, array in problem.params:
        assert array.dtype == dtype
        np.testing.assert_array_equal(array, state[name])


def test_reference_matches_central_differences():
    w = simplenet.SIMPLENET_F64
    problem = w.inputs(SMALL)
    value, grads = w.expected(problem)
    params = [a.copy() for a in problem.arrays]
    rng = np.random.default_rng(0)
    step = 1e-6
    for k, p in enumerate(params):
        for flat in rng.choice(p.size, min(p.size, 4), replace=False):
            index = np.unravel_index(flat, p.shape)
            saved = p[index]
            p[index] = saved + step
            up = w.reference(params, problem.data)[0]
            p[index] = saved - step
            down = w.reference(params, problem.data)[0]
            p[index] = saved
            scale = np.abs(grads[k]).max()
            assert (up - down) / (2 * step) == pytest.approx(grads[k][index], rel=1e-5,
                                                              abs=1e-6 * scale)
    assert value == pytest.approx(np.log(2.0), rel=1.0)  # a loss, near chance at the start


@pytest.mark.parametrize("w", STEPS, ids=lambda w: w.name)
def test_tapegrad_step_matches_the_reference(w):
    problem = w.inputs(SMALL)
    engine = TapegradVector()
    step = engine.prepare(w, problem)
    loss, grads = step(problem)
    assert w.mismatch(problem, loss, grads) is None
    assert engine.records > 0 and engine.arena_bytes > 0
    assert set(engine.phases) == {"record", "backward", "update"}
    # the update is plain SGD: the next loss is the reference's at the stepped weights
    stepped = [a - w.lr * np.asarray(g, dtype=a.dtype) for a, g in zip(problem.arrays, grads)]
    next_loss, _ = step(problem)
    want, _ = w.reference(stepped, problem.data)
    assert next_loss == pytest.approx(want, rel=max(w.rtol, 1e-6 if "32" in w.name else 1e-12))


@pytest.mark.parametrize("w", STEPS, ids=lambda w: w.name)
def test_the_recorded_step_follows_the_eager_step(w):
    """tapegrad-recorded (nn.record_loss): the reference's first loss and
    gradients, then the eager engine's losses over five steps, to rounding
    (the layers replay as tapegrad.replay.dense, whose BLAS sums round
    otherwise)."""
    problem = w.inputs(SMALL)
    eager = TapegradVector().prepare(w, problem)
    recorded = TapegradRecordedStep().prepare(w, problem)
    loss, grads = recorded(problem)
    assert w.mismatch(problem, loss, grads) is None
    ours = [eager(problem)[0] for _ in range(5)]
    rel = 1e-6 if "32" in w.name else 1e-14
    assert [loss] + [recorded(problem)[0] for _ in range(4)] == pytest.approx(ours, rel=rel)


@pytest.mark.parametrize("w", STEPS, ids=lambda w: w.name)
@pytest.mark.parametrize("peer", ARRAY_PEERS, ids=lambda e: e.name)
def test_peer_step_agrees_with_tapegrad(peer, w):
    """From identical weights: the same first loss and gradients (against the
    reference), and the same losses over three SGD steps as tapegrad."""
    available(peer)
    problem = w.inputs(SMALL)
    ours = TapegradVector().prepare(w, problem)
    theirs = peer.prepare(w, problem)  # builds (and compiles) without stepping
    loss, grads = theirs(problem)
    assert isinstance(loss, float)
    assert w.mismatch(problem, loss, grads) is None
    assert [np.asarray(g).dtype for g in grads] == [a.dtype for a in problem.arrays]
    our_losses = [ours(problem)[0] for _ in range(3)]
    their_losses = [loss] + [theirs(problem)[0] for _ in range(2)]
    np.testing.assert_allclose(their_losses, our_losses, rtol=TRAJECTORY_RTOL[w.name])
    assert our_losses[2] < our_losses[0]


@pytest.mark.parametrize("engine", [TapegradVector(), *ARRAY_PEERS], ids=lambda e: e.name)
def test_vectorized_rosenbrock(engine):
    available(engine)
    w = rosenbrock.WORKLOAD
    x = w.inputs(1000)
    value_and_grad = engine.prepare(w, x)
    for inputs in (x, 0.5 * x + 0.1):
        value, grad = value_and_grad(inputs)
        assert w.mismatch(inputs, value, np.asarray(grad, dtype=np.float64)) is None


def test_flatten_orders_as_the_parameters():
    problem = simplenet.SIMPLENET_F64.inputs(10)
    flat = flatten(problem.arrays)
    assert flat.shape == (sum(a.size for a in problem.arrays),)
    assert flat[0] == problem.arrays[0].flat[0] and flat[-1] == problem.arrays[-1].flat[-1]


def test_a_wrong_step_is_named():
    w = simplenet.SIMPLENET_F64
    problem = w.inputs(SMALL)
    loss, grads = w.expected(problem)
    assert w.mismatch(problem, loss, grads) is None
    assert "loss" in w.mismatch(problem, loss * 1.01, grads)
    grads[2] = grads[2] * 1.01
    assert "net.1.weight" in w.mismatch(problem, loss, grads)
    assert "gradients" in w.mismatch(problem, loss, grads[:-1])


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """The CLI's quick run of the array workloads, tapegrad's engines only."""
    path = tmp_path_factory.mktemp("arrays") / "run.json"
    assert cli.main(["run", "bench.workloads", "--quick", "--no-fresh", "--peers", "",
                     "--only", "rosenbrock,simplenet_f64,simplenet_f32", "--budget", "0.01",
                     "--json", str(path)]) == 0
    return path


@pytest.mark.skipif(JIT_DISABLED, reason="the quick suite's sizes need the compiled kernels")
def test_the_cli_runs_the_array_workloads(quick_run, capsys):
    _, rs = results.load(quick_run)
    got = {(r["workload"], r["engine"], r["metric"]) for r in rs}
    for name in ("simplenet_f64", "simplenet_f32"):
        for metric in ("time_min", "records", "arena_bytes", "record_time_median", "peak_memory"):
            assert (name, "tapegrad-vector", metric) in got, (name, metric)
        assert not any(w == name and e == "tapegrad" for w, e, _ in got)
    assert ("rosenbrock", "tapegrad-vector", "ns_per_op") in got
    assert ("rosenbrock", "tapegrad", "speedup_vs:tapegrad-vector") in got
    assert ("simplenet_f64", "blas-floor", "floor_time_median") in got
    assert cli.main(["show", str(quick_run), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| simplenet_f64 | 10,000 |" in out and "tapegrad-vector" in out
    assert "| simplenet_f64 | 10,000 | the BLAS calls alone |" in out
    assert cli.main(["show", str(quick_run)]) == 0
    assert "the step's BLAS calls alone (the floor):" in capsys.readouterr().out


@pytest.mark.parametrize("w", STEPS, ids=lambda w: w.name)
def test_the_blas_floor_runs_the_steps_eight_products(w):
    problem = w.inputs(SMALL)
    calls = w.blas(problem)
    calls()
    w1, _, w2, _, w3, _ = problem.arrays
    h1 = problem.data[0] @ w1.T
    assert [o.shape for o in calls.outputs] == [h1.shape, h1.shape, (SMALL, 2), h1.shape,
                                                h1.shape, w3.shape, w2.shape, w1.shape]
    np.testing.assert_allclose(calls.outputs[0], h1, rtol=1e-6)
    np.testing.assert_allclose(calls.outputs[2], (h1 @ w2.T) @ w3.T, rtol=1e-5)


@pytest.mark.skipif(JIT_DISABLED, reason="the quick suite's sizes need the compiled kernels")
def test_new_figures_are_not_gated_against_a_baseline_without_them(quick_run, capsys):
    machine, rs = results.load(quick_run)
    old = [r for r in rs if r["engine"] != "tapegrad-vector" and "simplenet" not in r["workload"]
           and not r["metric"].endswith(":tapegrad-vector")]
    findings = gate.compare(old, rs)
    assert findings and not gate.regressions(findings)
    assert not any(f.engine == "tapegrad-vector" for f in findings)
    head = {results.key(r): [r["value"]] * 3 for r in rs if r["metric"] == "time_min"}
    ref = {k: v for k, v in head.items() if k[1] != "tapegrad-vector"}
    shifts = gate.compare_builds(ref, head)
    assert {s.status for s in shifts if s.engine == "tapegrad-vector"} == {"head only"}


def test_peers_on_a_step_in_a_run():
    """The runner checks and times each step engine; a peer that is not
    installed is reported, not run."""
    w = simplenet.SIMPLENET_F32
    small = dataclasses.replace(w, sizes=(SMALL,), quick_sizes=(SMALL,))
    result = runner.run([small], ARRAY_PEERS, quick=True, budget_s=0.01)
    timed = {r["engine"] for r in result.records if r["metric"] == "time_min"}
    assert "tapegrad-vector" in timed
    for peer in ARRAY_PEERS:
        assert (peer.name in timed) == (peer.unavailable() is None)
        if peer.name in timed:
            assert any(r["metric"] == f"speedup_vs:{peer.name}" for r in result.records)


def test_step_peak_memory_in_a_fresh_process():
    if memory.unavailable():
        pytest.skip(memory.unavailable())
    result = runner.Result()
    w = simplenet.SIMPLENET_F64
    memory.step_memory("bench.workloads", "", w, SMALL, [TapegradVector(),
                                                         TapegradRecordedStep()], result)
    assert not result.skipped
    for engine in ("tapegrad-vector", "tapegrad-recorded"):
        found = {r["metric"]: r["value"] for r in result.records if r["engine"] == engine}
        assert found["step_resident"] > found["step_peak_rss"] >= 0
    json.dumps(result.records)
