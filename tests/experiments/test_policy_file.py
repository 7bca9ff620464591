"""Policy files: accepted by `simulate --policy`, `base.policy` and a `policy` sweep; a bad
file is one line naming it; what optimize writes reads back as the same policy."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest

from agents import parameters
from experiments import cli, config, design, policy_file

TINY_SET = ["--set", "market.clients=30", "--set", "partner.reps=2", "--years", "0.5"]


def test_a_policy_file_is_a_preset_with_its_levers_changed(tmp_path: Path) -> None:
    path = tmp_path / "bold.toml"
    path.write_text('preset = "hybrid"\nurgency = 0.3\n"policy.patience_months" = 12\n')
    policy = policy_file.load(path)
    expected = dataclasses.replace(
        parameters.PRESETS["hybrid"], name="bold", urgency=0.3, patience_months=12
    )
    assert policy == expected
    assert (
        policy_file.from_dict({"urgency": 0.3}).proposal_timing
        == parameters.Policy().proposal_timing
    )


def test_a_written_policy_reads_back_the_same(tmp_path: Path) -> None:
    policy = dataclasses.replace(
        parameters.PRESETS["jp_relationship"], name="mine", support_staff=7
    )
    path = tmp_path / "mine.toml"
    path.write_text(policy_file.policy_toml(policy, preset="jp_relationship", header=["a note"]))
    assert path.read_text().startswith("# a note\n")
    assert policy_file.load(path) == policy


def test_simulate_runs_a_policy_file_as_the_preset_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "bold.toml"
    path.write_text('preset = "hybrid"\nurgency = 0.3\n')
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(["simulate", "--policy", str(path), *TINY_SET, "--out", str(a)]) == 0
    argv = ["simulate", "--policy", "hybrid", "--set", "policy.urgency=0.3", *TINY_SET]
    assert cli.main([*argv, "--out", str(b)]) == 0
    first, second = (pl.read_parquet(d / "runs.parquet") for d in (a, b))
    assert first["policy.name"][0] == "bold" and second["policy.name"][0] == "hybrid"
    drop = ["run_id", "policy.name"]
    assert first.drop(drop).equals(second.drop(drop))
    assert pl.read_parquet(a / "deals.parquet").equals(pl.read_parquet(b / "deals.parquet"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "--policy: {path}: no such file, expected a policy file"),
        (
            "urgency = 1.5\n",
            "--policy: {path}: policy.urgency: got 1.5, expected a value in [0, 1]",
        ),
        ("urgncy = 0.5\n", "--policy: {path}: urgncy: got 0.5, expected a policy lever, name or"),
        ("urgency = [\n", "--policy: {path}: not valid TOML"),
        ('preset = "bold"\n', "--policy: {path}: preset: got 'bold', expected one of us_urgency"),
    ],
)
def test_a_bad_policy_file_is_one_line_exit_2_nothing_written(
    text: str | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "policy.toml"
    if text is not None:
        path.write_text(text)
    out = tmp_path / "out"
    assert cli.main(["simulate", "--policy", str(path), *TINY_SET, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.format(path=path) in err, err
    assert not out.exists()


def test_experiment_configs_take_policy_files(tmp_path: Path) -> None:
    path = tmp_path / "bold.toml"
    path.write_text('name = "bold"\npreset = "hybrid"\nurgency = 0.3\n')
    text = f"""
name = "files"
[base]
policy = "{path}"
[sweep.parameters]
policy = ["us_urgency", "{path}"]
"""
    loaded = config.loads(text)
    plan = design.plan(loaded)
    assert [s.params.policy.name for s in plan.specs] == ["us_urgency", "bold"]
    assert plan.specs[1].params.policy.urgency == 0.3
    assert config.loads(config.to_toml(loaded)) == loaded
    bad = tmp_path / "bad.toml"
    bad.write_text("urgency = 2\n")
    with pytest.raises(parameters.ConfigError, match=r"^base.policy: .*bad.toml: policy.urgency"):
        config.loads(text.replace(f'policy = "{path}"\n[sweep', f'policy = "{bad}"\n[sweep'))
    with pytest.raises(parameters.ConfigError, match=r"^sweep.parameters.policy: .*bad.toml: "):
        config.loads(text.replace(f'"us_urgency", "{path}"', f'"us_urgency", "{bad}"'))
