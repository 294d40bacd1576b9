"""Fused elementwise groups in replayed programs (tapegrad.fusion.plan): the
fused replay gives the unfused replay's values and gradients (which
test_array_replay checks against eager code and central differences), the
groups it forms are convex, and every way a group's value leaves it works."""

import numpy as np
import pytest
from conftest import FD_ATOL, FD_RTOL, FD_STEP, assert_close

import tapegrad as tg
from tapegrad.array.ops import ELEMENTWISE_BY_CODE
from tapegrad.array.reverse import arguments
from tapegrad.errors import BranchChanged
from tapegrad.array.tensor import _ELEMENTWISE

FUSED_RTOL = 1e-12  # same rules, same order of operations: agree to rounding


def _both(f, x0):
    """``(fused, unfused)`` recordings of ``f`` at the tensor ``x0``."""
    fused = tg.record(f, tg.tensor(x0))
    unfused = tg.record(f, tg.tensor(x0), fuse=False)
    assert unfused.fusion is None
    return fused, unfused


def _assert_same(fused, unfused, x, rtol=FUSED_RTOL):
    value, grad = fused.value_and_grad(x)
    value0, grad0 = unfused.value_and_grad(x)
    assert_close(value, value0, rtol, 1e-300, "fused value")
    assert_close(grad, grad0, rtol, 1e-14, "fused gradient")
    assert_close(fused(x), value0, rtol, 1e-300, "fused __call__")
    return grad


def _assert_convex(prog, plan):
    """No record outside a group, between its first and last member, reads
    a member (so the group may run in its last member's place)."""
    for group in plan.groups:
        members = set(group.members)
        for i in prog.array_records:
            if group.members[0] < i < group.members[-1] and i not in members:
                if int(prog.op[i]) == 127:
                    continue
                args, _ = arguments(prog, i)
                assert not members & set(args), (group.members, i)


BINARY = sorted(op.name for op in ELEMENTWISE_BY_CODE.values()
                if op.differentiable and op.arity == 2)
UNARY = sorted(op.name for op in ELEMENTWISE_BY_CODE.values()
               if op.differentiable and op.arity == 1)
#: The second operands of a binary op: a tensor of each broadcast layout, a
#: number (a constant in the record) and a scalar Value (a scalar record).
LAYOUTS = [(3, 4), (4,), (3, 1), (), "number", "value"]
DTYPES = [np.float64, np.float32]


def _operands(domain, flat):
    """One second operand of each layout, read from ``flat`` after 12."""
    start, out = 12, []
    for layout in LAYOUTS:
        if layout == "number":
            out.append(float(np.mean(domain)))
        elif layout == "value":
            out.append(flat[start])
            start += 1
        else:
            size = int(np.prod(layout))
            out.append(flat[start:start + size].reshape(layout))
            start += size
    return out, start


def _check_chain(name, dtype, rng):
    """``sum(sin(0.5 z) w)`` with ``z`` the sum of ``op(x, y)`` over every
    layout of ``y`` (or ``op(x)``): one fused group, against unfused."""
    op = next(o for o in ELEMENTWISE_BY_CODE.values() if o.name == name)
    n = _operands((0.0, 1.0), np.zeros(40))[1]
    x0 = np.concatenate([rng.uniform(*op.domain[0], size=12),
                         rng.uniform(*op.domain[-1], size=n - 12)]).astype(dtype)
    w = rng.standard_normal((3, 4))

    def f(flat):
        x = flat[:12].reshape(3, 4) * 1.0
        if op.arity == 1:
            z = _ELEMENTWISE[name](x)
        else:
            z = 0.0
            for y in _operands(op.domain[-1], flat)[0]:
                z = z + _ELEMENTWISE[name](x, y)
        return (tg.sin(z * 0.5) * w).sum()

    fused, unfused = _both(f, x0)
    assert fused.fusion is not None and len(fused.fusion.groups) == 1
    x = (x0 * (1 + 1e-3 * rng.standard_normal(x0.shape))).astype(dtype)
    _assert_same(fused, unfused, x, FUSED_RTOL if dtype == np.float64 else 2e-5)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", BINARY + UNARY)
def test_every_op_in_a_fused_chain(name, dtype, rng):
    _check_chain(name, dtype, rng)


def test_rosenbrock_fuses_into_one_group():
    n = 5000
    x = np.random.default_rng(0).uniform(-1.5, 1.5, n)

    def f(t):
        return (100.0 * (t[1:] - t[:-1] ** 2) ** 2 + (1.0 - t[:-1]) ** 2).sum()

    rec = tg.record(f, tg.tensor(x))
    (group,) = rec.fusion.groups
    assert len(group.members) == 7 and len(group.outputs) == 1
    d = x[1:] - x[:-1] ** 2
    grad = np.zeros(n)
    grad[:-1] = -400.0 * x[:-1] * d - 2.0 * (1.0 - x[:-1])
    grad[1:] += 200.0 * d
    value, g = rec.value_and_grad(x)
    assert_close(value, np.sum(100.0 * d ** 2 + (1.0 - x[:-1]) ** 2), 1e-12)
    assert_close(g, grad, 1e-12, 1e-12)
    leaf = tg.tensor(x, requires_grad=True)
    f(leaf).backward()
    assert_close(g, leaf.grad, 1e-12, 1e-12, "against eager backward")


def test_one_record_chains_and_fuse_false_record_no_groups():
    rec = tg.record(lambda t: tg.exp(t).sum(), tg.tensor(np.ones(10)))
    assert rec.fusion is None
    rec = tg.record(lambda t: (tg.exp(t * 2.0) - t).sum(), tg.tensor(np.ones(10)), fuse=False)
    assert rec.fusion is None


def _random_program(seed, n_ops):
    """A program of ``n_ops`` random array ops on a (4, 5) tensor."""
    def f(t):
        rng = np.random.default_rng(seed)
        pool = [t * 0.3, tg.tanh(t)]
        m = np.linspace(-1.0, 1.0, 25).reshape(5, 5)
        for _ in range(n_ops):
            a = pool[rng.integers(len(pool))]
            b = pool[rng.integers(len(pool))]
            kind = rng.integers(10)
            if kind == 0:
                new = a @ m * 0.2
            elif kind == 1:
                new = a.sum(axis=0) * b  # a row broadcast down b
            elif kind == 2:
                new = tg.where(a > 0.1, a, b * 0.5)
            elif kind == 3:
                new = a.sum() * b
            elif kind == 4:
                new = tg.sin(a) * b
            elif kind == 5:
                new = a.T.reshape(4, 5) - b
            elif kind == 8:  # slices read only by a group: a view of the base's gradient
                new = (tg.sin(a[1:]) * b[:-1] + a[:-1]).sum(axis=0) * b
            elif kind == 9:  # column slices: not contiguous, copied back
                new = (a[:, 1:] * a[:, :-1] * 0.5).sum(axis=1, keepdims=True) * b
            else:
                new = a * b + tg.sigmoid(a)
            pool.append(new)
        return sum((p * p).sum() for p in pool[-3:])

    return f


@pytest.mark.parametrize("seed", [*range(10), 17])  # 17 found a sweep bug
def test_random_programs(seed, rng):
    f = _random_program(seed, 12)
    x0 = rng.uniform(-1.0, 1.0, (4, 5))
    fused, unfused = _both(f, x0)
    if fused.fusion is not None:
        _assert_convex(fused.program._program, fused.fusion)
    x = x0 + 1e-6 * rng.standard_normal(x0.shape)  # small: the masks stay put
    grad = _assert_same(fused, unfused, x, 1e-11)
    fd = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[k] = FD_STEP
        fd[k] = (unfused(x + e) - unfused(x - e)) / (2 * FD_STEP)
    assert_close(grad, fd, FD_RTOL * 10, FD_ATOL * 10, "against central differences")


def test_a_member_read_outside_mid_group_splits_it():
    m = np.arange(16.0).reshape(4, 4) / 16

    def f(t):
        a = t * 2.0
        b = a @ m  # reads a: the group of a closes
        c = tg.exp(a) + 1.0
        return (c * b).sum()

    x = np.linspace(-1, 1, 16).reshape(4, 4)
    rec = tg.record(f, tg.tensor(x))
    _assert_convex(rec.program._program, rec.fusion)
    members = [g.members for g in rec.fusion.groups]
    assert all(len(ms) >= 2 for ms in members) and len(members) == 1
    leaf = tg.tensor(x, requires_grad=True)
    f(leaf).backward()
    assert_close(rec.grad(x), leaf.grad, 1e-13)


def test_a_tensor_output_inside_a_group():
    def f(t):
        a = tg.exp(t * 0.5)
        out = a * t  # returned, and read by a dead record after it
        _ = out * 3.0 + a
        return out

    x = np.linspace(-1, 1, 6)
    rec = tg.record(f, tg.tensor(x))
    assert rec.fusion is not None
    assert_close(rec(x), np.exp(0.5 * x) * x, 1e-14)
    jac = rec.jacobian(x)
    assert_close(np.diag(jac), np.exp(0.5 * x) * (0.5 * x + 1), 1e-13)
    w = np.arange(6.0)
    assert_close(rec.vjp(x, w)[1], w * np.exp(0.5 * x) * (0.5 * x + 1), 1e-13)


def test_forward_mode_and_hvp_replay_unfused(rng):
    def f(t):
        return (tg.sin(t * t) * t).sum()

    x = rng.uniform(-1, 1, 7)
    v = rng.standard_normal(7)
    fused, unfused = _both(f, x)
    assert_close(fused.jvp(x, v)[1], unfused.jvp(x, v)[1], 1e-13)
    assert_close(fused.hvp(x, v), unfused.hvp(x, v), 1e-13)
    assert_close(fused.hessian(x), unfused.hessian(x), 1e-13)
    _assert_same(fused, unfused, x)  # after a full replay, fused again


def test_a_changed_mask_still_raises():
    def f(t):
        a = t * 2.0
        if (a.sum() > 0).item():
            return (a * a).sum()
        return (a * 3.0).sum()

    rec = tg.record(f, tg.tensor(np.ones(4)))
    assert_close(rec.grad(np.ones(4) * 2), 8 * 2 * np.ones(4), 1e-14)
    with pytest.raises(BranchChanged):
        rec.grad(-np.ones(4))


def test_where_in_a_group(rng):
    def f(t):
        a = t * 1.5
        return (tg.where(a > 0.0, a * a, -a) * 2.0).sum()

    x = rng.uniform(-1, 1, 9)
    fused, unfused = _both(f, x)
    grad = _assert_same(fused, unfused, x)
    assert_close(grad, np.where(x > 0, 2 * 1.5 * 1.5 * x, -1.5) * 2.0, 1e-13)


def test_debug_mode_replays_unfused():
    def f(t):
        return (tg.log(t * 1.0) * 2.0).sum()

    rec = tg.record(f, tg.tensor(np.ones(5)))
    with tg.debug_mode():
        with pytest.raises(tg.errors.NonFiniteError, match="log"):
            rec.grad(-np.ones(5))


@pytest.mark.parametrize("f", [lambda t: (t * t * 1.0).sum(), lambda t: (tg.sin(t) * t + t).sum()],
                         ids=["read_twice", "two_members"])
def test_a_zero_gradient_keeps_its_sign_as_unfused(f):
    """An input's first term is stored, not added to 0.0: at x = 0 under a
    negative weight, -0.0 + -0.0 is -0.0 in both replays.  (Past a member
    whose adjoint is a zero, the fused walk skips it and the record's own
    VJP multiplies it: signs of zeros may differ there, as FUSED_RTOL allows.)"""
    x = np.zeros(4)
    fused, unfused = _both(f, x)
    assert fused.fusion is not None
    for weight in (-1.5, 1.5):
        grad, grad0 = fused.vjp(x, [weight])[1], unfused.vjp(x, [weight])[1]
        assert np.array_equal(np.signbit(grad), np.signbit(grad0)) and np.array_equal(grad, grad0)
