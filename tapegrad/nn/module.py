"""``Module`` and ``Parameter``: PyTorch's ``nn.Module`` bookkeeping, over
tapegrad's Tensors.

A module holds its parameters and its submodules, both registered by
attribute assignment as in PyTorch (``self.fc = Linear(2, 3)``,
``self.w = Parameter(...)``); any other attribute is plain Python.  Names
are PyTorch's dotted paths (``net.0.weight``), so a ``state_dict()`` moves
between a tapegrad model and the same PyTorch model unchanged.

>>> import numpy as np
>>> from tapegrad import nn
>>> class Affine(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.scale = nn.Parameter(np.ones(2))
...         self.inner = nn.Linear(2, 2, rng=0)
...     def forward(self, x):
...         return self.inner(x) * self.scale
>>> model = Affine()
>>> [name for name, _ in model.named_parameters()]
['scale', 'inner.weight', 'inner.bias']
>>> model(np.ones((3, 2))).shape
(3, 2)
"""

from collections import namedtuple

import numpy as np

from tapegrad.array.tensor import Tensor, tensor

__all__ = ["Module", "Parameter", "IncompatibleKeys"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A leaf :class:`~tapegrad.Tensor` (``requires_grad=True`` by default)
    that a :class:`Module` registers as a parameter when assigned to one of
    its attributes.  It is a Tensor in every other way.

    >>> import numpy as np
    >>> from tapegrad.nn import Parameter
    >>> w = Parameter(np.array([1.0, 2.0], dtype=np.float32))
    >>> w.requires_grad, w.dtype, w.is_leaf
    (True, dtype('float32'), True)
    >>> (w * w).sum().backward(); w.grad
    array([2., 4.], dtype=float32)
    """

    __slots__ = ()

    def __new__(cls, data, requires_grad=True):
        leaf = tensor(data, requires_grad=requires_grad)
        leaf.__class__ = cls  # same layout (no slots of its own): a Tensor, re-labelled
        return leaf

    def __init__(self, data, requires_grad=True):
        pass  # Tensor.__init__ refuses direct construction; __new__ did the work

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models: subclass it, assign parameters and
    submodules in ``__init__`` (after ``super().__init__()``), and write
    ``forward``; calling the module calls ``forward``.

    >>> from tapegrad import nn
    >>> model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 1, rng=1))
    >>> [(name, p.shape) for name, p in model.named_parameters()]
    [('0.weight', (4, 3)), ('0.bias', (4,)), ('2.weight', (1, 4)), ('2.bias', (1,))]
    >>> model.eval().training, model[0].training
    (False, False)
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # --- registration by attribute assignment -----------------------------

    def __setattr__(self, name, value):
        parameters = self.__dict__.get("_parameters")
        if isinstance(value, (Parameter, Module)):
            if parameters is None:
                raise AttributeError(f"cannot assign {type(value).__name__} {name!r} before "
                                     "Module.__init__() call")
            self._forget(name)
            (parameters if isinstance(value, Parameter) else self._modules)[name] = value
        elif parameters is not None and name in parameters:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                "(a Parameter or None expected)")
            parameters[name] = None
        elif parameters is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module "
                                f"{name!r} (a Module or None expected)")
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):  # called only when ordinary lookup fails
        d = self.__dict__
        for table in ("_parameters", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def _forget(self, name):
        self.__dict__.pop(name, None)
        self._parameters.pop(name, None)
        self._modules.pop(name, None)

    def register_parameter(self, name, param):
        """Register ``param`` (a :class:`Parameter`, or None for an absent
        one such as ``Linear(..., bias=False).bias``) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot register {type(param).__name__} as parameter {name!r} "
                            "(a Parameter or None expected)")
        self._check_name(name)
        self._forget(name)
        self._parameters[name] = param

    def add_module(self, name, module):
        """Register ``module`` (or None) as a child under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module")
        self._check_name(name)
        self._forget(name)
        self._modules[name] = module

    def _check_name(self, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot register before Module.__init__() call")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"a parameter or module name must be a non-empty string without "
                           f"'.', not {name!r}")

    # --- walking the tree -------------------------------------------------

    def named_children(self):
        """``(name, module)`` for each direct child, in registration order."""
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self):
        return (module for _, module in self.named_children())

    def named_modules(self, prefix=""):
        """``(dotted name, module)`` for this module (name ``prefix``) and
        every module under it, each once, depth first."""
        seen, stack = set(), [(prefix, self)]
        while stack:  # a list, not recursion: deep models walk as shallow ones
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child}" if name else child, m)
                        for child, m in module.named_children()]
            stack.extend(reversed(children))

    def modules(self):
        return (module for _, module in self.named_modules())

    def named_parameters(self, prefix="", recurse=True):
        """``(dotted name, parameter)`` for every parameter, each once (a
        parameter shared between submodules is named where first met)."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for path, module in modules:
            for name, p in module._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{path}.{name}" if path else name), p

    def parameters(self, recurse=True):
        """Every parameter, each once: what an optimizer takes."""
        return (p for _, p in self.named_parameters(recurse=recurse))

    def zero_grad(self, set_to_none=True):
        """Reset the gradients: to None (PyTorch's default), or to zeros."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad = np.zeros_like(p.grad)

    # --- state ------------------------------------------------------------

    def _state_items(self):
        """``(dotted name, parameter)`` for every registered parameter under
        every name it has (a shared one appears under each, as in PyTorch)."""
        stack = [("", self)]
        while stack:
            path, module = stack.pop()
            for name, p in module._parameters.items():
                if p is not None:
                    yield path + name, p
            stack.extend(reversed([(f"{path}{name}.", m) for name, m in module.named_children()]))

    def state_dict(self):
        """A dict from dotted names to copies of the parameters' arrays.

        >>> from tapegrad import nn
        >>> state = nn.Linear(2, 3, rng=0).state_dict()
        >>> {name: array.shape for name, array in state.items()}
        {'weight': (3, 2), 'bias': (3,)}
        """
        return {name: np.array(p.value, copy=True) for name, p in self._state_items()}

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays (NumPy, or anything ``np.asarray`` takes, such as a
        PyTorch ``state_dict()``'s CPU tensors) into the parameters of the
        same names, cast to each parameter's dtype.

        With ``strict``, a missing or unexpected name is an error; a shape
        mismatch always is.  Nothing is changed unless every check passes.
        Returns ``(missing_keys, unexpected_keys)``.

        >>> from tapegrad import nn
        >>> a, b = nn.Linear(2, 3, rng=0), nn.Linear(2, 3, rng=1)
        >>> b.load_state_dict(a.state_dict())
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        >>> bool((a.weight.value == b.weight.value).all())
        True
        """
        own = dict(self._state_items())
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        errors, loads = [], []
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: " + ", ".join(map(repr, unexpected)))
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(map(repr, missing)))
        for name, p in own.items():
            if name not in state_dict:
                continue
            array = np.asarray(state_dict[name])
            if array.shape != p.shape:
                errors.append(f"size mismatch for {name}: copying an array of shape "
                              f"{array.shape}, the shape in the current model is {p.shape}")
            elif array.dtype.kind not in "fiub":
                errors.append(f"{name}: cannot load an array of dtype {array.dtype}")
            else:
                loads.append((p, array))
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        for p, array in loads:
            p.value = np.array(array, dtype=p.dtype, copy=True)
        return IncompatibleKeys(missing, unexpected)

    # --- modes ------------------------------------------------------------

    def train(self, mode=True):
        """Set ``.training`` on this module and every one under it; returns
        self.  (No layer here behaves differently in eval mode yet; the
        flag is kept for models that do.)"""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """``train(False)``, without calling an overridden ``train``."""
        return Module.train(self, False)

    # --- printing ---------------------------------------------------------

    def extra_repr(self):
        """The text inside this module's parentheses in ``repr``."""
        return ""

    def __repr__(self):
        lines = self.extra_repr().split("\n") if self.extra_repr() else []
        for name, module in self._modules.items():
            text = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {text}")
        if not self._modules:
            return f"{type(self).__name__}({''.join(lines)})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
