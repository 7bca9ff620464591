"""The figures of risk: who ends the partnership and when, break-even, NPV's spread and the
chance of a loss, peak outlay, and how ended deals ended.

`RiskFigures` is part of `ReportBuilder` (`experiments.report.figures`): its methods read
the builder's labelled runs (`runs`, with `market` and `series`), layout, series order and
the experiment's deals, aggregate in polars (`experiments.report.risk`) and hand small frames
to `experiments.charts`. Each figure has one numeric caption (`captions`).
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import TYPE_CHECKING

import polars as pl

from experiments.report import captions
from experiments.report.aggregates import NPV, order_rows, quantiles
from experiments.report.figure import Figure, charts
from experiments.report.formatting import share
from experiments.report.risk import (
    BREAK_EVEN,
    EITHER,
    PEAK_OUTLAY,
    deal_outcome_shares,
    ended_by_month,
    not_yet_broken_even,
    risk_measures,
    step_corners,
)

if TYPE_CHECKING:
    from experiments.report.layout import Layout
    from experiments.report.reading import Experiment

# How the panels of the partnership chart name who ended it, in their order.
SIDES = {EITHER: "ended by either side", "vendor": "by the vendor", "partner": "by the partner"}
KEYS = ["market", "series"]


class RiskFigures:
    """The risk figures of a ReportBuilder (see the module docstring)."""

    exp: Experiment
    layout: Layout
    runs: pl.DataFrame
    notes: list[str]
    series_key: str | None
    series_order: list[str]
    series_title: str
    # and `_subtitle(extra)`, the figures' first subtitle line

    @property
    def months(self) -> int:
        """The months the horizon reaches into: a partial last month counts, as a partnership
        may end in it."""
        return max(1, math.ceil(round(12 * self.layout.years, 9)))

    @cached_property
    def risks(self) -> pl.DataFrame:
        """Risk measures per market and series, in the report's order."""
        table = risk_measures(self.runs, KEYS)
        return order_rows(table, self.layout, "series", self.series_order)

    def _ordered(self, frame: pl.DataFrame, then: list[str]) -> pl.DataFrame:
        return order_rows(frame, self.layout, "series", self.series_order, then=then)

    def _per_series(self, column: str, fmt=share) -> str:
        """`japan: us_urgency 40%, hybrid 0%; us: ...`: a column of `risks` per series."""
        parts = []
        for (market,), group in self.risks.group_by("market", maintain_order=True):
            values = ", ".join(
                f"{r['series']} {fmt(r[column])}" for r in group.iter_rows(named=True)
            )
            parts.append(f"{market}: {values}" if len(self.layout.markets) > 1 else values)
        return "; ".join(parts)

    def ended_by_figure(self) -> list[Figure]:
        """Cumulative share of partnerships ended by month: by either side, by each."""
        if self.series_key is None:
            return []
        order = self.series_order
        curves = ended_by_month(self.runs, KEYS, self.months)
        rank = {side: i for i, side in enumerate(SIDES)}
        curves = curves.with_columns(
            pl.col("ended_by").replace_strict(rank, return_dtype=pl.Int64).alias("side_rank")
        )
        thin = step_corners(curves, [*KEYS, "ended_by"])
        thin = self._ordered(thin, ["side_rank", "month"]).with_columns(
            pl.col("ended_by").replace_strict(SIDES, return_dtype=pl.String)
        )
        either = curves.filter(pl.col("ended_by") == EITHER)
        return [
            Figure(
                "partnership_survival",
                "Who ends the partnership, and when",
                captions.ended_by_caption(self.risks, either, order, self.months),
                charts().ended_by_chart(
                    thin.select("market", "series", "ended_by", "month", "value", "lo", "hi", "n"),
                    series_order=order,
                    series_title=self.series_title,
                    subtitle=[
                        self._subtitle("share of runs whose partnership has ended by each month"),
                        "rows: ended by either side, by the vendor, by the partner; shaded: "
                        "95% CI; lines that coincide are told apart by their dashes",
                    ],
                ),
            )
        ]

    def break_even_figure(self) -> list[Figure]:
        """Share of runs not yet broken even by month; its end is the share that never does."""
        if self.series_key is None or BREAK_EVEN not in self.exp.runs.columns:
            return []
        curves = not_yet_broken_even(self.runs, KEYS, self.months)
        thin = self._ordered(step_corners(curves, KEYS), ["month"])
        within = f"within {self.layout.years:g} years"
        return [
            Figure(
                "break_even",
                "Break-even month",
                captions.break_even_caption(self.risks, self.layout),
                charts().break_even_chart(
                    thin.select("market", "series", "month", "value", "lo", "hi", "n", "end"),
                    years=self.layout.years,
                    series_order=self.series_order,
                    series_title=self.series_title,
                    subtitle=[
                        self._subtitle(
                            "share of runs whose cumulative net cash is still below $0; "
                            "shaded: 95% CI"
                        ),
                        f"a line's end (dot) is the share that never breaks even {within}: "
                        + self._per_series("break_even_never"),
                    ],
                ),
            )
        ]

    def npv_figure(self) -> list[Figure]:
        """NPV's spread per series, against zero, with P(NPV < 0)."""
        if self.series_key is None:
            return []
        quant = quantiles(self.runs, NPV).join(
            self.risks.select(*KEYS, pl.col("npv_negative").alias("negative")), on=KEYS
        )
        quant = self._ordered(quant, [])
        return [
            Figure(
                "npv",
                "Vendor NPV and the chance of a loss",
                captions.npv_caption(self.risks, self.layout),
                charts().npv_chart(
                    quant,
                    series_order=self.series_order,
                    series_title=self.series_title,
                    subtitle=[
                        self._subtitle(),
                        "P(NPV < 0): " + self._per_series("npv_negative"),
                    ],
                ),
            )
        ]

    def peak_outlay_figure(self) -> list[Figure]:
        """The deepest cumulative net cash per run, per series."""
        if self.series_key is None or PEAK_OUTLAY not in self.exp.runs.columns:
            return []
        quant = self._ordered(quantiles(self.runs, PEAK_OUTLAY), [])
        return [
            Figure(
                "peak_outlay",
                "Peak outlay",
                captions.peak_outlay_caption(quant, self.layout),
                charts().peak_outlay_chart(
                    quant,
                    series_order=self.series_order,
                    series_title=self.series_title,
                    subtitle=self._subtitle(
                        "the deepest cumulative net cash of each run, as an amount"
                    ),
                ),
            )
        ]

    def deal_outcomes_figure(self) -> list[Figure]:
        """How ended deals ended: won, lost to a competitor, no decision, stalled."""
        if self.exp.deals is None or self.series_key is None:
            return []
        keys = self.runs.select("run_id", *KEYS)
        shares = self._ordered(deal_outcome_shares(self.exp.deals, keys), ["rank"])
        if not shares["ended"].max():
            self.notes.append("no deal ended in any run: no deal outcomes chart")
            return []
        return [
            Figure(
                "deal_outcomes",
                "How ended deals ended",
                captions.deal_outcomes_caption(shares, self.layout),
                charts().deal_outcomes_chart(
                    shares,
                    outcome_order=shares["outcome"].unique(maintain_order=True).to_list(),
                    series_order=self.series_order,
                    series_title=self.series_title,
                    subtitle=self._subtitle(
                        "deals won, lost to a competitor, ended in no decision or stalled, "
                        "pooled across runs; open deals have not ended"
                    ),
                ),
            )
        ]
