"""NumPy's order statistics, nan-skipping reductions, running extrema and
rounding on Values and Tensors (covariances: :mod:`tapegrad.numpy.covariances`).

``np.median``, ``np.quantile`` and ``np.percentile`` sort with ``np.sort``
(its permutation is found again at each replay) and pick or interpolate
between the sorted elements at indices that depend on the shapes and ``q``
only (``q`` is constant data; every NumPy ``method`` is taken).  The
nan-skipping ``nansum``, ``nanmean``, ``nanprod``, ``nanmax``, ``nanmin``,
``nanmedian``, ``nanquantile`` and ``nanpercentile`` select the nans out
with ``np.where(x != x, fill, x)``: a comparison of traced values is
recorded, so a replay finds the nans again and they get a zero gradient.
In the nan-skipping quantiles how many elements each lane keeps is
recorded too; which sorted elements are picked is a comparison with it.
``np.maximum.accumulate`` and ``np.minimum.accumulate`` are the declared
``running_extremum``; ``np.round`` (``around``) is ``np.rint`` of a scaled
copy, zero slope everywhere.  Float32 stays float32 (NumPy's array-``q``
quantiles would give float64).

>>> import numpy as np, tapegrad as tg
>>> x = tg.tensor([3.0, np.nan, 1.0, 2.0], requires_grad=True)
>>> y = np.nanmedian(x) + np.median(x[[0, 2, 3]]) + np.maximum.accumulate(x[[2, 0]]).sum()
>>> y.backward(); x.grad
array([1., 0., 1., 2.])
"""

import math
import operator

import numpy as np

from tapegrad.core.numpy_protocol import implements, implements_method
from tapegrad.piecewise import where
from tapegrad.scalar import Value
from tapegrad.array.tensor import recorder, tensor
from tapegrad.numpy.shaping import as_tensor, axis_tuple, no_out, operand, shape_of, traced

try:  # NumPy's own table of quantile methods: virtual indices and weights
    from numpy.lib._function_base_impl import _QuantileMethods
except ImportError:  # pragma: no cover - older NumPy: the default method only
    _QuantileMethods = {"linear": {"get_virtual_index": lambda n, q: (n - 1) * q,
                                   "fix_gamma": lambda gamma, _: gamma}}

FAMILY = "statistics"
_NO = np._NoValue
_RUNNING = recorder("running_extremum")


# --- helpers ----------------------------------------------------------------------

def _refuse_where(where, name):
    if where is not True and where is not _NO:
        raise TypeError(f"numpy.{name}(..., where=...) on a traced value is not supported: "
                        "select with np.where first")


def as_floating(a, name):
    """``a`` as a float Tensor (a Value as a 0-d one, integers as float64).

    >>> as_floating([1, 2], "median").dtype
    dtype('float64')
    """
    a = as_tensor(a, name)
    return a if a.dtype.kind == "f" else a.astype(np.float64)


def _lanes(a, axis, name):
    """``(lanes, shape, kept)``: ``a``'s elements along ``axis`` as the last
    axis of ``lanes`` (the other axes first, in order), the shape of a result
    without that axis, and with it kept as 1s."""
    axes = tuple(range(a.ndim)) if axis is None else axis_tuple(axis, a.ndim, name)
    others = tuple(k for k in range(a.ndim) if k not in axes)
    shape = tuple(a.shape[k] for k in others)
    kept = tuple(1 if k in axes else n for k, n in enumerate(a.shape))
    if others + axes != tuple(range(a.ndim)):
        a = a.transpose(others + axes)
    return a.reshape(shape + (math.prod(a.shape[len(others):]),)), shape, kept


def _shaped(result, shape, q_shape, kept, keepdims, value_in):
    """``result`` (``shape`` then ``q_shape``) as NumPy orders it: ``q``'s
    axes first, then the others (``kept`` with ``keepdims``)."""
    result = result.reshape(shape + q_shape)
    if q_shape and shape:
        nq = len(q_shape)
        result = result.transpose(tuple(range(len(shape), len(shape) + nq))
                                  + tuple(range(len(shape))))
    if keepdims:
        result = result.reshape(q_shape + kept)
    return result[()] if value_in and result.ndim == 0 else result


def _nan_where_any(sorted_lanes, result):
    """``result`` made nan where its lane (sorted: nans last) holds a nan."""
    last = sorted_lanes[..., -1:]
    return np.where(last != last, last, result)  # noqa: PLR0124 (recorded, not np.isnan)


# --- order statistics ---------------------------------------------------------------

@implements(np.median, family=FAMILY, note="sorted (np.sort), the middle; nan if any")
def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """``np.median``: the middle of the sorted lane, or the mean of the two
    middle elements; nan where a lane holds a nan.

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor([[4.0, 1.0, 3.0, 2.0]], requires_grad=True)
    >>> np.median(x, axis=1).backward(); x.grad
    array([[0. , 0. , 0.5, 0.5]])
    """
    no_out(out, "median")
    value_in = a.__class__ is Value
    lanes, shape, kept = _lanes(as_floating(a, "median"), axis, "median")
    n = lanes.shape[-1]
    if n == 0:
        return _shaped(np.mean(lanes, axis=-1), shape, (), kept, keepdims, value_in)
    s = np.sort(lanes, axis=-1)
    k = n // 2
    middle = s[..., k:k + 1] if n % 2 else np.sum(s[..., k - 1:k + 1], axis=-1,
                                                   keepdims=True) / 2.0
    return _shaped(_nan_where_any(s, middle), shape, (), kept, keepdims, value_in)


def _constant_q(q, name, scale):
    """``q`` (constant data) as a float64 array, divided by ``scale``, checked."""
    if traced(q):
        raise TypeError(f"numpy.{name}: q must be constant data (tapegrad differentiates "
                        "with respect to a, not q)")
    q = np.true_divide(np.asarray(q, dtype=np.float64), scale)
    if q.size and not (np.all(q >= 0) and np.all(q <= 1)):
        what = "Percentiles must be in the range [0, 100]" if scale == 100 else \
            "Quantiles must be in the range [0, 1]"
        raise ValueError(f"numpy.{name}: {what}")
    return q


def _method(method, name):
    props = _QuantileMethods.get(method)
    if props is None:
        raise ValueError(f"numpy.{name}: {method!r} is not a valid method (one of "
                         f"{', '.join(_QuantileMethods)})")
    return props


def _lerp(a, b, t):
    """NumPy's ``_lerp``: ``a + (b - a) t``, from ``b``'s side where
    ``t >= 0.5`` (``t`` constant or traced)."""
    diff = b - a
    if not traced(t):
        upper = t >= 0.5
        if upper.all():
            return b - diff * (1.0 - t)
        if not upper.any():
            return a + diff * t
    return np.where(t >= 0.5, b - diff * (1.0 - t), a + diff * t)


def _quantile(name, a, q, axis, method, keepdims, weights, scale):
    if weights is not None:
        raise TypeError(f"numpy.{name}(..., weights=...) is not supported on traced values")
    props = _method(method, name)
    q = _constant_q(q, name, scale)
    value_in = a.__class__ is Value
    lanes, shape, kept = _lanes(as_floating(a, name), axis, name)
    n = lanes.shape[-1]
    if n == 0:
        raise IndexError(f"numpy.{name}: cannot take a quantile of an empty lane")
    s = np.sort(lanes, axis=-1)
    index = np.asanyarray(props["get_virtual_index"](n, q)).reshape(-1)
    if index.dtype.kind in "iu":
        result = s[..., index]
    else:
        before = np.floor(index)
        after = before + 1
        before[index >= n - 1] = after[index >= n - 1] = -1
        before[index < 0] = after[index < 0] = 0
        before[np.isnan(index)] = after[np.isnan(index)] = -1
        gamma = props["fix_gamma"](index - before, index).astype(s.dtype)
        result = _lerp(s[..., before.astype(np.intp)], s[..., after.astype(np.intp)], gamma)
    return _shaped(_nan_where_any(s, result), shape, q.shape, kept, keepdims, value_in)


@implements(np.quantile, family=FAMILY, note="sorted (np.sort) and interpolated: all methods")
def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False, *, weights=None):
    """``np.quantile``: the sorted lane at (between) the indices ``method``
    finds for the constant ``q`` (an array ``q``'s axes come first).

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor([4.0, 1.0, 3.0, 2.0], requires_grad=True)
    >>> np.quantile(x, 0.25).backward(); x.grad
    array([0.  , 0.25, 0.  , 0.75])
    """
    no_out(out, "quantile")
    return _quantile("quantile", a, q, axis, method, keepdims, weights, 1)


@implements(np.percentile, family=FAMILY, note="quantile of q / 100")
def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, weights=None):
    """``np.percentile``: :func:`quantile` of ``q / 100``.

    >>> import numpy as np, tapegrad as tg
    >>> np.percentile(tg.tensor([[1.0, 2.0], [3.0, 5.0]]), [50, 100], axis=1).value
    array([[1.5, 4. ],
           [2. , 5. ]])
    """
    no_out(out, "percentile")
    return _quantile("percentile", a, q, axis, method, keepdims, weights, 100)


def _nan_quantile(name, a, q, axis, method, keepdims, weights, scale):
    """The linear quantiles of each lane's elements that are not nan: the
    sorted lane (nans last) weighted by comparisons of the positions with
    the recorded count of the others, so a replay picks anew."""
    if weights is not None:
        raise TypeError(f"numpy.{name}(..., weights=...) is not supported on traced values")
    if method != "linear":
        raise TypeError(f"numpy.{name}(..., method={method!r}) is not supported on traced "
                        "values (only 'linear')")
    q = _constant_q(q, name, scale)
    value_in = a.__class__ is Value
    lanes, shape, kept = _lanes(as_floating(a, name), axis, name)
    s = np.sort(lanes, axis=-1)[..., None, :]  # (lanes, 1, n) against q's (nq, 1)
    number = s == s  # noqa: PLR0124 (a recorded comparison: a replay finds the nans)
    count = in_dtype(np.sum(where(number, 1.0, 0.0), axis=-1, keepdims=True), s.dtype)
    clean = np.where(number, s, 0.0)
    position = np.arange(s.shape[-1], dtype=s.dtype)
    index = (count - 1.0) * q.reshape(-1, 1).astype(s.dtype)
    before = np.maximum(np.floor(index), 0.0)
    after = np.minimum(before + 1.0, np.maximum(count - 1.0, 0.0))
    low = np.sum(np.where(position == before, clean, 0.0), axis=-1)
    high = np.sum(np.where(position == after, clean, 0.0), axis=-1)
    result = _lerp(low, high, (index - before)[..., 0])
    result = np.where(count[..., 0] == 0.0, np.nan, result)
    return _shaped(result, shape, q.shape, kept, keepdims, value_in)


@implements(np.nanquantile, family=FAMILY, note="linear only; nans skipped, found at replay")
def nanquantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                keepdims=_NO, *, weights=None):
    """``np.nanquantile`` (``method='linear'``): the quantiles of the
    elements that are not nan (nan where a lane has none).

    >>> import numpy as np, tapegrad as tg
    >>> np.nanquantile(tg.tensor([1.0, np.nan, 3.0]), 0.25).value
    array(1.5)
    """
    no_out(out, "nanquantile")
    return _nan_quantile("nanquantile", a, q, axis, method, keepdims is True, weights, 1)


@implements(np.nanpercentile, family=FAMILY, note="nanquantile of q / 100")
def nanpercentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                  keepdims=_NO, *, weights=None):
    """``np.nanpercentile``: :func:`nanquantile` of ``q / 100``."""
    no_out(out, "nanpercentile")
    return _nan_quantile("nanpercentile", a, q, axis, method, keepdims is True, weights, 100)


@implements(np.nanmedian, family=FAMILY, note="nanquantile at 0.5")
def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=_NO):
    """``np.nanmedian``: the median of the elements that are not nan.

    >>> import numpy as np, tapegrad as tg
    >>> np.nanmedian(tg.tensor([[1.0, np.nan, 3.0], [2.0, 4.0, 8.0]]), axis=1).value
    array([2., 4.])
    """
    no_out(out, "nanmedian")
    return _nan_quantile("nanmedian", a, 0.5, axis, "linear", keepdims is True, None, 1)


# --- nan-skipping reductions --------------------------------------------------------

def _skipping(name, a, fill):
    """``(a, mask)``: ``a`` with its nans replaced by ``fill`` (recorded, so
    a replay finds them again), and the mask of the nans."""
    a = operand(a, name)
    if not traced(a):
        a = tensor(np.asarray(a, dtype=np.result_type(a, np.float64)))
    nan = a != a  # noqa: PLR0124 (a recorded comparison: np.isnan would be data)
    return np.where(nan, fill, a), nan


def in_dtype(x, dtype):
    """``x`` (a Tensor, Value or array) cast to ``dtype`` if it is not in it.

    >>> in_dtype(np.ones(2, np.float32), np.float64).dtype
    dtype('float64')
    """
    return x if getattr(x, "dtype", dtype) == dtype else x.astype(dtype)


def _numbers(a, nan, axis, keepdims):
    """How many elements are not nan, over ``axis``, in ``a``'s dtype."""
    count = np.sum(where(nan, 0.0, 1.0), axis=axis, keepdims=keepdims)  # a Mask stays one
    return in_dtype(count, getattr(a, "dtype", np.dtype(np.float64)))


@implements(np.nansum, family=FAMILY, note="nans as 0 (found again at replay)")
def nansum(a, axis=None, dtype=None, out=None, keepdims=_NO, initial=_NO, where=_NO):
    """``np.nansum``: the sum with the nans left out (and no gradient).

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor([1.0, np.nan, 2.0], requires_grad=True)
    >>> np.nansum(x).backward(); x.grad
    array([1., 0., 1.])
    """
    no_out(out, "nansum")
    _refuse_where(where, "nansum")
    kept, _ = _skipping("nansum", a, 0.0)
    return np.sum(kept, axis=axis, dtype=dtype, keepdims=keepdims is True, initial=initial)


@implements(np.nanprod, family=FAMILY, note="nans as 1 (found again at replay)")
def nanprod(a, axis=None, dtype=None, out=None, keepdims=_NO, initial=_NO, where=_NO):
    """``np.nanprod``: the product with the nans left out."""
    no_out(out, "nanprod")
    _refuse_where(where, "nanprod")
    kept, _ = _skipping("nanprod", a, 1.0)
    return np.prod(kept, axis=axis, dtype=dtype, keepdims=keepdims is True, initial=initial)


@implements(np.nanmean, family=FAMILY, note="nansum over the count of the others")
def nanmean(a, axis=None, dtype=None, out=None, keepdims=_NO, *, where=_NO):
    """``np.nanmean``: the mean of the elements that are not nan.

    >>> import numpy as np, tapegrad as tg
    >>> np.nanmean(tg.tensor([[1.0, np.nan], [2.0, 4.0]]), axis=1).value
    array([1., 3.])
    """
    no_out(out, "nanmean")
    _refuse_where(where, "nanmean")
    kept, nan = _skipping("nanmean", a, 0.0)
    total = np.sum(kept, axis=axis, dtype=dtype, keepdims=keepdims is True)
    count = _numbers(total, nan, axis, keepdims is True)
    return total / count


def _nan_extremum(name, reduce, fill, a, axis, keepdims, initial):
    kept, nan = _skipping(name, a, fill)
    result = reduce(kept, axis=axis, keepdims=keepdims is True, initial=initial)
    if initial is not _NO:
        return result
    return np.where(_numbers(result, nan, axis, keepdims is True) == 0.0, np.nan, result)


@implements(np.nanmax, family=FAMILY, note="nans as -inf; nan where all are")
def nanmax(a, axis=None, out=None, keepdims=_NO, initial=_NO, where=_NO):
    """``np.nanmax``: the largest element that is not nan (nan if none is).

    >>> import numpy as np, tapegrad as tg
    >>> np.nanmax(tg.tensor([[1.0, np.nan], [np.nan, np.nan]]), axis=1).value
    array([ 1., nan])
    """
    no_out(out, "nanmax")
    _refuse_where(where, "nanmax")
    return _nan_extremum("nanmax", np.max, -np.inf, a, axis, keepdims, initial)


@implements(np.nanmin, family=FAMILY, note="nans as inf; nan where all are")
def nanmin(a, axis=None, out=None, keepdims=_NO, initial=_NO, where=_NO):
    """``np.nanmin``: the smallest element that is not nan (nan if none is)."""
    no_out(out, "nanmin")
    _refuse_where(where, "nanmin")
    return _nan_extremum("nanmin", np.min, np.inf, a, axis, keepdims, initial)


# --- running extrema ------------------------------------------------------------------

def _running(largest):
    name = f"{'maximum' if largest else 'minimum'}.accumulate"

    def accumulate(array, axis=0, dtype=None, out=None):
        no_out(out, name)
        if not shape_of(array):
            raise TypeError(f"numpy.{name}: cannot accumulate on a scalar")
        a = as_tensor(array, name)
        if isinstance(axis, tuple):
            if len(axis) != 1:
                raise ValueError(f"numpy.{name}: accumulate does not allow multiple axes")
            axis = axis[0]
        if axis is None:
            if a.ndim > 1:
                raise ValueError(f"numpy.{name}: accumulate does not allow multiple axes")
            axis = 0
        axis = axis_tuple(axis, a.ndim, name)[0]
        if dtype is not None and np.dtype(dtype) != a.dtype:
            if np.dtype(dtype).kind != "f":
                raise TypeError(f"numpy.{name}(..., dtype={np.dtype(dtype)}): tapegrad "
                                "accumulates in a float dtype only")
            a = a.astype(dtype)
        return _RUNNING([a], axis=axis, largest=largest)

    accumulate.__name__ = accumulate.__qualname__ = f"{name.split('.')[0]}_accumulate"
    accumulate.__doc__ = (f"``np.{name}``: the running {name[:7]} along ``axis``; each "
                          "output's gradient goes to the element it equals (the latest on "
                          "a tie), found again at each replay.")
    return implements_method(np.maximum if largest else np.minimum, "accumulate",
                             family=FAMILY, note="declared: the gradient to the latest "
                                                 "element attaining it")(accumulate)


maximum_accumulate, minimum_accumulate = _running(True), _running(False)


# --- rounding ----------------------------------------------------------------------------

@implements(np.round, np.around, family=FAMILY, note="np.rint of a scaled copy: zero slope")
def round_(a, decimals=0, out=None):
    """``np.round``: as NumPy rounds floats (half to even), scaled by
    ``10**decimals``; its derivative is 0 everywhere.

    >>> import numpy as np, tapegrad as tg
    >>> np.round(tg.tensor([1.2345, -2.5]), 2).value
    array([ 1.23, -2.5 ])
    """
    no_out(out, "round")
    try:
        decimals = operator.index(decimals)
    except TypeError:
        raise TypeError(f"numpy.round: decimals must be an integer, not {decimals!r}") from None
    a = operand(a, "round")
    if decimals == 0:
        return np.rint(a)
    if decimals > 0:
        scale = 10.0 ** decimals
        return np.rint(a * scale) / scale
    scale = 10.0 ** -decimals
    return np.rint(a / scale) * scale


__all__ = []
