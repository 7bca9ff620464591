"""Executes RunSpecs on any `concurrent.futures.Executor` and feeds a ResultStore.

The default executor is a local process pool with one worker per core (spawned, not
forked: polars starts threads at import, and a forked copy of a threaded process can
deadlock). Dask runs through `distributed.Client(...).get_executor()`: `--scheduler
tcp://host:port` for an existing cluster, `--dask-local` for a LocalCluster. Workers need
partnersim installed (the same version: run ids and results depend on the code).

Submissions are bounded (a few per worker slot), so the driver holds only a handful of
results at a time however many runs there are. A run that raises is returned as a
`RunFailure` by the worker and recorded; the sweep goes on. Results do not depend on the
executor or on completion order: each run is a pure function of its spec.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from agents.parameters import frozen
from sim.run import RunResult, RunSpec, simulate


@frozen
class RunFailure:
    """A run that raised: its id, `Type: message`, and the worker's traceback."""

    run_id: str
    error: str
    traceback: str = ""


@frozen
class Outcome:
    """A finished spec: either a result or a failure."""

    spec: RunSpec
    result: RunResult | None = None
    failure: RunFailure | None = None


class ExecutorError(Exception):
    """The executor cannot be created or connected to (reported as one line)."""


# A run is CPU-bound Python. In a Dask worker it shares the GIL with the worker's event
# loop, which by default takes it every 5 ms and slows the run; the loop needs the GIL only
# briefly, so a run holds it longer (figures in benchmarks/README.md, "Sweeps").
RUN_SWITCH_INTERVAL_S = 0.05
ORPHAN_CHECK_S = 1.0  # how often a pool worker checks that its driver is alive

# A LocalCluster shares the machine with its runs, so it leaves out what serves a dashboard
# or a long-lived cluster (there is neither here): stack sampling for the profile and fast
# event-loop ticks, which take the GIL from the runs; work stealing and the active memory
# manager, which a sweep does not need (few runs in flight per worker, no result kept on
# one); and frequent polling for metrics (figures in benchmarks/README.md, "Sweeps").
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.scheduler.work-stealing": False,
    "distributed.scheduler.active-memory-manager.start": False,
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.deploy.cluster-repr-interval": "10s",
    "distributed.client.scheduler-info-interval": "10s",
}


def execute(spec: RunSpec) -> RunResult | RunFailure:
    """Run one spec in a worker; an exception becomes a RunFailure, not a lost task."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(RUN_SWITCH_INTERVAL_S)
    try:
        return simulate(spec)
    except Exception as err:
        message = " ".join(f"{type(err).__name__}: {err}".split())
        return RunFailure(run_id=spec.run_id, error=message, traceback=traceback.format_exc())
    finally:
        sys.setswitchinterval(previous)


def start_worker(driver_pid: int | None = None) -> None:
    """A pool worker leaves Ctrl-C to the driver, which stops submitting and saves what
    finished, and exits when the driver is gone (killed with SIGKILL, say): the pool would
    otherwise keep it running, or idle and holding its memory, for good.

    On Linux the kernel kills the worker when its driver dies (the parent-death signal),
    whatever the worker is doing: a run thrashing at a memory limit or holding the GIL in C
    code never lets a Python thread look. Elsewhere, and as a second check, a thread looks
    every ORPHAN_CHECK_S.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    driver_pid = driver_pid or os.getppid()
    _die_with_parent()
    if os.getppid() != driver_pid:  # the driver died before the signal was asked for
        os._exit(1)
    watch = threading.Thread(
        target=_exit_when_orphaned, args=(driver_pid,), name="driver-watch", daemon=True
    )
    watch.start()


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _exit_when_orphaned(driver_pid: int) -> None:
    while os.getppid() == driver_pid:
        time.sleep(ORPHAN_CHECK_S)
    os._exit(1)


def default_workers() -> int:
    """One worker per core available to this process."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --- executors -----------------------------------------------------------------------------


@frozen
class ExecutorInfo:
    """An executor and what the driver needs to know about it."""

    executor: cf.Executor
    slots: int  # runs that can execute at once (workers x threads)
    description: str


@contextlib.contextmanager
def local_executor(workers: int | None = None) -> Iterator[ExecutorInfo]:
    """A process pool with `workers` spawned processes (default: one per core)."""
    workers = workers or default_workers()
    context = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=start_worker,
        initargs=(os.getpid(),),
    )
    try:
        yield ExecutorInfo(executor=pool, slots=workers, description=f"process pool ({workers})")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def dask_executor(
    scheduler: str | None = None, workers: int | None = None, timeout_s: float = 15.0
) -> Iterator[ExecutorInfo]:
    """A Dask executor: on the cluster at `scheduler`, or on a new LocalCluster."""
    import dask
    from distributed import Client, LocalCluster

    cluster = client = None
    try:
        if scheduler is None:
            workers = workers or default_workers()
            # read when each part is made; the nannies pass it on to the workers
            with dask.config.set(LOCAL_CLUSTER_CONFIG):
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,  # runs hold the GIL: one per process
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                client = Client(cluster)
            description = f"dask LocalCluster ({workers})"
        else:
            client = Client(scheduler, timeout=timeout_s)
            client.wait_for_workers(1, timeout=timeout_s)
            description = f"dask {scheduler}"
    except (OSError, TimeoutError, ValueError) as err:
        for opened in (client, cluster):
            if opened is not None:
                opened.close()
        if scheduler is not None:
            option = f"--scheduler: cannot use {scheduler!r}"
        else:
            option = "--dask-local: failed"
        message = " ".join(str(err).split()) or type(err).__name__
        raise ExecutorError(f"{option}: {message}") from None
    try:
        slots = max(1, sum(client.nthreads().values()))
        executor = client.get_executor(pure=False)
        yield ExecutorInfo(executor=executor, slots=slots, description=f"{description}, {slots}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def make_executor(
    workers: int | None = None, scheduler: str | None = None, dask_local: bool = False
) -> contextlib.AbstractContextManager[ExecutorInfo]:
    """The executor the command line asks for."""
    if scheduler is not None or dask_local:
        return dask_executor(scheduler=scheduler, workers=workers)
    return local_executor(workers)


# --- execution -----------------------------------------------------------------------------


def run_all(
    specs: Iterable[RunSpec],
    executor: cf.Executor,
    *,
    max_in_flight: int,
    task: Callable[[RunSpec], RunResult | RunFailure] = execute,
    tick_s: float = 1.0,
) -> Iterator[Outcome | None]:
    """Outcomes of specs in completion order; `None` every `tick_s` while nothing finishes.

    At most `max_in_flight` specs are submitted at once. An exception raised by a future
    (a worker lost, a result that cannot be unpickled) is a failure of that run; a broken
    executor (`concurrent.futures.BrokenExecutor`) ends the iteration by raising.
    Leaving the iteration early cancels what has not started.
    """
    pending: dict[cf.Future, RunSpec] = {}
    todo = iter(specs)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < max_in_flight:
                spec = next(todo, None)
                if spec is None:
                    exhausted = True
                    break
                pending[executor.submit(task, spec)] = spec
            if not pending:
                return
            done, _ = cf.wait(pending, timeout=tick_s, return_when=cf.FIRST_COMPLETED)
            if not done:
                yield None
            for future in done:
                spec = pending.pop(future)
                yield _outcome(spec, future)
    finally:
        for future in pending:
            future.cancel()


def _outcome(spec: RunSpec, future: cf.Future) -> Outcome:
    try:
        value = future.result()
    except cf.BrokenExecutor:
        raise
    except Exception as err:  # the task never returned (e.g. dask KilledWorker)
        message = " ".join(f"{type(err).__name__}: {err}".split())
        failure = RunFailure(run_id=spec.run_id, error=message)
        return Outcome(spec=spec, failure=failure)
    if isinstance(value, RunFailure):
        return Outcome(spec=spec, failure=value)
    return Outcome(spec=spec, result=value)


@dataclass(slots=True)
class SweepReport:
    """What one invocation did."""

    total: int  # runs in the plan
    already_stored: int
    completed: int = 0
    failed: int = 0
    interrupted: bool = False
    broken: str | None = None  # why the executor broke, if it did
    write_error: str | None = None  # why results could not be written, if they could not
    elapsed_s: float = 0.0
    failed_ids: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.write_error:
            return "write failed"
        if self.broken:
            return "broken"
        if self.interrupted:
            return "interrupted"
        return "failed" if self.failed else "complete"


def run_sweep(
    specs: Iterable[RunSpec],
    store: Any,
    executor: cf.Executor,
    *,
    slots: int,
    progress: Progress | None = None,
    task: Callable[[RunSpec], RunResult | RunFailure] | None = None,
) -> SweepReport:
    """Run every spec not yet in `store` and store each outcome as it arrives.

    `store` is a ResultStore (anything with `stored`, `add`, `add_failure`, `maybe_flush`
    and `flush`). `task` runs one spec in a worker (default `execute`; it must be
    picklable for process pools). Ctrl-C stops the sweep after writing what has finished;
    so does a write that fails (`store` raises WriteError), keeping what was written before.
    """
    from experiments.store import WriteError

    specs = list(specs)
    todo = [s for s in specs if s.run_id not in store.stored]
    report = SweepReport(total=len(specs), already_stored=len(specs) - len(todo))
    started = time.monotonic()
    if progress is not None:
        progress.start(total=len(specs), done=report.already_stored)
    try:
        in_flight = 2 * slots + 2  # enough to keep every slot busy, few results held
        for outcome in run_all(todo, executor, max_in_flight=in_flight, task=task or execute):
            if outcome is not None:
                if outcome.failure is None:
                    report.completed += 1  # first: a failed write counts it among the unsaved
                    store.add(outcome.result)
                else:
                    failure = outcome.failure
                    store.add_failure(outcome.spec, failure.error, failure.traceback)
                    report.failed += 1
                    report.failed_ids.append(outcome.spec.run_id)
            store.maybe_flush()
            if progress is not None:
                progress.update(report.completed + report.failed, report.failed)
    except KeyboardInterrupt:
        report.interrupted = True
    except cf.BrokenExecutor as err:
        report.broken = " ".join(f"{type(err).__name__}: {err}".split())
    except WriteError as err:
        report.write_error = str(err)
        report.completed -= err.unsaved_runs
    finally:
        try:
            store.flush()
        except WriteError as err:
            if report.write_error is None:  # else it is the same error, raised again
                report.write_error = str(err)
                report.completed -= err.unsaved_runs
        report.elapsed_s = time.monotonic() - started
        if progress is not None:
            progress.finish()
    return report


# --- progress ------------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on stderr: runs done, runs per second, ETA.

    On a terminal the line redraws in place; otherwise (logs, CI) a line is printed every
    `log_every_s` seconds.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 30, log_every_s: float = 10.0):
        self.stream = stream or sys.stderr
        self.width = width
        self.log_every_s = log_every_s
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = self.before = self.done = self.failed = 0
        self.started = self.last_drawn = 0.0
        self._drawn_width = 0

    def start(self, total: int, done: int = 0) -> None:
        self.total, self.before, self.done = total, done, 0
        self.started = self.last_drawn = time.monotonic()
        if done:
            print(f"resuming: {done} of {total} runs already stored", file=self.stream)
        self._draw(force=True)

    def update(self, done: int, failed: int = 0) -> None:
        """`done` runs finished in this session, `failed` of them failed."""
        self.done, self.failed = done, failed
        self._draw()

    def finish(self) -> None:
        self._draw(force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def line(self) -> str:
        total = max(self.total, 1)
        finished = self.before + self.done
        filled = round(self.width * finished / total)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        remaining = self.total - finished
        eta = _clock(remaining / rate) if rate > 0 else "--:--"
        failed = f" ({self.failed} failed)" if self.failed else ""
        return f"[{bar}] {finished}/{self.total} runs{failed}  {rate:.1f} runs/s  ETA {eta}"

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        every = 0.2 if self.tty else self.log_every_s
        if not force and now - self.last_drawn < every:
            return
        self.last_drawn = now
        if self.tty:
            line = self.line()
            self.stream.write("\r" + line.ljust(self._drawn_width))  # cover a longer last line
            self._drawn_width = len(line)
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
