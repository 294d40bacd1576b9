"""``Tensor``: NumPy arrays on the tape, one record per array op.

This module owns the Tensor class and how an array op is recorded
(:func:`record_array_op`): the two need each other (a record's result is a
Tensor, and a Tensor's methods record), so they share a file; the module
functions that are not methods of a Tensor are in
:mod:`tapegrad.array.routines`.  The methods that come from rows of the
scalar op table (``t + u``, ``t.exp()``, ...) are installed by
:func:`tapegrad.ops.methods.install`; importing this module also makes
``Value op ndarray`` give a Tensor (:func:`tapegrad.scalar.value.promote_arrays`).

A Tensor made by :func:`tensor` is a leaf: with ``requires_grad=True`` it
is recorded as an array input of whichever tape first uses it (as a leaf
``Value`` is), and ``backward()`` adds into its ``.grad``; without, it is a
constant.  A Tensor made by an op is a handle to one array record, whose
value lives in its recording's arena (:mod:`tapegrad.core.tape`).  Scalars mix
in: ``t[i, j]`` is a ``Value`` on the same tape, a ``Value`` broadcasts
against a ``Tensor``, and a NumPy array on either side of a ``Value`` or a
``Tensor`` gives a ``Tensor``.

>>> import numpy as np, tapegrad as tg
>>> w = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> x = np.array([1.0, -1.0])
>>> loss = tg.relu(w @ x).sum() + w[1, 1] * 0.5
>>> loss.backward(); w.grad
array([[0. , 0. ],
       [0. , 0.5]])
"""

import numbers
import sys

import numpy as np

from tapegrad.errors import MixedTapeError, TapeError
from tapegrad.ops import OPS
from tapegrad.ops.methods import install
from tapegrad.core import numpy_protocol
from tapegrad.core.tape import TRACING, current_recording, frozen_read
from tapegrad.scalar.value import PICKLE_COMPUTED, Value, index_on, promote_arrays
from tapegrad.array.mask import Mask, make_mask
from tapegrad.array.ops import ARRAY_OPS, ELEMENTWISE, broadcast_shape, elementwise

_new = object.__new__


def _check_float(array, what):
    if array.dtype.kind not in "f":
        raise TypeError(f"{what} needs a float array, got dtype {array.dtype}")


_NOT_REAL = {"c": "complex numbers", "O": "objects", "U": "strings", "S": "bytes",
             "M": "dates", "m": "time deltas", "V": "structured records"}


def check_real(array, what):
    """Refuse ``array`` unless it holds real numbers (float, integer or
    bool): tapegrad's arrays are real, and a cast would drop an imaginary
    part or turn text into numbers without a word."""
    kind = array.dtype.kind
    if kind not in "fiub":
        raise TypeError(f"{what}: tapegrad's arrays hold real numbers (float, integer or "
                        f"bool), not {_NOT_REAL.get(kind, 'this data')} (dtype {array.dtype})")


def tensor(data, requires_grad=False, dtype=None):
    """A leaf :class:`Tensor` holding a NumPy array of ``data``.

    Float32 and float64 are kept as given, in the machine's byte order
    (integers become float64 when ``requires_grad``, which refuses other
    dtypes).  tapegrad's arrays are
    real: complex, string, object (and other non-number) data raise
    ``TypeError`` naming the dtype, here and as an operand of an array op.

    >>> import tapegrad as tg
    >>> tg.tensor([1, 2]).dtype, tg.tensor([1.0], dtype="float32").dtype
    (dtype('int64'), dtype('float32'))
    """
    if isinstance(data, Tensor):
        data = data._v
    array = np.array(data, dtype=dtype)
    check_real(array, "tensor()")
    if not array.dtype.isnative:  # (the kernels read the machine's byte order)
        array = array.astype(array.dtype.newbyteorder("="))
    if requires_grad:
        if array.dtype.kind in "iub" and dtype is None:
            array = array.astype(np.float64)
        _check_float(array, "requires_grad")
    leaf = _new(Tensor)
    leaf._rec, leaf._i, leaf._serial, leaf._v, leaf._g = None, -1, 0, array, None
    leaf.requires_grad = bool(requires_grad)
    return leaf


def _operand(x, rec):
    """``(record index or -1, value)`` of an operand on ``rec``."""
    if x.__class__ is Value or isinstance(x, Tensor):
        if x._rec is rec:
            return x._i, x._v
        if x.__class__ is Value:
            return index_on(x, rec), x._v
        if x._rec is not None:
            rec.check_open()  # a reset or closed tape is the likelier mistake
            x._rec.check_open()
            raise MixedTapeError("cannot combine tensors recorded on two different tapes")
        if not x.requires_grad:
            return -1, x._v
        if x._serial == rec.serial:
            return x._i, x._v
        return rec.register_array(x), x._v
    if isinstance(x, numbers.Real):
        return -1, x
    array = np.asarray(x)
    check_real(array, f"an array operand (a {type(x).__name__})")
    return -1, array


def _recording_of(operands):
    for x in operands:
        rec = getattr(x, "_rec", None)
        if rec is not None:
            return rec
    return current_recording()


def _tracked(x):
    return x.__class__ is Value or (isinstance(x, Tensor) and (x._rec is not None
                                                               or x.requires_grad))


_LISTED = {op.code for op in ARRAY_OPS.values() if op.arity == 0}  # args in params["args"]
_SCALAR_OUTPUT = {op.code for op in ARRAY_OPS.values() if op.scalar_output}  # item, ...


def record_array_op(code, operands, params, compute):
    """Record array op ``code`` on ``operands`` (``compute(values, params)``
    gives its value), or compute a constant when nothing is tracked."""
    rec, tracked = None, False  # (the first recording an operand is on, as _recording_of)
    for x in operands:
        if x.__class__ is Value or isinstance(x, Tensor):
            if x._rec is not None:  # (_tracked, inline: this runs on every op)
                tracked = True
                if rec is None:
                    rec = x._rec
            elif not tracked:
                tracked = x.__class__ is Value or x.requires_grad
    if not tracked:
        values = [x._v if isinstance(x, (Tensor, Value)) else x for x in operands]
        return tensor(compute(values, dict(params)))
    if rec is None:
        rec = current_recording()
    args, values, constants = [], [], []
    for x in operands:  # the commonest operands first, as _operand takes them
        if x.__class__ is Tensor and (x._rec is rec or (x._rec is None and x.requires_grad
                                                        and x._serial == rec.serial)):
            a, v = x._i, x._v
        elif x.__class__ is float:
            a, v = -1, x
        else:
            a, v = _operand(x, rec)
        args.append(a)
        values.append(v)
        constants.append(v if a < 0 else None)
    params = {**params, "constants": constants}
    if len(args) > 2 or code in _LISTED:
        params["args"] = args
        a0, a1 = args[0], -1
    else:
        a0 = args[0] if args else -1
        a1 = args[1] if len(args) == 2 else -1
    value = compute(values, params)
    if code in _SCALAR_OUTPUT:
        out = _new(Value)
        out._rec, out._v = rec, value
        out._i = rec.push_array(code, a0, a1, value, params, scalar=True)
        return out
    value = np.asarray(value)
    value.setflags(write=False)  # the tape keeps it for the backward sweep
    out = _new(Tensor)
    out._rec, out._v, out._g, out._serial, out.requires_grad = rec, value, None, 0, True
    out._i = rec.push_array(code, a0, a1, value, params)
    return out


def _elementwise_op(op, reflected=False):
    """A function recording the scalar ``op`` elementwise: ``f(x)`` for a
    unary op, ``f(x, y)`` (recording ``y op x`` when ``reflected``) for a
    binary one; a fresh function at each call (``install`` names it)."""
    code, name = ELEMENTWISE + op.code, op.name

    def compute(values, params):
        return elementwise(name, values)

    if op.arity == 1:
        def method(self):
            return record_array_op(code, [self], {}, compute)
    elif reflected:
        def method(self, other):
            return record_array_op(code, [other, self], {}, compute)  # compute checks the shapes
    else:
        def method(self, other):
            return record_array_op(code, [self, other], {}, compute)
    method.__name__ = name
    method.__doc__ = f"Record {op.doc}, elementwise."
    return method


def recorder(name):
    """``record(operands, **params)``: records the declared array op ``name``."""
    op = ARRAY_OPS[name]
    return lambda operands, **params: record_array_op(op.code, operands, params, op.value)


_ELEMENTWISE = {op.name: _elementwise_op(op) for op in OPS.values()
                if op.arity > 0 and not op.guard}


def array_binary(name, x, y):
    """``name`` (a binary op of the scalar table) elementwise on ``x`` and
    ``y`` (Values, Tensors, arrays, numbers), as a Tensor.

    >>> import numpy as np, tapegrad as tg
    >>> array_binary("sub", tg.Value(1.0), np.array([1.0, 2.0])).value
    array([ 0., -1.])
    """
    return _ELEMENTWISE[name](x, y)


def _reducer(name):
    record = recorder(name)

    def method(self, axis=None, keepdims=False):
        return record([self], axis=axis, keepdims=keepdims)

    method.__name__ = {"amax": "max", "amin": "min"}.get(name, name)
    method.__doc__ = f"Record {ARRAY_OPS[name].doc}."
    return method


def _method(op, spelling):
    """The Tensor method ``spelling.name`` of the scalar ``op`` (see
    :func:`tapegrad.ops.methods.install`); comparisons are the class's own."""
    assert not spelling.comparison, spelling.name
    return _elementwise_op(op, spelling.reflected)


def matmul(x, y):
    """Record ``x @ y`` (1-D, 2-D, batched); BLAS does the work.

    >>> import tapegrad as tg
    >>> tg.matmul(tg.tensor([[1.0, 2.0]]), tg.tensor([[3.0], [4.0]])).value
    array([[11.]])
    """
    xs = x._v.shape if x.__class__ is Tensor else np.shape(getattr(x, "_v", x))
    ys = y._v.shape if y.__class__ is Tensor else np.shape(getattr(y, "_v", y))
    if len(xs) == 0 or len(ys) == 0 or xs[-1] != ys[-2 if len(ys) > 1 else 0]:
        raise ValueError(f"matmul: shapes {xs} and {ys} do not line up")
    return _MATMUL([x, y])


_MATMUL = recorder("matmul")


def _leaf_tensor(cls, value, requires_grad, grad):
    """An unpickled leaf Tensor (or subclass, such as ``nn.Parameter``)."""
    leaf = _new(cls)
    leaf._rec, leaf._i, leaf._serial, leaf._v, leaf._g = None, -1, 0, value, grad
    leaf.requires_grad = requires_grad
    return leaf


class Tensor(numpy_protocol.Dispatching):
    """An array that records what is computed from it (see the module
    docstring).  Made by :func:`tensor` or by ops, never directly."""

    __slots__ = ("_rec", "_i", "_v", "_g", "_serial", "requires_grad", "__weakref__")

    def __init__(self, *args, **kwargs):
        raise TypeError("make tensors with tapegrad.tensor(data, requires_grad=...)")

    # --- NumPy's functions record (tapegrad.core.numpy_protocol.Dispatching) --

    def __array__(self, dtype=None, copy=None):
        """A constant Tensor (no gradient, on no tape: integer indices, say)
        is its data; any other refuses, as its gradient would be lost."""
        if self._rec is not None or self.requires_grad:
            raise TypeError("a Tensor does not turn into a plain NumPy array by itself (its "
                            "gradient would be lost): use a NumPy function tapegrad records, "
                            "or t.value for the data")
        if copy:
            return np.array(self._v, dtype=dtype, copy=True)
        return self._v if dtype is None else self._v.astype(dtype, copy=False)

    def __reduce__(self):
        """A leaf pickles as its data, ``requires_grad`` and ``.grad`` (a new
        leaf where it is unpickled, on no tape); a Tensor computed on a tape
        refuses: its tape does not travel (a recording does)."""
        if self._rec is not None:
            raise TypeError(PICKLE_COMPUTED.format(kind="Tensor", data="t.value"))
        return _leaf_tensor, (type(self), self._v, self.requires_grad, self._g)

    # --- value and gradient ---------------------------------------------

    @property
    def value(self):
        """The NumPy array.  Assignable on leaves (the next use records the
        new value); read-only on computed tensors, which the tape keeps."""
        frozen_read(self)
        return self._v

    @value.setter
    def value(self, data):
        if self._rec is not None:
            raise TapeError("only leaves can be assigned; this tensor was computed by an op")
        array = np.asarray(data)
        check_real(array, "Tensor.value =")
        if self.requires_grad:
            _check_float(array, "requires_grad")
        self._v = array
        self._serial = 0

    data = value

    @property
    def grad(self):
        """d(out)/d(self) summed over ``backward()`` calls, for leaves with
        ``requires_grad``; None before the first, and for computed tensors."""
        return self._g

    @grad.setter
    def grad(self, g):
        if g is not None:
            g = np.asarray(g)
            if g.shape != self._v.shape:
                raise ValueError(f"grad of shape {g.shape} for a tensor of shape {self._v.shape}")
        self._g = g

    def _accumulate(self, g, owned=False):
        """Add ``g`` into ``.grad``; ``owned``: nothing else holds ``g``, so a
        first gradient of the right dtype is kept without a copy."""
        g = np.asarray(g, dtype=self._v.dtype)
        if self._g is None:
            self._g = g if owned and g.flags.writeable else np.array(g)
        else:
            self._g = np.asarray(self._g + g)  # 0-d + 0-d is a NumPy scalar

    @property
    def is_leaf(self):
        return self._rec is None

    def backward(self, seed=None):
        """Add d(self)/d(leaf) (times ``seed``, needed unless ``self`` has one
        element) into ``.grad`` of every leaf it depends on."""
        if seed is None:
            if self._v.size != 1:
                raise ValueError(f"backward() of a tensor of shape {self._v.shape} needs a "
                                 "seed array of that shape (or reduce it to a scalar first)")
            seed = np.ones_like(self._v)
        else:
            seed = np.asarray(seed)
            if seed.shape != self._v.shape:
                raise ValueError(f"backward() seed of shape {seed.shape} for a tensor of "
                                 f"shape {self._v.shape}")
        if self._rec is None:
            if self.requires_grad:
                self._accumulate(seed)
            return
        self._rec.backward(self._i, seed)

    def item(self):
        """The value of a one-element tensor, as a float."""
        if self._v.size != 1:
            raise ValueError(f"item() of a tensor of shape {self._v.shape}")
        frozen_read(self)
        return self._v.item()

    # --- shape ----------------------------------------------------------

    shape = property(lambda self: self._v.shape)
    ndim = property(lambda self: self._v.ndim)
    dtype = property(lambda self: self._v.dtype)
    size = property(lambda self: self._v.size)

    def __len__(self):
        return len(self._v)

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def __repr__(self):
        body = np.array2string(self._v, separator=", ", prefix="tensor(")
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}{grad})"

    # --- ops ------------------------------------------------------------
    # The scalar table's rows (t + u, -t, t.exp(), t._maximum(u), ...) are
    # installed below the class; the methods here are the Tensor's own.

    def __pow__(self, other):
        if isinstance(other, numbers.Real) and other == 2:
            return self.square()
        return self._pow(other)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    sum, mean, max, min = _reducer("sum"), _reducer("mean"), _reducer("amax"), _reducer("amin")

    def reshape(self, *shape):
        """Record the same elements in ``shape`` (one -1 allowed)."""
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return recorder("reshape")([self], shape=tuple(shape))

    def transpose(self, *axes):
        """Record the axes permuted (reversed when none are given)."""
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return recorder("transpose")([self], axes=tuple(axes) if axes else None)

    T = property(lambda self: self.transpose())

    def __getitem__(self, index):
        index = index._v if isinstance(index, Tensor) else index
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(p, (Mask, Tensor)) for p in parts):  # integer Tensors are data;
            parts = tuple(np.array(p) if isinstance(p, Mask)  # the tape is built for this mask
                          else p._v if isinstance(p, Tensor) else p for p in parts)
            index = parts if isinstance(index, tuple) else parts[0]
        if len(parts) == self.ndim and all(isinstance(p, numbers.Integral) for p in parts):
            return recorder("item")([self], index=index, unique=True)
        fancy = any(isinstance(p, (list, np.ndarray)) and np.asarray(p).dtype.kind != "b"
                    for p in parts)
        return recorder("getitem")([self], index=index, unique=not fancy)

    # Comparisons are data, as NumPy's: boolean arrays (no gradient).  While
    # record() traces, a comparison of traced values is recorded and gives a
    # Mask, which a replay recomputes (tapegrad.array.mask).
    def _compare(name, ufunc, swap=False):
        code = ELEMENTWISE + OPS[name].code

        def compute(values, params):
            return elementwise(name, values)

        def method(self, other):
            operands = [other, self] if swap else [self, other]
            tracing = TRACING.get()
            if (tracing is None or not isinstance(other, _COMPARABLE)
                    or not any(_tracked(x) for x in operands)
                    or _recording_of(operands) is not tracing):
                return ufunc(self._v, getattr(other, "_v", other))
            broadcast_shape(*[getattr(x, "_v", x) for x in operands])
            out = record_array_op(code, operands, {}, compute)
            if tracing.sites is not None:
                frame = sys._getframe(1)
                tracing.sites[out._i] = (frame.f_code.co_filename, frame.f_lineno)
            return make_mask(out)

        return method

    __lt__, __le__ = _compare("lt", np.less), _compare("le", np.less_equal)
    __gt__, __ge__ = _compare("lt", np.greater, True), _compare("le", np.greater_equal, True)
    __eq__, __ne__ = _compare("eq", np.equal), _compare("ne", np.not_equal)
    __hash__ = object.__hash__
    del _compare

    def __setitem__(self, index, value):
        raise TypeError("a Tensor cannot be assigned into (the tape keeps its values): "
                        "select with np.where(mask, new, t), or build it with "
                        "np.concatenate / tapegrad.stack")

    def __bool__(self):
        """The truth of a one-element tensor (a guard while record() traces)."""
        return bool(self != 0)


install(Tensor, unary=_method, binary=_method)  # keeps the comparisons and __pow__ above


def _plain_tensor(t, reads):
    if reads:
        frozen_read(t)
    return t._v


numpy_protocol.PLAIN[Tensor] = _plain_tensor
_COMPARABLE = (numbers.Real, np.ndarray, Tensor, Value, Mask)
promote_arrays(array_binary)  # Value op ndarray: a Tensor
