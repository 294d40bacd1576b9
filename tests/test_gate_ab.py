"""The CI gate's A/B against a commit: it fails, saying why, when it cannot
run; each build imports its own tapegrad; a baseline from another machine
switches the gate to the A/B; and a real slowdown of recording or of the
reverse sweep, committed in a throwaway clone, fails the gate naming the
figure.  (The slow tests build clones under pytest's tmp_path: this
repository's history and working tree are only read.)"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import JIT_DISABLED
from tapegrad.benchmark import ab, cli, results, trees

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "bench" / "baseline.json"
HAS_GIT = shutil.which("git") is not None and (ROOT / ".git").exists()
requires_git = pytest.mark.skipif(not HAS_GIT, reason="git or the repository's .git is missing")
timed = pytest.mark.skipif(JIT_DISABLED, reason="A/B timings need numba's JIT")


def gate(argv, cwd, monkeypatch):
    """``python -m bench check ARGV`` run in ``cwd``: its exit code."""
    monkeypatch.chdir(cwd)
    return cli.main(["check", *argv], prog="python -m bench", default_workloads="bench.workloads",
                    default_peers=None, module="bench")


def git(*args, cwd):
    return subprocess.run(["git", "-c", "user.name=gate test", "-c", "user.email=gate@test",
                           *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def clone(tmp_path):
    """A throwaway clone of this repository's HEAD."""
    path = tmp_path / "clone"
    git("clone", "--quiet", "--no-hardlinks", str(ROOT), str(path), cwd=tmp_path)
    return path


def baseline_from(tmp_path, **machine):
    """A copy of the committed baseline with ``machine`` fields replaced."""
    info, rs = results.load(BASELINE)
    info.update(machine)
    out = tmp_path / "baseline.json"
    results.save(out, {k: v for k, v in info.items() if v is not None}, rs)
    return out


# Failing, saying why, when the A/B cannot run.

@requires_git
def test_a_commit_missing_from_the_clone_fails_the_gate(monkeypatch, capsys):
    assert gate(["--against", "0" * 40], ROOT, monkeypatch) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "is not in this clone" in out


@requires_git
def test_a_shallow_clone_fails_the_gate_naming_the_fix(tmp_path, monkeypatch, capsys):
    shallow = tmp_path / "shallow"
    git("clone", "--quiet", "--depth", "1", ROOT.as_uri(), str(shallow), cwd=tmp_path)
    assert gate(["--against", "HEAD~1"], shallow, monkeypatch) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "git fetch --unshallow" in out


def test_without_git_the_gate_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on it
    assert gate(["--against", "HEAD"], ROOT, monkeypatch) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "git is not installed" in out


def test_a_baseline_from_another_machine_without_a_commit_fails(tmp_path, monkeypatch, capsys):
    base = baseline_from(tmp_path, cpu="Some Other CPU", commit=None)
    assert gate(["--baseline", str(base)], ROOT, monkeypatch) == 1
    out = capsys.readouterr().out
    assert "Timings do not carry across machines" in out and "records no commit" in out


def test_a_run_from_another_machine_than_the_baseline_fails(tmp_path, monkeypatch, capsys):
    base = baseline_from(tmp_path, cpu="Some Other CPU")
    assert gate(["--baseline", str(base), "--current", str(BASELINE)], ROOT, monkeypatch) == 1
    assert "--current is from another machine" in capsys.readouterr().out


def test_the_same_machine_compares_with_the_file(tmp_path, monkeypatch, capsys):
    here = results.fingerprint(results.machine())
    base = baseline_from(tmp_path, cpu=here["cpu"], cores=here["cores"], python=here["python"])
    info, rs = results.load(base)
    info["versions"].update(numpy=here["numpy"], numba=here["numba"])
    results.save(base, info, rs)
    assert gate(["--baseline", str(base), "--current", str(base)], ROOT, monkeypatch) == 0
    assert "comparing against the file" in capsys.readouterr().out


def test_the_same_machine_still_times_an_ab_against_the_baselines_commit(
        tmp_path, monkeypatch, capsys):
    here = results.fingerprint(results.machine())
    base = baseline_from(tmp_path, cpu=here["cpu"], cores=here["cores"], python=here["python"])
    info, rs = results.load(base)
    info["versions"].update(numpy=here["numpy"], numba=here["numba"])
    results.save(base, info, rs)
    measured = []
    monkeypatch.setattr(cli, "_check_ab", lambda args, module, ref, baseline:
                        measured.append(ref) or 0)
    assert gate(["--baseline", str(base)], ROOT, monkeypatch) == 0
    assert measured == [info["commit"]]
    assert "(A/B); counts are compared with the file" in capsys.readouterr().out


@requires_git
def test_the_committed_baseline_names_its_commit():
    machine, _ = results.load(BASELINE)
    assert re.fullmatch("[0-9a-f]{40}", machine["commit"])
    if trees.git("rev-parse", "--is-shallow-repository", cwd=ROOT) == "false":
        assert trees.resolve(machine["commit"], ROOT) == machine["commit"]


# Each build imports its own tapegrad.

@requires_git
@timed
def test_each_run_imports_its_own_tree(tmp_path):
    tree = tmp_path / "ref"
    trees.export("HEAD", ROOT, tree)
    init = tree / "tapegrad" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]*"', '__version__ = "0.0.0+the-ref-tree"',
                           init.read_text()))
    options = ab.Options(only="seed", budget=0.01)
    ab.run_once(ab.Build("ref", tree), tmp_path / "ref.json", options)
    ab.run_once(ab.Build("head", ROOT), tmp_path / "head.json", options)
    versions = {label: json.loads((tmp_path / f"{label}.json").read_text())["machine"]
                ["versions"]["tapegrad"] for label in ("ref", "head")}
    assert versions["ref"] == "0.0.0+the-ref-tree" != versions["head"]


# Real slowdowns, committed in a throwaway clone, fail the gate.

SLOWER_PUSH = '''

_push_once = Recording.push


def _slower_push(self, *args, _spin=range({spin})):
    """Recording.push with extra work: a slowdown for the gate's test."""
    for _ in _spin:
        pass
    return _push_once(self, *args)


Recording.push = _slower_push
'''

SLOWER_REVERSE = '''

@kernel
def reverse({params}):
    """The reverse sweep after a dummy pass over a copy of the adjoints:
    a slowdown for the gate's test."""
    scratch = adj.copy()
    _reverse_once({dummy})
    _reverse_once({params})
'''


def spin_for(slowdown, workload="rosenbrock", size=1000):
    """Spin-loop iterations per record that make ``workload`` record
    ``slowdown`` times slower on this machine (measured here, with the
    same patch applied to this process's Recording)."""
    from bench.workloads import WORKLOADS
    from tapegrad.benchmark.engine import Tapegrad
    from tapegrad.core.tape import Recording

    w = next(w for w in WORKLOADS if w.name == workload)
    x = w.inputs(size)
    call = Tapegrad().prepare(w, x)
    original = Recording.push

    def best_with(spin):
        if spin is not None:
            namespace = {"Recording": Recording}
            exec(SLOWER_PUSH.format(spin=spin), namespace)
        try:
            return min(_seconds(call, x) for _ in range(15))
        finally:
            Recording.push = original

    plain, wrapped, spun = best_with(None), best_with(0), best_with(50)
    per_iteration = max((spun - wrapped) / 50, 1e-12)
    return max(0, round((slowdown * plain - wrapped) / per_iteration))


def _seconds(call, x):
    import time

    start = time.perf_counter()
    call(x)
    return time.perf_counter() - start


def slow_down_recording(tree, slowdown=1.5):
    tape = tree / "tapegrad" / "core" / "tape.py"
    assert "class Recording" in tape.read_text() and "def push(" in tape.read_text()
    tape.write_text(tape.read_text() + SLOWER_PUSH.format(spin=spin_for(slowdown)))


def slow_down_reverse_sweep(tree):
    sweeps = tree / "tapegrad" / "kernels" / "sweeps.py"
    source = sweeps.read_text()
    found = re.search(r"@kernel\ndef reverse\(([^)]*)\):", source)
    assert found and "adj" in found.group(1).split(", "), "the reverse kernel's signature moved"
    params = found.group(1)
    dummy = ", ".join("scratch" if p == "adj" else p for p in params.split(", "))
    source = source.replace(found.group(0), f"@kernel\ndef _reverse_once({params}):")
    sweeps.write_text(source + SLOWER_REVERSE.format(params=params, dummy=dummy))


def commit_slowdown(clone, patch, message):
    patch(clone)
    git("commit", "--quiet", "-am", message, cwd=clone)


def failure_line(out):
    return next(line for line in out.splitlines() if line.startswith("gate: FAILED"))


@pytest.mark.slow
@requires_git
@timed
def test_the_gate_fails_on_recording_one_and_a_half_times_slower(clone, monkeypatch, capsys):
    commit_slowdown(clone, slow_down_recording, "Recording 1.5x slower (test)")
    assert gate(["--against", "HEAD~1", "--only", "rosenbrock", "--rounds", "6"],
                clone, monkeypatch) == 1
    out = capsys.readouterr().out
    assert "time_min" in failure_line(out)
    assert "sweep_ns_per_op" not in failure_line(out)


@pytest.mark.slow
@requires_git
@timed
def test_the_gate_fails_on_a_reverse_sweep_twice_as_slow(clone, monkeypatch, capsys):
    commit_slowdown(clone, slow_down_reverse_sweep, "Reverse sweep 2x slower (test)")
    assert gate(["--against", "HEAD~1", "--only", "rosenbrock", "--rounds", "6"],
                clone, monkeypatch) == 1
    out = capsys.readouterr().out
    assert "sweep_ns_per_op" in failure_line(out)


@pytest.mark.slow
@requires_git
@timed
def test_a_baseline_from_another_machine_switches_to_the_ab(clone, tmp_path, monkeypatch,
                                                           capsys):
    head = git("rev-parse", "HEAD", cwd=clone).strip()
    base = baseline_from(tmp_path, cpu="Some Other CPU", cores=64, commit=head)
    assert gate(["--baseline", str(base), "--only", "rosenbrock", "--rounds", "6"],
                clone, monkeypatch) == 0
    out = capsys.readouterr().out
    assert "Timings do not carry across machines" in out
    assert f"against {head} = {head[:12]}" in out and "gate: passed" in out
