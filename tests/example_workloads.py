"""The README's example of a project's own benchmark workloads (tested)."""

import numpy as np
from tapegrad.benchmark import Workload

def softplus_sum(x, m):
    return sum(m.log(1.0 + m.exp(xi)) for xi in x)

WORKLOADS = [Workload("softplus_sum", softplus_sum, point=lambda n: np.linspace(-1, 1, n),
                      sizes=(1_000, 100_000), quick_sizes=(1_000,))]
