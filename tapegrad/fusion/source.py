"""Source of the fused kernels of one elementwise group (:mod:`tapegrad.fusion.plan`).

A group is a chain of elementwise records of one output shape, laid out as
``(R, C)``.  Its *spec* says, per member, the scalar op and where each
operand comes from (``("m", j)``: member ``j``; ``("e", k)``: external
``k``); per external, how it is read (an array indexed ``[r, c]``,
``[0, c]``, ``[r, 0]`` or ``[0, 0]``, or a number); which members are
outputs; and which externals want a gradient.

The forward kernel reads the externals once per element, evaluates every
member in registers with the op table's value rules and stores the outputs.
The backward kernel evaluates the members again, then walks them in reverse
with the table's first partials, so no intermediate is ever stored; each
external's gradient is stored (or added, with its ``acc`` flag) once per
element, and a broadcast one is summed.  A zero adjoint contributes nothing
(never ``0 * inf``), as in the other sweeps.

>>> spec = Spec(members=(("mul", (("e", 0), ("e", 0))), ("exp", (("m", 0),))),
...             externals=("[r, c]",), outputs=(1,), grads=(True,))
>>> print(forward_source(spec))  # doctest: +NORMALIZE_WHITESPACE
def fused_forward(e0, o0, R, C):
    for r in range(R):
        for c in range(C):
            x0 = e0[r, c]
            m0 = mul_value(x0, x0)
            m1 = exp_value(m0)
            o0[r, c] = m1
"""

from dataclasses import dataclass
from typing import Tuple

from tapegrad.ops import OPS

NUMBER = "number"  # an external read as a number, not an array


@dataclass(frozen=True)
class Spec:
    """What a group computes, with no values: equal specs share kernels."""

    members: Tuple  # (op name, (operand ref, ...)) per member, in tape order
    externals: Tuple  # per external: an index pattern like "[r, c]", or NUMBER
    outputs: Tuple  # member indices whose values leave the group
    grads: Tuple  # per external: whether it wants a gradient


def _operand(ref):
    kind, j = ref
    return f"m{j}" if kind == "m" else f"x{j}"


def _loads(spec, pad, stored=False):
    lines = []
    for k, pattern in enumerate(spec.externals):
        lines.append(f"{pad}x{k} = e{k}" if pattern == NUMBER else f"{pad}x{k} = e{k}{pattern}")
    return lines + member_lines(spec, pad, stored)


def member_lines(spec, pad, stored=False):
    """The lines that compute each member ``m{j}`` of ``spec`` from the
    externals' values ``x{k}``, indented by ``pad``; ``stored``: an
    output's value is read from ``v{k}`` (where the forward kernel stored
    it), not computed again."""
    outputs = {j: k for k, j in enumerate(spec.outputs)} if stored else {}
    return [f"{pad}m{j} = v{outputs[j]}[r, c]" if j in outputs else
            f"{pad}m{j} = {name}_value({', '.join(_operand(r) for r in refs)})"
            for j, (name, refs) in enumerate(spec.members)]


def _header(name, args):
    return [f"def {name}({', '.join(args)}):",
            "    for r in range(R):",
            "        for c in range(C):"]


def forward_source(spec):
    """The forward kernel: ``fused_forward(e..., o..., R, C)``."""
    externals = [f"e{k}" for k in range(len(spec.externals))]
    outputs = [f"o{k}" for k in range(len(spec.outputs))]
    pad = " " * 12
    lines = _header("fused_forward", externals + outputs + ["R", "C"]) + _loads(spec, pad)
    lines += [f"{pad}o{k}[r, c] = m{j}" for k, j in enumerate(spec.outputs)]
    return "\n".join(lines) + "\n"


def _adjoint_of(ref):
    kind, j = ref
    return f"a{j}" if kind == "m" else f"b{j}"


def adjoint_lines(spec, seeds, pad):
    """The lines of one element's reverse walk over the members of
    ``spec`` (their values ``m{j}`` computed): member ``j``'s adjoint
    ``a{j}`` starts at ``seeds[j]`` (an expression) or 0, and each
    external ``k`` that wants a gradient ends with its own in ``b{k}``.

    Each term is the op table's row rule: ``a * partial``, or a zero
    adjoint itself (never ``0 * inf``; a ``-0.0`` stays one).  An adjoint's
    first term is stored and the next added, as the record-by-record sweep
    adds its records' terms (``0.0 + -0.0`` would lose a signed zero)."""
    lines = [f"{pad}a{j} = {seeds.get(j) or '0.0'}" for j in range(len(spec.members))]
    started = {f"a{j}" for j in seeds if seeds[j]}
    pushes = []
    for j in reversed(range(len(spec.members))):
        name, refs = spec.members[j]
        values = ", ".join(_operand(r) for r in refs)
        for k, ref in enumerate(refs):
            if ref[0] == "e" and not spec.grads[ref[1]]:
                continue  # a constant, or a record that needs no gradient
            partial = partial_call(name, k, values, f"m{j}")
            target = _adjoint_of(ref)
            push = "+=" if target in started else "="
            started.add(target)
            pushes.append(f"{pad}{target} {push} {term(f'a{j}', partial)}")
    # Each b{k} starts as a float64 0.0 (the sum of a float32 group's terms
    # is made in float64, rounded once), then takes its first term.
    lines += [f"{pad}b{k} = 0.0" for k in range(len(spec.externals)) if spec.grads[k]]
    return lines + pushes


def partial_call(name, k, values, value):
    """The call of op ``name``'s partial in its operand ``k`` (the op
    table's rule, as the kernels import it) at the operands ``values`` and
    the op's ``value`` (source text)."""
    return f"{name}_{OPS[name].partials[k].__name__}({values}, {value})"


def term(adjoint, partial):
    """The term ``adjoint * partial`` as the op table's row rules give it:
    a zero adjoint is the term itself (so ``partial`` is not evaluated)."""
    return f"({adjoint} * {partial} if {adjoint} != 0.0 else {adjoint})"


def backward_source(spec, modes, stored=False):
    """The VJP kernel for output adjoints given as ``modes`` (per output:
    ``"array"``, ``"number"`` for one value everywhere, or ``"zero"``):
    ``fused_backward(e..., g..., ge..., acc..., R, C)``, with a ``ge`` and
    an ``acc`` flag per external that wants a gradient (a number's ``ge``
    is a one-element array it is summed into).  A gradient summed over a
    row, or over everything, is summed in a register and stored once.
    ``stored``: the outputs' values are arguments ``v...`` after the
    ``e...``, read instead of computed again (the same numbers)."""
    n_ext = len(spec.externals)
    wanted = [k for k in range(n_ext) if spec.grads[k]]
    args = ([f"e{k}" for k in range(n_ext)]
            + [f"v{k}" for k in range(len(spec.outputs)) if stored]
            + [f"g{k}" for k in range(len(spec.outputs))]
            + [f"ge{k}" for k in wanted] + [f"acc{k}" for k in wanted] + ["R", "C"])
    per_row = [k for k in wanted if spec.externals[k] == "[r, 0]"]
    summed = [k for k in wanted if spec.externals[k] in (NUMBER, "[0, 0]")]
    lines = [f"def fused_backward({', '.join(args)}):"]
    lines += [f"    s{k} = 0.0" for k in summed]
    lines += ["    for r in range(R):"] + [f"        s{k} = 0.0" for k in per_row]
    lines += ["        for c in range(C):"]
    pad = " " * 12
    lines += _loads(spec, pad, stored)
    seeds = {}
    for k, (j, mode) in enumerate(zip(spec.outputs, modes)):
        seeds[j] = {"array": f"g{k}[r, c]", "number": f"g{k}", "zero": None}[mode]
    lines += adjoint_lines(spec, seeds, pad)
    for k in wanted:
        pattern = spec.externals[k]
        if k in per_row or k in summed:
            lines.append(f"{pad}s{k} += b{k}")
        elif pattern == "[r, c]":
            lines += [f"{pad}if acc{k}:", f"{pad}    ge{k}[r, c] += b{k}",
                      f"{pad}else:", f"{pad}    ge{k}[r, c] = b{k}"]
        else:  # a row, broadcast down the rows
            lines.append(f"{pad}ge{k}{pattern} += b{k}")
    lines += [f"        ge{k}[r, 0] += s{k}" for k in per_row]
    lines += [f"    ge{k}[0] += s{k}" if spec.externals[k] == NUMBER else f"    ge{k}[0, 0] += s{k}"
              for k in summed]
    return "\n".join(lines) + "\n"
