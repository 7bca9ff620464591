"""A small self-contained page for an analysis (optimize, explain): tables and charts.

The page is built like the report's (the same style, the inlined Vega bundle, charts fitted
to their box) from a list of blocks: headed HTML tables or paragraphs, and figures, each an
Altair chart with a one-sentence caption. Charts are also written as DIR/charts/<name>.png
and .svg unless `images` is false. Every file is written whole or not at all.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from experiments.report.page import EMBED, STYLE, clean_spec, script_json, vega_bundle


@dataclass(frozen=True)
class Figure:
    name: str  # file name and element id
    title: str
    caption: str
    chart: Any  # an Altair chart


@dataclass(frozen=True)
class Text:
    title: str
    body: str  # HTML


def table_html(frame: pl.DataFrame) -> str:
    """A frame as an HTML table (values as polars prints them), scrolling in its own box."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.iter_rows()
    )
    return f"<div class=table-wrap><table><tr>{head}</tr>{rows}</table></div>"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def write_page(
    root: Path, name: str, title: str, lead: str, blocks: list[Figure | Text], images: bool
) -> Path:
    """Write ROOT/<name>.html (and ROOT/charts/<figure>.png, .svg); returns the page's path."""
    specs = {b.name: clean_spec(b.chart.to_dict()) for b in blocks if isinstance(b, Figure)}
    if images and specs:
        _write_images(root / "charts", specs)
    sections = []
    for block in blocks:
        if isinstance(block, Text):
            sections.append(f"<h2>{html.escape(block.title)}</h2>{block.body}")
            continue
        files = (
            f'<p class=files>image: <a href="charts/{block.name}.png">PNG</a> · '
            f'<a href="charts/{block.name}.svg">SVG</a></p>'
            if images
            else ""
        )
        sections.append(
            f'<section class=figure id="figure-{block.name}"><h2>{html.escape(block.title)}</h2>'
            f"<p class=caption>{html.escape(block.caption)}</p>"
            f'<div class=chart id="{block.name}"></div>{files}</section>'
        )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
<script>{vega_bundle()}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class=lead>{html.escape(lead)} Generated {generated}.</p>
{"".join(sections)}
<script>{EMBED % {"specs": script_json(specs)}}</script>
</body>
</html>
"""
    path = root / f"{name}.html"
    _write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def _write(path: Path, write: Any) -> None:
    from experiments.store import WriteError
    from experiments.store.atomic import write_atomically

    try:
        write_atomically(path, write)
    except OSError as err:
        raise WriteError(path, err) from None


def _write_images(folder: Path, specs: dict[str, Any]) -> None:
    """Each chart as SVG and PNG (the PNG rasterised from the SVG)."""
    import vl_convert as vlc

    from experiments.report.page import vega_lite_version
    from experiments.store import WriteError

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WriteError(folder, err) from None
    vl = vega_lite_version()
    for name, spec in specs.items():
        svg = vlc.vegalite_to_svg(spec, vl_version=vl)
        _write(folder / f"{name}.svg", lambda tmp, svg=svg: tmp.write_text(svg, encoding="utf-8"))
        png = vlc.svg_to_png(svg, scale=2)
        _write(folder / f"{name}.png", lambda tmp, png=png: tmp.write_bytes(png))
