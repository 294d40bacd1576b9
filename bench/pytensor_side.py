"""The PyTensor end of the benchmark's PyTensor peer: a program that another
interpreter runs.

PyTensor 3.1 and later need Python >= 3.12; the project's interpreter may be
older, so ``make bench-peers`` gives PyTensor a virtual environment of its
own (``.venv-pytensor``) and :mod:`bench.side_peer` runs this file there as
a side process: ``.venv-pytensor/bin/python bench/pytensor_side.py``.  It
imports only the standard library, NumPy and PyTensor, never tapegrad.

It reads one JSON request per line on stdin and answers each with one line
``pytensor-side {json}`` on stdout (anything else there is PyTensor's or
numba's, and ignored); arrays travel as ``.npz`` files in the directory the
parent names.  Requests, by ``op``:

``hello``
    ``{"pytensor": version, "python": version}``.
``build``
    The workload's function, shipped as its source (``source`` and the name
    ``function``), run on PyTensor's symbols: ``vectorized(x, xp)``
    (``form`` ``"vectorized"``, ``xp`` PyTensor's tensor module) or a
    training step's ``loss(params, data, F)`` (``form`` ``"step"``: the
    parameters as shared variables, the data as inputs, SGD updates with
    ``lr``), or that loss with the parameters as inputs too and no updates
    (``form`` ``"gradient"``: the loss and its gradients).  Then one function (``pytensor.function(..., mode="NUMBA")``,
    ``trust_input`` on) returning the value (the loss) and the gradients,
    numba's ``fastmath`` as ``fastmath`` asks, and one call to compile it
    (a step's parameters are put back after it).  Answers ``{"seconds":
    s}``, the one-time cost.  A function PyTensor cannot run answers
    ``{"unsupported": why}``.
``call``
    One call (``x``: a new point, for a vectorized form; a step reads the
    data given to ``build``), its outputs saved to ``out``; answers
    ``{"seconds": s}``.
``time``
    ``time_calls`` of the harness (the file ``timing`` names, loaded by path)
    with ``budget``: answers its ``Stats`` as a dict.
``best``
    ``best_of_batches`` of the same file with ``calls`` and ``batches``:
    answers ``{"seconds": s}``, seconds per call.
``memory``
    A training step's resident high-water mark above the resident size
    before it, as :mod:`tapegrad.benchmark.memory` measures it: answers
    ``{"peak": bytes, "resident": bytes}``.

Any other failure answers ``{"error": traceback's last line}``.  The program
ends at the end of its input.
"""

import gc
import importlib.util
import json
import sys
import time
import traceback
from types import SimpleNamespace

import numpy as np

MARK = "pytensor-side "


class Unsupported(Exception):
    """PyTensor cannot run the workload's function."""


class _Namespace:
    """``xp``: PyTensor's tensor module with ``relu`` in front."""

    def __init__(self, module, **overrides):
        self._module = module
        self.__dict__.update(overrides)

    def __getattr__(self, name):
        return getattr(self._module, name)


def _functional(pt):
    """``F`` of a training step, named as ``torch.nn.functional``."""

    def cross_entropy(logits, labels):
        picked = logits[pt.arange(labels.shape[0]), labels]
        return pt.mean(pt.logsumexp(logits, axis=1) - picked)

    return SimpleNamespace(linear=lambda x, w, b: x @ w.T + b, cross_entropy=cross_entropy,
                           relu=lambda v: pt.maximum(v, 0), tanh=pt.tanh)


def _function_of(source, name):
    namespace = {}
    try:
        exec(compile(source, f"<workload {name}>", "exec"), namespace)
        return namespace[name]
    except Exception as error:
        raise Unsupported(f"its source does not define {name}: {error!r}") from error


def _trace(build):
    """Run ``build()``; an error from the workload's code means PyTensor
    cannot run it."""
    try:
        return build()
    except (TypeError, ValueError, NameError, AttributeError, NotImplementedError,
            IndexError) as error:
        raise Unsupported(repr(error)) from error


class Side:
    """The state between requests: the compiled function and its inputs."""

    def __init__(self):
        self.call = self.args = self.params = None
        self.timing = None

    def hello(self, request):
        import pytensor

        return {"pytensor": pytensor.__version__, "python": sys.version.split()[0]}

    def build(self, request):
        import pytensor
        from pytensor import config

        start = time.perf_counter()
        function = _function_of(request["source"], request["function"])
        arrays = np.load(request["inputs"])
        flags = {"numba__fastmath": bool(request["fastmath"])}
        if request["form"] != "vectorized":
            flags["floatX"] = str(arrays["param_0"].dtype)
        with config.change_flags(**flags):
            if request["form"] == "vectorized":
                self._vectorized(pytensor, function, arrays["x"])
            else:
                self._step(pytensor, function, arrays, request["lr"],
                           updates=request["form"] == "step")
            saved = [p.get_value(borrow=False) for p in self.params]
            self.call(*self.args)  # numba compiles here
            for p, value in zip(self.params, saved):
                p.set_value(value)
        return {"seconds": time.perf_counter() - start}

    def _vectorized(self, pytensor, function, x0):
        import pytensor.tensor as pt

        xp = _Namespace(pt, relu=lambda v: pt.maximum(v, 0))
        x = pt.tensor("x", dtype=str(x0.dtype), shape=(None,))
        value = _trace(lambda: function(x, xp))
        grad = _trace(lambda: pytensor.grad(value, x))
        self._compile(pytensor, [x], [value, grad], updates=None)
        self.args, self.params = [np.ascontiguousarray(x0)], []

    def _step(self, pytensor, function, arrays, lr, updates=True):
        """A training step (``updates``: the parameters shared, SGD in the
        function) or the loss and its gradients over parameters that are
        inputs (form ``gradient``)."""
        import pytensor.tensor as pt

        n_params = sum(name.startswith("param_") for name in arrays.files)
        n_data = sum(name.startswith("data_") for name in arrays.files)
        initial = [np.ascontiguousarray(arrays[f"param_{k}"]) for k in range(n_params)]
        data = [np.ascontiguousarray(arrays[f"data_{k}"]) for k in range(n_data)]
        if updates:
            params = [pytensor.shared(np.array(a, copy=True), name=f"param_{k}")
                      for k, a in enumerate(initial)]
        else:
            params = [pt.tensor(f"param_{k}", dtype=str(a.dtype), shape=(None,) * a.ndim)
                      for k, a in enumerate(initial)]
        inputs = [pt.tensor(f"data_{k}", dtype=str(d.dtype), shape=(None,) * d.ndim)
                  for k, d in enumerate(data)]
        loss = _trace(lambda: function(params, tuple(inputs), _functional(pt)))
        grads = _trace(lambda: pytensor.grad(loss, params))
        if not updates:
            self._compile(pytensor, params + inputs, [loss, *grads], updates=None)
            self.args, self.params = initial + data, []
            return
        steps = [(p, p - np.asarray(lr, dtype=a.dtype) * g)
                 for p, a, g in zip(params, initial, grads)]
        self._compile(pytensor, inputs, [loss, *grads], updates=steps)
        self.args, self.params = data, params

    def _compile(self, pytensor, inputs, outputs, updates):
        try:
            call = pytensor.function(inputs, outputs, updates=updates, mode="NUMBA")
        except NotImplementedError as error:  # an Op the numba backend lacks
            raise Unsupported(repr(error)) from error
        call.trust_input = True  # the inputs are arrays of the declared dtypes
        self.call = call

    def call_once(self, request):
        if request.get("x") is not None:
            x = np.load(request["x"])
            self.args = [np.ascontiguousarray(x, dtype=self.args[0].dtype)]
        start = time.perf_counter()
        outputs = self.call(*self.args)
        seconds = time.perf_counter() - start
        np.savez(request["out"], *[np.asarray(o) for o in outputs])
        return {"seconds": seconds}

    def _timing(self, path):
        """The harness's timing module, loaded from ``path``."""
        if self.timing is None or self.timing.__file__ != path:
            spec = importlib.util.spec_from_file_location("harness_timing", path)
            self.timing = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(self.timing)
        return self.timing

    def time(self, request):
        call, args = self.call, self.args
        stats = self._timing(request["timing"]).time_calls(lambda: call(*args),
                                                           budget_s=request["budget"])
        return stats.as_dict()

    def best(self, request):
        call, args = self.call, self.args
        seconds = self._timing(request["timing"]).best_of_batches(
            lambda: call(*args), calls=request["calls"], batches=request["batches"])
        return {"seconds": seconds}

    def memory(self, request):
        """As ``tapegrad.benchmark.memory.measure_step``: two steps untimed,
        then the median peak over ``steps`` steps."""
        call, args = self.call, self.args
        for _ in range(2):
            call(*args)
        peaks, resident = [], []
        for _ in range(request["steps"]):
            gc.collect()
            before = _rss("VmRSS")
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
            call(*args)
            peaks.append(_rss("VmHWM") - before)
            resident.append(before)
        peaks.sort()
        return {"peak": peaks[len(peaks) // 2], "resident": min(resident)}


def _rss(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"no {field} in /proc/self/status")


def serve(lines, out):
    """Answer each request of ``lines`` on ``out``."""
    side = Side()
    handlers = {"hello": side.hello, "build": side.build, "call": side.call_once,
                "time": side.time, "best": side.best, "memory": side.memory}
    for line in lines:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            answer = handlers[request["op"]](request)
        except Unsupported as error:
            answer = {"unsupported": str(error)}
        except Exception:
            last = traceback.format_exc().strip().splitlines()[-1]
            answer = {"error": last}
        out.write(MARK + json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    answers, sys.stdout = sys.stdout, sys.stderr  # prints of the tools go to stderr
    serve(sys.stdin, answers)
