"""``tapegrad-bench``: run workloads, or gate a run against a baseline.

::

    tapegrad-bench run mypkg.bench_workloads [--peers MOD] [--quick] [--json OUT] [--plot PNG]
    tapegrad-bench check --baseline BASE.json mypkg.bench_workloads [--tolerance T]
    tapegrad-bench check --against REF mypkg.bench_workloads [--rounds N]
    tapegrad-bench show RUN.json [--markdown]

``run`` prints a table per workload and size.  ``check`` exits 1 when a
gated figure regressed (see :mod:`tapegrad.benchmark.gate`): with
``--baseline`` it measures the commit the baseline names (or ``--against
REF``) and the working tree in the same run, interleaved
(:mod:`tapegrad.benchmark.ab`), and compares their timings, while counts are
compared with the baseline file; a finished run (``--current RUN.json``) or
a baseline without a commit is compared with the file, on a machine of the
baseline's fingerprint only.  To refresh a baseline on purpose,
run ``run --quick --no-fresh --json BASE.json`` in a clean checkout of the
commit it measures, and commit it.  The repository's ``python -m bench`` is
this CLI with tapegrad's own workloads and peers as defaults.
"""

import argparse
import dataclasses
import sys

from tapegrad.benchmark import ab, gate, report, results, runner, trees
from tapegrad.benchmark.workload import load

#: Default tolerance of the comparison with the baseline file (calibrated
#: ratios), and default seconds of timed calls per case of a run.
FILE_TOLERANCE = 0.5
RUN_BUDGET = 0.5


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
        sub.add_argument("--budget", type=float, default=None,
                         help="seconds of timed calls per case (default: 0.5; "
                              f"{ab.BUDGET:g} in each run of an A/B)")
        sub.add_argument("--json", metavar="PATH", help="write the records as JSON")
    run, check = commands.choices["run"], commands.choices["check"]
    run.add_argument("--quick", action="store_true", help="small sizes only")
    run.add_argument("--plot", metavar="PATH", help="write a PNG of ns/op against size")
    run.add_argument("--no-fresh", action="store_true",
                     help="skip the first-gradient-in-a-fresh-process timings")
    check.add_argument("--baseline", metavar="PATH",
                       help="committed baseline: counts must equal its counts; timings are "
                            "compared with it on a machine matching its fingerprint, else "
                            "by an A/B against its commit")
    check.add_argument("--against", metavar="REF",
                       help="A/B: measure commit REF and the working tree in this run, "
                            "interleaved, and compare their timings")
    check.add_argument("--rounds", type=int, default=ab.ROUNDS,
                       help="interleaved rounds of an A/B (default: %(default)s)")
    check.add_argument("--tolerance", type=float, default=None,
                       help=f"allowed slowdown of timed figures (default: {FILE_TOLERANCE:g} "
                            f"against the file, {gate.AB_TOLERANCE:g} in an A/B)")
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
    machine = results.machine(peers)
    print("\n".join(report.header(machine)), flush=True)
    modules = (args.workloads, args.peers) if fresh else None
    budget = RUN_BUDGET if args.budget is None else args.budget
    result = runner.run(workloads, peers, quick=quick, budget_s=budget,
                        modules=modules, progress=report.Progress())
    print("\n".join(report.tables(result.records, result.skipped, workloads)))
    print("\n".join(report.summary(result.records)))
    print("\n".join(result.notes))
    if args.json:
        results.save(args.json, machine, result.records)
        print(f"\nwrote {args.json}")
    return machine, result


def _check_file(args, baseline, current):
    """The baseline's figures against ``current``, measured on the same kind
    of machine: counts exactly, calibrated ratios and speed-ups by the tolerance."""
    tolerance = FILE_TOLERANCE if args.tolerance is None else args.tolerance
    if current is None:
        _, result = _run(args, quick=True, fresh=False)
        current = result.records
    findings = gate.compare(baseline, current, tolerance)
    print(f"\ngate: {len(findings)} figures against {args.baseline} "
          f"(tolerance {tolerance:g} on timed ratios, exact on counts)")
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


def _counts(baseline, runs, partial=False):
    """Findings on the counts of the head's first timed round: against the
    baseline file when there is one (gated), else against the reference
    build (reported); and the head's counts that those lack.  A ``partial``
    suite (``--only``) skips the suite-wide counts (workload ``all``:
    kernels compiled), which depend on which workloads ran."""
    base = baseline if baseline is not None else runs["ref"][0]
    counts = [r for r in base if results.gate_kind(r["metric"]) == "exact"
              and not (partial and r["workload"] == "all")]
    known = {results.key(r) for r in base}
    new = [r for r in runs["head"][0]
           if results.gate_kind(r["metric"]) == "exact" and results.key(r) not in known]
    return gate.compare(counts, runs["head"][0]), new


def _check_ab(args, module, ref, baseline):
    """The working tree against commit ``ref``, both measured in this run."""
    tolerance = gate.AB_TOLERANCE if args.tolerance is None else args.tolerance
    if args.rounds < 2:
        raise SystemExit("an A/B needs --rounds 2 or more")
    if args.workloads is None:
        raise SystemExit("name a module that defines workloads")
    options = ab.Options(module=module, workloads=args.workloads, only=args.only,
                         budget=ab.BUDGET if args.budget is None else args.budget)
    try:
        commit, _, runs = ab.against(ref, args.rounds, options)
    except (trees.TreeError, ab.RunError) as error:
        print(f"gate: FAILED: the A/B against {ref} could not run: {error}")
        return 1
    shifts = gate.compare_builds(ab.figures(runs["ref"]), ab.figures(runs["head"]), tolerance)
    print(f"\ngate: A/B of the working tree (head) against {ref} = {commit[:12]} (ref) over "
          f"{args.rounds} rounds: a figure fails when head/ref is above {1 + tolerance:g} "
          f"with {gate.CONFIDENCE:.0%} confidence")
    for shift in shifts:
        print(shift.describe())
    counts, new = _counts(baseline, runs, partial=bool(args.only))
    where = (f"compared with {args.baseline}, exactly" if baseline is not None
             else "compared with ref's (reported, not gated without --baseline)")
    print(f"gate: counts of the head's run {where}: "
          f"{sum(f.status == 'ok' for f in counts)} of {len(counts)} equal")
    for finding in counts:
        if finding.status == "REGRESSED" and baseline is None:
            finding = dataclasses.replace(finding, status="changed")
        if finding.status != "ok":
            print(finding.describe())
    for r in new:
        print(f"{'new':>12}  {r['workload']}/{r['engine']}/{r['size']} {r['metric']}: "
              f"{r['value']:g}, measured by the head only (reported, not gated)")
    if args.json:
        results.save(args.json, {**results.machine(), "ab": {"ref": ref, "commit": commit}},
                     [dict(r, round=k, build=label) for label, rounds in runs.items()
                      for k, rs in enumerate(rounds) for r in rs])
        print(f"gate: wrote every round's records to {args.json}")
    slower = [s for s in shifts if s.status == "SLOWER"]
    changed = gate.regressions(counts) if baseline is not None else []
    failed = [f"{s.name()} ({ab.FIGURES[s.metric]}) {s.ratio:.2f}x "
              f"[{s.low:.2f}, {s.high:.2f}]" for s in slower]
    failed += [f"{f.workload}/{f.engine}/{f.size} {f.metric} {f.baseline:g} -> {f.current:g}"
               for f in changed]
    print(f"gate: {'FAILED' if failed else 'passed'}: {len(slower)} slower, "
          f"{sum(s.status == 'slower?' for s in shifts)} slower but within the noise, "
          f"{sum(s.status == 'ok' for s in shifts)} ok, "
          f"{sum(s.status == 'faster' for s in shifts)} faster, "
          f"{sum(s.status.endswith('only') for s in shifts)} in one build only; "
          f"{len(changed)} counts changed"
          + (": " + "; ".join(failed) if failed else ""))
    return 1 if failed else 0


def _describe(fingerprint):
    return ", ".join(f"{k} {v}" for k, v in fingerprint.items())


def _check(args, module):
    if args.baseline is None and args.against is None:
        raise SystemExit("check needs --baseline BASE.json, --against REF, or both")
    if args.current and args.against:
        raise SystemExit("--current compares a finished run with the baseline file; "
                         "--against measures two builds: use one or the other")
    base_machine, baseline = results.load(args.baseline) if args.baseline else ({}, None)
    ref = args.against
    if ref is None:
        here, current = results.load(args.current) if args.current else (results.machine(), None)
        theirs, ours = results.fingerprint(base_machine), results.fingerprint(here)
        same = theirs == ours
        if not same:
            print(f"gate: the baseline was measured on {_describe(theirs)};\n"
                  f"      this run is on {_describe(ours)}.\n"
                  "      Timings do not carry across machines.")
        if args.current:  # a finished run: only the file can judge it
            if not same:
                print("gate: FAILED: --current is from another machine than the baseline; "
                      "without --current the gate measures the baseline's commit here (A/B)")
                return 1
            print(f"gate: this machine matches the baseline's ({_describe(ours)}): "
                  "comparing against the file")
            return _check_file(args, baseline, current)
        ref = base_machine.get("commit")
        if not ref and same:
            print(f"gate: this machine matches the baseline's ({_describe(ours)}) and the "
                  "baseline names no commit: comparing against the file")
            return _check_file(args, baseline, current)
        if not ref:
            print(f"gate: FAILED: {args.baseline} records no commit to measure against; "
                  "refresh it with `run --quick --no-fresh --json` in a clean checkout")
            return 1
        # Even on the baseline's own kind of machine, the file's timings are from
        # another process on another day: an unchanged tree once failed that
        # comparison by +54% (det_by_minor's sweep, 2026-11-26).  Two builds
        # timed side by side are not fooled by a slow machine or a slow hour.
        print(f"gate: measuring the baseline's commit {ref[:12]} and this working tree in the "
              "same run (A/B); counts are compared with the file")
    if base_machine.get("dirty"):
        print(f"gate: warning: {args.baseline} was measured with uncommitted changes on top of "
              "its commit")
    return _check_ab(args, module, ref, baseline)


def main(argv=None, *, prog="tapegrad-bench", default_workloads=None, default_peers=None,
         module="tapegrad.benchmark"):
    """Entry point of ``tapegrad-bench`` (and of ``python -m bench``);
    ``module`` is what an A/B runs each tree's quick suite with
    (``python -m module run ...``)."""
    args = _parser(prog, default_workloads, default_peers).parse_args(argv)
    if args.command == "show":
        machine, rs = results.load(args.run)
        lines = (report.markdown(rs, machine) if args.markdown
                 else report.header(machine) + report.tables(rs) + report.summary(rs))
        print("\n".join(lines))
        return 0
    try:
        if args.command == "check":
            return _check(args, module)
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
