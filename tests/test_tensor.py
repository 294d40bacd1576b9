"""Tensors on the tape: every array op against the scalar rules, finite
differences and PyTorch; broadcasting, dtypes, mixing with Values, errors."""

import numpy as np
import pytest

import tapegrad as tg
from conftest import FD_ATOL, FD_RTOL, PEER_RTOL, SWEEP_RTOL, assert_close, requires_torch
from tapegrad.ops import OPS
from tapegrad.array.tensor import array_binary

ELEMENTWISE = [op for op in OPS.values() if op.arity > 0 and op.differentiable]
# (x shape, y shape): same, row broadcast, column broadcast, scalar, and one
# that fits no 2-D split (materialised).
SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3), ()), ((2, 3, 4), (3, 1))]


def sample(op, shape, rng, slot=0):
    lo, hi = op.domain[slot]
    return rng.uniform(lo, hi, shape)


def numeric_gradient(f, x, step=1e-6):
    """Central differences of the scalar f at every element of x."""
    grad = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[k] += step
        down[k] -= step
        grad[k] = (f(up) - f(down)) / (2 * step)
    return grad


@pytest.mark.parametrize("op", [op for op in ELEMENTWISE if op.arity == 1], ids=lambda o: o.name)
def test_unary_elementwise_is_the_scalar_rule_per_element(op, rng):
    x = sample(op, (3, 4), rng)
    t = tg.tensor(x, requires_grad=True)
    out = getattr(t, op.name)()
    expected = np.vectorize(op.value)(x)
    assert out.value.tolist() == expected.tolist()  # the same rule, to the bit
    weights = rng.uniform(-1, 1, x.shape)
    (out * weights).sum().backward()
    partials = np.vectorize(lambda v: op.partials[0](v, op.value(v)))(x)
    assert_close(t.grad, weights * partials, SWEEP_RTOL)
    fd = numeric_gradient(lambda z: float((np.vectorize(op.value)(z) * weights).sum()), x)
    assert_close(t.grad, fd, FD_RTOL, FD_ATOL)


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("op", [op for op in ELEMENTWISE if op.arity == 2], ids=lambda o: o.name)
def test_binary_elementwise_broadcasts_and_sums_its_vjp(op, shapes, rng):
    x, y = sample(op, shapes[0], rng, 0), sample(op, shapes[1], rng, 1)
    tx, ty = tg.tensor(x, requires_grad=True), tg.tensor(y, requires_grad=True)
    out = {"add": lambda: tx + ty, "sub": lambda: tx - ty, "mul": lambda: tx * ty,
           "div": lambda: tx / ty, "pow": lambda: tx ** ty}.get(
        op.name, lambda: array_binary(op.name, tx, ty))()
    xb, yb = np.broadcast_arrays(x, y)
    expected = np.vectorize(op.value)(xb, yb)
    assert out.shape == expected.shape and out.value.tolist() == expected.tolist()
    weights = rng.uniform(-1, 1, expected.shape)
    (out * weights).sum().backward()
    fx = numeric_gradient(lambda z: float((np.vectorize(op.value)(*np.broadcast_arrays(z, y))
                                           * weights).sum()), x)
    fy = numeric_gradient(lambda z: float((np.vectorize(op.value)(*np.broadcast_arrays(x, z))
                                           * weights).sum()), y)
    assert_close(tx.grad, fx, FD_RTOL, FD_ATOL, f"{op.name} d/dx")
    assert_close(ty.grad, fy, FD_RTOL, FD_ATOL, f"{op.name} d/dy")


def test_numbers_and_arrays_on_either_side(rng):
    x = rng.uniform(0.5, 2.0, (2, 3))
    t = tg.tensor(x, requires_grad=True)
    data = rng.uniform(0.5, 2.0, (3,))
    out = 2.0 - t / data + data * t ** 2 - 1 / t + np.float64(3.0) * t
    assert isinstance(data - t, tg.Tensor) and isinstance(data * t, tg.Tensor)
    assert_close(out.value, 2.0 - x / data + data * x ** 2 - 1 / x + 3.0 * x, 1e-15)
    out.sum().backward()
    assert_close(t.grad, -1 / data + 2 * data * x + 1 / x ** 2 + 3.0, 1e-14)


def test_values_mix_with_tensors():
    v = tg.Value(2.0)
    t = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with tg.Tape():
        scaled = v * t + np.array([1.0, 1.0, 1.0]) * v  # Value x Tensor, array x Value
        element = scaled[1]  # a Value on the same tape
        loss = element * element + tg.stack([v, t[0]]).sum()
    assert isinstance(element, tg.Value) and element.value == 6.0
    loss.backward()
    assert v.grad == 2 * 6.0 * (2.0 + 1.0) + 1.0
    assert t.grad.tolist() == [1.0, 24.0, 0.0]
    assert isinstance(np.array([1.0, 2.0]) + v, tg.Tensor)  # not an object array


@requires_torch
def test_array_ops_against_pytorch(rng):
    import torch

    x = rng.normal(size=(5, 4))
    w = rng.normal(size=(3, 4))
    b = rng.normal(size=(3,))
    labels = np.array([0, 2, 1, 1, 0])

    def program(lib, x, w, b):
        if lib is tg:
            sm, lsm, lse = tg.softmax, tg.log_softmax, tg.logsumexp
            ce = lambda z: tg.cross_entropy(z, labels)  # noqa: E731
            cat, stk = tg.concatenate, tg.stack
            mx, mn = (lambda t, axis: t.max(axis=axis)), (lambda t, axis: t.min(axis=axis))
        else:
            mx, mn = (lambda t, axis: t.amax(dim=axis)), (lambda t, axis: t.amin(dim=axis))
            sm, lsm = (lambda z, axis: torch.softmax(z, axis)), (lambda z, axis: torch.log_softmax(z, axis))
            lse = lambda z, axis: torch.logsumexp(z, axis)  # noqa: E731
            ce = lambda z: torch.nn.functional.cross_entropy(z, torch.tensor(labels))  # noqa: E731
            cat = lambda ts, axis: torch.cat(ts, axis)  # noqa: E731
            stk = lambda ts, axis: torch.stack(ts, axis)  # noqa: E731
        h = (x @ w.T + b).tanh()
        z = h.reshape(3, 5).T * 2.0 - h.mean(axis=1, keepdims=True).reshape(5, 1)
        parts = [ce(z), lse(z, axis=1).sum(), (sm(z, axis=0) * z).sum(),
                 lsm(z, axis=1)[1:4, ::2].sum(), z[[0, 0, 2]].sum(), z[z.value > 0 if lib is tg
                                                                      else z > 0].sum(),
                 mx(cat([z, h.T.reshape(5, 3)], axis=1), axis=1).sum(),
                 stk([mn(z, axis=0), h.sum(axis=0)[:3]], axis=0).relu().sum(),
                 (z.abs().sqrt() + z.sigmoid().log() * z.exp().sin().cos()).mean(),
                 (z[0] @ z[1]) * (z @ z.T).sum() * 1e-2]
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return total

    ours = [tg.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    out = program(tg, *ours)
    expected = program(torch, *theirs)
    out.backward()
    expected.backward()
    assert_close(out.item(), expected.item(), PEER_RTOL)
    for mine, peer in zip(ours, theirs):
        assert_close(mine.grad, peer.grad.numpy(), PEER_RTOL, 1e-12)


def test_float32_is_kept_and_mixing_promotes():
    a = tg.tensor(np.ones(3, np.float32), requires_grad=True)
    b = tg.tensor(np.ones(3), requires_grad=True)
    assert (a * 2.0).dtype == np.float32 and (a + b).dtype == np.float64
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    assert tg.softmax(a).dtype == np.float32


def test_reductions_at_ties_share_the_gradient_like_pytorch():
    t = tg.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    (t.max(axis=1).sum() + t.min()).backward()
    assert t.grad.tolist() == [[0.0, 0.5, 0.5], [0.5, 1.0, 0.5]]


def test_gradients_accumulate_and_leaves_can_be_reassigned():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    (w * w).sum().backward()
    assert w.grad.tolist() == [4.0, 8.0]
    w.grad = None
    w.value = np.array([3.0, 4.0])
    (w * w).sum().backward()
    assert w.grad.tolist() == [6.0, 8.0]
    computed = w * 2.0
    with pytest.raises(tg.TapeError):
        computed.value = np.zeros(2)
    with pytest.raises(ValueError):
        computed.value[0] = 1.0  # the tape keeps it: read-only


def test_bad_input_is_named():
    t = tg.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2,\)"):
        t + np.ones(2)
    with pytest.raises(ValueError, match="matmul"):
        t @ np.ones((2, 2))
    with pytest.raises(TypeError, match="float"):
        tg.tensor(np.array(["a"]), requires_grad=True)
    with pytest.raises(TypeError, match="objects"):
        tg.tensor(np.array([object()]))
    with pytest.raises(ValueError, match="seed"):
        (t * 2.0).backward()
    with pytest.raises(ValueError, match="out of range"):
        tg.cross_entropy(t, np.array([0, 3]))
    with pytest.raises(TypeError, match="integers"):
        tg.cross_entropy(t, np.array([0.0, 1.0]))
    rec = tg.record(lambda x: (tg.tensor([1.0, 2.0], requires_grad=True) * x).sum(), 1.0)
    assert rec.value_and_grad(2.0) == (6.0, 3.0)  # array code inside a scalar function


def test_stale_and_mixed_tapes():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    tape = tg.Tape()
    with tape:
        y = w * 2.0
    tape.reset()
    with pytest.raises(tg.StaleValueError):
        (y * 2.0).sum()
    with tg.Tape():
        a = w * 1.0
    with tg.Tape():
        b = w * 1.0
    with pytest.raises(tg.MixedTapeError):
        a + b


def test_nan_propagates_and_debug_mode_names_the_record():
    t = tg.tensor([1.0, -1.0], requires_grad=True)
    out = tg.log(t)
    assert np.isnan(out.value[1])
    with tg.debug_mode():
        with pytest.raises(tg.NonFiniteError, match=r"array log\) produced nan at index \(1,\)"):
            out.sum().backward()


def test_where_maximum_minimum_on_arrays():
    x = tg.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    y = tg.where(x.value > 0, tg.sqrt(x), 0.0 * x)  # sqrt(-2) is nan, not taken
    peak = tg.maximum(x, 1.0) + tg.minimum(np.array([0.0, 0.5, 5.0]), x)
    (y.sum() + peak.sum()).backward()
    assert y.value.tolist() == [0.0, np.sqrt(0.5), np.sqrt(3.0)]
    expected = [0.0 + 0.0 + 1.0, 0.5 / np.sqrt(0.5) + 0.0 + 0.5, 0.5 / np.sqrt(3.0) + 1.0 + 1.0]
    assert_close(x.grad, expected, 1e-15)


def test_the_tape_keeps_one_copy_of_each_intermediate(rng):
    x = tg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = rng.standard_normal((3, 2))
    with tg.Tape() as tape:
        hidden = tg.relu(x @ w)
        out = (hidden * 2.0 + 1.0).sum()
    rec = tape._rec
    made = [hidden, out]
    for t in made:  # the Tensor's value is the arena's array itself, not a copy
        assert rec.arrays[t._i] is t.value
    assert rec.arrays[rec.array_records[0]] is x.value  # a leaf's array is not copied
    assert len(rec.arrays) == len(rec.array_records)  # one array per array record
    constants = [c for i in rec.array_records for c in (rec.params[i] or {}).get("constants", [])
                 if isinstance(c, np.ndarray)]
    assert any(c is w for c in constants)  # constant operands are referenced, not copied


@requires_torch
def test_linear_is_pytorchs_and_one_record(rng):
    import torch

    x, w, b = rng.standard_normal((2, 4, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
    leaves = [tg.tensor(a, requires_grad=True) for a in (x, w, b)]
    with tg.Tape() as tape:
        y = tg.linear(*leaves)
    assert [tg.OPS_BY_CODE.get(c) for c in tape.op].count(None) == len(tape)  # array records
    assert len(tape) == 4  # three leaves and one linear
    (y * y).sum().backward()
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    out = torch.nn.functional.linear(*theirs)
    (out * out).sum().backward()
    assert_close(y.value, out.detach().numpy(), 1e-12)
    for ours, t in zip(leaves, theirs):
        assert_close(ours.grad, t.grad.numpy(), 1e-12)
    with pytest.raises(ValueError, match="do not line up"):
        tg.linear(tg.tensor(x), tg.tensor(w.T))
    with pytest.raises(ValueError, match="bias of shape"):
        tg.linear(tg.tensor(x), tg.tensor(w), tg.tensor(np.ones(4)))
