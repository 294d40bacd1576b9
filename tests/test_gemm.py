"""tapegrad/kernels/gemm.py, BLAS's gemm called from compiled kernels (and,
with the JIT off, through ctypes), against ``np.matmul``: every
transposition, C and Fortran order, slices with rows further apart than
they are long, empty and one-row matrices; what it refuses."""

import numba
import numpy as np
import pytest

from tapegrad.kernels import gemm

FLOATS = [np.float64, np.float32]
TOL = {np.float64: 1e-12, np.float32: 1e-4}
requires_gemm = pytest.mark.skipif(not gemm.address(np.float64), reason="no BLAS gemm bound")


def _laid(x, how):
    """``x`` (a matrix) laid out as ``how``: C, F, or a slice of a wider
    C-ordered ("rows") or taller Fortran-ordered ("columns") array."""
    if how == "C":
        return np.ascontiguousarray(x)
    if how == "F":
        return np.asfortranarray(x)
    if how == "rows":
        wide = np.full((x.shape[0], x.shape[1] + 3), np.nan, x.dtype)
        wide[:, 1:-2] = x
        return wide[:, 1:-2]
    tall = np.asfortranarray(np.full((x.shape[0] + 3, x.shape[1]), np.nan, x.dtype))
    tall[2:-1] = x
    return tall[2:-1]


@requires_gemm
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("how", ["C", "F", "rows", "columns"])
def test_products_agree_with_numpy(dtype, ta, tb, how):
    rng = np.random.default_rng(hash((ta, tb, how)) % 1000)
    for m, k, n in [(3, 4, 5), (1, 7, 2), (6, 1, 1), (17, 9, 33), (2, 0, 3)]:
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        wide = np.full((m, n + 2), 7.0, dtype)
        out = wide[:, 1:-1]
        gemm.product(gemm.address(dtype), _laid(a, how), ta, _laid(b, how), tb, out)
        want = (a.T if ta else a) @ (b.T if tb else b)
        np.testing.assert_allclose(out, want, rtol=TOL[dtype], atol=TOL[dtype])
        assert (wide[:, 0] == 7.0).all() and (wide[:, -1] == 7.0).all()


@requires_gemm
def test_an_empty_product_writes_nothing():
    out = np.empty((0, 3))
    gemm.product(gemm.address(np.float64), np.ones((0, 2)), False, np.ones((2, 3)), False, out)
    assert out.shape == (0, 3)


@requires_gemm
def test_a_matrix_blas_cannot_read_is_refused():
    a = np.ones((4, 6))[::2, ::2]  # neither rows nor columns adjacent
    with pytest.raises(ValueError, match="cannot read"):
        gemm.product(gemm.address(np.float64), a, False, np.ones((3, 2)), False,
                     np.empty((2, 2)))


def test_only_float_routines_have_an_address():
    assert gemm.address(np.int64) == 0
    assert gemm.address(np.complex128) == 0
    assert gemm.address(np.float64) == gemm.address("float64")  # checked once, kept


def test_no_address_is_refused_not_called():
    with pytest.raises(ValueError, match="address is 0"):
        gemm.product(0, np.ones((2, 2)), False, np.ones((2, 2)), False, np.empty((2, 2)))


@requires_gemm
def test_matrices_of_two_dtypes_are_refused_before_any_call():
    refused = TypeError if numba.config.DISABLE_JIT else numba.core.errors.TypingError
    with pytest.raises(refused):
        gemm.product(gemm.address(np.float64), np.ones((2, 2)), False,
                     np.ones((2, 2), np.float32), False, np.empty((2, 2)))


requires_gemv = pytest.mark.skipif(not gemm.address(np.float64, "gemv"),
                                   reason="no BLAS gemv bound")


@requires_gemv
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("trans", [False, True])
@pytest.mark.parametrize("how", ["C", "F", "rows", "columns"])
def test_matrix_vector_products_agree_with_numpy(dtype, trans, how):
    """gemv on every layout; on a C- or Fortran-ordered matrix of two rows
    or more, NumPy's ``matmul`` calls the same routine: the same bits."""
    rng = np.random.default_rng(hash((trans, how)) % 1000)
    for m, k in [(3, 4), (1, 7), (6, 1), (17, 90), (2, 0), (0, 3)]:
        a = rng.standard_normal((m, k)).astype(dtype)
        v = rng.standard_normal(m if trans else k).astype(dtype)
        out = np.full(k if trans else m, 7.0, dtype)
        gemm.matrix_vector(gemm.address(dtype, "gemv"), _laid(a, how), trans, v, out)
        want = (a.T if trans else a) @ v
        np.testing.assert_allclose(out, want, rtol=TOL[dtype], atol=TOL[dtype])
        if how in ("C", "F") and min(m, k) > 1:
            laid = _laid(a, how)
            assert np.array_equal(out, np.matmul(laid.T if trans else laid, v))


@requires_gemv
def test_a_matrix_gemv_cannot_read_is_refused():
    with pytest.raises(ValueError, match="cannot read"):
        gemm.matrix_vector(gemm.address(np.float64, "gemv"), np.ones((4, 6))[::2, ::2], False,
                           np.ones(3), np.empty(2))
    with pytest.raises(ValueError, match="address is 0"):
        gemm.matrix_vector(0, np.ones((2, 2)), False, np.ones(2), np.empty(2))


@pytest.mark.skipif(not gemm.address(np.float64, "dot"), reason="no BLAS dot bound")
@pytest.mark.parametrize("dtype", FLOATS)
def test_dot_products_are_numpys_bit_for_bit(dtype):
    rng = np.random.default_rng(5)
    for n in (0, 1, 7, 33, 1000):
        x, y = (rng.standard_normal(n).astype(dtype) for _ in range(2))
        assert gemm.vector_dot(gemm.address(dtype, "dot"), x, y) == np.dot(x, y) == x @ y
    with pytest.raises(ValueError, match="two lengths"):
        gemm.vector_dot(gemm.address(dtype, "dot"), np.ones(3, dtype), np.ones(2, dtype))
    with pytest.raises(ValueError, match="address is 0"):
        gemm.vector_dot(0, np.ones(3, dtype), np.ones(3, dtype))
