"""The figures: which charts an experiment's design supports, their frames and captions.

`ReportBuilder(experiment).figures()` decides the charts (revenue over time, who ends the
partnership and when, pipeline, trust, NPV, break-even, peak outlay, revenue per rep, days
to close, deal outcomes, paired differences, sweeps or heatmaps, Sobol or Morris indices;
the risk figures are `risk_figures.RiskFigures`), aggregates each one's frame in polars and
hands it to `experiments.charts`; nothing per run and per month reaches Altair. Notes
collect what could not be charted.
"""

from __future__ import annotations

import polars as pl

from experiments.report import captions
from experiments.report.aggregates import (
    BINS,
    Y1_PER_REP,
    band,
    cycle_quantiles,
    monthly_aggregates,
    order_rows,
    outcome_stats,
    outcomes,
    paired_differences,
    pipeline_stages,
    quantiles,
    sample_means,
    summary_table,
    sweep_frame,
    won_days,
)
from experiments.report.figure import Figure
from experiments.report.figure import charts as _charts
from experiments.report.formatting import money
from experiments.report.layout import (
    design_layout,
    focus_market,
    series_title,
    short,
    with_labels,
)
from experiments.report.reading import Experiment, failed_runs
from experiments.report.risk_figures import RiskFigures
from experiments.report.sensitivity import sensitivity_indices

MAX_SERIES = 12  # more lines than this per panel is unreadable: charts pool or skip
MAX_PAIRS = 30


def _series_key(layout, labelled: pl.DataFrame) -> tuple[str | None, str]:
    """Which label names chart series: every design point, or pooled variants, or none."""
    per_market = labelled.group_by("market").agg(
        pl.col("label").n_unique().alias("labels"), pl.col("variant").n_unique().alias("variants")
    )
    if layout.kind == "grid" and per_market["labels"].max() <= MAX_SERIES:
        return "label", ""
    if per_market["variants"].max() <= MAX_SERIES:
        return "variant", "pooled over the design's points"
    return None, ""


class ReportBuilder(RiskFigures):
    """Decides the figures an experiment supports and computes their frames and captions."""

    def __init__(self, experiment: Experiment) -> None:
        self.exp = experiment
        self.layout = design_layout(experiment.runs, experiment.manifest)
        self.runs = with_labels(experiment.runs, self.layout)
        self.notes: list[str] = list(self.layout.notes)
        failed = failed_runs(experiment)
        if failed:
            self.notes.append(f"{failed} runs failed and are not in this report (failures.parquet)")
        key, pooled = _series_key(self.layout, self.runs)
        self.series_key = key
        self.pooled = pooled
        self.series_order = self.layout.label_order if key == "label" else self.layout.variant_order
        self.series_title = series_title(self.layout, key)
        self.runs = self.runs.with_columns(series=pl.col(key) if key else pl.col("variant"))
        self.paired = paired_differences(self.runs, self.layout)

    def summary(self) -> pl.DataFrame:
        """The summary table: one row per market and series."""
        return summary_table(self.runs, self.layout, self.series_key or "variant")

    def figures(self) -> list[Figure]:
        builders = [
            self.revenue_figures,
            self.npv_figure,
            self.break_even_figure,
            self.peak_outlay_figure,
            self.revenue_per_rep_figure,
            self.cycle_figure,
            self.deal_outcomes_figure,
            self.paired_figure,
            self.sweep_figures,
            self.sensitivity_figures,
        ]
        figures: list[Figure] = []
        for build in builders:
            figures.extend(build())
        return figures

    def _subtitle(self, extra: str = "") -> str:
        parts = [f"{self.runs.height} runs"]
        if self.pooled:
            parts.append(self.pooled)
        if extra:
            parts.append(extra)
        return "; ".join(parts)

    def revenue_figures(self) -> list[Figure]:
        if self.exp.monthly is None or self.series_key is None:
            return []
        keys = self.runs.select("run_id", "market", "series")
        order = self.series_order
        agg = monthly_aggregates(self.exp.monthly, keys)
        if agg.is_empty():
            return []
        # In the series' order: the first series' line is drawn first, under the others.
        agg = order_rows(agg, self.layout, "series", order, then=["month"])
        last = agg.filter(pl.col("month") == pl.col("month").max())
        charts = _charts()
        figures = [
            Figure(
                "cumulative_revenue",
                f"Cumulative revenue over {self.layout.years:g} years",
                captions.revenue_caption(self.runs, self.layout),
                charts.cumulative_revenue_chart(
                    band(agg, "revenue_mean", "n", "revenue_sd"),
                    years=self.layout.years,
                    series_order=order,
                    series_title=self.series_title,
                    subtitle=self._subtitle("mean across replications; shaded: 95% CI"),
                ),
            ),
        ]
        figures += self.ended_by_figure()
        stages, pipeline_columns = pipeline_stages()
        pipeline = agg.unpivot(
            index=["market", "series", "month"],
            on=list(pipeline_columns),
            variable_name="stage",
            value_name="count",
        ).with_columns(pl.col("stage").str.strip_prefix("pipeline_"))
        pipeline = pipeline.with_columns(
            panel=pl.concat_str(["market", "series"], separator=" / "),
            stage_rank=pl.col("stage").replace_strict(
                {s: i for i, s in enumerate(stages)}, return_dtype=pl.Int64
            ),
        ).select("panel", "stage", "stage_rank", "month", "count")
        panels = [f"{m} / {s}" for m in self.layout.markets for s in order]
        figures.append(
            Figure(
                "pipeline_stages",
                "Pipeline stages over time",
                captions.pipeline_caption(last, stages),
                charts.pipeline_chart(
                    pipeline,
                    stage_order=stages,
                    series_order=panels,
                    subtitle=self._subtitle("mean number of clients per stage across runs"),
                ),
            )
        )
        trust = pl.concat(
            [
                band(agg, "trust_mean", "trust_n", "trust_sd").with_columns(
                    measure=pl.lit("client stakeholders")
                ),
                band(agg, "reseller_mean", "reseller_n", "reseller_sd").with_columns(
                    measure=pl.lit("reseller in vendor")
                ),
            ]
        ).drop_nulls("value")
        if not trust.is_empty():
            figures.append(
                Figure(
                    "trust",
                    "Trust over time",
                    captions.trust_caption(last),
                    charts.trust_chart(
                        trust,
                        series_order=order,
                        series_title=self.series_title,
                        subtitle=[
                            self._subtitle("mean across runs; shaded: 95% CI"),
                            "client stakeholders: only runs with an open deal or an account "
                            "(hover for how many); reseller: every run, frozen once its "
                            "partnership ends",
                        ],
                    ),
                )
            )
        return figures

    def revenue_per_rep_figure(self) -> list[Figure]:
        if self.series_key is None:
            return []
        quant = order_rows(
            quantiles(self.runs, Y1_PER_REP), self.layout, "series", self.series_order
        )
        target = float(self.runs["policy.target_per_rep_usd"].median())
        return [
            Figure(
                "revenue_per_rep_year1",
                "First-year revenue per rep against the target",
                captions.per_rep_caption(self.runs, self.layout, quant, target),
                _charts().revenue_per_rep_chart(
                    quant,
                    target_usd=target,
                    target_label=f"target {money(target)}",
                    series_order=self.series_order,
                    series_title=self.series_title,
                    subtitle=self._subtitle(),
                ),
            )
        ]

    def cycle_figure(self) -> list[Figure]:
        if self.exp.deals is None or self.series_key is None:
            return []
        keys = self.runs.select("run_id", "market", "series")
        quant = order_rows(
            cycle_quantiles(self.exp.deals, keys), self.layout, "series", self.series_order
        )
        won = quant.filter(pl.col("n") > 0)
        if won.is_empty():
            self.notes.append("no deal was won in any run: no days-to-close chart")
            return []
        # Series without a won deal keep their row, which says so.
        every = self.runs.select("market", "series").unique()
        quant = order_rows(
            every.join(quant, on=["market", "series"], how="left").with_columns(
                pl.col("n").fill_null(0)
            ),
            self.layout,
            "series",
            self.series_order,
        )
        per_market = (
            won_days(self.exp.deals, keys)
            .group_by("market")
            .agg(pl.col("days").median().alias("median"), pl.len().alias("n"))
            .collect()
        )
        return [
            Figure(
                "days_to_close",
                "Days to close a won deal",
                captions.cycle_caption(won, per_market),
                _charts().days_to_close_chart(
                    quant,
                    series_order=self.series_order,
                    series_title=self.series_title,
                    subtitle=self._subtitle("won deals pooled across runs"),
                ),
            )
        ]

    def paired_figure(self) -> list[Figure]:
        frame = self.paired
        if frame.is_empty():
            return []
        pairs = frame.select("pair").unique(maintain_order=True)
        if pairs.height * max(1, len(self.layout.markets)) > MAX_PAIRS:
            self.notes.append("too many policy pairs to chart; see the summary table")
            return []
        extra = ""
        if self.layout.numeric or self.layout.categorical:
            extra = "pooled over the other swept values"
        n = int(frame["n"].max())
        return [
            Figure(
                "paired_differences",
                "Paired policy differences",
                captions.paired_caption(frame, self.layout),
                _charts().paired_difference_chart(
                    frame.select("market", "pair", "outcome", "mean", "lo", "hi", "n"),
                    pair_order=pairs["pair"].to_list(),
                    outcome_order=[o.name for o in outcomes(self.layout)],
                    market_order=self.layout.markets,
                    proportions=[o.name for o in outcomes(self.layout) if o.proportion],
                    subtitle=f"B − A within each of up to {n} replications sharing their seeds; "
                    f"mean and 95% CI{'; ' + extra if extra else ''}",
                ),
            )
        ]

    def sweep_figures(self) -> list[Figure]:
        lay = self.layout
        if not lay.numeric:
            return []
        order = [o.name for o in outcomes(lay)]
        if lay.kind == "grid" and len(lay.numeric) == 2:
            return self.heatmap_figures()
        frame = sweep_frame(self.runs, lay, lay.numeric, binned=lay.kind != "grid")
        if frame.is_empty():
            return []
        if lay.kind == "grid" and len(lay.numeric) == 1:
            title = f"Outcomes against {lay.numeric[0]}"
            extra = "mean and 95% CI per value"
        elif lay.kind == "grid":
            title = "Main effects of the swept parameters"
            extra = "mean over the other parameters' values; 95% CI"
        else:
            title = "Outcomes against each sampled parameter"
            extra = f"runs in {BINS} equal-count bins per parameter; mean and 95% CI"
        series_order = self._sweep_series_order()
        return [
            Figure(
                "sweep",
                title,
                captions.sweep_caption(frame, lay, series_order),
                _charts().sweep_chart(
                    frame,
                    title=title,
                    subtitle=f"{self.runs.height} runs; {extra}",
                    series_order=series_order,
                    series_title=series_title(lay, "variant", with_market=len(lay.markets) > 1),
                    outcome_order=order,
                    formats=self._formats(),
                ),
            )
        ]

    def _formats(self) -> dict[str, str]:
        """Each outcome's axis format: dollars or a share."""
        charts = _charts()
        return {
            o.name: charts.SHARE if o.proportion else charts.MONEY for o in outcomes(self.layout)
        }

    def _sweep_series_order(self) -> list[str]:
        if len(self.layout.markets) > 1:
            return [f"{m} / {v}" for m in self.layout.markets for v in self.layout.variant_order]
        return self.layout.variant_order

    def heatmap_figures(self) -> list[Figure]:
        lay = self.layout
        xname, yname = lay.numeric
        panel = (
            pl.concat_str([pl.col("market"), pl.col("variant")], separator=" / ")
            if len(lay.markets) > 1 or len(lay.variant_order) > 1
            else pl.col("market")
        )
        base = self.runs.with_columns(panel=panel, x=pl.col(xname), y=pl.col(yname))
        charts = _charts()
        figures = []
        for outcome, name, scheme, domain, fmt in (
            (outcomes(lay)[0], "heatmap_revenue", "viridis", None, charts.MONEY),
            (outcomes(lay)[3], "heatmap_termination", "reds", (0, 1), charts.SHARE),
        ):
            stat = outcome_stats(base, ["panel", "x", "y"], outcome)
            stat = stat.select("panel", "x", "y", "value", "lo", "hi", "n")
            title = f"{outcome.name} over {short(xname)} × {short(yname)}"
            figures.append(
                Figure(
                    name,
                    title,
                    captions.heatmap_caption(stat, outcome, xname, yname),
                    charts.heatmap_chart(
                        stat,
                        title=title,
                        x_title=xname,
                        y_title=yname,
                        value_title=outcome.name,
                        value_format=fmt,
                        scheme=scheme,
                        domain=domain,
                        subtitle=f"{self.runs.height} runs; mean per grid cell (hover: 95% CI)",
                    ),
                )
            )
        return figures

    def sensitivity_figures(self) -> list[Figure]:
        lay = self.layout
        if lay.kind not in ("sobol", "morris") or not lay.numeric:
            return []
        frame, notes = sensitivity_indices(self.runs, lay, self.exp.manifest, self.exp.design)
        self.notes.extend(notes)
        if frame.is_empty():
            return []
        groups = frame.select("market", "variant").unique(maintain_order=True)
        market = focus_market(lay)
        focus = groups.filter(pl.col("market") == market) if market else groups
        focus = (focus if not focus.is_empty() else groups).row(0, named=True)
        if groups.height > 1:
            self.notes.append(
                f"{lay.kind} indices are charted for {focus['market']} / {focus['variant']} "
                f"only ({groups.height} groups analysed)"
            )
        in_focus = (pl.col("market") == focus["market"]) & (pl.col("variant") == focus["variant"])
        frame = frame.filter(in_focus).drop("market", "variant")
        points = sample_means(self.runs, lay, self.exp.design).filter(in_focus).height
        subtitle = (
            f"{focus['market']} / {focus['variant']}: {points} design points, outcomes "
            "averaged over replications"
        )
        order = [o.name for o in outcomes(lay)]
        charts = _charts()
        if lay.kind == "sobol":
            chart = charts.sobol_chart(frame, subtitle=subtitle + "; 95% CI", outcome_order=order)
            caption = captions.sobol_caption(frame, lay)
            return [Figure("sobol_indices", "Sobol sensitivity indices", caption, chart)]
        chart = charts.morris_chart(
            frame, subtitle=subtitle, outcome_order=order, formats=self._formats()
        )
        caption = captions.morris_caption(frame, lay)
        return [Figure("morris_screening", "Morris screening", caption, chart)]
