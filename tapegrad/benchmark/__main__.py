"""``python -m tapegrad.benchmark`` is ``tapegrad-bench``."""

from tapegrad.benchmark.cli import console_script

console_script()
