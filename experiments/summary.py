"""The end-of-run table: per design point, the spread and the risks of the main outcomes.

Aggregation is polars over the stored runs joined to the design table, so a point that
shares its runs with another (identical parameters) is summarized from those runs too.
`point_summary` holds, per design point, each outcome's mean and 95% CI half-width
(Student t over replications) and the risk measures of `experiments.report.risk`
(percentiles, P(NPV < 0) with its Wilson interval, who ended the partnership, break-even,
peak outlay). `format_table` prints the risks as one compact table, in the report's dollar
format; the means and their intervals are the report's summary table.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from experiments.report.formatting import finite, money, month
from experiments.report.risk import risk_measures
from experiments.report.statistics import t_half_width

# Outcome column -> how to show it (mean and CI half-width are computed for each).
OUTCOMES = {
    "revenue_total_usd": "usd",
    "npv_usd": "usd",
    "revenue_per_rep_year1_usd": "usd",
    "partnership_terminated": "share",
    "win_rate": "share",
}

KEY = (
    "P10/P50/P90: 10th, 50th (median) and 90th percentiles over the replications; P(<0): "
    "share of runs with NPV below zero (Wilson 95% CI); partnership ended: share of runs, by "
    "either side and by each; break-even: first month with cumulative net cash >= 0 (never "
    "counts as later than any month), and the share of runs that never break even; peak "
    "outlay: the deepest cumulative net cash."
)


def point_summary(runs: pl.LazyFrame | pl.DataFrame, design: pl.DataFrame) -> pl.DataFrame:
    """One row per design point: swept values, runs, means with CIs and risk measures.

    Columns: design_point, the swept columns, `runs`, `years`; for each outcome
    `<name>_mean`, `<name>_ci95` (half-width) and `<name>_n` (runs where it is defined;
    win_rate is undefined in a run with no decided deal); then the columns of
    `experiments.report.risk.risk_measures` (`revenue_p10` ... `peak_outlay_median`).
    """
    from experiments.report.risk import COLUMNS, with_risk_columns

    outcomes = (
        with_risk_columns(runs)
        .select(
            "run_id",
            pl.col("years").cast(pl.Float64),
            *(pl.col(c).cast(pl.Float64).alias(f"_{c}") for c in OUTCOMES),
            *(c for c in COLUMNS if c not in OUTCOMES),
            *(pl.col(c) for c in OUTCOMES if c in COLUMNS),
        )
        .collect()
    )
    keys = [c for c in design.columns if c not in ("sample_index", "replication", "run_id")]
    joined = design.join(outcomes, on="run_id", how="inner")
    aggregations: list[pl.Expr] = [pl.len().alias("runs"), pl.col("years").first()]
    for c in OUTCOMES:
        aggregations += [
            pl.col(f"_{c}").mean().alias(f"{c}_mean"),
            pl.col(f"_{c}").std().alias(f"{c}_sd"),
            pl.col(f"_{c}").count().alias(f"{c}_n"),
        ]
    table = joined.group_by(keys, maintain_order=True).agg(aggregations)
    risks = risk_measures(joined, keys).drop("runs")
    table = table.join(risks, on=keys, how="left", nulls_equal=True).sort("design_point")
    for c in OUTCOMES:
        sd = table[f"{c}_sd"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        half = pl.Series(f"{c}_ci95", t_half_width(sd, table[f"{c}_n"].to_numpy()))
        table = table.with_columns(half.fill_nan(None)).drop(f"{c}_sd")
    return table


@dataclass(frozen=True, slots=True)
class Column:
    group: str  # the heading over a run of columns ("" for none)
    header: str
    cell: Callable[[dict[str, Any]], str]
    left: bool = False  # labels align left, numbers right


def _share(value: float | None) -> str:
    return f"{value:.0%}" if finite(value) else "n/a"


def _negative(row: dict[str, Any]) -> str:
    """45% (26-66%): P(NPV < 0) and its Wilson interval."""
    if row["npv_negative"] is None:
        return "n/a"
    lo, hi = row["npv_negative_lo"] * 100, row["npv_negative_hi"] * 100
    return f"{row['npv_negative']:.0%} ({lo:.0f}-{hi:.0f}%)"


def _horizon(table: pl.DataFrame) -> str:
    years = table["years"].drop_nulls() if "years" in table.columns else pl.Series([])
    return f"{years[0]:g}-year" if years.len() and years.n_unique() == 1 else "horizon"


def label_header(column: str) -> str:
    """A swept column's heading: `market` for market.name, `patience_months` for
    policy.patience_months."""
    group, _, name = column.partition(".")
    return group if name == "name" else name or group


def columns(table: pl.DataFrame, labels: list[str]) -> list[Column]:
    """The table's columns: labels, then revenue, NPV, partnership, break-even, outlay."""

    def usd(name: str) -> Callable[[dict[str, Any]], str]:
        return lambda row: money(row[name])

    def pct(name: str) -> Callable[[dict[str, Any]], str]:
        return lambda row: _share(row[name])

    revenue = f"{_horizon(table)} revenue"
    return [
        Column("", "point", lambda row: str(row["design_point"])),
        *[Column("", label_header(c), lambda row, c=c: _value(row[c]), True) for c in labels],
        Column("", "runs", lambda row: str(row["runs"])),
        *[Column(revenue, f"P{p}", usd(f"revenue_p{p}")) for p in (10, 50, 90)],
        *[Column("NPV", f"P{p}", usd(f"npv_p{p}")) for p in (10, 50, 90)],
        Column("NPV", "P(<0)", _negative),
        Column("partnership ended", "all", pct("ended")),
        Column("partnership ended", "vendor", pct("ended_vendor")),
        Column("partnership ended", "partner", pct("ended_partner")),
        Column("break-even", "P50", lambda row: month(row["break_even_median"])),
        Column("break-even", "never", pct("break_even_never")),
        Column("peak outlay", "P50", usd("peak_outlay_median")),
    ]


def format_table(table: pl.DataFrame, swept: list[str], max_rows: int = 40) -> str:
    """The summary as aligned text: one line per design point, under grouped headings,
    then a key to the columns."""
    labels = [c for c in swept if c in table.columns]
    cols = columns(table, labels)
    rows = [[c.cell(row) for c in cols] for row in table.head(max_rows).iter_rows(named=True)]
    widths = [max(len(c.header), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    # Columns of a group are one space apart, groups and ungrouped columns two.
    gaps = [
        "" if i == 0 else " " if c.group and c.group == cols[i - 1].group else "  "
        for i, c in enumerate(cols)
    ]
    # A group's heading spans its columns; a long heading widens the group's last column.
    spans: list[tuple[str, int, int]] = []  # (group, first column, last column)
    for i, c in enumerate(cols):
        if spans and spans[-1][0] == c.group and c.group:
            spans[-1] = (c.group, spans[-1][1], i)
        else:
            spans.append((c.group, i, i))

    def room(first: int, last: int) -> int:
        return sum(widths[first : last + 1]) + sum(len(g) for g in gaps[first + 1 : last + 1])

    for group, first, last in spans:
        widths[last] += max(0, len(group) - room(first, last))
    heading = "".join(gaps[first] + group.ljust(room(first, last)) for group, first, last in spans)
    lines = [heading.rstrip()]
    for cells in [[c.header for c in cols], *rows]:
        parts = [
            gap + (cell.ljust(w) if c.left else cell.rjust(w))
            for cell, w, c, gap in zip(cells, widths, cols, gaps, strict=True)
        ]
        lines.append("".join(parts).rstrip())
    if table.height > max_rows:
        lines.append(f"... {table.height - max_rows} more design points (see the runs table)")
    lines.extend(textwrap.wrap(KEY, 100))
    return "\n".join(lines)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
