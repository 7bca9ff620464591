"""Named statistics of a setting's runs, each a point value and a 95% interval over replications.

A statistic reads the tables `sim.simulate` returns (runs, monthly, deals) for the
replications of one setting (market, policy, overrides) and reduces them in two steps: one
number (or a few) per run, then an aggregate over runs with its interval. Four aggregates
cover the published benchmarks:

    mean over runs        Student-t interval (runs where the value is undefined are left out)
    pooled ratio          sum over runs / sum over runs; bootstrap over runs (paired)
    pooled median         median of every run's values together; bootstrap over runs
    median over runs      nulls are "never" (infinite); bootstrap over runs

Adding a statistic is one `Statistic(...)` entry in `REGISTRY`: its name, unit, the columns it
reads (checked against the model's tables when a calibration file is loaded, so a column
the model does not record yet is refused before anything runs), and its estimator.
Bootstrap intervals use a fixed generator: the same runs give the same interval.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from agents.parameters import frozen

BOOTSTRAP = 2000
BOOTSTRAP_SEED = 20261201


class StatisticError(Exception):
    """A statistic cannot be computed from the tables it was given (reported as one line)."""


@frozen
class Tables:
    """The three tables of one setting's runs (any number of replications)."""

    runs: pl.DataFrame
    monthly: pl.DataFrame
    deals: pl.DataFrame

    @staticmethod
    def concat(results: list[Any]) -> Tables:
        """The tables of several `RunResult`s together."""

        def stacked(name: str) -> pl.DataFrame:
            return pl.concat([getattr(r, name) for r in results], how="vertical_relaxed")

        return Tables(runs=stacked("runs"), monthly=stacked("monthly"), deals=stacked("deals"))

    def column(self, qualified: str) -> pl.Series:
        """`runs.win_rate` -> that column; StatisticError if the table has no such column."""
        table, _, name = qualified.partition(".")
        frame = getattr(self, table)
        if name not in frame.columns:
            raise StatisticError(f"the model's {table} table has no column {name!r}")
        return frame[name]


@frozen
class Estimate:
    """A statistic's value and its 95% interval (None: undefined; inf: never)."""

    value: float | None
    low: float | None = None
    high: float | None = None
    runs: int = 0  # runs it was computed from

    @property
    def defined(self) -> bool:
        return self.value is not None and math.isfinite(self.value)


@frozen
class Statistic:
    """A named statistic: what it reads, its unit and how it is estimated."""

    name: str
    unit: str  # share | usd | days | month
    doc: str
    needs: tuple[str, ...]  # qualified columns it reads: "deals.outcome"
    estimator: Callable[[Tables, bool], Estimate]
    min_years: float = 0.0  # the shortest horizon it is defined for

    def estimate(self, tables: Tables, interval: bool = False) -> Estimate:
        """The statistic of `tables`; with `interval`, also its 95% interval."""
        for qualified in self.needs:
            tables.column(qualified)  # a missing column is named before anything else
        return self.estimator(tables, interval)


# --- per run -------------------------------------------------------------------------------


def _run_ids(tables: Tables) -> pl.DataFrame:
    return tables.runs.select("run_id")


def runs_column(name: str) -> Callable[[Tables], np.ndarray]:
    """One value per run: a runs-table column (null -> NaN)."""

    def per_run(tables: Tables) -> np.ndarray:
        series = tables.column(f"runs.{name}").cast(pl.Float64)
        return series.fill_null(float("nan")).to_numpy()

    return per_run


def deals_per_run(expr: pl.Expr, where: pl.Expr | None = None) -> Callable[[Tables], np.ndarray]:
    """One value per run: `expr` aggregated over the run's deals (0 for a run with none)."""

    def per_run(tables: Tables) -> np.ndarray:
        deals = tables.deals if where is None else tables.deals.filter(where)
        summed = deals.group_by("run_id").agg(expr.alias("v"))
        joined = _run_ids(tables).join(summed, on="run_id", how="left")
        return joined["v"].cast(pl.Float64).fill_null(0.0).to_numpy()

    return per_run


def deal_values(expr: pl.Expr, where: pl.Expr) -> Callable[[Tables], list[np.ndarray]]:
    """Every run's values of `expr` over its deals matching `where`, one array per run."""

    def per_run(tables: Tables) -> list[np.ndarray]:
        values = tables.deals.filter(where).select("run_id", expr.cast(pl.Float64).alias("v"))
        by_run = values.partition_by("run_id", as_dict=True)
        return [
            by_run[(run_id,)]["v"].drop_nulls().to_numpy() if (run_id,) in by_run else np.empty(0)
            for run_id in tables.runs["run_id"]
        ]

    return per_run


# --- aggregates ----------------------------------------------------------------------------


def mean_over_runs(per_run: Callable[[Tables], np.ndarray]) -> Callable[[Tables, bool], Estimate]:
    """The mean over runs of a per-run value, with a Student-t interval."""

    def estimator(tables: Tables, interval: bool) -> Estimate:
        values = per_run(tables)
        values = values[np.isfinite(values)]
        if not values.size:
            return Estimate(value=None, runs=0)
        mean = float(values.mean())
        if not interval or values.size < 2:
            return Estimate(value=mean, runs=int(values.size))
        from experiments.report.statistics import t_half_width

        half = float(t_half_width(np.array([values.std(ddof=1)]), np.array([values.size]))[0])
        return Estimate(value=mean, low=mean - half, high=mean + half, runs=int(values.size))

    return estimator


def pooled_ratio(
    numerator: Callable[[Tables], np.ndarray], denominator: Callable[[Tables], np.ndarray]
) -> Callable[[Tables, bool], Estimate]:
    """Sum over runs of a numerator over the sum of a denominator; bootstrap over runs."""

    def estimator(tables: Tables, interval: bool) -> Estimate:
        a, b = numerator(tables), denominator(tables)
        runs = len(a)
        if not b.sum():
            return Estimate(value=None, runs=runs)
        value = float(a.sum() / b.sum())
        if not interval or runs < 2:
            return Estimate(value=value, runs=runs)
        from experiments.report.statistics import ratio_interval

        _, low, high = ratio_interval(a, b, paired=True)
        return Estimate(value=value, low=_finite(low), high=_finite(high), runs=runs)

    return estimator


def pooled_median(
    per_run: Callable[[Tables], list[np.ndarray]],
) -> Callable[[Tables, bool], Estimate]:
    """The median of all runs' values together; the bootstrap resamples whole runs."""

    def estimator(tables: Tables, interval: bool) -> Estimate:
        arrays = per_run(tables)
        pooled = np.concatenate(arrays) if arrays else np.empty(0)
        if not pooled.size:
            return Estimate(value=None, runs=len(arrays))
        value = float(np.median(pooled))
        if not interval or len(arrays) < 2:
            return Estimate(value=value, runs=len(arrays))
        low, high = _bootstrap(
            len(arrays), lambda idx: np.concatenate([arrays[i] for i in idx]), np.median
        )
        return Estimate(value=value, low=low, high=high, runs=len(arrays))

    return estimator


def median_over_runs(per_run: Callable[[Tables], np.ndarray]) -> Callable[[Tables, bool], Estimate]:
    """The median over runs of a per-run value whose null means "never" (infinite)."""

    def estimator(tables: Tables, interval: bool) -> Estimate:
        values = np.nan_to_num(per_run(tables), nan=math.inf)
        if not values.size:
            return Estimate(value=None, runs=0)
        value = float(np.median(values))
        if not interval or values.size < 2:
            return Estimate(value=value, runs=int(values.size))
        low, high = _bootstrap(values.size, lambda idx: values[idx], np.median)
        return Estimate(value=value, low=low, high=high, runs=int(values.size))

    return estimator


def _bootstrap(
    runs: int, resample: Callable[[np.ndarray], np.ndarray], statistic: Callable
) -> tuple[float | None, float | None]:
    """The 95% percentile interval of `statistic` over resamples of whole runs."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = []
    for idx in rng.integers(0, runs, size=(BOOTSTRAP, runs)):
        sample = resample(idx)
        if sample.size:
            draws.append(float(statistic(sample)))
    if not draws:
        return None, None
    with np.errstate(invalid="ignore"):
        low, high = np.percentile(np.array(draws), [2.5, 97.5], method="lower")
    return float(low), float(high)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


# --- the registry --------------------------------------------------------------------------

ENDED = pl.col("outcome") != "open"
WON = pl.col("outcome") == "won"
YEARS_3_5 = pl.col("month").is_between(25, 60)


def _bookings_per_rep_years_3_5(tables: Tables) -> np.ndarray:
    """Bookings in months 25-60 per rep per year, one value per run."""
    bookings = tables.monthly.filter(YEARS_3_5).group_by("run_id").agg(pl.col("bookings_usd").sum())
    joined = tables.runs.select("run_id", "partner.reps").join(bookings, on="run_id", how="left")
    per_rep = joined["bookings_usd"].fill_null(0.0) / joined["partner.reps"] / 3
    return per_rep.cast(pl.Float64).to_numpy()


def _share_of_market_won(tables: Tables) -> np.ndarray:
    """Distinct clients with a won deal over the market's clients, one value per run."""
    won = deals_per_run(pl.col("client").n_unique(), WON)(tables)
    return won / tables.runs["market.clients"].cast(pl.Float64).to_numpy()


def _entries(*statistics: Statistic) -> dict[str, Statistic]:
    return {s.name: s for s in statistics}


REGISTRY: dict[str, Statistic] = _entries(
    Statistic(
        name="win_rate",
        unit="share",
        doc="won / ended deals (outcome other than open), pooled over runs",
        needs=("deals.outcome",),
        estimator=pooled_ratio(deals_per_run(WON.sum(), ENDED), deals_per_run(pl.len(), ENDED)),
    ),
    Statistic(
        name="no_decision_share",
        unit="share",
        doc="deals ended in no decision / ended deals, pooled over runs",
        needs=("deals.outcome",),
        estimator=pooled_ratio(
            deals_per_run((pl.col("outcome") == "no_decision").sum(), ENDED),
            deals_per_run(pl.len(), ENDED),
        ),
    ),
    Statistic(
        name="median_days_to_close",
        unit="days",
        doc="won deals' decision_day - first_contact_day, median of all runs' deals",
        needs=("deals.outcome", "deals.decision_day", "deals.first_contact_day"),
        estimator=pooled_median(
            deal_values(pl.col("decision_day") - pl.col("first_contact_day"), WON)
        ),
    ),
    Statistic(
        name="revenue_per_rep_year1_usd",
        unit="usd",
        doc="first-year revenue per rep (runs column), mean over runs",
        needs=("runs.revenue_per_rep_year1_usd",),
        estimator=mean_over_runs(runs_column("revenue_per_rep_year1_usd")),
    ),
    Statistic(
        name="bookings_per_rep_year_3_5_usd",
        unit="usd",
        doc="bookings in months 25-60 / partner.reps / 3, mean over runs",
        needs=("monthly.bookings_usd", "monthly.month", "runs.partner.reps"),
        estimator=mean_over_runs(_bookings_per_rep_years_3_5),
        min_years=5.0,
    ),
    Statistic(
        name="market_share_won",
        unit="share",
        doc="distinct clients with a won deal / market.clients, mean over runs",
        needs=("deals.client", "deals.outcome", "runs.market.clients"),
        estimator=mean_over_runs(_share_of_market_won),
    ),
    Statistic(
        name="partnership_ended_share",
        unit="share",
        doc="runs whose partnership was terminated, share of runs",
        needs=("runs.partnership_terminated",),
        estimator=mean_over_runs(runs_column("partnership_terminated")),
    ),
    Statistic(
        name="npv_usd",
        unit="usd",
        doc="the vendor's NPV (runs column), mean over runs",
        needs=("runs.npv_usd",),
        estimator=mean_over_runs(runs_column("npv_usd")),
    ),
    Statistic(
        name="revenue_total_usd",
        unit="usd",
        doc="revenue over the horizon (runs column), mean over runs",
        needs=("runs.revenue_total_usd",),
        estimator=mean_over_runs(runs_column("revenue_total_usd")),
    ),
    Statistic(
        name="annual_churn",
        unit="share",
        doc="annual logo churn of accounts (runs churn_rate_annual), mean over runs that have it",
        needs=("runs.churn_rate_annual",),
        estimator=mean_over_runs(runs_column("churn_rate_annual")),
    ),
    Statistic(
        name="break_even_month",
        unit="month",
        doc="month cumulative net cash turns positive (runs column), median over runs; "
        "a run that never breaks even counts as never",
        needs=("runs.break_even_month",),
        estimator=median_over_runs(runs_column("break_even_month")),
    ),
)


# --- the model's columns -------------------------------------------------------------------


@functools.cache
def model_columns() -> frozenset[str]:
    """Every qualified column the model's tables have, from a one-month probe run."""
    from agents import parameters
    from sim.run import make_spec, simulate

    market = parameters.market_names()[0]
    result = simulate(make_spec(market, parameters.PRESET_NAMES[0], years=1 / 12))
    return frozenset(
        f"{table}.{column}"
        for table in ("runs", "monthly", "deals")
        for column in getattr(result, table).columns
    )


def missing_columns(names: set[str], columns: frozenset[str]) -> dict[str, str]:
    """Statistic name -> the first column it reads that `columns` lacks (only those lacking)."""
    missing = {}
    for name in sorted(names):
        absent = [c for c in REGISTRY[name].needs if c not in columns]
        if absent:
            missing[name] = absent[0]
    return missing
