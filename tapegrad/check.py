"""``check_grad``: reverse mode, forward mode and central differences, compared.

In the manner of ``torch.autograd.gradcheck``: the gradient of ``f`` at
``x`` is computed three independent ways and each pair must agree within
``atol + rtol * |reference|``.  A disagreement means a wrong derivative
rule, a function that leaves the tape (``.data`` inside ``f``), or a point
at a kink or jump of ``f``.

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
    """
    point, scalar = _point(x)
    value = _plain(f, point, scalar)
    grads = {
        "reverse": _reverse(f, point, scalar),
        "forward": _forward(f, point, scalar),
        "central": _central(f, point, scalar, eps),
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
        raise AssertionError(_message(result, point, scalar, rtol, atol, eps))
    return result


def _point(x):
    """``x`` as a 1-D float array, and whether it was a single number."""
    number = as_number(x)
    if number is not None:
        return np.array([number]), True
    if isinstance(x, (Value, Dual)):
        raise TypeError(f"check_grad() takes the point as plain numbers, not a {type(x).__name__}")
    point = np.asarray(x)
    if point.ndim != 1 or point.dtype.kind not in "biuf":
        raise TypeError("check_grad() takes a real number or a 1-D sequence of them, "
                        f"not {type(x).__name__} of dtype {point.dtype} and shape {point.shape}")
    return point.astype(np.float64), False


def _call(f, items, scalar):
    """``f`` of one item, or of a 1-D array of ``items`` (floats, or objects);
    a one-element array result is unwrapped."""
    if scalar:
        out = f(items[0])
    else:
        array = np.empty(len(items), dtype=np.float64 if isinstance(items, np.ndarray) else object)
        for k, item in enumerate(items):  # one by one: a Value is no array to convert
            array[k] = item
        out = f(array)
    if isinstance(out, np.ndarray):
        if out.size != 1:
            raise ValueError(f"check_grad() needs f to return a scalar, not shape {out.shape}")
        out = out.reshape(-1)[0]
    return out


def _plain(f, point, scalar):
    """``f`` at ``point`` on floats: a float, or a TypeError."""
    out = _call(f, point, scalar)
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


def _reverse(f, point, scalar):
    leaves = [Value(p) for p in point]
    with Tape():
        out = _call(f, leaves, scalar)
    if out.__class__ is not Value:
        return _constant(out, Value, len(point))
    out.backward()
    return np.array([leaf.grad for leaf in leaves])


def _forward(f, point, scalar):
    n = len(point)
    out = _call(f, [Dual(p, row) for p, row in zip(point, np.eye(n))], scalar)
    if out.__class__ is not Dual:
        return _constant(out, Dual, n)
    return np.broadcast_to(out.tangent, (n,)).astype(np.float64)


def _central(f, point, scalar, eps):
    grad = np.empty(len(point))
    for k in range(len(point)):
        up, down = point.copy(), point.copy()
        up[k] += eps
        down[k] -= eps
        grad[k] = (_plain(f, up, scalar) - _plain(f, down, scalar)) / (2.0 * eps)
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


def _message(result, point, scalar, rtol, atol, eps):
    k, (a, b) = result.worst_input, result.worst_pair
    where = f"x = {float(point[0])!r}" if scalar else f"x[{k}] = {float(point[k])!r}"
    grads = ", ".join(f"{name} {float(getattr(result, name)[k])!r}"
                      for name in ("reverse", "forward", "central"))
    diff, rel, _ = _disagreement(getattr(result, a)[k:k + 1], getattr(result, b)[k:k + 1],
                                 rtol, atol)
    return (f"check_grad: gradients disagree at input {k} ({where}): {grads} "
            f"(central differences of step {eps}); {a} vs {b}: |difference| {diff[0]:.6g}, "
            f"relative {rel[0]:.6g}; allowed: atol + rtol * |{b}| with atol={atol}, rtol={rtol}")
