"""`partnersim discover DIR`: where, in the uncertainties, does each policy meet a condition?

    partnersim discover results/hybrid_robustness --outcome partnership_terminated \\
        --outcome "npv_usd < 0" --policy hybrid

Reads the runs `partnersim run` stored in DIR, groups them by the experiment's levers (or
keeps one `--policy`), and runs PRIM over the uncertainty columns for each `--outcome`
condition. Writes, each file whole or not at all:

    DIR/discovery.parquet, .csv        one row per condition, policy, box and uncertainty:
                                       the box's coverage, density, mass, and the range
    DIR/discovery_trajectory.parquet   every box's peeling trajectory (coverage, density)
    DIR/discovery.html, DIR/charts/discovery-*.png, .svg   the boxes and trajectories

Bad input (a condition that does not parse, an unknown outcome or uncertainty column, a
policy not in DIR, a DIR without runs, EMA Workbench not installed) is one line, exit code
2, nothing written. A file that cannot be written is one line, exit code 1.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from agents.parameters import ConfigError
from experiments.cli import EXIT_RUNS_FAILED, UsageError, say

CSV = "discovery.csv"
TABLES = ("discovery", "discovery_trajectory")  # DIR/<name>.parquet
DEFAULT_OUTCOME = "partnership_terminated"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "discover",
        help="find the uncertainties' ranges where a policy fails (PRIM, scenario discovery)",
        description="Scenario discovery on the runs stored in DIR: for each outcome condition "
        "and each lever setting (policy), PRIM boxes of the uncertainties where the condition "
        "holds, with coverage and density; written as DIR/discovery.parquet and "
        "DIR/discovery.html. Needs the extra partnersim[discovery] (EMA Workbench).",
    )
    parser.add_argument("dir", metavar="DIR", help="an experiment directory (partnersim run)")
    parser.add_argument(
        "--outcome",
        action="append",
        metavar="CONDITION",
        help="a boolean runs column, or COLUMN OP NUMBER (OP: < <= > >= == !=), e.g. "
        f"'npv_usd < 0'; repeat for several (default {DEFAULT_OUTCOME})",
    )
    parser.add_argument("--policy", metavar="NAME", help="only this policy's runs (policy.name)")
    parser.add_argument(
        "--uncertainty",
        action="append",
        metavar="COLUMN",
        help="an uncertainty column to restrict, repeatable (default: the experiment's "
        "[sweep.uncertainties])",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.8,
        help="the density a box should reach; the box is the step with the most coverage "
        "among those that do (default 0.8)",
    )
    parser.add_argument(
        "--boxes", type=int, default=2, help="the most boxes per condition and policy (default 2)"
    )
    parser.add_argument(
        "--peel-alpha", type=float, default=0.05, help="share of runs peeled per step (0.05)"
    )
    parser.add_argument(
        "--mass-min", type=float, default=0.05, help="the smallest box, as a share of runs (0.05)"
    )
    parser.add_argument(
        "--max-qp",
        type=float,
        default=0.05,
        help="drop a box's restriction whose quasi-p value is above this (0.05; 1 keeps all)",
    )
    parser.add_argument(
        "--no-images", action="store_true", help="skip the PNG and SVG files of the charts"
    )
    parser.set_defaults(func=cmd_discover)
    return parser


def _settings(args: argparse.Namespace) -> Any:
    from experiments.discovery.analysis import Settings

    checks = (
        ("--threshold", args.threshold, 0.0, 1.0, "a density in (0, 1]"),
        ("--peel-alpha", args.peel_alpha, 0.0, 0.5, "a share in (0, 0.5]"),
        ("--mass-min", args.mass_min, 0.0, 0.5, "a share in (0, 0.5]"),
        ("--max-qp", args.max_qp, 0.0, 1.0, "a quasi-p value in (0, 1]"),
    )
    for key, value, low, high, expected in checks:
        if not low < value <= high:  # NaN fails too
            raise ConfigError(key, value, expected)
    if not 1 <= args.boxes <= 20:
        raise ConfigError("--boxes", args.boxes, "an integer in [1, 20]")
    return Settings(
        threshold=args.threshold,
        max_boxes=args.boxes,
        peel_alpha=args.peel_alpha,
        mass_min=args.mass_min,
        max_qp=args.max_qp,
    )


def cmd_discover(args: argparse.Namespace) -> int:
    from experiments.discovery import analysis, condition, prim_adapter

    started = time.perf_counter()
    settings = _settings(args)
    texts = args.outcome or [DEFAULT_OUTCOME]
    conditions = list(dict.fromkeys(condition.parse(t) for t in texts))
    try:
        prim_adapter.require()
    except prim_adapter.PrimUnavailable as err:
        raise UsageError(str(err)) from None
    from experiments import store
    from experiments.report.reading import ReportError, read_experiment

    try:
        experiment = read_experiment(args.dir)
    except (store.StoreError, ReportError) as err:
        raise UsageError(str(err)) from None
    runs = experiment.runs
    for c in conditions:
        c.check(runs.schema)
    space = analysis.space_of(experiment.manifest, runs, args.uncertainty)
    groups = analysis.groups(runs, space.levers, args.policy)
    try:
        found = analysis.discover(groups, conditions, space, settings)
    except prim_adapter.PrimUnavailable as err:
        raise UsageError(str(err)) from None
    try:
        page = write_outputs(experiment.path, found, space, settings, images=not args.no_images)
    except store.WriteError as err:
        say(f"partnersim: error: {err}")
        return EXIT_RUNS_FAILED
    print(analysis.format_text(found, settings))
    seconds = time.perf_counter() - started
    print(f"discovery: {page}, {Path(args.dir) / 'discovery.parquet'} ({seconds:.1f} s)")
    return 0


def write_outputs(root: Path, found: Any, space: Any, settings: Any, *, images: bool) -> Path:
    """The tables (renamed together), the CSV, then the page: each file whole or not at all."""
    from experiments.discovery import page
    from experiments.store import WriteError, write_atomically, write_tables

    write_tables(dict(zip(TABLES, (found.boxes, found.trajectory), strict=True)), root)
    try:
        write_atomically(root / CSV, found.boxes.write_csv)
    except OSError as err:
        raise WriteError(root / CSV, err) from None
    return page.write(root, found, space, settings, images)
