"""One driver per output directory: the lock, who holds it, and taking over from a dead one.

`partnersim run` holds an exclusive `flock` on `DIR/.lock` while it writes, and records in
it who it is (`identity`: pid, the process's start time, the boot and the host), as it does
in its manifest session. A lock that cannot be taken is refused in one line naming the
driver that holds it, unless that driver is gone (killed, its machine rebooted) and the lock
lives on only in a process it left behind: then the lock file is replaced and the new driver
takes over. The lock file is removed when the driver releases it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from experiments.store.layout import LOCK, StoreError

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
ATTEMPTS = 5  # a lock file replaced between our open and our flock: try again


def boot_id() -> str | None:
    """This boot of the machine (Linux), to tell a pid of an earlier boot from a live one."""
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def start_ticks(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19]) if len(fields) > 19 else None  # field 22 of stat: starttime


def identity() -> dict[str, Any]:
    """Who this process is: enough to tell later whether it still runs."""
    pid = os.getpid()
    return {"pid": pid, "started": start_ticks(pid), "boot_id": boot_id(), "host": _host()}


def alive(who: dict[str, Any]) -> bool:
    """Whether the process `identity()` described still runs; True when it cannot be told
    (another host, no pid), so that only a driver known to be gone is taken over from."""
    pid = who.get("pid")
    if who.get("host") != _host() or not isinstance(pid, int) or pid <= 0:
        return True
    if who.get("boot_id") and boot_id() and who["boot_id"] != boot_id():
        return False  # the machine has rebooted since
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process with that pid: it runs
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    if state in ("Z", "X"):  # exited, not yet reaped
        return False
    started = start_ticks(pid)
    return who.get("started") is None or started is None or started == who["started"]


def describe(who: dict[str, Any] | None) -> str:
    if not who or "pid" not in who:
        return "another `partnersim run`"
    host = who.get("host")
    where = f" on {host}" if host and host != _host() else ""
    return f"another `partnersim run` (pid {who['pid']}{where})"


def acquire(root: Path) -> int | None:
    """Lock DIR for this driver and record who holds it; the lock's file descriptor.

    Raises StoreError naming the driver that holds the lock. None where there is no flock
    (not POSIX).
    """
    try:
        import fcntl
    except ImportError:
        return None
    path = root / LOCK
    for _ in range(ATTEMPTS):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read(fd)
            stale = holder is not None and not alive(holder) and _same_file(fd, path)
            os.close(fd)
            if stale:  # held only by a process the dead driver left behind
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                continue
            raise StoreError(f"{root}: {describe(holder)} is writing to this directory") from None
        if not _same_file(fd, path):  # removed or replaced since we opened it: not the lock
            os.close(fd)
            continue
        text = json.dumps(identity()).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, text, 0)
        return fd
    raise StoreError(f"{root}: the lock file {path} keeps changing; is another driver starting?")


def release(root: Path, fd: int | None) -> None:
    """Remove the lock file (if it is still ours) and release the lock."""
    if fd is None:
        return
    path = root / LOCK
    try:
        if _same_file(fd, path):
            path.unlink()  # while still locked: a driver that opened it retries
    except OSError:
        pass
    finally:
        os.close(fd)


def _read(fd: int) -> dict[str, Any] | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _host() -> str:
    return socket.gethostname()
