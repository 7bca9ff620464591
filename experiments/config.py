"""Experiment files: TOML -> a frozen, validated `ExperimentConfig`, and back with `to_toml`.

An experiment names a base configuration (market profile, policy preset, dotted overrides),
a horizon, a number of replications and a seed, and optionally a sweep: a design kind
(grid, lhs, sobol, morris) over dotted parameters given as lists of values or as bounds.
The keys `market` and `policy` in a sweep are special: their values are market profile and
policy preset names. A sweep lists its keys in `[sweep.parameters]`, or splits them into
`[sweep.levers]` (what the vendor chooses: `policy` presets and `policy.*` levers, as lists,
crossed with everything else) and `[sweep.uncertainties]` (rates no one chooses, which a
sampled design samples), so that every lever setting meets the same sampled futures. See
docs/EXPERIMENTS.md for the format.

Everything is checked when the config is constructed, by building the model's parameters
(`agents.parameters.build`) with each swept value, so an unknown parameter, a value out of
range or a wrong type fails at load time with the dotted key that holds it, e.g.
`sweep.parameters.policy.urgency: got 1.5, expected a value in [0, 1]`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import math
import re
from dataclasses import field
from pathlib import Path
from typing import Any

from agents import parameters
from agents.parameters import MAX_YEARS, MISSING, ConfigError, frozen, is_integer, is_real
from experiments import policy_file
from experiments.toml_io import ConfigFileError as ConfigFileError
from experiments.toml_io import brief as brief
from experiments.toml_io import integer_in, known_keys, parse, read_text, value_error
from experiments.toml_io import toml_text as toml_text

DESIGNS = ("grid", "lhs", "sobol", "morris")
SAMPLED_DESIGNS = ("lhs", "sobol", "morris")
# Sweep keys whose values are names (market profiles, policy presets), not parameter values.
NAMED_SWEEPS = ("market", "policy")
# The runs-table column that records a named sweep.
NAMED_SWEEP_COLUMNS = {"market": "market.name", "policy": "policy.name"}

TOP_KEYS = ("name", "description", "years", "replications", "seed", "base", "sweep")
BASE_KEYS = ("market", "policy", "set")
SWEEP_KEYS = (
    "design",
    "samples",
    "levels",
    "second_order",
    "parameters",
    "levers",
    "uncertainties",
)
# The tables a sweep's keys are read from; a key's role is the table it was given in.
SWEEP_TABLES = {"parameters": None, "levers": "lever", "uncertainties": "uncertainty"}
ROLE_TABLES = {role: table for table, role in SWEEP_TABLES.items()}
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
DEFAULT_MORRIS_LEVELS = 4
MAX_RUNS = 1_000_000  # design points x replications: beyond, planning alone takes GBs


@frozen
class Bounds:
    """A parameter sampled between `low` and `high` (inclusive) by lhs, sobol or morris."""

    low: float
    high: float


@frozen
class SweptParameter:
    """One swept key: either a list of `values` (grid) or `bounds` (sampled designs)."""

    key: str  # dotted parameter name, or `market` / `policy`
    values: tuple[Any, ...] | None = None
    bounds: Bounds | None = None
    role: str | None = None  # "lever", "uncertainty", or None (given in [sweep.parameters])

    def __post_init__(self) -> None:
        if self.role not in ROLE_TABLES:
            raise value_error(f"{self.where}.role", self.role, "lever, uncertainty or none")
        if (self.values is None) == (self.bounds is None):
            raise value_error(self.where, MISSING, "a list of values or bounds")

    @property
    def column(self) -> str:
        """The runs-table column holding this parameter (`policy` -> `policy.name`)."""
        return NAMED_SWEEP_COLUMNS.get(self.key, self.key)

    @property
    def where(self) -> str:
        """The config key that gives it: `sweep.levers.policy` or `sweep.parameters.x`."""
        return f"sweep.{ROLE_TABLES.get(self.role, 'parameters')}.{self.key}"


@frozen
class Sweep:
    """How design points are generated from the swept parameters."""

    design: str = "grid"
    samples: int | None = None  # lhs: points; sobol: base samples N; morris: trajectories
    levels: int | None = None  # morris grid levels (default 4)
    second_order: bool | None = None  # sobol: also second-order indices (default false)
    parameters: tuple[SweptParameter, ...] = ()

    @property
    def sampled(self) -> tuple[SweptParameter, ...]:
        """Parameters given as bounds, in file order."""
        return tuple(p for p in self.parameters if p.bounds is not None)

    @property
    def listed(self) -> tuple[SweptParameter, ...]:
        """Parameters given as lists of values, in file order."""
        return tuple(p for p in self.parameters if p.values is not None)

    @property
    def levers(self) -> tuple[SweptParameter, ...]:
        """Parameters given in [sweep.levers]: the vendor's choices, crossed with the rest."""
        return tuple(p for p in self.parameters if p.role == "lever")

    @property
    def uncertainties(self) -> tuple[SweptParameter, ...]:
        """Parameters given in [sweep.uncertainties]: what no one chooses."""
        return tuple(p for p in self.parameters if p.role == "uncertainty")


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
    base = _table(data, "base")
    known_keys(base, BASE_KEYS, "base.")
    sweep = _table(data, "sweep")
    known_keys(sweep, SWEEP_KEYS, "sweep.")
    overrides = _flatten_dotted("base.set", _table(base, "set", "base.set"))
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
        "sweep": _sweep_from_dict(sweep),
    }
    for key in ("description", "years", "replications", "seed"):
        if key in data:
            kwargs[key] = data[key]
    return ExperimentConfig(**kwargs)


def _table(data: dict[str, Any], key: str, dotted: str | None = None) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise value_error(dotted or key, value, "a table")
    return value


def _is_bounds(value: Any) -> bool:
    return isinstance(value, dict) and ("low" in value or "high" in value)


def _flatten_dotted(prefix: str, table: dict[str, Any], path: str = "") -> dict[str, Any]:
    """`{"partner": {"reps": 10}}` and `{"partner.reps": 10}` both give `{"partner.reps": 10}`.

    TOML reads an unquoted dotted key as nested tables; both spellings are accepted. A table
    with `low`/`high` is a bounds value, not a nesting level.
    """
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{path}.{key}" if path else key
        if isinstance(value, dict) and not _is_bounds(value):
            if not value:
                raise value_error(f"{prefix}.{dotted}", value, "a value, not an empty table")
            nested = _flatten_dotted(prefix, value, dotted).items()
        else:
            nested = [(dotted, value)]
        for name, inner in nested:  # `"a.b" = 1` and `a = { b = 2 }` are the same key
            if name in flat:
                raise value_error(f"{prefix}.{name}", inner, "each parameter once")
            flat[name] = inner
    return flat


@functools.cache
def parameter_names() -> tuple[str, ...]:
    """Every parameter's dotted name (the same in every market and preset)."""
    return tuple(parameters.flatten(parameters.Parameters(market=parameters.Market())))


def closest_names(key: str, n: int = 3) -> list[str]:
    """The parameter names most like `key`, whole (`policy.urgncy`) or by their last part
    (`patience_months`, `colour`), best first."""
    names = parameter_names()
    tails: dict[str, list[str]] = {}
    for name in names:
        tails.setdefault(name.rsplit(".", 1)[-1], []).append(name)
    found = difflib.get_close_matches(key, names, n=n, cutoff=0.6)
    for tail in difflib.get_close_matches(key.rsplit(".", 1)[-1], list(tails), n=n, cutoff=0.4):
        found += tails[tail]
    return list(dict.fromkeys(found))[:n]


def _check_parameter_name(where: str, key: str, value: Any, named: tuple[str, ...] = ()) -> None:
    """ConfigError unless `key` is a parameter's dotted name (or one of `named`), naming the
    closest names: a key put in the wrong table is told apart from a value of the wrong form."""
    if key in named or key in parameter_names():
        return
    close = closest_names(key)
    hint = f"closest: {', '.join(close)}; " if close else ""
    extra = f" or {' / '.join(named)}" if named else ""
    raise value_error(
        where,
        value,
        f"a parameter's dotted name{extra}: {key!r} is not a parameter "
        f"({hint}`partnersim presets` lists them all)",
    )


def _sweep_from_dict(sweep: dict[str, Any]) -> Sweep:
    design = sweep.get("design", "grid")
    if design not in DESIGNS:
        raise value_error("sweep.design", design, "one of " + ", ".join(DESIGNS))
    given = [t for t in SWEEP_TABLES if t in sweep]
    if "parameters" in given and len(given) > 1:  # which keys are levers would be unclear
        raise value_error(
            f"sweep.{given[1]}",
            sweep[given[1]],
            "no [sweep.parameters] beside it (name the parameters, or the levers and "
            "uncertainties, not both)",
        )
    swept = []
    for table in given:
        swept += _swept_from_table(table, _table(sweep, table, f"sweep.{table}"))
    return Sweep(
        design=design,
        samples=sweep.get("samples"),
        levels=sweep.get("levels"),
        second_order=sweep.get("second_order"),
        parameters=tuple(swept),
    )


def _swept_from_table(table: str, raw: dict[str, Any]) -> list[SweptParameter]:
    """The keys of `[sweep.<table>]`, each a list of values or bounds, with the table's role."""
    role = SWEEP_TABLES[table]
    swept = []
    for key, value in _flatten_dotted(f"sweep.{table}", raw).items():
        where = f"sweep.{table}.{key}"
        _check_parameter_name(where, key, value, NAMED_SWEEPS)  # before the value's form
        if isinstance(value, list):
            swept.append(SweptParameter(key=key, values=tuple(value), role=role))
        elif isinstance(value, dict):
            extra = sorted(set(value) - {"low", "high"})
            if extra:
                raise value_error(f"{where}.{extra[0]}", value[extra[0]], "only low and high")
            for end in ("low", "high"):
                if end not in value:
                    raise value_error(f"{where}.{end}", MISSING, f"a number ({end} bound)")
                if not is_real(value[end]):
                    raise value_error(f"{where}.{end}", value[end], "a number")
            swept.append(SweptParameter(key=key, bounds=Bounds(**value), role=role))
        else:
            raise value_error(
                where, value, "a list of values [a, b, ...] or bounds { low = ..., high = ... }"
            )
    return swept


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
    _validate_sweep_options(config.sweep)
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
        _check_parameter_name(p.where, p.key, p.values or p.bounds, NAMED_SWEEPS)
    for key, value in overrides.items():
        if key not in NAMED_SWEEPS:  # those have their own message below
            _check_parameter_name(f"base.set.{key}", key, value)
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


def design_point_count(sweep: Sweep) -> int:
    """Design points of a validated sweep, counted without making them."""
    points = math.prod(len(p.values) for p in sweep.listed)
    if sweep.design == "grid":
        return points
    bounded = len(sweep.sampled)
    per_sample = {
        "lhs": 1,
        "sobol": 2 * bounded + 2 if sweep.second_order else bounded + 2,
        "morris": bounded + 1,
    }[sweep.design]
    return points * sweep.samples * per_sample


def _check_name(key: str, value: Any, names: list[str]) -> None:
    if value not in names:
        raise value_error(key, value, "one of " + ", ".join(names))


def _validate_sweep_options(sweep: Sweep) -> None:
    kind = sweep.design
    if kind not in DESIGNS:
        raise value_error("sweep.design", kind, "one of " + ", ".join(DESIGNS))
    if kind == "grid":
        if sweep.samples is not None:
            raise value_error(
                "sweep.samples", sweep.samples, "no samples for a grid (values listed)"
            )
    else:
        integer_in("sweep.samples", sweep.samples, 1, 10_000_000)
        if kind == "sobol" and sweep.samples & (sweep.samples - 1):
            raise value_error(
                "sweep.samples", sweep.samples, "a power of 2 for sobol (e.g. 64, 128)"
            )
    if sweep.levels is not None:
        if kind != "morris":
            raise value_error("sweep.levels", sweep.levels, "levels only with design = 'morris'")
        integer_in("sweep.levels", sweep.levels, 2, 1000)
        if sweep.levels % 2:  # Morris trajectories are balanced only on an even grid
            raise value_error("sweep.levels", sweep.levels, "an even number of levels (e.g. 4)")
    if sweep.second_order is not None:
        if kind != "sobol":
            raise value_error(
                "sweep.second_order", sweep.second_order, "second_order only with design = 'sobol'"
            )
        if not isinstance(sweep.second_order, bool):
            raise value_error("sweep.second_order", sweep.second_order, "true or false")
    _validate_roles(sweep)
    columns: dict[str, str] = {}  # runs-table column -> the key that sets it
    for p in sweep.parameters:
        other = columns.get(p.column)
        if other == p.where:
            raise value_error(p.where, p.key, "each parameter once")
        if other is not None:  # `policy` and `policy.name` both fill column policy.name
            raise value_error(
                p.where,
                list(p.values) if p.values is not None else dataclasses.asdict(p.bounds),
                f"one key per column ({other} also sets {p.column})",
            )
        columns[p.column] = p.where
    if kind == "grid":
        for p in sweep.sampled:
            raise value_error(
                p.where,
                {"low": p.bounds.low, "high": p.bounds.high},
                "a list of values for design = 'grid' (bounds need lhs, sobol or morris)",
            )
    elif not sweep.sampled:
        table = "uncertainties" if sweep.levers or sweep.uncertainties else "parameters"
        raise value_error(
            f"sweep.{table}",
            {p.key: p.values for p in sweep.parameters},
            f"at least one parameter with bounds {{ low = ..., high = ... }} for design = '{kind}'",
        )


def is_vendor_choice(key: str) -> bool:
    """A lever: the policy preset (`policy`) or one of its levers (`policy.urgency`)."""
    return key == "policy" or (
        key.startswith("policy.") and key.removeprefix("policy.") in policy_file.levers()
    )


def _validate_roles(sweep: Sweep) -> None:
    """Levers are vendor choices given as lists; uncertainties are anything no one chooses."""
    roles = {p.role is None for p in sweep.parameters}
    if len(roles) > 1:
        raise value_error(
            "sweep.parameters",
            [p.key for p in sweep.parameters if p.role is None],
            "no [sweep.parameters] beside [sweep.levers] or [sweep.uncertainties]",
        )
    for p in sweep.parameters:
        value = list(p.values) if p.values is not None else dataclasses.asdict(p.bounds)
        if p.key == "market" and p.role is not None:
            raise value_error(
                p.where, value, "no market profile here (set base.market: one market per file)"
            )
        if p.role == "lever" and not is_vendor_choice(p.key):
            raise value_error(
                p.where,
                value,
                f"a vendor choice (policy presets or a policy.* lever); {p.key} is not chosen "
                "by the vendor: put it in [sweep.uncertainties]",
            )
        if p.role == "lever" and p.bounds is not None:
            raise value_error(
                p.where,
                value,
                "a list of values or preset names (levers are crossed with the uncertainties' "
                "sample; bounds belong to [sweep.uncertainties])",
            )
        if p.role == "uncertainty" and (p.key == "policy" or p.key.startswith("policy.")):
            raise value_error(
                p.where,
                value,
                f"a rate no one chooses (market.*, trust.*, partner.*, ...); {p.key} is a "
                "vendor choice: put it in [sweep.levers]",
            )


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
