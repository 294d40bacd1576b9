"""The recorded training step (tapegrad.nn.record_loss): the seed's
SimpleNet loop replayed from one recording trains exactly as the eager loop
does, on new batches and labels at every step (and as PyTorch does, where
it is installed); a changed branch, a batch of another shape or dtype, and
NumPy work on the batch while it is recorded are errors; memory stays flat."""

import gc
import importlib.util
import pathlib
import tracemalloc
import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import BranchChanged, nn, optim
from tapegrad.nn import functional as F

from conftest import JIT_DISABLED, requires_torch

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _load(EXAMPLES / "reference" / "make_simplenet_reference.py",
                  "make_simplenet_reference")
example = reference.load_example()
recorded_example = _load(EXAMPLES / "simplenet_recorded.py", "simplenet_recorded")

# Recorded against eager: the same ops on the same arrays (the figures).
EAGER_RTOL = {"float64": 1e-15, "float32": 5e-6}
# The parameters after 100 steps, relative to their largest: a chain of linear
# layers replays as tapegrad.replay.dense (BLAS sums in another order), whose
# rounding differences the optimizer carries from step to step.
STATE_RTOL = {"float64": 1e-12, "float32": 5e-6}
# Against PyTorch, as tests/test_simplenet.py bounds whole training runs.
TORCH_RTOL = {"float64": 1e-10, "float32": 2e-5}
DTYPES = {"float64": np.float64, "float32": np.float32}
RUNS = [(o, d) for d in DTYPES for o in example.OPTIMIZERS]
STEPS = 100
# The seed's 10,000 rows compiled; small batches in plain-Python kernels.
BATCH, POOL = (64, 1_000) if JIT_DISABLED else (10_000, 20_000)

needs_jit = pytest.mark.skipif(
    JIT_DISABLED, reason="100-step trajectories over 10,000 rows need the compiled kernels")


def batches(dtype, steps=STEPS, batch=BATCH, seed=1):
    """A new batch at every step, drawn from blobs; every third step's
    labels are flipped, so the labels change as much as the rows do."""
    X, y = example.make_blobs(POOL, 5, 2, seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    for k in range(steps):
        rows = rng.choice(POOL, batch, replace=False)
        labels = y[rows] if k % 3 else 1 - y[rows]
        out.append((X[rows].astype(dtype), labels))
    return out


def train(optimizer, dtype, data, recorded):
    """SimpleNet(5, rng=SEED) trained on ``data``: (losses, state_dict)."""
    net = example.SimpleNet(5, dtype=dtype, rng=reference.SEED)
    name, options = example.OPTIMIZERS[optimizer]
    opt = getattr(optim, name)(net.parameters(), **options)
    criterion = nn.CrossEntropyLoss()
    step = nn.record_loss(net, criterion, *data[0]) if recorded else None
    losses = []
    for X, y in data:
        opt.zero_grad()
        if recorded:
            loss = step(X, y)
        else:
            loss = criterion(net(X), y)
            loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses), net.state_dict()


def torch_train(optimizer, data, state):
    """The same loop in PyTorch (one thread, for-loop optimizers)."""
    import torch

    name, options = example.OPTIMIZERS[optimizer]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dtype = torch.from_numpy(data[0][0]).dtype
        net = torch.nn.Sequential(torch.nn.Linear(5, 25), torch.nn.Linear(25, 25),
                                  torch.nn.Linear(25, 2)).to(dtype)
        net.load_state_dict({k.removeprefix("net."): torch.from_numpy(np.array(v))
                             for k, v in state.items()})
        opt = getattr(torch.optim, name)(net.parameters(), foreach=False, **options)
        criterion, losses = torch.nn.CrossEntropyLoss(), []
        for X, y in data:
            opt.zero_grad()
            loss = criterion(net(torch.from_numpy(X)), torch.from_numpy(y))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return np.array(losses)
    finally:
        torch.set_num_threads(threads)


def assert_losses_agree(ours, theirs, rtol):
    rel = np.abs(ours - theirs) / np.abs(theirs)
    worst = int(np.argmax(rel))
    assert rel[worst] <= rtol, (f"step {worst}: {ours[worst]!r} against {theirs[worst]!r} "
                                f"(relative {rel[worst]:.2e})")


def grads_of(model):
    return [None if p.grad is None else p.grad.copy() for p in model.parameters()]


def eager_grads(model, loss_fn, X, y):
    """The eager loss and gradients at (X, y), leaving .grad as it found it."""
    saved = [p.grad for p in model.parameters()]
    model.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    grads = grads_of(model)
    for p, g in zip(model.parameters(), saved):
        p.grad = g
    return loss.item(), grads


def assert_same_grads(ours, theirs, rtol=0.0):
    """The same gradients: equal, or within ``rtol`` of each one's largest
    entry (a replay by tapegrad.replay.dense rounds its sums otherwise)."""
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b, rtol=0, atol=rtol * np.abs(b).max())


# --- the seed's loop --------------------------------------------------------------


@pytest.mark.parametrize("optimizer, dtype_name", RUNS)
def test_recorded_training_matches_eager_on_changing_batches(optimizer, dtype_name):
    data = batches(DTYPES[dtype_name])
    eager, eager_state = train(optimizer, DTYPES[dtype_name], data, recorded=False)
    ours, state = train(optimizer, DTYPES[dtype_name], data, recorded=True)
    assert_losses_agree(ours, eager, EAGER_RTOL[dtype_name])
    for name in state:
        assert state[name].dtype == eager_state[name].dtype == DTYPES[dtype_name]
        np.testing.assert_allclose(state[name], eager_state[name], rtol=0, err_msg=name,
                                   atol=STATE_RTOL[dtype_name] * np.abs(eager_state[name]).max())
    # The labels reached the replay: the flipped-label steps' losses stand out.
    assert ours[0::3].mean() > 2 * np.delete(ours, np.s_[0::3]).mean()


@requires_torch
@pytest.mark.parametrize("optimizer, dtype_name", RUNS)
def test_recorded_training_matches_pytorch_on_changing_batches(optimizer, dtype_name):
    data = batches(DTYPES[dtype_name])
    ours, _ = train(optimizer, DTYPES[dtype_name], data, recorded=True)
    state = example.SimpleNet(5, dtype=DTYPES[dtype_name], rng=reference.SEED).state_dict()
    assert_losses_agree(ours, torch_train(optimizer, data, state), TORCH_RTOL[dtype_name])


@needs_jit
@pytest.mark.parametrize("optimizer, dtype_name", RUNS)
def test_the_recorded_example_matches_the_committed_reference(optimizer, dtype_name):
    """examples/simplenet_recorded.py, full batch as the seed: PyTorch's losses
    (examples/reference/simplenet.json) at every one of 100 steps."""
    import json

    saved = json.loads(reference.REFERENCE.read_text())["losses"][f"{optimizer}/{dtype_name}"]
    X, y, _ = reference.start(DTYPES[dtype_name])
    net = example.SimpleNet(5, dtype=DTYPES[dtype_name], rng=reference.SEED)
    losses = recorded_example.fit(net, X, y, max_iter=reference.STEPS, optimizer=optimizer,
                                  verbose=False)
    assert_losses_agree(np.array(losses), np.array(saved), TORCH_RTOL[dtype_name])


def test_the_recorded_example_prints_as_the_seed_does(capsys):
    losses = recorded_example.main(steps=3, samples=200 if JIT_DISABLED else 10_000)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [f"Iteration {i}: {loss}" for i, loss in enumerate(losses)]
    assert lines[3].startswith("accuracy of predict (class-1 logit > 0.5): ")
    eager = example.main(steps=3, samples=200 if JIT_DISABLED else 10_000, verbose=False)
    assert_losses_agree(np.array(losses), np.array(eager), EAGER_RTOL["float64"])


# --- what a step returns and where its gradients go ------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_step_returns_the_loss_and_adds_into_grad_as_backward(dtype, rng):
    model = nn.Sequential(nn.Linear(3, 4, dtype=dtype, rng=0), nn.Tanh(),
                          nn.Linear(4, 3, dtype=dtype, rng=1))
    loss_fn = nn.CrossEntropyLoss()
    X, y = rng.normal(size=(8, 3)).astype(dtype), rng.integers(0, 3, 8)
    step = nn.record_loss(model, loss_fn, X, y)
    assert all(p.grad is None for p in model.parameters())  # recording adds nothing
    X2, y2 = rng.normal(size=(8, 3)).astype(dtype), rng.integers(0, 3, 8)
    value, grads = eager_grads(model, loss_fn, X2, y2)
    loss = step(X2, y2)
    rtol = EAGER_RTOL[np.dtype(dtype).name]  # a dense chain (tapegrad.replay.dense)
    assert type(loss) is np.dtype(dtype).type
    assert loss.item() == pytest.approx(value, rel=rtol, abs=0)
    assert_same_grads(grads_of(model), grads, rtol=10 * rtol)
    step(X2, y2)  # no zero_grad: added again, as a second backward() would
    assert_same_grads(grads_of(model), [g + g for g in grads], rtol=10 * rtol)
    assert step.parameters == list(model.parameters())
    assert "4 parameters" in repr(step)


def test_labels_are_data_read_at_every_call(rng):
    model = nn.Linear(4, 3, rng=0)
    X = rng.normal(size=(16, 4))
    step = nn.record_loss(model, nn.CrossEntropyLoss(), X, np.zeros(16, dtype=np.int64))
    for labels in (np.zeros(16, np.int64), np.full(16, 2), rng.integers(0, 3, 16)):
        value, grads = eager_grads(model, nn.CrossEntropyLoss(), X, labels)
        model.zero_grad()
        assert step(X, labels).item() == pytest.approx(value, rel=1e-15, abs=0)
        assert_same_grads(grads_of(model), grads, rtol=1e-14)


def test_data_may_be_given_as_tensors(rng):
    model = nn.Linear(4, 2, rng=0)
    X, y = rng.normal(size=(16, 4)), rng.integers(0, 2, 16)
    step = nn.record_loss(model, nn.CrossEntropyLoss(), tg.tensor(X), tg.tensor(y))
    assert step(tg.tensor(X), y).item() == nn.CrossEntropyLoss()(model(X), y).item()


def test_a_parameter_no_gradient_reaches_keeps_its_grad(rng):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(3, 2, rng=0), nn.Linear(3, 2, rng=1)

        def forward(self, x):
            return self.used(x)

    model = Model()
    X, y = rng.normal(size=(8, 3)), rng.integers(0, 2, 8)
    step = nn.record_loss(model, nn.CrossEntropyLoss(), X, y)
    step(X, y)
    assert model.used.weight.grad is not None and model.unused.weight.grad is None
    assert {id(p) for p in step.parameters} == {id(model.used.weight), id(model.used.bias)}


def _shared():
    class Shared(nn.Module):  # one Linear applied twice: its gradient is a sum
        def __init__(self):
            super().__init__()
            self.fc, self.out = nn.Linear(4, 4, rng=0), nn.Linear(4, 3, rng=1)

        def forward(self, x):
            return self.out(tg.relu(self.fc(tg.relu(self.fc(x)) + x)))

    return Shared()


def _fused():
    class Fused(nn.Module):  # an elementwise chain with the batch in it (one fused group)
        def __init__(self):
            super().__init__()
            self.fc, self.out = nn.Linear(4, 4, rng=0), nn.Linear(4, 3, rng=1)

        def forward(self, x):
            return self.out(tg.tanh(tg.relu(self.fc(x) + x) * 2.0 - x))

    return Fused()


@pytest.mark.parametrize("make, loss_fn", [
    (_shared, nn.CrossEntropyLoss()),
    (_fused, nn.CrossEntropyLoss()),
    (_fused, nn.CrossEntropyLoss(reduction="sum")),  # labels as an index
    (_fused, lambda out, y: F.cross_entropy(out, y, reduction="none").mean()),
], ids=["shared-parameter", "fused-with-data", "cross-entropy-sum", "cross-entropy-none"])
def test_other_models_and_losses_match_eager_on_new_batches(make, loss_fn, rng):
    model = make()
    step = nn.record_loss(model, loss_fn, rng.normal(size=(12, 4)), rng.integers(0, 3, 12))
    for _ in range(4):
        X, y = rng.normal(size=(12, 4)), rng.integers(0, 3, 12)
        value, grads = eager_grads(model, loss_fn, X, y)
        model.zero_grad()
        assert step(X, y).item() == value
        assert_same_grads(grads_of(model), grads)


def test_float_targets_are_data_too(rng):
    """A mean squared error's targets, read afresh (a dense chain's head:
    BLAS rounds its sums otherwise, so to rounding)."""
    model = nn.Linear(3, 2, rng=0)
    step = nn.record_loss(model, nn.MSELoss(), rng.normal(size=(8, 3)), rng.normal(size=(8, 2)))
    assert step.recorded.program.dense.head is not None
    for _ in range(3):
        X, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
        value, grads = eager_grads(model, nn.MSELoss(), X, y)
        model.zero_grad()
        assert step(X, y).item() == pytest.approx(value, rel=1e-15)
        assert_same_grads(grads_of(model), grads, rtol=1e-15)


def test_a_loss_that_is_a_value_works_too(rng):
    model = nn.Linear(3, 2, rng=0)

    def loss_fn(out, y):
        return F.cross_entropy(out, y)[()] * 2.0  # a scalar Value on the tape

    step = nn.record_loss(model, loss_fn, rng.normal(size=(8, 3)), rng.integers(0, 2, 8))
    X, y = rng.normal(size=(8, 3)), rng.integers(0, 2, 8)
    eager = loss_fn(model(X), y)
    eager.backward()
    grads = grads_of(model)
    model.zero_grad()
    loss = step(X, y)
    assert type(loss) is np.float64 and loss.item() == eager.data
    assert_same_grads(grads_of(model), grads)


# --- branches -----------------------------------------------------------------------


class Gated(nn.Module):
    """A Python branch on a traced value: a guard of the recording."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2, rng=0)

    def forward(self, x):
        z = self.fc(x)
        if z.sum() > 0:
            return z
        return -z


def _gated_batches():
    up = np.full((4, 2), -5.0)  # Gated's fc at -5 sums to more than 0
    return (up, np.array([0, 1, 1, 0])), (-up, np.array([1, 1, 0, 0]))


def test_a_batch_taking_another_branch_raises_branch_changed():
    model, loss_fn = Gated(), nn.CrossEntropyLoss()
    (X, y), (X2, y2) = _gated_batches()
    assert model.fc(X).value.sum() > 0 > model.fc(X2).value.sum()
    step = nn.record_loss(model, loss_fn, X, y)
    with pytest.raises(BranchChanged, match="another branch"):
        step(X2, y2)
    assert all(p.grad is None for p in model.parameters())  # nothing added
    value, grads = eager_grads(model, loss_fn, X, 1 - y)
    assert step(X, 1 - y).item() == value  # and the step still replays its own branch
    assert_same_grads(grads_of(model), grads)


def test_retrace_records_the_step_again_at_the_new_branch():
    model, loss_fn = Gated(), nn.CrossEntropyLoss()
    (X, y), (X2, y2) = _gated_batches()
    step = nn.record_loss(model, loss_fn, X, y, retrace=True)
    for k, (A, b) in enumerate([(X2, y2), (X2 * 2, 1 - y2), (X, y), (X * 3, 1 - y)]):
        value, grads = eager_grads(model, loss_fn, A, b)
        model.zero_grad()
        assert step(A, b).item() == value, k
        assert_same_grads(grads_of(model), grads)
    assert step.recorded.retraces == 2


# --- errors -------------------------------------------------------------------------


@pytest.fixture
def simple_step(rng):
    model = nn.Linear(3, 2, rng=0)
    X, y = rng.normal(size=(8, 3)), rng.integers(0, 2, 8)
    return model, nn.record_loss(model, nn.CrossEntropyLoss(), X, y), X, y


@pytest.mark.parametrize("change, error, match", [
    (lambda X, y: (X[:4], y[:4]), ValueError, r"X has shape \(4, 3\).*\(8, 3\).*of its own"),
    (lambda X, y: (X, y[:4]), ValueError, r"y has shape \(4,\)"),
    (lambda X, y: (X[:, :2], y), ValueError, r"X has shape \(8, 2\)"),
    (lambda X, y: (X.astype(np.float32), y), TypeError, "X has dtype float32.*float64"),
    (lambda X, y: (X, y.astype(np.int32)), TypeError, "y has dtype int32.*int64"),
    (lambda X, y: (X, y.astype(np.float64)), TypeError, "y has dtype float64"),
    (lambda X, y: (X + 0j, y), TypeError, "real numbers.*complex"),
    (lambda X, y: (X, np.where(y == 0, 2, y)), ValueError, r"label out of range \[0, 2\)"),
    (lambda X, y: (X, np.where(y == 0, -1, y)), ValueError, r"label out of range \[0, 2\)"),
], ids=["rows", "labels", "features", "X-dtype", "y-dtype", "y-float", "complex",
        "label-high", "label-negative"])
def test_a_batch_unlike_the_recorded_one_is_refused(simple_step, change, error, match):
    model, step, X, y = simple_step
    with pytest.raises(error, match=match):
        step(*change(X, y))
    assert model.weight.grad is None


def test_an_index_label_out_of_range_is_refused(rng):
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    X, y = rng.normal(size=(8, 3)), rng.integers(0, 2, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", tg.FrozenReadWarning)  # the loss reads shapes only
        step = nn.record_loss(nn.Linear(3, 2, rng=0), loss_fn, X, y)
    with pytest.raises(ValueError, match=r"index out of range \[0, 2\)"):
        step(X, np.where(y == 0, -1, y))


class _Forward(nn.Module):
    def __init__(self, forward):
        super().__init__()
        self.fc, self._forward = nn.Linear(4, 3, rng=0), forward

    def forward(self, x):
        return self._forward(self, x)


@pytest.mark.parametrize("forward, loss_fn, match", [
    (lambda m, x: m.fc(x) + x[:, :3] * 0.1, None, "indexing"),
    (lambda m, x: m.fc(x * 0.5), None, "np.multiply of it alone"),
    (lambda m, x: m.fc(np.log1p(np.abs(x))), None, "np.absolute of it alone"),
    (lambda m, x: m.fc(np.asarray(x)), None, "converting it to NumPy"),
    (lambda m, x: m.fc(np.asarray(x, dtype=np.float32)), None, "converting it to NumPy"),
    (lambda m, x: m.fc(tg.tensor(x)), None, r"tapegrad.tensor\(\) of it"),
    (lambda m, x: m.fc(np.concatenate([x, x], axis=1)[:, :4]), None, "np.concatenate"),
    (lambda m, x: m.fc(x.reshape(len(x), 4)), None, "X.reshape: .*stand-in"),
    (lambda m, x: m.fc(x), lambda out, y: F.mse_loss(out, np.eye(3)[y]), "batch y"),
    (lambda m, x: m.fc(x) if float(np.sum(x)) else m.fc(x), None, "np.sum of it alone"),
], ids=["slice", "scale", "ufuncs", "asarray", "cast", "tensor", "concatenate", "reshape",
        "one-hot", "sum"])
def test_numpy_work_on_the_batch_while_recording_is_refused(forward, loss_fn, match, rng):
    X, y = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    with pytest.raises((TypeError, AttributeError), match=match) as error:
        nn.record_loss(_Forward(forward), loss_fn or nn.CrossEntropyLoss(), X, y)
    assert "frozen into every replay" in str(error.value)


def test_shape_and_length_of_the_batch_are_free_while_recording(rng):
    def forward(m, x):
        assert np.shape(x) == x.shape == (6, 4) and len(x) == 6 and x.dtype == np.float64
        assert np.size(x, 1) == 4 and np.ndim(x) == x.ndim == 2 and x.size == 24
        return m.fc(x)

    X, y = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    nn.record_loss(_Forward(forward), nn.CrossEntropyLoss(), X, y)


@pytest.mark.parametrize("loss_fn, match", [
    (lambda out, y: F.cross_entropy(out, y, reduction="none"), "one-element Tensor"),
    (lambda out, y: 1.0, r"one-element Tensor \(or a Value\), not float"),
    (lambda out, y: tg.tensor(0.0), "does not depend on any parameter"),
])
def test_a_loss_that_is_not_a_trainable_number_is_refused(loss_fn, match, rng):
    X, y = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    with pytest.raises(TypeError, match=match):
        nn.record_loss(nn.Linear(4, 3, rng=0), loss_fn, X, y)


# --- memory -------------------------------------------------------------------------


def test_memory_stays_flat_over_200_steps(rng):
    model = example.SimpleNet(5, rng=0)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    data = [(rng.normal(size=(64, 5)), rng.integers(0, 2, 64)) for _ in range(2)]
    step = nn.record_loss(model, nn.CrossEntropyLoss(), *data[0])

    def run(n):
        for k in range(n):
            opt.zero_grad()
            step(*data[k % 2])
            opt.step()

    run(20)  # warm: buffers, optimizer state
    gc.collect()
    tracemalloc.start()
    try:
        # numba keeps some of the NumPy scalars passed to compiled kernels (a
        # cache that levels off at about 8 KiB here, eager steps alike): let it fill.
        run(500)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        run(200)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # 80 bytes a step (one small object) would be 16 KiB; one step's arrays, 2.5 MiB.
    assert after - before < 16 * 1024, f"grew by {after - before} bytes over 200 steps"
