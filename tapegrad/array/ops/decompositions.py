"""Matrix decompositions of the array op table: ``eigh``, ``eigvalsh``,
``svd``, ``svdvals`` and ``qr``.

An op with several results records them packed in one array (``eigh``: the
eigenvalues as a first row above the eigenvectors; ``svd`` and ``qr``: the
factors flattened and joined on a last axis); :mod:`tapegrad.numpy.linalg`
hands out the pieces as slices of it, so the VJP gets all their gradients
at once, zeros for those not used.

The rules: Walter & Lehmann and Giles (2008) for ``eigh``, Townsend (2016)
and Seeger et al. (2017) for ``svd``, Walter & Lehmann and Liao et al.
(2019) for ``qr``.  The eigenvector and singular-vector rules divide
by gaps ``1 / (w_j - w_i)`` (``1 / (s_j^2 - s_i^2)``).  Where two values
are exactly equal that inverse is taken as 0 (TensorFlow's choice; PyTorch
gives inf or nan there): the gradient stays finite, the values' own part
(``V diag(gw) V^T``, ``U diag(gs) V^T``: all of ``eigvalsh``'s, and of
``eigh``'s when only the eigenvalues are used) is untouched, and the part
of the vectors' gradient that would rotate the basis inside the repeated
space, which the vectors do not determine, is left out.  Likewise ``1 / s``
is 0 for a zero singular value of a rectangular matrix (the vectors beyond
its rank are as arbitrary).  The vectors that ``full_matrices=True``
(``svd``) and ``mode='complete'`` (``qr``) add beyond ``min(m, n)`` are an
arbitrary basis of a complement: their gradients are ignored and their
tangents are 0, as PyTorch does for ``svd``.  ``qr``'s derivative needs ``R``
invertible (the first ``min(m, n)`` columns independent); on plain ndarrays
its ``R^-1`` is LAPACK's ``trtri`` and its large products by ``R`` or
``R^-1`` BLAS's ``trmm`` (:func:`tapegrad.array.ops.linalg.times_triangle`).

``eigvalsh`` and ``svdvals`` (``compute_uv=False``) run LAPACK's faster
values-only routines forward and decompose again in their VJP.

>>> import numpy as np
>>> from tapegrad.array.ops.table import ARRAY_OPS
>>> a = np.array([[2.0, 1.0], [1.0, 2.0]])
>>> ARRAY_OPS["eigh"].value([a], {"lower": True})[0]   # the eigenvalues
array([1., 3.])
>>> ARRAY_OPS["eigvalsh"].vjp(np.array([0.0, 1.0]), None, [a], {"lower": True})[0]
array([[0.5, 0. ],
       [1. , 0.5]])
"""

import numpy as np

from tapegrad.array.ops.table import declare
from tapegrad.array.ops.linalg import (
    constant, diag_embed, fold, gap_inverse, reciprocal_or_zero, symmetric_from,
    times_triangle, transposed, triangular_inverse,
)


def _uplo(params):
    return "L" if params["lower"] else "U"


@declare
class eigh:
    """the eigenvalues (ascending, a first row) over the eigenvectors of
    each symmetric matrix, reading its lower (or upper) triangle"""

    def value(args, params):
        w, v = np.linalg.eigh(args[0], UPLO=_uplo(params))
        return np.concatenate([w[..., None, :], v], axis=-2)

    def vjp(g, out, args, params):
        w, v = out[..., 0, :], out[..., 1:, :]
        gw, gv = g[..., 0, :], g[..., 1:, :]
        inner = gap_inverse(w) * (transposed(v) @ gv) + diag_embed(gw)
        return (fold(v @ (inner @ transposed(v)), params["lower"]),)

    def jvp(tangents, out, args, params):
        w, v = out[..., 0, :], out[..., 1:, :]
        moved = transposed(v) @ symmetric_from(tangents[0], params["lower"]) @ v
        tv = v @ (gap_inverse(w) * moved)
        return np.concatenate([np.diagonal(moved, 0, -2, -1)[..., None, :], tv], axis=-2)


@declare
class eigvalsh:
    """the eigenvalues (ascending) of each symmetric matrix, reading its
    lower (or upper) triangle"""

    def value(args, params):
        return np.linalg.eigvalsh(args[0], UPLO=_uplo(params))

    def vjp(g, out, args, params):
        _, v = np.linalg.eigh(args[0], UPLO=_uplo(params))
        return (fold((v * g[..., None, :]) @ transposed(v), params["lower"]),)

    def jvp(tangents, out, args, params):
        _, v = np.linalg.eigh(args[0], UPLO=_uplo(params))
        return np.sum(v * (symmetric_from(tangents[0], params["lower"]) @ v), axis=-2)


def svd_sizes(shape, full):
    """``(m, n, k, columns of U, rows of Vh)`` of the SVD of matrices of ``shape``."""
    m, n = shape[-2:]
    k = min(m, n)
    return m, n, k, (m if full else k), (n if full else k)


def _svd_pieces(packed, shape, full):
    """``U[..., :, :k]``, ``s`` and ``V = Vh[..., :k, :]^T`` cut from a packed SVD."""
    m, n, k, ku, kv = svd_sizes(shape, full)
    batch = tuple(shape[:-2])
    u = packed[..., :m * ku].reshape(batch + (m, ku))[..., :k]
    s = packed[..., m * ku:m * ku + k]
    vh = packed[..., m * ku + k:].reshape(batch + (kv, n))[..., :k, :]
    return u, s, transposed(vh)


def _pack(pieces):
    """The arrays ``pieces`` (each with the same leading axes as the first,
    a matrix or a vector) flattened and joined on a last axis."""
    batch = pieces[0].shape[:-2]
    return np.concatenate([p.reshape(batch + (-1,)) for p in pieces], axis=-1)


def _widen(t, rows, columns):
    """``t`` padded with zeros to ``rows`` x ``columns``."""
    pad = [(0, 0)] * (t.ndim - 2) + [(0, rows - t.shape[-2]), (0, columns - t.shape[-1])]
    return np.pad(t, pad)


@declare
class svd:
    """U, s and Vh of each matrix (a = U diag(s) Vh), flattened and joined"""

    def value(args, params):
        u, s, vh = np.linalg.svd(args[0], full_matrices=params["full_matrices"])
        return _pack([u, s[..., None, :], vh])

    def vjp(g, out, args, params):
        shape, full = np.shape(args[0]), params["full_matrices"]
        m, n, k, _, _ = svd_sizes(shape, full)
        u, s, v = _svd_pieces(out, shape, full)
        gu, gs, gv = _svd_pieces(g, shape, full)
        gaps = gap_inverse(s * s)
        utgu, vtgv = transposed(u) @ gu, transposed(v) @ gv
        inner = (gaps * (utgu - transposed(utgu)) * s[..., None, :] + diag_embed(gs)
                 + s[..., :, None] * (gaps * (vtgv - transposed(vtgv))))
        ga = u @ (inner @ transposed(v))
        if m > k:  # (I - U U^T) gU S^-1 V^T
            ga = ga + ((gu - u @ utgu) * reciprocal_or_zero(s)[..., None, :]) @ transposed(v)
        if n > k:  # U S^-1 gV^T (I - V V^T)
            ga = ga + (u * reciprocal_or_zero(s)[..., None, :]) @ transposed(gv - v @ vtgv)
        return (ga,)

    def jvp(tangents, out, args, params):
        shape, full = np.shape(args[0]), params["full_matrices"]
        m, n, k, ku, kv = svd_sizes(shape, full)
        u, s, v = _svd_pieces(out, shape, full)
        ta = tangents[0]
        tav = ta @ v
        moved = transposed(u) @ tav
        gaps = gap_inverse(s * s)
        su, sv = s[..., None, :], s[..., :, None]
        tu = u @ (gaps * (moved * su + sv * transposed(moved)))
        tv = v @ (gaps * (sv * moved + transposed(moved) * su))
        if m > k:
            tu = tu + (tav - u @ moved) * reciprocal_or_zero(su)
        if n > k:
            tatu = transposed(ta) @ u
            tv = tv + (tatu - v @ transposed(moved)) * reciprocal_or_zero(su)
        ts = np.diagonal(moved, 0, -2, -1)
        return _pack([_widen(tu, m, ku), ts[..., None, :], _widen(transposed(tv), kv, n)])


@declare
class svdvals:
    """the singular values of each matrix (descending)"""

    def value(args, params):
        return np.linalg.svd(args[0], compute_uv=False)

    def vjp(g, out, args, params):
        u, _, vh = np.linalg.svd(args[0], full_matrices=False)
        return ((u * g[..., None, :]) @ vh,)

    def jvp(tangents, out, args, params):
        u, _, vh = np.linalg.svd(args[0], full_matrices=False)
        return np.sum(u * (tangents[0] @ transposed(vh)), axis=-2)


def qr_sizes(shape, complete):
    """``(m, n, k, columns of Q, rows of R)`` of the QR of matrices of ``shape``."""
    m, n = shape[-2:]
    k = min(m, n)
    return m, n, k, (m if complete else k), (m if complete else k)


def _qr_pieces(packed, shape, complete):
    """``Q[..., :, :k]`` and ``R[..., :k, :]`` cut from a packed QR."""
    m, n, k, kq, _ = qr_sizes(shape, complete)
    batch = tuple(shape[:-2])
    q = packed[..., :m * kq].reshape(batch + (m, kq))[..., :k]
    r = packed[..., m * kq:].reshape(batch + (-1, n))[..., :k, :]
    return q, r


def _upper_copied(x):
    """The upper triangle of ``x`` copied onto the lower one (a symmetric matrix)."""
    lower = constant("lower", x)
    return x - x * lower + transposed(x) * lower


def _qr_tall_vjp(q, r, gq, gr):
    """The VJP of ``a = q r`` (``r`` square): ``(gq + q copy(N)) r^-T`` with
    ``N = gr r^T - q^T gq``."""
    upper = _upper_copied(times_triangle(gr, r, False, trans=True) - transposed(q) @ gq)
    return times_triangle(gq + q @ upper, triangular_inverse(r, False), False, trans=True,
                          scratch=True)


def _qr_tall_jvp(q, r, ta):
    """The tangents of ``q`` and ``r`` (``r`` square) along ``ta``."""
    moved = times_triangle(ta, triangular_inverse(r, False), False)
    c = transposed(q) @ moved
    strict = c * constant("lower", c)  # q^T dq is strict - strict^T
    kept = c - strict + transposed(strict)  # dr r^-1
    return moved - q @ kept, times_triangle(kept, r, False, scratch=True)


@declare
class qr:
    """Q and R of each matrix (a = Q R), flattened and joined"""

    def value(args, params):
        mode = "complete" if params["complete"] else "reduced"
        q, r = np.linalg.qr(args[0], mode=mode)
        return _pack([q, r])

    def vjp(g, out, args, params):
        a, complete = args[0], params["complete"]
        shape = np.shape(a)
        m, n, _, _, _ = qr_sizes(shape, complete)
        q, r = _qr_pieces(out, shape, complete)
        gq, gr = _qr_pieces(g, shape, complete)
        if m >= n:
            return (_qr_tall_vjp(q, r, gq, gr),)
        # a = [x | y] with x square: q r[:, :m] = x and r[:, m:] = q^T y
        gry = gr[..., m:]
        gx = _qr_tall_vjp(q, r[..., :m], gq + a[..., m:] @ transposed(gry), gr[..., :m])
        return (np.concatenate([gx, q @ gry], axis=-1),)

    def jvp(tangents, out, args, params):
        a, ta, complete = args[0], tangents[0], params["complete"]
        shape = np.shape(a)
        m, n, _, kq, kr = qr_sizes(shape, complete)
        q, r = _qr_pieces(out, shape, complete)
        if m >= n:
            tq, tr = _qr_tall_jvp(q, r, ta)
        else:
            tq, trx = _qr_tall_jvp(q, r[..., :m], ta[..., :m])
            tr = np.concatenate([trx, transposed(tq) @ a[..., m:] + transposed(q) @ ta[..., m:]],
                                axis=-1)
        return _pack([_widen(tq, m, kq), _widen(tr, kr, n)])
