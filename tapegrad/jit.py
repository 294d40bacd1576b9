"""The one place where numba options are set.

Everything tapegrad has numba compile goes through this module: kernels and
op-table rules (:func:`kernel`, :func:`rule`, :func:`parallel_kernel`), fused
kernels made at run time (:func:`generated`, :func:`generated_cached`),
ufuncs (:func:`vectorize`, e.g. :func:`tapegrad.optim.fma`) and the kernel
versions of Python helpers (:func:`overload`, e.g.
:mod:`tapegrad.ops.numerics`).  So the options below are the whole compile
configuration:

* ``error_model="numpy"``: float division by zero gives inf/nan as in NumPy
  instead of raising ``ZeroDivisionError``;
* ``fastmath`` stays off: nan and inf must propagate exactly as NumPy's;
* ``cache=True`` when numba can write its cache somewhere, else off with one
  warning (a read-only install still works, it just compiles each process);
* ``parallel`` only for the kernels made by :func:`parallel_kernel` (batch
  replay over rows), never for the sweeps themselves.

Kernels are compiled lazily, once per argument type signature; tape length
and content are values, never types, so they never trigger a recompile.
``NUMBA_DISABLE_JIT=1`` turns every kernel into its plain Python function,
and the test suite also runs that way.
"""

import functools
import inspect
import warnings

import numba
import numba.extending
import numpy as np

OPTIONS = {"nogil": True, "error_model": "numpy", "fastmath": False}
# numba's ufunc target (vectorize) knows neither ``nogil`` nor ``error_model``
# (it raises on them); of OPTIONS it takes the rest.
UFUNC_OPTIONS = {name: value for name, value in OPTIONS.items()
                 if name not in ("nogil", "error_model")}
KERNELS = []  # every dispatcher made by kernel() (not rule()), for compilations()


_CACHE_USABLE = {}  # source file -> whether numba can cache its functions


def _cache_usable(fn):
    """True when numba finds a writable cache location for ``fn``'s file."""
    from numba.core.caching import FunctionCache

    source_file = inspect.getfile(fn)
    if source_file not in _CACHE_USABLE:
        try:
            FunctionCache(fn)
            _CACHE_USABLE[source_file] = True
        except RuntimeError:  # "cannot cache function ...: no locator available"
            if not any(usable is False for usable in _CACHE_USABLE.values()):
                warnings.warn(
                    f"tapegrad: numba cannot write a kernel cache for {source_file}; "
                    "kernels will be compiled in every process",
                    RuntimeWarning,
                    stacklevel=3,
                )
            _CACHE_USABLE[source_file] = False
    return _CACHE_USABLE[source_file]


def _quiet(fn):
    """``fn`` as plain Python, where it sees NumPy scalars: silence NumPy's
    floating-point warnings as ``error_model="numpy"`` does in compiled code."""

    @functools.wraps(fn)
    def plain(*args):
        with np.errstate(all="ignore"):
            return fn(*args)

    return plain


def rule(fn):
    """Compile an op-table rule with tapegrad's numba options.  Rules are
    called only from kernels, which compile them in (and, from a warm cache,
    load them with the kernel): they are not counted by :func:`compilations`."""
    if numba.config.DISABLE_JIT:
        return _quiet(fn)
    return numba.njit(cache=_cache_usable(fn), **OPTIONS)(fn)


def kernel(fn):
    """Compile ``fn``, a kernel called from Python, with tapegrad's numba
    options (cached when possible)."""
    dispatcher = rule(fn)
    if not numba.config.DISABLE_JIT:
        KERNELS.append(dispatcher)
    return dispatcher


def generated(fn):
    """Compile ``fn``, a kernel generated at run time (a fused group's),
    with tapegrad's numba options, in memory; not counted by
    :func:`compilations`, whose figure stays per argument type."""
    if numba.config.DISABLE_JIT:
        return _quiet(fn)
    return numba.njit(**OPTIONS)(fn)


def generated_cached(fn):
    """:func:`generated`, for a kernel that :mod:`tapegrad.fusion.cache` wrote
    to a file of its own: cached on disk when numba can."""
    if numba.config.DISABLE_JIT:
        return _quiet(fn)
    return numba.njit(cache=_cache_usable(fn), **OPTIONS)(fn)


def parallel_kernel(fn):
    """:func:`kernel`, with numba's ``parallel`` on: ``prange`` loops run on
    every core (plain ``range`` when the JIT is off)."""
    if numba.config.DISABLE_JIT:
        return _quiet(fn)
    dispatcher = numba.njit(cache=_cache_usable(fn), parallel=True, **OPTIONS)(fn)
    KERNELS.append(dispatcher)
    return dispatcher


def vectorize(signatures):
    """A decorator compiling ``fn`` now into a numba ufunc with a loop for
    each of ``signatures`` (NumPy takes the first that the inputs cast to
    safely), with tapegrad's numba options (:data:`UFUNC_OPTIONS`: a ufunc
    takes no ``error_model``, so ``fn`` should not divide), cached when
    possible.  A ufunc is compiled even when ``NUMBA_DISABLE_JIT`` is set;
    it is not one of the tape's kernels, so :func:`compilations` does not
    count it."""

    def compile_ufunc(fn):
        return numba.vectorize(signatures, cache=_cache_usable(fn), **UFUNC_OPTIONS)(fn)

    return compile_ufunc


def overload(fn):
    """A decorator declaring the implementation that kernels compile in place
    of the Python function ``fn`` (numba's ``overload``), with tapegrad's
    numba options."""
    return numba.extending.overload(fn, jit_options=OPTIONS)


def compilations():
    """How many (kernel, signature) pairs this process has compiled or loaded
    from the cache, the same whether the cache was cold or warm; None when the
    JIT is disabled.  Tape length and content never add to it; only a new
    argument type (int64 indices) does."""
    if numba.config.DISABLE_JIT:
        return None
    return sum(len(dispatcher.signatures) for dispatcher in KERNELS)
