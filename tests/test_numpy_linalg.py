"""numpy.linalg on Tensors (tapegrad/numpy/linalg.py, tapegrad/array/ops/linalg.py
and decompositions.py): values, gradients, forward mode, hvp, replay and
float32 against NumPy itself (tests/numpy_checks.py), the documented
behaviour where a derivative does not exist, errors, and PyTorch."""

import math
import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.array import Tensor
from tapegrad.array.ops import ARRAY_OPS
from tapegrad.array.ops.linalg import triangular_inverse
from tapegrad.core.numpy_protocol import FUNCTIONS
from conftest import requires_torch
from numpy_checks import check_numpy

la = np.linalg
INF = math.inf


def _rng(seed=0):
    return np.random.default_rng(seed)


def well(shape, seed=0):
    """Random square matrices ``shape``, well conditioned (``+ n I``)."""
    return _rng(seed).normal(size=shape) + shape[-1] * np.eye(shape[-1])


def spectral(shape, seed=0, skew=0.3):
    """``Q diag(s) Q^T`` with distinct ``s`` (gaps >= 0.5), plus ``skew``
    times noise in the upper triangle, which the lower-reading functions
    (eigh, cholesky with their defaults) must ignore."""
    rng = _rng(seed)
    n = shape[-1]
    q, _ = la.qr(rng.normal(size=shape))
    s = np.arange(1.0, n + 1.0) * 0.75 + 0.5
    a = (q * s) @ np.swapaxes(q, -1, -2)
    return a + skew * np.triu(rng.normal(size=shape), 1)


def _upper(a):
    """``a`` with its noise moved to the lower triangle (for the ``U`` variants)."""
    return np.swapaxes(a, -1, -2)


BATCHES = [(3, 3), (2, 3, 3), (1, 1), (2, 1, 4, 4)]


# --- solve, inv, det, slogdet ------------------------------------------------

@pytest.mark.parametrize("sa, sb", [
    ((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (3,)), ((2, 3, 3), (2, 3, 1)),
    ((3, 3), (2, 3, 2)), ((2, 1, 3, 3), (4, 3, 2)), ((1, 1), (1,)),
])
def test_solve(sa, sb):
    check_numpy(la.solve, well(sa), _rng(1).normal(size=sb))


def test_solve_with_a_constant_side():
    a, b = well((3, 3)), _rng(1).normal(size=(3, 2))
    # float64 constants promote float32 arguments, in NumPy as here
    check_numpy(lambda b: la.solve(a, b), b, float32=False)
    check_numpy(lambda a: la.solve(a, b), a, float32=False)


@pytest.mark.parametrize("shape", BATCHES)
@pytest.mark.parametrize("f", [la.inv, la.det, lambda a: tuple(la.slogdet(a))],
                         ids=["inv", "det", "slogdet"])
def test_inverse_and_determinants(f, shape):
    check_numpy(f, well(shape) * np.where(np.arange(shape[-1]) % 2, -1.0, 1.0))


def test_det_gradient_at_a_singular_matrix_is_the_cofactor():
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])  # rank 2
    cofactor = np.array([[np.linalg.det(np.delete(np.delete(a, i, 0), j, 1)) * (-1) ** (i + j)
                          for j in range(3)] for i in range(3)])
    t = tg.tensor(a, requires_grad=True)
    la.det(t).backward()
    np.testing.assert_allclose(t.grad, cofactor, atol=1e-12)
    rank_one = tg.tensor(np.outer([1.0, 2.0, 3.0], [1.0, -1.0, 2.0]), requires_grad=True)
    la.det(rank_one).backward()  # every 2 x 2 minor vanishes too
    np.testing.assert_allclose(rank_one.grad, np.zeros((3, 3)), atol=1e-12)


def test_slogdet_sign_is_data_and_singular_gradient_raises():
    t = tg.tensor(np.diag([2.0, -3.0]), requires_grad=True)
    sign, logdet = la.slogdet(t)
    assert isinstance(sign, Tensor) and float(sign.value) == -1.0
    (sign * 5.0 + logdet).backward()
    np.testing.assert_allclose(t.grad, np.diag([0.5, -1.0 / 3.0]))
    singular = tg.tensor(np.zeros((2, 2)), requires_grad=True)
    sign, logdet = la.slogdet(singular)
    assert float(logdet.value) == -INF
    with pytest.raises(la.LinAlgError):
        logdet.backward()


# --- cholesky, eigh, eigvalsh --------------------------------------------------

@pytest.mark.parametrize("shape", BATCHES)
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_reads_one_triangle(shape, upper):
    a = spectral(shape)
    check_numpy(lambda a: la.cholesky(a, upper=upper), _upper(a) if upper else a)


@pytest.mark.parametrize("shape", BATCHES)
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh(shape, uplo):
    a = spectral(shape, seed=2)

    def f(a):
        w, v = la.eigh(a, UPLO=uplo)  # gauge-invariant: |v| and V f(w) V^T
        return w, np.abs(v), (v * np.exp(-w)[..., None, :]) @ np.swapaxes(v, -1, -2)

    check_numpy(f, a if uplo == "L" else _upper(a))
    check_numpy(lambda a: la.eigvalsh(a, UPLO=uplo), a if uplo == "L" else _upper(a))


def test_eigh_repeated_eigenvalues_choose_zero_rotation():
    """At a repeated eigenvalue the gap 1 / (w_j - w_i) is taken as 0: a
    function of the eigenvalues alone still gets its exact gradient, and
    the eigenvectors' gradient is finite (PyTorch gives inf or nan)."""
    q, _ = la.qr(_rng(3).normal(size=(3, 3)))
    a = (q * np.array([1.0, 1.0, 2.0])) @ q.T
    t = tg.tensor(a, requires_grad=True)
    w, v = la.eigh(t)
    (w ** 2).sum().backward()  # d trace(a^2) = 2 a, on the lower triangle
    np.testing.assert_allclose(t.grad, np.tril(4.0 * a) - np.diag(np.diag(2.0 * a)),
                               atol=1e-12)
    t = tg.tensor(a, requires_grad=True)
    w, v = la.eigh(t)
    (np.abs(v) * np.arange(9.0).reshape(3, 3)).sum().backward()
    assert np.all(np.isfinite(t.grad))
    t = tg.tensor(np.eye(3), requires_grad=True)
    la.eigvalsh(t).sum().backward()
    np.testing.assert_allclose(t.grad, np.eye(3), atol=1e-12)


# --- svd ------------------------------------------------------------------------

SVD_SHAPES = [(4, 3), (3, 4), (3, 3), (2, 4, 3), (2, 3, 5), (1, 1)]


def _svd_loss(full):
    def f(a):
        u, s, vh = la.svd(a, full_matrices=full)
        k = s.shape[-1]
        u, vh = u[..., :k], vh[..., :k, :]  # the columns beyond min(m, n) are a gauge
        return s, np.abs(u), np.abs(vh), (u * (s ** 2)[..., None, :]) @ vh
    return f


@pytest.mark.parametrize("shape", SVD_SHAPES)
@pytest.mark.parametrize("full", [False, True])
def test_svd(shape, full):
    check_numpy(_svd_loss(full), _rng(4).normal(size=shape))


@pytest.mark.parametrize("shape", SVD_SHAPES)
def test_singular_values(shape):
    a = _rng(5).normal(size=shape)
    check_numpy(lambda a: la.svd(a, compute_uv=False), a)
    check_numpy(la.svdvals, a)


def test_svd_repeated_and_zero_singular_values_stay_finite():
    q, _ = la.qr(_rng(6).normal(size=(3, 3)))  # every singular value 1
    t = tg.tensor(q, requires_grad=True)
    u, s, vh = la.svd(t)
    (s ** 2).sum().backward()  # the squared Frobenius norm: 2 a
    np.testing.assert_allclose(t.grad, 2.0 * q, atol=1e-12)
    t = tg.tensor(np.outer([1.0, 2.0, 0.0, 1.0], [1.0, 0.0, 2.0]), requires_grad=True)
    u, s, vh = la.svd(t, full_matrices=False)  # rank 1: two zero singular values
    ((u * s[None, :]) @ vh * np.arange(12.0).reshape(4, 3)).sum().backward()
    assert np.all(np.isfinite(t.grad))


# --- qr -------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (3, 3), (2, 4, 2), (2, 2, 3), (1, 1)])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr(shape, mode):
    def f(a):
        if mode == "r":
            return la.qr(a, mode="r")
        q, r = la.qr(a, mode=mode)
        k = min(shape[-2:])
        return q[..., :k], r  # Q's columns beyond min(m, n) are a gauge

    check_numpy(f, _rng(7).normal(size=shape) + np.eye(*shape[-2:]))


# --- pinv, matrix_power, lstsq ------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (3, 3), (2, 4, 2)])
def test_pinv(shape):
    check_numpy(la.pinv, _rng(8).normal(size=shape))


def test_pinv_hermitian_reads_the_lower_triangle():
    check_numpy(lambda a: la.pinv(a, hermitian=True), spectral((3, 3), seed=9))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 6, -1, -3])
@pytest.mark.parametrize("shape", [(3, 3), (2, 2, 2)])
def test_matrix_power(n, shape):
    check_numpy(lambda a: la.matrix_power(a, n), well(shape) / shape[-1])


@pytest.mark.parametrize("sa, sb", [((5, 3), (5, 2)), ((5, 3), (5,)), ((3, 5), (3,)),
                                    ((3, 3), (3, 2))])
def test_lstsq(sa, sb):
    a, b = _rng(10).normal(size=sa), _rng(11).normal(size=sb)
    _, residuals, rank, _ = la.lstsq(tg.tensor(a), tg.tensor(b))
    want = la.lstsq(a, b)
    assert rank == want[2] and residuals.shape == want[1].shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rank is read at trace time, and warns
        check_numpy(lambda a, b: tuple(la.lstsq(a, b)[i] for i in (0, 1, 3)
                                       if np.size(want[i])), a, b)


# --- norms ----------------------------------------------------------------------

VECTOR_ORDS = [None, 2, 1, INF, -INF, 0, 3, 0.5, -1.5]
MATRIX_ORDS = [None, "fro", "nuc", 1, -1, 2, -2, INF, -INF]


@pytest.mark.parametrize("ord", VECTOR_ORDS)
@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, True), (-1, False)])
def test_vector_norms(ord, axis, keepdims):
    x = _rng(12).normal(size=(5,) if axis is None else (3, 5))
    check_numpy(lambda x: la.norm(x, ord, axis=axis, keepdims=keepdims), x)


@pytest.mark.parametrize("ord", MATRIX_ORDS)
@pytest.mark.parametrize("axis, keepdims", [(None, False), ((0, 1), True), ((2, 0), False),
                                            ((-1, 1), True)])
def test_matrix_norms(ord, axis, keepdims):
    x = _rng(13).normal(size=(3, 4) if axis is None else (3, 4, 5))
    check_numpy(lambda x: la.norm(x, ord, axis=axis, keepdims=keepdims), x)


@pytest.mark.parametrize("keepdims", [False, True])
def test_norm_of_everything_and_array_api_norms(keepdims):
    x = _rng(14).normal(size=(2, 3, 4))
    check_numpy(lambda x: la.norm(x, keepdims=keepdims), x)
    check_numpy(lambda x: la.vector_norm(x, axis=(0, 2), ord=3, keepdims=keepdims), x)
    check_numpy(lambda x: la.vector_norm(x, keepdims=keepdims), x)
    check_numpy(lambda x: la.matrix_norm(x, ord="nuc", keepdims=keepdims), x)


def test_norm_of_a_value_and_the_gradient_at_zero():
    v = tg.Value(-2.5)
    n = la.norm(v)
    n.backward()
    assert isinstance(n, tg.Value) and n.data == 2.5 and v.grad == -1.0
    t = tg.tensor(np.zeros(3), requires_grad=True)
    la.norm(t).backward()  # 0/0: nan, as JAX
    assert np.all(np.isnan(t.grad))
    t = tg.tensor(np.array([0.0, 1.0, -1.0]), requires_grad=True)
    la.norm(t, INF).backward()  # a tie shares the gradient
    np.testing.assert_allclose(t.grad, [0.0, 0.5, -0.5])


# --- the other numpy.linalg names -------------------------------------------------

def test_multi_dot_tensorinv_tensorsolve():
    rng = _rng(15)
    check_numpy(lambda a, b, c: la.multi_dot([a, b, c]), rng.normal(size=4),
                rng.normal(size=(4, 3)), rng.normal(size=(3, 2)))
    check_numpy(lambda a: la.tensorinv(a, ind=1), well((6, 6)).reshape(6, 2, 3))
    check_numpy(la.tensorsolve, well((6, 6)).reshape(2, 3, 6), rng.normal(size=(2, 3)))


@pytest.mark.parametrize("f, shapes", [
    (la.matmul, [(2, 3), (3, 2)]), (la.outer, [(3,), (2,)]), (la.vecdot, [(2, 3), (3,)]),
    (la.matrix_transpose, [(2, 3, 4)]), (lambda x: la.trace(x, offset=1), [(2, 3, 3)]),
    (lambda x: la.diagonal(x, offset=-1), [(2, 3, 3)]), (la.tensordot, [(2, 3), (2, 3)]),
    (la.cross, [(2, 3), (3,)]),
])
def test_array_api_spellings(f, shapes):
    check_numpy(f, *[_rng(16 + k).normal(size=s) for k, s in enumerate(shapes)])


def test_matrix_rank_and_cond_are_data():
    a = well((3, 3))
    t = tg.tensor(a, requires_grad=True)
    assert la.matrix_rank(t) == 3 and not isinstance(la.cond(t), Tensor)
    assert la.cond(t) == pytest.approx(la.cond(a))


# --- Tensors in, Tensors out; errors ------------------------------------------------

def test_tensors_in_give_tensors_out():
    t = tg.tensor(spectral((2, 3, 3)), requires_grad=True)
    results = [la.solve(t, np.ones(3)), la.inv(t), la.det(t), *la.slogdet(t), la.cholesky(t),
               *la.eigh(t), la.eigvalsh(t), *la.svd(t), la.svd(t, compute_uv=False), *la.qr(t),
               la.qr(t, mode="r"), la.pinv(t), la.matrix_power(t, 3), la.norm(t),
               la.norm(t, 2, axis=(1, 2)), la.svdvals(t)]
    for r in results:
        assert isinstance(r, Tensor), type(r)
    assert la.eigh(t).eigenvectors.shape == (2, 3, 3) and la.svd(t).Vh.shape == (2, 3, 3)
    assert la.slogdet(t).logabsdet.shape == (2,) and la.qr(t).R.shape == (2, 3, 3)


@pytest.mark.parametrize("func, more", [
    (la.inv, ()), (la.det, ()), (la.slogdet, ()), (la.cholesky, ()), (la.eigh, ()),
    (la.eigvalsh, ()), (la.svd, ()), (la.svdvals, ()), (la.qr, ()), (la.pinv, ()),
    (la.matrix_power, (2,)), (la.norm, ()), (la.vector_norm, ()), (la.matrix_norm, ()),
    (la.solve, (np.ones(3),)), (la.lstsq, (np.ones(3),)),
])
def test_complex_input_is_refused(func, more):
    implementation = FUNCTIONS[func]  # what NumPy hands a Tensor argument to
    with pytest.raises(TypeError, match=rf"numpy\.linalg\.{func.__name__}: complex"):
        implementation(np.eye(3) * (1 + 1j), *more)


def test_complex_beside_a_tensor_is_refused():
    with pytest.raises(TypeError, match=r"numpy\.linalg\.solve: complex"):
        la.solve(np.eye(3) * 1j, tg.tensor(np.ones(3)))


@pytest.mark.parametrize("call, error, match", [
    (lambda t: la.inv(t[0]), la.LinAlgError, r"numpy\.linalg\.inv: a 1-dimensional"),
    (lambda t: la.det(t[:, :2]), la.LinAlgError, r"numpy\.linalg\.det: .* square"),
    (lambda t: la.solve(t, np.ones(4)), ValueError, r"numpy\.linalg\.solve: b of shape"),
    (lambda t: la.solve(well((2, 3, 3)), t.reshape(3, 3, 1)), ValueError,
     r"numpy\.linalg\.solve: b of shape \(3, 3, 1\) does not fit a of shape \(2, 3, 3\)"),
    (lambda t: la.qr(t, mode="raw"), ValueError, r"numpy\.linalg\.qr: mode 'raw'"),
    (lambda t: la.eigh(t, UPLO="X"), ValueError, r"numpy\.linalg\.eigh: UPLO"),
    (lambda t: la.matrix_power(t, 1.5), TypeError, r"matrix_power: the exponent"),
    (lambda t: la.svd(t, hermitian=True), TypeError, r"numpy\.linalg\.svd.*hermitian"),
    (lambda t: la.norm(t, "nuc", axis=0), ValueError, r"order 'nuc' for vectors"),
    (lambda t: la.norm(t, 3), ValueError, r"numpy\.linalg\.norm: invalid .* matrices"),
    (lambda t: la.norm(t[None], 2), ValueError, r"numpy\.linalg\.norm: improper"),
    (lambda t: la.norm(t, axis=(0, -2)), ValueError, r"numpy\.linalg\.norm: duplicate"),
    (lambda t: la.multi_dot([t, t], out=np.empty((3, 3))), TypeError, r"multi_dot.*out="),
    (lambda t: la.lstsq(t[None], np.ones(3)), la.LinAlgError, r"numpy\.linalg\.lstsq"),
])
def test_bad_input_names_the_function(call, error, match):
    with pytest.raises(error, match=match):
        call(tg.tensor(well((3, 3)), requires_grad=True))


@pytest.mark.parametrize("name, params, shapes", [
    ("solve", {}, [(2, 3, 3), (3, 2)]), ("inv", {}, [(3, 3)]), ("det", {}, [(2, 3, 3)]),
    ("slogdet", {}, [(3, 3)]), ("cholesky", {"upper": True}, [(3, 3)]),
    ("eigh", {"lower": False}, [(3, 3)]), ("eigvalsh", {"lower": True}, [(3, 3)]),
    ("svd", {"full_matrices": True}, [(4, 3)]), ("svdvals", {}, [(3, 4)]),
    ("qr", {"complete": True}, [(4, 3)]), ("qr", {"complete": False}, [(3, 4)]),
    ("pinv", {"options": {"rcond": None, "hermitian": False}}, [(3, 4)]),
])
def test_float32_rules_stay_float32(name, params, shapes):
    op = ARRAY_OPS[name]
    args = [spectral(s, seed=k).astype(np.float32) if s[-1] == s[-2]
            else _rng(k).normal(size=s).astype(np.float32) for k, s in enumerate(shapes)]
    params = dict(params, constants=[None] * len(args))
    out = op.value(args, params)
    g = _rng(40).normal(size=out.shape).astype(np.float32)
    assert out.dtype == np.float32
    assert all(grad.dtype == np.float32 for grad in op.vjp(g, out, args, params))
    assert op.jvp(args, out, args, params).dtype == np.float32


@pytest.mark.parametrize("lower", [True, False])
def test_triangular_inverse_by_blocks(lower):
    t = la.cholesky(spectral((2, 130, 130), skew=0.0))
    t = t if lower else np.swapaxes(t, -1, -2)
    np.testing.assert_allclose(triangular_inverse(t, lower) @ t,
                               np.broadcast_to(np.eye(130), t.shape), atol=1e-12)


def test_singular_and_indefinite_matrices_raise_as_numpy():
    with pytest.raises(la.LinAlgError):
        la.inv(tg.tensor(np.zeros((2, 2)), requires_grad=True))
    with pytest.raises(la.LinAlgError):
        la.cholesky(tg.tensor(-np.eye(2), requires_grad=True))


# --- against PyTorch ------------------------------------------------------------

def _sym(a):
    return (a + np.swapaxes(a, -1, -2)) / 2


def _eigh_picture(w, v, absolute):  # gauge-invariant, in either library
    return w[..., None, :] + absolute(v)


def _svd_picture(u, s, vh, absolute):
    return (u * s[..., None, :] ** 3) @ vh + absolute(u)


def _qr_picture(q, r, absolute):
    return absolute(q) + r[..., :1, :]


def _torch_cases(torch):
    tl = torch.linalg

    def tsym(a):
        return (a + a.mT) / 2

    return {
        "solve": (la.solve, tl.solve, [well((2, 3, 3)), (2, 3, 2)]),
        "inv": (la.inv, tl.inv, [well((2, 3, 3))]),
        "det": (la.det, tl.det, [well((2, 3, 3))]),
        "slogdet": (lambda a: la.slogdet(a)[1], lambda a: tl.slogdet(a)[1], [-well((3, 3))]),
        "cholesky": (lambda a: la.cholesky(_sym(a)), lambda a: tl.cholesky(tsym(a)),
                     [spectral((2, 3, 3))]),
        "eigh": (lambda a: _eigh_picture(*la.eigh(_sym(a)), np.abs),
                 lambda a: _eigh_picture(*tl.eigh(tsym(a)), torch.abs), [spectral((2, 3, 3))]),
        "eigvalsh": (lambda a: la.eigvalsh(_sym(a)), lambda a: tl.eigvalsh(tsym(a)),
                     [spectral((3, 3))]),
        "svd": (lambda a: _svd_picture(*la.svd(a, full_matrices=False), np.abs),
                lambda a: _svd_picture(*tl.svd(a, full_matrices=False), torch.abs), [(2, 4, 3)]),
        "svdvals": (la.svdvals, tl.svdvals, [(3, 5)]),
        "qr": (lambda a: _qr_picture(*la.qr(a), np.abs),
               lambda a: _qr_picture(*tl.qr(a), torch.abs), [(2, 3, 3)]),
        "qr 70x60": (lambda a: _qr_picture(*la.qr(a), np.abs),  # R^-1 by blocks
                     lambda a: _qr_picture(*tl.qr(a), torch.abs), [(70, 60)]),
        "cholesky 60": (lambda a: la.cholesky(_sym(a)), lambda a: tl.cholesky(tsym(a)),
                        [spectral((60, 60))]),
        "pinv": (la.pinv, tl.pinv, [(4, 3)]),
        "matrix_power": (lambda a: la.matrix_power(a, -3), lambda a: tl.matrix_power(a, -3),
                         [well((3, 3))]),
        "norm nuc": (lambda a: la.norm(a, "nuc"), lambda a: tl.matrix_norm(a, "nuc"),
                     [(3, 4)]),
        "norm 2": (lambda a: la.norm(a, 2, axis=(0, 2)),
                   lambda a: tl.matrix_norm(a, 2, dim=(0, 2)), [(3, 2, 4)]),
        "norm 3": (lambda a: la.norm(a, 3, axis=1), lambda a: tl.vector_norm(a, 3, dim=1),
                   [(3, 4)]),
    }


@requires_torch
@pytest.mark.parametrize("name", ["solve", "inv", "det", "slogdet", "cholesky", "eigh",
                                  "eigvalsh", "svd", "svdvals", "qr", "qr 70x60",
                                  "cholesky 60", "pinv", "matrix_power", "norm nuc", "norm 2",
                                  "norm 3"])
def test_against_torch(name):
    import torch

    f, g, arrays = _torch_cases(torch)[name]
    arrays = [a if isinstance(a, np.ndarray) else _rng(20 + k).normal(size=a)
              for k, a in enumerate(arrays)]
    mine = [tg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = f(*mine)
    weights = _rng(30).normal(size=out.shape)
    (out * weights).sum().backward()
    (g(*theirs) * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(out.value, g(*theirs).detach().numpy(), rtol=1e-9, atol=1e-9)
    for m, t in zip(mine, theirs):
        np.testing.assert_allclose(m.grad, t.grad.numpy(), rtol=1e-8, atol=1e-9)
