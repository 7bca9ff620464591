"""The names of what `partnersim run` writes in an output directory, and the store's errors.

Every module of the store, and the commands that read an experiment, find files by these
names; the errors are reported as one line by the command line.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

TABLES = ("runs", "monthly", "deals")
WRITE_ORDER = ("deals", "monthly", "runs")  # runs last: its rename commits the part
MANIFEST = "manifest.json"
DESIGN = "design.parquet"
FAILURES = "failures.parquet"
LOCK = ".lock"
# Everything `partnersim run` writes; `--fresh` removes exactly these. Steps that add files
# to DIR (e.g. a report) should append their names so a fresh run removes stale copies.
# The analyses of an experiment's runs write beside them: `partnersim discover` and `explain`.
ANALYSES = [
    "discovery.parquet",
    "discovery_trajectory.parquet",
    "discovery.csv",
    "discovery.html",
    "shapley.parquet",
    "shapley_replications.parquet",
    "explain.html",
]
MANAGED = [*TABLES, MANIFEST, DESIGN, FAILURES, "report.html", "charts", *ANALYSES]
MANAGED_FOLDERS = {*TABLES, "charts"}
PART = re.compile(r"part-(\d{6,})\.parquet")


class StoreError(Exception):
    """A problem with the output directory, reported as one line."""


class WriteError(StoreError):
    """Results could not be written (a full disk, an I/O error); what was written is kept.

    `unsaved_runs` finished runs were in the batch that failed, and are not stored.
    """

    def __init__(self, path: Path, err: BaseException, unsaved_runs: int = 0) -> None:
        super().__init__(f"cannot write {path}: {write_failure(err)}")
        self.unsaved_runs = unsaved_runs


# errno of a write that failed for want of room, in the words the error gives
NO_ROOM = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


def write_failure(err: BaseException) -> str:
    """Why a write failed, in a few words: "no space left on device" for a full disk."""
    if isinstance(err, OSError):
        return NO_ROOM.get(err.errno) or err.strerror or one_line(err)
    return one_line(err)


def one_line(err: BaseException) -> str:
    """An exception's message on one short line, for a one-line error."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 120 else text[:117] + "..."
