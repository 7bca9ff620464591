"""Hypothesis properties of the pure decision rules in `agents/rules.py`.

Each test states one property from docs/ODD.md 7.1 in the rule's own terms: bounds that a
rule keeps, and the direction in which it moves when one input grows. Inputs are drawn
from the ranges the parameter declarations in `agents/parameters.py` allow.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents import rules
from agents.parameters import MAX_YEARS

unit = st.floats(0, 1)
positive_unit = st.floats(0.01, 1)
context_score = st.floats(0, 100)
count = st.integers(0, 1000)
gamma = st.floats(0, 10)
n0 = st.floats(0.01, 100)
days = st.floats(0, rules.YEAR_DAYS * MAX_YEARS)  # any day of the longest run


@st.composite
def trust_and_ceiling(draw):
    """A ceiling in [0, 1] and a trust at or below it."""
    ceiling = draw(unit)
    trust = draw(st.floats(0, ceiling))
    return trust, ceiling


favourable_step = st.tuples(st.just("favourable"), unit)
violation_step = st.tuples(
    st.just("violation"),
    st.fixed_dictionaries(
        {
            "severity": unit,
            "beta": unit,
            "commitment": unit,
            "phi": unit,
            "favourable_count": count,
            "gamma": gamma,
            "n0": n0,
        }
    ),
)


# ------------------------------------------------------------------ trust


@given(trust_and_ceiling(), st.lists(st.one_of(favourable_step, violation_step), max_size=40))
def test_trust_stays_between_zero_and_ceiling_for_any_sequence(start, steps):
    trust, ceiling = start
    for kind, arg in steps:
        if kind == "favourable":
            trust = rules.after_favourable(trust, ceiling, arg)
        else:
            trust = rules.after_violation(trust, **arg)
        assert 0.0 <= trust <= ceiling


@given(trust_and_ceiling(), unit)
def test_favourable_interaction_never_lowers_trust(start, alpha):
    trust, ceiling = start
    assert rules.after_favourable(trust, ceiling, alpha) >= trust


@given(unit, unit, unit, unit, unit, count, gamma, n0)
def test_violation_never_raises_trust(trust, severity, beta, commitment, phi, n, g, scale):
    after = rules.after_violation(trust, severity, beta, commitment, phi, n, g, scale)
    assert 0.0 <= after <= trust


@given(unit, unit, unit, unit, unit, positive_unit, count, gamma, n0)
def test_more_commitment_means_less_or_equal_loss(trust, severity, beta, c1, c2, phi, n, g, scale):
    low, high = sorted((c1, c2))
    committed = rules.after_violation(trust, severity, beta, high, phi, n, g, scale)
    uncommitted = rules.after_violation(trust, severity, beta, low, phi, n, g, scale)
    assert committed >= uncommitted


def test_full_commitment_and_buffer_absorb_a_violation():
    assert rules.after_violation(0.6, 1.0, 1.0, commitment=1.0, phi=1.0) == 0.6
    assert rules.after_violation(0.6, 1.0, 0.5, commitment=0.5, phi=0.65) > rules.after_violation(
        0.6, 1.0, 0.5, commitment=0.0, phi=0.65
    )


@given(unit, gamma, n0, count, count)
def test_early_breaches_hurt_more(beta, g, scale, n1, n2):
    early, late = sorted((n1, n2))
    assert rules.effective_beta(beta, early, g, scale) >= rules.effective_beta(beta, late, g, scale)
    assert rules.effective_beta(beta, late, g, scale) >= beta


def test_first_breach_hurts_strictly_more_than_a_late_one():
    assert rules.effective_beta(0.35, 0, 1.0, 4.0) == pytest.approx(0.70)
    assert rules.effective_beta(0.35, 0, 1.0, 4.0) > rules.effective_beta(0.35, 10, 1.0, 4.0)


@given(unit, st.lists(unit, min_size=1, max_size=5), unit, st.lists(unit, max_size=30))
def test_deception_scar_never_heals(ceiling, scars, trust, alphas):
    scarred = ceiling
    for d_scar in scars:
        lower = rules.scarred_ceiling(scarred, d_scar)
        assert 0.0 <= lower <= scarred
        scarred = lower
    # the client model caps trust at the new ceiling when the scar lands
    trust = min(trust, scarred)
    for alpha in alphas:
        trust = rules.after_favourable(trust, scarred, alpha)
        assert trust <= scarred
    assert rules.scarred_ceiling(ceiling, 0.2) == max(0.0, ceiling - 0.2)


# ------------------------------------------------------------------ comfort


@given(unit, count, unit, st.integers(1, 100))
def test_comfort_needs_both_threshold_and_k_interactions(trust, n, theta, k):
    comfortable = rules.is_comfortable(trust, n, theta, k)
    assert comfortable == (trust >= theta and n >= k)
    if trust < theta:
        assert not rules.is_comfortable(trust, 10**6, theta, k)
    if n < k:
        assert not rules.is_comfortable(1.0, n, theta, k)


def test_comfort_interactions_for_the_two_markets():
    assert rules.comfort_interactions(46) == 5  # U.S.
    assert rules.comfort_interactions(92) == 14  # Japan


@given(context_score, context_score)
def test_comfort_interactions_non_decreasing_in_uai(u1, u2):
    low, high = sorted((u1, u2))
    assert 1 <= rules.comfort_interactions(low) <= rules.comfort_interactions(high)


# ------------------------------------------------------------------ commitment


@given(unit, unit, unit, unit)
def test_commitment_month_stays_in_unit_and_moves_toward_target(commitment, trust, benefit, eta):
    after = rules.after_commitment_month(commitment, trust, benefit, eta)
    target = trust * benefit
    assert 0.0 <= after <= 1.0
    assert abs(after - target) <= abs(commitment - target) + 1e-12
    if target > commitment:
        assert commitment <= after <= target + 1e-12
    elif target < commitment:
        assert target - 1e-12 <= after <= commitment


@given(st.floats(-1, 2), st.floats(-1, 2), st.floats(-1, 2))
def test_partner_commitment_target_in_unit(trust, success, weight):
    assert 0.0 <= rules.partner_commitment_target(trust, success, weight) <= 1.0


# ------------------------------------------------------------------ misreads


@given(unit, unit, context_score, context_score, unit)
def test_misread_probability_in_unit(p0, kappa, sender, receiver, bicultural):
    assert 0.0 <= rules.misread_probability(p0, kappa, sender, receiver, bicultural) <= 1.0


@given(unit, unit, context_score, context_score)
def test_bicultural_rep_never_misreads(p0, kappa, sender, receiver):
    assert rules.misread_probability(p0, kappa, sender, receiver, 1.0) == 0.0


@given(unit, unit, context_score, context_score, context_score, unit)
def test_misreads_increase_with_context_gap(p0, kappa, receiver, a, b, bicultural):
    near, far = sorted((a, b), key=lambda c: abs(c - receiver))
    assert rules.misread_probability(p0, kappa, near, receiver, bicultural) <= (
        rules.misread_probability(p0, kappa, far, receiver, bicultural)
    )


def test_misreads_strictly_increase_with_gap_for_a_typical_rep():
    japan_us = rules.misread_probability(0.04, 0.3, 95, 5, 0.4)
    similar = rules.misread_probability(0.04, 0.3, 20, 5, 0.4)
    assert japan_us > similar > rules.misread_probability(0.04, 0.3, 5, 5, 0.4) > 0


# ------------------------------------------------------------------ ramp, churn, ringi


@given(days, days, st.floats(0, 3650))
def test_ramp_in_unit_and_non_decreasing(t1, t2, tau):
    early, late = sorted((t1, t2))
    r_early, r_late = rules.ramp(early, tau), rules.ramp(late, tau)
    assert 0.0 <= r_early <= r_late <= 1.0


def test_ramp_starts_at_zero_and_is_one_without_ramp():
    assert rules.ramp(0.0, 270.0) == 0.0
    assert rules.ramp(0.0, 0.0) == 1.0
    assert rules.ramp(270.0, 270.0) == pytest.approx(1 - math.exp(-1))


@given(unit, unit, unit, unit, unit, unit, st.floats(1, 10))
def test_churn_in_unit_and_non_increasing_in_trust_and_commitment(
    base, sensitivity, t1, t2, c1, c2, factor
):
    t_low, t_high = sorted((t1, t2))
    c_low, c_high = sorted((c1, c2))
    worst = rules.churn_probability(base, sensitivity, t_low, c_low, factor)
    assert 0.0 <= worst <= 1.0
    assert rules.churn_probability(base, sensitivity, t_high, c_low, factor) <= worst
    assert rules.churn_probability(base, sensitivity, t_low, c_high, factor) <= worst
    assert (
        0.0
        <= rules.churn_probability(base, sensitivity, t_high, c_high, factor)
        <= (rules.churn_probability(base, sensitivity, t_high, c_low, factor))
    )


@given(unit, unit, unit)
def test_ringi_approval_probability_in_unit(approval, trust, theta):
    assert 0.0 <= rules.ringi_approval_probability(approval, trust, theta) <= 1.0


# ------------------------------------------------------------------ effort, money


@given(unit, unit, unit, unit)
def test_effort_share_between_min_and_max_outside_downturns(commitment, e1, e2, cut):
    effort_min, effort_max = sorted((e1, e2))
    normal = rules.effort_share(commitment, effort_min, effort_max, False, cut)
    assert effort_min <= normal <= effort_max
    downturn = rules.effort_share(commitment, effort_min, effort_max, True, cut)
    assert 0.0 <= downturn <= normal


@given(st.floats(0, 1e9), st.floats(-1e9, 1e9))
def test_shortfall_in_unit(bookings, target):
    assert 0.0 <= rules.shortfall(bookings, target) <= 1.0


def test_shortfall_examples():
    assert rules.shortfall(0.0, 500_000.0) == 1.0
    assert rules.shortfall(250_000.0, 500_000.0) == 0.5
    assert rules.shortfall(900_000.0, 500_000.0) == 0.0
    assert rules.shortfall(1.0, 0.0) == 0.0


@given(days, unit)
def test_discount_factor_in_half_open_unit(day, rate):
    assert 0.0 < rules.discount_factor(day, rate) <= 1.0


@given(days, st.floats(1, 365 * 100), st.floats(0.01, 1))
def test_discount_factor_decreasing_in_day(day, later_by, rate):
    assert rules.discount_factor(day + later_by, rate) < rules.discount_factor(day, rate)


def test_a_month_end_reached_by_adding_months_belongs_to_that_month():
    day = 0.0
    for month in range(1, 12 * MAX_YEARS + 1):
        day += rules.MONTH_DAYS
        assert rules.month_of_day(day) == month


@given(days.filter(lambda d: d > 0))
def test_a_day_falls_in_the_month_that_contains_it(day):
    month = rules.month_of_day(day)
    assert (month - 1) * rules.MONTH_DAYS - 1e-6 < day <= month * rules.MONTH_DAYS + 1e-6
