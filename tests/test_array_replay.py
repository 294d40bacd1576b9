"""record() of array code: replay, gradients, tangents, Hessian-vector
products, for every array op, against eager backward() and central
differences (and PyTorch where installed)."""

import numpy as np
import pytest
from conftest import FD_ATOL, FD_RTOL, assert_close, requires_torch

import tapegrad as tg
import tapegrad.nn  # noqa: F401
from tapegrad.array.ops import ARRAY_OPS, ELEMENTWISE_BY_CODE
from tapegrad.array.tensor import _ELEMENTWISE

STEP = 1e-6


def _sample(rng, shape, domain=(-1.5, 1.5)):
    low, high = domain
    return rng.uniform(low, high, size=shape)


def _fd_along(f, x, v, step=STEP):
    """d/dt f(x + t v) at 0 by central differences (f returns an array)."""
    return (np.asarray(f(x + step * v)) - np.asarray(f(x - step * v))) / (2 * step)


def _check_program(f, x0, rng, hvp=True, rtol=FD_RTOL * 50):
    """record(f) at a tensor x0, replayed at a new point: value and gradient
    as eager code computes them; jvp and hvp as central differences."""
    rec = tg.record(f, tg.tensor(x0))
    x = x0 + 0.1 * rng.standard_normal(x0.shape)
    v = rng.standard_normal(x0.shape)
    leaf = tg.tensor(x, requires_grad=True)
    eager = f(leaf)
    eager.backward()
    value, grad = rec.value_and_grad(x)
    eager_value = eager.item() if isinstance(eager, tg.Tensor) else eager.value
    assert_close(value, eager_value, 1e-12, 1e-14, "replayed value")
    assert_close(grad, leaf.grad, 1e-12, 1e-14, "replayed gradient")
    _, tangent = rec.jvp(x, v)
    assert_close(tangent, _fd_along(rec, x, v), rtol, FD_ATOL * 10, "jvp")
    assert_close(tangent, np.sum(grad * v), 1e-10, 1e-12, "jvp against the gradient")
    if hvp:
        g2, hv = rec.grad_and_hvp(x, v)
        assert_close(g2, grad, 1e-12, 1e-14, "gradient beside the hvp")
        assert_close(hv, _fd_along(rec.grad, x, v), rtol, FD_ATOL * 10, "hvp")
    return rec


def _weigh(y, w):
    """A nonlinear scalar of y, so that gradients reaching y vary with x."""
    return (tg.sin(y) * w).sum()


BINARY = sorted(op.name for op in ELEMENTWISE_BY_CODE.values()
                if op.arity == 2 and op.differentiable)
UNARY = sorted(op.name for op in ELEMENTWISE_BY_CODE.values()
               if op.arity == 1 and op.differentiable)
SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3), ())]


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_elementwise_binary(name, shapes, rng):
    op = next(o for o in ELEMENTWISE_BY_CODE.values() if o.name == name)
    (sx, sy), (dx, dy) = shapes, op.domain
    x0, y0 = _sample(rng, sx, dx), _sample(rng, sy, dy)
    n = x0.size
    w = rng.standard_normal(np.broadcast_shapes(sx, sy))

    def f(flat):
        x, y = flat[:n].reshape(sx), flat[n:].reshape(sy)
        return _weigh(_ELEMENTWISE[name](x, y), w)

    # Small moves only: the inputs must stay inside the op's domain.
    _check_program(f, np.concatenate([x0.ravel(), y0.ravel()]), _Small(rng))


@pytest.mark.parametrize("name", UNARY)
def test_elementwise_unary(name, rng):
    op = next(o for o in ELEMENTWISE_BY_CODE.values() if o.name == name)
    x0 = _sample(rng, (3, 4), op.domain[0])
    w = rng.standard_normal((3, 4))
    _check_program(lambda x: _weigh(_ELEMENTWISE[name](x), w), x0, _Small(rng))


class _Small:
    """A generator whose normal draws are scaled down (moves within domains)."""

    def __init__(self, rng):
        self.rng = rng

    def standard_normal(self, shape):
        return 0.05 * self.rng.standard_normal(shape)


def _spd(x):
    """A well-conditioned symmetric positive definite 3x3 matrix made from x (3, 4)."""
    return x[:, :3] @ x[:, :3].T + 3.0 * np.eye(3)


def _gauge_free_eigh(a):
    w, v = np.linalg.eigh(a)
    return (v * np.sin(w)) @ v.T


def _gauge_free_svd(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return (u * np.tanh(s)) @ vh


@tg.primitive
class _cube:
    """x ** 3, as a user would declare it"""

    def value(x):
        return x ** 3

    def vjp(g, out, x):
        return 3.0 * x * x * g

    def jvp(out, x, tx):
        return 3.0 * x * x * tx


def _structural_cases():
    w3 = np.linspace(-1.0, 1.0, 3)
    w12 = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    labels = np.array([0, 3, 1])
    return {
        "matmul 2-D": (lambda x: _weigh(x[:, :3] @ x[:, 1:].T, 1.0), (3, 4)),
        "matmul 1-D/2-D": (lambda x: _weigh(x[0] @ x[1:].T, w3[:2]), (3, 4)),
        "matmul 1-D/1-D": (lambda x: _weigh(x[0] @ x[1], 1.0), (3, 4)),
        "matmul batched": (lambda x: _weigh(x.reshape(2, 3, 2) @ x[:2, :2], 1.0), (3, 4)),
        "sum": (lambda x: _weigh(x.sum(axis=0), np.ones(4)), (3, 4)),
        "sum keepdims": (lambda x: _weigh(x.sum(axis=1, keepdims=True), w3[:, None]), (3, 4)),
        "mean": (lambda x: _weigh(x.mean(axis=1), w3), (3, 4)),
        "mean all": (lambda x: _weigh(x.mean(), 2.0), (3, 4)),
        "max": (lambda x: _weigh(x.max(axis=1), w3), (3, 4)),
        "min all": (lambda x: _weigh(x.min(), 1.0), (3, 4)),
        "reshape": (lambda x: _weigh(x.reshape(4, 3), w12.reshape(4, 3)), (3, 4)),
        "transpose": (lambda x: _weigh(x.T, w12.T), (3, 4)),
        "slice": (lambda x: _weigh(x[1:, ::2], 1.0), (3, 4)),
        "integer index": (lambda x: _weigh(x[[0, 2, 0]], 1.0), (3, 4)),
        "boolean mask": (lambda x: _weigh(x[np.array([True, False, True])], 1.0), (3, 4)),
        "item": (lambda x: tg.sin(x[1, 2]) * x[0, 0], (3, 4)),
        "concatenate": (lambda x: _weigh(tg.concatenate([x, x[:1] * 2.0]), 1.0), (3, 4)),
        "stack": (lambda x: _weigh(tg.stack([x[0], x[2]], axis=1), 1.0), (3, 4)),
        "stack of Values": (lambda x: _weigh(tg.stack([x[0, 0], x[1, 1] * x[2, 2]]), 1.0),
                            (3, 4)),
        "logsumexp": (lambda x: _weigh(tg.logsumexp(x, axis=1), w3), (3, 4)),
        "softmax": (lambda x: _weigh(tg.softmax(x, axis=0), w12), (3, 4)),
        "log_softmax": (lambda x: _weigh(tg.log_softmax(x), w12), (3, 4)),
        "cross_entropy": (lambda x: tg.sin(tg.cross_entropy(x, labels)), (3, 4)),
        "where": (lambda x: _weigh(tg.where(w12 > 0, x * x, tg.exp(x)), 1.0), (3, 4)),
        "maximum": (lambda x: _weigh(tg.maximum(x, x[0] * 0.5), 1.0), (3, 4)),
        "scalar broadcast": (lambda x: _weigh(x * tg.tanh(x[0, 1]), 1.0), (3, 4)),
        "linear": (lambda x: _weigh(tg.linear(x[:, :3], x[1:, 1:] * x[:2, :3], x[0, :2]), 1.0),
                   (3, 4)),
        "linear, constant input": (lambda x: _weigh(tg.linear(w12, x, x[:, 0]), 1.0), (3, 4)),
        "astype": (lambda x: _weigh(x.astype(np.float64) * x[0, 0], 1.0), (3, 4)),  # float32: test_numpy_methods
        # NumPy's API (tapegrad.numpy): one program per declared op, through np.*
        "prod": (lambda x: _weigh(np.prod(x, axis=1), w3), (3, 4)),
        "cumsum": (lambda x: _weigh(np.cumsum(x, axis=0), w12), (3, 4)),
        "cumprod": (lambda x: _weigh(np.cumprod(x, axis=1), w12), (3, 4)),
        "broadcast_to": (lambda x: _weigh(np.broadcast_to(x[0], (2, 4)) * x[1], 1.0), (3, 4)),
        "flip": (lambda x: _weigh(np.flip(x, axis=1) * x, 1.0), (3, 4)),
        "roll": (lambda x: _weigh(np.roll(x, 2, axis=1) * x, 1.0), (3, 4)),
        "repeat": (lambda x: _weigh(np.repeat(x, 2, axis=0), 1.0), (3, 4)),
        "diagonal": (lambda x: _weigh(np.diagonal(x, 1) * x[0, :3], 1.0), (3, 4)),
        "diag": (lambda x: _weigh(np.diag(x[0]) @ x.T, 1.0), (3, 4)),
        "triangle": (lambda x: _weigh(np.triu(x, 1) + np.tril(x) * x, 1.0), (3, 4)),
        "pad": (lambda x: _weigh(np.pad(x, ((1, 0), (0, 2)), mode="reflect"), 1.0), (3, 4)),
        "sort": (lambda x: _weigh(np.sort(x, axis=1), w12), (3, 4)),
        "clip": (lambda x: _weigh(np.clip(x, -0.5, 0.7) * x, 1.0), (3, 4)),
        "nan_to_num": (lambda x: _weigh(np.nan_to_num(np.log(x + 1.0)), 1.0), (3, 4)),
        "gradient": (lambda x: _weigh(np.gradient(x * x, axis=1), w12), (3, 4)),
        "einsum": (lambda x: _weigh(np.einsum("ij,kj->ik", x, x[:2]), 1.0), (3, 4)),
        "einsum1": (lambda x: _weigh(np.einsum("ii->i", x[:, :3]) * x[0, :3], 1.0), (3, 4)),
        "solve": (lambda x: _weigh(np.linalg.solve(_spd(x), x[:, 3]), 1.0), (3, 4)),
        "inv": (lambda x: _weigh(np.linalg.inv(_spd(x)), 1.0), (3, 4)),
        "det": (lambda x: tg.sin(np.linalg.det(_spd(x) * 0.5)), (3, 4)),
        "slogdet": (lambda x: tg.sin(np.linalg.slogdet(_spd(x))[1]), (3, 4)),
        "cholesky": (lambda x: _weigh(np.linalg.cholesky(_spd(x)), w12[:, :3]), (3, 4)),
        "pinv": (lambda x: _weigh(np.linalg.pinv(x), w12.T), (3, 4)),
        "eigh": (lambda x: _weigh(_gauge_free_eigh(_spd(x)), w12[:, :3]), (3, 4)),
        "eigvalsh": (lambda x: _weigh(np.linalg.eigvalsh(_spd(x)), w3), (3, 4)),
        "svd": (lambda x: _weigh(_gauge_free_svd(x), w12), (3, 4)),
        "svdvals": (lambda x: _weigh(np.linalg.svd(x, compute_uv=False), w3), (3, 4)),
        "qr": (lambda x: _weigh(np.prod(np.linalg.qr(x.T)[1], axis=0), w3), (3, 4)),
        "running_extremum": (lambda x: _weigh(np.maximum.accumulate(x, axis=1)
                                              + np.minimum.accumulate(x, axis=0), w12), (3, 4)),
        "correlate": (lambda x: _weigh(np.convolve(x[0], x[1, :3], "same")
                                       + np.correlate(x[2], x[1, :2], "full")[:4], 1.0), (3, 4)),
        "interp": (lambda x: _weigh(np.interp(x, [-1.0, 0.0, 0.5, 2.0], x[0] * x[1]), 1.0),
                   (3, 4)),
        "primitive": (lambda x: _weigh(_cube(x) * x, 1.0), (3, 4)),
        "primitive_scalar": (lambda x: tg.sin(_cube(x[1, 2])) * x[0, 0], (3, 4)),
    }


CASES = _structural_cases()


@pytest.mark.parametrize("case", sorted(CASES))
def test_structural(case, rng):
    f, shape = CASES[case]
    rec = _check_program(f, rng.standard_normal(shape), _Small(rng))
    if case in ARRAY_OPS:  # a case named after its op records that op
        assert ARRAY_OPS[case].code in set(rec.tape.op.tolist()), case


def test_every_declared_op_has_a_case():
    covered = {"matmul", "sum", "mean", "amax", "amin", "reshape", "transpose", "getitem",
               "item", "concatenate", "stack", "logsumexp", "softmax", "log_softmax",
               "cross_entropy", "linear"}
    covered |= set(CASES)  # the NumPy API's cases are named after their op
    assert set(ARRAY_OPS) <= covered


def test_hessian_of_the_rosenbrock_function(rng):
    def rosen(x):
        return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()

    x = rng.standard_normal(6)
    rec = tg.record(rosen, tg.tensor(x))
    scalar = tg.record(lambda v: sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2
                                     for a, b in zip(v[:-1], v[1:])), x)
    assert_close(rec.hessian(x), scalar.hessian(x), 1e-12, 1e-12)
    assert_close(rec.jacobian(x), scalar.grad(x), 1e-12, 1e-12)


def test_float32_stays_float32(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    rec = tg.record(lambda t: (t * t).sum(), tg.tensor(x))
    value, grad = rec.value_and_grad(x)
    assert grad.dtype == np.float32 and grad.shape == (3, 4)
    assert_close(grad, 2 * x, 1e-6)


def test_tensor_output_jacobian_and_vjp(rng):
    a = rng.standard_normal((2, 3))
    rec = tg.record(lambda x: tg.tanh(a @ x), tg.tensor(np.zeros(3)))
    x = rng.standard_normal(3)
    expected = (1 - np.tanh(a @ x) ** 2)[:, None] * a
    assert_close(rec.jacobian(x), expected, 1e-12)
    w = np.array([1.0, -2.0])
    assert_close(rec.vjp(x, w)[1], w @ expected, 1e-12)
    assert_close(rec.jvp(x, np.ones(3))[1], expected @ np.ones(3), 1e-12)
    assert_close(rec(x), np.tanh(a @ x), 1e-15)


def test_mixed_inputs_and_closure_parameters(rng):
    layer = tg.nn.Linear(3, 2)
    x0 = rng.standard_normal((4, 3))

    def loss(args):
        x, scale = args
        return (layer(x) ** 2).mean() * scale

    rec = tg.record(loss, (tg.tensor(x0), 2.0))
    value, (gx, gscale) = rec.value_and_grad((x0, 3.0))
    leaf = tg.tensor(x0, requires_grad=True)
    eager = (layer(leaf) ** 2).mean() * 3.0
    eager.backward()
    assert_close(value, eager.item(), 1e-12)
    assert_close(gx, leaf.grad, 1e-12)
    assert_close(gscale, eager.item() / 3.0, 1e-12)
    layer.weight.value = layer.weight.value * 2.0  # read afresh at every call
    assert_close(rec((x0, 1.0)), (layer(tg.tensor(x0)) ** 2).mean().item(), 1e-12)


def test_branch_on_a_scalar_of_array_code(rng):
    def f(x):
        s = x.sum()
        return s * s if s > 0 else -s

    rec = tg.record(f, tg.tensor(np.ones(3)))
    assert rec(np.full(3, 2.0)) == 36.0
    with pytest.raises(tg.BranchChanged):
        rec(-np.ones(3))
    again = tg.record(f, tg.tensor(np.ones(3)), retrace=True)
    assert again.value_and_grad(-np.ones(3))[0] == 3.0 and again.retraces == 1


def test_bad_arguments_are_named():
    rec = tg.record(lambda x: x.sum(), tg.tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        rec(np.zeros(6))
    with pytest.raises(ValueError, match="tapegrad.tensor"):
        tg.record(lambda x: x.sum(), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="one number"):
        tg.record(lambda x: x * 2.0, tg.tensor(np.zeros(2))).grad(np.zeros(2))


@requires_torch
def test_simplenet_loss_hvp_against_pytorch(rng):
    import torch
    from torch.autograd.functional import hvp

    x = rng.standard_normal((20, 5))
    labels = rng.integers(0, 2, 20)
    w1, w2 = rng.standard_normal((6, 5)), rng.standard_normal((2, 6))

    def ours(w):
        return tg.cross_entropy(tg.relu(x @ w.reshape(6, 5).T) @ w2.T, labels)

    def theirs(w):
        h = torch.relu(torch.from_numpy(x) @ w.reshape(6, 5).T)
        return torch.nn.functional.cross_entropy(h @ torch.from_numpy(w2).T,
                                                 torch.from_numpy(labels))

    v = rng.standard_normal(30)
    rec = tg.record(ours, tg.tensor(w1.ravel()))
    grad, hv = rec.grad_and_hvp(w1.ravel(), v)
    value, expected = hvp(theirs, torch.from_numpy(w1.ravel()), torch.from_numpy(v))
    assert_close(rec(w1.ravel()), value.item(), 1e-12)
    assert_close(hv, expected.numpy(), 1e-9, 1e-12)


def test_a_mask_only_where_uses_is_recomputed_by_replays():
    rec = tg.record(lambda x: tg.where(x > 0, x * x, -x).sum(), tg.tensor(np.ones(3)))
    x = np.array([2.0, -3.0, 0.5])
    value, grad = rec.value_and_grad(x)
    assert value == 4.0 + 3.0 + 0.25
    assert grad.tolist() == [4.0, -1.0, 1.0]
    assert rec.hvp(x, np.ones(3)).tolist() == [2.0, 0.0, 2.0]


@pytest.mark.parametrize("use", ["indexing", "control flow", "arithmetic", "where and any"])
def test_a_mask_used_otherwise_is_a_guard(use):
    def f(x):
        mask = x > 0
        if use == "indexing":
            return x[mask].sum()
        if use == "control flow":
            return x.sum() if mask.any() else -x.sum()
        if use == "arithmetic":
            return (x * (mask * 1.0)).sum()
        return tg.where(mask, x, 0.0).sum() * (2.0 if np.any(mask) else 1.0)

    x0 = np.array([1.0, -1.0])
    rec = tg.record(f, tg.tensor(x0))
    assert rec(np.array([5.0, -3.0])) == f(tg.tensor([5.0, -3.0])).item()  # same mask
    with pytest.raises(tg.BranchChanged, match="comparison at record"):
        rec(np.array([-5.0, 3.0]))
    again = tg.record(f, tg.tensor(x0), retrace=True)
    assert again(np.array([-5.0, 3.0])) == f(tg.tensor([-5.0, 3.0])).item()


def test_a_one_element_tensor_in_an_if_is_a_guard():
    def f(x):
        total = x.sum()
        return total * total if total > 0 else -total

    rec = tg.record(f, tg.tensor(np.ones(2)))
    assert rec.value_and_grad(np.full(2, 2.0)) == (16.0, pytest.approx(np.full(2, 8.0)))
    with pytest.raises(tg.BranchChanged):
        rec(-np.ones(2))


def test_comparisons_outside_record_are_plain_boolean_arrays():
    t = tg.tensor([1.0, -2.0], requires_grad=True)
    mask = t * 2.0 > 0
    assert type(mask) is np.ndarray and mask.tolist() == [True, False]
    y = tg.where(mask, t, 0.0)
    y.sum().backward()
    assert t.grad.tolist() == [1.0, 0.0]


def test_where_keeps_float32():
    t = tg.tensor(np.ones(3, np.float32), requires_grad=True)
    assert tg.where(np.array([True, False, True]), t, 0.0).dtype == np.float32


def test_functional_api_takes_tensors(rng):
    x = rng.standard_normal((2, 3))

    def f(t):
        return (tg.tanh(t) ** 2).sum()

    expected = 2 * np.tanh(x) * (1 - np.tanh(x) ** 2)
    assert_close(tg.grad(f)(tg.tensor(x)), expected, 1e-12)
    value, grad = tg.value_and_grad(f)(tg.tensor(x))
    assert_close(value, np.sum(np.tanh(x) ** 2), 1e-12)
    v = rng.standard_normal((2, 3))
    hv = tg.hvp(f, tg.tensor(x), v)
    assert hv.shape == (2, 3)
    assert_close(hv.ravel(), tg.hessian(f)(tg.tensor(x)) @ v.ravel(), 1e-10, 1e-12)
    _, tangent = tg.jvp(f, (tg.tensor(x),), (v,))
    assert_close(tangent, np.sum(expected * v), 1e-12)


def test_debug_mode_names_the_array_record_of_a_replay():
    rec = tg.record(lambda x: tg.log(x).sum(), tg.tensor(np.ones(3)))
    assert np.isnan(rec(np.array([1.0, -1.0, 2.0])))  # NaN propagates as NumPy's
    with tg.debug_mode(), pytest.raises(tg.NonFiniteError, match=r"array log.*index \(1,\)"):
        rec(np.array([1.0, -1.0, 2.0]))


def test_returning_an_input_or_a_constant_tensor():
    rec = tg.record(lambda x: x, tg.tensor(np.zeros(3)))
    assert_close(rec.jacobian(np.arange(3.0)), np.eye(3), 0.0)
    assert rec(np.arange(3.0)).tolist() == [0.0, 1.0, 2.0]
    const = tg.record(lambda x: tg.tensor([1.0, 2.0]), tg.tensor(np.zeros(3)))
    assert_close(const.jacobian(np.ones(3)), np.zeros((2, 3)), 0.0)
    assert const(np.ones(3)).tolist() == [1.0, 2.0]


def test_reading_a_traced_tensors_number_warns():
    def f(x):
        scale = (x * x).sum().item()  # a number: every replay reuses it
        return x.sum() * scale

    with pytest.warns(tg.FrozenReadWarning):
        tg.record(f, tg.tensor(np.ones(2)))


def test_numpy_functions_on_lists_of_masks_mark_them_as_guards():
    def f(x):
        mask = x > 0
        joined = np.concatenate([mask, mask])  # a Mask inside a list
        assert type(joined) is np.ndarray
        return x.sum() * float(joined.sum())

    rec = tg.record(f, tg.tensor(np.array([1.0, -1.0])))
    assert rec(np.array([2.0, -3.0])) == (2.0 - 3.0) * 2.0  # the same mask: it replays
    with pytest.raises(tg.BranchChanged):
        rec(np.array([2.0, 2.0]))
