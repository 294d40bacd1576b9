"""tapegrad's own benchmark: ``python -m bench`` (what ``make bench`` runs).

Built on the package's harness (:mod:`tapegrad.benchmark`), with:

* :mod:`bench.workloads` -- one small module per workload, each checked
  against an independent reference before it is timed;
* :mod:`bench.peers` -- one adapter per peer (micrograd, PyTorch, JAX, HIPS
  autograd, CasADi), each optional;
* ``bench/baseline.json`` -- the quick suite's figures that the CI gate
  (``python -m bench check``) compares a new run with.
"""
