"""NumPy's joining and splitting on Values and Tensors: ``concatenate``,
``stack`` and their kin (``hstack``, ``vstack``, ``dstack``,
``column_stack``, ``append``), and ``split``, ``array_split``, ``hsplit``,
``vsplit`` and ``dsplit``.

Joins are the table's ``concatenate`` and ``stack`` records; splits are
basic slices (``getitem``).  Shapes and axes are checked here, so a
mistake names the NumPy function.  A Value is a 0-d array
(``np.stack([v, w])``); arrays without a gradient mix in as constants.
They register in the shaping family, after :mod:`tapegrad.numpy.shaping`.

>>> import numpy as np, tapegrad as tg
>>> x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> top, bottom = np.split(np.vstack([x, 2 * x]), 2)
>>> (top * bottom).sum().backward(); x.grad
array([[ 4.,  8.],
       [12., 16.]])
"""

import itertools
import math

import numpy as np

from tapegrad.core.numpy_protocol import implements
from tapegrad.array import concatenate as _concatenate, stack as _stack
from tapegrad.numpy.shaping import (
    FAMILY, as_tensor, at_least, axis_index, dtype_kept, flat, ints, no_out, operand, reshaped,
    shape_of, traced,
)


def joined(items, axis, name):
    """``items`` (Tensors and arrays) concatenated along ``axis``, shapes checked."""
    shapes = [shape_of(a) for a in items]
    if not shapes:
        raise ValueError(f"numpy.{name}: need at least one array to concatenate")
    ndim = len(shapes[0])
    if ndim == 0:
        raise ValueError(f"numpy.{name}: zero-dimensional arrays cannot be concatenated")
    axis = axis_index(axis, ndim, name)
    if any(len(s) != ndim or any(p != q for k, (p, q) in enumerate(zip(s, shapes[0]))
                                 if k != axis) for s in shapes):
        raise ValueError(f"numpy.{name}: shapes {shapes} differ off the joining axis {axis}")
    return _concatenate(items, axis=axis)


@implements(np.concatenate, family=FAMILY, note="axis=None too")
def concatenate(arrays, /, axis=0, out=None, *, dtype=None, casting="same_kind"):
    no_out(out, "concatenate")
    items = [operand(a, "concatenate") for a in arrays]
    dtype_kept(dtype, items, "concatenate")
    if axis is None:
        items, axis = [flat(a) for a in items], 0
    return joined(items, axis, "concatenate")


@implements(np.stack, family=FAMILY)
def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    no_out(out, "stack")
    items = [operand(a, "stack") for a in arrays]
    dtype_kept(dtype, items, "stack")
    shapes = {shape_of(a) for a in items}
    if len(shapes) != 1:
        raise ValueError(f"numpy.stack: all input arrays must have the same shape, got "
                         f"{sorted(shapes) or 'none'}")
    return _stack(items, axis=axis_index(axis, len(shapes.pop()) + 1, "stack"))


@implements(np.hstack, family=FAMILY)
def hstack(tup, *, dtype=None, casting="same_kind"):
    items = [at_least(a, 1, "hstack") for a in tup]
    dtype_kept(dtype, items, "hstack")
    return joined(items, 0 if items and len(shape_of(items[0])) == 1 else 1, "hstack")


@implements(np.vstack, family=FAMILY)
def vstack(tup, *, dtype=None, casting="same_kind"):
    items = [at_least(a, 2, "vstack") for a in tup]
    dtype_kept(dtype, items, "vstack")
    return joined(items, 0, "vstack")


@implements(np.dstack, family=FAMILY)
def dstack(tup):
    return joined([at_least(a, 3, "dstack") for a in tup], 2, "dstack")


@implements(np.column_stack, family=FAMILY)
def column_stack(tup):
    items = [operand(a, "column_stack") for a in tup]
    columns = [a if len(shape_of(a)) >= 2 else
               (reshaped if traced(a) else np.reshape)(a, (math.prod(shape_of(a)), 1))
               for a in items]
    return joined(columns, 1, "column_stack")


@implements(np.append, family=FAMILY)
def append(arr, values, axis=None):
    items = [operand(arr, "append"), operand(values, "append")]
    if axis is None:
        items, axis = [flat(a) for a in items], 0
    return joined(items, axis, "append")


def _split(ary, indices_or_sections, axis, name, equal):
    ary = as_tensor(ary, name)
    axis = axis_index(axis, ary.ndim, name)
    n = ary.shape[axis]
    cuts = ints(indices_or_sections, name, "indices_or_sections")
    if cuts.ndim == 0:
        sections = int(cuts)
        if sections <= 0:
            raise ValueError(f"numpy.{name}: number sections must be larger than 0")
        if equal and n % sections:
            raise ValueError(f"numpy.{name}: array split does not result in an equal division "
                             f"({n} into {sections})")
        each, extra = divmod(n, sections)
        bounds = np.cumsum([0] + extra * [each + 1] + (sections - extra) * [each]).tolist()
    else:
        bounds = [0, *cuts.tolist(), n]
    head = (slice(None),) * axis
    return [ary[head + (slice(lo, hi),)] for lo, hi in itertools.pairwise(bounds)]


@implements(np.split, family=FAMILY, note="slices")
def split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, "split", equal=True)


@implements(np.array_split, family=FAMILY, note="slices")
def array_split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, "array_split", equal=False)


def _split_along(axis_of, least, name):
    def function(ary, indices_or_sections):
        ndim = len(shape_of(ary))
        if ndim < least:
            raise ValueError(f"numpy.{name} only works on arrays of {least} or more dimensions")
        return _split(ary, indices_or_sections, axis_of(ndim), name, equal=True)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``np.{name}``: slices along axis {axis_of(3)} (of a 3-d array)."
    return implements(getattr(np, name), family=FAMILY, note="slices")(function)


hsplit = _split_along(lambda ndim: 1 if ndim > 1 else 0, 1, "hsplit")
vsplit = _split_along(lambda ndim: 0, 2, "vsplit")
dsplit = _split_along(lambda ndim: 2, 3, "dsplit")


__all__ = []
