"""Risk, not only means: the aggregates, captions, charts and run summary on small frames.

The risk measures (percentiles of revenue and NPV, P(NPV < 0) with its Wilson interval,
who ended the partnership, break-even with "never", peak outlay), the curves over months
(partnerships ended by each side, runs not yet broken even) and deal outcome shares are
checked on hand-made runs and deals with known answers; the charts against the same
conventions as every other chart (`test_charts.check`); the run summary's text on a few
tiny simulated runs.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from experiments import charts, cli, summary
from experiments.charts.common import PALETTE
from experiments.report import captions, risk
from experiments.report.formatting import money, month
from experiments.report.layout import Layout
from experiments.report.statistics import WILSON_Z
from tests.experiments.test_charts import check, series_scales


def wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson 95% interval, written out."""
    z, p = WILSON_Z, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def hand_runs() -> pl.DataFrame:
    """Two series of a market: `a` with a loss in 2 of 5 runs, ends by both sides and two
    runs that never break even; `b` with no loss, no end and one run that never breaks even."""
    return pl.DataFrame(
        {
            "run_id": [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(4)],
            "market": ["japan"] * 9,
            "series": ["a"] * 5 + ["b"] * 4,
            "revenue_total_usd": [1.0, 2, 3, 4, 10, 5, 6, 7, 8],
            "npv_usd": [-3.0, -1, 2, 4, 10, 1, 2, 3, 4],
            "partnership_terminated": [True, True, False, True, False] + [False] * 4,
            "partnership_ended_by": ["vendor", "partner", None, "vendor", None] + [None] * 4,
            "terminated_month": [3, 5, None, 5, None] + [None] * 4,
            "break_even_month": [10, 20, None, None, 15, 10, 20, 30, None],
            "peak_outlay_usd": [100.0, 200, 300, 400, 500, 0, 10, 20, 30],
        },
        schema_overrides={"terminated_month": pl.Int64, "break_even_month": pl.Int64},
    )


LAYOUT = Layout(
    kind="grid",
    years=0.5,
    markets=["japan"],
    policies=["a", "b"],
    numeric=[],
    categorical=[],
    bounds={},
    label_order=["a", "b"],
    variant_order=["a", "b"],
)


# --------------------------------------------------------------------------- aggregates


def test_percentiles_and_the_probability_of_a_loss_with_its_wilson_interval():
    table = risk.risk_measures(hand_runs(), ["market", "series"])
    a, b = table.rows(named=True)
    assert (a["series"], a["runs"], b["runs"]) == ("a", 5, 4)
    for p in (10, 50, 90):
        assert a[f"revenue_p{p}"] == pytest.approx(np.percentile([1, 2, 3, 4, 10], p))
        assert a[f"npv_p{p}"] == pytest.approx(np.percentile([-3, -1, 2, 4, 10], p))
    assert a["npv_negative"] == pytest.approx(0.4)
    assert (a["npv_negative_lo"], a["npv_negative_hi"]) == pytest.approx(wilson(2, 5))
    # No loss in 4 runs: 0%, and the interval starts exactly at 0.
    assert b["npv_negative"] == 0.0 and b["npv_negative_lo"] == 0.0
    assert b["npv_negative_hi"] == pytest.approx(wilson(0, 4)[1])


def test_who_ended_the_partnership_break_even_with_never_and_peak_outlay():
    a, b = risk.risk_measures(hand_runs(), ["market", "series"]).rows(named=True)
    assert (a["ended"], a["ended_vendor"], a["ended_partner"]) == pytest.approx((0.6, 0.4, 0.2))
    assert (b["ended"], b["ended_vendor"], b["ended_partner"]) == (0.0, 0.0, 0.0)
    # a: 10, 15, 20, never, never -> the median is the third: 20; b: 10, 20, 30, never -> 25.
    assert a["break_even_median"] == 20 and a["break_even_never"] == pytest.approx(0.4)
    assert b["break_even_median"] == 25 and b["break_even_never"] == pytest.approx(0.25)
    assert a["peak_outlay_median"] == 300 and b["peak_outlay_median"] == 15
    # Half the runs or more never break even: the median is never.
    never = hand_runs().filter(pl.col("run_id") != "a4")
    (row,) = risk.risk_measures(never.filter(pl.col("series") == "a"), ["series"]).rows(named=True)
    assert math.isinf(row["break_even_median"]) and month(row["break_even_median"]) == "never"


def test_runs_before_model_v2_are_ended_by_the_vendor_and_have_no_break_even():
    old = hand_runs().drop("partnership_ended_by", "break_even_month", "peak_outlay_usd")
    (a, _) = risk.risk_measures(old, ["series"]).rows(named=True)
    assert a["ended_vendor"] == pytest.approx(0.6) and a["ended_partner"] == 0.0
    # Not recorded is not "never".
    assert a["break_even_median"] is None and a["peak_outlay_median"] is None
    assert month(a["break_even_median"]) == "n/a"


def test_ended_by_month_cumulates_each_sides_ends():
    curves = risk.ended_by_month(hand_runs(), ["series"], months=6)
    a = curves.filter(pl.col("series") == "a")

    def curve(side):
        return a.filter(pl.col("ended_by") == side).sort("month")["value"].to_list()

    # Ends: vendor in month 3, partner in 5, vendor in 5; of 5 runs.
    assert curve("either") == pytest.approx([0, 0, 0.2, 0.2, 0.6, 0.6])
    assert curve("vendor") == pytest.approx([0, 0, 0.2, 0.2, 0.4, 0.4])
    assert curve("partner") == pytest.approx([0, 0, 0, 0, 0.2, 0.2])
    last = a.filter((pl.col("ended_by") == "either") & (pl.col("month") == 6)).row(0, named=True)
    assert (last["lo"], last["hi"]) == pytest.approx(wilson(3, 5)) and last["n"] == 5
    b = curves.filter(pl.col("series") == "b")
    assert b.height == 3 * 6 and b["value"].max() == 0


def test_not_yet_broken_even_ends_at_the_share_that_never_breaks_even():
    curves = risk.not_yet_broken_even(hand_runs(), ["series"], months=24)
    a = curves.filter(pl.col("series") == "a").sort("month")
    # Break-even months 10, 15, 20 and two nevers, of 5 runs.
    assert a.filter(pl.col("month") == 9)["value"].item() == 1.0
    assert a.filter(pl.col("month") == 10)["value"].item() == pytest.approx(0.8)
    assert a.filter(pl.col("month") == 19)["value"].item() == pytest.approx(0.6)
    end = a.filter(pl.col("end"))
    assert end["month"].to_list() == [24] and end["value"].item() == pytest.approx(0.4)
    lo, hi = wilson(2, 5)
    assert (end["lo"].item(), end["hi"].item()) == pytest.approx((lo, hi))


def test_step_corners_keep_the_same_curve_in_fewer_rows():
    rng = np.random.default_rng(3)
    steps = np.cumsum(rng.random(120) < 0.05) / 10
    frame = pl.DataFrame({"series": "a", "month": range(1, 121), "value": steps})
    thin = risk.step_corners(frame, ["series"])
    assert thin.height < frame.height / 3
    assert thin["month"][0] == 1 and thin["month"][-1] == 120
    drawn = np.interp(np.arange(1, 121), thin["month"].to_numpy(), thin["value"].to_numpy())
    assert drawn == pytest.approx(steps)


def test_deal_outcome_shares_count_ended_deals_only():
    deals = pl.DataFrame(
        {
            "run_id": ["a0", "a0", "a0", "a1", "a1", "a1", "b0"],
            "outcome": ["won", "no_decision", "open", "no_decision", "stalled", "won", "open"],
        }
    )
    keys = hand_runs().select("run_id", "market", "series")
    shares = risk.deal_outcome_shares(deals.lazy(), keys)
    a = {r["outcome"]: r for r in shares.filter(pl.col("series") == "a").iter_rows(named=True)}
    assert list(a) == list(risk.DEAL_OUTCOMES)  # every outcome, in stacking order
    assert {o: r["deals"] for o, r in a.items()} == {
        "won": 2,
        "lost_competitor": 0,
        "no_decision": 2,
        "stalled": 1,
    }
    assert a["won"]["share"] == pytest.approx(0.4) and a["won"]["ended"] == 5
    assert a["won"]["runs"] == 5
    # b has only an open deal: nothing ended, no share.
    b = shares.filter(pl.col("series") == "b")
    assert b["ended"].to_list() == [0] * 4 and b["share"].null_count() == 4
    # Model v1's deals were won, lost, stalled or open: `lost` follows, as an outcome of its own.
    v1 = risk.deal_outcome_shares(
        deals.with_columns(pl.col("outcome").replace("no_decision", "lost")).lazy(), keys
    )
    a = v1.filter(pl.col("series") == "a")
    assert a["outcome"].to_list() == [*risk.DEAL_OUTCOMES, "lost"]
    assert a.filter(pl.col("outcome") == "lost")["share"].item() == pytest.approx(0.4)


# --------------------------------------------------------------------------- captions


def test_captions_state_who_ended_it_break_even_and_the_chance_of_a_loss():
    runs = hand_runs()
    risks = risk.risk_measures(runs, ["market", "series"])
    either = risk.ended_by_month(runs, ["market", "series"], 6).filter(
        pl.col("ended_by") == "either"
    )
    text = captions.ended_by_caption(risks, either, ["a", "b"], 6)
    assert text == (
        "By month 6, the partnership has ended in 60% of a runs in japan (40% by the vendor, "
        "20% by the partner), against 0% of b runs (0% by the vendor, 0% by the partner)."
    )
    text = captions.break_even_caption(risks, LAYOUT)
    assert text == (
        "In japan, a breaks even soonest (median month 20) and b latest (median month 25); "
        "40% of a runs in japan never break even within 0.5 years."
    )
    lo, hi = wilson(2, 5)
    text = captions.npv_caption(risks, LAYOUT)
    assert text.startswith(
        f"In japan, NPV is negative in 40% of a runs (95% CI {lo:.0%} to {hi:.0%}; median $2)"
    )
    assert "against 0% of b runs (95% CI 0% to" in text and text.endswith(
        "median $2)."
    )  # $2.50 in whole dollars
    nobody = risks.with_columns(pl.lit(0.0).alias("ended"))
    assert captions.ended_by_caption(nobody, either, ["a", "b"], 6) == (
        "No partnership ended in any run within 6 months."
    )


def test_deal_outcomes_caption_names_the_best_and_worst_win_shares():
    deals = pl.DataFrame(
        {
            "run_id": ["a0", "a0", "a1", "a1", "b0", "b0", "b1"],
            "outcome": [
                "won",
                "no_decision",
                "lost_competitor",
                "no_decision",
                "won",
                "won",
                "stalled",
            ],
        }
    )
    shares = risk.deal_outcome_shares(
        deals.lazy(), hand_runs().select("run_id", "market", "series")
    )
    assert captions.deal_outcomes_caption(shares, LAYOUT) == (
        "In japan, b wins 67% of its 3 ended deals (stalled 33%, lost to a competitor 0%, "
        "no decision 0%), against 25% of 4 for a (no decision 50%, lost to a competitor 25%, "
        "stalled 0%)."
    )


# --------------------------------------------------------------------------- charts


def test_ended_by_chart_has_a_row_of_panels_per_side_and_the_pages_colours():
    curves = risk.ended_by_month(hand_runs(), ["market", "series"], 6)
    curves = curves.with_columns(pl.col("ended_by").replace({"either": "either side"}))
    spec = check(
        charts.ended_by_chart(curves, series_order=["a", "b"]),
        title="Who ends the partnership",
        legend_field="series",
        derived={"panel"},
        panels=3,
    )
    (scale, *_) = series_scales(spec)
    assert scale["domain"] == ["a", "b"] and scale["range"] == list(PALETTE[:2])
    assert spec["columns"] == 1  # one market: one column, a row per side


def test_break_even_chart_marks_each_lines_end():
    curves = risk.not_yet_broken_even(hand_runs(), ["market", "series"], 24)
    spec = check(
        charts.break_even_chart(risk.step_corners(curves, ["series"]), years=2),
        title="Break-even",
        legend_field="series",
    )
    filters = [d.get("filter") for d in _walk(spec) if isinstance(d, dict) and "filter" in d]
    assert "datum.end" in filters
    text = str(spec)
    assert "never breaks even within 2 years" in text and "runs not yet broken even (%)" in text


def test_npv_and_peak_outlay_charts_are_boxes_in_dollars():
    stats = {"p05": -2.0, "q1": -1.0, "median": 1.0, "q3": 3.0, "p95": 5.0, "mean": 1.2, "n": 5}
    frame = pl.DataFrame([{"market": "japan", "series": s, **stats, "negative": 0.4} for s in "ab"])
    spec = check(charts.npv_chart(frame), title="NPV", legend_field="series")
    assert "P(NPV < 0)" in str(spec) and "dashed line: NPV = $0" in str(spec["title"])
    spec = check(
        charts.peak_outlay_chart(frame.drop("negative")), title="Peak outlay", legend_field="series"
    )
    assert "peak outlay: deepest cumulative net cash (USD)" in str(spec)


def test_deal_outcomes_chart_stacks_shares_coloured_by_outcome():
    shares = risk.deal_outcome_shares(
        pl.LazyFrame({"run_id": ["a0", "b0"], "outcome": ["won", "stalled"]}),
        hand_runs().select("run_id", "market", "series"),
    )
    spec = check(
        charts.deal_outcomes_chart(
            shares, outcome_order=risk.DEAL_OUTCOMES, series_order=["a", "b"]
        ),
        title="How ended deals ended",
        legend_field="outcome",
        derived={"x0", "x1", "middle"},
    )
    colours = [
        enc["color"]["scale"]
        for enc in _encodings(spec)
        if isinstance(enc.get("color"), dict) and enc["color"].get("field") == "outcome"
    ]
    assert colours[0]["domain"] == list(risk.DEAL_OUTCOMES)
    assert not set(colours[0]["range"]) & set(PALETTE)  # outcomes are not policies


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _encodings(spec):
    return [d["encoding"] for d in _walk(spec) if isinstance(d.get("encoding"), dict)]


# --------------------------------------------------------------------------- run summary


def tiny_runs() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two policies x 3 replications of a tiny one-year Japan run, with their design table."""
    from sim.run import make_spec, simulate

    frames, design = [], []
    for point, policy in enumerate(("us_urgency", "hybrid")):
        for replication in range(3):
            spec = make_spec(
                "japan",
                policy,
                {"market.clients": 30, "partner.reps": 2},
                years=1,
                seed=5,
                replication=replication,
                design_point=point,
            )
            frames.append(simulate(spec).runs)
            design.append((point, policy, replication, spec.run_id))
    runs = pl.concat(frames, how="diagonal_relaxed")
    table = pl.DataFrame(
        design, schema=["design_point", "policy.name", "replication", "run_id"], orient="row"
    )
    return runs, table


def test_run_summary_prints_percentiles_and_risks_on_a_tiny_run():
    runs, design = tiny_runs()
    table = summary.point_summary(runs, design)
    text = summary.format_table(table, ["policy.name"])
    lines = text.splitlines()
    assert lines[0].split() == [
        "1-year", "revenue", "NPV", "partnership", "ended", "break-even", "peak", "outlay"
    ]  # fmt: skip
    assert lines[1].split() == [
        "point", "policy", "runs", "P10", "P50", "P90", "P10", "P50", "P90", "P(<0)",
        "all", "vendor", "partner", "P50", "never", "P50",
    ]  # fmt: skip
    hybrid = runs.filter(pl.col("policy.name") == "hybrid")
    row = lines[3]
    assert row.split()[:3] == ["1", "hybrid", "3"]
    npv = hybrid["npv_usd"].to_numpy()
    for p in (10, 50, 90):
        assert money(float(np.percentile(npv, p))) in row
    negative = int((npv < 0).sum())
    lo, hi = wilson(negative, 3)
    assert f"{negative / 3:.0%} ({lo * 100:.0f}-{hi * 100:.0f}%)" in row
    # Numbers align right under their headings; the key to the columns follows the table.
    assert lines[1].index("runs") + len("runs") == row.index(" 3 ") + 2
    assert lines[4].startswith("P10/P50/P90: 10th, 50th (median) and 90th percentiles")
    assert max(len(line) for line in lines) <= 140  # a terminal's width


def test_one_runs_summary_says_who_ended_it_and_when_it_broke_even(tmp_path):
    runs, _ = tiny_runs()
    row = runs.row(0, named=True)
    row |= {
        "partnership_terminated": True,
        "partnership_ended_by": "partner",
        "terminated_month": 9,
        "break_even_month": None,
        "peak_outlay_usd": 1_234_567.0,
    }
    text = cli.summary(row, tmp_path)
    assert "  partnership: ended by the partner in month 9" in text
    assert "  break-even: never within 1 year; peak outlay $1,234,567" in text
    row |= {"break_even_month": 7}
    assert "  break-even: month 7; peak outlay" in cli.summary(row, tmp_path)
