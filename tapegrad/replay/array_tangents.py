"""Forward mode and second order of an array program: the methods of
:class:`~tapegrad.replay.array_program.ArrayProgram` that sweep tangents
beside a full replay (:func:`tapegrad.array.tangent.tangent_mixed`) and,
for Hessian-vector products, the reverse sweep over them
(:func:`tapegrad.array.tangent.reverse_tangent_mixed`).  Each replays every
record step by step: fused groups, the one-kernel schedule and the dense
chain are for values and gradients only.

>>> import numpy as np, tapegrad as tg
>>> rec = tg.record(lambda x: (x * x * x).sum(), tg.tensor(np.zeros(2)))
>>> rec.jvp(np.array([1.0, 2.0]), np.array([1.0, 0.0]))      # f, 3 x0^2
(9.0, 3.0)
>>> rec.hessian(np.array([1.0, 2.0]))                          # diag(6 x)
array([[ 6.,  0.],
       [ 0., 12.]])
"""

import numpy as np

from tapegrad.array.tangent import reverse_tangent_mixed, tangent_mixed


class TangentMethods:
    """``jvp``, ``grad_and_hvp``, ``hessian`` and ``jacobian`` of an
    ArrayProgram (which supplies the replay, the seed and the gathering of
    gradients they use)."""

    def _tangents_here(self, direction):
        """The tangent sweep along the flat ``direction``: ``(tan, array_tan)``."""
        prog = self._here()
        seed = np.zeros(len(prog.inputs))
        seed[: len(self._scalar_slots)] = direction[self._scalar_slots]
        leaf_tangents = [direction[s:s + size].astype(dtype).reshape(shape)
                         for s, size, shape, dtype in self._tensor_slots]
        leaf_tangents += [None] * len(self._extra_tensors)
        tan = np.zeros(len(prog.op))
        return tan, tangent_mixed(prog, tan, seed, leaf_tangents)

    def _jvp_here(self, direction):
        tan, array_tan = self._tangents_here(direction)
        if self._out_shape is not None:
            t = array_tan.get(self._out_record) if self._out_record >= 0 else None
            t = np.zeros(self._out_shape) if t is None else np.array(t)
            return float(t) if self.scalar_output else t
        tangents = np.where(self._outputs >= 0, tan[np.maximum(self._outputs, 0)], 0.0)
        return float(tangents[0]) if self.scalar_output else tangents

    def _hvp_here(self, direction):
        """The flat gradient and Hessian-vector product along ``direction``."""
        prog = self._here()
        tan, array_tan = self._tangents_here(direction)
        last, seed = self._seed(np.ones(1))
        adj, adj_tan = np.zeros(len(prog.op)), np.zeros(len(prog.op))
        grads = [None] * len(prog.array_leaves)
        grad_ts = [None] * len(prog.array_leaves)

        def leaf_grad(k, g, gt):
            grads[k], grad_ts[k] = g, gt

        if last >= 0:
            reverse_tangent_mixed(prog, last, seed, tan, array_tan, adj, adj_tan, leaf_grad)
        return self._gather(adj, grads), self._gather(adj_tan, grad_ts)

    def jvp(self, x, v):
        """``(f(x), df/dx . v)``; ``v`` has ``x``'s structure."""
        direction = self._direction_flat(v)
        fresh = self._replay(x)
        if fresh is not None:
            return fresh.jvp(x, v)
        return self._output_values(), self._jvp_here(direction)

    def grad_and_hvp(self, x, v):
        """``(df/dx, d2f/dx2 . v)``, both with ``x``'s structure."""
        self._require_scalar("hvp")
        direction = self._direction_flat(v)
        fresh = self._replay(x)
        if fresh is not None:
            return fresh.grad_and_hvp(x, v)
        grad, hv = self._hvp_here(direction)
        return self._gradient_like(grad), self._gradient_like(hv)

    def hessian(self, x):
        """The Hessian of a scalar ``f``, (n, n) over the flattened inputs:
        one replay, then one Hessian-vector product per input."""
        self._require_scalar("hessian")
        fresh = self._replay(x)
        if fresh is not None:
            return fresh.hessian(x)
        n = self.structure.size
        out = np.empty((n, n))
        for k, unit in enumerate(np.eye(n)):
            out[:, k] = self._hvp_here(unit)[1]
        return out

    def jacobian(self, x):
        """d(outputs)/d(inputs) over the flattened inputs and outputs: one
        replay, then a vector-Jacobian product per output or a tangent per
        input, whichever are fewer."""
        fresh = self._replay(x)
        if fresh is not None:
            return fresh.jacobian(x)
        n, m = self.structure.size, self.n_outputs
        out = np.empty((m, n))
        if m <= n:
            for k, unit in enumerate(np.eye(m)):
                out[k] = self._vjp_here(unit)
        else:
            for k, unit in enumerate(np.eye(n)):
                out[:, k] = np.reshape(self._jvp_here(unit), -1)
        return out[0] if self.scalar_output else out
