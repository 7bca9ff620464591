"""`partnersim explain`: how much of an outcome's difference between two policies each lever
accounts for, as Shapley values with common random numbers.

    partnersim explain --market japan --from us_urgency --to hybrid --outcome npv_usd

The levers are the policy fields where the two policies differ (after `--set`). Every
coalition of them (the `from` policy with those levers switched to the `to` policy's
values) runs the same replications from the same seed, so differences are paired; up to
`shapley.EXACT_UP_TO` levers every coalition runs (a full-factorial grid), above that the
coalitions on `--permutations` random orders of the levers. The runs go through the
experiment stack: DIR is an experiment directory (manifest, design.parquet, runs/, ...;
`partnersim report DIR` works on it), written as runs finish and resumed by the same
command after any interruption. Then:

    DIR/shapley.parquet               per lever: from and to values, the Shapley value, its
                                      95% interval over replications, its share of the total;
                                      and a `total` row, the difference itself
    DIR/shapley_replications.parquet  per lever and replication: the Shapley value
    DIR/explain.html, DIR/charts/shapley.png   the split as a chart

Bad input (an unknown preset, policy file, market, outcome or parameter, two policies that
do not differ) is one line, exit code 2, nothing written.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from agents import parameters
from agents.parameters import ConfigError
from experiments import policy_file, shapley
from experiments.cli import (
    EXIT_RUNS_FAILED,
    MAX_WORKERS,
    UsageError,
    _sigterm_as_interrupt,
    add_memory_flag,
    check_memory,
    directory_path,
    parse_assignment,
    say,
)

DEFAULT_PERMUTATIONS = 200
SHAPLEY = "shapley.parquet"
REPLICATIONS = "shapley_replications.parquet"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "explain",
        help="split an outcome's difference between two policies among the levers (Shapley)",
        description="Split the difference in an outcome between two policies among the "
        "levers where they differ: Shapley values over those levers, every coalition run on "
        "the same replications (common random numbers), each with a 95% interval over "
        "replications; written as DIR/shapley.parquet and DIR/explain.html.",
    )
    parser.add_argument("--market", default="japan", help="market profile (default japan)")
    parser.add_argument(
        "--from", dest="source", required=True, metavar="POLICY", help="preset or policy file"
    )
    parser.add_argument(
        "--to", dest="target", required=True, metavar="POLICY", help="preset or policy file"
    )
    parser.add_argument(
        "--outcome", default="npv_usd", help="a runs-table column (default npv_usd)"
    )
    parser.add_argument("--years", type=float, default=5.0, help="horizon in years (default 5)")
    parser.add_argument(
        "--replications", type=int, default=30, help="replications per coalition (default 30)"
    )
    parser.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a parameter in both"
    )
    parser.add_argument(
        "--permutations",
        type=int,
        default=DEFAULT_PERMUTATIONS,
        metavar="N",
        help=f"random lever orders above {shapley.EXACT_UP_TO} levers "
        f"(default {DEFAULT_PERMUTATIONS})",
    )
    parser.add_argument(
        "--out", metavar="DIR", type=directory_path, help="output directory (default results/...)"
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="local worker processes (default: one per core)"
    )
    parser.add_argument(
        "--fresh", action="store_true", help="discard results already in DIR and start over"
    )
    parser.add_argument(
        "--no-images", action="store_true", help="skip the PNG and SVG files of the chart"
    )
    add_memory_flag(parser)
    parser.set_defaults(func=cmd_explain)
    return parser


# --- the question --------------------------------------------------------------------------


class Question:
    """A validated `explain` invocation: the two policies, the levers where they differ."""

    def __init__(self, args: argparse.Namespace) -> None:
        from experiments.optimization.problem import outcome_columns

        if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
            raise UsageError(
                f"--workers: got {args.workers}, expected an integer in [1, {MAX_WORKERS}]"
            )
        if not 2 <= args.replications <= 100_000:
            raise UsageError(
                f"--replications: got {args.replications}, expected an integer in [2, 100000] "
                "(an interval needs two)"
            )
        if not 1 <= args.permutations <= 100_000:
            raise UsageError(
                f"--permutations: got {args.permutations}, expected an integer in [1, 100000]"
            )
        if not 0 < args.years <= parameters.MAX_YEARS:
            raise ConfigError("--years", args.years, f"a number in (0, {parameters.MAX_YEARS}]")
        if args.seed < 0:
            raise ConfigError("--seed", args.seed, "a non-negative integer")
        if args.market not in parameters.market_names():
            raise ConfigError(
                "--market", args.market, "one of " + ", ".join(parameters.market_names())
            )
        columns = outcome_columns()
        if args.outcome not in columns:
            raise ConfigError(
                "--outcome",
                args.outcome,
                "an outcome column of the runs table (e.g. npv_usd, partnership_terminated, "
                "revenue_total_usd; README, Output tables)",
            )
        self.outcome, self.kind = args.outcome, columns[args.outcome]
        overrides: dict[str, Any] = {}
        for key, value in map(parse_assignment, args.set or []):
            if key in overrides:
                raise ConfigError(key, value, f"each parameter once (--set {key} is given twice)")
            overrides[key] = value
        self.source = policy_file.resolve(args.source, "--from")
        self.target = policy_file.resolve(args.target, "--to")
        built = parameters.build(args.market, self.source, overrides)
        parameters.build(args.market, self.target, overrides)
        flat = parameters.flatten(built)
        self.overrides = {k: flat[k] for k in overrides}
        to_flat = parameters.flatten(parameters.build(args.market, self.target, overrides))
        self.levers = [
            f"policy.{lever}"
            for lever in policy_file.levers()
            if flat[f"policy.{lever}"] != to_flat[f"policy.{lever}"]
        ]
        if not self.levers:
            raise UsageError(
                f"--to: got {args.target!r}, expected a policy that differs from --from "
                f"({args.source!r}) in at least one lever"
                + (" once --set is applied" if overrides else "")
            )
        self.from_values = [flat[k] for k in self.levers]
        self.to_values = [to_flat[k] for k in self.levers]
        self.args = args
        self.market = args.market

    @property
    def exact(self) -> bool:
        return len(self.levers) <= shapley.EXACT_UP_TO

    def name(self) -> str:
        def part(text: str) -> str:
            stem = Path(text).stem if policy_file.is_file(text) else text
            return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)[:30]

        a = self.args
        return f"explain-{a.market}-{part(a.source)}-{part(a.target)}-{a.outcome}"[:100]

    def config(self) -> Any:
        """The experiment: the `from` policy, a grid of each lever at its two values."""
        from experiments.config import ExperimentConfig
        from experiments.sweep import Sweep, SweptParameter

        a = self.args
        way = (
            "every coalition"
            if self.exact
            else f"coalitions on {a.permutations} random orders of the levers"
        )
        return ExperimentConfig(
            name=self.name(),
            description=(
                f"partnersim explain: {a.outcome} from {a.source} to {a.target} in {a.market}, "
                f"Shapley values over {len(self.levers)} levers, {way}"
            ),
            years=a.years,
            replications=a.replications,
            seed=a.seed,
            market=a.market,
            policy=a.source,
            overrides=tuple(sorted(self.overrides.items())),
            sweep=Sweep(
                design="grid",
                parameters=tuple(
                    SweptParameter(key=k, values=(f, t))
                    for k, f, t in zip(self.levers, self.from_values, self.to_values, strict=True)
                ),
            ),
        )

    def coalitions(self) -> tuple[list[int], np.ndarray | None]:
        """The coalitions to run, and the sampled orders (None when exact)."""
        d = len(self.levers)
        if self.exact:
            return shapley.all_coalitions(d), None
        chosen = shapley.orders(d, self.args.permutations, self.args.seed)
        return shapley.path_coalitions(chosen), chosen


def grid_index(mask: int, d: int) -> int:
    """A coalition's design point in the full grid (the first lever varies slowest)."""
    return sum(1 << (d - 1 - i) for i in range(d) if mask >> i & 1)


def make_plan(question: Question) -> tuple[Any, dict[int, int], np.ndarray | None]:
    """The plan of runs, each coalition's design point in it, and the sampled orders."""
    from experiments import design

    config = question.config()
    d = len(question.levers)
    masks, chosen = question.coalitions()
    if question.exact:
        plan = design.plan(config)
        return plan, {m: grid_index(m, d) for m in masks}, chosen
    every = design.design_points(config)
    points, where = [], {}
    for mask in masks:
        point = every[grid_index(mask, d)]
        where[mask] = len(points)
        points.append(design.DesignPoint(index=len(points), sample_index=None, values=point.values))
    plan = design.plan_points(config, tuple(points))
    return plan, where, chosen


# --- the command ---------------------------------------------------------------------------


def cmd_explain(args: argparse.Namespace) -> int:
    question = Question(args)
    from experiments import runner, store

    plan, where, chosen = make_plan(question)
    processes = min(args.workers or runner.default_workers(), plan.runs)
    check_memory(args, ((s.params, s.years) for s in plan.specs), processes=processes, driver=True)
    out = Path(args.out) if args.out else Path("results") / question.name()
    from experiments.config import to_toml

    try:
        store.check_destination(out, plan, fresh=args.fresh)
        with (
            runner.make_executor(args.workers) as info,
            _sigterm_as_interrupt(),
            store.ResultStore.open(
                out, plan, config_text=to_toml(plan.config), fresh=args.fresh
            ) as results,
        ):
            results.start_session(executor=info.description, slots=info.slots)
            d = len(question.levers)
            say(
                f"{question.name()}: {d} levers differ; {len(where)} coalitions x "
                f"{args.replications} replications = {plan.runs} runs on {info.description} "
                f"-> {out}"
            )
            try:
                report = runner.run_sweep(
                    plan.specs, results, info.executor, slots=info.slots, progress=runner.Progress()
                )
            except KeyboardInterrupt:
                results.end_session(status="interrupted")
                raise
            results.end_session(
                status=report.status,
                runs_completed=report.completed,
                runs_failed=report.failed,
                elapsed_s=round(report.elapsed_s, 3),
            )
    except store.WriteError as err:
        say(f"partnersim: error: {err}")
        return EXIT_RUNS_FAILED
    except (store.StoreError, runner.ExecutorError) as err:
        raise UsageError(str(err)) from None
    from experiments.cli import run_exit_code

    code = run_exit_code(plan, out, report, failures=results.failures)
    if code:
        return code
    try:
        values = coalition_values(out, plan, where, question.outcome)
    except ValueError as err:
        say(f"partnersim: error: {err}")
        return EXIT_RUNS_FAILED
    per_replication = (
        shapley.exact(values, d) if chosen is None else shapley.sampled(values, chosen)
    )
    total = values[(1 << d) - 1] - values[0]
    table = summary_frame(question, per_replication, total)
    replications = replications_frame(question, per_replication)
    try:
        _write_frame(out / SHAPLEY, table)
        _write_frame(out / REPLICATIONS, replications)
        page = write_page(out, question, table, images=not args.no_images)
    except store.WriteError as err:
        say(f"partnersim: error: {err}; the runs are stored, the same command retries")
        return EXIT_RUNS_FAILED
    print(format_table(question, table))
    print(f"written: {out / SHAPLEY}, {out / REPLICATIONS}, {page}")
    return 0


def coalition_values(
    out: Path, plan: Any, where: dict[int, int], outcome: str
) -> dict[int, np.ndarray]:
    """Each coalition's outcome per replication, from the stored runs."""
    from experiments import store

    runs = store.scan(out, "runs").select("run_id", outcome).collect()
    lookup = dict(zip(runs["run_id"], runs[outcome].cast(pl.Float64), strict=True))
    values = {}
    for mask, point in where.items():
        row = [lookup.get(run_id) for run_id in plan.run_ids[point]]
        missing = sum(v is None or (isinstance(v, float) and math.isnan(v)) for v in row)
        if missing:
            raise ValueError(
                f"--outcome {outcome}: no value in {missing} of the runs (e.g. no deal won); "
                "a Shapley split needs a value in every run: choose another outcome"
            )
        values[mask] = np.array(row, dtype=float)
    return values


# --- output --------------------------------------------------------------------------------


def summary_frame(question: Question, phi: np.ndarray, total: np.ndarray) -> pl.DataFrame:
    """One row per lever (largest share first) and a `total` row: value, 95% interval."""
    whole, whole_lo, whole_hi = shapley.interval(total)
    rows = []
    for i, lever in enumerate(question.levers):
        value, lo, hi = shapley.interval(phi[i])
        rows.append(
            {
                "lever": lever,
                "from_value": str(question.from_values[i]),
                "to_value": str(question.to_values[i]),
                "shapley": value,
                "ci_low": lo,
                "ci_high": hi,
                "share_of_total": value / whole if whole else None,
            }
        )
    rows.sort(key=lambda r: -abs(r["shapley"]))
    rows.append(
        {
            "lever": "total",
            "from_value": question.args.source,
            "to_value": question.args.target,
            "shapley": whole,
            "ci_low": whole_lo,
            "ci_high": whole_hi,
            "share_of_total": 1.0 if whole else None,
        }
    )
    frame = pl.DataFrame(rows).with_columns(
        outcome=pl.lit(question.outcome),
        market=pl.lit(question.market),
        replications=pl.lit(phi.shape[1], pl.Int64),
        method=pl.lit("exact" if question.exact else f"{question.args.permutations} orders"),
    )
    return frame.with_columns(pl.col("share_of_total").cast(pl.Float64))


def replications_frame(question: Question, phi: np.ndarray) -> pl.DataFrame:
    d, replications = phi.shape
    return pl.DataFrame(
        {
            "lever": [lever for lever in question.levers for _ in range(replications)],
            "replication": [r for _ in range(d) for r in range(replications)],
            "shapley": phi.reshape(-1),
        },
        schema={"lever": pl.String, "replication": pl.Int64, "shapley": pl.Float64},
    )


def _shown(question: Question, value: float | None, signed: bool = True) -> str:
    from experiments.report.formatting import money

    if value is None or not math.isfinite(value):
        return "n/a"
    if question.kind == "bool":
        return f"{value * 100:+.1f} pp" if signed else f"{value:.0%}"
    text = money(abs(value)) if abs(value) >= 1000 else f"{abs(value):.4g}"
    return ("-" if value < 0 else "+") + text.lstrip("-") if signed else text


def format_table(question: Question, table: pl.DataFrame) -> str:
    a = question.args
    headers = ["lever", "from -> to", f"{a.outcome} (95% CI)", "share"]
    lines = []
    for r in table.iter_rows(named=True):
        share = "n/a" if r["share_of_total"] is None else f"{r['share_of_total']:.0%}"
        lines.append(
            [
                r["lever"],
                f"{r['from_value']} -> {r['to_value']}",
                f"{_shown(question, r['shapley'])} ({_shown(question, r['ci_low'])} to "
                f"{_shown(question, r['ci_high'])})",
                share,
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(headers)]
    text = [
        f"{a.outcome} from {a.source} to {a.target} in {a.market}: Shapley split over "
        f"{len(question.levers)} levers, {a.replications} paired replications (seed {a.seed})"
    ]
    for cells in [headers, *lines]:
        parts = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        text.append("  ".join(parts).rstrip())
    return "\n".join(text)


def _write_frame(path: Path, frame: pl.DataFrame) -> None:
    from experiments.store import WriteError, write_atomically

    try:
        write_atomically(path, frame.write_parquet)
    except (OSError, pl.exceptions.PolarsError) as err:
        raise WriteError(path, err) from None


def write_page(out: Path, question: Question, table: pl.DataFrame, images: bool) -> Path:
    from experiments.charts import MONEY, SHARE
    from experiments.charts.decisions import shapley_chart
    from experiments.report.standalone import Figure, Text, table_html, write_page

    a = question.args
    frame = table.select(
        pl.col("lever"),
        pl.when(pl.col("lever") == "total")
        .then(pl.lit("total"))
        .otherwise(pl.lit("lever"))
        .alias("kind"),
        pl.col("shapley").alias("value"),
        pl.col("ci_low").alias("lo"),
        pl.col("ci_high").alias("hi"),
    ).with_columns(panel=pl.lit(f"{a.market}: {a.source} -> {a.target}"))
    total = table.filter(pl.col("lever") == "total").row(0, named=True)
    top = table.filter(pl.col("lever") != "total").row(0, named=True)
    caption = (
        f"{a.outcome} changes by {_shown(question, total['shapley'])} (95% CI "
        f"{_shown(question, total['ci_low'])} to {_shown(question, total['ci_high'])}) from "
        f"{a.source} to {a.target}; {top['lever']} accounts for "
        f"{_shown(question, top['shapley'])}"
        + (f" ({top['share_of_total']:.0%} of it)." if top["share_of_total"] is not None else ".")
    )
    chart = shapley_chart(
        frame,
        title=f"What {a.outcome}'s difference is made of",
        x_title=f"{a.outcome}, {a.target} minus {a.source}"
        + (" (share of runs)" if question.kind == "bool" else ""),
        x_format=SHARE if question.kind == "bool" else MONEY,
        subtitle=f"Shapley values over {len(question.levers)} levers, "
        f"{a.replications} paired replications",
    )
    blocks = [
        Figure("shapley", "The split", caption, chart),
        Text("The table", table_html(table)),
    ]
    lead = (
        f"{a.outcome} from {a.source} to {a.target} in {a.market}, {a.years:g} years, seed "
        f"{a.seed}; " + ("every coalition" if question.exact else f"{a.permutations} orders") + "."
    )
    return write_page(
        out, "explain", f"partnersim explain: {question.name()}", lead, blocks, images
    )
