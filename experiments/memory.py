"""Will it fit? A run's memory estimated from its size, checked before any run starts.

A run holds every client organization (its buying center, its random streams, its deals)
and every rep for the whole horizon, so its peak memory grows with `market.clients` and
`partner.reps`; a configuration far beyond the machine (a million clients: some GBs per
run) would otherwise thrash, or be killed, after the sweep started. The estimate is

    PROCESS_BYTES + clients x CLIENT_BYTES + reps x REP_BYTES

per process running a run, and `partnersim simulate` and `partnersim run` refuse, in one line
giving the estimate, a configuration whose runs in parallel need more than the memory
available (`MemAvailable` in /proc/meminfo), or one run more than a process may take
(`ulimit -v`), unless `--ignore-memory-check`.

The constants are peak resident memory measured with `simulate` in a fresh process
(Python 3.11, the Japan profile, hybrid policy; `ru_maxrss`, 2026-12-06): a 1-client run
205 MB; with 10 reps, 2,000 clients 219 MB and 32,000 clients 383 MB (5.3 KB per client,
most of them never reached by a rep); with a rep per 30 clients, 4,000 clients 235 MB and
16,000 clients 326 MB over 5 years (7.6 KB per client, the reps included), 290 MB over one
year and 326 MB over ten (the horizon adds little past the first years); 2,000 clients with
1 rep 215 MB, with 400 reps 223 MB (18 KB per rep); 1,000,000 clients with 10 reps held
4.0 GB once built (3.8 KB per client no rep has reached yet). The constants round these up,
so the check errs towards refusing what is close to the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from agents.parameters import Parameters

MIB = 1024**2
PROCESS_BYTES = 220 * MIB  # Python with the model, numpy, polars and Mesa imported
CLIENT_BYTES = 8 * 1024  # a client organization, its buying center, streams and deals
REP_BYTES = 24 * 1024  # a rep, its territory and its streams
DRIVER_BYTES = 150 * MIB  # `partnersim run`'s own process: plan, buffers, the store
MEMINFO = Path("/proc/meminfo")


class MemoryCheckError(Exception):
    """A configuration whose estimated memory exceeds what is available (one line)."""


def run_bytes(params: Parameters, years: float) -> int:
    """The estimated peak memory of one process running one run of `params`."""
    del years  # measured: a longer horizon adds little (see above)
    return PROCESS_BYTES + params.market.clients * CLIENT_BYTES + params.partner.reps * REP_BYTES


def available_bytes(meminfo: Path = MEMINFO) -> int | None:
    """Memory available for new work without swapping (Linux MemAvailable), or None."""
    try:
        for line in meminfo.read_text().splitlines():
            name, _, value = line.partition(":")
            if name == "MemAvailable":
                return int(value.split()[0]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def process_limit_bytes() -> int | None:
    """The address space one process may take (`ulimit -v`, RLIMIT_AS), or None."""
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def gigabytes(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def check(
    runs: Iterable[tuple[Parameters, float]],
    processes: int = 1,
    driver: bool = False,
    available: int | None = None,
    limit: int | None = None,
) -> int:
    """Refuse, before anything runs, runs that cannot fit in the memory available.

    Args:
        runs: (parameters, years) of every run to be made (the largest one counts).
        processes: runs at once (pool workers), each in its own process.
        driver: add a sweep driver's own process.
        available: bytes available (default: MemAvailable; no check where unknown).
        limit: bytes one process may take (default: RLIMIT_AS, `ulimit -v`, if set).

    Returns the estimate in bytes. Raises MemoryCheckError naming the parameter that drives
    the estimate, its value, the estimate and what is available.
    """
    largest, biggest = 0, None
    for params, years in runs:
        size = run_bytes(params, years)
        if size > largest:
            largest, biggest = size, params
    total = processes * largest + (DRIVER_BYTES if driver else 0)
    if biggest is None:
        return total
    available = available_bytes() if available is None else available
    limit = process_limit_bytes() if limit is None else limit
    if limit is not None and largest > limit:
        against = (
            f"{gigabytes(largest)} per run against a limit of {gigabytes(limit)} per process "
            "(ulimit -v)"
        )
    elif available is not None and total > available:
        per_run = f" ({processes} runs at once, {gigabytes(largest)} each)" if processes > 1 else ""
        against = f"{gigabytes(total)}{per_run} against {gigabytes(available)} available"
    else:
        return total
    clients = biggest.market.clients * CLIENT_BYTES
    key, value = (
        ("market.clients", biggest.market.clients)
        if clients >= biggest.partner.reps * REP_BYTES
        else ("partner.reps", biggest.partner.reps)
    )
    raise MemoryCheckError(
        f"{key}: got {value:,}, expected a configuration that fits in memory: an estimated "
        f"{against} (--ignore-memory-check runs it anyway)"
    )
