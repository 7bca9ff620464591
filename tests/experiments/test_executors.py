"""Determinism across executors: 1 worker = 2 workers = Dask LocalCluster = a real Dask cluster.

The real cluster is a `dask scheduler` and two `dask worker` processes started here on
127.0.0.1 (free ports) and torn down after the test.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from tests.experiments.sweep_helpers import TINY_RUNS, assert_same_results, run_cli


@pytest.mark.slow
def test_two_workers_equal_one(reference: Path, tiny_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_cli("run", tiny_config, "--out", out, "--workers", 2) == 0
    assert_same_results(reference, out)


@pytest.mark.slow
def test_dask_local_cluster_equals_process_pool(
    reference: Path, tiny_config: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert run_cli("run", tiny_config, "--out", out, "--dask-local", "--workers", 2) == 0
    assert_same_results(reference, out)
    session = json.loads((out / "manifest.json").read_text())["sessions"][-1]
    assert session["executor"].startswith("dask LocalCluster") and session["status"] == "complete"


def _worker_config(keys: list[str]) -> list:
    import dask

    return [dask.config.get(key) for key in keys]


@pytest.mark.slow
def test_local_cluster_runs_without_the_dashboards_sampling() -> None:
    import dask
    from distributed import get_client

    from experiments.runner import LOCAL_CLUSTER_CONFIG, dask_executor

    keys = list(LOCAL_CLUSTER_CONFIG)
    with dask_executor(workers=1) as info:
        assert info.executor.submit(_worker_config, keys).result() == [
            LOCAL_CLUSTER_CONFIG[key] for key in keys
        ]
        scheduler = get_client().cluster.scheduler
        assert "stealing" not in scheduler.extensions
        assert not scheduler.extensions["amm"].running
    assert dask.config.get("distributed.worker.profile.enabled") is True  # driver untouched
    assert dask.config.get("distributed.scheduler.work-stealing") is True


def test_rerun_of_a_complete_experiment_runs_nothing(
    reference: Path, tiny_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    assert run_cli("run", tiny_config, "--out", out, "--workers", 1) == 0
    captured = capsys.readouterr()
    assert f"resuming: {TINY_RUNS} of {TINY_RUNS} runs already stored" in captured.err
    assert "0 runs done now" in captured.out
    assert_same_results(reference, out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A scheduler and two single-threaded workers, as separate processes on 127.0.0.1."""
    dask = Path(sys.executable).parent / "dask"
    address = f"tcp://127.0.0.1:{free_port()}"
    port = address.rsplit(":", 1)[1]
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    processes: list[subprocess.Popen] = []

    def start(name: str, args: list[str]) -> None:
        log = (logs / f"{name}.log").open("w")
        processes.append(
            subprocess.Popen(
                [dask, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
                start_new_session=True,
            )
        )

    scheduler_args = ["scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"]
    start("scheduler", scheduler_args)
    for i in range(2):
        start(
            f"worker{i}",
            [
                "worker",
                address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--local-directory",
                str(tmp_path / f"worker{i}"),
                "--death-timeout",
                "60",
            ],
        )
    try:
        from distributed import Client

        deadline = time.monotonic() + 90
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=max(1.0, deadline - time.monotonic()))
                    break
            except OSError:
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                    text = "\n".join(p.read_text() for p in logs.iterdir())
                    pytest.fail(f"dask cluster did not start:\n{text}")
                time.sleep(0.5)
        yield address
    finally:
        # Workers first, then the scheduler: stopped together, workers can hang on close.
        for group in (processes[1:], processes[:1]):
            for p in group:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in group:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=20)


@pytest.mark.slow
def test_real_dask_cluster_equals_local(
    reference: Path, tiny_config: Path, tmp_path: Path, dask_cluster: str
) -> None:
    out = tmp_path / "out"
    assert run_cli("run", tiny_config, "--out", out, "--scheduler", dask_cluster) == 0
    assert_same_results(reference, out)
    session = json.loads((out / "manifest.json").read_text())["sessions"][-1]
    assert session["executor"] == f"dask {dask_cluster}, 2"


def test_resume_refuses_results_of_other_model_code(
    reference: Path, tiny_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    changed = tmp_path / "changed-code"
    shutil.copytree(reference, changed)
    manifest = json.loads((changed / "manifest.json").read_text())
    manifest["model_hash"] = "0" * 16  # as if the model code had changed since
    (changed / "manifest.json").write_text(json.dumps(manifest))
    stray = tmp_path / "stray-runs"
    shutil.copytree(reference, stray)
    part = pl.read_parquet(next((stray / "runs").glob("part-*.parquet")))
    part.with_columns(pl.lit("not-planned").alias("run_id")).write_parquet(
        stray / "runs" / "part-999999.parquet"
    )
    capsys.readouterr()
    assert run_cli("run", tiny_config, "--out", changed) == 2
    assert run_cli("run", tiny_config, "--out", stray) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "other model code" in err[0] and "--fresh" in err[0]
    assert "not in this experiment's plan" in err[1]
