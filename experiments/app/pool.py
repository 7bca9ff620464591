"""The app's warm process pool and its results, cached by run id.

One `EnsemblePool` lives as long as the app's server: its worker processes are spawned and
warmed (the model imported and run once) when the app starts, so a run request pays for the
runs only. A worker returns a `Replication`, the few outcomes the app draws (not the deals
table), and the pool keeps it under its run id: the same spec is never run twice, and a
setting seen before is shown at once. Workers die with the server (`runner.start_worker`).
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures as cf
import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from agents.parameters import frozen
from experiments.runner import RunFailure, default_workers, execute, start_worker
from sim.run import RunSpec, make_spec, simulate

CACHED_RUNS = 20_000  # replications kept (about 3 KB each for 5 years)
# A file to append "<run_id> <unix time>" to as each run finishes (benchmarks/app.py reads it).
TRACE_ENV = "PARTNERSIM_APP_TRACE"
_shared: EnsemblePool | None = None
_shared_lock = threading.Lock()


@frozen
class Replication:
    """What the app shows of one run: its outcomes, monthly revenue and won deals' cycles."""

    run_id: str
    replication: int
    outcomes: tuple[tuple[str, Any], ...]  # the runs-table columns that are not parameters
    cumulative_revenue_usd: tuple[float, ...]  # at the end of each month
    cycle_days: tuple[float, ...]  # days from first contact to decision of each deal won

    @property
    def row(self) -> dict[str, Any]:
        return dict(self.outcomes)


def replicate(spec: RunSpec) -> Replication | RunFailure:
    """Run one spec in a worker and keep what the app shows."""
    result = execute(spec)
    if isinstance(result, RunFailure):
        return result
    row = result.runs.row(0, named=True)
    won = result.deals.filter(result.deals["outcome"] == "won")
    return Replication(
        run_id=spec.run_id,
        replication=spec.replication,
        outcomes=tuple((k, v) for k, v in row.items() if "." not in k),
        cumulative_revenue_usd=tuple(result.monthly["cumulative_revenue_usd"].to_list()),
        cycle_days=tuple((won["decision_day"] - won["first_contact_day"]).to_list()),
    )


def warm_up() -> int:
    """Import the model and run a tiny one, so the first real run pays for neither."""
    simulate(make_spec(overrides={"market.clients": 5, "partner.reps": 1}, years=0.1))
    return os.getpid()


class EnsemblePool:
    """A process pool started once, with a cache of results by run id."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._lock = threading.Lock()
        self._done: collections.OrderedDict[str, Replication | RunFailure] = (
            collections.OrderedDict()
        )
        self._pending: dict[str, cf.Future] = {}
        self.submitted = 0  # runs sent to the workers since the start
        self._start()

    def _start(self) -> None:
        """A new pool of spawned workers, each warmed up at once."""
        self._executor = cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=start_worker,
            initargs=(os.getpid(),),
        )
        self.warm = [self._executor.submit(warm_up) for _ in range(self.workers)]

    def worker_pids(self) -> list[int]:
        """The workers' process ids (after the warm-up)."""
        return sorted({future.result() for future in self.warm})

    def request(self, specs: Sequence[RunSpec]) -> int:
        """Run the specs not done yet, in order; drop queued runs no longer asked for.

        Returns how many were submitted.
        """
        wanted = {spec.run_id for spec in specs}
        submitted = 0
        with self._lock:
            for run_id, future in list(self._pending.items()):
                if run_id not in wanted and future.cancel():
                    del self._pending[run_id]
            for spec in specs:
                if spec.run_id in self._done or spec.run_id in self._pending:
                    continue
                try:
                    future = self._executor.submit(replicate, spec)
                except cf.BrokenExecutor:  # a worker died (killed, out of memory): start anew
                    self._executor.shutdown(wait=False, cancel_futures=True)
                    self._start()
                    future = self._executor.submit(replicate, spec)
                self._pending[spec.run_id] = future
                future.add_done_callback(lambda f, run_id=spec.run_id: self._store(run_id, f))
                submitted += 1
            self.submitted += submitted
        return submitted

    def _store(self, run_id: str, future: cf.Future) -> None:
        if future.cancelled():
            return
        try:
            result = future.result()
        except cf.BrokenExecutor:  # lost with a worker, not a result: asked again, it runs
            with self._lock:
                self._pending.pop(run_id, None)
            return
        except Exception as err:  # a result that did not come back
            message = " ".join(f"{type(err).__name__}: {err}".split())
            result = RunFailure(run_id=run_id, error=message)
        trace = os.environ.get(TRACE_ENV)
        if trace:
            with open(trace, "a", encoding="utf-8") as file:
                file.write(f"{run_id} {time.time():.6f}\n")
        with self._lock:
            self._pending.pop(run_id, None)
            self._done[run_id] = result
            while len(self._done) > CACHED_RUNS:
                self._done.popitem(last=False)

    def results(self, run_ids: Iterable[str]) -> dict[str, Replication | RunFailure]:
        """The finished results among `run_ids`."""
        with self._lock:
            found = {r: self._done[r] for r in run_ids if r in self._done}
            for run_id in found:
                self._done.move_to_end(run_id)
            return found

    def lost(self, run_ids: Iterable[str]) -> list[str]:
        """Those of `run_ids` neither finished nor pending: lost with a worker, or never asked."""
        with self._lock:
            return [r for r in run_ids if r not in self._done and r not in self._pending]

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def shared(workers: int | None = None) -> EnsemblePool:
    """The process's one pool, started by the first call (`partnersim app` makes it before
    the server starts) and shut down when the process exits."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = EnsemblePool(workers)
            atexit.register(_shared.shutdown)
        return _shared
