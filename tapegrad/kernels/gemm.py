"""General matrix products (BLAS ``?gemm``) and matrix-vector products
(``?gemv``) called from compiled kernels.

NumPy's ``@`` is BLAS's ``gemm`` (or ``gemv``) behind some microseconds of
Python; a kernel that runs a whole schedule of products
(:mod:`tapegrad.replay.dense`, :mod:`tapegrad.replay.schedule`) calls the
routine itself.  The library and its symbols are those
:mod:`tapegrad.kernels.blas` binds (NumPy's own OpenBLAS as a rule);
:func:`address` gives a routine's address, checked once per dtype against
``np.matmul`` on small products (every transposition, C and Fortran order,
strided rows), or 0 where it is not found or fails that check: a caller
then keeps NumPy's products.  :func:`product` (and :func:`add_product`,
adding onto its output) calls ``gemm`` and
:func:`matrix_vector` ``gemv``, as ``np.matmul`` calls it for a matrix
times a vector (the same routine, so the same bits: a caller that needs
them checks it on its own shapes).

The address is an argument, never part of the compiled code, so a kernel
calling :func:`product` is cached on disk like any other: an intrinsic
(:func:`fortran_gemm`) turns the integer into the routine and passes every
Fortran argument by reference from the stack, with the two hidden lengths
of the character arguments.  Integers go as 64-bit, as
:mod:`tapegrad.kernels.blas` passes them.  With ``NUMBA_DISABLE_JIT=1`` the
same call goes through :mod:`ctypes`.

>>> a, b = np.arange(6.0).reshape(2, 3), np.ones((3, 2))
>>> out = np.empty((2, 2))
>>> product(address(np.float64), a, False, b, False, out)
>>> out
array([[ 3.,  3.],
       [12., 12.]])
>>> v = np.empty(2)
>>> matrix_vector(address(np.float64, "gemv"), a, False, np.ones(3), v)
>>> v
array([ 3., 12.])
"""

import ctypes
import threading

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils

from tapegrad.jit import rule
from tapegrad.kernels import blas

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))
_checked = {}  # (dtype, routine) -> the checked routine's address, or 0
_lock = threading.Lock()


def _bound_at(name, dtype, address):
    """``(routine, integer type, scalar type)`` of the library's ``name`` of
    ``dtype``, as :mod:`tapegrad.kernels.blas` bound and declared it, checked
    to be the one at ``address`` (the intrinsics' calls without the JIT)."""
    routine = blas.bound(name, dtype)
    if routine is None or ctypes.cast(routine, ctypes.c_void_p).value != address:
        raise ValueError(f"{name}: no {dtype} routine bound at address {address}")
    scalar = ctypes.c_double if dtype == np.float64 else ctypes.c_float
    return routine, blas._get().integer, scalar


def _through_ctypes(address, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """:func:`fortran_gemm` without the JIT, through ctypes."""
    if not a.dtype == b.dtype == c.dtype or a.dtype not in _FLOATS:
        raise TypeError("gemm: the routine reads all three matrices as one float type")
    routine, integer, scalar = _bound_at("gemm", a.dtype, address)
    alpha, beta = scalar(alpha), scalar(beta)
    routine(bytes([ta]), bytes([tb]), integer(m), integer(n), integer(k), ctypes.addressof(alpha),
            a.ctypes.data, integer(lda), b.ctypes.data, integer(ldb), ctypes.addressof(beta),
            c.ctypes.data, integer(ldc), 1, 1)


def _gemv_through_ctypes(address, trans, m, n, alpha, a, lda, x, incx, beta, y, incy):
    """:func:`fortran_gemv` without the JIT, through ctypes."""
    if not a.dtype == x.dtype == y.dtype or a.dtype not in _FLOATS:
        raise TypeError("gemv: the routine reads the matrix and both vectors as one float type")
    routine, integer, scalar = _bound_at("gemv", a.dtype, address)
    alpha, beta = scalar(alpha), scalar(beta)
    routine(bytes([trans]), integer(m), integer(n), ctypes.addressof(alpha), a.ctypes.data,
            integer(lda), x.ctypes.data, integer(incx), ctypes.addressof(beta), y.ctypes.data,
            integer(incy), 1)


def _dot_through_ctypes(address, n, x, incx, y, incy):
    """:func:`fortran_dot` without the JIT, through ctypes."""
    if not x.dtype == y.dtype or x.dtype not in _FLOATS:
        raise TypeError("dot: the routine reads both vectors as one float type")
    routine, integer, _ = _bound_at("dot", x.dtype, address)
    return x.dtype.type(routine(integer(n), x.ctypes.data, integer(incx), y.ctypes.data,
                                integer(incy)))


def _fortran_dot(typingctx, address, n, x, incx, y, incy):
    """``x . y`` by the Fortran function at ``address`` (its result in the
    vectors' float type)."""
    if not all(isinstance(t, types.Array) and t.ndim == 1 for t in (x, y)) \
            or x.dtype not in (types.float64, types.float32) or y.dtype != x.dtype:
        return None  # numba's TypingError: the routine reads both as one float type
    f, i = x.dtype, types.int64
    signature = f(i, i, x, i, y, i)

    def codegen(context, builder, sig, args):
        where, n, x, incx, y, incy = args
        i64 = ir.IntType(64)
        value = context.get_value_type(f)
        real = value.as_pointer()
        routine = ir.FunctionType(value, [i64.as_pointer(), real, i64.as_pointer(), real,
                                          i64.as_pointer()])

        def ref(v):
            return cgutils.alloca_once_value(builder, v)

        def data(position, v):
            array = cgutils.create_struct_proxy(sig.args[position])(context, builder, value=v)
            return builder.bitcast(array.data, real)

        return builder.call(builder.inttoptr(where, routine.as_pointer()),
                            [ref(n), data(2, x), ref(incx), data(4, y), ref(incy)])

    return signature, codegen


def _fortran_gemm(typingctx, address, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """``c = alpha op(a) op(b) + beta c`` by the Fortran routine at
    ``address`` (column-major operands; ``ta``/``tb``: ``ord('N')`` or
    ``ord('T')``)."""
    arrays = (a, b, c)
    if not all(isinstance(t, types.Array) and t.ndim == 2 for t in arrays) \
            or a.dtype not in (types.float64, types.float32) \
            or b.dtype != a.dtype or c.dtype != a.dtype:
        return None  # numba's TypingError: the routine reads all three as one float type
    f, i = a.dtype, types.int64
    signature = types.void(i, types.uint8, types.uint8, i, i, i, f, a, i, b, i, f, c, i)

    def codegen(context, builder, sig, args):
        where, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc = args
        i64, i8 = ir.IntType(64), ir.IntType(8)
        real = context.get_value_type(f).as_pointer()
        routine = ir.FunctionType(ir.VoidType(), [i8.as_pointer()] * 2 + [i64.as_pointer()] * 3
                                  + [real, real, i64.as_pointer(), real, i64.as_pointer(),
                                     real, real, i64.as_pointer(), i64, i64])

        def ref(value):
            return cgutils.alloca_once_value(builder, value)

        def data(position, value):
            array = cgutils.create_struct_proxy(sig.args[position])(context, builder, value=value)
            return builder.bitcast(array.data, real)

        one = ir.Constant(i64, 1)
        builder.call(builder.inttoptr(where, routine.as_pointer()),
                     [ref(ta), ref(tb), ref(m), ref(n), ref(k), ref(alpha), data(7, a), ref(lda),
                      data(9, b), ref(ldb), ref(beta), data(12, c), ref(ldc), one, one])
        return context.get_dummy_value()

    return signature, codegen


def _fortran_gemv(typingctx, address, trans, m, n, alpha, a, lda, x, incx, beta, y, incy):
    """``y = alpha op(a) x + beta y`` by the Fortran routine at ``address``
    (``a`` column-major; ``trans``: ``ord('N')`` or ``ord('T')``)."""
    if not isinstance(a, types.Array) or a.ndim != 2 \
            or not all(isinstance(t, types.Array) and t.ndim == 1 for t in (x, y)) \
            or a.dtype not in (types.float64, types.float32) \
            or x.dtype != a.dtype or y.dtype != a.dtype:
        return None  # numba's TypingError: the routine reads all three as one float type
    f, i = a.dtype, types.int64
    signature = types.void(i, types.uint8, i, i, f, a, i, x, i, f, y, i)

    def codegen(context, builder, sig, args):
        where, trans, m, n, alpha, a, lda, x, incx, beta, y, incy = args
        i64, i8 = ir.IntType(64), ir.IntType(8)
        real = context.get_value_type(f).as_pointer()
        routine = ir.FunctionType(ir.VoidType(), [i8.as_pointer()] + [i64.as_pointer()] * 2
                                  + [real, real, i64.as_pointer(), real, i64.as_pointer(),
                                     real, real, i64.as_pointer(), i64])

        def ref(value):
            return cgutils.alloca_once_value(builder, value)

        def data(position, value):
            array = cgutils.create_struct_proxy(sig.args[position])(context, builder, value=value)
            return builder.bitcast(array.data, real)

        builder.call(builder.inttoptr(where, routine.as_pointer()),
                     [ref(trans), ref(m), ref(n), ref(alpha), data(5, a), ref(lda),
                      data(7, x), ref(incx), ref(beta), data(10, y), ref(incy),
                      ir.Constant(i64, 1)])
        return context.get_dummy_value()

    return signature, codegen


if numba.config.DISABLE_JIT:
    fortran_gemm, fortran_gemv = _through_ctypes, _gemv_through_ctypes
    fortran_dot = _dot_through_ctypes
else:
    fortran_gemm = numba.extending.intrinsic(_fortran_gemm)
    fortran_gemv = numba.extending.intrinsic(_fortran_gemv)
    fortran_dot = numba.extending.intrinsic(_fortran_dot)


@rule
def _leading(x):
    """How BLAS reads the matrix ``x``: the distance between its rows, in
    elements, where the elements of a row are adjacent (C order); minus the
    distance between its columns where those of a column are (Fortran
    order); 0 where neither (BLAS cannot read it)."""
    item = x.itemsize
    rows, columns = x.shape
    s0, s1 = x.strides
    if rows == 0 or columns == 0:
        return max(columns, 1)  # NumPy gives an empty array strides of 0
    if (s1 == item or columns <= 1) and s0 % item == 0 and (rows <= 1 or s0 >= columns * item):
        return max(columns, s0 // item if rows > 1 else 1, 1)
    if (s0 == item or rows <= 1) and s1 % item == 0 and (columns <= 1 or s1 >= rows * item):
        return -max(rows, s1 // item if columns > 1 else 1, 1)
    return 0


@rule
def product(gemm, a, trans_a, b, trans_b, out):
    """``out = op(a) @ op(b)``, ``op`` transposing where ``trans_*``: the
    routine at ``gemm`` (:func:`address`) on matrices in C or Fortran order
    (or slices of them whose rows, or columns, have adjacent elements),
    ``out`` in C order.  Fortran reads a C-ordered matrix as its
    transpose, so it computes ``out.T = op(b).T @ op(a).T``."""
    _gemm(gemm, a, trans_a, b, trans_b, out, 0.0)


@rule
def add_product(gemm, a, trans_a, b, trans_b, out):
    """``out += op(a) @ op(b)``, as :func:`product` (BLAS adds the product's
    sums onto ``out``: rounded as ``out + op(a) @ op(b)`` is, or, on long
    sums, a block's partial sum at a time)."""
    _gemm(gemm, a, trans_a, b, trans_b, out, 1.0)


@rule
def _gemm(gemm, a, trans_a, b, trans_b, out, beta):
    m, n = out.shape
    k = a.shape[0] if trans_a else a.shape[1]
    la, lb, lc = _leading(a), _leading(b), _leading(out)
    if la == 0 or lb == 0 or lc <= 0:
        raise ValueError("product: BLAS cannot read these matrices as they lie")
    if gemm == 0:
        raise ValueError("product: no checked gemm (its address is 0)")
    if m == 0 or n == 0:
        return
    fortran_gemm(gemm, ord("T") if trans_b != (lb < 0) else ord("N"),
                 ord("T") if trans_a != (la < 0) else ord("N"),
                 n, m, k, 1.0, b, abs(lb), a, abs(la), beta, out, lc)


@rule
def matrix_vector(gemv, a, trans, v, out):
    """``out = op(a) @ v``, ``op`` transposing where ``trans``: the routine
    at ``gemv`` (:func:`address` of ``"gemv"``) on a matrix in C or Fortran
    order (or a slice of one whose rows, or columns, have adjacent
    elements), ``v`` and ``out`` contiguous vectors.  Fortran reads a
    C-ordered matrix as its transpose."""
    rows, columns = a.shape
    la = _leading(a)
    if la == 0:
        raise ValueError("matrix_vector: BLAS cannot read this matrix as it lies")
    if gemv == 0:
        raise ValueError("matrix_vector: no checked gemv (its address is 0)")
    if rows == 0 or columns == 0:
        out[:] = 0.0
        return
    if la > 0:
        fortran_gemv(gemv, ord("N") if trans else ord("T"), columns, rows, 1.0, a, la, v, 1,
                     0.0, out, 1)
    else:
        fortran_gemv(gemv, ord("T") if trans else ord("N"), rows, columns, 1.0, a, -la, v, 1,
                     0.0, out, 1)


@rule
def vector_dot(dot, x, y):
    """``x . y`` of two contiguous vectors by the routine at ``dot``
    (:func:`address` of ``"dot"``), as NumPy's ``dot`` of two vectors calls
    it."""
    if dot == 0:
        raise ValueError("vector_dot: no checked dot (its address is 0)")
    if x.shape[0] != y.shape[0]:
        raise ValueError("vector_dot: vectors of two lengths")
    return fortran_dot(dot, x.shape[0], x, 1, y, 1)


def address(dtype, routine="gemm"):
    """The address of the library's ``routine`` (``"gemm"``, ``"gemv"`` or ``"dot"``)
    of ``dtype`` (float32 or float64) once it has passed its check (made at
    the first call), else 0.

    >>> address(np.int64), address(np.int64, "gemv")
    (0, 0)
    """
    dtype = np.dtype(dtype)
    found = _checked.get((dtype, routine))
    if found is not None:
        return found
    with _lock:
        if (dtype, routine) not in _checked:
            _checked[dtype, routine] = _check(dtype, routine)
    return _checked[dtype, routine]


def _check(dtype, routine):
    """The routine's address if it agrees with ``np.matmul`` on small
    products, else 0 (the reason logged, as :mod:`tapegrad.kernels.blas`
    does)."""
    bound = blas.bound(routine, dtype) if dtype in _FLOATS else None
    if bound is None:
        return 0
    where = ctypes.cast(bound, ctypes.c_void_p).value
    rng = np.random.default_rng(3)
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    try:
        for ta in (False, True):
            for tb in (False, True):
                a = rng.standard_normal((4, 3) if ta else (3, 4)).astype(dtype)
                b = np.asfortranarray(rng.standard_normal((5, 4) if tb else (4, 5)), dtype)
                wide = np.zeros((3, 7), dtype)
                out = wide[:, 1:6]  # rows further apart than they are long
                a = a if ta else np.asfortranarray(a)
                if routine == "dot":  # the first row times the first column
                    x = np.ascontiguousarray((a.T if ta else a)[0])
                    y = np.ascontiguousarray((b.T if tb else b)[:, 0])
                    if vector_dot(where, x, y) != np.dot(x, y):
                        return 0
                    continue
                if routine == "gemv":  # the first column of each product
                    out, b = out[:, 0].copy(), np.ascontiguousarray((b.T if tb else b)[:, 0])
                    matrix_vector(where, a, ta, b, out)
                    want = (a.T if ta else a) @ b
                else:
                    product(where, a, ta, b, tb, out)
                    want = (a.T if ta else a) @ (b.T if tb else b)
                if not np.allclose(out, want, rtol=tolerance, atol=tolerance) or wide[:, 0].any():
                    blas._log.debug("tapegrad.kernels.gemm: %s %s disagrees with NumPy",
                                    dtype, routine)
                    return 0
    except Exception as error:  # noqa: BLE001 (any failure means: do not use it)
        blas._log.debug("tapegrad.kernels.gemm: %s %s not used: %s", dtype, routine, error)
        return 0
    return where
