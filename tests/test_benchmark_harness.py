"""The benchmark harness: running workloads, JSON records, and the CI gate."""

import json
import pathlib
import sys

import pytest

from tapegrad.benchmark import cli, gate, results, runner
from tapegrad.benchmark.workload import Workload, load

EXAMPLE = "example_workloads"  # tests/example_workloads.py, the README's example


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "run.json"
    assert cli.main(["run", EXAMPLE, "--quick", "--no-fresh", "--budget", "0.05",
                     "--json", str(path)]) == 0
    return path


def test_run_writes_machine_and_records(quick_run):
    data = json.loads(quick_run.read_text())
    assert {"cpu", "cores", "python", "versions"} <= set(data["machine"])
    assert data["machine"]["versions"]["tapegrad"]
    for r in data["results"]:
        assert set(r) == {"workload", "engine", "size", "metric", "value", "unit", "better"}
        assert r["better"] in ("lower", "higher")
    metrics = {(r["engine"], r["metric"]) for r in data["results"]}
    for wanted in [("tapegrad", m) for m in ("time_median", "time_min", "time_max", "ns_per_op",
                                              "j_over_f", "one_time", "first_call",
                                              "peak_memory", "records", "bytes_per_op",
                                              "time_vs_python_loop", "sweep_vs_numba_loop")]:
        assert wanted in metrics, wanted


def test_gate_passes_against_its_own_run(quick_run):
    assert cli.main(["check", EXAMPLE, "--baseline", str(quick_run),
                     "--current", str(quick_run)]) == 0


def doctored(path, tmp_path, change):
    machine, rs = results.load(path)
    for r in rs:
        change(r)
    out = tmp_path / "doctored.json"
    results.save(out, machine, rs)
    return out


def test_gate_fails_on_a_doctored_timing_baseline(quick_run, tmp_path, capsys):
    def faster_baseline(r):
        if r["metric"] == "time_vs_python_loop":
            r["value"] /= 3.0  # the baseline claims tapegrad was 3x faster
    base = doctored(quick_run, tmp_path, faster_baseline)
    assert cli.main(["check", EXAMPLE, "--baseline", str(base), "--current", str(quick_run)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSED" in out and "time_vs_python_loop" in out and "+200" in out


def test_gate_fails_on_a_changed_count(quick_run, tmp_path):
    def fewer_records(r):
        if r["metric"] == "records":
            r["value"] -= 1
    base = doctored(quick_run, tmp_path, fewer_records)
    assert cli.main(["check", EXAMPLE, "--baseline", str(base), "--current", str(quick_run)]) == 1


def test_gate_runs_the_quick_suite_itself(quick_run, tmp_path, capsys):
    machine, rs = results.load(quick_run)
    machine.pop("commit", None)  # with a commit, the gate would time an A/B against it
    base = tmp_path / "no_commit.json"
    results.save(base, machine, rs)
    assert cli.main(["check", EXAMPLE, "--baseline", str(base), "--budget", "0.05",
                     "--tolerance", "3"]) == 0
    assert "names no commit: comparing against the file" in capsys.readouterr().out


def test_peer_missing_here_is_not_measured_not_failed():
    base = [results.record("w", "tapegrad", 1, "speedup_vs:torch-scalar", 10.0, "ratio",
                           better="higher")]
    (finding,) = gate.compare(base, [], tolerance=0.5)
    assert finding.status == "not measured"
    assert not gate.regressions([finding])


def speedup_case(speedup, peer_seconds=0.01):
    return [results.record("w", "tapegrad", 1, "time_min", 0.01, "s"),
            results.record("w", "p", 1, "time_min", peer_seconds, "s"),
            results.record("w", "tapegrad", 1, "speedup_vs:p", speedup, "ratio",
                           better="higher")]


def test_speedup_regression_is_caught_both_ways():
    base = speedup_case(10.0)
    assert gate.compare(base, speedup_case(6.0), 0.5)[0].status == "REGRESSED"
    assert gate.compare(base, speedup_case(7.0), 0.5)[0].status == "ok"
    assert gate.compare(base, speedup_case(16.0), 0.5)[0].status == "improved"


def test_wrong_gradient_stops_the_run():
    bad = Workload("bad", lambda x, m: x[0] * x[0], point=lambda n: [3.0] * n,
                   sizes=(1,), quick_sizes=(1,), reference=lambda x: (9.0, [7.0]))
    with pytest.raises(runner.WrongGradient, match="gradient"):
        runner.run([bad], [], quick=True, budget_s=0.01)


def test_plot_without_matplotlib_is_a_clear_message(quick_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert cli.main(["run", EXAMPLE, "--quick", "--no-fresh", "--budget", "0.01",
                     "--plot", str(tmp_path / "p.png")]) == 0
    assert "needs matplotlib" in capsys.readouterr().err


def test_loading_workloads_errors():
    with pytest.raises(LookupError, match="defines no"):
        load("math")
    with pytest.raises(SystemExit, match="unknown workloads"):
        cli.main(["run", EXAMPLE, "--only", "nope"])


BASELINE = pathlib.Path(__file__).resolve().parents[1] / "bench" / "baseline.json"


def test_committed_baseline_gates_tapegrad_figures():
    machine, rs = results.load(BASELINE)
    assert {"cpu", "cores", "python", "versions"} <= set(machine)
    gated = {r["metric"].split(":")[0] for r in rs if results.gate_kind(r["metric"])}
    assert {"records", "bytes_per_op", "kernel_compilations", "time_vs_python_loop",
            "sweep_vs_numba_loop", "speedup_vs"} <= gated


def test_committed_baseline_fails_the_gate_when_doctored(tmp_path):
    """The CI gate against bench/baseline.json: passes against itself, fails
    when the baseline says tapegrad recorded one record fewer somewhere."""
    assert cli.main(["check", "--baseline", str(BASELINE), "--current", str(BASELINE),
                     EXAMPLE]) == 0

    def one_record_fewer(r):
        if r["metric"] == "records" and r["workload"] == "rosenbrock":
            r["value"] -= 1
    base = doctored(BASELINE, tmp_path, one_record_fewer)
    assert cli.main(["check", "--baseline", str(base), "--current", str(BASELINE),
                     EXAMPLE]) == 1


def test_speedups_over_sub_millisecond_calls_are_not_gated():
    (finding,) = gate.compare(speedup_case(10.0, 1e-4), speedup_case(1.0, 1e-4), 0.5)
    assert finding.status == "too fast"
    (finding,) = gate.compare(speedup_case(10.0, 1e-2), speedup_case(1.0, 1e-2), 0.5)
    assert finding.status == "REGRESSED"


def test_plot_is_a_png(quick_run, tmp_path):
    pytest.importorskip("matplotlib")
    from tapegrad.benchmark import report

    _, rs = results.load(quick_run)
    report.plot(rs, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tapegrad_bench_console_script_is_installed():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "tapegrad-bench"]
    assert script.value == "tapegrad.benchmark.cli:console_script"
