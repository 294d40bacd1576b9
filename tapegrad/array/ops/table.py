"""The array op table itself: :class:`ArrayOp`, :func:`declare`, ``ARRAY_OPS``.

An array record's opcode is one byte of the tape's ``op`` column, split in
three ranges: ``ELEMENTWISE + k`` is the scalar op of code ``k`` applied to
every element (:mod:`tapegrad.array.ops.elementwise`), ``ARRAY_INPUT`` is a
Tensor leaf's record, and the ops declared here take ``STRUCTURAL`` and up,
in declaration order (the package imports the family files in a fixed
order).

Only ops whose Jacobian is not diagonal declare their own rules, one block
each: ``value(args, params)`` and ``vjp(g, out, args, params)``, which
returns one gradient per argument (None where not needed).  ``args`` holds
the operands' values: arrays, or floats for scalar records and constants.
For forward mode and Hessian-vector products a block also declares
``jvp(tangents, out, args, params)`` (the output's tangent) and
``vjp_tangent(g, gt, out, out_t, args, tangents, params)`` (the gradients
and their tangents), unless it is ``linear`` (both follow from ``value`` and
``vjp``) or ``bilinear`` (both follow from the product rule).  A block that
leaves ``vjp_tangent`` out gets it by forward mode through its own ``vjp``
(:func:`tapegrad.array.tangent.vjp_tangent_by_forward_mode`): write such a ``vjp`` with NumPy
functions that also take Tensors.  An op whose
VJP adds into a buffer may declare ``vjp_into(g, out, args, params, into)``
instead of ``vjp``.

A one-argument op that keeps each element's place may declare its rules
once as compiled loops over lanes instead, which eager calls and a
straight-line kernel calls too (:mod:`tapegrad.replay.straight`):
``lanes(shape, params)``, the 3-D shape ``(before, n, after)`` its argument
is seen as; ``forward(x, out)`` writing the value and ``backward(g, gx)``
adding the gradient into ``gx``, numba functions of arrays of that shape;
and ``result_dtype(dtype)`` where the value's dtype is not the argument's.
``value`` and ``vjp`` follow from them.  The rest of this module is the
helpers those blocks share.

>>> import numpy as np
>>> expand(np.array([1.0, 2.0]), (3, 2), 0, False)
array([[1., 2.],
       [1., 2.],
       [1., 2.]])
"""

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

ELEMENTWISE = 64  # array opcode of scalar op k: ELEMENTWISE + k
ARRAY_INPUT = 127  # a Tensor leaf's record
STRUCTURAL = 128  # first opcode of the declared ops


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
    vjp_tangent: Optional[Callable]  # None: derived from vjp (array.tangent)
    vjp_into: Optional[Callable] = None  # adds the gradients into given buffers
    lanes: Optional[tuple] = None  # (lanes, forward, backward) of compiled rules


ARRAY_OPS = {}


def declare(block):
    """Turn a class body of rules into an :class:`ArrayOp` in ``ARRAY_OPS``,
    with the next free opcode (see the module docstring for the rules)."""
    body = vars(block)
    lanes = (body["lanes"], body["forward"], body["backward"]) if "lanes" in body else None
    if lanes:
        body = {**body, **_lanes_rules(*lanes, body.get("result_dtype", lambda d: d))}
    value, vjp_into = body["value"], body.get("vjp_into")
    vjp = body["vjp"] if "vjp" in body else _vjp_from_into(vjp_into)
    if body.get("linear"):
        jvp, vjp_tangent = _linear_rules(value, vjp)
    elif body.get("bilinear"):
        jvp, vjp_tangent = _bilinear_rules(value, vjp)
    else:
        jvp, vjp_tangent = body["jvp"], body.get("vjp_tangent")
    op = ArrayOp(block.__name__, STRUCTURAL + len(ARRAY_OPS), (block.__doc__ or "").strip(),
                 value, vjp, body.get("arity", 1), body.get("scalar_output", False),
                 jvp, vjp_tangent, vjp_into, lanes)
    assert op.name not in ARRAY_OPS and op.code < 256, op.name
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


def _lanes_rules(lanes, forward, backward, result_dtype):
    """``value`` and ``vjp`` of an op declared by compiled rules over lanes
    (``result_dtype``: its value's dtype for an argument's, NumPy's)."""

    def value(args, params):
        x = np.asarray(args[0])
        x = np.ascontiguousarray(x, result_dtype(x.dtype).newbyteorder("="))
        out = np.empty(x.shape, x.dtype)
        shape = lanes(x.shape, params)
        forward(x.reshape(shape), out.reshape(shape))
        return out

    def vjp(g, out, args, params):
        g = np.asarray(g)
        g = np.ascontiguousarray(g, g.dtype.newbyteorder("="))
        gx = np.zeros(np.shape(args[0]), g.dtype)
        shape = lanes(gx.shape, params)
        backward(g.reshape(shape), gx.reshape(shape))
        return (gx,)

    return {"value": value, "vjp": vjp}


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


def expand(g, shape, axis, keepdims):
    """``g`` of a reduction over ``axis`` broadcast back to ``shape``."""
    g = np.asarray(g)
    if axis is not None and not keepdims:
        axes = axis if isinstance(axis, tuple) else (axis,)
        kept = {a % len(shape) for a in axes}
        g = g.reshape(tuple(1 if k in kept else n for k, n in enumerate(shape)))
    return broadcast(g, shape)


def broadcast(a, shape):
    """``np.broadcast_to(a, shape)``, a read-only view, made directly (a
    third of NumPy's time, which goes to its argument handling) for a
    C-contiguous ``a`` (a reduction's gradient, a sweep's seed).

    >>> v = broadcast(np.float32(2.0), (2, 3))
    >>> v.dtype, v.shape, v.strides, v.flags.writeable, float(v[1, 2])
    (dtype('float32'), (2, 3), (0, 0), False, 2.0)
    >>> broadcast(np.array([[1.0], [2.0]]), (3, 2, 2)).tolist()
    [[[1.0, 1.0], [2.0, 2.0]], [[1.0, 1.0], [2.0, 2.0]], [[1.0, 1.0], [2.0, 2.0]]]
    """
    a = np.asarray(a)
    lead = len(shape) - a.ndim
    if lead < 0 or a.dtype.hasobject or not a.flags.c_contiguous:
        return np.broadcast_to(a, shape)
    strides = [0] * lead
    for n, m, stride in zip(a.shape, shape[lead:], a.strides):
        if n == m:
            strides.append(stride)
        elif n == 1:
            strides.append(0)
        else:
            return np.broadcast_to(a, shape)  # its error
    view = np.ndarray(shape, a.dtype, a, 0, tuple(strides))
    view.flags.writeable = False
    return view


def wanted(params, k):
    """Whether argument ``k`` of a record is on the tape (not a constant)."""
    constants = params.get("constants")
    return constants is None or constants[k] is None
