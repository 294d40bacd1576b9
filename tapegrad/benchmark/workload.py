"""What a benchmark workload is: one function, written once for every engine.

A workload is plain Python over *some* scalar type: ``function(x, m)`` takes
a sequence ``x`` of the engine's scalars (floats, tapegrad Values, torch
0-d tensors, casadi SX, ...) and ``m``, that engine's math namespace with
the functions named in :data:`MATH_FUNCTIONS` (:data:`MATH` for floats); it
returns one scalar.  Arithmetic (``+ - * / **``, comparisons) is the
scalars' own.  Each engine runs the
very same function, so ratios between engines compare the same program.
An engine with arrays may run ``vectorized(x, xp)`` instead, where ``x`` is
one 1-D array and ``xp`` a NumPy-like namespace.  (Training a model on
arrays is the other kind of workload: :mod:`tapegrad.benchmark.steps`.)

Before anything is timed, every engine's value and gradient are checked
against ``reference(x)`` (an independent, usually analytic, derivation) or,
for a workload without one, against central differences of ``function`` on
floats.

>>> import math, numpy as np
>>> def softplus_sum(x, m):
...     return sum(m.log(1.0 + m.exp(xi)) for xi in x)
>>> w = Workload("softplus_sum", softplus_sum, point=lambda n: np.linspace(-1, 1, n),
...              sizes=(1000, 100_000), quick_sizes=(1000,))
>>> value, grad = w.expected(w.point(3))
>>> round(value, 6), grad.round(6).tolist()
(2.319671, [0.268941, 0.5, 0.731059])
"""

import importlib
import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable, Optional, Sequence

import numpy as np

from tapegrad.benchmark.steps import TrainingStep

#: The functions every engine's math namespace ``m`` provides.
MATH_FUNCTIONS = ("exp", "log", "sin", "cos", "tanh", "sqrt", "relu")

#: The namespace for plain floats.
MATH = SimpleNamespace(
    **{name: getattr(math, name) for name in MATH_FUNCTIONS if name != "relu"},
    relu=lambda x: x if x > 0.0 else 0.0,
)

#: Step of the central differences used when a workload has no reference,
#: and the tolerance engines are then checked to.
FD_STEP = 1e-6
FD_RTOL = 1e-5


@dataclass(frozen=True)
class Workload:
    """A function to differentiate, at a range of sizes.

    ``name``: short and unique (used in tables, JSON and baselines).
    ``function(x, m)``: the scalar program; see the module docstring.
    ``point(size)``: the input at which it is timed and checked (float64, 1-D).
    ``sizes`` / ``quick_sizes``: sizes of a full run and of ``--quick``.
    ``reference(x)``: ``(value, gradient)`` derived independently, or None.
    ``vectorized(x, xp)``: the same function on arrays, or None.
    ``handwritten(x)``: ``(value, gradient)`` by a loop written by hand and
    compiled (numba, fastmath off), the floor the engines are measured
    against; or None.
    ``rtol``: tolerance of the correctness check against the reference.
    """

    name: str
    function: Callable
    point: Callable[[int], np.ndarray]
    sizes: Sequence[int]
    quick_sizes: Sequence[int]
    reference: Optional[Callable] = None
    vectorized: Optional[Callable] = None
    description: str = ""
    handwritten: Optional[Callable] = None
    size_name: str = "n"
    rtol: float = 1e-9

    @property
    def check_rtol(self):
        """Tolerance of the check: ``rtol``, or looser against differences."""
        return self.rtol if self.reference is not None else max(self.rtol, FD_RTOL)

    @property
    def forms(self):
        """What an engine may run: ``"scalar"``, and ``"vectorized"`` and
        ``"handwritten"`` if given."""
        return ("scalar",) + (("vectorized",) if self.vectorized is not None else ()) + (
            ("handwritten",) if self.handwritten is not None else ())

    def inputs(self, size):
        """``point(size)`` as a float64 array."""
        return np.asarray(self.point(size), dtype=np.float64)

    def sizes_for(self, quick):
        return tuple(self.quick_sizes if quick else self.sizes)

    def expected(self, x):
        """``(value, gradient)`` to check engines against at ``x``."""
        x = np.asarray(x, dtype=np.float64)
        if self.reference is not None:
            value, grad = self.reference(x)
            return float(value), np.asarray(grad, dtype=np.float64)
        return self.evaluate(x), self._central_differences(x)

    def mismatch(self, x, value, grad):
        """Why ``(value, grad)`` is not the expected answer at ``x``, or None
        (``grad`` None: the value alone is checked)."""
        want_value, want_grad = self.expected(x)
        rtol = self.check_rtol
        if not np.isclose(value, want_value, rtol=rtol, atol=rtol * 1e-3):
            return f"value {value!r}, expected {want_value!r}"
        if grad is None:
            return None
        grad = np.asarray(grad, dtype=np.float64)
        if grad.shape != want_grad.shape:
            return f"gradient shape {grad.shape}, expected {want_grad.shape}"
        scale = max(np.abs(want_grad).max(initial=0.0), 1e-300)
        if not np.allclose(grad, want_grad, rtol=rtol, atol=rtol * 1e-3 * scale):
            worst = int(np.argmax(np.abs(grad - want_grad)))
            return f"gradient[{worst}] = {grad[worst]!r}, expected {want_grad[worst]!r}"
        return None

    def evaluate(self, x):
        """The plain-Python value at ``x``: floats and :data:`MATH`."""
        return float(self.function([float(v) for v in x], MATH))

    def _central_differences(self, x):
        grad = np.empty(len(x))
        for k in range(len(x)):
            up, down = x.copy(), x.copy()
            up[k] += FD_STEP
            down[k] -= FD_STEP
            grad[k] = (self.evaluate(up) - self.evaluate(down)) / (2 * FD_STEP)
        return grad


def load(module_name):
    """The workloads a module defines: its ``WORKLOADS`` list, else every
    :class:`Workload` and :class:`~tapegrad.benchmark.steps.TrainingStep`
    among its attributes, in definition order."""
    module = importlib.import_module(module_name)
    found = getattr(module, "WORKLOADS", None)
    if found is None:
        found = [v for v in vars(module).values() if isinstance(v, (Workload, TrainingStep))]
    if not found:
        raise LookupError(f"module {module_name!r} defines no tapegrad.benchmark.Workload")
    names = [w.name for w in found]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"workload names must be unique; repeated: {sorted(duplicates)}")
    return list(found)
