"""TODO"""

from tapegrad.scalar.value import Value
from tapegrad.scalar.dual import Dual

__all__ = ["Value", "Dual"]
