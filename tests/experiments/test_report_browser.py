"""The experiment report, end to end: tiny experiments in, charts and an HTML page out.

Small experiments are simulated here and written in the layout `partnersim run` makes
(`runs/`, `monthly/`, `deals/` Parquet parts, `design.parquet`, `manifest.json`). The report
must pick the charts each design supports (presets, 1-D and 2-D grids, Sobol, Morris),
state numbers in its captions, and stay fast on a 2000-run experiment. The page is then
opened in headless Chromium over the DevTools protocol (a pipe, no extra packages) at the
widths of a phone, a small laptop and a wide screen: every chart must be drawn as SVG and
fit its box, the page must be no wider than the window, every legend must be in view,
nothing may reach the network or the console's error level, and a full-page screenshot
must not be blank. Without a local `chromium` that one test is skipped; CI installs it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from PIL import Image

from agents.parameters import ConfigError
from experiments import cli, report
from sim.run import make_spec, simulate
from tests.browser import CHROMIUM, DevTools

TINY = {"market.clients": 30, "partner.reps": 2}
PRESETS = ("us_urgency", "jp_relationship", "hybrid")
SAMPLED = {
    "policy.urgency": (0.1, 0.9),
    "policy.relationship_investment": (0.1, 0.9),
    "policy.overselling": (0.0, 0.6),
}


# --------------------------------------------------------------------------- experiments


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    """As the store writes them: money and time columns are floats even when all integer."""
    return frame.with_columns(
        pl.col(c).cast(pl.Float64)
        for c, dtype in frame.schema.items()
        if c.endswith(("_usd", "_day", "_days")) and (dtype.is_integer() or dtype == pl.Null)
    )


def write_experiment(root: Path, name: str, points, *, replications: int, years: float, design):
    """Simulate `points` [(market, policy, overrides, sample_index)] x replications into root.

    Runs shared by identical design points (Morris trajectories) are simulated once, as
    the runner does; design.parquet maps every point to its runs.
    """
    for table in ("runs", "monthly", "deals"):
        (root / table).mkdir(parents=True)
    rows, done = [], set()
    for index, (market, policy, overrides, sample) in enumerate(points):
        for replication in range(replications):
            spec = make_spec(
                market,
                policy,
                overrides={**TINY, **overrides},
                years=years,
                seed=1,
                replication=replication,
                experiment=name,
                design_point=index,
            )
            rows.append((index, sample, replication, spec.run_id))
            if spec.run_id in done:
                continue
            done.add(spec.run_id)
            result = simulate(spec)
            for table in ("runs", "monthly", "deals"):
                part = root / table / f"part-{len(done):06d}.parquet"
                canonical(getattr(result, table)).write_parquet(part)
    pl.DataFrame(
        rows,
        schema={
            "design_point": pl.Int64,
            "sample_index": pl.Int64,
            "replication": pl.Int64,
            "run_id": pl.String,
        },
        orient="row",
    ).write_parquet(root / "design.parquet")
    config = f'name = "{name}"\nyears = {years}\nreplications = {replications}\nseed = 1\n'
    manifest = {
        "format": 1,
        "name": name,
        "config_text": config,
        "config_hash": "0123456789abcdef",
        "seed": 1,
        "years": years,
        "replications": replications,
        "design": design,
        "counts": {"points": len(points), "runs": len(done)},
        "versions": {"partnersim": "0.1.0", "polars": pl.__version__},
        "git_commit": None,
        "swept": [spec.get("column", key) for key, spec in design["parameters"].items()],
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


def presets_experiment(root: Path) -> Path:
    points = [(m, p, {}, None) for m in ("japan", "us") for p in PRESETS]
    design = {
        "kind": "grid",
        "samples": None,
        "parameters": {
            "market": {"values": ["japan", "us"], "column": "market.name"},
            "policy": {"values": list(PRESETS), "column": "policy.name"},
        },
    }
    return write_experiment(root, "presets", points, replications=3, years=2, design=design)


def grid_experiment(root: Path, values: dict[str, list[float]], replications: int) -> Path:
    names = list(values)
    combos = [dict(zip(names, combo, strict=True)) for combo in _product(*values.values())]
    points = [("japan", "hybrid", combo, None) for combo in combos]
    design = {
        "kind": "grid",
        "parameters": {k: {"values": v, "column": k} for k, v in values.items()},
    }
    return write_experiment(root, "grid", points, replications=replications, years=2, design=design)


def _product(*lists):
    if not lists:
        return [()]
    return [(x, *rest) for x in lists[0] for rest in _product(*lists[1:])]


def sampled_experiment(root: Path, kind: str) -> Path:
    """Sobol (N=4, no second order) or Morris (4 trajectories, 4 levels) over SAMPLED."""
    from SALib.sample import morris, sobol

    problem = {"num_vars": 3, "names": list(SAMPLED), "bounds": [[0.0, 1.0]] * 3}
    if kind == "sobol":
        unit = sobol.sample(problem, 4, calc_second_order=False, seed=3)
        extra = {"samples": 4, "second_order": False}
    else:
        unit = morris.sample(problem, 4, num_levels=4, seed=3)
        extra = {"samples": 4, "levels": 4}
    points = [
        (
            "us",
            "hybrid",
            {
                k: lo + float(u) * (hi - lo)
                for (k, (lo, hi)), u in zip(SAMPLED.items(), row, strict=True)
            },
            i,
        )
        for i, row in enumerate(unit)
    ]
    parameters = {
        k: {"low": lo, "high": hi, "type": "float", "column": k} for k, (lo, hi) in SAMPLED.items()
    }
    design = {"kind": kind, **extra, "parameters": parameters}
    return write_experiment(root, kind, points, replications=1, years=1, design=design)


def inflate(source: Path, target: Path, copies: int, parts: int = 20) -> Path:
    """A large experiment: every run of `source` copied as new replications, in `parts` parts."""
    tables = {t: pl.read_parquet(source / t / "*.parquet") for t in ("runs", "monthly", "deals")}
    replications = tables["runs"]["replication"].max() + 1
    for table, frame in tables.items():
        big = pl.concat(
            frame.with_columns(
                run_id=pl.col("run_id") + f"-{k}",
                **(
                    {"replication": pl.col("replication") + k * replications}
                    if table == "runs"
                    else {}
                ),
            )
            for k in range(copies)
        )
        (target / table).mkdir(parents=True)
        size = -(-big.height // parts)
        for i in range(parts):
            big.slice(i * size, size).write_parquet(target / table / f"part-{i:06d}.parquet")
        if table == "runs":
            big.select(
                "design_point",
                pl.lit(None, pl.Int64).alias("sample_index"),
                "replication",
                "run_id",
            ).write_parquet(target / "design.parquet")
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["replications"] = replications * copies
    manifest["counts"] = {"runs": tables["runs"].height * copies}
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


@pytest.fixture(scope="module")
def presets_dir(tmp_path_factory) -> Path:
    return presets_experiment(tmp_path_factory.mktemp("presets"))


@pytest.fixture(scope="module")
def large_report(presets_dir, tmp_path_factory):
    """The presets experiment inflated to 2016 runs, reported with PNG and SVG files."""
    root = inflate(presets_dir, tmp_path_factory.mktemp("large") / "exp", copies=112)
    started = time.perf_counter()
    result = report.write_report(root)
    return root, result, time.perf_counter() - started


# --------------------------------------------------------------------------- reports


def one_sentence_with_numbers(caption: str) -> bool:
    return caption.endswith(".") and "\n" not in caption and any(c.isdigit() for c in caption)


@pytest.fixture(scope="module")
def presets_figures(presets_dir):
    """The presets experiment's report builder and its figures by name."""
    builder = report.ReportBuilder(report.read_experiment(presets_dir))
    return builder, {f.name: f for f in builder.figures()}


def test_presets_report_charts_and_captions(presets_figures):
    builder, figures = presets_figures
    assert list(figures) == [
        "cumulative_revenue",
        "partnership_survival",
        "pipeline_stages",
        "trust",
        "npv",
        "break_even",
        "peak_outlay",
        "revenue_per_rep_year1",
        "days_to_close",
        "deal_outcomes",
        "paired_differences",
    ]
    for figure in figures.values():
        assert one_sentence_with_numbers(figure.caption), figure.caption
        assert figure.chart.to_dict()["title"]["text"]
    assert "2-year revenue" in figures["cumulative_revenue"].caption
    assert "target" in figures["revenue_per_rep_year1"].caption
    caption = figures["paired_differences"].caption
    assert caption.startswith("In japan, hybrid earns ") and "us_urgency" in caption
    assert "paired replications" in caption
    assert "x " not in caption and "$" in caption  # dollars, as the chart: no ratio
    # The stakeholders' trust covers only some runs: the caption says how many.
    assert " of 3 (" in figures["trust"].caption
    # Every policy keeps its row in each market, and a row with no won deal has no quantiles
    # (test_charts checks that the chart labels such a row "no deal won").
    days = figures["days_to_close"].chart.to_dict()
    rows = next(iter(days["datasets"].values()))
    assert {(r["market"], r["series"]) for r in rows} == {
        (m, p) for m in ("japan", "us") for p in ("us_urgency", "jp_relationship", "hybrid")
    }
    assert all(r["q1"] is None and r["p05"] is None for r in rows if r["n"] == 0)
    assert builder.series_title == "policy"


def chart_rows(figure) -> list[dict]:
    """The rows of a figure's one dataset."""
    (rows,) = figure.chart.to_dict()["datasets"].values()
    return rows


def test_presets_report_risk_figures_agree_with_the_runs(presets_figures):
    """The risk figures agree with the runs and deals tables and say so in numbers."""
    builder, figures = presets_figures
    runs = builder.runs
    # Who ended the partnership: three rows of panels, the last month as in the runs table.
    survival = figures["partnership_survival"]
    if runs["partnership_terminated"].any():
        assert "by the vendor" in survival.caption and "by the partner" in survival.caption
    else:  # two years are too short for these presets to end a partnership
        assert survival.caption == "No partnership ended in any run within 24 months."
    rows = pl.DataFrame(chart_rows(survival))
    assert set(rows["ended_by"]) == {"ended by either side", "by the vendor", "by the partner"}
    last = rows.filter(pl.col("month") == 24)  # two years
    for r in last.iter_rows(named=True):
        sub = runs.filter((pl.col("market") == r["market"]) & (pl.col("series") == r["series"]))
        ended = sub["partnership_ended_by"]
        expected = {
            "ended by either side": sub["partnership_terminated"].mean(),
            "by the vendor": (ended == "vendor").fill_null(False).mean(),
            "by the partner": (ended == "partner").fill_null(False).mean(),
        }[r["ended_by"]]
        assert r["value"] == pytest.approx(expected) and r["lo"] <= r["value"] <= r["hi"]
    # Break-even: each line ends (a dot) at the share of runs that never break even.
    ends = pl.DataFrame(chart_rows(figures["break_even"])).filter(pl.col("end"))
    assert ends.height == runs.select("market", "series").n_unique()
    for r in ends.iter_rows(named=True):
        sub = runs.filter((pl.col("market") == r["market"]) & (pl.col("series") == r["series"]))
        assert r["value"] == pytest.approx(sub["break_even_month"].is_null().mean())
    assert "even within 2 years" in figures["break_even"].caption
    # NPV: P(NPV < 0) in the caption, with its interval, and on hover.
    npv = figures["npv"]
    assert "NPV is negative in " in npv.caption and "95% CI" in npv.caption
    for r in chart_rows(npv):
        sub = runs.filter((pl.col("market") == r["market"]) & (pl.col("series") == r["series"]))
        assert r["negative"] == pytest.approx((sub["npv_usd"] < 0).mean())
        assert r["median"] == pytest.approx(sub["npv_usd"].median())
    assert "$" in figures["peak_outlay"].caption
    # Deal outcomes: the shares of each series' ended deals add up to one.
    outcomes = pl.DataFrame(chart_rows(figures["deal_outcomes"])).drop_nulls("share")
    totals = outcomes.group_by("market", "series").agg(pl.col("share").sum())
    assert totals["share"].to_list() == pytest.approx([1.0] * totals.height)
    assert set(outcomes["outcome"]) == {"won", "lost_competitor", "no_decision", "stalled"}
    caption = figures["deal_outcomes"].caption
    assert " wins " in caption and "no decision" in caption and "ended deals" in caption


def test_paired_differences_match_the_runs_table(presets_dir):
    runs = report.read_experiment(presets_dir).runs
    builder = report.ReportBuilder(report.read_experiment(presets_dir))
    row = builder.paired.filter(
        (pl.col("market") == "us")
        & (pl.col("pair") == "hybrid − us_urgency")
        & (pl.col("column") == "revenue_total_usd")
    ).row(0, named=True)

    def mean(policy):
        sub = runs.filter((pl.col("market.name") == "us") & (pl.col("policy.name") == policy))
        return sub["revenue_total_usd"].mean()

    assert row["n"] == 3
    assert row["mean"] == pytest.approx(mean("hybrid") - mean("us_urgency"))
    assert row["ratio"] == pytest.approx(mean("hybrid") / mean("us_urgency"))
    assert row["lo"] <= row["mean"] <= row["hi"]


def test_runs_of_model_v1_are_reported_without_break_even_or_peak_outlay(presets_dir):
    exp = report.read_experiment(presets_dir)
    v1 = exp.runs.drop("partnership_ended_by", "break_even_month", "peak_outlay_usd")
    builder = report.ReportBuilder(dataclasses.replace(exp, runs=v1))
    names = [f.name for f in builder.figures()]
    assert "partnership_survival" in names and "npv" in names
    assert "break_even" not in names and "peak_outlay" not in names
    table = builder.summary()
    assert table["break_even_median"].null_count() == table.height  # not recorded, not never
    assert table["peak_outlay_median"].null_count() == table.height


def test_one_dimensional_grid_gets_a_sweep_chart(tmp_path):
    root = grid_experiment(tmp_path / "g1", {"policy.patience_months": [12, 36]}, 2)
    result = report.write_report(root, images=False)
    assert "sweep" in result.figures and "paired_differences" not in result.figures
    builder = report.ReportBuilder(report.read_experiment(root))
    sweep = next(f for f in builder.figures() if f.name == "sweep")
    assert "policy.patience_months from 12 to 36" in sweep.caption
    assert builder.layout.numeric == ["policy.patience_months"]


def test_two_dimensional_grid_gets_heatmaps(tmp_path):
    values = {"policy.urgency": [0.2, 0.8], "policy.relationship_investment": [0.2, 0.8]}
    root = grid_experiment(tmp_path / "g2", values, 1)
    result = report.write_report(root, images=False)
    assert {"heatmap_revenue", "heatmap_termination"} <= set(result.figures)
    assert "sweep" not in result.figures


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sobol", "morris"])
def test_sensitivity_designs_are_analysed_with_salib(tmp_path, kind):
    root = sampled_experiment(tmp_path / kind, kind)
    exp = report.read_experiment(root)
    builder = report.ReportBuilder(exp)
    assert builder.layout.numeric == list(SAMPLED)
    means = report.sample_means(builder.runs, builder.layout, exp.design)
    assert means.height == exp.design["design_point"].n_unique()  # every sample row
    indices, _ = report.sensitivity_indices(builder.runs, builder.layout, exp.manifest, exp.design)
    revenue = indices.filter(pl.col("outcome") == "1-year revenue (USD)")
    if kind == "sobol":
        assert means.height == 4 * (3 + 2)
        assert sorted(revenue["index"].unique().to_list()) == ["S1", "ST"]
        assert revenue.filter(pl.col("index") == "ST")["parameter"].to_list() == list(SAMPLED)
    else:
        assert means.height == 4 * (3 + 1)
        assert revenue["parameter"].to_list() == list(SAMPLED)
        assert (revenue["mu_star"] >= 0).all()
    figures = {f.name: f for f in builder.figures()}
    name = "sobol_indices" if kind == "sobol" else "morris_screening"
    assert name in figures and "sweep" in figures
    assert one_sentence_with_numbers(figures[name].caption), figures[name].caption
    # The same points as a Latin hypercube: outcome-against-parameter bins, no SALib.
    manifest = {**exp.manifest, "design": {**exp.manifest["design"], "kind": "lhs"}}
    lhs = report.ReportBuilder(dataclasses.replace(exp, manifest=manifest))
    names = [f.name for f in lhs.figures()]
    assert "sweep" in names and name not in names


@pytest.mark.slow
def test_large_experiment_report_is_written_in_seconds(large_report):
    root, result, seconds = large_report
    runs = pl.scan_parquet(root / "runs" / "*.parquet").select(pl.len()).collect().item()
    assert runs >= 2000
    print(f"\nreport of {runs} runs: {seconds:.1f} s ({len(result.figures)} charts, PNG+SVG)")
    assert seconds < 60, f"{seconds:.1f} s"
    html = (root / "report.html").read_text()
    assert "<h1>partnersim report: presets</h1>" in html
    assert "<table class=summary>" in html and "configuration</summary>" in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # nothing fetched
    # Only aggregates reach the page: its size does not grow with the number of runs.
    assert len(html) < 2_500_000
    for name in result.figures:
        png = root / "charts" / f"{name}.png"
        assert not_blank(png), name
        svg = (root / "charts" / f"{name}.svg").read_text()
        assert svg.lstrip().startswith("<svg") and "</svg>" in svg


def test_report_command(presets_dir, capsys):
    assert cli.main(["report", str(presets_dir), "--no-images"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"report: {presets_dir / 'report.html'} (11 charts")
    assert (presets_dir / "report.html").exists() and not (presets_dir / "charts").exists()
    page = (presets_dir / "report.html").read_text()
    assert "<th>policy</th>" in page  # the summary's header says what its rows are
    for header in ("2-year revenue P10 / P50 / P90", "NPV P10 / P50 / P90", "P(NPV &lt; 0)"):
        assert f"<th>{header}" in page, header
    assert page.count("<div class=table-wrap>") == 2  # tables scroll in their own box


def test_report_of_a_missing_directory_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"DIR: got .* expected an experiment directory"):
        report.write_report(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"runs/\*\.parquet"):
        report.write_report(tmp_path / "empty")


def not_blank(path: Path) -> bool:
    """A PNG with real content: several colours and visible contrast."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"), dtype=float)
    return pixels.std() > 10 and len(np.unique(pixels)) > 16


# --------------------------------------------------------------------------- browser

WIDTHS = (390, 1024, 1600)  # a phone, a small laptop, a wide screen
# Where each chart's box, drawing and legends are, against the window's width.
MEASURE = """(() => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; };
  return {
    viewport: document.documentElement.clientWidth,
    page: document.documentElement.scrollWidth,
    charts: [...document.querySelectorAll('.chart')].map(c => ({
      id: c.id,
      box: box(c),
      drawing: box(c.querySelector('svg.marks')),
      legends: [...c.querySelectorAll('.role-legend')].map(box),
    })),
  };
})()"""


def wait_for_charts(browser: DevTools, seconds: float = 45) -> str | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rendered = browser.evaluate(
            "document.body && document.body.getAttribute('data-charts-rendered')"
        )
        if rendered is not None:
            return rendered
        time.sleep(0.2)
    return None


def check_fits(layout: dict[str, Any], width: int) -> None:
    """The page no wider than the window; each chart within its box; legends in view."""
    viewport = layout["viewport"]
    assert layout["page"] <= viewport, f"{width} px: the page is {layout['page']} px wide"
    for chart in layout["charts"]:
        (box_left, box_right), (left, right) = chart["box"], chart["drawing"]
        assert box_left - 1 <= left and right <= box_right + 1, (width, chart)
        assert chart["legends"], f"{width} px: {chart['id']} has no legend"
        for legend_left, legend_right in chart["legends"]:
            assert legend_left >= 0 and legend_right <= viewport, (width, chart)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_report_opens_in_headless_chromium(large_report, tmp_path):
    root, result, _ = large_report
    expected = len(result.figures)
    browser = DevTools(tmp_path / "profile", tmp_path / "chromium.log")
    layouts = {}
    try:
        for width in WIDTHS:
            browser.open_page(width, 900)
            browser.send("Page.navigate", {"url": (root / "report.html").as_uri()})
            rendered = wait_for_charts(browser)
            assert rendered is not None, f"{width} px: the charts were never all drawn"
            layouts[width] = browser.evaluate(MEASURE)
        counts = browser.evaluate(
            "[document.querySelectorAll('.chart').length,"
            " document.querySelectorAll('.chart svg.marks').length,"
            " document.querySelectorAll('.chart svg.marks g.mark-group, .chart canvas').length,"
            " document.body.getAttribute('data-charts-failed')]"
        )
        shot = browser.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, timeout=60
        )
        # The legend is clickable: clicking an entry fades the other series.
        faded = "document.querySelectorAll('#cumulative_revenue [opacity=\"0.15\"]').length"
        before = browser.evaluate(faded)
        x, y = browser.evaluate(
            "(() => { const s = document.querySelector("
            "'#cumulative_revenue .role-legend-symbol path'); s.scrollIntoView();"
            " const r = s.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];"
            " })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            browser.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )
        after = None
        for _ in range(25):
            after = browser.evaluate(faded)
            if after:
                break
            time.sleep(0.1)
    finally:
        browser.close()
    for width, layout in layouts.items():
        widest = max(c["drawing"][1] - c["drawing"][0] for c in layout["charts"])
        print(
            f"\n{width} px: page {layout['page']} px in a {layout['viewport']} px window, "
            f"widest chart {widest:.0f} px, {len(layout['charts'])} charts fit with their legends"
        )
        check_fits(layout, width)
    containers, svgs, groups, failed = counts
    assert (containers, svgs, int(rendered), failed) == (expected, expected, expected, "0")
    assert groups >= expected
    assert before == 0 and after > 0, "clicking a legend entry did not fade the other series"
    assert browser.console_errors() == []
    offline = [u for u in browser.requested_urls() if not u.startswith(("file:", "data:"))]
    assert offline == [], f"the page fetched {offline}"
    screenshot = tmp_path / "report.png"
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    assert not_blank(screenshot)
    with Image.open(screenshot) as image:
        assert image.height > 2000  # the whole page, not just the first screen
