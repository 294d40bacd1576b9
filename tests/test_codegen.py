"""The generated sweeps, and how numba compiles and caches them."""

import os
import subprocess
import sys
import textwrap

import pytest

import tapegrad as tg
from conftest import JIT_DISABLED
from tapegrad.kernels import codegen, sweeps as _sweeps


@pytest.mark.parametrize("target, source", codegen.targets(), ids=lambda x: getattr(x, "name", ""))
def test_generated_files_are_up_to_date(target, source):
    """tapegrad/kernels/sweeps.py and array_rules.py are what the op table
    generates today."""
    assert target.read_text() == source, (
        f"the op table changed: run `make generate` and commit tapegrad/kernels/{target.name}"
    )


def test_check_reports_a_stale_file_and_writing_refreshes_it(tmp_path, monkeypatch, capsys):
    stale, fresh = tmp_path / "sweeps.py", tmp_path / "array_rules.py"
    stale.write_text("# an old sweep\n")
    fresh.write_text("current\n")
    monkeypatch.setattr(codegen, "targets", lambda: [(stale, "new\n"), (fresh, "current\n")])
    assert codegen.main(["--check"]) == 1
    assert f"{stale} is out of date" in capsys.readouterr().out
    assert stale.read_text() == "# an old sweep\n"
    assert codegen.main([]) == 0
    assert stale.read_text() == "new\n" and codegen.main(["--check"]) == 0


def test_every_differentiable_op_has_a_reverse_branch_and_every_op_a_forward_one():
    source = codegen.generate()
    reverse, forward = source.split("def reverse(")[1].split("def forward(")
    for op in tg.OPS.values():
        branch = f"code == {op.code}:  # {op.name}"
        assert (branch in reverse) == op.differentiable, op.name
        assert branch in forward, op.name


@pytest.mark.skipif(JIT_DISABLED, reason="no compilation with NUMBA_DISABLE_JIT=1")
def test_tape_length_and_content_never_trigger_a_recompile():
    for n in (1, 10, 1000, 5000):
        x = tg.Value(0.5)
        with tg.Tape():
            y = x
            for k in range(n):
                y = tg.sin(y) * 1.5 if k % 2 else y + x
        y.backward()
    assert len(_sweeps.reverse.signatures) == 1


def run_python(code, **env):
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(JIT_DISABLED, reason="no cache with NUMBA_DISABLE_JIT=1")
def test_unwritable_cache_falls_back_without_crashing():
    result = run_python(
        """
        import tapegrad as tg
        x = tg.Value(2.0)
        y = tg.exp(x) * x
        y.backward()
        print(x.grad)
        """,
        # Only the user-provided cache location, and one nobody can create.
        NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator",
        NUMBA_CACHE_DIR="/proc/tapegrad-cannot-cache-here",
    )
    assert result.returncode == 0, result.stderr
    assert float(result.stdout) == pytest.approx(3 * 2.718281828459045**2)
    assert result.stderr.count("cannot write a kernel cache") == 1


@pytest.mark.skipif(JIT_DISABLED, reason="no compilation with NUMBA_DISABLE_JIT=1")
def test_compilation_count_is_the_same_from_a_cold_and_a_warm_cache(tmp_path):
    """The CI gate compares this count exactly, so it must not depend on
    whether numba's cache was cold (rules compiled) or warm (loaded)."""
    code = """
        import tapegrad as tg, tapegrad.jit as jit
        x = tg.Value(1.5)
        (tg.exp(x) * x + x ** 2 - 1 / x).backward()
        print(jit.compilations())
        """
    counts = [run_python(code, NUMBA_CACHE_DIR=str(tmp_path)).stdout.strip() for _ in range(2)]
    assert counts[0] == counts[1] == "1"
