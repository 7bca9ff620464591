"""`partnersim calibrate`: bad input refused in one line, a tiny search that hits its target,
the market file it writes, resume, determinism, and the statistics' estimators.

Calibrations here are tiny (60 U.S. clients, 3 reps, one year, 2 replications, one free
parameter, a few trials), so each takes a few seconds, most of it starting the worker pool.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from agents import parameters
from experiments import cli
from experiments.calibration import search, statistics
from experiments.calibration.output import read_market_file
from experiments.calibration.statistics import Statistic, Tables
from sim.run import RunSpec, simulate

TINY = """
    name = "tiny"
    years = 1
    replications = 2
    seed = 5
    trials = 4

    [[targets]]
    statistic = "win_rate"
    market = "us"
    policy = "us_urgency"
    set = { "market.clients" = 60, "partner.reps" = 3 }
    range = [0.2, 0.6]

    [[free]]
    key = "market.freeze_rate_per_year"
    market = "us"
    low = 0.2
    high = 6.0
"""


def write(folder: Path, text: str, name: str = "targets.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def calibrate(*args: object) -> int:
    return cli.main(["calibrate", *map(str, args)])


def trials(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "trials.parquet").drop("seconds")


# --- bad input -----------------------------------------------------------------------------

BAD = {
    "unknown statistic": (
        ('statistic = "win_rate"', 'statistic = "win_rate_x"'),
        "targets[0].statistic: got 'win_rate_x', expected one of win_rate, ",
    ),
    "empty range": (("range = [0.2, 0.6]", "range = []"), "targets[0].range: got [], expected"),
    "inverted range": (
        ("range = [0.2, 0.6]", "range = [0.6, 0.2]"),
        "targets[0].range: got [0.6, 0.2], expected low < high",
    ),
    "a range of one point": (
        ("range = [0.2, 0.6]", "range = [0.2, 0.2]"),
        "targets[0].range: got [0.2, 0.2], expected low < high",
    ),
    "undeclared free parameter": (
        ('key = "market.freeze_rate_per_year"', 'key = "market.freeze_rate"'),
        "free[0].key: got 'market.freeze_rate', expected a declared parameter",
    ),
    "bounds outside the declared range": (
        ("high = 6.0", "high = 150.0"),
        "free[0].high: got 150.0, expected a value in [0, 100] "
        "(market.freeze_rate_per_year's declared range)",
    ),
    "inverted bounds": (("high = 6.0", "high = 0.1"), "free[0]: got {'low': 0.2, 'high': 0.1}"),
    "unknown market": (
        ('market = "us"\npolicy', 'market = "mars"\npolicy'),
        "targets[0].market: got 'mars', expected one of japan, us",
    ),
    "unknown preset": (
        ('policy = "us_urgency"', 'policy = "aggressive"'),
        "targets[0].policy: got 'aggressive', expected one of us_urgency",
    ),
    "a free market no target runs": (
        ('market = "us"\nlow', 'market = "japan"\nlow'),
        "free[0].market: got 'japan', expected the market a target runs",
    ),
    "an unknown override": (
        ('"partner.reps" = 3', '"partner.repz" = 3'),
        "targets[0].set.partner.repz: got 3, expected a known parameter name",
    ),
    "a text parameter": (
        ('key = "market.freeze_rate_per_year"', 'key = "market.decision_rule"'),
        "free[0].key: got 'market.decision_rule', expected a number parameter",
    ),
    "an unknown key": (("trials = 4", "trials = 4\ntrails = 5"), "trails: got 5, expected one"),
    "a statistic longer than the horizon": (
        ('statistic = "win_rate"', 'statistic = "bookings_per_rep_year_3_5_usd"'),
        "years: got 1.0, expected >= 5.0 for bookings_per_rep_year_3_5_usd",
    ),
    "no trials": (("trials = 4", "trials = 0"), "trials: got 0, expected an integer in [1, "),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_nothing_written(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (old, new), message = BAD[case]
    assert old in textwrap.dedent(TINY)
    path = write(tmp_path, textwrap.dedent(TINY).replace(old, new, 1))
    out = tmp_path / "out"
    assert calibrate(path, "--out", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("partnersim: error: "), err
    assert message in err, err
    assert not out.exists()


def test_a_statistic_whose_column_the_model_lacks_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = Statistic(
        name="future_stat",
        unit="share",
        doc="reads a column no model records",
        needs=("runs.not_recorded_yet",),
        estimator=statistics.mean_over_runs(statistics.runs_column("not_recorded_yet")),
    )
    monkeypatch.setitem(statistics.REGISTRY, "future_stat", missing)
    path = write(tmp_path, TINY.replace('statistic = "win_rate"', 'statistic = "future_stat"'))
    assert calibrate(path, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert (
        "targets[0].statistic: got 'future_stat', expected a statistic the model can give " in err
    )
    assert "(runs.not_recorded_yet is not in the model's tables yet)" in err
    assert not (tmp_path / "out").exists()


def test_bad_workers_and_a_foreign_directory_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = write(tmp_path, TINY)
    assert calibrate(path, "--out", tmp_path / "out", "--workers", 0) == 2
    assert "--workers: got 0, expected an integer in [1, 512]" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert calibrate(path, "--out", foreign, "--fresh") == 2
    assert "holds notes.txt but no calibration.json" in capsys.readouterr().err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


# --- a whole calibration -------------------------------------------------------------------


@pytest.mark.slow
def test_tiny_calibration_hits_its_target_and_the_market_file_reproduces_it(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = write(tmp_path, TINY)
    out = tmp_path / "out"
    assert calibrate(path, "--out", out, "--workers", 2) == 0
    printed = capsys.readouterr().out
    assert "win_rate (us, us_urgency" in printed and "yes" in printed

    targets = pl.read_parquet(out / "targets.parquet")
    row = targets.row(0, named=True)
    assert row["in_range"] and 0.2 <= row["value"] <= 0.6
    assert row["ci_low"] <= row["value"] <= row["ci_high"]
    table = trials(out)
    assert table.height == 4 and table["chosen"].sum() == 1
    chosen = table.filter("chosen").row(0, named=True)
    rate = chosen["market.freeze_rate_per_year[us]"]
    assert 0.2 <= rate <= 6.0

    market = read_market_file(out / "markets" / "us.toml")
    expected = parameters.with_overrides(
        parameters.Parameters(market=parameters.load_market("us")),
        {"market.freeze_rate_per_year": rate},
    ).market
    assert market == expected  # the whole profile, with only the free parameter changed

    # the finalists' fresh replications use seed + 1: the file's statistic is reproduced
    params = parameters.with_overrides(
        parameters.Parameters(market=market, policy=parameters.load_preset("us_urgency")),
        {"market.clients": 60, "partner.reps": 3},
    )
    results = [simulate(RunSpec(params=params, years=1, seed=6, replication=r)) for r in (0, 1)]
    value = statistics.REGISTRY["win_rate"].estimate(Tables.concat(results)).value
    assert value == row["value"]


@pytest.mark.slow
def test_resume_continues_the_same_study_and_trials_are_deterministic(tmp_path: Path) -> None:
    path = write(tmp_path, TINY)
    resumed, straight = tmp_path / "resumed", tmp_path / "straight"
    assert calibrate(path, "--out", resumed, "--workers", 1, "--trials", 2) == 0
    first = trials(resumed)
    assert calibrate(path, "--out", resumed, "--workers", 2, "--trials", 4) == 0
    after = trials(resumed)
    assert after.height == 4
    keep = ["trial", "state", "loss", "market.freeze_rate_per_year[us]", "win_rate[us/us_urgency]"]
    assert after.head(2).select(keep).equals(first.select(keep))
    # the same file and seed give the same trials, resumed or not, on 1 worker or 2
    assert calibrate(path, "--out", straight, "--workers", 1) == 0
    assert trials(straight).equals(after)
    assert len(set(after["market.freeze_rate_per_year[us]"])) == 4  # the search moved


@pytest.mark.slow
def test_interrupted_search_resumes_where_it_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from experiments.calibration import study

    path = write(tmp_path, TINY)
    out = tmp_path / "out"
    original = study.Directory.store

    def store_then_interrupt(self, finished):
        trial = original(self, finished)
        if trial.number == 1:
            raise KeyboardInterrupt  # Ctrl-C right after the second trial is stored
        return trial

    monkeypatch.setattr(study.Directory, "store", store_then_interrupt)
    assert calibrate(path, "--out", out, "--workers", 1) == 130
    assert "interrupted: 2 of 4 trials are stored" in capsys.readouterr().err
    assert not (out / "trials.parquet").exists()
    monkeypatch.setattr(study.Directory, "store", original)
    assert calibrate(path, "--out", out, "--workers", 1) == 0
    assert "2 of 4 trials stored" in capsys.readouterr().err
    straight = tmp_path / "straight"
    assert calibrate(path, "--out", straight, "--workers", 1) == 0
    assert trials(out).equals(trials(straight))


@pytest.mark.slow
def test_another_file_is_refused_and_fresh_starts_over(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = write(tmp_path, TINY)
    out = tmp_path / "out"
    assert calibrate(path, "--out", out, "--workers", 1, "--trials", 1) == 0
    before = (out / "study.db").read_bytes()
    other = write(tmp_path, TINY.replace("seed = 5", "seed = 7"), "other.toml")
    capsys.readouterr()
    assert calibrate(other, "--out", out, "--workers", 1) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seed: got 7, DIR has 5" in err
    assert (out / "study.db").read_bytes() == before
    assert calibrate(other, "--out", out, "--workers", 1, "--trials", 1, "--fresh") == 0
    assert trials(out).height == 1


# --- statistics and loss -------------------------------------------------------------------


def _tables() -> Tables:
    runs = pl.DataFrame(
        {
            "run_id": ["a", "b", "c"],
            "partner.reps": [2, 2, 2],
            "market.clients": [10, 10, 10],
            "break_even_month": [30, None, 40],
        },
        schema_overrides={"break_even_month": pl.Int64},
    )
    deals = pl.DataFrame(
        {
            "run_id": ["a", "a", "a", "b", "b"],
            "client": [1, 1, 2, 1, 3],
            "outcome": ["won", "won", "no_decision", "open", "lost_competitor"],
            "first_contact_day": [0.0, 10.0, 0.0, 0.0, 0.0],
            "decision_day": [100.0, 40.0, None, None, 50.0],
        }
    )
    monthly = pl.DataFrame(
        {"run_id": ["a"] * 60, "month": list(range(1, 61)), "bookings_usd": [1000.0] * 60}
    )
    return Tables(runs=runs, monthly=monthly, deals=deals)


def test_statistics_on_known_tables() -> None:
    tables = _tables()
    value = {name: s.estimate(tables).value for name, s in statistics.REGISTRY.items() if name in (
        "win_rate", "no_decision_share", "median_days_to_close", "market_share_won",
        "bookings_per_rep_year_3_5_usd", "break_even_month")}  # fmt: skip
    assert value["win_rate"] == pytest.approx(2 / 4)  # open deals are not ended
    assert value["no_decision_share"] == pytest.approx(1 / 4)
    assert value["median_days_to_close"] == pytest.approx(65.0)  # of 100 and 30, pooled
    assert value["market_share_won"] == pytest.approx((1 / 10 + 0 + 0) / 3)  # distinct clients
    assert value["bookings_per_rep_year_3_5_usd"] == pytest.approx((36_000 / 2 / 3) / 3)
    assert value["break_even_month"] == 40.0  # never counts as later than any month
    never = Tables(runs=tables.runs.with_columns(pl.lit(None, pl.Int64).alias("break_even_month")),
                   monthly=tables.monthly, deals=tables.deals)  # fmt: skip
    assert math.isinf(statistics.REGISTRY["break_even_month"].estimate(never).value)


def test_a_missing_column_is_named() -> None:
    with pytest.raises(statistics.StatisticError, match="runs table has no column 'churn_rate"):
        statistics.REGISTRY["annual_churn"].estimate(_tables())


def test_intervals_contain_the_value_and_are_reproducible() -> None:
    tables = _tables()
    for name in ("win_rate", "median_days_to_close", "break_even_month", "market_share_won"):
        first = statistics.REGISTRY[name].estimate(tables, interval=True)
        again = statistics.REGISTRY[name].estimate(tables, interval=True)
        assert first == again
        assert first.low <= first.value <= first.high, name


def test_loss_is_the_distance_in_range_widths() -> None:
    from experiments.calibration.targets import Target

    target = Target(
        index=0, statistic="win_rate", market="us", policy="hybrid", overrides=(), low=0.2, high=0.4
    )
    loss = {
        v: search.target_loss(target, statistics.Estimate(value=v)) for v in (0.1, 0.3, 0.5, 0.4)
    }
    assert loss == {0.1: pytest.approx(0.5), 0.3: 0.0, 0.5: pytest.approx(0.5), 0.4: 0.0}
    assert search.target_loss(target, statistics.Estimate(value=None)) == search.UNDEFINED_LOSS
    assert search.target_loss(target, statistics.Estimate(value=np.inf)) == search.UNDEFINED_LOSS


def test_section7_loads() -> None:
    from experiments.calibration import targets

    section7 = Path(targets.__file__).with_name("section7.toml")
    calibration = targets.load(section7)
    assert {t.market for t in calibration.targets} == {"us", "japan"}
    assert {t.policy for t in calibration.targets} >= {"us_urgency", "jp_relationship", "hybrid"}
    assert {p.market for p in calibration.free} == {"us", "japan"}


@pytest.mark.slow
def test_a_search_killed_with_sigkill_resumes_and_equals_an_uninterrupted_one(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    path = write(tmp_path, TINY)
    out = tmp_path / "out"
    log = tmp_path / "stderr.txt"
    command = [sys.executable, "-m", "experiments.cli", "calibrate", str(path), "--out", str(out)]
    command += ["--workers", "1", "--trials", "12"]
    root = Path(__file__).resolve().parents[2]
    with log.open("w") as stderr:
        process = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 60
        while "trial 2/12" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
    assert calibrate(path, "--out", out, "--workers", 1, "--trials", 12) == 0
    stored = int(capsys.readouterr().err.split(" of 12 trials stored")[0].rsplit(" ", 1)[1])
    assert 2 <= stored < 12  # killed mid-search, with trials stored before
    straight = tmp_path / "straight"
    assert calibrate(path, "--out", straight, "--workers", 2, "--trials", 12) == 0
    assert trials(out).equals(trials(straight))
