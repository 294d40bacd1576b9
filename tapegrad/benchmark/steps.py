"""Array workloads: one training step of a model, written once for every engine.

A :class:`Workload` is a scalar program; a :class:`TrainingStep` is one step
of training a model on arrays: forward, loss, backward, and a plain SGD
update of every parameter (``p -= lr * grad``).  The model and its loss are
written once, as ``loss(params, data, F)``: ``params`` a list of the
engine's arrays (tapegrad Parameters, torch tensors, jax arrays, ...), in
the order of :attr:`Problem.params`; ``data`` the tuple of :attr:`Problem.data`
in the engine's arrays; ``F`` the engine's functional namespace, named as in
``torch.nn.functional`` (:data:`FUNCTIONS`): ``linear(x, w, b)`` is
``x @ w.T + b`` (PyTorch's layout), ``cross_entropy(logits, labels)`` the mean
over rows, ``relu``, ``tanh``.

An engine's ``prepare(step_workload, problem)`` copies the problem's
parameters into its own (so every engine starts from identical weights) and
returns ``step(problem) -> (loss, grads)``: the loss before the update and
the gradients that the update used, one per parameter, in the engine's
arrays.  Before anything is timed the first step's loss and gradients are
checked against ``reference(params, data)``, an independent derivation (for
SimpleNet: the backward pass written out by hand in NumPy, in float64).

>>> import numpy as np
>>> def loss(params, data, F):
...     (w, b), (X, y) = params, data
...     return F.cross_entropy(F.linear(X, w, b), y)
>>> def problem(n):
...     rng = np.random.default_rng(0)
...     X, y = rng.normal(size=(n, 3)), np.arange(n) % 2
...     return Problem(data=(X, y), params=(("w", np.zeros((2, 3))), ("b", np.zeros(2))))
>>> def reference(params, data):
...     (w, b), (X, y) = params, data
...     return np.log(2.0), [np.zeros_like(w), np.zeros_like(b)]   # only right at w = b = 0
>>> logistic = TrainingStep("logistic", loss, problem, reference, sizes=(100,),
...                         quick_sizes=(100,))
>>> logistic.forms, round(logistic.expected(logistic.inputs(100))[0], 6)
(('step',), 0.693147)
"""

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

#: The functions every engine's ``F`` provides to a step's ``loss``.
FUNCTIONS = ("linear", "cross_entropy", "relu", "tanh")


@dataclass(frozen=True)
class Problem:
    """The inputs of a training step: ``data``, a tuple of NumPy arrays (for
    a classifier, features and integer labels), and ``params``, the initial
    parameters as ``(name, array)`` pairs, in the order ``loss`` takes them."""

    data: tuple
    params: tuple

    @property
    def names(self):
        return [name for name, _ in self.params]

    @property
    def arrays(self):
        return [array for _, array in self.params]


def flatten(grads):
    """One float64 vector of a list of gradients (any engine's arrays).

    >>> flatten([np.ones((2, 2)), np.zeros(1, dtype=np.float32)]).tolist()
    [1.0, 1.0, 1.0, 1.0, 0.0]
    """
    return np.concatenate([np.asarray(g, dtype=np.float64).ravel() for g in grads])


@dataclass(frozen=True)
class TrainingStep:
    """One SGD training step of a model, at a range of sizes.

    ``name``: short and unique (tables, JSON, baselines); the dtype belongs
    in it (``simplenet_f32``).  ``loss(params, data, F)``: the model and its
    loss (module docstring).  ``problem(size)``: a :class:`Problem`, the same
    at every call.  ``reference(params, data)``: ``(loss, grads)`` derived
    independently.  ``lr``: SGD's learning rate.  ``rtol``: tolerance of
    the check of the first step's loss and gradients (gradients relative to
    the largest entry of each parameter's).  ``blas(problem)``, if given:
    a function that runs the step's BLAS calls alone (the products of the
    forward and reverse passes, as NumPy's ``@`` forms write them, into
    arrays made beforehand): the floor the benchmark reports the engines
    against.
    """

    name: str
    loss: Callable
    problem: Callable[[int], Problem]
    reference: Callable
    sizes: Sequence[int]
    quick_sizes: Sequence[int]
    lr: float = 0.01
    description: str = ""
    size_name: str = "samples"
    rtol: float = 1e-10
    blas: Optional[Callable] = None

    #: What an engine must be able to run (see ``Engine.supports``).
    forms = ("step",)

    def inputs(self, size):
        """The :class:`Problem` at ``size``."""
        return self.problem(size)

    def sizes_for(self, quick):
        return tuple(self.quick_sizes if quick else self.sizes)

    def expected(self, problem):
        """``(loss, [grad, ...])`` of the first step, from the reference."""
        loss, grads = self.reference(problem.arrays, problem.data)
        return float(loss), [np.asarray(g, dtype=np.float64) for g in grads]

    def mismatch(self, problem, loss, grads):
        """Why ``(loss, grads)`` is not the first step's expected answer, or None."""
        want_loss, want_grads = self.expected(problem)
        if not np.isclose(loss, want_loss, rtol=self.rtol, atol=0.0):
            return f"loss {loss!r}, expected {want_loss!r}"
        if grads is None or len(grads) != len(want_grads):
            return f"{0 if grads is None else len(grads)} gradients, expected {len(want_grads)}"
        for name, grad, want in zip(problem.names, grads, want_grads):
            grad = np.asarray(grad, dtype=np.float64)
            if grad.shape != want.shape:
                return f"gradient of {name}: shape {grad.shape}, expected {want.shape}"
            scale = max(np.abs(want).max(initial=0.0), 1e-300)
            error = np.abs(grad - want).max(initial=0.0) / scale
            if not error <= self.rtol:
                return f"gradient of {name}: off by {error:.3g} of its largest entry"
        return None
