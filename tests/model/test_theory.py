"""Checks against theory: the degenerate configuration of docs/ODD.md 1 is a textbook process.

One stakeholder, Poisson meetings at rate lambda, each favourable with probability q, a
close after k favourable meetings and every other mechanism off: the time to close is
Gamma(k, lambda * q).
"""

import numpy as np
from scipy import stats

from agents import parameters, rules
from sim.run import RunSpec, run_model

INTERVAL_DAYS = 10.0  # mean days between meetings: lambda = 0.1 per day
FIT = 0.6  # q, since favourable_base = 1 makes q = fit at any trust

DEGENERATE = {
    "market.clients": 400,
    "market.stakeholders_min": 1,
    "market.stakeholders_max": 1,
    "market.theta": 0.0,
    "market.favourable_base": 1.0,
    "market.meeting_accept_prob": 1.0,
    "market.meeting_interval_min_days": INTERVAL_DAYS,
    "market.meeting_interval_max_days": INTERVAL_DAYS,
    "product.fit": FIT,
    "policy.proposal_timing": "first_meeting",
    "policy.overselling": 0.0,
    **{
        f"mechanisms.{name}": False
        for name in (
            "misreads",
            "documents",
            "incidents",
            "overselling",
            "ringi",
            "poc",
            "stalls",
            "ramp",
            "capacity",
            "trust_in_favourable",
            "value_check",
            "wiifm",
            "relationship",
            "reviews",
            "downturns",
            "prospecting",
            "individual_outcomes",
            "blockers",
            "competitors",
            "freezes",
            "warm_accounts",
            "comfort_setback",
            "presale_commitment",
            "reputation",
            "pressure",
            "coselling",
            "budgets",
        )
    },
}


def close_times(market: str, seeds: range) -> np.ndarray:
    days = []
    for seed in seeds:
        spec = RunSpec(params=parameters.build(market, "hybrid", DEGENERATE), years=4, seed=seed)
        model = run_model(spec)
        for deal in model.recorder.deals:
            assert deal.outcome == "won"
            days.append(deal.decision_day - deal.first_contact_day)
    return np.array(days)


def test_time_to_close_is_gamma_k_lambda_q():
    k = rules.comfort_interactions(parameters.load_market("us").culture.uai)
    assert k == 5
    days = close_times("us", range(3))
    rate = FIT / INTERVAL_DAYS
    assert len(days) == 1200
    result = stats.kstest(days, stats.gamma(a=k, scale=1.0 / rate).cdf)
    assert result.pvalue > 0.01, result
    # mean k/(lambda q) = 83.3 days, variance k/(lambda q)^2 = 1389: within 5% and 15%
    assert abs(days.mean() / (k / rate) - 1) < 0.05
    assert abs(days.var() / (k / rate**2) - 1) < 0.15


def test_japanese_k_gives_a_longer_gamma():
    k = rules.comfort_interactions(parameters.load_market("japan").culture.uai)
    assert k == 14
    overrides = {**DEGENERATE, "mechanisms.ringi": False}
    spec = RunSpec(params=parameters.build("japan", "hybrid", overrides), years=8, seed=11)
    days = np.array([d.decision_day - d.first_contact_day for d in run_model(spec).recorder.deals])
    rate = FIT / INTERVAL_DAYS
    assert stats.kstest(days, stats.gamma(a=k, scale=1.0 / rate).cdf).pvalue > 0.01
