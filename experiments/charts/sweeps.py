"""Charts of designs that vary parameters: outcome curves, 2-D heatmaps, Sobol and Morris."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt

from experiments.charts.common import (
    BAND_OPACITY,
    COMPACT_LABELS,
    GREYS,
    HEIGHT,
    NEUTRAL,
    NUMBER,
    WIDTH,
    domain,
    fitted,
    focus,
    legend_selection,
    legend_width,
    present,
    series_color,
    text_width,
    values,
)
from experiments.charts.common import title as chart_title


def _axis(fmt: str | None) -> alt.Axis:
    """An axis in the outcome's unit; unknown units get compact numbers (80M, 0.35)."""
    return alt.Axis(format=fmt) if fmt else alt.Axis(labelExpr=COMPACT_LABELS)


def sweep_chart(
    frame: Any,
    *,
    title: str,
    subtitle: str | Sequence[str] | None = None,
    series_order: Sequence[str] | None = None,
    series_title: str = "series",
    outcome_order: Sequence[str] | None = None,
    formats: Mapping[str, str] | None = None,
) -> alt.ConcatChart:
    """Each outcome against each swept parameter: mean with a light 95% band per series.

    Columns: `parameter`, `outcome`, `series`, `x`, `value`, `lo`, `hi`, `n`. One panel per
    outcome and parameter, laid out as a row of parameters per outcome; each panel's x axis
    is titled with its parameter and its y axis with its outcome, in the outcome's unit
    (`formats`: outcome -> d3 format).
    """
    order = domain(frame, "series", series_order)
    outcomes = present(frame, "outcome", outcome_order)
    parameters = values(frame, "parameter")
    formats = dict(formats or {})
    selection = legend_selection("series")
    width, height = WIDTH - 60, HEIGHT - 60
    panels = []
    for outcome in outcomes:
        fmt = formats.get(outcome)
        for parameter in parameters:
            base = (
                alt.Chart()
                .transform_filter(alt.FieldEqualPredicate(field="outcome", equal=outcome))
                .transform_filter(alt.FieldEqualPredicate(field="parameter", equal=parameter))
                .encode(
                    x=alt.X("x:Q", title=parameter, scale=alt.Scale(zero=False, nice=False)),
                    color=series_color("series", series_title, order, symbol="stroke"),
                )
            )
            band = base.mark_area().encode(
                y=alt.Y("lo:Q", title=outcome, scale=alt.Scale(zero=False), axis=_axis(fmt)),
                y2="hi:Q",
                opacity=focus(selection, on=BAND_OPACITY, off=0.02),
            )
            line = base.mark_line(point=True).encode(
                y=alt.Y("value:Q", title=outcome),
                opacity=focus(selection),
                tooltip=[
                    alt.Tooltip("parameter:N"),
                    alt.Tooltip("x:Q", title="value", format=NUMBER),
                    alt.Tooltip("series:N", title=series_title),
                    alt.Tooltip("outcome:N"),
                    alt.Tooltip("value:Q", title="mean", format=fmt or NUMBER),
                    alt.Tooltip("lo:Q", title="95% CI low", format=fmt or NUMBER),
                    alt.Tooltip("hi:Q", title="95% CI high", format=fmt or NUMBER),
                    alt.Tooltip("n:Q", title="runs"),
                ],
            )
            panels.append(alt.layer(band, line).properties(width=width, height=height))
    chart = (
        # The legend's selection lives in the first panel; the others refer to it.
        alt.concat(
            panels[0].add_params(selection), *panels[1:], data=frame, columns=len(parameters)
        )
        .resolve_scale(x="independent", y="independent")
        .properties(title=chart_title(title, subtitle))
    )
    return fitted(
        chart,
        panels=len(panels),
        columns=len(parameters),
        width=width,
        axis=text_width(["$888.8M"]) + 30,
        legend=legend_width(order, series_title),
    )


def heatmap_chart(
    frame: Any,
    *,
    title: str,
    x_title: str,
    y_title: str,
    value_title: str,
    value_format: str = NUMBER,
    scheme: str = "viridis",
    domain: Sequence[float] | None = None,
    subtitle: str | Sequence[str] | None = None,
    reverse: bool = False,
    columns: int = 3,
) -> alt.FacetChart:
    """A 2-D grid: one cell per (x, y) coloured by the mean outcome; one panel per series.

    Columns: `panel`, `x`, `y`, `value`, `lo`, `hi`, `n`. x and y are the grid values
    (ordinal: each value its own cell), the cell text is the mean.
    """
    scale = alt.Scale(scheme=scheme, reverse=reverse)
    if domain is not None:
        scale = alt.Scale(scheme=scheme, domain=list(domain), reverse=reverse)
    base = alt.Chart().encode(
        x=alt.X("x:O", title=x_title, sort="ascending"),
        y=alt.Y("y:O", title=y_title, sort="descending"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "value:Q", title=value_title, scale=scale, legend=alt.Legend(format=value_format)
        ),
        tooltip=[
            alt.Tooltip("panel:N", title="series"),
            alt.Tooltip("x:Q", title=x_title, format=NUMBER),
            alt.Tooltip("y:Q", title=y_title, format=NUMBER),
            alt.Tooltip("value:Q", title=f"mean {value_title}", format=value_format),
            alt.Tooltip("lo:Q", title="95% CI low", format=value_format),
            alt.Tooltip("hi:Q", title="95% CI high", format=value_format),
            alt.Tooltip("n:Q", title="runs"),
        ],
    )
    # Light text on the dark half of the colour scale, dark text on the light half.
    dark_high = reverse != (scheme in ("reds", "blues", "greens", "oranges", "purples", "greys"))
    if domain is not None:
        above_middle = f"datum.value > {(domain[0] + domain[1]) / 2}"
    else:
        above_middle = "datum.value > (datum.vmin + datum.vmax) / 2"
    text = (
        base.transform_joinaggregate(vmin="min(value)", vmax="max(value)", groupby=["panel"])
        .mark_text(fontSize=10)
        .encode(
            text=alt.Text("value:Q", format=value_format),
            color=alt.when(above_middle)
            .then(alt.value("white" if dark_high else "black"))
            .otherwise(alt.value("black" if dark_high else "white")),
        )
    )
    width = WIDTH - 40
    panels = values(frame, "panel")
    layered = alt.layer(cells, text).properties(width=width, height=HEIGHT)
    chart = layered.facet(
        facet=alt.Facet("panel:N", title=None, sort=panels),
        columns=min(columns, len(panels)),
        data=frame,
    ).properties(title=chart_title(title, subtitle))
    return fitted(
        chart,
        panels=len(panels),
        columns=min(columns, len(panels)),
        width=width,
        axis=text_width(values(frame, "y")) + 30,
        legend=legend_width(["$888.8M"], value_title),
    )


def sobol_chart(
    frame: Any,
    *,
    subtitle: str | Sequence[str] | None = None,
    parameter_order: Sequence[str] | None = None,
    outcome_order: Sequence[str] | None = None,
    columns: int = 2,
) -> alt.FacetChart:
    """First-order (S1) and total (ST) Sobol indices with 95% confidence intervals.

    Columns: `outcome`, `parameter`, `index` ("S1" or "ST"), `value`, `lo`, `hi`. The two
    kinds of index are dark and light grey: not the colours of any series.
    """
    selection = legend_selection("index")
    sort = list(parameter_order) if parameter_order else "-x"
    base = alt.Chart().encode(
        y=alt.Y("parameter:N", title=None, sort=sort),
        yOffset=alt.YOffset("index:N", sort=["S1", "ST"]),
        color=alt.Color(
            "index:N",
            title="index",
            sort=["S1", "ST"],
            scale=alt.Scale(domain=["S1", "ST"], range=list(GREYS)),
            legend=alt.Legend(
                symbolOpacity=1, labelExpr="datum.label == 'S1' ? 'S1 (first order)' : 'ST (total)'"
            ),
        ),
    )
    tooltip = [
        alt.Tooltip("outcome:N"),
        alt.Tooltip("parameter:N"),
        alt.Tooltip("index:N"),
        alt.Tooltip("value:Q", format=".3f"),
        alt.Tooltip("lo:Q", title="95% CI low", format=".3f"),
        alt.Tooltip("hi:Q", title="95% CI high", format=".3f"),
    ]
    bars = (
        base.mark_bar()
        .encode(
            x=alt.X("value:Q", title="Sobol index (share of output variance)"),
            opacity=focus(selection, on=0.9),
            tooltip=tooltip,
        )
        .add_params(selection)
    )
    whiskers = base.mark_rule().encode(
        x="lo:Q", x2="hi:Q", color=alt.value("black"), opacity=focus(selection)
    )
    width = WIDTH - 40
    outcomes = present(frame, "outcome", outcome_order)
    layered = alt.layer(bars, whiskers).properties(width=width)
    chart = layered.facet(
        facet=alt.Facet("outcome:N", title=None, sort=outcomes),
        columns=min(columns, len(outcomes)),
        data=frame,
    ).properties(title=chart_title("Sobol sensitivity indices", subtitle))
    return fitted(
        chart,
        panels=len(outcomes),
        columns=min(columns, len(outcomes)),
        width=width,
        axis=text_width(values(frame, "parameter")) + 12,
        legend=legend_width(["ST (total)"], "index"),
    )


def morris_chart(
    frame: Any,
    *,
    subtitle: str | Sequence[str] | None = None,
    outcome_order: Sequence[str] | None = None,
    formats: Mapping[str, str] | None = None,
    columns: int = 2,
) -> alt.ConcatChart:
    """Morris screening: mu* (mean absolute elementary effect) against sigma, per outcome.

    Columns: `outcome`, `parameter`, `mu_star`, `mu_star_conf`, `sigma`. Parameters far
    right matter; high sigma means interactions or non-linearity. Each point is labelled
    with its parameter; both axes are in the outcome's unit (`formats`).
    """
    formats = dict(formats or {})
    outcomes = present(frame, "outcome", outcome_order)
    panels = []
    for outcome in outcomes:
        fmt = formats.get(outcome)
        base = (
            alt.Chart()
            .transform_filter(alt.FieldEqualPredicate(field="outcome", equal=outcome))
            .encode(
                x=alt.X("mu_star:Q", title="mu* (mean |elementary effect|)", axis=_axis(fmt)),
                y=alt.Y("sigma:Q", title="sigma", axis=_axis(fmt)),
            )
        )
        points = base.mark_point(filled=True, size=70, color=NEUTRAL).encode(
            tooltip=[
                alt.Tooltip("outcome:N"),
                alt.Tooltip("parameter:N"),
                alt.Tooltip("mu_star:Q", title="mu*", format=fmt or NUMBER),
                alt.Tooltip("mu_star_conf:Q", title="mu* 95% CI half-width", format=fmt or NUMBER),
                alt.Tooltip("sigma:Q", format=fmt or NUMBER),
            ],
        )
        labels = base.mark_text(align="left", dx=6, fontSize=9).encode(text="parameter:N")
        panels.append(
            alt.layer(points, labels).properties(
                width=WIDTH, height=HEIGHT, title=alt.TitleParams(outcome, anchor="middle")
            )
        )
    chart = (
        alt.concat(*panels, data=frame, columns=min(columns, len(panels)))
        .resolve_scale(x="independent", y="independent")
        .properties(title=chart_title("Morris screening: mu* against sigma", subtitle))
    )
    return fitted(
        chart,
        panels=len(panels),
        columns=min(columns, len(panels)),
        width=WIDTH,
        axis=text_width(["$888.8M"]) + 30,
    )
