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
  op's own row kernels, its labels read at every call;

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
Programs of any other shape keep the step-by-step replay, as do debug
mode, forward mode and Hessian-vector products.

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

import math
import threading

import numba
import numpy as np

from tapegrad.array.ops import ARRAY_BY_CODE, ARRAY_INPUT, ARRAY_OPS, ELEMENTWISE_BY_CODE
from tapegrad.array.reverse import arguments
from tapegrad.core import debug
from tapegrad.fusion import cache
from tapegrad.fusion.plan import Group
from tapegrad.fusion.straight import IMPORTS, Places, straight_source
from tapegrad.kernels.gemm import address
from tapegrad.replay.op_steps import OpStep

_REDUCTIONS = {ARRAY_OPS[name].code: name for name in ("sum", "mean", "amax", "amin")}
_MATMUL, _LINEAR = ARRAY_OPS["matmul"].code, ARRAY_OPS["linear"].code
_RESHAPE, _TRANSPOSE = ARRAY_OPS["reshape"].code, ARRAY_OPS["transpose"].code
_CROSS_ENTROPY, _GETITEM = ARRAY_OPS["cross_entropy"].code, ARRAY_OPS["getitem"].code


#: Seconds of step-by-step replays a program pays before its kernel is
#: compiled (a compile costs about that, once per machine: a kernel already
#: in the disk cache is loaded at the first call).
COMPILE_AFTER_S = 1.0


class _Refused(Exception):
    """The program is not of the kernel's shape."""


def straight_line(program, prog, whole):
    """The :class:`StraightLine` of ``program`` (an ArrayProgram whose
    snapshot is ``prog``, fused as ``whole``: groups of one record too),
    or None when it is not of that shape."""
    try:
        return StraightLine(program, prog, whole)
    except _Refused:
        return None


def _reduced(shape, axis):
    """``(form, 2-D shape)`` of a reduction of an array of ``shape`` over
    ``axis`` (None, an int or a tuple), or None where it is neither rows
    nor columns."""
    ndim, size = len(shape), math.prod(shape)
    if size == 0:
        return None
    axes = set(range(ndim)) if axis is None else {
        a % ndim if ndim else a for a in (axis if isinstance(axis, tuple) else (axis,))}
    if axes == set(range(ndim)):
        return "rows", (1, size)
    if axes == {ndim - 1}:
        return "rows", (size // shape[-1], shape[-1])
    if axes == {0}:
        return "columns", (shape[0], size // shape[0])
    return None


class StraightLine:
    """The compiled replay of one program (see the module's docstring)."""

    def __init__(self, program, prog, whole):
        if program._out_shape != () or program._out_record < 0 or program._mask_guards \
                or len(program._scalar_slots) or len(prog.array_records) != len(prog.op):
            raise _Refused()
        if any(not isinstance(prog.arrays.get(i), np.ndarray) for i in prog.array_records):
            raise _Refused()
        groups = whole.group_of if whole is not None else {}
        masks = {i for i in prog.array_records if i not in groups  # comparisons: 1.0 or 0.0
                 and int(prog.op[i]) in ELEMENTWISE_BY_CODE}
        dtypes = {prog.arrays[i].dtype for i in prog.array_records}
        if len(dtypes) != 1 or next(iter(dtypes)) not in (np.float64, np.float32):
            raise _Refused()
        self.dtype = dtype = next(iter(dtypes))
        self.n_leaves = len(program._tensor_slots) + len(program._extra_tensors)
        places = Places(dtype.name)
        self.constants = []  # (record, position, shape) of each constant array K{j}
        self.labels = []  # (record, rows) of each cross entropy's labels Y{j}
        self.numbers = set()  # (record, position) of the numbers written into the kernel
        self.leaf_shapes = {}  # leaf -> its recorded shape
        steps = []
        natives = {_MATMUL: self._product, _LINEAR: self._linear, _RESHAPE: self._reshape,
                   _TRANSPOSE: self._transpose, _GETITEM: self._getitem,
                   _CROSS_ENTROPY: self._cross_entropy,
                   **{code: self._reduction for code in _REDUCTIONS}}
        self.aliases = {}  # a reshape -> the record whose elements it is
        self.turned = {}  # a transpose only products read -> the matrix it turns
        self._read_by = read_by = {}  # record -> the codes of the records reading it
        for i in prog.array_records:
            if int(prog.op[i]) != ARRAY_INPUT:
                for a in arguments(prog, i)[0]:
                    read_by.setdefault(a, set()).add(int(prog.op[i]))
        for i in prog.array_records:
            code = int(prog.op[i])
            if code == ARRAY_INPUT:
                leaf = int(prog.arg0[i])
                if not 0 <= leaf < self.n_leaves or leaf in self.leaf_shapes:
                    raise _Refused()
                self.leaf_shapes[leaf] = prog.arrays[i].shape
                places.at[i] = ("leaf", leaf), prog.arrays[i].size
            elif i in groups:
                if groups[i].members[-1] == i:
                    steps.append(self._group(prog, groups[i], len(steps), places))
            elif i in masks:  # a group of its own, read only by elementwise records
                if not read_by.get(i, set()) <= set(ELEMENTWISE_BY_CODE) or i == program._out_record \
                        or prog.arrays[i].size == 0:
                    raise _Refused()
                steps.append(self._group(prog, Group(prog, [i], {i}, {}), len(steps), places))
            elif code in natives:
                try:
                    step = natives[code](prog, i, places)
                except _Refused:  # (a sum over a middle axis, a batched product...)
                    step = self._op_step(prog, i, code, places)
                if step is not None:
                    steps.append(step)
            elif code in ARRAY_BY_CODE:
                steps.append(self._op_step(prog, i, code, places))
            else:
                raise _Refused()
        out = program._out_record
        if places.at.get(out, (("leaf",),))[0][0] != "buffer":
            raise _Refused()
        products = [step for step in steps if step[0] in ("product", "linear", "cross_entropy")]
        multiplies = any(step[0] != "cross_entropy" for step in products)
        self.gemm = address(dtype) if multiplies else 0
        if multiplies and not self.gemm:
            raise _Refused()
        scratch = places.size
        places.size += max([_scratch(step) for step in products], default=0)
        live, self.leaves = _live(steps, places, out, self.aliases)
        self.op_steps = [step[2] for step in steps if step[0] == "op"]
        self.op_vjps = [step[2] for step in reversed(live) if step[0] == "op"]
        for step in self.op_steps:
            step.gradient_of = {l: k for k, l in enumerate(self.leaves)}
        self.size, self.places = places.size, places
        self.inputs = sorted(self.leaf_shapes)
        self._parts = (steps, live, places, self.inputs, self.leaves, len(self.constants),
                       len(self.labels), out, scratch)
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

    def _operands(self, prog, i, args, places):
        """Each of ``args`` (of record ``i``) as a record, or a constant array
        ``("constant", i, k)`` (not yet given a place: :meth:`_constant`)."""
        operands = []
        for k, a in enumerate(args):
            if a < 0:
                a = _constant_key(prog, i, k)
            elif a not in places.at:
                raise _Refused()
            operands.append(a)
        return operands

    def _constant(self, prog, key, places):
        """Give the constant array ``key`` (from :meth:`_operands`) its place
        ``K{j}``, once the step that reads it is sure."""
        if isinstance(key, tuple) and key not in places.at:
            _, i, k = key
            shape = np.shape(prog.params[i]["constants"][k])
            places.at[key] = ("constant", len(self.constants)), math.prod(shape)
            self.constants.append((i, k, shape))

    def _group(self, prog, group, j, places):
        if any(copied for *_, copied in group.layout.values()):
            raise _Refused()
        externals = []
        for k, source in enumerate(group.sources):
            layout = group.layout.get(k)
            if source[0] == "record":
                if layout is None or source[1] not in places.at:
                    raise _Refused()
                externals.append(("record", source[1], layout[0]))
            elif layout is None:  # a number
                _, m, position = source
                self.numbers.add((m, position))
                externals.append(("number", prog.params[m]["constants"][position]))
            else:
                _, m, position = source
                key = _constant_key(prog, m, position)
                self._constant(prog, key, places)
                externals.append(("array", key, layout[0]))
        for o in group.outputs:
            places.buffer(o, group.R * group.C)
        return ("group", j, group, externals)

    def _reduction(self, prog, i, places):
        name, params = _REDUCTIONS[int(prog.op[i])], prog.params[i]
        (a,), _ = arguments(prog, i)
        if a < 0 or a not in places.at:
            raise _Refused()
        shape = prog.arrays[a].shape
        reduced = _reduced(shape, params["axis"])
        if reduced is None:
            raise _Refused()
        form, shape2d = reduced
        places.buffer(i, prog.arrays[i].size)
        return ("reduce", name, i, a, form, shape2d, math.prod(shape) // prog.arrays[i].size)

    def _product(self, prog, i, places):
        """``a @ b`` of two matrices; an operand that is a transpose only
        products read is read as it lies, BLAS transposing it."""
        args, _ = arguments(prog, i)
        args = [self.turned.get(a, a) for a in args]
        operands = self._operands(prog, i, args, places)
        turns = [a != b for a, b in zip(args, arguments(prog, i)[0])]
        shapes = [_shape_of(prog, a) for a in operands]
        if any(len(shape) != 2 for shape in shapes):
            raise _Refused()
        (m, k), (k2, n) = (shape[::-1] if turned else shape
                           for shape, turned in zip(shapes, turns))
        if k != k2:
            raise _Refused()
        for a in operands:
            self._constant(prog, a, places)
        places.buffer(i, m * n)
        return ("product", i, *operands, (m, k, n), tuple(turns))

    def _linear(self, prog, i, places):
        """``x @ w.T + b`` of a matrix ``x`` (a record or data), a weight
        ``w`` and a bias of one row."""
        args, _ = arguments(prog, i)
        if len(args) != 3:
            raise _Refused()
        operands = self._operands(prog, i, args, places)
        x, w, b = (_shape_of(prog, r) for r in operands)
        if len(x) != 2 or len(w) != 2 or x[1] != w[1] or b not in ((w[0],), (1, w[0])):
            raise _Refused()
        for a in operands:
            self._constant(prog, a, places)
        (m, k), n = x, w[0]
        places.buffer(i, m * n)
        return ("linear", i, *operands, (m, k, n))

    def _cross_entropy(self, prog, i, places):
        """``cross_entropy``'s record: the mean over rows of its logits'
        log-sum-exp less the labelled logit (labels read at every call)."""
        params = prog.params[i]
        (a,), _ = arguments(prog, i)
        labels = params.get("labels")
        if set(params) != {"labels", "constants", "lse"} or a not in places.at \
                or not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu" \
                or prog.arrays[a].ndim != 2 or labels.shape != prog.arrays[a].shape[:1]:
            raise _Refused()
        rows, classes = prog.arrays[a].shape
        places.buffer(i, 1)
        places.buffer(("lse", i), rows)
        self.labels.append((i, rows))
        return ("cross_entropy", i, a, (rows, classes), len(self.labels) - 1)

    def _reshape(self, prog, i, places):
        """The same elements: no step, its values and adjoints the operand's."""
        (a,), _ = arguments(prog, i)
        if a not in places.at:
            raise _Refused()
        places.at[i] = places.at[a]
        self.aliases[i] = a
        return None

    def _transpose(self, prog, i, places):
        """A matrix's transpose: no step where only products read it (they
        read ``a`` as it lies, BLAS transposing it), else its own copy."""
        (a,), _ = arguments(prog, i)
        axes = prog.params[i]["axes"]
        if a not in places.at or prog.arrays[a].ndim != 2 or axes not in (None, (1, 0), [1, 0]):
            raise _Refused()
        if self._read_by.get(i) == {_MATMUL}:
            self.turned[i] = a
            return None
        places.buffer(i, prog.arrays[a].size)
        return ("transpose", i, a, prog.arrays[a].shape)

    def _getitem(self, prog, i, places):
        """``a[index]`` of basic slices and integers: copied out; its VJP adds
        into the same part of ``a``'s adjoint."""
        (a,), _ = arguments(prog, i)
        index = _index_source(prog.params[i]["index"], prog.arrays[a].ndim) if a >= 0 else None
        if index is None or a not in places.at or prog.arrays[i].ndim == 0 \
                or prog.arrays[i].size == 0:  # (an element is a number of the tape)
            raise _Refused()
        places.buffer(i, prog.arrays[i].size)
        return ("getitem", i, a, prog.arrays[a].shape, index, prog.arrays[i].shape)

    def _op_step(self, prog, i, code, places):
        """A record of any other op: run by its own rules between two parts
        of the kernel (:mod:`tapegrad.replay.op_steps`)."""
        args, _ = arguments(prog, i)
        if any(a >= 0 and a not in places.at for a in args):
            raise _Refused()
        places.buffer(i, prog.arrays[i].size)
        shapes = [prog.arrays[a].shape if a >= 0 else None for a in args]
        return ("op", i, OpStep(i, ARRAY_BY_CODE[code], args, shapes, prog.arrays[i].shape,
                                places))

    # --- calls ------------------------------------------------------------------

    @property
    def source(self):
        """The kernel's source (:func:`tapegrad.fusion.straight.straight_source`),
        written at its first use."""
        if self._source is None:
            self._source = straight_source(*self._parts)
        return self._source

    def kernel(self):
        """The compiled kernel (loaded, or compiled, now)."""
        if self._kernel is None:
            self._kernel = cache.load(self.source, "straight", IMPORTS)
        return self._kernel

    def ready(self):
        """Whether calls run the kernel: once it is compiled, or loaded from
        the disk cache, or once the step-by-step replays it would replace
        have cost :data:`COMPILE_AFTER_S` (never without the JIT, where the
        kernel is plain Python)."""
        if self._kernel is not None:
            return True
        if numba.config.DISABLE_JIT:
            return False
        if self.spent >= COMPILE_AFTER_S or (not self._looked
                                             and cache.on_disk(self.source, IMPORTS)):
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


def _scratch(step):
    """The room a linear layer's (its bias's) or a cross entropy's VJP needs
    for a term before adding it (a product adds its terms itself)."""
    if step[0] == "cross_entropy":
        rows, classes = step[3]
        return rows * classes
    return step[5][2] if step[0] == "linear" else 0


def _index_source(index, ndim):
    """``index`` (of basic slices and integers, at most ``ndim``) as source
    text, or None for any other index."""
    parts = index if isinstance(index, tuple) else (index,)

    def integer(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

    texts = []
    for p in parts:
        if isinstance(p, slice) and all(v is None or integer(v)
                                        for v in (p.start, p.stop, p.step)):
            texts.append(":".join("" if v is None else str(int(v))
                                  for v in (p.start, p.stop, p.step)))
        elif integer(p):
            texts.append(str(int(p)))
        else:
            return None
    return ", ".join(texts) if 0 < len(parts) <= ndim else None


def _constant_key(prog, i, k):
    """``("constant", i, k)``: constant ``k`` of record ``i``, an array."""
    value = prog.params[i]["constants"][k]
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        raise _Refused()
    return ("constant", i, k)


def _shape_of(prog, record):
    """The recorded shape of ``record``, or of the constant ``("constant",
    i, k)``."""
    if isinstance(record, tuple):
        _, i, k = record
        return np.shape(prog.params[i]["constants"][k])
    return prog.arrays[record].shape


def _live(steps, places, out, aliases):
    """The steps whose values reach the output (their VJPs run), and the
    leaves a gradient reaches, in order."""
    reached, live = set(), []

    def reach(records):
        for r in records:
            while not isinstance(r, tuple):  # a constant reaches nothing
                reached.add(r)
                if r not in aliases:
                    break
                r = aliases[r]

    reach([out])
    for step in reversed(steps):
        kind = step[0]
        if kind == "group":
            group, externals = step[2], step[3]
            if reached.isdisjoint(group.outputs):
                continue
            reach(e[1] for k, e in enumerate(externals)
                  if group.spec.grads[k] and e[0] == "record")
        elif kind == "reduce":
            if step[2] not in reached:
                continue
            reach([step[3]])
        else:  # any other step: its record, its operands
            if step[1] not in reached:
                continue
            reach([a for a in step[2].args if a >= 0] if kind == "op" else
                  {"product": step[2:4], "linear": step[2:5], "transpose": step[2:3],
                   "cross_entropy": step[2:3], "getitem": step[2:3]}[kind])
        live.append(step)
    live.reverse()
    leaves = sorted({places.at[r][0][1] for r in reached if places.at[r][0][0] == "leaf"})
    return live, leaves
