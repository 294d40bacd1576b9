"""The seed notebook's SimpleNet, ported from PyTorch by changing its imports.

The notebook (``shared/seed``) trains ``Linear(5, 25) -> Linear(25, 25) ->
Linear(25, 2)`` with ``CrossEntropyLoss`` and ``SGD(lr=0.01)`` for 100
full-batch iterations on scikit-learn's ``make_blobs(10000, 5, 2)``.  The
network below is its cell with ``torch.nn`` -> ``tapegrad.nn`` and
``torch.optim`` -> ``tapegrad.optim``; the blobs come from :func:`make_blobs`,
in NumPy.  ``examples/reference/`` holds PyTorch's losses from the same
weights and data, which ``tests/test_simplenet.py`` checks step by step.

    python examples/simplenet.py                                  # as the seed
    python examples/simplenet.py --dtype float32 --optimizer adam
"""

import argparse
import time

import numpy as np

from tapegrad import nn, optim

# Optimizer class and options by name; the PyTorch reference uses the same.
OPTIMIZERS = {
    "sgd": ("SGD", {"lr": 0.01}),  # the seed's
    # lr / (1 - momentum) is the seed's 0.01.  (At lr=0.01 with momentum the loss
    # falls below 1e-9 within 20 steps: a cross entropy that small is log(1 + tiny),
    # rounding noise in any library, and no trajectory to compare.)
    "momentum": ("SGD", {"lr": 0.001, "momentum": 0.9}),
    "adam": ("Adam", {"lr": 1e-3}),
}


def make_blobs(n_samples=10_000, n_features=5, centers=2, cluster_std=1.0, box=(-10.0, 10.0),
               seed=0):
    """Isotropic Gaussian blobs, as scikit-learn's ``make_blobs``: ``centers``
    means drawn uniformly in ``box``, the samples split evenly between them
    with standard deviation ``cluster_std``, shuffled.  Returns ``(X, y)``
    with float64 features and int64 labels.

    >>> X, y = make_blobs(6, 2, 3, seed=1)
    >>> X.shape, sorted(y.tolist())
    ((6, 2), [0, 0, 1, 1, 2, 2])
    """
    rng = np.random.default_rng(seed)
    means = rng.uniform(*box, size=(centers, n_features))
    y = np.arange(n_samples, dtype=np.int64) % centers
    X = means[y] + cluster_std * rng.standard_normal((n_samples, n_features))
    order = rng.permutation(n_samples)
    return X[order], y[order]


class SimpleNet(nn.Module):
    def __init__(self, n_inputs, dtype=np.float64, rng=None):
        super().__init__()
        self.n_inputs = n_inputs
        rng = np.random.default_rng(rng)

        self.net = nn.Sequential(
            nn.Linear(self.n_inputs, 25, dtype=dtype, rng=rng),
            nn.Linear(25, 25, dtype=dtype, rng=rng),
            nn.Linear(25, 2, dtype=dtype, rng=rng),
        )

    def forward(self, x):
        return self.net(x)

    def predict(self, X):
        return (self.net(X)[:, 1] > 0.5).astype(np.float32)

    # The seed names this train(), which shadows nn.Module.train(mode) in
    # PyTorch as it would here: so it is fit().
    def fit(self, X, y, max_iter=100, optimizer="sgd", verbose=True):
        criterion = nn.CrossEntropyLoss()
        name, options = OPTIMIZERS[optimizer]
        optimizer = getattr(optim, name)(self.parameters(), **options)

        losses = []
        for i in range(max_iter):
            optimizer.zero_grad()
            y_pred = self(X)
            loss = criterion(y_pred, y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if verbose:
                print(f"Iteration {i}: {loss.item()}")
        return losses


def main(dtype=np.float64, optimizer="sgd", steps=100, seed=0, verbose=True, samples=10_000):
    """Train the seed's SimpleNet on fresh blobs; returns the losses (one per
    step, taken before the step's update, as the seed prints them)."""
    X, y = make_blobs(samples, 5, 2, seed=seed)
    X = X.astype(dtype)
    net = SimpleNet(5, dtype=dtype, rng=seed)
    start = time.perf_counter()
    losses = net.fit(X, y, max_iter=steps, optimizer=optimizer, verbose=verbose)
    seconds = time.perf_counter() - start
    if verbose:
        accuracy = (net.predict(X) == y).mean()
        print(f"accuracy of predict (class-1 logit > 0.5): {accuracy:.4f}; "
              f"{1e3 * seconds / max(steps, 1):.2f} ms a step ({np.dtype(dtype).name}, {optimizer})")
    return losses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--optimizer", default="sgd", choices=list(OPTIMIZERS))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(np.dtype(args.dtype).type, args.optimizer, args.steps, args.seed)
