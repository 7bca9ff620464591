"""Chart functions on small tidy frames give valid Vega-Lite with the expected encodings.

`chart.to_dict()` validates against the Vega-Lite schema Altair ships; on top of that every
encoded field must be a column of the chart's data, every chart has a title, tooltips and
the `usermeta.fit` the report page resizes it by, and charts with a legend bind a point
selection to it. A series keeps its colour in every chart, and marks that are not a series
are grey or black. The report's statistics helpers (intervals, paired differences, ratios)
and the run summary are checked on frames with known answers.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import polars as pl
import pytest
from scipy import stats

from agents.client import STAGES
from experiments import charts, report, summary
from experiments.charts.common import GREYS, NEUTRAL, PALETTE


def walk(node: Any):
    """Every dict inside a spec, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def encodings(spec: dict) -> list[dict]:
    return [d["encoding"] for d in walk(spec) if isinstance(d.get("encoding"), dict)]


def encoded_fields(spec: dict) -> set[str]:
    """Fields named by encodings and facets (not by transforms, which may derive new ones)."""
    fields = set()
    for enc in encodings(spec):
        for channel in enc.values():
            for item in channel if isinstance(channel, list) else [channel]:
                if isinstance(item, dict) and "field" in item:
                    fields.add(item["field"])
    for d in walk(spec):
        facet = d.get("facet")
        if isinstance(facet, dict):
            for item in [facet, *facet.values()]:
                if isinstance(item, dict) and isinstance(item.get("field"), str):
                    fields.add(item["field"])
    return fields


def data_columns(spec: dict) -> set[str]:
    columns: set[str] = set()
    for rows in spec.get("datasets", {}).values():
        for row in rows:
            columns |= set(row)
    return columns


def channel_field(spec: dict, channel: str) -> set[str]:
    found = set()
    for enc in encodings(spec):
        item = enc.get(channel)
        if isinstance(item, dict) and "field" in item:
            found.add(item["field"])
    return found


def check(
    chart,
    *,
    title: str,
    legend_field: str | None,
    derived: set[str] = frozenset(),
    legend_channel: str = "color",
    panels: int | None = None,
):
    """Common checks; returns the validated spec."""
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
    assert title in spec["title"]["text"]
    missing = encoded_fields(spec) - data_columns(spec) - set(derived)
    assert not missing, f"encoded fields absent from the data: {missing}"
    assert any("tooltip" in enc for enc in encodings(spec)), "no tooltips"
    assert not any("." in f for f in encoded_fields(spec)), "dotted field names"
    if legend_field is not None:
        params = [p for d in walk(spec) for p in d.get("params", []) if isinstance(p, dict)]
        legend = [p for p in params if p.get("bind") == "legend"]
        assert len(legend) == 1, "one selection bound to the legend"
        assert legend[0]["select"]["fields"] == [legend_field]
        assert legend_field in channel_field(spec, legend_channel)
    # The page resizes every chart: a wrapped facet or concatenation, and how far it may go.
    fit = spec["usermeta"]["fit"]
    assert {"panels", "columns", "width", "min", "max", "axis", "legend"} <= set(fit)
    assert "facet" in spec or "concat" in spec
    assert spec["columns"] >= fit["columns"] >= 1 and fit["min"] <= fit["width"] <= fit["max"]
    if panels is not None:
        assert fit["panels"] == panels
    return spec


def series_scales(spec: dict, channel: str = "color") -> list[dict]:
    """The scales of every encoding of `series` on a channel."""
    return [
        enc[channel]["scale"]
        for enc in encodings(spec)
        if isinstance(enc.get(channel), dict) and enc[channel].get("field") == "series"
    ]


def over_time(markets=("japan", "us"), series=("us_urgency", "hybrid"), months=3, **extra):
    rows = [
        {
            "market": m,
            "series": s,
            "month": t,
            "value": float(t),
            "lo": t - 0.5,
            "hi": t + 0.5,
            "n": 5,
            **extra,
        }
        for m in markets
        for s in series
        for t in range(1, months + 1)
    ]
    return pl.DataFrame(rows)


def quantile_frame():
    return pl.DataFrame(
        {
            "market": ["japan", "japan", "us"],
            "series": ["us_urgency", "hybrid", "hybrid"],
            "p05": [1.0, 2, 3],
            "q1": [2.0, 3, 4],
            "median": [3.0, 4, 5],
            "q3": [4.0, 5, 6],
            "p95": [5.0, 6, 7],
            "mean": [3.1, 4.1, 5.1],
            "n": [5, 5, 5],
        }
    )


def test_cumulative_revenue_band_per_series_and_market_panel():
    chart = charts.cumulative_revenue_chart(
        over_time(), years=5, series_order=["us_urgency", "hybrid"]
    )
    spec = check(chart, title="Cumulative revenue over 5 years", legend_field="series", panels=2)
    assert spec["facet"]["field"] == "market" and spec["columns"] == 2
    layers = spec["spec"]["layer"]
    marks = [layer["mark"]["type"] for layer in layers]
    assert marks == ["area", "line", "point"]  # the invisible points carry the tooltips
    band, line, hover = layers
    assert band["encoding"]["y"]["field"] == "lo" and band["encoding"]["y2"]["field"] == "hi"
    assert line["encoding"]["y"]["field"] == "value"
    assert line["encoding"]["x"]["field"] == "month"
    assert line["encoding"]["x"]["scale"]["nice"] is False  # the axis ends with the data
    assert line["encoding"]["color"]["sort"] == ["us_urgency", "hybrid"]
    assert line["encoding"]["strokeDash"]["field"] == "series"  # coinciding lines stay visible
    assert hover["mark"]["opacity"] == 0 and "tooltip" in hover["encoding"]
    assert "$" in band["encoding"]["y"]["axis"]["format"]
    assert band["mark"].get("opacity", 1) <= 0.2 or band["encoding"]["opacity"]


def test_a_series_keeps_its_colour_in_every_chart():
    order = ["us_urgency", "jp_relationship", "hybrid"]
    only_hybrid = over_time(series=("hybrid",))
    quantiles = quantile_frame().filter(pl.col("series") == "hybrid")
    for chart in (
        charts.cumulative_revenue_chart(only_hybrid, years=5, series_order=order),
        charts.survival_chart(only_hybrid, series_order=order),
        charts.revenue_per_rep_chart(quantiles, target_usd=1.0, series_order=order),
    ):
        scales = series_scales(chart.to_dict())
        assert scales, "no colour scale on series"
        for scale in scales:
            assert scale["domain"] == order
            assert scale["range"] == list(PALETTE[:3])  # hybrid is the third colour everywhere


def test_survival_chart_is_a_share_between_zero_and_one():
    spec = check(charts.survival_chart(over_time()), title="survival", legend_field="series")
    line = spec["spec"]["layer"][1]
    assert line["encoding"]["y"]["scale"]["domain"] == [0, 1]
    dashes = series_scales(spec, "strokeDash")[0]["range"]
    assert len({json.dumps(d) for d in dashes}) == 2  # one dash pattern per series


def test_trust_chart_has_a_row_per_measure():
    frame = pl.concat(
        [
            over_time(measure="client stakeholders"),
            over_time(measure="reseller in vendor"),
        ]
    )
    spec = check(
        charts.trust_chart(frame), title="Trust", legend_field="series", derived={"panel"}, panels=4
    )
    # One panel per measure and market: a row of markets per measure, wrapped on a phone.
    assert spec["facet"]["field"] == "panel" and spec["columns"] == 2
    assert "datum.measure" in spec["transform"][0]["calculate"]
    assert spec["facet"]["sort"] == [
        "client stakeholders · japan",
        "client stakeholders · us",
        "reseller in vendor · japan",
        "reseller in vendor · us",
    ]


def test_revenue_per_rep_chart_draws_quantiles_and_the_target():
    chart = charts.revenue_per_rep_chart(
        quantile_frame(), target_usd=500_000, target_label="target $500k"
    )
    spec = check(chart, title="against the target", legend_field="series")
    layers = spec["spec"]["layer"]
    xs = [layer["encoding"]["x"] for layer in layers]
    assert {"p05", "q1", "median", "mean"} <= {x.get("field") for x in xs}
    target = [layer for layer in layers if layer["encoding"]["x"].get("datum") == 500_000]
    assert {layer["mark"]["type"] for layer in target} == {"rule", "text"}  # labelled
    for layer in target:  # grey, not a policy's colour
        assert layer["mark"]["color"] == NEUTRAL
    assert target[1]["encoding"]["text"]["value"] == "target $500k"
    x2 = {layer["encoding"].get("x2", {}).get("field") for layer in layers}
    assert {"p95", "q3"} <= x2
    # Every mark is explained: the subtitle names the box, whisker, tick, dot and line.
    key = spec["title"]["subtitle"][-1]
    for words in ("box", "whisker", "black tick: median", "white dot: mean", "dashed line"):
        assert words in key


def test_days_to_close_chart():
    frame = pl.concat(
        [
            quantile_frame(),
            pl.DataFrame({"market": ["us"], "series": ["us_urgency"], "n": [0]}),
        ],
        how="diagonal_relaxed",
    )
    spec = check(
        charts.days_to_close_chart(frame), title="Days to close", legend_field="series", panels=2
    )
    assert spec["facet"]["field"] == "market" and spec["columns"] == 1
    empty = [layer for layer in spec["spec"]["layer"] if layer["mark"]["type"] == "text"]
    assert empty[0]["encoding"]["text"]["value"] == "no deal won"
    assert empty[0]["transform"] == [{"filter": "datum.n == 0"}]


def test_pipeline_chart_stacks_stages_per_panel():
    frame = pl.DataFrame(
        {
            "panel": ["japan / hybrid"] * 4,
            "stage": ["prospect", "customer"] * 2,
            "stage_rank": [0, 4] * 2,
            "month": [1, 1, 2, 2],
            "count": [9.0, 1.0, 8.0, 2.0],
        }
    )
    chart = charts.pipeline_chart(frame, stage_order=STAGES)
    spec = check(chart, title="Pipeline", legend_field="stage")
    assert spec["spec"]["mark"]["type"] == "area"
    assert spec["spec"]["encoding"]["y"]["stack"] == "zero"
    assert spec["facet"]["field"] == "panel"
    # Stages are ordered and not policies: a sequential scheme, not the series' palette.
    assert spec["spec"]["encoding"]["color"]["scale"]["scheme"] == "viridis"


def test_sweep_chart_facets_outcome_by_parameter():
    frame = pl.DataFrame(
        {
            "parameter": ["policy.patience_months"] * 4,
            "outcome": ["5-year revenue (USD)"] * 2 + ["P(partnership ends)"] * 2,
            "series": ["hybrid"] * 4,
            "x": [12.0, 36.0] * 2,
            "value": [1.0, 2.0, 0.8, 0.1],
            "lo": [0.5, 1.5, 0.6, 0.0],
            "hi": [1.5, 2.5, 0.9, 0.3],
            "n": [10] * 4,
        }
    )
    formats = {"5-year revenue (USD)": charts.MONEY, "P(partnership ends)": charts.SHARE}
    chart = charts.sweep_chart(frame, title="Outcomes", formats=formats)
    spec = check(chart, title="Outcomes", legend_field="series", panels=2)
    assert spec["resolve"]["scale"] == {"x": "independent", "y": "independent"}
    assert spec["columns"] == 1  # one column per parameter
    # Each panel names its parameter and its outcome, in the outcome's unit.
    for panel, outcome in zip(spec["concat"], formats, strict=True):
        band = panel["layer"][0]["encoding"]
        assert band["x"]["title"] == "policy.patience_months"
        assert band["y"]["title"] == outcome
        assert band["y"]["axis"]["format"] == formats[outcome]


def test_heatmap_chart_colours_cells_by_mean():
    grid = [(u, r) for u in (0.2, 0.8) for r in (0.2, 0.8)]
    frame = pl.DataFrame(
        {
            "panel": ["japan"] * 4,
            "x": [g[0] for g in grid],
            "y": [g[1] for g in grid],
            "value": [0.1, 0.5, 0.2, 0.9],
            "lo": [0.0] * 4,
            "hi": [1.0] * 4,
            "n": [20] * 4,
        }
    )
    chart = charts.heatmap_chart(
        frame,
        title="P(partnership ends)",
        x_title="policy.urgency",
        y_title="policy.relationship_investment",
        value_title="P(partnership ends)",
        value_format=charts.SHARE,
        scheme="reds",
        domain=(0, 1),
    )
    spec = check(chart, title="P(partnership ends)", legend_field=None, derived={"vmin", "vmax"})
    cells = spec["spec"]["layer"][0]
    assert cells["mark"]["type"] == "rect"
    assert cells["encoding"]["color"]["field"] == "value"
    assert cells["encoding"]["color"]["scale"]["domain"] == [0, 1]
    assert cells["encoding"]["x"]["field"] == "x" and cells["encoding"]["y"]["field"] == "y"


def test_sobol_chart_bars_with_intervals():
    frame = pl.DataFrame(
        {
            "outcome": ["5-year revenue (USD)"] * 4,
            "parameter": ["policy.urgency"] * 2 + ["partner.reps"] * 2,
            "index": ["S1", "ST"] * 2,
            "value": [0.1, 0.2, 0.5, 0.6],
            "lo": [0.0, 0.1, 0.4, 0.5],
            "hi": [0.2, 0.3, 0.6, 0.7],
        }
    )
    spec = check(charts.sobol_chart(frame), title="Sobol", legend_field="index")
    bars, whiskers = spec["spec"]["layer"]
    assert bars["encoding"]["color"]["scale"]["range"] == list(GREYS)  # not a policy's colour
    assert bars["mark"]["type"] == "bar" and bars["encoding"]["x"]["field"] == "value"
    assert (
        whiskers["encoding"]["x"]["field"] == "lo" and whiskers["encoding"]["x2"]["field"] == "hi"
    )


def test_morris_chart_plots_mu_star_against_sigma():
    frame = pl.DataFrame(
        {
            "outcome": ["5-year revenue (USD)"] * 2,
            "parameter": ["policy.urgency", "partner.reps"],
            "mu_star": [1.0, 2.0],
            "mu_star_conf": [0.1, 0.2],
            "sigma": [0.5, 0.3],
        }
    )
    chart = charts.morris_chart(frame, formats={"5-year revenue (USD)": charts.MONEY})
    spec = check(chart, title="Morris", legend_field=None, panels=1)
    points, labels = spec["concat"][0]["layer"]
    assert points["encoding"]["x"]["field"] == "mu_star"
    assert points["encoding"]["y"]["field"] == "sigma"
    assert points["encoding"]["x"]["axis"]["format"] == charts.MONEY
    assert points["mark"]["color"] == NEUTRAL and labels["encoding"]["text"]["field"] == "parameter"


def test_paired_difference_chart_has_a_zero_line_and_intervals():
    frame = pl.DataFrame(
        {
            "market": ["japan", "us"],
            "pair": ["hybrid − us_urgency"] * 2,
            "outcome": ["5-year revenue (USD)"] * 2,
            "mean": [1.0, -1.0],
            "lo": [0.5, -2.0],
            "hi": [1.5, 0.0],
            "n": [20, 20],
        }
    )
    frame = pl.concat(
        [frame, frame.with_columns(outcome=pl.lit("P(partnership ends)"), mean=pl.lit(0.25))]
    )
    chart = charts.paired_difference_chart(frame, proportions=["P(partnership ends)"])
    spec = check(chart, title="Paired", legend_field="market", legend_channel="shape", panels=2)
    assert not channel_field(spec, "color")  # markets are shapes, not the policies' colours
    money, points = spec["concat"]
    zero, interval, point = money["layer"]
    assert zero["encoding"]["x"] == {"datum": 0}
    assert (
        interval["encoding"]["x"]["field"] == "lo" and interval["encoding"]["x2"]["field"] == "hi"
    )
    assert point["encoding"]["x"]["field"] == "mean"
    assert interval["mark"]["color"] == point["mark"]["color"] == NEUTRAL
    # Each panel in its outcome's unit: dollars, or percentage points for a share.
    assert interval["encoding"]["x"]["axis"]["format"] == charts.MONEY
    assert interval["encoding"]["x"]["title"] == "B − A (USD)"
    share = points["layer"][1]["encoding"]["x"]
    assert "pp" in share["axis"]["labelExpr"] and share["title"] == "B − A (percentage points)"


def test_charts_accept_pandas_frames_too():
    chart = charts.survival_chart(over_time().to_pandas())
    assert chart.to_dict()["datasets"]


# --------------------------------------------------------------------------- statistics


def test_mean_interval_is_students_t():
    frame = pl.DataFrame({"value": [10.0, 5.0], "sd": [2.0, None], "n": [5, 1]})
    out = report.with_mean_ci(frame, "value", "sd", "n")
    half = stats.t.ppf(0.975, 4) * 2 / math.sqrt(5)
    assert out["lo"][0] == pytest.approx(10 - half) and out["hi"][0] == pytest.approx(10 + half)
    assert out["lo"][1] == out["hi"][1] == 5.0  # one run: no band


def test_wilson_interval_matches_the_formula_and_stays_in_unit_interval():
    out = report.with_wilson_ci(pl.DataFrame({"p": [0.0, 0.5, 1.0], "n": [20, 20, 20]}), "p", "n")
    assert out["lo"][0] == pytest.approx(0.0, abs=1e-12)
    assert out["hi"][0] == pytest.approx(0.1611, abs=1e-3)  # 3.84 / (20 + 3.84)
    assert out["lo"][1] == pytest.approx(0.2993, abs=1e-3)
    assert out["hi"][2] == pytest.approx(1.0)
    assert ((out["lo"] >= -1e-12) & (out["hi"] <= 1 + 1e-12)).all()


def test_ratio_interval_is_deterministic_and_covers_the_ratio():
    rng = np.random.default_rng(1)
    base = rng.uniform(100, 200, 30)
    a, b = 2 * base + rng.normal(0, 5, 30), base
    first = report.ratio_interval(a, b, paired=True)
    assert first == report.ratio_interval(a, b, paired=True)
    ratio, lo, hi = first
    assert lo < ratio < hi and 1.9 < ratio < 2.1
    # Pairing removes the shared noise: the paired interval is much narrower.
    _, ulo, uhi = report.ratio_interval(a, b, paired=False)
    assert hi - lo < (uhi - ulo) / 3


# What `partnersim run` writes in manifest.json for synthetic_runs' design.
MARKETS_X_POLICIES = {
    "years": 5,
    "design": {
        "kind": "grid",
        "samples": None,
        "parameters": {
            "market": {"values": ["japan", "us"], "column": "market.name"},
            "policy": {"values": ["us_urgency", "hybrid"], "column": "policy.name"},
        },
    },
    "swept": ["market.name", "policy.name"],
}


def synthetic_runs(replications=6):
    """Two policies in two markets; hybrid earns exactly 1000 more in each replication."""
    rows = []
    for market in ("japan", "us"):
        for policy, extra in (("us_urgency", 0.0), ("hybrid", 1000.0)):
            for r in range(replications):
                revenue = 5000.0 + 100 * r + extra
                rows.append(
                    {
                        "run_id": f"{market}-{policy}-{r}",
                        "design_point": 0,
                        "replication": r,
                        "seed_entropy": "7",
                        "years": 5.0,
                        "market.name": market,
                        "policy.name": policy,
                        "policy.target_per_rep_usd": 500_000.0,
                        "revenue_total_usd": revenue,
                        "revenue_year1_usd": revenue / 5,
                        "revenue_per_rep_year1_usd": revenue / 50,
                        "npv_usd": revenue - 3000,
                        "partnership_terminated": policy == "us_urgency" and r % 2 == 0,
                        "win_rate": 0.5,
                        "median_cycle_days": 100.0,
                    }
                )
    return pl.DataFrame(rows)


def test_paired_differences_take_differences_within_replications():
    runs = synthetic_runs()
    layout = report.design_layout(runs, MARKETS_X_POLICIES)
    assert layout.policies == ["us_urgency", "hybrid"] and layout.markets == ["japan", "us"]
    labelled = report.with_labels(runs, layout)
    diffs = report.paired_differences(labelled, layout)
    revenue = diffs.filter(pl.col("column") == "revenue_total_usd")
    assert revenue["pair"].unique().to_list() == ["hybrid − us_urgency"]
    assert revenue["n"].to_list() == [6, 6]
    # The difference is exactly 1000 in every replication: a zero-width interval.
    assert revenue["mean"].to_list() == pytest.approx([1000.0, 1000.0])
    assert revenue["lo"].to_list() == pytest.approx([1000.0, 1000.0])
    assert revenue["hi"].to_list() == pytest.approx([1000.0, 1000.0])
    expected = (5250.0 + 1000) / 5250.0
    assert revenue["ratio"].to_list() == pytest.approx([expected, expected])
    ends = diffs.filter(pl.col("column") == "partnership_terminated")
    assert ends["mean"].to_list() == pytest.approx([-0.5, -0.5])


def test_summary_table_has_one_row_per_market_and_policy():
    runs = synthetic_runs()
    layout = report.design_layout(runs, MARKETS_X_POLICIES)
    table = report.summary_table(report.with_labels(runs, layout), layout, "label")
    assert table.select("market", "label").rows() == [
        ("japan", "us_urgency"),
        ("japan", "hybrid"),
        ("us", "us_urgency"),
        ("us", "hybrid"),
    ]
    assert table["revenue_mean"][1] == pytest.approx(6250.0)
    assert table["terminated_share"].to_list() == pytest.approx([0.5, 0.0, 0.5, 0.0])


def test_money_and_ratio_formats():
    assert report.money(2_140_000) == "$2.14M"
    assert report.money(-35_200) == "-$35.2k"
    assert report.money(512) == "$512"
    assert report.money(float("nan")) == "n/a"
    assert report.times(2.13) == "2.1x"
    assert report.share(0.456) == "46%"


def test_run_summary_shares_the_reports_interval_and_dollars():
    runs = synthetic_runs()
    design = runs.select("design_point", "market.name", "policy.name", "replication", "run_id")
    table = summary.point_summary(runs, design)
    row = table.filter(
        (pl.col("market.name") == "japan") & (pl.col("policy.name") == "us_urgency")
    ).row(0, named=True)
    sd = np.std([5000.0 + 100 * r for r in range(6)], ddof=1)
    assert row["revenue_total_usd_ci95"] == pytest.approx(stats.t.ppf(0.975, 5) * sd / 6**0.5)
    text = summary.format_table(table, ["market.name", "policy.name"])
    # Percentiles in report.money: revenue 5000..5500 in steps of 100, P10 by interpolation.
    assert row["revenue_p10"] == pytest.approx(
        np.percentile([5000.0 + 100 * r for r in range(6)], 10)
    )
    assert "$5.05k $5.25k $5.45k" in text
    single = summary.point_summary(runs.head(1), design.head(1))
    assert single["revenue_total_usd_ci95"][0] is None  # one run: no interval


def points_drawn(chart) -> int:
    """Symbol marks in the chart's SVG as vl-convert renders it."""
    import re

    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(chart.to_dict())
    return len(re.findall(r'<path[^>]*transform="translate', svg))


def test_tidy_frames_chart_every_point_where_dotted_names_chart_none() -> None:
    import altair as alt

    runs = pl.DataFrame(
        {
            "run_id": [f"r{i}" for i in range(159)],
            "policy.urgency": np.linspace(0, 1, 159),
            "npv_usd": np.arange(159.0),
        }
    )
    dotted = alt.Chart(runs).mark_circle().encode(x="policy.urgency:Q", y="npv_usd:Q")
    assert points_drawn(dotted) == 0  # what users met: a silent, empty chart
    tidied = charts.tidy(runs)
    assert tidied.columns == ["run_id", "policy_urgency", "npv_usd"]
    chart = alt.Chart(tidied).mark_circle().encode(x="policy_urgency:Q", y="npv_usd:Q")
    assert points_drawn(chart) == 159


def test_tidy_averages_a_sweeps_monthly_table_under_altairs_row_limit() -> None:
    # 3 urgencies x 40 runs x 60 months = 7200 rows: over Altair's 5000
    rows = [
        {
            "run_id": f"{u}-{r}",
            "policy.urgency": u,
            "month": m,
            "revenue_usd": float(m * r),
            "partnership_active": r % 2 == 0,
            "market.name": "japan",
        }
        for u in (0.1, 0.5, 0.9)
        for r in range(40)
        for m in range(1, 61)
    ]
    monthly = pl.DataFrame(rows)
    with pytest.raises(ValueError, match="7,200 rows: over Altair's 5,000; aggregate with by="):
        charts.tidy(monthly)
    means = charts.tidy(monthly, by=["policy.urgency", "month"])
    assert means.height == 180
    assert means.columns == [
        "policy_urgency", "month", "revenue_usd", "partnership_active", "n"
    ]  # fmt: skip
    first = means.row(0, named=True)
    assert first == {
        "policy_urgency": 0.1,
        "month": 1,
        "revenue_usd": 19.5,
        "partnership_active": 0.5,
        "n": 40,
    }
    with pytest.raises(ValueError, match=r"by: got 'policy\.urgncy', expected a column"):
        charts.tidy(monthly, by="policy.urgncy")
    with pytest.raises(ValueError, match="its tidy name 'a_b' is taken"):
        charts.tidy(pl.DataFrame({"a.b": [1], "a_b": [2]}))
