"""What one replay call of a recorded array program costs when there is
almost nothing to compute: its fixed cost.

``replay_fixed_cost_us``: ``rec.value_and_grad(x)`` of a recording of array
code, in microseconds, best of several timed batches, on inputs so small that
the arithmetic is negligible:

* ``elementwise_3ops`` at n = 1: ``((x * 2 + 1) * x).sum()``, one fused group
  summed (:class:`tapegrad.replay.schedule.WholeProgram`);
* ``rosenbrock_vectorized`` at n = 10: ``(100 (x[1:] - x[:-1]**2)**2 +
  (1 - x[:-1])**2).sum()``, the same with two slices of the input;
* ``rms`` at n = 10: ``np.sqrt((x * x).mean())``, one record averaged and
  an op on the mean (the kernel's second pass);
* ``simplenet_loss`` at 10 rows: the seed's three linear layers and cross
  entropy over its six parameters, a chain of dense layers
  (:class:`tapegrad.replay.dense.DenseChain`), replayed by one compiled
  call that makes eight BLAS products: not free arithmetic even at 10
  rows (each product costs BLAS some tenths of a microsecond).

Reported, never gated (a timing of a few microseconds moves with the
machine).  PyTensor's compiled function costs 3-4 us a call on the machine
of issue 16; the first three aim at 5 us or less.

>>> cases = programs()
>>> sorted(cases)
['elementwise_3ops', 'rms', 'rosenbrock_vectorized', 'simplenet_loss']
>>> rec, x = cases["rosenbrock_vectorized"]
>>> rec.value_and_grad(x)[0] > 0
True
"""

import time

import numpy as np

import tapegrad as tg
from tapegrad.nn import functional as F

_CALLS = 500  # calls per timed batch
_BATCHES = 9


def rosenbrock(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def three_ops(x):
    return ((x * 2.0 + 1.0) * x).sum()


def rms(x):
    return np.sqrt((x * x).mean())


def _simplenet(rows=10):
    """The seed's SimpleNet loss (5 -> 25 -> 25 -> 2, cross entropy) over
    its parameters, on ``rows`` rows of two blobs: ``(recording, params)``."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, 5)) + 3.0 * (np.arange(rows) % 2)[:, None]
    y = np.arange(rows) % 2
    shapes = [(25, 5), (25,), (25, 25), (25,), (2, 25), (2,)]
    params = tuple(rng.uniform(-0.4, 0.4, s) for s in shapes)

    def loss(ps):
        w1, b1, w2, b2, w3, b3 = ps
        return F.cross_entropy(F.linear(F.linear(F.linear(X, w1, b1), w2, b2), w3, b3), y)

    return tg.record(loss, tuple(tg.tensor(p) for p in params)), params


def programs():
    """name -> (recording, point): the programs whose calls are timed."""
    x1, x10 = np.array([0.3]), np.linspace(-1.0, 1.0, 10)
    return {
        "elementwise_3ops": (tg.record(three_ops, tg.tensor(x1)), x1),
        "rosenbrock_vectorized": (tg.record(rosenbrock, tg.tensor(x10)), x10),
        "rms": (tg.record(rms, tg.tensor(x10)), x10),
        "simplenet_loss": _simplenet(),
    }


def per_call(rec, x, calls=_CALLS, batches=_BATCHES):
    """Seconds per ``rec.value_and_grad(x)``, the best of ``batches``."""
    rec.value_and_grad(x)  # kernels compiled or loaded, buffers made
    best = float("inf")
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(calls):
            rec.value_and_grad(x)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


_SIZES = {"elementwise_3ops": 1, "rosenbrock_vectorized": 10, "rms": 10, "simplenet_loss": 10}


def figures(result):
    """Add ``replay_fixed_cost_us`` per program to ``result``; returns the
    lines to print."""
    lines = ["", "Replay fixed cost (rec.value_and_grad on tiny inputs; target <= 5 us, "
                 "PyTensor's compiled call 3-4 us)"]
    for name, (rec, x) in programs().items():
        micro = per_call(rec, x) * 1e6
        compiled = rec.program.schedule or rec.program.dense
        how = type(compiled).__name__ if compiled is not None else "steps"
        if getattr(compiled, "compiled", False):
            how += ", one compiled call"
        result.add(name, "tapegrad", _SIZES[name], "replay_fixed_cost_us", micro, "us")
        lines.append(f"  {name:<24} n={_SIZES[name]:<4} {micro:8.2f} us  ({how})")
    return lines
