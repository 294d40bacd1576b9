"""Dense chains written with ``@`` (tapegrad.replay.dense_stages): ``x @ W
+ b`` layers, with or without a bias, a vector last layer (``h @ v + c``)
and a last column taken out (``z[:, 0]``, ``z.ravel()``).  Which programs
the chain takes, and that their loss and gradients are the record-by-record
replay's (``fuse=False``) to rounding and central differences'; a training
step of such a model; threads; what it must leave to the sweeps."""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.replay.dense import DenseChain
from tapegrad.replay.schedule import WholeProgram

from chains import (  # noqa: F401 (path: every test of this file both ways)
    assert_central_differences, assert_grads_close, assert_threads_agree, path)
from conftest import eager_and_recorded_losses

RTOL = {np.float64: 1e-13, np.float32: 2e-5}


def assert_same_answers(compiled, plain, p, rtol, grad_rtol=None):
    """``compiled``'s value and gradient at ``p`` are ``plain``'s (the
    record-by-record replay's) to ``rtol`` (the gradients to ``grad_rtol``)."""
    value, grads = compiled.value_and_grad(p)
    want, want_grads = plain.value_and_grad(p)
    assert value == pytest.approx(want, rel=rtol, abs=0)
    assert_grads_close(grads, want_grads, rtol if grad_rtol is None else grad_rtol)
    return grads


def mlp(X, last, between=np.tanh, take=None):
    """A two-layer network ``between(X @ W + b) @ V (+ c)`` written with
    ``@``; ``last``: the last weight and bias's shapes (``c`` None: no
    bias); ``take``: what the output goes through before the loss."""
    def forward(p):
        z = between(X @ p[0] + p[1]) @ p[2]
        if len(p) > 3:
            z = z + p[3]
        return z if take is None else take(z)

    return forward


# name -> (the last layer's weight and bias shapes, what its output goes through)
OUTPUTS = {
    "matrix": (((7, 3), (3,)), None),
    "matrix_no_bias": (((7, 3),), None),
    "column_taken": (((7, 1), (1,)), lambda z: z[:, 0]),
    "last_column": (((7, 1), (1,)), lambda z: z[:, -1]),
    "raveled": (((7, 1), (1,)), lambda z: z.ravel()),
    "reshaped": (((7, 1), (1,)), lambda z: z.reshape(-1)),
    "squeezed": (((7, 1), (1,)), lambda z: np.squeeze(z, axis=1)),
    "vector": (((7,), ()), None),
    "vector_one_bias": (((7,), (1,)), None),
    "vector_no_bias": (((7,),), None),
}


def params(last, dtype, rng):
    shapes = [(4, 7), (7,), *last]
    return tuple(rng.uniform(-0.6, 0.6, s).astype(dtype) for s in shapes)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("output", sorted(OUTPUTS))
@pytest.mark.parametrize("rows", [1, 9])
def test_a_chain_written_with_matmul_gives_the_record_by_record_answers(output, rows, dtype,
                                                                       rng, path):
    last, take = OUTPUTS[output]
    X = rng.normal(size=(rows, 4)).astype(dtype)
    forward = mlp(X, last, take=take)
    shape = forward(params(last, dtype, rng)).shape
    Y = rng.normal(size=shape).astype(dtype)

    def loss(p):
        return ((forward(p) - Y) ** 2).mean()

    x0 = tuple(tg.tensor(a) for a in params(last, dtype, rng))
    compiled, plain = tg.record(loss, x0), tg.record(loss, x0, fuse=False)
    assert isinstance(compiled.program.dense, DenseChain)
    assert compiled.program.dense.compiled == (path == "one call")
    for _ in range(3):
        p = params(last, dtype, rng)
        value, grads = compiled.value_and_grad(p)
        want, want_grads = plain.value_and_grad(p)
        assert type(value) is float and value == pytest.approx(want, rel=RTOL[dtype], abs=0)
        assert_grads_close(grads, want_grads, RTOL[dtype])
        assert all(g.flags.c_contiguous for g in grads)
        (value, grads), (want, want_grads) = (r.vjp(p, np.array([2.5])) for r in (compiled, plain))
        assert value == pytest.approx(want, rel=RTOL[dtype], abs=0)
        assert_grads_close(grads, want_grads, RTOL[dtype])


def test_gradients_handed_back_are_the_callers(rng):
    """A gradient is a fresh array, never a view of the chain's buffers
    (a one-row weight's, transposed back, would be contiguous as a view)."""
    X, y = rng.normal(size=(5, 4)), rng.normal(size=5)
    rec = tg.record(lambda p: ((mlp(X, None)(p)[:, 0] - y) ** 2).sum(),
                    tuple(tg.tensor(a) for a in params(((7, 1), (1,)), np.float64, rng)))
    p = params(((7, 1), (1,)), np.float64, rng)
    _, first = rec.value_and_grad(p)
    kept = [g.copy() for g in first]
    rec.value_and_grad(params(((7, 1), (1,)), np.float64, rng))
    for g, k in zip(first, kept):
        np.testing.assert_array_equal(g, k)


@pytest.mark.parametrize("output", ["matrix", "vector", "column_taken"])
def test_the_gradient_is_that_of_central_differences(output, rng):
    last, take = OUTPUTS[output]
    X = rng.normal(size=(6, 4))
    forward = mlp(X, last, between=tg.sigmoid, take=take)
    Y = rng.normal(size=forward(params(last, np.float64, rng)).shape)
    rec = tg.record(lambda p: tg.log1p((forward(p) - Y) ** 2).mean(),
                    tuple(tg.tensor(a) for a in params(last, np.float64, rng)))
    assert rec.program.dense is not None
    assert_central_differences(rec, params(last, np.float64, rng))


def test_layers_without_activations_and_three_layers(rng):
    X, y = rng.normal(size=(8, 3)), rng.normal(size=8)

    def loss(p):
        h = tg.relu(X @ p[0] + p[1]) @ p[2]  # a layer with no bias, then none between
        return np.abs((h @ p[3] + p[4]) - y).mean()

    shapes = [(3, 5), (5,), (5, 6), (6,), ()]
    x0 = tuple(tg.tensor(rng.normal(size=s)) for s in shapes)
    compiled, plain = tg.record(loss, x0), tg.record(loss, x0, fuse=False)
    assert [type(s).__name__ for s in compiled.program.dense.stages] == [
        "Layer", "tuple", "Layer", "Layer"]
    p = tuple(rng.normal(size=s) for s in shapes)
    assert_same_answers(compiled, plain, p, 1e-13)


def test_a_square_weight_is_not_taken_the_other_way_round(rng):
    """``x @ W`` with ``W`` square: its transpose gives other answers, so
    the layout must be right (the shapes cannot tell)."""
    X, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    x0 = (tg.tensor(rng.normal(size=(4, 4))), tg.tensor(rng.normal(size=4)))

    def loss(p):
        return ((np.tanh(X @ p[0] + p[1]) - y) ** 2).sum()

    compiled, plain = tg.record(loss, x0), tg.record(loss, x0, fuse=False)
    assert compiled.program.dense is not None
    p = (rng.normal(size=(4, 4)), rng.normal(size=4))
    assert_same_answers(compiled, plain, p, 1e-13)


def test_a_training_step_of_a_model_written_with_matmul_trains_as_eager(rng):
    """record_loss of a function whose parameters are Tensors it reads:
    the same losses as eager steps, the data read afresh."""
    def model_and_optimizer():
        r = np.random.default_rng(7)
        W = tg.tensor(r.uniform(-0.5, 0.5, (4, 8)), requires_grad=True)
        b = tg.tensor(np.zeros(8), requires_grad=True)
        v = tg.tensor(r.uniform(-0.5, 0.5, 8), requires_grad=True)
        c = tg.tensor(np.zeros(()), requires_grad=True)

        def model(X):
            return np.tanh(X @ W + b) @ v + c

        return model, optim.Adam([W, b, v, c], lr=0.01)

    def loss_fn(z, y):
        return ((z - y) ** 2).mean()

    batches = [(rng.normal(size=(16, 4)), rng.normal(size=16)) for _ in range(10)]
    eager, recorded, step = eager_and_recorded_losses(model_and_optimizer, lambda _: loss_fn,
                                                      batches)
    assert step.recorded.program.dense is not None
    np.testing.assert_allclose(recorded, eager, rtol=1e-13, atol=0)


def test_threads_get_their_own_answers(rng):
    last, take = OUTPUTS["vector"]
    X, y = rng.normal(size=(9, 4)), rng.normal(size=9)
    forward = mlp(X, last)

    def loss(p):
        return ((forward(p) - y) ** 2).mean()

    x0 = tuple(tg.tensor(a) for a in params(last, np.float64, rng))
    compiled, plain = tg.record(loss, x0), tg.record(loss, x0, fuse=False)
    assert compiled.program.dense is not None
    assert_threads_agree(compiled, plain, [params(last, np.float64, rng) for _ in range(4)])


def test_a_parameter_of_another_shape_is_refused_and_nothing_changes(rng):
    last, _ = OUTPUTS["vector"]
    X, y = rng.normal(size=(9, 4)), rng.normal(size=9)
    forward = mlp(X, last)
    rec = tg.record(lambda p: ((forward(p) - y) ** 2).mean(),
                    tuple(tg.tensor(a) for a in params(last, np.float64, rng)))
    p = params(last, np.float64, rng)
    want = rec.value_and_grad(p)
    with pytest.raises(ValueError):
        rec.value_and_grad((p[0].T.copy(), *p[1:]))
    value, grads = rec.value_and_grad(p)
    assert value == want[0]
    for g, w in zip(grads, want[1]):
        np.testing.assert_array_equal(g, w)


MATRIX_VECTOR = [(4, 7), (7,), (7,)]
NOT_CHAINS = {  # name -> (parameters' shapes, the loss at X, y)
    # the weight read again, by a regularizer in the loss
    "regularized": (MATRIX_VECTOR, lambda X, y: lambda p: (
        (np.tanh(X @ p[0] + p[1]) @ p[2] - y) ** 2).mean() + 0.1 * (p[0] * p[0]).sum()),
    # the product's output read again (a residual)
    "residual": ([(4, 1), (1,)], lambda X, y: lambda p: (
        (((X @ p[0] + p[1]) * (X @ p[0]))[:, 0] - y) ** 2).mean()),
    # the weight on the left
    "weight_first": (MATRIX_VECTOR, lambda X, y: lambda p: (
        (p[2] @ np.tanh(X @ p[0] + p[1]).T - y) ** 2).mean()),
    # a bias of the batch's shape is no bias
    "whole_bias": ([(4, 7), (9, 7), (7,)], lambda X, y: lambda p: (
        (np.tanh(X @ p[0] + p[1]) @ p[2] - y) ** 2).mean()),
    # a second product of the batch
    "two_batches": ([(4, 7), (4, 7), (7,)], lambda X, y: lambda p: (
        (np.tanh(X @ p[0] + X @ p[1]) @ p[2] - y) ** 2).mean()),
}


@pytest.mark.parametrize("name", sorted(NOT_CHAINS))
def test_other_programs_keep_the_sweeps(name, rng):
    X, y = rng.normal(size=(9, 4)), rng.normal(size=9)
    shapes, loss = NOT_CHAINS[name]
    loss = loss(X, y)
    x0 = tuple(tg.tensor(rng.normal(size=s)) for s in shapes)
    compiled, plain = tg.record(loss, x0), tg.record(loss, x0, fuse=False)
    assert compiled.program.dense is None
    p = tuple(rng.normal(size=s) for s in shapes)
    assert_same_answers(compiled, plain, p, 1e-13, grad_rtol=1e-12)


def test_a_product_the_one_kernel_takes_stays_there(rng):
    """``X @ w`` under a squared error, which both could replay, stays the
    whole-program kernel's (bit for bit with the sweeps)."""
    X, y = rng.normal(size=(20, 5)), rng.normal(size=20)
    rec = tg.record(lambda p: ((X @ p[0] - y) ** 2).mean(), (tg.tensor(np.zeros(5)),))
    assert isinstance(rec.program.schedule, WholeProgram) and rec.program.dense is None


@pytest.mark.parametrize("loss", [
    lambda z, y: np.sum((z - y) ** 2) / len(y),
    lambda z, y: np.sqrt(np.mean((z - y) ** 2)),
])
def test_a_loss_with_records_after_its_sum(loss, rng, path):
    last, _ = OUTPUTS["vector"]
    X, y = rng.normal(size=(11, 4)), rng.normal(size=11)
    forward = mlp(X, last)
    x0 = tuple(tg.tensor(a) for a in params(last, np.float64, rng))
    compiled = tg.record(lambda p: loss(forward(p), y), x0)
    plain = tg.record(lambda p: loss(forward(p), y), x0, fuse=False)
    assert compiled.program.dense.head.after
    p = params(last, np.float64, rng)
    assert_same_answers(compiled, plain, p, 1e-13)


ACTIVATIONS = {  # an activation of the layer's output and a number, as NumPy code writes one
    "relu_by_maximum": lambda h: np.maximum(h, 0),
    "relu_number_first": lambda h: np.maximum(0.0, h),
    "scaled": lambda h: h * 0.5,
    "flipped": lambda h: 1.5 - h,
    "clipped_below": lambda h: np.fmax(h, -0.25),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_an_activation_with_a_number_is_a_stage(activation, dtype, rng, path):
    last, _ = OUTPUTS["vector"]
    X = rng.normal(size=(9, 4)).astype(dtype)
    y = rng.normal(size=9).astype(dtype)
    forward = mlp(X, last, between=ACTIVATIONS[activation])

    def loss(p):
        return ((forward(p) - y) ** 2).mean()

    x0 = tuple(tg.tensor(a) for a in params(last, dtype, rng))
    compiled, plain = tg.record(loss, x0), tg.record(loss, x0, fuse=False)
    assert compiled.program.dense is not None
    assert [s[5] is not None for s in compiled.program.dense.stages if len(s) == 6] == [True]
    for _ in range(2):
        p = params(last, dtype, rng)
        assert_same_answers(compiled, plain, p, RTOL[dtype])


def test_an_activation_with_data_keeps_the_sweeps(rng):
    """A 0-d array beside the layer's output may be record_loss's data (read
    afresh at each call): it is no literal of the kernel's."""
    X, y = rng.normal(size=(9, 4)), rng.normal(size=9)
    forward = mlp(X, OUTPUTS["vector"][0], between=lambda h: np.maximum(h, np.array(0.0)))
    rec = tg.record(lambda p: ((forward(p) - y) ** 2).mean(),
                    tuple(tg.tensor(a) for a in params(OUTPUTS["vector"][0], np.float64, rng)))
    assert rec.program.dense is None


def assert_steps_as_eager(make, loss_fn, rng, steps=3):
    """``record_loss`` of ``make()``'s model under ``loss_fn`` gives an eager
    twin's losses and gradients over ``steps`` steps of plain SGD (so the
    parameters move), on a batch of 8 rows of 3 features and 2 classes."""
    model, twin = make(), make()
    X, y = rng.normal(size=(8, 3)), rng.integers(0, 2, 8)
    step = nn.record_loss(model, loss_fn, X, y)
    assert step.recorded.program.dense is not None
    for _ in range(steps):
        model.zero_grad(), twin.zero_grad()
        value = step(X, y).item()
        eager = loss_fn(twin(X), y)
        eager.backward()
        assert value == pytest.approx(eager.item(), rel=1e-14)
        for p, q in zip(model.parameters(), twin.parameters()):
            np.testing.assert_allclose(p.grad, q.grad, rtol=1e-13, atol=1e-15)
        for p, q in zip(model.parameters(), twin.parameters()):
            p._v, q._v = p._v - 0.1 * p.grad, q._v - 0.1 * q.grad


def test_scaled_logits_under_a_cross_entropy_train_as_eager(rng):
    """``F.cross_entropy(z * 0.5, y)``: the scaling is a stage of the chain."""
    assert_steps_as_eager(
        lambda: nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 2, rng=1)),
        lambda z, y: nn.functional.cross_entropy(z * 0.5, y), rng)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("turn", [lambda w: w.T, np.transpose], ids=["dot_T", "np_transpose"])
def test_weights_kept_as_pytorch_keeps_them(turn, dtype, rng, path):
    """``x @ W.T + b`` with ``W`` of shape (outputs, inputs); a square one
    too, whose orientation the shapes cannot tell."""
    X = rng.normal(size=(7, 4)).astype(dtype)
    Y = rng.normal(size=(7, 3)).astype(dtype)
    shapes = [(4, 4), (4,), (3, 4), (3,)]

    def loss(p):
        h = np.tanh(X @ turn(p[0]) + p[1])
        return ((h @ turn(p[2]) + p[3] - Y) ** 2).mean()

    x0 = tuple(tg.tensor(rng.normal(size=s).astype(dtype)) for s in shapes)
    compiled, plain = tg.record(loss, x0), tg.record(loss, x0, fuse=False)
    assert [s.transposed for s in compiled.program.dense.stages if len(s) > 6] == [False, False]
    p = tuple(rng.normal(size=s).astype(dtype) for s in shapes)
    assert_same_answers(compiled, plain, p, RTOL[dtype])


def test_linear_layers_without_a_bias_train_as_eager(rng):
    """``nn.Linear(..., bias=False)`` records ``x @ w.T``: a layer of the chain."""
    assert_steps_as_eager(
        lambda: nn.Sequential(nn.Linear(3, 5, bias=False, rng=0), nn.ReLU(),
                              nn.Linear(5, 2, rng=1)),
        nn.CrossEntropyLoss(), rng)
