"""The reverse sweep of a tape that holds array records.

Runs of scalar records between array records go to the compiled scalar
sweep (``reverse_span``); each array record's VJP runs its NumPy and
generated elementwise kernels (:mod:`tapegrad.array_ops`), once per array
op, never per element.  Array adjoints live in a dict keyed by record for
the length of the sweep; scalar adjoints stay in the ``adj`` column, so
``t[i, j]`` (an array op with a scalar result) and a scalar ``Value``
broadcast against a ``Tensor`` pass adjoints between the two.

>>> import numpy as np, tapegrad as tg
>>> x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> y = (x * x).sum() + x[0] * 10.0
>>> y.backward(); x.grad
array([12.,  4.,  6.])
"""

import numpy as np

from tapegrad._sweeps import reverse_span
from tapegrad.array_ops import (
    ARRAY_BY_CODE, ARRAY_INPUT, ELEMENTWISE_BY_CODE, elementwise_vjp,
)


def arguments(rec, i):
    """The argument records of array record ``i`` (-1 for a constant, whose
    value is in ``params["constants"]``; n-ary ops list theirs in
    ``params["args"]``), and the arguments' values: arrays, or floats."""
    params = rec.params[i]
    if "args" in params:
        args = params["args"]
    else:
        code = int(rec.op[i])
        op = ELEMENTWISE_BY_CODE.get(code) or ARRAY_BY_CODE[code]
        args = [int(rec.arg0[i]), int(rec.arg1[i])][: op.arity]
    values = []
    for k, a in enumerate(args):
        if a == -1:
            values.append(params["constants"][k])
        elif a in rec.arrays:
            values.append(rec.arrays[a])
        else:
            values.append(float(rec.val[a]))
    return args, values


def vjp_of_record(rec, i, g):
    """Gradients of record ``i``'s arguments, given its output gradient ``g``."""
    code = int(rec.op[i])
    args, values = arguments(rec, i)
    out = rec.arrays.get(i)
    if code in ELEMENTWISE_BY_CODE:
        if not ELEMENTWISE_BY_CODE[code].differentiable:  # a comparison's mask
            return args, [None] * len(args)
        wants = [a >= 0 for a in args]
        grads = elementwise_vjp(ELEMENTWISE_BY_CODE[code].name, g, out, values, wants)
    else:
        grads = ARRAY_BY_CODE[code].vjp(g, out, values, rec.params[i])
    return args, grads


def reverse_mixed(rec, last, seed):
    """Adjoints of record ``last`` (seeded with ``seed``, a number or an
    array shaped like it) into ``rec.adj`` and every array leaf's ``.grad``."""
    adj = rec.adj
    array_adj = {}
    if last in rec.arrays:
        array_adj[last] = np.broadcast_to(np.asarray(seed, rec.arrays[last].dtype),
                                          rec.arrays[last].shape)
    else:
        adj[last] = seed
    cols = (rec.op, rec.arg0, rec.arg1, rec.const, rec.val)
    high = last
    for i in reversed(rec.array_records):
        if i > last:
            continue
        if high > i:
            reverse_span(*cols, adj, high, i + 1)
        high = i - 1
        if i in rec.arrays:
            g = array_adj.pop(i, None)
        else:  # an op with a scalar result: its adjoint is in the column
            g = adj[i] if adj[i] != 0.0 else None
        if g is None:
            continue
        if int(rec.op[i]) == ARRAY_INPUT:
            rec.array_leaves[int(rec.arg0[i])]._accumulate(g)
            continue
        args, grads = vjp_of_record(rec, i, g)
        for a, grad in zip(args, grads):
            if a < 0 or grad is None:
                continue
            if a in rec.arrays:
                if a in array_adj:
                    array_adj[a] = array_adj[a] + grad
                else:
                    array_adj[a] = grad
            else:
                adj[a] += float(np.sum(grad))
    if high >= 0:
        reverse_span(*cols, adj, high, 0)
