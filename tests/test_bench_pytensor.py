"""The benchmark's PyTensor peer, run in a side process on an interpreter of
its own (bench/side_peer.py, bench/pytensor_side.py), and the figures the
step tables gained: the quartiles of the timed calls and each engine's CPU
time over wall time."""

import dataclasses
import gc
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import pytensor_side, side_peer
from bench.peers import PEERS
from bench.side_peer import PyTensorExactVector, PyTensorVector
from bench.workloads import rosenbrock, simplenet
from tapegrad.benchmark import memory, report, results, runner
from tapegrad.benchmark.workload import Workload

ROOT = Path(__file__).resolve().parents[1]
SMALL = 300


def available(engine):
    reason = engine.unavailable()
    if reason is not None:
        pytest.skip(f"{engine.name}: {reason} (make bench-peers)")
    return engine


def squares(x, xp):
    return xp.sum(x * x) + xp.sum(xp.tanh(x[1:]) * x[:-1])


def squares_reference(x):
    t = np.tanh(x[1:])
    grad = 2.0 * x
    grad[:-1] += t
    grad[1:] += (1.0 - t**2) * x[:-1]
    return np.sum(x * x) + np.sum(t * x[:-1]), grad


SQUARES = Workload("squares", lambda x, m: sum(v * v for v in x)
                   + sum(m.tanh(b) * a for a, b in zip(x[:-1], x[1:])),
                   point=lambda n: np.linspace(-1.0, 2.0, n), sizes=(40,), quick_sizes=(40,),
                   reference=squares_reference, vectorized=squares)
SMALL_STEP = dataclasses.replace(simplenet.SIMPLENET_F64, sizes=(SMALL,), quick_sizes=(SMALL,))

SCALE = 3.0


def scaled(x, xp):
    return xp.sum(SCALE * x)  # reads a module global: cannot run from its source alone


def test_the_pytensor_engines_are_peers():
    names = [e.name for e in PEERS]
    assert names[-2:] == ["pytensor-vector", "pytensor-nofastmath-vector"]
    assert PyTensorVector.forms == ("vectorized", "step") and PyTensorExactVector.forms == (
        "vectorized",)
    assert not PyTensorVector.in_process and PyTensorVector.fastmath
    assert not PyTensorExactVector.fastmath


def test_a_missing_side_interpreter_is_not_installed(monkeypatch, tmp_path):
    monkeypatch.setenv(side_peer.PYTHON_VARIABLE, str(tmp_path / "no-python"))
    assert PyTensorVector().unavailable() == "not installed"
    assert PyTensorExactVector().unavailable() == "not installed"
    fails = tmp_path / "python-without-pytensor"
    fails.write_text("#!/bin/sh\nexit 1\n")
    fails.chmod(0o755)
    monkeypatch.setenv(side_peer.PYTHON_VARIABLE, str(fails))
    assert PyTensorVector().unavailable() == "not installed"
    monkeypatch.setattr(runner, "_COMPILED_BY", {})  # this run's kernels: no engine's own
    result = runner.run([SQUARES], [PyTensorVector()], quick=True, budget_s=0.01)
    assert ("squares", "pytensor-vector", 40, "not installed") in result.skipped
    assert not any(r["engine"] == "pytensor-vector" for r in result.records)


def test_the_default_side_interpreter_is_the_side_venv(monkeypatch):
    monkeypatch.delenv(side_peer.PYTHON_VARIABLE, raising=False)
    assert side_peer.side_python() == ROOT / ".venv-pytensor" / "bin" / "python"


def test_the_side_environment_drops_this_interpreters_settings(monkeypatch):
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    env = side_peer.environment({"MALLOC_MMAP_THRESHOLD_": "65536"})
    assert "NUMBA_DISABLE_JIT" not in env and "PYTHONPATH" not in env
    assert env["OMP_NUM_THREADS"] == "1" and env["MALLOC_MMAP_THRESHOLD_"] == "65536"


def test_the_side_program_answers_each_line():
    """Without PyTensor (this interpreter): an error answer per request, the
    program goes on; blank lines are skipped."""
    out = io.StringIO()
    pytensor_side.serve(['{"op": "nope"}', "", '{"op": "time"}'], out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(line.startswith(pytensor_side.MARK) for line in lines)
    answers = [json.loads(line[len(pytensor_side.MARK):]) for line in lines]
    assert "KeyError" in answers[0]["error"] and "error" in answers[1]


def test_a_side_process_speaks_json_lines_and_ends_with_its_owner():
    """The side program under this interpreter (it imports PyTensor only in
    its requests): errors come back as ``SideError``; a side process no
    longer referenced ends."""
    side = side_peer.SideProcess(sys.executable, timeout=120)
    with pytest.raises(side_peer.SideError, match="KeyError"):
        side.request("nope")
    with pytest.raises(side_peer.SideError, match="No module named 'pytensor'|Error"):
        side.request("time", budget=0.01, timing="/nonexistent.py")
    assert Path(side.file("x.npy")).parent.is_dir()
    process, directory = side.process, side.path
    del side
    gc.collect()
    assert process.wait(timeout=30) == 0 and not directory.exists()


def test_a_lambda_cannot_be_shipped():
    with pytest.raises(NotImplementedError, match="not a def"):
        side_peer._source(lambda x, xp: xp.sum(x))
    source, name = side_peer._source(squares)
    assert name == "squares" and source.startswith("def squares(x, xp):")


def test_makefile_without_a_python_312_skips_pytensor(tmp_path):
    path = "/usr/bin:/bin"
    if any(shutil.which(p, path=path) for p in ("python3.12", "python3.13", "python3.14")):
        pytest.skip("this PATH has a Python >= 3.12")
    venv = tmp_path / "venv"
    env = {"PATH": path, "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "pyenv")}
    done = subprocess.run(["make", "-s", "-C", str(ROOT), "bench-pytensor",
                           f"PYTENSOR_VENV={venv}"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "no Python >= 3.12" in done.stdout and not venv.exists()


def test_makefile_bench_peers_makes_the_side_venv():
    done = subprocess.run(["make", "-n", "-C", str(ROOT), "bench-peers"], capture_output=True,
                          text=True, env={**os.environ, "MAKEFLAGS": ""})
    assert done.returncode == 0 and "pytensor==" in done.stdout


@pytest.mark.parametrize("engine", [PyTensorVector(), PyTensorExactVector()],
                         ids=lambda e: e.name)
def test_vectorized_value_and_gradient_in_the_side_process(engine):
    available(engine)
    assert "numba backend" in engine.version()
    for w, x in ((SQUARES, SQUARES.inputs(40)), (rosenbrock.WORKLOAD,
                                                 rosenbrock.WORKLOAD.inputs(1000))):
        value_and_grad = engine.prepare(w, x)
        assert set(engine.measured) == {"one_time"}
        for inputs in (x, 0.5 * x + 0.1):
            value, grad = value_and_grad(inputs)
            assert isinstance(value, float) and grad.dtype == np.float64
            assert w.mismatch(inputs, value, grad) is None
        assert engine.measured["first_call"] > 0.0
    engine.close()


def test_the_side_process_times_its_calls():
    engine = available(PyTensorVector())
    x = SQUARES.inputs(40)
    call = engine.prepare(SQUARES, x)
    call(x)
    stats = engine.time_calls(call, x, 0.01)
    assert 3 <= stats.runs <= 50 and stats.phases == {}
    assert stats.min <= stats.p25 <= stats.median <= stats.p75 <= stats.max < 0.01
    assert 0.0 < stats.cpu_over_wall < 4.0
    engine.close()


def test_the_fixed_cost_programs_in_the_side_process():
    """The replay fixed-cost figure's programs, PyTensor's: the loss over
    parameters as inputs (form "gradient") gives tapegrad's loss and
    gradients; each program times in microseconds."""
    from tapegrad.benchmark import replay_cost

    engine = available(PyTensorVector())
    for program in ("simplenet_loss", "mlp_mse_loss"):
        side = side_peer.SideProcess(side_peer.side_python())
        try:
            form, function, arrays = replay_cost.peer_programs()[program]
            inputs = side.file("inputs.npz")
            np.savez(inputs, **arrays)
            source, name = side_peer._source(function)
            side.request("build", form=form, source=source, function=name, inputs=inputs,
                         fastmath=False, lr=None)
            out = side.file("out.npz")
            side.request("call", out=out)
            with np.load(out) as answer:
                loss, *grads = [answer[f"arr_{k}"] for k in range(len(answer.files))]
        finally:
            side.close()
        rec, params = replay_cost.programs()[program]
        want, want_grads = rec.value_and_grad(params)
        assert float(loss) == pytest.approx(want, rel=1e-12), program
        for g, w in zip(grads, want_grads):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-13)
    for name, (form, function, arrays) in replay_cost.peer_programs().items():
        seconds = engine.fixed_cost(form, function, arrays, calls=3, batches=2)
        assert 0.0 < seconds < 0.01, name


def test_unsupported_and_dead_side_processes_are_reported():
    engine = available(PyTensorVector())
    w = dataclasses.replace(SQUARES, name="scaled", vectorized=scaled)
    with pytest.raises(NotImplementedError, match="cannot run this workload.*SCALE"):
        engine.prepare(w, w.inputs(40))
    x = SQUARES.inputs(40)
    call = engine.prepare(SQUARES, x)
    engine.side.process.kill()
    with pytest.raises(NotImplementedError, match="side process ended"):
        call(x)
    engine.close()


@pytest.mark.parametrize("w", [simplenet.SIMPLENET_F64, simplenet.SIMPLENET_F32],
                         ids=lambda w: w.name)
def test_a_step_with_its_updates_in_the_compiled_function(w):
    """The first loss and gradients against the reference; then the weights
    have moved by SGD (the next loss is the reference's there)."""
    engine = available(PyTensorVector())
    problem = w.inputs(SMALL)
    step = engine.prepare(w, problem)  # compiles, and puts the weights back
    loss, grads = step(problem)
    assert w.mismatch(problem, loss, grads) is None
    assert [g.dtype for g in grads] == [a.dtype for a in problem.arrays]
    stepped = [a - w.lr * np.asarray(g, dtype=a.dtype) for a, g in zip(problem.arrays, grads)]
    want, _ = w.reference(stepped, problem.data)
    assert step(problem)[0] == pytest.approx(want, rel=1e-12 if "64" in w.name else 1e-5)
    engine.close()


def test_step_memory_in_a_fresh_side_process():
    engine = available(PyTensorVector())
    if memory.unavailable():
        pytest.skip(memory.unavailable())
    result = runner.Result()
    engine.step_memory(SMALL_STEP, SMALL, result)
    assert not result.skipped
    found = {r["metric"]: r["value"] for r in result.records}
    assert found["step_resident"] > found["step_peak_rss"] >= 0


def test_quartiles_and_cpu_over_wall_in_the_records_and_tables(monkeypatch):
    """Every timed engine has them (PyTensor's measured in its process, with
    no tracemalloc peak), in the step tables and the Markdown; none is gated."""
    monkeypatch.setattr(runner, "_COMPILED_BY", {})  # this run's kernels: no engine's own
    peers = [PyTensorVector()] if PyTensorVector().unavailable() is None else []
    result = runner.run([SQUARES, SMALL_STEP], peers, quick=True, budget_s=0.01)
    figures = report._index(result.records)
    engines = {"squares": ["tapegrad", "tapegrad-vector"], SMALL_STEP.name: ["tapegrad-vector"]}
    for name, ours in engines.items():
        for engine in ours + [p.name for p in peers]:
            f = figures[(name, SQUARES.sizes[0] if name == "squares" else SMALL)][engine]
            assert f["time_min"] <= f["time_p25"] <= f["time_median"] <= f["time_p75"]
            assert f["time_p75"] <= f["time_max"] and f["cpu_over_wall"] > 0.0
            assert ("peak_memory" in f) == (engine != "pytensor-vector")
            assert f["one_time"] > 0.0 and f["first_call"] > 0.0
    for metric in ("time_p25", "time_p75", "cpu_over_wall"):
        assert results.gate_kind(metric) is None
    text = "\n".join(report.tables(result.records, result.skipped, [SQUARES, SMALL_STEP]))
    step_table = text[text.index(SMALL_STEP.name):]
    assert "p25 ms" in step_table and "p75 ms" in step_table and "cpu/wall" in step_table
    assert "cpu/wall" in text[:text.index(SMALL_STEP.name)]
    markdown = "\n".join(report._markdown_steps(figures))
    assert f"| {SMALL_STEP.name} | {SMALL} | tapegrad-vector |" in markdown
    for peer in peers:
        assert f"  {peer.name} " in step_table
        assert f"| {SMALL_STEP.name} | {SMALL} | {peer.name} |" in markdown
        assert any(r["metric"] == f"speedup_vs:{peer.name}" for r in result.records)
        peer.close()


def test_the_figures_survive_json(tmp_path):
    records = [results.record("w", "e", 1, m, v, u) for m, v, u in
               (("time_median", 1e-3, "s"), ("time_p25", 9e-4, "s"), ("time_p75", 1.1e-3, "s"),
                ("cpu_over_wall", 1.02, "ratio"))]
    path = tmp_path / "run.json"
    results.save(path, {"cpu": "x"}, records)
    assert results.load(path)[1] == records


def test_side_program_runs_without_tapegrad():
    """The side program imports only the standard library and NumPy at its
    top (PyTensor inside its requests): no tapegrad, whatever the interpreter."""
    code = ("import sys, runpy; sys.argv = ['x']; sys.stdin = open('/dev/null'); "
            f"runpy.run_path({str(ROOT / 'bench' / 'pytensor_side.py')!r}, run_name='__main__'); "
            "print(sorted(m for m in sys.modules if m.startswith(('tapegrad', 'bench'))), "
            "file=sys.__stdout__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd="/", check=True)
    assert done.stdout.strip() == "[]"
