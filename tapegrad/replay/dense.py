"""A chain of dense layers under a loss, replayed as one compiled call
(small batches) or one schedule of BLAS calls and kernels (large ones) into
buffers made once.

The seed's SimpleNet, and any ``nn.Sequential`` of ``nn.Linear`` layers and
elementwise activations (``nn.ReLU``, ``nn.Tanh``, ``nn.Sigmoid``, any
one-argument op of the table) trained with ``nn.CrossEntropyLoss``, records
as ``linear`` and elementwise records, each reading the one before, and a
``cross_entropy`` of the last; layers written ``h @ W + b`` (a vector ``v``
for one output, ``h @ v + c``) are chains too
(:mod:`tapegrad.replay.dense_stages` says which records are one).  Trained
with ``nn.MSELoss`` (or any loss that is elementwise records of the last
output, numbers and data arrays of its shape, summed or averaged, then
records of that one number: an L1 loss, a scaled error, a root mean
square), it ends in a :class:`~tapegrad.replay.dense_stages.Head` instead,
which runs as a fused group
(:func:`tapegrad.fusion.dense.head_lines`: inside the one compiled call, or
as a kernel of its own in the schedule of calls).  Replayed record by
record, each layer costs a product, a pass adding the bias, and in reverse
a pass summing the bias's gradient, each into a new array.
:func:`dense_chain` finds that shape when the program is made and compiles
it into a :class:`DenseChain`:

* matrices of rows are held transposed (a column per row): BLAS runs the
  long, thin products of a batch faster so;
* each layer reads its input from a buffer one row taller than the input,
  that row all ones, and multiplies ``[w, b]`` (the weight with the bias
  as one more column) by it, so one product into the next buffer is
  ``x @ w.T + b``; in reverse, ``g @ [x, 1].T`` is ``[dw, db]`` in one
  product, and ``w.T @ g`` the gradient of the layer's input;
* the products are BLAS's ``gemm``, called from numba kernels
  (:mod:`tapegrad.kernels.gemm`): ``linear``'s rules in that layout stand
  beside its declaration (:func:`tapegrad.array.ops.linear.value_columns`,
  ``vjp_columns``, ``input_vjp_columns``); no gemm found, no chain;
* the buffers are made at the first call of each thread and every step
  writes into them: a step allocates only the gradients it hands over.

Two ways to run it, chosen when the program is made by how many elements a
call would take through the C library one by one (:data:`SMALL_WORK`):

* **small batches: one compiled call.**  A kernel generated for the chain
  (:mod:`tapegrad.fusion.dense`, cached on disk as fused kernels are)
  does everything: the products, each activation by the op table's value
  rule and partials, and the cross entropy by the op's own row kernels.
  SimpleNet's loss at 10 rows costs some 10 us a call, against 27 us as a
  schedule of calls;
* **large batches: a schedule of calls** from Python, where vectorized
  passes win: an activation runs NumPy's ufunc of its name forward where
  there is one (``np.tanh``), else the op's generated ``<op>_each``, and
  ``<op>_vjp_each`` in reverse; the cross entropy's exponentials and
  logarithms are NumPy's passes over the whole batch
  (:func:`tapegrad.array.ops.softmax.cross_entropy_columns`).

A replay is the same arithmetic as the record-by-record sweep, but BLAS
sums in another order (and NumPy's vectorized ``exp``, ``log`` and
``tanh`` may differ from the C library's in the last place): values and
gradients agree with an eager step's to rounding, not bit for bit.
Programs of any other shape (other ops, guards, a layer read twice, a
batch that is not a matrix) keep the record-by-record sweep, as do
``record(..., fuse=False)``, debug mode, forward mode and Hessians.

>>> import numpy as np, tapegrad as tg
>>> from tapegrad import nn
>>> model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1))
>>> X, y = np.ones((5, 3)), np.array([0, 1, 1, 0, 1])
>>> step = nn.record_loss(model, nn.CrossEntropyLoss(), X, y)
>>> type(step.recorded.program.dense).__name__
'DenseChain'
>>> loss = step(X, y)
>>> eager = nn.CrossEntropyLoss()(model(X), y)
>>> bool(np.isclose(loss, eager.item(), rtol=1e-15, atol=0))
True
"""

import threading

import numpy as np

from tapegrad.array.ops import ARRAY_OPS
from tapegrad.array.ops.linear import input_vjp_columns, value_columns, vjp_columns
from tapegrad.array.ops.softmax import cross_entropy_columns
from tapegrad.fusion import cache
from tapegrad.fusion.dense import HEAD_NAME, NAME, HeadSource, chain_source, head_source
from tapegrad.kernels.gemm import address
from tapegrad.replay.dense_stages import Layer, chain_stages, split_loss

_CROSS_ENTROPY = ARRAY_OPS["cross_entropy"].code
_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))
# One compiled call replays a chain while a call's elements that it takes
# through the C library one by one (the cross entropy's logits, and those of
# activations with a NumPy ufunc, which the schedule of calls vectorizes) are
# at most this many.  Measured: SimpleNet at 512 rows (1,024 logits), 76 us
# against 92 us as a schedule of calls; at 1,024 rows, 178 against 159.
SMALL_WORK = 1024


def dense_chain(program, prog):
    """A :class:`DenseChain` replaying ``program`` (an ArrayProgram made
    from the snapshot ``prog``), or None where it is not such a chain."""
    if program._mask_guards or program._out_shape != () or len(program._scalar_slots):
        return None
    records = list(prog.array_records)
    if records != list(range(len(prog.op))) or not records:
        return None  # scalar records between the array ones
    leaf_of, stages, tail = chain_stages(prog)
    last = records[-1]
    if not stages or program._out_record != last:
        return None
    stages, head = split_loss(prog, stages, tail, last)
    if head is None and (
            int(prog.op[last]) != _CROSS_ENTROPY or int(prog.arg0[last]) != stages[-1][1]
            or set(prog.params[last]) != {"labels", "constants", "lse"}
            or np.asarray(prog.params[last]["labels"]).dtype.kind not in "iu"):
        return None
    used = [k for stage in stages if isinstance(stage, Layer)
            for k in (stage.weight, stage.bias) if k is not None]
    if len(set(used)) != len(used) or len(leaf_of) != len(used):
        return None  # a parameter read twice, or one the chain never reads
    first = prog.arrays[stages[0][1]]
    if first.dtype not in _FLOATS or first.shape[0] == 0:
        return None
    if any(prog.arrays[i].dtype != first.dtype for i in prog.arrays):
        return None
    x = prog.params[stages[0].batch]["constants"][0]
    if np.asarray(x).dtype != first.dtype or not address(first.dtype):
        return None  # no gemm: the sweep's NumPy products
    if head is not None and any(np.asarray(prog.params[i]["constants"][k]).dtype != first.dtype
                                for i, k in head.data):
        return None  # data of another dtype: the arithmetic is another dtype's
    return DenseChain(stages, last, len(leaf_of), np.shape(x), first.dtype, head)


def _library_width(stages):
    """Per row, how many elements the compiled kernel takes through the C
    library that the schedule of calls vectorizes (:data:`SMALL_WORK`)."""
    width, count = 0, 0
    for stage in stages:
        if isinstance(stage, Layer):
            width = stage.outputs
        elif stage[4]:
            count += width
    return count + width


class DenseChain:
    """The compiled replay of a chain of layers and activations under a
    ``cross_entropy``, or a :class:`~tapegrad.replay.dense_stages.Head`
    (see the module docstring).  ``stages``: per stage, a
    :class:`~tapegrad.replay.dense_stages.Layer` or an activation ``(name,
    record, kernel, VJP kernel, vectorized, number)``; ``loss``: the cross-entropy record
    (or the head's sum or mean); ``n_leaves``: how many leaves the program
    has; ``shape``: the batch's (rows, features)."""

    def __init__(self, stages, loss, n_leaves, shape, dtype, head=None):
        self.stages, self.loss, self.n_leaves, self.dtype = stages, loss, n_leaves, dtype
        self.head = head
        self.first = stages[0].batch  # the record whose first constant is the batch
        self.shape = shape
        self.gemm = address(dtype)
        self.compiled = shape[0] * _library_width(stages) <= SMALL_WORK
        self._kernel = self._size = None  # the one-call kernel and its work's size
        self._head = None  # the head's kernel, for the schedule of calls
        self._leaf_shapes = [None] * n_leaves
        for stage in stages:
            if isinstance(stage, Layer):
                self._leaf_shapes[stage.weight] = stage.weight_shape
                if stage.bias is not None:
                    self._leaf_shapes[stage.bias] = stage.bias_shape
                self._width = stage.outputs  # the last layer's: the loss reads that many
                self.flat = stage.flat  # the last layer's output is a vector
        self.unit = self.scale(1.0)  # the scale of a seed of 1
        self._local = threading.local()

    def run(self, leaves, params, seed=1.0):
        """The loss at the leaves' arrays (by leaf index) and the batch and
        labels in ``params`` (the thread's record params), and each leaf's
        gradient times ``seed``: a fresh array, or None for a leaf not read.
        NumPy's passes warn of nothing (the kernels they stand for do not)."""
        x = params[self.first]["constants"][0]
        data = self._data(params)
        scale = self.unit if seed == 1.0 else self.scale(seed)
        if self.head is not None and not all(type(d) is np.ndarray and d.dtype == self.dtype
                                             for d in data):
            return None  # data of another type or dtype: the sweep
        if self.compiled and type(x) is np.ndarray and x.ndim == 2 and x.dtype == self.dtype \
                and all(type(d) is np.ndarray for d in data) and (
                    data[0].ndim == 1 if self.head is None else
                    all(d.ndim == 2 - self.flat for d in data)):
            try:
                return self.call(leaves, params, scale)
            except ValueError:
                self._check(x, data, leaves)
                raise
        with np.errstate(all="ignore"):
            return self._run(x, data, self._numbers(params), leaves, scale)

    def _data(self, params):
        """The loss's data in ``params``: the labels of a cross entropy, or
        the head's arrays."""
        if self.head is None:
            return [params[self.loss]["labels"]]
        return [params[i]["constants"][k] for i, k in self.head.data]

    def _numbers(self, params):
        """The head's numbers in ``params`` (its group's, then those after
        its sum), as the kernel reads them beside arrays of the chain's
        dtype (none for a cross entropy)."""
        if self.head is None:
            return []
        cast = float if self.dtype == np.float64 else self.dtype.type
        return [cast(params[i]["constants"][k])
                for i, k in (*self.head.numbers, *self.head.numbers_after)]

    def call(self, leaves, params, scale):
        """:meth:`run` by the one compiled call, unchecked: a leaf, batch or
        labels of another shape than recorded is a ``ValueError`` that does
        not say which (nothing is written), one of another type a numba
        ``TypeError`` or a compilation for it.  ``scale``: :meth:`scale`."""
        dtype = self.dtype
        grads = [np.empty(shape, dtype) for shape in self._leaf_shapes]
        kernel = self._kernel or self._one_call()
        data = [params[self.loss]["labels"]] if self.head is None else self._data(params)
        loss = kernel(self.gemm, params[self.first]["constants"][0], *data,
                      *self._numbers(params), *leaves, self._work(), scale, *grads)
        return float(dtype.type(loss)), grads

    def scale(self, seed):
        """The loss's VJP's factor: ``seed`` over the rows (a cross
        entropy), over the elements (a mean head), or ``seed`` (a sum
        head, or a head with records after its sum, whose kernel
        divides), as the op's VJP rounds it."""
        if self.head is None:
            count = self.shape[0]
        elif self.head.mean and not self.head.after:
            count = self.shape[0] * self._width
        else:
            count = 1
        return (np.asarray(seed) / count).astype(self.dtype)[()]

    def _one_call(self):
        """The chain's kernel (:mod:`tapegrad.fusion.dense`), loaded (or
        compiled, once per machine) at the first call."""
        if self._kernel is None:
            source, imports, size = chain_source(self._described(), self.n_leaves,
                                                 self._head_description())
            self._size = size
            self._kernel = cache.load(source, NAME, imports)
        return self._kernel

    def _described(self):
        """The stages as :func:`tapegrad.fusion.dense.chain_source` takes them."""
        return tuple(("linear", stage.inputs, stage.outputs, stage.weight, stage.bias,
                      stage.transposed, stage.weight_shape, stage.bias_shape)
                     if isinstance(stage, Layer)
                     else (stage[0], stage[5]) for stage in self.stages)

    def _work(self):
        """This thread's flat array of the kernel's buffers."""
        try:
            return self._local.work
        except AttributeError:
            per_row, fixed = self._size
            self._local.work = np.empty(per_row * self.shape[0] + fixed, self.dtype)
            return self._local.work

    def _check(self, x, data, leaves):
        """Raise the ``ValueError`` that says which shape changed, if one did."""
        rows = self.shape[:1] if self.head is None or self.flat else (self.shape[0], self._width)
        if np.shape(x) != self.shape or any(np.shape(d) != rows for d in data):
            what = "labels" if self.head is None else "targets"
            raise ValueError(f"a batch of shape {np.shape(x)} with {what} of shape "
                             f"{', '.join(str(np.shape(d)) for d in data)}: the chain was "
                             f"recorded at {self.shape}")
        for leaf, shape in zip(leaves, self._leaf_shapes):
            if np.shape(leaf) != shape:
                raise ValueError(f"a Tensor the recording reads changed shape: "
                                 f"{shape} when recorded, {np.shape(leaf)} now; record f again")

    def _buffers(self):
        """This thread's :class:`_Buffers`, made at its first call."""
        try:
            return self._local.buffers
        except AttributeError:
            buffers = self._local.buffers = _Buffers(self.stages, self.shape, self.dtype,
                                                     self.head is not None)
            return buffers

    def _run(self, x, data, numbers, leaves, scale):
        """The schedule of calls from Python, for batches above
        :data:`SMALL_WORK` (where NumPy's vectorized ``exp`` and ufuncs
        beat a C library call per element); ``data`` and ``numbers``: the
        loss's (:meth:`_data`, :meth:`_numbers`)."""
        self._check(x, data, leaves)
        room = self._buffers()
        ins, outs, backs, gemm = room.ins, room.outs, room.backs, self.gemm
        np.copyto(room.batch, np.transpose(x))
        for s, stage in enumerate(self.stages):
            if not isinstance(stage, Layer):
                stage[2](ins[s], outs[s])
                continue
            w, b, w_place, b_place, _, _ = room.layers[s]
            np.copyto(w_place, leaves[w].T if stage.transposed else leaves[w])
            if b is not None:  # (else the buffer's zeros)
                np.copyto(b_place, leaves[b])
            value_columns(gemm, room.folded[s], ins[s], outs[s])
        if self.head is None:
            loss = cross_entropy_columns(outs[-1], data[0], scale, room.dlogits, *room.columns)
        else:
            loss = self._head_kernel()(outs[-1], *data, *numbers, scale, room.head,
                                       room.dlogits)
        out = [None] * self.n_leaves
        g = room.dlogits
        for s in range(len(self.stages) - 1, -1, -1):
            stage = self.stages[s]
            if not isinstance(stage, Layer):
                backs[s].fill(0.0)
                stage[3](ins[s], outs[s], g, backs[s])
            else:
                w, b, w_place, _, dw, db = room.layers[s]
                vjp_columns(gemm, g, ins[s], room.grads[s])
                if backs[s] is not None:
                    input_vjp_columns(gemm, g, w_place, backs[s])
                out[w] = (dw.T if stage.transposed else dw).copy().reshape(stage.weight_shape)
                if b is not None:
                    out[b] = db.copy().reshape(stage.bias_shape)
            g = backs[s]
        return float(np.asarray(loss, dtype=self.dtype)), out

    def _head_kernel(self):
        """The head's kernel (:func:`tapegrad.fusion.dense.head_source`) for
        the schedule of calls, loaded at the first call."""
        if self._head is None:
            source, _ = head_source(self._head_description(), self._width)
            self._head = cache.load(source, HEAD_NAME)
        return self._head

    def _head_description(self):
        """The head as :func:`tapegrad.fusion.dense.head_lines` takes it."""
        head = self.head
        return head and HeadSource(head.spec, head.reads, head.mean, self.dtype.name, self.flat,
                                   head.after, len(head.numbers_after))


class _Buffers:
    """One thread's arrays for a :class:`DenseChain` (rows held transposed):
    per stage ``ins`` (a layer's input with its row of ones), ``outs`` and
    ``backs`` (the gradient of its input; None for the first); per layer
    ``folded`` (``[w, b]``), ``grads`` (``[dw, db]``) and ``layers``: its
    leaves and the views ``w`` and ``b`` go into and ``dw`` and ``db`` come
    from; ``batch``, the first input's view the batch goes into; the
    logits' gradient, and three rows' worth of room for the cross
    entropy, or (``head``) the room of a loss head's kernel."""

    def __init__(self, stages, shape, dtype, head=False):
        rows, n = shape[0], len(stages)
        self.ins, self.outs, self.backs = [None] * n, [None] * n, [None] * n
        self.folded, self.grads, self.layers = {}, {}, {}
        width = shape[1]
        for s, stage in enumerate(stages):
            if isinstance(stage, Layer):
                self.ins[s] = np.ones((width + 1, rows), dtype)
                folded = self.folded[s] = np.zeros((stage.outputs, width + 1), dtype)
                grads = self.grads[s] = np.empty((stage.outputs, width + 1), dtype)
                self.layers[s] = (stage.weight, stage.bias, folded[:, :-1], folded[:, -1],
                                  grads[:, :-1], grads[:, -1])
                if s:
                    self.outs[s - 1] = self.ins[s][:-1]
                width = stage.outputs
            else:
                self.ins[s] = self.outs[s - 1] = np.empty((width, rows), dtype)
            if s:
                self.backs[s] = np.empty((stage.inputs if isinstance(stage, Layer) else width,
                                          rows), dtype)
        self.outs[-1] = np.empty((width, rows), dtype)
        self.batch = self.ins[0][:-1]
        self.dlogits = np.empty((width, rows), dtype)
        self.columns = np.empty((3, rows), dtype)
        self.head = np.empty(width * rows if head else 0, dtype)
