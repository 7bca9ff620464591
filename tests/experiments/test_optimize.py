"""`partnersim optimize`: bad input refused in one line, the bounds constraints are held on,
a search whose answer matches an exhaustive grid, resume after kill -9, no feasible trial,
and several objectives (NSGA-II's front).

Problems here are tiny (40 Japanese clients, 2 reps, 2 years, a few replications and
trials), so a search takes a few seconds, most of it starting the worker pool.
"""

from __future__ import annotations

import itertools
import math
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from experiments import cli, policy_file
from experiments.optimization import outcomes, problem
from sim.run import make_spec, simulate
from tests.experiments.decision_helpers import in_process  # noqa: F401 (a fixture)

# 2 urgencies x 3 timings x 2 patiences: 12 points. Patience 6 ends most partnerships
# early, which loses less money in a market this small: the constraint rules it out.
TINY = """
    name = "tiny"
    years = 1
    replications = 5
    seed = 5
    trials = 12
    finalists = 2

    [base]
    market = "japan"
    policy = "hybrid"
    set = { "market.clients" = 40, "partner.reps" = 2 }

    [levers]
    "policy.urgency" = { low = 0.2, high = 1.0, step = 0.8 }
    "policy.proposal_timing" = ["first_meeting", "after_key_comfortable", "after_consensus"]
    "policy.patience_months" = { low = 6, high = 24, step = 18 }

    [[objectives]]
    outcome = "npv_usd"
    direction = "maximize"

    [[constraints]]
    outcome = "partnership_terminated"
    max = 0.5
"""


def write(folder: Path, text: str, name: str = "problem.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def optimize(*args: object) -> int:
    return cli.main(["optimize", *map(str, args)])


def trials(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "trials.parquet").drop("seconds")


# --- bad input -----------------------------------------------------------------------------

BAD = {
    "unknown lever": (
        ('"policy.urgency" = {', '"policy.urgncy" = {'),
        "levers.policy.urgncy: got {'low': 0.2, 'high': 1.0, 'step': 0.8}, expected a policy "
        "lever the vendor chooses (closest: policy.urgency",
    ),
    "a market parameter as a lever": (
        ('"policy.urgency" = {', '"market.alpha" = {'),
        "levers.market.alpha: got",
    ),
    "bounds outside the declared range": (
        ("high = 1.0, step = 0.8", "high = 1.4, step = 0.8"),
        "levers.policy.urgency.high: got 1.4, expected a value in [0, 1] "
        "(policy.urgency's declared range)",
    ),
    "an unknown objective": (
        ('outcome = "npv_usd"', 'outcome = "npv"'),
        "objectives[0].outcome: got 'npv', expected an outcome column of the runs table",
    ),
    "a parameter column as an outcome": (
        ('outcome = "npv_usd"', 'outcome = "policy.urgency"'),
        "objectives[0].outcome: got 'policy.urgency', expected an outcome column",
    ),
    "an unknown constraint outcome": (
        ('outcome = "partnership_terminated"', 'outcome = "ended"'),
        "constraints[0].outcome: got 'ended', expected an outcome column",
    ),
    "a share's limit above 1": (
        ("max = 0.5", "max = 5"),
        "constraints[0].max: got 5, expected a share in [0, 1]",
    ),
    "no direction": (
        ('direction = "maximize"', 'direction = "up"'),
        "objectives[0].direction: got 'up', expected maximize or minimize",
    ),
    "a step that does not divide": (
        ("step = 0.8", "step = 0.3"),
        "levers.policy.urgency.step: got 0.3, expected a step that divides high - low",
    ),
    "a lever also set": (
        ('"partner.reps" = 2 }', '"partner.reps" = 2, "policy.urgency" = 0.5 }'),
        "base.set.policy.urgency: got 0.5, expected a parameter that is not a lever",
    ),
    "a single choice": (
        ('["first_meeting", "after_key_comfortable", "after_consensus"]', '["first_meeting"]'),
        "levers.policy.proposal_timing: got ['first_meeting'], expected at least two choices",
    ),
    "an unknown choice": (
        ('"after_consensus"]', '"later"]'),
        "levers.policy.proposal_timing: got 'later', expected one of first_meeting",
    ),
    "an unknown preset": (
        ('policy = "hybrid"', 'policy = "bold"'),
        "base.policy: got 'bold', expected one of us_urgency, jp_relationship, hybrid, or a "
        "policy file",
    ),
    "a missing policy file": (
        ('policy = "hybrid"', 'policy = "nowhere.toml"'),
        "base.policy: nowhere.toml: no such file, expected a policy file",
    ),
    "an unknown key": (("trials = 12", "trials = 12\ntrails = 5"), "trails: got 5, expected one"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_nothing_written(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    (old, new), message = BAD[case]
    assert old in textwrap.dedent(TINY), old
    path = write(tmp_path, textwrap.dedent(TINY).replace(old, new, 1))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert optimize(path, "--out", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("partnersim: error: "), err
    assert message in err, err
    assert not out.exists()


def test_the_shipped_problem_loads() -> None:
    shipped = Path(cli.__file__).with_name("configs") / "best_hybrid_japan.toml"
    loaded = problem.load(shipped)
    assert loaded.market == "japan" and loaded.policy == "hybrid"
    keys = {lever.key for lever in loaded.levers}
    assert {"policy.urgency", "policy.relationship_investment", "policy.patience_months"} <= keys
    assert {"policy.support_staff"} <= keys
    assert [c.label for c in loaded.constraints] == ["P(partnership_terminated) <= 0.1"]


# --- the bounds constraints are held on ----------------------------------------------------


def test_clopper_pearson_bounds() -> None:
    # no partnership ended in 30 runs still allows 9.5% at 95%
    assert outcomes.clopper_pearson(0, 30, 0.95, "max") == pytest.approx(1 - 0.05 ** (1 / 30))
    assert outcomes.clopper_pearson(0, 30, 0.95, "max") == pytest.approx(0.0950, abs=1e-4)
    assert outcomes.clopper_pearson(30, 30, 0.95, "max") == 1.0
    assert outcomes.clopper_pearson(0, 30, 0.95, "min") == 0.0
    assert outcomes.clopper_pearson(30, 30, 0.95, "min") == pytest.approx(0.05 ** (1 / 30))
    upper = outcomes.clopper_pearson(3, 30, 0.95, "max")
    assert 0.1 < upper < 0.3


def test_a_constraint_holds_on_its_bound_not_on_the_mean() -> None:
    loaded = problem.from_dict(
        {
            **_tiny(),
            "constraints": [
                {"outcome": "partnership_terminated", "max": 0.1},
                {"outcome": "npv_usd", "min": -10.0},
            ],
        }
    )
    none_ended = {"npv_usd": [-9.0, -8.0, -12.0], "partnership_terminated": [0.0, 0.0, 0.0]}
    evaluation = outcomes.evaluate(loaded, none_ended)
    ended_bound, npv_bound = evaluation.bounds
    assert ended_bound == pytest.approx(1 - 0.05 ** (1 / 3))  # 63%: three runs say little
    assert npv_bound < -10.0  # mean -9.7, but its lower bound is below -10
    assert not evaluation.feasible
    assert evaluation.objectives == (pytest.approx(-29 / 3),)


def _tiny() -> dict:
    import tomllib

    return tomllib.loads(textwrap.dedent(TINY))


# --- a search against an exhaustive grid ---------------------------------------------------


def grid_best(loaded: problem.Problem) -> tuple[dict, float, float, dict]:
    """The exhaustive grid's best feasible point on the search's replications: its levers,
    mean, 95% interval half-width, and every point's mean."""
    from scipy.stats import t

    levers = loaded.levers
    means, best = {}, None
    for combo in itertools.product(*(lever.grid for lever in levers)):
        values = {lever.key: v for lever, v in zip(levers, combo, strict=True)}
        runs = [
            simulate(make_spec("japan", "hybrid", {**dict(loaded.overrides), **values},
                               years=loaded.years, seed=loaded.seed, replication=r)).runs
            for r in range(loaded.replications)
        ]  # fmt: skip
        table = pl.concat(runs)
        evaluation = outcomes.evaluate(loaded, outcomes.column_values(loaded, table))
        npv = table["npv_usd"].to_numpy()
        means[combo] = float(npv.mean())
        if evaluation.feasible and (best is None or npv.mean() > best[1]):
            half = t.ppf(0.975, npv.size - 1) * npv.std(ddof=1) / math.sqrt(npv.size)
            best = (values, float(npv.mean()), float(half))
    assert best is not None
    return best[0], best[1], best[2], means


@pytest.mark.slow
@pytest.mark.usefixtures("in_process")
def test_the_answer_is_within_the_interval_of_the_grids_best_point(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = write(tmp_path, TINY)
    out = tmp_path / "out"
    assert optimize(path, "--out", out, "--workers", 2, "--no-images") == 0
    printed = capsys.readouterr().out
    assert "chosen" in printed and "us_urgency" in printed  # compared with the presets
    table = trials(out)
    chosen = table.filter("chosen").row(0, named=True)
    loaded = problem.load(path)
    levers, mean, half, means = grid_best(loaded)
    assert chosen["npv_usd"] >= mean - half, (chosen, levers, mean, half)
    assert chosen["feasible"] and chosen["check.feasible"]
    # common random numbers: a trial's mean is its grid point's, run for run
    for row in table.filter(pl.col("state") == "complete").iter_rows(named=True):
        combo = tuple(row[lever.key] for lever in loaded.levers)
        assert row["npv_usd"] == pytest.approx(means[combo], rel=1e-12)
    # the policy file holds the chosen levers and runs as they do
    policy = policy_file.load(out / "policy.toml")
    for lever in loaded.levers:
        assert getattr(policy, lever.key.removeprefix("policy.")) == chosen[lever.key]
    assert policy.name == "tiny"
    outcomes_table = pl.read_parquet(out / "outcomes.parquet")
    assert set(outcomes_table["kind"]) == {"chosen", "finalist", "preset"} or set(
        outcomes_table["kind"]
    ) == {"chosen", "preset"}
    assert (out / "optimization.html").exists()


@pytest.mark.slow
def test_a_search_killed_with_sigkill_resumes_and_equals_an_uninterrupted_one(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.experiments.decision_helpers import _threads

    text = TINY.replace("replications = 5", "replications = 3").replace("trials = 12", "trials = 6")
    text = text.replace("max = 0.5", "max = 0.7")  # three runs bound none ended at 63%
    path = write(tmp_path, text)
    out = tmp_path / "out"
    log = tmp_path / "stderr.txt"
    command = [sys.executable, "-m", "experiments.cli", "optimize", str(path), "--out", str(out)]
    command += ["--workers", "1", "--no-images"]
    root = Path(__file__).resolve().parents[2]
    with log.open("w") as stderr:
        process = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 60
        while "trial 2/6" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
    from experiments import runner

    monkeypatch.setattr(runner, "make_executor", _threads)  # the rest in this process
    assert optimize(path, "--out", out, "--no-images") == 0
    stored = int(capsys.readouterr().err.split(" of 6 trials stored")[0].rsplit(" ", 1)[1])
    assert 2 <= stored < 6  # killed mid-search, with trials stored before
    straight = tmp_path / "straight"
    assert optimize(path, "--out", straight, "--no-images") == 0
    assert trials(out).equals(trials(straight))


@pytest.mark.slow
@pytest.mark.usefixtures("in_process")
def test_no_feasible_trial_is_exit_1_naming_the_closest_and_its_constraint(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # two runs can never bound a share below 1%: nothing is feasible
    text = TINY.replace("max = 0.5", "max = 0.01").replace("trials = 12", "trials = 2")
    path = write(tmp_path, text.replace("replications = 5", "replications = 2"))
    out = tmp_path / "out"
    assert optimize(path, "--out", out, "--workers", 1) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("partnersim: error: no trial is feasible; the closest, trial ")
    assert "breaks P(partnership_terminated) <= 0.01: its one-sided 95% upper bound is " in err
    assert trials(out).height == 2 and not (out / "policy.toml").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("in_process")
def test_several_objectives_search_with_nsga2_and_write_the_front(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    text = TINY.replace("replications = 5", "replications = 2")
    text = text.replace("trials = 12", "trials = 8\npopulation = 4")
    text = text.replace("max = 0.5", "max = 0.8")  # two runs bound none ended at 78%
    text += '\n[[objectives]]\noutcome = "partnership_terminated"\ndirection = "minimize"\n'
    path = write(tmp_path, text)
    out = tmp_path / "out"
    code = optimize(path, "--out", out, "--workers", 2, "--no-images")
    assert code in (0, 1), capsys.readouterr().err  # 1: no finalist holds on fresh runs
    front = pl.read_parquet(out / "front.parquet")
    assert front.height >= 1
    table = trials(out).filter(pl.col("feasible"))
    for row in front.iter_rows(named=True):  # nothing feasible dominates a point of the front
        better = table.filter(
            (pl.col("npv_usd") >= row["npv_usd"])
            & (pl.col("partnership_terminated") <= row["partnership_terminated"])
            & (
                (pl.col("npv_usd") > row["npv_usd"])
                | (pl.col("partnership_terminated") < row["partnership_terminated"])
            )
        )
        assert better.is_empty()
    import optuna

    study = optuna.load_study(study_name="optimization", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.directions) == 2
    assert all("NSGAIISampler:generation" in t.system_attrs for t in study.trials)


def test_exact_values_of_a_grid_lever() -> None:
    lever = problem.Lever(key="policy.urgency", low=0.2, high=1.0, step=0.4)
    assert lever.grid == (0.2, 0.6, 1.0)
    assert problem.Lever(key="policy.patience_months", low=6, high=24, step=9).grid == (6, 15, 24)
    assert np.isclose(
        outcomes.t_bound(np.array([1.0, 2.0, 3.0]), 0.95, "max"), 2 + 2.919986 / math.sqrt(3)
    )
