"""A benchmark harness for gradient code: workloads, engines, timing with
warm-up and repeats, calibration, JSON records and a CI regression gate.

tapegrad's own benchmark (``python -m bench`` in the repository) is built on
it, and so can a project's own: define :class:`Workload` objects (scalar
programs) or :class:`TrainingStep` objects (a model's training step on
arrays) in a module and run ``tapegrad-bench run that.module`` or ``tapegrad-bench check``.
"""

from tapegrad.benchmark.engine import Engine, PlainPython, Tapegrad, TapegradVector
from tapegrad.benchmark.steps import Problem, TrainingStep
from tapegrad.benchmark.workload import MATH, MATH_FUNCTIONS, Workload, load

__all__ = ["Workload", "TrainingStep", "Problem", "Engine", "Tapegrad", "TapegradVector",
           "PlainPython", "MATH", "MATH_FUNCTIONS", "load"]
