"""Atomic writing: a file appears whole under its name, or not at all.

Each file is written under a temporary name beside its destination, flushed to the disk
and renamed over the destination (`os.replace`), then the folder is synced so the rename
survives a power cut. A crash leaves the old file or the new one, and a failed write
leaves no temporary file. `uninterrupted` holds Ctrl-C and SIGTERM while a group of such
steps runs, so a signal cannot land between two renames that belong together.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
