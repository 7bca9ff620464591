"""The end-of-run table: per design point, the mean and 95% CI of the main outcomes.

Aggregation is polars over the stored runs joined to the design table, so a point that
shares its runs with another (identical parameters) is summarized from those runs too.
The CI is the Student-t interval of the mean over replications (none with one replication);
for `partnership_terminated` it is the share of runs whose partnership ended.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from experiments.report.formatting import money
from experiments.report.statistics import t_half_width

# Outcome column -> how to show it.
OUTCOMES = {
    "revenue_total_usd": "usd",
    "npv_usd": "usd",
    "revenue_per_rep_year1_usd": "usd",
    "partnership_terminated": "share",
    "win_rate": "share",
}
HEADERS = {"partnership_terminated": "terminated"}


def point_summary(runs: pl.LazyFrame | pl.DataFrame, design: pl.DataFrame) -> pl.DataFrame:
    """One row per design point: swept values, runs, and mean / CI half-width per outcome.

    Columns: design_point, the swept columns, `runs`, then for each outcome `<name>_mean`,
    `<name>_ci95` (half-width) and `<name>_n` (runs where it is defined; win_rate is
    undefined in a run with no decided deal).
    """
    outcomes = (
        runs.lazy().select("run_id", *(pl.col(c).cast(pl.Float64) for c in OUTCOMES)).collect()
    )
    keys = [c for c in design.columns if c not in ("sample_index", "replication", "run_id")]
    joined = design.join(outcomes, on="run_id", how="inner")
    aggregations: list[pl.Expr] = [pl.len().alias("runs")]
    for c in OUTCOMES:
        aggregations += [
            pl.col(c).mean().alias(f"{c}_mean"),
            pl.col(c).std().alias(f"{c}_sd"),
            pl.col(c).count().alias(f"{c}_n"),
        ]
    table = joined.group_by(keys, maintain_order=True).agg(aggregations).sort("design_point")
    for c in OUTCOMES:
        sd = table[f"{c}_sd"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        half = pl.Series(f"{c}_ci95", t_half_width(sd, table[f"{c}_n"].to_numpy()))
        table = table.with_columns(half.fill_nan(None)).drop(f"{c}_sd")
    return table


def format_table(table: pl.DataFrame, swept: list[str], max_rows: int = 40) -> str:
    """The summary as aligned text: one line per design point, mean ± CI half-width."""
    labels = [c for c in swept if c in table.columns]
    headers = ["point", *labels, "runs", *(HEADERS.get(c, c) for c in OUTCOMES)]
    rows: list[list[str]] = []
    for row in table.head(max_rows).iter_rows(named=True):
        cells = [str(row["design_point"]), *(_value(row[c]) for c in labels), str(row["runs"])]
        for c, kind in OUTCOMES.items():
            cells.append(_estimate(row[f"{c}_mean"], row[f"{c}_ci95"], kind))
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    numeric_from = 1 + len(labels)
    lines = []
    for cells in [headers, *rows]:
        parts = [
            cell.rjust(w) if i >= numeric_from or i == 0 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    if table.height > max_rows:
        lines.append(f"... {table.height - max_rows} more design points (see the runs table)")
    return "\n".join(lines)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _estimate(mean: float | None, half: float | None, kind: str) -> str:
    if mean is None:
        return "n/a"
    if kind == "share":
        text = f"{mean:.0%}"
        return text if half is None else f"{text} ± {half:.0%}"
    text = money(mean)
    return text if half is None else f"{text} ± {money(abs(half))}"
