"""NumPy's covariances on Values and Tensors: ``np.cov`` and ``np.corrcoef``.

Both are means, products and ``np.clip``, with NumPy's ``bias``, ``ddof``,
``fweights`` (integer data) and ``aweights`` (data, or traced), so their
derivatives are those of the ops they are made of.  Float32 stays float32
(NumPy's ``cov`` would give float64).  They register in the statistics
family, after :mod:`tapegrad.numpy.quantiles`.

>>> import numpy as np, tapegrad as tg
>>> x = tg.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 4.0]], requires_grad=True)
>>> np.cov(x)[0, 1].backward(); x.grad
array([[-0.5, -0.5,  1. ],
       [-0.5,  0. ,  0.5]])
"""

import warnings

import numpy as np

from tapegrad.core.numpy_protocol import implements, plain
from tapegrad.array.tensor import tensor
from tapegrad.numpy.quantiles import FAMILY, as_floating, in_dtype
from tapegrad.numpy.shaping import operand, shape_of, traced


def _variables(x, rowvar, name):
    """``x`` as a matrix with one variable a row (at most 2-d, as NumPy's cov)."""
    x = as_floating(x, name)
    if x.ndim > 2:
        raise ValueError(f"numpy.{name}: m has more than 2 dimensions")
    if x.ndim < 2:
        x = x.reshape((1, -1))
    return x if rowvar or x.shape[0] == 1 else x.T


@implements(np.cov, family=FAMILY, note="centred rows, a product, a scale")
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *,
        dtype=None):
    """``np.cov``: the covariance matrix of the rows (``rowvar``) or columns
    of ``m`` (and ``y``), with NumPy's ``bias``, ``ddof``, ``fweights``
    (integer data) and ``aweights`` (data, or traced).

    >>> import numpy as np, tapegrad as tg
    >>> np.cov(tg.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])).value
    array([[ 1., -1.],
           [-1.,  1.]])
    """
    if ddof is not None and ddof != int(ddof):
        raise ValueError("numpy.cov: ddof must be integer")
    x = _variables(m, rowvar, "cov")
    if dtype is not None:
        if np.dtype(dtype).kind != "f":
            raise TypeError(f"numpy.cov(..., dtype={np.dtype(dtype)}): a float dtype only")
        x = x.astype(dtype)
    if x.shape[0] == 0:
        return tensor(np.zeros((0, 0), x.dtype))
    if y is not None:
        x = np.concatenate([x, _variables(y, rowvar, "cov").astype(x.dtype)], axis=0)
    ddof = (0 if bias else 1) if ddof is None else ddof
    n = x.shape[1]
    w = None
    if fweights is not None:
        w = np.asarray(plain(fweights), dtype=x.dtype)
        if not np.all(w == np.around(w)):
            raise TypeError("numpy.cov: fweights must be integer")
        if w.shape != (n,):
            raise RuntimeError(f"numpy.cov: fweights of shape {w.shape} for {n} observations")
        if np.any(w < 0):
            raise ValueError("numpy.cov: fweights cannot be negative")
    if aweights is not None:
        a = operand(aweights, "cov")
        if shape_of(a) != (n,):
            raise RuntimeError(f"numpy.cov: aweights of shape {shape_of(a)} for {n} "
                               "observations")
        if not traced(a) and np.any(np.asarray(a) < 0):
            raise ValueError("numpy.cov: aweights cannot be negative")
        a = in_dtype(a, x.dtype)
        w = a if w is None else w * a
    if w is None:
        centred = x - np.mean(x, axis=1, keepdims=True)
        fact = n - ddof
        if fact <= 0:
            warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=2)
            fact = 0.0
        c = (centred @ centred.T) * float(np.true_divide(1, fact))
    else:
        average, total = np.average(x, axis=1, weights=w), np.sum(w)
        if ddof == 0:
            fact = total
        elif aweights is None:
            fact = total - ddof
        else:
            fact = total - ddof * np.sum(w * a) / total
        centred = x - average[:, None]
        c = (centred @ (centred * w).T) / fact
    return np.squeeze(c)


@implements(np.corrcoef, family=FAMILY, note="cov over the outer product of the deviations")
def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """``np.corrcoef``: :func:`cov` divided by the deviations, clipped to
    [-1, 1] as NumPy clips it.

    >>> import numpy as np, tapegrad as tg
    >>> np.corrcoef(tg.tensor([0.0, 1.0, 2.0]), tg.tensor([2.0, 1.0, 0.5])).value.round(4)
    array([[ 1.   , -0.982],
           [-0.982,  1.   ]])
    """
    c = cov(x, y, rowvar, dtype=dtype)
    if c.ndim == 0:
        return c / c
    deviation = np.sqrt(np.diagonal(c))
    c = c / deviation[:, None] / deviation[None, :]
    return np.clip(c, -1, 1)


__all__ = []
