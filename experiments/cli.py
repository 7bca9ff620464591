"""The `partnersim` command: simulate one run, list presets and parameters.

Errors are for people: a bad argument or parameter prints one line naming the key, the
value and what was expected, and exits 2 (a traceback only with --debug).
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

from agents import policies
from agents.policies import ConfigError

EXIT_BAD_INPUT = 2


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


def write_parquet_atomically(frame, path: Path) -> None:
    """Write under a temporary name, then rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    frame.write_parquet(tmp)
    os.replace(tmp, path)


def cmd_simulate(args: argparse.Namespace) -> int:
    from sim.run import RunSpec, simulate

    overrides = dict(parse_assignment(text) for text in args.set or [])
    params = policies.build(args.market, args.policy, overrides)
    if args.years <= 0 or args.years > 200:
        raise ConfigError("years", args.years, "a number of years in (0, 200]")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: got {str(out)!r}, expected a directory")
    spec = RunSpec(params=params, years=args.years, seed=args.seed)
    result = simulate(spec)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("runs", "monthly", "deals"):
        write_parquet_atomically(getattr(result, name), out / f"{name}.parquet")
    print(summary(result.runs.row(0, named=True), out))
    return 0


def summary(row: dict[str, Any], out: Path) -> str:
    """A short human summary of one run."""
    target = row["policy.target_per_rep_usd"]
    per_rep = row["revenue_per_rep_year1_usd"]
    share = per_rep / target if target else float("nan")
    if row["partnership_terminated"]:
        survived = f"ended in month {row['terminated_month']}"
    else:
        survived = "survived"
    win = "n/a" if row["win_rate"] is None else f"{row['win_rate']:.0%}"
    cycle = "n/a" if row["median_cycle_days"] is None else f"{row['median_cycle_days']:.0f} days"
    return "\n".join(
        [
            f"{row['market.name']} / {row['policy.name']}, {row['years']:g} years, seed "
            f"{row['seed_entropy']} (run {row['run_id']})",
            f"  first-year revenue per rep: ${per_rep:,.0f} "
            f"({share:.0%} of the ${target:,.0f} target)",
            f"  {row['years']:g}-year revenue: ${row['revenue_total_usd']:,.0f}; "
            f"NPV ${row['npv_usd']:,.0f}",
            f"  partnership: {survived}",
            f"  deals won {row['deals_won']}, win rate {win}, median days to close {cycle}",
            f"  tables: {out}/runs.parquet, monthly.parquet, deals.parquet",
        ]
    )


def cmd_presets(args: argparse.Namespace) -> int:
    print("markets: " + ", ".join(policies.market_names()))
    print("presets: " + ", ".join(policies.PRESET_NAMES))
    print()
    print("policy presets (differences from the defaults below):")
    default = policies.Policy()
    for name in policies.PRESET_NAMES:
        preset = policies.PRESETS[name]
        diffs = [
            f"{f}={getattr(preset, f)}"
            for f in preset.__dataclass_fields__
            if f != "name" and getattr(preset, f) != getattr(default, f)
        ]
        print(f"  {name}: " + ", ".join(diffs))
    print()
    params = policies.build(args.market, args.policy)
    print(f"parameters for market {args.market}, policy {args.policy} (key, default, unit, range):")
    for row in policies.parameter_table(params):
        unit = f" [{row['unit']}]" if row["unit"] else ""
        print(f"  {row['key']} = {row['value']!r}{unit}  ({row['range']}) {row['doc']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="partnersim", description="Cross-cultural sales partnership simulation."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="run one simulation and write its three tables")
    sim.add_argument("--market", default="japan", help="market profile (japan, us)")
    sim.add_argument("--policy", default="hybrid", help="policy preset")
    sim.add_argument("--years", type=float, default=5.0, help="horizon in years")
    sim.add_argument("--seed", type=int, default=0, help="root seed")
    sim.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a parameter by dotted name"
    )
    sim.add_argument("--out", default="results/simulate", help="output directory")
    sim.set_defaults(func=cmd_simulate)

    pre = sub.add_parser("presets", help="list markets, presets and every parameter")
    pre.add_argument("--market", default="japan")
    pre.add_argument("--policy", default="hybrid")
    pre.set_defaults(func=cmd_presets)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except (ConfigError, UsageError) as err:
        if debug:
            raise
        print(f"partnersim: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
