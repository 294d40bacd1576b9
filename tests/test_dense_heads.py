"""A chain of linear layers under a loss head (tapegrad.replay.dense.Head):
elementwise records of the last output and data of its shape, summed or
averaged (a mean squared error, an L1 loss, a scaled or shifted error).
Which programs it takes, and that its loss and gradients are the
record-by-record replay's (``fuse=False``) to rounding, and central
differences'; data read afresh, data of another dtype, threads, refused
shapes."""


import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.nn import functional as F
from tapegrad.replay.dense import DenseChain

from chains import (  # noqa: F401 (path: every test of this file both ways)
    assert_central_differences, assert_grads_close, assert_threads_agree, chain, path)

RTOL = {np.float64: 1e-13, np.float32: 2e-5}


def network(X, head, between=("relu",)):
    """Linear layers, ``between`` after each but the last, under ``head(z)``."""
    def loss(ps):
        h = X
        for k, (w, b) in enumerate(zip(ps[0::2], ps[1::2])):
            if k:
                for name in between:
                    h = getattr(tg, name)(h)
            h = F.linear(h, w, b)
        return head(h)

    return loss


HEADS = {
    "mse": lambda Y: lambda z: F.mse_loss(z, Y),
    "mse_sum": lambda Y: lambda z: F.mse_loss(z, Y, reduction="sum"),
    "l1": lambda Y: lambda z: tg.abs(z - Y).mean(),
    "scaled": lambda Y: lambda z: ((z * 0.5 - Y) ** 2 * 3.0).sum(),
    "target_first": lambda Y: lambda z: tg.log1p((Y - z) * (Y - z)).mean(),
    "no_data": lambda Y: lambda z: (z * z).mean(),
    # records of one number after the sum
    "rmse": lambda Y: lambda z: tg.sqrt(F.mse_loss(z, Y)),
    "after_sum": lambda Y: lambda z: 0.5 * (((z - Y) ** 2).sum() / 3.0) + 1.0,
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("widths, rows, between", [
    ((5, 25, 25, 1), 10, ("relu",)), ((3, 4), 1, ()), ((4, 6, 3), 21, ("tanh",)),
    ((2, 5, 3, 2), 7, ("sigmoid", "relu"))])
def test_a_head_gives_the_record_by_record_loss_and_gradients(widths, rows, between, head,
                                                              dtype, rng, path):
    X = rng.normal(size=(rows, widths[0])).astype(dtype)
    Y = rng.normal(size=(rows, widths[-1])).astype(dtype)
    loss = network(X, HEADS[head](Y), between)
    x0 = tuple(tg.tensor(p) for p in chain(widths, dtype, rng))
    compiled, plain = tg.record(loss, x0), tg.record(loss, x0, fuse=False)
    assert isinstance(compiled.program.dense, DenseChain) and compiled.program.dense.head
    assert compiled.program.dense.compiled == (path == "one call")
    for _ in range(3):
        params = chain(widths, dtype, rng)
        value, grads = compiled.value_and_grad(params)
        want, want_grads = plain.value_and_grad(params)
        assert type(value) is float
        assert value == pytest.approx(want, rel=RTOL[dtype], abs=0)
        assert_grads_close(grads, want_grads, RTOL[dtype])
        (value, grads), (want, want_grads) = (r.vjp(params, np.array([-0.375]))
                                              for r in (compiled, plain))
        assert value == pytest.approx(want, rel=RTOL[dtype], abs=0)
        assert_grads_close(grads, want_grads, RTOL[dtype])


def test_the_gradient_is_that_of_central_differences(rng):
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    rec = tg.record(network(X, HEADS["target_first"](Y), ("tanh",)),
                    tuple(tg.tensor(p) for p in chain((3, 4, 2), np.float64, rng)))
    assert rec.program.dense.head is not None
    params = chain((3, 4, 2), np.float64, rng)
    assert_central_differences(rec, params)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-14), (np.float32, 5e-6)])
def test_the_recorded_mse_step_trains_as_eager(dtype, rtol, rng):
    """The seed's loop with a mean squared error: losses and gradients of
    each step as eager's, the targets read afresh."""
    def make():
        model = nn.Sequential(nn.Linear(5, 8, rng=0), nn.ReLU(), nn.Linear(8, 2, rng=1))
        for p in model.parameters():
            p._v = p._v.astype(dtype)
        return model

    model, twin = make(), make()
    X, Y = rng.normal(size=(16, 5)).astype(dtype), rng.normal(size=(16, 2)).astype(dtype)
    step = nn.record_loss(model, nn.MSELoss(), X, Y)
    assert step.recorded.program.dense.head is not None
    opt, twin_opt = optim.SGD(model.parameters(), lr=0.1), optim.SGD(twin.parameters(), lr=0.1)
    for k in range(10):
        Xk = rng.normal(size=(16, 5)).astype(dtype)
        Yk = rng.normal(size=(16, 2)).astype(dtype)
        opt.zero_grad(), twin_opt.zero_grad()
        loss = step(Xk, Yk)
        eager = nn.MSELoss()(twin(Xk), Yk)
        eager.backward()
        assert loss.item() == pytest.approx(eager.item(), rel=rtol), k
        for p, q in zip(model.parameters(), twin.parameters()):
            np.testing.assert_allclose(p.grad, q.grad, rtol=0,
                                       atol=rtol * max(np.abs(q.grad).max(), 1e-30))
        opt.step(), twin_opt.step()


def test_targets_of_another_dtype_are_refused_or_take_the_sweep(rng):
    """``record_loss`` refuses them, losing nothing; handed to the program
    (as its data), the record-by-record replay runs them."""
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1))
    twin = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1))
    X, Y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    step = nn.record_loss(model, nn.MSELoss(), X, Y)
    with pytest.raises(TypeError, match="dtype"):
        step(X, Y.astype(np.float32))
    assert all(p.grad is None for p in model.parameters())
    program = step.recorded.program
    (record, position), = program.dense.head.data
    Y32 = rng.normal(size=(8, 1)).astype(np.float32)
    leaves = [p._v for p in model.parameters()]
    assert program.dense.run(leaves, _with(program, record, position, Y32)) is None
    loss = program.value_and_backward((), [((record, "constants", position), Y32)])
    eager = nn.MSELoss()(twin(X), Y32)
    eager.backward()
    assert loss == pytest.approx(eager.item(), rel=1e-14)
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-13, atol=1e-15)


def _with(program, record, position, array):
    """The program's params with ``array`` as constant ``position`` of ``record``."""
    params = dict(program._here().params)
    constants = list(params[record]["constants"])
    constants[position] = array
    params[record] = {**params[record], "constants": constants}
    return params


def test_targets_of_another_shape_are_refused(rng):
    model = nn.Linear(3, 2, rng=0)
    X, Y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    step = nn.record_loss(model, nn.MSELoss(), X, Y)
    assert step.recorded.program.dense.head is not None
    for bad_X, bad_Y in ((X[:5], Y[:5]), (X, Y[:5]), (X, Y[:, :1])):
        with pytest.raises(ValueError):
            step(bad_X, bad_Y)
    assert model.weight.grad is None
    step(X, Y)
    assert model.weight.grad.shape == (2, 3)


@pytest.mark.parametrize("head", [
    lambda z: ((z - np.ones(2)) ** 2).mean(),          # a target broadcast along the rows
    lambda z: (z * z).mean(axis=0).sum(),              # a sum by columns
    lambda z: (z * z).mean() + z.sum(),                # two sums
    lambda z: (z * z).max(),                           # another reduction
    lambda z: (z * z).mean() * (z * z).mean(),         # a record after two sums
])
def test_other_heads_keep_the_record_by_record_replay(head, rng):
    X = rng.normal(size=(8, 3))
    params = chain((3, 2), np.float64, rng)
    rec = tg.record(network(X, head), tuple(tg.tensor(p) for p in params))
    plain = tg.record(network(X, head), tuple(tg.tensor(p) for p in params), fuse=False)
    assert rec.program.dense is None
    value, grads = rec.value_and_grad(params)
    want, want_grads = plain.value_and_grad(params)
    assert value == pytest.approx(want, rel=1e-14)
    assert_grads_close(grads, want_grads, 1e-13)


def test_threads_sharing_a_head_get_their_own_answers(rng):
    X, Y = rng.normal(size=(20, 4)), rng.normal(size=(20, 3))
    loss = network(X, HEADS["mse"](Y))
    x0 = tuple(tg.tensor(p) for p in chain((4, 6, 3), np.float64, rng))
    compiled, plain = tg.record(loss, x0), tg.record(loss, x0, fuse=False)
    points = [chain((4, 6, 3), np.float64, np.random.default_rng(s)) for s in range(6)]
    assert_threads_agree(compiled, plain, points)


@pytest.mark.parametrize("loss, where", [
    (lambda z, y: ((z - y) ** 2 * 0.5).mean(), "numbers"),   # in the head's group
    (lambda z, y: ((z * z).mean() - y) ** 2, "numbers_after"),  # after its sum
])
def test_a_number_that_is_data_is_read_afresh(loss, where, rng):
    """A loss against a 0-d target: the head reads its numbers at each call,
    as its arrays (a number written into the kernel would keep the recorded one)."""
    model, twin = nn.Linear(3, 2, rng=0), nn.Linear(3, 2, rng=0)
    X = rng.normal(size=(8, 3))
    step = nn.record_loss(model, loss, X, np.array(0.5))
    assert getattr(step.recorded.program.dense.head, where)
    for y in (2.0, -1.0, 0.5):
        model.zero_grad(), twin.zero_grad()
        value = step(X, np.array(y)).item()
        eager = loss(twin(X), np.array(y))
        eager.backward()
        assert value == pytest.approx(eager.item(), rel=1e-14), y
        for p, q in zip(model.parameters(), twin.parameters()):
            np.testing.assert_allclose(p.grad, q.grad, rtol=1e-13, atol=1e-15)
