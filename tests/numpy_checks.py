"""The check every NumPy function tapegrad records goes through.

``check_numpy(f, *arrays)`` takes a function written in plain NumPy (``f``
calls ``np.*`` and works on ndarrays) and runs it both ways: on the arrays
themselves, which is the reference, and on Tensors, where NumPy hands every
call to tapegrad.  It checks, for the scalar ``loss = sum(f(*xs) * w)`` with
random weights ``w`` (one per output, for functions returning a tuple):

* the recorded value equals NumPy's (and is a Tensor or Value, never an
  object array), in float64 and, with ``float32=True``, in float32;
* the gradient (reverse mode) equals central differences of NumPy's loss;
* forward mode (``jvp`` along a random direction) equals the gradient's dot
  product with it;
* the Hessian-vector product (forward over reverse) equals central
  differences of the gradient (``hvp=False`` to skip, with a reason);
* a replay of the recording at another point equals NumPy there.

All inputs travel as one flat vector (a recording's array input), cut into
the arrays' shapes inside the loss.
"""

import math

import numpy as np

import tapegrad as tg
from tapegrad.array import Tensor

FD_STEP = 1e-6
GRAD_RTOL, GRAD_ATOL = 1e-5, 1e-6
HVP_STEP = 1e-5
HVP_RTOL, HVP_ATOL = 1e-4, 1e-5


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _cut(x, shapes):
    """``x`` (flat) cut into arrays of ``shapes``."""
    pieces, start = [], 0
    for shape in shapes:
        n = math.prod(shape)
        piece = x[start:start + n]
        pieces.append(piece.reshape(shape))
        start += n
    return pieces


def _plain(out):
    assert not (isinstance(out, np.ndarray) and out.dtype == object), \
        "NumPy made an object array of tapegrad values"
    if isinstance(out, (Tensor, tg.Value)):
        return np.asarray(out.value)
    return np.asarray(out)


def check_numpy(f, *arrays, rng=None, hvp=True, float32=True, replay=True, rtol=1e-10):
    """Check ``f`` (plain NumPy code) recorded by tapegrad against NumPy
    itself (see the module docstring); returns the recording."""
    rng = rng or np.random.default_rng(0)
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    shapes = [a.shape for a in arrays]
    x0 = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)
    reference = _outputs(f(*arrays))
    weights = [rng.normal(size=np.shape(r)) for r in reference]

    def numpy_loss(x):
        outs = _outputs(f(*_cut(x, shapes)))
        return sum(float(np.sum(np.asarray(o) * w)) for o, w in zip(outs, weights))

    def loss(x):
        outs = _outputs(f(*_cut(x, shapes)))
        for o in outs:
            assert isinstance(o, (Tensor, tg.Value)), \
                f"f gave a {type(o).__name__} on Tensors, not a Tensor"
        total = None
        for o, w in zip(outs, weights):
            term = (o * w).sum() if isinstance(o, Tensor) else o * float(w)
            total = term if total is None else total + term
        return total

    # the value, eagerly
    with tg.Tape():
        outs = _outputs(f(*_cut(tg.tensor(x0, requires_grad=True), shapes)))
    for got, want in zip(outs, reference):
        np.testing.assert_allclose(_plain(got), want, rtol=rtol, atol=rtol,
                                   err_msg="value against NumPy")

    rec = tg.record(loss, tg.tensor(x0))
    value, grad = rec.value_and_grad(x0)
    np.testing.assert_allclose(value, numpy_loss(x0), rtol=rtol, atol=rtol)
    fd = np.array([(numpy_loss(x0 + FD_STEP * e) - numpy_loss(x0 - FD_STEP * e)) / (2 * FD_STEP)
                   for e in np.eye(x0.size)])
    np.testing.assert_allclose(grad, fd, rtol=GRAD_RTOL, atol=GRAD_ATOL,
                               err_msg="gradient against central differences")

    direction = rng.normal(size=x0.shape)
    _, forward = rec.jvp(x0, direction)
    np.testing.assert_allclose(forward, grad @ direction, rtol=1e-9, atol=1e-9,
                               err_msg="forward mode against reverse mode")

    if hvp:
        got = rec.hvp(x0, direction)
        want = (rec.grad(x0 + HVP_STEP * direction) - rec.grad(x0 - HVP_STEP * direction)) \
            / (2 * HVP_STEP)
        np.testing.assert_allclose(got, want, rtol=HVP_RTOL, atol=HVP_ATOL,
                                   err_msg="hvp against central differences of the gradient")

    if replay:
        x1 = x0 + 1e-3 * rng.normal(size=x0.shape)
        np.testing.assert_allclose(rec(x1), numpy_loss(x1), rtol=1e-9, atol=1e-9,
                                   err_msg="replay at another point against NumPy")

    if float32:
        x32 = x0.astype(np.float32)
        with tg.Tape():
            outs = _outputs(f(*_cut(tg.tensor(x32, requires_grad=True), shapes)))
        want = _outputs(f(*_cut(x32, shapes)))
        for got, w in zip(outs, want):
            got = _plain(got)
            assert got.dtype == np.float32 or got.dtype.kind != "f", got.dtype
            np.testing.assert_allclose(got, w, rtol=2e-4, atol=2e-4, err_msg="float32")
    return rec
