"""Pickling Values and Tensors: a leaf travels as its data (a new leaf on
no tape where it lands); one computed on a tape refuses with a TypeError
that says to pickle a recording instead (tapegrad.replay.tapefile)."""

import pickle

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.nn import Parameter


def _round_trip(x):
    return pickle.loads(pickle.dumps(x))


def test_a_leaf_value_pickles_as_its_number_and_grad():
    v = tg.Value(2.5)
    (v * v).backward()
    w = _round_trip(v)
    assert type(w) is tg.Value and w.value == 2.5 and w.grad == v.grad == 5.0
    (w * 3.0).backward()  # a leaf of its own, usable on a new tape
    assert w.grad == 8.0 and v.grad == 5.0


@pytest.mark.parametrize("make", [
    lambda: tg.tensor(np.arange(3.0)),
    lambda: tg.tensor(np.arange(3.0, dtype=np.float32), requires_grad=True),
    lambda: Parameter(np.ones((2, 2))),
], ids=["constant", "leaf", "parameter"])
def test_a_leaf_tensor_pickles_as_its_data(make):
    t = make()
    if t.requires_grad:
        (t * t).sum().backward()
    u = _round_trip(t)
    assert type(u) is type(t) and u.requires_grad == t.requires_grad
    assert u.dtype == t.dtype and np.array_equal(u.value, t.value)
    assert (u.grad is None) == (t.grad is None)
    if t.grad is not None:
        assert np.array_equal(u.grad, t.grad)
        (u * 2.0).sum().backward()
        assert np.array_equal(u.grad, t.grad + 2.0)


def test_values_computed_on_a_tape_refuse_with_what_to_do():
    with tg.Tape():
        a = tg.Value(2.0)
        b = a * 3.0
        t = tg.tensor(np.ones(3), requires_grad=True)
        u = t * 2.0
        for computed, kind in ((b, "Value"), (u, "Tensor")):
            with pytest.raises(TypeError, match=f"cannot pickle a {kind} computed on a tape.*"
                                                r"recording"):
                pickle.dumps(computed)
        assert _round_trip(a).value == 2.0  # a leaf, even while a tape follows it
