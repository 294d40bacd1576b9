"""The errors tapegrad raises, all under :class:`TapeError`."""


class TapeError(Exception):
    """Base class of tapegrad's own errors."""


class StaleValueError(TapeError):
    """A value whose recording was reset or released was used."""


class MixedTapeError(TapeError, ValueError):
    """One op was given values recorded on two different tapes."""


class NonFiniteError(TapeError, FloatingPointError):
    """In debug mode: a record produced a non-finite value or adjoint."""
