"""What the app shows of two ensembles, the setting and its pinned baseline: pure polars.

Each function takes the replications of both (`{"setting": [...], "baseline": [...]}`, as
many as have finished) and returns a tidy frame for one chart: revenue's P10/P50/P90 fan,
NPV per run, survival by who ended the partnership, the share not yet broken even, days to
close of won deals; and `paired_differences`, setting minus baseline replication by
replication (the two share their random numbers), with 95% t-intervals. The risk
aggregates are the report's own (`experiments.report.risk`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from experiments.app.pool import Replication
from experiments.report import risk
from experiments.report.statistics import t_half_width

SERIES = "series"  # the column naming the ensemble: "setting" or "baseline"
Ensembles = Mapping[str, Sequence[Replication]]

# The paired differences: (label, runs column or derived measure, unit).
MEASURES = (
    ("Revenue over the horizon", "revenue_total_usd", "USD"),
    ("NPV", "npv_usd", "USD"),
    ("Partnership ended", "partnership_terminated", "share"),
    ("Broke even within the horizon", "broke_even", "share"),
    ("Median days to close", "median_cycle_days", "days"),
    ("Win rate", "win_rate", "share"),
)


def runs_frame(ensembles: Ensembles) -> pl.DataFrame:
    """One row per replication: the series, the replication and its outcomes."""
    rows = [
        {SERIES: series, **rep.row, "replication": rep.replication}
        for series, reps in ensembles.items()
        for rep in reps
    ]
    if not rows:
        return pl.DataFrame(schema={SERIES: pl.String, "replication": pl.Int64})
    frame = pl.DataFrame(rows, schema_overrides=risk.COLUMNS, infer_schema_length=None)
    return frame.with_columns(pl.col(risk.BREAK_EVEN).is_not_null().alias("broke_even"))


def months(ensembles: Ensembles) -> int:
    return max(
        (len(r.cumulative_revenue_usd) for reps in ensembles.values() for r in reps), default=0
    )


def revenue_fan(ensembles: Ensembles) -> pl.DataFrame:
    """Per series and month: P10, P50, P90 of cumulative revenue over replications (USD)."""
    frames = [
        pl.DataFrame(
            {
                SERIES: series,
                "replication": rep.replication,
                "month": range(1, len(rep.cumulative_revenue_usd) + 1),
                "revenue": rep.cumulative_revenue_usd,
            }
        )
        for series, reps in ensembles.items()
        for rep in reps
    ]
    if not frames:
        return pl.DataFrame(schema={SERIES: pl.String, "month": pl.Int64, "p10": pl.Float64})
    revenue = pl.col("revenue")
    return (
        pl.concat(frames)
        .group_by(SERIES, "month", maintain_order=True)
        .agg(
            *[revenue.quantile(p / 100, "linear").alias(f"p{p}") for p in risk.PERCENTILES],
            pl.len().alias("n"),
        )
        .sort(SERIES, "month")
    )


def risk_table(ensembles: Ensembles) -> pl.DataFrame:
    """Per series: the report's risk measures (P(NPV < 0) with Wilson interval, ...)."""
    return risk.risk_measures(runs_frame(ensembles), [SERIES])


def survival(ensembles: Ensembles) -> pl.DataFrame:
    """Per series, curve and month: the share of partnerships still running, and the
    cumulative shares ended by the vendor and by the partner, with Wilson intervals."""
    runs = runs_frame(ensembles)
    horizon = months(ensembles)
    ended = risk.ended_by_month(runs, [SERIES], horizon)
    running = ended.filter(pl.col("ended_by") == risk.EITHER).with_columns(
        pl.lit("still running").alias("curve"),
        (1 - pl.col("value")).alias("value"),
        (1 - pl.col("hi")).alias("lo"),
        (1 - pl.col("lo")).alias("hi"),
    )
    sides = ended.filter(pl.col("ended_by") != risk.EITHER).with_columns(
        ("ended by " + pl.col("ended_by")).alias("curve")
    )
    return pl.concat([running, sides]).select(SERIES, "curve", "month", "value", "lo", "hi", "n")


def not_broken_even(ensembles: Ensembles) -> pl.DataFrame:
    """Per series and month: the share of runs whose cumulative net cash is still below 0."""
    return risk.not_yet_broken_even(runs_frame(ensembles), [SERIES], months(ensembles))


def cycle_days(ensembles: Ensembles) -> pl.DataFrame:
    """One row per deal won: its series and days from first contact to decision."""
    return pl.DataFrame(
        {
            SERIES: [s for s, reps in ensembles.items() for r in reps for _ in r.cycle_days],
            "days": [d for reps in ensembles.values() for r in reps for d in r.cycle_days],
        },
        schema={SERIES: pl.String, "days": pl.Float64},
    )


def paired_differences(ensembles: Ensembles) -> pl.DataFrame:
    """Setting minus baseline, per measure, over the replications both have finished.

    Columns: `measure`, `unit`, `setting`, `baseline` (means over the pairs), `difference`
    (mean paired difference), `lo`, `hi` (its 95% t-interval; null under two pairs or when
    every difference is the same, e.g. identical settings) and `pairs`. A pair counts for a
    measure when both runs have a value (a run with no deal won has no days to close).
    """
    runs = runs_frame(ensembles)
    present = set(runs[SERIES].unique()) if runs.height else set()
    rows = []
    for label, column, unit in MEASURES:
        pairs = _pairs(runs, column) if {"setting", "baseline"} <= present else None
        if pairs is None or pairs.height == 0:
            rows.append(_row(label, unit, math.nan, math.nan, [], 0))
            continue
        setting, baseline = pairs["setting"].to_numpy(), pairs["baseline"].to_numpy()
        rows.append(
            _row(label, unit, setting.mean(), baseline.mean(), setting - baseline, len(pairs))
        )
    return pl.DataFrame(rows, orient="row", schema=DIFFERENCE_SCHEMA)


DIFFERENCE_SCHEMA = {
    "measure": pl.String,
    "unit": pl.String,
    "setting": pl.Float64,
    "baseline": pl.Float64,
    "difference": pl.Float64,
    "lo": pl.Float64,
    "hi": pl.Float64,
    "pairs": pl.Int64,
}


def _pairs(runs: pl.DataFrame, column: str) -> pl.DataFrame:
    values = runs.select(SERIES, "replication", pl.col(column).cast(pl.Float64).alias("v"))
    wide = values.filter(pl.col(SERIES) == "setting").join(
        values.filter(pl.col(SERIES) == "baseline"), on="replication", suffix="_b"
    )
    return wide.select(setting="v", baseline="v_b").drop_nulls().drop_nans()


def _row(label: str, unit: str, setting: float, baseline: float, diffs, n: int) -> tuple:
    diffs = np.asarray(diffs, dtype=float)
    mean = diffs.mean() if n else math.nan
    sd = diffs.std(ddof=1) if n >= 2 else math.nan
    half = float(t_half_width(np.array([sd]), np.array([n]))[0]) if n >= 2 and sd > 0 else None
    lo = None if half is None else mean - half
    hi = None if half is None else mean + half
    nan_to_none = [
        None if isinstance(v, float) and math.isnan(v) else v for v in (setting, baseline, mean)
    ]
    return (label, unit, *nan_to_none, lo, hi, n)
