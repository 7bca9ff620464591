"""Calibration files: TOML -> a frozen, validated `Calibration`.

A calibration names a horizon, replications, a seed and a number of trials; a list of
targets, each a statistic of a market under a policy preset (with optional dotted overrides)
that should fall in a published range `[low, high]`; and the free parameters the search may
change, each a dotted key with bounds inside the range its declaration allows (and, for
`market.*` keys, the market file it belongs to). See docs/EXPERIMENTS.md, "Calibration".

Everything is checked when the file is loaded, before anything is written: an unknown
statistic, market, preset or parameter, an empty or inverted range, bounds outside the
declared range, a statistic that needs a column the model does not record. Each error is a
ConfigError naming the dotted key (`targets[2].range`, `free[0].high`), the value and what
was expected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any

from agents import parameters
from agents.declarations import range_text
from agents.parameters import MAX_YEARS, ConfigError, frozen, is_real
from experiments.calibration import statistics
from experiments.config import NAME_PATTERN
from experiments.toml_io import (
    finite_number,
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
    "targets",
    "free",
)
TARGET_KEYS = ("statistic", "market", "policy", "set", "range")
FREE_KEYS = ("key", "market", "low", "high", "log")
# Settings that change how long a search goes on or where it runs, not what a trial
# computes: a study resumes when only these differ.
NOT_HASHED = ("description", "trials", "workers", "finalists")
MAX_TRIALS = 100_000
MAX_WORKERS = 512
DEFAULT_FINALISTS = 3


@frozen
class Target:
    """A statistic of one market under one policy, and the range it should fall in."""

    index: int
    statistic: str
    market: str
    policy: str
    overrides: tuple[tuple[str, Any], ...]  # the target's `set`, sorted by key
    low: float
    high: float

    @property
    def setting(self) -> tuple[str, str, tuple[tuple[str, Any], ...]]:
        """What its runs depend on: targets with the same setting share their runs."""
        return (self.market, self.policy, self.overrides)

    @property
    def label(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.overrides)
        return f"{self.statistic} ({self.market}, {self.policy}{extra})"

    @property
    def width(self) -> float:
        return self.high - self.low


@frozen
class FreeParameter:
    """A parameter the search may change, between `low` and `high` (inclusive)."""

    key: str
    market: str | None  # the market file a `market.*` key belongs to; None otherwise
    low: float | int
    high: float | int
    log: bool = False

    @property
    def name(self) -> str:
        """Its name in the study and in trials.parquet: `market.alpha[japan]`."""
        return f"{self.key}[{self.market}]" if self.market else self.key

    def applies_to(self, market: str) -> bool:
        return self.market is None or self.market == market


@frozen
class Calibration:
    """A validated calibration file."""

    name: str
    description: str
    years: float
    replications: int
    seed: int
    trials: int
    workers: int | None
    finalists: int
    check_seed: int  # the seed of the finalists' fresh replications
    targets: tuple[Target, ...]
    free: tuple[FreeParameter, ...]

    @property
    def settings(self) -> tuple[tuple[str, str, tuple[tuple[str, Any], ...]], ...]:
        """The distinct (market, policy, overrides) the targets need, in file order."""
        return tuple(dict.fromkeys(t.setting for t in self.targets))

    def overrides(self, setting: tuple, values: dict[str, Any]) -> dict[str, Any]:
        """A setting's dotted overrides with the free parameters at `values` (by name)."""
        market, _, fixed = setting
        free = {p.key: values[p.name] for p in self.free if p.applies_to(market)}
        return {**dict(fixed), **free}

    def canonical(self) -> dict[str, Any]:
        """What determines the trials, as plain data (comments and layout do not count)."""
        document = dataclasses.asdict(self)
        for key in NOT_HASHED:
            document.pop(key)
        return document

    @property
    def study_hash(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- loading -------------------------------------------------------------------------------


def load(path: str | Path) -> Calibration:
    """Read and validate a calibration file; errors name the file or the dotted key."""
    return from_dict(parse(read_text(path, "a calibration TOML file"), str(path)))


def search_settings(data: dict[str, Any], tables: tuple[str, ...]) -> dict[str, Any]:
    """What a search file (calibration or optimization) says of its study: name, description,
    horizon, replications, seed, trials, workers, finalists and the finalists' fresh seed;
    the `tables` it cannot go without are required too."""
    for key in ("name", "years", "replications", "seed", "trials", *tables):
        if key not in data:
            raise value_error(key, None, "a value (required)")
    name = data["name"]
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise value_error("name", name, "a name of letters, digits, _ . - (a directory name)")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise value_error("description", description, "a string")
    years = data["years"]
    if not is_real(years) or not 0 < years <= MAX_YEARS:
        raise value_error("years", years, f"a number of years in (0, {MAX_YEARS}]")
    workers = data.get("workers")
    settings = {
        "name": name,
        "description": description,
        "years": float(years),
        "replications": integer_in("replications", data["replications"], 1, 10_000),
        "seed": integer_in("seed", data["seed"], 0, 2**63 - 1),
        "trials": integer_in("trials", data["trials"], 1, MAX_TRIALS),
        "workers": None if workers is None else integer_in("workers", workers, 1, MAX_WORKERS),
        "finalists": integer_in("finalists", data.get("finalists", DEFAULT_FINALISTS), 1, 100),
    }
    seed = settings["seed"]
    check_seed = integer_in("check_seed", data.get("check_seed", (seed + 1) % 2**63), 0, 2**63 - 1)
    if check_seed == seed:
        raise value_error("check_seed", check_seed, f"a seed other than seed ({seed}): fresh runs")
    return settings | {"check_seed": check_seed}


def from_dict(data: dict[str, Any]) -> Calibration:
    """A Calibration from a parsed TOML document."""
    known_keys(data, TOP_KEYS, "")
    settings = search_settings(data, ("targets", "free"))
    targets = _targets(data["targets"], settings["years"])
    free = _free(data["free"], targets)
    calibration = Calibration(**settings, targets=targets, free=free)
    _check_columns(calibration)
    return calibration


def _targets(raw: Any, years: float) -> tuple[Target, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        raise value_error("targets", raw, "a non-empty list of tables ([[targets]])")
    targets = []
    for i, table in enumerate(raw):
        where = f"targets[{i}]"
        known_keys(table, TARGET_KEYS, f"{where}.")
        for key in ("statistic", "market", "policy", "range"):
            if key not in table:
                raise value_error(f"{where}.{key}", None, "a value (required)")
        name = table["statistic"]
        if name not in statistics.REGISTRY:
            raise value_error(
                f"{where}.statistic", name, "one of " + ", ".join(statistics.REGISTRY)
            )
        statistic = statistics.REGISTRY[name]
        if years < statistic.min_years:
            raise value_error(
                "years", years, f">= {statistic.min_years} for {name} ({where}.statistic)"
            )
        market, policy = table["market"], table["policy"]
        if market not in parameters.market_names():
            raise value_error(
                f"{where}.market", market, "one of " + ", ".join(parameters.market_names())
            )
        if policy not in parameters.PRESETS:
            raise value_error(
                f"{where}.policy", policy, "one of " + ", ".join(parameters.PRESET_NAMES)
            )
        overrides = table.get("set", {})
        if not isinstance(overrides, dict):
            raise value_error(
                f"{where}.set", overrides, 'a table of dotted overrides ("partner.reps" = 10)'
            )
        overrides = _flat(overrides)
        try:
            built = parameters.build(market, policy, overrides)
        except ConfigError as err:
            key = f"{where}.set.{err.key}" if err.key in overrides else f"{where}.set ({err.key})"
            raise value_error(key, err.value, err.expected) from None
        flat = parameters.flatten(built)
        normalized = tuple(sorted((k, flat[k]) for k in overrides))
        bounds = table["range"]
        if (
            not isinstance(bounds, list)
            or len(bounds) != 2
            or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in bounds
            )
        ):
            raise value_error(f"{where}.range", bounds, "[low, high], two finite numbers")
        low, high = float(bounds[0]), float(bounds[1])
        if not low < high:
            raise value_error(f"{where}.range", bounds, "low < high (a range that is not empty)")
        targets.append(
            Target(
                index=i,
                statistic=name,
                market=market,
                policy=policy,
                overrides=normalized,
                low=low,
                high=high,
            )
        )
    return tuple(targets)


def _flat(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"partner": {"reps": 10}}` and `{"partner.reps": 10}` alike -> `{"partner.reps": 10}`."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def declaration(key: str) -> dataclasses.Field | None:
    """The `param(...)` field declaring a dotted key, or None if nothing declares it."""
    parts = key.split(".")
    if len(parts) < 2 or parts[0] not in parameters.GROUPS:
        return None
    groups = {f.name: f for f in dataclasses.fields(parameters.Parameters)}
    owner: Any = getattr(parameters, groups[parts[0]].type)
    for i, part in enumerate(parts[1:], start=1):
        fields = {f.name: f for f in dataclasses.fields(owner)}
        f = fields.get(part)
        if f is None:
            return None
        nested = f.default_factory if dataclasses.is_dataclass(f.default_factory) else None
        if i == len(parts) - 1:
            return None if nested else f
        if nested is None:
            return None
        owner = nested
    return None


def _free(raw: Any, targets: tuple[Target, ...]) -> tuple[FreeParameter, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        raise value_error("free", raw, "a non-empty list of tables ([[free]])")
    markets = list(dict.fromkeys(t.market for t in targets))
    free: list[FreeParameter] = []
    for i, table in enumerate(raw):
        where = f"free[{i}]"
        known_keys(table, FREE_KEYS, f"{where}.")
        for key in ("key", "low", "high"):
            if key not in table:
                raise value_error(f"{where}.{key}", None, "a value (required)")
        key = table["key"]
        f = declaration(key) if isinstance(key, str) else None
        if f is None:
            raise value_error(
                f"{where}.key", key, "a declared parameter (see `partnersim presets`)"
            )
        kind = type(f.default)
        if kind not in (int, float):
            raise value_error(
                f"{where}.key", key, "a number parameter (booleans and text are not searched)"
            )
        market = table.get("market")
        if key.startswith("market."):
            if market not in markets:
                raise value_error(
                    f"{where}.market",
                    market,
                    f"the market a target runs whose file {key} belongs to "
                    f"(one of {', '.join(markets)})",
                )
        elif market is not None:
            raise value_error(
                f"{where}.market", market, f"no market for {key} (only market.* keys)"
            )
        low = finite_number(f"{where}.low", table["low"])
        high = finite_number(f"{where}.high", table["high"])
        if kind is int:
            for bound, value in (("low", low), ("high", high)):
                if not isinstance(value, int):
                    raise value_error(
                        f"{where}.{bound}", value, f"an integer ({key} is an integer)"
                    )
        if not low < high:
            raise value_error(f"{where}", {"low": low, "high": high}, "low < high")
        declared_low, declared_high = f.metadata.get("low"), f.metadata.get("high")
        declared = range_text(declared_low, declared_high)
        if declared_low is not None and low < declared_low:
            raise value_error(f"{where}.low", low, f"{declared} ({key}'s declared range)")
        if declared_high is not None and high > declared_high:
            raise value_error(f"{where}.high", high, f"{declared} ({key}'s declared range)")
        log = table.get("log", False)
        if not isinstance(log, bool):
            raise value_error(f"{where}.log", log, "true or false")
        if log and low <= 0:
            raise value_error(f"{where}.low", low, "> 0 with log = true")
        parameter = FreeParameter(key=key, market=market, low=kind(low), high=kind(high), log=log)
        if any(p.name == parameter.name for p in free):
            raise value_error(
                f"{where}.key", key, f"each parameter once ({parameter.name} is repeated)"
            )
        for target in targets:
            if parameter.applies_to(target.market) and key in dict(target.overrides):
                raise value_error(
                    f"targets[{target.index}].set.{key}",
                    dict(target.overrides)[key],
                    f"a parameter that is not free ({where} searches {parameter.name})",
                )
        for bound in ("low", "high"):
            _check_builds(parameter, getattr(parameter, bound), targets, f"{where}.{bound}")
        free.append(parameter)
    return tuple(free)


def _check_builds(
    parameter: FreeParameter, value: Any, targets: tuple[Target, ...], where: str
) -> None:
    """Each bound must give valid parameters with every target it applies to."""
    for target in targets:
        if not parameter.applies_to(target.market):
            continue
        overrides = {**dict(target.overrides), parameter.key: value}
        try:
            parameters.build(target.market, target.policy, overrides)
        except ConfigError as err:
            expected = (
                err.expected
                if err.key == parameter.key
                else f"a value that keeps {err.key} {err.expected}"
            )
            raise value_error(where, value, f"{expected} (with targets[{target.index}])") from None


def _check_columns(calibration: Calibration) -> None:
    """Refuse a statistic whose columns the model does not record (yet), before any run."""
    missing = statistics.missing_columns(
        {t.statistic for t in calibration.targets}, statistics.model_columns()
    )
    for target in calibration.targets:
        if target.statistic in missing:
            raise value_error(
                f"targets[{target.index}].statistic",
                target.statistic,
                f"a statistic the model can give ({missing[target.statistic]} is not in the "
                "model's tables yet)",
            )
