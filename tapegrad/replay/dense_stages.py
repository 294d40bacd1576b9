"""Which records of a program are a chain of dense layers under a loss
(:mod:`tapegrad.replay.dense`): its layers, its activations and its head.

A layer is written either way a user writes one:

* ``nn.Linear`` / ``F.linear(x, w, b)``: one ``linear`` record, the weight
  of shape ``(outputs, inputs)``;
* ``x @ W + b`` (JAX's and a NumPy user's way): a ``matmul`` of the layer's
  input and a weight of shape ``(inputs, outputs)``, then, if there is one,
  an ``add`` of a bias of shape ``(outputs,)``.  The chain holds such a
  weight transposed (:attr:`Layer.transposed`).  ``x @ W.T + b`` (a
  weight of shape ``(outputs, inputs)``, as PyTorch keeps one) is a layer
  too.

An activation is an elementwise record of the stage before it alone
(``np.tanh(h)``, ``tg.relu(h)``) or of it and a number (``np.maximum(h,
0)``); the records after the last stage are the loss: a ``cross_entropy``,
or elementwise records summed or averaged, then records of that number
(:class:`Head`).

>>> import numpy as np, tapegrad as tg
>>> X = np.ones((4, 3))
>>> def loss(p):
...     W, b, v = p
...     return ((np.tanh(X @ W + b) @ v - 1.0) ** 2).mean()
>>> rec = tg.record(loss, (tg.tensor(np.ones((3, 5))), tg.tensor(np.zeros(5)),
...                        tg.tensor(np.ones((5, 1)))))
>>> prog = rec.program._program
>>> _, stages, tail = chain_stages(prog)
>>> [s.kind if isinstance(s, Layer) else s[0] for s in stages]
['layer', 'tanh', 'layer', 'sub', 'square']
>>> stages, head = split_loss(prog, stages, tail, len(prog.op) - 1)
>>> [s.kind if isinstance(s, Layer) else s[0] for s in stages], head.mean
(['layer', 'tanh', 'layer', 'sub'], True)
>>> [(s.inputs, s.outputs, s.transposed, s.bias) for s in stages if isinstance(s, Layer)]
[(3, 5, True, 1), (5, 1, True, None)]
"""

import math
from typing import NamedTuple, Optional

import numpy as np

from tapegrad.array.ops import ARRAY_INPUT, ARRAY_OPS, ELEMENTWISE_BY_CODE
from tapegrad.array.ops.elementwise import each_kernel
from tapegrad.array.reverse import arguments
from tapegrad.array.rows import row_kernel
from tapegrad.fusion.dense import head_spec

_LINEAR, _MATMUL = ARRAY_OPS["linear"].code, ARRAY_OPS["matmul"].code
_CROSS_ENTROPY, _TRANSPOSE = ARRAY_OPS["cross_entropy"].code, ARRAY_OPS["transpose"].code
_SUM, _MEAN = ARRAY_OPS["sum"].code, ARRAY_OPS["mean"].code
_RESHAPE, _GETITEM = ARRAY_OPS["reshape"].code, ARRAY_OPS["getitem"].code
_COLUMNS = ((slice(None), 0), (slice(None), -1))  # the one column of a matrix
_ADD = next(code for code, op in ELEMENTWISE_BY_CODE.items() if op.name == "add")


class Layer(NamedTuple):
    """A dense layer: its output ``record``, its ``weight`` and ``bias``
    leaves (``bias`` None: none), its widths; ``transposed``: the weight is
    ``(inputs, outputs)`` (``x @ W``), else ``(outputs, inputs)``
    (``linear``); ``batch``: the record whose first constant is the batch
    (the first layer's) or the layer's input; the weight's and the bias's
    shapes; ``flat``: one output, as a vector (``h @ v`` with ``v`` a
    vector, or a layer's one column taken out: ``z[:, 0]``, ``z.ravel()``),
    so the layer is the last."""

    kind: str
    record: int
    weight: int
    bias: Optional[int]
    inputs: int
    outputs: int
    transposed: bool
    batch: int
    weight_shape: tuple
    bias_shape: tuple = ()
    flat: bool = False


def chain_stages(prog):
    """``(leaf_of, stages, tail)`` of the snapshot ``prog``: its input
    records' leaves, the chain's stages from the start (each a
    :class:`Layer` or an activation, :func:`_activation`'s), and the other
    records after them but the last (a head's, if the loss is one)."""
    leaf_of = {i: int(prog.arg0[i]) for i in prog.array_records
               if int(prog.op[i]) == ARRAY_INPUT}  # (record_loss reads a parameter where used)
    turned = {i: int(prog.arg0[i]) for i in prog.array_records  # W.T of a matrix leaf
              if int(prog.op[i]) == _TRANSPOSE and int(prog.arg0[i]) in leaf_of
              and prog.arrays[i].ndim == 2 and prog.params[i].get("axes") in (None, (1, 0))}
    records = [i for i in prog.array_records if i not in leaf_of and i not in turned]
    stages, n = [], 0
    while n < len(records) - 1:
        i = records[n]
        code = int(prog.op[i])
        if code == _LINEAR:
            stage = _linear_layer(prog, i, leaf_of, stages)
        elif code == _MATMUL:
            after = records[n + 1] if n + 2 < len(records) else -1  # not the loss itself
            stage = _product_layer(prog, i, after, leaf_of, turned, stages)
        else:
            stage = _activation(prog, i, code, stages)
        if stage is None:
            break
        n += 2 if isinstance(stage, Layer) and stage.record != i else 1
        if isinstance(stage, Layer) and n < len(records) - 1:
            flat = _flattened(prog, records[n], stage)
            if flat is not None:
                stage, n = flat, n + 1
        stages.append(stage)
    return leaf_of, stages, records[n:-1]


def _input_of(prog, x, i, stages):
    """Whether the record ``i`` reads ``x`` as a layer's input: the stage
    before it, or, first, a constant matrix (the batch, its constant 0)."""
    if stages:
        return x == stages[-1][1]
    return x == -1 and np.ndim(prog.params[i]["constants"][0]) == 2


def _linear_layer(prog, i, leaf_of, stages):
    """The :class:`Layer` of ``linear`` record ``i``, or None unless it
    reads the layer's input, a weight leaf and a bias leaf."""
    args = prog.params[i].get("args") or ()
    if len(args) != 3 or args[1] not in leaf_of or args[2] not in leaf_of \
            or not _input_of(prog, args[0], i, stages):
        return None
    x, w, b = args
    weight, bias = prog.arrays[w], prog.arrays[b]
    if weight.ndim != 2 or bias.shape != weight.shape[:1] or prog.arrays[i].ndim != 2:
        return None
    return Layer("layer", i, leaf_of[w], leaf_of[b], weight.shape[1], weight.shape[0],
                 False, i, weight.shape, bias.shape)


def _product_layer(prog, i, after, leaf_of, turned, stages):
    """The :class:`Layer` of ``matmul`` record ``i`` (``x @ W``, ``W`` a
    matrix leaf, or a vector: one output, flat; or ``x @ W.T``, ``turned``
    maps such transposes to their leaf's record) and, when record ``after``
    adds a bias leaf of one row's shape to it (or of one element to a flat
    output), of that ``add``; None where ``i`` is no such product."""
    args, _ = arguments(prog, i)
    if len(args) != 2 or not _input_of(prog, args[0], i, stages):
        return None
    w, transposed = (turned[args[1]], False) if args[1] in turned else (args[1], True)
    if w not in leaf_of:
        return None
    weight, out = prog.arrays[w], prog.arrays[i]
    if weight.ndim not in (1, 2) or out.ndim != weight.ndim:
        return None
    inputs, outputs = weight.shape[::1 if transposed else -1] if weight.ndim == 2 \
        else (weight.shape[0], 1)
    layer = Layer("layer", i, leaf_of[w], None, inputs, outputs, transposed, i, weight.shape,
                  flat=weight.ndim == 1)
    if after < 0 or int(prog.op[after]) != _ADD:
        return layer
    operands, _ = arguments(prog, after)
    bias = [a for a in operands if a != i]
    if sorted(operands) != sorted([i, *bias]) or len(bias) != 1 or bias[0] not in leaf_of \
            or prog.arrays[bias[0]].shape not in (((outputs,),) if weight.ndim == 2
                                                  else ((1,), ())) \
            or prog.arrays[after].shape != out.shape:
        return layer
    return layer._replace(record=after, bias=leaf_of[bias[0]],
                          bias_shape=prog.arrays[bias[0]].shape)


def _flattened(prog, i, layer):
    """``layer`` as flat when record ``i`` takes its one column out as a
    vector (``z[:, 0]``, ``z[:, -1]``, ``z.ravel()``, ``z.reshape(-1)``,
    ``z.squeeze()``), else None."""
    if layer.flat or layer.outputs != 1 or int(prog.arg0[i]) != layer.record \
            or prog.arrays[i].shape != prog.arrays[layer.record].shape[:1]:
        return None
    code, params = int(prog.op[i]), prog.params[i] or {}
    if code == _RESHAPE or (code == _GETITEM and params.get("index") in _COLUMNS):
        return layer._replace(record=i, flat=True)
    return None


def _activation(prog, i, code, stages):
    """``(name, record, value, VJP kernel, whether the value is NumPy's
    vectorized ufunc, number)`` of an elementwise record ``i`` of the stage
    before it alone, or of it and a number (``np.maximum(h, 0.0)``,
    ``h * 0.5``: ``number`` is then ``(position, value)``, else None); None
    for any other record.  The value of a one-argument op is the row's
    NumPy ufunc (``Op.ufunc``) where it has one (vectorized: ``np.tanh`` is
    some ten times faster than a C library call per element), else the
    op's generated kernel; with a number, its generated row kernels.  The
    VJP adds into its last argument."""
    op = ELEMENTWISE_BY_CODE.get(code)
    params = prog.params.get(i) or {}
    if op is None or not op.differentiable or not stages or set(params) - {"constants"}:
        return None
    args, values = arguments(prog, i)
    if op.arity == 1:
        if args != [stages[-1][1]]:
            return None
        ufunc = op.ufunc
        vectorized = ufunc is not None and ufunc.nin == 1 and ufunc.nout == 1
        value = _into(ufunc) if vectorized else each_kernel(op.name)
        return op.name, i, value, each_kernel(op.name, "vjp_"), vectorized, None
    if op.arity != 2 or sorted(args) != [-1, stages[-1][1]]:
        return None
    position = args.index(-1)
    number = values[position]
    if type(number) not in (int, float) or not math.isfinite(number):
        return None  # (a 0-d array may be record_loss's data: read afresh, not a literal)
    dtype = prog.arrays[i].dtype
    number = dtype.type(number)
    value, vjp = _with_number(op.name, position, number)
    return op.name, i, value, vjp, False, (position, f"np.{dtype.name}({float(number)!r})")


def _with_number(name, position, number):
    """The value and VJP (adding into its last argument) of the two-argument
    op ``name`` of an array and ``number`` at ``position``, by its generated
    row kernels (what an eager op of an array and a number runs)."""
    value_rows, vjp_rows = row_kernel(f"{name}_each_rows"), row_kernel(f"{name}_vjp_rows")

    if position == 0:
        def value(x, out):
            value_rows(number, x, out)

        def vjp(x, out, g, gx):
            vjp_rows(number, x, out, g, None, gx, False, True)
    else:
        def value(x, out):
            value_rows(x, number, out)

        def vjp(x, out, g, gx):
            vjp_rows(x, number, out, g, gx, None, True, False)
    return value, vjp


def _into(ufunc):
    def value(x, out):
        ufunc(x, out=out)

    return value


class Head:
    """The loss of a chain that is not a cross entropy: the elementwise
    records after its last stage (a fused group, ``spec``), reading that
    stage's output, numbers, and data arrays of its shape (``data`` and
    ``numbers``: per array, per number, its ``(record, position)`` among the
    record's constants, read afresh at each call: ``record_loss``'s data
    may be either), summed, or averaged if ``mean``; then ``after``: records
    of one number (:class:`~tapegrad.fusion.dense.HeadSource`'s), whose
    numbers are at ``numbers_after``, read afresh as well."""

    def __init__(self, spec, reads, data, numbers, mean, after=(), numbers_after=()):
        self.spec, self.reads, self.data, self.mean = spec, reads, data, mean
        self.numbers, self.after, self.numbers_after = numbers, after, numbers_after


def split_loss(prog, stages, tail, last):
    """``(stages, head)``: the chain's stages and the :class:`Head` of the
    records after them (``tail``, then ``last``, the output), or None
    (a cross entropy, or no loss the chain takes).  Activations at the end
    of ``stages`` go back to the loss, the last first, until the head has a
    record (``((z - 1.0) ** 2).mean()``: ``z - 1.0`` and the square pass
    for activations; the square goes back)."""
    stages, tail = list(stages), list(tail)
    if int(prog.op[last]) == _CROSS_ENTROPY:
        return stages, None
    while stages:
        head = loss_head(prog, tail, last, stages[-1][1]) if tail else None
        if head is not None or isinstance(stages[-1], Layer):
            return stages, head
        tail.insert(0, stages.pop()[1])
    return stages, None


def loss_head(prog, tail, last, output):
    """The :class:`Head` of the records ``tail``, from the chain's
    ``output`` record to the program's output ``last``: elementwise records
    of that output, earlier ones, numbers and arrays of the output's shape,
    summed or averaged, then records of one number, each of the one
    before and numbers (:func:`_after_sum`).  None where they are not."""
    found = _after_sum(prog, last)
    if found is None:
        return None
    reduction, after, numbers_after = found
    # tail: the group's records, then (when records follow the sum) the sum
    # and those records but the last (the output, not in tail)
    end = [reduction] + [i for i, _ in after][:-1] if after else []
    group = tail[:len(tail) - len(end)]
    if not group or tail[len(group):] != end or int(prog.arg0[reduction]) != group[-1] \
            or prog.params[reduction].get("axis") is not None \
            or prog.params[reduction].get("keepdims"):
        return None
    shape = prog.arrays[output].shape
    member_of = {i: n for n, i in enumerate(group)}
    members, reads, data, numbers = [], [], [], []
    for i in group:
        op = ELEMENTWISE_BY_CODE.get(int(prog.op[i]))
        if op is None or not op.differentiable or set(prog.params[i] or ()) - {"constants"}:
            return None
        args, values = arguments(prog, i)
        refs = []
        for k, (a, value) in enumerate(zip(args, values)):
            if a == output:
                refs.append(("e", 0))
            elif a in member_of and member_of[a] < member_of[i]:
                refs.append(("m", member_of[a]))
            elif a >= 0:
                return None  # a leaf, or a record of the chain before its output
            elif np.ndim(value) == 0:
                numbers.append((i, k))
                reads.append(("number", len(numbers) - 1))
                refs.append(("e", len(reads)))
            elif np.shape(value) == shape:
                data.append((i, k))
                reads.append(("data", len(data) - 1))
                refs.append(("e", len(reads)))
            else:
                return None  # broadcast data
        members.append((op.name, tuple(refs)))
    spec = head_spec(members, reads)
    return Head(spec, tuple(reads), data, numbers, int(prog.op[reduction]) == _MEAN,
                tuple(step for _, step in after), numbers_after)


def _after_sum(prog, last):
    """``(reduction, after, numbers)``: the sum or mean that the records of
    one number ending at ``last`` start from, those records in order as
    ``(record, (op name, operands))`` (each operand ``("r", 0)``, the sum,
    ``("v", n)``, the record before, or ``k``: number ``k``), and where
    each number is, ``(record, position)``.  None where a record is not an
    elementwise op of the one before and numbers."""
    after, i = [], last
    while int(prog.op[i]) not in (_SUM, _MEAN):
        op = ELEMENTWISE_BY_CODE.get(int(prog.op[i]))
        if op is None or not op.differentiable or set(prog.params[i] or ()) - {"constants"} \
                or np.shape(prog.arrays[i]) != ():
            return None
        args, values = arguments(prog, i)
        refs = [a for a in args if a >= 0]
        if len(refs) != 1 or any(np.ndim(v) for a, v in zip(args, values) if a < 0):
            return None
        after.append((i, args))
        i = refs[0]
    steps, numbers = [], []
    for n, (j, args) in enumerate(reversed(after)):
        operands = []
        for k, a in enumerate(args):
            if a >= 0:
                operands.append(("v", n - 1) if n else ("r", 0))
            else:
                operands.append(len(numbers))
                numbers.append((j, k))
        steps.append((j, (ELEMENTWISE_BY_CODE[int(prog.op[j])].name, tuple(operands))))
    return i, steps, numbers
