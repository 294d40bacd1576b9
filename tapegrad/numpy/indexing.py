"""NumPy's indexing and selection functions on Values and Tensors:
diagonals and triangles, ``take``, sorting, clipping, ``where``/``select``,
``nan_to_num``, ``delete``/``insert``, the differences ``diff`` and
``gradient``, and ``linspace`` between traced ends.

``take``, ``take_along_axis``, ``delete`` and ``insert`` are the table's
``getitem`` with an index worked out here from the shapes and the given
indices; ``diagonal``, ``diag``, ``triangle``, ``sort``, ``clip``,
``nan_to_num`` and ``gradient`` are ops of :mod:`tapegrad.array.ops.shaping`
(a Value spacing of ``gradient`` divides after it).  Whatever
depends on the values (the permutation of ``sort``, the sides of ``clip``,
the finite elements of ``nan_to_num``) is found again by the op at each
replay.  ``where(c, x, y)`` is :func:`tapegrad.where`, so the Mask of a
traced comparison stays a recorded selection; ``where(c)`` is
``np.nonzero``, data.  ``diff``, ``select``, ``trace`` and ``linspace``
are made of other records.

>>> import numpy as np, tapegrad as tg
>>> x = tg.tensor([3.0, -1.0, 2.0], requires_grad=True)
>>> y = np.sort(np.clip(x, 0.0, 2.5))
>>> y.value
array([0. , 2. , 2.5])
>>> (y * np.array([1.0, 10.0, 100.0])).sum().backward(); x.grad
array([ 0.,  0., 10.])
"""

import numbers
import operator

import numpy as np

from tapegrad.core.numpy_protocol import implements, plain
from tapegrad.scalar import Value
from tapegrad.piecewise import where as _where
from tapegrad.array.tensor import recorder, tensor
from tapegrad.numpy.joining import joined
from tapegrad.numpy.shaping import (
    FAMILY, as_tensor, axis_index, axis_tuple, broadcast_to, dtype_kept, flat, flip, ints,
    moveaxis, no_out, operand, reshaped, shape_of, traced, transpose,
)

_DIAGONAL, _DIAG, _TRIANGLE = recorder("diagonal"), recorder("diag"), recorder("triangle")
_SORT, _CLIP, _NAN_TO_NUM = recorder("sort"), recorder("clip"), recorder("nan_to_num")
_GRADIENT = recorder("gradient")
_GETITEM = recorder("getitem")
_UNSET = object()  # an argument not given (None means something)


def _along(axis, index):
    """The index tuple taking ``index`` along ``axis``."""
    return (slice(None),) * axis + (index,)


# --- diagonals and triangles ---------------------------------------------------------

@implements(np.diagonal, family=FAMILY)
def diagonal(a, offset=0, axis1=0, axis2=1):
    ndim = len(shape_of(a))
    if ndim < 2:
        raise ValueError(f"numpy.diagonal: the array must be at least 2-d, not {shape_of(a)}")
    axis1, axis2 = axis_index(axis1, ndim, "diagonal"), axis_index(axis2, ndim, "diagonal")
    if axis1 == axis2:
        raise ValueError("numpy.diagonal: axis1 and axis2 cannot be the same")
    return _DIAGONAL([a], offset=operator.index(offset), axis1=axis1, axis2=axis2)


@implements(np.diag, family=FAMILY, note="a vector onto a diagonal, or a matrix's diagonal")
def diag(v, k=0):
    ndim = len(shape_of(v))
    if ndim == 1:
        return _DIAG([v], k=operator.index(k))
    if ndim == 2:
        return diagonal(v, k)
    raise ValueError(f"numpy.diag: input must be 1- or 2-d, not of shape {shape_of(v)}")


@implements(np.trace, family=FAMILY, note="the diagonal's sum")
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    no_out(out, "trace")
    dtype_kept(dtype, [a], "trace")
    return diagonal(a, offset, axis1, axis2).sum(axis=-1)


def _triangle(upper):
    name = "triu" if upper else "tril"

    def function(m, k=0):
        if len(shape_of(m)) == 0:
            raise ValueError(f"numpy.{name}: the array must be at least 1-d")
        return _TRIANGLE([operand(m, name)], upper=upper, k=operator.index(k))

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``np.{name}``: the {'upper' if upper else 'lower'} triangle."
    return implements(getattr(np, name), family=FAMILY)(function)


triu, tril = _triangle(True), _triangle(False)


# --- taking elements -----------------------------------------------------------------

@implements(np.take, family=FAMILY, note="indexing (getitem)")
def take(a, indices, axis=None, out=None, mode="raise"):
    no_out(out, "take")
    a = as_tensor(a, "take")
    if axis is None:
        a, axis = flat(a), 0
    axis = axis_index(axis, a.ndim, "take")
    index, n = ints(indices, "take", "indices"), a.shape[axis]
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"numpy.take: mode {mode!r} (raise, wrap or clip)")
    if index.size and (n == 0 or (mode == "raise" and (index.min() < -n or index.max() >= n))):
        raise IndexError(f"numpy.take: index {index.min()}..{index.max()} is out of bounds "
                         f"for axis {axis} with size {n}")
    if mode == "wrap":
        index = index % max(n, 1)
    elif mode == "clip":
        index = np.clip(index, 0, max(n - 1, 0))
    if index.ndim == 0:  # a 0-d Tensor (a Value would be float64)
        return _GETITEM([a], index=_along(axis, int(index)), unique=True)
    return a[_along(axis, index)]


@implements(np.take_along_axis, family=FAMILY, note="indexing (getitem)")
def take_along_axis(arr, indices, axis=-1):
    arr, index = as_tensor(arr, "take_along_axis"), ints(indices, "take_along_axis", "indices")
    if axis is None:
        arr, axis = flat(arr), 0
    if index.ndim != arr.ndim:
        raise ValueError(f"numpy.take_along_axis: indices of shape {index.shape} and an array "
                         f"of shape {arr.shape} must have the same number of dimensions")
    axis = axis_index(axis, arr.ndim, "take_along_axis")
    if index.size and (index.min() < -arr.shape[axis] or index.max() >= arr.shape[axis]):
        raise IndexError(f"numpy.take_along_axis: an index is out of bounds for axis {axis} "
                         f"with size {arr.shape[axis]}")
    grid = tuple(index if k == axis else np.arange(s).reshape([-1 if j == k else 1
                                                              for j in range(arr.ndim)])
                 for k, s in enumerate(arr.shape))
    try:
        np.broadcast_shapes(*(np.shape(g) for g in grid))
    except ValueError:
        raise ValueError(f"numpy.take_along_axis: indices of shape {index.shape} do not "
                         f"broadcast against an array of shape {arr.shape}") from None
    return arr[grid]


@implements(np.delete, family=FAMILY, note="indexing (getitem)")
def delete(arr, obj, axis=None):
    arr = as_tensor(arr, "delete")
    if axis is None:
        arr, axis = flat(arr), 0
    axis = axis_index(axis, arr.ndim, "delete")
    n = arr.shape[axis]
    keep = np.ones(n, dtype=bool)
    obj = obj if isinstance(obj, slice) else np.asarray(plain(obj))
    if isinstance(obj, slice):
        keep[obj] = False
    elif obj.dtype == bool:
        if obj.shape != (n,):
            raise ValueError(f"numpy.delete: a boolean obj must be one-dimensional and match "
                             f"the axis length {n}, not of shape {obj.shape}")
        keep = ~obj
    else:
        index = ints(obj, "delete", "obj")
        if index.size and (index.min() < -n or index.max() >= n):
            raise IndexError(f"numpy.delete: index {index.min()}..{index.max()} is out of "
                             f"bounds for axis {axis} with size {n}")
        keep[index] = False
    return arr[_along(axis, keep)]


@implements(np.insert, family=FAMILY, note="a concatenation and a permutation")
def insert(arr, obj, values, axis=None):
    arr, values = as_tensor(arr, "insert"), operand(values, "insert")
    if axis is None:
        arr, axis = flat(arr), 0
    axis = axis_index(axis, arr.ndim, "insert")
    n = arr.shape[axis]
    if not traced(values):
        values = np.asarray(values, dtype=arr.dtype)  # as NumPy casts them
    index = np.arange(*obj.indices(n)) if isinstance(obj, slice) else ints(obj, "insert", "obj")
    if index.ndim > 1:
        raise ValueError("numpy.insert: index array argument obj to insert must be one "
                         "dimensional or scalar")
    if index.size and (index.min() < -n or index.max() > n):
        raise IndexError(f"numpy.insert: index {index.min()}..{index.max()} is out of bounds "
                         f"for axis {axis} with size {n}")
    index = np.where(index < 0, index + n, index)
    if index.size == 1:  # all of values at one place, as NumPy puts them
        shape = shape_of(values)
        shape = (1,) * (arr.ndim - len(shape)) + shape
        values = reshaped(values, shape) if traced(values) else np.reshape(values, shape)
        if index.ndim == 0:
            values = (moveaxis if traced(values) else np.moveaxis)(values, 0, axis)
        count = shape_of(values)[axis]
        places = int(index.reshape(-1)[0]) + np.arange(count)
    else:
        count, order = index.size, np.argsort(index, kind="stable")
        places = np.empty(count, dtype=np.int64)
        places[order] = index[order] + np.arange(count)
    target = arr.shape[:axis] + (count,) + arr.shape[axis + 1:]
    if np.broadcast_shapes(shape_of(values), target) != target:
        raise ValueError(f"numpy.insert: values of shape {shape_of(values)} for a slot of "
                         f"shape {target}")
    values = broadcast_to(values, target) if traced(values) else np.broadcast_to(values, target)
    source = np.empty(n + count, dtype=np.int64)
    old = np.ones(n + count, dtype=bool)
    old[places] = False
    source[old], source[places] = np.arange(n), n + np.arange(count)
    return joined([arr, values], axis, "insert")[_along(axis, source)]


# --- choosing by value ---------------------------------------------------------------

@implements(np.sort, family=FAMILY, note="the permutation found again at each replay")
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    if order is not None:
        raise ValueError("numpy.sort: order= (fields of structured arrays) on traced values")
    a = operand(a, "sort")
    if axis is None:
        a, axis = flat(a), 0
    return _SORT([a], axis=axis_index(axis, len(shape_of(a)), "sort"))


@implements(np.clip, family=FAMILY,
            note="the gradient to a inside, to the bound that binds outside")
def clip(a, a_min=_UNSET, a_max=_UNSET, out=None, *, min=_UNSET, max=_UNSET, **kwargs):
    no_out(out, "clip")
    if kwargs:
        raise TypeError(f"numpy.clip: unsupported keyword(s) {sorted(kwargs)} on traced values")
    if (a_min is not _UNSET and min is not _UNSET) or (a_max is not _UNSET and max is not _UNSET):
        raise ValueError("numpy.clip: give a_min or min (a_max or max), not both")
    bounds = []
    for bound, missing in ((a_min if a_min is not _UNSET else min, -np.inf),
                           (a_max if a_max is not _UNSET else max, np.inf)):
        bounds.append(missing if bound is None or bound is _UNSET else operand(bound, "clip"))
    operands = [operand(a, "clip"), *bounds]
    try:
        shape = np.broadcast_shapes(*(shape_of(x) for x in operands))
    except ValueError:
        raise ValueError(f"numpy.clip: shapes {[shape_of(x) for x in operands]} do not "
                         "broadcast together") from None
    out = _CLIP(operands)
    return out[()] if a.__class__ is Value and shape == () else out


@implements(np.nan_to_num, family=FAMILY, note="the gradient 0 where an element is replaced")
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    if not all(v is None or isinstance(v, numbers.Real) for v in (nan, posinf, neginf)):
        raise TypeError("numpy.nan_to_num: nan, posinf and neginf must be numbers")
    out = _NAN_TO_NUM([operand(x, "nan_to_num")], nan=nan, posinf=posinf, neginf=neginf)
    return out[()] if x.__class__ is Value else out


@implements(np.where, family=FAMILY,
            note="tapegrad.where: a traced comparison stays a recorded selection")
def where(condition, x=_UNSET, y=_UNSET, /):
    if x is _UNSET and y is _UNSET:
        return np.nonzero(plain(condition))
    if x is _UNSET or y is _UNSET:
        raise ValueError("numpy.where: either both or neither of x and y should be given")
    if isinstance(condition, (list, tuple)):
        condition = np.asarray(condition)
    shapes = [shape_of(c) for c in (condition, x, y)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"numpy.where: shapes {shapes} do not broadcast together") from None
    return _where(condition, x, y)


@implements(np.select, family=FAMILY, note="nested where")
def select(condlist, choicelist, default=0):
    condlist, choicelist = list(condlist), list(choicelist)
    if len(condlist) != len(choicelist):
        raise ValueError("numpy.select: list of cases must be same length as list of conditions")
    if not condlist:
        raise ValueError("numpy.select: select with an empty condition list is not possible")
    for k, c in enumerate(condlist):
        if getattr(c, "dtype", None) != bool and np.asarray(c).dtype != bool:
            raise TypeError(f"numpy.select: invalid entry {k} in condlist: should be boolean")
    result = default
    for c, choice in zip(reversed(condlist), reversed(choicelist)):
        result = where(c, choice, result)
    return result


# --- stencils and ranges -------------------------------------------------------------

@implements(np.diff, family=FAMILY, note="slices and subtractions")
def diff(a, n=1, axis=-1, prepend=_UNSET, append=_UNSET):
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"numpy.diff: order must be non-negative but got {n}")
    if n == 0:
        return a
    a = as_tensor(a, "diff")
    if a.ndim == 0:
        raise ValueError("numpy.diff requires input that is at least one dimensional")
    axis = axis_index(axis, a.ndim, "diff")
    if prepend is not _UNSET or append is not _UNSET:
        edge = a.shape[:axis] + (1,) + a.shape[axis + 1:]

        def end(e):  # a number stays weak: float32 stays float32
            e = operand(e, "diff")
            if shape_of(e):
                return e
            return broadcast_to(e, edge) if traced(e) else np.full(edge, e, dtype=np.result_type(
                a.dtype, e))

        before = [end(prepend)] if prepend is not _UNSET else []
        after = [end(append)] if append is not _UNSET else []
        a = joined(before + [a] + after, axis, "diff")
    for _ in range(n):
        a = a[_along(axis, slice(1, None))] - a[_along(axis, slice(None, -1))]
    return a


@implements(np.gradient, family=FAMILY, note="uniform spacings (numbers or Values)")
def gradient(f, *varargs, axis=None, edge_order=1):
    f = as_tensor(f, "gradient")
    axes = tuple(range(f.ndim)) if axis is None else axis_tuple(axis, f.ndim, "gradient")
    if len(varargs) > 1 and len(varargs) != len(axes):
        raise TypeError(f"numpy.gradient: {len(varargs)} spacings for {len(axes)} axes")
    spacing = list(varargs or [1.0]) * (len(axes) if len(varargs) <= 1 else 1)
    for k, h in enumerate(spacing):
        if h.__class__ is not Value:
            if np.ndim(plain(h)) != 0:
                raise TypeError("numpy.gradient: tapegrad takes uniform spacings (numbers or "
                                "Values), not coordinate arrays")
            spacing[k] = float(plain(h))
    if edge_order not in (1, 2):
        raise ValueError("numpy.gradient: 'edge_order' greater than 2 not supported")
    for k in axes:
        if f.shape[k] < edge_order + 1:
            raise ValueError("numpy.gradient: Shape of array too small to calculate a "
                             "numerical gradient, at least (edge_order + 1) elements are "
                             "required.")
    out = []
    for k, h in zip(axes, spacing):
        traced_h = h.__class__ is Value
        d = _GRADIENT([f], axis=k, spacing=1.0 if traced_h else h, edge_order=edge_order)
        out.append(d / h if traced_h else d)
    return out[0] if len(out) == 1 else tuple(out)


@implements(np.linspace, family=FAMILY, note="between traced ends")
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *,
             device=None):
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"numpy.linspace: number of samples, {num}, must be non-negative")
    start, stop = operand(start, "linspace"), operand(stop, "linspace")
    weak = [0.0 if x.__class__ is Value else getattr(x, "_v", x) for x in (start, stop)]
    natural = np.result_type(*weak, 0.0)
    dtype_kept(dtype, [np.zeros(0, natural)], "linspace")
    div = num - 1 if endpoint else num
    delta = stop - start
    steps = np.arange(num, dtype=natural).reshape((-1,) + (1,) * len(shape_of(delta)))
    step = delta / div if div > 0 else np.nan
    if num == 0:  # no elements, so no gradient either
        y = tensor(np.zeros((0, *np.broadcast_shapes(shape_of(start), shape_of(stop))), natural))
    else:
        y = steps * (step if div > 0 else delta) + start
    if endpoint and num > 1:
        y = _where((np.arange(num) == num - 1).reshape(steps.shape), stop, y)
    if axis != 0:
        y = moveaxis(y, 0, axis)
    return (y, step) if retstep else y




@implements(np.rot90, family=FAMILY)
def rot90(m, k=1, axes=(0, 1)):
    """NumPy's quarter turns: flips and one swap of ``axes``, all recorded."""
    ndim = len(shape_of(m))
    first, second = axis_tuple(tuple(axes), ndim, "rot90")
    if len(axes) != 2 or first == second:
        raise ValueError(f"numpy.rot90: axes must be two different axes, not {axes}")
    k = int(k) % 4
    if k == 0:
        return m * 1.0 if traced(m) else m
    if k == 2:
        return flip(m, (first, second))
    order = list(range(ndim))
    order[first], order[second] = order[second], order[first]
    if k == 1:
        return transpose(flip(m, second), order)
    return flip(transpose(m, order), second)


__all__ = []
