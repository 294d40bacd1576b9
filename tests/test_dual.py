"""Forward mode with dual numbers, and ``check_grad``.

Every op of the table through ``Dual`` against its partials, central
differences and the compiled tangent sweep; the seed expression and the
random programs of test_programs against reverse mode.  The ops come from
``tapegrad.ops.OPS``, so a new op is tested by declaring it.
"""

import dataclasses
import math

import numpy as np
import pytest

import tapegrad as tg
from conftest import FD_ATOL, FD_RTOL, SWEEP_RTOL, assert_close, central_difference
from tapegrad import Dual, Value
from tapegrad.scalar.dual import apply
from tapegrad.ops import OPS
from test_ops import KNOWN, compiled_tangent, sample, single_op_recording, variants
from test_programs import SEEDS, run_program, seeded_case, tapegrad_gradient

COMPUTED = [op for op in OPS.values() if op.arity > 0]
DIFFERENTIABLE = [op for op in COMPUTED if op.differentiable]
NO_SLOPE = [op for op in COMPUTED if not op.differentiable]
CASES = [(op, slot) for op in DIFFERENTIABLE for slot in variants(op)]
CASE_IDS = [f"{op.name}-{'duals' if s is None else f'number{s}'}" for op, s in CASES]


def dual_args(xs, const_slot, tan_of):
    """``xs`` as Duals (tangent ``tan_of(position)`` for the p-th variable
    argument), except a plain number in slot ``const_slot``."""
    args, variable = [], []
    for k, x in enumerate(xs):
        if k == const_slot:
            args.append(x)
        else:
            args.append(Dual(x, tan_of(len(variable))))
            variable.append(k)
    return args, variable


# --- every op of the table ----------------------------------------------


@pytest.mark.parametrize("op,const_slot", CASES, ids=CASE_IDS)
def test_op_tangents_are_the_tables_partials(op, const_slot, rng):
    """One direction at a time (scalar tangents), then all in one pass."""
    for xs in sample(op, rng):
        out = op.value(*xs)
        _, variable = dual_args(xs, const_slot, lambda p: 0.0)
        for p, k in enumerate(variable):
            args, _ = dual_args(xs, const_slot, lambda q: 1.0 if q == p else 0.0)
            d = apply(op, *args)
            assert d.value == out
            assert d.tangent == op.partials[k](*xs, out), f"{op.name} d{k} at {xs}"
            fd = central_difference(op.value, xs, k)
            assert_close(d.tangent, fd, FD_RTOL, FD_ATOL, f"{op.name} d{k} at {xs}")
        eye = np.eye(len(variable))
        d = apply(op, *dual_args(xs, const_slot, lambda p: eye[p])[0])
        assert d.value == out
        assert d.tangent.tolist() == [op.partials[k](*xs, out) for k in variable]


@pytest.mark.parametrize("op,const_slot", CASES, ids=CASE_IDS)
def test_op_tangents_match_the_compiled_tangent_sweep(op, const_slot, rng):
    for xs in sample(op, rng):
        rec, inputs = single_op_recording(op, xs, const_slot)
        seed = rng.uniform(-1.0, 1.0, len(inputs))
        d = apply(op, *dual_args(xs, const_slot, lambda p: seed[p])[0])
        assert_close(d.tangent, compiled_tangent(rec, seed)[-1], SWEEP_RTOL, 0.0, op.name)


@pytest.mark.parametrize("op", NO_SLOPE, ids=lambda op: op.name)
def test_ops_without_partials_give_zero_tangents(op, rng):
    for xs in sample(op, rng):
        d = apply(op, *[Dual(x, 1.0) for x in xs])
        assert (d.value, d.tangent) == (op.value(*xs), 0.0)
        d = apply(op, *[Dual(x, np.ones(3)) for x in xs])
        assert d.value == op.value(*xs) and d.tangent.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("key", list(KNOWN), ids=lambda k: f"{k[0]}{k[1]}")
def test_known_values_and_kinks(key):
    """The table's known points, kink conventions included (relu'(0) = 0,
    ties of maximum split 0.5/0.5), come through Dual unchanged."""
    name, xs = key
    value, partials = KNOWN[key]
    for k in range(len(xs)):
        d = apply(name, *[Dual(x, 1.0 if j == k else 0.0) for j, x in enumerate(xs)])
        assert d.value == pytest.approx(value, rel=1e-15, nan_ok=True)
        assert d.tangent == pytest.approx(partials[k] if partials else 0.0, rel=1e-15)


# --- the API: operators, methods and functions --------------------------

BINARY_API = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y, "pow": lambda x, y: x**y,
}


@pytest.mark.parametrize("name", sorted(BINARY_API))
def test_operators_apply_the_declared_op_with_numbers_on_either_side(name):
    op, f = OPS[name], BINARY_API[name]
    x, y = [lo + 0.37 * (hi - lo) for lo, hi in op.domain]
    dx, dy = Dual(x, 1.0), Dual(y, np.array([0.0, 1.0]))
    for got, args in ((f(dx, dy), (dx, dy)), (f(dx, y), (dx, y)), (f(x, dy), (x, dy))):
        expected = apply(op, *args)
        assert got.value == expected.value
        np.testing.assert_array_equal(got.tangent, expected.tangent)


def test_every_unary_op_is_a_method_and_every_binary_op_a_private_one():
    for op in COMPUTED:
        if op.arity == 2:
            assert getattr(Dual(2.0, 1.0), "_" + op.name)(0.5) == apply(op, 2.0, 0.5)
        elif not op.guard:
            (lo, hi), = op.domain
            x = 0.5 if lo >= 0 else -0.4
            x = x if lo <= x <= hi else lo + 0.37 * (hi - lo)  # arccosh: 1.2..4
            assert getattr(Dual(x, 1.0), op.name)().tangent == apply(op, Dual(x, 1.0)).tangent
    d = Dual(-1.5, 2.0)
    assert (-d).tangent == -2.0 and abs(d).tangent == d.abs().tangent == -2.0
    assert (d**2).tangent == (d**2.0).tangent == d.square().tangent == -6.0
    assert +d is d


def test_module_functions_dispatch_to_dual():
    functions = [op for op in DIFFERENTIABLE if op.arity == 1 and hasattr(tg, op.name)]
    assert {"exp", "log", "sqrt", "abs", "relu"} <= {op.name for op in functions}
    for op in functions:
        (lo, hi), = op.domain
        x = 0.7 if lo <= 0.7 <= hi else lo + 0.37 * (hi - lo)  # arccosh: 1.2..4
        d = getattr(tg, op.name)(Dual(x, 1.0))
        assert type(d) is Dual
        assert (d.value, d.tangent) == (getattr(tg, op.name)(x), op.partials[0](x, d.value))
        assert getattr(Dual(x, 1.0), op.name)().tangent == d.tangent


def test_comparisons_compare_values_and_return_bools():
    x = Dual(1.0, 5.0)
    results = [x < 2, x <= 1, x > 2, x >= 1.5, 0 < x, x < Dual(0.5, -1.0), x == 1, x != 1,
               x == Dual(1.0, 0.0)]
    assert results == [True, True, False, False, True, False, True, False, True]
    assert all(type(r) is bool for r in results)
    assert [bool(Dual(0.0, 1.0)), bool(Dual(-2.0)), bool(Dual(math.nan))] == [False, True, True]
    assert (x == "one") is False and (x != None) is True  # noqa: E711
    assert hash(Dual(2.0, 1.0)) == hash(2.0) and Dual(2.0) in {2.0}
    with pytest.raises(TypeError, match="str"):
        x < "one"  # noqa: B015


def test_zero_tangents_are_skipped_not_multiplied():
    """A partial that is inf or nan must not meet a zero tangent (0 * inf =
    nan), and a number constant's partial is never evaluated: as the reverse
    sweep skips zero adjoints and constant arguments."""
    assert Dual(0.0, 0.0).sqrt().tangent == 0.0  # sqrt'(0) = inf
    assert Dual(0.0, np.array([0.0, 1.0])).sqrt().tangent.tolist() == [0.0, math.inf]
    assert Dual(0.0, np.array([0.0, 2.0])).log().tangent.tolist() == [0.0, math.inf]
    cube = Dual(-8.0, 1.0) ** 3.0  # d/dy would be 512 * log(-8) = nan
    x = Value(-8.0)
    (x**3.0).backward()
    assert cube.tangent == x.grad == 192.0
    d = Dual(0.0, np.array([1.0, 0.0])) * Dual(math.inf, np.array([0.0, 1.0]))
    assert np.isnan(d.value) and d.tangent.tolist() == [math.inf, 0.0]


def test_tangents_floats_arrays_and_broadcasting():
    assert Dual(2).value == Dual(2).data == 2.0 and Dual(2).tangent == 0.0
    seed = [1, 0]
    d = Dual(True, seed)
    seed[0] = 5
    assert d.value == 1.0 and d.tangent.dtype == np.float64 and d.tangent.tolist() == [1.0, 0.0]
    assert Dual(1.0, np.array(3.0)).tangent == 3.0
    assert type(Dual(1.0, np.float32(3)).tangent) is float
    assert repr(Dual(2.0, 1.0)) == "Dual(value=2.0, tangent=1.0)"
    # A number tangent is the same in every direction.
    y = Dual(1.0, 1.0) * Dual(2.0, np.array([1.0, 0.0]))
    assert y.tangent.tolist() == [3.0, 2.0]
    with pytest.raises(AttributeError):
        d.value = 3.0
    with pytest.raises(ValueError, match=r"\(2,\) and \(3,\)"):
        Dual(1.0, np.ones(2)) + Dual(1.0, np.ones(3))


def test_errors_name_the_type():
    d = Dual(1.0, 1.0)
    cases = [
        (lambda: Dual("1"), "str"), (lambda: Dual(Value(1.0)), "Value"),
        (lambda: Dual(1.0, "x"), "str"), (lambda: Dual(1.0, np.array(["a"])), "dtype <U1"),
        (lambda: Dual(d), "Dual"), (lambda: d + "a", "str"), (lambda: "a" * d, "str"),
        (lambda: d * Value(2.0), "Value"), (lambda: Value(2.0) * d, "Dual"),
        (lambda: d ** [2], "list"), (lambda: tg.exp("a"), "str"), (lambda: math.exp(d), "Dual"),
        (lambda: apply("mul", d, None), "NoneType"),
    ]
    for make, name in cases:
        with pytest.raises(TypeError, match=name):
            make()
    with pytest.raises(ValueError, match="no op named 'frobnicate'"):
        apply("frobnicate", d)
    with pytest.raises(TypeError, match="2 arguments, not 1"):
        apply("mul", d)


# --- whole programs against reverse mode --------------------------------


def seed_expression(a, b, relu=lambda v: v.relu()):
    """The seed notebook's test_grad expression (tests/test_value.py)."""
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + relu(b + a)
    d += 3 * d + relu(b - a)
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return g


def test_seed_expression_forward_mode_equals_reverse_mode():
    a, b = Value(-4.0), Value(2.0)
    g = seed_expression(a, b)
    g.backward()
    d_a = seed_expression(Dual(-4.0, 1.0), Dual(2.0, 0.0))
    d_b = seed_expression(Dual(-4.0, 0.0), Dual(2.0, 1.0))
    both = seed_expression(Dual(-4.0, np.array([1.0, 0.0])), Dual(2.0, np.array([0.0, 1.0])))
    assert d_a.value == d_b.value == both.value == g.value
    assert round(d_a.value, 4) == 24.7041
    assert_close([d_a.tangent, d_b.tangent], [a.grad, b.grad], SWEEP_RTOL)
    assert_close(both.tangent, [a.grad, b.grad], SWEEP_RTOL)
    assert (round(d_a.tangent, 4), round(d_b.tangent, 4)) == (138.8338, 645.5773)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_program_forward_mode_equals_reverse_mode(seed):
    program, point = seeded_case(seed)
    out, grads, _ = tapegrad_gradient(program, point)
    n = len(point)
    one_by_one = []
    for k in range(n):
        d = run_program(program, [Dual(p, float(j == k)) for j, p in enumerate(point)], tg)
        assert d.value == out.value  # the same rules in the same order
        one_by_one.append(d.tangent)
    eye = np.eye(n)
    d = run_program(program, [Dual(p, eye[j]) for j, p in enumerate(point)], tg)
    assert d.value == out.value
    assert_close(one_by_one, grads, SWEEP_RTOL)
    assert_close(d.tangent, one_by_one, SWEEP_RTOL)
    # Eager forward mode against the recorded tape's compiled tangent sweep.
    direction = np.random.default_rng(seed).uniform(-1.0, 1.0, n)
    d = run_program(program, [Dual(p, t) for p, t in zip(point, direction)], tg)
    value, tan = tg.jvp(lambda *xs: run_program(program, list(xs), tg), point, direction)
    assert d.value == value
    assert_close(d.tangent, tan, SWEEP_RTOL)


# --- check_grad -----------------------------------------------------------


def seed_function(x):
    return seed_expression(x[0], x[1], relu=tg.relu)


def test_check_grad_on_the_seed_expression():
    a, b = Value(-4.0), Value(2.0)
    seed_expression(a, b).backward()
    result = tg.check_grad(seed_function, [-4.0, 2.0])
    assert result and result.ok
    assert round(result.value, 4) == 24.7041
    assert result.reverse.tolist() == [a.grad, b.grad]
    assert_close(result.forward, [a.grad, b.grad], SWEEP_RTOL)
    assert_close(result.central, [a.grad, b.grad], 100 * FD_RTOL, 1e-6)
    assert result.abs_error < 1e-5 and result.rel_error < 1e-7


def test_check_grad_passes_on_correct_functions():
    def vectorised(x):  # NumPy functions on object arrays call the methods
        return np.sum(np.exp(x) * np.sin(x)) + x[0] * x[2] ** 3 - np.sqrt(x[1:] ** 2 + 1).sum()

    assert tg.check_grad(vectorised, np.array([0.3, -1.2, 0.7]))
    assert tg.check_grad(lambda v: tg.tanh(v) / (1 + v**2), 0.4).reverse.shape == (1,)
    partial = tg.check_grad(lambda x: x[0] * 3.0, (1.0, 2.0))
    assert partial.reverse.tolist() == partial.forward.tolist() == [3.0, 0.0]
    constant = tg.check_grad(lambda x: 2.0, [1.0, 2.0])
    assert constant.reverse.tolist() == constant.forward.tolist() == [0.0, 0.0]
    for seed in SEEDS[:4]:
        program, point = seeded_case(seed)
        assert tg.check_grad(lambda x: run_program(program, list(x), tg), point)


def jump(x):
    """A step that no derivative can see: central differences across it do."""
    return x[0] * x[1] + (1.0 if x[1] > 0.5 else 0.0)


def test_check_grad_fails_at_a_jump_and_names_the_input():
    with pytest.raises(AssertionError, match=r"input 1 \(x\[1\] = 0\.5\)"):
        tg.check_grad(jump, [2.0, 0.5])
    result = tg.check_grad(jump, [2.0, 0.5], raise_exception=False)
    assert not result and result.worst_input == 1
    assert result.worst_pair == ("reverse", "central") and result.abs_error > 1e5
    assert result.reverse.tolist() == result.forward.tolist() == [0.5, 2.0]
    assert tg.check_grad(jump, [2.0, 0.7])  # away from the jump all agree


def wrong_sin():
    """``sin`` with the slope of ``sin`` (its own value) instead of ``cos``."""
    return dataclasses.replace(OPS["sin"], partials=(lambda x, out: out,))


def sin_of_second(x):
    return x[0] + np.sin(x)[1] * 2.0  # np.sin calls .sin() on Values and Duals


def test_check_grad_fails_on_a_wrong_forward_rule(monkeypatch):
    assert tg.check_grad(sin_of_second, [0.3, 1.1])
    monkeypatch.setattr(Dual, "sin", lambda self: apply(wrong_sin(), self))
    with pytest.raises(AssertionError, match=r"input 1 \(x\[1\] = 1\.1\): .*forward vs central"):
        tg.check_grad(sin_of_second, [0.3, 1.1])
    result = tg.check_grad(sin_of_second, [0.3, 1.1], raise_exception=False)
    assert result.forward[1] == 2.0 * math.sin(1.1) and result.reverse[1] == 2.0 * math.cos(1.1)


def test_check_grad_fails_when_reverse_mode_leaves_the_tape(monkeypatch):
    monkeypatch.setattr(Value, "sin", lambda self: Value(math.sin(self.data)))  # a new leaf
    with pytest.raises(AssertionError, match=r"input 1 .*reverse vs"):
        tg.check_grad(sin_of_second, [0.3, 1.1])


def test_check_grad_errors():
    with pytest.raises(TypeError, match="1-D"):
        tg.check_grad(lambda x: x[0], np.ones((2, 2)))
    with pytest.raises(TypeError, match="Value"):
        tg.check_grad(lambda x: x, Value(1.0))
    with pytest.raises(ValueError, match="scalar"):
        tg.check_grad(lambda x: x * 2.0, [1.0, 2.0])
    with pytest.raises(TypeError, match="str"):
        tg.check_grad(lambda x: "one", 1.0)
