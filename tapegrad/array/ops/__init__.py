"""The array op table: what an array record computes and its VJP.

An elementwise array op is a row of the scalar table (:mod:`tapegrad.ops`)
applied to every element, through the kernels generated from that row
(:mod:`tapegrad.kernels.array_rules`); broadcasting, and the sum over broadcast
axes in the VJP, are handled once, here, for all of them.  Its opcode is
``ELEMENTWISE + scalar code``.

Only ops whose Jacobian is not diagonal declare their own rules, one block
each: ``value(args, params)`` and ``vjp(g, out, args, params)``, which
returns one gradient per argument (None where not needed).  ``args`` holds
the operands' values: arrays, or floats for scalar records and constants.
For forward mode and Hessian-vector products a block also declares
``jvp(tangents, out, args, params)`` (the output's tangent) and
``vjp_tangent(g, gt, out, out_t, args, tangents, params)`` (the gradients
and their tangents), unless it is ``linear`` (both follow from ``value`` and
``vjp``) or ``bilinear`` (both follow from the product rule).

>>> import numpy as np
>>> ARRAY_OPS["sum"].value([np.ones((2, 3))], {"axis": 0, "keepdims": False})
array([2., 2., 2.])
>>> elementwise("mul", [np.ones((2, 3)), np.arange(3.0)])
array([[0., 1., 2.],
       [0., 1., 2.]])
"""

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from tapegrad.core import arena
from tapegrad.array.rows import row_layout, rows_value, rows_vjp
from tapegrad.ops import OPS

ELEMENTWISE = 64  # array opcode of scalar op k: ELEMENTWISE + k
ARRAY_INPUT = 127  # a Tensor leaf's record
STRUCTURAL = 128  # first opcode of the ops declared below

_kernels = None


def _each(name, suffix=""):
    global _kernels
    if _kernels is None:  # the first array op loads (or compiles) them
        from tapegrad.kernels import array_rules as _kernels
    return getattr(_kernels, f"{name}_{suffix}each")


def result_dtype(*args):
    """NumPy's result type of ``args`` (Python floats weak), at least float."""
    dtype = np.result_type(*args)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _plan(shape, full):
    """How an operand of ``shape`` sits in the broadcast ``full`` shape:
    ``("full" | "scalar", None)``, ``("row", p)`` (varies along axes >= p
    only) or ``("col", p)`` (along axes < p only), else ``("other", None)``."""
    padded = (1,) * (len(full) - len(shape)) + tuple(shape)
    size = math.prod(padded)
    if padded == tuple(full):
        return "full", None
    if size == 1:
        return "scalar", None
    for p in range(1, len(full)):
        if all(s == 1 for s in padded[:p]) and padded[p:] == tuple(full[p:]):
            return "row", p
        if padded[:p] == tuple(full[:p]) and all(s == 1 for s in padded[p:]):
            return "col", p
    return "other", None


def _layout(shapes, full):
    """A split of ``full`` into ``(R, C)`` and each operand's 2-D shape and
    axis flags, materialising (broadcasting by copy) operands that fit no
    common split; returns ``(R, C, [(shape2d, xr, xc, copied)])``."""
    plans = [_plan(s, full) for s in shapes]
    splits = {p for kind, p in plans if kind in ("row", "col")}
    split = splits.pop() if len(splits) == 1 else None
    size = math.prod(full)
    if split is None:
        R, C = 1, size
    else:
        R = math.prod(full[:split])
        C = size // R if R else 0
    out = []
    for kind, p in plans:
        if kind == "full" or (kind in ("row", "col") and p != split) or kind == "other":
            out.append(((R, C), 1, 1, kind != "full"))
        elif kind == "scalar":
            out.append(((1, 1), 0, 0, False))
        elif kind == "row":
            out.append(((1, C), 0, 1, False))
        else:
            out.append(((R, 1), 1, 0, False))
    return R, C, out


def _operand(x, shape2d, copied, full, dtype):
    if copied:
        x = np.broadcast_to(x, full)
    return np.ascontiguousarray(x, dtype=dtype).reshape(shape2d)


def broadcast_shape(x, y):
    """The broadcast shape of two operands, or a ValueError naming both."""
    sx, sy = np.shape(x), np.shape(y)
    if sx == sy or not sy:
        return sx
    if not sx:
        return sy
    try:
        return np.broadcast_shapes(sx, sy)
    except ValueError:
        raise ValueError(f"operands could not be broadcast together with shapes "
                         f"{np.shape(x)} and {np.shape(y)}") from None


def elementwise(name, args):
    """The scalar op ``name`` applied to ``args`` elementwise, broadcast."""
    if len(args) == 1:
        x = np.asarray(args[0])
        dtype = result_dtype(x)
        x2 = np.ascontiguousarray(x, dtype=dtype).reshape(1, -1)
        out = arena.empty(x2.shape, dtype)
        _each(name)(x2, out)
        return out.reshape(x.shape)
    x, y = args
    full = broadcast_shape(x, y)
    dtype = result_dtype(x, y)
    rows = row_layout([np.shape(x), np.shape(y)], full)
    if rows is not None:
        return rows_value(name, args, rows, dtype).reshape(full)
    R, C, ((sx, xr, xc, cx), (sy, yr, yc, cy)) = _layout([np.shape(x), np.shape(y)], full)
    out = np.empty((R, C), dtype)
    _each(name)(_operand(x, sx, cx, full, dtype), _operand(y, sy, cy, full, dtype), out,
                xr, xc, yr, yc)
    return out.reshape(full)


def _unbroadcast(g, shape):
    """``g`` summed down to ``shape`` (the VJP of broadcasting).  A sum over
    leading axes only (a bias's gradient) is a product with ones: BLAS runs
    it five times faster than NumPy's strided ``sum(axis=0)``."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(k + lead for k, s in enumerate(shape) if s == 1)
    if axes == tuple(range(len(axes))) and g.dtype.kind == "f" and g.flags.c_contiguous:
        rows = math.prod(g.shape[:len(axes)])
        return (np.ones(rows, g.dtype) @ g.reshape(rows, -1)).reshape(shape)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def elementwise_vjp(name, g, out, args, wants, into=None, empty=arena.empty):
    """Gradients of the elementwise ``name`` for the arguments in ``wants``
    (``into`` and ``empty``: see :func:`tapegrad.array.rows.rows_vjp`)."""
    full, dtype = out.shape, out.dtype
    rows = row_layout([np.shape(a) for a in args], full) if out.size else None
    if rows is not None:
        return rows_vjp(name, g, out, args, rows, wants, into, empty)
    if len(args) == 1:
        x = np.asarray(args[0])
        x2 = np.ascontiguousarray(x, dtype=out.dtype).reshape(1, -1)
        gx = np.zeros_like(x2)
        _each(name, "vjp_")(x2, out.reshape(1, -1), np.ascontiguousarray(g).reshape(1, -1), gx)
        return (gx.reshape(x.shape),)
    x, y = args
    R, C, ((sx, xr, xc, cx), (sy, yr, yc, cy)) = _layout([np.shape(x), np.shape(y)], full)
    gx, gy = np.zeros(sx, dtype), np.zeros(sy, dtype)
    _each(name, "vjp_")(_operand(x, sx, cx, full, dtype), _operand(y, sy, cy, full, dtype),
                        out.reshape(R, C), np.ascontiguousarray(g, dtype=dtype).reshape(R, C),
                        gx, gy, xr, xc, yr, yc, wants[0], wants[1])
    return _shaped(gx, x, cx, full), _shaped(gy, y, cy, full)


def _shaped(grad, arg, copied, full):
    """A gradient from the 2-D layout, back in ``arg``'s shape (summed over
    the broadcast axes when ``arg`` was broadcast by copy)."""
    shape = np.shape(arg)
    return _unbroadcast(grad.reshape(full), shape) if copied else grad.reshape(shape)


# --- ops with their own rules -------------------------------------------


@dataclass(frozen=True)
class ArrayOp:
    """One row of the array op table (built by :func:`declare`)."""

    name: str
    code: int
    doc: str
    value: Callable
    vjp: Callable
    arity: int  # array arguments; 0 for n-ary ops, which list them in params["args"]
    scalar_output: bool  # its value is a scalar record's (``t[i, j]``)
    jvp: Callable
    vjp_tangent: Callable
    vjp_into: Optional[Callable] = None  # adds the gradients into given buffers


ARRAY_OPS = {}


def declare(block):
    body = vars(block)
    value, vjp_into = body["value"], body.get("vjp_into")
    vjp = body["vjp"] if "vjp" in body else _vjp_from_into(vjp_into)
    if body.get("linear"):
        jvp, vjp_tangent = _linear_rules(value, vjp)
    elif body.get("bilinear"):
        jvp, vjp_tangent = _bilinear_rules(value, vjp)
    else:
        jvp, vjp_tangent = body["jvp"], body["vjp_tangent"]
    op = ArrayOp(block.__name__, STRUCTURAL + len(ARRAY_OPS), (block.__doc__ or "").strip(),
                 value, vjp, body.get("arity", 1), body.get("scalar_output", False),
                 jvp, vjp_tangent, vjp_into)
    ARRAY_OPS[op.name] = op
    return op


def _vjp_from_into(vjp_into):
    """The VJP of a one-argument op that declares ``vjp_into(g, out, args,
    params, into)`` (add the argument's gradient into ``into[0]``): into zeros."""

    def vjp(g, out, args, params):
        gx = np.zeros(np.shape(args[0]), dtype=np.result_type(g, np.float32))
        vjp_into(g, out, args, params, [gx])
        return (gx,)

    return vjp


def _linear_rules(value, vjp):
    """A linear op's tangent is the op applied to the tangents; its VJP does
    not depend on the arguments, so the gradients' tangents are the VJP of
    the incoming gradient's tangent."""

    def jvp(tangents, out, args, params):
        return value(tangents, params)

    def vjp_tangent(g, gt, out, out_t, args, tangents, params):
        return vjp(g, out, args, params), vjp(gt, out, args, params)

    return jvp, vjp_tangent


def _bilinear_rules(value, vjp):
    """The product rule: ``d(x y) = dx y + x dy``, and the VJP (linear in
    each argument) differentiated the same way."""

    def jvp(tangents, out, args, params):
        (x, y), (tx, ty) = args, tangents
        return value([tx, y], params) + value([x, ty], params)

    def vjp_tangent(g, gt, out, out_t, args, tangents, params):
        grads = vjp(g, out, args, params)
        moved = vjp(gt, out, args, params)
        turned = vjp(g, out, tangents, params)  # d(g y^T) = g dy^T, d(x^T g) = dx^T g
        return grads, tuple(None if a is None else a + b for a, b in zip(moved, turned))

    return jvp, vjp_tangent


def _expand(g, shape, axis, keepdims):
    """``g`` of a reduction over ``axis`` broadcast back to ``shape``."""
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, shape)


def _wanted(params, k):
    """Whether argument ``k`` of a record is on the tape (not a constant)."""
    constants = params.get("constants")
    return constants is None or constants[k] is None


def _matmul(x, y):
    """``np.matmul(x, y)``, into an arena buffer when both are matrices."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.ndim != 2 or x.dtype != y.dtype or x.dtype.kind != "f":
        return np.matmul(x, y)
    return np.matmul(x, y, out=arena.empty((x.shape[0], y.shape[1]), x.dtype))


@declare
class matmul:
    """x @ y (1-D, 2-D and batched, as ``np.matmul``)"""

    arity = 2
    bilinear = True

    def value(args, params):
        return _matmul(args[0], args[1])

    def vjp(g, out, args, params):
        x, y = np.asarray(args[0]), np.asarray(args[1])
        if x.ndim == 1 and y.ndim == 1:
            return g * y, g * x
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        g2 = g
        if x.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if y.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        gx = gy = None  # a constant operand (input data) needs no gradient
        if _wanted(params, 0):
            gx = _unbroadcast(_matmul(g2, np.swapaxes(y2, -1, -2)), x2.shape).reshape(x.shape)
        if _wanted(params, 1):
            gy = _unbroadcast(_matmul(np.swapaxes(x2, -1, -2), g2), y2.shape).reshape(y.shape)
        return gx, gy


@declare
class sum:
    """the sum over ``axis`` (all axes if None)"""

    linear = True

    def value(args, params):
        return np.sum(args[0], axis=params["axis"], keepdims=params["keepdims"])

    def vjp(g, out, args, params):
        shape = np.shape(args[0])
        return (_expand(g, shape, params["axis"], params["keepdims"]),)  # a view; fused VJPs read one number


@declare
class mean:
    """the mean over ``axis`` (all axes if None)"""

    linear = True

    def value(args, params):
        return np.mean(args[0], axis=params["axis"], keepdims=params["keepdims"])

    def vjp(g, out, args, params):
        shape = np.shape(args[0])
        count = math.prod(shape) // max(math.prod(np.shape(out)), 1)
        return (_expand(np.asarray(g) / count, shape, params["axis"], params["keepdims"]),)


def _extremum_share(x, out, params):
    """NOTE: ties share the gradient equally, as PyTorch's amax/amin do."""
    axis, keepdims = params["axis"], params["keepdims"]
    hit = x == _expand(out, x.shape, axis, keepdims)
    return (hit / hit.sum(axis=axis, keepdims=True)).astype(out.dtype, copy=False)


def _extremum_vjp(g, out, args, params):
    x = args[0]
    share = _extremum_share(x, out, params)
    return (share * _expand(g, x.shape, params["axis"], params["keepdims"]),)


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
        return np.max(args[0], axis=params["axis"], keepdims=params["keepdims"])

    vjp, jvp, vjp_tangent = _extremum_vjp, _extremum_jvp, _extremum_vjp_tangent


@declare
class amin:
    """the smallest element over ``axis``"""

    def value(args, params):
        return np.min(args[0], axis=params["axis"], keepdims=params["keepdims"])

    vjp, jvp, vjp_tangent = _extremum_vjp, _extremum_jvp, _extremum_vjp_tangent


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


# The softmax family and linear declare themselves in their own modules, after the ops above.
from tapegrad.array.ops import softmax as array_ops_softmax  # noqa: E402,F401
from tapegrad.array.ops import linear as array_ops_linear  # noqa: E402,F401

ARRAY_BY_CODE = {op.code: op for op in ARRAY_OPS.values()}
ELEMENTWISE_BY_CODE = {ELEMENTWISE + op.code: op for op in OPS.values()
                       if op.arity > 0 and not op.guard}
assert max(ARRAY_BY_CODE) < 256 and ARRAY_INPUT < STRUCTURAL
