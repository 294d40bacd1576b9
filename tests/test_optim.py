"""tapegrad.optim: PyTorch's update arithmetic, bit for bit where PyTorch's
is reproducible, and the Optimizer bookkeeping."""

from fractions import Fraction

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import optim
from tapegrad.optim import fma

from conftest import requires_torch

# Sizes straddle SIMD widths, so vector bodies and scalar tails are both hit.
SHAPES = [(7, 5), (5,), (33,), (3, 4, 2), ()]
STEPS = 6

CASES = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd-weight-decay": ("SGD", dict(lr=0.1, weight_decay=0.01)),
    "sgd-momentum": ("SGD", dict(lr=0.1, momentum=0.9)),
    "sgd-dampening": ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-2)),
    "sgd-nesterov": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    "adam": ("Adam", dict(lr=1e-3)),
    "adam-weight-decay": ("Adam", dict(lr=0.01, weight_decay=0.1)),
    "adam-betas": ("Adam", dict(lr=0.02, betas=(0.3, 0.5), eps=1e-6)),  # lerp's other branch
}


def gradient_sequence(rng, dtype):
    """Per step, one gradient per shape; some None, so parameters skip steps."""
    steps = []
    for step in range(STEPS):
        grads = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
        if step in (2, 4):
            grads[step % len(SHAPES)] = None
        steps.append(grads)
    return steps


def run_tapegrad(name, options, start, grads):
    params = [tg.tensor(p.copy(), requires_grad=True) for p in start]
    opt = getattr(optim, name)(params, **options)
    history = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else g.copy()
        opt.step()
        history.append(([p.value.copy() for p in params],
                        [{k: np.array(v) for k, v in opt.state.get(p, {}).items()}
                         for p in params]))
    return history


def run_torch(name, options, start, grads):
    import torch

    params = [torch.tensor(p.copy(), requires_grad=True) for p in start]
    opt = getattr(torch.optim, name)(params, foreach=False, **options)
    history = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else torch.from_numpy(g.copy())
        opt.step()
        history.append(([p.detach().numpy().copy() for p in params],
                        [{k: v.numpy().copy() for k, v in opt.state[p].items()}
                         for p in params]))
    return history


@requires_torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(CASES))
def test_matches_torch_optim(case, dtype, rng):
    """Every parameter and state buffer after every step.  SGD, and Adam's
    moments, are bitwise equal; Adam's parameters differ at most by the last
    bit of MKL's sqrt in PyTorch's ``denom``."""
    name, options = CASES[case]
    start = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    grads = gradient_sequence(rng, dtype)
    ours, theirs = run_tapegrad(name, options, start, grads), run_torch(name, options, start, grads)
    rtol = {np.float64: 1e-15, np.float32: 1e-6}[dtype]
    for step, ((params, states), (torch_params, torch_states)) in enumerate(zip(ours, theirs)):
        for k, (p, q, state, torch_state) in enumerate(zip(params, torch_params, states,
                                                           torch_states)):
            where = f"step {step}, parameter {k}"
            assert p.dtype == q.dtype
            if name == "SGD":
                np.testing.assert_array_equal(p, q, err_msg=where)
            else:
                np.testing.assert_allclose(p, q, rtol=rtol, atol=0, err_msg=where)
            if "momentum_buffer" in torch_state:
                np.testing.assert_array_equal(state["momentum_buffer"],
                                              torch_state["momentum_buffer"], err_msg=where)
            if "exp_avg" in torch_state:
                assert state["step"] == torch_state["step"], where
                for key in ("exp_avg", "exp_avg_sq"):
                    if step == 0 or dtype == np.float64:  # later, params differ in the last bit
                        np.testing.assert_allclose(state[key], torch_state[key], rtol=rtol,
                                                   atol=0, err_msg=f"{where}, {key}")


def test_sgd_by_hand():
    p = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.5, momentum=0.5, weight_decay=0.1)
    p.grad = np.array([1.0, -1.0])
    opt.step()  # g = grad + 0.1 p = [1.1, -0.8]; buf = g; p -= 0.5 g
    np.testing.assert_allclose(p.value, [0.45, 2.4])
    p.grad = np.array([0.0, 0.0])
    opt.step()  # g = 0.1 p = [0.045, 0.24]; buf = 0.5 buf + g = [0.595, -0.16]
    np.testing.assert_allclose(p.value, [0.45 - 0.2975, 2.48])


def test_adam_first_step_moves_each_entry_by_lr():
    p = tg.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    opt = optim.Adam([p], lr=0.01)
    p.grad = np.array([100.0, -1e-3, 7.0])
    opt.step()
    np.testing.assert_allclose(p.value, [0.99, -1.99, 0.49], rtol=1e-6)


def test_parameters_without_gradient_are_skipped():
    a, b = (tg.tensor(np.ones(2), requires_grad=True) for _ in range(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.ones(2)
    opt.step()
    assert (b.value == 1.0).all() and b not in opt.state
    assert opt.state[a]["step"] == 1.0


def test_dtype_is_kept():
    p = tg.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    for opt in (optim.SGD([p], lr=0.1, momentum=0.9), optim.Adam([p])):
        p.grad = np.ones(3, dtype=np.float32)
        opt.step()
        assert p.value.dtype == np.float32


def test_zero_grad():
    p = tg.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.ones(2)
    opt.zero_grad(set_to_none=False)
    assert (p.grad == 0).all()
    opt.zero_grad()
    assert p.grad is None


def test_scalar_values_are_parameters_too():
    w = tg.Value(0.0)
    opt = optim.Adam([w], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        ((w - 2.0) ** 2).backward()
        opt.step()
    assert abs(w.data - 2.0) < 1e-3 and isinstance(w.data, float)


def test_param_groups_take_their_own_options():
    a, b = (tg.tensor(np.ones(1), requires_grad=True) for _ in range(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad = b.grad = np.ones(1)
    opt.step()
    assert a.value[0] == 0.9 and b.value[0] == 0.0
    assert "Parameter Group 1" in repr(opt)


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda p: optim.SGD([p], lr=-1.0), "invalid learning rate"),
    (lambda p: optim.SGD([p], lr=0.1, nesterov=True), "Nesterov"),
    (lambda p: optim.SGD([p, p], lr=0.1), "more than once"),
    (lambda p: optim.Adam([p], betas=(0.9, 1.0)), "beta parameter at index 1"),
    (lambda p: optim.Adam([p], eps=-1.0), "epsilon"),
    (lambda p: optim.SGD([np.ones(2)], lr=0.1), "only optimize parameters"),
    (lambda p: optim.SGD([tg.tensor(np.ones(2))], lr=0.1), "require gradients"),
])
def test_bad_arguments(make, message):
    p = tg.tensor(np.ones(2), requires_grad=True)
    with pytest.raises((ValueError, TypeError), match=message):
        make(p)


def test_gradient_of_the_wrong_shape_is_refused():
    p = tg.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="shape"):
        p.grad = np.ones(3)
        opt.step()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fma_rounds_once(dtype, rng):
    x, y, z = (rng.standard_normal(50).astype(dtype) for _ in range(3))
    exact = [dtype(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))
             for a, b, c in zip(x, y, z)]  # Fraction -> float -> dtype: one rounding for f64
    got = fma(x, y, z)
    assert got.dtype == dtype
    if dtype == np.float64:
        np.testing.assert_array_equal(got, exact)
    else:  # float64 then float32 may round twice; within one float32 ulp
        np.testing.assert_allclose(got, exact, rtol=2 ** -23)
    out = z.copy()
    assert fma(x, y, out, out=out) is out and (out == got).all()
