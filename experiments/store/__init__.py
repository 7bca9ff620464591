"""An experiment's results on disk: Parquet parts written atomically, a manifest, resume.

Layout of an output directory DIR:

    DIR/manifest.json       config text and hash, seed, design, counts, versions, git commit
    DIR/design.parquet      one row per (design point, replication): swept values and run_id
    DIR/runs/part-NNNNNN.parquet     one row per run (README, "Output tables")
    DIR/monthly/part-NNNNNN.parquet  one row per run and month
    DIR/deals/part-NNNNNN.parquet    one row per deal
    DIR/failures.parquet    runs that raised: run_id, parameters, error (only when any did)

Finished runs are buffered and written as one part per batch (`batch_runs` runs or
`batch_seconds` seconds, whichever comes first), so the driver's memory stays flat and a
large sweep makes few files. Each file is written under a temporary name and renamed
(`os.replace`); within a part, `runs` is renamed last, so a run counts as stored exactly
when its `runs` row exists. On opening, `monthly`/`deals` parts without their `runs` part
(a kill between renames) and temporary files are removed: nothing is duplicated, and
`pl.scan_parquet("DIR/runs/*.parquet")` reads the whole experiment. A write that fails
(a full disk) removes its part's files and raises WriteError: the sweep stops, keeping the
parts before it, and resumes from them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import time
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from experiments.config import ExperimentConfig, brief, to_toml
from experiments.design import Plan
from experiments.store.atomic import (
    TEMP_MARK,
    flush_to_disk,
    replace_all,
    sync_directory,
    temp_path,
    uninterrupted,
    write_atomically,
    write_bytes_atomically,
)
from sim.run import RunResult, RunSpec

TABLES = ("runs", "monthly", "deals")
WRITE_ORDER = ("deals", "monthly", "runs")  # runs last: its rename commits the part
MANIFEST = "manifest.json"
DESIGN = "design.parquet"
FAILURES = "failures.parquet"
LOCK = ".lock"
# Everything `partnersim run` writes; `--fresh` removes exactly these. Steps that add files
# to DIR (e.g. a report) should append their names so a fresh run removes stale copies.
MANAGED = [*TABLES, MANIFEST, DESIGN, FAILURES, "report.html", "charts"]
PART = re.compile(r"part-(\d{6,})\.parquet")
# A run's frames cost about 120 KB of buffers beyond their data (the runs table has a
# column per parameter), so every COMPACT_RUNS buffered runs are concatenated into one
# frame: a part of 100 small runs then holds 10 frames per table, not 100 (12 MB).
COMPACT_RUNS = 10
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


class StoreError(Exception):
    """A problem with the output directory, reported as one line."""


class WriteError(StoreError):
    """Results could not be written (a full disk, an I/O error); what was written is kept.

    `unsaved_runs` finished runs were in the batch that failed, and are not stored.
    """

    def __init__(self, path: Path, err: BaseException, unsaved_runs: int = 0) -> None:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else _reason(err)
        super().__init__(f"cannot write {path}: {reason}")  # "No space left on device"
        self.unsaved_runs = unsaved_runs


# --- manifest ------------------------------------------------------------------------------


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
    root = Path(__file__).resolve().parent.parent
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


def model_hash() -> str:
    """A hash of the model's code and data (every file of the `agents` and `sim` packages).

    Results depend on the code as well as on the parameters, so a directory started with
    other model code is not resumed (run ids only cover the parameters).
    """
    import agents
    import sim

    digest = hashlib.sha256()
    for package in (agents, sim):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in (".py", ".toml"):
                digest.update(str(path.relative_to(root.parent)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_manifest(plan: Plan, config_text: str | None = None) -> dict[str, Any]:
    """What identifies an experiment and how its results were made."""
    config = plan.config
    return {
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
        "created": _now(),
        "sessions": [],
    }


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


MANIFEST_EXPECTED = "expected the JSON manifest `partnersim run` writes"


def read_manifest(root: str | Path, *, strict: bool = True) -> dict[str, Any]:
    """The manifest of an output directory; StoreError if it is not one partnersim wrote.

    `strict` also checks each field partnersim reads back; `--fresh`, which only needs to
    know that partnersim made DIR, can replace a manifest with a damaged field.
    """
    path = Path(root) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError
        raise StoreError(f"{path}: unreadable ({_reason(err)}), {MANIFEST_EXPECTED}") from None
    if not isinstance(manifest, dict) or "config_hash" not in manifest:
        raise StoreError(f"{path}: no config_hash in it, {MANIFEST_EXPECTED}")
    damage = _manifest_damage(manifest) if strict else None
    if damage:
        key, value, expected = damage
        raise StoreError(
            f"{path}: {key}: got {brief(value)}, expected {expected} (--fresh starts over)"
        )
    return manifest


# What each field of a manifest holds where partnersim reads it back (a manifest written by an
# older version may lack some).
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


def _manifest_damage(manifest: dict[str, Any]) -> tuple[str, Any, str] | None:
    """The first field that does not hold what partnersim wrote: (key, value, expected)."""
    for key, (kind, expected) in MANIFEST_TYPES.items():
        value = manifest.get(key)
        if key in manifest and (isinstance(value, bool) or not isinstance(value, kind)):
            return key, value, expected
    swept, sessions = manifest.get("swept", []), manifest.get("sessions", [])
    if not all(isinstance(column, str) for column in swept):
        return "swept", swept, "a list of column names"
    if not all(isinstance(session, dict) for session in sessions):
        return "sessions", sessions, "a list of JSON objects"
    design = manifest.get("design", {})
    if not isinstance(design.get("kind", ""), str):
        return "design.kind", design["kind"], "a design name"
    parameters = design.get("parameters", {})
    if not isinstance(parameters, dict) or not all(
        isinstance(v, dict) for v in parameters.values()
    ):
        return "design.parameters", parameters, "a JSON object of swept parameters"
    return None


def _reason(err: BaseException) -> str:
    """An exception's message on one short line, for a one-line error."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _write_parquet_atomically(frame: pl.DataFrame, path: Path) -> None:
    write_atomically(path, frame.write_parquet)


def write_tables(frames: dict[str, pl.DataFrame], folder: Path) -> None:
    """Write each frame to `folder/<name>.parquet`, replacing what a former call wrote.

    Every file is written and flushed under a temporary name before any is renamed, so a
    failure (a full disk) leaves the former files as they were and no temporary file; the
    renames run with Ctrl-C held. Raises WriteError naming the file that failed.
    """
    renames: dict[Path, Path] = {}
    try:
        for name, frame in frames.items():
            path = folder / f"{name}.parquet"
            tmp = temp_path(path)
            renames[tmp] = path
            frame.write_parquet(tmp)
            flush_to_disk(tmp)
    except BaseException as err:
        for tmp in renames:
            tmp.unlink(missing_ok=True)
        if isinstance(err, OSError | pl.exceptions.PolarsError):
            raise WriteError(path, err) from None
        raise
    replace_all(renames)
    sync_directory(folder)


# --- the store -----------------------------------------------------------------------------


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
            raise StoreError(f"--out: cannot create {str(root)!r} ({_reason(err)})") from None
        if batch_runs is None:
            batch_runs = min(max(plan.runs // 20, 10), 200)
        store = cls(root, {}, batch_runs=batch_runs, batch_seconds=batch_seconds)
        store._lock()
        if fresh:
            store._remove_managed()
        manifest_path = root / MANIFEST
        if manifest_path.exists():
            store.manifest = read_manifest(root)
        else:
            store.manifest = build_manifest(plan, config_text)
            store._write_manifest()
        store._clean()
        try:
            _write_parquet_atomically(plan.table(), root / DESIGN)
        except (OSError, pl.exceptions.PolarsError) as err:
            raise WriteError(root / DESIGN, err) from None
        store.stored = store._read_stored()
        store._failures = store._read_failures()
        return store

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreError(
                f"{self.root}: another `partnersim run` is writing to this directory"
            ) from None
        self._lock_fd = fd

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
                    raise _unreadable(first, err) from None

    def _read_stored(self) -> set[str]:
        return _stored_run_ids(self.root)

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
        keys = [*self.manifest.get("overrides", {}), *self.manifest.get("swept", [])]
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
                    _write_parquet_atomically(frame.sort("run_id"), path)
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
                _write_parquet_atomically(frame, path)
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
            "started": _now(),
            **fields,
            "status": "running",
            "partnersim": versions().get("partnersim"),
            "git_commit": git_commit(),
        }
        self.manifest.setdefault("sessions", []).append(session)
        self._write_manifest()

    def end_session(self, **fields: Any) -> None:
        """Complete this invocation's manifest entry (status, counts, end time)."""
        sessions = self.manifest.setdefault("sessions", [{}])
        sessions[-1].update(fields, finished=_now())
        self._write_manifest()

    def _write_manifest(self) -> None:
        text = json.dumps(self.manifest, indent=2, default=str) + "\n"
        try:
            write_bytes_atomically(self.root / MANIFEST, text.encode())
        except OSError as err:
            raise WriteError(self.root / MANIFEST, err) from None

    def close(self) -> None:
        """Write what is buffered (unless writing has failed) and release the directory."""
        if self.write_error is None:
            self.flush()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
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


def _config_difference(stored_toml: Any, config: ExperimentConfig) -> str:
    """'; KEY: got OURS, DIR has THEIRS' for the first setting that differs, if readable."""
    if not isinstance(stored_toml, str):  # a manifest from before config_canonical
        return ""
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


MANAGED_FOLDERS = {*TABLES, "charts"}


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
    manifest_path = root / MANIFEST
    if not manifest_path.exists():
        foreign = sorted(p.name for p in root.iterdir() if not _is_leftover(p.name))
        if foreign:
            found = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise StoreError(
                f"--out: {str(root)!r} holds {found} but no {MANIFEST}, "
                "expected a new or empty directory or one made by `partnersim run`"
            )
        return
    manifest = read_manifest(root, strict=not fresh)
    if fresh:
        return
    check_managed_kinds(root)
    theirs = manifest.get("config_hash")
    if theirs != plan.config.config_hash:
        raise StoreError(
            f"{root} holds results of a different config "
            f"({manifest.get('name')!r}, hash {theirs} != {plan.config.config_hash}"
            f"{_config_difference(manifest.get('config_canonical'), plan.config)}); "
            "use --fresh to replace them or --out for another directory"
        )
    ours = model_hash()
    if manifest.get("model_hash", ours) != ours:
        raise StoreError(
            f"{root} holds results of other model code (agents/ and sim/ hash "
            f"{manifest['model_hash']} != {ours}, first run at commit "
            f"{manifest.get('git_commit')}); resuming would mix model versions: "
            "use --fresh to start over or --out for another directory"
        )
    stray = _stored_run_ids(root) - {spec.run_id for spec in plan.specs}
    if stray:
        raise StoreError(
            f"{root} holds {len(stray)} runs that are not in this experiment's plan "
            "(the model's parameters or presets changed?); "
            "use --fresh to start over or --out for another directory"
        )
    check_parts(root)
    if (root / FAILURES).exists():
        read_part(root / FAILURES)


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


def _is_leftover(name: str) -> bool:
    """What `ResultStore.open` leaves in DIR if it stops before the manifest is written."""
    return name == LOCK or name.startswith(f".{MANIFEST}{TEMP_MARK}")


def _stored_run_ids(root: Path) -> set[str]:
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
                    raise _unreadable(path, err) from None


def read_part(path: Path, columns: list[str] | None = None) -> pl.DataFrame:
    """One Parquet file of DIR; StoreError naming it when it cannot be read."""
    try:
        return pl.read_parquet(path, columns=columns)
    except (pl.exceptions.PolarsError, OSError) as err:
        raise _unreadable(path, err) from None


def _unreadable(path: Path, err: BaseException) -> StoreError:
    if PART.fullmatch(path.name):
        redo = f"delete {path.parent.parent / 'runs' / path.name} and run again to redo its runs"
    else:
        redo = "delete it and run again"
    return StoreError(
        f"{path}: unreadable ({_reason(err)}), expected a Parquet file written by "
        f"`partnersim run` ({redo})"
    )


def scan(root: str | Path, table: str = "runs") -> pl.LazyFrame:
    """A lazy view of one table of an experiment (runs, monthly or deals)."""
    if table not in TABLES:
        raise ValueError(f"table: got {table!r}, expected one of {', '.join(TABLES)}")
    return pl.scan_parquet(Path(root) / table / "*.parquet")
