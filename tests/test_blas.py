"""tapegrad/kernels/blas.py, the ctypes binding of triangular BLAS/LAPACK
(``trsm``, ``trmm``, ``trtri``), against NumPy and against its own NumPy
fallback; how it finds (tapegrad/kernels/blas_library.py), checks and
refuses a library; and the rules that call it (Cholesky's VJP and JVP by
halves, QR's) with BLAS and without."""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.array.ops import ARRAY_OPS
from tapegrad.array.ops import linalg as rules
from tapegrad.kernels import blas, blas_library
from numpy_checks import check_numpy

requires_blas = pytest.mark.skipif(not blas.available(), reason=f"no BLAS: {blas.status()}")
FLOATS = [np.float64, np.float32]
TOL = {np.float64: 1e-10, np.float32: 2e-4}


def _rng(seed=0):
    return np.random.default_rng(seed)


def triangular(shape, lower, dtype=np.float64, seed=0):
    """Well-conditioned triangular matrices (their triangle: a strong
    diagonal), with noise in the other triangle, which must never be read."""
    n = shape[-1]
    a = _rng(seed).normal(size=shape)
    a = a + np.sign(np.diagonal(a, 0, -2, -1))[..., None, :] * 2 * np.sqrt(n) * np.eye(n)
    return a.astype(dtype)


def op_of(a, lower, trans=False, unit=False):
    t = np.tril(a) if lower else np.triu(a)
    if unit:
        eye = np.eye(a.shape[-1])
        t = t * (1 - eye) + eye
    return np.swapaxes(t, -1, -2) if trans else t


def spd(shape, seed=0):
    """Symmetric positive definite matrices, with noise in the upper
    triangle (Cholesky reads the lower one)."""
    rng = _rng(seed)
    m = rng.normal(size=shape)
    a = m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])
    return a + 0.3 * np.triu(rng.normal(size=shape), 1)


@pytest.fixture
def numpy_only(monkeypatch):
    """As on a platform without the library: every caller takes NumPy."""
    monkeypatch.setattr(blas, "available", lambda dtype=np.float64: False)


# --- the binding -----------------------------------------------------------------

@requires_blas
def test_found_and_checked_for_both_floats():
    assert blas.available(np.float64) and blas.available(np.float32)
    assert "bit integers" in blas.status()
    assert not blas.available(np.int64) and not blas.available(np.complex128)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("trans", [False, True])
@pytest.mark.parametrize("unit", [False, True])
def test_trsm_and_trmm_against_numpy(dtype, lower, side, trans, unit):
    a = triangular((7, 7), lower, dtype)
    b = _rng(1).normal(size=(7, 4) if side == "left" else (4, 7)).astype(dtype)
    t = op_of(a.astype(np.float64), lower, trans, unit)
    x = blas.trsm(a, b, lower=lower, side=side, trans=trans, unit=unit)
    product = blas.trmm(a, b, lower=lower, side=side, trans=trans, unit=unit)
    assert x.dtype == dtype and product.dtype == dtype
    np.testing.assert_allclose(t @ x if side == "left" else x @ t, b, rtol=TOL[dtype],
                               atol=TOL[dtype])
    np.testing.assert_allclose(product, t @ b if side == "left" else b @ t, rtol=TOL[dtype],
                               atol=TOL[dtype])


def _layouts(x):
    """``x`` as C- and Fortran-ordered arrays, column and row slices, and
    reversed (negative strides): equal values, different strides."""
    wide = np.zeros((x.shape[0], 2 * x.shape[1]), dtype=x.dtype)
    wide[:, ::2] = x
    tall = np.zeros((2 * x.shape[0], x.shape[1]), dtype=x.dtype)
    tall[1::2] = x
    return [x.copy(), np.asfortranarray(x), wide[:, ::2], tall[1::2], np.ascontiguousarray(x.T).T,
            np.ascontiguousarray(x[::-1, ::-1])[::-1, ::-1]]


@pytest.mark.parametrize("routine", [blas.trsm, blas.trmm])
@pytest.mark.parametrize("side", ["left", "right"])
def test_any_layout_gives_the_same(routine, side):
    a = triangular((6, 6), True)
    b = _rng(2).normal(size=(6, 3) if side == "left" else (3, 6))
    want = routine(a, b, lower=True, side=side)
    for a_as in _layouts(a):
        for b_as in _layouts(b):
            kept = b_as.copy()
            np.testing.assert_allclose(routine(a_as, b_as, lower=True, side=side, trans=False),
                                       want, rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(b_as, kept)  # not overwritten unless asked


@pytest.mark.parametrize("routine", [blas.trsm, blas.trmm])
def test_overwrite_b(routine):
    a = triangular((5, 5), False)
    b = _rng(3).normal(size=(5, 2))
    want = routine(a, b, lower=False)
    for b_as in _layouts(b):
        got = routine(a, b_as, lower=False, overwrite_b=True)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert got is b_as
        np.testing.assert_allclose(b_as, want, rtol=1e-12, atol=1e-12)
    single = b.astype(np.float32)  # promoted with a float64 a: a new array
    got = routine(a, single, lower=False, overwrite_b=True)
    assert got.dtype == np.float64 and got is not single


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("routine, form", [
    (blas.trsm, lambda t, b: np.linalg.solve(t, b)), (blas.trmm, lambda t, b: t @ b)])
def test_stacks_broadcast(dtype, routine, form):
    a = triangular((2, 1, 6, 6), True, dtype)
    b = _rng(4).normal(size=(3, 6, 2)).astype(dtype)
    got = routine(a, b, lower=True, trans=True)
    assert got.shape == (2, 3, 6, 2) and got.dtype == dtype
    want = form(op_of(a.astype(np.float64), True, trans=True), b)
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("n", [1, 5, 64, 129, 300])
def test_trtri(dtype, lower, n):
    a = triangular((n, n), lower, dtype, seed=n)
    x = blas.trtri(a, lower=lower)
    assert x.dtype == dtype and x.flags.c_contiguous
    other = np.triu(x, 1) if lower else np.tril(x, -1)
    assert not other.any()
    np.testing.assert_allclose(x @ op_of(a, lower).astype(dtype), np.eye(n),
                               atol=10 * TOL[dtype])


def test_trtri_stacks_and_layouts():
    a = triangular((2, 3, 150, 150), False)
    x = blas.trtri(np.swapaxes(a, -1, -2), lower=True)  # Fortran-ordered matrices
    want = np.linalg.inv(op_of(np.swapaxes(a, -1, -2), True))
    np.testing.assert_allclose(x, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("blas_on", [True, False])
def test_singular_trtri_raises_as_numpy(blas_on, monkeypatch):
    if not blas_on:
        monkeypatch.setattr(blas, "available", lambda dtype=np.float64: False)
    a = triangular((4, 4), True)
    a[2, 2] = 0.0
    with pytest.raises(np.linalg.LinAlgError):
        blas.trtri(a, lower=True)


@pytest.mark.parametrize("call, error, match", [
    (lambda: blas.trsm(np.ones((3, 2)), np.ones((3, 1)), lower=True), ValueError, "square"),
    (lambda: blas.trsm(np.eye(3), np.ones((2, 1)), lower=True), ValueError, "does not fit"),
    (lambda: blas.trmm(np.eye(3), np.ones((3, 2)), lower=True, side="right"), ValueError,
     "does not fit"),
    (lambda: blas.trmm(np.eye(3), np.ones((3, 1)), lower=True, side="up"), ValueError, "side"),
    (lambda: blas.trsm(np.eye(2) * 1j, np.ones((2, 1)), lower=True), TypeError, "float"),
    (lambda: blas.trtri(np.ones((2, 3)), lower=True), ValueError, "square"),
    (lambda: blas.trtri(np.eye(2, dtype=complex), lower=True), TypeError, "float"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("dtype", FLOATS)
def test_numpy_fallback_gives_the_same(dtype, monkeypatch):
    a = triangular((2, 140, 140), False, dtype)
    b = _rng(5).normal(size=(2, 140, 30)).astype(dtype)
    results = [blas.trsm(a, b, lower=False, trans=True), blas.trmm(a, b, lower=False),
               blas.trtri(a, lower=False)]
    monkeypatch.setattr(blas, "available", lambda dtype=np.float64: False)
    fallback = [blas.trsm(a, b, lower=False, trans=True), blas.trmm(a, b, lower=False),
                blas.trtri(a, lower=False)]
    for got, want in zip(results, fallback):
        assert got.dtype == want.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])


@requires_blas
def test_a_routine_that_disagrees_is_not_used(monkeypatch):
    real = blas._get()
    wrong = blas._Binding()
    wrong.functions, wrong.integer, wrong.one = dict(real.functions), real.integer, real.one
    wrong.reason = real.reason
    wrong.functions[(np.dtype(np.float64), "trsm")] = real.functions[(np.dtype(np.float64),
                                                                      "trmm")]
    monkeypatch.setattr(blas, "_binding", wrong)
    assert not blas.available(np.float64)
    assert blas.available(np.float32)
    assert "float64 not used: trsm" in blas.status()
    a, b = triangular((4, 4), True), _rng(6).normal(size=(4, 2))
    np.testing.assert_allclose(op_of(a, True) @ blas.trsm(a, b, lower=True), b, atol=1e-12)


def test_no_library_means_numpy(monkeypatch):
    monkeypatch.setattr(blas, "_binding", None)
    monkeypatch.setattr(blas_library, "candidates", list)
    assert not blas.available(np.float64)
    assert "no library" in blas.status()
    a, b = triangular((4, 4), False), _rng(7).normal(size=(4, 3))
    np.testing.assert_allclose(op_of(a, False) @ blas.trsm(a, b, lower=False), b, atol=1e-12)


def test_layout_reading():
    x = np.zeros((4, 6))
    assert blas._layout(x) == (True, 6)
    assert blas._layout(np.asfortranarray(x)) == (False, 4)
    assert blas._layout(x[:, :3]) == (True, 6)
    assert blas._layout(x.T[:3]) == (False, 6)
    assert blas._layout(x[:, ::2]) is None
    assert blas._layout(x[::-1]) is None


# --- the rules that use it ---------------------------------------------------------

def _rules_both_ways(name, params, a, g, monkeypatch):
    """The op's VJP and JVP on ndarrays, as they are and with NumPy only."""
    op = ARRAY_OPS[name]
    out = op.value([a], params)
    g = g.astype(a.dtype)
    results = [op.vjp(g, out, [a], params)[0], op.jvp([a[..., ::-1, :].copy()], out, [a], params)]
    with monkeypatch.context() as m:
        m.setattr(blas, "available", lambda dtype=np.float64: False)
        fallback = [op.vjp(g, out, [a], params)[0],
                    op.jvp([a[..., ::-1, :].copy()], out, [a], params)]
    return results, fallback


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("shape", [(40, 40), (65, 65), (131, 131), (200, 200), (2, 1, 90, 90)])
def test_cholesky_rules_the_same_with_and_without_blas(dtype, upper, shape, monkeypatch):
    a = spd(shape).astype(dtype)
    a = np.swapaxes(a, -1, -2) if upper else a
    g = _rng(8).normal(size=shape)
    results, fallback = _rules_both_ways("cholesky", {"upper": upper}, a, g, monkeypatch)
    for got, want in zip(results, fallback):
        assert got.dtype == want.dtype == dtype
        scale = np.abs(want).max()
        np.testing.assert_allclose(got / scale, want / scale, atol=50 * TOL[dtype])
        triangle = np.tril(got, -1) if upper else np.triu(got, 1)
        assert not triangle.any()


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("complete", [False, True])
@pytest.mark.parametrize("shape", [(200, 170), (170, 200), (3, 70, 70)])
def test_qr_rules_the_same_with_and_without_blas(dtype, complete, shape, monkeypatch):
    a = _rng(9).normal(size=shape).astype(dtype)
    op = ARRAY_OPS["qr"]
    out = op.value([a], {"complete": complete})
    g = _rng(10).normal(size=out.shape)
    results, fallback = _rules_both_ways("qr", {"complete": complete}, a, g, monkeypatch)
    for got, want in zip(results, fallback):
        assert got.dtype == want.dtype == dtype
        scale = np.abs(want).max()
        np.testing.assert_allclose(got / scale, want / scale, atol=50 * TOL[dtype])


def test_rules_call_blas_on_ndarrays_only():
    a = np.eye(40)
    assert rules.on_blas(a, a) == blas.available()
    assert not rules.on_blas(tg.tensor(a), a)
    assert not rules.on_blas(a, a.astype(np.float32))
    assert not rules.on_blas(np.eye(8), np.eye(8))


@pytest.fixture
def small_halves(monkeypatch):
    """Every BLAS path of the rules on small matrices: Cholesky by halves
    down to order 3, trmm products and trtri by halves from order 4."""
    monkeypatch.setattr(rules, "_BLAS_FROM", 2)
    monkeypatch.setattr(rules, "_CHOLESKY_LEAF", 3)
    monkeypatch.setattr(rules, "_TRMM_FROM", 4)
    monkeypatch.setattr(blas, "_HALVES_ABOVE", 4)


@pytest.mark.parametrize("shape", [(11, 11), (2, 8, 8)])
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_by_halves_through_tapegrad(shape, upper, small_halves):
    """Gradient against central differences, forward mode, hvp (derived by
    forward mode through the VJP on Tensors, the NumPy form), replay and
    float32, with the BLAS paths taken wherever arrays are plain."""
    a = spd(shape)
    check_numpy(lambda a: np.linalg.cholesky(a, upper=upper),
                np.swapaxes(a, -1, -2) if upper else a)


@pytest.mark.parametrize("shape", [(10, 7), (7, 10), (2, 6, 6)])
def test_qr_on_blas_through_tapegrad(shape, small_halves):
    def f(a):
        q, r = np.linalg.qr(a)
        return np.abs(q), np.abs(r)  # the signs are NumPy's choice

    check_numpy(f, _rng(11).normal(size=shape) + 3 * np.eye(*shape[-2:]))
