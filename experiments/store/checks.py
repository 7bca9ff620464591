"""Checks of an output directory, before anything is written to it or read from it.

`partnersim run` writes only to a new or empty directory or to one it made, and resumes
only this config's results from this model code; a report reads only a directory
partnersim made. Each refusal is one line naming the path, what was found and the way out.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import polars as pl

from experiments.config import ExperimentConfig, to_toml
from experiments.design import Plan
from experiments.store.atomic import TEMP_MARK
from experiments.store.layout import (
    FAILURES,
    LOCK,
    MANAGED,
    MANAGED_FOLDERS,
    MANIFEST,
    TABLES,
    StoreError,
)
from experiments.store.manifest import RESUMED, model_hash, read_manifest
from experiments.store.reading import read_part, stored_run_ids, unreadable


def check_out_path(root: Path) -> None:
    """Refuse an --out that is a file or lies under one (it could never be a directory)."""
    if root.exists() and not root.is_dir():
        raise StoreError(f"--out: {str(root)!r} exists and is not a directory")
    for parent in root.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise StoreError(
                    f"--out: got {str(root)!r}, expected a directory path "
                    f"({str(parent)!r} is a file)"
                )
            return


def check_managed_kinds(root: Path) -> None:
    """StoreError naming a path partnersim manages in DIR that is of the wrong kind."""
    for name in MANAGED:
        path = root / name
        folder = name in MANAGED_FOLDERS
        if path.exists() and path.is_dir() != folder:
            raise StoreError(
                f"{path}: a {'file' if folder else 'directory'}, expected a "
                f"{'directory' if folder else 'file'} (partnersim writes it; move it away)"
            )


def check_parts(root: Path) -> None:
    """StoreError naming the first committed part whose Parquet footer cannot be read.

    Parts without their `runs` part are not checked: opening the store removes them.
    """
    committed = {p.name for p in (root / "runs").glob("part-*.parquet")}
    for table in TABLES:
        for path in sorted((root / table).glob("part-*.parquet")):
            if path.name in committed:
                try:
                    pl.read_parquet_schema(path)
                except (pl.exceptions.PolarsError, OSError) as err:
                    raise unreadable(path, err) from None


def check_destination(root: Path, plan: Plan, *, fresh: bool) -> None:
    """Refuse, before writing anything, a DIR partnersim cannot safely write to.

    DIR may be new, empty, or an experiment directory (one with a manifest partnersim
    wrote); any other directory holds files partnersim did not write, so it is refused even
    with `fresh`, which only ever removes what `MANAGED` lists. Without `fresh`, DIR must
    hold this config's results from this model code, in readable parts.
    """
    check_out_path(root)
    if not root.is_dir():
        return
    if not (root / MANIFEST).exists():
        foreign = sorted(p.name for p in root.iterdir() if not _is_leftover(p.name))
        if foreign:
            found = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise StoreError(
                f"--out: {str(root)!r} holds {found} but no {MANIFEST}, "
                "expected a new or empty directory or one made by `partnersim run`"
            )
        return
    manifest = read_manifest(root, strict=not fresh, required=RESUMED)
    if fresh:
        return
    check_managed_kinds(root)
    theirs = manifest["config_hash"]
    if theirs != plan.config.config_hash:
        raise StoreError(
            f"{root} holds results of a different config "
            f"({manifest.get('name')!r}, hash {theirs} != {plan.config.config_hash}"
            f"{_config_difference(manifest['config_canonical'], plan.config)}); "
            "use --fresh to replace them or --out for another directory"
        )
    ours = model_hash()
    if manifest["model_hash"] != ours:
        raise StoreError(
            f"{root} holds results of other model code (model hash "
            f"{manifest['model_hash']} != {ours}, first run at commit "
            f"{manifest.get('git_commit')}); resuming would mix model versions: "
            "use --fresh to start over or --out for another directory"
        )
    stray = stored_run_ids(root) - {spec.run_id for spec in plan.specs}
    if stray:
        raise StoreError(
            f"{root} holds {len(stray)} runs that are not in this experiment's plan "
            "(the model's parameters or presets changed?); "
            "use --fresh to start over or --out for another directory"
        )
    check_parts(root)
    if (root / FAILURES).exists():
        read_part(root / FAILURES)


def _config_difference(stored_toml: str, config: ExperimentConfig) -> str:
    """'; KEY: got OURS, DIR has THEIRS' for the first setting that differs, if readable."""
    try:
        stored = _dotted(tomllib.loads(stored_toml))
    except tomllib.TOMLDecodeError:
        return ""
    ours = _dotted(tomllib.loads(to_toml(config)))

    def shown(value: Any) -> str:
        return "nothing" if value is None else repr(value)  # TOML has no null

    for key in [*ours, *stored]:
        if ours.get(key) != stored.get(key):
            return f"; {key}: got {shown(ours.get(key))}, DIR has {shown(stored.get(key))}"
    return "; the same settings in another order"  # sweep order numbers the design points


def _dotted(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict) and not {"low", "high"} >= value.keys():
            flat.update(_dotted(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _is_leftover(name: str) -> bool:
    """What `ResultStore.open` leaves in DIR if it stops before the manifest is written."""
    return name == LOCK or name.startswith(f".{MANIFEST}{TEMP_MARK}")
