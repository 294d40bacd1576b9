"""The functional API, in JAX's vocabulary, as thin layers over :func:`record`.

Each transformed function records ``f`` at the arguments it is called with
and asks the recording for what it needs, so it is always correct for the
arguments given (nothing is cached between calls: use :func:`record`
directly to replay one recording many times).

>>> import numpy as np, tapegrad as tg
>>> def f(x, y):
...     return tg.sin(x) * y ** 2
>>> tg.grad(f)(0.0, 3.0)
9.0
>>> tg.grad(f, argnums=(0, 1))(0.0, 3.0)
(9.0, 0.0)
>>> tg.jvp(f, (0.0, 3.0), (1.0, 0.0))
(0.0, 9.0)

A transform of a transform (``tg.grad(tg.grad(f))``) raises TypeError
naming :func:`hessian` and :func:`hvp`, which compute second derivatives:
the inner transform would be called on traced values, and its sweeps
record nothing (:func:`tapegrad.replay.record.refuse_traced`).
"""

from tapegrad.replay import record
from tapegrad.replay.record import refuse_traced
from tapegrad.scalar import Value

__all__ = ["grad", "value_and_grad", "jacobian", "hessian", "jvp", "vjp", "hvp"]


def _numbers(tree):
    """``tree`` with every Value replaced by its number (for ``aux``)."""
    if tree.__class__ is Value:
        return tree._v
    if isinstance(tree, (tuple, list)):
        return type(tree)(_numbers(item) for item in tree)
    if isinstance(tree, dict):
        return {key: _numbers(item) for key, item in tree.items()}
    return tree


def _specialise(f, args, argnums, has_aux=False, what="grad"):
    """``(g, x0, single, aux)``: ``g`` takes the tuple of the arguments named
    by ``argnums`` and calls ``f`` with the others fixed; ``aux`` collects
    ``f``'s auxiliary result (as numbers) when ``has_aux``.  Traced
    arguments (nested differentiation) raise, naming the transform ``what``."""
    refuse_traced(args, f"tapegrad.{what}(f)(x)")
    single = isinstance(argnums, int)
    numbers = (argnums,) if single else tuple(argnums)
    for i in numbers:
        if not -len(args) <= i < len(args):
            raise ValueError(f"argnums {argnums!r} names argument {i}, but f got "
                             f"{len(args)} arguments")
    aux = []

    def g(traced):
        full = list(args)
        for i, value in zip(numbers, traced):
            full[i] = value
        out = f(*full)
        if not has_aux:
            return out
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError("with has_aux=True, f must return a pair (output, aux)")
        aux.append(_numbers(out[1]))
        return out[0]

    return g, tuple(args[i] for i in numbers), single, aux


def value_and_grad(f, argnums=0, has_aux=False):
    """A function returning ``(f(*args), gradient)`` of a scalar ``f``, with
    respect to argument ``argnums`` (or a tuple of gradients for a tuple of
    argnums); ``((value, aux), gradient)`` with ``has_aux``.

    >>> import tapegrad as tg
    >>> tg.value_and_grad(lambda x: (x * x, "aux"), has_aux=True)(3.0)
    ((9.0, 'aux'), 6.0)
    """
    return _value_and_grad(f, argnums, has_aux, "value_and_grad")


def _value_and_grad(f, argnums, has_aux, what):
    def value_and_grad_f(*args):
        g, x0, single, aux = _specialise(f, args, argnums, has_aux, what)
        value, gradient = record(g, x0).value_and_grad(x0)
        gradient = gradient[0] if single else gradient
        return ((value, aux[0]) if has_aux else value), gradient

    return value_and_grad_f


def grad(f, argnums=0, has_aux=False):
    """A function returning the gradient of a scalar ``f`` (see
    :func:`value_and_grad`); ``(gradient, aux)`` with ``has_aux``.

    >>> import numpy as np, tapegrad as tg
    >>> tg.grad(lambda x: sum(v * v for v in x))(np.array([1.0, 2.0]))
    array([2., 4.])
    """

    def grad_f(*args):
        (value_aux, gradient) = _value_and_grad(f, argnums, has_aux, "grad")(*args)
        return (gradient, value_aux[1]) if has_aux else gradient

    return grad_f


def jacobian(f, argnums=0):
    """A function returning d f / d(argument ``argnums``), shape (m, n) for
    ``m`` outputs and ``n`` (flattened) inputs, (n,) for a scalar ``f``.

    >>> import numpy as np, tapegrad as tg
    >>> tg.jacobian(lambda x: [x[0] * x[1], x[0]])(np.array([2.0, 3.0]))
    array([[3., 2.],
           [1., 0.]])
    """

    def jacobian_f(*args):
        g, x0, single, _ = _specialise(f, args, argnums, what="jacobian")
        if not single:
            raise ValueError("jacobian takes one argnums; flatten several into one array")
        return record(g, x0).jacobian(x0)

    return jacobian_f


def hessian(f, argnums=0):
    """A function returning the Hessian of a scalar ``f`` with respect to
    argument ``argnums``, shape (n, n) over its flattened inputs.

    >>> import numpy as np, tapegrad as tg
    >>> tg.hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 2.0]))
    array([[4., 2.],
           [2., 0.]])
    """

    def hessian_f(*args):
        g, x0, single, _ = _specialise(f, args, argnums, what="hessian")
        if not single:
            raise ValueError("hessian takes one argnums; flatten several into one array")
        return record(g, x0).hessian(x0)

    return hessian_f


def jvp(f, primals, tangents):
    """``(f(*primals), df . tangents)``: forward mode along ``tangents``
    (a tuple shaped like ``primals``).

    >>> import tapegrad as tg
    >>> tg.jvp(lambda x, y: x * y, (2.0, 3.0), (1.0, 1.0))
    (6.0, 5.0)
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    g, x0, _, _ = _specialise(f, primals, tuple(range(len(primals))), what="jvp")
    return record(g, x0).jvp(x0, tangents)


def vjp(f, *primals):
    """``(f(*primals), vjp_fn)``; ``vjp_fn(w)`` returns the tuple of
    cotangents ``w . df/d(primal)``, one per primal.

    >>> import tapegrad as tg
    >>> out, vjp_fn = tg.vjp(lambda x, y: [x * y, x], 2.0, 3.0)
    >>> out.tolist(), vjp_fn([1.0, 10.0])
    ([6.0, 2.0], (13.0, 2.0))
    """
    g, x0, _, _ = _specialise(f, primals, tuple(range(len(primals))), what="vjp")
    rec = record(g, x0)
    out = rec(x0)

    def vjp_fn(w):
        weights = [w] if rec.scalar_output else w
        return rec.vjp(x0, weights)[1]

    return out, vjp_fn


def hvp(f, x, v):
    """The Hessian of the scalar ``f`` at ``x`` times ``v`` (``v`` shaped
    like ``x``), by forward over reverse: no Hessian is formed.

    >>> import numpy as np, tapegrad as tg
    >>> tg.hvp(lambda x: x[0] ** 2 * x[1], np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    array([4., 2.])
    """
    refuse_traced(x, "tapegrad.hvp(f, x, v)")
    return record(f, x).hvp(x, v)
