"""The experiment report: Parquet datasets -> polars aggregates -> charts -> one HTML page.

`write_report(DIR)` reads an experiment directory, aggregates every table in polars (means
with 95% intervals, quantiles, risks, paired policy differences, Sobol or Morris indices), decides
which charts fit the experiment's design, states what each shows in one numeric sentence,
and writes `DIR/report.html` (self-contained: it opens offline) and each chart as
`DIR/charts/<name>.png` and `.svg`. One idea per module:

    reading      the experiment directory (`read_experiment`, `Experiment`, `ReportError`)
    layout       the design's layout: what varies, series labels and their order
    statistics   t and Wilson intervals, bootstrap intervals of ratios
    formatting   numbers in words: $1.23M, 46%, 2.1x
    aggregates   the tables behind every chart (summary, monthly, quantiles, paired, sweeps)
    risk         spread and risk: percentiles, P(NPV < 0), who ended the partnership,
                 break-even, peak outlay, deal outcomes (shared with the run summary)
    sensitivity  Sobol indices and Morris screening with SALib
    captions     one numeric sentence per figure
    figure       `Figure`: a chart with its name, title and caption
    figures      which figures a design supports (`ReportBuilder`)
    risk_figures the figures of risk (`RiskFigures`, part of `ReportBuilder`)
    page         the HTML page and its inlined Vega bundle
    write        `write_report`: the page and the PNG and SVG files

The charts themselves are drawn by `experiments.charts`, the only Altair importer.
"""

from experiments.report.aggregates import (
    Outcome,
    outcomes,
    paired_differences,
    sample_means,
    summary_table,
)
from experiments.report.figures import Figure, ReportBuilder
from experiments.report.formatting import money, number, ratio_text, share, times
from experiments.report.layout import Layout, design_layout, with_labels
from experiments.report.reading import Experiment, ReportError, ReportWriteError, read_experiment
from experiments.report.sensitivity import sensitivity_indices
from experiments.report.statistics import ratio_interval, with_mean_ci, with_wilson_ci
from experiments.report.write import ReportResult, write_report

__all__ = [
    "Experiment",
    "Figure",
    "Layout",
    "Outcome",
    "ReportBuilder",
    "ReportError",
    "ReportResult",
    "ReportWriteError",
    "design_layout",
    "money",
    "number",
    "outcomes",
    "paired_differences",
    "ratio_interval",
    "ratio_text",
    "read_experiment",
    "sample_means",
    "sensitivity_indices",
    "share",
    "summary_table",
    "times",
    "with_labels",
    "with_mean_ci",
    "with_wilson_ci",
    "write_report",
]
