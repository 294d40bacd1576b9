"""A recorded program as the arrays and manifest of a file, and back.

:func:`parts` takes what a program needs to replay from a
:class:`~tapegrad.replay.record.Recorded`: its columns (``op`` uint8,
``arg0``/``arg1`` int32 below 2**31 records, ``const`` and ``val``
float64: 25 bytes a record), its outputs, the sites of its guards, and
for an array program each array record's params
(:mod:`tapegrad.replay.tapefile.codec`), the recorded values of its
Tensor leaves and the masks its mask guards must give again.  Leaves read
from outside ``f`` (closure parameters) are saved as their values now.

:func:`build` checks all of it (:mod:`tapegrad.replay.tapefile.checks`)
and returns a :class:`Loaded`, whose :meth:`Loaded.program` makes the
program.  An array program's arena (every array record's value) is not
stored: it is computed again from the leaves, the recorded scalar values
and the params, in record order, with the ops' own rules
(:func:`_refill`), so what the fusion planner and the replays read is
consistent with the shapes the structure gives, whatever the file says.

>>> import numpy as np, tapegrad as tg
>>> rec = tg.record(lambda x: x[0] * x[1], np.array([1.0, 2.0]))
>>> header, entries = parts(rec)
>>> header["kind"], sorted(entries)[:3], entries["op"].dtype, entries["arg0"].dtype
('scalar', ['arg0', 'arg1', 'const'], dtype('uint8'), dtype('int32'))
>>> build(header, entries, "loaded in a doctest").kind
'scalar'
"""

import numpy as np

from tapegrad.array.ops import (
    ARRAY_BY_CODE, ARRAY_INPUT, ELEMENTWISE, ELEMENTWISE_BY_CODE, elementwise,
)
from tapegrad.array.reverse import arguments
from tapegrad.errors import TapeFileError
from tapegrad.replay.array_program import ArrayProgram
from tapegrad.replay.snapshot import Snapshot
from tapegrad.replay.scalar_program import ScalarProgram
from tapegrad.replay.tapefile import codec
from tapegrad.replay.tapefile.checks import (
    array_arguments, check_scalar_records, op_name, op_table, remap,
)

COLUMNS = ("op", "arg0", "arg1", "const", "val")
_PRIMITIVES = ("primitive", "primitive_scalar")
_CROSS_ENTROPY = "cross_entropy"


class Fixed:
    """A leaf from outside ``f`` in a loaded program: its value, fixed."""

    __slots__ = ("_v",)

    def __init__(self, value):
        self._v = value

    def _accumulate(self, g, owned=False):
        raise TypeError("a loaded recording reads the Tensors from outside f as fixed "
                        "values: it has no parameters to add gradients into")


# --- saving -------------------------------------------------------------------------


def parts(recorded):
    """``(header, entries)`` of ``recorded``'s program: JSON-safe data and
    named arrays.  TypeError for what a file cannot hold (a user primitive,
    a parameter of a kind :mod:`~tapegrad.replay.tapefile.codec` does not
    know), naming the record and parameter."""
    program = recorded.program
    header = {"structure": codec.encode_structure(recorded.structure), "fuse": bool(recorded.fuse),
              "retrace": bool(recorded.retrace), "retraces": int(recorded.retraces),
              "ops": op_table()}
    entries = {}
    sites = program._sites
    files = sorted({site[0] for site in sites.values()})
    header["site_files"] = files
    position = {f: k for k, f in enumerate(files)}
    entries["sites"] = np.array([(i, position[f], line) for i, (f, line) in sites.items()],
                                dtype=np.int64).reshape(-1, 3)
    extra = [float(leaf._v) for leaf in program._extra]
    entries["extra"] = np.array(extra, dtype=np.float64)
    if isinstance(program, ScalarProgram):
        header["kind"] = "scalar"
        columns = program._columns
        _outputs(header, entries, program)
    else:
        header["kind"] = "array"
        columns = _array_parts(header, entries, program)
    n = len(columns["op"])
    index = np.int32 if n < 2**31 else np.int64
    for name, dtype in zip(COLUMNS, (np.uint8, index, index, np.float64, np.float64)):
        entries[name] = np.ascontiguousarray(columns[name], dtype=dtype)
    return header, entries


def _outputs(header, entries, program):
    header["scalar_output"] = bool(program.scalar_output)
    entries["outputs"] = np.asarray(program._outputs, dtype=np.int64)
    entries["output_constants"] = np.asarray(program._constants, dtype=np.float64)


def _array_parts(header, entries, program):
    """An array program's params, leaves, masks and outputs into ``header``
    and ``entries``; returns its columns."""
    prog, store = program._program, codec.Store("a")
    params = []
    for i in prog.array_records:
        name = op_name(int(prog.op[i]))
        where = f"record {i} ({name})"
        if name.removeprefix("array ") in _PRIMITIVES:
            raise TypeError(f"{where}: a user primitive (@tapegrad.primitive) cannot be saved "
                            "in a tapegrad file: its rules are Python functions, and a file "
                            "holds no code; record f without it, or keep the recording in "
                            "this process")
        kept = prog.params[i]
        if name == f"array {_CROSS_ENTROPY}":  # its value rule computes "lse" again
            kept = {key: value for key, value in kept.items() if key != "lse"}
        params.append(codec.encode_params(kept, store, where))
    header["params"] = params
    leaves = [i for i in prog.array_records if int(prog.op[i]) == ARRAY_INPUT]
    header["leaves"] = [store.add(prog.arrays[i], f"array leaf {k}")
                        for k, i in enumerate(leaves)]
    header["extra_tensors"] = [store.add(np.asarray(leaf._v), f"outside Tensor {k}")
                               for k, leaf in enumerate(program._extra_tensors)]
    header["masks"] = [[int(i), store.add(mask, f"the mask of record {i}")]
                       for i, mask in program._mask_guards.items()]
    if program._out_shape is not None:
        constant = (None if program._out_record >= 0 else
                    store.add(np.asarray(program._out_constant), "the constant output"))
        header["output"] = {"record": int(program._out_record), "constant": constant,
                            "shape": [int(n) for n in program._out_shape]}
    else:
        header["output"] = None
        _outputs(header, entries, program)
    entries.update(store.entries)
    return {name: getattr(prog, name) for name in COLUMNS}


# --- loading ------------------------------------------------------------------------


class Loaded:
    """A checked program read from a file: ``kind`` (``"scalar"`` or
    ``"array"``), ``structure``, ``fuse``, ``retrace`` (whether the
    recording saved was made with ``retrace=True``), and :meth:`program`."""

    def __init__(self, kind, structure, fuse, retrace, make):
        self.kind, self.structure, self.fuse, self.retrace = kind, structure, fuse, retrace
        self._make = make

    def program(self, owner):
        """The program, for ``owner`` (a Recorded of this structure)."""
        try:
            return self._make(owner)
        except TapeFileError:
            raise
        except Exception as error:  # planning what the checks let through
            raise TapeFileError(f"the loaded program cannot be planned: "
                                f"{type(error).__name__}: {error}") from error


def build(header, entries, origin):
    """The :class:`Loaded` program of ``header`` and ``entries`` (as
    :func:`~tapegrad.replay.tapefile.format.read` returns them), checked;
    ``origin`` (where they came from) goes into its changed-branch messages."""
    kind = header.get("kind")
    if kind not in ("scalar", "array"):
        raise TapeFileError(f"the file holds a program of unknown kind {kind!r}")
    structure = codec.decode_structure(header.get("structure"))
    fuse, retrace = header.get("fuse"), header.get("retrace")
    if type(fuse) is not bool or type(retrace) is not bool:
        raise TapeFileError("the manifest's fuse and retrace flags are not true or false")
    columns = _columns(entries, header.get("ops"), kind == "scalar")
    n = len(columns["op"])
    sites = _sites(entries, header.get("site_files"), n)
    extra = [Fixed(v) for v in _entry(entries, "extra", np.float64, 1).tolist()]
    if kind == "scalar":
        if structure.has_tensors:
            raise TapeFileError("a scalar program's input structure holds Tensors")
        check_scalar_records(columns["op"], columns["arg0"], columns["arg1"],
                             structure.size + len(extra))
        outputs = _value_outputs(header, entries, n, ())

        def make(owner):
            return ScalarProgram.from_parts(owner, columns, outputs, sites, extra,
                                            structure.size, origin)
    else:
        make = _array_program(header, entries, columns, structure, sites, extra, origin)
    return Loaded(kind, structure, fuse, retrace, make)


def _entry(entries, name, dtype, ndim):
    array = entries.get(name)
    if array is None or array.dtype != dtype or array.ndim != ndim:
        raise TapeFileError(f"entry {name!r} is missing or not a {ndim}-D {np.dtype(dtype)} array")
    return array


def _columns(entries, table, scalar_only):
    """The five columns, of one length and the dtypes a recording has, the
    op codes in this process's numbering."""
    n = len(_entry(entries, "op", np.uint8, 1))
    index = np.int32 if n < 2**31 else np.int64
    columns = {name: _entry(entries, name, dtype, 1)
               for name, dtype in zip(COLUMNS, (np.uint8, index, index, np.float64, np.float64))}
    if any(len(c) != n for c in columns.values()):
        raise TapeFileError(f"the columns are not all {n} records long: "
                            f"{ {name: len(c) for name, c in columns.items()} }")
    if type(table) is not dict:
        raise TapeFileError("the manifest holds no op table")
    columns["op"] = remap(columns["op"], table, scalar_only)
    return columns


def _sites(entries, files, n):
    sites = _entry(entries, "sites", np.int64, 2)
    if type(files) is not list or not all(type(f) is str for f in files) or sites.shape[1] != 3:
        raise TapeFileError("the guards' sites are malformed")
    i, f, line = sites.T
    if ((i < 0) | (i >= n) | (f < 0) | (f >= len(files)) | (line < 0)).any():
        raise TapeFileError("a guard's site names a record or file out of range")
    return {int(a): (files[b], int(c)) for a, b, c in sites.tolist()}


def _value_outputs(header, entries, n, arrays):
    """``(records, constants, scalar)`` of a program whose outputs are
    numbers: each a record (not an array-valued one) or a constant."""
    records = _entry(entries, "outputs", np.int64, 1)
    constants = _entry(entries, "output_constants", np.float64, 1)
    scalar = header.get("scalar_output")
    if type(scalar) is not bool or len(constants) != len(records) or (scalar and len(records) != 1):
        raise TapeFileError("the outputs are malformed")
    if ((records < -1) | (records >= n)).any():
        raise TapeFileError(f"an output names a record out of range: {records.tolist()[:10]}")
    if any(int(o) in arrays for o in records):
        raise TapeFileError("an output that is a number names an array record")
    return records, constants, scalar


def _array_program(header, entries, columns, structure, sites, extra, origin):
    """The checked and refilled snapshot of an array program; returns the
    function that makes the program for its owner."""
    op = columns["op"]
    n = len(op)
    array_records = np.flatnonzero(op >= ELEMENTWISE).tolist()
    trees, leaf_names = header.get("params"), header.get("leaves")
    if type(trees) is not list or len(trees) != len(array_records):
        count = len(trees) if type(trees) is list else "no"
        raise TapeFileError(f"the file holds params for {count} array records; its columns "
                            f"have {len(array_records)}")
    arrays = {name: a for name, a in entries.items() if name.startswith("a")}
    params = {i: codec.decode_params(tree, arrays, f"record {i} ({op_name(int(op[i]))})")
              for i, tree in zip(array_records, trees)}
    leaves = [_named(arrays, name, "an array leaf") for name in _names(leaf_names)]
    slots = [s for s in structure.slots() if s[2] is not None]
    n_scalars = structure.size - sum(s[1] for s in slots)
    check_scalar_records(op, columns["arg0"], columns["arg1"], n_scalars + len(extra))
    is_leaf = op == ARRAY_INPUT
    if not np.array_equal(columns["arg0"][is_leaf], np.arange(len(leaves))) or \
            len(leaves) < len(slots):
        raise TapeFileError("the array leaves are not numbered in order, or fewer than the "
                            "structure's Tensors")
    for k, (_, _, shape, dtype) in enumerate(slots):
        if leaves[k].shape != shape or leaves[k].dtype != dtype:
            raise TapeFileError(f"array leaf {k} is {leaves[k].dtype} {leaves[k].shape}; the "
                                f"structure says {dtype} {shape}")
    extra_tensors = [Fixed(_named(arrays, name, "an outside Tensor"))
                     for name in _names(header.get("extra_tensors"))]
    if len(slots) + len(extra_tensors) != len(leaves):
        raise TapeFileError("the outside Tensors do not match the array leaves")
    prog = Snapshot.from_parts(columns, {}, params, array_records, len(leaves),
                                n_scalars + len(extra))
    _refill(prog, leaves)
    _masks(prog, header.get("masks"), arrays)
    output = header.get("output")
    if output is None:
        output = ("values", *_value_outputs(header, entries, n, prog.arrays))
    else:
        output = _tensor_output(output, prog, arrays, n)

    def make(owner):
        return ArrayProgram.from_parts(owner, prog, sites, extra, extra_tensors, output, origin)
    return make


def _names(names):
    if type(names) is not list:
        raise TapeFileError("the manifest's list of arrays is malformed")
    return names


def _named(arrays, name, what):
    if type(name) is not str or name not in arrays:
        raise TapeFileError(f"{what} names no stored array: {name!r}")
    return arrays[name]


def _refill(prog, leaves):
    """Compute every array record's value again, in order (the arena is
    not stored): leaves from ``leaves``, ops by their own rules, from the
    recorded scalar values and the values refilled before them."""
    for i in prog.array_records:
        code = int(prog.op[i])
        where = f"record {i} ({op_name(code)})"
        if code == ARRAY_INPUT:
            if prog.params[i] is not None or int(prog.arg1[i]) != -1:
                raise TapeFileError(f"{where}: a leaf with params or a second argument")
            prog.arrays[i] = leaves[int(prog.arg0[i])]
            continue
        if op_name(code).removeprefix("array ") in _PRIMITIVES:
            raise TapeFileError(f"{where}: a user primitive cannot be loaded (a file holds no "
                                "code; tapegrad never saves one)")
        array_arguments(prog, i, code, where)
        try:
            _, values = arguments(prog, i)
            if code in ELEMENTWISE_BY_CODE:
                value = elementwise(ELEMENTWISE_BY_CODE[code].name, values)
            else:
                op = ARRAY_BY_CODE[code]
                if op.name == _CROSS_ENTROPY:
                    _check_labels(values[0], prog.params[i].get("labels"))
                value = op.value(values, prog.params[i])
                if op.scalar_output:
                    continue  # its value is the recorded one in val
            value = np.asarray(value)
        except TapeFileError:
            raise
        except Exception as error:
            raise TapeFileError(f"{where} does not replay at its recording point: "
                                f"{type(error).__name__}: {error}") from None
        if value.dtype.kind not in "biuf":
            raise TapeFileError(f"{where} gives an array of dtype {value.dtype}")
        value.flags.writeable = False  # as a recording keeps it
        prog.arrays[i] = value


def _check_labels(logits, labels):
    """cross_entropy's kernel indexes each row by its label: check them
    as :func:`tapegrad.cross_entropy` does."""
    shape = np.shape(logits)
    if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu" \
            or len(shape) != 2 or labels.shape != shape[:1] \
            or (labels.size and (labels.min() < 0 or labels.max() >= shape[1])):
        raise TapeFileError("cross_entropy's labels are not one integer in range per row")


def _masks(prog, masks, arrays):
    """Put back the recorded masks of the mask guards (a replay must give
    each again), after checking that each is a guard's and fits."""
    pairs = _names(masks)
    guards = {i for i in prog.array_records
              if isinstance((prog.params[i] or {}).get("mask"), codec.MaskUse)
              and prog.params[i]["mask"].guard}
    if sorted(p[0] for p in pairs if type(p) is list and len(p) == 2) != sorted(guards) \
            or len(pairs) != len(guards):
        raise TapeFileError("the stored masks do not match the program's mask guards")
    for i, name in pairs:
        mask = _named(arrays, name, "a mask")
        held = prog.arrays.get(i)
        if held is None or mask.shape != held.shape or mask.dtype != held.dtype:
            raise TapeFileError(f"the mask of record {i} does not fit its record")
        prog.arrays[i] = mask


def _tensor_output(output, prog, arrays, n):
    try:
        record, shape, constant = output["record"], tuple(output["shape"]), output["constant"]
        ok = type(record) is int and -1 <= record < n and \
            all(type(s) is int and s >= 0 for s in shape)
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise TapeFileError(f"the Tensor output is malformed: {output!r}"[:200])
    value = prog.arrays.get(record) if record >= 0 else _named(arrays, constant, "the output")
    if value is None or value.shape != shape:
        raise TapeFileError(f"the Tensor output (record {record}) is no array of shape {shape}")
    return ("tensor", record, shape, value if record < 0 else None)
