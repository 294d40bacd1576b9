"""Products of the array op table: ``matmul`` and ``linear``.

``matmul`` is ``x @ y`` (1-D, 2-D and batched, as ``np.matmul``); BLAS does
the work, into an arena buffer when both are matrices.  ``linear`` is
``x @ w.T + b`` as one record (``nn.Linear``'s layer) instead of a
transpose, a product and a bias add: the bias is added into the product's
own buffer, so the tape keeps one array per layer (half the memory of a
step of ``nn.Linear`` layers) and the reverse sweep runs one VJP: ``g @ w``,
``g.T @ x`` and the bias's sum over rows.

>>> import numpy as np
>>> from tapegrad.array.ops.table import ARRAY_OPS
>>> x, w, b = np.ones((2, 3)), np.arange(6.0).reshape(2, 3), np.array([0.5, -1.0])
>>> ARRAY_OPS["linear"].value([x, w, b], {})
array([[ 3.5, 11. ],
       [ 3.5, 11. ]])
"""

import numpy as np

from tapegrad.core import arena
from tapegrad.jit import kernel, rule
from tapegrad.kernels.gemm import address, matrix_vector, product, vector_dot
from tapegrad.array.ops.table import declare, wanted
from tapegrad.array.ops.elementwise import unbroadcast


def _matmul(x, y):
    """``np.matmul(x, y)``, into an arena buffer when both are matrices."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.ndim != 2 or x.dtype != y.dtype or x.dtype.kind != "f":
        return np.matmul(x, y)
    return np.matmul(x, y, out=arena.empty((x.shape[0], y.shape[1]), x.dtype))


@declare
class matmul:
    """x @ y (1-D, 2-D and batched, as ``np.matmul``)"""

    arity = 2
    bilinear = True

    def value(args, params):
        return _matmul(args[0], args[1])

    def vjp(g, out, args, params):
        x, y = np.asarray(args[0]), np.asarray(args[1])
        if x.ndim == 1 and y.ndim == 1:
            return g * y, g * x
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        g2 = np.asarray(g)
        if x.ndim == 1:  # np.expand_dims's reshape, without its checks
            g2 = g2.reshape(g2.shape[:-1] + (1,) + g2.shape[-1:])
        if y.ndim == 1:
            g2 = g2.reshape(g2.shape + (1,))
        gx = gy = None  # a constant operand (input data) needs no gradient
        if wanted(params, 0):
            gx = unbroadcast(_matmul(g2, y2.swapaxes(-1, -2)), x2.shape).reshape(x.shape)
        if wanted(params, 1):
            gy = unbroadcast(_matmul(x2.swapaxes(-1, -2), g2), y2.shape).reshape(y.shape)
        return gx, gy


def _rows(a, width):
    """``a`` as a matrix of rows of ``width`` (1-D and batched alike)."""
    return np.reshape(a, (-1, width))


def _product_grads(g, x, w, params):
    """The gradients of ``x @ w.T`` for ``x`` and ``w`` (None if unwanted)."""
    gx = _matmul(g, w).reshape(np.shape(x)) if wanted(params, 0) else None
    gw = None
    if wanted(params, 1):
        gw = _matmul(_rows(g, w.shape[0]).T, _rows(x, w.shape[1]))
    return gx, gw


@declare
class linear:
    """x @ w.T + b, ``w`` of shape (out, in) as PyTorch's ``F.linear``"""

    arity = 0  # x, w, b are listed in params["args"]

    def value(args, params):
        x, w, b = (np.asarray(a) for a in args)
        out = _matmul(x, w.T)
        if out.flags.writeable and np.result_type(out, b) == out.dtype:
            np.add(out, b, out=out)
            return out
        return out + b

    def vjp(g, out, args, params):
        x, w, b = (np.asarray(a) for a in args)
        gx, gw = _product_grads(g, x, w, params)
        gb = unbroadcast(g, np.shape(b)) if wanted(params, 2) else None
        return gx, gw, gb

    def jvp(tangents, out, args, params):
        (x, w, _), (tx, tw, tb) = args, tangents
        return _matmul(tx, np.asarray(w).T) + _matmul(x, np.asarray(tw).T) + tb

    def vjp_tangent(g, gt, out, out_t, args, tangents, params):
        x, w, b = (np.asarray(a) for a in args)
        tx, tw = (np.asarray(t) for t in tangents[:2])
        gx, gw, gb = linear.vjp(g, out, args, params)
        gx_t, gw_t = _product_grads(gt, x, w, params)  # the incoming gradient moves,
        turned_x, turned_w = _product_grads(g, tx, tw, params)  # and so do x and w
        gx_t = None if gx_t is None else gx_t + turned_x
        gw_t = None if gw_t is None else gw_t + turned_w
        gb_t = unbroadcast(gt, np.shape(b)) if gb is not None else None
        return (gx, gw, gb), (gx_t, gw_t, gb_t)


# ``linear``'s rules once more, for compiled schedules (tapegrad.replay.dense),
# in the layout they keep: a batch's rows as columns, its input with a row of
# ones under it, so that the bias is one more column of the weight,
# ``folded = [w, b]``.  The same products as above, laid out otherwise, by
# BLAS's gemm at the address ``gemm`` (tapegrad.kernels.gemm.address): numba
# kernels, which a schedule's own compiled kernel calls too.


@kernel
def value_columns(gemm, folded, inputs, out):
    """``linear``'s value, transposed: ``out = [w, b] @ [x.T; 1]``, which is
    ``(x @ w.T + b).T``.

    >>> x, w, b = np.ones((2, 3)), np.arange(6.0).reshape(2, 3), np.array([0.5, -1.0])
    >>> out, gemm = np.empty((2, 2)), address(np.float64)
    >>> value_columns(gemm, np.column_stack([w, b]), np.vstack([x.T, np.ones(2)]), out)
    >>> bool((out.T == x @ w.T + b).all())
    True
    """
    product(gemm, folded, False, inputs, False, out)


@kernel
def vjp_columns(gemm, g, inputs, grads):
    """``linear``'s VJP for the weight and bias, transposed (``g`` the
    output's gradient, ``(out, rows)``): ``grads = [dw, db] = g @ [x.T;
    1].T``.

    >>> x, g = np.ones((4, 3)), np.full((4, 2), 0.5)
    >>> grads, gemm = np.empty((2, 4)), address(np.float64)
    >>> vjp_columns(gemm, np.ascontiguousarray(g.T), np.vstack([x.T, np.ones(4)]), grads)
    >>> bool((grads[:, :3] == g.T @ x).all()), grads[:, 3]
    (True, array([2., 2.]))
    """
    product(gemm, g, False, inputs, True, grads)


@kernel
def input_vjp_columns(gemm, g, w, down):
    """``linear``'s VJP for its input, transposed: ``down = w.T @ g``.

    >>> w, g = np.arange(6.0).reshape(2, 3), np.full((4, 2), 0.5)
    >>> down, gemm = np.empty((3, 4)), address(np.float64)
    >>> input_vjp_columns(gemm, np.ascontiguousarray(g.T), w, down)
    >>> bool((down.T == g @ w).all())
    True
    """
    product(gemm, w, True, g, False, down)


# ``matmul``'s rules once more, for compiled whole programs
# (tapegrad.replay.products): a constant matrix times a vector input.  NumPy's
# matmul runs BLAS's gemv for these products, and so do these kernels, at the
# address ``gemv`` (tapegrad.kernels.gemm.address(dtype, "gemv")), which a
# program's own compiled kernel calls too; a caller that needs NumPy's bits
# checks them on its shapes (a one-row matrix is a dot product to NumPy).


@kernel
def vector_value(gemv, matrix, v, out):
    """``matmul``'s value ``out = matrix @ v``, ``v`` a vector.

    >>> out, gemv = np.empty(2), address(np.float64, "gemv")
    >>> vector_value(gemv, np.arange(6.0).reshape(2, 3), np.ones(3), out)
    >>> out
    array([ 3., 12.])
    """
    matrix_vector(gemv, matrix, False, v, out)


@kernel
def vector_vjp(gemv, matrix, g, grad):
    """``matmul``'s VJP for its vector ``v`` of ``matrix @ v``: ``grad =
    matrix.T @ g``.

    >>> grad, gemv = np.empty(3), address(np.float64, "gemv")
    >>> vector_vjp(gemv, np.arange(6.0).reshape(2, 3), np.array([1.0, 0.5]), grad)
    >>> grad
    array([1.5, 3. , 4.5])
    """
    matrix_vector(gemv, matrix, True, g, grad)


@rule
def dot_value(dot, x, y):
    """``matmul``'s value for two vectors, ``x . y``: BLAS's dot at the address
    ``dot`` (tapegrad.kernels.gemm.address(dtype, "dot")), as NumPy calls it.

    >>> float(dot_value(address(np.float64, "dot"), np.arange(3.0), np.ones(3)))
    3.0
    """
    return vector_dot(dot, x, y)


@rule
def dot_term(g, other):
    """``matmul``'s VJP for two vectors, element by element: the term of one
    vector's element is ``g`` times the other's (``g * y, g * x`` above),
    with no zero-adjoint shortcut (NumPy multiplies).

    >>> dot_term(-0.0, 2.0)
    -0.0
    """
    return g * other
