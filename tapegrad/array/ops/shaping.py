"""Shape and indexing ops of the array op table: elements moved, chosen or
replaced, not computed.

``broadcast_to``, ``flip``, ``roll``, ``repeat``, ``diagonal``, ``diag`` (a
vector onto a diagonal), ``triangle`` (``np.triu``/``np.tril``), ``gradient``
(``np.gradient``'s differences) and ``pad`` move or combine elements: linear, so forward mode and forward-over-reverse follow from
``value`` and ``vjp`` (``pad``'s ``constant_values`` make it affine: its
tangent is the tangent padded with zeros).  ``sort``, ``clip`` and
``nan_to_num`` choose elements by their values; each recomputes its choice
(the permutation, which side of a bound, which elements are finite) from its
arguments whenever it runs, so a replay at other values chooses anew, and
is linear wherever that choice does not change.  NumPy's functions reach
them through :mod:`tapegrad.numpy.shaping` and :mod:`tapegrad.numpy.indexing`.

>>> import numpy as np
>>> from tapegrad.array.ops.table import ARRAY_OPS
>>> x = np.array([3.0, 1.0, 2.0])
>>> ARRAY_OPS["sort"].value([x], {"axis": 0})
array([1., 2., 3.])
>>> ARRAY_OPS["sort"].vjp(np.array([10.0, 20.0, 30.0]), None, [x], {"axis": 0})[0]
array([30., 10., 20.])
"""

import numpy as np

from tapegrad.array.ops.table import declare, wanted
from tapegrad.array.ops.elementwise import unbroadcast


def _locally_linear(vjp):
    """The ``vjp_tangent`` of an op that is linear wherever its choice (a
    permutation, a mask) stays put, as it does almost everywhere: the
    gradient's tangent is the VJP of the incoming gradient's tangent."""

    def vjp_tangent(g, gt, out, out_t, args, tangents, params):
        return vjp(g, out, args, params), vjp(gt, out, args, params)

    return vjp_tangent


@declare
class broadcast_to:
    """x broadcast to ``shape``"""

    linear = True

    def value(args, params):
        return np.broadcast_to(args[0], params["shape"])

    def vjp(g, out, args, params):
        return (unbroadcast(g, np.shape(args[0])),)


@declare
class flip:
    """x reversed along each of the axes ``axis`` (a tuple)"""

    linear = True

    def value(args, params):
        return np.flip(args[0], params["axis"])

    def vjp(g, out, args, params):
        return (np.flip(g, params["axis"]),)


@declare
class roll:
    """x rolled by ``shift[k]`` along ``axis[k]`` (tuples)"""

    linear = True

    def value(args, params):
        return np.roll(args[0], params["shift"], params["axis"])

    def vjp(g, out, args, params):
        return (np.roll(g, tuple(-s for s in params["shift"]), params["axis"]),)


@declare
class repeat:
    """each slice of x along ``axis`` repeated ``repeats`` times (an int, or
    a tuple of one count per slice)"""

    linear = True

    def value(args, params):
        return np.repeat(args[0], params["repeats"], params["axis"])

    def vjp(g, out, args, params):
        repeats, axis, shape = params["repeats"], params["axis"], np.shape(args[0])
        if isinstance(repeats, int):
            split = shape[:axis] + (shape[axis], repeats) + shape[axis + 1:]
            return (np.sum(np.reshape(g, split), axis=axis + 1),)
        counts = np.asarray(repeats)
        kept = counts > 0  # reduceat cannot sum an empty run
        gx = np.zeros(shape, dtype=g.dtype)
        if kept.any():
            starts = (np.cumsum(counts) - counts)[kept]
            np.moveaxis(gx, axis, 0)[kept] = np.moveaxis(np.add.reduceat(g, starts, axis), axis, 0)
        return (gx,)


@declare
class diagonal:
    """the diagonal ``offset`` of x's planes (``axis1``, ``axis2``), as its last axis"""

    linear = True

    def value(args, params):
        return np.diagonal(args[0], params["offset"], params["axis1"], params["axis2"])

    def vjp_into(g, out, args, params, into):
        offset, k = params["offset"], np.arange(np.shape(g)[-1])
        planes = np.moveaxis(into[0], (params["axis1"], params["axis2"]), (-2, -1))
        planes[..., k + max(-offset, 0), k + max(offset, 0)] += g


@declare
class diag:
    """the square matrix with the vector x on its diagonal ``k``"""

    linear = True

    def value(args, params):
        return np.diag(args[0], params["k"])

    def vjp(g, out, args, params):
        return (np.diagonal(g, params["k"]),)


@declare
class triangle:
    """x with the elements below (``upper``) or above diagonal ``k`` of each
    matrix zeroed, as ``np.triu``/``np.tril`` (a vector is a row of a matrix)"""

    linear = True

    def value(args, params):
        return (np.triu if params["upper"] else np.tril)(args[0], params["k"])

    def vjp(g, out, args, params):
        kept = (np.triu if params["upper"] else np.tril)(g, params["k"])
        return (unbroadcast(kept, np.shape(args[0])),)


#: np.gradient's one-sided differences at the ends: the weights of the
#: first points (for the first value) and of the last (for the last value).
_EDGES = {1: ((-1.0, 1.0), (-1.0, 1.0)), 2: ((-1.5, 2.0, -0.5), (0.5, -2.0, 1.5))}


@declare
class gradient:
    """``np.gradient`` of x along ``axis`` with spacing ``spacing``: central
    differences inside, one-sided ones of order ``edge_order`` at the ends"""

    linear = True

    def value(args, params):
        return np.gradient(args[0], params["spacing"], axis=params["axis"],
                           edge_order=params["edge_order"])

    def vjp(g, out, args, params):
        g = np.moveaxis(g, params["axis"], 0) / params["spacing"]
        gx = np.zeros_like(g)
        half = g[1:-1] * 0.5  # out[i] = (x[i + 1] - x[i - 1]) / 2 inside
        gx[2:] += half
        gx[:-2] -= half
        first, last = _EDGES[params["edge_order"]]
        for k, weight in enumerate(first):
            gx[k] += weight * g[0]
        for k, weight in enumerate(last, start=len(g) - len(last)):
            gx[k] += weight * g[-1]
        return (np.moveaxis(gx, 0, params["axis"]),)


def _unpad(g, axis, before, n, source):
    """The VJP of padding one axis: the interior, plus every padded
    position's gradient added to the position ``source`` says it copies."""
    moved = np.moveaxis(g, axis, -1)
    gx = np.array(moved[..., before:before + n])
    outside = np.r_[0:before, before + n:moved.shape[-1]]
    np.add.at(gx, (Ellipsis, source[outside]), moved[..., outside])
    return np.moveaxis(gx, -1, axis)


@declare
class pad:
    """x padded by ``pad_width`` (``(before, after)`` per axis) in ``mode``:
    ``constant`` (``constant_values``), ``edge``, ``reflect``, ``symmetric``
    or ``wrap``"""

    def value(args, params):
        if params["mode"] == "constant":
            return np.pad(args[0], params["pad_width"], "constant",
                          constant_values=params["constant_values"])
        return np.pad(args[0], params["pad_width"], params["mode"])

    def vjp(g, out, args, params):
        mode, shape = params["mode"], np.shape(args[0])
        if mode == "constant":
            return (g[tuple(slice(b, b + n) for (b, _), n in zip(params["pad_width"], shape))],)
        for axis in reversed(range(len(shape))):  # np.pad pads one axis after the other
            before, after = params["pad_width"][axis]
            if before or after:
                source = np.pad(np.arange(shape[axis]), (before, after), mode)
                g = _unpad(g, axis, before, shape[axis], source)
        return (g,)

    def jvp(tangents, out, args, params):
        return pad.value(tangents, dict(params, constant_values=0))

    vjp_tangent = _locally_linear(vjp)


@declare
class sort:
    """x sorted along ``axis``; the permutation is x's, found again at each use"""

    def value(args, params):
        return np.sort(args[0], axis=params["axis"])

    def vjp(g, out, args, params):
        order = np.argsort(args[0], axis=params["axis"], kind="stable")
        gx = np.empty_like(g)
        np.put_along_axis(gx, order, g, params["axis"])
        return (gx,)

    def jvp(tangents, out, args, params):
        order = np.argsort(args[0], axis=params["axis"], kind="stable")
        return np.take_along_axis(tangents[0], order, params["axis"])

    vjp_tangent = _locally_linear(vjp)


def _clip_sides(x, lo, hi):
    """Where ``np.clip(x, lo, hi)`` (``minimum(maximum(x, lo), hi)``) is
    ``hi`` and where it is ``lo``; elsewhere it is ``x``."""
    high = np.maximum(x, lo) > hi
    low = ~high & (x < lo)
    return high, low


@declare
class clip:
    """x limited to [lo, hi] (broadcast): the gradient goes to x inside, to
    the bound that binds outside"""

    arity = 3

    def value(args, params):
        return np.clip(*args)

    def vjp(g, out, args, params):
        high, low = _clip_sides(*args)
        parts = (~(high | low), low, high)
        return tuple(unbroadcast(np.where(part, g, 0), np.shape(a)) if wanted(params, k) else None
                     for k, (a, part) in enumerate(zip(args, parts)))

    def jvp(tangents, out, args, params):
        high, low = _clip_sides(*args)
        tx, tlo, thi = tangents
        return np.where(high, thi, np.where(low, tlo, tx))

    vjp_tangent = _locally_linear(vjp)


@declare
class nan_to_num:
    """x with nan, inf and -inf replaced by ``nan``, ``posinf``, ``neginf``:
    the gradient is 1 where x is finite, 0 where it was replaced"""

    def value(args, params):
        return np.nan_to_num(args[0], nan=params["nan"], posinf=params["posinf"],
                             neginf=params["neginf"])

    def vjp(g, out, args, params):
        return (np.where(np.isfinite(args[0]), g, 0),)

    def jvp(tangents, out, args, params):
        return np.where(np.isfinite(args[0]), tangents[0], 0)

    vjp_tangent = _locally_linear(vjp)
