"""Peer engines: the other AD tools tapegrad is benchmarked against.

Each is a :class:`tapegrad.benchmark.engine.Engine`, optional: its tool is
imported only inside methods, so this module imports without any of them,
and :meth:`~Engine.unavailable` says "not installed" for a missing one.
``make bench-peers`` installs them all.

Scalar engines run the workload's ``function(x, m)`` on the tool's scalars
with ``m`` the tool's math namespace; vector engines run
``vectorized(x, xp)`` on one 1-D array, and a training step
(:mod:`tapegrad.benchmark.steps`) through :mod:`bench.step_peers`.
``prepare`` makes one call before
returning, so one-time work (a JIT compile) is timed in ``prepare`` and a
workload the tool cannot run fails there with ``NotImplementedError``
(a missing math function, or a ``TypeError`` from the tool, such as
micrograd's missing comparisons or a traced branch on a value), never in the
timed loop.  micrograd also answers :meth:`~Engine.supports` up front, by
running the workload on floats with a namespace that notes the functions
called.

``max_ops`` (in tapegrad records) keeps one case of a slow peer within a few
seconds; the figures are from a 2-core machine.

PyTensor (numba backend) needs Python >= 3.12: its engines
(:mod:`bench.side_peer`) run it in a side process on an interpreter of its
own, which times its calls itself.
"""

import contextlib
import gc
import importlib
import os
import sys
from types import SimpleNamespace

import numpy as np

from bench.side_peer import PyTensorExactVector, PyTensorVector
from tapegrad.benchmark.engine import Engine
from tapegrad.benchmark.workload import MATH, MATH_FUNCTIONS

#: The math functions named like the tool's own (all but relu).
_NAMED = tuple(name for name in MATH_FUNCTIONS if name != "relu")


def _namespace(module, relu):
    """``m`` for a tool: ``module``'s exp, log, ... plus ``relu``."""
    return SimpleNamespace(**{n: getattr(module, n) for n in _NAMED}, relu=relu)


class _ArrayNamespace:
    """``xp`` for a vector engine: the tool's array module, with overrides
    (``relu``, a NumPy-like ``sum``) in front."""

    def __init__(self, module, **overrides):
        self._module = module
        self.__dict__.update(overrides)

    def __getattr__(self, name):
        return getattr(self._module, name)


@contextlib.contextmanager
def _gc_disabled():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _first_call(name, value_and_grad, x):
    """Call once (compiles, warms up, checks the workload runs); a
    ``TypeError`` or ``AssertionError`` from the tool means it cannot run
    this program: re-raised as ``NotImplementedError``."""
    try:
        value_and_grad(x)
    except NotImplementedError:
        raise
    except (TypeError, AssertionError) as exc:
        raise NotImplementedError(f"{name} cannot run this workload: {exc!r}") from exc
    return value_and_grad


def _as_numpy(value_and_grad_of_tool):
    """A tool's ``value_and_grad`` returning a float and a float64 array."""

    def value_and_grad(x):
        value, grad = value_and_grad_of_tool(x)
        return float(value), np.asarray(grad, dtype=np.float64)

    return value_and_grad


class Peer(Engine):
    """An engine whose tool is the module ``module`` (also its
    distribution's name)."""

    module = ""

    def unavailable(self):
        try:
            importlib.import_module(self.module)
        except ImportError:
            return "not installed"
        except Exception as exc:  # a broken install, e.g. jaxlib mismatched with jax
            return f"import failed: {exc!r}"[:200]
        return None

    def version(self):
        from importlib.metadata import version

        return version(self.module)

    def prepare(self, workload, x):
        if "step" in workload.forms:  # no first call: a step changes the weights
            return self._build_step(workload, x)
        x = np.asarray(x, dtype=np.float64)
        value_and_grad = self._build(workload, x)
        with self.timed_region():
            return _first_call(self.name, value_and_grad, x)

    def _build(self, workload, x):
        """``value_and_grad``, after any one-time work but the first call."""
        raise NotImplementedError

    def _build_step(self, workload, problem):
        """A training step's ``step(problem)``, after any one-time work."""
        raise NotImplementedError


def _missing_in_micrograd(name):
    def missing(*args):
        raise NotImplementedError(f"micrograd has no {name} (only + - * / ** relu)")

    return missing


_MICROGRAD_MATH = SimpleNamespace(
    **{n: _missing_in_micrograd(n) for n in _NAMED}, relu=lambda v: v.relu()
)


def _math_used(workload):
    """The names of ``m`` that ``workload.function`` calls on floats at its
    smallest size (None if that run fails)."""
    used = set()

    def noting(name):
        f = getattr(MATH, name)

        def call(*args):
            used.add(name)
            return f(*args)

        return call

    m = SimpleNamespace(**{n: noting(n) for n in MATH_FUNCTIONS})
    size = min(tuple(workload.quick_sizes) + tuple(workload.sizes))
    try:
        workload.function([float(v) for v in workload.point(size)], m)
    except Exception:
        return None
    return used


class Micrograd(Peer):
    """micrograd's ``Value`` (Karpathy's): scalar form, ``m.relu`` is
    ``v.relu()``, every other function raises ``NotImplementedError``.

    Its backward orders the graph by recursion as deep as the graph, so it
    runs under a raised recursion limit; CPython >= 3.11 makes such
    Python-to-Python calls without the C stack (older ones would crash).
    Each op's closure makes a reference cycle, so with the GC on (as
    shipped) collections keep walking the growing graph: about 1.3 us/op at
    2e3 records, 5 us/op at 6e4, 7 us/op at 3e5; capped at 1e5 (about
    0.6 s a call).
    """

    module = "micrograd"
    name = "micrograd"
    gc_enabled = True
    max_ops = 100_000
    RECURSION_LIMIT = 10**7

    def unavailable(self):
        reason = super().unavailable()
        if reason is None and sys.version_info < (3, 11):
            return "needs Python >= 3.11 (recursive backward)"
        return reason

    def supports(self, workload):
        reason = super().supports(workload)
        if reason is None:
            used = _math_used(workload) or set()
            missing = sorted(used - {"relu"})
            if missing:
                return f"needs {', '.join(missing)} (micrograd has only + - * / ** relu)"
        return reason

    def _build(self, workload, x):
        from micrograd.engine import Value

        function = workload.function
        limit = self.RECURSION_LIMIT

        def value_and_grad(x):
            leaves = [Value(v) for v in x.tolist()]
            out = function(leaves, _MICROGRAD_MATH)
            old = sys.getrecursionlimit()
            sys.setrecursionlimit(max(old, limit))
            try:
                out.backward()
            finally:
                sys.setrecursionlimit(old)
            return float(out.data), np.array([v.grad for v in leaves], dtype=np.float64)

        return value_and_grad

    def timed_region(self):
        return _gc_disabled() if not self.gc_enabled else contextlib.nullcontext()


class MicrogradNoGC(Micrograd):
    """micrograd with the garbage collector off while timed: about
    1.3 us/op whatever the size; capped at 2e5 (about 0.3 s a call)."""

    name = "micrograd-nogc"
    gc_enabled = False
    max_ops = 200_000


class _Torch(Peer):
    module = "torch"

    def version(self):
        return f"{super().version()}, 1 thread"

    def _torch(self):
        import torch

        torch.set_num_threads(1)
        return torch


class TorchScalar(_Torch):
    """PyTorch, 0-d float64 tensors with ``requires_grad`` as the scalars,
    on one thread: 6-10 us/op (dispatch plus an autograd node per op);
    capped at 2e5 (about 2 s a call)."""

    name = "torch-scalar"
    max_ops = 200_000

    def _build(self, workload, x):
        torch = self._torch()
        m = _namespace(torch, relu=torch.relu)
        function, f64 = workload.function, torch.float64

        def value_and_grad(x):
            leaves = [torch.tensor(v, dtype=f64, requires_grad=True) for v in x.tolist()]
            out = function(leaves, m)
            grads = torch.autograd.grad(out, leaves, allow_unused=True, materialize_grads=True)
            return out.item(), torch.stack(grads).numpy()

        return value_and_grad


class TorchVector(_Torch):
    """PyTorch on the vectorized form: one 1-D float64 tensor, one thread;
    and eager training steps (``torch.optim.SGD``)."""

    name = "torch-vector"
    form = "vectorized"
    forms = ("vectorized", "step")

    def _build_step(self, workload, problem):
        from bench.step_peers import torch_step

        return torch_step(self._torch(), workload, problem)

    def _build(self, workload, x):
        torch = self._torch()
        xp = _ArrayNamespace(torch, sum=torch.sum, relu=torch.relu)
        vectorized = workload.vectorized

        def value_and_grad(x):
            leaf = torch.tensor(x, dtype=torch.float64, requires_grad=True)
            out = vectorized(leaf, xp)
            (grad,) = torch.autograd.grad(out, leaf)
            return out.item(), grad.numpy()

        return value_and_grad


#: XLA on one thread, as PyTorch (read when jax is first imported).
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false"


class _Jax(Peer):
    module = "jax"

    def version(self):
        return f"{super().version()}, 1 thread"

    def _jax(self):
        if "jax" not in sys.modules:
            flags = os.environ.get("XLA_FLAGS", "")
            if "xla_cpu_multi_thread_eigen" not in flags:
                os.environ["XLA_FLAGS"] = f"{flags} {XLA_ONE_THREAD}".strip()
        import jax

        jax.config.update("jax_enable_x64", True)
        with contextlib.suppress(Exception):  # too late once a backend is up
            jax.config.update("jax_platforms", "cpu")
        return jax

    def _scalar_function(self, workload):
        """``workload.function`` as a function of one array: JAX
        differentiates arrays, so the scalars are its unstacked elements
        (one op; ``arr[i]`` would make an eager first call compile a slice
        per index: 5x slower)."""
        import jax.numpy as jnp

        m = _namespace(jnp, relu=lambda v: jnp.maximum(v, 0.0))
        function = workload.function
        return lambda arr: function(list(jnp.unstack(arr)), m)


class Jax(_Jax):
    """JAX eager: ``jax.value_and_grad`` without jit on the scalar form;
    every op dispatches on its own, 170-350 us/op, and the first call
    (in ``prepare``) compiles each new primitive: about 3 s at 2e3 records,
    the cap (about 0.5 s a call)."""

    name = "jax"
    max_ops = 2_000

    def _build(self, workload, x):
        jax = self._jax()
        return _as_numpy(jax.value_and_grad(self._scalar_function(workload)))


class JaxJit(_Jax):
    """``jax.jit(jax.value_and_grad(...))`` on the scalar form; ``prepare``
    compiles.  XLA's compile of an unrolled scalar program grows faster
    than linearly (about 3-6 s at 1e3 records, 20 s at 3e3, 110 s at 9e3),
    so the cap is 1e3; a compiled call then costs 0.2-0.9 us/op, mostly
    dispatch."""

    name = "jax-jit"
    max_ops = 1_000

    def _build(self, workload, x):
        jax = self._jax()
        return _as_numpy(jax.jit(jax.value_and_grad(self._scalar_function(workload))))


class JaxJitVector(_Jax):
    """``jax.jit(jax.value_and_grad(...))`` on the vectorized form; a
    training step is one jitted function (``value_and_grad`` and the
    update), compiled ahead of time in ``prepare``."""

    name = "jax-jit-vector"
    form = "vectorized"
    forms = ("vectorized", "step")

    def _build_step(self, workload, problem):
        from bench.step_peers import jax_step

        return jax_step(self._jax(), workload, problem)

    def _build(self, workload, x):
        jax = self._jax()
        import jax.numpy as jnp

        xp = _ArrayNamespace(jnp, relu=lambda v: jnp.maximum(v, 0.0))
        vectorized = workload.vectorized
        return _as_numpy(jax.jit(jax.value_and_grad(lambda arr: vectorized(arr, xp))))


class Autograd(Peer):
    """HIPS autograd: ``value_and_grad`` of the scalar form over a NumPy
    array's elements; every op boxes NumPy scalars, 15-30 us/op; capped at
    5e4 (about 1.5 s a call)."""

    module = "autograd"
    name = "autograd"
    max_ops = 50_000

    def _build(self, workload, x):
        import autograd
        import autograd.numpy as anp

        m = _namespace(anp, relu=lambda v: anp.maximum(v, 0.0))
        function, n = workload.function, len(x)
        return _as_numpy(autograd.value_and_grad(lambda arr: function([arr[i] for i in range(n)], m)))


class AutogradVector(Peer):
    """HIPS autograd on the vectorized form (``autograd.numpy`` arrays) and
    on training steps (an in-place NumPy SGD update)."""

    module = "autograd"
    name = "autograd-vector"
    form = "vectorized"
    forms = ("vectorized", "step")

    def _build(self, workload, x):
        import autograd
        import autograd.numpy as anp

        xp = _ArrayNamespace(anp, relu=lambda v: anp.maximum(v, 0.0))
        vectorized = workload.vectorized
        return _as_numpy(autograd.value_and_grad(lambda arr: vectorized(arr, xp)))

    def _build_step(self, workload, problem):
        from bench.step_peers import autograd_step

        return autograd_step(workload, problem)


class Casadi(Peer):
    """CasADi: ``prepare`` builds the SX graph of the scalar form and a
    ``casadi.Function`` returning its value and gradient (the one-time
    cost); each call evaluates that Function in CasADi's SX virtual machine.
    Building costs about 8 us/record (2.5 s at the cap, 3e5); a call then
    costs about 40 ns/record."""

    module = "casadi"
    name = "casadi"
    max_ops = 300_000

    def _build(self, workload, x):
        import casadi

        m = _namespace(casadi, relu=lambda v: casadi.fmax(v, 0))
        n = len(x)
        xs = casadi.SX.sym("x", n)
        try:
            out = workload.function(casadi.vertsplit(xs, 1), m)
        except (TypeError, RuntimeError) as exc:  # e.g. a branch on a symbol
            raise NotImplementedError(f"casadi cannot build this workload: {exc!r}") from exc
        f = casadi.Function("f", [xs], [out, casadi.gradient(out, xs)])

        def value_and_grad(x):
            value, grad = f(x)
            return float(value), np.asarray(grad, dtype=np.float64).reshape(n)

        return value_and_grad


#: Every peer, in the order of the tables: the scalar tools closest to
#: tapegrad first, then vectorized forms.
PEERS = [
    Micrograd(),
    MicrogradNoGC(),
    TorchScalar(),
    Autograd(),
    Jax(),
    JaxJit(),
    Casadi(),
    TorchVector(),
    JaxJitVector(),
    AutogradVector(),
    PyTensorVector(),
    PyTensorExactVector(),
]
