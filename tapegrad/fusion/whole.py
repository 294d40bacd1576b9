"""Source of the one kernel that replays a whole program: one fused group
over slices of the inputs, summed (:mod:`tapegrad.replay.schedule`).

The kernel walks the group's ``N`` elements once.  Each element's members
are computed in registers from the inputs read in place
(``L{l}[i + offset]``: a slice ``x[1:]`` is its leaf at an offset, so no
view is made per call), and its value goes to the scratch ``o0``, summed
at the end in NumPy's pairwise order
(:func:`~tapegrad.fusion.reduce.pairwise_sum`: ``np.sum``'s result to the
bit).  The element's reverse walk
(:func:`~tapegrad.fusion.source.adjoint_lines`) follows, and each input's
gradient is written once per element:

* a leaf read whole, or through one slice, gets each term stored;
* a leaf read through slices at a few nearby offsets (``x[1:]`` and
  ``x[:-1]``) sums its terms in a window of registers, one per offset, and
  stores each element once it is complete, so no element is loaded back
  from memory (an add chained through memory would stall each element on
  the previous one's store);
* slices further apart add their terms in place.

Each gradient element gets at most two terms (the caller checks), onto a
zero, each rounded to the gradient's dtype first: so any order gives the
bits of the sweeps, which add them one after the other.

>>> from tapegrad.fusion.source import Spec
>>> spec = Spec(members=(("mul", (("e", 0), ("e", 0))),), externals=("[r, c]",),
...             outputs=(0,), grads=(True,))
>>> print(whole_source(spec, [("leaf", 0, 1)], {0: [(0, 1)]}, "float64"))
def whole_value_and_grad(L0, g, G0, o0, zero, N):
    for i in range(N):
        x0 = L0[i + 1]
        m0 = mul_value(x0, x0)
        o0[i] = m0
        a0 = g
        b0 = 0.0
        if a0 != 0.0:
            b0 += a0 * mul_d_x(x0, x0, m0)
            b0 += a0 * mul_d_y(x0, x0, m0)
        G0[i + 1] = b0
    return zero + pairwise_sum(o0, 0, N, zero)
<BLANKLINE>
"""

from tapegrad.fusion.source import adjoint_lines, member_lines
from tapegrad.ops import OPS

WINDOW = 8  # the widest span of offsets whose terms are summed in registers


def whole_source(spec, reads, targets, dtype, with_grads=True, tail=(), mean=False):
    """The kernel of a group of ``spec`` whose one output is summed.

    ``reads`` says per external ``k`` where its element ``i`` is:
    ``("number",)`` (argument ``e{k}``), ``("array",)`` (``e{k}[i]``) or
    ``("leaf", l, offset)`` (``L{l}[i + offset]``, leaf ``l`` flattened).
    ``targets`` maps each leaf ``l`` that wants a gradient to the
    ``(k, offset)`` of its externals that do.  ``dtype`` names the group's
    NumPy dtype.  The kernel is ``whole_value_and_grad(e..., L..., g, G...,
    o0, zero, N)``, ``G{l}`` leaf ``l``'s flat gradient (zeroed where no
    term lands), ``g`` the sum's adjoint, ``o0`` a scratch of ``N``; it
    returns the sum.  With ``with_grads`` False: ``whole_value(e..., L...,
    o0, zero, N)``.

    ``mean``: the mean instead of the sum; ``tail``: one-number records
    after it, per record ``(op name, operands)``, each operand ``"v"`` (the
    value before) or ``k`` (the number ``t{k}``, an argument after the
    ``L...``).  Either makes two passes: the values and their sum, the
    mean and the tail; then the tail's adjoints, in reverse, and each
    element's reverse walk from the sum's (see :func:`tail_lines`).
    """
    two_passes = bool(tail) or mean
    externals = [f"e{k}" for k, read in enumerate(reads) if read[0] != "leaf"]
    leaves = sorted({read[1] for read in reads if read[0] == "leaf"})
    numbers = sorted({o for _, operands in tail for o in operands if o != "v"})
    args = externals + [f"L{l}" for l in leaves] + [f"t{k}" for k in numbers]
    if with_grads:
        args += ["g"] + [f"G{l}" for l in sorted(targets)]
    name = "whole_value_and_grad" if with_grads else "whole_value"
    pad = " " * 8
    loads = [pad + _load(k, read) for k, read in enumerate(reads)] + member_lines(spec, pad)
    values = loads + [f"{pad}o0[i] = m{spec.outputs[0]}"]
    before, walk, after = [], [], []
    if with_grads:
        walk = adjoint_lines(spec, {spec.outputs[0]: "v_seed" if two_passes else "g"}, pad)
        for l in sorted(targets):
            b, e, a = _gradient_lines(l, targets[l], dtype, pad)
            before += b
            walk += e
            after += a
    lines = [f"def {name}({', '.join(args + ['o0', 'zero', 'N'])}):"]
    if not two_passes:
        lines += [*before, "    for i in range(N):", *values, *walk, *after,
                  "    return zero + pairwise_sum(o0, 0, N, zero)"]
    else:
        lines += ["    for i in range(N):", *values, *tail_lines(tail, dtype, mean, with_grads)]
        if with_grads:
            lines += [*before, "    for i in range(N):", *loads, *walk, *after]
        lines.append(f"    return v{len(tail)}")
    return "\n".join(lines) + "\n"


def _load(k, read):
    if read[0] == "number":
        return f"x{k} = e{k}"
    if read[0] == "array":
        return f"x{k} = e{k}[i]"
    _, l, offset = read
    return f"x{k} = L{l}[i + {offset}]" if offset else f"x{k} = L{l}[i]"


def _gradient_lines(l, terms, dtype, pad):
    """``(before the walk, per element, after the walk)`` lines for leaf
    ``l``'s gradient ``G{l}``, from its externals' ``(k, offset)``."""
    cast = f"np.{dtype}"
    if len(terms) == 1:
        (k, offset), = terms
        return [], [f"{pad}G{l}[i{_plus(offset)}] = b{k}"], []
    base = min(offset for _, offset in terms)
    span = max(offset for _, offset in terms) - base
    if adds_in_place(terms):
        return [], [f"{pad}G{l}[i{_plus(offset)}] += {cast}(b{k})" for k, offset in terms], []
    window = [f"w{l}_{d}" for d in range(span + 1)]
    before = [f"    {w} = {cast}(0.0)" for w in window]
    each = [f"{pad}{window[offset - base]} += {cast}(b{k})" for k, offset in terms]
    each.append(f"{pad}G{l}[i{_plus(base)}] = {window[0]}")
    each += [f"{pad}{window[d]} = {window[d + 1]}" for d in range(span)]
    each.append(f"{pad}{window[span]} = {cast}(0.0)")
    # After the last element the window holds the elements past the walk's end.
    after = [f"    G{l}[N{_plus(base + d)}] = {window[d]}" for d in range(span)]
    return before, each, after


def adds_in_place(terms):
    """Whether a leaf's gradient with the terms ``(k, offset)`` is added to
    in place (so it must start at zero everywhere): slices too far apart
    for the window."""
    offsets = [offset for _, offset in terms]
    return len(offsets) > 1 and max(offsets) - min(offsets) > WINDOW


def _plus(offset):
    return f" + {offset}" if offset else ""


def tail_lines(tail, dtype, mean, with_grads):
    """The lines from the values ``o0`` to the output ``v{len(tail)}``:
    ``v0``, their sum (NumPy's pairwise order) or mean (NumPy's: the sum
    over the count, rounded to ``dtype``), then each tail record's value
    from the one before, rounded to ``dtype`` as an array holds it.  With
    ``with_grads``, the reverse: ``u{j}``, each value's adjoint from ``g``,
    with the table's partials (a zero adjoint contributes nothing), and
    ``v_seed``, the adjoint each element's walk starts from (the mean's
    divided by the count, as its VJP divides)."""
    cast = f"np.{dtype}"
    lines = ["    v0 = zero + pairwise_sum(o0, 0, N, zero)"]
    if mean:
        lines.append(f"    v0 = {cast}(v0 / N)")
    for j, (name, operands) in enumerate(tail, start=1):
        values = ", ".join(f"v{j - 1}" if o == "v" else f"t{o}" for o in operands)
        lines.append(f"    v{j} = {cast}({name}_value({values}))")
    if not with_grads:
        return lines
    lines.append(f"    u{len(tail)} = g")
    for j in range(len(tail), 0, -1):
        name, operands = tail[j - 1]
        values = ", ".join(f"v{j - 1}" if o == "v" else f"t{o}" for o in operands)
        partial = OPS[name].partials[operands.index("v")].__name__
        lines += [f"    q{j} = 0.0", f"    if u{j} != 0.0:",
                  f"        q{j} += u{j} * {name}_{partial}({values}, v{j})",
                  f"    u{j - 1} = {cast}(q{j})"]
    lines.append(f"    v_seed = u0 / {cast}(N)" if mean else "    v_seed = u0")
    return lines
