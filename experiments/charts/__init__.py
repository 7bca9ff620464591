"""Pure chart functions: a tidy, already aggregated frame in, an Altair chart out.

Every function takes a small long-form frame (polars or pandas; one row per plotted mark,
the columns named in its docstring) and returns a chart with a title, tooltips and, where
a colour or shape stands for a group, a legend that selects it on click (shift-click adds).
The aggregation (means, confidence bands, quantiles, sensitivity indices) happens before,
in `experiments/report/`; nothing here reads files or computes statistics. Field names
never contain dots (Vega-Lite would read them as nested paths): dotted parameter names
travel as values of a `parameter` column or as axis titles. These modules are the only
ones that import Altair:

    common         sizes, formats, the page's colours, `fitted` (how the page may resize)
    over_time      mean lines with 95% bands by month (revenue, who ends the partnership,
                   break-even, trust); the stacked pipeline
    distributions  boxes from quantiles (revenue per rep, days to close, NPV, peak outlay);
                   stacked shares of deal outcomes; paired policy differences
    sweeps         outcomes against parameters, heatmaps, Sobol and Morris
    tidy           `tidy(frame)`: an experiment's table, for charts of your own (no dots in
                   names, averaged `by` groups under Altair's 5000-row limit); no Altair
"""

from __future__ import annotations

from experiments.charts.common import MONEY, NUMBER, SHARE, WIDTH
from experiments.charts.distributions import (
    days_to_close_chart,
    deal_outcomes_chart,
    distribution_chart,
    npv_chart,
    paired_difference_chart,
    peak_outlay_chart,
    revenue_per_rep_chart,
)
from experiments.charts.over_time import (
    band_over_time,
    break_even_chart,
    cumulative_revenue_chart,
    ended_by_chart,
    pipeline_chart,
    survival_chart,
    trust_chart,
)
from experiments.charts.sweeps import heatmap_chart, morris_chart, sobol_chart, sweep_chart
from experiments.charts.tidy import field_name, tidy


def vega_lite_version() -> str | None:
    """The Vega-Lite version (major.minor) Altair writes its specs in, if vl-convert has it."""
    import altair as alt
    import vl_convert as vlc

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return wanted if wanted in vlc.get_vegalite_versions() else None


__all__ = [
    "MONEY",
    "NUMBER",
    "SHARE",
    "WIDTH",
    "band_over_time",
    "break_even_chart",
    "cumulative_revenue_chart",
    "days_to_close_chart",
    "deal_outcomes_chart",
    "distribution_chart",
    "ended_by_chart",
    "field_name",
    "heatmap_chart",
    "morris_chart",
    "npv_chart",
    "paired_difference_chart",
    "peak_outlay_chart",
    "pipeline_chart",
    "revenue_per_rep_chart",
    "sobol_chart",
    "survival_chart",
    "sweep_chart",
    "tidy",
    "trust_chart",
    "vega_lite_version",
]
