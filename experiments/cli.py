"""The `partnersim` command: simulate one run, run an experiment and report it, list presets.

Errors are for people: a bad argument or parameter prints one line naming the key, the
value and what was expected, and exits 2 (a traceback only with --debug).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from agents import parameters
from agents.parameters import ConfigError

if TYPE_CHECKING:
    from experiments.design import Plan
    from experiments.runner import SweepReport

EXIT_BAD_INPUT = 2
MAX_WORKERS = 512  # local worker processes: far above any core count, far below what breaks


class UsageError(Exception):
    """A command-line problem, reported as one line with exit code 2."""


def parse_assignment(text: str) -> tuple[str, Any]:
    """`policy.patience_months=12` -> ("policy.patience_months", 12); values are TOML literals."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(
            f"--set: got {text!r}, expected KEY=VALUE (e.g. policy.patience_months=12)"
        )
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word is a string: --set policy.proposal_timing=first_meeting
    return key, value


def cmd_simulate(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    for key, value in map(parse_assignment, args.set or []):
        if key in overrides:  # as a config refuses a key written twice
            raise ConfigError(key, value, f"each parameter once (--set {key} is given twice)")
        overrides[key] = value
    from experiments import policy_file

    policy = policy_file.resolve(args.policy, "--policy")  # a preset or a policy file
    params = parameters.build(args.market, policy, overrides)
    if not 0 < args.years <= parameters.MAX_YEARS:  # written this way so that NaN fails too
        raise ConfigError("years", args.years, f"a number of years in (0, {parameters.MAX_YEARS}]")
    if args.seed < 0:  # numpy's SeedSequence would raise a bare ValueError mid-run
        raise ConfigError("seed", args.seed, "a non-negative integer")
    out = Path(args.out)
    from experiments import store  # after validation: bad input fails fast
    from sim.run import RunSpec, simulate

    check_memory(args, [(params, args.years)])

    try:
        store.check_out_path(out)  # before the run: a bad --out must not waste it
    except store.StoreError as err:
        raise UsageError(str(err)) from None
    spec = RunSpec(params=params, years=args.years, seed=args.seed)
    result = simulate(spec)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out: cannot create {str(out)!r} ({err.strerror or err})") from None
    frames = {name: getattr(result, name) for name in ("runs", "monthly", "deals")}
    try:
        store.write_tables(frames, out)
    except store.WriteError as err:
        say(f"partnersim: error: {err}; the tables in {out} are as they were")
        return EXIT_RUNS_FAILED
    print(summary(result.runs.row(0, named=True), out))
    return 0


def check_memory(args: argparse.Namespace, runs, processes: int = 1, driver: bool = False) -> None:
    """Refuse, before any run starts, runs whose estimated memory exceeds what is available
    (`experiments.memory`), unless --ignore-memory-check."""
    if args.ignore_memory_check:
        return
    from experiments import memory

    try:
        memory.check(runs, processes=processes, driver=driver)
    except memory.MemoryCheckError as err:
        raise UsageError(str(err)) from None


def add_memory_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ignore-memory-check",
        action="store_true",
        help="run even if the estimated memory exceeds the memory available",
    )


def summary(row: dict[str, Any], out: Path) -> str:
    """A short human summary of one run."""
    target = row["policy.target_per_rep_usd"]
    per_rep = row["revenue_per_rep_year1_usd"]
    share = per_rep / target if target else float("nan")
    if row["partnership_terminated"]:
        who = row.get("partnership_ended_by")
        survived = f"ended{f' by the {who}' if who else ''} in month {row['terminated_month']}"
    else:
        survived = "survived"
    win = "n/a" if row["win_rate"] is None else f"{row['win_rate']:.0%}"
    cycle = "n/a" if row["median_cycle_days"] is None else f"{row['median_cycle_days']:.0f} days"
    lines = [
        f"{row['market.name']} / {row['policy.name']}, {row['years']:g} years, seed "
        f"{row['seed_entropy']} (run {row['run_id']})",
        f"  first-year revenue per rep: ${per_rep:,.0f} ({share:.0%} of the ${target:,.0f} target)",
        f"  {row['years']:g}-year revenue: ${row['revenue_total_usd']:,.0f}; "
        f"NPV ${row['npv_usd']:,.0f}",
        f"  partnership: {survived}",
    ]
    if "break_even_month" in row and "peak_outlay_usd" in row:
        month, years = row["break_even_month"], row["years"]
        within = f"{years:g} year{'' if years == 1 else 's'}"
        even = f"month {month}" if month is not None else f"never within {within}"
        lines.append(f"  break-even: {even}; peak outlay ${row['peak_outlay_usd']:,.0f}")
    lines += [
        f"  deals won {row['deals_won']}, win rate {win}, median days to close {cycle}",
        f"  tables: {out}/runs.parquet, monthly.parquet, deals.parquet",
    ]
    return "\n".join(lines)


def cmd_presets(args: argparse.Namespace) -> int:
    print("markets: " + ", ".join(parameters.market_names()))
    print("presets: " + ", ".join(parameters.PRESET_NAMES))
    print()
    print("policy presets (differences from the defaults below):")
    default = parameters.Policy()
    for name in parameters.PRESET_NAMES:
        preset = parameters.PRESETS[name]
        diffs = [
            f"{f}={getattr(preset, f)}"
            for f in preset.__dataclass_fields__
            if f != "name" and getattr(preset, f) != getattr(default, f)
        ]
        print(f"  {name}: " + ", ".join(diffs))
    print()
    params = parameters.build(args.market, args.policy)
    print(f"parameters for market {args.market}, policy {args.policy} (key, default, unit, range):")
    for row in parameters.parameter_table(params):
        unit = f" [{row['unit']}]" if row["unit"] else ""
        print(f"  {row['key']} = {row['value']!r}{unit}  ({row['range']}) {row['doc']}")
    return 0


EXIT_RUNS_FAILED = 1
EXIT_INTERRUPTED = 130


def cmd_run(args: argparse.Namespace) -> int:
    """`partnersim run CONFIG`: every design point x replication, stored as Parquet parts.

    Steps: load and plan (all validation, nothing written yet), check the output directory,
    start the executor, run what is not stored yet, print the per-point summary.
    """
    from experiments import config as configs

    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise UsageError(
            f"--workers: got {args.workers}, expected an integer in [1, {MAX_WORKERS}]"
        )
    if args.scheduler is not None and not args.scheduler.strip():
        raise UsageError(
            f"--scheduler: got {args.scheduler!r}, expected a Dask scheduler address "
            "(tcp://host:port)"
        )
    if args.scheduler is not None and args.dask_local:
        raise UsageError("--scheduler and --dask-local: got both, expected at most one")
    if args.scheduler is not None and args.workers:
        raise UsageError("--workers: got it with --scheduler, expected the cluster's own workers")
    experiment = configs.load(args.config)
    from experiments import design, runner, store  # after load: bad configs fail fast

    plan = design.plan(experiment)
    if args.scheduler is None:  # a cluster's workers have their own memory
        processes = min(args.workers or runner.default_workers(), plan.runs)
        specs = ((spec.params, spec.years) for spec in plan.specs)
        check_memory(args, specs, processes=processes, driver=True)
    out = Path(args.out) if args.out else Path("results") / experiment.name
    try:
        store.check_destination(out, plan, fresh=args.fresh)
        with (
            runner.make_executor(args.workers, args.scheduler, args.dask_local) as info,
            _sigterm_as_interrupt(),
            store.ResultStore.open(
                out, plan, config_text=Path(args.config).read_text(), fresh=args.fresh
            ) as results,
        ):
            results.start_session(executor=info.description, slots=info.slots)
            say(
                f"{experiment.name}: {len(plan.points)} design points x "
                f"{experiment.replications} replications = {plan.runs} runs on "
                f"{info.description} -> {out}"
            )
            try:
                report = runner.run_sweep(
                    plan.specs, results, info.executor, slots=info.slots, progress=runner.Progress()
                )
            except KeyboardInterrupt:  # a second Ctrl-C while the first one's runs were saved
                results.end_session(status="interrupted")
                raise
            try:
                results.end_session(
                    status=report.status,
                    runs_completed=report.completed,
                    runs_failed=report.failed,
                    elapsed_s=round(report.elapsed_s, 3),
                )
            except store.WriteError as err:
                report.write_error = report.write_error or str(err)
    except store.WriteError as err:  # before any run: the directory could not be set up
        say(f"partnersim: error: {err}")
        return EXIT_RUNS_FAILED
    except (store.StoreError, runner.ExecutorError) as err:
        raise UsageError(str(err)) from None
    print_run_summary(plan, out, report)
    code = run_exit_code(plan, out, report, failures=results.failures)
    if args.report and not report.write_error and report.completed + report.already_stored:
        from experiments.report import ReportError, write_report

        try:
            page = write_report(out)
        except (store.StoreError, ReportError) as err:  # the runs are stored; not the report
            say(f"partnersim: error: {err}; the runs are stored, `partnersim report` retries")
            return EXIT_RUNS_FAILED
        print(f"report: {page.path} ({len(page.figures)} charts, {page.seconds:.1f} s)")
    return code


def cmd_report(args: argparse.Namespace) -> int:
    """`partnersim report DIR`: write DIR/report.html (and DIR/charts/) and say where."""
    from experiments import store
    from experiments.report import ReportError, ReportWriteError, write_report

    try:
        result = write_report(args.dir, images=not args.no_images)
    except ReportWriteError as err:  # a full disk: DIR was fine, as `run` says with exit 1
        say(f"partnersim: error: {err}")
        return EXIT_RUNS_FAILED
    except (store.StoreError, ReportError) as err:
        raise UsageError(str(err)) from None
    print(f"report: {result.path} ({len(result.figures)} charts, {result.seconds:.1f} s)")
    return 0


def print_run_summary(plan: Plan, out: Path, report: SweepReport) -> None:
    """The per-design-point table (mean and 95% CI of the main outcomes) on stdout."""
    from experiments import store, summary

    if not any((out / "runs").glob("*.parquet")):
        return
    import polars as pl

    design_table = pl.read_parquet(out / store.DESIGN)
    table = summary.point_summary(store.scan(out, "runs"), design_table)
    done = report.completed + report.failed
    rate = done / report.elapsed_s if report.elapsed_s > 0 else 0.0
    print(
        f"{plan.config.name}: {report.completed} runs done now ({rate:.1f} runs/s), "
        f"{report.already_stored} already stored, {report.failed} failed; results in {out}"
    )
    print("per design point, over its replications:")
    print(summary.format_table(table, list(plan.config.swept)))


def run_exit_code(plan: Plan, out: Path, report: SweepReport, failures: int) -> int:
    """0 when every run is stored; otherwise a one-line reason on stderr and non-zero."""
    stored = report.already_stored + report.completed
    if report.write_error:
        say(
            f"partnersim: error: {report.write_error}; {stored} of {plan.runs} runs are "
            f"stored in {out}; run the same command again to resume"
        )
        return EXIT_RUNS_FAILED
    if report.broken:
        say(
            f"partnersim: error: the executor broke ({report.broken}); {stored} of "
            f"{plan.runs} runs are stored in {out}: run the same command again to resume"
        )
        return EXIT_RUNS_FAILED
    if report.interrupted:
        say(
            f"partnersim: interrupted: {stored} of {plan.runs} runs are stored in {out}; "
            "run the same command again to resume"
        )
        return EXIT_INTERRUPTED
    if failures:
        say(
            f"partnersim: error: {failures} of {plan.runs} runs failed; "
            f"see {out / 'failures.parquet'} (run the same command again to retry them)"
        )
        return EXIT_RUNS_FAILED
    return 0


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM stops a sweep like Ctrl-C does: finished runs are saved first."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def add_run_parser(sub) -> argparse.ArgumentParser:
    run = sub.add_parser(
        "run",
        help="run an experiment file: design points x replications, resumable Parquet results",
    )
    run.add_argument("config", metavar="CONFIG", help="experiment TOML file")
    run.add_argument(
        "--out",
        metavar="DIR",
        type=directory_path,
        help="output directory (default results/<name>)",
    )
    run.add_argument(
        "--workers", type=int, metavar="N", help="local worker processes (default: one per core)"
    )
    run.add_argument(
        "--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster (tcp://host:port)"
    )
    run.add_argument("--dask-local", action="store_true", help="run on a new Dask LocalCluster")
    run.add_argument(
        "--fresh", action="store_true", help="discard results already in DIR and start over"
    )
    run.add_argument(
        "--report", action="store_true", help="write DIR/report.html and DIR/charts/ at the end"
    )
    add_memory_flag(run)
    run.set_defaults(func=cmd_run)
    return run


def add_report_parser(sub) -> argparse.ArgumentParser:
    report = sub.add_parser(
        "report",
        help="write DIR/report.html and DIR/charts/ from an experiment's results",
        description="Aggregate an experiment directory's Parquet results and write a "
        "self-contained HTML report (works offline) with PNG and SVG charts.",
    )
    report.add_argument("dir", metavar="DIR", help="experiment directory (from partnersim run)")
    report.add_argument(
        "--no-images", action="store_true", help="skip the PNG and SVG files (the page is complete)"
    )
    report.set_defaults(func=cmd_report)
    return report


def directory_path(text: str) -> str:
    """--out: an empty path would silently mean the current or the default directory."""
    if not text:
        raise argparse.ArgumentTypeError("got '', expected a directory path")
    return text


def one_line(text: str) -> str:
    """`text` with control characters escaped (a key or a path may hold a newline)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def say(text: str) -> None:
    """A message for people on stderr, always one line."""
    print(one_line(text), file=sys.stderr)


class OneLineParser(argparse.ArgumentParser):
    """argparse with the project's error style: one line naming the problem, exit 2.

    The full usage stays one `--help` away; argparse's default prints it before the error.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(
            EXIT_BAD_INPUT,
            one_line(f"{self.prog}: error: {message} (see {self.prog} --help)") + "\n",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="partnersim", description="Cross-cultural sales partnership simulation."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="run one simulation and write its three tables")
    sim.add_argument("--market", default="japan", help="market profile (japan, us)")
    sim.add_argument(
        "--policy", default="hybrid", help="policy preset, or a policy file (FILE.toml)"
    )
    sim.add_argument("--years", type=float, default=5.0, help="horizon in years")
    sim.add_argument("--seed", type=int, default=0, help="root seed")
    sim.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a parameter by dotted name"
    )
    sim.add_argument(
        "--out", default="results/simulate", type=directory_path, help="output directory"
    )
    add_memory_flag(sim)
    sim.set_defaults(func=cmd_simulate)

    pre = sub.add_parser("presets", help="list markets, presets and every parameter")
    pre.add_argument("--market", default="japan")
    pre.add_argument("--policy", default="hybrid")
    pre.set_defaults(func=cmd_presets)

    add_run_parser(sub)
    add_report_parser(sub)
    from experiments.calibration.command import add_parser as add_calibrate_parser

    add_calibrate_parser(sub)
    from experiments.optimization.command import add_parser as add_optimize_parser

    add_optimize_parser(sub)
    from experiments.explain import add_parser as add_explain_parser

    add_explain_parser(sub)
    from experiments.app.command import add_parser as add_app_parser

    add_app_parser(sub)
    from experiments.discovery.command import add_parser as add_discover_parser

    add_discover_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        # --debug is accepted anywhere, before or after the command
        args = parser.parse_args([a for a in argv if a != "--debug"])
        return args.func(args)
    except (ConfigError, UsageError) as err:
        if debug:
            raise
        say(f"partnersim: error: {err}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # outside a sweep, which saves its finished runs itself
        if debug:
            raise
        say("partnersim: interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
