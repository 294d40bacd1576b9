"""Source of the one kernel that replays a chain of dense layers under a
loss, value and gradient (:mod:`tapegrad.replay.dense`), for batches small
enough that calls, not arithmetic, are the cost.

The kernel is generated per chain (its layers' widths and its
activations), written and cached as fused kernels are
(:mod:`tapegrad.fusion.cache`), and called with BLAS's ``gemm``'s address
(:func:`tapegrad.kernels.gemm.address`), the batch, the labels, the
leaves (weights and biases, by leaf index), one flat ``work`` array that
it carves into its buffers, and the loss's seed over the rows.  It checks
every shape (``ValueError``: the caller says which changed), then, with
the batch's rows held as columns as :mod:`tapegrad.replay.dense` does:

* each layer: its weight and bias copied into ``[w, b]``, and ``linear``'s
  column rule (:func:`tapegrad.array.ops.linear.value_columns`) into the
  next input, under which a row of ones;
* each activation: the op table's value rule, element by element;
* the loss: a cross entropy by the op's own kernels
  (:func:`tapegrad.kernels.cross_entropy.cross_entropy_rows` and its VJP)
  on the logits' transposed view; or a *head*, elementwise records of the
  last output and data of its shape, summed or averaged (a mean squared
  error), as a fused group: each element's members by the op table's
  value rules, summed in NumPy's pairwise order, then each element's
  reverse walk (:func:`head_lines`);
* in reverse, ``linear``'s column VJPs and each activation's adjoint walk
  (:func:`tapegrad.fusion.source.adjoint_lines`: the table's partials);
* it returns the loss, having written each leaf's gradient into the
  arrays ``O...`` (by leaf index) that come last.

>>> stages = (("linear", 3, 4, 0, 1, False, (4, 3), (4,)), ("relu", None),
...           ("linear", 4, 2, 2, 3, False, (2, 4), (2,)))
>>> source, imports, size = chain_source(stages, 4)
>>> size  # work elements: (per row, fixed)
(26, 52)
>>> print(source.splitlines()[0])
def dense_value_and_grad(gemm, X, labels, L0, L1, L2, L3, work, scale, O0, O1, O2, O3):
"""

from typing import NamedTuple

from tapegrad.fusion.source import NUMBER, Spec, adjoint_lines, member_lines
from tapegrad.fusion.whole import tree_lines

IMPORTS = ("from tapegrad.array.ops.linear import value_columns, vjp_columns, "
           "input_vjp_columns\n"
           "from tapegrad.kernels.cross_entropy import cross_entropy_rows, "
           "cross_entropy_vjp_rows\n")
NAME = "dense_value_and_grad"
HEAD_NAME = "dense_head"


class _Carver:
    """Lines carving named buffers out of ``work``, in order; each offset
    is ``per_row * R + fixed``."""

    def __init__(self):
        self.lines, self.per_row, self.fixed = [], 0, 0

    def take(self, name, rows, columns=None, flat=False):
        """``name``: a ``(rows, R)`` buffer, or ``(rows, columns)``; ``flat``:
        its elements as one vector."""
        start = self._at()
        if columns is None:
            self.per_row += rows
            shape = f"({rows}, R)"
        else:
            self.fixed += rows * columns
            shape = f"({rows}, {columns})"
        view = "" if flat else f".reshape({shape})"
        self.lines.append(f"    {name} = work[{start}:{self._at()}]{view}")

    def _at(self):
        return f"{self.per_row} * R + {self.fixed}"


def _one_op(stage):
    """``(spec, loads)``: the fused-group spec of an activation ``stage``
    alone (``(op name, number)``, ``number`` None or ``(position, literal)``:
    a two-argument op of the layer's output and a number, ``np.maximum(h,
    0.0)``), whose element lines (value and reverse walk) its loops hold,
    and the line that loads the number."""
    name, number = stage
    if number is None:
        return Spec(members=((name, (("e", 0),)),), externals=("[r, c]",), outputs=(0,),
                    grads=(True,)), []
    position, literal = number
    refs = (("e", 1), ("e", 0)) if position == 0 else (("e", 0), ("e", 1))
    return Spec(members=((name, refs),), externals=("[r, c]", NUMBER), outputs=(0,),
                grads=(True, False)), [f"x1 = {literal}"]


def _activation_lines(stage, source, target, width, pad="    "):
    """``target = op(source)`` element by element (``stage``: :func:`_one_op`'s)."""
    spec, number = _one_op(stage)
    inner = pad + " " * 8
    return ([f"{pad}for c in range({width}):", f"{pad}    for r in range(R):",
             f"{inner}x0 = {source}[c, r]"] + [inner + line for line in number]
            + member_lines(spec, inner) + [f"{inner}{target}[c, r] = m0"])


def _adjoint_lines(stage, source, value, g, down, width, pad="    "):
    """``down`` = ``g`` times the activation's partial, element by element
    (its value read back from ``value``)."""
    spec, number = _one_op(stage)
    inner = pad + " " * 8
    return ([f"{pad}for c in range({width}):", f"{pad}    for r in range(R):",
             f"{inner}x0 = {source}[c, r]"] + [inner + line for line in number]
            + [f"{inner}m0 = {value}[c, r]"]
            + adjoint_lines(spec, {0: f"{g}[c, r]"}, inner) + [f"{inner}{down}[c, r] = b0"])


def _output(carve, forward, stages, s, width):
    """The buffer stage ``s`` writes its ``width`` rows into: the next
    layer's input ``I{s+1}`` (whose last row, ones, it sets), or ``Z{s}``."""
    if s + 1 < len(stages) and stages[s + 1][0] == "linear":
        carve.take(f"I{s + 1}", width + 1)
        forward.append(f"    I{s + 1}[{width}, :] = 1.0")
        return f"I{s + 1}"
    carve.take(f"Z{s}", width)
    return f"Z{s}"


class HeadSource(NamedTuple):
    """A loss head as :func:`head_lines` takes it: ``spec``, the fused
    group of the records after the chain, its external 0 the chain's
    output, the others per ``reads`` a data array ``T{j}`` of the output's
    shape (``("data", j)``) or a number ``c{j}`` (``("number", j)``); its
    last member summed, or averaged if ``mean``; ``dtype``'s name;
    ``flat``: the output is a vector (one row held), as the data are;
    ``after``: records of one number after the sum (``np.sum(e) / n``,
    ``np.sqrt(mse)``), as :func:`~tapegrad.fusion.whole.tree_lines` takes
    them (the sum ``("r", 0)``, the numbers ``t0, t1, ...``:
    ``numbers_after`` of them)."""

    spec: Spec
    reads: tuple
    mean: bool
    dtype: str
    flat: bool = False
    after: tuple = ()
    numbers_after: int = 0


def head_lines(head, source, width, carve):
    """``(forward, reverse)`` lines of the loss ``head`` (a
    :class:`HeadSource`) over the last output ``source`` (``width`` rows, a
    column per batch row), its data and numbers arguments of the kernel
    (:func:`head_arguments`): the last member summed into ``loss``
    through ``E`` (carved here), then the records after the sum.  The
    reverse walk starts from ``scale`` (the seed; over the count for a mean
    with nothing after it) and writes ``DZ`` (the caller's, of the output's
    shape)."""
    carve.take("E", width, flat=True)
    pad = " " * 12
    loads = [f"{pad}x0 = {source}[c, r]"]
    for k, read in enumerate(head.reads, 1):
        at = "r" if head.flat else "r, c"
        loads.append(f"{pad}x{k} = T{read[1]}[{at}]" if read[0] == "data"
                     else f"{pad}x{k} = c{read[1]}")
    loads += member_lines(head.spec, pad)
    last = len(head.spec.members) - 1
    loop = ["    for r in range(R):", f"        for c in range({width}):"]
    forward = [*loop, *loads, f"{pad}E[r * {width} + c] = m{last}",
               f"    r0 = pairwise_sum(E, 0, R * {width}, np.{head.dtype}(0.0))"]
    if head.mean:
        forward.append(f"    r0 = np.{head.dtype}(r0 / (R * {width}))")
    seed = "scale"
    if head.after:  # its values, then its adjoints back to s0, the walk's seed
        forward += [f"    N0 = R * {width}", "    g = scale",
                    *tree_lines(head.after, [head.mean], head.dtype, True),
                    f"    loss = v{len(head.after) - 1}"]
        seed = "s0"
    else:
        forward.append("    loss = r0")
    reverse = [*loop, *loads, *adjoint_lines(head.spec, {last: seed}, pad),
               f"{pad}DZ[c, r] = b0"]
    return forward, reverse


def head_source(head, width):
    """``(source, (per_row, fixed))`` of the kernel of a loss ``head`` alone
    (:func:`head_lines`), for a chain replayed as a schedule of calls:
    ``dense_head(Z, T..., c..., t..., scale, work, DZ)``, ``Z`` and ``DZ``
    the last output and its gradient (``width`` rows, a column per batch
    row), returning the loss."""
    carve = _Carver()
    forward, reverse = head_lines(head, "Z", width, carve)
    data, numbers = head_arguments(head)
    checks = [f"{t}.shape != {_rows(head, width)}" for t in data]
    checks += [f"DZ.shape != ({width}, R)", f"work.shape[0] != {carve.per_row} * R"]
    lines = [f"def {HEAD_NAME}({', '.join(['Z', *data, *numbers, 'scale', 'work', 'DZ'])}):",
             "    R = Z.shape[1]",
             f"    if Z.shape[0] != {width} or {' or '.join(checks)}:",
             "        raise ValueError('the batch changed shape')",
             *carve.lines, *forward, *reverse, "    return loss"]
    return "\n".join(lines) + "\n", (carve.per_row, carve.fixed)


def _rows(head, width):
    """The shape of a head's data arrays: ``(R,)`` (flat), else ``(R, width)``."""
    return "(R,)" if head.flat else f"(R, {width})"


def head_arguments(head):
    """The names of a head's data arrays and of its numbers (the group's,
    then those after its sum), the kernel's arguments in that order
    (:func:`head_lines`)."""
    return ([f"T{read[1]}" for read in head.reads if read[0] == "data"],
            [f"c{read[1]}" for read in head.reads if read[0] == "number"]
            + [f"t{k}" for k in range(head.numbers_after)])


def head_spec(members, reads):
    """The :class:`~tapegrad.fusion.source.Spec` of a loss head: ``members``
    as a spec has them, external 0 the chain's output (the one that wants a
    gradient), then one per ``reads`` (:func:`head_lines`)."""
    externals = ("[r, c]",) + tuple(NUMBER if read[0] == "number" else "[r, c]"
                                    for read in reads)
    return Spec(members=tuple(members), externals=externals, outputs=(len(members) - 1,),
                grads=(True,) + (False,) * len(reads))


def chain_source(stages, n_leaves, head=None):
    """``(source, imports, (per_row, fixed))`` of the kernel of ``stages``:
    per stage, ``("linear", inputs, outputs, weight leaf, bias leaf,
    transposed, weight shape, bias shape)`` (the weight ``(inputs,
    outputs)`` if ``transposed``, else ``(outputs, inputs)``, or
    ``(inputs,)`` for one output; the bias ``(outputs,)``, or ``()``
    for one output; no bias if its leaf is None) or ``(op name, number)``
    of an activation (:func:`_one_op`); ``work`` must hold ``per_row * rows +
    fixed`` elements.  Under a cross entropy (``head`` None) the kernel
    takes the ``labels``; under a ``head`` (:func:`head_lines`), its data
    ``T0, T1, ...`` in their place."""
    features = stages[0][1]
    leaves = [f"L{k}" for k in range(n_leaves)]
    carve = _Carver()
    shapes = {}
    forward, backward, grads = [], [], {}
    width, source = features, "I0"
    carve.take("I0", features + 1)
    forward += ["    for r in range(R):",
                f"        for c in range({features}):", "            I0[c, r] = X[r, c]",
                f"        I0[{features}, r] = 1.0"]
    for s, stage in enumerate(stages):
        if stage[0] == "linear":
            _, inputs, outputs, w, b, transposed, shapes[w], bias_shape = stage
            # element (i, j) of the weight as held, and the bias's i
            at = "[j]" if len(shapes[w]) == 1 else "[j, i]" if transposed else "[i, j]"
            bias_at = "[()]" if bias_shape == () else "[i]"
            carve.take(f"F{s}", outputs, inputs + 1)
            carve.take(f"G{s}", outputs, inputs + 1)
            forward += [f"    for i in range({outputs}):",
                        f"        for j in range({inputs}):",
                        f"            F{s}[i, j] = L{w}{at}",
                        f"        F{s}[i, {inputs}] = " + ("0.0" if b is None else f"L{b}{bias_at}")]
            target = _output(carve, forward, stages, s, outputs)
            view = f"{target}[:{outputs}]" if target.startswith("I") else target
            forward.append(f"    value_columns(gemm, F{s}, {source}, {view})")
            grads[s] = [f"    for i in range({outputs}):",
                        f"        for j in range({inputs}):",
                        f"            O{w}{at} = G{s}[i, j]"]
            if b is not None:
                shapes[b] = bias_shape
                grads[s].append(f"        O{b}{bias_at} = G{s}[i, {inputs}]")
            width = outputs
        else:
            target = _output(carve, forward, stages, s, width)
            forward += _activation_lines(stage, source, target, width)
        if s:
            carve.take(f"D{s}", stage[1] if stage[0] == "linear" else width)
        backward.append((s, stage, source, target, width))
        source = target
    if head is None:
        carve.take("DZ", width)
        carve.take("lse", 1)
        data = ["labels"]
        loss = [f"    loss = cross_entropy_rows({source}.T, labels, lse[0])",
                f"    cross_entropy_vjp_rows({source}.T, labels, lse[0], scale, DZ.T)"]
        rows = "labels.shape[0] != R"
    else:
        carve.take("DZ", width)
        head_forward, head_reverse = head_lines(head, source, width, carve)
        loss = head_forward + head_reverse
        data, numbers = head_arguments(head)
        rows = " or ".join(f"{t}.shape != {_rows(head, width)}" for t in data) or "False"
        data += numbers
    g = "DZ"
    reverse = []
    for s, stage, inputs, outputs, width in reversed(backward):
        if stage[0] == "linear":  # its input, with the row of ones, is I{s}
            reverse.append(f"    vjp_columns(gemm, {g}, I{s}, G{s})")
            reverse += grads[s]
            if s:
                reverse.append(f"    input_vjp_columns(gemm, {g}, F{s}[:, :{stage[1]}], D{s})")
        else:
            reverse += _adjoint_lines(stage, inputs, outputs, g, f"D{s}", width)
        g = f"D{s}"
    checks = [f"{leaf}.shape != {shapes[k]!r} or O{k}.shape != {shapes[k]!r}"
              for k, leaf in enumerate(leaves)]
    size = (carve.per_row, carve.fixed)
    outs = [f"O{k}" for k in range(n_leaves)]
    args = ["gemm", "X", *data, *leaves, "work", "scale", *outs]
    lines = [f"def {NAME}({', '.join(args)}):",
             "    R = X.shape[0]",
             f"    if X.shape[1] != {features} or {rows} "
             f"or work.shape[0] != {size[0]} * R + {size[1]}:",
             "        raise ValueError('the batch changed shape')",
             f"    if {' or '.join(checks)}:",
             "        raise ValueError('a parameter changed shape')",
             *carve.lines, *forward, *loss, *reverse,
             "    return loss"]
    return "\n".join(lines) + "\n", IMPORTS, size

