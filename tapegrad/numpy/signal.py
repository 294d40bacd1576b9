"""NumPy's one-dimensional signal functions on Values and Tensors:
``correlate``, ``convolve``, ``interp``, ``trapezoid`` and ``meshgrid``.

``np.correlate`` and ``np.convolve`` are the declared ``correlate`` of
:mod:`tapegrad.array.ops.statistics`: NumPy's own C loop for the value,
linear in each argument (both may be traced), its VJPs two more
correlations.  ``np.interp`` is the declared ``interp``: ``x`` and ``fp``
traced, the sample points ``xp`` constant; the piece each ``x`` falls in is
found again from the values at each use, so a replay interpolates anew.
Its gradient in ``x`` is the slope of the piece (0 outside the points; at
a sample point the slope of the piece to its right, as NumPy computes the
value from it, and at the last point the last piece's), in ``fp`` the two
interpolation weights.  A traced ``left``/``right`` is selected by a
recorded comparison of ``x``.  ``np.trapezoid`` (and ``np.trapz`` where
NumPy still has it) is ``np.diff`` and a sum as NumPy writes it, and
``np.meshgrid`` reshapes and broadcasts.

>>> import numpy as np, tapegrad as tg
>>> fp = tg.tensor([0.0, 10.0, 20.0], requires_grad=True)
>>> y = np.interp(np.array([0.5, 1.75]), [0.0, 1.0, 2.0], fp) @ np.array([1.0, 2.0])
>>> y.backward(); fp.grad
array([0.5, 1. , 1.5])
"""

import numpy as np

from tapegrad.core.numpy_protocol import implements
from tapegrad.scalar import Value
from tapegrad.array.tensor import check_real, recorder
from tapegrad.numpy.shaping import (
    as_tensor, axis_index, broadcast_to, flat, operand, reshaped, shape_of, traced,
)

FAMILY = "signal"
_CORRELATE, _INTERP = recorder("correlate"), recorder("interp")
_MODES = {"valid": "valid", "same": "same", "full": "full", 0: "valid", 1: "same", 2: "full"}


def _mode(mode, name):
    if isinstance(mode, bool) or not isinstance(mode, (str, int)) or mode not in _MODES:
        raise ValueError(f"numpy.{name}: mode must be one of 'valid', 'same', 'full', not "
                         f"{mode!r}")
    return _MODES[mode]


def _vector(x, which, name):
    """``x`` as a vector operand (a 0-d one as one element), checked."""
    x = operand(x, name)
    shape = shape_of(x)
    if len(shape) > 1:
        raise ValueError(f"numpy.{name}: {which} must be one-dimensional, not of shape {shape}")
    if not shape:
        x = reshaped(x, (1,)) if traced(x) else np.reshape(x, (1,))
    elif shape[0] == 0:
        raise ValueError(f"numpy.{name}: {which} cannot be empty")
    return x


def _correlation(a, v, mode, convolve):
    n, m = shape_of(a)[0], shape_of(v)[0]
    s, full = min(n, m), n + m - 1
    if mode == "full":
        start = 0
    elif mode == "valid":
        start = s - 1
    else:  # NumPy centres 'same' differently when v is the longer one
        start = (s - 1) - s // 2 if n >= m else s // 2
    return _CORRELATE([a, v], mode=mode, convolve=convolve, start=start, full=full)


@implements(np.correlate, family=FAMILY, note="declared: bilinear, NumPy's loop")
def correlate(a, v, mode="valid"):
    """``np.correlate``: ``c[k] = sum_n a[n + k] v[n]`` in ``mode``; both
    arguments may be traced.

    >>> import numpy as np, tapegrad as tg
    >>> np.correlate(tg.tensor([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]), "same").value
    array([2. , 3.5, 3. ])
    """
    mode = _mode(mode, "correlate")
    return _correlation(_vector(a, "a", "correlate"), _vector(v, "v", "correlate"), mode,
                        False)


@implements(np.convolve, family=FAMILY, note="declared: bilinear, NumPy's loop")
def convolve(a, v, mode="full"):
    """``np.convolve``: the correlation with ``v`` reversed (the longer
    argument first, as NumPy swaps them).

    >>> import numpy as np, tapegrad as tg
    >>> v = tg.tensor([1.0, -1.0], requires_grad=True)
    >>> np.convolve(np.array([1.0, 2.0, 4.0]), v).sum().backward(); v.grad
    array([7., 7.])
    """
    mode = _mode(mode, "convolve")
    a, v = _vector(a, "a", "convolve"), _vector(v, "v", "convolve")
    if shape_of(v)[0] > shape_of(a)[0]:
        a, v = v, a
    return _correlation(a, v, mode, True)


def _constant_number(x, name, what):
    if traced(x):
        raise TypeError(f"numpy.{name}: {what} must be a constant number on traced values")
    return float(x)


@implements(np.interp, family=FAMILY, note="declared: x and fp traced, xp constant")
def interp(x, xp, fp, left=None, right=None, period=None):
    """``np.interp``: piecewise linear through ``(xp, fp)`` at ``x``; ``x``,
    ``fp``, ``left`` and ``right`` may be traced, ``xp`` is constant data.

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor([0.5, 3.0], requires_grad=True)
    >>> np.interp(x, [0.0, 1.0, 2.0], [0.0, 4.0, 5.0], right=-1.0).sum().backward(); x.grad
    array([4., 0.])
    """
    if traced(xp):
        raise TypeError("numpy.interp: xp (the sample points) must be constant data on traced "
                        "values: tapegrad differentiates with respect to x and fp")
    xp = np.asarray(xp)
    check_real(xp, "numpy.interp")
    xp, x, fp = xp.astype(np.float64), operand(x, "interp"), operand(fp, "interp")
    if xp.ndim != 1 or len(shape_of(fp)) != 1:
        raise ValueError("numpy.interp: Data points must be 1-D sequences")
    if xp.shape[0] != shape_of(fp)[0]:
        raise ValueError("numpy.interp: fp and xp are not of the same length")
    if xp.size == 0:
        raise ValueError("numpy.interp: array of sample points is empty")
    index = None
    if period is not None:
        period = abs(_constant_number(period, "interp", "period"))
        if period == 0:
            raise ValueError("numpy.interp: period must be a non-zero value")
        left = right = None
        xp = xp % period
        order = np.argsort(xp)
        xp = np.concatenate((xp[order][-1:] - period, xp[order], xp[order][:1] + period))
        index = np.concatenate((order[-1:], order, order[:1]))
    bounds = [None if b is None or traced(b) else _constant_number(b, "interp", "left/right")
              for b in (left, right)]
    y = _INTERP([x, fp], xp=xp, index=index, period=period, left=bounds[0], right=bounds[1])
    if traced(left):
        y = np.where(x < xp[0], left, y)
    if traced(right):
        y = np.where(x > xp[-1], right, y)
    return y[()] if x.__class__ is Value else y


def _trapezoid(name):
    def trapezoid(y, x=None, dx=1.0, axis=-1):
        y = as_tensor(y, name)
        axis = axis_index(axis, y.ndim, name)
        if x is None:
            d = operand(dx, name)
        else:
            x = operand(x, name)
            if len(shape_of(x)) == 1:
                shape = [1] * y.ndim
                shape[axis] = shape_of(x)[0] - 1
                d = np.reshape(np.diff(x), shape)
            else:
                d = np.diff(x, axis=axis)
        before = (slice(None),) * axis + (slice(1, None),)
        after = (slice(None),) * axis + (slice(None, -1),)
        return np.sum(d * (y[before] + y[after]) / 2.0, axis=axis)

    trapezoid.__name__ = trapezoid.__qualname__ = name
    trapezoid.__doc__ = (f"``np.{name}``: the trapezoidal rule along ``axis`` with spacing "
                         "``dx`` or sample points ``x`` (either may be traced).")
    return implements(getattr(np, name), family=FAMILY, note="differences and a sum")(trapezoid)


trapezoid = _trapezoid("trapezoid")
if hasattr(np, "trapz"):  # NumPy < 2.4
    trapz = _trapezoid("trapz")


@implements(np.meshgrid, family=FAMILY, note="reshapes and broadcasts")
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """``np.meshgrid``: coordinate arrays from coordinate vectors, as Tensors
    (``indexing`` 'xy' or 'ij', ``sparse`` leaves them unbroadcast).

    >>> import numpy as np, tapegrad as tg
    >>> a, b = np.meshgrid(tg.tensor([1.0, 2.0, 3.0]), tg.tensor([0.0, 1.0]))
    >>> a.shape, b.value.tolist()
    ((2, 3), [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    """
    if indexing not in ("xy", "ij"):
        raise ValueError("numpy.meshgrid: Valid values for `indexing` are 'xy' and 'ij'.")
    vectors = [flat(as_tensor(x, "meshgrid")) for x in xi]
    ndim = len(vectors)
    places = list(range(ndim))
    if indexing == "xy" and ndim > 1:
        places[0], places[1] = 1, 0
    out = [reshaped(v, [shape_of(v)[0] if k == place else 1 for k in range(ndim)])
           for v, place in zip(vectors, places)]
    if not sparse:
        shape = np.broadcast_shapes(*(shape_of(o) for o in out))
        out = [broadcast_to(o, shape) for o in out]
    return tuple(out)


__all__ = []
