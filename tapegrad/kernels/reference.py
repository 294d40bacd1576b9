"""A pure-Python interpreter of the tape: the living definition of a sweep.

Slow and obvious on purpose.  It reads the same SoA columns as the numba
kernels and calls the op table's rules directly, one record at a time, so
the compiled sweeps in :mod:`tapegrad.kernels.sweeps` are tested against it (and it
against finite differences).  :func:`check` states the tape's invariants.

>>> import tapegrad as tg
>>> with tg.Tape() as tape:
...     y = tg.Value(2.0) * 3.0 - 1.0
>>> cols = {name: getattr(tape, name) for name in ("op", "arg0", "arg1", "const", "val")}
>>> check(cols)
>>> forward(cols, [5.0])
([5.0, 15.0, 14.0], -1)
>>> reverse(cols, last=2)
[3.0, 1.0, 1.0]
>>> tangent(cols, [0.5])
[0.5, 1.5, 1.5]
>>> reverse_tangent(cols, [0.5], last=2)   # (adjoints, their tangents)
([3.0, 1.0, 1.0], [0.0, 0.0, 0.0])
"""

from tapegrad.ops import BY_CODE, OPS, SECOND_OF

_INPUT = OPS["input"].code


def check(cols):
    """Raise AssertionError unless the tape's structure is sound: every opcode
    exists, every op has as many record arguments as its arity allows, every
    argument points to an earlier record, and inputs are numbered 0, 1, 2..."""
    op, arg0, arg1 = cols["op"], cols["arg0"], cols["arg1"]
    n_inputs = 0
    for i in range(len(op)):
        code, a0, a1 = int(op[i]), int(arg0[i]), int(arg1[i])
        assert code in BY_CODE, f"record {i}: unknown opcode {code}"
        spec = BY_CODE[code]
        if spec.arity == 0:
            assert a0 == n_inputs and a1 == -1, f"record {i}: input numbered {a0}, not {n_inputs}"
            n_inputs += 1
            continue
        args = (a0,) if spec.arity == 1 else (a0, a1)
        if spec.arity == 1:
            assert a1 == -1, f"record {i}: unary {spec.name} has a second argument"
            assert a0 >= 0, f"record {i}: unary {spec.name} of a constant"
        else:
            assert max(args) >= 0, f"record {i}: {spec.name} of two constants"
        for a in args:
            assert -1 <= a < i, f"record {i}: argument {a} does not point backwards"


def _operands(cols, val, i, spec):
    args = (int(cols["arg0"][i]), int(cols["arg1"][i]))[: spec.arity]
    return args, [val[a] if a >= 0 else float(cols["const"][i]) for a in args]


def forward(cols, inputs):
    """Recompute every value from ``inputs``; return ``(values, first_changed)``
    where ``first_changed`` is the first guard whose outcome differs from the
    recorded one (-1 if none)."""
    val, first_changed = [], -1
    for i in range(len(cols["op"])):
        spec = BY_CODE[int(cols["op"][i])]
        if spec.arity == 0:
            val.append(float(inputs[int(cols["arg0"][i])]))
            continue
        _, xs = _operands(cols, val, i, spec)
        value = spec.value(*xs)
        if spec.guard and value != cols["val"][i] and first_changed < 0:
            first_changed = i
        val.append(value)
    return val, first_changed


def reverse(cols, last, seed=1.0):
    """Adjoints d(record ``last``)/d(record i) for i in 0..last, as a list."""
    val = [float(v) for v in cols["val"][: last + 1]]
    adj = [0.0] * (last + 1)
    adj[last] = seed
    for i in range(last, -1, -1):
        spec = BY_CODE[int(cols["op"][i])]
        if adj[i] == 0.0 or not spec.differentiable:
            continue
        args, xs = _operands(cols, val, i, spec)
        for a, partial in zip(args, spec.partials):
            if a >= 0:
                adj[a] += adj[i] * partial(*xs, val[i])
    return adj


def tangent(cols, seed):
    """Tangents d(record i)/dt along the input direction ``seed``, as a list."""
    val, tan = cols["val"], []
    for i in range(len(cols["op"])):
        spec = BY_CODE[int(cols["op"][i])]
        if spec.arity == 0:
            tan.append(float(seed[int(cols["arg0"][i])]))
            continue
        args, xs = _operands(cols, val, i, spec)
        t = 0.0
        for a, partial in zip(args, spec.partials):
            if a >= 0 and tan[a] != 0.0:
                t += partial(*xs, float(val[i])) * tan[a]
        tan.append(t)
    return tan




def reverse_tangent(cols, seed, last, adj_seed=1.0):
    """Forward over reverse from record ``last``: ``(adj, adj_tan)``, the
    adjoints and their tangents along the input direction ``seed``; at the
    input records ``adj_tan`` is the Hessian-vector product."""
    val = [float(v) for v in cols["val"][: last + 1]]
    tan = tangent({k: c[: last + 1] for k, c in cols.items()}, seed)
    adj, adj_tan = [0.0] * (last + 1), [0.0] * (last + 1)
    adj[last] = adj_seed
    for i in range(last, -1, -1):
        spec = BY_CODE[int(cols["op"][i])]
        g, gt = adj[i], adj_tan[i]
        if (g == 0.0 and gt == 0.0) or not spec.differentiable:
            continue
        args, xs = _operands(cols, val, i, spec)
        ts = [tan[a] if a >= 0 else 0.0 for a in args]
        for k, (a, partial) in enumerate(zip(args, spec.partials)):
            if a < 0:
                continue
            p = partial(*xs, val[i])
            h = sum(spec.second[s](*xs, val[i]) * ts[j]
                    for s, j in SECOND_OF[spec.arity][k] if ts[j] != 0.0)
            if g != 0.0:
                adj[a] += g * p
                adj_tan[a] += g * h
            if gt != 0.0:
                adj_tan[a] += gt * p
    return adj, adj_tan
