"""``python -m tapegrad.kernels.codegen [--check]``: see :func:`main`."""

import sys

from tapegrad.kernels.codegen import main

if __name__ == "__main__":
    sys.exit(main())
