"""A run is a function: `simulate(spec) -> RunResult`, no file I/O.

A RunSpec is plain, picklable and hashable data (parameters, horizon, seed, replication);
its `run_id` is a hash of exactly that, so the same spec always names the same run. The
seed of replication r is SeedSequence(seed, spawn_key=(r,)) whatever the policy: every
policy of an experiment sees the same clients and random inputs (common random numbers).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from agents import parameters, rules
from agents.parameters import MAX_YEARS, ConfigError, Parameters
from sim import rng as rngs

if TYPE_CHECKING:
    from sim.model import PartnershipModel

# Outcomes that may be missing (no deal won, partnership never ended) keep a fixed type.
NULLABLE_OUTCOMES = {
    "terminated_day": pl.Float64,
    "terminated_month": pl.Int64,
    "first_deal_day": pl.Float64,
    "win_rate": pl.Float64,
    "median_cycle_days": pl.Float64,
    "mean_client_trust_end": pl.Float64,
    "renewal_rate": pl.Float64,
    "partnership_ended_by": pl.String,
    "churn_rate_annual": pl.Float64,
    "break_even_month": pl.Int64,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSpec:
    """Everything that determines one run."""

    params: Parameters
    years: float = 5
    seed: int = 0
    replication: int = 0
    experiment: str = ""
    design_point: int = 0
    run_id: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if not (parameters.is_real(self.years) and 0 < self.years <= parameters.MAX_YEARS):
            raise ConfigError("years", self.years, f"a number of years in (0, {MAX_YEARS}]")
        for key in ("seed", "replication"):
            value = getattr(self, key)
            if not parameters.is_integer(value) or value < 0:
                raise ConfigError(key, value, "a non-negative integer")
            object.__setattr__(self, key, int(value))
        object.__setattr__(self, "years", float(self.years))
        object.__setattr__(
            self, "run_id", run_id(self.params, self.years, self.seed, self.replication)
        )

    @property
    def spawn_key(self) -> tuple[int, ...]:
        return (self.replication,)

    def root_seed(self) -> np.random.SeedSequence:
        return rngs.root_sequence(self.seed, self.spawn_key)


def run_id(params: Parameters, years: float, seed: int, replication: int) -> str:
    """A hash of a run's canonical form: every parameter by name (JSON, sorted keys), the
    horizon as a float and the seed and replication as ints, so the same run has the same id
    whatever types it was given in (`3` or `numpy.int64(3)`, `5` or `5.0`)."""
    tail = json.dumps({"replication": int(replication), "seed": int(seed), "years": float(years)})
    canonical = f'{{"parameters": {_parameters_json(params)}, {tail[1:]}'
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1024)  # the replications of a design point share their params
def _parameters_json(params: Parameters) -> str:
    return json.dumps(_values(params), allow_nan=False)


def _values(group: Any) -> dict[str, Any]:
    """Every scalar parameter by name, in sorted order, nested groups as nested dicts: what
    `parameters.flatten` holds, made fast enough to hash a plan of a million specs."""
    fields = _FIELDS.get(type(group))
    if fields is None:
        fields = _FIELDS[type(group)] = tuple(
            (f.name, dataclasses.is_dataclass(getattr(group, f.name)))
            for f in sorted(dataclasses.fields(group), key=lambda f: f.name)
        )
    return {
        name: _values(getattr(group, name)) if nested else getattr(group, name)
        for name, nested in fields
    }


_FIELDS: dict[type, tuple[tuple[str, bool], ...]] = {}  # per group class: (name, is a group)


@dataclass(frozen=True, slots=True)
class RunResult:
    """The three tables of one run (README, "Output tables")."""

    runs: pl.DataFrame
    monthly: pl.DataFrame
    deals: pl.DataFrame


def make_spec(
    market: str = "japan",
    policy: str = "hybrid",
    overrides: dict[str, Any] | None = None,
    **kwargs: Any,
) -> RunSpec:
    """Convenience: a RunSpec from names and dotted overrides."""
    return RunSpec(params=parameters.build(market, policy, overrides), **kwargs)


def run_model(spec: RunSpec) -> PartnershipModel:
    """Build the model for a spec and run its clock to the horizon."""
    from sim.model import PartnershipModel  # here: planning and storing runs need no Mesa

    model = PartnershipModel(params=spec.params, years=spec.years, seed=spec.root_seed())
    model.run_to_end()
    return model


def simulate(spec: RunSpec) -> RunResult:
    """Run one spec and return its runs, monthly and deals tables."""
    model = run_model(spec)
    rec = model.recorder
    run_id = pl.lit(spec.run_id).alias("run_id")
    monthly = rec.monthly_frame().select(run_id, pl.all())
    deals = rec.deals_frame().select(run_id, pl.all())
    runs = pl.DataFrame([runs_row(spec, model)], schema_overrides=NULLABLE_OUTCOMES)
    return RunResult(runs=runs, monthly=monthly, deals=deals)


def runs_row(spec: RunSpec, model: PartnershipModel) -> dict[str, Any]:
    """One row: identity, seed, every parameter by dotted name, and the run's outcomes."""
    p = model.params
    rec = model.recorder
    rate = p.vendor.discount_rate
    revenue_y1 = sum((a for day, _, _, a in rec.ledger if day < rules.YEAR_DAYS), 0.0)
    npv = sum((a * rules.discount_factor(d, rate) for d, _, _, a in rec.ledger), 0.0)
    npv -= sum((a * rules.discount_factor(d, rate) for d, a in rec.margins), 0.0)
    npv -= sum((a * rules.discount_factor(d, rate) for d, _, a in rec.costs), 0.0)
    decided = [d for d in rec.deals if d.outcome != "open"]
    won = [d for d in decided if d.outcome == "won"]
    cycles = [d.decision_day - d.first_contact_day for d in won]
    customers = [c for c in model.clients if c.stage == "customer"]
    end_trust = [t for c in customers for t in c.trust]
    terminated = model.terminated_day
    renewals = sum(kind == "renewal" for _, _, kind, _ in rec.ledger)
    churn_rate = rules.churn_rate(model.churned_accounts, renewals)
    cumulative = [row["cumulative_net_cash_usd"] for row in rec.monthly]
    return {
        "run_id": spec.run_id,
        "experiment": spec.experiment,
        "design_point": spec.design_point,
        "replication": spec.replication,
        "seed_entropy": str(spec.seed),
        "seed_spawn_key": ",".join(map(str, spec.spawn_key)),
        "years": float(spec.years),
        **parameters.flatten(p),
        "revenue_year1_usd": revenue_y1,
        "revenue_total_usd": model.revenue_usd,
        "revenue_per_rep_year1_usd": revenue_y1 / p.partner.reps,
        "bookings_total_usd": model.bookings_usd,
        "npv_usd": npv,
        "partnership_terminated": terminated is not None,
        "partnership_ended_by": model.ended_by,
        "terminated_day": terminated,
        "terminated_month": None if terminated is None else rules.month_of_day(terminated),
        "first_deal_day": min((d.decision_day for d in won), default=None),
        "deals_won": len(won),
        "deals_lost": sum(d.outcome in ("lost_competitor", "no_decision") for d in decided),
        "deals_lost_competitor": sum(d.outcome == "lost_competitor" for d in decided),
        "deals_no_decision": sum(d.outcome == "no_decision" for d in decided),
        "deals_stalled": sum(d.outcome == "stalled" for d in decided),
        "deals_open_end": len(rec.deals) - len(decided),
        "win_rate": len(won) / len(decided) if decided else None,
        "median_cycle_days": statistics.median(cycles) if cycles else None,
        "accounts_active_end": len(customers),
        "accounts_churned_end": model.churned_accounts,
        "renewals": renewals,
        "renewal_rate": renewals / (renewals + model.churned_accounts)
        if renewals + model.churned_accounts
        else None,
        "mean_client_trust_end": sum(end_trust) / len(end_trust) if end_trust else None,
        "churn_rate_annual": churn_rate,
        "break_even_month": rules.break_even_month(cumulative),
        "peak_outlay_usd": max(0.0, -min(cumulative, default=0.0)),
        "arr_end_usd": model.annual_recurring_revenue_usd(),
        "terminal_value_usd": terminal_value_usd(model, customers, churn_rate),
        "partner_profit_usd": model.margin_paid_usd - model.reseller.rep_cost_usd,
        "events": model.events,
    }


def terminal_value_usd(model: PartnershipModel, customers: list, churn_rate: float | None) -> float:
    """The book of business at the horizon: its future renewals, discounted to day 0.

    What the vendor keeps of the accounts' yearly value (after the partner's margin, or
    after serving them itself once the partnership has ended), renewed each year with the
    run's churn rate (the market's base rate when nothing came up for renewal).
    """
    p = model.params
    arr = sum((c.account_value_usd for c in customers), 0.0)
    churn = p.market.churn_base if churn_rate is None else churn_rate
    if model.partnership_active:
        kept = arr * (1.0 - p.partner.margin)
    elif p.policy.after_exit == "serve":
        kept = arr - len(customers) * p.vendor.direct_service_usd_per_account_year
        churn = min(1.0, churn * p.market.direct_churn_factor)
    else:
        return 0.0
    horizon_factor = rules.discount_factor(model.horizon_days, p.vendor.discount_rate)
    return rules.perpetuity_value(kept, churn, p.vendor.discount_rate) * horizon_factor
