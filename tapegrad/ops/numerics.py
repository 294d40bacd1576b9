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


# The functions of the trigonometric and exponential families: each is
# ``math``'s where it answers, NumPy's where ``math`` raises.


def _guarded(math_fn, ufunc, x):
    try:
        return math_fn(x)
    except (ValueError, OverflowError):
        return _numpy(ufunc, x)


def tan(x):
    """Tangent, nan at +-inf."""
    return _guarded(math.tan, np.tan, x)


def arcsin(x):
    """Inverse sine, nan outside [-1, 1]."""
    return _guarded(math.asin, np.arcsin, x)


def arccos(x):
    """Inverse cosine, nan outside [-1, 1]."""
    return _guarded(math.acos, np.arccos, x)


def sinh(x):
    """Hyperbolic sine, +-inf on overflow."""
    return _guarded(math.sinh, np.sinh, x)


def cosh(x):
    """Hyperbolic cosine, inf on overflow."""
    return _guarded(math.cosh, np.cosh, x)


def arccosh(x):
    """Inverse hyperbolic cosine, nan below 1."""
    return _guarded(math.acosh, np.arccosh, x)


def arctanh(x):
    """Inverse hyperbolic tangent: +-inf at +-1, nan outside [-1, 1]."""
    return _guarded(math.atanh, np.arctanh, x)


def expm1(x):
    """``e ** x - 1``, inf on overflow."""
    return _guarded(math.expm1, np.expm1, x)


def log1p(x):
    """``log(1 + x)``: -inf at -1, nan below."""
    return _guarded(math.log1p, np.log1p, x)


def exp2(x):
    """``2 ** x``, inf on overflow."""
    return _guarded(getattr(math, "exp2", np.exp2), np.exp2, x)  # math.exp2: Python 3.11+


def log2(x):
    """Base-2 log: -inf at 0, nan below."""
    return _guarded(math.log2, np.log2, x)


def log10(x):
    """Base-10 log: -inf at 0, nan below."""
    return _guarded(math.log10, np.log10, x)


def cbrt(x):
    """Real cube root (negative for negative x)."""
    return _guarded(getattr(math, "cbrt", np.cbrt), np.cbrt, x)  # math.cbrt: Python 3.11+


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


@jit.overload(tan)
def _tan_kernel(x):
    return lambda x: math.tan(x)


@jit.overload(arcsin)
def _arcsin_kernel(x):
    return lambda x: math.asin(x)


@jit.overload(arccos)
def _arccos_kernel(x):
    return lambda x: math.acos(x)


@jit.overload(sinh)
def _sinh_kernel(x):
    return lambda x: math.sinh(x)


@jit.overload(cosh)
def _cosh_kernel(x):
    return lambda x: math.cosh(x)


@jit.overload(arccosh)
def _arccosh_kernel(x):
    return lambda x: math.acosh(x)


@jit.overload(arctanh)
def _arctanh_kernel(x):
    return lambda x: math.atanh(x)


@jit.overload(expm1)
def _expm1_kernel(x):
    return lambda x: math.expm1(x)


@jit.overload(log1p)
def _log1p_kernel(x):
    return lambda x: math.log1p(x)


@jit.overload(exp2)
def _exp2_kernel(x):
    return lambda x: np.exp2(x)


@jit.overload(log2)
def _log2_kernel(x):
    return lambda x: math.log2(x)


@jit.overload(log10)
def _log10_kernel(x):
    return lambda x: math.log10(x)


@jit.overload(cbrt)
def _cbrt_kernel(x):
    return lambda x: np.cbrt(x)
