"""The search: Optuna's TPE over the free parameters, trials run on the project's executors.

A trial is a set of free-parameter values. Its runs are every setting the targets need
(market, policy, overrides) x `replications`, all from the same `seed` (common random
numbers: every trial meets the same clients and random inputs, so trials compare like with
like). Its loss is the sum over targets of the distance of the statistic from its range,
divided by the range's width (0 inside; an undefined or "never" value costs
`UNDEFINED_LOSS` widths).

Trials are numbered in the order they are proposed, and trial j is proposed by a TPE
sampler seeded from (seed, j) that sees the finished trials 0..j-2: every trial but the one
before it. So two trials are in flight at once and the workers never wait for the driver at
a trial's end (its last runs overlap the next trial's first), and yet the trials are a pure
function of the file: the same file and seed give the same trials on 1 worker or 8, in one
go or resumed. The study's storage (SQLite, `optuna.storages.RDBStorage`) holds finished
trials only, added in order; an interrupted search loses the trials in flight and, run
again, proposes them again, identically.

After the search, the best `finalists` trials are run again on fresh replications (seed
`check_seed`) and the best of them on those runs is the result.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents import parameters
from agents.parameters import ConfigError
from experiments import runner
from experiments.calibration.statistics import REGISTRY, Estimate, StatisticError, Tables
from experiments.calibration.targets import Calibration, Target
from sim.run import RunSpec

UNDEFINED_LOSS = 10.0  # range widths charged for a statistic with no value (no deal won, ...)
STARTUP_TRIALS = 10  # TPE's random trials before it models the loss
DEPTH = 2  # trials in flight; trial j sees trials 0..j-(DEPTH)


# --- loss ----------------------------------------------------------------------------------


def target_loss(target: Target, estimate: Estimate) -> float:
    """Distance of the estimate from the target's range, in range widths (0 inside)."""
    if not estimate.defined:
        return UNDEFINED_LOSS
    value = estimate.value
    distance = max(target.low - value, 0.0, value - target.high)
    return distance / target.width


def in_range(target: Target, estimate: Estimate) -> bool:
    return estimate.defined and target.low <= estimate.value <= target.high


def total_loss(calibration: Calibration, estimates: dict[int, Estimate]) -> float:
    return math.fsum(target_loss(t, estimates[t.index]) for t in calibration.targets)


# --- proposals -----------------------------------------------------------------------------


def distributions(calibration: Calibration) -> dict[str, Any]:
    """The study's search space: one distribution per free parameter, in file order."""
    from optuna.distributions import FloatDistribution, IntDistribution

    space: dict[str, Any] = {}
    for p in calibration.free:
        kind = IntDistribution if isinstance(p.low, int) else FloatDistribution
        space[p.name] = kind(p.low, p.high, log=p.log)
    return space


def slot_seed(seed: int, slot: int) -> int:
    """The sampler's seed for trial `slot`: independent streams per trial."""
    return int(np.random.SeedSequence([seed, slot]).generate_state(1)[0])


def propose(calibration: Calibration, slot: int, history: list[Any]) -> dict[str, Any]:
    """Trial `slot`'s values: TPE seeded from (seed, slot) over the finished trials given."""
    import optuna
    from optuna.samplers import TPESampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not a line per in-memory study
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = TPESampler(
            seed=slot_seed(calibration.seed, slot),
            n_startup_trials=STARTUP_TRIALS,
            multivariate=True,
            constant_liar=False,
        )
        study = optuna.create_study(direction="minimize", sampler=sampler)
        study.add_trials(history)
        trial = study.ask(distributions(calibration))
    return dict(trial.params)


# --- runs of a candidate -------------------------------------------------------------------


def candidate_specs(
    calibration: Calibration, values: dict[str, Any], seed: int, design_point: int = 0
) -> list[tuple[int, RunSpec]]:
    """(setting index, spec) of every run a candidate needs; ConfigError if they clash."""
    specs = []
    for i, setting in enumerate(calibration.settings):
        market, policy, _ = setting
        params = parameters.build(market, policy, calibration.overrides(setting, values))
        for replication in range(calibration.replications):
            spec = RunSpec(
                params=params,
                years=calibration.years,
                seed=seed,
                replication=replication,
                experiment=calibration.name,
                design_point=design_point,
            )
            specs.append((i, spec))
    return specs


@dataclass
class Candidate:
    """A set of free-parameter values being run: a trial, or a finalist's check."""

    key: int
    values: dict[str, Any]
    specs: list[tuple[int, RunSpec]] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    error: str | None = None
    remaining: int = 0
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    def estimates(self, calibration: Calibration, interval: bool = False) -> dict[int, Estimate]:
        """Every target's statistic from this candidate's runs."""
        tables: dict[int, Tables] = {}
        for i in range(len(calibration.settings)):
            results = [r for (s, _), r in zip(self.specs, self.results, strict=True) if s == i]
            tables[i] = Tables.concat(results)
        settings = {s: i for i, s in enumerate(calibration.settings)}
        return {
            t.index: REGISTRY[t.statistic].estimate(tables[settings[t.setting]], interval)
            for t in calibration.targets
        }


class Pipeline:
    """Runs candidates' specs on an executor, in order, keeping every worker slot busy.

    Specs are submitted in the order candidates were added, at most `2 * slots + 2` at a
    time (as `runner.run_sweep` does), so a candidate's last runs overlap the next one's
    first. Each run goes through `runner.execute`, the task `partnersim run` uses.
    """

    def __init__(self, executor: cf.Executor, slots: int, tick_s: float = 1.0) -> None:
        self.executor = executor
        self.max_in_flight = 2 * slots + 2
        self.tick_s = tick_s
        self.queue: collections.deque[tuple[Candidate, int]] = collections.deque()
        self.futures: dict[cf.Future, tuple[Candidate, int]] = {}
        self.runs = 0  # runs finished

    def add(self, candidate: Candidate) -> None:
        candidate.results = [None] * len(candidate.specs)
        candidate.remaining = len(candidate.specs)
        candidate.started = time.monotonic()
        self.queue.extend((candidate, i) for i in range(len(candidate.specs)))

    @property
    def busy(self) -> bool:
        return bool(self.queue or self.futures)

    def finished(self) -> Iterator[Candidate]:
        """Submit what fits, wait up to `tick_s`, yield candidates whose runs are all done."""
        while self.queue and len(self.futures) < self.max_in_flight:
            candidate, i = self.queue.popleft()
            if candidate.error is not None:  # a run of it failed: the rest are not needed
                self._done_one(candidate)
                if not candidate.remaining:
                    yield candidate
                continue
            future = self.executor.submit(runner.execute, candidate.specs[i][1])
            self.futures[future] = (candidate, i)
        if not self.futures:
            return
        done, _ = cf.wait(self.futures, timeout=self.tick_s, return_when=cf.FIRST_COMPLETED)
        for future in done:
            candidate, i = self.futures.pop(future)
            self.runs += 1
            result = self._result(candidate.specs[i][1], future)
            if isinstance(result, runner.RunFailure):
                candidate.error = candidate.error or f"run {result.run_id}: {result.error}"
            else:
                candidate.results[i] = result
            self._done_one(candidate)
            if not candidate.remaining:
                yield candidate

    def _done_one(self, candidate: Candidate) -> None:
        candidate.remaining -= 1
        if not candidate.remaining:
            candidate.seconds = time.monotonic() - candidate.started

    @staticmethod
    def _result(spec: RunSpec, future: cf.Future) -> Any:
        try:
            return future.result()
        except cf.BrokenExecutor:
            raise
        except Exception as err:  # the task never returned (a worker lost)
            message = " ".join(f"{type(err).__name__}: {err}".split())
            return runner.RunFailure(run_id=spec.run_id, error=message)

    def cancel(self) -> None:
        for future in self.futures:
            future.cancel()
        self.futures.clear()
        self.queue.clear()


# --- the search ----------------------------------------------------------------------------


@dataclass
class Finished:
    """A trial ready to be stored: its values, loss and per-target values (or its error)."""

    number: int
    values: dict[str, Any]
    loss: float | None
    statistics: dict[int, float | None]
    seconds: float
    error: str | None = None


def finish(calibration: Calibration, candidate: Candidate) -> Finished:
    """A candidate whose runs are done -> its loss (or the error that failed it)."""
    if candidate.error is None:
        try:
            estimates = candidate.estimates(calibration)
        except StatisticError as err:
            candidate.error = str(err)
        else:
            return Finished(
                number=candidate.key,
                values=candidate.values,
                loss=total_loss(calibration, estimates),
                statistics={i: e.value for i, e in estimates.items()},
                seconds=candidate.seconds,
            )
    return Finished(
        number=candidate.key,
        values=candidate.values,
        loss=None,
        statistics={},
        seconds=candidate.seconds,
        error=candidate.error,
    )


def search(
    calibration: Calibration,
    stored: list[Any],
    pipeline: Pipeline,
    store: Callable[[Finished], None],
    trials: int,
    progress: Callable[[Finished], None] | None = None,
) -> None:
    """Run trials `len(stored)` to `trials - 1`, storing each in order as it finishes.

    `stored` are the study's trials so far (numbers 0..len-1); `store` adds one to the study.
    Trial j is proposed once trials 0..j-2 are stored, from exactly those.
    """

    def start(slot: int, visible: list[Any]) -> Candidate:
        values = propose(calibration, slot, visible)
        candidate = Candidate(key=slot, values=values)
        try:
            candidate.specs = candidate_specs(calibration, values, calibration.seed, slot)
        except ConfigError as err:  # e.g. a free minimum above its free maximum
            candidate.error = f"invalid parameters: {err}"
        return candidate

    schedule(stored, pipeline, store, trials, start, lambda c: finish(calibration, c), progress)


def schedule(
    stored: list[Any],
    pipeline: Pipeline,
    store: Callable[[Any], Any],
    trials: int,
    start: Callable[[int, list[Any]], Candidate],
    finish: Callable[[Candidate], Any],
    progress: Callable[[Any], None] | None = None,
) -> None:
    """The search loop any study shares: trials proposed in order, DEPTH in flight.

    `start(slot, visible)` proposes trial `slot` from the stored trials it may see (numbers
    0..slot-DEPTH) and returns its candidate, with specs or an error; `finish(candidate)`
    turns a candidate whose runs are done (or that has none) into what `store` adds to the
    study, which has the trial's `number`. Trials are stored in order as they finish.
    """
    history = list(stored)
    told = len(history)
    next_slot = told
    done: dict[int, Any] = {}
    while told < trials:
        while next_slot < trials and next_slot - told < DEPTH:
            visible = [t for t in history if t.number <= next_slot - DEPTH]
            candidate = start(next_slot, visible)
            if candidate.specs and candidate.error is None:
                pipeline.add(candidate)
            else:
                done[next_slot] = finish(candidate)
            next_slot += 1
        for candidate in pipeline.finished():
            done[candidate.key] = finish(candidate)
        while told in done:
            finished = done.pop(told)
            history.append(_stored(store, finished))
            if progress is not None:
                progress(finished)
            told += 1


def _stored(store: Callable[[Any], Any], finished: Any) -> Any:
    trial = store(finished)
    if trial.number != finished.number:  # the study holds only this search's trials, in order
        raise RuntimeError(f"trial {finished.number} was stored as {trial.number}")
    return trial


def run_candidates(
    calibration: Calibration, pipeline: Pipeline, candidates: list[Candidate]
) -> list[Candidate]:
    """Run candidates to the end (finalists' checks); returns them in the order given."""
    for candidate in candidates:
        if candidate.specs:
            pipeline.add(candidate)
    while pipeline.busy:
        for _ in pipeline.finished():
            pass
    return candidates
