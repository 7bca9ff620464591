"""Decision support: a search's trials and Pareto front, shares with intervals, Shapley splits.

trials_chart   an objective by trial, feasible or not, with the best feasible so far
front_chart    two objectives against each other; the non-dominated feasible trials joined
share_chart    a share per policy with its interval and an optional limit
shapley_chart  an outcome's difference between two policies, split among levers
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt

from experiments.charts.common import (
    GREYS,
    NEUTRAL,
    NUMBER,
    PALETTE,
    SHARE,
    WIDTH,
    fitted,
    series_color,
    text_width,
    values,
)
from experiments.charts.common import title as chart_title

STATUS_ORDER = ("feasible", "infeasible", "chosen")
STATUS_COLORS = (PALETTE[0], GREYS[1], PALETTE[1])


def _status_color(title: str = "trial") -> alt.Color:
    return alt.Color(
        "status:N",
        title=title,
        sort=list(STATUS_ORDER),
        scale=alt.Scale(domain=list(STATUS_ORDER), range=list(STATUS_COLORS)),
    )


def trials_chart(
    frame: Any, *, title: str, y_title: str, y_format: str = NUMBER, subtitle: Any = None
) -> alt.FacetChart:
    """An objective by trial. Columns: `trial`, `value`, `status` (feasible, infeasible,
    chosen), `best` (the best feasible value so far, null before the first), `panel`."""
    tooltip = [
        alt.Tooltip("trial:Q"),
        alt.Tooltip("value:Q", title=y_title, format=y_format),
        alt.Tooltip("status:N"),
    ]
    y = alt.Y("value:Q", title=y_title, axis=alt.Axis(format=y_format), scale=alt.Scale(zero=False))
    points = (
        alt.Chart()
        .mark_circle(size=36, opacity=0.85)
        .encode(
            x=alt.X("trial:Q", title="trial", axis=alt.Axis(format="d", tickMinStep=1)),
            y=y,
            color=_status_color(),
            tooltip=tooltip,
        )
    )
    best = (
        alt.Chart()
        .transform_filter("isValid(datum.best)")
        .mark_line(interpolate="step-after", color=NEUTRAL, strokeWidth=1.5)
        .encode(x="trial:Q", y="best:Q", tooltip=[alt.Tooltip("best:Q", format=y_format)])
    )
    panels = values(frame, "panel")
    chart = (
        alt.layer(points, best)
        .properties(width=WIDTH + 100, height=220)
        .facet(facet=alt.Facet("panel:N", title=None, sort=panels), columns=1, data=frame)
        .properties(
            title=chart_title(title, [*_lines(subtitle), "line: the best feasible trial so far"])
        )
    )
    return fitted(chart, panels=len(panels), columns=1, width=WIDTH + 100, axis=60, legend=110)


def front_chart(
    frame: Any,
    *,
    title: str,
    x_title: str,
    y_title: str,
    x_format: str = NUMBER,
    y_format: str = NUMBER,
    subtitle: Any = None,
) -> alt.FacetChart:
    """Two objectives of every trial. Columns: `trial`, `x`, `y`, `status`, `front` (bool),
    `panel`. The front's trials are joined by a line, in the order of `x`."""
    tooltip = [
        alt.Tooltip("trial:Q"),
        alt.Tooltip("x:Q", title=x_title, format=x_format),
        alt.Tooltip("y:Q", title=y_title, format=y_format),
        alt.Tooltip("status:N"),
    ]
    x = alt.X("x:Q", title=x_title, axis=alt.Axis(format=x_format), scale=alt.Scale(zero=False))
    y = alt.Y("y:Q", title=y_title, axis=alt.Axis(format=y_format), scale=alt.Scale(zero=False))
    points = (
        alt.Chart().mark_circle(size=40).encode(x=x, y=y, color=_status_color(), tooltip=tooltip)
    )
    line = (
        alt.Chart()
        .transform_filter("datum.front")
        .mark_line(color=NEUTRAL, strokeDash=[4, 3])
        .encode(x="x:Q", y="y:Q", order="x:Q")
    )
    panels = values(frame, "panel")
    chart = (
        alt.layer(line, points)
        .properties(width=WIDTH + 60, height=260)
        .facet(facet=alt.Facet("panel:N", title=None, sort=panels), columns=1, data=frame)
        .properties(title=chart_title(title, [*_lines(subtitle), "dashed line: the Pareto front"]))
    )
    return fitted(chart, panels=len(panels), columns=1, width=WIDTH + 60, axis=70, legend=110)


def share_chart(
    frame: Any,
    *,
    title: str,
    x_title: str,
    limit: float | None = None,
    limit_label: str = "limit",
    series_order: Sequence[str] | None = None,
    series_title: str = "policy",
    subtitle: Any = None,
) -> alt.FacetChart:
    """A share per series with its interval. Columns: `panel`, `series`, `share`, `lo`, `hi`,
    `n`. A dashed line marks `limit`."""
    order = list(series_order) if series_order is not None else values(frame, "series")
    y = alt.Y("series:N", title=None, sort=order, scale=alt.Scale(domain=order))
    x_scale = alt.Scale(domain=[0, 1], nice=False)
    tooltip = [
        alt.Tooltip("series:N", title=series_title),
        alt.Tooltip("share:Q", format=".1%"),
        alt.Tooltip("lo:Q", title="interval low", format=".1%"),
        alt.Tooltip("hi:Q", title="interval high", format=".1%"),
        alt.Tooltip("n:Q", title="runs"),
    ]
    color = series_color("series", series_title, order)
    base = alt.Chart().encode(y=y, color=color, tooltip=tooltip)
    rule = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("lo:Q", title=x_title, axis=alt.Axis(format=SHARE), scale=x_scale), x2="hi:Q"
    )
    point = base.mark_point(filled=True, size=60).encode(x="share:Q")
    layers = [rule, point]
    lines = _lines(subtitle)
    if limit is not None:
        marker = alt.Chart().encode(x=alt.datum(limit))
        layers.append(marker.mark_rule(strokeDash=[5, 4], color=NEUTRAL))
        layers.append(
            marker.mark_text(align="left", baseline="bottom", dx=3, dy=-2, color=NEUTRAL).encode(
                y=alt.value(0), text=alt.value(limit_label)
            )
        )
    panels = values(frame, "panel")
    chart = (
        alt.layer(*layers)
        .properties(width=WIDTH + 120)
        .facet(facet=alt.Facet("panel:N", title=None, sort=panels), columns=1, data=frame)
        .properties(title=chart_title(title, lines))
    )
    return fitted(
        chart, panels=len(panels), columns=1, width=WIDTH + 120, axis=text_width(order) + 12
    )


def shapley_chart(
    frame: Any,
    *,
    title: str,
    x_title: str,
    x_format: str = NUMBER,
    subtitle: Any = None,
) -> alt.FacetChart:
    """Each lever's share of a difference, with its 95% interval, and the total.

    Columns: `panel`, `lever` (the bar's label; the total's row is `kind` "total"), `kind`
    (lever or total), `value`, `lo`, `hi`. Bars in the frame's order.
    """
    order = values(frame, "lever")
    y = alt.Y("lever:N", title=None, sort=order)
    tooltip = [
        alt.Tooltip("lever:N"),
        alt.Tooltip("value:Q", title=x_title, format=x_format),
        alt.Tooltip("lo:Q", title="95% CI low", format=x_format),
        alt.Tooltip("hi:Q", title="95% CI high", format=x_format),
    ]
    color = alt.Color(
        "kind:N",
        title=None,
        scale=alt.Scale(domain=["lever", "total"], range=[PALETTE[0], NEUTRAL]),
        legend=None,
    )
    base = alt.Chart().encode(y=y, tooltip=tooltip)
    bar = base.mark_bar(size=16).encode(
        x=alt.X(
            "value:Q",
            title=x_title,
            axis=alt.Axis(format=x_format, tickCount=6, labelOverlap="greedy"),
        ),
        color=color,
    )
    whisker = base.mark_rule(color="black").encode(x="lo:Q", x2="hi:Q")
    zero = alt.Chart().mark_rule(color=GREYS[1]).encode(x=alt.datum(0))
    panels = values(frame, "panel")
    chart = (
        alt.layer(zero, bar, whisker)
        .properties(width=WIDTH + 100)
        .facet(facet=alt.Facet("panel:N", title=None, sort=panels), columns=1, data=frame)
        .properties(
            title=chart_title(
                title, [*_lines(subtitle), "black line: 95% interval over replications"]
            )
        )
    )
    return fitted(
        chart, panels=len(panels), columns=1, width=WIDTH + 100, axis=text_width(order) + 12
    )


def _lines(subtitle: Any) -> list[str]:
    return [subtitle] if isinstance(subtitle, str) else list(subtitle or [])
