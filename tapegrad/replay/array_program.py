"""Replay of recorded programs that hold array records: :class:`ArrayProgram`.

:func:`tapegrad.record` keeps its tape as an :class:`ArrayProgram` when
``f`` made array records (Tensor ops, or a ``Tensor`` among the inputs).  A
replay recomputes each array record once, with the op's own value rule
(NumPy and the generated elementwise kernels), and runs the scalar records
between them in the compiled ``forward_span``; gradients, tangents and
Hessian-vector products are the mixed sweeps of :mod:`tapegrad.array.reverse`
and :mod:`tapegrad.array.tangent` (the methods of
:mod:`tapegrad.replay.array_gradients` and
:mod:`tapegrad.replay.array_tangents`).  So array code pays Python per array
op (never per element) and no Python per scalar record.

What a replay runs is decided once, when the program is made: the forward
steps (:func:`tapegrad.replay.steps.forward_steps`) and the reverse sweep
(:class:`tapegrad.array.reverse.ReversePlan`) hold each record's rule and
its arguments' places, so a call looks nothing up per record.  A program
that is one fused group summed (or averaged, and what follows on that one
number) is compiled further, into one kernel call per value and gradient
(:mod:`tapegrad.replay.schedule`); one that is a chain of linear layers
under a cross entropy, into one kernel call or a schedule of BLAS calls on
buffers made once (:mod:`tapegrad.replay.dense`).  Tensor inputs
that already are C-contiguous arrays of the recorded shapes and dtypes are
read as they are, not copied.

A replay writes into a copy of the recording's columns and arena (a
:meth:`~tapegrad.replay.snapshot.Snapshot.fork`), each thread its own, made at its first call: the
recorded snapshot itself is only read, so threads sharing a program never
see each other's arrays.

>>> import numpy as np, tapegrad as tg
>>> def f(x):
...     return (x * x).sum() + tg.sin(x[0])
>>> rec = tg.record(f, tg.tensor(np.zeros(3)))
>>> rec.grad(np.array([0.0, 1.0, 2.0]))        # 2x, plus cos(x0) at x0
array([1., 2., 4.])
>>> rec.hvp(np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 1.0]))
array([2., 2., 2.])
"""

import functools
import math
import threading
import time

import numpy as np

from tapegrad.array.ops import elementwise
from tapegrad.array.reverse import ReversePlan
from tapegrad.array.tensor import Tensor
from tapegrad.core import arena, debug
from tapegrad.errors import BranchChanged
from tapegrad.fusion import plan as fusion
from tapegrad.kernels.sweeps import forward_span
from tapegrad.ops import OPS
from tapegrad.replay import schedule
from tapegrad.replay.dense import dense_chain
from tapegrad.replay.straight import straight_line
from tapegrad.replay.steps import _ELEMENTWISE, _GROUP, _LEAF, _SPAN, direct_leaves, forward_steps
from tapegrad.replay.array_gradients import GradientMethods
from tapegrad.replay.array_tangents import TangentMethods
from tapegrad.replay.program import Program, outputs_of
from tapegrad.replay.scalar_program import loaded_branch_changed
from tapegrad.replay.snapshot import Snapshot

INPUT = OPS["input"].code


#: A replaced value this large goes back to the arena for the next call
#: (smaller ones are cheap to allocate anew).
WARM_BYTES = 1 << 16


class ArrayProgram(GradientMethods, TangentMethods, Program):
    """A recording with array records: the same methods as a
    :class:`~tapegrad.replay.scalar_program.ScalarProgram`, the same
    arguments (a Tensor input takes a Tensor or a NumPy array of its shape).
    Its reverse-mode methods come from
    :class:`~tapegrad.replay.array_gradients.GradientMethods`, its
    forward-mode and second-order ones from
    :class:`~tapegrad.replay.array_tangents.TangentMethods`.

    Made by ``owner`` (the Recorded) from the traced ``tape`` while it is
    still open, ``f`` having returned ``out``.
    """

    #: Where a program read from a file came from (None: traced here).
    _origin = None

    def __init__(self, owner, tape, out):
        rec = tape._rec
        self._begin(owner, Snapshot(rec), dict(rec.sites))
        n_scalars, n_tensors = len(self._scalar_slots), len(self._tensor_slots)
        self._extra = rec.leaves[n_scalars:]
        self._extra_tensors = rec.array_leaves[n_tensors:]
        self._input_records = np.array(rec.inputs[:n_scalars], dtype=np.int64)
        self._out_record, self._out_shape = -1, None
        if isinstance(out, Tensor):
            self._adopt_tensor_output(out, rec)
        else:
            if isinstance(out, (list, tuple)) and any(isinstance(o, Tensor) for o in out):
                raise TypeError("f returned a sequence holding Tensors: return one Tensor "
                                "(tapegrad.stack them) or a sequence of Values")
            self._outputs, self._constants, self.scalar_output = outputs_of(out, rec)
            self._out0 = int(self._outputs[0]) if self.scalar_output else -1
        self._plan(owner)
        tape.release()  # the program's own references keep its arrays from the pool

    @classmethod
    def from_parts(cls, owner, prog, sites, extra, extra_tensors, output, origin):
        """A program of ``owner`` from the parts :mod:`tapegrad.replay.tapefile`
        read back and checked: the snapshot ``prog``, ``sites``, the outside
        leaves (fixed values, as ``_v``), and ``output``: ``("tensor",
        record, shape, constant)`` or ``("values", records, constants,
        scalar)``; ``origin`` goes into changed-branch messages.  Fused
        groups are planned again, as when ``f`` is traced."""
        program = cls.__new__(cls)
        program._begin(owner, prog, sites)
        program._origin = origin
        program._extra, program._extra_tensors = extra, extra_tensors
        n_scalars = len(program._scalar_slots)
        program._input_records = np.flatnonzero(prog.op == INPUT)[:n_scalars].astype(np.int64)
        program._out_record, program._out_shape = -1, None
        if output[0] == "tensor":
            _, record, shape, constant = output
            program._out_record, program._out_shape = record, shape
            program._out_constant = constant if record < 0 else None
            program.scalar_output = shape == ()
            program._outputs = np.full(max(math.prod(shape), 1), record, dtype=np.int64)
        else:
            _, records, constants, scalar = output
            program._outputs, program._constants, program.scalar_output = records, constants, scalar
            program._out0 = int(records[0]) if scalar else -1
        program._plan(owner)
        return program

    def _begin(self, owner, prog, sites):
        """What a program takes from its snapshot ``prog`` and structure."""
        self.owner = owner
        self.structure = owner.structure
        self._program = prog  # as recorded: replays go to forks of it
        self._local = threading.local()  # .prog: the calling thread's fork
        self._recorded_val = prog.val
        self._columns = {"op": prog.op, "arg0": prog.arg0, "val": prog.val}
        self._sites = sites
        self._mask_guards = {i: prog.arrays[i].copy() for i in prog.array_records
                             if "mask" in (prog.params[i] or ()) and prog.params[i]["mask"].guard}
        slots = self.structure.slots()
        self._scalar_slots = np.array([s for s, _, shape, _ in slots if shape is None],
                                      dtype=np.int64)
        self._tensor_slots = [(s, size, shape, dtype) for s, size, shape, dtype in slots
                              if shape is not None]
        st = self.structure
        self._tensors_only = (  # "tensor", tuple or list when x is made of tensors only
            "tensor" if st.kind == "tensor" else  # (or of none: record_loss's x is ())
            {"tuple": tuple, "list": list}[st.kind] if st.kind in ("tuple", "list") and
            all(c.kind == "tensor" for c in st.children) else None)

    def _plan(self, owner):
        """Fused groups, the one-kernel schedule and the reverse sweep's plan."""
        prog = self._program
        keep = set(self._mask_guards) | ({self._out_record} if self._out_record >= 0 else set())
        self._plans = {}  # fused -> the forward replay's steps (steps.forward_steps)
        self.fusion = fusion.plan(prog, keep) if owner.fuse else None
        # Fused groups (one record alone too) each summed or averaged, and
        # records of one number after them: a value and gradient is one call.
        whole = fusion.plan(prog, keep, smallest=1) if owner.fuse else None
        self.schedule = schedule.whole_program(self, prog, whole) if owner.fuse else None
        # Linear layers under a loss: BLAS calls into buffers made once.  (A
        # program both take, X @ w under a squared error, is the one kernel's.)
        self.dense = dense_chain(self, prog) if owner.fuse and self.schedule is None else None
        # Any other array program ending in one number: the straight-line kernel.
        self.straight = (straight_line(self, prog, whole) if owner.fuse and self.schedule is None
                         and self.dense is None else None)
        self.quick = (self._quick_dense if self.dense is not None and self.dense.compiled
                      and self._tensors_only in (tuple, list) else
                      functools.partial(self.straight.quick, self)
                      if self.straight is not None and self._tensors_only is not None else None)
        last = (self._out_record if self._out_shape is not None
                else int(self._outputs.max()) if len(self._outputs) else -1)
        self._reverse = ReversePlan(prog, last, self.fusion) if last >= 0 else None

    @property
    def tape(self):
        """The columns and arena, read-only, as this thread last replayed
        them step by step (as recorded before its first replay; a call
        replayed by one kernel, :mod:`tapegrad.replay.schedule`, keeps no
        intermediate values, nor does one replayed by
        :mod:`tapegrad.replay.dense`)."""
        return getattr(self._local, "prog", self._program).tape()

    def _here(self):
        """The calling thread's snapshot to replay into (a fork, made at its
        first call)."""
        try:
            return self._local.prog
        except AttributeError:
            prog = self._local.prog = self._program.fork()
            return prog

    def _adopt_tensor_output(self, out, rec):
        if out._rec is rec or (out._rec is None and out.requires_grad
                                and out._serial == rec.serial):  # f returned a leaf
            self._out_record = out._i
        elif out._rec is not None:
            raise TypeError("f returned a Tensor recorded on another tape")
        self._out_shape = out.shape
        self._out_constant = out._v if self._out_record < 0 else None
        self.scalar_output = out.ndim == 0
        self._outputs = np.full(max(out.size, 1), self._out_record, dtype=np.int64)

    # --- forward replay -----------------------------------------------------------

    def _leaf_values(self, flat):
        values = [flat[s:s + size].astype(dtype, copy=False).reshape(shape)
                  for s, size, shape, dtype in self._tensor_slots]
        for leaf in self._extra_tensors:
            values.append(leaf._v)
        return values

    def _forward(self, flat, full, leaves=None):
        """Recompute the records at ``flat`` (every one when ``full``, else
        a fused group's outputs only); the first changed guard, or -1.
        ``leaves``: the tensor inputs' arrays, when the caller has them."""
        prog = self._here()
        inputs = prog.inputs
        n = len(self._scalar_slots)
        if n:
            inputs[:n] = flat[self._scalar_slots]
        for k, leaf in enumerate(self._extra):
            inputs[n + k] = leaf._v
        if leaves is None:
            leaves = self._leaf_values(flat)
        arrays, val, params = prog.arrays, prog.val, prog.params
        cols = (prog.op, prog.arg0, prog.arg1, prog.const, val)
        spent = []
        fused = not full and self.fusion is not None
        plan = self._plans.get(fused)
        if plan is None:
            plan = self._plans[fused] = forward_steps(self, fused)
        for step in plan:
            kind = step[0]
            if kind == _SPAN:
                changed = forward_span(*cols, inputs, step[1], step[2])
                if changed >= 0:
                    arena.give_back(spent)
                    return changed
                continue
            if kind == _LEAF:
                leaf = leaves[step[2]]
                if leaf.shape != step[3]:
                    raise ValueError(f"a Tensor the recording reads from outside f changed "
                                     f"shape: {step[3]} when recorded, "
                                     f"{leaf.shape} now; record f again")
                arrays[step[1]] = leaf
                continue
            if kind == _GROUP:
                step[1].forward(prog)
                continue
            i = step[1]
            constants = params[i].get("constants")
            values = [arrays[a] if where == 0 else float(val[a]) if where == 1
                      else constants[a] for where, a in step[3]]
            if kind == _ELEMENTWISE:
                value = elementwise(step[2], values)
            else:
                value = step[2](values, params[i])
            if step[4]:
                old = arrays[i]
                if old.nbytes >= WARM_BYTES:
                    spent.append(old)
                old = None
                arrays[i] = np.asarray(value)
            else:
                val[i] = value
            if step[5] is not None and not np.array_equal(value, step[5]):
                arena.give_back(spent)
                return i
        # The last call's values, warm for this call's next ones (those that
        # nothing else holds, not even through a view: the arena checks).
        arena.give_back(spent)
        return -1

    def _replay(self, x, full=True):
        """Replay at ``x`` into this thread's snapshot: None, or the program
        to hand the call to when a changed branch made the owner record
        ``f`` again (at ``x``, so it takes ``x``'s branches).  Not
        ``full``: fused groups keep only their outputs (enough for values
        and reverse sweeps)."""
        leaves = self.direct_leaves(x)
        flat = self.structure.flat_view(x) if leaves is None else None
        changed = self._forward(flat, full or debug.enabled(), leaves)
        if debug.enabled():
            debug.check_finite(self.tape, len(self), adjoints=False)
        if changed < 0:
            return None
        self._here().val[:] = self._recorded_val  # keep the recorded guards
        if not self.owner.retrace:
            raise self._branch_changed(changed)
        if flat is None:
            flat = self.structure.flatten(x)
        return self.owner._trace_again(np.array(flat, dtype=np.float64))

    def _dense_leaves(self, x):
        """Every leaf's array at ``x`` (the tensor inputs', then those read
        from outside ``f``), for :class:`~tapegrad.replay.dense.DenseChain`."""
        leaves = self.direct_leaves(x)
        return self._leaf_values(self.structure.flat_view(x)) if leaves is None else leaves

    def direct_leaves(self, x):
        """:func:`tapegrad.replay.steps.direct_leaves` of ``x``."""
        return direct_leaves(self, x)

    def _branch_changed(self, i):
        if i not in self._mask_guards:
            return loaded_branch_changed(super()._branch_changed(i), self._origin)
        site = self._sites.get(i)
        where = "" if site is None else f" made at {site[0]}:{site[1]}"
        return loaded_branch_changed(BranchChanged(
            f"replay would take another branch: the comparison at record {i}{where} "
            "gives another mask at this input, and f used that mask for more than "
            "tapegrad.where (control flow, indexing, arithmetic); record f again here, "
            "or use record(f, x0, retrace=True)", record=int(i), site=site), self._origin)

    def _output_values(self):
        prog = self._here()
        if self._out_shape is None:
            return super()._output_values(prog.val)
        value = (self._out_constant if self._out_record < 0
                 else prog.arrays[self._out_record])
        return float(value) if self.scalar_output else np.array(value)

    def __call__(self, x):
        """The value of ``f`` at ``x``."""
        if self.schedule is not None and not debug.enabled():
            return self.schedule.value(x)
        start = time.perf_counter()
        if self.straight is not None and not debug.enabled():
            ran = self.straight.run(self._dense_leaves(x), self._here().params, want=False)
            if ran is not None:
                return ran[0]
        fresh = self._replay(x, full=False)
        if fresh is not None:
            return fresh(x)
        self._charge(start)
        return self._output_values()

    def _charge(self, start):
        """Count a step-by-step replay begun at ``start`` towards compiling."""
        if self.straight is not None:
            self.straight.spent += time.perf_counter() - start
