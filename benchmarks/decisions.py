"""`partnersim optimize` and `partnersim explain` against the wall time of the runs they make.

Target: each within 1.1x of its runs alone on the same workers. A round runs the command in
this process (load, probe, study or store, pool start, search or sweep, finalists, tables,
page and charts), then rebuilds every run it made and runs exactly those on a fresh process
pool of the same size through `runner.run_all` (pool start included, results received and
dropped): the runs alone. For optimize those are every trial's replications on the search
seed, and the finalists' and the presets' on the check seed; for explain, the plan's runs.
The order of the two alternates between rounds, so a slower minute of this shared machine
does not always fall on the same side. Prints both times and the ratio per round, then the
median ratio per command. Not part of the test suite.

The problem: Japan (the default market) from hybrid, 3 years; urgency, relationship
investment, proposal timing and patience; maximize NPV with P(partnership ended) <= 0.6;
`--replications 8`, `--trials 16`, 2 finalists (168 runs). The split: us_urgency to hybrid
in the same market, 8 replications (16 coalitions, 128 runs). About 3 minutes a round on 2
cores.

    .venv/bin/python benchmarks/decisions.py [--workers 2] [--rounds 3] [--trials 16]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

PROBLEM = """
    name = "bench"
    years = {years}
    replications = {replications}
    seed = 7
    trials = {trials}
    finalists = 2

    [base]
    market = "japan"
    policy = "hybrid"

    [levers]
    "policy.urgency" = {{ low = 0.2, high = 1.0 }}
    "policy.relationship_investment" = {{ low = 0.2, high = 1.0 }}
    "policy.proposal_timing" = ["first_meeting", "after_key_comfortable", "after_consensus"]
    "policy.patience_months" = {{ low = 6, high = 36 }}

    [[objectives]]
    outcome = "npv_usd"
    direction = "maximize"

    [[constraints]]
    outcome = "partnership_terminated"
    max = 0.6
"""


def command(args: list[str]) -> float:
    from experiments import cli

    log = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        code = cli.main(args)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{args[0]} exited with {code}: {log.getvalue()[-500:]}")
    return elapsed


def optimize_runs(path: Path, out: Path) -> list:
    """Every run the optimization in `out` made: its trials', finalists' and presets'."""
    import optuna

    from agents import parameters
    from experiments.optimization import problem, search

    loaded = problem.load(path)
    study = optuna.load_study(study_name="optimization", storage=f"sqlite:///{out / 'study.db'}")
    specs = []
    for t in study.get_trials():
        specs += search.specs(loaded, t.params, loaded.seed)
    import polars as pl

    finalists = pl.read_parquet(out / "trials.parquet").filter("finalist")
    for row in finalists.iter_rows(named=True):
        values = {lever.key: row[lever.key] for lever in loaded.levers}
        specs += search.specs(loaded, values, loaded.check_seed)
    for preset in parameters.PRESET_NAMES:
        params = parameters.build(loaded.market, preset, dict(loaded.overrides))
        specs += search.specs_of(loaded, params, loaded.check_seed)
    return specs


def explain_args(out: Path, years: float, replications: int, workers: int) -> list[str]:
    return [
        "explain", "--from", "us_urgency", "--to", "hybrid", "--years", str(years),
        "--replications", str(replications), "--out", str(out), "--workers", str(workers),
    ]  # fmt: skip


def explain_runs(args: list[str]) -> list:
    from experiments import explain
    from experiments.cli import build_parser

    parsed = build_parser().parse_args(args)
    plan, _, _ = explain.make_plan(explain.Question(parsed))
    return list(plan.specs)


def made(name: str, path: Path, out: Path, argv: list[str]) -> list:
    return optimize_runs(path, out) if name == "optimize" else explain_runs(argv)


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
    parser.add_argument("--replications", type=int, default=8)
    args = parser.parse_args()
    ratios: dict[str, list[float]] = {"optimize": [], "explain": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        text = textwrap.dedent(PROBLEM).format(
            years=args.years, replications=args.replications, trials=args.trials
        )
        path.write_text(text)
        for round_ in range(args.rounds):
            for name in ("optimize", "explain"):
                out = Path(tmp) / f"{name}{round_}"
                if name == "optimize":
                    argv = ["optimize", str(path), "--out", str(out)]
                    argv += ["--workers", str(args.workers)]
                else:
                    argv = explain_args(out, args.years, args.replications, args.workers)
                if round_ % 2 == 0:
                    t_command = command(argv)
                    specs = made(name, path, out, argv)
                    t_runs = runs_alone(specs, args.workers)
                else:  # the runs first; a fresh DIR makes exactly those of round 1
                    specs = made(name, path, Path(tmp) / f"{name}0", argv)
                    t_runs = runs_alone(specs, args.workers)
                    t_command = command(argv)
                ratio = t_command / t_runs
                ratios[name].append(ratio)
                print(
                    f"round {round_ + 1}: {name} {t_command:.1f} s, its {len(specs)} runs alone "
                    f"{t_runs:.1f} s ({len(specs) / t_runs:.2f} runs/s) on {args.workers} "
                    f"workers: ratio {ratio:.3f}",
                    flush=True,
                )
    for name, values in ratios.items():
        print(
            f"{name}: median ratio over {len(values)} rounds {statistics.median(values):.3f} "
            "(target 1.1)"
        )


if __name__ == "__main__":
    main()
