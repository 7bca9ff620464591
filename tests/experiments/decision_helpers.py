"""Helpers for the optimize and explain tests: runs in this process.

A command's runs are pure functions of their specs, so a thread pool gives the same results
as the process pool; it saves the seconds that spawning workers takes, which is most of a
tiny search. Tests of the process pool itself (kill -9 of the driver) use the real one.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib

import pytest

from experiments import runner


@contextlib.contextmanager
def _threads(workers=None, scheduler=None, dask_local=False):
    pool = cf.ThreadPoolExecutor(max_workers=1)
    try:
        yield runner.ExecutorInfo(executor=pool, slots=1, description="threads (1)")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run their runs in a thread of this process."""
    monkeypatch.setattr(runner, "make_executor", _threads)
