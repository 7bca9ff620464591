"""Reading an experiment directory: its manifest, the runs table, lazy monthly and deals scans.

The directory is the one `partnersim run` writes (see `experiments.store`): `runs/`,
`monthly/` and `deals/` Parquet parts, `design.parquet` and `manifest.json`. Only the
current manifest format is read; `experiments.store.read_manifest` refuses any other in one
line naming the format it found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from agents.parameters import ConfigError


class ReportError(Exception):
    """A report that cannot be made or written; the message is one line naming the file."""


class ReportWriteError(ReportError):
    """A report file that cannot be written (a full disk): no fault of the input."""


@dataclass(frozen=True, slots=True)
class Experiment:
    """An experiment directory: its manifest, the runs table, lazy monthly and deals scans."""

    path: Path
    manifest: dict[str, Any]
    runs: pl.DataFrame
    monthly: pl.LazyFrame | None
    deals: pl.LazyFrame | None
    design: pl.DataFrame  # design.parquet: design_point, sample_index, swept values, run_id


def _scan(folder: Path) -> pl.LazyFrame | None:
    if not any(folder.glob("*.parquet")):
        return None
    return pl.scan_parquet(folder / "*.parquet", missing_columns="insert")


def read_experiment(path: str | os.PathLike[str]) -> Experiment:
    """Open an experiment directory; a missing or empty one, or one without a manifest,
    raises ConfigError.

    A damaged manifest or Parquet file, or a manifest of another format, raises StoreError
    naming it.
    """
    root = Path(path)
    if not root.is_dir():
        raise ConfigError("DIR", str(path), "an experiment directory (made by partnersim run)")
    runs_scan = _scan(root / "runs")
    if runs_scan is None:
        raise ConfigError("DIR", str(path), "a directory with runs/*.parquet parts")
    from experiments import store  # here: it imports the model, which `--help` does not need

    if not (root / store.MANIFEST).exists():
        raise ConfigError(
            "DIR", str(path), "an experiment directory with manifest.json (from partnersim run)"
        )
    manifest = store.read_manifest(root)
    store.check_parts(root)  # a damaged part is named here, not deep inside a chart
    try:
        runs = runs_scan.collect()
    except pl.exceptions.PolarsError:
        # Parts whose nullable outcomes were all missing may disagree on a dtype.
        parts = [store.read_part(p) for p in sorted((root / "runs").glob("*.parquet"))]
        runs = pl.concat(parts, how="diagonal_relaxed")
    runs = runs.unique("run_id", keep="first", maintain_order=True)
    design_path = root / store.DESIGN
    if not design_path.exists():
        raise ReportError(
            f"{design_path}: missing, expected the design table partnersim run writes"
        )
    return Experiment(
        path=root,
        manifest=manifest,
        runs=runs,
        monthly=_scan(root / "monthly"),
        deals=_scan(root / "deals"),
        design=store.read_part(design_path),
    )


def failed_runs(experiment: Experiment) -> int:
    """Runs recorded in failures.parquet that never produced a result."""
    from experiments import store

    path = experiment.path / store.FAILURES
    if not path.exists():
        return 0
    failed = store.read_part(path, columns=["run_id"])["run_id"]
    return int((~failed.is_in(experiment.runs["run_id"].implode())).sum())
