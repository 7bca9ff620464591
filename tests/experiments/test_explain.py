"""`partnersim explain`: Shapley values add up to the difference in every replication, a
lever with no effect gets nothing, an additive toy gives back each lever's effect; bad input
is one line; the split of two policies through the model, resumed from its directory.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from experiments import cli, shapley
from tests.experiments.decision_helpers import in_process  # noqa: F401 (a fixture)

# --- the Shapley values themselves ---------------------------------------------------------


def random_game(d: int, replications: int, seed: int) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {mask: rng.normal(size=replications) * 1e6 for mask in range(1 << d)}


@pytest.mark.parametrize("d", [1, 2, 4, 6])
def test_exact_values_add_up_to_the_difference_in_every_replication(d: int) -> None:
    values = random_game(d, replications=5, seed=d)
    phi = shapley.exact(values, d)
    total = values[(1 << d) - 1] - values[0]
    np.testing.assert_allclose(phi.sum(axis=0), total, rtol=1e-12, atol=1e-6)


def test_sampled_values_add_up_too_and_approach_the_exact_ones() -> None:
    d = 7
    values = random_game(d, replications=4, seed=1)
    orders = shapley.orders(d, count=3000, seed=2)
    assert set(shapley.path_coalitions(orders)) <= set(values)
    phi = shapley.sampled(values, orders)
    np.testing.assert_allclose(
        phi.sum(axis=0), values[(1 << d) - 1] - values[0], rtol=1e-12, atol=1e-6
    )
    exact = shapley.exact(values, d)
    assert np.abs(phi - exact).max() < 0.15 * np.abs(exact).max()


def test_a_lever_with_no_effect_gets_zero_and_an_additive_game_gives_each_effect() -> None:
    d, replications = 4, 6
    rng = np.random.default_rng(3)
    effects = np.array([5.0, -2.0, 0.0, 1.5])[:, None] + rng.normal(size=(d, replications))
    effects[2] = 0.0  # lever 2 does nothing
    base = rng.normal(size=replications) * 10  # each replication's own level
    values = {
        mask: base + sum(effects[i] for i in range(d) if mask >> i & 1) for mask in range(1 << d)
    }
    phi = shapley.exact(values, d)
    np.testing.assert_allclose(phi, effects, atol=1e-12)
    assert np.all(phi[2] == 0.0)
    sampled = shapley.sampled(values, shapley.orders(d, count=5, seed=1))
    np.testing.assert_allclose(sampled, effects, atol=1e-12)  # additive: any order is exact


def test_an_interaction_is_split_evenly() -> None:
    values = {0: np.array([0.0]), 1: np.array([0.0]), 2: np.array([0.0]), 3: np.array([6.0])}
    np.testing.assert_allclose(shapley.exact(values, 2), [[3.0], [3.0]])


def test_interval_over_replications() -> None:
    mean, low, _ = shapley.interval(np.array([1.0, 2.0, 3.0]))
    assert mean == 2.0 and low == pytest.approx(2 - 4.302653 / math.sqrt(3), rel=1e-6)
    assert math.isnan(shapley.interval(np.array([1.0]))[1])


# --- the command ---------------------------------------------------------------------------

TINY = ["--years", 1, "--replications", 3, "--seed", 4]
TINY += ["--set", "market.clients=30", "--set", "partner.reps=2"]


def explain(*args: object) -> int:
    return cli.main(["explain", *map(str, args)])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "bold"], "--from: got 'bold', expected one of us_urgency, jp_relationship"),
        (["--to", "missing.toml"], "--to: missing.toml: no such file, expected a policy file"),
        (["--outcome", "npv"], "--outcome: got 'npv', expected an outcome column"),
        (["--market", "mars"], "--market: got 'mars', expected one of japan, us"),
        (["--to", "us_urgency"], "--to: got 'us_urgency', expected a policy that differs"),
        (["--set", "policy.urgncy=1"], "policy.urgncy: got 1, expected a known parameter name"),
        (["--replications", 1], "--replications: got 1, expected an integer in [2, 100000]"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(
    args: list, message: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    given = {"--from": "us_urgency", "--to": "hybrid"}
    for key, value in zip(args[::2], args[1::2], strict=True):
        given[key] = value
    out = tmp_path / "out"
    argv = [x for kv in given.items() for x in kv]
    assert explain(*TINY, *argv, "--out", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


def write_policy(path: Path, **levers: object) -> Path:
    lines = ['preset = "hybrid"', "patience_months = 1200"]
    lines += [
        f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in levers.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
@pytest.mark.usefixtures("in_process")
def test_a_split_through_the_model_adds_up_gives_a_null_lever_nothing_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # the vendor never leaves (patience beyond the horizon) and neither does the partner, so
    # what happens to accounts after an exit (after_exit) cannot matter
    source = write_policy(tmp_path / "a.toml", urgency=0.2, after_exit="serve")
    target = write_policy(tmp_path / "b.toml", urgency=0.9, overselling=0.3, after_exit="abandon")
    out = tmp_path / "out"
    argv = ["--from", source, "--to", target, *TINY, "--set", "partner.patience_months=1200"]
    assert explain(*argv, "--out", out, "--workers", 2) == 0
    printed = capsys.readouterr().out
    assert "policy.after_exit" in printed and "policy.urgency" in printed
    table = pl.read_parquet(out / "shapley.parquet")
    assert set(table["lever"]) == {
        "policy.urgency", "policy.overselling", "policy.after_exit", "total"}  # fmt: skip
    per = pl.read_parquet(out / "shapley_replications.parquet")
    null = per.filter(pl.col("lever") == "policy.after_exit")["shapley"].to_numpy()
    np.testing.assert_array_equal(null, 0.0)  # the same runs with and without it
    # efficiency, replication by replication, against the runs themselves
    runs = pl.scan_parquet(out / "runs" / "*.parquet").collect()
    design = pl.read_parquet(out / "design.parquet")
    joined = design.join(runs.select("run_id", "npv_usd"), on="run_id")
    first = joined.filter(pl.col("design_point") == 0).sort("replication")["npv_usd"]
    last = joined.filter(pl.col("design_point") == 7).sort("replication")["npv_usd"]
    sums = per.group_by("replication").agg(pl.col("shapley").sum()).sort("replication")
    np.testing.assert_allclose(sums["shapley"].to_numpy(), (last - first).to_numpy(), rtol=1e-9)
    assert (out / "explain.html").exists() and (out / "charts" / "shapley.png").exists()
    # the same command again runs nothing and gives the same table
    assert explain(*argv, "--out", out, "--workers", 1, "--no-images") == 0
    err = capsys.readouterr().err
    assert "resuming: 24 of 24 runs already stored" in err
    assert pl.read_parquet(out / "shapley.parquet").equals(table)


@pytest.mark.slow
def test_a_split_killed_with_sigkill_resumes_and_equals_an_uninterrupted_one(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from experiments import runner
    from tests.experiments.decision_helpers import _threads

    argv = ["--from", "us_urgency", "--to", "hybrid", *TINY, "--replications", 10]
    out = tmp_path / "out"
    command = [sys.executable, "-m", "experiments.cli", "explain", *map(str, argv)]
    command += ["--out", str(out), "--workers", "1", "--no-images"]
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while not list((out / "runs").glob("part-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    time.sleep(0.5)  # the killed driver's worker follows it (parent-death signal)
    stored = pl.scan_parquet(out / "runs" / "*.parquet").select("run_id").collect().height
    assert 0 < stored < 160, "the kill should land mid-sweep"
    monkeypatch.setattr(runner, "make_executor", _threads)  # the rest in this process
    assert explain(*argv, "--out", out, "--no-images") == 0
    assert f"resuming: {stored} of 160 runs already stored" in capsys.readouterr().err
    ids = pl.scan_parquet(out / "runs" / "*.parquet").select("run_id").collect()["run_id"]
    assert ids.len() == ids.n_unique() == 160  # nothing lost, nothing run twice
    straight = tmp_path / "straight"
    assert explain(*argv, "--out", straight, "--no-images") == 0
    split = [pl.read_parquet(d / "shapley_replications.parquet") for d in (out, straight)]
    assert split[0].equals(split[1])
