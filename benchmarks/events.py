"""Model event throughput against bare SimPy, in one process.

Runs the default Japan hybrid configuration (10 reps, 300 clients, 5 years) for a few
seeds with `sim.run.run_model`, and prints the SimPy events it processed per second of
wall time (model construction included) and the wall time per run. After each model run,
in the same process, bare SimPy: a few processes looping on `yield env.timeout(1)` until
they have processed as many events as that run; the ratio model/bare says what share of
raw SimPy speed the model's own work (rules, randomness, recording) leaves. Events are
counted the same way for both (`PartnershipModel.events`: scheduled minus still queued).
Not part of the test suite.

    .venv/bin/python benchmarks/events.py [--seeds 5] [--years 5] [--bare-processes 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import simpy

import sim.model  # noqa: F401  Mesa is imported here, not inside the first timed run
from sim import run as runs


def processed_events(env: simpy.Environment) -> int:
    """Events processed so far, counted as `PartnershipModel.events` counts them."""
    scheduled = int(repr(env._eid)[6:-1])  # itertools.count's repr is "count(N)"
    return scheduled - len(env._queue)


def model_run(seed: int, years: float) -> tuple[int, float]:
    """(events, wall seconds) of one default Japan hybrid run."""
    spec = runs.make_spec("japan", "hybrid", seed=seed, years=years)
    start = time.perf_counter()
    model = runs.run_model(spec)
    return model.events, time.perf_counter() - start


def ticking(env: simpy.Environment, ticks: int):
    for _ in range(ticks):
        yield env.timeout(1)


def bare_run(events: int, processes: int) -> tuple[int, float]:
    """(events, wall seconds) of bare SimPy timeouts totalling about `events`."""
    env = simpy.Environment()
    # each process costs one Initialize event, one timeout per tick and a final Process event
    ticks = max(1, (events - 2 * processes) // processes)
    start = time.perf_counter()
    for _ in range(processes):
        env.process(ticking(env, ticks))
    env.run()
    return processed_events(env), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="model runs (seeds 0..N-1)")
    parser.add_argument("--years", type=float, default=5.0, help="horizon of each model run")
    parser.add_argument("--bare-processes", type=int, default=10, help="bare SimPy processes")
    args = parser.parse_args()

    print(f"model: japan / hybrid, 10 reps, 300 clients, {args.years:g} years")
    print(f"bare SimPy: {args.bare_processes} processes of timeout(1), as many events")
    model_runs, bare_runs = [], []
    for seed in range(args.seeds):
        # each model run is paired with a bare run right after it, so that the machine's
        # speed, which drifts from minute to minute here, is about the same for both
        events, wall = model_run(seed, args.years)
        bare_events, bare_wall = bare_run(events, args.bare_processes)
        model_runs.append((events, wall))
        bare_runs.append((bare_events, bare_wall))
        ratio = (events / wall) / (bare_events / bare_wall)
        print(
            f"  seed {seed}: model {events:>8,} events in {wall:5.2f} s = {events / wall:>9,.0f}"
            f" ev/s; bare {bare_events / bare_wall:>9,.0f} ev/s; ratio {ratio:.3f}"
        )
    model_rate = sum(e for e, _ in model_runs) / sum(w for _, w in model_runs)
    bare_rate = sum(e for e, _ in bare_runs) / sum(w for _, w in bare_runs)
    walls = [w for _, w in model_runs]
    print(
        f"model: {model_rate:,.0f} events/s; wall time per run: mean "
        f"{statistics.fmean(walls):.2f} s, median {statistics.median(walls):.2f} s, "
        f"best {min(walls):.2f} s"
    )
    print(f"bare SimPy: {bare_rate:,.0f} events/s")
    ratios = [(e / w) / (be / bw) for (e, w), (be, bw) in zip(model_runs, bare_runs, strict=True)]
    print(
        f"ratio model/bare: {model_rate / bare_rate:.3f} overall, median of pairs "
        f"{statistics.median(ratios):.3f} (bare is {bare_rate / model_rate:.1f}x)"
    )


if __name__ == "__main__":
    main()
