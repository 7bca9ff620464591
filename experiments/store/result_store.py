"""`ResultStore`: an output directory being filled with finished runs, one part at a time.

Finished runs are buffered and written as one part per batch (`batch_runs` runs or
`batch_seconds` seconds, whichever comes first), so the driver's memory stays flat and a
large sweep makes few files. Within a part, `runs` is written last, so a run counts as
stored exactly when its `runs` row exists. On opening, `monthly`/`deals` parts without their
`runs` part (a kill between renames) and temporary files are removed, and the stored run ids
are read: a resume runs only the rest. A write that fails (a full disk) removes its part's
files and raises WriteError: the sweep stops, keeping the parts before it.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import polars as pl

from experiments.design import Plan
from experiments.store import lock
from experiments.store.atomic import (
    TEMP_MARK,
    uninterrupted,
    write_bytes_atomically,
    write_parquet_atomically,
)
from experiments.store.checks import check_destination
from experiments.store.layout import (
    DESIGN,
    FAILURES,
    MANAGED,
    MANIFEST,
    PART,
    TABLES,
    WRITE_ORDER,
    StoreError,
    WriteError,
    one_line,
)
from experiments.store.manifest import (
    RESUMED,
    build_manifest,
    git_commit,
    now,
    read_manifest,
    versions,
)
from experiments.store.reading import read_part, stored_run_ids, unreadable
from sim.run import RunResult, RunSpec

# A run's frames cost about 120 KB of buffers beyond their data (the runs table has a
# column per parameter), so every COMPACT_RUNS buffered runs are concatenated into one
# frame: a part of 100 small runs then holds 10 frames per table, not 100 (12 MB).
COMPACT_RUNS = 10
FLOAT_SUFFIXES = ("_usd", "_day", "_days")
FAILURE_SCHEMA = {
    "run_id": pl.String,
    "design_point": pl.Int64,
    "replication": pl.Int64,
    "seed": pl.String,
    "parameters": pl.String,
    "error": pl.String,
    "traceback": pl.String,
}


class ResultStore:
    """An output directory being filled by one driver (a lock keeps out a second one)."""

    def __init__(
        self,
        root: Path,
        manifest: dict[str, Any],
        *,
        batch_runs: int = 100,
        batch_seconds: float = 10.0,
    ) -> None:
        self.root = root
        self.manifest = manifest
        self.batch_runs = batch_runs
        self.batch_seconds = batch_seconds
        self._buffer: dict[str, list[pl.DataFrame]] = {t: [] for t in TABLES}
        self._buffered_runs = 0
        self._buffer_started = 0.0
        self._lock_fd: int | None = None
        self._closed = False
        self._failures: dict[str, dict[str, Any]] = {}
        self._failures_dirty = False
        self._next_part = 0
        self._schemas: dict[str, pl.Schema] = {}  # per table, from the first part
        self.stored: set[str] = set()
        self._buffered_ids: list[str] = []
        self.parts_written = 0
        self.write_error: WriteError | None = None

    # opening

    @classmethod
    def open(
        cls,
        root: str | Path,
        plan: Plan,
        *,
        config_text: str | None = None,
        fresh: bool = False,
        batch_runs: int | None = None,
        batch_seconds: float = 10.0,
    ) -> ResultStore:
        """Open DIR for a plan: create it, resume it, or (with `fresh`) start it over.

        `batch_runs` defaults to about 5% of the plan's runs (10 to 200 per part): a sweep
        makes a few dozen parts, and an interruption loses little. Raises StoreError,
        before writing anything, when DIR holds another experiment.
        """
        root = Path(root)
        check_destination(root, plan, fresh=fresh)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"--out: cannot create {str(root)!r} ({one_line(err)})") from None
        if batch_runs is None:
            batch_runs = min(max(plan.runs // 20, 10), 200)
        store = cls(root, {}, batch_runs=batch_runs, batch_seconds=batch_seconds)
        store._lock()
        try:
            store._prepare(plan, config_text, fresh=fresh)
        except BaseException:
            store._closed = True  # nothing to flush: release the directory
            lock.release(root, store._lock_fd)
            store._lock_fd = None
            raise
        return store

    def _prepare(self, plan: Plan, config_text: str | None, *, fresh: bool) -> None:
        """With the lock held: start over, resume or create; clean; read what is stored."""
        root = self.root
        if fresh:
            self._remove_managed()
        if (root / MANIFEST).exists():
            self.manifest = read_manifest(root, required=RESUMED)
            self._take_over()
        else:
            self.manifest = build_manifest(plan, config_text)
            self._write_manifest()
        self._clean()
        try:
            write_parquet_atomically(plan.table(), root / DESIGN)
        except (OSError, pl.exceptions.PolarsError) as err:
            raise WriteError(root / DESIGN, err) from None
        self.stored = self._read_stored()
        self._failures = self._read_failures()

    def _lock(self) -> None:
        self._lock_fd = lock.acquire(self.root)

    def _take_over(self) -> None:
        """Sessions left "running" by a driver that is gone become "abandoned".

        We hold the lock, so no driver writes here now; a recorded driver that still runs
        (a lock that did not hold, e.g. on a network file system) is refused.
        """
        changed = False
        for session in self.manifest["sessions"]:
            if session.get("status") != "running":
                continue
            driver = session.get("driver")
            if isinstance(driver, dict) and lock.alive(driver):
                raise StoreError(f"{self.root}: {lock.describe(driver)} is writing to it")
            session.update(status="abandoned", finished=None, note="its driver was gone")
            changed = True
        if changed:
            self._write_manifest()

    def _remove_managed(self) -> None:
        # The manifest goes last: until then DIR is still recognisably an experiment's.
        for name in sorted(MANAGED, key=lambda name: name == MANIFEST):
            path = self.root / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    def _clean(self) -> None:
        """Remove temporary files and parts whose `runs` part never landed."""
        for folder in (self.root, *(self.root / t for t in TABLES)):
            folder.mkdir(exist_ok=True)
            for path in folder.iterdir():
                if TEMP_MARK in path.name:
                    path.unlink()
        committed = {p.name for p in (self.root / "runs").iterdir() if PART.fullmatch(p.name)}
        numbers = [0]
        for table in TABLES:
            for path in (self.root / table).iterdir():
                match = PART.fullmatch(path.name)
                if match is None:
                    continue
                numbers.append(int(match.group(1)))
                if path.name not in committed:
                    path.unlink()
        self._next_part = max(numbers) + 1
        for table in TABLES:
            first = min((self.root / table).glob("part-*.parquet"), default=None)
            if first is not None:
                try:
                    self._schemas[table] = pl.read_parquet_schema(first)
                except (pl.exceptions.PolarsError, OSError) as err:
                    raise unreadable(first, err) from None

    def _read_stored(self) -> set[str]:
        return stored_run_ids(self.root)

    def _read_failures(self) -> dict[str, dict[str, Any]]:
        path = self.root / FAILURES
        if not path.exists():
            return {}
        rows = read_part(path).to_dicts()
        return {row["run_id"]: row for row in rows if row["run_id"] not in self.stored}

    # writing

    @uninterrupted
    def add(self, result: RunResult) -> None:
        """Buffer one finished run; write a part when the batch is full or old enough."""
        run_id = result.runs["run_id"][0]
        if run_id in self.stored:
            return
        if not self._buffered_runs:
            self._buffer_started = time.monotonic()
        self._buffered_runs += 1
        self._buffered_ids.append(run_id)
        compact = self._buffered_runs % COMPACT_RUNS == 0
        for table in TABLES:
            frames = self._buffer[table]
            frames.append(getattr(result, table))
            if compact:  # the last COMPACT_RUNS runs become one frame
                recent = frames[-COMPACT_RUNS:]
                frames[-COMPACT_RUNS:] = [pl.concat(recent, how="vertical_relaxed", rechunk=True)]
        self.stored.add(run_id)
        if self._failures.pop(run_id, None) is not None:
            self._failures_dirty = True
        if self._buffered_runs >= self.batch_runs:
            self.flush()

    def add_failure(self, spec: RunSpec, error: str, traceback_text: str = "") -> None:
        """Record a run that raised (written with the next part, and at close)."""
        params = {
            "market": spec.params.market.name,
            "policy": spec.params.policy.name,
            **self._point_overrides(spec),
        }
        self._failures[spec.run_id] = {
            "run_id": spec.run_id,
            "design_point": spec.design_point,
            "replication": spec.replication,
            "seed": f"{spec.seed}/{spec.replication}",
            "parameters": json.dumps(params, sort_keys=True, default=str),
            "error": error,
            "traceback": traceback_text,
        }
        self._failures_dirty = True

    def _point_overrides(self, spec: RunSpec) -> dict[str, Any]:
        """The overridden and swept parameters of a spec, from the manifest's lists."""
        from agents.parameters import flatten

        flat = flatten(spec.params)
        keys = [*self.manifest["overrides"], *self.manifest["swept"]]
        return {k: flat[k] for k in keys if k in flat}

    def maybe_flush(self) -> None:
        """Write the buffer if it has waited `batch_seconds`."""
        waited = time.monotonic() - self._buffer_started
        if self._buffered_runs and waited >= self.batch_seconds:
            self.flush()

    @uninterrupted
    def flush(self) -> None:
        """Write buffered runs as one part (deals, monthly, then runs) and the failures.

        When a file cannot be written, the part's files written so far are removed, its
        runs count as not stored, and WriteError is raised, now and at every later write.
        """
        if self.write_error is not None:
            raise self.write_error
        if self._buffered_runs:
            self._write_part()
        if self._failures_dirty:
            path = self.root / FAILURES
            try:
                if self._failures:
                    frame = pl.DataFrame(list(self._failures.values()), schema=FAILURE_SCHEMA)
                    write_parquet_atomically(frame.sort("run_id"), path)
                elif path.exists():
                    path.unlink()
            except (OSError, pl.exceptions.PolarsError) as err:
                raise self._failed(path, err, unsaved_runs=0) from None
            self._failures_dirty = False

    def _write_part(self) -> None:
        name = f"part-{self._next_part:06d}.parquet"
        frames = {t: pl.concat(self._buffer[t], how="vertical_relaxed") for t in TABLES}
        written: list[Path] = []
        for table in WRITE_ORDER:
            frame = canonical(frames[table], self._schemas.get(table))
            path = self.root / table / name
            try:
                write_parquet_atomically(frame, path)
            except (OSError, pl.exceptions.PolarsError) as err:
                for done in written:  # tables of a part with no runs table: never read
                    done.unlink(missing_ok=True)
                self.stored.difference_update(self._buffered_ids)
                raise self._failed(path, err, unsaved_runs=self._buffered_runs) from None
            written.append(path)
            self._schemas.setdefault(table, frame.schema)
        self._buffer = {t: [] for t in TABLES}
        self._buffered_ids = []
        self._next_part += 1
        self._buffered_runs = 0
        self.parts_written += 1

    def _failed(self, path: Path, err: BaseException, unsaved_runs: int) -> WriteError:
        """Record that writing failed: every later write raises the same error."""
        self.write_error = WriteError(path, err, unsaved_runs)
        return self.write_error

    @property
    def failures(self) -> int:
        """Runs currently recorded as failed."""
        return len(self._failures)

    def start_session(self, **fields: Any) -> None:
        """Append this invocation (executor, workers, start time) to the manifest."""
        session = {
            "started": now(),
            **fields,
            "status": "running",
            "driver": lock.identity(),  # a later run tells from it whether this one is gone
            "partnersim": versions().get("partnersim"),
            "git_commit": git_commit(),
        }
        self.manifest["sessions"].append(session)
        self._write_manifest()

    def end_session(self, **fields: Any) -> None:
        """Complete this invocation's manifest entry (status, counts, end time)."""
        self.manifest["sessions"][-1].update(fields, finished=now())
        self._write_manifest()

    def _write_manifest(self) -> None:
        text = json.dumps(self.manifest, indent=2, default=str) + "\n"
        try:
            write_bytes_atomically(self.root / MANIFEST, text.encode())
        except OSError as err:
            raise WriteError(self.root / MANIFEST, err) from None

    def close(self) -> None:
        """Write what is buffered (unless writing has failed) and release the directory."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.write_error is None:
                self.flush()
        finally:
            lock.release(self.root, self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def canonical(frame: pl.DataFrame, reference: pl.Schema | dict | None = None) -> pl.DataFrame:
    """Money and time columns as Float64; integers and nulls as earlier parts have them.

    A run with no revenue reports `0` (an integer) where others report floats; without
    this, parts would disagree on a column's type and could not be scanned together.
    """
    reference = reference or {}
    casts = []
    for name, dtype in frame.schema.items():
        if dtype == pl.Null and name in reference:
            casts.append(pl.col(name).cast(reference[name]))
        elif not (dtype.is_integer() or dtype == pl.Null):
            continue
        elif name.endswith(FLOAT_SUFFIXES) or (name in reference and reference[name].is_float()):
            casts.append(pl.col(name).cast(pl.Float64))
    return frame.with_columns(casts) if casts else frame
