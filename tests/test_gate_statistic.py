"""The A/B gate's statistic on synthetic numbers, and its bookkeeping:
pairing by round, figures in one build only, machine fingerprints."""

import numpy as np
import pytest

from tapegrad.benchmark import ab, gate, results

KEY = ("w", "tapegrad", 100, "time_min")


def shifts(ref, head, tolerance=gate.AB_TOLERANCE):
    (shift,) = gate.compare_builds({KEY: ref}, {KEY: head}, tolerance)
    return shift


def noisy(rng, floor, rounds=10, bursts=0.25, jitter=0.02):
    """Timings as a shared machine gives them: each round a few percent over
    ``floor``, and a fraction ``bursts`` of the rounds 1.3-2x slower still."""
    over = np.exp(np.abs(rng.normal(0.0, jitter, rounds)))
    burst = np.where(rng.random(rounds) < bursts, rng.uniform(1.3, 2.0, rounds), 1.0)
    return list(floor * over * burst)


def test_a_clear_slowdown_fails(rng):
    shift = shifts(noisy(rng, 1.0), noisy(rng, 1.6))
    assert shift.status == "SLOWER"
    assert 1 + gate.AB_TOLERANCE < shift.low <= shift.ratio <= shift.high
    assert "time_min" in shift.describe() and "1.6" in shift.describe()


def test_noise_passes(rng):
    """A/A: two hundred gates on bursty noise, not one figure failed."""
    statuses = [shifts(noisy(rng, 1.0), noisy(rng, 1.0)).status for _ in range(200)]
    assert "SLOWER" not in statuses and statuses.count("ok") >= 190


def test_a_slowdown_within_the_tolerance_passes(rng):
    shift = shifts(noisy(rng, 1.0, bursts=0.0), noisy(rng, 1.15, bursts=0.0))
    assert shift.status == "ok" and shift.low > 1.1  # surely slower, but by less than 25%


def test_a_slowdown_the_rounds_cannot_confirm_is_reported_not_failed():
    """Only one round of the reference was undisturbed: its floor is not sure."""
    shift = shifts([1.0, 1.6, 1.7, 1.6], [1.5, 1.6, 1.55, 1.6])
    assert shift.status == "slower?" and shift.low < 1 + gate.AB_TOLERANCE < shift.ratio


def test_bursts_in_either_build_neither_fail_nor_hide_a_slowdown():
    floor = [1.0] * 6
    assert shifts(floor, [1.0, 1.0, 3.0, 1.7, 1.0, 1.0]).status == "ok"
    assert shifts([1.0, 1.8, 1.0, 2.0, 1.0, 1.0], [1.5] * 6).status == "SLOWER"


def test_faster_and_the_tolerance_knob(rng):
    assert shifts(noisy(rng, 1.0), noisy(rng, 0.5)).status == "faster"
    assert shifts(noisy(rng, 1.0, bursts=0.0), noisy(rng, 1.3, bursts=0.0),
                  tolerance=0.5).status == "ok"


def test_figures_in_one_build_only_are_reported_not_gated():
    new = ("w", "tapegrad-replay", 100, "time_min")
    found = {s.status for s in gate.compare_builds({KEY: [1.0, 1.0]}, {new: [1.0, 1.0]})}
    assert found == {"ref only", "head only"}


def test_the_interval_is_reproducible():
    ref, head = [1.0, 1.1, 0.9], [1.3, 1.2, 1.5]
    assert gate.ratio_interval(ref, head) == gate.ratio_interval(ref, head)


def test_figures_are_tapegrad_time_and_sweep_per_size():
    rounds = [[results.record("w", "tapegrad", 1, "time_min", 2.0, "s"),
               results.record("w", "tapegrad", 1, "sweep_ns_per_op", 3.0, "ns"),
               results.record("w", "tapegrad-replay", 1, "time_min", 0.5, "s"),
               results.record("w", "python", 1, "time_min", 9.0, "s"),
               results.record("w", "tapegrad", 1, "records", 40, "count")]] * 2
    assert ab.figures(rounds) == {("w", "tapegrad", 1, "time_min"): [2.0, 2.0],
                                  ("w", "tapegrad", 1, "sweep_ns_per_op"): [3.0, 3.0],
                                  ("w", "tapegrad-replay", 1, "time_min"): [0.5, 0.5]}


def test_builds_alternate_who_goes_first():
    assert ab.order(3, ["ref", "head"]) == [["ref", "head"], ["head", "ref"], ["ref", "head"]]


def test_fingerprint_is_cpu_cores_python_numpy_numba():
    here = results.machine()
    assert set(results.fingerprint(here)) == {"cpu", "cores", "python", "numpy", "numba"}
    elsewhere = dict(here, cpu="Some Other CPU", date="another day")
    assert results.fingerprint(elsewhere) != results.fingerprint(here)
    assert results.fingerprint(dict(here, date="another day")) == results.fingerprint(here)
