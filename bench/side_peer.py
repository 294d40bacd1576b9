"""Peers in a side process: PyTensor's compiled function (numba backend),
run by another interpreter.

PyTensor 3.1 and later need Python >= 3.12.  ``make bench-peers`` makes a
virtual environment of its own for it, ``.venv-pytensor``, with a Python
>= 3.12 where it finds one (never a dependency of tapegrad); the engines
here run :mod:`bench.pytensor_side` there, as a side process, and speak to
it in JSON lines (that module's docstring).  Without that interpreter, or
with PyTensor missing in it, they are "not installed", as any peer.
``TAPEGRAD_PYTENSOR_PYTHON`` names another interpreter (one with PyTensor
installed).

What runs there is the workload's own function, shipped as its source
(``inspect.getsource``): ``vectorized(x, xp)`` with PyTensor's tensor module
as ``xp``, or a training step's ``loss(params, data, F)`` with the
parameters as shared variables and the SGD updates in the same compiled
function: ``pytensor.function([data...], [loss, *grads], updates=...,
mode="NUMBA")``, ``trust_input`` on.  A function that is a ``lambda``, or
that reads names outside itself, cannot be shipped:
``prepare`` raises ``NotImplementedError``, as for any peer that cannot
run a workload.

The side process times its calls itself, with the harness's own
:func:`~tapegrad.benchmark.timing.time_calls` (the file, loaded there), so
that no round trip is timed: ``time_calls`` returns its figures (CPU time
over wall time of that process), and ``engine.measured`` has the one-time
cost (tracing, ``pytensor.function``, and one call for numba to compile
it; a step's parameters are then put back) and the first call as measured
there.  A call through :meth:`prepare`'s function goes to the side process
and back, with the arrays in ``.npz`` files: the check of the first value
and gradients (or loss and gradients), and the tests, use it.  The side
process inherits this one's environment (glibc's malloc settings too) less
Python's variables and ``NUMBA_DISABLE_JIT``, with one BLAS thread unless
set.
"""

import inspect
import json
import os
import queue
import subprocess
import tempfile
import textwrap
import threading
import time
import weakref
from pathlib import Path

import numpy as np

from bench.pytensor_side import MARK
from tapegrad.benchmark import memory, timing
from tapegrad.benchmark.engine import Engine
from tapegrad.benchmark.results import record

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = Path(__file__).with_name("pytensor_side.py")
#: The variable naming the side interpreter, and the one used without it.
PYTHON_VARIABLE = "TAPEGRAD_PYTENSOR_PYTHON"
VENV_PYTHON = ROOT / ".venv-pytensor" / "bin" / "python"
#: Seconds one request may take (a cold compile of a SimpleNet step takes
#: about 15 s on a 2-core machine).
TIMEOUT = 600
#: Variables the side process does not inherit: this interpreter's, and
#: tapegrad's switch of numba's JIT (PyTensor's backend is numba too).
DROPPED = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "NUMBA_DISABLE_JIT")
#: One thread, as the peers in this process (unless the environment says).
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1"}


def side_python():
    """The side interpreter's path (it may not exist)."""
    return Path(os.environ.get(PYTHON_VARIABLE) or VENV_PYTHON)


def environment(extra=None):
    """The side process's environment (module docstring), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    for name, value in ONE_THREAD.items():
        env.setdefault(name, value)
    return {**env, **(extra or {})}


_VERSIONS = {}
_ASK_VERSIONS = ("import importlib.metadata as m, json, sys; "
                 "print(json.dumps({'pytensor': m.version('pytensor'), "
                 "'python': sys.version.split()[0]}))")


def side_versions(python):
    """``{"pytensor": ..., "python": ...}`` of interpreter ``python``, or
    None when it is missing or has no PyTensor (asked once per path)."""
    key = str(python)
    if key not in _VERSIONS:
        _VERSIONS[key] = None
        if Path(python).is_file() and os.access(python, os.X_OK):
            try:
                done = subprocess.run([key, "-c", _ASK_VERSIONS], capture_output=True,
                                      text=True, timeout=120, env=environment())
                if done.returncode == 0:
                    _VERSIONS[key] = json.loads(done.stdout.strip().splitlines()[-1])
            except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
                pass
    return _VERSIONS[key]


class SideError(RuntimeError):
    """The side process failed, died or did not answer."""


def _read_answers(stdout, answers):
    """Put each answer line of ``stdout`` on ``answers``, then None at its
    end (a function, not a method: the thread must not keep the
    :class:`SideProcess` alive)."""
    for line in stdout:
        if line.startswith(MARK):
            try:
                answers.put(json.loads(line[len(MARK):]))
            except ValueError:
                answers.put({"error": f"unreadable answer: {line[:200]!r}"})
    answers.put(None)


def _close(process, stderr, directory):
    if process.stdin and not process.stdin.closed:
        try:
            process.stdin.close()
        except OSError:
            pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    stderr.close()
    directory.cleanup()


class SideProcess:
    """``python bench/pytensor_side.py`` with a temporary directory for the
    arrays; :meth:`request` sends one request and returns the answer."""

    def __init__(self, python, env=None, timeout=TIMEOUT):
        self.timeout = timeout
        self._dir = tempfile.TemporaryDirectory(prefix="tapegrad-side-")
        self.path = Path(self._dir.name)
        self._stderr = open(self.path / "stderr.txt", "w+")
        self.process = subprocess.Popen([str(python), str(PROGRAM)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self._stderr,
                                        text=True, env=environment(env), cwd=self.path)
        self._answers = queue.Queue()
        threading.Thread(target=_read_answers, args=(self.process.stdout, self._answers),
                         daemon=True).start()
        self._finalizer = weakref.finalize(self, _close, self.process, self._stderr, self._dir)

    def file(self, name):
        """A path in the process's directory."""
        return str(self.path / name)

    def request(self, op, **fields):
        """The answer (a dict) to request ``op``; :class:`SideError` when the
        side failed (its error's last line), died or did not answer."""
        try:
            self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
            self.process.stdin.flush()
        except OSError:
            raise SideError(self._ended()) from None
        try:
            answer = self._answers.get(timeout=self.timeout)
        except queue.Empty:
            self.close()
            raise SideError(f"no answer to {op!r} in {self.timeout} s") from None
        if answer is None:
            raise SideError(self._ended())
        if "error" in answer:
            raise SideError(answer["error"])
        return answer

    def _ended(self):
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = "?"
        self._stderr.seek(0)
        last = (self._stderr.read().strip().splitlines() or ["no message"])[-1]
        return f"the side process ended (exit code {code}): {last}"

    def close(self):
        self._finalizer()


def _source(function):
    """``(source, name)`` of a function to ship to the side process."""
    name = getattr(function, "__name__", "")
    if not name.isidentifier():
        raise NotImplementedError("a side process runs a workload's function from its source: "
                                  f"{name or function!r} is not a def")
    try:
        return textwrap.dedent(inspect.getsource(function)), name
    except (OSError, TypeError) as error:
        raise NotImplementedError(f"no source for {name}: {error}") from error


class PyTensorVector(Engine):
    """PyTensor's compiled function, numba backend, in a side process
    (module docstring): the vectorized form (value and gradient) and
    training steps (one function with the SGD updates), numba's
    ``fastmath`` on, PyTensor's default."""

    name = "pytensor-vector"
    module = "pytensor"
    form = "vectorized"
    forms = ("vectorized", "step")
    in_process = False
    fastmath = True

    def __init__(self):
        super().__init__()
        self.side = None

    def unavailable(self):
        return None if side_versions(side_python()) else "not installed"

    def version(self):
        found = side_versions(side_python()) or {}
        return (f"{found.get('pytensor', '?')}, numba backend, fastmath "
                f"{'on' if self.fastmath else 'off'}, Python {found.get('python', '?')}")

    def close(self):
        """End the side process of the latest ``prepare``, if any."""
        if self.side is not None:
            self.side.close()
            self.side = None

    def prepare(self, workload, x):
        self.close()
        self.measured = {}
        self.side = SideProcess(side_python())
        step = "step" in workload.forms
        self.measured["one_time"] = self._build(self.side, workload, x)["seconds"]
        return self._step_call(self.side) if step else self._vector_call(self.side)

    def _build(self, side, workload, x):
        """Ship the workload and its inputs to ``side``; compile there."""
        step = "step" in workload.forms
        source, function = _source(workload.loss if step else workload.vectorized)
        inputs = side.file("inputs.npz")
        if step:
            np.savez(inputs, **{f"param_{k}": a for k, a in enumerate(x.arrays)},
                     **{f"data_{k}": d for k, d in enumerate(x.data)})
        else:
            np.savez(inputs, x=np.asarray(x, dtype=np.float64))
        return self._ask(side, "build", form="step" if step else "vectorized", source=source,
                         function=function, inputs=inputs, fastmath=self.fastmath,
                         lr=getattr(workload, "lr", None))

    def _ask(self, side, op, **fields):
        """``side.request``, a failure a ``NotImplementedError`` (the harness
        then reports the engine as unable to run the case)."""
        try:
            answer = side.request(op, **fields)
        except SideError as error:
            raise NotImplementedError(f"{self.name}: {error}") from error
        if "unsupported" in answer:
            raise NotImplementedError(f"{self.name} cannot run this workload: "
                                      f"{answer['unsupported']}")
        return answer

    def _outputs(self, side, **fields):
        out = side.file("out.npz")
        answer = self._ask(side, "call", out=out, **fields)
        self.measured.setdefault("first_call", answer["seconds"])
        with np.load(out) as outputs:
            return [outputs[f"arr_{k}"] for k in range(len(outputs.files))]

    def _vector_call(self, side):
        def value_and_grad(x):
            path = side.file("x.npy")
            np.save(path, np.asarray(x, dtype=np.float64))
            value, grad = self._outputs(side, x=path)
            return float(value), np.asarray(grad, dtype=np.float64)

        return value_and_grad

    def _step_call(self, side):
        def step(problem):  # the data are those given to prepare, as every peer's
            loss, *grads = self._outputs(side)
            return float(loss), grads

        return step

    def fixed_cost(self, form, function, arrays, calls, batches):
        """Seconds per call of PyTensor's compiled ``function`` on tiny
        inputs (:mod:`tapegrad.benchmark.replay_cost`), in a side process
        of its own: ``form`` ``"vectorized"`` (``arrays``: ``x``) or
        ``"gradient"`` (``param_k`` and ``data_k``), timed there by
        ``best_of_batches(calls, batches)``."""
        source, name = _source(function)
        side = SideProcess(side_python())
        try:
            inputs = side.file("inputs.npz")
            np.savez(inputs, **arrays)
            self._ask(side, "build", form=form, source=source, function=name, inputs=inputs,
                      fastmath=self.fastmath, lr=None)
            return self._ask(side, "best", timing=timing.__file__, calls=calls,
                             batches=batches)["seconds"]
        finally:
            side.close()

    def time_calls(self, call, x, budget_s):
        """Timed in the side process (module docstring)."""
        answer = self.side.request("time", budget=budget_s, timing=timing.__file__)
        return timing.Stats.from_dict(answer)

    def step_memory(self, workload, size, result):
        """``step_peak_rss`` and ``step_resident`` of a step, measured as
        :mod:`tapegrad.benchmark.memory` measures them, in a fresh side
        process with that module's environment."""
        why = memory.unavailable()
        if why is not None:
            result.skipped.append((workload.name, self.name, size, f"memory: {why}"))
            return
        side = SideProcess(side_python(), env=memory.CHILD_ENV)
        try:
            self._build(side, workload, workload.inputs(size))
            found = self._ask(side, "memory", steps=memory.STEPS)
        except NotImplementedError as error:
            result.skipped.append((workload.name, self.name, size, f"memory process: {error}"))
            return
        finally:
            side.close()
        result.records.append(record(workload.name, self.name, size, "step_peak_rss",
                                     found["peak"], "bytes"))
        result.records.append(record(workload.name, self.name, size, "step_resident",
                                     found["resident"], "bytes"))


class PyTensorExactVector(PyTensorVector):
    """:class:`PyTensorVector` on the vectorized form with numba's
    ``fastmath`` off (``pytensor.config.numba__fastmath``): IEEE arithmetic
    in the order written, as tapegrad's default."""

    name = "pytensor-nofastmath-vector"
    forms = ("vectorized",)
    fastmath = False
