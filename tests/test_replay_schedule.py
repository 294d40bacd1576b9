"""Array replays compiled at adopt time (tapegrad.replay.schedule): a program
that is one fused group summed replays as one kernel call, bit for bit what
the mixed sweeps give; what does not fit keeps the mixed sweeps."""

import threading

import numba
import numpy as np
import pytest

import tapegrad as tg
from tapegrad.errors import NonFiniteError
from tapegrad.fusion.reduce import pairwise_sum
from tapegrad.kernels import gemm
from tapegrad.replay.schedule import WholeProgram

DTYPES = [np.float64, np.float32]
RTOL = {np.float64: 1e-14, np.float32: 1e-6}  # replays against the eager sweep
SIZES = [0, 1, 5, 7, 8, 9, 15, 16, 17, 127, 128, 129, 255, 256, 257, 1000, 1023, 4097, 20011]
if not numba.config.DISABLE_JIT:
    SIZES += [131073, 1_000_003]


def rosenbrock(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def three_ops(x):
    return ((x * 2.0 + 1.0) * x).sum()


def _pair(f, x0):
    """``(scheduled, mixed)``: two recordings of ``f`` at ``x0``, the second
    replayed by the mixed sweeps."""
    fast = tg.record(f, x0)
    slow = tg.record(f, x0)
    slow.program.schedule = None
    return fast, slow


def _bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _assert_same_bits(fast, slow, x, weight=0.75):
    value, grad = fast.value_and_grad(x)
    value0, grad0 = slow.value_and_grad(x)
    assert type(value) is float and _bits(value, value0), (value, value0)
    assert type(grad) is type(grad0)
    for g, g0 in (zip(grad, grad0) if isinstance(grad, (tuple, list)) else [(grad, grad0)]):
        assert _bits(g, g0), np.max(np.abs(np.asarray(g) - np.asarray(g0)))
    assert _bits(fast(x), slow(x))
    v, g = fast.vjp(x, [weight])
    v0, g0 = slow.vjp(x, [weight])
    assert _bits(v, v0)
    for a, b in (zip(g, g0) if isinstance(g, (tuple, list)) else [(g, g0)]):
        assert _bits(a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_pairwise_sum_is_numpys_sum(dtype):
    rng = np.random.default_rng(3)
    for n in SIZES:
        a = (rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3, n)).astype(dtype)
        zero = dtype(0)
        assert _bits(zero + pairwise_sum(a, 0, n, zero), np.sum(a)), n
        assert _bits(zero + pairwise_sum(a.reshape(1, -1).reshape(-1), 0, n, zero),
                     np.sum(a.reshape(1, -1)))
    signed = np.array([-0.0, -0.0], dtype)
    assert _bits(zero + pairwise_sum(signed, 0, 2, zero), np.sum(signed))  # +0.0, as NumPy


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("n", [2, 3, 10, 129, 1000, 4099])
def test_rosenbrock_is_one_kernel_bit_for_bit(n, dtype):
    rng = np.random.default_rng(n)
    x0 = rng.uniform(-1.5, 1.5, n).astype(dtype)
    fast, slow = _pair(rosenbrock, tg.tensor(x0))
    assert isinstance(fast.program.schedule, WholeProgram)
    for x in (x0, rng.uniform(-2, 2, n).astype(dtype), np.zeros(n, dtype)):
        _assert_same_bits(fast, slow, x)
        _assert_same_bits(fast, slow, tg.tensor(x))


@pytest.mark.parametrize("f", [
    three_ops,
    lambda x: (tg.exp(x * 0.5) - x).sum(),
    lambda x: (tg.log(x * x + 1.0) * tg.sin(x)).sum(),
    lambda x: ((x[1:] - x[:-1]) ** 2).sum(),  # two slices: each element gets two terms
    lambda x: (tg.tanh(x[2:] * 3.0) * x[:-2]).sum(),
    lambda x: ((x[1:, :] * x[:-1, :] - 1.0) ** 2).sum(),  # rows of a matrix: added in place
    lambda x: ((x[:-3] - x[3:] * 2.0) ** 2).sum(),  # offsets 3 apart: a window of 4
    lambda x: ((x[4:] * x[2:-2] + 1.0) ** 2).sum(),  # slices that both start inside
    lambda x: tg.exp(x).sum(),  # one record
    lambda x: (x * x).sum(),
    lambda x: (x[1:] ** 2).sum(),  # one record of a slice
    lambda x: (tg.sin(x) * 2.0).mean(),  # a mean
    lambda x: (x * x).sum() * 2.0,  # a tail of records of one number after the sum
    lambda x: 3.0 - ((x - 0.5) ** 2).mean() ** 2,
    lambda x: tg.log(tg.exp(x * 2.0).sum()),
    lambda x: np.sqrt(np.sum(x * x)) / 4.0,
], ids=["three_ops", "exp", "log_sin", "diff", "tanh_shift", "rows", "window", "inside",
        "one_record", "square", "one_slice", "mean", "scaled", "mean_tail", "logsumexp", "norm"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_elementwise_sums_are_one_kernel_bit_for_bit(f, dtype):
    rng = np.random.default_rng(5)
    shape = (7, 9)
    x0 = rng.uniform(-1, 1, shape).astype(dtype)
    try:
        f(tg.tensor(x0[:, 0]))
        x0 = x0[:, 0].copy()  # a 1-D program
    except (ValueError, IndexError):
        pass
    fast, slow = _pair(f, tg.tensor(x0))
    assert isinstance(fast.program.schedule, WholeProgram)
    for x in (x0, rng.uniform(-1, 1, x0.shape).astype(dtype)):
        _assert_same_bits(fast, slow, x)


@pytest.mark.parametrize("f", [
    lambda x: np.sqrt((x * x).sum()),  # an infinite partial at zero
    lambda x: tg.log((x * x).mean()) * 2.0,  # log(0)
    lambda x: ((x * x).sum() - 1.0) ** 0.5,  # sqrt of a negative number
], ids=["norm", "log_mean", "root"])
@pytest.mark.parametrize("weight", [0.75, 0.0])
def test_a_tail_at_the_edges_gives_the_bits_of_the_mixed_sweeps(f, weight):
    fast, slow = _pair(f, tg.tensor(np.linspace(-1.0, 1.0, 5)))
    assert isinstance(fast.program.schedule, WholeProgram)
    with np.errstate(all="ignore"):
        for x in (np.zeros(5), np.array([0.0, 1e-200, -3.0, np.inf, 2.0]), np.full(5, 0.1)):
            _assert_same_bits(fast, slow, x, weight)


@pytest.mark.parametrize("f", [lambda x: (x * x).sum(), lambda x: (x * x).mean() * 2.0,
                               lambda x: (x * 3.0 * x).sum() + (x * x * 2.0).sum()],
                         ids=["one_record", "mean_tail", "two_groups"])
def test_a_zero_gradient_keeps_its_sign(f):
    """At x = 0 under a negative weight, x * x's two terms are -0.0 + -0.0:
    -0.0, as the mixed sweeps add them (a first term stored, not added to 0.0)."""
    fast, slow = _pair(f, tg.tensor(np.zeros(5)))
    assert isinstance(fast.program.schedule, WholeProgram)
    for weight in (-1.5, 1.5, 0.0):
        _assert_same_bits(fast, slow, np.zeros(5), weight)
    assert np.signbit(fast.vjp(np.zeros(5), [-1.5])[1]).any()


def test_several_tensor_inputs():
    def f(xs):
        a, b = xs
        return ((a - b) ** 2 * 0.5 + a * b).sum()

    rng = np.random.default_rng(7)
    x = (rng.standard_normal(6), rng.standard_normal(6))
    fast, slow = _pair(f, tuple(tg.tensor(v) for v in x))
    assert isinstance(fast.program.schedule, WholeProgram)
    _assert_same_bits(fast, slow, x)
    _assert_same_bits(fast, slow, (tg.tensor(x[0]), x[1]))
    grads = fast.grad(x)
    assert isinstance(grads, tuple) and len(grads) == 2


@pytest.mark.parametrize("f", [
    lambda x: (x * x + 1.0).sum() * (x * 3.0).sum(),
    lambda x: (x * 0.5 * x).sum() - (x * 2.0).sum(),
    lambda x: (x * x - 1.0).sum() / tg.exp(x).sum(),
    lambda x: ((x - 1.0) ** 2).mean() + 0.5 * (x * 0.5 * x).sum(),
    lambda x: (x[1:] ** 2).sum() + (x[:-1] * 3.0).sum(),
    lambda x: (x[:-1] * 3.0).sum() - (tg.sin(x[1:]) * x[1:]).mean() ** 2,
    lambda x: (tg.log((x[1:] - x[:-1] ** 2) ** 2 * 100.0 + 1.0).sum() * 0.5
               + (x[:1] * -2.0).sum()),
    lambda x: (lambda h: np.sqrt((h * h).mean()))(x[:4]) - 2.0 * (x[4:] - 0.5).sum(),
    lambda x: (x * x).sum() * (x * 3.0).sum(),  # x * x alone: two terms, then a third
    lambda x: (x * x).sum() * 0.5 - (x * 3.0 + x * x).sum(),
    lambda x: (lambda a, b: b.sum() + a.sum())(x * x, tg.sin(x) * 2.0),  # summed out of order
    lambda x: (x * x).sum() ** 2 * (x * x).sum() ** 2 * (x * x).sum(),  # six terms
], ids=["product", "difference", "quotient", "mean_plus_sum", "two_slices", "slice_tail",
        "window_and_whole", "norm_minus_slice", "three_terms", "quadratic", "out_of_order",
        "six_terms"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_several_sums_are_one_kernel_bit_for_bit(f, dtype):
    rng = np.random.default_rng(11)
    x0 = rng.uniform(-1, 1, 9).astype(dtype)
    fast, slow = _pair(f, tg.tensor(x0))
    # float32: two groups reaching one gradient keep the mixed sweeps (_build's docstring);
    # float64: three terms or more on a leaf read whole are added in the sweeps' order
    assert isinstance(fast.program.schedule, WholeProgram) == (dtype == np.float64)
    edges = np.array([0.0, -0.0, 1e-200, -3.0, 2.0, 0.5, -1e-30, 1.0, 0.25]).astype(dtype)
    with np.errstate(all="ignore"):
        for x in (x0, rng.uniform(-1, 1, 9).astype(dtype), np.zeros(9, dtype), edges):
            for weight in (0.75, -1.5, 0.0):
                _assert_same_bits(fast, slow, x, weight)


@pytest.mark.parametrize("f, shape, parts", [
    (lambda x: x.sum(), (9,), 1),
    (lambda x: x.mean(), (3, 4), 1),
    (lambda x: np.sqrt(x.sum() ** 2 + 1.0), (9,), 1),
    (lambda x: np.sqrt((x * 1.0).sum() ** 2 + 1.0), (9,), 1),
    (lambda x: np.sqrt(x.mean()) * 2.0, (9,), 1),
    (lambda x: (x * x).sum() + x.sum(), (9,), 2),
    (lambda x: x.mean() * (tg.exp(x) - 1.0).sum(), (3, 4), 2),
], ids=["sum", "mean_2d", "tree", "group_and_tree", "two_records", "plus_a_group",
        "times_a_group"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_an_input_summed_as_it_is_is_a_part_bit_for_bit(f, shape, parts, dtype):
    """``x.sum()``: a part of one record, the input times 1.0 (the sum's
    own VJP, to the bit), with or without groups."""
    rng = np.random.default_rng(23)
    x0 = rng.uniform(-1, 1, shape).astype(dtype)
    fast, slow = _pair(f, tg.tensor(x0))
    # float32: two parts reaching one gradient keep the mixed sweeps (_build's docstring)
    assert isinstance(fast.program.schedule, WholeProgram) == (dtype == np.float64 or parts == 1)
    edges = np.array([0.0, -0.0, 1e-200, -3.0, 2.0, 0.5, -1e-30, 1.0, 0.25, -0.0, 7.0, 1.5])
    with np.errstate(all="ignore"):
        for x in (x0, np.zeros(shape, dtype), edges[:x0.size].reshape(shape).astype(dtype)):
            for weight in (0.75, -1.5, 0.0):
                _assert_same_bits(fast, slow, x, weight)


_RNG = np.random.default_rng(17)
_X, _Y = _RNG.standard_normal((23, 9)), _RNG.standard_normal(23)
_SIGNS = np.sign(_RNG.standard_normal(23))


@pytest.mark.parametrize("f, shape", [
    (lambda w: ((_X.astype(w.dtype) @ w - _Y.astype(w.dtype)) ** 2).mean(), (9,)),
    (lambda w: np.log1p(np.exp(-(_X.astype(w.dtype) @ w) * _SIGNS.astype(w.dtype))).mean(),
     (9,)),
    (lambda w: ((_X.astype(w.dtype) @ w - 1.0) ** 2).sum() + 0.1 * (w * 0.5 * w).sum(), (9,)),
    (lambda w: ((w @ _X.T.astype(w.dtype)) ** 2 * 0.5).sum(), (9,)),
    (lambda w: tg.tanh(_X.astype(w.dtype) @ w).sum() * 2.0, (9, 4)),
    (lambda w: (tg.sin(_X.astype(w.dtype) @ w) + (_X[::-1].astype(w.dtype) @ w)).sum(),
     (9,)),
    (lambda w: ((_X[:1].astype(w.dtype) @ w - 1.0) ** 2).sum(), (9,)),
    (lambda w: ((_X.T[:, :5].astype(w.dtype) @ w) ** 2).sum() + (w * 2.0).sum(), (5,)),
], ids=["least_squares", "logistic", "ridge", "input_first", "matrix_weight", "two_products",
        "one_row", "fortran_matrix"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_a_constant_times_an_input_bit_for_bit(f, shape, dtype, request):
    """``X @ w`` under fused groups (tapegrad.replay.products): a matrix
    times a vector inside the kernel (BLAS's gemv, as NumPy calls it), any
    other product beside it (NumPy's product before the kernel, the op's
    VJP after it, as the sweeps call them)."""
    rng = np.random.default_rng(19)
    w0 = rng.standard_normal(shape).astype(dtype)
    fast, slow = _pair(f, tg.tensor(w0))
    schedule = fast.program.schedule
    name = request.node.name
    assert isinstance(schedule, WholeProgram), schedule
    assert schedule._products
    if "matrix_weight" in name:  # a matrix times a matrix: beside the kernel
        assert not schedule._in_kernel
    elif gemm.address(dtype, "gemv") and "one_row" not in name:  # (NumPy's dot: either way)
        assert schedule._in_kernel
    if numba.config.DISABLE_JIT and dtype == np.float32:
        # Run as Python, tanh_value of a float32 is a float64: the kernel's
        # member is not rounded to float32 as the sweeps' stored value is.
        value, grad = fast.value_and_grad(w0)
        want, want_grad = slow.value_and_grad(w0)
        assert value == pytest.approx(want, rel=1e-6)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)
        return
    with np.errstate(all="ignore"):
        for w in (w0, rng.standard_normal(shape).astype(dtype), np.zeros(shape, dtype)):
            for weight in (0.75, -1.5, 0.0):
                _assert_same_bits(fast, slow, w, weight)
    leaf = tg.tensor(w0, requires_grad=True)
    f(leaf).backward()
    np.testing.assert_allclose(fast.grad(w0), leaf.grad, rtol=RTOL[dtype], atol=0)


def _data(w):
    """The constants ``X, X reversed, y`` in ``w``'s dtype."""
    X = _X.astype(w.dtype)
    return X, np.ascontiguousarray(X[::-1]), _Y.astype(w.dtype)


@pytest.mark.parametrize("f", [
    lambda w, X, X2, y: ((X @ w - y) ** 2).mean() + 0.1 * (w * w).sum(),
    lambda w, X, X2, y: 0.1 * (w * w).sum() + ((X @ w - y) ** 2).mean(),  # regularizer first
    lambda w, X, X2, y: (w * w).sum() + ((X @ w - y) ** 2).mean() + w.mean(),  # either side
    lambda w, X, X2, y: (w * w).sum() + (tg.sin(X @ w) + X2 @ w).sum() + w.sum(),
], ids=["ridge", "regularizer_first", "between", "two_products"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_three_terms_and_a_product_are_added_in_the_sweeps_order(f, dtype):
    """float64, products in the kernel: a product's term goes in where the
    sweeps reach it, between the walks of the groups after it and before
    it; float32 (or a product beside the kernel) keeps the sweeps."""
    rng = np.random.default_rng(29)
    w0 = rng.standard_normal(9).astype(dtype)
    fast, slow = _pair(lambda w: f(w, *_data(w)), tg.tensor(w0))
    whole = isinstance(fast.program.schedule, WholeProgram)
    assert whole == (dtype == np.float64 and bool(gemm.address(dtype, "gemv")))
    with np.errstate(all="ignore"):
        for w in (w0, np.zeros(9, dtype), rng.standard_normal(9).astype(dtype) * 1e3):
            for weight in (0.75, -1.5, 0.0):
                _assert_same_bits(fast, slow, w, weight)


@pytest.mark.parametrize("f, whole", [
    (lambda w, X, X2, y: w @ w, True),
    (lambda w, X, X2, y: np.dot(w, w) * 0.5 - 1.0, True),
    (lambda w, X, X2, y: (lambda r: r @ r)(X @ w - y), True),  # a residual's squares
    (lambda w, X, X2, y: (lambda t: t @ t)(tg.tanh(w * 2.0)) + w.sum(), True),
    (lambda w, X, X2, y: ((X @ w - y) ** 2).mean() + 0.1 * (w @ w), True),  # ridge
    (lambda w, X, X2, y: (w * 3.0).sum() + w @ w, True),
    (lambda w, X, X2, y: w @ w + (w * 3.0).sum(), False),  # w @ w would reach w second
    (lambda w, X, X2, y: 0.1 * (w @ w) + ((X @ w - y) ** 2).mean(), False),  # so here
], ids=["dot", "np_dot", "residual", "group_dot", "ridge", "dot_last", "dot_first",
        "ridge_dot_first"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_a_vector_dotted_with_itself_is_a_part_bit_for_bit(f, whole, dtype, request):
    """``r @ r``: BLAS's dot, as NumPy's matmul calls it, and matmul's two
    terms per element; float32 where one part reaches each gradient."""
    rng = np.random.default_rng(31)
    w0 = rng.standard_normal(9).astype(dtype)
    fast, slow = _pair(lambda w: f(w, *_data(w)), tg.tensor(w0))
    two_parts = any(name in request.node.name for name in ("group_dot", "ridge", "dot_last"))
    expected = whole and (dtype == np.float64 or not two_parts)
    assert isinstance(fast.program.schedule, WholeProgram) == expected
    with np.errstate(all="ignore"):
        for w in (w0, np.zeros(9, dtype), rng.standard_normal(9).astype(dtype) * 1e3,
                  np.array([0.0, -0.0, 1e-200, -3.0, 2.0, 0.5, -1e-30, 1.0, np.inf], dtype)):
            for weight in (0.75, -1.5, 0.0):
                _assert_same_bits(fast, slow, w, weight)


@pytest.mark.parametrize("f, n", [
    (lambda w: (_X @ w).sum(), 9),  # a product summed: no group
    (lambda w: ((_X[::-1] @ w) ** 2).sum() + (w * w).sum(), 9),  # three terms, beside
    (lambda w: (lambda z: (z * z).sum() + (z * 3.0).sum())(_X @ w), 9),  # two groups read it
    (lambda w: ((_X @ w[:9]) ** 2).sum(), 10),  # a slice of the input
    (lambda w: ((_X @ w) ** 2).sum() + (w[1:] * 2.0).sum(), 9),  # the input also sliced
], ids=["no_group", "three_terms", "read_twice", "slice", "also_sliced"])
def test_products_that_do_not_fit_keep_the_mixed_sweeps(f, n):
    w = np.linspace(-1.0, 1.0, n)
    rec = tg.record(f, tg.tensor(w))
    assert not isinstance(rec.program.schedule, WholeProgram)
    leaf = tg.tensor(w, requires_grad=True)
    f(leaf).backward()
    np.testing.assert_allclose(rec.grad(w), leaf.grad, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "apart"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_several_sums_over_several_inputs(dtype, shared):
    """A data term and a regularizer; ``shared``: two groups read ``a``."""
    def f(xs):
        a, b, c = xs
        last = (a * c).sum() if shared else (c * 3.0 - 1.0).sum()
        return ((a * 2.0 - 1.0) ** 2).sum() + 0.1 * (b * b).mean() + np.sqrt(last ** 2)

    rng = np.random.default_rng(13)
    x = tuple(rng.standard_normal(s).astype(dtype) for s in (6, (2, 3), 6))
    fast, slow = _pair(f, tuple(tg.tensor(v) for v in x))
    assert isinstance(fast.program.schedule, WholeProgram) == (dtype == np.float64 or not shared)
    for point in (x, (x[0], np.zeros((2, 3), dtype), -x[2])):
        _assert_same_bits(fast, slow, point)
    leaves = [tg.tensor(v, requires_grad=True) for v in x]
    f(leaves).backward()
    for g, leaf in zip(fast.grad(x), leaves):
        np.testing.assert_allclose(g, leaf.grad, rtol=RTOL[dtype], atol=0)


@pytest.mark.parametrize("f", [
    lambda x: (x * 2.0).max(),  # not a sum
    lambda x: ((x * 2.0 + 1.0) * np.ones((3, 1))).sum(),  # broadcast to another shape
    lambda x: ((x[1:] * x[1:]).sum() + x[1:][0] * 3.0),  # a slice read outside the group
    lambda x: (x * x + x[::2].sum()).sum(),  # a strided slice, and a scalar record
    lambda x: x[1:].sum(),  # a slice summed as it is
    lambda x: ((x * 2.0) * (x > 0.0)).sum(),  # a mask
    lambda x: (lambda s: s.sum() + s.mean())(x * x),  # one group summed twice
    lambda x: (x[1:] * x[1:]).sum() * (x[1:] * 3.0).sum(),  # three terms through slices
    lambda x: (lambda s: s * s)((x * x).sum()),  # a sum read twice
    lambda x: (x * x).sum(axis=0),  # a sum over one axis
    lambda x: ((x[2:] + x[1:-1] * 2.0 + x[:-2]) ** 2).sum(),  # three terms an element
], ids=["max", "broadcast", "slice_outside", "strided", "slice_summed",
        "mask", "group_twice", "slice_three_terms", "sum_twice", "axis",
        "three_terms"])
def test_what_does_not_fit_keeps_the_mixed_sweeps(f):
    x = np.linspace(-1.0, 1.0, 6)
    rec = tg.record(f, tg.tensor(x))
    assert not isinstance(rec.program.schedule, WholeProgram)
    leaf = tg.tensor(x, requires_grad=True)
    f(leaf).backward()
    np.testing.assert_allclose(rec.grad(x), leaf.grad, rtol=1e-13, atol=1e-14)


def test_a_tail_in_another_dtype_keeps_the_mixed_sweeps():
    x = np.linspace(-1.0, 1.0, 6).astype(np.float32)
    rec = tg.record(lambda t: (t * 2.0).sum() * np.float64(3.0), tg.tensor(x))  # float64
    assert rec.program.schedule is None
    assert isinstance(tg.record(lambda t: (t * 2.0).sum() * 3.0, tg.tensor(x)).program.schedule,
                      WholeProgram)
    value, grad = rec.value_and_grad(x)
    assert grad.dtype == np.float32 and np.array_equal(grad, np.full(6, 6.0, np.float32))


def test_results_are_new_arrays_and_inputs_are_read_not_written():
    x = np.linspace(-1.0, 1.0, 10)
    keep = x.copy()
    rec = tg.record(rosenbrock, tg.tensor(x))
    _, g1 = rec.value_and_grad(x)
    first = g1.copy()
    _, g2 = rec.value_and_grad(x * 0.5)
    assert g1 is not g2 and _bits(g1, first)
    assert _bits(x, keep)
    g2[:] = 7.0  # the caller's own
    assert _bits(rec.grad(x), first)


def test_arguments_are_checked_as_before():
    rec = tg.record(rosenbrock, tg.tensor(np.zeros(4)))
    with pytest.raises(ValueError, match="shape"):
        rec.value_and_grad(np.zeros(5))
    with pytest.raises(TypeError):
        rec.value_and_grad(np.zeros(4, dtype=complex))
    value, grad = rec.value_and_grad(np.ones(8)[::2])  # not contiguous: copied
    assert value == 0.0 and grad.tolist() == [0.0] * 4
    value, grad = rec.value_and_grad([1, 1, 1, 1])  # a list of ints
    assert value == 0.0 and grad.dtype == np.float64


def test_float32_stays_float32():
    x = np.linspace(-1.0, 1.0, 9, dtype=np.float32)
    rec = tg.record(rosenbrock, tg.tensor(x))
    assert isinstance(rec.program.schedule, WholeProgram)
    value, grad = rec.value_and_grad(x)
    assert grad.dtype == np.float32
    assert _bits(np.float32(value), np.sum(
        100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2, dtype=np.float32))
    _, grad64 = rec.value_and_grad(x.astype(np.float64))  # converted, as the sweeps do
    assert grad64.dtype == np.float32 and _bits(grad64, grad)


@pytest.mark.parametrize("f, n", [
    (rosenbrock, 300),
    (lambda w: np.log1p(np.exp(-(_X @ w) * _SIGNS)).mean() + (w * 0.5 * w).sum(), 9),
    (lambda w: ((w * 2.0) ** 2).sum() * (w - 1.0).mean(), 9),
], ids=["rosenbrock", "product", "two_groups"])
def test_threads_share_one_recording(f, n):
    rng = np.random.default_rng(11)
    points = [rng.uniform(-1, 1, n) for _ in range(8)]
    rec = tg.record(f, tg.tensor(points[0]))
    assert isinstance(rec.program.schedule, WholeProgram)
    alone = [rec.value_and_grad(p) for p in points]
    errors = []

    def work(k):
        for _ in range(30):
            value, grad = rec.value_and_grad(points[k])
            if value != alone[k][0] or not _bits(grad, alone[k][1]):
                errors.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(points))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_debug_mode_and_second_order_replay_the_mixed_sweeps():
    def f(t):
        return (tg.log(t * 1.0) * 2.0).sum()

    rec = tg.record(f, tg.tensor(np.ones(5)))
    assert isinstance(rec.program.schedule, WholeProgram)
    with tg.debug_mode():
        with pytest.raises(NonFiniteError, match="log"):
            rec.grad(-np.ones(5))
    x, v = np.linspace(0.5, 2.0, 5), np.ones(5)
    np.testing.assert_allclose(rec.hvp(x, v), -2.0 / x ** 2, rtol=1e-14)
    np.testing.assert_allclose(rec.jvp(x, v)[1], np.sum(2.0 / x), rtol=1e-14)
    assert _bits(rec.grad(x), 2.0 / x)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="numba's disk cache needs the JIT")
def test_a_kernel_loaded_from_the_disk_cache_runs():
    """The second process loads the whole-program kernel numba cached (a
    cached kernel calling a recursive one crashed when loaded)."""
    import subprocess
    import sys

    code = ("import numpy as np, tapegrad as tg\n"
            "f = lambda x: (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()\n"
            "rec = tg.record(f, tg.tensor(np.linspace(-1, 1, 300)))\n"
            "print(rec.value_and_grad(np.linspace(-1, 1, 300))[0])\n")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=600) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    assert runs[0].stdout == runs[1].stdout


def test_a_product_program_checks_its_input_as_any_replay():
    rec = tg.record(lambda v: ((_X @ v - _Y) ** 2).mean(), tg.tensor(np.zeros(9)))
    assert rec.program.schedule._products
    with pytest.raises(ValueError, match="shape"):
        rec.value_and_grad(np.zeros(8))
    with pytest.raises(ValueError, match="expected a tensor or array of shape"):
        rec.value_and_grad("nine numbers")
    w = np.linspace(-1.0, 1.0, 9)
    value, grad = rec.value_and_grad(w.astype(np.float32))  # read as the recorded float64
    want, want_grad = rec.value_and_grad(w.astype(np.float32).astype(np.float64))
    assert value == want and _bits(grad, want_grad)
    fortran = np.asfortranarray(np.linspace(-1.0, 1.0, 18).reshape(9, 2))[:, 0]
    assert _bits(rec.value_and_grad(fortran)[1], rec.value_and_grad(fortran.copy())[1])


def test_a_saved_program_with_a_product_loads_as_one_call(tmp_path):
    w = np.linspace(-1.0, 1.0, 9)
    rec = tg.record(lambda v: ((_X @ v - _Y) ** 2).mean() + (v * 0.5 * v).sum(), tg.tensor(w))
    rec.save(tmp_path / "ridge.tape")
    loaded = tg.load(tmp_path / "ridge.tape")
    assert isinstance(loaded.program.schedule, WholeProgram)
    value, grad = loaded.value_and_grad(w * 0.5)
    want, want_grad = rec.value_and_grad(w * 0.5)
    assert value == want and _bits(grad, want_grad)


def test_the_fixed_cost_programs_are_one_call_each():
    """The programs of the benchmark's replay fixed-cost figure are replayed
    as the figure says: one kernel call each (a dense chain's at 10 rows)."""
    from tapegrad.benchmark.replay_cost import programs

    cases = programs()
    for name in ("elementwise_3ops", "rosenbrock_vectorized", "rms", "least_squares"):
        rec, x = cases[name]
        assert isinstance(rec.program.schedule, WholeProgram), name
    rec, x = cases["rms"]
    value, grad = rec.value_and_grad(x)
    want = np.sqrt(np.mean(x * x))
    assert value == pytest.approx(want, rel=1e-15)
    np.testing.assert_allclose(grad, x / (x.size * want), rtol=1e-14)
    for name in ("simplenet_loss", "mlp_mse_loss"):
        rec, params = cases[name]
        assert rec.program.dense.compiled, name
    assert cases["mlp_mse_loss"][0].program.dense.head is not None
    assert cases["least_squares"][0].program.schedule._in_kernel
    assert cases["least_squares"][0].program.schedule._products
