"""The seed's SimpleNet with its training step recorded once and replayed.

``examples/simplenet.py``'s network, data and optimizers; the loop differs
in one line: ``step = nn.record_loss(net, criterion, X, y)`` before it, and
``loss = step(X, y)`` in place of the forward pass and ``backward()``.  The
losses are the eager loop's to rounding: the step replays as one schedule
of BLAS calls (``tapegrad/replay/dense.py``), whose sums BLAS orders its
own way (``tests/test_recorded_step.py`` checks them step by step, and
against PyTorch).

    python examples/simplenet_recorded.py                          # as the seed
    python examples/simplenet_recorded.py --dtype float32 --optimizer adam
    python examples/simplenet_recorded.py --time     # eager vs recorded, ms a step

``--time`` times the seed's step (10,000 rows, SGD) both ways, float64 and
float32, on one BLAS thread: the median of 200 steps after 20 to warm up,
the two taking turns step by step, best of three rounds, beside the
step's eight matrix products timed alone (the floor of this program).
"""

import os
import sys

if "--time" in sys.argv:  # before NumPy loads its BLAS
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from tapegrad import nn, optim  # noqa: E402


def _load_simplenet():
    path = pathlib.Path(__file__).resolve().with_name("simplenet.py")
    spec = importlib.util.spec_from_file_location("simplenet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


simplenet = _load_simplenet()
SimpleNet, make_blobs, OPTIMIZERS = simplenet.SimpleNet, simplenet.make_blobs, simplenet.OPTIMIZERS


def fit(net, X, y, max_iter=100, optimizer="sgd", verbose=True):
    """``SimpleNet.fit`` with the step recorded: the losses, one per step."""
    criterion = nn.CrossEntropyLoss()
    name, options = OPTIMIZERS[optimizer]
    opt = getattr(optim, name)(net.parameters(), **options)
    step = nn.record_loss(net, criterion, X, y)
    losses = []
    for i in range(max_iter):
        opt.zero_grad()
        loss = step(X, y)
        opt.step()
        losses.append(loss.item())
        if verbose:
            print(f"Iteration {i}: {loss.item()}")
    return losses


def main(dtype=np.float64, optimizer="sgd", steps=100, seed=0, verbose=True, samples=10_000):
    """Train on fresh blobs as ``examples/simplenet.py`` does; the losses."""
    X, y = make_blobs(samples, 5, 2, seed=seed)
    X = X.astype(dtype)
    net = SimpleNet(5, dtype=dtype, rng=seed)
    start = time.perf_counter()
    losses = fit(net, X, y, max_iter=steps, optimizer=optimizer, verbose=verbose)
    seconds = time.perf_counter() - start
    if verbose:
        accuracy = (net.predict(X) == y).mean()
        print(f"accuracy of predict (class-1 logit > 0.5): {accuracy:.4f}; "
              f"{1e3 * seconds / max(steps, 1):.2f} ms a step, recording included "
              f"({np.dtype(dtype).name}, {optimizer})")
    return losses


# --- timing ------------------------------------------------------------------


def _eager_step(net, X, y):
    criterion, opt = nn.CrossEntropyLoss(), optim.SGD(net.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        loss = criterion(net(X), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def _recorded_step(net, X, y):
    opt = optim.SGD(net.parameters(), lr=0.01)
    recorded = nn.record_loss(net, nn.CrossEntropyLoss(), X, y)

    def step():
        opt.zero_grad()
        loss = recorded(X, y)
        opt.step()
        return loss.item()

    return step


def _blas_floor(net, X, y):
    """The step's matrix products alone, into preallocated outputs: three
    forward, three weight gradients, two input gradients."""
    w1, w2, w3 = (net.net[k].weight.value for k in range(3))
    n, dt = len(X), X.dtype
    h1, h2, z = np.empty((n, 25), dt), np.empty((n, 25), dt), np.empty((n, 2), dt)
    d1, d2 = np.empty((n, 25), dt), np.empty((n, 25), dt)
    g1, g2, g3 = np.empty_like(w1), np.empty_like(w2), np.empty_like(w3)

    def step():
        np.matmul(X, w1.T, out=h1)
        np.matmul(h1, w2.T, out=h2)
        np.matmul(h2, w3.T, out=z)
        np.matmul(z.T, h2, out=g3)
        np.matmul(z, w3, out=d2)
        np.matmul(d2.T, h1, out=g2)
        np.matmul(d2, w2, out=d1)
        np.matmul(d1.T, X, out=g1)

    return step


def _medians_ms(steps, n=200, warmup=20):
    """Each step's median time over ``n`` calls, in ms, the steps taking
    turns call by call (so that a busy machine slows them alike)."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steps}
    clock = time.perf_counter
    for _ in range(n):
        for name, step in steps.items():
            start = clock()
            step()
            times[name].append(clock() - start)
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


def time_steps(rounds=3, samples=10_000):
    """``{dtype name: {engine: median ms a step}}``, the best round's median."""
    results = {}
    for dtype in (np.float64, np.float32):
        X, y = make_blobs(samples, 5, 2, seed=0)
        X = X.astype(dtype)
        engines = {"eager": _eager_step(SimpleNet(5, dtype, rng=0), X, y),
                   "recorded": _recorded_step(SimpleNet(5, dtype, rng=0), X, y),
                   "BLAS alone": _blas_floor(SimpleNet(5, dtype, rng=0), X, y)}
        best = {name: float("inf") for name in engines}
        for _ in range(rounds):
            for name, ms in _medians_ms(engines).items():
                best[name] = min(best[name], ms)
        results[np.dtype(dtype).name] = best
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--optimizer", default="sgd", choices=list(OPTIMIZERS))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time", action="store_true",
                        help="time eager and recorded steps instead of training")
    args = parser.parse_args()
    if args.time:
        for dtype_name, row in time_steps().items():
            print(f"{dtype_name}: " + ", ".join(f"{k} {v:.3f} ms" for k, v in row.items())
                  + f"; eager / recorded {row['eager'] / row['recorded']:.2f}x")
    else:
        main(np.dtype(args.dtype).type, args.optimizer, args.steps, args.seed)
