"""The Value API: the seed notebook's and micrograd's, on a tape."""

import math

import pytest

import tapegrad as tg
from tapegrad import Value
from tapegrad.ops import OPS


def test_grad():
    """The seed notebook's test, unchanged except for the import."""
    a, b = Value(-4.0), Value(2.0)

    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f

    assert round(g.value, 4) == 24.7041

    g.backward()

    assert round(a.grad, 4) == 138.8338
    assert round(b.grad, 4) == 645.5773


# Each op reachable from the API, and the record it must produce.
API = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "pow": lambda x, y: x**y,
    "neg": lambda x: -x,
    "square": lambda x: x**2.0,
    "exp": tg.exp, "log": tg.log, "tanh": tg.tanh, "sigmoid": tg.sigmoid,
    "sin": tg.sin, "cos": tg.cos, "sqrt": tg.sqrt, "abs": tg.abs, "relu": tg.relu,
}


@pytest.mark.parametrize("name", sorted(API))
def test_api_records_the_declared_op(name):
    op = OPS[name]
    xs = [lo + 0.37 * (hi - lo) for lo, hi in op.domain]
    with tg.Tape() as tape:
        out = API[name](*[Value(x) for x in xs])
    assert tape.op[-1] == op.code
    assert out.value == op.value(*xs)


def test_methods_match_module_functions():
    for name in ("exp", "log", "tanh", "sigmoid", "sin", "cos", "sqrt", "abs", "relu"):
        x = Value(0.7)
        assert getattr(x, name)().value == getattr(tg, name)(x).value == getattr(tg, name)(0.7)


def test_reflected_ops_put_the_number_first():
    x = Value(3.0)
    assert (2 - x).value == -1.0
    assert (12 / x).value == 4.0
    assert (2**x).value == 8.0
    assert (1 + x).value == (x + 1).value == 4.0
    assert (2 * x).value == 6.0
    for y, slope in ((2 - x, -1.0), (12 / x, -12 / 9), (2**x, 8 * math.log(2))):
        x.grad = 0.0
        y.backward()
        assert x.grad == pytest.approx(slope, rel=1e-15)


def test_rsub_is_not_the_seed_bug():
    a = Value(5.0)
    assert (2 - a).value == -3.0  # the seed computed a - 2 = 3


def test_pow_with_value_exponent_and_general_number():
    x, y = Value(2.0), Value(3.0)
    z = x**y
    z.backward()
    assert (z.value, x.grad, y.grad) == pytest.approx((8.0, 12.0, 8 * math.log(2)))
    w = Value(4.0)
    (w**0.5).backward()
    assert w.grad == pytest.approx(0.25)


def test_comparisons_are_values_on_the_tape_and_branching_records_a_guard():
    x = Value(1.0)
    with tg.Tape() as tape:
        results = [x < 2, x <= 1, x > 2, x >= 1.5, 0 < x, x < Value(0.5), x == 1, x != 1]
    assert [r.value for r in results] == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    conditions = {OPS[name].code for name in ("lt", "le", "eq", "ne")}
    assert sum(code in conditions for code in tape.op) == len(results)
    assert OPS["branch"].code not in tape.op  # nothing branched yet
    with tape:
        taken = [bool(r) for r in results]
        if x:
            pass
    assert taken == [True, True, False, False, True, False, True, False]
    assert sum(code == OPS["branch"].code for code in tape.op) == len(results) + 1


def test_comparisons_have_no_slope_and_work_as_data():
    x = Value(3.0)
    y = (x > 2) * x + (x <= 2) * 10.0  # a taped selection
    y.backward()
    assert (y.value, x.grad) == (3.0, 1.0)


def test_equality_with_non_numbers_and_identity_hash():
    x = Value(1.0)
    assert (x == "one") is False and (x != None) is True  # noqa: E711
    assert len({x, Value(1.0)}) == 2 and x in {x}
    assert tg.Value(2.0) in [1.0, 2.0]  # list membership compares values, as floats do


def test_gradients_accumulate_until_zeroed():
    x = Value(3.0)
    y = x * x
    y.backward()
    y.backward()
    assert x.grad == 12.0
    x.grad = 0
    y.backward()
    assert x.grad == 6.0


def test_unreached_leaf_has_zero_grad_and_intermediate_grad():
    a, b, unused = Value(1.0), Value(2.0), Value(5.0)
    c = a * b
    d = c + 1.0
    d.backward()
    assert unused.grad == 0.0
    assert isinstance(unused.grad, float)
    assert c.grad == 1.0  # d(d)/d(c) from the latest backward
    assert (a.grad, b.grad) == (2.0, 1.0)


def test_backward_with_seed_and_on_a_leaf():
    x = Value(2.0)
    (x * 3).backward(2.0)
    assert x.grad == 6.0
    x.backward()
    assert x.grad == 7.0


def test_data_value_and_repr():
    x = Value(2)
    assert x.data == x.value == 2.0 and isinstance(x.data, float)
    assert repr(x) == "Value(data=2.0, grad=0.0)"
    assert (x * 2).data == 4.0
    x.data = 3.0
    assert (x * 2).value == 6.0
    assert Value(True).value == 1.0


def test_assigning_leaf_data_records_a_new_input():
    w = Value(1.0)
    with tg.Tape() as tape:
        y1 = w * 2
        w.data = 5.0
        y2 = w * 2
        y = y1 + y2
    assert (y1.value, y2.value) == (2.0, 10.0)
    assert len(tape.inputs) == 2 and tape.inputs[0] is tape.inputs[1] is w
    y.backward()
    assert w.grad == 4.0


def test_many_leaves_and_numpy_scalars():
    import numpy as np

    xs = [Value(float(i)) for i in range(50)]
    total = sum(x * np.float64(2.0) for x in xs)
    total.backward()
    assert all(x.grad == 2.0 for x in xs)
    assert total.value == 2.0 * sum(range(50))


def test_same_leaf_many_times():
    x = Value(0.5)
    y = x
    for _ in range(10):
        y = y * x
    y.backward()
    assert x.grad == pytest.approx(11 * 0.5**10)


def test_star_import_does_not_shadow_builtin_abs():
    namespace = {}
    exec("from tapegrad import *", namespace)
    assert "abs" not in namespace and "Value" in namespace
    assert tg.abs(-2.0) == 2.0 and tg.abs(Value(-2.0)).value == 2.0


def test_math_functions_refuse_values_instead_of_dropping_the_gradient():
    import math

    with pytest.raises(TypeError):
        math.exp(Value(1.0))


def test_piecewise_functions_name_bad_operands():
    with pytest.raises(TypeError, match="str"):
        tg.maximum("a", 1.0)
    with pytest.raises(TypeError, match="str"):
        tg.minimum(Value(1.0), "b")
    with pytest.raises(TypeError, match="condition"):
        tg.where("yes", 1.0, 2.0)
    assert tg.maximum(2, 3) == 3.0 and tg.where(0.0, 1.0, 2.0) == 2.0
