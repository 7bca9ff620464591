"""Pure decision rules of the model (docs/ODD.md 7.1): trust, comfort, misreads, churn, effort.

Nothing here imports simpy, mesa or polars: state and parameters in, value out. Every
function keeps its result inside the bounds it documents, which the property tests check.
"""

from __future__ import annotations

import math

MONTH_DAYS = 365.0 / 12.0
YEAR_DAYS = 365.0


def clamp(x: float, low: float = 0.0, high: float = 1.0) -> float:
    """x limited to [low, high]."""
    return low if x < low else high if x > high else x


def after_favourable(trust: float, ceiling: float, alpha: float) -> float:
    """Trust moves a fraction alpha of the way to its ceiling; stays in [0, ceiling]."""
    if trust >= ceiling:
        return ceiling
    return trust + alpha * (ceiling - trust)


def effective_beta(beta: float, favourable_count: float, gamma: float, n0: float) -> float:
    """Early breaches hurt more: beta * (1 + gamma * exp(-n / n0))."""
    return beta * (1.0 + gamma * math.exp(-favourable_count / n0))


def after_violation(
    trust: float,
    severity: float,
    beta: float,
    commitment: float = 0.0,
    phi: float = 0.0,
    favourable_count: float = 0.0,
    gamma: float = 0.0,
    n0: float = 1.0,
) -> float:
    """Trust after a violation of severity in [0, 1]; the commitment buffer phi*C softens it.

    T <- max(0, T - beta_eff * s * (1 - phi * C)): the loss is absolute, not a share of T, so
    the same breach costs as much early as late, and more early through beta_eff.
    """
    loss = effective_beta(beta, favourable_count, gamma, n0) * severity * (1.0 - phi * commitment)
    return max(0.0, trust - loss)


def after_setback(favourable_count: int, severity: float, setback: float) -> int:
    """A breach before comfort undoes round(setback * s) favourable interactions, not below 0."""
    return max(0, favourable_count - math.floor(setback * severity + 0.5))


def scarred_ceiling(ceiling: float, d_scar: float) -> float:
    """Deception lowers the trust ceiling for good: T_max - d_scar, never below 0."""
    return max(0.0, ceiling - d_scar)


def comfort_interactions(uai: float) -> int:
    """Favourable interactions k needed to be comfortable, from uncertainty avoidance.

    u* = 0.5 - 0.4 * UAI / 100 and k = ceil(2 / u* - 2): U.S. (46) gives 5, Japan (92) 14.
    """
    u_star = 0.5 - 0.4 * uai / 100.0
    # round first so that exact integers (e.g. UAI 0 -> k = 2) are not pushed up by float error
    return max(1, math.ceil(round(2.0 / u_star - 2.0, 9)))


def is_comfortable(trust: float, favourable_count: int, theta: float, k: int) -> bool:
    """Comfortable needs both trust >= theta and at least k favourable interactions."""
    return trust >= theta and favourable_count >= k


def after_commitment_month(commitment: float, trust: float, benefit: float, eta: float) -> float:
    """Monthly commitment step C <- C + eta * (T * b - C); stays in [0, 1]."""
    # clamp written out here and in favourable_probability: both run in the hot loop
    # (each stakeholder every month; every meeting)
    c = commitment + eta * (trust * benefit - commitment)
    return 0.0 if c < 0.0 else 1.0 if c > 1.0 else c


def partner_commitment_target(trust: float, success: float, trust_weight: float) -> float:
    """What the partner's commitment tends to: trust and sales success, weighted; in [0, 1]."""
    w = clamp(trust_weight)
    return clamp(w * clamp(trust) + (1.0 - w) * clamp(success))


def misread_probability(
    p0: float, kappa: float, context_sender: float, context_receiver: float, bicultural: float
) -> float:
    """p_mis = (p0 + kappa * |context gap| / 100) * (1 - bicultural), in [0, 1]."""
    gap = abs(context_sender - context_receiver) / 100.0
    return clamp((p0 + kappa * gap) * (1.0 - bicultural))


def favourable_probability(fit: float, base: float, trust: float) -> float:
    """q: product fit scaled by trust, `base` of it at zero trust; in [0, 1]."""
    t = 0.0 if trust < 0.0 else 1.0 if trust > 1.0 else trust
    q = fit * (base + (1.0 - base) * t)
    return 0.0 if q < 0.0 else 1.0 if q > 1.0 else q


def ramp(days_since_hire: float, tau_days: float) -> float:
    """Rep productivity r(t) = 1 - exp(-t / tau); 1 when tau is 0."""
    if tau_days <= 0.0:
        return 1.0
    return 1.0 - math.exp(-(days_since_hire if days_since_hire > 0.0 else 0.0) / tau_days)


def meeting_interval_days(urgency: float, shortest_days: float, longest_days: float) -> float:
    """Mean days between meetings: urgency 1 gives the market's shortest, 0 its longest."""
    return longest_days - urgency * (longest_days - shortest_days)


def followup_factor(urgency: float, bound: float) -> float:
    """Follow-ups shorten a pending step (document, ringi) by at most `bound`."""
    return 1.0 - clamp(bound) * clamp(urgency)


def perceived_severity(severity: float, scale: float) -> float:
    """Severity as the client feels it: high expectations scale it up; in [0, 1]."""
    return clamp(severity * scale)


def ringi_approval_probability(approval: float, trust: float, theta: float) -> float:
    """An approver approves with probability approval * min(1, T / theta)."""
    if theta <= 0.0:
        return clamp(approval)
    return clamp(approval * min(1.0, trust / theta))


def churn_probability(
    base: float, sensitivity: float, trust: float, commitment: float, factor: float = 1.0
) -> float:
    """Churn at renewal falls with trust and commitment: (base + s * (1 - (T + C) / 2)) * factor."""
    return clamp((base + sensitivity * (1.0 - 0.5 * (trust + commitment))) * factor)


def effort_share(
    commitment: float, effort_min: float, effort_max: float, downturn: bool, downturn_cut: float
) -> float:
    """Share of rep time on this vendor, f(C_R); in a downturn the uncommitted part shifts away."""
    effort = effort_min + (effort_max - effort_min) * clamp(commitment)
    if downturn:
        effort *= 1.0 - downturn_cut * (1.0 - clamp(commitment))
    return clamp(effort)


def shortfall(bookings_usd: float, target_usd: float) -> float:
    """Share of the target not reached, in [0, 1]; 0 when there is no target."""
    if target_usd <= 0.0:
        return 0.0
    return clamp(1.0 - bookings_usd / target_usd)


def month_of_day(day: float) -> int:
    """The month (1, 2, ...) that `day` falls in; a month's last instant belongs to it.

    Days summed from months (`k * MONTH_DAYS` added up step by step) carry rounding error
    of a few ulps, which must not push a month's end into the next month.
    """
    return math.ceil(round(day / MONTH_DAYS, 9))


def discount_factor(day: float, rate_per_year: float) -> float:
    """Present value of one dollar paid on `day`, at `rate_per_year`."""
    return (1.0 + rate_per_year) ** (-day / YEAR_DAYS)


def perceived_need(need: float, oversell_lift: float, bond: float) -> float:
    """A stakeholder's value against the price: its need, lifted by what overselling promises
    and by the relationship (`bond`, value added for trust gained); >= 0."""
    return max(0.0, need) * (1.0 + max(0.0, oversell_lift)) * (1.0 + max(0.0, bond))


def is_blocker(perceived: float, trust: float, trust_floor: float) -> bool:
    """A stakeholder blocks when the offer is worth less than its price, or its trust is lost."""
    return perceived < 1.0 or trust < trust_floor


def competitor_probability(strength: float, weight: float, trust: float) -> float:
    """The incumbent wins with its pull against trust in the vendor (a Luce choice), in [0, 1].

    p = w s / (w s + T): rises with the incumbent's strength s, falls with trust T; 0 when
    there is no incumbent, 1 when the vendor has no trust left against a real incumbent.
    """
    pull = max(0.0, weight) * clamp(strength)
    if pull <= 0.0:
        return 0.0
    return pull / (pull + clamp(trust))


def event_probability(rate_per_year: float, days: float) -> float:
    """Chance that a Poisson event of `rate_per_year` happens within `days`, in [0, 1]."""
    if rate_per_year <= 0.0 or days <= 0.0:
        return 0.0
    return 1.0 - math.exp(-rate_per_year * days / YEAR_DAYS)


def warm_trust(trust: float, ceiling: float, reseller_trust: float, transfer: float) -> float:
    """Trust a warm account starts with: a share of the reseller's trust in the vendor carries
    over, towards the ceiling; never below `trust`, never above `ceiling`."""
    if trust >= ceiling:
        return trust
    return trust + clamp(transfer) * clamp(reseller_trust) * (ceiling - trust)


def reputation_trust(
    trust_initial: float, discoveries: int, reach: float, organizations: int, loss: float
) -> float:
    """Starting trust of a new prospect after `discoveries` of overselling in its market.

    Each discovery reaches `reach` of the market's `organizations`, at random: the share that
    has heard is 1 - exp(-reach * discoveries / organizations), and a prospect starts `loss`
    lower in proportion; never below 0.
    """
    if organizations <= 0 or discoveries <= 0:
        return trust_initial
    heard = 1.0 - math.exp(-max(0.0, reach) * discoveries / organizations)
    return max(0.0, trust_initial - clamp(loss) * heard)


def budget_wait_days(day: float, window_start_day: float, window_days: float) -> float:
    """Days from `day` until a yearly budget window opens (0 inside the window).

    The window opens each year at `window_start_day` (mod 365) and lasts `window_days`.
    """
    if window_days >= YEAR_DAYS:
        return 0.0
    into = (day - window_start_day) % YEAR_DAYS
    return 0.0 if into < window_days else YEAR_DAYS - into


def pressure_severity(urgency: float, severity_at_full_urgency: float) -> float:
    """Violation of one pushed deadline or follow-up on a stakeholder not yet at ease."""
    return clamp(clamp(urgency) * severity_at_full_urgency)


def partner_return(margin_usd: float, rep_time_value_usd: float) -> float:
    """The partner's return on the rep time it gives the vendor: its margin on the vendor's
    sales over what that time earns on its other lines; >= 0 (0 when no time was given)."""
    if rep_time_value_usd <= 0.0:
        return 0.0
    return max(0.0, margin_usd) / rep_time_value_usd


def seen_bookings(bookings_usd: float, forecast_usd: float, forecast_weight: float) -> float:
    """What a review sees: bookings plus a weighted share of the (maybe inflated) forecast."""
    return bookings_usd + clamp(forecast_weight) * max(0.0, forecast_usd)


def churn_rate(churned: int, renewed: int) -> float | None:
    """Annual logo churn: accounts lost among those that came up for renewal; None if none did."""
    due = churned + renewed
    return churned / due if due else None


def break_even_month(cumulative_net_cash_usd: list[float]) -> int | None:
    """The first month (1, 2, ...) whose cumulative net cash is >= 0; None if none is."""
    for month, cash in enumerate(cumulative_net_cash_usd, start=1):
        if cash >= 0.0:
            return month
    return None


def perpetuity_value(yearly_usd: float, churn: float, rate: float) -> float:
    """Present value a year before the first of yearly payments that shrink by `churn` a year:
    sum over t >= 1 of yearly * (1 - churn)^t / (1 + rate)^t = yearly * (1 - c) / (r + c)."""
    keep = 1.0 - clamp(churn)
    if rate + (1.0 - keep) <= 0.0:
        return 0.0  # no discount and no churn: no finite value
    return yearly_usd * keep / (rate + 1.0 - keep)


def attendance_probability(attendance: float, seats: int, stakeholders: int) -> float:
    """Chance a stakeholder attends a group meeting: `attendance`, scaled by seats / N when
    the buying center has more stakeholders than a meeting takes; in [0, 1]."""
    if stakeholders <= seats:
        return clamp(attendance)
    return clamp(attendance * seats / stakeholders)
