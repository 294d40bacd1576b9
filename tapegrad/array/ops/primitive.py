"""User-declared primitives (:func:`tapegrad.primitive`) in the array op table.

Every primitive a user declares is recorded by one of the two ops here,
whatever its rules: ``params["rule"]`` carries the user's rule object (built
by :mod:`tapegrad.primitives`), whose ``value``, ``vjp`` and ``jvp`` take
the table's arguments ``(args, params)``.  So the opcode space never runs
out, and a replay calls the user's code again.  ``primitive`` gives an
array; ``primitive_scalar`` a number, the value of a scalar record (as
``item`` does), for primitives of ``Value`` operands.  Both take any number
of operands (``arity = 0``: they are listed in ``params["args"]``).

Neither declares ``vjp_tangent``: Hessian-vector products get it by forward
mode through the rule's ``vjp`` (:mod:`tapegrad.array.ops.table`).

>>> import numpy as np
>>> from tapegrad.array.ops.table import ARRAY_OPS
>>> class Twice:   # the rule object's protocol
...     def value(self, args, params):
...         return 2.0 * args[0]
>>> ARRAY_OPS["primitive"].value([np.array([1.0, 2.0])], {"rule": Twice()})
array([2., 4.])
"""

from tapegrad.array.ops.table import declare


def _value(args, params):
    return params["rule"].value(args, params)


def _vjp(g, out, args, params):
    return params["rule"].vjp(g, out, args, params)


def _jvp(tangents, out, args, params):
    return params["rule"].jvp(tangents, out, args, params)


@declare
class primitive:
    """a primitive declared with ``@tapegrad.primitive`` (``params["rule"]``)"""

    arity = 0
    value, vjp, jvp = _value, _vjp, _jvp


@declare
class primitive_scalar:
    """a primitive declared with ``@tapegrad.primitive``, of Values: a number"""

    arity = 0
    scalar_output = True
    value, vjp, jvp = _value, _vjp, _jvp
