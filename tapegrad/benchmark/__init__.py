"""A benchmark harness for gradient code: workloads, engines, timing with
warm-up and repeats, calibration, JSON records and a CI regression gate.

tapegrad's own benchmark (``python -m bench`` in the repository) is built on
it, and so can a project's own: define :class:`Workload` objects (scalar
programs) or :class:`TrainingStep` objects (a model's training step on
arrays) in a module and run ``tapegrad-bench run that.module`` or ``tapegrad-bench check``.

The top floor of the package: it may import every layer below, and none
imports it.  Rooms: ``workload``/``steps`` (what is measured), ``engine``
(how tapegrad runs it; peers live in ``bench/peers.py``), ``runner``,
``timing``, ``calibration``, ``memory``, ``fresh`` (the measurements),
``results`` (JSON records and the machine), ``report`` (tables and plot),
``gate``, ``ab``, ``trees`` (the CI gate and its A/B), ``cli``.
"""

from tapegrad.benchmark.engine import Engine, PlainPython, Tapegrad, TapegradVector
from tapegrad.benchmark.steps import Problem, TrainingStep
from tapegrad.benchmark.workload import MATH, MATH_FUNCTIONS, Workload, load

__all__ = ["Workload", "TrainingStep", "Problem", "Engine", "Tapegrad", "TapegradVector",
           "PlainPython", "MATH", "MATH_FUNCTIONS", "load"]
