"""The benchmark's workloads, one small module each, in the order they are run.

Each module exports ``WORKLOAD``, a :class:`tapegrad.benchmark.workload.Workload`:
the user's seed expression, Rosenbrock, three of cmpad's algorithms
(det_by_minor, an_ode, llsq_obj), ADBench's GMM objective and one deep
dependent chain; then the array workloads, :mod:`bench.workloads.simplenet`'s
``SIMPLENET_F64`` and ``SIMPLENET_F32`` (a
:class:`tapegrad.benchmark.steps.TrainingStep` each: the seed's network, one
SGD step).
"""

from bench.workloads import (
    an_ode, deep_chain, det_by_minor, gmm, llsq_obj, rosenbrock, seed, simplenet,
)

WORKLOADS = [
    seed.WORKLOAD,
    rosenbrock.WORKLOAD,
    det_by_minor.WORKLOAD,
    an_ode.WORKLOAD,
    llsq_obj.WORKLOAD,
    gmm.WORKLOAD,
    deep_chain.WORKLOAD,
    simplenet.SIMPLENET_F64,
    simplenet.SIMPLENET_F32,
]
