"""The straight-line kernel (tapegrad.replay.straight): which programs it
takes, that it gives the step-by-step replay's values and gradients (the
same program recorded twice, the kernel taken from one: to rounding, as
gradient terms are added in another order), central differences' and
eager's; data read afresh; threads; what it leaves to the step-by-step
replay."""

import threading

import numba
import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.replay import straight as straight_line

from conftest import (FD_ATOL, FD_RTOL, assert_close, central_difference,
                      eager_and_recorded_losses)

READY = straight_line.StraightLine.ready


@pytest.fixture(autouse=True)
def compile_at_once(monkeypatch):
    """Kernels compiled at a program's first call, not after a second of
    step-by-step replays (and run as plain Python without the JIT)."""
    monkeypatch.setattr(straight_line.StraightLine, "ready", lambda self: bool(self.kernel()))


ROWS = np.random.default_rng(5).normal(size=(6, 4))
LABELS = np.eye(3)[[0, 2, 1, 1, 0, 2]]


def softmax_entropy(x):
    e = np.exp(x - x.max())
    p = e / e.sum()
    return (p * np.log(p)).sum()


def normalised_cube(x):
    return (((x - x.mean(0)) / x.std(0)) ** 3).sum()


def logsumexp_rows(x):
    m = x.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))).mean()


def cross_entropy_by_hand(p):
    W, b, V = p
    z = np.tanh(ROWS.astype(W.dtype) @ W + b) @ V
    m = np.max(z, axis=-1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))
    return -(LABELS.astype(W.dtype) * (z - lse)).sum() / 6


def product_of_inputs(p):
    a, b = p
    return np.tanh(a @ b).sum()


def column_extrema(x):
    return x.max(axis=0).sum() - 2.0 * np.min(x, axis=0, keepdims=True).mean()


def row_means(x):
    return (np.mean(x * x, axis=-1) ** 2).sum() + x.min()


def gram(x):
    return (x.T @ x).max() * 0.5


def layers_with_a_regulariser(p):
    """PyTorch-layout layers (``F.linear``, ``h @ W.T``), a reshape, and a
    penalty on a weight: no dense chain takes it."""
    W1, b1, W2 = p
    h = np.tanh(nn.functional.linear(tg.tensor(ROWS.astype(W1.dtype)), W1, b1))
    z = (h @ W2.T).reshape(-1)
    return (z * z).mean() + 0.01 * (W1 * W1).sum()


def cross_entropy_with_a_penalty(p):
    """The cross entropy op (``F.cross_entropy``) over a layer, and a
    penalty on its weight: no dense chain takes it."""
    W, b, V = p
    z = np.tanh(nn.functional.linear(tg.tensor(ROWS.astype(W.dtype)), W, b)) @ V
    return nn.functional.cross_entropy(z, np.array([0, 2, 1, 1, 0, 2])) + 0.01 * (W * W).sum()


def turned_products(p):
    """Transposes only products read (BLAS reads them as they lie), one of
    them read twice."""
    a, b, c = p
    return np.tanh(a.T @ b.T).sum() + (a.T @ c).max()


def a_transpose_also_squared(p):
    """A transpose a product and an elementwise record read: copied."""
    x, w = p
    t = w.T
    return np.tanh(x @ t).sum() + (t * t).max()


def slices(x):
    """Basic slices and integers: differences, reversed columns, rows."""
    d = x[1:, :] - x[:-1, :]
    return (d * x[1:, ::-1]).max(axis=1).sum() + (x[0] * x[-1, 1:2]).sum()


def slices_of_three_dimensions(x):
    return (x[:, 1:, ::2] * x[1, :2, 1:3]).max() + np.tanh(x[0, :, 0]).sum()


def selections(x):
    """``np.where`` on comparisons (masks recomputed at each call), a
    ``maximum``, an ``abs``."""
    leaky = np.where(x > 0, x, 0.1 * x)
    inside = np.where(x < 1.2, np.where(x > -0.5, x * x, 0.0), np.abs(x))
    return (leaky @ inside.T).max() + np.maximum(x, 0.7).sum()


def op_steps(p):
    """Ops the kernel leaves to their own rules, between its parts: a
    ``log_softmax``, a fancy index, a ``concatenate``, a sum over a middle
    axis, a batched product, a ``logsumexp`` (and a ``cumsum``, which the
    kernel runs by its compiled rules)."""
    x, w = p
    z = nn.functional.log_softmax(x @ w, dim=1)
    picked = z[[0, 2, 1], [1, 0, 2]]
    joined = np.concatenate([np.cumsum(x, axis=0), z], axis=1)
    cube = (joined.reshape(3, 2, 3) * 0.5).sum(axis=1)
    batched = np.matmul(np.stack([x, x * 2.0]), w)
    return picked.sum() + (cube * cube).max() + tg.logsumexp(batched, axis=2).mean()


def running_sums(x):
    """``cumsum`` along each axis of a 3-D input and flattened: its
    compiled rules, called by the kernel."""
    flat = np.cumsum(x)
    return sum((np.cumsum(x, axis=a) ** 2).max() for a in range(3)) + (flat * flat[::-1]).sum()


def elements_and_numbers(x):
    """Elements of the input (numbers of the scalar tape), ops of those
    numbers, and numbers among arrays: lines of the kernel (float64 only)."""
    scale = x[0, 1] * 2.0 + 1.0
    return ((x * scale).sum() + np.exp(x[1, 2]) - 3.0 / x[-1, -1] + x.max() * x[0, 0]
            + np.tanh(x[2, 0] * x[1, 1]) ** 2)


def numbers_between_arrays(x):
    """A reduction's number into an op of numbers, and back into arrays."""
    top = x.max() * x[2] - x[0] * np.sin(x[1])
    return (np.exp(x - top) * x[3]).sum()


def scaled_by_a_number_array(p):
    """A 0-d input."""
    s, x = p
    return (s * np.exp(x)).sum() + s * s


PROGRAMS = {  # name -> (f, input shapes)
    "softmax_entropy": (softmax_entropy, [(7,)]),
    "normalised_cube": (normalised_cube, [(6, 4)]),
    "logsumexp_rows": (logsumexp_rows, [(5, 3)]),
    "cross_entropy_by_hand": (cross_entropy_by_hand, [(4, 5), (5,), (5, 3)]),
    "product_of_inputs": (product_of_inputs, [(3, 4), (4, 2)]),
    "column_extrema": (column_extrema, [(5, 3)]),
    "row_means": (row_means, [(2, 3, 4)]),
    "gram": (gram, [(4, 3)]),
    "layers_with_a_regulariser": (layers_with_a_regulariser, [(5, 4), (5,), (2, 5)]),
    "cross_entropy_with_a_penalty": (cross_entropy_with_a_penalty, [(5, 4), (5,), (5, 3)]),
    "turned_products": (turned_products, [(4, 3), (2, 4), (4, 2)]),
    "a_transpose_also_squared": (a_transpose_also_squared, [(3, 4), (2, 4)]),
    "scaled_by_a_number_array": (scaled_by_a_number_array, [(), (5,)]),
    "slices": (slices, [(4, 5)]),
    "selections": (selections, [(3, 4)]),
    "op_steps": (op_steps, [(3, 3), (3, 3)]),
    "an_op_on_a_reshaped_input": (lambda x: (np.cumsum(x.reshape(2, 6), axis=1) ** 2).max(),
                                  [(3, 4)]),
    "slices_of_three_dimensions": (slices_of_three_dimensions, [(2, 3, 4)]),
    "running_sums": (running_sums, [(2, 3, 4)]),
    "elements_and_numbers": (elements_and_numbers, [(3, 4)]),
    "numbers_between_arrays": (numbers_between_arrays, [(5,)]),
}
WITH_NUMBERS = {"elements_and_numbers", "numbers_between_arrays"}  # (the scalar tape's: float64)
RTOL = {np.float64: 1e-13, np.float32: 1e-5}


def point(shapes, dtype, rng):
    arrays = tuple(rng.uniform(0.2, 1.5, s).astype(dtype) for s in shapes)
    return arrays[0] if len(arrays) == 1 else arrays


def recordings(f, x):
    """``f`` recorded twice at ``x``: replayed by its straight-line kernel,
    and step by step (the same fused groups, one record after another)."""
    x0 = tuple(map(tg.tensor, x)) if isinstance(x, tuple) else tg.tensor(x)
    straight, steps = tg.record(f, x0), tg.record(f, x0)
    assert straight.program.straight is not None
    steps.program.straight = steps.program.quick = None
    return straight, steps


def as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


def assert_bits(ours, theirs):
    for a, b in zip(as_tuple(ours), as_tuple(theirs)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b), np.max(np.abs(a - b))


def assert_grads_close(ours, theirs, rtol):
    """Same dtypes and shapes, each within ``rtol`` of the other's largest entry."""
    for a, b in zip(as_tuple(ours), as_tuple(theirs)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=rtol * max(np.abs(b).max(), 1e-300))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_kernel_gives_the_step_by_step_answers(name, dtype, rng):
    f, shapes = PROGRAMS[name]
    if name in WITH_NUMBERS and dtype == np.float32:  # float32 arrays, float64 numbers
        x = point(shapes, dtype, rng)
        assert tg.record(f, tg.tensor(x)).program.straight is None
        return
    straight, steps = recordings(f, point(shapes, dtype, rng))
    for _ in range(3):
        x = point(shapes, dtype, rng)
        value, grads = straight.value_and_grad(x)
        want, want_grads = steps.value_and_grad(x)
        assert value == pytest.approx(want, rel=RTOL[dtype], abs=0)
        assert_grads_close(grads, want_grads, RTOL[dtype])
        assert straight(x) == value


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_kernel_gives_central_differences_and_eager(name, rng):
    f, shapes = PROGRAMS[name]
    straight, _ = recordings(f, point(shapes, np.float64, rng))
    x = point(shapes, np.float64, rng)
    parts = as_tuple(x)
    value, grads = straight.value_and_grad(x)
    eager = tuple(tg.tensor(a, requires_grad=True) for a in parts)
    out = f(eager if isinstance(x, tuple) else eager[0])
    out.backward()
    assert value == pytest.approx(out.item(), rel=1e-14)
    for g, t in zip(as_tuple(grads), eager):
        np.testing.assert_allclose(g, t.grad, rtol=1e-12, atol=1e-14)
    flat = np.concatenate([a.ravel() for a in parts])

    def at(*v):
        arrays, start = [], 0
        for a in parts:
            arrays.append(np.asarray(v[start:start + a.size]).reshape(a.shape))
            start += a.size
        return straight(tuple(arrays) if isinstance(x, tuple) else arrays[0])

    want = [central_difference(at, flat.tolist(), k) for k in range(len(flat))]
    assert_close(np.concatenate([g.ravel() for g in as_tuple(grads)]), np.array(want),
                 FD_RTOL, FD_ATOL)


def test_a_vjp_seed_scales_the_gradients(rng):
    straight, steps = recordings(softmax_entropy, rng.normal(size=7))
    x = rng.normal(size=7)
    value, grad = straight.program._value_and_vjp(x, np.array([2.5]))
    want, want_grad = steps.program._value_and_vjp(x, np.array([2.5]))
    assert value == want
    assert_bits(grad, want_grad)


def test_a_transpose_only_products_read_is_not_copied(rng):
    """BLAS reads it as it lies; a transpose something else reads is copied."""
    turned = recordings(*point_of("turned_products", rng))[0].program.straight.source
    copied = recordings(*point_of("a_transpose_also_squared", rng))[0].program.straight.source
    assert "transpose_into" not in turned and "add_transposed" not in turned
    assert "transpose_into" in copied and "add_transposed" in copied


def test_other_ops_run_by_their_own_rules_between_the_kernel_parts(rng):
    straight = recordings(*point_of("op_steps", rng))[0].program.straight
    names = sorted(step.op.name for step in straight.op_steps)
    assert names == ["concatenate", "getitem", "log_softmax", "logsumexp", "matmul", "stack",
                     "sum"]
    assert straight.source.count("if part == ") == 2 * len(names) + 2
    assert "running_sums(" in straight.source  # cumsum's own compiled rules


def test_running_sums_are_the_ops_compiled_rules_in_the_kernel(rng):
    straight = recordings(*point_of("running_sums", rng))[0].program.straight
    assert straight.op_steps == []
    assert straight.source.count("running_sums(") == 2 * 4  # forward and VJP, four cumsums


def test_a_program_of_too_many_kernels_or_steps_keeps_the_step_by_step_replay():
    """Numba compiles each group's kernels apart (half a second each)."""
    def f(x, n):
        for k in range(n):
            x = np.tanh(x - x.max() * (0.5 + k))
        return x.sum()

    few = tg.record(lambda x: f(x, 3), tg.tensor(np.ones(3))).program.straight
    assert few.functions == 1 + 2 * 2 * 3  # two groups a round: max() * c, tanh(x - that)
    many = tg.record(lambda x: f(x, 32), tg.tensor(np.ones(3)))
    assert many.program.straight is None

    def flips(x, n):
        for _ in range(n):
            x = np.flip(x)
        return x.max()

    assert tg.record(lambda x: flips(x, 10), tg.tensor(np.ones(3))).program.straight.op_steps
    long = tg.record(lambda x: flips(x, 250), tg.tensor(np.ones(3)))  # op steps, no group
    assert long.program.straight is None


def point_of(name, rng):
    f, shapes = PROGRAMS[name]
    return f, point(shapes, np.float64, rng)


def test_masks_are_chosen_anew_at_each_call(rng):
    """Recorded where every entry is positive, called where some are not."""
    straight, steps = recordings(selections, np.ones((3, 4)))
    for _ in range(3):
        x = rng.normal(size=(3, 4))
        value, grad = straight.value_and_grad(x)
        want, want_grad = steps.value_and_grad(x)
        assert value == pytest.approx(want, rel=1e-13, abs=0)
        assert_grads_close(grad, want_grad, 1e-13)
        eager = tg.tensor(x, requires_grad=True)
        selections(eager).backward()
        np.testing.assert_allclose(grad, eager.grad, rtol=1e-12, atol=1e-14)


def test_ties_share_and_nan_propagates():
    straight, steps = recordings(lambda x: x.max() + x.min(axis=0).sum(), np.ones((3, 2)))
    for x in (np.array([[2.0, 1.0], [2.0, 1.0], [0.5, 1.0]]),
              np.array([[np.nan, 1.0], [2.0, 1.0], [0.5, 1.0]])):
        value, grad = straight.value_and_grad(x)
        want, want_grad = steps.value_and_grad(x)
        assert value == want or (np.isnan(value) and np.isnan(want))
        np.testing.assert_array_equal(grad, want_grad)
    assert straight.value_and_grad(np.array([[2.0, 1.0], [2.0, 1.0], [0.5, 1.0]]))[1][0, 0] == 0.5


def test_an_input_the_output_does_not_read_gets_zeros(rng):
    straight, steps = recordings(lambda p: (p[0] * p[0]).max(), (np.ones(3), np.ones(2)))
    _, grads = straight.value_and_grad((np.arange(3.0), np.ones(2)))
    assert_bits(grads, (np.array([0.0, 0.0, 4.0]), np.zeros(2)))


def test_constant_arrays_are_read_afresh_by_record_loss(rng):
    """record_loss's batch and labels are constants of the tape: the kernel
    reads them at every call, and trains as eager steps do."""
    def make():
        r = np.random.default_rng(3)
        W = tg.tensor(r.uniform(-0.5, 0.5, (4, 3)), requires_grad=True)
        return W, optim.Adam([W], lr=0.05)

    def model_of(W):
        return lambda X: X @ W

    def loss_fn(z, y):
        m = z.max(axis=1, keepdims=True)
        return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)) - (z * y).sum(
            axis=1, keepdims=True)).mean()

    batches = [(rng.normal(size=(8, 4)), np.eye(3)[rng.integers(0, 3, 8)]) for _ in range(6)]
    W, opt = make()
    eager = []
    for X, y in batches:
        opt.zero_grad()
        loss = loss_fn(model_of(W)(tg.tensor(X)), y)
        loss.backward()
        opt.step()
        eager.append((loss.item(), W.grad.copy()))
    W, opt = make()
    step = nn.record_loss(model_of(W), loss_fn, *batches[0])
    assert step.recorded.program.straight is not None
    for (X, y), (loss, grad) in zip(batches, eager):
        opt.zero_grad()
        assert float(step(X, y)) == pytest.approx(loss, rel=1e-13)
        np.testing.assert_allclose(W.grad, grad, rtol=1e-12, atol=1e-15)
        opt.step()


@pytest.mark.parametrize("name", ["normalised_cube", "op_steps", "elements_and_numbers"])
def test_threads_get_their_own_answers(name, rng):
    """Each thread its own buffers (and, between the parts, its own params)."""
    f, shapes = PROGRAMS[name]
    straight = recordings(f, point(shapes, np.float64, rng))[0]
    points = [point(shapes, np.float64, rng) for _ in range(4)]
    wants = [straight.value_and_grad(x) for x in points]  # one thread: the same bits
    failures = []

    def worker(x, want):
        for _ in range(50):
            value, grads = straight.value_and_grad(x)
            if value != want[0] or not all(map(np.array_equal, as_tuple(grads),
                                               as_tuple(want[1]))):
                failures.append(x)

    threads = [threading.Thread(target=worker, args=pair) for pair in zip(points, wants)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


@pytest.mark.parametrize("name", ["softmax_entropy", "op_steps", "elements_and_numbers"])
def test_an_input_of_another_shape_is_refused_and_loses_nothing(name, rng):
    f, shapes = PROGRAMS[name]
    straight, _ = recordings(f, point(shapes, np.float64, rng))
    x = point(shapes, np.float64, rng)
    before = straight.value_and_grad(x)
    wrong = tuple(np.ones((s[0] + 1, *s[1:])) for s in shapes)
    with pytest.raises(ValueError):
        straight.value_and_grad(wrong[0] if len(wrong) == 1 else wrong)
    value, grads = straight.value_and_grad(x)
    assert value == before[0]
    assert all(map(np.array_equal, as_tuple(grads), as_tuple(before[1])))


@pytest.mark.parametrize("f, x", [
    (lambda x: (x > 0).sum() + x.max(), np.ones(3)),                    # a mask summed
    (lambda x: x.max(axis=0) * 2.0, np.ones((2, 3))),                   # not one number
    (lambda p: (p[0] * p[1].astype(np.float32)).max(),
     (np.ones(3), np.ones(3, np.float32))),                             # two dtypes
    (lambda x: x.max() if x.sum() > 0 else -x.max(), np.ones(3)),      # a guard
], ids=["mask summed", "vector output", "dtypes",
        "guard"])
def test_other_programs_keep_the_step_by_step_replay(f, x):
    x0 = tuple(map(tg.tensor, x)) if isinstance(x, tuple) else tg.tensor(x)
    rec = tg.record(f, x0)
    assert rec.program.straight is None


def test_debug_mode_replays_step_by_step(rng):
    straight, _ = recordings(softmax_entropy, rng.normal(size=7))
    with tg.debug_mode():
        with pytest.raises(FloatingPointError):
            straight.value_and_grad(np.array([0.0, np.inf, 1.0, 2.0, 3.0, 4.0, 5.0]))


def test_a_kernel_compiles_once_the_replays_have_cost_as_much(monkeypatch, rng):
    """Not in the disk cache: the step-by-step replay until it has cost
    COMPILE_AFTER_S, then the kernel; in the cache: the kernel at once."""
    monkeypatch.setattr(straight_line.StraightLine, "ready", READY)
    monkeypatch.setattr(straight_line, "COMPILE_AFTER_S", 1e9)
    number = float(np.random.default_rng().uniform(1.0, 2.0))  # a kernel not on disk

    def f(x):
        return (np.exp(x - x.max()) * number).sum()

    first = tg.record(f, tg.tensor(np.zeros(4)))
    x = rng.normal(size=4)
    want = first.value_and_grad(x)
    assert first.program.straight._kernel is None and first.program.straight.spent > 0
    first.program.straight.spent = 1e9 * first.program.straight.functions
    value, grad = first.value_and_grad(x)
    assert value == pytest.approx(want[0], rel=1e-15)
    np.testing.assert_allclose(grad, want[1], rtol=1e-15)
    if numba.config.DISABLE_JIT:
        assert first.program.straight._kernel is None  # plain Python: never
        return
    assert first.program.straight._kernel is not None
    again = tg.record(f, tg.tensor(np.zeros(4)))
    again.value_and_grad(x)
    assert again.program.straight._kernel is not None


def test_a_kernel_compiled_in_memory_gives_the_same_answers(monkeypatch, rng):
    """Without a usable cache directory the kernel is compiled in memory
    (its source then imports what the file's header would)."""
    from tapegrad.fusion import cache

    straight, steps = recordings(normalised_cube, rng.normal(size=(6, 4)))
    monkeypatch.setattr(cache, "_load", lambda source, name, imports:
                        cache._in_memory(source, name, imports))
    monkeypatch.setattr(cache, "_loaded", {})
    x = rng.normal(size=(6, 4))
    value, grad = straight.value_and_grad(x)
    want, want_grad = steps.value_and_grad(x)
    assert straight.program.straight._kernel is not None
    assert value == pytest.approx(want, rel=1e-13)
    assert_grads_close(grad, want_grad, 1e-13)


def test_a_network_under_a_cross_entropy_and_a_penalty_trains_as_eager(rng):
    """``nn.Linear`` layers under ``F.cross_entropy`` plus a weight penalty
    (no dense chain: the penalty reads a weight), recorded by record_loss:
    the kernel reads each batch's labels, and the losses are eager's."""
    def make():
        model = nn.Sequential(nn.Linear(5, 8, rng=0), nn.Tanh(), nn.Linear(8, 3, rng=1))
        return model, optim.SGD(model.parameters(), lr=0.1)

    def loss_of(model):
        weight = model[0].weight
        return lambda z, y: nn.functional.cross_entropy(z, y) + 1e-3 * (weight * weight).sum()

    batches = [(rng.normal(size=(16, 5)), rng.integers(0, 3, 16)) for _ in range(5)]
    eager, recorded, step = eager_and_recorded_losses(make, loss_of, batches)
    assert step.recorded.program.dense is None
    assert step.recorded.program.straight is not None
    np.testing.assert_allclose(recorded, eager, rtol=1e-14, atol=0)
