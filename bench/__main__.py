"""``python -m bench``: tapegrad's own benchmark.

The package harness's CLI (``tapegrad-bench``, :mod:`tapegrad.benchmark.cli`)
with tapegrad's workloads (:mod:`bench.workloads`) and every installed peer
(:mod:`bench.peers`) as defaults::

    python -m bench                      # full run (make bench)
    python -m bench --quick --json out.json --plot out.png
    python -m bench check --baseline bench/baseline.json   # the CI gate
    python -m bench check --against main                   # A/B: main against this tree

An A/B runs each build's own ``python -m bench run --quick`` in fresh
processes (see :mod:`tapegrad.benchmark.ab`).
"""

import os
import sys

# One thread everywhere, as the peers run (PyTorch's and XLA's are set in
# bench.peers): NumPy's BLAS reads this when it loads, so before any import.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from tapegrad.benchmark.cli import main  # noqa: E402

argv = sys.argv[1:]
if not argv or argv[0] not in ("run", "check", "show", "-h", "--help"):
    argv = ["run", *argv]
sys.exit(main(argv, prog="python -m bench", default_workloads="bench.workloads",
              default_peers="bench.peers", module="bench"))
