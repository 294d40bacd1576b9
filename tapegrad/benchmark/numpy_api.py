"""What NumPy's own API costs on Tensors: dispatch and linear algebra.

Two figures per case, reported and never gated (each is a difference or a
ratio of two timings taken in the same run):

* ``dispatch_overhead_ns``: ``np.exp(t)`` (NumPy hands the call to
  tapegrad through ``__array_ufunc__``) minus ``tapegrad.exp(t)`` on the
  same small Tensor; likewise ``np.add`` against ``t + t``, and ``np.sum``
  and ``np.swapaxes`` against the Tensor's methods, the direct spellings.
* ``vjp_over_forward``: for ``numpy.linalg`` at n = 200, the reverse sweep
  through the op (``backward()`` of a weighted sum of its outputs) over
  NumPy's forward call on plain arrays.  LAPACK's speed is the bar: PyTorch's
  VJPs of these cost about 1-3 forward calls.

>>> rows = dispatch_cases()
>>> sorted(rows)[:2]
['np.add(t, t)', 'np.exp(t)']
"""

import time

import numpy as np

import tapegrad as tg

_CALLS = 200  # calls per timed batch
_BATCHES = 15


def _per_call(call):
    """The best of ``_BATCHES`` batches, seconds per call, on a fresh tape each batch."""
    best = float("inf")
    for _ in range(_BATCHES):
        with tg.Tape():
            start = time.perf_counter()
            for _ in range(_CALLS):
                call()
            best = min(best, (time.perf_counter() - start) / _CALLS)
    return best


def dispatch_cases():
    """name -> (NumPy's spelling, tapegrad's direct spelling) on one small Tensor."""
    t = tg.tensor(np.linspace(0.1, 1.0, 16).reshape(4, 4), requires_grad=True)
    return {
        "np.exp(t)": (lambda: np.exp(t), lambda: tg.exp(t)),
        "np.add(t, t)": (lambda: np.add(t, t), lambda: t + t),
        "np.sum(t, axis=0)": (lambda: np.sum(t, axis=0), lambda: t.sum(axis=0)),
        "np.swapaxes(t, 0, 1)": (lambda: np.swapaxes(t, 0, 1), lambda: t.swapaxes(0, 1)),
    }


def _spd(rng, n):
    a = rng.normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


def linalg_cases(n=200):
    """name -> (forward on ndarrays, outputs of the recorded op on a Tensor)."""
    rng = np.random.default_rng(0)
    a, b = _spd(rng, n), rng.normal(size=(n, 3))
    return {
        "solve": (lambda x: np.linalg.solve(x, b), a),
        "cholesky": (np.linalg.cholesky, a),
        "eigh": (np.linalg.eigh, a),
        "svd": (lambda x: np.linalg.svd(x, full_matrices=False), rng.normal(size=(n, n))),
    }


def _vjp_seconds(f, a):
    """Seconds of ``backward()`` through ``f`` at ``a`` (best of a few)."""
    rng = np.random.default_rng(1)
    best = float("inf")
    for _ in range(5):
        with tg.Tape():
            x = tg.tensor(a, requires_grad=True)
            outs = f(x)
            outs = outs if isinstance(outs, tuple) else (outs,)
            loss = sum((o * rng.normal(size=o.shape)).sum() for o in outs
                       if o.dtype.kind == "f")
            start = time.perf_counter()
            loss.backward()
            best = min(best, time.perf_counter() - start)
    return best


def figures(result):
    """Add the records of the module docstring to ``result``; returns the lines to print."""
    lines = ["", "NumPy's API on Tensors (dispatch: NumPy's spelling minus tapegrad's; "
                 "linalg: VJP / forward at n=200)"]
    for name, (numpy_call, direct) in dispatch_cases().items():
        through, own = _per_call(numpy_call), _per_call(direct)
        overhead = (through - own) * 1e9
        result.add(name, "tapegrad", 0, "dispatch_overhead_ns", overhead, "ns")
        lines.append(f"  {name:<24} {through * 1e6:7.2f} us vs {own * 1e6:7.2f} us direct: "
                     f"{overhead:+6.0f} ns")
    for name, (f, a) in linalg_cases().items():
        try:
            vjp = _vjp_seconds(f, a)
        except TypeError as error:  # not registered
            lines.append(f"  linalg.{name:<17} not available: {str(error)[:60]}")
            continue
        start, forward = time.perf_counter(), float("inf")
        for _ in range(5):
            start = time.perf_counter()
            f(a)
            forward = min(forward, time.perf_counter() - start)
        result.add(f"linalg.{name}", "tapegrad", 200, "vjp_over_forward", vjp / forward, "ratio")
        lines.append(f"  linalg.{name:<17} forward {forward * 1e3:7.2f} ms, "
                     f"VJP {vjp * 1e3:7.2f} ms: {vjp / forward:5.2f}x")
    return lines
