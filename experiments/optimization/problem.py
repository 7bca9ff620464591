"""Optimization files: TOML -> a frozen, validated `Problem`.

A problem names a market and a starting policy (a preset or a policy file) with dotted
overrides that are not searched, the policy levers the search may change (bounds, or a list
of choices), one or more objectives and any number of constraints, each on an outcome: a
column of the runs table (README, "Output tables"). A boolean outcome is the share of runs
where it is true; `below = x` or `above = x` turns a number into that share too. See
docs/EXPERIMENTS.md, "Optimization".

Everything is checked when the file is loaded, before anything is written: an unknown lever
or outcome, bounds outside a parameter's declared range, a lever also set in `[base.set]`.
Each error is a ConfigError naming the dotted key (`levers.policy.urgency.high`,
`constraints[0].outcome`), the value and what was expected.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from agents import parameters
from agents.parameters import ConfigError, frozen, is_integer, is_real
from experiments import policy_file
from experiments.calibration.targets import declaration, search_settings
from experiments.toml_io import (
    closest_names,
    finite_number,
    flatten_dotted,
    integer_in,
    known_keys,
    parse,
    read_text,
    value_error,
)

TOP_KEYS = (
    "name",
    "description",
    "years",
    "replications",
    "seed",
    "trials",
    "workers",
    "finalists",
    "check_seed",
    "confidence",
    "population",
    "base",
    "levers",
    "objectives",
    "constraints",
)
BASE_KEYS = ("market", "policy", "set")
LEVER_KEYS = ("low", "high", "step", "log")
OBJECTIVE_KEYS = ("outcome", "direction", "below", "above")
CONSTRAINT_KEYS = ("outcome", "max", "min", "below", "above")
# Settings that change how long a search goes on or where it runs, not what a trial
# computes: a study resumes when only these differ.
NOT_HASHED = ("description", "trials", "workers", "finalists")
DEFAULT_FINALISTS = 3
DEFAULT_CONFIDENCE = 0.95
DEFAULT_POPULATION = 20  # NSGA-II's: small, for searches of a few hundred trials
MAX_OBJECTIVES = 4
# Runs-table columns that identify a run rather than describe its outcome.
ID_COLUMNS = ("run_id", "experiment", "design_point", "replication", "seed_entropy", "years")


@frozen
class Lever:
    """A policy lever the search may change: bounds (numbers) or a list of choices."""

    key: str  # dotted: policy.urgency
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    def distribution(self) -> Any:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.choices is not None:
            return CategoricalDistribution(self.choices)
        if isinstance(self.low, int):
            return IntDistribution(self.low, self.high, log=self.log, step=self.step or 1)
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def normalize(self, value: Any) -> Any:
        """A sampled value on the lever's grid exactly (Optuna gives 0.6000000000000001)."""
        if self.choices is not None or self.step is None or isinstance(self.low, int):
            return value
        return round(self.low + round((value - self.low) / self.step) * self.step, 12)

    @property
    def grid(self) -> tuple[Any, ...] | None:
        """Every value the lever can take, when there are finitely many (choices or a step)."""
        if self.choices is not None:
            return self.choices
        if isinstance(self.low, int):
            return tuple(range(self.low, self.high + 1, self.step or 1))
        if self.step is None:
            return None
        count = round((self.high - self.low) / self.step)
        return tuple(round(self.low + i * self.step, 12) for i in range(count + 1))


@frozen
class Outcome:
    """What an objective or a constraint measures: the mean of a runs-table column, or the
    share of runs where it is true (a boolean) or below or above a value."""

    column: str
    kind: str  # "bool" or "number", the column's
    below: float | None = None
    above: float | None = None

    @property
    def share(self) -> bool:
        """A share of runs (a proportion in [0, 1]), not a mean of numbers."""
        return self.kind == "bool" or self.below is not None or self.above is not None

    @property
    def label(self) -> str:
        """Its column in trials.parquet: `npv_usd`, `partnership_terminated`, `npv_usd<0`."""
        if self.below is not None:
            return f"{self.column}<{self.below:g}"
        if self.above is not None:
            return f"{self.column}>{self.above:g}"
        return self.column


@frozen
class Objective:
    outcome: Outcome
    direction: str  # maximize | minimize

    @property
    def label(self) -> str:
        return self.outcome.label


@frozen
class Constraint:
    """An outcome's one-sided bound must hold: its upper bound <= `limit` (`max`), or its
    lower bound >= `limit` (`min`)."""

    index: int
    outcome: Outcome
    side: str  # max | min
    limit: float

    @property
    def label(self) -> str:
        op = "<=" if self.side == "max" else ">="
        what = f"P({self.outcome.label})" if self.outcome.share else f"mean {self.outcome.label}"
        return f"{what} {op} {self.limit:g}"

    @property
    def bound_column(self) -> str:
        """Its one-sided bound's column in trials.parquet: `partnership_terminated_upper`."""
        return f"{self.outcome.label}_{'upper' if self.side == 'max' else 'lower'}"


@frozen
class Problem:
    """A validated optimization file."""

    name: str
    description: str
    years: float
    replications: int
    seed: int
    trials: int
    workers: int | None
    finalists: int
    check_seed: int  # the seed of the finalists' fresh replications
    confidence: float  # one-sided level of the constraints' bounds
    population: int  # NSGA-II's population (several objectives)
    market: str
    policy: str  # a preset's name or a policy file's path, as given
    overrides: tuple[tuple[str, Any], ...]  # [base.set], sorted by key
    levers: tuple[Lever, ...]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The runs-table columns the objectives and constraints read, in file order."""
        used = [o.outcome.column for o in self.objectives]
        used += [c.outcome.column for c in self.constraints]
        return tuple(dict.fromkeys(used))

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    def base_policy(self) -> parameters.Policy:
        return policy_file.resolve(self.policy, "base.policy")

    def parameters(self, values: dict[str, Any]) -> parameters.Parameters:
        """The model's parameters with the levers at `values` (by dotted key)."""
        overrides = {**dict(self.overrides), **values}
        return parameters.build(self.market, self.base_policy(), overrides)

    def canonical(self) -> dict[str, Any]:
        """What determines the trials, as plain data (comments and layout do not count)."""
        document = dataclasses.asdict(self)
        for key in NOT_HASHED:
            document.pop(key)
        if policy_file.is_file(self.policy):  # the file's levers, not only its path
            document["policy_levers"] = repr(self.base_policy())
        return document

    @property
    def study_hash(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- the runs table's outcomes -------------------------------------------------------------


@functools.cache
def outcome_columns() -> dict[str, str]:
    """Every outcome column of the runs table -> "bool" or "number", from a one-month run."""
    import polars as pl

    from sim.run import make_spec, simulate

    market = parameters.market_names()[0]
    runs = simulate(make_spec(market, parameters.PRESET_NAMES[0], years=1 / 12)).runs
    kinds = {}
    for name, dtype in runs.schema.items():
        if "." in name or name in ID_COLUMNS:
            continue  # parameters and ids
        if dtype == pl.Boolean:
            kinds[name] = "bool"
        elif dtype.is_numeric():
            kinds[name] = "number"
    return kinds


# --- loading -------------------------------------------------------------------------------


def load(path: str | Path) -> Problem:
    """Read and validate an optimization file; errors name the file or the dotted key."""
    return from_dict(parse(read_text(path, "an optimization TOML file"), str(path)))


def from_dict(data: dict[str, Any]) -> Problem:
    """A Problem from a parsed TOML document."""
    known_keys(data, TOP_KEYS, "")
    settings = search_settings(data, ("levers", "objectives"))
    confidence = data.get("confidence", DEFAULT_CONFIDENCE)
    if not is_real(confidence) or not 0.5 <= confidence < 1:
        raise value_error("confidence", confidence, "a level in [0.5, 1), e.g. 0.95")
    population = integer_in("population", data.get("population", DEFAULT_POPULATION), 2, 10_000)
    market, policy, overrides = _base(data.get("base", {}))
    levers = _levers(data["levers"], market, policy, overrides)
    columns = outcome_columns()
    objectives = _objectives(data["objectives"], columns)
    constraints = _constraints(data.get("constraints", []), columns, settings["replications"])
    return Problem(
        **settings,
        confidence=float(confidence),
        population=population,
        market=market,
        policy=policy,
        overrides=overrides,
        levers=levers,
        objectives=objectives,
        constraints=constraints,
    )


def _base(base: Any) -> tuple[str, str, tuple[tuple[str, Any], ...]]:
    if not isinstance(base, dict):
        raise value_error("base", base, "a table ([base])")
    known_keys(base, BASE_KEYS, "base.")
    market = base.get("market", "japan")
    if market not in parameters.market_names():
        raise value_error("base.market", market, "one of " + ", ".join(parameters.market_names()))
    policy = base.get("policy", "hybrid")
    preset = policy_file.resolve(policy, "base.policy")
    raw = base.get("set", {})
    if not isinstance(raw, dict):
        raise value_error("base.set", raw, 'a table of dotted overrides ("partner.reps" = 10)')
    overrides = flatten_dotted("base.set", raw)
    try:
        built = parameters.build(market, preset, overrides)
    except ConfigError as err:
        key = f"base.set.{err.key}" if err.key in overrides else f"base.set ({err.key})"
        raise value_error(key, err.value, err.expected) from None
    flat = parameters.flatten(built)
    return market, policy, tuple(sorted((k, flat[k]) for k in overrides))


def _levers(
    raw: Any, market: str, policy: str, overrides: tuple[tuple[str, Any], ...]
) -> tuple[Lever, ...]:
    if not isinstance(raw, dict) or not raw:
        raise value_error(
            "levers", raw, 'a table of policy levers ("policy.urgency" = { low, high })'
        )
    table = flatten_dotted("levers", raw)
    fixed = dict(overrides)
    base = policy_file.resolve(policy, "base.policy")
    levers = []
    for key, value in table.items():
        where = f"levers.{key}"
        lever_name = key.removeprefix("policy.")
        if not key.startswith("policy.") or lever_name not in policy_file.levers():
            close = [
                n for n in closest_names(key) if n.startswith("policy.") and n != "policy.name"
            ]
            hint = f" (closest: {', '.join(close)})" if close else ""
            raise value_error(where, value, f"a policy lever the vendor chooses{hint}")
        if key in fixed:
            raise value_error(
                f"base.set.{key}", fixed[key], f"a parameter that is not a lever ({where})"
            )
        current = getattr(base, lever_name)
        if isinstance(value, list):
            lever = _choices(where, key, value, market, base, fixed)
        elif isinstance(value, dict):
            lever = _bounds(where, key, value, current)
        else:
            raise value_error(where, value, "bounds { low = ..., high = ... } or a list of choices")
        for bound in lever.choices or (lever.low, lever.high):
            _check_builds(where, key, bound, market, base, fixed)
        levers.append(lever)
    return tuple(levers)


def _choices(
    where: str, key: str, values: list[Any], market: str, base: Any, fixed: dict[str, Any]
) -> Lever:
    if len(values) < 2:
        raise value_error(
            where, values, "at least two choices (a single value belongs in base.set)"
        )
    normalized = []
    for value in values:
        if isinstance(value, list | dict):
            raise value_error(where, value, "single values (numbers or strings)")
        params = _check_builds(where, key, value, market, base, fixed)
        normalized.append(parameters.flatten(params)[key])
    if len(set(map(repr, normalized))) != len(normalized):
        raise value_error(where, values, "distinct choices")
    return Lever(key=key, choices=tuple(normalized))


def _bounds(where: str, key: str, table: dict[str, Any], current: Any) -> Lever:
    extra = sorted(set(table) - set(LEVER_KEYS))
    if extra:
        raise value_error(f"{where}.{extra[0]}", table[extra[0]], "only low, high, step and log")
    kind = type(current)
    if kind not in (int, float):
        raise value_error(where, table, f"a list of choices ({key} is not a number)")
    for end in ("low", "high"):
        if end not in table:
            raise value_error(f"{where}.{end}", None, f"a number ({end} bound)")
        finite_number(f"{where}.{end}", table[end])
        if kind is int and not is_integer(table[end]):
            raise value_error(f"{where}.{end}", table[end], f"an integer ({key} is an integer)")
    low, high = kind(table["low"]), kind(table["high"])
    if not low < high:
        raise value_error(where, {"low": table["low"], "high": table["high"]}, "low < high")
    f = declaration(key)
    declared_low, declared_high = f.metadata.get("low"), f.metadata.get("high")
    shown = f"a value in [{declared_low}, {declared_high}] ({key}'s declared range)"
    if declared_low is not None and low < declared_low:
        raise value_error(f"{where}.low", table["low"], shown)
    if declared_high is not None and high > declared_high:
        raise value_error(f"{where}.high", table["high"], shown)
    step = table.get("step")
    if step is not None:
        finite_number(f"{where}.step", step)
        if kind is int and not is_integer(step):
            raise value_error(f"{where}.step", step, f"an integer ({key} is an integer)")
        if not 0 < step <= high - low:
            raise value_error(f"{where}.step", step, f"a step in (0, {high - low}]")
        count = (high - low) / step
        if abs(count - round(count)) > 1e-9:
            raise value_error(
                f"{where}.step", step, f"a step that divides high - low ({high - low})"
            )
        step = kind(step)
    log = table.get("log", False)
    if not isinstance(log, bool):
        raise value_error(f"{where}.log", log, "true or false")
    if log and low <= 0:
        raise value_error(f"{where}.low", table["low"], "> 0 with log = true")
    if log and step is not None and not (kind is int and step == 1):
        raise value_error(f"{where}.step", step, "no step with log = true")
    return Lever(key=key, low=low, high=high, step=step, log=log)


def _check_builds(
    where: str, key: str, value: Any, market: str, base: Any, fixed: dict[str, Any]
) -> parameters.Parameters:
    try:
        return parameters.build(market, base, {**fixed, key: value})
    except ConfigError as err:
        expected = (
            err.expected if err.key == key else f"a value that keeps {err.key} {err.expected}"
        )
        raise value_error(where, value, expected) from None


def _outcome(where: str, table: dict[str, Any], columns: dict[str, str]) -> Outcome:
    if "outcome" not in table:
        raise value_error(f"{where}.outcome", None, "a runs-table column (e.g. npv_usd)")
    column = table["outcome"]
    if column not in columns:
        shown = ", ".join(c for c in ("npv_usd", "partnership_terminated", "revenue_total_usd"))
        raise value_error(
            f"{where}.outcome",
            column,
            f"an outcome column of the runs table (e.g. {shown}; README, Output tables)",
        )
    below, above = table.get("below"), table.get("above")
    if below is not None and above is not None:
        raise value_error(f"{where}.above", above, "below or above, not both")
    for key, value in (("below", below), ("above", above)):
        if value is not None:
            if columns[column] != "number":
                raise value_error(
                    f"{where}.{key}", value, f"no threshold ({column} is true or false)"
                )
            finite_number(f"{where}.{key}", value)
    return Outcome(
        column=column,
        kind=columns[column],
        below=None if below is None else float(below),
        above=None if above is None else float(above),
    )


def _objectives(raw: Any, columns: dict[str, str]) -> tuple[Objective, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        raise value_error("objectives", raw, "a non-empty list of tables ([[objectives]])")
    if len(raw) > MAX_OBJECTIVES:
        raise value_error("objectives", f"{len(raw)} objectives", f"at most {MAX_OBJECTIVES}")
    objectives = []
    for i, table in enumerate(raw):
        where = f"objectives[{i}]"
        known_keys(table, OBJECTIVE_KEYS, f"{where}.")
        outcome = _outcome(where, table, columns)
        direction = table.get("direction")
        if direction not in ("maximize", "minimize"):
            raise value_error(f"{where}.direction", direction, "maximize or minimize")
        if any(o.label == outcome.label for o in objectives):
            raise value_error(f"{where}.outcome", outcome.label, "each objective once")
        objectives.append(Objective(outcome=outcome, direction=direction))
    return tuple(objectives)


def _constraints(raw: Any, columns: dict[str, str], replications: int) -> tuple[Constraint, ...]:
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise value_error("constraints", raw, "a list of tables ([[constraints]])")
    constraints = []
    for i, table in enumerate(raw):
        where = f"constraints[{i}]"
        known_keys(table, CONSTRAINT_KEYS, f"{where}.")
        outcome = _outcome(where, table, columns)
        sides = [side for side in ("max", "min") if side in table]
        if len(sides) != 1:
            raise value_error(where, table, "one of max or min (the bound the outcome must keep)")
        side = sides[0]
        limit = finite_number(f"{where}.{side}", table[side])
        if outcome.share and not 0 <= limit <= 1:
            raise value_error(
                f"{where}.{side}", limit, f"a share in [0, 1] ({outcome.label} is a share)"
            )
        if not outcome.share and replications < 2:
            raise value_error("replications", replications, f">= 2 for a bound on a mean ({where})")
        constraints.append(Constraint(index=i, outcome=outcome, side=side, limit=float(limit)))
    return tuple(constraints)
