"""Directed tests of the buyers' mechanisms (model version 2, docs/ODD.md 7.3): each shows its
behaviour over replications, against the same runs with its switch off where it has one.

Reviews are off unless a test needs them, so that no partnership ends mid-test and every
difference comes from the mechanism under test. Runs share seeds (common random numbers).
"""

from __future__ import annotations

import math
import statistics

import polars as pl
import pytest

from agents.client import ClientOrganization
from sim import make_spec, simulate
from sim.run import run_model

SEED = 20261206
NO_REVIEWS = {"mechanisms.reviews": False}
JAPAN_SMALL = {**NO_REVIEWS, "market.clients": 150, "partner.reps": 5}
US_SMALL = {**NO_REVIEWS, "market.clients": 250, "partner.reps": 5}


def deals(
    market: str,
    policy: str,
    overrides: dict,
    *,
    replications: int = 8,
    years: float = 3,
    seed_offset: int = 0,
) -> pl.DataFrame:
    """The deals tables of `replications` runs (from replication `seed_offset`), one frame."""
    frames = [
        simulate(make_spec(market, policy, overrides, seed=SEED, replication=r, years=years)).deals
        for r in range(seed_offset, seed_offset + replications)
    ]
    return pl.concat(frames)


def ended(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("outcome") != "open")


def share(frame: pl.DataFrame, outcome: str) -> tuple[float, float]:
    """Share of ended deals with `outcome`, and its standard error."""
    done = ended(frame)
    p = float((done["outcome"] == outcome).mean())
    return p, math.sqrt(p * (1 - p) / done.height)


def median_cycle_days(frame: pl.DataFrame) -> float:
    won = frame.filter(pl.col("outcome") == "won")
    return float((won["decision_day"] - won["first_contact_day"]).median())


def assert_higher(high: tuple[float, float], low: tuple[float, float], what: str) -> None:
    """high's share exceeds low's by more than 2 standard errors of the difference."""
    gap = high[0] - low[0]
    se = math.hypot(high[1], low[1])
    assert gap > 2 * se, f"{what}: {high[0]:.3f} vs {low[0]:.3f} (2 se = {2 * se:.3f})"


@pytest.mark.slow
def test_a_sixteen_person_buying_center_buys_less_often_than_a_four_person_one():
    """Consensus with blockers: every extra stakeholder is one more who may block."""

    def center(size: int) -> pl.DataFrame:
        sized = {**JAPAN_SMALL, "market.stakeholders_min": size, "market.stakeholders_max": size}
        return deals("japan", "jp_relationship", sized)

    small, large = center(4), center(16)
    assert_higher(share(small, "won"), share(large, "won"), "win rate, 4 vs 16 stakeholders")
    assert_higher(share(large, "no_decision"), share(small, "no_decision"), "no decision")
    # the blockers themselves: more of the large centers' deals end with one
    assert ended(large)["blockers"].mean() > 2 * ended(small)["blockers"].mean()


def crowding() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Japan under hybrid with 30 and 120 clients per rep."""
    return deals("japan", "hybrid", JAPAN_SMALL), deals(
        "japan", "hybrid", {**JAPAN_SMALL, "market.clients": 600}
    )


@pytest.mark.slow
def test_four_times_the_clients_per_rep_lengthens_cycles_and_lowers_win_rates():
    """Rep time is the bound: leads follow the clients not yet engaged, meetings wait."""
    base, crowded = crowding()
    # paired by replication (common random numbers): each run's median cycle, crowded - base
    longer = [
        median_cycle_days(crowded.filter(pl.col("run_id") == b))
        - median_cycle_days(base.filter(pl.col("run_id") == a))
        for a, b in zip(
            base["run_id"].unique(maintain_order=True),
            crowded["run_id"].unique(maintain_order=True),
            strict=True,
        )
    ]
    assert statistics.mean(longer) > 2 * statistics.stdev(longer) / len(longer) ** 0.5, longer
    assert median_cycle_days(crowded) > 1.1 * median_cycle_days(base)
    assert_higher(share(base, "won"), share(crowded, "won"), "win rate, 4x clients")
    assert_higher(share(crowded, "no_decision"), share(base, "no_decision"), "no decision")


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="stalls barely rise (0.6% against 0.5% of ended deals): a rep with more than "
    "partner.backlog_limit_weeks of meetings waiting lets new leads wait instead, so the "
    "overload shows as leads waiting, longer cycles and more no decision",
)
def test_four_times_the_clients_per_rep_raises_stalls():
    base, crowded = crowding()
    assert_higher(share(crowded, "stalled"), share(base, "stalled"), "stalls, 4x clients")


@pytest.mark.slow
@pytest.mark.parametrize(("market", "policy", "small"), [
    ("japan", "jp_relationship", JAPAN_SMALL),
    ("us", "us_urgency", US_SMALL),
])  # fmt: skip
def test_warm_accounts_close_sooner_and_more_often(market, policy, small):
    frame = deals(market, policy, small)
    warm, cold = frame.filter(pl.col("warm")), frame.filter(~pl.col("warm"))
    assert warm.height > 50 and cold.height > 50
    assert_higher(share(warm, "won"), share(cold, "won"), f"{market} win rate, warm vs cold")
    assert median_cycle_days(warm) < 0.9 * median_cycle_days(cold)


def test_without_warm_accounts_no_deal_is_warm():
    frame = deals(
        "japan", "hybrid", {**JAPAN_SMALL, "mechanisms.warm_accounts": False}, replications=1
    )
    assert frame.height > 0 and not frame["warm"].any()


@pytest.mark.slow
def test_an_early_breach_costs_more_trust_and_more_deals_than_the_same_breach_late(monkeypatch):
    """A breach of severity 0.5 at a deal's 2nd meeting against the same at its 20th.

    The trust cost is measured at the breach (mean over the buying center). The deal cost is
    the wins lost against the same run without a breach (common random numbers), paired by
    replication: early minus late must exceed twice its standard error.
    """
    severity = 0.5
    pitch = ClientOrganization.maybe_pitch
    replications = range(12)

    def runs_with_breach_at(meeting: int | None) -> tuple[list[int], list[float]]:
        drops: list[float] = []

        def breaching(self, deal):  # called after each selling meeting
            pitch(self, deal)
            if deal.meetings == meeting:
                before = self.mean_trust()
                self.violate_all(severity)
                drops.append(before - self.mean_trust())

        monkeypatch.setattr(ClientOrganization, "maybe_pitch", breaching)
        wins = [
            int(
                (
                    deals("japan", "jp_relationship", JAPAN_SMALL, replications=1, seed_offset=r)[
                        "outcome"
                    ]
                    == "won"
                ).sum()
            )
            for r in replications
        ]
        return wins, drops

    wins_none, _ = runs_with_breach_at(None)
    wins_early, early = runs_with_breach_at(2)
    wins_late, late = runs_with_breach_at(20)
    assert len(early) > 200 and len(late) > 200
    gap = statistics.mean(early) - statistics.mean(late)
    se = math.hypot(
        statistics.stdev(early) / len(early) ** 0.5, statistics.stdev(late) / len(late) ** 0.5
    )
    assert gap > 3 * se and statistics.mean(early) > 1.05 * statistics.mean(late), (gap, se)
    extra_lost = [late - early for early, late in zip(wins_early, wins_late, strict=True)]
    mean = statistics.mean(extra_lost)
    assert mean > 2 * statistics.stdev(extra_lost) / len(extra_lost) ** 0.5, extra_lost
    assert sum(wins_none) - sum(wins_late) > 0  # a late breach still costs some deals


def test_a_breach_before_comfort_undoes_favourable_interactions():
    model = run_model(make_spec("japan", "hybrid", {**JAPAN_SMALL, "market.clients": 5}, years=0.1))
    client = model.clients[0]
    client.favourable[:] = [6] * client.size
    client.violate(0, 0.5)  # round(4 * 0.5) = 2 undone
    client.violate(1, 0.1)  # round(0.4) = 0
    assert client.favourable[:2] == [4, 6]


@pytest.mark.slow
def test_relationship_contacts_build_commitment_before_the_sale():
    def open_deal_commitment(on: bool) -> float:
        switch = {**JAPAN_SMALL, "mechanisms.presale_commitment": on}
        values = []
        for r in range(3):
            model = run_model(
                make_spec("japan", "jp_relationship", switch, seed=SEED, replication=r)
            )
            values += [c for client in model.clients if client.deal for c in client.commitment]
        return statistics.mean(values)

    assert open_deal_commitment(False) == 0.0
    assert open_deal_commitment(True) > 0.005


@pytest.mark.slow
def test_a_stronger_incumbent_wins_more_deals():
    def strength(mean: float) -> pl.DataFrame:
        return deals("us", "us_urgency", {**US_SMALL, "market.incumbent_strength_mean": mean})

    weak, strong = strength(0.2), strength(0.8)
    assert_higher(share(strong, "lost_competitor"), share(weak, "lost_competitor"), "competitor")
    off = deals("us", "us_urgency", {**US_SMALL, "mechanisms.competitors": False}, replications=2)
    assert (off["outcome"] != "lost_competitor").all()


@pytest.mark.slow
def test_urgency_costs_trust_in_japan_and_nothing_in_the_us():
    def runs(market: str, small: dict, pressure: bool) -> pl.DataFrame:
        switch = {**small, "mechanisms.pressure": pressure, "policy.urgency": 1.0}
        return pl.concat(
            simulate(make_spec(market, "hybrid", switch, seed=SEED, replication=r, years=2)).monthly
            for r in range(4)
        )

    # in the U.S. urgency's pressure is 0: the runs are the same, draw for draw
    assert (
        runs("us", US_SMALL, True).drop("run_id").equals(runs("us", US_SMALL, False).drop("run_id"))
    )
    pushed = runs("japan", JAPAN_SMALL, True)["mean_stakeholder_trust"].mean()
    spared = runs("japan", JAPAN_SMALL, False)["mean_stakeholder_trust"].mean()
    assert pushed < spared - 0.01


@pytest.mark.slow
def test_misreads_happen_where_the_cultures_meet():
    """The reseller's reps read their own market's clients at p0; vendor staff in co-selling
    meetings and the vendor reading the partner's reports misread across the context gap."""
    alone = deals("japan", "hybrid", {**JAPAN_SMALL, "mechanisms.coselling": False}, replications=4)
    cosold = deals("japan", "hybrid", JAPAN_SMALL, replications=4)
    rate_alone = alone["misreads"].sum() / (alone["meetings"] + alone["nurture_contacts"]).sum()
    rate_cosold = cosold["misreads"].sum() / (cosold["meetings"] + cosold["nurture_contacts"]).sum()
    p0 = 0.04 * (1 - 0.4)  # trust.p0 and partner.bicultural at hire; enablement lowers it
    assert rate_alone < p0 * 1.1
    assert rate_cosold > 2 * rate_alone
    # the partner's reports: misread in Japan, almost never in the U.S. (same context)
    us = deals("us", "hybrid", US_SMALL, replications=4)
    japan_reports = cosold["forecast_misreads"].sum() / cosold["meetings"].sum()
    us_reports = us["forecast_misreads"].sum() / us["meetings"].sum()
    assert japan_reports > 5 * us_reports
    # bicultural skill on the partner's side: fewer of its reports misread (co-selling off, so
    # that only the reports count)
    skilled = deals(
        "japan",
        "hybrid",
        {**JAPAN_SMALL, "partner.bicultural": 0.9, "mechanisms.coselling": False},
        replications=4,
    )
    alone_reports = alone["forecast_misreads"].sum() / alone["meetings"].sum()
    skilled_reports = skilled["forecast_misreads"].sum() / skilled["meetings"].sum()
    assert skilled_reports < 0.5 * alone_reports, (skilled_reports, alone_reports)


@pytest.mark.slow
def test_discovered_overselling_travels_in_japan_more_than_in_the_us():
    """Reputation: after a run of overselling, a prospect met for the first time starts with
    less trust, much less in Japan's tight networks than in the U.S."""

    def start_trust_loss(market: str, small: dict, reputation: bool) -> float:
        switch = {**small, "policy.overselling": 0.8, "mechanisms.reputation": reputation}
        losses = []
        for r in range(3):
            model = run_model(make_spec(market, "hybrid", switch, seed=SEED, replication=r))
            assert model.oversell_discoveries > 0
            fresh = next(c for c in model.clients if not c.contacted and not c.warm)
            fresh.first_contact()  # what the next cold prospect would start with
            losses.append(model.params.market.trust_initial - fresh.mean_trust())
        return statistics.mean(losses)

    japan, us = start_trust_loss("japan", JAPAN_SMALL, True), start_trust_loss("us", US_SMALL, True)
    assert abs(start_trust_loss("japan", JAPAN_SMALL, False)) < 1e-12
    assert japan > 0.1 and japan > 3 * us, (japan, us)


def test_the_monthly_table_shows_the_desk_and_the_leads():
    monthly = simulate(make_spec("japan", "hybrid", JAPAN_SMALL, seed=SEED, years=2)).monthly
    assert (monthly["desk_queue"] >= 0).all() and (monthly["desk_withdrawn"] >= 0).all()
    waits = monthly["desk_wait_mean_days"].drop_nulls()
    assert waits.len() > 12 and (waits >= 0).all()
    assert (monthly["leads_waiting"] >= 0).all()


@pytest.mark.parametrize("setback", [True, False])
def test_pressing_a_meeting_is_violating_each_attendee_not_at_ease(setback):
    """`press` inlines `violate` for speed: both must leave the buying center the same."""
    overrides = {**JAPAN_SMALL, "market.clients": 5, "mechanisms.comfort_setback": setback}
    # a pressure big enough to set interactions back (round(4 * 0.3) = 1)
    overrides["market.urgency_pressure_severity"] = 0.3
    pressed = run_model(make_spec("japan", "hybrid", overrides, years=0.1)).clients[0]
    violated = run_model(make_spec("japan", "hybrid", overrides, years=0.1)).clients[0]
    for client in (pressed, violated):
        client.favourable[:] = [3 + i for i in range(client.size)]
        client.commitment[:] = [0.1 * (i % 3) for i in range(client.size)]
        client.at_ease[1] = True  # at ease: pressure spares it
    present = [*range(0, violated.size, 2), 1]
    pressed.press(present)
    severity = violated.model.pressure_per_meeting
    for i in present:
        if not violated.at_ease[i]:
            violated.violate(i, severity)
    assert pressed.trust == pytest.approx(violated.trust, abs=1e-12)
    assert pressed.favourable == violated.favourable
