"""``python -m bench [--quick] [--sizes 1000,10000]``: run and print the benchmark.

Runs the Rosenbrock workload on every engine at each size (n = 1e3, 1e4 and
1e5 by default; ``--quick`` takes n = 1e3 and 1e4 with few runs, for smoke
tests) and prints a table per size, then the targets.  Progress goes to
stderr, the report to stdout.  Exits with status 1, naming the engine, if an
engine's gradient disagrees with the analytic one.
"""

import argparse
import sys

from bench import report, rosenbrock
from bench.engines import all_engines
from bench.suite import GradientMismatch, measure_size
from bench.timing import FULL, QUICK

DEFAULT_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)


def sizes_argument(text):
    """``"1000,1e4"`` -> (1000, 10000); every size at least 2."""
    try:
        sizes = tuple(int(float(part)) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of sizes: {text!r}")
    if any(n < 2 for n in sizes):
        raise argparse.ArgumentTypeError("every size must be at least 2")
    return sizes


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="n = 1e3 and 1e4 only, with few runs (for smoke tests)")
    parser.add_argument("--sizes", type=sizes_argument, metavar="N,N,...",
                        help="input sizes to run (default: 1000,10000,100000)")
    return parser.parse_args(argv)


def progress(message):
    print(f"  ... {message}", file=sys.stderr, flush=True)


def main(argv=None):
    args = parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    plan = QUICK if args.quick else FULL
    engines = all_engines()
    print("\n".join(report.header(rosenbrock, engines)), flush=True)
    results = []
    for n in sizes:
        try:
            result = measure_size(rosenbrock, engines, n, plan, progress)
        except GradientMismatch as mismatch:
            print(f"FAIL: gradient check: {mismatch}", file=sys.stderr)
            return 1
        results.append(result)
        print("\n" + "\n".join(report.size_table(result)), flush=True)
    print("\n" + "\n".join(report.targets(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
