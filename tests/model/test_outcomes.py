"""Invariants of how opportunities end (model version 2), on Hypothesis-drawn small runs.

Every opportunity ends in exactly one of won, lost to a competitor, no decision or stalled
(or is open at the horizon); a blocker only ever ends a deal under consensus; no competitor
wins where there is none; a warm deal is a warm account's.
"""

from __future__ import annotations

import polars as pl
from hypothesis import given

from agents.client import OUTCOMES
from sim import simulate, strategies
from sim.run import run_model

ENDED = set(OUTCOMES) - {"open"}


@given(spec=strategies.run_specs())
def test_every_opportunity_ends_in_exactly_one_outcome(spec):
    result = simulate(spec)
    deals, runs = result.deals, result.runs.row(0, named=True)
    assert deals["outcome"].is_in(list(OUTCOMES)).all()
    ended = deals.filter(pl.col("outcome") != "open")
    assert ended["decision_day"].null_count() == 0
    assert deals.filter(pl.col("outcome") == "open")["decision_day"].null_count() == (
        deals.height - ended.height
    )
    assert (ended.filter(pl.col("outcome") == "won")["value_usd"] > 0).all()
    assert (ended.filter(pl.col("outcome") != "won")["value_usd"] == 0).all()
    counts = {o: int((deals["outcome"] == o).sum()) for o in OUTCOMES}
    assert runs["deals_won"] == counts["won"]
    assert runs["deals_lost_competitor"] == counts["lost_competitor"]
    assert runs["deals_no_decision"] == counts["no_decision"]
    assert runs["deals_stalled"] == counts["stalled"]
    assert runs["deals_open_end"] == counts["open"]
    assert runs["deals_lost"] == counts["lost_competitor"] + counts["no_decision"]
    assert (deals["blockers"] >= 0).all() and (deals["blockers"] <= deals["stakeholders"]).all()


# Every other way to a "no decision" switched off: a freeze, the U.S. value check, a
# walk-away after discovered overselling with no incumbent, and a rejected ringi.
ONLY_BLOCKERS = {
    "mechanisms.freezes": False,
    "mechanisms.value_check": False,
    "mechanisms.overselling": False,
    "mechanisms.ringi": False,
    "mechanisms.blockers": True,
}


@given(spec=strategies.run_specs({**ONLY_BLOCKERS, "market.decision_rule": "champion_buyer"}))
def test_a_blocker_never_ends_a_deal_outside_consensus(spec):
    deals = simulate(spec).deals
    assert (deals["outcome"] != "no_decision").all()


@given(spec=strategies.run_specs({**ONLY_BLOCKERS, "market.decision_rule": "consensus_ringi"}))
def test_under_consensus_a_no_decision_had_a_blocker(spec):
    deals = simulate(spec).deals
    assert (deals.filter(pl.col("outcome") == "no_decision")["blockers"] > 0).all()


@given(spec=strategies.run_specs({"mechanisms.competitors": False}))
def test_without_competitors_no_deal_is_lost_to_one(spec):
    assert (simulate(spec).deals["outcome"] != "lost_competitor").all()


@given(spec=strategies.run_specs())
def test_a_warm_deal_is_a_warm_account_and_leads_wait_only_for_their_rep(spec):
    model = run_model(spec)
    warm = {c.index for c in model.clients if c.warm}
    for deal in model.recorder.deals:
        assert deal.warm == (deal.client in warm)
    for rep in model.reseller.reps:
        for client in rep.waiting_leads:
            assert client.lead_waiting and client in rep.territory and client.deal is None
