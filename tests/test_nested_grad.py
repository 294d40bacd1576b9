"""Nested differentiation: ``tg.grad(tg.grad(f))`` and ``f`` calling
``tg.record`` on its own traced values raise a TypeError naming
``tapegrad.hessian`` and ``tapegrad.hvp`` (which compute second
derivatives), never a silently wrong number; what is not nested still works."""

import numpy as np
import pytest

import tapegrad as tg

NESTED = r"differentiating a derivative.*tapegrad\.hessian\(f\)\(x\) or tapegrad\.hvp\(f, x, v\)"


def cube(x):
    return x ** 3


def poly(x):
    return x[0] ** 3 * x[1] + x[1] ** 2


def tensor_poly(t):
    return (t * t * t).sum() + t[0] * t[1]


X = np.array([2.0, 0.5])


@pytest.mark.parametrize("case", [
    lambda: tg.grad(tg.grad(cube))(2.0),
    lambda: tg.grad(lambda x: tg.grad(poly)(x)[0])(X),
    lambda: tg.jacobian(tg.grad(poly))(X),
    lambda: tg.hessian(lambda x: tg.grad(poly)(x)[0])(X),
    lambda: tg.jvp(tg.grad(cube), (2.0,), (1.0,)),
    lambda: tg.vjp(tg.grad(cube), 2.0),
    lambda: tg.grad(lambda x: tg.value_and_grad(cube)(x)[1])(2.0),
    lambda: tg.grad(lambda x: tg.hvp(poly, x, [1.0, 0.0])[0])(X),
    lambda: tg.grad(lambda t: tg.grad(tensor_poly)(t).sum())(tg.tensor(X)),
    lambda: tg.record(lambda x: tg.grad(cube)(x), 2.0),
], ids=["grad-grad", "grad-grad-array", "jacobian-grad", "hessian-grad", "jvp-grad",
        "vjp-grad", "grad-value_and_grad", "grad-hvp", "grad-grad-tensor", "record-grad"])
def test_a_transform_of_a_transform_names_hessian_and_hvp(case):
    with pytest.raises(TypeError, match=NESTED):
        case()


def test_the_message_names_the_inner_transform():
    with pytest.raises(TypeError, match=r"^tapegrad\.grad\(f\)\(x\): x holds a Value"):
        tg.grad(tg.grad(cube))(2.0)
    with pytest.raises(TypeError, match=r"^tapegrad\.jacobian\(f\)\(x\)"):
        tg.grad(lambda x: tg.jacobian(poly)(x)[0])(X)


def test_record_inside_f_on_its_traced_values():
    with pytest.raises(TypeError, match=r"^tapegrad\.record\(f, x\): x holds a Value.*" + NESTED):
        tg.grad(lambda x: tg.record(cube, x).grad(x))(2.0)
    with pytest.raises(TypeError, match=r"x holds a Tensor input of the enclosing trace"):
        tg.grad(lambda t: tg.record(tensor_poly, t).grad(t).sum())(tg.tensor(X))
    # Before, this one gave [0.]: the inner recording's gradient was a constant.


def test_a_recording_called_on_traced_values():
    rec = tg.record(cube, 1.0)
    with pytest.raises(TypeError, match=r"^Recorded\.grad\(x\): x holds a Value.*" + NESTED):
        tg.grad(lambda x: rec.grad(x))(2.0)
    arrays = tg.record(tensor_poly, tg.tensor(X))
    for call in (lambda t: arrays(t), lambda t: arrays.grad(t).sum(),
                 lambda t: arrays.hvp(t, np.ones(2)).sum(),
                 lambda t: arrays.jvp(t, np.ones(2))[1]):
        with pytest.raises(TypeError, match=r"x holds a Tensor input of the enclosing trace"):
            tg.grad(call)(tg.tensor(X))
    with tg.Tape():
        computed = tg.tensor(X, requires_grad=True) * 2.0
    with pytest.raises(TypeError, match=r"x holds a Tensor computed on a tape"):
        arrays.grad(computed)


def test_an_inner_function_reading_the_outer_inputs():
    with pytest.raises(TypeError, match=r"f reads an input of the enclosing trace.*" + NESTED):
        tg.grad(lambda a: tg.grad(lambda y: a * y)(1.0))(2.0)
    with pytest.raises(TypeError, match=r"f reads an input of the enclosing trace"):
        tg.grad(lambda t: tg.grad(lambda y: (t * y).sum())(tg.tensor([1.0, 1.0])).sum())(
            tg.tensor(X))


def test_an_inner_function_computing_with_outer_values():
    def outer(a):
        twice = a * 2.0  # computed on the outer trace

        def inner(y):
            return y * twice  # records onto the outer trace

        return tg.grad(inner)(1.0)

    with pytest.raises(TypeError, match=r"f records onto an enclosing recording.*" + NESTED):
        tg.grad(outer)(2.0)


def test_what_is_not_nested_still_works():
    # an inner derivative at a constant point is a constant of the outer f
    assert tg.grad(lambda x: x * tg.grad(cube)(1.0))(2.0) == 3.0
    # closures over constants and over leaves from outside both traces
    w = tg.Value(3.0)
    assert tg.grad(lambda x: x * tg.grad(lambda y: w * y * y)(1.0))(2.0) == 6.0
    # a leaf Tensor with requires_grad as the point of a recording
    leaf = tg.tensor(X, requires_grad=True)
    np.testing.assert_allclose(tg.record(tensor_poly, leaf).grad(X), 3 * X ** 2 + X[::-1])
    # the trace is left clean after the error
    with pytest.raises(TypeError):
        tg.grad(tg.grad(cube))(2.0)
    assert tg.grad(cube)(2.0) == 12.0


def test_the_named_alternatives_give_second_derivatives():
    hessian = np.array([[6 * X[0] * X[1], 3 * X[0] ** 2], [3 * X[0] ** 2, 2.0]])
    np.testing.assert_allclose(tg.hessian(poly)(X), hessian, rtol=1e-14)
    np.testing.assert_allclose(tg.hvp(poly, X, np.array([1.0, -1.0])),
                               hessian @ [1.0, -1.0], rtol=1e-14)
    np.testing.assert_allclose(tg.record(tensor_poly, tg.tensor(X)).hessian(X),
                               np.diag(6 * X) + [[0.0, 1.0], [1.0, 0.0]], rtol=1e-14)
