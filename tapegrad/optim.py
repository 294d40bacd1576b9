"""Optimizers shaped like ``torch.optim``, with PyTorch's arithmetic.

:class:`SGD` and :class:`Adam` update each parameter's ``.value`` from its
``.grad`` with the same floating-point operations, in the same order, as
PyTorch's single-tensor ("for-loop") implementations on the CPU
(``torch/optim/sgd.py`` and ``adam.py``), so a float64 run agrees with
PyTorch's to the last bit (see :class:`Adam` for the one exception).  Where
a PyTorch kernel rounds once (``x.add(y, alpha=a)``, ``lerp``, ``addcmul``
are fused multiply-adds in its vectorised CPU code), so does this module,
through :func:`fma`.

A parameter is anything with a NumPy ``.value`` and a ``.grad``: a
:class:`~tapegrad.nn.Parameter`, a ``Tensor`` leaf, or a scalar ``Value``
(updated through its ``.value`` setter).  A parameter whose ``.grad`` is
None is skipped, as in PyTorch.

>>> import numpy as np
>>> import tapegrad as tg
>>> from tapegrad import optim
>>> w = tg.Value(0.0)
>>> opt = optim.SGD([w], lr=0.1)
>>> for _ in range(100):
...     opt.zero_grad()
...     loss = (w - 3.0) ** 2
...     loss.backward()
...     opt.step()
>>> round(w.data, 6)
3.0
"""

import numpy as np
from numba.core import types
from numba.extending import intrinsic

from tapegrad import jit

__all__ = ["Optimizer", "SGD", "Adam", "fma"]

_fma_ufunc = None


def fma(x, y, z, out=None):
    """``x * y + z`` rounded once (a fused multiply-add), elementwise, in the
    dtype of the arrays (float32 stays float32; Python floats adapt).

    PyTorch's CPU kernels compute ``a.add(b, alpha=s)`` as ``fma(b, s, a)``;
    NumPy has no fused multiply-add, so this is a numba ufunc over LLVM's
    ``llvm.fma`` (correctly rounded on every target, in hardware where there
    is one).  It is compiled on first use, even with ``NUMBA_DISABLE_JIT``.

    >>> x = 1.0 + 2.0 ** -30
    >>> float(fma(x, x, -1.0)) == 2.0 ** -29 + 2.0 ** -60    # exact
    True
    >>> x * x - 1.0 == 2.0 ** -29                       # rounded twice
    True
    """
    global _fma_ufunc
    if _fma_ufunc is None:
        _fma_ufunc = _make_fma()
    if out is None:
        return np.asarray(_fma_ufunc(x, y, z))  # a 0-d array stays an array
    return _fma_ufunc(x, y, z, out=out)


@intrinsic
def _fused(typingctx, x, y, z):
    if isinstance(x, types.Float) and x == y == z:
        return x(x, y, z), lambda context, builder, sig, args: builder.fma(*args)
    return None


def _fma(x, y, z):
    return _fused(x, y, z)


def _make_fma():
    # float32 first: NumPy takes the first loop the inputs cast to safely.
    signatures = ["float32(float32, float32, float32)", "float64(float64, float64, float64)"]
    # .ufunc: the plain NumPy ufunc, without DUFunc's Python-level __call__.  (_fma is
    # a module-level function, not a closure: numba keys a closure's disk cache by its
    # cells, and the intrinsic's differed per process, so each process added files.)
    return jit.vectorize(signatures)(_fma).ufunc


class Optimizer:
    """The parameter groups, per-parameter state and ``zero_grad()`` shared
    by the optimizers, as ``torch.optim.Optimizer`` keeps them.

    ``params`` is an iterable of parameters, or of dicts (parameter groups)
    each with a ``"params"`` list and any option overriding ``defaults``.
    ``state`` maps each parameter (by identity) to its dict of buffers.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        groups = [params] if isinstance(params, dict) else list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict with a ``"params"`` list (and options) to optimize."""
        group = dict(group)
        params = group["params"]
        params = [params] if hasattr(params, "value") else list(params)
        for p in params:
            if not (hasattr(p, "value") and hasattr(p, "grad")):
                raise TypeError(f"optimizer can only optimize parameters (with .value and .grad), "
                                f"not {type(p).__name__}")
            if getattr(p, "requires_grad", True) is False or getattr(p, "is_leaf", True) is False:
                raise ValueError("can only optimize leaves that require gradients")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError("some parameters appear more than once")
        group["params"] = params
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Reset every parameter's gradient: to None (PyTorch's default), or
        to zeros with ``set_to_none=False``."""
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if not isinstance(grad, np.ndarray):
                    p.grad = 0.0  # a scalar Value's gradient is a number, never None
                elif set_to_none:
                    p.grad = None
                else:
                    p.grad = np.zeros_like(grad)

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``
        (called first, to re-evaluate the loss) when one is given."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                value = p.value
                if isinstance(value, np.ndarray):
                    self._update(group, self.state.setdefault(p, {}), value, _grad_of(p, value))
                else:  # a scalar Value: update a 0-d array, then assign it back
                    param = np.array(value, dtype=np.float64)
                    self._update(group, self.state.setdefault(p, {}), param, _grad_of(p, param))
                    p.value = float(param)
        return loss

    def _update(self, group, state, param, grad):
        """Update ``param`` (a NumPy array) in place from ``grad``."""
        raise NotImplementedError

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in group.items() if k != "params"]
        return "\n".join(lines + [")"])


def _grad_of(p, param):
    grad = np.asarray(p.grad)
    if grad.shape != param.shape:
        raise ValueError(f"gradient of shape {grad.shape} for a parameter of shape {param.shape}")
    return grad.astype(param.dtype, copy=False)


def _check(name, x, low=0.0):
    if not x >= low:
        raise ValueError(f"invalid {name}: {x}")


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum, dampening, Nesterov
    momentum and L2 weight decay, as ``torch.optim.SGD``:

    ``g = grad + weight_decay * p``; with momentum, ``buf = g`` at the first
    step and ``buf = momentum * buf + (1 - dampening) * g`` after, and ``g``
    becomes ``g + momentum * buf`` (Nesterov) or ``buf``; then
    ``p = p - lr * g``.

    >>> import numpy as np, tapegrad as tg
    >>> p = tg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    >>> opt = SGD([p], lr=0.5, momentum=0.9)
    >>> p.grad = np.array([1.0, 1.0]); opt.step()
    >>> p.grad = np.array([1.0, 1.0]); opt.step()
    >>> p.value                # 1 - 0.5 * 1 - 0.5 * (0.9 + 1)
    array([-0.45, -3.45])
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        for name, x in (("learning rate", lr), ("momentum", momentum),
                        ("weight_decay", weight_decay)):
            _check(name, x)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _update(self, group, state, param, grad):
        # torch/optim/sgd.py, _single_tensor_sgd, line by line.  Scalars are
        # cast to the parameter's dtype, as PyTorch's kernels cast them.
        dt = param.dtype.type
        weight_decay, momentum = group["weight_decay"], group["momentum"]
        if weight_decay != 0:
            grad = fma(param, dt(weight_decay), grad)  # grad.add(param, alpha=weight_decay)
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= dt(momentum)  # buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                fma(grad, dt(1 - group["dampening"]), buf, out=buf)
            if group["nesterov"]:
                grad = fma(buf, dt(momentum), grad)  # grad.add(buf, alpha=momentum)
            else:
                grad = buf
        fma(grad, dt(-group["lr"]), param, out=param)  # param.add_(grad, alpha=-lr)


class Adam(Optimizer):
    """Adam (Kingma and Ba), with L2 weight decay, as ``torch.optim.Adam``:

    ``g = grad + weight_decay * p``; ``m = lerp(m, g, 1 - beta1)``,
    ``v = beta2 * v + (1 - beta2) * g * g``; then with the step count ``t``,
    ``p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``.

    The one difference from PyTorch's arithmetic: PyTorch's CPU ``sqrt`` is
    MKL's, which is within one ulp but not always correctly rounded, where
    NumPy's is; so ``denom`` (and the step) can differ in its last bit.

    >>> import numpy as np, tapegrad as tg
    >>> p = tg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    >>> opt = Adam([p], lr=0.1)
    >>> p.grad = np.array([3.0, -0.5]); opt.step()
    >>> p.value                # the first step moves each entry by lr
    array([ 0.9, -1.9])
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        _check("learning rate", lr)
        _check("epsilon value", eps)
        _check("weight_decay value", weight_decay)
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"invalid beta parameter at index {i}: {beta}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))

    def _update(self, group, state, param, grad):
        # torch/optim/adam.py, _single_tensor_adam (amsgrad, maximize,
        # capturable, differentiable all off), line by line.
        dt = param.dtype.type
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0.0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        state["step"] += 1.0
        step = state["step"]

        if weight_decay != 0:
            grad = fma(param, dt(weight_decay), grad)  # grad.add(param, alpha=weight_decay)

        # exp_avg.lerp_(grad, 1 - beta1): PyTorch's lerp is one FMA, from
        # whichever end the weight is nearer to.
        weight = dt(1 - beta1)
        if abs(weight) < 0.5:
            fma(weight, grad - exp_avg, exp_avg, out=exp_avg)
        else:
            fma(weight - dt(1), grad - exp_avg, grad, out=exp_avg)
        # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        exp_avg_sq *= dt(beta2)
        fma(dt(1 - beta2) * grad, grad, exp_avg_sq, out=exp_avg_sq)

        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5

        denom = np.sqrt(exp_avg_sq) / dt(bias_correction2_sqrt)
        denom += dt(eps)
        param += dt(-step_size) * exp_avg / denom  # param.addcdiv_(exp_avg, denom, value=-step_size)

