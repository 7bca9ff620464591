"""MODEL.md section 7 (model version 2): the calibration targets and the stylized facts.

Every run is made once, in a process pool of 2, with common random numbers: replication r
of every variant has the same root seed, so the clients and random inputs are the same and
comparisons between policies and levers are paired. Each calibration target compares a
statistic pooled over replications (or a mean over runs) with its range in MODEL.md section 7.
The statistics are those of `partnersim calibrate` (experiments/calibration/statistics.py),
so a calibration and this test measure the same thing. Each stylized fact states its margin
next to its assertion, with the value measured when the margin was chosen (seed 20261206,
8 replications of 5-year runs). A fact or target that the shipped defaults miss stays
here, as a strict xfail whose reason gives the measured value.

docs/ODD.md section 1 lists the same patterns: keep them in step.
"""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import polars as pl
import pytest
from scipy import stats

from agents import parameters
from experiments.calibration.statistics import REGISTRY, Tables
from experiments.runner import local_executor
from sim.run import RunSpec, simulate

# About 150 runs, 70 s on two idle cores: `make fast` leaves them out, `make test` runs them.
pytestmark = pytest.mark.slow

SEED = 20261206
REPLICATIONS = 8
YEARS = 5
WORKERS = 2
TARGET_USD = 500_000.0  # the CEO's first-year revenue per rep (MODEL.md section 1)

PATIENCE_MONTHS = (12, 18, 24, 30, 36)  # fact 1's sweep in Japan; 36 is the default
LATE_PATIENCE_MONTHS = (24, 30, 36)
INVESTMENT_LOW, INVESTMENT_HIGH = 0.1, 0.9  # fact 3's transactional and relationship levels
OVERSELLING = {"japan": (0.1, 0.4), "us": (0.1, 0.4, 0.8)}  # fact 4's grids (o = 0: base)
OVERSOLD = 0.4  # fact 4's short-run and Japanese-damage comparisons (us_urgency's o)
SHORT_RUN_DAYS = 182.0  # fact 4: the first six months


def variant(market: str, preset: str = "hybrid", **levers) -> tuple:
    """A run setting: a market, a preset and the policy levers that differ from the preset's,
    so that a lever at its preset value names the preset's own runs (patience 36 = hybrid)."""
    policy = parameters.load_preset(preset)
    changed = tuple(
        sorted((f"policy.{k}", v) for k, v in levers.items() if getattr(policy, k) != v)
    )
    return (market, preset, changed)


# U.S. runs first: they are the long ones, so the pool ends on short Japanese runs.
VARIANTS = list(
    dict.fromkeys(
        [
            variant("us", "us_urgency"),
            variant("us", "hybrid"),
            variant("us", patience_months=12),
            *(variant("us", relationship_investment=v) for v in (INVESTMENT_LOW, INVESTMENT_HIGH)),
            *(variant("us", overselling=o) for o in OVERSELLING["us"]),
            variant("japan", "jp_relationship"),
            variant("japan", "hybrid"),
            variant("japan", "us_urgency"),
            *(variant("japan", patience_months=m) for m in PATIENCE_MONTHS),
            *(
                variant("japan", relationship_investment=v)
                for v in (INVESTMENT_LOW, INVESTMENT_HIGH)
            ),
            *(variant("japan", overselling=o) for o in OVERSELLING["japan"]),
        ]
    )
)


@pytest.fixture(scope="module")
def results() -> dict[tuple, Tables]:
    """Each variant's runs, monthly and deals tables, its replications together."""
    specs = [
        RunSpec(
            params=parameters.build(market, preset, dict(overrides)),
            years=YEARS,
            seed=SEED,
            replication=r,
        )
        for market, preset, overrides in VARIANTS
        for r in range(REPLICATIONS)
    ]
    with local_executor(WORKERS) as info:
        done = list(info.executor.map(simulate, specs))
    return {
        v: Tables.concat(done[i * REPLICATIONS : (i + 1) * REPLICATIONS])
        for i, v in enumerate(VARIANTS)
    }


# ---------------------------------------------------------------- statistics
def statistic(results, name: str, market: str, preset: str = "hybrid", **levers) -> float:
    """A registered statistic (`partnersim calibrate`'s) of one variant's replications."""
    value = REGISTRY[name].estimate(results[variant(market, preset, **levers)]).value
    assert value is not None, (name, market, preset, levers)
    return value


def runs(results, market, preset="hybrid", **levers) -> pl.DataFrame:
    return results[variant(market, preset, **levers)].runs


def deals(results, market, preset="hybrid", **levers) -> pl.DataFrame:
    return results[variant(market, preset, **levers)].deals


def monthly_sum(results, column, months, market, preset="hybrid", **levers) -> float:
    """Mean over runs of a monthly column's sum over months (first, last), inclusive."""
    monthly = results[variant(market, preset, **levers)].monthly
    first, last = months
    per_run = (
        monthly.filter(pl.col("month").is_between(first, last))
        .group_by("run_id")
        .agg(pl.col(column).sum())
    )
    assert per_run.height == REPLICATIONS
    return per_run[column].mean()


def mean(values) -> float:
    return statistics.fmean(values)


def ended_share(results, market, preset="hybrid", **levers) -> float:
    """Share of runs whose partnership ended (by the vendor or the partner)."""
    return runs(results, market, preset, **levers)["partnership_terminated"].mean()


def days_to_close(frame: pl.DataFrame) -> pl.Series:
    won = frame.filter(pl.col("outcome") == "won")
    return won["decision_day"] - won["first_contact_day"]


def win_rate(frame: pl.DataFrame) -> float:
    """Won / ended deals, pooled (the registry's win_rate on a deals frame)."""
    ended = frame.filter(pl.col("outcome") != "open")
    return ended.filter(pl.col("outcome") == "won").height / ended.height


def renewal_rate(frame: pl.DataFrame) -> float:
    """Renewals / (renewals + churned accounts), pooled over runs."""
    renewals = frame["renewals"].sum()
    return renewals / (renewals + frame["accounts_churned_end"].sum())


def median_first_close_day(frame: pl.DataFrame) -> float:
    """Median over runs of the first won deal's day; a run that won nothing counts as never."""
    return float(np.median(frame["first_deal_day"].fill_null(math.inf).to_numpy()))


# ---------------------------------------------------------------- calibration targets
# MODEL.md section 7's table. The margin of each is its published range. Comments give the
# value measured with the shipped defaults; "near": within 10% of the range's width of an edge.
TARGETS = [
    # U.S. under us_urgency
    ("win_rate", "us", "us_urgency", 0.20, 0.35),  # 0.31
    ("no_decision_share", "us", "us_urgency", 0.35, 0.60),  # 0.50
    ("median_days_to_close", "us", "us_urgency", 60, 120),  # 75
    ("revenue_per_rep_year1_usd", "us", "us_urgency", 300_000, 700_000),  # $336k: near
    ("bookings_per_rep_year_3_5_usd", "us", "us_urgency", 400_000, 900_000),  # $867k: near
    ("market_share_won", "us", "us_urgency", 0.0, 0.40),  # 0.365: near
    ("annual_churn", "us", "us_urgency", 0.08, 0.15),  # 0.137
    # Japan under jp_relationship and hybrid; first-year revenue per rep above $0 (1 USD,
    # as in experiments/calibration/section7.toml) and below 40% of the $500k target
    *(
        target
        for preset in ("jp_relationship", "hybrid")
        for target in (
            ("win_rate", "japan", preset, 0.15, 0.35),  # 0.29, 0.30
            ("no_decision_share", "japan", preset, 0.35, 0.60),  # 0.56, 0.57
            ("median_days_to_close", "japan", preset, 270, 450),  # 331, 280: hybrid near
            ("revenue_per_rep_year1_usd", "japan", preset, 1, 0.4 * TARGET_USD),  # $9k, $13k
            ("bookings_per_rep_year_3_5_usd", "japan", preset, 250_000, 800_000),  # $371k, $375k
            ("market_share_won", "japan", preset, 0.0, 0.35),  # 0.20, 0.21
            ("annual_churn", "japan", preset, 0.02, 0.07),  # 0.044, 0.046
        )
    ),
    ("break_even_month", "japan", "hybrid", 24, 48),  # median month 37
    # us_urgency in Japan is poor but not zero
    ("win_rate", "japan", "us_urgency", 0.02, 0.15),  # 0.12
]


@pytest.mark.parametrize(
    ("name", "market", "preset", "low", "high"),
    TARGETS,
    ids=[f"{m}-{p}-{n}" for n, m, p, _, _ in TARGETS],
)
def test_calibration_target(results, name, market, preset, low, high):
    tables = results[variant(market, preset)]
    value = REGISTRY[name].estimate(tables).value
    assert value is not None and low <= value <= high, (
        f"{name} {REGISTRY[name].estimate(tables, interval=True)} outside [{low}, {high}]"
    )


def test_hybrid_median_days_to_close_in_japan_is_at_least_twice_the_us(results):
    japan = statistic(results, "median_days_to_close", "japan", "hybrid")
    us = statistic(results, "median_days_to_close", "us", "us_urgency")
    assert japan >= 2 * us, (japan, us)  # measured 280 and 75 days: 3.8x


# Margins: at least 2.5x the meetings (`meetings`: selling meetings, not nemawashi contacts)
# and 5x the documents of a won U.S. deal, on average (docs/ODD.md section 1).
SEVERAL_TIMES = {"meetings": 2.5, "documents": 5.0}

# Relationship investment does not (yet) show in Japanese renewals: account contacts raise
# trust, but trust and commitment move churn little at the calibrated churn sensitivity.
RENEWAL_REASON = (
    "Japan renews 0.961 of accounts at relationship investment 0.9 against 0.950 at 0.1 (+1.1 "
    "points, wanted 1.5), and the U.S. gains more (+1.9)"
)


@pytest.mark.parametrize(
    ("preset", "column"),
    [
        ("jp_relationship", "meetings"),
        ("jp_relationship", "documents"),  # measured 28x
        ("hybrid", "meetings"),  # measured 2.9x
        ("hybrid", "documents"),  # measured 31x
    ],
)
def test_japanese_deals_need_several_times_more_meetings_and_documents(results, preset, column):
    japan = deals(results, "japan", preset).filter(pl.col("outcome") == "won")[column].mean()
    us = deals(results, "us", "us_urgency").filter(pl.col("outcome") == "won")[column].mean()
    assert japan >= SEVERAL_TIMES[column] * us, (japan, us, japan / us)


# ---------------------------------------------------------------- stylized facts
def test_fact1_impatience_ends_japanese_partnerships_and_earns_less(results):
    ended = {m: ended_share(results, "japan", patience_months=m) for m in PATIENCE_MONTHS}
    revenue = {
        m: runs(results, "japan", patience_months=m)["revenue_total_usd"].mean()
        for m in PATIENCE_MONTHS
    }
    # far more often: at least 30 points above the mean of 24-36 months (measured 100% against
    # 88%, 50%, 12%: 50 points), and above each of them
    assert ended[12] >= mean(ended[m] for m in LATE_PATIENCE_MONTHS) + 0.30, ended
    for months in LATE_PATIENCE_MONTHS:
        assert ended[12] > ended[months], ended
        # less than half the 5-year revenue (measured $1.1M against $12M, $24M, $32M)
        assert revenue[12] < 0.5 * revenue[months], revenue


def test_fact1_patience_matters_little_in_the_us(results):
    ended = [ended_share(results, "us", patience_months=m) for m in (12, 36)]
    revenue = [runs(results, "us", patience_months=m)["revenue_total_usd"].mean() for m in (12, 36)]
    japan = [
        runs(results, "japan", patience_months=m)["revenue_total_usd"].mean() for m in (12, 36)
    ]
    # small, against Japan's: at most one run in eight more ended, and the 5-year revenue
    # 12 months of patience costs at most a fifth of what it costs in Japan (a relative loss;
    # measured: U.S. 10%, Japan 97%)
    assert abs(ended[0] - ended[1]) <= 1 / REPLICATIONS, ended
    us_loss, japan_loss = 1 - revenue[0] / revenue[1], 1 - japan[0] / japan[1]
    assert us_loss <= japan_loss / 5, (us_loss, japan_loss)


def test_fact1_exit_risk_falls_smoothly_with_patience_in_japan(results):
    shares = [ended_share(results, "japan", patience_months=m) for m in PATIENCE_MONTHS]
    # not a step: non-increasing, with at least two shares strictly between 0 and 1 (measured
    # 1, 1, 0.875, 0.5, 0.125 at 12-36 months)
    assert all(a >= b for a, b in itertools.pairwise(shares)), shares
    assert sum(0 < s < 1 for s in shares) >= 2, shares


@pytest.mark.parametrize("preset", ["jp_relationship", "hybrid"])
def test_fact2_japanese_cycles_are_twice_the_us_and_right_skewed(results, preset):
    us_runs, us_deals = runs(results, "us", "us_urgency"), deals(results, "us", "us_urgency")
    japan_runs, japan_deals = runs(results, "japan", preset), deals(results, "japan", preset)
    # at least 2x (the fact's own bar), for the run's first close (measured 383 and 336 days
    # against 64: 6.0x, 5.2x) and for a won deal's days to close (331, 280 against 75)
    first_jp, first_us = median_first_close_day(japan_runs), median_first_close_day(us_runs)
    assert first_jp >= 2 * first_us, (first_jp, first_us)
    cycle_jp, cycle_us = days_to_close(japan_deals), days_to_close(us_deals)
    assert cycle_jp.median() >= 2 * cycle_us.median(), (cycle_jp.median(), cycle_us.median())
    # right-skewed: the mean at least 5% above the median and a sample skewness of 0.3 or
    # more (measured +13% and +20%, skewness 0.73 and 0.81)
    assert cycle_jp.mean() >= 1.05 * cycle_jp.median(), (cycle_jp.mean(), cycle_jp.median())
    assert stats.skew(cycle_jp.to_numpy()) >= 0.3


def test_fact2_japanese_cycles_grow_with_the_buying_center(results):
    won = pl.concat([deals(results, "japan", p) for p in ("jp_relationship", "hybrid")]).filter(
        pl.col("outcome") == "won"
    )
    cycle = won["decision_day"] - won["first_contact_day"]
    small = cycle.filter(won["stakeholders"] <= 10).median()
    large = cycle.filter(won["stakeholders"] >= 13).median()
    # grows: the largest buying centers (13-15) at least 10% slower than the smallest (8-10),
    # and a positive rank correlation with p < 0.01 over the whole range
    assert large >= 1.10 * small, (small, large)
    rho, p_value = stats.spearmanr(won["stakeholders"], cycle)
    assert rho > 0 and p_value < 0.01, (rho, p_value)


def relationship_gap(results, market) -> dict[str, tuple[float, float]]:
    """(investment 0.1, investment 0.9) under hybrid: year-1 net cash, year-5 revenue, win
    rate and renewal rate."""
    levels = [{"relationship_investment": v} for v in (INVESTMENT_LOW, INVESTMENT_HIGH)]
    pair = {
        "cash_y1": [monthly_sum(results, "net_cash_usd", (1, 12), market, **lv) for lv in levels],
        "revenue_y5": [
            monthly_sum(results, "revenue_usd", (49, 60), market, **lv) for lv in levels
        ],
        "win": [win_rate(deals(results, market, **lv)) for lv in levels],
        "renewal": [renewal_rate(runs(results, market, **lv)) for lv in levels],
    }
    return {k: tuple(v) for k, v in pair.items()}


def test_fact3_relationship_investment_pays_later_in_japan(results):
    gap = relationship_gap(results, "japan")
    low, high = gap["revenue_y5"]
    assert high >= 1.25 * low, gap  # 25% more year-5 revenue (measured $15.7M: 1.55x $10.2M)
    low, high = gap["win"]
    assert high >= low + 0.05, gap  # 5 points (measured 0.33 against 0.26)
    low, high = gap["cash_y1"]
    assert high <= low - 100_000, gap  # $100k less year-1 net cash (measured -$1.89M, -$1.59M)


@pytest.mark.xfail(strict=True, reason=RENEWAL_REASON)
def test_fact3_relationship_investment_raises_japanese_renewals(results):
    japan, us = relationship_gap(results, "japan"), relationship_gap(results, "us")
    low, high = japan["renewal"]
    assert high >= low + 0.015, japan  # 1.5 points
    # and the U.S. gains less from it than Japan
    assert us["renewal"][1] - us["renewal"][0] < high - low, (us, japan)


def test_fact3_the_relationship_gap_shrinks_or_reverses_in_the_us(results):
    japan, us = relationship_gap(results, "japan"), relationship_gap(results, "us")

    def gain(pair):
        return pair[1] / pair[0] - 1

    def difference(pair):
        return pair[1] - pair[0]

    # year-5 revenue: the U.S. relative gain at most half of Japan's (measured +3% against +55%)
    assert gain(us["revenue_y5"]) <= gain(japan["revenue_y5"]) / 2, (us, japan)
    # win rate: the U.S. gain at least 3 points below Japan's (measured -0.7 against +7.7 points)
    assert difference(us["win"]) <= difference(japan["win"]) - 0.03, (us, japan)


@pytest.mark.parametrize("market", ["japan", "us"])
def test_fact4_overselling_buys_meetings_in_the_short_run(results, market):
    """The selling meetings held in the first six months (the monthly table's `meetings`)."""
    # at least 5% more meetings held in months 1-6 (measured +16% in Japan, +8% in the U.S.)
    held = [
        monthly_sum(results, "meetings", (1, 6), market, overselling=o) for o in (0.0, OVERSOLD)
    ]
    assert held[1] >= 1.05 * held[0], held


@pytest.mark.parametrize(
    "market",
    [
        pytest.param(
            "japan",
            marks=pytest.mark.xfail(
                strict=True,
                reason="in Japan overselling buys meetings but no earlier proof of concept: 60 "
                "against 59 of the opportunities opened in months 1-6 (consensus, not "
                "acceptance, paces a Japanese deal)",
            ),
        ),
        "us",
    ],
)
def test_fact4_overselling_buys_next_steps_in_the_short_run(results, market):
    """How many of the opportunities opened in the first six months reached a next step, a
    proof of concept."""

    def cohort(frame):
        return frame.filter(pl.col("first_contact_day") < SHORT_RUN_DAYS)

    honest = cohort(deals(results, market))
    oversold = cohort(deals(results, market, overselling=OVERSOLD))
    # at least 2% more next steps
    steps = [frame["evaluation_day"].is_not_null().sum() for frame in (honest, oversold)]
    assert steps[1] >= 1.02 * steps[0], steps


def test_fact4_overselling_costs_trust_wins_and_renewals_in_japan(results):
    honest_runs, oversold_runs = (
        runs(results, "japan"),
        runs(results, "japan", overselling=OVERSOLD),
    )
    # trust after the evaluation: the stakeholders of the accounts at the horizon (every one
    # went through a proof of concept), at least 0.05 lower (measured 0.33 against 0.53)
    trust = [frame["mean_client_trust_end"].mean() for frame in (honest_runs, oversold_runs)]
    assert trust[1] <= trust[0] - 0.05, trust
    # win rate at least 5 points lower (measured 0.13 against 0.30)
    win = [win_rate(deals(results, "japan", overselling=o)) for o in (0.0, OVERSOLD)]
    assert win[1] <= win[0] - 0.05, win
    # renewal rate at least 3 points lower (measured 0.80 against 0.96)
    renewal = [renewal_rate(frame) for frame in (honest_runs, oversold_runs)]
    assert renewal[1] <= renewal[0] - 0.03, renewal


NET_NEGATIVE = 0.05  # fact 4: overselling is net negative when it costs over 5% of o = 0's NPV


def npv_change(results, market, o) -> float:
    """Mean NPV at overselling o relative to o = 0's, under hybrid."""
    base = runs(results, market)["npv_usd"].mean()
    return runs(results, market, overselling=o)["npv_usd"].mean() / base - 1


def test_fact4_overselling_turns_net_negative_sooner_in_japan_and_in_the_us_at_high_o(results):
    def first_net_negative(market):
        grid = OVERSELLING[market]
        return next((o for o in grid if npv_change(results, market, o) < -NET_NEGATIVE), 1.0)

    # measured NPV change at o = 0.1 and 0.4: Japan -29%, -98%; U.S. +3%, -15%
    japan, us = first_net_negative("japan"), first_net_negative("us")
    assert japan < us, (japan, us)
    # and net negative in the U.S. at high o (measured -40% at o = 0.8)
    high = max(OVERSELLING["us"])
    assert npv_change(results, "us", high) < -NET_NEGATIVE, npv_change(results, "us", high)


def test_fact5_hybrid_beats_both_pure_presets_in_japan(results):
    npv = {p: runs(results, "japan", p)["npv_usd"].mean() for p in parameters.PRESET_NAMES}
    # ahead of jp_relationship by at least $0.5M (measured $7.7M against $6.7M; paired across
    # replications it is ahead in 6 of 8) and of us_urgency by at least $2M (measured $0.0M)
    assert npv["hybrid"] >= npv["jp_relationship"] + 500_000, npv
    assert npv["hybrid"] >= npv["us_urgency"] + 2_000_000, npv


def test_fact5_us_urgency_is_at_least_as_good_as_hybrid_in_the_us(results):
    npv = {p: runs(results, "us", p)["npv_usd"].mean() for p in ("us_urgency", "hybrid")}
    assert npv["us_urgency"] >= npv["hybrid"], npv  # no margin: measured $38.7M and $30.5M


@pytest.mark.parametrize(
    ("market", "preset"), [("japan", "jp_relationship"), ("japan", "hybrid"), ("us", "us_urgency")]
)
def test_fact6_warm_accounts_close_sooner_and_more_often(results, market, preset):
    frame = deals(results, market, preset)
    warm, cold = frame.filter(pl.col("warm")), frame.filter(~pl.col("warm"))
    # win rate at least 5 points higher (measured 0.43 against 0.19 in Japan, 0.38 against
    # 0.30 in the U.S.)
    assert win_rate(warm) >= win_rate(cold) + 0.05, (win_rate(warm), win_rate(cold))
    # median days to close at least 15% shorter (measured about half in Japan, 0.75x in the
    # U.S.)
    sooner, later = days_to_close(warm).median(), days_to_close(cold).median()
    assert sooner <= 0.85 * later, (sooner, later)


@pytest.mark.parametrize(
    ("japan", "us"),
    [("hybrid", "hybrid"), ("jp_relationship", "us_urgency"), ("hybrid", "us_urgency")],
)
def test_fact7_japanese_accounts_churn_less_than_us_ones(results, japan, us):
    # annual logo churn at least 3 points lower, like for like (hybrid in both: measured 0.046
    # against 0.103) and under each market's own presets (0.044 and 0.046 against 0.137)
    jp_churn = statistic(results, "annual_churn", "japan", japan)
    us_churn = statistic(results, "annual_churn", "us", us)
    assert jp_churn <= us_churn - 0.03, (jp_churn, us_churn)
