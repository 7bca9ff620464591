"""Sweep throughput and driver memory: process pool (1 and 2 workers), Dask LocalCluster.

Prints runs per second with 1 and 2 local workers and the speed-up, a Dask LocalCluster
against the process pool with the same number of workers (each ratio within one of
`--repeats` rounds, then their medians), and the driver's peak memory
for a 200-run and a 2000-run sweep (it should stay flat: results are written in parts as
they arrive, and at most a few runs per worker are in flight).

Each measurement is a fresh driver process (`python benchmarks/sweep.py drive ...`), so
start-up (spawning workers, imports) is included in `runs/s` and peaks do not carry over;
`warm runs/s` counts from the first finished run. The machine's own ceiling is measured
too: independent processes running the same runs in a loop, with no pool and no driver,
against one such process (two CPU-bound processes on this shared 2-core machine do not
always get 2x). Throughput runs are default Japan runs (300 clients, 10 reps, 5 years;
`--years 1` for a fifth of one, where start-up weighs five times as much); the memory
sweeps use small runs (40 clients, 3 reps, one year), since they measure what the driver
holds per run. With the defaults the whole benchmark takes about ten minutes on 2 cores.
Not part of the test suite.

    .venv/bin/python benchmarks/sweep.py [--runs 100] [--years 5] [--workers 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

POINTS = (0.2, 0.4, 0.6, 0.8)  # policy.urgency values; replications fill up to the run count


Size = tuple[int, int, float]  # (clients, reps, years) of each run
SMALL: Size = (40, 3, 1.0)


def config_text(runs: int, size: Size) -> str:
    replications = max(1, runs // len(POINTS))
    clients, reps, years = size
    values = ", ".join(map(str, POINTS))
    return f"""
name = "bench"
years = {years}
replications = {replications}
seed = 1
[base]
market = "japan"
policy = "hybrid"
[base.set]
"market.clients" = {clients}
"partner.reps" = {reps}
[sweep.parameters]
"policy.urgency" = [{values}]
"""


def rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def drive(runs: int, workers: int, executor: str, trace: bool, size: Size) -> dict:
    """One sweep in this process; returns its figures."""
    from experiments import config, design, runner, store

    if trace:
        tracemalloc.start()
    plan = design.plan(config.loads(config_text(runs, size)))
    rss_before = rss_mb()
    first: list[float] = []

    class FirstResult(runner.Progress):
        def update(self, done: int, failed: int = 0) -> None:
            if done and not first:
                first.append(time.monotonic())

        def start(self, total: int, done: int = 0) -> None:
            pass

        def finish(self) -> None:
            pass

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        started = time.monotonic()
        with (
            runner.make_executor(workers, None, executor == "dask") as info,
            store.ResultStore.open(out, plan) as results,
        ):
            report = runner.run_sweep(
                plan.specs, results, info.executor, slots=info.slots, progress=FirstResult()
            )
        elapsed = time.monotonic() - started
        parts = len(list((out / "runs").glob("*.parquet")))
    warm = (report.completed - 1) / (started + elapsed - first[0]) if first else 0.0
    figures = {
        "runs": report.completed,
        "failed": report.failed,
        "workers": workers,
        "executor": info.description,
        "elapsed_s": elapsed,
        "runs_per_s": report.completed / elapsed,
        "warm_runs_per_s": warm,
        "rss_before_mb": rss_before,
        "rss_peak_mb": rss_mb(),
        "parts": parts,
    }
    if trace:
        figures["python_heap_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    return figures


def solo(runs: int, size: Size) -> dict:
    """`runs` of the sweep's runs in this process, one after another: no pool, no driver."""
    import sim.model  # noqa: F401  imports are left out of the timed loop
    from experiments import config, design
    from sim.run import simulate

    specs = design.plan(config.loads(config_text(runs, size))).specs[:runs]
    started = time.monotonic()
    for spec in specs:
        simulate(spec)
    return {"runs": len(specs), "elapsed_s": time.monotonic() - started}


def ceiling(runs: int, processes: int, size: Size) -> float:
    """Runs/s of `processes` independent solo processes over that of one: what the machine
    allows a pool of that many workers at best, with no driver and no messages."""
    command = [sys.executable, __file__, "solo", str(runs), *map(str, size)]

    def rate(n: int) -> float:
        """Runs/s of n processes started together, over their loops (imports left out)."""
        children = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(n)]
        loops = [json.loads(child.communicate()[0].splitlines()[-1]) for child in children]
        return sum(f["runs"] for f in loops) / max(f["elapsed_s"] for f in loops)

    return rate(processes) / rate(1)


def parse_size(words: list[str]) -> Size:
    clients, reps, years = words
    return int(clients), int(reps), float(years)


def measure(
    runs: int, workers: int, size: Size, executor: str = "pool", trace: bool = False
) -> dict:
    """Run `drive` in a fresh interpreter and read back its JSON line."""
    command = [sys.executable, __file__, "drive", str(runs), str(workers), executor]
    command += map(str, size)
    if trace:
        command.append("--trace")
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="runs per throughput sweep")
    parser.add_argument("--years", type=float, default=5.0, help="horizon of each run")
    parser.add_argument("--workers", type=int, default=2, help="workers for the parallel cases")
    parser.add_argument("--repeats", type=int, default=2, help="repeats of the throughput cases")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    print(f"cores available: {cores}; load average at start: {load:.1f}")
    full: Size = (300, 10, args.years)  # the default Japan market
    print(
        f"runs: japan/hybrid, 300 clients, 10 reps, {args.years:g} years; "
        f"{args.runs} runs per throughput case"
    )
    print()

    def show(label: str, f: dict) -> None:
        print(
            f"{label:<28} {f['runs']:>5} runs in {f['elapsed_s']:6.1f} s  "
            f"{f['runs_per_s']:6.2f} runs/s  (warm {f['warm_runs_per_s']:6.2f} runs/s)"
        )

    names = ("speed-up", "warm speed-up", "dask", "ceiling")
    ratios: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(args.repeats):
        # the cases of one repeat run back to back, and each ratio is taken within a repeat:
        # this machine's speed drifts by up to 2x between minutes
        print(f"repeat {repeat + 1} of {args.repeats}")
        one = measure(args.runs, 1, full)
        show("process pool, 1 worker", one)
        many = measure(args.runs, args.workers, full)
        show(f"process pool, {args.workers} workers", many)
        dask = measure(args.runs, args.workers, full, "dask")
        show(f"dask LocalCluster, {args.workers} w.", dask)
        best = ceiling(args.runs // 4, args.workers, full)
        ratios["speed-up"].append(many["runs_per_s"] / one["runs_per_s"])
        ratios["warm speed-up"].append(many["warm_runs_per_s"] / one["warm_runs_per_s"])
        ratios["dask"].append(dask["runs_per_s"] / many["runs_per_s"])
        ratios["ceiling"].append(best)
        print(
            f"  {args.workers} vs 1 worker {ratios['speed-up'][-1]:.2f}x "
            f"(warm {ratios['warm speed-up'][-1]:.2f}x); dask / pool {ratios['dask'][-1]:.2f}x; "
            f"machine ceiling ({args.workers} independent processes, {args.runs // 4} runs "
            f"each, against one) {best:.2f}x"
        )
    print("medians over repeats:")
    for name, values in ratios.items():
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:<14} {statistics.median(values):.2f}x  ({each})")
    print()
    print("driver memory (process pool, 40 clients, 3 reps; peak RSS of the driver; Python heap):")
    peaks = {}
    for runs in (200, 2000):
        f = measure(runs, args.workers, SMALL, trace=True)
        peaks[runs] = f["rss_peak_mb"]
        print(
            f"  {f['runs']:>5} runs: peak RSS {f['rss_peak_mb']:6.1f} MB "
            f"(after imports and planning {f['rss_before_mb']:6.1f} MB), "
            f"Python heap peak {f['python_heap_peak_mb']:5.1f} MB, {f['parts']} parts per table, "
            f"{f['runs_per_s']:.1f} runs/s"
        )
    print(f"  peak RSS 2000 / 200 runs: {peaks[2000] / peaks[200]:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "solo":
        print(json.dumps(solo(int(sys.argv[2]), parse_size(sys.argv[3:6]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "drive":
        runs, workers, executor = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        size = parse_size(sys.argv[5:8])
        print(json.dumps(drive(runs, workers, executor, "--trace" in sys.argv, size)))
    else:
        main()
