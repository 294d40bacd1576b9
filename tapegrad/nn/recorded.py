"""A recorded training step: :func:`record_loss` and the :class:`RecordedStep` it returns.

``record_loss(model, loss_fn, X, y)`` traces ``loss_fn(model(X), y)`` once
(:func:`tapegrad.record`); each call ``step(X, y)`` then replays that tape
on the batch given and the parameters' current values, returns the loss
and adds the gradients into each parameter's ``.grad`` as
``loss.backward()`` would, so :mod:`tapegrad.optim` steps as it does after
an eager step, and the loop stays PyTorch's:

>>> import numpy as np
>>> from tapegrad import nn, optim
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(64, 3))
>>> y = (X[:, 0] > X[:, 1]).astype(np.int64)
>>> model = nn.Sequential(nn.Linear(3, 8, rng=0), nn.Tanh(), nn.Linear(8, 2, rng=1))
>>> opt = optim.SGD(model.parameters(), lr=0.5)
>>> step = nn.record_loss(model, nn.CrossEntropyLoss(), X, y)
>>> for _ in range(50):
...     opt.zero_grad()
...     loss = step(X, y)
...     opt.step()
>>> loss.item() < 0.1, type(loss).__name__
(True, 'float64')

What is an input of the recording, and what is not:

* **Parameters** are the Tensors with ``requires_grad`` that ``model`` and
  ``loss_fn`` read (a closure's leaves): every call reads their current
  values, and the gradient goes into their ``.grad``.  A parameter no
  gradient reaches keeps its ``.grad`` (None after ``zero_grad()``).
* **Data** are ``X`` and ``y``: NumPy arrays (or Tensors, whose arrays are
  taken), read afresh at every call, of the shape and dtype recorded (a
  different shape or dtype is a ``ValueError`` / ``TypeError``: a last,
  smaller batch needs a step of its own).  Integer labels stay integers and
  are checked against the number of classes at every call, as eagerly.
  They are never differentiated.  While the step is recorded, the model and
  the loss get stand-ins for them that only tapegrad's ops may consume:
  NumPy work on the batch itself (``X / 255``, ``X.reshape(...)``,
  ``np.eye(2)[y]``, ``np.asarray(X, dtype)``) would be done once and frozen
  into every replay, so it raises ``TypeError`` instead.  Do it before the
  step, on each batch.
* **Branches** follow :func:`tapegrad.record`: a Python branch on a traced
  value is a guard, and a call whose batch or parameters take the other way
  raises :class:`~tapegrad.BranchChanged` before touching any ``.grad``
  (``retrace=True``: the step records again there).

A model of ``nn.Linear`` layers (and one-argument activations between
them) under a cross entropy replays into buffers made once, as one
compiled call for a small batch and as a schedule of BLAS calls for a
large one (:mod:`tapegrad.replay.dense`): its losses and gradients
are the eager step's to rounding, not bit for bit; other models replay
record by record, bit for bit.

The loss comes back as a NumPy scalar of the loss's dtype (``loss.item()``
is the Python float, as PyTorch's).  A step object is for one thread at a
time (the ``.grad`` it adds into and the batch it holds are shared).
"""

import sys

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from tapegrad.array.ops import ARRAY_OPS
from tapegrad.array.tensor import Tensor
from tapegrad.core.numpy_protocol import Dispatching
from tapegrad.replay import Recorded
from tapegrad.replay.array_program import ArrayProgram
from tapegrad.scalar.value import Value

__all__ = ["record_loss", "RecordedStep"]

NAMES = ("X", "y")
_CROSS_ENTROPY, _GETITEM = ARRAY_OPS["cross_entropy"].code, ARRAY_OPS["getitem"].code
_METADATA = {np.shape, np.ndim, np.size}

FROZEN = ("record_loss: {what} reads the batch {name} outside tapegrad's ops while the step "
          "is recorded: the result would be computed once and frozen into every replay instead "
          "of being recomputed from each batch.  Prepare each batch before the step "
          "(step(prepare(X), y)), or compute with tapegrad ops on Tensors")


def record_loss(model, loss_fn, X, y, *, retrace=False):
    """Record one step of ``loss_fn(model(X), y)`` to replay on new batches.

    Returns a :class:`RecordedStep`: ``loss = step(X, y)`` replays it (see
    the module docstring for what is read afresh and what is checked).
    ``retrace=True`` records again where a guard comes out the other way
    instead of raising :class:`~tapegrad.BranchChanged`.

    >>> import numpy as np
    >>> from tapegrad import nn
    >>> model = nn.Linear(2, 2, rng=0)
    >>> X, y = np.ones((4, 2)), np.array([0, 1, 1, 0])
    >>> step = record_loss(model, nn.CrossEntropyLoss(), X, y)
    >>> eager = nn.CrossEntropyLoss()(model(X), y)
    >>> eager.backward(); grad = model.weight.grad; model.zero_grad()
    >>> loss = step(X, y)                      # a dense chain: equal to rounding
    >>> bool(np.isclose(loss, eager.item(), rtol=1e-15)), np.allclose(model.weight.grad, grad)
    (True, True)
    """
    return RecordedStep(model, loss_fn, X, y, retrace=retrace)


class RecordedStep:
    """``loss_fn(model(X), y)`` recorded once: call it with a batch (see
    :func:`record_loss`).  ``recorded`` is the :class:`tapegrad.Recorded`
    it replays; ``parameters`` the Tensors whose ``.grad`` it adds into."""

    def __init__(self, model, loss_fn, X, y, retrace=False):
        self.model, self.loss_fn = model, loss_fn
        batch = [_data(name, a) for name, a in zip(NAMES, (X, y))]
        self.shapes = tuple(a.shape for a in batch)
        self.dtypes = tuple(a.dtype for a in batch)
        self._batch, self._handed, self._dtype = batch, [], None
        self._program, self._slots, self._bounds = None, [], []
        self.recorded = Recorded(self._trace, (), retrace=retrace)
        self._adopt(self.recorded.program)

    @property
    def parameters(self):
        """The Tensors the recording reads from outside (the parameters),
        in the order it first read them."""
        return list(self._program._extra_tensors)

    def __repr__(self):
        return (f"<tapegrad.nn.RecordedStep: {len(self.recorded)} records, "
                f"{len(self._program._extra_tensors)} parameters, X {self.shapes[0]} "
                f"{self.dtypes[0]}, y {self.shapes[1]} {self.dtypes[1]}>")

    # --- recording ------------------------------------------------------------

    def _trace(self, _):
        """``f`` of the recording: the loss at the current batch, the model
        and loss seeing stand-ins that log where the batch goes."""
        handed = []
        X, y = (_Batch(name, array, handed, k)
                for k, (name, array) in enumerate(zip(NAMES, self._batch)))
        loss = self.loss_fn(self.model(X), y)
        if loss.__class__ is not Value and (not isinstance(loss, Tensor) or loss.size != 1):
            raise TypeError(f"record_loss: loss_fn(model(X), y) must give a one-element "
                            f"Tensor (or a Value), not {_describe(loss)}")
        if loss.__class__ is not Value and loss.ndim:
            loss = loss.reshape(())
        if loss._rec is None:
            raise TypeError("record_loss: the loss does not depend on any parameter (no "
                            "Tensor with requires_grad reaches it): nothing to train")
        sites = _sites(loss._rec.params, handed)  # every stand-in handed out lands at a site
        for view, k in handed:
            if not any(site[0] is view for site in sites):
                raise TypeError(FROZEN.format(what="a constant computed from it (an array of "
                                              "it reached no tapegrad op as an operand)",
                                              name=NAMES[k]))
        self._handed = handed
        self._dtype = np.dtype(np.float64) if loss.__class__ is Value else loss.dtype
        return loss

    def _adopt(self, program):
        """Find where the batch goes in ``program`` (the record params that
        hold the arrays handed out while it was traced)."""
        if not isinstance(program, ArrayProgram):
            raise TypeError("record_loss records array models: the parameters must be "
                            "Tensors (nn.Parameter), not scalar Values")
        tape = program.tape
        self._slots, self._bounds = [], []
        for _, (i, key, position), k in _sites(tape.params, self._handed):
            self._slots.append(((i, key, position), k))
            if self._batch[k].dtype.kind not in "iu":
                continue
            shape = tape.arrays[int(tape.arg0[i])].shape  # the array indexed, or the logits
            if key == "labels" and int(tape.op[i]) == _CROSS_ENTROPY:
                self._bounds.append((k, shape[-1], "label"))
            elif key == "index" and int(tape.op[i]) == _GETITEM:
                bound = _index_bound(tape.params[i][key], position, shape)
                if bound is not None:
                    self._bounds.append((k, bound, "index"))
        self._program = program

    # --- a step -------------------------------------------------------------------

    def __call__(self, X, y):
        """The loss at the batch ``(X, y)``, its gradient added into each
        parameter's ``.grad``."""
        batch = [self._check(k, a) for k, a in enumerate((X, y))]
        program = self.recorded.program
        if program is not self._program:  # a retrace recorded it again
            self._adopt(program)
        for k, bound, what in self._bounds:
            data = batch[k]
            if data.size and (data.min() < 0 or data.max() >= bound):
                raise ValueError(f"step: {what} out of range [0, {bound}) in {NAMES[k]}: "
                                 f"{data.min()}..{data.max()}")
        self._batch = batch  # what a retrace traces at
        data = [(slot, batch[k]) for slot, k in self._slots]
        return self._dtype.type(program.value_and_backward((), data))

    def _check(self, k, a):
        array = _data(NAMES[k], a)
        if array.shape != self.shapes[k]:
            raise ValueError(f"step: {NAMES[k]} has shape {array.shape}, the step was recorded "
                             f"for {self.shapes[k]}; a batch of another shape needs a step of "
                             f"its own (record_loss at that batch)")
        if array.dtype != self.dtypes[k]:
            raise TypeError(f"step: {NAMES[k]} has dtype {array.dtype}, the step was recorded "
                            f"for {self.dtypes[k]}; cast the batch")
        return array


def _data(name, a):
    """``a`` (an array, or a Tensor's array) as a real NumPy array."""
    array = a._v if isinstance(a, Tensor) else np.asarray(a)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"record_loss: {name} must hold real numbers, not dtype {array.dtype}")
    return array


def _describe(x):
    shape = getattr(x, "shape", None)
    return type(x).__name__ + ("" if shape is None else f" of shape {shape}")


def _sites(params, handed):
    """``(view, (record, key, position), k)`` wherever an array handed out
    for batch ``k`` is held in the params ``{record: dict}``: a value of
    the dict (``position`` None) or item ``position`` of a list or tuple
    there (an op's constants, an index)."""
    ids = {id(view): (view, k) for view, k in handed}
    found = []
    for i, p in params.items():
        for key, v in (p or {}).items():
            if id(v) in ids:
                found.append((ids[id(v)][0], (i, key, None), ids[id(v)][1]))
            elif isinstance(v, (list, tuple)):
                found.extend((ids[id(item)][0], (i, key, j), ids[id(item)][1])
                             for j, item in enumerate(v) if id(item) in ids)
    return found


def _index_bound(index, position, shape):
    """How many entries the axis that ``index`` (item ``position`` of it,
    a tuple) indexes has, or None where that is not plain."""
    if position is None:
        return shape[0] if shape else None
    if any(p is Ellipsis or p is None or getattr(p, "dtype", None) == bool
           for p in index[:position]) or position >= len(shape):
        return None
    return shape[position]


class _Batch(NDArrayOperatorsMixin):
    """What the model and loss get for a batch while the step is traced.

    tapegrad's ops take its array (``np.asarray``: a fresh view, logged in
    ``handed``) as a constant operand, which the step rebinds at every
    call.  Its shape, dtype, ``len`` and ``np.shape`` are free; anything
    else that reads its elements outside a tapegrad op (a ufunc or NumPy
    function of the batch alone, indexing, methods, iteration, numbers)
    raises TypeError, as would a view or copy that does not end up as an
    op's operand (checked once the loss is traced)."""

    __slots__ = ("_name", "_array", "_handed", "_k")

    def __init__(self, name, array, handed, k):
        self._name, self._array, self._handed, self._k = name, array, handed, k

    shape = property(lambda self: self._array.shape)
    ndim = property(lambda self: self._array.ndim)
    size = property(lambda self: self._array.size)
    dtype = property(lambda self: self._array.dtype)

    def __len__(self):
        return len(self._array)

    def __repr__(self):
        return f"<the batch {self._name} of record_loss: shape {self.shape}, {self.dtype}>"

    def __array__(self, dtype=None, copy=None):
        frame = sys._getframe(1)  # who converts it: an op taking an operand, or user code
        caller = frame.f_globals.get("__name__", "")
        if caller != "tapegrad" and not caller.startswith("tapegrad."):
            raise TypeError(FROZEN.format(what=f"converting it to NumPy (in {caller or '?'}: "
                                          "np.asarray, np.array, NumPy indexing with it)",
                                          name=self._name))
        if frame.f_code.co_name == "tensor":  # a constant Tensor: eager work on it is frozen
            raise TypeError(FROZEN.format(what="tapegrad.tensor() of it (pass the batch "
                                          "itself: it is data already)", name=self._name))
        if dtype is not None and np.dtype(dtype) != self._array.dtype:
            raise TypeError(FROZEN.format(what=f"a cast to {np.dtype(dtype)}", name=self._name))
        view = self._array.copy() if copy else self._array.view()
        self._handed.append((view, self._k))
        return view

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if any(isinstance(x, Dispatching) for x in inputs + tuple(kwargs.get("out", ()))):
            return NotImplemented  # a tapegrad op: it takes the array as an operand
        raise TypeError(FROZEN.format(what=f"np.{ufunc.__name__} of it alone", name=self._name))

    def __array_function__(self, func, types, args, kwargs):
        if func in _METADATA:  # on an array of its shape and dtype that holds no data
            blank = np.broadcast_to(np.zeros((), self.dtype), self.shape)
            return func(*(blank if a is self else a for a in args), **kwargs)
        if any(issubclass(t, Dispatching) for t in types):
            return NotImplemented
        raise TypeError(FROZEN.format(what=f"np.{func.__name__} of it alone", name=self._name))

    def _refuse(self, *_, what="indexing, iterating or converting it"):
        raise TypeError(FROZEN.format(what=what, name=self._name))

    __getitem__ = __iter__ = __bool__ = __float__ = __int__ = __index__ = _refuse
    __setitem__ = __reduce__ = __reduce_ex__ = __copy__ = __deepcopy__ = _refuse

    def __getattr__(self, name):
        raise AttributeError(f"{self._name}.{name}: while record_loss records the step, "
                             f"{self._name} is a stand-in for each batch with only shape, "
                             f"ndim, size, dtype and len; "
                             + FROZEN.format(what="NumPy work", name=self._name))
