"""The search: Optuna's constrained TPE (one objective) or NSGA-II (several) over the levers.

A trial is a set of lever values; its runs are the problem's `replications` from the same
`seed` (common random numbers: every trial meets the same clients and random inputs, so
trials compare like with like). Its values are the objectives' means over those runs, and
its constraints the violations of their one-sided bounds (`outcomes`), which both samplers
read from the stored trials: infeasible trials rank behind feasible ones.

The schedule is calibration's (`experiments.calibration.search.schedule`): trial j is
proposed by a sampler seeded from (seed, j) that sees the finished trials 0..j-2, so two
trials are in flight and yet the trials are a pure function of the file, on 1 worker or 8,
in one go or resumed. NSGA-II's generation is kept in the trial's system attributes, so a
resumed search rebuilds its populations from the study.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from agents.parameters import ConfigError
from experiments.calibration.search import (
    STARTUP_TRIALS,
    Candidate,
    Pipeline,
    run_candidates,
    schedule,
    slot_seed,
)
from experiments.optimization import outcomes
from experiments.optimization.problem import Problem
from sim.run import RunSpec

__all__ = ["Candidate", "Finished", "Pipeline", "run_candidates"]

SAMPLER_ATTRS = ("NSGAIISampler:",)  # system attributes a sampler sets at ask, kept with a trial


def distributions(problem: Problem) -> dict[str, Any]:
    """The study's search space: one distribution per lever, in file order."""
    return {lever.key: lever.distribution() for lever in problem.levers}


def sampler(problem: Problem, slot: int) -> Any:
    """Trial `slot`'s sampler: TPE for one objective, NSGA-II for several; seeded per slot."""
    import optuna

    seed = slot_seed(problem.seed, slot)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if len(problem.objectives) == 1:
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=STARTUP_TRIALS, multivariate=True, constant_liar=False
            )
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=problem.population)


def propose(problem: Problem, slot: int, history: list[Any]) -> tuple[dict[str, Any], dict]:
    """Trial `slot`'s lever values, and the system attributes its sampler gave it."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(directions=problem.directions, sampler=sampler(problem, slot))
        study.add_trials(history)
        trial = study.ask(distributions(problem))
    asked = study.get_trials(deepcopy=False)[-1].system_attrs
    attrs = {k: v for k, v in asked.items() if any(k.startswith(p) for p in SAMPLER_ATTRS)}
    values = {lever.key: lever.normalize(trial.params[lever.key]) for lever in problem.levers}
    return values, attrs


def specs(problem: Problem, values: dict[str, Any], seed: int, key: int = 0) -> list[RunSpec]:
    """The runs of a candidate: its parameters x every replication, from `seed`."""
    return specs_of(problem, problem.parameters(values), seed, key)


def specs_of(problem: Problem, params: Any, seed: int, key: int = 0) -> list[RunSpec]:
    """Every replication of `params`, from `seed`, over the problem's horizon."""
    return [
        RunSpec(
            params=params,
            years=problem.years,
            seed=seed,
            replication=r,
            experiment=problem.name,
            design_point=key,
        )
        for r in range(problem.replications)
    ]


def runs_of(candidate: Candidate) -> pl.DataFrame:
    """A finished candidate's runs table, in replication order."""
    return pl.concat([r.runs for r in candidate.results], how="vertical_relaxed")


@dataclass
class Finished:
    """A trial ready to be stored: values, outcomes per replication, bounds (or its error)."""

    number: int
    values: dict[str, Any]
    evaluation: outcomes.Evaluation | None
    seconds: float
    system_attrs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def finish(problem: Problem, candidate: Candidate) -> Finished:
    """A candidate whose runs are done -> its evaluation (or the error that failed it)."""
    evaluation = None
    if candidate.error is None:
        values = outcomes.column_values(problem, runs_of(candidate))
        try:
            evaluation = outcomes.evaluate(problem, values)
        except outcomes.UndefinedOutcome as err:
            candidate.error = str(err)
    return Finished(
        number=candidate.key,
        values=candidate.values,
        evaluation=evaluation,
        seconds=candidate.seconds,
        system_attrs=getattr(candidate, "system_attrs", {}),
        error=candidate.error,
    )


def search(
    problem: Problem,
    stored: list[Any],
    pipeline: Pipeline,
    store: Callable[[Finished], Any],
    trials: int,
    progress: Callable[[Finished], None] | None = None,
) -> None:
    """Run trials `len(stored)` to `trials - 1`, storing each in order as it finishes."""

    def start(slot: int, visible: list[Any]) -> Candidate:
        values, attrs = propose(problem, slot, visible)
        candidate = Candidate(key=slot, values=values)
        candidate.system_attrs = attrs
        try:
            candidate.specs = [(0, s) for s in specs(problem, values, problem.seed, slot)]
        except ConfigError as err:  # levers that clash with each other
            candidate.error = f"invalid parameters: {err}"
        return candidate

    schedule(stored, pipeline, store, trials, start, lambda c: finish(problem, c), progress)


def evaluate_candidates(
    problem: Problem, pipeline: Pipeline, candidates: list[Candidate]
) -> list[Finished]:
    """Run candidates to the end (finalists and presets on fresh replications)."""
    run_candidates(None, pipeline, candidates)
    return [finish(problem, c) for c in candidates]


def candidate(problem: Problem, key: int, values: dict[str, Any], seed: int) -> Candidate:
    """A finalist's candidate: its runs from `seed` (fresh replications)."""
    made = Candidate(key=key, values=values)
    made.specs = [(0, s) for s in specs(problem, values, seed, key)]
    return made


def preset_candidate(problem: Problem, key: int, preset: str, seed: int) -> Candidate:
    """A preset's candidate, in the problem's market with its `[base.set]`, from `seed`."""
    from agents import parameters

    params = parameters.build(problem.market, preset, dict(problem.overrides))
    made = Candidate(key=key, values={})
    made.specs = [(0, s) for s in specs_of(problem, params, seed, key)]
    return made


def objective_key(problem: Problem, values: tuple[float, ...]) -> tuple[float, ...]:
    """A sort key: smaller is better, objective by objective."""
    return tuple(
        -v if o.direction == "maximize" else v
        for o, v in zip(problem.objectives, values, strict=True)
    )


def dominates(problem: Problem, a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    ka, kb = objective_key(problem, a), objective_key(problem, b)
    return all(x <= y for x, y in zip(ka, kb, strict=True)) and ka != kb


def front(problem: Problem, points: list[tuple[int, tuple[float, ...]]]) -> list[int]:
    """The keys of the non-dominated points, best on the first objective first."""
    kept = [
        (key, values)
        for key, values in points
        if not any(dominates(problem, other, values) for _, other in points)
    ]
    kept.sort(key=lambda kv: (objective_key(problem, kv[1]), kv[0]))
    return [key for key, _ in kept]
