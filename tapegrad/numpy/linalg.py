"""``numpy.linalg`` on Tensors: each function records onto the tape.

The primitives are ops of the array table with their own rules
(:mod:`tapegrad.array.ops.linalg`, :mod:`tapegrad.array.ops.decompositions`):
``solve``, ``inv``, ``det``, ``slogdet``, ``cholesky``, ``eigh``,
``eigvalsh``, ``svd`` (and ``svdvals``), ``qr`` and ``pinv``.  The rest are
composed of recorded operations: ``matrix_power`` (products, as NumPy
multiplies), ``norm``, ``vector_norm`` and ``matrix_norm`` (sums, ``abs``,
``sqrt``, extrema and singular values), ``lstsq``, ``multi_dot``,
``tensorinv``, ``tensorsolve`` and NumPy 2's ``numpy.linalg`` spellings of
``matmul``, ``outer``, ``vecdot``, ``matrix_transpose``, ``trace``,
``diagonal``, ``tensordot`` and ``cross``.  ``matrix_rank`` and ``cond`` are
data (no gradient).  Every function is stacked over leading axes where
NumPy's is, keeps float32 and float64, and refuses complex input
(``TypeError``) and misshapen matrices (``LinAlgError``, a ``ValueError``)
with a message naming it.

What each derivative does where the function is not smooth:

* ``eigh``, ``svd``: at repeated eigenvalues (singular values) the vectors'
  part that rotates inside the repeated space is taken as 0 (finite; the
  values' own part is untouched); see :mod:`tapegrad.array.ops.decompositions`.
  Only the triangle ``UPLO`` names is read, so ``eigh``, ``eigvalsh`` and
  ``cholesky`` (``upper=``) put their gradient on that triangle alone, as
  NumPy's function of the matrix's elements has it.
* ``svd(full_matrices=True)``, ``qr(mode='complete')``: the columns beyond
  ``min(m, n)`` are any basis of a complement; their gradients are ignored.
* ``det``: its gradient is the cofactor matrix everywhere, also at a
  singular matrix (from the SVD there; its Hessian there, which goes
  through ``inv``, raises ``LinAlgError``).  ``slogdet``: ``sign`` has no
  gradient; at a singular matrix (``logabsdet = -inf``) the gradient raises
  ``LinAlgError``, as does ``qr``'s where ``R`` is singular (``inv`` and
  ``solve`` raise there already, as NumPy).
* ``pinv``, ``lstsq``: differentiated at the rank the cutoff finds (rank
  constant nearby).
* ``norm``: the 2-norm's (and Frobenius') gradient at zero is nan (0/0),
  as JAX's; ties of ``max``/``min`` (``inf``, ``1``, ``2`` orders) share it.

>>> import numpy as np, tapegrad as tg
>>> a = tg.tensor([[4.0, 1.0], [1.0, 3.0]], requires_grad=True)
>>> loss = np.linalg.slogdet(a).logabsdet + np.linalg.norm(np.linalg.solve(a, np.ones(2)))
>>> loss.backward(); a.grad.round(4)
array([[ 0.259 , -0.1115],
       [-0.1368,  0.2949]])
"""

import functools
import math
import operator

import numpy as np

from tapegrad.core.numpy_protocol import implements, passthrough, plain
from tapegrad.scalar import Value
from tapegrad.array import Tensor, tensor
from tapegrad.array.tensor import recorder
from tapegrad.array.ops.decompositions import qr_sizes, svd_sizes
from tapegrad.array.ops.linalg import is_vector, transposed

_FAMILY = "linalg"
LinAlgError = np.linalg.LinAlgError
_RESULTS = getattr(np.linalg, "_linalg", None)
_AxisError = getattr(np, "exceptions", np).AxisError
_SOLVE, _INV, _DET, _SLOGDET = (recorder(n) for n in ("solve", "inv", "det", "slogdet"))
_CHOLESKY, _PINV, _EIGH, _EIGVALSH = (recorder(n) for n in ("cholesky", "pinv", "eigh",
                                                            "eigvalsh"))
_SVD, _SVDVALS, _QR = recorder("svd"), recorder("svdvals"), recorder("qr")


def _named(kind, *parts):
    """NumPy's named tuple ``kind`` (``EighResult``, ...) of ``parts``."""
    make = getattr(_RESULTS, kind, None)
    return make(*parts) if make is not None else tuple(parts)


def _numpy_2(name):
    """``implements`` for the ``numpy.linalg`` function ``name`` that NumPy 2
    added (nothing to register on NumPy 1)."""
    func = getattr(np.linalg, name, None)
    return implements(func, family=_FAMILY) if func is not None else (lambda f: f)


def _checked(x, func, square=True, least=2):
    """The shape of ``x``, an argument of ``numpy.linalg.<func>``, once it
    is known to hold real numbers in at least ``least`` dimensions (square
    matrices when ``square``)."""
    data = np.asarray(plain(x, reads=False))
    kind = data.dtype.kind
    if kind == "c":
        raise TypeError(f"numpy.linalg.{func}: complex input (dtype {data.dtype}) is not "
                        "supported: tapegrad's arrays are real")
    if kind not in "fiub":
        raise TypeError(f"numpy.linalg.{func}: needs real numbers, not dtype {data.dtype}")
    if data.ndim < least:
        raise LinAlgError(f"numpy.linalg.{func}: a {data.ndim}-dimensional array given, where "
                          f"at least {least} dimensions are needed")
    if square and data.shape[-1] != data.shape[-2]:
        raise LinAlgError(f"numpy.linalg.{func}: the last two dimensions must be square, got "
                          f"shape {data.shape}")
    return data.shape


def _dtype(x):
    return np.asarray(plain(x, reads=False)).dtype


def _lower(uplo, func):
    """Whether ``UPLO`` names the lower triangle."""
    if not isinstance(uplo, str) or uplo.upper() not in ("L", "U"):
        raise ValueError(f"numpy.linalg.{func}: UPLO must be 'L' or 'U', got {uplo!r}")
    return uplo.upper() == "L"


@implements(np.linalg.solve, family=_FAMILY)
def solve(a, b):
    """``x`` with ``a @ x = b`` (``b`` a vector, or stacked matrices, as NumPy 2).

    >>> import tapegrad as tg
    >>> a = tg.tensor([[2.0, 0.0], [0.0, 4.0]], requires_grad=True)
    >>> x = np.linalg.solve(a, np.array([1.0, 1.0]))
    >>> x.sum().backward(); x.value, a.grad
    (array([0.5 , 0.25]), array([[-0.25  , -0.125 ],
           [-0.125 , -0.0625]]))
    """
    sa, sb = _checked(a, "solve"), _checked(b, "solve", square=False, least=1)
    vector = is_vector(plain(a, reads=False), plain(b, reads=False))
    try:
        if (sb[-1] if vector else sb[-2]) != sa[-1]:
            raise ValueError
        np.broadcast_shapes(sa[:-2], sb[:-1] if vector else sb[:-2])
    except ValueError:
        raise ValueError(f"numpy.linalg.solve: b of shape {sb} does not fit a of shape {sa} "
                         "(b is a vector of a's order or a stack of matrices)") from None
    return _SOLVE([a, b])


@implements(np.linalg.inv, family=_FAMILY)
def inv(a):
    _checked(a, "inv")
    return _INV([a])


@implements(np.linalg.det, family=_FAMILY, note="the cofactor gradient, also where singular")
def det(a):
    """The determinants; the gradient is the cofactor matrix, also where
    ``a`` is singular (there from the SVD).

    >>> import tapegrad as tg
    >>> a = tg.tensor([[1.0, 2.0], [2.0, 4.0]], requires_grad=True)
    >>> np.linalg.det(a).backward(); a.grad
    array([[ 4., -2.],
           [-2.,  1.]])
    """
    _checked(a, "det")
    return _DET([a])


@implements(np.linalg.slogdet, family=_FAMILY, note="sign: no gradient")
def slogdet(a):
    _checked(a, "slogdet")
    packed = _SLOGDET([a])
    return _named("SlogdetResult", packed[..., 0], packed[..., 1])


@implements(np.linalg.cholesky, family=_FAMILY, note="reads one triangle")
def cholesky(a, /, *, upper=False):
    _checked(a, "cholesky")
    return _CHOLESKY([a], upper=bool(upper))


@implements(np.linalg.eigh, family=_FAMILY, note="reads the UPLO triangle")
def eigh(a, UPLO="L"):
    """``EighResult(eigenvalues, eigenvectors)``, reading the ``UPLO``
    triangle of ``a`` only, which is where the gradient goes.

    >>> import tapegrad as tg
    >>> a = tg.tensor([[2.0, 7.0], [1.0, 2.0]], requires_grad=True)  # 7: not read
    >>> w, v = np.linalg.eigh(a)
    >>> w.value, (w * np.array([0.0, 1.0])).sum().backward(), a.grad
    (array([1., 3.]), None, array([[0.5, 0. ],
           [1. , 0.5]]))
    """
    _checked(a, "eigh")
    packed = _EIGH([a], lower=_lower(UPLO, "eigh"))
    return _named("EighResult", packed[..., 0, :], packed[..., 1:, :])


@implements(np.linalg.eigvalsh, family=_FAMILY, note="reads the UPLO triangle")
def eigvalsh(a, UPLO="L"):
    _checked(a, "eigvalsh")
    return _EIGVALSH([a], lower=_lower(UPLO, "eigvalsh"))


@implements(np.linalg.svd, family=_FAMILY)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """``SVDResult(U, S, Vh)``, or the singular values (``compute_uv=False``);
    with ``full_matrices``, the gradients of the columns of ``U`` (rows of
    ``Vh``) beyond ``min(m, n)`` are ignored.

    >>> import tapegrad as tg
    >>> a = tg.tensor([[3.0, 0.0], [0.0, -2.0]], requires_grad=True)
    >>> s = np.linalg.svd(a, compute_uv=False)
    >>> s.value, s.sum().backward(), a.grad
    (array([3., 2.]), None, array([[ 1.,  0.],
           [ 0., -1.]]))
    """
    shape = _checked(a, "svd", square=False)
    if hermitian:
        raise TypeError("numpy.linalg.svd(..., hermitian=True) is not recorded: use "
                        "hermitian=False (the same singular values) or numpy.linalg.eigh")
    if not compute_uv:
        return _SVDVALS([a])
    packed = _SVD([a], full_matrices=bool(full_matrices))
    m, n, k, ku, kv = svd_sizes(shape, full_matrices)
    batch = tuple(shape[:-2])
    u = packed[..., :m * ku].reshape(batch + (m, ku))
    vh = packed[..., m * ku + k:].reshape(batch + (kv, n))
    return _named("SVDResult", u, packed[..., m * ku:m * ku + k], vh)


@_numpy_2("svdvals")
def svdvals(x, /):
    _checked(x, "svdvals", square=False)
    return _SVDVALS([x])


@implements(np.linalg.qr, family=_FAMILY, note="modes reduced, complete, r")
def qr(a, mode="reduced"):
    """``QRResult(Q, R)`` (``mode='reduced'`` or ``'complete'``), or ``R``
    (``mode='r'``); with ``'complete'``, the gradients of ``Q``'s columns
    beyond ``min(m, n)`` are ignored.

    >>> import tapegrad as tg
    >>> q, r = np.linalg.qr(tg.tensor([[3.0], [4.0]], requires_grad=True))
    >>> q.shape, r.value
    ((2, 1), array([[-5.]]))
    """
    shape = _checked(a, "qr", square=False)
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"numpy.linalg.qr: mode {mode!r} is not recorded (LAPACK's "
                         "Householder reflectors have no gradient here): use 'reduced', "
                         "'complete' or 'r'")
    complete = mode == "complete"
    packed = _QR([a], complete=complete)
    m, n, _, kq, kr = qr_sizes(shape, complete)
    batch = tuple(shape[:-2])
    r = packed[..., m * kq:].reshape(batch + (kr, n))
    if mode == "r":
        return r
    return _named("QRResult", packed[..., :m * kq].reshape(batch + (m, kq)), r)


@implements(np.linalg.pinv, family=_FAMILY, note="at the rank the cutoff finds")
def pinv(a, rcond=None, hermitian=False, *, rtol=np._NoValue):
    _checked(a, "pinv", square=bool(hermitian))
    options = {"hermitian": bool(hermitian)}  # NumPy's defaults for the rest
    if rcond is not None:
        options["rcond"] = rcond
    if rtol is not np._NoValue:
        options["rtol"] = rtol
    return _PINV([a], options=options)


@implements(np.linalg.matrix_power, family=_FAMILY, note="products, as NumPy's")
def matrix_power(a, n):
    """``a`` to the integer power ``n`` (``inv(a)`` to ``-n`` if negative),
    by NumPy's own sequence of products.

    >>> import tapegrad as tg
    >>> np.linalg.matrix_power(tg.tensor([[1.0, 1.0], [0.0, 1.0]]), -3).value
    array([[ 1., -3.],
           [ 0.,  1.]])
    """
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"numpy.linalg.matrix_power: the exponent must be an integer, "
                        f"got {n!r}") from None
    shape = _checked(a, "matrix_power")
    if n == 0:
        eye = np.eye(shape[-1], dtype=_dtype(a))
        return tensor(np.broadcast_to(eye, shape).copy())
    if n < 0:
        a, n = inv(a), -n
    if n <= 3:
        return a if n == 1 else a @ a if n == 2 else (a @ a) @ a
    z = result = None
    while n > 0:
        z = a if z is None else z @ z
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else result @ z
    return result


def _vector_norm(x, ord, axis, keepdims):
    """The ``ord``-norm of ``x``'s vectors along ``axis`` (an int or a tuple)."""
    if ord is None or ord == 2:
        return np.sqrt((x * x).sum(axis=axis, keepdims=keepdims))
    if isinstance(ord, str):
        raise ValueError(f"numpy.linalg.norm: invalid norm order {ord!r} for vectors")
    size = np.abs(x)
    if ord == math.inf:
        return size.max(axis=axis, keepdims=keepdims)
    if ord == -math.inf:
        return size.min(axis=axis, keepdims=keepdims)
    if ord == 0:  # how many are not zero: sign() is recomputed by a replay, with no gradient
        return np.sign(size).sum(axis=axis, keepdims=keepdims)
    if ord == 1:
        return size.sum(axis=axis, keepdims=keepdims)
    return (size ** ord).sum(axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _matrix_norm(x, ord, row, col, keepdims):
    """The ``ord``-norm of ``x``'s matrices on axes ``row`` and ``col`` (>= 0)."""
    if ord in (2, -2, "nuc"):
        others = [k for k in range(x.ndim) if k not in (row, col)]
        s = _SVDVALS([x.transpose(others + [row, col])])
        result = s.sum(axis=-1) if ord == "nuc" else s.max(axis=-1) if ord == 2 \
            else s.min(axis=-1)
    elif ord in (1, -1):  # the largest (smallest) column sum
        sums = np.abs(x).sum(axis=row)
        left = col - 1 if col > row else col
        result = sums.max(axis=left) if ord == 1 else sums.min(axis=left)
    elif ord in (math.inf, -math.inf):  # the largest (smallest) row sum
        sums = np.abs(x).sum(axis=col)
        left = row - 1 if row > col else row
        result = sums.max(axis=left) if ord > 0 else sums.min(axis=left)
    elif ord in (None, "fro", "f"):
        result = np.sqrt((x * x).sum(axis=(row, col)))
    else:
        raise ValueError(f"numpy.linalg.norm: invalid norm order {ord!r} for matrices")
    if keepdims:
        shape = list(x.shape)
        shape[row] = shape[col] = 1
        result = result.reshape(shape)
    return result


def _axes(axis, ndim, func):
    """``axis`` (an int or a tuple of them) as a tuple of axes >= 0."""
    try:
        axes = tuple(operator.index(a) for a in (axis if isinstance(axis, tuple) else (axis,)))
    except TypeError:
        raise TypeError(f"numpy.linalg.{func}: axis must be None, an integer or a tuple of "
                        f"integers, got {axis!r}") from None
    for a in axes:
        if not -ndim <= a < ndim:
            raise _AxisError(a, ndim, f"numpy.linalg.{func}")
    axes = tuple(a % ndim for a in axes)
    if len(set(axes)) != len(axes):
        raise ValueError(f"numpy.linalg.{func}: duplicate axes given: {axis!r}")
    return axes


def _tensor_of(x, func):
    """``x`` as a Tensor (a Value becomes a 0-d one), once known to be real."""
    _checked(x, func, square=False, least=0)
    if isinstance(x, Tensor):
        return x
    return x * np.ones((), dtype=np.float64 if isinstance(x, Value) else _dtype(x))


@implements(np.linalg.norm, family=_FAMILY, note="every ord; nan gradient at 0 (2-norms)")
def norm(x, ord=None, axis=None, keepdims=False):
    """NumPy's vector and matrix norms (every ``ord``), composed of recorded
    operations: sums, ``abs``, ``sqrt``, extrema and singular values.

    >>> import tapegrad as tg
    >>> x = tg.tensor([[3.0, -4.0], [0.0, 0.0]], requires_grad=True)
    >>> n = np.linalg.norm(x, axis=1)
    >>> n.value, n[0].backward(), x.grad
    (array([5., 0.]), None, array([[ 0.6, -0.8],
           [ 0. ,  0. ]]))
    """
    if isinstance(x, Value) and axis is None and ord is None:
        return abs(x)
    x = _tensor_of(x, "norm")
    ndim = x.ndim
    if axis is None:
        if ord is None or (ord in ("f", "fro") and ndim == 2) or (ord == 2 and ndim == 1):
            result = np.sqrt((x * x).sum())
            return result.reshape((1,) * ndim) if keepdims else result
        axis = tuple(range(ndim))
    axes = _axes(axis, ndim, "norm")
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes[0], axes[1], keepdims)
    raise ValueError(f"numpy.linalg.norm: improper number of dimensions to norm "
                     f"({ndim}-dimensional array, axis {axis!r}, ord {ord!r})")


@_numpy_2("vector_norm")
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    x = _tensor_of(x, "vector_norm")
    axes = tuple(range(x.ndim)) if axis is None else _axes(axis, x.ndim, "vector_norm")
    return _vector_norm(x, ord, axes, keepdims)


@_numpy_2("matrix_norm")
def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    x = _tensor_of(x, "matrix_norm")
    _checked(x, "matrix_norm", square=False)
    return _matrix_norm(x, ord, x.ndim - 2, x.ndim - 1, keepdims)


@implements(np.linalg.lstsq, family=_FAMILY, note="x = pinv(a) @ b; rank: data")
def lstsq(a, b, rcond=None):
    """``(x, residuals, rank, s)`` as NumPy's: ``x = pinv(a, rcond) @ b``
    (the same cutoff), ``s`` the singular values (both recorded); ``rank``,
    and whether there are residuals (full rank, more rows than columns),
    are decided now from the values."""
    sa, sb = _checked(a, "lstsq", square=False), _checked(b, "lstsq", square=False, least=1)
    if len(sa) != 2 or len(sb) > 2 or sb[0] != sa[0]:
        raise LinAlgError(f"numpy.linalg.lstsq: a of shape {sa} and b of shape {sb} do not "
                          "fit (a is a matrix, b has as many rows)")
    m, n = sa
    dtype = np.result_type(_dtype(a), _dtype(b), np.float32)
    if rcond is None or rcond < 0:
        rcond = np.finfo(dtype).eps * (max(m, n) if rcond is None else 1)
    s = _SVDVALS([a])
    values = np.asarray(plain(s))
    rank = int(np.sum(values > rcond * values.max())) if values.size else 0
    x = pinv(a, rcond=rcond) @ b
    if rank == n and m > n:
        residuals = ((a @ x - b) ** 2).sum(axis=0)
        residuals = residuals.reshape(1) if len(sb) == 1 else residuals
    else:
        residuals = tensor(np.empty((0,), dtype))
    return x, residuals, rank, s


@implements(np.linalg.multi_dot, family=_FAMILY)
def multi_dot(arrays, *, out=None):
    if out is not None:
        raise TypeError("numpy.linalg.multi_dot(..., out=...) on a traced value: tapegrad "
                        "records a new array and never writes into one; drop out=")
    shapes = [np.shape(plain(x, reads=False)) for x in arrays]
    if len(shapes) < 2 or any(len(s) != 2 for s in shapes[1:-1]) \
            or len(shapes[0]) not in (1, 2) or len(shapes[-1]) not in (1, 2):
        raise ValueError(f"numpy.linalg.multi_dot: needs two or more arrays, matrices but the "
                         f"first and last (1-D allowed), got shapes {shapes}")
    return functools.reduce(np.matmul, arrays)


@implements(np.linalg.tensorinv, family=_FAMILY)
def tensorinv(a, ind=2):
    a = _tensor_of(a, "tensorinv")
    if ind <= 0:
        raise ValueError(f"numpy.linalg.tensorinv: ind must be a positive integer, got {ind}")
    rows, columns = a.shape[:ind], a.shape[ind:]
    return inv(a.reshape(math.prod(columns), -1)).reshape(columns + rows)


@implements(np.linalg.tensorsolve, family=_FAMILY)
def tensorsolve(a, b, axes=None):
    a = _tensor_of(a, "tensorsolve")
    if axes is not None:
        order = [k for k in range(a.ndim) if k not in axes] + list(axes)
        a = a.transpose([k % a.ndim for k in order])
    sb = np.shape(plain(b, reads=False))
    unknowns = a.shape[len(sb):]
    b = b if isinstance(b, Tensor) else np.asarray(b)
    x = solve(a.reshape(math.prod(sb), math.prod(unknowns)), b.reshape(-1))
    return x.reshape(unknowns)


@_numpy_2("matrix_transpose")
def matrix_transpose(x, /):
    return transposed(_tensor_of(x, "matrix_transpose"))


@_numpy_2("outer")
def outer(x1, x2, /):
    s1, s2 = (np.shape(plain(x, reads=False)) for x in (x1, x2))
    if len(s1) != 1 or len(s2) != 1:
        raise ValueError(f"numpy.linalg.outer: needs two vectors, got shapes {s1} and {s2}")
    left = x1.reshape(-1, 1) if isinstance(x1, Tensor) else np.reshape(x1, (-1, 1))
    return left * x2


# NumPy 2's numpy.linalg spellings of other families' functions: their rules.
_SPELLINGS = {
    "matmul": lambda x1, x2, /: np.matmul(x1, x2),
    "vecdot": lambda x1, x2, /, *, axis=-1: np.multiply(x1, x2).sum(axis=axis),
    "trace": lambda x, /, *, offset=0, dtype=None: np.trace(x, offset, -2, -1, dtype),
    "diagonal": lambda x, /, *, offset=0: np.diagonal(x, offset, -2, -1),
    "tensordot": lambda x1, x2, /, *, axes=2: np.tensordot(x1, x2, axes),
    "cross": lambda x1, x2, /, *, axis=-1: np.cross(x1, x2, axis=axis),
}
for _name, _spelling in _SPELLINGS.items():
    _numpy_2(_name)(_spelling)

passthrough(np.linalg.matrix_rank, np.linalg.cond, family="data", reads=True,
            note="data: no gradient, computed at trace time")

__all__ = []
