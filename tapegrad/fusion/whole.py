"""Source of the one kernel that replays a whole program: fused groups over
slices of the inputs, each summed or averaged, and one-number records over
those numbers (:mod:`tapegrad.replay.schedule`).

One group summed is one pass over its ``N`` elements.  Each element's
members are computed in registers from the inputs read in place
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

Several groups, a mean, or records after the sums (``(x * x).sum() + 0.1 *
(w * w).sum()``, ``np.sqrt(s)``) wait for the sums before any adjoint is
known: a pass of values per group, the records after them, their adjoints,
then a pass of reverse walks per group, the last group first, as the sweeps
go; a group that reaches a gradient another has written adds in place.

Each gradient element gets at most two terms (the caller checks), each
rounded to the gradient's dtype first: so either order gives the bits of
the sweeps, which add them one after the other (a first term stored, a
slice's added onto a zero, as the sweeps do).  In float64 a leaf read
whole may get more, added in the sweeps' order: the groups' walks go last
group first, and a group of one record adds each operand's term apart.

>>> from tapegrad.fusion.source import Spec
>>> spec = Spec(members=(("mul", (("e", 0), ("e", 0))),), externals=("[r, c]",),
...             outputs=(0,), grads=(True,))
>>> print(whole_source([(spec, [("leaf", 0, 1)], {0: [(0, 1)]}, False)], (), "float64"))
def whole_value_and_grad(L0, g, G0, o0, zero, N0):
    for i in range(N0):
        x0 = L0[i + 1]
        m0 = mul_value(x0, x0)
        o0[i] = m0
        a0 = g
        b0 = 0.0
        b0 = (a0 * mul_d_x(x0, x0, m0) if a0 != 0.0 else a0)
        b0 += (a0 * mul_d_y(x0, x0, m0) if a0 != 0.0 else a0)
        G0[i + 1] = b0
    return zero + pairwise_sum(o0, 0, N0, zero)
<BLANKLINE>
"""

from tapegrad.fusion.source import adjoint_lines, member_lines, partial_call, term

WINDOW = 8  # the widest span of offsets whose terms are summed in registers
DOT = "dot"  # a part's ``mean`` when it is its output's dot with itself


def whole_source(parts, tree, dtype, with_grads=True, sliced=frozenset(), products=(),
                 fused=()):
    """The kernel of fused groups each reduced to one number, and a tree of
    one-number records over those numbers.

    ``parts``: per reduction, in the order the sweeps would reach their
    groups forward (by last member), ``(spec, reads, targets,
    mean)``: the group of ``spec`` whose one output is summed (averaged if
    ``mean``).  ``reads`` says per external ``k`` where its element ``i``
    is: ``("number",)`` (argument ``e{j}_{k}`` of part ``j``),
    ``("array",)`` (``e{j}_{k}[i]``) or ``("leaf", l, offset)`` (``L{l}[i +
    offset]``, leaf ``l`` flattened).  ``targets`` maps each leaf ``l``
    that wants a gradient to the ``(k, offset)`` of its externals that do.
    ``tree``: per record after the reductions, in record order, ``(op name,
    operands)``, each operand ``("r", j)`` (part ``j``'s number), ``("v",
    n)`` (record ``n`` of the tree) or ``k`` (the number ``t{k}``, an
    argument after the ``L...``); each part and record is read once, and
    the last record (else the one part) is the output.  ``dtype`` names the
    groups' NumPy dtype; ``sliced``, the leaves read through slices, whose
    terms the sweeps add onto zeros (a ``-0.0`` comes out ``0.0``).
    ``products``: per product of a constant matrix and a vector input
    (:mod:`tapegrad.replay.products`), ``(l, s, at)``: leaf ``s`` is
    matrix ``M{p}`` times leaf ``l``, computed first by ``gemv`` (an
    argument before ``o0``, with the ``M...``); its gradient, the walks'
    ``G{s}``, goes to leaf ``l``'s right after part ``at``'s walk (where
    the sweeps reach the product), stored or added as a part's terms are.
    ``fused``: per record of ``tree``, None, or ``(group, output)`` where
    the sweeps fuse it into a group (:func:`tree_lines`).  A part whose
    ``mean`` is :data:`DOT` is not summed but dotted with itself (``r @
    r``: BLAS's dot, at the argument ``dot``, and two terms per element,
    as ``matmul``'s VJP gives them).

    The kernel is ``whole_value_and_grad(e..., L..., t..., g, G..., o0,
    zero, N0, N1, ...)``: ``G{l}`` leaf ``l``'s flat gradient (zeroed where
    no term lands), ``g`` the output's adjoint, ``o0`` a scratch of the
    largest ``N{j}``; it returns the output.  With ``with_grads`` False:
    ``whole_value(e..., L..., t..., o0, zero, N...)``.

    One part summed is one pass: each element's value, then its reverse
    walk from ``g``.  Anything else makes two: per part its values and
    their sum, the mean and the tree's values; then the tree's adjoints, in
    reverse, and per part, the last first (the sweeps' order), each
    element's reverse walk (see :func:`tree_lines`).  The part that reaches
    a leaf's gradient first writes it as one part alone does; a later part
    adds its terms in place, one term per operand for a part of one record
    (:func:`one_record_walk`), as the sweeps add them.
    """
    cast = f"np.{dtype}"
    made = {s for _, s, _ in products}  # leaves the kernel computes, and their gradients
    args = [f"e{j}_{k}" for j, (_, reads, _, _) in enumerate(parts)
            for k, read in enumerate(reads) if read[0] != "leaf"]
    inputs = {l for l, _, _ in products}  # the products' inputs, read by them at least
    args += [f"L{l}" for l in sorted({read[1] for _, reads, _, _ in parts
                                      for read in reads if read[0] == "leaf"} - made | inputs)]
    args += [f"t{k}" for k in sorted({o for _, operands in tree for o in operands
                                      if isinstance(o, int)})]
    if with_grads:
        args += ["g"] + [f"G{l}" for l in sorted({l for part in parts for l in part[2]}
                                                 - made | inputs)]
    if products:
        args += ["gemv"] + [f"M{p}" for p in range(len(products))]
    if any(part[3] == DOT for part in parts):
        args.append("dot")
    args += ["o0", "zero"] + [f"N{j}" for j in range(len(parts))]
    name = "whole_value_and_grad" if with_grads else "whole_value"
    lines = [f"def {name}({', '.join(args)}):"]
    lines += product_lines(products, dtype, with_grads)
    pad = " " * 8
    loads = [[pad + _load(j, k, read) for k, read in enumerate(reads)] + member_lines(spec, pad)
             for j, (spec, reads, _, _) in enumerate(parts)]
    values = [load + [f"{pad}o0[i] = m{part[0].outputs[0]}"] for load, part in zip(loads, parts)]
    one_pass = len(parts) == 1 and not tree and not parts[0][3]
    reached = set()  # the leaves whose gradient a part walked before wrote
    walks = {}
    for j in range(len(parts) - 1, -1, -1):
        spec, _, targets, how = parts[j]
        seed = "g" if one_pass else f"s{j}"
        if how == DOT:  # matmul's VJP hands its vector two terms, g * y and g * x
            out = f"m{spec.outputs[0]}"
            seed = f"dot_term({seed}, {out}) + dot_term({seed}, {out})"
        terms = None  # per external, its terms' variables, where each is added apart
        if len(spec.members) == 1 and reached & set(targets):
            walk, terms = one_record_walk(spec, seed, pad)
        else:
            walk = adjoint_lines(spec, {spec.outputs[0]: seed}, pad)
        before, after = [], []
        for l in sorted(targets):
            if terms is not None and l in reached:
                walk = walk + [f"{pad}G{l}[i{_plus(offset)}] += {cast}({term})"
                               for k, offset in targets[l] for term in terms[k]]
                continue
            b, e, a = _gradient_lines(l, targets[l], dtype, pad, f"N{j}", l in reached,
                                      l in sliced)
            before, walk, after = before + b, walk + e, after + a
        reached |= set(targets)
        # (products in record order, as their slots are: the sweeps reach the last first)
        reached_products = [(p, l, s) for p, (l, s, at) in enumerate(products) if at == j][::-1]
        walks[j] = before, walk, after + product_vjp_lines(reached_products, reached, dtype)
    if one_pass:
        before, walk, after = walks[0] if with_grads else ([], [], [])
        lines += [*before, "    for i in range(N0):", *values[0], *walk]
        if products and with_grads:
            lines += [*after, "    r0 = zero + pairwise_sum(o0, 0, N0, zero)", "    return r0"]
        else:
            lines += [*after, "    return zero + pairwise_sum(o0, 0, N0, zero)"]
        return "\n".join(lines) + "\n"
    for j, (_, _, _, how) in enumerate(parts):
        lines += [f"    for i in range(N{j}):", *values[j]]
        if how == DOT:
            lines.append(f"    r{j} = dot_value(dot, o0[:N{j}], o0[:N{j}])")
            continue
        lines.append(f"    r{j} = zero + pairwise_sum(o0, 0, N{j}, zero)")
        if how:
            lines.append(f"    r{j} = {cast}(r{j} / N{j})")
    lines += tree_lines(tree, [part[3] is True for part in parts], dtype, with_grads, fused)
    if with_grads:
        for j in range(len(parts) - 1, -1, -1):
            before, walk, after = walks[j]
            lines += [*before, f"    for i in range(N{j}):", *loads[j], *walk, *after]
    lines.append(f"    return {_value(('v', len(tree) - 1)) if tree else 'r0'}")
    return "\n".join(lines) + "\n"


def product_lines(products, dtype, with_grads):
    """The lines that compute each product ``(l, s, _)`` of ``products``
    (see :func:`whole_source`) into ``L{s}``, and make its gradient ``G{s}``."""
    lines = []
    for p, (l, s, _) in enumerate(products):
        lines += [f"    L{s} = np.empty(M{p}.shape[0], np.{dtype})",
                  f"    vector_value(gemv, M{p}, L{l}, L{s})"]
        if with_grads:
            lines.append(f"    G{s} = np.empty(M{p}.shape[0], np.{dtype})")
    return lines


def product_vjp_lines(products, written, dtype):
    """The lines that add each product ``(p, l, s)``'s gradient to its
    input's: stored where nothing was ``written`` there before, else added
    in place (as the sweeps add a product's VJP); ``written`` gains the
    inputs."""
    lines = []
    for p, l, s in products:
        if l not in written:
            lines.append(f"    vector_vjp(gemv, M{p}, G{s}, G{l})")
            written.add(l)
            continue
        lines += [f"    d{p} = np.empty(M{p}.shape[1], np.{dtype})",
                  f"    vector_vjp(gemv, M{p}, G{s}, d{p})",
                  f"    for i in range(M{p}.shape[1]):",
                  f"        G{l}[i] += d{p}[i]"]
    return lines


def one_record_walk(spec, seed, pad):
    """The reverse walk of a group of one record from the adjoint ``seed``,
    each operand ``p``'s term in a variable ``c{p}`` of its own, as the
    record's own VJP hands them to the sweeps: ``(lines, terms)``,
    ``terms[k]`` the variables of external ``k``'s terms in operand order;
    the lines also set ``b{k}``, their sum (the first stored, as
    :func:`~tapegrad.fusion.source.adjoint_lines` sums them).

    >>> from tapegrad.fusion.source import Spec
    >>> spec = Spec(members=(("mul", (("e", 0), ("e", 0))),), externals=("[r, c]",),
    ...             outputs=(0,), grads=(True,))
    >>> lines, terms = one_record_walk(spec, "s0", "")
    >>> terms
    {0: ['c0', 'c1']}
    >>> print("\\n".join(lines))
    a0 = s0
    c0 = (a0 * mul_d_x(x0, x0, m0) if a0 != 0.0 else a0)
    c1 = (a0 * mul_d_y(x0, x0, m0) if a0 != 0.0 else a0)
    b0 = c0
    b0 += c1
    """
    (name, refs), = spec.members
    values = ", ".join(f"x{k}" for _, k in refs)
    wanted = [(p, k) for p, (_, k) in enumerate(refs) if spec.grads[k]]
    lines = [f"{pad}a0 = {seed}"]
    lines += [f"{pad}c{p} = " + term("a0", partial_call(name, p, values, "m0"))
              for p, _ in wanted]
    terms = {}
    for p, k in wanted:
        terms.setdefault(k, []).append(f"c{p}")
    for k, names in terms.items():
        lines += [f"{pad}b{k} = {names[0]}"] + [f"{pad}b{k} += {c}" for c in names[1:]]
    return lines, terms


def _load(j, k, read):
    if read[0] == "number":
        return f"x{k} = e{j}_{k}"
    if read[0] == "array":
        return f"x{k} = e{j}_{k}[i]"
    _, l, offset = read
    return f"x{k} = L{l}[i + {offset}]" if offset else f"x{k} = L{l}[i]"


def _gradient_lines(l, terms, dtype, pad, count, reached, sliced):
    """``(before the walk, per element, after the walk)`` lines for leaf
    ``l``'s gradient ``G{l}``, from its externals' ``(k, offset)`` over
    ``count`` elements; ``reached``: another part wrote it before, so the
    terms are added in place; ``sliced``: read through slices, so a term
    is added onto a zero, not stored."""
    cast = f"np.{dtype}"
    if reached or adds_in_place(terms):
        return [], [f"{pad}G{l}[i{_plus(offset)}] += {cast}(b{k})" for k, offset in terms], []
    if len(terms) == 1:
        (k, offset), = terms
        return [], [f"{pad}G{l}[i{_plus(offset)}] = b{k}{' + 0.0' if sliced else ''}"], []
    base = min(offset for _, offset in terms)
    span = max(offset for _, offset in terms) - base
    window = [f"w{l}_{d}" for d in range(span + 1)]
    before = [f"    {w} = {cast}(0.0)" for w in window]
    each = [f"{pad}{window[offset - base]} += {cast}(b{k})" for k, offset in terms]
    each.append(f"{pad}G{l}[i{_plus(base)}] = {window[0]}")
    each += [f"{pad}{window[d]} = {window[d + 1]}" for d in range(span)]
    each.append(f"{pad}{window[span]} = {cast}(0.0)")
    # After the last element the window holds the elements past the walk's end.
    after = [f"    G{l}[{count}{_plus(base + d)}] = {window[d]}" for d in range(span)]
    return before, each, after


def adds_in_place(terms):
    """Whether a leaf's gradient with the terms ``(k, offset)`` is added to
    in place (so it must start at zero everywhere): slices too far apart
    for the window."""
    offsets = [offset for _, offset in terms]
    return len(offsets) > 1 and max(offsets) - min(offsets) > WINDOW


def _plus(offset):
    return f" + {offset}" if offset else ""


def tree_lines(tree, means, dtype, with_grads, fused=()):
    """The lines from the parts' numbers ``r{j}`` (``means[j]``: part
    ``j`` is a mean) to the tree's values ``v{n}``, each record's value
    from its operands, rounded to ``dtype`` as an array holds it.  With
    ``with_grads``, the reverse: from ``g``, each value's adjoint (``uv{n}``,
    ``ur{j}``) with the table's partials (a zero adjoint is its own term:
    :func:`~tapegrad.fusion.source.term`), and ``s{j}``, the adjoint part
    ``j``'s elements start from
    (a mean's divided by the count, as its VJP divides).

    Records that the sweeps fuse (``fused[n]``: ``(group, output)``) are
    computed as the fused group computes them: a member's value is
    rounded only where the group stores it (an output), and the adjoint
    of a member from another member is a register of its own that starts
    at ``0.0`` (so float64), as :func:`~tapegrad.fusion.source.adjoint_lines`
    has it, rounded only where it leaves the group."""
    cast = f"np.{dtype}"
    fused = tuple(fused) or (None,) * len(tree)
    lines = []
    for n, (name, operands) in enumerate(tree):
        value = f"{name}_value({', '.join(map(_value, operands))})"
        inside = fused[n] is not None and not fused[n][1]  # a member the group keeps
        lines.append(f"    v{n} = {value}" if inside else f"    v{n} = {cast}({value})")
    if not with_grads:
        return lines
    lines.append(f"    {_adjoint(('v', len(tree) - 1) if tree else ('r', 0))} = g")
    for n in range(len(tree) - 1, -1, -1):
        name, operands = tree[n]
        values = ", ".join(map(_value, operands))
        for p, o in enumerate(operands):
            if isinstance(o, int):
                continue
            q = term(f"uv{n}", partial_call(name, p, values, f"v{n}"))
            if o[0] == "v" and fused[n] is not None and fused[o[1]] is not None \
                    and fused[o[1]][0] == fused[n][0]:
                lines += [f"    {_adjoint(o)} = 0.0", f"    {_adjoint(o)} = {q}"]
            else:
                lines.append(f"    {_adjoint(o)} = {cast}{q}")
    for j, mean in enumerate(means):
        lines.append(f"    s{j} = ur{j} / {cast}(N{j})" if mean else f"    s{j} = ur{j}")
    return lines


def _value(operand):
    return f"t{operand}" if isinstance(operand, int) else f"{operand[0]}{operand[1]}"


def _adjoint(operand):
    return f"u{operand[0]}{operand[1]}"
