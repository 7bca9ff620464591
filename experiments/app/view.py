"""Drawing an ensemble and its baseline into the app's page: headline numbers, the charts,
the table of paired differences. Called again as replications finish, each call replaces
what the slots held.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl
import streamlit as st

from experiments.app import charts, ensemble
from experiments.report.formatting import money, share

CHARTS = ("revenue", "npv", "survival", "break_even", "cycle")


def difference_text(differences: pl.DataFrame, measure: str) -> str:
    """'setting - baseline: +$1.20M (95% CI +$0.80M to +$1.60M), 20 pairs' for one measure."""
    row = differences.filter(pl.col("measure") == measure).row(0, named=True)
    if not row["pairs"]:
        return "no paired replications yet"
    fmt = _formatter(row["unit"])
    if row["lo"] is None:
        interval = "" if row["pairs"] < 2 else " (no spread: the same in every pair)"
    else:
        interval = f" (95% CI {fmt(row['lo'], True)} to {fmt(row['hi'], True)})"
    return f"setting − baseline: {fmt(row['difference'], True)}{interval}, {row['pairs']} pairs"


def _formatter(unit: str):
    def fmt(value: float | None, signed: bool = False) -> str:
        if value is None or not math.isfinite(value):
            return "n/a"
        sign = "+" if signed and value > 0 else ""
        if unit == "USD":
            return sign + money(value)
        if unit == "share":
            return f"{sign}{value * 100:.1f} pp" if signed else share(value)
        return f"{sign}{value:,.0f} days" if unit == "days" else f"{sign}{value:.3g}"

    return fmt


def draw(slots: dict[str, Any], ensembles: ensemble.Ensembles) -> pl.DataFrame:
    """Fill the page's slots from the finished replications; returns the differences."""
    differences = ensemble.paired_differences(ensembles)
    risk = {row["series"]: row for row in ensemble.risk_table(ensembles).iter_rows(named=True)}
    _headline(slots["headline"], risk, differences)
    for name, figure in figures(ensembles, differences, risk).items():
        slots[name].altair_chart(figure, width="stretch")
    slots["differences"].dataframe(_difference_table(differences), hide_index=True)
    return differences


def figures(
    ensembles: ensemble.Ensembles, differences: pl.DataFrame, risk: dict[str, dict]
) -> dict[str, Any]:
    """The five charts, by slot name."""
    runs = ensemble.runs_frame(ensembles)
    ended = risk.get("setting", {})
    npv_note = (
        f"P(NPV < 0) {share(ended.get('npv_negative'))} "
        f"(95% CI {share(ended.get('npv_negative_lo'))}–{share(ended.get('npv_negative_hi'))}); "
        + difference_text(differences, "NPV")
    )
    return {
        "revenue": charts.revenue_fan_chart(
            ensemble.revenue_fan(ensembles),
            difference_text(differences, "Revenue over the horizon"),
        ),
        "npv": charts.npv_chart(runs, npv_note),
        "survival": charts.survival_chart(
            ensemble.survival(ensembles),
            "ended: " + difference_text(differences, "Partnership ended"),
        ),
        "break_even": charts.break_even_chart(
            ensemble.not_broken_even(ensembles),
            "broke even: " + difference_text(differences, "Broke even within the horizon"),
        ),
        "cycle": charts.cycle_chart(
            ensemble.cycle_days(ensembles),
            "median: " + difference_text(differences, "Median days to close"),
        ),
    }


def waiting(slots: dict[str, Any]) -> None:
    """The first chart's frame until the first replication finishes."""
    slots["revenue"].altair_chart(charts.waiting_chart(charts.REVENUE_TITLE), width="stretch")


def warm_up() -> None:
    """Build every chart of a tiny run once: the first page's first drawing then does not
    pay for loading Altair's schema (a quarter of a second)."""
    from experiments.app.pool import replicate
    from sim.run import make_spec

    spec = make_spec(overrides={"market.clients": 5, "partner.reps": 1}, years=0.1)
    ensembles = {"setting": [replicate(spec)], "baseline": [replicate(spec)]}
    differences = ensemble.paired_differences(ensembles)
    risk = {row["series"]: row for row in ensemble.risk_table(ensembles).iter_rows(named=True)}
    for chart in figures(ensembles, differences, risk).values():
        chart.to_dict()


def _headline(slot: Any, risk: dict[str, dict], differences: pl.DataFrame) -> None:
    """Four numbers with their change against the baseline."""
    setting, baseline = risk.get("setting", {}), risk.get("baseline", {})

    def delta(key: str, fmt) -> str | None:
        a, b = setting.get(key), baseline.get(key)
        if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) or a == b:
            return None  # no arrow where there is no change
        return fmt(a - b)

    points = lambda v: f"{v * 100:+.0f} pp"  # noqa: E731
    dollars = lambda v: ("+" if v > 0 else "") + money(v)  # noqa: E731
    with slot.container():
        columns = st.columns(4)
        columns[0].metric("Median NPV", money(setting.get("npv_p50")), delta("npv_p50", dollars))
        columns[1].metric(
            "P(NPV < 0)",
            share(setting.get("npv_negative")),
            delta("npv_negative", points),
            delta_color="inverse",
        )
        columns[2].metric(
            "Partnership ended",
            share(setting.get("ended")),
            delta("ended", points),
            delta_color="inverse",
        )
        columns[3].metric(
            "Median revenue", money(setting.get("revenue_p50")), delta("revenue_p50", dollars)
        )


def _difference_table(differences: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for row in differences.iter_rows(named=True):
        fmt = _formatter(row["unit"])
        rows.append(
            {
                "measure": row["measure"],
                "setting": fmt(row["setting"]),
                "baseline": fmt(row["baseline"]),
                "difference": fmt(row["difference"], True),
                "95% CI": "n/a"
                if row["lo"] is None
                else f"{fmt(row['lo'], True)} to {fmt(row['hi'], True)}",
                "pairs": row["pairs"],
            }
        )
    return pl.DataFrame(rows)
