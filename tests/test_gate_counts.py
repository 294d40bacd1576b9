"""The counts the gate compares exactly: kernel compilations per engine are
the same run after run, and an added engine adds a figure of its own."""

import numpy as np
import pytest

from conftest import JIT_DISABLED
from tapegrad.benchmark import runner
from tapegrad.benchmark.workload import Workload

CUBES = Workload("cubes", lambda x, m: sum(v * v * v for v in x), point=np.arange,
                 sizes=(4,), quick_sizes=(4,))


def compilations(result):
    return {r["engine"]: r["value"] for r in result.records
            if r["metric"] == "kernel_compilations"}


@pytest.mark.skipif(JIT_DISABLED, reason="no kernels are compiled with numba's JIT off")
def test_kernel_compilations_per_engine_are_stable_within_a_process():
    first = compilations(runner.run([CUBES], [], quick=True, budget_s=0.01))
    again = compilations(runner.run([CUBES], [], quick=True, budget_s=0.01))
    assert first == again and first["tapegrad"] >= 1
    # engines that compiled kernels of their own earlier in this process
    # (the recorded step's column products) keep their figures
    assert set(first) <= {"tapegrad", "tapegrad-replay", "tapegrad-recorded"}


@pytest.mark.skipif(not JIT_DISABLED, reason="counts kernels only with numba's JIT off")
def test_no_kernel_compilations_without_the_jit():
    assert compilations(runner.run([CUBES], [], quick=True, budget_s=0.01)) == {}
