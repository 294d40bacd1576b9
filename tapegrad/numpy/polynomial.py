"""NumPy's polynomial functions (the ``np.poly*`` family, coefficients
highest power first) on Values and Tensors: ``polyval``, ``vander``,
``polyder`` and ``polyfit``.

All are composed of recorded operations: ``polyval`` is Horner's rule as
NumPy runs it (``p`` and ``x`` may both be traced), ``vander`` a running
product of the broadcast column (``np.cumprod``, exact at zeros),
``polyder`` coefficients times their powers, and ``polyfit`` NumPy's
scaled least squares through ``np.linalg.lstsq`` (``x``, ``y`` and ``w``
may be traced; differentiated at the rank found now).  Float32 stays
float32 (NumPy's ``vander`` and ``polyder`` would give float64).

>>> import numpy as np, tapegrad as tg
>>> p = tg.tensor([1.0, -2.0, 3.0], requires_grad=True)
>>> y = np.polyval(np.polyder(p), 2.0) + np.polyval(p, 1.0)
>>> y.backward(); p.grad
array([5., 2., 1.])
"""

import numbers
import operator
import warnings

import numpy as np

from tapegrad.core.numpy_protocol import implements
from tapegrad.scalar import Value
from tapegrad.array.tensor import tensor
from tapegrad.numpy.shaping import as_tensor, broadcast_to, operand, shape_of

FAMILY = "polynomial"
_RankWarning = getattr(np, "exceptions", np).RankWarning


def _float_dtype(x):
    dtype = np.dtype(np.float64) if x.__class__ is Value else np.result_type(
        getattr(x, "_v", x))
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


@implements(np.polyval, family=FAMILY, note="Horner's rule")
def polyval(p, x):
    """``np.polyval``: ``p[0] x**(n-1) + ... + p[n-1]`` by Horner's rule.

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor([0.0, 2.0], requires_grad=True)
    >>> np.polyval([1.0, 0.0, -1.0], x).sum().backward(); x.grad
    array([0., 4.])
    """
    p, x = operand(p, "polyval"), operand(x, "polyval")
    if not shape_of(p):
        raise TypeError("numpy.polyval: p must be a sequence of coefficients, not a scalar")
    if x.__class__ is Value or isinstance(x, numbers.Real):  # weak: p's dtype stays
        y, item = 0.0, (lambda k: p[k]) if x.__class__ is Value else (lambda k: p[k, ...])
    else:
        y, item = np.zeros_like(x), lambda k: p[k]
    for k in range(shape_of(p)[0]):
        y = y * x + item(k)
    return y


@implements(np.vander, family=FAMILY, note="a running product (np.cumprod)")
def vander(x, N=None, increasing=False):
    """``np.vander``: the columns ``x**(N-1), ..., x, 1`` (reversed if
    ``increasing``), by running products: exact at zeros.

    >>> import numpy as np, tapegrad as tg
    >>> np.vander(tg.tensor([2.0, 3.0]), 3).value
    array([[4., 2., 1.],
           [9., 3., 1.]])
    """
    x = as_tensor(x, "vander")
    if x.ndim != 1:
        raise ValueError("numpy.vander: x must be a one-dimensional array or sequence.")
    n = x.shape[0]
    N = n if N is None else operator.index(N)
    if N < 0:
        raise ValueError(f"numpy.vander: N must be non-negative, not {N}")
    dtype = _float_dtype(x)
    x = x if x.dtype == dtype else x.astype(dtype)
    ones = np.ones((n, min(N, 1)), dtype=dtype)
    if N <= 1:
        return tensor(ones)
    powers = np.cumprod(broadcast_to(x.reshape((n, 1)), (n, N - 1)), axis=1)
    v = np.concatenate([ones, powers], axis=1)
    return v if increasing else np.flip(v, axis=1)


@implements(np.polyder, family=FAMILY, note="coefficients times powers (no poly1d)")
def polyder(p, m=1):
    """``np.polyder`` of coefficients: ``p[k]`` times its power, ``m`` times.

    >>> import numpy as np, tapegrad as tg
    >>> np.polyder(tg.tensor([1.0, 1.0, 1.0, 1.0]), 2).value
    array([6., 2.])
    """
    m = operator.index(m)
    if m < 0:
        raise ValueError("numpy.polyder: Order of derivative must be positive (see polyint)")
    p = as_tensor(p, "polyder")
    if p.ndim != 1:
        raise ValueError(f"numpy.polyder: p must be a vector of coefficients, not of shape "
                         f"{p.shape}")
    dtype = _float_dtype(p)
    for _ in range(m):
        n = p.shape[0] - 1
        p = p[:-1] * np.arange(n, 0, -1, dtype=dtype)
    return p


@implements(np.polyfit, family=FAMILY, note="scaled lstsq; full=/cov= not supported")
def polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    """``np.polyfit``: the least-squares coefficients, as NumPy finds them
    (columns of the Vandermonde matrix scaled to unit norm, then
    ``np.linalg.lstsq``); ``x``, ``y`` and ``w`` may be traced.

    >>> import numpy as np, tapegrad as tg
    >>> y = tg.tensor([1.0, 3.0, 5.0, 7.0], requires_grad=True)
    >>> np.polyfit(np.arange(4.0), y, 1).value.round(6)
    array([2., 1.])
    """
    if full or cov is not False:
        raise TypeError("numpy.polyfit(..., full=True or cov=...) is not supported on traced "
                        "values: the coefficients only")
    order = operator.index(deg) + 1
    if order < 1:
        raise ValueError("numpy.polyfit: expected deg >= 0")
    x, y = as_tensor(x, "polyfit"), as_tensor(y, "polyfit")
    if x.ndim != 1:
        raise TypeError("numpy.polyfit: expected 1D vector for x")
    if x.size == 0:
        raise TypeError("numpy.polyfit: expected non-empty vector for x")
    if y.ndim < 1 or y.ndim > 2:
        raise TypeError("numpy.polyfit: expected 1D or 2D array for y")
    if x.shape[0] != y.shape[0]:
        raise TypeError("numpy.polyfit: expected x and y to have same length")
    dtype = np.result_type(_float_dtype(x), _float_dtype(y))
    x, y = (t if t.dtype == dtype else t.astype(dtype) for t in (x, y))
    if rcond is None:
        rcond = x.shape[0] * np.finfo(dtype).eps
    lhs, rhs = vander(x, order), y
    if w is not None:
        w = as_tensor(w, "polyfit")
        if w.ndim != 1:
            raise TypeError("numpy.polyfit: expected a 1-d array for weights")
        if w.shape[0] != y.shape[0]:
            raise TypeError("numpy.polyfit: expected w and y to have the same length")
        w = w if w.dtype == dtype else w.astype(dtype)
        lhs = lhs * w[:, None]
        rhs = rhs * (w[:, None] if rhs.ndim == 2 else w)
    scale = np.sqrt(np.sum(lhs * lhs, axis=0))
    c, _, rank, _ = np.linalg.lstsq(lhs / scale, rhs, rcond)
    if rank != order:
        warnings.warn("numpy.polyfit may be poorly conditioned", _RankWarning, stacklevel=2)
    return (c.T / scale).T


__all__ = []
