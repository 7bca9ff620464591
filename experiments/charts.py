"""Pure chart functions: a tidy, already aggregated frame in, an Altair chart out.

Every function takes a small long-form frame (polars or pandas; one row per plotted mark,
the columns named in its docstring) and returns a chart with a title, tooltips and, where
a colour stands for a group, a legend that selects it on click (shift-click adds). The
aggregation (means, confidence bands, quantiles, sensitivity indices) happens before, in
`experiments/report/`; nothing here reads files or computes statistics. Field names
never contain dots (Vega-Lite would read them as nested paths): dotted parameter names
travel as values of a `parameter` column or as axis titles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt

WIDTH = 300
HEIGHT = 200
MONEY = "$,.3~s"
SHARE = ".0%"
NUMBER = ",.4~r"  # 4 significant digits, never an exponent
FADED = 0.15
# Axis labels for panels whose outcomes mix dollars and shares: 80M, 250k, 0.35.
COMPACT_LABELS = "abs(datum.value) >= 1000 ? format(datum.value, '~s') : format(datum.value, '~r')"
COMPACT = alt.Axis(labelExpr=COMPACT_LABELS)

__all__ = [
    "band_over_time",
    "cumulative_revenue_chart",
    "days_to_close_chart",
    "distribution_chart",
    "heatmap_chart",
    "morris_chart",
    "paired_difference_chart",
    "pipeline_chart",
    "revenue_per_rep_chart",
    "sobol_chart",
    "survival_chart",
    "sweep_chart",
    "trust_chart",
    "vega_lite_version",
]


def vega_lite_version() -> str | None:
    """The Vega-Lite version (major.minor) Altair writes its specs in, if vl-convert has it."""
    import vl_convert as vlc

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return wanted if wanted in vlc.get_vegalite_versions() else None


def _legend_selection(field: str) -> alt.Parameter:
    """A point selection on one field, bound to the legend: click an entry to focus it."""
    return alt.selection_point(name="legend", fields=[field], bind="legend")


def _focus(selection: alt.Parameter, *, on: float = 1.0, off: float = FADED) -> Any:
    return alt.when(selection).then(alt.value(on)).otherwise(alt.value(off))


def _color(field: str, title: str, order: Sequence[str] | None, scheme: str = "tableau10"):
    return alt.Color(
        f"{field}:N",
        title=title,
        sort=list(order) if order is not None else "ascending",
        scale=alt.Scale(scheme=scheme),
        legend=alt.Legend(symbolOpacity=1, labelLimit=260),
    )


def _sort(order: Sequence[str] | None) -> list[str] | str:
    return list(order) if order is not None else "ascending"


def _title(title: str, subtitle: str | None) -> alt.TitleParams:
    return alt.TitleParams(text=title, subtitle=subtitle or "", anchor="start")


def band_over_time(
    frame: Any,
    *,
    title: str,
    y_title: str,
    y_format: str = NUMBER,
    subtitle: str | None = None,
    series_order: Sequence[str] | None = None,
    row: str | None = None,
    row_title: str = "",
    y_domain: Sequence[float] | None = None,
) -> alt.FacetChart:
    """Mean line with a 95% band per series, by month; one panel per market.

    Columns: `market`, `series`, `month`, `value`, `lo`, `hi`, `n` (and `row`, if given:
    one row of panels per value, e.g. `measure`).
    """
    selection = _legend_selection("series")
    y_scale = alt.Scale(domain=list(y_domain)) if y_domain is not None else alt.Undefined
    base = alt.Chart().encode(
        x=alt.X("month:Q", title="month", axis=alt.Axis(tickMinStep=1, format="d")),
        color=_color("series", "series", series_order),
    )
    band = base.mark_area(opacity=0.2).encode(
        y=alt.Y("lo:Q", title=y_title, axis=alt.Axis(format=y_format), scale=y_scale),
        y2="hi:Q",
        opacity=_focus(selection, on=0.22, off=0.03),
    )
    tooltip = [
        alt.Tooltip("market:N"),
        alt.Tooltip("series:N"),
        alt.Tooltip("month:Q"),
        alt.Tooltip("value:Q", title="mean", format=y_format),
        alt.Tooltip("lo:Q", title="95% CI low", format=y_format),
        alt.Tooltip("hi:Q", title="95% CI high", format=y_format),
        alt.Tooltip("n:Q", title="runs"),
    ]
    if row:
        tooltip.insert(2, alt.Tooltip(f"{row}:N", title=row_title or row))
    line = (
        base.mark_line(strokeWidth=2, point=alt.OverlayMarkDef(size=14, opacity=0))
        .encode(
            y=alt.Y("value:Q", title=y_title, scale=y_scale),
            opacity=_focus(selection),
            tooltip=tooltip,
        )
        .add_params(selection)
    )
    layered = alt.layer(band, line, data=frame).properties(width=WIDTH, height=HEIGHT)
    facet: dict[str, Any] = {"column": alt.Column("market:N", title="market")}
    if row:
        facet["row"] = alt.Row(f"{row}:N", title=row_title or row)
    return layered.facet(**facet).properties(title=_title(title, subtitle))


def cumulative_revenue_chart(
    frame: Any, *, years: float, series_order: Sequence[str] | None = None, subtitle=None
) -> alt.FacetChart:
    """Cumulative revenue by month, mean and 95% band across replications (see band_over_time)."""
    return band_over_time(
        frame,
        title=f"Cumulative revenue over {years:g} years",
        y_title="cumulative revenue (USD)",
        y_format=MONEY,
        subtitle=subtitle,
        series_order=series_order,
    )


def survival_chart(
    frame: Any, *, series_order: Sequence[str] | None = None, subtitle=None
) -> alt.FacetChart:
    """Share of runs whose partnership is still active, by month (see band_over_time)."""
    return band_over_time(
        frame,
        title="Partnership survival",
        y_title="share of runs still partnered",
        y_format=SHARE,
        subtitle=subtitle,
        series_order=series_order,
        y_domain=(0, 1),
    )


def trust_chart(
    frame: Any, *, series_order: Sequence[str] | None = None, subtitle=None
) -> alt.FacetChart:
    """Mean stakeholder trust and the reseller's trust, by month; `measure` names the row."""
    return band_over_time(
        frame,
        title="Trust over time",
        y_title="trust (0-1)",
        y_format=".2f",
        subtitle=subtitle,
        series_order=series_order,
        row="measure",
        row_title="trust of",
        y_domain=(0, 1),
    )


def distribution_chart(
    frame: Any,
    *,
    title: str,
    x_title: str,
    x_format: str = NUMBER,
    target: float | None = None,
    target_label: str = "target",
    subtitle: str | None = None,
    series_order: Sequence[str] | None = None,
) -> alt.FacetChart:
    """Box-and-whisker per series from precomputed quantiles; one row of panels per market.

    Columns: `market`, `series`, `p05`, `q1`, `median`, `q3`, `p95`, `mean`, `n`. The box
    spans the quartiles, the whisker the 5th to 95th percentiles, the tick is the median
    and the dot the mean. `target`, if given, draws a dashed reference line.
    """
    selection = _legend_selection("series")
    fmt = x_format
    y = alt.Y("series:N", title=None, sort=list(series_order) if series_order else "ascending")
    tooltip = [
        alt.Tooltip("market:N"),
        alt.Tooltip("series:N"),
        alt.Tooltip("median:Q", format=fmt),
        alt.Tooltip("mean:Q", format=fmt),
        alt.Tooltip("q1:Q", title="25th pct", format=fmt),
        alt.Tooltip("q3:Q", title="75th pct", format=fmt),
        alt.Tooltip("p05:Q", title="5th pct", format=fmt),
        alt.Tooltip("p95:Q", title="95th pct", format=fmt),
        alt.Tooltip("n:Q", title="observations"),
    ]
    color = _color("series", "series", series_order)
    base = alt.Chart().encode(y=y, color=color, tooltip=tooltip, opacity=_focus(selection))
    whisker = base.mark_rule().encode(
        x=alt.X("p05:Q", title=x_title, axis=alt.Axis(format=fmt)), x2="p95:Q"
    )
    box = base.mark_bar(size=14).encode(x="q1:Q", x2="q3:Q").add_params(selection)
    # A mark's own colour loses to an encoded one: black and white are set as values.
    median = base.mark_tick(thickness=2, size=18).encode(x="median:Q", color=alt.value("black"))
    mean = base.mark_point(
        shape="circle", filled=True, size=22, stroke="black", strokeWidth=1
    ).encode(x="mean:Q", color=alt.value("white"))
    layers = [whisker, box, median, mean]
    if target is not None:
        layers.append(
            alt.Chart()
            .mark_rule(strokeDash=[5, 4], color="firebrick")
            .encode(x=alt.datum(target), tooltip=alt.value(f"{target_label}: {target:,.0f}"))
        )
    layered = alt.layer(*layers, data=frame).properties(width=WIDTH + 120)
    return layered.facet(row=alt.Row("market:N", title="market")).properties(
        title=_title(title, subtitle)
    )


def revenue_per_rep_chart(
    frame: Any,
    *,
    target_usd: float | None,
    series_order: Sequence[str] | None = None,
    subtitle=None,
) -> alt.FacetChart:
    """First-year revenue per rep against the target (see distribution_chart)."""
    return distribution_chart(
        frame,
        title="First-year revenue per rep against the target",
        x_title="first-year revenue per rep (USD)",
        x_format=MONEY,
        target=target_usd,
        target_label="target per rep (USD)",
        subtitle=subtitle,
        series_order=series_order,
    )


def days_to_close_chart(
    frame: Any, *, series_order: Sequence[str] | None = None, subtitle=None
) -> alt.FacetChart:
    """Days from first contact to a won decision, per market and series (distribution_chart)."""
    return distribution_chart(
        frame,
        title="Days to close a won deal",
        x_title="days from first contact to decision",
        x_format=",.0f",
        subtitle=subtitle,
        series_order=series_order,
    )


def pipeline_chart(
    frame: Any,
    *,
    stage_order: Sequence[str],
    series_order: Sequence[str] | None = None,
    subtitle: str | None = None,
    columns: int = 3,
) -> alt.FacetChart:
    """Mean number of clients in each stage by month, stacked; one panel per series.

    Columns: `panel` (market and series), `stage`, `month`, `count`.
    """
    selection = _legend_selection("stage")
    chart = (
        alt.Chart(frame)
        .mark_area()
        .encode(
            x=alt.X("month:Q", title="month"),
            y=alt.Y("count:Q", title="clients (mean over runs)", stack="zero"),
            color=_color("stage", "stage", stage_order, scheme="category10"),
            order=alt.Order("stage_rank:Q"),
            opacity=_focus(selection, on=0.9),
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
    return (
        chart.facet(
            facet=alt.Facet(
                "panel:N", title=None, sort=list(series_order) if series_order else "ascending"
            ),
            columns=columns,
        )
        .resolve_scale(y="independent")
        .properties(title=_title("Pipeline stages over time", subtitle))
    )


def sweep_chart(
    frame: Any,
    *,
    title: str,
    subtitle: str | None = None,
    series_order: Sequence[str] | None = None,
    outcome_order: Sequence[str] | None = None,
    x_title: str = "parameter value",
) -> alt.FacetChart:
    """Each outcome against each swept parameter: mean with a 95% band per series.

    Columns: `parameter`, `outcome`, `series`, `x`, `value`, `lo`, `hi`, `n`. One row of
    panels per outcome, one column per parameter; scales are independent.
    """
    selection = _legend_selection("series")
    base = alt.Chart().encode(
        x=alt.X("x:Q", title=x_title, scale=alt.Scale(zero=False)),
        color=_color("series", "series", series_order),
    )
    band = base.mark_area(opacity=0.2).encode(
        y=alt.Y("lo:Q", title=None, scale=alt.Scale(zero=False), axis=COMPACT),
        y2="hi:Q",
        opacity=_focus(selection, on=0.22, off=0.03),
    )
    line = (
        base.mark_line(point=True)
        .encode(
            y=alt.Y("value:Q", title=None, axis=COMPACT),
            opacity=_focus(selection),
            tooltip=[
                alt.Tooltip("parameter:N"),
                alt.Tooltip("x:Q", title="value", format=NUMBER),
                alt.Tooltip("series:N"),
                alt.Tooltip("outcome:N"),
                alt.Tooltip("value:Q", title="mean", format=NUMBER),
                alt.Tooltip("lo:Q", title="95% CI low", format=NUMBER),
                alt.Tooltip("hi:Q", title="95% CI high", format=NUMBER),
                alt.Tooltip("n:Q", title="runs"),
            ],
        )
        .add_params(selection)
    )
    layered = alt.layer(band, line, data=frame).properties(width=WIDTH - 60, height=HEIGHT - 60)
    return (
        layered.facet(
            row=alt.Row(
                "outcome:N",
                title=None,
                sort=list(outcome_order) if outcome_order else "ascending",
                header=alt.Header(labelAngle=0, labelAlign="left", labelLimit=160),
            ),
            column=alt.Column("parameter:N", title=None),
        )
        .resolve_scale(x="independent", y="independent")
        .properties(title=_title(title, subtitle))
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
    subtitle: str | None = None,
    reverse: bool = False,
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
    layered = alt.layer(cells, text, data=frame).properties(width=WIDTH - 40, height=HEIGHT)
    return layered.facet(column=alt.Column("panel:N", title=None)).properties(
        title=_title(title, subtitle)
    )


def sobol_chart(
    frame: Any,
    *,
    subtitle: str | None = None,
    parameter_order: Sequence[str] | None = None,
    outcome_order: Sequence[str] | None = None,
) -> alt.FacetChart:
    """First-order (S1) and total (ST) Sobol indices with 95% confidence intervals.

    Columns: `outcome`, `parameter`, `index` ("S1" or "ST"), `value`, `lo`, `hi`.
    """
    selection = _legend_selection("index")
    sort = list(parameter_order) if parameter_order else "-x"
    base = alt.Chart().encode(
        y=alt.Y("parameter:N", title=None, sort=sort),
        yOffset=alt.YOffset("index:N", sort=["S1", "ST"]),
        color=alt.Color(
            "index:N", title="index", sort=["S1", "ST"], legend=alt.Legend(symbolOpacity=1)
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
            opacity=_focus(selection, on=0.85),
            tooltip=tooltip,
        )
        .add_params(selection)
    )
    whiskers = base.mark_rule().encode(
        x="lo:Q", x2="hi:Q", color=alt.value("black"), opacity=_focus(selection)
    )
    layered = alt.layer(bars, whiskers, data=frame).properties(width=WIDTH - 40)
    column = alt.Column("outcome:N", title=None, sort=_sort(outcome_order))
    return layered.facet(column=column).properties(
        title=_title("Sobol sensitivity indices", subtitle)
    )


def morris_chart(
    frame: Any, *, subtitle: str | None = None, outcome_order: Sequence[str] | None = None
) -> alt.FacetChart:
    """Morris screening: mu* (mean absolute elementary effect) against sigma, per outcome.

    Columns: `outcome`, `parameter`, `mu_star`, `mu_star_conf`, `sigma`. Parameters far
    right matter; high sigma means interactions or non-linearity.
    """
    selection = _legend_selection("parameter")
    base = alt.Chart().encode(
        x=alt.X("mu_star:Q", title="mu* (mean |elementary effect|)", axis=COMPACT),
        y=alt.Y("sigma:Q", title="sigma", axis=COMPACT),
    )
    points = (
        base.mark_point(filled=True, size=70)
        .encode(
            color=_color("parameter", "parameter", None, scheme="tableau20"),
            opacity=_focus(selection),
            tooltip=[
                alt.Tooltip("outcome:N"),
                alt.Tooltip("parameter:N"),
                alt.Tooltip("mu_star:Q", title="mu*", format=NUMBER),
                alt.Tooltip("mu_star_conf:Q", title="mu* 95% CI half-width", format=NUMBER),
                alt.Tooltip("sigma:Q", format=NUMBER),
            ],
        )
        .add_params(selection)
    )
    labels = base.mark_text(align="left", dx=6, fontSize=9).encode(text="parameter:N")
    layered = alt.layer(points, labels, data=frame).properties(width=WIDTH, height=HEIGHT)
    return (
        layered.facet(column=alt.Column("outcome:N", title=None, sort=_sort(outcome_order)))
        .resolve_scale(x="independent", y="independent")
        .properties(title=_title("Morris screening: mu* against sigma", subtitle))
    )


def paired_difference_chart(
    frame: Any,
    *,
    subtitle: str | None = None,
    pair_order: Sequence[str] | None = None,
    outcome_order: Sequence[str] | None = None,
    market_order: Sequence[str] | None = None,
) -> alt.FacetChart:
    """Mean paired difference between two policies with its 95% CI, per outcome.

    Columns: `market`, `pair` ("B − A"), `outcome`, `mean`, `lo`, `hi`, `n`. Replications
    of two policies share their random numbers, so the difference is taken run by run.
    """
    selection = _legend_selection("market")
    base = alt.Chart().encode(
        y=alt.Y("pair:N", title=None, sort=list(pair_order) if pair_order else "ascending"),
        yOffset=alt.YOffset("market:N", sort=list(market_order) if market_order else "ascending"),
        color=_color("market", "market", market_order),
        opacity=_focus(selection),
    )
    tooltip = [
        alt.Tooltip("market:N"),
        alt.Tooltip("pair:N", title="difference"),
        alt.Tooltip("outcome:N"),
        alt.Tooltip("mean:Q", title="mean difference", format=NUMBER),
        alt.Tooltip("lo:Q", title="95% CI low", format=NUMBER),
        alt.Tooltip("hi:Q", title="95% CI high", format=NUMBER),
        alt.Tooltip("n:Q", title="paired replications"),
    ]
    interval = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("lo:Q", title="difference (B − A)", axis=COMPACT), x2="hi:Q"
    )
    point = (
        base.mark_point(filled=True, size=60)
        .encode(x="mean:Q", tooltip=tooltip)
        .add_params(selection)
    )
    zero = alt.Chart().mark_rule(color="gray", strokeDash=[3, 3]).encode(x=alt.datum(0))
    layered = alt.layer(zero, interval, point, data=frame).properties(width=WIDTH - 80)
    return (
        layered.facet(
            column=alt.Column(
                "outcome:N",
                title=None,
                sort=list(outcome_order) if outcome_order else "ascending",
            )
        )
        .resolve_scale(x="independent")
        .properties(title=_title("Paired policy differences (common random numbers)", subtitle))
    )
