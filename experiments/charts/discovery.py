"""Scenario discovery: PRIM's peeling trajectory, coverage against density.

peeling_chart  each step of a box's peeling trajectory, coloured by how many uncertainties
               it restricts, with the chosen step ringed
"""

from __future__ import annotations

from typing import Any

import altair as alt

from experiments.charts.common import NEUTRAL, SHARE, WIDTH, fitted, values
from experiments.charts.common import title as chart_title


def peeling_chart(frame: Any, *, title: str, subtitle: Any = None) -> alt.FacetChart:
    """Coverage against density of every step. Columns: `panel` (a group and box), `step`,
    `coverage`, `density`, `mass`, `restricted_count`, `chosen` (bool)."""
    tooltip = [
        alt.Tooltip("step:Q"),
        alt.Tooltip("coverage:Q", format=".1%"),
        alt.Tooltip("density:Q", format=".1%"),
        alt.Tooltip("mass:Q", format=".1%"),
        alt.Tooltip("restricted_count:Q", title="uncertainties restricted"),
    ]
    x = alt.X(
        "coverage:Q", title="coverage", axis=alt.Axis(format=SHARE), scale=alt.Scale(domain=[0, 1])
    )
    y = alt.Y(
        "density:Q", title="density", axis=alt.Axis(format=SHARE), scale=alt.Scale(domain=[0, 1])
    )
    line = (
        alt.Chart()
        .mark_line(color=NEUTRAL, strokeWidth=0.8, opacity=0.5)
        .encode(x=x, y=y, order="step:Q")
    )
    points = (
        alt.Chart()
        .mark_circle(size=40, opacity=0.9)
        .encode(
            x="coverage:Q",
            y="density:Q",
            color=alt.Color(
                "restricted_count:O",
                title="uncertainties restricted",
                scale=alt.Scale(scheme="viridis"),
            ),
            tooltip=tooltip,
        )
    )
    ring = (
        alt.Chart()
        .transform_filter("datum.chosen")
        .mark_point(size=220, shape="circle", color="black", strokeWidth=2, filled=False)
        .encode(x="coverage:Q", y="density:Q", tooltip=tooltip)
    )
    panels = values(frame, "panel")
    columns = min(2, len(panels))
    chart = (
        alt.layer(line, points, ring)
        .properties(width=WIDTH, height=WIDTH)
        .facet(facet=alt.Facet("panel:N", title=None, sort=panels), columns=columns, data=frame)
        .properties(
            title=chart_title(
                title,
                [
                    *([subtitle] if isinstance(subtitle, str) else list(subtitle or [])),
                    "each dot a step of the peeling (then of restrictions dropped); "
                    "ringed: the chosen box",
                ],
            )
        )
    )
    return fitted(chart, panels=len(panels), columns=columns, width=WIDTH, axis=60, legend=150)
