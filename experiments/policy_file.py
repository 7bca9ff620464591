"""Policy files: a vendor policy's levers as TOML, accepted wherever a preset name is.

    # chosen by `partnersim optimize` ...
    name = "best_hybrid_japan"    # optional: the runs table's policy.name (default: the stem)
    preset = "hybrid"             # optional: levers not given keep this preset's values
    urgency = 0.71                # policy levers by name (`partnersim presets`)
    proposal_timing = "after_key_comfortable"
    patience_months = 30

A policy given by name that ends in `.toml` is a file, wherever a policy preset is asked
for: `partnersim simulate --policy FILE`, `base.policy` and a `policy` sweep in experiment
configs, `partnersim explain --from/--to`. Paths are relative to the current directory, as
`--out` is. Without `preset`, levers not given keep the policy defaults. A lever may also be
written with its group (`"policy.urgency" = 0.71`). A file that is missing, not TOML, names
an unknown lever or holds a bad value is refused in one line naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from agents import parameters
from agents.parameters import ConfigError, Policy
from experiments.toml_io import closest_names, toml_text

FILE_SUFFIX = ".toml"
KEYS = ("name", "preset")  # the keys of a policy file that are not levers


class PolicyFileError(ConfigError):
    """A policy file that cannot be used: one line naming where it was given, the file and
    the problem."""

    def __init__(self, where: str, path: str, problem: str) -> None:
        self.key, self.value, self.expected = where, path, problem
        ValueError.__init__(self, f"{where}: {path}: {problem}")


def is_file(name: Any) -> bool:
    """Whether a policy given by name is a policy file (its name ends in `.toml`)."""
    return isinstance(name, str) and name.lower().endswith(FILE_SUFFIX)


def levers() -> tuple[str, ...]:
    """The policy's levers: every declared `Policy` field but its name."""
    return tuple(f.name for f in dataclasses.fields(Policy) if f.name != "name")


def resolve(name: Any, where: str = "policy") -> Policy:
    """A preset by name, or the policy a policy file holds; ConfigError naming `where`."""
    if is_file(name):
        return load(name, where)
    if name not in parameters.PRESETS:
        raise ConfigError(where, name, expected_text())
    return parameters.PRESETS[name]


def expected_text() -> str:
    return (
        "one of " + ", ".join(parameters.PRESET_NAMES) + ", or a policy file (a path ending .toml)"
    )


def load(path: str | Path, where: str = "policy") -> Policy:
    """The policy in a policy file; PolicyFileError (one line) if it cannot be used."""
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyFileError(where, shown, "no such file, expected a policy file") from None
    except IsADirectoryError:
        raise PolicyFileError(where, shown, "is a directory, expected a policy file") from None
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise PolicyFileError(where, shown, f"cannot be read ({reason})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = " ".join(str(err).split())
        raise PolicyFileError(where, shown, f"not valid TOML ({message})") from None
    try:
        return from_dict(data, default_name=Path(path).stem)
    except ConfigError as err:
        raise PolicyFileError(where, shown, str(err)) from None


def from_dict(data: dict[str, Any], default_name: str = "custom") -> Policy:
    """A Policy from a policy file's table; ConfigError naming the key."""
    flat = _flat(data)
    name = flat.pop("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("name", name, "a policy name (text)")
    base = Policy()
    if "preset" in flat:
        preset = flat.pop("preset")
        if preset not in parameters.PRESETS:
            raise ConfigError("preset", preset, "one of " + ", ".join(parameters.PRESET_NAMES))
        base = parameters.PRESETS[preset]
    overrides = {}
    for key, value in flat.items():
        lever = key.removeprefix("policy.")
        if lever not in levers():
            close = [
                n
                for n in closest_names(f"policy.{lever}")
                if n.startswith("policy.") and n != "policy.name"
            ]
            hint = f" (closest: {', '.join(close)})" if close else ""
            raise ConfigError(key, value, f"a policy lever, name or preset{hint}")
        if isinstance(value, dict | list):
            raise ConfigError(key, value, "a single value (a number or a string)")
        overrides[f"policy.{lever}"] = value
    params = parameters.with_overrides(
        parameters.Parameters(market=parameters.Market(), policy=base), overrides
    )
    return dataclasses.replace(params.policy, name=name)


def _flat(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"policy": {"urgency": 1}}` and `{"policy.urgency": 1}` alike -> `{"policy.urgency": 1}`."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            if prefix + key in flat:
                raise ConfigError(prefix + key, value, "each key once")
            flat[prefix + key] = value
    return flat


def policy_toml(policy: Policy, *, preset: str | None = None, header: list[str] = ()) -> str:
    """A complete policy file: its name, the preset it started from, every lever."""
    document: dict[str, Any] = {"name": policy.name}
    if preset is not None:
        document["preset"] = preset
    document |= {lever: getattr(policy, lever) for lever in levers()}
    comments = "".join(f"# {line}\n" for line in header)
    return comments + toml_text(document)
