"""Resume: after a real `kill -9` (or Ctrl-C) of `partnersim run` mid-sweep, running the same
command again runs only what is missing, and the result equals an uninterrupted run.

The interrupted runs are real `partnersim` processes; the final resume runs in-process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from tests.experiments.sweep_helpers import TINY_RUNS, assert_same_results, run_cli

# Real processes killed mid-sweep and waited for: seconds each.
pytestmark = pytest.mark.slow

PARTNERSIM = Path(sys.executable).parent / "partnersim"


def stored_runs(out: Path) -> int:
    parts = list((out / "runs").glob("part-*.parquet"))
    if not parts:
        return 0
    return pl.scan_parquet(parts).select("run_id").collect().height


def start_and_stop(config: Path, out: Path, sig: signal.Signals, log: Path) -> int:
    """Start `partnersim run`, send `sig` once it has stored a part; return its exit code."""
    parts_before = len(list((out / "runs").glob("part-*.parquet")))
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [PARTNERSIM, "run", config, "--out", out, "--workers", "2"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group: workers can be cleaned up
        )
        try:
            deadline = time.monotonic() + 180
            while len(list((out / "runs").glob("part-*.parquet"))) <= parts_before:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "no part written in time"
                time.sleep(0.01)
            process.send_signal(sig)
            return process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            # Workers the dead driver leaves behind (same process group) go too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def test_resume_after_kill_9_and_ctrl_c_equals_an_uninterrupted_run(
    tiny_config: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    code = start_and_stop(tiny_config, out, signal.SIGKILL, tmp_path / "killed.log")
    assert code == -signal.SIGKILL
    after_kill = stored_runs(out)
    assert 0 < after_kill < TINY_RUNS, "the kill should land mid-sweep"

    # Resume, and stop that one with Ctrl-C (SIGINT): finished runs are saved, exit 130.
    log = tmp_path / "interrupted.log"
    code = start_and_stop(tiny_config, out, signal.SIGINT, log)
    text = log.read_text()
    assert code == 130, text
    assert f"resuming: {after_kill} of {TINY_RUNS} runs already stored" in text
    last = text.strip().splitlines()[-1]
    assert last.startswith("partnersim: interrupted: ") and "run the same command" in last
    after_interrupt = stored_runs(out)
    assert after_kill < after_interrupt

    capsys.readouterr()
    assert run_cli("run", tiny_config, "--out", out, "--workers", 2) == 0
    captured = capsys.readouterr()
    assert f"resuming: {after_interrupt} of {TINY_RUNS} runs already stored" in captured.err
    assert f"{TINY_RUNS - after_interrupt} runs done now" in captured.out
    assert_same_results(reference, out)  # nothing lost, nothing duplicated


def children(pid: int) -> set[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:  # fields: state, ppid, ...
                found.add(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Whether `pid` runs (an exited process nobody has reaped yet is a zombie, state Z)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_workers_exit_when_their_driver_is_killed(tiny_config: Path, tmp_path: Path) -> None:
    out, log = tmp_path / "out", tmp_path / "stderr.log"
    with log.open("w") as stderr:
        driver = subprocess.Popen(
            [PARTNERSIM, "run", tiny_config, "--out", out, "--workers", "2"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    group = driver.pid
    try:
        deadline = time.monotonic() + 180
        while stored_runs(out) == 0:  # the workers are running runs by then
            assert driver.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no part written in time"
            time.sleep(0.05)
        workers = children(driver.pid)
        assert len(workers) >= 2
        driver.kill()
        driver.wait()
        deadline = time.monotonic() + 20
        while (alive := {pid for pid in workers if running(pid)}) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive, f"workers still running after their driver was killed: {alive}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# A driver whose one worker spends minutes in C code that holds the GIL (a sum over a huge
# range), as a run thrashing at a memory limit never gets back to Python: no thread of the
# worker can look for its driver.
BUSY_DRIVER = """
import time
from experiments import runner
with runner.local_executor(1) as info:
    future = info.executor.submit(sum, range(10**14))
    while not info.executor._processes:
        time.sleep(0.01)
    print(*info.executor._processes, flush=True)
    time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux parent-death signal")
def test_a_busy_worker_dies_with_its_driver() -> None:
    driver = subprocess.Popen(
        [sys.executable, "-c", BUSY_DRIVER],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        worker = int(driver.stdout.readline())
        deadline = time.monotonic() + 120
        while cpu_seconds(worker) < 2.0:  # imported, initialized, inside the sum
            assert time.monotonic() < deadline, "the worker never got busy"
            time.sleep(0.1)
        driver.kill()
        driver.wait()
        deadline = time.monotonic() + 5
        while running(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(worker), "the worker outlived its driver by over 5 s"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)


def test_the_next_run_takes_over_from_a_driver_killed_mid_sweep(
    tiny_config: Path, reference: Path, tmp_path: Path
) -> None:
    """The manifest's session of a SIGKILLed driver says "running"; the next run sees that
    its driver is gone, marks the session "abandoned" and finishes the sweep."""
    out = tmp_path / "out"
    assert start_and_stop(tiny_config, out, signal.SIGKILL, tmp_path / "killed.log") < 0
    killed = json.loads((out / "manifest.json").read_text())["sessions"][-1]
    assert killed["status"] == "running" and killed["driver"]["pid"] > 0
    assert run_cli("run", tiny_config, "--out", out, "--workers", 2) == 0
    sessions = json.loads((out / "manifest.json").read_text())["sessions"]
    assert [s["status"] for s in sessions] == ["abandoned", "complete"]
    assert sessions[0]["driver"] == killed["driver"]
    assert not (out / ".lock").exists()
    assert_same_results(reference, out)
