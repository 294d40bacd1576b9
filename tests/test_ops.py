"""Every op of the table, through every sweep, against finite differences.

One parametrised test per property; the ops and their test domains come
from ``tapegrad.ops.OPS``, so a new op is tested by declaring it.
"""

import math

import numpy as np
import pytest

from conftest import FD_ATOL, FD_RTOL, SWEEP_RTOL, assert_close, central_difference
from tapegrad.kernels import sweeps as _sweeps, reference
from tapegrad.ops import OPS
from tapegrad.core.tape import INPUT, Recording

COMPUTED = [op for op in OPS.values() if op.arity > 0]
DIFFERENTIABLE = [op for op in COMPUTED if op.differentiable]


def variants(op):
    """Which argument (if any) is a constant in the record: None, 0 or 1."""
    return [None] if op.arity == 1 else [None, 0, 1]


CASES = [(op, slot) for op in COMPUTED for slot in variants(op)]
CASE_IDS = [f"{op.name}-{'records' if s is None else f'const{s}'}" for op, s in CASES]


def sample(op, rng, count=4):
    return [tuple(rng.uniform(lo, hi) for lo, hi in op.domain) for _ in range(count)]


def single_op_recording(op, xs, const_slot=None):
    """A recording of inputs, then one ``op`` record whose argument
    ``const_slot`` (if any) is a constant instead of an input."""
    rec = Recording()
    args, const, inputs = [], 0.0, []
    for k, x in enumerate(xs):
        if k == const_slot:
            args.append(-1)
            const = x
        else:
            args.append(rec.push(INPUT, len(inputs), -1, 0.0, x))
            inputs.append(x)
    args += [-1] * (2 - len(args))
    rec.push(op.code, args[0], args[1], const, op.value(*xs))
    return rec, inputs


def compiled_reverse(rec, last, seed=1.0):
    adj = np.zeros(rec.n)
    adj[last] = seed
    cols = rec.columns()
    _sweeps.reverse(cols["op"], cols["arg0"], cols["arg1"], cols["const"], cols["val"], adj, last)
    return adj


def compiled_forward(rec, inputs):
    cols = rec.columns()
    val = cols["val"].copy()
    changed = _sweeps.forward(
        cols["op"], cols["arg0"], cols["arg1"], cols["const"], val,
        np.asarray(inputs, dtype=np.float64), rec.n,
    )
    return val, changed


def test_every_op_has_rules_for_its_arity():
    for op in COMPUTED:
        assert op.value is not None, op.name
        assert op.domain and len(op.domain) == op.arity, op.name
        if op.differentiable:
            assert len(op.partials) == op.arity, op.name
            assert len(op.second) == {1: 1, 2: 3}[op.arity], op.name
    assert sorted(op.code for op in OPS.values()) == list(range(len(OPS)))


@pytest.mark.parametrize("op", DIFFERENTIABLE, ids=lambda op: op.name)
def test_partials_match_finite_differences(op, rng):
    for xs in sample(op, rng):
        out = op.value(*xs)
        for k, partial in enumerate(op.partials):
            expected = central_difference(op.value, xs, k)
            assert_close(partial(*xs, out), expected, FD_RTOL, FD_ATOL, f"{op.name} d{k} at {xs}")


@pytest.mark.parametrize("op", DIFFERENTIABLE, ids=lambda op: op.name)
def test_second_partials_match_finite_differences(op, rng):
    """d_xx, d_xy, d_yy against central differences of the first partials."""
    pairs = [(0, 0)] if op.arity == 1 else [(0, 0), (0, 1), (1, 1)]
    for xs in sample(op, rng):
        for (j, k), second in zip(pairs, op.second):
            first = op.partials[j]
            expected = central_difference(lambda *a: first(*a, op.value(*a)), xs, k)
            got = second(*xs, op.value(*xs))
            assert_close(got, expected, FD_RTOL, FD_ATOL, f"{op.name} d{j}{k} at {xs}")


@pytest.mark.parametrize("op,const_slot", CASES, ids=CASE_IDS)
def test_tape_invariants_then_replay(op, const_slot, rng):
    """Structure first; then the compiled replay, the reference interpreter
    and the values recorded in Python agree exactly."""
    for xs in sample(op, rng):
        rec, inputs = single_op_recording(op, xs, const_slot)
        reference.check(rec.columns())
        expected, ref_changed = reference.forward(rec.columns(), inputs)
        got, changed = compiled_forward(rec, inputs)
        assert changed == ref_changed == -1
        assert got.tolist() == expected == rec.columns()["val"].tolist()


@pytest.mark.parametrize("op,const_slot", [c for c in CASES if c[0].differentiable],
                         ids=[i for c, i in zip(CASES, CASE_IDS) if c[0].differentiable])
def test_reverse_sweep_matches_reference_and_finite_differences(op, const_slot, rng):
    for xs in sample(op, rng):
        rec, inputs = single_op_recording(op, xs, const_slot)
        last = rec.n - 1
        got = compiled_reverse(rec, last, seed=1.5)
        expected = reference.reverse(rec.columns(), last, seed=1.5)
        assert_close(got, expected, SWEEP_RTOL, 0.0, op.name)
        variable = [k for k in range(op.arity) if k != const_slot]
        for position, k in enumerate(variable):
            fd = 1.5 * central_difference(op.value, xs, k)
            assert_close(got[position], fd, FD_RTOL, FD_ATOL, f"{op.name} d{k} at {xs}")


def test_guard_replay_reports_the_first_changed_outcome():
    rec, _ = single_op_recording(OPS["lt"], (1.0, 2.0))  # recorded: 1 < 2 is true
    rec.push(OPS["branch"].code, 2, -1, 0.0, 1.0)  # `if x < y:`
    assert compiled_forward(rec, [1.0, 2.0])[1] == -1
    assert compiled_forward(rec, [3.0, 2.0])[1] == 3  # the branch, not the condition
    assert reference.forward(rec.columns(), [3.0, 2.0])[1] == 3


def test_only_branch_is_a_guard():
    assert [op.name for op in OPS.values() if op.guard] == ["branch"]
    assert all(not op.differentiable for op in OPS.values() if op.guard)


def compiled_tangent(rec, seed):
    cols = rec.columns()
    tan = np.zeros(rec.n)
    _sweeps.tangent(*cols.values(), tan, np.asarray(seed, dtype=np.float64), rec.n)
    return tan


def compiled_reverse_tangent(rec, seed, last, adj_seed=1.0):
    cols = rec.columns()
    tan = compiled_tangent(rec, seed)
    adj, adj_tan = np.zeros(rec.n), np.zeros(rec.n)
    adj[last] = adj_seed
    _sweeps.reverse_tangent(*cols.values(), tan, adj, adj_tan, last)
    return adj, adj_tan


@pytest.mark.parametrize("op,const_slot", CASES, ids=CASE_IDS)
def test_tangent_sweep_matches_reference_and_finite_differences(op, const_slot, rng):
    """Forward mode: the directional derivative along a random direction."""
    for xs in sample(op, rng):
        rec, inputs = single_op_recording(op, xs, const_slot)
        seed = rng.uniform(-1.0, 1.0, len(inputs))
        got = compiled_tangent(rec, seed)
        assert_close(got, reference.tangent(rec.columns(), seed), SWEEP_RTOL, 0.0, op.name)
        variable = [k for k in range(op.arity) if k != const_slot]
        fd = sum(seed[p] * central_difference(op.value, xs, k) for p, k in enumerate(variable))
        assert_close(got[-1], fd if op.differentiable else 0.0, FD_RTOL, FD_ATOL,
                     f"{op.name} at {xs}")


@pytest.mark.parametrize("op,const_slot", [c for c in CASES if c[0].differentiable],
                         ids=[i for c, i in zip(CASES, CASE_IDS) if c[0].differentiable])
def test_reverse_tangent_gives_hessian_vector_products(op, const_slot, rng):
    """Forward over reverse: adjoints as the reverse sweep's, and their
    tangents the Hessian (by differences of the partials) times the direction."""
    for xs in sample(op, rng):
        rec, inputs = single_op_recording(op, xs, const_slot)
        last = rec.n - 1
        seed = rng.uniform(-1.0, 1.0, len(inputs))
        adj, adj_tan = compiled_reverse_tangent(rec, seed, last, adj_seed=1.5)
        ref_adj, ref_adj_tan = reference.reverse_tangent(rec.columns(), seed, last, 1.5)
        assert_close(adj, ref_adj, SWEEP_RTOL, 0.0, op.name)
        assert_close(adj_tan, ref_adj_tan, SWEEP_RTOL, 0.0, op.name)
        assert_close(adj, compiled_reverse(rec, last, seed=1.5), SWEEP_RTOL, 0.0, op.name)
        variable = [k for k in range(op.arity) if k != const_slot]
        for position, j in enumerate(variable):
            first = op.partials[j]
            slope = lambda *a: first(*a, op.value(*a))  # noqa: E731
            hv = sum(seed[p] * central_difference(slope, xs, k) for p, k in enumerate(variable))
            assert_close(adj_tan[position], 1.5 * hv, FD_RTOL, FD_ATOL, f"{op.name} at {xs}")


# Known values at chosen points: (op, args) -> (value, partials).
# NOTE entries at kinks pin the conventions declared in the op table.
E, LN2 = math.e, math.log(2.0)
KNOWN = {
    ("add", (1.5, -4.0)): (-2.5, (1.0, 1.0)),
    ("sub", (5.0, 3.0)): (2.0, (1.0, -1.0)),
    ("mul", (3.0, 4.0)): (12.0, (4.0, 3.0)),
    ("div", (1.0, 4.0)): (0.25, (0.25, -0.0625)),
    ("pow", (2.0, 3.0)): (8.0, (12.0, 8.0 * LN2)),
    ("pow", (0.0, 2.0)): (0.0, (0.0, 0.0)),  # NOTE: d/dy masked at x = 0
    ("pow", (0.0, 0.0)): (1.0, (0.0, 0.0)),  # NOTE: d/dx masked at y = 0
    ("lt", (1.0, 2.0)): (1.0, ()),
    ("lt", (2.0, 2.0)): (0.0, ()),
    ("le", (2.0, 2.0)): (1.0, ()),
    ("neg", (2.0,)): (-2.0, (-1.0,)),
    ("square", (-3.0,)): (9.0, (-6.0,)),
    ("exp", (1.0,)): (E, (E,)),
    ("log", (E,)): (1.0, (1.0 / E,)),
    ("tanh", (0.0,)): (0.0, (1.0,)),
    ("sigmoid", (0.0,)): (0.5, (0.25,)),
    ("sin", (math.pi / 2,)): (1.0, (math.cos(math.pi / 2),)),
    ("cos", (0.0,)): (1.0, (-0.0,)),
    ("sqrt", (4.0,)): (2.0, (0.25,)),
    ("abs", (-2.0,)): (2.0, (-1.0,)),
    ("abs", (0.0,)): (0.0, (0.0,)),  # NOTE: abs'(0) = 0
    ("relu", (0.0,)): (0.0, (0.0,)),  # NOTE: relu'(0) = 0
    ("relu", (2.5,)): (2.5, (1.0,)),
    ("eq", (2.0, 2.0)): (1.0, ()),
    ("ne", (2.0, 2.0)): (0.0, ()),
    ("branch", (0.0,)): (0.0, ()),
    ("branch", (-0.5,)): (1.0, ()),
    ("branch", (math.nan,)): (1.0, ()),  # bool(nan) is True
    ("maximum", (1.0, 2.0)): (2.0, (0.0, 1.0)),
    ("maximum", (2.0, 2.0)): (2.0, (0.5, 0.5)),  # NOTE: ties split, as PyTorch
    ("minimum", (1.0, 2.0)): (1.0, (1.0, 0.0)),
    ("minimum", (2.0, 2.0)): (2.0, (0.5, 0.5)),  # NOTE: ties split, as PyTorch
    ("keep_if", (1.0, 3.0)): (3.0, (0.0, 1.0)),
    ("keep_if", (0.0, math.inf)): (0.0, (0.0, 0.0)),  # the other branch: an exact 0
    ("keep_unless", (0.0, 3.0)): (3.0, (0.0, 1.0)),
    ("keep_unless", (1.0, math.nan)): (0.0, (0.0, 0.0)),
    # NumPy's ufuncs, from identities: d/dx of each by hand.
    ("tan", (math.pi / 4,)): (1.0, (2.0,)),
    ("arcsin", (0.5,)): (math.pi / 6, (2.0 / math.sqrt(3.0),)),
    ("arcsin", (1.0,)): (math.pi / 2, (math.inf,)),  # NOTE: inf at the edge
    ("arccos", (0.5,)): (math.pi / 3, (-2.0 / math.sqrt(3.0),)),
    ("arctan", (1.0,)): (math.pi / 4, (0.5,)),
    ("sinh", (1.0,)): ((E - 1.0 / E) / 2.0, ((E + 1.0 / E) / 2.0,)),
    ("cosh", (0.0,)): (1.0, (0.0,)),
    ("arcsinh", (0.75,)): (LN2, (0.8,)),  # 0.75 + sqrt(0.75 ** 2 + 1) = 2
    ("arccosh", (1.25,)): (LN2, (4.0 / 3.0,)),  # 1.25 + sqrt(1.25 ** 2 - 1) = 2
    ("arctanh", (0.6,)): (LN2, (1.0 / 0.64,)),  # (1 + 0.6) / (1 - 0.6) = 4
    ("arctanh", (1.0,)): (math.inf, (math.inf,)),  # NOTE: inf at the edge
    ("expm1", (LN2,)): (1.0, (2.0,)),
    ("expm1", (0.0,)): (0.0, (1.0,)),
    ("log1p", (1.0,)): (LN2, (0.5,)),
    ("log1p", (-1.0,)): (-math.inf, (math.inf,)),
    ("exp2", (3.0,)): (8.0, (8.0 * LN2,)),
    ("log2", (8.0,)): (3.0, (1.0 / (8.0 * LN2),)),
    ("log2", (0.0,)): (-math.inf, (math.inf,)),
    ("log10", (100.0,)): (2.0, (1.0 / (100.0 * math.log(10.0)),)),
    ("reciprocal", (4.0,)): (0.25, (-0.0625,)),
    ("reciprocal", (0.0,)): (math.inf, (-math.inf,)),  # NOTE: -inf at 0
    ("cbrt", (-8.0,)): (-2.0, (1.0 / 12.0,)),
    ("cbrt", (0.0,)): (0.0, (math.inf,)),  # NOTE: inf at 0
    ("sign", (-2.5,)): (-1.0, (0.0,)),
    ("sign", (0.0,)): (0.0, (0.0,)),  # NOTE: sign'(0) = 0
    ("arctan2", (1.0, 1.0)): (math.pi / 4, (0.5, -0.5)),
    ("arctan2", (0.0, -1.0)): (math.pi, (-1.0, 0.0)),  # on the cut: NumPy's +pi
    ("hypot", (3.0, 4.0)): (5.0, (0.6, 0.8)),
    ("logaddexp", (0.0, 0.0)): (LN2, (0.5, 0.5)),
    ("logaddexp", (0.0, math.log(3.0))): (math.log(4.0), (0.25, 0.75)),  # log(1 + 3)
    ("logaddexp2", (1.0, 3.0)): (math.log2(10.0), (0.2, 0.8)),  # log2(2 + 8)
    ("logaddexp2", (5.0, 5.0)): (6.0, (0.5, 0.5)),
    # Rounding: steps, slope 0; remainders: x - k * y, slope -k in y.
    ("floor", (-2.5,)): (-3.0, (0.0,)),
    ("floor", (2.0,)): (2.0, (0.0,)),  # NOTE: 0 at the jump
    ("ceil", (-0.5,)): (-0.0, (0.0,)),
    ("ceil", (1.25,)): (2.0, (0.0,)),
    ("trunc", (-2.75,)): (-2.0, (0.0,)),
    ("rint", (2.5,)): (2.0, (0.0,)),  # halves to even
    ("rint", (-3.5,)): (-4.0, (0.0,)),
    ("remainder", (-7.0, 2.0)): (1.0, (1.0, 4.0)),  # -7 = -4 * 2 + 1
    ("remainder", (7.0, -2.0)): (-1.0, (1.0, 4.0)),  # 7 = -4 * -2 - 1
    ("remainder", (5.5, 2.0)): (1.5, (1.0, -2.0)),
    ("fmod", (-7.0, 2.0)): (-1.0, (1.0, 3.0)),  # -7 = -3 * 2 - 1
    ("fmod", (7.0, -2.0)): (1.0, (1.0, 3.0)),  # 7 = -3 * -2 + 1
    ("sinc", (0.0,)): (1.0, (0.0,)),
    ("sinc", (0.5,)): (2.0 / math.pi, (-4.0 / math.pi,)),  # (cos(pi / 2) - sinc) / x
    ("sinc", (0.25,)): (2.0 * math.sqrt(2.0) / math.pi,  # sin(pi / 4) / (pi / 4)
                        (2.0 * math.sqrt(2.0) * (1.0 - 4.0 / math.pi),)),
    ("sinc", (1.0,)): (0.0, (-1.0,)),  # sin(pi) / pi: NumPy's 3.9e-17
    ("sinc", (2.0,)): (0.0, (0.5,)),
    ("fmax", (1.0, 2.0)): (2.0, (0.0, 1.0)),
    ("fmax", (math.nan, 2.0)): (2.0, (0.0, 1.0)),  # the nan is ignored
    ("fmax", (2.0, 2.0)): (2.0, (0.5, 0.5)),  # NOTE: ties split, as maximum
    ("fmin", (1.0, 2.0)): (1.0, (1.0, 0.0)),
    ("fmin", (1.0, math.nan)): (1.0, (1.0, 0.0)),
    ("copysign", (2.0, -1.0)): (-2.0, (-1.0, 0.0)),
    ("copysign", (-3.0, 0.0)): (3.0, (-1.0, 0.0)),
    ("copysign", (3.0, -0.0)): (-3.0, (-1.0, 0.0)),  # the sign bit of -0.0
    ("copysign", (0.0, -1.0)): (-0.0, (0.0, 0.0)),  # NOTE: 0 at x = 0, as PyTorch
    ("heaviside", (-2.0, 0.5)): (0.0, (0.0, 0.0)),
    ("heaviside", (0.0, 0.5)): (0.5, (0.0, 1.0)),  # the value is h0 there
    ("heaviside", (3.0, 0.5)): (1.0, (0.0, 0.0)),
}


def test_known_values_cover_every_op():
    assert {name for name, _ in KNOWN} == {op.name for op in COMPUTED}


@pytest.mark.parametrize("key", list(KNOWN), ids=lambda k: f"{k[0]}{k[1]}")
def test_known_values(key):
    name, xs = key
    value, partials = KNOWN[key]
    op = OPS[name]
    assert op.value(*xs) == pytest.approx(value, rel=1e-15)
    got = [p(*xs, op.value(*xs)) for p in op.partials]
    assert got == pytest.approx(list(partials), rel=1e-15)


# Domain errors follow NumPy: a number, never an exception.
NUMPY_DOMAIN = [
    ("log", (0.0,), np.log), ("log", (-1.0,), np.log), ("sqrt", (-1.0,), np.sqrt),
    ("exp", (1000.0,), np.exp), ("sin", (math.inf,), np.sin), ("cos", (-math.inf,), np.cos),
    ("div", (1.0, 0.0), np.divide), ("div", (-1.0, 0.0), np.divide), ("div", (0.0, 0.0), np.divide),
    ("pow", (-8.0, 1.0 / 3.0), np.power), ("pow", (0.0, -1.0), np.power),
    ("pow", (10.0, 400.0), np.power), ("sigmoid", (-1000.0,), None), ("relu", (math.nan,), None),
    ("maximum", (math.nan, 1.0), np.maximum), ("maximum", (1.0, math.nan), np.maximum),
    ("minimum", (math.nan, 1.0), np.minimum), ("minimum", (1.0, math.nan), np.minimum),
    ("tan", (math.inf,), np.tan), ("arcsin", (2.0,), np.arcsin), ("arcsin", (-math.inf,), np.arcsin),
    ("arccos", (-2.0,), np.arccos), ("sinh", (1000.0,), np.sinh), ("sinh", (-1000.0,), np.sinh),
    ("cosh", (-1000.0,), np.cosh), ("arccosh", (0.5,), np.arccosh),
    ("arctanh", (1.0,), np.arctanh), ("arctanh", (-1.0,), np.arctanh), ("arctanh", (2.0,), np.arctanh),
    ("expm1", (1000.0,), np.expm1), ("expm1", (-math.inf,), np.expm1),
    ("log1p", (-1.0,), np.log1p), ("log1p", (-2.0,), np.log1p), ("exp2", (2000.0,), np.exp2),
    ("log2", (0.0,), np.log2), ("log2", (-1.0,), np.log2), ("log10", (0.0,), np.log10),
    ("log10", (-1.0,), np.log10), ("reciprocal", (0.0,), np.reciprocal),
    ("reciprocal", (-0.0,), np.reciprocal), ("cbrt", (-math.inf,), np.cbrt),
    ("sign", (math.nan,), np.sign), ("sign", (-0.0,), np.sign),
    ("arctan2", (0.0, 0.0), np.arctan2), ("arctan2", (-0.0, -1.0), np.arctan2),
    ("hypot", (math.inf, math.nan), np.hypot), ("hypot", (1e308, 1e308), np.hypot),
    ("logaddexp", (math.inf, math.inf), np.logaddexp), ("logaddexp", (-math.inf, -math.inf), np.logaddexp),
    ("logaddexp", (math.nan, 1.0), np.logaddexp), ("logaddexp", (1000.0, -math.inf), np.logaddexp),
    ("logaddexp2", (math.inf, math.inf), np.logaddexp2), ("logaddexp2", (1.0, math.nan), np.logaddexp2),
    ("logaddexp2", (-math.inf, 2000.0), np.logaddexp2),
    ("floor", (-0.5,), np.floor), ("floor", (-0.0,), np.floor), ("floor", (math.inf,), np.floor),
    ("floor", (math.nan,), np.floor), ("floor", (1e300,), np.floor), ("ceil", (-0.5,), np.ceil),
    ("ceil", (-math.inf,), np.ceil), ("trunc", (-0.5,), np.trunc), ("trunc", (math.nan,), np.trunc),
    ("rint", (-0.5,), np.rint), ("rint", (0.5,), np.rint), ("rint", (-math.inf,), np.rint),
    ("remainder", (math.inf, 2.0), np.remainder), ("remainder", (3.0, 0.0), np.remainder),
    ("remainder", (-1.0, math.inf), np.remainder), ("remainder", (1.0, -math.inf), np.remainder),
    ("remainder", (-0.0, 2.0), np.remainder), ("remainder", (4.0, -2.0), np.remainder),
    ("remainder", (math.nan, 2.0), np.remainder), ("remainder", (-4.0, 2.0), np.remainder),
    ("fmod", (math.inf, 1.0), np.fmod), ("fmod", (1.0, 0.0), np.fmod),
    ("fmod", (-4.0, 2.0), np.fmod), ("fmod", (1.0, -math.inf), np.fmod),
    ("sinc", (math.inf,), np.sinc), ("sinc", (-0.0,), np.sinc), ("sinc", (1e308,), np.sinc),
    ("sinc", (5e-324,), np.sinc), ("sinc", (math.nan,), np.sinc),
    ("fmax", (math.nan, 1.0), np.fmax), ("fmax", (1.0, math.nan), np.fmax),
    ("fmax", (math.nan, math.nan), np.fmax), ("fmax", (-math.inf, math.nan), np.fmax),
    ("fmin", (math.nan, -1.0), np.fmin), ("fmin", (math.inf, math.nan), np.fmin),
    ("copysign", (math.inf, -0.0), np.copysign), ("copysign", (math.nan, -1.0), np.copysign),
    ("heaviside", (math.nan, 0.5), np.heaviside), ("heaviside", (-0.0, 0.5), np.heaviside),
    ("heaviside", (0.0, math.nan), np.heaviside), ("heaviside", (-math.inf, 0.5), np.heaviside),
]


@pytest.mark.parametrize("name,xs,ufunc", NUMPY_DOMAIN, ids=lambda v: str(v))
def test_domain_errors_follow_numpy(name, xs, ufunc):
    op = OPS[name]
    with np.errstate(all="ignore"):
        expected = {"sigmoid": 0.0, "relu": math.nan}.get(name) if ufunc is None else ufunc(*xs)
    recorded = op.value(*xs)
    np.testing.assert_equal(recorded, expected)
    rec, inputs = single_op_recording(op, xs)
    replayed, _ = compiled_forward(rec, inputs)
    np.testing.assert_equal(replayed[-1], expected)
