"""`partnersim optimize CONFIG --out DIR`: search the levers, check the finalists, write the
chosen policy.

Steps: load the file (all validation, nothing written yet), check DIR, open the study and
the executor, run the trials not stored yet, re-run the best `finalists` feasible trials and
the presets on fresh replications, choose the best finalist whose constraints still hold,
write the tables, the policy file and the page, print the comparison. Ctrl-C or SIGTERM
stops the search keeping every finished trial: the same command resumes it.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import time
from pathlib import Path
from typing import Any

from experiments.cli import (
    EXIT_INTERRUPTED,
    EXIT_RUNS_FAILED,
    MAX_WORKERS,
    UsageError,
    _sigterm_as_interrupt,
    directory_path,
    say,
)

PRESET_KEYS = -1  # presets run as candidates -1, -2, ...


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "optimize",
        help="search policy levers for the best outcome under risk bounds (Optuna)",
        description="Search policy levers for the best objective (constrained TPE; NSGA-II "
        "for several objectives) with constraints held on one-sided confidence bounds; "
        "trials run on the local process pool, resumable from DIR/study.db; the best "
        "candidates are re-run on fresh replications with the presets, and the chosen policy "
        "is written as DIR/policy.toml with DIR/trials.parquet and DIR/optimization.html.",
    )
    parser.add_argument("config", metavar="CONFIG", help="optimization TOML file")
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=directory_path,
        help="output directory (default results/<name>)",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="local worker processes (default: one per core)"
    )
    parser.add_argument(
        "--trials", type=int, metavar="N", help="trials in all, overriding the file's `trials`"
    )
    parser.add_argument(
        "--fresh", action="store_true", help="discard the study in DIR and start over"
    )
    parser.add_argument(
        "--no-images", action="store_true", help="skip the PNG and SVG files of the charts"
    )
    parser.set_defaults(func=cmd_optimize)
    return parser


def cmd_optimize(args: argparse.Namespace) -> int:
    from experiments.calibration.targets import MAX_TRIALS
    from experiments.optimization import problem as problems

    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise UsageError(
            f"--workers: got {args.workers}, expected an integer in [1, {MAX_WORKERS}]"
        )
    if args.trials is not None and not 1 <= args.trials <= MAX_TRIALS:
        raise UsageError(f"--trials: got {args.trials}, expected an integer in [1, {MAX_TRIALS}]")
    problem = problems.load(args.config)
    from experiments import runner, store
    from experiments.optimization import study

    out = Path(args.out) if args.out else Path("results") / problem.name
    trials = args.trials or problem.trials
    workers = args.workers or problem.workers
    try:
        study.Directory.check_destination(out, problem, fresh=args.fresh)
        text = Path(args.config).read_text(encoding="utf-8")
        with (
            study.Directory(out, problem, text, fresh=args.fresh) as directory,
            runner.make_executor(workers) as info,
            _sigterm_as_interrupt(),
        ):
            return _optimize(problem, directory, info, trials, images=not args.no_images)
    except store.WriteError as err:
        say(f"partnersim: error: {err}")
        return EXIT_RUNS_FAILED
    except (store.StoreError, runner.ExecutorError) as err:
        raise UsageError(str(err)) from None


def _describe(problem: Any, values: tuple[float, ...], violations: dict[str, float]) -> str:
    from experiments.optimization.output import shown

    parts = [
        f"{o.label} {shown(v, o.outcome.share)}"
        for o, v in zip(problem.objectives, values, strict=True)
    ]
    if problem.constraints:
        holds = all(v <= 0 for v in violations.values())
        parts.append("feasible" if holds else "infeasible")
    return ", ".join(parts)


def _optimize(problem: Any, directory: Any, info: Any, trials: int, images: bool) -> int:
    from experiments.optimization import search

    started = time.monotonic()
    stored = directory.trials()
    directory.start_session(executor=info.description, slots=info.slots, trials=trials)
    method = "TPE" if len(problem.objectives) == 1 else "NSGA-II"
    say(
        f"{problem.name}: {len(problem.levers)} levers, {len(problem.objectives)} objective(s), "
        f"{len(problem.constraints)} constraint(s), {method}; {problem.replications} runs per "
        f"trial; {min(len(stored), trials)} of {trials} trials stored; {info.description} -> "
        f"{directory.root}"
    )
    pipeline = search.Pipeline(info.executor, info.slots)
    first = len(stored)

    def progress(finished: search.Finished) -> None:
        from experiments.runner import _clock

        if finished.evaluation is None:
            what = f"failed ({finished.error})"
        else:
            e = finished.evaluation
            what = _describe(problem, e.objectives, dict(enumerate(e.violations)))
        done = finished.number + 1 - first
        eta = _clock((time.monotonic() - started) / done * (trials - finished.number - 1))
        say(
            f"trial {finished.number + 1}/{trials}: {what}, {finished.seconds:.1f} s "
            f"(ETA {eta} for the search)"
        )

    try:
        search.search(problem, stored, pipeline, directory.store, trials, progress)
    except cf.BrokenExecutor as err:
        return _broken(directory, trials, err)
    except KeyboardInterrupt:
        pipeline.cancel()
        done = len(directory.trials())
        directory.end_session(status="interrupted", trials_stored=done)
        say(
            f"partnersim: interrupted: {done} of {trials} trials are stored in "
            f"{directory.root}; run the same command again to resume"
        )
        return EXIT_INTERRUPTED
    return _conclude(problem, directory, pipeline, trials, started, images)


def _feasible(trial: Any) -> bool:
    return all(v <= 0 for v in trial.constraints.values())


def _finalists(problem: Any, feasible: list[Any]) -> list[Any]:
    """The best feasible trials, distinct lever values (one objective: by its value;
    several: the Pareto front, best on the first objective first)."""
    from experiments.optimization import search

    if len(problem.objectives) == 1:
        ranked = sorted(
            feasible, key=lambda t: (search.objective_key(problem, tuple(t.values)), t.number)
        )
    else:
        by_number = {t.number: t for t in feasible}
        keys = search.front(problem, [(t.number, tuple(t.values)) for t in feasible])
        ranked = [by_number[k] for k in keys]
    chosen, seen = [], set()
    for t in ranked:
        key = repr(sorted(t.params.items()))
        if key not in seen:
            seen.add(key)
            chosen.append(t)
    return chosen[: problem.finalists]


def _broken_constraint(problem: Any, bounds: list[float], violations: list[float]) -> str:
    from experiments.optimization.output import shown

    worst = max(range(len(violations)), key=lambda i: violations[i])
    c = problem.constraints[worst]
    word = "upper" if c.side == "max" else "lower"
    share = c.outcome.share
    return (
        f"{c.label}: its one-sided {problem.confidence:.0%} {word} bound is "
        f"{shown(bounds[worst], share)}"
    )


def _conclude(
    problem: Any, directory: Any, pipeline: Any, trials: int, started: float, images: bool
) -> int:
    from agents import parameters
    from experiments.optimization import output, search
    from experiments.optimization import page as pages

    stored = directory.trials()[:trials]
    complete = [t for t in stored if t.state.name == "COMPLETE"]
    failed = [t for t in stored if t.state.name != "COMPLETE"]
    broken = [t for t in failed if not t.user_attrs.get("error", "").startswith("invalid")]
    root = directory.root
    if not complete:
        first = failed[0].user_attrs.get("error", "no error recorded") if failed else "none"
        directory.end_session(status="failed")
        say(f"partnersim: error: no trial completed; the first failed with {first}")
        return EXIT_RUNS_FAILED
    feasible = [t for t in complete if _feasible(t)]
    if not feasible:
        output.write_frame(root / "trials.parquet", output.trials_frame(problem, stored, {}, None))
        best = min(
            complete,
            key=lambda t: (sum(max(v, 0.0) for v in t.constraints.values()), t.number),
        )
        violations = [best.constraints[str(i)] for i in range(len(problem.constraints))]
        directory.end_session(status="infeasible", trials_stored=len(stored))
        levers = ", ".join(f"{k}={v!r}" for k, v in best.params.items())
        say(
            f"partnersim: error: no trial is feasible; the closest, trial {best.number} "
            f"({levers}), breaks "
            f"{_broken_constraint(problem, best.user_attrs['bounds'], violations)} "
            f"(see {root / 'trials.parquet'})"
        )
        return EXIT_RUNS_FAILED
    finalists = _finalists(problem, feasible)
    say(
        f"checking the best {len(finalists)} feasible trials and the presets on fresh "
        f"replications (seed {problem.check_seed})"
    )
    candidates = [
        search.candidate(problem, t.number, dict(t.params), problem.check_seed) for t in finalists
    ]
    presets = [
        search.preset_candidate(problem, PRESET_KEYS - i, name, problem.check_seed)
        for i, name in enumerate(parameters.PRESET_NAMES)
    ]
    try:
        checked = search.evaluate_candidates(problem, pipeline, [*candidates, *presets])
    except cf.BrokenExecutor as err:
        return _broken(directory, trials, err)
    except KeyboardInterrupt:
        pipeline.cancel()
        directory.end_session(status="interrupted", trials_stored=len(stored))
        say(
            f"partnersim: interrupted while checking the finalists; all {len(stored)} trials "
            f"are stored in {root}; run the same command again to check them"
        )
        return EXIT_INTERRUPTED
    checks = {t.number: f for t, f in zip(finalists, checked, strict=False)}
    preset_checks = dict(zip(parameters.PRESET_NAMES, checked[len(finalists) :], strict=True))
    holding = [
        t for t in finalists if checks[t.number].evaluation and checks[t.number].evaluation.feasible
    ]
    chosen = None
    if holding:
        chosen = min(
            holding,
            key=lambda t: (
                search.objective_key(problem, checks[t.number].evaluation.objectives),
                t.number,
            ),
        )
    trials_table = output.trials_frame(
        problem, stored, checks, None if chosen is None else chosen.number
    )
    output.write_frame(root / "trials.parquet", trials_table)
    labelled = []
    for t in finalists:
        label = f"trial {t.number}" + (" (chosen)" if chosen is t else "")
        kind = "chosen" if chosen is t else "finalist"
        labelled.append((label, t.number, kind, checks[t.number]))
    labelled.sort(key=lambda x: x[2] != "chosen")
    labelled += [(name, None, "preset", f) for name, f in preset_checks.items()]
    table = output.outcomes_frame(problem, labelled)
    output.write_frame(root / "outcomes.parquet", table)
    written = [root / "trials.parquet", root / "outcomes.parquet"]
    if len(problem.objectives) > 1:
        keys = search.front(problem, [(t.number, tuple(t.values)) for t in feasible])
        output.write_frame(root / "front.parquet", output.front_frame(problem, trials_table, keys))
        written.append(root / "front.parquet")
    summary = output.summary_frame(problem, table)
    summary_text = output.format_summary(problem, summary)
    if chosen is None:
        first = finalists[0]
        check = checks[first.number]
        directory.end_session(status="infeasible", trials_stored=len(stored))
        reason = (
            f"failed ({check.error})"
            if check.evaluation is None
            else "breaks "
            + _broken_constraint(
                problem, list(check.evaluation.bounds), list(check.evaluation.violations)
            )
        )
        print(summary_text)
        say(
            f"partnersim: error: no finalist holds the constraints on fresh replications; "
            f"the best, trial {first.number}, {reason} (see {root / 'trials.parquet'})"
        )
        return EXIT_RUNS_FAILED
    check = checks[chosen.number].evaluation
    lines = [
        _describe(problem, tuple(chosen.values), chosen.constraints) + " on the search's "
        f"{problem.replications} replications (seed {problem.seed})",
        _describe(problem, check.objectives, dict(enumerate(check.violations)))
        + f" on fresh ones (seed {problem.check_seed})",
    ]
    policy_path = root / "policy.toml"
    output.write_text(policy_path, output.policy_text(problem, chosen.number, chosen.params, lines))
    written.insert(0, policy_path)
    chosen_values = {
        lever: getattr(output.chosen_policy(problem, chosen.params), lever.removeprefix("policy."))
        for lever in [lv.key for lv in problem.levers]
    }
    written.append(
        pages.write(root, problem, trials_table, table, summary_text, chosen_values, images)
    )
    elapsed = time.monotonic() - started
    directory.end_session(
        status="complete",
        trials_stored=len(stored),
        chosen=chosen.number,
        runs=pipeline.runs,
        elapsed_s=round(elapsed, 3),
    )
    print(
        f"{problem.name}: trial {chosen.number} chosen of {len(stored)} ({len(feasible)} "
        f"feasible); {pipeline.runs} runs in {elapsed:.1f} s"
    )
    for key, value in chosen_values.items():
        print(f"  {key} = {value!r}")
    print(f"on {problem.replications} fresh replications (seed {problem.check_seed}):")
    print(summary_text)
    print("written: " + ", ".join(str(p) for p in written))
    if broken:
        say(
            f"partnersim: error: {len(broken)} of {len(stored)} trials failed (see the error "
            f"column of {root / 'trials.parquet'})"
        )
        return EXIT_RUNS_FAILED
    return 0


def _broken(directory: Any, trials: int, err: BaseException) -> int:
    done = len(directory.trials())
    directory.end_session(status="broken", trials_stored=done)
    reason = " ".join(f"{type(err).__name__}: {err}".split())
    say(
        f"partnersim: error: the executor broke ({reason}); {done} of {trials} trials are "
        f"stored in {directory.root}: run the same command again to resume"
    )
    return EXIT_RUNS_FAILED
