"""``python -m tapegrad cache info`` / ``python -m tapegrad cache clear``:
tapegrad's kernel caches on disk (:mod:`tapegrad.caches`).
``python -m tapegrad numpy-table``: the README's table of the NumPy
functions tapegrad records (:mod:`tapegrad.numpy.table`)."""

import sys

from tapegrad.caches import main
from tapegrad.numpy.table import markdown

if __name__ == "__main__":
    if sys.argv[1:] == ["numpy-table"]:
        print(markdown())
        sys.exit(0)
    sys.exit(main())
