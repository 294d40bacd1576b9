"""NumPy's real ufuncs of the op table (tapegrad/ops/trigonometric.py,
exponential.py, rounding.py and special.py): every spelling (Value method,
module function, Dual, Tensor in float64 and float32, compiled and recorded,
``np.<name>`` itself, ``%``) gives ``np.<name>``, inf and nan included,
gradients agree with central differences (and ``check_numpy``), a fused
program with them agrees with eager code, and with PyTorch where it is
installed."""

import math

import numpy as np
import pytest
from conftest import FD_ATOL, FD_RTOL, assert_close, central_difference, requires_torch
from numpy_checks import check_numpy

import tapegrad as tg
from tapegrad.ops import OPS

UNARY = ["tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh",
         "expm1", "log1p", "exp2", "log2", "log10", "reciprocal", "cbrt", "sign",
         "sinc", "floor", "ceil", "trunc", "rint"]
BINARY = ["arctan2", "hypot", "logaddexp", "logaddexp2",
          "remainder", "fmod", "copysign", "fmax", "fmin", "heaviside"]
#: NumPy's own fmax and fmin give either zero at a tie of 0.0 and -0.0 (its
#: vector loop the second, its scalar loop the first): no sign compared there.
TIES_EITHER_ZERO = ("fmax", "fmin")
INF, NAN = math.inf, math.nan
#: Interior points, domain edges, zeros of both signs, huge and tiny values.
POINTS = [-INF, -1e300, -1000.0, -8.0, -2.0, -1.0, -0.999, -0.5, -1e-300, -0.0, 0.0, 1e-300,
          0.3, 0.5, 0.999, 1.0, 1.25, 2.0, 8.0, 100.0, 1000.0, 1e300, INF, NAN]
PAIRS = [(x, y) for x in [-INF, -1000.0, -2.0, -0.0, 0.0, 0.5, 3.0, 1000.0, INF, NAN]
         for y in [-INF, -1.0, -0.0, 0.0, 1.0, 4.0, 1000.0, INF, NAN]]


def same(got, expected, dtype=np.float64, ulps=4, signed_zeros=True):
    """Equal where either is not finite or zero (sign of zero included unless
    not ``signed_zeros``), else within a few units in the last place of ``dtype``."""
    got = np.asarray(got, dtype=np.float64).ravel()
    expected = np.asarray(expected, dtype=np.float64).ravel()
    for g, e in zip(got, expected):
        if e == 0.0 and g == 0.0 and not signed_zeros:
            continue
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
    signed_zeros = name not in TIES_EITHER_ZERO
    same(scalar, expected, ulps=2, signed_zeros=signed_zeros)
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
            same(got.value, numpy(name, x, y, dtype=dtype), dtype, signed_zeros=signed_zeros)


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


STEPS = ["sign", "floor", "ceil", "trunc", "rint", "heaviside"]


@pytest.mark.parametrize("name", STEPS)
def test_steps_have_zero_slope_everywhere_and_replay(name):
    """Slope 0 in every mode, at the jumps too; a replay recomputes the step."""
    h0 = (0.5,) if name == "heaviside" else ()
    function = getattr(tg, name)

    def step(x):  # NumPy's own ufunc on Values, Tensors and arrays
        return getattr(np, name)(x, *h0)

    for x in (-2.0, -1.5, -0.5, -0.0, 0.0, 0.5, 2.5, 3.0):
        v = tg.Value(x)
        step(v).backward()
        assert v.grad == 0.0
        assert function(tg.Dual(x, 1.0), *h0).tangent == 0.0
    x0 = np.array([-1.5, -0.25, 0.0, 0.5, 1.7])
    rec = tg.record(lambda t: (step(t) * t).sum(), tg.tensor(x0))
    x1 = x0 + 1.0
    np.testing.assert_array_equal(rec.grad(x1), step(x1))  # d/dt of step(t) * t
    direction = np.linspace(-1.0, 1.0, 5)
    assert rec.jvp(x1, direction)[1] == pytest.approx(step(x1) @ direction)
    np.testing.assert_array_equal(rec.hvp(x1, direction), np.zeros(5))
    assert rec(x1) == pytest.approx(float(np.sum(step(x1) * x1)))


def program(t):
    """Several of the new ops in one elementwise chain, and reductions."""
    a = tg.logaddexp(t.sin().arctan(), t.cosh().log1p())
    b = tg.hypot(t.expm1(), 0.5).log2() + tg.arctan2(t, 2.0 + t.exp2())
    c = (t * 0.3).arcsinh().tan() * t.cbrt() + (t * t + 1.5).arccosh().reciprocal()
    return (a * b - tg.logaddexp2(c, t).sinh() + (t * 0.4).arctanh().log10().sign()).sum()


def rounding_program(t):
    """The rounding, remainder and special ops in one elementwise chain."""
    a = tg.sinc(t * 0.7) * (t % 0.3) + tg.fmod(t * -3.0, 0.7 + t) + (2.0 % t) * 0.5
    b = tg.copysign(t.sin(), t - 0.8) * tg.fmax(t, 1.2 - t) - tg.fmin(t.cos(), 0.5 * t)
    c = (t * 4.0).floor() + (t * 4.0).ceil() * 0.5 + (t * 3.0).trunc() - (t * 5.0).rint()
    return (a * b + c * t + tg.heaviside(t - 0.9, 0.25) * t.exp()).sum()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("program", [program, rounding_program])
def test_recorded_and_fused_program_equals_eager(program, dtype, rng):
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
         "arccosh": "acosh", "arctanh": "atanh", "arctan2": "atan2", "rint": "round"}
#: torch.remainder's zero has the dividend's sign, NumPy's the divisor's.
TORCH_ZEROS_DIFFER = ("remainder", *TIES_EITHER_ZERO)


@pytest.mark.parametrize("name", [n for n in UNARY + BINARY if n != "cbrt"])
def test_values_and_gradients_match_pytorch(name, rng):
    torch = pytest.importorskip("torch")
    op = OPS[name]
    points = np.array(_interior(name, rng)).T
    edges = [p for p in (PAIRS if op.arity == 2 else [(x,) for x in POINTS])]
    if name in ("sign", "heaviside"):  # torch's is 0 at nan; NumPy's (and ours) is nan
        edges = [p for p in edges if not math.isnan(p[0])]
    edges = np.array(edges).T
    torch_fn = getattr(torch, TORCH.get(name, name))
    with torch.no_grad():
        expected = torch_fn(*(torch.tensor(e) for e in edges)).numpy()
    same(getattr(tg, name)(*edges).value, expected, ulps=4,
         signed_zeros=name not in TORCH_ZEROS_DIFFER)
    if name == "heaviside":  # torch has no derivative for it
        return
    leaves = [torch.tensor(p, requires_grad=True) for p in points]
    torch_fn(*leaves).sum().backward()
    arrays = [tg.tensor(p, requires_grad=True) for p in points]
    getattr(tg, name)(*arrays).sum().backward()
    for a, leaf in zip(arrays, leaves):
        assert_close(a.grad, leaf.grad.numpy(), 1e-12, 1e-14, name)


# --- the rounding, remainder and special rows ---------------------------

NEW = ["sinc", "floor", "ceil", "trunc", "rint",
       "remainder", "fmod", "copysign", "fmax", "fmin", "heaviside"]


@pytest.mark.parametrize("name", NEW)
def test_numpy_calls_give_tensors_and_values(name):
    """np.<name> of a Tensor (on either side, beside an ndarray) is a Tensor,
    of a Value a Value: never an object array."""
    function = getattr(np, name)
    x, y = np.array([-2.5, 0.75, 3.0]), np.array([1.5, -0.5, 2.0])
    args = (x, y) if OPS[name].arity == 2 else (x,)
    expected = function(*args)
    for k in range(len(args)):
        traced = list(args)
        traced[k] = tg.tensor(args[k], requires_grad=True)
        got = function(*traced)
        assert type(got) is tg.Tensor
        np.testing.assert_array_equal(got.value, expected)
        got = function(*[tg.Value(a[1]) if j == k else a[1] for j, a in enumerate(args)])
        assert type(got) is tg.Value and got.value == expected[1]


def test_mod_is_remainder_and_percent_records_it_both_ways():
    assert np.mod is np.remainder
    for x, y in [(-7.0, 2.0), (7.0, -2.0), (-7.5, -2.0), (5.5, 2.0), (-0.0, 3.0), (4.0, -2.0)]:
        v, w = tg.Value(x), tg.Value(y)
        out = v % w
        out.backward()
        assert out.value == x % y == np.remainder(x, y)
        assert math.copysign(1.0, out.value) == math.copysign(1.0, np.remainder(x, y))
        assert (v.grad, w.grad) == (1.0, -(x // y))
        assert (v % y).value == (x % tg.Value(y)).value == x % y
        np.testing.assert_equal((7 % v).value, numpy("remainder", 7.0, x))  # nan at 0
        assert tg.remainder(tg.Dual(x, 1.0), tg.Dual(y, 0.0)).tangent == 1.0
        assert (tg.Dual(x, 0.0) % tg.Dual(y, 1.0)).tangent == -(x // y)
    xs = np.array([-7.0, 7.0, -7.5, 5.5, 0.0, 4.0])
    ys = np.array([2.0, -2.0, -2.0, 2.0, -3.0, -2.0])
    for dtype in (np.float64, np.float32):
        x, y = xs.astype(dtype), ys.astype(dtype)
        t, u = tg.tensor(x, requires_grad=True), tg.tensor(y, requires_grad=True)
        for got in (t % u, t % y, x % u, np.mod(t, y), np.remainder(x, u)):
            assert type(got) is tg.Tensor and got.value.dtype == dtype
            same(got.value, x % y, dtype, ulps=0)
        same((1.5 % t).value, numpy("remainder", 1.5, x, dtype=dtype), dtype, ulps=0)
        same((t % 1.5).value, x % 1.5, dtype, ulps=0)
        (t % u).sum().backward()
        np.testing.assert_array_equal(t.grad, np.ones(6))
        np.testing.assert_array_equal(u.grad, -np.floor_divide(x, y))


def test_remainder_and_fmod_follow_numpy_with_negative_operands():
    x = np.array([-7.5, -7.5, 7.5, 7.5, -6.0, 6.0, -0.0, 0.0, 1e300, -3.0, 3.0])
    y = np.array([2.0, -2.0, 2.0, -2.0, 3.0, -3.0, 2.0, -2.0, 7.0, math.inf, -math.inf])
    for dtype in (np.float64, np.float32):
        with np.errstate(over="ignore"):
            a, b = x.astype(dtype), y.astype(dtype)
        for name in ("remainder", "fmod"):
            same(getattr(tg, name)(tg.tensor(a), b).value, numpy(name, a, b, dtype=dtype),
                 dtype, ulps=0)
            same([OPS[name].value(p, q) for p, q in zip(a, b)], numpy(name, a, b), ulps=0)
    assert [math.fmod(p, q) for p, q in zip(x, y)] == [tg.fmod(p, q) for p, q in zip(x, y)]


def test_fmax_and_fmin_send_the_slope_to_the_argument_that_is_not_nan():
    t = tg.tensor([math.nan, 1.0, 2.0, math.nan], requires_grad=True)
    u = tg.tensor([1.0, math.nan, 2.0, math.nan], requires_grad=True)
    for function in (np.fmax, np.fmin):
        t.grad = u.grad = None
        out = function(t, u)
        np.testing.assert_array_equal(out.value, [1.0, 1.0, 2.0, math.nan])
        out[:3].sum().backward()
        np.testing.assert_array_equal(t.grad, [0.0, 1.0, 0.5, 0.0])
        np.testing.assert_array_equal(u.grad, [1.0, 0.0, 0.5, 0.0])


def test_sinc_is_exactly_one_with_slope_zero_at_zero():
    for x in (0.0, -0.0):
        v = tg.Value(x)
        out = np.sinc(v)
        out.backward()
        assert out.value == 1.0 and v.grad == 0.0
    rec = tg.record(lambda t: np.sinc(t).sum(), tg.tensor(np.zeros(3)))
    np.testing.assert_array_equal(rec.grad(np.zeros(3)), np.zeros(3))
    assert rec.hvp(np.zeros(3), np.ones(3)) == pytest.approx(-math.pi ** 2 / 3 * np.ones(3))


def test_bad_input_raises_naming_the_function():
    t = tg.tensor([-7.5, 3.0, 0.25], requires_grad=True)
    with pytest.raises(TypeError, match=r"numpy\.remainder\(\.\.\., out=\.\.\.\)"):
        np.remainder(t, 2.0, out=np.empty(3))
    with pytest.raises(TypeError, match=r"numpy\.floor\(\.\.\., where=\.\.\.\)"):
        np.floor(t, where=np.array([True, False, True]))
    with pytest.raises(ValueError, match=r"broadcast together with shapes \(3,\) and \(5,\)"):
        np.fmax(t, np.ones(5))
    with pytest.raises(TypeError, match="complex"):
        np.fmod(t, np.array([1j, 1.0, 1.0]))
    with pytest.raises(TypeError, match=r"tapegrad\.copysign\(\) takes .* not str"):
        tg.copysign(1.0, "a")
    with pytest.raises(TypeError, match=r"Value % takes real numbers or Values, not str"):
        tg.Value(1.0) % "a"
    with pytest.raises(TypeError, match="sinc"):
        np.sinc(t, 3)


def _drawn(rng, shapes, fine):
    """Arrays of ``shapes`` drawn until ``fine(*arrays)`` (away from kinks)."""
    while True:
        arrays = [rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2.5, shape)
                  for shape in shapes]
        if fine(*arrays):
            return arrays


def _apart(a, b, gap=0.05):
    return bool(np.all(np.abs(a - b) > gap))


def _fraction_apart(q, gap=0.05):
    """``q`` at least ``gap`` from every integer."""
    return bool(np.all(np.abs(q - np.rint(q)) > gap))


CHECKS = {  # f (plain NumPy), shapes, arrays away from kinks
    "sinc": (lambda x: np.sinc(x), [(3, 4)], lambda x: True),
    "sinc-at-0": (lambda x: np.sinc(x * 0.0) * x + np.sinc(x - x), [(3,)], lambda x: True),
    "remainder": (lambda x, y: np.remainder(x, y), [(3, 4), (4,)],
                  lambda x, y: _fraction_apart(x / y)),
    "mod-operators": (lambda x, y: x % y + 1.7 % x, [(2, 3), (2, 1)],
                      lambda x, y: _fraction_apart(x / y) and _fraction_apart(1.7 / x)),
    "fmod": (lambda x, y: np.fmod(x, y), [(3, 1), (1, 4)], lambda x, y: _fraction_apart(x / y)),
    "copysign": (lambda x, y: np.copysign(x, y) * x, [(2, 3), (2, 1)],
                 lambda x, y: _apart(x, 0.0) and _apart(y, 0.0)),
    "fmax": (lambda x, y: np.fmax(x, y), [(3, 4), (4,)], lambda x, y: _apart(x, y)),
    "fmin": (lambda x, y: np.fmin(x, y) * np.fmin(y, 0.5), [(2, 1, 3), (4, 1)],
             lambda x, y: _apart(x, y) and _apart(y, 0.5)),
    "heaviside": (lambda x, h: np.heaviside(x, h) * x + np.heaviside(x * 0.0, h), [(4,), (4,)],
                  lambda x, h: _apart(x, 0.0)),
    "rounding": (lambda x: np.floor(x) * x + np.ceil(x) * np.sin(x) + np.trunc(x * 3.0)
                 - np.rint(2.0 * x) * x, [(2, 3)],
                 lambda x: _fraction_apart(x) and _fraction_apart(3.0 * x)
                 and _fraction_apart(2.0 * x + 0.5)),
}


@pytest.mark.parametrize("case", CHECKS)
def test_check_numpy(case, rng):
    f, shapes, fine = CHECKS[case]
    check_numpy(f, *_drawn(rng, shapes, fine), rng=rng)


@requires_torch
@pytest.mark.parametrize("name", ["remainder", "fmod"])
def test_quotient_slopes_match_pytorch_with_negative_operands(name, rng):
    import torch

    x, y = _drawn(rng, [(20,), (20,)], lambda x, y: _fraction_apart(x / y))
    t, u = tg.tensor(x, requires_grad=True), tg.tensor(y, requires_grad=True)
    getattr(tg, name)(t, u).sum().backward()
    a, b = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    getattr(torch, name)(a, b).sum().backward()
    np.testing.assert_array_equal(t.grad, a.grad.numpy())
    np.testing.assert_array_equal(u.grad, b.grad.numpy())
