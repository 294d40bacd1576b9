"""Comparisons of traced Tensors: boolean arrays that a replay recomputes.

While :func:`tapegrad.record` traces ``f``, ``t > 0`` on a traced Tensor
records the comparison (the scalar table's condition row, elementwise) and
returns a :class:`Mask`: a boolean NumPy array that remembers its record.
A replay recomputes the record.  What it then does with the new mask
depends on how ``f`` used it:

* only as the condition of :func:`tapegrad.where`: it is data, and the
  replay selects anew with it;
* in any other way (``if mask.any():``, ``t[mask]``, ``mask * 1.0``, ``if
  t > 0:`` on a one-element tensor): the replay's program was built for
  that mask only, so it is a guard, and a replay whose mask differs raises
  :class:`~tapegrad.BranchChanged` (or records again, with ``retrace``).

Any NumPy use of the mask (ufuncs, array functions, indexing, iteration,
truth) counts as "any other way"; so does passing it on as a plain array
(``np.asarray(mask)`` cannot be seen, so do not hide a mask's use that way).
Outside ``record``, comparisons return plain boolean arrays.

>>> import numpy as np, tapegrad as tg
>>> rec = tg.record(lambda x: tg.where(x > 0, x, 0.1 * x).sum(), tg.tensor(np.ones(2)))
>>> rec(np.array([2.0, -10.0]))     # the mask is recomputed: no BranchChanged
1.0
"""

import numpy as np


class MaskUse:
    """What the trace did with one comparison's mask (kept in its record's
    params): ``selects`` when where() used it, ``escaped`` for anything else."""

    __slots__ = ("tensor", "selects", "escaped")

    def __init__(self, tensor):
        self.tensor = tensor  # a Tensor handle to the comparison's record (1.0 / 0.0)
        self.selects = False
        self.escaped = False

    @property
    def guard(self):
        return self.escaped or not self.selects


def _plain(items):
    return tuple(x.view(np.ndarray) if isinstance(x, Mask) else x for x in items)


def _escape(items):
    """Mark every Mask in ``items`` (and in lists and tuples in it) as used."""
    for x in items:
        if isinstance(x, Mask) and x._use is not None:
            x._use.escaped = True
        elif isinstance(x, (list, tuple)):
            _escape(x)


class Mask(np.ndarray):
    """A boolean array made by comparing traced Tensors (see the module
    docstring); everything NumPy does with it marks it as a guard."""

    def __array_finalize__(self, obj):
        self._use = None  # views and results are plain masks of nothing

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _escape(inputs)
        if "out" in kwargs:
            _escape(kwargs["out"])
            kwargs["out"] = _plain(kwargs["out"])
        return getattr(ufunc, method)(*_plain(inputs), **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        _escape(args)
        _escape(kwargs.values())
        result = super().__array_function__(func, types, args, kwargs)
        return result.view(np.ndarray) if isinstance(result, Mask) else result

    def _used(name):
        def method(self, *args, **kwargs):
            _escape((self,))
            return getattr(self.view(np.ndarray), name)(*args, **kwargs)

        method.__name__ = name
        return method

    __bool__, __iter__, __getitem__ = _used("__bool__"), _used("__iter__"), _used("__getitem__")
    tolist, item, nonzero = _used("tolist"), _used("item"), _used("nonzero")
    any, all, sum = _used("any"), _used("all"), _used("sum")
    astype, copy = _used("astype"), _used("copy")
    del _used


def make_mask(tensor):
    """The Mask of the comparison record ``tensor`` (1.0 where true); its use
    is kept in the record's params."""
    mask = np.asarray(tensor._v != 0).view(Mask)
    use = MaskUse(tensor)
    mask._use = use
    tensor._rec.params[tensor._i]["mask"] = use
    return mask


def selecting(condition, tracing):
    """The comparison record to select with when ``condition`` is a Mask of
    the recording being traced (``tracing``), else None."""
    use = getattr(condition, "_use", None) if isinstance(condition, Mask) else None
    if use is None or tracing is None or use.tensor._rec is not tracing:
        return None
    use.selects = True
    return use.tensor
