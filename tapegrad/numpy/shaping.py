"""NumPy's shape functions on Values and Tensors: reshaping, reordering,
broadcasting, tiling and padding (joining and splitting:
:mod:`tapegrad.numpy.joining`).

Reshapes and axis permutations are the table's ``reshape`` and
``transpose`` records; ``broadcast_to``, ``flip``, ``roll``, ``repeat``
and ``pad`` are the linear ops of :mod:`tapegrad.array.ops.shaping`, and
``tile`` is a reshape, a broadcast and a reshape.  Shapes, axes and widths
are checked here, so a mistake names the NumPy function.  A Value is a 0-d
array (``np.atleast_1d(v)``); arrays without a gradient mix in as
constants, and ``np.zeros_like`` and its kin give plain arrays.  The
helpers at the top serve :mod:`tapegrad.numpy.joining`,
:mod:`tapegrad.numpy.indexing` and the other families too.

>>> import numpy as np, tapegrad as tg
>>> x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> y = np.concatenate([np.flip(x, axis=1), np.pad(x, 1, mode="edge")], axis=None)
>>> y.shape
(20,)
>>> (y * np.arange(20.0)).sum().backward(); x.grad
array([[27., 34.],
       [61., 68.]])
"""

import math
import numbers
import operator

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from tapegrad.core.numpy_protocol import implements, passthrough, plain
from tapegrad.scalar import Value
from tapegrad.array import Tensor, array_binary
from tapegrad.array.tensor import check_real, recorder, tensor

FAMILY = "shaping"
_RESHAPE, _TRANSPOSE = recorder("reshape"), recorder("transpose")
_BROADCAST, _FLIP, _ROLL = recorder("broadcast_to"), recorder("flip"), recorder("roll")
_REPEAT, _PAD = recorder("repeat"), recorder("pad")


# --- helpers (also tapegrad.numpy.joining's and indexing's) -------------------

def traced(x):
    """Whether ``x`` is a Value or a Tensor."""
    return x.__class__ is Value or isinstance(x, Tensor)


def operand(x, name):
    """``x`` as an operand of ``numpy.<name>``: a Value, Tensor or real
    number as it is (a Python float stays weak beside float32), anything
    else as a real NumPy array."""
    if traced(x) or isinstance(x, numbers.Real):
        return x
    array = np.asarray(x)
    check_real(array, f"numpy.{name}")
    return array


def as_tensor(x, name):
    """``x`` as a Tensor: a Value as a 0-d one (a record), data as a constant."""
    if isinstance(x, Tensor):
        return x
    if x.__class__ is Value:
        return _RESHAPE([x], shape=())
    return tensor(operand(x, name))


def shape_of(x):
    """The shape of a Tensor, Value (``()``) or array."""
    return () if x.__class__ is Value else np.shape(getattr(x, "_v", x))


def axis_index(axis, ndim, name):
    """``axis`` of an array of ``ndim`` axes as a non-negative int
    (``AxisError``, a ValueError, naming ``numpy.<name>`` if out of range)."""
    return normalize_axis_index(operator.index(axis), ndim, f"numpy.{name}")


def axis_tuple(axis, ndim, name):
    """``axis`` (an int or a sequence of them) as a tuple of non-negative ints."""
    return normalize_axis_tuple(axis, ndim, f"numpy.{name}")


def no_out(out, name):
    if out is not None:
        raise TypeError(f"numpy.{name}(..., out=...) on a traced value: tapegrad records a "
                        "new array and never writes into one; drop out=")


def reshaped(x, shape):
    """Record ``x`` (a Value or Tensor; data gives a constant) in ``shape``
    (no -1)."""
    return _RESHAPE([x], shape=tuple(shape))


def flat(x):
    """``x`` as a vector: a record if traced, else NumPy's ``ravel``."""
    return reshaped(x, (math.prod(shape_of(x)),)) if traced(x) else np.ravel(x)


def _c_order(order, name):
    if order != "C":
        raise ValueError(f"numpy.{name}: order={order!r} is not supported on traced values "
                         "(only 'C')")


def dtype_kept(dtype, items, name):
    """Refuse a ``dtype=`` other than the one ``items`` give anyway."""
    if dtype is not None and np.dtype(dtype) != np.result_type(*(getattr(a, "_v", a)
                                                                 for a in items)):
        raise TypeError(f"numpy.{name}(..., dtype={np.dtype(dtype)}) on traced values: "
                        "tapegrad keeps the arrays' dtype; drop dtype=")


def ints(values, name, what):
    """``values`` (ints, or a Tensor of them) as an int64 array."""
    array = np.asarray(plain(values))
    if array.dtype.kind not in "iu" and array.size:
        raise TypeError(f"numpy.{name}: {what} must be integers, not {array.dtype}")
    return array.astype(np.int64)


# --- shapes --------------------------------------------------------------------

@implements(np.reshape, family=FAMILY, note="order='C' only")
def reshape(a, /, shape, order="C", *, copy=None):
    _c_order(order, "reshape")
    old = shape_of(a)
    shape = tuple(int(s) for s in ints(shape, "reshape", "the shape").reshape(-1))
    size, known = math.prod(old), math.prod(s for s in shape if s != -1)
    if shape.count(-1) == 1 and known and size % known == 0:
        shape = tuple(size // known if s == -1 else s for s in shape)
    if math.prod(shape) != size or min(shape, default=0) < 0:
        raise ValueError(f"numpy.reshape: cannot reshape an array of shape {old} into shape "
                         f"{shape}")
    return reshaped(a, shape)


@implements(np.ravel, family=FAMILY, note="order='C' only")
def ravel(a, order="C"):
    _c_order(order, "ravel")
    return flat(operand(a, "ravel"))


@implements(np.transpose, family=FAMILY)
def transpose(a, axes=None):
    ndim = len(shape_of(a))
    if axes is not None:
        axes = axis_tuple(axes, ndim, "transpose")
        if len(axes) != ndim:
            raise ValueError(f"numpy.transpose: axes {axes} don't match an array of {ndim} axes")
    return _TRANSPOSE([a], axes=axes)


@implements(np.swapaxes, family=FAMILY)
def swapaxes(a, axis1, axis2):
    order = list(range(len(shape_of(a))))
    i, j = (axis_index(k, len(order), "swapaxes") for k in (axis1, axis2))
    order[i], order[j] = order[j], order[i]
    return _TRANSPOSE([a], axes=tuple(order))


@implements(np.moveaxis, family=FAMILY)
def moveaxis(a, source, destination):
    ndim = len(shape_of(a))
    source = axis_tuple(source, ndim, "moveaxis")
    destination = axis_tuple(destination, ndim, "moveaxis")
    if len(source) != len(destination):
        raise ValueError("numpy.moveaxis: `source` and `destination` arguments must have the "
                         "same number of elements")
    order = [k for k in range(ndim) if k not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return _TRANSPOSE([a], axes=tuple(order))


@implements(np.squeeze, family=FAMILY)
def squeeze(a, axis=None):
    shape = shape_of(a)
    axes = [k for k, s in enumerate(shape) if s == 1] if axis is None else \
        axis_tuple(axis, len(shape), "squeeze")
    if any(shape[k] != 1 for k in axes):
        raise ValueError("numpy.squeeze: cannot select an axis to squeeze out which has size "
                         f"not equal to one (shape {shape}, axis {axis})")
    return reshaped(a, [s for k, s in enumerate(shape) if k not in axes])


@implements(np.expand_dims, family=FAMILY)
def expand_dims(a, axis):
    shape = shape_of(a)
    count = 1 if isinstance(axis, numbers.Integral) else len(axis)
    axes = axis_tuple(axis, len(shape) + count, "expand_dims")
    rest = iter(shape)
    return reshaped(a, [1 if k in axes else next(rest) for k in range(len(shape) + count)])


def at_least(x, ndim, name):
    """``x`` with at least ``ndim`` axes, as ``np.atleast_<ndim>d`` adds them.

    >>> at_least(np.ones(2), 3, "atleast_3d").shape
    (1, 2, 1)
    """
    x = operand(x, name)
    shape = shape_of(x)
    if len(shape) >= ndim:
        return x
    if ndim == 3:
        shape = {0: (1, 1, 1), 1: (1, *shape, 1), 2: (*shape, 1)}[len(shape)]
    else:
        shape = (1,) * (ndim - len(shape)) + shape
    return reshaped(x, shape) if traced(x) else np.reshape(x, shape)


def _at_least_function(ndim):
    name = f"atleast_{ndim}d"

    def function(*arys):
        out = tuple(at_least(a, ndim, name) for a in arys)
        return out[0] if len(out) == 1 else out

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``np.{name}``: the arrays with at least {ndim} axes (reshapes)."
    return implements(getattr(np, name), family=FAMILY)(function)


atleast_1d, atleast_2d, atleast_3d = (_at_least_function(n) for n in (1, 2, 3))


@implements(np.copy, family=FAMILY, note="a new record (a Value gives a 0-d Tensor)")
def copy(a, order="K", subok=False):
    return reshaped(a, shape_of(a))


passthrough(np.zeros_like, np.ones_like, np.empty_like, family=FAMILY, reads=False,
            note="a plain array: no gradient")


@implements(np.full_like, family=FAMILY, note="a traced fill_value is recorded")
def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    base = np.zeros_like(plain(a, reads=False), dtype=dtype, order=order, shape=shape)
    if not traced(fill_value):
        return np.full_like(base, fill_value)
    if np.broadcast_shapes(base.shape, shape_of(fill_value)) != base.shape:
        raise ValueError(f"numpy.full_like: a fill_value of shape {shape_of(fill_value)} for "
                         f"an array of shape {base.shape}")
    return array_binary("add", base, fill_value)


# --- broadcasting, tiling, reordering -----------------------------------------------

@implements(np.broadcast_to, family=FAMILY)
def broadcast_to(array, shape, subok=False):
    old = shape_of(array)
    shape = tuple(int(s) for s in ints(shape, "broadcast_to", "the shape").reshape(-1))
    if len(old) > len(shape) or min(shape, default=0) < 0 or any(
            o not in (1, s) for o, s in zip(old[::-1], shape[::-1])):
        raise ValueError(f"numpy.broadcast_to: cannot broadcast shape {old} to {shape}")
    return _BROADCAST([operand(array, "broadcast_to")], shape=shape)


@implements(np.broadcast_arrays, family=FAMILY)
def broadcast_arrays(*args, subok=False):
    args = [operand(a, "broadcast_arrays") for a in args]
    shapes = [shape_of(a) for a in args]
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"numpy.broadcast_arrays: shapes {shapes} do not broadcast "
                         "together") from None
    return tuple(broadcast_to(a, shape) if traced(a) else np.broadcast_to(a, shape)
                 for a in args)


@implements(np.tile, family=FAMILY, note="a reshape, a broadcast and a reshape")
def tile(A, reps):
    shape = shape_of(A)
    reps = tuple(int(r) for r in ints(reps, "tile", "reps").reshape(-1))
    if min(reps, default=0) < 0:
        raise ValueError(f"numpy.tile: negative reps {reps}")
    ndim = max(len(shape), len(reps))
    pairs = list(zip((1,) * (ndim - len(reps)) + reps, (1,) * (ndim - len(shape)) + shape))
    if all(r == 1 for r, _ in pairs):
        return reshaped(A, [s for _, s in pairs])
    spread = _BROADCAST([reshaped(A, [v for _, s in pairs for v in (1, s)])],
                        shape=tuple(v for pair in pairs for v in pair))
    return reshaped(spread, [r * s for r, s in pairs])


@implements(np.repeat, family=FAMILY)
def repeat(a, repeats, axis=None):
    if axis is None:
        a, axis = flat(a), 0
    shape = shape_of(a)
    axis = axis_index(axis, len(shape), "repeat")
    counts = ints(repeats, "repeat", "repeats")
    if counts.ndim > 1 or counts.size not in (1, shape[axis]) or (counts < 0).any():
        raise ValueError(f"numpy.repeat: repeats {counts.tolist()} for an axis of length "
                         f"{shape[axis]} (one count, or one per element, none negative)")
    repeats = int(counts.reshape(-1)[0]) if counts.size == 1 else tuple(counts.tolist())
    return _REPEAT([a], repeats=repeats, axis=axis)


@implements(np.flip, family=FAMILY)
def flip(m, axis=None):
    ndim = len(shape_of(m))
    axes = tuple(range(ndim)) if axis is None else axis_tuple(axis, ndim, "flip")
    return _FLIP([m], axis=axes)


@implements(np.fliplr, family=FAMILY)
def fliplr(m):
    if len(shape_of(m)) < 2:
        raise ValueError(f"numpy.fliplr: the array must be at least 2-d, not {shape_of(m)}")
    return _FLIP([m], axis=(1,))


@implements(np.flipud, family=FAMILY)
def flipud(m):
    if len(shape_of(m)) < 1:
        raise ValueError("numpy.flipud: the array must be at least 1-d")
    return _FLIP([m], axis=(0,))


@implements(np.roll, family=FAMILY)
def roll(a, shift, axis=None):
    shape = shape_of(a)
    if axis is None:
        return reshaped(roll(flat(a), shift, 0), shape)
    try:
        pairs = np.broadcast(ints(shift, "roll", "shift"), ints(axis, "roll", "axis"))
    except ValueError:
        raise ValueError(f"numpy.roll: shift {shift} and axis {axis} do not pair up") from None
    total = {}
    for s, k in pairs:
        k = axis_index(k, len(shape), "roll")
        total[k] = total.get(k, 0) + int(s)
    return _ROLL([a], shift=tuple(s % (shape[k] or 1) for k, s in total.items()),
                 axis=tuple(total))


_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _holds_traced(x):
    return traced(x) or (isinstance(x, (list, tuple)) and any(_holds_traced(v) for v in x))


def _per_axis(value, ndim, name, what):
    """``value`` (a number, a pair, or one pair per axis) as ``ndim`` pairs."""
    try:
        return tuple(map(tuple, np.broadcast_to(value, (ndim, 2)).tolist()))
    except ValueError:
        raise ValueError(f"numpy.{name}: {what} of shape {np.shape(value)} for {ndim} axes "
                         "(a number, a (before, after) pair, or one pair per axis)") from None


@implements(np.pad, family=FAMILY, note="modes constant, edge, reflect, symmetric, wrap")
def pad(array, pad_width, mode="constant", **kwargs):
    if not isinstance(mode, str) or mode not in _PAD_MODES:
        raise ValueError(f"numpy.pad: mode {mode!r} is not supported on traced values "
                         f"(supported: {', '.join(_PAD_MODES)})")
    allowed = {"constant": {"constant_values"}, "reflect": {"reflect_type"},
               "symmetric": {"reflect_type"}}.get(mode, set())
    if set(kwargs) - allowed or kwargs.get("reflect_type", "even") != "even":
        raise ValueError(f"numpy.pad: unsupported keyword(s) {kwargs} for mode {mode!r} "
                         "on traced values")
    ndim = len(shape_of(array))
    widths = _per_axis(ints(pad_width, "pad", "pad_width"), ndim, "pad", "pad_width")
    if any(w < 0 for pair in widths for w in pair):
        raise ValueError(f"numpy.pad: negative pad_width {pad_width}")
    params = {"pad_width": widths, "mode": mode}
    if mode == "constant":
        values = kwargs.get("constant_values", 0)
        if _holds_traced(values):
            raise TypeError("numpy.pad: constant_values must be numbers, not traced values")
        values = np.asarray(values)
        check_real(values, "numpy.pad's constant_values")
        params["constant_values"] = _per_axis(values, ndim, "pad", "constant_values")
    return _PAD([operand(array, "pad")], **params)


__all__ = []
