"""tapegrad's benchmark: ``python -m bench`` (what ``make bench`` runs).

A workload is written once as plain Python, generic over the number type,
and run on every engine: tapegrad and, where installed, its peers.  Each
engine's gradient is checked against the workload's analytic gradient before
anything is timed, and the figures are per tapegrad tape record, so ratios
between engines compare the same program.

Modules, one job each:

* :mod:`bench.rosenbrock` -- the workload: the function, its input point and
  its analytic gradient;
* :mod:`bench.engines` -- one adapter per engine (tapegrad, micrograd with
  its garbage collector on and off, PyTorch 0-d tensors);
* :mod:`bench.timing` -- timed runs, repeat counts and medians;
* :mod:`bench.calibrate` -- a bare numba reverse loop over the tape's
  columns, the floor tapegrad's backward sweep is compared with;
* :mod:`bench.suite` -- one size: check every engine, then time it;
* :mod:`bench.report` -- the printed header, tables, ratios and targets.
"""
