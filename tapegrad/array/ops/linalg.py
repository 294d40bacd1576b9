"""Linear algebra of the array op table: ``solve``, ``inv``, ``det``,
``slogdet``, ``cholesky`` and ``pinv``, and the matrix helpers the
decompositions (:mod:`tapegrad.array.ops.decompositions`) share.

Each op is NumPy's own (LAPACK through ``np.linalg``), stacked over leading
axes as NumPy is, with the rules of Giles (2008, "An extended collection of
matrix derivative results for forward and reverse mode AD") and Murray
(2016, for Cholesky).  A VJP reuses the forward's result (``out``): the
inverse's is two products and no solve, solve's one more solve with the
transposed matrix, Cholesky's a triangular inverse by blocks (as LAPACK's
``trtri``) and three products.  The VJPs use only NumPy calls that also take
Tensors (products, transposes, slices, sums, ``np.linalg``), so their
Hessian rules come from forward mode through them
(:mod:`tapegrad.array.tangent`).

A matrix function that reads one triangle of a symmetric matrix (Cholesky
here, ``eigh`` there) puts its gradient on that triangle only, as the
derivative of what NumPy computes: ``fold`` maps the symmetric gradient
``S`` to it (``S_ij + S_ji`` below the diagonal, ``S_ii`` on it).

>>> import numpy as np
>>> from tapegrad.array.ops.table import ARRAY_OPS
>>> a = np.array([[2.0, 1.0], [1.0, 3.0]])
>>> x = ARRAY_OPS["solve"].value([a, np.array([1.0, 2.0])], {})
>>> ARRAY_OPS["solve"].vjp(np.array([1.0, 0.0]), x, [a, np.array([1.0, 2.0])], {})[1]
array([ 0.6, -0.2])
"""

import functools

import numpy as np

from tapegrad.array.ops.table import declare, wanted

_TRIANGULAR_LEAF = 48  # below this order np.linalg.inv beats splitting in blocks


def transposed(x):
    """``x`` with its last two axes swapped (a matrix or a stack of them)."""
    axes = list(range(np.ndim(x)))
    axes[-2:] = axes[:-3:-1]
    return x.transpose(axes)


def sum_to(x, shape):
    """``x`` summed down to ``shape`` (the VJP of broadcasting)."""
    shape = tuple(shape)
    if tuple(x.shape) == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, s in enumerate(shape)
                                      if s == 1 and x.shape[lead + k] != 1)
    return x.sum(axis=axes, keepdims=True).reshape(shape)


@functools.lru_cache(maxsize=64)
def _constant(kind, n, dtype):
    """A read-only ``n`` x ``n`` matrix of ``dtype``: ``eye``, ``lower``
    (strictly lower ones), ``phi`` (ones below the diagonal, 1/2 on it)."""
    if kind == "eye":
        m = np.eye(n, dtype=dtype)
    elif kind == "lower":
        m = np.tri(n, n, -1, dtype=dtype)
    else:
        m = np.tri(n, n, -1, dtype=dtype) + 0.5 * np.eye(n, dtype=dtype)
    m.flags.writeable = False
    return m


def constant(kind, x):
    """:func:`_constant` sized and typed for the matrices of ``x``."""
    return _constant(kind, np.shape(x)[-1], np.dtype(x.dtype))


def phi(x):
    """The lower triangle of ``x`` with its diagonal halved."""
    return x * constant("phi", x)


def fold(q, lower):
    """The gradient on the triangle a symmetric-matrix function reads, from
    ``q`` with ``<q, dA>`` its change along a symmetric ``dA``: lower
    (``UPLO='L'``) or upper."""
    s = q + transposed(q)
    return phi(s) if lower else transposed(phi(s))


def symmetric_from(t, lower):
    """The symmetric matrix that a function reading the lower (or upper)
    triangle of ``t`` sees."""
    if not lower:
        t = transposed(t)
    strict = t * constant("lower", t)
    return strict + transposed(strict) + t * constant("eye", t)


def diag_embed(v):
    """The diagonal matrices with the vectors ``v`` (last axis) on their diagonal."""
    return v[..., None, :] * constant("eye", v)


def gap_inverse(x):
    """``F[..., i, j] = 1 / (x_j - x_i)``, and 0 where ``x_i == x_j`` (the
    diagonal, and repeated values: the rotation inside a repeated eigenspace
    is left out, see the decompositions' docstrings)."""
    gap = x[..., None, :] - x[..., :, None]
    tie = gap == 0
    return ~tie / (gap + tie)


def reciprocal_or_zero(x):
    """``1 / x``, and 0 where ``x == 0``."""
    zero = x == 0
    return ~zero / (x + zero)


def triangular_inverse(t, lower):
    """The inverse of the triangular matrices ``t`` (lower or upper): on
    ndarrays by blocks, as LAPACK's ``trtri`` (a third of ``np.linalg.inv``'s
    time at order 200), on Tensors ``np.linalg.inv`` (recorded)."""
    n = np.shape(t)[-1]
    if not isinstance(t, np.ndarray) or n <= _TRIANGULAR_LEAF:
        return np.linalg.inv(t)
    h = n // 2
    first = triangular_inverse(t[..., :h, :h], lower)
    last = triangular_inverse(t[..., h:, h:], lower)
    inverse = np.zeros_like(first, shape=t.shape)
    inverse[..., :h, :h] = first
    inverse[..., h:, h:] = last
    if lower:
        inverse[..., h:, :h] = -(last @ t[..., h:, :h]) @ first
    else:
        inverse[..., :h, h:] = -(first @ t[..., :h, h:]) @ last
    return inverse


_NUMPY_2 = int(np.__version__.split(".")[0]) >= 2


def is_vector(a, b):
    """Whether ``np.linalg.solve(a, b)`` takes ``b`` as a vector (NumPy 2:
    if it is 1-D; NumPy 1: if it has one dimension less than ``a``)."""
    return np.ndim(b) == 1 if _NUMPY_2 else np.ndim(b) == np.ndim(a) - 1


@declare
class solve:
    """x with a @ x = b (b a vector, or stacked matrices), broadcast as np.linalg.solve"""

    arity = 2

    def value(args, params):
        return np.linalg.solve(args[0], args[1])

    def vjp(g, out, args, params):
        a, b = args
        vector = is_vector(a, b)
        g2, x2 = (g[..., None], out[..., None]) if vector else (g, out)
        gb = np.linalg.solve(transposed(a), g2)  # a^-T g: one more solve
        ga = sum_to(-(gb @ transposed(x2)), np.shape(a)) if wanted(params, 0) else None
        if not wanted(params, 1):
            return ga, None
        return ga, sum_to(gb[..., 0] if vector else gb, np.shape(b))

    def jvp(tangents, out, args, params):
        a, b = args
        ta, tb = tangents
        vector = is_vector(a, b)
        x2 = out[..., None] if vector else out
        moved = tb[..., None] if vector else tb
        if wanted(params, 0):
            moved = moved - ta @ x2
        t = np.linalg.solve(a, moved)
        return t[..., 0] if vector else t


@declare
class inv:
    """the inverse of each matrix"""

    def value(args, params):
        return np.linalg.inv(args[0])

    def vjp(g, out, args, params):
        return (-(transposed(out) @ (g @ transposed(out))),)

    def jvp(tangents, out, args, params):
        return -(out @ (tangents[0] @ out))


def _cofactor_by_svd(a):
    """The cofactor matrices of ``a`` (also singular) from its SVD:
    ``det(U) det(V) U diag(prod of the other s) V^T``."""
    u, s, vh = np.linalg.svd(a)
    ones = np.ones_like(s[..., :1])
    before = np.cumprod(np.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    sign = np.linalg.det(u) * np.linalg.det(vh)
    return sign[..., None, None] * ((u * (before * after)[..., None, :]) @ vh)


def cofactor(a, det):
    """d det(a) / da, the cofactor matrix ``det(a) a^-T``; at a singular
    matrix (on ndarrays) from the SVD, where ``a^-1`` does not exist."""
    if isinstance(a, np.ndarray):
        try:
            with np.errstate(all="ignore"):
                c = np.asarray(det)[..., None, None] * transposed(np.linalg.inv(a))
            if np.all(np.isfinite(c)):
                return c
        except np.linalg.LinAlgError:
            pass
        return _cofactor_by_svd(a)
    return det[..., None, None] * transposed(np.linalg.inv(a))


@declare
class det:
    """the determinant of each matrix"""

    def value(args, params):
        return np.linalg.det(args[0])

    def vjp(g, out, args, params):
        return (g[..., None, None] * cofactor(args[0], out),)

    def jvp(tangents, out, args, params):
        return np.sum(cofactor(args[0], out) * tangents[0], axis=(-2, -1))


@declare
class slogdet:
    """(sign, log|det|) of each matrix, stacked on a last axis of 2"""

    def value(args, params):
        sign, logdet = np.linalg.slogdet(args[0])
        return np.stack([sign, logdet], axis=-1)

    def vjp(g, out, args, params):
        return (g[..., 1][..., None, None] * transposed(np.linalg.inv(args[0])),)

    def jvp(tangents, out, args, params):
        moved = np.sum(transposed(np.linalg.inv(args[0])) * tangents[0], axis=(-2, -1))
        return np.stack([np.zeros_like(moved), moved], axis=-1)


@declare
class cholesky:
    """L lower with L L^T = a (reading a's lower triangle), or its transpose
    for ``upper``"""

    def value(args, params):
        if params["upper"]:  # as NumPy 2's upper=True, also on NumPy 1
            return transposed(np.linalg.cholesky(transposed(args[0])))
        return np.linalg.cholesky(args[0])

    def vjp(g, out, args, params):
        upper = params["upper"]
        lower, g = (transposed(out), transposed(g)) if upper else (out, g)
        inverse = triangular_inverse(lower, True)
        q = transposed(inverse) @ (phi(transposed(lower) @ g) @ inverse)
        return (fold(q, not upper),)

    def jvp(tangents, out, args, params):
        upper = params["upper"]
        lower = transposed(out) if upper else out
        inverse = triangular_inverse(lower, True)
        moved = symmetric_from(tangents[0], not upper)
        t = lower @ phi(inverse @ moved @ transposed(inverse))
        return transposed(t) if upper else t


def _pinv_vjp(g, x, a):
    """``-x^T g x^T + (I - a x) g^T x x^T + x^T x g^T (I - x a)``, x = pinv(a)."""
    xt, gt = transposed(x), transposed(g)
    left = gt @ (x @ xt)
    right = (xt @ x) @ gt
    return -(xt @ (g @ xt)) + left - a @ (x @ left) + right - (right @ x) @ a


@declare
class pinv:
    """the Moore-Penrose pseudo-inverse of each matrix (its rank held;
    ``hermitian``: reading the lower triangle)"""

    def value(args, params):
        return np.linalg.pinv(args[0], **params["options"])

    def vjp(g, out, args, params):
        if params["options"]["hermitian"]:
            return (fold(_pinv_vjp(g, out, symmetric_from(args[0], True)), True),)
        return (_pinv_vjp(g, out, args[0]),)

    def jvp(tangents, out, args, params):
        x, a, t = out, args[0], tangents[0]
        if params["options"]["hermitian"]:
            a, t = symmetric_from(a, True), symmetric_from(t, True)
        tt = transposed(t)
        left = (x @ transposed(x)) @ tt
        right = tt @ (transposed(x) @ x)
        return -(x @ t @ x) + left - (left @ a) @ x + right - x @ (a @ right)
