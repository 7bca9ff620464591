"""The what-if app without a browser: its setting, pool and ensemble statistics, and the
page driven by Streamlit's AppTest (set a control, press Run, read the numbers).

The page's runs are the model's own: the numbers it shows are checked against runs made
directly with `simulate`, its saved files against the command line's planning of them,
and its refusals against the command line's message for the same value.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from agents import parameters
from agents.parameters import ConfigError
from experiments import cli, config, design, policy_file
from experiments.app import ensemble, pool, setting
from experiments.app.pool import Replication
from experiments.app.setting import Setting
from experiments.report.formatting import money
from experiments.runner import RunFailure
from sim.run import simulate

streamlit_testing = pytest.importorskip("streamlit.testing.v1")
PAGE = Path(__file__).parents[2] / "experiments" / "app" / "page.py"
SMALL = {"years": 1.0, "replications": 4}


# --------------------------------------------------------------------------- setting


def test_a_setting_keeps_only_the_levers_moved_from_its_preset():
    values = setting.preset_values("hybrid") | {"urgency": 0.9}
    moved = Setting.of("japan", "hybrid", values)
    assert moved.levers == (("urgency", 0.9),)
    assert Setting.of("japan", "hybrid", setting.preset_values("hybrid")).levers == ()
    drifted = Setting.of("japan", "hybrid", values | {"urgency": 0.1 + 0.2})  # 0.30000000000000004
    assert drifted.levers == (("urgency", 0.3),)
    assert moved.params().policy.urgency == 0.9
    assert moved.params().policy.relationship_investment == (
        parameters.PRESETS["hybrid"].relationship_investment
    )


def test_a_refused_value_is_the_models_own_error():
    bad = Setting(levers=(("patience_months", -1),))
    with pytest.raises(ConfigError) as caught:
        bad.specs()
    assert caught.value.key == "policy.patience_months"
    with pytest.raises(ConfigError, match=r"^replications: got 0"):
        Setting(replications=0).specs()
    with pytest.raises(ConfigError, match=r"^years: got -1"):
        Setting(years=-1).specs()


def test_the_baseline_shares_the_settings_random_numbers():
    a = Setting(levers=(("urgency", 0.9),), replications=3)
    b = a.with_policy_of(Setting(preset="jp_relationship"))
    assert (b.market, b.years, b.seed, b.replications) == (a.market, a.years, a.seed, 3)
    for x, y in zip(a.specs(), b.specs(), strict=True):
        assert x.root_seed().entropy == y.root_seed().entropy
        assert x.spawn_key == y.spawn_key
        assert x.run_id != y.run_id


def test_saved_files_run_from_the_command_line_as_the_same_runs(tmp_path, capsys):
    moved = Setting(market="us", preset="jp_relationship", levers=(("overselling", 0.2),), **SMALL)
    experiment = tmp_path / "mine_experiment.toml"
    experiment.write_text(moved.experiment_toml("mine"))
    planned = design.plan(config.load(experiment))
    assert [s.run_id for s in planned.specs] == [s.run_id for s in moved.specs()]

    policy = tmp_path / "mine.toml"
    policy.write_text(moved.policy_toml("mine"))
    loaded = policy_file.load(policy)
    assert loaded.name == "mine" and loaded.overselling == 0.2
    assert {k: getattr(loaded, k) for k in setting.LEVERS} == {
        k: getattr(moved.params().policy, k) for k in setting.LEVERS
    }
    out = tmp_path / "one"
    argv = ["simulate", "--market", "us", "--policy", str(policy), "--years", "0.5"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    runs = pl.read_parquet(next(out.glob("runs*.parquet")))
    assert runs["policy.name"].to_list() == ["mine"]
    assert runs["policy.overselling"].to_list() == [0.2]


# --------------------------------------------------------------------------- statistics


def fake(replication: int, npv: float, revenue: list[float], **outcomes) -> Replication:
    row = {
        "npv_usd": npv,
        "revenue_total_usd": revenue[-1],
        "partnership_terminated": False,
        "partnership_ended_by": None,
        "terminated_month": None,
        "break_even_month": None,
        "peak_outlay_usd": 1.0,
        "median_cycle_days": 100.0,
        "win_rate": 0.5,
    } | outcomes
    return Replication(
        run_id=f"r{replication}-{npv}",
        replication=replication,
        outcomes=tuple(row.items()),
        cumulative_revenue_usd=tuple(revenue),
        cycle_days=(90.0, 110.0),
    )


def test_paired_differences_are_means_of_differences_with_a_t_interval():
    rng = np.random.default_rng(7)
    base = rng.normal(0, 1e6, 12)
    lift = rng.normal(2e5, 5e4, 12)
    ensembles = {
        "setting": [fake(r, base[r] + lift[r], [1.0, 2.0]) for r in range(12)],
        "baseline": [fake(r, base[r], [1.0, 2.0]) for r in range(12)],
    }
    table = ensemble.paired_differences(ensembles)
    npv = table.filter(pl.col("measure") == "NPV").row(0, named=True)
    assert npv["pairs"] == 12
    assert npv["difference"] == pytest.approx(lift.mean())
    half = 2.200985 * lift.std(ddof=1) / math.sqrt(12)  # t(0.975, 11)
    assert npv["lo"] == pytest.approx(lift.mean() - half, rel=1e-5)
    assert npv["hi"] == pytest.approx(lift.mean() + half, rel=1e-5)
    # unpaired, the interval would be ~20x wider: pairing is what makes it narrow
    assert npv["hi"] - npv["lo"] < 0.2 * 2 * 1.96 * base.std() * math.sqrt(2 / 12)


def test_identical_ensembles_differ_by_zero_with_no_interval():
    reps = [fake(r, 1e5 * r, [0.0, 5.0]) for r in range(4)]
    table = ensemble.paired_differences({"setting": reps, "baseline": reps})
    assert table["difference"].to_list() == [0.0] * len(ensemble.MEASURES)
    assert table["lo"].null_count() == len(ensemble.MEASURES)


def test_only_replications_both_finished_are_paired():
    table = ensemble.paired_differences(
        {
            "setting": [fake(r, 10.0, [1.0]) for r in range(5)],
            "baseline": [fake(r, 4.0, [1.0]) for r in (1, 3)],
        }
    )
    npv = table.filter(pl.col("measure") == "NPV").row(0, named=True)
    assert (npv["pairs"], npv["difference"]) == (2, 6.0)


def test_revenue_fan_is_percentiles_over_replications_by_month():
    paths = [[float(r), float(10 * r)] for r in range(11)]
    fan = ensemble.revenue_fan({"setting": [fake(r, 0.0, p) for r, p in enumerate(paths)]})
    assert fan.filter(pl.col("month") == 2).select("p10", "p50", "p90").row(0) == (
        pytest.approx(10.0),
        pytest.approx(50.0),
        pytest.approx(90.0),
    )


def test_survival_splits_ended_partnerships_by_who_ended_them():
    reps = [
        fake(
            0,
            0.0,
            [0.0] * 12,
            partnership_terminated=True,
            terminated_month=4,
            partnership_ended_by="vendor",
        ),
        fake(
            1,
            0.0,
            [0.0] * 12,
            partnership_terminated=True,
            terminated_month=8,
            partnership_ended_by="partner",
        ),
        fake(2, 0.0, [0.0] * 12),
        fake(3, 0.0, [0.0] * 12),
    ]
    curves = ensemble.survival({"setting": reps})

    def at(curve: str, month: int) -> float:
        row = curves.filter((pl.col("curve") == curve) & (pl.col("month") == month))
        return row["value"].item()

    assert [at("still running", m) for m in (3, 4, 8, 12)] == [1.0, 0.75, 0.5, 0.5]
    assert [at("ended by vendor", m) for m in (3, 4, 12)] == [0.0, 0.25, 0.25]
    assert [at("ended by partner", m) for m in (7, 8)] == [0.0, 0.25]


# --------------------------------------------------------------------------- pool


@pytest.fixture(scope="module")
def shared_pool():
    return pool.shared(2)


def test_the_pool_runs_a_spec_once_and_returns_the_models_outcomes(shared_pool):
    specs = Setting(levers=(("urgency", 0.35),), years=0.5, replications=3).specs()
    before = shared_pool.submitted
    assert shared_pool.request(specs) == 3
    assert shared_pool.request(specs) == 0  # pending: not sent again
    results = wait_for(shared_pool, [s.run_id for s in specs])
    assert shared_pool.request(specs) == 0  # done: not sent again
    assert shared_pool.submitted == before + 3
    for spec in specs:
        direct = simulate(spec)
        got = results[spec.run_id]
        assert got.row["npv_usd"] == direct.runs["npv_usd"].item()
        assert got.cumulative_revenue_usd == tuple(direct.monthly["cumulative_revenue_usd"])
        won = direct.deals.filter(pl.col("outcome") == "won")
        assert len(got.cycle_days) == won.height


def test_a_new_request_drops_queued_runs_no_longer_wanted(shared_pool):
    many = Setting(levers=(("urgency", 0.45),), years=2, replications=12).specs()
    shared_pool.request(many)
    few = Setting(levers=(("urgency", 0.55),), years=0.25, replications=2).specs()
    shared_pool.request(few)
    wait_for(shared_pool, [s.run_id for s in few])
    finished = shared_pool.results([s.run_id for s in many])
    assert len(finished) < len(many)  # the queued ones were cancelled, not run


def test_a_pool_that_lost_a_worker_starts_anew_and_runs_what_was_lost():
    own = pool.EnsemblePool(1)
    try:
        (victim,) = own.worker_pids()
        specs = Setting(levers=(("urgency", 0.25),), years=3, replications=3).specs()
        ids = [s.run_id for s in specs]
        own.request(specs)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while not own.lost(ids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert own.lost(ids), "the runs of a killed worker are neither done nor pending"
        assert not any(isinstance(r, RunFailure) for r in own.results(ids).values())
        own.request(specs)  # a new pool: the lost runs run, and give the model's results
        results = wait_for(own, ids)
        assert victim not in own.worker_pids()
        for spec in specs:
            assert results[spec.run_id].row["npv_usd"] == simulate(spec).runs["npv_usd"].item()
    finally:
        own.shutdown()


def wait_for(shared_pool, run_ids, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = shared_pool.results(run_ids)
        if len(found) == len(run_ids):
            return found
        time.sleep(0.05)
    raise TimeoutError(f"{len(found)} of {len(run_ids)} runs")


# --------------------------------------------------------------------------- the page


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNERSIM_APP_OUT", str(tmp_path / "saved"))
    pool.shared(2)
    at = streamlit_testing.AppTest.from_file(str(PAGE), default_timeout=180)
    at.run()
    assert not at.exception
    return at


def small(at, **levers):
    at.number_input(key="years").set_value(SMALL["years"])
    at.number_input(key="replications").set_value(SMALL["replications"])
    for lever, value in levers.items():
        widget = (
            at.slider
            if lever in ("urgency", "relationship_investment", "overselling")
            else (at.number_input)
        )
        widget(key=f"policy.{lever}").set_value(value)
    return at.run()


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_the_page_runs_a_setting_and_shows_the_models_numbers(app):
    small(app, urgency=0.65)
    assert any("Press Run" in t for t in texts(app.info))
    app.button(key="run").click().run()
    assert not app.exception
    assert texts(app.success) == ["4 of 4 replications finished."]
    chosen = Setting(levers=(("urgency", 0.65),), **SMALL)
    npv = [simulate(s).runs["npv_usd"].item() for s in chosen.specs()]
    assert metric(app, "Median NPV") == money(float(np.median(npv)))
    table = app.dataframe[0].value
    assert list(table["pairs"]) == [4, 4, 4, 4, table["pairs"][4], 4]
    titles = [json.loads(c.proto.spec)["title"]["text"] for c in app.get("vega_lite_chart")]
    titles = [" ".join(t) if isinstance(t, list) else t for t in titles]  # a long one wraps
    assert titles == [
        "Cumulative revenue: P10, P50, P90",
        "NPV of each replication",
        "The partnership: still running, ended by whom",
        "Break-even: share of replications still below zero cash",
        "Days to close",
    ]


def test_returning_to_a_setting_is_instant(app):
    small(app, urgency=0.6)
    app.button(key="run").click().run()
    sent = pool.shared().submitted
    small(app, urgency=0.7)
    assert any("Press Run" in t for t in texts(app.info))
    small(app, urgency=0.6)  # back: every run is cached, drawn without Run
    assert texts(app.success) == ["4 of 4 replications finished."]
    assert pool.shared().submitted == sent


def test_identical_setting_and_baseline_differ_by_zero(app):
    small(app)
    app.button(key="run").click().run()
    table = app.dataframe[0].value
    assert set(table["difference"]) <= {"$0", "0.0 pp", "0 days", "0", "n/a"}
    assert set(table["95% CI"]) == {"n/a"}


def test_a_refused_value_shows_the_command_lines_message_and_nothing_runs(app, capsys):
    sent = pool.shared().submitted
    small(app, patience_months=-1)
    assert app.button(key="run").disabled
    assert cli.main(["simulate", "--set", "policy.patience_months=-1"]) == 2
    line = capsys.readouterr().err.strip()
    assert texts(app.error) == [line]
    assert pool.shared().submitted == sent
    assert not app.metric


def test_a_pinned_setting_becomes_the_baseline(app):
    small(app, urgency=0.5)
    app.button(key="pin").click().run()
    small(app, urgency=0.2)
    caption = " ".join(c.value for c in app.caption)
    assert "Baseline: hybrid (urgency 0.5)" in caption
    assert "Setting: japan, hybrid (urgency 0.2)" in caption
    app.button(key="unpin").click().run()
    assert "Baseline: hybrid (no lever moved)" in " ".join(c.value for c in app.caption)


def test_a_new_preset_sets_its_levers(app):
    app.selectbox(key="preset").set_value("us_urgency").run()
    for lever, value in setting.preset_values("us_urgency").items():
        assert app.session_state[f"policy.{lever}"] == value


def test_save_writes_files_the_command_line_runs_and_never_overwrites(app, tmp_path):
    small(app, overselling=0.1)
    app.text_input(key="save_name").set_value("trial").run()
    app.button(key="save_policy").click().run()
    app.button(key="save_experiment").click().run()
    saved = tmp_path / "saved"
    assert sorted(p.name for p in saved.iterdir()) == ["trial.toml", "trial_experiment.toml"]
    assert policy_file.load(saved / "trial.toml").overselling == 0.1
    planned = design.plan(config.load(saved / "trial_experiment.toml"))
    assert [s.run_id for s in planned.specs] == [
        s.run_id for s in Setting(levers=(("overselling", 0.1),), **SMALL).specs()
    ]
    before = (saved / "trial.toml").read_text()
    small(app, overselling=0.3)
    app.button(key="save_policy").click().run()
    assert any("exists" in t for t in texts(app.error))
    assert (saved / "trial.toml").read_text() == before


def test_the_command_refuses_bad_options_in_one_line(capsys, monkeypatch):
    assert cli.main(["app", "--port", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "partnersim: error: --port: got 0, expected an integer in [1, 65535]"
    )
    assert cli.main(["app", "--workers", "0"]) == 2
    assert "--workers: got 0" in capsys.readouterr().err
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "streamlit" else real(name)
    )
    assert cli.main(["app"]) == 2
    assert "pip install 'partnersim[app]'" in capsys.readouterr().err


def test_the_server_sends_no_usage_statistics():
    from experiments.app import command

    options = command.server_options(cli.build_parser().parse_args(["app"]))
    assert options["browser.gatherUsageStats"] is False
    assert options["server.address"] == "127.0.0.1"
    assert options["server.fileWatcherType"] == "none"
    assert os.environ.get("STREAMLIT_BROWSER_GATHER_USAGE_STATS") in (None, "false")
