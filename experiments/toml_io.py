"""TOML in and out for the project's files (experiments, calibrations, optimizations): reading
with one-line errors that name the file, the key given twice or the parse error; the checks
of the values they hold, with errors that name the dotted key; dotted parameter keys, nested
or quoted, checked against the model's parameter names (with the closest names when not);
and one writer whose output `tomllib` reads back exactly.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from agents import parameters
from agents.parameters import MISSING, ConfigError, is_integer, is_real


class ConfigFileError(ConfigError):
    """The config file itself is unusable (missing, unreadable, not TOML)."""

    def __init__(self, path: str, problem: str) -> None:
        self.key, self.value, self.expected = path, None, problem
        ValueError.__init__(self, f"{path}: {problem}")


# --- values in files -----------------------------------------------------------------------


def brief(value: Any) -> str:
    """A value shown in an error message: its repr on one line, at most 60 characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


class _Brief:
    """A value whose repr is `brief` (ConfigError shows values with !r)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return brief(self.value)


def value_error(key: str, value: Any, expected: str) -> ConfigError:
    """The one-line error for a bad value in a file, the value shown briefly."""
    return ConfigError(key, value if value is MISSING else _Brief(value), expected)


def known_keys(table: dict[str, Any], keys: tuple[str, ...], prefix: str = "") -> None:
    """ConfigError for the first key of `table` that is not one of `keys`."""
    for key, value in table.items():
        if key not in keys:
            raise value_error(f"{prefix}{key}", value, "one of these keys: " + ", ".join(keys))


def integer_in(key: str, value: Any, low: int, high: int) -> int:
    """`value` as a plain int; ConfigError unless it is an integer in [low, high]."""
    if not is_integer(value) or not low <= value <= high:
        raise value_error(key, value, f"an integer in [{low}, {high}]")
    return int(value)


def finite_number(key: str, value: Any) -> float:
    """`value` as given; ConfigError unless it is a finite real number."""
    if not is_real(value) or not math.isfinite(value):
        raise value_error(key, value, "a finite number")
    return value


# --- dotted parameter keys ------------------------------------------------------------------


def table(data: dict[str, Any], key: str, dotted: str | None = None) -> dict[str, Any]:
    """`data[key]` (an empty table when absent); ConfigError naming it unless a table."""
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise value_error(dotted or key, value, "a table")
    return value


def _is_bounds(value: Any) -> bool:
    return isinstance(value, dict) and ("low" in value or "high" in value)


def flatten_dotted(prefix: str, table: dict[str, Any], path: str = "") -> dict[str, Any]:
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
            nested = flatten_dotted(prefix, value, dotted).items()
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


def check_parameter_name(where: str, key: str, value: Any, named: tuple[str, ...] = ()) -> None:
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


# --- reading and writing -------------------------------------------------------------------


def read_text(path: str | Path, expected: str) -> str:
    """A file's text; a missing, unreadable or misplaced file is a ConfigFileError naming it."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(str(path), f"no such file, expected {expected}") from None
    except IsADirectoryError:
        raise ConfigFileError(str(path), "is a directory, expected a TOML file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigFileError(str(path), f"cannot be read ({err})") from None


def parse(text: str, source: str) -> dict[str, Any]:
    """TOML text as a document; a key given twice, or any other parse error, is one line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = " ".join(str(err).split())
        twice = _given_twice(text, message)
        if twice is not None:
            key, line = twice
            raise ConfigFileError(
                source, f"{key}: given twice (again on line {line}), expected each key once"
            ) from None
        raise ConfigFileError(source, f"invalid TOML ({message})") from None


# tomllib's words for a key or a table given twice, and where
_TWICE = re.compile(
    r"(Cannot overwrite a value|Cannot mutate immutable namespace|Cannot declare \((.*)\) twice)"
    r".*\((?:at line (\d+), column \d+|at end of document)\)"
)


def _given_twice(text: str, message: str) -> tuple[str, int] | None:
    """(dotted key, line) of the key or table that tomllib found given twice, if it was that."""
    match = _TWICE.search(message)
    if match is None:
        return None
    lines = text.splitlines()
    ends = [i + 1 for i, line in enumerate(lines) if line.strip()] or [0]
    number = int(match.group(3)) if match.group(3) else ends[-1]
    if match.group(2) is not None:  # a [table] declared twice: its path, as a tuple's repr
        path = re.findall(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", match.group(2))
        return ".".join(a or b for a, b in path), number
    if not 0 < number <= len(lines):
        return None
    key = _key_path(lines[number - 1])
    if key is None:
        return None
    table: list[str] = []
    for above in reversed(lines[: number - 1]):  # the [table] the line is in
        header = re.fullmatch(r"\s*\[([^\[\]].*)\]\s*(#.*)?", above)
        if header is not None:
            table = _key_path(f"{header.group(1)} = 0") or []
            break
    return ".".join([*table, *key]), number


def _key_path(line: str) -> list[str] | None:
    """The key path of a `key = value` line (quoted and dotted keys as TOML reads them)."""
    key = line.split("=", 1)[0] if "=" in line else ""
    try:
        table = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        return None
    path = []
    while isinstance(table, dict) and len(table) == 1:
        name, table = next(iter(table.items()))
        path.append(name)
    return path or None


def toml_text(document: Mapping[str, Any], *, quoted: Collection[str] = ()) -> str:
    """TOML text of a document of tables, lists and scalars; `tomllib.loads` reads it back.

    Each table's scalars and lists come first, then one `[section]` per nested table down to
    two levels (`[sweep.parameters]`); tables nested deeper are written inline
    (`{ low = 0.0, high = 1.0 }`). Keys are bare words where TOML allows, quoted otherwise,
    and always quoted in the tables whose dotted paths are listed in `quoted`.

    Args:
        document: the top-level table; keys are strings.
        quoted: dotted paths of tables whose keys are all written quoted.
    """
    lines: list[str] = []
    _write_table(document, (), lines, frozenset(quoted))
    return "\n".join(lines).lstrip("\n") + "\n"


def _write_table(
    table: Mapping[str, Any], path: tuple[str, ...], lines: list[str], quoted: frozenset[str]
) -> None:
    if path:
        lines += ["", "[" + ".".join(map(_key, path)) + "]"]
    always = ".".join(path) in quoted
    sections = []
    for key, value in table.items():
        if isinstance(value, Mapping) and len(path) < 2:
            sections.append((key, value))
        else:
            lines.append(f"{_literal(key) if always else _key(key)} = {_literal(value)}")
    for key, value in sections:
        _write_table(value, (*path, key), lines, quoted)


def _key(key: str) -> str:
    """A bare key where TOML allows one (ASCII letters, digits, _ and -), else a quoted one."""
    bare = key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key)
    return key if bare else _literal(key)


def _literal(value: Any) -> str:
    """A TOML value: scalars, lists as arrays, mappings as inline tables.

    Strings are basic strings, UTF-8, with control characters escaped; floats keep every digit
    (`repr`), so a value reads back exactly.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_ESCAPES.get(c) or _escape(c) for c in value) + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(_literal, value)) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k)} = {_literal(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"no TOML literal for {type(value).__name__} {value!r}")


# TOML basic-string escapes; other control characters become \uXXXX.
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n"}
_ESCAPES |= {"\f": "\\f", "\r": "\\r"}


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04X}" if code < 0x20 or code == 0x7F else char
