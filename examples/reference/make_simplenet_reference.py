"""PyTorch's SimpleNet losses from tapegrad's initial weights and data.

Writes ``simplenet.json`` beside this file: for each optimizer of
``examples/simplenet.py`` and each dtype, PyTorch's 100 losses when the
seed's network (as a ``torch.nn.Module``) starts from the weights that
``SimpleNet(5, rng=0)`` draws and trains on ``make_blobs(seed=0)``.  The
file also keeps SHA-256 digests of those weights and data, so a test can
tell a changed generator from a changed trajectory.  PyTorch runs on one
thread with its for-loop optimizers (``foreach=False``).

    python examples/reference/make_simplenet_reference.py

``tests/test_simplenet.py`` compares tapegrad against this file always, and
against :func:`torch_run` live where PyTorch is installed.
"""

import hashlib
import importlib.util
import json
import pathlib
import platform

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REFERENCE = HERE / "simplenet.json"
DTYPES = {"float64": np.float64, "float32": np.float32}
STEPS = 100
SEED = 0


def load_example():
    """``examples/simplenet.py`` as a module."""
    spec = importlib.util.spec_from_file_location("simplenet", HERE.parent / "simplenet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digest(arrays):
    sha = hashlib.sha256()
    for array in arrays:
        sha.update(np.ascontiguousarray(array).tobytes())
    return sha.hexdigest()


def start(dtype, seed=SEED):
    """The data and initial weights (a state_dict of NumPy arrays) both
    engines start from."""
    example = load_example()
    X, y = example.make_blobs(10_000, 5, 2, seed=seed)
    state = example.SimpleNet(5, dtype=dtype, rng=seed).state_dict()
    return X.astype(dtype), y, state


def torch_run(X, y, state, optimizer, steps=STEPS):
    """The seed's PyTorch cell, from ``state``, on one thread: the losses,
    and the final weights as a state_dict of NumPy arrays."""
    import torch
    import torch.nn as nn

    name, options = load_example().OPTIMIZERS[optimizer]

    class SimpleNet(nn.Module):  # the seed's, with its train() renamed fit()
        def __init__(self, n_inputs):
            super().__init__()
            self.n_inputs = n_inputs
            self.net = nn.Sequential(
                nn.Linear(self.n_inputs, 25),
                nn.Linear(25, 25),
                nn.Linear(25, 2),
            )

        def forward(self, x):
            return self.net(x)

        def fit(self, X, y, max_iter):
            criterion = nn.CrossEntropyLoss()
            opt = getattr(torch.optim, name)(self.parameters(), foreach=False, **options)
            losses = []
            for i in range(max_iter):
                opt.zero_grad()
                loss = criterion(self(X), y)
                loss.backward()
                opt.step()
                losses.append(loss.item())
            return losses

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net = SimpleNet(X.shape[1]).to(torch.from_numpy(X).dtype)
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
        losses = net.fit(torch.from_numpy(X), torch.from_numpy(y), steps)
        return losses, {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    finally:
        torch.set_num_threads(threads)


def main():
    import torch

    optimizers = list(load_example().OPTIMIZERS)
    reference = {"torch": torch.__version__, "numpy": np.__version__,
                 "machine": platform.machine(), "steps": STEPS, "seed": SEED,
                 "digests": {}, "losses": {}}
    for dtype_name, dtype in DTYPES.items():
        X, y, state = start(dtype)
        reference["digests"][dtype_name] = {"data": digest([X, y]),
                                            "weights": digest(state.values())}
        for optimizer in optimizers:
            losses, _ = torch_run(X, y, state, optimizer)
            reference["losses"][f"{optimizer}/{dtype_name}"] = losses
            print(f"{optimizer}/{dtype_name}: {losses[0]:.6g} -> {losses[-1]:.6g}")
    REFERENCE.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {REFERENCE}")


if __name__ == "__main__":
    main()
