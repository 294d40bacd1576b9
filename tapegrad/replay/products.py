"""Products of a constant and an input inside a whole program
(:mod:`tapegrad.replay.schedule`): ``X @ w`` under fused groups, as a
linear or logistic regression's loss has it.

The kernel of a whole program reads each group's operands in place; a
product is not elementwise.  A constant matrix times a vector input
(``X @ w``, ``w @ X``) runs inside the kernel: BLAS's ``gemv``, as
NumPy's ``matmul`` runs it, for the value before the groups' passes and
for the input's gradient after them (``matmul``'s compiled rules
:func:`~tapegrad.array.ops.linear.vector_value` and
:func:`~tapegrad.array.ops.linear.vector_vjp`), once
:meth:`Product.in_kernel` has found them bit for bit NumPy's on the
recorded shapes.  Any other product runs beside the kernel, by the very
calls the step-by-step replay makes: before the kernel, the ``matmul``
op's value (NumPy's ``matmul``) from the constant and the input; the
kernel reads it as one more input, and writes its gradient as one more
output; after the kernel, the op's VJP turns that gradient into the
input's.  Either way the input's gradient gets it added to what the
kernel's groups wrote there, as the sweeps add it: the same bits.  In the
kernel a product's term goes in where the sweeps reach the product (after
the walks of the groups recorded after it), so in float64 its input may
get any number of terms (a regularizer before or after the data term);
beside it, after all the walks, at most two.

What qualifies (:func:`products_of`): a ``matmul`` record of a constant
array and an input read whole, of the groups' dtype, whose value one group
reads (the caller checks the rest: that group reads it whole, no other
record reads it, and the terms on the input's gradient).

>>> import numpy as np, tapegrad as tg
>>> X, y = np.arange(6.0).reshape(3, 2), np.array([1.0, 0.0, 2.0])
>>> rec = tg.record(lambda w: ((X @ w - y) ** 2).mean(), tg.tensor(np.zeros(2)))
>>> type(rec.program.schedule).__name__
'WholeProgram'
>>> value, grad = rec.value_and_grad(np.array([0.5, -0.5]))
>>> bool(np.allclose(grad, 2 * X.T @ (X @ [0.5, -0.5] - y) / 3))
True
"""

import numpy as np

from tapegrad.array.ops import ARRAY_OPS
from tapegrad.array.ops.linear import vector_value, vector_vjp
from tapegrad.array.reverse import arguments

_MATMUL = ARRAY_OPS["matmul"]
#: What a whole program's kernel that runs products imports.
IMPORTS = "from tapegrad.array.ops.linear import vector_value, vector_vjp\n"
#: What one that takes a vector's dot with itself imports.
DOT_IMPORTS = "from tapegrad.array.ops.linear import dot_value, dot_term\n"


class Product:
    """One ``matmul`` record of a whole program: ``leaf`` (the input's
    index), at ``position`` (0 or 1) among the record's arguments, the
    other a constant; ``slot``: the index the kernel knows its value by,
    after the inputs'."""

    def __init__(self, leaf, position, args, params, shape, slot):
        self.leaf, self.position, self.slot = leaf, position, slot
        self.args, self.params, self.shape = list(args), params, shape
        constant = args[1 - position]
        #: The constant as the matrix ``M`` of ``M @ v``, ``v`` the input, when
        #: it is a matrix times a vector; else None.
        self.matrix = None
        if constant.ndim == 2 and len(shape) == 1 and np.ndim(args[position]) == 1:
            self.matrix = constant if position == 1 else constant.T

    def in_kernel(self, gemv, leaf, tries=3):
        """Whether the compiled rules at ``gemv`` give this product's value
        and its input's gradient bit for bit as the op does, at the
        recorded input ``leaf`` and random ones (``tries`` in all)."""
        if self.matrix is None or gemv == 0:
            return False
        rng = np.random.default_rng(0)
        dtype = self.matrix.dtype
        out, grad = np.empty(self.shape, dtype), np.empty(np.shape(leaf), dtype)
        try:
            for k in range(tries):
                v = leaf if k == 0 else rng.standard_normal(leaf.shape).astype(dtype)
                g = rng.standard_normal(self.shape).astype(dtype)
                vector_value(gemv, self.matrix, v, out)
                vector_vjp(gemv, self.matrix, g, grad)
                value = self.value(v)
                if not (np.array_equal(out, value) and
                        np.array_equal(grad, self.gradient(v, value, g))):
                    return False
        except Exception:  # noqa: BLE001 (a layout BLAS cannot read, numba's typing: beside)
            return False
        return True

    def value(self, leaf):
        """The product at the input's array ``leaf``, as the op computes it."""
        args = list(self.args)
        args[self.position] = leaf
        return _MATMUL.value(args, self.params)

    def gradient(self, leaf, out, g):
        """The input's gradient from the product's gradient ``g`` (flat), as
        the op's VJP computes it."""
        args = list(self.args)
        args[self.position] = leaf
        return _MATMUL.vjp(g.reshape(self.shape), out, args, self.params)[self.position]


def products_of(prog, leaf_of, dtype, first_slot):
    """``record -> Product`` for each ``matmul`` record of ``prog`` that is a
    constant array times an input (or an input times a constant) of
    ``dtype``; ``leaf_of`` maps input records to their leaf indices, and
    ``first_slot`` is the first index the products' values take."""
    found = {}
    for i in prog.array_records:
        if int(prog.op[i]) != _MATMUL.code:
            continue
        args, values = arguments(prog, i)
        inputs = [k for k, a in enumerate(args) if a in leaf_of]
        if len(inputs) != 1 or any(a >= 0 for k, a in enumerate(args) if k != inputs[0]):
            continue
        (position,) = inputs
        constant = values[1 - position]
        out = prog.arrays[i]
        if not isinstance(constant, np.ndarray) or constant.dtype != dtype \
                or out.dtype != dtype or prog.arrays[args[position]].dtype != dtype:
            continue
        found[i] = Product(leaf_of[args[position]], position, values, prog.params[i],
                           out.shape, first_slot + len(found))
    return found
