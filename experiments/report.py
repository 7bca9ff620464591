"""The experiment report: Parquet datasets -> polars aggregates -> charts -> one HTML page.

`write_report(DIR)` reads an experiment directory (`runs/`, `monthly/`, `deals/` Parquet
parts and `manifest.json`) with `polars.scan_parquet`, aggregates every table in polars
(means with 95% intervals, quantiles, paired policy differences, Sobol or Morris indices),
decides which charts fit the experiment's design, states what each shows in one numeric
sentence, and writes `DIR/report.html` (self-contained: Vega, Vega-Lite and vega-embed are
inlined, so it opens offline) and each chart as `DIR/charts/<name>.png` and `.svg`.
Nothing per run and per month reaches Altair: charts get one row per plotted mark.

`partnersim report DIR` is registered by `add_report_command`.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import importlib.metadata
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from agents.parameters import PRESET_NAMES, ConfigError

# Client stages in the monthly table's `pipeline_<stage>` columns, in the model's order.
STAGES = ("prospect", "engaged", "evaluation", "ringi", "customer", "churned", "lost")
PIPELINE_COLUMNS = tuple(f"pipeline_{stage}" for stage in STAGES)
MAX_SERIES = 12  # more lines than this per panel is unreadable: charts pool or skip
MAX_PAIRS = 30
BINS = 10  # quantile bins for parameters sampled continuously (LHS, Sobol, Morris)
BOOTSTRAP = 2000
CATEGORY_KEYS = {"market": "market.name", "policy": "policy.name"}
ID_COLUMNS = {
    "run_id",
    "experiment",
    "design_point",
    "replication",
    "seed_entropy",
    "seed_spawn_key",
    "years",
}

# Outcomes of the runs table the report speaks about, with how to name and format them.
TOTAL_REVENUE = "revenue_total_usd"
Y1_PER_REP = "revenue_per_rep_year1_usd"
NPV = "npv_usd"
TERMINATED = "partnership_terminated"


def _charts():
    """experiments.charts, imported on first use: Altair costs the CLI's startup otherwise."""
    from experiments import charts

    return charts


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class Experiment:
    """An experiment directory: its manifest, the runs table, lazy monthly and deals scans."""

    path: Path
    manifest: dict[str, Any]
    runs: pl.DataFrame
    monthly: pl.LazyFrame | None
    deals: pl.LazyFrame | None
    design: pl.DataFrame | None  # design.parquet: design_point, sample_index, run_id, ...


def _scan(folder: Path) -> pl.LazyFrame | None:
    if not any(folder.glob("*.parquet")):
        return None
    return pl.scan_parquet(folder / "*.parquet", missing_columns="insert")


def read_experiment(path: str | os.PathLike[str]) -> Experiment:
    """Open an experiment directory; a missing or empty one raises ConfigError.

    A damaged manifest or Parquet file raises StoreError naming it.
    """
    root = Path(path)
    if not root.is_dir():
        raise ConfigError("DIR", str(path), "an experiment directory (made by partnersim run)")
    runs_scan = _scan(root / "runs")
    if runs_scan is None:
        raise ConfigError("DIR", str(path), "a directory with runs/*.parquet parts")
    from experiments import store  # here: it imports the model, which `--help` does not need

    store.check_parts(root)  # a damaged part is named here, not deep inside a chart
    try:
        runs = runs_scan.collect()
    except pl.exceptions.PolarsError:
        # Parts whose nullable outcomes were all missing may disagree on a dtype.
        parts = [store.read_part(p) for p in sorted((root / "runs").glob("*.parquet"))]
        runs = pl.concat(parts, how="diagonal_relaxed")
    runs = runs.unique("run_id", keep="first", maintain_order=True)
    manifest = store.read_manifest(root) if (root / store.MANIFEST).exists() else {}
    design_path = root / store.DESIGN
    return Experiment(
        path=root,
        manifest=manifest,
        runs=runs,
        monthly=_scan(root / "monthly"),
        deals=_scan(root / "deals"),
        design=store.read_part(design_path) if design_path.exists() else None,
    )


# --------------------------------------------------------------------------- design layout


@dataclass(frozen=True, slots=True)
class Layout:
    """What varies in the experiment, and the labels and orders charts use."""

    kind: str  # grid | lhs | sobol | morris
    years: float
    markets: list[str]
    policies: list[str]
    numeric: list[str]  # grid: swept numeric columns; sampled designs: the sampled ones
    categorical: list[str]  # other swept columns (strings, booleans, listed values)
    bounds: dict[str, tuple[float, float]]  # sampled columns, in the sample matrix's order
    label_order: list[str]  # `label`: market-free name of a chart series
    variant_order: list[str]  # `variant`: policy and categorical values, no numeric ones
    notes: list[str] = field(default_factory=list)

    @property
    def horizon(self) -> str:
        return f"{self.years:g}-year"


def _policy_rank(name: str) -> tuple[int, str]:
    return (PRESET_NAMES.index(name), "") if name in PRESET_NAMES else (len(PRESET_NAMES), name)


def _short(name: str) -> str:
    return name.split(".", 1)[-1]


def _value_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _parameter_columns(runs: pl.DataFrame) -> list[str]:
    return [c for c in runs.columns if "." in c and c not in ID_COLUMNS]


def _declared(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Swept runs-table columns -> {"values": [...]} or {"low", "high"}, in config order.

    Accepts `design.parameters` entries as value lists, as `{low, high}` bounds, or as
    dicts with `values` or bounds and the runs-table `column` they land in.
    """
    design = manifest.get("design") or {}
    declared: dict[str, dict[str, Any]] = {}
    for key, spec in (design.get("parameters") or {}).items():
        if isinstance(spec, dict):
            column = spec.get("column") or CATEGORY_KEYS.get(key, key)
            declared[column] = spec
        else:
            declared[CATEGORY_KEYS.get(key, key)] = {"values": list(spec)}
    for column in manifest.get("swept") or []:
        declared.setdefault(CATEGORY_KEYS.get(column, column), {})
    return declared


def design_layout(runs: pl.DataFrame, manifest: dict[str, Any]) -> Layout:
    """Read the design from the manifest, checked against what actually varies in the runs."""
    design = manifest.get("design") or {}
    kind = str(design.get("kind") or "grid").lower()
    declared = _declared(manifest)
    columns = set(_parameter_columns(runs))
    varying = {c for c in columns if runs[c].n_unique() > 1}
    notes: list[str] = []
    if declared:
        swept = [c for c in declared if c in columns and c in varying]
        missing = [c for c in declared if c not in columns]
        if missing:
            notes.append(f"swept {', '.join(missing)} not found in the runs table")
    else:  # no manifest: what varies beyond what the market and policy presets imply
        keys = [k for k in CATEGORY_KEYS.values() if k in columns]
        swept = []
        for c in sorted(varying - set(keys)):
            groups = runs.group_by(keys).agg(pl.col(c).n_unique()) if keys else None
            if groups is None or groups[c].max() > 1:
                swept.append(c)
        if swept:
            notes.append("no design in manifest.json: swept parameters inferred from the runs")
    others = [c for c in swept if c not in CATEGORY_KEYS.values()]
    sampled = kind != "grid"
    bounds: dict[str, tuple[float, float]] = {}
    numeric, categorical = [], []
    for c in others:
        spec = declared.get(c, {})
        if sampled and "low" in spec and "high" in spec:
            bounds[c] = (float(spec["low"]), float(spec["high"]))
            numeric.append(c)
        elif sampled and runs.schema[c].is_numeric() and "values" not in spec:
            bounds[c] = (float(runs[c].min()), float(runs[c].max()))
            numeric.append(c)
            notes.append(f"bounds of {c} not in the manifest: taken from the runs")
        elif not sampled and runs.schema[c].is_numeric():
            numeric.append(c)
        else:
            categorical.append(c)
    markets = sorted(runs["market.name"].unique().to_list()) if "market.name" in columns else []
    policies = runs["policy.name"].unique().to_list() if "policy.name" in columns else []
    policies = sorted(policies, key=_policy_rank)
    years = manifest.get("years") or (runs["years"].max() if "years" in runs.columns else 5)
    layout = Layout(
        kind=kind,
        years=float(years),
        markets=markets,
        policies=policies,
        numeric=numeric,
        categorical=categorical,
        bounds=bounds,
        label_order=[],
        variant_order=[],
        notes=notes,
    )
    order = _design_order(with_labels(runs, layout), layout)
    return dataclasses.replace(
        layout,
        label_order=order["label"].unique(maintain_order=True).to_list(),
        variant_order=order["variant"].unique(maintain_order=True).to_list(),
    )


def with_labels(runs: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """Add `market`, `policy`, `variant` (policy and categorical values) and `label`.

    The label names a design point within a market: the policy when several are compared,
    then `name=value` for every other swept parameter. Markets are panels, not labels.
    """
    market = pl.col("market.name") if "market.name" in runs.columns else pl.lit("market")
    policy = pl.col("policy.name") if "policy.name" in runs.columns else pl.lit("policy")
    variant_parts: list[pl.Expr] = []
    if len(layout.policies) > 1 or not (layout.categorical or layout.numeric):
        variant_parts.append(policy)
    for name in layout.categorical:
        variant_parts.append(pl.format(f"{_short(name)}={{}}", pl.col(name).cast(pl.String)))
    label_parts = list(variant_parts)
    for name in layout.numeric:
        text = pl.col(name).map_elements(_value_text, return_dtype=pl.String)
        label_parts.append(pl.format(f"{_short(name)}={{}}", text))
    if not variant_parts:
        variant_parts = [policy]
    return runs.with_columns(
        market=market.cast(pl.String),
        policy=policy.cast(pl.String),
        variant=pl.concat_str(variant_parts, separator=", "),
        label=pl.concat_str(label_parts, separator=", "),
    )


def _design_order(labelled: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    rank = labelled["policy"].map_elements(lambda p: _policy_rank(p)[0], return_dtype=pl.Int64)
    return labelled.with_columns(_rank=rank).sort(
        ["_rank", "policy", *layout.categorical, *layout.numeric, "design_point"]
    )


# --------------------------------------------------------------------------- statistics


def _t_crit(n: np.ndarray) -> np.ndarray:
    """Student's t 97.5% quantile for samples of size n (df = n - 1, at least 1)."""
    from scipy import special

    df = np.maximum(np.asarray(n, dtype=float) - 1, 1)
    return special.stdtrit(df, 0.975)


def with_mean_ci(frame: pl.DataFrame, mean: str, sd: str, n: str) -> pl.DataFrame:
    """Add `lo`, `hi`: the t-based 95% interval of a mean (no width with a single run)."""
    half = _t_crit(frame[n].to_numpy()) * frame[sd].fill_null(0).to_numpy()
    half = half / np.sqrt(np.maximum(frame[n].to_numpy().astype(float), 1))
    half = np.nan_to_num(half)
    return frame.with_columns(lo=pl.col(mean) - pl.Series(half), hi=pl.col(mean) + pl.Series(half))


def with_wilson_ci(frame: pl.DataFrame, share: str, n: str) -> pl.DataFrame:
    """Add `lo`, `hi`: the Wilson 95% interval of a proportion."""
    z = 1.959963984540054
    p = frame[share].to_numpy().astype(float)
    k = np.maximum(frame[n].to_numpy().astype(float), 1)
    centre = (p + z * z / (2 * k)) / (1 + z * z / k)
    half = z * np.sqrt(p * (1 - p) / k + z * z / (4 * k * k)) / (1 + z * z / k)
    return frame.with_columns(lo=pl.Series(centre - half), hi=pl.Series(centre + half))


def _mean_sd_n(column: str) -> list[pl.Expr]:
    col = pl.col(column).cast(pl.Float64)
    return [col.mean().alias("value"), col.std().alias("sd"), col.count().alias("n")]


def ratio_interval(a: np.ndarray, b: np.ndarray, *, paired: bool) -> tuple[float, float, float]:
    """Ratio of means a/b with a 95% percentile bootstrap interval (fixed generator)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ratio = a.mean() / b.mean() if b.mean() else math.nan
    if len(a) < 2 or len(b) < 2 or not b.mean():
        return ratio, math.nan, math.nan
    rng = np.random.default_rng(20261127)
    ia = rng.integers(0, len(a), size=(BOOTSTRAP, len(a)))
    ib = ia if paired else rng.integers(0, len(b), size=(BOOTSTRAP, len(b)))
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = a[ia].mean(axis=1) / b[ib].mean(axis=1)
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return ratio, math.nan, math.nan
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return ratio, float(lo), float(hi)


# --------------------------------------------------------------------------- formatting


def money(value: float | None) -> str:
    """$1.23M, $456k, $78: compact dollars for captions and tables."""
    if value is None or not math.isfinite(value):
        return "n/a"
    sign, v = ("-" if value < 0 else ""), abs(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= size:
            digits = 2 if v < 10 * size else 1 if v < 100 * size else 0
            return f"{sign}${v / size:.{digits}f}{suffix}"
    return f"{sign}${v:.0f}"


def share(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.0%}"


def number(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


MAX_RATIO = 20.0  # beyond this the baseline is near zero: captions state the difference


def _telling(ratio: float | None) -> bool:
    """A ratio worth stating: defined, positive and not dominated by a near-zero baseline."""
    return _finite(ratio) and 0 < ratio <= MAX_RATIO


def ratio_text(value: float | None) -> str:
    """A ratio bound with three significant digits."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.3g}"


def times(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.2g}x" if value < 10 else f"{value:.0f}x"


# --------------------------------------------------------------------------- aggregates


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


def _outcome_stats(frame: pl.DataFrame, keys: list[str], outcome: Outcome) -> pl.DataFrame:
    agg = frame.group_by(keys, maintain_order=True).agg(_mean_sd_n(outcome.column))
    agg = agg.filter(pl.col("n") > 0)
    if outcome.proportion:
        return with_wilson_ci(agg, "value", "n")
    return with_mean_ci(agg, "value", "sd", "n")


def summary_table(runs: pl.DataFrame, layout: Layout, by: str) -> pl.DataFrame:
    """One row per market and `by` (label or variant): the headline outcomes."""
    target = (
        pl.col("policy.target_per_rep_usd") if "policy.target_per_rep_usd" in runs.columns else None
    )
    keys = ["market", by]
    reached = (
        (pl.col(Y1_PER_REP) >= target).mean().alias("target_share")
        if target is not None
        else pl.lit(None, dtype=pl.Float64).alias("target_share")
    )
    table = runs.group_by(keys, maintain_order=True).agg(
        pl.len().alias("runs"),
        pl.col(Y1_PER_REP).median().alias("y1_per_rep_median"),
        reached,
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
    return _order(table, layout, by, layout.label_order if by == "label" else layout.variant_order)


def _order(frame: pl.DataFrame, layout: Layout, by: str, order: Sequence[str]) -> pl.DataFrame:
    rank = {name: i for i, name in enumerate(order)}
    markets = {name: i for i, name in enumerate(layout.markets)}
    return frame.sort(
        pl.col("market").replace_strict(markets, default=len(markets), return_dtype=pl.Int64),
        pl.col(by).replace_strict(rank, default=len(rank), return_dtype=pl.Int64),
    )


def monthly_aggregates(monthly: pl.LazyFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """Per market, series and month: means and spreads of the monthly state across runs."""
    trust = pl.col("mean_stakeholder_trust")
    reseller = pl.col("reseller_trust")
    pipeline = [pl.col(c).cast(pl.Float64).mean().alias(c) for c in PIPELINE_COLUMNS]
    return (
        monthly.select(
            "run_id",
            "month",
            "cumulative_revenue_usd",
            "partnership_active",
            "mean_stakeholder_trust",
            "reseller_trust",
            *PIPELINE_COLUMNS,
        )
        .join(keys.lazy(), on="run_id", how="inner")
        .group_by("market", "series", "month")
        .agg(
            pl.len().alias("n"),
            pl.col("cumulative_revenue_usd").mean().alias("revenue_mean"),
            pl.col("cumulative_revenue_usd").std().alias("revenue_sd"),
            pl.col("partnership_active").cast(pl.Float64).mean().alias("active_share"),
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


def _band(frame: pl.DataFrame, mean: str, n: str, sd: str | None = None) -> pl.DataFrame:
    """market, series, month, value, lo, hi, n: a mean's t interval, or a share's Wilson one."""
    base = frame.select(
        "market",
        "series",
        "month",
        pl.col(mean).alias("value"),
        pl.col(sd).alias("sd") if sd else pl.lit(None, dtype=pl.Float64).alias("sd"),
        pl.col(n).alias("n"),
    )
    out = (
        with_wilson_ci(base, "value", "n") if sd is None else with_mean_ci(base, "value", "sd", "n")
    )
    return out.select("market", "series", "month", "value", "lo", "hi", "n")


def cycle_quantiles(deals: pl.LazyFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """Quantiles of days from first contact to decision over won deals, per market and series."""
    days = pl.col("decision_day") - pl.col("first_contact_day")
    return _quantiles(
        deals.filter(pl.col("outcome") == "won")
        .select("run_id", days.alias("days"))
        .join(keys.lazy(), on="run_id", how="inner"),
        "days",
    ).collect()


def _quantiles(frame: pl.LazyFrame | pl.DataFrame, column: str) -> Any:
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
    keys = ["market", *layout.categorical, *layout.numeric, "replication"]
    if "seed_entropy" in runs.columns:
        keys.append("seed_entropy")
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
            half = float(_t_crit(np.array([n]))[0] * d.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
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
            stat = _outcome_stats(ranked, ["series", "_bin", "_x"], outcome)
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


def sample_means(runs: pl.DataFrame, layout: Layout, design: pl.DataFrame | None):
    """One row per design point of a sampled design, in sample order within each group.

    A group is a market and variant (listed values crossed with the sample). Outcomes are
    averaged over replications. design.parquet maps every design point to its runs (Morris
    trajectories may share runs between points); without it the runs' `design_point` is
    used and the sample order is the design-point order.
    """
    cols = [o.column for o in outcomes(layout)]
    per_run = runs.select("run_id", "market", "variant", *layout.numeric, *cols)
    if design is not None and {"design_point", "run_id"} <= set(design.columns):
        order = "sample_index" if "sample_index" in design.columns else "design_point"
        table = design.select("design_point", pl.col(order).alias("sample"), "run_id").join(
            per_run, on="run_id", how="inner"
        )
    else:
        table = runs.select("design_point", pl.col("design_point").alias("sample"), "run_id").join(
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


def _problem(layout: Layout) -> dict[str, Any]:
    names = list(layout.numeric)
    bounds = [list(layout.bounds[n]) for n in names]
    return {"num_vars": len(names), "names": names, "bounds": bounds}


def _sobol_second_order(design: dict[str, Any], points: int, dims: int, notes: list[str]):
    second = design.get("second_order", design.get("calc_second_order"))
    if second is not None:
        return bool(second)
    samples = design.get("samples")
    if samples and points == int(samples) * (2 * dims + 2):
        return True
    if samples and points == int(samples) * (dims + 2):
        return False
    second = points % (2 * dims + 2) == 0
    notes.append(
        f"Sobol: second-order terms {'assumed' if second else 'not assumed'} from {points} "
        f"design points and {dims} parameters (the manifest does not say)"
    )
    return second


def sensitivity_indices(
    runs: pl.DataFrame, layout: Layout, manifest: dict[str, Any], design: pl.DataFrame | None
) -> tuple[pl.DataFrame, list[str]]:
    """SALib Sobol (S1, ST) or Morris (mu*, sigma) indices per group and outcome.

    The problem (names, bounds, order) comes from the manifest, Y is the mean outcome per
    design point in sample order, and Morris' X is the design points' parameter values
    scaled to the unit interval (only the direction of each step matters to SALib).
    Returns the indices and notes on whatever could not be analysed.
    """
    from SALib.analyze import morris, sobol

    problem = _problem(layout)
    dims = problem["num_vars"]
    spec = manifest.get("design") or {}
    means = sample_means(runs, layout, design)
    notes: list[str] = []
    frames = []
    for (market, variant), group in means.group_by(["market", "variant"], maintain_order=True):
        where = f"{market} / {variant}"
        x = group.select(layout.numeric).to_numpy()
        lows = np.array([b[0] for b in problem["bounds"]])
        spans = np.array([b[1] - b[0] for b in problem["bounds"]])
        unit = (x - lows) / np.where(spans == 0, 1, spans)
        second = None
        if layout.kind == "sobol":
            second = _sobol_second_order(spec, group.height, dims, notes)
        for outcome in outcomes(layout):
            y = group[outcome.column].to_numpy()
            if np.isnan(y).any() or np.std(y) == 0:
                notes.append(f"{layout.kind} ({where}): {outcome.name} is constant; not analysed")
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if layout.kind == "sobol":
                        si = sobol.analyze(problem, y, calc_second_order=second, seed=0)
                    else:
                        levels = int(spec.get("levels", spec.get("num_levels", 4)))
                        si = morris.analyze(problem, unit, y, num_levels=levels, seed=0)
            except (ValueError, RuntimeError, IndexError) as err:
                notes.append(
                    f"{layout.kind} ({where}): {outcome.name} not analysed "
                    f"({group.height} design points with results): {err}"
                )
                continue
            frame = {"market": market, "variant": variant, "outcome": outcome.name}
            if layout.kind == "sobol":
                for index in ("S1", "ST"):
                    value = np.asarray(si[index], float)
                    conf = np.asarray(si[f"{index}_conf"], float)
                    frames.append(
                        pl.DataFrame(
                            {**frame, "parameter": problem["names"], "index": index}
                        ).with_columns(
                            value=pl.Series(value),
                            lo=pl.Series(value - conf),
                            hi=pl.Series(value + conf),
                        )
                    )
            else:
                frames.append(
                    pl.DataFrame({**frame, "parameter": problem["names"]}).with_columns(
                        mu_star=pl.Series(np.asarray(si["mu_star"], float)),
                        mu_star_conf=pl.Series(np.asarray(si["mu_star_conf"], float)),
                        sigma=pl.Series(np.asarray(si["sigma"], float)),
                    )
                )
    frame = pl.concat(frames).fill_nan(None) if frames else pl.DataFrame()
    return frame, notes


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True, slots=True)
class Figure:
    """One chart of the report: file name, title, one-sentence caption and the chart."""

    name: str
    title: str
    caption: str
    chart: Any


def _focus_market(layout: Layout) -> str | None:
    if "japan" in layout.markets:
        return "japan"
    return layout.markets[0] if layout.markets else None


def _series_key(layout: Layout, labelled: pl.DataFrame) -> tuple[str | None, str]:
    """Which label names chart series: every design point, or pooled variants, or none."""
    per_market = labelled.group_by("market").agg(
        pl.col("label").n_unique().alias("labels"), pl.col("variant").n_unique().alias("variants")
    )
    if layout.kind == "grid" and per_market["labels"].max() <= MAX_SERIES:
        return "label", ""
    if per_market["variants"].max() <= MAX_SERIES:
        return "variant", "pooled over the design's points"
    return None, ""


def _failed_runs(experiment: Experiment) -> int:
    """Runs recorded in failures.parquet that never produced a result."""
    path = experiment.path / "failures.parquet"
    if not path.exists():
        return 0
    from experiments import store

    failed = store.read_part(path, columns=["run_id"])["run_id"]
    return int((~failed.is_in(experiment.runs["run_id"].implode())).sum())


class ReportBuilder:
    """Decides the figures an experiment supports and computes their frames and captions."""

    def __init__(self, experiment: Experiment) -> None:
        self.exp = experiment
        self.layout = design_layout(experiment.runs, experiment.manifest)
        self.runs = with_labels(experiment.runs, self.layout)
        self.notes: list[str] = list(self.layout.notes)
        failed = _failed_runs(experiment)
        if failed:
            self.notes.append(f"{failed} runs failed and are not in this report (failures.parquet)")
        key, pooled = _series_key(self.layout, self.runs)
        self.series_key = key
        self.pooled = pooled
        self.series_order = self.layout.label_order if key == "label" else self.layout.variant_order
        self.runs = self.runs.with_columns(series=pl.col(key) if key else pl.col("variant"))
        self.paired = paired_differences(self.runs, self.layout)

    # -- summary
    def summary(self) -> pl.DataFrame:
        return summary_table(self.runs, self.layout, self.series_key or "variant")

    # -- figures
    def figures(self) -> list[Figure]:
        builders = [
            self.revenue_figures,
            self.revenue_per_rep_figure,
            self.cycle_figure,
            self.paired_figure,
            self.sweep_figures,
            self.sensitivity_figures,
        ]
        figures: list[Figure] = []
        for build in builders:
            figures.extend(build())
        return figures

    def _subtitle(self, extra: str = "") -> str:
        runs = self.runs.height
        parts = [f"{runs} runs"]
        if self.pooled:
            parts.append(self.pooled)
        if extra:
            parts.append(extra)
        return "; ".join(parts)

    def revenue_figures(self) -> list[Figure]:
        if self.exp.monthly is None or self.series_key is None:
            return []
        keys = self.runs.select("run_id", "market", "series")
        agg = monthly_aggregates(self.exp.monthly, keys)
        if agg.is_empty():
            return []
        last = agg.filter(pl.col("month") == pl.col("month").max())
        order = self.series_order
        figures = [
            Figure(
                "cumulative_revenue",
                f"Cumulative revenue over {self.layout.years:g} years",
                self._revenue_caption(),
                _charts().cumulative_revenue_chart(
                    _band(agg, "revenue_mean", "n", "revenue_sd"),
                    years=self.layout.years,
                    series_order=order,
                    subtitle=self._subtitle("mean and 95% CI across replications"),
                ),
            ),
            Figure(
                "partnership_survival",
                "Partnership survival",
                self._survival_caption(last),
                _charts().survival_chart(
                    _band(agg, "active_share", "n"),
                    series_order=order,
                    subtitle=self._subtitle("share of runs with the partnership active; 95% CI"),
                ),
            ),
        ]
        pipeline = agg.unpivot(
            index=["market", "series", "month"],
            on=list(PIPELINE_COLUMNS),
            variable_name="stage",
            value_name="count",
        ).with_columns(pl.col("stage").str.strip_prefix("pipeline_"))
        pipeline = pipeline.with_columns(
            panel=pl.concat_str(["market", "series"], separator=" / "),
            stage_rank=pl.col("stage").replace_strict(
                {s: i for i, s in enumerate(STAGES)}, return_dtype=pl.Int64
            ),
        ).select("panel", "stage", "stage_rank", "month", "count")
        panels = [f"{m} / {s}" for m in self.layout.markets for s in order]
        figures.append(
            Figure(
                "pipeline_stages",
                "Pipeline stages over time",
                self._pipeline_caption(last),
                _charts().pipeline_chart(
                    pipeline,
                    stage_order=STAGES,
                    series_order=panels,
                    subtitle=self._subtitle("mean number of clients per stage across runs"),
                ),
            )
        )
        trust = pl.concat(
            [
                _band(agg, "trust_mean", "trust_n", "trust_sd").with_columns(
                    measure=pl.lit("client stakeholders")
                ),
                _band(agg, "reseller_mean", "reseller_n", "reseller_sd").with_columns(
                    measure=pl.lit("reseller in vendor")
                ),
            ]
        ).drop_nulls("value")
        if not trust.is_empty():
            figures.append(
                Figure(
                    "trust",
                    "Trust over time",
                    self._trust_caption(last),
                    _charts().trust_chart(
                        trust,
                        series_order=order,
                        subtitle=self._subtitle("mean and 95% CI across runs"),
                    ),
                )
            )
        return figures

    def revenue_per_rep_figure(self) -> list[Figure]:
        if self.series_key is None:
            return []
        quant = _order(_quantiles(self.runs, Y1_PER_REP), self.layout, "series", self.series_order)
        target = None
        if "policy.target_per_rep_usd" in self.runs.columns:
            target = float(self.runs["policy.target_per_rep_usd"].median())
        return [
            Figure(
                "revenue_per_rep_year1",
                "First-year revenue per rep against the target",
                self._per_rep_caption(quant, target),
                _charts().revenue_per_rep_chart(
                    quant,
                    target_usd=target,
                    series_order=self.series_order,
                    subtitle=self._subtitle("box: quartiles; whisker: 5th-95th percentile"),
                ),
            )
        ]

    def cycle_figure(self) -> list[Figure]:
        if self.exp.deals is None or self.series_key is None:
            return []
        keys = self.runs.select("run_id", "market", "series")
        quant = _order(
            cycle_quantiles(self.exp.deals, keys), self.layout, "series", self.series_order
        )
        quant = quant.filter(pl.col("n") > 0)
        if quant.is_empty():
            self.notes.append("no deal was won in any run: no days-to-close chart")
            return []
        return [
            Figure(
                "days_to_close",
                "Days to close a won deal",
                self._cycle_caption(quant),
                _charts().days_to_close_chart(
                    quant,
                    series_order=self.series_order,
                    subtitle=self._subtitle("won deals pooled across runs"),
                ),
            )
        ]

    def paired_figure(self) -> list[Figure]:
        frame = self.paired
        if frame.is_empty():
            return []
        pairs = frame.select("pair").unique(maintain_order=True)
        if pairs.height * max(1, len(self.layout.markets)) > MAX_PAIRS:
            self.notes.append("too many policy pairs to chart; see the summary table")
            return []
        extra = ""
        if self.layout.numeric or self.layout.categorical:
            extra = "pooled over the other swept values"
        n = int(frame["n"].max())
        return [
            Figure(
                "paired_differences",
                "Paired policy differences",
                self._paired_caption(),
                _charts().paired_difference_chart(
                    frame.select("market", "pair", "outcome", "mean", "lo", "hi", "n"),
                    pair_order=pairs["pair"].to_list(),
                    outcome_order=[o.name for o in outcomes(self.layout)],
                    market_order=self.layout.markets,
                    subtitle=f"B − A within each of up to {n} replications sharing their seeds; "
                    f"95% CI{'; ' + extra if extra else ''}",
                ),
            )
        ]

    def sweep_figures(self) -> list[Figure]:
        lay = self.layout
        if not lay.numeric:
            return []
        order = [o.name for o in outcomes(lay)]
        if lay.kind == "grid" and len(lay.numeric) == 2:
            return self.heatmap_figures()
        binned = lay.kind != "grid"
        frame = sweep_frame(self.runs, lay, lay.numeric, binned=binned)
        if frame.is_empty():
            return []
        if lay.kind == "grid" and len(lay.numeric) == 1:
            title = f"Outcomes against {lay.numeric[0]}"
            extra = "mean and 95% CI per value"
        elif lay.kind == "grid":
            title = "Main effects of the swept parameters"
            extra = "mean over the other parameters' values; 95% CI"
        else:
            title = "Outcomes against each sampled parameter"
            extra = f"runs in {BINS} equal-count bins per parameter; mean and 95% CI"
        series_order = self._sweep_series_order()
        return [
            Figure(
                "sweep",
                title,
                self._sweep_caption(frame),
                _charts().sweep_chart(
                    frame,
                    title=title,
                    subtitle=f"{self.runs.height} runs; {extra}",
                    series_order=series_order,
                    outcome_order=order,
                ),
            )
        ]

    def _sweep_series_order(self) -> list[str]:
        if len(self.layout.markets) > 1:
            return [f"{m} / {v}" for m in self.layout.markets for v in self.layout.variant_order]
        return self.layout.variant_order

    def heatmap_figures(self) -> list[Figure]:
        lay = self.layout
        xname, yname = lay.numeric
        panel = (
            pl.concat_str([pl.col("market"), pl.col("variant")], separator=" / ")
            if len(lay.markets) > 1 or len(lay.variant_order) > 1
            else pl.col("market")
        )
        base = self.runs.with_columns(panel=panel, x=pl.col(xname), y=pl.col(yname))
        figures = []
        for outcome, name, scheme, domain, fmt, reverse in (
            (outcomes(lay)[0], "heatmap_revenue", "viridis", None, _charts().MONEY, False),
            (outcomes(lay)[3], "heatmap_termination", "reds", (0, 1), _charts().SHARE, False),
        ):
            stat = _outcome_stats(base, ["panel", "x", "y"], outcome)
            stat = stat.select("panel", "x", "y", "value", "lo", "hi", "n")
            title = f"{outcome.name} over {_short(xname)} × {_short(yname)}"
            figures.append(
                Figure(
                    name,
                    title,
                    self._heatmap_caption(stat, outcome, xname, yname),
                    _charts().heatmap_chart(
                        stat,
                        title=title,
                        x_title=xname,
                        y_title=yname,
                        value_title=outcome.name,
                        value_format=fmt,
                        scheme=scheme,
                        domain=domain,
                        reverse=reverse,
                        subtitle=f"{self.runs.height} runs; mean per grid cell (hover: 95% CI)",
                    ),
                )
            )
        return figures

    def sensitivity_figures(self) -> list[Figure]:
        lay = self.layout
        if lay.kind not in ("sobol", "morris") or not lay.numeric:
            return []
        frame, notes = sensitivity_indices(self.runs, lay, self.exp.manifest, self.exp.design)
        self.notes.extend(notes)
        if frame.is_empty():
            return []
        groups = frame.select("market", "variant").unique(maintain_order=True)
        market = _focus_market(lay)
        focus = groups.filter(pl.col("market") == market) if market else groups
        focus = (focus if not focus.is_empty() else groups).row(0, named=True)
        if groups.height > 1:
            self.notes.append(
                f"{lay.kind} indices are charted for {focus['market']} / {focus['variant']} "
                f"only ({groups.height} groups analysed)"
            )
        frame = frame.filter(
            (pl.col("market") == focus["market"]) & (pl.col("variant") == focus["variant"])
        ).drop("market", "variant")
        points = (
            sample_means(self.runs, lay, self.exp.design)
            .filter((pl.col("market") == focus["market"]) & (pl.col("variant") == focus["variant"]))
            .height
        )
        subtitle = (
            f"{focus['market']} / {focus['variant']}: {points} design points, outcomes "
            "averaged over replications"
        )
        order = [o.name for o in outcomes(lay)]
        if lay.kind == "sobol":
            chart = _charts().sobol_chart(
                frame, subtitle=subtitle + "; 95% CI", outcome_order=order
            )
            caption = self._sobol_caption(frame)
            return [Figure("sobol_indices", "Sobol sensitivity indices", caption, chart)]
        chart = _charts().morris_chart(frame, subtitle=subtitle, outcome_order=order)
        return [Figure("morris_screening", "Morris screening", self._morris_caption(frame), chart)]

    # -- captions: one sentence each, with the numbers the chart shows
    def _groups(self, market: str | None) -> pl.DataFrame:
        runs = self.runs if market is None else self.runs.filter(pl.col("market") == market)
        return runs.group_by("series", maintain_order=True).agg(
            pl.col(TOTAL_REVENUE).mean().alias("mean"), pl.len().alias("n")
        )

    def _revenue_caption(self) -> str:
        lay = self.layout
        market = _focus_market(lay)
        groups = self._groups(market).sort("mean", descending=True)
        where = f"In {market}, " if market else ""
        top = groups.row(0, named=True)
        if groups.height == 1:
            return (
                f"{where}{top['series']} earns a mean {lay.horizon} revenue of "
                f"{money(top['mean'])} over {top['n']} runs."
            )
        low = groups.row(groups.height - 1, named=True)
        sub = self.runs.filter(pl.col("market") == market) if market else self.runs
        ratio, rlo, rhi, paired = self._ratio(sub, top["series"], low["series"])
        how = "paired replications" if paired else "bootstrap"
        if not _telling(ratio):  # the lowest earns (almost) nothing: no ratio to state
            return (
                f"{where}{top['series']} earns a mean {lay.horizon} revenue of "
                f"{money(top['mean'])} against {money(low['mean'])} for {low['series']}."
            )
        return (
            f"{where}{top['series']} earns {times(ratio)} the {lay.horizon} revenue of "
            f"{low['series']} ({money(top['mean'])} against {money(low['mean'])}; "
            f"95% CI of the ratio {ratio_text(rlo)}-{ratio_text(rhi)}, {how})."
        )

    def _ratio(self, runs: pl.DataFrame, top: str, low: str):
        a = runs.filter(pl.col("series") == top)
        b = runs.filter(pl.col("series") == low)
        keys = [k for k in ("replication", "seed_entropy") if k in runs.columns]
        paired = False
        if a.height == b.height and a.select(keys).n_unique() == a.height:
            joined = (
                a.select(*keys, TOTAL_REVENUE)
                .join(b.select(*keys, TOTAL_REVENUE), on=keys, suffix="_b")
                .sort(keys)
            )
            paired = joined.height == a.height
        if paired:
            va, vb = joined[TOTAL_REVENUE].to_numpy(), joined[f"{TOTAL_REVENUE}_b"].to_numpy()
        else:
            va, vb = a[TOTAL_REVENUE].to_numpy(), b[TOTAL_REVENUE].to_numpy()
        ratio, lo, hi = ratio_interval(va, vb, paired=paired)
        return ratio, lo, hi, paired

    def _survival_caption(self, last: pl.DataFrame) -> str:
        month = int(last["month"].max())
        if last["active_share"].min() >= 1:
            return f"No partnership ended in any run within {month} months."
        worst = last.sort("active_share").row(0, named=True)
        best = (
            last.filter(pl.col("market") == worst["market"])
            .sort("active_share", descending=True)
            .row(0, named=True)
        )
        return (
            f"After {month} months the partnership is still active in "
            f"{share(worst['active_share'])} of {worst['series']} runs in {worst['market']}, "
            f"against {share(best['active_share'])} for {best['series']}."
        )

    def _pipeline_caption(self, last: pl.DataFrame) -> str:
        month = int(last["month"].max())
        open_ = sum(pl.col(f"pipeline_{s}") for s in ("engaged", "evaluation", "ringi"))
        frame = last.with_columns(open=open_).sort("pipeline_customer", descending=True)
        top = frame.row(0, named=True)
        return (
            f"At month {month}, {top['market']} / {top['series']} has the most customers: "
            f"{top['pipeline_customer']:.1f} on average, with {top['open']:.1f} opportunities "
            f"still open and {top['pipeline_lost']:.1f} lost."
        )

    def _trust_caption(self, last: pl.DataFrame) -> str:
        month = int(last["month"].max())
        parts = []
        measures = (
            ("trust_mean", "client stakeholders' trust"),
            ("reseller_mean", "the reseller's trust in the vendor"),
        )
        for col, who in measures:
            frame = last.drop_nulls(col).sort(col)
            if frame.is_empty():
                continue
            lo, hi = frame.row(0, named=True), frame.row(frame.height - 1, named=True)
            if frame.height == 1:
                parts.append(f"{who} is {lo[col]:.2f} on average")
                continue
            parts.append(
                f"{who} ranges from {lo[col]:.2f} ({lo['market']} / {lo['series']}) to "
                f"{hi[col]:.2f} ({hi['market']} / {hi['series']})"
            )
        return f"At month {month}, " + "; ".join(parts) + "."

    def _per_rep_caption(self, quant: pl.DataFrame, target: float | None) -> str:
        runs = self.runs
        parts = []
        for market in self.layout.markets:
            q = quant.filter(pl.col("market") == market).sort("median", descending=True)
            if q.is_empty():
                continue
            top = q.row(0, named=True)
            reach = ""
            if target is not None:
                sub = runs.filter(
                    (pl.col("market") == market) & (pl.col("series") == top["series"])
                )
                hit = float((sub[Y1_PER_REP] >= target).mean())
                reach = f", {share(hit)} of its runs reach the target"
            parts.append(
                f"in {market} the best median is {money(top['median'])} ({top['series']}{reach})"
            )
        head = f"Against the {money(target)} target per rep, " if target else ""
        text = head + "; ".join(parts) + "."
        return text[0].upper() + text[1:]

    def _cycle_caption(self, quant: pl.DataFrame) -> str:
        keys = self.runs.select("run_id", "market", "series")
        days = pl.col("decision_day") - pl.col("first_contact_day")
        per_market = (
            self.exp.deals.filter(pl.col("outcome") == "won")
            .select("run_id", days.alias("days"))
            .join(keys.lazy(), on="run_id")
            .group_by("market")
            .agg(pl.col("days").median().alias("median"), pl.len().alias("n"))
            .collect()
            .sort("median", descending=True)
        )
        slow = quant.sort("median", descending=True).row(0, named=True)
        fast = quant.sort("median").row(0, named=True)
        if quant.height == 1:
            return (
                f"Won deals take a median of {slow['median']:.0f} days from first contact to "
                f"decision (middle half {slow['q1']:.0f}-{slow['q3']:.0f} days; "
                f"{slow['n']} won deals)."
            )
        if per_market.height >= 2:
            hi, lo = (
                per_market.row(0, named=True),
                per_market.row(per_market.height - 1, named=True),
            )
            return (
                f"Won deals take a median of {hi['median']:.0f} days to close in {hi['market']} "
                f"and {lo['median']:.0f} in {lo['market']} ({times(hi['median'] / lo['median'])}); "
                f"the slowest series is {slow['market']} / {slow['series']} at "
                f"{slow['median']:.0f} days."
            )
        return (
            f"The median days to close a won deal range from {fast['median']:.0f} "
            f"({fast['series']}) to {slow['median']:.0f} ({slow['series']}) over "
            f"{int(quant['n'].sum())} won deals."
        )

    def _paired_caption(self) -> str:
        frame = self.paired.filter(pl.col("column") == TOTAL_REVENUE)
        market = _focus_market(self.layout)
        sub = frame.filter(pl.col("market") == market) if market else frame
        preferred = sub.filter((pl.col("a") == "us_urgency") & (pl.col("b") == "hybrid"))
        if preferred.is_empty():
            preferred = sub.with_columns(
                t=(pl.col("mean") / (pl.col("hi") - pl.col("mean")).abs()).abs()
            ).sort("t", descending=True, nulls_last=True)
        row = preferred.row(0, named=True)
        more = "more" if row["mean"] >= 0 else "less"
        difference = (
            f"{money(abs(row['mean']))} {more} per run, 95% CI {money(row['lo'])} to "
            f"{money(row['hi'])}, over {row['n']} paired replications"
        )
        if _telling(row["ratio"]):
            text = (
                f"In {row['market']}, {row['b']} earns {times(row['ratio'])} the "
                f"{self.layout.horizon} revenue of {row['a']} "
                f"(95% CI {ratio_text(row['ratio_lo'])}-{ratio_text(row['ratio_hi'])}; "
                f"{difference})"
            )
        else:  # the baseline earns (almost) nothing: state the difference alone
            text = (
                f"In {row['market']}, {row['b']} earns {money(abs(row['mean']))} {more} "
                f"{self.layout.horizon} revenue than {row['a']} per run (95% CI "
                f"{money(row['lo'])} to {money(row['hi'])}, over {row['n']} paired replications)"
            )
        others = frame.filter(
            (pl.col("market") != row["market"])
            & (pl.col("a") == row["a"])
            & (pl.col("b") == row["b"])
        )
        for other in others.iter_rows(named=True):
            if not _telling(other["ratio"]):
                continue
            text += (
                f"; in {other['market']}, {times(other['ratio'])} as much "
                f"(95% CI {ratio_text(other['ratio_lo'])}-{ratio_text(other['ratio_hi'])})"
            )
        return text + "."

    def _sweep_caption(self, frame: pl.DataFrame) -> str:
        lay = self.layout
        revenue, ends = outcomes(lay)[0].name, outcomes(lay)[3].name
        # The parameter whose range moves revenue most, in the first series.
        series = frame["series"].unique(maintain_order=True).to_list()
        first = next((s for s in self._sweep_series_order() if s in series), series[0])
        sub = frame.filter(pl.col("series") == first)
        best, best_span = None, -1.0
        for name in frame["parameter"].unique(maintain_order=True).to_list():
            rev = sub.filter((pl.col("parameter") == name) & (pl.col("outcome") == revenue))
            span = float(rev["value"].max() - rev["value"].min()) if rev.height else -1.0
            if span > best_span:
                best, best_span = name, span
        rev = sub.filter((pl.col("parameter") == best) & (pl.col("outcome") == revenue)).sort("x")
        end = sub.filter((pl.col("parameter") == best) & (pl.col("outcome") == ends)).sort("x")
        lo, hi = rev.row(0, named=True), rev.row(rev.height - 1, named=True)
        text = (
            f"For {first}, raising {best} from {lo['x']:.3g} to {hi['x']:.3g} moves the mean "
            f"{revenue.removesuffix(' (USD)')} from {money(lo['value'])} to {money(hi['value'])}"
        )
        if end.height:
            text += (
                f" and the probability that the partnership ends from "
                f"{share(end['value'][0])} to {share(end['value'][-1])}"
            )
        return text + "."

    def _heatmap_caption(self, stat: pl.DataFrame, outcome: Outcome, xname: str, yname: str):
        ordered = stat.sort("value", descending=True)
        hi, lo = ordered.row(0, named=True), ordered.row(ordered.height - 1, named=True)
        name = outcome.name.removesuffix(" (USD)")
        if hi["value"] == lo["value"]:
            return f"{name} is {outcome.fmt(hi['value'])} in every cell of the grid."
        if outcome.proportion:
            best, worst = lo, hi
            verb = "is lowest"
        else:
            best, worst = hi, lo
            verb = "peaks"
        several = stat["panel"].n_unique() > 1

        def where(r: dict[str, Any]) -> str:
            cell = f"{_short(xname)}={r['x']:g}, {_short(yname)}={r['y']:g}"
            return cell + (f" ({r['panel']})" if several else "")

        return (
            f"{name} {verb} at {where(best)}: "
            f"{outcome.fmt(best['value'])} (95% CI {outcome.fmt(best['lo'])} to "
            f"{outcome.fmt(best['hi'])}), against {outcome.fmt(worst['value'])} at {where(worst)}."
        )

    def _sobol_caption(self, frame: pl.DataFrame) -> str:
        revenue = outcomes(self.layout)[0].name
        sub = frame.filter(pl.col("outcome") == revenue)
        if sub.is_empty():
            sub = frame.filter(pl.col("outcome") == frame["outcome"][0])
            revenue = frame["outcome"][0]
        st = sub.filter(pl.col("index") == "ST").sort("value", descending=True, nulls_last=True)
        s1 = sub.filter(pl.col("index") == "S1")
        top = st.row(0, named=True)
        top_s1 = s1.filter(pl.col("parameter") == top["parameter"])["value"][0]
        total_s1 = float(s1["value"].sum())
        return (
            f"{top['parameter']} has the largest total effect on {revenue.removesuffix(' (USD)')}: "
            f"ST = {top['value']:.2f} (95% CI {top['lo']:.2f} to {top['hi']:.2f}), "
            f"S1 = {top_s1:.2f}; the first-order indices sum to {total_s1:.2f}"
            + (
                f", so interactions account for about {1 - total_s1:.0%} of the variance."
                if 0 <= total_s1 <= 1
                else " (outside [0, 1]: too few samples for stable estimates)."
            )
        )

    def _morris_caption(self, frame: pl.DataFrame) -> str:
        known = {o.name: o for o in outcomes(self.layout)}
        name = known[outcomes(self.layout)[0].name].name
        if frame.filter(pl.col("outcome") == name).is_empty():
            name = frame["outcome"][0]
        sub = frame.filter(pl.col("outcome") == name)
        fmt = known[name].fmt if name in known else number
        top = sub.sort("mu_star", descending=True, nulls_last=True).row(0, named=True)
        second = sub.sort("mu_star", descending=True, nulls_last=True)
        runner_up = second.row(1, named=True) if second.height > 1 else None
        text = (
            f"{top['parameter']} has the largest mean absolute effect on "
            f"{top['outcome'].removesuffix(' (USD)')}: mu* = {fmt(top['mu_star'])} "
            f"(± {fmt(top['mu_star_conf'])}), sigma = {fmt(top['sigma'])}"
        )
        if runner_up:
            text += f", ahead of {runner_up['parameter']} (mu* = {fmt(runner_up['mu_star'])})"
        return text + "."


# --------------------------------------------------------------------------- output


def _vl_version() -> str | None:
    import altair as alt
    import vl_convert as vlc

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return wanted if wanted in vlc.get_vegalite_versions() else None


def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script, cached on disk (bundling takes seconds)."""
    import vl_convert as vlc

    vl = _vl_version()
    version = importlib.metadata.version("vl-convert-python")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache = base / "partnersim" / f"vega-bundle-{version}-vl{vl}.js"
    try:
        text = cache.read_text(encoding="utf-8")
        if "window.vegaEmbed" in text:
            return text
    except OSError:
        pass
    text = vlc.javascript_bundle(vl_version=vl)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.tmp-{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home only costs the next report the bundling time
    return text


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    text = json.dumps(value, allow_nan=False, default=str)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _clean_spec(spec: Any) -> Any:
    """NaN and infinities are not JSON: they become null."""
    if isinstance(spec, float):
        return spec if math.isfinite(spec) else None
    if isinstance(spec, dict):
        return {k: _clean_spec(v) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_clean_spec(v) for v in spec]
    return spec


def _summary_html(table: pl.DataFrame, layout: Layout, by_label: str) -> str:
    head = [
        "market",
        by_label,
        "runs",
        "year-1 revenue per rep (median)",
        "runs reaching target",
        f"{layout.horizon} revenue (mean, 95% CI)",
        "NPV (mean, 95% CI)",
        "P(partnership ends)",
        "win rate",
        "days to close (median)",
    ]
    rows = []
    for r in table.iter_rows(named=True):
        cells = [
            r["market"],
            r[table.columns[1]],
            f"{r['runs']}",
            money(r["y1_per_rep_median"]),
            share(r["target_share"]),
            f"{money(r['revenue_mean'])} <span class=ci>({money(r['revenue_lo'])} to "
            f"{money(r['revenue_hi'])})</span>",
            f"{money(r['npv_mean'])} <span class=ci>({money(r['npv_lo'])} to "
            f"{money(r['npv_hi'])})</span>",
            f"{share(r['terminated_share'])} <span class=ci>({share(r['terminated_lo'])} to "
            f"{share(r['terminated_hi'])})</span>",
            share(r["win_rate"]),
            number(r["cycle_days"], 0),
        ]
        escaped = [html.escape(str(c)) if i < 2 else c for i, c in enumerate(cells)]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in escaped) + "</tr>")
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(rows)
    return f"<table class=summary><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _manifest_html(manifest: dict[str, Any], exp: Experiment, layout: Layout) -> str:
    design = manifest.get("design") or {}
    rows = [
        ("experiment", manifest.get("name", exp.path.name)),
        ("directory", str(exp.path)),
        (
            "design",
            f"{layout.kind}" + (f", {design['samples']} samples" if design.get("samples") else ""),
        ),
        (
            "swept",
            ", ".join(manifest.get("swept") or list(design.get("parameters") or {})) or "nothing",
        ),
        ("replications", manifest.get("replications", exp.runs["replication"].n_unique())),
        ("years", f"{layout.years:g}"),
        (
            "seed",
            manifest.get(
                "seed", exp.runs["seed_entropy"][0] if "seed_entropy" in exp.runs.columns else ""
            ),
        ),
        ("runs", exp.runs.height),
        ("counts", json.dumps(manifest.get("counts", {}))),
        ("config hash", manifest.get("config_hash", "")),
        ("git commit", manifest.get("git_commit") or "none"),
        ("versions", ", ".join(f"{k} {v}" for k, v in (manifest.get("versions") or {}).items())),
    ]
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    config = manifest.get("config_text")
    config_html = (
        f"<details><summary>configuration</summary><pre>{html.escape(config)}</pre></details>"
        if config
        else "<p class=note>no configuration text in the manifest</p>"
    )
    raw = html.escape(
        json.dumps({k: v for k, v in manifest.items() if k != "config_text"}, indent=2, default=str)
    )
    return (
        f"<table class=manifest>{body}</table>{config_html}"
        f"<details><summary>manifest.json</summary><pre>{raw}</pre></details>"
    )


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:0 auto;max-width:1500px;padding:1.5em 2em;color:#222}
h1{margin-bottom:.2em}h2{margin:1.6em 0 .3em;font-size:1.25em}
.lead{color:#555;margin-top:0}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
th,td{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
table.summary td:nth-child(n+3){text-align:right;white-space:nowrap}
.ci{color:#777;font-size:.85em}
section.figure{margin:2em 0;border-top:1px solid #eee;padding-top:.5em}
p.caption{font-size:1.02em;margin:.2em 0 .6em;max-width:70em}
.chart{overflow-x:auto}
.files{font-size:.85em;color:#666}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}
.note{color:#8a5a00}
"""

EMBED = """
(function () {
  var specs = %(specs)s;
  var options = {renderer: "svg", actions: {export: true, source: false, compiled: false,
                 editor: false}};
  var jobs = Object.keys(specs).map(function (id) {
    return vegaEmbed("#" + id, specs[id], options);
  });
  Promise.allSettled(jobs).then(function (results) {
    var failed = results.filter(function (r) { return r.status !== "fulfilled"; });
    failed.forEach(function (r) { console.error("chart failed:", r.reason); });
    document.body.setAttribute("data-charts-rendered", String(results.length - failed.length));
    document.body.setAttribute("data-charts-failed", String(failed.length));
  });
})();
"""


@dataclass(frozen=True, slots=True)
class ReportResult:
    path: Path
    figures: list[str]
    seconds: float


def write_report(path: str | os.PathLike[str], *, images: bool = True) -> ReportResult:
    """Write DIR/report.html (and DIR/charts/<name>.png, .svg unless images=False).

    DIR must hold a manifest: only in a directory `partnersim run` made are report.html and
    charts/ partnersim's to overwrite and clean up.
    """
    started = time.perf_counter()
    exp = read_experiment(path)
    if not exp.manifest:
        raise ConfigError(
            "DIR", str(path), "an experiment directory with manifest.json (from partnersim run)"
        )
    from experiments import store

    store.check_managed_kinds(exp.path)
    builder = ReportBuilder(exp)
    figures = builder.figures()
    specs = {f.name: _clean_spec(f.chart.to_dict()) for f in figures}
    by = builder.series_key or "variant"
    page = _page(exp, builder, figures, specs, builder.summary(), by, images)
    out = exp.path / "report.html"
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        if images and figures:
            _write_images(exp.path / "charts", specs)
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        where = err.filename or exp.path
        raise store.StoreError(f"{where}: cannot write ({err.strerror or err})") from None
    return ReportResult(out, [f.name for f in figures], time.perf_counter() - started)


def _write_images(folder: Path, specs: dict[str, Any]) -> None:
    """Each chart as SVG and PNG; the PNG is rasterised from the SVG (one Vega evaluation)."""
    import vl_convert as vlc

    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob("*.png"), *folder.glob("*.svg")]:
        if stale.stem not in specs:  # a chart an earlier report drew and this one does not
            stale.unlink()
    vl = _vl_version()
    for name, spec in specs.items():
        svg = vlc.vegalite_to_svg(spec, vl_version=vl)
        (folder / f"{name}.svg").write_text(svg, encoding="utf-8")
        (folder / f"{name}.png").write_bytes(vlc.svg_to_png(svg, scale=2))


def _page(exp, builder, figures, specs, summary, by, images) -> str:
    layout = builder.layout
    manifest = exp.manifest
    name = manifest.get("name", exp.path.name)
    sections = []
    for f in figures:
        files = (
            f'<p class=files>image: <a href="charts/{f.name}.png">PNG</a> · '
            f'<a href="charts/{f.name}.svg">SVG</a></p>'
            if images
            else ""
        )
        sections.append(
            f'<section class=figure id="figure-{f.name}"><h2>{html.escape(f.title)}</h2>'
            f"<p class=caption>{html.escape(f.caption)}</p>"
            f'<div class=chart id="{f.name}"></div>{files}</section>'
        )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in builder.notes)
    notes_html = f"<h2>Notes</h2><ul class=note>{notes}</ul>" if notes else ""
    by_title = "series" if by == "label" else "policy / variant"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lead = (
        f"{exp.runs.height} runs, {layout.kind} design, {layout.years:g} years; "
        f"markets: {', '.join(layout.markets) or 'n/a'}; policies: "
        f"{', '.join(layout.policies) or 'n/a'}. Generated {generated}. Click a legend entry "
        "to focus a series (shift-click for several); hover for values."
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>partnersim report: {html.escape(str(name))}</title>
<style>{STYLE}</style>
<script>{vega_bundle()}</script>
</head>
<body>
<h1>partnersim report: {html.escape(str(name))}</h1>
<p class=lead>{html.escape(lead)}</p>
<h2>Summary</h2>
{_summary_html(summary, layout, by_title)}
<h2>Manifest</h2>
{_manifest_html(manifest, exp, layout)}
{notes_html}
{"".join(sections)}
<script>{EMBED % {"specs": _script_json(specs)}}</script>
</body>
</html>
"""


# --------------------------------------------------------------------------- command line


def add_report_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register `partnersim report DIR` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "report",
        help="write DIR/report.html and DIR/charts/ from an experiment's results",
        description="Aggregate an experiment directory's Parquet results and write a "
        "self-contained HTML report (works offline) with PNG and SVG charts.",
    )
    parser.add_argument("dir", metavar="DIR", help="experiment directory (from partnersim run)")
    parser.add_argument(
        "--no-images", action="store_true", help="skip the PNG and SVG files (the page is complete)"
    )
    parser.set_defaults(func=cmd_report)
    return parser


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report of args.dir and print where it is."""
    from experiments import store
    from experiments.cli import UsageError

    try:
        result = write_report(args.dir, images=not getattr(args, "no_images", False))
    except store.StoreError as err:
        raise UsageError(str(err)) from None
    print(f"report: {result.path} ({len(result.figures)} charts, {result.seconds:.1f} s)")
    return 0
