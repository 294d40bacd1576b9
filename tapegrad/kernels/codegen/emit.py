"""Line builders shared by the generators: how an op's operands are read,
how a rule is called, and how an adjoint and its tangent are pushed."""

from tapegrad.ops import SECOND_OF


def operands(op, indent):
    """Lines reading ``x`` (and ``y``) of the record ``i`` from ``val``, or
    from its ``const`` slot where the argument index is below zero."""
    pad = " " * indent
    if op.arity == 1:
        return [f"{pad}x = val[a0]"]
    return [
        f"{pad}x = val[a0] if a0 >= 0 else const[i]",
        f"{pad}y = val[a1] if a1 >= 0 else const[i]",
    ]


def args_of(op):
    """The operands' names, as a rule's leading arguments."""
    return "x" if op.arity == 1 else "x, y"


def call(op, rule, args=None, out="out"):
    """A call of ``op``'s ``rule`` by its module-level name (see the sweeps'
    header), on ``args`` (the operands by default) and the output ``out``."""
    return f"{op.name}_{rule.__name__}({args or args_of(op)}, {out})"


def push_with_tangent(op, k, call_rule, g, gt, adj, adj_tan):
    """Unindented lines adding argument ``k``'s adjoint ``g * p`` into
    ``adj`` and its tangent ``g * h + gt * p`` into ``adj_tan``, where ``p``
    is the partial and ``h`` its derivative along the arguments' tangents
    ``t0``/``t1`` (zero factors skipped: no 0 * inf, so a branch ``where``
    did not take stays out); ``call_rule(rule)`` is
    how a rule is called where the lines go."""
    body = [f"p = {call_rule(op.partials[k])}", "h = 0.0"]
    for s, arg in SECOND_OF[op.arity][k]:
        body += [f"if t{arg} != 0.0:", f"    second = {call_rule(op.second[s])}",
                 "    if second != 0.0:", f"        h += second * t{arg}"]
    return body + [f"if {g} != 0.0:", f"    {adj} += {g} * p",
                   "    if h != 0.0:", f"        {adj_tan} += {g} * h",
                   f"if {gt} != 0.0 and p != 0.0:", f"    {adj_tan} += {gt} * p"]
