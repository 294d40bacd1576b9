"""The checks a loaded program passes before anything replays it, and the
op tables that let a file outlive a renumbering of op codes.

A file stores op codes as its tapegrad numbered them, with that tapegrad's
op tables by name (:func:`op_table`); :func:`code_map` maps each code to
this process's code for the same name (a new op in a family shifts the
codes after it), and :func:`remap` refuses a file that uses an op this
tapegrad does not have, naming it.  :func:`check_scalar_records` checks
every scalar record at once, with NumPy (no Python per record): input
records numbered in order, and every argument an earlier record (or -1,
the record's constant, where the op has one) -- so a compiled sweep never
reads outside its columns.  :func:`array_arguments` does the same for one
array record, whose arguments may also be listed in its params.

>>> op = np.array([0, 0, OPS["mul"].code], dtype=np.uint8)
>>> check_scalar_records(op, np.array([0, 1, 0]), np.array([-1, -1, 2]), 2)
Traceback (most recent call last):
tapegrad.errors.TapeFileError: record 2 (mul) reads record 2, at or after itself (a forward reference)
"""

import numpy as np

from tapegrad.array.ops import (
    ARRAY_BY_CODE, ARRAY_INPUT, ARRAY_OPS, ELEMENTWISE, ELEMENTWISE_BY_CODE, STRUCTURAL,
)
from tapegrad.errors import TapeFileError
from tapegrad.ops import BY_CODE, OPS

INPUT = OPS["input"].code
#: The arity of each scalar op code; -1 for a code that is no scalar op.
ARITY = np.full(256, -1, dtype=np.int8)
for _op in BY_CODE.values():
    ARITY[_op.code] = _op.arity


def op_table():
    """This tapegrad's op tables as a file stores them: the scalar ops'
    names by code, where the elementwise, array-input and declared array
    codes start, and the declared array ops' names by code."""
    return {"scalar": [BY_CODE[code].name for code in range(len(BY_CODE))],
            "elementwise": ELEMENTWISE, "array_input": ARRAY_INPUT, "structural": STRUCTURAL,
            "array": [ARRAY_BY_CODE[code].name for code in sorted(ARRAY_BY_CODE)]}


def op_name(code):
    """How messages name op ``code`` of this process."""
    if code in BY_CODE:
        return BY_CODE[code].name
    if code == ARRAY_INPUT:
        return "array input"
    op = ELEMENTWISE_BY_CODE.get(code) or ARRAY_BY_CODE.get(code)
    return f"array {op.name}" if op is not None else f"code {code}"


def code_map(table):
    """``(lut, names)`` for the file's op ``table``: ``lut[c]`` is this
    process's code of the file's code ``c`` (-1 where this tapegrad has no
    op of that name), ``names[c]`` the name the file gives it."""
    try:
        scalar, array = table["scalar"], table["array"]
        ew, leaf, first = table["elementwise"], table["array_input"], table["structural"]
        ok = (type(scalar) is list and type(array) is list
              and all(type(n) is str for n in scalar + array)
              and all(type(c) is int for c in (ew, leaf, first))
              and len(scalar) <= ew and ew + len(scalar) <= leaf < first
              and first + len(array) <= 256)
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise TapeFileError("the file's op table is malformed")
    lut, names = np.full(256, -1, dtype=np.int16), {}
    for k, name in enumerate(scalar):
        names[k], names[ew + k] = name, f"array {name}"
        op = OPS.get(name)
        if op is not None:
            lut[k] = op.code
            if ELEMENTWISE + op.code in ELEMENTWISE_BY_CODE:
                lut[ew + k] = ELEMENTWISE + op.code
    names[leaf], lut[leaf] = "array input", ARRAY_INPUT
    for k, name in enumerate(array):
        names[first + k] = f"array {name}"
        if name in ARRAY_OPS:
            lut[first + k] = ARRAY_OPS[name].code
    return lut, names


def remap(op, table, scalar_only):
    """The ``op`` column (the file's codes) in this process's codes; a
    TapeFileError naming the ops this tapegrad does not have, or any array
    op when ``scalar_only``."""
    lut, names = code_map(table)
    used = np.flatnonzero(np.bincount(op, minlength=256))
    unknown = [names.get(int(c), f"code {c} (not in the file's op table)")
               for c in used if lut[c] < 0]
    if unknown:
        raise TapeFileError(f"the file records ops this tapegrad does not have: "
                            f"{', '.join(unknown)}; load it with a tapegrad that has them "
                            "(the one that saved it), or record it again here")
    if scalar_only and any(ARITY[lut[c]] < 0 for c in used):
        raise TapeFileError("a scalar program's file records array ops")
    if all(lut[c] == c for c in used):
        return op
    return lut[op].astype(np.uint8)


def _first_bad(bad, op, args, low):
    """A TapeFileError for the first record in ``bad``: which argument is
    out of range or a forward reference."""
    i = int(np.flatnonzero(bad)[0])
    for a in args:
        a = int(a[i])
        if a >= i or a < low[i]:
            how = "at or after itself (a forward reference)" if a >= i else "out of range"
            raise TapeFileError(f"record {i} ({op_name(int(op[i]))}) reads record {a}, {how}")
    raise AssertionError("no bad argument")  # pragma: no cover


def check_scalar_records(op, arg0, arg1, n_inputs):
    """Check every scalar record of the columns (``op`` in this process's
    codes; array records are skipped): the input records are numbered 0 to
    ``n_inputs - 1`` in order, a unary op reads an earlier record, a binary
    one earlier records or its constant (-1)."""
    inputs = op == INPUT
    positions = arg0[inputs]
    if len(positions) != n_inputs or not np.array_equal(positions, np.arange(n_inputs)) \
            or (arg1[inputs] != -1).any():
        raise TapeFileError(f"the input records are not numbered 0 to {n_inputs - 1} in order "
                            f"(found {len(positions)} input records): the file does not match "
                            "its input structure")
    arity = ARITY[op]
    low = np.where(arity == 1, 0, -1).astype(np.int8)
    index = np.arange(len(op))
    bad = (arity > 0) & ((arg0 < low) | (arg0 >= index) | (arg1 < -1) | (arg1 >= index))
    if bad.any():
        _first_bad(bad, op, (arg0, arg1), low)


def array_arguments(prog, i, code, where):
    """The argument records of array record ``i`` (op ``code``), checked:
    each an earlier record, or -1 with a constant in its params."""
    params = prog.params[i]
    if type(params) is not dict:
        raise TapeFileError(f"{where}: its params are not a dict")
    if "args" in params:
        args = params["args"]
        if type(args) is not list:
            raise TapeFileError(f"{where}: its listed arguments are not a list")
    else:
        op = ELEMENTWISE_BY_CODE.get(code) or ARRAY_BY_CODE[code]
        if op.arity == 0:
            raise TapeFileError(f"{where}: it lists no arguments")
        args = [int(prog.arg0[i]), int(prog.arg1[i])][:op.arity]
    constants = params.get("constants")
    if type(constants) is not list or len(constants) != len(args):
        raise TapeFileError(f"{where}: its constants do not match its {len(args)} arguments")
    for a, constant in zip(args, constants):
        if type(a) is not int or not -1 <= a < i:
            how = ("at or after itself (a forward reference)" if type(a) is int and a >= i
                   else "out of range")
            raise TapeFileError(f"{where}: reads record {a!r}, {how}")
        if (a == -1) != (constant is not None):
            raise TapeFileError(f"{where}: argument {a} and its constant disagree")
    return args
