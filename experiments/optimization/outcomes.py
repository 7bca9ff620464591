"""A candidate policy's outcomes over its replications: objective values and constraint bounds.

An objective is a mean over runs (a share for a boolean outcome or a threshold). A
constraint holds on a one-sided bound at the problem's `confidence`, not on the mean: for a
share, the exact Clopper-Pearson bound (`scipy.stats.beta`), so that no partnership ended
in 30 runs still allows 9.5% at 95%; for a mean of numbers, Student's t. A constraint's
violation is how far its bound lies beyond its limit (<= 0: it holds), what Optuna's
samplers read as the trial's constraint value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

from agents.parameters import frozen
from experiments.optimization.problem import Constraint, Outcome, Problem


class UndefinedOutcome(Exception):
    """An objective or constraint with no value in any run (reported as one line)."""


def run_values(runs: pl.DataFrame, outcome: Outcome) -> np.ndarray:
    """One value per run, in the table's order: the column as a float, or 1.0/0.0 for a
    share; NaN where the column is null."""
    series = runs[outcome.column]
    if outcome.below is not None:
        series = series < outcome.below
    elif outcome.above is not None:
        series = series > outcome.above
    return series.cast(pl.Float64).fill_null(math.nan).to_numpy()


def mean(values: Sequence[float] | np.ndarray) -> float | None:
    """The mean of the values that are defined; None if none is."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def clopper_pearson(successes: int, n: int, confidence: float, side: str) -> float:
    """The exact one-sided bound of a proportion: the upper bound for `max`, lower for `min`."""
    from scipy.stats import beta

    if side == "max":
        return 1.0 if successes >= n else float(beta.ppf(confidence, successes + 1, n - successes))
    return 0.0 if successes <= 0 else float(beta.ppf(1 - confidence, successes, n - successes + 1))


def t_bound(values: np.ndarray, confidence: float, side: str) -> float:
    """The one-sided Student-t bound of a mean: upper for `max`, lower for `min`."""
    from scipy.stats import t

    n = values.size
    if n < 2:
        return math.inf if side == "max" else -math.inf
    half = float(t.ppf(confidence, n - 1)) * float(values.std(ddof=1)) / math.sqrt(n)
    centre = float(values.mean())
    return centre + half if side == "max" else centre - half


def bound(values: Sequence[float] | np.ndarray, constraint: Constraint, confidence: float) -> float:
    """A constraint's one-sided bound from the runs' values (undefined runs left out)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        raise UndefinedOutcome(f"{constraint.outcome.label} has no value in any run")
    if constraint.outcome.share:
        return clopper_pearson(int(values.sum()), values.size, confidence, constraint.side)
    return t_bound(values, confidence, constraint.side)


def violation(constraint: Constraint, value: float) -> float:
    """How far a bound lies beyond the constraint's limit (<= 0: the constraint holds)."""
    if constraint.side == "max":
        return value - constraint.limit
    return constraint.limit - value


@frozen
class Evaluation:
    """A candidate's objectives (means), its constraints' bounds and violations."""

    values: dict[str, list[float | None]]  # outcome column -> one value per replication
    objectives: tuple[float, ...]
    bounds: tuple[float, ...]
    violations: tuple[float, ...]

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.violations)

    @property
    def total_violation(self) -> float:
        return math.fsum(max(v, 0.0) for v in self.violations)


def column_values(problem: Problem, runs: pl.DataFrame) -> dict[str, list[float | None]]:
    """Every outcome column the problem reads, one value per run (None where null)."""
    return {
        column: [None if v is None else float(v) for v in runs[column].cast(pl.Float64)]
        for column in problem.outcomes
    }


def evaluate(problem: Problem, values: dict[str, list[float | None]]) -> Evaluation:
    """Objectives and constraints from the runs' outcome columns (`column_values`)."""
    frame = frame_of(values)
    objectives = []
    for objective in problem.objectives:
        value = mean(run_values(frame, objective.outcome))
        if value is None:
            raise UndefinedOutcome(f"{objective.label} has no value in any run")
        objectives.append(value)
    bounds, violations = [], []
    for constraint in problem.constraints:
        b = bound(run_values(frame, constraint.outcome), constraint, problem.confidence)
        bounds.append(b)
        violations.append(violation(constraint, b))
    return Evaluation(
        values=values,
        objectives=tuple(objectives),
        bounds=tuple(bounds),
        violations=tuple(violations),
    )


def frame_of(values: dict[str, list[float | None]]) -> pl.DataFrame:
    """The stored values as a frame: floats, booleans as 1.0 and 0.0, null where undefined."""
    return pl.DataFrame({c: pl.Series(c, v, dtype=pl.Float64) for c, v in values.items()})


def estimates(problem: Problem, values: dict[str, list[float | None]]) -> dict[str, float | None]:
    """Each objective's and constraint's outcome, by label: its mean or share over runs."""
    frame = frame_of(values)
    found: dict[str, float | None] = {}
    for outcome in [o.outcome for o in problem.objectives] + [
        c.outcome for c in problem.constraints
    ]:
        found[outcome.label] = mean(run_values(frame, outcome))
    return found
