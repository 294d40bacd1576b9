"""Statistics of the array op table: ``prod``, ``cumsum`` and ``cumprod``.

``prod`` reduces over ``params["axis"]`` (a tuple of axes, or None for
all) and keeps them when ``params["keepdims"]``; ``cumsum`` and ``cumprod``
run along one axis ``params["axis"]`` (an int >= 0).  Zeros are exact:
``prod``'s derivative for an element is the product of the others in its
lane, built from products from both ends (no division by the element), and
``cumprod`` divides only before a lane's first zero and treats that zero,
and what follows it, on their own.  Whether a lane has a zero is read from the arguments inside each
rule, so a replay decides anew.  The VJPs of ``prod`` and ``cumprod`` use
only NumPy calls that also take Tensors, so their Hessian rules come from
forward mode through them (:mod:`tapegrad.array.tangent`).

>>> import numpy as np
>>> from tapegrad.array.ops.table import ARRAY_OPS
>>> x = np.array([2.0, 0.0, 3.0, 0.0])
>>> ARRAY_OPS["prod"].vjp(np.array(1.0), 0.0, [x], {"axis": None, "keepdims": False})[0]
array([0., 0., 0., 0.])
>>> x = np.array([2.0, 0.0, 3.0])
>>> ARRAY_OPS["cumprod"].vjp(np.ones(3), np.cumprod(x), [x], {"axis": 0})[0]
array([1., 8., 0.])
"""

import numpy as np

from tapegrad.array.ops.table import declare

_REVERSED = slice(None, None, -1)


def _along(axis, part):
    """The index taking ``part`` (a slice) of axis ``axis``."""
    return (slice(None),) * axis + (part,)


def _reverse_cumsum(g, axis):
    """``g[k] + g[k + 1] + ...`` along ``axis``."""
    flip = _along(axis, _REVERSED)
    return np.cumsum(g[flip], axis=axis)[flip]


def _exclusive_cumprod(x, axis, n):
    """``1, x[0], x[0] x[1], ...`` along ``axis`` (of length ``n``)."""
    shape = list(np.shape(x))
    shape[axis] = 1
    ones = np.ones(shape, x.dtype)
    return np.concatenate([ones, np.cumprod(x[_along(axis, slice(0, n - 1))], axis=axis)],
                          axis=axis)


def _others_along(x, axis):
    """Each element's lane product along ``axis`` without the element."""
    shape = np.shape(x)
    n = shape[axis]
    if n <= 1:
        return np.ones(shape, x.dtype)
    flip = _along(axis, _REVERSED)
    return _exclusive_cumprod(x, axis, n) * _exclusive_cumprod(x[flip], axis, n)[flip]


def _others(x, axis):
    """d prod(x, axis) / dx: the product of the other elements of each lane
    (``axis`` a tuple, or None for all axes)."""
    shape = np.shape(x)
    axes = tuple(range(len(shape))) if axis is None else axis
    if len(axes) == 1:
        return _others_along(x, axes[0])
    if not axes:
        return np.ones(shape, x.dtype)
    kept = tuple(a for a in range(len(shape)) if a not in axes)
    order = kept + tuple(axes)
    moved = x if order == tuple(range(len(shape))) else x.transpose(order)
    lanes = moved.reshape(tuple(shape[a] for a in kept) + (-1,))
    others = _others_along(lanes, len(kept)).reshape(np.shape(moved))
    if moved is x:
        return others
    return others.transpose(tuple(int(a) for a in np.argsort(order)))


@declare
class prod:
    """the product over ``axis`` (all axes if None), exact at zeros"""

    def value(args, params):
        return np.prod(args[0], axis=params["axis"], keepdims=params["keepdims"])

    def vjp(g, out, args, params):
        x, axis = args[0], params["axis"]
        if axis is not None and not params["keepdims"]:
            g = g.reshape([1 if k in axis else n for k, n in enumerate(np.shape(x))])
        return (_others(x, axis) * g,)

    def jvp(tangents, out, args, params):
        axis = params["axis"]
        return np.sum(_others(args[0], axis) * tangents[0], axis=axis,
                      keepdims=params["keepdims"])


@declare
class cumsum:
    """the running sum along ``axis``"""

    linear = True

    def value(args, params):
        return np.cumsum(args[0], axis=params["axis"])

    def vjp(g, out, args, params):
        return (_reverse_cumsum(g, params["axis"]),)


def _first_zeros(zero, axis):
    """``(before, first)``: masks of the elements before their lane's first
    zero and of that first zero (``zero``: the mask of zeros)."""
    seen = np.cumsum(zero, axis=axis)
    return seen == 0, zero & (seen == 1)


def _cumprod_grad(g, out, x, axis, slope=True):
    """The gradient of ``cumprod(x)`` along ``axis`` for the output's ``g``:
    ``d out[k] / d x[i]`` is ``out[k] / x[i]`` (k >= i) before a lane's
    first zero, the products with that zero left out at it, and that zero
    times the same without it after it: 0, but with the right slope, so
    forward mode through this gives exact second derivatives (``slope``:
    whether that term is needed; its value is 0 either way)."""
    zero = x == 0
    if not zero.any():
        return _reverse_cumsum(g * out, axis) / x
    before, first = _first_zeros(zero, axis)
    early = _reverse_cumsum(g * out, axis) / np.where(before, x, 1.0)
    lifted = np.where(first, 1.0, x)  # each lane's first zero made 1
    lifted_out = np.cumprod(lifted, axis=axis)
    later = 0.0
    if slope:
        first_zero = np.sum(np.where(first, x, 0.0), axis=axis, keepdims=True)
        later = first_zero * _cumprod_grad(g, lifted_out, lifted, axis, slope=False)
    return np.where(before, early,
                    np.where(first, _reverse_cumsum(g * lifted_out, axis), later))


@declare
class cumprod:
    """the running product along ``axis``, exact at zeros"""

    def value(args, params):
        return np.cumprod(args[0], axis=params["axis"])

    def vjp(g, out, args, params):
        return (_cumprod_grad(g, out, args[0], params["axis"]),)

    def jvp(tangents, out, args, params):
        x, t, axis = args[0], tangents[0], params["axis"]
        zero = x == 0
        if not zero.any():
            return out * np.cumsum(t / x, axis=axis)
        before, first = _first_zeros(zero, axis)
        early = out * np.cumsum(np.where(before, t / np.where(before, x, 1.0), 0.0), axis=axis)
        moved = np.sum(np.where(first, t, 0.0), axis=axis, keepdims=True)
        return np.where(before, early, moved * np.cumprod(np.where(first, 1.0, x), axis=axis))
