"""An experiment's results on disk: Parquet parts written atomically, a manifest, resume.

One idea per module: `layout` (file names, errors), `atomic` (writing a file whole, signals
held), `manifest`, `result_store` (`ResultStore`: parts, add/flush, resume), `checks` (what
may be written to or read from DIR) and `reading` (`scan`, `read_part`).

Layout of an output directory DIR:

    DIR/manifest.json       format, config and its hash, seed, design, counts, versions, model
                            hash, git commit, sessions (`manifest`)
    DIR/design.parquet      one row per (design point, replication): swept values and run_id
    DIR/runs/part-NNNNNN.parquet     one row per run (README, "Output tables")
    DIR/monthly/part-NNNNNN.parquet  one row per run and month
    DIR/deals/part-NNNNNN.parquet    one row per deal
    DIR/failures.parquet    runs that raised: run_id, parameters, error (only when any did)

Every file is written under a temporary name and renamed (`atomic`); within a part, `runs`
is renamed last, so a run counts as stored exactly when its `runs` row exists, and
`pl.scan_parquet("DIR/runs/*.parquet")` reads the whole experiment (`result_store`).
"""

from experiments.store.atomic import (
    write_atomically,
    write_bytes_atomically,
    write_parquet_atomically,
    write_tables,
)
from experiments.store.checks import (
    check_destination,
    check_managed_kinds,
    check_out_path,
    check_parts,
)
from experiments.store.layout import (
    DESIGN,
    FAILURES,
    MANAGED,
    MANIFEST,
    TABLES,
    StoreError,
    WriteError,
)
from experiments.store.manifest import (
    FORMAT,
    build_manifest,
    git_commit,
    model_files,
    model_hash,
    read_manifest,
    versions,
)
from experiments.store.reading import read_part, scan
from experiments.store.result_store import ResultStore, canonical

__all__ = [
    "DESIGN",
    "FAILURES",
    "FORMAT",
    "MANAGED",
    "MANIFEST",
    "TABLES",
    "ResultStore",
    "StoreError",
    "WriteError",
    "build_manifest",
    "canonical",
    "check_destination",
    "check_managed_kinds",
    "check_out_path",
    "check_parts",
    "git_commit",
    "model_files",
    "model_hash",
    "read_manifest",
    "read_part",
    "scan",
    "versions",
    "write_atomically",
    "write_bytes_atomically",
    "write_parquet_atomically",
    "write_tables",
]
