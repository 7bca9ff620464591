"""Hypothesis properties of the buyers' rules (model version 2): blockers, the incumbent,
freezes, budgets, warm accounts, reputation, pressure, absolute violations and setbacks."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from agents import rules

unit = st.floats(0, 1)
positive = st.floats(0, 10)
days = st.floats(0, 3650)


@given(trust=unit, severity=unit, beta=unit, commitment=unit, phi=unit, n=st.integers(0, 50))
def test_a_violation_costs_the_same_absolute_trust_at_any_trust_level(
    trust, severity, beta, commitment, phi, n
):
    after = rules.after_violation(trust, severity, beta, commitment, phi, n, 1.0, 4.0)
    loss = rules.effective_beta(beta, n, 1.0, 4.0) * severity * (1 - phi * commitment)
    assert 0.0 <= after <= trust
    assert math.isclose(after, max(0.0, trust - loss), abs_tol=1e-12)


@given(severity=unit, beta=st.floats(0.01, 1), early=st.integers(0, 5), late=st.integers(6, 60))
def test_an_early_breach_costs_at_least_as_much_as_a_late_one(severity, beta, early, late):
    at_early = rules.after_violation(1.0, severity, beta, 0, 0, early, 1.0, 4.0)
    at_late = rules.after_violation(1.0, severity, beta, 0, 0, late, 1.0, 4.0)
    assert at_early <= at_late


@given(n=st.integers(0, 100), severity=unit, setback=st.floats(0, 100))
def test_a_setback_undoes_rounded_interactions_never_below_zero(n, severity, setback):
    after = rules.after_setback(n, severity, setback)
    assert 0 <= after <= n
    assert after == max(0, n - math.floor(setback * severity + 0.5))


@given(need=positive, lift=positive, bond=st.floats(-1, 10))
def test_perceived_need_grows_with_the_lift_and_the_bond(need, lift, bond):
    base = rules.perceived_need(need, lift, bond)
    assert base >= 0
    assert rules.perceived_need(need, lift + 0.1, bond) >= base
    assert rules.perceived_need(need, lift, bond + 0.1) >= base


@given(perceived=positive, trust=unit, floor=unit)
def test_a_blocker_lacks_value_or_trust(perceived, trust, floor):
    assert rules.is_blocker(perceived, trust, floor) == (perceived < 1.0 or trust < floor)


@given(strength=unit, weight=positive, trust=unit)
def test_the_incumbent_wins_more_when_stronger_and_less_against_more_trust(strength, weight, trust):
    p = rules.competitor_probability(strength, weight, trust)
    assert 0.0 <= p <= 1.0
    assert rules.competitor_probability(min(1.0, strength + 0.1), weight, trust) >= p
    assert rules.competitor_probability(strength, weight, min(1.0, trust + 0.1)) <= p
    assert rules.competitor_probability(0.0, weight, trust) == 0.0


@given(rate=st.floats(0, 100), short=days, extra=days)
def test_a_freeze_is_likelier_the_longer_a_deal_stays_open(rate, short, extra):
    p_short = rules.event_probability(rate, short)
    assert 0.0 <= p_short <= 1.0
    assert rules.event_probability(rate, short + extra) >= p_short


@given(day=days, start=st.floats(0, 365), window=st.floats(0, 365))
def test_a_budget_wait_ends_at_a_window_opening(day, start, window):
    wait = rules.budget_wait_days(day, start, window)
    assert 0.0 <= wait <= rules.YEAR_DAYS
    if window >= rules.YEAR_DAYS:
        assert wait == 0.0
    elif wait > 0:  # after the wait the window is open: at its start, within rounding
        into = (day + wait - start) % rules.YEAR_DAYS
        assert into < 1e-6 or into > rules.YEAR_DAYS - 1e-6


@given(trust=unit, ceiling=unit, reseller=unit, transfer=unit)
def test_warm_trust_lies_between_the_cold_start_and_the_ceiling(trust, ceiling, reseller, transfer):
    warm = rules.warm_trust(trust, ceiling, reseller, transfer)
    assert warm >= trust
    assert warm <= max(trust, ceiling)
    assert rules.warm_trust(trust, ceiling, min(1.0, reseller + 0.1), transfer) >= warm


@given(
    trust=unit,
    discoveries=st.integers(0, 1000),
    reach=st.floats(0, 1000),
    organizations=st.integers(1, 100_000),
    loss=unit,
)
def test_reputation_lowers_starting_trust_by_at_most_its_loss(
    trust, discoveries, reach, organizations, loss
):
    start = rules.reputation_trust(trust, discoveries, reach, organizations, loss)
    assert max(0.0, trust - loss) - 1e-12 <= start <= trust
    assert rules.reputation_trust(trust, discoveries + 1, reach, organizations, loss) <= start


@given(urgency=st.floats(-1, 2), severity=unit)
def test_pressure_grows_with_urgency_and_is_a_severity(urgency, severity):
    s = rules.pressure_severity(urgency, severity)
    assert 0.0 <= s <= severity
    assert rules.pressure_severity(0.0, severity) == 0.0
