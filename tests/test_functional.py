"""The functional API: each transform against finite differences and record."""

import numpy as np
import pytest

import tapegrad as tg
from conftest import FD_ATOL, FD_RTOL, assert_close, central_difference, requires_torch


def f(x, y, scale):
    return scale * tg.sin(x[0]) * y + x[1] ** 3 / y


X, Y = np.array([0.3, -1.2]), 2.0


def plain(x0, x1, y):
    return 1.5 * np.sin(x0) * y + x1 ** 3 / y


def test_grad_and_argnums_against_finite_differences():
    point = [X[0], X[1], Y]
    fd = [central_difference(plain, point, k) for k in range(3)]
    assert_close(tg.grad(f)(X, Y, 1.5), fd[:2], FD_RTOL, FD_ATOL)
    gx, gy = tg.grad(f, argnums=(0, 1))(X, Y, 1.5)
    assert_close(gx, fd[:2], FD_RTOL, FD_ATOL)
    assert_close(gy, fd[2], FD_RTOL, FD_ATOL)
    value, gy_only = tg.value_and_grad(f, argnums=1)(X, Y, 1.5)
    assert value == pytest.approx(plain(*point), rel=1e-15) and gy_only == gy


def test_has_aux_returns_numbers_not_tape_handles():
    def with_aux(x):
        y = x * x
        return y, {"y": y, "label": "square"}

    (value, aux), gradient = tg.value_and_grad(with_aux, has_aux=True)(3.0)
    assert (value, gradient, aux) == (9.0, 6.0, {"y": 9.0, "label": "square"})
    assert tg.grad(with_aux, has_aux=True)(3.0) == (6.0, {"y": 9.0, "label": "square"})
    with pytest.raises(TypeError, match="pair"):
        tg.grad(lambda x: x, has_aux=True)(1.0)


def test_jvp_vjp_jacobian_hessian_hvp_agree():
    def g(x):
        return [x[0] * x[1], tg.exp(x[0]) - x[1] ** 2, x[1]]

    x, v = np.array([0.5, -0.7]), np.array([1.0, 2.0])
    jac = tg.jacobian(g)(x)
    assert jac.shape == (3, 2)
    out, tangent = tg.jvp(g, (x,), (v,))
    assert_close(tangent, jac @ v, 1e-14)
    out_v, vjp_fn = tg.vjp(g, x)
    (cotangent,) = vjp_fn([1.0, 2.0, 3.0])
    assert_close(cotangent, np.array([1.0, 2.0, 3.0]) @ jac, 1e-14)
    assert out.tolist() == out_v.tolist()

    def h(x):
        return x[0] ** 2 * tg.sin(x[1])

    hess = tg.hessian(h)(x)
    assert_close(tg.hvp(h, x, v), hess @ v, 1e-14)
    expected = [[2 * np.sin(x[1]), 2 * x[0] * np.cos(x[1])],
                [2 * x[0] * np.cos(x[1]), -x[0] ** 2 * np.sin(x[1])]]
    assert_close(hess, expected, 1e-14)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="argnums 3"):
        tg.grad(f, argnums=3)(X, Y, 1.0)
    with pytest.raises(ValueError, match="one number"):
        tg.grad(lambda x: [x, x])(1.0)
    with pytest.raises(ValueError, match="2 primals but 1 tangents"):
        tg.jvp(lambda x, y: x * y, (1.0, 2.0), (1.0,))
    with pytest.raises(TypeError, match="dict"):
        tg.grad(lambda x: x)({"a": 1.0})


@requires_torch
def test_against_pytorch_autograd_functional():
    import torch
    from torch.autograd.functional import hessian, jvp

    def h(x):
        return x[0] ** 2 * tg.sin(x[1]) + tg.tanh(x[0] * x[1])

    def h_torch(x):
        return x[0] ** 2 * torch.sin(x[1]) + torch.tanh(x[0] * x[1])

    x, v = np.array([0.4, 1.3]), np.array([0.3, -2.0])
    xt, vt = torch.tensor(x, dtype=torch.float64), torch.tensor(v, dtype=torch.float64)
    assert_close(tg.hessian(h)(x), hessian(h_torch, xt).numpy(), 1e-12)
    assert_close(tg.jvp(h, (x,), (v,))[1], jvp(h_torch, xt, vt)[1].item(), 1e-12)
