"""The manifest: what identifies an experiment's results and how they were made.

`DIR/manifest.json` holds the config (as written and in canonical form) and its hash, the
seed, the design, the counts, the versions of partnersim and its dependencies, the git
commit, a hash of the model code, and one entry per session of `partnersim run`. A resume
compares it with the plan; the report shows it. Its `format` says how to read it: a
manifest of another format is refused in one line, and `--fresh` starts the directory over.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from experiments.config import brief, to_toml
from experiments.design import Plan
from experiments.store.layout import MANIFEST, StoreError, one_line

# The manifest's layout; a change to what a field holds or means takes the next number.
FORMAT = 1
DEPENDENCIES = (
    "partnersim",
    "mesa",
    "simpy",
    "numpy",
    "polars",
    "pyarrow",
    "scipy",
    "SALib",
    "dask",
    "distributed",
)
# What determines a run's results besides its parameters: the model's code and its market
# data. Test helpers beside it (Hypothesis strategies) do not, so editing them keeps stored
# results resumable. Paths are relative to the folder holding `agents/` and `sim/`.
MODEL_FILES = ("agents/**/*.py", "agents/markets/*.toml", "sim/*.py")
NOT_MODEL_FILES = frozenset({"sim/strategies.py"})
MANIFEST_EXPECTED = "expected the JSON manifest `partnersim run` writes"
# What each field of a manifest holds where partnersim reads it back.
MANIFEST_TYPES: dict[str, tuple[type, str]] = {
    "name": (str, "a string"),
    "config_hash": (str, "a string"),
    "config_text": (str, "a string"),
    "config_canonical": (str, "a string"),
    "model_hash": (str, "a string"),
    "seed": (int, "an integer"),
    "years": (int | float, "a number"),
    "replications": (int, "an integer"),
    "overrides": (dict, "a JSON object"),
    "design": (dict, "a JSON object"),
    "swept": (list, "a list"),
    "counts": (dict, "a JSON object"),
    "versions": (dict, "a JSON object"),
    "sessions": (list, "a list"),
}
# The fields a resume reads; a report needs none of them.
RESUMED = ("config_canonical", "model_hash", "overrides", "swept", "sessions")


def versions() -> dict[str, str | None]:
    """Python and the installed versions of partnersim and its dependencies."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in DEPENDENCIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def git_commit() -> str | None:
    """The checked-out commit of the source tree (suffixed `-dirty` with local edits)."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            # no optional locks: reading the state must not rewrite the checkout's index
            ["git", "--no-optional-locks", "-C", str(root), "status", "--porcelain", "-uno"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit or None


def model_files(root: Path | None = None) -> list[str]:
    """The files `model_hash` covers, as sorted paths relative to `root`.

    `root` is the folder holding the `agents` and `sim` packages (by default, the installed
    ones).
    """
    root = root or _packages_root()
    found = {path.relative_to(root).as_posix() for glob in MODEL_FILES for path in root.glob(glob)}
    return sorted(found - NOT_MODEL_FILES)


def model_hash(root: Path | None = None) -> str:
    """A hash of the code and data that determine results (`MODEL_FILES`).

    Results depend on the code as well as on the parameters, so a directory started with
    other model code is not resumed (run ids only cover the parameters).
    """
    root = root or _packages_root()
    digest = hashlib.sha256()
    for name in model_files(root):
        digest.update(name.encode() + b"\0")
        digest.update((root / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _packages_root() -> Path:
    import agents

    return Path(agents.__file__).resolve().parent.parent


def build_manifest(plan: Plan, config_text: str | None = None) -> dict[str, Any]:
    """What identifies an experiment and how its results were made."""
    config = plan.config
    return {
        "format": FORMAT,
        "name": config.name,
        "description": config.description,
        "config_text": config_text if config_text is not None else to_toml(config),
        "config_canonical": to_toml(config),
        "config_hash": config.config_hash,
        "seed": config.seed,
        "years": config.years,
        "replications": config.replications,
        "market": config.market,
        "policy": config.policy,
        "overrides": dict(config.overrides),
        "design": plan.describe(),
        "swept": list(config.swept),
        "counts": {
            "points": len(plan.points),
            "runs": plan.runs,
            "points_x_replications": len(plan.points) * config.replications,
        },
        "versions": versions(),
        "git_commit": git_commit(),
        "model_hash": model_hash(),
        "created": now(),
        "sessions": [],
    }


def now() -> str:
    """The current UTC time, to the second, as the manifest records it."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def read_manifest(
    root: str | Path, *, strict: bool = True, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The manifest of an output directory; StoreError if it is not one partnersim wrote.

    `strict` also checks the format and each field partnersim reads back, and that the
    `required` fields are there; `--fresh`, which only needs to know that partnersim made
    DIR, can replace a manifest of another format or with a damaged field.
    """
    path = Path(root) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError
        raise StoreError(f"{path}: unreadable ({one_line(err)}), {MANIFEST_EXPECTED}") from None
    if not isinstance(manifest, dict) or "config_hash" not in manifest:
        raise StoreError(f"{path}: no config_hash in it, {MANIFEST_EXPECTED}")
    if not strict:
        return manifest
    found = manifest.get("format")
    if found != FORMAT or isinstance(found, bool):  # True == 1
        shown = brief(found) if "format" in manifest else "none"
        raise StoreError(
            f"{path}: format {shown}, expected {FORMAT} (written by another version of "
            "partnersim); `partnersim run --fresh` starts the directory over"
        )
    damage = _missing(manifest, required) or _damage(manifest)
    if damage:
        key, value, expected = damage
        raise StoreError(f"{path}: {key}: got {value}, expected {expected} (--fresh starts over)")
    return manifest


def _missing(manifest: dict[str, Any], required: tuple[str, ...]) -> tuple[str, str, str] | None:
    for key in required:
        if key not in manifest:
            return key, "nothing", MANIFEST_TYPES[key][1]
    return None


def _damage(manifest: dict[str, Any]) -> tuple[str, str, str] | None:
    """The first field that does not hold what partnersim wrote: (key, value, expected)."""
    for key, (kind, expected) in MANIFEST_TYPES.items():
        value = manifest.get(key)
        if key in manifest and (isinstance(value, bool) or not isinstance(value, kind)):
            return key, brief(value), expected
    swept, sessions = manifest.get("swept", []), manifest.get("sessions", [])
    if not all(isinstance(column, str) for column in swept):
        return "swept", brief(swept), "a list of column names"
    if not all(isinstance(session, dict) for session in sessions):
        return "sessions", brief(sessions), "a list of JSON objects"
    design = manifest.get("design", {})
    if not isinstance(design.get("kind", ""), str):
        return "design.kind", brief(design["kind"]), "a design name"
    parameters = design.get("parameters", {})
    if not isinstance(parameters, dict) or not all(
        isinstance(v, dict) for v in parameters.values()
    ):
        return "design.parameters", brief(parameters), "a JSON object of swept parameters"
    return None
