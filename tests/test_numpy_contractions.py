"""NumPy's contractions on Tensors (tapegrad/numpy/contractions.py and the op
table's ``einsum``/``einsum1``, tapegrad/array/ops/contraction.py): each
through the shared checker (value, gradient, forward mode, hvp, replay,
float32), with NumPy's errors, against PyTorch where it is installed."""

import warnings

import numpy as np
import pytest
from conftest import requires_torch
from numpy_checks import check_numpy

import tapegrad as tg
from tapegrad.array import Tensor
from tapegrad.array.ops import ARRAY_OPS
from tapegrad.array.ops.contraction import _matmul_plan


def arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) for s in shapes]


EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 2)]),
    ("ij,jk", [(3, 4), (4, 2)]),
    ("ji,jk->ki", [(4, 3), (4, 2)]),
    ("ij->ji", [(2, 3)]),
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("iii->i", [(2, 2, 2)]),
    ("iij->j", [(2, 2, 3)]),
    ("iji->ij", [(2, 3, 2)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("i,i", [(4,), (4,)]),
    ("i,i->i", [(4,), (4,)]),
    ("i,j->ij", [(3,), (2,)]),
    ("ab,cd->abcd", [(2, 1), (1, 3)]),
    ("ij,kl->", [(2, 3), (2, 2)]),
    ("ijk,jl->il", [(2, 3, 2), (3, 2)]),
    ("ijk,ik->j", [(2, 3, 2), (2, 2)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 3)]),
    ("bij,bj->bi", [(2, 3, 4), (2, 4)]),
    ("bi,bi->b", [(3, 4), (3, 4)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 2), (1, 2, 2, 2)]),
    ("ii,ij->j", [(3, 3), (3, 2)]),
    ("ij,jj->i", [(2, 3), (3, 3)]),
    ("ij,ji->", [(2, 3), (3, 2)]),
    ("ii,ii->i", [(2, 2), (2, 2)]),
    ("i,->i", [(3,), ()]),
    (",", [(), ()]),
    ("...ij,...jk", [(2, 3, 4), (4, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 2), (3, 2, 2)]),
    ("...i,...i->...", [(1, 3), (4, 3)]),
    ("i...,i...->...", [(3,), (3, 2)]),
    ("ij...,jk...", [(2, 3, 2), (3, 2, 2)]),
    ("...", [(2, 3)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]),
    ("ij,jk", [(2, 1), (3, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("ij,jk,kl", [(2, 3), (3, 4), (4, 2)]),
    ("ij,jk,kl,lm->im", [(2, 3), (3, 2), (2, 3), (3, 2)]),
    ("i,i,i->", [(3,), (3,), (3,)]),
    ("ij,j,k->ik", [(2, 3), (3,), (2,)]),
    ("ii,ij,jk->k", [(2, 2), (2, 3), (3, 2)]),
    ("...i,ij,...j->...", [(2, 3), (3, 3), (1, 3)]),
    ("bij,bjk,bkl->bil", [(2, 2, 3), (2, 3, 2), (2, 2, 2)]),
]


@pytest.mark.parametrize("subscripts,shapes", EINSUM, ids=[s for s, _ in EINSUM])
def test_einsum(subscripts, shapes):
    check_numpy(lambda *xs: np.einsum(subscripts, *xs), *arrays(*shapes))


@pytest.mark.parametrize("optimize", [False, True, "greedy", "optimal",
                                      ["einsum_path", (1, 2), (0, 1)]])
def test_einsum_optimize_is_accepted(optimize):
    check_numpy(lambda a, b, c: np.einsum("ij,jk,kl->il", a, b, c, optimize=optimize),
                *arrays((2, 3), (3, 4), (4, 2)))


def test_einsum_path_reads_shapes_only():
    a = tg.tensor(np.ones((2, 3)), requires_grad=True)
    path, _ = np.einsum_path("ij,jk,kl", a, np.ones((3, 4)), np.ones((4, 2)), optimize="greedy")
    assert path[0] == "einsum_path" and len(path) == 3


def test_einsum_sublists():
    check_numpy(lambda a, b: np.einsum(a, [0, 1], b, [1, 26]), *arrays((2, 3), (3, 2)))
    check_numpy(lambda a, b: np.einsum(a, [..., 1], b, [1, 2], [..., 2]),
                *arrays((2, 2, 3), (3, 2)))


def test_einsum_with_constants_and_numbers():
    b = np.arange(8.0).reshape(4, 2)  # float64: float32 meets it as in NumPy (another test)
    check_numpy(lambda a: np.einsum("ij,jk->ik", a, b), *arrays((3, 4)), float32=False)
    check_numpy(lambda a: np.einsum("jk,ij->ik", b, a), *arrays((3, 4)), float32=False)
    check_numpy(lambda a: np.einsum("i,,i->", a, 2.0, [1.0, 2.0, 3.0]), *arrays((3,)),
                float32=False)
    check_numpy(lambda a: np.einsum("ij,ij,jk->ik", a, a, b), *arrays((3, 4)), float32=False)


def einsum_records(out):
    rec = out._rec
    codes = {ARRAY_OPS["einsum"].code: "einsum", ARRAY_OPS["einsum1"].code: "einsum1"}
    return [codes[int(rec.op[i])] for i in rec.array_records if int(rec.op[i]) in codes]


def test_n_operands_are_contracted_pairwise():
    a, b, c, d = (tg.tensor(x, requires_grad=True)
                  for x in arrays((2, 3), (3, 4), (4, 5), (5, 2)))
    with tg.Tape():
        out = np.einsum("ij,jk,kl,lm->im", a, b, c, d)
    assert einsum_records(out) == ["einsum"] * 3
    with tg.Tape():
        out = np.einsum("ii", a[:, :2])
    assert einsum_records(out) == ["einsum1"]


def test_matrix_products_run_on_blas():
    assert _matmul_plan("ij", (300, 300), "jk", (300, 300), "ik") is not None
    assert _matmul_plan("ik", (300, 300), "jk", (300, 300), "ij") is not None  # a's gradient
    assert _matmul_plan("bij", (4, 3, 5), "bjk", (4, 5, 6), "bik") is not None
    assert _matmul_plan("abc", (2, 3, 4), "cd", (4, 5), "abd") is not None
    assert _matmul_plan("bi", (4, 3), "bi", (4, 3), "b") is None  # a dot per row: einsum
    assert _matmul_plan("ii", (3, 3), "ij", (3, 2), "j") is None


DOT = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)), ((2, 3, 4), (4,)),
       ((4,), (2, 4, 3)), ((2, 3, 4), (4, 2)), ((2, 3), (2, 3, 4)), ((2, 3, 4), (2, 4, 2)),
       ((), (2, 3)), ((2, 3), ()), ((), ())]


@pytest.mark.parametrize("sa,sb", DOT, ids=str)
def test_dot(sa, sb):
    check_numpy(np.dot, *arrays(sa, sb))


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)),
                                   ((2, 3, 4), (4, 2)), ((2, 1, 3, 4), (3, 4, 2)),
                                   ((2, 3, 4), (2, 4, 2)), ((3,), (2, 3, 2))], ids=str)
def test_matmul(sa, sb):
    check_numpy(np.matmul, *arrays(sa, sb))
    b = arrays(sb)[0]  # float64: float32 meets it as in NumPy (another test)
    check_numpy(lambda a: a @ b, *arrays(sa), float32=False)
    check_numpy(lambda x: np.swapaxes(b, -1, -2) @ x if len(sb) > 1 else x, *arrays(sb),
                float32=False)


@pytest.mark.parametrize("sa,sb", [((2, 3), (3, 2)), ((4,), (2, 2)), ((), ()), ((1,), ())],
                         ids=str)
def test_vdot(sa, sb):
    check_numpy(np.vdot, *arrays(sa, sb))


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (2, 3)),
                                   ((2, 3), (4, 3)), ((2, 3, 4), (2, 4)), ((), (2, 3))], ids=str)
def test_inner(sa, sb):
    check_numpy(np.inner, *arrays(sa, sb))


@pytest.mark.parametrize("sa,sb", [((3,), (2,)), ((2, 2), (3,)), ((), (3,)), ((2,), (2, 1))],
                         ids=str)
def test_outer(sa, sb):
    check_numpy(np.outer, *arrays(sa, sb))


@pytest.mark.parametrize("sa,sb", [((2, 3), (4,)), ((3,), ()), ((2,), (2, 3)), ((), ())],
                         ids=str)
def test_multiply_outer(sa, sb):
    check_numpy(np.multiply.outer, *arrays(sa, sb))


TENSORDOT = [((2, 3, 4), (3, 4, 2), 2), ((2, 3), (3, 2), 1), ((2, 3), (2,), 0),
             ((2, 3, 4), (4, 3, 2), ([1, 2], [1, 0])), ((2, 3, 4), (4, 2), (-1, 0)),
             ((3, 2), (2, 3), ([0, 1], [1, 0])), ((2, 3), (3, 2), ([1], [-2])),
             ((2, 3), (2, 3), 2), ((), (2,), 0), ((2, 3), (3, 2), np.array([[1], [0]]))]


@pytest.mark.parametrize("sa,sb,axes", TENSORDOT, ids=str)
def test_tensordot(sa, sb, axes):
    check_numpy(lambda a, b: np.tensordot(a, b, axes), *arrays(sa, sb))


@pytest.mark.parametrize("sa,sb", [((2,), (3,)), ((2, 3), (3, 2)), ((2,), (2, 3)),
                                   ((2, 1, 2), (3,)), ((), (2, 2)), ((2, 2), ())], ids=str)
def test_kron(sa, sb):
    check_numpy(np.kron, *arrays(sa, sb))


CROSS = [((3,), (3,), {}), ((4, 3), (3,), {}), ((2, 1, 3), (4, 3), {}),
         ((3, 2), (2, 3), {"axisa": 0}), ((2, 3, 2), (3, 2), {"axisa": 1, "axisb": 0, "axisc": 0}),
         ((3, 2), (3, 2), {"axis": 0}), ((2,), (3,), {}), ((2, 2), (2, 2), {})]


@pytest.mark.parametrize("sa,sb,kwargs", CROSS, ids=str)
def test_cross(sa, sb, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # NumPy 2's, on 2-vectors
        check_numpy(lambda a, b: np.cross(a, b, **kwargs), *arrays(sa, sb))


def test_tensors_in_give_tensors_out():
    a = tg.tensor(np.ones((2, 2)), requires_grad=True)
    v = tg.Value(2.0)
    for out in (np.einsum("ij,jk", np.ones((2, 2)), a), np.dot(np.ones((2, 2)), a),
                np.ones((2, 2)) @ a, np.inner(np.ones(2), a), np.outer(np.ones(2), a),
                np.tensordot(np.ones((2, 2)), a), np.kron(np.ones(2), a), np.vdot(a, a),
                np.multiply.outer(np.ones(2), a), np.einsum("ij,", a, v),
                np.cross(np.ones(3), tg.tensor(np.ones(3), requires_grad=True))):
        assert isinstance(out, Tensor), type(out)
    assert isinstance(np.dot(v, v), tg.Value)
    c = np.einsum("ij,jk", tg.tensor(np.ones((2, 2))), np.ones((2, 2)))  # nothing tracked
    assert isinstance(c, Tensor) and c.value.tolist() == [[2.0, 2.0], [2.0, 2.0]]


def test_value_operands_get_their_gradient():
    a = tg.tensor(arrays((2, 3))[0], requires_grad=True)
    v, u = tg.Value(2.0), tg.Value(-1.5)
    with tg.Tape():
        loss = (np.einsum("ij,", a, v) ** 2).sum() + np.outer(u, a).sum() + np.dot(v, u)
    loss.backward()
    assert v.grad == pytest.approx(2 * 2.0 * (a.value ** 2).sum() - 1.5)
    assert u.grad == pytest.approx(a.value.sum() + 2.0)
    np.testing.assert_allclose(a.grad, 2 * 4.0 * a.value - 1.5)


def test_empty_operands():
    a = tg.tensor(np.ones((0, 3)), requires_grad=True)
    with tg.Tape():
        out = np.einsum("ij,jk->ik", a, np.ones((3, 2)))
        assert out.shape == (0, 2)
        np.einsum("ij,jk", a, np.ones((3, 2))).sum().backward()
    assert a.grad.shape == (0, 3)


def test_float32_stays_float32_and_mixing_follows_numpy():
    a32 = tg.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    assert np.einsum("ij,kj", a32, a32).dtype == np.float32
    assert np.tensordot(a32, np.ones((3, 2), np.float32), 1).dtype == np.float32
    assert np.kron(a32, a32).dtype == np.float32
    assert np.cross(tg.tensor(np.ones(3, np.float32)), np.ones(3, np.float32)).dtype == np.float32
    assert np.einsum("ij,kj", a32, np.ones((2, 3))).dtype == np.float64  # as NumPy's


ERRORS = [
    (lambda a: np.einsum("ij,jk", a), ValueError, "numpy.einsum"),
    (lambda a: np.einsum("ijk", a), ValueError, "numpy.einsum"),
    (lambda a: np.einsum("ij,jk", a, np.ones((4, 2))), ValueError, "numpy.einsum"),
    (lambda a: np.einsum("ii", a), ValueError, "numpy.einsum"),
    (lambda a: np.einsum("i1", a), ValueError, "numpy.einsum"),
    (lambda a: np.einsum("ij->ii", a), ValueError, "numpy.einsum"),
    (lambda a: np.einsum("ij->k", a), ValueError, "numpy.einsum"),
    (lambda a: np.einsum("...j->j", np.ones((2, 2, 3)) * a[0]), ValueError, "numpy.einsum"),
    (lambda a: np.einsum("ij", a, out=np.ones((2, 3))), TypeError, "numpy.einsum"),
    (lambda a: np.einsum("ij", a, dtype=np.float32), TypeError, "numpy.einsum"),
    (lambda a: np.einsum("ij,ij", a, np.ones((2, 3), complex)), TypeError, "numpy.einsum"),
    (lambda a: np.dot(a, a), ValueError, "numpy.dot"),
    (lambda a: np.dot(a, a.T, out=np.ones((2, 2))), TypeError, "numpy.dot"),
    (lambda a: np.dot(a, np.ones(3, complex)), TypeError, "numpy.dot"),
    (lambda a: np.matmul(a, a), ValueError, "numpy.matmul"),
    (lambda a: np.matmul(a, tg.Value(1.0)), ValueError, "numpy.matmul"),
    (lambda a: np.matmul(np.ones((4, 2, 2)), np.ones((3, 2, 3)) * a[0, 0]), ValueError,
     "numpy.matmul"),
    (lambda a: np.matmul(a, a.T, axes=[(0, 1), (0, 1), (0, 1)]), TypeError, "numpy.matmul"),
    (lambda a: np.vdot(a, np.ones(5)), ValueError, "numpy.vdot"),
    (lambda a: np.inner(a, np.ones(2)), ValueError, "numpy.inner"),
    (lambda a: np.outer(a, a, out=np.ones((6, 6))), TypeError, "numpy.outer"),
    (lambda a: np.multiply.outer(a, a, dtype=np.float32), TypeError, "numpy.multiply.outer"),
    (lambda a: np.multiply.outer(a, a, out=np.ones((2, 3, 2, 3))), TypeError,
     "numpy.multiply"),
    (lambda a: np.tensordot(a, a, 2 + 1), ValueError, "numpy.tensordot"),
    (lambda a: np.tensordot(a, a, ([0], [1])), ValueError, "numpy.tensordot"),
    (lambda a: np.tensordot(a, a, ([0, 1], [0])), ValueError, "numpy.tensordot"),
    (lambda a: np.tensordot(a, a, ([5], [0])), ValueError, "numpy.tensordot"),
    (lambda a: np.kron(a, np.ones(2, complex)), TypeError, "numpy.kron"),
    (lambda a: np.cross(a[:, :1], a), ValueError, "numpy.cross"),
    (lambda a: np.cross(a[:, :2] * np.ones((4, 1, 1)), np.ones((3, 3))), ValueError,
     "numpy.cross"),
]


@pytest.mark.parametrize("f,error,name", ERRORS, ids=range(len(ERRORS)))
def test_bad_input_names_the_function(f, error, name):
    a = tg.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(error, match=name.replace(".", r"\.")):
        f(a)


TORCH = [("ij,jk->ik", [(3, 4), (4, 2)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]),
         ("bij,bjk->bik", [(2, 3, 4), (2, 4, 3)]), ("...ij,...jk", [(2, 3, 4), (4, 2)]),
         ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("ijk,ik->j", [(2, 3, 2), (2, 2)]),
         ("ii,ij->j", [(3, 3), (3, 2)])]


@requires_torch
@pytest.mark.parametrize("subscripts,shapes", TORCH, ids=[s for s, _ in TORCH])
def test_einsum_against_torch(subscripts, shapes):
    import torch

    xs = arrays(*shapes)
    ours = [tg.tensor(x, requires_grad=True) for x in xs]
    out = np.einsum(subscripts, *ours)
    w = np.random.default_rng(1).normal(size=out.shape)
    (out * w).sum().backward()
    theirs = [torch.tensor(x, requires_grad=True) for x in xs]
    expected = torch.einsum(subscripts, *theirs)
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(out.value, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    for x, t in zip(ours, theirs):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12, atol=1e-12)


@requires_torch
@pytest.mark.parametrize("name", ["tensordot", "kron", "inner", "outer", "dot", "vdot"])
def test_products_against_torch(name):
    import torch

    a, b = arrays((2, 3, 4), (4, 3))
    ours = {"tensordot": lambda x, y: np.tensordot(x, y, 1), "kron": np.kron,
            "inner": lambda x, y: np.inner(x, y.T), "outer": np.outer,
            "dot": lambda x, y: np.dot(x[0], y), "vdot": lambda x, y: np.vdot(x[0], y.T)}[name]
    theirs = {"tensordot": lambda x, y: torch.tensordot(x, y, 1), "kron": torch.kron,
              "inner": lambda x, y: torch.inner(x, y.T),
              "outer": lambda x, y: torch.outer(x.ravel(), y.ravel()),
              "dot": lambda x, y: x[0] @ y,
              "vdot": lambda x, y: torch.vdot(x[0].ravel(), y.T.ravel())}[name]
    ta, tb = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    out = ours(ta, tb)
    w = np.random.default_rng(1).normal(size=out.shape)
    (out * w).sum().backward()
    xa, xb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    expected = theirs(xa, xb)
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(out.value, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ta.grad, xa.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tb.grad, xb.grad.numpy(), rtol=1e-12, atol=1e-14)
