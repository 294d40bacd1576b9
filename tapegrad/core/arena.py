"""Where array records' values and adjoints are allocated, and recycled.

A training loop records the same program every step, so it needs arrays of
the same shapes every step.  A fresh large NumPy array costs page faults on
first touch (glibc returns large freed blocks to the OS): on the machines
measured here, filling a fresh 2 MB array cost ~1 ms, twenty times the
arithmetic of an elementwise op on it.  So a recording gives the arrays of
its arena back here when it dies or is reset (:meth:`tapegrad.core.tape.Recording`),
a reverse sweep gives back its spent adjoint buffers, and :func:`empty`
hands them out again, warm.

An array is taken back only when nothing else holds it or a view of it
(its reference count says so), so a value a user kept (``t.value``, a view
of it, a ``torch.from_numpy`` of it) is never reused.  At most
:data:`LIMIT` bytes are kept; beyond that, arrays are simply freed.

Arrays under :data:`SMALL` bytes skip the pool both ways: malloc keeps
such blocks warm itself, and faster than the pool's bookkeeping.

>>> import numpy as np
>>> spare = [np.empty((200, 300))]
>>> address = spare[0].ctypes.data
>>> give_back(spare)                # nothing else holds it: kept
>>> empty((300, 200), np.float64).ctypes.data == address
True
>>> held = np.empty(70000)
>>> give_back([held])               # `held` holds it: not kept
>>> empty((70000,), np.float64) is held
False
"""

import sys

import numpy as np

LIMIT = 128 << 20  # bytes of spare arrays kept
#: Bytes under which an array is neither kept nor handed out (malloc serves
#: those from memory it keeps, warm; the pool's bookkeeping costs an eager
#: op on small arrays a sixth of its time).
SMALL = 1 << 16
_spare = {}  # (size, dtype) -> [arrays that own their data]
_held = 0


def empty(shape, dtype):
    """An uninitialised C-contiguous array of ``shape`` and ``dtype``, reused
    when a spare one of that size is at hand."""
    global _held
    dtype = np.dtype(dtype)
    size = 1
    for n in shape:
        size *= n
    if size * dtype.itemsize < SMALL:
        return np.empty(shape, dtype)
    stack = _spare.get((size, dtype))
    if not stack:
        return np.empty(shape, dtype)
    try:
        owner = stack.pop()  # one step: another thread may have emptied it since
    except IndexError:
        return np.empty(shape, dtype)
    _held -= owner.nbytes  # approximate under threads: it only bounds the pool
    return owner if owner.shape == tuple(shape) else owner.reshape(shape)


def _owner_if_free(array):
    """The array owning ``array``'s memory, if the caller's reference is the
    only one to ``array`` and ``array`` the only holder of its owner."""
    # Counted: the caller's container, the `array` argument, getrefcount's own.
    if sys.getrefcount(array) > 3:
        return None
    owner = array.base
    if owner is None:
        owner = array
    # A view's owner is held by the view's .base, `owner` and getrefcount's argument.
    elif sys.getrefcount(owner) > 3:
        return None
    if type(owner) is not np.ndarray or not owner.flags.owndata or not owner.flags.c_contiguous:
        return None
    return owner


def give_back(arrays):
    """Keep the arrays of ``arrays`` (a list, emptied here) that nothing
    else holds, for :func:`empty` to hand out again."""
    global _held
    while arrays:
        if getattr(arrays[-1], "nbytes", 0) < SMALL:
            arrays.pop()
            continue
        owner = _owner_if_free(arrays[-1])
        arrays.pop()
        if owner is None or _held + owner.nbytes > LIMIT or owner.nbytes == 0:
            continue
        owner.flags.writeable = True  # the tape marks its values read-only
        _spare.setdefault((owner.size, owner.dtype), []).append(owner)
        _held += owner.nbytes


def clear():
    """Free every spare array."""
    global _held
    _spare.clear()
    _held = 0
