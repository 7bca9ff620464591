"""Aggregates: the report's tables, computed in polars before anything is charted.

Per market and series (a design point, or a variant pooled over sampled points): headline
outcomes with 95% intervals, monthly means and spreads, quantiles, paired policy
differences within replications, and outcome-against-parameter curves. Each function
returns one row per plotted mark or table cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from experiments.report.formatting import money, share
from experiments.report.layout import Layout
from experiments.report.risk import risk_measures
from experiments.report.statistics import (
    ratio_interval,
    t_half_width,
    with_mean_ci,
    with_wilson_ci,
)

BINS = 10  # quantile bins for parameters sampled continuously (LHS, Sobol, Morris)

# Outcomes of the runs table the report speaks about.
TOTAL_REVENUE = "revenue_total_usd"
Y1_PER_REP = "revenue_per_rep_year1_usd"
NPV = "npv_usd"
TERMINATED = "partnership_terminated"


def pipeline_stages() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The model's client stages and the monthly table's `pipeline_<stage>` columns.

    Read from the model on use: `agents.client` imports Mesa, which loading the report
    (and the command line's `--help`) should not.
    """
    from agents.client import STAGES
    from sim.record import PIPELINE_COLUMNS

    return STAGES, PIPELINE_COLUMNS


@dataclass(frozen=True, slots=True)
class Outcome:
    column: str
    name: str
    fmt: Callable[[float | None], str]
    proportion: bool = False


def outcomes(layout: Layout) -> list[Outcome]:
    """The outcomes swept charts, paired differences and sensitivity analyses show."""
    return [
        Outcome(TOTAL_REVENUE, f"{layout.horizon} revenue (USD)", money),
        Outcome(Y1_PER_REP, "year-1 revenue per rep (USD)", money),
        Outcome(NPV, "vendor NPV (USD)", money),
        Outcome(TERMINATED, "P(partnership ends)", share, proportion=True),
    ]


def _mean_sd_n(column: str) -> list[pl.Expr]:
    col = pl.col(column).cast(pl.Float64)
    return [col.mean().alias("value"), col.std().alias("sd"), col.count().alias("n")]


def outcome_stats(frame: pl.DataFrame, keys: list[str], outcome: Outcome) -> pl.DataFrame:
    """Per group of `keys`: the outcome's mean (`value`), `lo`, `hi` and `n`."""
    agg = frame.group_by(keys, maintain_order=True).agg(_mean_sd_n(outcome.column))
    agg = agg.filter(pl.col("n") > 0)
    if outcome.proportion:
        return with_wilson_ci(agg, "value", "n")
    return with_mean_ci(agg, "value", "sd", "n")


def summary_table(runs: pl.DataFrame, layout: Layout, by: str) -> pl.DataFrame:
    """One row per market and `by` (label or variant): the headline outcomes, means with 95%
    intervals, and the risk measures of `risk.risk_measures` (percentiles of revenue and
    NPV, P(NPV < 0), who ended the partnership, break-even, peak outlay)."""
    keys = ["market", by]
    table = runs.group_by(keys, maintain_order=True).agg(
        pl.len().alias("runs"),
        pl.col(Y1_PER_REP).median().alias("y1_per_rep_median"),
        (pl.col(Y1_PER_REP) >= pl.col("policy.target_per_rep_usd")).mean().alias("target_share"),
        pl.col(TOTAL_REVENUE).mean().alias("revenue_mean"),
        pl.col(TOTAL_REVENUE).std().alias("revenue_sd"),
        pl.col(NPV).mean().alias("npv_mean"),
        pl.col(NPV).std().alias("npv_sd"),
        pl.col(TERMINATED).cast(pl.Float64).mean().alias("terminated_share"),
        pl.col("win_rate").mean().alias("win_rate"),
        pl.col("median_cycle_days").median().alias("cycle_days"),
    )
    for name in ("revenue", "npv"):
        ci = with_mean_ci(table, f"{name}_mean", f"{name}_sd", "runs")
        table = ci.rename({"lo": f"{name}_lo", "hi": f"{name}_hi"})
    ci = with_wilson_ci(table, "terminated_share", "runs")
    table = ci.rename({"lo": "terminated_lo", "hi": "terminated_hi"})
    risks = risk_measures(runs, keys).drop("runs")
    table = table.join(risks, on=keys, how="left", nulls_equal=True)
    return order_rows(
        table, layout, by, layout.label_order if by == "label" else layout.variant_order
    )


def order_rows(
    frame: pl.DataFrame, layout: Layout, by: str, order: Sequence[str], then: Sequence[str] = ()
) -> pl.DataFrame:
    """Sort by market, then by `by` in the given order (unknown names last), then by `then`."""
    rank = {name: i for i, name in enumerate(order)}
    markets = {name: i for i, name in enumerate(layout.markets)}
    return frame.sort(
        pl.col("market").replace_strict(markets, default=len(markets), return_dtype=pl.Int64),
        pl.col(by).replace_strict(rank, default=len(rank), return_dtype=pl.Int64),
        *then,
    )


def monthly_aggregates(monthly: pl.LazyFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """Per market, series and month: means and spreads of the monthly state across runs."""
    _, pipeline_columns = pipeline_stages()
    trust = pl.col("mean_stakeholder_trust")
    reseller = pl.col("reseller_trust")
    pipeline = [pl.col(c).cast(pl.Float64).mean().alias(c) for c in pipeline_columns]
    return (
        monthly.select(
            "run_id",
            "month",
            "cumulative_revenue_usd",
            "mean_stakeholder_trust",
            "reseller_trust",
            *pipeline_columns,
        )
        .join(keys.lazy(), on="run_id", how="inner")
        .group_by("market", "series", "month")
        .agg(
            pl.len().alias("n"),
            pl.col("cumulative_revenue_usd").mean().alias("revenue_mean"),
            pl.col("cumulative_revenue_usd").std().alias("revenue_sd"),
            trust.mean().alias("trust_mean"),
            trust.std().alias("trust_sd"),
            trust.count().alias("trust_n"),
            reseller.mean().alias("reseller_mean"),
            reseller.std().alias("reseller_sd"),
            reseller.count().alias("reseller_n"),
            *pipeline,
        )
        .sort("market", "series", "month")
        .collect()
    )


def band(frame: pl.DataFrame, mean: str, n: str, sd: str | None = None) -> pl.DataFrame:
    """market, series, month, value, lo, hi, n, runs: a mean's t interval, or a share's Wilson
    one; `n` counts the runs averaged, `runs` all runs of the series that month."""
    base = frame.select(
        "market",
        "series",
        "month",
        pl.col(mean).alias("value"),
        pl.col(sd).alias("sd") if sd else pl.lit(None, dtype=pl.Float64).alias("sd"),
        pl.col(n).alias("n"),
        pl.col("n").alias("runs"),
    )
    out = (
        with_wilson_ci(base, "value", "n") if sd is None else with_mean_ci(base, "value", "sd", "n")
    )
    return out.select("market", "series", "month", "value", "lo", "hi", "n", "runs")


def won_days(deals: pl.LazyFrame, keys: pl.DataFrame) -> pl.LazyFrame:
    """run_id, days and the `keys` columns: days from first contact to decision per won deal."""
    days = pl.col("decision_day") - pl.col("first_contact_day")
    return (
        deals.filter(pl.col("outcome") == "won")
        .select("run_id", days.alias("days"))
        .join(keys.lazy(), on="run_id", how="inner")
    )


def cycle_quantiles(deals: pl.LazyFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """Quantiles of days from first contact to decision over won deals, per market and series."""
    return quantiles(won_days(deals, keys), "days").collect()


def quantiles(frame: pl.LazyFrame | pl.DataFrame, column: str) -> Any:
    """Per market and series: p05, q1, median, q3, p95, mean and n of a column."""
    col = pl.col(column).cast(pl.Float64)
    return frame.group_by("market", "series").agg(
        col.quantile(0.05, interpolation="linear").alias("p05"),
        col.quantile(0.25, interpolation="linear").alias("q1"),
        col.median().alias("median"),
        col.quantile(0.75, interpolation="linear").alias("q3"),
        col.quantile(0.95, interpolation="linear").alias("p95"),
        col.mean().alias("mean"),
        col.count().alias("n"),
    )


def paired_differences(runs: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """Policy B minus policy A, replication by replication (same seed, market and sweep values).

    Every policy of an experiment sees the same random inputs in replication r, so the
    difference is taken within a replication and its spread is free of the noise the two
    policies share. Returns `market`, `a`, `b`, `pair`, `outcome`, `mean`, `lo`, `hi`, `n`
    and, for revenue outcomes, `ratio`, `ratio_lo`, `ratio_hi` (mean B over mean A).
    """
    if len(layout.policies) < 2:
        return pl.DataFrame()
    rank = {p: i for i, p in enumerate(layout.policies)}
    keys = ["market", *layout.categorical, *layout.numeric, "replication", "seed_entropy"]
    cols = [TOTAL_REVENUE, Y1_PER_REP, NPV, TERMINATED]
    base = runs.select(
        *keys,
        "policy",
        pl.col("policy").replace_strict(rank, return_dtype=pl.Int64).alias("rank"),
        *[pl.col(c).cast(pl.Float64) for c in cols],
    )
    joined = (
        base.join(base, on=keys, how="inner", suffix="_b")
        .filter(pl.col("rank_b") > pl.col("rank"))
        .sort(keys)
    )
    rows = []
    for outcome in outcomes(layout):
        c = outcome.column
        diff = joined.select(
            "market",
            pl.col("policy").alias("a"),
            pl.col("policy_b").alias("b"),
            (pl.col(f"{c}_b") - pl.col(c)).alias("d"),
            pl.col(c).alias("va"),
            pl.col(f"{c}_b").alias("vb"),
        ).drop_nulls("d")
        for (market, a, b), group in diff.group_by(["market", "a", "b"], maintain_order=True):
            d = group["d"].to_numpy()
            n = d.size
            mean = float(d.mean())
            half = float(t_half_width(np.array([d.std(ddof=1)]), np.array([n]))[0]) if n > 1 else 0
            ratio = ratio_lo = ratio_hi = None
            if outcome.column in (TOTAL_REVENUE, Y1_PER_REP):  # NPV can be negative
                ratio, ratio_lo, ratio_hi = ratio_interval(
                    group["vb"].to_numpy(), group["va"].to_numpy(), paired=True
                )
            rows.append(
                {
                    "market": market,
                    "a": a,
                    "b": b,
                    "pair": f"{b} − {a}",
                    "outcome": outcome.name,
                    "column": c,
                    "mean": mean,
                    "lo": mean - half,
                    "hi": mean + half,
                    "n": n,
                    "ratio": ratio,
                    "ratio_lo": ratio_lo,
                    "ratio_hi": ratio_hi,
                }
            )
    if not rows:
        return pl.DataFrame()
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.with_columns(
        pl.col("ratio", "ratio_lo", "ratio_hi").cast(pl.Float64).fill_nan(None)
    )


def sweep_frame(runs: pl.DataFrame, layout: Layout, params: Sequence[str], binned: bool):
    """Each outcome against each parameter: mean and 95% interval per value (or bin)."""
    frames = []
    series = (
        pl.concat_str([pl.col("market"), pl.col("variant")], separator=" / ")
        if len(layout.markets) > 1
        else pl.col("variant")
    )
    base = runs.with_columns(series=series)
    for name in params:
        x = pl.col(name).cast(pl.Float64)
        if binned and runs[name].n_unique() > BINS:
            # Equal-count bins; x is the bin's mean parameter value.
            ranked = base.with_columns(
                _bin=(x.rank("ordinal") - 1).over("series") * BINS // pl.len().over("series")
            )
            ranked = ranked.with_columns(_x=x.mean().over("series", "_bin"))
        else:
            ranked = base.with_columns(_bin=x, _x=x)
        for outcome in outcomes(layout):
            stat = outcome_stats(ranked, ["series", "_bin", "_x"], outcome)
            frames.append(
                stat.select(
                    pl.lit(name).alias("parameter"),
                    pl.lit(outcome.name).alias("outcome"),
                    "series",
                    pl.col("_x").alias("x"),
                    "value",
                    "lo",
                    "hi",
                    "n",
                ).sort("series", "x")
            )
    return pl.concat(frames) if frames else pl.DataFrame()


def sample_means(runs: pl.DataFrame, layout: Layout, design: pl.DataFrame) -> pl.DataFrame:
    """One row per design point of a sampled design, in sample order within each group.

    A group is a market and variant (listed values crossed with the sample). Outcomes are
    averaged over replications. design.parquet maps every design point to its runs (Morris
    trajectories may share runs between points).
    """
    cols = [o.column for o in outcomes(layout)]
    per_run = runs.select("run_id", "market", "variant", *layout.numeric, *cols)
    table = design.select("design_point", pl.col("sample_index").alias("sample"), "run_id").join(
        per_run, on="run_id", how="inner"
    )
    return (
        table.group_by("market", "variant", "design_point")
        .agg(
            pl.col("sample").first(),
            *[pl.col(p).cast(pl.Float64).first() for p in layout.numeric],
            *[pl.col(c).cast(pl.Float64).mean() for c in cols],
            pl.len().alias("replications"),
        )
        .sort("market", "variant", "sample", "design_point")
    )
