"""A chain of dense layers under a cross entropy, replayed as one schedule
of BLAS calls into buffers made once.

The seed's SimpleNet, and any ``nn.Sequential`` of ``nn.Linear`` layers
trained with ``nn.CrossEntropyLoss``, records as ``linear`` records, each
reading the one before, and a ``cross_entropy`` of the last.  Replayed
record by record, each layer costs a product, a pass adding the bias, and
in reverse a pass summing the bias's gradient.  :func:`dense_chain` finds
that shape when the program is made and compiles it into a
:class:`DenseChain`, which folds each bias into its product:

* each layer reads its input from a buffer one column wider than the
  input, that column all ones, and multiplies it by ``[w, b]`` (the weight
  with the bias as one more column), so one ``np.matmul`` into the next
  buffer gives ``x @ w.T + b``;
* in reverse, ``g.T @ [x, 1]`` is ``[dw, db]`` in one product, and ``g @ w``
  the gradient of the layer's input;
* the buffers (one per layer, its ones column written once) are made at
  the first call of each thread, and every product writes into them
  (``out=``): a step allocates only the gradients it hands over.

A replay is the same arithmetic as the record-by-record sweep, but a sum
that BLAS does in another order rounds differently: values and gradients
agree with an eager step's to rounding (a few units in the last place),
not bit for bit.  Programs of any other shape (other ops, activations,
guards, a layer read twice, a batch that is not a matrix) keep the
record-by-record sweep, as do debug mode, forward mode and Hessians.

>>> import numpy as np, tapegrad as tg
>>> from tapegrad import nn
>>> model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Linear(4, 2, rng=1))
>>> X, y = np.ones((5, 3)), np.array([0, 1, 1, 0, 1])
>>> step = nn.record_loss(model, nn.CrossEntropyLoss(), X, y)
>>> type(step.recorded.program.dense).__name__
'DenseChain'
>>> loss = step(X, y)
>>> eager = nn.CrossEntropyLoss()(model(X), y)
>>> bool(np.isclose(loss, eager.item(), rtol=1e-15, atol=0))
True
"""

import math
import threading

import numpy as np

from tapegrad.array.ops import ARRAY_INPUT, ARRAY_OPS
from tapegrad.kernels.cross_entropy import cross_entropy_columns, shift_columns

_LINEAR, _CROSS_ENTROPY = ARRAY_OPS["linear"].code, ARRAY_OPS["cross_entropy"].code
_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def dense_chain(program, prog):
    """A :class:`DenseChain` replaying ``program`` (an ArrayProgram made
    from the snapshot ``prog``), or None where it is not such a chain."""
    if program._mask_guards or program._out_shape != () or len(program._scalar_slots):
        return None
    records = list(prog.array_records)
    if records != list(range(len(prog.op))) or not records:
        return None  # scalar records between the array ones
    leaf_of, layers = {}, []
    for i in records[:-1]:
        code = int(prog.op[i])
        if code == ARRAY_INPUT:
            leaf_of[i] = int(prog.arg0[i])
        elif code == _LINEAR:
            layer = _layer(prog, i, leaf_of, layers)
            if layer is None:
                return None
            layers.append(layer)
        else:
            return None
    last = records[-1]
    if (not layers or int(prog.op[last]) != _CROSS_ENTROPY or program._out_record != last
            or int(prog.arg0[last]) != layers[-1][0]
            or set(prog.params[last]) != {"labels", "constants", "lse"}
            or np.asarray(prog.params[last]["labels"]).dtype.kind not in "iu"):
        return None
    used = [k for layer in layers for k in layer[2:]]
    if len(set(used)) != len(used) or len(leaf_of) != len(used):
        return None  # a parameter read twice, or one the chain never reads
    first = prog.arrays[layers[0][0]]
    if first.dtype not in _FLOATS or first.ndim != 2 or first.shape[0] == 0:
        return None
    if any(prog.arrays[i].dtype != first.dtype for i in prog.arrays):
        return None
    x = prog.params[layers[0][0]]["constants"][0]
    if np.asarray(x).dtype != first.dtype:
        return None
    widths = [np.shape(x)[1]] + [prog.arrays[i].shape[1] for i, *_ in layers]
    return DenseChain(layers, last, len(leaf_of), np.shape(x), first.dtype, widths)


def _layer(prog, i, leaf_of, layers):
    """``(record, reads_data, weight leaf, bias leaf)`` of ``linear`` record
    ``i``, or None unless it reads the layer before it (or, first, a
    constant matrix: the batch), a weight leaf and a bias leaf."""
    params = prog.params[i]
    x, w, b = params["args"]
    if w not in leaf_of or b not in leaf_of:
        return None
    if layers:
        if x != layers[-1][0]:
            return None
    elif x != -1 or np.ndim(params["constants"][0]) != 2:
        return None
    weight, bias = prog.arrays[w], prog.arrays[b]
    if weight.ndim != 2 or bias.shape != weight.shape[:1] or prog.arrays[i].ndim != 2:
        return None
    return i, not layers, leaf_of[w], leaf_of[b]


class DenseChain:
    """The compiled replay of a chain of ``linear`` layers under a
    ``cross_entropy`` (see the module docstring).  ``layers``: per layer
    ``(record, first, weight leaf, bias leaf)``; ``loss``: the
    cross-entropy record; ``n_leaves``: how many leaves the program has;
    ``shape``: the batch's (rows, features)."""

    def __init__(self, layers, loss, n_leaves, shape, dtype, widths):
        self.layers, self.loss, self.n_leaves, self.dtype = layers, loss, n_leaves, dtype
        self.first = layers[0][0]
        self.shape = shape
        self.widths = widths  # each layer's inputs, then the logits'
        self._local = threading.local()

    def _buffers(self):
        """This thread's buffers, each matrix of rows held transposed (a
        column per row: BLAS runs these long, thin products faster so):
        each layer's input with its row of ones, the logits and their
        gradient, each layer's ``[w, b]`` and ``[dw, db]``, and each hidden
        layer's input gradient."""
        try:
            return self._local.buffers
        except AttributeError:
            pass
        rows, dtype, ins, outs = self.shape[0], self.dtype, self.widths[:-1], self.widths[1:]
        inputs = [np.ones((k + 1, rows), dtype) for k in ins]
        logits = np.empty((outs[-1], rows), dtype)
        folded = [np.empty((n, k + 1), dtype) for n, k in zip(outs, ins)]
        grads = [np.empty((n, k + 1), dtype) for n, k in zip(outs, ins)]
        downs = [np.empty((k, rows), dtype) for k in ins[1:]]
        buffers = self._local.buffers = (inputs, logits, np.empty_like(logits), folded,
                                         grads, downs, np.empty((3, rows), dtype))
        return buffers

    def run(self, leaves, params, seed=1.0):
        """The loss at the leaves' arrays (by leaf index) and the batch and
        labels in ``params`` (the thread's record params), and each leaf's
        gradient times ``seed``: a fresh array, or None for a leaf not read."""
        x = params[self.first]["constants"][0]
        labels = params[self.loss]["labels"]
        if np.shape(x) != self.shape or np.shape(labels) != self.shape[:1]:
            raise ValueError(f"a batch of shape {np.shape(x)} with labels of shape "
                             f"{np.shape(labels)}: the chain was recorded at {self.shape}")
        inputs, logits, dlogits, folded, grads, downs, columns = self._buffers()
        inputs[0][:-1] = np.transpose(x)
        for k, (_, _, w, b) in enumerate(self.layers):
            for leaf, place in ((w, folded[k][:, :-1]), (b, folded[k][:, -1])):
                if leaves[leaf].shape != place.shape:
                    raise ValueError(f"a Tensor the recording reads changed shape: "
                                     f"{place.shape} when recorded, {leaves[leaf].shape} now; "
                                     f"record f again")
            folded[k][:, :-1] = leaves[w]
            folded[k][:, -1] = leaves[b]
            np.matmul(folded[k], inputs[k], out=inputs[k + 1][:-1] if k + 1 < len(inputs)
                      else logits)
        scale = (np.asarray(seed) / self.shape[0]).astype(self.dtype)[()]  # as the op's VJP
        mean = _cross_entropy(logits, labels, scale, dlogits, *columns)
        out = [None] * self.n_leaves
        g = dlogits
        for k in range(len(self.layers) - 1, -1, -1):
            _, _, w, b = self.layers[k]
            np.matmul(g, inputs[k].T, out=grads[k])
            out[w], out[b] = grads[k][:, :-1].copy(), grads[k][:, -1].copy()
            if k:
                np.matmul(leaves[w].T, g, out=downs[k - 1])
                g = downs[k - 1]
        return float(np.asarray(mean, dtype=self.dtype)), out


def _cross_entropy(logits, labels, scale, grad, top, total, logsum):
    """The mean cross entropy of ``logits`` (classes, rows) at ``labels``,
    its gradient times ``scale`` into ``grad``; ``top``, ``total`` and
    ``logsum`` are a row's worth of room each.  Each column is shifted by
    its largest logit, by NumPy's own passes; where that gives no finite
    loss (an inf or nan logit), by the kernel's rule (0 for a non-finite
    top), so that non-finite logits give what the op gives."""
    np.maximum.reduce(logits, axis=0, out=top)
    np.subtract(logits, top, out=grad)
    mean = _columns(logits, labels, scale, grad, top, total, logsum)
    if math.isfinite(mean):
        return mean
    shift_columns(logits, top, grad)
    return _columns(logits, labels, scale, grad, top, total, logsum)


def _columns(logits, labels, scale, grad, top, total, logsum):
    np.exp(grad, out=grad)
    np.add.reduce(grad, axis=0, out=total)
    np.log(total, out=logsum)
    return cross_entropy_columns(logits, labels, top, logsum, total, scale, grad)
