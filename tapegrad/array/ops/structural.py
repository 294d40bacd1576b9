"""Structural ops of the array op table: elements moved, not computed.

``reshape``, ``transpose``, ``getitem`` (``t[index]``), ``item`` (``t[i, j]``
as a scalar record), ``concatenate``, ``stack`` and ``astype`` (a cast
between float dtypes).  All are linear, so
their forward-mode rules follow from ``value`` and ``vjp``
(:func:`tapegrad.array.ops.table.declare`).

>>> import numpy as np
>>> from tapegrad.array.ops.table import ARRAY_OPS
>>> ARRAY_OPS["stack"].vjp(np.arange(4.0).reshape(2, 2), None, [1.0, 2.0], {"axis": 0})
(array([0., 1.]), array([2., 3.]))
"""

import numpy as np

from tapegrad.array.ops.table import declare


@declare
class reshape:
    """the same elements in another shape"""

    linear = True

    def value(args, params):
        return np.reshape(args[0], params["shape"])

    def vjp(g, out, args, params):
        return (np.reshape(g, np.shape(args[0])),)


@declare
class transpose:
    """the axes permuted (reversed if ``axes`` is None)"""

    linear = True

    def value(args, params):
        return np.transpose(args[0], params["axes"])

    def vjp(g, out, args, params):
        axes = params["axes"]
        inverse = None if axes is None else np.argsort(axes)
        return (np.transpose(g, inverse),)


def _index_vjp_into(g, out, args, params, into):
    index = params["index"]
    if params["unique"]:
        into[0][index] += g
    else:
        np.add.at(into[0], index, g)


@declare
class getitem:
    """x[index]: basic slices, integer arrays, boolean masks"""

    linear = True

    def value(args, params):
        return np.asarray(args[0])[params["index"]]

    vjp_into = _index_vjp_into


@declare
class item:
    """x[index] as a scalar Value (every index an integer)"""

    scalar_output = True
    linear = True

    def value(args, params):
        return float(np.asarray(args[0])[params["index"]])

    vjp_into = _index_vjp_into


@declare
class concatenate:
    """the arguments joined along an existing ``axis``"""

    arity = 0
    linear = True

    def value(args, params):
        return np.concatenate([np.asarray(a) for a in args], axis=params["axis"])

    def vjp(g, out, args, params):
        sizes = [np.shape(a)[params["axis"]] for a in args]
        return tuple(np.split(g, np.cumsum(sizes)[:-1], axis=params["axis"]))


@declare
class stack:
    """the arguments joined along a new ``axis``"""

    arity = 0
    linear = True

    def value(args, params):
        return np.stack([np.asarray(a) for a in args], axis=params["axis"])

    def vjp(g, out, args, params):
        return tuple(np.moveaxis(g, params["axis"], 0))


@declare
class astype:
    """the elements cast to another float dtype (``params["dtype"]``)"""

    linear = True

    def value(args, params):
        return np.asarray(args[0]).astype(params["dtype"])

    def vjp(g, out, args, params):
        dtype = np.result_type(args[0])
        return (g if g.dtype == dtype else g.astype(dtype),)
