"""The app's charts: Altair specs of the frames `experiments.app.ensemble` makes.

Each chart draws the setting against its pinned baseline, in the report's two first colours
(the setting solid, the baseline dashed), and fills its container's width: the app lays
them out for a phone or a wide screen. Money is in dollars with SI prefixes, shares in %.
"""

from __future__ import annotations

import textwrap

import altair as alt
import polars as pl

from experiments.app.ensemble import SERIES
from experiments.charts.common import BAND_OPACITY, DASHES, MONEY, PALETTE, SHARE

ORDER = ("setting", "baseline")
HEIGHT = 240
SUBTITLE_CHARS = 46  # about 300 px of subtitle text
TITLE_CHARS = 34  # about 250 px of title text
REVENUE_TITLE = "Cumulative revenue: P10, P50, P90"


def _color() -> alt.Color:
    return alt.Color(
        f"{SERIES}:N",
        title=None,
        scale=alt.Scale(domain=list(ORDER), range=list(PALETTE[:2])),
        legend=alt.Legend(orient="top"),
    )


def _dash() -> alt.StrokeDash:
    return alt.StrokeDash(
        f"{SERIES}:N", scale=alt.Scale(domain=list(ORDER), range=DASHES[:2]), legend=None
    )


def _frame(chart: alt.Chart | alt.LayerChart, title: str, subtitle: str) -> alt.Chart:
    """A chart as wide as its container, its title and subtitle in lines that fit a phone's
    width, `height` px of plot under them."""
    return chart.properties(
        title=alt.TitleParams(
            textwrap.wrap(title, TITLE_CHARS) if len(title) > TITLE_CHARS else title,
            subtitle=textwrap.wrap(subtitle, SUBTITLE_CHARS),
            anchor="start",
        ),
        width="container",
        height=HEIGHT,
        # Streamlit's default ("fit") squeezes title, legends and axes into `height`.
        autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
    )


def revenue_fan_chart(fan: pl.DataFrame, subtitle: str) -> alt.LayerChart:
    """Cumulative revenue by month: the P10-P90 band and the median line, per series."""
    base = alt.Chart(fan).encode(
        x=alt.X("month:Q", title="month"), color=_color(), detail=f"{SERIES}:N"
    )
    band = base.mark_area(opacity=BAND_OPACITY * 2).encode(
        y=alt.Y("p10:Q", title="cumulative revenue", axis=alt.Axis(format=MONEY)),
        y2="p90:Q",
        tooltip=[
            "month",
            SERIES,
            alt.Tooltip("p10:Q", format=MONEY),
            alt.Tooltip("p90:Q", format=MONEY),
        ],
    )
    median = base.mark_line().encode(
        y="p50:Q", strokeDash=_dash(), tooltip=["month", SERIES, alt.Tooltip("p50:Q", format=MONEY)]
    )
    return _frame(band + median, REVENUE_TITLE, subtitle)


def waiting_chart(title: str) -> alt.Chart:
    """A chart's frame with a line saying the first replication is not in yet."""
    text = alt.Chart(pl.DataFrame({"x": [0.0]})).mark_text(
        text="waiting for the first replication", color="#666666"
    )
    return _frame(text.encode(x=alt.X("x:Q", axis=None)), title, "").properties(height=60)


def npv_chart(runs: pl.DataFrame, subtitle: str) -> alt.LayerChart:
    """NPV of each replication as a tick per series, with a rule at zero."""
    points = (
        alt.Chart(runs.select(SERIES, "replication", "npv_usd"))
        .mark_tick(thickness=2, size=22)
        .encode(
            x=alt.X("npv_usd:Q", title="NPV", axis=alt.Axis(format=MONEY)),
            y=alt.Y(f"{SERIES}:N", title=None, sort=list(ORDER)),
            color=_color(),
            tooltip=[SERIES, "replication", alt.Tooltip("npv_usd:Q", format=MONEY)],
        )
    )
    zero = alt.Chart(pl.DataFrame({"x": [0.0]})).mark_rule(color="#333333").encode(x="x:Q")
    return _frame(points + zero, "NPV of each replication", subtitle).properties(height=120)


def survival_chart(curves: pl.DataFrame, subtitle: str) -> alt.Chart:
    """The share of partnerships still running, and ended by each side, by month."""
    return _frame(
        alt.Chart(curves)
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("month:Q", title="month"),
            y=alt.Y("value:Q", title="share of replications", axis=alt.Axis(format=SHARE)),
            color=_color(),
            strokeDash=alt.StrokeDash(
                "curve:N",
                title=None,
                sort=["still running", "ended by vendor", "ended by partner"],
                legend=alt.Legend(orient="bottom", columns=2),
            ),
            detail=f"{SERIES}:N",
            tooltip=[SERIES, "curve", "month", alt.Tooltip("value:Q", format=SHARE)],
        ),
        "The partnership: still running, ended by whom",
        subtitle,
    )


def break_even_chart(curve: pl.DataFrame, subtitle: str) -> alt.Chart:
    """The share of runs whose cumulative net cash is still below zero, by month."""
    return _frame(
        alt.Chart(curve)
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("month:Q", title="month"),
            y=alt.Y("value:Q", title="not yet broken even", axis=alt.Axis(format=SHARE)),
            color=_color(),
            strokeDash=_dash(),
            tooltip=[SERIES, "month", alt.Tooltip("value:Q", format=SHARE)],
        ),
        "Break-even: share of replications still below zero cash",
        subtitle,
    )


def cycle_chart(deals: pl.DataFrame, subtitle: str) -> alt.Chart:
    """Days from first contact to decision of every deal won, as a box per series."""
    return _frame(
        alt.Chart(deals)
        .mark_boxplot(extent="min-max", size=22)
        .encode(
            x=alt.X("days:Q", title="days to close (won deals)"),
            y=alt.Y(f"{SERIES}:N", title=None, sort=list(ORDER)),
            color=_color(),
        ),
        "Days to close",
        subtitle,
    ).properties(height=120)
