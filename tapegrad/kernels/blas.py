"""Triangular BLAS and LAPACK (``trsm``, ``trmm``, ``trtri``) on NumPy
arrays, from the library NumPy itself loads, through :mod:`ctypes`.

NumPy calls BLAS for ``@`` but exposes no triangular routine, so a solve
with a triangular matrix costs a general one (or an inverse and a product).
This module finds the library NumPy ships or uses, binds its Fortran
``?trsm``, ``?trmm`` and ``?trtri`` for float32 and float64, checks them
once per dtype (at the first call) on small problems against the NumPy
forms below, and falls back to those forms (silently, the reason at
``logging`` DEBUG level and in :func:`status`) wherever the library, its
symbols or that check fail.  It binds ``?gemm``, ``?gemv`` and ``?dot``
too, for compiled kernels (:mod:`tapegrad.kernels.gemm`, which checks them
itself: :func:`bound`).  Where the routines come from, and under which
names: :mod:`tapegrad.kernels.blas_library`.

Fortran reads a C-ordered matrix as its transpose, so a C-ordered problem
is solved transposed (side and triangle swapped); Fortran-ordered arrays,
and slices of either with a unit stride, go as they are; anything else is
copied.  Stacked matrices (leading axes, which broadcast) are a loop over
the stack, so many small matrices are better left to NumPy's own stacked
routines.  :func:`trtri` beyond order 128 works by halves (two half-size
inverses and two ``trmm``): OpenBLAS's own takes twice as long at order
200 and more.

>>> import numpy as np
>>> a = np.array([[2.0, 0.0], [1.0, 4.0]])
>>> b = np.array([[2.0, 4.0], [9.0, 6.0]])
>>> trsm(a, b, lower=True)                   # a x = b, a lower
array([[1., 2.],
       [2., 1.]])
>>> trmm(a, trsm(a, b, lower=True), lower=True)   # a x again
array([[2., 4.],
       [9., 6.]])
>>> trsm(a, b, lower=True, side="right", trans=True)   # x a^T = b
array([[1.   , 0.75 ],
       [4.5  , 0.375]])
>>> trtri(a, lower=True) @ np.tril(a)
array([[1., 0.],
       [0., 1.]])
"""

import ctypes
import functools
import logging
import sys

import numpy as np

from tapegrad.kernels import blas_library

_log = logging.getLogger(__name__)

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))
_HALVES_ABOVE = 128  # trtri: the library's own up to this order, by halves above


class _Binding:
    """What was found: ``(dtype, routine) -> function``, the integer type,
    the library's path, a description or the reason nothing is used, and
    the outcome of each dtype's check."""

    def __init__(self):
        self.functions, self.integer, self.where = {}, ctypes.c_int64, None
        self.reason = "not looked for yet"
        self.checked = {}  # dtype -> bool
        self.one = {}  # dtype -> (1.0 of that type, its address)


_binding = None


def _find():
    binding = _Binding()
    for path in blas_library.candidates():
        bound = blas_library.bind(path)
        if bound is None:
            continue
        binding.functions, ilp64 = bound
        binding.integer = ctypes.c_int64 if ilp64 or sys.byteorder == "little" else ctypes.c_int32
        binding.where = path
        binding.reason = f"{path} ({'64' if ilp64 else '32'}-bit integers)"
        blas_library.declare(binding)
        return binding
    binding.reason = ("no library with ?trsm, ?trmm, ?trtri, ?gemm, ?gemv and ?dot found "
                      "beside or loaded by NumPy")
    return binding


def _get():
    global _binding
    if _binding is None:
        _binding = _find()
        _log.debug("tapegrad.kernels.blas: %s", _binding.reason)
    return _binding


def available(dtype=np.float64):
    """Whether :func:`trsm`, :func:`trmm` and :func:`trtri` of ``dtype``
    (float32 or float64) run in BLAS: the routines were found and passed
    their check (made at the first call for each dtype).

    >>> isinstance(available(np.float32), bool), available(np.int64)
    (True, False)
    """
    if dtype is None:
        return False
    dtype = np.dtype(dtype)
    binding = _binding or _get()
    ok = binding.checked.get(dtype)
    if ok is not None:
        return ok
    if dtype not in _FLOATS or not binding.functions:
        return False
    binding.checked[dtype] = False  # while checking, and if the check fails
    problem = _check(dtype)
    binding.checked[dtype] = problem is None
    if problem is not None:
        binding.reason += f"; {dtype} not used: {problem}"
        _log.debug("tapegrad.kernels.blas: %s not used: %s", dtype, problem)
    return problem is None


def bound(routine, dtype):
    """The library's ``routine`` (``"gemm"``, ``"trsm"`` ...) of ``dtype``
    as a :mod:`ctypes` function, or None; unchecked (:func:`available`
    checks the triangular ones).

    >>> bound("gemm", np.int64) is None
    True
    """
    return _get().functions.get((np.dtype(dtype), routine))


def status():
    """Where the routines come from, or why they are not used.

    >>> isinstance(status(), str)
    True
    """
    return _get().reason


def _check(dtype):
    """None if the bound routines agree with the NumPy forms on small
    problems (every side, triangle, transpose and diagonal, C- and
    Fortran-ordered ``b``), else what went wrong."""
    rng = np.random.default_rng(7)
    a = (rng.standard_normal((5, 5)) + 6 * np.eye(5)).astype(dtype)
    tolerance = 1e-4 if dtype == np.float32 else 1e-12

    def agree(got, want):
        return got.dtype == dtype and np.allclose(got, want, rtol=tolerance, atol=tolerance)

    try:
        for lower in (True, False):
            if not agree(_trtri_blas(a, lower), _trtri_numpy(a, lower)):
                return f"trtri (lower={lower}) disagrees with NumPy"
        for side, shape in (("left", (5, 3)), ("right", (3, 5))):
            for order in "CF":
                b = np.asarray(rng.standard_normal(shape).astype(dtype), order=order)
                for lower in (True, False):
                    for trans in (False, True):
                        for unit in (False, True):
                            flags = {"lower": lower, "side": side, "trans": trans, "unit": unit}
                            if not agree(_triangular_blas("trsm", a, b, **flags),
                                         _trsm_numpy(a, b, **flags)):
                                return f"trsm {flags} disagrees with NumPy"
                            if not agree(_triangular_blas("trmm", a, b, **flags),
                                         _trmm_numpy(a, b, **flags)):
                                return f"trmm {flags} disagrees with NumPy"
    except Exception as error:  # noqa: BLE001 (any failure means: do not use it)
        return f"{type(error).__name__}: {error}"
    return None


def _layout(x):
    """``(transposed, leading dimension)`` of the 2-D ``x`` as Fortran sees
    it (C-ordered rows: transposed), or None if BLAS cannot read it."""
    item = x.itemsize
    rows, columns = x.shape
    s0, s1 = x.strides
    if (s1 == item or columns <= 1) and s0 % item == 0 and (rows <= 1 or s0 >= columns * item):
        return True, max(columns, s0 // item if rows > 1 else 1, 1)
    if (s0 == item or rows <= 1) and s1 % item == 0 and (columns <= 1 or s1 >= rows * item):
        return False, max(rows, s1 // item if columns > 1 else 1, 1)
    return None


def _readable(x):
    return x if _layout(x) is not None else np.ascontiguousarray(x)


def _call(routine, a, b, lower, side, trans, unit):
    """``routine`` (``trsm`` or ``trmm``) of the matrix ``a`` (readable by
    BLAS) on the matrix ``b``, in place (through a copy if BLAS cannot
    write ``b`` as it lies)."""
    at, lda = _layout(a)
    target = b
    layout = _layout(b)
    if layout is None:
        target = np.array(b, order="C")
        layout = _layout(target)
    bt, ldb = layout
    m, n = target.shape[::-1] if bt else target.shape
    if m and n:
        binding = _binding
        integer = binding.integer
        fside = b"R" if (side == "left") == bt else b"L"
        binding.functions[(a.dtype, routine)](
            fside, b"U" if lower == at else b"L", b"T" if trans != (at != bt) else b"N",
            b"U" if unit else b"N", integer(m), integer(n), binding.one[a.dtype][1],
            a.ctypes.data, integer(lda), target.ctypes.data, integer(ldb), 1, 1, 1, 1)
    if target is not b:
        b[...] = target


def _prepared(a, b, side, overwrite_b, name):
    """Checked arguments: ``a`` broadcast over the stack, and the result
    array holding ``b`` (``b`` itself when it may be overwritten and fits),
    and the stack's shape."""
    a, b = np.asarray(a), np.asarray(b)
    if side not in ("left", "right"):
        raise ValueError(f"{name}: side must be 'left' or 'right', not {side!r}")
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name}: needs square matrices a and matrices b, "
                         f"got shapes {a.shape} and {b.shape}")
    if (b.shape[-2] if side == "left" else b.shape[-1]) != a.shape[-1]:
        raise ValueError(f"{name}: a of shape {a.shape} does not fit b of shape {b.shape} "
                         f"on the {side}")
    dtype = a.dtype if a.dtype == b.dtype else np.result_type(a, b, np.float32)
    if dtype not in _FLOATS:
        raise TypeError(f"{name}: needs float32 or float64 arrays, got {a.dtype} and {b.dtype}")
    batch = a.shape[:-2] if a.shape[:-2] == b.shape[:-2] else np.broadcast_shapes(
        a.shape[:-2], b.shape[:-2])
    shape = batch + b.shape[-2:]
    if overwrite_b and b.dtype == dtype and b.shape == shape and b.flags.writeable:
        out = b
    else:
        out = np.array(np.broadcast_to(b, shape), dtype=dtype)
    if a.dtype != dtype:
        a = a.astype(dtype)
    if a.shape[:-2] != batch:
        a = np.broadcast_to(a, batch + a.shape[-2:])
    return a, out, batch


def _triangular_blas(routine, a, b, lower=True, side="left", trans=False, unit=False,
                     overwrite_b=False):
    a, out, batch = _prepared(a, b, side, overwrite_b, routine)
    if not batch:
        _call(routine, _readable(a), out, lower, side, trans, unit)
    for index in np.ndindex(*batch) if batch else ():
        _call(routine, _readable(a[index]), out[index], lower, side, trans, unit)
    return out


def _inverse_in_place(x, lower):
    """Overwrite the triangle of the matrix ``x`` (C- or Fortran-ordered, a
    slice is fine) with its inverse: the library's ``trtri``, by halves
    above :data:`_HALVES_ABOVE`."""
    n = x.shape[-1]
    if n == 0:
        return
    if n > _HALVES_ABOVE:
        h = n // 2
        first, last = x[:h, :h], x[h:, h:]
        _inverse_in_place(first, lower)
        _inverse_in_place(last, lower)
        if lower:  # [A 0; B C]^-1 = [A^-1 0; -C^-1 B A^-1  C^-1]
            side = x[h:, :h]
            _call("trmm", first, side, True, "right", False, False)
            _call("trmm", last, side, True, "left", False, False)
        else:  # [A B; 0 C]^-1 = [A^-1  -A^-1 B C^-1; 0 C^-1]
            side = x[:h, h:]
            _call("trmm", last, side, False, "right", False, False)
            _call("trmm", first, side, False, "left", False, False)
        np.negative(side, out=side)
        return
    binding = _binding
    integer = binding.integer
    transposed, ld = _layout(x)
    info = integer(0)
    # Fortran may see x^T, whose inverse is the transpose of x's
    binding.functions[(x.dtype, "trtri")](b"U" if lower == transposed else b"L", b"N",
                                          integer(n), x.ctypes.data, integer(ld), info, 1, 1)
    if info.value > 0:
        raise np.linalg.LinAlgError("Singular matrix")
    if info.value < 0:
        raise ValueError(f"trtri: argument {-info.value} rejected")


@functools.lru_cache(maxsize=64)
def _kept(n, lower):
    """The (read-only) mask of the lower or upper triangle of order ``n``."""
    mask = np.tri(n, dtype=bool)
    mask = mask if lower else mask.T
    mask.flags.writeable = False
    return mask


def _trtri_blas(a, lower=True):
    a = np.asarray(a)
    # the routine leaves the other triangle as it finds it: zeros
    out = np.where(_kept(a.shape[-1], lower), a, np.zeros((), np.result_type(a, np.float32)))
    out = np.ascontiguousarray(out)
    if out.ndim == 2:
        _inverse_in_place(out, lower)
    for index in np.ndindex(*out.shape[:-2]) if out.ndim > 2 else ():
        _inverse_in_place(out[index], lower)
    return out


def _triangle(a, lower, trans=False, unit=False):
    """``op(a)``: the triangle of ``a`` that the routines read (``unit``:
    ones on its diagonal), transposed if ``trans``."""
    t = np.tril(a) if lower else np.triu(a)
    if unit:
        eye = np.eye(a.shape[-1], dtype=t.dtype)
        t = t * (1 - eye) + eye
    return np.swapaxes(t, -1, -2) if trans else t


def _trsm_numpy(a, b, lower=True, side="left", trans=False, unit=False, overwrite_b=False):
    a, out, _ = _prepared(a, b, side, overwrite_b, "trsm")
    t = _triangle(a, lower, trans, unit)
    if side == "left":
        out[...] = np.linalg.solve(t, out)
    else:  # x t = b  <=>  t^T x^T = b^T
        out[...] = np.swapaxes(np.linalg.solve(np.swapaxes(t, -1, -2), np.swapaxes(out, -1, -2)),
                               -1, -2)
    return out


def _trmm_numpy(a, b, lower=True, side="left", trans=False, unit=False, overwrite_b=False):
    a, out, _ = _prepared(a, b, side, overwrite_b, "trmm")
    t = _triangle(a, lower, trans, unit)
    out[...] = t @ out if side == "left" else out @ t
    return out


def _trtri_numpy(a, lower=True):
    a = np.asarray(a)
    inverse = np.linalg.inv(_triangle(a.astype(np.result_type(a, np.float32)), lower))
    return _triangle(inverse, lower)  # without the rounding a pivot may leave there


def _float(*arrays):
    dtype = np.result_type(*arrays, np.float32)
    return dtype if dtype in _FLOATS else None


def trsm(a, b, *, lower, side="left", trans=False, unit=False, overwrite_b=False):
    """``x`` with ``op(a) x = b`` (``side='left'``) or ``x op(a) = b``
    (``'right'``), where ``op(a)`` is the lower (or upper) triangle of
    ``a``, transposed if ``trans``, with ones on its diagonal if ``unit``
    (the other triangle is never read).  Stacked over leading axes, which
    broadcast; float32 stays float32.  ``overwrite_b``: write ``x`` into
    ``b`` when it can (it is returned either way).  BLAS when
    :func:`available` (a zero on the diagonal then gives inf or nan, as
    BLAS does not check), else NumPy's general solve (which raises
    ``numpy.linalg.LinAlgError`` there).

    >>> a = np.array([[4.0, 9.0], [2.0, 1.0]], dtype=np.float32)
    >>> trsm(a, np.array([[8.0], [5.0]], dtype=np.float32), lower=True)
    array([[2.],
           [1.]], dtype=float32)
    """
    if available(_float(np.asarray(a), np.asarray(b))):
        return _triangular_blas("trsm", a, b, lower, side, trans, unit, overwrite_b)
    return _trsm_numpy(a, b, lower, side, trans, unit, overwrite_b)


def trmm(a, b, *, lower, side="left", trans=False, unit=False, overwrite_b=False):
    """``op(a) b`` (``side='left'``) or ``b op(a)`` (``'right'``), with
    ``op(a)`` as in :func:`trsm`: half the work of a general product.

    >>> a = np.array([[1.0, 9.0], [2.0, 3.0]])
    >>> trmm(a, np.eye(2), lower=True, trans=True)
    array([[1., 2.],
           [0., 3.]])
    """
    if available(_float(np.asarray(a), np.asarray(b))):
        return _triangular_blas("trmm", a, b, lower, side, trans, unit, overwrite_b)
    return _trmm_numpy(a, b, lower, side, trans, unit, overwrite_b)


def trtri(a, *, lower):
    """The inverse of the lower (or upper) triangle of each matrix of
    ``a``, a new array (zeros in the other triangle).  Raises
    ``numpy.linalg.LinAlgError`` where that triangle is singular.

    >>> trtri(np.array([[2.0, 7.0], [2.0, 4.0]]), lower=False)
    array([[ 0.5  , -0.875],
           [ 0.   ,  0.25 ]])
    """
    a = np.asarray(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"trtri: needs square matrices, got shape {a.shape}")
    dtype = _float(a)
    if dtype is None:
        raise TypeError(f"trtri: needs float32 or float64 arrays, got {a.dtype}")
    return _trtri_blas(a, lower) if available(dtype) else _trtri_numpy(a, lower)
