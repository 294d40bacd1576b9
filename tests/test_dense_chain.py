"""The compiled replay of linear layers under a cross entropy
(tapegrad.replay.dense): which programs it takes, and that its loss and
gradients are those of the record-by-record replay (``fuse=False``) to
rounding, of central differences, across shapes, dtypes, seeds, threads and
non-finite values; bad input raises as the record-by-record replay does."""

import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.nn import functional as F
from tapegrad.replay import dense
from tapegrad.replay.dense import DenseChain

from chains import (  # noqa: F401 (path: every test of this file both ways)
    assert_central_differences, assert_grads_close, assert_threads_agree, chain, path)

RTOL = {np.float64: 1e-13, np.float32: 2e-5}


def loss_of(X, y, between=()):
    """Linear layers under a cross entropy, ``between`` applied after each
    layer but the last (names of tapegrad functions, in order)."""
    def loss(ps):
        h = X
        for k, (w, b) in enumerate(zip(ps[0::2], ps[1::2])):
            if k:
                for name in between:
                    h = getattr(tg, name)(h)
            h = F.linear(h, w, b)
        return F.cross_entropy(h, y)

    return loss


def both(loss, params):
    """The recording (compiled) and the record-by-record one of ``loss``."""
    x0 = tuple(tg.tensor(p) for p in params)
    return tg.record(loss, x0), tg.record(loss, x0, fuse=False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("widths, rows, between", [
    ((5, 25, 25, 2), 40, ()), ((3, 2), 1, ()), ((4, 7), 9, ()), ((6, 8, 10), 33, ()),
    ((2, 3, 4, 5, 6), 17, ()), ((5, 25, 25, 2), 40, ("relu",)), ((4, 6, 3), 21, ("tanh",)),
    ((4, 6, 5, 3), 2, ("sigmoid",)), ((3, 5, 4), 30, ("tanh", "relu")),
    ((3, 5, 4), 30, ("abs", "sin"))])
def test_the_chain_gives_the_record_by_record_loss_and_gradients(widths, rows, between, dtype,
                                                                  rng, path):
    X = rng.normal(size=(rows, widths[0])).astype(dtype)
    y = rng.integers(0, widths[-1], rows)
    compiled, plain = both(loss_of(X, y, between), chain(widths, dtype, rng))
    assert isinstance(compiled.program.dense, DenseChain) and plain.program.dense is None
    assert compiled.program.dense.compiled == (path == "one call")
    for _ in range(3):  # new parameters each time, into the same buffers
        params = chain(widths, dtype, rng)
        value, grads = compiled.value_and_grad(params)
        want, want_grads = plain.value_and_grad(params)
        assert type(value) is float
        assert value == pytest.approx(want, rel=RTOL[dtype], abs=0)
        assert_grads_close(grads, want_grads, RTOL[dtype])
        weights = np.array([0.375])
        (value, grads), (want, want_grads) = (r.vjp(params, weights) for r in (compiled, plain))
        assert value == pytest.approx(want, rel=RTOL[dtype], abs=0)
        assert_grads_close(grads, want_grads, RTOL[dtype])


def test_the_gradient_is_that_of_central_differences(rng):
    X, y = rng.normal(size=(12, 3)), rng.integers(0, 4, 12)
    loss = loss_of(X, y, ("tanh",))
    params = chain((3, 5, 4), np.float64, rng)
    rec = tg.record(loss, tuple(tg.tensor(p) for p in params))
    assert rec.program.dense is not None
    assert_central_differences(rec, params)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_logits_give_what_the_record_by_record_replay_gives(bad, rng):
    X, y = rng.normal(size=(6, 3)), np.array([0, 1, 1, 0, 1, 0])
    compiled, plain = both(loss_of(X, y), chain((3, 2), np.float64, rng))
    params = list(chain((3, 2), np.float64, rng))
    params[1] = np.array([bad, 0.5])  # the bias of class 0
    with np.errstate(all="ignore"):
        value, grads = compiled.value_and_grad(tuple(params))
        want, want_grads = plain.value_and_grad(tuple(params))
    np.testing.assert_array_equal(value, want)
    for a, b in zip(grads, want_grads):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=1e-13)


@pytest.mark.parametrize("make, loss_fn", [
    (lambda: nn.Sequential(nn.Linear(3, 4, rng=0), nn.Linear(4, 2, rng=1)),
     lambda z, y: F.cross_entropy(z * z, y)),                           # a squared logit
    (lambda: nn.Linear(3, 2, rng=0), lambda z, y: F.cross_entropy(z, y) * 2.0),  # more after
    (lambda: nn.Linear(3, 2, rng=0), lambda z, y: (z * z).mean(axis=0).sum()),  # by columns
    (lambda: nn.Linear(3, 2, rng=0), lambda z, y: (z * z).mean() + z.sum()),  # two sums
])
def test_other_programs_keep_the_record_by_record_replay(make, loss_fn, rng):
    X, y = rng.normal(size=(8, 3)), rng.integers(0, 2, 8)
    model = make()
    step = nn.record_loss(model, loss_fn, X, y)
    assert step.recorded.program.dense is None
    assert np.isfinite(step(X, y).item())


def test_a_layer_read_twice_keeps_the_record_by_record_replay(rng):
    X, y = rng.normal(size=(8, 3)), rng.integers(0, 3, 8)
    w, b = tg.tensor(rng.normal(size=(3, 3))), tg.tensor(rng.normal(size=3))

    def loss(ps):
        w, b = ps
        return F.cross_entropy(F.linear(F.linear(X, w, b), w, b), y)

    assert tg.record(loss, (w, b)).program.dense is None


def test_the_recorded_step_uses_the_chain_and_trains_as_eager(rng):
    X, y = rng.normal(size=(64, 5)), rng.integers(0, 3, 64)
    model = nn.Sequential(nn.Linear(5, 8, rng=0), nn.ReLU(), nn.Linear(8, 3, rng=1))
    twin = nn.Sequential(nn.Linear(5, 8, rng=0), nn.ReLU(), nn.Linear(8, 3, rng=1))
    step = nn.record_loss(model, nn.CrossEntropyLoss(), X, y)
    assert isinstance(step.recorded.program.dense, DenseChain)
    opt, twin_opt = optim.SGD(model.parameters(), lr=0.3), optim.SGD(twin.parameters(),
                                                                           lr=0.3)
    for k in range(20):
        Xk, yk = rng.normal(size=(64, 5)), rng.integers(0, 3, 64)
        opt.zero_grad(), twin_opt.zero_grad()
        loss = step(Xk, yk)
        eager = nn.CrossEntropyLoss()(twin(Xk), yk)
        eager.backward()
        assert loss.item() == pytest.approx(eager.item(), rel=1e-14), k
        for p, q in zip(model.parameters(), twin.parameters()):
            np.testing.assert_allclose(p.grad, q.grad, rtol=0, atol=1e-13)
        opt.step(), twin_opt.step()


def test_threads_sharing_a_recording_get_their_own_answers(rng):
    X, y = rng.normal(size=(50, 4)), rng.integers(0, 3, 50)
    compiled, plain = both(loss_of(X, y), chain((4, 6, 3), np.float64, rng))
    points = [chain((4, 6, 3), np.float64, np.random.default_rng(s)) for s in range(8)]
    assert_threads_agree(compiled, plain, points)


def test_a_parameter_of_another_shape_is_refused(rng):
    X, y = rng.normal(size=(8, 3)), rng.integers(0, 2, 8)
    model = nn.Linear(3, 2, rng=0)
    step = nn.record_loss(model, nn.CrossEntropyLoss(), X, y)
    model.bias._v = np.zeros(1)  # as a careless user might
    with pytest.raises(ValueError, match="changed shape"):
        step(X, y)
    assert model.weight.grad is None


def test_a_batch_of_another_shape_is_refused(rng):
    X, y = rng.normal(size=(8, 3)), rng.integers(0, 2, 8)
    model = nn.Linear(3, 2, rng=0)
    step = nn.record_loss(model, nn.CrossEntropyLoss(), X, y)
    for bad_X, bad_y in ((X[:5], y[:5]), (X[:, :2], y), (X, y[:5])):
        with pytest.raises(ValueError, match="recorded"):
            step(bad_X, bad_y)
    assert model.weight.grad is None
    step(X, y)
    assert model.weight.grad.shape == (2, 3)


@pytest.mark.parametrize("rows, between, one_call", [
    (10, (), True), (512, (), True), (513, (), False), (10_000, (), False),
    (37, ("tanh",), True), (38, ("tanh",), False), (500, ("relu",), True)])
def test_small_batches_take_the_one_call(rows, between, one_call, rng, monkeypatch):
    """Up to dense.SMALL_WORK elements through the C library per call (the
    logits, and a tanh's 25 per row; relu has no NumPy ufunc, so it costs
    the schedule of calls as much)."""
    monkeypatch.setattr(dense, "SMALL_WORK", 1024)
    X, y = rng.normal(size=(rows, 5)), rng.integers(0, 2, rows)
    rec = tg.record(loss_of(X, y, between), tuple(tg.tensor(p) for p in chain(
        (5, 25, 2), np.float64, rng)))
    assert rec.program.dense.compiled == one_call


def test_debug_mode_checks_values_as_the_record_by_record_replay(rng):
    X, y = rng.normal(size=(8, 3)), rng.integers(0, 2, 8)
    params = list(chain((3, 2), np.float64, rng))
    rec = tg.record(loss_of(X, y), tuple(tg.tensor(p) for p in params))
    params[0] = np.full((2, 3), np.inf)
    with tg.debug_mode(), np.errstate(invalid="ignore"), pytest.raises(FloatingPointError):
        rec.value_and_grad(tuple(params))


def test_an_activation_out_of_its_domain_gives_nan_silently_as_the_kernels_do(rng):
    X, y = rng.normal(size=(10, 3)), rng.integers(0, 2, 10)
    compiled, plain = both(loss_of(X, y, ("log",)), chain((3, 4, 2), np.float64, rng))
    params = chain((3, 4, 2), np.float64, rng)  # some hidden values < 0: log gives nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grads = compiled.value_and_grad(params)
    want, want_grads = plain.value_and_grad(params)
    assert np.isnan(value) and np.isnan(want)
    for a, b in zip(grads, want_grads):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))


def test_a_saved_chain_loads_as_a_chain_with_the_same_answers(rng, tmp_path):
    X, y = rng.normal(size=(20, 4)), rng.integers(0, 3, 20)
    compiled, _ = both(loss_of(X, y, ("relu",)), chain((4, 6, 3), np.float64, rng))
    compiled.save(tmp_path / "chain.npz")
    loaded = tg.load(tmp_path / "chain.npz")
    assert isinstance(loaded.program.dense, DenseChain)
    params = chain((4, 6, 3), np.float64, rng)
    (value, grads), (want, want_grads) = loaded.value_and_grad(params), \
        compiled.value_and_grad(params)
    assert value == want
    for a, b in zip(grads, want_grads):
        np.testing.assert_array_equal(a, b)


def test_plain_arrays_as_recorded_take_the_short_way_with_the_checked_ways_answers(rng, path):
    """``value_and_grad`` of a tuple of C-contiguous arrays of the recorded
    shapes and dtypes skips flattening and checks (ArrayProgram.quick);
    anything else is checked and answers the same, or says what is wrong."""
    X, y = rng.normal(size=(10, 3)), rng.integers(0, 2, 10)
    params = chain((3, 4, 2), np.float64, rng)
    compiled, plain = both(loss_of(X, y), params)
    quick = compiled.program.quick
    assert (quick is not None) == (path == "one call")
    assert quick is None or quick(params) is not None
    want, want_grads = plain.value_and_grad(params)
    value, grads = compiled.value_and_grad(params)
    checked, checked_grads = compiled.program.value_and_grad(params)
    assert value == checked and type(grads) is tuple
    for a, b in zip(grads, checked_grads):
        np.testing.assert_array_equal(a, b)
    assert_grads_close(grads, want_grads, RTOL[np.float64])
    frozen = [p.copy() for p in params]
    frozen[0].flags.writeable = False
    others = {"a Fortran-order weight": (np.asfortranarray(params[0]),
              *params[1:]), "float32 arrays": tuple(p.astype(np.float32) for p in params),
              "a Tensor": (tg.tensor(params[0]), *params[1:]), "a read-only array": tuple(frozen)}
    for what, x in others.items():
        if what != "a read-only array":
            assert compiled.program.quick is None or compiled.program.quick(x) is None, what
        value, grads = compiled.value_and_grad(x)
        assert np.isclose(value, want, rtol=1e-6 if "32" in what else 1e-14, atol=0), what
        assert all(g.dtype == np.float64 for g in grads), what
    with pytest.raises(ValueError, match="shape"):
        compiled.value_and_grad((params[0][:1], *params[1:]))
    for wrong in (params[:3], list(params)):
        with pytest.raises(ValueError, match="a tuple of 4 items"):
            compiled.value_and_grad(wrong)
    with tg.debug_mode():
        assert compiled.program.quick is None or compiled.program.quick(params) is None
        assert compiled.value_and_grad(params)[0] == checked
