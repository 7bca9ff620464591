"""Risk: how outcomes spread over replications, not only their means.

Per group of runs (a design point, or a market and series of the report): percentiles of
horizon revenue and NPV, the probability of a negative NPV with its Wilson interval, the
share of partnerships ended and by whom, the break-even month (a run that never breaks
even counts as never: an infinite month) and the peak outlay; over months, the cumulative
share of partnerships ended by each side and the share of runs not yet broken even; and the
outcomes of ended deals. Everything is polars, on the runs and deals tables; both the run
summary (`experiments.summary`) and the report use these functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl

from experiments.report.statistics import with_wilson_ci

REVENUE = "revenue_total_usd"
NPV = "npv_usd"
ENDED = "partnership_terminated"
ENDED_BY = "partnership_ended_by"
ENDED_MONTH = "terminated_month"
BREAK_EVEN = "break_even_month"
PEAK_OUTLAY = "peak_outlay_usd"

PERCENTILES = (10, 50, 90)
SIDES = ("vendor", "partner")  # who may end a partnership
EITHER = "either"
DEAL_OUTCOMES = ("won", "lost_competitor", "no_decision", "stalled")  # ended deals
NEVER = math.inf  # the break-even month of a run that never breaks even

# The columns risk reads, with their types: a table written before the model recorded one
# of them (model v1) gets it as nulls, so its aggregates read "n/a" rather than fail.
COLUMNS = {
    REVENUE: pl.Float64,
    NPV: pl.Float64,
    ENDED: pl.Boolean,
    ENDED_BY: pl.String,
    ENDED_MONTH: pl.Int64,
    BREAK_EVEN: pl.Int64,
    PEAK_OUTLAY: pl.Float64,
}


def with_risk_columns(runs: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """The runs with every column risk reads, typed; missing ones are added as nulls.

    Before model v2 only the vendor could end a partnership: a table without
    `partnership_ended_by` names the vendor for every ended one.
    """
    lazy = runs.lazy()
    present = lazy.collect_schema().names()
    added = [pl.lit(None, dtype).alias(c) for c, dtype in COLUMNS.items() if c not in present]
    lazy = lazy.with_columns(added) if added else lazy
    if ENDED_BY not in present:
        vendor = pl.when(pl.col(ENDED)).then(pl.lit("vendor")).otherwise(None)
        lazy = lazy.with_columns(vendor.alias(ENDED_BY))
    return lazy.with_columns(pl.col(c).cast(dtype) for c, dtype in COLUMNS.items())


def risk_measures(runs: pl.DataFrame | pl.LazyFrame, keys: Sequence[str]) -> pl.DataFrame:
    """One row per group of `keys`, in order of first appearance.

    Columns: the keys, `runs`; `revenue_p10`, `revenue_p50`, `revenue_p90` and `npv_p10`,
    `npv_p50`, `npv_p90` (linear-interpolated percentiles over runs); `npv_negative` (share
    of runs with NPV < 0), `npv_negative_lo`, `npv_negative_hi` (its Wilson 95% interval)
    and `npv_n` (runs with an NPV); `ended`, `ended_vendor`, `ended_partner` (shares of
    runs whose partnership ended: by either side, by each); `break_even_median` (month;
    inf when at least half the runs never break even) and `break_even_never` (share of
    runs that never do); `peak_outlay_median` (USD).
    """
    keys = list(keys)
    recorded = runs.lazy().collect_schema().names()
    revenue, npv = pl.col(REVENUE), pl.col(NPV)
    # A null break-even month means never, where the model records it at all.
    break_even = pl.col(BREAK_EVEN).cast(pl.Float64).fill_null(NEVER)
    if BREAK_EVEN not in recorded:
        break_even = pl.col(BREAK_EVEN).cast(pl.Float64)
    percentiles = [
        col.quantile(p / 100, interpolation="linear").alias(f"{name}_p{p}")
        for name, col in (("revenue", revenue), ("npv", npv))
        for p in PERCENTILES
    ]
    side = pl.col(ENDED_BY)
    table = (
        with_risk_columns(runs)
        .group_by(keys, maintain_order=True)
        .agg(
            pl.len().alias("runs"),
            *percentiles,
            (npv < 0).sum().alias("_negative"),
            npv.count().alias("npv_n"),
            pl.col(ENDED).cast(pl.Float64).mean().alias("ended"),
            *[(side == s).fill_null(False).mean().alias(f"ended_{s}") for s in SIDES],
            break_even.median().alias("break_even_median"),
            break_even.is_infinite().mean().alias("break_even_never"),
            pl.col(PEAK_OUTLAY).median().alias("peak_outlay_median"),
        )
        .collect()
    )
    defined = pl.col("npv_n") > 0
    table = table.with_columns(
        pl.when(defined).then(pl.col("_negative") / pl.col("npv_n")).otherwise(0.0).alias("_p")
    )
    return (
        with_wilson_ci(table, "_p", "npv_n")
        .with_columns(
            pl.when(defined).then(pl.col("_p")).alias("npv_negative"),
            pl.when(defined).then(pl.col("lo")).alias("npv_negative_lo"),
            pl.when(defined).then(pl.col("hi")).alias("npv_negative_hi"),
        )
        .select(
            *keys,
            "runs",
            *[f"{name}_p{p}" for name in ("revenue", "npv") for p in PERCENTILES],
            "npv_negative",
            "npv_negative_lo",
            "npv_negative_hi",
            "npv_n",
            "ended",
            *[f"ended_{s}" for s in SIDES],
            "break_even_median",
            "break_even_never",
            "peak_outlay_median",
        )
    )


def _cumulative_share(
    events: pl.DataFrame, totals: pl.DataFrame, keys: list[str], months: int, by: str
) -> pl.DataFrame:
    """Per group, `by` value and month 1..months: the share of the group's runs with an event
    in that month or before. `events`: keys, `by`, `month` (one row per run with an event);
    `totals`: keys, `n` (runs per group), `by` values crossed in."""
    counts = events.group_by(*keys, by, "month").agg(pl.len().alias("k"))
    grid = totals.join(pl.DataFrame({"month": range(1, months + 1)}), how="cross")
    frame = (
        grid.join(counts, on=[*keys, by, "month"], how="left", nulls_equal=True)
        .with_columns(pl.col("k").fill_null(0))
        .sort(*keys, by, "month", maintain_order=True)
        .with_columns(pl.col("k").cum_sum().over([*keys, by]).alias("k"))
        .with_columns((pl.col("k") / pl.col("n")).alias("value"))
    )
    return with_wilson_ci(frame, "value", "n").drop("k")


def _groups(runs: pl.LazyFrame, keys: list[str]) -> pl.DataFrame:
    return runs.group_by(keys, maintain_order=True).agg(pl.len().alias("n")).collect()


def ended_by_month(
    runs: pl.DataFrame | pl.LazyFrame, keys: Sequence[str], months: int
) -> pl.DataFrame:
    """Cumulative share of runs whose partnership has ended, by month and by who ended it.

    One row per group of `keys`, `ended_by` ("either", "vendor", "partner") and `month`
    (1..months): `value` (share of the group's runs ended by then, by that side), `lo`, `hi`
    (Wilson 95%) and `n` (runs in the group). A partnership ended in month m counts from m
    on, as the monthly table's `partnership_active` is false from month m's sample on.
    """
    keys = list(keys)
    lazy = with_risk_columns(runs)
    totals = _groups(lazy, keys).join(
        pl.DataFrame({"ended_by": [EITHER, *SIDES]}), how="cross", maintain_order="left"
    )
    ended = lazy.filter(pl.col(ENDED).fill_null(False)).select(
        *keys,
        pl.col(ENDED_MONTH).clip(1, months).alias("month"),
        pl.col(ENDED_BY).alias("ended_by"),
    )
    events = pl.concat(
        [ended.with_columns(pl.lit(EITHER).alias("ended_by")), ended.drop_nulls("ended_by")]
    ).collect()
    return _cumulative_share(events, totals, keys, months, "ended_by")


def not_yet_broken_even(
    runs: pl.DataFrame | pl.LazyFrame, keys: Sequence[str], months: int
) -> pl.DataFrame:
    """Share of runs whose cumulative net cash has not yet reached zero, by month.

    One row per group of `keys` and `month` (1..months): `value`, `lo`, `hi` (Wilson 95%),
    `n` (runs) and `end` (true at the last month, where `value` is the share of runs that
    never break even within the horizon).
    """
    keys = list(keys)
    lazy = with_risk_columns(runs)
    totals = _groups(lazy, keys).with_columns(pl.lit("").alias("_by"))
    events = (
        lazy.drop_nulls(BREAK_EVEN)
        .select(*keys, pl.lit("").alias("_by"), pl.col(BREAK_EVEN).clip(1, months).alias("month"))
        .collect()
    )
    broken = _cumulative_share(events, totals, keys, months, "_by")
    return broken.select(
        *keys,
        "month",
        (1 - pl.col("value")).alias("value"),
        (1 - pl.col("hi")).alias("lo"),
        (1 - pl.col("lo")).alias("hi"),
        "n",
        (pl.col("month") == months).alias("end"),
    )


def deal_outcome_shares(deals: pl.LazyFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """How ended deals ended: the share won, lost to a competitor, no decision and stalled.

    `keys`: `run_id` and the grouping columns. One row per group and outcome (every outcome
    of DEAL_OUTCOMES, zero when none), in that order: `deals` (ended that way, pooled over
    the group's runs), `ended` (ended deals of the group), `share` (null with none ended),
    `rank` (the outcome's place in DEAL_OUTCOMES) and `runs` (runs in the group). Open deals
    have not ended and are left out; an outcome of another model version (v1's `lost`)
    follows DEAL_OUTCOMES.
    """
    group = [c for c in keys.columns if c != "run_id"]
    counts = (
        deals.filter(pl.col("outcome") != "open")
        .select("run_id", "outcome")
        .join(keys.lazy(), on="run_id", how="inner")
        .group_by(*group, "outcome")
        .agg(pl.len().alias("deals"))
        .collect()
    )
    other = sorted(set(counts["outcome"].to_list()) - set(DEAL_OUTCOMES))
    names = [*DEAL_OUTCOMES, *other]
    outcomes = pl.DataFrame({"outcome": names, "rank": range(len(names))})
    grid = (
        keys.group_by(group, maintain_order=True)
        .agg(pl.len().alias("runs"))
        .join(outcomes, how="cross", maintain_order="left")
    )
    frame = grid.join(counts, on=[*group, "outcome"], how="left").with_columns(
        pl.col("deals").fill_null(0).cast(pl.Int64)
    )
    frame = frame.with_columns(pl.col("deals").sum().over(group).alias("ended"))
    share = pl.when(pl.col("ended") > 0).then(pl.col("deals") / pl.col("ended"))
    return frame.with_columns(share.alias("share")).select(
        *group, "outcome", "rank", "deals", "ended", "share", "runs"
    )


def step_corners(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """The rows of monthly step curves a chart needs: per group of `keys`, the first and last
    months, each month whose `value` differs from the month before, and the month before it.

    Straight lines through these rows draw the same curve as every month does (a step rises
    over its month, as in the monthly charts), in far fewer rows: a long horizon with many
    series stays under Altair's row limit.
    """
    keys = list(keys)
    ordered = frame.sort(*keys, "month")
    value = pl.col("value")
    before, after = value.shift(1).over(keys), value.shift(-1).over(keys)
    keep = before.is_null() | after.is_null() | (before != value) | (after != value)
    return ordered.filter(keep)
