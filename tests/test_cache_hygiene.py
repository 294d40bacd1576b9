"""The fused-kernel cache stays bounded (least recently used kernels
evicted), and ``python -m tapegrad cache info|clear`` show and clear
tapegrad's caches and nothing else.

Every process that touches a cache runs in a subprocess with its own
temporary ``NUMBA_CACHE_DIR`` and ``TAPEGRAD_CACHE_DIR``.
"""

import json
import os
import subprocess
import sys
import textwrap
import time

import numba
import pytest
from numba.core.caching import _CacheLocator

from tapegrad.fusion import cache

from test_cache_safety import FUSED, SCALAR, SCALAR_GRAD, ok, run

needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT,
                               reason="no numba cache with NUMBA_DISABLE_JIT=1")
DAY = 86400


def numba_dir_of(directory, dirs):
    """numba's cache directory for functions defined in ``directory``,
    under ``dirs``'s ``NUMBA_CACHE_DIR``."""
    return dirs / "nb" / _CacheLocator.get_suitable_cache_subpath(str(directory / "x.py"))


def fake_cache(dirs, n, size=1000):
    """``n`` fake kernels ``k0`` (least recently used) ... ``k<n-1>`` of
    ``size`` bytes each, ``k0`` with numba files of 500 bytes; an orphan
    numba file, a stale and a fresh temporary file, a foreign file."""
    fused = dirs / "tg" / "fused"
    fused.mkdir(parents=True)
    nb = numba_dir_of(fused, dirs)
    nb.mkdir(parents=True)
    now = time.time()
    for k in range(n):
        path = fused / f"k{k}.py"
        path.write_bytes(b"#" * size)
        os.utime(path, (now - DAY + k * 60, now - 2 * DAY))  # used k minutes apart
    for name in ("k0.fused_forward-5.py311.nbi", "k0.fused_forward-5.py311.1.nbc"):
        (nb / name).write_bytes(b"n" * 250)
    (nb / "kgone.fused_forward-5.py311.nbi").write_bytes(b"orphan")
    (fused / ".k7.123.456.abc.tmp").write_text("killed writer")
    os.utime(fused / ".k7.123.456.abc.tmp", (now - DAY, now - DAY))
    (fused / ".k8.123.456.def.tmp").write_text("being written")
    (fused / "notes.txt").write_text("not tapegrad's")
    return fused, nb


def evict(dirs, **limits):
    code = f"""
        from tapegrad.fusion import cache
        print(cache.evict(**{limits!r}))
        """
    result = run(code, dirs)
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def test_eviction_deletes_the_least_recently_used_kernels_beyond_the_size(tmp_path):
    fused, nb = fake_cache(tmp_path, 10)
    # 10,500 bytes in all (k0: 1,500 with numba's files): 5,500 keeps k5 ... k9.
    assert evict(tmp_path, limit_bytes=5500) == 5
    assert sorted(p.name for p in fused.glob("k*.py")) == [f"k{k}.py" for k in range(5, 10)]
    assert sorted(p.name for p in nb.iterdir()) == []  # k0's files and the orphan
    assert sorted(p.name for p in fused.iterdir() if not p.name.startswith("k")) == [
        ".k8.123.456.def.tmp", "notes.txt"]  # the stale temporary file went


def test_eviction_deletes_the_least_recently_used_kernels_beyond_the_count(tmp_path):
    fused, _ = fake_cache(tmp_path, 10)
    assert evict(tmp_path, limit_bytes=10**9, limit_kernels=4) == 6
    assert sorted(p.name for p in fused.glob("k*.py")) == [f"k{k}.py" for k in range(6, 10)]


def test_eviction_keeps_what_it_is_told_to(tmp_path):
    fused, _ = fake_cache(tmp_path, 3)
    assert evict(tmp_path, limit_bytes=0, keep={"k0"}) == 2
    assert [p.name for p in fused.glob("k*.py")] == ["k0.py"]


def test_the_bound_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("TAPEGRAD_CACHE_MAX_MB", "1.5")
    assert cache.max_bytes() == 1_500_000
    monkeypatch.delenv("TAPEGRAD_CACHE_MAX_MB")
    assert cache.max_bytes() == cache.MAX_MB * 1_000_000


@needs_jit
def test_a_process_writing_kernels_evicts_old_ones_once_and_keeps_its_own(tmp_path):
    fused, _ = fake_cache(tmp_path, 5)
    code = FUSED + textwrap.dedent("""
        from tapegrad.fusion import cache
        print(cache._state["evicted"], len(cache._loaded))
        """)
    result = run(code, tmp_path, TAPEGRAD_CACHE_MAX_MB="0.001")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.split() == ["right", "True", "2"]
    # The fakes went (oldest first); both new kernels stay: the first was
    # kept as the one being written, and eviction runs once per process.
    kernels = sorted(p.name for p in fused.glob("k*.py"))
    assert len(kernels) == 2 and not {"k0.py", "k4.py"} & set(kernels), kernels


@needs_jit
def test_using_a_kernel_marks_it_used_without_touching_its_mtime(tmp_path):
    ok(run(FUSED, tmp_path), "right")
    files = sorted((tmp_path / "tg" / "fused").glob("k*.py"))
    assert len(files) == 2
    before = {}
    for path in files:
        os.utime(path, ns=(10**18, path.stat().st_mtime_ns))
        before[path] = path.stat().st_mtime_ns
    result = run(FUSED, tmp_path)
    ok(result, "right")
    assert result.stderr == ""
    for path in files:
        assert path.stat().st_atime_ns > 10**18
        assert path.stat().st_mtime_ns == before[path]


def numba_files_in_the_tree():
    """numba's cache files beside tapegrad's sources (the real ones, read only)."""
    return sorted(str(p) for p in cache.PACKAGE.rglob("__pycache__/*.nb[ic]"))


def cache_command(dirs, action):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(dirs / "nb"), "TAPEGRAD_CACHE_DIR": str(dirs / "tg")}
    result = subprocess.run([sys.executable, "-m", "tapegrad", "cache", action], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


@needs_jit
def test_cache_info_and_clear(tmp_path):
    ok(run(SCALAR, tmp_path), SCALAR_GRAD)
    ok(run(FUSED, tmp_path), "right")
    fused = tmp_path / "tg" / "fused"
    foreign = [fused / "notes.txt", tmp_path / "tg" / "other.txt",
               tmp_path / "nb" / "otherpkg_0123" / "theirs.py311.nbi",
               next((tmp_path / "nb").glob("kernels_*")) / "keep.txt"]
    for path in foreign:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not tapegrad's")
    in_tree = numba_files_in_the_tree()

    info = cache_command(tmp_path, "info")
    assert f"fused kernels: {fused}\n  2 kernels, 6 files (numba's included)" in info, info
    assert "bounded at 64.0 MB (TAPEGRAD_CACHE_MAX_MB) and 2000 kernels" in info
    assert f"(NUMBA_CACHE_DIR={tmp_path / 'nb'}):" in info
    assert f"  {tmp_path / 'nb'}/kernels_" in info and f"  {tmp_path / 'nb'}/ops_" in info

    cleared = cache_command(tmp_path, "clear")
    assert cleared.startswith("deleted ")
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == sorted(str(p.relative_to(tmp_path)) for p in foreign), left
    assert numba_files_in_the_tree() == in_tree  # the real caches were not touched

    info = cache_command(tmp_path, "info")
    assert "  0 kernels, 0 files (numba's included), 0.0 MB" in info
    assert "  0 files, 0.0 MB in all" in info
    result = run(FUSED, tmp_path)
    ok(result, "right")
    assert result.stderr == ""


def test_the_benchmark_reports_the_fused_cache(tmp_path):
    fake_cache(tmp_path, 3)
    code = """
        import json
        from tapegrad.benchmark import report, results, runner
        result = runner.Result()
        runner._add_fused_cache(result)
        print(json.dumps([results.machine()["fused_cache"], report.summary(result.records)]))
        """
    result = run(code, tmp_path)
    assert result.returncode == 0, result.stderr
    machine, summary = json.loads(result.stdout)
    # 3 kernels of 1,000 bytes, k0's numba files (500), the orphan and the
    # temporary files (32): every file of the cache counts.
    assert machine == {"path": str(tmp_path / "tg" / "fused"), "kernels": 3, "bytes": 3532}
    assert "fused-kernel cache on disk: 3 kernels, 0.0 MB (python -m tapegrad cache info)" in summary
