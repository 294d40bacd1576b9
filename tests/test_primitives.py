"""``@tapegrad.primitive``: user-declared ops, on Tensors, Values, Duals and
plain data, with replay, forward mode, Hessian-vector products, validation
of the user's rules and ``check_grad`` on them."""

import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.array.ops import ARRAY_OPS
from tapegrad.core import numpy_protocol

from conftest import requires_torch
from numpy_checks import check_numpy

try:
    from scipy import special
except ImportError:  # scipy is optional
    special = None

requires_scipy = pytest.mark.skipif(special is None, reason="SciPy is not installed")


@pytest.fixture
def registry():
    """Restore NumPy's registry after a test registers functions."""
    saved = (dict(numpy_protocol.FUNCTIONS), dict(numpy_protocol.UFUNCS),
             list(numpy_protocol.TABLE))
    yield
    numpy_protocol.FUNCTIONS.clear()
    numpy_protocol.FUNCTIONS.update(saved[0])
    numpy_protocol.UFUNCS.clear()
    numpy_protocol.UFUNCS.update(saved[1])
    numpy_protocol.TABLE[:] = saved[2]


# --- primitives written in plain NumPy ------------------------------------------


@tg.primitive
class logistic:
    """1 / (1 + exp(-x)), elementwise"""

    def value(x):
        return 1.0 / (1.0 + np.exp(-x))

    def vjp(g, out, x):
        return g * out * (1.0 - out)

    def jvp(out, x, tx):
        return out * (1.0 - out) * tx


@tg.primitive
class logistic_no_jvp:
    """logistic, whose tangent comes from transposing its vjp"""

    def value(x):
        return 1.0 / (1.0 + np.exp(-x))

    def vjp(g, out, x):
        return g * out * (1.0 - out)


@tg.primitive
class logaddexp:
    """log(exp(x) + exp(y)) of two arrays of one shape"""

    def value(x, y):
        return np.logaddexp(x, y)

    def vjp(g, out, x, y):
        return g * np.exp(x - out), g * np.exp(y - out)

    def jvp(out, x, y, tx, ty):
        return np.exp(x - out) * tx + np.exp(y - out) * ty


@tg.primitive
class polar:
    """(r cos th, r sin th): two outputs"""

    def value(r, th):
        return r * np.cos(th), r * np.sin(th)

    def vjp(g, out, r, th):
        (gx, gy), (x, y) = g, out
        return gx * np.cos(th) + gy * np.sin(th), gy * x - gx * y


@tg.primitive
class cumtrapz:
    """the cumulative trapezoid rule along ``axis`` (0 first): linear, and a
    vjp that writes into a buffer (never run on Tensors)"""

    linear = True

    def value(y, *, dx=1.0, axis=-1):
        y = np.moveaxis(y, axis, -1)
        steps = dx * 0.5 * (y[..., 1:] + y[..., :-1])
        first = np.zeros(y.shape[:-1] + (1,), y.dtype)
        return np.moveaxis(np.concatenate([first, np.cumsum(steps, axis=-1)], -1), -1, axis)

    def vjp(g, out, y, *, dx=1.0, axis=-1):
        g = np.moveaxis(g, axis, -1)
        tail = dx * 0.5 * np.cumsum(g[..., :0:-1], axis=-1)[..., ::-1]
        grad = np.zeros(g.shape, g.dtype)
        grad[..., 1:] += tail
        grad[..., :-1] += tail
        return np.moveaxis(grad, -1, axis)


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


SHAPES = [(), (4,), (2, 3), (2, 1, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("rule", [logistic, logistic_no_jvp])
def test_a_nonlinear_primitive_in_every_mode(rule, shape, rng):
    check_numpy(lambda x: rule(x * 2.0) * x, rng.normal(size=shape), rng=rng)


@pytest.mark.parametrize("shape", [(3,), (2, 4)])
def test_two_operands_and_a_constant_one(shape, rng):
    x, y = rng.normal(size=shape), rng.normal(size=shape)
    check_numpy(lambda a, b: logaddexp(a, b * b), x, y, rng=rng)
    c = rng.normal(size=shape)
    # the constant gets no gradient (and, float64, promotes float32 as NumPy does)
    check_numpy(lambda a: logaddexp(c, a), x, rng=rng, float32=False)


@pytest.mark.parametrize("shape", [(), (3,), (2, 2)])
def test_several_outputs(shape, rng):
    r, th = rng.uniform(0.5, 2.0, size=shape), rng.normal(size=shape)
    check_numpy(lambda a, b: polar(a, b), r, th, rng=rng)
    check_numpy(lambda a, b: polar(a, b)[1] * a, r, th, rng=rng)


@pytest.mark.parametrize("shape, axis", [((5,), -1), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), -2)])
def test_a_linear_primitive_with_keyword_parameters(shape, axis, rng):
    """The Hessian-vector product never runs its vjp on Tensors (it writes in place)."""
    check_numpy(lambda y: cumtrapz(y * y, dx=0.25, axis=axis), rng.normal(size=shape), rng=rng)


def test_the_values_agree_with_scipy_cumulative_trapezoid(rng):
    integrate = pytest.importorskip("scipy.integrate")
    y = rng.normal(size=(3, 6))
    want = integrate.cumulative_trapezoid(y, dx=0.5, axis=1, initial=0)
    np.testing.assert_allclose(cumtrapz(y, dx=0.5, axis=1), want, rtol=1e-12)
    np.testing.assert_allclose(cumtrapz(tg.tensor(y), dx=0.5, axis=1).value, want, rtol=1e-12)


# --- what goes in, what comes out ------------------------------------------------


def test_plain_data_in_plain_data_out_and_no_tape():
    with tg.Tape() as tape:
        out = logistic(np.array([0.0, 1.0]))
        number = logistic(0.0)
        listed = logistic([0.0])
    assert isinstance(out, np.ndarray) and len(tape) == 0
    assert number == 0.5 and isinstance(listed, np.ndarray)
    assert isinstance(polar(1.0, 0.0), tuple)


def test_tensors_in_tensors_out(rng):
    x = tg.tensor(rng.normal(size=(2, 3)), requires_grad=True)
    out = logistic(x)
    assert isinstance(out, tg.Tensor) and out.shape == (2, 3)
    constant = logistic(tg.tensor([0.0]))  # nothing tracked: a constant Tensor
    assert isinstance(constant, tg.Tensor) and constant.value.tolist() == [0.5]
    a, b = polar(x, x)
    assert isinstance(a, tg.Tensor) and isinstance(b, tg.Tensor) and b.shape == (2, 3)
    (a * b).sum().backward()
    np.testing.assert_allclose(x.grad, np.cos(x.value) * np.sin(x.value) * 2 * x.value
                               + x.value ** 2 * np.cos(2 * x.value), rtol=1e-12)


def test_values_in_a_value_out_as_one_scalar_record():
    x = tg.Value(0.3)
    with tg.Tape() as tape:
        y = logistic(x)
    assert isinstance(y, tg.Value)
    assert [int(c) for c in tape.op] == [tg.OPS["input"].code, ARRAY_OPS["primitive_scalar"].code]
    (y * 2.0).backward()
    assert x.grad == pytest.approx(2 * _logistic(0.3) * (1 - _logistic(0.3)), rel=1e-14)
    a, b = polar(tg.Value(2.0), 0.5)
    assert isinstance(a, tg.Value) and isinstance(b, tg.Value)
    assert b.data == pytest.approx(2.0 * math.sin(0.5))


def test_values_through_the_functional_api():
    def f(x):
        return logistic(x[0] * x[1]) + polar(x[0], x[1])[1]

    x = np.array([0.7, -0.4])
    h = 1e-5
    grad = tg.grad(f)(x)
    fd = [(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(grad, fd, rtol=1e-8)
    hessian = tg.hessian(f)(x)
    fd_h = np.array([(tg.grad(f)(x + h * e) - tg.grad(f)(x - h * e)) / (2 * h) for e in np.eye(2)])
    np.testing.assert_allclose(hessian, fd_h, rtol=1e-6, atol=1e-8)
    _, tangent = tg.jvp(lambda a, b: logistic_no_jvp(a * b), (0.7, -0.4), (1.0, 2.0))
    assert tangent == pytest.approx(_logistic(-0.28) * (1 - _logistic(-0.28)) * (-0.4 + 1.4))


def test_duals_carry_the_tangent():
    y = logistic(tg.Dual(0.3, 1.0))
    assert isinstance(y, tg.Dual)
    assert y.tangent == pytest.approx(_logistic(0.3) * (1 - _logistic(0.3)), rel=1e-14)
    a, b = polar(tg.Dual(2.0, np.array([1.0, 0.0])), tg.Dual(0.5, np.array([0.0, 1.0])))
    np.testing.assert_allclose(a.tangent, [math.cos(0.5), -2 * math.sin(0.5)], rtol=1e-14)
    np.testing.assert_allclose(b.tangent, [math.sin(0.5), 2 * math.cos(0.5)], rtol=1e-14)
    assert logistic_no_jvp(tg.Dual(0.3, 2.0)).tangent == pytest.approx(2 * y.tangent)


def test_float32_stays_float32(rng):
    x = tg.tensor(rng.normal(size=4).astype(np.float32), requires_grad=True)
    for rule in (logistic, cumtrapz):
        out = rule(x)
        assert out.dtype == np.float32
        out.sum().backward()
        assert x.grad.dtype == np.float32
        x.grad = None


def test_replay_calls_the_users_code_again(rng):
    x0, x1 = rng.normal(size=(2, 5))

    def f(t):
        return (logistic(t) * cumtrapz(t, dx=0.5)).sum() + polar(t[0], t[1])[0]

    def reference(x):
        return float((_logistic(x) * cumtrapz(x, dx=0.5)).sum() + x[0] * np.cos(x[1]))

    rec = tg.record(f, tg.tensor(x0))
    assert rec(x1) == pytest.approx(reference(x1), rel=1e-13)
    h = 1e-6
    fd = [(reference(x1 + h * e) - reference(x1 - h * e)) / (2 * h) for e in np.eye(5)]
    np.testing.assert_allclose(rec.grad(x1), fd, rtol=1e-7, atol=1e-9)
    scalar = tg.record(lambda v: logistic(v[0]) * v[1], np.array([0.1, 2.0]))
    assert scalar(np.array([0.5, 3.0])) == pytest.approx(3 * _logistic(0.5), rel=1e-14)


def test_every_primitive_shares_two_opcodes():
    count = len(ARRAY_OPS)
    for k in range(200):
        made = tg.primitive(type(f"p{k}", (), {"value": lambda x: x * 1.0,
                                                "vjp": lambda g, out, x: g}))
    assert len(ARRAY_OPS) == count
    assert made(tg.tensor([1.0], requires_grad=True)).value.tolist() == [1.0]
    assert repr(logistic) == "<tapegrad.primitive logistic>"
    assert logistic.__doc__ == "1 / (1 + exp(-x)), elementwise"


# --- check_grad on a user's rules -------------------------------------------------


@tg.primitive
class wrong_vjp:
    def value(x):
        return np.sin(x)

    def vjp(g, out, x):
        return g * np.sin(x)  # should be cos

    def jvp(out, x, tx):
        return np.cos(x) * tx


@tg.primitive
class wrong_jvp:
    def value(x):
        return np.sin(x)

    def vjp(g, out, x):
        return g * np.cos(x)

    def jvp(out, x, tx):
        return -np.cos(x) * tx


def test_check_grad_checks_a_users_rules():
    assert tg.check_grad(lambda t: logistic(t).sum(), tg.tensor([[0.5, -1.0], [2.0, 0.1]]))
    assert tg.check_grad(lambda t: (logaddexp(t, t * t) * t).sum(), [0.5, -1.0, 0.3])  # as a Tensor
    assert tg.check_grad(lambda v: logistic(v) * v, 0.7)  # Value, Dual, float
    with pytest.raises(AssertionError, match=r"reverse vs (forward|central)"):
        tg.check_grad(lambda t: wrong_vjp(t).sum(), tg.tensor([0.5, 1.0]))
    with pytest.raises(AssertionError, match=r"x\[1\] = 1\.0.*forward"):
        tg.check_grad(lambda t: (wrong_jvp(t) * np.array([0.0, 1.0])).sum(),
                      tg.tensor([0.5, 1.0]))
    with pytest.raises(AssertionError, match=r"x\[0, 1\]"):
        tg.check_grad(lambda t: (wrong_vjp(t) * np.array([[0.0, 1.0]])).sum(),
                      tg.tensor([[0.5, 1.0]]))


# --- the user's mistakes ---------------------------------------------------------


def _block(**rules):
    return type("bad", (), rules)


def test_a_bad_block_is_refused():
    with pytest.raises(TypeError, match="needs a function `vjp`"):
        tg.primitive(_block(value=lambda x: x))
    with pytest.raises(TypeError, match=r"unknown entries \['jpv'\]"):
        tg.primitive(_block(value=lambda x: x, vjp=lambda g, o, x: g, jpv=None))
    with pytest.raises(TypeError, match="not both"):
        tg.primitive(_block(value=lambda x: x, vjp=lambda g, o, x: g,
                            jvp=lambda o, x, t: t, linear=True))
    with pytest.raises(TypeError, match=r"keyword parameters \['scale'\] but vjp"):
        tg.primitive(_block(value=lambda x, *, scale: x, vjp=lambda g, o, x: g))
    with pytest.raises(TypeError, match="class block"):
        tg.primitive(lambda x: x)


def test_a_vjp_with_the_wrong_gradients_is_named():
    two = tg.primitive(type("two", (), {"value": lambda x, y: x * y,
                                        "vjp": lambda g, out, x, y: g * y}))
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="two: vjp must give a tuple of 2 gradients"):
        two(x, x).sum().backward()
    short = tg.primitive(type("short", (), {"value": lambda x, y: x * y,
                                            "vjp": lambda g, out, x, y: (g * y,)}))
    with pytest.raises(ValueError, match="short: vjp gave 1 gradients for 2 operands"):
        short(x, x).sum().backward()
    summed = tg.primitive(type("summed", (), {"value": lambda x: x * 2.0,
                                              "vjp": lambda g, out, x: np.sum(g)}))
    with pytest.raises(ValueError, match=r"summed: vjp gave a gradient of shape \(\) for "
                                         r"argument 0, of shape \(2,\)"):
        summed(x).sum().backward()
    none = tg.primitive(type("none", (), {"value": lambda x, y: x * y,
                                          "vjp": lambda g, out, x, y: (None, g * x)}))
    y = tg.tensor([3.0, 4.0], requires_grad=True)
    none(x, y).sum().backward()  # None: a zero gradient
    assert x.grad is None and y.grad.tolist() == [1.0, 2.0]


def test_bad_operands_and_outputs_are_named():
    with pytest.raises(TypeError, match=r"logaddexp\(\) argument 1.*complex"):
        logaddexp(tg.tensor([1.0], requires_grad=True), np.array([1j]))
    with pytest.raises(TypeError, match=r"logistic\(\) argument 0.*complex"):
        logistic(np.array([1j]))
    with pytest.raises(TypeError, match=r"logistic\(\) takes 1 operands .*got 2"):
        logistic(tg.tensor([1.0]), 2.0)
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['out'\]"):
        logistic(tg.tensor([1.0]), out=None)
    values = np.empty(1, dtype=object)
    values[0] = tg.Value(1.0)
    with pytest.raises(TypeError, match="array of Values; a primitive takes a Tensor"):
        logistic(values)
    with pytest.raises(TypeError, match="Duals do not mix"):
        logaddexp(tg.Value(1.0), tg.Dual(1.0, 1.0))
    counts = tg.primitive(type("counts", (), {"value": lambda x: np.arange(3),
                                              "vjp": lambda g, out, x: g}))
    with pytest.raises(TypeError, match="counts: its value has dtype int64"):
        counts(tg.tensor([1.0], requires_grad=True))


def test_outputs_that_change_shape_at_replay_are_refused():
    split = tg.primitive(type("split", (), {
        "value": lambda x: (x[x > 0], x[x <= 0]),
        "vjp": lambda g, out, x: np.zeros_like(x)}))
    rec = tg.record(lambda t: split(t)[0].sum(), tg.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"split: its outputs have shapes \(\(2,\), \(0,\)\) now"):
        rec(np.array([1.0, 2.0]))


@tg.primitive
class opaque:
    """a vjp that leaves NumPy (np.asarray of a Tensor raises), and no jvp"""

    def value(x):
        return x ** 3

    def vjp(g, out, x):
        return np.asarray(g) * 3.0 * x ** 2


def test_forward_mode_without_a_jvp_says_what_to_add():
    rec = tg.record(lambda t: opaque(t).sum(), tg.tensor([1.0, 2.0]))
    np.testing.assert_allclose(rec.grad(np.array([1.0, 2.0])), [3.0, 12.0])
    with pytest.raises(NotImplementedError, match=r"primitive opaque .*def jvp\(out, x, tx\)"):
        rec.jvp(np.array([1.0, 2.0]), np.ones(2))
    with pytest.raises(NotImplementedError, match="linear = True"):
        opaque(tg.Dual(1.0, 1.0))


# --- NumPy's and SciPy's functions as primitives ------------------------------------


def test_a_numpy_function_records_the_primitive(registry):
    assert np.i0 not in numpy_protocol.FUNCTIONS

    @tg.primitive(numpy_function=np.i0)
    class i0:
        def value(x):
            return np.i0(x)

        def vjp(g, out, x):  # I0' = I1, by its series: enough near 0
            return g * sum((x / 2) ** (2 * k + 1) / (math.factorial(k) * math.factorial(k + 1))
                           for k in range(20))

    x = tg.tensor([0.5, 1.0], requires_grad=True)
    out = np.i0(x)
    assert isinstance(out, tg.Tensor)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, [0.2578943053908963, 0.5651591039924851], rtol=1e-12)
    assert numpy_protocol.TABLE[-1].family == "primitives"
    with pytest.raises(ValueError, match="numpy.exp already has a tapegrad rule"):
        tg.primitive(numpy_function=np.exp)(_block(value=np.exp, vjp=lambda g, o, x: g * o))


@requires_scipy
def test_scipy_functions_as_primitives(registry, rng):
    @tg.primitive(numpy_function=special.gammaln)
    class gammaln:
        def value(x):
            return special.gammaln(x)

        def vjp(g, out, x):
            return g * special.digamma(x)

        def jvp(out, x, tx):
            return special.digamma(x) * tx

    x0 = rng.uniform(0.5, 4.0, size=(2, 3))
    check_numpy(lambda x: special.gammaln(x * x), x0, rng=rng, hvp=False)  # digamma: below
    assert tg.check_grad(lambda t: gammaln(t).sum(), tg.tensor(x0))
    v = tg.Value(2.5)
    special.gammaln(v).backward()
    assert v.grad == pytest.approx(special.digamma(2.5), rel=1e-14)

    def f(t):
        return special.gammaln(t).sum()

    with pytest.raises(TypeError, match="primitive gammaln: its vjp ran on Tensors"):
        tg.hvp(f, tg.tensor(x0), np.ones_like(x0))

    @tg.primitive(numpy_function=special.digamma)
    class digamma:
        def value(x):
            return special.digamma(x)

        def vjp(g, out, x):
            return g * special.polygamma(1, x)

        def jvp(out, x, tx):
            return special.polygamma(1, x) * tx

    np.testing.assert_allclose(tg.hvp(f, tg.tensor(x0), np.ones_like(x0)),
                               special.polygamma(1, x0), rtol=1e-12)
    check_numpy(lambda x: special.gammaln(x * x), x0, rng=rng)


# --- PyTorch -------------------------------------------------------------------------


@requires_torch
def test_against_pytorch(rng):
    import torch

    x0 = rng.normal(size=(3, 4))
    w = rng.normal(size=(3, 4))
    t = torch.tensor(x0, requires_grad=True)
    (torch.sigmoid(t) * torch.tensor(w)).sum().backward()
    x = tg.tensor(x0, requires_grad=True)
    (logistic(x) * w).sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12)
    if special is not None:
        y0 = rng.uniform(0.5, 3.0, size=5)
        t = torch.tensor(y0, requires_grad=True)
        torch.lgamma(t).sum().backward()
        lgamma = tg.primitive(_block(value=special.gammaln,
                                     vjp=lambda g, out, x: g * special.digamma(x)))
        y = tg.tensor(y0, requires_grad=True)
        lgamma(y).sum().backward()
        np.testing.assert_allclose(y.grad, t.grad.numpy(), rtol=1e-12)
