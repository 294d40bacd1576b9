"""Contractions of the array op table: ``einsum`` of two operands, ``einsum1`` of one.

Both take plain subscripts (``params["inputs"]``, one string of letters per
operand, and ``params["output"]``): no ``...``, no implicit output, no
broadcast axes of size 1 (:mod:`tapegrad.numpy.contractions` rewrites
NumPy's subscripts into these).  ``einsum`` is bilinear and ``einsum1``
linear, so their forward-mode rules follow from ``value`` and ``vjp``,
which the two share.  The VJP of operand k contracts the output's gradient
with the other operand into operand k's subscripts; a label repeated in
operand k (a diagonal, a trace) gets its gradient on the diagonal, and a
label summed away in operand k alone gets it broadcast back.

A contraction that is a (batched) matrix product runs as one: transposed
and reshaped onto ``np.matmul``, so BLAS does the work (the value and both
gradients of ``ij,jk->ik`` are three ``matmul`` calls); the rest runs on
``np.einsum``.

>>> import numpy as np
>>> from tapegrad.array.ops.table import ARRAY_OPS
>>> a, b = np.arange(6.0).reshape(2, 3), np.ones((3, 2))
>>> ARRAY_OPS["einsum"].value([a, b], {"inputs": ("ij", "jk"), "output": "ik"})
array([[ 3.,  3.],
       [12., 12.]])
>>> ARRAY_OPS["einsum1"].vjp(np.array(1.0), None, [np.ones((2, 2))],
...                          {"inputs": ("ii",), "output": ""})[0]   # the trace's
array([[1., 0.],
       [0., 1.]])
"""

import functools
import math

import numpy as np

from tapegrad.core import arena
from tapegrad.array.ops.table import declare, wanted


@functools.lru_cache(maxsize=1024)
def _matmul_plan(sa, shape_a, sb, shape_b, so):
    """How ``sa,sb->so`` runs as one (batched) matrix product, or None when
    ``np.einsum`` does as well: a label repeated in an operand, broadcast
    sizes, no summed axis, or no kept one (an elementwise or dot product)."""
    if len(set(sa)) < len(sa) or len(set(sb)) < len(sb):
        return None
    size = dict(zip(sa, shape_a))
    if any(size.get(label, n) != n for label, n in zip(sb, shape_b)):
        return None
    size.update(zip(sb, shape_b))
    batch = [label for label in so if label in sa and label in sb]
    left = [label for label in so if label in sa and label not in sb]
    right = [label for label in so if label in sb and label not in sa]
    summed = [label for label in sa if label in sb and label not in so]
    m, n, k = (math.prod(size[label] for label in labels) for labels in (left, right, summed))
    if k < 2 or m * n < 2:
        return None
    lone_a = tuple(i for i, label in enumerate(sa) if label not in sb and label not in so)
    lone_b = tuple(i for i, label in enumerate(sb) if label not in sa and label not in so)
    kept_a = [label for label in sa if label in sb or label in so]
    kept_b = [label for label in sb if label in sa or label in so]
    perm_a = tuple(kept_a.index(label) for label in batch + left + summed)
    perm_b = tuple(kept_b.index(label) for label in batch + summed + right)
    lead = (math.prod(size[label] for label in batch),) if batch else ()
    found = batch + left + right
    perm_out = tuple(found.index(label) for label in so)
    return (lone_a, _unless_identity(perm_a), lead + (m, k),
            lone_b, _unless_identity(perm_b), lead + (k, n),
            tuple(size[label] for label in found), _unless_identity(perm_out))


def _unless_identity(perm):
    return None if perm == tuple(range(len(perm))) else perm


def _matrix(x, lone, perm, shape):
    if lone:
        x = x.sum(axis=lone)
    if perm is not None:
        x = x.transpose(perm)
    return x.reshape(shape)


def contract(sa, a, sb, b, so):
    """``np.einsum(f"{sa},{sb}->{so}", a, b)``, on ``np.matmul`` where that is
    a matrix product (the arrays may be Tensors: ``np.einsum`` records then).

    >>> a, b = np.arange(6.0).reshape(3, 2), np.arange(6.0).reshape(2, 3)
    >>> contract("ji", a, "kj", b, "ki")   # b @ a, by BLAS
    array([[10., 13.],
           [28., 40.]])
    """
    if type(a) is np.ndarray and type(b) is np.ndarray:
        plan = _matmul_plan(sa, a.shape, sb, b.shape, so)
        if plan is not None:
            lone_a, perm_a, shape_a, lone_b, perm_b, shape_b, found, perm_out = plan
            x, y = _matrix(a, lone_a, perm_a, shape_a), _matrix(b, lone_b, perm_b, shape_b)
            dtype = np.result_type(x, y)
            if dtype.kind == "f":  # into a warm buffer: a fresh one costs page faults
                out = np.matmul(x, y, out=arena.empty(shape_a[:-1] + shape_b[-1:], dtype))
            else:
                out = np.matmul(x, y)
            out = out.reshape(found)
            return out if perm_out is None else out.transpose(perm_out)
    return np.einsum(f"{sa},{sb}->{so}", a, b)


def _value(args, params):
    inputs, output = params["inputs"], params["output"]
    if len(args) == 1:
        return np.einsum(f"{inputs[0]}->{output}", args[0])
    return contract(inputs[0], args[0], inputs[1], args[1], output)


@functools.lru_cache(maxsize=64)
def _spread_mask(sk, target, shape, dtype):
    """The constant that puts a gradient over ``target``'s labels back into
    an operand of subscripts ``sk`` and ``shape``: ones along the labels
    ``target`` lacks (summed in this operand alone), the identity across
    each repeated label's axes (its diagonal)."""
    ndim = len(sk)
    mask = np.ones([shape[i] if sk.count(sk[i]) > 1 or sk[i] not in target else 1
                    for i in range(ndim)], dtype)
    for label in dict.fromkeys(sk):
        axes = [i for i, c in enumerate(sk) if c == label]
        at = [np.arange(shape[p]).reshape([-1 if i == p else 1 for i in range(ndim)])
              for p in axes]
        for other in at[1:]:
            mask = mask * (at[0] == other)
    mask.flags.writeable = False
    return mask


def _spread(h, target, sk, shape):
    """``h`` (over ``target``: ``sk``'s labels in first-occurrence order, less
    those it lacks) as the gradient of an operand of subscripts ``sk``."""
    if target == sk:
        return h
    first = {label: sk.index(label) for label in target}
    h = h.reshape(tuple(n if first.get(label) == i else 1
                        for i, (label, n) in enumerate(zip(sk, shape))))
    if len(set(sk)) == len(sk) and type(h) is np.ndarray:
        return np.broadcast_to(h, shape)  # a view: only summed-away labels to fill
    return h * _spread_mask(sk, target, tuple(shape), np.dtype(h.dtype))


def _vjp(g, out, args, params):
    inputs, output = params["inputs"], params["output"]
    grads = []
    for k, sk in enumerate(inputs):
        if not wanted(params, k):
            grads.append(None)
            continue
        others = [(s, a) for j, (s, a) in enumerate(zip(inputs, args)) if j != k]
        reach = set(output).union(*(s for s, _ in others))
        target = "".join(label for label in dict.fromkeys(sk) if label in reach)
        if others:
            h = contract(output, g, *others[0], target)
        else:
            h = np.einsum(f"{output}->{target}", g)
        grads.append(_spread(h, target, sk, np.shape(args[k])))
    return tuple(grads)


@declare
class einsum:
    """a sum of products of two operands, ``inputs[0],inputs[1]->output``"""

    arity = 2
    bilinear = True
    value, vjp = _value, _vjp


@declare
class einsum1:
    """an operand's axes summed, transposed or taken on the diagonal, ``inputs[0]->output``"""

    linear = True
    value, vjp = _value, _vjp
