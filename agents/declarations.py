"""How a parameter is declared and checked: `param(...)`, the validation every parameter group
runs on construction (ranges, kinds, ordered pairs) and the errors that name the dotted key.

`agents/parameters.py` declares the groups with these; nothing here knows a parameter by name.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, ClassVar

# The bound of money parameters: far above any contract or budget, and low enough that every
# sum and product of them in a run stays finite.
MAX_USD = 1e12
# The longest run, in years: the model, the command line and experiment configs refuse more.
MAX_YEARS = 200


class _Missing:
    """The value of a key that is not given at all (`ConfigError` says "missing")."""

    def __repr__(self) -> str:
        return "missing"


MISSING: Any = _Missing()


class ConfigError(ValueError):
    """A parameter with a bad value: names the dotted key, the value and what was expected."""

    def __init__(self, key: str, value: Any, expected: str) -> None:
        self.key, self.value, self.expected = key, value, expected
        got = "missing" if value is MISSING else f"got {value!r}"
        super().__init__(f"{key}: {got}, expected {expected}")


def param(
    default: Any,
    unit: str = "",
    low: float | None = None,
    high: float | None = None,
    doc: str = "",
    choices: tuple[str, ...] | None = None,
    source: str = "est.",
) -> Any:
    """Declare a parameter: default, unit, inclusive bounds or choices, description, source."""
    meta = {"unit": unit, "low": low, "high": high, "doc": doc, "choices": choices}
    meta["source"] = source
    return field(default=default, metadata=meta)


def _check(obj: Any) -> None:
    """Validate every declared field of a parameter group against its declaration."""
    for f in dataclasses.fields(obj):
        key = f"{obj.PREFIX}.{f.name}"
        value = getattr(obj, f.name)
        meta = f.metadata
        kind = type(f.default)
        if kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(key, value, "true or false")
            continue
        if kind is str:
            if not isinstance(value, str):
                raise ConfigError(key, value, "a string")
            if meta.get("choices") and value not in meta["choices"]:
                raise ConfigError(key, value, "one of " + ", ".join(meta["choices"]))
            continue
        # any integer or real number of the right kind (numpy's too), stored as int or float
        if kind is int:
            if not is_integer(value):
                raise ConfigError(key, value, "an integer")
            value = int(value)
            object.__setattr__(obj, f.name, value)
        if kind is float:
            if not is_real(value):
                raise ConfigError(key, value, "a number")
            value = float(value)
            if not math.isfinite(value):
                raise ConfigError(key, value, "a finite number")
            object.__setattr__(obj, f.name, value)
        low, high = meta.get("low"), meta.get("high")
        if low is not None and value < low:
            raise ConfigError(key, value, range_text(low, high))
        if high is not None and value > high:
            raise ConfigError(key, value, range_text(low, high))


def is_integer(value: Any) -> bool:
    """An integer of any type (`int`, `numpy.int64`, ...), not a bool."""
    return isinstance(value, numbers.Integral) and not _is_bool(value)


def is_real(value: Any) -> bool:
    """A real number of any type (`float`, `numpy.float32`, an integer, ...), not a bool."""
    return isinstance(value, numbers.Real) and not _is_bool(value)


def _is_bool(value: Any) -> bool:
    # numpy.bool_ is no numbers.Integral, but say so in case a version registers it
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def _check_order(obj: Any) -> None:
    """Cross-field checks: each of the group's ORDERED (low_name, high_name) has low <= high."""
    for low, high in obj.ORDERED:
        if getattr(obj, low) > getattr(obj, high):
            raise ConfigError(
                f"{obj.PREFIX}.{low}",
                getattr(obj, low),
                f"<= {obj.PREFIX}.{high} ({getattr(obj, high)})",
            )


def range_text(low: float | None, high: float | None) -> str:
    """A declared range in words: "a value in [0, 1]", ">= 0", "<= 10" or "any value"."""
    if low is None and high is None:
        return "any value"
    if high is None:
        return f">= {low}"
    if low is None:
        return f"<= {high}"
    return f"a value in [{low}, {high}]"


class ParameterGroup:
    """Mixin: validation on construction for every parameter group."""

    __slots__ = ()
    PREFIX: ClassVar[str] = ""
    # pairs of field names whose values must be in order (low <= high)
    ORDERED: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __post_init__(self) -> None:
        _check(self)
        _check_order(self)


def ordered_pairs() -> tuple[tuple[str, str], ...]:
    """Every cross-field order rule, as dotted names: (("market.stakeholders_min", ...), ...)."""
    # a slotted dataclass is a new class: its pre-slots original is a subclass too
    groups = ParameterGroup.__subclasses__()
    pairs = ((f"{g.PREFIX}.{a}", f"{g.PREFIX}.{b}") for g in groups for a, b in g.ORDERED)
    return tuple(dict.fromkeys(pairs))


# Every configuration class of the project is declared with this: frozen, slotted, keyword-only.
frozen = dataclass(frozen=True, slots=True, kw_only=True)
