"""Helpers for the experiment tests: tiny configs, running the CLI, reading results.

Configs here are tiny (40 clients, 3 reps, one year) so a run takes a fraction of a second;
assertions compare runs with each other, never with hard-coded model outputs.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import polars as pl

from experiments import cli

TINY_BASE = """
    [base]
    market = "japan"
    policy = "hybrid"

    [base.set]
    "market.clients" = 40
    "partner.reps" = 3
"""

# 2 markets x 3 policies x 10 replications = 60 one-year runs (written 10 runs per part).
TINY_GRID = (
    """
    name = "tiny"
    years = 1
    replications = 10
    seed = 11
"""
    + TINY_BASE
    + """
    [sweep]
    design = "grid"

    [sweep.parameters]
    market = ["japan", "us"]
    policy = ["us_urgency", "jp_relationship", "hybrid"]
"""
)
TINY_RUNS = 60


def write_config(folder: Path, text: str, name: str = "experiment.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def run_cli(*args: str) -> int:
    """`partnersim ARGS` in this process (workers are still separate processes)."""
    return cli.main([str(a) for a in args])


def tables(out: Path) -> dict[str, pl.DataFrame]:
    """The three tables of an experiment, sorted by run id (rows of a run keep their order)."""
    return {
        name: pl.scan_parquet(out / name / "*.parquet")
        .collect()
        .sort("run_id", maintain_order=True)
        for name in ("runs", "monthly", "deals")
    }


def assert_same_results(left: Path, right: Path) -> None:
    from polars.testing import assert_frame_equal

    a, b = tables(left), tables(right)
    for name in a:
        assert a[name].height > 0 or name == "deals"
        assert_frame_equal(a[name], b[name], check_exact=True)
    assert a["runs"]["run_id"].is_unique().all()
