"""How NumPy's own functions reach tapegrad: the registry behind NEP 13
(``__array_ufunc__``) and NEP 18 (``__array_function__``).

``Value`` and ``Tensor`` hand every NumPy ufunc and function called on them
to :func:`array_ufunc` and :func:`array_function` here.  What each one does
is registered from above (:mod:`tapegrad.numpy`), so this floor imports no
class: a NumPy callable maps to the tapegrad function that records it
(:func:`implements`), or runs on the plain values because it only reads
metadata or returns plain data (:func:`passthrough`).  Anything else raises
``TypeError`` naming the function and how to declare it; NumPy never gets to
turn a Tensor into an object array of scalar records.

``TABLE`` keeps one row per registered NumPy name, in registration order,
for the README's table of supported functions.

>>> import numpy as np
>>> try:
...     array_function(np.fft.fft, (), (1.0,), {})
... except TypeError as e:
...     print(str(e)[:46])
numpy.fft.fft has no tapegrad rule: declare it
"""

from typing import NamedTuple

import numpy as np

#: NumPy function -> the tapegrad function that records it.
FUNCTIONS = {}
#: ufunc -> the tapegrad function of its ``__call__``.
UFUNCS = {}
#: (ufunc, method) -> the tapegrad function of ``np.add.reduce`` and the like.
UFUNC_METHODS = {}
#: NumPy functions run on the values -> whether they read the elements
#: (plain data with no gradient) or only metadata (shape, dtype).
PASSTHROUGH = {}

#: class -> ``unwrap(x, reads)``, a traced object's plain value (filled by the
#: classes' layers; ``reads``: the elements are read, not only metadata).
PLAIN = {}


class Row(NamedTuple):
    """One line of the README's table: a NumPy name, its family, and a note."""

    name: str
    family: str
    note: str


TABLE = []


def numpy_name(func):
    """``numpy.linalg.solve`` for ``np.linalg.solve``."""
    module = getattr(func, "__module__", None) or "numpy"
    module = "numpy" if module in ("numpy.core.numeric", "numpy._core.numeric") else module
    for prefix in ("numpy.core.", "numpy._core.", "numpy.lib."):
        if module.startswith(prefix):
            module = "numpy"
    if module == "numpy.linalg.linalg" or module == "numpy.linalg._linalg":
        module = "numpy.linalg"
    return f"{module}.{getattr(func, '__name__', repr(func))}"


def implements(*numpy_functions, family, note=""):
    """Register the decorated function as what each of ``numpy_functions``
    (NumPy callables or ufuncs) does on Values and Tensors; ``family`` and
    ``note`` are its row in :data:`TABLE`."""

    def register(implementation):
        for func in numpy_functions:
            (UFUNCS if isinstance(func, np.ufunc) else FUNCTIONS)[func] = implementation
            TABLE.append(Row(numpy_name(func), family, note))
        return implementation

    return register


def implements_method(ufunc, method, family, note=""):
    """Register the decorated function as ``ufunc.<method>`` (``np.add.reduce``)."""

    def register(implementation):
        UFUNC_METHODS[ufunc, method] = implementation
        TABLE.append(Row(f"{numpy_name(ufunc)}.{method}", family, note))
        return implementation

    return register


def passthrough(*numpy_functions, family, reads, note=""):
    """``numpy_functions`` run on the plain values (Values and Tensors
    replaced by their values): they read metadata only, or (``reads``) give
    data with no gradient, which a replay does not recompute (reading a
    traced value's elements warns, as ``.value`` does)."""
    for func in numpy_functions:
        PASSTHROUGH[func] = reads
        TABLE.append(Row(numpy_name(func), family, note))


def plain(x, reads=True):
    """``x`` with every traced object (and those inside lists and tuples)
    replaced by its value."""
    unwrap = PLAIN.get(x.__class__)
    if unwrap is not None:
        return unwrap(x, reads)
    if isinstance(x, (list, tuple)):
        return type(x)(plain(item, reads) for item in x)
    return x


def _undeclared(name):
    return TypeError(
        f"{name} has no tapegrad rule: declare it with @tapegrad.primitive (its value and "
        f"VJP; README, 'Differentiating NumPy code'), or call it on the plain data "
        f"(t.value), which records nothing")


def array_function(func, types, args, kwargs):
    """NEP 18: ``func(*args, **kwargs)`` with a Value or Tensor among the arguments."""
    implementation = FUNCTIONS.get(func)
    if implementation is not None:
        return implementation(*args, **kwargs)
    reads = PASSTHROUGH.get(func)
    if reads is not None:
        func = getattr(func, "_implementation", func)  # no second dispatch
        return func(*plain(args, reads), **{k: plain(v, reads) for k, v in kwargs.items()})
    raise _undeclared(numpy_name(func))


def array_ufunc(ufunc, method, inputs, kwargs):
    """NEP 13: ``ufunc.<method>(*inputs, **kwargs)`` with a Value or Tensor
    among the inputs."""
    if kwargs:
        out = kwargs.pop("out", None)
        if out is not None:
            raise TypeError(f"numpy.{ufunc.__name__}(..., out=...) on a traced value: tapegrad "
                            "records a new array and never writes into one; drop out=")
        if kwargs.get("where", True) is not True:
            raise TypeError(f"numpy.{ufunc.__name__}(..., where=...) on a traced value: use "
                            "tapegrad.where (np.where) to select")
        kwargs.pop("where", None)
    if method == "__call__":
        implementation = UFUNCS.get(ufunc)
        if implementation is not None:
            if kwargs:  # dtype=, casting=, order=, ...
                named = ", ".join(f"{key}=" for key in kwargs)
                raise TypeError(f"numpy.{ufunc.__name__}(..., {named}) on a traced value: "
                                "tapegrad's ufuncs take no options (cast with .astype first)")
            return implementation(*inputs)
        if ufunc in PASSTHROUGH:
            return ufunc(*plain(inputs), **kwargs)  # on plain data: no second dispatch
        raise _undeclared(f"numpy.{ufunc.__name__}")
    implementation = UFUNC_METHODS.get((ufunc, method))
    if implementation is not None:
        return implementation(*inputs, **kwargs)
    raise _undeclared(f"numpy.{ufunc.__name__}.{method}")


class Dispatching:
    """What makes a class's instances NumPy-aware: its ufuncs and functions
    come to :func:`array_ufunc` and :func:`array_function` (``Value`` and
    ``Tensor`` derive from it).  The common calls, a ufunc's ``__call__``
    without keywords and a registered function, skip the second call."""

    __slots__ = ()

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and not kwargs:
            implementation = UFUNCS.get(ufunc)
            if implementation is not None:
                return implementation(*inputs)
        return array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        implementation = FUNCTIONS.get(func)
        if implementation is not None:
            return implementation(*args, **kwargs)
        return array_function(func, types, args, kwargs)
