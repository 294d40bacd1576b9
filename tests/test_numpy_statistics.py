"""NumPy's reductions and statistics on Tensors and Values
(tapegrad/numpy/statistics.py, tapegrad/array/ops/statistics.py): every
function through the shared checker over shapes, axes and keepdims, zeros
in products exact, the ufunc methods, Values, bad input, and PyTorch."""

import math

import numpy as np
import pytest
from conftest import requires_torch
from numpy_checks import check_numpy

import tapegrad as tg
from tapegrad.array import Tensor

SHAPES = [(), (5,), (3, 4), (2, 3, 4)]
#: shape -> the axes NumPy takes for it (every int, negatives, tuples).
AXES = {
    (): [None, ()],
    (5,): [None, 0, -1, (0,)],
    (3, 4): [None, 0, 1, -1, -2, (0, 1), (1, 0)],
    (2, 3, 4): [None, 0, 1, 2, -1, -3, (0, 1), (0, 2), (-1, 1), (2, 0, 1)],
}
CASES = [(shape, axis) for shape in SHAPES for axis in AXES[shape]]
ONE_AXIS = [(shape, axis) for shape in SHAPES for axis in [None] + list(range(-len(shape),
                                                                                len(shape)))]


def data(shape, seed=0, low=None):
    rng = np.random.default_rng(seed + len(shape))
    x = rng.normal(size=shape)
    if low is not None:  # away from zero, either sign
        x = np.sign(x) * rng.uniform(low, 1.5, size=shape)
    return x


REDUCTIONS = {
    "sum": lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
    "mean": lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
    "max": lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
    "amin": lambda x, axis, keepdims: np.amin(x, axis=axis, keepdims=keepdims),
    "prod": lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
    "ptp": lambda x, axis, keepdims: np.ptp(x, axis=axis, keepdims=keepdims),
    "var": lambda x, axis, keepdims: np.var(x, axis=axis, keepdims=keepdims),
    "std": lambda x, axis, keepdims: np.std(x, axis=axis, keepdims=keepdims, ddof=1),
}


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape, axis", CASES)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reductions_against_numpy(name, shape, axis, keepdims):
    count = math.prod(shape) if axis is None else math.prod(
        shape[k] for k in np.atleast_1d(np.array(axis, dtype=int)))
    if name == "std" and count < 2:
        pytest.skip("ddof=1 of one element: nan")  # tested with Values below
    reduce = REDUCTIONS[name]
    x = data(shape, low=0.5 if name == "prod" else None)
    check_numpy(lambda x: reduce(x, axis, keepdims), x)


@pytest.mark.parametrize("shape, axis", [((3, 4), 1), ((3, 4), 0), ((3, 4), None),
                                         ((3, 4), (0, 1)), ((2, 3, 4), (0, 2)),
                                         ((2, 3, 4), -1), ((6,), 0)])
@pytest.mark.parametrize("zeros", [1, 2, 3])
def test_prod_is_exact_at_zeros(shape, axis, zeros):
    x = data(shape, low=0.5)
    flat = x.reshape(-1)
    flat[[1, 4, 5][:zeros]] = 0.0  # one, two, three zeros (several in one lane)
    f = lambda x: np.prod(x, axis=axis)
    check_numpy(f, x)
    check_numpy(lambda x: np.prod(x, axis=axis, keepdims=True) * 2.0, x, float32=False)


def test_prod_gradient_is_the_product_of_the_others():
    x = np.array([[2.0, 0.0, 3.0, 5.0], [0.0, 7.0, 0.0, 2.0], [1.5, 2.0, 3.0, 4.0]])
    t = tg.tensor(x, requires_grad=True)
    np.prod(t, axis=1).sum().backward()
    want = [[math.prod(np.delete(row, j)) for j in range(4)] for row in x]
    np.testing.assert_array_equal(t.grad, want)  # exactly: no division anywhere


@pytest.mark.parametrize("shape, axis", ONE_AXIS)
def test_cumsum_against_numpy(shape, axis):
    check_numpy(lambda x: np.cumsum(x, axis=axis), data(shape))


@pytest.mark.parametrize("a", [np.array([True, False, True]), np.array([1, 2, 3], np.int32),
                               np.array([200, 100], np.uint8), np.array([1.5, 2.0], ">f8"),
                               np.array([[1.5, 2.0], [0.5, 1.0]], np.float32)])
def test_cumsum_keeps_numpys_dtype_and_bits(a):
    """cumsum's compiled rules: bool and small integers add in the
    platform's integer, as NumPy's; any byte order."""
    got = np.cumsum(tg.tensor(a)).value
    want = np.cumsum(a)
    assert got.dtype == want.dtype and np.array_equal(got, want)


@pytest.mark.parametrize("shape, axis", ONE_AXIS)
def test_cumprod_against_numpy(shape, axis):
    check_numpy(lambda x: np.cumprod(x, axis=axis), data(shape, low=0.5))


@pytest.mark.parametrize("shape, axis", [((6,), 0), ((3, 4), 1), ((3, 4), -2), ((3, 4), None),
                                         ((2, 3, 4), 1)])
@pytest.mark.parametrize("where", [[0], [2], [1, 3], [0, 1], [3, 5, 8], [5]])
def test_cumprod_is_exact_at_zeros(shape, axis, where):
    x = data(shape, low=0.5)
    x.reshape(-1)[[k % x.size for k in where]] = 0.0
    check_numpy(lambda x: np.cumprod(x, axis=axis), x)


def test_cumprod_gradient_with_zeros_equals_the_sum_of_products():
    x = np.array([2.0, 0.0, 3.0, 0.0, 5.0])
    t = tg.tensor(x, requires_grad=True)
    g = np.array([1.0, -2.0, 0.5, 3.0, -1.0])
    (np.cumprod(t) * g).sum().backward()
    want = [sum(g[k] * math.prod(np.delete(x[:k + 1], i)) for k in range(i, 5))
            for i in range(5)]
    np.testing.assert_allclose(t.grad, want, rtol=1e-15, atol=0.0)


@pytest.mark.parametrize("ddof", [0, 1, 2.5])
@pytest.mark.parametrize("shape, axis", [((7,), None), ((3, 4), 0), ((3, 4), -1),
                                         ((2, 3, 4), (0, 2)), ((2, 3, 4), None)])
def test_var_and_std_with_ddof(shape, axis, ddof):
    x = data(shape)
    check_numpy(lambda x: np.var(x, axis=axis, ddof=ddof), x)
    check_numpy(lambda x: np.std(x, axis=axis, ddof=ddof, keepdims=True), x)
    check_numpy(lambda x: np.var(x, axis=axis, correction=ddof), x)


def test_var_with_a_given_mean():
    x = data((3, 4))
    check_numpy(lambda x: np.var(x, axis=1, mean=np.mean(x, axis=1, keepdims=True)), x)


@pytest.mark.parametrize("returned", [False, True])
@pytest.mark.parametrize("shape, axis, w_shape", [
    ((5,), None, None), ((3, 4), 1, None), ((3, 4), None, (3, 4)), ((3, 4), 1, (4,)),
    ((3, 4), -2, (3,)), ((3, 4), 0, (3, 4)), ((2, 3, 4), (0, 2), (2, 4)),
    ((2, 3, 4), (2, 0), (4, 2)), ((2, 3, 4), (1,), (3,)),
])
def test_average(shape, axis, w_shape, returned):
    x = data(shape)
    if w_shape is None:
        check_numpy(lambda x: np.average(x, axis=axis, returned=returned), x)
        return
    w = np.random.default_rng(3).uniform(0.5, 2.0, size=w_shape)
    check_numpy(lambda x, w: np.average(x, axis=axis, weights=w, returned=returned), x, w)
    check_numpy(lambda x: np.average(x, axis=axis, weights=w.astype(x.dtype), returned=returned,
                                     keepdims=True), x)


def test_average_weights_traced_alone():
    w = tg.tensor([1.0, 3.0], requires_grad=True)
    avg = np.average(np.array([2.0, 4.0]), weights=w)
    assert isinstance(avg, Tensor)
    avg.backward()
    np.testing.assert_allclose(w.grad, [(2.0 - 3.5) / 4.0, (4.0 - 3.5) / 4.0])


@pytest.mark.parametrize("f", [
    lambda x: np.sum(x, axis=1, initial=2.5),
    lambda x: np.prod(x, axis=0, initial=-2.0),
    lambda x: np.max(x, axis=1, initial=0.3),
    lambda x: np.min(x, axis=(0, 1), initial=-0.2, keepdims=True),
    lambda x: np.add.reduce(x),
    lambda x: np.add.reduce(x, axis=None, keepdims=True),
    lambda x: np.add.reduce(x, axis=(1, 0), initial=1.0),
    lambda x: np.multiply.reduce(x, axis=1),
    lambda x: np.multiply.reduce(x, axis=None),
    lambda x: np.maximum.reduce(x, axis=-1),
    lambda x: np.minimum.reduce(x, keepdims=True),
    lambda x: np.add.accumulate(x),
    lambda x: np.add.accumulate(x, axis=1),
    lambda x: np.multiply.accumulate(x, axis=-1),
    lambda x: np.multiply.accumulate(x[0], axis=None),
    lambda x: np.ptp(x) + np.average(x, axis=0, weights=np.array([1.0, 2.0, 0.5], x.dtype)),
    lambda x: x.sum(axis=0) + x.mean(axis=1, keepdims=True) + x.prod() + x.max(0)[0],
    lambda x: x.cumsum(axis=0) * x.cumprod()[:12].reshape(3, 4) + x.var() + x.std(axis=1)[0],
], ids=lambda f: "")
def test_keywords_ufunc_methods_and_tensor_methods(f):
    check_numpy(f, data((3, 4), low=0.5))


@pytest.mark.parametrize("f", [
    lambda x: np.sum(x, axis=1, dtype=np.float32),
    lambda x: np.mean(x, dtype=np.float64),
    lambda x: np.cumsum(x, axis=0, dtype=np.float64),
    lambda x: np.var(x, axis=0, dtype=np.float64),
    lambda x: np.prod(x, dtype=np.float64),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_casts_first(f, dtype):
    x = data((3, 4), low=0.5).astype(dtype)
    t = tg.tensor(x, requires_grad=True)
    got, want = f(t), f(x)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got.value, want, rtol=1e-6)
    got.sum().backward()
    assert t.grad.dtype == dtype
    if want.dtype == np.float64:  # differences in float32 are too coarse to check
        check_numpy(f, x.astype(np.float64), float32=False, rtol=1e-6)


@pytest.mark.parametrize("name", list(REDUCTIONS) + ["cumsum", "cumprod", "average"])
def test_float32_stays_float32(name):
    x = data((3, 4), low=0.5).astype(np.float32)
    f = {"cumsum": np.cumsum, "cumprod": np.cumprod, "average": np.average}.get(name)
    f = f or (lambda x: REDUCTIONS[name](x, 1, False))
    t = tg.tensor(x, requires_grad=True)
    out = f(t)
    assert isinstance(out, Tensor) and out.dtype == np.float32
    out.sum().backward()
    assert t.grad.dtype == np.float32


def test_values_are_zero_dimensional():
    v = tg.Value(1.5)
    for f in (np.sum, np.mean, np.prod, np.max, np.amin, np.add.reduce, np.multiply.reduce,
              np.average):
        assert f(v) is v
    assert np.sum(v, axis=(), keepdims=True) is v
    s = np.sum(v, initial=2.0)
    assert isinstance(s, tg.Value) and s.value == 3.5
    for f in (np.var, np.std, np.ptp):
        out = f(v)
        assert isinstance(out, tg.Value) and out.value == 0.0
    c = np.cumsum(v)
    assert isinstance(c, Tensor) and c.shape == (1,) and c.value[0] == 1.5
    w = tg.Value(2.0)
    out = np.prod(v) * np.var(w) + np.cumprod(w).sum()
    out.backward()
    assert (v.grad, w.grad) == (0.0, 1.0)
    assert np.average(v, weights=w).value == 1.5
    with pytest.warns(RuntimeWarning, match="degrees of freedom"):
        assert math.isnan(np.var(v, ddof=1).value)


def test_tensors_in_give_tensors_out():
    t = tg.tensor(data((2, 3)), requires_grad=True)
    for out in (np.sum(t), np.prod(t, axis=0), np.cumprod(t), np.var(t, axis=1), np.ptp(t),
                *np.average(t, axis=0, returned=True), np.add.accumulate(t),
                np.maximum.reduce(t)):
        assert isinstance(out, Tensor), type(out)


def test_a_replay_recomputes_where_the_zeros_are():
    x0 = data((3, 4), low=0.5)
    f = lambda x: (np.prod(x, axis=1) * np.array([1.0, -2.0, 0.5])).sum() \
        + (np.cumprod(x, axis=0) * np.arange(12.0).reshape(3, 4)).sum()
    rec = tg.record(f, tg.tensor(x0))
    x1 = x0.copy()
    x1[0, 1] = x1[1, 0] = x1[1, 3] = x1[2, 2] = 0.0
    step = 1e-6
    fd = np.array([(f(x1 + step * e.reshape(3, 4)) - f(x1 - step * e.reshape(3, 4))) / (2 * step)
                   for e in np.eye(12)]).reshape(3, 4)
    np.testing.assert_allclose(rec.grad(x1).reshape(3, 4), fd, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("call, error, match", [
    (lambda t: np.sum(t, out=np.zeros(3)), TypeError, r"numpy.sum\(\.\.\., out=\.\.\.\)"),
    (lambda t: np.mean(t, where=np.ones((2, 3), bool) & False), TypeError, "numpy.mean"),
    (lambda t: np.sum(t, dtype=complex), TypeError, "numpy.sum.*float dtype"),
    (lambda t: np.prod(t, dtype=np.int64), TypeError, "numpy.prod.*float dtype"),
    (lambda t: np.cumsum(t, out=np.zeros(6)), TypeError, "numpy.cumsum"),
    (lambda t: np.add.reduce(t, out=np.zeros(3)), TypeError, "out="),
    (lambda t: np.max(t, axis=2), np.exceptions.AxisError, "numpy.max: axis 2 is out of bounds"),
    (lambda t: np.var(t, axis=(0, -2)), ValueError, "numpy.var.*repeated axis"),
    (lambda t: np.cumprod(t, axis=(0, 1)), TypeError, "numpy.cumprod"),
    (lambda t: np.cumsum(t, axis=-3), np.exceptions.AxisError, "numpy.cumsum"),
    (lambda t: np.var(t, ddof=1, correction=1), ValueError, "numpy.var.*correction"),
    (lambda t: np.average(t, weights=np.ones(3)), TypeError, "numpy.average: axis must"),
    (lambda t: np.average(t, axis=0, weights=np.ones(3)), ValueError, "numpy.average"),
    (lambda t: np.average(t, axis=1, weights=np.zeros(3)), ZeroDivisionError, "sum to zero"),
    (lambda t: np.max(t[:, :0], axis=1), ValueError, "numpy.max.*initial"),
    (lambda t: np.add.accumulate(t[0, 0]), TypeError, "cannot accumulate on a scalar"),
    (lambda t: np.multiply.accumulate(t, axis=None), ValueError, "multiple axes"),
    (lambda t: np.average(np.array([1j, 2.0, 3.0]), weights=t[0]), TypeError, "complex"),
])
def test_bad_input_raises_naming_the_function(call, error, match):
    t = tg.tensor(data((2, 3)), requires_grad=True)
    with pytest.raises(error, match=match):
        call(t)


def test_empty_with_initial():
    t = tg.tensor(np.zeros((2, 0)), requires_grad=True)
    out = np.max(t, axis=1, initial=-1.0)
    np.testing.assert_array_equal(out.value, [-1.0, -1.0])
    out.sum().backward()
    assert t.grad.shape == (2, 0)


@requires_torch
@pytest.mark.parametrize("zeros", [[], [1], [1, 2], [0, 5, 7]])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_prod_and_cumprod_match_pytorch(zeros, dim):
    import torch
    x = data((3, 4), low=0.5)
    x.reshape(-1)[zeros] = 0.0
    g = np.random.default_rng(5).normal(size=(3, 4))
    for ours, theirs in ((lambda t: np.prod(t, axis=dim, keepdims=True),
                          lambda t: torch.prod(t, dim=dim, keepdim=True)),
                         (lambda t: np.cumprod(t, axis=dim), lambda t: torch.cumprod(t, dim=dim))):
        leaf = torch.tensor(x, requires_grad=True)
        out = theirs(leaf)
        (out * torch.tensor(g[:out.shape[0], :out.shape[1]])).sum().backward()
        t = tg.tensor(x, requires_grad=True)
        mine = ours(t)
        np.testing.assert_allclose(mine.value, out.detach().numpy(), rtol=1e-14)
        (mine * g[:out.shape[0], :out.shape[1]]).sum().backward()
        np.testing.assert_allclose(t.grad, leaf.grad.numpy(), rtol=1e-12, atol=1e-14)


@requires_torch
@pytest.mark.parametrize("correction", [0, 1])
@pytest.mark.parametrize("dim", [None, 0, (0, 2)])
def test_var_and_std_match_pytorch(dim, correction):
    import torch
    x = data((2, 3, 4))
    for ours, theirs in ((np.var, torch.var), (np.std, torch.std)):
        leaf = torch.tensor(x, requires_grad=True)
        out = theirs(leaf, dim=dim, correction=correction)
        out.sum().backward()
        t = tg.tensor(x, requires_grad=True)
        mine = ours(t, axis=dim, ddof=correction)
        np.testing.assert_allclose(mine.value, out.detach().numpy(), rtol=1e-12)
        mine.sum().backward()
        np.testing.assert_allclose(t.grad, leaf.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_std_gradient_at_zero_variance_is_sqrts():
    t = tg.tensor([[2.0, 2.0], [1.0, 3.0]], requires_grad=True)
    np.std(t, axis=1).sum().backward()
    assert np.isnan(t.grad[0]).all() and np.isfinite(t.grad[1]).all()
