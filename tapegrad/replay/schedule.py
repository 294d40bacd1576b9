"""Array replays compiled once, when ``record`` adopts the tape.

A replay of an :class:`~tapegrad.replay.array_program.ArrayProgram` that
decided at every call and for every record what to run and where its
arguments are (dict lookups, op-table dispatch) cost some 40-60 us of
Python per call even on ten numbers.  When the program is made, this
module decides it once:

* :func:`forward_steps`: the forward replay as steps, each record's rule
  with its arguments' places (the reverse sweep's counterpart is
  :class:`tapegrad.array.reverse.ReversePlan`), and :func:`direct_leaves`:
  tensor inputs read as they are when no copy is needed;
* :func:`whole_program` looks for the shape most vectorized code has, and
  compiles it into one call:

  :class:`WholeProgram`: the inputs (Tensors), basic slices of them that
  only one fused group reads (``x[1:]``, ``x[:-1]``), that group (one
  elementwise record is enough), the sum or mean of its one output, and
  any chain of one-number ops after it (``f`` returns the last): vectorized
  Rosenbrock, a weighted sum of squares, a log-likelihood of elementwise
  terms, ``np.sqrt((x * x).sum())``, ``log(exp(x).sum())``.  A value and
  gradient is one generated numba kernel (:mod:`tapegrad.fusion.whole`):
  one pass over the group's elements in the blocks of NumPy's pairwise
  sum, each element's members computed once from the inputs read in place
  (a slice is its leaf at an offset), each block summed as ``np.sum`` sums
  it, and each input's gradient written once per element into the array
  handed back.  After a mean or a tail, whose adjoint waits for the sum,
  the elements' reverse walks are a second pass.  Everything else (shapes,
  offsets, constants, which gradient takes which term) is resolved here,
  once.

Results are bit for bit those of the mixed sweeps (the same generated
element code, the same sum order, and each gradient element receives its
terms in an order whose rounding is the same: at most two terms onto a
zero; a mean and a tail are computed as NumPy and the op table compute
them on one number); the tests compare them on every program they build.
What does not fit (other ops, two sums, a sum over some axes, scalar
records, guards and masks, broadcast operands, a gradient element with
three or more terms) keeps the mixed sweeps, as do
forward mode, Hessian-vector products and debug mode, which need every
intermediate value.

>>> import numpy as np, tapegrad as tg
>>> def rosenbrock(x):
...     return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()
>>> rec = tg.record(rosenbrock, tg.tensor(np.zeros(4)))
>>> type(rec.program.schedule).__name__
'WholeProgram'
>>> rec.value_and_grad(np.ones(4))
(0.0, array([0., 0., 0., 0.]))
"""

import threading

import numpy as np

from tapegrad.array.ops import ARRAY_BY_CODE, ARRAY_INPUT, ARRAY_OPS, ELEMENTWISE_BY_CODE
from tapegrad.array.reverse import arguments
from tapegrad.array.tensor import Tensor
from tapegrad.fusion import cache
from tapegrad.fusion.plan import _same_slice
from tapegrad.fusion.whole import adds_in_place, whole_source

_SUM, _MEAN, _GETITEM = (ARRAY_OPS[name].code for name in ("sum", "mean", "getitem"))
_DIRECT, _VIEW = 0, 1
_SPAN, _LEAF, _GROUP, _ELEMENTWISE, _OP = range(5)  # the kinds of forward steps


def whole_program(program, prog, fusion):
    """The :class:`WholeProgram` of ``program`` (an ArrayProgram being made
    from the snapshot ``prog``, whose elementwise records ``fusion`` groups),
    or None when it is not one group summed."""
    if (fusion is None or program._out_record < 0
            or program._out_shape != () or program._mask_guards or len(program._extra)
            or len(program._extra_tensors) or len(program._scalar_slots)
            or len(prog.op) != len(prog.array_records)):
        return None
    tail, out = _tail(prog, program._out_record)
    params = prog.params[out]
    if (tail is None or int(prog.op[out]) not in (_SUM, _MEAN) or params.get("axis") is not None
            or params.get("keepdims")):
        return None
    groups = [g for g in fusion.groups if g.outputs == [int(prog.arg0[out])]]
    in_tail = {i for i, _, _ in tail}
    if len(groups) != 1 or any(not set(g.members) <= in_tail for g in fusion.groups
                               if g is not groups[0]):
        return None
    (group,) = groups
    if any(prog.arrays[i].dtype != group.dtype for i in [out, *in_tail]):
        return None  # a number of another dtype (float32 times np.float64(3.0) is float64)
    leaf_of = {i: int(prog.arg0[i]) for i in prog.array_records
               if int(prog.op[i]) == ARRAY_INPUT}
    views = {group.sources[k][1]: view for k, view in group.views.items()}
    slices = {_same_slice(view) for view in views.values() if view[0] in leaf_of}
    members = set(group.members) | in_tail
    for i in prog.array_records:
        if i == out or i in leaf_of or i in members:
            continue
        if int(prog.op[i]) != _GETITEM or int(prog.arg0[i]) not in leaf_of:
            return None  # another op
        index = prog.params[i]["index"]
        parts = index if isinstance(index, tuple) else (index,)
        if not all(isinstance(p, (slice, int)) for p in parts) or \
                _same_slice((int(prog.arg0[i]), index)) not in slices:
            return None  # not a basic slice, or one read outside the group (its own value)
    built = _build(program, group, leaf_of, views)
    if built is not None:
        built.finish(tail, int(prog.op[out]) == _MEAN)
    return built


def _tail(prog, last):
    """``(tail, reduction)``: the records from the one ``last`` reads back
    to the first that is not elementwise (the reduction), and the tail, per
    record after it ``(record, op name, operands)``: each operand ``"v"``
    (the record before) or a number; tail None where a record of it is not
    an elementwise op of one number and numbers."""
    tail, i = [], last
    while int(prog.op[i]) in ELEMENTWISE_BY_CODE:
        args, values = arguments(prog, i)
        records = [a for a in args if a >= 0]
        if len(records) != 1 or np.shape(prog.arrays.get(i)) != () \
                or any(np.ndim(v) for a, v in zip(args, values) if a < 0):
            return None, i
        operands = tuple("v" if a >= 0 else float(v) for a, v in zip(args, values))
        tail.append((i, ELEMENTWISE_BY_CODE[int(prog.op[i])].name, operands))
        i = records[0]
    return tail[::-1], i


def _build(program, group, leaf_of, views):
    """:class:`WholeProgram` for ``group``, or None where a gradient
    element would get three terms or more (whose order would matter)."""
    slots = program._tensor_slots
    reads, targets, modes, coverage = [], {}, {}, {}
    for k, source in enumerate(group.sources):
        layout = group.layout.get(k)
        if source[0] == "constant":
            value = program._program.params[source[1]]["constants"][source[2]]
            if layout is None:  # float64 goes as a Python float, which numba unboxes faster
                value = group.dtype.type(value)
                reads.append(("number", float(value) if group.dtype == np.float64 else value))
            else:  # an array constant, as the group's forward kernel reads it
                if layout[3]:
                    value = np.broadcast_to(value, group.shape)
                reads.append(("array", np.ascontiguousarray(value, dtype=group.dtype)
                              .reshape(-1)))
            continue
        if layout is None or layout[0] != (group.R, group.C) or layout[3]:
            return None  # a scalar record, or an operand broadcast to the group's shape
        a = source[1]
        if a in leaf_of:
            leaf, index, mode = leaf_of[a], None, _DIRECT
        elif k in group.views and views[a][0] in leaf_of:
            leaf, index, mode = leaf_of[views[a][0]], views[a][1], _VIEW
        else:
            return None
        _, size, shape, dtype = slots[leaf]
        if dtype != group.dtype or modes.setdefault(leaf, mode) != mode:
            return None  # another dtype, or a leaf read whole and through slices
        offset = 0
        if mode == _VIEW:
            flat = np.arange(size).reshape(shape)[index].reshape(-1)
            offset = int(flat[0]) if len(flat) else 0
            if len(flat) != group.R * group.C or not np.array_equal(
                    flat, np.arange(offset, offset + len(flat))):
                return None  # not one contiguous run of the leaf
        reads.append(("leaf", leaf, offset))
        if group.spec.grads[k]:
            count = coverage.setdefault(leaf, np.zeros(size, np.int64))
            count[offset:offset + group.R * group.C] += 1
            if count.max() > 2:
                return None
            targets.setdefault(leaf, []).append((k, offset))
    return WholeProgram(program, group, reads, targets, coverage)


def forward_steps(program, fused):
    """The forward replay of ``program`` (an ArrayProgram), decided once:
    per array record in order, ``(kind, ...)``: the scalar span before it,
    its leaf, its fused group (at the group's last member, ``fused``
    only), or its rule and its arguments' places (0: the arena, 1: the
    ``val`` column, 2: a constant), whether its value is an array, and the
    mask it must give again (a guard) or None."""
    prog = program._program
    groups = program.fusion.group_of if fused and program.fusion is not None else {}
    plan, start = [], 0
    for i in prog.array_records:
        if i > start:
            plan.append((_SPAN, start, i))
        start = i + 1
        code = int(prog.op[i])
        if code == ARRAY_INPUT:
            plan.append((_LEAF, i, int(prog.arg0[i]), prog.arrays[i].shape))
            continue
        if i in groups:
            if groups[i].members[-1] == i:
                plan.append((_GROUP, groups[i]))
            continue
        args, _ = arguments(prog, i)
        places = tuple((0, a) if a in prog.arrays else (1, a) if a >= 0 else (2, k)
                       for k, a in enumerate(args))
        rule = (ELEMENTWISE_BY_CODE[code].name if code in ELEMENTWISE_BY_CODE
                else ARRAY_BY_CODE[code].value)
        plan.append((_ELEMENTWISE if code in ELEMENTWISE_BY_CODE else _OP, i, rule, places,
                     i in prog.arrays, program._mask_guards.get(i)))
    if start < len(prog.op):
        plan.append((_SPAN, start, len(prog.op)))
    return plan


def direct_leaves(program, x):
    """The arrays of ``x``'s tensors as they are, when ``x`` (an argument
    of ``program``, an ArrayProgram) is made of tensors only (one, or a flat
    tuple or list of them, as recorded) and each is a C-contiguous array
    (or Tensor) of its recorded shape and dtype; then the leaves from
    outside ``f``.  Else None: the flattened copy, which checks ``x``, is
    what replays read (the same numbers)."""
    kind = program._tensors_only
    if kind is None:
        return None
    if kind == "tensor":
        if type(x) is np.ndarray and not program._extra_tensors:  # the common call, quickly
            (_, _, shape, dtype), = program._tensor_slots
            if (x.dtype is dtype or x.dtype == dtype) and x.shape == shape \
                    and x.flags.c_contiguous:
                return [x]
        items = (x,)
    elif type(x) is kind and len(x) == len(program._tensor_slots):
        items = x
    else:
        return None
    leaves = []
    for item, (_, _, shape, dtype) in zip(items, program._tensor_slots):
        a = item if type(item) is np.ndarray else item._v if isinstance(item, Tensor) else None
        if type(a) is not np.ndarray or a.shape != shape \
                or (a.dtype is not dtype and a.dtype != dtype) or not a.flags.c_contiguous:
            return None
        leaves.append(a)
    for leaf in program._extra_tensors:
        leaves.append(leaf._v)
    return leaves


class WholeProgram:
    """A program that is one fused group and the sum of its output, replayed
    by one kernel call (see the module docstring and
    :mod:`tapegrad.fusion.whole`).  Made by :func:`whole_program`: ``reads``
    says where each operand of the group is (a number, a constant array, or
    a leaf at an offset), ``targets`` which operands' gradients go to which
    leaf, and ``coverage`` how many terms each element of a leaf's gradient
    gets."""

    def __init__(self, program, group, reads, targets, coverage):
        self.structure = program.structure
        self._slots = program._tensor_slots
        self._leaf_values = program._leaf_values
        self._array_program = program
        self._spec = group.spec
        self._dtype = group.dtype
        self._N = group.R * group.C
        self._reads = [(read[0], read[1], read[2] if read[0] == "leaf" else 0)
                       for read in reads]
        self._constants = [read[1] for read in reads if read[0] != "leaf"]
        self._leaves = sorted({read[1] for read in reads if read[0] == "leaf"})
        self._flat = [len(self._slots[l][2]) != 1 for l in range(len(self._slots))]
        # The kernel reads every input, 1-D, in order: the leaves as they come.
        self._as_given = self._leaves == list(range(len(self._slots))) and not any(self._flat)
        self._targets = dict(sorted(targets.items()))  # the kernel's order of G{l}
        # A gradient that some element gets no term of, or that is added to, starts at zero.
        self._new_grads = [
            (np.zeros if l not in coverage or not coverage[l].all() or adds_in_place(targets[l])
             else np.empty, shape, dtype) for l, (_, _, shape, dtype) in enumerate(self._slots)]
        # float64 numbers go as Python floats, which numba unboxes faster.
        self._zero = 0.0 if group.dtype == np.float64 else group.dtype.type(0)
        self._local = threading.local()  # .scratch: the calling thread's buffer of N
        self._value_kernel = self._both_kernel = None
        self._tail, self._mean, self._numbers = (), False, []

    def finish(self, tail, mean):
        """Follow the sum with ``tail`` (:func:`_tail`'s), a mean if ``mean``:
        the tail's numbers are the kernel's arguments ``t0, t1, ...``."""
        numbers, steps = [], []
        for _, name, operands in tail:
            refs = []
            for o in operands:
                if o == "v":
                    refs.append("v")
                else:
                    refs.append(len(numbers))
                    numbers.append(o if self._zero.__class__ is float else self._dtype.type(o))
            steps.append((name, tuple(refs)))
        self._tail, self._mean, self._numbers = tuple(steps), mean, numbers

    def _kernels(self):
        if self._both_kernel is None:
            reads = [("leaf", l, offset) if kind == "leaf" else (kind,)
                     for kind, l, offset in self._reads]
            dtype, tail, mean = self._dtype.name, self._tail, self._mean
            self._value_kernel = cache.load(
                whole_source(self._spec, reads, self._targets, dtype, False, tail, mean),
                "whole_value")
            self._both_kernel = cache.load(
                whole_source(self._spec, reads, self._targets, dtype, True, tail, mean),
                "whole_value_and_grad")
        return self._value_kernel, self._both_kernel

    def _scratch(self):
        """The calling thread's buffer of the summed output's ``N`` values."""
        try:
            return self._local.scratch
        except AttributeError:
            scratch = self._local.scratch = np.empty(self._N, self._dtype)
            return scratch

    def _inputs(self, x):
        """The tensor inputs at ``x``, flat: its own arrays when they already
        are C-contiguous, of the recorded shapes and dtypes (what the mixed
        sweeps would read, without the copies), else the checked copies."""
        leaves = direct_leaves(self._array_program, x)
        if leaves is None:
            leaves = self._leaf_values(self.structure.flat_view(x))
        if self._as_given:
            return leaves
        flat = self._flat
        return [leaves[l].reshape(-1) if flat[l] else leaves[l] for l in self._leaves]

    def value(self, x):
        """``f(x)``."""
        kernel = self._value_kernel or self._kernels()[0]
        return float(kernel(*self._constants, *self._inputs(x), *self._numbers, self._scratch(),
                            self._zero, self._N))

    def value_and_vjp(self, x, seed):
        """``(f(x), [gradient of seed * f for each tensor input])``: new
        arrays, the caller's."""
        kernel = self._both_kernel or self._kernels()[1]
        grads = [new(shape, dtype) for new, shape, dtype in self._new_grads]
        flat = self._flat
        outs = [grads[l].reshape(-1) if flat[l] else grads[l] for l in self._targets]
        seed = float(seed) if self._zero.__class__ is float else self._dtype.type(seed)
        value = kernel(*self._constants, *self._inputs(x), *self._numbers, seed, *outs,
                       self._scratch(), self._zero, self._N)
        return float(value), grads
