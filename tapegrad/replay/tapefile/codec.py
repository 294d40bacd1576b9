"""What a saved recording's manifest holds besides numbers: array op
parameters and the input :class:`~tapegrad.replay.structure.Structure`, as
JSON-safe data plus named arrays.

An array record's params hold Python objects: numbers and strings, None,
tuples and lists (an index, a shape, the ``constants`` of an op's
operands), slices and ``...``, dicts of options, NumPy scalars, arrays
(constants, int and boolean index arrays, labels), dtypes (``astype``) and
the :class:`~tapegrad.array.mask.MaskUse` of a comparison (whether ``where``
selected with its mask, whether it escaped: a guard).  :func:`encode` turns
each into JSON (a tagged object ``{"$": kind, ...}`` for what JSON lacks:
tuples, slices, NumPy scalars and dtypes, masks), with every array put in
a :class:`Store` and named; :func:`decode` builds them back, exactly (a
Python float stays a float, a float32 scalar a float32 scalar: NumPy's type
promotion depends on it).  Nothing else is stored: a function (a
:func:`tapegrad.primitive`'s rule), a class instance, an object array raise
TypeError naming where it was found, when saving, never pickled.  Decoding
builds only these kinds, so a file cannot make it run code.

>>> store = Store("p")
>>> tree = encode((slice(1, None), Ellipsis, np.float32(0.5), np.arange(2)), store, "index")
>>> tree["$"], sorted(store.entries)
('tuple', ['p0'])
>>> decode(tree, store.entries, "index")
(slice(1, None, None), Ellipsis, np.float32(0.5), array([0, 1]))
>>> encode(print, store, "record 3 (sum), param 'axis'")
Traceback (most recent call last):
TypeError: record 3 (sum), param 'axis': a builtin_function_or_method cannot be saved in a tapegrad file (only numbers, strings, None, tuples, lists, dicts, slices, NumPy scalars, dtypes and arrays of numbers)
"""

import math

import numpy as np

from tapegrad.array.mask import MaskUse
from tapegrad.errors import TapeFileError
from tapegrad.replay.structure import Structure
from tapegrad.replay.tapefile.format import DTYPES

#: How deep params and structures may nest (deeper ones are refused).
DEPTH = 64
_FLOATS = frozenset(np.dtype(t).str for t in (np.float16, np.float32, np.float64))
_KINDS = ("scalar", "array", "tensor", "tuple", "list")


class Store:
    """The arrays a manifest names: ``entries`` (name -> array), one entry
    per distinct array object (a constant read by many records is stored
    once), named ``prefix`` and a number."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.entries = {}
        self._names = {}  # id(array) -> name; the array is in entries, so alive

    def add(self, array, where):
        name = self._names.get(id(array))
        if name is None:
            if array.dtype.str not in DTYPES:
                raise TypeError(f"{where}: an array of dtype {array.dtype} cannot be saved in "
                                "a tapegrad file (only booleans, integers and floats)")
            name = self._names[id(array)] = f"{self.prefix}{len(self.entries)}"
            self.entries[name] = array
        return name


def encode(value, store, where):
    """``value`` as JSON-safe data, its arrays put in ``store``; TypeError
    (naming ``where``) for what a file cannot hold."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value
    if kind is tuple or kind is list:
        return {"$": kind.__name__, "items": [encode(v, store, where) for v in value]}
    if kind is np.ndarray:
        return {"$": "array", "name": store.add(value, where)}
    if isinstance(value, np.generic) and np.dtype(kind).str in DTYPES:
        return {"$": "scalar", "dtype": value.dtype.str, "value": value.item()}
    if kind is slice:
        return {"$": "slice", "items": [encode(v, store, where)
                                        for v in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {"$": "ellipsis"}
    if kind is dict and all(type(k) is str for k in value):
        return {"$": "dict", "items": [[k, encode(v, store, where)] for k, v in value.items()]}
    if isinstance(value, np.dtype) and value.str in DTYPES:
        return {"$": "dtype", "name": value.str}
    if isinstance(value, type) and issubclass(value, np.generic) \
            and np.dtype(value).str in DTYPES:
        return {"$": "type", "name": np.dtype(value).str}
    if kind is MaskUse:
        return {"$": "mask", "selects": bool(value.selects), "escaped": bool(value.escaped)}
    raise TypeError(f"{where}: a {kind.__name__} cannot be saved in a tapegrad file (only "
                    "numbers, strings, None, tuples, lists, dicts, slices, NumPy scalars, "
                    "dtypes and arrays of numbers)")


def decode(tree, arrays, where, depth=0):
    """The value :func:`encode` made ``tree`` of, its arrays taken from
    ``arrays`` (name -> array); TapeFileError naming ``where`` for anything
    :func:`encode` does not make."""
    if tree is None or type(tree) in (bool, int, float, str):
        return tree
    if depth > DEPTH:
        raise TapeFileError(f"{where}: nested more than {DEPTH} deep")
    tag = tree.get("$") if type(tree) is dict else None
    try:
        if tag in ("tuple", "list", "slice"):
            items = [decode(v, arrays, where, depth + 1) for v in _list(tree["items"])]
            if tag == "slice":
                start, stop, step = items
                return slice(start, stop, step)
            return tuple(items) if tag == "tuple" else items
        if tag == "array":
            return arrays[tree["name"]]
        if tag == "scalar":
            dtype = _dtype(tree["dtype"], DTYPES)
            value = tree["value"]
            if type(value) is not {"b": bool, "f": float}.get(dtype.kind, int):
                raise ValueError(f"{value!r} is no {dtype} value")
            return dtype.type(value)
        if tag == "ellipsis":
            return Ellipsis
        if tag == "dict":
            pairs = [(k, decode(v, arrays, where, depth + 1)) for k, v in map(_pair, tree["items"])]
            return dict(pairs)
        if tag in ("dtype", "type"):
            dtype = _dtype(tree["name"], DTYPES)
            return dtype if tag == "dtype" else dtype.type
        if tag == "mask":
            use = MaskUse(None)  # the traced Tensor it stood for is no more
            use.selects, use.escaped = _bool(tree["selects"]), _bool(tree["escaped"])
            return use
    except TapeFileError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise TapeFileError(f"{where}: a malformed {tag!r}: {error}") from None
    raise TapeFileError(f"{where}: {_short(tree)} is no value a tapegrad file holds")


def encode_params(params, store, where):
    """An array record's params (a dict, or None for a leaf) as JSON."""
    if params is None:
        return None
    return {key: encode(value, store, f"{where}, param {key!r}") for key, value in params.items()}


def decode_params(tree, arrays, where):
    """The params :func:`encode_params` made ``tree`` of: a new dict (or None)."""
    if tree is None:
        return None
    if type(tree) is not dict:
        raise TapeFileError(f"{where}: params must be a JSON object, not {_short(tree)}")
    return {key: decode(value, arrays, f"{where}, param {key!r}") for key, value in tree.items()}


def encode_structure(structure):
    """A :class:`~tapegrad.replay.structure.Structure` as JSON."""
    return {"kind": structure.kind, "size": structure.size, "length": structure.length,
            "shape": None if structure.shape is None else list(structure.shape),
            "dtype": None if structure.dtype is None else structure.dtype.str,
            "children": [encode_structure(c) for c in structure.children]}


def decode_structure(tree, depth=0):
    """The Structure :func:`encode_structure` made ``tree`` of, each node
    checked (its kind, and its size against its shape or its children)."""
    if depth > DEPTH:
        raise TapeFileError(f"the input structure is nested more than {DEPTH} deep")
    try:
        kind, size, length = tree["kind"], tree["size"], tree["length"]
        children = tuple(decode_structure(c, depth + 1) for c in _list(tree["children"]))
        shape, dtype = tree["shape"], tree["dtype"]
        if kind not in _KINDS or not _count(size) or not _count(length):
            raise ValueError("a bad kind, size or length")
        if kind == "tensor":
            shape = tuple(_list(shape))
            dtype = _dtype(dtype, _FLOATS)
            good = all(_count(n) for n in shape) and size == math.prod(shape) and length == 0
        else:
            good = shape is None and dtype is None and (
                size == 1 and length == 0 if kind == "scalar" else
                size == length if kind == "array" else
                length == len(children) and size == sum(c.size for c in children))
        if not good or (children and kind not in ("tuple", "list")):
            raise ValueError(f"a {kind} whose size, length, shape or children do not agree")
    except TapeFileError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise TapeFileError(f"the input structure is malformed: {error}") from None
    return Structure(kind, size, children, length, shape, dtype)


def _list(value):
    if type(value) is not list:
        raise TypeError(f"expected a list, got {_short(value)}")
    return value


def _pair(item):
    if type(item) is not list or len(item) != 2 or type(item[0]) is not str:
        raise TypeError(f"expected a [key, value] pair, got {_short(item)}")
    return item


def _bool(value):
    if type(value) is not bool:
        raise TypeError(f"expected true or false, got {_short(value)}")
    return value


def _count(n):
    return type(n) is int and n >= 0


def _dtype(name, allowed):
    if type(name) is not str or name not in allowed:
        raise ValueError(f"dtype {name!r} is not one a tapegrad file holds")
    return np.dtype(name)


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
