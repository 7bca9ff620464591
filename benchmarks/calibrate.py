"""A calibration's wall time against the wall time of the runs it makes, on the same workers.

Target: `partnersim calibrate` within 1.1x of its runs alone. Each round runs a calibration
(`partnersim calibrate` in this process: load, probe, study, pool start, search, finalists,
files), then reads the trials it stored, rebuilds every run it made (each trial's settings x
replications on the search seed, the finalists' on the check seed) and runs exactly those
runs on a fresh process pool of the same size through `runner.run_all` (pool start
included, results received and dropped): the runs alone, as a sweep of them would take. The
order of the two alternates between rounds, so a slower minute of this shared machine does
not always fall on the same side. Prints both times, runs/s and the ratio per round, then
the median ratio. Not part of the test suite.

The calibration: the U.S. under us_urgency and Japan under jp_relationship and hybrid,
win rate, no-decision share, median days to close and first-year revenue per rep, 4 free
market parameters; `--years 3`, `--replications 4` (12 runs per trial), `--trials 16`, 3
finalists. About 2 minutes a round on 2 cores.

    .venv/bin/python benchmarks/calibrate.py [--workers 2] [--rounds 3] [--trials 16]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

TARGETS = """
    name = "bench"
    years = {years}
    replications = {replications}
    seed = 7
    trials = {trials}
    finalists = 3
    {targets}
    [[free]]
    key = "market.freeze_rate_per_year"
    market = "us"
    low = 0.3
    high = 4.0

    [[free]]
    key = "market.lead_rate_per_client_year"
    market = "us"
    low = 0.1
    high = 1.5

    [[free]]
    key = "market.freeze_rate_per_year"
    market = "japan"
    low = 0.1
    high = 2.0

    [[free]]
    key = "market.competitor_weight"
    market = "japan"
    low = 0.1
    high = 2.0
"""
SETTINGS = (("us", "us_urgency"), ("japan", "jp_relationship"), ("japan", "hybrid"))
STATISTICS = {
    "win_rate": (0.15, 0.35),
    "no_decision_share": (0.35, 0.60),
    "median_days_to_close": (60, 450),
    "revenue_per_rep_year1_usd": (1, 700_000),
}


def targets_text(years: float, replications: int, trials: int) -> str:
    blocks = []
    for market, policy in SETTINGS:
        for statistic, (low, high) in STATISTICS.items():
            blocks.append(
                f'\n[[targets]]\nstatistic = "{statistic}"\nmarket = "{market}"\n'
                f'policy = "{policy}"\nrange = [{low}, {high}]\n'
            )
    text = textwrap.dedent(TARGETS).replace("{targets}", "".join(blocks))
    return text.format(years=years, replications=replications, trials=trials)


def driver_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def calibrate(path: Path, out: Path, workers: int) -> float:
    from experiments import cli

    args = ["calibrate", str(path), "--out", str(out), "--workers", str(workers)]
    log = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        code = cli.main(args)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"calibrate exited with {code}: {log.getvalue()[-500:]}")
    return elapsed


def runs_made(path: Path, out: Path) -> list:
    """Every run the calibration in `out` made: its trials' and its finalists'."""
    import optuna

    from experiments.calibration import search, targets

    calibration = targets.load(path)
    study = optuna.load_study(study_name="calibration", storage=f"sqlite:///{out / 'study.db'}")
    trials = study.get_trials()
    specs = []
    for t in trials:
        specs += [s for _, s in search.candidate_specs(calibration, t.params, calibration.seed)]
    complete = sorted((t for t in trials if t.value is not None), key=lambda t: (t.value, t.number))
    for t in complete[: calibration.finalists]:
        specs += [
            s for _, s in search.candidate_specs(calibration, t.params, calibration.check_seed)
        ]
    return specs


def runs_alone(specs: list, workers: int) -> float:
    from experiments import runner

    started = time.perf_counter()
    with runner.local_executor(workers) as info:
        done = 0
        for outcome in runner.run_all(specs, info.executor, max_in_flight=2 * info.slots + 2):
            if outcome is not None:
                if outcome.failure is not None:
                    raise SystemExit(f"run failed: {outcome.failure.error}")
                done += 1
    elapsed = time.perf_counter() - started
    assert done == len(specs)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--replications", type=int, default=4)
    args = parser.parse_args()
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(targets_text(args.years, args.replications, args.trials))
        for round_ in range(args.rounds):
            out = Path(tmp) / f"round{round_}"
            if round_ % 2 == 0:
                cpu = driver_cpu()
                t_cal = calibrate(path, out, args.workers)
                cpu_cal = driver_cpu() - cpu
                specs = runs_made(path, out)
                cpu = driver_cpu()
                t_runs = runs_alone(specs, args.workers)
                cpu_runs = driver_cpu() - cpu
            else:  # the same runs first: a fresh DIR's calibration makes exactly these
                specs = runs_made(path, Path(tmp) / "round0")
                cpu = driver_cpu()
                t_runs = runs_alone(specs, args.workers)
                cpu_runs = driver_cpu() - cpu
                t_cal = calibrate(path, out, args.workers)
                cpu_cal = driver_cpu() - cpu - cpu_runs
                assert len(runs_made(path, out)) == len(specs)
            ratio = t_cal / t_runs
            ratios.append(ratio)
            print(
                f"round {round_ + 1}: calibrate {t_cal:.1f} s, its {len(specs)} runs alone "
                f"{t_runs:.1f} s ({len(specs) / t_runs:.2f} runs/s) on {args.workers} workers: "
                f"ratio {ratio:.3f}; driver CPU {cpu_cal:.1f} s against {cpu_runs:.1f} s",
                flush=True,
            )
    print(f"median ratio over {len(ratios)} rounds: {statistics.median(ratios):.3f} (target 1.1)")


if __name__ == "__main__":
    main()
