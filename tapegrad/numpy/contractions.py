"""NumPy's products and contractions on Values and Tensors.

``np.einsum`` (any subscripts: implicit or explicit output, ``...`` with
broadcasting, repeated labels, any number of operands, the sublist form) is
rewritten into plain subscripts (:mod:`tapegrad.numpy.einsum_subscripts`)
and recorded as the op table's ``einsum`` (two operands) or ``einsum1``
(one): n operands are contracted pairwise, in the order ``np.einsum_path``
gives, one record a pair.  The rest are built on it and on ``matmul``, with
no derivative code of their own: ``np.matmul``, ``np.dot``, ``np.vdot``,
``np.inner``, ``np.outer``, ``np.multiply.outer``, ``np.tensordot``,
``np.kron`` and ``np.cross``.  A contraction that is a matrix product runs
on BLAS (:mod:`tapegrad.array.ops.contraction`).

>>> import numpy as np, tapegrad as tg
>>> a = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> loss = np.einsum("ij,jk,k->", a, a, np.array([1.0, -1.0]))
>>> loss.backward(); a.grad
array([[ 3., -5.],
       [ 5., -7.]])
"""

import functools
import string
import warnings

import numpy as np

from tapegrad.core.numpy_protocol import implements, implements_method, passthrough
from tapegrad.scalar import Value
from tapegrad.array import Tensor, array_binary, matmul as _matmul
from tapegrad.array.tensor import recorder
from tapegrad.numpy.einsum_subscripts import from_sublists, parse_einsum

_FAMILY = "contractions"
_EINSUM, _EINSUM1 = recorder("einsum"), recorder("einsum1")
_LETTERS = string.ascii_letters


# --- operands ---------------------------------------------------------------

def _operand(name, x):
    """``x`` as a Tensor, Value or ndarray (lists and numbers become arrays)."""
    if isinstance(x, (Tensor, Value)):
        return x
    array = np.asarray(x)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{name}: tapegrad differentiates real numbers, not dtype {array.dtype}")
    return array


def _shape(x):
    return () if isinstance(x, Value) else x.shape


def _reshape(x, shape):
    if isinstance(x, Value):
        x = array_binary("mul", x, np.ones(()))  # a 0-d Tensor
    return x.reshape(shape)


def _refuse(name, out=None, defaults=None, **kwargs):
    """TypeError for ``out=`` and keyword arguments NumPy has but tapegrad
    does not (those given other values than ``defaults``)."""
    kwargs = {k: v for k, v in kwargs.items() if k not in (defaults or {}) or v != defaults[k]}
    if out is not None:
        raise TypeError(f"{name}(..., out=...) on a traced value: tapegrad records a new "
                        "array and never writes into one; drop out=")
    if kwargs:
        raise TypeError(f"{name}: keyword argument(s) {sorted(kwargs)} not supported on "
                        "traced values")


# --- einsum -----------------------------------------------------------------

@functools.lru_cache(maxsize=1024)
def _plan(subscripts, shapes):
    """``(inputs, output, squeezes)`` of ``parse_einsum``, less the axes of
    size 1 that broadcast against a larger size (the op's subscripts never
    broadcast): ``squeezes[k]`` is operand k's shape without them, or None."""
    inputs, output, sizes = parse_einsum(subscripts, shapes)
    squeezes = []
    for k, (s, shape) in enumerate(zip(inputs, shapes)):
        keep = [i for i, (label, n) in enumerate(zip(s, shape)) if n == sizes[label]]
        squeezes.append(None if len(keep) == len(s) else tuple(shape[i] for i in keep))
        inputs[k] = "".join(s[i] for i in keep)
    return tuple(inputs), output, tuple(squeezes)


def _pair(terms, output):
    """Record one contraction of one or two ``(subscripts, operand)`` terms."""
    inputs = tuple(s for s, _ in terms)
    record = _EINSUM if len(terms) == 2 else _EINSUM1
    return record([x for _, x in terms], inputs=inputs, output=output)


def _keep(labels, needed):
    return "".join(c for c in dict.fromkeys(labels) if c in needed)


@functools.lru_cache(maxsize=256)
def _path(subscripts, shapes, optimize):
    return np.einsum_path(subscripts, *(np.broadcast_to(0.0, shape) for shape in shapes),
                          optimize=optimize)[0]


def contract_path(inputs, output, operands, optimize):
    """Record ``inputs -> output`` on ``operands`` pairwise, in the order of
    ``np.einsum_path`` (greedy unless ``optimize`` names another)."""
    if len(operands) <= 2:
        return _pair(list(zip(inputs, operands)), output)
    if optimize is None or isinstance(optimize, bool):
        optimize = "greedy"
    shapes = tuple(_shape(x) for x in operands)
    find = _path if isinstance(optimize, str) else _path.__wrapped__
    path = find(",".join(inputs) + "->" + output, shapes, optimize)
    terms = list(zip(inputs, operands))
    for step in path[1:]:
        picked = [terms[i] for i in step]
        terms = [t for i, t in enumerate(terms) if i not in step]
        while True:
            pair, rest = picked[:2], picked[2:]
            if not terms and not rest:
                labels = output
            else:
                needed = set(output).union(*(s for s, _ in terms + rest))
                labels = _keep("".join(s for s, _ in pair), needed)
            if len(pair) == 2 or labels != pair[0][0]:
                pair = [(labels, _pair(pair, labels))]
            picked = pair + rest
            if not rest:
                break
        terms.append(picked[0])
    (s, x), = terms
    return x if s == output else _pair([(s, x)], output)


@implements(np.einsum, family=_FAMILY,
            note="one record per pair, in np.einsum_path's order; matrix products on BLAS")
def einsum(*operands, out=None, optimize=False, **kwargs):
    """``np.einsum`` recorded: see the module docstring.

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> np.einsum("ii", x).value, np.einsum("...i,i->...", x, np.ones(2)).value
    (array(5.), array([3., 7.]))
    """
    if out is not None or kwargs:
        _refuse("numpy.einsum", out, {"dtype": None, "order": "K", "casting": "safe"}, **kwargs)
    if operands and isinstance(operands[0], str):
        subscripts, operands = operands[0], operands[1:]
    else:
        subscripts, operands = from_sublists(operands)
    operands = [_operand("numpy.einsum", x) for x in operands]
    inputs, output, squeezes = _plan(subscripts, tuple(_shape(x) for x in operands))
    operands = [x if shape is None else _reshape(x, shape)
                for x, shape in zip(operands, squeezes)]
    return contract_path(inputs, output, operands, optimize)


passthrough(np.einsum_path, family=_FAMILY, reads=False, note="metadata: shapes only")


# --- the products built on einsum and matmul -------------------------------

def _pair_of(name, a, b):
    return _operand(name, a), _operand(name, b)


def _ravel(x):
    return x if len(_shape(x)) == 1 else _reshape(x, (-1,))


def _aligned(name, sa, sb):
    """ValueError unless the last axis of ``sa`` meets the second-to-last (or only) of ``sb``."""
    k = sb[-2] if len(sb) > 1 else sb[0]
    if sa[-1] != k:
        raise ValueError(f"{name}: shapes {sa} and {sb} not aligned: {sa[-1]} "
                         f"(dim {len(sa) - 1}) != {k} (dim {max(len(sb) - 2, 0)})")


_MATMUL_DEFAULTS = {"casting": "same_kind", "order": "K", "dtype": None, "subok": True,
                    "signature": None, "axes": None, "axis": None}


@implements(np.matmul, family=_FAMILY, note="the op table's `matmul` (BLAS)")
def matmul(x1, x2, **kwargs):
    """``np.matmul`` (and ``ndarray @ Tensor``): the op table's ``matmul``.

    >>> import numpy as np, tapegrad as tg
    >>> np.matmul(np.ones((2, 1, 3)), tg.tensor([1.0, 2.0, 3.0])).shape
    (2, 1)
    """
    _refuse("numpy.matmul", None, _MATMUL_DEFAULTS, **kwargs)
    a, b = _pair_of("numpy.matmul", x1, x2)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        raise ValueError(f"numpy.matmul: operand {0 if not sa else 1} is 0-d; matmul needs "
                         "at least one axis (np.multiply multiplies by a scalar)")
    _aligned("numpy.matmul", sa, sb)
    try:
        np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise ValueError(f"numpy.matmul: the batch axes of shapes {sa} and {sb} do not "
                         "broadcast") from None
    return _matmul(a, b)


@implements(np.dot, family=_FAMILY, note="matmul up to 2-D and with a vector, else einsum")
def dot(a, b, out=None):
    """``np.dot``: a product with a scalar, ``matmul`` where the two agree
    (both at most 2-D, or either a vector), else an ``einsum`` over the
    last axis of ``a`` and the second-to-last of ``b``.

    >>> import numpy as np, tapegrad as tg
    >>> np.dot(tg.tensor(np.ones((2, 3, 4))), np.ones((5, 4, 6))).shape
    (2, 3, 5, 6)
    """
    _refuse("numpy.dot", out)
    a, b = _pair_of("numpy.dot", a, b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return a * b
    _aligned("numpy.dot", sa, sb)
    if len(sa) == 1 or len(sb) == 1 or (len(sa) == 2 and len(sb) == 2):
        return _matmul(a, b)
    na, nb = len(sa), len(sb)
    la, free, r = _LETTERS[:na], _LETTERS[na:na + nb - 2], _LETTERS[na + nb - 2]
    return einsum(f"{la},{free}{la[-1]}{r}->{la[:-1]}{free}{r}", a, b)


@implements(np.vdot, family=_FAMILY, note="both flattened, then matmul")
def vdot(a, b):
    """``np.vdot``: the sum of the products of the flattened operands (real, so no conjugate).

    >>> import numpy as np, tapegrad as tg
    >>> np.vdot(tg.tensor([[1.0, 2.0], [3.0, 4.0]]), np.ones((4,))).value
    array(10.)
    """
    a, b = _pair_of("numpy.vdot", a, b)
    sizes = [int(np.prod(_shape(x))) for x in (a, b)]
    if sizes[0] != sizes[1]:
        raise ValueError(f"numpy.vdot: operands of {sizes[0]} and {sizes[1]} elements")
    if not _shape(a) and not _shape(b):
        return a * b
    return _matmul(_ravel(a), _ravel(b))


@implements(np.inner, family=_FAMILY, note="einsum over the last axes (matmul with a vector)")
def inner(a, b):
    """``np.inner``: the sum of products over the last axes.

    >>> import numpy as np, tapegrad as tg
    >>> np.inner(tg.tensor(np.ones((2, 3))), np.ones((4, 5, 3))).shape
    (2, 4, 5)
    """
    a, b = _pair_of("numpy.inner", a, b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return a * b
    if sa[-1] != sb[-1]:
        raise ValueError(f"numpy.inner: shapes {sa} and {sb}: last axes differ")
    if len(sb) == 1:
        return _matmul(a, b)
    na, nb = len(sa), len(sb)
    la, lb = _LETTERS[:na], _LETTERS[na:na + nb - 1]
    return einsum(f"{la},{lb}{la[-1]}->{la[:-1]}{lb}", a, b)


@implements(np.outer, family=_FAMILY, note="both flattened, then einsum")
def outer(a, b, out=None):
    """``np.outer``: every product of the flattened operands, as a matrix.

    >>> import numpy as np, tapegrad as tg
    >>> np.outer(tg.tensor([1.0, 2.0]), np.array([[1.0, 10.0]])).value
    array([[ 1., 10.],
           [ 2., 20.]])
    """
    _refuse("numpy.outer", out)
    a, b = _pair_of("numpy.outer", a, b)
    return einsum("i,j->ij", _ravel(a), _ravel(b))


@implements_method(np.multiply, "outer", family=_FAMILY, note="einsum")
def multiply_outer(a, b, **kwargs):
    """``np.multiply.outer``: every product, of shape ``a.shape + b.shape``.

    >>> import numpy as np, tapegrad as tg
    >>> np.multiply.outer(tg.tensor(np.ones((2, 3))), np.ones(4)).shape
    (2, 3, 4)
    """
    _refuse("numpy.multiply.outer", **kwargs)
    a, b = _pair_of("numpy.multiply.outer", a, b)
    na, nb = len(_shape(a)), len(_shape(b))
    if not na and not nb:
        return a * b
    la, lb = _LETTERS[:na], _LETTERS[na:na + nb]
    return einsum(f"{la},{lb}->{la}{lb}", a, b)


@implements(np.tensordot, family=_FAMILY, note="einsum (a matrix product on BLAS)")
def tensordot(a, b, axes=2):
    """``np.tensordot``: the sum of products over ``axes`` (the last ``axes``
    of ``a`` with the first of ``b``, or a pair of axis lists).

    >>> import numpy as np, tapegrad as tg
    >>> np.tensordot(tg.tensor(np.ones((2, 3, 4))), np.ones((4, 3, 5)), ([1, 2], [1, 0])).shape
    (2, 5)
    """
    a, b = _pair_of("numpy.tensordot", a, b)
    sa, sb = _shape(a), _shape(b)
    na, nb = len(sa), len(sb)
    if not isinstance(axes, (list, tuple, np.ndarray)):
        n = int(axes)
        if n < 0 or n > min(na, nb):
            raise ValueError(f"numpy.tensordot: axes={n} for operands of {na} and {nb} dimensions")
        axes_a, axes_b = list(range(na - n, na)), list(range(n))
    elif len(axes) != 2:
        raise ValueError("numpy.tensordot: axes must be an integer or a pair of axis lists")
    else:
        axes_a, axes_b = ([int(k) for k in np.atleast_1d(x)] for x in axes)
    if len(axes_a) != len(axes_b):
        raise ValueError("numpy.tensordot: shape-mismatch for sum (as many axes of a as of b)")
    for axes_, n, which in ((axes_a, na, "a"), (axes_b, nb, "b")):
        if any(not -n <= k < n for k in axes_):
            raise ValueError(f"numpy.tensordot: axis out of bounds for {which} of {n} dimensions")
        axes_[:] = [k % n for k in axes_]
        if len(set(axes_)) < len(axes_):
            raise ValueError(f"numpy.tensordot: repeated axis of {which}")
    if any(sa[i] != sb[j] for i, j in zip(axes_a, axes_b)):
        raise ValueError(f"numpy.tensordot: shape-mismatch for sum ({sa} and {sb})")
    la = _LETTERS[:na]
    lb = "".join(la[axes_a[axes_b.index(j)]] if j in axes_b else _LETTERS[na + j]
                 for j in range(nb))
    kept = [la[i] for i in range(na) if i not in axes_a] + [lb[j] for j in range(nb)
                                                            if j not in axes_b]
    return einsum(f"{la},{lb}->{''.join(kept)}", a, b)


@implements(np.kron, family=_FAMILY, note="einsum of the interleaved axes, reshaped")
def kron(a, b):
    """``np.kron``: the Kronecker product (the shorter shape padded with leading ones).

    >>> import numpy as np, tapegrad as tg
    >>> np.kron(tg.tensor([1.0, 10.0]), np.array([1.0, 2.0, 3.0])).value
    array([ 1.,  2.,  3., 10., 20., 30.])
    """
    a, b = _pair_of("numpy.kron", a, b)
    sa, sb = _shape(a), _shape(b)
    nd = max(len(sa), len(sb))
    if nd == 0:
        return a * b
    pa, pb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    la, lb = _LETTERS[:nd], _LETTERS[nd:2 * nd]
    out = "".join((la[i] if i >= nd - len(sa) else "") + (lb[i] if i >= nd - len(sb) else "")
                  for i in range(nd))
    product = einsum(f"{la[nd - len(sa):]},{lb[nd - len(sb):]}->{out}", a, b)
    return _reshape(product, tuple(x * y for x, y in zip(pa, pb)))


_LEVI_CIVITA = np.fromfunction(lambda i, j, k: (i - j) * (j - k) * (k - i) // 2, (3, 3, 3),
                               dtype=np.int8)


def _dtype(x):
    return np.dtype(np.float64) if isinstance(x, Value) else x.dtype


def _axis(which, k, n):
    if not -n <= k < n:
        raise ValueError(f"numpy.cross: {which}={k} is out of bounds for {n} dimensions")
    return k % n


@implements(np.cross, family=_FAMILY, note="einsum with the Levi-Civita symbol")
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``np.cross``: the cross product of 3-vectors (2-vectors deprecated, as NumPy).

    >>> import numpy as np, tapegrad as tg
    >>> np.cross(tg.tensor([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])).value
    array([0., 0., 1.])
    """
    a, b = _pair_of("numpy.cross", a, b)
    if axis is not None:
        axisa = axisb = axisc = axis
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        raise ValueError("numpy.cross: the operands must be vectors, not 0-d")
    axisa, axisb = _axis("axisa", axisa, len(sa)), _axis("axisb", axisb, len(sb))
    da, db = sa[axisa], sb[axisb]
    if da not in (2, 3) or db not in (2, 3):
        raise ValueError("numpy.cross: incompatible dimensions for cross product "
                         "(dimension must be 2 or 3)")
    rest_a, rest_b = sa[:axisa] + sa[axisa + 1:], sb[:axisb] + sb[axisb + 1:]
    try:
        np.broadcast_shapes(rest_a, rest_b)
    except ValueError:
        raise ValueError(f"numpy.cross: shapes {sa} and {sb} do not broadcast") from None
    if 2 in (da, db):
        warnings.warn("Arrays of 2-dimensional vectors are deprecated. Use arrays of "
                      "3-dimensional vectors instead. (deprecated in NumPy 2.0)",
                      DeprecationWarning, stacklevel=3)
    nr = max(len(rest_a), len(rest_b))
    rest, (j, k, i) = _LETTERS[:nr], _LETTERS[nr:nr + 3]
    la, lb, out = list(rest[nr - len(rest_a):]), list(rest[nr - len(rest_b):]), list(rest)
    la.insert(axisa, j)
    lb.insert(axisb, k)
    eps = _LEVI_CIVITA[:, :da, :db].astype(np.result_type(_dtype(a), _dtype(b)))
    if da == db == 2:
        eps, levi = eps[2], j + k
    else:
        out.insert(_axis("axisc", axisc, nr + 1), i)
        levi = i + j + k
    return einsum(f"{''.join(la)},{''.join(lb)},{levi}->{''.join(out)}", a, b, eps)


__all__ = ["contract_path"]
