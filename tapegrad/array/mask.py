"""Comparisons of traced Tensors: boolean arrays that a replay recomputes.

While :func:`tapegrad.record` traces ``f``, ``t > 0`` on a traced Tensor
records the comparison (the scalar table's condition row, elementwise) and
returns a :class:`Mask`: a read-only boolean array that remembers its
record.  A replay recomputes the record.  What it then does with the new
mask depends on how ``f`` used it:

* only as the condition of :func:`tapegrad.where`: it is data, and the
  replay selects anew with it;
* in any way that lets its elements reach Python or NumPy (``if
  mask.any():``, ``t[mask]``, ``mask * 1.0``, ``mask.ravel()``,
  ``np.asarray(mask)``, ``list(mask)``, ``if t > 0:`` on a one-element
  tensor, ...): the replay's program was built for that mask only, so it is
  a guard, and a replay whose mask differs raises
  :class:`~tapegrad.BranchChanged` (or records again, with ``retrace``).

Which is which is decided by what can escape, not by a list of methods: a
Mask is not a NumPy array but stands in for one, and every way to its
elements goes through it and marks it as used (:meth:`Mask._escape`):
conversion (``__array__``, so ``np.asarray``, ``np.array``, array ops on
it, NumPy indexing with it), ufuncs and operators (``__array_ufunc__``),
NumPy functions (``__array_function__``), every ndarray method and
attribute (views, copies, ``tobytes``, ``flat``, ``data``, ``ctypes``, ...),
truth and numbers (``__bool__``, ``__int__``, ``__float__``, ``__index__``),
indexing, iteration, ``in``, ``repr``/``str``/``format`` and pickling.
What those give back are plain NumPy data: a view or copy of a mask used in
``where`` is a constant there, so it guards the mask it came from.  Only
what does not depend on the elements is free: ``shape``, ``ndim``,
``size``, ``dtype``, ``len()``, ``np.shape``, ``copy.copy`` (a Mask is
immutable: the copy is itself).  It has no buffer (``memoryview(mask)``
raises ``TypeError``) and refuses assignment.  Outside ``record``,
comparisons return plain boolean arrays.

>>> import numpy as np, tapegrad as tg
>>> rec = tg.record(lambda x: tg.where(x > 0, x, 0.1 * x).sum(), tg.tensor(np.ones(2)))
>>> rec(np.array([2.0, -10.0]))     # the mask is recomputed: no BranchChanged
1.0
"""

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin


class MaskUse:
    """What the trace did with one comparison's mask (kept in its record's
    params): ``selects`` when where() used it, ``escaped`` when its elements
    reached Python or NumPy, which makes it a guard."""

    __slots__ = ("tensor", "selects", "escaped")

    def __init__(self, tensor):
        self.tensor = tensor  # a Tensor handle to the comparison's record (1.0 / 0.0)
        self.selects = False
        self.escaped = False

    @property
    def guard(self):
        return self.escaped


def _plain(items):
    """``items`` (a tuple or list, nested) with every Mask marked as used
    and replaced by its elements."""
    out = []
    for x in items:
        if isinstance(x, Mask):
            out.append(x._escape())
        elif isinstance(x, (list, tuple)):
            out.append(type(x)(_plain(x)))
        else:
            out.append(x)
    return out


def _refuse_out(out):
    if any(isinstance(x, Mask) for x in out):
        raise TypeError("a Mask is read-only; copy it first (np.array(mask), a guard)")


# NumPy functions of a mask that read only its shape and dtype.
_METADATA = frozenset({np.shape, np.ndim, np.size, np.result_type})


class Mask(NDArrayOperatorsMixin):
    """A boolean array made by comparing traced Tensors (see the module
    docstring): ``where()`` selects with it as data; anything that reads its
    elements makes it a guard and gets plain NumPy data."""

    __slots__ = ("_data", "_use")

    def _escape(self):
        """The elements (a read-only boolean ndarray), marking this mask as used."""
        if self._use is not None:
            self._use.escaped = True
        return self._data

    # --- what does not depend on the elements --------------------------------

    shape = property(lambda self: self._data.shape)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    dtype = property(lambda self: self._data.dtype)
    itemsize = property(lambda self: self._data.itemsize)
    nbytes = property(lambda self: self._data.nbytes)
    strides = property(lambda self: self._data.strides)
    device = property(lambda self: self._data.device)

    def __len__(self):
        return len(self._data)

    def __copy__(self):
        return self  # immutable

    def __deepcopy__(self, memo):
        return self

    # --- everything else reads the elements -----------------------------------

    def __getattr__(self, name):
        """Any other ndarray attribute or method (views, copies, reductions,
        ``tobytes``, ``flat``, ``data``, ...), on the elements."""
        if name.startswith("_"):
            raise AttributeError(f"'Mask' object has no attribute {name!r}")
        value = getattr(self._data, name)  # AttributeError if an array has none
        self._escape()
        return value

    def __array__(self, dtype=None, copy=None):
        data = self._escape()
        if copy:
            return np.array(data, dtype=dtype, copy=True)
        return data if dtype is None else data.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if any(_traced(x) for x in inputs):
            return NotImplemented  # a Tensor or Value records it, taking this mask's data
        if "out" in kwargs:
            _refuse_out(kwargs["out"])
        return getattr(ufunc, method)(*_plain(inputs), **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if any(not issubclass(t, (Mask, np.ndarray)) for t in types):
            return NotImplemented  # a Tensor or Value records it (np.where(mask, t, u))
        implementation = getattr(func, "_implementation", func)  # no second dispatch
        if func in _METADATA:
            plain = lambda items: [x._data if isinstance(x, Mask) else x for x in items]
            return implementation(*plain(args), **dict(zip(kwargs, plain(kwargs.values()))))
        if "out" in kwargs:
            _refuse_out(kwargs["out"] if isinstance(kwargs["out"], tuple) else (kwargs["out"],))
        return implementation(*_plain(args), **dict(zip(kwargs, _plain(kwargs.values()))))

    def _reading(name):
        def method(self, *args, **kwargs):
            return getattr(self._escape(), name)(*args, **kwargs)

        method.__name__ = name
        return method

    __bool__, __int__, __float__ = _reading("__bool__"), _reading("__int__"), _reading("__float__")
    __complex__, __index__ = _reading("__complex__"), _reading("__index__")
    __iter__, __contains__ = _reading("__iter__"), _reading("__contains__")
    __format__ = _reading("__format__")
    __reduce__, __reduce_ex__ = _reading("__reduce__"), _reading("__reduce_ex__")  # an ndarray
    del _reading

    def __getitem__(self, index):
        return self._escape()[tuple(_plain(index)) if isinstance(index, tuple) else
                              _plain([index])[0]]

    def __setitem__(self, index, value):
        raise TypeError("a Mask is read-only; copy it first (np.array(mask), a guard)")

    def __repr__(self):
        return "Mask" + repr(self._escape())[len("array"):]

    def __str__(self):
        return str(self._escape())


def _traced(x):
    """Whether ``x`` is a Tensor or Value (an object with its own NumPy protocol)."""
    kind = type(x)
    return kind is not Mask and hasattr(kind, "__array_function__") and not isinstance(
        x, np.ndarray)


def make_mask(tensor):
    """The Mask of the comparison record ``tensor`` (1.0 where true); its use
    is kept in the record's params."""
    data = np.asarray(tensor._v != 0)
    data.flags.writeable = False
    mask = object.__new__(Mask)
    mask._data = data
    mask._use = use = MaskUse(tensor)
    tensor._rec.params[tensor._i]["mask"] = use
    return mask


def selecting(condition, tracing):
    """The comparison record to select with when ``condition`` is a Mask of
    the recording being traced (``tracing``), else None."""
    use = condition._use if isinstance(condition, Mask) else None
    if use is None or tracing is None or use.tensor._rec is not tracing:
        return None
    use.selects = True
    return use.tensor
