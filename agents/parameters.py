"""Frozen, validated parameter groups: Market, Policy, Partner, Product, Trust, VendorParameters,
EconomyParameters.

Every parameter is declared once with `param(...)` (`agents/declarations.py`): its default,
unit, allowed range and a one-line description. Validation, the `partnersim presets` listing,
dotted overrides (`policy.patience_months=12`) and the flat columns of the runs table all read
that declaration, so a parameter cannot be added in one place and forgotten in another.
Markets are data: one TOML profile per country in `agents/markets/`.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import field
from importlib import resources
from typing import Any, ClassVar

from agents.declarations import MAX_USD as MAX_USD
from agents.declarations import MAX_YEARS as MAX_YEARS
from agents.declarations import MISSING as MISSING
from agents.declarations import ConfigError as ConfigError
from agents.declarations import ParameterGroup, param, range_text
from agents.declarations import frozen as frozen
from agents.declarations import is_integer as is_integer
from agents.declarations import is_real as is_real
from agents.declarations import ordered_pairs as ordered_pairs


@frozen
class Culture(ParameterGroup):
    """Hofstede 6-D scores and Meyer's communicating scale (high-context = 100)."""

    PREFIX: ClassVar[str] = "market.culture"
    pdi: float = param(50.0, "score", 0, 100, "power distance", source="Hofstede Insights")
    idv: float = param(50.0, "score", 0, 100, "individualism", source="Hofstede Insights")
    mas: float = param(50.0, "score", 0, 100, "masculinity", source="Hofstede Insights")
    uai: float = param(50.0, "score", 0, 100, "uncertainty avoidance", source="Hofstede Insights")
    lto: float = param(50.0, "score", 0, 100, "long-term orientation", source="Hofstede Insights")
    ivr: float = param(50.0, "score", 0, 100, "indulgence", source="Hofstede Insights")
    context: float = param(50.0, "score", 0, 100, "communication context", source="Meyer 2014")


@frozen
class Market(ParameterGroup):
    """A country's buyers: buying centers, decision rule, trust rates, deal sizes, cadence."""

    PREFIX: ClassVar[str] = "market"
    ORDERED: ClassVar[tuple[tuple[str, str], ...]] = (
        ("stakeholders_min", "stakeholders_max"),
        ("n_approvers_min", "n_approvers_max"),
        ("meeting_interval_min_days", "meeting_interval_max_days"),
        ("trust_initial", "trust_ceiling"),
    )
    name: str = param("market", "", doc="profile name")
    culture: Culture = field(default_factory=Culture)
    decision_rule: str = param(
        "consensus_ringi",
        "",
        doc="how buyers decide",
        choices=("consensus_ringi", "champion_buyer"),
    )
    clients: int = param(300, "organizations", 1, 1_000_000, "client organizations in the market")
    stakeholders_min: int = param(
        8, "people", 1, 50, "smallest buying center", source="CEB/Gartner"
    )
    stakeholders_max: int = param(
        15, "people", 1, 50, "largest buying center", source="CEB/Gartner"
    )
    alpha: float = param(0.05, "per meeting", 0, 1, "trust gain per favourable interaction")
    beta: float = param(0.35, "per violation", 0, 1, "trust loss rate of a violation")
    theta: float = param(0.55, "trust", 0, 1, "trust needed to be comfortable")
    trust_initial: float = param(0.2, "trust", 0, 1, "stakeholder trust at first contact")
    trust_ceiling: float = param(0.9, "trust", 0, 1, "stakeholder trust ceiling T_max")
    favourable_base: float = param(0.5, "probability", 0, 1, "favourable chance at zero trust")
    doc_prob: float = param(0.4, "per meeting", 0, 1, "chance a meeting raises a document request")
    n_approvers_min: int = param(4, "people", 1, 50, "fewest ringi approvers")
    n_approvers_max: int = param(8, "people", 1, 50, "most ringi approvers")
    ringi_step_days: float = param(
        6.0, "days", 0, 365, "mean time one approver holds the ringi-sho"
    )
    ringi_approval: float = param(
        0.95, "probability", 0, 1, "approval chance of a trusting approver"
    )
    ringi_max_rounds: int = param(3, "rounds", 1, 100, "ringi restarts before the deal is lost")
    deal_value_median_usd: float = param(150_000.0, "USD/year", 0, MAX_USD, "median contract value")
    deal_value_sigma: float = param(0.5, "log-sd", 0, 3, "spread of contract values (lognormal)")
    value_ratio_median: float = param(1.3, "ratio", 0, 10, "median perceived value / price")
    value_ratio_sigma: float = param(0.3, "log-sd", 0, 3, "spread of perceived value / price")
    ramp_tau_days: float = param(270.0, "days", 0, 3650, "rep ramp-up time constant tau")
    meeting_interval_min_days: float = param(
        7.0, "days", 0.1, 365, "mean days between meetings at full urgency"
    )
    meeting_interval_max_days: float = param(
        20.0, "days", 0.1, 365, "mean days between meetings at zero urgency"
    )
    attendance: float = param(
        0.8, "probability", 0, 1, "chance a stakeholder attends a group meeting"
    )
    meeting_seats: int = param(
        50,
        "people",
        1,
        50,
        "most stakeholders one meeting can take: a larger center is met in parts",
    )
    meeting_accept_prob: float = param(0.8, "probability", 0, 1, "chance a meeting is accepted")
    stall_days: float = param(150.0, "days", 0, 3650, "days without progress before a loss")
    wiifm_meetings: int = param(0, "meetings", 0, 100, "meetings before buyers expect a proposal")
    wiifm_stall_factor: float = param(0.5, "ratio", 0, 1, "stall_days multiplier without a pitch")
    too_direct_severity: float = param(0.1, "severity", 0, 1, "violation of an early pitch")
    nonselling_value: float = param(1.0, "ratio", 0, 1, "how much non-selling contacts count")
    nemawashi_counts: float = param(
        0.0, "probability", 0, 1, "chance a favourable one-to-one contact counts toward comfort"
    )
    severity_scale: float = param(1.5, "ratio", 0, 5, "perceived incident severity multiplier")
    incident_trust_share: float = param(1.0, "share", 0, 1, "share of an incident felt as trust")
    deception_trust_share: float = param(
        1.0, "share", 0, 1, "share of discovered overselling felt as lost trust (not a remedy)"
    )
    sla_credit_share: float = param(0.0, "share of value", 0, 1, "SLA credit per unit severity")
    deception_walkaway: float = param(
        0.5, "probability", 0, 1, "chance discovered overselling ends the opportunity"
    )
    partner_sensitivity: float = param(
        1.0, "ratio", 0, 5, "how much pressure and discovered overselling cost partner trust"
    )
    relationship_value: float = param(
        0.0, "per trust", 0, 10, "value buyers add for trust gained in the relationship"
    )
    oversell_credibility: float = param(
        1.0, "ratio", 0, 1, "how much of an oversold value buyers believe"
    )
    partner_trust_weight: float = param(
        0.9, "share", 0, 1, "weight of trust (vs sales success) in the partner's commitment"
    )
    poc_days: float = param(45.0, "days", 0, 365, "proof-of-concept length")
    churn_base: float = param(0.03, "probability/year", 0, 1, "churn at full trust and commitment")
    churn_trust_sensitivity: float = param(0.5, "probability/year", 0, 1, "extra churn at no trust")
    expansion_rate: float = param(0.1, "share/year", 0, 5, "yearly expansion at full trust")
    lead_rate_per_client_year: float = param(
        0.5,
        "leads/client/year",
        0,
        100,
        "leads per client not yet engaged, ramped rep, full effort",
    )
    need_sigma_within: float = param(
        0.3, "log-sd", 0, 3, "spread of stakeholders' need around their organization's"
    )
    blocker_trust_floor: float = param(
        0.1, "trust", 0, 1, "a stakeholder whose trust falls below this blocks the deal"
    )
    freeze_rate_per_year: float = param(
        0.5, "per year", 0, 100, "hazard that the buyer freezes an open deal (no decision)"
    )
    blocker_freeze_rate_per_year: float = param(
        4.0, "per year", 0, 100, "extra freeze hazard while a consensus deal has a blocker"
    )
    incumbent_share: float = param(
        0.6, "share", 0, 1, "clients with a competitor's product in place (else status quo)"
    )
    incumbent_strength_mean: float = param(
        0.5, "strength", 0.01, 0.99, "mean strength of an incumbent (Beta, concentration 2)"
    )
    competitor_weight: float = param(
        0.6, "per strength", 0, 10, "the incumbent's pull, against trust in the vendor"
    )
    budget_window_days: float = param(
        365.0, "days/year", 0, 365, "days a year a new purchase can be funded (365: always)"
    )
    warm_share: float = param(0.3, "share", 0, 1, "clients that are the reseller's own customers")
    warm_trust_transfer: float = param(
        0.5, "share", 0, 1, "of the reseller's trust passed on to a warm account's stakeholders"
    )
    warm_interactions_share: float = param(
        0.3, "share of k", 0, 1, "of comfort's k interactions a warm account has already had"
    )
    warm_lead_weight: float = param(
        3.0, "ratio", 1, 100, "how much likelier a warm account is to be the next lead"
    )
    urgency_pressure_severity: float = param(
        0.03,
        "severity",
        0,
        1,
        "violation per meeting at full urgency, on a stakeholder not at ease",
    )
    reputation_reach: float = param(
        5.0, "organizations", 0, 1_000_000, "organizations that hear of one discovered overselling"
    )
    reputation_trust_loss: float = param(
        0.1, "trust", 0, 1, "starting trust a prospect who heard of overselling loses"
    )
    oversell_remedy_share: float = param(
        0.0, "share of value", 0, 1, "contract remedy paid when overselling is found at an account"
    )
    entry_cost_usd: float = param(
        0.0, "USD", 0, MAX_USD, "one-time cost of entering the market (localisation, legal)"
    )
    country_cost_usd_per_year: float = param(
        0.0, "USD/year", 0, MAX_USD, "fixed yearly cost of the market (manager, marketing funds)"
    )
    direct_churn_factor: float = param(
        2.0, "ratio", 1, 10, "churn multiplier of accounts the vendor serves itself after exit"
    )
    requalify_days: float = param(365.0, "days", 0, 36500, "cool-off before a lost client reopens")


PROPOSAL_TIMINGS = ("first_meeting", "after_key_comfortable", "after_consensus")


@frozen
class Policy(ParameterGroup):
    """The vendor's partnership policy: the levers experiments sweep."""

    PREFIX: ClassVar[str] = "policy"
    name: str = param("custom", "", doc="preset the policy started from")
    urgency: float = param(0.5, "lever", 0, 1, "cadence, early pitch, follow-ups on pending steps")
    relationship_investment: float = param(
        0.5, "lever", 0, 1, "nemawashi contacts, executive visits, co-selling, enablement"
    )
    proposal_timing: str = param(
        "after_key_comfortable", "", doc="when the proposition is made", choices=PROPOSAL_TIMINGS
    )
    overselling: float = param(0.0, "o", 0, 1, "how much the product is oversold")
    support_staff: int = param(4, "people", 1, 10_000, "support desk servers")
    turnaround_days: float = param(3.0, "days", 0, 365, "mean time to answer a document")
    desk_response: int = param(
        1, "switch", 0, 1, "1: hire a desk server when the month's median wait passes turnaround"
    )
    target_per_rep_usd: float = param(500_000.0, "USD/rep/year", 0, MAX_USD, "bookings target")
    patience_months: int = param(36, "months", 0, 1200, "months before the vendor may exit")
    review_months: int = param(3, "months", 1, 120, "months between vendor reviews")
    exit_threshold: float = param(0.3, "share of target", 0, 10, "bookings share that passes")
    forecast_weight: float = param(
        0.5, "share", 0, 1, "share of its pipeline forecast the vendor counts at a review"
    )
    after_exit: str = param(
        "serve", "", doc="accounts after the partnership ends", choices=("serve", "abandon")
    )
    followup_bound: float = param(0.3, "share", 0, 0.9, "most follow-ups can shorten a step")
    nurture_contacts_per_month: float = param(
        3.0, "contacts/month", 0, 100, "non-selling contacts per opportunity at full investment"
    )
    nurture_meeting_length: float = param(
        0.5, "meetings", 0, 10, "rep time of a non-selling contact, in selling meetings"
    )
    exec_visits_per_year: float = param(
        6.0, "visits/year", 0, 365, "executive visits at full investment"
    )


PRESET_NAMES = ("us_urgency", "jp_relationship", "hybrid")


@frozen
class Partner(ParameterGroup):
    """The reseller and its sales team."""

    PREFIX: ClassVar[str] = "partner"
    ORDERED: ClassVar[tuple[tuple[str, str], ...]] = (("effort_min", "effort_max"),)
    reps: int = param(10, "reps", 1, 10_000, "sales reps on the vendor's product")
    meetings_per_week: float = param(15.0, "meetings/week", 0.1, 1000, "rep meeting capacity")
    backlog_limit_weeks: float = param(
        2.0, "weeks", 0, 520, "a rep takes no new lead while its meetings waiting exceed this"
    )
    coselling_share: float = param(
        0.4, "share", 0, 1, "selling meetings vendor staff attend at full relationship investment"
    )
    bicultural: float = param(0.4, "skill", 0, 1, "rep bicultural skill at hire")
    enablement_per_year: float = param(0.3, "skill/year", 0, 1, "skill gain at full enablement")
    enablement_time_share: float = param(
        0.8, "share", 0, 1, "selling time a ramping rep gives to enablement at full investment"
    )
    margin: float = param(0.3, "share", 0, 1, "reseller margin on each sale")
    trust_initial: float = param(0.5, "trust", 0, 1, "reseller trust in the vendor T_R")
    commitment_initial: float = param(0.5, "commitment", 0, 1, "reseller commitment C_R")
    effort_min: float = param(0.05, "share", 0, 1, "effort share at zero commitment")
    effort_max: float = param(0.9, "share", 0, 1, "effort share at full commitment")
    downturn_effort_cut: float = param(0.5, "share", 0, 1, "effort an uncommitted partner moves")
    other_lines_usd_per_rep_year: float = param(
        150_000.0, "USD/rep/year", 0, MAX_USD, "margin a rep's full time earns on other lines"
    )
    rep_cost_usd_per_year: float = param(
        100_000.0, "USD/rep/year", 0, MAX_USD, "the partner's cost of a rep's full time"
    )
    patience_months: int = param(
        18, "months", 0, 1200, "months below both thresholds before the partner leaves"
    )
    exit_commitment: float = param(
        0.25, "commitment", 0, 1, "the partner may leave while its commitment is below this"
    )
    exit_return: float = param(
        0.3, "ratio", 0, 100, "and its return on rep time, against other lines, below this"
    )


@frozen
class Product(ParameterGroup):
    """The vendor's product: fit, quality and what overselling promises."""

    PREFIX: ClassVar[str] = "product"
    fit: float = param(0.9, "probability", 0, 1, "product fit: favourable chance at full trust")
    incident_rate_per_year: float = param(1.5, "incidents/year", 0, 365, "incidents per client")
    severity_mean: float = param(0.3, "severity", 0, 1, "mean incident severity")
    oversell_discovery: float = param(0.8, "d", 0, 1, "discovery chance per unit overselling")
    oversell_accept_lift: float = param(0.5, "per o", 0, 1, "meeting acceptance lift per unit o")
    oversell_value_lift: float = param(0.6, "per o", 0, 5, "perceived value lift per unit o")


@frozen
class Trust(ParameterGroup):
    """Trust and commitment dynamics shared by every market (docs/ODD.md 7.1)."""

    PREFIX: ClassVar[str] = "trust"
    phi: float = param(0.65, "buffer", 0, 1, "commitment buffer against violations")
    eta: float = param(0.1, "per month", 0, 1, "commitment adjustment rate")
    d_scar: float = param(0.2, "trust", 0, 1, "ceiling lost for good to deception")
    gamma: float = param(1.0, "ratio", 0, 10, "extra weight of early breaches", source="Lount 2008")
    n0: float = param(4.0, "interactions", 0.01, 100, "early-breach decay scale")
    p0: float = param(0.04, "probability", 0, 1, "misread chance between equal contexts")
    kappa: float = param(0.3, "probability", 0, 1, "misread chance per context gap")
    deception_severity: float = param(0.7, "severity", 0, 1, "discovered overselling")
    slow_answer_days: float = param(10.0, "days", 0, 3650, "a document answer later is slow")
    slow_answer_severity: float = param(0.05, "severity", 0, 1, "violation of a slow answer")
    pressure_severity: float = param(0.08, "severity", 0, 1, "review demanding the target")
    support_cut_severity: float = param(0.5, "severity", 0, 1, "support cut, to the reseller")
    pressure_scar: float = param(
        0.02, "trust", 0, 1, "reseller ceiling lost to a review demanding the whole target"
    )
    support_cut_scar: float = param(0.15, "trust", 0, 1, "reseller ceiling lost to a support cut")
    reseller_alpha: float = param(0.05, "per event", 0, 1, "reseller trust gain per good event")
    benefit: float = param(0.9, "share", 0, 1, "client's benefit b in commitment's target T*b")
    comfort_setback: float = param(
        4.0, "interactions", 0, 100, "favourable interactions a full breach undoes before comfort"
    )
    presale_commitment_share: float = param(
        0.3, "share of eta", 0, 1, "commitment step of a favourable relationship contact in a sale"
    )
    meeting_correlation: float = param(
        0.5, "probability", 0, 1, "chance an attendee's outcome is the meeting's shared draw"
    )
    coselling_alpha_factor: float = param(
        1.5, "ratio", 1, 10, "trust gain of a meeting vendor staff attend, against a rep's alone"
    )


@frozen
class VendorParameters(ParameterGroup):
    """The vendor's costs and money."""

    PREFIX: ClassVar[str] = "vendor"
    home_context: float = param(5.0, "score", 0, 100, "vendor's communication context (U.S.)")
    discount_rate: float = param(0.1, "per year", 0, 1, "NPV discount rate")
    staff_cost_usd_per_year: float = param(120_000.0, "USD/year", 0, MAX_USD, "per support staff")
    exec_visit_cost_usd: float = param(25_000.0, "USD", 0, MAX_USD, "per executive visit")
    nurture_contact_cost_usd: float = param(300.0, "USD", 0, MAX_USD, "per non-selling contact")
    enablement_usd_per_year: float = param(
        150_000.0, "USD/year", 0, MAX_USD, "co-selling and enablement at full investment"
    )
    support_cut_factor: float = param(0.5, "share", 0, 1, "staff kept after a support cut")
    direct_service_usd_per_account_year: float = param(
        15_000.0, "USD/account/year", 0, MAX_USD, "serving an account directly after exit"
    )
    desk_max_staff: int = param(50, "people", 1, 10_000, "most servers desk_response hires")


@frozen
class EconomyParameters(ParameterGroup):
    """Downturns: Poisson arrivals that cut client budgets."""

    PREFIX: ClassVar[str] = "economy"
    ORDERED: ClassVar[tuple[tuple[str, str], ...]] = (
        ("downturn_min_months", "downturn_max_months"),
    )
    downturns_per_year: float = param(0.25, "per year", 0, 12, "downturn arrival rate")
    downturn_min_months: float = param(6.0, "months", 0, 120, "shortest downturn")
    downturn_max_months: float = param(12.0, "months", 0, 120, "longest downturn")
    prospect_factor: float = param(0.6, "ratio", 0, 1, "prospecting kept in a downturn")
    stall_factor: float = param(0.7, "ratio", 0, 1, "stall_days kept in a downturn")
    churn_factor: float = param(1.5, "ratio", 1, 10, "churn multiplier in a downturn")


@frozen
class Mechanisms(ParameterGroup):
    """Switches: each mechanism can be turned off, down to textbook processes."""

    PREFIX: ClassVar[str] = "mechanisms"
    misreads: bool = param(True, doc="misread meetings")
    documents: bool = param(True, doc="document requests through the support desk")
    incidents: bool = param(True, doc="product incidents")
    overselling: bool = param(True, doc="overselling effects and discovery")
    ringi: bool = param(True, doc="ringi circulation after consensus")
    poc: bool = param(True, doc="proof of concept before the decision")
    stalls: bool = param(True, doc="loss after stall_days without progress")
    ramp: bool = param(True, doc="rep ramp-up (off: reps fully productive at once)")
    capacity: bool = param(True, doc="rep meeting capacity (off: meetings take no rep time)")
    trust_in_favourable: bool = param(True, doc="favourable chance grows with trust")
    value_check: bool = param(True, doc="U.S. rule requires value above price")
    wiifm: bool = param(True, doc="U.S. buyers expect an early proposition")
    relationship: bool = param(True, doc="nemawashi contacts, visits, enablement")
    reviews: bool = param(True, doc="vendor reviews, support cuts and exit")
    partner_exit: bool = param(True, doc="the partner leaves below its thresholds")
    downturns: bool = param(True, doc="economic downturns")
    churn: bool = param(True, doc="renewal churn")
    expansion: bool = param(True, doc="account expansion at renewal")
    prospecting: bool = param(True, doc="reps open opportunities (off: every client opens at t=0)")
    individual_outcomes: bool = param(
        True, doc="a meeting's outcome drawn per attendee (off: one draw for the room)"
    )
    blockers: bool = param(True, doc="low need or lost trust blocks a consensus decision")
    competitors: bool = param(True, doc="an incumbent may win the deal")
    freezes: bool = param(True, doc="the buyer may freeze an open deal (no decision)")
    warm_accounts: bool = param(True, doc="the reseller's own customers start with trust")
    budgets: bool = param(True, doc="a cold account buys only in its yearly budget window")
    comfort_setback: bool = param(True, doc="a breach before comfort undoes interactions")
    presale_commitment: bool = param(True, doc="relationship contacts build commitment in a sale")
    reputation: bool = param(True, doc="discovered overselling lowers later prospects' trust")
    pressure: bool = param(True, doc="urgency is a violation for stakeholders not at ease")
    coselling: bool = param(True, doc="vendor staff attend some meetings: more trust, misreads")


@frozen
class Parameters:
    """Every parameter of one model configuration, grouped."""

    market: Market
    policy: Policy = field(default_factory=Policy)
    partner: Partner = field(default_factory=Partner)
    product: Product = field(default_factory=Product)
    trust: Trust = field(default_factory=Trust)
    vendor: VendorParameters = field(default_factory=VendorParameters)
    economy: EconomyParameters = field(default_factory=EconomyParameters)
    mechanisms: Mechanisms = field(default_factory=Mechanisms)


GROUPS = ("market", "policy", "partner", "product", "trust", "vendor", "economy", "mechanisms")

# docs/ODD.md A.2; est. values. Fields not listed keep the Policy defaults (MODEL.md section 5).
PRESETS: dict[str, Policy] = {
    "us_urgency": Policy(
        name="us_urgency",
        urgency=0.9,
        relationship_investment=0.1,
        proposal_timing="first_meeting",
        overselling=0.4,
    ),
    "jp_relationship": Policy(
        name="jp_relationship",
        urgency=0.2,
        relationship_investment=0.9,
        proposal_timing="after_consensus",
        overselling=0.0,
    ),
    "hybrid": Policy(
        name="hybrid",
        urgency=0.8,
        relationship_investment=0.8,
        proposal_timing="after_key_comfortable",
        overselling=0.0,
    ),
}

# The presets differ only in these; operations (desk, patience, reviews) are shared levers.
STYLE_LEVERS = ("urgency", "relationship_investment", "proposal_timing", "overselling")


def market_names() -> list[str]:
    """Profiles shipped in agents/markets/ (one TOML file per country)."""
    folder = resources.files("agents.markets")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_market(name: str) -> Market:
    """Read a market profile by name (`japan`, `us`, or any file added to agents/markets/)."""
    if name not in market_names():
        raise ConfigError("market", name, "one of " + ", ".join(market_names()))
    text = resources.files("agents.markets").joinpath(f"{name}.toml").read_text()
    data = tomllib.loads(text)
    culture = data.pop("culture", {})
    _reject_unknown("market.culture", culture, Culture)
    _reject_unknown("market", data, Market)
    return Market(name=name, culture=Culture(**culture), **data)


def load_preset(name: str) -> Policy:
    """A policy preset by name."""
    if name not in PRESETS:
        raise ConfigError("policy", name, "one of " + ", ".join(PRESET_NAMES))
    return PRESETS[name]


def _reject_unknown(prefix: str, data: dict[str, Any], cls: type) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise ConfigError(f"{prefix}.{key}", data[key], "a known parameter name")


def build(market: str | Market, policy: str | Policy, overrides: dict[str, Any] | None = None):
    """Parameters for a market and a policy (names or objects), with dotted overrides applied."""
    m = load_market(market) if isinstance(market, str) else market
    p = load_preset(policy) if isinstance(policy, str) else policy
    return with_overrides(Parameters(market=m, policy=p), overrides or {})


# The names say which profile and preset the parameters came from; setting one would relabel
# the runs without changing the model.
CHOSEN_BY_NAME = {
    "market.name": "a market chosen by name (--market, base.market or a `market` sweep)",
    "policy.name": "a preset chosen by name (--policy, base.policy or a `policy` sweep)",
}


def with_overrides(params: Parameters, overrides: dict[str, Any]) -> Parameters:
    """Apply `{"policy.patience_months": 12}`; unknown keys and bad values raise ConfigError.

    All changes to one group are applied together, so cross-field checks (min <= max) see
    the final values whatever the order of the keys.
    """
    return _apply(params, {tuple(key.split(".")): value for key, value in overrides.items()}, "")


def _apply(obj: Any, changes: dict[tuple[str, ...], Any], prefix: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(obj)}
    direct: dict[str, Any] = {}
    nested: dict[str, dict[tuple[str, ...], Any]] = {}
    for path, value in sorted(changes.items()):
        key = prefix + ".".join(path)
        head = path[0]
        child = getattr(obj, head, None) if head in fields else None
        is_group = dataclasses.is_dataclass(child)
        if head not in fields or is_group != (len(path) > 1):
            raise ConfigError(key, value, "a known parameter name (see `partnersim presets`)")
        if is_group:
            nested.setdefault(head, {})[path[1:]] = value
            continue
        if key in CHOSEN_BY_NAME and value != getattr(obj, head):
            raise ConfigError(key, value, CHOSEN_BY_NAME[key])
        if type(fields[head].default) is float and type(value) is int:
            value = float(value)
        direct[head] = value
    for head, sub in nested.items():
        direct[head] = _apply(getattr(obj, head), sub, f"{prefix}{head}.")
    # validation in __post_init__ names keys by the group's PREFIX, so errors are dotted
    return dataclasses.replace(obj, **direct) if direct else obj


def parameter_table(params: Parameters) -> list[dict[str, Any]]:
    """One row per scalar parameter: dotted key, value, unit, range, description, source."""
    rows: list[dict[str, Any]] = []

    def walk(obj: Any, prefix: str) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            key = f"{prefix}.{f.name}"
            if dataclasses.is_dataclass(value):
                walk(value, key)
                continue
            meta = f.metadata
            if meta.get("choices"):
                allowed = " | ".join(meta["choices"])
            elif type(value) is bool:
                allowed = "true | false"
            elif type(value) is str:
                allowed = "text"
            else:
                allowed = range_text(meta.get("low"), meta.get("high"))
            rows.append(
                {
                    "key": key,
                    "value": value,
                    "unit": meta.get("unit", ""),
                    "range": allowed,
                    "doc": meta.get("doc", ""),
                    "source": meta.get("source", "est."),
                }
            )

    for group in GROUPS:
        walk(getattr(params, group), group)
    return rows


def flatten(params: Parameters) -> dict[str, Any]:
    """Every scalar parameter by its dotted name, for the runs table."""
    return {row["key"]: row["value"] for row in parameter_table(params)}
