"""Masks (comparisons of traced Tensors) as guards: every way a mask's data
can reach Python while ``record`` traces makes it a guard, so a replay whose
mask differs raises BranchChanged (or records again with ``retrace=True``);
a mask used only as the condition of ``tapegrad.where`` stays data and is
recomputed by every replay (no false guard)."""

import copy
import operator
import pickle

import numpy as np
import pytest

import tapegrad as tg

X0 = np.ones(3)  # every mask below is all True here ...
X1 = -2.0 * np.ones(3)  # ... and all False here


# Each route reads the mask's data into Python (a number, bytes, a string, a
# plain array, a list): ``f`` branches on what it gives.
ROUTES = {
    # views and copies, then a reduction
    "ravel": lambda m: m.ravel().any(),
    "reshape": lambda m: m.reshape(-1).any(),
    "T": lambda m: m.T.any(),
    "transpose": lambda m: m.transpose().any(),
    "flatten": lambda m: m.flatten().any(),
    "view": lambda m: m.view().any(),
    "view(bool)": lambda m: m.view(bool).any(),
    "view(uint8)": lambda m: m.view(np.uint8).sum() > 0,
    "view(ndarray)": lambda m: m.view(np.ndarray).any(),
    "copy": lambda m: m.copy().any(),
    "copy.copy": lambda m: copy.copy(m).any(),
    "copy.deepcopy": lambda m: copy.deepcopy(m).any(),
    "reversed slice": lambda m: m[::-1].any(),
    "squeeze": lambda m: m.squeeze().any(),
    "astype(bool)": lambda m: m.astype(bool).any(),
    "astype(int).sum()": lambda m: m.astype(int).sum() > 0,
    "real": lambda m: m.real.any(),
    # methods that give Python data
    "any": lambda m: m.any(),
    "bool(any)": lambda m: bool(m.any()),
    "all": lambda m: m.all(),
    "max": lambda m: m.max(),
    "sum": lambda m: m.sum() > 0,
    "argmax": lambda m: m.argmax() == 0 and m[0],
    "index": lambda m: bool(m[0]),
    "tobytes": lambda m: b"\x01" in m.tobytes(),
    "tolist": lambda m: any(m.tolist()),
    "item": lambda m: m.item(0),
    "flat": lambda m: bool(m.flat[0]),
    "searchsorted": lambda m: m.searchsorted(True) == 0,
    "dot": lambda m: bool(m.dot(m)),
    "nonzero": lambda m: len(m.nonzero()[0]) > 0,
    "data": lambda m: b"\x01" in bytes(m.data),
    "ctypes": lambda m: m.ctypes.data != 0 and np.ctypeslib.as_array(
        m.ctypes.data_as(np.ctypeslib.ctypes.POINTER(np.ctypeslib.ctypes.c_bool)),
        (3,)).any(),
    # Python protocols
    "iter": lambda m: any(v for v in m),
    "list": lambda m: any(list(m)),
    "builtin sum": lambda m: sum(m) > 0,
    "in": lambda m: True in m,
    "repr": lambda m: "True" in repr(m),
    "str": lambda m: "True" in str(m),
    "format": lambda m: "True" in f"{m}",
    "pickle": lambda m: pickle.loads(pickle.dumps(m)).any(),
    # NumPy conversions, functions and ufuncs
    "np.asarray": lambda m: np.asarray(m).any(),
    "np.array": lambda m: np.array(m).any(),
    "np.asanyarray": lambda m: np.asanyarray(m).any(),
    "np.count_nonzero": lambda m: np.count_nonzero(m) > 0,
    "np.nonzero": lambda m: len(np.nonzero(m)[0]) > 0,
    "np.where(m)": lambda m: np.where(m)[0].size > 0,
    "np.any": lambda m: bool(np.any(m)),
    "np.ravel": lambda m: np.ravel(m).any(),
    "np.concatenate": lambda m: np.concatenate([m, m]).any(),
    "ufunc": lambda m: np.logical_and(m, True).any(),
    "invert": lambda m: not (~m).any(),
    "arithmetic": lambda m: (m * 1.0).sum() > 0,
    "comparison": lambda m: (m == 1).all(),
    "ndarray index": lambda m: np.arange(3.0)[m].size > 0,
    "tensor index": lambda m: tg.tensor(np.arange(3.0))[m].shape[0] > 0,
    "tensor()": lambda m: tg.tensor(m).value.any(),
}

def _if(m):
    """The truth of an ``if`` statement (not a call of bool())."""
    answer = False
    if m:
        answer = True
    return answer


# Routes out of a one-element (0-d) mask.
SCALAR_ROUTES = {
    "bool": bool,
    "if": lambda m: _if(m),
    "int": lambda m: int(m) == 1,
    "float": lambda m: float(m) == 1.0,
    "item": lambda m: m.item(),
    "not": lambda m: not operator.not_(m),
    "tolist": lambda m: m.tolist(),
    "np.asarray": lambda m: bool(np.asarray(m)),
    "and": lambda m: bool(m & True),
}


def _branching(route, scalar=False):
    """``f`` selects with its mask in tapegrad.where (data) and also
    branches on ``route(mask)``."""
    def f(t):
        m = (t.sum() > 0) if scalar else (t > 0)
        y = tg.where(m, t, 0.5 * t)
        if route(m):
            return (y * t).sum()
        return (-y).sum()
    return f


def _fresh(f, x):
    return tg.record(f, tg.tensor(x)).value_and_grad(x)


def _check_route(f):
    rec = tg.record(f, tg.tensor(X0))
    same = X0 * 2.0  # the same mask: the recording replays
    value, grad = rec.value_and_grad(same)
    fresh = _fresh(f, same)
    assert value == fresh[0] and np.array_equal(grad, fresh[1])
    with pytest.raises(tg.BranchChanged):
        rec(X1)
    with pytest.raises(tg.BranchChanged):
        rec.grad(X1)
    again = tg.record(f, tg.tensor(X0), retrace=True)
    value, grad = again.value_and_grad(X1)
    fresh = _fresh(f, X1)
    assert value == fresh[0] and np.array_equal(grad, fresh[1])
    assert again.retraces == 1


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_mask_that_reaches_python_is_a_guard(route):
    _check_route(_branching(ROUTES[route]))


@pytest.mark.parametrize("route", sorted(SCALAR_ROUTES))
def test_a_one_element_mask_that_reaches_python_is_a_guard(route):
    _check_route(_branching(SCALAR_ROUTES[route], scalar=True))


@pytest.mark.parametrize("fuse", [True, False])
def test_the_reported_program_raises_instead_of_keeping_its_branch(fuse):
    def f(t):
        m = t > 0
        y = tg.where(m, t, 0.5 * t)
        if m.ravel().any():
            return (y * t).sum()
        return (-y).sum()

    rec = tg.record(f, tg.tensor(X0), fuse=fuse)
    with pytest.raises(tg.BranchChanged, match="comparison at record"):
        rec(X1)
    again = tg.record(f, tg.tensor(X0), retrace=True, fuse=fuse)
    assert again(X1) == 3.0 == _fresh(f, X1)[0]
    assert np.array_equal(again.grad(X1), np.full(3, -0.5))


@pytest.mark.parametrize("fuse", [True, False])
def test_a_mask_used_only_by_where_is_recomputed(fuse):
    """Reading what does not depend on the mask's data (shape, dtype,
    length), copying it with copy.copy, or selecting with it twice keeps it
    data: replays where it flips recompute it."""
    def f(t):
        m = t > 0
        assert m.shape == (3,) and m.ndim == 1 and m.size == 3 and len(m) == 3
        assert m.dtype == bool and np.shape(m) == (3,) and np.ndim(m) == 1
        same = copy.copy(m)
        y = tg.where(m, t * t, 0.5 * t) + tg.where(same, 1.0, -t)
        return (y * t).sum()

    rec = tg.record(f, tg.tensor(X0), fuse=fuse)
    for x in (X1, np.array([1.0, -2.0, 3.0]), X0 * 3.0):
        value, grad = rec.value_and_grad(x)
        fresh = _fresh(f, x)
        assert value == fresh[0] and np.array_equal(grad, fresh[1])
    assert rec.retraces == 0


def test_where_on_a_view_of_a_mask_is_a_guard():
    """A view of a mask is not the comparison the replay recomputes: used
    in where(), the tape was built for it, so it guards the mask."""
    def f(t):
        m = t > 0
        return (tg.where(m[::-1], t, 0.5 * t) * t).sum()

    x0 = np.array([1.0, 2.0, -3.0])
    rec = tg.record(f, tg.tensor(x0))
    assert rec(x0 * 2.0) == _fresh(f, x0 * 2.0)[0]
    with pytest.raises(tg.BranchChanged):
        rec(-x0)
    again = tg.record(f, tg.tensor(x0), retrace=True)
    assert again(-x0) == _fresh(f, -x0)[0]


def test_a_mask_is_read_only():
    def f(t):
        m = t > 0
        with pytest.raises((TypeError, ValueError), match="read-only"):
            m[0] = False
        return tg.where(m, t, 0.0).sum()

    tg.record(f, tg.tensor(X0))


def test_a_mask_gives_no_buffer():
    """The buffer protocol would hand NumPy's memory to Python unseen."""
    def f(t):
        m = t > 0
        with pytest.raises(TypeError):
            memoryview(m)
        return tg.where(m, t, 0.0).sum()

    rec = tg.record(f, tg.tensor(X0))
    assert rec(X1) == 0.0


def test_comparing_with_a_mask_is_recorded():
    """``t > mask`` compares a traced tensor: it is recorded, and the mask
    it reads is a guard."""
    def f(t):
        m = t > 0
        k = (t * 0.5) > m
        return tg.where(k, t, -t).sum()

    rec = tg.record(f, tg.tensor(np.array([4.0, 1.0, 3.0])))
    assert rec(np.array([1.0, 4.0, 5.0])) == _fresh(f, np.array([1.0, 4.0, 5.0]))[0]
    with pytest.raises(tg.BranchChanged):
        rec(np.array([-1.0, 4.0, 5.0]))


def test_outside_record_comparisons_are_plain_arrays():
    t = tg.tensor([1.0, -1.0])
    m = t > 0
    assert type(m) is np.ndarray and m.tolist() == [True, False]
