"""Experiment files: TOML -> a frozen, validated `ExperimentConfig`, and back with `to_toml`.

An experiment names a base configuration (market profile, policy preset, dotted overrides),
a horizon, a number of replications and a seed, and optionally a sweep: a design kind
(grid, lhs, sobol, morris) over dotted parameters given as lists of values or as bounds.
The keys `market` and `policy` in a sweep are special: their values are market profile and
policy preset names. A sweep lists its keys in `[sweep.parameters]`, or splits them into
`[sweep.levers]` and `[sweep.uncertainties]` (`experiments.sweep`, which reads the sweep and
checks it on its own). See docs/EXPERIMENTS.md for the format.

Everything is checked when the config is constructed, by building the model's parameters
(`agents.parameters.build`) with each swept value, so an unknown parameter, a value out of
range or a wrong type fails at load time with the dotted key that holds it, e.g.
`sweep.parameters.policy.urgency: got 1.5, expected a value in [0, 1]`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from dataclasses import field
from pathlib import Path
from typing import Any

from agents import parameters
from agents.parameters import MAX_YEARS, MISSING, ConfigError, frozen, is_integer, is_real
from experiments import policy_file
from experiments import sweep as sweeps
from experiments.sweep import (
    DEFAULT_MORRIS_LEVELS,
    NAMED_SWEEPS,
    SWEEP_KEYS,
    SWEEP_TABLES,
    Sweep,
    SweptParameter,
)
from experiments.sweep import DESIGNS as DESIGNS
from experiments.sweep import NAMED_SWEEP_COLUMNS as NAMED_SWEEP_COLUMNS
from experiments.sweep import Bounds as Bounds
from experiments.sweep import design_point_count as design_point_count
from experiments.toml_io import ConfigFileError as ConfigFileError
from experiments.toml_io import brief as brief
from experiments.toml_io import (
    check_parameter_name,
    flatten_dotted,
    integer_in,
    known_keys,
    parse,
    read_text,
    table,
    value_error,
)
from experiments.toml_io import closest_names as closest_names
from experiments.toml_io import toml_text as toml_text

TOP_KEYS = ("name", "description", "years", "replications", "seed", "base", "sweep")
BASE_KEYS = ("market", "policy", "set")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MAX_RUNS = 1_000_000  # design points x replications: beyond, planning alone takes GBs


@frozen
class ExperimentConfig:
    """A validated experiment: base configuration, horizon, replications, seed and sweep."""

    name: str
    description: str = ""
    years: float = 5.0
    replications: int = 1
    seed: int = 0
    market: str = "japan"
    policy: str = "hybrid"
    overrides: tuple[tuple[str, Any], ...] = ()  # [base.set], sorted by key
    sweep: Sweep = field(default_factory=Sweep)

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def swept(self) -> tuple[str, ...]:
        """Runs-table columns of the swept parameters (`market.name` for `market`)."""
        return tuple(p.column for p in self.sweep.parameters)

    @property
    def config_hash(self) -> str:
        """A hash of the canonical TOML: comments and layout of the file do not count."""
        return hashlib.sha256(to_toml(self).encode()).hexdigest()[:16]


# --- loading -------------------------------------------------------------------------------


def load(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment file; errors name the file or the dotted key."""
    return loads(read_text(path, "an experiment TOML file"), source=str(path))


def loads(text: str, source: str = "<config>") -> ExperimentConfig:
    """Parse and validate experiment TOML text."""
    return from_dict(parse(text, source))


def from_dict(data: dict[str, Any]) -> ExperimentConfig:
    """An ExperimentConfig from parsed TOML: unknown keys and wrong types name their key."""
    known_keys(data, TOP_KEYS, "")
    if "name" not in data:
        raise value_error("name", MISSING, "a name for the experiment (letters, digits, _ . -)")
    base = table(data, "base")
    known_keys(base, BASE_KEYS, "base.")
    sweep = table(data, "sweep")
    known_keys(sweep, SWEEP_KEYS, "sweep.")
    overrides = flatten_dotted("base.set", table(base, "set", "base.set"))
    for key, value in overrides.items():
        if isinstance(value, dict | list):
            raise value_error(
                f"base.set.{key}", value, "a single value (a number, string or boolean)"
            )
    kwargs: dict[str, Any] = {
        "name": data["name"],
        "market": base.get("market", "japan"),
        "policy": base.get("policy", "hybrid"),
        "overrides": tuple(overrides.items()),
        "sweep": sweeps.from_dict(sweep),
    }
    for key in ("description", "years", "replications", "seed"):
        if key in data:
            kwargs[key] = data[key]
    return ExperimentConfig(**kwargs)


# --- validation ----------------------------------------------------------------------------


def _validate(config: ExperimentConfig) -> None:
    """Check every field; swept and overridden values by building the model's parameters."""
    if not isinstance(config.name, str) or not NAME_PATTERN.fullmatch(config.name):
        raise value_error(
            "name", config.name, "a name of letters, digits, _ . - (a directory name)"
        )
    if not isinstance(config.description, str):
        raise value_error("description", config.description, "a string")
    years = config.years
    if not is_real(years) or not 0 < years <= MAX_YEARS:
        raise value_error("years", years, f"a number of years in (0, {MAX_YEARS}]")
    object.__setattr__(config, "years", float(years))
    for key, low, high in (("replications", 1, 1_000_000), ("seed", 0, 2**63 - 1)):
        object.__setattr__(config, key, integer_in(key, getattr(config, key), low, high))
    _check_name("base.market", config.market, parameters.market_names())
    policy = policy_file.resolve(config.policy, "base.policy")  # a preset or a policy file
    sweeps.validate_options(config.sweep)
    counts = {k: getattr(config.sweep, k) for k in ("samples", "levels")}
    counts = {k: int(v) for k, v in counts.items() if v is not None}  # numpy ints too
    object.__setattr__(config, "sweep", dataclasses.replace(config.sweep, **counts))
    points = design_point_count(config.sweep)
    if points * config.replications > MAX_RUNS:
        if points <= MAX_RUNS:
            key, value = "replications", config.replications
        elif config.sweep.samples:
            key, value = "sweep.samples", config.sweep.samples
        else:
            key, value = "sweep.parameters", f"{points:,} design points"
        raise value_error(
            key,
            value,
            f"at most {MAX_RUNS:,} runs in one experiment, not {points:,} design points x "
            f"{config.replications:,} (split the design into several experiments)",
        )
    overrides = dict(config.overrides)
    if len(overrides) != len(config.overrides):
        raise value_error("base.set", config.overrides, "each parameter once")
    for p in config.sweep.parameters:
        check_parameter_name(p.where, p.key, p.values or p.bounds, NAMED_SWEEPS)
    for key, value in overrides.items():
        if key not in NAMED_SWEEPS:  # those have their own message below
            check_parameter_name(f"base.set.{key}", key, value)
    swept = {p.column: p.where for p in config.sweep.parameters}
    for key in overrides:
        if key in NAMED_SWEEPS:
            raise value_error(
                f"base.set.{key}", overrides[key], f"a dotted parameter (use base.{key})"
            )
        if key in swept:  # the sweep would overwrite it in every run's column
            raise value_error(
                f"base.set.{key}",
                overrides[key],
                f"a parameter that is not swept ({swept[key]} sets {key})",
            )
    try:
        base = parameters.build(config.market, policy, overrides)
    except ConfigError as err:
        raise _rekeyed(err, "base.set", overrides) from None
    # sorted: the order of [base.set] lines changes nothing, so it must not change the hash
    object.__setattr__(config, "overrides", tuple(sorted(_normalized(base, overrides).items())))
    if config.sweep.design == "morris" and config.sweep.levels is None:  # the same, written out
        levels = DEFAULT_MORRIS_LEVELS
        object.__setattr__(config, "sweep", dataclasses.replace(config.sweep, levels=levels))
    combos = _base_combinations(config)
    checked = tuple(_validate_parameter(config, p, combos) for p in config.sweep.parameters)
    object.__setattr__(config, "sweep", dataclasses.replace(config.sweep, parameters=checked))


def _check_name(key: str, value: Any, names: list[str]) -> None:
    if value not in names:
        raise value_error(key, value, "one of " + ", ".join(names))


def _base_combinations(config: ExperimentConfig) -> list[tuple[str, parameters.Policy]]:
    """(market, policy) pairs a swept value must be valid for."""
    listed = {p.key: p for p in config.sweep.listed if p.key in NAMED_SWEEPS}
    named = {key: p.values for key, p in listed.items()}
    for key, names in named.items():
        where = listed[key].where
        if not names:
            raise value_error(where, [], "a non-empty list of names")
        for name in names:
            if key == "market":
                _check_name(where, name, parameters.market_names())
            else:  # a preset or a policy file
                policy_file.resolve(name, where)
        if len(set(names)) != len(names):
            raise value_error(where, list(names), "distinct names")
    markets = named.get("market", (config.market,))
    names = named.get("policy", (config.policy,))
    where = listed["policy"].where if "policy" in listed else "base.policy"
    policies = [policy_file.resolve(name, where) for name in names]
    return [(m, p) for m in markets for p in policies]


def _validate_parameter(
    config: ExperimentConfig, swept: SweptParameter, combos: list[tuple[str, str]]
) -> SweptParameter:
    """Check one swept parameter against every base it will run on; normalize its values."""
    where = swept.where
    if swept.key in NAMED_SWEEPS:
        if swept.bounds is not None:
            raise value_error(
                where, swept.bounds, "a list of names (market and policy are not sampled)"
            )
        return swept
    overrides = dict(config.overrides)
    if swept.values is not None:
        if not swept.values:
            raise value_error(where, [], "a non-empty list of values")
        values = []
        for value in swept.values:
            if isinstance(value, list | dict):
                raise value_error(where, value, "single values (numbers, strings or booleans)")
            for market, preset in combos:
                params = _build_one(market, preset, overrides, swept.key, value, where)
            values.append(parameters.flatten(params)[swept.key])
        if len(set(map(repr, values))) != len(values):
            raise value_error(where, list(swept.values), "distinct values")
        return dataclasses.replace(swept, values=tuple(values))
    low, high = swept.bounds.low, swept.bounds.high
    bounds = {"low": low, "high": high}
    if not all(math.isfinite(v) for v in (low, high)):
        raise value_error(where, bounds, "finite bounds")
    if not low < high:
        raise value_error(where, bounds, "low < high")
    market, preset = combos[0]
    current = parameters.flatten(parameters.build(market, preset, overrides)).get(swept.key)
    if current is None:
        raise value_error(where, bounds, "a known parameter name (see `partnersim presets`)")
    kind = type(current)
    if kind not in (int, float):
        raise value_error(where, bounds, f"a list of values ({swept.key} is not a number)")
    if kind is int and not all(is_integer(v) for v in (low, high)):
        raise value_error(where, bounds, "integer bounds (an integer parameter)")
    for market, preset in combos:
        _build_one(market, preset, overrides, swept.key, low, f"{where}.low")
        _build_one(market, preset, overrides, swept.key, high, f"{where}.high")
    return dataclasses.replace(swept, bounds=Bounds(low=kind(low), high=kind(high)))


def _build_one(
    market: str,
    preset: parameters.Policy,
    overrides: dict[str, Any],
    key: str,
    value: Any,
    where: str,
) -> parameters.Parameters:
    try:
        return parameters.build(market, preset, {**overrides, key: value})
    except ConfigError as err:
        if err.key == key:
            raise value_error(where, value, err.expected) from None
        raise value_error(where, value, f"a value that keeps {err.key} {err.expected}") from None


def _rekeyed(err: ConfigError, prefix: str, overrides: dict[str, Any]) -> ConfigError:
    """A ConfigError from `build` under the config key that caused it."""
    if err.key in overrides:
        return value_error(f"{prefix}.{err.key}", err.value, err.expected)
    return value_error(f"{prefix} ({err.key})", err.value, err.expected)


def _normalized(params: parameters.Parameters, overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides as the model stores them (ints given for float parameters become floats)."""
    flat = parameters.flatten(params)
    return {key: flat[key] for key in overrides}


# --- writing -------------------------------------------------------------------------------

# Tables whose keys are parameter names: always quoted, so that a dotted name reads back as
# one key whichever way it is spelt.
PARAMETER_TABLES = ("base.set", "sweep.parameters", "sweep.levers", "sweep.uncertainties")


def to_toml(config: ExperimentConfig) -> str:
    """The canonical TOML of a config: `loads(to_toml(c)) == c`."""
    document: dict[str, Any] = {"name": config.name}
    if config.description:
        document["description"] = config.description
    document |= {"years": config.years, "replications": config.replications, "seed": config.seed}
    base: dict[str, Any] = {"market": config.market, "policy": config.policy}
    if config.overrides:
        base["set"] = dict(config.overrides)
    sweep = config.sweep
    table: dict[str, Any] = {"design": sweep.design}
    for key in ("samples", "levels", "second_order"):
        if getattr(sweep, key) is not None:
            table[key] = getattr(sweep, key)
    for name, role in SWEEP_TABLES.items():  # levers and uncertainties as given, not merged
        given = [p for p in sweep.parameters if p.role == role]
        if given:
            table[name] = {
                p.key: list(p.values)
                if p.values is not None
                else {"low": p.bounds.low, "high": p.bounds.high}
                for p in given
            }
    return toml_text({**document, "base": base, "sweep": table}, quoted=PARAMETER_TABLES)
