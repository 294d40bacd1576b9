"""NumPy's shape and indexing functions on Tensors and Values
(tapegrad/numpy/shaping.py, tapegrad/numpy/indexing.py and their ops in
tapegrad/array/ops/shaping.py): every function through the shared checker
over shapes, axes and options (value, gradient, forward mode, hvp, replay,
float32), choices by value found again at replay, Values, integer Tensors
as indices, bad input, and PyTorch."""

import numpy as np
import pytest
from conftest import requires_torch
from numpy_checks import check_numpy

import tapegrad as tg
from tapegrad.array import Tensor


def data(*shapes, seed=0):
    rng = np.random.default_rng(seed + sum(map(len, shapes)))
    return [rng.normal(size=shape) for shape in shapes]


def check(f, *shapes, seed=0, **options):
    return check_numpy(f, *data(*shapes, seed=seed), **options)


# --- reshaping, reordering, broadcasting, tiling, flipping, rolling ----------------------

def _all(*fs):
    return lambda *xs: tuple(f(*xs) for f in fs)


SHAPED = [  # (input shapes, f): every axis form NumPy takes
    *[((s,), _all(lambda x, n=n: np.reshape(x, n), lambda x, n=n: np.reshape(x, shape=n),
                  np.ravel)) for s, n in [((6,), (2, 3)), ((2, 3), (-1,)), ((2, 3, 4), (4, -1)),
                                          ((2, 3), 6), ((), (1, 1)), ((1,), ())]],
    *[((s,), lambda x, a=a: np.transpose(x, a)) for s, a in [
        ((3,), None), ((2, 3), None), ((2, 3), (1, 0)), ((2, 3, 4), (2, 0, 1)),
        ((2, 3, 4), (-1, 0, -2)), ((), None)]],
    *[((s,), lambda x, a=a: np.squeeze(x, a)) for s, a in [
        ((1, 3, 1), None), ((1, 3, 1), 0), ((1, 3, 1), -1), ((1, 3, 1), (0, 2)), ((3,), None)]],
    *[((s,), lambda x, a=a: np.expand_dims(x, a)) for s, a in [
        ((3,), 0), ((3,), 1), ((3,), -1), ((2, 3), (0, 3)), ((2, 3), (-1, 1)), ((), 0)]],
    *[(((2, 3, 4),), lambda x, a=a: np.swapaxes(x, *a)) for a in [(0, 1), (0, -1), (1, 1)]],
    *[(((2, 3, 4),), lambda x, a=a: np.moveaxis(x, *a)) for a in [
        (0, -1), (-1, 0), (1, 2), ((0, 1), (-1, -2)), ((2, 0), (0, 1))]],
    *[((s,), _all(np.atleast_1d, np.atleast_2d, np.atleast_3d, np.copy))
      for s in [(), (3,), (2, 3), (2, 3, 2)]],
    (((), (2,)), lambda x, y: np.atleast_3d(x, y)),
    *[((s,), lambda x, t=t: np.broadcast_to(x, t)) for s, t in [
        ((), (3,)), ((3,), (2, 3)), ((2, 1), (2, 4)), ((1, 3), (2, 2, 3)), ((2, 3), (2, 3))]],
    (((3, 1), (4,)), lambda x, y: np.broadcast_arrays(x, y)),
    (((3, 1), ()), lambda x, y: np.broadcast_arrays(x, y, np.ones((2, 1, 1)))[:2]),
    *[((s,), lambda x, r=r: np.tile(x, r)) for s, r in [
        ((3,), 2), ((3,), (2, 2)), ((2, 3), (1, 3)), ((2, 3), 2), ((2, 1, 3), (2, 1, 1, 2)),
        ((), 3), ((2, 2), 1)]],
    *[((s,), lambda x, r=r, a=a: np.repeat(x, r, a)) for s, r, a in [
        ((3,), 2, None), ((2, 3), 2, None), ((2, 3), 3, 0), ((2, 3), 2, -1),
        ((2, 3), [1, 0, 2], 1), ((2, 3), [2], 1), ((3, 2), np.array([0, 3, 1]), 0),
        ((), 3, None)]],
    *[((s,), lambda x, a=a: np.flip(x, a)) for s, a in [
        ((4,), None), ((2, 3), None), ((2, 3), 0), ((2, 3), -1), ((2, 3, 2), (0, 2)),
        ((), None)]],
    (((2, 3),), _all(np.fliplr, np.flipud)), (((3,),), np.flipud),
    *[((s,), lambda x, k=k, a=a: np.roll(x, k, a)) for s, k, a in [
        ((5,), 2, None), ((5,), -7, 0), ((2, 3), 4, None), ((2, 3), 1, 1),
        ((2, 3), (1, -1), (0, 1)), ((2, 3, 2), (1, 2), (-1, -1)), ((2, 3), (2,), 0)]],
]


@pytest.mark.parametrize("shapes, f", SHAPED)
def test_shape_functions(shapes, f):
    check(f, *shapes)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
@pytest.mark.parametrize("shape, width", [
    ((4,), 2), ((4,), (1, 3)), ((3,), 7), ((2, 3), ((1, 0), (2, 1))), ((2, 3), 1),
    ((2, 3, 2), ((0, 1), (1, 1), (2, 0))), ((2, 2), 5),
])
def test_pad(shape, width, mode):
    check(lambda x: np.pad(x, width, mode=mode), shape)


def test_pad_constant_values():
    check(lambda x: np.pad(x, 2, constant_values=1.5), (3,))
    check(lambda x: np.pad(x, ((1, 2), (0, 1)), "constant", constant_values=((1, 2), (3, 4))),
          (2, 3))


# --- joining and splitting ------------------------------------------------------------

@pytest.mark.parametrize("shapes, axis", [
    (((2,), (3,)), 0), (((2, 3), (1, 3)), 0), (((2, 3), (2, 1)), -1), (((2, 3), (4,)), None),
    (((2, 1, 3), (2, 2, 3), (2, 1, 3)), 1),
])
def test_concatenate(shapes, axis):
    check(lambda *xs: np.concatenate(xs, axis=axis), *shapes)
    check(lambda *xs: np.concatenate([np.ones_like(xs[0]), *xs], axis=axis), *shapes)
    constant = np.ones(shapes[0])  # float64 beside float32, as NumPy
    check(lambda *xs: np.concatenate([constant, *xs], axis=axis), *shapes, float32=False)


@pytest.mark.parametrize("shape, axis", [((), 0), ((3,), 0), ((3,), 1), ((2, 3), -1), ((2, 3), 1)])
def test_stack(shape, axis):
    check(lambda x, y: np.stack([x, y, x], axis=axis), shape, shape)


@pytest.mark.parametrize("name", ["hstack", "vstack", "dstack", "column_stack"])
@pytest.mark.parametrize("shape", [(), (3,), (3, 2), (3, 2, 2)])
def test_hstack_family(name, shape):
    if name == "column_stack" and len(shape) > 2:
        shape = (3, 2)
    stack = getattr(np, name)
    check(lambda x, y: stack([x, y]), shape, shape)
    check(lambda x: stack((x, np.ones_like(x))), shape)


@pytest.mark.parametrize("shapes, axis", [(((2, 3), (5,)), None), (((2, 3), (1, 3)), 0)])
def test_append(shapes, axis):
    check(lambda x, y: np.append(x, y, axis=axis), *shapes)


@pytest.mark.parametrize("name, args", [
    ("split", (3,)), ("split", ([1, 4],)), ("split", ([2, 2, -1],)), ("split", (2, 1)),
    ("array_split", (4,)), ("array_split", (4, 1)), ("array_split", ([0, 7],)),
    ("hsplit", (2,)), ("vsplit", ([1],)), ("dsplit", (1,)),
])
def test_splits(name, args):
    split = getattr(np, name)
    shape = {"dsplit": (6, 2, 2)}.get(name, (6, 4))
    check(lambda x: tuple(split(x, *args)), shape)


# --- diagonals and triangles ---------------------------------------------------------

@pytest.mark.parametrize("shape, k", [((3,), 0), ((3,), 1), ((3,), -2), ((3, 4), 0),
                                      ((3, 4), 2), ((4, 3), -1)])
def test_diag(shape, k):
    check(lambda x: np.diag(x, k), shape)


@pytest.mark.parametrize("shape, args", [
    ((3, 4), ()), ((3, 4), (1,)), ((3, 4), (-2,)), ((2, 3, 4), (0, 1, 2)),
    ((2, 3, 4), (1, -1, 0)), ((3, 3, 2), (0, 0, 1)),
])
def test_diagonal_and_trace(shape, args):
    check(lambda x: np.diagonal(x, *args), shape)
    check(lambda x: np.trace(x, *args), shape)


@pytest.mark.parametrize("shape", [(4,), (3, 4), (4, 3), (2, 3, 3)])
@pytest.mark.parametrize("k", [0, 1, -1])
def test_triu_tril(shape, k):
    check(lambda x: np.triu(x, k), shape)
    check(lambda x: np.tril(x, k=k), shape)


# --- taking elements ------------------------------------------------------------------

@pytest.mark.parametrize("shape, indices, axis, mode", [
    ((5,), [0, 2, 2, -1], None, "raise"), ((2, 3), [[5, 0], [1, 1]], None, "raise"),
    ((2, 3), [2, 0, 2], 1, "raise"), ((3, 2), 1, 0, "raise"), ((2, 3), [4, -5], -1, "wrap"),
    ((2, 3), [4, -5], 1, "clip"), ((4,), 2, None, "raise"),
])
def test_take(shape, indices, axis, mode):
    check(lambda x: np.take(x, indices, axis=axis, mode=mode), shape)


@pytest.mark.parametrize("shape, index_shape, axis", [
    ((3, 4), (3, 2), 1), ((3, 4), (5, 4), 0), ((3, 4), (1, 4), 0), ((2, 3, 4), (2, 3, 6), -1),
    ((12,), (5,), None), ((3, 4), (3, 1), -1),
])
def test_take_along_axis(shape, index_shape, axis):
    n = int(np.prod(shape)) if axis is None else shape[axis]
    indices = np.random.default_rng(1).integers(-n, n, size=index_shape)
    check(lambda x: np.take_along_axis(x, indices, axis=axis), shape)


@pytest.mark.parametrize("shape, obj, axis", [
    ((5,), 1, None), ((5,), [0, -1], None), ((2, 3), slice(0, 2), 1), ((3, 2), [1], 0),
    ((5,), np.array([True, False, True, False, False]), 0), ((2, 3), [], None),
])
def test_delete(shape, obj, axis):
    check(lambda x: np.delete(x, obj, axis=axis), shape)


@pytest.mark.parametrize("shape, obj, values_shape, axis", [
    ((5,), 1, (), None), ((5,), [0, 5, 2], (3,), None), ((2, 3), 1, (2,), 1),
    ((2, 3), [1], (2, 1), 1), ((2, 3), slice(0, 2), (), 0), ((3, 2), [2, 0], (2, 2), 0),
    ((2, 3), -1, (3,), 0),
])
def test_insert(shape, obj, values_shape, axis):
    check(lambda x, v: np.insert(x, obj, v, axis=axis), shape, values_shape)
    check(lambda x: np.insert(x, obj, 0.5, axis=axis), shape)


# --- choosing by value ---------------------------------------------------------------

@pytest.mark.parametrize("shape, axis", [((5,), -1), ((3, 4), 0), ((3, 4), -1), ((2, 3, 4), 1),
                                         ((3, 4), None)])
def test_sort(shape, axis):
    check(lambda x: np.sort(x, axis=axis), shape)


def test_sort_finds_the_permutation_again_at_replay():
    f = lambda x: (np.sort(x) * np.arange(1.0, 5.0)).sum()
    rec = tg.record(f, tg.tensor(np.array([4.0, 3.0, 2.0, 1.0])))
    x = np.array([0.5, 3.0, -1.0, 2.0])
    assert rec(x) == pytest.approx(f(x))
    np.testing.assert_allclose(rec.grad(x), [2.0, 4.0, 1.0, 3.0])


@pytest.mark.parametrize("shapes, bounds", [
    (((3, 4),), (-0.5, 0.5)), (((3, 4),), (None, 0.3)), (((3, 4),), (-0.3, None)),
    (((3, 4), (4,), ()), "traced"), (((3, 4), (3, 1), (4,)), "traced"),
    (((5,),), (0.4, -0.4)),
])
def test_clip(shapes, bounds):
    if bounds == "traced":  # both bounds on the tape, lo below hi
        check(lambda x, lo, hi: np.clip(x, lo - 0.5, hi + 0.5), *shapes)
        check(lambda x, lo, hi: np.clip(x, a_min=lo - 0.5, a_max=hi + 0.5), *shapes)
    else:
        check(lambda x: np.clip(x, *bounds), *shapes)
        check(lambda x: np.clip(x, min=bounds[0], max=bounds[1]), *shapes)
        low = -np.inf if bounds[0] is None else bounds[0]
        check(lambda x: np.clip(x, np.full_like(x, low), bounds[1]), *shapes)


def test_clip_gradient_goes_to_the_bound_that_binds():
    x = tg.tensor([-2.0, 0.0, 2.0], requires_grad=True)
    lo, hi = tg.Value(-1.0), tg.tensor([1.0, 1.0, 1.0], requires_grad=True)
    y = np.clip(x, lo, hi)
    (y * np.array([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(y.value, [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 10.0, 0.0])
    assert lo.grad == 1.0
    np.testing.assert_array_equal(hi.grad, [0.0, 0.0, 100.0])


def test_clip_side_changes_at_replay():
    rec = tg.record(lambda x: np.clip(x, -1.0, 1.0).sum(), tg.tensor(np.zeros(3)))
    x = np.array([-3.0, 0.5, 3.0])
    assert rec(x) == pytest.approx(0.5)
    np.testing.assert_array_equal(rec.grad(x), [0.0, 1.0, 0.0])


def test_nan_to_num():
    x = np.array([[1.0, np.nan, -np.inf], [np.inf, -0.5, 2.0]])
    check_numpy(lambda x: np.nan_to_num(x, posinf=5.0, neginf=-5.0), x)
    np.testing.assert_array_equal(np.nan_to_num(tg.tensor(x)).value, np.nan_to_num(x))
    check_numpy(lambda x: np.nan_to_num(x, nan=1.5, posinf=9.0, neginf=-9.0) * x[0, 0], x)
    t = tg.tensor(x, requires_grad=True)
    np.nan_to_num(t, nan=2.0).sum().backward()
    np.testing.assert_array_equal(t.grad, np.isfinite(x))


def test_where_three_arguments():
    condition = np.array([[True, False, True], [False, False, True]])
    check(lambda x, y: np.where(condition, x, y), (2, 3), (3,))
    check(lambda x: np.where(condition, x, 0.0), (2, 3))
    check(lambda x: np.where([True, False], 1.0, x), (2,))
    check(lambda x, y: np.where(x > y, x, y), (2, 3), (2, 3))  # the Mask: recorded


def test_where_on_a_traced_comparison_selects_anew_at_replay():
    rec = tg.record(lambda x: np.where(x > 0, x, 0.1 * x).sum(), tg.tensor(np.ones(3)))
    x = np.array([2.0, -10.0, 1.0])
    assert rec(x) == pytest.approx(2.0)
    np.testing.assert_allclose(rec.grad(x), [1.0, 0.1, 1.0])


def test_where_one_argument_is_nonzero():
    t = tg.tensor([[0.0, 2.0], [3.0, 0.0]], requires_grad=True)
    rows, cols = np.where(t)
    np.testing.assert_array_equal(rows, [0, 1])
    np.testing.assert_array_equal(cols, [1, 0])


def test_select():
    a, b = np.array([True, False, False, True]), np.array([True, True, False, False])
    check(lambda x, y: np.select([a, b], [x, y]), (4,), (4,))
    check(lambda x, y: np.select([a, b], [x, 2.0], default=y), (4,), (4,))
    check(lambda x, y: np.select([x > 0.5, x < -0.5], [x, y], default=-1.0), (4,), (4,))


# --- stencils and ranges -------------------------------------------------------------

@pytest.mark.parametrize("shape, n, axis", [((5,), 1, -1), ((5,), 3, 0), ((3, 4), 1, 0),
                                            ((3, 4), 2, -1), ((2, 3, 4), 1, 1)])
def test_diff(shape, n, axis):
    check(lambda x: np.diff(x, n=n, axis=axis), shape)


def test_diff_prepend_append():
    check(lambda x: np.diff(x, prepend=0.0, append=x[-1:] * 2.0), (4,))
    check(lambda x, p: np.diff(x, axis=0, prepend=p), (3, 2), (1, 2))
    check(lambda x: np.diff(x, n=0) * 1.0, (3,))


@pytest.mark.parametrize("edge_order", [1, 2])
@pytest.mark.parametrize("shape, spacing, axis", [
    ((5,), (), None), ((5,), (0.5,), None), ((3, 4), (), None), ((3, 4), (0.5, 2.0), None),
    ((3, 4), (0.25,), 1), ((3, 4, 3), (2.0,), (0, -1)), ((3,), (1.0,), 0),
])
def test_gradient(shape, spacing, axis, edge_order):
    check(lambda x: np.gradient(x, *spacing, axis=axis, edge_order=edge_order), shape)


def test_gradient_of_two_points_and_traced_spacing():
    check(lambda x: np.gradient(x, 0.5), (2,))
    check(lambda x: np.gradient(x[1:].reshape(2, 3), x[0] + 3.0, 0.5), (7,))


@pytest.mark.parametrize("num, endpoint, axis", [(5, True, 0), (4, False, 0), (1, True, 0),
                                                 (3, True, -1)])
def test_linspace(num, endpoint, axis):
    check(lambda a, b: np.linspace(a, b, num, endpoint=endpoint, axis=axis), (2,), (2,))
    check(lambda a: np.linspace(a, 3.0, num, endpoint=endpoint), ())
    check(lambda a: np.linspace(0.0, a, num, endpoint=endpoint, axis=axis), (2, 1))


def test_linspace_of_values_and_retstep():
    a, b = tg.Value(1.0), tg.Value(3.0)
    y, step = np.linspace(a, b, 5, retstep=True)
    assert isinstance(y, Tensor) and isinstance(step, tg.Value)
    np.testing.assert_allclose(y.value, np.linspace(1.0, 3.0, 5))
    (y.sum() + step).backward()
    assert (a.grad, b.grad) == pytest.approx((2.5 - 0.25, 2.5 + 0.25))


def test_like_functions_give_plain_arrays():
    t = tg.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    for like in (np.zeros_like(t), np.ones_like(t), np.empty_like(t), np.full_like(t, 2.0)):
        assert type(like) is np.ndarray and like.shape == (2, 3) and like.dtype == np.float32
    v = tg.Value(1.5)
    filled = np.full_like(t, v)
    assert isinstance(filled, Tensor) and filled.dtype == np.float32
    filled.sum().backward()
    assert v.grad == 6.0


def test_empty_results_keep_their_shape():
    x = tg.tensor(np.ones((2, 3)), requires_grad=True)
    for got, want in [(np.tile(x, 0), np.tile(np.ones((2, 3)), 0)),
                      (np.linspace(x, 2.0 * x, 0), np.empty((0, 2, 3))),
                      (np.repeat(x, 0, axis=1), np.empty((2, 0))),
                      (np.split(x, [1, 1])[1], np.empty((0, 3)))]:
        assert isinstance(got, Tensor) and got.shape == want.shape


# --- Values, integer Tensors, Tensors out ----------------------------------------------

def test_values_are_0d_arrays():
    v, w = tg.Value(2.0), tg.Value(-1.0)
    y = np.stack([v, w * 3.0])
    assert isinstance(y, Tensor) and y.shape == (2,)
    z = np.concatenate([np.atleast_1d(v), np.tile(w, 2), np.broadcast_to(v, (2,))])
    np.testing.assert_array_equal(z.value, [2.0, -1.0, -1.0, 2.0, 2.0])
    (y.sum() + (z * np.arange(5.0)).sum()).backward()
    assert (v.grad, w.grad) == (1.0 + 7.0, 3.0 + 3.0)
    clipped = np.clip(v, 0.0, 1.5)
    assert isinstance(clipped, tg.Value) and clipped.value == 1.5
    assert isinstance(np.nan_to_num(w), tg.Value)
    assert np.where(v > 0, v, 0.0).value == 2.0


def test_integer_tensors_as_indices():
    t = tg.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    idx = tg.tensor([2, 0, 2])
    np.testing.assert_array_equal(t[idx].value, t.value[[2, 0, 2]])
    np.testing.assert_array_equal(np.take(t, idx, axis=1).value, t.value[:, [2, 0, 2]])
    order = tg.tensor(np.argsort(-t.value, axis=1))
    got = np.take_along_axis(t, order, axis=1)
    np.testing.assert_array_equal(got.value, -np.sort(-t.value, axis=1))
    got.sum().backward()
    np.testing.assert_array_equal(t.grad, np.ones((3, 4)))


TENSORS_OUT = [
    lambda x: np.reshape(x, (6,)), lambda x: np.transpose(x), lambda x: np.ravel(x),
    lambda x: np.squeeze(x[None]), lambda x: np.expand_dims(x, 0), lambda x: np.swapaxes(x, 0, 1),
    lambda x: np.moveaxis(x, 0, 1), lambda x: np.broadcast_to(x, (2, 2, 3)),
    lambda x: np.broadcast_arrays(x, np.ones(3))[0], lambda x: np.tile(x, 2),
    lambda x: np.repeat(x, 2), lambda x: np.flip(x), lambda x: np.fliplr(x),
    lambda x: np.flipud(x), lambda x: np.roll(x, 1), lambda x: np.pad(x, 1),
    lambda x: np.split(x, 2)[0], lambda x: np.array_split(x, 3, axis=1)[2],
    lambda x: np.hsplit(x, 3)[0], lambda x: np.vsplit(x, 2)[1],
    lambda x: np.concatenate([x, x]), lambda x: np.stack([x, x]), lambda x: np.hstack([x, x]),
    lambda x: np.vstack([x, x]), lambda x: np.dstack([x, x]), lambda x: np.column_stack([x, x]),
    lambda x: np.diag(x), lambda x: np.diagonal(x), lambda x: np.trace(x), lambda x: np.triu(x),
    lambda x: np.tril(x), lambda x: np.take(x, [0, 1]), lambda x: np.take(x, 1),
    lambda x: np.take_along_axis(x, np.zeros((2, 1), int), 1), lambda x: np.sort(x),
    lambda x: np.clip(x, 0.0, 1.0), lambda x: np.where(x > 0, x, 0.0),
    lambda x: np.select([np.ones((2, 3), bool)], [x]), lambda x: np.nan_to_num(x),
    lambda x: np.gradient(x)[0], lambda x: np.linspace(x, x + 1.0, 3), lambda x: np.atleast_3d(x),
    lambda x: np.copy(x), lambda x: np.diff(x), lambda x: np.append(x, x),
    lambda x: np.delete(x, 0, axis=1), lambda x: np.insert(x, 0, 1.0, axis=1),
]


@pytest.mark.parametrize("f", TENSORS_OUT)
def test_tensors_in_give_tensors_out(f):
    out = f(tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True))
    assert isinstance(out, Tensor), type(out)


# --- bad input ---------------------------------------------------------------------------

def _t(*shape):
    return tg.tensor(np.ones(shape), requires_grad=True)


BAD = [
    (lambda: np.reshape(_t(2, 3), (4, 2)), ValueError, "numpy.reshape: cannot reshape"),
    (lambda: np.reshape(_t(2, 3), (3, 2), order="F"), ValueError, "order='F'"),
    (lambda: np.ravel(_t(2, 3), order="F"), ValueError, "numpy.ravel"),
    (lambda: np.transpose(_t(2, 3), (0, 2)), ValueError, "numpy.transpose"),
    (lambda: np.transpose(_t(2, 3), (0,)), ValueError, "numpy.transpose: axes"),
    (lambda: np.squeeze(_t(2, 1), 0), ValueError, "numpy.squeeze"),
    (lambda: np.expand_dims(_t(2), 3), ValueError, "numpy.expand_dims"),
    (lambda: np.swapaxes(_t(2, 3), 0, 2), ValueError, "numpy.swapaxes"),
    (lambda: np.moveaxis(_t(2, 3), (0, 1), 0), ValueError, "numpy.moveaxis"),
    (lambda: np.broadcast_to(_t(2, 3), (3, 3)), ValueError, "numpy.broadcast_to"),
    (lambda: np.broadcast_arrays(_t(2), _t(3)), ValueError, "numpy.broadcast_arrays"),
    (lambda: np.tile(_t(2), -1), ValueError, "numpy.tile"),
    (lambda: np.repeat(_t(3), [1, 2]), ValueError, "numpy.repeat"),
    (lambda: np.repeat(_t(3), 1.5), TypeError, "numpy.repeat"),
    (lambda: np.flip(_t(2, 3), 2), ValueError, "numpy.flip"),
    (lambda: np.fliplr(_t(3)), ValueError, "numpy.fliplr"),
    (lambda: np.roll(_t(3), 1, axis=1), ValueError, "numpy.roll"),
    (lambda: np.pad(_t(3), 1, mode="mean"), ValueError, "numpy.pad: mode 'mean'"),
    (lambda: np.pad(_t(3), 1, mode="reflect", reflect_type="odd"), ValueError, "numpy.pad"),
    (lambda: np.pad(_t(3), -1), ValueError, "numpy.pad"),
    (lambda: np.pad(_t(3), 1, constant_values=tg.Value(1.0)), TypeError, "numpy.pad"),
    (lambda: np.split(_t(5), 2), ValueError, "numpy.split: array split does not"),
    (lambda: np.array_split(_t(5), 0), ValueError, "numpy.array_split"),
    (lambda: np.vsplit(_t(4), 2), ValueError, "numpy.vsplit"),
    (lambda: np.concatenate([_t(2, 3), _t(2, 2)]), ValueError, "numpy.concatenate: shapes"),
    (lambda: np.concatenate([tg.Value(1.0)]), ValueError, "zero-dimensional"),
    (lambda: np.concatenate([_t(2), _t(2)], out=np.empty(4)), TypeError, "out="),
    (lambda: np.concatenate([_t(2), np.ones(2, complex)]), TypeError, "numpy.concatenate"),
    (lambda: np.concatenate([_t(2)], dtype=np.float32), TypeError, "numpy.concatenate"),
    (lambda: np.stack([_t(2), _t(3)]), ValueError, "numpy.stack"),
    (lambda: np.stack([_t(2)], axis=2), ValueError, "numpy.stack"),
    (lambda: np.diag(_t(2, 2, 2)), ValueError, "numpy.diag"),
    (lambda: np.diagonal(_t(2, 2), 0, 1, 1), ValueError, "numpy.diagonal"),
    (lambda: np.diagonal(_t(2)), ValueError, "numpy.diagonal"),
    (lambda: np.trace(_t(2, 2), out=np.empty(())), TypeError, "numpy.trace"),
    (lambda: np.triu(tg.Value(1.0)), ValueError, "numpy.triu"),
    (lambda: np.take(_t(3), [3]), IndexError, "numpy.take"),
    (lambda: np.take(_t(3), [0.5]), TypeError, "numpy.take"),
    (lambda: np.take(_t(3), [0], mode="bad"), ValueError, "numpy.take"),
    (lambda: np.take_along_axis(_t(3, 2), np.zeros(3, int), 0), ValueError,
     "numpy.take_along_axis"),
    (lambda: np.take_along_axis(_t(3, 2), np.zeros((2, 2), int), 1), ValueError,
     "numpy.take_along_axis"),
    (lambda: np.sort(_t(3), axis=1), ValueError, "numpy.sort"),
    (lambda: np.sort(_t(3), order="x"), ValueError, "numpy.sort"),
    (lambda: np.clip(_t(3), 0.0, 1.0, out=np.empty(3)), TypeError, "numpy.clip"),
    (lambda: np.clip(_t(3), a_min=0.0, min=0.0), ValueError, "numpy.clip"),
    (lambda: np.clip(_t(3), _t(2), 1.0), ValueError, "numpy.clip: shapes"),
    (lambda: np.clip(_t(3), np.ones(3, complex), 1.0), TypeError, "numpy.clip"),
    (lambda: np.nan_to_num(_t(3), nan=tg.Value(1.0)), TypeError, "numpy.nan_to_num"),
    (lambda: np.where(np.ones(3, bool), _t(3), _t(2)), ValueError, "numpy.where"),
    (lambda: np.where(_t(3) > 0, _t(3), np.ones(3, complex)), TypeError, "where"),
    (lambda: np.select([np.ones(3)], [_t(3)]), TypeError, "numpy.select"),
    (lambda: np.select([np.ones(3, bool)], [_t(3), _t(3)]), ValueError, "numpy.select"),
    (lambda: np.diff(_t(3), n=-1), ValueError, "numpy.diff"),
    (lambda: np.diff(_t(3), axis=1), ValueError, "numpy.diff"),
    (lambda: np.gradient(_t(1)), ValueError, "numpy.gradient"),
    (lambda: np.gradient(_t(3), np.arange(3.0)), TypeError, "numpy.gradient"),
    (lambda: np.gradient(_t(3), edge_order=3), ValueError, "numpy.gradient"),
    (lambda: np.linspace(tg.Value(0.0), 1.0, -1), ValueError, "numpy.linspace"),
    (lambda: np.delete(_t(3), 3), IndexError, "numpy.delete"),
    (lambda: np.insert(_t(3), 4, 1.0), IndexError, "numpy.insert"),
]


@pytest.mark.parametrize("call, error, match", BAD)
def test_bad_input_names_the_function(call, error, match):
    with pytest.raises(error, match=match.replace("(", r"\(")):
        call()


# --- PyTorch -------------------------------------------------------------------------------

TORCH = {
    "flip": (lambda x: np.flip(x, (0, 2)), lambda x, torch: torch.flip(x, (0, 2))),
    "roll": (lambda x: np.roll(x, (1, -2), (0, 2)),
             lambda x, torch: torch.roll(x, (1, -2), (0, 2))),
    "tile": (lambda x: np.tile(x, (2, 1, 2)), lambda x, torch: torch.tile(x, (2, 1, 2))),
    "repeat": (lambda x: np.repeat(x, [1, 0, 2], axis=1),
               lambda x, torch: torch.repeat_interleave(x, torch.tensor([1, 0, 2]), dim=1)),
    "pad": (lambda x: np.pad(x, ((0, 0), (0, 0), (2, 1)), mode="reflect"),
            lambda x, torch: torch.nn.functional.pad(x, (2, 1), mode="reflect")),
    "pad_wrap": (lambda x: np.pad(x, ((0, 0), (0, 0), (2, 1)), mode="wrap"),
                 lambda x, torch: torch.nn.functional.pad(x, (2, 1), mode="circular")),
    "diagonal": (lambda x: np.diagonal(x, 1, 1, 2),
                 lambda x, torch: torch.diagonal(x, 1, 1, 2)),
    "triu": (lambda x: np.triu(x, -1), lambda x, torch: torch.triu(x, -1)),
    "sort": (lambda x: np.sort(x, axis=1), lambda x, torch: torch.sort(x, dim=1).values),
    "clip": (lambda x: np.clip(x, -0.5, 0.5), lambda x, torch: torch.clamp(x, -0.5, 0.5)),
    "diff": (lambda x: np.diff(x, n=2, axis=-1), lambda x, torch: torch.diff(x, n=2, dim=-1)),
    "gradient": (lambda x: np.gradient(x, 0.5, axis=2),
                 lambda x, torch: torch.gradient(x, spacing=0.5, dim=2)[0]),
    "take_along_axis": (
        lambda x: np.take_along_axis(x, np.array([[[2, 0, 0, 1]]]), axis=2),
        lambda x, torch: torch.take_along_dim(x, torch.tensor([[[2, 0, 0, 1]]]), dim=2)),
}


@requires_torch
@pytest.mark.parametrize("name", list(TORCH))
def test_against_pytorch(name):
    import torch

    ours, theirs = TORCH[name]
    x = np.random.default_rng(3).normal(size=(2, 3, 4))
    t = tg.tensor(x, requires_grad=True)
    y = ours(t)
    w = np.random.default_rng(4).normal(size=y.shape)
    (y * w).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx, torch)
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(y.value, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [-1, 0, 1, 2, 3, 5])
@pytest.mark.parametrize("axes", [(0, 1), (1, 0), (0, 2), (2, -2)])
def test_rot90(k, axes, rng):
    check_numpy(lambda x: np.rot90(x, k, axes), rng.normal(size=(2, 3, 4)), rng=rng)


def test_rot90_needs_two_different_axes():
    with pytest.raises(ValueError, match="numpy.rot90"):
        np.rot90(tg.tensor(np.ones((2, 2)), requires_grad=True), 1, (1, 1))
