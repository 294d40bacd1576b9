"""The shapes of arguments that record and the functional API accept.

An argument is a real number, a 1-D float array, a :class:`~tapegrad.Tensor`,
or a tuple or list of arguments.  A :class:`Structure` remembers one such
shape, flattens a matching argument to a float64 vector, builds one back
from a vector, and makes the traced leaves that stand for one: a ``Value``
per number and per element of a 1-D array (the function sees a list of
Values), one ``Tensor`` leaf per tensor (the function sees a Tensor, and a
matching argument later may be a Tensor or a NumPy array of its shape).

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

from tapegrad.array.tensor import Tensor, tensor
from tapegrad.scalar.value import Value

_SCALAR, _ARRAY, _TENSOR, _TUPLE, _LIST = "scalar", "array", "tensor", "tuple", "list"


def _is_real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, np.ndarray)


def _is_number(x):
    """A number as an argument: a real Python number, or a NumPy scalar or
    0-d array (of any dtype: :func:`_check_real_dtype` judges that)."""
    return _is_real(x) or (isinstance(x, (np.ndarray, np.generic)) and x.ndim == 0)


class Structure:
    """The shape of one argument (see the module docstring)."""

    __slots__ = ("kind", "size", "children", "length", "shape", "dtype")

    def __init__(self, kind, size, children=(), length=0, shape=None, dtype=None):
        self.kind, self.size, self.children, self.length = kind, size, children, length
        self.shape, self.dtype = shape, dtype

    @classmethod
    def of(cls, x, where="argument"):
        """The structure of ``x``; TypeError for anything else."""
        if _is_number(x):
            if not _is_real(x):
                _check_real_dtype(x, where)
            return cls(_SCALAR, 1)
        if _is_tensor(x):
            array = x._v
            _check_real_dtype(array, where)
            dtype = array.dtype if array.dtype.kind == "f" else np.dtype(np.float64)
            return cls(_TENSOR, array.size, shape=array.shape, dtype=dtype)
        if isinstance(x, np.ndarray):
            _check_real_dtype(x, where)
            if x.ndim != 1:
                raise ValueError(f"{where}: NumPy arrays must be 1-D here (their elements are "
                                 f"traced as Values), got shape {x.shape}; pass "
                                 "tapegrad.tensor(x) to trace it as one Tensor")
            return cls(_ARRAY, len(x), length=len(x))
        if isinstance(x, (tuple, list)):
            children = tuple(cls.of(item, f"{where}[{k}]") for k, item in enumerate(x))
            return cls(_TUPLE if isinstance(x, tuple) else _LIST,
                       sum(c.size for c in children), children, len(x))
        raise TypeError(f"{where}: expected a real number, a 1-D float array, a Tensor, "
                        f"or a tuple or list of them, not {type(x).__name__}")

    def __eq__(self, other):
        return (isinstance(other, Structure) and self.kind == other.kind
                and self.length == other.length and self.children == other.children
                and self.shape == other.shape and self.dtype == other.dtype)

    def describe(self):
        if self.kind == _SCALAR:
            return "a number"
        if self.kind == _TENSOR:
            return f"a tensor of shape {self.shape}"
        if self.kind == _ARRAY:
            return f"an array of shape ({self.length},)"
        return f"a {self.kind} of {self.length} items"

    def flatten(self, x, where=""):
        """``x`` (of this structure) as a new float64 vector."""
        out = np.empty(self.size)
        self._fill(x, out, 0, where)
        return out

    def flat_view(self, x, where=""):
        """:meth:`flatten`, except that a lone tensor's float64 array comes
        back as a flat view of itself when it can (not to be written to)."""
        if self.kind == _TENSOR:
            array = x._v if _is_tensor(x) else x
            if isinstance(array, np.ndarray) and array.dtype == np.float64 \
                    and array.shape == self.shape:
                return array.reshape(-1)
        return self.flatten(x, where)

    def _fill(self, x, out, start, where):
        if self.kind == _SCALAR:
            if not _is_real(x):
                if not _is_number(x):
                    raise TypeError(f"expected a number at {where or 'the argument'}, "
                                    f"got {type(x).__name__}")
                _check_real_dtype(x, where or "the argument")  # NumPy would coerce it
            out[start] = x
        elif self.kind == _ARRAY:
            array = np.asarray(x) if not isinstance(x, np.ndarray) else x
            if array.shape != (self.length,):
                raise ValueError(f"expected an array of shape ({self.length},) at "
                                 f"{where or 'the argument'}, got shape {array.shape}")
            _check_real_dtype(array, where or "the argument")
            out[start:start + self.length] = array
        elif self.kind == _TENSOR:
            array = x._v if _is_tensor(x) else np.asarray(x)
            if array.shape != self.shape:
                raise ValueError(f"expected a tensor or array of shape {self.shape} at "
                                 f"{where or 'the argument'}, got shape {array.shape}")
            _check_real_dtype(array, where or "the argument")
            out[start:start + self.size] = array.reshape(-1)
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
        if self.kind == _TENSOR:
            part = flat[start:start + self.size]
            return np.array(part, dtype=self.dtype).reshape(self.shape), start + self.size
        items = []
        for child in self.children:
            item, start = child._build(flat, start, as_values)
            items.append(item)
        return (tuple(items) if self.kind == _TUPLE else items), start

    @property
    def has_tensors(self):
        return self.kind == _TENSOR or any(c.has_tensors for c in self.children)

    def leaves(self, flat):
        """``(argument, leaves)``: the traced argument of this structure at
        the flat vector ``flat``, and its leaves (Values and Tensors) in order."""
        leaves = []

        def build(node, start):
            if node.kind in (_SCALAR, _ARRAY):
                made = [Value(v) for v in flat[start:start + node.size].tolist()]
                leaves.extend(made)
                return (made[0] if node.kind == _SCALAR else made), start + node.size
            if node.kind == _TENSOR:
                part = flat[start:start + node.size].astype(node.dtype).reshape(node.shape)
                leaf = tensor(part, requires_grad=True)
                leaves.append(leaf)
                return leaf, start + node.size
            items = []
            for child in node.children:
                item, start = build(child, start)
                items.append(item)
            return (tuple(items) if node.kind == _TUPLE else items), start

        return build(self, 0)[0], leaves

    def slots(self):
        """``(start, size, shape, dtype)`` of each leaf in order: a number or
        an array element is ``(start, 1, None, None)``, a tensor its block."""
        out = []

        def walk(node, start):
            if node.kind in (_SCALAR, _ARRAY):
                out.extend((start + k, 1, None, None) for k in range(node.size))
            elif node.kind == _TENSOR:
                out.append((start, node.size, node.shape, node.dtype))
            for child in node.children:
                walk(child, start)
                start += child.size

        walk(self, 0)
        return out


def _is_tensor(x):
    return isinstance(x, Tensor)


def _check_real_dtype(array, where):
    """TypeError unless ``array`` (an array or a NumPy scalar) holds real
    numbers: floats, integers or booleans (0 and 1).  Complex numbers,
    strings, bytes, objects, dates and durations are rejected, never cast."""
    if array.dtype.kind not in "fiub":
        what = ("an array" if array.ndim else "a 0-d array") if isinstance(array, np.ndarray) \
            else "a NumPy scalar"
        raise TypeError(f"{where}: expected real numbers, got {what} of dtype {array.dtype}")


def real_array(x, where):
    """``x`` as a NumPy array of real numbers (see :func:`_check_real_dtype`),
    for the arguments that are arrays of their own (weights, batches of points)."""
    array = np.asarray(x)
    _check_real_dtype(array, where)
    return array
