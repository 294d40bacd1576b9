"""tapegrad.record: replaying a recorded program at new inputs."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from conftest import FD_ATOL, FD_RTOL, SWEEP_RTOL, assert_close, central_difference
from tapegrad.kernels import reference
from test_programs import random_program, run_program, tapegrad_gradient


def program_function(program):
    return lambda x: run_program(program, x, tg)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1),
       point=st.lists(st.floats(-1.5, 1.5), min_size=4, max_size=4))
def test_replay_equals_a_fresh_recording_to_the_last_bit(seed, point):
    program = random_program(np.random.default_rng(seed))
    rec = tg.record(program_function(program), np.zeros(4) + 0.25)
    value, grad = rec.value_and_grad(np.array(point))
    out, fresh_grad, _ = tapegrad_gradient(program, point)
    assert value == out.value
    assert grad.tolist() == fresh_grad


def seeded(seed):
    rng = np.random.default_rng(seed)
    return random_program(rng), rng.uniform(-1.5, 1.5, 4), rng.uniform(-1.0, 1.0, 4)


@pytest.mark.parametrize("seed", range(6))
def test_jvp_vjp_jacobian_agree_with_finite_differences(seed):
    program, x, v = seeded(seed)
    f = program_function(program)
    rec = tg.record(f, np.zeros(4))
    plain = lambda *xs: run_program(program, xs, tg)  # noqa: E731 (floats in, float out)
    fd = np.array([central_difference(plain, list(x), k) for k in range(4)])
    value, grad = rec.value_and_grad(x)
    assert_close(grad, fd, FD_RTOL, FD_ATOL)
    assert_close(rec.jacobian(x), grad, SWEEP_RTOL)
    value_j, tangent = rec.jvp(x, v)
    assert value_j == value
    assert_close(tangent, grad @ v, SWEEP_RTOL)
    value_v, cotangent = rec.vjp(x, [2.0])
    assert value_v == value
    assert_close(cotangent, 2.0 * grad, SWEEP_RTOL)


@pytest.mark.parametrize("seed", range(6))
def test_hessian_and_hvp_against_differences_of_the_gradient_and_the_reference(seed):
    program, x, v = seeded(seed)
    rec = tg.record(program_function(program), np.zeros(4))
    hessian = rec.hessian(x)
    by_differences = np.array([
        (rec.grad(x + 1e-6 * e) - rec.grad(x - 1e-6 * e)) / 2e-6 for e in np.eye(4)])
    assert_close(hessian, by_differences, 1e-5, 1e-5)
    assert_close(hessian, hessian.T, 1e-10, 1e-12)
    grad, hv = rec.grad_and_hvp(x, v)
    assert_close(hv, hessian @ v, 1e-10, 1e-12)
    assert_close(rec.hvp(x, v), hv, 0.0)
    rec(x)  # the tape's values at x, for the reference interpreter
    cols = {name: getattr(rec.tape, name) for name in ("op", "arg0", "arg1", "const", "val")}
    reference.check(cols)
    _, ref_hv = reference.reverse_tangent(cols, v, last=rec.program._out0)
    assert_close(hv, [ref_hv[r] for r in rec.program._input_records], SWEEP_RTOL, 1e-14)


def test_vector_outputs_constants_and_the_cheaper_jacobian_direction():
    def f(x):
        return [x[0] * x[1], 3.0, tg.sin(x[2]), x[1]]

    x = np.array([1.0, 2.0, 0.5])
    rec = tg.record(f, x)
    assert rec.n_outputs == 4 and rec.n_inputs == 3
    expected = np.array([[2.0, 1.0, 0.0], [0, 0, 0], [0, 0, np.cos(0.5)], [0, 1, 0]])
    assert_close(rec.jacobian(x), expected, 1e-15)  # 4 outputs > 3 inputs: tangent sweeps
    narrow = tg.record(lambda x: [x[0] * x[1]], x)
    assert_close(narrow.jacobian(x), expected[:1], 1e-15)  # one reverse sweep
    assert rec(x).tolist() == [2.0, 3.0, np.sin(0.5), 2.0]
    with pytest.raises(ValueError, match="use jacobian"):
        rec.grad(x)
    value, cotangent = rec.vjp(x, [1.0, 5.0, 0.0, 1.0])
    assert cotangent.tolist() == [2.0, 2.0, 0.0]


def test_input_structures_and_gradients_shaped_like_them():
    def f(args):
        a, (b, c), d = args
        return a * b + c * d[0] * d[1]

    x0 = (1.0, [2.0, 3.0], np.array([4.0, 5.0]))
    rec = tg.record(f, x0)
    grad = rec.grad(x0)
    assert grad[0] == 2.0 and grad[1] == [1.0, 20.0]
    assert grad[2].tolist() == [15.0, 12.0]
    assert tg.record(lambda x: x * x, 3.0).grad(2.0) == 4.0
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        rec((1.0, [2.0, 3.0], np.zeros(3)))
    with pytest.raises(TypeError, match="expected a number"):
        rec(("a", [2.0, 3.0], np.zeros(2)))
    with pytest.raises(TypeError, match="dtype"):
        tg.record(lambda x: x[0], np.array(["a"]))
    with pytest.raises(TypeError, match="str"):
        tg.record(lambda x: "nope", 1.0)


def test_if_on_a_traced_value_is_a_guard_named_with_its_source_line():
    def f(x):
        if x[0] > x[1]:  # the guard
            return x[0] - x[1]
        return x[1] - x[0]

    rec = tg.record(f, np.array([2.0, 1.0]))
    assert rec(np.array([5.0, 1.0])) == 4.0
    with pytest.raises(tg.BranchChanged, match=r"if x\[0\] > x\[1\]:") as caught:
        rec(np.array([1.0, 5.0]))
    assert tg.OPS_BY_CODE[rec.tape.op[caught.value.record]].name == "branch"
    assert caught.value.site[0] == __file__
    assert rec(np.array([3.0, 1.0])) == 2.0  # still usable, still the recorded branch
    retracing = tg.record(f, np.array([2.0, 1.0]), retrace=True)
    assert retracing.value_and_grad(np.array([1.0, 5.0]))[1].tolist() == [-1.0, 1.0]
    assert retracing.retraces == 1


@pytest.mark.parametrize("branching", [
    lambda x: x if x else x + 1.0,                     # bool(v)
    lambda x: 2.0 * x if x == 1.0 else x,             # ==
    lambda x: 2.0 * x if x != 1.0 else x,             # !=
])
def test_equality_and_truth_are_guards_too(branching):
    rec = tg.record(branching, 1.0)
    assert rec(1.0) == branching(1.0)
    with pytest.raises(tg.BranchChanged):
        rec(0.0)  # each condition comes out the other way at 0


def test_piecewise_ops_replay_without_retracing():
    def f(x):
        return (tg.relu(x[0]) + abs(x[1]) + tg.maximum(x[0], x[1])
                + tg.minimum(x[0], 0.5) + tg.where(x[0] > x[1], x[0] * x[1], -x[1]))

    rec = tg.record(f, np.array([1.0, -2.0]))
    for point in ([1.0, -2.0], [-1.0, 3.0], [0.25, 0.1], [-3.0, -4.0]):
        value, grad = rec.value_and_grad(np.array(point))
        fresh_value, fresh_grad = tg.record(f, np.array(point)).value_and_grad(np.array(point))
        assert (value, grad.tolist()) == (fresh_value, fresh_grad.tolist())
    assert rec.retraces == 0


def test_where_keeps_the_untaken_branch_out_of_value_and_gradient():
    rec = tg.record(lambda x: tg.where(x > 0.0, tg.log(x), 0.0), 1.0)
    assert rec.value_and_grad(-1.0) == (0.0, 0.0)  # log(-1) is nan, not taken
    assert rec.value_and_grad(np.e) == (1.0, 1.0 / np.e)


def test_reading_data_while_tracing_warns_once_and_freezes_the_number():
    def f(x):
        return x * x.data + x * (x.data * 0.0)

    with pytest.warns(tg.FrozenReadWarning, match="reuses") as caught:
        rec = tg.record(f, 3.0)
    assert len(caught) == 1
    assert rec(2.0) == 6.0  # 2 * 3: the 3 was read at recording time
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tg.Value(1.0).data  # outside record: no warning


def test_leaves_from_outside_are_read_afresh():
    w = tg.Value(2.0)
    rec = tg.record(lambda x: w * x, 3.0)
    assert rec.value_and_grad(3.0) == (6.0, 2.0)
    w.data = 5.0
    assert rec.value_and_grad(3.0) == (15.0, 5.0)
    assert rec.batch_value_and_grad(np.array([[1.0], [2.0]]))[0].tolist() == [5.0, 10.0]


def test_values_from_another_tape_are_refused():
    with tg.Tape():
        y = tg.Value(1.0) * 2.0
    with pytest.raises(tg.MixedTapeError):
        tg.record(lambda x: x * y, 1.0)


def test_batch_replay_matches_single_calls_and_catches_branch_changes(rng):
    program, _, _ = seeded(3)
    rec = tg.record(program_function(program), np.zeros(4))
    points = rng.uniform(-1.5, 1.5, (64, 4))
    values, grads = rec.batch_value_and_grad(points)
    for row in range(0, 64, 7):
        value, grad = rec.value_and_grad(points[row])
        assert values[row] == value and grads[row].tolist() == grad.tolist()

    def kinked(x):
        return x[0] * x[0] if x[0] > 0 else -x[0]

    with pytest.raises(tg.BranchChanged):
        tg.record(kinked, np.array([1.0])).batch_value_and_grad(np.array([[2.0], [-2.0]]))
    retracing = tg.record(kinked, np.array([1.0]), retrace=True)
    values, grads = retracing.batch_value_and_grad(np.array([[2.0], [-2.0]]))
    assert values.tolist() == [4.0, 2.0] and grads[:, 0].tolist() == [4.0, -1.0]
    with pytest.raises(ValueError, match=r"\(rows, 1\)"):
        retracing.batch_value_and_grad(np.zeros((2, 3)))


def test_the_recording_is_inspectable():
    rec = tg.record(lambda x: tg.exp(x[0]) * x[1], np.array([0.0, 1.0]))
    assert len(rec) == len(rec.tape) == 4
    assert [tg.OPS_BY_CODE[c].name for c in rec.tape.op] == ["input", "input", "exp", "mul"]
    with pytest.raises(ValueError):
        rec.tape.val[0] = 1.0
    assert "4 records" in repr(rec) and "exp" in repr(rec.tape)


def test_unused_inputs_and_constant_outputs():
    rec = tg.record(lambda x: 7.0, np.array([1.0, 2.0]))
    assert rec.value_and_grad(np.array([3.0, 4.0]))[1].tolist() == [0.0, 0.0]
    rec = tg.record(lambda x: x[1], np.array([1.0, 2.0]))
    assert rec.value_and_grad(np.array([3.0, 4.0])) == (4.0, pytest.approx([0.0, 1.0]))


def test_non_finite_inputs_replay_as_numpy_would_and_debug_mode_names_the_record():
    rec = tg.record(lambda x: tg.log(x[0]) * x[1], np.array([1.0, 2.0]))
    value, grad = rec.value_and_grad(np.array([-1.0, 2.0]))
    assert np.isnan(value) and grad[0] == -2.0 and np.isnan(grad[1])  # as NumPy: 1/x, log(x)
    with tg.debug_mode():
        with pytest.raises(tg.NonFiniteError, match=r"record 2 \(log\) produced nan"):
            rec.value_and_grad(np.array([-1.0, 2.0]))
        assert rec(np.array([1.0, 2.0])) == 0.0


def test_dead_records_are_dropped_but_guards_and_inputs_stay():
    def f(x):
        unused = tg.exp(x[0]) * tg.sin(x[1]) + 3.0  # reaches no output
        if x[1] > 0.0:  # a guard off the output's path
            pass
        return x[0] * 2.0

    rec = tg.record(f, np.array([1.0, 2.0]))
    names = [tg.OPS_BY_CODE[c].name for c in rec.tape.op]
    assert names == ["input", "input", "lt", "branch", "mul"]
    assert rec.value_and_grad(np.array([3.0, 5.0]))[1].tolist() == [2.0, 0.0]
    with pytest.raises(tg.BranchChanged, match="if x"):
        rec(np.array([3.0, -5.0]))


def test_a_retrace_may_switch_between_scalar_and_array_programs():
    def f(x):
        if x[0] > 0:
            return x[0] * x[1]  # scalar records only
        t = tg.stack([x[0], x[1]])
        return (t * t).sum()  # array records

    rec = tg.record(f, np.array([1.0, 3.0]), retrace=True)
    for x, value, grad in [([1.0, 3.0], 3.0, [3.0, 1.0]), ([-1.0, 2.0], 5.0, [-2.0, 4.0]),
                           ([2.0, 5.0], 10.0, [5.0, 2.0]), ([-3.0, 1.0], 10.0, [-6.0, 2.0])]:
        v, g = rec.value_and_grad(np.array(x))
        assert v == pytest.approx(value)
        assert_close(g, grad, 1e-15, 0.0)
    assert rec.retraces == 3
