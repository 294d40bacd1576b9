"""Comparisons, the guard, and the piecewise ops of the op table.

Declared with :func:`tapegrad.ops.declare`, so they join the one table
(:data:`tapegrad.ops.OPS`) after the arithmetic and unary ops, in the order
written here.  Comparisons are data (1.0 or 0.0, no derivative); ``branch``,
what ``if v:`` records, is the only guard a replay checks; ``maximum``,
``minimum`` and the two halves of ``where`` keep a choice on the tape.

>>> from tapegrad.ops import OPS
>>> [OPS[name].guard for name in ("lt", "eq", "branch")]
[False, False, True]
"""

from tapegrad.ops.table import declare


# --- conditions: comparisons are data on the tape (1.0 or 0.0) ---------
# ``a > b`` is recorded as ``b < a`` and ``a >= b`` as ``b <= a``.  They have
# no derivative.  Only ``branch`` (what ``if v:`` records) is a guard.


@declare
class lt:
    """x < y, as 1.0 or 0.0; no derivative"""

    arity = 2
    methods = ("__lt__", "__gt__")  # a > b is b < a
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        return 1.0 if x < y else 0.0


@declare
class le:
    """x <= y, as 1.0 or 0.0; no derivative"""

    arity = 2
    methods = ("__le__", "__ge__")
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        return 1.0 if x <= y else 0.0


# --- equality, the guard, and the piecewise ops ------------------------

@declare
class eq:
    """x == y, as 1.0 or 0.0; no derivative"""

    arity = 2
    methods = ("__eq__",)
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        return 1.0 if x == y else 0.0


@declare
class ne:
    """x != y, as 1.0 or 0.0; no derivative"""

    arity = 2
    methods = ("__ne__",)
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        return 1.0 if x != y else 0.0


@declare
class branch:
    """the truth of x (``if v:``), as 1.0 or 0.0: the tape's guard

    A replay recomputes it; when the outcome differs from the recorded one,
    the recorded branch of the program no longer applies (nan is true, as
    ``bool(float("nan"))`` is).
    """

    arity = 1
    guard = True
    domain = ((-3.0, 3.0),)

    def value(x):
        return 0.0 if x == 0.0 else 1.0


@declare
class maximum:
    """the larger of x and y; nan if either is nan, as ``np.maximum``

    NOTE: at a tie each argument gets half the slope, as in PyTorch.
    """

    arity = 2
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        return x if x >= y or x != x else y

    def d_x(x, y, out):
        return 1.0 if x > y else (0.5 if x == y else 0.0)

    def d_y(x, y, out):
        return 1.0 if y > x else (0.5 if x == y else 0.0)





@declare
class minimum:
    """the smaller of x and y; nan if either is nan, as ``np.minimum``

    NOTE: at a tie each argument gets half the slope, as in PyTorch.
    """

    arity = 2
    domain = ((-3.0, 3.0), (-3.0, 3.0))

    def value(x, y):
        return x if x <= y or x != x else y

    def d_x(x, y, out):
        return 1.0 if x < y else (0.5 if x == y else 0.0)

    def d_y(x, y, out):
        return 1.0 if y < x else (0.5 if x == y else 0.0)





# ``where(c, a, b)`` records ``keep_if(c, a) + keep_unless(c, b)``: the
# condition stays on the tape, so a replay selects anew, and the branch not
# taken contributes an exact 0.0 (never its inf or nan).


@declare
class keep_if:
    """y where x is true (nonzero), else 0.0; no slope in x"""

    arity = 2
    domain = ((0.5, 3.0), (-3.0, 3.0))

    def value(x, y):
        return 0.0 if x == 0.0 else y

    def d_x(x, y, out):
        return 0.0

    def d_y(x, y, out):
        return 0.0 if x == 0.0 else 1.0





@declare
class keep_unless:
    """y where x is false (zero), else 0.0; no slope in x"""

    arity = 2
    domain = ((-3.0, -0.5), (-3.0, 3.0))

    def value(x, y):
        return y if x == 0.0 else 0.0

    def d_x(x, y, out):
        return 0.0

    def d_y(x, y, out):
        return 1.0 if x == 0.0 else 0.0



