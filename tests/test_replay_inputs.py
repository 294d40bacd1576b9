"""Replay inputs that are not real numbers are rejected, never coerced
(issue 14, D9): a 0-d array of strings, objects, complex numbers, dates...
raises TypeError naming its dtype, as a 1-D array of them always did, on
every input path (a number, an element of a tuple or list, beside a Tensor)
and in every argument of every method (``x``, ``jvp``'s and ``hvp``'s
direction, ``vjp``'s weights, ``batch_value_and_grad``'s points).  Booleans
are real numbers here (0 and 1), as they are for 1-D arrays.
"""

import re
import warnings

import numpy as np
import pytest

import tapegrad as tg

# 0-d arrays that NumPy would turn into a float (or a nan) without a word.
BAD = {
    "object-None": np.array(None, dtype=object),
    "object-number": np.array(2.0, dtype=object),
    "complex": np.array(3 + 4j),
    "str": np.array("3.5"),
    "bytes": np.array(b"3.5"),
    "datetime": np.array("2020-01-01", dtype="datetime64[D]"),
    "timedelta": np.array(1, dtype="timedelta64[s]"),
}


def _raises_naming(bad):
    return pytest.raises(TypeError, match=re.escape(str(np.asarray(bad).dtype)))


@pytest.fixture(autouse=True)
def _loud():
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        yield


# --- the argument x, on each path of Structure -----------------------------------

def _scalar():
    return tg.record(lambda v: v * v + tg.sin(v), 2.0), lambda bad: bad, 1.0


def _in_tuple():
    rec = tg.record(lambda a: a[0] * a[1][0] + a[1][1] * a[0], (1.0, np.zeros(2)))
    return rec, lambda bad: (bad, np.ones(2)), (1.0, np.ones(2))


def _in_list():
    rec = tg.record(lambda a: a[0] * a[1] + a[1], [1.0, 2.0])
    return rec, lambda bad: [1.5, bad], [1.0, 1.0]


def _beside_a_tensor():
    rec = tg.record(lambda a: (a[0] * a[0]).sum() * a[1], (tg.tensor(np.zeros(3)), 1.0))
    assert type(rec.program).__name__ == "ArrayProgram"
    return rec, lambda bad: (np.ones(3), bad), (np.ones(3), 1.0)


PATHS = {"number": _scalar, "tuple": _in_tuple, "list": _in_list, "tensor-tuple": _beside_a_tensor}

# method name -> call with the argument x and a good direction
X_METHODS = {
    "call": lambda rec, x, v: rec(x),
    "value_and_grad": lambda rec, x, v: rec.value_and_grad(x),
    "grad": lambda rec, x, v: rec.grad(x),
    "vjp": lambda rec, x, v: rec.vjp(x, [1.0]),
    "jvp": lambda rec, x, v: rec.jvp(x, v),
    "hvp": lambda rec, x, v: rec.hvp(x, v),
    "grad_and_hvp": lambda rec, x, v: rec.grad_and_hvp(x, v),
    "hessian": lambda rec, x, v: rec.hessian(x),
    "jacobian": lambda rec, x, v: rec.jacobian(x),
}
# method name -> call with a good x and the direction v
V_METHODS = {
    "jvp": lambda rec, x, v: rec.jvp(x, v),
    "hvp": lambda rec, x, v: rec.hvp(x, v),
    "grad_and_hvp": lambda rec, x, v: rec.grad_and_hvp(x, v),
}


@pytest.mark.parametrize("method", X_METHODS)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("bad", BAD)
def test_bad_x_rejected(bad, path, method):
    rec, place, good = PATHS[path]()
    with _raises_naming(BAD[bad]):
        X_METHODS[method](rec, place(BAD[bad]), good)


@pytest.mark.parametrize("method", V_METHODS)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("bad", BAD)
def test_bad_direction_rejected(bad, path, method):
    rec, place, good = PATHS[path]()
    with _raises_naming(BAD[bad]):
        V_METHODS[method](rec, good, place(BAD[bad]))


# --- vjp's weights and batch_value_and_grad's points ----------------------------

def _programs():
    return {
        "scalar": (tg.record(lambda x: x[0] * x[1], np.zeros(2)), np.ones(2)),
        "array": (tg.record(lambda x: (x * x).sum(), tg.tensor(np.zeros(2))), np.ones(2)),
    }


@pytest.mark.parametrize("kind", ["scalar", "array"])
@pytest.mark.parametrize("bad", BAD)
def test_bad_vjp_weights_rejected(bad, kind):
    rec, x = _programs()[kind]
    with _raises_naming(BAD[bad]):
        rec.vjp(x, BAD[bad])
    with _raises_naming(BAD[bad]):
        rec.vjp(x, BAD[bad].reshape(1))


@pytest.mark.parametrize("weights", [[None], ["1.5"], [1j]], ids=["None", "str", "complex"])
@pytest.mark.parametrize("kind", ["scalar", "array"])
def test_bad_vjp_weight_lists_rejected(weights, kind):
    rec, x = _programs()[kind]
    with pytest.raises(TypeError, match="dtype"):
        rec.vjp(x, weights)


@pytest.mark.parametrize("kind", ["scalar", "array"])
@pytest.mark.parametrize("bad", BAD)
def test_bad_batch_points_rejected(bad, kind):
    rec, _ = _programs()[kind]
    points = np.full((3, 2), BAD[bad].item(), dtype=BAD[bad].dtype)
    with _raises_naming(BAD[bad]):
        rec.batch_value_and_grad(points)


@pytest.mark.parametrize("kind", ["scalar", "array"])
def test_bad_batch_point_lists_rejected(kind):
    rec, _ = _programs()[kind]
    with pytest.raises(TypeError, match="dtype"):
        rec.batch_value_and_grad([[1.0, "2.0"]])


# --- what was rejected before, and what stays accepted ----------------------------

@pytest.mark.parametrize("bad", [None, 3 + 4j, "3.5", np.complex128(1j), np.str_("1")],
                         ids=["None", "complex", "str", "np.complex128", "np.str_"])
def test_bad_python_numbers_still_rejected(bad):
    rec = tg.record(lambda v: v * v, 2.0)
    for call in (lambda: rec(bad), lambda: rec.value_and_grad(bad),
                 lambda: rec.jvp(1.0, bad), lambda: rec.hvp(1.0, bad)):
        with pytest.raises(TypeError):
            call()


def _complex_tensor():
    """A Tensor holding complex numbers: tensor() refuses to make one now;
    one made around it (its array swapped in) must not replay either."""
    try:
        return tg.tensor(np.array([1j, 0.0]))
    except TypeError:
        made = tg.tensor(np.zeros(2))
        made._v = np.array([1j, 0.0])
        return made


@pytest.mark.parametrize("bad", [lambda: np.array([1j, 0.0]), _complex_tensor,
                                 lambda: np.array([None, 1.0], dtype=object),
                                 lambda: np.array(["1", "2"])],
                         ids=["complex", "complex-Tensor", "object", "str"])
def test_bad_tensors_and_arrays_still_rejected(bad):
    bad = bad()
    dtype = str(np.asarray(bad._v if isinstance(bad, tg.Tensor) else bad).dtype)
    scalar = tg.record(lambda x: x[0] * x[1], np.zeros(2))
    array = tg.record(lambda x: (x * x).sum(), tg.tensor(np.zeros(2)))
    for rec in (scalar, array):
        for call in (lambda: rec(bad), lambda: rec.value_and_grad(bad),
                     lambda: rec.hvp(np.ones(2), bad), lambda: rec.jvp(np.ones(2), bad)):
            if isinstance(bad, tg.Tensor) and rec is scalar:
                continue  # a Tensor is no 1-D array argument: a different error
            with pytest.raises(TypeError, match=re.escape(dtype)):
                call()


@pytest.mark.parametrize("good", [True, np.True_, np.array(True), 1, np.int8(1),
                                  np.array(1, dtype=np.uint16), np.float32(1.0), np.array(1.0)],
                         ids=["bool", "np.bool_", "0-d bool", "int", "np.int8", "0-d uint16",
                              "np.float32", "0-d float"])
def test_real_numbers_and_booleans_accepted(good):
    rec = tg.record(lambda v: v * v + v, 2.0)
    assert rec(good) == 2.0
    assert rec.value_and_grad(good) == (2.0, 3.0)
    assert rec.hvp(1.0, good) == 2.0
    assert rec.vjp(good, good) == (2.0, 3.0)
    vector = tg.record(lambda x: x[0] * x[1], np.zeros(2))
    assert vector.value_and_grad(np.array([good, good]))[0] == 1.0
    assert vector.batch_value_and_grad(np.array([[good, good]]))[0].tolist() == [1.0]
