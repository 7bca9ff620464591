"""One figure of the report: its file name, title, one-sentence caption and chart.

Every figure builder (`figures`, `risk_figures`) returns these; `experiments.charts` draws
the chart, imported on first use (`charts()`): Altair costs the command line's startup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Figure:
    """One chart of the report: file name, title, one-sentence caption and the chart."""

    name: str
    title: str
    caption: str
    chart: Any


def charts():
    """experiments.charts, imported on first use."""
    from experiments import charts as module

    return module
