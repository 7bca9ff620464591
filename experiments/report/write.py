"""Writing the report: DIR/report.html and each chart as DIR/charts/<name>.png and .svg.

Only a directory `partnersim run` made (it holds a manifest) is written to: there
report.html and charts/ are partnersim's to overwrite and clean up. Each file is written
with `experiments.store.atomic.write_atomically`, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.report.figures import ReportBuilder
from experiments.report.page import clean_spec, page, vega_lite_version
from experiments.report.reading import ReportWriteError, read_experiment


@dataclass(frozen=True, slots=True)
class ReportResult:
    path: Path
    figures: list[str]
    seconds: float


def write_report(path: str | os.PathLike[str], *, images: bool = True) -> ReportResult:
    """Write DIR/report.html (and DIR/charts/<name>.png, .svg unless images=False).

    Every file is written atomically: under a temporary name, then renamed. A file that
    cannot be written raises ReportWriteError naming it (a ReportError).
    """
    started = time.perf_counter()
    exp = read_experiment(path)
    from experiments import store

    store.check_managed_kinds(exp.path)
    builder = ReportBuilder(exp)
    figures = builder.figures()
    specs = {f.name: clean_spec(f.chart.to_dict()) for f in figures}
    text = page(builder, figures, specs, images)
    if images and figures:
        _write_images(exp.path / "charts", specs)
    out = exp.path / "report.html"
    _write(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return ReportResult(out, [f.name for f in figures], time.perf_counter() - started)


def _write(path: Path, write: Callable[[Path], object]) -> None:
    """write_atomically, with a failure named in one line."""
    from experiments.store.atomic import write_atomically
    from experiments.store.layout import write_failure

    try:
        write_atomically(path, write)
    except OSError as err:
        raise ReportWriteError(f"{path}: cannot write ({write_failure(err)})") from None


def _write_images(folder: Path, specs: dict[str, Any]) -> None:
    """Each chart as SVG and PNG; the PNG is rasterised from the SVG (one Vega evaluation)."""
    import vl_convert as vlc

    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in [*folder.glob("*.png"), *folder.glob("*.svg")]:
            if stale.stem not in specs:  # a chart an earlier report drew and this one does not
                stale.unlink()
    except OSError as err:
        from experiments.store.layout import write_failure

        where = err.filename or folder
        raise ReportWriteError(f"{where}: cannot write ({write_failure(err)})") from None
    vl = vega_lite_version()
    for name, spec in specs.items():
        svg = vlc.vegalite_to_svg(spec, vl_version=vl)
        _write(folder / f"{name}.svg", lambda tmp, svg=svg: tmp.write_text(svg, encoding="utf-8"))
        png = vlc.svg_to_png(svg, scale=2)
        _write(folder / f"{name}.png", lambda tmp, png=png: tmp.write_bytes(png))
