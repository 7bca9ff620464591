"""`partnersim calibrate TARGETS.toml --out DIR`: search, check the finalists, write the result.

Steps: load the file (all validation, nothing written yet), check DIR, open the study and
the executor, run the trials not stored yet, re-run the best `finalists` on fresh
replications, write the market files and tables, print the targets table. Ctrl-C or SIGTERM
stops the search keeping every finished trial: the same command resumes it.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import math
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


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "calibrate",
        help="search free parameters so statistics land in published ranges (Optuna TPE)",
        description="Calibrate market parameters to target ranges: an Optuna TPE search "
        "whose trials run on the local process pool, resumable from DIR/study.db; the best "
        "candidates are re-run on fresh replications and the best of them is written as "
        "DIR/markets/<market>.toml with DIR/targets.parquet and DIR/trials.parquet.",
    )
    parser.add_argument("targets", metavar="TARGETS", help="calibration TOML file")
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=directory_path,
        help="output directory (default results/<name>)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="local worker processes (default: the file's, or one per core)",
    )
    parser.add_argument(
        "--trials", type=int, metavar="N", help="trials in all, overriding the file's `trials`"
    )
    parser.add_argument(
        "--fresh", action="store_true", help="discard the study in DIR and start over"
    )
    parser.set_defaults(func=cmd_calibrate)
    return parser


def cmd_calibrate(args: argparse.Namespace) -> int:
    from experiments.calibration import targets as targets_module

    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise UsageError(
            f"--workers: got {args.workers}, expected an integer in [1, {MAX_WORKERS}]"
        )
    if args.trials is not None and not 1 <= args.trials <= targets_module.MAX_TRIALS:
        raise UsageError(
            f"--trials: got {args.trials}, expected an integer in [1, {targets_module.MAX_TRIALS}]"
        )
    calibration = targets_module.load(args.targets)
    from experiments import runner, store
    from experiments.calibration import study

    out = Path(args.out) if args.out else Path("results") / calibration.name
    trials = args.trials or calibration.trials
    workers = args.workers or calibration.workers
    try:
        study.check_destination(out, calibration, fresh=args.fresh)
        text = Path(args.targets).read_text(encoding="utf-8")
        with (
            study.Directory(out, calibration, text, fresh=args.fresh) as directory,
            runner.make_executor(workers) as info,
            _sigterm_as_interrupt(),
        ):
            return _calibrate(calibration, directory, info, trials)
    except store.WriteError as err:
        say(f"partnersim: error: {err}")
        return EXIT_RUNS_FAILED
    except (store.StoreError, runner.ExecutorError) as err:
        raise UsageError(str(err)) from None


def _calibrate(calibration: Any, directory: Any, info: Any, trials: int) -> int:
    from experiments.calibration import output, search

    started = time.monotonic()
    stored = directory.trials()
    settings = len(calibration.settings)
    per_trial = settings * calibration.replications
    directory.start_session(executor=info.description, slots=info.slots, trials=trials)
    say(
        f"{calibration.name}: {len(calibration.targets)} targets, {len(calibration.free)} free "
        f"parameters; {settings} settings x {calibration.replications} replications = "
        f"{per_trial} runs per trial; {min(len(stored), trials)} of {trials} trials stored; "
        f"{info.description} -> {directory.root}"
    )
    pipeline = search.Pipeline(info.executor, info.slots)
    best: list[float] = [min((t.value for t in stored if t.value is not None), default=math.inf)]

    def progress(finished: search.Finished) -> None:
        if finished.loss is not None and finished.loss < best[0]:
            best[0] = finished.loss
        loss = "failed" if finished.loss is None else f"loss {finished.loss:.4g}"
        say(
            f"trial {finished.number + 1}/{trials}: {loss} (best {best[0]:.4g}), "
            f"{finished.seconds:.1f} s"
        )

    try:
        search.search(calibration, stored, pipeline, directory.store, trials, progress)
    except cf.BrokenExecutor as err:  # a worker died (out of memory, killed)
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
    stored = directory.trials()[:trials]
    complete = sorted((t for t in stored if t.value is not None), key=lambda t: (t.value, t.number))
    failed = [t for t in stored if t.value is None]
    # a run that raised is a fault of the model; parameters that clash are the search space's
    broken = [t for t in failed if not t.user_attrs.get("error", "").startswith("invalid")]
    if not complete:
        first = failed[0].user_attrs.get("error", "no error recorded") if failed else "none"
        directory.end_session(status="failed")
        say(f"partnersim: error: no trial completed; the first failed with {first}")
        return EXIT_RUNS_FAILED
    finalists = complete[: calibration.finalists]
    say(
        f"checking the best {len(finalists)} trials on fresh replications "
        f"(seed {calibration.check_seed})"
    )
    candidates = [
        search.Candidate(
            key=t.number,
            values=dict(t.params),
            specs=search.candidate_specs(calibration, dict(t.params), calibration.check_seed),
        )
        for t in finalists
    ]
    try:
        search.run_candidates(calibration, pipeline, candidates)
    except cf.BrokenExecutor as err:
        return _broken(directory, trials, err)
    except KeyboardInterrupt:
        pipeline.cancel()
        directory.end_session(status="interrupted", trials_stored=len(stored))
        say(
            f"partnersim: interrupted while checking the finalists; all {len(stored)} trials "
            f"are stored in {directory.root}; run the same command again to check them"
        )
        return EXIT_INTERRUPTED
    checks: dict[int, tuple[float, dict]] = {}
    for trial, candidate in zip(finalists, candidates, strict=True):
        if candidate.error is None:
            estimates = candidate.estimates(calibration, interval=True)
            checks[trial.number] = (search.total_loss(calibration, estimates), estimates)
    if not checks:
        directory.end_session(status="failed")
        say(
            "partnersim: error: every finalist failed on fresh replications "
            f"({candidates[0].error})"
        )
        return EXIT_RUNS_FAILED
    chosen = min(
        (t for t in finalists if t.number in checks),
        key=lambda t: (checks[t.number][0], t.value, t.number),
    )
    check_loss, estimates = checks[chosen.number]
    search_values = {int(k): v for k, v in chosen.user_attrs.get("statistics", {}).items()}
    targets = output.targets_frame(calibration, estimates, search_values)
    trials_table = output.trials_frame(
        calibration, stored, {n: loss for n, (loss, _) in checks.items()}, chosen.number
    )
    written = output.write_results(
        directory.root, calibration, chosen, check_loss, targets, trials_table
    )
    elapsed = time.monotonic() - started
    directory.end_session(
        status="complete",
        trials_stored=len(stored),
        chosen=chosen.number,
        runs=pipeline.runs,
        elapsed_s=round(elapsed, 3),
    )
    hits = int(targets["in_range"].sum())
    print(
        f"{calibration.name}: trial {chosen.number} chosen (loss {chosen.value:.4g} on the "
        f"search's replications, {check_loss:.4g} on fresh ones); {hits} of "
        f"{targets.height} targets in range; {pipeline.runs} runs in {elapsed:.1f} s"
    )
    for p in calibration.free:
        print(f"  {p.name} = {chosen.params[p.name]!r}")
    print(output.format_targets(targets))
    print("written: " + ", ".join(str(p) for p in written))
    if broken:
        say(
            f"partnersim: error: {len(broken)} of {len(stored)} trials failed (see the error "
            f"column of {directory.root / 'trials.parquet'})"
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
