"""Array defects of the reliability round, each against a hand-computed
answer: adjoints of 0-d tensors accumulated many times (D6), where() with a
Value condition and Tensor branches (D10), non-real data refused by
tensor() and array ops (D9)."""

import numpy as np
import pytest

import tapegrad as tg

REDUCTIONS = {
    "sum": lambda s: s.sum(),
    "mean": lambda s: s.mean(),
    "amax": lambda s: s.max(),
    "amin": lambda s: s.min(),
}


def _accumulating(reduce, n):
    """``f(t)``: n reductions of the 0-d ``s = t.sum()`` (of ``t`` itself
    when 0-d), the k-th weighted by k + 1 (the first by nothing)."""
    def f(t):
        s = t if t.ndim == 0 else t.sum()
        total = reduce(s)
        for k in range(1, n):
            total = total + reduce(s) * float(k + 1)
        return total
    return f


def _slope(n):
    return n * (n + 1) / 2.0  # d total / d s


# --- D6: the adjoint of a 0-d tensor, accumulated 2-5 times --------------------

@pytest.mark.parametrize("n", [2, 3, 4, 5])
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_zero_d_reductions_accumulate_eagerly(name, n):
    f = _accumulating(REDUCTIONS[name], n)
    t = tg.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    out = f(t)
    out.backward()
    assert out.item() == pytest.approx(_slope(n) * 1.5)
    np.testing.assert_allclose(t.grad, np.full(3, _slope(n)), rtol=1e-15)
    leaf = tg.tensor(np.array(2.0), requires_grad=True)  # a 0-d leaf
    f(leaf).backward()
    f(leaf).backward()  # .grad accumulates and stays a 0-d array
    assert isinstance(leaf.grad, np.ndarray) and leaf.grad.shape == ()
    assert leaf.grad == 2.0 * _slope(n)


def test_the_reported_program():
    t = tg.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    s = t.sum()
    (s.sum() + s.sum() + s.sum()).backward()
    assert t.grad.tolist() == [3.0, 3.0, 3.0]
    def f(u):
        s = u.sum()
        return s.mean() + s.mean() + s.mean()

    rec = tg.record(f, tg.tensor(np.ones(3)))
    assert rec.grad(np.ones(3)).tolist() == [3.0, 3.0, 3.0]


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("n", [2, 3, 4, 5])
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_zero_d_reductions_accumulate_in_replays(name, n, fuse):
    f = _accumulating(REDUCTIONS[name], n)
    rec = tg.record(f, tg.tensor(np.ones(3)), fuse=fuse)
    x = np.array([0.25, -3.0, 1.5])
    value, grad = rec.value_and_grad(x)
    assert value == pytest.approx(_slope(n) * x.sum())
    np.testing.assert_allclose(grad, np.full(3, _slope(n)), rtol=1e-15)
    v = np.array([1.0, 2.0, -0.5])
    assert rec.jvp(x, v)[1] == pytest.approx(_slope(n) * v.sum())
    np.testing.assert_allclose(rec.hvp(x, v), np.zeros(3), atol=1e-15)
    leaf = tg.record(f, tg.tensor(np.array(1.0)), fuse=fuse)  # a 0-d input
    value, grad = leaf.value_and_grad(np.array(-2.0))
    assert value == pytest.approx(-2.0 * _slope(n))
    assert np.asarray(grad) == pytest.approx(_slope(n))


@pytest.mark.parametrize("fuse", [True, False])
def test_a_nonlinear_program_of_zero_d_reductions(fuse):
    """``s.sum() * s.mean() + s.max() + s.min() + s.sum()``: d/ds = 2 s + 3,
    d2/ds2 = 2, with s the sum of x."""
    def f(t):
        s = t.sum()
        return s.sum() * s.mean() + s.max() + s.min() + s.sum()

    rec = tg.record(f, tg.tensor(np.ones(3)), fuse=fuse)
    x = np.array([0.5, 1.0, -2.0])
    s = x.sum()
    value, grad = rec.value_and_grad(x)
    assert value == pytest.approx(s * s + 3 * s)
    np.testing.assert_allclose(grad, np.full(3, 2 * s + 3), rtol=1e-15)
    v = np.array([1.0, -1.0, 3.0])
    np.testing.assert_allclose(rec.hvp(x, v), np.full(3, 2 * v.sum()), rtol=1e-15)
    t = tg.tensor(x, requires_grad=True)
    f(t).backward()
    np.testing.assert_allclose(t.grad, grad, rtol=1e-15)


# --- D10: where() with a Value condition and Tensor branches -------------------

@pytest.mark.parametrize("c", [1.0, -1.0])
def test_where_with_a_value_condition_eagerly(c):
    s = tg.Value(c)
    b = tg.Value(0.5)
    t = tg.tensor(np.array([1.0, 2.0, -3.0]), requires_grad=True)
    y = tg.where(s > 0, t * 2.0, -t * b)
    expected = 2.0 * t.value if c > 0 else -0.5 * t.value
    np.testing.assert_array_equal(y.value, expected)
    (y * np.array([1.0, 10.0, 100.0])).sum().backward()
    slope = 2.0 if c > 0 else -0.5
    np.testing.assert_array_equal(t.grad, slope * np.array([1.0, 10.0, 100.0]))
    assert b.grad == (0.0 if c > 0 else -(1.0 * 1 + 2.0 * 10 - 3.0 * 100))
    assert s.grad == 0.0
    # a Value branch broadcast against a Tensor branch; plain arrays too
    u = tg.Value(4.0)
    z = tg.where(s > 0, u, t)
    z.sum().backward()
    assert u.grad == (3.0 if c > 0 else 0.0)
    np.testing.assert_array_equal(z.value, np.full(3, 4.0) if c > 0 else t.value)
    w = tg.where(s > 0, np.array([1.0, 2.0]), 0.0)
    assert isinstance(w, tg.Tensor)
    np.testing.assert_array_equal(w.value, [1.0, 2.0] if c > 0 else [0.0, 0.0])


@pytest.mark.parametrize("fuse", [True, False])
def test_where_with_a_value_condition_in_a_replay(fuse):
    def f(t):
        c = t[0] > 0  # a Value: the replay recomputes it
        return (tg.where(c, t * t, -3.0 * t) * np.array([1.0, 2.0, 3.0])).sum()

    def by_hand(x):
        w = np.array([1.0, 2.0, 3.0])
        if x[0] > 0:
            return np.sum(w * x * x), 2.0 * w * x
        return np.sum(-3.0 * w * x), -3.0 * w

    rec = tg.record(f, tg.tensor(np.array([1.0, 2.0, 3.0])), fuse=fuse)
    for x in (np.array([2.0, -1.0, 0.5]), np.array([-2.0, -1.0, 0.5])):
        value, grad = rec.value_and_grad(x)
        expected_value, expected_grad = by_hand(x)
        assert value == pytest.approx(expected_value, rel=1e-15)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-15)
    assert rec.retraces == 0


def test_where_with_a_value_input_condition_in_a_replay():
    def f(args):
        t, v = args
        return tg.where(v > 0, t * v, t - v).sum()

    rec = tg.record(f, (tg.tensor(np.ones(2)), 1.0))
    value, (gt, gv) = rec.value_and_grad((np.array([1.0, 2.0]), -2.0))
    assert value == (1.0 + 2.0) + 2 * 2.0
    assert gt.tolist() == [1.0, 1.0] and gv == -2.0
    value, (gt, gv) = rec.value_and_grad((np.array([1.0, 2.0]), 3.0))
    assert value == 9.0 and gt.tolist() == [3.0, 3.0] and gv == 3.0


# --- D9: tapegrad's arrays are real ---------------------------------------------

@pytest.mark.parametrize("data, dtype", [
    (np.array([1j]), "complex128"),
    (np.array([1.0 + 0j], dtype=np.complex64), "complex64"),
    (np.array(["a"]), "<U1"),
    (np.array([b"a"]), "S1"),
    (np.array([None], dtype=object), "object"),
    (np.array([np.datetime64("2026-01-01")]), "datetime64"),
])
def test_tensor_refuses_non_real_data(data, dtype):
    with pytest.raises(TypeError, match=dtype):
        tg.tensor(data)
    with pytest.raises(TypeError, match=dtype):
        tg.tensor(data, requires_grad=True)
    w = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match=dtype):
        w + data
    with pytest.raises(TypeError, match=dtype):
        data * w
    with pytest.raises(TypeError, match=dtype):
        tg.where(np.array([True]), data, w)
    leaf = tg.tensor([0.0])
    with pytest.raises(TypeError, match=dtype):
        leaf.value = data


@pytest.mark.parametrize("dtype", [">f8", ">f4"])
def test_data_in_the_other_byte_order_is_held_in_the_machines(dtype):
    """The kernels read the machine's byte order: a big-endian array is
    converted, its values kept, not refused by numba's typing deep inside."""
    data = np.array([1.0, 2.0], dtype)
    t = tg.tensor(data, requires_grad=True)
    assert t.dtype.isnative and t.dtype == np.dtype(dtype).newbyteorder("=")
    (t * 2.0 + np.exp(t)).sum().backward()
    np.testing.assert_allclose(t.grad, 2.0 + np.exp(data.astype(np.float64)), rtol=1e-6)


def test_complex_numbers_are_refused_by_array_ops():
    w = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="complex"):
        w * 1j
    with pytest.raises(TypeError, match="complex"):
        tg.tensor(1j)
    with pytest.raises(TypeError, match="complex"):
        tg.tensor([1.0, 2j])


def test_integer_and_bool_constants_are_fine():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    y = tg.tensor(np.array([1, 2])) * w + tg.tensor(np.array([True, False]))
    assert y.dtype == np.float64 and y.value.tolist() == [2.0, 4.0]
    y.sum().backward()
    assert w.grad.tolist() == [1.0, 2.0]
    assert tg.tensor([1, 2], requires_grad=True).dtype == np.float64
    with pytest.raises(TypeError, match="float"):
        tg.tensor([1, 2], requires_grad=True, dtype=np.int64)


@pytest.mark.parametrize("shapes", [((0, 3), (3,)), ((0, 3), (1, 3)), ((2, 0, 3), (3,)),
                                    ((2, 0, 3), (2, 1, 3)), ((3, 0), (3, 1)), ((0, 3), (0, 1))],
                         ids=str)
@pytest.mark.parametrize("fuse", [True, False])
def test_empty_arrays_broadcast_against_rows(shapes, fuse):
    """An empty operand broadcast with a row (0 rows of 3) keeps its row
    length in the 2-D layout (it raised a reshape ValueError): values are
    NumPy's, and the row's gradient is its own ``y * y`` term's, the
    broadcast sums being empty, eagerly and in replays."""
    a, b = shapes

    def f(ts):
        x, y = ts
        return (x * y + y * 2.0).sum() + (y * y).sum()

    x, y = np.zeros(a), np.linspace(1.0, 2.0, int(np.prod(b))).reshape(b)
    leaves = (tg.tensor(x, requires_grad=True), tg.tensor(y, requires_grad=True))
    out = f(leaves)
    out.backward()
    assert out.item() == float(f((x, y)))  # NumPy's own answer
    np.testing.assert_array_equal(leaves[1].grad, 2.0 * y)  # the broadcast sums are empty
    assert leaves[0].grad.shape == a
    rec = tg.record(f, (tg.tensor(x), tg.tensor(y)), fuse=fuse)
    value, (gx, gy) = rec.value_and_grad((x, y * 3.0))
    assert value == float(f((x, y * 3.0)))
    assert gx.shape == a
    np.testing.assert_array_equal(gy, 6.0 * y)  # 2 y at y = 3 y0
