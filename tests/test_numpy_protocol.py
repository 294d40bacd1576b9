"""NumPy's protocols on Value and Tensor: what comes in, what never comes out.

Every NumPy function called on a traced value is recorded by tapegrad, runs
on the plain values (metadata, plain data), or raises a TypeError naming
it; none makes an object array of Values.
"""

import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.core import numpy_protocol
from tapegrad.numpy.table import markdown


def _tensor():
    return tg.tensor([[0.5, -1.0], [2.0, 3.0]], requires_grad=True)


def test_a_function_without_a_rule_is_named_not_turned_into_objects():
    t = _tensor()
    with pytest.raises(TypeError, match=r"numpy\.fft\.fft has no tapegrad rule.*primitive"):
        np.fft.fft(t)
    with pytest.raises(TypeError, match=r"numpy\.frexp has no tapegrad rule"):
        np.frexp(t)
    with pytest.raises(TypeError, match=r"numpy\.add\.at has no tapegrad rule"):
        np.add.at(t, [0], 1.0)


@pytest.mark.parametrize("make", [_tensor, lambda: tg.Value(2.0)], ids=["Tensor", "Value"])
def test_no_silent_conversion_to_an_array(make):
    x = make()
    for convert in (np.asarray, np.array, lambda a: np.array([a, a])):
        with pytest.raises(TypeError, match="does not turn into"):
            convert(x)
    plain = np.zeros(4 if isinstance(x, tg.Tensor) else 1)
    with pytest.raises(TypeError, match="does not turn into"):
        plain[:1] = x if isinstance(x, tg.Value) else x[0, :1]


def test_out_and_where_keywords_are_refused():
    t = _tensor()
    with pytest.raises(TypeError, match=r"numpy\.exp\(\.\.\., dtype=\) on a traced value"):
        np.exp(t, dtype=np.float32)
    with pytest.raises(TypeError, match="out="):
        np.exp(t, out=np.empty((2, 2)))
    with pytest.raises(TypeError, match="where="):
        np.exp(t, where=np.array([True, False]))


def test_metadata_reads_no_elements_and_data_functions_give_plain_data():
    t = _tensor()
    assert np.shape(t) == (2, 2) and np.ndim(t) == 2 and np.size(t) == 4
    assert np.result_type(t, np.float32) == np.float64
    assert int(np.argmax(t)) == 3 and isinstance(np.argsort(t), np.ndarray)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no FrozenReadWarning outside record()
        assert np.isnan(t).dtype == bool


def test_reading_a_traced_tensors_elements_inside_record_warns():
    def f(x):
        np.argmax(x)  # data frozen at trace time
        return (x * x).sum()

    with pytest.warns(tg.FrozenReadWarning):
        tg.record(f, tg.tensor(np.ones(3)))


def test_ufuncs_on_values_record_and_match_the_table():
    x, y = tg.Value(0.7), tg.Value(-1.3)
    z = np.exp(x) * np.arctan2(x, y) - np.hypot(2.0, y) / np.float64(3.0)
    assert isinstance(z, tg.Value)
    z.backward()
    a, b = 0.7, -1.3
    dz_dx = np.exp(a) * np.arctan2(a, b) + np.exp(a) * b / (a * a + b * b)
    dz_dy = np.exp(a) * (-a) / (a * a + b * b) - (b / np.hypot(2.0, b)) / 3.0
    np.testing.assert_allclose([x.grad, y.grad], [dz_dx, dz_dy], rtol=1e-12)


def test_numpy_scalars_and_arrays_on_the_left_of_a_value():
    v = tg.Value(2.0)
    assert isinstance(np.float64(3.0) - v, tg.Value) and (np.float64(3.0) - v).data == 1.0
    out = np.array([1.0, 2.0]) - v
    assert isinstance(out, tg.Tensor)
    np.testing.assert_array_equal(out.value, [-1.0, 0.0])
    assert (np.float64(1.0) < v).data == 1.0


def test_arrays_on_the_left_of_a_tensor_record():
    t = tg.tensor([1.0, 2.0], requires_grad=True)
    out = (np.array([3.0, 4.0]) * t + np.array([1.0, 1.0])) @ np.array([1.0, -1.0])
    out.backward()
    np.testing.assert_array_equal(t.grad, [3.0, -4.0])


def test_a_mask_beside_a_tensor_lets_the_tensor_record():
    def f(x):
        return np.maximum(x, 0.0)[np.array([0, 1])].sum() + (tg.where(x > 0, x, 0.0) * 2.0).sum()

    rec = tg.record(f, tg.tensor(np.array([1.0, -1.0])))
    assert rec(np.array([-2.0, 3.0])) == pytest.approx(3.0 + 6.0)


def test_the_readme_table_is_the_registry():
    readme = open("README.md").read()
    start = readme.index("<!-- numpy-table:start -->") + len("<!-- numpy-table:start -->\n")
    end = readme.index("<!-- numpy-table:end -->")
    assert readme[start:end].strip() == markdown(), \
        "README's table is stale: paste `python -m tapegrad numpy-table`"


def test_every_registered_name_is_a_numpy_callable():
    for func in [*numpy_protocol.FUNCTIONS, *numpy_protocol.UFUNCS, *numpy_protocol.PASSTHROUGH]:
        assert callable(func)


def test_assigning_into_a_tensor_says_what_to_do_instead():
    y = _tensor() * 1.0
    for assign in (lambda: y.__setitem__(y < 0, 0.0), lambda: y.__setitem__(0, 1.0)):
        with pytest.raises(TypeError, match="cannot be assigned into.*np.where"):
            assign()


@pytest.mark.parametrize("mode", ["jvp", "hvp", "dual"])
def test_the_branch_where_did_not_take_stays_out_of_forward_mode(mode):
    """sqrt(x) is nan at x < 0, and so is its slope; where() does not take
    it there, so no mode may carry that nan into the result (0 * nan)."""
    def f(x):
        return (np.where(x > 0, np.sqrt(x), 0.0) * x).sum()

    x0, v = np.array([-1.0, 4.0]), np.array([1.0, 1.0])
    rec = tg.record(f, tg.tensor(x0))
    grad = rec.grad(x0)
    np.testing.assert_allclose(grad, [0.0, 1.5 * 2.0])
    if mode == "jvp":
        assert rec.jvp(x0, v)[1] == pytest.approx(grad @ v)
    elif mode == "hvp":
        np.testing.assert_allclose(rec.hvp(x0, v), [0.0, 0.75 / 2.0])
    else:
        x = tg.Dual(-1.0, 1.0)
        out = tg.where(x > 0, tg.sqrt(x), 0.0) * x
        assert out.tangent == 0.0
