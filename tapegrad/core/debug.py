"""Debug mode: find the first record that produced a non-finite number.

Out of debug mode, tapegrad follows NumPy: ``log(0)`` is ``-inf``, ``0/0`` is
``nan``, and no exception is raised.  In debug mode every ``backward()``
checks the tape and raises :class:`~tapegrad.errors.NonFiniteError` naming
the first record whose value is not finite (or, if the values are fine, the
record whose adjoint first became non-finite in the reverse sweep), among
the records the output depends on: those that carry derivative to it (a
nonzero adjoint) and the output itself.  A nan that the output does not
take (``where(v > 0, sqrt(v), 0)`` at ``v = -4``), or one elsewhere on the
same tape, is no error.

Turn it on for a block with ``with tapegrad.debug_mode():``, for the current
context with ``tapegrad.set_debug(True)``, or for a whole process with the
environment variable ``TAPEGRAD_DEBUG=1``.

>>> import tapegrad as tg
>>> x = tg.Value(0.0)
>>> y = tg.log(x) * 2.0
>>> with tg.debug_mode():
...     y.backward()
Traceback (most recent call last):
...
tapegrad.errors.NonFiniteError: record 1 (log) produced -inf from x=0.0
>>> v = tg.Value(-4.0)
>>> y = tg.where(v > 0, tg.sqrt(v), 0.0)
>>> with tg.debug_mode():
...     y.backward()
>>> y.data, v.grad
(0.0, 0.0)
"""

import contextlib
import contextvars
import os

import numpy as np

from tapegrad.errors import NonFiniteError
from tapegrad.ops import BY_CODE
from tapegrad.core.extensions import ARRAYS

_ENABLED = contextvars.ContextVar(
    "tapegrad_debug", default=os.environ.get("TAPEGRAD_DEBUG", "") not in ("", "0")
)


def enabled():
    """Whether debug mode is on in the current context."""
    return _ENABLED.get()


def set_debug(on):
    """Turn debug mode on or off for the current context."""
    _ENABLED.set(bool(on))


@contextlib.contextmanager
def debug_mode(on=True):
    """Debug mode on (or off) inside a ``with`` block."""
    token = _ENABLED.set(bool(on))
    try:
        yield
    finally:
        _ENABLED.reset(token)


def describe(rec, i):
    """A one-line account of record ``i``: its op and argument values."""
    if i in rec.params:
        return f"record {i} ({ARRAYS.name_of(int(rec.op[i]))})"  # installed by tapegrad.array
    op = BY_CODE[int(rec.op[i])]
    if op.arity == 0:
        return f"record {i} (input #{int(rec.arg0[i])})"
    names = ("x", "y")[: op.arity]
    parts = []
    for name, a in zip(names, (int(rec.arg0[i]), int(rec.arg1[i]))):
        source = f"record {a}" if a >= 0 else "constant"
        value = rec.val[a] if a >= 0 else rec.const[i]
        parts.append(f"{name}={float(value)!r}" + ("" if a >= 0 else f" ({source})"))
    return f"record {i} ({op.name}) from " + ", ".join(parts)


def _args(rec, i):
    """The argument records of array record ``i`` (n-ary ops list theirs)."""
    params = rec.params.get(i)
    if params is not None and "args" in params:
        return params["args"]
    return int(rec.arg0[i]), int(rec.arg1[i])


def _first_bad(array):
    """The index of the first non-finite element of ``array``, or None."""
    bad = np.flatnonzero(~np.isfinite(array))
    return tuple(map(int, np.unravel_index(bad[0], np.shape(array)))) if bad.size else None


def _array_culprits(rec, last):
    """The array-valued records whose non-finite numbers reach the output of
    a ``backward()`` from ``last``, and the array leaves the sweep gave a
    non-finite gradient (as ``(record, leaf)``).

    The sweep keeps no array adjoints, so an array record counts when the
    output reads it (through records that count: array records, and records
    with a scalar result whose adjoint is nonzero) and its non-finite
    numbers reach the output: it is the output, or a reader that counts is
    non-finite too (``where(v > 0, sqrt(v), 0)`` and ``log(t)[0]`` take no
    nan of theirs)."""
    needed = {last}
    spread = {last}  # records read by a non-finite record that counts
    candidates, leaves = [], []
    for i in reversed(rec.array_records):
        if i > last:
            continue
        if i in rec.arrays:
            if i not in needed:
                continue
            bad = not np.isfinite(rec.arrays[i]).all()
            if bad and i in spread:
                candidates.append(i)
        else:  # a scalar result: its adjoint is exact, in the column
            if i != last and rec.adj[i] == 0.0:
                continue
            bad = not np.isfinite(rec.val[i])
        if int(rec.op[i]) == ARRAYS.input_code:
            leaf = rec.array_leaves[int(rec.arg0[i])]
            if leaf._g is not None and not np.isfinite(leaf._g).all():
                leaves.append((i, leaf))
            continue
        for a in _args(rec, i):
            if a >= 0 and a in rec.arrays:
                needed.add(a)
                if bad:
                    spread.add(a)
    return candidates[::-1], leaves


def check_finite(rec, stop, adjoints=True):
    """Raise NonFiniteError naming the first record in ``0..stop-1`` whose
    non-finite value the output depends on (or, with ``adjoints``, the
    record whose adjoint first became non-finite in the reverse sweep).

    With ``adjoints`` (a ``backward()`` from record ``stop - 1``), only the
    records that carry derivative to the output count: those whose adjoint
    is nonzero, and the output itself, so ``where(v > 0, sqrt(v), 0)`` at
    ``v = -4`` (the nan is not taken) and a nan elsewhere on the tape that
    the output does not read are not errors.  Without (a replay's forward
    pass, which has no adjoints), every record counts."""
    if adjoints:
        last = stop - 1
        adj = rec.adj[:stop]
        counts = adj != 0.0  # a nan adjoint is nonzero
        counts[last] = True
        arrays, leaves = _array_culprits(rec, last) if rec.array_records else ([], [])
    else:
        counts = np.ones(stop, bool)
        arrays, leaves = sorted(i for i in rec.arrays if i < stop), []
    finite = np.isfinite(rec.val[:stop]) | ~counts
    finite[[i for i in rec.arrays if i < stop]] = True  # their values are in the arena
    bad = np.flatnonzero(~finite)
    first = int(bad[0]) if bad.size else stop
    for i in arrays:
        where = _first_bad(rec.arrays[i])
        if i < first and where is not None:
            raise NonFiniteError(f"{describe(rec, i)} produced "
                                 f"{float(rec.arrays[i][where])!r} at index {where}")
    if bad.size:
        i = first
        where = describe(rec, i).split(" from ")
        detail = f" from {where[1]}" if len(where) > 1 else ""
        raise NonFiniteError(f"{where[0]} produced {float(rec.val[i])!r}{detail}")
    if not adjoints:
        return
    bad = np.flatnonzero(~np.isfinite(rec.adj[:stop]))
    if bad.size:
        i = int(bad[-1])  # the reverse sweep meets the highest index first
        raise NonFiniteError(
            f"the adjoint of {describe(rec, i)} is {float(rec.adj[i])!r} "
            "(its value is finite; a partial derivative there is not)"
        )
    for i, leaf in leaves:
        where = _first_bad(leaf._g)
        raise NonFiniteError(
            f"the gradient of {describe(rec, i)} is {float(leaf._g[where])!r} at index "
            f"{where} (the values the output takes are finite; a partial derivative is not)"
        )
