"""The tape's storage and lifetime: recordings, reuse, staleness, memory."""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import Value
from tapegrad.kernels import reference
from tapegrad.kernels.sweeps import forward
from tapegrad.core.tape import Recording


def columns(tape):
    return {name: getattr(tape, name) for name in ("op", "arg0", "arg1", "const", "val")}


def mlp_step(ws, xs):
    h = [tg.tanh(w * x + 0.1) if w > -5.0 else w for w, x in zip(ws, xs)]  # with guards
    return sum((v - 0.5) ** 2 for v in h)


def test_seed_style_code_needs_no_tape():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + b
    d.backward()
    assert (a.grad, b.grad) == (2.0, 2.0)


def test_values_remember_their_tape_after_the_block():
    x = Value(2.0)
    with tg.Tape() as tape:
        y = x**3
    z = y + 1.0  # still recorded on `tape`: y remembers it
    assert len(tape) == 3
    z.backward()
    assert x.grad == 12.0


def test_a_recorded_tape_is_a_complete_program_of_its_inputs():
    ws = [Value(w) for w in (0.3, -0.2, 0.9)]
    with tg.Tape() as tape:
        loss = mlp_step(ws, [1.0, 2.0, -1.0])
    cols = columns(tape)
    reference.check(cols)
    inputs = [w.value for w in tape.inputs]
    val = cols["val"].copy()
    assert forward(cols["op"], cols["arg0"], cols["arg1"], cols["const"], val,
                   np.array(inputs), len(tape)) == -1
    assert val.tolist() == cols["val"].tolist()
    assert val[-1] == loss.value


def test_tape_columns_are_read_only_and_sized_to_the_records():
    with tg.Tape() as tape:
        Value(1.0) + 2.0
    assert len(tape.val) == len(tape) == 2
    with pytest.raises(ValueError):
        tape.val[0] = 3.0
    assert tape.arg0.dtype == np.int32 and tape.op.dtype == np.uint8


def test_reset_makes_old_values_stale():
    tape = tg.Tape()
    x = Value(1.0)
    with tape:
        y = x * 2.0
    tape.reset()
    with pytest.raises(tg.StaleValueError, match="reset"):
        y.backward()
    with pytest.raises(tg.StaleValueError):
        y + 1.0
    with pytest.raises(tg.StaleValueError):
        y.grad
    assert "stale" in repr(y)
    assert y.value == 2.0  # the number itself is still right
    with tape:
        z = x * 3.0  # the leaf records again on the reset tape
    z.backward()
    assert x.grad == 3.0


def test_release_makes_old_values_stale():
    tape = tg.Tape()
    with tape:
        y = Value(1.0).exp()
    tape.release()
    with pytest.raises(tg.StaleValueError, match="released"):
        y.backward()
    with pytest.raises(tg.StaleValueError):
        y.tanh()


def test_reset_keeps_capacity_release_frees_it():
    tape = tg.Tape()
    with tape:
        y = Value(1.0)
        for _ in range(10_000):
            y = y * 1.0
    big = tape.nbytes
    tape.reset()
    assert tape.nbytes == big and len(tape) == 0
    tape.release()
    assert tape.nbytes < big / 100


def test_nested_and_reentered_tapes():
    outer, inner = tg.Tape(), tg.Tape()
    x = Value(2.0)
    with outer:
        a = x * 1.0
        with inner:
            b = x * 2.0
        c = x * 3.0
    assert len(inner) == 2  # x and x * 2.0
    with outer:
        d = x * 4.0
    # x is an input of outer again after inner took it: harmless, both
    # inputs are the same leaf and their adjoints both reach it.
    assert all(leaf is x for leaf in outer.inputs)
    (a + c + d).backward()
    assert x.grad == 8.0
    b.backward()
    assert x.grad == 10.0


def test_implicit_recording_lives_as_long_as_its_values():
    x = Value(1.0)
    y = x * 2.0
    rec = weakref.ref(y._rec)
    assert (x * 3.0)._rec is rec()  # same implicit recording while y lives
    del y
    assert rec() is None  # freed by reference counting, no gc needed


def test_index_columns_widen_past_int32(monkeypatch):
    """Past INDEX_LIMIT records the argument columns become int64 (the real
    limit is 2**31 - 1; lowered here so the switch happens in a test)."""
    monkeypatch.setattr(Recording, "INDEX_LIMIT", 1000)
    x = Value(1.0)
    with tg.Tape() as tape:
        y = x
        for _ in range(3000):
            y = y * 1.0001
    assert tape.arg0.dtype == tape.arg1.dtype == np.int64
    reference.check(columns(tape))
    y.backward()
    assert x.grad == pytest.approx(1.0001**3000, rel=1e-12)


def run_training_loop(steps, reuse):
    ws = [Value(w) for w in (0.3, -0.2, 0.9)]
    tape = tg.Tape()
    for _ in range(steps):
        if reuse:
            tape.reset()
            with tape:
                loss = mlp_step(ws, [1.0, 2.0, -1.0])
        else:
            with tg.Tape():
                loss = mlp_step(ws, [1.0, 2.0, -1.0])
        loss.backward()
        for w in ws:
            w.data -= 0.1 * w.grad
            w.grad = 0.0
    return loss.value


@pytest.mark.parametrize("reuse", [False, True], ids=["new-tape-per-step", "reset-per-step"])
def test_training_loop_memory_is_flat(reuse):
    """10,000 steps in the documented idiom: memory after 10,000 steps is no
    larger than after 1,000 (plus noise), with the garbage collector off."""
    gc.disable()
    try:
        tracemalloc.start()
        run_training_loop(1000, reuse)
        after_1k = tracemalloc.get_traced_memory()[0]
        run_training_loop(10_000, reuse)
        after_10k = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        gc.enable()
    assert after_10k - after_1k < 50_000, (after_1k, after_10k)


def test_training_loop_converges():
    assert run_training_loop(300, reuse=True) < 1e-3


@pytest.mark.parametrize("capacity", [0, 1, 3])
def test_any_initial_capacity_grows(capacity):
    x = Value(2.0)
    with tg.Tape(capacity=capacity) as tape:
        y = x
        for _ in range(100):
            y = y * 1.01
    y.backward()
    assert len(tape) == 101 and x.grad == pytest.approx(1.01**100)
