"""The HTML page: summary table, manifest, notes and one section per figure, works offline.

Vega, Vega-Lite and vega-embed are inlined as one script (bundled by vl-convert and
cached on disk), so the page opens without a network. Each figure's Vega-Lite spec is
embedded as JSON and drawn by vega-embed; the body's `data-charts-rendered` and
`data-charts-failed` attributes say when all charts are drawn.

The page reads on a phone as on a wide screen. Tables scroll inside their own box. Charts
fit their box: every chart is a wrapped facet or concatenation whose spec says, in
`usermeta.fit` (see `experiments.charts.common.fitted`), how many panels it has and how
narrow they may get; before drawing, the page picks the number of columns and the panel
width for the box's width, moves legends below the chart when they would squeeze it, and
wraps long titles (Vega-Lite's `width: "container"` does not apply to faceted charts). A
chart still wider than its box once drawn is drawn once more, narrower; a resized window
redraws the charts whose box changed.
"""

from __future__ import annotations

import html
import importlib.metadata
import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from experiments.report.formatting import money, month, number, share
from experiments.report.layout import Layout
from experiments.report.reading import Experiment


def vega_lite_version() -> str | None:
    """The Vega-Lite version (major.minor) of Altair's specs, if vl-convert has it."""
    from experiments import charts

    return charts.vega_lite_version()


def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script, cached on disk (bundling takes seconds)."""
    import vl_convert as vlc

    vl = vega_lite_version()
    version = importlib.metadata.version("vl-convert-python")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache = base / "partnersim" / f"vega-bundle-{version}-vl{vl}.js"
    try:
        text = cache.read_text(encoding="utf-8")
        if "window.vegaEmbed" in text:
            return text
    except OSError:
        pass
    text = vlc.javascript_bundle(vl_version=vl)
    from experiments.store.atomic import write_atomically

    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(cache, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError:
        pass  # a read-only home only costs the next report the bundling time
    return text


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    text = json.dumps(value, allow_nan=False, default=str)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def clean_spec(spec: Any) -> Any:
    """NaN and infinities are not JSON: they become null."""
    if isinstance(spec, float):
        return spec if math.isfinite(spec) else None
    if isinstance(spec, dict):
        return {k: clean_spec(v) for k, v in spec.items()}
    if isinstance(spec, list):
        return [clean_spec(v) for v in spec]
    return spec


def _percentiles(r: dict[str, Any], name: str) -> str:
    """$1.2M / $2.3M / $3.4M: P10 / P50 / P90."""
    return " / ".join(money(r[f"{name}_p{p}"]) for p in (10, 50, 90))


def _interval(value: str, lo: str, hi: str) -> str:
    return f"{value} <span class=ci>({lo} to {hi})</span>"


def _summary_html(table: pl.DataFrame, layout: Layout, by_label: str) -> str:
    head = [
        "market",
        by_label,
        "runs",
        "year-1 revenue per rep (median)",
        "runs reaching target",
        f"{layout.horizon} revenue (mean, 95% CI)",
        f"{layout.horizon} revenue P10 / P50 / P90",
        "NPV (mean, 95% CI)",
        "NPV P10 / P50 / P90",
        "P(NPV < 0) (95% CI)",
        "P(partnership ends) (95% CI)",
        "ended by vendor / partner",
        "break-even month (median; never)",
        "peak outlay (median)",
        "win rate",
        "days to close (median)",
    ]
    rows = []
    for r in table.iter_rows(named=True):
        cells = [
            r["market"],
            r[table.columns[1]],
            f"{r['runs']}",
            money(r["y1_per_rep_median"]),
            share(r["target_share"]),
            _interval(money(r["revenue_mean"]), money(r["revenue_lo"]), money(r["revenue_hi"])),
            _percentiles(r, "revenue"),
            _interval(money(r["npv_mean"]), money(r["npv_lo"]), money(r["npv_hi"])),
            _percentiles(r, "npv"),
            _interval(
                share(r["npv_negative"]), share(r["npv_negative_lo"]), share(r["npv_negative_hi"])
            ),
            _interval(
                share(r["terminated_share"]), share(r["terminated_lo"]), share(r["terminated_hi"])
            ),
            f"{share(r['ended_vendor'])} / {share(r['ended_partner'])}",
            f"{month(r['break_even_median'])}; {share(r['break_even_never'])}",
            money(r["peak_outlay_median"]),
            share(r["win_rate"]),
            number(r["cycle_days"], 0),
        ]
        escaped = [html.escape(str(c)) if i < 2 else c for i, c in enumerate(cells)]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in escaped) + "</tr>")
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(rows)
    return (
        f"<div class=table-wrap><table class=summary><thead><tr>{header}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def _manifest_html(exp: Experiment, layout: Layout) -> str:
    manifest = exp.manifest
    design = manifest["design"]
    samples = f", {design['samples']} samples" if design.get("samples") else ""
    rows = [
        ("experiment", manifest["name"]),
        ("directory", str(exp.path)),
        ("design", f"{layout.kind}{samples}"),
        ("swept", ", ".join(manifest["swept"]) or "nothing"),
        ("replications", manifest["replications"]),
        ("years", f"{layout.years:g}"),
        ("seed", manifest["seed"]),
        ("runs", exp.runs.height),
        ("counts", json.dumps(manifest["counts"])),
        ("config hash", manifest["config_hash"]),
        ("git commit", manifest["git_commit"] or "none"),
        ("versions", ", ".join(f"{k} {v}" for k, v in manifest["versions"].items())),
    ]
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    config = manifest["config_text"]
    config_html = (
        f"<details><summary>configuration</summary><pre>{html.escape(config)}</pre></details>"
    )
    raw = html.escape(
        json.dumps({k: v for k, v in manifest.items() if k != "config_text"}, indent=2, default=str)
    )
    return (
        f"<div class=table-wrap><table class=manifest>{body}</table></div>{config_html}"
        f"<details><summary>manifest.json</summary><pre>{raw}</pre></details>"
    )


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:0 auto;max-width:1500px;padding:1.5em 2em;color:#222}
h1{margin-bottom:.2em;overflow-wrap:anywhere}h2{margin:1.6em 0 .3em;font-size:1.25em}
.lead{color:#555;margin-top:0}
.table-wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
th,td{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
table.summary td:nth-child(n+3){text-align:right;white-space:nowrap}
table.manifest td{overflow-wrap:anywhere}
.ci{color:#777;font-size:.85em}
section.figure{margin:2em 0;border-top:1px solid #eee;padding-top:.5em}
p.caption{font-size:1.02em;margin:.2em 0 .6em;max-width:70em}
.chart{overflow-x:auto;max-width:100%}
.chart.vega-embed{display:block;width:100%;box-sizing:border-box}
.files{font-size:.85em;color:#666}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}
.note{color:#8a5a00}
@media (max-width:640px){body{padding:1em .75em}h1{font-size:1.5em}table{font-size:.8em}}
"""

# Draws every chart to fit its box; see the module docstring.
EMBED = """
(function () {
  var specs = %(specs)s;
  var options = {renderer: "svg", actions: {export: true, source: false, compiled: false,
                 editor: false}};
  var ACTIONS = 44;  // vega-embed's room for its menu, right of the chart, and Vega's padding
  var drawn = {};

  function wrap(text, chars) {
    var lines = [], line = "";
    String(text).split(" ").forEach(function (word) {
      if (line && (line + " " + word).length > chars) { lines.push(line); line = word; }
      else { line = line ? line + " " + word : word; }
    });
    if (line) { lines.push(line); }
    return lines;
  }

  function lines(text, chars) {
    var all = [];
    (Array.isArray(text) ? text : [text]).forEach(function (t) {
      if (t) { all = all.concat(wrap(t, chars)); }
    });
    return all;
  }

  // The spec for a box `width` pixels wide: columns, panel width, legends and titles.
  function fit(spec, width, shrink) {
    var f = spec.usermeta && spec.usermeta.fit;
    if (!f) { return {spec: spec, columns: 1}; }
    var s = JSON.parse(JSON.stringify(spec));
    var most = Math.min(f.columns, f.panels);
    function layout(room) {
      var columns = Math.max(1, Math.min(most, Math.floor(room / (f.min + f.axis))));
      return {columns: columns, width: Math.min(f.max, Math.floor(room / columns) - f.axis)};
    }
    // A legend stays on the right when it costs no column and leaves panels wide enough.
    var right = layout(width - f.legend), below = layout(width);
    var beside = !f.legend || (right.columns === below.columns && right.width >= 0.75 * f.width);
    var chosen = beside ? right : below;
    var panel = Math.max(60, chosen.width - (shrink || 0));
    s.columns = chosen.columns;
    if (s.facet) { s.spec.width = panel; }
    (s.concat || []).forEach(function (view) {
      view.width = panel;
      if (view.title && typeof view.title === "object") { view.title.limit = panel + f.axis; }
    });
    s.config = s.config || {};
    s.config.header = Object.assign({}, s.config.header, {labelLimit: panel});
    if (!beside) {
      s.config.legend = Object.assign({}, s.config.legend, {
        orient: "bottom", direction: "horizontal",
        columns: Math.max(1, Math.floor(width / f.legend)),
        gradientLength: Math.min(200, width - 60), labelLimit: width - 60, titleLimit: width - 20
      });
    }
    if (s.title && typeof s.title === "object") {
      s.title.text = lines(s.title.text, Math.floor(width / 7.5));
      if (s.title.subtitle) { s.title.subtitle = lines(s.title.subtitle, Math.floor(width / 6)); }
    }
    return {spec: s, columns: chosen.columns};
  }

  function room(el) { return el.clientWidth - ACTIONS; }

  function draw(id, shrink) {
    var el = document.getElementById(id);
    var width = room(el);
    var fitted = fit(specs[id], width, shrink);
    if (drawn[id]) { drawn[id].result.finalize(); }
    return vegaEmbed(el, fitted.spec, options).then(function (result) {
      drawn[id] = {result: result, width: width};
      var svg = el.querySelector("svg");
      var over = svg ? Math.ceil(svg.getBoundingClientRect().width - (width + ACTIONS - 38)) : 0;
      if (over > 0 && !shrink) {  // wider than estimated: once more, narrower
        return draw(id, Math.ceil(over / fitted.columns) + 4);
      }
      return result;
    });
  }

  var jobs = Object.keys(specs).map(function (id) { return draw(id, 0); });
  Promise.allSettled(jobs).then(function (results) {
    var failed = results.filter(function (r) { return r.status !== "fulfilled"; });
    failed.forEach(function (r) { console.error("chart failed:", r.reason); });
    document.body.setAttribute("data-charts-rendered", String(results.length - failed.length));
    document.body.setAttribute("data-charts-failed", String(failed.length));
  });

  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      Object.keys(drawn).forEach(function (id) {
        if (Math.abs(room(document.getElementById(id)) - drawn[id].width) > 24) { draw(id, 0); }
      });
    }, 200);
  });
})();
"""


def page(builder, figures, specs: dict[str, Any], images: bool) -> str:
    """The whole report page for a ReportBuilder's experiment and figures."""
    exp = builder.exp
    layout = builder.layout
    name = exp.manifest["name"]
    sections = []
    for f in figures:
        files = (
            f'<p class=files>image: <a href="charts/{f.name}.png">PNG</a> · '
            f'<a href="charts/{f.name}.svg">SVG</a></p>'
            if images
            else ""
        )
        sections.append(
            f'<section class=figure id="figure-{f.name}"><h2>{html.escape(f.title)}</h2>'
            f"<p class=caption>{html.escape(f.caption)}</p>"
            f'<div class=chart id="{f.name}"></div>{files}</section>'
        )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in builder.notes)
    notes_html = f"<h2>Notes</h2><ul class=note>{notes}</ul>" if notes else ""
    by_title = builder.series_title
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lead = (
        f"{exp.runs.height} runs, {layout.kind} design, {layout.years:g} years; "
        f"markets: {', '.join(layout.markets) or 'n/a'}; policies: "
        f"{', '.join(layout.policies) or 'n/a'}. Generated {generated}. Click a legend entry "
        "to focus a series (shift-click for several); hover for values."
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>partnersim report: {html.escape(str(name))}</title>
<style>{STYLE}</style>
<script>{vega_bundle()}</script>
</head>
<body>
<h1>partnersim report: {html.escape(str(name))}</h1>
<p class=lead>{html.escape(lead)}</p>
<h2>Summary</h2>
{_summary_html(builder.summary(), layout, by_title)}
<h2>Manifest</h2>
{_manifest_html(exp, layout)}
{notes_html}
{"".join(sections)}
<script>{EMBED % {"specs": script_json(specs)}}</script>
</body>
</html>
"""
