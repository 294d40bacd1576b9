"""User-declared primitives: ``@tapegrad.primitive``.

What no table covers (a SciPy special function, a solver, a kernel of your
own), declare in one block, as an op of the table is declared: ``value``
(plain NumPy or SciPy code on arrays or floats), ``vjp`` (one gradient per
argument) and, for forward mode, ``jvp`` or ``linear = True``.  The
primitive then records on Tensors and Values; on arrays and numbers it is
plain code, with no tape.

>>> import numpy as np, tapegrad as tg
>>> @tg.primitive
... class logistic:
...     '''1 / (1 + exp(-x)), elementwise'''
...     def value(x):
...         return 1.0 / (1.0 + np.exp(-x))
...     def vjp(g, out, x):
...         return g * out * (1.0 - out)
...     def jvp(out, x, tx):
...         return out * (1.0 - out) * tx
>>> x = tg.tensor([0.0, 2.0], requires_grad=True)
>>> logistic(x).sum().backward(); x.grad.round(4)
array([0.25 , 0.105])
>>> logistic(np.array([0.0, 1.0])).round(4)        # plain in, plain out: no tape
array([0.5   , 0.7311])
>>> bool(tg.check_grad(lambda t: logistic(t).sum(), tg.tensor([0.5, -1.0])))
True

Every user primitive is recorded by one declared array op
(:mod:`tapegrad.array.ops.primitive`; ``primitive_scalar`` for Values),
which carries the rule object in its parameters: a replay
(:func:`tapegrad.record`) calls the user's ``value`` and ``vjp`` again.
Primitives of Values give Values, recorded as scalar-output array records:
a recording that holds them replays op by op (an array program), not in one
compiled scalar sweep (out of scope for user code).  The user's ``vjp`` is
checked at each call (one gradient per operand, of its shape), a wrong one
being otherwise silently wrong; :func:`tapegrad.check_grad` checks its
values against ``jvp`` and central differences.
"""

import inspect
import math
import numbers

import numpy as np

from tapegrad.core import numpy_protocol
from tapegrad.core.tape import Tape
from tapegrad.scalar import Dual, Value
from tapegrad.array import Tensor, tensor
from tapegrad.array.ops import ARRAY_OPS
from tapegrad.array.ops.table import wanted
from tapegrad.array.tensor import check_real, record_array_op

__all__ = ["primitive", "Primitive"]

_ARRAY = ARRAY_OPS["primitive"].code
_SCALAR = ARRAY_OPS["primitive_scalar"].code
_RULES = ("value", "vjp", "jvp", "linear")


def primitive(block=None, *, numpy_function=None):
    """Declare a primitive from the class ``block`` (a decorator).

    The block holds plain functions (no ``self``):

    * ``value(x, ...)``: the result, from the operands' values (arrays or
      floats); a tuple for several outputs (they share one dtype);
    * ``vjp(g, out, x, ...)``: the gradient of each operand (a tuple, one
      per operand, each of its operand's shape; None for a zero gradient; a
      lone operand's may come bare), given ``g``, the gradient of the
      output, and ``out``, its value (tuples for several outputs);
    * ``jvp(out, x, ..., tx, ...)`` (optional): the output's tangent, given
      the operands and then their tangents;
    * ``linear = True`` instead of ``jvp`` when ``value`` is linear in all
      its operands together: the tangent is then ``value`` of the tangents.

    With neither, forward mode transposes ``vjp`` (runs it on Tensors and
    sweeps it back), which works when ``vjp`` is written with NumPy
    functions tapegrad records; otherwise it raises NotImplementedError
    naming what to add.  Hessian-vector products (forward over reverse)
    differentiate ``vjp``: a linear primitive's is recorded as the linear
    map it is (its transpose is ``value``), whatever code it runs; any
    other ``vjp`` runs on Tensors, so one calling SciPy needs what it calls
    declared as a primitive too.

    Positional arguments of a call are the operands (Tensors, Values,
    arrays, numbers: all differentiable); keyword arguments are static
    parameters, passed to ``value``, ``vjp`` and ``jvp`` alike and frozen
    into a recording.  ``numpy_function`` (a NumPy or SciPy function or
    ufunc, or a tuple of them) makes that function record the primitive
    when a Tensor or Value is among its arguments.

    >>> import numpy as np, tapegrad as tg
    >>> @tg.primitive
    ... class scaled_cumsum:
    ...     '''scale * cumsum(x), linear in x'''
    ...     linear = True
    ...     def value(x, *, scale=1.0):
    ...         return scale * np.cumsum(x)
    ...     def vjp(g, out, x, *, scale=1.0):
    ...         return scale * np.cumsum(g[::-1])[::-1]
    >>> tg.jvp(lambda t: scaled_cumsum(t, scale=2.0).sum(), (tg.tensor([1.0, 1.0]),),
    ...        (np.array([1.0, 0.0]),))
    (6.0, 4.0)
    """
    if block is None:
        return lambda block: primitive(block, numpy_function=numpy_function)
    if not isinstance(block, type):
        raise TypeError(f"@tapegrad.primitive decorates a class block (value, vjp, jvp), "
                        f"not a {type(block).__name__}")
    made = Primitive(block)
    functions = numpy_function if isinstance(numpy_function, (tuple, list)) else (
        () if numpy_function is None else (numpy_function,))
    for func in functions:
        _register(func, made)
    return made


def _register(func, made):
    """``func`` (NumPy's, SciPy's) records ``made`` on Values and Tensors."""
    if not callable(func):
        raise TypeError(f"primitive {made.__name__}: numpy_function must be a function, "
                        f"not {type(func).__name__}")
    table = numpy_protocol.UFUNCS if isinstance(func, np.ufunc) else numpy_protocol.FUNCTIONS
    held = table.get(func)
    if held is None and func not in numpy_protocol.PASSTHROUGH:
        numpy_protocol.implements(func, family="primitives",
                                  note=f"@tapegrad.primitive `{made.__name__}`")(made)
    elif isinstance(held, Primitive):  # declared again (a reloaded module, a notebook)
        table[func] = made
    else:
        raise ValueError(f"primitive {made.__name__}: {numpy_protocol.numpy_name(func)} "
                         f"already has a tapegrad rule, which a primitive may not replace")


def _signature(func):
    """``(fewest, most, static, named)`` of ``func``: how many positional
    arguments it takes (``most`` None: any), the names of its parameters
    with defaults or keyword-only (the static ones), and every name it
    takes by keyword (None for ``**kwargs``)."""
    positional, fewest, most, static, named = 0, 0, 0, set(), set()
    if not inspect.isfunction(func):  # a ufunc, a builtin: anything goes
        return 0, None, set(), None
    for p in inspect.signature(func).parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            most = None
        elif p.kind is p.VAR_KEYWORD:
            named = None
        else:
            if p.kind is not p.KEYWORD_ONLY:
                positional += 1
                if p.default is p.empty:
                    fewest = positional
            if p.kind is p.KEYWORD_ONLY or p.default is not p.empty:
                static.add(p.name)
            if named is not None and p.kind is not p.POSITIONAL_ONLY:
                named.add(p.name)
    return fewest, (positional if most is not None else None), static, named


class Primitive:
    """A primitive made by :func:`primitive`: call it on Tensors, Values,
    Duals, arrays or numbers.  Also the rule object its records carry
    (``value``, ``vjp`` and ``jvp`` take the table's ``(args, params)``)."""

    def __init__(self, block):
        body = vars(block)
        self.__name__ = self.__qualname__ = block.__name__
        self.__doc__ = block.__doc__
        self.__module__ = block.__module__
        unknown = sorted(k for k in body if not k.startswith("_") and k not in _RULES)
        if unknown:
            raise TypeError(f"primitive {self.__name__}: unknown entries {unknown} in its "
                            f"block (it may hold {', '.join(_RULES)})")
        for name in ("value", "vjp"):
            if not callable(body.get(name)):
                raise TypeError(f"primitive {self.__name__}: its block needs a function "
                                f"`{name}`")
        self._value, self._vjp = block.value, block.vjp  # plain functions, as declared
        self._jvp = block.jvp if "jvp" in body else None
        self.linear = bool(body.get("linear", False))
        if self.linear and self._jvp is not None:
            raise TypeError(f"primitive {self.__name__}: declare `jvp` or `linear = True`, "
                            "not both")
        self._fewest, self._most, static, self._keywords = _signature(self._value)
        for name, rule in (("vjp", self._vjp), ("jvp", self._jvp)):
            taken = None if rule is None else _signature(rule)[3]
            if taken is not None and not static <= taken:
                raise TypeError(
                    f"primitive {self.__name__}: value takes the keyword parameters "
                    f"{sorted(static - taken)} but {name} does not; keyword "
                    "parameters go to value, vjp and jvp alike")

    def __repr__(self):
        return f"<tapegrad.primitive {self.__name__}>"

    # --- calls ------------------------------------------------------------------

    def __call__(self, *args, **kwargs):
        n = len(args)
        if n < max(self._fewest, 1) or (self._most is not None and n > self._most):
            fewest, most = max(self._fewest, 1), self._most
            counted = (f"{fewest}" if most == fewest else f"{fewest} or more" if most is None
                       else f"{fewest} to {most}")
            raise TypeError(f"{self.__name__}() takes {counted} operands (positional "
                            f"arguments), got {n}")
        if kwargs and self._keywords is not None and not self._keywords.issuperset(kwargs):
            bad = sorted(set(kwargs) - self._keywords)
            raise TypeError(f"{self.__name__}() got unexpected keyword arguments {bad} "
                            f"(its value takes {sorted(self._keywords) or 'none'})")
        kinds = {x.__class__ for x in args}
        if Value in kinds or any(isinstance(x, Tensor) for x in args):
            return self._record(list(args), kwargs)
        if Dual in kinds:
            return self._dual(args, kwargs)
        return self._value(*[self._plain(x, k) for k, x in enumerate(args)], **kwargs)

    def _plain(self, x, k):
        """Operand ``k`` as a float or a real array, or a TypeError naming it."""
        if isinstance(x, numbers.Real) and not isinstance(x, np.ndarray):
            return x
        if isinstance(x, (Value, Dual, Tensor)):
            raise TypeError(f"{self.__name__}(): argument {k} is a {type(x).__name__}; "
                            "Duals do not mix with Values or Tensors")
        array = np.asarray(x)
        if array.dtype == object and any(isinstance(v, (Value, Dual)) for v in array.flat):
            raise TypeError(f"{self.__name__}(): argument {k} is an array of "
                            f"{type(next(iter(array.flat))).__name__}s; a primitive takes "
                            "a Tensor (tapegrad.tensor) instead")
        check_real(array, f"{self.__name__}() argument {k}")
        return array

    def _record(self, args, kwargs):
        scalar = True  # Values and numbers only: the result is a Value
        values = []
        for k, x in enumerate(args):
            if x.__class__ is Value or isinstance(x, Tensor):
                scalar = scalar and x.__class__ is Value
                values.append(x._v)
            else:
                args[k] = v = self._plain(x, k)
                scalar = scalar and not isinstance(v, np.ndarray)
                values.append(v)
        params = {"rule": self, "kwargs": kwargs}
        outs, shapes = self._outputs(self._value(*values, **kwargs))
        if shapes is None:
            scalar = scalar and np.ndim(outs) == 0
            out = float(outs) if scalar else outs

            def compute(values, params):
                return out

            return record_array_op(_SCALAR if scalar else _ARRAY, args, params, compute)
        flat = _flatten(outs)

        def compute(values, params):
            params["shapes"] = shapes
            return flat

        joined = record_array_op(_ARRAY, args, params, compute)
        scalar = scalar and all(s == () for s in shapes)
        return tuple(joined[a] if scalar else joined[a:b].reshape(shape)
                     for a, b, shape in _spans(shapes))

    def _dual(self, args, kwargs):
        """Forward mode on Duals: the value, and its tangent by ``jvp`` (one
        call per direction of a vector tangent)."""
        values, tangents = [], []
        for k, x in enumerate(args):
            if x.__class__ is Dual:
                values.append(x.value)
                tangents.append(x.tangent)
            else:
                values.append(self._plain(x, k))
                tangents.append(None)
        outs, shapes = self._outputs(self._value(*values, **kwargs))
        if any(np.ndim(o) != 0 for o in (outs if shapes else [outs])):
            raise TypeError(f"{self.__name__}() of Duals must give numbers (a Dual is one "
                            "number); for arrays use tapegrad.jvp on Tensors")
        out = outs if shapes is None else _flatten(outs)
        params = {"kwargs": kwargs, "shapes": shapes,
                  "constants": [v if t is None else None for v, t in zip(values, tangents)]}
        sizes = {np.size(t) for t in tangents if isinstance(t, np.ndarray)}
        if len(sizes) > 1:
            raise ValueError(f"{self.__name__}(): Duals with tangents of sizes {sorted(sizes)}")

        def direction(d):
            moving = [np.zeros_like(v, dtype=float) if t is None
                      else (t if d is None else t[d]) for v, t in zip(values, tangents)]
            return self.jvp(moving, out, values, params)

        if sizes:
            tangent = np.array([direction(d) for d in range(sizes.pop())], dtype=float)
            tangent = tangent.T if shapes else tangent
        else:
            tangent = np.asarray(direction(None), dtype=float)
        if shapes is None:
            return Dual(float(out), tangent)
        return tuple(Dual(float(o), t) for o, t in zip(out, tangent))

    # --- the rule object's protocol (tapegrad.array.ops.primitive) -----------------

    def _outputs(self, out):
        """``(out, None)`` for one output, ``(outs, shapes)`` for a tuple of
        them; each a float array (or a float), else a TypeError."""
        if isinstance(out, tuple):
            outs = tuple(self._output(o, k) for k, o in enumerate(out))
            return outs, tuple(np.shape(o) for o in outs)
        return self._output(out, None), None

    def _output(self, out, k):
        if out.__class__ is float:
            return out
        array = np.asarray(out)
        if array.dtype.kind != "f":
            which = "its value" if k is None else f"output {k} of its value"
            raise TypeError(f"primitive {self.__name__}: {which} has dtype {array.dtype}; "
                            "a primitive gives floating-point numbers")
        return array

    def value(self, args, params):
        """The output at the operands ``args`` (one array; several outputs
        raveled and joined, their shapes as recorded)."""
        outs, shapes = self._outputs(self._value(*args, **params["kwargs"]))
        if shapes is None:
            return outs
        if shapes != params["shapes"]:
            raise ValueError(f"primitive {self.__name__}: its outputs have shapes {shapes} "
                             f"now, {params['shapes']} when recorded; record again")
        return _flatten(outs)

    def vjp(self, g, out, args, params):
        """Each operand's gradient from the user's ``vjp``, checked: one per
        operand, each of its operand's shape."""
        if out is None:  # a scalar record's: the reverse sweep reads arrays only
            out = float(self.value(args, params))
        on_tensors = isinstance(g, Tensor) or any(isinstance(a, Tensor) for a in args)
        if on_tensors and self.linear:  # forward over reverse: the vjp is linear too
            grads = _transposed(self)(g, context=(
                _data(out), [_data(a) for a in args], params))
        else:
            shapes = params.get("shapes")
            if shapes is not None:
                g, out = _split(g, shapes), _split(out, shapes)
            try:
                grads = self._vjp(g, out, *args, **params["kwargs"])
            except TypeError as error:
                if not on_tensors:
                    raise
                raise TypeError(f"primitive {self.__name__}: its vjp ran on Tensors (forward "
                                f"over reverse, for a Hessian-vector product) and failed: "
                                f"{error}. Write it with NumPy functions tapegrad records, "
                                "or declare what it calls as a @tapegrad.primitive") from error
        grads = self._counted(grads, len(args))
        checked = []
        for k, (grad, arg) in enumerate(zip(grads, args)):
            if grad is None or not wanted(params, k):
                checked.append(None)
                continue
            if isinstance(grad, (list, tuple)):
                grad = np.asarray(grad)
            shape, got = _shape(arg), _shape(grad)
            if got != shape:
                raise ValueError(f"primitive {self.__name__}: vjp gave a gradient of shape "
                                 f"{got} for argument {k}, of shape {shape} (sum it over the "
                                 "axes the argument was broadcast along)")
            if isinstance(grad, np.ndarray) and grad.dtype != getattr(arg, "dtype", grad.dtype):
                check_real(grad, f"primitive {self.__name__}: vjp's gradient {k}")
                if arg.dtype.kind == "f":
                    grad = grad.astype(arg.dtype)
            checked.append(grad)
        return tuple(checked)

    def _counted(self, grads, n):
        if not isinstance(grads, (tuple, list)):
            if n == 1:
                return (grads,)
            raise TypeError(f"primitive {self.__name__}: vjp must give a tuple of {n} "
                            f"gradients (one per operand, None for zero), not a "
                            f"{type(grads).__name__}")
        if len(grads) != n:
            raise ValueError(f"primitive {self.__name__}: vjp gave {len(grads)} gradients "
                             f"for {n} operands (one per operand, None for zero)")
        return grads

    def jvp(self, tangents, out, args, params):
        """The output's tangent: ``jvp``, ``value`` of the tangents when
        ``linear``, else the transposed ``vjp``."""
        shapes = params.get("shapes")
        kwargs = params["kwargs"]
        if self.linear:
            tangent = self._value(*tangents, **kwargs)
        elif self._jvp is not None:
            outs = out if shapes is None else _split(out, shapes)
            tangent = self._jvp(outs, *args, *tangents, **kwargs)
        else:
            return self._transposed_vjp(tangents, out, args, params)
        if shapes is None:
            if _shape(tangent) != _shape(out):
                raise ValueError(f"primitive {self.__name__}: jvp gave a tangent of shape "
                                 f"{_shape(tangent)} for an output of shape {_shape(out)}")
            return tangent
        if not isinstance(tangent, tuple) or len(tangent) != len(shapes):
            raise ValueError(f"primitive {self.__name__}: jvp must give a tuple of "
                             f"{len(shapes)} tangents, one per output")
        return _flatten(tangent)

    def _transposed_vjp(self, tangents, out, args, params):
        """``J t`` as the gradient of ``sum_k <vjp(g)_k, t_k>`` with respect
        to ``g``: the vjp, linear in ``g``, recorded on a Tensor ``g``."""
        shapes = params.get("shapes")
        dtype = np.result_type(out)
        seed = tensor(np.ones(np.shape(out), dtype), requires_grad=True)
        with Tape():
            g = seed if shapes is None else _split(seed, shapes)
            outs = out if shapes is None else _split(out, shapes)
            try:
                grads = self._vjp(g, outs, *args, **params["kwargs"])
            except TypeError as error:
                names = _names(len(args))
                raise NotImplementedError(
                    f"forward mode through primitive {self.__name__} needs its tangent: add "
                    f"`def jvp(out, {', '.join(names)}, {', '.join('t' + n for n in names)})`"
                    " to its block (or `linear = True` if it is linear); its vjp could not "
                    f"be transposed on Tensors ({error})") from error
            total = None
            for k, (grad, t) in enumerate(zip(self._counted(grads, len(args)), tangents)):
                if isinstance(grad, (Tensor, Value)) and wanted(params, k):
                    term = (grad * t).sum() if isinstance(grad, Tensor) else grad * t
                    total = term if total is None else total + term
        if isinstance(total, (Tensor, Value)):
            total.backward()
        tangent = seed.grad if seed.grad is not None else np.zeros(np.shape(out), dtype)
        return float(tangent) if isinstance(out, float) else tangent


class _Transposed(Primitive):
    """The vjp of a linear primitive ``of``, as a linear primitive of ``g``
    (one output per operand of ``of``), whose own vjp is ``of``'s value:
    what Hessian-vector products record, whatever code ``of.vjp`` runs.
    Called with ``context=(out, args, params)`` of ``of``'s record."""

    def __init__(self, of):
        self.__name__ = self.__qualname__ = f"{of.__name__} (vjp)"
        self._of, self.linear, self._jvp = of, True, None
        self._fewest, self._most, self._keywords = 1, 1, None

    def _value(self, g, *, context):
        out, args, params = context
        shapes, of = params.get("shapes"), self._of
        if shapes is not None:
            g, out = _split(g, shapes), _split(out, shapes)
        grads = of._counted(of._vjp(g, out, *args, **params["kwargs"]), len(args))
        return tuple(np.zeros(np.shape(a), np.result_type(a)) if grad is None
                     else np.asarray(grad, dtype=np.result_type(a))
                     for grad, a in zip(grads, args))

    def _vjp(self, gs, outs, g, *, context):
        params = context[2]
        value = self._of._value(*gs, **params["kwargs"])
        return value if params.get("shapes") is None else _flatten(value)


def _transposed(of):
    if "_transpose" not in vars(of):
        of._transpose = _Transposed(of)
    return of._transpose


def _data(x):
    return x._v if isinstance(x, Tensor) else x


def _names(n):
    return ["x", "y", "z"][:n] if n <= 3 else [f"x{k}" for k in range(n)]


def _shape(x):
    shape = getattr(x, "shape", None)
    return np.shape(x) if shape is None else tuple(shape)


def _spans(shapes):
    start = 0
    for shape in shapes:
        stop = start + math.prod(shape)
        yield start, stop, shape
        start = stop


def _flatten(outs):
    """Several outputs raveled and joined into one array."""
    return np.concatenate([np.ravel(o) for o in outs])


def _split(joined, shapes):
    """The outputs (or their gradients) in the joined array ``joined``."""
    return tuple(joined[a:b].reshape(shape) for a, b, shape in _spans(shapes))
