"""Fusion of elementwise chains in a recorded program.

Replaying ``sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)`` one
record at a time makes a pass over memory per elementwise record, forward
and back (about sixteen for Rosenbrock), and pays Python per record.  A
recorded program (:func:`tapegrad.record`) knows its whole tape, so
:func:`plan` groups its elementwise records into chains of one shape and
dtype, and each group runs as two generated numba kernels
(:mod:`tapegrad.fusion.source`), built from the same op-table rows as every
other sweep: a forward kernel that stores only the members read outside the
group (its *outputs*), and a VJP that recomputes the members in registers
and writes each outside operand's gradient once.  A basic slice of an
array that only the group reads (``x[1:]``) adds its gradient straight into
that array's adjoint, through the same slice.

A group is only ever *convex*: no record outside it that sits between its
first and last member reads one of its members, so the forward kernel runs
in the last member's place and the VJP there too, in reverse.  A record
outside the group that reads a member closes the group to new members.
A group of one record is not fused (its own kernels serve it).  A group's
kernels compile at its program's first call, about half a second each time
a new program shape is met on a machine (:mod:`tapegrad.fusion.cache` caches
them on disk); ``tapegrad.record(f, x, fuse=False)`` does without.  Forward
mode and Hessian-vector products replay unfused: they need every
intermediate's value.

>>> import numpy as np, tapegrad as tg
>>> from tapegrad import fusion
>>> x = np.linspace(-1.0, 1.0, 5)
>>> rec = tg.record(lambda t: (tg.exp(t * 2.0) - t).sum(), tg.tensor(x))
>>> [len(g.members) for g in rec.fusion.groups]
[3]
>>> bool(np.allclose(rec.grad(x), 2 * np.exp(2 * x) - 1))
True
"""

import numpy as np

from tapegrad.fusion import cache
from tapegrad.core import arena
from tapegrad.array.ops import (
    ARRAY_BY_CODE, ARRAY_INPUT, ARRAY_OPS, ELEMENTWISE_BY_CODE, layout, unbroadcast,
)
from tapegrad.array.rows import usable
from tapegrad.array.reverse import arguments
from tapegrad.fusion.source import NUMBER, Spec, backward_source, forward_source

_PATTERNS = {(1, 1): "[r, c]", (0, 1): "[0, c]", (1, 0): "[r, 0]", (0, 0): "[0, 0]"}
_GETITEM = ARRAY_OPS["getitem"]


class Fusion:
    """The groups of a recorded program: ``groups``, and ``group_of``
    (member record -> its group)."""

    def __init__(self, groups):
        self.groups = groups
        self.group_of = {i: g for g in groups for i in g.members}


def _fusable(prog, i):
    """``(shape, dtype)`` of record ``i`` if it may join a group, else None."""
    op = ELEMENTWISE_BY_CODE.get(int(prog.op[i]))
    value = prog.arrays.get(i)
    if op is None or not op.differentiable or not isinstance(value, np.ndarray):
        return None
    if value.dtype.kind != "f" or value.size == 0:
        return None
    return value.shape, value.dtype


def _differentiable(prog, a):
    """Whether record ``a`` passes gradients on (a comparison's mask does not)."""
    op = ELEMENTWISE_BY_CODE.get(int(prog.op[a]))
    return op is None or op.differentiable


def _array_args(prog, i):
    if int(prog.op[i]) == ARRAY_INPUT:
        return []
    args, _ = arguments(prog, i)
    return [a for a in args if a >= 0 and a in prog.arrays]


class _Chain:
    """A group while :func:`plan` builds it."""

    def __init__(self, members):
        self.members, self.open = members, True


def plan(prog, keep=(), smallest=2):
    """The :class:`Fusion` of ``prog`` (a replay's program), or None when
    nothing fuses; ``keep``: records read after the replay (its output);
    ``smallest``: the fewest members a group has (one record alone runs its
    own kernels, unless a whole program is that one record summed:
    :func:`tapegrad.replay.schedule.whole_program`)."""
    chain_of = {}
    for i in prog.array_records:
        key = _fusable(prog, i)
        reads = {id(c): c for c in (chain_of.get(a) for a in _array_args(prog, i)) if c}
        joined = [c for c in reads.values() if c.open and key is not None
                  and _fusable(prog, c.members[0]) == key]
        for c in reads.values():
            c.open = False  # read by a record outside it, or merged into a new chain
        if key is None:
            continue
        chain = _Chain(sorted(m for c in joined for m in c.members) + [i])
        for m in chain.members:
            chain_of[m] = chain
    chains = {id(c): c for c in chain_of.values() if len(c.members) >= smallest}
    if not chains:
        return None
    readers = {}
    for i in prog.array_records:
        for a in _array_args(prog, i):
            readers.setdefault(a, set()).add(i)
    read_outside = set(keep) | {a for a, rs in readers.items() if id(chain_of.get(a)) in chains
                                and any(chain_of.get(i) is not chain_of[a] for i in rs)}
    return Fusion([Group(prog, c.members, read_outside,
                         _slices_read_only_by(prog, c.members, readers, set(keep)))
                   for c in chains.values()])


def _slices_read_only_by(prog, members, readers, keep):
    """``{record: (base, index)}`` for the basic slices (views) of an array
    that only ``members`` read: their gradient goes straight into the
    base's adjoint, through the same slice of it."""
    views, members = {}, set(members)
    for m in members:
        for a in _array_args(prog, m):
            if a in keep or not readers[a] <= members or \
                    ARRAY_BY_CODE.get(int(prog.op[a])) is not _GETITEM:
                continue
            index, base = prog.params[a]["index"], int(prog.arg0[a])
            parts = index if isinstance(index, tuple) else (index,)
            if base in prog.arrays and all(isinstance(p, (slice, int)) for p in parts):
                views[a] = (base, index)
    return views


def _same_slice(view):
    """A key equal for two records that take the same slice of one array."""
    base, index = view
    parts = index if isinstance(index, tuple) else (index,)
    return ("slice", base, tuple((p.start, p.stop, p.step) if isinstance(p, slice) else p
                                 for p in parts))


class Group:
    """One fused chain: its ``members`` (records, in tape order), the
    ``outputs`` read outside it, and its kernels (compiled on first use)."""

    def __init__(self, prog, members, read_outside, views):
        self.members = members
        self.outputs = [m for m in members if m in read_outside]
        last = prog.arrays[members[-1]]
        self.shape, self.dtype = last.shape, last.dtype
        local = {m: j for j, m in enumerate(members)}
        self.sources = []  # per external: ("record", a) or ("constant", member, k)
        slots, ops = {}, []
        for m in members:
            args, values = arguments(prog, m)
            refs = []
            for k, a in enumerate(args):
                if a in local:
                    refs.append(("m", local[a]))
                    continue
                source = ("record", a) if a >= 0 else ("constant", m, k)
                key = _same_slice(views[a]) if a in views else source
                if key not in slots:
                    slots[key] = len(self.sources)
                    self.sources.append((source, values[k]))
                refs.append(("e", slots[key]))
            ops.append((ELEMENTWISE_BY_CODE[int(prog.op[m])].name, tuple(refs)))
        arrays = [k for k, (_, v) in enumerate(self.sources) if isinstance(v, np.ndarray)]
        self.R, self.C, layouts = layout([np.shape(self.sources[k][1]) for k in arrays],
                                         self.shape)
        self.layout = dict(zip(arrays, layouts))
        patterns = [NUMBER] * len(self.sources)
        for k, (shape2d, xr, xc, copied) in self.layout.items():
            patterns[k] = _PATTERNS[(xr, xc)]
        grads = tuple(source[0] == "record" and _differentiable(prog, source[1])
                      for source, _ in self.sources)
        self.spec = Spec(tuple(ops), tuple(patterns),
                         tuple(local[o] for o in self.outputs), grads)
        self.sources = [source for source, _ in self.sources]
        self.views = {}  # external -> (base record, index): its gradient goes there
        for k, source in enumerate(self.sources):
            view = views.get(source[1]) if source[0] == "record" else None
            if view is not None and k in self.layout and not self.layout[k][3] \
                    and prog.arrays[view[0]].dtype == self.dtype:
                self.views[k] = view
        self._kernels = {}

    def _kernel(self, modes=None):
        """The forward kernel (``modes`` None), or the VJP for ``modes``."""
        kernel = self._kernels.get(modes)
        if kernel is None:
            if modes is None:
                kernel = cache.load(forward_source(self.spec), "fused_forward")
            else:
                kernel = cache.load(backward_source(self.spec, modes), "fused_backward")
            self._kernels[modes] = kernel
        return kernel

    def _externals(self, prog):
        """The externals' current values, as the kernels read them."""
        values = []
        for k, source in enumerate(self.sources):
            if source[0] == "record":
                a = source[1]
                value = prog.arrays[a] if a in prog.arrays else prog.val[a]
            else:
                value = prog.params[source[1]]["constants"][source[2]]
            layout = self.layout.get(k)
            if layout is None:
                values.append(self.dtype.type(value))
                continue
            shape2d, _, _, copied = layout
            if copied:
                value = np.broadcast_to(value, self.shape)
            values.append(np.ascontiguousarray(value, dtype=self.dtype).reshape(shape2d))
        return values

    def forward(self, prog):
        """Compute the outputs at the program's current values."""
        kernel = self._kernel()
        spent = [prog.arrays[o] for o in self.outputs]
        outs = [arena.empty((self.R, self.C), self.dtype) for _ in self.outputs]
        kernel(*self._externals(prog), *outs, self.R, self.C)
        for o, out in zip(self.outputs, outs):
            prog.arrays[o] = out.reshape(self.shape)
        arena.give_back(spent)

    def backward(self, prog, adjoints, adj):
        """The VJP of the whole group: pops its outputs' adjoints from
        ``adjoints`` (:class:`tapegrad.array.reverse._Adjoints`) and adds its
        externals' gradients there (arrays) or into ``adj`` (scalar records)."""
        modes, seeds, spent = [], [], []
        for o in self.outputs:
            g, owned = adjoints.pop(o)
            if g is None:
                modes.append("zero")
                seeds.append(self.dtype.type(0))
            elif g.size and not any(g.strides):  # one value broadcast (a sum's VJP)
                modes.append("number")
                seeds.append(self.dtype.type(g.flat[0]))
            else:
                modes.append("array")
                seeds.append(np.ascontiguousarray(g, dtype=self.dtype).reshape(self.R, self.C))
                if owned:
                    spent.append(g)
        if all(mode == "zero" for mode in modes):
            return
        buffers, accumulate, finishes, claimed = [], [], [], {}
        for k, source in enumerate(self.sources):
            if not self.spec.grads[k]:
                continue
            buffer, acc, finish = self._gradient_buffer(prog, k, source[1], adjoints, adj,
                                                        claimed)
            buffers.append(buffer)
            accumulate.append(acc)
            finishes.append(finish)
        kernel = self._kernel(tuple(modes))
        kernel(*self._externals(prog), *seeds, *buffers, *accumulate, self.R, self.C)
        for finish in finishes:
            if finish is not None:
                finish()
        for base, (held, fresh) in claimed.items():
            if fresh:
                adjoints.add(base, held, True)
        for g in spent:
            adjoints.recycle(g)

    def _gradient_buffer(self, prog, k, a, adjoints, adj, claimed):
        """``(buffer, accumulate, finish)`` for external ``k`` (record ``a``):
        the buffer the kernel adds into (or stores into, when not
        ``accumulate``), and what hands it on after the kernel (None when
        the buffer is an adjoint itself)."""
        layout = self.layout.get(k)
        if layout is None:  # a scalar record: its adjoint is in the column
            total = np.zeros(1)

            def finish():
                adj[a] += total[0]

            return total, True, finish
        shape2d, _, _, copied = layout
        if k in self.views:
            return self._view_of_base_gradient(prog, self.views[k], shape2d, adjoints, claimed)
        shape = np.shape(prog.arrays[a])
        if shape2d != (self.R, self.C) or copied:  # broadcast: summed down to its shape
            buffer = np.zeros((self.R, self.C) if copied else shape2d, self.dtype)
            grad = (lambda: unbroadcast(buffer.reshape(self.shape), shape)) if copied else \
                (lambda: buffer.reshape(shape))
            return buffer, True, lambda: adjoints.add(a, grad(), True)
        held = adjoints.into([a])[0]
        if usable(held, shape, self.dtype):
            return held.reshape(shape2d), True, None
        buffer = adjoints.empty(shape2d, self.dtype)
        return buffer, False, lambda: adjoints.add(a, buffer.reshape(shape), True)

    def _view_of_base_gradient(self, prog, view, shape2d, adjoints, claimed):
        """``(buffer, accumulate, finish)`` for a slice ``base[index]``: the
        same slice of the base's gradient buffer, added into.  That buffer
        (``claimed[base]``: it and whether it is new) is the base's owned
        adjoint, or zeros that :meth:`backward` adds to the adjoint after
        the kernel.  A slice no 2-D view can show, or a second slice of a
        base in one kernel (adding into overlapping slices element by element
        would serialise the loop), is summed apart and added in by ``finish``."""
        base, index = view
        if base not in claimed:
            held = adjoints.into([base])[0]
            fresh = not usable(held, np.shape(prog.arrays[base]), self.dtype)
            if fresh:
                held = adjoints.empty(np.shape(prog.arrays[base]), self.dtype)
                held.fill(0)
            claimed[base] = held, fresh
            buffer = held[index].reshape(shape2d)
            if np.may_share_memory(buffer, held):
                return buffer, True, None
        held = claimed[base][0]
        full = shape2d == (self.R, self.C)
        buffer = adjoints.empty(shape2d, self.dtype) if full else np.zeros(shape2d, self.dtype)

        def finish():
            part = held[index]
            part += buffer.reshape(part.shape)
            if full:
                adjoints.recycle(buffer)

        return buffer, not full, finish
