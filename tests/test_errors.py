"""Bad input: a clear error that names the problem, and nothing lost."""

import math

import pytest

import tapegrad as tg
from tapegrad import Value


@pytest.mark.parametrize("bad", ["3", None, 1 + 2j, [1.0], b"1"], ids=repr)
def test_value_of_a_non_number_names_the_type(bad):
    with pytest.raises(TypeError, match=type(bad).__name__):
        Value(bad)


@pytest.mark.parametrize("bad", ["a", None, [1.0], 1j], ids=repr)
def test_ops_with_a_non_number_name_the_type(bad):
    x = Value(1.0)
    for op in (lambda: x + bad, lambda: bad - x, lambda: x * bad, lambda: x / bad,
               lambda: x**bad, lambda: x < bad):
        with pytest.raises(TypeError, match=type(bad).__name__):
            op()
    with pytest.raises(TypeError, match=type(bad).__name__):
        tg.exp(bad)


def test_assignments_and_backward_check_types():
    x = Value(1.0)
    with pytest.raises(TypeError, match="str"):
        x.data = "2"
    with pytest.raises(TypeError, match="NoneType"):
        x.grad = None
    with pytest.raises(TypeError, match="str"):
        (x * 2).backward("1")
    assert (x.data, x.grad) == (1.0, 0.0)  # nothing lost


def test_computed_values_cannot_be_assigned():
    y = Value(1.0) * 2
    with pytest.raises(tg.TapeError, match="leaves"):
        y.data = 3.0
    with pytest.raises(tg.TapeError, match="leaves"):
        y.grad = 0.0


def test_mixing_two_tapes_is_a_clear_error_and_changes_neither():
    x = Value(1.0)
    with tg.Tape() as t1:
        a = x * 2.0
    with tg.Tape() as t2:
        b = x * 3.0
    before = (len(t1), len(t2))
    with pytest.raises(tg.MixedTapeError, match="two different tapes"):
        a + b
    with pytest.raises(tg.MixedTapeError):
        b < a
    assert (len(t1), len(t2)) == before
    (a + x).backward()  # both tapes still work
    b.backward()
    assert x.grad == 6.0


def test_stale_value_with_a_live_one_says_stale():
    tape = tg.Tape()
    with tape:
        old = Value(1.0) * 2
    tape.reset()
    with tape:
        new = Value(1.0) * 2
    with pytest.raises(tg.StaleValueError):
        old + new
    with pytest.raises(tg.StaleValueError):
        new + old


def test_domain_errors_give_numpy_numbers_not_exceptions():
    x = Value(0.0)
    assert tg.log(x).value == -math.inf
    assert math.isnan(tg.sqrt(Value(-1.0)).value)
    assert (Value(1.0) / 0.0).value == math.inf
    assert tg.exp(Value(1000.0)).value == math.inf
    y = tg.sqrt(x)
    y.backward()
    assert x.grad == math.inf


def test_records_off_the_output_path_cannot_spoil_a_gradient():
    """sqrt'(0) is inf; a record the output does not depend on must not turn
    its argument's gradient into 0 * inf = nan."""
    x = Value(0.0)
    with tg.Tape() as tape:
        tg.sqrt(x)  # recorded, but not part of z
        z = (x + 1.0) * 2.0
    assert tape.op[1] == tg.OPS["sqrt"].code
    z.backward()
    assert x.grad == 2.0


def test_debug_mode_names_the_first_non_finite_record():
    x = Value(-1.0)
    y = tg.sqrt(x) + tg.log(x + 1.0)  # records: x, sqrt, add, log, add
    y.backward()  # outside debug mode: nan, no exception
    with tg.debug_mode():
        with pytest.raises(tg.NonFiniteError, match=r"record 1 \(sqrt\) produced nan from x=-1.0"):
            y.backward()


def test_debug_mode_names_a_non_finite_adjoint():
    x = Value(0.0)
    y = tg.sqrt(x) * 2.0
    with tg.debug_mode():
        with pytest.raises(tg.NonFiniteError, match="adjoint of record 0"):
            y.backward()


def test_set_debug_and_debug_mode_off():
    y = tg.log(Value(0.0))
    tg.set_debug(True)
    try:
        with tg.debug_mode(False):
            y.backward()
        with pytest.raises(tg.NonFiniteError):
            y.backward()
    finally:
        tg.set_debug(False)
