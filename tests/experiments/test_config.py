"""Experiment files: round trip through TOML, and bad configs give exit 2 and one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from experiments import config, strategies
from tests.experiments.sweep_helpers import TINY_BASE, TINY_GRID, run_cli, write_config

# Experiment files; optimization problems (`partnersim optimize`, with [levers]) sit beside them.
CONFIGS = sorted(
    p
    for p in (Path(config.__file__).parent / "configs").glob("*.toml")
    if "levers" not in tomllib.loads(p.read_text(encoding="utf-8"))
)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs_survive_toml_round_trip(path: Path) -> None:
    loaded = config.load(path)
    text = config.to_toml(loaded)
    assert config.loads(text) == loaded
    assert config.to_toml(config.loads(text)) == text
    assert loaded.name == path.stem


# The config hash names stored results: had `to_toml` changed its layout, every results
# directory written before would be refused as "a different config".
SHIPPED_HASHES = {
    "hybrid_frontier": "ad77b1b140097cac",
    "hybrid_robustness": "f4b7c860fc65e7f1",
    "overselling": "f8e44e9b0bd9744c",
    "patience": "65a9bdb17dfd28b3",
    "quickstart": "d193b0078f0df6b9",
    "sensitivity": "e76f51e51d631322",
}


def test_the_canonical_text_of_shipped_configs_keeps_its_hash() -> None:
    assert {p.stem: config.load(p).config_hash for p in CONFIGS} == SHIPPED_HASHES


# Found by Hypothesis: `experiments.config.to_toml` wrote a character outside the Basic
# Multilingual Plane as a JSON surrogate pair ("\ud800\udc00"), which TOML rejects (fixed).
@example(document={"name": "x", "description": "\U00010000"})
@given(document=strategies.config_documents())
def test_any_drawn_config_survives_toml(document: dict) -> None:
    """Data -> TOML -> typed config -> TOML gives the same config and, again, the same text."""
    text = config.toml_text(document)
    assert tomllib.loads(text) == document
    typed = config.loads(text)
    written = config.to_toml(typed)
    again = config.loads(written)
    assert again == typed
    assert config.to_toml(again) == written


@given(text=st.text())
def test_toml_text_writes_any_key_and_string(text: str) -> None:
    document = {text: text, "t": {text: [text], "u": {text: {text: text}}}}
    assert tomllib.loads(config.toml_text(document)) == document
    assert tomllib.loads(config.toml_text(document, quoted=("t", "t.u"))) == document


def test_shipped_configs_cover_the_issue() -> None:
    names = {p.stem for p in CONFIGS}
    assert {"quickstart", "patience", "overselling", "hybrid_frontier", "sensitivity"} <= names
    quick = config.load(Path(config.__file__).parent / "configs" / "quickstart.toml")
    assert quick.replications == 20 and quick.years == 5
    sens = config.load(Path(config.__file__).parent / "configs" / "sensitivity.toml")
    assert sens.sweep.design == "sobol" and len(sens.sweep.sampled) >= 6


def test_dotted_keys_quoted_or_bare_are_the_same() -> None:
    quoted = config.loads('name = "x"\n[base.set]\n"partner.reps" = 4\n')
    bare = config.loads('name = "x"\n[base.set]\npartner.reps = 4\n')
    assert quoted == bare
    assert quoted.config_hash == bare.config_hash


def test_values_are_normalized_and_comments_do_not_change_the_hash() -> None:
    a = config.loads('name = "x"\n[sweep.parameters]\n"policy.urgency" = [0, 1]\n')
    b = config.loads('# c\nname = "x"  # c\n[sweep.parameters]\n"policy.urgency" = [0.0, 1.0]\n')
    assert a == b and a.config_hash == b.config_hash
    assert a.sweep.parameters[0].values == (0.0, 1.0)


GRID = TINY_BASE + '\n[sweep]\ndesign = "grid"\n'
SOBOL = TINY_BASE + '\n[sweep]\ndesign = "sobol"\nsamples = 8\n'
HEAD = 'name = "bad"\nyears = 1\nreplications = 2\n'

# (id, config text or None for a missing file, text the one-line error must contain)
BAD_CONFIGS = [
    ("bad-toml", 'name = "bad"\nyears = \n', "invalid TOML"),
    ("unknown-top-key", HEAD + "replicatons = 3\n", "replicatons"),
    ("unknown-table-key", HEAD + "[sweep]\nsampels = 3\n", "sweep.sampels"),
    (
        "unknown-parameter",
        HEAD + GRID + '[sweep.parameters]\n"policy.urgencyy" = [0.1]\n',
        "sweep.parameters.policy.urgencyy",
    ),
    ("unknown-override", HEAD + '[base.set]\n"partner.repz" = 3\n', "base.set.partner.repz"),
    ("wrong-type", 'name = "bad"\nreplications = "ten"\n', "replications"),
    (
        "out-of-range",
        HEAD + GRID + '[sweep.parameters]\n"policy.urgency" = [0.5, 1.5]\n',
        "sweep.parameters.policy.urgency",
    ),
    (
        "integer-parameter-given-float",
        HEAD + GRID + '[sweep.parameters]\n"partner.reps" = [2.5]\n',
        "sweep.parameters.partner.reps",
    ),
    (
        "low-above-high",
        HEAD + SOBOL + '[sweep.parameters]\n"policy.urgency" = { low = 0.8, high = 0.2 }\n',
        "sweep.parameters.policy.urgency",
    ),
    ("unknown-design", HEAD + '[sweep]\ndesign = "factorial"\n', "sweep.design"),
    (
        "sobol-samples-not-power-of-2",
        HEAD
        + '[sweep]\ndesign = "sobol"\nsamples = 10\n'
        + '[sweep.parameters]\n"policy.urgency" = { low = 0.0, high = 1.0 }\n',
        "sweep.samples",
    ),
    (
        "bounds-in-a-grid",
        HEAD + GRID + '[sweep.parameters]\n"policy.urgency" = { low = 0.0, high = 1.0 }\n',
        "sweep.parameters.policy.urgency",
    ),
    ("unknown-market", HEAD + GRID + '[sweep.parameters]\nmarket = ["mars"]\n', "market"),
    ("unknown-preset", HEAD + '[base]\npolicy = "aggressive"\n', "base.policy"),
    ("missing-name", "years = 1\n", "name: missing, expected a name"),
    (
        "missing-bound",
        HEAD + SOBOL + '[sweep.parameters]\n"policy.urgency" = { low = 0.2 }\n',
        "sweep.parameters.policy.urgency.high: missing, expected a number (high bound)",
    ),
    # tomllib says only "Cannot overwrite a value (at line 3, column 10)"
    (
        "key-given-twice",
        'name = "bad"\nyears = 1\nyears = 2\n',
        "years: given twice (again on line 3), expected each key once",
    ),
    (
        "parameter-given-twice",
        HEAD + '[base.set]\n"partner.reps" = 3\n"market.clients" = 9\n"partner.reps" = 4\n',
        "base.set.partner.reps: given twice (again on line",
    ),
    ("table-given-twice", HEAD + "[base]\n[sweep]\n[base]\n", "base: given twice (again on line"),
    # A key put under [sweep.parameters] by mistake is not a malformed range, and once it is
    # written as a list it is still not a parameter: both say so, with the closest names.
    (
        "not-a-parameter-in-the-sweep",
        HEAD + GRID + '[sweep.parameters]\n"policy.urgency" = [0.1]\ncolour = "blue"\n',
        "sweep.parameters.colour: got 'blue', expected a parameter's dotted name or market / "
        "policy: 'colour' is not a parameter (closest: ",
    ),
    (
        "not-a-parameter-in-the-sweep-as-a-list",
        HEAD + GRID + '[sweep.parameters]\n"policy.urgency" = [0.1]\ncolour = ["blue"]\n',
        "'colour' is not a parameter (closest: ",
    ),
    (
        "misspelt-parameter-in-the-sweep",
        HEAD + GRID + "[sweep.parameters]\npatience_months = [6, 12]\n",
        "'patience_months' is not a parameter (closest: policy.patience_months",
    ),
    (
        "misspelt-override",
        HEAD + '[base.set]\n"policy.urgncy" = 0.5\n',
        "base.set.policy.urgncy: got 0.5, expected a parameter's dotted name: 'policy.urgncy' is "
        "not a parameter (closest: policy.urgency",
    ),
    ("years-zero", 'name = "bad"\nyears = 0\n', "years"),
    (
        "choice-not-allowed",
        HEAD + GRID + '[sweep.parameters]\n"policy.proposal_timing" = ["never"]\n',
        "sweep.parameters.policy.proposal_timing",
    ),
    ("missing-file", None, "no such file"),
    (
        "relabel-a-swept-policy",
        HEAD + '[base.set]\n"policy.name" = "mine"\n'
        '[sweep.parameters]\npolicy = ["us_urgency", "hybrid"]\n',
        "base.set.policy.name: got 'mine', expected a parameter that is not swept "
        "(sweep.parameters.policy sets policy.name)",
    ),
    (
        "override-a-swept-parameter",
        HEAD + '[base.set]\n"policy.urgency" = 0.5\n'
        '[sweep.parameters]\n"policy.urgency" = [0.1, 0.2]\n',
        "base.set.policy.urgency: got 0.5, expected a parameter that is not swept",
    ),
    (
        "policy-and-policy-name-swept",
        HEAD + GRID + '[sweep.parameters]\npolicy = ["us_urgency", "hybrid"]\n'
        '"policy.name" = ["a", "b"]\n',
        "sweep.parameters.policy.name: got ['a', 'b'], expected one key per column "
        "(sweep.parameters.policy also sets policy.name)",
    ),
    (
        "market-name-and-market-swept",
        HEAD + GRID + '[sweep.parameters]\n"market.name" = ["z"]\nmarket = ["japan", "us"]\n',
        "sweep.parameters.market: got ['japan', 'us'], expected one key per column",
    ),
    # The names are chosen, not set: setting one would relabel runs of another model.
    (
        "market-name-set",
        HEAD + '[base.set]\n"market.name" = "us"\n',
        "base.set.market.name: got 'us', expected a market chosen by name",
    ),
    (
        "policy-name-swept",
        HEAD + GRID + '[sweep.parameters]\n"policy.name" = ["a", "b"]\n',
        "sweep.parameters.policy.name: got 'a', expected a preset chosen by name",
    ),
    # One parameter written twice, dotted and as a nested table: refused in either order.
    (
        "swept-twice-dotted-first",
        HEAD + '[sweep.parameters]\n"policy.urgency" = [0.1]\npolicy = { urgency = [0.5] }\n',
        "sweep.parameters.policy.urgency: got [0.5], expected each parameter once",
    ),
    (
        "swept-twice-nested-first",
        HEAD + '[sweep.parameters]\npolicy = { urgency = [0.5] }\n"policy.urgency" = [0.1]\n',
        "sweep.parameters.policy.urgency: got [0.1], expected each parameter once",
    ),
    (
        "set-twice-dotted-first",
        HEAD + '[base.set]\n"policy.urgency" = 0.1\npolicy = { urgency = 0.5 }\n',
        "base.set.policy.urgency: got 0.5, expected each parameter once",
    ),
    (
        "set-twice-nested-first",
        HEAD + '[base.set]\npolicy = { urgency = 0.5 }\n"policy.urgency" = 0.1\n',
        "base.set.policy.urgency: got 0.1, expected each parameter once",
    ),
    (
        "morris-odd-levels",
        HEAD + TINY_BASE + '\n[sweep]\ndesign = "morris"\nsamples = 4\nlevels = 3\n'
        '[sweep.parameters]\n"policy.urgency" = { low = 0.1, high = 0.9 }\n',
        "sweep.levels: got 3, expected an even number of levels",
    ),
    # A quoted TOML key may hold a newline: the message stays one line, the key escaped.
    ("newline-in-a-key", HEAD + '"fo\\no" = 1\n', "fo\\no: got 1"),
    ("newline-in-a-set-key", HEAD + '[base.set]\n"policy.urg\\nency" = 1\n', "urg\\nency"),
]


@pytest.mark.parametrize(
    ("text", "needle"), [b[1:] for b in BAD_CONFIGS], ids=[b[0] for b in BAD_CONFIGS]
)
def test_bad_config_exit_2_one_line_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture, text: str | None, needle: str
) -> None:
    path = tmp_path / "missing.toml" if text is None else write_config(tmp_path, text)
    out = tmp_path / "out"
    assert run_cli("run", path, "--out", out) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("partnersim: error: ") and needle in lines[0], lines[0]
    assert captured.out == ""
    assert not out.exists()


def test_bad_config_through_the_installed_command(tmp_path: Path) -> None:
    path = write_config(tmp_path, HEAD + GRID + '[sweep.parameters]\n"policy.urgency" = [2]\n')
    command = Path(sys.executable).parent / "partnersim"
    done = subprocess.run(
        [command, "run", path, "--out", tmp_path / "out"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "sweep.parameters.policy.urgency: got 2" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_config(tmp_path, TINY_GRID)
    out = tmp_path / "out"
    assert run_cli("run", path, "--out", out, "--dask-local", "--scheduler", "tcp://x:1") == 2
    assert run_cli("run", path, "--out", out, "--workers", 0) == 2
    assert run_cli("run", path, "--out", out, "--workers", 100_000) == 2
    out.write_text("a file")
    assert run_cli("run", path, "--out", out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("partnersim: error: ") for line in err)
    assert "--workers: got 100000, expected an integer in [1, 512]" in err[2]


def test_out_under_a_file_is_refused_before_simulating(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sim.run

    def never(spec):
        raise AssertionError("simulated before --out was checked")

    monkeypatch.setattr(sim.run, "simulate", never)
    (tmp_path / "afile").write_text("")
    assert run_cli("simulate", "--years", 1, "--out", tmp_path / "afile" / "sub") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("partnersim: error: --out: "), err
    assert "afile" in err[0]


def test_an_empty_scheduler_address_names_scheduler(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from experiments import runner

    path = write_config(tmp_path, TINY_GRID)
    assert run_cli("run", path, "--scheduler", "", "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("partnersim: error: --scheduler: got ''"), err
    assert not (tmp_path / "out").exists()
    executor = runner.dask_executor(scheduler="", timeout_s=1)
    with pytest.raises(runner.ExecutorError, match=r"^--scheduler: cannot use ''"), executor:
        pass


@pytest.mark.slow  # the tiny grid's 60 runs, then another config's: about 4 s
def test_a_different_config_is_refused_unless_fresh(
    reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    other = write_config(tmp_path, HEAD + TINY_BASE, name="other.toml")
    capsys.readouterr()
    assert run_cli("run", other, "--out", out, "--workers", 1) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different config" in err[0] and "--fresh" in err[0]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before  # nothing written
    assert run_cli("run", other, "--out", out, "--workers", 1, "--fresh") == 0
    runs = pl.scan_parquet(out / "runs" / "*.parquet").collect()
    assert runs.height == config.load(other).replications
    assert set(runs["experiment"]) == {"bad"}
    assert json.loads((out / "manifest.json").read_text())["name"] == "bad"


@given(
    description=st.text(max_size=40),
    years=st.floats(min_value=0.01, max_value=config.MAX_YEARS),
    urgency=st.lists(st.floats(0, 1), min_size=1, max_size=4, unique=True),
    reps=st.integers(1, 50),
    low=st.floats(0, 0.5),
    width=st.floats(0.001, 0.5),
)
@settings(max_examples=30)
def test_any_config_survives_toml_round_trip(description, years, urgency, reps, low, width):
    lists = config.loads('name = "x"\n[sweep.parameters]\n"policy.urgency" = [0.5]\n')
    swept = (config.SweptParameter(key="policy.urgency", values=tuple(urgency)),)
    grid = config.ExperimentConfig(
        name="x-1.y",
        description=description,
        years=years,
        overrides=(("partner.reps", reps),),
        sweep=config.Sweep(parameters=swept),
    )
    bounds = config.Bounds(low=low, high=low + width)
    lhs = config.ExperimentConfig(
        name="x",
        sweep=config.Sweep(
            design="lhs",
            samples=4,
            parameters=(config.SweptParameter(key="policy.overselling", bounds=bounds),),
        ),
    )
    for c in (lists, grid, lhs):
        assert config.loads(config.to_toml(c)) == c


def test_the_order_of_base_set_lines_and_written_defaults_do_not_change_the_hash() -> None:
    def with_set(lines: str, sweep: str = "") -> str:
        return HEAD + TINY_BASE.split("[base.set]")[0] + "[base.set]\n" + lines + sweep

    one = '"policy.urgency" = 0.5\n"policy.patience_months" = 12\n'
    other = '"policy.patience_months" = 12\n"policy.urgency" = 0.5\n'
    assert config.loads(with_set(one)).config_hash == config.loads(with_set(other)).config_hash
    morris = (
        '\n[sweep]\ndesign = "morris"\nsamples = 4\n{levels}'
        '[sweep.parameters]\n"policy.relationship_investment" = { low = 0.1, high = 0.9 }\n'
    )
    implicit = config.loads(with_set(one, morris.replace("{levels}", "")))
    explicit = config.loads(with_set(one, morris.replace("{levels}", "levels = 4\n")))
    assert implicit.config_hash == explicit.config_hash
    changed = config.loads(with_set(one.replace("0.5", "0.6")))
    assert changed.config_hash != config.loads(with_set(one)).config_hash
