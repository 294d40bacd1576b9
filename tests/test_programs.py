"""Whole programs: random ones against the reference interpreter, finite
differences and PyTorch; and a chain far deeper than recursion allows."""

import math

import numpy as np
import pytest

import tapegrad as tg
from conftest import (FD_RTOL, PEER_RTOL, SWEEP_RTOL, assert_close, central_difference,
                      requires_torch)
from tapegrad.kernels import reference


def random_program(rng, n_inputs=4, length=40):
    """A straight-line program over ``n_inputs`` variables: a list of
    ``(kind, operand indices, constant)``; domains are kept safe by squaring
    and shifting (``log(v*v + 1)``), so every step is smooth and finite."""
    kinds = ["add", "sub", "mul", "div", "rsub", "rdiv", "tanh", "sin", "cos", "sigmoid",
             "neg", "square", "exp", "log", "sqrt", "pow", "powv", "abs", "relu"]
    program = []
    for k in range(length):
        n = n_inputs + k
        i, j = rng.integers(n), rng.integers(n)
        program.append((kinds[rng.integers(len(kinds))], (int(i), int(j)),
                        float(rng.choice([0.5, 1.5, -1.2, 2.0]))))
    return program


def step(kind, x, y, c, lib):
    """One step of a random program on ``x``, ``y`` (and the constant ``c``),
    with math functions from ``lib`` (the tapegrad module, or torch)."""
    pos = x * x + 1.0
    return {
        "add": lambda: x + y, "sub": lambda: x - y, "mul": lambda: x * y,
        "div": lambda: x / (y * y + 1.0), "rsub": lambda: c - x,
        "rdiv": lambda: c / pos, "neg": lambda: -x, "square": lambda: x**2,
        "exp": lambda: lib.exp(lib.tanh(x)), "log": lambda: lib.log(pos),
        "sqrt": lambda: lib.sqrt(pos), "pow": lambda: pos**c,
        "powv": lambda: pos ** lib.tanh(y), "tanh": lambda: lib.tanh(x),
        "sin": lambda: lib.sin(x), "cos": lambda: lib.cos(x),
        "sigmoid": lambda: lib.sigmoid(x), "abs": lambda: lib.abs(x),
        "relu": lambda: lib.relu(x),
    }[kind]()


def run_program(program, inputs, lib):
    """Run ``program`` on ``inputs`` with math functions from ``lib`` (the
    tapegrad module, or torch); return the sum of its last five values."""
    v = list(inputs)
    for kind, (i, j), c in program:
        v.append(step(kind, v[i], v[j], c, lib))
    return sum(v[-5:])


def tapegrad_gradient(program, point):
    leaves = [tg.Value(p) for p in point]
    with tg.Tape() as tape:
        out = run_program(program, leaves, tg)
    out.backward()
    return out, [leaf.grad for leaf in leaves], tape


SEEDS = range(12)


def seeded_case(seed):
    """A random program and a point to differentiate it at."""
    rng = np.random.default_rng(seed)
    program = random_program(rng)
    return program, rng.uniform(-1.5, 1.5, 4).tolist()


@pytest.mark.parametrize("seed", SEEDS)
def test_random_program_matches_reference_and_finite_differences(seed):
    program, point = seeded_case(seed)
    out, grads, tape = tapegrad_gradient(program, point)
    cols = {name: getattr(tape, name) for name in ("op", "arg0", "arg1", "const", "val")}
    reference.check(cols)
    ref_adj = reference.reverse(cols, last=len(tape) - 1)
    input_records = np.flatnonzero(cols["op"] == tg.OPS["input"].code)
    record_of = {id(leaf): r for leaf, r in zip(tape.inputs, input_records)}
    expected = [ref_adj[record_of[id(leaf)]] for leaf in tape.inputs]
    assert_close([leaf.grad for leaf in tape.inputs], expected, SWEEP_RTOL)

    def f(*xs):
        return run_program(program, list(xs), tg)  # floats: tg functions take them too

    for k in range(len(point)):
        fd = central_difference(f, point, k)
        assert_close(grads[k], fd, 100 * FD_RTOL, 1e-6, f"input {k}")


@requires_torch
@pytest.mark.parametrize("seed", SEEDS)
def test_random_program_matches_pytorch(seed):
    import torch

    program, point = seeded_case(seed)
    out, grads, _ = tapegrad_gradient(program, point)
    leaves = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in point]
    torch_out = run_program(program, leaves, torch)
    torch_out.backward()
    assert_close(out.value, torch_out.item(), PEER_RTOL)
    torch_grads = [0.0 if leaf.grad is None else leaf.grad.item() for leaf in leaves]
    assert_close(grads, torch_grads, PEER_RTOL)


@requires_torch
def test_seed_expression_matches_pytorch():
    import torch

    def seed_expression(a, b):
        c = a + b
        d = a * b + b**3
        c = c + c + 1
        c = c + 1 + c + (-a)
        d = d + d * 2 + (b + a).relu()
        d = d + 3 * d + (b - a).relu()
        e = c - d
        f = e**2
        g = f / 2.0
        return g + 10.0 / f

    a, b = tg.Value(-4.0), tg.Value(2.0)
    g = seed_expression(a, b)
    g.backward()
    ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (-4.0, 2.0))
    tgv = seed_expression(ta, tb)
    tgv.backward()
    assert_close([g.value, a.grad, b.grad], [tgv.item(), ta.grad.item(), tb.grad.item()],
                 PEER_RTOL)


def test_chain_of_ten_million_dependent_ops():
    """micrograd's recursive topological sort dies near 1,000 ops deep; the
    tape has no recursion anywhere."""
    n, c = 10_000_000, 1.0 + 1e-7
    x = tg.Value(1.0)
    with tg.Tape() as tape:
        y = x
        for _ in range(n):
            y = y * c
    assert len(tape) == n + 1
    y.backward()
    assert x.grad == pytest.approx(math.pow(c, n), rel=1e-8)
    assert y.value == pytest.approx(math.pow(c, n), rel=1e-8)
