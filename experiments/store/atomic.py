"""Atomic writing: a file appears whole under its name, or not at all.

Each file is written under a temporary name beside its destination, flushed to the disk
and renamed over the destination (`os.replace`), then the folder is synced so the rename
survives a power cut. A crash leaves the old file or the new one, and a failed write
leaves no temporary file. `uninterrupted` holds Ctrl-C and SIGTERM while a group of such
steps runs, so a signal cannot land between two renames that belong together;
`write_tables` writes a set of Parquet files that way, all or none.
"""

from __future__ import annotations

import functools
import io
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from experiments.store.layout import WriteError

TEMP_MARK = ".tmp-"


def temp_path(path: Path) -> Path:
    """The temporary name `path` is written under (hidden, marked, one per process)."""
    return path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")


def flush_to_disk(path: Path) -> None:
    """fsync the file at `path`."""
    fd = os.open(path, os.O_RDWR)  # write access: Windows cannot flush a read-only handle
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_directory(folder: Path) -> None:
    """Make renames in `folder` durable (POSIX); other systems have no directory handle."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Write a file so that it appears whole under `path` or not at all.

    Args:
        path: the destination; an existing file there is replaced.
        write: called with a temporary path beside `path`, writes the content there.

    The temporary file is flushed to the disk and renamed over `path`, then the folder is
    synced. A crash leaves the old or the new file; a failed write leaves no temporary file
    behind and re-raises.
    """
    tmp = temp_path(path)
    try:
        write(tmp)
        flush_to_disk(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_directory(path.parent)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """`write_atomically` for content already in memory."""
    write_atomically(path, lambda tmp: tmp.write_bytes(data))


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    """A frame as the bytes of a Parquet file, made in memory.

    Files are written from bytes by Python, not by polars: a full disk is then an OSError
    with its errno (ENOSPC), where polars' own writer says "File out of specification:
    Invalid thrift: transport error" and names nothing.
    """
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def write_parquet_atomically(frame: pl.DataFrame, path: Path) -> None:
    """`write_atomically` for one Parquet file."""
    write_bytes_atomically(path, parquet_bytes(frame))


def uninterrupted(method):
    """Hold Ctrl-C and SIGTERM while `method` runs, then deliver them.

    Their handlers raise KeyboardInterrupt at whatever line is running; inside a group of
    writes that belong together (a store's `add` or `flush`, the renames of a set of files)
    that would leave the group half done, which a resume could not repair. Off the main
    thread `method` runs unguarded: only the main thread receives signals.
    """

    @functools.wraps(method)
    def held(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return method(*args, **kwargs)  # signals are handled in the main thread only
        caught: list[int] = []
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = [signal.signal(s, lambda signum, frame: caught.append(signum)) for s in signals]
        try:
            result = method(*args, **kwargs)
        finally:
            for s, handler in zip(signals, previous, strict=True):
                signal.signal(s, signal.SIG_DFL if handler is None else handler)
        for signum in dict.fromkeys(caught):  # each once, to the handler it was meant for
            signal.raise_signal(signum)
        return result

    return held


@uninterrupted
def replace_all(renames: dict[Path, Path]) -> None:
    """Rename each temporary file over its destination, with Ctrl-C held throughout."""
    for tmp, path in renames.items():
        os.replace(tmp, path)


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
            data = parquet_bytes(frame)
            renames[tmp] = path
            tmp.write_bytes(data)
            flush_to_disk(tmp)
    except BaseException as err:
        for tmp in renames:
            tmp.unlink(missing_ok=True)
        if isinstance(err, OSError | pl.exceptions.PolarsError):
            raise WriteError(path, err) from None
        raise
    replace_all(renames)
    sync_directory(folder)
