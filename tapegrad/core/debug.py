"""Debug mode: find the first record that produced a non-finite number.

Out of debug mode, tapegrad follows NumPy: ``log(0)`` is ``-inf``, ``0/0`` is
``nan``, and no exception is raised.  In debug mode every ``backward()``
checks the tape and raises :class:`~tapegrad.errors.NonFiniteError` naming
the first record whose value is not finite (or, if the values are fine, the
record whose adjoint first became non-finite in the reverse sweep).

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


def check_finite(rec, stop, adjoints=True):
    """Raise NonFiniteError if a value (or, with ``adjoints``, an adjoint) in
    records ``0..stop-1`` is not finite, naming the record that produced it."""
    finite = np.isfinite(rec.val[:stop])
    arrays = [i for i in rec.arrays if i < stop]
    finite[arrays] = True  # their values are in the arena
    bad = np.flatnonzero(~finite)
    first = int(bad[0]) if bad.size else stop
    for i in sorted(arrays):
        if i < first and not np.isfinite(rec.arrays[i]).all():
            where = np.unravel_index(np.flatnonzero(~np.isfinite(rec.arrays[i]))[0],
                                     np.shape(rec.arrays[i]))
            raise NonFiniteError(f"{describe(rec, i)} produced "
                                 f"{float(rec.arrays[i][where])!r} at index {tuple(map(int, where))}")
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
