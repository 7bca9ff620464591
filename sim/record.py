"""Append-only records during a run; `to_frames()` builds the polars tables once, after it.

Agents append deal records, revenue and cost entries; the monthly observer appends one
row per month. No dataframe is touched while the clock runs.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from agents.client import DEAL_FIELDS, STAGES

PIPELINE_COLUMNS = tuple(f"pipeline_{stage}" for stage in STAGES)

MONTHLY_SCHEMA: dict[str, Any] = {
    "month": pl.Int32,
    "day": pl.Float64,
    "bookings_usd": pl.Float64,
    "meetings": pl.Int32,
    "revenue_usd": pl.Float64,
    "revenue_new_usd": pl.Float64,
    "revenue_renewal_usd": pl.Float64,
    "revenue_expansion_usd": pl.Float64,
    "cumulative_revenue_usd": pl.Float64,
    "costs_usd": pl.Float64,
    "partner_margin_usd": pl.Float64,
    "net_cash_usd": pl.Float64,
    "cumulative_net_cash_usd": pl.Float64,
    "arr_usd": pl.Float64,
    **dict.fromkeys(PIPELINE_COLUMNS, pl.Int32),
    "mean_stakeholder_trust": pl.Float64,
    "reseller_trust": pl.Float64,
    "reseller_commitment": pl.Float64,
    "effort_share": pl.Float64,
    "partner_return": pl.Float64,
    "vendor_forecast_usd": pl.Float64,
    "support_staff": pl.Int32,
    "desk_queue": pl.Int32,
    "desk_wait_mean_days": pl.Float64,
    "desk_withdrawn": pl.Int32,
    "leads_waiting": pl.Int32,
    "in_downturn": pl.Boolean,
    "partnership_active": pl.Boolean,
}

DEAL_SCHEMA: dict[str, Any] = {
    "client": pl.Int64,
    "market": pl.String,
    "stakeholders": pl.Int32,
    "rep": pl.Int64,
    "first_contact_day": pl.Float64,
    "pitch_day": pl.Float64,
    "comfort_day": pl.Float64,
    "proposal_day": pl.Float64,
    "evaluation_day": pl.Float64,
    "ringi_start_day": pl.Float64,
    "decision_day": pl.Float64,
    "outcome": pl.String,
    "value_usd": pl.Float64,
    "meetings": pl.Int32,
    "nurture_contacts": pl.Int32,
    "documents": pl.Int32,
    "misreads": pl.Int32,
    "ringi_rounds": pl.Int32,
    "overselling_discovered": pl.Boolean,
    "incidents": pl.Int32,
    "warm": pl.Boolean,
    "blockers": pl.Int32,
    "forecast_misreads": pl.Int32,
}
assert tuple(DEAL_SCHEMA) == DEAL_FIELDS


class Recorder:
    """What happened in one run, in plain Python lists."""

    def __init__(self) -> None:
        self.deals: list = []
        self.monthly: list[dict[str, Any]] = []
        self.ledger: list[tuple[float, int, str, float]] = []
        self.costs: list[tuple[float, str, float]] = []
        self.churns: list[tuple[float, int]] = []  # (day, client)
        self.margins: list[tuple[float, float]] = []  # (day, partner margin paid)

    def revenue(self, day: float, client: int, kind: str, amount_usd: float) -> None:
        self.ledger.append((day, client, kind, amount_usd))

    def cost(self, day: float, kind: str, amount_usd: float) -> None:
        self.costs.append((day, kind, amount_usd))

    def monthly_row(self, model, month: int) -> dict[str, Any]:
        """Sample the model's state at a month's end and append it."""
        revenue = model._month_revenue
        model.vendor.update_forecast()
        trust = model.mean_stakeholder_trust()
        row = {
            "month": month,
            "day": model.env.now,
            "bookings_usd": model._month_bookings,
            "meetings": model.meetings_this_month,
            "revenue_usd": sum(revenue.values()),
            "revenue_new_usd": revenue["new"],
            "revenue_renewal_usd": revenue["renewal"],
            "revenue_expansion_usd": revenue["expansion"],
            "cumulative_revenue_usd": model.revenue_usd,
            "costs_usd": model._month_costs,
            "partner_margin_usd": model._month_margin,
            "net_cash_usd": sum(revenue.values()) - model._month_margin - model._month_costs,
            "cumulative_net_cash_usd": model.net_cash_usd,
            "arr_usd": model.annual_recurring_revenue_usd(),
            **{f"pipeline_{stage}": n for stage, n in model.stage_counts().items()},
            "mean_stakeholder_trust": None if math.isnan(trust) else trust,
            "reseller_trust": model.reseller.trust,
            "reseller_commitment": model.reseller.commitment,
            "effort_share": model.reseller.effort,
            "partner_return": model.reseller.return_ratio,
            "vendor_forecast_usd": model.vendor.forecast_usd,
            "support_staff": model.vendor.staff,
            **model.vendor.desk_month(),
            "leads_waiting": sum(len(rep.waiting_leads) for rep in model.reseller.reps),
            "in_downturn": model.in_downturn,
            "partnership_active": model.partnership_active,
        }
        if month > 0:
            self.monthly.append(row)
        return row

    def monthly_frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.monthly, schema=MONTHLY_SCHEMA)

    def deals_frame(self) -> pl.DataFrame:
        rows = [tuple(getattr(d, f) for f in DEAL_FIELDS) for d in self.deals]
        return pl.DataFrame(rows, schema=DEAL_SCHEMA, orient="row")
