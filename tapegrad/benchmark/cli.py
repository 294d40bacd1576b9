"""``tapegrad-bench``: run workloads, or gate a run against a baseline.

::

    tapegrad-bench run mypkg.bench_workloads [--peers MOD] [--quick] [--json OUT] [--plot PNG]
    tapegrad-bench check --baseline BASE.json mypkg.bench_workloads [--tolerance 0.5]
    tapegrad-bench show RUN.json [--markdown]

``run`` prints a table per workload and size; ``check`` runs the quick suite
(or reads ``--current RUN.json``) and exits 1 when a gated figure regressed
past the tolerance (see :mod:`tapegrad.benchmark.gate`).  To refresh a
baseline on purpose, run ``run --quick --json BASE.json`` and commit it.
The repository's ``python -m bench`` is this CLI with tapegrad's own
workloads and peers as defaults.
"""

import argparse
import sys

from tapegrad.benchmark import gate, records, report, runner
from tapegrad.benchmark.workload import load


def _parser(prog, default_workloads, default_peers):
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "check"):
        sub = commands.add_parser(name)
        sub.add_argument("workloads", nargs="?", default=default_workloads,
                         help="module defining the workloads (default: %(default)s)")
        sub.add_argument("--peers", default=default_peers,
                         help="module whose PEERS list holds peer engines")
        sub.add_argument("--only", help="comma-separated workload names to run")
        sub.add_argument("--budget", type=float, default=0.5,
                         help="seconds of timed calls per case (default: %(default)s)")
        sub.add_argument("--json", metavar="PATH", help="write the records as JSON")
    run, check = commands.choices["run"], commands.choices["check"]
    run.add_argument("--quick", action="store_true", help="small sizes only")
    run.add_argument("--plot", metavar="PATH", help="write a PNG of ns/op against size")
    run.add_argument("--no-fresh", action="store_true",
                     help="skip the first-gradient-in-a-fresh-process timings")
    check.add_argument("--baseline", required=True, metavar="PATH")
    check.add_argument("--tolerance", type=float, default=0.5,
                       help="allowed relative change of timed figures (default: %(default)s)")
    check.add_argument("--current", metavar="PATH",
                       help="compare this JSON run instead of running the quick suite")
    show = commands.add_parser("show", help="print the tables of a JSON run")
    show.add_argument("run", metavar="RUN.json")
    show.add_argument("--markdown", action="store_true", help="one Markdown table of ns/op")
    return parser


def _selected(args):
    if args.workloads is None:
        raise SystemExit("name a module that defines workloads")
    workloads = load(args.workloads)
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - {w.name for w in workloads}
        if unknown:
            raise SystemExit(f"unknown workloads: {', '.join(sorted(unknown))}")
        workloads = [w for w in workloads if w.name in wanted]
    peers = []
    if args.peers:
        peers = list(__import__(args.peers, fromlist=["PEERS"]).PEERS)
    return workloads, peers


def _run(args, quick, fresh):
    workloads, peers = _selected(args)
    machine = records.machine(peers)
    print("\n".join(report.header(machine)), flush=True)
    modules = (args.workloads, args.peers) if fresh else None
    result = runner.run(workloads, peers, quick=quick, budget_s=args.budget,
                        modules=modules, progress=report.Progress())
    print("\n".join(report.tables(result.records, result.skipped, workloads)))
    print("\n".join(report.summary(result.records)))
    if args.json:
        records.save(args.json, machine, result.records)
        print(f"\nwrote {args.json}")
    return machine, result


def _check(args):
    _, baseline = records.load(args.baseline)
    if args.current:
        _, current = records.load(args.current)
    else:
        _, result = _run(args, quick=True, fresh=False)
        current = result.records
    findings = gate.compare(baseline, current, args.tolerance)
    print(f"\ngate: {len(findings)} figures against {args.baseline} "
          f"(tolerance {args.tolerance:g} on timed ratios, exact on counts)")
    for finding in findings:
        if finding.status not in ("ok", "too fast"):
            print(finding.describe())
    failed = gate.regressions(findings)
    print(f"gate: {'FAILED' if failed else 'passed'}: {len(failed)} regressed, "
          f"{sum(f.status == 'ok' for f in findings)} ok, "
          f"{sum(f.status == 'improved' for f in findings)} improved, "
          f"{sum(f.status == 'not measured' for f in findings)} not measured, "
          f"{sum(f.status == 'too fast' for f in findings)} too fast to gate "
          f"(calls under {gate.MIN_GATED_SECONDS * 1e3:g} ms)")
    return 1 if failed else 0


def main(argv=None, *, prog="tapegrad-bench", default_workloads=None, default_peers=None):
    """Entry point of ``tapegrad-bench`` (and of ``python -m bench``)."""
    args = _parser(prog, default_workloads, default_peers).parse_args(argv)
    if args.command == "show":
        machine, rs = records.load(args.run)
        lines = (report.markdown(rs, machine) if args.markdown
                 else report.header(machine) + report.tables(rs) + report.summary(rs))
        print("\n".join(lines))
        return 0
    try:
        if args.command == "check":
            return _check(args)
        _, result = _run(args, quick=args.quick, fresh=not args.no_fresh)
    except runner.WrongGradient as error:
        print(f"\nFAIL: tapegrad's gradient is wrong: {error}", file=sys.stderr)
        return 1
    if args.plot:
        try:
            report.plot(result.records, args.plot)
            print(f"wrote {args.plot}")
        except ImportError as error:
            print(f"no plot: {error}", file=sys.stderr)
    return 0


def console_script():
    sys.exit(main())
