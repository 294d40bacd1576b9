"""The fuzz lane: random programs with a fixed seed, checked against
themselves in every way a recording can be used.

Scalar programs (with Python branches on traced values):
* a replay equals a fresh recording at the new point, bitwise, when every
  branch comes out the same; when one does not, the replay raises
  BranchChanged (and ``retrace=True`` equals the fresh recording);
* the Hessian-vector product equals central differences of the gradient;
* calls from four threads at once equal serial ones, bitwise.

Array programs (matmul, reductions, ``where``, transposes, slices):
* the fused replay equals the unfused one, and both a fresh recording;
* the gradient and the Hessian-vector product equal central differences.

``make test-slow`` (CI) runs a few hundred programs; ``make fuzz`` runs
``TAPEGRAD_FUZZ_PROGRAMS`` of each kind (10,000 by default).
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import tapegrad as tg
from conftest import FD_ATOL, FD_RTOL, FD_STEP, assert_close
from test_fusion import _random_program as random_array_program
from test_programs import random_program, step

pytestmark = pytest.mark.fuzz

N = int(os.environ.get("TAPEGRAD_FUZZ_PROGRAMS", "0"))
SCALAR = N or 300
ARRAY = N or 40
FUSED = min(ARRAY, 40)  # each fused program compiles new kernels once per machine


def scalar_function(program, cut):
    """``program`` (see test_programs) with a branch after every fifth step:
    ``v[i] > v[j]`` on traced values picks one of two continuations."""
    def f(x):
        v = list(x)
        for k, (kind, (i, j), c) in enumerate(program):
            v.append(step(kind, v[i], v[j], c, tg))
            if k % 5 == 4:
                a, b = v[-1], v[-2]
                v.append(a * c + b if a > b + cut else tg.sin(b) - a)
        return sum(v[-5:])
    return f


def _guards(f, x):
    """The outcomes of ``f``'s branches at ``x``, in order."""
    rec = tg.record(f, x)
    tape = rec.tape
    branch = tg.OPS["branch"].code
    return tape.val[tape.op == branch].tolist()


@pytest.mark.parametrize("chunk", range(10))
def test_scalar_replays_equal_fresh_recordings_or_raise(chunk):
    for seed in range(chunk, SCALAR, 10):
        rng = np.random.default_rng(seed)
        program = random_program(rng, n_inputs=4, length=20)
        f = scalar_function(program, cut=float(rng.uniform(-0.5, 0.5)))
        x, y = rng.uniform(-1.5, 1.5, 4), rng.uniform(-1.5, 1.5, 4)
        rec = tg.record(f, x)
        fresh = tg.record(f, y).value_and_grad(y)
        same = _guards(f, x) == _guards(f, y)
        if same:
            value, grad = rec.value_and_grad(y)
            assert value == fresh[0] and np.array_equal(grad, fresh[1]), f"seed {seed}"
        else:
            with pytest.raises(tg.BranchChanged):
                rec.value_and_grad(y)
        retraced = tg.record(f, x, retrace=True).value_and_grad(y)
        assert retraced[0] == fresh[0] and np.array_equal(retraced[1], fresh[1]), f"seed {seed}"


def _differences(fn, x, v):
    """Central differences of ``fn`` at ``x`` along ``v``, with steps h and
    2h, and where the two agree: only there is the step small enough and the
    rounding of ``fn`` small enough to judge a derivative by (random
    programs reach 1e20 and curvatures FD cannot follow at any step)."""
    h = FD_STEP
    up, down = np.asarray(fn(x + h * v)), np.asarray(fn(x - h * v))
    d1 = (up - down) / (2 * h)
    d2 = (np.asarray(fn(x + 2 * h * v)) - np.asarray(fn(x - 2 * h * v))) / (4 * h)
    tolerance = FD_RTOL * np.abs(d1) + FD_ATOL
    rounding = 10 * np.finfo(float).eps * (np.abs(up) + np.abs(down)) / (2 * h)
    return d1, (np.abs(d1 - d2) <= tolerance) & (rounding <= tolerance)


class Judged:
    """Counts what differences could judge.  A program whose value or
    gradient exceeds ``LARGE`` is left out (a step of 1e-6 cannot resolve
    its derivatives to 1e-5), and so are entries where two steps disagree;
    both must stay rare, or the check would be empty."""

    LARGE = 1e6

    def __init__(self):
        self.judged = self.unjudged = self.programs = self.large = 0

    def conditioned(self, value, grad):
        self.programs += 1
        small = abs(value) < self.LARGE and bool(np.all(np.abs(grad) < self.LARGE))
        self.large += not small
        return small

    def check(self, ad, fd, trusted, what):
        ad, fd, trusted = np.atleast_1d(ad), np.atleast_1d(fd), np.atleast_1d(trusted)
        self.judged += int(trusted.sum())
        self.unjudged += int((~trusted).sum())
        assert_close(ad[trusted], fd[trusted], FD_RTOL * 10, FD_ATOL * 10, what)

    def assert_mostly_judged(self):
        assert self.large <= 0.02 * self.programs + 1, vars(self)
        assert self.unjudged <= 0.02 * (self.judged + self.unjudged) + 2, vars(self)


@pytest.mark.parametrize("chunk", range(10))
def test_scalar_hvp_equals_differences_of_the_gradient(chunk):
    judged = Judged()
    for seed in range(chunk, SCALAR, 10):
        rng = np.random.default_rng(10_000 + seed)
        program = random_program(rng, n_inputs=4, length=20)
        f = scalar_function(program, cut=0.0)
        x, v = rng.uniform(-1.5, 1.5, 4), rng.standard_normal(4)
        rec = tg.record(f, x, retrace=True)
        if not judged.conditioned(*rec.value_and_grad(x)):
            continue
        hv = rec.hvp(x, v)
        fd, trusted = _differences(rec.grad, x, v)
        if rec.retraces:  # a branch within 2 FD_STEP of its switch: no derivative to compare
            continue
        judged.check(hv, fd, trusted, f"seed {seed}")
    judged.assert_mostly_judged()


@pytest.mark.parametrize("chunk", range(4))
def test_array_replays_fused_unfused_and_fresh_agree(chunk):
    for seed in range(chunk, ARRAY, 4):
        rng = np.random.default_rng(20_000 + seed)
        f = random_array_program(seed, 10)
        x0 = rng.uniform(-1.0, 1.0, (4, 5))
        x = x0 + 0.3 * rng.standard_normal(x0.shape)
        unfused = tg.record(f, tg.tensor(x0), fuse=False)
        fresh = tg.record(f, tg.tensor(x), fuse=False).value_and_grad(x)
        value, grad = unfused.value_and_grad(x)
        assert_close(value, fresh[0], 1e-12, 0.0, f"seed {seed}: replay vs fresh")
        assert_close(grad, fresh[1], 1e-12, 1e-12, f"seed {seed}: replay vs fresh")
        if seed < FUSED:
            fused = tg.record(f, tg.tensor(x0))
            fv, fg = fused.value_and_grad(x)
            assert_close(fv, value, 1e-11, 0.0, f"seed {seed}: fused vs unfused")
            assert_close(fg, grad, 1e-11, 1e-11, f"seed {seed}: fused vs unfused")


@pytest.mark.parametrize("chunk", range(4))
def test_array_gradient_and_hvp_equal_differences(chunk):
    judged = Judged()
    for seed in range(chunk, ARRAY, 4):
        rng = np.random.default_rng(30_000 + seed)
        f = random_array_program(seed, 8)
        x = rng.uniform(-1.0, 1.0, (4, 5))
        v = rng.standard_normal(x.shape)
        rec = tg.record(f, tg.tensor(x), fuse=False)
        if not judged.conditioned(*rec.value_and_grad(x)):
            continue
        fd, trusted = np.zeros_like(x), np.zeros(x.shape, bool)
        for k in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[k] = 1.0
            fd[k], trusted[k] = _differences(rec, x, e)
        judged.check(rec.grad(x), fd, trusted, f"seed {seed}: gradient")
        fd, trusted = _differences(rec.grad, x, v)
        judged.check(rec.hvp(x, v), fd, trusted, f"seed {seed}: hvp")
    judged.assert_mostly_judged()


@pytest.mark.parametrize("kind", ["scalar", "array"])
def test_concurrent_calls_of_one_recording_equal_serial_ones(kind):
    count = max(SCALAR // 10, 8) if kind == "scalar" else max(ARRAY // 4, 4)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for seed in range(count):
            rng = np.random.default_rng(40_000 + seed)
            if kind == "scalar":
                f = scalar_function(random_program(rng, n_inputs=4, length=20), cut=0.0)
                x0 = rng.uniform(-1.5, 1.5, 4)
                points = [rng.uniform(-1.5, 1.5, 4) for _ in range(8)]
                rec = tg.record(f, x0, retrace=True)
            else:
                f = random_array_program(seed, 8)
                x0 = rng.uniform(-1.0, 1.0, (4, 5))
                points = [x0 + 0.3 * rng.standard_normal(x0.shape) for _ in range(8)]
                fuse = seed < FUSED // 4  # new fused programs compile: a few
                rec = tg.record(f, tg.tensor(x0), fuse=fuse)
            serial = [tg.record(f, p).value_and_grad(p) if kind == "scalar" else
                      tg.record(f, tg.tensor(p), fuse=fuse).value_and_grad(p) for p in points]
            with ThreadPoolExecutor(4) as pool:
                got = list(pool.map(rec.value_and_grad, points * 4))
            for k, (value, grad) in enumerate(got):
                want = serial[k % len(points)]
                assert value == want[0] and np.array_equal(grad, want[1]), f"seed {seed}"
    finally:
        sys.setswitchinterval(interval)
