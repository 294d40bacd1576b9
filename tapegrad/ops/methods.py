"""How the op table's rows become methods and functions: the one place.

Every class with operators (``Value``, ``Dual``, ``Tensor``) and the module
functions (``tapegrad.exp``, ...) are derived from the table here, never
listed by hand.  A row gives:

* a unary op (not a guard): the method ``<name>`` (``v.exp()``), plus the
  operators it declares (``neg`` is ``__neg__``, ``abs`` is ``__abs__``);
* a binary op: the private method ``_<name>`` (``v._maximum(w)``, for
  functions that take either type), plus the operators it declares, the
  second one reflected (``add`` is ``__add__`` and ``__radd__``; ``lt`` is
  ``__lt__`` and, swapped, ``__gt__``);
* a binary op declared with ``function``: also the private reflected method
  ``_r<name>`` (``v._rarctan2(2.0)`` is ``arctan2(2.0, v)``, one record
  with a constant operand, as ``2 - v``);
* an op declared with ``function`` (the default for a unary op, not for a
  binary one): a module function, ``tapegrad.<name>``.

A class states how one op becomes one method (``unary(op, spelling)``,
``binary(op, spelling)``) and calls :func:`install`; a method its own body
already defines is kept (``Value.__pow__`` turns ``** 2`` into ``square``,
then calls the installed ``_pow``).

>>> from tapegrad.ops import OPS
>>> [(s.name, s.symbol, s.reflected) for s in spellings(OPS["sub"])]
[('_sub', 'sub', False), ('__sub__', '-', False), ('__rsub__', '-', True)]
>>> [s.name for s in spellings(OPS["lt"])]
['_lt', '__lt__', '__gt__']
>>> [s.name for s in spellings(OPS["arctan2"])]
['_arctan2', '_rarctan2']
>>> [op.name for op in functions()][:3]
['exp', 'log', 'tanh']
"""

from typing import NamedTuple

from tapegrad.ops.table import OPS, Op

#: Python's operator symbols, for error messages and docstrings.
SYMBOLS = {
    "add": "+", "sub": "-", "mul": "*", "truediv": "/", "pow": "**", "mod": "%", "neg": "-",
    "abs": "abs",
    "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!=",
}
COMPARISONS = frozenset({"__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"})


class Spelling(NamedTuple):
    """One way Python spells an op: a method ``name`` of the class, the
    ``symbol`` for messages, and whether the operands are swapped
    (``other op self``)."""

    name: str
    symbol: str
    reflected: bool

    @property
    def comparison(self):
        """True for ``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``: these
        return NotImplemented for an operand of another type, as Python's own."""
        return self.name in COMPARISONS


def spellings(op: Op):
    """The methods ``op`` becomes, in order (see the module docstring)."""
    if op.guard or op.arity == 0:
        return []
    first = Spelling(op.name if op.arity == 1 else "_" + op.name, op.name, False)
    operators = [
        Spelling(name, SYMBOLS[name.strip("_").removeprefix("r") if k else name.strip("_")], k == 1)
        for k, name in enumerate(op.methods)
    ]
    if op.arity == 2 and op.function:  # the module function's number-first case
        operators.append(Spelling("_r" + op.name, op.name, True))
    return [first, *operators]


def install(cls, unary, binary):
    """Give ``cls`` every method of the table: ``unary(op, spelling)`` and
    ``binary(op, spelling)`` make one.  A name ``cls`` defines itself is kept."""
    for op in OPS.values():
        make = unary if op.arity == 1 else binary
        for spelling in spellings(op):
            if spelling.name not in vars(cls):
                method = make(op, spelling)
                method.__name__ = method.__qualname__ = spelling.name
                setattr(cls, spelling.name, method)


def functions():
    """The ops that are also module functions (``tapegrad.exp``), in code order."""
    return [op for op in OPS.values() if op.function]
