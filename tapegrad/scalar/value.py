"""``Value``: the seed's and micrograd's scalar API, as a light tape handle.

A ``Value`` made by you (``Value(2.0)``) is a *leaf*: an independent
variable that holds its own ``.data`` and ``.grad`` and is recorded as an
input of whichever tape first uses it.  A ``Value`` made by an op is a handle
to one record: its recording, its index, and (for speed) its value.  Handles
hold no references to each other, so a graph of them makes no reference
cycles and costs the garbage collector nothing.

>>> from tapegrad import Value
>>> a, b = Value(-4.0), Value(2.0)
>>> c = a * b + b ** 3
>>> c.backward()
>>> a.grad, b.grad
(2.0, 8.0)
>>> 2 - a          # two minus a (the seed's __rsub__ got this backwards)
Value(data=6.0, grad=0.0)

Every op method is built here from its row of the op table; the rules
themselves live in :mod:`tapegrad.ops` only.
"""

import numbers
import sys

import numpy as np

from tapegrad.errors import MixedTapeError, TapeError
from tapegrad.ops import OPS
from tapegrad.ops.methods import install
from tapegrad.core import numpy_protocol
from tapegrad.core.tape import current_recording, frozen_read

_BRANCH = OPS["branch"].code

_new = object.__new__
_FLOATS = (float, int)  # the common exact types, checked before numbers.Real


def as_number(x):
    """``x`` as a float if it is a real number (not a Value), else None."""
    if x.__class__ in _FLOATS or isinstance(x, numbers.Real):
        return float(x)
    return None


def _type_error(what, x):
    return TypeError(f"{what} takes real numbers or Values, not {type(x).__name__}")


# ``array_binary(name, x, y)``: a binary op of the table on arrays, as a
# Tensor.  Installed by :mod:`tapegrad.array` (:func:`promote_arrays`), which
# sits above this layer.
_ARRAY_BINARY = None


def promote_arrays(array_binary):
    """Make ``Value op ndarray`` (either side) record ``array_binary(name,
    x, y)``: called once by the array layer when it is imported."""
    global _ARRAY_BINARY
    _ARRAY_BINARY = array_binary


def _not_a_number(op, symbol, value, other, reflected, comparison):
    """``value op other`` when ``other`` is neither a Value nor a number: a
    Tensor for an array operand, NotImplemented for a comparison (as
    Python's own), else a TypeError naming the type."""
    if (isinstance(other, np.ndarray) or getattr(type(other), "__array_ufunc__", 0) is None
            or hasattr(type(other), "__array_function__")):  # an array-like (a Mask)
        if _ARRAY_BINARY is None:
            raise TypeError(f"Value {symbol} {type(other).__name__} needs tapegrad.array "
                            "(import tapegrad)")
        return _ARRAY_BINARY(op.name, *((other, value) if reflected else (value, other)))
    if comparison:
        return NotImplemented
    raise _type_error(f"Value {symbol}", other)


def index_on(v, rec):
    """Record index of ``v`` on ``rec``, registering a leaf there if needed."""
    if v._rec is rec:
        return v._i
    if v._rec is not None:
        for r in (rec, v._rec):
            r.check_open()  # a reset or closed tape is the likelier mistake: say so
        raise MixedTapeError(
            "cannot combine values recorded on two different tapes; "
            "compute both on one tape (or leaves, which any tape accepts)"
        )
    if v._serial == rec.serial:
        return v._i
    return rec.register(v)


def _binary(op, spelling):
    """The method recording ``op`` as ``spelling`` (see
    :mod:`tapegrad.ops.methods`): ``self op other`` (``other op self`` when
    reflected).  A comparison with a non-number returns NotImplemented, as
    Python's own comparisons do.

    This is the hot path of recording, so it is one function per op: find
    the recording, index both operands (a number goes in the ``const`` slot,
    argument -1), apply the op's value rule, push one record.  The new
    handle is made inline here and in :func:`_unary` (a helper call would
    cost ~10% of an op)."""
    code, rule = op.code, op.value
    symbol, reflected, comparison = spelling.symbol, spelling.reflected, spelling.comparison

    def method(self, other):
        x, y = (other, self) if reflected else (self, other)
        if other.__class__ is Value:
            rec = x._rec or y._rec or current_recording()
            a0 = x._i if x._rec is rec else index_on(x, rec)
            a1 = y._i if y._rec is rec else index_on(y, rec)
            c, value = 0.0, rule(x._v, y._v)
        else:
            c = other if other.__class__ is float else as_number(other)
            if c is None:
                return _not_a_number(op, symbol, self, other, reflected, comparison)
            rec = self._rec or current_recording()
            i = self._i if self._rec is rec else index_on(self, rec)
            if reflected:
                a0, a1, value = -1, i, rule(c, self._v)
            else:
                a0, a1, value = i, -1, rule(self._v, c)
        out = _new(Value)
        out._rec = rec
        out._i = rec.push(code, a0, a1, c, value)
        out._v = value
        return out

    method.__doc__ = f"Record {op.doc}."
    return method


def _unary(op, spelling):
    code, rule = op.code, op.value

    def method(self):
        rec = self._rec or current_recording()
        i = self._i if self._rec is rec else index_on(self, rec)
        value = rule(self._v)
        out = _new(Value)
        out._rec = rec
        out._i = rec.push(code, i, -1, 0.0, value)
        out._v = value
        return out

    method.__doc__ = f"Record {op.doc}."
    return method


PICKLE_COMPUTED = (
    "cannot pickle a {kind} computed on a tape: its tape does not travel.  Pickle or save a "
    "recording instead (tapegrad.record(f, x0): rec.save(path), pickle.dumps(rec)), or the "
    "plain data ({data})")


def _leaf_value(value, grad):
    """An unpickled leaf Value."""
    leaf = Value(value)
    leaf._g = grad
    return leaf


class Value(numpy_protocol.Dispatching):
    """A scalar that records what is computed from it.

    ``Value(x)`` makes a leaf from a real number.  Arithmetic with ints,
    floats and other Values on either side records onto a tape; call
    ``.backward()`` on a result to fill ``.grad`` of every leaf it depends
    on (gradients accumulate across calls until you set ``.grad = 0``).

    >>> x = Value(3.0)
    >>> y = (x ** 2).relu() / 2
    >>> y.backward(); x.grad
    3.0
    >>> bool(x < 4), bool(x >= 4)   # comparisons are Values of 1.0 or 0.0
    (True, False)
    """

    __slots__ = ("_rec", "_i", "_v", "_g", "_serial")

    # NumPy's ufuncs and functions on a Value record (numpy_protocol.Dispatching);
    # ndarray + Value gives a Tensor.
    def __array__(self, dtype=None, copy=None):
        raise TypeError("a Value does not turn into a NumPy array by itself (its gradient "
                        "would be lost): use tapegrad.stack([...]) to make a Tensor of "
                        "Values, or v.data for the number")

    def __init__(self, data):
        value = as_number(data)
        if value is None:
            raise TypeError(f"Value() takes a real number, not {type(data).__name__}")
        self._rec = None  # leaves belong to no recording...
        self._serial = 0  # ...but remember where they were last registered
        self._i = -1
        self._v = value
        self._g = 0.0

    def __reduce__(self):
        """A leaf pickles as its number and ``.grad`` (a new leaf where it is
        unpickled, on no tape); a Value computed on a tape refuses: its tape
        does not travel (a recording does)."""
        if self._rec is not None:
            raise TypeError(PICKLE_COMPUTED.format(kind="Value", data="v.value"))
        return _leaf_value, (self._v, self._g)

    # --- data and gradient ------------------------------------------------

    @property
    def data(self):
        """The value (``.value`` is the same).  Settable on leaves only.

        Inside :func:`tapegrad.record`, the number read here is a constant
        to every replay (it warns once per recording)."""
        frozen_read(self)
        return self._v

    @data.setter
    def data(self, value):
        number = as_number(value)
        if number is None:
            raise _type_error("Value.data", value)
        if self._rec is not None:
            raise TapeError("only leaves can be assigned; this value was computed by an op")
        self._v = number
        self._serial = 0  # the next use records the new value as a new input

    value = data

    @property
    def grad(self):
        """d(out)/d(self).  For a leaf, summed over every ``out.backward()``
        since ``.grad`` was last set; for a computed value, from the latest
        ``backward()`` on its tape."""
        if self._rec is None:
            return self._g
        return self._rec.adjoint(self._i)

    @grad.setter
    def grad(self, value):
        number = as_number(value)
        if number is None:
            raise _type_error("Value.grad", value)
        if self._rec is not None:
            raise TapeError("only leaves hold gradients that can be set")
        self._g = number

    @property
    def is_leaf(self):
        """True for a Value you made, False for one an op computed."""
        return self._rec is None

    def backward(self, grad=1.0):
        """Add ``grad * d(self)/d(leaf)`` to ``.grad`` of every leaf ``self``
        depends on.  No recursion: one compiled sweep over the tape."""
        seed = as_number(grad)
        if seed is None:
            raise _type_error("backward()", grad)
        if self._rec is None:
            self._g += seed
        else:
            self._rec.backward(self._i, seed)

    def __repr__(self):
        try:
            grad = self.grad
        except TapeError:
            return f"Value(data={self._v!r}, stale)"
        return f"Value(data={self._v!r}, grad={grad!r})"

    # No __float__: math.exp(v) must not silently return a float that has
    # left the tape.  Use v.data for the number, tapegrad.exp(v) for the op.

    # Arithmetic, comparisons and functions are installed from the op table
    # below the class (tapegrad.ops.methods).  Comparisons are data: a Value
    # of 1.0 or 0.0 on the tape, so that ``where(x > 0, a, b)`` replays anew.
    # Branching on one (``if x > 0:``) is what records a guard, in __bool__.

    def __pow__(self, other):
        """``self ** other``; ``** 2`` records a square, not a general pow."""
        if other.__class__ in _FLOATS and other == 2:
            return self.square()
        return self._pow(other)

    def __bool__(self):
        """``if v:`` records the outcome as a guard, so that a replay at
        another input that would take the other branch is detected."""
        rec = self._rec or current_recording()
        i = self._i if self._rec is rec else index_on(self, rec)
        outcome = 0.0 if self._v == 0.0 else 1.0
        j = rec.push(_BRANCH, i, -1, 0.0, outcome)
        if rec.sites is not None:
            frame = sys._getframe(1)
            rec.sites[j] = (frame.f_code.co_filename, frame.f_lineno)
        return outcome == 1.0

    def __pos__(self):
        return self

    __hash__ = object.__hash__  # identity, as micrograd's sets of nodes need


install(Value, unary=_unary, binary=_binary)


def _plain_value(v, reads):
    if reads:
        frozen_read(v)
    return v._v


numpy_protocol.PLAIN[Value] = _plain_value
