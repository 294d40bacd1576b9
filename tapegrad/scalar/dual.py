"""``Dual``: eager forward mode with dual numbers, no tape.

A dual number is ``value + tangent * eps`` with ``eps ** 2 == 0``, so that
``f(x + t * eps) == f(x) + f'(x) * t * eps``: carrying the tangent through
each op computes a directional derivative alongside the value.  Seed a
variable's tangent with 1 (or a direction) and read the result's tangent:

>>> import tapegrad as tg
>>> from tapegrad import Dual
>>> x = Dual(3.0, 1.0)
>>> y = x * x + tg.sin(x)
>>> y.value == 9.0 + tg.sin(3.0), y.tangent == 6.0 + tg.cos(3.0)
(True, True)

A NumPy vector tangent carries several directions in one pass (here d/da
and d/db together):

>>> import numpy as np
>>> a, b = Dual(2.0, np.array([1.0, 0.0])), Dual(5.0, np.array([0.0, 1.0]))
>>> (a * b + 1).tangent.tolist()
[5.0, 2.0]

Every rule comes from the op table (:mod:`tapegrad.ops`): an op's output is
``op.value(x, y)`` and its tangent ``d_x(x, y, out) * tan_x + d_y(x, y, out)
* tan_y``.  A term whose tangent is exactly zero is skipped, not multiplied,
so the infinite slope of ``sqrt`` at 0 plants no ``0 * inf = nan`` where it
does not matter (the reverse sweep skips zero adjoints for the same reason).
"""

import math

import numpy as np

from tapegrad.ops import OPS
from tapegrad.ops.methods import install
from tapegrad.scalar.value import as_number

__all__ = ["Dual", "apply"]

_new = object.__new__


def _make(value, tan):
    out = _new(Dual)
    out._v = value
    out._t = tan
    return out


def _as_tangent(tan):
    """A tangent as a float, or as a float64 NumPy array (a copy)."""
    number = as_number(tan)
    if number is not None:
        return number
    if isinstance(tan, (np.ndarray, list, tuple)):
        array = np.asarray(tan)
        if array.dtype.kind in "biuf":
            array = array.astype(np.float64)
            return float(array) if array.ndim == 0 else array
    kind = f" of dtype {tan.dtype}" if isinstance(tan, np.ndarray) else ""
    raise TypeError(f"Dual() takes a real number or an array of them as tangent, "
                    f"not {type(tan).__name__}{kind}")


def _operand(other, what):
    """``other`` (not a Dual) as a float, else a TypeError naming its type."""
    number = as_number(other)
    if number is None:
        raise TypeError(f"{what} takes real numbers or Duals, not {type(other).__name__}")
    return number


def _term(p, tan):
    """``p * tan`` for a vector ``tan``, with an exact 0 wherever ``tan`` is 0
    (an infinite or nan partial must not leak into directions it is not on)."""
    if p == 0.0:  # nothing, not 0 * nan: the branch where() did not take stays out
        return np.zeros(np.shape(tan))
    if math.isfinite(p):
        return p * tan
    with np.errstate(invalid="ignore"):
        return np.where(tan == 0.0, 0.0, p * tan)


def _shape(tx, ty):
    if tx.__class__ is float:
        return ty.shape
    if ty.__class__ is not float and tx.shape != ty.shape:
        raise ValueError(f"Dual tangents of shapes {tx.shape} and {ty.shape} cannot be combined")
    return tx.shape


def _unary_rule(op):
    """``(x, tan_x) -> Dual`` for a unary op, from its row of the table."""
    rule = op.value
    d_x = op.partials[0] if op.partials else None

    def apply1(x, tx):
        out = rule(x)
        if tx.__class__ is float:
            if d_x is None or tx == 0.0:
                return _make(out, 0.0)
            p = d_x(x, out)
            return _make(out, p * tx if p != 0.0 else 0.0)
        if d_x is None:
            return _make(out, np.zeros(tx.shape))
        return _make(out, _term(d_x(x, out), tx))

    return apply1


def _binary_rule(op):
    """``(x, tan_x, y, tan_y) -> Dual`` for a binary op, from its row of the table."""
    rule = op.value
    d_x, d_y = op.partials if op.partials else (None, None)

    def apply2(x, tx, y, ty):
        out = rule(x, y)
        if tx.__class__ is float and ty.__class__ is float:
            tan = 0.0
            if d_x is not None:
                if tx != 0.0:
                    p = d_x(x, y, out)
                    tan = p * tx if p != 0.0 else 0.0
                if ty != 0.0:
                    p = d_y(x, y, out)
                    tan += p * ty if p != 0.0 else 0.0
            return _make(out, tan)
        shape = _shape(tx, ty)
        if d_x is None:
            return _make(out, np.zeros(shape))
        tan = 0.0
        if tx.__class__ is not float or tx != 0.0:
            tan = _term(d_x(x, y, out), tx)
        if ty.__class__ is not float or ty != 0.0:
            tan = tan + _term(d_y(x, y, out), ty)
        return _make(out, tan)

    return apply2


_UNARY = {op.name: _unary_rule(op) for op in OPS.values() if op.arity == 1}
_BINARY = {op.name: _binary_rule(op) for op in OPS.values() if op.arity == 2}


def apply(op, *args):
    """Apply an op (an :class:`~tapegrad.ops.Op`, or the name of one in the
    table) to Duals or numbers; a number is a constant (a zero tangent).

    >>> apply("mul", Dual(3.0, 1.0), 2.0)
    Dual(value=6.0, tangent=2.0)
    >>> apply("lt", Dual(1.0, 1.0), 2.0)     # no derivative: a zero tangent
    Dual(value=1.0, tangent=0.0)
    """
    if isinstance(op, str):
        if op not in OPS:
            raise ValueError(f"the op table has no op named {op!r}")
        op = OPS[op]
    if len(args) != op.arity:
        raise TypeError(f"op {op.name!r} takes {op.arity} arguments, not {len(args)}")
    rules = _UNARY if op.arity == 1 else _BINARY
    if OPS.get(op.name) is op:
        rule = rules[op.name]
    else:  # an op outside the table (a test's deliberately wrong one, say)
        rule = (_unary_rule if op.arity == 1 else _binary_rule)(op)
    pairs = []
    for arg in args:
        if arg.__class__ is Dual:
            pairs += [arg._v, arg._t]
        else:
            pairs += [_operand(arg, f"apply({op.name!r})"), 0.0]
    return rule(*pairs)


def _binary(op, spelling):
    """The method of binary ``op`` as ``spelling`` (see
    :mod:`tapegrad.ops.methods`): ``self op other`` (``other op self`` when
    reflected); a comparison gives a plain bool, by the op's value rule."""
    if spelling.comparison:
        return _comparison(op, spelling)
    apply2 = _BINARY[op.name]
    what = f"Dual {spelling.symbol}"
    reflected = spelling.reflected

    def method(self, other):
        if other.__class__ is Dual:
            y, ty = other._v, other._t
        elif other.__class__ is float:
            y, ty = other, 0.0
        else:
            y, ty = _operand(other, what), 0.0
        if reflected:
            return apply2(y, ty, self._v, self._t)
        return apply2(self._v, self._t, y, ty)

    method.__doc__ = f"{op.doc}, with its tangent."
    return method


def _comparison(op, spelling):
    """``self <symbol> other`` as a plain bool, by the op's value rule."""
    rule, reflected = op.value, spelling.reflected

    def compare(self, other):
        if other.__class__ is Dual:
            y = other._v
        else:
            y = as_number(other)
            if y is None:
                return NotImplemented  # d == "text" is False, d < "text" a TypeError
        return (rule(y, self._v) if reflected else rule(self._v, y)) == 1.0

    compare.__doc__ = f"{spelling.symbol} on the values: a bool (eager, so nothing is recorded)."
    return compare


def _unary(op, spelling):
    apply1 = _UNARY[op.name]

    def method(self):
        return apply1(self._v, self._t)

    method.__doc__ = f"{op.doc}, with its tangent."
    return method


_BRANCH = OPS["branch"].value  # the truth of a value, as ``if v:`` records it


class Dual:
    """A dual number ``value + tangent * eps`` (``eps ** 2 == 0``): eager
    forward mode with the same operators, methods and ``tapegrad``
    functions as :class:`~tapegrad.Value`, and no tape.

    ``tangent`` is a real number (default 0: a constant) or a NumPy array,
    one entry per direction; a number tangent is the same in every
    direction.  ``.value`` (also ``.data``) and ``.tangent`` are read-only.
    Comparisons compare values and return bools; ``if d:`` tests the value.

    >>> import tapegrad as tg
    >>> x = Dual(2.0, 1.0)
    >>> y = (x ** 2).relu() / 4 + tg.exp(0 * x)
    >>> y
    Dual(value=2.0, tangent=1.0)
    >>> 1 - x, x > 1.5, x == 2
    (Dual(value=-1.0, tangent=-1.0), True, True)
    """

    __slots__ = ("_v", "_t")

    def __init__(self, value, tangent=0.0):
        number = as_number(value)
        if number is None:
            raise TypeError(f"Dual() takes a real number value, not {type(value).__name__}")
        self._v = number
        self._t = _as_tangent(tangent)

    @property
    def value(self):
        """The value (``.data`` is the same)."""
        return self._v

    data = value

    @property
    def tangent(self):
        """The derivative along the seeded direction(s): a float or an array."""
        return self._t

    def __repr__(self):
        return f"Dual(value={self._v!r}, tangent={self._t!r})"

    def __hash__(self):
        return hash(self._v)  # equal values compare equal, as with floats

    def __bool__(self):
        return _BRANCH(self._v) == 1.0  # nan is true, as bool(nan) is

    # No __float__, as for Value: math.exp(d) would silently drop the tangent.

    def __pow__(self, other):
        """``self ** other``; ``** 2`` is the ``square`` op, as for Value."""
        if other.__class__ in (float, int) and other == 2:
            return self.square()
        return self._pow(other)

    def __pos__(self):
        return self


# Operators, comparisons (``a > b`` is ``b < a``, as on the tape), the
# private ``_<name>`` of every binary op (``d._maximum(2.0)``, as on Value)
# and every unary op as a method: from the table.
install(Dual, unary=_unary, binary=_binary)
