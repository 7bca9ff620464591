"""Charts over the months of a run: mean lines with 95% bands, and the stacked pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt

from experiments.charts.common import (
    BAND_OPACITY,
    HEIGHT,
    MONEY,
    NUMBER,
    SHARE,
    STAGE_SCHEME,
    WIDTH,
    domain,
    fitted,
    focus,
    legend_selection,
    legend_width,
    present,
    series_color,
    series_dash,
    text_width,
    values,
)
from experiments.charts.common import title as chart_title

PANEL_SEPARATOR = " · "


def band_over_time(
    frame: Any,
    *,
    title: str,
    y_title: str,
    y_format: str = NUMBER,
    subtitle: str | Sequence[str] | None = None,
    series_order: Sequence[str] | None = None,
    series_title: str = "series",
    row: str | None = None,
    y_domain: Sequence[float] | None = None,
    value_title: str = "mean",
    end_title: str | None = None,
    height: int = HEIGHT,
) -> alt.FacetChart:
    """Mean line with a light 95% band per series, by month; one panel per market.

    Columns: `market`, `series`, `month`, `value`, `lo`, `hi`, `n` (runs in the mean) and,
    optionally, `runs` (all runs of the series that month; the tooltip shows both). With
    `row` (e.g. `measure`), one panel per market and value of that column. Each series has
    a colour and a dash pattern, so lines that coincide remain visible. `value_title` names
    the value in tooltips. With `end_title`, a boolean column `end` marks each line's last
    point, drawn as a dot whose tooltip calls the value `end_title`. `height`: each panel's.
    """
    order = domain(frame, "series", series_order)
    markets = values(frame, "market")
    selection = legend_selection("series")
    y_scale = alt.Scale(domain=list(y_domain)) if y_domain is not None else alt.Undefined
    base = alt.Chart().encode(
        x=alt.X(
            "month:Q",
            title="month",
            axis=alt.Axis(tickMinStep=1, format="d"),
            scale=alt.Scale(nice=False, zero=False),
        ),
        color=series_color("series", series_title, order, symbol="stroke"),
    )
    band = base.mark_area().encode(
        y=alt.Y("lo:Q", title=y_title, axis=alt.Axis(format=y_format), scale=y_scale),
        y2="hi:Q",
        opacity=focus(selection, on=BAND_OPACITY, off=0.02),
    )
    tooltip = [
        alt.Tooltip("market:N"),
        alt.Tooltip("series:N", title=series_title),
        alt.Tooltip("month:Q"),
        alt.Tooltip("value:Q", title=value_title, format=y_format),
        alt.Tooltip("lo:Q", title="95% CI low", format=y_format),
        alt.Tooltip("hi:Q", title="95% CI high", format=y_format),
        alt.Tooltip("n:Q", title="runs in the mean"),
    ]
    if "runs" in getattr(frame, "columns", []):
        tooltip.append(alt.Tooltip("runs:Q", title="runs of the series"))
    if row:
        tooltip.insert(1, alt.Tooltip(f"{row}:N"))
    line = (
        base.mark_line(strokeWidth=2)
        .encode(
            y=alt.Y("value:Q", title=y_title, scale=y_scale),
            strokeDash=series_dash("series", series_title, order),
            opacity=focus(selection),
        )
        .add_params(selection)
    )
    # Invisible points, one per month, carry the tooltips (a line's own is its first point's).
    hover = base.mark_point(size=60, opacity=0).encode(y="value:Q", tooltip=tooltip)
    layers = [band, line, hover]
    if end_title:
        end_value = alt.Tooltip("value:Q", title=end_title, format=y_format)
        end_tooltip = [end_value if t.shorthand == "value:Q" else t for t in tooltip]
        layers.append(
            base.transform_filter("datum.end")
            .mark_point(filled=True, size=50)
            .encode(y="value:Q", opacity=focus(selection), tooltip=end_tooltip)
        )
    layered = alt.layer(*layers).properties(width=WIDTH, height=height)
    if row:
        rows = values(frame, row)
        panels = [f"{r}{PANEL_SEPARATOR}{m}" for r in rows for m in markets]
        field = "panel"
        chart = layered.facet(
            facet=alt.Facet("panel:N", title=None, sort=panels), columns=len(markets), data=frame
        ).transform_calculate(panel=f"datum.{row} + '{PANEL_SEPARATOR}' + datum.market")
    else:
        panels = markets
        field = "market"
        chart = layered.facet(
            facet=alt.Facet(f"{field}:N", title=None, sort=panels),
            columns=len(markets),
            data=frame,
        )
    chart = chart.properties(title=chart_title(title, subtitle))
    return fitted(
        chart,
        panels=len(panels),
        columns=len(markets),
        width=WIDTH,
        axis=text_width(["$888.8M"]) + 30,
        legend=legend_width(order, series_title),
    )


def cumulative_revenue_chart(
    frame: Any,
    *,
    years: float,
    series_order: Sequence[str] | None = None,
    series_title: str = "series",
    subtitle=None,
) -> alt.FacetChart:
    """Cumulative revenue by month, mean and 95% band across replications (band_over_time)."""
    return band_over_time(
        frame,
        title=f"Cumulative revenue over {years:g} years",
        y_title="cumulative revenue (USD)",
        y_format=MONEY,
        subtitle=subtitle,
        series_order=series_order,
        series_title=series_title,
    )


def survival_chart(
    frame: Any,
    *,
    series_order: Sequence[str] | None = None,
    series_title: str = "series",
    subtitle=None,
) -> alt.FacetChart:
    """Share of runs whose partnership is still active, by month (band_over_time)."""
    return band_over_time(
        frame,
        title="Partnership survival",
        y_title="runs still partnered (%)",
        y_format=SHARE,
        subtitle=subtitle,
        series_order=series_order,
        series_title=series_title,
        y_domain=(0, 1),
    )


def ended_by_chart(
    frame: Any,
    *,
    series_order: Sequence[str] | None = None,
    series_title: str = "series",
    subtitle=None,
) -> alt.FacetChart:
    """Cumulative share of runs whose partnership has ended, by month, in one row of panels
    per side that ended it (`ended_by`: e.g. either side, the vendor, the partner) and one
    column per market (band_over_time; `value` is a share, `lo`/`hi` its 95% interval)."""
    return band_over_time(
        frame,
        title="Who ends the partnership, and when",
        y_title="ended (% of runs)",
        y_format=SHARE,
        subtitle=subtitle,
        series_order=series_order,
        series_title=series_title,
        row="ended_by",
        y_domain=(0, 1),
        value_title="share ended",
        height=HEIGHT - 60,  # three rows of panels: lower ones keep the page short
    )


def break_even_chart(
    frame: Any,
    *,
    years: float,
    series_order: Sequence[str] | None = None,
    series_title: str = "series",
    subtitle=None,
) -> alt.FacetChart:
    """Share of runs whose cumulative net cash is still below zero, by month, per market
    (band_over_time): the line falls as runs break even, and its last point (a dot; column
    `end`) is the share of runs that never break even within the horizon."""
    return band_over_time(
        frame,
        title="Break-even: runs still below zero cumulative net cash",
        y_title="runs not yet broken even (%)",
        y_format=SHARE,
        subtitle=subtitle,
        series_order=series_order,
        series_title=series_title,
        y_domain=(0, 1),
        value_title="not yet broken even",
        end_title=f"never breaks even within {years:g} years",
    )


def trust_chart(
    frame: Any,
    *,
    series_order: Sequence[str] | None = None,
    series_title: str = "series",
    subtitle=None,
) -> alt.FacetChart:
    """Mean stakeholder trust and the reseller's trust, by month; `measure` names whose."""
    return band_over_time(
        frame,
        title="Trust over time",
        y_title="trust (0-1)",
        y_format=".2f",
        subtitle=subtitle,
        series_order=series_order,
        series_title=series_title,
        row="measure",
        y_domain=(0, 1),
    )


def pipeline_chart(
    frame: Any,
    *,
    stage_order: Sequence[str],
    series_order: Sequence[str] | None = None,
    subtitle: str | Sequence[str] | None = None,
    columns: int = 3,
) -> alt.FacetChart:
    """Mean number of clients in each stage by month, stacked; one panel per series.

    Columns: `panel` (market and series), `stage`, `stage_rank`, `month`, `count`.
    """
    selection = legend_selection("stage")
    stages = list(stage_order)
    panels = present(frame, "panel", series_order)
    chart = (
        alt.Chart()
        .mark_area()
        .encode(
            x=alt.X("month:Q", title="month", scale=alt.Scale(nice=False, zero=False)),
            y=alt.Y("count:Q", title="clients (mean over runs)", stack="zero"),
            color=alt.Color(
                "stage:N",
                title="stage",
                sort=stages,
                scale=alt.Scale(domain=stages, scheme=STAGE_SCHEME),
                legend=alt.Legend(symbolOpacity=1),
            ),
            order=alt.Order("stage_rank:Q"),
            opacity=focus(selection, on=0.9),
            tooltip=[
                alt.Tooltip("panel:N", title="series"),
                alt.Tooltip("stage:N"),
                alt.Tooltip("month:Q"),
                alt.Tooltip("count:Q", title="mean clients", format=".1f"),
            ],
        )
        .add_params(selection)
        .properties(width=WIDTH - 60, height=HEIGHT - 40)
    )
    # Markets differ in size: each panel gets its own y scale.
    faceted = (
        chart.facet(
            facet=alt.Facet("panel:N", title=None, sort=panels), columns=columns, data=frame
        )
        .resolve_scale(y="independent")
        .properties(title=chart_title("Pipeline stages over time", subtitle))
    )
    return fitted(
        faceted,
        panels=len(panels),
        columns=min(columns, len(panels)),
        width=WIDTH - 60,
        axis=text_width(["888"]) + 30,
        legend=legend_width(stages, "stage"),
    )
