"""Helpers of the dense-chain tests (test_dense_chain.py, test_dense_heads.py):
parameters of a chain of linear layers, the two ways a chain replays, and
the checks both files make."""

import threading

import numpy as np
import pytest

from tapegrad.replay import dense

from conftest import FD_ATOL, FD_RTOL, assert_close, central_difference


@pytest.fixture(autouse=True, params=["one call", "calls"])
def path(request, monkeypatch):
    """Every test twice: chains replayed by their one compiled kernel
    (tapegrad.fusion.dense), and as the schedule of calls that large
    batches take."""
    monkeypatch.setattr(dense, "SMALL_WORK", 10**9 if request.param == "one call" else -1)
    return request.param


def chain(widths, dtype, rng):
    """Weights and biases of linear layers ``widths[0] -> ... -> widths[-1]``."""
    params = []
    for k, n in zip(widths[:-1], widths[1:]):
        params += [rng.uniform(-0.6, 0.6, (n, k)).astype(dtype),
                   rng.uniform(-0.6, 0.6, n).astype(dtype)]
    return tuple(params)


def assert_grads_close(ours, theirs, rtol):
    """Same dtypes and shapes, each within ``rtol`` of the other's largest entry."""
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=rtol * max(np.abs(b).max(), 1e-300))


def assert_central_differences(rec, params):
    """``rec``'s gradient at the tuple ``params`` is central differences'."""
    _, grads = rec.value_and_grad(params)
    flat = np.concatenate([p.ravel() for p in params])
    shapes = [p.shape for p in params]

    def f(*v):
        parts, start = [], 0
        for s in shapes:
            size = int(np.prod(s))
            parts.append(np.asarray(v[start:start + size]).reshape(s))
            start += size
        return rec(tuple(parts))

    want = np.array([central_difference(f, flat.tolist(), k) for k in range(len(flat))])
    assert_close(np.concatenate([g.ravel() for g in grads]), want, FD_RTOL, FD_ATOL)


def assert_threads_agree(compiled, plain, points, calls=50):
    """One thread per point, each replaying ``compiled`` there ``calls``
    times, gets ``plain``'s answers (to rounding)."""
    wanted = [plain.value_and_grad(p) for p in points]
    failures = []

    def work(k):
        for _ in range(calls):
            value, grads = compiled.value_and_grad(points[k])
            if value != pytest.approx(wanted[k][0], rel=1e-13) or not all(
                    np.allclose(a, b, rtol=1e-12, atol=0) for a, b in zip(grads, wanted[k][1])):
                failures.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(points))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
