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
  only one fused group reads (``x[1:]``, ``x[:-1]``), that group, and the
  sum of its one output, which ``f`` returns (vectorized Rosenbrock, a
  weighted sum of squares, a log-likelihood of elementwise terms).  A
  value and gradient is one generated numba kernel
  (:func:`tapegrad.fusion.source.value_and_grad_source`): one pass that
  computes each element's members once, stores the summed output's values
  in a scratch buffer of the calling thread's own, and writes each input's
  gradient straight into the array handed back (a slice's gradient
  through the same slice of it), then the sum in NumPy's own order
  (:func:`tapegrad.fusion.reduce.pairwise_sum`).  Everything else (shapes,
  layouts, constants, which buffer takes which gradient, whether it adds
  or stores) is resolved here, once.

Results are bit for bit those of the mixed sweeps (the same generated
element code, the same sum order, and each gradient element receives its
terms in an order whose rounding is the same: at most two terms onto a
zero); the tests compare them on every program they build.  What does not
fit (other ops, scalar records, guards and masks, broadcast operands, a
gradient element with three or more terms) keeps the mixed sweeps, as do
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
from tapegrad.fusion.source import value_and_grad_source, value_source

_SUM, _GETITEM = ARRAY_OPS["sum"].code, ARRAY_OPS["getitem"].code
_DIRECT, _VIEW, _CONSTANT, _APART = 0, 1, 2, 3
INLINE_LIMIT = 1 << 9  # elements up to which a second slice's gradient is added in place
_SPAN, _LEAF, _GROUP, _ELEMENTWISE, _OP = range(5)  # the kinds of forward steps


def whole_program(program, prog):
    """The :class:`WholeProgram` of ``program`` (an ArrayProgram being made
    from the snapshot ``prog``), or None when it is not one group summed."""
    fusion = program.fusion
    if (fusion is None or len(fusion.groups) != 1 or program._out_record < 0
            or program._out_shape != () or program._mask_guards or len(program._extra)
            or len(program._extra_tensors) or len(program._scalar_slots)
            or len(prog.op) != len(prog.array_records)):
        return None
    (group,) = fusion.groups
    out = program._out_record
    params = prog.params[out]
    if (int(prog.op[out]) != _SUM or params.get("axis") is not None or params.get("keepdims")
            or group.outputs != [int(prog.arg0[out])]):
        return None
    leaf_of = {i: int(prog.arg0[i]) for i in prog.array_records
               if int(prog.op[i]) == ARRAY_INPUT}
    views = {group.sources[k][1]: view for k, view in group.views.items()}
    slices = {_same_slice(view) for view in views.values() if view[0] in leaf_of}
    members = set(group.members)
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
    return _build(program, group, leaf_of, views)


def _build(program, group, leaf_of, views):
    """:class:`WholeProgram` for ``group``, or None where a gradient's terms
    would not meet in the mixed sweeps' order."""
    full = (group.R, group.C)
    slots = program._tensor_slots
    externals, grads, modes = [], [], {}
    coverage = {}  # leaf -> how many slices that want gradients cover each element
    for k, source in enumerate(group.sources):
        layout = group.layout.get(k)
        if source[0] == "constant":
            value = program._program.params[source[1]]["constants"][source[2]]
            if layout is None:
                value = group.dtype.type(value)
            else:  # an array constant, as the group's forward kernel reads it
                if layout[3]:
                    value = np.broadcast_to(value, group.shape)
                value = np.ascontiguousarray(value, dtype=group.dtype).reshape(layout[0])
            externals.append((_CONSTANT, value, None))
            continue
        if layout is None or layout[0] != full or layout[3]:
            return None  # a scalar record, or an operand broadcast to the group's shape
        a = source[1]
        if a in leaf_of:
            leaf, index, mode = leaf_of[a], None, _DIRECT
        elif k in group.views and views[a][0] in leaf_of:
            leaf, index, mode = leaf_of[views[a][0]], views[a][1], _VIEW
        else:
            return None
        _, _, shape, dtype = slots[leaf]
        if dtype != group.dtype or modes.setdefault(leaf, mode) != mode:
            return None  # another dtype, or a leaf read whole and through slices
        if mode == _VIEW:
            probe = np.zeros(shape, dtype)
            part = probe[index]
            if not part.flags.c_contiguous or part.size != group.R * group.C:
                return None
        externals.append((mode, leaf, index))
        if not group.spec.grads[k]:
            continue
        if mode == _VIEW and leaf in coverage:
            # A later slice of a leaf: the sweeps sum it apart and add it
            # after the kernel.  In float64 adding it in place gives the
            # same bits where an element gets two terms (0 + a + b), and
            # saves a pass; but overlapping slices added in place chain
            # each element's store to the next one's load, which costs
            # more than the pass on long arrays.
            count = coverage[leaf]
            count[index] += 1
            if dtype != np.float64 or count.max() > 2 or group.R * group.C > INLINE_LIMIT:
                mode = _APART
        elif mode == _VIEW:
            coverage[leaf] = np.zeros(shape, np.int64)
            coverage[leaf][index] += 1
        grads.append((mode, leaf, index))
    return WholeProgram(program, group, externals, grads, modes)


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
        items = (x,)
    elif type(x) is kind and len(x) == len(program._tensor_slots):
        items = x
    else:
        return None
    leaves = []
    for item, (_, _, shape, dtype) in zip(items, program._tensor_slots):
        a = item._v if isinstance(item, Tensor) else item
        if type(a) is not np.ndarray or a.dtype != dtype or a.shape != shape \
                or not a.flags.c_contiguous:
            return None
        leaves.append(a)
    for leaf in program._extra_tensors:
        leaves.append(leaf._v)
    return leaves


class WholeProgram:
    """A program that is one fused group and the sum of its output, replayed
    by one kernel call (see the module docstring).  Made by
    :func:`whole_program`; ``externals`` and ``grads`` say, per operand of
    the group and per operand that wants a gradient, ``(mode, leaf, index)``:
    a tensor input read whole, a slice ``index`` of one, or a constant
    (``leaf`` is then its value)."""

    def __init__(self, program, group, externals, grads, modes):
        self.structure = program.structure
        self._slots = program._tensor_slots
        self._leaf_values = program._leaf_values
        self._direct_leaves = program.direct_leaves
        self._group = group
        self._dtype = group.dtype
        self._R, self._C = group.R, group.C
        self._full = (group.R, group.C)
        self._externals = externals
        self._grads = grads
        self._acc = [mode == _VIEW for mode, _, _ in grads]
        self._apart = [k for k, (mode, _, _) in enumerate(grads) if mode == _APART]
        self._zeroed = [modes.get(k) != _DIRECT for k in range(len(self._slots))]
        self._zero = group.dtype.type(0)
        self._local = threading.local()  # .scratch: the calling thread's (R, C) buffer
        self._value_kernel = self._both_kernel = None

    def _kernels(self):
        if self._both_kernel is None:
            spec = self._group.spec
            self._value_kernel = cache.load(value_source(spec), "fused_value")
            self._both_kernel = cache.load(value_and_grad_source(spec), "fused_value_and_grad")
        return self._value_kernel, self._both_kernel

    def _scratch(self, k=0):
        """The calling thread's ``(R, C)`` buffer ``k``: 0 for the summed
        values, then one per slice summed apart."""
        try:
            return self._local.scratch[k]
        except AttributeError:
            scratch = self._local.scratch = [np.empty(self._full, self._dtype)
                                             for _ in range(1 + len(self._apart))]
            return scratch[k]

    def _inputs(self, x):
        """The tensor inputs at ``x``: its own arrays when they already are
        C-contiguous, of the recorded shapes and dtypes (what the mixed
        sweeps would read, without the copies), else the checked copies."""
        leaves = self._direct_leaves(x)
        if leaves is None:
            leaves = self._leaf_values(self.structure.flat_view(x))
        return leaves

    def _operands(self, leaves):
        full, values = self._full, []
        for mode, leaf, index in self._externals:
            if mode == _CONSTANT:
                values.append(leaf)
            elif mode == _DIRECT:
                values.append(leaves[leaf].reshape(full))
            else:
                values.append(leaves[leaf][index].reshape(full))
        return values

    def value(self, x):
        """``f(x)``."""
        kernel = self._kernels()[0]
        leaves = self._inputs(x)
        return float(kernel(*self._operands(leaves), self._scratch(), self._zero,
                            self._R, self._C))

    def value_and_vjp(self, x, seed):
        """``(f(x), [gradient of seed * f for each tensor input])``: new
        arrays, the caller's."""
        kernel = self._kernels()[1]
        leaves = self._inputs(x)
        grads = [np.zeros(shape, dtype) if zeroed else np.empty(shape, dtype)
                 for (_, _, shape, dtype), zeroed in zip(self._slots, self._zeroed)]
        full, buffers = self._full, []
        for k, (mode, leaf, index) in enumerate(self._grads):
            buffers.append(grads[leaf].reshape(full) if mode == _DIRECT
                           else grads[leaf][index].reshape(full) if mode == _VIEW
                           else self._scratch(1 + self._apart.index(k)))
        value = kernel(*self._operands(leaves), self._dtype.type(seed), *buffers, *self._acc,
                       self._scratch(), self._zero, self._R, self._C)
        for k in self._apart:  # in the sweeps' order
            _, leaf, index = self._grads[k]
            part = grads[leaf][index]
            part += buffers[k].reshape(part.shape)
        return float(value), grads
