"""The array fast paths agree with the general ones: the generated row
kernels, buffers the reverse sweep adds into, the recycled arena, and the
fused cross_entropy kernel."""

import gc

import numpy as np
import pytest

import tapegrad as tg
from conftest import FD_ATOL, FD_RTOL, assert_close
from tapegrad.kernels import array_rules as _elementwise
from tapegrad.core import arena
from tapegrad.array.ops import elementwise, elementwise_vjp, layout, operand_2d
from tapegrad.array.rows import common_vjp, row_layout, rows_value, rows_vjp
from tapegrad.ops import OPS

BINARY = [op for op in OPS.values() if op.arity == 2 and op.differentiable]
UNARY = [op for op in OPS.values() if op.arity == 1 and op.differentiable]
# Row layouts: same shape, an array and a number, a bias row, a (1, C) row.
ROW_SHAPES = [((3, 4), (3, 4)), ((3, 4), ()), ((), (3, 4)), ((2, 3, 4), (4,)),
              ((3, 4), (1, 4)), ((5,), (1,))]
DTYPES = [np.float64, np.float32]


def sample(op, shape, rng, slot, dtype):
    lo, hi = op.domain[slot]
    return rng.uniform(lo, hi, shape).astype(dtype)


def general_value(name, x, y, dtype):
    """The general (strided) kernel on the same operands."""
    full = np.broadcast_shapes(np.shape(x), np.shape(y))
    R, C, ((sx, xr, xc, cx), (sy, yr, yc, cy)) = layout([np.shape(x), np.shape(y)], full)
    out = np.empty((R, C), dtype)
    getattr(_elementwise, f"{name}_each")(operand_2d(x, sx, cx, full, dtype),
                                          operand_2d(y, sy, cy, full, dtype), out, xr, xc, yr, yc)
    return out.reshape(full)


def general_vjp(name, g, out, x, y, dtype):
    full = out.shape
    R, C, ((sx, xr, xc, cx), (sy, yr, yc, cy)) = layout([np.shape(x), np.shape(y)], full)
    gx, gy = np.zeros(sx, dtype), np.zeros(sy, dtype)
    getattr(_elementwise, f"{name}_vjp_each")(
        operand_2d(x, sx, cx, full, dtype), operand_2d(y, sy, cy, full, dtype), out.reshape(R, C),
        np.ascontiguousarray(g, dtype).reshape(R, C), gx, gy, xr, xc, yr, yc, True, True)
    assert not (cx or cy)  # the row layouts fit the general kernel's 2-D split too
    return gx.reshape(np.shape(x)), gy.reshape(np.shape(y))


SPECIAL = [0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 1e-300, 3e38]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("op", BINARY, ids=lambda o: o.name)
def test_the_common_operands_skip_the_layouts_and_keep_the_bits(op, dtype, rng):
    """Two arrays of one shape, an array and a Python float (either side), an
    array and a 0-d array: elementwise's shortcut gives the row path's bits
    (the same kernel on the same operands), special values included."""
    x = np.concatenate([sample(op, 7, rng, 0, dtype), np.array(SPECIAL, dtype)]).reshape(4, 4)
    y = np.concatenate([sample(op, 7, rng, 1, dtype), np.array(SPECIAL[::-1], dtype)])
    y = y.reshape(4, 4)
    bits = {np.float64: np.uint64, np.float32: np.uint32}[dtype]
    with np.errstate(all="ignore"):
        for a, b in [(x, y), (x, 0.75), (-1.5, y), (x, y[1, 2].copy()[()]),
                     (x, np.array(-0.0, dtype)), (x, float("nan"))]:
            ours = elementwise(op.name, [a, b])
            full = np.broadcast_shapes(np.shape(a), np.shape(b))
            rows = row_layout([np.shape(a), np.shape(b)], full)
            want = rows_value(op.name, [a, b], rows, np.result_type(a, b)).reshape(full)
            assert ours.dtype == want.dtype and ours.shape == want.shape
            np.testing.assert_array_equal(ours.view(bits), want.view(bits))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("op", BINARY, ids=lambda o: o.name)
def test_the_common_operands_vjp_keeps_the_bits(op, dtype, rng):
    """The VJP's shortcut (two arrays of the output's shape, or one and a
    Python float) gives the row path's bits, stored into new buffers or
    added into the sweep's own."""
    x = np.concatenate([sample(op, 7, rng, 0, dtype), np.array(SPECIAL, dtype)]).reshape(4, 4)
    y = np.concatenate([sample(op, 7, rng, 1, dtype), np.array(SPECIAL[::-1], dtype)])
    y = y.reshape(4, 4)
    g = rng.uniform(-2, 2, (4, 4)).astype(dtype)
    g[0, :3] = [0.0, -0.0, np.inf]
    bits = {np.float64: np.uint64, np.float32: np.uint32}[dtype]
    with np.errstate(all="ignore"):
        for args, wants in [((x, y), (True, True)), ((x, y), (False, True)),
                            ((x, 0.75), (True, False)), ((-1.5, y), (False, True))]:
            out = elementwise(op.name, list(args))
            held = [rng.uniform(-1, 1, (4, 4)).astype(dtype) if w else None for w in wants]
            for into in (None, [None if h is None else h.copy() for h in held]):
                ours = common_vjp(op.name, g, out, list(args), list(wants), into, np.empty)
                twin = None if into is None else [None if h is None else h.copy() for h in held]
                want = rows_vjp(op.name, g, out, list(args),
                                row_layout([np.shape(a) for a in args], out.shape),
                                list(wants), twin, np.empty)
                for a, b in zip(ours, want):
                    assert (a is None) == (b is None)
                    if a is not None:
                        np.testing.assert_array_equal(a.view(bits), b.view(bits))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("op", UNARY, ids=lambda o: o.name)
def test_the_common_operand_vjp_of_a_unary_op_keeps_the_bits(op, dtype, rng):
    x = sample(op, (3, 5), rng, 0, dtype)
    g = rng.uniform(-2, 2, (3, 5)).astype(dtype)
    g[0, :2] = [0.0, -0.0]
    bits = {np.float64: np.uint64, np.float32: np.uint32}[dtype]
    with np.errstate(all="ignore"):
        out = elementwise(op.name, [x])
        held = rng.uniform(-1, 1, (3, 5)).astype(dtype)
        for into in (None, [held]):
            ours = common_vjp(op.name, g, out, [x], [True], into and [held.copy()], np.empty)
            want = rows_vjp(op.name, g, out, [x], row_layout([x.shape], out.shape), [True],
                            into and [held.copy()], np.empty)
            np.testing.assert_array_equal(ours[0].view(bits), want[0].view(bits))


def test_row_layout_takes_the_common_shapes_and_leaves_the_rest():
    assert row_layout([(3, 4), (3, 4)], (3, 4)) == (1, 12, ["full", "full"])
    assert row_layout([(3, 4), ()], (3, 4)) == (1, 12, ["full", "scalar"])
    assert row_layout([(2, 3, 4), (4,)], (2, 3, 4)) == (6, 4, ["full", "row"])
    assert row_layout([(2, 3, 4), (3, 4)], (2, 3, 4)) == (2, 12, ["full", "row"])
    assert row_layout([(3, 1), (1, 4)], (3, 4)) is None  # a column
    assert row_layout([(2, 3, 4), (3, 1)], (2, 3, 4)) is None
    assert row_layout([(0, 4), (4,)], (0, 4)) is None  # empty: the general path


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shapes", ROW_SHAPES, ids=str)
@pytest.mark.parametrize("op", BINARY, ids=lambda o: o.name)
def test_row_kernels_agree_with_the_general_ones(op, shapes, dtype, rng):
    x, y = sample(op, shapes[0], rng, 0, dtype), sample(op, shapes[1], rng, 1, dtype)
    assert row_layout([x.shape, y.shape], np.broadcast_shapes(x.shape, y.shape)) is not None
    out = elementwise(op.name, [x, y])
    reference = general_value(op.name, x, y, dtype)
    assert out.dtype == dtype and out.tolist() == reference.tolist()  # bit for bit
    g = rng.uniform(-1, 1, out.shape).astype(dtype)
    g.flat[0] = 0.0  # a zero adjoint contributes nothing
    gx, gy = elementwise_vjp(op.name, g, out, [x, y], [True, True])
    rx, ry = general_vjp(op.name, g, out, x, y, dtype)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert gx.shape == x.shape and gy.shape == y.shape
    assert_close(gx, rx.reshape(x.shape), rtol, 1e-6, f"{op.name} d/dx")
    assert_close(gy, ry.reshape(y.shape), rtol, 1e-6, f"{op.name} d/dy")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shapes", ROW_SHAPES, ids=str)
@pytest.mark.parametrize("op", BINARY, ids=lambda o: o.name)
def test_row_vjp_adds_into_the_buffer_it_is_given(op, shapes, dtype, rng):
    x, y = sample(op, shapes[0], rng, 0, dtype), sample(op, shapes[1], rng, 1, dtype)
    out = elementwise(op.name, [x, y])
    g = rng.uniform(-1, 1, out.shape).astype(dtype)
    fresh = elementwise_vjp(op.name, g, out, [x, y], [True, True])
    held = [np.full(np.shape(a), 0.5, dtype) for a in (x, y)]
    grads = elementwise_vjp(op.name, g, out, [x, y], [True, True], into=held)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for grad, buffer, first in zip(grads, held, fresh):
        assert_close(grad, first + dtype(0.5), rtol, 1e-6)
        if buffer.shape == out.shape:
            assert grad is buffer  # added in place, no new array


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("op", UNARY, ids=lambda o: o.name)
def test_unary_row_vjp_against_finite_differences(op, dtype, rng):
    x = sample(op, (3, 4), rng, 0, np.float64)
    t = tg.tensor(x.astype(dtype), requires_grad=True)
    weights = rng.uniform(-1, 1, x.shape)
    (getattr(t, op.name)() * weights.astype(dtype)).sum().backward()
    assert t.grad.dtype == dtype
    fd = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[k] += 1e-6
        down[k] -= 1e-6
        fd[k] = ((np.vectorize(op.value)(up) - np.vectorize(op.value)(down)) * weights).sum() / 2e-6
    if dtype == np.float64:
        assert_close(t.grad, fd, FD_RTOL, FD_ATOL)
    else:
        assert_close(t.grad, fd, 1e-3, 1e-3)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_an_array_used_many_times_accumulates_its_adjoint(dtype, rng):
    x = rng.uniform(0.5, 2.0, (4, 3))
    b = rng.uniform(-1, 1, 3)
    t = tg.tensor(x.astype(dtype), requires_grad=True)
    tb = tg.tensor(b.astype(dtype), requires_grad=True)
    u = t * t + t
    loss = (u * t + (u - tb) * 2.0 + t / (u + tb)).sum()
    loss.backward()
    dx = 3 * x ** 2 + 2 * x + 2 * (2 * x + 1) + ((x ** 2 + x + b) - x * (2 * x + 1)) / (x ** 2 + x + b) ** 2
    db = -2.0 * np.ones_like(x) - x / (x ** 2 + x + b) ** 2
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert_close(t.grad, dx, rtol, 1e-5)
    assert_close(tb.grad, db.sum(axis=0), rtol, 1e-5)


def test_an_adjoint_summed_from_transposed_views_is_not_reused_as_a_buffer(rng):
    # Two transposes' gradients of p are transposed (Fortran-ordered) views;
    # their sum is too, and once p's VJP has read it, it must not be handed
    # to sin's VJP as a C-ordered buffer (the kernel would write a copy).
    x = rng.uniform(-1, 1, (4, 5))
    t = tg.tensor(x, requires_grad=True)
    p = tg.sin(t) * 0.5
    ((p.T * 3.0).T * (p.T * 2.0).T).sum().backward()
    assert_close(t.grad, 6.0 * 2 * (0.5 * np.sin(x)) * 0.5 * np.cos(x), 1e-13)


def test_a_dead_recording_gives_its_arrays_back_unless_someone_holds_them():
    arena.clear()
    x = tg.tensor(np.ones((64, 64)), requires_grad=True)
    y = x * 2.0
    kept = y.value  # a user's reference: never reused
    (y * 3.0).sum().backward()
    del y
    gc.collect()
    for _ in range(4):
        fresh = arena.empty((64, 64), np.float64)
        assert not np.shares_memory(fresh, kept)
    assert kept.tolist() == np.full((64, 64), 2.0).tolist()
    z = tg.tensor(np.ones(10000), requires_grad=True)
    (z * 2.0).sum().backward()  # the recording dies here
    gc.collect()
    assert any(n == 10000 for n, _ in arena._spare)
    assert z.grad.tolist() == [2.0] * 10000


def test_a_recording_gives_back_a_large_array_recorded_after_small_ones():
    arena.clear()
    small = tg.tensor(np.ones(10), requires_grad=True) * 2.0
    large = small.sum() * tg.tensor(np.ones(10000), requires_grad=True)
    address = large.value.ctypes.data
    del large, small  # the recording dies with `small`, which does not hold the array
    gc.collect()
    assert [a.ctypes.data for stack in arena._spare.values() for a in stack] == [address]


def test_a_reset_tape_gives_back_only_what_nothing_holds():
    arena.clear()
    tape = tg.Tape()
    x = tg.tensor(np.arange(10000.0), requires_grad=True)
    with tape:
        y = x * 2.0
    value = y.value
    tape.reset()
    assert not arena._spare  # `y` (and `value`) still hold it
    assert value.tolist() == (np.arange(10000.0) * 2.0).tolist()


def test_the_arena_keeps_at_most_its_limit(monkeypatch):
    arena.clear()
    monkeypatch.setattr(arena, "LIMIT", 100_000)
    arena.give_back([np.empty(10_000), np.empty(10_000)])  # 80,000 bytes each
    assert arena._held == 80_000


def test_small_arrays_skip_the_arena():
    arena.clear()
    arena.give_back([np.empty(100)])  # 800 bytes: malloc keeps such blocks itself
    assert arena._held == 0 and not arena._spare


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_cross_entropy_kernel_matches_the_numpy_formula(dtype, rng):
    logits = rng.normal(size=(50, 4)).astype(dtype) * 10
    labels = rng.integers(0, 4, 50)
    t = tg.tensor(logits, requires_grad=True)
    loss = tg.cross_entropy(t, labels)
    z = logits.astype(np.float64)
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    expected = np.mean(lse - z[np.arange(50), labels])
    rtol = 1e-13 if dtype == np.float64 else 1e-5
    assert loss.dtype == dtype
    assert_close(loss.item(), expected, rtol)
    loss.backward()
    grad = np.exp(z - lse[:, None])
    grad[np.arange(50), labels] -= 1.0
    assert_close(t.grad, grad / 50, rtol, 1e-7)


def test_cross_entropy_propagates_nan_and_inf_as_numpy():
    logits = np.array([[np.nan, 0.0], [np.inf, 0.0], [-np.inf, 0.0], [1.0, 2.0]])
    t = tg.tensor(logits, requires_grad=True)
    loss = tg.cross_entropy(t, np.array([0, 1, 1, 0]))
    assert np.isnan(loss.item())
    finite = tg.cross_entropy(tg.tensor(logits[2:]), np.array([1, 0]))
    assert_close(finite.item(), (0.0 + (np.log(np.exp(-1.0) + 1.0) + 1.0)) / 2, 1e-15)
