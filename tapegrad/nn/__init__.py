"""Neural-network building blocks shaped like ``torch.nn``.

PyTorch code ports by its imports: ``Module``, ``Parameter``, ``Linear``,
``Sequential``, the activations, ``CrossEntropyLoss``, ``MSELoss`` and
:mod:`tapegrad.nn.functional` keep PyTorch's names, layouts, defaults and
dotted parameter names, over tapegrad's Tensors.  For micrograd's users,
``MLP`` (with its ``Neuron`` and ``Layer``) is micrograd's network over
scalar ``Value``.

A top floor of the package: it imports the array and scalar layers and
:mod:`tapegrad.functions`, never :mod:`tapegrad.benchmark`.  Rooms:
``module`` (``Module``, ``Parameter``), ``layers`` (``Linear``,
``Sequential``, the activations and losses), ``functional`` (PyTorch's
function names), ``micrograd`` (``Neuron``, ``Layer``, ``MLP``), ``recorded``
(``record_loss``: a training step recorded once and replayed).

>>> import numpy as np
>>> from tapegrad import nn, optim
>>> model = nn.Sequential(nn.Linear(2, 8, rng=0), nn.Tanh(), nn.Linear(8, 1, rng=1))
>>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
>>> y = np.array([[0.0], [1.0], [1.0], [0.0]])
>>> opt = optim.Adam(model.parameters(), lr=0.05)
>>> for step in range(300):
...     opt.zero_grad()
...     loss = nn.MSELoss()(model(X), y)
...     loss.backward()
...     opt.step()
>>> loss.item() < 1e-3
True
"""

from tapegrad.nn import functional
from tapegrad.nn.layers import (
    CrossEntropyLoss, Linear, MSELoss, ReLU, Sequential, Sigmoid, Tanh,
)
from tapegrad.nn.micrograd import MLP, Layer, Neuron
from tapegrad.nn.module import IncompatibleKeys, Module, Parameter
from tapegrad.nn.recorded import RecordedStep, record_loss

__all__ = [
    "Module", "Parameter", "IncompatibleKeys", "Linear", "Sequential", "ReLU", "Tanh", "Sigmoid",
    "CrossEntropyLoss", "MSELoss", "functional", "MLP", "Layer", "Neuron", "record_loss",
    "RecordedStep",
]
