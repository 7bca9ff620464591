"""Hypothesis strategies for the partnership model: parameters, policy levers, run specs.

Public, for property-based tests of the model and of users' own variants of it (see
docs/PROPERTY_TESTS.md; experiment configs are drawn by `experiments.strategies`). Every
strategy reads the `param(...)` declarations of `agents/parameters.py`, so a parameter added
there is drawn here without a change, always within its declared range. Each drawn value
is either the base profile's or preset's value or a fresh one, so a failing example shrinks
towards a shipped configuration with the fewest changes. Runs are kept small (a few dozen
clients, a few reps, up to three years) by narrowing the ranges of the parameters that set a
run's size or event count: `SMALL` lists them.

Every strategy takes `overrides`: a mapping from dotted parameter names to a fixed value or
to a strategy, e.g. `{"market.decision_rule": "consensus_ringi", "policy.overselling":
st.floats(0.3, 1)}`. Cross-field rules (`stakeholders_min <= stakeholders_max`, ...) are
kept by ordering the drawn pair; a pair with a fixed side that breaks its rule is rejected.

Needs the `test` extra (Hypothesis); nothing at run time imports this module.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from agents import parameters as declared
from agents.parameters import (
    MAX_YEARS,
    PRESET_NAMES,
    Culture,
    EconomyParameters,
    Market,
    Mechanisms,
    Parameters,
    Partner,
    Policy,
    Product,
    Trust,
    VendorParameters,
)
from sim.run import RunSpec

__all__ = [
    "GROUP_CLASSES",
    "LEVERS",
    "ORDERED_PAIRS",
    "REDRAW_ONE_IN",
    "SMALL",
    "SWITCH_OFF_ONE_IN",
    "cultures",
    "economies",
    "field_values",
    "markets",
    "mechanisms",
    "parameters",
    "partners",
    "policies",
    "policy_levers",
    "products",
    "run_specs",
    "seeds",
    "switches",
    "trust_settings",
    "vendors",
]

Overrides = Mapping[str, Any]

# Narrower, still valid, ranges for parameters that set a run's size or its event count
# (a meeting every few minutes, a thousand incidents a year): they keep a drawn run well
# under a second. Every other parameter ranges over its whole declared range.
SMALL: dict[str, tuple[float, float]] = {
    "market.clients": (5, 40),
    "market.stakeholders_min": (1, 15),
    "market.stakeholders_max": (1, 15),
    "market.n_approvers_min": (1, 8),
    "market.n_approvers_max": (1, 8),
    "market.ringi_step_days": (0.0, 30.0),
    "market.ringi_max_rounds": (1, 5),
    "market.deal_value_median_usd": (0.0, 1_000_000.0),
    "market.ramp_tau_days": (0.0, 730.0),
    "market.meeting_interval_min_days": (1.0, 30.0),
    "market.meeting_interval_max_days": (1.0, 45.0),
    "market.stall_days": (0.0, 400.0),
    "market.wiifm_meetings": (0, 10),
    "market.poc_days": (0.0, 90.0),
    "market.lead_rate_per_client_year": (0.0, 5.0),
    "market.requalify_days": (0.0, 730.0),
    "policy.support_staff": (1, 6),
    "policy.turnaround_days": (0.0, 60.0),
    "policy.target_per_rep_usd": (0.0, 2_000_000.0),
    "policy.patience_months": (0, 36),
    "policy.review_months": (1, 12),
    "policy.exit_threshold": (0.0, 2.0),
    "policy.nurture_contacts_per_month": (0.0, 10.0),
    "policy.exec_visits_per_year": (0.0, 24.0),
    "partner.reps": (1, 4),
    "partner.meetings_per_week": (0.5, 40.0),
    "partner.backlog_limit_weeks": (0.0, 8.0),
    "product.incident_rate_per_year": (0.0, 12.0),
    "trust.slow_answer_days": (0.0, 60.0),
    "vendor.staff_cost_usd_per_year": (0.0, 500_000.0),
    "vendor.exec_visit_cost_usd": (0.0, 100_000.0),
    "vendor.nurture_contact_cost_usd": (0.0, 10_000.0),
    "vendor.enablement_usd_per_year": (0.0, 500_000.0),
    "economy.downturns_per_year": (0.0, 2.0),
    "economy.downturn_min_months": (0.0, 24.0),
    "economy.downturn_max_months": (0.0, 24.0),
}

# With `vary`, each parameter is redrawn with probability about 1/REDRAW_ONE_IN (else it keeps its
# profile's or preset's value): a few changes per run, so that most drawn runs still close
# deals, renew and churn instead of stalling on one extreme value.
REDRAW_ONE_IN = 6

# Each mechanism switch is off in one drawn run out of SWITCH_OFF_ONE_IN, independently:
# every switch is covered both ways, and most runs combine many mechanisms.
SWITCH_OFF_ONE_IN = 4

# (smaller, larger): the validation rules between fields of one group.
ORDERED_PAIRS: tuple[tuple[str, str], ...] = declared.ordered_pairs()

# Policy fields a strategist may change mid-run with `PartnershipModel.set_policy`.
LEVERS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Policy) if f.name != "name")

# Each parameter group by its dotted prefix (`market.culture` for the nested Culture).
GROUP_CLASSES: dict[str, type] = {
    "market": Market,
    "market.culture": Culture,
    "policy": Policy,
    "partner": Partner,
    "product": Product,
    "trust": Trust,
    "vendor": VendorParameters,
    "economy": EconomyParameters,
    "mechanisms": Mechanisms,
}


# ---------------------------------------------------------------------- one parameter
def _field(cls: type, name: str) -> dataclasses.Field:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f
    raise KeyError(f"{cls.PREFIX}.{name}")


def _bounds(cls: type, name: str, small: bool) -> tuple[float | None, float | None]:
    meta = _field(cls, name).metadata
    low, high = meta.get("low"), meta.get("high")
    narrow = SMALL.get(f"{cls.PREFIX}.{name}") if small else None
    if narrow is not None:
        low = narrow[0] if low is None else max(low, narrow[0])
        high = narrow[1] if high is None else min(high, narrow[1])
    return low, high


@functools.cache
def field_values(cls: type, name: str, *, small: bool = True) -> SearchStrategy[Any]:
    """Every valid value of one declared parameter (within `SMALL` when `small`).

    Args:
        cls: a parameter group (`Market`, `Policy`, ...).
        name: the field's name in that group (`"patience_months"`).
        small: narrow the range to `SMALL` when the parameter is listed there.
    """
    f = _field(cls, name)
    kind = type(f.default)
    if kind is bool:
        return st.booleans()
    if kind is str:
        choices = f.metadata.get("choices")
        return st.sampled_from(choices) if choices else st.just(f.default)
    low, high = _bounds(cls, name, small)
    if high is not None and math.isinf(high):
        high = None
    if kind is int:
        return st.integers(
            None if low is None else math.ceil(low), None if high is None else math.floor(high)
        )
    return st.floats(
        min_value=None if low is None else float(low),
        max_value=None if high is None else float(high),
        allow_nan=False,
        allow_infinity=False,
    )


def _in_range(cls: type, name: str, value: Any) -> bool:
    if type(value) in (bool, str):
        return True
    low, high = _bounds(cls, name, small=True)
    return (low is None or value >= low) and (high is None or value <= high)


# ---------------------------------------------------------------------- one group
def _group(
    cls: type,
    base: Any,
    overrides: Overrides,
    vary: bool,
    nested: Mapping[str, SearchStrategy[Any]] | None = None,
) -> SearchStrategy[Any]:
    """A group drawn field by field: the base's value or a fresh one, overrides fixed."""
    nested = nested or {}
    prefix = cls.PREFIX
    _reject_unknown_overrides(cls, overrides)

    @st.composite
    def draw_group(draw: Any) -> Any:
        values: dict[str, Any] = {}
        fixed: set[str] = set()
        for f in dataclasses.fields(cls):
            key = f"{prefix}.{f.name}"
            if f.name in nested:
                values[f.name] = draw(nested[f.name])
                continue
            if key in overrides:
                given = overrides[key]
                values[f.name] = draw(given) if isinstance(given, SearchStrategy) else given
                fixed.add(f.name)
                continue
            base_value = getattr(base, f.name)
            fresh = field_values(cls, f.name)
            if isinstance(base_value, str) and not f.metadata.get("choices"):
                values[f.name] = base_value  # a profile's or preset's name
            elif not vary:
                values[f.name] = base_value if _in_range(cls, f.name, base_value) else draw(fresh)
            elif _in_range(cls, f.name, base_value):
                # integers shrink to 0: a failing example keeps the base value where it can
                redraw = draw(st.integers(0, REDRAW_ONE_IN - 1)) == REDRAW_ONE_IN - 1
                values[f.name] = draw(fresh) if redraw else base_value
            else:
                values[f.name] = draw(fresh)
        for small_key, large_key in ORDERED_PAIRS:
            group, _, small_name = small_key.rpartition(".")
            if group != prefix:
                continue
            large_name = large_key.rpartition(".")[2]
            if values[small_name] <= values[large_name]:
                continue
            assume(small_name not in fixed and large_name not in fixed)
            values[small_name], values[large_name] = values[large_name], values[small_name]
        try:
            return cls(**values)
        except declared.ConfigError:
            assume(False)  # an override outside the declared range
            raise  # pragma: no cover  (assume raises)

    return draw_group()


def _reject_unknown_overrides(cls: type, overrides: Overrides) -> None:
    prefix = cls.PREFIX + "."
    names = {f.name for f in dataclasses.fields(cls)}
    for key in overrides:
        if key.startswith(prefix) and key[len(prefix) :] not in names:
            if cls is Market and key.startswith("market.culture."):
                continue
            raise declared.ConfigError(key, overrides[key], "a known parameter name")


def cultures(base: Culture | None = None, overrides: Overrides | None = None) -> SearchStrategy:
    """Hofstede and context scores, each the base's or any score in [0, 100]."""
    return _group(Culture, base or Culture(), overrides or {}, vary=True)


def markets(
    profiles: tuple[str, ...] | None = None,
    overrides: Overrides | None = None,
    vary: bool = True,
) -> SearchStrategy[Market]:
    """Markets: a shipped profile (`japan`, `us`, ...) with some parameters redrawn.

    Args:
        profiles: profile names to start from; all shipped profiles by default.
        overrides: dotted `market.*` keys fixed to a value or a strategy.
        vary: redraw parameters; when false, only `market.clients` (to fit `SMALL`) and the
            overrides change.
    """
    names = tuple(profiles) if profiles else tuple(declared.market_names())
    overrides = dict(overrides or {})
    culture_overrides = {k: v for k, v in overrides.items() if k.startswith("market.culture.")}
    market_overrides = {k: v for k, v in overrides.items() if k not in culture_overrides}

    choices = []
    for name in names:  # read once, so that every draw sees the same profiles
        base = declared.load_market(name)
        culture = _group(Culture, base.culture, culture_overrides, vary)
        choices.append(_group(Market, base, market_overrides, vary, nested={"culture": culture}))
    return st.one_of(choices)


def policies(
    presets: tuple[str, ...] | None = None,
    overrides: Overrides | None = None,
    vary: bool = True,
) -> SearchStrategy[Policy]:
    """Policies: a preset (`us_urgency`, `jp_relationship`, `hybrid`) with some levers redrawn."""
    names = tuple(presets) if presets else PRESET_NAMES
    overrides = dict(overrides or {})
    return st.one_of([_group(Policy, declared.load_preset(n), overrides, vary) for n in names])


def partners(overrides: Overrides | None = None, vary: bool = True) -> SearchStrategy[Partner]:
    """The reseller: 1-4 reps by default, capacity, skill, margin, trust, commitment, effort."""
    return _group(Partner, Partner(), overrides or {}, vary)


def products(overrides: Overrides | None = None, vary: bool = True) -> SearchStrategy[Product]:
    """The product: fit, incidents, severity and what overselling promises."""
    return _group(Product, Product(), overrides or {}, vary)


def trust_settings(overrides: Overrides | None = None, vary: bool = True) -> SearchStrategy[Trust]:
    """Trust and commitment dynamics (phi, eta, d_scar, gamma, n0, p0, kappa, severities)."""
    return _group(Trust, Trust(), overrides or {}, vary)


def vendors(
    overrides: Overrides | None = None, vary: bool = True
) -> SearchStrategy[VendorParameters]:
    """The vendor's costs, discount rate and support-cut factor."""
    return _group(VendorParameters, VendorParameters(), overrides or {}, vary)


def economies(
    overrides: Overrides | None = None, vary: bool = True
) -> SearchStrategy[EconomyParameters]:
    """Downturn arrivals (up to two a year), lengths and effects."""
    return _group(EconomyParameters, EconomyParameters(), overrides or {}, vary)


def switches() -> SearchStrategy[bool]:
    """A mechanism switch: off with probability 1/SWITCH_OFF_ONE_IN; shrinks towards on."""
    return st.integers(0, SWITCH_OFF_ONE_IN - 1).map(lambda i: i != SWITCH_OFF_ONE_IN - 1)


def mechanisms(overrides: Overrides | None = None) -> SearchStrategy[Mechanisms]:
    """Every mechanism switch drawn on or off independently (mostly on; shrinks towards on)."""
    overrides = overrides or {}
    _reject_unknown_overrides(Mechanisms, overrides)
    drawn = {}
    for f in dataclasses.fields(Mechanisms):
        given = overrides.get(f"mechanisms.{f.name}", switches())
        drawn[f.name] = given if isinstance(given, SearchStrategy) else st.just(given)
    return st.builds(Mechanisms, **drawn)


def parameters(
    overrides: Overrides | None = None,
    markets_from: tuple[str, ...] | None = None,
    presets: tuple[str, ...] | None = None,
    vary: bool = True,
) -> SearchStrategy[Parameters]:
    """A whole, valid, small configuration: every group, every mechanism switch.

    Args:
        overrides: dotted keys of any group fixed to a value or a strategy.
        markets_from: market profiles to start from (default: all shipped).
        presets: policy presets to start from (default: all three).
        vary: redraw parameters around the profile and preset; when false only the sizes in
            `SMALL`, the mechanism switches and the overrides are drawn.
    """
    overrides = dict(overrides or {})
    known = set(declared.GROUPS)
    for key in overrides:
        if key.split(".", 1)[0] not in known:
            raise declared.ConfigError(key, overrides[key], "a known parameter name")

    def part(group: str) -> dict[str, Any]:
        return {k: v for k, v in overrides.items() if k.startswith(group + ".")}

    return st.builds(
        Parameters,
        market=markets(markets_from, part("market"), vary),
        policy=policies(presets, part("policy"), vary),
        partner=partners(part("partner"), vary),
        product=products(part("product"), vary),
        trust=trust_settings(part("trust"), vary),
        vendor=vendors(part("vendor"), vary),
        economy=economies(part("economy"), vary),
        mechanisms=mechanisms(part("mechanisms")),
    )


def seeds() -> SearchStrategy[int]:
    """Root seed entropies (any 32-bit unsigned integer)."""
    return st.integers(min_value=0, max_value=2**32 - 1)


def run_specs(
    overrides: Overrides | None = None,
    *,
    min_years: float = 0.5,
    max_years: float = 3.0,
    markets_from: tuple[str, ...] | None = None,
    presets: tuple[str, ...] | None = None,
    vary: bool = True,
) -> SearchStrategy[RunSpec]:
    """Small, valid run specs: 5-40 clients, 1-4 reps, half a year to three years by default.

    Args:
        overrides: dotted parameter keys fixed to a value or a strategy; `market.clients`
            and `partner.reps` set the size.
        min_years: shortest horizon drawn.
        max_years: longest horizon drawn.
        markets_from: market profiles to start from (default: all shipped).
        presets: policy presets to start from (default: all three).
        vary: see `parameters`.
    """
    if not 0 < min_years <= max_years <= MAX_YEARS:
        raise ValueError(f"run_specs: expected 0 < min_years <= max_years <= {MAX_YEARS}")
    return st.builds(
        RunSpec,
        params=parameters(overrides, markets_from, presets, vary),
        years=st.floats(min_value=min_years, max_value=max_years),
        seed=seeds(),
        replication=st.integers(min_value=0, max_value=9),
    )


def policy_levers(levers: tuple[str, ...] = LEVERS) -> SearchStrategy[dict[str, Any]]:
    """Keyword arguments for `PartnershipModel.set_policy`: one or more levers, new values."""

    @st.composite
    def draw_levers(draw: Any) -> dict[str, Any]:
        chosen = draw(st.lists(st.sampled_from(levers), min_size=1, max_size=4, unique=True))
        return {name: draw(field_values(Policy, name)) for name in sorted(chosen)}

    return draw_levers()
