"""What every chart shares: sizes, number formats, the page's colours and how a chart may be
resized.

One colour per series across the page: a chart's colour scale lists the report's series
order as its domain and takes the palette's first colours in that order, so a policy keeps
its colour in every chart, also in one where it has no data. Marks that are not a series
(a target line, differences between two policies, Sobol index kinds) are grey or black.

Every chart is a wrapped facet or a wrapped concatenation with a fixed panel width, so the
PNG and SVG files have a fixed size. `fitted` records in the spec's `usermeta.fit` how the
report page may change the number of columns and the panel width to fit its container.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import altair as alt

WIDTH = 300
HEIGHT = 200
MIN_WIDTH = 150  # a panel narrower than this is unreadable: the page wraps panels instead
MONEY = "$,.3~s"
SHARE = ".0%"
NUMBER = ",.4~r"  # 4 significant digits, never an exponent
FADED = 0.15
BAND_OPACITY = 0.12  # light, so that overlapping bands stay readable
LABEL_LIMIT = 260
# Axis labels for a share's difference: +12 pp (percentage points), not +12%.
POINTS_LABELS = "(datum.value > 0 ? '+' : '') + format(datum.value * 100, '.0f') + ' pp'"
# Axis labels for values whose unit is not known (Morris' sigma of a mixed outcome).
COMPACT_LABELS = "abs(datum.value) >= 1000 ? format(datum.value, '~s') : format(datum.value, '~r')"

# Tableau 10 and two more: policies and other series, in the report's series order.
PALETTE = (
    "#4c78a8",
    "#f58518",
    "#e45756",
    "#72b7b2",
    "#54a24b",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#bab0ac",
    "#1f3a5f",
    "#8c6d1f",
)
# Dash patterns: series whose lines coincide stay visible as alternating dashes.
DASHES = (
    [1, 0],
    [7, 3],
    [2, 2],
    [10, 3, 2, 3],
    [4, 4],
    [1, 3],
    [12, 4],
    [6, 2, 2, 2],
    [3, 6],
    [8, 2],
    [2, 6],
    [5, 3, 1, 3],
)
NEUTRAL = "#333333"
GREYS = ("#4d4d4d", "#a6a6a6")
STAGE_SCHEME = "viridis"  # client stages: ordered, and unlike any policy's colour


def values(frame: Any, field: str) -> list[Any]:
    """The distinct values of a column in order of appearance (polars or pandas)."""
    return list(dict.fromkeys(frame[field]))


def domain(frame: Any, field: str, order: Sequence[str] | None) -> list[str]:
    """The given order, or the column's values sorted."""
    return list(order) if order is not None else sorted(values(frame, field))


def present(frame: Any, field: str, order: Sequence[str] | None) -> list[str]:
    """The column's values in the given order (then any others, sorted): one panel each."""
    found = values(frame, field)
    ordered = [v for v in order or () if v in found]
    return ordered + sorted(v for v in found if v not in ordered)


def _cycle(items: Sequence[Any], n: int) -> list[Any]:
    return [items[i % len(items)] for i in range(n)]


def _series_legend(symbol: str) -> alt.Legend:
    if symbol == "stroke":  # a short stretch of the series' line, in its colour and dashes
        return alt.Legend(
            symbolOpacity=1, labelLimit=LABEL_LIMIT, symbolType="stroke", symbolStrokeWidth=2
        )
    return alt.Legend(symbolOpacity=1, labelLimit=LABEL_LIMIT, symbolType=symbol)


def series_color(
    field: str, title: str, order: Sequence[str], *, symbol: str = "circle"
) -> alt.Color:
    """The page's colour for each series: the palette in the series' order.

    `symbol` is the legend's: "stroke" for lines, "square" for boxes, "circle" for points.
    """
    order = list(order)
    return alt.Color(
        f"{field}:N",
        title=title,
        sort=order,
        scale=alt.Scale(domain=order, range=_cycle(PALETTE, len(order))),
        legend=_series_legend(symbol),
    )


def series_dash(field: str, title: str, order: Sequence[str]) -> alt.StrokeDash:
    """A dash pattern per series, merged into the colour legend (same field and title)."""
    order = list(order)
    return alt.StrokeDash(
        f"{field}:N",
        title=title,
        sort=order,
        scale=alt.Scale(domain=order, range=_cycle(DASHES, len(order))),
        legend=_series_legend("stroke"),
    )


def legend_selection(field: str) -> alt.Parameter:
    """A point selection on one field, bound to the legend: click an entry to focus it."""
    return alt.selection_point(name="legend", fields=[field], bind="legend")


def focus(selection: alt.Parameter, *, on: float = 1.0, off: float = FADED) -> Any:
    return alt.when(selection).then(alt.value(on)).otherwise(alt.value(off))


def title(text: str, subtitle: str | Sequence[str] | None) -> alt.TitleParams:
    """A chart title; the subtitle may be several lines."""
    lines = [subtitle] if isinstance(subtitle, str) else list(subtitle or [])
    return alt.TitleParams(text=text, subtitle=[s for s in lines if s] or "", anchor="start")


def text_width(labels: Iterable[Any], *, font_px: float = 10) -> int:
    """A generous estimate of the widest label's width in pixels."""
    longest = max((len(str(label)) for label in labels), default=0)
    return int(longest * font_px * 0.6) + 4


def legend_width(labels: Iterable[Any], legend_title: str) -> int:
    """Width a legend on the right takes: its longest label or title, symbol and padding."""
    labels = list(labels)
    return min(LABEL_LIMIT, max(text_width(labels), text_width([legend_title]))) + 40


def fitted(
    chart: Any,
    *,
    panels: int,
    columns: int,
    width: int,
    axis: int,
    legend: int = 0,
    max_width: int | None = None,
) -> Any:
    """Record how the page may resize the chart (see the module docstring).

    Args:
        panels: number of panels (facet cells or concatenated views).
        columns: the most columns the panels may be laid out in.
        width: the panel width of the exported files.
        axis: pixels each panel needs beside its plot (y axis labels and title).
        legend: pixels a legend on the right takes (0: no legend).
        max_width: the widest a panel may grow on a wide page.
    """
    fit = {
        "panels": panels,
        "columns": columns,
        "width": width,
        "min": MIN_WIDTH,
        "max": max_width or int(width * 1.6),
        "axis": axis,
        "legend": legend,
    }
    return chart.properties(usermeta={"fit": fit})
