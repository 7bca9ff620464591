"""The `partnersim` command: `simulate` writes its three tables and a summary, `presets`
lists markets, presets and parameters, and bad input is one line on stderr with exit 2.

The bad-input cases run as real subprocesses (`python -m experiments.cli`), all started
at once, since each pays the import cost of the model.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from agents.parameters import ConfigError
from experiments import cli

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--years", "1", "--seed", "3", "--set", "market.clients=30", "--set", "partner.reps=2"]

# (case id, extra arguments, text the error line must contain)
BAD_INPUT = [
    ("unknown-market", ["--market", "mars"], "market"),
    ("unknown-preset", ["--policy", "nope"], "policy"),
    ("unknown-parameter", ["--set", "policy.nonsense=1"], "policy.nonsense"),
    ("wrong-type", ["--set", "policy.urgency=abc"], "policy.urgency"),
    ("out-of-range", ["--set", "policy.urgency=2"], "policy.urgency"),
    ("not-finite", ["--set", "market.deal_value_median_usd=inf"], "market.deal_value_median_usd"),
    ("no-equals", ["--set", "nonsense"], "nonsense"),
    ("newline-in-key", ["--set", "policy.urg\nency=1"], "policy.urg\\nency"),
    ("set-twice", ["--set", "policy.urgency=0.1", "--set", "policy.urgency=0.2"], "given twice"),
    ("negative-years", ["--years", "-1"], "years"),
    ("negative-seed", ["--seed", "-5"], "seed"),
]


def simulate_args(out: Path, *extra: str) -> list[str]:
    return [
        "simulate",
        "--market",
        "japan",
        "--policy",
        "hybrid",
        *SMALL,
        *extra,
        "--out",
        str(out),
    ]


def existing_runs_table(folder: Path) -> bytes:
    """Put a runs.parquet from an earlier run in folder; return its bytes."""
    folder.mkdir(parents=True)
    pl.DataFrame({"run_id": ["earlier"], "npv_usd": [1.0]}).write_parquet(folder / "runs.parquet")
    return (folder / "runs.parquet").read_bytes()


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory):
    """Every bad-input case as a subprocess, run concurrently: {case: (result, out, bytes)}."""
    base = tmp_path_factory.mktemp("bad-input")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = {}
    for case, extra, _ in BAD_INPUT:
        out = base / case
        before = existing_runs_table(out)
        proc = subprocess.Popen(
            [sys.executable, "-m", "experiments.cli", *simulate_args(out, *extra)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started[case] = (proc, out, before)
    finished = {}
    for case, (proc, out, before) in started.items():
        stdout, stderr = proc.communicate(timeout=120)
        finished[case] = (proc.returncode, stdout, stderr, out, before)
    return finished


@pytest.mark.parametrize(("case", "extra", "key"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(bad_input_runs, case, extra, key):
    returncode, stdout, stderr, out, before = bad_input_runs[case]
    lines = stderr.strip().splitlines()
    assert returncode == 2, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("partnersim: error: ")
    assert key in lines[0]
    assert "Traceback" not in stderr
    assert stdout == ""
    assert sorted(p.name for p in out.iterdir()) == ["runs.parquet"]
    assert (out / "runs.parquet").read_bytes() == before


@pytest.mark.parametrize(("case", "extra", "key"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_in_process_creates_no_output_dir(tmp_path, capsys, case, extra, key):
    out = tmp_path / "never"
    assert cli.main(simulate_args(out, *extra)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert key in captured.err
    assert not out.exists()


def test_simulate_writes_three_tables_and_a_summary(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(simulate_args(out)) == 0
    printed = capsys.readouterr().out

    runs = pl.read_parquet(out / "runs.parquet")
    monthly = pl.read_parquet(out / "monthly.parquet")
    deals = pl.read_parquet(out / "deals.parquet")
    assert runs.height == 1
    assert monthly.height == 12
    assert deals.height >= runs["deals_won"][0] + runs["deals_lost"][0]
    assert sorted(p.name for p in out.iterdir()) == [
        "deals.parquet",
        "monthly.parquet",
        "runs.parquet",
    ]
    row = runs.row(0, named=True)
    assert row["market.name"] == "japan"
    assert row["policy.name"] == "hybrid"
    assert row["market.clients"] == 30
    assert row["partner.reps"] == 2
    assert row["years"] == 1.0
    assert row["seed_entropy"] == "3"
    assert set(monthly["run_id"]) == {row["run_id"]}

    assert "japan / hybrid" in printed
    assert "first-year revenue per rep: $" in printed
    assert "partnership: " in printed
    assert "win rate " in printed
    assert "median days to close " in printed


def test_a_failed_write_leaves_the_former_tables_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    assert cli.main(simulate_args(out)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = pl.DataFrame.write_parquet
    written = []

    def full_disk_at_the_second(frame, path, *args, **kwargs):
        written.append(path)
        if len(written) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(frame, path, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full_disk_at_the_second)
    capsys.readouterr()
    assert cli.main(simulate_args(out, "--seed", "4")) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("partnersim: error: cannot write ")
    assert "monthly.parquet: no space left on device" in lines[0]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no temp file either


def test_a_full_disk_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """polars writing to a full disk says "Invalid thrift: transport error"; we say why."""
    from tests.experiments.test_store import full_disk_under

    out = tmp_path / "run"
    full_disk_under(monkeypatch, out, "*.parquet")
    assert cli.main(simulate_args(out)) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"partnersim: error: cannot write {out / 'runs.parquet'}: no space left on device; "
        f"the tables in {out} are as they were"
    ]
    assert list(out.iterdir()) == []


def test_presets_lists_markets_presets_and_parameters(capsys):
    assert cli.main(["presets"]) == 0
    printed = capsys.readouterr().out
    first = printed.splitlines()[:2]
    assert "japan" in first[0] and "us" in first[0]
    for preset in ("us_urgency", "jp_relationship", "hybrid"):
        assert preset in first[1]
        assert f"  {preset}: " in printed
    assert "policy.patience_months = 36" in printed
    assert "market.culture.uai" in printed


def test_a_sweeps_driver_does_not_import_the_model() -> None:
    """Planning, sending and storing runs need no Mesa (nor pandas or scipy, which it
    imports): a driver that imported them would start seconds later and hold more memory
    beside its workers. `sim`'s names still resolve, on first use. Hypothesis, a test
    dependency, is never imported at run time."""
    check = (
        "import sys\n"
        "from experiments import cli, config, design, runner, store\n"
        "from sim import RunSpec, make_spec\n"
        "store.model_hash()\n"
        "heavy = {'mesa', 'pandas', 'scipy', 'hypothesis'}\n"
        "assert not heavy & set(sys.modules), sorted(sys.modules)\n"
        "from sim import PartnershipModel\n"
        "assert 'mesa' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_an_interrupt_outside_a_sweep_is_one_line_exit_130(tmp_path, capsys, monkeypatch):
    import sim.run

    def interrupted(spec):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.run, "simulate", interrupted)
    code = cli.main(["simulate", "--years", "1", "--out", str(tmp_path / "out")])
    assert code == 130
    assert capsys.readouterr().err.strip() == "partnersim: interrupted"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["run", "x.toml", "--workers", "abc"], "--workers"),
        (["simulate", "--years", "abc"], "--years"),
        (["bogus"], "bogus"),
        (["run"], "CONFIG"),
        (["simulate", "--out", ""], "--out"),
        (["run", "x.toml", "--out", ""], "--out"),
    ],
)
def test_a_bad_command_line_is_one_line_exit_2(argv, named, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("partnersim"), err
    assert named in err


def test_debug_is_accepted_after_the_command(capsys):
    with pytest.raises(ConfigError):
        cli.main(["simulate", "--market", "mars", "--debug"])
    assert cli.main(["simulate", "--market", "mars"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_configuration_beyond_the_memory_available_is_refused_before_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """market.clients accepts 1,000,000 (some GBs per run): refused up front, in one line
    giving the estimate, unless --ignore-memory-check."""
    from experiments import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 2 * 10**9)
    monkeypatch.setattr(memory, "process_limit_bytes", lambda: None)
    out = tmp_path / "run"
    args = ["simulate", "--set", "market.clients=1000000", "--out", str(out)]
    assert cli.main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "partnersim: error: market.clients: got 1,000,000, expected a configuration that fits "
        "in memory: an estimated 8.4 GB against 2.0 GB available (--ignore-memory-check runs "
        "it anyway)"
    ]
    assert not out.exists()
    # a process limit (ulimit -v) counts per run
    monkeypatch.setattr(memory, "process_limit_bytes", lambda: 10**9)
    assert cli.main(["simulate", "--set", "market.clients=200000", "--out", str(out)]) == 2
    assert "1.9 GB per run against a limit of 1.0 GB per process (ulimit -v)" in (
        capsys.readouterr().err
    )
    # the flag runs it anyway (here a small run, with almost no memory said to be free)
    monkeypatch.setattr(memory, "available_bytes", lambda: 10**6)
    assert cli.main(simulate_args(out)) == 2
    assert cli.main([*simulate_args(out), "--ignore-memory-check"]) == 0


def test_a_sweep_is_checked_for_its_largest_run_times_its_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from experiments import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 10**9)
    monkeypatch.setattr(memory, "process_limit_bytes", lambda: None)
    config = tmp_path / "big.toml"
    config.write_text(
        'name = "big"\nyears = 1\n[sweep.parameters]\n"market.clients" = [100, 50000]\n'
    )
    out = tmp_path / "out"
    assert cli.main(["run", str(config), "--out", str(out), "--workers", "2"]) == 2
    line = capsys.readouterr().err.strip()
    assert line == (
        "partnersim: error: market.clients: got 50,000, expected a configuration that fits in "
        "memory: an estimated 1.4 GB (2 runs at once, 0.6 GB each) against 1.0 GB available "
        "(--ignore-memory-check runs it anyway)"
    )
    assert not out.exists()
