"""NumPy's real ufuncs with a derivative (tapegrad/ops/trigonometric.py and
exponential.py): every spelling (Value method, module function, Dual,
Tensor in float64 and float32, compiled and recorded) gives ``np.<name>``,
inf and nan included, gradients agree with central differences, a fused
program with them agrees with eager code, and with PyTorch where it is
installed."""

import math

import numpy as np
import pytest
from conftest import FD_ATOL, FD_RTOL, assert_close, central_difference

import tapegrad as tg
from tapegrad.ops import OPS

UNARY = ["tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh",
         "expm1", "log1p", "exp2", "log2", "log10", "reciprocal", "cbrt", "sign"]
BINARY = ["arctan2", "hypot", "logaddexp", "logaddexp2"]
INF, NAN = math.inf, math.nan
#: Interior points, domain edges, zeros of both signs, huge and tiny values.
POINTS = [-INF, -1e300, -1000.0, -8.0, -2.0, -1.0, -0.999, -0.5, -1e-300, -0.0, 0.0, 1e-300,
          0.3, 0.5, 0.999, 1.0, 1.25, 2.0, 8.0, 100.0, 1000.0, 1e300, INF, NAN]
PAIRS = [(x, y) for x in [-INF, -1000.0, -2.0, -0.0, 0.0, 0.5, 3.0, 1000.0, INF, NAN]
         for y in [-INF, -1.0, -0.0, 0.0, 1.0, 4.0, 1000.0, INF, NAN]]


def same(got, expected, dtype=np.float64, ulps=4):
    """Equal where either is not finite or zero (sign of zero included),
    else within a few units in the last place of ``dtype``."""
    got = np.asarray(got, dtype=np.float64).ravel()
    expected = np.asarray(expected, dtype=np.float64).ravel()
    for g, e in zip(got, expected):
        if not np.isfinite(e) or e == 0.0 or not np.isfinite(g):
            np.testing.assert_equal(g, e)
        else:
            tol = ulps * float(np.spacing(dtype(abs(e))))
            assert abs(g - e) <= tol, (g, e, (g - e) / tol * ulps)


def numpy(name, *args, dtype=np.float64):
    with np.errstate(all="ignore"):
        return getattr(np, name)(*(np.asarray(a, dtype=dtype) for a in args))


@pytest.mark.parametrize("name", UNARY)
def test_unary_spellings_equal_numpy(name):
    expected = numpy(name, POINTS)
    rule = OPS[name].value
    scalar = [rule(x) for x in POINTS]
    same(scalar, expected)
    assert [getattr(tg, name)(x) for x in POINTS] == pytest.approx(scalar, nan_ok=True)
    for spelled in ([getattr(tg.Value(x), name)().value for x in POINTS],
                    [getattr(tg, name)(tg.Value(x)).value for x in POINTS],
                    [getattr(tg, name)(tg.Dual(x, 1.0)).value for x in POINTS]):
        np.testing.assert_equal(spelled, scalar)  # the same rule: bit for bit
    for dtype in (np.float64, np.float32):
        with np.errstate(over="ignore"):  # 1e300 is inf in float32
            points = np.asarray(POINTS, dtype=dtype)
        got = getattr(tg.tensor(points), name)().value
        assert got.dtype == dtype
        same(got, numpy(name, points, dtype=dtype), dtype)
        same(getattr(tg, name)(points).value, got, dtype, ulps=0)


@pytest.mark.parametrize("name", BINARY)
def test_binary_spellings_equal_numpy(name):
    xs, ys = np.array(PAIRS).T
    expected = numpy(name, xs, ys)
    rule, function = OPS[name].value, getattr(tg, name)
    scalar = [rule(x, y) for x, y in PAIRS]
    same(scalar, expected, ulps=2)
    for spelled in ([function(x, y) for x, y in PAIRS],
                    [function(tg.Value(x), y).value for x, y in PAIRS],
                    [function(x, tg.Value(y)).value for x, y in PAIRS],
                    [function(tg.Value(x), tg.Value(y)).value for x, y in PAIRS],
                    [function(tg.Dual(x, 1.0), y).value for x, y in PAIRS],
                    [function(x, tg.Dual(y, 1.0)).value for x, y in PAIRS]):
        np.testing.assert_equal(spelled, scalar)
    for dtype in (np.float64, np.float32):
        x, y = xs.astype(dtype), ys.astype(dtype)
        for got in (function(tg.tensor(x), y), function(x, tg.tensor(y)), function(x, y)):
            assert got.value.dtype == dtype
            same(got.value, numpy(name, x, y, dtype=dtype), dtype)


def test_binary_functions_mix_scalars_and_arrays():
    v = tg.Value(0.5)
    t = tg.arctan2(v, np.array([1.0, -1.0]))
    assert isinstance(t, tg.Tensor)
    same(t.value, np.arctan2(0.5, [1.0, -1.0]))
    same(tg.hypot(np.array([3.0]), tg.Value(4.0)).value, [5.0])
    with pytest.raises(TypeError, match=r"tapegrad.hypot\(\) takes .* not str"):
        tg.hypot("3", 4.0)
    with pytest.raises(TypeError, match="a Value and a Dual"):
        tg.logaddexp(tg.Value(1.0), tg.Dual(1.0, 1.0))


def _interior(name, rng, count=5):
    op = OPS[name]
    points = [tuple(rng.uniform(lo, hi) for lo, hi in op.domain) for _ in range(count)]
    if name in ("cbrt", "reciprocal"):  # smooth on the negative side too
        points += [(-x,) for (x,) in points]
    return points


@pytest.mark.parametrize("name", UNARY + BINARY)
def test_gradients_match_central_differences(name, rng):
    op = OPS[name]
    function = getattr(tg, name)
    for xs in _interior(name, rng):
        fd = [central_difference(op.value, xs, k) for k in range(op.arity)]
        values = [tg.Value(x) for x in xs]
        function(*values).backward()
        assert_close([v.grad for v in values], fd, FD_RTOL, FD_ATOL, f"{name} at {xs}")
        for k in range(op.arity):  # forward mode, one argument at a time
            duals = [tg.Dual(x, 1.0 if j == k else 0.0) for j, x in enumerate(xs)]
            assert_close(function(*duals).tangent, fd[k], FD_RTOL, FD_ATOL, f"{name} d{k}")
        arrays = [tg.tensor(np.array([x, x]), requires_grad=True) for x in xs]
        function(*arrays).sum().backward()
        assert_close([a.grad[0] for a in arrays], fd, FD_RTOL, FD_ATOL, f"{name} tensor")


def test_sign_has_zero_slope_everywhere():
    for x in (-2.0, -0.0, 0.0, 3.0):
        v = tg.Value(x)
        tg.sign(v).backward()
        assert v.grad == 0.0
    assert tg.sign(tg.Dual(0.0, 1.0)).tangent == 0.0


def program(t):
    """Several of the new ops in one elementwise chain, and reductions."""
    a = tg.logaddexp(t.sin().arctan(), t.cosh().log1p())
    b = tg.hypot(t.expm1(), 0.5).log2() + tg.arctan2(t, 2.0 + t.exp2())
    c = (t * 0.3).arcsinh().tan() * t.cbrt() + (t * t + 1.5).arccosh().reciprocal()
    return (a * b - tg.logaddexp2(c, t).sinh() + (t * 0.4).arctanh().log10().sign()).sum()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_recorded_and_fused_program_equals_eager(dtype, rng):
    x0 = rng.uniform(0.2, 1.5, 7).astype(dtype)
    x = rng.uniform(0.2, 1.5, 7).astype(dtype)
    fused = tg.record(program, tg.tensor(x0))
    assert fused.fusion is not None and fused.fusion.groups
    unfused = tg.record(program, tg.tensor(x0), fuse=False)
    t = tg.tensor(x, requires_grad=True)
    loss = program(t)
    loss.backward()
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    for rec in (fused, unfused):
        value, grad = rec.value_and_grad(x)
        assert_close(value, loss.value, rtol, 1e-300, "value")
        assert_close(grad, t.grad, rtol, 1e-12 if dtype == np.float64 else 1e-5, "gradient")
    if dtype == np.float64:
        fd = [(program(tg.tensor(x + e)).value - program(tg.tensor(x - e)).value) / 2e-6
              for e in np.eye(len(x)) * 1e-6]
        assert_close(t.grad, fd, FD_RTOL, FD_ATOL, "gradient against differences")


TORCH = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh",
         "arccosh": "acosh", "arctanh": "atanh", "arctan2": "atan2"}


@pytest.mark.parametrize("name", [n for n in UNARY + BINARY if n != "cbrt"])
def test_values_and_gradients_match_pytorch(name, rng):
    torch = pytest.importorskip("torch")
    op = OPS[name]
    points = np.array(_interior(name, rng)).T
    edges = [p for p in (PAIRS if op.arity == 2 else [(x,) for x in POINTS])]
    if name == "sign":  # torch.sign(nan) is 0; NumPy's (and ours) is nan
        edges = [p for p in edges if not math.isnan(p[0])]
    edges = np.array(edges).T
    torch_fn = getattr(torch, TORCH.get(name, name))
    with torch.no_grad():
        expected = torch_fn(*(torch.tensor(e) for e in edges)).numpy()
    same(getattr(tg, name)(*edges).value, expected, ulps=4)
    leaves = [torch.tensor(p, requires_grad=True) for p in points]
    torch_fn(*leaves).sum().backward()
    arrays = [tg.tensor(p, requires_grad=True) for p in points]
    getattr(tg, name)(*arrays).sum().backward()
    for a, leaf in zip(arrays, leaves):
        assert_close(a.grad, leaf.grad.numpy(), 1e-12, 1e-14, name)
