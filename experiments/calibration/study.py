"""A calibration's directory: its manifest, its Optuna study in SQLite, a lock, `--fresh`.

    DIR/calibration.json   format, name, the file as given, its canonical form and hash,
                           the model hash, versions, git commit, sessions
    DIR/study.db           the Optuna study (`optuna.storages.RDBStorage`, SQLite): finished
                           trials only, numbered in the order they were proposed
    DIR/trials.parquet     DIR/targets.parquet   DIR/best.toml   DIR/markets/<market>.toml

A directory is refused (one line, nothing written) when it holds files calibrate did not
write, another calibration file's study (`--fresh` starts over), or a study made by other
model code. The hash leaves out `trials`, `workers`, `finalists` and `description`: raising
`trials` continues the same study.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from experiments.calibration.search import Finished, distributions
from experiments.calibration.targets import Calibration
from experiments.store import StoreError, WriteError, write_bytes_atomically
from experiments.store.atomic import uninterrupted
from experiments.store.manifest import git_commit, model_hash, now, versions

FORMAT = 1
MANIFEST = "calibration.json"
STUDY = "study.db"
LOCK = ".lock"
STUDY_NAME = "calibration"
# Everything calibrate writes; --fresh removes exactly these (the manifest last).
MANAGED = [
    STUDY,
    f"{STUDY}-journal",
    f"{STUDY}-wal",
    f"{STUDY}-shm",
    "trials.parquet",
    "targets.parquet",
    "best.toml",
    "markets",
    MANIFEST,
]


def check_destination(root: Path, calibration: Calibration, *, fresh: bool) -> None:
    """Refuse, before writing anything, a DIR this calibration cannot write to."""
    Directory.check_destination(root, calibration, fresh=fresh)


def read_manifest(root: Path) -> dict[str, Any]:
    return Directory.read_manifest(root)


def _difference(stored: Any, spec: Any) -> str:
    """'; KEY: got OURS, DIR has THEIRS' for the first setting that differs."""
    if not isinstance(stored, dict):
        return ""
    ours = json.loads(json.dumps(spec.canonical(), default=repr))
    for key in [*ours, *stored]:
        if ours.get(key) != stored.get(key):
            mine, theirs = _brief(ours.get(key)), _brief(stored.get(key))
            return f"; {key}: got {mine}, DIR has {theirs}"
    return ""


def _brief(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Directory:
    """DIR opened for a calibration: locked, manifest written, the study loaded.

    Another search (`partnersim optimize`) shares it by overriding the class settings below,
    `directions` and `store`; `spec` is anything with `name`, `study_hash` and `canonical()`.
    """

    MANIFEST = MANIFEST
    STUDY_NAME = STUDY_NAME
    MANAGED = MANAGED
    COMMAND = "calibrate"  # `partnersim calibrate`, in messages
    KIND = "calibration"  # "another calibration file"; manifest keys calibration_text, ...

    @classmethod
    def check_destination(cls, root: Path, spec: Any, *, fresh: bool) -> None:
        """Refuse, before writing anything, a DIR this search cannot write to."""
        if root.exists() and not root.is_dir():
            raise StoreError(f"--out: {str(root)!r} exists and is not a directory")
        for parent in root.absolute().parents:
            if parent.exists():
                if not parent.is_dir():
                    raise StoreError(f"--out: got {str(root)!r}, expected a directory path")
                break
        if not root.is_dir():
            return
        if not (root / cls.MANIFEST).exists():
            foreign = sorted(p.name for p in root.iterdir() if p.name != LOCK)
            if foreign:
                found = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
                raise StoreError(
                    f"--out: {str(root)!r} holds {found} but no {cls.MANIFEST}, expected a new "
                    f"or empty directory or one made by `partnersim {cls.COMMAND}`"
                )
            return
        manifest = cls.read_manifest(root)
        if fresh:
            return
        if manifest.get("study_hash") != spec.study_hash:
            raise StoreError(
                f"{root} holds the study of another {cls.KIND} file ({manifest.get('name')!r}, "
                f"hash {manifest.get('study_hash')} != {spec.study_hash}"
                f"{_difference(manifest.get(f'{cls.KIND}_canonical'), spec)}); "
                "use --fresh to start over or --out for another directory"
            )
        ours = model_hash()
        if manifest.get("model_hash") != ours:
            raise StoreError(
                f"{root} holds a study made by other model code (model hash "
                f"{manifest.get('model_hash')} != {ours}); its trials would not compare with "
                "new ones: use --fresh to start over or --out for another directory"
            )

    @classmethod
    def read_manifest(cls, root: Path) -> dict[str, Any]:
        path = root / cls.MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            reason = getattr(err, "strerror", None) or type(err).__name__
            raise StoreError(
                f"{path}: unreadable ({reason}), expected the manifest `partnersim "
                f"{cls.COMMAND}` writes (--fresh replaces it)"
            ) from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else manifest
            raise StoreError(f"{path}: format {found!r}, expected {FORMAT} (--fresh replaces it)")
        return manifest

    def __init__(self, root: Path, spec: Any, text: str, *, fresh: bool) -> None:
        self.check_destination(root, spec, fresh=fresh)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(
                f"--out: cannot create {str(root)!r} ({err.strerror or err})"
            ) from None
        self.root = root
        self.calibration = self.spec = spec
        self._lock_fd: int | None = None
        self._lock()
        if fresh:
            self._remove_managed()
        path = root / self.MANIFEST
        if path.exists():
            self.manifest = self.read_manifest(root)
        else:
            self.manifest = {
                "format": FORMAT,
                "name": spec.name,
                "study_hash": spec.study_hash,
                "model_hash": model_hash(),
                f"{self.KIND}_text": text,
                f"{self.KIND}_canonical": spec.canonical(),
                "created": now(),
                "git_commit": git_commit(),
                "versions": versions(),
                "sessions": [],
            }
            self.write_manifest()
        self.study = self._open_study()

    @property
    def directions(self) -> list[str]:
        """The study's objective directions (a calibration minimizes its loss)."""
        return ["minimize"]

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
                f"{self.root}: another `partnersim {self.COMMAND}` is using this directory"
            ) from None
        self._lock_fd = fd

    def _remove_managed(self) -> None:
        for name in self.MANAGED:
            path = self.root / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    def _open_study(self) -> Any:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        url = f"sqlite:///{(self.root / STUDY).resolve()}"
        try:
            storage = optuna.storages.RDBStorage(url=url)
            study = optuna.create_study(
                storage=storage,
                study_name=self.STUDY_NAME,
                directions=self.directions,
                load_if_exists=True,
            )
        except Exception as err:  # sqlalchemy's and optuna's errors: a damaged database
            message = " ".join(str(err).split())[:160]
            raise StoreError(
                f"{self.root / STUDY}: cannot open the study ({type(err).__name__}: {message}); "
                "--fresh starts over"
            ) from None
        if not study.user_attrs:
            study.set_user_attr("study_hash", self.spec.study_hash)
            study.set_user_attr("name", self.spec.name)
        elif study.user_attrs.get("study_hash") != self.spec.study_hash:
            raise StoreError(
                f"{self.root / STUDY}: the study of another {self.KIND} file; --fresh starts over"
            )
        return study

    def trials(self) -> list[Any]:
        """The stored trials, by number (0, 1, ...)."""
        trials = self.study.get_trials(deepcopy=False)
        numbers = [t.number for t in trials]
        if numbers != list(range(len(trials))):
            raise StoreError(f"{self.root / STUDY}: trials {numbers[:5]}..., expected 0, 1, ...")
        return trials

    @uninterrupted  # Ctrl-C waits for the trial's commit (SQLite makes kill -9 safe too)
    def store(self, finished: Finished) -> Any:
        """Add a finished trial to the study (committed to the database when this returns)."""
        import optuna
        from optuna.trial import TrialState, create_trial

        space = distributions(self.calibration)
        attrs = {
            "statistics": {str(k): v for k, v in finished.statistics.items()},
            "seconds": round(finished.seconds, 3),
        }
        if finished.error is not None:
            attrs["error"] = finished.error
        trial = create_trial(
            state=TrialState.FAIL if finished.loss is None else TrialState.COMPLETE,
            value=finished.loss,
            params=finished.values,
            distributions=space,
            user_attrs=attrs,
        )
        self.study.add_trial(trial)
        stored: optuna.trial.FrozenTrial = self.study.get_trials(deepcopy=False)[-1]
        return stored

    def write_manifest(self) -> None:
        text = json.dumps(self.manifest, indent=2, default=str) + "\n"
        try:
            write_bytes_atomically(self.root / self.MANIFEST, text.encode())
        except OSError as err:
            raise WriteError(self.root / self.MANIFEST, err) from None

    def start_session(self, **fields: Any) -> None:
        self.manifest["sessions"].append({"started": now(), **fields, "status": "running"})
        self.write_manifest()

    def end_session(self, **fields: Any) -> None:
        self.manifest["sessions"][-1].update(fields, finished=now())
        self.write_manifest()

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
