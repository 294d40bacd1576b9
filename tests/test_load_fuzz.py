"""Loading refuses bad files: seeded fuzzing of corrupted recordings.

Three files (a scalar program with guards and a closure, an array program
with cross_entropy, a mask guard, where, indexing and a closure Tensor, and
the vectorized Rosenbrock) are damaged in every way we could think of:

* as bytes: random bytes, truncations at many offsets, flipped bytes.
  Each load raises TapeFileError, or (a flip in a zip field that carries
  nothing, a timestamp) gives back exactly the recording saved;
* as contents, the checksum recomputed so that the structural checks are
  what refuses them: argument indices out of range or at or after their
  record (forward references), columns of the wrong dtype or length, op
  codes and op names this tapegrad does not have, deleted entries, another
  format version, malformed structures, outputs, sites, params, masks,
  leaves and labels.  Each raises TapeFileError, naming what is wrong;
* edits that leave a well-formed program (another op of the same arity,
  any numbers in ``const`` and ``val``, mutated params): loading either
  refuses or gives a program whose methods return or raise an ordinary
  exception.

One batch of all kinds is loaded and replayed in a subprocess too: it must
exit normally (a crash of the process would not be an exception).  The
default run loads a few hundred files; the fuzz lane (``make test-slow``,
``make fuzz``) loads ``TAPEGRAD_FUZZ_PROGRAMS`` of each kind (1,000 unless set).
"""

import copy
import io
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.array.ops import ELEMENTWISE_BY_CODE
from tapegrad.replay import loads, tapefile
from tapegrad.replay.tapefile import checks
from tapegrad.replay.tapefile import format as fmt

from test_save_load import OUTSIDE_TENSOR, assert_same, branchy, rosenbrock

ROOT = pathlib.Path(__file__).resolve().parents[1]
FUZZ = int(os.environ.get("TAPEGRAD_FUZZ_PROGRAMS", "0")) or 1000


def _net(args):
    x, w = args
    logits = tg.where(x > 0.0, x, 0.1 * x) @ w + OUTSIDE_TENSOR[:, :2].sum()
    guard = (x[x[:, 0] > -5.0] ** 2).sum()  # a boolean index: a mask guard
    return tg.cross_entropy(logits[np.array([0, 2, 1, 3])], np.array([0, 1, 1, 0])) + guard


def _scalar(x):
    w = OUTSIDE_W
    return branchy(x) * w + tg.maximum(x[0], x[1])


OUTSIDE_W = tg.Value(0.75)
SAMPLES = {
    "scalar": (_scalar, np.array([0.8, 1.5])),
    "array": (_net, (tg.tensor(np.linspace(-1.0, 1.0, 12).reshape(4, 3)),
                     tg.tensor(np.linspace(0.5, -0.5, 6).reshape(3, 2)))),
    "rosenbrock": (rosenbrock, tg.tensor(np.linspace(-1.0, 1.0, 5))),
}


@pytest.fixture(scope="module")
def samples():
    """``{name: (recording, its file's bytes)}``."""
    return {name: (rec, tapefile.dumps(rec))
            for name, rec in ((n, tg.record(f, x0)) for n, (f, x0) in SAMPLES.items())}


# --- writing damaged files ----------------------------------------------------------

def unpack(data):
    header, entries = fmt.read(data)
    return copy.deepcopy(header), {name: np.array(a) for name, a in entries.items()}


def pack(header, entries, table=None, stale=False):
    """A file of ``header`` and ``entries`` as tapegrad would write it, the
    entry table (unless given) and checksum (unless ``stale``) made to
    match them."""
    header = copy.deepcopy(header)
    header["entries"] = table if table is not None else {
        name: {"dtype": a.dtype.str, "shape": list(a.shape)} for name, a in entries.items()}
    if not stale:
        header["checksum"] = fmt.checksum(header, {name: a for name, a in entries.items()
                                                   if isinstance(a, np.ndarray)})
    buffer = io.BytesIO()
    manifest = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in (("manifest", manifest), *entries.items()):
            with archive.open(name + ".npy", "w", force_zip64=True) as entry:
                if isinstance(array, bytes):  # not an array at all
                    entry.write(array)
                else:
                    np.lib.format.write_array(entry, array, allow_pickle=False)
    return buffer.getvalue()


def refused(data, match=None):
    """Loading ``data`` raises TapeFileError (matching ``match``)."""
    with pytest.raises(tg.TapeFileError, match=match):
        loads(data)


def columns_args(header, entries):
    """``[(record, column)]``: where an argument index of the file sits in a column."""
    op = entries["op"]
    params = dict(zip(np.flatnonzero(op >= 64).tolist(), header.get("params") or ()))
    out = []
    for i, code in enumerate(op.tolist()):
        arity = checks.ARITY[code] if code < 64 else (
            ELEMENTWISE_BY_CODE[code].arity if code in ELEMENTWISE_BY_CODE else -1)
        if arity > 0 and "args" not in (params.get(i) or {}):
            out += [(i, "arg0")] + ([(i, "arg1")] if arity == 2 else [])
    return out


def bad_index(rng, i, column, code):
    """An argument index no record ``i`` may read: itself or later, or
    below -1 (-1 too for a unary op's first argument)."""
    unary = (checks.ARITY[code] == 1 if code < 64 else ELEMENTWISE_BY_CODE[code].arity == 1)
    lowest = 0 if unary and column == "arg0" else -1
    return int(rng.choice([rng.integers(i, i + 50), rng.integers(-2**31, lowest)]))


def refusals(header, entries, rng):
    """``(what, bytes, match)``: damaged contents, the checksum recomputed."""
    h, e = copy.deepcopy(header), {k: v.copy() for k, v in entries.items()}
    op, n = e["op"], len(e["op"])
    kind = rng.integers(16)
    if kind == 0:
        places = columns_args(h, e)
        i, column = places[rng.integers(len(places))]
        e[column][i] = bad_index(rng, i, column, int(op[i]))
        return "an argument index", pack(h, e), "reads record"
    if kind == 1:
        column = rng.choice(["op", "arg0", "arg1", "const", "val"])
        wrong = {"op": np.int16, "arg0": np.int64, "arg1": np.float64, "const": np.float32,
                 "val": np.int64}[column]
        with np.errstate(invalid="ignore"):  # nan as an integer: any integer will do
            e[column] = e[column].astype(wrong)
        return f"{column} as {np.dtype(wrong)}", pack(h, e), "entry"
    if kind == 2:
        column = rng.choice(["op", "arg0", "arg1", "const", "val"])
        e[column] = e[column][:-1]
        return f"{column} shorter", pack(h, e), "columns are not all"
    if kind == 3:
        lut, _ = checks.code_map(h["ops"])
        i = rng.integers(n)
        op[i] = rng.choice(np.flatnonzero(lut < 0))
        return f"unknown op code at {i}", pack(h, e), "does not have"
    if kind == 4:
        used = sorted(set(op.tolist()) - {127})
        code = int(rng.choice(used))
        table = h["ops"]
        if code < table["elementwise"]:
            table["scalar"][code] = "no_such_op"
        elif code < table["array_input"]:
            table["scalar"][code - table["elementwise"]] = "no_such_op"
        else:
            table["array"][code - table["structural"]] = "no_such_op"
        return f"op {code} renamed", pack(h, e), "no_such_op"
    if kind == 5:
        name = str(rng.choice(sorted(e)))
        table = {k: {"dtype": a.dtype.str, "shape": list(a.shape)} for k, a in e.items()}
        del e[name]
        if rng.integers(2):
            table = None  # gone from the manifest too
        return f"entry {name} deleted", pack(h, e, table), None
    if kind == 6:
        h["version"] = int(rng.choice([0, 2, 99]))
        return "another version", pack(h, e), "format version"
    if kind == 7:
        h[str(rng.choice(["format", "kind", "fuse", "ops", "site_files", "structure"]))] = \
            rng.choice([None, "x", 3])
        return "a header field", pack(h, e), None
    if kind == 8:
        node = h["structure"]
        while node["children"] and rng.integers(2):
            node = node["children"][rng.integers(len(node["children"]))]
        field = str(rng.choice(["size", "kind", "length", "dtype", "shape"]))
        node[field] = {"size": node["size"] + 1, "kind": "matrix", "length": -1,
                       "dtype": "<c16", "shape": [7, 7]}[field]
        return f"structure {field}", pack(h, e), None
    if kind == 9:
        if h.get("output"):
            h["output"]["record"] = int(rng.choice([n, n + 10, -2]))
        else:
            e["outputs"][0] = rng.choice([n, n + 10, -2])
        return "an output", pack(h, e), "output"
    if kind == 10:
        e["sites"] = np.array([[rng.choice([n, -1]), 0, 3]], dtype=np.int64)
        h["site_files"] = ["f.py"]
        return "a site", pack(h, e), "site"
    if kind == 11:
        inputs = np.flatnonzero(op == 0)
        if len(inputs) == 0:
            return refusals(header, entries, rng)
        op[rng.choice(inputs)] = rng.choice([1, 6, 21])
        return "an input record's op", pack(h, e), None
    if kind == 12 and h["kind"] == "array":
        what = str(rng.choice(["params", "leaves", "masks", "extra_tensors"]))
        h[what] = h[what][:-1] if h[what] and rng.integers(2) else h[what] + ["a9999"]
        return f"the {what} list", pack(h, e), None
    if kind == 13 and h["kind"] == "array":
        names = [p["labels"]["name"] for p in h["params"] if p and "labels" in p]
        if names:
            e[names[0]] = e[names[0]] + int(rng.choice([100, -100]))
            return "labels", pack(h, e), "labels"
        leaf = h["leaves"][0]
        e[leaf] = e[leaf].reshape(-1)[:-1]
        return "a leaf's shape", pack(h, e), "leaf"
    if kind == 14:
        h["ops"]["elementwise"] = int(rng.choice([0, 10, 200]))
        return "the op table", pack(h, e), "op table"
    if kind == 15:
        name = str(rng.choice(sorted(e)))
        table = {k: {"dtype": a.dtype.str, "shape": list(a.shape)} for k, a in e.items()}
        e[name] = rng.bytes(int(rng.integers(0, 64)))
        return f"entry {name} as raw bytes", pack(h, e, table), "no .npy array|cannot be read"
    return refusals(header, entries, rng)


# --- the cases ----------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SAMPLES))
def test_the_undamaged_files_load(samples, name):
    rec, data = samples[name]
    x = point(name, rec)
    assert_same(loads(data).jacobian(x), rec.jacobian(x))


def point(name, rec):
    """A point near sample ``name``'s recording point (on its branches)."""
    return rec.structure.unflatten(rec.structure.flatten(SAMPLES[name][1]) * 1.01)


def test_random_bytes_are_not_a_tapegrad_file():
    rng = np.random.default_rng(1)
    for k in range(50):
        junk = rng.bytes(int(rng.integers(0, 3000)))
        if k % 2:
            junk = b"PK\x03\x04" + junk  # past the first look
        refused(junk)
    refused(b"", "not a tapegrad file")
    refused(np.lib.format.magic(1, 0) + b"{}", "not a tapegrad file")


def truncations(data, count, rng):
    tail = range(max(len(data) - 200, 0), len(data))  # the zip's central directory
    spread = rng.integers(0, len(data), size=count)
    return sorted(set(tail) | set(spread.tolist()))


@pytest.mark.parametrize("name", list(SAMPLES))
def test_truncated_files_are_refused(samples, name):
    data = samples[name][1]
    for cut in truncations(data, 100, np.random.default_rng(2)):
        refused(data[:cut])


def flipped(data, rng):
    damaged = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        damaged[rng.integers(len(data))] ^= int(rng.integers(1, 256))
    return bytes(damaged)


def assert_refused_or_the_same(damaged, data):
    """A flip in a field the zip does not check (a time stamp) leaves the
    same recording: loading may give it back, exactly; anything else is refused."""
    try:
        loaded = tapefile.format.read(damaged)
    except tg.TapeFileError:
        return
    header, entries = fmt.read(data)
    assert loaded[0] == header and loaded[1].keys() == entries.keys()
    for name, array in entries.items():
        assert_same(loaded[1][name], array)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_flipped_bytes_are_refused(samples, name):
    data = samples[name][1]
    rng = np.random.default_rng(3)
    for _ in range(100):
        assert_refused_or_the_same(flipped(data, rng), data)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_changed_contents_fail_the_checksum(samples, name):
    """Well-formed zips (their CRCs right) whose contents changed after saving."""
    header, entries = unpack(samples[name][1])
    assert loads(pack(header, entries, stale=True)) is not None
    refused(pack(dict(header, fuse=not header["fuse"]), entries, stale=True), "checksum")
    for column in ("op", "arg0", "const", "val"):
        changed = {k: v.copy() for k, v in entries.items()}
        changed[column].view(np.uint8)[-1] ^= 1  # one bit of the last record
        refused(pack(header, changed, stale=True), "checksum")


@pytest.mark.parametrize("name", list(SAMPLES))
def test_damaged_contents_are_refused_by_the_structural_checks(samples, name):
    header, entries = unpack(samples[name][1])
    rng = np.random.default_rng(4)
    for _ in range(60):
        what, data, match = refusals(header, entries, rng)
        with pytest.raises(tg.TapeFileError, match=match):
            loads(data)
        assert what


def test_messages_name_the_version_and_the_unknown_op(samples):
    header, entries = unpack(samples["scalar"][1])
    newer = dict(header, version=2)
    refused(pack(newer, entries), r"format version 2; this tapegrad reads version\(s\) 1")
    mul = tg.OPS["mul"].code
    header["ops"]["scalar"][mul] = "fused_multiply_add"
    refused(pack(header, entries), "does not have: fused_multiply_add")


def test_a_file_naming_a_user_primitive_is_refused(samples):
    """A crafted file whose record names the primitive op (whose params
    would hold the user's functions) is refused, never called."""
    header, entries = unpack(samples["rosenbrock"][1])
    table = header["ops"]["array"]
    table[table.index("sum")] = "primitive"
    refused(pack(header, entries), "user primitive cannot be loaded")


def renumbered(header, entries, scalar_at, array_at):
    """The file as a tapegrad with one more scalar op (before code
    ``scalar_at``) and one more array op (before ``array_at``) would write it."""
    h, e = copy.deepcopy(header), {k: v.copy() for k, v in entries.items()}
    table, op = h["ops"], e["op"].astype(np.int64)
    ew, first = table["elementwise"], table["structural"]
    table["scalar"].insert(scalar_at, "an_op_added_later")
    table["array"].insert(array_at, "an_array_op_added_later")
    shifted = op.copy()
    shifted[(op >= scalar_at) & (op < ew)] += 1
    shifted[(op >= ew + scalar_at) & (op < table["array_input"])] += 1
    shifted[op >= first + array_at] += 1
    e["op"] = shifted.astype(np.uint8)
    return pack(h, e)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_a_file_outlives_renumbered_op_codes(samples, name):
    rec, data = samples[name]
    header, entries = unpack(data)
    moved = renumbered(header, entries, scalar_at=2, array_at=1)
    assert moved != pack(header, entries)
    loaded = loads(moved)
    x = point(name, rec)
    assert_same(loaded.jacobian(x), rec.jacobian(x))
    if rec.scalar_output:
        assert_same(loaded.value_and_grad(x), rec.value_and_grad(x))


# --- well-formed edits: refused, or a program that does not crash ---------------------

def mutate(tree, rng, depth=0):
    """``tree`` (JSON) with one node replaced by another JSON value."""
    values = [None, True, 0, -1, 2, 10**9, 0.5, float("nan"), "x", [], {}, [1, 2],
              {"$": "slice", "items": [1, None, None]}, {"$": "array", "name": "a0"},
              {"$": "scalar", "dtype": "<f4", "value": 1.0}, {"$": "tuple", "items": [0]}]
    if isinstance(tree, dict) and tree and rng.integers(3):
        key = list(tree)[rng.integers(len(tree))]
        return {**tree, key: mutate(tree[key], rng, depth + 1)}
    if isinstance(tree, list) and tree and rng.integers(3):
        k = rng.integers(len(tree))
        return tree[:k] + [mutate(tree[k], rng, depth + 1)] + tree[k + 1:]
    return values[rng.integers(len(values))]


def well_formed_edit(header, entries, rng):
    h, e = copy.deepcopy(header), {k: v.copy() for k, v in entries.items()}
    kind = rng.integers(3)
    if kind == 0 and h["kind"] == "array":
        h["params"] = mutate(h["params"], rng)
    elif kind == 1:
        same = {1: [6, 7, 8, 12, 13], 2: [1, 2, 3, 4, 5]}
        op = e["op"]
        scalar = [i for i, c in enumerate(op.tolist()) if checks.ARITY[c] in same]
        if scalar:
            i = rng.choice(scalar)
            op[i] = rng.choice(same[checks.ARITY[op[i]]])
    else:
        column = str(rng.choice(["const", "val"]))
        e[column][rng.integers(len(e[column]))] = rng.choice([np.nan, np.inf, -1e300, 0.0])
    return pack(h, e)


def exercise(data):
    """Load ``data``; if it loads, replay it every way at a point of its
    structure: ordinary exceptions are fine (the edit made another
    program), crashes are not."""
    try:
        rec = loads(data)
    except tg.TapeFileError:
        return "refused"
    x = rec.structure.unflatten(np.full(rec.structure.size, 0.3))
    for call in (lambda: rec(x), lambda: rec.jacobian(x),
                 lambda: rec.jvp(x, x), lambda: rec.vjp(x, np.ones(rec.n_outputs))):
        try:
            call()
        except Exception:  # noqa: BLE001 (any ordinary exception is an answer)
            pass
    return "loaded"


@pytest.mark.parametrize("name", list(SAMPLES))
def test_well_formed_edits_load_or_are_refused_and_never_crash(samples, name):
    data = samples[name][1]
    header, entries = unpack(data)
    rng = np.random.default_rng(5)
    seen = {exercise(well_formed_edit(header, entries, rng)) for _ in range(40)}
    assert seen <= {"refused", "loaded"}


# --- in a subprocess: no crash ---------------------------------------------------------

CHILD = textwrap.dedent("""
    import sys, pathlib
    sys.path.insert(0, sys.argv[2])
    import numpy as np
    from test_load_fuzz import exercise
    outcomes = []
    for path in sorted(pathlib.Path(sys.argv[1]).glob("*.tape")):
        outcomes.append(exercise(path.read_bytes()))
    print(len(outcomes), outcomes.count("refused"))
""")


def damaged_files(samples, per_kind, rng):
    """Damaged files of every kind."""
    for _, data in samples.values():
        header, entries = unpack(data)
        for _ in range(per_kind):
            yield from (rng.bytes(200), data[:rng.integers(len(data))], flipped(data, rng),
                        refusals(header, entries, rng)[1], well_formed_edit(header, entries, rng))


def test_a_batch_of_damaged_files_does_not_crash_a_process(samples, tmp_path):
    count = 0
    for count, damaged in enumerate(damaged_files(samples, 8, np.random.default_rng(6)), 1):
        (tmp_path / f"{count:05d}.tape").write_bytes(damaged)
    result = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), str(ROOT / "tests")],
                            capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split()[0]) == count


# --- the fuzz lane ------------------------------------------------------------------------

@pytest.mark.fuzz
@pytest.mark.parametrize("name", list(SAMPLES))
def test_fuzz_many_damaged_files(samples, name):
    data = samples[name][1]
    header, entries = unpack(data)
    rng = np.random.default_rng(7)
    for cut in truncations(data, FUZZ, rng):
        refused(data[:cut])
    for _ in range(FUZZ):
        assert_refused_or_the_same(flipped(data, rng), data)
        _, damaged, match = refusals(header, entries, rng)
        with pytest.raises(tg.TapeFileError, match=match):
            loads(damaged)
        exercise(well_formed_edit(header, entries, rng))
