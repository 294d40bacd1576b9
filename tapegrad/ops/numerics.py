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
(declared by ``_guarded`` with each unary helper; ``div``, ``pow``, ``fmod``
and ``sinc`` at the end).

>>> floor(-0.5), ceil(-0.5), rint(2.5), fmod(-7.0, 2.0), fmod(1.0, 0.0)
(-1.0, -0.0, 2.0, -1.0, nan)
"""

import math

import numba
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


def fmod(x, y):
    """C's ``fmod`` (sign of ``x``), nan where ``x`` is infinite or ``y`` is 0."""
    try:
        return math.fmod(x, y)
    except ValueError:
        return _numpy(np.fmod, x, y)


def sinc(x):
    """NumPy's normalised sinc, ``sin(pi x) / (pi x)`` (1 at 0), step for step.

    Inside kernels a float32 ``x`` is computed in float32, as NumPy does."""
    y = math.pi * (1.0e-20 if x == 0.0 else x)
    return sin(y) / y


def pow(x, y):
    """``x ** y`` as NumPy computes it for float64 (nan, not complex)."""
    try:
        return math.pow(x, y)
    except (ValueError, OverflowError):
        return _numpy(np.power, x, y)


# The unary helpers: each is ``math``'s where it answers, NumPy's where
# ``math`` raises, and inside kernels the bare C function (``kernel``),
# which never raises.


def _guarded(name, math_fn, ufunc, kernel, doc):
    """The helper ``name``: ``math_fn``, else ``ufunc`` where ``math_fn``
    raises; compiled into kernels as ``kernel``."""
    def helper(x):
        try:
            return math_fn(x)
        except (ValueError, OverflowError):
            return _numpy(ufunc, x)

    helper.__name__ = helper.__qualname__ = name
    helper.__doc__ = doc
    jit.overload(helper)(lambda x: kernel)
    return helper


exp = _guarded("exp", math.exp, np.exp, lambda x: math.exp(x), "``e ** x``, inf on overflow.")
log = _guarded("log", math.log, np.log, lambda x: math.log(x),
               "Natural log: -inf at 0, nan below.")
sqrt = _guarded("sqrt", math.sqrt, np.sqrt, lambda x: math.sqrt(x), "Square root, nan below 0.")
sin = _guarded("sin", math.sin, np.sin, lambda x: math.sin(x), "Sine, nan at +-inf.")
cos = _guarded("cos", math.cos, np.cos, lambda x: math.cos(x), "Cosine, nan at +-inf.")
tan = _guarded("tan", math.tan, np.tan, lambda x: math.tan(x), "Tangent, nan at +-inf.")
arcsin = _guarded("arcsin", math.asin, np.arcsin, lambda x: math.asin(x),
                  "Inverse sine, nan outside [-1, 1].")
arccos = _guarded("arccos", math.acos, np.arccos, lambda x: math.acos(x),
                  "Inverse cosine, nan outside [-1, 1].")
sinh = _guarded("sinh", math.sinh, np.sinh, lambda x: math.sinh(x),
                "Hyperbolic sine, +-inf on overflow.")
cosh = _guarded("cosh", math.cosh, np.cosh, lambda x: math.cosh(x),
                "Hyperbolic cosine, inf on overflow.")
arccosh = _guarded("arccosh", math.acosh, np.arccosh, lambda x: math.acosh(x),
                   "Inverse hyperbolic cosine, nan below 1.")
arctanh = _guarded("arctanh", math.atanh, np.arctanh, lambda x: math.atanh(x),
                   "Inverse hyperbolic tangent: +-inf at +-1, nan outside [-1, 1].")
expm1 = _guarded("expm1", math.expm1, np.expm1, lambda x: math.expm1(x),
                 "``e ** x - 1``, inf on overflow.")
log1p = _guarded("log1p", math.log1p, np.log1p, lambda x: math.log1p(x),
                 "``log(1 + x)``: -inf at -1, nan below.")
exp2 = _guarded("exp2", getattr(math, "exp2", np.exp2), np.exp2,  # math.exp2: Python 3.11+
                lambda x: np.exp2(x), "``2 ** x``, inf on overflow.")
log2 = _guarded("log2", math.log2, np.log2, lambda x: math.log2(x),
                "Base-2 log: -inf at 0, nan below.")
log10 = _guarded("log10", math.log10, np.log10, lambda x: math.log10(x),
                 "Base-10 log: -inf at 0, nan below.")
cbrt = _guarded("cbrt", getattr(math, "cbrt", np.cbrt), np.cbrt,  # math.cbrt: Python 3.11+
                lambda x: np.cbrt(x), "Real cube root (negative for negative x).")
# The integral parts: a float (math's are ints), signed zeros as NumPy's.
floor = _guarded("floor", lambda x: math.copysign(float(math.floor(x)), x), np.floor,
                 lambda x: np.floor(x), "Largest integer not above x (a float).")
ceil = _guarded("ceil", lambda x: math.copysign(float(math.ceil(x)), x), np.ceil,
                lambda x: np.ceil(x), "Smallest integer not below x (a float; -0.0 in (-1, 0)).")
trunc = _guarded("trunc", lambda x: math.copysign(float(int(x)), x), np.trunc,
                 lambda x: np.trunc(x), "x rounded toward zero (a float).")
rint = _guarded("rint", lambda x: math.copysign(float(round(x)), x), np.rint,
                lambda x: np.rint(x), "x rounded to the nearest integer, halves to even.")


# Inside kernels each helper is the bare C function, which never raises
# (compiled with tapegrad's options: error_model="numpy").


@jit.overload(div)
def _div_kernel(x, y):
    return lambda x, y: x / y


@jit.overload(pow)
def _pow_kernel(x, y):
    return lambda x, y: math.pow(x, y)


@jit.overload(fmod)
def _fmod_kernel(x, y):
    return lambda x, y: np.fmod(x, y)


@jit.overload(sinc)
def _sinc_kernel(x):
    if x == numba.types.float32:  # NumPy's float32 sinc rounds each step to float32
        pi, tiny = np.float32(math.pi), np.float32(1.0e-20)
    else:
        pi, tiny = math.pi, 1.0e-20

    def kernel(x):
        y = pi * (tiny if x == 0.0 else x)
        return math.sin(y) / y

    return kernel
