"""What the tape needs from the array layer, filled in by that layer.

The tape (:mod:`tapegrad.core.tape`) sits below :mod:`tapegrad.array` and
imports none of it, yet a recording may hold array records.  The array
layer hands over the three things the tape needs by calling
:func:`install_arrays` when ``tapegrad.array`` is imported, which is before
any array record can exist:

* ``input_code``: the opcode of an array input (a Tensor leaf's record),
  for :meth:`Recording.register_array <tapegrad.core.tape.Recording.register_array>`;
* ``reverse(rec, last, seed)``: the reverse sweep of a recording that holds
  array records (:meth:`Recording.backward <tapegrad.core.tape.Recording.backward>`
  runs it only then);
* ``name_of(code)``: an array opcode's name, for debug messages
  (:mod:`tapegrad.core.debug`).

A scalar-only recording never looks here: the tape checks for array records
first, as it always has, so the scalar path pays nothing.

>>> import tapegrad.array
>>> ARRAYS.name_of(ARRAYS.input_code)
'array input'
"""


def _not_installed(*args):
    raise RuntimeError("a recording holds array records but tapegrad.array was never "
                       "imported (import tapegrad)")


class ArrayHooks:
    """The array layer's entries (see the module docstring); each raises
    until :func:`install_arrays` has run."""

    __slots__ = ("input_code", "reverse", "name_of")

    def __init__(self):
        self.input_code = None
        self.reverse = self.name_of = _not_installed


ARRAYS = ArrayHooks()


def install_arrays(input_code, reverse, name_of):
    """Called once by :mod:`tapegrad.array` at import: fill in :data:`ARRAYS`."""
    ARRAYS.input_code = input_code
    ARRAYS.reverse = reverse
    ARRAYS.name_of = name_of
