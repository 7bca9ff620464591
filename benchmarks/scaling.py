"""Run time against client organizations x years, and the memory of one 10,000-client run.

Part A times `sim.run.simulate` (model and frames, what a user pays for) on the Japan hybrid
configuration at a base size (300 clients, 10 reps, 6 support staff, 5 years) and at three
larger ones:
- 4x the clients with the partner team and the support desk grown alongside (1200 clients,
  40 reps, 24 staff: 30 clients and 0.6 staff per rep, as at the base; a desk of 6 for 40
  reps is swamped and the vendor exits early);
- 4x the years (300 clients, 10 reps, 20 years): the 300-client market is exhausted long
  before (every client has bought), so events grow far less than 4x;
- 4x the clients with the base team (1200 clients, 10 reps): the cost of idle clients alone.
Sizes are interleaved seed by seed (the order rotates) so machine noise hits all of them;
each row prints the median wall time and events over the seeds, and the medians of the
per-seed ratios to the base run of the same seed: time, events, and time per event (the
efficiency figure). The claim is that 4x the clients costs at most 4.4x the time. Wall
time here varies by up to 2x from minute to minute, so the work is also counted: Python
function calls of one run per size under cProfile, a figure that does not depend on the
machine.

Part B runs 10,000 clients with 333 reps for 10 years in a fresh interpreter
(`python benchmarks/scaling.py big ...`), so that its peak memory is its own, and prints its
wall time, events and peak resident memory against the 2 GiB limit. The child's own peak is
VmHWM from /proc/self/status; `ru_maxrss` is printed too, but on Linux a child started with
vfork + exec (as `subprocess` does) inherits the parent's peak in it, so it can overstate.
Not part of the test suite; a full run takes a few minutes on an idle core.

    .venv/bin/python benchmarks/scaling.py [--clients 300] [--years 5] [--seeds 5]
        [--big-clients 10000] [--big-years 10] [--skip-big]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

CLIENTS_PER_REP = 30  # territory per rep at the base size (300 clients, 10 reps)
STAFF_PER_REP = 0.6  # the hybrid preset's support desk: 6 staff for 10 reps
TIME_LIMIT_RATIO = 4.4  # 4x the clients may cost at most this much time
MEMORY_LIMIT_MIB = 2048


@dataclass(frozen=True, slots=True)
class Size:
    """One row of Part A: a model size and how it is named."""

    label: str
    clients: int
    reps: int
    years: float


def team_for(clients: int) -> int:
    """Reps that keep the territory per rep at CLIENTS_PER_REP (at least one)."""
    return max(1, round(clients / CLIENTS_PER_REP))


def desk_for(reps: int) -> int:
    """Support staff that keep the desk per rep at STAFF_PER_REP (at least one)."""
    return max(1, round(reps * STAFF_PER_REP))


def scaled_spec(clients: int, reps: int, years: float, seed: int):
    """A Japan hybrid RunSpec of this size; the support desk follows the team."""
    from sim import run as runs

    overrides = {
        "market.clients": clients,
        "partner.reps": reps,
        "policy.support_staff": desk_for(reps),
    }
    return runs.make_spec("japan", "hybrid", overrides=overrides, seed=seed, years=years)


def timed_run(clients: int, reps: int, years: float, seed: int) -> tuple[float, int]:
    """(wall seconds, SimPy events) of one Japan hybrid `simulate`, frames included."""
    from sim import run as runs

    spec = scaled_spec(clients, reps, years, seed)
    gc.collect()  # garbage of the previous run is not charged to this one
    start = time.perf_counter()
    result = runs.simulate(spec)
    wall = time.perf_counter() - start
    return wall, int(result.runs["events"][0])


def python_calls(clients: int, reps: int, years: float, seed: int) -> int:
    """Python function calls of one `simulate`, counted by cProfile: the work, free of noise."""
    from sim import run as runs

    profile = cProfile.Profile()
    profile.runcall(runs.simulate, scaled_spec(clients, reps, years, seed))
    return pstats.Stats(profile).total_calls


def measure_sizes(sizes: list[Size], seeds: int) -> dict[str, list[tuple[float, int]]]:
    """(wall, events) per size and seed, interleaved seed by seed in a rotating order."""
    timed_run(sizes[0].clients, sizes[0].reps, 1, seed=seeds)  # warm-up, not counted
    walls: dict[str, list[tuple[float, int]]] = {size.label: [] for size in sizes}
    for seed in range(seeds):
        shift = seed % len(sizes)
        for size in sizes[shift:] + sizes[:shift]:
            wall, events = timed_run(size.clients, size.reps, size.years, seed)
            walls[size.label].append((wall, events))
            print(
                f"  seed {seed} {size.label:<26} {wall:7.2f} s {events:>11,} events",
                flush=True,
            )
    return walls


def paired_ratios(
    runs: list[tuple[float, int]], base: list[tuple[float, int]]
) -> tuple[float, float, float]:
    """Medians over seeds of this/base for time, events and time per event."""
    time_ratio = [w / bw for (w, _), (bw, _) in zip(runs, base, strict=True)]
    events_ratio = [e / be for (_, e), (_, be) in zip(runs, base, strict=True)]
    per_event = [t / e for t, e in zip(time_ratio, events_ratio, strict=True)]
    return (
        statistics.median(time_ratio),
        statistics.median(events_ratio),
        statistics.median(per_event),
    )


def part_a(clients: int, years: float, seeds: int) -> None:
    """Print the clients x years table and whether 4x the clients stays within 4.4x time."""
    reps = team_for(clients)
    sizes = [
        Size("base", clients, reps, years),
        Size("4x clients, 4x reps", 4 * clients, team_for(4 * clients), years),
        Size("4x years", clients, reps, 4 * years),
        Size("4x clients, base reps", 4 * clients, reps, years),
    ]
    print(f"Part A: japan / hybrid, simulate() wall time, median of {seeds} seeds")
    for size in sizes:
        print(f"  {size.label:<24}: {size.clients} clients, {size.reps} reps, {size.years:g} years")
    results = measure_sizes(sizes, seeds)
    base = results["base"]
    print()
    header = (
        f"  {'size':<24} {'wall s':>8} {'events':>11} {'time x':>7} {'events x':>9} "
        f"{'time/event x':>13}"
    )
    print(header)
    ratios = {}
    for size in sizes:
        runs = results[size.label]
        ratios[size.label] = paired_ratios(runs, base)
        time_x, events_x, per_event_x = ratios[size.label]
        print(
            f"  {size.label:<24} {statistics.median(w for w, _ in runs):8.2f} "
            f"{statistics.median(e for _, e in runs):>11,.0f} {time_x:7.2f} {events_x:9.2f} "
            f"{per_event_x:13.2f}"
        )
    print("  Python function calls of one run (seed 0; a count, so free of machine noise):")
    calls = {size.label: python_calls(size.clients, size.reps, size.years, 0) for size in sizes}
    for size in sizes:
        print(
            f"  {size.label:<24} {calls[size.label]:>13,} calls "
            f"{calls[size.label] / calls['base']:7.2f}x base"
        )
    clients_x = ratios["4x clients, 4x reps"][0]
    years_x = ratios["4x years"][0]
    verdict = "yes" if clients_x <= TIME_LIMIT_RATIO else "NO"
    print(f"4x clients (team grown) <= {TIME_LIMIT_RATIO}x time: {verdict} ({clients_x:.2f}x)")
    print(f"4x years, for comparison: {years_x:.2f}x time")


def peak_mib() -> tuple[float, float]:
    """(VmHWM, ru_maxrss) of this process in MiB: its own peak, and the rusage peak."""
    with open("/proc/self/status") as status:
        hwm_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return hwm_kib / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def big(clients: int, reps: int, years: float, seed: int) -> dict:
    """One large run in this process; its figures as a dict (printed as a JSON line)."""
    import sim.model  # noqa: F401  imports are part of the process, not of the run

    before, _ = peak_mib()
    wall, events = timed_run(clients, reps, years, seed)
    hwm, maxrss = peak_mib()
    return {
        "wall_s": wall,
        "events": events,
        "peak_mib": hwm,
        "ru_maxrss_mib": maxrss,
        "after_imports_mib": before,
    }


def part_b(clients: int, years: float) -> None:
    """Run the large size in a fresh interpreter and print its time and peak memory."""
    reps = team_for(clients)
    print(f"Part B: {clients:,} clients, {reps} reps, {years:g} years in a fresh process")
    command = [sys.executable, __file__, "big", str(clients), str(reps), str(years), "0"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    f = json.loads(done.stdout.strip().splitlines()[-1])
    verdict = "yes" if f["peak_mib"] <= MEMORY_LIMIT_MIB else "NO"
    print(
        f"  wall {f['wall_s']:.1f} s, {f['events']:,} events "
        f"({f['events'] / f['wall_s']:,.0f} events/s)"
    )
    print(
        f"  peak RSS {f['peak_mib']:,.0f} MiB (VmHWM; after imports {f['after_imports_mib']:,.0f}"
        f" MiB; ru_maxrss {f['ru_maxrss_mib']:,.0f} MiB)"
    )
    print(f"  within {MEMORY_LIMIT_MIB:,} MiB (2 GiB): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=300, help="clients at the base size")
    parser.add_argument("--years", type=float, default=5.0, help="years at the base size")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per size in Part A")
    parser.add_argument("--big-clients", type=int, default=10_000, help="clients in Part B")
    parser.add_argument("--big-years", type=float, default=10.0, help="years in Part B")
    parser.add_argument("--skip-big", action="store_true", help="skip Part B")
    args = parser.parse_args()
    part_a(args.clients, args.years, args.seeds)
    if not args.skip_big:
        print()
        part_b(args.big_clients, args.big_years)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "big":
        clients, reps, years, seed = sys.argv[2:6]
        print(json.dumps(big(int(clients), int(reps), float(years), int(seed))))
    else:
        main()
