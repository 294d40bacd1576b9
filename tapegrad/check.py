"""``check_grad``: reverse mode, forward mode and central differences, compared.

In the manner of ``torch.autograd.gradcheck``: the gradient of ``f`` at
``x`` is computed three independent ways and each pair must agree within
``atol + rtol * |reference|``.  A disagreement means a wrong derivative
rule (of the table, or of a user's ``@tapegrad.primitive``), a function
that leaves the tape (``.data`` inside ``f``), or a point at a kink or jump
of ``f``.  ``f`` takes numbers, 1-D arrays of them, or a Tensor.

>>> import tapegrad as tg
>>> result = tg.check_grad(lambda x: tg.tanh(x[0]) * x[1] ** 3, [0.5, -1.0])
>>> bool(result), result.abs_error < 1e-8
(True, True)
>>> result.forward.round(6).tolist()   # -sech(0.5)**2, 3 tanh(0.5)
[-0.786448, 1.386351]
"""

from dataclasses import dataclass

import numpy as np

from tapegrad.scalar.dual import Dual
from tapegrad.scalar.value import Value, as_number
from tapegrad.core.tape import Tape
from tapegrad.array.tensor import Tensor, tensor
from tapegrad.replay import record

__all__ = ["check_grad", "GradCheck"]

#: The pairs compared, each as (gradient, reference): ``|g - ref| <= atol + rtol * |ref|``.
_PAIRS = (("reverse", "forward"), ("reverse", "central"), ("forward", "central"))


@dataclass(frozen=True, eq=False)
class GradCheck:
    """What :func:`check_grad` found; true when every pair agreed.

    ``reverse``, ``forward`` and ``central`` are the three gradients (one
    entry per input); ``abs_error`` and ``rel_error`` the largest absolute
    and relative disagreement between any pair at any input; ``worst_input``
    and ``worst_pair`` where the disagreement was largest against its
    tolerance.
    """

    value: float
    reverse: np.ndarray
    forward: np.ndarray
    central: np.ndarray
    abs_error: float
    rel_error: float
    worst_input: int
    worst_pair: tuple
    ok: bool

    def __bool__(self):
        return self.ok


def check_grad(f, x, *, rtol=1e-3, atol=1e-5, eps=1e-6, raise_exception=True):
    """Check the gradient of scalar ``f`` at ``x`` three ways: reverse mode
    (``Value`` leaves on a fresh :class:`~tapegrad.Tape`, then
    ``backward()``), forward mode (:class:`~tapegrad.Dual` inputs whose
    tangents are the rows of the identity: every direction in one pass) and
    central differences of step ``eps`` on plain floats.

    ``x`` is a number or a 1-D sequence of them.  ``f`` is called with the
    same kind of argument each time: a number (a ``Value``, a ``Dual`` or a
    float), or a 1-D NumPy array of them (``dtype=object`` for Values and
    Duals, so ``x[0] * x[1]``, ``x.sum()`` and ``np.exp(x)`` work in all three
    modes).  It returns one number: a Value, a Dual, or a float if it does
    not depend on ``x``.

    Array code: when ``x`` is a :class:`~tapegrad.Tensor` (of any shape), or
    a 1-D sequence that ``f`` refuses as an array of Values (TypeError, as a
    primitive does), ``f`` gets a Tensor leaf in reverse mode, a float64
    array for central differences, and forward mode is the tangent sweep of
    ``tapegrad.record(f, x)`` along each input (each op's ``jvp``).  It
    returns a one-element Tensor, a Value or a number.

    Returns a :class:`GradCheck`, true when all three agree within ``atol +
    rtol * |reference|`` (defaults as in ``torch.autograd.gradcheck``); with
    ``raise_exception`` (the default) a disagreement raises AssertionError
    naming the worst input instead.

    >>> import tapegrad as tg
    >>> tg.check_grad(lambda v: tg.sin(v) * v, 1.0).reverse.round(6).tolist()
    [1.381773]
    >>> def jump(x):                       # a step no derivative can see
    ...     return x[0] * x[1] + (1.0 if x[1] > 0.5 else 0.0)
    >>> tg.check_grad(jump, [2.0, 0.5])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: check_grad: gradients disagree at input 1 (x[1] = 0.5): ...
    >>> result = tg.check_grad(jump, [2.0, 0.5], raise_exception=False)
    >>> bool(result), result.worst_input, result.worst_pair
    (False, 1, ('reverse', 'central'))
    >>> import numpy as np
    >>> bool(tg.check_grad(lambda t: (t @ t.T).sum(), tg.tensor(np.ones((2, 3)))))
    True
    """
    point, shape = _point(x)
    value = _plain(f, point, shape)
    if shape == "objects":
        try:
            reverse = _reverse(f, point, shape)
        except TypeError as error:  # f may take a Tensor instead
            refused = error
            try:
                reverse = _reverse(f, point, point.shape)
            except Exception:
                raise refused from None
            shape = point.shape
    else:
        reverse = _reverse(f, point, shape)
    grads = {
        "reverse": reverse,
        "forward": _forward(f, point, shape),
        "central": _central(f, point, shape, eps),
    }
    worst, abs_error, rel_error = (-1.0, None, None), 0.0, 0.0
    for pair in _PAIRS:
        diff, rel, excess = _disagreement(grads[pair[0]], grads[pair[1]], rtol, atol)
        abs_error, rel_error = max(abs_error, diff.max()), max(rel_error, rel.max())
        k = int(np.argmax(excess))
        if excess[k] > worst[0]:
            worst = (excess[k], k, pair)
    result = GradCheck(value, grads["reverse"], grads["forward"], grads["central"],
                       float(abs_error), float(rel_error), worst[1], worst[2],
                       ok=bool(worst[0] <= 1.0))
    if raise_exception and not result:
        raise AssertionError(_message(result, point, shape, rtol, atol, eps))
    return result


def _point(x):
    """``x`` as a 1-D float array, and how ``f`` takes it: ``"number"``
    (one), ``"objects"`` (a 1-D array of them) or a Tensor's shape."""
    number = as_number(x)
    if number is not None:
        return np.array([number]), "number"
    if isinstance(x, Tensor):
        point = x.value
        if point.dtype.kind not in "biuf":
            raise TypeError(f"check_grad() takes a Tensor of real numbers, not {point.dtype}")
        return point.astype(np.float64).reshape(-1), point.shape
    if isinstance(x, (Value, Dual)):
        raise TypeError(f"check_grad() takes the point as plain numbers, not a {type(x).__name__}")
    point = np.asarray(x)
    if point.ndim != 1 or point.dtype.kind not in "biuf":
        raise TypeError("check_grad() takes a real number, a 1-D sequence of them or a "
                        f"Tensor, not {type(x).__name__} of dtype {point.dtype} and shape "
                        f"{point.shape} (pass tapegrad.tensor(x) for array code)")
    return point.astype(np.float64), "objects"


def _call(f, items, shape):
    """``f`` of one item, of a 1-D array of ``items`` (floats, or objects),
    or of ``items`` (floats) in a Tensor's shape; a one-element array
    result is unwrapped."""
    if shape == "number":
        out = f(items[0])
    elif shape == "objects":
        array = np.empty(len(items), dtype=np.float64 if isinstance(items, np.ndarray) else object)
        for k, item in enumerate(items):  # one by one: a Value is no array to convert
            array[k] = item
        out = f(array)
    else:
        out = f(np.array(items, dtype=np.float64).reshape(shape))
    if isinstance(out, np.ndarray):
        if out.size != 1:
            raise ValueError(f"check_grad() needs f to return a scalar, not shape {out.shape}")
        out = out.reshape(-1)[0]
    return out


def _plain(f, point, shape):
    """``f`` at ``point`` on floats: a float, or a TypeError."""
    out = _call(f, point, shape)
    number = None if isinstance(out, (Value, Dual)) else as_number(out)
    if number is None:
        raise TypeError(f"check_grad() needs f to return a number for float input, "
                        f"not {type(out).__name__}")
    return number


def _constant(out, kind, n):
    """A result that is not a ``kind``: a number (zero gradient), else TypeError."""
    if not isinstance(out, (Value, Dual)) and as_number(out) is not None:
        return np.zeros(n)
    raise TypeError(f"check_grad() needs f to return a {kind.__name__} or a number "
                    f"for {kind.__name__} input, not {type(out).__name__}")


def _reverse(f, point, shape):
    if isinstance(shape, tuple):
        return _reverse_tensor(f, point, shape)
    leaves = [Value(p) for p in point]
    with Tape():
        out = _call(f, leaves, shape)
    if out.__class__ is not Value:
        return _constant(out, Value, len(point))
    out.backward()
    return np.array([leaf.grad for leaf in leaves])


def _tensor_output(out):
    """``f``'s result on a Tensor: a Value, a one-element Tensor or a number."""
    if isinstance(out, Tensor) and out.size != 1:
        raise ValueError(f"check_grad() needs f to return a scalar, not shape {out.shape}")
    if isinstance(out, (Tensor, Value)) or as_number(out) is not None:
        return out
    raise TypeError(f"check_grad() needs f to return a Tensor, a Value or a number for "
                    f"Tensor input, not {type(out).__name__}")


def _reverse_tensor(f, point, shape):
    leaf = tensor(point.reshape(shape), requires_grad=True)
    with Tape():
        out = _tensor_output(f(leaf))
    if not isinstance(out, (Tensor, Value)):
        return np.zeros(len(point))
    out.backward()
    return np.zeros(len(point)) if leaf.grad is None else leaf.grad.reshape(-1).copy()


def _forward(f, point, shape):
    n = len(point)
    if isinstance(shape, tuple):  # the tangent sweep of a recording, one input at a time
        rec = record(lambda t: _tensor_output(f(t)), tensor(point.reshape(shape)))
        x = point.reshape(shape)
        return np.array([np.reshape(rec.jvp(x, e.reshape(shape))[1], -1)[0]
                         for e in np.eye(n)], dtype=np.float64).reshape(n)
    out = _call(f, [Dual(p, row) for p, row in zip(point, np.eye(n))], shape)
    if out.__class__ is not Dual:
        return _constant(out, Dual, n)
    return np.broadcast_to(out.tangent, (n,)).astype(np.float64)


def _central(f, point, shape, eps):
    grad = np.empty(len(point))
    for k in range(len(point)):
        up, down = point.copy(), point.copy()
        up[k] += eps
        down[k] -= eps
        grad[k] = (_plain(f, up, shape) - _plain(f, down, shape)) / (2.0 * eps)
    return grad


def _disagreement(g, ref, rtol, atol):
    """Per input: ``|g - ref|``, that over ``|ref|``, and that over the
    tolerance (above 1 fails).  Equal infinities agree; a nan never does."""
    with np.errstate(all="ignore"):
        agree = g == ref
        diff = np.where(agree, 0.0, np.abs(g - ref))
        diff[np.isnan(diff)] = np.inf
        finite = np.isfinite(diff)
        scale = np.abs(ref)
        rel = np.where(agree, 0.0, np.where(finite, diff / scale, np.inf))
        excess = np.where(agree, 0.0, np.where(finite, diff / (atol + rtol * scale), np.inf))
    return diff, rel, excess


def _message(result, point, shape, rtol, atol, eps):
    k, (a, b) = result.worst_input, result.worst_pair
    index = k if not isinstance(shape, tuple) else ", ".join(
        str(int(i)) for i in np.unravel_index(k, shape))
    where = f"x = {float(point[0])!r}" if shape == "number" else f"x[{index}] = {float(point[k])!r}"
    grads = ", ".join(f"{name} {float(getattr(result, name)[k])!r}"
                      for name in ("reverse", "forward", "central"))
    diff, rel, _ = _disagreement(getattr(result, a)[k:k + 1], getattr(result, b)[k:k + 1],
                                 rtol, atol)
    return (f"check_grad: gradients disagree at input {k} ({where}): {grads} "
            f"(central differences of step {eps}); {a} vs {b}: |difference| {diff[0]:.6g}, "
            f"relative {rel[0]:.6g}; allowed: atol + rtol * |{b}| with atol={atol}, rtol={rtol}")
