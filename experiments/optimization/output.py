"""What an optimization writes: the tables, the chosen policy file, the printed summary.

    DIR/trials.parquet     per trial: state, feasible, finalist, chosen, seconds, error, each
                           lever, each objective's mean, each constraint's outcome and bound
                           (search replications), and `check.*` the same on fresh ones
    DIR/front.parquet      several objectives: the feasible non-dominated trials
    DIR/outcomes.parquet   per policy (finalists, presets) and fresh replication: the outcomes
    DIR/policy.toml        the chosen policy, a policy file (`experiments.policy_file`)

Every file is written whole or not at all (`experiments.store.atomic`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from agents import parameters
from experiments import policy_file
from experiments.optimization import outcomes
from experiments.optimization.problem import Problem
from experiments.optimization.search import Finished
from experiments.store import WriteError, write_atomically, write_bytes_atomically


def _lever_dtype(lever: Any) -> Any:
    sample = lever.choices[0] if lever.choices is not None else lever.low
    return {bool: pl.Boolean, int: pl.Int64, float: pl.Float64}.get(type(sample), pl.String)


def outcome_columns(problem: Problem, prefix: str = "") -> dict[str, Any]:
    """The objectives' and constraints' columns: each outcome's mean or share, each bound."""
    columns: dict[str, Any] = {}
    for o in problem.objectives:
        columns[prefix + o.label] = pl.Float64
    for c in problem.constraints:
        columns[prefix + c.outcome.label] = pl.Float64
        columns[prefix + c.bound_column] = pl.Float64
    return columns


def outcome_row(
    problem: Problem, values: dict[str, list[float | None]] | None, prefix: str = ""
) -> dict[str, Any]:
    """One candidate's columns (`outcome_columns`) from its outcomes per replication."""
    row: dict[str, Any] = dict.fromkeys(outcome_columns(problem, prefix))
    if not values:
        return row
    for label, value in outcomes.estimates(problem, values).items():
        row[prefix + label] = value
    frame = outcomes.frame_of(values)
    for c in problem.constraints:
        try:
            b = outcomes.bound(outcomes.run_values(frame, c.outcome), c, problem.confidence)
        except outcomes.UndefinedOutcome:
            b = None
        row[prefix + c.bound_column] = b
    return row


def feasible(problem: Problem, values: dict[str, list[float | None]] | None) -> bool | None:
    if not values:
        return None
    try:
        return outcomes.evaluate(problem, values).feasible
    except outcomes.UndefinedOutcome:
        return None


def trials_frame(
    problem: Problem,
    trials: list[Any],
    checks: dict[int, Finished],
    chosen: int | None,
) -> pl.DataFrame:
    """One row per stored trial; `check.*` columns for the finalists' fresh replications."""
    rows = []
    for t in trials:
        values = t.user_attrs.get("outcomes")
        check = checks.get(t.number)
        check_values = check.evaluation.values if check and check.evaluation else None
        row: dict[str, Any] = {
            "trial": t.number,
            "state": t.state.name.lower(),
            "feasible": feasible(problem, values),
            "finalist": t.number in checks,
            "chosen": t.number == chosen,
            "seconds": t.user_attrs.get("seconds"),
            "error": t.user_attrs.get("error"),
        }
        row |= {lever.key: t.params.get(lever.key) for lever in problem.levers}
        row |= outcome_row(problem, values)
        row["check.feasible"] = feasible(problem, check_values)
        row |= outcome_row(problem, check_values, "check.")
        if check is not None and check.error:
            row["error"] = row["error"] or f"check: {check.error}"
        rows.append(row)
    schema: dict[str, Any] = {
        "trial": pl.Int64,
        "state": pl.String,
        "feasible": pl.Boolean,
        "finalist": pl.Boolean,
        "chosen": pl.Boolean,
        "seconds": pl.Float64,
        "error": pl.String,
    }
    schema |= {lever.key: _lever_dtype(lever) for lever in problem.levers}
    schema |= outcome_columns(problem)
    schema["check.feasible"] = pl.Boolean
    schema |= outcome_columns(problem, "check.")
    return pl.DataFrame(rows, schema=schema, orient="row" if not rows else None)


def front_frame(problem: Problem, trials: pl.DataFrame, keys: list[int]) -> pl.DataFrame:
    """The non-dominated feasible trials (`keys`, best on the first objective first)."""
    order = pl.DataFrame({"trial": keys, "rank": list(range(len(keys)))}, schema={
        "trial": pl.Int64, "rank": pl.Int64})  # fmt: skip
    columns = ["trial", *[lv.key for lv in problem.levers], *outcome_columns(problem)]
    columns += ["finalist", "chosen"]
    return order.join(trials.select(columns), on="trial").sort("rank").drop("rank")


def outcomes_frame(problem: Problem, policies: list[tuple[str, int | None, str, Finished]]):
    """Per policy and fresh replication: the outcome columns the problem reads.

    `policies` holds (label, trial or None, kind, its finished runs), kind `chosen`,
    `finalist` or `preset`.
    """
    rows = []
    for label, trial, kind, finished in policies:
        values = finished.evaluation.values if finished.evaluation else None
        if values is None:
            continue
        for r in range(problem.replications):
            row = {"policy": label, "trial": trial, "kind": kind, "replication": r}
            row |= {c: values[c][r] for c in problem.outcomes}
            rows.append(row)
    schema = {"policy": pl.String, "trial": pl.Int64, "kind": pl.String, "replication": pl.Int64}
    schema |= dict.fromkeys(problem.outcomes, pl.Float64)
    return pl.DataFrame(rows, schema=schema, orient="row" if not rows else None)


def chosen_policy(problem: Problem, values: dict[str, Any]) -> parameters.Policy:
    """The chosen levers on the starting policy, named after the problem."""
    import dataclasses

    policy = problem.parameters(values).policy
    return dataclasses.replace(policy, name=problem.name)


def policy_text(problem: Problem, trial: Any, values: dict[str, Any], lines: list[str]) -> str:
    preset = None if policy_file.is_file(problem.policy) else problem.policy
    header = [
        f"{problem.name}: chosen by `partnersim optimize`, trial {trial}",
        *lines,
        'use: partnersim simulate --policy FILE, or base.policy = "FILE" in an experiment',
    ]
    return policy_file.policy_toml(chosen_policy(problem, values), preset=preset, header=header)


# --- writing -------------------------------------------------------------------------------


def write_frame(path: Path, frame: pl.DataFrame) -> None:
    try:
        write_atomically(path, frame.write_parquet)
    except (OSError, pl.exceptions.PolarsError) as err:
        raise WriteError(path, err) from None


def write_text(path: Path, text: str) -> None:
    try:
        write_bytes_atomically(path, text.encode())
    except OSError as err:
        raise WriteError(path, err) from None


# --- the printed summary -------------------------------------------------------------------


def shown(value: float | None, share: bool) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if share:
        return f"{value:.1%}"
    from experiments.report.formatting import money

    return money(value) if abs(value) >= 1000 else f"{value:.4g}"


def summary_frame(problem: Problem, table: pl.DataFrame) -> pl.DataFrame:
    """Per policy (outcomes.parquet): each objective's mean with its 95% interval, each
    constraint's outcome and one-sided bound, and whether the constraints hold."""
    from experiments.report.statistics import t_half_width

    rows = []
    for (label,), group in table.group_by("policy", maintain_order=True):
        values = {c: group[c].to_list() for c in problem.outcomes}
        row: dict[str, Any] = {"policy": label, "kind": group["kind"][0], "runs": group.height}
        frame = outcomes.frame_of(values)
        for o in problem.objectives:
            x = outcomes.run_values(frame, o.outcome)
            x = x[np.isfinite(x)]
            mean = float(x.mean()) if x.size else None
            half = (
                float(t_half_width(np.array([x.std(ddof=1)]), np.array([x.size]))[0])
                if x.size > 1
                else math.nan
            )
            row[o.label] = mean
            row[f"{o.label}_ci_low"] = None if mean is None else mean - half
            row[f"{o.label}_ci_high"] = None if mean is None else mean + half
        row |= {k: v for k, v in outcome_row(problem, values).items() if k not in row}
        row["feasible"] = feasible(problem, values)
        rows.append(row)
    return pl.DataFrame(rows, orient="row" if not rows else None)


def format_summary(problem: Problem, summary: pl.DataFrame) -> str:
    """The policies against each other, as aligned text."""
    headers = ["policy"]
    for o in problem.objectives:
        headers.append(f"{o.label} (95% CI)")
    for c in problem.constraints:
        headers.append(f"{c.outcome.label} ({c.side} {shown(c.limit, c.outcome.share)})")
    headers.append("holds")
    lines = []
    for r in summary.iter_rows(named=True):
        cells = [r["policy"]]
        for o in problem.objectives:
            share = o.outcome.share
            cells.append(
                f"{shown(r[o.label], share)} ({shown(r[f'{o.label}_ci_low'], share)} to "
                f"{shown(r[f'{o.label}_ci_high'], share)})"
            )
        for c in problem.constraints:
            share = c.outcome.share
            word = "upper" if c.side == "max" else "lower"
            cells.append(
                f"{shown(r[c.outcome.label], share)}, {word} {shown(r[c.bound_column], share)}"
            )
        cells.append({True: "yes", False: "no", None: "n/a"}[r["feasible"]])
        lines.append(cells)
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(headers)]
    text = []
    for cells in [headers, *lines]:
        parts = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        text.append("  ".join(parts).rstrip())
    return "\n".join(text)
