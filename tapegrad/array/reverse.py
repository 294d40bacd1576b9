"""The reverse sweep of a tape that holds array records.

Runs of scalar records between array records go to the compiled scalar
sweep (``reverse_span``); each array record's VJP runs its NumPy and
generated elementwise kernels (:mod:`tapegrad.array.ops`), once per array
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

from tapegrad.core import arena
from tapegrad.kernels.sweeps import reverse_span
from tapegrad.array.rows import usable
from tapegrad.array.ops.table import broadcast
from tapegrad.array.ops import (
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


class _Adjoints:
    """The array adjoints of one sweep, by record.  A buffer the sweep made
    itself (and so shares with nothing) is *owned*: later gradients are
    added into it in place, and once its record's VJP has read it, it is
    spare, and the next gradient of its shape and dtype is written into it
    (so a chain of elementwise records reuses two or three warm buffers)."""

    def __init__(self):
        self.grads = {}
        self.owned = set()
        self.spare = {}

    def empty(self, shape, dtype):
        stack = self.spare.get((shape, dtype))
        return stack.pop() if stack else arena.empty(shape, dtype)

    def into(self, args):
        """Per argument, its owned adjoint buffer to add into, or None (never
        the same buffer twice: ``x * x`` adds its second gradient after)."""
        buffers = []
        for k, a in enumerate(args):
            owned = a in self.owned and a not in args[:k]
            buffers.append(self.grads[a] if owned else None)
        return buffers

    def add(self, a, grad, owned):
        """Add ``grad`` (``owned``: made by this sweep, shared with nothing)
        into record ``a``'s adjoint.  An owned adjoint is always a writable
        ndarray (a sum of two 0-d arrays is a NumPy scalar, which ``out=``
        cannot take: sums go into a buffer of the sweep's own)."""
        held = self.grads.get(a)
        if held is grad:  # the VJP added into the held buffer itself
            return
        if held is None:
            self.grads[a] = grad
            if owned and isinstance(grad, np.ndarray) and grad.flags.writeable:
                self.owned.add(a)
        elif a in self.owned:
            np.add(held, grad, out=held, casting="unsafe")
        else:
            total = self.empty(np.broadcast_shapes(np.shape(held), np.shape(grad)),
                               np.result_type(held, grad))
            self.grads[a] = np.add(held, grad, out=total)
            self.owned.add(a)

    def pop(self, i):
        """Record ``i``'s adjoint (or None) and whether the sweep owns it."""
        owned = i in self.owned
        self.owned.discard(i)
        return self.grads.pop(i, None), owned

    def recycle(self, buffer):
        """``buffer`` (owned, no longer read) may hold a later gradient, if
        it is C-contiguous (a sum of transposed views is not)."""
        if buffer.flags.c_contiguous and buffer.flags.writeable:
            self.spare.setdefault((buffer.shape, buffer.dtype), []).append(buffer)

    def give_back(self):
        """Hand the spare buffers to :mod:`tapegrad.core.arena` (the sweep is over)."""
        spare = [b for stack in self.spare.values() for b in stack]
        self.spare.clear()
        arena.give_back(spare)


def vjp_of_record(rec, i, g, adjoints=None):
    """Gradients of record ``i``'s arguments, given its output gradient
    ``g``, and whether they are new buffers that nothing else holds."""
    code = int(rec.op[i])
    args, values = arguments(rec, i)
    out = rec.arrays.get(i)
    if code in ELEMENTWISE_BY_CODE:
        if not ELEMENTWISE_BY_CODE[code].differentiable:  # a comparison's mask
            return args, [None] * len(args), False
        wants = [a >= 0 for a in args]
        into, empty = (adjoints.into(args), adjoints.empty) if adjoints else (None, np.empty)
        grads = elementwise_vjp(ELEMENTWISE_BY_CODE[code].name, g, out, values, wants,
                                into, empty)
        return args, grads, True
    op = ARRAY_BY_CODE[code]
    if op.vjp_into is not None and adjoints is not None and args[0] in rec.arrays:
        shape, dtype = np.shape(values[0]), np.result_type(g, np.float32)
        buffer = adjoints.into(args)[0]
        if not usable(buffer, shape, dtype):
            buffer = adjoints.empty(shape, dtype)
            buffer.fill(0)
        op.vjp_into(g, out, values, rec.params[i], [buffer])
        return args, [buffer], True
    return args, op.vjp(g, out, values, rec.params[i]), False


def reverse_mixed(rec, last, seed, fusion=None):
    """Adjoints of record ``last`` (seeded with ``seed``, a number or an
    array shaped like it) into ``rec.adj`` and every array leaf's ``.grad``;
    a :class:`tapegrad.fusion.plan.Fusion` runs each fused group's VJP at its
    highest member at or below ``last``."""
    adj = rec.adj
    adjoints = _Adjoints()
    if last in rec.arrays:
        adjoints.add(last, broadcast(np.asarray(seed, rec.arrays[last].dtype),
                                     rec.arrays[last].shape), False)
    else:
        adj[last] = seed
    cols = (rec.op, rec.arg0, rec.arg1, rec.const, rec.val)
    spent = []  # owned adjoints read by an op's own VJP, which may return views of them
    high = last
    groups, swept = ({}, None) if fusion is None else (fusion.group_of, set())
    for i in reversed(rec.array_records):
        if i > last:
            continue
        if high > i:
            reverse_span(*cols, adj, high, i + 1)
        high = i - 1
        if i in groups:
            if id(groups[i]) not in swept:
                swept.add(id(groups[i]))
                groups[i].backward(rec, adjoints, adj)
            continue
        owned = False
        if i in rec.arrays:
            g, owned = adjoints.pop(i)
        else:  # an op with a scalar result: its adjoint is in the column
            g = adj[i] if adj[i] != 0.0 else None
        if g is None:
            continue
        if int(rec.op[i]) == ARRAY_INPUT:
            rec.array_leaves[int(rec.arg0[i])]._accumulate(g, owned)
            continue
        args, grads, fresh = vjp_of_record(rec, i, g, adjoints)
        if owned and fresh:  # an elementwise VJP returns no view of g
            adjoints.recycle(g)
        elif owned:
            spent.append(g)
        g = None
        for a, grad in zip(args, grads):
            if a < 0 or grad is None:
                continue
            if a in rec.arrays:
                adjoints.add(a, grad, fresh)
            else:
                adj[a] += float(np.sum(grad))
    adjoints.give_back()
    arena.give_back(spent)  # those no view of which is still held
    if high >= 0:
        reverse_span(*cols, adj, high, 0)


_SPAN, _GROUP, _LEAF, _ELEMENTWISE, _OP = range(5)


class ReversePlan:
    """:func:`reverse_mixed` of one program from one record, decided once:
    which scalar spans to sweep, which fused group runs where, and per array
    record its leaf, or its VJP rule with its arguments' places (in the
    arena, in the ``val`` column, or constants).  A replayed program
    (:class:`tapegrad.replay.array_program.ArrayProgram`) makes one when it
    is adopted and runs it at every call, on its own snapshot or a fork of
    it: the same rules in the same order as :func:`reverse_mixed`, without
    looking anything up per record.

    >>> import numpy as np, tapegrad as tg
    >>> rec = tg.record(lambda t: (t * t).sum(), tg.tensor(np.ones(2)))
    >>> len(rec.program._reverse.steps)
    3
    """

    def __init__(self, rec, last, fusion=None):
        self.last = last
        self.steps = steps = []
        groups, swept = ({}, set()) if fusion is None else (fusion.group_of, set())
        high = last
        for i in reversed(rec.array_records):
            if i > last:
                continue
            if high > i:
                steps.append((_SPAN, high, i + 1))
            high = i - 1
            if i in groups:
                if id(groups[i]) not in swept:
                    swept.add(id(groups[i]))
                    steps.append((_GROUP, groups[i]))
                continue
            code = int(rec.op[i])
            if code == ARRAY_INPUT:
                steps.append((_LEAF, i, i in rec.arrays, int(rec.arg0[i])))
                continue
            args, _ = arguments(rec, i)
            places = tuple((0, a) if a in rec.arrays else (1, a) if a >= 0 else (2, k)
                           for k, a in enumerate(args))
            targets = tuple(a >= 0 and a in rec.arrays for a in args)
            if code in ELEMENTWISE_BY_CODE:
                op = ELEMENTWISE_BY_CODE[code]
                if not op.differentiable:  # a comparison's mask: nothing to pass on
                    steps.append((_LEAF, i, i in rec.arrays, -1))
                    continue
                steps.append((_ELEMENTWISE, i, i in rec.arrays, op.name, args, places, targets,
                              [a >= 0 for a in args]))
            else:
                steps.append((_OP, i, i in rec.arrays, ARRAY_BY_CODE[code], args, places,
                              targets, None))
        self.tail = high  # the scalar records below every array record

    def run(self, rec, seed):
        """Adjoints of record ``last`` seeded with ``seed`` (as
        :func:`reverse_mixed`) into ``rec.adj`` and the array leaves' sinks."""
        adj, arrays, val, params = rec.adj, rec.arrays, rec.val, rec.params
        last = self.last
        adjoints = _Adjoints()
        if last in arrays:
            adjoints.add(last, broadcast(np.asarray(seed, arrays[last].dtype),
                                         arrays[last].shape), False)
        else:
            adj[last] = seed
        cols = (rec.op, rec.arg0, rec.arg1, rec.const, val)
        spent = []
        for step in self.steps:
            kind = step[0]
            if kind == _SPAN:
                reverse_span(*cols, adj, step[1], step[2])
                continue
            if kind == _GROUP:
                step[1].backward(rec, adjoints, adj)
                continue
            i = step[1]
            owned = False
            if step[2]:
                g, owned = adjoints.pop(i)
            else:
                g = adj[i] if adj[i] != 0.0 else None
            if g is None:
                continue
            if kind == _LEAF:
                if step[3] >= 0:
                    rec.array_leaves[step[3]]._accumulate(g, owned)
                elif owned:
                    spent.append(g)
                continue
            args, places, targets = step[4], step[5], step[6]
            constants = params[i].get("constants")
            values = [arrays[a] if where == 0 else float(val[a]) if where == 1
                      else constants[a] for where, a in places]
            out = arrays.get(i)
            if kind == _ELEMENTWISE:
                grads = elementwise_vjp(step[3], g, out, values, step[7], adjoints.into(args),
                                        adjoints.empty)
                fresh = True
            else:
                op = step[3]
                if op.vjp_into is not None and targets[0]:
                    shape, dtype = np.shape(values[0]), np.result_type(g, np.float32)
                    buffer = adjoints.into(args)[0]
                    if not usable(buffer, shape, dtype):
                        buffer = adjoints.empty(shape, dtype)
                        buffer.fill(0)
                    op.vjp_into(g, out, values, params[i], [buffer])
                    grads, fresh = [buffer], True
                else:
                    grads, fresh = op.vjp(g, out, values, params[i]), False
            if owned and fresh:
                adjoints.recycle(g)
            elif owned:
                spent.append(g)
            g = None
            for a, grad, target in zip(args, grads, targets):
                if grad is None or a < 0:
                    continue
                if target:
                    adjoints.add(a, grad, fresh)
                else:
                    adj[a] += float(np.sum(grad))
        adjoints.give_back()
        arena.give_back(spent)
        if self.tail >= 0:
            reverse_span(*cols, adj, self.tail, 0)
