"""From an experiment directory's runs to PRIM boxes, as tables.

Which columns are uncertainties and which are levers comes from the manifest: an experiment
with `[sweep.levers]` and `[sweep.uncertainties]` records them (`design.levers`,
`design.uncertainties`). For one with `[sweep.parameters]` the uncertainties must be named
(`--uncertainty`), and its listed `policy`, `policy.*` and `market` sweeps are the groups.
Runs are analysed per lever setting (a policy), each run one point: its uncertainties' values
and whether it meets the condition. Everything is checked before PRIM runs, so bad input is
one ConfigError naming it, before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from agents.parameters import MISSING, ConfigError
from experiments.discovery import prim_adapter
from experiments.discovery.condition import Condition

ALL_RUNS = "all runs"
BOX_SCHEMA = {
    "condition": pl.String,
    "group": pl.String,
    "runs": pl.Int64,  # runs of the group with a value for the condition's column
    "cases": pl.Int64,  # of which meet the condition
    "left_out": pl.Int64,  # runs of the group without a value (null), not analysed
    "box": pl.Int64,  # 1, 2, ...: the order PRIM found them in
    "coverage": pl.Float64,
    "density": pl.Float64,
    "mass": pl.Float64,
    "restricted_count": pl.Int64,
    "box_runs": pl.Int64,
    "box_cases": pl.Int64,
    "meets_threshold": pl.Boolean,
    "step": pl.Int64,  # the chosen step of the peeling trajectory
    "uncertainty": pl.String,
    "low": pl.Float64,
    "high": pl.Float64,
    "restricted": pl.Boolean,
    "range_low": pl.Float64,  # the uncertainty's sampled range
    "range_high": pl.Float64,
    "qp_low": pl.Float64,
    "qp_high": pl.Float64,
}
TRAJECTORY_SCHEMA = {
    "condition": pl.String,
    "group": pl.String,
    "box": pl.Int64,
    "step": pl.Int64,
    "coverage": pl.Float64,
    "density": pl.Float64,
    "mass": pl.Float64,
    "restricted_count": pl.Int64,
    "box_runs": pl.Int64,
    "box_cases": pl.Int64,
    "chosen": pl.Boolean,
}


@dataclass(frozen=True, slots=True)
class Space:
    """The columns of a discovery: what groups runs, what PRIM restricts, and their ranges."""

    levers: tuple[str, ...]
    uncertainties: tuple[str, ...]
    ranges: dict[str, tuple[float, float]]  # each uncertainty's sampled range


@dataclass(frozen=True, slots=True)
class Settings:
    threshold: float = 0.8
    max_boxes: int = 2
    peel_alpha: float = prim_adapter.PEEL_ALPHA
    mass_min: float = prim_adapter.MASS_MIN
    max_qp: float = prim_adapter.MAX_QP


@dataclass(frozen=True, slots=True)
class Group:
    label: str
    runs: pl.DataFrame


@dataclass(frozen=True, slots=True)
class Discovery:
    """What `discover` found: one row per box and uncertainty, and every box's trajectory."""

    boxes: pl.DataFrame
    trajectory: pl.DataFrame
    summary: list[dict[str, Any]]  # per condition and group: runs, cases, left_out, boxes


def space_of(manifest: dict[str, Any], runs: pl.DataFrame, given: list[str] | None) -> Space:
    """The levers (grouping columns) and uncertainties of an experiment; ConfigError naming
    an uncertainty that is not a number column of the runs table."""
    design = manifest.get("design", {})
    parameters = design.get("parameters", {})
    if "uncertainties" in design:
        levers = [str(c) for c in design.get("levers", [])]
    else:  # a [sweep.parameters] experiment: its listed policy and market sweeps
        levers = [
            p["column"]
            for p in parameters.values()
            if "values" in p and str(p.get("column", "")).startswith(("policy", "market.name"))
        ]
    uncertainties = list(given) if given else [str(c) for c in design.get("uncertainties", [])]
    if not uncertainties:
        raise ConfigError(
            "--uncertainty",
            MISSING,
            "the uncertainty columns to restrict: DIR's experiment has no "
            "[sweep.uncertainties] (e.g. --uncertainty market.freeze_rate_per_year)",
        )
    if len(set(uncertainties)) != len(uncertainties):
        raise ConfigError("--uncertainty", uncertainties, "each column once")
    declared = {p.get("column"): p for p in parameters.values() if "low" in p}
    ranges = {}
    for column in uncertainties:
        dtype = runs.schema.get(column)
        if dtype is None or not (dtype.is_numeric() or dtype == pl.Boolean):
            dotted = [c for c, t in runs.schema.items() if "." in c and t.is_numeric()]
            raise ConfigError(
                "--uncertainty" if given else "manifest.json design.uncertainties",
                column,
                "a number column of DIR's runs table (a parameter's dotted name, e.g. "
                + ", ".join(dotted[:3])
                + ")",
            )
        if column in levers:
            raise ConfigError("--uncertainty", column, "a column that is not a lever")
        if column in declared:
            ranges[column] = (float(declared[column]["low"]), float(declared[column]["high"]))
        else:
            values = runs[column].cast(pl.Float64)
            ranges[column] = (float(values.min()), float(values.max()))
    levers = [c for c in levers if c in runs.columns]
    return Space(levers=tuple(levers), uncertainties=tuple(uncertainties), ranges=ranges)


def groups(runs: pl.DataFrame, levers: tuple[str, ...], policy: str | None) -> list[Group]:
    """The runs per lever setting (one group without levers); `policy` keeps one policy."""
    if policy is not None:
        names = list(dict.fromkeys(runs["policy.name"])) if "policy.name" in runs.columns else []
        if policy not in names:
            raise ConfigError("--policy", policy, "a policy in DIR's runs: " + ", ".join(names))
        runs = runs.filter(pl.col("policy.name") == policy)
    if not levers:
        return [Group(policy or ALL_RUNS, runs)]
    found = []
    for key, frame in runs.group_by(list(levers), maintain_order=True):
        if len(levers) == 1:
            label = str(key[0])
        else:
            label = ", ".join(f"{c}={v}" for c, v in zip(levers, key, strict=True))
        found.append(Group(label, frame))
    return found


def discover(
    groups_: list[Group], conditions: list[Condition], space: Space, settings: Settings
) -> Discovery:
    """PRIM per condition and group; boxes and trajectories as tables."""
    box_rows: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    summary = []
    for condition in conditions:
        for group in groups_:
            cases, valued = condition.evaluate(group.runs)
            kept = group.runs.filter(pl.Series(valued))
            x = {u: kept[u].to_numpy() for u in space.uncertainties}
            boxes = prim_adapter.find_boxes(
                x,
                cases[valued],
                threshold=settings.threshold,
                max_boxes=settings.max_boxes,
                peel_alpha=settings.peel_alpha,
                mass_min=settings.mass_min,
                max_qp=settings.max_qp,
            )
            head = {
                "condition": condition.label,
                "group": group.label,
                "runs": int(valued.sum()),
                "cases": int(cases.sum()),
                "left_out": int((~valued).sum()),
            }
            summary.append({**head, "boxes": len(boxes)})
            for number, box in enumerate(boxes, start=1):
                step = box.step
                stats = {
                    "box": number,
                    "coverage": step.coverage,
                    "density": step.density,
                    "mass": step.mass,
                    "restricted_count": step.restricted,
                    "box_runs": step.runs,
                    "box_cases": step.cases,
                    "meets_threshold": box.meets_threshold,
                    "step": box.chosen,
                }
                for name, limit in box.limits.items():
                    low, high = space.ranges[name]
                    box_rows.append(
                        {
                            **head,
                            **stats,
                            "uncertainty": name,
                            "low": limit.low,
                            "high": limit.high,
                            "restricted": limit.restricted,
                            "range_low": low,
                            "range_high": high,
                            "qp_low": limit.qp_low,
                            "qp_high": limit.qp_high,
                        }
                    )
                for i, s in enumerate(box.trajectory):
                    steps.append(
                        {
                            "condition": condition.label,
                            "group": group.label,
                            "box": number,
                            "step": i,
                            "coverage": s.coverage,
                            "density": s.density,
                            "mass": s.mass,
                            "restricted_count": s.restricted,
                            "box_runs": s.runs,
                            "box_cases": s.cases,
                            "chosen": i == box.chosen,
                        }
                    )
    return Discovery(
        boxes=pl.DataFrame(box_rows, schema=BOX_SCHEMA),
        trajectory=pl.DataFrame(steps, schema=TRAJECTORY_SCHEMA),
        summary=summary,
    )


def _number(value: float) -> str:
    return f"{value:.4g}"


def restriction_text(row: dict[str, Any]) -> str:
    """`0.7 <= a`, `b <= 0.3` or `0.2 <= c <= 0.5`: the restricted sides of one limit."""
    name = row["uncertainty"]
    lower = row["qp_low"] is not None
    upper = row["qp_high"] is not None
    if lower and upper:
        return f"{_number(row['low'])} <= {name} <= {_number(row['high'])}"
    if lower:
        return f"{name} >= {_number(row['low'])}"
    return f"{name} <= {_number(row['high'])}"


def format_text(discovery: Discovery, settings: Settings) -> str:
    """The boxes as lines for a terminal: per condition and group, each box and its limits."""
    lines = []
    restricted = discovery.boxes.filter(pl.col("restricted"))
    for s in discovery.summary:
        share = s["cases"] / s["runs"] if s["runs"] else 0.0
        left = f", {s['left_out']} without a value left out" if s["left_out"] else ""
        lines.append(
            f"{s['condition']} | {s['group']}: {s['cases']} of {s['runs']} runs ({share:.1%}){left}"
        )
        if not s["boxes"]:
            reason = "no run meets it" if not s["cases"] else "every run meets it"
            lines.append(f"  no box: {reason}")
            continue
        mine = discovery.boxes.filter(
            (pl.col("condition") == s["condition"]) & (pl.col("group") == s["group"])
        )
        for number in mine["box"].unique(maintain_order=True):
            box = mine.filter(pl.col("box") == number).row(0, named=True)
            note = "" if box["meets_threshold"] else f" (below the density {settings.threshold})"
            lines.append(
                f"  box {number}: coverage {box['coverage']:.1%}, density {box['density']:.1%}"
                f"{note}, mass {box['mass']:.1%} ({box['box_cases']} of {box['box_runs']} runs)"
            )
            limits = restricted.filter(
                (pl.col("condition") == s["condition"])
                & (pl.col("group") == s["group"])
                & (pl.col("box") == number)
            )
            for row in limits.iter_rows(named=True):
                qp = max(v for v in (row["qp_low"], row["qp_high"]) if v is not None)
                lines.append(
                    f"    {restriction_text(row)}   (sampled {_number(row['range_low'])} to "
                    f"{_number(row['range_high'])}; quasi-p {qp:.2g})"
                )
            if limits.is_empty():
                lines.append("    no uncertainty restricted")
    return "\n".join(lines)
