"""NumPy's reductions and statistics on Values and Tensors.

``np.sum``, ``np.mean``, ``np.max``/``np.min`` (and ``amax``/``amin``)
record the declared reductions of :mod:`tapegrad.array.ops.reductions`;
``np.prod``, ``np.cumsum`` and ``np.cumprod`` the declared ops of
:mod:`tapegrad.array.ops.statistics` (exact at zeros); ``np.var``,
``np.std``, ``np.average`` and ``np.ptp`` are composed of those and
arithmetic.  The ufunc methods are the same functions: ``np.add.reduce``
is ``np.sum``, ``np.multiply.accumulate`` is ``np.cumprod``, and so on.

Axes are NumPy's (None, an int, a tuple, negative counts from the end) and
so are ``keepdims``, ``initial``, ``ddof`` and ``dtype`` (a float dtype: the
elements are cast first, a recorded cast).  ``out=`` and ``where=`` raise
``TypeError``.  A ``Value`` is a 0-d quantity: ``np.sum(v)``, ``np.mean(v)``,
``np.prod(v)`` and ``np.max(v)`` are ``v`` itself, ``np.var(v)`` is 0 and
``np.cumsum(v)`` a one-element Tensor.

Where ``max``/``min`` tie, the tied elements share the gradient (PyTorch's
rule).  ``np.std``'s gradient where the variance is 0 is what ``sqrt``'s
is at 0: inf times the zero gradient of the variance, so nan, as PyTorch's.

>>> import numpy as np, tapegrad as tg
>>> x = tg.tensor([[1.0, 2.0], [0.0, 4.0]], requires_grad=True)
>>> loss = np.prod(x, axis=1).sum() + np.std(x)
>>> loss.backward(); x.grad.round(4)
array([[1.8732, 1.0423],
       [3.7042, 0.3803]])
"""

import math
import warnings

import numpy as np

from tapegrad import functions
from tapegrad.core.numpy_protocol import implements, implements_method
from tapegrad.piecewise import maximum, minimum
from tapegrad.scalar import Value
from tapegrad.array import Tensor, tensor
from tapegrad.array.tensor import check_real, recorder

try:
    from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple
except ImportError:  # NumPy < 2
    from numpy.core.numeric import normalize_axis_index, normalize_axis_tuple

AxisError = getattr(np, "exceptions", np).AxisError

_FAMILY = "statistics"
_NO = np._NoValue
_SUM, _MEAN, _AMAX, _AMIN, _PROD, _CUMSUM, _CUMPROD, _ASTYPE = (
    recorder(name) for name in ("sum", "mean", "amax", "amin", "prod", "cumsum", "cumprod",
                                "astype"))


# --- arguments ----------------------------------------------------------------


def _refuse(name, out=None, where=True):
    if out is not None:
        raise TypeError(f"numpy.{name}(..., out=...) on a traced value: tapegrad records a new "
                        "array and never writes into one; drop out=")
    if where is not True and where is not _NO:
        raise TypeError(f"numpy.{name}(..., where=...) on a traced value is not supported: "
                        "select with np.where first")


def _traced(name, a):
    """``a`` as a Value or Tensor (plain data as a constant Tensor)."""
    if isinstance(a, (Value, Tensor)):
        return a
    array = np.asarray(a)
    check_real(array, f"numpy.{name}")
    return tensor(array)


def _cast(name, a, dtype):
    """``a`` cast to the float ``dtype`` (recorded); a Value stays a Value."""
    if dtype is None:
        return a
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"numpy.{name}(..., dtype={dtype}): tapegrad reduces to a float dtype "
                        "(float32 or float64) only")
    if isinstance(a, Value) or a.dtype == dtype:
        return a
    return _ASTYPE([a], dtype=dtype)


def _keep(keepdims):
    return False if keepdims is _NO else bool(keepdims)


def _axes(name, axis, ndim):
    """``axis`` as a tuple of axes >= 0 (None stays None), checked."""
    if axis is None:
        return None
    if axis.__class__ is int and -ndim <= axis < ndim:  # the common case, quickly
        return (axis % ndim,)
    try:
        return normalize_axis_tuple(axis, ndim)
    except AxisError as e:
        raise AxisError(f"numpy.{name}: {e}") from None
    except (TypeError, ValueError) as e:  # not integers, or one twice
        raise type(e)(f"numpy.{name}: axis={axis!r}: {e}") from None


def _axis(name, axis, ndim):
    """One ``axis`` as an int >= 0, checked."""
    try:
        return normalize_axis_index(axis, ndim)
    except AxisError as e:
        raise AxisError(f"numpy.{name}: {e}") from None
    except TypeError as e:
        raise TypeError(f"numpy.{name}: axis={axis!r}: {e}") from None


def _ndim(a):
    return 0 if isinstance(a, Value) else a.ndim


def _count(a, axes):
    """How many elements each reduction over ``axes`` takes."""
    if isinstance(a, Value):
        return 1
    shape = a.shape
    return math.prod(shape if axes is None else (shape[k] for k in axes))


def _plainly(a, axis, dtype, out, initial, where):
    """Whether a reduction is the common one, a Tensor over all axes or one
    valid int axis with no other option, which records without the checks."""
    return (a.__class__ is Tensor and dtype is None and out is None and initial is _NO
            and where is True and (axis is None or (axis.__class__ is int
                                                    and -a._v.ndim <= axis < a._v.ndim)))


def _plain_axis(a, axis):
    """The axis of a :func:`_plainly` reduction: None, or an int >= 0."""
    return axis if axis is None or axis >= 0 else axis + a._v.ndim


def _reduce(record, a, axes, keepdims):
    """``record`` (a declared reduction) of ``a`` over ``axes``; a Value is a
    0-d quantity, which any reduction leaves as it is."""
    if isinstance(a, Value):
        return a
    return record([a], axis=axes, keepdims=keepdims)


# --- sums, products, extrema ------------------------------------------------------


def _sum(name, a, axis, dtype, keepdims, initial):
    a = _cast(name, _traced(name, a), dtype)
    total = _reduce(_SUM, a, _axes(name, axis, _ndim(a)), _keep(keepdims))
    return total if initial is _NO else total + initial


@implements(np.sum, family=_FAMILY, note="the declared `sum`")
def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO, where=True):
    """``np.sum``: the declared ``sum`` (``dtype``: a cast first).

    >>> import numpy as np, tapegrad as tg
    >>> np.sum(tg.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=-1, keepdims=True).value
    array([[3.],
           [7.]])
    """
    if _plainly(a, axis, dtype, out, initial, where):  # t.sum(), t.sum(axis=0): quickly
        return _SUM([a], axis=_plain_axis(a, axis), keepdims=bool(keepdims))
    _refuse("sum", out, where)
    return _sum("sum", a, axis, dtype, keepdims, initial)


@implements(np.mean, family=_FAMILY, note="the declared `mean`")
def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    """``np.mean``: the declared ``mean``.

    >>> import numpy as np, tapegrad as tg
    >>> np.mean(tg.tensor([[1.0, 2.0], [3.0, 5.0]]), axis=(0, 1)).value
    array(2.75)
    """
    if _plainly(a, axis, dtype, out, _NO, where):
        return _MEAN([a], axis=_plain_axis(a, axis), keepdims=bool(keepdims))
    _refuse("mean", out, where)
    a = _cast("mean", _traced("mean", a), dtype)
    return _reduce(_MEAN, a, _axes("mean", axis, _ndim(a)), _keep(keepdims))


def _prod(name, a, axis, dtype, keepdims, initial):
    a = _cast(name, _traced(name, a), dtype)
    product = _reduce(_PROD, a, _axes(name, axis, _ndim(a)), _keep(keepdims))
    return product if initial is _NO else product * initial


@implements(np.prod, family=_FAMILY, note="declared: exact at zeros (no division)")
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO, where=True):
    """``np.prod``: the declared ``prod``, whose gradient is exact with any
    number of zeros in a lane.

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor([3.0, 0.0, 2.0], requires_grad=True)
    >>> np.prod(x).backward(); x.grad
    array([0., 6., 0.])
    """
    _refuse("prod", out, where)
    return _prod("prod", a, axis, dtype, keepdims, initial)


def _extremum(name, record, pair, a, axis, keepdims, initial):
    a = _traced(name, a)
    axes, keepdims = _axes(name, axis, _ndim(a)), _keep(keepdims)
    if _count(a, axes) == 0:  # NumPy's identity-less reduction of nothing
        if initial is _NO:
            raise ValueError(f"numpy.{name} of a zero-size selection has no identity: "
                             "pass initial=")
        return _reduce(_SUM, a, axes, keepdims) * 0.0 + initial
    result = _reduce(record, a, axes, keepdims)
    return result if initial is _NO else pair(result, initial)


@implements(np.max, np.amax, family=_FAMILY, note="the declared `amax`: ties share")
def amax(a, axis=None, out=None, keepdims=False, initial=_NO, where=True):
    """``np.max``: the declared ``amax``; tied maxima share the gradient.

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor([1.0, 3.0, 3.0], requires_grad=True)
    >>> np.max(x, initial=0.0).backward(); x.grad
    array([0. , 0.5, 0.5])
    """
    _refuse("max", out, where)
    return _extremum("max", _AMAX, maximum, a, axis, keepdims, initial)


@implements(np.min, np.amin, family=_FAMILY, note="the declared `amin`: ties share")
def amin(a, axis=None, out=None, keepdims=False, initial=_NO, where=True):
    """``np.min``: the declared ``amin``; tied minima share the gradient.

    >>> import numpy as np, tapegrad as tg
    >>> np.min(tg.tensor([[1.0, 3.0], [0.5, 2.0]]), axis=0).value
    array([0.5, 2. ])
    """
    _refuse("min", out, where)
    return _extremum("min", _AMIN, minimum, a, axis, keepdims, initial)


@implements(np.ptp, family=_FAMILY, note="max - min")
def ptp(a, axis=None, out=None, keepdims=False):
    """``np.ptp``: ``max - min`` over ``axis``.

    >>> import numpy as np, tapegrad as tg
    >>> np.ptp(tg.tensor([[1.0, 3.0], [0.5, 2.0]]), axis=1).value
    array([2. , 1.5])
    """
    _refuse("ptp", out)
    a = _traced("ptp", a)
    axes, keepdims = _axes("ptp", axis, _ndim(a)), _keep(keepdims)
    if isinstance(a, Value):
        return a - a
    return _reduce(_AMAX, a, axes, keepdims) - _reduce(_AMIN, a, axes, keepdims)


# --- moments ----------------------------------------------------------------------


def _variance(name, a, axis, dtype, out, ddof, keepdims, where, centre, correction):
    """NumPy's ``var``: the mean of the squared deviations from the mean,
    divided by ``count - ddof`` instead of ``count``."""
    _refuse(name, out, where)
    if correction is not _NO:
        if ddof != 0:
            raise ValueError(f"numpy.{name}: ddof and correction can't be provided "
                             "simultaneously")
        ddof = correction
    a = _cast(name, _traced(name, a), dtype)
    axes = _axes(name, axis, _ndim(a))
    count = _count(a, axes)
    if ddof >= count:
        warnings.warn(f"numpy.{name}: degrees of freedom <= 0 for slice", RuntimeWarning,
                      stacklevel=3)
    if centre is _NO:
        centre = _reduce(_MEAN, a, axes, True)
    deviation = a - centre
    return _reduce(_SUM, deviation.square(), axes, _keep(keepdims)) / max(count - ddof, 0)


@implements(np.var, family=_FAMILY, note="mean, subtract, square, sum, divide")
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=_NO,
        correction=_NO):
    """``np.var``, composed: the sum of squared deviations over
    ``count - ddof`` (``correction`` is ``ddof``'s other name).

    >>> import numpy as np, tapegrad as tg
    >>> round(np.var(tg.tensor([1.0, 2.0, 4.0]), ddof=1).item(), 4)
    2.3333
    """
    return _variance("var", a, axis, dtype, out, ddof, keepdims, where, mean, correction)


@implements(np.std, family=_FAMILY, note="sqrt of var: nan gradient at zero variance")
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=_NO,
        correction=_NO):
    """``np.std``: the square root of :func:`var`.  Where the variance is 0
    its gradient is nan (``sqrt``'s infinite slope times a zero gradient).

    >>> import numpy as np, tapegrad as tg
    >>> np.std(tg.tensor([[1.0, 3.0], [2.0, 2.0]]), axis=1).value
    array([1., 0.])
    """
    return functions.sqrt(_variance("std", a, axis, dtype, out, ddof, keepdims, where, mean,
                                    correction))


@implements(np.average, family=_FAMILY, note="sum(a * w) / sum(w); mean without weights")
def average(a, axis=None, weights=None, returned=False, *, keepdims=_NO):
    """``np.average``: ``sum(a * weights) / sum(weights)`` over ``axis``
    (the mean without weights); ``a`` and ``weights`` may both be traced.
    With ``returned`` also the sum of the weights, as a Tensor.

    >>> import numpy as np, tapegrad as tg
    >>> w = tg.tensor([1.0, 3.0], requires_grad=True)
    >>> avg, scale = np.average(np.array([[2.0, 4.0]]), axis=1, weights=w, returned=True)
    >>> avg.value, scale.value
    (array([3.5]), array([4.]))
    """
    a = _traced("average", a)
    axes, keepdims = _axes("average", axis, _ndim(a)), _keep(keepdims)
    if weights is None:
        avg = _reduce(_MEAN, a, axes, keepdims)
        if not returned:
            return avg
        if isinstance(a, Value):
            return avg, Value(1.0)
        scale = a.size // max(avg.size, 1)
        return avg, tensor(np.full(avg.shape, scale, dtype=avg.dtype))
    w = _traced("average", weights)
    shape, w_shape = np.shape(getattr(a, "_v", a)), np.shape(getattr(w, "_v", w))
    if shape != w_shape:
        if axes is None:
            raise TypeError("numpy.average: axis must be specified when the shapes of a and "
                            f"weights differ ({shape} and {w_shape})")
        if w_shape != tuple(shape[k] for k in axes):
            raise ValueError(f"numpy.average: weights of shape {w_shape} do not match a of "
                             f"shape {shape} along axis {axes}")
        order = tuple(int(k) for k in np.argsort(axes))
        if order != tuple(range(len(order))):
            w = w.transpose(order)
        w = w.reshape(tuple(s if k in axes else 1 for k, s in enumerate(shape)))
    dtype = np.result_type(np.float64 if _kind(a) in "iub" else _dtype(a), _dtype(w))
    a, w = _cast("average", a, dtype), _cast("average", w, dtype)
    scale = _reduce(_SUM, w, axes, keepdims)
    if np.any(getattr(scale, "_v", scale) == 0.0):  # a check only: replays do not redo it
        raise ZeroDivisionError("numpy.average: weights sum to zero, can't be normalized")
    avg = _reduce(_SUM, a * w, axes, keepdims) / scale
    if not returned:
        return avg
    if np.shape(getattr(scale, "_v", scale)) != np.shape(getattr(avg, "_v", avg)):
        scale = scale + np.zeros(avg.shape, avg.dtype)
    return avg, scale


def _dtype(a):
    return np.dtype(np.float64) if isinstance(a, Value) else a.dtype


def _kind(a):
    return _dtype(a).kind


# --- running sums and products ----------------------------------------------------


def _running(name, record, a, axis, dtype):
    a = _cast(name, _traced(name, a), dtype)
    if isinstance(a, Value):  # NumPy's one-element array
        if axis is not None:
            _axis(name, axis, 1)
        return a + np.zeros(1)
    if axis is None or a.ndim == 0:  # NumPy runs over the flattened elements
        if axis is not None:
            _axis(name, axis, 1)
        axis = 0
        if a.ndim != 1:
            a = a.reshape(-1)
    return record([a], axis=_axis(name, axis, a.ndim))


@implements(np.cumsum, family=_FAMILY, note="the declared `cumsum`")
def cumsum(a, axis=None, dtype=None, out=None):
    """``np.cumsum``: the declared ``cumsum`` (flattened when ``axis`` is None).

    >>> import numpy as np, tapegrad as tg
    >>> np.cumsum(tg.tensor([[1.0, 2.0], [3.0, 4.0]])).value
    array([ 1.,  3.,  6., 10.])
    """
    _refuse("cumsum", out)
    return _running("cumsum", _CUMSUM, a, axis, dtype)


@implements(np.cumprod, family=_FAMILY, note="declared: exact at zeros")
def cumprod(a, axis=None, dtype=None, out=None):
    """``np.cumprod``: the declared ``cumprod``, exact at zeros.

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor([2.0, 0.0, 3.0], requires_grad=True)
    >>> np.cumprod(x).sum().backward(); x.grad
    array([1., 8., 0.])
    """
    _refuse("cumprod", out)
    return _running("cumprod", _CUMPROD, a, axis, dtype)


# --- the ufunc methods --------------------------------------------------------------


def _reduce_axis(a, axis):
    """``ufunc.reduce`` takes axis 0 of a 0-d array as no axis at all."""
    if _ndim(a) == 0 and axis in (0, -1, (0,), (-1,)):
        return None
    return axis


def _ufunc_reduce(ufunc, name, function):
    def reduce(a, axis=0, dtype=None, keepdims=False, initial=_NO):
        return function(name, a, _reduce_axis(a, axis), dtype, keepdims, initial)

    implements_method(ufunc, "reduce", family=_FAMILY, note=f"numpy.{function.__name__[1:]}")(
        reduce)


def _extreme(record, pair):
    def extremum(name, a, axis, dtype, keepdims, initial):
        return _extremum(name, record, pair, _cast(name, _traced(name, a), dtype), axis,
                         keepdims, initial)

    extremum.__name__ = "_max" if pair is maximum else "_min"
    return extremum


_ufunc_reduce(np.add, "add.reduce", _sum)
_ufunc_reduce(np.multiply, "multiply.reduce", _prod)
_ufunc_reduce(np.maximum, "maximum.reduce", _extreme(_AMAX, maximum))
_ufunc_reduce(np.minimum, "minimum.reduce", _extreme(_AMIN, minimum))


def _ufunc_accumulate(ufunc, record, function):
    name = f"{ufunc.__name__}.accumulate"

    def accumulate(a, axis=0, dtype=None):
        if _ndim(a) == 0:
            raise TypeError(f"numpy.{name}: cannot accumulate on a scalar")
        if isinstance(axis, tuple):
            if len(axis) != 1:
                raise ValueError(f"numpy.{name}: accumulate does not allow multiple axes")
            axis = axis[0]
        if axis is None:
            if _ndim(a) > 1:
                raise ValueError(f"numpy.{name}: accumulate does not allow multiple axes")
            axis = 0
        return _running(name, record, a, axis, dtype)

    implements_method(ufunc, "accumulate", family=_FAMILY,
                      note=f"numpy.{function.__name__}")(accumulate)


_ufunc_accumulate(np.add, _CUMSUM, cumsum)
_ufunc_accumulate(np.multiply, _CUMPROD, cumprod)

__all__ = []
