"""Calibration targets and stylized facts of docs/ODD.md section 1, each over replications.

All runs are made once per session in a process pool, with common random numbers:
replication r of every policy uses the same root seed, so policy comparisons are paired.
Margins are stated next to each assertion; they were chosen from the spread observed
across replications so that they are stable for these seeds yet still mean something.
"""

from __future__ import annotations

import os
import statistics
from concurrent.futures import ProcessPoolExecutor

import polars as pl
import pytest
from scipy import stats

from agents import parameters
from sim.run import RunSpec, simulate

# About a minute of runs on two cores: `make fast` leaves them out, `make test` runs them.
pytestmark = pytest.mark.slow

SEED = 20261127
REPLICATIONS = 8
MARKETS = ("japan", "us")
PRESETS = parameters.PRESET_NAMES
TARGET_USD = 500_000.0

# The buyers of model version 2 (competitors, no decision, blockers, rep time) move these
# away from their version-1 values; they are recalibrated to MODEL.md's new section 7 by the
# issue "Model v2, the partnership: two sides with money, and a model calibrated to published
# ranges". strict: a test that starts passing must lose this mark.
UNTIL_CALIBRATED = pytest.mark.xfail(
    strict=True, reason="recalibrated by the issue 'Model v2, the partnership' (MODEL.md section 7)"
)

# (market, preset, overrides) of every variant the facts compare
VARIANTS: list[tuple[str, str, tuple]] = [(m, p, ()) for m in MARKETS for p in PRESETS]
for _m in MARKETS:
    VARIANTS += [(_m, "hybrid", (("policy.patience_months", v),)) for v in (12, 36)]
    VARIANTS += [(_m, "hybrid", (("policy.relationship_investment", v),)) for v in (0.1, 0.9)]
    VARIANTS += [(_m, "hybrid", (("policy.overselling", v),)) for v in (0.1, 0.2, 0.4)]


@pytest.fixture(scope="module")
def results() -> dict[tuple, list]:
    specs = [
        RunSpec(params=parameters.build(m, p, dict(ov)), years=5, seed=SEED, replication=r)
        for m, p, ov in VARIANTS
        for r in range(REPLICATIONS)
    ]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        done = list(pool.map(simulate, specs, chunksize=2))
    out: dict[tuple, list] = {}
    for i, variant in enumerate(VARIANTS):
        out[variant] = done[i * REPLICATIONS : (i + 1) * REPLICATIONS]
    return out


def runs(results, market, preset="hybrid", **override) -> pl.DataFrame:
    key = tuple((f"policy.{k}", v) for k, v in override.items())
    return pl.concat([r.runs for r in results[(market, preset, key)]])


def deals(results, market, preset="hybrid", **override) -> pl.DataFrame:
    key = tuple((f"policy.{k}", v) for k, v in override.items())
    return pl.concat([r.deals for r in results[(market, preset, key)]])


def monthly_sum(results, market, column, months, preset="hybrid", **override) -> list[float]:
    """Per replication: the sum of a monthly column over months (first, last)."""
    key = tuple((f"policy.{k}", v) for k, v in override.items())
    first, last = months
    return [
        r.monthly.filter(pl.col("month").is_between(first, last))[column].sum()
        for r in results[(market, preset, key)]
    ]


def cycle_days(frame: pl.DataFrame) -> pl.Series:
    won = frame.filter(pl.col("outcome") == "won")
    return won["decision_day"] - won["first_contact_day"]


def pooled_win_rate(frame: pl.DataFrame) -> float:
    decided = frame.filter(pl.col("outcome") != "open")
    return decided.filter(pl.col("outcome") == "won").height / decided.height


def pooled_renewal_rate(frame: pl.DataFrame) -> float:
    renewals = frame["renewals"].sum()
    return renewals / (renewals + frame["accounts_churned_end"].sum())


def mean(values) -> float:
    return statistics.fmean(values)


# ---------------------------------------------------------------- calibration targets
def test_us_median_days_to_close_is_60_to_120(results):
    median = cycle_days(deals(results, "us", "us_urgency")).median()
    assert 60 <= median <= 120, median


def test_japan_median_days_to_close_is_270_to_450_and_hybrid_shorter(results):
    relationship = cycle_days(deals(results, "japan", "jp_relationship")).median()
    hybrid = cycle_days(deals(results, "japan", "hybrid")).median()
    us = cycle_days(deals(results, "us", "us_urgency")).median()
    assert 270 <= relationship <= 450, relationship
    assert hybrid < relationship, (hybrid, relationship)
    assert hybrid >= 2 * us, (hybrid, us)


@UNTIL_CALIBRATED
def test_us_first_year_revenue_per_rep_is_300k_to_700k(results):
    per_rep = runs(results, "us", "us_urgency")["revenue_per_rep_year1_usd"].mean()
    assert 300_000 <= per_rep <= 700_000, per_rep


def test_japan_first_year_revenue_per_rep_is_below_40_percent_of_target(results):
    for preset in PRESETS:
        per_rep = runs(results, "japan", preset)["revenue_per_rep_year1_usd"]
        assert per_rep.mean() < 0.4 * TARGET_USD, (preset, per_rep.mean())
        assert per_rep.max() < 0.4 * TARGET_USD, (preset, per_rep.max())


def test_japanese_deals_need_several_times_more_meetings_and_documents(results):
    japan = deals(results, "japan", "jp_relationship").filter(pl.col("outcome") == "won")
    us = deals(results, "us", "us_urgency").filter(pl.col("outcome") == "won")
    assert japan["meetings"].mean() >= 2.5 * us["meetings"].mean()
    assert japan["documents"].mean() >= 5 * us["documents"].mean()


# ---------------------------------------------------------------- stylized facts
@UNTIL_CALIBRATED
def test_fact1_impatience_ends_japanese_partnerships_not_us_ones(results):
    def ended(market, months):
        frame = runs(results, market, **({"patience_months": months} if months != 24 else {}))
        return frame["partnership_terminated"].mean(), frame["revenue_total_usd"].mean()

    end12, rev12 = ended("japan", 12)
    for months in (24, 36):
        end_n, rev_n = ended("japan", months)
        assert end12 >= end_n + 0.5, (months, end12, end_n)
        assert rev12 < 0.5 * rev_n, (months, rev12, rev_n)
    us12, us_rev12 = ended("us", 12)
    us24, us_rev24 = ended("us", 24)
    assert abs(us12 - us24) <= 0.25
    assert abs(us_rev12 / us_rev24 - 1) < 0.1


@UNTIL_CALIBRATED
def test_fact2_japanese_cycles_are_twice_as_long_right_skewed_and_grow_with_buyers(results):
    japan = pl.concat([deals(results, "japan", p) for p in ("jp_relationship", "hybrid")])
    us = pl.concat([deals(results, "us", p) for p in PRESETS])
    assert cycle_days(japan).median() >= 2 * cycle_days(us).median()
    jp_first = runs(results, "japan", "hybrid")["first_deal_day"].median()
    us_first = runs(results, "us", "us_urgency")["first_deal_day"].median()
    assert jp_first >= 2 * us_first, (jp_first, us_first)
    # deals opened in the last two years are censored by the horizon (only the quick ones
    # close in time), which hides the right tail: measure the shape on the first three years
    opened_early = japan.filter(pl.col("first_contact_day") < 3 * 365)
    cycles = cycle_days(opened_early).to_numpy()
    assert stats.skew(cycles) > 0.3
    assert cycles.mean() > statistics.median(cycles)
    won = japan.filter(pl.col("outcome") == "won")
    rho, p_value = stats.spearmanr(won["stakeholders"], cycle_days(japan))
    assert rho > 0.05 and p_value < 0.01, (rho, p_value)


def relationship_gap(results, market):
    """(low, high) relationship investment: year-1 bookings, year-5 revenue, win, renewal."""
    levers = ({"relationship_investment": 0.1}, {"relationship_investment": 0.9})
    y1 = [mean(monthly_sum(results, market, "bookings_usd", (1, 12), **lv)) for lv in levers]
    y5 = [mean(monthly_sum(results, market, "revenue_usd", (49, 60), **lv)) for lv in levers]
    win = [pooled_win_rate(deals(results, market, **lv)) for lv in levers]
    renew = [pooled_renewal_rate(runs(results, market, **lv)) for lv in levers]
    return y1, y5, win, renew


@UNTIL_CALIBRATED
def test_fact3_relationship_investment_pays_later_in_japan_not_in_the_us(results):
    _, y5, win, renew = relationship_gap(results, "japan")
    assert y5[1] > 1.1 * y5[0], y5
    assert win[1] > win[0] + 0.03, win
    assert renew[1] > renew[0] + 0.01, renew
    _, us_y5, us_win, _ = relationship_gap(results, "us")
    assert us_y5[1] / us_y5[0] < y5[1] / y5[0] - 0.1, (us_y5, y5)
    assert us_win[1] - us_win[0] < win[1] - win[0] + 0.02, (us_win, win)


@UNTIL_CALIBRATED
def test_fact3_relationship_investment_lowers_japanese_year1_bookings(results):
    y1, _, _, _ = relationship_gap(results, "japan")
    assert y1[1] < 0.8 * y1[0], y1


@UNTIL_CALIBRATED
def test_fact4_overselling_buys_meetings_then_costs_more_in_japan(results):
    def early_meetings(market, o):
        lever = {"overselling": o} if o else {}
        frame = deals(results, market, **lever).filter(pl.col("first_contact_day") < 182)
        return frame["meetings"].sum()

    for market in MARKETS:
        assert early_meetings(market, 0.4) > 1.03 * early_meetings(market, 0.0), market
    honest, oversold = deals(results, "japan"), deals(results, "japan", overselling=0.4)
    assert pooled_win_rate(oversold) < pooled_win_rate(honest) - 0.03
    honest_runs, oversold_runs = runs(results, "japan"), runs(results, "japan", overselling=0.4)
    assert pooled_renewal_rate(oversold_runs) < pooled_renewal_rate(honest_runs) - 0.03
    assert (
        oversold_runs["mean_client_trust_end"].mean() < honest_runs["mean_client_trust_end"].mean()
    )

    def first_net_negative(market):
        base = runs(results, market)["npv_usd"].mean()
        for o in (0.1, 0.2, 0.4):
            if runs(results, market, overselling=o)["npv_usd"].mean() < base:
                return o
        return 1.0

    assert first_net_negative("japan") < first_net_negative("us")


@UNTIL_CALIBRATED
def test_fact5_hybrid_wins_in_japan_us_urgency_holds_in_the_us(results):
    npv = {(m, p): runs(results, m, p)["npv_usd"].mean() for m in MARKETS for p in PRESETS}
    assert npv["japan", "hybrid"] > npv["japan", "jp_relationship"]
    assert npv["japan", "hybrid"] > npv["japan", "us_urgency"]
    assert npv["us", "us_urgency"] >= npv["us", "hybrid"]
