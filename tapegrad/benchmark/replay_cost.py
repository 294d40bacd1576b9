"""What one replay call of a recorded array program costs when there is
almost nothing to compute: its fixed cost.

``replay_fixed_cost_us``: ``rec.value_and_grad(x)`` of a recording of array
code, in microseconds, best of several timed batches, on inputs so small that
the arithmetic is negligible:

* ``elementwise_3ops`` at n = 1: ``((x * 2 + 1) * x).sum()``, one fused group
  summed (:class:`tapegrad.replay.schedule.WholeProgram`);
* ``rosenbrock_vectorized`` at n = 10: ``(100 (x[1:] - x[:-1]**2)**2 +
  (1 - x[:-1])**2).sum()``, the same with two slices of the input;
* ``rms`` at n = 10: ``np.sqrt((x * x).mean())``, one record averaged and
  an op on the mean (the kernel's second pass);
* ``least_squares`` at n = 5: ``np.mean((np.dot(X, w) - y) ** 2)`` over 20
  rows, a product of a constant and the input inside the kernel
  (:mod:`tapegrad.replay.products`: BLAS's gemv, as NumPy calls it);
* ``simplenet_loss`` at 10 rows: the seed's three linear layers and cross
  entropy over its six parameters, a chain of dense layers
  (:class:`tapegrad.replay.dense.DenseChain`), replayed by one compiled
  call that makes eight BLAS products: not free arithmetic even at 10
  rows (each product costs BLAS some tenths of a microsecond);
* ``mlp_mse_loss`` at 10 rows: the same layers with a relu after the first
  two, under a mean squared error to a target of two columns (a dense
  chain under a loss head, :class:`tapegrad.replay.dense.Head`);
* ``softmax_entropy`` at n = 10: ``p = exp(x - max(x)) / sum(...)``, then
  ``sum(p * log(p))``: a maximum, two sums and elementwise records
  between them, as NumPy code is written (the straight-line kernel,
  :mod:`tapegrad.replay.straight`);
* ``logsumexp_mlp`` at 10 rows: SimpleNet's layers written with ``@`` and
  ``tanh``, under a cross entropy written by hand (a row maximum,
  ``log(sum(exp(z - m)))``, the label's logit picked by a one-hot matrix):
  the straight-line kernel, with six BLAS products;
* ``leaky_differences`` at n = 10: differences of neighbours (slices), a
  ``where`` on them and a maximum: the straight-line kernel;
* ``cumsum_product`` at n = 10: ``max(cumsum(x) * x)``: the straight-line
  kernel, calling ``cumsum``'s compiled rules;
* ``elements_and_numbers`` at n = 10: elements of ``x`` (numbers of the
  scalar tape) in ops of numbers and of arrays: the straight-line kernel,
  a line for each op of numbers.

Reported, never gated (a timing of a few microseconds moves with the
machine); the one-kernel programs aim at 5 us or less.  A peer engine with a
``fixed_cost`` method gets the same programs (:func:`peer_programs`, the
same functions' source), timed the same way in the same run: PyTensor's
compiled function (``bench.side_peer``), the SimpleNet loss with its
parameters and data as the function's inputs.

>>> cases = programs()
>>> sorted(cases)  # doctest: +NORMALIZE_WHITESPACE
['cumsum_product', 'elements_and_numbers', 'elementwise_3ops', 'leaky_differences',
 'least_squares', 'logsumexp_mlp', 'mlp_mse_loss', 'rms',
 'rosenbrock_vectorized', 'simplenet_loss', 'softmax_entropy']
>>> rec, x = cases["rosenbrock_vectorized"]
>>> rec.value_and_grad(x)[0] > 0
True
"""

import functools

import numpy as np

import tapegrad as tg
from tapegrad.benchmark.timing import best_of_batches
from tapegrad.nn import functional as F

_CALLS = 500  # calls per timed batch
_BATCHES = 9

# The programs, written once for tapegrad (``xp`` None: NumPy) and for a peer
# that compiles them from their source (``xp`` its array module).


def rosenbrock(x, xp=None):
    xp = np if xp is None else xp
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def three_ops(x, xp=None):
    xp = np if xp is None else xp
    return xp.sum((x * 2.0 + 1.0) * x)


def rms(x, xp=None):
    xp = np if xp is None else xp
    return xp.sqrt(xp.mean(x * x))


def least_squares(w, xp=None):
    import numpy as np  # here: a peer runs this function's source alone

    xp = np if xp is None else xp
    X = np.cos(np.arange(100.0)).reshape(20, 5)
    y = np.sin(np.arange(20.0))
    return xp.mean((xp.dot(X, w) - y) ** 2)


def simplenet_loss(params, data, F):
    """The seed's SimpleNet (5 -> 25 -> 25 -> 2) and its cross entropy, in
    any engine's ``F``."""
    w1, b1, w2, b2, w3, b3 = params
    X, y = data
    return F.cross_entropy(F.linear(F.linear(F.linear(X, w1, b1), w2, b2), w3, b3), y)


def mlp_mse_loss(params, data, F):
    """SimpleNet's layers with a relu after the first two, under a mean
    squared error, in any engine's ``F``."""
    w1, b1, w2, b2, w3, b3 = params
    X, target = data
    z = F.linear(F.relu(F.linear(F.relu(F.linear(X, w1, b1)), w2, b2)), w3, b3)
    return ((z - target) ** 2).mean()


def softmax_entropy(x, xp=None):
    xp = np if xp is None else xp
    e = xp.exp(x - xp.max(x))
    p = e / xp.sum(e)
    return xp.sum(p * xp.log(p))


def leaky_differences(x, xp=None):
    xp = np if xp is None else xp
    d = x[1:] - x[:-1]
    return xp.max(xp.where(d > 0, d, 0.1 * d)) + xp.sum(d * d)


def cumsum_product(x, xp=None):
    xp = np if xp is None else xp
    return xp.max(xp.cumsum(x) * x)


def elements_and_numbers(x, xp=None):
    xp = np if xp is None else xp
    scale = x[1] * 2.0 + 1.0
    return xp.sum(x * scale) + xp.exp(x[2]) - 3.0 / x[-1] + xp.max(x) * x[0]


def logsumexp_mlp(params, data, F):
    """SimpleNet's layers written with ``@`` and a cross entropy written by
    hand, in any engine's ``F`` (arrays with methods ``max``, ``exp``...)."""
    w1, b1, w2, b2, w3, b3 = params
    X, onehot = data
    z = F.tanh(F.tanh(X @ w1.T + b1) @ w2.T + b2) @ w3.T + b3
    m = z.max(axis=1, keepdims=True)
    lse = m + (z - m).exp().sum(axis=1, keepdims=True).log()
    return (lse - (z * onehot).sum(axis=1, keepdims=True)).mean()


def _simplenet_inputs(rows=10):
    """``(params, (X, y))``: the parameters, and ``rows`` rows of two blobs."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, 5)) + 3.0 * (np.arange(rows) % 2)[:, None]
    y = np.arange(rows) % 2
    shapes = [(25, 5), (25,), (25, 25), (25,), (2, 25), (2,)]
    return tuple(rng.uniform(-0.4, 0.4, s) for s in shapes), (X, y)


def _mlp_inputs():
    """SimpleNet's ``(params, (X, target))``, the target two columns of floats."""
    params, (X, _) = _simplenet_inputs()
    return params, (X, np.cos(X[:, :2]))


def _one_hot_inputs():
    """SimpleNet's ``(params, (X, one-hot labels))``."""
    params, (X, y) = _simplenet_inputs()
    return params, (X, np.eye(2)[y])


def _compiled(rec):
    """``rec``, its straight-line kernel (if it has one) compiled now: the
    calls timed are those of a program in use, not its first second of
    step-by-step replays (:data:`tapegrad.replay.straight.COMPILE_AFTER_S`)."""
    if getattr(rec.program, "straight", None) is not None:
        rec.program.straight.kernel()
    return rec


def _recorded(loss, inputs):
    """``loss`` over its parameters, recorded: ``(recording, params)``."""
    params, data = inputs
    f = functools.partial(loss, data=data, F=F)
    return _compiled(tg.record(f, tuple(tg.tensor(p) for p in params))), params


def _points():
    return np.array([0.3]), np.linspace(-1.0, 1.0, 10)


def programs():
    """name -> (recording, point): the programs whose calls are timed."""
    x1, x10 = _points()
    return {
        "elementwise_3ops": (tg.record(three_ops, tg.tensor(x1)), x1),
        "rosenbrock_vectorized": (tg.record(rosenbrock, tg.tensor(x10)), x10),
        "rms": (tg.record(rms, tg.tensor(x10)), x10),
        "least_squares": (tg.record(least_squares, tg.tensor(x10[:5])), x10[:5]),
        "simplenet_loss": _recorded(simplenet_loss, _simplenet_inputs()),
        "mlp_mse_loss": _recorded(mlp_mse_loss, _mlp_inputs()),
        "softmax_entropy": (_compiled(tg.record(softmax_entropy, tg.tensor(x10))), x10),
        "logsumexp_mlp": _recorded(logsumexp_mlp, _one_hot_inputs()),
        "leaky_differences": (_compiled(tg.record(leaky_differences, tg.tensor(x10))), x10),
        "cumsum_product": (_compiled(tg.record(cumsum_product, tg.tensor(x10))), x10),
        "elements_and_numbers": (_compiled(tg.record(elements_and_numbers, tg.tensor(x10))),
                                 x10),
    }


def peer_programs():
    """name -> (form, function, arrays): the same programs as a peer's
    ``fixed_cost`` takes them (``bench.side_peer.PyTensorVector``)."""
    x1, x10 = _points()

    def arrays(inputs):
        params, data = inputs
        return {**{f"param_{k}": p for k, p in enumerate(params)},
                **{f"data_{k}": d for k, d in enumerate(data)}}

    return {"elementwise_3ops": ("vectorized", three_ops, {"x": x1}),
            "rosenbrock_vectorized": ("vectorized", rosenbrock, {"x": x10}),
            "rms": ("vectorized", rms, {"x": x10}),
            "least_squares": ("vectorized", least_squares, {"x": x10[:5]}),
            "simplenet_loss": ("gradient", simplenet_loss, arrays(_simplenet_inputs())),
            "mlp_mse_loss": ("gradient", mlp_mse_loss, arrays(_mlp_inputs())),
            "softmax_entropy": ("vectorized", softmax_entropy, {"x": x10}),
            "logsumexp_mlp": ("gradient", logsumexp_mlp, arrays(_one_hot_inputs())),
            "leaky_differences": ("vectorized", leaky_differences, {"x": x10}),
            "cumsum_product": ("vectorized", cumsum_product, {"x": x10}),
            "elements_and_numbers": ("vectorized", elements_and_numbers, {"x": x10})}


def per_call(rec, x, calls=_CALLS, batches=_BATCHES):
    """Seconds per ``rec.value_and_grad(x)``, the best of ``batches``
    (:func:`~tapegrad.benchmark.timing.best_of_batches`; the first call
    compiles or loads the kernels and makes the buffers)."""
    return best_of_batches(lambda: rec.value_and_grad(x), calls=calls, batches=batches)


_SIZES = {"elementwise_3ops": 1, "rosenbrock_vectorized": 10, "rms": 10, "least_squares": 5,
          "simplenet_loss": 10, "mlp_mse_loss": 10, "softmax_entropy": 10, "logsumexp_mlp": 10,
          "leaky_differences": 10, "cumsum_product": 10, "elements_and_numbers": 10}


def figures(result, peers=()):
    """Add ``replay_fixed_cost_us`` per program to ``result``, tapegrad's
    and each of ``peers`` that has a ``fixed_cost`` method's; returns the
    lines to print."""
    lines = ["", "Replay fixed cost (rec.value_and_grad on tiny inputs, best of "
                 f"{_BATCHES} batches of {_CALLS} calls; target <= 5 us)"]
    for name, (rec, x) in programs().items():
        micro = per_call(rec, x) * 1e6
        program = rec.program
        compiled = program.schedule or program.dense or program.straight
        how = type(compiled).__name__ if compiled is not None else "steps"
        if getattr(compiled, "compiled", False) or getattr(compiled, "_kernel", None):
            how += ", one compiled call"
        if getattr(compiled, "op_steps", None):
            how += f" in parts, {len(compiled.op_steps)} op step(s) between them"
        result.add(name, "tapegrad", _SIZES[name], "replay_fixed_cost_us", micro, "us")
        lines.append(f"  {name:<24} n={_SIZES[name]:<4} {micro:8.2f} us  ({how})")
    for peer in peers:
        if not hasattr(peer, "fixed_cost") or peer.unavailable() is not None:
            continue
        for name, (form, function, arrays) in peer_programs().items():
            try:
                micro = peer.fixed_cost(form, function, arrays, _CALLS, _BATCHES) * 1e6
            except NotImplementedError as error:
                lines.append(f"  {name:<24} {peer.name}: cannot run it ({error})")
                continue
            result.add(name, peer.name, _SIZES[name], "replay_fixed_cost_us", micro, "us")
            lines.append(f"  {name:<24} n={_SIZES[name]:<4} {micro:8.2f} us  ({peer.name})")
    return lines
