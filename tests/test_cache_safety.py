"""Reliability of tapegrad's caches on disk (issue 14).

* numba's cache files of tapegrad's kernels (a generated sweep and a fused
  kernel), truncated or overwritten: one warning naming the file, the right
  gradient, and silence the next time;
* the fused kernels' ``.py`` files: checked against the source before use,
  their directory owner-only, refused when others can write it;
* threads meeting a new fused kernel at once;
* numba's unwritable cache: one warning saying what it costs and the fix.

Every process that touches a cache runs in a subprocess with its own
temporary ``NUMBA_CACHE_DIR`` and ``TAPEGRAD_CACHE_DIR``: the real caches
are never read or written.
"""

import os
import pickle
import random
import shutil
import stat
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

from tapegrad.fusion import cache

JIT_DISABLED = numba.config.DISABLE_JIT
needs_jit = pytest.mark.skipif(JIT_DISABLED, reason="no numba cache with NUMBA_DISABLE_JIT=1")

SCALAR = """
import tapegrad as tg
a = tg.Value(2.0)
(a * a + tg.exp(a)).backward()
print("grad", a.grad)
"""
SCALAR_GRAD = "grad %r" % (4.0 + 7.38905609893065)

# A fused group summed over an axis: replayed by the fused kernels of the
# general path (not the one-kernel schedule of a group summed, SCHEDULED).
FUSED = """
import numpy as np, tapegrad as tg
x = np.linspace(-1, 1, 5)
rec = tg.record(lambda t: (100.0 * (t[1:] - t[:-1] ** 2) ** 2 + (1.0 - t[:-1]) ** 2).sum(axis=0),
                tg.tensor(x))
value, grad = rec.value_and_grad(x)
want = np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
g = np.zeros_like(x)
g[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
g[1:] += 200 * (x[1:] - x[:-1] ** 2)
print("right" if np.isclose(value, want) and np.allclose(grad, g) else f"WRONG {value} {grad}")
"""
SCHEDULED = FUSED.replace(".sum(axis=0)", ".sum()")
# Random bytes that are no pickle (a valid one could read as another numba
# version's index, which numba itself skips): fixed, so the test is too.
GARBAGE = random.Random(14).randbytes(300)


def run(code, dirs, **env):
    """Run ``code`` in a fresh Python with the caches in ``dirs``."""
    full_env = {**os.environ, "NUMBA_CACHE_DIR": str(dirs / "nb"),
                "TAPEGRAD_CACHE_DIR": str(dirs / "tg"), **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env,
                          capture_output=True, text=True, timeout=600)


def ok(result, expected):
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected, result.stdout + result.stderr


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """Caches warmed once by the scalar program and the fused one; each
    test below corrupts a file and leaves the caches repaired."""
    if JIT_DISABLED:
        pytest.skip("no numba cache with NUMBA_DISABLE_JIT=1")
    dirs = tmp_path_factory.mktemp("warm")
    ok(run(SCALAR, dirs), SCALAR_GRAD)
    ok(run(FUSED, dirs), "right")
    ok(run(SCHEDULED, dirs), "right")
    return dirs


def numba_file(dirs, kind, suffix):
    pattern = {"sweep": "kernels_*/sweeps.reverse-*", "fused": "fused_*/k*.fused_forward-*"}[kind]
    found = sorted((dirs / "nb").glob(pattern + suffix))
    assert len(found) == 1, found
    return found[0]


CORRUPTIONS = {
    "truncated": lambda data: data[: len(data) // 3],
    "random bytes": lambda data: GARBAGE,
}


def test_the_garbage_is_no_pickle():
    with pytest.raises(Exception):
        pickle.loads(GARBAGE)


@needs_jit
@pytest.mark.parametrize("kind", ["sweep", "fused"])
@pytest.mark.parametrize("suffix", [".nbi", ".nbc"])
@pytest.mark.parametrize("corruption", ["truncated", "random bytes"])
def test_a_corrupt_numba_cache_file_is_warned_about_once_and_recompiled(
        warm, kind, suffix, corruption):
    program, expected = (SCALAR, SCALAR_GRAD) if kind == "sweep" else (FUSED, "right")
    path = numba_file(warm, kind, suffix)
    path.write_bytes(CORRUPTIONS[corruption](path.read_bytes()))

    second = run(program, warm)
    ok(second, expected)
    assert second.stderr.count("RuntimeWarning") == 1, second.stderr
    assert f"numba's kernel cache file {path} is unreadable" in second.stderr, second.stderr

    third = run(program, warm)
    ok(third, expected)
    assert third.stderr == ""
    assert path.exists()  # written again by the second process


# The fused kernels' .py files.

def fused_py(dirs, kernel="def fused_forward"):
    found = [p for p in (dirs / "tg" / "fused").glob("k*.py") if kernel in p.read_text()]
    assert len(found) == 1, found
    return found[0]


def one_token_edit(text):
    assert "add_value(" in text
    return text.replace("add_value(", "sub_value(", 1)


@needs_jit
@pytest.mark.parametrize("change", [
    one_token_edit,
    lambda text: "",
    lambda text: text[: len(text) // 2],
    lambda text: "\x00garbage(((\n",
])
def test_a_changed_fused_kernel_file_is_warned_about_once_and_rewritten(warm, change):
    path = fused_py(warm)
    original = path.read_text()
    path.write_text(change(original))

    second = run(FUSED, warm)
    ok(second, "right")
    assert second.stderr.count("RuntimeWarning") == 1, second.stderr
    assert f"the kernel cache file {path} does not hold" in second.stderr, second.stderr
    assert path.read_text() == original

    third = run(FUSED, warm)
    ok(third, "right")
    assert third.stderr == ""


@needs_jit
@pytest.mark.parametrize("program, kernel", [(FUSED, "def fused_forward"),
                                             (SCHEDULED, "def whole_value_and_grad")],
                         ids=["fused", "scheduled"])
def test_code_planted_in_a_fused_kernel_file_never_runs(warm, tmp_path, program, kernel):
    path = fused_py(warm, kernel)
    original = path.read_text()
    marker = tmp_path / "planted-code-ran"
    path.write_text(f"open({str(marker)!r}, 'w').close()\n" + original)

    result = run(program, warm)
    ok(result, "right")
    assert not marker.exists()
    assert path.read_text() == original


def test_the_cache_directories_are_created_owner_only(warm):
    for directory in (warm / "tg", warm / "tg" / "fused"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def refused(warm, tmp_path):
    """Run the fused program with its kernel directory in ``tmp_path``
    (numba's cache of tapegrad's kernels the warm one)."""
    result = run(FUSED, tmp_path, NUMBA_CACHE_DIR=str(warm / "nb"))
    ok(result, "right")
    assert result.stderr.count("RuntimeWarning") == 1, result.stderr
    fused = tmp_path / "tg" / "fused"
    assert not fused.exists() or list(fused.iterdir()) == []  # compiled in memory
    return " ".join(result.stderr.split())


def test_a_directory_others_can_write_is_refused_with_one_warning(warm, tmp_path):
    fused = tmp_path / "tg" / "fused"
    fused.mkdir(parents=True)
    fused.chmod(0o777)
    message = refused(warm, tmp_path)
    assert f"not using the kernel cache directory: {fused} is writable by other users" in message


def test_a_parent_others_can_write_is_refused_too(warm, tmp_path):
    (tmp_path / "tg").mkdir()
    (tmp_path / "tg").chmod(0o777)
    message = refused(warm, tmp_path)
    assert f"{tmp_path / 'tg'} is writable by other users" in message


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="only root can give a directory to another user")
def test_a_directory_another_user_owns_is_refused_with_one_warning(warm, tmp_path):
    fused = tmp_path / "tg" / "fused"
    fused.mkdir(parents=True, mode=0o700)
    os.chown(fused, 65534, 65534)
    assert "is owned by uid 65534, not by this user" in refused(warm, tmp_path)


def test_unsafe_names_what_is_wrong_with_a_directory(tmp_path):
    me = os.geteuid()
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    assert cache.unsafe(mine) is None
    assert "owned by uid" in cache.unsafe(mine, uid=me + 1)
    mine.chmod(0o770)
    assert "writable by other users (mode 0o770)" in cache.unsafe(mine)
    mine.chmod(0o1777)  # /tmp-like: fine as the parent, never as the directory itself
    assert cache.unsafe(mine, parent=True) is None
    assert "writable by other users" in cache.unsafe(mine)
    file = tmp_path / "file"
    file.write_text("")
    assert "is not a directory" in cache.unsafe(file)


# Threads.

THREADS = """
import sys, threading
sys.setswitchinterval(1e-6)
import tapegrad.fusion.cache as cache
calls = []
load = cache._load
cache._load = lambda source, name, imports: calls.append(source) or load(source, name, imports)
body = "\\n".join(f"    y = y * 1.0000001 + {{k}}.0" for k in range({lines}))
failures = []
for r in range({rounds}):
    src = f"def fused_forward(x):\\n    y = x\\n{{body}}\\n    return y + {{r}}.0\\n"
    barrier = threading.Barrier({threads})
    got = []
    def work():
        barrier.wait()
        try:
            got.append(cache.load(src, "fused_forward"))
        except Exception as e:
            failures.append(f"round {{r}}: {{type(e).__name__}}: {{e}}")
    ths = [threading.Thread(target=work) for _ in range({threads})]
    [t.start() for t in ths]; [t.join() for t in ths]
    assert len(set(map(id, got))) <= 1, "two functions for one source"
print(failures[:2] or "no failure", len(calls))
"""


def threads_meet_new_kernels(tmp_path, rounds, threads=8, lines=2000):
    result = run(THREADS.format(rounds=rounds, threads=threads, lines=lines), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["no", "failure", str(rounds)], result.stdout + result.stderr
    leftovers = [p.name for p in (tmp_path / "tg" / "fused").iterdir() if p.suffix == ".tmp"]
    assert leftovers == []


@needs_jit
def test_threads_meeting_a_new_fused_kernel_load_it_once(tmp_path):
    threads_meet_new_kernels(tmp_path, rounds=10)


@needs_jit
@pytest.mark.soak
def test_threads_meeting_new_fused_kernels_soak(tmp_path):
    """The repro's length: 200 new kernels of 20,000 lines, 8 threads each."""
    threads_meet_new_kernels(tmp_path, rounds=200, lines=20000)


WRITERS = """
import threading, pathlib, sys
sys.setswitchinterval(1e-6)
from tapegrad.fusion import cache
path = pathlib.Path(sys.argv[1]) / "kshared.py"
content = b"x = 1\\n" * 200000
barrier = threading.Barrier(8)
def work():
    barrier.wait()
    for _ in range(20):
        cache._write(path, content)
        assert path.read_bytes() == content
ths = [threading.Thread(target=work) for _ in range(8)]
[t.start() for t in ths]; [t.join() for t in ths]
print("ok")
"""


def test_concurrent_writes_of_one_file_never_expose_a_partial_one(tmp_path):
    """Threads of two processes writing the same kernel file: each write
    has a temporary file of its own, renamed atomically."""
    target = tmp_path / "tg" / "fused"
    target.mkdir(parents=True)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "nb"),
           "TAPEGRAD_CACHE_DIR": str(tmp_path / "tg")}
    procs = [subprocess.Popen([sys.executable, "-c", WRITERS, str(target)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and out.strip() == "ok", err
    assert sorted(p.name for p in target.iterdir()) == ["kshared.py"]


# numba's cache unwritable.

@needs_jit
def test_an_unwritable_numba_cache_is_one_warning_with_its_cost_and_fix(tmp_path):
    result = run(SCALAR, tmp_path,
                 NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator",
                 NUMBA_CACHE_DIR="/proc/tapegrad-cannot-cache-here")
    ok(result, SCALAR_GRAD)
    assert result.stderr.count("RuntimeWarning") == 1, result.stderr
    message = " ".join(result.stderr.split())
    assert "numba cannot write a kernel cache for" in message
    assert "NUMBA_CACHE_DIR is /proc/tapegrad-cannot-cache-here" in message
    assert "compiled again in every process, about 10 s each" in message
    assert "set NUMBA_CACHE_DIR to a writable directory" in message



EDITED = """
import numpy as np, tapegrad as tg
a = tg.Value(0.5)
tg.exp(a).backward()
rec = tg.record(lambda x: tg.exp(x[0]), np.array([0.5]))
print("grad", round(a.grad, 12), round(float(rec.grad(np.array([0.5]))[0]), 12))
"""


@needs_jit
def test_an_edited_rule_is_never_served_from_a_warm_cache(tmp_path):
    # numba judges a cached kernel by the file defining it alone: the
    # generated sweeps and the replay passes compile the rules in, so an
    # edited rule was served stale until every cached entry carried a hash
    # of every source numba compiles from (jit.package_stamp).
    package = tmp_path / "copy" / "tapegrad"
    shutil.copytree(cache.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))

    def run_copy():
        env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "nb"),
               "TAPEGRAD_CACHE_DIR": str(tmp_path / "tg")}
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(EDITED)], env=env,
                              cwd=package.parent, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    e = round(float(np.exp(0.5)), 12)
    assert run_copy() == f"grad {e} {e}"  # warms the caches
    rules = package / "ops" / "elementary.py"
    text = rules.read_text()
    start = text.index("class exp:")
    edited = text[start:].replace("def d_x(x, out):\n        return out",
                                  "def d_x(x, out):\n        return 2.0 * out", 1)
    assert edited != text[start:]
    rules.write_text(text[:start] + edited)
    assert run_copy() == f"grad {2 * e} {2 * e}"
