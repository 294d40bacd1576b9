"""Finding the BLAS library NumPy loads and binding its routines through
:mod:`ctypes`: the files to try (:func:`candidates`), the names and integer
width under which a file has ``?trsm``, ``?trmm``, ``?trtri``, ``?gemm``,
``?gemv`` and ``?dot`` for float32 and float64 (:func:`bind`), and their
argument types (:func:`declare`).  :mod:`tapegrad.kernels.blas` keeps what
was found, checks it and calls it.

Where the routines come from:

* the library: in the folder next to NumPy's package (``numpy.libs`` of the
  Linux and Windows wheels, ``numpy/.dylibs`` of the macOS ones: e.g.
  ``libscipy_openblas64_-*.so``), else any mapped file of the process whose
  name holds ``blas`` or ``mkl`` (Linux ``/proc/self/maps``: a NumPy linked
  against the system's or conda's library);
* the symbols: ``scipy_dtrsm_64_``, ``dtrsm_64_``, ``dtrsm64_``,
  ``dtrsm_`` ... (OpenBLAS's scipy prefix, the ``64_`` suffix of its
  64-bit integer build); a ``64`` suffix means 64-bit integers, a plain
  name those of NumPy's build configuration (``USE64BITINT``) when the
  library is NumPy's own, else 32-bit.  On a little-endian machine the
  integers go as 64-bit either way: a 32-bit reader of a small 64-bit
  integer reads the same number, so a wrong guess cannot corrupt a call.
"""

import ctypes
import glob
import os

import numpy as np

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))
_LETTER = {np.dtype(np.float64): "d", np.dtype(np.float32): "s"}
_PREFIXES = ("scipy_", "")
_SUFFIXES = (("_64_", True), ("64_", True), ("_64", True), ("_", False))
_ROUTINES = ("trsm", "trmm", "trtri", "gemm", "gemv", "dot")  # the last 3: kernels.gemm


def _numpy_folders():
    root = os.path.dirname(os.path.abspath(np.__file__))
    return [os.path.join(os.path.dirname(root), "numpy.libs"), os.path.join(root, ".dylibs"),
            root]


def _mapped_libraries():
    """Shared libraries mapped into this process whose name says BLAS."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(None, 5)[-1].strip() for line in maps if "/" in line}
    except OSError:
        return []
    names = ("blas", "mkl")
    return sorted(p for p in paths if any(w in os.path.basename(p).lower() for w in names))


def candidates():
    """Library files to try, NumPy's own first.

    >>> all(isinstance(path, str) for path in candidates())
    True
    """
    found = []
    for folder in _numpy_folders():
        for pattern in ("*openblas*", "*blas*", "*mkl_rt*"):
            for path in sorted(glob.glob(os.path.join(folder, pattern))):
                if path.endswith((".so", ".dylib", ".dll")) or ".so." in path:
                    found.append(path)
    found.extend(_mapped_libraries())
    return list(dict.fromkeys(found))


def _numpy_ilp64():
    """Whether NumPy's build configuration says its BLAS takes 64-bit integers."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # noqa: BLE001 (NumPy 1 has no mode=; any other layout: no)
        return False
    text = " ".join(str(v) for v in blas.values()).lower()
    return "use64bitint" in text or "ilp64" in text


def bind(path):
    """``(functions, ilp64)`` of the library at ``path`` under the first
    naming that has all the routines (``functions``: ``(dtype, routine) ->``
    a :mod:`ctypes` function; ``ilp64``: whether it takes 64-bit
    integers); None if none does, or nothing can be loaded from ``path``.

    >>> bind("/no/such/libblas.so") is None
    True
    """
    try:
        library = ctypes.CDLL(path)
    except OSError:
        return None
    for prefix in _PREFIXES:
        for suffix, ilp64 in _SUFFIXES:
            try:
                functions = {(dtype, r): getattr(library, f"{prefix}{c}{r}{suffix}")
                             for dtype, c in _LETTER.items() for r in _ROUTINES}
            except AttributeError:
                continue
            if not ilp64 and os.path.dirname(path) in _numpy_folders():
                ilp64 = _numpy_ilp64()
            return functions, ilp64
    return None


def declare(binding):
    """Argument types of the bound routines ``binding.functions``, integers
    of ``binding.integer`` (Fortran: everything by reference, then one
    hidden length per character argument); ``binding.one``: 1.0 of each
    float type, and its address.

    >>> import types
    >>> binding = types.SimpleNamespace(functions={}, integer=ctypes.c_int64, one={})
    >>> declare(binding); sorted(str(dtype) for dtype in binding.one)
    ['float32', 'float64']
    """
    integer = ctypes.POINTER(binding.integer)
    text, address, length = ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t
    for (dtype, routine), f in binding.functions.items():
        f.restype = None
        if routine == "trtri":  # uplo, diag, n, a, lda, info
            f.argtypes = [text, text, integer, address, integer, integer, length, length]
        elif routine == "gemm":  # transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
            f.argtypes = [text, text, integer, integer, integer, address, address, integer,
                          address, integer, address, address, integer, length, length]
        elif routine == "gemv":  # trans, m, n, alpha, a, lda, x, incx, beta, y, incy
            f.argtypes = [text, integer, integer, address, address, integer, address, integer,
                          address, address, integer, length]
        elif routine == "dot":  # n, x, incx, y, incy: returns the sum
            f.argtypes = [integer, address, integer, address, integer]
            f.restype = ctypes.c_double if dtype == _FLOATS[0] else ctypes.c_float
        else:  # side, uplo, transa, diag, m, n, alpha, a, lda, b, ldb
            f.argtypes = [text] * 4 + [integer, integer, address, address, integer, address,
                                       integer] + [length] * 4
    for dtype, scalar in ((_FLOATS[0], ctypes.c_double), (_FLOATS[1], ctypes.c_float)):
        value = scalar(1.0)
        binding.one[dtype] = (value, ctypes.addressof(value))
