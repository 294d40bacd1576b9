"""What a straight-line kernel computes (:mod:`tapegrad.replay.straight`):
a recorded array program read into steps, each record's place in the
kernel's buffers, the leaves, constants and labels it reads, and which
steps a gradient reaches.  :class:`Steps` raises :class:`Refused` for a
program of any other shape; :func:`tapegrad.fusion.straight.straight_source`
writes the kernel from them.

>>> import numpy as np, tapegrad as tg
>>> rec = tg.record(lambda x: (x[1:] * np.tanh(x[:-1])).max(), tg.tensor(np.ones(4)))
>>> [step[0] for step in Steps(rec.program, rec.program._program, rec.fusion).steps]
['getitem', 'getitem', 'group', 'reduce']
"""

import math

import numpy as np

from tapegrad.array.ops import ARRAY_BY_CODE, ARRAY_INPUT, ARRAY_OPS, ELEMENTWISE_BY_CODE
from tapegrad.array.reverse import arguments
from tapegrad.fusion.plan import Group
from tapegrad.fusion.straight import Places
from tapegrad.kernels.gemm import address
from tapegrad.ops import BY_CODE as SCALAR_BY_CODE
from tapegrad.replay.op_steps import OpStep

_REDUCTIONS = {ARRAY_OPS[name].code: name for name in ("sum", "mean", "amax", "amin")}
_MATMUL, _LINEAR = ARRAY_OPS["matmul"].code, ARRAY_OPS["linear"].code
_RESHAPE, _TRANSPOSE = ARRAY_OPS["reshape"].code, ARRAY_OPS["transpose"].code
_CROSS_ENTROPY, _GETITEM = ARRAY_OPS["cross_entropy"].code, ARRAY_OPS["getitem"].code
_ITEM = ARRAY_OPS["item"].code


#: The most functions a kernel is made of (its main function, each group's
#: forward kernel and VJP), and the most steps: numba compiles each function
#: in about half a second, so a longer program keeps the step-by-step replay
#: rather than stall a minute.
MOST_FUNCTIONS, MOST_STEPS = 64, 200


class Refused(Exception):
    """The program is not of the kernel's shape."""


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



class Steps:
    """The steps of one program (an ArrayProgram ``program`` whose snapshot
    is ``prog``, fused as ``whole``: groups of one record too), in record
    order (``steps``; the forms are :func:`tapegrad.fusion.straight.straight_source`'s),
    those a gradient reaches (``live``), and the leaves it reaches (``leaves``)."""

    def __init__(self, program, prog, whole):
        if program._out_shape != () or program._out_record < 0 or program._mask_guards \
                or len(program._scalar_slots):
            raise Refused()
        self._numbers_of = {i for i in prog.array_records  # an element: a number of the tape
                            if ARRAY_BY_CODE.get(int(prog.op[i])) is not None
                            and ARRAY_BY_CODE[int(prog.op[i])].scalar_output}
        if any(not isinstance(prog.arrays.get(i), np.ndarray) for i in prog.array_records
               if i not in self._numbers_of):
            raise Refused()
        groups = whole.group_of if whole is not None else {}
        masks = {i for i in prog.array_records if i not in groups  # comparisons: 1.0 or 0.0
                 and int(prog.op[i]) in ELEMENTWISE_BY_CODE}
        if 1 + len({id(g) for g in groups.values()}) + len(masks) > MOST_FUNCTIONS:
            raise Refused()  # (at least a forward kernel each)
        dtypes = {prog.arrays[i].dtype for i in prog.array_records if i not in self._numbers_of}
        if len(dtypes) != 1 or next(iter(dtypes)) not in (np.float64, np.float32):
            raise Refused()
        self.dtype = dtype = next(iter(dtypes))
        arrays = set(prog.array_records)
        self._numbers_of.update(i for i in range(len(prog.op)) if i not in arrays)
        if self._numbers_of and dtype != np.float64:  # (the scalar tape's numbers are float64)
            raise Refused()
        self.n_leaves = len(program._tensor_slots) + len(program._extra_tensors)
        places = Places(dtype.name)
        self.constants = []  # (record, position, shape) of each constant array K{j}
        self.labels = []  # (record, rows) of each cross entropy's labels Y{j}
        self.numbers = set()  # (record, position) of the numbers written into the kernel
        self.leaf_shapes = {}  # leaf -> its recorded shape
        steps = []
        self.aliases = {}  # a reshape -> the record whose elements it is
        self.turned = {}  # a transpose only products read -> the matrix it turns
        self._read_by = read_by = {}  # record -> the codes of the records reading it
        for i in prog.array_records:
            if int(prog.op[i]) != ARRAY_INPUT:
                for a in arguments(prog, i)[0]:
                    read_by.setdefault(a, set()).add(int(prog.op[i]))
        self._natives = {_MATMUL: self._product, _LINEAR: self._linear,
                         _RESHAPE: self._reshape, _TRANSPOSE: self._transpose,
                         _GETITEM: self._getitem, _ITEM: self._item,
                         _CROSS_ENTROPY: self._cross_entropy,
                         **{code: self._reduction for code in _REDUCTIONS},
                         **{op.code: self._lanes for op in ARRAY_OPS.values() if op.lanes}}
        for i in range(len(prog.op)):
            step = self._step(program, prog, i, groups, masks, places, len(steps))
            if step is not None:
                steps.append(step)
                if len(steps) > MOST_STEPS:
                    raise Refused()
        out = program._out_record
        if places.at.get(out, (("leaf",),))[0][0] != "buffer":
            raise Refused()
        products = [step for step in steps if step[0] in ("product", "linear", "cross_entropy")]
        multiplies = any(step[0] != "cross_entropy" for step in products)
        self.gemm = address(dtype) if multiplies else 0
        if multiplies and not self.gemm:
            raise Refused()
        scratch = places.size
        places.size += max([_scratch(step) for step in products], default=0)
        live, self.leaves = _live(steps, places, out, self.aliases)
        self.op_steps = [step[2] for step in steps if step[0] == "op"]
        self.op_vjps = [step[2] for step in reversed(live) if step[0] == "op"]
        for step in self.op_steps:
            step.gradient_of = {l: k for k, l in enumerate(self.leaves)}
        reached = {id(step) for step in live}
        self.functions = 1 + sum(1 + (id(step) in reached) for step in steps if step[0] == "group")
        if self.functions > MOST_FUNCTIONS or len(steps) > MOST_STEPS:
            raise Refused()
        self.size, self.places, self.steps, self.live = places.size, places, steps, live
        self.inputs = sorted(self.leaf_shapes)
        self.parts = (steps, live, places, self.inputs, self.leaves, len(self.constants),
                      len(self.labels), out, scratch)  # straight_source's arguments

    def _step(self, program, prog, i, groups, masks, places, j):
        """Record ``i``'s step (None for a leaf, a group's member before its
        last, a reshape and a transpose only products read); ``j``: the
        number of steps so far."""
        code = int(prog.op[i])
        if code in SCALAR_BY_CODE:
            return self._number(prog, i, places)
        if code == ARRAY_INPUT:
            leaf = int(prog.arg0[i])
            if not 0 <= leaf < self.n_leaves or leaf in self.leaf_shapes:
                raise Refused()
            self.leaf_shapes[leaf] = prog.arrays[i].shape
            places.at[i] = ("leaf", leaf), prog.arrays[i].size
            return None
        if i in groups:
            return self._group(prog, groups[i], j, places) if groups[i].members[-1] == i else None
        if i in masks:  # a group of its own, read only by elementwise records
            if not self._read_by.get(i, set()) <= set(ELEMENTWISE_BY_CODE) \
                    or i == program._out_record or prog.arrays[i].size == 0:
                raise Refused()
            return self._group(prog, Group(prog, [i], {i}, {}), j, places)
        if code in ARRAY_BY_CODE and not self._numbers_of.isdisjoint(arguments(prog, i)[0]):
            raise Refused()  # (an op of arrays reading a number: ``tg.stack`` of Values)
        if code in self._natives:
            try:
                return self._natives[code](prog, i, places)
            except Refused:  # (a sum over a middle axis, a batched product...)
                pass
        if code in ARRAY_BY_CODE:
            return self._op_step(prog, i, code, places)
        raise Refused()

    def _operands(self, prog, i, args, places):
        """Each of ``args`` (of record ``i``) as a record, or a constant array
        ``("constant", i, k)`` (not yet given a place: :meth:`_constant`)."""
        operands = []
        for k, a in enumerate(args):
            if a < 0:
                a = _constant_key(prog, i, k)
            elif a not in places.at:
                raise Refused()
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
            raise Refused()
        externals = []
        for k, source in enumerate(group.sources):
            layout = group.layout.get(k)
            if source[0] == "record":
                if source[1] not in places.at:
                    raise Refused()
                if layout is not None:
                    externals.append(("record", source[1], layout[0]))
                elif source[1] in self._numbers_of:
                    externals.append(("scalar", source[1], (1,)))
                else:
                    raise Refused()
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

    def _number(self, prog, i, places):
        """A record of the scalar tape (an op of numbers: of elements, of
        reductions' results...): one line of the kernel, by the op's rules."""
        op = SCALAR_BY_CODE[int(prog.op[i])]
        if op.name in ("input", "branch"):  # (a Value input; a guard)
            raise Refused()
        operands = []
        for a in (int(prog.arg0[i]), int(prog.arg1[i]))[:op.arity]:
            if a < 0:
                operands.append(("number", float(prog.const[i])))
            elif a in self._numbers_of and a in places.at:
                operands.append(("record", a))
            else:
                raise Refused()
        places.buffer(i, 1)
        return ("scalar", i, op.name, tuple(operands))

    def _reduction(self, prog, i, places):
        name, params = _REDUCTIONS[int(prog.op[i])], prog.params[i]
        (a,), _ = arguments(prog, i)
        if a < 0 or a not in places.at:
            raise Refused()
        shape = prog.arrays[a].shape
        reduced = _reduced(shape, params["axis"])
        if reduced is None:
            raise Refused()
        form, shape2d = reduced
        places.buffer(i, prog.arrays[i].size)
        return ("reduce", name, i, a, form, shape2d, math.prod(shape) // prog.arrays[i].size)

    def _lanes(self, prog, i, places):
        """An op declared by compiled rules over lanes (``cumsum``): the
        kernel calls those rules."""
        (a,), _ = arguments(prog, i)
        if a < 0 or a not in places.at:
            raise Refused()
        op = ARRAY_BY_CODE[int(prog.op[i])]
        lanes, forward, backward = op.lanes
        places.buffer(i, prog.arrays[i].size)
        return ("lanes", i, a, lanes(prog.arrays[a].shape, prog.params[i]), forward, backward)

    def _product(self, prog, i, places):
        """``a @ b`` of two matrices; an operand that is a transpose only
        products read is read as it lies, BLAS transposing it."""
        args, _ = arguments(prog, i)
        args = [self.turned.get(a, a) for a in args]
        operands = self._operands(prog, i, args, places)
        turns = [a != b for a, b in zip(args, arguments(prog, i)[0])]
        shapes = [_shape_of(prog, a) for a in operands]
        if any(len(shape) != 2 for shape in shapes):
            raise Refused()
        (m, k), (k2, n) = (shape[::-1] if turned else shape
                           for shape, turned in zip(shapes, turns))
        if k != k2:
            raise Refused()
        for a in operands:
            self._constant(prog, a, places)
        places.buffer(i, m * n)
        return ("product", i, *operands, (m, k, n), tuple(turns))

    def _linear(self, prog, i, places):
        """``x @ w.T + b`` of a matrix ``x`` (a record or data), a weight
        ``w`` and a bias of one row."""
        args, _ = arguments(prog, i)
        if len(args) != 3:
            raise Refused()
        operands = self._operands(prog, i, args, places)
        x, w, b = (_shape_of(prog, r) for r in operands)
        if len(x) != 2 or len(w) != 2 or x[1] != w[1] or b not in ((w[0],), (1, w[0])):
            raise Refused()
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
            raise Refused()
        rows, classes = prog.arrays[a].shape
        places.buffer(i, 1)
        places.buffer(("lse", i), rows)
        self.labels.append((i, rows))
        return ("cross_entropy", i, a, (rows, classes), len(self.labels) - 1)

    def _reshape(self, prog, i, places):
        """The same elements: no step, its values and adjoints the operand's."""
        (a,), _ = arguments(prog, i)
        if a not in places.at:
            raise Refused()
        places.at[i] = places.at[a]
        self.aliases[i] = a
        return None

    def _transpose(self, prog, i, places):
        """A matrix's transpose: no step where only products read it (they
        read ``a`` as it lies, BLAS transposing it), else its own copy."""
        (a,), _ = arguments(prog, i)
        axes = prog.params[i]["axes"]
        if a not in places.at or prog.arrays[a].ndim != 2 or axes not in (None, (1, 0), [1, 0]):
            raise Refused()
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
                or prog.arrays[i].size == 0:
            raise Refused()
        places.buffer(i, prog.arrays[i].size)
        return ("getitem", i, a, prog.arrays[a].shape, index, prog.arrays[i].shape)

    def _item(self, prog, i, places):
        """``a[index]``, an integer per axis: a number of the tape."""
        (a,), _ = arguments(prog, i)
        index = prog.params[i]["index"]
        if a < 0 or a not in places.at or not _elementwise_index(index, prog.arrays[a].ndim):
            raise Refused()
        places.buffer(i, 1)
        shape = prog.arrays[a].shape
        return ("element", i, a, shape or (1,), _index_source(index, len(shape)) if shape else "0")

    def _op_step(self, prog, i, code, places):
        """A record of any other op: run by its own rules between two parts
        of the kernel (:mod:`tapegrad.replay.op_steps`)."""
        args, _ = arguments(prog, i)
        if i in self._numbers_of or any(a >= 0 and a not in places.at for a in args):
            raise Refused()
        places.buffer(i, prog.arrays[i].size)
        shapes = [prog.arrays[a].shape if a >= 0 else None for a in args]
        return ("op", i, OpStep(i, ARRAY_BY_CODE[code], args, shapes, prog.arrays[i].shape,
                                places))


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


def _elementwise_index(index, ndim):
    """Whether ``index`` is one integer per axis of an array of ``ndim``."""
    parts = index if isinstance(index, tuple) else (index,)
    return len(parts) == ndim and all(isinstance(p, (int, np.integer))
                                      and not isinstance(p, (bool, np.bool_)) for p in parts)


def _constant_key(prog, i, k):
    """``("constant", i, k)``: constant ``k`` of record ``i``, an array."""
    value = prog.params[i]["constants"][k]
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        raise Refused()
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
                  if group.spec.grads[k] and e[0] in ("record", "scalar"))
        elif kind == "reduce":
            if step[2] not in reached:
                continue
            reach([step[3]])
        else:  # any other step: its record, its operands
            if step[1] not in reached:
                continue
            reach([a for a in step[2].args if a >= 0] if kind == "op" else
                  [a for form, a in step[3] if form == "record"] if kind == "scalar" else
                  {"product": step[2:4], "linear": step[2:5], "transpose": step[2:3],
                   "cross_entropy": step[2:3], "getitem": step[2:3], "lanes": step[2:3],
                   "element": step[2:3]}[kind])
        live.append(step)
    live.reverse()
    leaves = sorted({places.at[r][0][1] for r in reached if places.at[r][0][0] == "leaf"})
    return live, leaves

