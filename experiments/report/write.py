"""Writing the report: DIR/report.html and each chart as DIR/charts/<name>.png and .svg.

Only a directory `partnersim run` made (it holds a manifest) is written to: there
report.html and charts/ are partnersim's to overwrite and clean up.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.report.figures import ReportBuilder
from experiments.report.page import clean_spec, page, vega_lite_version
from experiments.report.reading import read_experiment


@dataclass(frozen=True, slots=True)
class ReportResult:
    path: Path
    figures: list[str]
    seconds: float


def write_report(path: str | os.PathLike[str], *, images: bool = True) -> ReportResult:
    """Write DIR/report.html (and DIR/charts/<name>.png, .svg unless images=False)."""
    started = time.perf_counter()
    exp = read_experiment(path)
    from experiments import store

    store.check_managed_kinds(exp.path)
    builder = ReportBuilder(exp)
    figures = builder.figures()
    specs = {f.name: clean_spec(f.chart.to_dict()) for f in figures}
    text = page(builder, figures, specs, images)
    out = exp.path / "report.html"
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        if images and figures:
            _write_images(exp.path / "charts", specs)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        where = err.filename or exp.path
        raise store.StoreError(f"{where}: cannot write ({err.strerror or err})") from None
    return ReportResult(out, [f.name for f in figures], time.perf_counter() - started)


def _write_images(folder: Path, specs: dict[str, Any]) -> None:
    """Each chart as SVG and PNG; the PNG is rasterised from the SVG (one Vega evaluation)."""
    import vl_convert as vlc

    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob("*.png"), *folder.glob("*.svg")]:
        if stale.stem not in specs:  # a chart an earlier report drew and this one does not
            stale.unlink()
    vl = vega_lite_version()
    for name, spec in specs.items():
        svg = vlc.vegalite_to_svg(spec, vl_version=vl)
        (folder / f"{name}.svg").write_text(svg, encoding="utf-8")
        (folder / f"{name}.png").write_bytes(vlc.svg_to_png(svg, scale=2))
