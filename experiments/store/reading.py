"""Reading an experiment's tables back: a lazy scan of a table, one part, the stored run ids.

A part that cannot be read is reported as a StoreError naming it and how to redo its runs.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from experiments.store.layout import PART, TABLES, StoreError, one_line


def scan(root: str | Path, table: str = "runs") -> pl.LazyFrame:
    """A lazy view of one table of an experiment (runs, monthly or deals)."""
    if table not in TABLES:
        raise ValueError(f"table: got {table!r}, expected one of {', '.join(TABLES)}")
    return pl.scan_parquet(Path(root) / table / "*.parquet")


def read_part(path: Path, columns: list[str] | None = None) -> pl.DataFrame:
    """One Parquet file of DIR; StoreError naming it when it cannot be read."""
    try:
        return pl.read_parquet(path, columns=columns)
    except (pl.exceptions.PolarsError, OSError) as err:
        raise unreadable(path, err) from None


def stored_run_ids(root: Path) -> set[str]:
    """Run ids in DIR/runs/ (the runs part commits a batch, so these are complete runs)."""
    parts = sorted((root / "runs").glob("part-*.parquet"))
    if not parts:
        return set()
    try:
        frame = pl.scan_parquet(parts).select("run_id").collect()
    except (pl.exceptions.PolarsError, OSError):
        for path in parts:  # name the part that cannot be read
            read_part(path, columns=["run_id"])
        raise
    return set(frame["run_id"].to_list())


def unreadable(path: Path, err: BaseException) -> StoreError:
    """The one-line error for a Parquet file of DIR that cannot be read."""
    if PART.fullmatch(path.name):
        redo = f"delete {path.parent.parent / 'runs' / path.name} and run again to redo its runs"
    else:
        redo = "delete it and run again"
    return StoreError(
        f"{path}: unreadable ({one_line(err)}), expected a Parquet file written by "
        f"`partnersim run` ({redo})"
    )
