"""Levers and uncertainties in experiment files, and `partnersim discover DIR` (PRIM).

The configs: [sweep.levers] and [sweep.uncertainties] load, round-trip and are crossed so that
every lever setting meets the same sample; a key in the wrong table is one line, exit 2. The
analysis: the condition language, PRIM on a synthetic table whose answer is known, and a
small experiment run and discovered end to end, where each box's figures are recomputed from
the runs table. Bad input and a missing extra are one line, exit 2, nothing written; an
interrupted write leaves each output file whole or absent.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from experiments import cli, config, design
from experiments.discovery import condition, prim_adapter
from tests.experiments.decision_helpers import _threads

CONFIGS = Path(config.__file__).parent / "configs"
OUTPUTS = ("discovery.parquet", "discovery_trajectory.parquet", "discovery.csv", "discovery.html")

LEVERS_AND_UNCERTAINTIES = """
    name = "robust"
    years = 1
    replications = 2
    seed = 5

    [base]
    market = "japan"
    policy = "hybrid"

    [base.set]
    "market.clients" = 30
    "partner.reps" = 2

    [sweep]
    design = "lhs"
    samples = 10

    [sweep.uncertainties]
    "market.freeze_rate_per_year" = { low = 0.1, high = 3.0 }
    "market.country_cost_usd_per_year" = { low = 0.0, high = 2000000.0 }

    [sweep.levers]
    policy = ["hybrid", "us_urgency"]
"""


def write(folder: Path, text: str, name: str = "experiment.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


# --- experiment files ----------------------------------------------------------------------


def test_levers_and_uncertainties_load_round_trip_and_record_their_roles() -> None:
    loaded = config.loads(textwrap.dedent(LEVERS_AND_UNCERTAINTIES))
    assert [p.key for p in loaded.sweep.levers] == ["policy"]
    assert [p.key for p in loaded.sweep.uncertainties] == [
        "market.freeze_rate_per_year",
        "market.country_cost_usd_per_year",
    ]
    text = config.to_toml(loaded)
    assert "[sweep.levers]" in text and "[sweep.uncertainties]" in text
    assert "[sweep.parameters]" not in text
    assert config.loads(text) == loaded and config.to_toml(config.loads(text)) == text
    described = design.plan(loaded).describe()
    assert described["levers"] == ["policy.name"]
    assert described["uncertainties"] == [
        "market.freeze_rate_per_year",
        "market.country_cost_usd_per_year",
    ]
    assert described["parameters"]["policy"]["role"] == "lever"


def test_every_lever_setting_meets_the_same_uncertainty_sample() -> None:
    loaded = config.loads(
        textwrap.dedent(LEVERS_AND_UNCERTAINTIES).replace(
            'policy = ["hybrid", "us_urgency"]',
            'policy = ["hybrid", "us_urgency"]\n"policy.urgency" = [0.2, 0.8]',
        )
    )
    table = design.plan(loaded).table().filter(pl.col("replication") == 0)
    uncertainties = ["market.freeze_rate_per_year", "market.country_cost_usd_per_year"]
    settings = table.group_by("policy.name", "policy.urgency", maintain_order=True)
    samples = [frame.select("sample_index", *uncertainties) for _, frame in settings]
    assert len(samples) == 4 and samples[0].height == 10
    assert samples[0]["sample_index"].to_list() == list(range(10))
    for other in samples[1:]:
        assert other.equals(samples[0])
    # the sample is a Latin hypercube: each tenth of the freeze range holds one point
    freeze = samples[0]["market.freeze_rate_per_year"].to_numpy()
    assert sorted(np.floor((freeze - 0.1) / 2.9 * 10).astype(int)) == list(range(10))


def test_shipped_parameter_configs_keep_their_form_and_the_robustness_config_loads() -> None:
    for path in CONFIGS.glob("*.toml"):
        text = path.read_text()
        if "[sweep.parameters]" in text:
            loaded = config.load(path)
            assert not loaded.sweep.levers and not loaded.sweep.uncertainties
            assert "[sweep.parameters]" in config.to_toml(loaded)
    robust = config.load(CONFIGS / "hybrid_robustness.toml")
    assert [p.column for p in robust.sweep.levers] == ["policy.name"]
    assert len(robust.sweep.uncertainties) >= 4
    assert all(p.bounds is not None for p in robust.sweep.uncertainties)
    assert config.design_point_count(robust.sweep) == 3 * robust.sweep.samples


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (
            ('policy = ["hybrid", "us_urgency"]', '"market.clients" = [30, 60]'),
            "sweep.levers.market.clients: got [30, 60], expected a vendor choice",
        ),
        (
            (
                '"market.country_cost_usd_per_year" = { low = 0.0, high = 2000000.0 }',
                '"policy.urgency" = { low = 0.1, high = 0.9 }',
            ),
            "sweep.uncertainties.policy.urgency: got {'low': 0.1, 'high': 0.9}, expected a rate "
            "no one chooses",
        ),
        (
            ('policy = ["hybrid", "us_urgency"]', '"policy.urgency" = { low = 0.1, high = 0.9 }'),
            "sweep.levers.policy.urgency: got {'low': 0.1, 'high': 0.9}, expected a list of values",
        ),
        (
            ("[sweep.levers]", '[sweep.parameters]\n"policy.overselling" = [0.0]\n[sweep.levers]'),
            "sweep.levers: got {'policy': ['hybrid', 'us_urgency']}, expected no "
            "[sweep.parameters] beside it",
        ),
        (
            ('policy = ["hybrid", "us_urgency"]', 'policy = ["hybrid", "bold"]'),
            "sweep.levers.policy: got 'bold', expected one of us_urgency",
        ),
        (
            (
                '"market.country_cost_usd_per_year" = { low = 0.0, high = 2000000.0 }',
                'market = ["japan", "us"]',
            ),
            "sweep.uncertainties.market: got ['japan', 'us'], expected no market profile here",
        ),
        (
            ("high = 3.0 }", "high = 300.0 }"),
            "sweep.uncertainties.market.freeze_rate_per_year.high: got 300.0, expected a value "
            "in [0, 100]",
        ),
    ],
)
def test_a_key_in_the_wrong_table_is_one_line_exit_2_nothing_written(
    replace: tuple[str, str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    old, new = replace
    text = textwrap.dedent(LEVERS_AND_UNCERTAINTIES)
    assert old in text
    path = write(tmp_path, text.replace(old, new))
    out = tmp_path / "out"
    assert cli.main(["run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


# --- conditions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed", "label"),
    [
        (
            "partnership_terminated",
            ("partnership_terminated", None, None),
            "partnership_terminated",
        ),
        ("npv_usd<0", ("npv_usd", "<", 0.0), "npv_usd < 0"),
        ("  npv_usd >= -1.5e6 ", ("npv_usd", ">=", -1.5e6), "npv_usd >= -1500000"),
        ("break_even_month != 12", ("break_even_month", "!=", 12.0), "break_even_month != 12"),
        ("win_rate <= .25", ("win_rate", "<=", 0.25), "win_rate <= 0.25"),
    ],
)
def test_conditions_parse(text: str, parsed: tuple, label: str) -> None:
    c = condition.parse(text)
    assert (c.column, c.op, c.number) == parsed
    assert c.label == label


@pytest.mark.parametrize(
    "text",
    ["npv_usd = 0", "npv_usd < abc", "npv_usd <", "__import__('os').system('x')", "a < 1 < 2",
     "npv_usd < 1e999", "", "not partnership_terminated", "npv_usd < nan"],
)  # fmt: skip
def test_conditions_that_do_not_parse_are_refused(text: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        condition.parse(text)
    assert str(caught.value).startswith("--outcome: got ")


def test_a_condition_selects_runs_and_leaves_out_nulls() -> None:
    runs = pl.DataFrame(
        {
            "npv_usd": [-5.0, 0.0, 3.0, None],
            "partnership_terminated": [True, False, True, None],
        }
    )
    cases, valued = condition.parse("npv_usd < 0").evaluate(runs)
    assert cases.tolist() == [True, False, False, False]
    assert valued.tolist() == [True, True, True, False]
    cases, _ = condition.parse("partnership_terminated").evaluate(runs)
    assert cases.tolist() == [True, False, True, False]
    cases, _ = condition.parse("partnership_terminated == 0").evaluate(runs)
    assert cases.tolist() == [False, True, False, False]
    with pytest.raises(config.ConfigError, match="a boolean column alone"):
        condition.parse("npv_usd").check(runs.schema)
    with pytest.raises(config.ConfigError, match="an outcome column"):
        condition.parse("npv < 0").check(runs.schema)


# --- PRIM ----------------------------------------------------------------------------------


def test_prim_recovers_a_known_box() -> None:
    rng = np.random.default_rng(20261214)
    n = 2000
    x = {"a": rng.random(n), "b": rng.random(n), "c": rng.random(n), "k": rng.integers(1, 10, n)}
    y = (x["a"] > 0.7) & (x["b"] < 0.3)
    boxes = prim_adapter.find_boxes(x, y, threshold=0.8, max_boxes=2)
    first = boxes[0]
    assert first.meets_threshold and first.step.density >= 0.9 and first.step.coverage >= 0.9
    assert first.limits["a"].restricted and abs(first.limits["a"].low - 0.7) < 0.03
    assert first.limits["b"].restricted and abs(first.limits["b"].high - 0.3) < 0.03
    assert not first.limits["c"].restricted and not first.limits["k"].restricted
    assert first.limits["a"].qp_low < 1e-6 and first.limits["a"].qp_high is None
    inside = (x["a"] >= first.limits["a"].low) & (x["b"] <= first.limits["b"].high)
    assert first.step.runs == int(inside.sum())
    assert first.step.density == pytest.approx(y[inside].mean())


def test_prim_finds_nothing_to_separate_when_no_run_or_every_run_is_a_case() -> None:
    x = {"a": np.linspace(0, 1, 50)}
    assert prim_adapter.find_boxes(x, np.zeros(50, bool), threshold=0.8, max_boxes=2) == []
    assert prim_adapter.find_boxes(x, np.ones(50, bool), threshold=0.8, max_boxes=2) == []


def test_the_chosen_step_has_the_most_coverage_at_the_threshold_else_the_most_density() -> None:
    def step(coverage: float, density: float, restricted: int = 1) -> prim_adapter.Step:
        return prim_adapter.Step(coverage, density, 1.0, restricted, 10, 5)

    steps = (step(1.0, 0.3, 0), step(0.9, 0.79), step(0.8, 0.85), step(0.5, 0.95))
    assert prim_adapter.choose(steps, 0.8) == 2
    assert prim_adapter.choose(steps, 0.99) == 3
    assert prim_adapter.choose((step(1.0, 0.8), step(1.0, 0.9)), 0.8) == 1  # ties: denser


# --- end to end ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LEVERS_AND_UNCERTAINTIES run in this process: 2 policies x 10 samples x 2 replications."""
    from experiments import runner

    folder = tmp_path_factory.mktemp("discover")
    path = write(folder, LEVERS_AND_UNCERTAINTIES)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "make_executor", _threads)
        assert cli.main(["run", str(path), "--out", str(folder / "out")]) == 0
    return folder / "out"


def discover(*args: object) -> int:
    return cli.main(["discover", *map(str, args)])


def copy_of(experiment: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "out"
    shutil.copytree(experiment, target)
    return target


def test_discover_writes_boxes_whose_figures_the_runs_table_confirms(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = copy_of(experiment, tmp_path)
    capsys.readouterr()
    # a year without revenue: NPV falls with the country's fixed cost, and no partnership ends
    code = discover(out, "--outcome", "npv_usd < -2000000", "--outcome",
                    "partnership_terminated", "--no-images")  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "npv_usd < -2000000 | hybrid:" in printed
    assert (
        "partnership_terminated | us_urgency: 0 of 20 runs (0.0%)\n  no box: no run meets it"
        in printed
    )
    for group in ("hybrid", "us_urgency"):  # the cost alone decides, so PRIM restricts it alone
        first = pl.read_parquet(out / "discovery.parquet").filter(
            (pl.col("group") == group) & (pl.col("box") == 1) & pl.col("restricted")
        )
        assert first["uncertainty"].to_list() == ["market.country_cost_usd_per_year"]
        assert first["density"].item() >= 0.9 and first["coverage"].item() == 1.0
        assert first["qp_low"].item() is not None and first["qp_high"].item() is None
    boxes = pl.read_parquet(out / "discovery.parquet")
    assert boxes.equals(pl.read_csv(out / "discovery.csv", schema=boxes.schema))
    trajectory = pl.read_parquet(out / "discovery_trajectory.parquet")
    assert (out / "discovery.html").read_text().count("<h2>") >= 3
    runs = pl.scan_parquet(out / "runs" / "*.parquet").collect()
    checked = 0
    for s in boxes.filter(pl.col("box") == 1).unique(["condition", "group"]).iter_rows(named=True):
        group = runs.filter(pl.col("policy.name") == s["group"])
        assert s["runs"] + s["left_out"] == group.height == 20
        cases, valued = condition.parse(s["condition"]).evaluate(group)
        assert s["cases"] == int(cases.sum())
        limits = boxes.filter(
            (pl.col("condition") == s["condition"]) & (pl.col("group") == s["group"])
            & (pl.col("box") == 1)
        )  # fmt: skip
        assert set(limits["uncertainty"]) == {"market.freeze_rate_per_year",
                                              "market.country_cost_usd_per_year"}  # fmt: skip
        inside = pl.Series(valued)
        for r in limits.iter_rows(named=True):
            column = group[r["uncertainty"]]
            inside &= (column >= r["low"]) & (column <= r["high"])
            assert r["range_low"] <= r["low"] <= r["high"] <= r["range_high"]
        assert s["box_runs"] == int(inside.sum())
        assert s["density"] == pytest.approx(cases[inside.to_numpy()].mean())
        assert s["coverage"] == pytest.approx(cases[inside.to_numpy()].sum() / cases.sum())
        steps = trajectory.filter(
            (pl.col("condition") == s["condition"]) & (pl.col("group") == s["group"])
            & (pl.col("box") == 1)
        )  # fmt: skip
        assert steps.filter("chosen")["step"].to_list() == [s["step"]]
        assert steps["mass"].is_sorted(descending=True) or steps.height > 1
        checked += 1
    assert checked >= 1


def test_discover_one_policy_and_named_uncertainties(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = copy_of(experiment, tmp_path)
    code = discover(out, "--outcome", "npv_usd < -2000000", "--policy", "us_urgency",
                    "--uncertainty", "market.freeze_rate_per_year", "--no-images")  # fmt: skip
    assert code == 0
    boxes = pl.read_parquet(out / "discovery.parquet")
    assert set(boxes["group"]) <= {"us_urgency"}
    assert set(boxes["uncertainty"]) <= {"market.freeze_rate_per_year"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--outcome", "npv < 0"], "--outcome: got 'npv < 0', expected a condition on an outcome"),
        (["--outcome", "npv_usd = 0"], "--outcome: got 'npv_usd = 0', expected a boolean column"),
        (["--outcome", "npv_usd"], "--outcome: got 'npv_usd', expected a boolean column alone"),
        (["--uncertainty", "market.colour"], "--uncertainty: got 'market.colour', expected a num"),
        (["--uncertainty", "policy.name"], "--uncertainty: got 'policy.name', expected a number"),
        (["--policy", "bold"], "--policy: got 'bold', expected a policy in DIR's runs: hybrid"),
        (["--threshold", "1.5"], "--threshold: got 1.5, expected a density in (0, 1]"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(
    args: list, message: str, experiment: Path, capsys: pytest.CaptureFixture
) -> None:
    before = sorted(p.name for p in experiment.iterdir())
    assert discover(experiment, *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert sorted(p.name for p in experiment.iterdir()) == before


def test_a_directory_without_runs_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert discover(tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected a directory with runs/*.parquet parts" in err, err
    assert discover(tmp_path / "missing") == 2
    assert "expected an experiment directory" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_without_the_extra_discover_says_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prim_adapter.importlib.util, "find_spec", lambda name: None)
    assert discover(tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "discover needs EMA Workbench's PRIM: pip install 'partnersim[discovery]'" in err
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_write_leaves_each_output_whole_or_absent(
    experiment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupt the writing at each of its flushes: every file there is whole, none is a
    temporary file, and the same command then writes them all."""
    from experiments.store import atomic

    out = copy_of(experiment, tmp_path)
    args = (out, "--outcome", "npv_usd < -2000000", "--no-images")
    real_flush = atomic.flush_to_disk
    flushed: list[Path] = []
    monkeypatch.setattr(atomic, "flush_to_disk", lambda path: flushed.append(path) or None)
    assert discover(*args) == 0
    monkeypatch.setattr(atomic, "flush_to_disk", real_flush)
    assert len(flushed) == 4  # two tables, the CSV, the page
    complete = {name: (out / name).read_bytes() for name in OUTPUTS[:3]}
    for stop in range(1, len(flushed) + 1):
        for name in OUTPUTS:
            (out / name).unlink(missing_ok=True)
        calls = []

        def flush(path: Path, stop: int = stop, calls: list = calls) -> None:
            calls.append(path)
            if len(calls) == stop:
                raise KeyboardInterrupt  # as a Ctrl-C, or a kill, would stop it there
            real_flush(path)

        monkeypatch.setattr(atomic, "flush_to_disk", flush)
        with pytest.raises(KeyboardInterrupt):
            discover(*args, "--debug")
        monkeypatch.setattr(atomic, "flush_to_disk", real_flush)
        assert not [p for p in out.iterdir() if atomic.TEMP_MARK in p.name]
        for name, content in complete.items():
            assert not (out / name).exists() or (out / name).read_bytes() == content
    assert discover(*args) == 0
    for name, content in complete.items():
        assert (out / name).read_bytes() == content
