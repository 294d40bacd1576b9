"""micrograd's ``Neuron``, ``Layer`` and ``MLP``, over tapegrad's ``Value``.

The same classes, shapes and calls as ``micrograd.nn``: a network of
scalar Values whose ops record onto the tape like any other Value code
(``with Tape()``, the implicit tape, ``record``).  Weights start as
``uniform(-1, 1)`` draws from ``rng`` (a seed or a ``random.Random``;
None draws from the ``random`` module, as micrograd does), biases at 0.

>>> import tapegrad as tg
>>> from tapegrad.nn import MLP
>>> model = MLP(3, [4, 4, 1], rng=1337)
>>> model
MLP of [Layer of [ReLUNeuron(3), ReLUNeuron(3), ReLUNeuron(3), ReLUNeuron(3)], \
Layer of [ReLUNeuron(4), ReLUNeuron(4), ReLUNeuron(4), ReLUNeuron(4)], Layer of [LinearNeuron(4)]]
>>> len(model.parameters())
41
>>> with tg.Tape() as tape:
...     out = model([2.0, 3.0, -1.0])
>>> out.backward()
>>> len(tape) > 41, isinstance(model.parameters()[0].grad, float)
(True, True)
"""

import random

from tapegrad.scalar.value import Value

__all__ = ["Neuron", "Layer", "MLP"]


def _uniform(rng):
    if rng is None:
        return random.uniform
    return (rng if isinstance(rng, random.Random) else random.Random(rng)).uniform


class _Module:
    """micrograd's ``Module``: ``parameters()`` and ``zero_grad()``."""

    def zero_grad(self):
        """Set every parameter's ``.grad`` to 0 (gradients accumulate)."""
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self):
        return []


class Neuron(_Module):
    """``relu(w . x + b)`` (``nonlin=True``) or ``w . x + b``."""

    def __init__(self, nin, nonlin=True, rng=None):
        uniform = _uniform(rng)
        self.w = [Value(uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def __call__(self, x):
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act

    def parameters(self):
        return self.w + [self.b]

    def __repr__(self):
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


class Layer(_Module):
    """``nout`` neurons over the same ``nin`` inputs; a layer of one neuron
    returns a Value, not a list."""

    def __init__(self, nin, nout, nonlin=True, rng=None):
        rng = rng if rng is None or isinstance(rng, random.Random) else random.Random(rng)
        self.neurons = [Neuron(nin, nonlin=nonlin, rng=rng) for _ in range(nout)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self):
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(_Module):
    """Layers of sizes ``nouts`` after ``nin`` inputs, ReLU on all but the
    last (linear) layer: micrograd's ``MLP(nin, nouts)``."""

    def __init__(self, nin, nouts, rng=None):
        rng = rng if rng is None or isinstance(rng, random.Random) else random.Random(rng)
        sizes = [nin] + list(nouts)
        self.layers = [Layer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1, rng=rng)
                       for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self):
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
