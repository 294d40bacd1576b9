"""Scalar math with NumPy's answers, in Python and inside numba kernels alike.

Python's ``math`` raises where NumPy returns inf or nan (``math.log(0.0)``,
``1.0 / 0.0``, ``math.exp(1000.0)``), and ``(-8.0) ** (1 / 3)`` is even a
complex number.  Op rules call these helpers instead, so that recording in
Python, the reference interpreter and the numba kernels all agree with NumPy:

>>> log(0.0), div(1.0, 0.0), exp(1000.0)
(-inf, inf, inf)
>>> import math; math.isnan(pow(-8.0, 1 / 3))
True

In Python each helper takes the fast ``math`` path and falls back to NumPy
only when ``math`` would raise; inside a kernel each is the bare C function
(the ``overload`` declarations at the end).
"""

import math

import numpy as np

from tapegrad import jit


def _numpy(ufunc, *args):
    with np.errstate(all="ignore"):
        return float(ufunc(*args))


def div(x, y):
    """``x / y`` with NumPy's inf/nan at ``y == 0``."""
    try:
        return x / y
    except ZeroDivisionError:
        return _numpy(np.divide, x, y)


def pow(x, y):
    """``x ** y`` as NumPy computes it for float64 (nan, not complex)."""
    try:
        return math.pow(x, y)
    except (ValueError, OverflowError):
        return _numpy(np.power, x, y)


def exp(x):
    """``e ** x``, inf on overflow."""
    try:
        return math.exp(x)
    except OverflowError:
        return _numpy(np.exp, x)


def log(x):
    """Natural log: -inf at 0, nan below."""
    try:
        return math.log(x)
    except ValueError:
        return _numpy(np.log, x)


def sqrt(x):
    """Square root, nan below 0."""
    try:
        return math.sqrt(x)
    except ValueError:
        return _numpy(np.sqrt, x)


def sin(x):
    """Sine, nan at +-inf."""
    try:
        return math.sin(x)
    except ValueError:
        return _numpy(np.sin, x)


def cos(x):
    """Cosine, nan at +-inf."""
    try:
        return math.cos(x)
    except ValueError:
        return _numpy(np.cos, x)


# Inside kernels each helper is the bare C function, which never raises
# (compiled with tapegrad's options: error_model="numpy").


@jit.overload(div)
def _div_kernel(x, y):
    return lambda x, y: x / y


@jit.overload(pow)
def _pow_kernel(x, y):
    return lambda x, y: math.pow(x, y)


@jit.overload(exp)
def _exp_kernel(x):
    return lambda x: math.exp(x)


@jit.overload(log)
def _log_kernel(x):
    return lambda x: math.log(x)


@jit.overload(sqrt)
def _sqrt_kernel(x):
    return lambda x: math.sqrt(x)


@jit.overload(sin)
def _sin_kernel(x):
    return lambda x: math.sin(x)


@jit.overload(cos)
def _cos_kernel(x):
    return lambda x: math.cos(x)
