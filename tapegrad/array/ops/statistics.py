"""Statistics of the array op table: ``prod``, ``cumsum``, ``cumprod``, and
``running_extremum`` (``np.maximum.accumulate``), ``correlate`` (``np.correlate``
and ``np.convolve``) and ``interp`` (``np.interp``), each deciding anew at a
replay which element, piece or lane its choice falls on.

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

import functools
import math

import numpy as np

from tapegrad.array.ops.table import declare
from tapegrad.jit import kernel

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


@kernel
def running_sums(x, out):
    """``out[p, k, s] = x[p, 0, s] + ... + x[p, k, s]``, added in order, as
    ``np.cumsum`` adds (its bits)."""
    before, n, after = x.shape
    if n == 0:
        return
    for p in range(before):
        out[p, 0] = x[p, 0]
        for k in range(1, n):
            for s in range(after):
                out[p, k, s] = out[p, k - 1, s] + x[p, k, s]


@kernel
def add_reverse_running_sums(g, gx):
    """``gx[p, k, s] += g[p, k, s] + ... + g[p, n - 1, s]``, added from the
    end, as ``np.cumsum`` of ``g`` reversed along the lane."""
    before, n, after = g.shape
    if n == 0:
        return
    for p in range(before):
        for s in range(after):
            total = g[p, n - 1, s]
            gx[p, n - 1, s] += total
            for k in range(n - 2, -1, -1):
                total = total + g[p, k, s]
                gx[p, k, s] += total


def _lane(shape, axis):
    """``shape`` seen as ``(before, n, after)`` around ``axis``."""
    return (math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:]))


@declare
class cumsum:
    """the running sum along ``axis``"""

    linear = True

    def lanes(shape, params):
        return _lane(shape, params["axis"])

    @functools.cache
    def result_dtype(dtype):  # (bool and small integers add in the platform's integer)
        return np.add.accumulate(np.zeros(1, dtype)).dtype

    forward, backward = running_sums, add_reverse_running_sums


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


# --- running extrema, correlation, interpolation (numpy.maximum.accumulate,
# numpy.correlate/convolve, numpy.interp: tapegrad.numpy.quantiles, .signal) ---

from tapegrad.array.ops.table import wanted


def _attained(x, out, axis):
    """The index along ``axis`` of the element each running extremum ``out``
    comes from: the latest element equal to it (ties go to the latest)."""
    shape = [1] * np.ndim(x)
    shape[axis] = np.shape(x)[axis]
    positions = np.arange(shape[axis]).reshape(shape)
    return np.maximum.accumulate(np.where(x == out, positions, 0), axis=axis)


def _scatter_along(g, index, axis, n):
    """``gx`` with ``gx[..., index[k], ...] += g[..., k, ...]`` along ``axis``
    (of length ``n`` in ``gx``)."""
    g, index = np.moveaxis(g, axis, -1), np.moveaxis(index, axis, -1)
    rows = g.size // max(g.shape[-1], 1)
    flat = index.reshape(rows, -1) + n * np.arange(rows)[:, None]
    gx = np.bincount(flat.ravel(), weights=g.reshape(-1), minlength=rows * n)
    return np.moveaxis(gx.reshape(g.shape[:-1] + (n,)).astype(g.dtype, copy=False), -1, axis)


@declare
class running_extremum:
    """the running maximum (``largest``) or minimum along ``axis``: each
    output's gradient goes to the element it equals, the latest one on a tie,
    found again from the values at each use"""

    def value(args, params):
        ufunc = np.maximum if params["largest"] else np.minimum
        return ufunc.accumulate(args[0], axis=params["axis"])

    def vjp(g, out, args, params):
        x, axis = args[0], params["axis"]
        return (_scatter_along(g, _attained(x, out, axis), axis, np.shape(x)[axis]),)

    def jvp(tangents, out, args, params):
        axis = params["axis"]
        return np.take_along_axis(tangents[0], _attained(args[0], out, axis), axis)

    def vjp_tangent(g, gt, out, out_t, args, tangents, params):  # locally linear
        return running_extremum.vjp(g, out, args, params), running_extremum.vjp(gt, out, args,
                                                                               params)


def _full_gradient(g, params):
    """``g`` of a correlation in ``params["mode"]`` placed in the full one's
    positions (``params["start"]``, ``params["full"]`` long), zeros elsewhere."""
    start = params["start"]
    if start == 0 and np.shape(g)[0] == params["full"]:
        return g
    return np.pad(g, (start, params["full"] - start - np.shape(g)[0]))


@declare
class correlate:
    """``np.correlate(a, v, mode)`` of vectors, or ``np.convolve`` when
    ``convolve`` (``v`` reversed; given ``len(a) >= len(v)``); ``start`` and
    ``full``: where ``mode``'s output begins in the full one, and its length"""

    bilinear = True
    arity = 2

    def value(args, params):
        a, v = args
        v = v[::-1] if params["convolve"] else v
        return np.correlate(a, v, params["mode"])

    def vjp(g, out, args, params):
        a, v = np.asarray(args[0]), np.asarray(args[1])
        flipped = params["convolve"]
        g = _full_gradient(np.asarray(g), params)
        ga = np.convolve(g, v[::-1] if flipped else v, "valid") if wanted(params, 0) else None
        gv = None
        if wanted(params, 1):  # correlate(g, a)[::-1], a first: NumPy's faster order
            gv = np.correlate(a, g, "valid")
            gv = gv[::-1] if flipped else gv
        return ga, gv


def _pieces(x, params):
    """Where each ``x`` falls among the sample points ``params["xp"]``:
    ``(lo, hi, t, h, inside, below, above)``: the neighbouring points'
    indices into ``fp`` (through ``params["index"]`` when periodic), the
    fraction ``t`` of the way and the step ``h`` between them, and whether
    ``x`` is inside, left or right of the points."""
    xp, index, period = params["xp"], params["index"], params["period"]
    x = np.asarray(x, dtype=np.float64)
    if period is not None:
        x = x % period
    n = len(xp)
    inside = (x >= xp[0]) & (x <= xp[-1])
    if n == 1:
        lo = hi = np.zeros(x.shape, dtype=np.intp)
        t, h = np.zeros(x.shape), np.ones(x.shape)
    else:
        lo = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, n - 2)
        hi = lo + 1
        h = xp[hi] - xp[lo]
        t = np.where(inside, (x - xp[lo]) / h, 0.0)
    if index is not None:
        lo, hi = index[lo], index[hi]
    return lo, hi, t, h, inside, x < xp[0], x > xp[-1]


def _interp_weights(x, params):
    """``(lo, hi, w_lo, w_hi, inside, h)``: the output is ``w_lo fp[lo] +
    w_hi fp[hi]`` (plus a constant ``left``/``right`` outside)."""
    lo, hi, t, h, inside, below, above = _pieces(x, params)
    w_lo = np.where(inside, 1.0 - t, below * (params["left"] is None))
    w_hi = np.where(inside, t, above * (params["right"] is None))
    return lo, hi, w_lo, w_hi, inside, h


def _interp_grads(g, x, fp, params, tx=None, tfp=None):
    """The VJP of ``interp`` for the output's ``g``, or (given the tangents
    ``tx``, ``tfp``) the tangent of that VJP with ``g`` held."""
    lo, hi, w_lo, w_hi, inside, h = _interp_weights(x, params)
    fp, g = np.asarray(fp), np.asarray(g)
    gx = gfp = None
    if wanted(params, 0):
        if tx is None:
            gx = g * np.where(inside, (fp[hi] - fp[lo]) / h, 0.0)
        else:
            gx = g * np.where(inside, (tfp[hi] - tfp[lo]) / h, 0.0)
        gx = gx.astype(np.result_type(np.asarray(x), np.float32), copy=False)
    if wanted(params, 1):
        if tx is None:
            up, down = g * w_lo, g * w_hi
        else:  # d w_hi = -d w_lo = tx / h inside
            moved = g * np.where(inside, np.asarray(tx) / h, 0.0)
            up, down = -moved, moved
        gfp = (np.bincount(np.ravel(lo), np.ravel(up), len(fp))
               + np.bincount(np.ravel(hi), np.ravel(down), len(fp))).astype(fp.dtype, copy=False)
    return gx, gfp


@declare
class interp:
    """``np.interp(x, xp, fp)`` at the points ``x`` for the values ``fp`` at
    the constant sample points ``params["xp"]`` (periodic ones sorted and
    extended, ``params["index"]`` mapping them to ``fp``); ``left``/``right``
    numbers or None; the pieces are found again from ``x`` at each use"""

    arity = 2

    def value(args, params):
        x, fp = args
        fp = np.asarray(fp)
        dtype = np.result_type(np.asarray(x), fp, np.float32)
        if params["index"] is not None:
            fp = fp[params["index"]]
            x = np.asarray(x, dtype=np.float64) % params["period"]
        return np.interp(x, params["xp"], fp, params["left"], params["right"]).astype(
            dtype, copy=False)

    def vjp(g, out, args, params):
        return _interp_grads(g, args[0], args[1], params)

    def jvp(tangents, out, args, params):
        lo, hi, w_lo, w_hi, inside, h = _interp_weights(args[0], params)
        fp, (tx, tfp) = np.asarray(args[1]), tangents
        slope = np.where(inside, (fp[hi] - fp[lo]) / h, 0.0)
        return (tx * slope + w_lo * tfp[lo] + w_hi * tfp[hi]).astype(out.dtype, copy=False)

    def vjp_tangent(g, gt, out, out_t, args, tangents, params):
        x, fp = args
        grads = _interp_grads(g, x, fp, params)
        moved = _interp_grads(gt, x, fp, params)
        turned = _interp_grads(g, x, fp, params, *tangents)
        return grads, tuple(None if a is None else a + b for a, b in zip(moved, turned))
