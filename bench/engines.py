"""Engine adapters: how the benchmark drives each autodiff engine.

An adapter turns a workload's float inputs into the engine's leaves, records
the workload function on them, runs the backward pass and reads the value and
gradients back, so that the workload stays plain Python, generic over the
number type.  Peers are imported lazily: an adapter whose package is missing
says so through :meth:`Engine.unavailable` instead of failing.

To add an engine, subclass :class:`Engine` and list it in :func:`all_engines`.
"""

import contextlib
import sys
from typing import NamedTuple

import numpy as np

import tapegrad as tg
from bench.timing import gc_disabled


class Engine:
    """The interface :mod:`bench.suite` and :mod:`bench.timing` use."""

    #: Name in the tables.
    name = ""
    #: Largest input size worth timing (None: no limit), and why.
    max_n = None
    cap_reason = ""

    def unavailable(self):
        """Why this engine cannot run here (a short phrase), or None."""
        return None

    def version(self):
        return ""

    def leaves(self, xs):
        """The engine's independent variables for the float array ``xs``."""
        raise NotImplementedError

    def record(self, fn, leaves):
        """Run ``fn(leaves)``, recording it; return the graph for :meth:`backward`."""
        raise NotImplementedError

    def backward(self, graph):
        """The reverse pass from the graph's output into the leaves' gradients."""
        raise NotImplementedError

    def output(self, graph):
        """The recorded function's value, as a float."""
        raise NotImplementedError

    def gradient(self, leaves):
        """The leaves' gradients after :meth:`backward`, as a float array."""
        raise NotImplementedError

    def tape(self, graph):
        """The tapegrad ``Tape`` the graph was recorded on, or None for an
        engine that records no such tape."""
        return None

    def timed_region(self):
        """Context manager for the conditions of a timed run."""
        return contextlib.nullcontext()


class TapegradGraph(NamedTuple):
    """What tapegrad records: the tape and the output value on it."""

    tape: tg.Tape
    output: tg.Value


class Tapegrad(Engine):
    """tapegrad: leaves are ``Value``s, each run records onto a fresh ``Tape``."""

    name = "tapegrad"

    def version(self):
        return tg.__version__

    def leaves(self, xs):
        return [tg.Value(x) for x in xs.tolist()]

    def record(self, fn, leaves):
        with tg.Tape() as tape:
            y = fn(leaves)
        return TapegradGraph(tape, y)

    def backward(self, graph):
        graph.output.backward()

    def output(self, graph):
        return graph.output.data

    def gradient(self, leaves):
        return np.array([v.grad for v in leaves])

    def tape(self, graph):
        return graph.tape


class Micrograd(Engine):
    """micrograd's ``Value``, with its garbage collector as shipped (on) or
    disabled for the timed region.

    micrograd's backward orders the graph by recursion as deep as the graph,
    so it runs under a raised recursion limit; CPython >= 3.11 makes such
    Python-to-Python calls without using the C stack, older ones would crash.
    """

    GC_ON_MAX_N = 10_000

    def __init__(self, gc_enabled):
        self.gc_enabled = gc_enabled
        self.name = f"micrograd (GC {'on' if gc_enabled else 'off'})"
        if gc_enabled:
            self.max_n = self.GC_ON_MAX_N
            self.cap_reason = (
                f"capped at n ≤ {self.GC_ON_MAX_N:,}: its GC makes larger n take minutes"
            )

    def unavailable(self):
        try:
            import micrograd.engine  # noqa: F401
        except ImportError:
            return "not installed"
        if sys.version_info < (3, 11):
            return "needs Python >= 3.11 (recursive backward)"
        return None

    def version(self):
        from importlib.metadata import version

        return version("micrograd")

    def leaves(self, xs):
        from micrograd.engine import Value

        return [Value(x) for x in xs.tolist()]

    def record(self, fn, leaves):
        return fn(leaves)

    def backward(self, graph):
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 10**7))
        try:
            graph.backward()
        finally:
            sys.setrecursionlimit(limit)

    def output(self, graph):
        return float(graph.data)

    def gradient(self, leaves):
        return np.array([v.grad for v in leaves], dtype=float)

    def timed_region(self):
        return contextlib.nullcontext() if self.gc_enabled else gc_disabled()


class TorchScalars(Engine):
    """PyTorch with 0-d float64 tensors as scalars, on one thread."""

    name = "torch scalars"

    def unavailable(self):
        try:
            import torch  # noqa: F401
        except ImportError:
            return "not installed"
        return None

    def version(self):
        import torch

        return f"{torch.__version__}, 1 thread"

    def leaves(self, xs):
        import torch

        torch.set_num_threads(1)
        return [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs.tolist()]

    def record(self, fn, leaves):
        return fn(leaves)

    def backward(self, graph):
        graph.backward()

    def output(self, graph):
        return graph.item()

    def gradient(self, leaves):
        return np.array([t.grad.item() for t in leaves])


def all_engines():
    """Every engine, tapegrad first (the others are timed per its op count)."""
    return [Tapegrad(), Micrograd(gc_enabled=False), Micrograd(gc_enabled=True), TorchScalars()]
