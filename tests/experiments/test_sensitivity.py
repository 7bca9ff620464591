"""Sobol analyses: the docs' recipe works on a real experiment directory, and the report's
caption claims only what the indices' 95% intervals support."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from experiments.report import captions
from experiments.report.layout import Layout
from tests.experiments.sweep_helpers import TINY_BASE, run_cli, write_config

DOCS = Path(__file__).resolve().parents[2] / "docs" / "EXPERIMENTS.md"
LAYOUT = Layout(
    kind="sobol",
    years=1.0,
    markets=["japan"],
    policies=["hybrid"],
    numeric=["policy.urgency", "partner.reps"],
    categorical=[],
    bounds={"policy.urgency": (0.0, 1.0), "partner.reps": (2, 4)},
    label_order=[],
    variant_order=[],
)
OUTCOME = "1-year revenue (USD)"


def indices(rows: list[tuple[str, str, float, float]]) -> pl.DataFrame:
    """(parameter, index, value, CI half-width) rows as sensitivity_indices gives them."""
    return pl.DataFrame(
        [
            {"outcome": OUTCOME, "parameter": p, "index": i, "value": v, "lo": v - h, "hi": v + h}
            for p, i, v, h in rows
        ]
    )


def test_the_sobol_caption_says_when_the_sample_is_too_small() -> None:
    # as in the issue: ST's 95% CI from -21 to 24, S1 summing to 0.01
    frame = indices(
        [
            ("policy.urgency", "ST", 1.5, 22.5),
            ("partner.reps", "ST", 0.4, 3.0),
            ("policy.urgency", "S1", 0.01, 4.0),
            ("partner.reps", "S1", 0.0, 2.0),
        ]
    )
    text = captions.sobol_caption(frame, LAYOUT)
    assert text.startswith("The sample is too small for Sobol indices of 1-year revenue")
    assert "-21.00 to 24.00" in text and "sweep.samples" in text
    assert "interactions account" not in text and "largest total effect" not in text


def test_the_sobol_caption_states_what_separated_intervals_support() -> None:
    frame = indices(
        [
            ("policy.urgency", "ST", 0.7, 0.1),
            ("partner.reps", "ST", 0.2, 0.1),
            ("policy.urgency", "S1", 0.3, 0.03),
            ("partner.reps", "S1", 0.1, 0.04),
        ]
    )
    text = captions.sobol_caption(frame, LAYOUT)
    assert text.startswith(
        "policy.urgency has the largest total effect on 1-year revenue: "
        "ST = 0.70 (95% CI 0.60 to 0.80)."
    )
    assert "sum to 0.40 (95% CI 0.35 to 0.45), so interactions account for at least 55%" in text


def test_the_sobol_caption_does_not_rank_overlapping_intervals() -> None:
    frame = indices(
        [
            ("policy.urgency", "ST", 0.5, 0.15),
            ("partner.reps", "ST", 0.45, 0.15),
            ("policy.urgency", "S1", 0.45, 0.2),
            ("partner.reps", "S1", 0.4, 0.2),
        ]
    )
    text = captions.sobol_caption(frame, LAYOUT)
    assert "the sample does not rank them" in text and "overlaps that of partner.reps" in text
    assert "which does not tell how much interactions account for" in text


def test_the_sobol_caption_says_when_effects_add_up() -> None:
    frame = indices(
        [
            ("policy.urgency", "ST", 0.8, 0.05),
            ("partner.reps", "ST", 0.2, 0.05),
            ("policy.urgency", "S1", 0.78, 0.02),
            ("partner.reps", "S1", 0.19, 0.02),
        ]
    )
    text = captions.sobol_caption(frame, LAYOUT)
    assert "sum to 0.97 (95% CI 0.94 to 1.00), so interactions account for at most 6%" in text


# 8 base samples x (2 + 2) = 32 design points x 2 replications; patience_months in [6, 7] has
# two bins, so many points share their runs.
SMALL_SOBOL = (
    'name = "small-sobol"\nyears = 1\nreplications = 2\nseed = 5\n'
    + TINY_BASE
    + """
    [sweep]
    design = "sobol"
    samples = 8

    [sweep.parameters]
    "policy.urgency" = { low = 0.1, high = 0.9 }
    "policy.patience_months" = { low = 6, high = 7 }
"""
)


def docs_recipe() -> str:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"```python\n(# Sobol indices of an experiment directory.*?)```", text, re.S)
    assert match, "the Sobol recipe is gone from docs/EXPERIMENTS.md"
    return match.group(1)


@pytest.mark.slow  # a 64-run experiment
def test_the_docs_sobol_recipe_works_on_a_small_sobol_experiment(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    assert run_cli("run", write_config(tmp_path, SMALL_SOBOL), "--out", out, "--workers", 2) == 0
    design = pl.read_parquet(out / "design.parquet")
    runs = pl.scan_parquet(out / "runs" / "*.parquet").collect()
    points = design["design_point"].n_unique()
    assert points == 32
    # the trap the docs warn of: the runs table has fewer design points than the sample
    assert runs["design_point"].n_unique() < points
    recipe = docs_recipe()
    assert 'out = "results/sensitivity"' in recipe
    namespace: dict = {}
    capsys.readouterr()
    exec(recipe.replace('out = "results/sensitivity"', f"out = {str(out)!r}"), namespace)
    assert len(namespace["y"]) == points
    assert set(namespace["indices"]) >= {"S1", "ST", "S1_conf", "ST_conf"}
    assert len(namespace["indices"]["ST"]) == 2
    assert "policy.urgency" in capsys.readouterr().out
