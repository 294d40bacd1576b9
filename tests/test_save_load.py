"""Saving, loading and pickling recordings (``Recorded.save``,
``tapegrad.load``, ``pickle``): a loaded recording replays as the one it
was saved from, bit for bit, with every method, without ``f``.

Each program of the gallery (scalar and array, branches, closures, masks,
fused one-kernel schedules, float32, NumPy's API) is recorded, saved to a
file and pickled; both copies are compared with the in-process recording
at new points, method by method, with ``np.array_equal`` (and the same
exception where the original raises one).  Then: what is saved of the
leaves read from outside ``f`` (their values now), a ``retrace=True``
recording, what cannot be saved (a user primitive), a file loaded in a
fresh process that never saw the source, and pickles through a
``ProcessPoolExecutor`` of two spawned workers.
"""

import concurrent.futures
import copy
import math
import multiprocessing
import os
import pathlib
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.replay.schedule import WholeProgram

ROOT = pathlib.Path(__file__).resolve().parents[1]


# --- the gallery --------------------------------------------------------------------

def rosenbrock_loop(x):
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def branchy(x):
    out = x[0] * x[1]
    if out > 0.5:
        out = out + tg.exp(x[0])
    else:
        out = out - tg.sin(x[1])
    return out * out if x[1] < 2.0 else tg.sqrt(out * out + 1.0)


def rosenbrock(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


RNG = np.random.default_rng(20261126)
DATA = RNG.normal(size=(20, 3))
LABELS = RNG.integers(0, 3, size=20)
ONEHOT = np.eye(3)[LABELS]
WEIGHTS = (tg.tensor(RNG.normal(size=(3, 4)) * 0.5), tg.tensor(RNG.normal(size=4) * 0.1),
           tg.tensor(RNG.normal(size=(4, 3)) * 0.5))
OUTSIDE_VALUE = tg.Value(1.5)
OUTSIDE_TENSOR = tg.tensor(RNG.normal(size=(3, 3)), requires_grad=True)
WELL = RNG.normal(size=(3, 3)) + 3.0 * np.eye(3)


def simplenet(params):
    w1, b1, w2 = params
    return tg.cross_entropy(tg.relu(DATA @ w1 + b1) @ w2, LABELS)


def softmax_net(params):
    w1, b1, w2 = params
    logits = tg.matmul(tg.tanh(tg.linear(DATA, w1.T, b1)), w2)
    return -(tg.log_softmax(logits, axis=1) * ONEHOT).sum() / len(DATA) \
        + (tg.softmax(logits, axis=0) ** 2).mean()


def indexing(x):
    picked = x[np.array([0, 2, 1])] * x[[1, 1, 0]]
    return (picked.sum() + (x[1:, ::2] ** 2).sum() + x[:, np.array([3, 0])].sum() * x[0, 1]
            + (x[..., 1] * x[:, 2]).sum() + x[-1, -1])


def reductions(x):
    return ((x * x.sum(axis=0, keepdims=True)).mean(axis=1).sum() + x.max(axis=1).sum()
            + x.min(axis=0).prod() + x.mean(axis=(0, 1), keepdims=True).sum())


def mask_guard(x):
    return (x[x > 0] ** 2).sum() + (x * 0.5).sum()  # the mask indexes: a guard


def where_and_maximum(x):
    return (tg.where(x > 0, x, 0.1 * x).sum() + tg.maximum(x, 0.5).sum()
            + (tg.minimum(x * x, 1.0) * x).sum())


def mixed(args):
    a, t = args
    return a * (t ** 2).sum() + tg.sin(a) * t[0] + tg.exp(t[1] * a)


def float32_net(x):
    w = x.reshape((2, 3))
    strong = (x * np.float64(1.5)).sum()  # a float64 scalar makes it float64 (NumPy 2)
    return (tg.tanh(w @ np.ones((3, 2), np.float32)) ** 2).sum() + (x * x).sum() \
        + strong + x.astype(np.float64)[1] * x[np.int64(2)]


def numpy_api(a):
    b = np.array([1.0, -2.0, 0.5])
    solved = np.linalg.solve(a, b)
    sign, logdet = np.linalg.slogdet(a)
    return (solved ** 2).sum() + logdet * sign + (np.cumsum(np.sort(a.reshape(-1))) * 0.1).sum()


def tensor_output(x):
    return tg.exp(x) * 2.0 + x[::-1]


CASES = {
    "seed expression": (lambda x: x[0] * x[1] + tg.sin(x[0]), np.array([1.0, 2.0])),
    "rosenbrock loop": (rosenbrock_loop, np.linspace(-1.0, 1.0, 6)),
    "branches": (branchy, np.array([0.8, 1.5])),
    "guard on a number": (lambda x: x * x if x > 0 else -x, 3.0),
    "multiple outputs": (lambda x: [x[0] * x[1], tg.exp(x[0]) - x[1], 2.0],
                         np.array([0.3, -0.7])),
    "closure over a Value": (lambda x: OUTSIDE_VALUE * x[0] ** 2 + x[1] / OUTSIDE_VALUE,
                             np.array([1.0, 2.0])),
    "tuple and list input": (lambda a: a[0] * a[1][0] - tg.tanh(a[1][1] * a[0]),
                             (0.5, [1.0, -2.0])),
    "rosenbrock vectorized": (rosenbrock, tg.tensor(np.zeros(8))),
    "simplenet cross entropy": (simplenet, WEIGHTS),
    "softmax, log_softmax, linear": (softmax_net, WEIGHTS),
    "indexing": (indexing, tg.tensor(RNG.normal(size=(3, 4)))),
    "reductions": (reductions, tg.tensor(RNG.normal(size=(3, 4)))),
    "mask guard": (mask_guard, tg.tensor(np.array([1.0, -2.0, 0.5, -0.1]))),
    "where and maximum": (where_and_maximum, tg.tensor(np.array([1.0, -2.0, 0.4, -0.1]))),
    "scalar and Tensor": (mixed, (0.7, tg.tensor(np.array([0.5, -1.0, 2.0])))),
    "float32": (float32_net, tg.tensor(np.linspace(-1, 1, 6).astype(np.float32))),
    "float32 rosenbrock": (rosenbrock, tg.tensor(np.linspace(-1, 1, 7).astype(np.float32))),
    "NumPy solve, slogdet, sort, cumsum": (numpy_api, tg.tensor(WELL)),
    "closure over a Tensor": (lambda x: ((OUTSIDE_TENSOR @ x) ** 2).sum() + x[0],
                              tg.tensor(np.array([0.5, 1.0, -1.0]))),
    "Tensor output": (tensor_output, tg.tensor(np.array([0.1, -0.3, 0.7]))),
}


# --- comparing ----------------------------------------------------------------------

def outcome(call):
    """What ``call()`` gives: ``("value", result)`` or ``("raises", type)``."""
    try:
        return "value", call()
    except (tg.BranchChanged, ValueError, TypeError) as error:
        return "raises", type(error)


def assert_same(a, b, where=""):
    """``a`` and ``b`` equal to the last bit, of the same types and shapes."""
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{k}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, (where, a.dtype, b.dtype)
        assert np.array_equal(a, b, equal_nan=True), (where, a, b)
    elif isinstance(a, float):
        assert a == b or (math.isnan(a) and math.isnan(b)), (where, a, b)
    else:
        assert a == b, (where, a, b)


def calls(rec, rng, points=3):
    """Every method of ``rec`` at new points near its recording's, by name."""
    st = rec.structure
    out = []
    for k in range(points):
        x = st.unflatten(rng.normal(size=st.size) * 0.6 + 0.3)
        v = st.unflatten(rng.normal(size=st.size))
        w = rng.normal(size=rec.n_outputs)
        out += [(f"call {k}", lambda r, x=x: r(x)),
                (f"vjp {k}", lambda r, x=x, w=w: r.vjp(x, w)),
                (f"jvp {k}", lambda r, x=x, v=v: r.jvp(x, v)),
                (f"jacobian {k}", lambda r, x=x: r.jacobian(x))]
        if rec.scalar_output:
            out += [(f"value_and_grad {k}", lambda r, x=x: r.value_and_grad(x)),
                    (f"grad {k}", lambda r, x=x: r.grad(x)),
                    (f"hvp {k}", lambda r, x=x, v=v: r.hvp(x, v)),
                    (f"grad_and_hvp {k}", lambda r, x=x, v=v: r.grad_and_hvp(x, v)),
                    (f"hessian {k}", lambda r, x=x: r.hessian(x))]
    if rec.scalar_output:
        points = rng.normal(size=(4, st.size)) * 0.6 + 0.3
        out.append(("batch_value_and_grad", lambda r: r.batch_value_and_grad(points)))
    return out


def saved_and_loaded(rec, via, tmp_path):
    if via == "file":
        path = tmp_path / "program.tape"
        rec.save(path)
        return tg.load(path)
    return pickle.loads(pickle.dumps(rec))


@pytest.mark.parametrize("via", ["file", "pickle"])
@pytest.mark.parametrize("name", list(CASES))
def test_a_loaded_recording_replays_bit_for_bit(name, via, tmp_path):
    f, x0 = CASES[name]
    rec = tg.record(f, x0)
    loaded = saved_and_loaded(rec, via, tmp_path)
    assert type(loaded.program) is type(rec.program) and loaded.structure == rec.structure
    assert len(loaded) == len(rec) and loaded.n_outputs == rec.n_outputs
    for what, call in calls(rec, np.random.default_rng(len(name))):
        assert_same(outcome(lambda: call(loaded)), outcome(lambda: call(rec)), f"{name}: {what}")


def test_the_gallery_covers_raised_branches_and_both_kinds():
    """The comparison above sees BranchChanged on both sides somewhere."""
    kinds, raised = set(), set()
    for name, (f, x0) in CASES.items():
        rec = tg.record(f, x0)
        kinds.add(type(rec.program).__name__)
        for what, call in calls(rec, np.random.default_rng(len(name))):
            if outcome(lambda: call(rec))[0] == "raises":
                raised.add(name)
    assert kinds == {"ScalarProgram", "ArrayProgram"}
    assert {"branches", "mask guard"} <= raised


def test_the_one_kernel_schedule_is_planned_again():
    rec = tg.record(rosenbrock, tg.tensor(np.zeros(8)))
    loaded = pickle.loads(pickle.dumps(rec))
    assert isinstance(loaded.program.schedule, WholeProgram)
    assert [g.members for g in loaded.fusion.groups] == [g.members for g in rec.fusion.groups]


def test_a_loaded_recording_raises_branch_changed_saying_it_was_loaded(tmp_path):
    rec = tg.record(CASES["guard on a number"][0], 3.0)
    loaded = saved_and_loaded(rec, "file", tmp_path)
    with pytest.raises(tg.BranchChanged) as original:
        rec(-1.0)
    with pytest.raises(tg.BranchChanged, match="loaded from .*no f to record again") as error:
        loaded(-1.0)
    assert error.value.record == original.value.record
    assert error.value.site == original.value.site
    guarded = tg.record(mask_guard, tg.tensor(np.array([1.0, -2.0])))
    with pytest.raises(tg.BranchChanged, match="unpickled.*no f to record again"):
        pickle.loads(pickle.dumps(guarded))(np.array([-1.0, 2.0]))


def test_a_retrace_recording_saves_its_current_tape_and_loads_without_retrace():
    f = CASES["guard on a number"][0]
    rec = tg.record(f, 3.0, retrace=True)
    assert rec(-2.0) == 2.0 and rec.retraces == 1  # now the tape of the negative branch
    loaded = pickle.loads(pickle.dumps(rec))
    assert loaded.retrace is False and loaded.retraces == 0
    assert_same(loaded.value_and_grad(-5.0), rec.value_and_grad(-5.0))
    with pytest.raises(tg.BranchChanged, match="no f to record again"):
        loaded(4.0)
    assert rec(4.0) == 16.0  # the original records f again


def test_outside_leaves_are_saved_as_their_values_now(tmp_path):
    w = tg.Value(2.0)
    t = tg.tensor(np.array([1.0, -1.0]), requires_grad=True)
    rec = tg.record(lambda x: w * x[0] ** 2 + (t * x[1]).sum(), (1.0, tg.tensor(np.ones(2))))
    rec.save(tmp_path / "before.tape")
    before = pickle.dumps(rec)
    x = (1.5, np.array([2.0, 3.0]))
    expected = 2.0 * 1.5 ** 2 + (1.0 * 2.0 - 1.0 * 3.0)
    w.data = 5.0
    t._v = np.array([4.0, 4.0])
    assert rec(x) == 5.0 * 1.5 ** 2 + 4.0 * 5.0  # the original reads them afresh
    for loaded in (tg.load(tmp_path / "before.tape"), pickle.loads(before)):
        assert loaded(x) == expected
        assert loaded.grad(x)[0] == 2.0 * 2.0 * 1.5
    again = pickle.loads(pickle.dumps(rec))  # a pickle made now has the new values
    assert again(x) == rec(x)


def test_a_user_primitive_is_refused_when_saving_and_no_file_is_left(tmp_path):
    @tg.primitive
    class doubled:
        """2 x"""

        def value(x):
            return 2.0 * x

        def vjp(g, out, x):
            return 2.0 * g

        def jvp(out, x, tx):
            return 2.0 * tx

    rec = tg.record(lambda x: doubled(x).sum(), tg.tensor(np.ones(3)))
    path = tmp_path / "primitive.tape"
    with pytest.raises(TypeError, match=r"record \d+ \(array primitive\).*primitive"):
        rec.save(path)
    with pytest.raises(TypeError, match="primitive"):
        pickle.dumps(rec)
    assert list(tmp_path.iterdir()) == []


def test_a_parameter_of_unknown_kind_is_refused_naming_it():
    rec = tg.record(lambda x: x.sum(axis=0).sum(), tg.tensor(np.ones((2, 2))))
    prog = rec.program._program
    first = next(i for i in prog.array_records if prog.params[i])
    prog.params[first]["axis"] = object()
    with pytest.raises(TypeError, match=rf"record {first} \(array sum\), param 'axis': "
                                        "a object cannot be saved"):
        pickle.dumps(rec)


def test_save_replaces_a_file_whole_and_loads_any_name(tmp_path):
    path = tmp_path / "no suffix"
    tg.record(lambda x: x * 2.0, 1.0).save(path)
    tg.record(lambda x: x * 3.0, 1.0).save(str(path))
    assert tg.load(path)(2.0) == 6.0
    assert [p.name for p in tmp_path.iterdir()] == ["no suffix"]


def test_loading_again_and_copies():
    rec = tg.record(lambda x: tg.exp(x) * x, 0.5)
    data = pickle.dumps(rec)
    first, second = pickle.loads(data), pickle.loads(data)
    assert first is second  # the same bytes: the same read-only recording
    assert pickle.loads(pickle.dumps(first)) is first
    assert copy.copy(rec)._f is rec._f
    assert_same(copy.deepcopy(rec).value_and_grad(1.5), rec.value_and_grad(1.5))
    assert tg.Recorded is type(first) and "(loaded)" in repr(first)


def test_a_scalar_tape_costs_at_most_30_bytes_a_record(tmp_path):
    rec = tg.record(rosenbrock_loop, np.linspace(-1.0, 1.0, 400))
    path = tmp_path / "rosenbrock.tape"
    rec.save(path)
    assert path.stat().st_size <= 30 * len(rec) + 4096


# --- other processes ---------------------------------------------------------------

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import tapegrad as tg
    for path in sys.argv[1:]:
        rec = tg.load(path)
        x = np.load(path + ".x.npy")
        value, grad = rec.value_and_grad(x)
        np.save(path + ".out.npy", np.concatenate([[value], np.ravel(grad)]))
    print("test_save_load" in sys.modules, "conftest" in sys.modules)
""")


def test_a_file_loads_in_a_fresh_process_without_the_source(tmp_path):
    programs = {"scalar": (lambda x: x[0] * tg.cos(x[1]) + x[1] ** 3, np.array([1.0, 2.0]),
                           np.array([0.3, -0.4])),
                "array": (rosenbrock, tg.tensor(np.zeros(6)), np.linspace(-1.0, 1.0, 6)),
                "net": (lambda w: simplenet((w[:12].reshape(3, 4), w[12:16], w[16:].reshape(4, 3))),
                        tg.tensor(np.zeros(28)), RNG.normal(size=28))}
    paths = []
    for name, (f, x0, x) in programs.items():
        rec = tg.record(f, x0)
        path = str(tmp_path / f"{name}.tape")
        rec.save(path)
        np.save(path + ".x.npy", x)
        paths.append((path, rec.value_and_grad(x)))
    result = subprocess.run([sys.executable, "-c", CHILD, *(p for p, _ in paths)],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
    for path, (value, grad) in paths:
        assert_same(np.load(path + ".out.npy"), np.concatenate([[value], np.ravel(grad)]))


def test_a_lambda_recording_maps_over_two_worker_processes():
    shift = 0.25
    rec = tg.record(lambda x: ((x - shift) ** 2).sum() * tg.exp(x[0] * 0.1),
                    tg.tensor(np.zeros(5)))
    points = [np.random.default_rng(k).normal(size=5) for k in range(6)]
    context = multiprocessing.get_context("spawn")  # workers that never saw this module
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        results = list(pool.map(rec.value_and_grad, points, chunksize=2))
    for got, point in zip(results, points):
        assert_same(got, rec.value_and_grad(point))
