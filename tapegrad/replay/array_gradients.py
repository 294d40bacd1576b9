"""Reverse mode of an array program: the methods of
:class:`~tapegrad.replay.array_program.ArrayProgram` that give gradients and
vector-Jacobian products, ``value_and_backward`` (a model's parameters'
``.grad``) and batches of gradients.  A call goes to the one-kernel schedule
(:mod:`tapegrad.replay.schedule`), the dense chain
(:mod:`tapegrad.replay.dense`) or the straight-line kernel where the program
has one, else to a step-by-step replay and the mixed reverse sweep
(:class:`tapegrad.array.reverse.ReversePlan`,
:func:`tapegrad.array.reverse.reverse_mixed`).

>>> import numpy as np, tapegrad as tg
>>> rec = tg.record(lambda x: (x * x).sum(), tg.tensor(np.zeros(3)))
>>> rec.value_and_grad(np.array([1.0, 2.0, 3.0]))              # sum x^2, 2x
(14.0, array([2., 4., 6.]))
>>> rec = tg.record(lambda x: x * x, tg.tensor(np.zeros(2)))
>>> rec.vjp(np.array([1.0, 2.0]), np.array([1.0, 10.0]))       # w . diag(2x)
(array([1., 4.]), array([ 2., 40.]))
"""

import time

import numpy as np

from tapegrad.array.reverse import reverse_mixed
from tapegrad.core import debug


class GradientMethods:
    """``value_and_grad``'s and ``vjp``'s sweeps, ``value_and_backward``
    and ``batch_value_and_grad`` of an ArrayProgram (which supplies the
    replay, its fast paths and the reverse sweep's plan they use)."""

    def _seed(self, weights):
        """``(last, seed)`` of a reverse sweep weighting output k by
        ``weights[k]``; ``last`` is -1 when every output is a constant."""
        prog = self._here()
        prog.adj[:] = 0.0
        if self._out_shape is not None:
            seed = np.asarray(weights).reshape(self._out_shape)
            return self._out_record, seed
        last = -1
        for k, o in enumerate(self._outputs.tolist()):
            if o >= 0:
                prog.adj[o] += weights[k]
                last = max(last, o)
        return last, (prog.adj[last] if last >= 0 else 0.0)

    def _gather(self, scalars, tensors):
        """The flat gradient from the scalar inputs' adjoints and each tensor
        input's gradient (None for zero)."""
        flat = np.zeros(self.structure.size)
        if len(self._scalar_slots):
            flat[self._scalar_slots] = scalars[self._input_records]
        for (s, size, _, _), grad in zip(self._tensor_slots, tensors):
            if grad is not None:
                flat[s:s + size] = np.asarray(grad).reshape(-1)
        return flat

    def _gradient_like(self, flat):
        return self.structure.unflatten(flat)

    def _vjp_like_x(self, weights):
        """``weights . d(outputs)/d(x)`` with ``x``'s structure; a lone tensor
        input's gradient is the sweep's own fresh array, not a copy of it."""
        if self._tensors_only is not None:
            return self._tensor_gradients(self._vjp_arrays(weights)[1])
        return self._gradient_like(self._vjp_here(weights))

    def _tensor_gradients(self, grads):
        """The gradients ``grads`` (one per tensor input, None for zero) in
        ``x``'s structure, for ``x`` made of tensors only: a sweep's own
        fresh arrays, in the input's dtype (what flattening would give)."""
        out = [np.zeros(shape, dtype) if g is None
               else np.asarray(g).astype(dtype, copy=False).reshape(shape)
               for g, (_, _, shape, dtype) in zip(grads, self._tensor_slots)]
        kind = self._tensors_only
        return out[0] if kind == "tensor" else kind(out)

    def _value_and_vjp(self, x, weights):
        ran = None
        if not debug.enabled():
            if self.schedule is not None:
                ran = self.schedule.value_and_vjp(x, weights[0])
            elif self.dense is not None:
                ran = self.dense.run(self._dense_leaves(x), self._here().params, weights[0])
            elif self.straight is not None:
                ran = self.straight.run(self._dense_leaves(x), self._here().params, weights[0])
        if ran is None:  # the sweeps (a dense chain's head refuses data of another dtype)
            start = time.perf_counter()
            fresh = self._replay(x, full=False)
            if fresh is not None:
                return fresh._value_and_vjp(x, weights)
            ran = self._output_values(), self._vjp_like_x(weights)
            self._charge(start)
            return ran
        value, grads = ran[0], ran[1][:len(self._tensor_slots)]
        kind = self._tensors_only  # the gradients: fresh arrays of x's shapes and dtypes
        if kind is not None:
            if any(g is None for g in grads):  # an input the output does not read: zeros
                return value, self._tensor_gradients(grads)
            return value, grads[0] if kind == "tensor" else kind(grads)
        return value, self._gradient_like(self._gather(None, grads))

    def _quick_dense(self, x):
        """``value_and_grad(x)`` of a dense chain replayed by one compiled
        call, the short way, for ``x`` a tuple (or list) of NumPy arrays as
        recorded: each C-contiguous, of its recorded shape and dtype, read as
        it is.  None for any other ``x``, or in debug mode: the checked way."""
        slots = self._tensor_slots
        if type(x) is not self._tensors_only or len(x) != len(slots) or debug.enabled():
            return None
        for a, (_, _, shape, dtype) in zip(x, slots):
            if a.__class__ is not np.ndarray or a.shape != shape or a.dtype is not dtype \
                    or not a.flags.c_contiguous:
                return None
        dense = self.dense
        leaves = [*x, *(leaf._v for leaf in self._extra_tensors)] if self._extra_tensors else x
        try:
            value, grads = dense.call(leaves, self._here().params, dense.unit)
        except ValueError:  # a Tensor from outside f changed shape: the checked way says so
            return None
        return value, self._tensors_only(grads[:len(slots)])

    def _vjp_arrays(self, weights):
        """The reverse sweep at the replayed input: the scalar adjoints and
        each tensor input's gradient (None for zero)."""
        prog = self._here()
        for sink in prog.array_leaves:
            sink.grad = None
        last, seed = self._seed(weights)
        if last >= 0 and self._reverse is not None and self._reverse.last == last:
            self._reverse.run(prog, seed)
        elif last >= 0:
            reverse_mixed(prog, last, seed, self.fusion)
        grads = [sink.grad for sink in prog.array_leaves]
        for sink in prog.array_leaves:
            sink.grad = None  # the caller owns them now
        return prog.adj, grads

    def _vjp_here(self, weights):
        """The flat ``weights . d(outputs)/d(inputs)`` at the replayed input."""
        return self._gather(*self._vjp_arrays(weights))

    def value_and_backward(self, x, data=()):
        """``f(x)`` for a scalar ``f``, having added its gradient into the
        ``.grad`` of each Tensor ``f`` reads from outside (a model's
        parameters), as ``f(x).backward()`` does eagerly: one that no
        gradient reaches keeps its ``.grad``.  ``data``: pairs
        ``((record, key, position), array)``, each put first into this
        thread's params of ``record`` at ``key`` (item ``position`` of the
        list or tuple there, unless None): constants that are data, read
        afresh (:func:`tapegrad.nn.record_loss`'s batches and labels)."""
        self._require_scalar("value_and_backward")
        params = self._here().params
        for (i, key, position), array in data:
            if position is None:
                params[i][key] = array
            else:  # a new sequence: a fork shares the recorded one
                held = params[i][key]
                params[i][key] = type(held)((*held[:position], array, *held[position + 1:]))
        ran = None
        if self.dense is not None and not debug.enabled():
            ran = self.dense.run(self._dense_leaves(x), params)
        elif self.straight is not None and not debug.enabled() and not any(
                (i, position) in self.straight.numbers for (i, _, position), _ in data):
            ran = self.straight.run(self._dense_leaves(x), params)
        if ran is not None:
            value, grads = ran
        else:  # the sweeps (a dense chain's head refuses data of another dtype)
            start = time.perf_counter()
            fresh = self._replay(x, full=False)
            if fresh is not None:
                return fresh.value_and_backward(x)
            value, grads = self._output_values(), self._vjp_arrays(np.ones(1))[1]
            self._charge(start)
        for leaf, grad in zip(self._extra_tensors, grads[len(self._tensor_slots):]):
            if grad is not None:
                leaf._accumulate(grad, owned=True)  # a sink's gradient is its own array
        return value

    def batch_value_and_grad(self, points):
        """``(values, grads)`` at each row of ``points`` (one replay per row)."""
        self._require_scalar("batch_value_and_grad")
        rows = [self.owner.value_and_grad(self.structure.unflatten(p))
                for p in self._points(points)]
        grads = np.array([self.structure.flatten(g) for _, g in rows]).reshape(len(rows), -1)
        return np.array([v for v, _ in rows]), grads
