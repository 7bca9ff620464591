"""Storage: batched atomic parts, cleanup of half-written parts, failures recorded and retried."""

from __future__ import annotations

import concurrent.futures as cf
import errno
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from experiments import config, design, runner, store
from experiments.store import result_store
from sim.run import simulate
from tests.experiments.sweep_helpers import (
    TINY_BASE,
    assert_same_results,
    run_cli,
    tables,
    write_config,
)

# 3 policies x 4 replications = 12 runs of one year.
TWELVE = (
    'name = "twelve"\nyears = 1\nreplications = 4\nseed = 3\n'
    + TINY_BASE
    + '\n[sweep.parameters]\npolicy = ["us_urgency", "jp_relationship", "hybrid"]\n'
)


@pytest.fixture(scope="module")
def plan() -> design.Plan:
    return design.plan(config.loads(TWELVE))


def fail_replication_one(spec):
    """A task whose replication-1 runs raise (in the worker, before any result exists)."""
    if spec.replication == 1:
        raise RuntimeError(f"boom in {spec.run_id}")
    return simulate(spec)


def failures_of(out: Path) -> list[str]:
    path = out / "failures.parquet"
    return pl.read_parquet(path)["error"].to_list() if path.exists() else []


def sweep(plan, out: Path, task=None, batch_runs: int | None = None) -> runner.SweepReport:
    with (
        cf.ThreadPoolExecutor(2) as pool,
        store.ResultStore.open(out, plan, batch_runs=batch_runs) as results,
    ):
        return runner.run_sweep(plan.specs, results, pool, slots=2, task=task)


def test_parts_are_batched_and_scan_reads_everything(plan, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = sweep(plan, out, batch_runs=5)
    assert report.completed == 12 and report.status == "complete", failures_of(out)
    names = {t: sorted(p.name for p in (out / t).iterdir()) for t in store.TABLES}
    assert len(names["runs"]) == 3  # 5 + 5 + 2
    assert names["runs"] == names["monthly"] == names["deals"]
    runs = pl.scan_parquet(out / "runs" / "*.parquet").collect()
    assert sorted(runs["run_id"]) == sorted(s.run_id for s in plan.specs)
    months = pl.scan_parquet(out / "monthly" / "*.parquet").collect()
    assert months.group_by("run_id").len()["len"].to_list() == [12] * 12
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("name", "config_text", "config_hash", "seed", "years", "replications"):
        assert key in manifest
    assert manifest["counts"] == {"points": 3, "runs": 12, "points_x_replications": 12}
    assert manifest["swept"] == ["policy.name"]
    assert manifest["design"]["kind"] == "grid"
    assert {"partnersim", "polars", "numpy", "SALib", "distributed"} <= set(manifest["versions"])
    assert "git_commit" in manifest
    design_table = pl.read_parquet(out / "design.parquet")
    assert design_table.height == 12 and set(design_table["run_id"]) == set(runs["run_id"])


def test_half_written_parts_and_temp_files_are_removed_on_open(plan, tmp_path: Path) -> None:
    out = tmp_path / "out"
    sweep(plan, out, batch_runs=6)
    # A kill between renames leaves monthly/deals parts without their runs part, and temps.
    (out / "runs" / "part-000002.parquet").unlink()
    (out / "runs" / ".part-000003.parquet.tmp-999").write_bytes(b"half")
    (out / ".manifest.json.tmp-999").write_text("{")
    with store.ResultStore.open(out, plan) as results:
        assert len(results.stored) == 6
    assert sorted(p.name for p in (out / "monthly").iterdir()) == ["part-000001.parquet"]
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    report = sweep(plan, out)
    assert (report.already_stored, report.completed) == (6, 6)
    assert tables(out)["runs"]["run_id"].is_unique().all()
    assert tables(out)["monthly"].height == 12 * 12


def test_failures_are_recorded_the_sweep_goes_on_and_resume_retries(plan, tmp_path) -> None:
    out = tmp_path / "out"
    report = sweep(plan, out, task=fail_replication_one)
    assert (report.completed, report.failed, report.status) == (9, 3, "failed")
    failures = pl.read_parquet(out / "failures.parquet")
    assert failures.height == 3
    assert set(failures["replication"]) == {1}
    assert failures["error"].str.starts_with("RuntimeError: boom").all()
    assert json.loads(failures["parameters"][0])["market"] == "japan"
    assert "policy.name" in json.loads(failures["parameters"][0])
    report = sweep(plan, out)
    assert (report.already_stored, report.completed, report.failed) == (9, 3, 0)
    assert not (out / "failures.parquet").exists()


def test_an_exception_inside_the_worker_becomes_a_failure(plan, monkeypatch) -> None:
    def broken(spec):
        raise ValueError("bad\nnews")

    monkeypatch.setattr(runner, "simulate", broken)
    outcome = runner.execute(plan.specs[0])
    assert isinstance(outcome, runner.RunFailure)
    assert outcome.error == "ValueError: bad news" and "Traceback" in outcome.traceback


def test_cli_exits_non_zero_saying_how_many_failed(
    tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture
) -> None:
    import contextlib

    @contextlib.contextmanager
    def threads(*args, **kwargs):
        with cf.ThreadPoolExecutor(2) as pool:
            yield runner.ExecutorInfo(executor=pool, slots=2, description="threads")

    monkeypatch.setattr(runner, "make_executor", threads)
    monkeypatch.setattr(runner, "execute", fail_replication_one)
    path = write_config(tmp_path, TWELVE)
    assert run_cli("run", path, "--out", tmp_path / "out") == 1
    captured = capsys.readouterr()
    assert "3 of 12 runs failed" in captured.err.strip().splitlines()[-1]
    assert "point" in captured.out and "P(<0)" in captured.out  # the summary table


def test_parts_agree_on_column_types() -> None:
    # A run without revenue reports an integer 0 where others report floats.
    batch = pl.DataFrame({"revenue_year1_usd": [0], "deals_won": [1], "win_rate": [None]})
    earlier = {"revenue_year1_usd": pl.Float64, "deals_won": pl.Int64, "win_rate": pl.Float64}
    schema = store.canonical(batch, earlier).schema
    assert dict(schema) == earlier
    assert store.canonical(batch).schema["revenue_year1_usd"] == pl.Float64


def test_the_buffer_is_compacted_and_a_part_keeps_every_row_in_order(
    plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(result_store, "COMPACT_RUNS", 5)
    results = [simulate(spec) for spec in plan.specs]
    out = tmp_path / "out"
    with store.ResultStore.open(out, plan, batch_runs=len(results) + 1) as stored:
        for result in results:
            stored.add(result)
        assert stored.parts_written == 0
        # 12 runs buffered as two frames of 5 concatenated runs, then 2 runs' own frames
        assert [len(frames) for frames in stored._buffer.values()] == [4, 4, 4]
    for table in store.TABLES:
        part = pl.read_parquet(out / table / "*.parquet")
        expected = pl.concat([getattr(r, table) for r in results], how="vertical_relaxed")
        assert_frame_equal(part, expected.select(part.columns), check_dtypes=False)


def one_line_error(capsys: pytest.CaptureFixture) -> str:
    """The single stderr line of a command that exited 2 (fails if there are more)."""
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("partnersim: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def snapshot(folder: Path) -> dict[Path, bytes | None]:
    """Every path under folder with its bytes (None for a folder)."""
    return {p: p.read_bytes() if p.is_file() else None for p in folder.rglob("*")}


@pytest.mark.parametrize("fresh", [[], ["--fresh"]], ids=["resume", "fresh"])
def test_a_directory_partnersim_did_not_make_is_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture, fresh: list[str]
) -> None:
    user = tmp_path / "userdir"
    (user / "charts").mkdir(parents=True)
    (user / "charts" / "figure1.png").write_text("x")
    (user / "report.html").write_text("mine")
    before = snapshot(user)
    path = write_config(tmp_path, TWELVE)
    assert run_cli("run", path, "--out", user, "--workers", 1, *fresh) == 2
    line = one_line_error(capsys)
    assert "--out" in line and "manifest.json" in line and str(user) in line
    assert run_cli("report", user) == 2
    one_line_error(capsys)
    assert snapshot(user) == before


def test_fresh_removes_only_what_partnersim_manages(plan, tmp_path: Path) -> None:
    out = tmp_path / "out"
    store.ResultStore.open(out, plan).close()
    (out / "charts").mkdir()
    (out / "charts" / "old.png").write_text("stale")
    (out / "notes.txt").write_text("mine")
    for name in ("discovery.parquet", "discovery.html", "shapley.parquet", "explain.html"):
        (out / name).write_text("stale: an analysis of the runs a fresh start removes")
    store.ResultStore.open(out, plan, fresh=True).close()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "deals",
        "design.parquet",
        "manifest.json",
        "monthly",
        "notes.txt",
        "runs",
    ]
    assert (out / "notes.txt").read_text() == "mine"


def test_a_report_refuses_runs_without_a_manifest(
    plan, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    sweep(plan, out, batch_runs=12)
    (out / "manifest.json").unlink()
    (out / "charts").mkdir()
    (out / "charts" / "figure1.png").write_text("x")
    before = snapshot(out)
    assert run_cli("report", out) == 2
    assert "manifest.json" in one_line_error(capsys)
    assert snapshot(out) == before and not (out / "report.html").exists()


def test_out_under_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "afile").write_text("")
    path = write_config(tmp_path, TWELVE)
    assert run_cli("run", path, "--out", tmp_path / "afile" / "sub", "--workers", 1) == 2
    line = one_line_error(capsys)
    assert "--out" in line and "afile" in line


def corrupt(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])  # a truncated file: no Parquet footer


@pytest.mark.parametrize(
    "damaged",
    ["runs/part-000001.parquet", "monthly/part-000002.parquet", "failures.parquet"],
)
def test_a_corrupt_part_is_named_in_one_line(
    plan, tmp_path: Path, capsys: pytest.CaptureFixture, damaged: str
) -> None:
    out = tmp_path / "out"
    sweep(plan, out, task=fail_replication_one, batch_runs=6)
    corrupt(out / damaged)
    before = snapshot(out)
    path = write_config(tmp_path, TWELVE)
    assert run_cli("run", path, "--out", out, "--workers", 1) == 2
    line = one_line_error(capsys)
    assert str(out / damaged) in line and "expected a Parquet file" in line
    assert run_cli("report", out, "--no-images") == 2
    assert str(out / damaged) in one_line_error(capsys)
    assert snapshot(out) == before


@pytest.mark.parametrize("text", ["{", "[]", "\xff"], ids=["truncated", "not-an-object", "bytes"])
def test_a_corrupt_manifest_is_named_in_one_line(
    plan, tmp_path: Path, capsys: pytest.CaptureFixture, text: str
) -> None:
    out = tmp_path / "out"
    sweep(plan, out, batch_runs=12)
    (out / "manifest.json").write_bytes(text.encode("latin-1"))
    before = snapshot(out)
    path = write_config(tmp_path, TWELVE)
    for args in (["run", path, "--out", out, "--workers", 1], ["report", out, "--no-images"]):
        assert run_cli(*args) == 2
        line = one_line_error(capsys)
        assert str(out / "manifest.json") in line and "expected the JSON manifest" in line
    assert snapshot(out) == before


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("sessions", 5, "sessions: got 5, expected a list"),
        ("design", 5, "design: got 5, expected a JSON object"),
        ("swept", [1], "swept: got [1], expected a list of column names"),
        ("years", "x", "years: got 'x', expected a number"),
        ("design", {"kind": "grid", "parameters": [1, 2]}, "design.parameters: got [1, 2]"),
    ],
)
def test_a_manifest_field_of_the_wrong_type_is_named_in_one_line(
    plan, tmp_path: Path, capsys: pytest.CaptureFixture, field: str, value, named: str
) -> None:
    out = tmp_path / "out"
    sweep(plan, out, batch_runs=12)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, field: value}))
    before = snapshot(out)
    path = write_config(tmp_path, TWELVE)
    for args in (["run", path, "--out", out, "--workers", 1], ["report", out, "--no-images"]):
        assert run_cli(*args) == 2
        assert f"{out / 'manifest.json'}: {named}" in one_line_error(capsys)
    assert snapshot(out) == before


@pytest.mark.parametrize(
    ("name", "kind", "command"),
    [("runs", "file", "run"), ("charts", "file", "report"), ("report.html", "directory", "report")],
)
def test_a_managed_path_of_the_wrong_kind_is_named_in_one_line(
    plan, tmp_path: Path, capsys: pytest.CaptureFixture, name: str, kind: str, command: str
) -> None:
    out = tmp_path / "out"
    sweep(plan, out, batch_runs=12)
    if name == "runs":
        shutil.rmtree(out / "runs")
    if kind == "file":
        (out / name).write_text("mine")
    else:
        (out / name).mkdir()
    before = snapshot(out)
    args = ["run", write_config(tmp_path, TWELVE), "--out", out, "--workers", 1]
    assert run_cli(*(args if command == "run" else ["report", out])) == 2
    assert f"{out / name}: a {kind}, expected a" in one_line_error(capsys)
    assert snapshot(out) == before


def test_a_changed_config_names_the_setting_that_differs(
    plan, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    sweep(plan, out, batch_runs=12)
    before = snapshot(out)
    changed = write_config(tmp_path, TWELVE.replace("seed = 3", "seed = 4"))
    assert run_cli("run", changed, "--out", out, "--workers", 1) == 2
    assert "different config" in (line := one_line_error(capsys))
    assert "; seed: got 4, DIR has 3)" in line
    assert snapshot(out) == before


def test_fresh_replaces_a_manifest_with_a_damaged_field(plan, tmp_path: Path) -> None:
    out = tmp_path / "out"
    sweep(plan, out, batch_runs=12)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "sessions": None}))
    path = write_config(tmp_path, TWELVE)
    assert run_cli("run", path, "--out", out, "--workers", 1, "--fresh") == 0
    assert len(json.loads((out / "manifest.json").read_text())["sessions"]) == 1


@pytest.mark.parametrize(("found", "shown"), [(0, "0"), ("absent", "none"), (True, "True")])
def test_a_manifest_of_another_format_is_refused_in_one_line_and_fresh_replaces_it(
    plan, tmp_path: Path, capsys: pytest.CaptureFixture, found, shown: str
) -> None:
    out = tmp_path / "out"
    sweep(plan, out, batch_runs=12)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == store.FORMAT == 1
    if found == "absent":
        del manifest["format"]
    else:
        manifest["format"] = found
    (out / "manifest.json").write_text(json.dumps(manifest))
    before = snapshot(out)
    path = write_config(tmp_path, TWELVE)
    for args in (["run", path, "--out", out, "--workers", 1], ["report", out, "--no-images"]):
        assert run_cli(*args) == 2
        line = one_line_error(capsys)
        assert f"{out / 'manifest.json'}: format {shown}, expected 1" in line and "--fresh" in line
    assert snapshot(out) == before
    store.ResultStore.open(out, plan, fresh=True).close()  # what `run --fresh` does first
    assert json.loads((out / "manifest.json").read_text())["format"] == 1
    assert not list((out / "runs").iterdir())


@pytest.mark.parametrize("field", ["config_canonical", "model_hash", "sessions"])
def test_a_manifest_without_a_field_resume_reads_is_named_in_one_line(
    plan, tmp_path: Path, capsys: pytest.CaptureFixture, field: str
) -> None:
    out = tmp_path / "out"
    sweep(plan, out, batch_runs=12)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest[field]
    (out / "manifest.json").write_text(json.dumps(manifest))
    path = write_config(tmp_path, TWELVE)
    assert run_cli("run", path, "--out", out, "--workers", 1) == 2
    assert f"manifest.json: {field}: got nothing, expected a" in one_line_error(capsys)


def copy_of_the_model(folder: Path) -> Path:
    """The files of `agents/` and `sim/` (code and data) copied under folder."""
    source = Path(store.__file__).resolve().parents[2]
    for package in ("agents", "sim"):
        for path in (source / package).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".toml"):
                target = folder / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    return folder


def test_the_model_hash_covers_the_model_and_not_its_test_helpers(tmp_path: Path) -> None:
    root = copy_of_the_model(tmp_path)
    (root / "sim" / "strategies.py").write_text("# Hypothesis strategies\n")
    files = store.model_files(root)
    assert "agents/rules.py" in files and "agents/markets/japan.toml" in files
    assert "sim/model.py" in files and "sim/strategies.py" not in files
    before = store.model_hash(root)
    (root / "sim" / "strategies.py").write_text("# Hypothesis strategies, edited\n")
    (root / "sim" / "notes.txt").write_text("not code")
    assert store.model_hash(root) == before
    for changed in ("sim/model.py", "agents/rules.py", "agents/markets/japan.toml"):
        original = (root / changed).read_bytes()
        (root / changed).write_bytes(original + b"\n# edited\n")
        assert store.model_hash(root) != before, changed
        (root / changed).write_bytes(original)
    (root / "agents" / "markets" / "india.toml").write_text("")
    assert store.model_hash(root) != before


@pytest.mark.slow  # renders a report
def test_run_report_that_cannot_be_written_is_one_line_and_keeps_the_runs(
    plan, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    path = write_config(tmp_path, TWELVE)
    assert run_cli("run", path, "--out", out, "--workers", 1, "--report") == 0
    chart = sorted((out / "charts").glob("*.svg"))[0]
    chart.unlink()
    chart.mkdir()  # the report cannot write this chart
    capsys.readouterr()
    assert run_cli("run", path, "--out", out, "--workers", 1, "--report") == 1
    err = capsys.readouterr().err  # progress lines, then the error
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert (
        line.startswith("partnersim: error: ")
        and str(chart) in line
        and "cannot write" in line
        and "the runs are stored" in line
    )
    assert len(tables(out)["runs"]) == 12


def test_parts_are_flushed_to_disk_before_their_rename_and_the_rename_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = []
    fsync, replace = os.fsync, os.replace

    def synced(fd: int) -> None:
        events.append("sync folder" if os.path.isdir(f"/proc/self/fd/{fd}") else "sync file")
        fsync(fd)

    monkeypatch.setattr(os, "fsync", synced)
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("rename"), replace(a, b))[1])
    store.write_parquet_atomically(pl.DataFrame({"a": [1]}), tmp_path / "part-000000.parquet")
    assert events == ["sync file", "rename", "sync folder"]
    assert pl.read_parquet(tmp_path / "part-000000.parquet")["a"].to_list() == [1]


def test_an_interrupt_inside_add_waits_until_the_store_is_consistent(
    plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C landing while a run is buffered: no run is counted without all its tables."""
    out = tmp_path / "out"
    real_concat = pl.concat
    sent = []

    def concat_then_interrupted(items, *args, **kwargs):
        # the signal arrives between the buffering of one table and the next
        if kwargs.get("rechunk") and not sent:
            sent.append(True)
            signal.raise_signal(signal.SIGINT)
        return real_concat(items, *args, **kwargs)

    monkeypatch.setattr(pl, "concat", concat_then_interrupted)
    assert sweep(plan, out).interrupted and sent
    monkeypatch.setattr(pl, "concat", real_concat)
    assert sweep(plan, out).status == "complete"
    ids = {t: set(pl.read_parquet(out / t / "*.parquet")["run_id"]) for t in ("runs", "monthly")}
    assert len(ids["runs"]) == plan.runs
    assert ids["monthly"] == ids["runs"]


def full_disk_after(monkeypatch: pytest.MonkeyPatch, writes: int) -> None:
    """Parquet writes fail as on a full disk once `writes` of them have succeeded."""
    real = pl.DataFrame.write_parquet
    done = itertools.count()

    def write(frame: pl.DataFrame, path, *args, **kwargs):
        if next(done) >= writes:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(frame, path, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", write)


def test_a_failed_write_stops_the_sweep_keeping_the_parts_before_it(
    plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    # the design and part 1's three tables are written; part 2's deals too, not its monthly
    full_disk_after(monkeypatch, 1 + 3 + 1)
    report = sweep(plan, out, batch_runs=4)
    assert report.status == "write failed" and report.completed == 4
    assert f"cannot write {out / 'monthly' / 'part-000002.parquet'}" in report.write_error
    assert "no space left on device" in report.write_error
    for table in store.TABLES:  # part 2's deals, written before the failure, are gone
        assert [p.name for p in (out / table).iterdir()] == ["part-000001.parquet"]
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    monkeypatch.undo()
    report = sweep(plan, out)
    assert (report.already_stored, report.completed, report.status) == (4, 8, "complete")
    straight = tmp_path / "straight"
    sweep(plan, straight)
    assert_same_results(out, straight)


def test_cli_says_in_one_line_which_file_could_not_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import contextlib

    @contextlib.contextmanager
    def threads(*args, **kwargs):
        with cf.ThreadPoolExecutor(2) as pool:
            yield runner.ExecutorInfo(executor=pool, slots=2, description="threads")

    monkeypatch.setattr(runner, "make_executor", threads)
    full_disk_after(monkeypatch, 1)  # the design only
    out = tmp_path / "out"
    assert run_cli("run", write_config(tmp_path, TWELVE), "--out", out) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("partnersim: error: cannot write ") and "Traceback" not in err
    assert "no space left on device; 0 of 12 runs are stored" in err
    sessions = json.loads((out / "manifest.json").read_text())["sessions"]
    assert sessions[-1]["status"] == "write failed" and sessions[-1]["runs_completed"] == 0


def full_disk_under(monkeypatch: pytest.MonkeyPatch, folder: Path, names: str = "*") -> None:
    """Files matching `names` under `folder` cannot be written, as on a full disk: polars'
    writer fails with its own words (what it said on a real full disk), Python's with ENOSPC.
    Writing into memory still works."""
    real = pl.DataFrame.write_parquet

    def full(path) -> bool:
        path = Path(path)
        temporary = f".{names}.tmp-*"  # what `atomic` writes first
        return path.is_relative_to(folder) and (path.match(names) or path.match(temporary))

    def polars_write(frame: pl.DataFrame, target, *args, **kwargs):
        if isinstance(target, str | os.PathLike) and full(target):
            raise pl.exceptions.ComputeError(
                "parquet: File out of specification: Invalid thrift: transport error"
            )
        return real(frame, target, *args, **kwargs)

    def no_space(method):
        def write(path: Path, *args, **kwargs):
            if full(path):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            return method(path, *args, **kwargs)

        return write

    monkeypatch.setattr(pl.DataFrame, "write_parquet", polars_write)
    monkeypatch.setattr(Path, "write_bytes", no_space(Path.write_bytes))
    monkeypatch.setattr(Path, "write_text", no_space(Path.write_text))


def test_a_full_disk_is_named_as_such_with_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Polars' "Invalid thrift: transport error" said nothing of a full disk."""
    import contextlib

    @contextlib.contextmanager
    def threads(*args, **kwargs):
        with cf.ThreadPoolExecutor(2) as pool:
            yield runner.ExecutorInfo(executor=pool, slots=2, description="threads")

    monkeypatch.setattr(runner, "make_executor", threads)
    out = tmp_path / "out"
    full_disk_under(monkeypatch, out, "part-*.parquet")
    assert run_cli("run", write_config(tmp_path, TWELVE), "--out", out) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    part = out / "deals" / "part-000001.parquet"
    assert err.startswith(f"partnersim: error: cannot write {part}: no space left on device; ")
    assert "thrift" not in err


@pytest.mark.slow  # renders a report
def test_a_report_on_a_full_disk_exits_1_as_run_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Exit code 2 is for bad input; the directory was fine."""
    out = tmp_path / "out"
    assert run_cli("run", write_config(tmp_path, TWELVE), "--out", out, "--workers", 1) == 0
    capsys.readouterr()
    full_disk_under(monkeypatch, out, "report.html")
    assert run_cli("report", out, "--no-images") == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"partnersim: error: {out / 'report.html'}: cannot write (no space left on device)"
    ]
    assert not (out / "report.html").exists()


def test_a_second_ctrl_c_while_the_first_is_saving_still_ends_the_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import contextlib

    @contextlib.contextmanager
    def threads(*args, **kwargs):
        with cf.ThreadPoolExecutor(2) as pool:
            yield runner.ExecutorInfo(executor=pool, slots=2, description="threads")

    def interrupted(plan, store, executor, **kwargs):
        raise KeyboardInterrupt  # as when Ctrl-C lands in the sweep's final flush

    monkeypatch.setattr(runner, "make_executor", threads)
    monkeypatch.setattr(runner, "run_sweep", interrupted)
    out = tmp_path / "out"
    assert run_cli("run", write_config(tmp_path, TWELVE), "--out", out) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "partnersim: interrupted"
    sessions = json.loads((out / "manifest.json").read_text())["sessions"]
    assert sessions[-1]["status"] == "interrupted" and "finished" in sessions[-1]


def test_the_lock_file_goes_when_the_run_ends(plan, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with store.ResultStore.open(out, plan) as results:
        assert (out / ".lock").exists()
        assert json.loads((out / ".lock").read_text())["pid"] == os.getpid()
        runner.run_sweep(plan.specs[:2], results, cf.ThreadPoolExecutor(1), slots=1)
    assert not (out / ".lock").exists()
    with pytest.raises(store.StoreError):  # and when opening fails
        store.ResultStore.open(
            out, design.plan(config.loads(TWELVE.replace("seed = 3", "seed = 4")))
        )
    assert not (out / ".lock").exists()


HOLD_LOCK = """
import fcntl, json, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.pwrite(fd, sys.argv[2].encode(), 0)
print("locked", flush=True)
time.sleep(60)
"""


def dead_pid() -> int:
    process = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    return int(process.stdout)


@pytest.mark.parametrize("holder_alive", [True, False])
def test_a_lock_left_to_a_process_of_a_dead_driver_is_taken_over(
    plan, tmp_path: Path, holder_alive: bool
) -> None:
    """The lock held (as by an orphaned worker) for a driver that is gone does not keep
    the next run out; held for one that runs, it does, and the message names its pid."""
    from experiments.store import lock

    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, out / ".lock", "{}"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        who = {**lock.identity(), "pid": holder.pid, "started": lock.start_ticks(holder.pid)}
        if not holder_alive:
            who = {**who, "pid": dead_pid(), "started": None}
        (out / ".lock").write_text(json.dumps(who))  # the same file, the lock still held
        if holder_alive:
            with pytest.raises(
                store.StoreError,
                match=f"another `partnersim run` \\(pid {holder.pid}\\) is writing",
            ):
                store.ResultStore.open(out, plan)
            return
        with store.ResultStore.open(out, plan):
            assert json.loads((out / ".lock").read_text())["pid"] == os.getpid()
        assert not (out / ".lock").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_session_left_running_is_abandoned_unless_its_driver_runs(plan, tmp_path: Path) -> None:
    from experiments.store import lock

    out = tmp_path / "out"
    with store.ResultStore.open(out, plan) as results:
        results.start_session(executor="threads", slots=1)  # and never ended: a kill -9
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sessions"][-1]["driver"] == lock.identity()
    # the driver recorded still runs (this process): a lock that did not hold keeps it out
    with pytest.raises(store.StoreError, match=f"\\(pid {os.getpid()}\\) is writing to it"):
        store.ResultStore.open(out, plan)
    manifest["sessions"][-1]["driver"]["pid"] = dead_pid()
    (out / "manifest.json").write_text(json.dumps(manifest))
    with store.ResultStore.open(out, plan) as results:
        results.start_session(executor="threads", slots=1)
        results.end_session(status="complete")
    sessions = json.loads((out / "manifest.json").read_text())["sessions"]
    assert [s["status"] for s in sessions] == ["abandoned", "complete"]
