"""Forward mode and forward-over-reverse over tapes with array records.

The tangent sweep carries d(record)/dt along one input direction: in the
``tan`` column for scalar records (the generated ``tangent_span``), in a
dict of arrays for array records (each op's ``jvp``).  The reverse-tangent
sweep runs the reverse sweep and, beside each adjoint, its tangent along
that direction (``reverse_tangent_span`` for scalar runs, each op's
``vjp_tangent`` for array records): at the inputs that is a Hessian-vector
product.  An elementwise op's rules are the generated kernels of its scalar
table row (``<op>_jvp_each``, ``<op>_vjp_tangent_each``), broadcast as in
:func:`tapegrad.array.ops.elementwise.elementwise`.  A tangent of ``None`` is zero.

>>> import numpy as np
>>> x, tx = np.array([0.0, 1.0]), np.array([1.0, 1.0])
>>> elementwise_jvp("sin", np.sin(x), [x], [tx]).round(4)   # cos(x) * tx
array([1.    , 0.5403])
"""

import numpy as np

from tapegrad.kernels.sweeps import reverse_tangent_span, tangent_span
from tapegrad.array.ops.table import broadcast
from tapegrad.array.ops import (
    ARRAY_BY_CODE, ARRAY_INPUT, ELEMENTWISE_BY_CODE, each_kernel, from_layout, layout, operand_2d,
)
from tapegrad.core.tape import Tape
from tapegrad.scalar.value import Value
from tapegrad.array.reverse import arguments
from tapegrad.array.tensor import Tensor, tensor


def _flat(x, dtype):
    return np.ascontiguousarray(x, dtype=dtype).reshape(1, -1)


def elementwise_jvp(name, out, args, tangents):
    """The tangent of the elementwise op ``name``'s output ``out``."""
    dtype = out.dtype
    if len(args) == 1:
        t = np.empty((1, out.size), dtype)
        each_kernel(name, "jvp_")(_flat(args[0], dtype), out.reshape(1, -1),
                                  _flat(tangents[0], dtype), t)
        return t.reshape(out.shape)
    full = out.shape
    R, C, slots = layout([np.shape(a) for a in args], full)
    operands = [operand_2d(a, s, copied, full, dtype)
                for a, (s, _, _, copied) in zip(args, slots)]
    moving = [operand_2d(t, s, copied, full, dtype) if t is not None else v
              for t, v, (s, _, _, copied) in zip(tangents, operands, slots)]
    (_, xr, xc, _), (_, yr, yc, _) = slots
    t = np.empty((R, C), dtype)
    each_kernel(name, "jvp_")(*operands, out.reshape(R, C), *moving, t, xr, xc, yr, yc,
                              tangents[0] is not None, tangents[1] is not None)
    return t.reshape(full)


def elementwise_vjp_tangent(name, g, gt, out, args, tangents, wants):
    """``(grads, grad_tangents)`` of the elementwise op ``name``."""
    dtype = out.dtype
    if len(args) == 1:
        x = np.asarray(args[0])
        shape = np.shape(x)
        x2 = _flat(x, dtype)
        tx = _flat(tangents[0], dtype) if tangents[0] is not None else np.zeros_like(x2)
        gx, gtx = np.zeros_like(x2), np.zeros_like(x2)
        each_kernel(name, "vjp_tangent_")(x2, out.reshape(1, -1), _flat(g, dtype),
                                          _flat(gt, dtype), tx, gx, gtx)
        return (gx.reshape(shape),), (gtx.reshape(shape),)
    full = out.shape
    R, C, slots = layout([np.shape(a) for a in args], full)
    operands = [operand_2d(a, s, copied, full, dtype)
                for a, (s, _, _, copied) in zip(args, slots)]
    moving = [operand_2d(t, s, copied, full, dtype) if t is not None else np.zeros(s, dtype)
              for t, (s, _, _, copied) in zip(tangents, slots)]
    grads = [np.zeros(s, dtype) for s, _, _, _ in slots]
    grad_ts = [np.zeros(s, dtype) for s, _, _, _ in slots]
    (_, xr, xc, _), (_, yr, yc, _) = slots
    each_kernel(name, "vjp_tangent_")(*operands, out.reshape(R, C),
                                      np.ascontiguousarray(g, dtype=dtype).reshape(R, C),
                                      np.ascontiguousarray(gt, dtype=dtype).reshape(R, C),
                                      *moving, *grads, *grad_ts, xr, xc, yr, yc,
                                      wants[0], wants[1])
    copies = [copied for _, _, _, copied in slots]
    return (tuple(from_layout(g_, a, c, full) for g_, a, c in zip(grads, args, copies)),
            tuple(from_layout(g_, a, c, full) for g_, a, c in zip(grad_ts, args, copies)))


def _zero_like(value):
    return np.zeros_like(value) if isinstance(value, np.ndarray) else 0.0


def _output_of(tape, i):
    return tape.arrays[i] if i in tape.arrays else float(tape.val[i])


def jvp_of_record(tape, i, tangent_of):
    """The tangent of record ``i``'s value (None when zero), given
    ``tangent_of(record)`` for its arguments."""
    code = int(tape.op[i])
    args, values = arguments(tape, i)
    tangents = [tangent_of(a) if a >= 0 else None for a in args]
    if all(t is None for t in tangents):
        return None
    out = _output_of(tape, i)
    if code in ELEMENTWISE_BY_CODE:
        if not ELEMENTWISE_BY_CODE[code].differentiable:  # a comparison's mask
            return None
        return elementwise_jvp(ELEMENTWISE_BY_CODE[code].name, out, values, tangents)
    filled = [t if t is not None else _zero_like(v) for t, v in zip(tangents, values)]
    return ARRAY_BY_CODE[code].jvp(filled, out, values, tape.params[i])


def vjp_tangent_of_record(tape, i, g, gt, tangent_of):
    """``(args, grads, grad_tangents)`` of record ``i``, given its output's
    gradient ``g`` and that gradient's tangent ``gt`` (either may be None)."""
    code = int(tape.op[i])
    args, values = arguments(tape, i)
    out = _output_of(tape, i)
    g = g if g is not None else _zero_like(out)
    gt = gt if gt is not None else _zero_like(out)
    tangents = [tangent_of(a) if a >= 0 else None for a in args]
    if code in ELEMENTWISE_BY_CODE:
        if not ELEMENTWISE_BY_CODE[code].differentiable:  # a comparison's mask
            return args, [None] * len(args), [None] * len(args)
        wants = [a >= 0 for a in args]
        grads, grad_ts = elementwise_vjp_tangent(ELEMENTWISE_BY_CODE[code].name, g, gt, out,
                                                 values, tangents, wants)
        return args, grads, grad_ts
    filled = [t if t is not None else _zero_like(v) for t, v in zip(tangents, values)]
    out_t = tangent_of(i)
    out_t = out_t if out_t is not None else _zero_like(out)
    op = ARRAY_BY_CODE[code]
    if op.vjp_tangent is None:
        grads, grad_ts = vjp_tangent_by_forward_mode(op, g, gt, out, out_t, values, filled,
                                                     tape.params[i])
    else:
        grads, grad_ts = op.vjp_tangent(g, gt, out, out_t, values, filled, tape.params[i])
    return args, grads, grad_ts


def _tangent_reader(tape, tan, array_tan):
    def tangent_of(a):
        if a in tape.arrays:
            return array_tan.get(a)
        t = tan[a]  # a NumPy float64: a Python float would be weak beside float32
        return None if t == 0.0 else t

    return tangent_of


def tangent_mixed(tape, tan, seed, leaf_tangents):
    """The tangent sweep over all of ``tape`` (values already computed):
    fills ``tan`` (scalar input k moves at ``seed[k]``, array leaf k at
    ``leaf_tangents[k]``, None for still) and returns the array tangents."""
    array_tan = {}
    tangent_of = _tangent_reader(tape, tan, array_tan)
    cols = (tape.op, tape.arg0, tape.arg1, tape.const, tape.val)
    start = 0
    for i in tape.array_records:
        if i > start:
            tangent_span(*cols, tan, seed, start, i)
        start = i + 1
        if int(tape.op[i]) == ARRAY_INPUT:
            t = leaf_tangents[int(tape.arg0[i])]
        else:
            t = jvp_of_record(tape, i, tangent_of)
        if i not in tape.arrays:
            tan[i] = 0.0 if t is None else float(t)
        elif t is not None:
            array_tan[i] = np.asarray(t, dtype=tape.arrays[i].dtype)
    if start < len(tape.op):
        tangent_span(*cols, tan, seed, start, len(tape.op))
    return array_tan


def reverse_tangent_mixed(tape, last, seed, tan, array_tan, adj, adj_tan, leaf_grad):
    """Forward over reverse from record ``last`` (seeded with ``seed``; the
    tangent sweep has filled ``tan``/``array_tan``).  ``adj``/``adj_tan``
    arrive zeroed and leave with the scalar records' adjoints and their
    tangents; each array leaf k gets ``leaf_grad(k, grad, grad_tangent)``."""
    tangent_of = _tangent_reader(tape, tan, array_tan)
    grads, grad_ts = {}, {}
    if last in tape.arrays:
        grads[last] = broadcast(np.asarray(seed, tape.arrays[last].dtype),
                                tape.arrays[last].shape)
    else:
        adj[last] = seed
    cols = (tape.op, tape.arg0, tape.arg1, tape.const, tape.val)
    high = last
    for i in reversed(tape.array_records):
        if i > last:
            continue
        if high > i:
            reverse_tangent_span(*cols, tan, adj, adj_tan, high, i + 1)
        high = i - 1
        if i in tape.arrays:
            g, gt = grads.pop(i, None), grad_ts.pop(i, None)
        else:
            g = adj[i] if adj[i] != 0.0 else None
            gt = adj_tan[i] if adj_tan[i] != 0.0 else None
        if g is None and gt is None:
            continue
        if int(tape.op[i]) == ARRAY_INPUT:
            leaf_grad(int(tape.arg0[i]), g, gt)
            continue
        args, arg_grads, arg_grad_ts = vjp_tangent_of_record(tape, i, g, gt, tangent_of)
        for a, grad, grad_t in zip(args, arg_grads, arg_grad_ts):
            if a < 0 or (grad is None and grad_t is None):
                continue
            if a in tape.arrays:
                for store, part in ((grads, grad), (grad_ts, grad_t)):
                    if part is not None:
                        store[a] = store[a] + part if a in store else part
            else:
                if grad is not None:
                    adj[a] += float(np.sum(grad))
                if grad_t is not None:
                    adj_tan[a] += float(np.sum(grad_t))
    if high >= 0:
        reverse_tangent_span(*cols, tan, adj, adj_tan, high, 0)


# --- forward over reverse for a declared op that states no vjp_tangent ---------
#
# Hessian-vector products need, at every record, the gradients of its
# arguments and their tangents: the derivative of the op's VJP.  An op that
# does not write that rule out gets it from the rules it has: its ``vjp`` runs
# on Tensors (NumPy hands each ``np.*`` call inside it to tapegrad), which
# records the VJP on a scratch tape, and one tangent sweep over that tape,
# with the ``jvp`` of each op the VJP called, gives the tangents.


class _Columns:
    """What the tangent sweep reads of a recording."""

    def __init__(self, rec):
        columns = rec.columns()
        self.op, self.arg0, self.arg1, self.const, self.val = (
            columns[name] for name in ("op", "arg0", "arg1", "const", "val"))
        self.arrays, self.params, self.array_records = rec.arrays, rec.params, rec.array_records


def vjp_tangent_by_forward_mode(op, g, gt, out, out_t, args, tangents, params):
    """``(grads, grad_tangents)`` of the declared array ``op``: its ``vjp``
    recorded on Tensors, then swept forward along ``(gt, out_t, tangents)``.

    ``logsumexp`` writes its rule out; derived, it is the same:

    >>> from tapegrad.array.ops import ARRAY_OPS
    >>> op, params = ARRAY_OPS["logsumexp"], {"axis": -1, "constants": [None]}
    >>> x, t = np.array([[0.0, 1.0, 3.0]]), np.array([[1.0, -1.0, 0.5]])
    >>> g, gt = np.array([1.3]), np.array([0.2])
    >>> out = op.value([x], params)
    >>> out_t = op.jvp([t], out, [x], params)
    >>> derived = vjp_tangent_by_forward_mode(op, g, gt, out, out_t, [x], [t], params)
    >>> written = op.vjp_tangent(g, gt, out, out_t, [x], [t], params)
    >>> bool(np.allclose(derived[1][0], written[1][0], rtol=1e-14, atol=0.0))
    True
    """
    constants = params.get("constants") or [None] * len(args)
    primal = [g, out, *args]
    moving = [gt, out_t, *tangents]
    tracked = [True, True, *(c is None for c in constants)]
    leaves = [tensor(np.asarray(x), requires_grad=True) if keep else x
              for x, keep in zip(primal, tracked)]
    tape = Tape()
    with tape:
        grads = op.vjp(leaves[0], leaves[1], leaves[2:], params)
    rec = tape._rec
    where = {id(leaf): k for k, leaf in enumerate(leaves)}
    leaf_tangents = [np.asarray(moving[where[id(leaf)]], dtype=leaf._v.dtype)
                     for leaf in rec.array_leaves]
    columns = _Columns(rec)
    tan = np.zeros(len(columns.op))
    array_tan = tangent_mixed(columns, tan, np.zeros(len(rec.leaves)), leaf_tangents)

    values, moved = [], []
    for grad in grads:
        if grad is None:
            values.append(None)
            moved.append(None)
        elif grad.__class__ is Value:
            values.append(grad._v)
            moved.append(float(tan[grad._i]) if grad._rec is rec else None)
        elif isinstance(grad, Tensor):
            values.append(grad._v)
            if grad._rec is rec:
                moved.append(array_tan.get(grad._i))
            elif id(grad) in where:  # the vjp returned one of its arguments
                moved.append(np.asarray(moving[where[id(grad)]]))
            else:
                moved.append(None)
        else:  # a constant: it does not move
            values.append(grad)
            moved.append(None)
    return tuple(values), tuple(moved)
