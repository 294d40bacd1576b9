"""The records a straight-line kernel leaves to the op table's own NumPy
rules (:mod:`tapegrad.replay.straight`): any array op the kernel has no
step of its own for (``log_softmax``, ``concatenate``, ``clip``, a fancy
index, ``np.linalg.solve``...).

The kernel then runs in parts.  Between two parts, such a record's
``value`` reads its operands where the kernel keeps them (views of its
buffer of values, the leaves' arrays, the constants in the record's params,
read at each call) and writes its output into that buffer; in reverse, its
``vjp`` adds each operand's gradient into the buffer of adjoints (or a
leaf's gradient).  A program pays Python only at those records, some
5-15 us each, and each op keeps its one declaration, in the table.

>>> import numpy as np, tapegrad as tg
>>> def f(x):
...     return (np.clip(x, 1.5, 2.5) * x).max()
>>> rec = tg.record(f, tg.tensor(np.ones(3)))
>>> [step.op.name for step in rec.program.straight.op_steps]
['clip']
>>> kernel = rec.program.straight.kernel()  # compiled now, not after a second of replays
>>> value, grad = rec.value_and_grad(np.array([1.0, 2.0, 3.0]))
>>> value, grad.tolist()
(7.5, [0.0, 0.0, 2.5])
"""

import numpy as np

from tapegrad.array.ops import unbroadcast


def _place(places, record, shape):
    """``(kind, where, shape)`` of ``record``: leaf ``where``'s array, or
    the slice ``where`` of the buffers; None for a constant (-1)."""
    if record < 0:
        return None
    (kind, where), size = places.at[record]
    return kind, (where if kind == "leaf" else slice(where, where + size)), shape


class OpStep:
    """Record ``i`` (``op``, a row of the array op table, reading ``args``
    of ``shapes``) run by its rules between two parts of the kernel."""

    def __init__(self, i, op, args, shapes, out_shape, places):
        self.i, self.op, self.args = i, op, args
        self.reads = [_place(places, a, shape) for a, shape in zip(args, shapes)]
        self.out = _place(places, i, out_shape)
        self.gradient_of = {}  # leaf -> its position among the kernel's gradients

    def _operands(self, values, leaves, params):
        constants = params.get("constants")
        return [constants[k] if place is None else  # (a reshape reads its operand's place)
                (leaves if place[0] == "leaf" else values)[place[1]].reshape(place[2])
                for k, place in enumerate(self.reads)]

    def forward(self, values, leaves, params):
        """Compute the record's value into ``values`` (``params``: the
        thread's record params, all records')."""
        params = params[self.i]
        _, where, shape = self.out
        np.copyto(values[where].reshape(shape), self.op.value(
            self._operands(values, leaves, params), params))

    def backward(self, values, adjoints, leaves, grads, params):
        """Add each operand's gradient into ``adjoints`` or ``grads`` (the
        kernel's gradients, by position)."""
        params = params[self.i]
        _, where, shape = self.out
        g, out = adjoints[where].reshape(shape), values[where].reshape(shape)
        terms = self.op.vjp(g, out, self._operands(values, leaves, params), params)
        for place, term in zip(self.reads, terms):
            if place is None or term is None:
                continue
            kind, at, shape = place
            if kind == "leaf":
                if at not in self.gradient_of:
                    continue
                target = grads[self.gradient_of[at]].reshape(shape)
            else:
                target = adjoints[at].reshape(shape)
            term = np.asarray(term)
            target += term if term.shape == shape else unbroadcast(term, shape)
