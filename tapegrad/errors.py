"""The errors tapegrad raises, all under :class:`TapeError`."""


class TapeError(Exception):
    """Base class of tapegrad's own errors."""


class StaleValueError(TapeError):
    """A value whose recording was reset or released was used."""


class ClosedTapeError(TapeError):
    """A new op was given a value of an implicit recording that ``backward()``
    closed (outside ``with Tape():``, ``backward()`` ends its recording)."""


class MixedTapeError(TapeError, ValueError):
    """One op was given values recorded on two different tapes."""


class NonFiniteError(TapeError, FloatingPointError):
    """In debug mode: a record produced a non-finite value or adjoint."""


class BranchChanged(TapeError):
    """A replay at a new input would take another branch of the program than
    the one recorded (an ``if`` on a traced value came out the other way).

    ``record`` is the guard's record index, ``site`` its ``(file, line)``
    when known."""

    def __init__(self, message, record=-1, site=None):
        super().__init__(message)
        self.record = record
        self.site = site


class TapeFileError(TapeError, ValueError):
    """A file (or pickled bytes) that :func:`tapegrad.load` refuses: not a
    tapegrad recording, truncated or corrupted, of a format version or with
    ops this tapegrad does not read, or a program that is not well formed
    (an argument index out of range, a forward reference, an array of the
    wrong dtype or shape).  The message says which; nothing was replayed."""
