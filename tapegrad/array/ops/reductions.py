"""Reductions of the array op table: ``sum``, ``mean``, ``amax``, ``amin``.

Each reduces over ``params["axis"]`` (all axes if None) and keeps the
reduced axes when ``params["keepdims"]``.  Declared with
:func:`tapegrad.array.ops.table.declare`.

>>> import numpy as np
>>> from tapegrad.array.ops.table import ARRAY_OPS
>>> ARRAY_OPS["sum"].value([np.ones((2, 3))], {"axis": 0, "keepdims": False})
array([2., 2., 2.])
>>> ARRAY_OPS["amax"].vjp(np.array(1.0), np.array(2.0), [np.array([2.0, 2.0, 1.0])],
...                       {"axis": None, "keepdims": False})[0]   # ties share
array([0.5, 0.5, 0. ])
"""

import math

import numpy as np

from tapegrad.array.ops.table import declare, expand


def _reduce(ufunc, function, args, params):
    """``function(x, axis=, keepdims=)`` of NumPy's (``np.sum``, ``np.max``,
    ``np.min``): on an ndarray, the ``ufunc.reduce`` it calls, without the
    microseconds of argument handling in between."""
    x, axis, keepdims = args[0], params["axis"], params["keepdims"]
    if x.__class__ is np.ndarray:
        return ufunc.reduce(x, axis, None, None, keepdims=keepdims)
    return function(x, axis=axis, keepdims=keepdims)


@declare
class sum:
    """the sum over ``axis`` (all axes if None)"""

    linear = True

    def value(args, params):
        return _reduce(np.add, np.sum, args, params)

    def vjp(g, out, args, params):
        shape = np.shape(args[0])  # a view of g: fused VJPs read one number
        return (expand(g, shape, params["axis"], params["keepdims"]),)


@declare
class mean:
    """the mean over ``axis`` (all axes if None)"""

    linear = True

    def value(args, params):
        return np.mean(args[0], axis=params["axis"], keepdims=params["keepdims"])

    def vjp(g, out, args, params):
        shape = np.shape(args[0])
        count = math.prod(shape) // max(math.prod(np.shape(out)), 1)
        return (expand(np.asarray(g) / count, shape, params["axis"], params["keepdims"]),)


def _extremum_share(x, out, params):
    """NOTE: ties share the gradient equally, as PyTorch's amax/amin do."""
    axis, keepdims = params["axis"], params["keepdims"]
    hit = x == expand(out, x.shape, axis, keepdims)
    return (hit / hit.sum(axis=axis, keepdims=True)).astype(out.dtype, copy=False)


def _extremum_vjp(g, out, args, params):
    x = args[0]
    share = _extremum_share(x, out, params)
    return (share * expand(g, x.shape, params["axis"], params["keepdims"]),)


def _extremum_jvp(tangents, out, args, params):
    share = _extremum_share(args[0], out, params)
    return np.sum(share * tangents[0], axis=params["axis"], keepdims=params["keepdims"])


def _extremum_vjp_tangent(g, gt, out, out_t, args, tangents, params):
    """The shares are constant where the extremum is unique (a.e.)."""
    return _extremum_vjp(g, out, args, params), _extremum_vjp(gt, out, args, params)


@declare
class amax:
    """the largest element over ``axis``"""

    def value(args, params):
        return _reduce(np.maximum, np.max, args, params)

    vjp, jvp, vjp_tangent = _extremum_vjp, _extremum_jvp, _extremum_vjp_tangent


@declare
class amin:
    """the smallest element over ``axis``"""

    def value(args, params):
        return _reduce(np.minimum, np.min, args, params)

    vjp, jvp, vjp_tangent = _extremum_vjp, _extremum_jvp, _extremum_vjp_tangent
