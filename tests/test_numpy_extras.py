"""NumPy's order statistics, nan-skipping reductions, running extrema and
rounding (tapegrad/numpy/quantiles.py), covariances (covariances.py), signal
functions (signal.py) and polynomials (polynomial.py) on Tensors and Values: the
shared checker over shapes, axes, keepdims and modes; replays where the
choice made from the values changes (sort order, nans, running maxima,
interpolation pieces); Values; bad input; PyTorch."""

import warnings

import numpy as np
import pytest
from conftest import requires_torch
from numpy_checks import check_numpy

import tapegrad as tg
from tapegrad.array import Tensor

CASES = [((5,), None), ((5,), 0), ((4,), -1), ((3, 4), None), ((3, 4), 0), ((3, 4), 1),
         ((3, 4), (0, 1)), ((2, 3, 4), -1), ((2, 3, 4), (0, 2)), ((2, 3, 4), (2, 0)),
         ((2, 3, 5), 1)]


def data(shape, seed=0, nans=0.0):
    rng = np.random.default_rng(seed + len(shape))
    x = rng.normal(size=shape)
    if nans:
        x[rng.random(shape) < nans] = np.nan
    return x


def with_nans(x):
    """``x`` with its largest elements made nan (a recorded comparison)."""
    return np.where(x > 0.6, np.nan, x)


# --- order statistics ----------------------------------------------------------------

@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape, axis", CASES)
def test_median(shape, axis, keepdims):
    check_numpy(lambda x: np.median(x, axis=axis, keepdims=keepdims), data(shape))


@pytest.mark.parametrize("q", [0.3, 1.0, [0.0, 0.25, 0.5, 1.0], [[0.1], [0.9]]])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape, axis", CASES[::2])
def test_quantile_and_percentile(shape, axis, q, keepdims):
    x = data(shape)
    check_numpy(lambda x: np.quantile(x, q, axis=axis, keepdims=keepdims), x)
    check_numpy(lambda x: np.percentile(x, np.multiply(q, 100), axis=axis, keepdims=keepdims),
                x, float32=False)


@pytest.mark.parametrize("method", ["inverted_cdf", "averaged_inverted_cdf",
                                    "closest_observation", "interpolated_inverted_cdf",
                                    "hazen", "weibull", "linear", "median_unbiased",
                                    "normal_unbiased", "lower", "higher", "midpoint",
                                    "nearest"])
def test_every_quantile_method(method):
    q = [0.0, 0.05, 0.3, 0.5, 0.72, 1.0]
    check_numpy(lambda x: np.quantile(x, q, axis=1, method=method), data((3, 7)))
    check_numpy(lambda x: np.percentile(x, 40, method=method), data((6,)))


def test_median_and_quantile_are_nan_where_a_lane_has_one():
    x = np.array([[1.0, np.nan, 3.0, 0.5], [2.0, 1.0, 4.0, 0.0]])
    t = tg.tensor(x, requires_grad=True)
    for ours, want in ((np.median(t, axis=1), np.median(x, axis=1)),
                       (np.quantile(t, [0.2, 0.5], axis=1), np.quantile(x, [0.2, 0.5], axis=1))):
        np.testing.assert_array_equal(ours.value, want)
    np.median(t, axis=1)[1].backward()
    np.testing.assert_array_equal(t.grad, [[0, 0, 0, 0], [0.5, 0.5, 0, 0]])


# --- nan-skipping reductions ---------------------------------------------------------

NAN_FUNCTIONS = {
    "nansum": lambda x, axis, keepdims: np.nansum(x, axis=axis, keepdims=keepdims),
    "nanprod": lambda x, axis, keepdims: np.nanprod(x, axis=axis, keepdims=keepdims),
    "nanmean": lambda x, axis, keepdims: np.nanmean(x, axis=axis, keepdims=keepdims),
    "nanmax": lambda x, axis, keepdims: np.nanmax(x, axis=axis, keepdims=keepdims),
    "nanmin": lambda x, axis, keepdims: np.nanmin(x, axis=axis, keepdims=keepdims),
    "nanmedian": lambda x, axis, keepdims: np.nanmedian(x, axis=axis, keepdims=keepdims),
    "nanquantile": lambda x, axis, keepdims: np.nanquantile(x, [0.0, 0.3, 1.0], axis=axis,
                                                            keepdims=keepdims),
    "nanpercentile": lambda x, axis, keepdims: np.nanpercentile(x, 65, axis=axis,
                                                                keepdims=keepdims),
}


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape, axis", [((6,), None), ((3, 4), 0), ((3, 4), 1),
                                         ((3, 5), None), ((2, 3, 4), (0, 2))])
@pytest.mark.parametrize("name", list(NAN_FUNCTIONS))
def test_nan_functions(name, shape, axis, keepdims):
    f = NAN_FUNCTIONS[name]
    check_numpy(lambda x: f(with_nans(x), axis, keepdims), data(shape))  # nans by comparison
    x = data(shape, seed=1, nans=0.3)
    x.reshape(-1)[0] = 0.1  # no lane of nans only
    if axis == 0:
        x[0] = 0.1
    check_numpy(lambda x: f(x, axis, keepdims), x)  # nans in the data


@pytest.mark.parametrize("name", ["nanmean", "nanmax", "nanmin", "nanmedian", "nanquantile"])
def test_a_lane_of_nans_gives_nan(name):
    x = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = NAN_FUNCTIONS[name](x, 1, False)
        t = tg.tensor(x, requires_grad=True)
        out = NAN_FUNCTIONS[name](t, 1, False)
    np.testing.assert_array_equal(out.value, want)
    out[..., 0].sum().backward()
    assert np.isfinite(t.grad).all() and (t.grad[1] == 0).all()


def test_nan_functions_with_initial_dtype_and_values():
    x = np.array([[1.0, np.nan], [np.nan, np.nan]])
    t = tg.tensor(x)
    np.testing.assert_array_equal(np.nanmax(t, axis=1, initial=5.0).value,
                                  np.nanmax(x, axis=1, initial=5.0))
    np.testing.assert_array_equal(np.nansum(t, axis=0, initial=1.0).value,
                                  np.nansum(x, axis=0, initial=1.0))
    assert np.nanmean(t.astype(np.float32), axis=0).dtype == np.float32
    assert np.nansum(t, dtype=np.float32).dtype == np.float32
    v = tg.Value(np.nan)
    for f in (np.nansum, np.nanmax, np.nanmedian):
        out = f(v)
        assert isinstance(out, (tg.Value, Tensor))
    assert np.nansum(tg.Value(2.0)).value == 2.0


# --- running extrema -----------------------------------------------------------------

@pytest.mark.parametrize("ufunc", [np.maximum, np.minimum])
@pytest.mark.parametrize("shape, axis", [((6,), 0), ((3, 4), 0), ((3, 4), 1), ((3, 4), -1),
                                         ((2, 3, 4), 1), ((5,), None), ((1, 1), (0,))])
def test_running_extrema(ufunc, shape, axis):
    check_numpy(lambda x: ufunc.accumulate(x, axis=axis), data(shape))


def test_running_maximum_ties_go_to_the_latest_element():
    t = tg.tensor([1.0, 3.0, 3.0, 2.0, 3.0, 0.0], requires_grad=True)
    out = np.maximum.accumulate(t)
    np.testing.assert_array_equal(out.value, [1, 3, 3, 3, 3, 3])
    out.sum().backward()
    np.testing.assert_array_equal(t.grad, [1, 1, 2, 0, 2, 0])
    assert np.maximum.accumulate(t.astype(np.float32)).dtype == np.float32


# --- rounding --------------------------------------------------------------------------

@pytest.mark.parametrize("decimals", [-1, 0, 1, 3])
@pytest.mark.parametrize("function", [np.round, np.around])
def test_round(function, decimals):
    x = data((3, 4)) * 37.0
    check_numpy(lambda x: function(x, decimals) * x, x)
    x[0, :3] = [2.5, -0.5, 1.25]  # halves go to even
    for dtype in (np.float32, np.float64):
        t = tg.tensor(x.astype(dtype), requires_grad=True)
        out = function(t, decimals)
        np.testing.assert_array_equal(out.value, function(x.astype(dtype), decimals))
        out.sum().backward()
        assert out.dtype == dtype and not t.grad.any()
    assert np.round(tg.Value(2.5)).value == 2.0


# --- covariances -----------------------------------------------------------------------

COVARIANCES = [
    lambda x, y: np.cov(x),
    lambda x, y: np.cov(x, rowvar=False),
    lambda x, y: np.cov(x, bias=True),
    lambda x, y: np.cov(x, ddof=2),
    lambda x, y: np.cov(x[0], y),
    lambda x, y: np.cov(x.T, y[:, None], rowvar=False),
    lambda x, y: np.cov(x, fweights=[1, 2, 1, 3, 1]),
    lambda x, y: np.cov(x, aweights=y * y + 0.5, ddof=0),
    lambda x, y: np.cov(x, fweights=[2, 1, 1, 1, 2], aweights=[0.5, 1.0, 2.0, 1.0, 0.3]),
    lambda x, y: np.cov(x[0]),
    lambda x, y: np.corrcoef(x),
    lambda x, y: np.corrcoef(x, rowvar=False),
    lambda x, y: np.corrcoef(x[0], y),
    lambda x, y: np.corrcoef(x[1]),
]


@pytest.mark.parametrize("k", range(len(COVARIANCES)))
def test_cov_and_corrcoef(k):
    check_numpy(COVARIANCES[k], data((3, 5)), data((5,), seed=4))


# --- signals ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("n, m", [(5, 3), (3, 5), (4, 4), (6, 1), (1, 4), (5, 4), (4, 5)])
@pytest.mark.parametrize("function", [np.convolve, np.correlate])
def test_convolve_and_correlate(function, n, m, mode):
    check_numpy(lambda a, v: function(a, v, mode), data((n,)), data((m,), seed=2))
    a = data((n,))
    code = ["valid", "same", "full"].index(mode)
    check_numpy(lambda v: function(a, v, mode=code), data((m,), seed=2), float32=False)


INTERPOLATIONS = [
    lambda x, fp: np.interp(x, [-1.0, 0.0, 0.5, 2.0], fp),
    lambda x, fp: np.interp(x, [-1.0, 0.0, 0.5, 2.0], fp, left=-5.0, right=fp[0] * 2),
    lambda x, fp: np.interp(x * 97, [-170.0, 10.0, 100.0, 170.0], fp, period=-360),
    lambda x, fp: np.interp(x.reshape(2, 3), [0.5], fp[:1]),
    lambda x, fp: np.interp(x[:2], np.array([-1.0, 0.0, 0.5, 2.0]), fp, left=x[2] * 3),
]


@pytest.mark.parametrize("k", range(len(INTERPOLATIONS)))
def test_interp(k):
    x = np.array([-2.0, -0.7, 0.1, 0.4, 1.9, 2.6])
    check_numpy(INTERPOLATIONS[k], x, data((4,), seed=3))


def test_interp_at_the_sample_points_and_of_values():
    fp = tg.tensor([1.0, 3.0, 4.0], requires_grad=True)
    x = tg.tensor([0.0, 1.0, 2.0], requires_grad=True)
    out = np.interp(x, [0.0, 1.0, 2.0], fp)
    np.testing.assert_array_equal(out.value, [1.0, 3.0, 4.0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 1.0, 1.0])  # the piece to the right; the last
    np.testing.assert_array_equal(fp.grad, [1.0, 1.0, 1.0])
    v = tg.Value(0.25)
    y = np.interp(v, [0.0, 1.0], [2.0, 6.0])
    assert isinstance(y, tg.Value) and y.value == 3.0
    y.backward()
    assert v.grad == 4.0


@pytest.mark.parametrize("f", [
    lambda y, x: np.trapezoid(y),
    lambda y, x: np.trapezoid(y, dx=0.5, axis=0),
    lambda y, x: np.trapezoid(y, x[0], axis=1),
    lambda y, x: np.trapezoid(y, x * x, axis=-1),
    lambda y, x: np.trapezoid(y[0], x[0]),
])
def test_trapezoid(f):
    check_numpy(f, data((3, 4)), np.cumsum(np.abs(data((3, 4), seed=5)), axis=1))


@pytest.mark.parametrize("indexing", ["xy", "ij"])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("sizes", [(4,), (4, 3), (2, 3, 4)])
def test_meshgrid(sizes, indexing, sparse):
    arrays = [data((n,), seed=k) for k, n in enumerate(sizes)]
    check_numpy(lambda *xs: np.meshgrid(*xs, indexing=indexing, sparse=sparse), *arrays)


# --- polynomials -----------------------------------------------------------------------

@pytest.mark.parametrize("f", [
    lambda p, x: np.polyval(p, x),
    lambda p, x: np.polyval(p, 0.7),  # a Python number is weak: float32 stays
    lambda p, x: np.polyval(p[:1], x),
    lambda p, x: np.polyval(p.reshape(2, 2), x[0, :2]),
])
def test_polyval(f):
    check_numpy(f, data((4,)), data((2, 3), seed=1))


def test_polyval_of_constant_coefficients():  # float64 ones make float64, as in NumPy
    check_numpy(lambda x: np.polyval(np.array([1.0, -2.0, 0.5]), x), data((2, 3)),
                float32=False)
    v = tg.Value(2.0)
    y = np.polyval([1.0, 0.0, -1.0], v)
    assert isinstance(y, tg.Value) and y.value == 3.0


@pytest.mark.parametrize("increasing", [False, True])
@pytest.mark.parametrize("N", [None, 0, 1, 2, 5])
def test_vander(N, increasing):
    x = data((4,))
    x[1] = 0.0  # powers of zero are exact
    check_numpy(lambda x: np.vander(x, N, increasing), x)


@pytest.mark.parametrize("m", [0, 1, 2, 4, 6])
def test_polyder(m):
    check_numpy(lambda p: np.polyder(p, m), data((5,)))


@pytest.mark.filterwarnings("ignore::tapegrad.FrozenReadWarning")  # lstsq's rank: data
@pytest.mark.parametrize("f", [
    lambda x, y, w: np.polyfit(x, y, 1),
    lambda x, y, w: np.polyfit(x, y, 2),
    lambda x, y, w: np.polyfit(x, np.stack([y, w], axis=1), 2),
    lambda x, y, w: np.polyfit(np.linspace(0.0, 1.0, 6), y, 1, w=w * w + 0.5),
])
def test_polyfit(f):
    check_numpy(f, np.linspace(0, 1, 6) + 0.05 * data((6,)), data((6,), seed=1),
                data((6,), seed=2), float32=False)


# --- replays where the choices change ---------------------------------------------------

def _replayed(f, x0, x1, step=1e-6):
    """``f`` recorded at ``x0``; its replay and gradient at ``x1`` against NumPy."""
    w = np.random.default_rng(7).normal(size=np.shape(f(x0)))
    loss = lambda x: float(np.sum(np.asarray(f(x)) * w))
    rec = tg.record(lambda x: (f(x) * w).sum(), tg.tensor(x0))
    value, grad = rec.value_and_grad(x1)
    np.testing.assert_allclose(value, loss(x1), rtol=1e-10, atol=1e-12)
    eye = np.eye(x1.size).reshape((-1,) + x1.shape)
    fd = np.array([(loss(x1 + step * e) - loss(x1 - step * e)) / (2 * step) for e in eye])
    np.testing.assert_allclose(grad.reshape(-1), fd, rtol=1e-5, atol=1e-6)


REPLAYS = {
    "median": lambda x: np.median(x, axis=1),
    "quantile": lambda x: np.quantile(x, [0.2, 0.9], axis=0),
    "running max": lambda x: np.maximum.accumulate(x, axis=1),
    "running min": lambda x: np.minimum.accumulate(x, axis=0),
    "round": lambda x: np.round(x, 1) * x,
    "interp x": lambda x: np.interp(2 * x, [-1.0, 0.0, 0.5, 2.0], [0.0, 1.0, -1.0, 3.0]),
    "interp fp": lambda x: np.interp(np.array([-2.0, -0.3, 0.2, 0.7, 2.5]), [-1.0, 0.0, 0.5, 2.0],
                                     x[0, :4]),
    "nansum": lambda x: np.nansum(with_nans(x), axis=1),
    "nanmean": lambda x: np.nanmean(with_nans(x), axis=1),
    "nanmax": lambda x: np.nanmax(with_nans(x), axis=0),
    "nanmedian": lambda x: np.nanmedian(with_nans(x), axis=1),
    "nanquantile": lambda x: np.nanquantile(with_nans(x), [0.3, 1.0], axis=1),
}


@pytest.mark.parametrize("name", list(REPLAYS))
def test_a_replay_chooses_again(name):
    x0, x1 = data((3, 5)), data((3, 5), seed=9)
    _replayed(REPLAYS[name], x0, x1)


def test_a_replay_finds_the_nans_again():
    x0 = data((3, 5), nans=0.3)
    x0[:, 0] = 0.1
    x1 = data((3, 5), seed=2, nans=0.3)
    x1[:, 1] = 0.2
    for f in (lambda x: np.nanmean(x, axis=1), lambda x: np.nanmedian(x, axis=1),
              lambda x: np.nanmin(x, axis=1), lambda x: np.nanprod(x, axis=1)):
        _replayed(f, x0, x1)


def test_tensors_in_give_tensors_out():
    t = tg.tensor(data((3, 4)), requires_grad=True)
    outs = [np.median(t), np.quantile(t, [0.5]), np.nanmean(t), np.maximum.accumulate(t),
            np.round(t), np.cov(t), np.corrcoef(t), np.convolve(t[0], t[1]),
            np.interp(t, [0.0, 1.0], [1.0, 2.0]), np.trapezoid(t), *np.meshgrid(t[0], t[1]),
            np.polyval(t[0], t), np.vander(t[0]), np.polyder(t[0])]
    for out in outs:
        assert isinstance(out, Tensor), type(out)


# --- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, match", [
    (lambda t: np.median(t, out=np.zeros(3)), TypeError, r"numpy.median\(\.\.\., out="),
    (lambda t: np.quantile(t, 1.5), ValueError, r"numpy.quantile: Quantiles must be in"),
    (lambda t: np.percentile(t, -1), ValueError, r"numpy.percentile: Percentiles must be"),
    (lambda t: np.quantile(t, 0.5, method="fancy"), ValueError, "'fancy' is not a valid"),
    (lambda t: np.quantile(t, t[0, 0]), TypeError, "numpy.quantile: q must be constant"),
    (lambda t: np.quantile(t, 0.5, weights=np.ones((2, 3))), TypeError, "weights"),
    (lambda t: np.nanquantile(t, 0.5, method="lower"), TypeError, "only 'linear'"),
    (lambda t: np.median(t, axis=2), np.exceptions.AxisError, "numpy.median"),
    (lambda t: np.nansum(t, where=t > 0), TypeError, r"numpy.nansum\(\.\.\., where="),
    (lambda t: np.nanmean(t, out=np.zeros(3)), TypeError, "numpy.nanmean"),
    (lambda t: np.maximum.accumulate(t[0, 0]), TypeError, "cannot accumulate on a scalar"),
    (lambda t: np.minimum.accumulate(t, axis=None), ValueError, "multiple axes"),
    (lambda t: np.maximum.accumulate(t, dtype=np.int64), TypeError, "float dtype"),
    (lambda t: np.maximum.accumulate(t, out=np.zeros((2, 3))), TypeError, "out="),
    (lambda t: np.round(t, 1.5), TypeError, "numpy.round: decimals must be an integer"),
    (lambda t: np.cov(t.reshape(1, 2, 3)), ValueError, "numpy.cov: m has more than 2"),
    (lambda t: np.cov(t, ddof=1.5), ValueError, "numpy.cov: ddof must be integer"),
    (lambda t: np.cov(t, fweights=[1.5, 1, 1]), TypeError, "fweights must be integer"),
    (lambda t: np.cov(t, aweights=[-1.0, 1, 1]), ValueError, "aweights cannot be negative"),
    (lambda t: np.convolve(t, t[0]), ValueError, "numpy.convolve: a must be one-dimensional"),
    (lambda t: np.correlate(t[0], t[0, :0]), ValueError, "numpy.correlate: v cannot be empty"),
    (lambda t: np.correlate(t[0], t[1], "middle"), ValueError, "numpy.correlate: mode"),
    (lambda t: np.convolve(t[0], np.array([1j, 2.0])), TypeError, "complex"),
    (lambda t: np.interp(t, t[0], t[1]), TypeError, "numpy.interp: xp .* constant"),
    (lambda t: np.interp(t, [0.0, 1.0], t[0]), ValueError, "not of the same length"),
    (lambda t: np.interp(t, [], t[0, :0]), ValueError, "sample points is empty"),
    (lambda t: np.interp(t, [0.0, 1.0, 2.0], t[0], period=0), ValueError, "period"),
    (lambda t: np.trapezoid(t, axis=2), np.exceptions.AxisError, "numpy.trapezoid"),
    (lambda t: np.meshgrid(t[0], indexing="yx"), ValueError, "numpy.meshgrid"),
    (lambda t: np.polyval(t[0, 0], t), TypeError, "numpy.polyval: p must be a sequence"),
    (lambda t: np.vander(t), ValueError, "numpy.vander: x must be a one-dimensional"),
    (lambda t: np.polyder(t[0], -1), ValueError, "numpy.polyder: Order of derivative"),
    (lambda t: np.polyfit(t[0], t[1], 1, full=True), TypeError, "numpy.polyfit"),
    (lambda t: np.polyfit(t[0], t[1, :2], 1), TypeError, "same length"),
])
def test_bad_input_raises_naming_the_function(call, error, match):
    t = tg.tensor(data((2, 3)), requires_grad=True)
    with pytest.raises(error, match=match):
        call(t)


# --- PyTorch ------------------------------------------------------------------------------

def _against_torch(ours, theirs, *arrays, rtol=1e-12):
    import torch
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    want = theirs(*leaves)
    g = np.random.default_rng(11).normal(size=tuple(want.shape))
    (want * torch.tensor(g)).sum().backward()
    ts = [tg.tensor(a, requires_grad=True) for a in arrays]
    got = ours(*ts)
    np.testing.assert_allclose(got.value, want.detach().numpy(), rtol=rtol, atol=1e-14)
    (got * g).sum().backward()
    for t, leaf in zip(ts, leaves):
        np.testing.assert_allclose(t.grad, leaf.grad.numpy(), rtol=rtol, atol=1e-13)


@requires_torch
@pytest.mark.parametrize("dim", [0, 1])
def test_against_pytorch(dim):
    import torch
    x, y = data((4, 5)), data((5,), seed=3)
    x[1, 2] = x[1, 4]  # a tie for the running maxima
    q = [0.1, 0.5, 0.8]
    _against_torch(lambda x: np.quantile(x, q, axis=dim, keepdims=True),
                   lambda x: torch.quantile(x, torch.tensor(q, dtype=x.dtype), dim=dim,
                                            keepdim=True), x)
    _against_torch(lambda x: np.median(x, axis=1), lambda x: torch.median(x, dim=1).values, x)
    _against_torch(lambda x: np.maximum.accumulate(x, axis=dim),
                   lambda x: torch.cummax(x, dim=dim).values, x)
    _against_torch(lambda x: np.minimum.accumulate(x, axis=dim),
                   lambda x: torch.cummin(x, dim=dim).values, x)
    nan = np.where(x > 0.5, np.nan, x)
    _against_torch(lambda x: np.nanmean(x, axis=dim), lambda x: torch.nanmean(x, dim=dim), nan)
    _against_torch(lambda x: np.nansum(x, axis=dim), lambda x: torch.nansum(x, dim=dim), nan)
    _against_torch(lambda x: np.cov(x, rowvar=dim == 0),
                   lambda x: torch.cov(x if dim == 0 else x.T), x)
    _against_torch(lambda x, w: np.cov(x, aweights=w), lambda x, w: torch.cov(x, aweights=w),
                   x, np.abs(y) + 0.1)
    _against_torch(lambda x: np.corrcoef(x), lambda x: torch.corrcoef(x), x)
    _against_torch(lambda y, x: np.trapezoid(y, x, axis=dim),
                   lambda y, x: torch.trapezoid(y, x, dim=dim), x, np.cumsum(np.abs(x), axis=dim))
    _against_torch(lambda x: np.round(x, 2) * x, lambda x: torch.round(x, decimals=2) * x, x)
    _against_torch(lambda y: np.vander(y, 4, increasing=dim == 1),
                   lambda y: torch.linalg.vander(y, N=4) if dim == 1 else
                   torch.linalg.vander(y, N=4).flip(-1), y)


@requires_torch
@pytest.mark.parametrize("n, m", [(6, 3), (3, 6), (4, 4)])
def test_correlate_against_pytorch(n, m):
    import torch
    a, v = data((n,)), data((m,), seed=4)
    conv = lambda a, v: torch.nn.functional.conv1d(a[None, None], v[None, None],
                                                   padding=len(v) - 1)[0, 0]
    _against_torch(lambda a, v: np.correlate(a, v, "full"), conv, a, v)
    _against_torch(lambda a, v: np.convolve(a, v, "full"), lambda a, v: conv(a, v.flip(0)), a, v)
