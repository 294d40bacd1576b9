"""A recorded array program replayed as one compiled call: the
straight-line kernel.

The step-by-step replay pays Python at every record: each one's rule is
called, its arrays allocated, its adjoint looked up and added (some 5-15 us
a record, so a softmax or a normalisation written by hand costs 100-250 us
a call on small arrays).  :func:`straight_line` compiles the program
instead, when it is made of

* tensor inputs (the program's, and those read from outside ``f``);
* elementwise records, in the fused groups of
  :func:`tapegrad.fusion.plan.plan` (one record alone is a group), their
  operands any mix of records, numbers and constant arrays of one layout;
  comparisons too (their masks, 1.0 and 0.0, select in ``np.where``);
* ``sum``, ``mean``, ``amax`` and ``amin`` over everything, over the last
  axis or over the first (``keepdims`` or not);
* ``matmul`` of two matrices (``X @ W``, ``h @ W2``, ``a @ b`` of two inputs),
  ``linear`` (``F.linear``, ``nn.Linear``), transposes of matrices (none
  where only products read them: BLAS reads the matrix as it lies) and
  reshapes;
* basic slices and integer indices that leave an array (``x[1:] - x[:-1]``,
  ``x[:, 0]``, ``x[::-1]``);
* ``cross_entropy`` (``F.cross_entropy``, ``nn.CrossEntropyLoss``), by the
  op's own row kernels, its labels read at every call; ``cumsum``, by its
  compiled rules over lanes (any op the table declares that way);
* in float64 programs, numbers of the scalar tape among the arrays: an
  element (``x[0, 1]``), ops of numbers (``x[0] * 2.0 + np.exp(x[1])``),
  a number in an elementwise op of arrays (``x * x[0]``), each one line of
  the kernel by the scalar op table's value and partial rules;
* any other array op (``log_softmax``, ``concatenate``, a fancy index, a
  sum over a middle axis...), run by the op table's own rules between two
  parts of the kernel (:mod:`tapegrad.replay.op_steps`): Python only at
  those records;

all of one float dtype, ending in one number.  One generated numba kernel
(:mod:`tapegrad.fusion.straight`, cached on disk as fused kernels are) then
computes every value into one buffer made once per thread, and every
adjoint into another, in reverse: no Python runs per record, and a call
allocates only the gradients it hands back.  Constant arrays (data, and
:func:`tapegrad.nn.record_loss`'s batches) are read afresh at every call;
numbers are part of the kernel.

Values are the step-by-step replay's: the same elementwise kernels, sums
in NumPy's order (pairwise along a row, row after row down a column), the
same extremum shares.  Products are BLAS's ``gemm`` called from the kernel
(:mod:`tapegrad.kernels.gemm`), which may sum in another order than
NumPy's ``matmul`` calls it: where a product is, results agree to
rounding.  Gradients add each term onto a zeroed adjoint, so a gradient
element the step-by-step sweep leaves at ``-0.0`` may come out ``0.0``.
Programs with Value inputs, numbers of the scalar tape among float32
arrays or read by an op of arrays (``tg.stack`` of Values), masks used as
data (guards), two dtypes, or an output that is not one number keep the
step-by-step replay, as do debug mode, forward mode and Hessian-vector
products.

>>> import numpy as np, tapegrad as tg
>>> def entropy(x):
...     e = np.exp(x - x.max())
...     p = e / e.sum()
...     return (p * np.log(p)).sum()
>>> rec = tg.record(entropy, tg.tensor(np.zeros(3)))
>>> kernel = rec.program.straight.kernel()  # compiled now, not after a second of replays
>>> value, grad = rec.value_and_grad(np.array([0.0, 1.0, 2.0]))
>>> round(value, 6), bool(abs(grad.sum()) < 1e-12)
(-0.832396, True)
"""

import threading

import numba
import numpy as np

from tapegrad.core import debug
from tapegrad.fusion import cache
from tapegrad.fusion.straight import straight_imports, straight_source
from tapegrad.replay.straight_steps import Refused, Steps


#: Seconds of step-by-step replays a program pays before its kernel is
#: compiled, per four functions of the kernel (its main function, each
#: group's forward kernel and VJP): numba compiles one in a quarter to half
#: a second, once per machine; a kernel already in the disk cache is loaded
#: at the first call.
COMPILE_AFTER_S = 1.0


def straight_line(program, prog, whole):
    """The :class:`StraightLine` of ``program`` (an ArrayProgram whose
    snapshot is ``prog``, fused as ``whole``: groups of one record too),
    or None when it is not of that shape."""
    try:
        return StraightLine(program, Steps(program, prog, whole))
    except Refused:
        return None


class StraightLine:
    """The compiled replay of one program (see the module's docstring)."""

    def __init__(self, program, steps):
        for name in ("dtype", "n_leaves", "constants", "labels", "numbers", "leaf_shapes",
                     "leaves", "inputs", "op_steps", "op_vjps", "gemm", "size", "functions"):
            setattr(self, name, getattr(steps, name))
        self._parts = steps.parts
        dtype = self.dtype
        self._source = None
        self._kernel = None
        self.spent, self._looked = 0.0, False  # seconds of step-by-step replays so far
        self._local = threading.local()
        self._checked = list(self.leaf_shapes.items())
        self._shapes = [self.leaf_shapes[l] for l in self.leaves]
        self._nothing = [np.empty((0,) * len(shape), dtype)  # the G{l} of no gradient
                         for shape in self._shapes]
        self._every = self.leaves == list(range(self.n_leaves))
        self._reads = bool(self.constants or self.labels)
        inputs = len(program._tensor_slots)  # quick's: every input has a gradient
        self._inputs_read = inputs if set(range(inputs)) <= set(self.leaves) else 0

    # --- calls ------------------------------------------------------------------

    @property
    def source(self):
        """The kernel's source (:func:`tapegrad.fusion.straight.straight_source`),
        written at its first use."""
        if self._source is None:
            self._source = straight_source(*self._parts)
            self._imports = straight_imports(self._parts[0])
        return self._source

    def kernel(self):
        """The compiled kernel (loaded, or compiled, now)."""
        if self._kernel is None:
            self._kernel = cache.load(self.source, "straight", self._imports)
        return self._kernel

    def ready(self):
        """Whether calls run the kernel: once it is compiled, or loaded from
        the disk cache, or once the step-by-step replays it would replace
        have cost about as much as compiling it (:data:`COMPILE_AFTER_S`;
        never without the JIT, where the kernel is plain Python)."""
        if self._kernel is not None:
            return True
        if numba.config.DISABLE_JIT:
            return False
        worth = self.spent >= COMPILE_AFTER_S * max(1.0, self.functions / 4)
        if worth or (not self._looked and cache.on_disk(self.source, self._imports)):
            self.kernel()
            return True
        self._looked = True  # in the disk cache: looked for once
        return False

    def _read(self, params, arrays):
        """Append the constant arrays and labels in ``params`` to ``arrays``;
        False where one is not as recorded."""
        for i, k, shape in self.constants:
            c = params[i]["constants"][k]
            if not isinstance(c, np.ndarray) or c.shape != shape:
                return False
            arrays.append(np.ascontiguousarray(c, self.dtype))
        for i, rows in self.labels:
            y = params[i]["labels"]
            if type(y) is not np.ndarray or y.shape != (rows,) or y.dtype.kind not in "iu":
                return False
            arrays.append(np.ascontiguousarray(y, np.int64))
        return True

    def run(self, leaves, params, seed=1.0, want=True):
        """``(value, grads)`` at the leaves' arrays (by leaf index) and the
        constant arrays in ``params`` (the thread's record params): each
        leaf's gradient times ``seed`` (a fresh array, None for one the
        output does not read), or no gradients unless ``want``.  None where
        a leaf or a constant is not as recorded (the step-by-step replay
        says what is wrong), and None before the kernel is :meth:`ready`."""
        kernel = self._kernel
        if kernel is None:
            if not self.ready():
                return None
            kernel = self._kernel
        dtype = self.dtype
        for leaf, shape in self._checked:
            a = leaves[leaf]
            if a.__class__ is not np.ndarray or a.shape != shape or not a.flags.c_contiguous \
                    or (a.dtype is not dtype and a.dtype != dtype):
                return None
        arrays = [leaves[l] for l in self.inputs]
        if self._reads and not self._read(params, arrays):
            return None
        try:
            values, adjoints = self._local.buffers
        except AttributeError:
            values, adjoints = self._local.buffers = (np.zeros(self.size, dtype),
                                                      np.zeros(self.size, dtype))
        grads = [np.empty(shape, dtype) for shape in self._shapes] if want else self._nothing
        if self.op_steps:
            value = self._in_parts(kernel, arrays, values, adjoints, grads, seed, want,
                                   leaves, params)
        else:
            value = float(kernel(*arrays, values, adjoints, *grads, seed, self.gemm, want, 0))
        if not want:
            return value, None
        if self._every:
            return value, grads
        out = [None] * self.n_leaves
        for l, g in zip(self.leaves, grads):
            out[l] = g
        return value, out

    def _in_parts(self, kernel, arrays, values, adjoints, grads, seed, want, leaves, params):
        """The kernel's parts, each op step between two (see :meth:`run`)."""
        gemm = self.gemm
        for part, step in enumerate(self.op_steps):
            kernel(*arrays, values, adjoints, *grads, seed, gemm, False, part)
            step.forward(values, leaves, params)
        last = len(self.op_steps)
        value = float(kernel(*arrays, values, adjoints, *grads, seed, gemm, want, last))
        if want:
            for part, step in enumerate(self.op_vjps, last + 1):
                step.backward(values, adjoints, leaves, grads, params)
                kernel(*arrays, values, adjoints, *grads, seed, gemm, True, part)
        return value

    def quick(self, program, x):
        """``program.value_and_grad(x)`` the short way, for ``x`` NumPy
        arrays only (one, or a tuple or list as recorded), each read by the
        output; None for any other ``x``, in debug mode, or where :meth:`run`
        gives None."""
        kind = program._tensors_only
        if kind == "tensor":
            if x.__class__ is not np.ndarray:
                return None
            leaves = [x]
        elif x.__class__ is kind and len(x) == self._inputs_read:
            leaves = [*x]  # (each checked by run)
        else:
            return None
        if not self._inputs_read or debug.enabled():
            return None
        if program._extra_tensors:
            leaves += [leaf._v for leaf in program._extra_tensors]
        ran = self.run(leaves, program._here().params)
        if ran is None:
            return None
        value, grads = ran
        return value, grads[0] if kind == "tensor" else kind(grads[:self._inputs_read])


