"""The methods NumPy's arrays have, on Tensors: ``t.ravel()`` is ``np.ravel(t)``.

Each method is the registered implementation of its NumPy function
(:mod:`tapegrad.core.numpy_protocol`), bound to the Tensor: one rule, two
spellings, and no second trip through NumPy's dispatch.  Methods that give
plain data (``argmax``, ``tolist``, ...) read the value, as NumPy's do.

>>> import numpy as np, tapegrad as tg
>>> t = tg.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
>>> t.ravel().value, t.sum(axis=0, keepdims=True).shape, t.T.dot(t).shape
(array([ 1., -2.,  3.,  4.]), (1, 2), (2, 2))
>>> int(t.argmax()), t.clip(0.0, 3.5).value.tolist()
(3, [[1.0, 0.0], [3.0, 3.5]])
"""

import numpy as np

from tapegrad.core.numpy_protocol import FUNCTIONS, PASSTHROUGH, plain
from tapegrad.array import Tensor, tensor
from tapegrad.array.tensor import recorder

#: method name -> the NumPy function it is.
METHODS = {
    "sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
    "var": np.var, "std": np.std, "cumsum": np.cumsum, "cumprod": np.cumprod, "ptp": np.ptp,
    "ravel": np.ravel, "squeeze": np.squeeze, "swapaxes": np.swapaxes, "repeat": np.repeat,
    "diagonal": np.diagonal, "trace": np.trace, "clip": np.clip, "dot": np.dot,
    "take": np.take, "copy": np.copy,
    "argmax": np.argmax, "argmin": np.argmin, "argsort": np.argsort, "nonzero": np.nonzero,
    "any": np.any, "all": np.all,
}


def _bound(func):
    """The method of ``func``: its implementation itself (a function whose
    first parameter is the array binds as a method), or, for plain data, a
    call on the values."""
    implementation = FUNCTIONS.get(func)
    if implementation is not None:
        return implementation
    reads = PASSTHROUGH[func]
    data = getattr(func, "_implementation", func)

    def method(self, *args, **kwargs):
        return data(plain(self, reads), *plain(args, reads),
                    **{k: plain(v, reads) for k, v in kwargs.items()})

    method.__doc__ = f"``numpy.{func.__name__}`` of this tensor's data (no gradient)."
    return method


def flatten(self, order="C"):
    """A copy of the elements in one dimension, as ``ndarray.flatten``."""
    if order != "C":
        raise ValueError("Tensor.flatten: only order='C' is supported")
    return METHODS_BOUND["ravel"](self)


def astype(self, dtype, copy=True):
    """The elements cast to ``dtype``: recorded between float dtypes (the
    gradient is cast back); to any other dtype, plain data with no gradient."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        return tensor(plain(self, True).astype(dtype))
    if dtype == self.dtype and not copy:
        return self
    return _ASTYPE([self], dtype=dtype)


def tolist(self):
    """The elements as nested Python lists (data: no gradient)."""
    return plain(self, True).tolist()


def install(cls):
    """Give ``cls`` (the Tensor) each method of :data:`METHODS` whose
    function is registered; the names it gets are returned."""
    bound = {}
    for name, func in METHODS.items():
        if func in FUNCTIONS or func in PASSTHROUGH:
            bound[name] = _bound(func)
            setattr(cls, name, bound[name])
    return bound


_ASTYPE = recorder("astype")
METHODS_BOUND = install(Tensor)
Tensor.flatten, Tensor.tolist, Tensor.astype = flatten, tolist, astype

__all__ = []
