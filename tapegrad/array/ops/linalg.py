"""Linear algebra of the array op table: ``solve``, ``inv``, ``det``,
``slogdet``, ``cholesky`` and ``pinv``, and the matrix helpers the
decompositions (:mod:`tapegrad.array.ops.decompositions`) share.

Each op is NumPy's own (LAPACK through ``np.linalg``), stacked over leading
axes as NumPy is, with the rules of Giles (2008, "An extended collection of
matrix derivative results for forward and reverse mode AD") and Murray
(2016, for Cholesky).  A VJP reuses the forward's result (``out``): the
inverse's is two products and no solve, solve's one more solve with the
transposed matrix, Cholesky's a triangular inverse and three products.  The
VJPs use only NumPy calls that also take Tensors (products, transposes,
slices, sums, ``np.linalg``), so their Hessian rules come from forward mode
through them (:mod:`tapegrad.array.tangent`).

On plain ndarrays of order 32 and more (:func:`on_blas`), where NumPy's
BLAS library has them (:mod:`tapegrad.kernels.blas`), triangular
inverses are LAPACK's ``trtri`` and large products by a triangle BLAS's
``trmm``; and Cholesky's VJP and JVP go by halves of the factor
(:func:`_cholesky_gradient`, :func:`_cholesky_tangent`): the same rule
with a sixth of the products' work, at about twice the forward's time
from order 200 (the formula on the whole matrix takes seven times it).  On
Tensors, and where BLAS is missing, the rules take the NumPy form.

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
from tapegrad.kernels import blas

_TRIANGULAR_LEAF = 48  # below this order np.linalg.inv beats splitting in blocks
_BLAS_FROM = 32  # from this order the rules call triangular BLAS (one call per matrix)
_CHOLESKY_LEAF = 64  # the Cholesky rules by halves (on BLAS) down to this order
_TRMM_FROM = 160  # from this order BLAS's trmm beats NumPy's product by a triangle


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


def on_blas(*arrays):
    """Whether a rule may hand ``arrays`` to triangular BLAS
    (:mod:`tapegrad.kernels.blas`): plain ndarrays (never Tensors: the
    derived Hessian rules record the rule's NumPy form) of one float dtype
    that BLAS takes, matrices of order :data:`_BLAS_FROM` or more."""
    first = arrays[0]
    return (all(type(x) is np.ndarray and x.dtype == first.dtype for x in arrays)
            and first.shape[-1] >= _BLAS_FROM and blas.available(first.dtype))


def triangular_inverse(t, lower):
    """The inverse of the triangular matrices ``t`` (lower or upper): on
    ndarrays by LAPACK's ``trtri`` (:func:`tapegrad.kernels.blas.trtri`)
    or, without it, by blocks as ``trtri`` does (a third of
    ``np.linalg.inv``'s time at order 200), on Tensors ``np.linalg.inv``
    (recorded)."""
    n = np.shape(t)[-1]
    if on_blas(t):
        return blas.trtri(t, lower=lower)
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


def _murray(lower, g, inverse):
    """``L^-T Phi(L^T g) L^-1`` (Murray 2016), whose fold is the gradient of
    ``a = L L^T`` from ``g``, that of its factor ``L``."""
    return transposed(inverse) @ (phi(transposed(lower) @ g) @ inverse)


def _tangent(lower, moved, inverse):
    """``L Phi(L^-1 S L^-T)``, the factor's tangent along the symmetric
    ``S`` that the lower triangle of ``moved`` gives: ``S = Phi(m) +
    Phi(m)^T``, so ``Phi(L^-1 S L^-T)`` is the fold of ``L^-1 Phi(m) L^-T``."""
    return lower @ fold(inverse @ phi(moved) @ transposed(inverse), True)


def times_triangle(x, t, lower, trans=False, scratch=False):
    """``x @ op(t)`` with ``t`` triangular (zeros in its other triangle) and
    ``op(t)`` ``t`` or its transpose: on large ndarrays BLAS's ``trmm``
    (half the work; into ``x`` itself if it is ``scratch``), else NumPy's
    general product."""
    if np.shape(t)[-1] >= _TRMM_FROM and on_blas(x, t):
        return blas.trmm(t, x, lower=lower, side="right", trans=trans, overwrite_b=scratch)
    return x @ (transposed(t) if trans else t)


def _cholesky_gradient(lower, g, into, inverse):
    """:class:`cholesky`'s ``vjp`` on one matrix by halves: writes into the
    zeros of ``into`` the gradient (on the lower triangle) of ``a``, from
    ``g`` that of its factor ``lower``, given ``inverse``, the inverse of
    ``lower``, or None.  With ``L = [P 0; Q R]``: ``R``'s own, then ``gQ =
    (g_Q - (aR + aR^T) Q) P^-1``, then ``P``'s own with ``g_P - gQ^T Q``:
    the reverse of ``P = chol(a_P)``, ``Q = a_Q P^-T``, ``R = chol(a_R -
    Q Q^T)``: a sixth of the work of :func:`_murray`'s three products on
    the whole matrix, and only the diagonal blocks' inverses."""
    n = lower.shape[-1]
    if n <= _CHOLESKY_LEAF:
        if inverse is None:
            inverse = blas.trtri(lower, lower=True)
        into[...] = fold(_murray(lower, g, inverse), True)
        return
    h = n // 2
    first = blas.trtri(lower[:h, :h], lower=True) if inverse is None else inverse[:h, :h]
    below = lower[h:, :h]
    _cholesky_gradient(lower[h:, h:], g[h:, h:], into[h:, h:],
                       None if inverse is None else inverse[h:, h:])
    last = into[h:, h:]
    side = times_triangle(g[h:, :h] - (last + last.T) @ below, first, True, scratch=True)
    into[h:, :h] = side
    _cholesky_gradient(lower[:h, :h], g[:h, :h] - side.T @ below, into[:h, :h], first)


def _cholesky_tangent(lower, moved, into, inverse):
    """:class:`cholesky`'s ``jvp`` on one matrix by halves, as
    :func:`_cholesky_gradient`: the factor's tangent along ``moved`` (read
    on its lower triangle) into ``into``: ``tP``, then ``tQ = (m_Q - Q tP^T)
    P^-T``, then ``tR`` along ``m_R - tQ Q^T - Q tQ^T``."""
    n = lower.shape[-1]
    if n <= _CHOLESKY_LEAF:
        if inverse is None:
            inverse = blas.trtri(lower, lower=True)
        into[...] = _tangent(lower, moved, inverse)
        return
    h = n // 2
    first = blas.trtri(lower[:h, :h], lower=True) if inverse is None else inverse[:h, :h]
    below = lower[h:, :h]
    _cholesky_tangent(lower[:h, :h], moved[:h, :h], into[:h, :h], first)
    side = times_triangle(moved[h:, :h] - below @ into[:h, :h].T, first, True, trans=True,
                          scratch=True)
    into[h:, :h] = side
    crossed = side @ below.T
    _cholesky_tangent(lower[h:, h:], moved[h:, h:] - crossed - crossed.T, into[h:, h:],
                      None if inverse is None else inverse[h:, h:])


def _each_matrix(rule, lower, x):
    """``rule(lower, x, into, None)`` on each matrix of the stacks, into zeros."""
    into = np.zeros(np.broadcast_shapes(lower.shape, x.shape), dtype=lower.dtype)
    if into.ndim == 2:
        rule(lower, x, into, None)
        return into
    lower = np.broadcast_to(lower, into.shape)
    x = np.broadcast_to(x, into.shape)
    for index in np.ndindex(*into.shape[:-2]):
        rule(lower[index], x[index], into[index], None)
    return into


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
        if on_blas(lower, g):
            grad = _each_matrix(_cholesky_gradient, lower, g)
            return (transposed(grad) if upper else grad,)
        return (fold(_murray(lower, g, triangular_inverse(lower, True)), not upper),)

    def jvp(tangents, out, args, params):
        upper = params["upper"]
        lower = transposed(out) if upper else out
        moved = transposed(tangents[0]) if upper else tangents[0]
        if on_blas(lower, moved):
            t = _each_matrix(_cholesky_tangent, lower, moved)
        else:
            t = _tangent(lower, moved, triangular_inverse(lower, True))
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
