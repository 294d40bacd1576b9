"""Array replays compiled once, when ``record`` adopts the tape.

A replay of an :class:`~tapegrad.replay.array_program.ArrayProgram` that
decided at every call and for every record what to run and where its
arguments are (dict lookups, op-table dispatch) cost some 40-60 us of
Python per call even on ten numbers.  When the program is made, this
module decides it once:

* :mod:`tapegrad.replay.steps`: the forward replay as steps, each record's
  rule with its arguments' places (the reverse sweep's counterpart is
  :class:`tapegrad.array.reverse.ReversePlan`), and tensor inputs read as
  they are when no copy is needed;
* :func:`whole_program` looks for the shape most vectorized code has, and
  compiles it into one call:

  :class:`WholeProgram`: the inputs (Tensors), basic slices of them that
  only the fused groups read (``x[1:]``, ``x[:-1]``), those groups (one
  elementwise record is enough), each summed or averaged to one number,
  and records of one number over those numbers and constants, each read
  once (``f`` returns the last): vectorized Rosenbrock, a weighted sum of
  squares, a log-likelihood of elementwise terms, ``np.sqrt((x *
  x).sum())``, ``log(exp(x).sum())``, a data term plus a regularizer
  (``((a * 2.0 - 1.0) ** 2).mean() + 0.1 * (b * b).sum()``), an input
  summed as it is (``x.sum()``), a vector dotted with itself (``w @ w``,
  ``r @ r``: BLAS's dot, as NumPy's ``matmul`` calls it), and products
  of a constant and an input under the groups (``((X @ w - y) **
  2).mean()``: :mod:`tapegrad.replay.products`; a matrix times a vector
  runs in the kernel, by BLAS's ``gemv``).  A value
  and gradient is one generated numba kernel
  (:mod:`tapegrad.fusion.whole`): one pass over a group's elements in the
  blocks of NumPy's pairwise sum, each element's members computed once
  from the inputs read in place (a slice is its leaf at an offset), each
  block summed as ``np.sum`` sums it, and each input's gradient written
  once per element into the array handed back.  Where an adjoint waits
  for a sum (a mean, records after it, several groups), the elements'
  reverse walks are a second pass per group.  Everything else (shapes,
  offsets, constants, which gradient takes which term) is resolved here,
  once.

Results are bit for bit those of the mixed sweeps (the same generated
element code, the same sum order, the products by the same BLAS routine,
and each gradient element receives its terms in an order whose rounding
is the same: at most two, or in float64 more on a leaf read whole, added in the
sweeps' order, and in float32 one group per gradient; the records of one
number are computed as NumPy and the op table compute them); the tests
compare them on every program they build.  What does not fit (other ops,
a sum read twice, a sum over some axes, products of two inputs (``x @
y``) or of a slice, ``w @ w`` after another term on ``w``, scalar records, guards and masks, broadcast operands, three terms
or more on a gradient element through slices or in float32, a leaf read
whole by one group and through a slice by another) keeps the mixed
sweeps, as do forward mode, Hessian-vector products and debug mode, which
need every intermediate value.

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

from tapegrad.array.ops import ARRAY_INPUT, ARRAY_OPS, ELEMENTWISE_BY_CODE
from tapegrad.array.reverse import arguments
from tapegrad.fusion import cache
from tapegrad.fusion.plan import _same_slice
from tapegrad.fusion.source import NUMBER, Spec
from tapegrad.fusion.whole import DOT, adds_in_place, whole_source
from tapegrad.kernels.gemm import address
from tapegrad.replay.products import DOT_IMPORTS, IMPORTS, products_of
from tapegrad.replay.steps import direct_leaves

_SUM, _MEAN, _GETITEM, _MATMUL = (ARRAY_OPS[name].code
                                  for name in ("sum", "mean", "getitem", "matmul"))
_DIRECT, _VIEW = 0, 1


def whole_program(program, prog, fusion):
    """The :class:`WholeProgram` of ``program`` (an ArrayProgram being made
    from the snapshot ``prog``, whose elementwise records ``fusion`` groups,
    or None where it has none),
    or None when it is not fused groups summed (or averaged) and records of
    one number after them."""
    if (program._out_record < 0
            or program._out_shape != () or program._mask_guards or len(program._extra)
            or len(program._extra_tensors) or len(program._scalar_slots)
            or len(prog.op) != len(prog.array_records)):
        return None
    tree, reductions = _tree(prog, program._out_record)
    if tree is None:
        return None
    leaf_of = {i: int(prog.arg0[i]) for i in prog.array_records
               if int(prog.op[i]) == ARRAY_INPUT}
    fused = fusion.groups if fusion is not None else []
    groups = []
    for r in reductions:
        params = prog.params[r]
        a = int(prog.arg0[r])
        found = [g for g in fused if g.outputs == [a]]
        if not found and a in leaf_of and prog.arrays[a].dtype.kind == "f":
            found = [_Whole(r, a, prog.arrays[a])]  # an input summed as it is
        if len(found) != 1 or params.get("axis") is not None or params.get("keepdims"):
            return None
        groups.append(found[0])
    # The groups in the order the sweeps reach them backwards: by their last member.
    pairs = sorted(zip(reductions, groups), key=lambda pair: max(pair[1].members))
    reductions, groups = [r for r, _ in pairs], [g for _, g in pairs]
    in_tree = {i for i, _, _ in tree}
    chosen = {id(g) for g in groups}
    if len(chosen) != len(groups) or any(id(g) not in chosen and not set(g.members) <= in_tree
                                         for g in fused):
        return None  # a group reduced twice, or one that is not reduced
    dtype = groups[0].dtype
    if any(g.dtype != dtype for g in groups) or \
            any(prog.arrays[i].dtype != dtype for i in [*reductions, *in_tree]):
        return None  # a number of another dtype (float32 times np.float64(3.0) is float64)
    products = products_of(prog, leaf_of, dtype, len(program._tensor_slots))
    views = {g.sources[k][1]: view for g in groups for k, view in g.views.items()}
    slices = {_same_slice(view) for view in views.values() if view[0] in leaf_of}
    members = set(reductions) | in_tree | set(products) | {i for g in groups for i in g.members}
    for i in prog.array_records:
        if i in leaf_of or i in members:
            continue
        if int(prog.op[i]) != _GETITEM or int(prog.arg0[i]) not in leaf_of:
            return None  # another op
        index = prog.params[i]["index"]
        parts = index if isinstance(index, tuple) else (index,)
        if not all(isinstance(p, (slice, int)) for p in parts) or \
                _same_slice((int(prog.arg0[i]), index)) not in slices:
            return None  # not a basic slice, or one read outside the groups (its own value)
    hows = [{_SUM: False, _MEAN: True, _MATMUL: DOT}[int(prog.op[r])] for r in reductions]
    if DOT in hows and not address(dtype, "dot"):
        return None  # no checked BLAS dot: NumPy's, in the sweeps
    built = _build(program, groups, leaf_of, views, products, hows)
    if built is not None:
        built.finish(_renamed(tree, reductions), hows, _fused(program.fusion, tree))
    return built


def _fused(fusion, tree):
    """Per record of ``tree``: ``(group, output)`` where the sweeps' plan
    ``fusion`` fuses it (``group`` an index, ``output`` whether the group
    stores its value), else None."""
    group_of = fusion.group_of if fusion is not None else {}
    ids = {}
    return tuple((ids.setdefault(id(group_of[i]), len(ids)), i in group_of[i].outputs)
                 if i in group_of else None for i, _, _ in tree)


class _Whole:
    """An input ``a`` that reduction ``r`` sums as it is, as a fused group
    of one record would read it: its value times 1.0 (the value itself,
    and a partial of 1.0: the sum's own VJP, bit for bit), so a whole
    program takes ``(x * x).sum() + x.sum()``.  The sweeps reach it at the
    reduction: that is its last member."""

    def __init__(self, r, a, value):
        self.members, self.outputs = [r], [a]
        self.dtype, self.shape = value.dtype, value.shape
        self.R, self.C = 1, value.size
        self.sources = [("record", a), ("number", 1.0)]
        self.layout = {0: ((1, value.size), None, None, False)}
        self.views = {}
        self.spec = Spec(members=(("mul", (("e", 0), ("e", 1))),),
                         externals=("[r, c]", NUMBER), outputs=(0,), grads=(True, False))


def _tree(prog, last):
    """``(tree, reductions)``: the sums and means (over every axis or not:
    the caller checks) that the records of one number from ``last`` back
    read, and those records, per record in order ``(record, op name,
    operands)``: each operand a record (an int) or a number (a float).
    ``(None, None)`` where a record of it is not an elementwise op of
    records and numbers, or a record is read twice."""
    nodes, reductions, stack = {}, [], [last]
    while stack:
        i = stack.pop()
        if i in nodes or i in reductions:
            return None, None  # read twice
        code = int(prog.op[i])
        if code in (_SUM, _MEAN) or (code == _MATMUL and int(prog.arg0[i]) == int(prog.arg1[i])
                                     and np.ndim(prog.arrays.get(int(prog.arg0[i]))) == 1):
            reductions.append(i)
            continue
        if code not in ELEMENTWISE_BY_CODE or np.shape(prog.arrays[i]) != ():
            return None, None
        args, values = arguments(prog, i)
        refs = [a for a in args if a >= 0]
        if not refs or any(np.ndim(v) for a, v in zip(args, values) if a < 0):
            return None, None
        nodes[i] = ELEMENTWISE_BY_CODE[code].name, tuple(
            a if a >= 0 else float(v) for a, v in zip(args, values))
        stack.extend(refs)
    return [(i, name, operands) for i, (name, operands) in sorted(nodes.items())], reductions


def _renamed(tree, reductions):
    """``tree`` (:func:`_tree`'s) with each record it reads named as
    :func:`tapegrad.fusion.whole.whole_source` names it: ``("r", j)``,
    reduction ``j`` of ``reductions``, or ``("v", n)``, record ``n`` of
    the tree."""
    where = {r: ("r", j) for j, r in enumerate(reductions)}
    where.update((i, ("v", n)) for n, (i, _, _) in enumerate(tree))
    return [(i, name, tuple(where[o] if isinstance(o, int) else o for o in operands))
            for i, name, operands in tree]


def _build(program, groups, leaf_of, views, products, hows):
    """:class:`WholeProgram` for ``groups``, or None where a gradient
    element would get three terms or more (whose order would matter), or
    where two groups reach one float32 gradient (the sweeps round a fused
    group's terms once added, a record's before: the bits depend on which).
    ``products``: :func:`~tapegrad.replay.products.products_of`'s, each
    read by one operand of one group, its input's gradient one more term.
    ``hows``: per group, how it is reduced (False: summed, True: averaged,
    ``DOT``: dotted with itself; an input dotted with itself, ``w @ w``,
    gives it two terms, which the kernel adds together, so it must reach
    the input's gradient first)."""
    slots = list(program._tensor_slots)
    for product in products.values():
        slots.append((None, int(np.prod(product.shape)), product.shape, groups[0].dtype))
    modes, coverage, reads, targets, own = {}, {}, [], [], []
    for group, how in zip(groups, hows):
        part = _part(slots, program, group, leaf_of, views, modes, products)
        if part is not None and how == DOT and isinstance(group, _Whole):
            part[2].update((l, count * 2) for l, count in part[2].items())
        if part is None or (group.dtype != np.float64 and set(part[1]) & set(coverage)):
            return None
        reads.append(part[0])
        targets.append(part[1])
        own.append(part[2])
        for l, count in part[2].items():
            total = coverage.setdefault(l, np.zeros_like(count))
            total += count
            if total.max() > 2 and (group.dtype != np.float64 or modes[l] != _DIRECT):
                return None  # float64 terms on a leaf read whole are added in the sweeps' order
    dtype = groups[0].dtype
    gemv = address(dtype, "gemv") if products else 0
    if not all(p.in_kernel(gemv, p.args[p.position]) for p in products.values()):
        gemv = 0  # all beside the kernel, their terms added after its walks
    positions = []
    for record, product in products.items():
        if len([t for part in targets for t in part.get(product.slot, ())]) != 1 \
                or modes.get(product.leaf, _DIRECT) != _DIRECT:
            return None  # read by two operands, or its input also through a slice
        total = coverage.setdefault(product.leaf, np.zeros(slots[product.leaf][1], np.int64))
        total += 1
        # Its term goes in when the sweeps reach it: after the walks of the groups
        # that come after it (they are in order), in float64 and in the kernel.
        at = next(j for j, group in enumerate(groups) if max(group.members) > record)
        positions.append((product.slot, product, at))
        if total.max() > 2 and (dtype != np.float64 or not gemv):
            return None
    for j, (group, how) in enumerate(zip(groups, hows)):
        if how != DOT or not isinstance(group, _Whole):
            continue
        if any(l in part for part in targets[j + 1:] for l in targets[j]) or any(
                at > j and product.leaf in targets[j] for _, product, at in positions):
            return None  # w @ w's two terms would not reach w's gradient first
    sliced = {l for l, mode in modes.items() if mode == _VIEW}
    return WholeProgram(program, groups, reads, targets, own, sliced,
                        [(product, at) for _, product, at in sorted(positions,
                                                                    key=lambda p: p[0])], gemv)


def _part(slots, program, group, leaf_of, views, modes, products):
    """``(reads, targets, coverage)`` of one group (see :class:`WholeProgram`),
    or None where it reads what a whole program cannot; ``slots``: the
    inputs', then the products' ``(_, size, shape, dtype)``; ``modes``: how
    each input is read (whole or through slices), shared by the groups."""
    reads, targets, coverage = [], {}, {}
    # The sweeps' terms per operand: a group's VJP sums its reads of one; a
    # record alone (x * x), which the sweeps run as its own op, gives each its own.
    terms = [1 if len(group.members) > 1 else group.spec.members[0][1].count(("e", k))
             for k in range(len(group.sources))]
    for k, source in enumerate(group.sources):
        layout = group.layout.get(k)
        if source[0] == "number":  # (a _Whole's)
            value = group.dtype.type(source[1])
            reads.append(("number", float(value) if group.dtype == np.float64 else value))
            continue
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
        elif a in products:
            leaf, index, mode = products[a].slot, None, _DIRECT
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
            count[offset:offset + group.R * group.C] += terms[k]
            targets.setdefault(leaf, []).append((k, offset))
    return reads, targets, coverage


class WholeProgram:
    """A program that is fused groups each summed (or averaged) and records
    of one number after them, replayed by one kernel call (see the module
    docstring and :mod:`tapegrad.fusion.whole`).  Made by
    :func:`whole_program`: per group, ``reads`` says where each operand is
    (a number, a constant array, or a leaf at an offset), ``targets`` which
    operands' gradients go to which leaf, and ``coverage`` how many terms
    each element of a leaf's gradient gets from it; ``sliced``: the leaves
    read through slices; ``products``: :class:`~tapegrad.replay.products.Product`
    records beside the kernel, whose values it reads as leaves after the
    inputs."""

    def __init__(self, program, groups, reads, targets, coverage, sliced=frozenset(),
                 products=(), gemv=0):
        self.structure = program.structure
        self._slots = program._tensor_slots
        self._products = [product for product, _ in products]
        self._positions = [at for _, at in products]
        self._leaf_values = program._leaf_values
        self._array_program = program
        self._specs = [group.spec for group in groups]
        self._dtype = groups[0].dtype
        self._Ns = [group.R * group.C for group in groups]
        self._reads = [[(read[0], read[1], read[2] if read[0] == "leaf" else 0)
                        for read in part] for part in reads]
        self._constants = [read[1] for part in reads for read in part if read[0] != "leaf"]
        self._leaves = sorted({read[1] for part in reads for read in part if read[0] == "leaf"})
        self._writes = sorted({l for part in targets for l in part})  # the kernel's G{l}
        # Products the kernel runs itself (all, at ``gemv``), or none: beside it.
        self._in_kernel = bool(gemv)
        self._gemv = [gemv, *(p.matrix for p in self._products)] if gemv else []
        if self._in_kernel:  # the kernel's L{l} and G{l}: the inputs only
            made = {p.slot for p in self._products}
            inputs = {p.leaf for p in self._products}
            self._leaves = sorted(set(self._leaves) - made | inputs)
            self._writes = sorted(set(self._writes) - made | inputs)
        shapes = [shape for _, _, shape, _ in self._slots] + [p.shape for p in self._products]
        self._flat = [len(shape) != 1 for shape in shapes]
        # The kernel reads every input, 1-D, in order: the leaves as they come.
        self._as_given = self._leaves == list(range(len(self._slots))) \
            and not any(self._flat) and (self._in_kernel or not self._products)
        self._targets = [dict(sorted(part.items())) for part in targets]
        self._sliced = frozenset(sliced)  # the leaves read through slices
        first = {}  # leaf -> the group whose walk reaches it first: the last that reads it
        for j, part in enumerate(targets):
            first.update((l, j) for l in part)
        # A gradient that the first group to reach it does not write whole, or adds to,
        # starts at zero.
        self._new_grads = [
            (np.empty if l in first and coverage[first[l]][l].all()
             and not adds_in_place(targets[first[l]][l]) else np.zeros, shape, dtype)
            for l, (_, _, shape, dtype) in enumerate(self._slots)]
        # float64 numbers go as Python floats, which numba unboxes faster.
        self._zero = 0.0 if self._dtype == np.float64 else self._dtype.type(0)
        self._local = threading.local()  # .scratch: the calling thread's buffer
        self._value_kernel = self._both_kernel = None
        self._tree, self._means, self._numbers = (), [False] * len(groups), []
        self._dot = []  # BLAS's dot, where a part is a vector's dot with itself
        self._fused = ()  # per tree record, where the sweeps fuse it (_fused)

    def finish(self, tree, means, fused=()):
        """Follow the groups' sums with ``tree`` (:func:`_tree`'s), group
        ``j``'s a mean if ``means[j]``: the tree's numbers are the kernel's
        arguments ``t0, t1, ...``; ``fused``: :func:`_fused`'s."""
        numbers, steps = [], []
        for _, name, operands in tree:
            refs = []
            for o in operands:
                if isinstance(o, tuple):
                    refs.append(o)
                else:
                    refs.append(len(numbers))
                    numbers.append(o if self._zero.__class__ is float else self._dtype.type(o))
            steps.append((name, tuple(refs)))
        self._tree, self._means, self._numbers = tuple(steps), list(means), numbers
        self._dot = [address(self._dtype, "dot")] if DOT in self._means else []
        self._fused = tuple(fused) if any(f is not None for f in fused) else ()

    def _kernels(self):
        if self._both_kernel is None:
            parts = [(spec, [("leaf", l, offset) if kind == "leaf" else (kind,)
                             for kind, l, offset in reads], targets, mean)
                     for spec, reads, targets, mean
                     in zip(self._specs, self._reads, self._targets, self._means)]
            dtype, tree = self._dtype.name, self._tree
            products = ([(p.leaf, p.slot, at) for p, at in zip(self._products, self._positions)]
                        if self._in_kernel else [])
            imports = (IMPORTS if products else "") + (DOT_IMPORTS if self._dot else "")
            self._value_kernel = cache.load(
                whole_source(parts, tree, dtype, False, products=products, fused=self._fused),
                "whole_value", imports)
            self._both_kernel = cache.load(
                whole_source(parts, tree, dtype, True, self._sliced, products, self._fused),
                "whole_value_and_grad", imports)
        return self._value_kernel, self._both_kernel

    def _scratch(self):
        """The calling thread's buffer of the largest group's values."""
        try:
            return self._local.scratch
        except AttributeError:
            scratch = self._local.scratch = np.empty(max(self._Ns), self._dtype)
            return scratch

    def _arrays(self, x):
        """The tensor inputs at ``x``: its own arrays when they already are
        C-contiguous, of the recorded shapes and dtypes (what the mixed sweeps
        would read, without the copies), else the checked copies; then the
        products' values."""
        leaves = direct_leaves(self._array_program, x)
        if leaves is None:
            leaves = self._leaf_values(self.structure.flat_view(x))
        if self._products and not self._in_kernel:
            leaves += [product.value(leaves[product.leaf]) for product in self._products]
        return leaves

    def _inputs(self, arrays):
        """The kernel's ``L...``: ``arrays`` (:meth:`_arrays`'s), flat."""
        if self._as_given:
            return arrays
        flat = self._flat
        return [arrays[l].reshape(-1) if flat[l] else arrays[l] for l in self._leaves]

    def value(self, x):
        """``f(x)``."""
        kernel = self._value_kernel or self._kernels()[0]
        return float(kernel(*self._constants, *self._inputs(self._arrays(x)), *self._numbers,
                            *self._gemv, *self._dot, self._scratch(), self._zero, *self._Ns))

    def value_and_vjp(self, x, seed):
        """``(f(x), [gradient of seed * f for each tensor input])``: new
        arrays, the caller's."""
        kernel = self._both_kernel or self._kernels()[1]
        grads = [new(shape, dtype) for new, shape, dtype in self._new_grads]
        products = self._products and not self._in_kernel
        if products:  # their gradients, which the kernel writes whole
            grads += [np.empty(p.shape, self._dtype) for p in self._products]
        flat = self._flat
        outs = [grads[l].reshape(-1) if flat[l] else grads[l] for l in self._writes]
        seed = float(seed) if self._zero.__class__ is float else self._dtype.type(seed)
        arrays = self._arrays(x)
        value = kernel(*self._constants, *self._inputs(arrays), *self._numbers, seed, *outs,
                       *self._gemv, *self._dot, self._scratch(), self._zero, *self._Ns)
        if products:
            self._add_products(arrays, grads)
            del grads[len(self._slots):]
        return float(value), grads

    def _add_products(self, arrays, grads):
        """Each product's VJP, after the kernel, into its input's gradient:
        one more term, added as the sweeps add it."""
        written = set(self._writes)
        for product in self._products:
            g = product.gradient(arrays[product.leaf], arrays[product.slot],
                                 grads[product.slot])
            if product.leaf in written:
                grads[product.leaf] += g
            else:
                np.copyto(grads[product.leaf], g)
                written.add(product.leaf)
