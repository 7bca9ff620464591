"""CPU instructions of a run, counted by valgrind's callgrind: figures nearly free of noise.

Wall time on this machine drifts by up to 2x from minute to minute, and the other scripts
in `benchmarks/` can only pair or interleave what they compare. Instructions executed vary
by a few percent at most between repetitions, whatever else the machine is doing (the same
bare SimPy loop counted 9,981 and 10,662 per event in two runs), so this script answers
"did the work shrink" and "is the work linear", though not "how many seconds".

Each figure is the instructions of a fresh interpreter that does the work, less those of
one that does everything else (imports, building the spec) and stops before it:
- the default Japan hybrid run (10 reps, 300 clients) of `--years`, and bare SimPy
  (`benchmarks/events.py`'s timeout loop) over as many events: instructions per event of
  each, and bare/model, the instruction count's view of `events.py`'s ratio;
- with `--scaling`, the same run at 4x the clients, the team and the desk grown alongside
  (`benchmarks/scaling.py`'s sizes): the ratio of instructions, against 4x.
Needs `valgrind` on the PATH; callgrind runs about 50x slower than the run itself (a
5-year default run takes about 2 minutes here). Not part of the test suite.

    .venv/bin/python benchmarks/instructions.py [--years 5] [--scaling]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MODEL = """
import sys
import sim.model  # the model's imports (Mesa) belong to the setup, not to the run
from sim import run as runs
clients, reps, years, go = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
overrides = {"market.clients": clients, "partner.reps": reps,
             "policy.support_staff": max(1, round(0.6 * reps))}
spec = runs.make_spec("japan", "hybrid", overrides=overrides, seed=0, years=years)
if go == "1":
    print(runs.run_model(spec).events)
"""

BARE = """
import sys
sys.path.insert(0, "benchmarks")
import events
target, go = int(sys.argv[1]), sys.argv[2]
if go == "1":
    print(events.bare_run(target, 10)[0])
"""


def instructions(script: str, *args: object) -> tuple[int, str]:
    """(instructions, standard output) of `python -c script args` under callgrind."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, "-c", script, *map(str, args)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts on every run
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"callgrind run failed:\n{done.stderr[-2000:]}")
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in callgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1)), done.stdout.strip()


def run_cost(script: str, *args: object) -> tuple[int, str]:
    """(instructions of the work alone, its output): a run with it less one without."""
    everything, output = instructions(script, *args, 1)
    setup, _ = instructions(script, *args, 0)
    return everything - setup, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=float, default=5.0, help="horizon of the model runs")
    parser.add_argument("--scaling", action="store_true", help="also 4x the clients")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")

    model, events = run_cost(MODEL, 300, 10, args.years)
    events = int(events)
    bare, bare_events = run_cost(BARE, events)
    bare_events = int(bare_events)
    per_event, bare_per_event = model / events, bare / bare_events
    print(f"default Japan hybrid run, {args.years:g} years: {model / 1e6:,.0f} M instructions")
    print(f"  {events:,} events, {per_event:,.0f} instructions per event")
    print(f"bare SimPy, {bare_events:,} events: {bare_per_event:,.0f} instructions per event")
    print(f"ratio bare/model instructions per event: {bare_per_event / per_event:.3f}")
    if args.scaling:
        big, big_events = run_cost(MODEL, 1200, 40, args.years)
        print(
            f"4x clients (1200 clients, 40 reps): {big / 1e6:,.0f} M instructions, "
            f"{int(big_events):,} events: {big / model:.2f}x the instructions, "
            f"{int(big_events) / events:.2f}x the events"
        )


if __name__ == "__main__":
    main()
