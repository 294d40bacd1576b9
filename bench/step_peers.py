"""Training steps (:mod:`tapegrad.benchmark.steps`) on the array peers.

Each function builds one peer's ``step(problem) -> (loss, grads)`` for a
:class:`~tapegrad.benchmark.steps.TrainingStep`, from copies of the
problem's initial parameters, with the peer's functional namespace ``F``
(``linear``, ``cross_entropy``, ``relu``, ``tanh``) and its idiomatic
optimizer: ``torch.optim.SGD``; for JAX, one ``jax.jit``-compiled function
doing ``value_and_grad`` and the SGD update (compiled ahead of time here, so
that building runs no step); for HIPS autograd, ``value_and_grad`` and an
in-place NumPy update.  The data are converted to the peer's arrays once,
here, not in the timed step.  The peers' modules are imported by
:mod:`bench.peers` before these run.
"""

from types import SimpleNamespace

import numpy as np


def torch_step(torch, workload, problem):
    """PyTorch eager (the caller sets its threads): ``torch.nn.functional``,
    leaf tensors with ``requires_grad``, ``torch.optim.SGD``."""
    import torch.nn.functional as F

    functions = SimpleNamespace(linear=F.linear, cross_entropy=F.cross_entropy,
                                relu=torch.relu, tanh=torch.tanh)
    params = [torch.tensor(np.array(a, copy=True), requires_grad=True) for a in problem.arrays]
    data = tuple(torch.from_numpy(np.ascontiguousarray(d)) for d in problem.data)
    optimizer = torch.optim.SGD(params, lr=workload.lr)
    loss_of = workload.loss

    def step(problem):
        optimizer.zero_grad()
        loss = loss_of(params, data, functions)
        loss.backward()
        optimizer.step()
        return loss.item(), [p.grad for p in params]

    return step


def _jax_functions(jax, jnp):
    def cross_entropy(logits, labels):
        picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)

    return SimpleNamespace(linear=lambda x, w, b: x @ w.T + b, cross_entropy=cross_entropy,
                           relu=jax.nn.relu, tanh=jnp.tanh)


def jax_step(jax, workload, problem):
    """``jax.jit`` of ``value_and_grad`` and the update, compiled here."""
    import jax.numpy as jnp

    functions, lr, loss_of = _jax_functions(jax, jnp), workload.lr, workload.loss
    data = tuple(jax.device_put(d) for d in problem.data)

    def update(params, data):
        loss, grads = jax.value_and_grad(lambda p: loss_of(p, data, functions))(params)
        return [p - lr * g for p, g in zip(params, grads)], loss, grads

    params = [jax.device_put(np.array(a, copy=True)) for a in problem.arrays]
    compiled = jax.jit(update).lower(params, data).compile()
    state = {"params": params}

    def step(problem):
        state["params"], loss, grads = compiled(state["params"], data)
        return float(loss), grads

    return step


def autograd_step(workload, problem):
    """HIPS autograd: ``value_and_grad`` over the list of parameters, the
    update in place in NumPy."""
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    def cross_entropy(logits, labels):
        return anp.mean(logsumexp(logits, axis=1) - logits[anp.arange(len(labels)), labels])

    functions = SimpleNamespace(linear=lambda x, w, b: anp.dot(x, w.T) + b,
                                cross_entropy=cross_entropy,
                                relu=lambda v: anp.maximum(v, 0.0), tanh=anp.tanh)
    params = [np.array(a, copy=True) for a in problem.arrays]
    data, lr, loss_of = problem.data, workload.lr, workload.loss
    value_and_grad = autograd.value_and_grad(lambda p: loss_of(p, data, functions))

    def step(problem):
        loss, grads = value_and_grad(params)
        for p, g in zip(params, grads):
            p -= lr * g
        return float(loss), grads

    return step
