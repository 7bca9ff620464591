"""`partnersim run` against `mesa.batch_run` on the same design: runs per second, peak memory.

The design is the quickstart one: the three presets (us_urgency, jp_relationship, hybrid) in
both markets (japan, us), 50 replications of 5 years, so 300 runs. Each side runs as its own
process tree with the same number of worker processes, timed end to end (start-up, runs,
writing Parquet):

- partnersim: `python -m experiments.cli run CONFIG --out DIR --workers N` on a TOML file
  written to a temporary directory (runs, monthly and deals tables as Parquet parts).
- Mesa: `python benchmarks/vs_mesa.py mesa ...`, which calls `mesa.batch_run` on
  `PartnershipModel` (one step is one month, `max_steps` = 12 x years, `years` passed as a
  model parameter, `data_collection_period=1`, `number_processes=N`), turns the rows into a
  polars DataFrame and writes it to Parquet, as a Mesa user would. batch_run passes no seed,
  so each Mesa run draws fresh entropy; and Mesa 3.3's batch_run leaves out the last
  step's sample (mesa issue #2514), so it returns months 0 .. 12 x years - 1.

While a side runs, this process samples every 20 ms the resident memory (RSS) of its driver
and of all the driver's descendants (workers), and keeps the peak of the sum and the driver's
own peak. Summed RSS counts pages shared between processes (libraries) once per process, the
same way for both sides. Prints runs per second and peaks per side, and the ratios
partnersim/Mesa: the targets are at least 1.5x the runs per second and at most 1/5 of the
peak memory. Not part of the test suite; the full design takes several minutes on 2 cores.

    .venv/bin/python benchmarks/vs_mesa.py [--replications 50] [--workers 2] [--years 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

ROOT = Path(__file__).resolve().parent.parent
MARKETS = ("japan", "us")
POLICIES = ("us_urgency", "jp_relationship", "hybrid")
SAMPLE_S = 0.02
SPEED_TARGET = 1.5  # partnersim runs/s over Mesa runs/s, at least
MEMORY_TARGET = 0.2  # partnersim peak over Mesa peak, at most


@dataclass(frozen=True, slots=True)
class Measurement:
    """One side's figures: wall time and peak memory of its process tree."""

    wall_s: float
    peak_tree_mib: float
    peak_driver_mib: float
    peak_processes: int


def config_text(replications: int, years: float) -> str:
    """The experiment file for `partnersim run`: presets x markets, grid design."""
    return f"""
name = "vs_mesa"
years = {years}
replications = {replications}
seed = 1

[base]
market = "japan"
policy = "hybrid"

[sweep]
design = "grid"

[sweep.parameters]
market = {json.dumps(list(MARKETS))}
policy = {json.dumps(list(POLICIES))}
"""


def tree_rss(driver: psutil.Process) -> tuple[int, int, int]:
    """(RSS of driver + descendants, RSS of the driver, processes counted), in bytes."""
    import psutil

    try:
        processes = [driver, *driver.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0, 0, 0
    total = own = counted = 0
    for process in processes:
        try:
            rss = process.memory_info().rss
        except psutil.NoSuchProcess:  # a worker that exited between listing and reading
            continue
        total += rss
        counted += 1
        if process.pid == driver.pid:
            own = rss
    return total, own, counted


def watch(command: list[str], log: Path) -> Measurement:
    """Run `command` (output to `log`), sampling its process tree's memory until it exits."""
    import psutil  # here, not at the top: Mesa's spawned workers import this module

    peak_tree = peak_driver = peak_processes = 0
    with log.open("w") as out:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        driver = psutil.Process(child.pid)
        while child.poll() is None:
            total, own, counted = tree_rss(driver)
            peak_tree = max(peak_tree, total)
            peak_driver = max(peak_driver, own)
            peak_processes = max(peak_processes, counted)
            time.sleep(SAMPLE_S)
        wall = time.perf_counter() - start
    if child.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-20:])
        raise SystemExit(f"{' '.join(command)} exited with {child.returncode}:\n{tail}")
    return Measurement(wall, peak_tree / 2**20, peak_driver / 2**20, peak_processes)


def run_partnersim(tmp: Path, replications: int, years: float, workers: int) -> Measurement:
    """`partnersim run` on the design, as a subprocess; checks every run was stored."""
    import polars as pl

    config = tmp / "vs_mesa.toml"
    config.write_text(config_text(replications, years))
    out = tmp / "partnersim"
    command = [sys.executable, "-m", "experiments.cli", "run", str(config)]
    command += ["--out", str(out), "--workers", str(workers)]
    measurement = watch(command, tmp / "partnersim.log")
    stored = pl.scan_parquet(out / "runs" / "*.parquet").select(pl.len()).collect().item()
    expected = len(MARKETS) * len(POLICIES) * replications
    if stored != expected:
        raise SystemExit(f"partnersim stored {stored} runs, expected {expected}")
    return measurement


def run_mesa(tmp: Path, replications: int, years: float, workers: int) -> Measurement:
    """`mesa.batch_run` on the design in a fresh driver process (`vs_mesa.py mesa ...`)."""
    out = tmp / "mesa.parquet"
    command = [sys.executable, __file__, "mesa", str(replications), str(years), str(workers)]
    command.append(str(out))
    measurement = watch(command, tmp / "mesa.log")
    figures = json.loads(out.with_suffix(".json").read_text())
    expected = len(MARKETS) * len(POLICIES) * replications
    if figures["runs"] != expected:
        raise SystemExit(f"mesa.batch_run returned {figures['runs']} runs, expected {expected}")
    print(
        f"  mesa driver: batch_run {figures['batch_run_s']:.1f} s, DataFrame + Parquet "
        f"{figures['write_s']:.1f} s, {figures['rows']:,} rows"
    )
    return measurement


def mesa_driver(replications: int, years: float, workers: int, out: Path) -> None:
    """What a Mesa user writes: batch_run, a DataFrame of its rows, one Parquet file."""
    import mesa
    import polars as pl

    from sim.model import PartnershipModel

    start = time.perf_counter()
    rows = mesa.batch_run(
        PartnershipModel,
        parameters={"market": list(MARKETS), "policy": list(POLICIES), "years": years},
        iterations=replications,
        max_steps=round(12 * years),
        number_processes=workers,
        data_collection_period=1,
        display_progress=False,
    )
    ran = time.perf_counter()
    frame = pl.DataFrame(rows, infer_schema_length=None)
    frame.write_parquet(out)
    figures = {
        "runs": frame["RunId"].n_unique(),
        "rows": frame.height,
        "batch_run_s": ran - start,
        "write_s": time.perf_counter() - ran,
    }
    out.with_suffix(".json").write_text(json.dumps(figures))  # apart from the log's chatter


def show(label: str, runs: int, m: Measurement) -> None:
    print(
        f"  {label:<10} {runs} runs in {m.wall_s:7.1f} s = {runs / m.wall_s:6.2f} runs/s; "
        f"peak RSS {m.peak_tree_mib:7.0f} MiB over {m.peak_processes} processes "
        f"(driver alone {m.peak_driver_mib:5.0f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=50, help="per design point")
    parser.add_argument("--workers", type=int, default=2, help="worker processes, both sides")
    parser.add_argument("--years", type=float, default=5.0, help="horizon of each run")
    args = parser.parse_args()
    runs = len(MARKETS) * len(POLICIES) * args.replications
    print(
        f"design: {', '.join(POLICIES)} x {', '.join(MARKETS)}, {args.replications} "
        f"replications, {args.years:g} years = {runs} runs; {args.workers} workers each side"
    )
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        mesa_m = run_mesa(tmp, args.replications, args.years, args.workers)
        ours = run_partnersim(tmp, args.replications, args.years, args.workers)
    show("mesa", runs, mesa_m)
    show("partnersim", runs, ours)
    speed = mesa_m.wall_s / ours.wall_s  # same runs: ratio of runs/s is the inverse of walls
    memory = ours.peak_tree_mib / mesa_m.peak_tree_mib
    print(
        f"runs/s partnersim/mesa: {speed:.2f}x (target >= {SPEED_TARGET}): "
        f"{'yes' if speed >= SPEED_TARGET else 'NO'}"
    )
    print(
        f"peak memory partnersim/mesa: {memory:.2f} (target <= {MEMORY_TARGET}): "
        f"{'yes' if memory <= MEMORY_TARGET else 'NO'}"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "mesa":
        replications, years, workers, out = sys.argv[2:6]
        mesa_driver(int(replications), float(years), int(workers), Path(out))
    else:
        main()
