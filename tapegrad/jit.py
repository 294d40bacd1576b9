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
* numba's disk cache (``cache=True``) when numba can write it somewhere,
  read through :class:`CheckedFunctionCache`: an unreadable cache file
  (truncated, overwritten) is one warning naming it, deleted, and the
  kernel compiled again, never an error in every later process.  Where no
  cache can be written, one warning says what that costs (compiling again
  in every process, about :data:`COMPILE_SECONDS` s) and the fix
  (``NUMBA_CACHE_DIR``); a read-only install still works;
* ``parallel`` only for the kernels made by :func:`parallel_kernel` (batch
  replay over rows), never for the sweeps themselves.

Kernels are compiled lazily, once per argument type signature; tape length
and content are values, never types, so they never trigger a recompile.
``NUMBA_DISABLE_JIT=1`` turns every kernel into its plain Python function,
and the test suite also runs that way.
"""

import functools
import hashlib
import inspect
import os
import pathlib
import warnings

import numba
import numba.extending
import numpy as np
from numba.core.caching import FunctionCache, IndexDataCacheFile

OPTIONS = {"nogil": True, "error_model": "numpy", "fastmath": False}
# numba's ufunc target (vectorize) knows neither ``nogil`` nor ``error_model``
# (it raises on them); of OPTIONS it takes the rest.
UFUNC_OPTIONS = {name: value for name, value in OPTIONS.items()
                 if name not in ("nogil", "error_model")}
KERNELS = []  # every dispatcher made by kernel() (not rule()), for compilations()


_CACHE_USABLE = {}  # source file -> whether numba can cache its functions
_WARNED = set()  # cache files already named in a warning, and "unwritable"
COMPILE_SECONDS = 10  # about what compiling tapegrad's kernels costs a process


class _CheckedCacheFile(IndexDataCacheFile):
    """numba's index and data files of one function, where a file that
    cannot be read back (truncated by a killed writer or a full disk,
    overwritten) is a cache miss: warned about once, naming it, and deleted,
    so the kernel is compiled again and the file rewritten.  numba itself
    raises ``EOFError``/``UnpicklingError`` on such a file in every process
    until someone deletes it.  Only reading a cache file goes through here,
    at a kernel's first call in a process: no cost per call."""

    def _load_index(self):
        try:
            overloads = super()._load_index()
            if isinstance(overloads, dict):
                return overloads
            problem = f"it holds a {type(overloads).__name__}, not an index"
        except OSError as error:
            if isinstance(error, FileNotFoundError):
                return {}
            problem = f"{type(error).__name__}: {error}"
        except Exception as error:  # whatever unpickling garbage raises
            problem = f"{type(error).__name__}: {error}"
        _drop(self._index_path, problem)
        return {}

    def _load_data(self, name):
        try:
            data = super()._load_data(name)
            if isinstance(data, tuple):
                return data
            problem = f"it holds a {type(data).__name__}, not a compiled kernel"
        except OSError:
            raise  # numba's load() takes a missing data file for a miss
        except Exception as error:
            problem = f"{type(error).__name__}: {error}"
        _drop(self._data_path(name), problem)
        return None  # load() returns it: a miss, compiled and saved again


def _drop(path, problem):
    """Warn once that numba's cache file ``path`` is unreadable and delete it."""
    if path not in _WARNED:
        _WARNED.add(path)
        warnings.warn(f"tapegrad: numba's kernel cache file {path} is unreadable ({problem}); "
                      "deleted it, the kernel is compiled again", RuntimeWarning, stacklevel=2)
    try:
        os.unlink(path)
    except OSError:
        pass


PACKAGE = pathlib.Path(__file__).resolve().parent  # tapegrad/


#: What numba compiles into tapegrad's kernels, relative to the package: the
#: op table's rules, the kernels, the fused kernels' sources, the ``fma`` of
#: ``optim`` and the calibration loop.  Nothing else is compiled (the array
#: layer and the NumPy API run in Python), so editing them recompiles nothing.
COMPILED = ("jit.py", "ops", "kernels", "fusion", "optim.py", "benchmark/calibration.py")


def _compiled_sources(package):
    for name in COMPILED:
        path = package / name
        yield from (path.rglob("*.py") if path.is_dir() else [path])


def source_stamp(package=PACKAGE):
    """A hash of every ``.py`` file numba compiles from under ``package``
    (:data:`COMPILED`), each with its path relative to ``package``: an
    edit, a new file or a move there changes it."""
    digest = hashlib.sha256()
    for path in sorted(_compiled_sources(package),
                       key=lambda p: p.relative_to(package).as_posix()):
        name = path.relative_to(package).as_posix().encode()
        content = path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(name), name, len(content)))
        digest.update(content)
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def package_stamp():
    """:func:`source_stamp` of tapegrad, computed once per process (~3 ms)."""
    return source_stamp()


class CheckedFunctionCache(FunctionCache):
    """numba's cache of one function (what ``cache=True`` gives a
    dispatcher), reading its files through :class:`_CheckedCacheFile`.

    numba judges a cache entry fresh by the file that defines the kernel
    alone, yet a kernel compiles in what it calls: the op table's rules
    (``tapegrad/ops/``) and the generated sweeps (``kernels/sweeps.py``,
    called by ``kernels/passes.py``).  An edited rule left every cached
    sweep computing the old derivative, silently.  So each entry's stamp
    also holds :func:`package_stamp`: an edit anywhere numba compiles from
    (:data:`COMPILED`) makes every cached kernel a miss, compiled once again."""

    def __init__(self, py_func):
        super().__init__(py_func)
        self._cache_file.__class__ = _CheckedCacheFile
        self._cache_file._source_stamp = (self._cache_file._source_stamp, package_stamp())


def _cache_for(fn):
    """A :class:`CheckedFunctionCache` of ``fn``, or None when numba finds
    no writable cache location for its file (warned once per process: it
    costs about :data:`COMPILE_SECONDS` seconds of compiling in every
    process)."""
    source_file = inspect.getfile(fn)
    if _CACHE_USABLE.get(source_file) is not False:
        try:
            cache = CheckedFunctionCache(fn)
            _CACHE_USABLE[source_file] = True
            return cache
        except RuntimeError:  # "cannot cache function ...: no locator available"
            _CACHE_USABLE[source_file] = False
            if "unwritable" not in _WARNED:
                _WARNED.add("unwritable")
                setting = numba.config.CACHE_DIR or "unset"
                warnings.warn(
                    f"tapegrad: numba cannot write a kernel cache for {source_file} "
                    f"(NUMBA_CACHE_DIR is {setting}; nor beside the file, nor in numba's user "
                    "cache directory), so tapegrad's kernels are compiled again in every "
                    f"process, about {COMPILE_SECONDS} s each; set NUMBA_CACHE_DIR to a "
                    "writable directory to compile them once",
                    RuntimeWarning,
                    stacklevel=4,
                )
    return None


def _njit(fn, **options):
    """``numba.njit`` with tapegrad's options, and numba's disk cache (read
    through :class:`CheckedFunctionCache`) when it can be written."""
    dispatcher = numba.njit(**OPTIONS, **options)(fn)
    cache = _cache_for(fn)
    if cache is not None:
        dispatcher._cache = cache  # what enable_caching() (cache=True) sets
    return dispatcher


def numba_cache_dirs(source_dir):
    """The directories where numba keeps (or would keep) the cache files of
    functions defined in the ``.py`` files of ``source_dir``:
    ``$NUMBA_CACHE_DIR``'s when it is set, else the ``__pycache__`` beside
    them and numba's user-wide cache directory (numba takes the first it can
    write).  Each holds only the files of ``source_dir``'s functions."""
    from numba.core.caching import _CacheLocator
    from numba.misc.appdirs import AppDirs

    source_dir = os.path.abspath(source_dir)
    subpath = _CacheLocator.get_suitable_cache_subpath(os.path.join(source_dir, "x.py"))
    if numba.config.CACHE_DIR:
        return [os.path.join(numba.config.CACHE_DIR, subpath)]
    return [os.path.join(source_dir, "__pycache__"),
            os.path.join(AppDirs(appname="numba", appauthor=False).user_cache_dir, subpath)]


def is_numba_cache_file(name):
    """Whether ``name`` is one of numba's cache files (an index, a compiled
    kernel, or one being written)."""
    return name.endswith((".nbi", ".nbc")) or ".nbi.tmp." in name or ".nbc.tmp." in name


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
    return _njit(fn)


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
    return _njit(fn)


def parallel_kernel(fn):
    """:func:`kernel`, with numba's ``parallel`` on: ``prange`` loops run on
    every core (plain ``range`` when the JIT is off)."""
    if numba.config.DISABLE_JIT:
        return _quiet(fn)
    dispatcher = _njit(fn, parallel=True)
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
        # numba.vectorize(signatures)(fn), with the checked cache put in
        # before the loops are compiled (a DUFunc, then frozen).
        ufunc = numba.vectorize(**UFUNC_OPTIONS)(fn)
        cache = _cache_for(fn)
        if cache is not None:
            ufunc._dispatcher.cache = cache  # what enable_caching() sets
        for signature in signatures:
            ufunc.add(signature)
        ufunc.disable_compile()
        return ufunc

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
