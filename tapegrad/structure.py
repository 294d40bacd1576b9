"""The shapes of arguments that record and the functional API accept.

An argument is a real number, a 1-D float array, or a tuple or list of
arguments.  A :class:`Structure` remembers one such shape, flattens a
matching argument to a float64 vector and builds one back from a vector
(or from a list of Values, to hand a traced argument to the function).

>>> s = Structure.of((1.0, [2.0, 3.0], np.array([4.0, 5.0])))
>>> s.size, s.flatten((0.5, [1, 2], np.zeros(2))).tolist()
(5, [0.5, 1.0, 2.0, 0.0, 0.0])
>>> s.unflatten(np.arange(5.0))
(0.0, [1.0, 2.0], array([3., 4.]))
>>> s.flatten((1.0, [2.0], np.zeros(2)))
Traceback (most recent call last):
ValueError: expected a list of 2 items at [1], got 1
"""

import numbers

import numpy as np

_SCALAR, _ARRAY, _TUPLE, _LIST = "scalar", "array", "tuple", "list"


def _is_real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, np.ndarray)


class Structure:
    """The shape of one argument (see the module docstring)."""

    __slots__ = ("kind", "size", "children", "length")

    def __init__(self, kind, size, children=(), length=0):
        self.kind, self.size, self.children, self.length = kind, size, children, length

    @classmethod
    def of(cls, x, where="argument"):
        """The structure of ``x``; TypeError for anything else."""
        if _is_real(x) or (isinstance(x, np.ndarray) and x.ndim == 0):
            _check_real_dtype(np.asarray(x), where)
            return cls(_SCALAR, 1)
        if isinstance(x, np.ndarray):
            _check_real_dtype(x, where)
            if x.ndim != 1:
                raise ValueError(f"{where}: arrays must be 1-D here, got shape {x.shape}")
            return cls(_ARRAY, len(x), length=len(x))
        if isinstance(x, (tuple, list)):
            children = tuple(cls.of(item, f"{where}[{k}]") for k, item in enumerate(x))
            return cls(_TUPLE if isinstance(x, tuple) else _LIST,
                       sum(c.size for c in children), children, len(x))
        raise TypeError(f"{where}: expected a real number, a 1-D float array, or a "
                        f"tuple or list of them, not {type(x).__name__}")

    def __eq__(self, other):
        return (isinstance(other, Structure) and self.kind == other.kind
                and self.length == other.length and self.children == other.children)

    def describe(self):
        if self.kind == _SCALAR:
            return "a number"
        if self.kind == _ARRAY:
            return f"an array of shape ({self.length},)"
        return f"a {self.kind} of {self.length} items"

    def flatten(self, x, where=""):
        """``x`` (of this structure) as a new float64 vector."""
        out = np.empty(self.size)
        self._fill(x, out, 0, where)
        return out

    def _fill(self, x, out, start, where):
        if self.kind == _SCALAR:
            if not (_is_real(x) or (isinstance(x, np.ndarray) and x.ndim == 0)):
                raise TypeError(f"expected a number at {where or 'the argument'}, "
                                f"got {type(x).__name__}")
            out[start] = x
        elif self.kind == _ARRAY:
            array = np.asarray(x) if not isinstance(x, np.ndarray) else x
            if array.shape != (self.length,):
                raise ValueError(f"expected an array of shape ({self.length},) at "
                                 f"{where or 'the argument'}, got shape {array.shape}")
            _check_real_dtype(array, where or "the argument")
            out[start:start + self.length] = array
        else:
            wanted = tuple if self.kind == _TUPLE else list
            if not isinstance(x, wanted) or len(x) != self.length:
                got = f"{len(x)}" if isinstance(x, wanted) else type(x).__name__
                raise ValueError(f"expected a {self.kind} of {self.length} items at "
                                 f"{where or 'the argument'}, got {got}")
            for k, (child, item) in enumerate(zip(self.children, x)):
                child._fill(item, out, start, f"{where}[{k}]")
                start += child.size
        return out

    def unflatten(self, flat, as_values=False):
        """An argument of this structure from ``flat`` (floats or Values).
        Arrays come back as NumPy arrays, or as lists when ``as_values``."""
        item, _ = self._build(flat, 0, as_values)
        return item

    def _build(self, flat, start, as_values):
        if self.kind == _SCALAR:
            item = flat[start]
            return (item if as_values else float(item)), start + 1
        if self.kind == _ARRAY:
            part = flat[start:start + self.length]
            return (list(part) if as_values else np.array(part, dtype=np.float64)), \
                start + self.length
        items = []
        for child in self.children:
            item, start = child._build(flat, start, as_values)
            items.append(item)
        return (tuple(items) if self.kind == _TUPLE else items), start


def _check_real_dtype(array, where):
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{where}: expected real numbers, got an array of dtype {array.dtype}")
