"""Source of a straight-line kernel: a whole array program's value and
gradient as one generated numba function (:mod:`tapegrad.replay.straight`
decides the steps and where every array lives).

The kernel is ``straight(L..., K..., Y..., V, A, G..., seed, gemm, want, part)``:
``L{l}`` leaf ``l``'s array, ``K{j}`` constant array ``j`` (data read
afresh at each call), ``Y{j}`` a cross entropy's labels, ``V`` the values
of every record the steps compute and ``A`` their adjoints (one flat buffer each, a record's at the same
offset in both), ``G{l}`` leaf ``l``'s gradient (its shape), ``seed`` the
output's adjoint, ``gemm`` BLAS's routine (:mod:`tapegrad.kernels.gemm`).
It returns the output's value, and with ``want`` fills the gradients.
A program with op steps (records the kernel leaves to their own NumPy
rules, :mod:`tapegrad.replay.op_steps`) is cut into parts there: ``part``
``p`` runs the steps before op step ``p``; the part after the last one
runs the rest, then (with ``want``) the VJPs back to the last op step; each
later part the VJPs back to the next.  Without op steps, part 0 is all.

Each step is written with the op table's own kernels: a fused group of
elementwise records calls its group's kernels (:mod:`tapegrad.fusion.source`,
defined beside the main function; its VJP reads the outputs the forward
kernel stored instead of computing them again), a reduction the
NumPy-ordered loops of :mod:`tapegrad.fusion.array_steps`, a product BLAS's
``gemm``.  In reverse, every
adjoint starts at zero and each step adds its terms into its operands'.

>>> group_call("g0_forward", ["V[0:4].reshape((2, 2))", "np.float64(2.0)"], ["V[4:8]"], 2, 2)
'g0_forward(V[0:4].reshape((2, 2)), np.float64(2.0), V[4:8], 2, 2)'
"""

import math

from tapegrad.fusion.source import backward_source, forward_source, partial_call, term
from tapegrad.ops import OPS

IMPORTS = ("from tapegrad.jit import generated_cached  # noqa: F401 (the groups' kernels)\n"
           "from tapegrad.fusion.array_steps import *  # noqa: F401,F403\n"
           "from tapegrad.kernels.gemm import add_product, product  # noqa: F401\n"
           "from tapegrad.kernels.cross_entropy import (  # noqa: F401\n"
           "    cross_entropy_rows, cross_entropy_vjp_rows)\n")


def literal(value, dtype):
    """``value`` (a number) as source text of a number of ``dtype``."""
    value = float(value)
    if math.isnan(value):
        text = "np.nan"
    elif math.isinf(value):
        text = "np.inf" if value > 0 else "-np.inf"
    else:
        text = repr(value)
    return f"np.{dtype}({text})"


def group_call(name, externals, outputs, R, C):
    """The call of a group's kernel ``name`` on its arguments (source text)."""
    return f"{name}({', '.join([*externals, *outputs, str(R), str(C)])})"


class Places:
    """Where each record's value and adjoint are, as source text."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.at = {}  # record -> ("leaf", l) | ("buffer", offset) | ("constant", j), size
        self.size = 0  # of V and A
        self.views = {}  # source text of a view -> its name in the kernel
        self.of_adjoints = set()  # the names of views of A and of the G{l}

    def _view(self, text, adjoints):
        """The name of the view ``text``: each is made once per call, at the
        kernel's top (a view costs numba some 30 ns each time it is made)."""
        name = self.views.get(text)
        if name is None:
            name = self.views[text] = f"w{len(self.views)}"
            if adjoints:
                self.of_adjoints.add(name)
        return name

    def buffer(self, record, size):
        """Give ``record`` ``size`` elements of ``V`` (and of ``A``)."""
        self.at[record] = ("buffer", self.size), size
        self.size += size

    def value(self, record, shape):
        (kind, where), size = self.at[record]
        base = {"leaf": f"L{where}", "constant": f"K{where}",
                "buffer": f"V[{where}:{where + size}]"}[kind]
        return self._view(f"{base}.reshape({tuple(shape)!r})", False)

    def adjoint(self, record, shape):
        (kind, where), size = self.at[record]
        base = {"leaf": f"G{where}", "buffer": f"A[{where}:{where + size}]"}[kind]
        return self._view(f"{base}.reshape({tuple(shape)!r})", True)

    def part(self, view, index):
        """The view ``view[index]`` of a value's or an adjoint's view."""
        return self._view(f"{view}[{index}]", view in self.of_adjoints)

    def declarations(self, adjoints):
        """The lines making the views of values (``adjoints`` False) or of
        adjoints and gradients (True: made only when gradients are wanted,
        ``G{l}`` being empty otherwise)."""
        return [f"{name} = {text}" for text, name in self.views.items()
                if (name in self.of_adjoints) == adjoints]

    def wants(self, record):
        """Whether ``record`` has an adjoint (a constant has none)."""
        return record in self.at and self.at[record][0][0] != "constant"


def _numbers(operands, places):
    """A scalar record's operands (``("record", r)`` or ``("number",
    value)``) as source text."""
    return ", ".join(f"{places.value(a, (1,))}[0]" if form == "record"
                     else literal(a, places.dtype) for form, a in operands)


def _group_arguments(step, places):
    _, j, group, externals = step
    args = []
    for external in externals:
        if external[0] == "number":
            args.append(literal(external[1], places.dtype))
        elif external[0] == "scalar":  # a number of the tape, where the kernel keeps it
            args.append(f"{places.value(external[1], (1,))}[0]")
        else:
            args.append(places.value(external[1], external[2]))
    return args


def _forward(step, places):
    kind = step[0]
    if kind == "group":
        _, j, group, _ = step
        outs = [places.value(o, (group.R, group.C)) for o in group.outputs]
        return [group_call(f"g{j}_forward", _group_arguments(step, places), outs,
                           group.R, group.C)]
    if kind == "reduce":
        _, name, i, a, form, shape, count = step
        x, out = places.value(a, shape), places.value(i, (shape[0] if form == "rows"
                                                         else shape[1],))
        prefix = "row" if form == "rows" else "column"
        if name in ("sum", "mean"):
            lines = [f"{prefix}_sums({x}, {out}, np.{places.dtype}(0))"]
            if name == "mean":
                lines.append(f"divide_by_count({out}, {count})")
            return lines
        return [f"{prefix}_extrema({x}, {out}, {name == 'amax'})"]
    if kind == "transpose":
        _, i, a, (m, n) = step
        return [f"transpose_into({places.value(a, (m, n))}, {places.value(i, (n, m))})"]
    if kind == "getitem":
        _, i, a, shape, index, out_shape = step
        return [f"{places.value(i, out_shape)}[:] = {places.part(places.value(a, shape), index)}"]
    if kind == "scalar":
        _, i, name, operands = step
        return [f"{places.value(i, (1,))}[0] = {name}_value({_numbers(operands, places)})"]
    if kind == "element":
        _, i, a, shape, index = step
        return [f"{places.value(i, (1,))}[0] = {places.value(a, shape)}[{index}]"]
    if kind == "lanes":
        _, i, a, lanes, forward, _ = step
        return [f"{forward.__name__}({places.value(a, lanes)}, {places.value(i, lanes)})"]
    if kind == "cross_entropy":
        _, i, a, (rows, classes), j = step
        (_, where), _ = places.at[i]
        return [f"V[{where}] = cross_entropy_rows({places.value(a, (rows, classes))}, Y{j}, "
                f"{places.value(('lse', i), (rows,))})"]
    if kind == "linear":
        _, i, x, w, b, (m, k, n) = step
        out = places.value(i, (m, n))
        return [f"product(gemm, {places.value(x, (m, k))}, False, {places.value(w, (n, k))}, "
                f"True, {out})", f"add_bias({out}, {places.value(b, (n,))})"]
    _, i, a, b, (m, k, n), (ta, tb) = step  # a product
    return [f"product(gemm, {places.value(a, (k, m) if ta else (m, k))}, {ta}, "
            f"{places.value(b, (n, k) if tb else (k, n))}, {tb}, {places.value(i, (m, n))})"]


def _backward(step, places, scratch):
    kind = step[0]
    if kind == "group":
        _, j, group, externals = step
        stored = [places.value(o, (group.R, group.C)) for o in group.outputs]
        seeds = [places.adjoint(o, (group.R, group.C)) for o in group.outputs]
        wanted = [places.adjoint(e[1], e[2]) for k, e in enumerate(externals)
                  if group.spec.grads[k]]
        return [group_call(f"g{j}_backward", _group_arguments(step, places),
                           stored + seeds + wanted + ["True"] * len(wanted), group.R, group.C)]
    if kind == "reduce":
        _, name, i, a, form, shape, count = step
        if not places.wants(a):
            return []
        reduced = (shape[0] if form == "rows" else shape[1],)
        g, gx = places.adjoint(i, reduced), places.adjoint(a, shape)
        prefix = "row" if form == "rows" else "column"
        if name in ("sum", "mean"):
            divisor = literal(count if name == "mean" else 1, places.dtype)
            return [f"spread_{prefix}s({g}, {gx}, {divisor})"]
        return [f"{prefix}_extremum_vjp({places.value(a, shape)}, {places.value(i, reduced)}, "
                f"{g}, {gx})"]
    if kind == "transpose":
        _, i, a, (m, n) = step
        return [f"add_transposed({places.adjoint(a, (m, n))}, {places.adjoint(i, (n, m))})"]
    if kind == "linear":
        return _linear_backward(step, places, scratch)
    if kind == "getitem":  # the same part of the operand's adjoint
        _, i, a, shape, index, out_shape = step
        return [f"{places.part(places.adjoint(a, shape), index)} += "
                f"{places.adjoint(i, out_shape)}"]
    if kind == "scalar":  # each operand's term, by the op table's partials
        _, i, name, operands = step
        values, g = _numbers(operands, places), f"{places.adjoint(i, (1,))}[0]"
        if not OPS[name].differentiable:
            return []
        return [f"{places.adjoint(a, (1,))}[0] += "
                f"{term(g, partial_call(name, k, values, places.value(i, (1,)) + '[0]'))}"
                for k, (form, a) in enumerate(operands) if form == "record" and places.wants(a)]
    if kind == "element":
        _, i, a, shape, index = step
        if not places.wants(a):
            return []
        return [f"{places.adjoint(a, shape)}[{index}] += {places.adjoint(i, (1,))}[0]"]
    if kind == "lanes":
        _, i, a, lanes, _, backward = step
        if not places.wants(a):
            return []
        return [f"{backward.__name__}({places.adjoint(i, lanes)}, {places.adjoint(a, lanes)})"]
    if kind == "cross_entropy":  # (softmax - onehot) * g / rows, as the op's VJP
        _, i, a, (rows, classes), j = step
        (_, where), _ = places.at[i]
        t = f"V[{scratch}:{scratch + rows * classes}].reshape(({rows}, {classes}))"
        return [f"cross_entropy_vjp_rows({places.value(a, (rows, classes))}, Y{j}, "
                f"{places.value(('lse', i), (rows,))}, A[{where}] / {literal(rows, places.dtype)}, "
                f"{t})", f"add_into({places.adjoint(a, (rows, classes))}, {t})"]
    _, i, a, b, (m, k, n), (ta, tb) = step  # op(a) @ op(b), op transposing where turned
    g = places.adjoint(i, (m, n))
    sa, sb = (k, m) if ta else (m, k), (n, k) if tb else (k, n)
    lines = []
    if places.wants(a):  # g @ op(b).T, or its transpose op(b) @ g.T into a turned a
        left, right = places.value(b, sb), g
        lines.append(_product_term(places, a, sa, *((left, tb, right, True) if ta
                                                     else (right, False, left, not tb))))
    if places.wants(b):  # op(a).T @ g, or its transpose g.T @ op(a) into a turned b
        left, right = places.value(a, sa), g
        lines.append(_product_term(places, b, sb, *((right, True, left, ta) if tb
                                                    else (left, not ta, right, False))))
    return lines


def _product_term(places, target, shape, left, turn_left, right, turn_right):
    """The line adding ``op(left) @ op(right)`` (``shape``) onto the adjoint
    of ``target``."""
    return (f"add_product(gemm, {left}, {turn_left}, {right}, {turn_right}, "
            f"{places.adjoint(target, shape)})")


def _linear_backward(step, places, scratch):
    """``x @ w.T + b``'s VJP: ``g @ w``, ``g.T @ x`` and ``g``'s column sums."""
    _, i, x, w, b, (m, k, n) = step
    g, lines = places.adjoint(i, (m, n)), []
    if places.wants(x):
        lines.append(_product_term(places, x, (m, k), g, False, places.value(w, (n, k)), False))
    if places.wants(w):
        lines.append(_product_term(places, w, (n, k), g, True, places.value(x, (m, k)), False))
    if places.wants(b):
        lines.append(f"add_column_sums({g}, {places.adjoint(b, (n,))}, "
                     f"V[{scratch}:{scratch + n}], np.{places.dtype}(0))")
    return lines


def straight_imports(steps):
    """What the kernel of ``steps`` imports: :data:`IMPORTS`, and the
    compiled rules of the ops it runs over lanes (``cumsum``'s)."""
    rules = {rule for step in steps if step[0] == "lanes" for rule in step[4:6]}
    return IMPORTS + "".join(sorted(f"from {rule.__module__} import {rule.__name__}\n"
                                    for rule in rules))


def _part(part, lines):
    """The lines of kernel part ``part``."""
    return [f"if part == {part}:", *["    " + line for line in lines or ["pass"]]]


def straight_source(steps, live, places, inputs, leaves, constants, labels, out, scratch):
    """The kernel's source (the main function first, then the groups' kernels).

    ``steps``: in record order, ``("group", j, group, externals)`` (group
    ``j``, a :class:`tapegrad.fusion.plan.Group`, its externals each
    ``("number", value)``, ``("scalar", record, (1,))`` (a number of the
    tape) or ``(kind, record, shape2d)``), ``("reduce",
    name, record, operand, form, shape, count)`` (``form`` "rows" reduces
    the rows of ``shape``, "columns" its columns), ``("product", record,
    a, b, (m, k, n), (turn_a, turn_b))`` (``op(a) @ op(b)``, ``op``
    transposing where turned), ``("linear", record, x, w, b, (m, k, n))``
    ``("transpose", record, operand, (m, n))``, ``("getitem", record,
    operand, shape, index, out_shape)`` (``index`` source text of basic
    slices and integers, ``out_shape`` not empty), ``("cross_entropy",
    record, logits, (rows, classes), j)`` (labels ``Y{j}``, each row's
    log-sum-exp at the place ``("lse", record)``), ``("lanes", record,
    operand, (before, n, after), forward, backward)`` (an op's compiled
    rules over lanes), ``("scalar", record, op name, operands)`` (an op of
    numbers, each operand ``("record", r)`` or ``("number", value)``),
    ``("element", record, operand, shape, index)`` (one element, a number)
    or ``("op", record, op_step)`` (where the kernel is cut into parts); ``live``: the steps
    whose adjoints reach the output, run in reverse; ``places``: :class:`Places`; ``inputs``: the
    leaves read, ``L{l}``; ``leaves``: those with a gradient, ``G{l}``;
    ``constants`` and ``labels``: how many ``K{j}`` and ``Y{j}``;
    ``out``: the output record (a buffer); ``scratch``: where in ``V`` a
    bias's or a cross entropy's VJP puts its term before adding it."""
    args = ([f"L{l}" for l in inputs] + [f"K{j}" for j in range(constants)]
            + [f"Y{j}" for j in range(labels)] + ["V", "A"] + [f"G{l}" for l in leaves]
            + ["seed", "gemm", "want", "part"])
    forward, backward = [[]], [[]]  # the kernel's parts, between the op steps
    for step in steps:
        if step[0] == "op":
            forward.append([])
        else:
            forward[-1] += _forward(step, places)
    for step in reversed(live):
        if step[0] == "op":
            backward.append([])
        else:
            backward[-1] += _backward(step, places, scratch)
    sizes = {where: size for (kind, where), size in places.at.values() if kind == "leaf"}
    (_, where), _ = places.at[out]
    last = len(forward) - 1
    body = places.declarations(False)
    for part, lines in enumerate(forward[:-1]):
        body += _part(part, lines) + [f"    return V[{where}]"]
    body += _part(last, forward[-1]) + ["    if not want:", f"        return V[{where}]"]
    body += places.declarations(True)
    body += _part(last, ["A[:] = 0.0", *[f"G{l}.reshape(({sizes[l]},))[:] = 0.0" for l in leaves],
                         f"A[{where}] = seed", *backward[0]])
    for part, lines in enumerate(backward[1:], last + 1):
        body += _part(part, lines)
    body.append(f"return V[{where}]")
    lines = [f"def straight({', '.join(args)}):", *["    " + line for line in body]]
    reversed_ = {id(step) for step in live}
    for step in steps:
        if step[0] != "group":
            continue
        j, group = step[1], step[2]
        lines += ["", "", "@generated_cached", forward_source(group.spec).replace(
            "def fused_forward(", f"def g{j}_forward(", 1).rstrip()]
        if id(step) in reversed_:  # (a comparison has no VJP)
            modes = ("array",) * len(group.outputs)
            lines += ["", "", "@generated_cached", backward_source(group.spec, modes, stored=True)
                      .replace("def fused_backward(", f"def g{j}_backward(", 1).rstrip()]
    return "\n".join(lines) + "\n"
