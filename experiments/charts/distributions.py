"""Distributions and differences: boxes from precomputed quantiles (revenue per rep, days to
close, NPV, peak outlay), stacked shares of deal outcomes, paired policy differences."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt

from experiments.charts.common import (
    MONEY,
    NEUTRAL,
    NUMBER,
    POINTS_LABELS,
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

BOX_KEY = (
    "box: 25th-75th percentile; whisker: 5th-95th percentile; black tick: median; white dot: mean"
)


def distribution_chart(
    frame: Any,
    *,
    title: str,
    x_title: str,
    x_format: str = NUMBER,
    target: float | None = None,
    target_label: str = "target",
    target_key: str = "the target",
    subtitle: str | Sequence[str] | None = None,
    series_order: Sequence[str] | None = None,
    series_title: str = "series",
    n_title: str = "observations",
    empty_text: str = "no data",
    extra_tooltip: Sequence[tuple[str, str, str]] = (),
) -> alt.FacetChart:
    """Box-and-whisker per series from precomputed quantiles; one panel per market.

    Columns: `market`, `series`, `p05`, `q1`, `median`, `q3`, `p95`, `mean`, `n`. The box
    spans the quartiles, the whisker the 5th to 95th percentiles, the black tick is the
    median and the white dot the mean (the subtitle says so). A row with `n` = 0 says
    `empty_text`. `target`, if given, draws a grey dashed line labelled `target_label`
    (the subtitle's key calls it `target_key`).
    `extra_tooltip`: more (column, title, d3 format) to show on hover.
    """
    order = domain(frame, "series", series_order)
    selection = legend_selection("series")
    fmt = x_format
    y = alt.Y("series:N", title=None, sort=order, scale=alt.Scale(domain=order))
    tooltip = [
        alt.Tooltip("market:N"),
        alt.Tooltip("series:N", title=series_title),
        alt.Tooltip("median:Q", format=fmt),
        alt.Tooltip("mean:Q", format=fmt),
        alt.Tooltip("q1:Q", title="25th pct", format=fmt),
        alt.Tooltip("q3:Q", title="75th pct", format=fmt),
        alt.Tooltip("p05:Q", title="5th pct", format=fmt),
        alt.Tooltip("p95:Q", title="95th pct", format=fmt),
        alt.Tooltip("n:Q", title=n_title),
        *(alt.Tooltip(f"{field}:Q", title=name, format=f) for field, name, f in extra_tooltip),
    ]
    color = series_color("series", series_title, order, symbol="square")
    base = alt.Chart().encode(y=y, color=color, tooltip=tooltip, opacity=focus(selection))
    x_scale = alt.Scale(nice=False)
    whisker = base.mark_rule().encode(
        x=alt.X("p05:Q", title=x_title, axis=alt.Axis(format=fmt), scale=x_scale), x2="p95:Q"
    )
    box = base.mark_bar(size=14).encode(x="q1:Q", x2="q3:Q").add_params(selection)
    # A mark's own colour loses to an encoded one: black and white are set as values.
    median = base.mark_tick(thickness=2, size=18).encode(x="median:Q", color=alt.value("black"))
    mean = base.mark_point(
        shape="circle", filled=True, size=22, stroke="black", strokeWidth=1
    ).encode(x="mean:Q", color=alt.value("white"))
    empty = (
        alt.Chart()
        .transform_filter("datum.n == 0")
        .mark_text(align="left", dx=4, color=NEUTRAL, fontStyle="italic")
        .encode(y=y, x=alt.value(0), text=alt.value(empty_text))
    )
    layers = [whisker, box, median, mean, empty]
    key = BOX_KEY
    if target is not None:
        label = target_label
        rule = alt.Chart().encode(x=alt.datum(target))
        layers.append(
            rule.mark_rule(strokeDash=[5, 4], color=NEUTRAL).encode(tooltip=alt.value(label))
        )
        layers.append(
            rule.mark_text(align="left", baseline="bottom", dx=3, dy=-2, color=NEUTRAL).encode(
                y=alt.value(0), text=alt.value(label)
            )
        )
        key += f"; dashed line: {target_key}"
    lines = [subtitle] if isinstance(subtitle, str) else list(subtitle or [])
    width = WIDTH + 120
    layered = alt.layer(*layers).properties(width=width)
    markets = values(frame, "market")
    chart = layered.facet(
        facet=alt.Facet("market:N", title=None, sort=markets), columns=1, data=frame
    ).properties(title=chart_title(title, [*lines, key]))
    return fitted(
        chart,
        panels=len(markets),
        columns=1,
        width=width,
        axis=text_width(order) + 12,
        legend=legend_width(order, series_title),
    )


def revenue_per_rep_chart(
    frame: Any,
    *,
    target_usd: float | None,
    target_label: str = "target",
    series_order: Sequence[str] | None = None,
    series_title: str = "series",
    subtitle=None,
) -> alt.FacetChart:
    """First-year revenue per rep against the target (see distribution_chart); the target's
    line is labelled `target_label` (e.g. "target $500k")."""
    return distribution_chart(
        frame,
        title="First-year revenue per rep against the target",
        x_title="first-year revenue per rep (USD)",
        x_format=MONEY,
        target=target_usd,
        target_label=target_label,
        subtitle=subtitle,
        series_order=series_order,
        series_title=series_title,
        n_title="runs",
        empty_text="no run",
    )


def days_to_close_chart(
    frame: Any,
    *,
    series_order: Sequence[str] | None = None,
    series_title: str = "series",
    subtitle=None,
) -> alt.FacetChart:
    """Days from first contact to a won decision, per market and series (distribution_chart)."""
    return distribution_chart(
        frame,
        title="Days to close a won deal",
        x_title="days from first contact to decision",
        x_format=",.0f",
        subtitle=subtitle,
        series_order=series_order,
        series_title=series_title,
        n_title="won deals",
        empty_text="no deal won",
    )


def npv_chart(
    frame: Any,
    *,
    series_order: Sequence[str] | None = None,
    series_title: str = "series",
    subtitle=None,
) -> alt.FacetChart:
    """The vendor's NPV per market and series (distribution_chart) against a dashed line at
    zero; column `negative` (the share of runs with NPV < 0) shows on hover."""
    return distribution_chart(
        frame,
        title="Vendor NPV: spread over runs and the chance of a loss",
        x_title="vendor NPV (USD)",
        x_format=MONEY,
        target=0.0,
        target_label="NPV = 0",
        target_key="NPV = $0",
        subtitle=subtitle,
        series_order=series_order,
        series_title=series_title,
        n_title="runs",
        empty_text="no run",
        extra_tooltip=[("negative", "P(NPV < 0)", ".0%")],
    )


def peak_outlay_chart(
    frame: Any,
    *,
    series_order: Sequence[str] | None = None,
    series_title: str = "series",
    subtitle=None,
) -> alt.FacetChart:
    """The peak outlay (the deepest cumulative net cash, as a positive amount) per market and
    series (distribution_chart)."""
    return distribution_chart(
        frame,
        title="Peak outlay: the most cash the vendor has in",
        x_title="peak outlay: deepest cumulative net cash (USD)",
        x_format=MONEY,
        subtitle=subtitle,
        series_order=series_order,
        series_title=series_title,
        n_title="runs",
        empty_text="no run",
    )


# Deal outcomes: won stands out; the two ways of losing are dark and light rose; a deal
# that stalled is grey. None is a policy's colour.
OUTCOME_COLOURS = {
    "won": "#1f7a4d",
    "lost_competitor": "#8c2d4e",
    "no_decision": "#d79bb0",
    "stalled": "#b3b3b3",
}
DARK_OUTCOMES = ("won", "lost_competitor")  # white labels; black on the others
LABEL_FROM = 0.1  # segments narrower than this share carry no label


def deal_outcomes_chart(
    frame: Any,
    *,
    outcome_order: Sequence[str],
    series_order: Sequence[str] | None = None,
    series_title: str = "series",
    subtitle: str | Sequence[str] | None = None,
) -> alt.FacetChart:
    """How ended deals ended: one stacked bar per series, its segments the shares of the
    outcomes (summing to 100%); one panel per market.

    Columns: `market`, `series`, `outcome`, `rank` (stacking order, from the left), `share`
    (null with no ended deal), `deals`, `ended` (ended deals of the series) and `runs`.
    Segments of at least 10% are labelled with their share; a series with no ended deal
    says so. Colours are the outcomes' (OUTCOME_COLOURS), not the series'.
    """
    order = domain(frame, "series", series_order)
    outcomes = list(outcome_order)
    selection = legend_selection("outcome")
    colours = [OUTCOME_COLOURS.get(o, NEUTRAL) for o in outcomes]
    y = alt.Y("series:N", title=None, sort=order, scale=alt.Scale(domain=order))
    stacked = alt.Chart().transform_stack(
        stack="share", groupby=["series"], sort=[alt.SortField("rank")], as_=["x0", "x1"]
    )
    bars = (
        stacked.mark_bar(size=16)
        .encode(
            y=y,
            x=alt.X(
                "x0:Q",
                title="share of ended deals (%)",
                axis=alt.Axis(format=".0%"),
                scale=alt.Scale(domain=[0, 1], nice=False),
            ),
            x2="x1:Q",
            color=alt.Color(
                "outcome:N",
                title="outcome",
                sort=outcomes,
                scale=alt.Scale(domain=outcomes, range=colours),
                legend=alt.Legend(symbolOpacity=1, symbolType="square"),
            ),
            opacity=focus(selection),
            tooltip=[
                alt.Tooltip("market:N"),
                alt.Tooltip("series:N", title=series_title),
                alt.Tooltip("outcome:N"),
                alt.Tooltip("share:Q", format=".1%"),
                alt.Tooltip("deals:Q", title="deals ended this way"),
                alt.Tooltip("ended:Q", title="ended deals"),
                alt.Tooltip("runs:Q"),
            ],
        )
        .add_params(selection)
    )
    white = alt.FieldOneOfPredicate(field="outcome", oneOf=list(DARK_OUTCOMES))
    labels = (
        stacked.transform_filter(f"datum.share >= {LABEL_FROM}")
        .transform_calculate(middle="(datum.x0 + datum.x1) / 2")
        .mark_text(fontSize=10)
        .encode(
            y=y,
            x="middle:Q",
            text=alt.Text("share:Q", format=".0%"),
            color=alt.when(white).then(alt.value("white")).otherwise(alt.value("black")),
            opacity=focus(selection),
        )
    )
    empty = (
        alt.Chart()
        .transform_filter("datum.ended == 0")
        .transform_aggregate(groupby=["series"], count="count()")
        .mark_text(align="left", dx=4, color=NEUTRAL, fontStyle="italic")
        .encode(y=y, x=alt.value(0), text=alt.value("no deal ended"))
    )
    width = WIDTH + 120
    layered = alt.layer(bars, labels, empty).properties(width=width)
    markets = values(frame, "market")
    chart = layered.facet(
        facet=alt.Facet("market:N", title=None, sort=markets), columns=1, data=frame
    ).properties(title=chart_title("How ended deals ended", subtitle))
    return fitted(
        chart,
        panels=len(markets),
        columns=1,
        width=width,
        axis=text_width(order) + 12,
        legend=legend_width(outcomes, "outcome"),
    )


def paired_difference_chart(
    frame: Any,
    *,
    subtitle: str | Sequence[str] | None = None,
    pair_order: Sequence[str] | None = None,
    outcome_order: Sequence[str] | None = None,
    market_order: Sequence[str] | None = None,
    proportions: Sequence[str] = (),
    columns: int = 2,
) -> alt.ConcatChart:
    """Mean paired difference between two policies with its 95% CI; one panel per outcome.

    Columns: `market`, `pair` ("B − A"), `outcome`, `mean`, `lo`, `hi`, `n`. Replications
    of two policies share their random numbers, so the difference is taken run by run.
    Differences are black; markets are told apart by shape, not by a policy's colour.
    Outcomes named in `proportions` are shares: their differences are in percentage
    points; the others are in dollars.
    """
    pairs = present(frame, "pair", pair_order)
    outcomes = present(frame, "outcome", outcome_order)
    markets = present(frame, "market", market_order)
    selection = legend_selection("market")
    panels = []
    for outcome in outcomes:
        share = outcome in proportions
        axis = (
            alt.Axis(labelExpr=POINTS_LABELS) if share else alt.Axis(format=MONEY, labelFlush=False)
        )
        unit = "percentage points" if share else "USD"
        fmt = ".1%" if share else MONEY
        base = (
            alt.Chart()
            .transform_filter(alt.FieldEqualPredicate(field="outcome", equal=outcome))
            .encode(
                y=alt.Y("pair:N", title=None, sort=pairs),
                yOffset=alt.YOffset("market:N", sort=markets),
                opacity=focus(selection),
            )
        )
        tooltip = [
            alt.Tooltip("market:N"),
            alt.Tooltip("pair:N", title="difference"),
            alt.Tooltip("outcome:N"),
            alt.Tooltip("mean:Q", title="mean difference", format=fmt),
            alt.Tooltip("lo:Q", title="95% CI low", format=fmt),
            alt.Tooltip("hi:Q", title="95% CI high", format=fmt),
            alt.Tooltip("n:Q", title="paired replications"),
        ]
        interval = base.mark_rule(strokeWidth=2, color=NEUTRAL).encode(
            x=alt.X("lo:Q", title=f"B − A ({unit})", axis=axis, scale=alt.Scale(nice=False)),
            x2="hi:Q",
        )
        point = base.mark_point(filled=True, size=60, color=NEUTRAL).encode(
            x="mean:Q",
            shape=alt.Shape(
                "market:N", title="market", sort=markets, legend=alt.Legend(symbolOpacity=1)
            ),
            tooltip=tooltip,
        )
        zero = alt.Chart().mark_rule(color="#999999", strokeDash=[3, 3]).encode(x=alt.datum(0))
        panels.append(
            alt.layer(zero, interval, point).properties(
                width=WIDTH - 80, title=alt.TitleParams(outcome, anchor="middle")
            )
        )
    chart = (
        # The legend's selection lives in the first panel; the others refer to it.
        alt.concat(panels[0].add_params(selection), *panels[1:], data=frame, columns=columns)
        .resolve_scale(x="independent")
        .properties(
            title=chart_title("Paired policy differences (common random numbers)", subtitle)
        )
    )
    return fitted(
        chart,
        panels=len(panels),
        columns=min(columns, len(panels)),
        width=WIDTH - 80,
        axis=text_width(pairs) + 12,
        legend=legend_width(markets, "market"),
    )
