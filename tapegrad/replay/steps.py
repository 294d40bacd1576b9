"""The step-by-step replay of an array program, decided once when it is
made (:class:`~tapegrad.replay.array_program.ArrayProgram`): the forward
steps, each record's rule with its arguments' places
(:func:`forward_steps`; the reverse sweep's counterpart is
:class:`tapegrad.array.reverse.ReversePlan`), and the tensor inputs read as
they are when no copy is needed (:func:`direct_leaves`).  A replay call then
looks nothing up per record.

>>> import numpy as np, tapegrad as tg
>>> rec = tg.record(lambda x: (x * x).max(), tg.tensor(np.zeros(3)))
>>> [step[0] for step in forward_steps(rec.program, False)] == [_LEAF, _ELEMENTWISE, _OP]
True
"""

import numpy as np

from tapegrad.array.ops import ARRAY_BY_CODE, ARRAY_INPUT, ELEMENTWISE_BY_CODE
from tapegrad.array.reverse import arguments
from tapegrad.array.tensor import Tensor

_SPAN, _LEAF, _GROUP, _ELEMENTWISE, _OP = range(5)  # the kinds of forward steps


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
