"""Debug mode blames only records the output depends on (issue 14, D8).

A record counts when it carries derivative to the output (its adjoint from
the ``backward()`` is nonzero) or is the output; a non-finite value there is
named (the first such record), a non-finite adjoint as before.  A nan that
the output does not take, or one elsewhere on the same tape, is no error.
"""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import Value
from tapegrad.errors import NonFiniteError


def test_where_that_does_not_take_the_nan_is_no_error():
    with tg.debug_mode():
        with tg.Tape():
            v = Value(-4.0)
            y = tg.where(v > 0, tg.sqrt(v), 0.0)  # where()'s docstring example
        y.backward()
    assert (y.data, v.grad) == (0.0, 0.0)
    with tg.debug_mode():
        w = Value(4.0)
        y = tg.where(w > 0, tg.sqrt(w), 0.0)  # the branch taken: finite too
        y.backward()
    assert (y.data, w.grad) == (2.0, 0.25)


def test_an_unrelated_nan_on_the_same_tape_is_no_error():
    with tg.Tape():
        junk = tg.log(Value(-1.0))  # nan, read by nothing below
        b = Value(2.0)
        y = b * b
    assert np.isnan(junk.data)
    with tg.debug_mode():
        y.backward()
    assert (y.data, b.grad) == (4.0, 4.0)


def test_a_nan_on_the_path_is_still_named():
    with tg.Tape():
        junk = tg.sqrt(Value(-1.0))  # record 1: nan, off the path
        x = Value(0.0)
        y = tg.log(x) * 2.0 + junk * 0.0  # log(0) = -inf at record 3, on the path
    with tg.debug_mode():
        with pytest.raises(NonFiniteError, match=r"record 3 \(log\) produced -inf from x=0.0"):
            y.backward()
    with tg.Tape():
        x = Value(-1.0)
        y = tg.where(x > 0, 1.0, tg.sqrt(x))  # the nan taken this time
    with tg.debug_mode():
        with pytest.raises(NonFiniteError, match=r"record 2 \(sqrt\) produced nan from x=-1.0"):
            y.backward()


def test_a_non_finite_adjoint_on_the_path_is_still_named():
    with tg.Tape():
        junk = tg.log(Value(-1.0))
        x = Value(0.0)
        y = tg.sqrt(x) * 2.0  # finite values, d sqrt / dx = inf at 0
    with tg.debug_mode():
        with pytest.raises(NonFiniteError, match=r"adjoint of record 2 \(input #1\) is inf"):
            y.backward()
    assert np.isnan(junk.data)


def test_the_output_itself_is_named():
    with tg.Tape():
        x = Value(float("inf"))
        y = x * 0.0
    with tg.debug_mode():  # the input carries no derivative (d y / dx = 0.0): the output is named
        with pytest.raises(NonFiniteError, match=r"record 1 \(mul\) produced nan from x=inf"):
            y.backward()


def test_arrays_where_that_does_not_take_the_nan_is_no_error():
    v = tg.tensor(np.array([-4.0, 4.0]), requires_grad=True)
    with tg.debug_mode():
        y = tg.where(v > 0, tg.sqrt(v), 0.0).sum()
        y.backward()
    assert y.item() == 2.0 and v.grad.tolist() == [0.0, 0.25]


def test_arrays_an_unrelated_nan_is_no_error_and_a_nan_on_the_path_is_named():
    t = tg.tensor(np.array([1.0, -1.0]), requires_grad=True)
    with tg.Tape():
        junk = tg.log(t)  # nan at index 1, read by nothing below
        y = (t * t).sum()
        z = (tg.log(t) * 2.0).sum()  # the nan on the path
    assert np.isnan(junk.value[1])
    with tg.debug_mode():
        y.backward()
        assert t.grad.tolist() == [2.0, -2.0]
        with pytest.raises(NonFiniteError, match=r"record 4 \(array log\) produced nan at index \(1,\)"):
            z.backward()


def test_arrays_an_element_the_output_does_not_read_is_no_error():
    t = tg.tensor(np.array([1.0, -1.0]), requires_grad=True)
    with tg.debug_mode():
        y = tg.log(t)[0] * 3.0  # log(-1) = nan at index 1, not read
        y.backward()
    assert t.grad.tolist() == [3.0, 0.0]
    with tg.debug_mode():
        y = tg.log(t)[1] * 3.0
        with pytest.raises(NonFiniteError, match=r"array log\) produced nan at index \(1,\)"):
            y.backward()


def test_arrays_a_nan_the_gradient_does_not_take_is_no_error():
    # exp(log(0)) is 0, and its gradient 0 (the sweep carries no 0 * inf).
    t = tg.tensor(np.array([0.0, 1.0]), requires_grad=True)
    with tg.debug_mode():
        y = tg.exp(tg.log(t)).sum()
        y.backward()
    assert y.item() == 1.0 and t.grad.tolist() == [0.0, 1.0]


def test_arrays_a_non_finite_gradient_with_finite_values_is_named():
    t = tg.tensor(np.array([0.0, 1.0]), requires_grad=True)
    with tg.debug_mode():
        y = tg.sqrt(t).sum()  # d sqrt / dt = inf at 0
        with pytest.raises(NonFiniteError, match=r"gradient of record 0 \(array input\) is inf"):
            y.backward()
