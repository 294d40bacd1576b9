"""Shared test helpers; every tolerance of the suite lives here."""

import importlib.util

import numba
import numpy as np
import pytest

# Central differences with step FD_STEP are accurate to about FD_STEP**2.
FD_STEP = 1e-6
FD_RTOL = 1e-6
FD_ATOL = 1e-7
# Compiled sweep against the pure-Python reference interpreter: same rules,
# same order of operations, so they agree to rounding.
SWEEP_RTOL = 1e-12
# tapegrad against PyTorch (float64) on whole programs.
PEER_RTOL = 1e-9

JIT_DISABLED = bool(numba.config.DISABLE_JIT)
HAS_TORCH = importlib.util.find_spec("torch") is not None
requires_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")


def central_difference(f, xs, k, step=FD_STEP):
    """d f(*xs) / d xs[k] by central differences."""
    up, down = list(xs), list(xs)
    up[k] += step
    down[k] -= step
    return (f(*up) - f(*down)) / (2 * step)


def assert_close(actual, expected, rtol, atol=0.0, what=""):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


@pytest.fixture
def rng():
    return np.random.default_rng(20261126)


def eager_and_recorded_losses(make, loss_of, batches):
    """The losses of the training loop over ``batches`` run eagerly and by
    ``nn.record_loss`` (each from a fresh ``make()``: ``(model, optimizer)``;
    ``loss_of(model)`` the loss function), and the recorded step."""
    import tapegrad as tg
    from tapegrad import nn

    model, opt = make()
    eager = []
    for X, y in batches:
        opt.zero_grad()
        loss = loss_of(model)(model(tg.tensor(X)), y)
        loss.backward()
        opt.step()
        eager.append(loss.item())
    model, opt = make()
    step = nn.record_loss(model, loss_of(model), *batches[0])
    recorded = []
    for X, y in batches:
        opt.zero_grad()
        recorded.append(float(step(X, y)))
        opt.step()
    return eager, recorded, step
