"""``python -m tapegrad cache info`` / ``python -m tapegrad cache clear``:
tapegrad's kernel caches on disk (:mod:`tapegrad.caches`)."""

import sys

from tapegrad.caches import main

if __name__ == "__main__":
    sys.exit(main())
